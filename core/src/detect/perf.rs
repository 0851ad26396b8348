//! Perf failures (placeholder: filled in by the failure-detection work).

use super::{DetectConfig, Detector};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct PerfConfig {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct PerfReport {}

pub struct PerfDetector {}

impl PerfDetector {
    pub fn new(_cfg: &DetectConfig) -> Self {
        PerfDetector {}
    }
}

impl Detector for PerfDetector {}
