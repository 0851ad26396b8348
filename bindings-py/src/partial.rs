//! Mergeable partial results (issue 23, docs/scale.md): a piece's partial as
//! the core's versioned binary value, the merge of many, and the CLI's
//! `analyze --jobs N` merged report. Analysis in native-io (the CLI's piece
//! reading), GIL released; no merge logic here.

use crate::errors::{options_error, partial_error, pieces_error};
use crate::options::config_from;
use crate::report::PyReport;
use pcaplens_core::partial::{self, Partial, Prefix};
use pcaplens_core::Analyzer;
use pcaplens_native_io::pieces::{self, Piece};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};
use std::path::PathBuf;

/// The partial of a whole capture file (`Partial::to_bytes`), read in
/// chunks as `pcaplens analyze --jobs` reads a piece.
#[pyfunction]
#[pyo3(signature = (path, options = None))]
pub fn partial_path<'py>(
    py: Python<'py>,
    path: PathBuf,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let cfg = config_from(options)?;
    let piece = Piece { path, spec: None };
    let bytes = py
        .allow_threads(|| pieces::piece_partial(&piece, &cfg).map(|p| p.to_bytes()))
        .map_err(pieces_error)?;
    Ok(PyBytes::new(py, &bytes))
}

/// The partial of a whole capture held in memory.
#[pyfunction]
#[pyo3(signature = (data, options = None))]
pub fn partial_bytes<'py>(
    py: Python<'py>,
    data: PyBackedBytes,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let cfg = partial::piece_config(config_from(options)?);
    let mut analyzer = Analyzer::new(cfg).map_err(options_error)?;
    let bytes = py.allow_threads(move || {
        // A capture error is kept by the analyzer and travels in the partial.
        let _ = analyzer.feed(&data);
        analyzer.finish_partial(&Prefix::default(), None).to_bytes()
    });
    Ok(PyBytes::new(py, &bytes))
}

/// Read every value (naming the first bad one), then merge them left to
/// right from `Partial::empty()`.
fn fold(partials: &[PyBackedBytes]) -> Result<Partial, (String, partial::PartialError)> {
    let mut acc = Partial::empty();
    for (i, bytes) in partials.iter().enumerate() {
        let p = Partial::from_bytes(bytes).map_err(|e| (format!("partials[{i}]"), e))?;
        acc = partial::merge(&acc, &p).map_err(|e| {
            let before = match i {
                1 => "partials[0]".to_string(),
                _ => format!("partials[0..{i}]"),
            };
            (format!("partials[{i}] cannot follow {before}"), e)
        })?;
    }
    Ok(acc)
}

/// The report of the partials merged in the order given.
#[pyfunction]
pub fn merge_partials(py: Python<'_>, partials: Vec<PyBackedBytes>) -> PyResult<PyReport> {
    py.allow_threads(|| fold(&partials).map(|p| partial::finish(&p)))
        .map(PyReport::new)
        .map_err(|(what, e)| partial_error(&what, &e))
}

/// The partials merged in the order given, as one partial value (to merge further).
#[pyfunction]
pub fn merge_partials_bytes<'py>(
    py: Python<'py>,
    partials: Vec<PyBackedBytes>,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = py
        .allow_threads(|| fold(&partials).map(|p| p.to_bytes()))
        .map_err(|(what, e)| partial_error(&what, &e))?;
    Ok(PyBytes::new(py, &bytes))
}

/// `pcaplens analyze --jobs N PATHS…`: the files as consecutive pieces of
/// one capture (one file: cut at record boundaries into `jobs` pieces),
/// their partials made on `jobs` threads and merged in order.
#[pyfunction]
#[pyo3(signature = (paths, jobs, options = None))]
pub fn analyze_merged(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    jobs: usize,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyReport> {
    if jobs == 0 {
        return Err(PyValueError::new_err("jobs must be at least 1"));
    }
    let cfg = config_from(options)?;
    let report = py.allow_threads(|| {
        let plan = match paths.as_slice() {
            [one] => pieces::cut_file(one, jobs)?,
            many => many
                .iter()
                .map(|p| Piece {
                    path: p.clone(),
                    spec: None,
                })
                .collect(),
        };
        pieces::merged_partial(&plan, &cfg, jobs).map(|p| partial::finish(&p))
    });
    report.map(PyReport::new).map_err(pieces_error)
}
