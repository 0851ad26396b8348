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

/// A state as the retransmission ring keeps it: small, because every
/// direction keeps [`RING`] of them. A TLS handshake walk's details (a
/// ClientHello's fields, a certificate string a segment cut) are not kept:
/// a retransmitted segment that starts inside one is zeroed to the end of
/// its message (`lost`). They exist only while a message spans segments,
/// so this is rare, and kept as the current state of each direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Saved {
    #[default]
    Unknown,
    Tls {
        remaining: u32,
        rtype: u8,
        ty: u8,
        rem: u32,
        lost: bool,
        head: [u8; 4],
        head_len: u8,
    },
    DnsTcp {
        remaining: u32,
    },
    HttpHeaders {
        mid_line: bool,
        next: super::app::NextBody,
    },
    Body(Body),
}

impl Saved {
    fn of(st: St) -> Saved {
        match st {
            St::Unknown => Saved::Unknown,
            St::Tls {
                remaining,
                rtype,
                hs,
                head,
                head_len,
            } => {
                let (ty, rem, lost) = hs.compact();
                Saved::Tls {
                    remaining,
                    rtype,
                    ty,
                    rem,
                    lost,
                    head,
                    head_len,
                }
            }
            St::DnsTcp { remaining } => Saved::DnsTcp { remaining },
            St::HttpHeaders { mid_line, next } => Saved::HttpHeaders { mid_line, next },
            St::Body(b) => Saved::Body(b),
        }
    }

    fn state(self) -> St {
        match self {
            Saved::Unknown => St::Unknown,
            Saved::Tls {
                remaining,
                rtype,
                ty,
                rem,
                lost,
                head,
                head_len,
            } => St::Tls {
                remaining,
                rtype,
                hs: super::tls_hello::Handshake::restored(ty, rem, lost),
                head,
                head_len,
            },
            Saved::DnsTcp { remaining } => St::DnsTcp { remaining },
            Saved::HttpHeaders { mid_line, next } => St::HttpHeaders { mid_line, next },
            Saved::Body(b) => St::Body(b),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Dir {
    next_seq: u32,
    st: St,
    ring: [(u32, Saved); RING],
    ring_len: u8,
    ring_at: u8,
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
        d.ring[..d.ring_len as usize]
            .iter()
            .find(|(s, _)| *s == seq)
            .map_or(St::Unknown, |(_, st)| st.state())
    }

    /// Record that a segment [seq, seq+len) started in `before` and left `after`.
    pub fn update(&mut self, key: Key, seq: u32, len: u32, before: St, after: St) {
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
            d.ring[d.ring_at as usize] = (seq, Saved::of(before));
            d.ring_at = (d.ring_at + 1) % RING as u8;
            d.ring_len = (d.ring_len + 1).min(RING as u8);
        }
    }
}
