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
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use arrayvec::ArrayVec;
use hkdf::Hkdf;
use sha2::Sha256;

/// Every (Initial salt, HKDF label prefix) a packet of version `v` may be protected with.
fn candidates(v: u32) -> &'static [(&'static [u8; 20], &'static str)] {
    const V1: [u8; 20] = [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c,
        0xad, 0xcc, 0xbb, 0x7f, 0x0a,
    ];
    const V2: [u8; 20] = [
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d,
        0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
    ];
    const DRAFT29: [u8; 20] = [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,
        0xe0, 0x43, 0x90, 0xa8, 0x99,
    ];
    match v {
        1 => &[(&V1, "quic")],
        0x6b33_43cf => &[(&V2, "quicv2")],
        0xff00_001d..=0xff00_0020 => &[(&DRAFT29, "quic")],
        // Reserved versions that force version negotiation: clients protect
        // them with the keys of a version they speak; the tag tells which.
        _ if v & 0x0f0f_0f0f == 0x0a0a_0a0a => {
            &[(&V1, "quic"), (&DRAFT29, "quic"), (&V2, "quicv2")]
        }
        _ => &[],
    }
}

fn expand_label(secret: &[u8], label: &str, out: &mut [u8]) -> Option<()> {
    let hk = Hkdf::<Sha256>::from_prk(secret).ok()?;
    let full = format!("tls13 {label}");
    let mut info: ArrayVec<u8, 64> = ArrayVec::new();
    info.try_extend_from_slice(&(out.len() as u16).to_be_bytes())
        .ok()?;
    info.try_push(full.len() as u8).ok()?;
    info.try_extend_from_slice(full.as_bytes()).ok()?;
    info.try_push(0).ok()?;
    hk.expand(&info, out).ok()
}

struct Keys {
    aead: Aes128Gcm,
    iv: [u8; 12],
    hp: Aes128,
}

fn client_keys(salt: &[u8; 20], prefix: &str, dcid: &[u8]) -> Option<Keys> {
    let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), dcid);
    let mut client = [0u8; 32];
    expand_label(&initial, "client in", &mut client)?;
    let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
    expand_label(&client, &format!("{prefix} key"), &mut key)?;
    expand_label(&client, &format!("{prefix} iv"), &mut iv)?;
    expand_label(&client, &format!("{prefix} hp"), &mut hp)?;
    Some(Keys {
        aead: Aes128Gcm::new_from_slice(&key).ok()?,
        iv,
        hp: Aes128::new_from_slice(&hp).ok()?,
    })
}

fn hp_mask(hp: &Aes128, sample: &[u8]) -> [u8; 16] {
    let mut b = aes::Block::clone_from_slice(&sample[..16]);
    hp.encrypt_block(&mut b);
    b.into()
}

fn varint(b: &[u8], p: usize) -> Option<(u64, usize)> {
    crate::decode::quic::varint(b, p)
}

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
    candidates(version)
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
        let keys = client_keys(salt, prefix, dcid)?;
        let sample = pkt.get(pn_off + 4..pn_off + 20)?;
        let mask = hp_mask(&keys.hp, sample);
        let first = pkt[0] ^ (mask[0] & 0x0f);
        let pn_len = (first & 3) as usize + 1;
        let hdr_end = pn_off + pn_len;
        if pkt.len() < hdr_end + 16 {
            return None;
        }
        let mut header: ArrayVec<u8, 128> = ArrayVec::new();
        header.try_extend_from_slice(&pkt[..hdr_end]).ok()?;
        header[0] = first;
        let mut pn = 0u64;
        for i in 0..pn_len {
            header[pn_off + i] ^= mask[1 + i];
            pn = (pn << 8) | header[pn_off + i] as u64;
        }
        let mut nonce = keys.iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        let body_end = pkt.len() - 16;
        let tag = Tag::clone_from_slice(&pkt[body_end..]);
        let mut plain: Vec<u8> = pkt[hdr_end..body_end].to_vec();
        keys.aead
            .decrypt_in_place_detached(Nonce::from_slice(&nonce), &header, &mut plain, &tag)
            .ok()?;
        if !rewrite_sni(ps, &mut plain)? {
            return None;
        }
        let tag = keys
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), &header, &mut plain)
            .ok()?;
        pkt[hdr_end..body_end].copy_from_slice(&plain);
        pkt[body_end..].copy_from_slice(&tag);
        // Header protection again, with the sample of the new ciphertext.
        let mask = hp_mask(&keys.hp, &pkt[pn_off + 4..pn_off + 20]);
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
    let mut frames: ArrayVec<(u64, usize, usize), 32> = ArrayVec::new();
    let mut p = 0;
    while p < plain.len() {
        match plain[p] {
            0x00 | 0x01 => p += 1,
            0x02 | 0x03 => {
                let ecn = plain[p] == 0x03;
                p += 1;
                let mut fields = 4; // largest, delay, range count, first range
                let mut ranges = 0;
                while fields > 0 {
                    let (v, n) = varint(plain, p)?;
                    if fields == 2 {
                        ranges = v;
                    }
                    p += n;
                    fields -= 1;
                }
                for _ in 0..ranges.min(256) * 2 + if ecn { 3 } else { 0 } {
                    p += varint(plain, p)?.1;
                }
                if ranges > 256 {
                    return None;
                }
            }
            0x06 => {
                let (off, n1) = varint(plain, p + 1)?;
                let (len, n2) = varint(plain, p + 1 + n1)?;
                let start = p + 1 + n1 + n2;
                let end = start.checked_add(usize::try_from(len).ok()?)?;
                if end > plain.len() {
                    return None;
                }
                frames.try_push((off, start, end - start)).ok()?;
                p = end;
            }
            _ => return None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9001_a1_client_keys() {
        let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
        let (salt, _) = candidates(1)[0];
        let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), &dcid);
        let mut client = [0u8; 32];
        expand_label(&initial, "client in", &mut client).unwrap();
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&client),
            "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
        );
        let mut iv = [0u8; 12];
        expand_label(&client, "quic iv", &mut iv).unwrap();
        assert_eq!(hex(&iv), "fa044b2f42a3fd3b46fb255c");
        let mut hp = [0u8; 16];
        expand_label(&client, "quic hp", &mut hp).unwrap();
        assert_eq!(hex(&hp), "9f50449e04a0e810283a1e9933adedd2");
    }
}
