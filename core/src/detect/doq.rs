//! DNS over QUIC (RFC 9250) in captures that carry their TLS secrets (a
//! pcapng Decryption Secrets Block with a key log), read as tshark 4.0 reads it.
//!
//! Per UDP flow that starts with a client Initial: the Initial packets are
//! opened with their public keys (RFC 9001 §5.2) for the ClientHello random
//! and ALPN list and the ServerHello cipher suite; the key log gives that
//! session's handshake and 1-RTT secrets, from which Handshake packets
//! (the server's EncryptedExtensions: the chosen ALPN) and short-header
//! packets are opened. When the ALPN is DoQ ("doq", or a draft "doq-…"),
//! the data of every STREAM frame is handed to DNS as tshark 4.0 does: one
//! message per frame, after its 2-byte length (tshark does not reassemble
//! nor split DoQ streams).
//!
//! Not read: 0-RTT packets, key updates (a flipped key phase fails to open),
//! ChaCha20-Poly1305 connections. Memory: at most [`MAX_CONNS`] connections
//! of a few packet-key sets each; packets are decrypted into one buffer each.

use crate::decode::keylog::KeyLog;
use crate::decode::quic::{frames, long_header, varint, LongHeader, QuicFrame};
use crate::decode::quic_crypto::{initial_candidates, open_packet, PacketKeys, Suite};
use crate::decode::tls::parse_client_hello;
use crate::flow::FxHashMap;
use arrayvec::ArrayVec;

/// Most QUIC connections followed at once; later ones are not read.
pub const MAX_CONNS: usize = 1024;

const CLIENT: usize = 0;
const SERVER: usize = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initial,
    Handshake,
    Other,
}

fn kind(version: u32, bits: u8) -> Kind {
    // QUIC v2 renumbers the long packet types (RFC 9369 §3.2).
    let v2 = version == 0x6b33_43cf;
    match (v2, bits) {
        (false, 0) | (true, 1) => Kind::Initial,
        (false, 2) | (true, 3) => Kind::Handshake,
        _ => Kind::Other,
    }
}

/// (packet-number offset, packet end) of a long-header Initial or Handshake
/// packet: token (Initial only) then Length.
fn long_layout(b: &[u8], h: &LongHeader, initial: bool) -> Option<(usize, usize)> {
    let mut q = h.scid.end;
    if initial {
        let (tl, n) = varint(b, q)?;
        q = q.checked_add(n)?.checked_add(usize::try_from(tl).ok()?)?;
    }
    let (len, n) = varint(b, q)?;
    let pn_off = q.checked_add(n)?;
    let end = pn_off.checked_add(usize::try_from(len).ok()?)?;
    (end <= b.len()).then_some((pn_off, end))
}

fn is_doq(alpn: &[u8]) -> bool {
    alpn == b"doq" || alpn.starts_with(b"doq-")
}

#[derive(Clone)]
struct Conn {
    client_is_orig: bool,
    version: u32,
    prefix: &'static str,
    /// The client's Destination Connection ID its Initial keys come from.
    initial_dcid: ArrayVec<u8, 20>,
    initial_keys: Option<[PacketKeys; 2]>,
    client_random: Option<[u8; 32]>,
    suite: Option<Suite>,
    /// ALPN the server chose (EncryptedExtensions), else the client's offer.
    alpn_doq: Option<bool>,
    offered_doq: bool,
    /// Short-header DCID length of packets each side sends.
    dcid_len: [Option<usize>; 2],
    hs_keys: [Option<PacketKeys>; 2],
    app_keys: [Option<PacketKeys>; 2],
    /// Largest packet number opened, by [space][side].
    largest: [[Option<u64>; 2]; 3],
    /// Nothing more can be read (no secrets, unsupported suite).
    dead: bool,
}

impl Conn {
    fn new(client_is_orig: bool, version: u32) -> Self {
        Conn {
            client_is_orig,
            version,
            prefix: "quic",
            initial_dcid: ArrayVec::new(),
            initial_keys: None,
            client_random: None,
            suite: None,
            alpn_doq: None,
            offered_doq: false,
            dcid_len: [None; 2],
            hs_keys: [None, None],
            app_keys: [None, None],
            largest: [[None; 2]; 3],
            dead: false,
        }
    }

