//! QUIC packet protection (RFC 9001 §5): packet keys from a TLS secret
//! (HKDF-Expand-Label "quic key" / "quic iv" / "quic hp"), header protection,
//! packet-number reconstruction and AEAD. Used by the sanitizer (client
//! Initial packets, public keys) and by the DNS-over-QUIC reader (Handshake
//! and 1-RTT packets, with key-log secrets from the capture).
//!
//! Suites: TLS_AES_128_GCM_SHA256 and TLS_AES_256_GCM_SHA384 (the crates are
//! already in the workspace; ChaCha20-Poly1305 would need new ones).
//! No-panic contract: every length is checked; nothing is sized by the packet.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::{Aes128, Aes256};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce, Tag};
use arrayvec::ArrayVec;
use hkdf::Hkdf;
use sha2::{Sha256, Sha384};

/// AEAD tag length of every supported suite.
pub const TAG_LEN: usize = 16;

/// A TLS 1.3 cipher suite QUIC packets can be protected with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    Aes128GcmSha256,
    Aes256GcmSha384,
}

impl Suite {
    pub fn from_tls(id: u16) -> Option<Suite> {
        match id {
            0x1301 => Some(Suite::Aes128GcmSha256),
            0x1302 => Some(Suite::Aes256GcmSha384),
            _ => None,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Suite::Aes128GcmSha256 => 16,
            Suite::Aes256GcmSha384 => 32,
        }
    }
}

/// Every (Initial salt, HKDF label prefix) a packet of version `v` may be protected with.
pub fn initial_candidates(v: u32) -> &'static [(&'static [u8; 20], &'static str)] {
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

/// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
pub fn expand_label(suite: Suite, secret: &[u8], label: &str, out: &mut [u8]) -> Option<()> {
    let mut info: ArrayVec<u8, 96> = ArrayVec::new();
    info.try_extend_from_slice(&u16::try_from(out.len()).ok()?.to_be_bytes())
        .ok()?;
    info.try_push(u8::try_from(6 + label.len()).ok()?).ok()?;
    info.try_extend_from_slice(b"tls13 ").ok()?;
    info.try_extend_from_slice(label.as_bytes()).ok()?;
    info.try_push(0).ok()?;
    match suite {
        Suite::Aes128GcmSha256 => Hkdf::<Sha256>::from_prk(secret).ok()?.expand(&info, out),
        Suite::Aes256GcmSha384 => Hkdf::<Sha384>::from_prk(secret).ok()?.expand(&info, out),
    }
    .ok()
}

// Boxed: key schedules are large and a connection holds several.
#[derive(Clone)]
enum Aead {
    A128(Box<Aes128Gcm>),
    A256(Box<Aes256Gcm>),
}

#[derive(Clone)]
enum Hp {
    A128(Box<Aes128>),
    A256(Box<Aes256>),
}

/// Packet protection keys of one direction and packet-number space.
#[derive(Clone)]
pub struct PacketKeys {
    aead: Aead,
    iv: [u8; 12],
    hp: Hp,
}

impl PacketKeys {
    /// Keys from a traffic secret (RFC 9001 §5.1); `prefix` is "quic" (v1,
    /// drafts) or "quicv2".
    pub fn from_secret(suite: Suite, secret: &[u8], prefix: &str) -> Option<PacketKeys> {
        let n = suite.key_len();
        let (mut key, mut iv, mut hp) = ([0u8; 32], [0u8; 12], [0u8; 32]);
        let mut label: ArrayVec<u8, 16> = ArrayVec::new();
        let mut derive = |what: &str, out: &mut [u8]| -> Option<()> {
            label.clear();
            label.try_extend_from_slice(prefix.as_bytes()).ok()?;
            label.try_extend_from_slice(what.as_bytes()).ok()?;
            expand_label(suite, secret, std::str::from_utf8(&label).ok()?, out)
        };
        derive(" key", &mut key[..n])?;
        derive(" iv", &mut iv)?;
        derive(" hp", &mut hp[..n])?;
        let (aead, hp) = match suite {
            Suite::Aes128GcmSha256 => (
                Aead::A128(Box::new(Aes128Gcm::new_from_slice(&key[..16]).ok()?)),
                Hp::A128(Box::new(Aes128::new_from_slice(&hp[..16]).ok()?)),
            ),
            Suite::Aes256GcmSha384 => (
                Aead::A256(Box::new(Aes256Gcm::new_from_slice(&key).ok()?)),
                Hp::A256(Box::new(Aes256::new_from_slice(&hp).ok()?)),
            ),
        };
        Some(PacketKeys { aead, iv, hp })
    }

