//! Link layers (by LINKTYPE) and tunnel encapsulations.

use super::{decode_ethertype, decode_ip, ethertype, proto, Packet, Udp};

/// LINKTYPE values we decode, and the name used in reports.
pub fn link_type_name(link_type: u32) -> &'static str {
    match link_type {
        0 => "null",
        1 => "ethernet",
        9 => "ppp",
        12 | 14 | 101 => "raw",
        50 => "ppp_hdlc",
        105 => "ieee802_11",
        108 => "loop",
        113 => "linux_sll",
        127 => "ieee802_11_radiotap",
        149 => "pktap",
        160 => "user13",
        192 => "ppi",
        226 => "ipnet",
        228 => "ipv4",
        229 => "ipv6",
        239 => "nflog",
        276 => "linux_sll2",
        284 => "dsa_tag_brcm",
        crate::capture::LINK_PCAPNG_CUSTOM_BLOCK => "pcapng_custom_block",
        crate::capture::LINK_SYSTEMD_JOURNAL => "systemd_journal_export",
        _ => "unknown",
    }
}

/// Whether [`decode_link`] understands this LINKTYPE.
pub fn is_decoded(link_type: u32) -> bool {
    matches!(
        link_type,
        0 | 1
            | 9
            | 12
            | 14
            | 50
            | 101
            | 105
            | 108
            | 113
            | 127
            | 149
            | 192
            | 226
            | 228
            | 229
            | 239
            | 276
    )
}

pub(crate) fn decode_link<'a>(pkt: &mut Packet<'a>, link_type: u32, data: &'a [u8], depth: u8) {
    pkt.link_decoded = is_decoded(link_type);
    if depth > 4 {
        return;
    }
    match link_type {
        1 => decode_ethernet(pkt, data, depth),
        0 | 108 => {
            pkt.push_proto(proto::NULL);
            if data.len() < 4 {
                pkt.mark("null");
                return;
            }
            // The family is in host byte order (0) or network order (108): try both.
            let le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            let be = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let fam = if le < 256 { le } else { be };
            match fam {
                2 | 10 | 24 | 28 | 30 => decode_ip(pkt, &data[4..], depth),
                _ => {}
            }
        }
        12 | 14 | 101 | 228 | 229 => {
            pkt.push_proto(proto::RAW);
            decode_ip(pkt, data, depth)
        }
        113 => {
            pkt.push_proto(proto::SLL);
            if data.len() < 16 {
                pkt.mark("sll");
                return;
            }
            let proto = u16::from_be_bytes([data[14], data[15]]);
            decode_sll_proto(pkt, proto, &data[16..], depth);
        }
        276 => {
            pkt.push_proto(proto::SLL);
            if data.len() < 20 {
                pkt.mark("sll");
                return;
            }
            let proto = u16::from_be_bytes([data[0], data[1]]);
            decode_sll_proto(pkt, proto, &data[20..], depth);
        }
        9 | 50 => {
            pkt.push_proto(proto::PPP);
            let d = if data.len() >= 2 && data[0] == 0xff && data[1] == 0x03 {
                &data[2..]
            } else {
                data
            };
            if d.len() < 2 {
                return;
            }
            let proto = u16::from_be_bytes([d[0], d[1]]);
            decode_ppp_proto(pkt, proto, &d[2..], depth);
        }
        127 => {
            pkt.push_proto(proto::RADIOTAP);
            if data.len() < 4 {
                pkt.mark("radiotap");
                return;
            }
            let len = u16::from_le_bytes([data[2], data[3]]) as usize;
            if len > data.len() {
                pkt.mark("radiotap");
                return;
            }
            decode_80211(pkt, &data[len..], depth);
        }
        105 => decode_80211(pkt, data, depth),
        192 => {
            pkt.push_proto(proto::PPI);
            if data.len() < 8 {
                pkt.mark("ppi");
                return;
            }
            let len = u16::from_le_bytes([data[2], data[3]]) as usize;
            let dlt = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
            if len > data.len() || dlt == 192 {
                pkt.mark("ppi");
                return;
            }
            decode_link(pkt, dlt, &data[len..], depth + 1);
            pkt.link_decoded = true;
        }
        149 => {
            pkt.push_proto(proto::PKTAP);
            if data.len() < 8 {
                pkt.mark("pktap");
                return;
            }
            let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
            let dlt = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
            if len < 8 || len > data.len() || dlt == 149 {
                pkt.mark("pktap");
                return;
            }
            decode_link(pkt, dlt, &data[len..], depth + 1);
            pkt.link_decoded = true;
        }
        226 => {
            pkt.push_proto(proto::IPNET);
            if data.len() < 24 {
                pkt.mark("ipnet");
                return;
            }
            decode_ip(pkt, &data[24..], depth);
        }
        239 => decode_nflog(pkt, data, depth),
        _ => {}
    }
}

