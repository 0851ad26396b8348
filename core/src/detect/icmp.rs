//! ICMP and ICMPv6 destination unreachable, tied back to the flow they report on.
//!
//! Counted like tshark's `icmp.type==3` / `icmpv6.type==1`: one per frame,
//! at any IP layer (tunnels included); the code breakdown uses the first such
//! header of the frame. The quoted packet's 5-tuple gives the Community ID of
//! the flow it reports on, and the id of that flow when pcaplens saw it.

use super::{Counted, DetectConfig, Detector, Evidence, Failures, PacketCtx};
use crate::decode::{Icmp, Transport};
use crate::flow::{community_id_v1, Flow, FlowKey, FxHashMap};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IcmpConfig {
    /// Most live flows remembered for tying quoted packets back (memory bound).
    pub max_tracked_flows: usize,
}

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig {
            max_tracked_flows: 262_144,
        }
    }
}

/// The packet quoted inside an ICMP error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuotedFlow {
    pub proto: u8,
    pub src: String,
    pub dst: String,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Community ID of the quoted 5-tuple (the flow the error reports on).
    pub community_id: String,
    /// pcaplens flow id of that flow, when it was seen in the capture.
    pub flow_id: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unreachable {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub v6: bool,
    pub code: u8,
    pub code_name: String,
    /// Who sent the error (router or host).
    pub reporter: String,
    pub quoted: Option<QuotedFlow>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct IcmpReport {
    /// Frames with an ICMP type 3 (destination unreachable).
    pub unreachable_v4: Counted<Unreachable>,
    /// Frames with an ICMPv6 type 1 (destination unreachable).
    pub unreachable_v6: Counted<Unreachable>,
    /// `"<code>:<name>"` → frames, by the first such header of each frame.
    pub v4_codes: BTreeMap<String, u64>,
    pub v6_codes: BTreeMap<String, u64>,
}

/// Names as in the corpus oracle's `icmp_dest_unreach_codes` for every code it
/// names (0-5, 9, 10, 13), so the `v4_codes` keys are the same.
pub fn v4_code_name(code: u8) -> &'static str {
    match code {
        0 => "net",
        1 => "host",
        2 => "protocol",
        3 => "port",
        4 => "frag-needed",
        5 => "src-route-failed",
        6 => "net-unknown",
        7 => "host-unknown",
        8 => "host-isolated",
        9 => "net-prohibited",
        10 => "host-prohibited",
        11 => "net-tos",
        12 => "host-tos",
        13 => "admin-prohibited",
        14 => "host-precedence-violation",
        15 => "precedence-cutoff",
        _ => "unknown",
    }
}

pub fn v6_code_name(code: u8) -> &'static str {
    match code {
        0 => "no-route",
        1 => "admin-prohibited",
        2 => "beyond-scope",
        3 => "address-unreachable",
        4 => "port-unreachable",
        5 => "source-policy-failed",
        6 => "reject-route",
        7 => "source-routing-header-error",
        _ => "unknown",
    }
}

/// (protocol, source, destination, ports or ICMP type/code) of a quoted packet.
pub type QuotedTuple = (u8, IpAddr, IpAddr, Option<(u16, u16)>);

/// Parse the quoted IP header and the first 4 bytes of its transport.
pub fn parse_quoted(b: &[u8]) -> Option<QuotedTuple> {
    let first = *b.first()?;
    let (proto, src, dst, l4) = match first >> 4 {
        4 => {
            let ihl = (first & 0xF) as usize * 4;
            if ihl < 20 || b.len() < 20 {
                return None;
            }
            let src = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
            let dst = Ipv4Addr::new(b[16], b[17], b[18], b[19]);
            // Later fragments carry no transport header.
            let frag_off = u16::from_be_bytes([b[6], b[7]]) & 0x1FFF;
            let l4 = if frag_off == 0 { b.get(ihl..) } else { None };
            (b[9], IpAddr::V4(src), IpAddr::V4(dst), l4)
        }
        6 => {
            if b.len() < 40 {
                return None;
            }
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&b[8..24]);
            d.copy_from_slice(&b[24..40]);
            (
                b[6],
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                b.get(40..),
            )
        }
        _ => return None,
    };
    let ports = match (proto, l4) {
        (6 | 17 | 132, Some(l)) if l.len() >= 4 => Some((
            u16::from_be_bytes([l[0], l[1]]),
            u16::from_be_bytes([l[2], l[3]]),
        )),
        (1 | 58, Some(l)) if l.len() >= 2 => Some((l[0] as u16, l[1] as u16)),
        _ => None,
    };
    Some((proto, src, dst, ports))
}

