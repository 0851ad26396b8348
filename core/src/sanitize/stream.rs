//! What the sanitizer remembers between frames, so a TLS record, a DNS
//! message or an HTTP body that spans TCP segments is rewritten with the same
//! understanding in every segment (a certificate's continuation is still a
//! certificate; chunk sizes of a chunked body stay intact), a retransmission
//! is rewritten exactly as the first copy was, and a QUIC conversation is
//! known as one after its first long header.
//!
//! Only the state lives here, with no byte walking: each protocol walker
//! (`tls`, `der`, `http`, `quic_initial`) advances its part of it. That keeps
//! the arrows one way: walkers depend on this module, never the reverse.
//!
//! Memory is bounded: at most [`MAX_STREAMS`] directions are tracked (the
//! table is cleared when full; an untracked segment is treated fail-safe).

use crate::decode::quic::CryptoStream;
use arrayvec::ArrayVec;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

pub const MAX_STREAMS: usize = 65_536;
/// Recent (sequence number → state before it) pairs kept per direction.
const RING: usize = 8;

/// Where a direction's byte stream stands at a segment boundary.
// The TLS variant carries a certificate walk (~200 bytes): copied per
// segment, so boxing it would allocate per segment; at most MAX_STREAMS
// directions hold one (~13 MB at worst), and the retransmission ring keeps
// the compact form.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamState {
    /// Nothing known: the next segment must start a message we recognise.
    #[default]
    Unknown,
    /// Inside a TLS record: `remaining` bytes of content type `rtype` follow;
    /// `handshake` is the handshake message in progress (it may span records).
    /// When the segment ended inside the next record's 5-byte header, its
    /// first `head_len` bytes are in `head`.
    Tls {
        remaining: u32,
        rtype: u8,
        handshake: Handshake,
        head: [u8; 4],
        head_len: u8,
    },
    /// Inside a DNS-over-TCP message: this many bytes of it follow.
    DnsTcp { remaining: u32 },
    /// Inside an HTTP header block (`mid_line`: a line was cut).
    HttpHeaders { mid_line: bool, next: NextBody },
    /// Inside an HTTP body.
    Body(Body),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// This many body bytes follow (u64::MAX: until the connection closes).
    Length(u64),
    /// Chunked: reading a chunk-size line (value so far, past the digits?).
    ChunkSize {
        value: u64,
        done: bool,
    },
    ChunkData(u64),
    /// CR/LF after chunk data still to come.
    ChunkEnd(u8),
    /// Trailer lines; `at_line_start` with nothing on the line yet.
    Trailer {
        at_line_start: bool,
    },
}

/// One direction of a TCP connection (source to destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DirectionKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// A state as the retransmission ring keeps it: small, because every
/// direction keeps [`RING`] of them. A TLS handshake walk's details (a
/// ClientHello's fields, a certificate string a segment cut) are not kept:
/// a retransmitted segment that starts inside one is zeroed to the end of
/// its message (`lost`). They exist only while a message spans segments,
/// so this is rare, and kept as the current state of each direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum CompactState {
    #[default]
    Unknown,
    Tls {
        remaining: u32,
        rtype: u8,
        handshake_type: u8,
        handshake_left: u32,
        lost: bool,
        head: [u8; 4],
        head_len: u8,
    },
    DnsTcp {
        remaining: u32,
    },
    HttpHeaders {
        mid_line: bool,
        next: NextBody,
    },
    Body(Body),
}

impl CompactState {
    fn of(st: StreamState) -> CompactState {
        match st {
            StreamState::Unknown => CompactState::Unknown,
            StreamState::Tls {
                remaining,
                rtype,
                handshake,
                head,
                head_len,
            } => {
                let (handshake_type, handshake_left, lost) = handshake.compact();
                CompactState::Tls {
                    remaining,
                    rtype,
                    handshake_type,
                    handshake_left,
                    lost,
                    head,
                    head_len,
                }
            }
            StreamState::DnsTcp { remaining } => CompactState::DnsTcp { remaining },
            StreamState::HttpHeaders { mid_line, next } => {
                CompactState::HttpHeaders { mid_line, next }
            }
            StreamState::Body(b) => CompactState::Body(b),
        }
    }

