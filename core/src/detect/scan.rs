//! Port scans and ping sweeps.
//!
//! Every scan probe is a flow of its own (a new port or host is a new
//! 5-tuple), so the detector works on finished flows and costs nothing per
//! packet. A flow counts as a probe when its first packets fit a scan:
//! - TCP without payload from the originator, with a SYN: `syn` (half-open: the scanner never completes the
//!   handshake) or `connect` (it does, then leaves without sending data);
//! - TCP without SYN or ACK: `fin`, `null` or `xmas` (FIN+PSH+URG);
//! - a bare ACK (`ack`: nmap -sA and -sW send the same probe) or FIN+ACK
//!   (`maimon`, nmap -sM), at most two of them, answered by a reset: the
//!   reset is what tells a probe from the tail of a connection the capture
//!   caught mid-stream (whose peer answers with an ACK or data, or, when the
//!   capture is one-sided, not at all);
//! - UDP with at most a few datagrams: `udp` (nmap puts protocol payloads in
//!   some; answered ones with payload count for vertical scans only);
//! - ICMP echo requests, with or without data: `icmp_echo` (ping sweeps).
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
use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN, URG};
use crate::flow::Flow;
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// A source with no new probe for this many seconds is done: its scans
    /// are decided and its probes forgotten (memory follows the active
    /// scanners). 0: every source is kept to the end (files; `pcaplens live`
    /// uses twice the window).
    pub retire_after_secs: u64,
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
            retire_after_secs: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ScanReport {
    /// Scan findings (never capped).
    pub total: u64,
    /// Most probes first (ties: scanner address, then pattern).
    pub scans: Vec<ScanFinding>,
    /// Probe flows seen (of any source), without answered UDP exchanges
    /// with payload (those count only toward vertical scans).
    pub probe_flows: u64,
    /// Probes not kept because of the per-source or source limits.
    pub untracked_probes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanFinding {
    pub scanner: String,
    /// "vertical", "horizontal" or "ping_sweep".
    pub pattern: String,
    /// Probe kinds seen: "syn", "connect", "fin", "null", "xmas", "udp",
    /// "icmp_echo", "ack" (nmap -sA/-sW), "maimon" (nmap -sM).
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

/// What a probe looked like (the finding's `scan_types`, in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ProbeKind {
    Syn,
    Connect,
    Fin,
    Null,
    Xmas,
    Udp,
    IcmpEcho,
    Ack,
    Maimon,
}

impl ProbeKind {
    const ALL: [ProbeKind; 9] = [
        ProbeKind::Syn,
        ProbeKind::Connect,
        ProbeKind::Fin,
        ProbeKind::Null,
        ProbeKind::Xmas,
        ProbeKind::Udp,
        ProbeKind::IcmpEcho,
        ProbeKind::Ack,
        ProbeKind::Maimon,
    ];

    /// The name in the report's `scan_types`.
    fn name(self) -> &'static str {
        match self {
            ProbeKind::Syn => "syn",
            ProbeKind::Connect => "connect",
            ProbeKind::Fin => "fin",
            ProbeKind::Null => "null",
            ProbeKind::Xmas => "xmas",
            ProbeKind::Udp => "udp",
            ProbeKind::IcmpEcho => "icmp_echo",
            ProbeKind::Ack => "ack",
            ProbeKind::Maimon => "maimon",
        }
    }

    fn from_name(name: &str) -> Option<ProbeKind> {
        ProbeKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

#[derive(Clone, Copy)]
struct Probe {
    dst: IpAddr,
    /// Transport port (0 for ICMP).
    port: u16,
    /// Source port, or ICMP (type, code) packed, to rebuild the Community ID.
    sport: u16,
    proto: u8,
    kind: ProbeKind,
    open: bool,
    /// The target answered at all (an open port, an echo reply, or the
    /// reset to an ACK probe, which tells a live host but no open port).
    responded: bool,
    vertical_only: bool,
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

/// A probe as a source keeps it: the target in its own family's size
/// (IPv4: 32 bytes a probe rather than 48; most probes of a big capture
/// are kept until its end).
#[derive(Clone, Copy)]
struct Stored<A> {
    dst: A,
    port: u16,
    sport: u16,
    proto: u8,
    kind: ProbeKind,
    /// `open`, `responded`, `vertical_only` as bits 0, 1, 2.
    flags: u8,
    ts: i64,
    frame: u64,
}

impl<A: Copy + Into<IpAddr>> Stored<A> {
    fn of(p: &Probe, dst: A) -> Self {
        Stored {
            dst,
            port: p.port,
            sport: p.sport,
            proto: p.proto,
            kind: p.kind,
            flags: p.open as u8 | (p.responded as u8) << 1 | (p.vertical_only as u8) << 2,
            ts: p.ts,
            frame: p.frame,
        }
    }

    fn probe(&self) -> Probe {
        Probe {
            dst: self.dst.into(),
            port: self.port,
            sport: self.sport,
            proto: self.proto,
            kind: self.kind,
            open: self.flags & 1 != 0,
            responded: self.flags & 2 != 0,
            vertical_only: self.flags & 4 != 0,
            ts: self.ts,
            frame: self.frame,
        }
    }
}

/// A source's probes, IPv4 and IPv6 targets apart. Every use of them sorts
/// by target first, so which family's probes come first never shows.
#[derive(Clone, Default)]
struct Probes {
    v4: Vec<Stored<std::net::Ipv4Addr>>,
    v6: Vec<Stored<std::net::Ipv6Addr>>,
}

impl Probes {
    fn push(&mut self, p: Probe) {
        match p.dst {
            IpAddr::V4(a) => self.v4.push(Stored::of(&p, a)),
            IpAddr::V6(a) => self.v6.push(Stored::of(&p, a)),
        }
    }

    fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Every probe, whole (for the findings: one source at a time).
    fn all(&self) -> Vec<Probe> {
        let v4 = self.v4.iter().map(Stored::probe);
        v4.chain(self.v6.iter().map(Stored::probe)).collect()
    }

    fn retain(&mut self, mut keep: impl FnMut(&Probe) -> bool) {
        self.v4.retain(|p| keep(&p.probe()));
        self.v6.retain(|p| keep(&p.probe()));
        if self.v4.len() < self.v4.capacity() / 4 {
            self.v4.shrink_to_fit();
        }
        if self.v6.len() < self.v6.capacity() / 4 {
            self.v6.shrink_to_fit();
        }
    }
}

#[derive(Clone, Default)]
struct Source {
    /// First time of the newest probe (for `retire_after_secs`).
    newest: i64,
    probes: Probes,
    /// With events on: each group's distinct targets and when each was first
    /// probed, to decide a scan as its probes arrive.
    live: HashMap<GroupKey, LiveGroup>,
}

/// One group of a source's probes, as the final report groups them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum GroupKey {
    /// One target host: distinct (transport, port).
    Vertical(IpAddr),
    /// One (transport, port): distinct hosts.
    Horizontal(u8, u16),
    /// Echo requests: distinct hosts.
    Sweep,
}

impl GroupKey {
    fn pattern(&self) -> &'static str {
        match self {
            GroupKey::Vertical(_) => "vertical",
            GroupKey::Horizontal(..) => "horizontal",
            GroupKey::Sweep => "ping_sweep",
        }
    }
}

/// A group followed as it grows (events only).
#[derive(Clone, Default)]
struct LiveGroup {
    /// Distinct key → time of its first probe.
    firsts: HashMap<(u8, u16, Option<IpAddr>), i64>,
    /// The same times, sorted.
    sorted: Vec<i64>,
}

/// Most distinct keys whose first probe falls in one window that contains `t`
/// (`ts` sorted; windows are `window` long, both ends included).
fn max_in_window_around(ts: &[i64], t: i64, window: i64) -> u64 {
    let lo = ts.partition_point(|&x| x < t.saturating_sub(window));
    let hi = ts.partition_point(|&x| x <= t);
    (lo..hi)
        .map(|i| (ts.partition_point(|&x| x <= ts[i].saturating_add(window)) - i) as u64)
        .max()
        .unwrap_or(0)
}

#[derive(Clone)]
pub struct ScanDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    cfg: ScanConfig,
    cap: usize,
    sources: HashMap<IpAddr, Source>,
    probe_flows: u64,
    untracked: u64,
    /// Groups already sent as events (events only): the final report keeps
    /// them as they were announced.
    announced: BTreeSet<(IpAddr, GroupKey)>,
    /// Findings of sources retired for quiet (`retire_after_secs`).
    retired: Vec<(IpAddr, GroupKey, ScanFinding)>,
    /// Retired findings past [`MAX_RETIRED`] (counted in `total` only).
    retired_dropped: u64,
    next_retire: i64,
}

