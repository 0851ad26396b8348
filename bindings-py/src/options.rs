//! Python keyword options → [`AnalyzerConfig`]. Unknown names and bad values
//! raise `OptionsError` instead of being ignored, so a typo cannot silently
//! change nothing.

use crate::errors::{options_error, OptionsError};
use pcaplens_core::AnalyzerConfig;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Every option `analyze()` / `Analyzer()` accept (mirrors `pcaplens analyze` flags).
pub const OPTION_NAMES: &[&str] = &[
    "idle_timeout",
    "max_flows",
    "flows_limit",
    "top_n",
    "max_instances",
    "anomaly",
    "anomaly_seed",
    "per_packet_anomaly",
];

fn count(name: &str, value: &Bound<'_, PyAny>) -> PyResult<usize> {
    // bool is an int subclass in Python; `max_flows=True` is surely a mistake.
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(OptionsError::new_err(format!(
            "option {name} must be a non-negative integer, not a bool"
        )));
    }
    value.extract::<usize>().map_err(|_| {
        OptionsError::new_err(format!(
            "option {name} must be a non-negative integer, got {}",
            value
                .repr()
                .map(|r| r.to_string())
                .unwrap_or_else(|_| "?".into())
        ))
    })
}

fn flag(name: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if !value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(OptionsError::new_err(format!(
            "option {name} must be True or False"
        )));
    }
    value.extract::<bool>()
}

pub fn config_from(options: Option<&Bound<'_, PyDict>>) -> PyResult<AnalyzerConfig> {
    let mut cfg = AnalyzerConfig::default();
    if let Some(options) = options {
        for (key, value) in options.iter() {
            let name: String = key
                .extract()
                .map_err(|_| OptionsError::new_err("option names must be strings"))?;
            match name.as_str() {
                "idle_timeout" => cfg.flow.idle_timeout_secs = count(&name, &value)? as u64,
                "max_flows" => cfg.flow.max_flows = count(&name, &value)?,
                // None lists every flow (they are always counted either way).
                "flows_limit" if value.is_none() => cfg.flows_limit = usize::MAX,
                "flows_limit" => cfg.flows_limit = count(&name, &value)?,
                "top_n" => {
                    cfg.set_top_n(count(&name, &value)?);
                }
                "max_instances" => cfg.detect.max_instances = count(&name, &value)?,
                "anomaly" => cfg.anomaly.enabled = flag(&name, &value)?,
                "anomaly_seed" => cfg.anomaly.seed = count(&name, &value)? as u64,
                "per_packet_anomaly" => cfg.anomaly.per_packet = flag(&name, &value)?,
                _ => {
                    return Err(OptionsError::new_err(format!(
                        "unknown option '{name}'; known options: {}",
                        OPTION_NAMES.join(", ")
                    )))
                }
            }
        }
    }
    cfg.validate().map_err(options_error)?;
    Ok(cfg)
}
