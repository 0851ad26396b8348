//! QUIC: long-header versions, version negotiation packets, and connections
//! that fail after a version negotiation (the server never answers the
//! client's retry with any handshake packet).
//!
//! A datagram is QUIC when it passes the same long-header heuristic the
//! decoder uses (tshark also finds QUIC by heuristic, not by port). Versions
//! are counted once per coalesced long-header packet, like `quic.version`.

use super::icmp::quoted_udp_payload;
use super::{Counted, DetectConfig, Detector, Evidence, Failures, PacketCtx};
use crate::decode::app::looks_like_quic;
use crate::decode::quic::{long_headers, negotiated_versions};
use crate::decode::{Icmp, Transport};
use crate::flow::CommunityIdSource;
use crate::flow::{Flow, FxHashMap};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Default)]
pub struct QuicConfig {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionNegotiation {
    #[serde(flatten)]
    pub evidence: Evidence,
    /// Versions the server offered, as `0x%08x`.
    pub offered: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailedAfterVn {
    #[serde(flatten)]
    pub evidence: Evidence,
    /// Frame of the (last) version negotiation packet.
    pub vn_frame: u64,
    /// Versions the client tried, as `0x%08x`.
    pub client_versions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct QuicReport {
    /// `0x%08x` → long-header packets.
    pub versions: BTreeMap<String, u64>,
    /// Frames holding a version negotiation packet (`quic.version==0`).
    pub version_negotiation: Counted<VersionNegotiation>,
    /// Connections that saw a version negotiation and never got a handshake
    /// packet from the server afterwards.
    pub failed_after_version_negotiation: Counted<FailedAfterVn>,
}

#[derive(Default)]
struct Conn {
    vn: Option<(u64, i64, Option<CommunityIdSource>)>,
    server_progress_after_vn: bool,
    client_versions: Vec<u32>,
}

pub struct QuicDetector {
    cap: usize,
    report: QuicReport,
    conns: FxHashMap<u64, Conn>,
}

fn hex(v: u32) -> String {
    format!("0x{v:08x}")
}

impl QuicDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        QuicDetector {
            cap: cfg.max_instances,
            report: QuicReport::default(),
            conns: FxHashMap::default(),
        }
    }

    fn end_conn(&mut self, c: Conn) {
        if let (Some((frame, ts, cid)), false) = (&c.vn, c.server_progress_after_vn) {
            self.report
                .failed_after_version_negotiation
                .add(self.cap, || FailedAfterVn {
                    evidence: Evidence::new(
                        *frame,
                        *ts,
                        cid.map(|c| c.id()).as_deref().unwrap_or(""),
                    ),
                    vn_frame: *frame,
                    client_versions: c.client_versions.iter().map(|&v| hex(v)).collect(),
                });
        }
    }
}

impl QuicDetector {
    /// A version negotiation quoted in an ICMP error still matches
    /// `quic.version==0` in tshark (any layer counts).
    fn on_quoted(&mut self, ctx: &PacketCtx<'_, '_>, icmp: &Icmp<'_>) {
        let Some(p) = icmp.quoted().and_then(quoted_udp_payload) else {
            return;
        };
        if !looks_like_quic(p) {
            return;
        }
        let mut vn = false;
        for h in long_headers(p) {
            *self.report.versions.entry(hex(h.version)).or_default() += 1;
            vn |= h.is_version_negotiation();
        }
        if vn {
            let offered = long_headers(p)
                .find(|h| h.is_version_negotiation())
                .map(|h| negotiated_versions(p, &h).map(hex).collect())
                .unwrap_or_default();
            self.report
                .version_negotiation
                .add(self.cap, || VersionNegotiation {
                    evidence: Evidence::new(ctx.frame(), ctx.ts(), &ctx.community_id()),
                    offered,
                });
        }
    }

