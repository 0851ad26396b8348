//! QUIC Initial packets: remove the protection anyone can remove
//! (RFC 9001 §5: keys from the version's public salt and the Destination
//! Connection ID), rewrite the TLS SNI in the ClientHello carried by the
//! CRYPTO frames (same length), and protect the packet again, so the
//! sanitised capture still decrypts (tshark shows the pseudonym).
//!
//! The server's Initials open with the server keys of the same connection
//! ID and keep their ServerHello. Only what is understood is kept: a packet
//! that authenticates with none of these keys, a hello whose SNI cannot be
//! placed (see [`QuicHellos`](super::QuicHellos) for the second pass), or a frame other than
//! PADDING/PING/ACK/CRYPTO/CONNECTION_CLOSE (whose reason is zeroed) makes
//! the caller zero the payload (fail closed).

use super::pseudo::Pseudonymizer;
use super::rewrite::FrameRewrite;
use super::stream::{QuicState, UdpPair, MAX_KNOWN};
use crate::decode::quic::{frames, hello_length, HelloLength, QuicFrame};
use crate::decode::quic_crypto::{
    initial_candidates, unprotect_header, PacketKeys, Unprotected, TAG_LEN,
};
use arrayvec::ArrayVec;
use std::ops::Range;

/// Connections whose spread-out ClientHello is being put together at once:
/// past these, Initials are zeroed as before.
const MAX_ASSEMBLING: usize = 1024;

/// Rewrite the Initial packet `pkt` (one whole long-header packet: first
/// byte through the end of its Length) in place. `pn_off` is where the
/// (protected) packet number starts, `dcid` the Destination Connection ID,
/// `pair` the UDP conversation (inside an ICMP error, that of the quoted
/// datagram; None: unknown, only the packet's own DCID gives keys).
///
/// A client Initial opens with keys from its own DCID, or, once the server
/// has given the client another ID, from the DCID of the conversation's
/// earlier client Initial (RFC 9001 §5.2); a server Initial with the server
/// keys of that same DCID. Returns true when the packet was protected again
/// (its SNI rewritten, CONNECTION_CLOSE reasons zeroed; a server's
/// ServerHello holds no identifier and is kept); false when the caller must
/// zero its payload.
pub(crate) fn rewrite_initial(
    ps: &mut Pseudonymizer,
    quic: &mut QuicState,
    pair: Option<UdpPair>,
    pkt: &mut [u8],
    version: u32,
    dcid: &[u8],
    pn_off: usize,
) -> bool {
    let candidates = initial_candidates(version);
    let client =
        |keys_dcid: &[u8], quic: &mut QuicState, ps: &mut Pseudonymizer, pkt: &mut [u8]| {
            candidates.iter().find_map(|&(salt, prefix)| {
                let keys = PacketKeys::initial(salt, prefix, keys_dcid, false)?;
                reprotect(&keys, pkt, pn_off, |plain| {
                    rewrite_sni(ps, quic, keys_dcid, plain)
                })
            })
        };
    if let Some(ok) = client(dcid, quic, ps, pkt) {
        if let (Some(pair), true) = (pair, dcid.len() <= 20) {
            if quic.original_dcid.len() < MAX_KNOWN || quic.original_dcid.contains_key(&pair) {
                quic.original_dcid
                    .insert(pair, dcid.iter().copied().collect());
            }
        }
        return ok;
    }
    let Some(first) = pair.and_then(|p| quic.original_dcid.get(&p).cloned()) else {
        return false;
    };
    if first[..] != *dcid {
        if let Some(ok) = client(&first, quic, ps, pkt) {
            return ok;
        }
    }
    candidates
        .iter()
        .find_map(|&(salt, prefix)| {
            let keys = PacketKeys::initial(salt, prefix, &first, true)?;
            reprotect(&keys, pkt, pn_off, server_payload)
        })
        .unwrap_or(false)
}

/// Open `pkt` with `keys`, let `edit` change the frames, protect it again.
/// None: it does not open with these keys. Some(false): `edit` refused the
/// payload (the caller zeroes it). Some(true): done.
fn reprotect(
    keys: &PacketKeys,
    pkt: &mut [u8],
    pn_off: usize,
    edit: impl FnOnce(&mut [u8]) -> Option<bool>,
) -> Option<bool> {
    let Unprotected {
        header,
        first,
        pn_len,
        truncated_pn,
    } = unprotect_header(keys, pkt, pn_off)?;
    // Initials are the first packets of their number space: the truncated
    // number is the number.
    let pn = truncated_pn;
    let hdr_end = pn_off + pn_len;
    let body_end = pkt.len() - TAG_LEN;
    let mut plain: Vec<u8> = pkt[hdr_end..body_end].to_vec();
    keys.open(pn, &header, &mut plain, &pkt[body_end..])?;
    if edit(&mut plain) != Some(true) {
        return Some(false);
    }
    let tag = keys.seal(pn, &header, &mut plain)?;
    pkt[hdr_end..body_end].copy_from_slice(&plain);
    pkt[body_end..].copy_from_slice(&tag);
    // Header protection again, with the sample of the new ciphertext.
    let mask = keys.mask(&pkt[pn_off + 4..pn_off + 20])?;
    pkt[0] = first ^ (mask[0] & 0x0f);
    for i in 0..pn_len {
        pkt[pn_off + i] = header[pn_off + i] ^ mask[1 + i];
    }
    Some(true)
}

