//! TCP failures by Wireshark's definitions: resets, every sequence-analysis
//! flag (from [`crate::flow::tcp_analysis`]), unanswered SYNs, handshake RTT
//! and retransmission rates.
//!
//! Counts follow tshark's display filters: a frame counts once per class;
//! `retransmission` includes fast and spurious retransmissions (as
//! `tcp.analysis.retransmission` does); `resets` counts every frame with
//! `tcp.flags.reset == 1` in any layer, a TCP header quoted in an ICMP error
//! included. Per-connection state lives only while the flow is live.

use super::{Counted, DetectConfig, Detector, Failures, PacketCtx, Segment};
use crate::decode::{tcp_flags, Icmp, IpLayer, Transport};
use crate::flow::tcp_analysis::{flags as fl, TcpPacketAnalysis};
use crate::flow::Flow;
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Options of the TCP detector.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpConfig {
    /// Length of the "slowest handshakes" and "worst flows" lists.
    pub top_n: usize,
    /// Flows with fewer data segments are left out of the per-flow rate list
    /// (one retransmission in three segments is noise, not a finding).
    pub min_segments_for_rate: u64,
    /// Most handshake RTTs kept for the median and p95; beyond it a uniform
    /// sample (count, min, max and slow stay exact). 0: every one (files;
    /// `pcaplens live` keeps 100,000, so memory does not grow for hours).
    pub max_rtt_samples: usize,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            top_n: 10,
            min_segments_for_rate: 10,
            max_rtt_samples: 0,
        }
    }
}

/// One flagged packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TcpEvent {
    pub frame: u64,
    pub ts: f64,
    pub community_id: String,
    pub src: String,
    pub dst: String,
    /// For duplicate ACKs: which duplicate this is (1, 2, …) and the frame it repeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dup_ack_num: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dup_ack_frame: Option<u64>,
}

/// One reset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResetEvent {
    pub frame: u64,
    pub ts: f64,
    pub community_id: String,
    pub src: String,
    pub dst: String,
    /// "originator" or "responder" of the connection.
    pub side: String,
    /// "handshake" (refused: before any SYN/ACK or data) or "established" (aborted).
    pub phase: String,
}

/// Resets (`tcp.flags.reset == 1` frames).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ResetReport {
    /// Frames with a RST in any TCP header (ICMP-quoted ones included).
    pub total: u64,
    /// Of the total, frames whose only RST is a header quoted in an ICMP error.
    pub quoted_in_icmp: u64,
    pub from_originator: u64,
    pub from_responder: u64,
    /// Connection refused: RST before the handshake completed.
    pub refused: u64,
    /// Connection aborted: RST after a SYN/ACK or data.
    pub aborted: u64,
    pub instances: Vec<ResetEvent>,
}

/// A connection whose SYN never got a SYN/ACK (Zeek `S0`-like).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnansweredSyn {
    pub frame: u64,
    pub ts: f64,
    pub community_id: String,
    pub src: String,
    pub dst: String,
    pub syns: u32,
    /// SYNs after the first.
    pub retries: u32,
}

/// One measured handshake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandshakeEvent {
    /// Frame of the ACK that completed the handshake.
    pub frame: u64,
    pub ts: f64,
    pub community_id: String,
    pub src: String,
    pub dst: String,
    /// SYN (the last one sent) → ACK, as Wireshark's iRTT.
    pub rtt_ms: f64,
    /// SYN → SYN/ACK (network + server).
    pub syn_to_synack_ms: f64,
}

/// Handshake round-trip times over every completed handshake.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct HandshakeRtt {
    pub count: u64,
    pub min_ms: Option<f64>,
    pub median_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Handshakes slower than the `slow_handshake_ms` performance threshold.
    pub slow: u64,
    /// Slowest first.
    pub slowest: Vec<HandshakeEvent>,
    /// The median and p95 are of a uniform sample of `max_rtt_samples`
    /// handshakes (only then present).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sampled: bool,
}

