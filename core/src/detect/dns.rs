//! DNS failures: error responses by RCODE, unanswered queries, response
//! times, the names that fail most and the servers that failed them.
//!
//! Semantics follow tshark's DNS dissector so numbers can be cross-checked:
//! the RCODE is the 4-bit header value; queries pair with responses by
//! (conversation, transaction id), a repeated query within the retransmission
//! window joins the earlier transaction, a later one starts a new one; UDP
//! port 53 is DNS (lower port tried first), 5353 is mDNS and 5355 LLMNR,
//! which are counted apart and not analysed as DNS; a UDP datagram on other
//! ports is DNS when it passes tshark's DNS heuristic. TCP messages carry a
//! 2-byte length prefix and may be split across or packed into segments.
//! IP fragments are reassembled first (`decode::defrag`), as tshark does: a
//! datagram is read in the frame that completes it. A fully captured
//! fragment that did not go through reassembly is skipped, as tshark would
//! queue it.

use super::doq::DoqReader;
use super::stream::{HalfStream, Step};
use super::{Counted, DetectConfig, Detector, Evidence, Failures, PacketCtx};
use crate::decode::dns::{heuristic_match, rcode_name, Header, Message};
use crate::decode::{IpLayer, Reassembly, Transport};
use crate::flow::CommunityIdSource;
use crate::flow::{Flow, FxHashMap};
use arrayvec::ArrayVec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// A query with no response this long after it (capture time) is unanswered.
    pub wait_secs: f64,
    /// A repeated query within this window is a retransmission (tshark: 5 s).
    pub retransmission_secs: f64,
    /// Most open transactions kept; the oldest are given up beyond.
    pub max_pending: usize,
    /// Length of the failing-names list.
    pub top_names: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            wait_secs: 60.0,
            retransmission_secs: 5.0,
            max_pending: 65_536,
            top_names: 10,
        }
    }
}

/// An error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsError {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub id: u16,
    pub rcode: u8,
    pub rcode_name: String,
    pub qname: String,
    pub qtype: u16,
    pub server: String,
    pub client: String,
    /// Query frame, when the query was seen.
    pub query_frame: Option<u64>,
}

/// A query that got no response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsUnanswered {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub id: u16,
    pub qname: String,
    pub qtype: u16,
    pub server: String,
    pub client: String,
    /// How many times the query was sent again (each is unanswered too).
    pub retransmissions: u32,
    /// Frames of the first retransmissions.
    pub retransmission_frames: Vec<u64>,
}

/// A query/response pair (used for slow responses).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsExchange {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub query_frame: u64,
    pub qname: String,
    pub server: String,
    pub rtt_ms: f64,
}

/// Summary of response times, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ResponseTimes {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    #[serde(skip)]
    sum_ms: f64,
}

impl ResponseTimes {
    pub fn add(&mut self, ms: f64) {
        if self.count == 0 || ms < self.min_ms {
            self.min_ms = ms;
        }
        if ms > self.max_ms {
            self.max_ms = ms;
        }
        self.count += 1;
        self.sum_ms += ms;
        self.mean_ms = ((self.sum_ms / self.count as f64) * 1000.0).round() / 1000.0;
    }
}