pub(crate) fn decode_ethernet<'a>(pkt: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    pkt.push_proto(proto::ETH);
    if data.len() < 14 {
        pkt.mark("eth");
        return;
    }
    if pkt.eth_src.is_none() {
        let mut d = [0u8; 6];
        let mut s = [0u8; 6];
        d.copy_from_slice(&data[0..6]);
        s.copy_from_slice(&data[6..12]);
        pkt.eth_dst = Some(d);
        pkt.eth_src = Some(s);
    }
    let et = u16::from_be_bytes([data[12], data[13]]);
    if et < 0x0600 {
        decode_llc(pkt, &data[14..], depth);
        return;
    }
    decode_ethertype(pkt, et, &data[14..], depth);
}

/// After an IEEE 802.3 length field (Ethernet or 802.1Q): LLC (STP, CDP, …),
/// named `llc` as tshark names it also when SNAP carries an ethertype.
pub(crate) fn decode_llc<'a>(pkt: &mut Packet<'a>, llc: &'a [u8], depth: u8) {
    pkt.push_proto(proto::LLC);
    if llc.len() >= 8 && llc[0] == 0xAA && llc[1] == 0xAA && llc[2] == 0x03 {
        let et = u16::from_be_bytes([llc[6], llc[7]]);
        decode_ethertype(pkt, et, &llc[8..], depth);
    }
}

fn decode_sll_proto<'a>(pkt: &mut Packet<'a>, proto: u16, data: &'a [u8], depth: u8) {
    match proto {
        // Linux "protocols" below 0x0600 are not ethertypes (802.2 LLC, CAN, …).
        0x0004 => pkt.push_proto(proto::LLC),
        p if p >= 0x0600 => decode_ethertype(pkt, p, data, depth),
        _ => {}
    }
}

pub(crate) fn decode_ppp_proto<'a>(pkt: &mut Packet<'a>, proto: u16, data: &'a [u8], depth: u8) {
    match proto {
        0x0021 | 0x0057 => decode_ip(pkt, data, depth),
        0x0281 | 0x0283 => decode_mpls(pkt, data, depth),
        _ => {}
    }
}

fn decode_80211<'a>(pkt: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    decode_80211_fc(pkt, data, false, depth)
}

/// An 802.11 frame; `swapped`: its two frame-control bytes are in the
/// other order (Cisco's CAPWAP data, as Wireshark's default "swap frame
/// control" reads it).
fn decode_80211_fc<'a>(pkt: &mut Packet<'a>, data: &'a [u8], swapped: bool, depth: u8) {
    pkt.push_proto(proto::WLAN);
    if data.len() < 24 {
        pkt.mark("wlan");
        return;
    }
    let (fc0, fc1) = if swapped {
        (data[1], data[0])
    } else {
        (data[0], data[1])
    };
    let ftype = (fc0 >> 2) & 0x3;
    let subtype = fc0 >> 4;
    if ftype != 2 || subtype & 0x4 != 0 {
        // Management/control frames, or data frames without a body (null data).
        return;
    }
    let mut hlen = 24;
    if fc1 & 0x03 == 0x03 {
        hlen += 6;
    }
    let qos = subtype & 0x8 != 0;
    if qos {
        hlen += 2;
        if fc1 & 0x80 != 0 {
            hlen += 4;
        }
    }
    if fc1 & 0x40 != 0 {
        // Protected: nothing readable.
        return;
    }
    let body = match data.get(hlen..) {
        Some(b) => b,
        None => {
            pkt.mark("wlan");
            return;
        }
    };
    if body.len() >= 8 && body[0] == 0xAA && body[1] == 0xAA && body[2] == 0x03 {
        pkt.push_proto(proto::LLC);
        let et = u16::from_be_bytes([body[6], body[7]]);
        decode_ethertype(pkt, et, &body[8..], depth);
    }
}

