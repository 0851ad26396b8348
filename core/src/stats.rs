//! Capture-wide statistics: totals, link types, protocol hierarchy, talkers,
//! conversations and flow totals. [`PacketStats`] is fed every decoded frame;
//! [`FlowStats`] (talkers and conversations) once per finished flow.

use crate::capture::Record;
use crate::decode::{link, Packet, Protocols};
use crate::flow::{DirStats, Flow, FxHashMap};
use crate::report::{
    ConversationSummary, FlowTotals, LinkTypeCount, ProtocolNode, Talker, TimelineBucket,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// Most distinct addresses tracked for top talkers; beyond it the smallest
/// half is folded away (approximate, but memory stays bounded).
const MAX_TALKERS: usize = 100_000;

/// Frames and bytes of one distinct protocol path (outermost first).
#[derive(Clone, Debug)]
struct PathCount {
    names: Protocols,
    frames: u64,
    bytes: u64,
}

/// Slots of the cache of recent paths (a power of two).
const PATH_CACHE: usize = 32;

#[derive(Clone, Debug, Default)]
struct TalkerAcc {
    bytes_sent: u64,
    bytes_received: u64,
    packets_sent: u64,
    packets_received: u64,
    flows: u64,
    /// Bytes by service label (a scanned server sees one label per probed port).
    by_service: ServiceBytes,
}

/// Bytes by service label. Most talkers have one service: it is kept inline,
/// and only further labels go to a map (no allocation for most talkers).
#[derive(Clone, Debug, Default)]
struct ServiceBytes {
    first: Option<(ServiceLabel, u64)>,
    rest: FxHashMap<ServiceLabel, u64>,
}

impl ServiceBytes {
    fn add(&mut self, service: ServiceLabel, bytes: u64) {
        match &mut self.first {
            Some((label, b)) if *label == service => *b += bytes,
            None => self.first = Some((service, bytes)),
            Some(_) => *self.rest.entry(service).or_insert(0) += bytes,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&ServiceLabel, &u64)> {
        self.first
            .iter()
            .map(|(l, b)| (l, b))
            .chain(self.rest.iter())
    }
}

/// Per-packet statistics: totals, link types, protocol hierarchy, timeline.
#[derive(Clone, Debug, Default)]
pub struct PacketStats {
    pub packets: u64,
    pub bytes: u64,
    pub captured_bytes: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    prev_ts: Option<i64>,
    /// Timestamp of the first timed frame (in capture order, unlike
    /// `first_ts`): a merge of pieces compares it with the previous piece's
    /// last (`core/src/partial`).
    first_in_order: Option<i64>,
    pub ts_backwards: u64,
    /// Frames per link type; a capture has one or a few, so a short list
    /// with the last hit checked first beats any map.
    link_types: Vec<(u32, u64)>,
    last_link: usize,
    pub undecoded: u64,
    pub malformed: u64,
    pub snapped: u64,
    pub fragments: u64,
    /// IP reassembly counters (`summary.ip_reassembly`).
    pub reassembly: crate::report::IpReassembly,
    /// Frames and bytes per distinct protocol path; the protocol hierarchy
    /// is summed from them when the report is built.
    paths: Vec<PathCount>,
    /// Paths by name, for those past the hot ones.
    path_index: FxHashMap<Protocols, usize>,
    /// 1 + the index of a recent path, by [`Protocols::fingerprint`] (0:
    /// none): a capture mostly repeats a handful of paths, so a frame's is
    /// nearly always found with one compare.
    path_cache: [u32; PATH_CACHE],
    timeline: Timeline,
}

/// Per-flow statistics, fed once per finished flow: talkers, top
/// conversations and flow totals.
#[derive(Clone, Debug)]
pub struct FlowStats {
    talkers: FxHashMap<TalkerKey, TalkerAcc>,
    top_flows: BinaryHeap<Reverse<(u64, Reverse<u64>)>>,
    top_flow_rows: BTreeMap<u64, ConversationSummary>,
    top_n: usize,
    flows: u64,
    by_transport: NameCounts,
    by_state: NameCounts,
    by_service: NameCounts,
}

/// A talker's address, hashed as one or two words rather than byte by byte
/// (the map's order never reaches the report: talkers are sorted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TalkerKey(IpAddr);

impl Hash for TalkerKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self.0 {
            IpAddr::V4(a) => h.write_u64(u32::from(a).into()),
            IpAddr::V6(a) => {
                let w = u128::from(a);
                h.write_u64((w >> 64) as u64);
                h.write_u64(w as u64);
            }
        }
    }
}