impl ScanDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        ScanDetector {
            out: Default::default(),
            cfg: cfg.scan.clone(),
            cap: cfg.max_instances,
            sources: HashMap::new(),
            probe_flows: 0,
            untracked: 0,
            announced: BTreeSet::new(),
            retired: Vec::new(),
            retired_dropped: 0,
            next_retire: i64::MIN,
        }
    }

    fn min_for(&self, key: GroupKey) -> u64 {
        match key {
            GroupKey::Vertical(_) => self.cfg.vertical_min_ports,
            GroupKey::Horizontal(..) => self.cfg.horizontal_min_hosts,
            GroupKey::Sweep => self.cfg.sweep_min_hosts,
        }
    }

    /// Follow the groups the new probe `p` of `src` belongs to; announce
    /// those it brings to their threshold.
    fn follow(&mut self, src: IpAddr, p: Probe, community_id: impl Fn() -> String) {
        let mut keys = Vec::with_capacity(2);
        if p.kind == ProbeKind::IcmpEcho {
            keys.push((GroupKey::Sweep, (0, 0, Some(p.dst))));
        } else {
            keys.push((GroupKey::Vertical(p.dst), (p.proto, p.port, None)));
            if !p.vertical_only {
                keys.push((GroupKey::Horizontal(p.proto, p.port), (0, 0, Some(p.dst))));
            }
        }
        let window = (self.cfg.window_secs as i64).saturating_mul(1_000_000_000);
        for (key, distinct) in keys {
            if self.announced.contains(&(src, key)) {
                continue;
            }
            let min = self.min_for(key);
            let Some(source) = self.sources.get_mut(&src) else {
                return;
            };
            let g = source.live.entry(key).or_default();
            match g.firsts.get(&distinct).copied() {
                Some(first) if first <= p.ts => continue,
                Some(first) => {
                    let i = g.sorted.partition_point(|&x| x < first);
                    g.sorted.remove(i);
                }
                None => {}
            }
            g.firsts.insert(distinct, p.ts);
            let i = g.sorted.partition_point(|&x| x <= p.ts);
            g.sorted.insert(i, p.ts);
            if (g.sorted.len() as u64) < min || max_in_window_around(&g.sorted, p.ts, window) < min
            {
                continue;
            }
            // Host discovery (nmap -sn) pairs each echo request with TCP
            // probes that the final report folds into the sweep: while every
            // host of a TCP group was also swept, it waits for the end.
            if let (GroupKey::Horizontal(6, _), Some(sweep)) =
                (key, source.live.get(&GroupKey::Sweep))
            {
                let hosts = &source.live[&key].firsts;
                if hosts
                    .keys()
                    .all(|&(_, _, h)| sweep.firsts.contains_key(&(0, 0, h)))
                {
                    continue;
                }
            }
            let count = source.live[&key].firsts.len();
            self.announced.insert((src, key));
            self.out.finding(|| super::outbox::FindingEvent {
                kind: "scan",
                frame: p.frame,
                ts: ts_secs(p.ts),
                community_id: community_id(),
                summary: match key {
                    GroupKey::Vertical(dst) => {
                        format!("{src} scanned {count} ports of {dst} (vertical scan)")
                    }
                    GroupKey::Horizontal(proto, port) => format!(
                        "{src} probed {} port {port} on {count} hosts (horizontal scan)",
                        crate::decode::transport_name(proto)
                    ),
                    GroupKey::Sweep => format!("{src} pinged {count} hosts (ping sweep)"),
                },
                detail: serde_json::json!({
                    "scanner": src.to_string(),
                    "pattern": key.pattern(),
                    "target": match key { GroupKey::Vertical(d) => Some(d.to_string()), _ => None },
                    "transport": match key { GroupKey::Horizontal(t, _) => Some(crate::decode::transport_name(t)), _ => None },
                    "port": match key { GroupKey::Horizontal(_, port) => Some(port), _ => None },
                    "distinct_targets": count,
                }),
            });
        }
    }

    /// The scan findings of everything so far, most probes first, each
    /// with its group (retired sources' included).
    fn findings(&self) -> Vec<(IpAddr, GroupKey, ScanFinding)> {
        let mut found = self.retired.clone();
        let mut sources: Vec<(&IpAddr, &Source)> = self.sources.iter().collect();
        sources.sort_by_key(|(a, _)| **a);
        for (src, s) in sources {
            self.source_findings(*src, s, &mut found);
        }
        sort_findings(&mut found);
        found
    }

    /// The findings of one source's probes, added to `found`.
    fn source_findings(
        &self,
        src: IpAddr,
        s: &Source,
        found: &mut Vec<(IpAddr, GroupKey, ScanFinding)>,
    ) {
        let window = (self.cfg.window_secs as i64).saturating_mul(1_000_000_000);
        let announced = |key| self.announced.contains(&(src, key));
        let any_announced = self
            .announced
            .range((src, GroupKey::Vertical(IpAddr::from([0u8; 4])))..)
            .next()
            .is_some_and(|(a, _)| *a == src);
        if !any_announced
            && (s.probes.len() as u64)
                < self
                    .cfg
                    .vertical_min_ports
                    .min(self.cfg.horizontal_min_hosts)
                    .min(self.cfg.sweep_min_hosts)
        {
            return;
        }
        let mut ctx = Group {
            cfg: &self.cfg,
            cap: self.cap,
            scanner: src,
            window,
            out: found,
        };
        let all = s.probes.all();
        // Vertical: per target host, distinct (transport, port).
        let mut p: Vec<&Probe> = all
            .iter()
            .filter(|p| p.kind != ProbeKind::IcmpEcho)
            .collect();
        p.sort_by_key(|p| (p.dst, p.proto, p.port, p.ts));
        for group in p.chunk_by(|a, b| a.dst == b.dst) {
            let key = GroupKey::Vertical(group[0].dst);
            ctx.emit(key, announced(key), group, |p| (p.proto, p.port, None));
        }
        // Ping sweep: echo requests, distinct hosts.
        let mut e: Vec<&Probe> = all
            .iter()
            .filter(|p| p.kind == ProbeKind::IcmpEcho)
            .collect();
        e.sort_by_key(|p| (p.dst, p.ts));
        let before = ctx.out.len();
        if !e.is_empty() {
            let key = GroupKey::Sweep;
            ctx.emit(key, announced(key), &e, |p| (0, 0, Some(p.dst)));
        }
        let sweep = (ctx.out.len() > before).then_some(before);
        let swept: BTreeSet<IpAddr> = e.iter().map(|p| p.dst).collect();
        // Horizontal: per (transport, port), distinct hosts.
        p.retain(|p| !p.vertical_only);
        p.sort_by_key(|p| (p.proto, p.port, p.dst, p.ts));
        for group in p.chunk_by(|a, b| a.proto == b.proto && a.port == b.port) {
            let key = GroupKey::Horizontal(group[0].proto, group[0].port);
            // Host discovery: nmap -sn sends, besides the echo request, a
            // SYN to 443 and an ACK to 80 to every host it sweeps. TCP
            // probes of one port to hosts that were all swept are part of
            // the sweep (their kind is added to it), not a second scan
            // (unless that scan was already announced as one).
            if let Some(i) = sweep {
                if group[0].proto == 6
                    && !announced(key)
                    && group.iter().all(|p| swept.contains(&p.dst))
                {
                    ctx.add_kinds(i, group);
                    continue;
                }
            }
            ctx.emit(key, announced(key), group, |p| (0, 0, Some(p.dst)));
        }
    }

    /// Announce the findings of `found` not announced yet (events only): the
    /// end of input, or a source retired, decides them.
    fn announce_rest(&mut self, found: &[(IpAddr, GroupKey, ScanFinding)]) {
        if !self.out.enabled() {
            return;
        }
        for (src, key, finding) in found {
            if self.announced.insert((*src, *key)) {
                self.out.finding(|| super::outbox::FindingEvent {
                    kind: "scan",
                    frame: finding.evidence.first().map_or(0, |e| e.frame),
                    ts: finding.first_ts,
                    community_id: finding
                        .evidence
                        .first()
                        .map(|e| e.community_id.clone())
                        .unwrap_or_default(),
                    summary: format!(
                        "{} {} scan: {} targets, {} ports, {} probes",
                        finding.scanner,
                        finding.pattern,
                        finding.target_count,
                        finding.port_count,
                        finding.probes
                    ),
                    detail: serde_json::to_value(finding).unwrap_or_default(),
                });
            }
        }
    }

    /// Live capture (`retire_after_secs`): sources with no probe for that
    /// long are done; their scans are kept as findings (at most
    /// [`MAX_RETIRED`], the most probes first; the rest counted) and their
    /// probes forgotten, so memory follows the active scanners.
    fn retire_quiet_sources(&mut self, now: i64) {
        let after = (self.cfg.retire_after_secs as i64).saturating_mul(1_000_000_000);
        if after == 0 || now < self.next_retire {
            return;
        }
        self.next_retire = now.saturating_add((after / 4).max(1_000_000_000));
        let cutoff = now.saturating_sub(after);
        let mut quiet: Vec<IpAddr> = self
            .sources
            .iter()
            .filter(|(_, s)| s.newest < cutoff)
            .map(|(a, _)| *a)
            .collect();
        quiet.sort();
        for src in quiet {
            let Some(s) = self.sources.remove(&src) else {
                continue;
            };
            let mut found = Vec::new();
            self.source_findings(src, &s, &mut found);
            self.announce_rest(&found);
            self.retired.extend(found);
            let gone: Vec<(IpAddr, GroupKey)> = self
                .announced
                .range((src, GroupKey::Vertical(IpAddr::from([0u8; 4])))..)
                .take_while(|(a, _)| *a == src)
                .copied()
                .collect();
            for k in gone {
                self.announced.remove(&k);
            }
        }
        if self.retired.len() > 2 * MAX_RETIRED {
            sort_findings(&mut self.retired);
            self.retired_dropped += (self.retired.len() - MAX_RETIRED) as u64;
            self.retired.truncate(MAX_RETIRED);
        }
        self.forget_old_probes(now);
    }

    /// Live capture (with `retire_after_secs`): a source that never goes
    /// quiet (a client that looks names up all day) would keep every probe
    /// until `max_probes_per_source`. A probe older than the window can no
    /// longer help a group that has not reached its threshold (every window
    /// that a later probe is in starts after it), so it is forgotten unless
    /// a group of it was announced as a scan; the groups followed for events
    /// forget such targets too. Memory then follows the probes of the last
    /// window. Such a source's final report counts only the probes kept.
    fn forget_old_probes(&mut self, now: i64) {
        let window = (self.cfg.window_secs as i64).saturating_mul(1_000_000_000);
        let cutoff = now.saturating_sub(window);
        let announced = &self.announced;
        for (src, s) in self.sources.iter_mut() {
            let scan = |key: GroupKey| announced.contains(&(*src, key));
            s.probes
                .retain(|p| p.ts >= cutoff || probe_groups(p).into_iter().flatten().any(scan));
            s.live.retain(|&key, g| {
                if scan(key) {
                    return true;
                }
                g.firsts.retain(|_, t| *t >= cutoff);
                let old = g.sorted.partition_point(|&t| t < cutoff);
                g.sorted.drain(..old);
                if g.firsts.len() < g.firsts.capacity() / 4 {
                    g.firsts.shrink_to_fit();
                    g.sorted.shrink_to_fit();
                }
                !g.firsts.is_empty()
            });
        }
    }
}

