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

    /// A Retry packet: type 3 in v1 and its drafts, 0 in v2.
    pub fn is_retry(&self) -> bool {
        match self.version {
            0 => false,
            0x6b33_43cf => self.packet_type == 0,
            _ => self.packet_type == 3,
        }
    }

    /// A Handshake packet: type 2 in v1 and its drafts, 3 in v2.
    pub fn is_handshake(&self) -> bool {
        match self.version {
            0 => false,
            0x6b33_43cf => self.packet_type == 3,
            _ => self.packet_type == 2,
        }
    }

    /// An Initial packet: type 0 in v1 and its drafts (and in the reserved
    /// versions clients send to force a negotiation, which keep v1's
    /// layout), type 1 in v2 (RFC 9369 §3.2).
    pub fn is_initial(&self) -> bool {
        match self.version {
            0 => false,
            0x6b33_43cf => self.packet_type == 1,
            _ => self.packet_type == 0,
        }
    }
}

/// Where the packet number of the Initial packet `h` starts and where the
/// packet ends (its Length field, cut at the end of the datagram `b`), read
/// in the v1 layout: token length, token, length.
pub fn initial_layout(b: &[u8], h: &LongHeader) -> Option<(usize, usize)> {
    let mut q = h.scid.end;
    let (token_len, n) = varint(b, q)?;
    q = q
        .checked_add(n)?
        .checked_add(usize::try_from(token_len).ok()?)?;
    let (len, n) = varint(b, q)?;
    q = q.checked_add(n)?;
    let end = q.checked_add(usize::try_from(len).ok()?)?.min(b.len());
    (q < end).then_some((q, end))
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

/// CRYPTO bytes kept per stream: far more than any real ClientHello (about
/// 2 KB with post-quantum key shares), and the same order as a TCP
/// connection's TLS reassembly.
pub const MAX_CRYPTO_BYTES: usize = 16 << 10;

/// The start of a CRYPTO stream, put back together from frames that come in
/// any order and any number of packets (browsers split a ClientHello over
/// two Initials and shuffle its pieces). Bounded by [`MAX_CRYPTO_BYTES`].
#[derive(Clone, Default)]
pub struct CryptoStream {
    /// The stream from offset 0, as far as it is contiguous.
    data: Vec<u8>,
    /// Pieces beyond a gap: (stream offset, bytes).
    pending: Vec<(u64, Vec<u8>)>,
    pending_bytes: usize,
}

impl CryptoStream {
    /// Keep one CRYPTO frame's bytes; false when they reach past the budget.
    pub fn add(&mut self, offset: u64, data: &[u8]) -> bool {
        let have = self.data.len() as u64;
        let Some(end) = offset.checked_add(data.len() as u64) else {
            return false;
        };
        if end <= have {
            return true; // a retransmission of what is held
        }
        if end > MAX_CRYPTO_BYTES as u64 {
            return false;
        }
        if offset <= have {
            self.data
                .extend_from_slice(&data[(have - offset) as usize..]);
            self.settle();
        } else {
            if self.pending_bytes + data.len() > MAX_CRYPTO_BYTES {
                return false;
            }
            self.pending_bytes += data.len();
            self.pending.push((offset, data.to_vec()));
        }
        true
    }

    /// The stream from offset 0 up to the first gap.
    pub fn contiguous(&self) -> &[u8] {
        &self.data
    }

    /// Move pending pieces that now touch the contiguous data into it.
    fn settle(&mut self) {
        loop {
            let have = self.data.len() as u64;
            let Some(i) = self.pending.iter().position(|(o, _)| *o <= have) else {
                return;
            };
            let (offset, piece) = self.pending.swap_remove(i);
            self.pending_bytes -= piece.len();
            if offset + piece.len() as u64 > have {
                self.data
                    .extend_from_slice(&piece[(have - offset) as usize..]);
            }
        }
    }
}

/// What the start of a CRYPTO stream holds.
pub enum HelloLength {
    /// A whole ClientHello: its length with the 4-byte handshake header.
    Whole(usize),
    /// The start of one (or nothing yet).
    Short,
    /// Something else, or a length no real hello has.
    NotAHello,
}

pub fn hello_length(data: &[u8]) -> HelloLength {
    match data.first() {
        None => HelloLength::Short,
        Some(1) if data.len() < 4 => HelloLength::Short,
        Some(1) => {
            let n = 4 + u32::from_be_bytes([0, data[1], data[2], data[3]]) as usize;
            if n > MAX_CRYPTO_BYTES {
                HelloLength::NotAHello
            } else if data.len() >= n {
                HelloLength::Whole(n)
            } else {
                HelloLength::Short
            }
        }
        Some(_) => HelloLength::NotAHello,
    }
}

/// One frame of a decrypted packet (RFC 9000 §19), borrowing its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuicFrame<'a> {
    Padding,
    Ping,
    Ack,
    Crypto {
        offset: u64,
        data: &'a [u8],
    },
    Stream {
        id: u64,
        offset: u64,
        fin: bool,
        data: &'a [u8],
    },
    /// CONNECTION_CLOSE (transport or application), with its reason phrase.
    ConnectionClose {
        reason: &'a [u8],
    },
    /// Any other known frame (skipped).
    Other(u64),
}

/// Most ACK ranges walked in one ACK frame.
const MAX_ACK_RANGES: u64 = 256;

/// The frames of a decrypted packet payload, in order. Ends at the end of
/// the payload, or with `Err(())` at a frame that does not parse or is of an
/// unknown type (nothing after it can be located).
pub fn frames(b: &[u8]) -> impl Iterator<Item = Result<QuicFrame<'_>, ()>> + '_ {
    let mut p = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || p >= b.len() {
            return None;
        }
        let r = frame_at(b, p);
        match r {
            Some((f, next)) => {
                p = next;
                Some(Ok(f))
            }
            None => {
                failed = true;
                Some(Err(()))
            }
        }
    })
}

