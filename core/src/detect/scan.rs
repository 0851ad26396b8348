//! Port scans and ping sweeps.
//!
//! Every scan probe is a flow of its own (a new port or host is a new
//! 5-tuple), so the detector works on finished flows and costs nothing per
//! packet. A flow counts as a probe when the originator sent no payload and
//! its flags fit a scan:
//! - TCP with a SYN: `syn` (half-open: the scanner never completes the
//!   handshake) or `connect` (it does, then leaves without sending data);
//! - TCP without SYN or ACK: `fin`, `null` or `xmas` (FIN+PSH+URG);
//! - UDP with at most a few datagrams and no answer carrying payload: `udp`;
//! - ICMP echo requests: `icmp_echo` (ping sweeps).
//!
//! Per source, probes are grouped as Zeek's scan policy does:
//! - vertical: one source, at least `vertical_min_ports` distinct ports of
//!   one host;
//! - horizontal: one source, one port, at least `horizontal_min_hosts` hosts;
//! - ping sweep: at least `sweep_min_hosts` hosts answering or not to echo.
//!
//! The threshold must be reached within `window_secs` (first probe of each
//! distinct target). Memory is bounded: at most `max_sources` sources and
//! `max_probes_per_source` distinct probes each are kept (the rest counted).

use super::{DetectConfig, Detector, Evidence, Findings};
use crate::decode::tcp_flags::{ACK, FIN, PSH, SYN, URG};
use crate::flow::Flow;
use crate::report::ts_secs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq)]
pub struct ScanConfig {
    pub vertical_min_ports: u64,
    pub horizontal_min_hosts: u64,
    pub sweep_min_hosts: u64,
    /// Distinct targets must be reached within this many seconds.
    pub window_secs: u64,
    pub max_sources: usize,
    pub max_probes_per_source: usize,
    /// Most ports / targets listed per finding (counts are never capped).
    pub max_listed: usize,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            vertical_min_ports: 15,
            horizontal_min_hosts: 25,
            sweep_min_hosts: 25,
            window_secs: 300,
            max_sources: 65_536,
            max_probes_per_source: 16_384,
            max_listed: 100,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ScanReport {
    /// Scan findings (never capped).
    pub total: u64,
    /// Most probes first (ties: scanner address, then pattern).
    pub scans: Vec<ScanFinding>,
    /// Probe flows seen (of any source).
    pub probe_flows: u64,
    /// Probes not kept because of the per-source or source limits.
    pub untracked_probes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanFinding {
    pub scanner: String,
    /// "vertical", "horizontal" or "ping_sweep".
    pub pattern: String,
    /// Probe kinds seen: "syn", "connect", "fin", "null", "xmas", "udp", "icmp_echo".
    pub scan_types: Vec<String>,
    /// Distinct target hosts and the first `max_listed` of them (sorted).
    pub target_count: u64,
    pub targets: Vec<String>,
    /// Distinct ports probed and the first `max_listed` of them (sorted).
    pub port_count: u64,
    pub ports: Vec<u16>,
    /// Ports that answered (SYN/ACK, data, or a UDP reply), sorted.
    pub open_ports: Vec<u16>,
    /// Hosts that answered (open port or echo reply), sorted, capped.
    pub responsive_targets: Vec<String>,
    /// Probe flows of this pattern.
    pub probes: u64,
    /// Most distinct targets reached within `window_secs`.
    pub max_in_window: u64,
    pub first_ts: f64,
    pub last_ts: f64,
    pub duration_secs: f64,
    /// The first probes (frame, time, Community ID).
    pub evidence: Vec<Evidence>,
}

/// Probe kinds as bits (for a compact per-probe record).
const KINDS: [&str; 7] = ["syn", "connect", "fin", "null", "xmas", "udp", "icmp_echo"];

#[derive(Clone, Copy)]
struct Probe {
    dst: IpAddr,
    /// Transport port (0 for ICMP).
    port: u16,
    /// Source port, or ICMP (type, code) packed, to rebuild the Community ID.
    sport: u16,
    proto: u8,
    kind: u8,
    open: bool,
    ts: i64,
    frame: u64,
}

impl Probe {
    /// Community ID, rebuilt only for the few probes shown as evidence (so
    /// no string is kept per probe).
    fn community_id(&self, src: IpAddr) -> String {
        let ports = match self.proto {
            6 | 17 => Some((self.sport, self.port)),
            _ => Some((self.sport >> 8, self.sport & 0xff)),
        };
        crate::flow::community_id::community_id_v1(0, src, self.dst, self.proto, ports)
    }
}

#[derive(Default)]
struct Source {
    probes: Vec<Probe>,
}

pub struct ScanDetector {
    cfg: ScanConfig,
    cap: usize,
    sources: HashMap<IpAddr, Source>,
    probe_flows: u64,
    untracked: u64,
}

impl ScanDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        ScanDetector {
            cfg: cfg.scan.clone(),
            cap: cfg.max_instances,
            sources: HashMap::new(),
            probe_flows: 0,
            untracked: 0,
        }
    }
}