/// Retransmissions of one flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowRetransmissions {
    pub community_id: String,
    pub orig: String,
    pub resp: String,
    pub first_frame: u64,
    pub data_segments: u64,
    pub retransmissions: u64,
    pub rate: f64,
}

/// Retransmission rate overall and the worst flows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct RetransmissionRate {
    /// Analysed segments carrying payload (retransmitted ones included).
    pub data_segments: u64,
    pub retransmissions: u64,
    pub rate: f64,
    /// Flows above the `high_retransmission_rate` performance threshold
    /// (with at least `min_segments_for_rate` data segments).
    pub flows_above_threshold: u64,
    /// Highest rate first (flows with at least `min_segments_for_rate` data segments).
    pub worst_flows: Vec<FlowRetransmissions>,
}

/// The TCP part of the failures section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct TcpReport {
    pub resets: ResetReport,
    /// `tcp.analysis.retransmission`: plain, fast and spurious.
    pub retransmission: Counted<TcpEvent>,
    pub fast_retransmission: Counted<TcpEvent>,
    pub spurious_retransmission: Counted<TcpEvent>,
    pub out_of_order: Counted<TcpEvent>,
    pub duplicate_ack: Counted<TcpEvent>,
    pub zero_window: Counted<TcpEvent>,
    pub zero_window_probe: Counted<TcpEvent>,
    pub zero_window_probe_ack: Counted<TcpEvent>,
    pub keep_alive: Counted<TcpEvent>,
    pub keep_alive_ack: Counted<TcpEvent>,
    pub window_full: Counted<TcpEvent>,
    pub window_update: Counted<TcpEvent>,
    /// "Previous segment not captured".
    pub lost_segment: Counted<TcpEvent>,
    /// "ACKed unseen segment".
    pub ack_unseen_segment: Counted<TcpEvent>,
    pub reused_ports: Counted<TcpEvent>,
    /// Connections (tshark streams) with a SYN and no SYN/ACK; frames holding
    /// ICMP are left out, as in the oracle's `tcp_syn_without_synack_streams`.
    pub unanswered_syns: Counted<UnansweredSyn>,
    pub handshake_rtt: HandshakeRtt,
    pub retransmission_rate: RetransmissionRate,
}

/// Per-connection facts kept while the flow is live.
#[derive(Clone, Debug, Default)]
pub(crate) struct Conn {
    syns: u32,
    first_syn_frame: u64,
    first_syn_ts: i64,
    syn_src: Option<(IpAddr, u16, IpAddr, u16)>,
    synack_seen: bool,
    last_syn_ts: Option<i64>,
    synack_ts: Option<i64>,
    handshake_done: bool,
    /// A SYN/ACK or payload was seen: a RST now aborts rather than refuses.
    progressed: bool,
    data_segments: u64,
    retransmissions: u64,
}

#[derive(Clone)]
pub struct TcpDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    cap: usize,
    cfg: TcpConfig,
    report: TcpReport,
    /// Every completed handshake's RTT in ns (one number per connection), or
    /// a uniform sample of them beyond `max_rtt_samples`.
    rtts: Vec<i64>,
    rtt_count: u64,
    rtt_min: Option<i64>,
    rtt_max: Option<i64>,
    rtt_slow: u64,
    rtt_rng: crate::rng::Rng,
    slowest: Vec<(i64, HandshakeEvent)>,
    /// RTT of the last entry kept by the latest trim of `slowest`.
    slowest_floor: Option<i64>,
    unanswered: Vec<UnansweredSyn>,
    /// Once `unanswered` was cut back to the earliest `cap`: the last one's
    /// frame. A later instance at or past it can never be among them (the
    /// sort is stable), so it is not built at all.
    unanswered_floor: Option<u64>,
    worst: Vec<FlowRetransmissions>,
    slow_handshake_ns: i64,
    high_rate: f64,
}

