//! The classification settings: one group (`classify.*`) of the one options
//! type ([`crate::AnalyzerConfig`]), so the CLI's flags and `--config` file,
//! Python's keywords and the wasm options object map them the same way.

use crate::reassembly::ReassemblyConfig;
use serde::{Deserialize, Serialize};

/// `classify.*`: flow classification (`pcaplens classify`, `live --classify`,
/// `pcaplens.classify()`). A cap of 0 means "no cap" (TOML has no null).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifyConfig {
    /// Payload bytes kept per flow (both directions) before it is classified.
    pub flow_max_bytes: usize,
    /// Seconds without a packet after which a flow is classified.
    pub flow_timeout_secs: f64,
    /// Flows reassembled at once; beyond it the longest idle are classified early.
    pub flow_max_flows: usize,
    /// Suspicious verdicts at or above this confidence are alerts.
    pub confidence_threshold: f64,
    /// Verdicts cached (LRU; 0: no cache).
    pub cache_size: usize,
    /// Model requests at once.
    pub workers: usize,
    /// Flows waiting for a worker.
    pub queue_size: usize,
    /// Most model requests in any 60 s; 0: no cap.
    pub max_requests_per_minute: u64,
    /// Most USD spent on model calls (priced with `ask`'s table); 0: no cap.
    pub max_cost_usd: f64,
    /// Ask for structured output (`response_format: json_schema`).
    pub structured_output: bool,
    /// Most original identifiers the leak guard remembers; flows whose
    /// originals no longer fit are classified by the rules, never sent.
    pub leak_guard_max_originals: usize,
}

impl Default for ClassifyConfig {
    fn default() -> Self {
        let r = ReassemblyConfig::default();
        ClassifyConfig {
            flow_max_bytes: r.max_bytes,
            flow_timeout_secs: r.idle_timeout_secs,
            flow_max_flows: r.max_flows,
            confidence_threshold: 0.6,
            cache_size: 1024,
            workers: 4,
            queue_size: 256,
            max_requests_per_minute: 0,
            max_cost_usd: 0.0,
            structured_output: true,
            leak_guard_max_originals: 200_000,
        }
    }
}

impl ClassifyConfig {
    /// The reassembler's settings.
    pub fn reassembly(&self) -> ReassemblyConfig {
        ReassemblyConfig {
            max_bytes: self.flow_max_bytes,
            idle_timeout_secs: self.flow_timeout_secs,
            max_flows: self.flow_max_flows,
            ..Default::default()
        }
    }

    /// Bounds the options' mapping cannot express: `Err((key, detail))`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err((
                "classify.confidence_threshold",
                "must be between 0 and 1".into(),
            ));
        }
        if self.flow_timeout_secs.is_nan() || self.flow_timeout_secs <= 0.0 {
            return Err(("classify.flow_timeout_secs", "must be positive".into()));
        }
        for (key, v) in [
            ("classify.flow_max_bytes", self.flow_max_bytes),
            ("classify.flow_max_flows", self.flow_max_flows),
            ("classify.workers", self.workers),
            ("classify.queue_size", self.queue_size),
        ] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        Ok(())
    }
}
