//! Application protocol identification: content first, port second.
//!
//! A probe looks at the first bytes of a segment or datagram. Content wins
//! over the port (HTTP on 8081 is HTTP; an SSH banner on port 80 is SSH);
//! the port decides only for protocols without a recognisable start (DNS,
//! NTP, DHCP, …), and even then the content must be plausible.

use super::{Tcp, Udp};
use serde::Serialize;

/// Application protocols pcaplens recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProto {
    Dns,
    Mdns,
    Llmnr,
    Http,
    Tls,
    Quic,
    Ssh,
    Ntp,
    Dhcp,
    Dhcpv6,
    Smtp,
    Ftp,
    Snmp,
    Syslog,
    Ssdp,
    Nbns,
}

impl AppProto {
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Dns => "dns",
            AppProto::Mdns => "mdns",
            AppProto::Llmnr => "llmnr",
            AppProto::Http => "http",
            AppProto::Tls => "tls",
            AppProto::Quic => "quic",
            AppProto::Ssh => "ssh",
            AppProto::Ntp => "ntp",
            AppProto::Dhcp => "dhcp",
            AppProto::Dhcpv6 => "dhcpv6",
            AppProto::Smtp => "smtp",
            AppProto::Ftp => "ftp",
            AppProto::Snmp => "snmp",
            AppProto::Syslog => "syslog",
            AppProto::Ssdp => "ssdp",
            AppProto::Nbns => "nbns",
        }
    }
}

const HTTP_METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
];

/// Does this look like the start of an HTTP/1.x request?
pub fn looks_like_http_request(p: &[u8]) -> bool {
    // Every method starts with an upper-case letter: one compare rejects the
    // binary payloads (TLS, SSH) this runs on for every segment.
    p.len() > 8 && p[0].is_ascii_uppercase() && HTTP_METHODS.iter().any(|m| p.starts_with(m))
}

/// Does this look like the start of an HTTP/1.x response?
pub fn looks_like_http_response(p: &[u8]) -> bool {
    p.len() >= 12
        && (p.starts_with(b"HTTP/1.0 ") || p.starts_with(b"HTTP/1.1 "))
        && p[9..12].iter().all(u8::is_ascii_digit)
}

/// A TLS record header: content type 20..=23, version 3.x.
pub fn looks_like_tls(p: &[u8]) -> bool {
    p.len() >= 5 && (20..=23).contains(&p[0]) && p[1] == 3 && p[2] <= 4 && {
        let len = u16::from_be_bytes([p[3], p[4]]);
        len > 0 && len <= 18_432
    }
}

/// A plausible DNS header with at least one question (queries) or a response flag.
pub fn looks_like_dns(p: &[u8]) -> bool {
    if p.len() < 12 {
        return false;
    }
    let flags = u16::from_be_bytes([p[2], p[3]]);
    let opcode = (flags >> 11) & 0xF;
    let qd = u16::from_be_bytes([p[4], p[5]]);
    let an = u16::from_be_bytes([p[6], p[7]]);
    let ns = u16::from_be_bytes([p[8], p[9]]);
    let ar = u16::from_be_bytes([p[10], p[11]]);
    opcode <= 6 && opcode != 3 && qd <= 32 && an <= 512 && ns <= 512 && ar <= 512
}

/// A QUIC version tshark 4.0's heuristic accepts (`quic_draft_version(v) >= 11`):
/// IETF drafts 11 and later, v1, v2 (and its draft), the reserved
/// 0x?a?a?a?a versions that force a negotiation, Facebook's mvfst and
/// Google's Q050/T050/T051. Version 0 (version negotiation) is not one: it
/// says nothing about the bytes being QUIC.
pub fn known_quic_version(version: u32) -> bool {
    matches!(
        version,
        1 | 0x6b33_43cf
            | 0x709a_50c4
            | 0xface_b001
            | 0xface_b002
            | 0xface_b00e
            | 0x5130_3530
            | 0x5430_3530
            | 0x5430_3531
    ) || (version >> 8 == 0x00ff_0000 && version & 0xff >= 11)
        || version & 0x0f0f_0f0f == 0x0a0a_0a0a
}

/// Connection-ID lengths of a long header fit (tshark's checks: at least
/// 13 bytes, each ID at most 20 bytes, the source ID's length present).
fn long_header_ids_fit(p: &[u8]) -> bool {
    if p.len() < 13 {
        return false;
    }
    let dcid_len = p[5] as usize;
    dcid_len <= 20 && p.get(6 + dcid_len).is_some_and(|&scid_len| scid_len <= 20)
}