impl TcpDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        TcpDetector {
            out: Default::default(),
            cap: cfg.max_instances,
            cfg: cfg.tcp.clone(),
            report: TcpReport::default(),
            rtts: Vec::new(),
            rtt_count: 0,
            rtt_min: None,
            rtt_max: None,
            rtt_slow: 0,
            // Any fixed seed: the same capture gives the same sample.
            rtt_rng: crate::rng::Rng::derive(0x0052_5454, 0, 0),
            slowest: Vec::new(),
            slowest_floor: None,
            unanswered: Vec::new(),
            unanswered_floor: None,
            worst: Vec::new(),
            slow_handshake_ns: (cfg.perf.slow_handshake_ms * 1e6) as i64,
            high_rate: cfg.perf.high_retransmission_rate,
        }
    }
}

fn endpoint(addr: IpAddr, port: u16) -> String {
    crate::decode::endpoint(addr, Some(port))
}

/// TCP flags of a header quoted in an ICMP error, when enough of it is there
/// for tshark to show them (16 bytes: it reads up to the window first).
fn quoted_tcp_flags(icmp: &Icmp<'_>) -> Option<u8> {
    let q = icmp.quoted()?;
    let tcp = match q.first()? >> 4 {
        4 => {
            let ihl = (q[0] & 0x0f) as usize * 4;
            if q.len() < 20 || ihl < 20 || q[9] != 6 {
                return None;
            }
            q.get(ihl..)?
        }
        6 => {
            if q.len() < 40 || q[6] != 6 {
                return None;
            }
            &q[40..]
        }
        _ => return None,
    };
    if tcp.len() < 16 || (tcp[12] >> 4) < 5 {
        return None;
    }
    Some(tcp[13])
}

/// Some ICMP error of the frame quotes a TCP header with RST set.
fn quotes_reset(ctx: &PacketCtx<'_, '_>) -> bool {
    ctx.packet.ip.iter().any(|layer| match &layer.transport {
        Transport::Icmp(i) => quoted_tcp_flags(i).is_some_and(|f| f & tcp_flags::RST != 0),
        _ => false,
    })
}

/// Ratio rounded to 6 decimals (stable JSON).
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        ((a as f64 / b as f64) * 1e6).round() / 1e6
    }
}

