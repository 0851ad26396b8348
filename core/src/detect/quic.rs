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
    vn: Option<(u64, i64, Box<str>)>,
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
                    evidence: Evidence::new(*frame, *ts, cid),
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
                    evidence: Evidence::new(ctx.frame(), ctx.ts(), ctx.community_id()),
                    offered,
                });
        }
    }
}

impl Detector for QuicDetector {
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
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
        let id = ctx.flow.as_ref().map(|f| (f.flow.id, f.from_orig));
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
                c.vn = Some((ctx.frame(), ctx.ts(), ctx.community_id().into()));
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
                    evidence: Evidence::new(ctx.frame(), ctx.ts(), ctx.community_id()),
                    offered,
                });
        }
    }

    fn on_flow_end(&mut self, flow: &Flow) {
        if let Some(c) = self.conns.remove(&flow.id) {
            self.end_conn(c);
        }
    }

    fn finish(&mut self, out: &mut Failures) {
        let mut ids: Vec<u64> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(c) = self.conns.remove(&id) {
                self.end_conn(c);
            }
        }
        out.quic = std::mem::take(&mut self.report);
    }
}
