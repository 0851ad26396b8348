//! Long-lived connections: flows whose first-to-last packet span exceeds a
//! threshold (default one hour). Beaconing implants, tunnels and forgotten
//! sessions show up here; so do legitimate push channels, which is why the
//! finding lists the service and volume next to the duration.
//!
//! Work happens only when a flow ends. A flow split by the table's idle
//! timeout counts as separate flows (each piece is judged on its own).

use super::{DetectConfig, Detector, Evidence, Findings};
use crate::flow::Flow;
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LongLivedConfig {
    /// Flows at least this long (seconds) are reported.
    pub min_duration_secs: u64,
}

impl Default for LongLivedConfig {
    fn default() -> Self {
        LongLivedConfig {
            min_duration_secs: 3600,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct LongLivedReport {
    pub threshold_secs: u64,
    /// Flows over the threshold (never capped).
    pub total: u64,
    /// The longest ones, longest first (ties: flow creation order).
    pub flows: Vec<LongLivedFlow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LongLivedFlow {
    pub transport: String,
    pub orig: String,
    pub resp: String,
    pub service: Option<String>,
    pub duration_secs: f64,
    pub first_ts: f64,
    pub last_ts: f64,
    pub packets: u64,
    pub bytes: u64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub community_id: String,
    /// Ordering key (creation order), not serialised.
    #[serde(skip)]
    flow_id: u64,
}

#[derive(Clone)]
pub struct LongLivedDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    min_nanos: i64,
    cap: usize,
    report: LongLivedReport,
}

impl LongLivedDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        LongLivedDetector {
            out: Default::default(),
            min_nanos: (cfg.long_lived.min_duration_secs as i64).saturating_mul(1_000_000_000),
            cap: cfg.max_instances,
            report: LongLivedReport {
                threshold_secs: cfg.long_lived.min_duration_secs,
                ..Default::default()
            },
        }
    }

    fn keep_longest(&mut self) {
        self.report.flows.sort_by(|a, b| {
            b.duration_secs
                .total_cmp(&a.duration_secs)
                .then(a.flow_id.cmp(&b.flow_id))
        });
        self.report.flows.truncate(self.cap);
    }
}

/// "addr:port" (bracketed for IPv6), or the bare address for port-less transports.
pub(crate) fn endpoint(addr: std::net::IpAddr, port: u16, proto: u8) -> String {
    use crate::decode::{endpoint, has_ports};
    endpoint(addr, has_ports(proto).then_some(port))
}

impl Detector for LongLivedDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    fn on_flow_end(&mut self, f: &Flow) {
        let span = f.last_ts.saturating_sub(f.first_ts);
        if span < self.min_nanos {
            return;
        }
        self.report.total += 1;
        let row = LongLivedFlow {
            transport: crate::decode::transport_name(f.proto).to_string(),
            orig: endpoint(f.orig_addr, f.orig_port, f.proto),
            resp: endpoint(f.resp_addr, f.resp_port, f.proto),
            service: f.service.map(|s| s.name().to_string()),
            duration_secs: (span as f64 / 1e3).round() / 1e6,
            first_ts: ts_secs(f.first_ts),
            last_ts: ts_secs(f.last_ts),
            packets: f.packets(),
            bytes: f.bytes(),
            first_frame: f.first_frame,
            last_frame: f.last_frame,
            community_id: f.community_id().to_string(),
            flow_id: f.id,
        };
        self.out.finding(|| super::outbox::FindingEvent {
            kind: "long_lived",
            frame: row.first_frame,
            ts: row.first_ts,
            community_id: row.community_id.clone(),
            summary: format!(
                "long-lived {} connection {} -> {} lasted {:.0} s",
                row.transport, row.orig, row.resp, row.duration_secs
            ),
            detail: serde_json::to_value(&row).unwrap_or_default(),
        });
        self.report.flows.push(row);
        // Bounded memory: trim to the longest `cap` once the list doubles.
        if self.report.flows.len() >= 2 * self.cap.max(1) {
            self.keep_longest();
        }
    }

    fn finish_findings(&mut self, out: &mut Findings) {
        self.keep_longest();
        out.long_lived = std::mem::take(&mut self.report);
    }
}

impl LongLivedFlow {
    /// Where to look: the flow's first frame.
    pub fn evidence(&self) -> Evidence {
        Evidence {
            frame: self.first_frame,
            ts: self.first_ts,
            community_id: self.community_id.clone(),
        }
    }
}