fn ms(nanos: i64) -> f64 {
    (nanos as f64 / 1e3).round() / 1e3
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl TcpDetector {
    fn flag_lists(r: &mut TcpReport) -> [(u32, &'static str, &mut Counted<TcpEvent>); 14] {
        [
            (
                fl::FAST_RETRANSMISSION,
                "tcp.fast_retransmission",
                &mut r.fast_retransmission,
            ),
            (
                fl::SPURIOUS_RETRANSMISSION,
                "tcp.spurious_retransmission",
                &mut r.spurious_retransmission,
            ),
            (fl::OUT_OF_ORDER, "tcp.out_of_order", &mut r.out_of_order),
            (fl::DUPLICATE_ACK, "tcp.duplicate_ack", &mut r.duplicate_ack),
            (fl::ZERO_WINDOW, "tcp.zero_window", &mut r.zero_window),
            (
                fl::ZERO_WINDOW_PROBE,
                "tcp.zero_window_probe",
                &mut r.zero_window_probe,
            ),
            (
                fl::ZERO_WINDOW_PROBE_ACK,
                "tcp.zero_window_probe_ack",
                &mut r.zero_window_probe_ack,
            ),
            (fl::KEEP_ALIVE, "tcp.keep_alive", &mut r.keep_alive),
            (
                fl::KEEP_ALIVE_ACK,
                "tcp.keep_alive_ack",
                &mut r.keep_alive_ack,
            ),
            (fl::WINDOW_FULL, "tcp.window_full", &mut r.window_full),
            (fl::WINDOW_UPDATE, "tcp.window_update", &mut r.window_update),
            (fl::LOST_PACKET, "tcp.lost_segment", &mut r.lost_segment),
            (
                fl::ACK_LOST_PACKET,
                "tcp.ack_unseen_segment",
                &mut r.ack_unseen_segment,
            ),
            (fl::REUSED_PORTS, "tcp.reused_ports", &mut r.reused_ports),
        ]
    }

    /// Only for segments with an analysis flag (a minority): kept out of
    /// line so the common path stays small.
    #[inline(never)]
    fn count_flags(&mut self, ctx: &PacketCtx<'_, '_>, layer: &IpLayer<'_>, a: TcpPacketAnalysis) {
        let cap = self.cap;
        let Transport::Tcp(t) = &layer.transport else {
            return;
        };
        let make = || TcpEvent {
            frame: ctx.frame(),
            ts: ts_secs(ctx.ts()),
            community_id: ctx.community_id(),
            src: endpoint(layer.src, t.src_port),
            dst: endpoint(layer.dst, t.dst_port),
            dup_ack_num: None,
            dup_ack_frame: None,
        };
        if a.is_retransmission() {
            self.out.count(
                "tcp.retransmission",
                &mut self.report.retransmission,
                cap,
                make,
            );
        }
        for (bit, class, list) in Self::flag_lists(&mut self.report) {
            if a.flags & bit != 0 {
                self.out.count(class, list, cap, || {
                    let mut e = make();
                    if bit == fl::DUPLICATE_ACK {
                        e.dup_ack_num = Some(a.dup_ack_num);
                        e.dup_ack_frame = Some(a.dup_ack_frame);
                    }
                    e
                });
            }
        }
    }

    fn trim_lists(&mut self) {
        let n = self.cfg.top_n.max(1);
        if self.slowest.len() > 4 * n {
            self.slowest
                .sort_by(|a, b| b.0.cmp(&a.0).then(a.1.frame.cmp(&b.1.frame)));
            self.slowest.truncate(n);
            self.slowest_floor = self.slowest.last().map(|e| e.0);
        }
        if self.worst.len() > 4 * n {
            sort_worst(&mut self.worst);
            self.worst.truncate(n);
        }
        if self.unanswered.len() > 4 * self.cap.max(1) {
            self.unanswered.sort_by_key(|u| u.frame);
            self.unanswered.truncate(self.cap);
            self.unanswered_floor = self.unanswered.last().map(|u| u.frame);
        }
    }
}

fn sort_worst(v: &mut [FlowRetransmissions]) {
    v.sort_by(|a, b| {
        b.rate
            .total_cmp(&a.rate)
            .then(b.retransmissions.cmp(&a.retransmissions))
            .then(a.first_frame.cmp(&b.first_frame))
    });
}

impl Detector for TcpDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    /// Resets: any TCP header of the frame, quoted ones included. Inlined:
    /// the ICMP quote is read only when the frame has ICMP.
    #[inline]
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        let mut rst_real = false;
        let mut icmp = false;
        for layer in &ctx.packet.ip {
            match &layer.transport {
                Transport::Tcp(t) => rst_real |= t.flags & tcp_flags::RST != 0,
                Transport::Icmp(_) => icmp = true,
                _ => {}
            }
        }
        if rst_real {
            self.report.resets.total += 1;
        } else if icmp && quotes_reset(ctx) {
            self.report.resets.total += 1;
            self.report.resets.quoted_in_icmp += 1;
        }
    }

    fn finish(&mut self, out: &mut Failures) {
        let mut report = std::mem::take(&mut self.report);
        let n = self.cfg.top_n;

        self.unanswered.sort_by_key(|u| u.frame);
        self.unanswered.truncate(self.cap);
        report.unanswered_syns.instances = std::mem::take(&mut self.unanswered);

        self.rtts.sort_unstable();
        let h = &mut report.handshake_rtt;
        h.count = self.rtt_count;
        h.min_ms = self.rtt_min.map(ms);
        h.max_ms = self.rtt_max.map(ms);
        h.median_ms = percentile(&self.rtts, 50.0).map(ms);
        h.p95_ms = percentile(&self.rtts, 95.0).map(ms);
        h.slow = self.rtt_slow;
        h.sampled = self.rtt_count > self.rtts.len() as u64;
        self.slowest
            .sort_by(|a, b| b.0.cmp(&a.0).then(a.1.frame.cmp(&b.1.frame)));
        self.slowest.truncate(n);
        h.slowest = self.slowest.drain(..).map(|(_, e)| e).collect();

        let r = &mut report.retransmission_rate;
        r.rate = ratio(r.retransmissions, r.data_segments);
        sort_worst(&mut self.worst);
        self.worst.truncate(n);
        r.worst_flows = std::mem::take(&mut self.worst);

        out.tcp = report;
    }
}

