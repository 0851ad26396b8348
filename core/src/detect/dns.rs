//! Dns failures (placeholder: filled in by the failure-detection work).

use super::{DetectConfig, Detector};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct DnsConfig {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct DnsReport {}

pub struct DnsDetector {}

impl DnsDetector {
    pub fn new(_cfg: &DetectConfig) -> Self {
        DnsDetector {}
    }
}

impl Detector for DnsDetector {}