/// Flows per name, for keys with a handful of static names (transports,
/// conn states, services): a short list found by address beats a map of
/// `String`s compared per flow.
#[derive(Clone, Debug, Default)]
struct NameCounts(Vec<(&'static str, u64)>);

impl NameCounts {
    fn bump(&mut self, name: &'static str) {
        // Names come from a few literals: the same address almost always.
        let slot = match self.0.iter().position(|(n, _)| std::ptr::eq(*n, name)) {
            Some(i) => i,
            None => match self.0.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    self.0.push((name, 0));
                    self.0.len() - 1
                }
            },
        };
        self.0[slot].1 += 1;
    }

    fn to_map(&self) -> BTreeMap<String, u64> {
        self.0.iter().map(|&(n, c)| (n.to_string(), c)).collect()
    }
}

/// Most buckets of the traffic-over-time series; the bucket width doubles
/// whenever the capture outgrows it, so the series stays this small.
pub(crate) const MAX_TIMELINE_BUCKETS: usize = 600;

/// Packets and bytes per time bucket, with an adaptive bucket width.
#[derive(Clone, Debug, Default)]
struct Timeline {
    /// Start of bucket 0 (ns), a multiple of `width`.
    origin: Option<i64>,
    width: i64,
    buckets: Vec<(u64, u64)>,
}

impl Timeline {
    #[inline]
    fn add(&mut self, ts: i64, bytes: u64) {
        // Most frames fall in the bucket of the previous one: skip the division.
        if let Some(origin) = self.origin {
            let last_start = origin + (self.buckets.len() as i64 - 1) * self.width;
            let width = self.width;
            if let Some(last) = self.buckets.last_mut() {
                if ts >= last_start && ts - last_start < width {
                    last.0 += 1;
                    last.1 += bytes;
                    return;
                }
            }
        }
        self.add_elsewhere(ts, bytes);
    }

    /// [`Timeline::add`] for a frame outside the last bucket.
    #[inline(never)]
    fn add_elsewhere(&mut self, ts: i64, bytes: u64) {
        let origin = *self.origin.get_or_insert_with(|| {
            self.width = 1_000_000_000;
            ts.div_euclid(1_000_000_000) * 1_000_000_000
        });
        // Frames earlier than the first one (timestamps going backwards) join bucket 0.
        let mut idx = ((ts - origin).max(0) / self.width) as usize;
        while idx >= MAX_TIMELINE_BUCKETS {
            self.widen();
            idx = ((ts - self.origin.unwrap_or(origin)).max(0) / self.width) as usize;
        }
        if idx >= self.buckets.len() {
            self.buckets.resize(idx + 1, (0, 0));
        }
        let b = &mut self.buckets[idx];
        b.0 += 1;
        b.1 += bytes;
    }

    /// Double the bucket width, realigning the origin to the new width.
    fn widen(&mut self) {
        let old_origin = self.origin.unwrap_or(0);
        let old_width = self.width;
        self.width *= 2;
        let origin = old_origin.div_euclid(self.width) * self.width;
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(MAX_TIMELINE_BUCKETS);
        for (i, (p, b)) in self.buckets.iter().enumerate() {
            let start = old_origin + i as i64 * old_width;
            let j = ((start - origin) / self.width) as usize;
            if j >= merged.len() {
                merged.resize(j + 1, (0, 0));
            }
            merged[j].0 += p;
            merged[j].1 += b;
        }
        self.origin = Some(origin);
        self.buckets = merged;
    }
}

