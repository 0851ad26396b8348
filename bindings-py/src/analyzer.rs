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
        let file = std::fs::File::open(&path)?;
        let end = read_and_decode_ahead(&file, source, |chunk| {
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

/// A chunk of the file: its place in the file and, when the analysing
/// thread already read it, what that read returned.
struct Job {
    storage: ChunkStorage,
    index: u64,
    read: Option<std::io::Result<usize>>,
}

/// Run `source` (reading, decoding, flow accounting) on a helper thread,
/// handing the chunks to `analyse` in order, as the CLI does. Chunk `k` is the
/// file's bytes from `k * READ_SIZE`; when no chunk is waiting for it, the
/// analysing thread reads the next one itself before handing the buffer back
/// (copying out of the page cache is the helper's largest single cost). The
/// first short chunk ends the input. Stops
/// after a capture error (the chunk that carries it is still handed over: the
/// report keeps the frames before it).
fn read_and_decode_ahead(
    file: &std::fs::File,
    mut source: FrameSource,
    mut analyse: impl FnMut(&DecodedChunk),
) -> std::io::Result<SourceEnd> {
    use std::sync::mpsc::{channel, sync_channel};
    if !file.metadata()?.is_file() {
        // A pipe or device has no offsets: read it in order, on this thread.
        let mut storage = ChunkStorage::new(READ_SIZE);
        let mut reader = file;
        loop {
            let n = match reader.read(&mut storage.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = DecodedChunk::decode(&mut source, storage, n);
            analyse(&chunk);
            if chunk.error.is_some() {
                break;
            }
            storage = chunk.into_storage();
        }
        return Ok(source.finish());
    }
    let (full_tx, full_rx) = sync_channel::<std::io::Result<DecodedChunk>>(IN_FLIGHT);
    let (job_tx, job_rx) = channel::<Job>();
    // Chunks decoded and not yet taken by the analysing thread.
    let waiting = std::sync::atomic::AtomicUsize::new(0);
    let waiting = &waiting;
    let mut next_index = 0u64;
    for _ in 0..IN_FLIGHT {
        let _ = job_tx.send(Job {
            storage: ChunkStorage::new(READ_SIZE),
            index: next_index,
            read: None,
        });
        next_index += 1;
    }
    let source_ref = &mut source;
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Ok(job) = job_rx.recv() {
                let Job {
                    mut storage,
                    index,
                    read,
                } = job;
                let read = read.unwrap_or_else(|| read_chunk(file, &mut storage.buf, index));
                let (msg, last) = match read {
                    Ok(0) => return,
                    Ok(n) => {
                        let chunk = DecodedChunk::decode(source_ref, storage, n);
                        let last = chunk.error.is_some() || n < READ_SIZE;
                        (Ok(chunk), last)
                    }
                    Err(e) => (Err(e), true),
                };
                waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if full_tx.send(msg).is_err() || last {
                    return;
                }
            }
        });
        let mut outcome = Ok(());
        for msg in full_rx.iter() {
            waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            match msg {
                Ok(chunk) => {
                    analyse(&chunk);
                    if chunk.error.is_some() {
                        break;
                    }
                    let mut storage = chunk.into_storage();
                    let index = next_index;
                    next_index += 1;
                    let behind = waiting.load(std::sync::atomic::Ordering::Relaxed) == 0;
                    let read = behind.then(|| read_chunk(file, &mut storage.buf, index));
                    let _ = job_tx.send(Job {
                        storage,
                        index,
                        read,
                    });
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        // Unblock the reader if we stopped early, so the scope can end.
        drop(full_rx);
        drop(job_tx);
        outcome
    });
    result.map(|()| source.finish())
}

/// Read chunk `index` of `file` into `buf`: as many bytes as there are, up to
/// the buffer's size (fewer only at the end of the file).
fn read_chunk(file: &std::fs::File, buf: &mut [u8], index: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let start = index * buf.len() as u64;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], start + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