fn decode_nflog<'a>(pkt: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    pkt.push_proto(proto::NFLOG);
    if data.len() < 4 {
        pkt.mark("nflog");
        return;
    }
    let mut rest = &data[4..];
    // TLVs with host-order (little-endian here, as written by Linux x86) length and type.
    while rest.len() >= 4 {
        let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        let typ = u16::from_le_bytes([rest[2], rest[3]]) & 0x7fff;
        if len < 4 || len > rest.len() {
            pkt.mark("nflog");
            return;
        }
        if typ == 9 {
            decode_ip(pkt, &rest[4..len], depth);
            return;
        }
        let padded = (len + 3) & !3;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
}

pub(crate) fn decode_mpls<'a>(pkt: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    pkt.push_proto(proto::MPLS);
    let mut rest = data;
    loop {
        if rest.len() < 4 {
            pkt.mark("mpls");
            return;
        }
        let bottom = rest[2] & 0x01 != 0;
        rest = &rest[4..];
        if bottom {
            break;
        }
    }
    match rest.first().map(|b| b >> 4) {
        Some(4) | Some(6) => decode_ip(pkt, rest, depth),
        // Pseudowire control word (first nibble 0), then Ethernet.
        Some(0) if rest.len() >= 4 + 14 => decode_ethernet(pkt, &rest[4..], depth + 1),
        _ => {}
    }
}

pub(crate) fn decode_gre<'a>(pkt: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    if data.len() < 4 {
        pkt.mark("gre");
        return;
    }
    let flags = data[0];
    let version = data[1] & 0x07;
    let proto = u16::from_be_bytes([data[2], data[3]]);
    let mut hlen = 4;
    if flags & 0x80 != 0 {
        hlen += 4;
    }
    if flags & 0x20 != 0 {
        hlen += 4;
    }
    if flags & 0x10 != 0 {
        hlen += 4;
    }
    if version == 1 && data[1] & 0x80 != 0 {
        hlen += 4; // PPTP acknowledgment number
    }
    let Some(body) = data.get(hlen..) else {
        pkt.mark("gre");
        return;
    };
    match proto {
        0x88BE => {
            pkt.push_proto(proto::ERSPAN);
            if flags & 0x10 == 0 {
                // ERSPAN type I: no sequence number and no ERSPAN header,
                // the mirrored Ethernet frame follows GRE (as Wireshark reads it).
                decode_ethernet(pkt, body, depth);
            } else if body.len() >= 8 {
                // Type II: an 8-byte header, then Ethernet.
                decode_ethernet(pkt, &body[8..], depth);
            }
        }
        0x22EB => {
            pkt.push_proto(proto::ERSPAN);
            if body.len() >= 12 {
                let o = body[11] & 0x01 != 0;
                let skip = if o { 20 } else { 12 };
                if body.len() >= skip {
                    decode_ethernet(pkt, &body[skip..], depth);
                }
            }
        }
        // WCCP redirect (Cisco): WCCPv2 puts a 4-byte redirect header before
        // the IPv4 packet, WCCPv1 none; Wireshark tells them apart by whether
        // the first nibble is an IPv4 version.
        0x883E => {
            let ip = if body.first().is_some_and(|b| b >> 4 != 4) {
                body.get(4..).unwrap_or(&[])
            } else {
                body
            };
            decode_ip(pkt, ip, depth);
        }
        // Aruba's wireless controllers: an 802.11 frame without FCS follows
        // GRE. Wireshark 4.0 opens exactly 0x8200-0x8370 in steps of 0x10
        // (checked with tshark on every value of the range and its neighbours).
        0x8200..=0x8370 if proto & 0x000F == 0 => decode_80211(pkt, body, depth),
        // Cisco MetaData (TrustSec) in GRE: the inner ethertype, version,
        // length, options and SGT (8 bytes), then the packet.
        0x8909 => {
            pkt.push_proto(proto::CMD);
            if body.len() < 8 {
                pkt.mark("cmd");
                return;
            }
            let et = u16::from_be_bytes([body[0], body[1]]);
            decode_ethertype(pkt, et, &body[8..], depth);
        }
        0x880B => {
            if body.len() >= 2 {
                let d = if body[0] == 0xff && body[1] == 0x03 {
                    &body[2..]
                } else {
                    body
                };
                if d.len() >= 2 {
                    decode_ppp_proto(pkt, u16::from_be_bytes([d[0], d[1]]), &d[2..], depth);
                }
            }
        }
        p => decode_ethertype(pkt, p, body, depth),
    }
}