impl PacketStats {
    /// Count a frame; `quic_flow`: it is on a conversation seen as QUIC and
    /// has no application protocol of its own.
    pub fn on_packet(&mut self, rec: &Record<'_>, pkt: &Packet<'_>, quic_flow: bool) {
        let (link_type, ts, wire_len) = (rec.link_type, rec.ts_nanos, rec.orig_len);
        let cap_len = rec.data.len() as u32;
        self.packets += 1;
        self.bytes += wire_len as u64;
        self.captured_bytes += cap_len as u64;
        if cap_len < wire_len {
            self.snapped += 1;
        }
        // Records without a timestamp (simple packet / custom blocks) leave time alone.
        if rec.has_ts {
            self.first_ts = Some(self.first_ts.map_or(ts, |f| f.min(ts)));
            self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
            match self.prev_ts {
                Some(p) if ts < p => self.ts_backwards += 1,
                Some(_) => {}
                None => self.first_in_order = Some(ts),
            }
            self.prev_ts = Some(ts);
            self.timeline.add(ts, wire_len as u64);
        }
        match self.link_types.get_mut(self.last_link) {
            Some(e) if e.0 == link_type => e.1 += 1,
            _ => self.count_other_link_type(link_type),
        }
        if !pkt.link_decoded {
            self.undecoded += 1;
        }
        if pkt.malformed.is_some() {
            self.malformed += 1;
        }
        if pkt.ip.iter().any(|l| l.fragment.is_some()) {
            self.fragments += 1;
            self.count_reassembly(pkt);
        }
        if !pkt.protocols.is_empty() {
            let relabelled = if quic_flow {
                Self::quic_version_negotiation_path(pkt)
            } else {
                None
            };
            let path = relabelled.as_ref().unwrap_or(&pkt.protocols);
            let slot = path.fingerprint() as usize % PATH_CACHE;
            let i = match (self.path_cache[slot] as usize).checked_sub(1) {
                Some(i) if self.paths[i].names == *path => i,
                _ => self.path_of(path, slot),
            };
            let p = &mut self.paths[i];
            p.frames += 1;
            p.bytes += wire_len as u64;
        }
    }

    /// The protocol path of a frame on a QUIC conversation with no
    /// application protocol of its own: a version negotiation's gets `quic`.
    #[inline(never)]
    fn quic_version_negotiation_path(pkt: &Packet<'_>) -> Option<Protocols> {
        let Some(crate::decode::Transport::Udp(u)) = pkt.inner().map(|l| l.transport) else {
            return None;
        };
        if !crate::decode::app::looks_like_version_negotiation(u.payload) {
            return None;
        }
        let mut quic = pkt.protocols;
        quic.push_app(crate::decode::AppProto::Quic);
        Some(quic)
    }

    /// What reassembly did on a frame with a fragment.
    #[inline(never)]
    fn count_reassembly(&mut self, pkt: &Packet<'_>) {
        let r = &mut self.reassembly;
        if pkt.ip.iter().any(|l| {
            l.fragment
                .is_some_and(|f| f.reassembly != crate::decode::Reassembly::NotQueued)
        }) {
            r.fragments_queued += 1;
        }
        let n = &pkt.defrag;
        if n.reassembled_fragments > 0 {
            r.datagrams_reassembled += 1;
            r.fragments_reassembled += n.reassembled_fragments as u64;
        }
        r.overlapping_fragments += n.overlapping as u64;
        r.conflicting_fragments += n.conflicting as u64;
        r.datagrams_timed_out += n.timed_out as u64;
        r.datagrams_evicted += n.evicted as u64;
        r.fragments_dropped += n.dropped_fragments as u64;
    }

    /// Count a frame of another link type than the last frame's.
    #[inline(never)]
    fn count_other_link_type(&mut self, link_type: u32) {
        let i = match self.link_types.iter().position(|e| e.0 == link_type) {
            Some(i) => i,
            None => {
                self.link_types.push((link_type, 0));
                self.link_types.len() - 1
            }
        };
        self.link_types[i].1 += 1;
        self.last_link = i;
    }

