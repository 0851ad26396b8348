//! Bidirectional flows: canonical keys, Community ID, per-direction counters,
//! Zeek-style state, service, and a bounded table with idle timeout and eviction.
//!
//! Time comes only from packet timestamps. Memory is bounded by the number of
//! live flows ([`FlowConfig::max_flows`]); flows that end, time out or are
//! evicted are handed back to the caller through [`FlowTable::drain_finished`]
//! so they still count in every total.

pub mod community_id;
pub mod features;
pub mod tcp_analysis;
pub mod zeek;

use crate::decode::{tcp_flags, AppProto, IpLayer, Reassembly, Transport};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

pub use community_id::{community_id_v1, community_id_v1_inline, CommunityId, CommunityIdSource};

/// Feed `bytes` to `f` as little-endian words of eight bytes (the last one
/// zero-padded): how both of this module's hashers take byte strings.
#[inline]
fn for_each_word(bytes: &[u8], mut f: impl FnMut(u64)) {
    for chunk in bytes.chunks(8) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        f(u64::from_le_bytes(b));
    }
}

/// Fast, deterministic hasher for flow keys (FxHash); keys are not attacker
/// controlled in a way that matters here, and iteration order is never output.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for_each_word(bytes, |w| self.write_u64(w));
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.hash = (self.hash.rotate_left(5) ^ i).wrapping_mul(FX_SEED);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = HashMap<K, V, FxBuild>;

/// Canonical, direction-free flow key: the lower (address, port) endpoint first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    pub proto: u8,
    pub a: IpAddr,
    pub pa: u16,
    pub b: IpAddr,
    pub pb: u16,
}

fn addr_word(a: &IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from_be_bytes(v.octets()) as u128,
        IpAddr::V6(v) => u128::from_be_bytes(v.octets()) ^ (1u128 << 127),
    }
}

// Hashing three words instead of the enum-and-slice walk of the derive:
// the flow lookup is the hottest path of the analysis.
impl std::hash::Hash for FlowKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let a = addr_word(&self.a);
        let b = addr_word(&self.b);
        state.write_u64((a as u64) ^ ((a >> 64) as u64).rotate_left(17));
        state.write_u64((b as u64) ^ ((b >> 64) as u64).rotate_left(17));
        state.write_u64(((self.proto as u64) << 32) | ((self.pa as u64) << 16) | self.pb as u64);
    }
}

impl FlowKey {
    /// Key and whether (src, sport) is the `a` side.
    pub fn new(proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> (FlowKey, bool) {
        if (src, sport) <= (dst, dport) {
            (
                FlowKey {
                    proto,
                    a: src,
                    pa: sport,
                    b: dst,
                    pb: dport,
                },
                true,
            )
        } else {
            (
                FlowKey {
                    proto,
                    a: dst,
                    pa: dport,
                    b: src,
                    pb: sport,
                },
                false,
            )
        }
    }
}

/// An address as one integer (IPv4 in the low 32 bits) and whether it is IPv6.
#[inline]
fn addr_bits(a: &IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u32::from_be_bytes(v.octets()) as u128),
        IpAddr::V6(v) => (true, u128::from_be_bytes(v.octets())),
    }
}

/// The flow map's key: a canonical [`FlowKey`] as plain integers, so that
/// ordering the endpoints, hashing and comparing keys take a few instructions
/// each (an `IpAddr` is an enum, compared variant first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TableKey {
    a: u128,
    b: u128,
    /// proto << 40 | a is IPv6 << 33 | b is IPv6 << 32 | pa << 16 | pb.
    meta: u64,
}

impl TableKey {
    /// The key of a packet from (src, sport) to (dst, dport), and whether
    /// (src, sport) is the `a` side: the lower endpoint, as [`FlowKey::new`] orders them.
    #[inline]
    fn new(proto: u8, src: &IpAddr, sport: u16, dst: &IpAddr, dport: u16) -> (TableKey, bool) {
        if let (IpAddr::V4(s4), IpAddr::V4(d4)) = (src, dst) {
            // The bulk of traffic: each endpoint is one 48-bit number.
            let s = (u32::from(*s4) as u64) << 16 | sport as u64;
            let d = (u32::from(*d4) as u64) << 16 | dport as u64;
            let src_is_a = s <= d;
            let (lo, hi) = if src_is_a { (s, d) } else { (d, s) };
            let meta = (proto as u64) << 40 | (lo & 0xffff) << 16 | (hi & 0xffff);
            let key = TableKey {
                a: (lo >> 16) as u128,
                b: (hi >> 16) as u128,
                meta,
            };
            return (key, src_is_a);
        }
        let s = addr_bits(src);
        let d = addr_bits(dst);
        let src_is_a = (s.0, s.1, sport) <= (d.0, d.1, dport);
        let ((a6, a, pa), (b6, b, pb)) = if src_is_a {
            ((s.0, s.1, sport), (d.0, d.1, dport))
        } else {
            ((d.0, d.1, dport), (s.0, s.1, sport))
        };
        let meta = (proto as u64) << 40
            | (a6 as u64) << 33
            | (b6 as u64) << 32
            | (pa as u64) << 16
            | pb as u64;
        (TableKey { a, b, meta }, src_is_a)
    }

