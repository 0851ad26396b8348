//! Unusual server ports: traffic to services on ports outside an allowlist of
//! well-known services (by default: server ports above 1024 that are not on
//! the list). Aggregated per (server address, port, transport).
//!
//! The server side comes from the flow's orientation, and only where that
//! orientation is known: a TCP flow whose handshake was seen (SYN from the
//! originator, SYN/ACK back), or a UDP flow with traffic both ways. Failed
//! connection attempts are left to the scan detector.

use super::long_lived::endpoint;
use super::{DetectConfig, Detector, Evidence, Findings};
use crate::decode::tcp_flags::{ACK, SYN};
use crate::flow::Flow;
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// Registered ports above 1024 that are common enough not to be worth a finding.
pub const WELL_KNOWN_HIGH_PORTS: &[u16] = &[
    1080, 1194, 1433, 1434, 1521, 1701, 1723, 1812, 1813, 1883, 1900, 1935, 2049, 2082, 2083, 2181,
    2375, 2376, 2379, 2380, 3128, 3260, 3268, 3269, 3306, 3389, 3478, 3479, 4369, 4500, 4789, 5060,
    5061, 5222, 5223, 5228, 5353, 5355, 5432, 5671, 5672, 5683, 5900, 5938, 5985, 5986, 6379, 6443,
    6881, 8000, 8008, 8080, 8443, 8883, 8888, 9000, 9090, 9092, 9100, 9200, 9300, 9418, 10250,
    11211, 27017,
];

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortsConfig {
    /// Server ports at or below this are never flagged (default 1024).
    pub max_ordinary_port: u16,
    /// Ports above `max_ordinary_port` that are not flagged either.
    pub allow: BTreeSet<u16>,
    /// Most (server, port) entries tracked; the rest are counted only.
    pub max_servers: usize,
}

impl Default for PortsConfig {
    fn default() -> Self {
        PortsConfig {
            max_ordinary_port: 1024,
            allow: WELL_KNOWN_HIGH_PORTS.iter().copied().collect(),
            max_servers: 50_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct UnusualPortsReport {
    /// Flows to an unusual server port (never capped).
    pub total_flows: u64,
    /// Distinct (server, port, transport) entries.
    pub total_servers: u64,
    /// Flows of servers past the tracking limit (counted in `total_flows` only).
    pub untracked_flows: u64,
    /// Most flows first (ties: server, then port).
    pub servers: Vec<UnusualPort>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnusualPort {
    pub server: String,
    pub port: u16,
    pub transport: String,
    pub flows: u64,
    /// Distinct client addresses (counted up to 1000).
    pub clients: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Application protocols recognised on these flows, sorted.
    pub services: Vec<String>,
    pub first_ts: f64,
    pub last_ts: f64,
    pub evidence: Vec<Evidence>,
}

#[derive(Clone)]
struct Acc {
    flows: u64,
    clients: BTreeSet<IpAddr>,
    packets: u64,
    bytes: u64,
    services: BTreeSet<&'static str>,
    first: i64,
    last: i64,
    evidence: Vec<(u64, Evidence)>,
}

#[derive(Clone)]
pub struct PortsDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    /// Bit per port: set = flag it.
    flagged: Box<[u64; 1024]>,
    max_servers: usize,
    cap: usize,
    servers: HashMap<(IpAddr, u16, u8), Acc>,
    report: UnusualPortsReport,
}

impl PortsDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        let mut flagged = Box::new([0u64; 1024]);
        for p in cfg.ports.max_ordinary_port as u32 + 1..=65535 {
            if !cfg.ports.allow.contains(&(p as u16)) {
                flagged[(p / 64) as usize] |= 1 << (p % 64);
            }
        }
        PortsDetector {
            out: Default::default(),
            flagged,
            max_servers: cfg.ports.max_servers,
            cap: cfg.max_instances,
            servers: HashMap::new(),
            report: Default::default(),
        }
    }

    fn is_flagged(&self, port: u16) -> bool {
        self.flagged[port as usize / 64] & (1 << (port % 64)) != 0
    }
}

/// Whether the flow's orientation (originator = client) is known.
pub(crate) fn server_side_known(f: &Flow) -> bool {
    match f.proto {
        6 => f.tcp_flags[0] & SYN != 0 && f.tcp_flags[1] & (SYN | ACK) == SYN | ACK,
        17 => f.dir[0].packets > 0 && f.dir[1].packets > 0,
        _ => false,
    }
}

impl Detector for PortsDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    fn on_flow_end(&mut self, f: &Flow) {
        if !self.is_flagged(f.resp_port) || !server_side_known(f) {
            return;
        }
        self.report.total_flows += 1;
        let key = (f.resp_addr, f.resp_port, f.proto);
        if !self.servers.contains_key(&key) && self.servers.len() >= self.max_servers {
            self.report.untracked_flows += 1;
            return;
        }
        if !self.servers.contains_key(&key) {
            self.out.finding(|| super::outbox::FindingEvent {
                kind: "unusual_port",
                frame: f.first_frame,
                ts: ts_secs(f.first_ts),
                community_id: f.community_id().to_string(),
                summary: format!(
                    "{} server on unusual port {}",
                    crate::decode::transport_name(f.proto),
                    endpoint(f.resp_addr, f.resp_port, f.proto)
                ),
                detail: serde_json::json!({
                    "server": endpoint(f.resp_addr, f.resp_port, f.proto),
                    "port": f.resp_port,
                    "transport": crate::decode::transport_name(f.proto),
                    "client": f.orig_addr.to_string(),
                    "service": f.service.map(|s| s.name()),
                }),
            });
        }
        let acc = self.servers.entry(key).or_insert_with(|| Acc {
            flows: 0,
            clients: BTreeSet::new(),
            packets: 0,
            bytes: 0,
            services: BTreeSet::new(),
            first: f.first_ts,
            last: f.last_ts,
            evidence: Vec::new(),
        });
        acc.flows += 1;
        if acc.clients.len() < 1000 {
            acc.clients.insert(f.orig_addr);
        }
        acc.packets += f.packets();
        acc.bytes += f.bytes();
        if let Some(s) = f.service {
            acc.services.insert(s.name());
        }
        acc.first = acc.first.min(f.first_ts);
        acc.last = acc.last.max(f.last_ts);
        super::keep_earliest_evidence(&mut acc.evidence, f, self.cap);
    }

    fn finish_findings(&mut self, out: &mut Findings) {
        let mut list: Vec<UnusualPort> = self
            .servers
            .drain()
            .map(|((addr, port, proto), mut a)| {
                a.evidence.sort_by_key(|e| e.0);
                a.evidence.truncate(self.cap);
                UnusualPort {
                    server: endpoint(addr, port, proto),
                    port,
                    transport: crate::decode::transport_name(proto).to_string(),
                    flows: a.flows,
                    clients: a.clients.len() as u64,
                    packets: a.packets,
                    bytes: a.bytes,
                    services: a.services.iter().map(|s| s.to_string()).collect(),
                    first_ts: ts_secs(a.first),
                    last_ts: ts_secs(a.last),
                    evidence: a.evidence.into_iter().map(|e| e.1).collect(),
                }
            })
            .collect();
        list.sort_by(|a, b| {
            b.flows
                .cmp(&a.flows)
                .then_with(|| a.server.cmp(&b.server))
                .then_with(|| a.transport.cmp(&b.transport))
        });
        self.report.total_servers = list.len() as u64;
        list.truncate(self.cap);
        self.report.servers = list;
        out.unusual_ports = std::mem::take(&mut self.report);
    }
}