    /// Index of the count of a protocol path missing from its cache `slot`
    /// (added when new).
    #[inline(never)]
    fn path_of(&mut self, names: &Protocols, slot: usize) -> usize {
        let i = match self.path_index.get(names) {
            Some(&i) => i,
            None => {
                self.paths.push(PathCount {
                    names: *names,
                    frames: 0,
                    bytes: 0,
                });
                self.path_index.insert(*names, self.paths.len() - 1);
                self.paths.len() - 1
            }
        };
        self.path_cache[slot] = i as u32 + 1;
        i
    }

    pub fn link_type_counts(&self) -> Vec<LinkTypeCount> {
        let mut sorted = self.link_types.clone();
        sorted.sort_unstable();
        sorted
            .iter()
            .map(|&(lt, n)| LinkTypeCount {
                link_type: lt,
                name: link::link_type_name(lt).to_string(),
                decoded: link::is_decoded(lt),
                frames: n,
            })
            .collect()
    }

    /// The timestamps of the first and the last timed frame, in capture order.
    pub(crate) fn ts_in_order(&self) -> (Option<i64>, Option<i64>) {
        (self.first_in_order, self.prev_ts)
    }

    /// Frames per link type, by link type.
    pub(crate) fn link_type_frames(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.link_types.iter().copied()
    }

    /// Every protocol path (its names) with its frames and bytes.
    pub(crate) fn path_counts(&self) -> Vec<(Vec<&'static str>, u64, u64)> {
        self.paths
            .iter()
            .map(|p| (p.names.iter().copied().collect(), p.frames, p.bytes))
            .collect()
    }

    /// The timeline's origin, bucket width (ns) and buckets.
    pub(crate) fn timeline_parts(&self) -> (Option<i64>, i64, &[(u64, u64)]) {
        let t = &self.timeline;
        (t.origin, t.width, &t.buckets)
    }

    pub fn protocol_hierarchy(&self) -> Vec<ProtocolNode> {
        protocol_hierarchy(
            self.paths
                .iter()
                .map(|p| (p.names.iter().copied(), p.frames, p.bytes)),
        )
    }

    /// The traffic-over-time series and its bucket width in seconds.
    pub fn timeline(&self) -> (f64, Vec<TimelineBucket>) {
        let Some(origin) = self.timeline.origin else {
            return (0.0, Vec::new());
        };
        let w = self.timeline.width;
        let rows = self
            .timeline
            .buckets
            .iter()
            .enumerate()
            .map(|(i, &(packets, bytes))| TimelineBucket {
                t: crate::time::ts_secs(origin + i as i64 * w),
                packets,
                bytes,
            })
            .collect();
        (w as f64 / 1e9, rows)
    }
}

impl FlowStats {
    pub fn new(top_n: usize) -> Self {
        FlowStats {
            talkers: FxHashMap::default(),
            top_flows: BinaryHeap::new(),
            top_flow_rows: BTreeMap::new(),
            top_n,
            flows: 0,
            by_transport: NameCounts::default(),
            by_state: NameCounts::default(),
            by_service: NameCounts::default(),
        }
    }

    /// Flow totals (the counts the flow table keeps are the caller's to add).
    pub fn flow_totals(&self) -> FlowTotals {
        FlowTotals {
            total: self.flows,
            by_transport: self.by_transport.to_map(),
            by_state: self.by_state.to_map(),
            by_service: self.by_service.to_map(),
            ..FlowTotals::default()
        }
    }