    /// The key in 16 bytes, for the set of departed keys: exact for two IPv4
    /// endpoints (112 bits); for IPv6 a fixed 127-bit hash with the top bit
    /// set, so it never equals an IPv4 key (a collision of two IPv6 keys
    /// would count a returning tuple's conversation once too few).
    fn packed(&self) -> u128 {
        let v6 = (self.meta >> 32) & 3 != 0;
        if !v6 {
            return self.a << 80 | self.b << 48 | self.meta as u128;
        }
        let word = |x: u128, k: u64| folded_multiply((x as u64) ^ k, ((x >> 64) as u64) ^ !k);
        let (k1, k2) = (0x9E37_79B9_7F4A_7C15u64, 0xC2B2_AE3D_27D4_EB4Fu64);
        let h1 = folded_multiply(word(self.a, k1) ^ self.meta, word(self.b, k2) | 1);
        let h2 = folded_multiply(
            word(self.b, k1) ^ self.meta.rotate_left(29),
            word(self.a, k2) | 1,
        );
        1u128 << 127 | ((h1 as u128) << 64 | h2 as u128) >> 1
    }

    /// Both sides are the same address and port.
    fn same_endpoints(&self) -> bool {
        let m = self.meta;
        self.a == self.b && (m >> 33) & 1 == (m >> 32) & 1 && (m >> 16) & 0xffff == m & 0xffff
    }

    fn of(k: &FlowKey) -> TableKey {
        TableKey::new(k.proto, &k.a, k.pa, &k.b, k.pb).0
    }

    /// Sorts as the [`FlowKey`] it stands for.
    fn order(&self) -> (u64, u64, u128, u64, u64, u128, u64) {
        let m = self.meta;
        let (proto, a6, pa, b6, pb) = (
            m >> 40,
            (m >> 33) & 1,
            (m >> 16) & 0xffff,
            (m >> 32) & 1,
            m & 0xffff,
        );
        (proto, a6, self.a, pa, b6, self.b, pb)
    }

    /// One number that never sorts against [`Self::order`]: the whole key
    /// for two IPv4 endpoints, a prefix of it otherwise (ties then fall to
    /// `order`). Sorting by it first compares most keys in one step.
    fn sort_prefix(&self) -> u128 {
        let m = self.meta as u128;
        let (proto, a6, pa, b6, pb) = (
            m >> 40,
            (m >> 33) & 1,
            (m >> 16) & 0xffff,
            (m >> 32) & 1,
            m & 0xffff,
        );
        let rest = if a6 == 1 {
            self.a >> 9
        } else {
            // a is below 2^32 here.
            let b = if b6 == 0 { self.b << 16 | pb } else { 0 };
            self.a << 72 | pa << 56 | b6 << 55 | b
        };
        proto << 120 | a6 << 119 | rest
    }
}

impl std::hash::Hash for TableKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(self.a);
        state.write_u128(self.b);
        state.write_u64(self.meta);
    }
}

/// Builds the flow map's hasher: a multiply-and-fold hash (as foldhash's)
/// keyed with a random seed per table. The keys are addresses and ports an
/// attacker chooses, so a fixed hash would let a crafted capture collide
/// every flow into one probe chain; nothing in the output depends on the
/// map's order, so the seed changes no result.
#[derive(Clone, Debug)]
struct SeededState {
    seed: [u64; 3],
}

impl SeededState {
    fn new() -> Self {
        use std::hash::BuildHasher;
        let rs = std::collections::hash_map::RandomState::new();
        SeededState {
            seed: [
                rs.hash_one(1u64) | 1,
                rs.hash_one(2u64) | 1,
                rs.hash_one(3u64) | 1,
            ],
        }
    }
}

impl std::hash::BuildHasher for SeededState {
    type Hasher = SeededHasher;
    #[inline]
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher {
            seed: self.seed,
            hash: self.seed[2],
        }
    }
}

struct SeededHasher {
    seed: [u64; 3],
    hash: u64,
}