fn frame_at(b: &[u8], p: usize) -> Option<(QuicFrame<'_>, usize)> {
    let (ty, n) = varint(b, p)?;
    let mut q = p + n;
    let skip = |count: usize, q: &mut usize| -> Option<()> {
        for _ in 0..count {
            *q += varint(b, *q)?.1;
        }
        Some(())
    };
    let bytes = |q: usize, len: u64| -> Option<(&[u8], usize)> {
        let end = q.checked_add(usize::try_from(len).ok()?)?;
        Some((b.get(q..end)?, end))
    };
    let f = match ty {
        0x00 => {
            // Consecutive PADDING bytes as one frame.
            while b.get(q) == Some(&0) {
                q += 1;
            }
            QuicFrame::Padding
        }
        0x01 => QuicFrame::Ping,
        0x02 | 0x03 => {
            skip(2, &mut q)?; // largest acknowledged, delay
            let (ranges, n) = varint(b, q)?;
            q += n;
            if ranges > MAX_ACK_RANGES {
                return None;
            }
            skip(1 + 2 * ranges as usize, &mut q)?;
            if ty == 0x03 {
                skip(3, &mut q)?;
            }
            QuicFrame::Ack
        }
        0x04 => {
            skip(3, &mut q)?;
            QuicFrame::Other(ty)
        }
        0x05 | 0x11 | 0x15 => {
            skip(2, &mut q)?;
            QuicFrame::Other(ty)
        }
        0x06 => {
            let (offset, n) = varint(b, q)?;
            let (len, m) = varint(b, q + n)?;
            let (data, end) = bytes(q + n + m, len)?;
            q = end;
            QuicFrame::Crypto { offset, data }
        }
        0x07 => {
            let (len, n) = varint(b, q)?;
            q = bytes(q + n, len)?.1;
            QuicFrame::Other(ty)
        }
        0x08..=0x0f => {
            let (id, n) = varint(b, q)?;
            q += n;
            let mut offset = 0;
            if ty & 0x04 != 0 {
                let (o, n) = varint(b, q)?;
                offset = o;
                q += n;
            }
            let len = if ty & 0x02 != 0 {
                let (l, n) = varint(b, q)?;
                q += n;
                l
            } else {
                (b.len() - q.min(b.len())) as u64
            };
            let (data, end) = bytes(q, len)?;
            q = end;
            QuicFrame::Stream {
                id,
                offset,
                fin: ty & 0x01 != 0,
                data,
            }
        }
        0x10 | 0x12 | 0x13 | 0x14 | 0x16 | 0x17 | 0x19 => {
            skip(1, &mut q)?;
            QuicFrame::Other(ty)
        }
        0x18 => {
            skip(2, &mut q)?;
            let l = *b.get(q)? as usize;
            q = bytes(q + 1, l as u64 + 16)?.1;
            QuicFrame::Other(ty)
        }
        0x1a | 0x1b => {
            q = bytes(q, 8)?.1;
            QuicFrame::Other(ty)
        }
        0x1c | 0x1d => {
            skip(if ty == 0x1c { 2 } else { 1 }, &mut q)?;
            let (len, n) = varint(b, q)?;
            let (reason, end) = bytes(q + n, len)?;
            q = end;
            QuicFrame::ConnectionClose { reason }
        }
        0x1e => QuicFrame::Other(ty),
        // DATAGRAM (RFC 9221): to the end, or with a length.
        0x30 => {
            q = b.len();
            QuicFrame::Other(ty)
        }
        0x31 => {
            let (len, n) = varint(b, q)?;
            q = bytes(q + n, len)?.1;
            QuicFrame::Other(ty)
        }
        _ => return None,
    };
    Some((f, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_a_decrypted_packet() {
        // ACK_ECN, CRYPTO, NEW_CONNECTION_ID, STREAM (OFF|LEN|FIN), PADDING.
        let mut b = vec![0x03, 1, 13, 0, 1, 2, 0, 0];
        b.extend_from_slice(&[0x06, 0, 2, 0xAA, 0xBB]);
        b.extend_from_slice(&[0x18, 1, 0, 8]);
        b.extend_from_slice(&[9; 8 + 16]);
        b.extend_from_slice(&[0x0f, 4, 0x40, 0x10, 3, b'd', b'n', b's']);
        b.extend_from_slice(&[0, 0, 0]);
        let f: Vec<_> = frames(&b).collect();
        assert_eq!(
            f,
            vec![
                Ok(QuicFrame::Ack),
                Ok(QuicFrame::Crypto {
                    offset: 0,
                    data: &[0xAA, 0xBB]
                }),
                Ok(QuicFrame::Other(0x18)),
                Ok(QuicFrame::Stream {
                    id: 4,
                    offset: 16,
                    fin: true,
                    data: b"dns"
                }),
                Ok(QuicFrame::Padding),
            ]
        );
        // A STREAM frame without LEN runs to the end; unknown types stop.
        let f: Vec<_> = frames(&[0x08, 0, b'x', b'y']).collect();
        assert_eq!(f.len(), 1);
        assert!(matches!(f[0], Ok(QuicFrame::Stream { data: b"xy", .. })));
        assert_eq!(
            frames(&[0x01, 0x21, 0x01]).collect::<Vec<_>>(),
            vec![Ok(QuicFrame::Ping), Err(())]
        );
        for cut in 0..b.len() {
            let _ = frames(&b[..cut]).count();
        }
    }

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