    /// Account a finished flow in talkers, conversations and totals.
    pub fn on_flow(
        &mut self,
        flow: &Flow,
        service: ServiceLabel,
        row: impl FnOnce() -> ConversationSummary,
    ) {
        self.flows += 1;
        self.by_transport.bump(transport_name(flow.proto));
        self.by_state.bump(flow.conn_state());
        self.by_service
            .bump(flow.service.map_or("unknown", |s| s.name()));

        let [orig, resp] = &flow.dir;
        self.add_talker(flow.orig_addr, orig, resp, service);
        self.add_talker(flow.resp_addr, resp, orig, service);
        if self.talkers.len() > MAX_TALKERS {
            self.fold_talkers();
        }

        let key = (flow.bytes(), Reverse(flow.id));
        if self.top_flows.len() < self.top_n {
            self.top_flows.push(Reverse(key));
            self.top_flow_rows.insert(flow.id, row());
        } else if let Some(Reverse(min)) = self.top_flows.peek() {
            if key > *min {
                let Reverse((_, Reverse(old_id))) = self.top_flows.pop().expect("non-empty");
                self.top_flow_rows.remove(&old_id);
                self.top_flows.push(Reverse(key));
                self.top_flow_rows.insert(flow.id, row());
            }
        }
    }

    fn add_talker(
        &mut self,
        addr: IpAddr,
        sent: &DirStats,
        recv: &DirStats,
        service: ServiceLabel,
    ) {
        let acc = self.talkers.entry(TalkerKey(addr)).or_default();
        acc.bytes_sent += sent.bytes;
        acc.bytes_received += recv.bytes;
        acc.packets_sent += sent.packets;
        acc.packets_received += recv.packets;
        acc.flows += 1;
        acc.by_service.add(service, sent.bytes + recv.bytes);
    }

    fn fold_talkers(&mut self) {
        let mut all: Vec<(u64, IpAddr)> = self
            .talkers
            .iter()
            .map(|(a, t)| (t.bytes_sent + t.bytes_received, a.0))
            .collect();
        all.sort_unstable();
        for (_, a) in all.into_iter().take(MAX_TALKERS / 2) {
            self.talkers.remove(&TalkerKey(a));
        }
    }

    pub fn top_talkers(&self) -> Vec<Talker> {
        let mut v: Vec<(&IpAddr, &TalkerAcc)> =
            self.talkers.iter().map(|(a, t)| (&a.0, t)).collect();
        v.sort_by(|a, b| {
            (b.1.bytes_sent + b.1.bytes_received)
                .cmp(&(a.1.bytes_sent + a.1.bytes_received))
                .then(a.0.cmp(b.0))
        });
        v.into_iter()
            .take(self.top_n)
            .map(|(a, t)| {
                // Most bytes; a tie goes to the name that sorts first.
                let main = t
                    .by_service
                    .iter()
                    .max_by(|x, y| {
                        x.1.cmp(y.1)
                            .then_with(|| y.0.to_string().cmp(&x.0.to_string()))
                    })
                    .map(|(s, _)| s.to_string())
                    .unwrap_or_default();
                Talker {
                    addr: a.to_string(),
                    bytes_sent: t.bytes_sent,
                    bytes_received: t.bytes_received,
                    packets_sent: t.packets_sent,
                    packets_received: t.packets_received,
                    flows: t.flows,
                    main_service: main,
                }
            })
            .collect()
    }

    pub fn top_conversations(&self) -> Vec<ConversationSummary> {
        let mut v: Vec<ConversationSummary> = self.top_flow_rows.values().cloned().collect();
        v.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.flow_id.cmp(&b.flow_id)));
        v
    }
}

// Where report sections name transports too (detectors, anomaly), they use
// `decode::transport_name` directly: `stats` sits above the report.
pub use crate::decode::transport_name;

/// Service label for a flow: the identified protocol, else a well-known port
/// name, else "<transport>/<port>".
pub fn service_label(flow: &Flow) -> ServiceLabel {
    use crate::decode::AppProto;
    if let Some(s) = flow.service {
        return ServiceLabel::App(s);
    }
    if flow.proto != 6 && flow.proto != 17 {
        // One label per name: every other transport is "other".
        let canonical = match flow.proto {
            1 | 58 | 132 => flow.proto,
            _ => 0,
        };
        return ServiceLabel::Transport(canonical);
    }
    let p = flow.resp_port;
    let known = match (flow.proto, p) {
        (6, 80) | (6, 8080) => AppProto::Http,
        (6, 443) | (6, 8443) => AppProto::Tls,
        (17, 443) => AppProto::Quic,
        (_, 53) => AppProto::Dns,
        (6, 22) => AppProto::Ssh,
        (6, 25) | (6, 587) => AppProto::Smtp,
        (6, 21) => AppProto::Ftp,
        (17, 123) => AppProto::Ntp,
        (17, 67) | (17, 68) => AppProto::Dhcp,
        _ => return ServiceLabel::Port(flow.proto, p),
    };
    ServiceLabel::App(known)
}