/// The probe kind of a finished flow, and whether the target answered.
fn probe_kind(f: &Flow) -> Option<(u8, bool)> {
    if f.dir[0].payload_bytes != 0 || f.dir[0].packets == 0 {
        return None;
    }
    match f.proto {
        6 => {
            let o = f.tcp_flags[0];
            let r = f.tcp_flags[1];
            let open = r & (SYN | ACK) == SYN | ACK || f.dir[1].payload_bytes > 0;
            let kind = if o & SYN != 0 {
                // A completed handshake: the scanner ACKed the SYN/ACK (a
                // half-open scanner's reset carries no ACK).
                if open && o & ACK != 0 {
                    1
                } else {
                    0
                }
            } else if o & ACK != 0 {
                return None; // mid-stream traffic, not a probe
            } else if o == 0 {
                3
            } else if o & (FIN | PSH | URG) == FIN | PSH | URG {
                4
            } else if o & FIN != 0 {
                2
            } else {
                return None;
            };
            // Stealth probes: a closed port answers RST, an open one stays silent.
            Some((kind, open))
        }
        17 => {
            if f.dir[0].packets > 3 {
                return None;
            }
            Some((5, f.dir[1].packets > 0))
        }
        1 | 58 => {
            let (t, _) = f.icmp?;
            let echo = if f.proto == 1 { t == 8 } else { t == 128 };
            echo.then_some((6, f.dir[1].packets > 0))
        }
        _ => None,
    }
}

/// Most distinct keys whose first probe falls in one window (`ts` sorted).
fn max_in_window(ts: &[i64], window: i64) -> u64 {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..ts.len() {
        while ts[hi] - ts[lo] > window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best as u64
}

impl Detector for ScanDetector {
    fn on_flow_end(&mut self, f: &Flow) {
        let Some((kind, open)) = probe_kind(f) else {
            return;
        };
        self.probe_flows += 1;
        let src = f.orig_addr;
        if !self.sources.contains_key(&src) && self.sources.len() >= self.cfg.max_sources {
            self.untracked += 1;
            return;
        }
        let s = self.sources.entry(src).or_default();
        if s.probes.len() >= self.cfg.max_probes_per_source {
            self.untracked += 1;
            return;
        }
        s.probes.push(Probe {
            dst: f.resp_addr,
            port: if f.proto == 6 || f.proto == 17 {
                f.resp_port
            } else {
                0
            },
            sport: match (f.proto, f.icmp) {
                (6 | 17, _) => f.orig_port,
                (_, Some((t, c))) => (t as u16) << 8 | c as u16,
                _ => 0,
            },
            proto: f.proto,
            kind,
            open,
            ts: f.first_ts,
            frame: f.first_frame,
        });
    }

    fn finish_findings(&mut self, out: &mut Findings) {
        let window = (self.cfg.window_secs as i64).saturating_mul(1_000_000_000);
        let mut found = Vec::new();
        for (src, s) in self.sources.iter_mut() {
            if (s.probes.len() as u64)
                < self
                    .cfg
                    .vertical_min_ports
                    .min(self.cfg.horizontal_min_hosts)
                    .min(self.cfg.sweep_min_hosts)
            {
                continue;
            }
            let mut ctx = Group {
                cfg: &self.cfg,
                cap: self.cap,
                scanner: *src,
                window,
                out: &mut found,
            };
            // Vertical: per target host, distinct (transport, port).
            let mut p: Vec<&Probe> = s.probes.iter().filter(|p| p.kind != 6).collect();
            p.sort_by_key(|p| (p.dst, p.proto, p.port, p.ts));
            for group in p.chunk_by(|a, b| a.dst == b.dst) {
                ctx.emit("vertical", group, |p| (p.proto, p.port, None));
            }
            // Horizontal: per (transport, port), distinct hosts.
            p.sort_by_key(|p| (p.proto, p.port, p.dst, p.ts));
            for group in p.chunk_by(|a, b| a.proto == b.proto && a.port == b.port) {
                ctx.emit("horizontal", group, |p| (0, 0, Some(p.dst)));
            }
            // Ping sweep: echo requests, distinct hosts.
            let mut e: Vec<&Probe> = s.probes.iter().filter(|p| p.kind == 6).collect();
            e.sort_by_key(|p| (p.dst, p.ts));
            if !e.is_empty() {
                ctx.emit("ping_sweep", &e, |p| (0, 0, Some(p.dst)));
            }
        }
        found.sort_by(|a: &ScanFinding, b| {
            b.probes
                .cmp(&a.probes)
                .then_with(|| a.scanner.cmp(&b.scanner))
                .then_with(|| a.pattern.cmp(&b.pattern))
                .then_with(|| a.targets.cmp(&b.targets))
                .then_with(|| a.ports.cmp(&b.ports))
        });
        out.scans = ScanReport {
            total: found.len() as u64,
            scans: found,
            probe_flows: self.probe_flows,
            untracked_probes: self.untracked,
        };
        self.sources.clear();
    }
}

struct Group<'a> {
    cfg: &'a ScanConfig,
    cap: usize,
    scanner: IpAddr,
    window: i64,
    out: &'a mut Vec<ScanFinding>,
}

