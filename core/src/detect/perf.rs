//! Performance signs: high retransmission rates, slow TCP handshakes, slow
//! DNS and HTTP responses (thresholds configurable), IP fragmentation.
//!
//! Runs last in [`super::Detectors::finish`], so it reads the DNS and HTTP
//! sections already written (their detectors apply `slow_*_ms` while pairing).
//! The retransmission rate here is a light per-flow estimate (a data segment
//! that brings no new sequence space); the TCP detector has the exact
//! Wireshark-style analysis.

use super::{Counted, DetectConfig, Detector, Evidence, Failures, PacketCtx};
use crate::decode::{tcp_flags, Transport};
use crate::flow::{Flow, FxHashMap};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq)]
pub struct PerfConfig {
    pub slow_dns_ms: f64,
    pub slow_http_ms: f64,
    /// SYN → ACK of the SYN/ACK longer than this is slow.
    pub slow_handshake_ms: f64,
    /// Flows retransmitting more than this share of data segments…
    pub high_retransmission_rate: f64,
    /// …with at least this many data segments.
    pub min_segments_for_rate: u32,
}

impl Default for PerfConfig {
    fn default() -> Self {
        PerfConfig {
            slow_dns_ms: 500.0,
            slow_http_ms: 1000.0,
            slow_handshake_ms: 500.0,
            high_retransmission_rate: 0.05,
            min_segments_for_rate: 20,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlowHandshake {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub handshake_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetransmittingFlow {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub flow_id: u64,
    pub data_segments: u64,
    pub retransmissions: u64,
    pub rate: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FragmentSeen {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub v6: bool,
    pub id: u32,
    pub offset: u32,
    pub more: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct PerfReport {
    pub tcp_data_segments: u64,
    pub tcp_retransmissions_estimate: u64,
    pub retransmission_rate: f64,
    pub high_retransmission_flows: Counted<RetransmittingFlow>,
    pub slow_handshakes: Counted<SlowHandshake>,
    pub slow_dns_responses: u64,
    pub slow_http_responses: u64,
    /// Frames carrying an IPv4 fragment (`ip.flags.mf==1 || ip.frag_offset>0`).
    pub ipv4_fragment_frames: Counted<FragmentSeen>,
    /// Frames carrying a non-atomic IPv6 fragment.
    pub ipv6_fragment_frames: Counted<FragmentSeen>,
}

#[derive(Default)]
struct TcpPerf {
    syn_ts: Option<i64>,
    synack_seen: bool,
    handshake_done: bool,
    next_seq: [Option<u32>; 2],
    segments: u64,
    retrans: u64,
    first_frame: u64,
    first_ts: i64,
    community_id: Box<str>,
}

pub struct PerfDetector {
    cfg: PerfConfig,
    cap: usize,
    report: PerfReport,
    flows: FxHashMap<u64, TcpPerf>,
}

impl PerfDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        PerfDetector {
            cfg: cfg.perf.clone(),
            cap: cfg.max_instances,
            report: PerfReport::default(),
            flows: FxHashMap::default(),
        }
    }

    fn end_flow(&mut self, id: u64, f: TcpPerf) {
        self.report.tcp_data_segments += f.segments;
        self.report.tcp_retransmissions_estimate += f.retrans;
        if f.segments >= self.cfg.min_segments_for_rate as u64 {
            let rate = f.retrans as f64 / f.segments as f64;
            if rate > self.cfg.high_retransmission_rate {
                self.report
                    .high_retransmission_flows
                    .add(self.cap, || RetransmittingFlow {
                        evidence: Evidence::new(f.first_frame, f.first_ts, &f.community_id),
                        flow_id: id,
                        data_segments: f.segments,
                        retransmissions: f.retrans,
                        rate: (rate * 10_000.0).round() / 10_000.0,
                    });
            }
        }
    }
}

impl Detector for PerfDetector {
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        let mut v4 = false;
        let mut v6 = false;
        for l in ctx.packet.ip.iter() {
            let Some(fr) = l.fragment else { continue };
            let is6 = l.src.is_ipv6();
            if (is6 && v6) || (!is6 && v4) {
                continue;
            }
            if is6 {
                v6 = true;
            } else {
                v4 = true;
            }
            let c = if is6 {
                &mut self.report.ipv6_fragment_frames
            } else {
                &mut self.report.ipv4_fragment_frames
            };
            c.add(self.cap, || FragmentSeen {
                evidence: Evidence::new(ctx.frame(), ctx.ts(), ctx.community_id()),
                v6: is6,
                id: fr.id,
                offset: fr.offset,
                more: fr.more,
            });
        }
        let (Some(inner), Some(f)) = (ctx.packet.inner(), ctx.flow.as_ref()) else {
            return;
        };
        let Transport::Tcp(t) = &inner.transport else {
            return;
        };
        let dir = usize::from(!f.from_orig);
        let st = self.flows.entry(f.flow.id).or_insert_with(|| TcpPerf {
            first_frame: ctx.frame(),
            first_ts: ctx.ts(),
            community_id: f.flow.community_id.as_str().into(),
            ..Default::default()
        });
        let syn = t.flags & tcp_flags::SYN != 0;
        let ack = t.flags & tcp_flags::ACK != 0;
        if syn && !ack && st.syn_ts.is_none() {
            st.syn_ts = Some(ctx.ts());
        } else if syn && ack {
            st.synack_seen = true;
        } else if ack && st.synack_seen && !st.handshake_done && f.from_orig {
            st.handshake_done = true;
            if let Some(s) = st.syn_ts {
                let ms = (ctx.ts() - s) as f64 / 1e6;
                if ms > self.cfg.slow_handshake_ms {
                    let ev = Evidence::new(ctx.frame(), ctx.ts(), ctx.community_id());
                    self.report.slow_handshakes.add(self.cap, || SlowHandshake {
                        evidence: ev,
                        handshake_ms: ms,
                    });
                }
            }
        }
        if t.payload_len == 0 {
            if syn {
                st.next_seq[dir] = Some(t.seq.wrapping_add(1));
            }
            return;
        }
        st.segments += 1;
        let end = t.seq.wrapping_add(t.payload_len);
        match st.next_seq[dir] {
            Some(next) if (end.wrapping_sub(next) as i32) <= 0 => {
                // Keep-alives (1 byte just below the next expected) are not retransmissions.
                let keepalive = t.payload_len <= 1 && t.seq.wrapping_add(1) == next;
                if !keepalive {
                    st.retrans += 1;
                }
            }
            _ => st.next_seq[dir] = Some(end),
        }
    }

    fn on_flow_end(&mut self, flow: &Flow) {
        if let Some(f) = self.flows.remove(&flow.id) {
            self.end_flow(flow.id, f);
        }
    }

    fn finish(&mut self, out: &mut Failures) {
        let mut ids: Vec<u64> = self.flows.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(f) = self.flows.remove(&id) {
                self.end_flow(id, f);
            }
        }
        let r = &mut self.report;
        if r.tcp_data_segments > 0 {
            let rate = r.tcp_retransmissions_estimate as f64 / r.tcp_data_segments as f64;
            r.retransmission_rate = (rate * 10_000.0).round() / 10_000.0;
        }
        r.slow_dns_responses = out.dns.slow_responses.total;
        r.slow_http_responses = out.http.slow_responses.total;
        out.performance = std::mem::take(&mut self.report);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testpcap::*;

    #[test]
    fn slow_handshake_retransmissions_and_fragments() {
        let mut p = Pcap::new();
        p.push(0, &tcp(C, 8000, S, 22, 1, 0, 0x02, &[]));
        p.push(700, &tcp(S, 22, C, 8000, 50, 2, 0x12, &[]));
        p.push(701, &tcp(C, 8000, S, 22, 2, 51, 0x10, &[]));
        let mut seq = 2u32;
        for i in 0..20u64 {
            p.push(800 + i, &tcp(C, 8000, S, 22, seq, 51, 0x18, &[0u8; 100]));
            if i % 4 == 0 {
                // Same bytes again: a retransmission.
                p.push(800 + i, &tcp(C, 8000, S, 22, seq, 51, 0x18, &[0u8; 100]));
            }
            seq += 100;
        }
        // A first and a last IPv4 fragment.
        p.push(900, &ipv4_frag(C, S, 17, 0x2000, &[0; 16]));
        p.push(901, &ipv4_frag(C, S, 17, 2, &[0; 16]));
        let f = p.failures().performance;
        assert_eq!(f.slow_handshakes.total, 1);
        assert!((f.slow_handshakes.instances[0].handshake_ms - 701.0).abs() < 0.01);
        assert_eq!(
            (f.tcp_data_segments, f.tcp_retransmissions_estimate),
            (25, 5)
        );
        assert_eq!(f.high_retransmission_flows.total, 1);
        assert_eq!(f.ipv4_fragment_frames.total, 2);
    }

    #[test]
    fn slow_dns_and_http_come_from_their_sections() {
        let mut p = Pcap::new();
        p.push(0, &udp(C, 40000, S, 53, &dns(1, 0x0100, "a.example")));
        p.push(2000, &udp(S, 53, C, 40000, &dns(1, 0x8180, "a.example")));
        let mut cfg = crate::detect::DetectConfig::default();
        cfg.perf.slow_dns_ms = 3000.0;
        assert_eq!(p.failures_with(cfg).performance.slow_dns_responses, 0);
        assert_eq!(p.failures().performance.slow_dns_responses, 1);
    }
}