    /// A UDP datagram or an ICMP message (which may quote one).
    fn on_datagram(&mut self, ctx: &PacketCtx<'_, '_>) {
        let Some(inner) = ctx.packet.inner() else {
            return;
        };
        let u = match &inner.transport {
            Transport::Udp(u) => u,
            Transport::Icmp(icmp) => {
                self.on_quoted(ctx, icmp);
                return;
            }
            _ => return,
        };
        let id = ctx.flow.map(|f| (f.flow.id, f.from_orig));
        let p = u.payload;
        let known = id.is_some_and(|(i, _)| self.conns.contains_key(&i));
        if !looks_like_quic(p) {
            // Short-header packets of a known connection still show progress.
            if let (true, Some((i, false))) = (known, id) {
                if let Some(c) = self.conns.get_mut(&i) {
                    if c.vn.is_some() && p.first().is_some_and(|b| b & 0xC0 == 0x40) {
                        c.server_progress_after_vn = true;
                    }
                }
            }
            return;
        }
        let mut vn_here = None;
        for h in long_headers(p) {
            *self.report.versions.entry(hex(h.version)).or_default() += 1;
            if h.is_version_negotiation() {
                vn_here = Some(negotiated_versions(p, &h).map(hex).collect::<Vec<_>>());
            }
            let Some((i, from_orig)) = id else {
                continue;
            };
            let c = self.conns.entry(i).or_default();
            if h.is_version_negotiation() {
                c.vn = Some((ctx.frame(), ctx.ts(), ctx.community_id_source()));
                c.server_progress_after_vn = false;
            } else if from_orig {
                if !c.client_versions.contains(&h.version) && c.client_versions.len() < 8 {
                    c.client_versions.push(h.version);
                }
            } else if c.vn.is_some() {
                c.server_progress_after_vn = true;
            }
        }
        if let Some(offered) = vn_here {
            self.report
                .version_negotiation
                .add(self.cap, || VersionNegotiation {
                    evidence: Evidence::new(ctx.frame(), ctx.ts(), &ctx.community_id()),
                    offered,
                });
        }
    }
}

impl Detector for QuicDetector {
    /// Inlined check: TCP segments (most packets) stop here.
    #[inline]
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        if ctx
            .packet
            .inner()
            .is_some_and(|l| matches!(l.transport, Transport::Udp(_) | Transport::Icmp(_)))
        {
            self.on_datagram(ctx);
        }
    }

    fn on_flow_end(&mut self, flow: &Flow) {
        if let Some(c) = self.conns.remove(&flow.id) {
            self.end_conn(c);
        }
    }

    fn finish(&mut self, out: &mut Failures) {
        for c in super::take_in_id_order(&mut self.conns) {
            self.end_conn(c);
        }
        out.quic = std::mem::take(&mut self.report);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testpcap::*;

    fn initial(version: u32) -> Vec<u8> {
        let mut p = vec![0xc0];
        p.extend_from_slice(&version.to_be_bytes());
        p.extend_from_slice(&[8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0x44, 0xd0]);
        p.resize(1200, 0);
        p
    }

    fn vn(offered: &[u32]) -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        for v in offered {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p
    }

    #[test]
    fn version_negotiation_then_silence_is_a_failure() {
        let mut p = Pcap::new();
        // Connection A: VN, the client never retries with a supported version.
        p.push(0, &udp(C, 50000, S, 443, &initial(0x1a2a_3a4a)));
        p.push(10, &udp(S, 443, C, 50000, &vn(&[1, 0x6b33_43cf])));
        // Connection B: VN, then a v1 Initial and a server Handshake: it worked.
        p.push(20, &udp(C, 50001, S, 443, &initial(0x0a0a_0a0a)));
        p.push(30, &udp(S, 443, C, 50001, &vn(&[1])));
        p.push(40, &udp(C, 50001, S, 443, &initial(1)));
        let mut hs = vec![0xe0, 0, 0, 0, 1, 0, 0, 0x40, 0x10];
        hs.resize(0x13, 0);
        p.push(50, &udp(S, 443, C, 50001, &hs));
        // A VN quoted in an ICMP port unreachable counts as well (any layer).
        let quoted = udp(S, 443, C, 50002, &vn(&[1]));
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        p.push(60, &ipv4(C, S, 1, &icmp));
        let f = p.failures().quic;
        assert_eq!(f.version_negotiation.total, 3);
        assert_eq!(
            f.version_negotiation.instances[0].offered,
            vec!["0x00000001", "0x6b3343cf"]
        );
        assert_eq!(f.versions.get("0x00000000"), Some(&3));
        assert_eq!(f.versions.get("0x00000001"), Some(&2));
        assert_eq!(f.failed_after_version_negotiation.total, 1);
        let fail = &f.failed_after_version_negotiation.instances[0];
        assert_eq!(fail.vn_frame, 2);
        assert_eq!(fail.client_versions, vec!["0x1a2a3a4a"]);
    }
}
