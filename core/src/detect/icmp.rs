//! Icmp failures (placeholder: filled in by the failure-detection work).

use super::{DetectConfig, Detector};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct IcmpConfig {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct IcmpReport {}

pub struct IcmpDetector {}

impl IcmpDetector {
    pub fn new(_cfg: &DetectConfig) -> Self {
        IcmpDetector {}
    }
}

impl Detector for IcmpDetector {}
