//! Streaming analysis with the GIL released while Rust works.

use crate::errors::{capture_error, PcaplensError};
use crate::options::config_from;
use crate::report::PyReport;
use pcaplens_core::{Analyzer, ErrorInfo};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Mutex;

/// Mutable state behind a mutex: the class is shared with Python threads.
#[derive(Default)]
struct State {
    analyzer: Option<Analyzer>,
    error: Option<ErrorInfo>,
}

/// Incremental analyzer: `feed()` byte chunks of any size, then `finish()`.
#[pyclass(module = "pcaplens._native", name = "Analyzer", frozen)]
pub struct PyAnalyzer {
    state: Mutex<State>,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // Nothing in the critical sections panics; a poisoned lock still holds valid state.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn finished_error() -> PyErr {
    PcaplensError::new_err("this Analyzer has already finished; create a new one")
}

#[pymethods]
impl PyAnalyzer {
    #[new]
    #[pyo3(signature = (options = None))]
    fn new(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let cfg = config_from(options)?;
        let analyzer = Analyzer::new(cfg).map_err(crate::errors::options_error)?;
        Ok(PyAnalyzer {
            state: Mutex::new(State {
                analyzer: Some(analyzer),
                error: None,
            }),
        })
    }

    /// Feed the next chunk. Capture errors do not raise here: they are kept
    /// (see `error`) and end up in the report, which covers everything before them.
    fn feed(&self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        py.allow_threads(|| {
            let mut st = lock(&self.state);
            let st = &mut *st;
            let analyzer = st.analyzer.as_mut().ok_or_else(finished_error)?;
            if let Err(e) = analyzer.feed(&data) {
                if st.error.is_none() {
                    st.error = Some(ErrorInfo::new(&e, analyzer.progress().packets + 1));
                }
            }
            Ok(())
        })
    }

    /// The first capture error met by `feed`, as the exception it maps to (or None).
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<PyObject> {
        let st = lock(&self.state);
        st.error
            .as_ref()
            .map(|info| capture_error(py, info).into_value(py).into_any())
    }

    /// Bytes fed so far.
    #[getter]
    fn bytes_fed(&self) -> u64 {
        lock(&self.state)
            .analyzer
            .as_ref()
            .map_or(0, |a| a.progress().bytes_fed)
    }

    /// Packets analysed so far.
    #[getter]
    fn packets(&self) -> u64 {
        lock(&self.state)
            .analyzer
            .as_ref()
            .map_or(0, |a| a.progress().packets)
    }

    /// End of input: finish every flow and return the report.
    fn finish(&self, py: Python<'_>) -> PyResult<PyReport> {
        let analyzer = lock(&self.state)
            .analyzer
            .take()
            .ok_or_else(finished_error)?;
        Ok(PyReport::new(py.allow_threads(|| analyzer.finish())))
    }
}

/// Analyse a capture file, streamed in Rust (memory bounded by live flows,
/// not file size) with the GIL released, by the same call as the CLI's
/// (`pcaplens_native_io::analyze_path`: two threads on a regular file).
#[pyfunction]
#[pyo3(signature = (path, options = None))]
pub fn analyze_path(
    py: Python<'_>,
    path: PathBuf,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyReport> {
    let cfg = config_from(options)?;
    let report = py.allow_threads(move || pcaplens_native_io::analyze_path(&path, cfg));
    let report = report.map_err(|e| match e {
        pcaplens_native_io::Error::Read(e) => PyErr::from(e),
        pcaplens_native_io::Error::Config(e) => crate::errors::options_error(e),
        pcaplens_native_io::Error::Analyse(never) => match never {},
    })?;
    Ok(PyReport::new(report))
}

/// Analyse many capture files, each alone (one report per file, in the
/// order given), on `jobs` threads with the GIL released: every file by the
/// same call as [`analyze_path`]. The first file that cannot be read (in
/// the order given) raises.
#[pyfunction]
#[pyo3(signature = (paths, jobs, options = None))]
pub fn analyze_many(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    jobs: usize,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<PyReport>> {
    if jobs == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "jobs must be at least 1",
        ));
    }
    let cfg = config_from(options)?;
    let results = py.allow_threads(|| {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<Mutex<Option<_>>> = paths.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..jobs.min(paths.len()) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let r = pcaplens_native_io::analyze_path(path, cfg.clone());
                    *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                });
            }
        });
        slots
            .into_iter()
            .map(|s| s.into_inner().unwrap_or_else(|p| p.into_inner()))
            .collect::<Vec<_>>()
    });
    results
        .into_iter()
        .map(|r| {
            let r = r.ok_or_else(|| PcaplensError::new_err("worker thread ended early"))?;
            r.map(PyReport::new).map_err(|e| match e {
                pcaplens_native_io::Error::Read(e) => PyErr::from(e),
                pcaplens_native_io::Error::Config(e) => crate::errors::options_error(e),
                pcaplens_native_io::Error::Analyse(never) => match never {},
            })
        })
        .collect()
}