/// The echo id of an ICMP/ICMPv6 echo request or reply quoted in an ICMP error.
pub fn quoted_echo_id(b: &[u8]) -> Option<u16> {
    let first = *b.first()?;
    let (proto, l4) = match first >> 4 {
        4 => {
            let ihl = (first & 0xF) as usize * 4;
            let frag_off = u16::from_be_bytes([*b.get(6)?, *b.get(7)?]) & 0x1FFF;
            if frag_off != 0 || ihl < 20 {
                return None;
            }
            (*b.get(9)?, b.get(ihl..)?)
        }
        6 => (*b.get(6)?, b.get(40..)?),
        _ => return None,
    };
    let echo = match proto {
        1 => matches!(l4.first(), Some(0 | 8)),
        58 => matches!(l4.first(), Some(128 | 129)),
        _ => false,
    };
    echo.then(|| Some(u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?])))?
}

/// The UDP payload of a packet quoted in an ICMP error (usually cut short).
pub fn quoted_udp_payload(b: &[u8]) -> Option<&[u8]> {
    let first = *b.first()?;
    let l4 = match first >> 4 {
        4 => {
            let ihl = (first & 0xF) as usize * 4;
            let frag_off = u16::from_be_bytes([*b.get(6)?, *b.get(7)?]) & 0x1FFF;
            if *b.get(9)? != 17 || frag_off != 0 || ihl < 20 {
                return None;
            }
            b.get(ihl..)?
        }
        6 if *b.get(6)? == 17 => b.get(40..)?,
        _ => return None,
    };
    l4.get(8..)
}

#[derive(Clone)]
pub struct IcmpDetector {
    cfg: IcmpConfig,
    cap: usize,
    report: IcmpReport,
    flows: FxHashMap<FlowKey, u64>,
}

impl IcmpDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        IcmpDetector {
            cfg: cfg.icmp.clone(),
            cap: cfg.max_instances,
            report: IcmpReport::default(),
            flows: FxHashMap::default(),
        }
    }

    fn quoted(&self, icmp: &Icmp<'_>) -> Option<QuotedFlow> {
        let (proto, src, dst, ports) = parse_quoted(icmp.quoted()?)?;
        let community_id = community_id_v1(0, src, dst, proto, ports);
        let (sp, dp) = ports.unzip();
        let key = match ports {
            Some((a, b)) if proto != 1 && proto != 58 => Some((a, b)),
            // ICMP flows are keyed by echo id (0 for other messages), as the
            // flow table does: an error about a ping finds the ping's flow.
            Some(_) => {
                let id = quoted_echo_id(icmp.quoted()?).unwrap_or(0);
                Some((id, id))
            }
            None => None,
        };
        let flow_id = key.and_then(|(a, b)| {
            self.flows
                .get(&FlowKey::new(proto, src, a, dst, b).0)
                .copied()
        });
        Some(QuotedFlow {
            proto,
            src: src.to_string(),
            dst: dst.to_string(),
            src_port: sp,
            dst_port: dp,
            community_id,
            flow_id,
        })
    }

    /// A packet that opens a flow or carries ICMP.
    fn on_relevant_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        if let Some(f) = ctx.flow {
            if f.new_flow
                && matches!(f.flow.proto, 1 | 6 | 17 | 58 | 132)
                && self.flows.len() < self.cfg.max_tracked_flows
            {
                self.flows.insert(f.flow.key(), f.flow.id);
            }
        }
        let mut seen_v4 = false;
        let mut seen_v6 = false;
        for layer in ctx.packet.ip.iter() {
            let Transport::Icmp(icmp) = &layer.transport else {
                continue;
            };
            let hit = if icmp.v6 {
                icmp.icmp_type == 1 && !seen_v6
            } else {
                icmp.icmp_type == 3 && !seen_v4
            };
            if !hit {
                continue;
            }
            let (counted, codes, name) = if icmp.v6 {
                seen_v6 = true;
                (
                    &mut self.report.unreachable_v6,
                    &mut self.report.v6_codes,
                    v6_code_name(icmp.code),
                )
            } else {
                seen_v4 = true;
                (
                    &mut self.report.unreachable_v4,
                    &mut self.report.v4_codes,
                    v4_code_name(icmp.code),
                )
            };
            *codes.entry(format!("{}:{name}", icmp.code)).or_default() += 1;
            let keep = counted.instances.len() < self.cap;
            counted.total += 1;
            if keep {
                let quoted = self.quoted(icmp);
                let inst = Unreachable {
                    evidence: Evidence::new(ctx.frame(), ctx.ts(), &ctx.community_id()),
                    v6: icmp.v6,
                    code: icmp.code,
                    code_name: name.to_string(),
                    reporter: layer.src.to_string(),
                    quoted,
                };
                let counted = if icmp.v6 {
                    &mut self.report.unreachable_v6
                } else {
                    &mut self.report.unreachable_v4
                };
                counted.instances.push(inst);
            }
        }
    }
}