    fn state(self) -> StreamState {
        match self {
            CompactState::Unknown => StreamState::Unknown,
            CompactState::Tls {
                remaining,
                rtype,
                handshake_type,
                handshake_left,
                lost,
                head,
                head_len,
            } => StreamState::Tls {
                remaining,
                rtype,
                handshake: Handshake::restored(handshake_type, handshake_left, lost),
                head,
                head_len,
            },
            CompactState::DnsTcp { remaining } => StreamState::DnsTcp { remaining },
            CompactState::HttpHeaders { mid_line, next } => {
                StreamState::HttpHeaders { mid_line, next }
            }
            CompactState::Body(b) => StreamState::Body(b),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct DirectionState {
    next_seq: u32,
    st: StreamState,
    ring: [(u32, CompactState); RING],
    ring_len: u8,
    ring_at: u8,
}

#[derive(Debug, Default)]
pub struct Streams {
    dirs: HashMap<DirectionKey, DirectionState>,
    /// The segment being walked: its direction, sequence number and where
    /// its payload starts in the frame.
    segment: Option<(DirectionKey, u32, usize)>,
    /// TLS server names cut by segment boundaries.
    pub cuts: CutState,
}

impl Streams {
    pub fn new(known_cuts: CutNames) -> Self {
        Streams {
            cuts: CutState::new(known_cuts),
            ..Self::default()
        }
    }

    /// The segment about to be walked.
    pub fn enter_segment(&mut self, key: DirectionKey, seq: u32, payload_start: usize) {
        self.segment = Some((key, seq, payload_start));
    }

    /// The direction of the segment being walked and the stream position of
    /// its byte at frame offset `at`.
    pub fn position_of(&self, at: usize) -> Option<(DirectionKey, u32)> {
        let (key, seq, start) = self.segment?;
        Some((key, seq.wrapping_add(at.checked_sub(start)? as u32)))
    }

    /// The state a segment starting at `seq` begins in.
    pub fn state_for(&self, key: &DirectionKey, seq: u32) -> StreamState {
        let Some(d) = self.dirs.get(key) else {
            return StreamState::Unknown;
        };
        if d.next_seq == seq {
            return d.st;
        }
        // A retransmission (or a segment seen before): the state it had then.
        d.ring[..d.ring_len as usize]
            .iter()
            .find(|(s, _)| *s == seq)
            .map_or(StreamState::Unknown, |(_, st)| st.state())
    }

    /// Record that a segment [seq, seq+len) started in `before` and left `after`.
    pub fn update(
        &mut self,
        key: DirectionKey,
        seq: u32,
        len: u32,
        before: StreamState,
        after: StreamState,
    ) {
        // The segment's walk is over: no later walk may take its position.
        self.segment = None;
        if self.dirs.len() >= MAX_STREAMS && !self.dirs.contains_key(&key) {
            self.dirs.clear();
        }
        let d = self.dirs.entry(key).or_default();
        let end = seq.wrapping_add(len);
        // Only a segment that extends the stream moves it forward.
        if d.next_seq == seq || d.ring_len == 0 || end.wrapping_sub(d.next_seq) as i32 > 0 {
            d.next_seq = end;
            d.st = after;
        }
        if !d.ring[..d.ring_len as usize].iter().any(|(s, _)| *s == seq) {
            d.ring[d.ring_at as usize] = (seq, CompactState::of(before));
            d.ring_at = (d.ring_at + 1) % RING as u8;
            d.ring_len = (d.ring_len + 1).min(RING as u8);
        }
    }
}

// ---- HTTP -------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextBody {
    Nothing,
    Length(u64),
    Chunked,
    UntilClose,
}

// ---- TLS --------------------------------------------------------------------

/// Server names that a segment boundary cut, each by the direction it was
/// sent in and the stream position of its first byte, learned by an earlier
/// pass over the same capture ([`super::Sanitizer::second_pass`]): a name's
/// first piece is written before its rest is read, so the first pass zeroes
/// it and the second writes the pseudonym's beginning there.
#[derive(Clone, Debug, Default)]
pub struct CutNames {
    pub(super) known: BTreeMap<(DirectionKey, u32), Box<[u8]>>,
}

impl CutNames {
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn extend(&mut self, other: CutNames) {
        self.known.extend(other.known);
    }
}

/// What a cut text is, which says how it is rewritten once whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutKind {
    /// A ClientHello's server name.
    ServerName,
    /// A string in a certificate (or CA list, OCSP response); `utf8`: a
    /// UTF8String.
    DerString { utf8: bool },
    /// A SAN iPAddress (4 or 16 bytes).
    DerIp,
}

/// Where this pass stands with cut names.
#[derive(Debug, Default)]
pub struct CutState {
    /// From an earlier pass.
    pub(super) known: CutNames,
    /// First pieces by direction.
    pub(super) partial: HashMap<DirectionKey, CutPiece>,
    /// Names whose first piece this pass zeroed.
    pub(super) zeroed_early: CutNames,
}

/// The first piece of a cut text, waiting for its rest.
#[derive(Debug)]
pub struct CutPiece {
    pub(super) kind: CutKind,
    /// Stream position of the text's first byte.
    pub(super) first_seq: u32,
    /// The whole text's length.
    pub(super) len: u32,
    /// The bytes so far.
    pub(super) text: Vec<u8>,
}

impl CutState {
    pub fn new(known: CutNames) -> Self {
        CutState {
            known,
            ..Self::default()
        }
    }