/// The 128-bit product of two words folded to 64 bits.
#[inline]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let p = (x as u128) * (y as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for SeededHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for_each_word(bytes, |w| self.write_u64(w));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.hash = folded_multiply(self.hash ^ i, self.seed[0]);
    }
    #[inline]
    fn write_u128(&mut self, i: u128) {
        let lo = (i as u64) ^ self.seed[0];
        let hi = ((i >> 64) as u64) ^ self.seed[1] ^ self.hash;
        self.hash = folded_multiply(lo, hi);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Counters for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirStats {
    pub packets: u64,
    /// Frame bytes on the wire (as tshark's conversation table).
    pub bytes: u64,
    /// IP bytes (header + payload), as Zeek's `*_ip_bytes`.
    pub ip_bytes: u64,
    /// Transport payload bytes.
    pub payload_bytes: u64,
}

/// Tunables of the flow table.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowConfig {
    /// A flow with no packet for this long (capture time) is finished.
    pub idle_timeout_secs: u64,
    /// Most live flows; beyond it the longest-idle flows are evicted.
    pub max_flows: usize,
    /// A TCP flow that was closed (a reset, or a FIN each way) ends after
    /// this many seconds without a packet, rather than the idle timeout;
    /// 0: closed flows wait for the idle timeout like the rest (files). Live
    /// capture uses a few seconds, so what a closed flow shows (a scan's
    /// refused probes) is decided soon after.
    pub closed_timeout_secs: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            idle_timeout_secs: 600,
            max_flows: 200_000,
            closed_timeout_secs: 0,
        }
    }
}

/// Why a flow left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Still open when the capture ended.
    CaptureEnd,
    IdleTimeout,
    /// Evicted to stay under `max_flows`.
    Evicted,
    /// Closed (reset, or FIN each way) and quiet for `closed_timeout_secs`.
    Closed,
    /// A new connection reused the same ports: a SYN with a new initial
    /// sequence number (Wireshark's rule: a new conversation).
    PortReuse,
    /// A SYN after a FIN or a reset, with the same initial sequence number (a
    /// client retrying a refused connect): Zeek's next connection on the tuple,
    /// a new flow; tshark's conversation and its TCP analysis go on in it.
    Reopened,
}

/// What only a TCP flow carries.
#[derive(Clone, Debug)]
pub struct TcpState {
    /// Wireshark-style sequence analysis.
    pub analysis: tcp_analysis::TcpAnalysis,
    /// Zeek's connection state and history.
    pub zeek: zeek::ZeekConn,
}

impl TcpState {
    fn new(analysis: tcp_analysis::TcpAnalysis, flipped: bool) -> Box<TcpState> {
        Box::new(TcpState {
            analysis,
            zeek: zeek::ZeekConn::new(flipped),
        })
    }
}

/// One bidirectional flow.
#[derive(Clone, Debug)]
pub struct Flow {
    /// Creation order (0-based); makes every output order deterministic.
    pub id: u64,
    /// The id of the first flow of this tshark conversation: `id`, unless
    /// the flow continues one that Zeek's boundary ended ([`EndReason::Reopened`]).
    pub conversation: u64,
    pub proto: u8,
    pub orig_addr: IpAddr,
    pub orig_port: u16,
    pub resp_addr: IpAddr,
    pub resp_port: u16,
    /// The originator is the canonical key's `a` side: a packet's direction
    /// then follows from its key alone, without comparing addresses.
    orig_is_a: bool,
    pub first_ts: i64,
    pub last_ts: i64,
    pub first_frame: u64,
    pub last_frame: u64,
    /// [originator → responder, responder → originator].
    pub dir: [DirStats; 2],
    /// OR of TCP flags per direction.
    pub tcp_flags: [u8; 2],
    /// Zeek flipped the roles: the originator received the first packet.
    flipped: bool,
    pub service: Option<AppProto>,
    /// ICMP type/code of the first message (for ICMP flows).
    pub icmp: Option<(u8, u8)>,
    pub vlan: Option<u16>,
    /// First sequence number seen from each side (Wireshark's base_seq).
    pub base_seq: [Option<u32>; 2],
    pub end_reason: EndReason,
    /// Community ID v1 (seed 0), computed when first asked for: most flows of
    /// a big capture are only counted and never need one.
    community_id: std::cell::OnceCell<CommunityId>,
    /// TCP's sequence analysis and Zeek state (TCP flows only: one
    /// allocation for them, and other flows stay small).
    pub tcp: Option<Box<TcpState>>,
    /// Running statistics for anomaly scoring (updated by the analyzer when enabled).
    pub anomaly: features::FlowAcc,
}

impl Flow {
    /// The canonical key of this flow.
    pub fn key(&self) -> FlowKey {
        FlowKey::new(
            self.proto,
            self.orig_addr,
            self.orig_port,
            self.resp_addr,
            self.resp_port,
        )
        .0
    }

