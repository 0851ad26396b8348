//! `classify_inputs`: flow classification, the same pipeline as `pcaplens
//! classify` (`pcaplens_native_io::classify`), run with the GIL released.
//! Options go through the core's one mapping (the `classify.*` keys), the
//! endpoint comes from the same environment / `.env` as the CLI's.

use crate::errors::{capture_error, options_error, PcaplensError};
use pcaplens_core::{AnalyzerConfig, ErrorInfo};
use pcaplens_native_io::classify::{
    endpoint_from_env, feed_input, fresh_key, report_json, ClassifyOptions, Input, Pipeline,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// One input: a path, or capture bytes.
#[derive(FromPyObject)]
pub enum Source {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

/// A key given as 32 raw bytes or 64 hex digits (a key file's content).
fn decode_key(raw: &[u8]) -> Option<[u8; 32]> {
    let t = raw.trim_ascii();
    let mut key = [0u8; 32];
    if t.len() == 64 && t.iter().all(u8::is_ascii_hexdigit) {
        for (k, pair) in key.iter_mut().zip(t.chunks(2)) {
            *k = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        return Some(key);
    }
    (raw.len() == 32).then(|| {
        key.copy_from_slice(raw);
        key
    })
}

/// A capture error of one input: its index, whether frames were read
/// before it, and the exception (not raised).
type InputError = (usize, bool, PyObject);

/// Classify the inputs; returns the report's JSON (as `pcaplens classify
/// --json` prints it) and, per input that ended in a capture error, its
/// index and whether frames were read before it.
#[pyfunction]
#[pyo3(signature = (sources, names, options = None, model = None, rules = false, key = None, drop_when_busy = false))]
#[allow(clippy::too_many_arguments)]
pub fn classify_inputs(
    py: Python<'_>,
    sources: Vec<Source>,
    names: Vec<String>,
    options: Option<&Bound<'_, PyDict>>,
    model: Option<String>,
    rules: bool,
    key: Option<Vec<u8>>,
    drop_when_busy: bool,
) -> PyResult<(String, Vec<InputError>)> {
    let cfg: AnalyzerConfig = crate::options::config_from(options)?;
    let key = match key {
        Some(k) => decode_key(&k)
            .ok_or_else(|| PyValueError::new_err("key: expected 32 bytes or 64 hex digits"))?,
        None => fresh_key().map_err(|e| PcaplensError::new_err(format!("{e:#}")))?,
    };
    let opts = ClassifyOptions::from_config(&cfg.classify, key, drop_when_busy);
    let llm = endpoint_from_env(model.as_deref(), rules, opts.max_cost)
        .map_err(|e| options_error(pcaplens_core::ConfigError::Other(e)))?;
    let several = sources.len() > 1;
    let run = py.allow_threads(move || -> Result<_, String> {
        let mut pipe = Pipeline::new(opts, llm).map_err(|e| format!("{e:#}"))?;
        let mut errors = Vec::new();
        for (i, src) in sources.iter().enumerate() {
            let input = match src {
                Source::Bytes(b) => Input::Bytes(b),
                Source::Path(p) => Input::Path(p),
            };
            match feed_input(&mut pipe, several.then_some(i), input) {
                Ok(None) => {}
                Ok(Some((e, any))) => errors.push((i, any, ErrorInfo::new(&e, pipe.frames() + 1))),
                Err(e) => return Err(format!("{}: {e}", names.get(i).map_or("", |s| s))),
            }
        }
        let (verdicts, stats) = pipe.finish();
        let json = report_json(&names, &verdicts, &stats);
        Ok((
            serde_json::to_string(&json).map_err(|e| e.to_string())?,
            errors,
        ))
    });
    let (json, errors) = run.map_err(pyo3::exceptions::PyOSError::new_err)?;
    let errors = errors
        .into_iter()
        .map(|(i, any, info)| (i, any, capture_error(py, &info).into_value(py).into_any()))
        .collect();
    Ok((json, errors))
}

/// The keywords of `pcaplens.classify()` that stand for `classify.*` keys
/// (the CLI's flag names; `max_cost` is `max_cost_usd`, `flow_timeout` is
/// `flow_timeout_secs`, as the flags map them).
pub const OPTION_KEYWORDS: &[&str] = &[
    "flow_max_bytes",
    "flow_timeout",
    "flow_max_flows",
    "confidence_threshold",
    "cache_size",
    "workers",
    "queue_size",
    "max_requests_per_minute",
    "max_cost",
    "structured_output",
    "leak_guard_max_originals",
];
