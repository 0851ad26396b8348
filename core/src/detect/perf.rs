//! Performance signs: high retransmission rates, slow TCP handshakes, slow
//! DNS and HTTP responses (thresholds configurable), IP fragmentation.
//!
//! Runs last in [`super::Detectors::finish`] and reads the TCP, DNS and HTTP
//! sections already written: the TCP detector applies the handshake and
//! retransmission thresholds during its exact Wireshark-style analysis, the
//! DNS and HTTP detectors apply `slow_*_ms` while pairing. Only IP fragments
//! are counted here, per packet.

use super::{Counted, DetectConfig, Detector, Evidence, Failures, PacketCtx};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerfConfig {
    pub slow_dns_ms: f64,
    pub slow_http_ms: f64,
    /// SYN → ACK of the SYN/ACK longer than this is slow.
    pub slow_handshake_ms: f64,
    /// Flows retransmitting more than this share of data segments…
    pub high_retransmission_rate: f64,
}

impl Default for PerfConfig {
    fn default() -> Self {
        PerfConfig {
            slow_dns_ms: 500.0,
            slow_http_ms: 1000.0,
            slow_handshake_ms: 500.0,
            high_retransmission_rate: 0.05,
        }
    }
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
    /// Data segments and retransmissions over all TCP flows (Wireshark's definition).
    pub tcp_data_segments: u64,
    pub tcp_retransmissions: u64,
    pub retransmission_rate: f64,
    /// Flows above `high_retransmission_rate`: total, and the worst flows as listed
    /// in `failures.tcp.retransmission_rate.worst_flows`.
    pub high_retransmission_flows: Counted<crate::detect::tcp::FlowRetransmissions>,
    /// Handshakes slower than `slow_handshake_ms`: total, and the slowest.
    pub slow_handshakes: Counted<crate::detect::tcp::HandshakeEvent>,
    pub slow_dns_responses: u64,
    pub slow_http_responses: u64,
    /// Frames carrying an IPv4 fragment (`ip.flags.mf==1 || ip.frag_offset>0`).
    pub ipv4_fragment_frames: Counted<FragmentSeen>,
    /// Frames carrying a non-atomic IPv6 fragment.
    pub ipv6_fragment_frames: Counted<FragmentSeen>,
}

#[derive(Clone)]
pub struct PerfDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    cfg: PerfConfig,
    cap: usize,
    report: PerfReport,
}

impl PerfDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        PerfDetector {
            out: Default::default(),
            cfg: cfg.perf.clone(),
            cap: cfg.max_instances,
            report: PerfReport::default(),
        }
    }

    /// A frame with IP fragments: counted once per IP version.
    fn count_fragments(&mut self, ctx: &PacketCtx<'_, '_>) {
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
            let (class, c) = if is6 {
                (
                    "performance.ipv6_fragment_frames",
                    &mut self.report.ipv6_fragment_frames,
                )
            } else {
                (
                    "performance.ipv4_fragment_frames",
                    &mut self.report.ipv4_fragment_frames,
                )
            };
            self.out.count(class, c, self.cap, || FragmentSeen {
                evidence: Evidence::new(ctx.frame(), ctx.ts(), &ctx.community_id()),
                v6: is6,
                id: fr.id,
                offset: fr.offset,
                more: fr.more,
            });
        }
    }
}

impl Detector for PerfDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    /// Inlined check: packets without a fragment (nearly all) stop here.
    #[inline]
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        if ctx.packet.ip.iter().any(|l| l.fragment.is_some()) {
            self.count_fragments(ctx);
        }
    }

    fn finish(&mut self, out: &mut Failures) {
        let r = &mut self.report;
        let rate = &out.tcp.retransmission_rate;
        r.tcp_data_segments = rate.data_segments;
        r.tcp_retransmissions = rate.retransmissions;
        r.retransmission_rate = rate.rate;
        r.high_retransmission_flows = Counted {
            total: rate.flows_above_threshold,
            instances: rate
                .worst_flows
                .iter()
                .filter(|f| f.rate > self.cfg.high_retransmission_rate)
                .take(self.cap)
                .cloned()
                .collect(),
        };
        let h = &out.tcp.handshake_rtt;
        r.slow_handshakes = Counted {
            total: h.slow,
            instances: h
                .slowest
                .iter()
                .filter(|e| e.rtt_ms > self.cfg.slow_handshake_ms)
                .take(self.cap)
                .cloned()
                .collect(),
        };
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
                // Same bytes again, much later: a retransmission.
                p.push(800 + i, &tcp(C, 8000, S, 22, seq, 51, 0x18, &[0u8; 100]));
            }
            seq += 100;
        }
        // A first and a last IPv4 fragment.
        p.push(900, &ipv4_frag(C, S, 17, 0x2000, &[0; 16]));
        p.push(901, &ipv4_frag(C, S, 17, 2, &[0; 16]));
        let f = p.failures().performance;
        assert_eq!(f.slow_handshakes.total, 1);
        assert!((f.slow_handshakes.instances[0].rtt_ms - 701.0).abs() < 0.01);
        assert_eq!((f.tcp_data_segments, f.tcp_retransmissions), (25, 5));
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
