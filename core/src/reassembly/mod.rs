//! Per-flow payload reassembly for flow classification (sans-IO).
//!
//! Fed decoded packets and their timestamps ([`Reassembler::handle_packet`]),
//! told the time on a quiet link ([`Reassembler::handle_timeout`]), polled for
//! flows whose payload is ready ([`Reassembler::poll_ready`]). A flow is ready
//! when its buffer is full (`max_bytes` of payload, both directions together),
//! when it ends (TCP: FIN from both sides, or a RST), after `idle_timeout_secs`
//! without a packet, when it is evicted to keep memory bounded, or at the end.
//!
//! TCP payload is put in order per direction: retransmissions and overlaps
//! are resolved (the first copy of a byte wins), segments that arrive ahead
//! of a hole are held (within the flow's budget) and a hole never filled is
//! marked as a gap of so many bytes. UDP datagrams are kept one after the
//! other with their boundaries marked. What did not fit is counted
//! (`cut_bytes`) and the flow says it was truncated.
//!
//! Memory: at most `max_flows` flows (the longest idle are finished early
//! beyond it) and `max_total_bytes` of buffered payload (likewise); each flow
//! holds at most `max_bytes`. Flows that carried no payload are forgotten
//! without being reported (there is nothing to classify).

use crate::decode::{tcp_flags, AppProto, Packet, Reassembly, Transport};
use crate::flow::community_id::community_id_v1;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;

/// Limits of the reassembly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReassemblyConfig {
    /// Payload bytes kept per flow (both directions together).
    pub max_bytes: usize,
    /// A flow with no packet for this long is finished.
    pub idle_timeout_secs: f64,
    /// Flows tracked at once; beyond it the longest idle are finished early.
    pub max_flows: usize,
    /// Payload bytes buffered over all flows; beyond it the longest idle are
    /// finished early.
    pub max_total_bytes: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_bytes: 2048,
            idle_timeout_secs: 60.0,
            max_flows: 100_000,
            max_total_bytes: 64 << 20,
        }
    }
}

/// Why a flow's payload was handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadyReason {
    /// The buffer reached `max_bytes`.
    Full,
    /// FIN from both sides, or a RST.
    Ended,
    /// No packet for `idle_timeout_secs`.
    Idle,
    /// Finished early to keep memory bounded.
    Evicted,
    /// The input ended.
    CaptureEnd,
}

/// A mark inside a direction's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// This many bytes of the stream were never seen.
    Gap(u64),
    /// A UDP datagram starts here.
    Datagram,
}

/// The payload of one direction, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DirPayload {
    pub packets: u64,
    /// IP bytes (headers included).
    pub bytes: u64,
    /// Transport payload bytes seen (including those not kept).
    pub payload_bytes: u64,
    /// The bytes kept.
    #[serde(skip)]
    pub data: Vec<u8>,
    /// Marks at offsets into `data`, in order.
    pub marks: Vec<(usize, Mark)>,
    /// Payload bytes seen but not kept (the flow's budget was spent).
    pub cut_bytes: u64,
    /// TCP segments (or parts) that repeated bytes already held.
    pub retransmitted_segments: u64,
}

/// A flow's reassembled payload and what the classifier prompt says about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowPayload {
    /// Frame number (1-based) of the flow's first packet: its id in a run.
    pub first_frame: u64,
    pub community_id: String,
    /// "tcp" or "udp".
    pub transport: &'static str,
    pub client_addr: IpAddr,
    pub client_port: u16,
    pub server_addr: IpAddr,
    pub server_port: u16,
    /// Application protocol identified from the content (port as a tie-break).
    pub service: Option<AppProto>,
    pub first_ts: f64,
    pub last_ts: f64,
    pub client: DirPayload,
    pub server: DirPayload,
    /// TLS server name and ALPN from a ClientHello in the kept bytes.
    pub tls_sni: Option<String>,
    pub tls_alpn: Vec<String>,
    pub reason: ReadyReason,
}

impl FlowPayload {
    pub fn duration_secs(&self) -> f64 {
        (self.last_ts - self.first_ts).max(0.0)
    }

    /// Something was cut (budget) or is missing (gaps).
    pub fn truncated(&self) -> bool {
        self.client.cut_bytes + self.server.cut_bytes > 0
    }
}

/// Counters of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReassemblyStats {
    pub flows_seen: u64,
    pub flows_ready: u64,
    pub flows_without_payload: u64,
    pub flows_evicted: u64,
    /// Packets after a flow was handed over as full (not kept).
    pub packets_after_full: u64,
    pub gaps: u64,
    pub peak_buffered_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    proto: u8,
    a: (IpAddr, u16),
    b: (IpAddr, u16),
}