    /// Initial keys of the client (`server` false) or server side, from the
    /// client's first Destination Connection ID.
    pub fn initial(salt: &[u8; 20], prefix: &str, dcid: &[u8], server: bool) -> Option<Self> {
        let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), dcid);
        let mut secret = [0u8; 32];
        let label = if server { "server in" } else { "client in" };
        expand_label(Suite::Aes128GcmSha256, &initial, label, &mut secret)?;
        Self::from_secret(Suite::Aes128GcmSha256, &secret, prefix)
    }

    /// Header-protection mask for a 16-byte `sample` of the ciphertext.
    pub fn mask(&self, sample: &[u8]) -> Option<[u8; 16]> {
        let mut b = aes::Block::clone_from_slice(sample.get(..16)?);
        match &self.hp {
            Hp::A128(c) => c.encrypt_block(&mut b),
            Hp::A256(c) => c.encrypt_block(&mut b),
        }
        Some(b.into())
    }

    fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        nonce
    }

    /// Decrypt `buf` in place (ciphertext without its tag).
    pub fn open(&self, pn: u64, aad: &[u8], buf: &mut [u8], tag: &[u8]) -> Option<()> {
        let nonce = self.nonce(pn);
        let nonce = Nonce::from_slice(&nonce);
        let tag = Tag::from_slice(tag.get(..TAG_LEN)?);
        match &self.aead {
            Aead::A128(a) => a.decrypt_in_place_detached(nonce, aad, buf, tag),
            Aead::A256(a) => a.decrypt_in_place_detached(nonce, aad, buf, tag),
        }
        .ok()
    }

    /// Encrypt `buf` in place; returns the tag.
    pub fn seal(&self, pn: u64, aad: &[u8], buf: &mut [u8]) -> Option<[u8; TAG_LEN]> {
        let nonce = self.nonce(pn);
        let nonce = Nonce::from_slice(&nonce);
        match &self.aead {
            Aead::A128(a) => a.encrypt_in_place_detached(nonce, aad, buf),
            Aead::A256(a) => a.encrypt_in_place_detached(nonce, aad, buf),
        }
        .ok()
        .map(Into::into)
    }
}

