//! Keyed, length-preserving sanitising of captures, with the leak audit of
//! the output (the core's `sanitize` module; the same steps as `pcaplens sanitize`).

use crate::errors::OptionsError;
use pcaplens_core::sanitize::{LeakAudit, PayloadPolicy, SanitizeConfig, Sanitizer};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict};
use std::io::{BufWriter, ErrorKind, Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;

const CHUNK: usize = 1 << 20;

/// Every policy option `sanitize()` accepts.
pub const POLICY_NAMES: &[&str] = &["payload", "keep_special_ranges", "time_shift"];

fn config_from(key: Vec<u8>, policy: Option<&Bound<'_, PyDict>>) -> PyResult<SanitizeConfig> {
    let mut cfg = SanitizeConfig::new(key);
    if let Some(policy) = policy {
        for (name, value) in policy.iter() {
            let name: String = name
                .extract()
                .map_err(|_| OptionsError::new_err("policy names must be strings"))?;
            let flag = |v: &Bound<'_, PyAny>| {
                v.extract::<bool>().map_err(|_| {
                    OptionsError::new_err(format!("sanitize option {name} must be True or False"))
                })
            };
            match name.as_str() {
                "payload" => {
                    let text: String = value.extract().map_err(|_| {
                        OptionsError::new_err("sanitize option payload must be a string")
                    })?;
                    cfg.payload_policy = text
                        .parse::<PayloadPolicy>()
                        .map_err(OptionsError::new_err)?;
                }
                "keep_special_ranges" => cfg.keep_special_ranges = flag(&value)?,
                "time_shift" => cfg.time_shift = flag(&value)?,
                _ => {
                    return Err(OptionsError::new_err(format!(
                        "unknown sanitize option '{name}'; known options: {}",
                        POLICY_NAMES.join(", ")
                    )))
                }
            }
        }
    }
    Ok(cfg)
}

fn new_sanitizer(key: Vec<u8>, policy: Option<&Bound<'_, PyDict>>) -> PyResult<Sanitizer> {
    Sanitizer::new(config_from(key, policy)?).map_err(|e| OptionsError::new_err(e.to_string()))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("sanitize summaries serialize")
}

/// Streaming sanitiser: `feed()` returns the sanitised bytes for each chunk.
#[pyclass(module = "pcaplens._native", name = "Sanitizer", frozen)]
pub struct PySanitizer {
    inner: Mutex<SanitizerState>,
}

struct SanitizerState {
    sanitizer: Sanitizer,
    failed: bool,
    finished: bool,
}

#[pymethods]
impl PySanitizer {
    #[new]
    #[pyo3(signature = (key, policy = None))]
    fn new(key: Vec<u8>, policy: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Ok(PySanitizer {
            inner: Mutex::new(SanitizerState {
                sanitizer: new_sanitizer(key, policy)?,
                failed: false,
                finished: false,
            }),
        })
    }

    /// Sanitise the next chunk; returns the output bytes it completes (maybe empty).
    fn feed<'py>(&self, py: Python<'py>, data: PyBackedBytes) -> PyResult<Bound<'py, PyBytes>> {
        let out = py.allow_threads(|| {
            let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::with_capacity(data.len() + 1024);
            if st.finished {
                return Err("finished");
            }
            if st.sanitizer.feed(&data, &mut out).is_err() {
                st.failed = true;
            }
            Ok(out)
        });
        let out = out.map_err(|_| {
            crate::errors::PcaplensError::new_err("this Sanitizer has already finished")
        })?;
        Ok(PyBytes::new(py, &out))
    }

    /// True once the input turned out damaged (further input is ignored).
    #[getter]
    fn failed(&self) -> bool {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).failed
    }

    /// End of input: the summary (JSON), with the capture error if any.
    fn finish(&self) -> String {
        let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        st.finished = true;
        to_json(&st.sanitizer.finish())
    }

    /// A leak audit searching for every original identifier this sanitiser saw.
    fn audit(&self) -> PyLeakAudit {
        let st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        PyLeakAudit {
            inner: Mutex::new(Some(LeakAudit::new(
                st.sanitizer.pseudonymizer().originals(),
            ))),
        }
    }
}

/// Re-parses a sanitised capture and searches it for the originals.
#[pyclass(module = "pcaplens._native", name = "LeakAudit", frozen)]
pub struct PyLeakAudit {
    inner: Mutex<Option<LeakAudit>>,
}

#[pymethods]
impl PyLeakAudit {
    fn feed(&self, py: Python<'_>, data: PyBackedBytes) -> PyResult<()> {
        py.allow_threads(|| {
            let mut st = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match st.as_mut() {
                Some(a) => {
                    a.feed(&data);
                    Ok(())
                }
                None => Err(crate::errors::PcaplensError::new_err(
                    "this LeakAudit has already finished",
                )),
            }
        })
    }

    /// The audit report (JSON).
    fn finish(&self) -> PyResult<String> {
        let audit = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| {
                crate::errors::PcaplensError::new_err("this LeakAudit has already finished")
            })?;
        Ok(to_json(&audit.finish()))
    }
}

/// One pass over the file `src` into `dest`.
fn sanitize_file(
    s: &mut Sanitizer,
    src: &std::path::Path,
    dest: &std::path::Path,
    buf: &mut [u8],
) -> std::io::Result<pcaplens_core::sanitize::SanitizeSummary> {
    let mut input = std::fs::File::open(src)?;
    let mut w = BufWriter::new(std::fs::File::create(dest)?);
    let mut out = Vec::with_capacity(CHUNK + (64 << 10));
    loop {
        let n = match input.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.clear();
        let failed = s.feed(&buf[..n], &mut out).is_err();
        w.write_all(&out)?;
        if failed {
            break;
        }
    }
    w.flush()?;
    Ok(s.finish())
}

/// Sanitise file `src` into file `dest` and audit what was written, all in
/// Rust with the GIL released. Returns `{"sanitize": …, "audit": …}` as JSON.
#[pyfunction]
#[pyo3(signature = (src, dest, key, policy = None))]
pub fn sanitize_path(
    py: Python<'_>,
    src: PathBuf,
    dest: PathBuf,
    key: Vec<u8>,
    policy: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let mut s = new_sanitizer(key, policy)?;
    if pcaplens_native_io::same_file(&src, &dest) {
        return Err(OptionsError::new_err(format!(
            "refusing to write {} over the input {}: nothing was written",
            dest.display(),
            src.display()
        )));
    }
    let doc = py.allow_threads(move || -> std::io::Result<String> {
        let mut buf = vec![0u8; CHUNK];
        let mut summary = sanitize_file(&mut s, &src, &dest, &mut buf)?;
        // As the CLI: a second pass places QUIC ClientHellos spread over
        // several Initials and TLS names cut by a segment (see
        // `Sanitizer::second_pass`).
        if let Some(cfg) = s.second_pass() {
            s = Sanitizer::new(cfg).expect("the key was accepted once");
            summary = sanitize_file(&mut s, &src, &dest, &mut buf)?;
        }
        // The proof, as the CLI does it: read back what was written.
        let mut audit = LeakAudit::new(s.pseudonymizer().originals());
        let mut written = std::fs::File::open(&dest)?;
        loop {
            let n = match written.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            audit.feed(&buf[..n]);
        }
        Ok(format!(
            "{{\"sanitize\":{},\"audit\":{}}}",
            to_json(&summary),
            to_json(&audit.finish())
        ))
    })?;
    Ok(doc)
}
