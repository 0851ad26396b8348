//! QUIC: long-header versions, version negotiation packets, and connections
//! that fail after a version negotiation (the server never answers the
//! client's retry with any handshake packet).
//!
//! A datagram is QUIC when it passes the same long-header heuristic the
//! decoder uses (tshark also finds QUIC by heuristic, not by port). Versions
//! are counted once per coalesced long-header packet, like `quic.version`.
//!
//! The client's ClientHello is read here too: Initial packets are protected
//! with keys anyone can derive from the connection ID (RFC 9001 §5.2), as
//! Wireshark and Zeek do. Its CRYPTO frames are put back in order across
//! packets (browsers split the hello over two Initials and shuffle the
//! frames) and the whole hello goes to the TLS report and the blocklist.

use super::icmp::quoted_udp_payload;
use super::{Counted, DetectConfig, Detector, Evidence, Failures, Moment, PacketCtx};
use crate::decode::app::{looks_like_version_negotiation, quic_by_bytes};
use crate::decode::quic::{
    frames, hello_length, initial_layout, long_headers, negotiated_versions, CryptoStream,
    HelloLength, QuicFrame,
};
use crate::decode::quic_crypto::{initial_candidates, open_packet, PacketKeys};
use crate::decode::tls::parse_client_hello;
use crate::decode::{Icmp, Transport};
use crate::flow::{Flow, FlowKey, FxHashMap};
use arrayvec::ArrayVec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuicUnanswered {
    #[serde(flatten)]
    pub evidence: Evidence,
    /// The server name of the client's ClientHello, when it was read.
    pub sni: Option<String>,
    /// Client Initial packets sent (the first and the retransmissions).
    pub client_initials: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuicIncomplete {
    #[serde(flatten)]
    pub evidence: Evidence,
    /// The server name of the client's ClientHello, when it was read.
    pub sni: Option<String>,
    /// How far it got: "initial" (the server answered, but with no
    /// Handshake packet) or "handshake" (no 1-RTT packets both ways).
    pub stage: String,
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
    /// Connections whose client sent Initial packets and never got any
    /// packet back (UDP 443 blocked, no server): QUIC's unanswered SYNs.
    /// Evidence: the first Initial.
    pub unanswered_connections: Counted<QuicUnanswered>,
    /// Connections the server answered whose handshake never completed: no
    /// 1-RTT (short-header) packets from both sides by the end of the flow
    /// (a certificate the client rejected, a failed negotiation, the
    /// capture's end). Version negotiations are counted apart. Evidence:
    /// the first Initial.
    pub incomplete_handshakes: Counted<QuicIncomplete>,
}

#[derive(Clone, Default)]
struct Conn {
    vn: Option<Moment>,
    server_progress_after_vn: bool,
    client_versions: Vec<u32>,
    /// The client's ClientHello being read (None before the first client
    /// Initial and after the hello was read or given up).
    hello: Option<Box<HelloReader>>,
    hello_done: bool,
    /// The client's first Initial, and how many it sent.
    first_initial: Option<Moment>,
    client_initials: u64,
    /// Any datagram from the server side.
    server_answered: bool,
    /// A Handshake packet from the server.
    server_handshake: bool,
    /// 1-RTT (short-header) packets seen from the client and from the server.
    short_header: [bool; 2],
    sni: Option<Box<str>>,
}

/// Client Initial packets tried per connection before giving up.
const MAX_HELLO_PACKETS: u8 = 8;

/// The client's ClientHello, put together from the CRYPTO frames of its
/// Initial packets.
#[derive(Clone, Default)]
struct HelloReader {
    /// The Destination Connection ID of the client's first Initial: every
    /// client Initial is protected with keys from it (RFC 9001 §5.2), even
    /// after the client takes the server's ID.
    dcid: ArrayVec<u8, 20>,
    /// Initial packet-number space: largest packet number opened so far.
    largest_pn: Option<u64>,
    crypto: CryptoStream,
    packets: u8,
}

#[derive(Clone)]
pub struct QuicDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    cap: usize,
    report: QuicReport,
    conns: FxHashMap<u64, Conn>,
    /// The flows seen as QUIC (by key), so a version negotiation quoted in
    /// an ICMP error is recognised on them only.
    quic_keys: FxHashMap<FlowKey, u64>,
    /// ClientHello handshake messages the current packet completed, for the
    /// TLS report and the blocklist (taken by [`super::Detectors`]).
    pub(crate) packet_hellos: Vec<Vec<u8>>,
}

