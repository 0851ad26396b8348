//! Protocol/port mismatch, decided from content: HTTP on a non-standard port,
//! something other than HTTP on port 80, TLS on an odd port, something other
//! than TLS on 443. The content verdict is the flow's service, which the
//! decoder's probes set from the first payload that identifies a protocol
//! (content first, port second; see `decode::app`).
//!
//! Only TCP flows whose handshake was seen are judged: there the first
//! payload is the start of the stream, so "no recognisable protocol" means
//! what it says rather than "the capture began mid-stream".

use super::long_lived::endpoint;
use super::ports::server_side_known;
use super::{DetectConfig, Detector, Evidence, Findings};
use crate::decode::AppProto;
use crate::flow::Flow;
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MismatchConfig {
    /// Ports where plain HTTP is expected.
    pub http_ports: BTreeSet<u16>,
    /// Ports where TLS from the first byte is expected.
    pub tls_ports: BTreeSet<u16>,
    /// Most (server, kind) entries kept.
    pub max_servers: usize,
}

impl Default for MismatchConfig {
    fn default() -> Self {
        MismatchConfig {
            http_ports: [80, 81, 591, 3128, 8000, 8008, 8080, 8088, 8888]
                .into_iter()
                .collect(),
            tls_ports: [
                443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 2083, 2087, 2096, 3269,
                4443, 5061, 5223, 5986, 6697, 8443, 8883, 9443,
            ]
            .into_iter()
            .collect(),
            max_servers: 10_000,
        }
    }
}

/// Kinds of mismatch, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    HttpOddPort,
    NonHttpPort80,
    TlsOddPort,
    NonTlsPort443,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::HttpOddPort => "http_on_non_standard_port",
            Kind::NonHttpPort80 => "non_http_on_port_80",
            Kind::TlsOddPort => "tls_on_non_standard_port",
            Kind::NonTlsPort443 => "non_tls_on_port_443",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct MismatchReport {
    /// Flows with a mismatch (never capped).
    pub total_flows: u64,
    /// Flows per kind: "http_on_non_standard_port", "non_http_on_port_80",
    /// "tls_on_non_standard_port", "non_tls_on_port_443".
    pub by_kind: BTreeMap<String, u64>,
    /// One entry per (kind, server), most flows first.
    pub servers: Vec<Mismatch>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mismatch {
    pub kind: String,
    pub server: String,
    pub port: u16,
    /// What the content was ("unknown" when no protocol was recognised).
    pub detected: String,
    pub flows: u64,
    pub first_ts: f64,
    pub last_ts: f64,
    pub evidence: Vec<Evidence>,
}

#[derive(Clone)]
struct Acc {
    flows: u64,
    detected: BTreeSet<&'static str>,
    first: i64,
    last: i64,
    evidence: Vec<(u64, Evidence)>,
}

#[derive(Clone)]
pub struct MismatchDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    cfg: MismatchConfig,
    cap: usize,
    servers: BTreeMap<(Kind, IpAddr, u16), Acc>,
    report: MismatchReport,
}

impl MismatchDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        MismatchDetector {
            out: Default::default(),
            cfg: cfg.mismatch.clone(),
            cap: cfg.max_instances,
            servers: BTreeMap::new(),
            report: Default::default(),
        }
    }

    fn classify(&self, f: &Flow) -> Option<Kind> {
        let port = f.resp_port;
        match f.service {
            Some(AppProto::Http) if !self.cfg.http_ports.contains(&port) => Some(Kind::HttpOddPort),
            Some(AppProto::Tls) if !self.cfg.tls_ports.contains(&port) => Some(Kind::TlsOddPort),
            s if port == 80 && s != Some(AppProto::Http) => Some(Kind::NonHttpPort80),
            s if port == 443 && s != Some(AppProto::Tls) => Some(Kind::NonTlsPort443),
            _ => None,
        }
    }
}

impl Detector for MismatchDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    fn on_flow_end(&mut self, f: &Flow) {
        // Content is needed to judge: a flow that carried no payload says nothing.
        if f.proto != 6
            || f.dir[0].payload_bytes + f.dir[1].payload_bytes == 0
            || !server_side_known(f)
        {
            return;
        }
        let Some(kind) = self.classify(f) else {
            return;
        };
        self.report.total_flows += 1;
        self.out.finding(|| super::outbox::FindingEvent {
            kind: "protocol_mismatch",
            frame: f.first_frame,
            ts: ts_secs(f.first_ts),
            community_id: f.community_id().to_string(),
            summary: format!(
                "{} on {}",
                kind.name(),
                endpoint(f.resp_addr, f.resp_port, 6)
            ),
            detail: serde_json::json!({
                "kind": kind.name(),
                "server": endpoint(f.resp_addr, f.resp_port, 6),
                "port": f.resp_port,
                "detected": f.service.map(|s| s.name()).unwrap_or("unknown"),
                "client": f.orig_addr.to_string(),
            }),
        });
        *self
            .report
            .by_kind
            .entry(kind.name().to_string())
            .or_default() += 1;
        let key = (kind, f.resp_addr, f.resp_port);
        if !self.servers.contains_key(&key) && self.servers.len() >= self.cfg.max_servers {
            return;
        }
        let acc = self.servers.entry(key).or_insert_with(|| Acc {
            flows: 0,
            detected: BTreeSet::new(),
            first: f.first_ts,
            last: f.last_ts,
            evidence: Vec::new(),
        });
        acc.flows += 1;
        acc.detected
            .insert(f.service.map(|s| s.name()).unwrap_or("unknown"));
        acc.first = acc.first.min(f.first_ts);
        acc.last = acc.last.max(f.last_ts);
        super::keep_earliest_evidence(&mut acc.evidence, f, self.cap);
    }

    fn finish_findings(&mut self, out: &mut Findings) {
        let mut list: Vec<Mismatch> = std::mem::take(&mut self.servers)
            .into_iter()
            .map(|((kind, addr, port), mut a)| {
                a.evidence.sort_by_key(|e| e.0);
                a.evidence.truncate(self.cap);
                Mismatch {
                    kind: kind.name().to_string(),
                    server: endpoint(addr, port, 6),
                    port,
                    detected: a.detected.into_iter().collect::<Vec<_>>().join(","),
                    flows: a.flows,
                    first_ts: ts_secs(a.first),
                    last_ts: ts_secs(a.last),
                    evidence: a.evidence.into_iter().map(|e| e.1).collect(),
                }
            })
            .collect();
        // Stable sort keeps (kind, address, port) order among equal counts.
        list.sort_by_key(|m| std::cmp::Reverse(m.flows));
        list.truncate(self.cap);
        self.report.servers = list;
        out.protocol_mismatch = std::mem::take(&mut self.report);
    }
}