/// A name that failed, with the servers that failed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailingName {
    pub name: String,
    pub errors: u64,
    pub unanswered: u64,
    pub rcodes: BTreeMap<String, u64>,
    pub servers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct DnsReport {
    pub messages: u64,
    pub queries: u64,
    pub responses: u64,
    /// mDNS and LLMNR messages, counted apart and not analysed as DNS.
    pub mdns_messages: u64,
    pub llmnr_messages: u64,
    /// Responses with a non-zero header RCODE (one per message).
    pub error_responses: Counted<DnsError>,
    /// Frames holding at least one error response (tshark's frame count).
    pub error_response_frames: u64,
    /// `"<rcode>:<name>"` → error responses.
    pub rcodes: BTreeMap<String, u64>,
    /// Queries that got no response (one per transaction; its
    /// retransmissions are in `query_retransmissions`).
    pub unanswered_queries: Counted<DnsUnanswered>,
    /// Queries sent again within the retransmission window. tshark shows
    /// `dns.response_in` only on the first copy, so its unanswered count is
    /// `unanswered_queries.total + query_retransmissions`.
    pub query_retransmissions: u64,
    /// Responses that matched no query.
    pub unmatched_responses: u64,
    /// Messages whose records run out of the message (tshark: Malformed
    /// Packet). They still pair by transaction id.
    pub malformed_messages: u64,
    /// Malformed queries that were answered: tshark stops dissecting them
    /// before it shows `dns.response_in`, so its unanswered count is
    /// `unanswered_queries.total + query_retransmissions + answered_malformed_queries`.
    pub answered_malformed_queries: u64,
    pub response_times: ResponseTimes,
    /// Responses slower than `perf.slow_dns_ms`.
    pub slow_responses: Counted<DnsExchange>,
    pub top_failing_names: Vec<FailingName>,
}

#[derive(Clone)]
struct Txn {
    frame: u64,
    ts: i64,
    answered: bool,
    malformed: bool,
    retransmissions: u32,
    retransmission_frames: ArrayVec<u64, 4>,
    qtype: u16,
    qname: Box<str>,
    client: IpAddr,
    server: IpAddr,
    community_id: Option<CommunityIdSource>,
}

#[derive(Clone, Default)]
struct NameStat {
    errors: u64,
    unanswered: u64,
    rcodes: BTreeMap<String, u64>,
    servers: BTreeMap<String, u64>,
}

const MAX_NAME_STATS: usize = 10_000;
const MAX_TCP_PENDING: usize = 65_537;

#[derive(Clone)]
pub struct DnsDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    cfg: DnsConfig,
    /// `cfg.wait_secs` and `cfg.retransmission_secs` in nanoseconds.
    wait_ns: i64,
    retransmission_ns: i64,
    cap: usize,
    slow_ms: f64,
    report: DnsReport,
    txns: FxHashMap<(u64, u16), Txn>,
    tcp: FxHashMap<u64, [HalfStream; 2]>,
    names: BTreeMap<String, NameStat>,
    last_error_frame: u64,
    last_sweep_ts: i64,
    /// DNS over QUIC, once the capture gives TLS secrets.
    doq: Option<Box<DoqReader>>,
    /// With a blocklist: the DNS-over-TCP messages the current segment
    /// completed (reassembled), for the blocklist to match.
    pub(crate) collect_tcp_messages: bool,
    pub(crate) segment_tcp_messages: Vec<Vec<u8>>,
}

/// Which of DNS, mDNS, LLMNR a UDP port pair is (tshark tries the lower port first).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DnsKind {
    Dns,
    Mdns,
    Llmnr,
}

pub fn udp_kind(sport: u16, dport: u16) -> Option<DnsKind> {
    let of = |p: u16| match p {
        53 => Some(DnsKind::Dns),
        5353 => Some(DnsKind::Mdns),
        5355 => Some(DnsKind::Llmnr),
        _ => None,
    };
    let (lo, hi) = if sport <= dport {
        (sport, dport)
    } else {
        (dport, sport)
    };
    of(lo).or_else(|| of(hi))
}

impl DnsDetector {
    /// A datagram of a QUIC connection the DoQ reader follows (only with
    /// secrets in the capture): its DNS messages are read, as tshark's.
    fn on_quic(&mut self, p: &[u8], ctx: &PacketCtx<'_, '_>, src: IpAddr, dst: IpAddr) -> bool {
        let (Some(doq), Some(f)) = (self.doq.as_mut(), ctx.flow) else {
            return false;
        };
        let mut msgs = Vec::new();
        if !doq.on_datagram(f.flow.id, f.from_orig, p, &mut msgs) {
            return false;
        }
        for m in msgs {
            self.on_message(&m, ctx, f.flow.id, src, dst);
        }
        true
    }
}