#[derive(Debug, Default)]
struct TcpDir {
    /// Sequence number of relative offset 0.
    base: Option<u32>,
    /// Relative offset of the next byte expected.
    next: u64,
    /// Segments ahead of `next`, by relative offset.
    held: BTreeMap<u64, Vec<u8>>,
    fin: bool,
}

#[derive(Debug)]
struct Flow {
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    proto: u8,
    first_ts: f64,
    last_ts: f64,
    first_frame: u64,
    dirs: [DirPayload; 2],
    tcp: [TcpDir; 2],
    service: Option<AppProto>,
    /// Handed over as full: later packets are only counted.
    done: bool,
    /// Bytes held in `data` and `held` of both directions.
    buffered: usize,
}

impl Flow {
    fn has_payload(&self) -> bool {
        self.dirs.iter().any(|d| d.payload_bytes > 0)
    }
}

/// The reassembler. See the module documentation.
pub struct Reassembler {
    cfg: ReassemblyConfig,
    flows: HashMap<Key, Flow>,
    ready: VecDeque<FlowPayload>,
    buffered: usize,
    last_sweep: f64,
    now: f64,
    stats: ReassemblyStats,
}

impl Reassembler {
    pub fn new(mut cfg: ReassemblyConfig) -> Self {
        cfg.max_flows = cfg.max_flows.max(1);
        cfg.max_bytes = cfg.max_bytes.max(1);
        cfg.max_total_bytes = cfg.max_total_bytes.max(cfg.max_bytes);
        Reassembler {
            cfg,
            flows: HashMap::new(),
            ready: VecDeque::new(),
            buffered: 0,
            last_sweep: f64::NEG_INFINITY,
            now: f64::NEG_INFINITY,
            stats: ReassemblyStats::default(),
        }
    }

    pub fn config(&self) -> &ReassemblyConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Flows being reassembled now.
    pub fn live_flows(&self) -> usize {
        self.flows.len()
    }