    /// The names a second pass can rewrite whole; None when none was cut.
    pub fn for_second_pass(&self) -> Option<CutNames> {
        (!self.zeroed_early.is_empty()).then(|| self.zeroed_early.clone())
    }
}

/// Where a handshake message stands at the end of a record or segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handshake {
    /// Message type.
    pub msg_type: u8,
    /// Bytes of the message still to come.
    pub remaining: u32,
    /// The ClientHello walk, when `msg_type` is 1.
    pub hello: HelloWalk,
    /// The first bytes of a message header that the record or segment cut.
    pub(super) head: [u8; 3],
    pub(super) head_len: u8,
    /// The walk of a Certificate message.
    pub(super) cert: CertWalk,
    /// The walk's details were not kept (a retransmission replayed from
    /// the ring): the rest of the message is zeroed.
    pub(super) lost: bool,
}

impl Handshake {
    /// The message type and the bytes left, and whether the walk has
    /// details beyond them (see `stream::CompactState`).
    pub fn compact(&self) -> (u8, u32, bool) {
        let detailed = self.lost
            || self.head_len > 0
            || (matches!(self.msg_type, 1 | 11 | 13) && self.remaining > 0);
        (self.msg_type, self.remaining, detailed)
    }

    /// A state made back from [`Handshake::compact`]'s parts.
    pub fn restored(msg_type: u8, remaining: u32, lost: bool) -> Handshake {
        Handshake {
            msg_type,
            remaining,
            lost,
            ..Handshake::default()
        }
    }
}

/// The field of a ClientHello the next byte belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum HelloField {
    /// legacy_version and random (34 bytes).
    #[default]
    Fixed,
    SessionIdLen,
    SessionId,
    CiphersLen,
    Ciphers,
    CompressionLen,
    Compression,
    ExtensionsLen,
    ExtType,
    ExtLen,
    /// The body of an extension other than server_name.
    ExtBody,
    ServerNameListLen,
    /// name_type (1 byte) and the name's length (2).
    NameHead,
    Name,
    /// Bytes the structure does not account for: zeroed.
    Garbage,
}

/// Progress through one ClientHello: the message offset reached, the field
/// there, and the ends (as message offsets) of the enclosing structures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HelloWalk {
    pub(super) at: u32,
    pub(super) field: HelloField,
    /// Bytes of `field` still to come (a length field's bytes, a body's bytes).
    pub(super) left: u32,
    /// A length field's value so far.
    pub(super) value: u32,
    pub(super) exts_end: u32,
    pub(super) ext_type: u16,
    pub(super) ext_end: u32,
    pub(super) list_end: u32,
    /// The whole name's length, to tell a name that started in this piece.
    pub(super) name_len: u32,
}