/// UDP ports tshark gives to another dissector before it tries heuristics
/// (the common registrations; NBNS in particular has a DNS-like header).
pub fn claimed_udp_port(p: u16) -> bool {
    matches!(
        p,
        7 | 67
            | 68
            | 69
            | 88
            | 111
            | 123
            | 137
            | 138
            | 161
            | 162
            | 389
            | 427
            | 443
            | 500
            | 514
            | 520
            | 546
            | 547
            | 853
            | 1194
            | 1701
            | 1812
            | 1813
            | 1900
            | 2123
            | 2152
            | 3478
            | 3702
            | 4500
            | 4789
            | 4790
            | 5060
            | 5072
            | 5246
            | 5247
            | 6081
            | 6635
    )
}

impl DnsDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        DnsDetector {
            out: Default::default(),
            cfg: cfg.dns.clone(),
            wait_ns: (cfg.dns.wait_secs * 1e9) as i64,
            retransmission_ns: (cfg.dns.retransmission_secs * 1e9) as i64,
            cap: cfg.max_instances,
            slow_ms: cfg.perf.slow_dns_ms,
            report: DnsReport::default(),
            txns: FxHashMap::default(),
            tcp: FxHashMap::default(),
            names: BTreeMap::new(),
            last_error_frame: 0,
            last_sweep_ts: i64::MIN,
            doq: None,
            collect_tcp_messages: !cfg.blocklist.entries.is_empty(),
            segment_tcp_messages: Vec::new(),
        }
    }

    fn name_stat(&mut self, name: &str) -> Option<&mut NameStat> {
        if !self.names.contains_key(name) && self.names.len() >= MAX_NAME_STATS {
            return None;
        }
        Some(self.names.entry(name.to_string()).or_default())
    }

    fn give_up(&mut self, t: Txn, id: u16) {
        let cap = self.cap;
        self.out.count(
            "dns.unanswered_queries",
            &mut self.report.unanswered_queries,
            cap,
            || DnsUnanswered {
                evidence: Evidence::new(
                    t.frame,
                    t.ts,
                    t.community_id.map(|c| c.id()).as_deref().unwrap_or(""),
                ),
                id,
                qname: t.qname.to_string(),
                qtype: t.qtype,
                server: t.server.to_string(),
                client: t.client.to_string(),
                retransmissions: t.retransmissions,
                retransmission_frames: t.retransmission_frames.to_vec(),
            },
        );
        let server = t.server.to_string();
        if let Some(s) = self.name_stat(&t.qname) {
            s.unanswered += 1;
            *s.servers.entry(server).or_default() += 1;
        }
    }

    /// Give up on transactions older than the wait (bounded memory).
    fn sweep(&mut self, now: i64, force_all: bool) {
        let wait = self.wait_ns;
        // Beyond the cap, shed a tenth at once so a query flood does not sweep per packet.
        let over = if self.txns.len() > self.cfg.max_pending {
            self.txns.len() - self.cfg.max_pending * 9 / 10
        } else {
            0
        };
        let mut expired: Vec<(u64, u16)> = self
            .txns
            .iter()
            .filter(|(_, t)| force_all || now.saturating_sub(t.ts) > wait)
            .map(|(k, _)| *k)
            .collect();
        if over > 0 && expired.len() < over {
            // Still too many: drop the oldest regardless of age.
            let mut all: Vec<_> = self.txns.iter().map(|(k, t)| (t.ts, t.frame, *k)).collect();
            all.sort_unstable();
            expired = all.into_iter().take(over).map(|x| x.2).collect();
        }
        // Deterministic order of instances: by query frame.
        let mut gone: Vec<((u64, u16), Txn)> = expired
            .into_iter()
            .filter_map(|k| self.txns.remove(&k).map(|t| (k, t)))
            .collect();
        gone.sort_unstable_by_key(|(_, t)| t.frame);
        for ((_, id), t) in gone {
            if !t.answered {
                self.give_up(t, id);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_message(
        &mut self,
        msg: &[u8],
        ctx: &PacketCtx<'_, '_>,
        conv: u64,
        src: IpAddr,
        dst: IpAddr,
    ) {
        // tshark shows the flags once the first 4 bytes are there.
        if msg.len() < 4 {
            self.report.messages += 1;
            return;
        }
        let mut hdr_bytes = [0u8; 12];
        let n = msg.len().min(12);
        hdr_bytes[..n].copy_from_slice(&msg[..n]);
        let Some(h) = Header::parse(&hdr_bytes) else {
            return;
        };
        self.report.messages += 1;
        let m = Message::parse(msg);
        let question = m.as_ref().and_then(|m| m.question().map(|q| (m, q)));
        let frame = ctx.frame();
        let ts = ctx.ts();
        // tshark pairs by id before it walks the records, so a malformed
        // message still opens or answers a transaction.
        let malformed = !crate::decode::dns::dissects_whole(msg);
        if malformed {
            self.report.malformed_messages += 1;
        }
        if !h.is_response() {
            self.report.queries += 1;
            let retrans_ns = self.retransmission_ns;
            if let Some(t) = self.txns.get_mut(&(conv, h.id)) {
                if !t.answered && ts.saturating_sub(t.ts) < retrans_ns && t.frame != frame {
                    t.retransmissions += 1;
                    self.report.query_retransmissions += 1;
                    let _ = t.retransmission_frames.try_push(frame);
                    return;
                }
            }
            let (qname, qtype) = match &question {
                Some((m, q)) => (m.name(q.name_offset), q.qtype),
                None => (String::new(), 0),
            };
            let txn = Txn {
                frame,
                ts,
                answered: false,
                malformed,
                retransmissions: 0,
                retransmission_frames: ArrayVec::new(),
                qtype,
                qname: qname.into_boxed_str(),
                client: src,
                server: dst,
                community_id: ctx.community_id_source(),
            };
            if let Some(old) = self.txns.insert((conv, h.id), txn) {
                if !old.answered {
                    self.give_up(old, h.id);
                }
            }
            if self.txns.len() > self.cfg.max_pending {
                self.sweep(ts, false);
            }
            return;
        }
        self.report.responses += 1;
        let mut query_frame = None;
        match self.txns.get_mut(&(conv, h.id)) {
            Some(t) if !t.answered => {
                t.answered = true;
                if t.malformed {
                    self.report.answered_malformed_queries += 1;
                }
                query_frame = Some(t.frame);
                let ms = (ts - t.ts) as f64 / 1e6;
                self.report.response_times.add(ms);
                if ms > self.slow_ms {
                    let (qf, qname) = (t.frame, t.qname.to_string());
                    self.out.count(
                        "dns.slow_responses",
                        &mut self.report.slow_responses,
                        self.cap,
                        || DnsExchange {
                            evidence: Evidence::new(frame, ts, &ctx.community_id()),
                            query_frame: qf,
                            qname,
                            server: src.to_string(),
                            rtt_ms: ms,
                        },
                    );
                }
            }
            Some(t) => query_frame = Some(t.frame),
            None => self.report.unmatched_responses += 1,
        }
        let rcode = h.rcode();
        if rcode == 0 {
            return;
        }
        if self.last_error_frame != frame {
            self.last_error_frame = frame;
            self.report.error_response_frames += 1;
        }
        let key = format!("{rcode}:{}", rcode_name(rcode));
        *self.report.rcodes.entry(key.clone()).or_default() += 1;
        let (qname, qtype) = match &question {
            Some((m, q)) => (m.name(q.name_offset), q.qtype),
            None => (String::new(), 0),
        };
        let server = src.to_string();
        if let Some(s) = self.name_stat(&qname) {
            s.errors += 1;
            *s.rcodes.entry(key).or_default() += 1;
            *s.servers.entry(server.clone()).or_default() += 1;
        }
        self.out.count(
            "dns.error_responses",
            &mut self.report.error_responses,
            self.cap,
            || DnsError {
                evidence: Evidence::new(frame, ts, &ctx.community_id()),
                id: h.id,
                rcode,
                rcode_name: rcode_name(rcode).to_string(),
                qname,
                qtype,
                server,
                client: dst.to_string(),
                query_frame,
            },
        );
    }
}

impl DnsDetector {
    /// A UDP datagram or a segment on TCP port 53.
    fn on_candidate(&mut self, ctx: &PacketCtx<'_, '_>, inner: &IpLayer<'_>) {
        let pkt = ctx.packet;
        let conv = ctx.flow.map_or(0, |f| f.flow.id);
        let (src, dst) = (inner.src, inner.dst);
        match &inner.transport {
            Transport::Udp(u) => {
                // tshark queues a fragment whose bytes are all captured for
                // reassembly and reads the datagram only once it is whole; a
                // first fragment cut short by the snap length is read as is.
                if inner
                    .fragment
                    .is_some_and(|f| f.reassembly == Reassembly::NotQueued)
                    && ctx.record.data.len()
                        >= inner.offset.saturating_add(inner.total_len as usize)
                {
                    return;
                }
                match udp_kind(u.src_port, u.dst_port) {
                    Some(DnsKind::Dns) => self.on_message(u.payload, ctx, conv, src, dst),
                    Some(DnsKind::Mdns) => self.report.mdns_messages += 1,
                    Some(DnsKind::Llmnr) => self.report.llmnr_messages += 1,
                    None if self.on_quic(u.payload, ctx, src, dst) => {}
                    None if pkt.app.is_none()
                        && ctx.flow.is_none_or(|f| f.flow.service.is_none())
                        && !claimed_udp_port(u.src_port)
                        && !claimed_udp_port(u.dst_port)
                        && heuristic_match(u.payload) =>
                    {
                        self.on_message(u.payload, ctx, conv, src, dst)
                    }
                    None => {}
                }
            }
            Transport::Tcp(t) if t.src_port == 53 || t.dst_port == 53 => {
                let Some(f) = ctx.flow else {
                    return;
                };
                let dir = usize::from(!f.from_orig);
                let mut streams = self.tcp.remove(&conv).unwrap_or_default();
                let mut msgs: Vec<(usize, usize)> = Vec::new();
                let mut owned: Vec<u8> = Vec::new();
                streams[dir].feed(t, MAX_TCP_PENDING, |b| {
                    if b.len() < 2 {
                        return Step::NeedMore;
                    }
                    let len = u16::from_be_bytes([b[0], b[1]]) as usize;
                    if len == 0 {
                        return Step::Consumed(2);
                    }
                    if b.len() < 2 + len {
                        return Step::NeedMore;
                    }
                    // Copy out: the stream buffer is borrowed while parsing.
                    msgs.push((owned.len(), len));
                    owned.extend_from_slice(&b[2..2 + len]);
                    Step::Consumed(2 + len)
                });
                self.tcp.insert(conv, streams);
                for (off, len) in msgs {
                    self.on_message(&owned[off..off + len], ctx, conv, src, dst);
                    if self.collect_tcp_messages {
                        self.segment_tcp_messages
                            .push(owned[off..off + len].to_vec());
                    }
                }
            }
            _ => {}
        }
    }
}

impl Detector for DnsDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    /// Inlined: the expiry clock runs on every IP packet, and only UDP and
    /// TCP port 53 go further.
    #[inline]
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        let Some(inner) = ctx.packet.inner() else {
            return;
        };
        // Periodic expiry keeps the table bounded by time as well as size.
        if !self.txns.is_empty() && ctx.ts().saturating_sub(self.last_sweep_ts) > self.wait_ns {
            self.last_sweep_ts = ctx.ts();
            self.sweep(ctx.ts(), false);
        }
        match &inner.transport {
            Transport::Udp(_) => self.on_candidate(ctx, inner),
            Transport::Tcp(t) if t.src_port == 53 || t.dst_port == 53 => {
                self.on_candidate(ctx, inner)
            }
            _ => {}
        }
    }

    fn on_secrets(&mut self, secrets_type: u32, data: &[u8]) {
        if secrets_type == crate::capture::SECRETS_TLS_KEY_LOG {
            self.doq
                .get_or_insert_with(Default::default)
                .add_key_log(data);
        }
    }

    fn on_flow_end(&mut self, flow: &Flow) {
        self.tcp.remove(&flow.id);
        if let Some(d) = &mut self.doq {
            d.end(flow.id);
        }
    }

    fn on_input_end(&mut self) {
        self.sweep(i64::MAX, true);
    }

    fn finish(&mut self, out: &mut Failures) {
        let mut names: Vec<(&String, &NameStat)> = self.names.iter().collect();
        names.sort_by(|a, b| {
            (b.1.errors + b.1.unanswered)
                .cmp(&(a.1.errors + a.1.unanswered))
                .then(a.0.cmp(b.0))
        });
        self.report.top_failing_names = names
            .into_iter()
            .take(self.cfg.top_names)
            .map(|(n, s)| FailingName {
                name: n.clone(),
                errors: s.errors,
                unanswered: s.unanswered,
                rcodes: s.rcodes.clone(),
                servers: s.servers.keys().cloned().collect(),
            })
            .collect();
        out.dns = std::mem::take(&mut self.report);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testpcap::*;

    #[test]
    fn errors_unanswered_retransmissions_and_mdns_apart() {
        let mut p = Pcap::new();
        // 1: query, 2: NXDOMAIN answer after 30 ms.
        p.push(0, &udp(C, 40000, S, 53, &dns(1, 0x0100, "nx.example")));
        p.push(30, &udp(S, 53, C, 40000, &dns(1, 0x8183, "nx.example")));
        // 3: query never answered; 4: its retransmission 1 s later.
        p.push(100, &udp(C, 40001, S, 53, &dns(2, 0x0100, "lost.example")));
        p.push(1100, &udp(C, 40001, S, 53, &dns(2, 0x0100, "lost.example")));
        // 5/6: SERVFAIL after 900 ms (slow: above the 500 ms default).
        p.push(2000, &udp(C, 40002, S, 53, &dns(3, 0x0100, "nx.example")));
        p.push(2900, &udp(S, 53, C, 40002, &dns(3, 0x8182, "nx.example")));
        // 7: mDNS, kept apart.
        p.push(
            3000,
            &udp(C, 5353, [224, 0, 0, 251], 5353, &dns(0, 0x8400, "a.local")),
        );
        let f = p.failures().dns;
        assert_eq!((f.queries, f.responses, f.mdns_messages), (4, 2, 1));
        assert_eq!(f.error_response_frames, 2);
        assert_eq!(f.rcodes.get("3:NXDomain"), Some(&1));
        assert_eq!(f.rcodes.get("2:ServFail"), Some(&1));
        let e = &f.error_responses.instances[0];
        assert_eq!((e.evidence.frame, e.query_frame), (2, Some(1)));
        assert_eq!(
            (e.qname.as_str(), e.server.as_str()),
            ("nx.example", "10.0.0.2")
        );
        assert_eq!(f.unanswered_queries.total, 1);
        assert_eq!(f.query_retransmissions, 1);
        let u = &f.unanswered_queries.instances[0];
        assert_eq!(
            (u.evidence.frame, u.retransmission_frames.clone()),
            (3, vec![4])
        );
        assert_eq!(f.response_times.count, 2);
        assert_eq!(f.response_times.max_ms, 900.0);
        assert_eq!(f.slow_responses.total, 1);
        let top = &f.top_failing_names[0];
        assert_eq!((top.name.as_str(), top.errors), ("nx.example", 2));
        assert_eq!(top.servers, vec!["10.0.0.2".to_string()]);
    }

    #[test]
    fn tcp_messages_packed_and_split_across_segments() {
        let framed = |m: Vec<u8>| {
            let mut v = (m.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(&m);
            v
        };
        let q1 = framed(dns(10, 0x0100, "a.example"));
        let q2 = framed(dns(11, 0x0100, "b.example"));
        let mut both = q1.clone();
        both.extend_from_slice(&q2);
        let r1 = framed(dns(10, 0x8185, "a.example"));
        let r2 = framed(dns(11, 0x8185, "b.example"));
        let mut resp = r1.clone();
        resp.extend_from_slice(&r2);
        let (a, b) = resp.split_at(r1.len() + 5);
        let mut p = Pcap::new();
        p.push(0, &tcp(C, 5000, S, 53, 100, 0, 0x02, &[]));
        p.push(1, &tcp(S, 53, C, 5000, 900, 101, 0x12, &[]));
        p.push(2, &tcp(C, 5000, S, 53, 101, 901, 0x18, &both));
        p.push(
            3,
            &tcp(S, 53, C, 5000, 901, 101 + both.len() as u32, 0x18, a),
        );
        let seq = 901 + a.len() as u32;
        p.push(
            4,
            &tcp(S, 53, C, 5000, seq, 101 + both.len() as u32, 0x18, b),
        );
        let f = p.failures().dns;
        assert_eq!((f.queries, f.responses), (2, 2));
        assert_eq!(f.rcodes.get("5:Refused"), Some(&2));
        // One frame completes the first response, the next one the second.
        assert_eq!(f.error_response_frames, 2);
        let frames: Vec<u64> = f
            .error_responses
            .instances
            .iter()
            .map(|e| e.evidence.frame)
            .collect();
        assert_eq!(frames, vec![4, 5]);
        assert_eq!(f.unanswered_queries.total, 0);
    }

    #[test]
    fn malformed_queries_pair_but_count_as_tshark_shows_them() {
        let mut p = Pcap::new();
        // 1/2: a query whose additional record is missing (malformed), answered.
        let mut q = dns(20, 0x0100, "m.example");
        q[11] = 1;
        p.push(0, &udp(C, 41000, S, 53, &q));
        p.push(5, &udp(S, 53, C, 41000, &dns(20, 0x8180, "m.example")));
        // 3/4: a well-formed query answered by a response cut inside its name.
        p.push(10, &udp(C, 41001, S, 53, &dns(21, 0x0100, "ok.example")));
        let r = dns(21, 0x8180, "ok.example");
        p.push(15, &udp(S, 53, C, 41001, &r[..16]));
        let f = p.failures().dns;
        assert_eq!(f.malformed_messages, 2);
        assert_eq!(f.answered_malformed_queries, 1);
        assert_eq!(f.unanswered_queries.total, 0);
        assert_eq!(f.unmatched_responses, 0);
    }

    #[test]
    fn heuristic_ports_and_captured_fragments() {
        let mut p = Pcap::new();
        // DNS on an unregistered port (tshark's heuristic), never answered.
        p.push(0, &udp(C, 2712, S, 49973, &dns(30, 0x0100, "h.example")));
        // NBNS shares the header layout but port 137 is claimed.
        p.push(1, &udp(C, 137, S, 137, &dns(31, 0x0100, "NB")));
        // A whole first fragment waits for reassembly (never completed).
        let mut u = 40002u16.to_be_bytes().to_vec();
        u.extend_from_slice(&[0, 53, 0, 60, 0, 0]);
        u.extend_from_slice(&dns(32, 0x0100, "f.example"));
        p.push(2, &ipv4_frag(C, S, 17, 0x2000, &u));
        let f = p.failures().dns;
        assert_eq!((f.queries, f.unanswered_queries.total), (1, 1));
        assert_eq!(f.unanswered_queries.instances[0].qname, "h.example");
    }

    #[test]
    fn pending_table_is_bounded() {
        let mut p = Pcap::new();
        for i in 0..50u16 {
            p.push(
                i as u64,
                &udp(C, 40000 + i, S, 53, &dns(i, 0x0100, "q.example")),
            );
        }
        let mut cfg = crate::detect::DetectConfig::default();
        cfg.dns.max_pending = 10;
        let f = p.failures_with(cfg).dns;
        // Shed transactions are given up as unanswered, none is lost from the count.
        assert_eq!(f.unanswered_queries.total, 50);
    }

    #[test]
    fn port_choice_follows_the_lower_port() {
        use super::{udp_kind, DnsKind};
        assert_eq!(udp_kind(53, 5353), Some(DnsKind::Dns));
        assert_eq!(udp_kind(5355, 40000), Some(DnsKind::Llmnr));
        assert_eq!(udp_kind(5353, 5353), Some(DnsKind::Mdns));
        assert_eq!(udp_kind(80, 40000), None);
    }
}