/// A server Initial's frames: its CRYPTO data is the ServerHello (random,
/// suite, key share: nothing that names anyone) and stays; reasons of
/// CONNECTION_CLOSE frames are zeroed; any other frame fails closed.
fn server_payload(plain: &mut [u8]) -> Option<bool> {
    let mut reasons: ArrayVec<(usize, usize), 4> = ArrayVec::new();
    let base = plain.as_ptr() as usize;
    for f in frames(plain) {
        match f.ok()? {
            QuicFrame::Padding | QuicFrame::Ping | QuicFrame::Ack | QuicFrame::Crypto { .. } => {}
            QuicFrame::ConnectionClose { reason } => {
                reasons
                    .try_push((reason.as_ptr() as usize - base, reason.len()))
                    .ok()?;
            }
            _ => return None,
        }
    }
    for &(at, len) in &reasons {
        plain[at..at + len].fill(0);
    }
    Some(true)
}

/// Rewrite the SNI bytes among the CRYPTO frames of a decrypted client
/// Initial. Some(true): every CRYPTO byte is accounted for (the packet holds
/// no part of an SNI, or the parts it holds were rewritten); Some(false) or
/// None: the packet may hold SNI bytes that cannot be placed yet.
fn rewrite_sni(
    ps: &mut Pseudonymizer,
    quic: &mut QuicState,
    dcid: &[u8],
    plain: &mut [u8],
) -> Option<bool> {
    // (offset in the CRYPTO stream, position in `plain`, length)
    let mut crypto: ArrayVec<(u64, usize, usize), 32> = ArrayVec::new();
    // Reason phrases of CONNECTION_CLOSE frames (a client that gives up):
    // free text, zeroed; the frame itself is kept.
    let mut reasons: ArrayVec<(usize, usize), 4> = ArrayVec::new();
    let base = plain.as_ptr() as usize;
    for f in frames(plain) {
        match f.ok()? {
            QuicFrame::Padding | QuicFrame::Ping | QuicFrame::Ack => {}
            QuicFrame::Crypto { offset, data } => {
                let at = data.as_ptr() as usize - base;
                crypto.try_push((offset, at, data.len())).ok()?;
            }
            QuicFrame::ConnectionClose { reason } => {
                let at = reason.as_ptr() as usize - base;
                reasons.try_push((at, reason.len())).ok()?;
            }
            _ => return None,
        }
    }
    for &(at, len) in &reasons {
        plain[at..at + len].fill(0);
    }
    if crypto.is_empty() {
        return Some(true);
    }
    if quic.known(dcid).is_none() {
        learn(quic, dcid, plain, &crypto);
    }
    let Some(known) = quic.known(dcid) else {
        if quic.zeroed_early.len() < MAX_KNOWN {
            quic.zeroed_early.insert(dcid.to_vec());
        }
        return Some(false);
    };
    let Some((sni_at, name)) = known.clone() else {
        return Some(true); // a hello without SNI
    };
    let mut pseudonym = name.clone();
    ps.pseudonymize_dns_name_in_place(&mut pseudonym);
    let sni_end = sni_at + name.len() as u64;
    for &(off, at, len) in &crypto {
        let (lo, hi) = (off.max(sni_at), (off + len as u64).min(sni_end));
        if lo >= hi {
            continue;
        }
        let (p, k, n) = (
            at + (lo - off) as usize,
            (lo - sni_at) as usize,
            (hi - lo) as usize,
        );
        // The bytes must be the name learned for this connection.
        if plain[p..p + n] != name[k..k + n] {
            return None;
        }
        plain[p..p + n].copy_from_slice(&pseudonym[k..k + n]);
    }
    Some(true)
}

/// Add a packet's CRYPTO frames to its connection's hello; once the hello is
/// whole, remember where its SNI is.
fn learn(quic: &mut QuicState, dcid: &[u8], plain: &[u8], crypto: &[(u64, usize, usize)]) {
    if !quic.assembling.contains_key(dcid) && quic.assembling.len() >= MAX_ASSEMBLING {
        return;
    }
    let stream = quic.assembling.entry(dcid.to_vec()).or_default();
    let mut ok = true;
    for &(off, at, len) in crypto {
        ok &= stream.add(off, &plain[at..at + len]);
    }
    let hello = stream.contiguous();
    let done = match hello_length(hello) {
        HelloLength::Whole(n) if ok => {
            let h = &hello[..n];
            let sni = sni_range(h).map(|(s, e)| (s as u64, h[s..e].to_vec()));
            Some(sni)
        }
        HelloLength::Short if ok => return,
        _ => None,
    };
    quic.assembling.remove(dcid);
    if let (Some(sni), true) = (done, quic.learned.known.len() < MAX_KNOWN) {
        quic.learned.known.insert(dcid.to_vec(), sni);
    }
}