impl Group<'_> {
    /// Judge one group of probes and record a finding when it reaches its
    /// threshold. `distinct` is what must differ (the port for vertical scans,
    /// the host otherwise); the group is sorted so equal keys are adjacent,
    /// each run in time order.
    fn emit(
        &mut self,
        pattern: &str,
        group: &[&Probe],
        distinct: impl Fn(&Probe) -> (u8, u16, Option<IpAddr>),
    ) {
        let min = match pattern {
            "vertical" => self.cfg.vertical_min_ports,
            "horizontal" => self.cfg.horizontal_min_hosts,
            _ => self.cfg.sweep_min_hosts,
        };
        let mut firsts: Vec<i64> = Vec::new();
        let mut prev = None;
        for p in group {
            let k = distinct(p);
            if prev != Some(k) {
                firsts.push(p.ts);
                prev = Some(k);
            }
        }
        if (firsts.len() as u64) < min {
            return;
        }
        firsts.sort_unstable();
        let in_window = max_in_window(&firsts, self.window);
        if in_window < min {
            return;
        }
        let hosts: BTreeSet<IpAddr> = group.iter().map(|p| p.dst).collect();
        let ports: BTreeSet<u16> = group.iter().map(|p| p.port).collect();
        let open_ports: BTreeSet<u16> = group.iter().filter(|p| p.open).map(|p| p.port).collect();
        let responsive: BTreeSet<IpAddr> = group.iter().filter(|p| p.open).map(|p| p.dst).collect();
        let kinds: BTreeSet<u8> = group.iter().map(|p| p.kind).collect();
        let first = group.iter().map(|p| p.ts).min().unwrap_or(0);
        let last = group.iter().map(|p| p.ts).max().unwrap_or(0);
        let mut by_frame: Vec<&&Probe> = group.iter().collect();
        by_frame.sort_by_key(|p| p.frame);
        let max = self.cfg.max_listed;
        let is_sweep = pattern == "ping_sweep";
        self.out.push(ScanFinding {
            scanner: self.scanner.to_string(),
            pattern: pattern.to_string(),
            scan_types: kinds
                .iter()
                .map(|&k| KINDS[k as usize].to_string())
                .collect(),
            target_count: hosts.len() as u64,
            targets: hosts.iter().take(max).map(|h| h.to_string()).collect(),
            port_count: if is_sweep { 0 } else { ports.len() as u64 },
            ports: if is_sweep {
                Vec::new()
            } else {
                ports.iter().take(max).copied().collect()
            },
            open_ports: if is_sweep {
                Vec::new()
            } else {
                open_ports.iter().take(max).copied().collect()
            },
            responsive_targets: responsive.iter().take(max).map(|h| h.to_string()).collect(),
            probes: group.len() as u64,
            max_in_window: in_window,
            first_ts: ts_secs(first),
            last_ts: ts_secs(last),
            duration_secs: ((last - first).max(0) as f64 / 1e3).round() / 1e6,
            // The group's first probes.
            evidence: by_frame
                .iter()
                .take(self.cap)
                .map(|p| Evidence::new(p.frame, p.ts, &p.community_id(self.scanner)))
                .collect(),
        });
    }
}
