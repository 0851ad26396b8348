//! Streaming analysis with the GIL released while Rust works.

use crate::errors::{capture_error, PcaplensError};
use crate::options::config_from;
use crate::report::PyReport;
use pcaplens_core::staged::{ChunkStorage, DecodedChunk};
use pcaplens_core::{Analyzer, ErrorInfo, FrameSource, SourceEnd};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyDict;
use std::io::{ErrorKind, Read};
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
/// not file size) with the GIL released. As the CLI does, one thread reads,
/// decodes and accounts flows (the core's first stage) while this one runs the
/// detectors on the previous chunk.
#[pyfunction]
#[pyo3(signature = (path, options = None))]
pub fn analyze_path(
    py: Python<'_>,
    path: PathBuf,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyReport> {
    let cfg = config_from(options)?;
    let source = FrameSource::new(&cfg);
    let mut analyzer = Analyzer::new(cfg).map_err(crate::errors::options_error)?;
    let report = py.allow_threads(move || -> std::io::Result<_> {
        let mut file = std::fs::File::open(&path)?;
        let end = read_and_decode_ahead(&mut file, source, |chunk| {
            chunk.for_each(|frame| analyzer.feed_frame(frame));
        })?;
        Ok(analyzer.finish_from(end).0)
    })?;
    Ok(PyReport::new(report))
}

/// Chunks in flight between the reading thread and the analysis.
const IN_FLIGHT: usize = 4;
/// Read size: the CLI's (small enough to stay in the CPU cache between the
/// read and the parse), so both take the same path.
const READ_SIZE: usize = 256 << 10;

/// Read `file` on a helper thread that also runs `source` (decoding and flow
/// accounting) on each chunk, handing the chunks to `analyse` in order. Stops after a capture error (the
/// chunk that carries it is still handed over: the report keeps the frames
/// before it).
fn read_and_decode_ahead(
    file: &mut (dyn Read + Send),
    mut source: FrameSource,
    mut analyse: impl FnMut(&DecodedChunk),
) -> std::io::Result<SourceEnd> {
    use std::sync::mpsc::{channel, sync_channel};
    let (full_tx, full_rx) = sync_channel::<std::io::Result<DecodedChunk>>(IN_FLIGHT);
    let (empty_tx, empty_rx) = channel::<ChunkStorage>();
    for _ in 0..IN_FLIGHT {
        let _ = empty_tx.send(ChunkStorage::new(READ_SIZE));
    }
    let source_ref = &mut source;
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Ok(mut storage) = empty_rx.recv() {
                let read = loop {
                    match file.read(&mut storage.buf) {
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let (msg, last) = match read {
                    Ok(0) => return,
                    Ok(n) => {
                        let chunk = DecodedChunk::decode(source_ref, storage, n);
                        let failed = chunk.error.is_some();
                        (Ok(chunk), failed)
                    }
                    Err(e) => (Err(e), true),
                };
                if full_tx.send(msg).is_err() || last {
                    return;
                }
            }
        });
        let mut outcome = Ok(());
        for msg in full_rx.iter() {
            match msg {
                Ok(chunk) => {
                    analyse(&chunk);
                    if chunk.error.is_some() {
                        break;
                    }
                    let _ = empty_tx.send(chunk.into_storage());
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        // Unblock the reader if we stopped early, so the scope can end.
        drop(full_rx);
        drop(empty_tx);
        outcome
    });
    result.map(|()| source.finish())
}
