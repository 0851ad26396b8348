//! Tcp failures (placeholder: filled in by the failure-detection work).

use super::{DetectConfig, Detector};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct TcpConfig {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct TcpReport {}

pub struct TcpDetector {}

impl TcpDetector {
    pub fn new(_cfg: &DetectConfig) -> Self {
        TcpDetector {}
    }
}

impl Detector for TcpDetector {}
