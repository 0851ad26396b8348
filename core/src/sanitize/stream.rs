//! Per-direction TCP state, so a TLS record or an HTTP body that spans
//! segments is rewritten with the same understanding in every segment (a
//! certificate's continuation is still a certificate; chunk sizes of a
//! chunked body stay intact) and a retransmission is rewritten exactly as
//! the first copy was.
//!
//! Memory is bounded: at most [`MAX_STREAMS`] directions are tracked (the
//! table is cleared when full; an untracked segment is treated fail-safe).

use std::collections::HashMap;
use std::net::IpAddr;

pub const MAX_STREAMS: usize = 65_536;
/// Recent (sequence number → state before it) pairs kept per direction.
const RING: usize = 8;

/// Where a direction's byte stream stands at a segment boundary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum St {
    /// Nothing known: the next segment must start a message we recognise.
    #[default]
    Unknown,
    /// Inside a TLS record: `remaining` bytes of content type `rtype` follow;
    /// `hs` is the handshake message in progress (it may span records).
    /// When the segment ended inside the next record's 5-byte header, its
    /// first `head_len` bytes are in `head`.
    Tls {
        remaining: u32,
        rtype: u8,
        hs: super::tls_hello::Handshake,
        head: [u8; 4],
        head_len: u8,
    },
    /// Inside a DNS-over-TCP message: this many bytes of it follow.
    DnsTcp { remaining: u32 },
    /// Inside an HTTP header block (`mid_line`: a line was cut).
    HttpHeaders {
        mid_line: bool,
        next: super::app::NextBody,
    },
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

pub type Key = (IpAddr, IpAddr, u16, u16);

#[derive(Clone, Debug, Default)]
struct Dir {
    next_seq: u32,
    st: St,
    ring: [(u32, St); RING],
    ring_len: usize,
    ring_at: usize,
}

#[derive(Debug, Default)]
pub struct Streams {
    dirs: HashMap<Key, Dir>,
    /// The segment being walked: its direction, sequence number and where
    /// its payload starts in the frame.
    segment: Option<(Key, u32, usize)>,
    /// TLS server names cut by segment boundaries.
    pub cuts: super::tls_hello::CutState,
}

impl Streams {
    pub fn new(known_cuts: super::tls_hello::CutNames) -> Self {
        Streams {
            cuts: super::tls_hello::CutState::new(known_cuts),
            ..Self::default()
        }
    }

    /// The segment about to be walked.
    pub fn enter_segment(&mut self, key: Key, seq: u32, payload_start: usize) {
        self.segment = Some((key, seq, payload_start));
    }

    /// The direction of the segment being walked and the stream position of
    /// its byte at frame offset `at`.
    pub fn position_of(&self, at: usize) -> Option<(Key, u32)> {
        let (key, seq, start) = self.segment?;
        Some((key, seq.wrapping_add(at.checked_sub(start)? as u32)))
    }

    /// The state a segment starting at `seq` begins in.
    pub fn state_for(&self, key: &Key, seq: u32) -> St {
        let Some(d) = self.dirs.get(key) else {
            return St::Unknown;
        };
        if d.next_seq == seq {
            return d.st;
        }
        // A retransmission (or a segment seen before): the state it had then.
        d.ring[..d.ring_len]
            .iter()
            .find(|(s, _)| *s == seq)
            .map_or(St::Unknown, |(_, st)| *st)
    }

    /// Record that a segment [seq, seq+len) started in `before` and left `after`.
    pub fn update(&mut self, key: Key, seq: u32, len: u32, before: St, after: St) {
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
        if !d.ring[..d.ring_len].iter().any(|(s, _)| *s == seq) {
            d.ring[d.ring_at] = (seq, before);
            d.ring_at = (d.ring_at + 1) % RING;
            d.ring_len = (d.ring_len + 1).min(RING);
        }
    }
}