/// The shape of a QUIC long header (version negotiation included), loosely:
/// what the sanitizer rewrites as QUIC. Analysis uses [`quic_by_bytes`].
pub fn looks_like_quic(p: &[u8]) -> bool {
    if p.len() < 7 || p[0] & 0x80 == 0 {
        return false;
    }
    let version = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
    let known = matches!(version, 0 | 1 | 0x6b33_43cf | 0x709a_50c4)
        || version & 0xffff_ff00 == 0xff00_0000
        || version & 0x0f0f_0f0f == 0x0a0a_0a0a;
    if !known {
        return false;
    }
    // Fixed bit set, except for version negotiation.
    (version == 0 || p[0] & 0x40 != 0) && {
        let dcid_len = p[5] as usize;
        dcid_len <= 20 && p.len() > 6 + dcid_len
    }
}

/// A QUIC long header with a known version: QUIC by its bytes alone, as
/// tshark's heuristic decides. A version negotiation is not (see
/// [`looks_like_version_negotiation`]).
pub fn quic_by_bytes(p: &[u8]) -> bool {
    if p.len() < 13 || p[0] & 0x80 == 0 {
        return false;
    }
    let version = u32::from_be_bytes([p[1], p[2], p[3], p[4]]);
    known_quic_version(version) && p[0] & 0x40 != 0 && long_header_ids_fit(p)
}

/// The shape of a QUIC version negotiation (long header, version 0). Only
/// QUIC in a conversation already seen as QUIC: any UDP payload may start
/// with a set bit and four zero bytes.
pub fn looks_like_version_negotiation(p: &[u8]) -> bool {
    p.len() >= 13 && p[0] & 0x80 != 0 && p[1..5] == [0, 0, 0, 0] && long_header_ids_fit(p)
}

pub fn probe_tcp(t: &Tcp<'_>) -> Option<AppProto> {
    let p = t.payload;
    if let Some(&first) = p.first() {
        // The content checks, in order, each behind the first byte it needs
        // (a failed guard falls through to the next arm).
        match first {
            20..=23 if looks_like_tls(p) => return Some(AppProto::Tls),
            b'A'..=b'Z' if looks_like_http_request(p) => return Some(AppProto::Http),
            b'H' if looks_like_http_response(p) => return Some(AppProto::Http),
            b'S' if p.starts_with(b"SSH-") => return Some(AppProto::Ssh),
            _ => {}
        }
        let has = |port: u16| t.src_port == port || t.dst_port == port;
        if has(53) && p.len() >= 14 && looks_like_dns(&p[2..]) {
            return Some(AppProto::Dns);
        }
        if has(25) || has(587) {
            return Some(AppProto::Smtp);
        }
        if has(21) {
            return Some(AppProto::Ftp);
        }
    }
    None
}

pub fn probe_udp(u: &Udp<'_>) -> Option<AppProto> {
    let p = u.payload;
    let has = |port: u16| u.src_port == port || u.dst_port == port;
    if has(5353) && looks_like_dns(p) {
        return Some(AppProto::Mdns);
    }
    if has(5355) && looks_like_dns(p) {
        return Some(AppProto::Llmnr);
    }
    if has(53) && looks_like_dns(p) {
        return Some(AppProto::Dns);
    }
    if quic_by_bytes(p) {
        return Some(AppProto::Quic);
    }
    if has(123) && p.len() >= 48 && (p[0] >> 3) & 0x7 >= 1 {
        return Some(AppProto::Ntp);
    }
    if (has(67) || has(68)) && p.len() >= 240 && p[236..240] == [99, 130, 83, 99] {
        return Some(AppProto::Dhcp);
    }
    if has(546) || has(547) {
        return Some(AppProto::Dhcpv6);
    }
    if has(137) && looks_like_dns(p) {
        return Some(AppProto::Nbns);
    }
    if has(161) || has(162) {
        return Some(AppProto::Snmp);
    }
    if has(514) {
        return Some(AppProto::Syslog);
    }
    if has(1900)
        && (p.starts_with(b"M-SEARCH") || p.starts_with(b"NOTIFY") || p.starts_with(b"HTTP/1.1"))
    {
        return Some(AppProto::Ssdp);
    }
    None
}
