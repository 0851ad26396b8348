//! `pcaplens._native`: the thin pyo3 layer between the Rust core and the
//! `pcaplens` Python package.
//!
//! This crate converts types and maps errors; it holds no analysis logic. The
//! idiomatic Python API (`pcaplens.analyze`, `Report`, DataFrames, …) lives in
//! `python/pcaplens/__init__.py` on top of these few primitives:
//!
//! | name | what |
//! |---|---|
//! | [`analyzer::PyAnalyzer`] | streaming `feed(bytes)` / `finish()`, GIL released while Rust works |
//! | [`analyzer::analyze_path`] | a file streamed in Rust (bounded memory, GIL released) |
//! | [`report::PyReport`] | the core `Report`, its exact JSON, and Arrow tables |
//! | [`generate::generate`] | seeded synthetic captures (pcap bytes + truth) |
//! | [`sanitize`] | keyed capture rewriting + leak audit, streamed |
//! | [`classify::classify_inputs`] | flow classification (the CLI's pipeline), GIL released |
//! | [`partial`] | mergeable partials (bytes), their merge, `analyze --jobs` merged |
//! | [`errors`] | the one place where core errors become Python exceptions |

mod analyzer;
mod arrow;
mod classify;
mod errors;
mod generate;
mod options;
mod partial;
mod report;
mod sanitize;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCHEMA_VERSION", pcaplens_core::SCHEMA_VERSION)?;
    m.add("OPTION_NAMES", options::option_names())?;
    errors::register(py, m)?;
    m.add_class::<analyzer::PyAnalyzer>()?;
    m.add_class::<report::PyReport>()?;
    m.add_class::<arrow::ArrowTable>()?;
    m.add_function(wrap_pyfunction!(analyzer::analyze_path, m)?)?;
    m.add_function(wrap_pyfunction!(analyzer::analyze_many, m)?)?;
    m.add_function(wrap_pyfunction!(partial::partial_path, m)?)?;
    m.add_function(wrap_pyfunction!(partial::partial_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(partial::merge_partials, m)?)?;
    m.add_function(wrap_pyfunction!(partial::merge_partials_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(partial::analyze_merged, m)?)?;
    m.add_function(wrap_pyfunction!(generate::generate, m)?)?;
    m.add_function(wrap_pyfunction!(generate::scenarios, m)?)?;
    m.add("SANITIZE_OPTION_NAMES", sanitize::POLICY_NAMES.to_vec())?;
    m.add_class::<sanitize::PySanitizer>()?;
    m.add_class::<sanitize::PyLeakAudit>()?;
    m.add_function(wrap_pyfunction!(sanitize::sanitize_path, m)?)?;
    m.add_function(wrap_pyfunction!(classify::classify_inputs, m)?)?;
    m.add("CLASSIFY_OPTION_NAMES", classify::OPTION_KEYWORDS.to_vec())?;
    Ok(())
}