/// The groups a probe counts in (as [`ScanDetector::follow`] forms them).
fn probe_groups(p: &Probe) -> [Option<GroupKey>; 2] {
    if p.kind == ProbeKind::IcmpEcho {
        [Some(GroupKey::Sweep), None]
    } else {
        [
            Some(GroupKey::Vertical(p.dst)),
            (!p.vertical_only).then_some(GroupKey::Horizontal(p.proto, p.port)),
        ]
    }
}

/// Most probes first (ties: scanner address, then pattern, targets, ports).
fn sort_findings(found: &mut [(IpAddr, GroupKey, ScanFinding)]) {
    found.sort_by(|(_, _, a), (_, _, b)| {
        b.probes
            .cmp(&a.probes)
            .then_with(|| a.scanner.cmp(&b.scanner))
            .then_with(|| a.pattern.cmp(&b.pattern))
            .then_with(|| a.targets.cmp(&b.targets))
            .then_with(|| a.ports.cmp(&b.ports))
    });
}

/// Most findings of retired sources kept (see `ScanConfig::retire_after_secs`).
const MAX_RETIRED: usize = 1024;

/// A finished flow judged as a probe.
struct JudgedProbe {
    kind: ProbeKind,
    /// The target answered (SYN/ACK, payload, UDP reply, echo reply).
    open: bool,
    /// The target answered at all (see [`Probe::responded`]).
    responded: bool,
    /// Counts toward vertical scans only (see the UDP case).
    vertical_only: bool,
}

