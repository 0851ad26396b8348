//! Http failures (placeholder: filled in by the failure-detection work).

use super::{DetectConfig, Detector};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct HttpConfig {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct HttpReport {}

pub struct HttpDetector {}

impl HttpDetector {
    pub fn new(_cfg: &DetectConfig) -> Self {
        HttpDetector {}
    }
}

impl Detector for HttpDetector {}