impl TcpDetector {
    /// One handshake's RTT: exact count, extremes and slow count; kept for
    /// the percentiles (Algorithm R beyond `max_rtt_samples`).
    fn add_rtt(&mut self, rtt: i64) {
        self.rtt_count += 1;
        self.rtt_min = Some(self.rtt_min.map_or(rtt, |m| m.min(rtt)));
        self.rtt_max = Some(self.rtt_max.map_or(rtt, |m| m.max(rtt)));
        if rtt > self.slow_handshake_ns {
            self.rtt_slow += 1;
        }
        let cap = self.cfg.max_rtt_samples;
        if cap == 0 || self.rtts.len() < cap {
            self.rtts.push(rtt);
        } else {
            let j = self.rtt_rng.below(self.rtt_count) as usize;
            if j < cap {
                self.rtts[j] = rtt;
            }
        }
    }

    /// A segment of a live flow, with the flow's connection state.
    #[inline]
    pub(crate) fn on_segment(
        &mut self,
        ctx: &PacketCtx<'_, '_>,
        seg: &Segment<'_, '_>,
        conn: &mut Conn,
    ) {
        let (fctx, layer, t) = (seg.flow, seg.layer, seg.tcp);
        let pkt = ctx.packet;
        let a = fctx.tcp;
        if a.flags != 0 {
            self.count_flags(ctx, layer, a);
        }

        let syn_ack = t.flags & (tcp_flags::SYN | tcp_flags::ACK);
        let ts = ctx.ts();
        // Frames holding ICMP do not count for the SYN/SYN-ACK tally (asked
        // only of SYNs: the protocol list is a string search).
        let has_icmp = || pkt.protocols.iter().any(|p| *p == "icmp" || *p == "icmpv6");
        if syn_ack == tcp_flags::SYN && !has_icmp() {
            if conn.syns == 0 {
                conn.first_syn_frame = ctx.frame();
                conn.first_syn_ts = ts;
                conn.syn_src = Some((layer.src, t.src_port, layer.dst, t.dst_port));
            }
            conn.syns += 1;
        } else if syn_ack == tcp_flags::SYN | tcp_flags::ACK && !has_icmp() {
            conn.synack_seen = true;
        }
        // Handshake timing: last SYN from the originator, the SYN/ACK after
        // it, then the originator's first pure ACK.
        let mut grew_slowest = false;
        if syn_ack == tcp_flags::SYN && fctx.from_orig && conn.synack_ts.is_none() {
            conn.last_syn_ts = Some(ts);
        } else if syn_ack == tcp_flags::SYN | tcp_flags::ACK && !fctx.from_orig {
            if conn.last_syn_ts.is_some() && conn.synack_ts.is_none() {
                conn.synack_ts = Some(ts);
            }
        } else if syn_ack == tcp_flags::ACK && fctx.from_orig && !conn.handshake_done {
            if let (Some(syn), Some(synack)) = (conn.last_syn_ts, conn.synack_ts) {
                conn.handshake_done = true;
                let rtt = ts - syn;
                self.add_rtt(rtt);
                // A handshake no slower than the slowest list's last entry
                // cannot enter it (ties go to the earlier frame): skip
                // building its strings.
                let may_enter = self.slowest_floor.is_none_or(|floor| rtt > floor);
                if may_enter {
                    self.slowest.push((
                        rtt,
                        HandshakeEvent {
                            frame: ctx.frame(),
                            ts: ts_secs(ts),
                            community_id: ctx.community_id(),
                            src: endpoint(layer.src, t.src_port),
                            dst: endpoint(layer.dst, t.dst_port),
                            rtt_ms: ms(rtt),
                            syn_to_synack_ms: ms(synack - syn),
                        },
                    ));
                    grew_slowest = true;
                }
            }
        }

        if t.flags & tcp_flags::RST != 0 {
            let refused = !conn.progressed;
            let r = &mut self.report.resets;
            if fctx.from_orig {
                r.from_originator += 1;
            } else {
                r.from_responder += 1;
            }
            if refused {
                r.refused += 1;
            } else {
                r.aborted += 1;
            }
            if r.instances.len() < self.cap {
                r.instances.push(ResetEvent {
                    frame: ctx.frame(),
                    ts: ts_secs(ts),
                    community_id: ctx.community_id(),
                    src: endpoint(layer.src, t.src_port),
                    dst: endpoint(layer.dst, t.dst_port),
                    side: if fctx.from_orig {
                        "originator"
                    } else {
                        "responder"
                    }
                    .to_string(),
                    phase: if refused { "handshake" } else { "established" }.to_string(),
                });
            }
        }
        if syn_ack == tcp_flags::SYN | tcp_flags::ACK || t.payload_len > 0 {
            conn.progressed = true;
        }
        if a.analysed && t.payload_len > 0 {
            conn.data_segments += 1;
            self.report.retransmission_rate.data_segments += 1;
        }
        if a.is_retransmission() {
            conn.retransmissions += 1;
            self.report.retransmission_rate.retransmissions += 1;
        }
        // The only list a packet grows (the others grow at flow end).
        if grew_slowest {
            self.trim_lists();
        }
    }

