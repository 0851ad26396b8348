//! Zero-copy QUIC long-header walker (RFC 8999/9000 invariants).
//!
//! Walks the coalesced long-header packets of one UDP datagram and exposes
//! version, packet type and connection-ID ranges. Packets are never decrypted.
//! No-panic contract: every length is checked; at most [`MAX_COALESCED`]
//! packets per datagram.

use std::ops::Range;

pub const MAX_COALESCED: usize = 8;

/// One long-header packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongHeader {
    pub offset: usize,
    pub version: u32,
    /// Two-bit long packet type (0 Initial, 1 0-RTT, 2 Handshake, 3 Retry) for v1.
    pub packet_type: u8,
    pub dcid: Range<usize>,
    pub scid: Range<usize>,
    /// End of this packet in the datagram.
    pub end: usize,
}

impl LongHeader {
    pub fn is_version_negotiation(&self) -> bool {
        self.version == 0
    }
}

/// QUIC variable-length integer at `p`: (value, bytes used).
pub fn varint(b: &[u8], p: usize) -> Option<(u64, usize)> {
    let first = *b.get(p)?;
    let n = 1usize << (first >> 6);
    let s = b.get(p..p + n)?;
    let mut v = (first & 0x3f) as u64;
    for &c in &s[1..] {
        v = (v << 8) | c as u64;
    }
    Some((v, n))
}

/// Parse one long header at `p`.
pub fn long_header(b: &[u8], p: usize) -> Option<LongHeader> {
    let first = *b.get(p)?;
    if first & 0x80 == 0 {
        return None;
    }
    let v = b.get(p + 1..p + 5)?;
    let version = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
    let dl = *b.get(p + 5)? as usize;
    let dcid = p + 6..p + 6 + dl;
    let sl = *b.get(dcid.end)? as usize;
    let scid = dcid.end + 1..dcid.end + 1 + sl;
    if dl > 255 || scid.end > b.len() {
        return None;
    }
    let packet_type = (first >> 4) & 0x3;
    // Version negotiation, Retry and unknown versions run to the datagram's end.
    let known_layout = version != 0 && (version == 1 || is_draft_like(version));
    let end = if !known_layout || packet_type == 3 {
        b.len()
    } else {
        let mut q = scid.end;
        if packet_type == 0 {
            let (tl, n) = varint(b, q)?;
            q = q.checked_add(n)?.checked_add(usize::try_from(tl).ok()?)?;
        }
        let (len, n) = varint(b, q)?;
        q.checked_add(n)?
            .checked_add(usize::try_from(len).ok()?)?
            .min(b.len())
    };
    Some(LongHeader {
        offset: p,
        version,
        packet_type,
        dcid,
        scid,
        end,
    })
}

/// Versions whose Initial/Handshake layout is the v1 one (drafts, GREASE-free).
fn is_draft_like(v: u32) -> bool {
    v & 0xffff_ff00 == 0xff00_0000 || v == 0x6b33_43cf || v == 0x709a_50c4
}

/// The long-header packets at the start of a datagram (coalesced), stopping
/// at a short-header packet or garbage.
pub fn long_headers(b: &[u8]) -> impl Iterator<Item = LongHeader> + '_ {
    let mut pos = 0usize;
    let mut n = 0usize;
    std::iter::from_fn(move || {
        if n >= MAX_COALESCED || pos >= b.len() {
            return None;
        }
        let h = long_header(b, pos)?;
        n += 1;
        pos = if h.end > pos { h.end } else { b.len() };
        Some(h)
    })
}

/// Versions listed in a version negotiation packet.
pub fn negotiated_versions<'a>(b: &'a [u8], h: &LongHeader) -> impl Iterator<Item = u32> + 'a {
    b[h.scid.end.min(b.len())..h.end.min(b.len())]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_negotiation_and_coalesced_initial() {
        let vn = [
            0x80, 0, 0, 0, 0, 2, 1, 2, 1, 9, 0, 0, 0, 1, 0xff, 0, 0, 0x1d,
        ];
        let hs: Vec<_> = long_headers(&vn).collect();
        assert_eq!(hs.len(), 1);
        assert!(hs[0].is_version_negotiation());
        assert_eq!(
            negotiated_versions(&vn, &hs[0]).collect::<Vec<_>>(),
            vec![1, 0xff00_001d]
        );
        // Initial (token 0, length 2) + Handshake (length 1).
        let b = [
            0xc0, 0, 0, 0, 1, 1, 7, 0, 0, 2, 0xAA, 0xBB, 0xe0, 0, 0, 0, 1, 0, 0, 1, 0xCC,
        ];
        let hs: Vec<_> = long_headers(&b).collect();
        assert_eq!(hs.len(), 2);
        assert_eq!(hs[0].end, 12);
        assert_eq!(hs[1].packet_type, 2);
        for cut in 0..b.len() {
            let _ = long_headers(&b[..cut]).count();
        }
    }
}