    /// Community ID v1 (seed 0) of this flow.
    pub fn community_id(&self) -> &str {
        self.community_id_ref().as_str()
    }

    /// What the Community ID is computed from, for state that outlives this
    /// borrow and needs the ID only when it is reported.
    pub fn community_id_source(&self) -> CommunityIdSource {
        community_id_source_of(
            self.proto,
            self.orig_addr,
            self.orig_port,
            self.resp_addr,
            self.resp_port,
            self.icmp,
        )
    }

    /// The flow as the per-packet detectors see it.
    pub fn view(&self) -> FlowView {
        FlowView {
            id: self.id,
            conversation: self.conversation,
            proto: self.proto,
            service: self.service,
            orig: self.orig_addr,
            orig_port: self.orig_port,
            resp: self.resp_addr,
            resp_port: self.resp_port,
            icmp: self.icmp,
        }
    }

    fn community_id_ref(&self) -> &CommunityId {
        self.community_id
            .get_or_init(|| self.community_id_source().id())
    }

    pub fn packets(&self) -> u64 {
        self.dir[0].packets + self.dir[1].packets
    }

    pub fn bytes(&self) -> u64 {
        self.dir[0].bytes + self.dir[1].bytes
    }

    /// Zeek's conn_state.
    /// A TCP flow that a reset or a FIN each way closed.
    pub fn is_closed(&self) -> bool {
        use crate::decode::tcp_flags::{FIN, RST};
        self.proto == 6
            && ((self.tcp_flags[0] | self.tcp_flags[1]) & RST != 0
                || (self.tcp_flags[0] & self.tcp_flags[1]) & FIN != 0)
    }

    pub fn conn_state(&self) -> &'static str {
        if self.proto == 6 {
            match &self.tcp {
                Some(t) => t.zeek.tcp_conn_state(),
                // A TCP flow of fragments or headers too short to read.
                None => zeek::ZeekConn::new(self.flipped).tcp_conn_state(),
            }
        } else {
            zeek::connless_conn_state(self.proto, self.dir[0].packets > 0, self.dir[1].packets > 0)
        }
    }

    /// Zeek's history string.
    pub fn history(&self) -> String {
        match self.proto {
            6 => match &self.tcp {
                Some(t) => t.zeek.history().to_string(),
                None => zeek::ZeekConn::new(self.flipped).history().to_string(),
            },
            // Zeek marks each side of a UDP flow that sent a datagram; other
            // transports have no history.
            17 => zeek::connless_history(
                self.dir[0].packets > 0,
                self.dir[1].packets > 0,
                self.flipped,
            ),
            _ => String::new(),
        }
    }
}

/// What the per-packet detectors may read of a packet's flow, copied when the
/// packet was accounted: on two cores the flow table stays with the first
/// stage while the detectors run on the second.
#[derive(Clone, Copy, Debug)]
pub struct FlowView {
    pub id: u64,
    /// See [`Flow::conversation`].
    pub conversation: u64,
    pub proto: u8,
    pub service: Option<AppProto>,
    orig: IpAddr,
    orig_port: u16,
    resp: IpAddr,
    resp_port: u16,
    icmp: Option<(u8, u8)>,
}

impl FlowView {
    /// The canonical key of the flow (computed on each call: few packets need it).
    pub fn key(&self) -> FlowKey {
        FlowKey::new(
            self.proto,
            self.orig,
            self.orig_port,
            self.resp,
            self.resp_port,
        )
        .0
    }

    /// What the flow's Community ID is computed from (see [`CommunityIdSource`]);
    /// the same as [`Flow::community_id_source`].
    pub fn community_id_source(&self) -> CommunityIdSource {
        community_id_source_of(
            self.proto,
            self.orig,
            self.orig_port,
            self.resp,
            self.resp_port,
            self.icmp,
        )
    }

    /// The flow's Community ID v1 (seed 0), computed on each call: callers
    /// ask only for the instances they list.
    pub fn community_id(&self) -> CommunityId {
        self.community_id_source().id()
    }
}

/// The Community ID input of a flow with these endpoints (ports for TCP, UDP
/// and SCTP; type and code of the first message for ICMP).
fn community_id_source_of(
    proto: u8,
    orig: IpAddr,
    orig_port: u16,
    resp: IpAddr,
    resp_port: u16,
    icmp: Option<(u8, u8)>,
) -> CommunityIdSource {
    let ports = match proto {
        6 | 17 | 132 => Some((orig_port, resp_port)),
        1 | 58 => icmp.map(|(t, c)| (t as u16, c as u16)),
        _ => None,
    };
    CommunityIdSource {
        src: orig,
        dst: resp,
        proto,
        ports,
    }
}