/// Most flows remembered in `quic_keys` (bounded like every table).
const MAX_QUIC_KEYS: usize = 1 << 16;

/// The flow key of a quoted IPv4/IPv6 + UDP header (an ICMP error's quote).
fn quoted_key(b: &[u8]) -> Option<FlowKey> {
    let (src, dst, l4) = match *b.first()? >> 4 {
        4 => {
            let ihl = (b[0] & 0xF) as usize * 4;
            let a: [u8; 4] = b.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = b.get(16..20)?.try_into().ok()?;
            (IpAddr::from(a), IpAddr::from(d), b.get(ihl..)?)
        }
        6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = b.get(24..40)?.try_into().ok()?;
            (IpAddr::from(a), IpAddr::from(d), b.get(40..)?)
        }
        _ => return None,
    };
    let port = |i: usize| Some(u16::from_be_bytes([*l4.get(i)?, *l4.get(i + 1)?]));
    Some(FlowKey::new(17, src, port(0)?, dst, port(2)?).0)
}

fn hex(v: u32) -> String {
    format!("0x{v:08x}")
}

impl QuicDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        QuicDetector {
            out: Default::default(),
            cap: cfg.max_instances,
            report: QuicReport::default(),
            conns: FxHashMap::default(),
            quic_keys: FxHashMap::default(),
            packet_hellos: Vec::new(),
        }
    }

    fn end_conn(&mut self, c: Conn) {
        let complete = c.short_header[0] && c.short_header[1];
        if let (Some(moment), true, None, false) =
            (&c.first_initial, c.server_answered, &c.vn, complete)
        {
            let stage = if c.server_handshake {
                "handshake"
            } else {
                "initial"
            };
            self.out.count(
                "quic.incomplete_handshakes",
                &mut self.report.incomplete_handshakes,
                self.cap,
                || QuicIncomplete {
                    evidence: Evidence::at(moment),
                    sni: c.sni.as_ref().map(|s| s.to_string()),
                    stage: stage.to_string(),
                },
            );
        }
        if let (Some(moment), false) = (&c.first_initial, c.server_answered) {
            self.out.count(
                "quic.unanswered_connections",
                &mut self.report.unanswered_connections,
                self.cap,
                || QuicUnanswered {
                    evidence: Evidence::at(moment),
                    sni: c.sni.as_ref().map(|s| s.to_string()),
                    client_initials: c.client_initials,
                },
            );
        }
        if let (Some(moment), false) = (&c.vn, c.server_progress_after_vn) {
            self.out.count(
                "quic.failed_after_version_negotiation",
                &mut self.report.failed_after_version_negotiation,
                self.cap,
                || FailedAfterVn {
                    evidence: Evidence::at(moment),
                    vn_frame: moment.0,
                    client_versions: c.client_versions.iter().map(|&v| hex(v)).collect(),
                },
            );
        }
    }
}