    /// Payload bytes buffered now.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// One decoded packet, its time (seconds) and frame number.
    pub fn handle_packet(&mut self, ts: f64, frame: u64, pkt: &Packet<'_>) {
        if ts.is_finite() {
            self.handle_timeout(ts);
        }
        let Some(ip) = pkt.inner() else { return };
        // A later fragment alone carries no transport header; the frame that
        // completed a datagram (IP reassembly) carries the whole of it.
        if ip
            .fragment
            .is_some_and(|f| f.offset > 0 && f.reassembly != Reassembly::Completed)
        {
            return;
        }
        let (sport, dport, payload, flags, seq) = match &ip.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port, t.payload, Some(t.flags), t.seq),
            Transport::Udp(u) => (u.src_port, u.dst_port, u.payload, None, 0),
            _ => return,
        };
        let src = (ip.src, sport);
        let dst = (ip.dst, dport);
        let key = if src <= dst {
            Key {
                proto: ip.proto,
                a: src,
                b: dst,
            }
        } else {
            Key {
                proto: ip.proto,
                a: dst,
                b: src,
            }
        };
        if !self.flows.contains_key(&key) {
            if self.flows.len() >= self.cfg.max_flows {
                self.evict_oldest();
            }
            // A SYN-ACK first: its sender is the server.
            let from_server = flags.is_some_and(|f| {
                f & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN | tcp_flags::ACK
            });
            let (client, server) = if from_server { (dst, src) } else { (src, dst) };
            self.stats.flows_seen += 1;
            self.flows.insert(
                key,
                Flow {
                    client,
                    server,
                    proto: ip.proto,
                    first_ts: ts,
                    last_ts: ts,
                    first_frame: frame,
                    dirs: Default::default(),
                    tcp: Default::default(),
                    service: None,
                    done: false,
                    buffered: 0,
                },
            );
        }
        let max_bytes = self.cfg.max_bytes;
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        let d = usize::from(src != flow.client);
        flow.last_ts = flow.last_ts.max(ts);
        flow.dirs[d].packets += 1;
        flow.dirs[d].bytes += u64::from(ip.total_len);
        flow.dirs[d].payload_bytes += payload.len() as u64;
        if flow.service.is_none() {
            flow.service = pkt.app;
        }
        let before = flow.buffered;
        let mut full = false;
        let mut ended = false;
        if flow.done {
            self.stats.packets_after_full += 1;
        } else if let Some(flags) = flags {
            let t = &mut flow.tcp[d];
            if flags & tcp_flags::SYN != 0 {
                if t.base.is_none() {
                    t.base = Some(seq.wrapping_add(1));
                }
            } else if !payload.is_empty() && t.base.is_none() {
                t.base = Some(seq);
            }
            if !payload.is_empty() {
                let base = t.base.unwrap_or(seq);
                let rel = i64::from(seq.wrapping_sub(base) as i32);
                full = tcp_segment(flow, d, rel, payload, max_bytes);
            }
            if flags & tcp_flags::FIN != 0 {
                flow.tcp[d].fin = true;
            }
            ended = flags & tcp_flags::RST != 0 || (flow.tcp[0].fin && flow.tcp[1].fin);
        } else if !payload.is_empty() {
            let room = max_bytes.saturating_sub(flow.buffered);
            let dir = &mut flow.dirs[d];
            let take = payload.len().min(room);
            if take > 0 {
                dir.marks.push((dir.data.len(), Mark::Datagram));
                dir.data.extend_from_slice(&payload[..take]);
                flow.buffered += take;
            }
            flow.dirs[d].cut_bytes += (payload.len() - take) as u64;
            full = flow.buffered >= max_bytes;
        }
        self.buffered = self.buffered + flow.buffered - before;
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(self.buffered as u64);
        if ended {
            self.finish_flow(key, ReadyReason::Ended);
        } else if full {
            self.hand_over(key, ReadyReason::Full);
        }
        if self.buffered > self.cfg.max_total_bytes {
            self.evict_oldest();
        }
    }

    /// The caller's clock (seconds, the packets' time base): flows idle for
    /// `idle_timeout_secs` are finished. Checked at most once a second.
    pub fn handle_timeout(&mut self, now: f64) {
        if !now.is_finite() {
            return;
        }
        self.now = self.now.max(now);
        if self.now - self.last_sweep < 1.0 {
            return;
        }
        self.last_sweep = self.now;
        let limit = self.now - self.cfg.idle_timeout_secs;
        let mut idle: Vec<(u64, Key)> = self
            .flows
            .iter()
            .filter(|(_, f)| f.last_ts <= limit)
            .map(|(k, f)| (f.first_frame, *k))
            .collect();
        idle.sort_unstable_by_key(|(frame, _)| *frame);
        for (_, k) in idle {
            self.finish_flow(k, ReadyReason::Idle);
        }
    }

    /// The next flow whose payload is ready.
    pub fn poll_ready(&mut self) -> Option<FlowPayload> {
        self.ready.pop_front()
    }

    /// End of input: every flow with payload becomes ready (in order of its
    /// first frame).
    pub fn finish(&mut self) {
        let mut all: Vec<(u64, Key)> = self
            .flows
            .iter()
            .map(|(k, f)| (f.first_frame, *k))
            .collect();
        all.sort_unstable_by_key(|(frame, _)| *frame);
        for (_, k) in all {
            self.finish_flow(k, ReadyReason::CaptureEnd);
        }
    }

    /// Finish the longest idle eighth of the flows (at least one).
    fn evict_oldest(&mut self) {
        let mut by_age: Vec<(f64, u64, Key)> = self
            .flows
            .iter()
            .map(|(k, f)| (f.last_ts, f.first_frame, *k))
            .collect();
        let n = (by_age.len() / 8).max(1).min(by_age.len());
        if n == 0 {
            return;
        }
        by_age.select_nth_unstable_by(n - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut chosen: Vec<(u64, Key)> = by_age[..n].iter().map(|(_, fr, k)| (*fr, *k)).collect();
        chosen.sort_unstable_by_key(|(fr, _)| *fr);
        for (_, k) in chosen {
            self.stats.flows_evicted += 1;
            self.finish_flow(k, ReadyReason::Evicted);
        }
    }

    /// Remove a flow; report it unless it was handed over already or has no payload.
    fn finish_flow(&mut self, key: Key, reason: ReadyReason) {
        let Some(flow) = self.flows.remove(&key) else {
            return;
        };
        self.buffered -= flow.buffered;
        if flow.done {
            return;
        }
        if !flow.has_payload() {
            self.stats.flows_without_payload += 1;
            return;
        }
        let p = self.payload_of(flow, reason);
        self.ready.push_back(p);
    }

    /// A full flow: report it now, keep a tombstone so its later packets do
    /// not start a new flow.
    fn hand_over(&mut self, key: Key, reason: ReadyReason) {
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        let taken = Flow {
            client: flow.client,
            server: flow.server,
            proto: flow.proto,
            first_ts: flow.first_ts,
            last_ts: flow.last_ts,
            first_frame: flow.first_frame,
            dirs: std::mem::take(&mut flow.dirs),
            tcp: std::mem::take(&mut flow.tcp),
            service: flow.service,
            done: false,
            buffered: flow.buffered,
        };
        flow.done = true;
        flow.buffered = 0;
        // Counters go on in the tombstone (not reported).
        self.buffered -= taken.buffered;
        let p = self.payload_of(taken, reason);
        self.ready.push_back(p);
    }

    fn payload_of(&mut self, mut flow: Flow, reason: ReadyReason) -> FlowPayload {
        // Segments still held after a hole: append them with the gap marked.
        for d in 0..2 {
            let held = std::mem::take(&mut flow.tcp[d].held);
            let mut next = flow.tcp[d].next;
            for (off, bytes) in held {
                let dir = &mut flow.dirs[d];
                if off + bytes.len() as u64 <= next {
                    continue;
                }
                let skip = next.saturating_sub(off) as usize;
                if off > next {
                    dir.marks.push((dir.data.len(), Mark::Gap(off - next)));
                    self.stats.gaps += 1;
                }
                dir.data.extend_from_slice(&bytes[skip..]);
                next = off + bytes.len() as u64;
            }
        }
        self.stats.flows_ready += 1;
        let (sni, alpn) = client_hello_names(&flow.dirs[0].data);
        let [client, server] = flow.dirs;
        let proto = flow.proto;
        FlowPayload {
            first_frame: flow.first_frame,
            community_id: community_id_v1(
                0,
                flow.client.0,
                flow.server.0,
                proto,
                Some((flow.client.1, flow.server.1)),
            ),
            transport: if proto == 6 { "tcp" } else { "udp" },
            client_addr: flow.client.0,
            client_port: flow.client.1,
            server_addr: flow.server.0,
            server_port: flow.server.1,
            service: flow.service,
            first_ts: flow.first_ts,
            last_ts: flow.last_ts,
            client,
            server,
            tls_sni: sni,
            tls_alpn: alpn,
            reason,
        }
    }
}

