//! QUIC Initial packets: remove the protection anyone can remove
//! (RFC 9001 §5: keys from the version's public salt and the Destination
//! Connection ID), rewrite the TLS SNI in the ClientHello carried by the
//! CRYPTO frames (same length), and protect the packet again, so the
//! sanitised capture still decrypts (tshark shows the pseudonym).
//!
//! The server's Initials open with the server keys of the same connection
//! ID and keep their ServerHello. Only what is understood is kept: a packet
//! that authenticates with none of these keys, a hello whose SNI cannot be
//! placed (see [`QuicHellos`] for the second pass), or a frame other than
//! PADDING/PING/ACK/CRYPTO/CONNECTION_CLOSE (whose reason is zeroed) makes
//! the caller zero the payload (fail closed).

use super::pseudo::Pseudonymizer;
use crate::decode::quic::{frames, hello_length, CryptoStream, Frame, HelloLength};
use crate::decode::quic_crypto::{
    initial_candidates, unprotect_header, PacketKeys, Unprotected, TAG_LEN,
};
use arrayvec::ArrayVec;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

/// Connections whose spread-out ClientHello is being put together at once,
/// and connections remembered: past these, Initials are zeroed as before.
const MAX_ASSEMBLING: usize = 1024;
const MAX_KNOWN: usize = 65_536;

/// The ClientHellos of QUIC connections, by the Destination Connection ID of
/// the client's Initials: where the SNI sits in the CRYPTO stream and what it
/// says (None: the hello has no SNI). A hello spread over several Initials
/// (browsers split and shuffle it) is only known once its last piece is
/// seen, after the earlier packets were written; a second pass over the same
/// capture, given what the first learned, rewrites every packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuicHellos {
    known: BTreeMap<Vec<u8>, Option<(u64, Vec<u8>)>>,
}

impl QuicHellos {
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Add what another pass learned.
    pub fn extend(&mut self, other: QuicHellos) {
        self.known.extend(other.known);
    }
}

/// A UDP conversation, the same both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct UdpPair((IpAddr, u16), (IpAddr, u16));

impl UdpPair {
    pub(crate) fn of(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> Self {
        let (x, y) = ((a, ap), (b, bp));
        if x <= y {
            UdpPair(x, y)
        } else {
            UdpPair(y, x)
        }
    }
}

/// One pass's QUIC state: hellos given by an earlier pass, hellos learned in
/// this one, and those still being put together.
#[derive(Default)]
pub(crate) struct QuicState {
    given: QuicHellos,
    learned: QuicHellos,
    assembling: HashMap<Vec<u8>, CryptoStream>,
    /// Connections with an Initial zeroed because its hello was not known yet.
    zeroed_early: std::collections::BTreeSet<Vec<u8>>,
    /// Conversations that carried QUIC long headers (their short-header
    /// packets have no marker of their own).
    conversations: HashSet<UdpPair>,
    /// The DCID the Initial keys of each conversation come from: that of
    /// the latest client Initial that opened with its own DCID.
    original_dcid: HashMap<UdpPair, ArrayVec<u8, 20>>,
}

impl QuicState {
    pub(crate) fn new(given: QuicHellos) -> Self {
        QuicState {
            given,
            ..Default::default()
        }
    }

    /// What a second pass needs: the hellos of connections whose Initials
    /// this pass zeroed early (None when there are none).
    pub(crate) fn for_second_pass(&self) -> Option<QuicHellos> {
        let known: BTreeMap<_, _> = self
            .zeroed_early
            .iter()
            .filter_map(|d| Some((d.clone(), self.learned.known.get(d)?.clone())))
            .collect();
        (!known.is_empty()).then_some(QuicHellos { known })
    }

    pub(crate) fn saw_quic(&mut self, pair: UdpPair) {
        if self.conversations.len() < MAX_KNOWN {
            self.conversations.insert(pair);
        }
    }

    pub(crate) fn is_quic(&self, pair: &UdpPair) -> bool {
        self.conversations.contains(pair)
    }

    fn known(&self, dcid: &[u8]) -> Option<&Option<(u64, Vec<u8>)>> {
        self.given
            .known
            .get(dcid)
            .or_else(|| self.learned.known.get(dcid))
    }
}

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
            Frame::Padding | Frame::Ping | Frame::Ack | Frame::Crypto { .. } => {}
            Frame::ConnectionClose { reason } => {
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
            Frame::Padding | Frame::Ping | Frame::Ack => {}
            Frame::Crypto { offset, data } => {
                let at = data.as_ptr() as usize - base;
                crypto.try_push((offset, at, data.len())).ok()?;
            }
            Frame::ConnectionClose { reason } => {
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