impl QuicDetector {
    /// A version negotiation quoted in an ICMP error still matches
    /// `quic.version==0` in tshark (any layer counts).
    fn on_quoted(&mut self, ctx: &PacketCtx<'_, '_>, icmp: &Icmp<'_>) {
        let Some(quoted) = icmp.quoted() else {
            return;
        };
        let Some(p) = quoted_udp_payload(quoted) else {
            return;
        };
        // A quoted version negotiation is QUIC only on a conversation seen as QUIC.
        let on_quic = || quoted_key(quoted).is_some_and(|k| self.quic_keys.contains_key(&k));
        if !(quic_by_bytes(p) || looks_like_version_negotiation(p) && on_quic()) {
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
            self.out.count(
                "quic.version_negotiation",
                &mut self.report.version_negotiation,
                self.cap,
                || VersionNegotiation {
                    evidence: Evidence::new(ctx.frame(), ctx.ts(), &ctx.community_id()),
                    offered,
                },
            );
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
        // QUIC by its bytes, or a version negotiation on a conversation
        // already seen as QUIC (never on other UDP).
        let quic = quic_by_bytes(p)
            || (looks_like_version_negotiation(p)
                && ctx.flow.is_some_and(|f| {
                    f.flow.service == Some(crate::decode::AppProto::Quic)
                        || self.conns.contains_key(&f.flow.id)
                }));
        if let Some(f) = ctx
            .flow
            .filter(|f| quic && !self.conns.contains_key(&f.flow.id))
        {
            if self.quic_keys.len() < MAX_QUIC_KEYS {
                self.quic_keys.insert(f.flow.key(), f.flow.id);
            }
        }
        if let Some((i, from_orig)) = id {
            if let Some(c) = self.conns.get_mut(&i) {
                c.server_answered |= !from_orig;
                // Short-header packets of a known connection show progress.
                if !quic && p.first().is_some_and(|b| b & 0xC0 == 0x40) {
                    c.short_header[usize::from(!from_orig)] = true;
                    if !from_orig && c.vn.is_some() {
                        c.server_progress_after_vn = true;
                    }
                }
            }
        }
        if !quic {
            return;
        }
        let mut end = 0;
        let mut vn_here = None;
        for h in long_headers(p) {
            end = h.end;
            *self.report.versions.entry(hex(h.version)).or_default() += 1;
            if h.is_version_negotiation() {
                vn_here = Some(negotiated_versions(p, &h).map(hex).collect::<Vec<_>>());
            }
            let Some((i, from_orig)) = id else {
                continue;
            };
            let c = self.conns.entry(i).or_default();
            c.server_answered |= !from_orig;
            if h.is_version_negotiation() {
                c.vn = Some((ctx.frame(), ctx.ts(), ctx.community_id_source()));
                c.server_progress_after_vn = false;
                // The client's next Initial starts over with a new hello.
                c.hello = None;
                c.hello_done = false;
            } else if from_orig {
                if !c.client_versions.contains(&h.version) && c.client_versions.len() < 8 {
                    c.client_versions.push(h.version);
                }
                if h.is_initial() {
                    c.client_initials += 1;
                    if c.first_initial.is_none() {
                        c.first_initial = Some((ctx.frame(), ctx.ts(), ctx.community_id_source()));
                    }
                }
                if h.is_initial() && !c.hello_done {
                    if let Some(hello) = read_client_initial(c, p, &h) {
                        c.sni = parse_client_hello(&hello)
                            .and_then(|h| h.sni)
                            .map(|r| String::from_utf8_lossy(&hello[r]).into());
                        self.packet_hellos.push(hello);
                    }
                }
            } else if h.is_retry() {
                // The client sends its hello again, under keys from the
                // Retry's connection ID (RFC 9001 §5.2): read it again.
                c.hello = None;
                c.hello_done = false;
                if c.vn.is_some() {
                    c.server_progress_after_vn = true;
                }
            } else {
                c.server_handshake |= h.is_handshake();
                if c.vn.is_some() {
                    c.server_progress_after_vn = true;
                }
            }
        }
        // A short-header packet coalesced after the long ones.
        if let (Some(&b), Some((i, from_orig))) = (p.get(end), id) {
            if b & 0xC0 == 0x40 && end > 0 {
                if let Some(c) = self.conns.get_mut(&i) {
                    c.short_header[usize::from(!from_orig)] = true;
                }
            }
        }
        if let Some(offered) = vn_here {
            self.out.count(
                "quic.version_negotiation",
                &mut self.report.version_negotiation,
                self.cap,
                || VersionNegotiation {
                    evidence: Evidence::new(ctx.frame(), ctx.ts(), &ctx.community_id()),
                    offered,
                },
            );
        }
    }
}

/// Open one client Initial packet `h` of the datagram `b` and add its
/// CRYPTO frames to the connection's ClientHello; returns the hello once it
/// is whole. Gives up (for this connection) on anything that is not a
/// ClientHello, on too many packets and on too many bytes.
fn read_client_initial(
    c: &mut Conn,
    b: &[u8],
    h: &crate::decode::quic::LongHeader,
) -> Option<Vec<u8>> {
    let candidates = initial_candidates(h.version);
    let (pn_off, end) = initial_layout(b, h)?;
    if candidates.is_empty() {
        return None;
    }
    let r = c.hello.get_or_insert_with(|| {
        let mut r = Box::<HelloReader>::default();
        // A DCID longer than 20 bytes is not v1's; no keys, no hello.
        let _ = r.dcid.try_extend_from_slice(&b[h.dcid.clone()]);
        r
    });
    r.packets += 1;
    let pkt = &b[h.offset..end];
    let pn_off = pn_off - h.offset;
    // Keys from the first Initial's DCID; after a Retry, from the DCID the
    // Retry gave (the one this packet carries).
    let first = r.dcid.clone();
    let own = &b[h.dcid.clone()];
    let largest = r.largest_pn;
    let open_with = |dcid: &[u8]| {
        candidates.iter().find_map(|&(salt, prefix)| {
            let keys = PacketKeys::initial(salt, prefix, dcid, false)?;
            open_packet(&keys, pkt, pn_off, largest)
        })
    };
    let opened = open_with(&first).or_else(|| {
        let opened = (own != &first[..]).then(|| open_with(own)).flatten()?;
        r.dcid.clear();
        let _ = r.dcid.try_extend_from_slice(own);
        Some(opened)
    });
    let mut give_up = r.packets >= MAX_HELLO_PACKETS;
    if let Some(opened) = opened {
        r.largest_pn = Some(r.largest_pn.map_or(opened.pn, |l| l.max(opened.pn)));
        for f in frames(&opened.payload) {
            let Ok(QuicFrame::Crypto { offset, data }) = f else {
                // Frames after one that does not parse cannot be located.
                if f.is_err() {
                    break;
                }
                continue;
            };
            give_up |= !r.crypto.add(offset, data);
        }
        match hello_length(r.crypto.contiguous()) {
            HelloLength::Whole(n) => {
                let hello = r.crypto.contiguous()[..n].to_vec();
                c.hello = None;
                c.hello_done = true;
                return Some(hello);
            }
            HelloLength::NotAHello => give_up = true,
            HelloLength::Short => {}
        }
    }
    if give_up {
        c.hello = None;
        c.hello_done = true;
    }
    None
}

impl Detector for QuicDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

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
        if !self.quic_keys.is_empty() {
            let (key, _) = FlowKey::new(
                flow.proto,
                flow.orig_addr,
                flow.orig_port,
                flow.resp_addr,
                flow.resp_port,
            );
            if self.quic_keys.get(&key) == Some(&flow.id) {
                self.quic_keys.remove(&key);
            }
        }
    }

    fn on_input_end(&mut self) {
        for c in super::take_in_id_order(&mut self.conns) {
            self.end_conn(c);
        }
    }

    fn finish(&mut self, out: &mut Failures) {
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

    /// The handshake message of a test ClientHello (its TLS record header cut).
    fn hello(sni: &str) -> Vec<u8> {
        client_hello(sni, &["h3"])[5..].to_vec()
    }

    #[test]
    fn a_client_hello_split_and_shuffled_over_two_initials_is_read_once() {
        let h = hello("video.example.org");
        let (a, rest) = h.split_at(20);
        let (b, c) = rest.split_at(30);
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        // Packet 0 holds the middle and the end, out of order, with a PING
        // between (as browsers send them); packet 1 the start.
        let mut first = quic_crypto_frame(20 + 30, c);
        first.push(0x01);
        first.extend(quic_crypto_frame(20, b));
        let mut p = Pcap::new();
        p.push(
            0,
            &udp(C, 50000, S, 443, &quic_client_initial(1, &dcid, 0, &first)),
        );
        p.push(
            1,
            &udp(
                C,
                50000,
                S,
                443,
                &quic_client_initial(1, &dcid, 1, &quic_crypto_frame(0, a)),
            ),
        );
        // A copy of the first packet (a retransmission) adds nothing.
        p.push(
            2,
            &udp(C, 50000, S, 443, &quic_client_initial(1, &dcid, 2, &first)),
        );
        // QUIC v2 and a version that forces negotiation (v1 keys) are read too.
        let v2 = quic_client_initial(
            0x6b33_43cf,
            &dcid,
            0,
            &quic_crypto_frame(0, &hello("v2.example.org")),
        );
        p.push(3, &udp(C, 50001, S, 443, &v2));
        let grease = quic_client_initial(
            0x1a2a_3a4a,
            &dcid,
            0,
            &quic_crypto_frame(0, &hello("grease.example")),
        );
        p.push(4, &udp(C, 50002, S, 443, &grease));
        let t = p.failures().tls;
        assert_eq!(t.client_hellos, 3);
        let names: Vec<&str> = t.server_names.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["grease.example", "v2.example.org", "video.example.org"]
        );
        assert_eq!(t.alpn.get("h3"), Some(&3));

        // The SNI is matched against a blocklist in the frame that completes the hello.
        let mut cfg = crate::detect::DetectConfig::default();
        cfg.blocklist.entries = crate::detect::blocklist::parse_list(
            "example.org
",
            "l.txt",
        )
        .unwrap();
        let hits = p.findings_with(cfg).blocklist.hits;
        let got: Vec<(&str, &str, u64)> = hits
            .iter()
            .map(|h| (h.matched_in.as_str(), h.value.as_str(), h.evidence[0].frame))
            .collect();
        assert_eq!(
            got,
            [
                ("tls_sni", "v2.example.org", 4),
                ("tls_sni", "video.example.org", 2)
            ]
        );
    }

    #[test]
    fn after_a_retry_the_hello_is_read_again_under_the_new_keys() {
        let (old, new) = ([1u8; 8], [2u8; 8]);
        let h = hello("retry.example");
        let mut p = Pcap::new();
        p.push(
            0,
            &udp(
                C,
                50000,
                S,
                443,
                &quic_client_initial(1, &old, 0, &quic_crypto_frame(0, &h)),
            ),
        );
        // Retry (v1 type 3): SCID = the new ID, a token, the integrity tag.
        let mut retry = vec![0xf0, 0, 0, 0, 1, 0, 8];
        retry.extend_from_slice(&new);
        retry.extend_from_slice(&[0xAB; 24]);
        p.push(1, &udp(S, 443, C, 50000, &retry));
        p.push(
            2,
            &udp(
                C,
                50000,
                S,
                443,
                &quic_client_initial(1, &new, 1, &quic_crypto_frame(0, &h)),
            ),
        );
        let t = p.failures().tls;
        assert_eq!(t.client_hellos, 2);
        assert_eq!(t.server_names.get("retry.example"), Some(&2));
    }

    #[test]
    fn initials_that_do_not_open_or_hold_no_hello_are_skipped_safely() {
        let dcid = [9u8; 8];
        let good = quic_client_initial(1, &dcid, 0, &quic_crypto_frame(0, &hello("x.example")));
        let mut p = Pcap::new();
        // Every cut and a flipped ciphertext byte: nothing is read, nothing panics.
        for cut in 0..good.len() {
            p.push(cut as u64, &udp(C, 40000, S, 443, &good[..cut]));
        }
        let mut bad = good.clone();
        bad[100] ^= 1;
        p.push(5000, &udp(C, 40001, S, 443, &bad));
        // A CRYPTO stream that does not start with a ClientHello.
        let other = quic_client_initial(
            1,
            &dcid,
            0,
            &quic_crypto_frame(0, &[2, 0, 0, 4, 0, 0, 0, 0]),
        );
        p.push(5001, &udp(C, 40002, S, 443, &other));
        // A hello claiming far more than any real one, sent in pieces.
        let mut huge = vec![1, 0x01, 0, 0];
        huge.resize(900, 0x41);
        for k in 0..20u64 {
            let f = quic_crypto_frame(k as usize * 900, &huge);
            p.push(
                6000 + k,
                &udp(C, 40003, S, 443, &quic_client_initial(1, &dcid, k, &f)),
            );
        }
        assert_eq!(p.failures().tls.client_hellos, 0);
    }

    #[test]
    fn initials_that_get_no_answer_are_unanswered_connections() {
        let dcid = [3u8; 8];
        let hello_frame = quic_crypto_frame(0, &hello("blocked.example"));
        let mut p = Pcap::new();
        // Connection A: the first Initial and two retransmissions, no answer.
        for k in 0..3u64 {
            let pkt = quic_client_initial(1, &dcid, k, &hello_frame);
            p.push(k * 300, &udp(C, 50000, S, 443, &pkt));
        }
        // Connection B: answered by the server (any datagram back counts).
        p.push(
            1000,
            &udp(
                C,
                50001,
                S,
                443,
                &quic_client_initial(1, &[4; 8], 0, &hello_frame),
            ),
        );
        p.push(
            1010,
            &udp(S, 443, C, 50001, &[0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        );
        // Connection C: answered with a version negotiation (a failure of its own).
        p.push(1100, &udp(C, 50002, S, 443, &initial(0x1a2a_3a4a)));
        p.push(1110, &udp(S, 443, C, 50002, &vn(&[1])));
        let q = p.failures().quic;
        assert_eq!(q.unanswered_connections.total, 1);
        let u = &q.unanswered_connections.instances[0];
        assert_eq!((u.evidence.frame, u.client_initials), (1, 3));
        assert_eq!(u.sni.as_deref(), Some("blocked.example"));
        assert_eq!(q.failed_after_version_negotiation.total, 1);
    }

    #[test]
    fn handshakes_without_1rtt_both_ways_are_incomplete() {
        // Handshake: 7-byte header, Length 16, then 16 bytes.
        let mut hs = vec![0xe0, 0, 0, 0, 1, 0, 0, 0x40, 0x10];
        hs.resize(9 + 16, 0);
        let short = [
            0x40, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        ];
        let mut p = Pcap::new();
        // A: the server's Handshake, then nothing from the client in 1-RTT.
        p.push(0, &udp(C, 50000, S, 443, &initial(1)));
        p.push(1, &udp(S, 443, C, 50000, &hs));
        p.push(2, &udp(S, 443, C, 50000, &short));
        // B: the whole handshake: 1-RTT both ways (one coalesced after a Handshake).
        p.push(10, &udp(C, 50001, S, 443, &initial(1)));
        let mut coalesced = hs.clone();
        coalesced.extend_from_slice(&short);
        p.push(11, &udp(S, 443, C, 50001, &coalesced));
        p.push(12, &udp(C, 50001, S, 443, &short));
        // C: the server answers, but never with a Handshake packet.
        p.push(20, &udp(C, 50002, S, 443, &initial(1)));
        p.push(21, &udp(S, 443, C, 50002, &initial(1)));
        let q = p.failures().quic;
        let got: Vec<(u64, &str)> = q
            .incomplete_handshakes
            .instances
            .iter()
            .map(|i| (i.evidence.frame, i.stage.as_str()))
            .collect();
        assert_eq!(got, [(1, "handshake"), (7, "initial")]);
        assert_eq!(q.unanswered_connections.total, 0);
    }

    #[test]
    fn version_negotiation_shaped_udp_off_quic_is_not_quic() {
        let mut p = Pcap::new();
        // Other UDP whose payload starts like a version negotiation (a set
        // bit, four zero bytes, plausible ID lengths), in both directions.
        p.push(0, &udp(C, 40000, S, 9999, &vn(&[1])));
        p.push(10, &udp(S, 9999, C, 40000, &vn(&[1, 2])));
        // A draft version below 11 is not one tshark's heuristic accepts.
        p.push(20, &udp(C, 40001, S, 443, &initial(0xff00_0005)));
        // The VN quoted in an ICMP error about it is not QUIC either.
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&udp(S, 9999, C, 40000, &vn(&[1])));
        p.push(30, &ipv4(C, S, 1, &icmp));
        let f = p.failures().quic;
        assert_eq!(f.version_negotiation.total, 0);
        assert!(f.versions.is_empty(), "{:?}", f.versions);
        assert!(!crate::decode::app::quic_by_bytes(&vn(&[1])));
        assert!(crate::decode::app::quic_by_bytes(&initial(0xff00_001d)));
        assert!(crate::decode::app::quic_by_bytes(&initial(0x5130_3530)));
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
        // A VN quoted in an ICMP port unreachable counts as well (any layer),
        // on a conversation seen as QUIC (A); on another one it is not QUIC.
        for port in [50000, 50002] {
            let quoted = udp(S, 443, C, port, &vn(&[1]));
            let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&quoted);
            p.push(60, &ipv4(C, S, 1, &icmp));
        }
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