/// The probe kind of a finished flow, and whether the target answered.
fn probe_kind(f: &Flow) -> Option<JudgedProbe> {
    if f.dir[0].packets == 0 {
        return None;
    }
    let payload = f.dir[0].payload_bytes != 0;
    let probe = |kind, open| {
        Some(JudgedProbe {
            kind,
            open,
            responded: open,
            vertical_only: false,
        })
    };
    match f.proto {
        6 => {
            if payload {
                return None;
            }
            let o = f.tcp_flags[0];
            let r = f.tcp_flags[1];
            let open = r & (SYN | ACK) == SYN | ACK || f.dir[1].payload_bytes > 0;
            let kind = if o & SYN != 0 {
                // A completed handshake: the scanner ACKed the SYN/ACK (a
                // half-open scanner's reset carries no ACK).
                if open && o & ACK != 0 {
                    ProbeKind::Connect
                } else {
                    ProbeKind::Syn
                }
            } else if o & ACK != 0 {
                // Mid-stream traffic, unless a lone ACK or FIN+ACK drew a reset.
                let kind = match o {
                    ACK => ProbeKind::Ack,
                    o if o == FIN | ACK => ProbeKind::Maimon,
                    _ => return None,
                };
                let reset_only = r & RST != 0 && r & (SYN | FIN) == 0;
                if f.dir[0].packets > 2 || !reset_only || f.dir[1].payload_bytes > 0 {
                    return None;
                }
                return Some(JudgedProbe {
                    kind,
                    open: false,
                    responded: true,
                    vertical_only: false,
                });
            } else if o == 0 {
                ProbeKind::Null
            } else if o & (FIN | PSH | URG) == FIN | PSH | URG {
                ProbeKind::Xmas
            } else if o & FIN != 0 {
                ProbeKind::Fin
            } else {
                return None;
            };
            // Stealth probes: a closed port answers RST, an open one stays silent.
            probe(kind, open)
        }
        17 => {
            if f.dir[0].packets > 3 {
                return None;
            }
            let answered = f.dir[1].packets > 0;
            // nmap -sU sends a protocol payload to well-known ports (DNS, NTP,
            // SNMP, ...): a datagram with payload is a probe too. But a client
            // whose queries get answers (a resolver asking many servers on
            // port 53) must not make a horizontal scan: answered payload
            // flows count toward one host's distinct ports only.
            Some(JudgedProbe {
                kind: ProbeKind::Udp,
                open: answered,
                responded: answered,
                vertical_only: payload && answered,
            })
        }
        1 | 58 => {
            // Echo requests carry data (ping sends 56 bytes): payload is fine.
            let (t, _) = f.icmp?;
            let echo = if f.proto == 1 { t == 8 } else { t == 128 };
            if echo {
                probe(ProbeKind::IcmpEcho, f.dir[1].packets > 0)
            } else {
                None
            }
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
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    fn on_flow_end(&mut self, f: &Flow) {
        let Some(JudgedProbe {
            kind,
            open,
            responded,
            vertical_only,
        }) = probe_kind(f)
        else {
            return;
        };
        // An answered UDP exchange with payload (a DNS or NTP query) is only
        // kept in case it widens a vertical scan: it is not itself a probe.
        if !vertical_only {
            self.probe_flows += 1;
        }
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
        let probe = Probe {
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
            responded,
            vertical_only,
            ts: f.first_ts,
            frame: f.first_frame,
        };
        s.newest = s.newest.max(probe.ts);
        s.probes.push(probe);
        if self.out.enabled() {
            self.follow(src, probe, || f.community_id().to_string());
        }
    }

    /// End of input: the scans not announced yet (events only).
    fn on_input_end(&mut self) {
        let mut found = Vec::new();
        let mut sources: Vec<(&IpAddr, &Source)> = self.sources.iter().collect();
        sources.sort_by_key(|(a, _)| **a);
        for (src, s) in sources {
            self.source_findings(*src, s, &mut found);
        }
        sort_findings(&mut found);
        self.announce_rest(&found);
    }

    fn on_timeout(&mut self, now: i64) {
        self.retire_quiet_sources(now);
    }

    fn finish_findings(&mut self, out: &mut Findings) {
        let found: Vec<ScanFinding> = self.findings().into_iter().map(|(_, _, f)| f).collect();
        out.scans = ScanReport {
            total: found.len() as u64 + self.retired_dropped,
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
    out: &'a mut Vec<(IpAddr, GroupKey, ScanFinding)>,
}

impl Group<'_> {
    /// Add the probe kinds of `group` to finding `i`'s `scan_types`.
    fn add_kinds(&mut self, i: usize, group: &[&Probe]) {
        let f = &mut self.out[i].2;
        let mut kinds: BTreeSet<ProbeKind> = group.iter().map(|p| p.kind).collect();
        kinds.extend(f.scan_types.iter().filter_map(|t| ProbeKind::from_name(t)));
        f.scan_types = kinds.iter().map(|k| k.name().to_string()).collect();
    }

    /// Judge one group of probes and record a finding when it reaches its
    /// threshold. `distinct` is what must differ (the port for vertical scans,
    /// the host otherwise); the group is sorted so equal keys are adjacent,
    /// each run in time order.
    /// An `announced` group is kept whatever its threshold says now (a
    /// probe's first time can move earlier and thin a window out).
    fn emit(
        &mut self,
        key: GroupKey,
        announced: bool,
        group: &[&Probe],
        distinct: impl Fn(&Probe) -> (u8, u16, Option<IpAddr>),
    ) {
        let pattern = key.pattern();
        let min = match key {
            GroupKey::Vertical(_) => self.cfg.vertical_min_ports,
            GroupKey::Horizontal(..) => self.cfg.horizontal_min_hosts,
            GroupKey::Sweep => self.cfg.sweep_min_hosts,
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
        if (firsts.len() as u64) < min && !announced {
            return;
        }
        firsts.sort_unstable();
        let in_window = max_in_window(&firsts, self.window);
        if in_window < min && !announced {
            return;
        }
        let hosts: BTreeSet<IpAddr> = group.iter().map(|p| p.dst).collect();
        let ports: BTreeSet<u16> = group.iter().map(|p| p.port).collect();
        let open_ports: BTreeSet<u16> = group.iter().filter(|p| p.open).map(|p| p.port).collect();
        let responsive: BTreeSet<IpAddr> = group
            .iter()
            .filter(|p| p.responded)
            .map(|p| p.dst)
            .collect();
        let mut kinds: BTreeSet<ProbeKind> = group.iter().map(|p| p.kind).collect();
        // A SYN to a closed port (answered by a RST) looks the same whether a
        // raw-socket SYN scan or connect() sent it; only open ports tell them
        // apart (the SYN scanner resets the SYN/ACK, connect() completes the
        // handshake). With connects and no half-open probe to an open port,
        // the refused SYNs belong to the connect scan.
        if kinds.contains(&ProbeKind::Connect)
            && !group.iter().any(|p| p.kind == ProbeKind::Syn && p.open)
        {
            kinds.remove(&ProbeKind::Syn);
        }
        let first = group.iter().map(|p| p.ts).min().unwrap_or(0);
        let last = group.iter().map(|p| p.ts).max().unwrap_or(0);
        let mut by_frame: Vec<&&Probe> = group.iter().collect();
        by_frame.sort_by_key(|p| p.frame);
        let max = self.cfg.max_listed;
        let is_sweep = pattern == "ping_sweep";
        self.out.push((
            self.scanner,
            key,
            ScanFinding {
                scanner: self.scanner.to_string(),
                pattern: pattern.to_string(),
                scan_types: kinds.iter().map(|k| k.name().to_string()).collect(),
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
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testpcap::{ipv4, tcp, udp, Pcap, C, S};
    use crate::decode::tcp_flags::{ACK, RST, SYN};

    /// Live capture: a client that never goes quiet (a name lookup every
    /// second for three hours) keeps only the last window's probes, while a
    /// slow horizontal scan from it, reaching its threshold in the last
    /// window, is still announced and reported.
    #[test]
    fn a_busy_source_keeps_only_the_last_window_of_probes() {
        use super::{Detector, GroupKey, Probe, ProbeKind, ScanDetector};
        use crate::detect::DetectConfig;
        use std::net::IpAddr;
        let mut cfg = DetectConfig::default();
        cfg.scan.retire_after_secs = 600;
        let mut d = ScanDetector::new(&cfg);
        d.out.set_enabled(true);
        let src: IpAddr = [10, 0, 0, 1].into();
        let resolver: IpAddr = [10, 0, 0, 53].into();
        let sec = 1_000_000_000i64;
        let probe = |dst: IpAddr, port: u16, ts: i64, vertical_only: bool| Probe {
            dst,
            port,
            sport: 40_000,
            proto: 17,
            kind: ProbeKind::Udp,
            open: true,
            responded: true,
            vertical_only,
            ts,
            frame: ts as u64,
        };
        let add = |d: &mut ScanDetector, p: Probe| {
            let s = d.sources.entry(src).or_default();
            s.newest = s.newest.max(p.ts);
            s.probes.push(p);
            d.follow(src, p, String::new);
        };
        let hours = 3 * 3600;
        for t in 0..hours {
            add(&mut d, probe(resolver, 53, t * sec, true));
            d.on_timeout(t * sec);
        }
        let kept = d.sources[&src].probes.len();
        // The window (300 s) and at most one retire period (150 s) of probes.
        assert!((300..=460).contains(&kept), "{kept} probes kept");
        assert_eq!(
            d.sources[&src].live[&GroupKey::Vertical(resolver)]
                .firsts
                .len(),
            1
        );
        // A slow horizontal scan of port 161 on 30 hosts in 290 s.
        for h in 0..30u8 {
            let t = (hours + h as i64 * 10) * sec;
            add(&mut d, probe([10, 1, 0, h].into(), 161, t, false));
            d.on_timeout(t);
        }
        let mut announced = 0;
        d.out.drain(|_| announced += 1);
        assert_eq!(announced, 1, "the scan is announced once");
        let mut out = crate::detect::Findings::default();
        d.finish_findings(&mut out);
        assert_eq!(out.scans.total, 1);
        assert_eq!(out.scans.scans[0].pattern, "horizontal");
        assert_eq!(out.scans.scans[0].target_count, 30);
    }

    /// nmap -sA (and -sW, the same probe) and -sM: a lone ACK or FIN+ACK per
    /// port, each drawing a reset: scans with no open port, a live host.
    #[test]
    fn ack_and_maimon_scans_are_found() {
        use crate::decode::tcp_flags::FIN;
        for (flags, kind) in [(ACK, "ack"), (FIN | ACK, "maimon")] {
            let mut p = Pcap::new();
            for port in 1..=20u16 {
                let ms = port as u64;
                p.push(ms, &tcp(C, 40_000, S, port, 100, 7, flags, b""));
                p.push(ms, &tcp(S, port, C, 40_000, 7, 0, RST, b""));
            }
            let scans = p.report().findings.scans.scans;
            assert_eq!(scans.len(), 1, "{kind}: {scans:?}");
            assert_eq!(scans[0].scan_types, vec![kind.to_string()]);
            assert_eq!(scans[0].port_count, 20);
            assert!(scans[0].open_ports.is_empty());
            assert_eq!(scans[0].responsive_targets, vec!["10.0.0.2".to_string()]);
        }
    }

    /// The tails of connections a capture caught mid-stream look like ACK or
    /// FIN+ACK probes, but the peer answers with an ACK (or nothing is seen
    /// of it, in a one-sided capture): never a scan.
    #[test]
    fn connection_tails_caught_mid_stream_are_not_ack_scans() {
        use crate::decode::tcp_flags::FIN;
        let mut p = Pcap::new();
        for k in 0..40u16 {
            let (sport, ms) = (41_000 + k, k as u64);
            // 40 ports of one host: a lone FIN+ACK answered with FIN+ACK, or
            // a lone ACK never answered.
            if k % 2 == 0 {
                p.push(ms, &tcp(C, sport, S, 1000 + k, 100, 7, FIN | ACK, b""));
                p.push(ms, &tcp(S, 1000 + k, C, sport, 7, 101, FIN | ACK, b""));
            } else {
                p.push(ms, &tcp(C, sport, S, 1000 + k, 100, 7, ACK, b""));
            }
        }
        let r = p.report().findings.scans;
        assert!(r.scans.is_empty(), "{:?}", r.scans);
        assert_eq!(r.probe_flows, 0);
    }

    /// nmap -sS: the open ports' SYN/ACK is reset without an ACK: a SYN scan.
    #[test]
    fn syn_scan_stays_a_syn_scan() {
        let mut p = Pcap::new();
        for port in 1..=20u16 {
            p.push(port as u64, &tcp(C, 40_000, S, port, 100, 0, SYN, b""));
            if port == 5 {
                p.push(
                    port as u64,
                    &tcp(S, port, C, 40_000, 500, 101, SYN | ACK, b""),
                );
                p.push(port as u64, &tcp(C, 40_000, S, port, 101, 0, RST, b""));
            } else {
                p.push(
                    port as u64,
                    &tcp(S, port, C, 40_000, 0, 101, RST | ACK, b""),
                );
            }
        }
        let scans = p.report().findings.scans.scans;
        assert_eq!(scans.len(), 1, "{scans:?}");
        assert_eq!(scans[0].scan_types, vec!["syn".to_string()]);
    }

    /// A resolver asking 30 servers, each answering, is no horizontal scan.
    #[test]
    fn answered_queries_to_many_servers_are_no_scan() {
        let mut p = Pcap::new();
        for h in 1..=30u8 {
            let server = [192, 0, 2, h];
            p.push(h as u64, &udp(C, 50_000 + h as u16, server, 53, b"query"));
            p.push(h as u64, &udp(server, 53, C, 50_000 + h as u16, b"answer"));
        }
        let report = p.report().findings.scans;
        assert!(report.scans.is_empty(), "{:?}", report.scans);
        // Nor are its queries counted as probes.
        assert_eq!(report.probe_flows, 0);
    }

    /// `ping` sends 56 bytes of data per echo: a sweep with it is still a sweep.
    #[test]
    fn ping_sweep_with_echo_data() {
        let mut p = Pcap::new();
        for h in 1..=30u8 {
            let mut echo = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
            echo.extend_from_slice(&[0xab; 56]);
            p.push(h as u64, &ipv4(C, [192, 0, 2, h], 1, &echo));
        }
        let scans = p.report().findings.scans.scans;
        assert_eq!(scans.len(), 1, "{scans:?}");
        assert_eq!(scans[0].pattern, "ping_sweep");
        assert_eq!(scans[0].target_count, 30);
    }

    /// nmap -sn (default discovery) over a dead range: echo requests and a SYN
    /// to 443 for every host, twice. One ping sweep, not also a horizontal scan.
    #[test]
    fn sweep_discovery_syns_fold_into_the_sweep() {
        let mut p = Pcap::new();
        for round in 0..2u64 {
            for h in 1..=30u8 {
                let dst = [192, 0, 2, h];
                let ms = round * 1000 + h as u64;
                p.push(ms, &ipv4(C, dst, 1, &[8, 0, 0, 0, 0x12, h, 0, round as u8]));
                p.push(ms, &tcp(C, 55_000 + round as u16, dst, 443, 7, 0, SYN, b""));
            }
        }
        let scans = p.report().findings.scans.scans;
        assert_eq!(scans.len(), 1, "{scans:?}");
        assert_eq!(scans[0].pattern, "ping_sweep");
        assert_eq!(scans[0].scan_types, vec!["syn", "icmp_echo"]);
        assert_eq!(scans[0].target_count, 30);
    }

    /// A SYN scan of port 22 over hosts that were not pinged stays horizontal.
    #[test]
    fn horizontal_scan_beside_a_sweep_of_other_hosts() {
        let mut p = Pcap::new();
        for h in 1..=30u8 {
            p.push(
                h as u64,
                &ipv4(C, [192, 0, 2, h], 1, &[8, 0, 0, 0, 0x12, h, 0, 1]),
            );
            p.push(
                h as u64,
                &tcp(C, 55_000, [198, 51, 100, h], 22, 7, 0, SYN, b""),
            );
        }
        let scans = p.report().findings.scans.scans;
        let patterns: Vec<&str> = scans.iter().map(|s| s.pattern.as_str()).collect();
        assert_eq!(patterns, vec!["horizontal", "ping_sweep"], "{scans:?}");
    }
}
