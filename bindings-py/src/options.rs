//! Python keyword options → [`AnalyzerConfig`], through the core's one
//! mapping ([`AnalyzerConfig::from_json`]): the keywords become a JSON object
//! and the core resolves shorthands (`idle_timeout`, `top_n`, …), nested
//! tables (`detect={"scan": {"window_secs": 60}}`) and dotted keys
//! (`**{"detect.scan.window_secs": 60}`). Unknown names and bad values raise
//! `OptionsError` with the core's message, the same as the wasm front's.

use crate::errors::{options_error, OptionsError};
use pcaplens_core::AnalyzerConfig;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};

/// Every option name `analyze()` / `Analyzer()` accept (dotted keys and the
/// top-level shorthands; see `pcaplens config --print-defaults`).
pub fn option_names() -> Vec<&'static str> {
    pcaplens_core::options::option_names()
}

/// A Python value as JSON (the types an option can hold).
fn to_json(key: &str, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if value.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(value.extract()?));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(v) = value.extract::<u64>() {
            return Ok(Value::from(v));
        }
        if let Ok(v) = value.extract::<i64>() {
            return Ok(Value::from(v));
        }
        // Too large for 64 bits either way: the core says what it expected.
        return Ok(Value::String(value.str()?.to_string()));
    }
    if value.is_instance_of::<PyFloat>() {
        let v: f64 = value.extract()?;
        return Ok(serde_json::Number::from_f64(v)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(v.to_string())));
    }
    if value.is_instance_of::<PyString>() {
        return Ok(Value::String(value.extract()?));
    }
    if let Ok(d) = value.downcast::<PyDict>() {
        return dict_to_json(key, d);
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        return value
            .try_iter()?
            .map(|item| to_json(key, &item?))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array);
    }
    Err(OptionsError::new_err(format!(
        "option {key} cannot be a {}",
        value.get_type().name()?
    )))
}

fn dict_to_json(prefix: &str, options: &Bound<'_, PyDict>) -> PyResult<Value> {
    let mut m = Map::new();
    for (key, value) in options.iter() {
        let name: String = key
            .extract()
            .map_err(|_| OptionsError::new_err("option names must be strings"))?;
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let v = to_json(&path, &value)?;
        m.insert(name, v);
    }
    Ok(Value::Object(m))
}

pub fn config_from(options: Option<&Bound<'_, PyDict>>) -> PyResult<AnalyzerConfig> {
    let value = match options {
        Some(options) => dict_to_json("", options)?,
        None => Value::Null,
    };
    AnalyzerConfig::from_json(&value).map_err(options_error)
}
