//! QUIC client Initial packets: remove the protection anyone can remove
//! (RFC 9001 §5: keys from the version's public salt and the Destination
//! Connection ID), rewrite the TLS SNI in the ClientHello carried by the
//! CRYPTO frames (same length), and protect the packet again, so the
//! sanitised capture still decrypts (tshark shows the pseudonym).
//!
//! Only what is understood is kept: a client Initial whose ClientHello start
//! and SNI are not in the packet, a packet that does not authenticate, or a
//! frame that is not PADDING/PING/ACK/CRYPTO makes the caller zero the
//! payload (fail closed).

use super::pseudo::Pseudonymizer;
use crate::decode::quic::{frames, Frame};
use crate::decode::quic_crypto::{
    initial_candidates, unprotect_header, PacketKeys, Unprotected, TAG_LEN,
};
use arrayvec::ArrayVec;

/// Rewrite the client Initial `pkt` (one whole long-header packet: first
/// byte through the end of its Length) in place. `pn_off` is where the
/// (protected) packet number starts, `dcid` the Destination Connection ID.
/// Returns true when the packet was rewritten and protected again (or had
/// nothing to rewrite); false when the caller must zero its payload.
pub(crate) fn rewrite_client_initial(
    ps: &mut Pseudonymizer,
    pkt: &mut [u8],
    version: u32,
    dcid: &[u8],
    pn_off: usize,
) -> bool {
    initial_candidates(version)
        .iter()
        .any(|&(salt, prefix)| rewrite_with(ps, pkt, salt, prefix, dcid, pn_off))
}

fn rewrite_with(
    ps: &mut Pseudonymizer,
    pkt: &mut [u8],
    salt: &[u8; 20],
    prefix: &str,
    dcid: &[u8],
    pn_off: usize,
) -> bool {
    (|| -> Option<bool> {
        let keys = PacketKeys::initial(salt, prefix, dcid, false)?;
        let Unprotected {
            header,
            first,
            pn_len,
            truncated_pn,
        } = unprotect_header(&keys, pkt, pn_off)?;
        // Client Initials start at packet number 0: the truncated number is the number.
        let pn = truncated_pn;
        let hdr_end = pn_off + pn_len;
        let body_end = pkt.len() - TAG_LEN;
        let mut plain: Vec<u8> = pkt[hdr_end..body_end].to_vec();
        keys.open(pn, &header, &mut plain, &pkt[body_end..])?;
        if !rewrite_sni(ps, &mut plain)? {
            return None;
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
    })()
    .unwrap_or(false)
}

/// Walk the frames of a decrypted client Initial; rewrite the SNI found in
/// the CRYPTO data. Some(true): every CRYPTO byte is accounted for (the
/// ClientHello start and its SNI, if any, were in this packet and were
/// rewritten, or the packet carries no CRYPTO frame); Some(false)/None: not.
fn rewrite_sni(ps: &mut Pseudonymizer, plain: &mut [u8]) -> Option<bool> {
    // (offset in the CRYPTO stream, position in `plain`, length)
    let mut crypto: ArrayVec<(u64, usize, usize), 32> = ArrayVec::new();
    let base = plain.as_ptr() as usize;
    for f in frames(plain) {
        match f.ok()? {
            Frame::Padding | Frame::Ping | Frame::Ack => {}
            Frame::Crypto { offset, data } => {
                let at = data.as_ptr() as usize - base;
                crypto.try_push((offset, at, data.len())).ok()?;
            }
            _ => return None,
        }
    }
    let mut frames = crypto;
    if frames.is_empty() {
        return Some(true);
    }
    // The CRYPTO data contiguous from stream offset 0, as positions in `plain`.
    frames.sort_unstable();
    let mut map: Vec<usize> = Vec::new();
    let mut beyond_gap = false;
    for &(off, at, len) in &frames {
        if off != map.len() as u64 {
            beyond_gap = true;
            break;
        }
        map.extend(at..at + len);
    }
    let hello: Vec<u8> = map.iter().map(|&i| plain[i]).collect();
    match sni_range(&hello) {
        Some((s, e)) => {
            let mut name: Vec<u8> = hello[s..e].to_vec();
            ps.pseudonymize_dns_name_in_place(&mut name);
            for (k, &i) in map[s..e].iter().enumerate() {
                plain[i] = name[k];
            }
            Some(true)
        }
        // No SNI in a ClientHello held whole: nothing to rewrite. Anything
        // else (no start, or bytes after a gap that may hold it): unknown.
        None => Some(!map.is_empty() && !beyond_gap && hello_is_whole(&hello)),
    }
}

fn hello_is_whole(h: &[u8]) -> bool {
    h.len() >= 4 && h[0] == 1 && {
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        h.len() >= 4 + len
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