/// The full packet number closest to the next expected one (RFC 9000 A.3).
pub fn decode_pn(largest: Option<u64>, truncated: u64, pn_len: usize) -> u64 {
    let bits = 8 * pn_len.clamp(1, 4) as u32;
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let win = 1u64 << bits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | (truncated & mask);
    if candidate.saturating_add(hwin) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// A packet with its protection removed.
pub struct Opened {
    pub pn: u64,
    /// First byte with the protected bits cleared.
    pub first: u8,
    /// The frames.
    pub payload: Vec<u8>,
}

/// A packet's header with its protection removed.
pub struct Unprotected {
    /// The header as it is authenticated: first byte and packet number in the clear.
    pub header: ArrayVec<u8, 128>,
    /// First byte with the protected bits cleared.
    pub first: u8,
    pub pn_len: usize,
    /// The packet number's low bytes, as sent.
    pub truncated_pn: u64,
}

/// Remove header protection: `pkt` runs from its first byte to its end (the
/// Length of a long header, the datagram's end for a short one); the packet
/// number starts at `pn_off`. None when the packet is too short.
pub fn unprotect_header(keys: &PacketKeys, pkt: &[u8], pn_off: usize) -> Option<Unprotected> {
    let long = *pkt.first()? & 0x80 != 0;
    let mask = keys.mask(pkt.get(pn_off + 4..pn_off + 20)?)?;
    let first = pkt[0] ^ (mask[0] & if long { 0x0f } else { 0x1f });
    let pn_len = (first & 3) as usize + 1;
    let hdr_end = pn_off + pn_len;
    if pkt.len() < hdr_end + TAG_LEN {
        return None;
    }
    let mut header: ArrayVec<u8, 128> = ArrayVec::new();
    header.try_extend_from_slice(&pkt[..hdr_end]).ok()?;
    header[0] = first;
    let mut truncated_pn = 0u64;
    for i in 0..pn_len {
        header[pn_off + i] ^= mask[1 + i];
        truncated_pn = (truncated_pn << 8) | header[pn_off + i] as u64;
    }
    Some(Unprotected {
        header,
        first,
        pn_len,
        truncated_pn,
    })
}

/// Remove header protection from and decrypt one packet (see
/// [`unprotect_header`] for `pkt` and `pn_off`).
pub fn open_packet(
    keys: &PacketKeys,
    pkt: &[u8],
    pn_off: usize,
    largest: Option<u64>,
) -> Option<Opened> {
    let h = unprotect_header(keys, pkt, pn_off)?;
    let pn = decode_pn(largest, h.truncated_pn, h.pn_len);
    let hdr_end = pn_off + h.pn_len;
    let body_end = pkt.len() - TAG_LEN;
    let mut payload = pkt[hdr_end..body_end].to_vec();
    keys.open(pn, &h.header, &mut payload, &pkt[body_end..])?;
    Some(Opened {
        pn,
        first: h.first,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

    /// RFC 9001 Appendix A.1: Initial secrets and keys of both sides.
    #[test]
    fn rfc9001_a1_labels() {
        let (salt, _) = initial_candidates(1)[0];
        let (initial, _) = Hkdf::<Sha256>::extract(Some(salt), &DCID);
        let s = Suite::Aes128GcmSha256;
        let mut client = [0u8; 32];
        expand_label(s, &initial, "client in", &mut client).unwrap();
        assert_eq!(
            hex(&client),
            "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
        );
        let mut server = [0u8; 32];
        expand_label(s, &initial, "server in", &mut server).unwrap();
        assert_eq!(
            hex(&server),
            "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b"
        );
        let (mut key, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(s, &client, "quic key", &mut key).unwrap();
        expand_label(s, &client, "quic iv", &mut iv).unwrap();
        expand_label(s, &client, "quic hp", &mut hp).unwrap();
        assert_eq!(hex(&key), "1f369613dd76d5467730efcbe3b1a22d");
        assert_eq!(hex(&iv), "fa044b2f42a3fd3b46fb255c");
        assert_eq!(hex(&hp), "9f50449e04a0e810283a1e9933adedd2");
        expand_label(s, &server, "quic key", &mut key).unwrap();
        expand_label(s, &server, "quic hp", &mut hp).unwrap();
        assert_eq!(hex(&key), "cf3a5331653c364c88f0f379b6067e37");
        assert_eq!(hex(&hp), "c206b8d9b9f0f37644430b490eeaa314");
    }

    /// RFC 9001 Appendix A.2/A.3: the header-protection mask of the client
    /// Initial and the server Initial, and the unprotected first byte and
    /// packet number.
    #[test]
    fn rfc9001_header_protection() {
        let (salt, prefix) = initial_candidates(1)[0];
        let client = PacketKeys::initial(salt, prefix, &DCID, false).unwrap();
        let m = client
            .mask(&unhex("d1b1c98dd7689fb8ec11d242b123dc9b"))
            .unwrap();
        assert_eq!(hex(&m[..5]), "437b9aec36");
        // Protected first byte c3 (A.2 shows 0xc0 ^ 0x03 masked to 0xc0).
        assert_eq!(0xc0 ^ (m[0] & 0x0f), 0xc3);
        let server = PacketKeys::initial(salt, prefix, &DCID, true).unwrap();
        let m = server
            .mask(&unhex("2cd0991cd25b0aac406a5816b6394100"))
            .unwrap();
        assert_eq!(hex(&m[..5]), "2ec0d8356a");
    }

    /// RFC 9001 Appendix A.5: a ChaCha20 short-header packet is out of scope,
    /// but its packet-number example is the RFC 9000 A.3 one.
    #[test]
    fn packet_numbers_are_reconstructed_near_the_largest() {
        assert_eq!(decode_pn(Some(0xa82f30ea), 0x9b32, 2), 0xa82f9b32);
        assert_eq!(decode_pn(None, 0, 1), 0);
        assert_eq!(decode_pn(Some(254), 0x01, 1), 257);
        assert_eq!(decode_pn(Some(300), 0xff, 1), 255);
        assert_eq!(decode_pn(Some(u64::MAX >> 2), 0, 4), 1 << 62);
    }

    /// Seal and open round trip through header protection, both suites.
    #[test]
    fn short_header_round_trip_both_suites() {
        for suite in [Suite::Aes128GcmSha256, Suite::Aes256GcmSha384] {
            let secret = [7u8; 48];
            let n = if suite == Suite::Aes128GcmSha256 {
                32
            } else {
                48
            };
            let keys = PacketKeys::from_secret(suite, &secret[..n], "quic").unwrap();
            let pn = 0x1234u64;
            // Short header: first byte (2-byte PN), 4-byte DCID, PN.
            let mut pkt = vec![0x41, 1, 2, 3, 4, 0x12, 0x34];
            let mut body = b"frames of the packet, long enough to sample".to_vec();
            let tag = keys.seal(pn, &pkt, &mut body).unwrap();
            pkt.extend_from_slice(&body);
            pkt.extend_from_slice(&tag);
            let mask = keys.mask(&pkt[5 + 4..5 + 20]).unwrap();
            pkt[0] ^= mask[0] & 0x1f;
            pkt[5] ^= mask[1];
            pkt[6] ^= mask[2];
            let o = open_packet(&keys, &pkt, 5, Some(0x1200)).unwrap();
            assert_eq!((o.pn, o.first), (pn, 0x41));
            assert_eq!(o.payload, b"frames of the packet, long enough to sample");
            // Wrong largest PN → wrong nonce → the tag does not verify.
            assert!(open_packet(&keys, &pkt, 5, Some(0x9000_0000)).is_none());
            for cut in 0..pkt.len() {
                let _ = open_packet(&keys, &pkt[..cut], 5, None);
            }
        }
    }
}
