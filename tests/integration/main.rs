//! The one integration test binary (as ripgrep's `tests/`): conformance
//! against real captures, chunking invariance, robustness, CLI behaviour.

mod chunking;
mod conformance;
mod robustness;
mod sanitize;
