//! Zero-copy TLS record and ClientHello walker.
//!
//! Exposes record headers, alerts and the ClientHello's SNI and ALPN as byte
//! ranges (for in-place rewriting by the sanitizer). No-panic contract: every
//! length is checked against the buffer; extension and list walks are bounded.

use arrayvec::ArrayVec;
use std::ops::Range;

pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;

/// Largest record body allowed (2^14 + 2048, RFC 5246 ciphertext bound).
pub const MAX_RECORD_LEN: usize = 18_432;
/// Most extensions walked in one hello.
pub const MAX_EXTENSIONS: usize = 64;

/// A TLS record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub content_type: u8,
    pub version: u16,
    pub len: u16,
}

impl RecordHeader {
    pub fn parse(b: &[u8]) -> Option<RecordHeader> {
        if b.len() < 5 {
            return None;
        }
        let h = RecordHeader {
            content_type: b[0],
            version: u16::from_be_bytes([b[1], b[2]]),
            len: u16::from_be_bytes([b[3], b[4]]),
        };
        let plausible = (20..=24).contains(&h.content_type)
            && b[1] == 3
            && b[2] <= 4
            && (h.len as usize) <= MAX_RECORD_LEN;
        plausible.then_some(h)
    }
    /// Record length including its 5-byte header.
    pub fn total_len(&self) -> usize {
        5 + self.len as usize
    }
}

/// A record found in a buffer; `body` may be shorter than `header.len` when cut.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub offset: usize,
    pub header: RecordHeader,
    pub body: &'a [u8],
}

/// Records from the start of `b`; stops at the first implausible header.
pub fn records(b: &[u8]) -> impl Iterator<Item = Record<'_>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let header = RecordHeader::parse(b.get(pos..)?)?;
        let start = pos + 5;
        let end = (start + header.len as usize).min(b.len());
        let rec = Record {
            offset: pos,
            header,
            body: &b[start..end],
        };
        pos = start + header.len as usize;
        Some(rec)
    })
}

/// Alert level/description name as tshark shows it.
pub fn alert_name(desc: u8) -> &'static str {
    match desc {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => "unknown",
    }
}

/// Facts of a ClientHello.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// legacy_version of the hello.
    pub version: u16,
    /// Highest non-GREASE entry of supported_versions, when present.
    pub max_supported_version: Option<u16>,
    /// Host name of the server_name extension (range in the handshake message).
    pub sni: Option<Range<usize>>,
    /// ALPN protocol names (ranges in the handshake message).
    pub alpn: ArrayVec<Range<usize>, 8>,
}

fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Parse a ClientHello handshake message (starting at the 4-byte handshake
/// header: type 1, 24-bit length). Ranges are relative to `m`.
pub fn parse_client_hello(m: &[u8]) -> Option<ClientHello> {
    if *m.first()? != 1 {
        return None;
    }
    let mut hello = ClientHello {
        version: be16(m, 4)?,
        ..Default::default()
    };
    let mut p = 4 + 2 + 32;
    let sid = *m.get(p)? as usize;
    p += 1 + sid;
    let cs = be16(m, p)? as usize;
    p += 2 + cs;
    let comp = *m.get(p)? as usize;
    p += 1 + comp;
    let Some(ext_len) = be16(m, p) else {
        return Some(hello); // no extensions
    };
    p += 2;
    let ext_end = (p + ext_len as usize).min(m.len());
    for _ in 0..MAX_EXTENSIONS {
        if p + 4 > ext_end {
            break;
        }
        let ty = be16(m, p)?;
        let len = be16(m, p + 2)? as usize;
        let body = p + 4..(p + 4 + len).min(ext_end);
        match ty {
            0 => {
                // server_name_list: u16 len, then (type u8, u16 len, name).
                let b = body.start;
                if let (Some(0), Some(nl)) = (m.get(b + 2).copied(), be16(m, b + 3)) {
                    let s = b + 5;
                    let e = s + nl as usize;
                    if e <= body.end {
                        hello.sni = Some(s..e);
                    }
                }
            }
            16 => {
                let mut q = body.start + 2;
                while q < body.end && !hello.alpn.is_full() {
                    let l = m[q] as usize;
                    if q + 1 + l > body.end {
                        break;
                    }
                    hello.alpn.push(q + 1..q + 1 + l);
                    q += 1 + l;
                }
            }
            43 => {
                let mut q = body.start + 1;
                while q + 2 <= body.end {
                    let v = be16(m, q)?;
                    if !is_grease(v) {
                        hello.max_supported_version = Some(
                            hello
                                .max_supported_version
                                .map_or(v, |x| std::cmp::max_by_key(x, v, |&w| version_rank(w))),
                        );
                    }
                    q += 2;
                }
            }
            _ => {}
        }
        p = body.end;
    }
    Some(hello)
}

/// Order of versions by age: TLS 1.3's drafts (0x7fNN) come between 1.2 and 1.3.
fn version_rank(v: u16) -> u32 {
    match v {
        0x7f00..=0x7fff => 0x0303_8000 + u32::from(v & 0xff),
        _ => u32::from(v) << 16,
    }
}

/// Name of a TLS version number.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        0x7f00..=0x7fff => "TLS 1.3 draft",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn client_hello(sni: &str, alpn: &[&str]) -> Vec<u8> {
        let mut ext = Vec::new();
        let n = sni.len() as u16;
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&(n + 5).to_be_bytes());
        ext.extend_from_slice(&(n + 3).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&n.to_be_bytes());
        ext.extend_from_slice(sni.as_bytes());
        let list: Vec<u8> = alpn
            .iter()
            .flat_map(|a| std::iter::once(a.len() as u8).chain(a.bytes()))
            .collect();
        ext.extend_from_slice(&[0, 16]);
        ext.extend_from_slice(&(list.len() as u16 + 2).to_be_bytes());
        ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
        ext.extend_from_slice(&list);
        ext.extend_from_slice(&[0, 43, 0, 5, 4, 0x0a, 0x0a, 3, 4]);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0u8; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn hello_sni_alpn_versions() {
        let rec = client_hello("example.com", &["h2", "http/1.1"]);
        let r = records(&rec).next().unwrap();
        assert_eq!(r.header.content_type, CONTENT_HANDSHAKE);
        let h = parse_client_hello(r.body).unwrap();
        assert_eq!(&r.body[h.sni.clone().unwrap()], b"example.com");
        assert_eq!(h.alpn.len(), 2);
        assert_eq!(&r.body[h.alpn[0].clone()], b"h2");
        assert_eq!(h.version, 0x0303);
        assert_eq!(h.max_supported_version, Some(0x0304));
        for cut in 0..rec.len() {
            let _ = records(&rec[..cut]).count();
            if rec.len() > 5 && cut > 5 {
                let _ = parse_client_hello(&rec[5..cut]);
            }
        }
    }

    #[test]
    fn tls_13_drafts_rank_between_12_and_13() {
        let highest = |vs: &[u16]| {
            vs.iter()
                .copied()
                .reduce(|x, v| std::cmp::max_by_key(x, v, |&w| version_rank(w)))
        };
        assert_eq!(highest(&[0x0304, 0x7f1c, 0x7f1b]), Some(0x0304));
        assert_eq!(highest(&[0x7f1c, 0x0303, 0x7f1a]), Some(0x7f1c));
        assert_eq!(highest(&[0x0301, 0x0303]), Some(0x0303));
        assert_eq!(version_name(0x7f1c), "TLS 1.3 draft");
    }

    #[test]
    fn several_records_and_garbage_stop() {
        let b = [21, 3, 3, 0, 2, 2, 40, 23, 3, 3, 0, 1, 0xAA, 99, 1];
        let v: Vec<_> = records(&b).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].body, &[2, 40]);
        assert_eq!(v[1].header.content_type, CONTENT_APPLICATION_DATA);
    }
}