/// Result of accounting one packet to its flow.
#[derive(Clone, Copy, Debug)]
pub struct Placement {
    /// The packet travels originator → responder.
    pub from_orig: bool,
    /// The packet created the flow.
    pub new_flow: bool,
    /// Wireshark's TCP analysis flags for this packet (empty for non-TCP).
    pub tcp: tcp_analysis::TcpPacketAnalysis,
}

/// What one IP layer contributes to flow keying.
#[derive(Clone, Copy, Debug)]
pub struct FlowInput {
    pub proto: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// Bytes of the frame cut by the snap length (orig_len - cap_len): an IP
    /// length beyond the frame is trusted only this far, as tshark does.
    pub snapped_bytes: u32,
}

impl FlowInput {
    /// Flow identity for an IP layer: ports for TCP/UDP, echo id or type for ICMP.
    pub fn from_layer(l: &IpLayer<'_>) -> Option<FlowInput> {
        let (sport, dport) = match &l.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port),
            Transport::Udp(u) => (u.src_port, u.dst_port),
            Transport::Icmp(i) => {
                if i.is_error() {
                    // Errors belong to the flow they report on, not to a flow of their own.
                    return None;
                }
                let id = i.echo_id().unwrap_or(0);
                (id, id)
            }
            // Ports unknown: keying it by (0, 0) would invent a flow.
            Transport::Truncated => return None,
            Transport::Other { .. } => {
                // A later fragment, or one queued for reassembly, is in no flow.
                if l.fragment.is_some_and(|f| {
                    f.offset > 0 && f.reassembly != Reassembly::Completed
                        || f.reassembly == Reassembly::Held
                }) {
                    return None;
                }
                (0, 0)
            }
        };
        Some(FlowInput {
            proto: l.proto,
            src: l.src,
            dst: l.dst,
            sport,
            dport,
            snapped_bytes: 0,
        })
    }
}

/// The window-scale option of a segment. Most segments after the handshake
/// carry exactly NOP, NOP, timestamps (or nothing), which need no option walk.
#[inline]
fn window_scale(t: &crate::decode::Tcp<'_>) -> Option<u8> {
    let o = t.options;
    if o.is_empty() || (o.len() == 12 && o[..4] == [1, 1, 8, 10]) {
        return None;
    }
    t.window_scale()
}

/// The bounded flow table.
#[derive(Clone, Debug)]
pub struct FlowTable {
    cfg: FlowConfig,
    /// Key → slot in `slots`. The map holds small entries, so growing or
    /// cleaning it moves no flow; a flow stays in its slot while live.
    map: HashMap<TableKey, u32, SeededState>,
    /// Live flows (with their keys); `None` marks a free slot, listed in `free`.
    slots: Vec<Option<(TableKey, Flow)>>,
    free: Vec<u32>,
    next_id: u64,
    next_sweep_ts: Option<i64>,
    finished: Vec<Flow>,
    pub evicted: u64,
    pub timed_out: u64,
    /// Flows ended by `closed_timeout_secs`.
    pub closed: u64,
    pub peak_live: usize,
    /// Conversations as tshark counts them (a tuple's flows split by idle
    /// timeout or eviction are one conversation; a reused-port connection is a new one).
    pub conversations: std::collections::BTreeMap<u8, u64>,
    /// Keys of flows that left the table early, to recognise their return.
    /// Packed ([`TableKey::packed`]): 16 bytes a key rather than 48.
    departed: std::collections::HashSet<u128, SeededState>,
}

/// Most departed keys remembered for conversation counting (bounds memory;
/// beyond it a returning tuple may count as a new conversation).
const MAX_DEPARTED: usize = 1 << 20;

impl FlowTable {
    pub fn new(cfg: FlowConfig) -> Self {
        let state = SeededState::new();
        FlowTable {
            cfg,
            map: HashMap::with_hasher(state.clone()),
            slots: Vec::new(),
            free: Vec::new(),
            next_id: 0,
            next_sweep_ts: None,
            finished: Vec::new(),
            evicted: 0,
            timed_out: 0,
            closed: 0,
            peak_live: 0,
            conversations: Default::default(),
            departed: std::collections::HashSet::with_hasher(state),
        }
    }

    /// A live flow by key.
    pub fn get(&self, key: &FlowKey) -> Option<&Flow> {
        let slot = *self.map.get(&TableKey::of(key))?;
        self.slots[slot as usize].as_ref().map(|(_, f)| f)
    }

    /// Take the flow of `key` out of the table.
    fn remove(&mut self, key: &TableKey) -> Option<Flow> {
        let slot = self.map.remove(key)?;
        self.free.push(slot);
        self.slots[slot as usize].take().map(|(_, f)| f)
    }

