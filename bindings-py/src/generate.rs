//! Synthetic captures from the core's seeded generator.

use crate::errors::OptionsError;
use pcaplens_core::generate::{generate as core_generate, GenerateOptions, Scenario};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Generate a scenario's capture (pcap bytes) and its truth (JSON), with the GIL released.
#[pyfunction]
#[pyo3(signature = (scenario, packets = 2000, seed = 1, flows = None))]
pub fn generate<'py>(
    py: Python<'py>,
    scenario: &str,
    packets: u64,
    seed: u64,
    flows: Option<u64>,
) -> PyResult<(Bound<'py, PyBytes>, String)> {
    let scenario: Scenario =
        scenario
            .parse()
            .map_err(|e: pcaplens_core::generate::GenerateError| {
                OptionsError::new_err(e.to_string())
            })?;
    let opts = GenerateOptions {
        packets,
        seed,
        flows,
        ..GenerateOptions::default()
    };
    let generated = py
        .allow_threads(|| core_generate(scenario, &opts))
        .map_err(|e| OptionsError::new_err(e.to_string()))?;
    let truth = serde_json_truth(&generated.truth);
    Ok((PyBytes::new(py, &generated.bytes), truth))
}

/// Names of every scenario, in the generator's order.
#[pyfunction]
pub fn scenarios() -> Vec<&'static str> {
    Scenario::ALL.iter().map(|s| s.name()).collect()
}

fn serde_json_truth(truth: &pcaplens_core::generate::Truth) -> String {
    serde_json::to_string(truth).expect("truth serializes")
}