/// One TCP segment at relative offset `rel` into direction `d`. Returns
/// true when the flow's budget is spent.
fn tcp_segment(flow: &mut Flow, d: usize, rel: i64, payload: &[u8], max_bytes: usize) -> bool {
    let t = &mut flow.tcp[d];
    let end = rel + payload.len() as i64;
    if end <= t.next as i64 {
        flow.dirs[d].retransmitted_segments += 1;
        return false;
    }
    if rel > t.next as i64 {
        // Ahead of a hole: hold it (a copy already held at this offset wins).
        let room = max_bytes.saturating_sub(flow.buffered);
        let take = payload.len().min(room);
        if take == 0 {
            flow.dirs[d].cut_bytes += payload.len() as u64;
            return true;
        }
        let off = rel as u64;
        if t.held.contains_key(&off) {
            flow.dirs[d].retransmitted_segments += 1;
            return false;
        }
        t.held.insert(off, payload[..take].to_vec());
        flow.buffered += take;
        flow.dirs[d].cut_bytes += (payload.len() - take) as u64;
        return flow.buffered >= max_bytes;
    }
    // Overlapping or exactly in order: keep what is new.
    let skip = (t.next as i64 - rel) as usize;
    if skip > 0 {
        flow.dirs[d].retransmitted_segments += 1;
    }
    append(flow, d, &payload[skip..], max_bytes);
    // Held segments that now follow on.
    loop {
        let t = &mut flow.tcp[d];
        let Some((&off, _)) = t.held.first_key_value() else {
            break;
        };
        if off > t.next {
            break;
        }
        let bytes = t.held.remove(&off).unwrap_or_default();
        flow.buffered -= bytes.len();
        let skip = (t.next - off) as usize;
        if skip < bytes.len() {
            append(flow, d, &bytes[skip..], max_bytes);
        }
    }
    flow.buffered >= max_bytes
}

fn append(flow: &mut Flow, d: usize, bytes: &[u8], max_bytes: usize) {
    let room = max_bytes.saturating_sub(flow.buffered);
    let take = bytes.len().min(room);
    flow.dirs[d].data.extend_from_slice(&bytes[..take]);
    flow.dirs[d].cut_bytes += (bytes.len() - take) as u64;
    flow.buffered += take;
    flow.tcp[d].next += bytes.len() as u64;
}

/// SNI and ALPN of a TLS ClientHello at the start of the client's bytes.
fn client_hello_names(data: &[u8]) -> (Option<String>, Vec<String>) {
    // One handshake record: type 22, version, length; then the message.
    if data.len() < 9 || data[0] != 22 {
        return (None, Vec::new());
    }
    let m = &data[5..];
    let Some(h) = crate::decode::tls::parse_client_hello(m) else {
        return (None, Vec::new());
    };
    let text = |r: std::ops::Range<usize>| {
        m.get(r)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .filter(|s| !s.is_empty())
    };
    let sni = h.sni.and_then(text);
    let alpn = h.alpn.iter().filter_map(|r| text(r.clone())).collect();
    (sni, alpn)
}

#[cfg(test)]
mod tests;