// ---- Certificates ------------------------------------------------------------

/// Nesting the walk follows: the list, a certificate, and DER elements
/// (an X.509 certificate with name constraints or policy notices takes 15;
/// deeper is damage, zeroed).
pub(super) const CERT_DEPTH: usize = 18;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Frame {
    /// The Certificate message's body: a 24-bit list length comes next.
    #[default]
    Message,
    /// The certificate list: 24-bit certificate lengths and certificates.
    List,
    /// A CertificateRequest's CA list: 16-bit name lengths and names.
    CaList,
    /// One certificate's bytes (its length from the list): DER elements.
    Cert,
    /// A constructed DER element.
    Der,
    /// An OCTET STRING holding DER (an extension's value), before its
    /// first element: if that is not DER, the rest is opaque, not damage.
    WrappedFresh,
    Wrapped,
}

/// The primitive element (or the stretch) being walked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Prim {
    #[default]
    None,
    Keep,
    Policy,
    /// Zeroed: damage, or a cut text whose rest was lost.
    Zero,
    /// The rest of a string or address the previous piece cut (`len` in all).
    Text {
        len: u32,
        kind: CutKind,
    },
    /// A certificate's embedded SCT list (`len` bytes from message offset
    /// `start`), written anew: see `der::sct_byte`.
    Sct {
        start: u32,
        len: u32,
    },
}

/// Progress through one Certificate message, carried between pieces
/// (records, segments): message offsets of the open elements' ends, a
/// header the piece cut, the primitive in progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CertWalk {
    /// Message offset of the next byte.
    pub(super) at: u32,
    /// The message's length (its handshake header's).
    pub(super) len: u32,
    /// The open elements, innermost last: what each is, and its end
    /// (kept apart so the state packs tight: one per TCP direction).
    pub(super) kinds: [Frame; CERT_DEPTH],
    pub(super) ends: [u32; CERT_DEPTH],
    pub(super) depth: u8,
    pub(super) head: [u8; 6],
    pub(super) head_len: u8,
    pub(super) prim: Prim,
    pub(super) prim_end: u32,
    /// The last OID was the SCT list extension's: its value comes next.
    pub(super) sct_next: bool,
    /// A CertificateRequest (CA names), not a Certificate.
    pub(super) request: bool,
    /// Fields of the message read before its list: 3 when the list began.
    pub(super) stage: u8,
}

// ---- QUIC -------------------------------------------------------------------

/// Connections remembered: past these, Initials are zeroed as before.
pub(super) const MAX_KNOWN: usize = 65_536;

/// The ClientHellos of QUIC connections, by the Destination Connection ID of
/// the client's Initials: where the SNI sits in the CRYPTO stream and what it
/// says (None: the hello has no SNI). A hello spread over several Initials
/// (browsers split and shuffle it) is only known once its last piece is
/// seen, after the earlier packets were written; a second pass over the same
/// capture, given what the first learned, rewrites every packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuicHellos {
    pub(super) known: BTreeMap<Vec<u8>, Option<(u64, Vec<u8>)>>,
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
    pub(super) given: QuicHellos,
    pub(super) learned: QuicHellos,
    pub(super) assembling: HashMap<Vec<u8>, CryptoStream>,
    /// Connections with an Initial zeroed because its hello was not known yet.
    pub(super) zeroed_early: std::collections::BTreeSet<Vec<u8>>,
    /// Conversations that carried QUIC long headers (their short-header
    /// packets have no marker of their own).
    pub(super) conversations: HashSet<UdpPair>,
    /// The DCID the Initial keys of each conversation come from: that of
    /// the latest client Initial that opened with its own DCID.
    pub(super) original_dcid: HashMap<UdpPair, ArrayVec<u8, 20>>,
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

    pub(super) fn known(&self, dcid: &[u8]) -> Option<&Option<(u64, Vec<u8>)>> {
        self.given
            .known
            .get(dcid)
            .or_else(|| self.learned.known.get(dcid))
    }
}