/// What a VXLAN-GPE or NSH header's next-protocol field names: 1 IPv4,
/// 2 IPv6, 3 Ethernet, 4 NSH, 5 MPLS.
fn decode_gpe_next<'a>(pkt: &mut Packet<'a>, next: u8, body: &'a [u8], depth: u8) {
    if depth > 12 {
        return;
    }
    match next {
        1 | 2 => decode_ip(pkt, body, depth),
        3 => decode_ethernet(pkt, body, depth),
        4 => {
            // Network Service Header (RFC 8300): its length (6 bits, in
            // 4-byte words) in byte 1, the next protocol in byte 3.
            pkt.push_proto(proto::NSH);
            let (Some(&b1), Some(&np)) = (body.get(1), body.get(3)) else {
                pkt.mark("nsh");
                return;
            };
            let len = (b1 & 0x3f) as usize * 4;
            match body.get(len..) {
                Some(inner) if len >= 8 => decode_gpe_next(pkt, np, inner, depth + 1),
                _ => pkt.mark("nsh"),
            }
        }
        5 => decode_mpls(pkt, body, depth),
        _ => {}
    }
}

/// Follow well-known UDP tunnels by port, as Wireshark does by default.
pub(crate) fn decode_udp_tunnel<'a>(pkt: &mut Packet<'a>, udp: &Udp<'a>, depth: u8) {
    let p = udp.payload;
    let ports = (udp.src_port, udp.dst_port);
    let has = |port: u16| ports.0 == port || ports.1 == port;
    if has(4789) && p.len() >= 8 + 14 && p[0] & 0x08 != 0 {
        pkt.push_proto(proto::VXLAN);
        decode_ethernet(pkt, &p[8..], depth);
    } else if has(2152) && p.len() >= 8 && p[0] >> 5 == 1 && p[1] == 0xFF {
        pkt.push_proto(proto::GTP);
        let mut hlen = 8;
        if p[0] & 0x07 != 0 {
            hlen = 12;
            // Walk extension headers (length in 4-byte units, next type in the last byte).
            let mut next = p.get(11).copied().unwrap_or(0);
            while next != 0 {
                let Some(&units) = p.get(hlen) else { return };
                if units == 0 {
                    return;
                }
                hlen += units as usize * 4;
                next = match p.get(hlen - 1) {
                    Some(&n) => n,
                    None => return,
                };
            }
        }
        if let Some(inner) = p.get(hlen..) {
            if matches!(inner.first().map(|b| b >> 4), Some(4) | Some(6)) {
                decode_ip(pkt, inner, depth);
            }
        }
    } else if has(3544) && p.len() >= 40 {
        // Teredo: optional authentication / origin indication headers, then IPv6.
        let mut rest = p;
        if rest.len() >= 4 && rest[0] == 0 && rest[1] == 1 {
            let id_len = rest[2] as usize;
            let au_len = rest[3] as usize;
            let skip = 4 + id_len + au_len + 8 + 1;
            rest = rest.get(skip..).unwrap_or(&[]);
        }
        if rest.len() >= 8 && rest[0] == 0 && rest[1] == 0 {
            rest = &rest[8..];
        }
        if rest.len() >= 40 && rest[0] >> 4 == 6 {
            pkt.push_proto(proto::TEREDO);
            decode_ip(pkt, rest, depth);
        }
    } else if has(4790) && p.len() >= 8 {
        // VXLAN-GPE: the next protocol is in its header.
        pkt.push_proto(proto::VXLAN);
        decode_gpe_next(pkt, p[3], &p[8..], depth);
    } else if has(6635) && p.len() >= 4 {
        // MPLS over UDP (RFC 7510).
        decode_mpls(pkt, p, depth);
    } else if has(5072) && p.len() >= 8 {
        decode_ayiya(pkt, p, depth);
    } else if has(5247) && !p.is_empty() {
        decode_capwap_data(pkt, p, depth);
    } else if has(6081) && p.len() >= 8 {
        let opt_len = (p[0] & 0x3f) as usize * 4;
        let proto = u16::from_be_bytes([p[2], p[3]]);
        if let Some(body) = p.get(8 + opt_len..) {
            pkt.push_proto(proto::GENEVE);
            if proto == ethertype::TEB {
                decode_ethernet(pkt, body, depth);
            } else {
                decode_ethertype(pkt, proto, body, depth);
            }
        }
    }
}

