//! The one integration test binary (as ripgrep's `tests/`): conformance
//! against real captures, chunking invariance, robustness, CLI behaviour.

mod anomaly;
mod azure_monitor;
mod azure_table;
mod chunking;
mod classify;
mod cli;
mod conformance;
mod conformance_app;
mod conformance_tcp;
mod corpus_manifest;
mod defrag;
mod ecs;
mod encapsulation;
mod engine;
mod eve;
mod findings;
mod fixtures;
mod golden;
mod hostile;
mod live_files;
mod llm;
mod options;
mod robustness;
mod sanitize;
mod scale;
mod traffic_apps;
mod traffic_live;
mod traffic_sanitize;
mod traffic_transport;
mod zeek_oracle;