    /// Initial keys of both sides for a client Initial sent to `dcid`
    /// (a Retry makes the client pick a new one): the first candidate
    /// salt whose client key opens `pkt`.
    fn initial_keys_for(&mut self, dcid: &[u8], pkt: &[u8], pn_off: usize) {
        if self.initial_keys.is_some() && self.initial_dcid.as_slice() == dcid {
            return;
        }
        for &(salt, prefix) in initial_candidates(self.version) {
            let (Some(c), Some(s)) = (
                PacketKeys::initial(salt, prefix, dcid, false),
                PacketKeys::initial(salt, prefix, dcid, true),
            ) else {
                continue;
            };
            if open_packet(&c, pkt, pn_off, None).is_some() {
                self.prefix = prefix;
                self.initial_dcid.clear();
                let _ = self.initial_dcid.try_extend_from_slice(dcid);
                self.initial_keys = Some([c, s]);
                return;
            }
        }
    }

    /// Handshake or 1-RTT keys of one side, derived once the key log, the
    /// client random and the suite are all known.
    fn keys(&mut self, keylog: &KeyLog, side: usize, handshake: bool) -> Option<&PacketKeys> {
        let slot_empty = if handshake {
            self.hs_keys[side].is_none()
        } else {
            self.app_keys[side].is_none()
        };
        if slot_empty {
            let secrets = keylog.get(self.client_random.as_ref()?)?;
            let secret = secrets.of(side == SERVER, handshake)?;
            let keys = PacketKeys::from_secret(self.suite?, secret, self.prefix)?;
            if handshake {
                self.hs_keys[side] = Some(keys);
            } else {
                self.app_keys[side] = Some(keys);
            }
        }
        if handshake {
            self.hs_keys[side].as_ref()
        } else {
            self.app_keys[side].as_ref()
        }
    }

    /// TLS messages at the start of a CRYPTO stream: ClientHello (random,
    /// ALPN offer), ServerHello (suite), EncryptedExtensions (ALPN chosen).
    fn on_crypto(&mut self, side: usize, offset: u64, data: &[u8]) {
        if offset != 0 || data.len() < 4 {
            return;
        }
        match (side, data[0]) {
            (CLIENT, 1) => {
                let Some(random) = data.get(6..38) else {
                    return;
                };
                let mut r = [0u8; 32];
                r.copy_from_slice(random);
                self.client_random = Some(r);
                if let Some(h) = parse_client_hello(data) {
                    self.offered_doq = !h.alpn.is_empty()
                        && h.alpn
                            .iter()
                            .all(|a| data.get(a.clone()).is_some_and(is_doq));
                }
            }
            (SERVER, 2) => {
                let Some(&sid) = data.get(38) else { return };
                let at = 39 + sid as usize;
                if let Some(cs) = data.get(at..at + 2) {
                    self.suite = Suite::from_tls(u16::from_be_bytes([cs[0], cs[1]]));
                    self.dead |= self.suite.is_none();
                }
            }
            (SERVER, 8) => {
                let be16 = |p: usize| data.get(p..p + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
                let Some(ext_len) = be16(4) else { return };
                let end = (6 + ext_len as usize).min(data.len());
                let mut p = 6;
                while p + 4 <= end {
                    let (Some(ty), Some(len)) = (be16(p), be16(p + 2)) else {
                        return;
                    };
                    if ty == 16 {
                        // ALPN: list length, then the one protocol chosen.
                        let n = data.get(p + 6).copied().unwrap_or(0) as usize;
                        if let Some(name) = data.get(p + 7..p + 7 + n) {
                            self.alpn_doq = Some(is_doq(name));
                        }
                        return;
                    }
                    p += 4 + len as usize;
                }
                self.alpn_doq = Some(false);
            }
            _ => {}
        }
    }
}

/// The DoQ reader: key log plus per-flow QUIC state.
#[derive(Clone, Default)]
pub struct DoqReader {
    keylog: KeyLog,
    conns: FxHashMap<u64, Conn>,
}

impl DoqReader {
    /// Add the text of a TLS key log.
    pub fn add_key_log(&mut self, text: &[u8]) {
        self.keylog.add_text(text);
    }