/// A flow's service as the talkers and conversations name it: a protocol
/// (identified, or guessed from a well-known port), a transport, or the
/// transport and responder port ("tcp/8081") of an unknown one. Four bytes,
/// unformatted (no allocation per flow); `Display` gives the name, and two
/// labels are equal exactly when their names are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceLabel {
    App(crate::decode::AppProto),
    /// An IP protocol number (0 for any without a name of its own).
    Transport(u8),
    Port(u8, u16),
}

impl std::fmt::Display for ServiceLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ServiceLabel::App(a) => f.write_str(a.name()),
            ServiceLabel::Transport(p) => f.write_str(transport_name(p)),
            ServiceLabel::Port(p, port) => write!(f, "{}/{port}", transport_name(p)),
        }
    }
}

/// The protocol hierarchy of protocol paths with their frames and bytes
/// (the order of the paths does not matter).
pub(crate) fn protocol_hierarchy<'a, N: IntoIterator<Item = &'a str>>(
    paths: impl IntoIterator<Item = (N, u64, u64)>,
) -> Vec<ProtocolNode> {
    struct PhsNode<'a> {
        name: &'a str,
        frames: u64,
        bytes: u64,
        children: Vec<usize>,
    }
    // Sum every path into the tree of its prefixes (nodes matched by name).
    let mut nodes = vec![PhsNode {
        name: "",
        frames: 0,
        bytes: 0,
        children: Vec::new(),
    }];
    for (names, frames, bytes) in paths {
        let mut node = 0;
        for name in names {
            let found = nodes[node]
                .children
                .iter()
                .copied()
                .find(|&c| nodes[c].name == name);
            let child = found.unwrap_or_else(|| {
                nodes.push(PhsNode {
                    name,
                    frames: 0,
                    bytes: 0,
                    children: Vec::new(),
                });
                let c = nodes.len() - 1;
                nodes[node].children.push(c);
                c
            });
            nodes[child].frames += frames;
            nodes[child].bytes += bytes;
            node = child;
        }
    }
    let mut out = Vec::new();
    fn walk(nodes: &[PhsNode<'_>], i: usize, depth: u32, out: &mut Vec<ProtocolNode>) {
        let mut kids = nodes[i].children.clone();
        // Busiest first, then by name, as a stable order.
        kids.sort_by(|&a, &b| {
            nodes[b]
                .frames
                .cmp(&nodes[a].frames)
                .then(nodes[a].name.cmp(nodes[b].name))
        });
        for c in kids {
            out.push(ProtocolNode {
                depth,
                protocol: nodes[c].name.to_string(),
                frames: nodes[c].frames,
                bytes: nodes[c].bytes,
            });
            walk(nodes, c, depth + 1, out);
        }
    }
    walk(&nodes, 0, 0, &mut out);
    out
}

#[cfg(test)]
mod timeline_tests {
    use super::Timeline;

    #[test]
    fn widens_and_keeps_every_packet() {
        let mut t = Timeline::default();
        let start = 1_700_000_000_500_000_000i64;
        for s in 0..3000i64 {
            t.add(start + s * 1_000_000_000, 10);
        }
        assert!(t.buckets.len() <= super::MAX_TIMELINE_BUCKETS);
        assert_eq!(t.width, 8_000_000_000);
        assert_eq!(t.buckets.iter().map(|b| b.0).sum::<u64>(), 3000);
        assert_eq!(t.buckets.iter().map(|b| b.1).sum::<u64>(), 30_000);
        assert_eq!(t.origin.unwrap() % t.width, 0);
    }
}