/// Byte range of the host name in the SNI extension of a ClientHello
/// handshake message (possibly cut after the extension).
fn sni_range(h: &[u8]) -> Option<(usize, usize)> {
    let u16_at = |p: usize| {
        h.get(p..p + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    };
    if *h.first()? != 1 {
        return None;
    }
    let mut p = 4 + 2 + 32;
    p += 1 + *h.get(p)? as usize;
    p += 2 + u16_at(p)?;
    p += 1 + *h.get(p)? as usize;
    let ext_end = p + 2 + u16_at(p)?;
    p += 2;
    while p + 4 <= ext_end {
        let (ty, len) = (u16_at(p)?, u16_at(p + 2)?);
        if ty == 0 {
            // server_name_list: list length, type 0 (host_name), name length, name
            let q = p + 4;
            if *h.get(q + 2)? != 0 {
                return None;
            }
            let n = u16_at(q + 3)?;
            let s = q + 5;
            return (s + n <= h.len()).then_some((s, s + n));
        }
        p += 4 + len;
    }
    None
}

// ---- QUIC -------------------------------------------------------------------

fn varint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *b.get(at)?;
    let n = 1usize << (first >> 6);
    let bytes = b.get(at..at + n)?;
    let mut v = (first & 0x3f) as u64;
    for &x in &bytes[1..] {
        v = (v << 8) | x as u64;
    }
    Some((v, n))
}

/// Long-header packets: headers kept; an Initial's payload is always zeroed
/// (it is encrypted with keys anyone can derive and carries the SNI); other
/// packets' (encrypted) payload follows the policy.
pub(crate) fn quic(f: &mut FrameRewrite<'_>, r: Range<usize>, pair: Option<UdpPair>) {
    let o = f.orig;
    let mut p = r.start;
    while p < r.end {
        let b0 = o[p];
        if b0 & 0x80 == 0 {
            // A short-header (1-RTT) packet: its first byte (header form,
            // fixed bit, protected bits) tells the analysis the handshake
            // got that far; the rest follows the policy.
            f.policy(p + 1..r.end);
            return;
        }
        // The version-independent header (RFC 8999) as the analysis reads it.
        let Some(h) = crate::decode::quic::long_header(&o[..r.end], p) else {
            f.fail_closed(p..r.end);
            return;
        };
        let v = h.version;
        let v1_layout = v == 1 || v == 0x6b33_43cf || v == 0x709a_50c4 || v >> 8 == 0xff_0000;
        let parsed = (|| {
            let version = u32::from_be_bytes(o.get(p + 1..p + 5)?.try_into().ok()?);
            let dl = *o.get(p + 5)? as usize;
            let mut q = p + 6 + dl;
            let sl = *o.get(q)? as usize;
            q += 1 + sl;
            if version == 0 {
                return Some((q, r.end, false, true));
            }
            let ty = (b0 >> 4) & 3;
            let v2 = version == 0x6b33_43cf;
            let (initial, retry) = if v2 {
                (ty == 1, ty == 0)
            } else {
                (ty == 0, ty == 3)
            };
            if retry {
                return Some((q, r.end, false, false));
            }
            if initial {
                let (tl, n) = varint(o, q)?;
                q += n + usize::try_from(tl).ok()?;
            }
            let (len, n) = varint(o, q)?;
            q += n;
            let end = q.checked_add(usize::try_from(len).ok()?)?;
            Some((q, end, initial, false))
        })();
        let Some((q, end, initial, keep)) = parsed else {
            if v1_layout {
                f.fail_closed(p..r.end);
            } else {
                // Unknown (e.g. GREASE) version that does not follow the v1
                // layout: only the invariant header is understood.
                f.policy(h.scid.end..r.end);
            }
            return;
        };
        let pe = end.min(r.end);
        if keep {
            return;
        }
        if initial && end <= r.end && initial_packet(f, pair, p, h.dcid.clone(), q, end, v) {
            f.counters.quic_initials_rewritten += 1;
        } else if initial {
            f.redact(q..pe);
            f.counters.quic_initials_redacted += 1;
        } else {
            f.policy(q..pe);
        }
        if end <= p {
            return;
        }
        p = end;
    }
}

/// An Initial decrypted, rewritten, protected again (see
/// [`super::quic_initial::rewrite_initial`]). False: not done, the caller
/// zeroes it.
fn initial_packet(
    f: &mut FrameRewrite<'_>,
    pair: Option<UdpPair>,
    p: usize,
    dcid: Range<usize>,
    pn_off: usize,
    end: usize,
    version: u32,
) -> bool {
    let dcid: ArrayVec<u8, 255> = f.orig[dcid].iter().copied().collect();
    // The header before the packet number is already rewritten where needed
    // (nothing in it is): work on the output copy of the packet.
    let ok = super::quic_initial::rewrite_initial(
        f.pseudonymizer,
        f.quic,
        pair,
        &mut f.out[p..end],
        version,
        &dcid,
        pn_off - p,
    );
    if !ok {
        // The attempt may have left partial writes: restore, then zero.
        f.out[p..end].copy_from_slice(&f.orig[p..end]);
    }
    ok
}
