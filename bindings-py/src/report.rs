//! The core `Report` held in Rust: its exact JSON (byte-identical to
//! `pcaplens analyze --json`) and Arrow tables, without re-serialising in Python.

use crate::arrow::{flows_batch, ArrowTable};
use crate::errors::capture_error;
use pcaplens_core::evidence::{self, mask::Identity, ByteUpperBound, EvidenceConfig};
use pcaplens_core::Report;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::sync::OnceLock;

#[pyclass(module = "pcaplens._native", name = "NativeReport", frozen)]
pub struct PyReport {
    report: Report,
    json: OnceLock<String>,
}

impl PyReport {
    pub fn new(report: Report) -> Self {
        PyReport {
            report,
            json: OnceLock::new(),
        }
    }
}

#[pymethods]
impl PyReport {
    /// The report as pretty JSON, exactly as `pcaplens analyze --json` prints
    /// it (the CLI adds one trailing newline).
    fn to_json(&self, py: Python<'_>) -> String {
        py.allow_threads(|| {
            self.json
                .get_or_init(|| self.report.to_json_pretty())
                .clone()
        })
    }

    /// True when an error stopped reading; the report covers everything before it.
    #[getter]
    fn partial(&self) -> bool {
        self.report.status.partial
    }

    /// True when the input ended cleanly after the last record.
    #[getter]
    fn complete(&self) -> bool {
        self.report.status.complete
    }

    /// Frames analysed.
    #[getter]
    fn packets(&self) -> u64 {
        self.report.summary.packets
    }

    /// The capture error of a partial report as its exception (not raised), or None.
    fn exception(&self, py: Python<'_>) -> Option<PyObject> {
        self.report
            .status
            .error
            .as_ref()
            .map(|info| capture_error(py, info).into_value(py).into_any())
    }

    /// The core's ranked rule-based diagnosis as JSON `{coverage, diagnoses, text, explained_by}`:
    /// `pcaplens ask --offline --no-sanitize` (real identifiers, default evidence options).
    fn diagnosis_json(&self, py: Python<'_>) -> String {
        py.allow_threads(|| {
            let pack = evidence::build_pack(
                &self.report,
                &EvidenceConfig::default(),
                &ByteUpperBound,
                &mut Identity,
                false,
            );
            let cfg = EvidenceConfig::default();
            serde_json::json!({
                "coverage": pack.coverage,
                "text": pack.diagnosis_text(),
                "diagnoses": pack.diagnoses,
                "explained_by": evidence::explained_by(&self.report, cfg.focus, cfg.max_diagnoses),
            })
            .to_string()
        })
    }

    /// The listed flows as an Arrow table (PyCapsule stream interface).
    /// `portable`: signed integer columns only and times as
    /// `timestamp[us, UTC]` (Spark and Ray accept them; without it, times are
    /// the JSON's float seconds);
    /// `batch_rows`: the stream yields batches of at most that many rows.
    #[pyo3(signature = (portable = false, batch_rows = None))]
    fn flows_table(
        &self,
        py: Python<'_>,
        portable: bool,
        batch_rows: Option<usize>,
    ) -> PyResult<ArrowTable> {
        if batch_rows == Some(0) {
            return Err(PyValueError::new_err("batch_rows must be at least 1"));
        }
        let batch = py
            .allow_threads(|| flows_batch(&self.report.flows, portable))
            .map_err(|e| PyRuntimeError::new_err(format!("building the flows table: {e}")))?;
        Ok(ArrowTable::new(batch, batch_rows))
    }
}