impl Detector for IcmpDetector {
    /// Inlined check: packets of known flows without ICMP (most) stop here.
    #[inline]
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        if ctx.flow.is_some_and(|f| f.new_flow)
            || ctx
                .packet
                .ip
                .iter()
                .any(|l| matches!(l.transport, Transport::Icmp(_)))
        {
            self.on_relevant_packet(ctx);
        }
    }

    fn on_flow_end(&mut self, flow: &Flow) {
        if let Some(id) = self.flows.get(&flow.key()) {
            if *id == flow.id {
                self.flows.remove(&flow.key());
            }
        }
    }

    fn finish(&mut self, out: &mut Failures) {
        out.icmp = std::mem::take(&mut self.report);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testpcap::*;

    #[test]
    fn unreachable_ties_back_to_the_quoted_flow() {
        let mut p = Pcap::new();
        let probe = udp(C, 33000, S, 9999, b"hello");
        p.push(0, &probe);
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&probe[..28]);
        p.push(1, &ipv4(S, C, 1, &icmp));
        let mut icmp = vec![3, 13, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&tcp(C, 40000, [192, 0, 2, 9], 443, 1, 0, 2, &[])[..28]);
        p.push(2, &ipv4(R, C, 1, &icmp));
        let f = p.failures().icmp;
        assert_eq!(f.unreachable_v4.total, 2);
        assert_eq!(f.v4_codes.get("3:port"), Some(&1));
        assert_eq!(f.v4_codes.get("13:admin-prohibited"), Some(&1));
        let u = &f.unreachable_v4.instances[0];
        let q = u.quoted.as_ref().expect("quoted flow");
        assert_eq!(
            (q.proto, q.src_port, q.dst_port),
            (17, Some(33000), Some(9999))
        );
        let want = crate::flow::community_id_v1(
            0,
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            17,
            Some((33000, 9999)),
        );
        assert_eq!(q.community_id, want);
        assert!(q.flow_id.is_some(), "the probe's flow was seen");
        let second = f.unreachable_v4.instances[1].quoted.as_ref().unwrap();
        assert_eq!(second.flow_id, None, "that TCP flow never appeared");
        assert_eq!(f.unreachable_v4.instances[1].reporter, "10.0.0.254");
    }

    #[test]
    fn hostile_quotes_do_not_panic() {
        for b in [
            &[][..],
            &[0x45][..],
            &[0x4f, 0, 0, 0][..],
            &[0x60; 39][..],
            &[0x46; 24][..],
        ] {
            let _ = super::parse_quoted(b);
            let _ = super::quoted_udp_payload(b);
            let _ = super::quoted_echo_id(b);
        }
    }
}