    /// Read one UDP datagram of flow `flow`. Returns false when the flow is
    /// not a QUIC connection followed here; otherwise appends the DNS
    /// messages found (each STREAM frame's data after its 2-byte length).
    pub fn on_datagram(
        &mut self,
        flow: u64,
        from_orig: bool,
        p: &[u8],
        out: &mut Vec<Vec<u8>>,
    ) -> bool {
        if !self.conns.contains_key(&flow) {
            // A connection is followed from its first client Initial.
            let Some(h) = long_header(p, 0) else {
                return false;
            };
            if kind(h.version, h.packet_type) != Kind::Initial
                || initial_candidates(h.version).is_empty()
                || self.conns.len() >= MAX_CONNS
            {
                return false;
            }
            self.conns.insert(flow, Conn::new(from_orig, h.version));
        }
        let Some(conn) = self.conns.get_mut(&flow) else {
            return false;
        };
        if conn.dead {
            return true;
        }
        let side = if from_orig == conn.client_is_orig {
            CLIENT
        } else {
            SERVER
        };
        let mut pos = 0usize;
        while pos < p.len() {
            let first = p[pos];
            if first & 0x80 == 0 {
                // A short-header packet runs to the end of the datagram.
                if first & 0x40 != 0 {
                    Self::short(conn, &self.keylog, side, &p[pos..], out);
                }
                break;
            }
            let Some(h) = long_header(p, pos) else {
                break;
            };
            let k = kind(h.version, h.packet_type);
            if h.version != conn.version || k == Kind::Other {
                break;
            }
            let Some((pn_off, end)) = long_layout(p, &h, k == Kind::Initial) else {
                break;
            };
            // The other side addresses this side by its Source Connection ID.
            conn.dcid_len[1 - side] = Some(h.scid.len());
            let pkt = &p[pos..end];
            let pn_off = pn_off - pos;
            let space = if k == Kind::Initial { 0 } else { 1 };
            let largest = conn.largest[space][side];
            let keys = if k == Kind::Initial {
                if side == CLIENT {
                    conn.initial_keys_for(&p[h.dcid.clone()], pkt, pn_off);
                }
                conn.initial_keys.as_ref().map(|k| &k[side])
            } else {
                conn.keys(&self.keylog, side, true)
            };
            if let Some(opened) = keys.and_then(|k| open_packet(k, pkt, pn_off, largest)) {
                let l = &mut conn.largest[space][side];
                *l = Some(l.map_or(opened.pn, |x| x.max(opened.pn)));
                for f in frames(&opened.payload) {
                    match f {
                        Ok(QuicFrame::Crypto { offset, data }) => {
                            conn.on_crypto(side, offset, data)
                        }
                        Ok(_) => {}
                        Err(()) => break,
                    }
                }
            }
            pos = end;
        }
        true
    }

    fn short(conn: &mut Conn, keylog: &KeyLog, side: usize, pkt: &[u8], out: &mut Vec<Vec<u8>>) {
        let Some(dl) = conn.dcid_len[side] else {
            return;
        };
        let largest = conn.largest[2][side];
        let Some(opened) = conn
            .keys(keylog, side, false)
            .and_then(|k| open_packet(k, pkt, 1 + dl, largest))
        else {
            return;
        };
        let l = &mut conn.largest[2][side];
        *l = Some(l.map_or(opened.pn, |x| x.max(opened.pn)));
        if !conn.alpn_doq.unwrap_or(conn.offered_doq) {
            return;
        }
        for f in frames(&opened.payload) {
            match f {
                Ok(QuicFrame::Stream { data, .. }) if data.len() >= 2 => {
                    out.push(data[2..].to_vec())
                }
                Ok(_) => {}
                Err(()) => break,
            }
        }
    }

    /// Forget a finished flow.
    pub fn end(&mut self, flow: u64) {
        self.conns.remove(&flow);
    }
}