    /// The connection of a flow that ended.
    pub(crate) fn end_conn(&mut self, flow: &Flow, conn: Conn) {
        if conn.syns > 0 && !conn.synack_seen {
            let cap = self.cap;
            self.report.unanswered_syns.total += 1;
            let (s, sp, d, dp) = conn.syn_src.unwrap_or((
                flow.orig_addr,
                flow.orig_port,
                flow.resp_addr,
                flow.resp_port,
            ));
            let kept = self
                .unanswered_floor
                .is_none_or(|floor| conn.first_syn_frame < floor);
            if cap > 0 && kept {
                self.unanswered.push(UnansweredSyn {
                    frame: conn.first_syn_frame,
                    ts: ts_secs(conn.first_syn_ts),
                    community_id: flow.community_id().to_string(),
                    src: endpoint(s, sp),
                    dst: endpoint(d, dp),
                    syns: conn.syns,
                    retries: conn.syns - 1,
                });
            }
        }
        if conn.data_segments >= self.cfg.min_segments_for_rate
            && ratio(conn.retransmissions, conn.data_segments) > self.high_rate
        {
            self.report.retransmission_rate.flows_above_threshold += 1;
        }
        if conn.data_segments >= self.cfg.min_segments_for_rate && conn.retransmissions > 0 {
            self.worst.push(FlowRetransmissions {
                community_id: flow.community_id().to_string(),
                orig: endpoint(flow.orig_addr, flow.orig_port),
                resp: endpoint(flow.resp_addr, flow.resp_port),
                first_frame: flow.first_frame,
                data_segments: conn.data_segments,
                retransmissions: conn.retransmissions,
                rate: ratio(conn.retransmissions, conn.data_segments),
            });
        }
        self.trim_lists();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&v, 50.0), Some(10));
        assert_eq!(percentile(&v, 95.0), Some(19));
        assert_eq!(percentile(&[7], 95.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn quoted_tcp_flags_need_sixteen_bytes() {
        let mut quoted = vec![
            0x45u8, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        quoted.extend_from_slice(&[0, 80, 0x30, 0x39, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x14, 0, 0]);
        let mut body = vec![0u8; 4];
        body.extend_from_slice(&quoted);
        let icmp = Icmp {
            v6: false,
            icmp_type: 3,
            code: 3,
            body: &body,
        };
        assert_eq!(quoted_tcp_flags(&icmp), Some(0x14));
        let short = Icmp {
            body: &body[..4 + 20 + 8],
            ..icmp
        };
        assert_eq!(quoted_tcp_flags(&short), None);
    }
}
