//! Quic failures (placeholder: filled in by the failure-detection work).

use super::{DetectConfig, Detector};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct QuicConfig {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct QuicReport {}

pub struct QuicDetector {}

impl QuicDetector {
    pub fn new(_cfg: &DetectConfig) -> Self {
        QuicDetector {}
    }
}

impl Detector for QuicDetector {}