    pub fn live(&self) -> usize {
        self.map.len()
    }

    /// Flows created so far (live and finished).
    pub fn created(&self) -> u64 {
        self.next_id
    }

    /// Account one packet; returns the flow and the packet's direction.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        input: FlowInput,
        layer: &IpLayer<'_>,
        ts: i64,
        frame: u64,
        wire_len: u32,
        app: Option<AppProto>,
        vlan: Option<u16>,
    ) -> (&mut Flow, Placement) {
        self.maybe_sweep(ts);
        let (tkey, src_is_a) = TableKey::new(
            input.proto,
            &input.src,
            input.sport,
            &input.dst,
            input.dport,
        );
        let tcp = match &layer.transport {
            Transport::Tcp(t) => Some(*t),
            _ => None,
        };

        // Port reuse: a new SYN whose sequence number differs from the side's
        // base sequence number starts a new connection (Wireshark's tcp.stream rule).
        let mut reused = false;
        // Zeek's connection ended here but tshark's conversation goes on: the
        // new flow continues the old one's TCP analysis and is no new conversation.
        let mut continued: Option<(u64, tcp_analysis::TcpAnalysis)> = None;
        let pure_syn =
            tcp.is_some_and(|t| t.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN);
        // Only pure SYNs can start a new connection: other packets skip this
        // lookup (a tuple would evaluate both sides, so the SYN test comes first).
        if let Some(t) = tcp.filter(|_| pure_syn) {
            let existing = self
                .map
                .get(&tkey)
                .and_then(|&slot| self.slots[slot as usize].as_ref())
                .map(|(_, f)| f);
            if let Some(existing) = existing {
                let from_orig =
                    existing.orig_addr == input.src && existing.orig_port == input.sport;
                let side = if from_orig { 0 } else { 1 };
                let base = existing
                    .tcp
                    .as_ref()
                    .and_then(|t| t.analysis.dir[side].base_seq());
                // Zeek (`IsReuse`): a SYN once either side sent a FIN or a
                // reset opens a new connection, even with the same ISN (a
                // client retrying a refused connect); tshark keeps one stream.
                let zeek_closed = (existing.tcp_flags[0] | existing.tcp_flags[1])
                    & (tcp_flags::FIN | tcp_flags::RST)
                    != 0;
                let new_isn = base.is_some_and(|s| s != t.seq);
                if new_isn || zeek_closed {
                    let mut old = self.remove(&tkey).expect("present");
                    if new_isn {
                        old.end_reason = EndReason::PortReuse;
                        self.departed.remove(&tkey.packed());
                        reused = true;
                    } else {
                        old.end_reason = EndReason::Reopened;
                        let analysis = old.tcp.as_ref().map(|t| t.analysis.clone());
                        continued = Some((old.conversation, analysis.unwrap_or_default()));
                    }
                    self.finished.push(old);
                }
            }
        }

        if self.map.len() >= self.cfg.max_flows && !self.map.contains_key(&tkey) {
            self.evict_oldest();
        }
        let live_before = self.map.len();
        let mut new_flow = false;
        // One hash lookup for the common case of a packet of a known flow.
        let slot = match self.map.entry(tkey) {
            std::collections::hash_map::Entry::Occupied(o) => *o.get(),
            std::collections::hash_map::Entry::Vacant(v) => {
                new_flow = true;
                if continued.is_none() && !self.departed.contains(&tkey.packed()) {
                    *self.conversations.entry(input.proto).or_insert(0) += 1;
                }
                self.peak_live = self.peak_live.max(live_before + 1);
                let id = self.next_id;
                self.next_id += 1;
                let flipped = zeek::flip_roles(&layer.transport);
                let (oa, op, ra, rp) = if flipped {
                    (input.dst, input.dport, input.src, input.sport)
                } else {
                    (input.src, input.sport, input.dst, input.dport)
                };
                let conversation = continued.as_ref().map_or(id, |c| c.0);
                let flow = Flow {
                    id,
                    conversation,
                    proto: input.proto,
                    orig_addr: oa,
                    orig_port: op,
                    resp_addr: ra,
                    resp_port: rp,
                    orig_is_a: src_is_a != flipped,
                    first_ts: ts,
                    last_ts: ts,
                    first_frame: frame,
                    last_frame: frame,
                    dir: [DirStats::default(); 2],
                    tcp_flags: [0; 2],
                    flipped,
                    service: None,
                    icmp: None,
                    vlan,
                    base_seq: [None; 2],
                    end_reason: EndReason::CaptureEnd,
                    community_id: Default::default(),
                    tcp: match continued.take() {
                        Some((_, analysis)) => Some(TcpState::new(analysis, flipped)),
                        None => tcp.map(|_| TcpState::new(Default::default(), flipped)),
                    },
                    anomaly: Default::default(),
                };
                // A free slot (fields apart from the map: the entry holds it).
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.slots[slot as usize] = Some((tkey, flow));
                        slot
                    }
                    None => {
                        self.slots.push(Some((tkey, flow)));
                        (self.slots.len() - 1) as u32
                    }
                };
                v.insert(slot);
                slot
            }
        };
        let flow = &mut self.slots[slot as usize].as_mut().expect("live slot").1;
        let from_orig = if tkey.same_endpoints() {
            // Same address and port on both sides (e.g. ICMP echo to self): first sender is orig.
            new_flow || flow.dir[0].packets > 0
        } else {
            src_is_a == flow.orig_is_a
        };
        let d = if from_orig { 0 } else { 1 };
        flow.last_ts = flow.last_ts.max(ts);
        flow.last_frame = frame;
        let mut tcp_result = tcp_analysis::TcpPacketAnalysis::default();
        let st = &mut flow.dir[d];
        st.packets += 1;
        st.bytes += wire_len as u64;
        st.ip_bytes += layer.total_len as u64;
        match &layer.transport {
            Transport::Tcp(t) => {
                st.payload_bytes += t.payload_len as u64;
                flow.tcp_flags[d] |= t.flags;
                if flow.base_seq[d].is_none() {
                    flow.base_seq[d] = Some(t.seq);
                }
                let flipped = flow.flipped;
                let state = flow
                    .tcp
                    .get_or_insert_with(|| TcpState::new(Default::default(), flipped));
                state.zeek.on_tcp(zeek::TcpSegment {
                    is_orig: from_orig,
                    flags: t.flags,
                    seq: t.seq,
                    ack: t.ack,
                    len: t.payload_len,
                    captured: t.payload.len() as u64 >= t.payload_len as u64,
                    window: t.window,
                });
                let seg = tcp_analysis::Segment {
                    seq: t.seq,
                    ack: t.ack,
                    flags: t.flags,
                    window: t.window,
                    // A fragment's TCP length is unknown without reassembly; an
                    // IP length past the end of the frame is clamped to it.
                    seglen: layer
                        .fragment
                        .is_none_or(|f| f.reassembly == Reassembly::Completed)
                        .then_some(
                            t.payload_len
                                .min((t.payload.len() as u32).saturating_add(input.snapped_bytes)),
                        ),
                    wscale: window_scale(t),
                    ts,
                    frame,
                };
                tcp_result = state.analysis.on_segment(d, &seg, reused && new_flow);
            }
            Transport::Udp(u) => st.payload_bytes += u.payload_len as u64,
            Transport::Icmp(i) => {
                st.payload_bytes += i.body.len() as u64;
                if flow.icmp.is_none() {
                    flow.icmp = Some((i.icmp_type, i.code));
                }
            }
            _ => {}
        }
        if flow.service.is_none() {
            flow.service = app;
        }
        let placement = Placement {
            from_orig,
            new_flow,
            tcp: tcp_result,
        };
        (flow, placement)
    }

    #[inline]
    fn maybe_sweep(&mut self, ts: i64) {
        // Most packets come before the next sweep is due.
        if self.next_sweep_ts.is_some_and(|next| ts < next) {
            return;
        }
        self.sweep(ts);
    }

    /// Schedules the first sweep, or finishes the flows idle past the timeout.
    #[inline(never)]
    fn sweep(&mut self, ts: i64) {
        let timeout = self.cfg.idle_timeout_secs as i64 * 1_000_000_000;
        let closed_timeout = self.cfg.closed_timeout_secs as i64 * 1_000_000_000;
        let mut interval = (timeout / 4).max(1_000_000_000);
        if closed_timeout > 0 {
            // Closed flows end within a quarter of their timeout of it.
            interval = interval.min((closed_timeout / 4).max(1_000_000_000));
        }
        match self.next_sweep_ts {
            None => self.next_sweep_ts = Some(ts.saturating_add(interval)),
            Some(next) if ts >= next => {
                self.next_sweep_ts = Some(ts.saturating_add(interval));
                let cutoff = ts.saturating_sub(timeout);
                let closed_cutoff = ts.saturating_sub(closed_timeout);
                let mut expired: Vec<(u128, TableKey)> = self
                    .slots
                    .iter()
                    .flatten()
                    .filter(|(_, f)| {
                        f.last_ts < cutoff
                            || (closed_timeout > 0 && f.last_ts < closed_cutoff && f.is_closed())
                    })
                    .map(|(k, _)| (k.sort_prefix(), *k))
                    .collect();
                expired.sort_unstable_by(|x, y| {
                    x.0.cmp(&y.0).then_with(|| x.1.order().cmp(&y.1.order()))
                });
                for (_, k) in expired {
                    if let Some(mut f) = self.remove(&k) {
                        if f.last_ts < cutoff {
                            f.end_reason = EndReason::IdleTimeout;
                            self.timed_out += 1;
                        } else {
                            f.end_reason = EndReason::Closed;
                            self.closed += 1;
                        }
                        if self.departed.len() < MAX_DEPARTED {
                            self.departed.insert(k.packed());
                        }
                        self.finished.push(f);
                    }
                }
            }
            _ => {}
        }
    }

    /// Evict the longest-idle eighth of the table (amortised: one sort per many inserts).
    fn evict_oldest(&mut self) {
        let n = (self.map.len() / 8).max(1);
        let mut ages: Vec<(i64, u64, TableKey)> = self
            .slots
            .iter()
            .flatten()
            .map(|(k, f)| (f.last_ts, f.id, *k))
            .collect();
        ages.sort_unstable_by_key(|&(ts, id, _)| (ts, id));
        for (_, _, k) in ages.into_iter().take(n) {
            if let Some(mut f) = self.remove(&k) {
                f.end_reason = EndReason::Evicted;
                self.evicted += 1;
                if self.departed.len() < MAX_DEPARTED {
                    self.departed.insert(k.packed());
                }
                self.finished.push(f);
            }
        }
    }

    /// The caller's clock: flows idle past the timeout end if a sweep is due
    /// (the same sweeps a packet at `now` would make).
    pub fn expire(&mut self, now: i64) {
        // Sweeps are scheduled from the first packet on.
        if self.next_sweep_ts.is_some() {
            self.maybe_sweep(now);
        }
    }

    /// When the next sweep of idle flows is due (none before the first packet).
    pub fn next_sweep(&self) -> Option<i64> {
        self.next_sweep_ts
    }

    /// Flows that ended since the last call, in a deterministic order.
    pub fn drain_finished(&mut self) -> std::vec::Drain<'_, Flow> {
        self.finished.drain(..)
    }

    /// Take the finished flows (leaving an empty list, no copy).
    pub fn take_finished(&mut self) -> Vec<Flow> {
        std::mem::take(&mut self.finished)
    }

    /// How many finished flows wait to be taken.
    pub fn finished_len(&self) -> usize {
        self.finished.len()
    }

    /// End of capture: every live flow is finished (in creation order).
    pub fn finish_all(&mut self) {
        let mut finished = std::mem::take(&mut self.finished);
        self.drain_live(|f| finished.push(f));
        self.finished = finished;
    }

    /// End of capture: every live flow leaves the table, handed to `f` one by
    /// one in creation order. Nothing gathers them all first: the flows of a
    /// big table would otherwise be held twice at the very end.
    pub fn drain_live(&mut self, mut f: impl FnMut(Flow)) {
        let mut order: Vec<(u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|(_, f)| (f.id, i as u32)))
            .collect();
        order.sort_unstable();
        self.map.clear();
        self.free.clear();
        for (_, slot) in order {
            if let Some((_, flow)) = self.slots[slot as usize].take() {
                f(flow);
            }
        }
        self.slots = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_keys_order_endpoints_and_sort_as_flow_keys() {
        let addrs: Vec<IpAddr> = [
            "0.0.0.1",
            "10.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let mut keys = Vec::new();
        for (i, &src) in addrs.iter().enumerate() {
            for &dst in &addrs[i..] {
                for (sport, dport) in [(1, 2), (2, 1), (7, 7)] {
                    for proto in [6, 17] {
                        let (fk, fa) = FlowKey::new(proto, src, sport, dst, dport);
                        let (tk, ta) = TableKey::new(proto, &src, sport, &dst, dport);
                        assert_eq!(fa, ta);
                        assert_eq!(tk, TableKey::of(&fk));
                        keys.push((fk, tk));
                    }
                }
            }
        }
        let mut by_flow_key = keys.clone();
        by_flow_key.sort_by_key(|k| k.0);
        let mut by_prefix = keys.clone();
        by_prefix.sort_by(|x, y| {
            (x.1.sort_prefix().cmp(&y.1.sort_prefix())).then_with(|| x.1.order().cmp(&y.1.order()))
        });
        keys.sort_by_key(|k| k.1.order());
        assert!(keys.iter().zip(&by_flow_key).all(|(a, b)| a.0 == b.0));
        assert!(by_prefix.iter().zip(&by_flow_key).all(|(a, b)| a.0 == b.0));
    }
}
