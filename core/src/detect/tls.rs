//! Tls failures (placeholder: filled in by the failure-detection work).

use super::{DetectConfig, Detector};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TlsConfig {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct TlsReport {}

pub struct TlsDetector {}

impl TlsDetector {
    pub fn new(_cfg: &DetectConfig) -> Self {
        TlsDetector {}
    }
}

impl Detector for TlsDetector {}