/// AYIYA (Anything In Anything, UDP 5072), as Wireshark and Zeek read it: an
/// 8-byte header, the identity (2^n bytes) and the signature (4·n bytes);
/// only a forward message (opcode 1) carries a packet, of the IP protocol
/// its next-header field names.
fn decode_ayiya<'a>(pkt: &mut Packet<'a>, p: &'a [u8], depth: u8) {
    pkt.push_proto(proto::AYIYA);
    let id_len = 1usize << (p[0] >> 4);
    let sig_len = (p[1] >> 4) as usize * 4;
    let opcode = p[2] & 0x0F;
    let next = p[3];
    if opcode != 1 {
        return;
    }
    let Some(inner) = p.get(8 + id_len + sig_len..) else {
        pkt.mark("ayiya");
        return;
    };
    // IPv4 (4) or IPv6 (41); the version nibble must agree.
    match (next, inner.first().map(|b| b >> 4)) {
        (4, Some(4)) | (41, Some(6)) => decode_ip(pkt, inner, depth),
        (4 | 41, _) => pkt.mark("ayiya"),
        _ => {}
    }
}

/// CAPWAP data channel (RFC 5415, UDP 5247), as Wireshark 4.0 reads it by
/// default: the header (its length in 4-byte words), then an 802.11 frame
/// with swapped frame-control bytes (the T bit: native frame of binding 1)
/// or an Ethernet frame. Fragments (F bit) and DTLS (preamble type 1) are
/// not opened.
fn decode_capwap_data<'a>(pkt: &mut Packet<'a>, p: &'a [u8], depth: u8) {
    pkt.push_proto(proto::CAPWAP);
    if p[0] != 0 {
        // Version 0, type 0 (plain header); type 1 is a DTLS-protected payload.
        return;
    }
    if p.len() < 8 {
        pkt.mark("capwap");
        return;
    }
    let hlen = (p[1] >> 3) as usize * 4;
    let wbid = ((u16::from_be_bytes([p[2], p[3]]) >> 9) & 0x1F) as u8;
    let t = p[2] & 0x01 != 0;
    let f = p[3] & 0x80 != 0;
    let keepalive = p[3] & 0x08 != 0;
    let Some(body) = p.get(hlen..).filter(|_| hlen >= 8) else {
        pkt.mark("capwap");
        return;
    };
    if f || keepalive || body.is_empty() {
        return;
    }
    if !t {
        decode_ethernet(pkt, body, depth + 1);
    } else if wbid == 1 {
        decode_80211_fc(pkt, body, true, depth);
    }
}
