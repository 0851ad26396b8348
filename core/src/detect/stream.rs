//! Minimal in-order TCP byte-stream cursor shared by the DNS-over-TCP, HTTP
//! and TLS detectors.
//!
//! Keeps a message split across segments (bounded buffer) and can skip bodies
//! that are not parsed. Retransmitted bytes are ignored; after a gap the
//! cursor resynchronises on the next segment start (the parser decides whether
//! a message starts there). Messages complete in the frame that brings their
//! last byte, as tshark attributes reassembled PDUs.

use crate::decode::{tcp_flags, Tcp};

/// What the parser did with the bytes offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// One message of this many bytes was handled; offer the rest.
    Consumed(usize),
    /// Consume this many bytes (may exceed what is there: the rest is skipped later).
    Skip(u64),
    /// A message starts here but is incomplete: keep the bytes.
    NeedMore,
    /// Not a message boundary: drop everything until the next gap or segment.
    Desync,
}

/// What [`HalfStream::feed_events`] offers its parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Bytes at a candidate message start (the parser's `Step` applies).
    Data(&'a [u8]),
    /// A `Skip` that ran past its segment ended in this one: the skipped
    /// body is complete (tshark's reassembled PDU ends in this frame).
    SkipDone,
    /// The stream restarted (SYN, gap, snapped segment): a message being
    /// skipped or buffered will never complete.
    Reset,
}

#[derive(Clone, Default, Debug)]
pub struct HalfStream {
    next_seq: Option<u32>,
    skip: u64,
    pending: Vec<u8>,
}

impl HalfStream {
    /// Feed one segment. `parse` is called for each candidate message start.
    pub fn feed(&mut self, t: &Tcp<'_>, max_pending: usize, mut parse: impl FnMut(&[u8]) -> Step) {
        self.feed_events(t, max_pending, |input| match input {
            Input::Data(b) => parse(b),
            Input::SkipDone | Input::Reset => Step::Consumed(0),
        })
    }

    /// [`feed`](Self::feed), also telling the parser when a body skipped
    /// across segments ends and when the stream restarts.
    pub fn feed_events(
        &mut self,
        t: &Tcp<'_>,
        max_pending: usize,
        mut parse: impl FnMut(Input<'_>) -> Step,
    ) {
        if t.flags & tcp_flags::SYN != 0 {
            self.next_seq = Some(t.seq.wrapping_add(1));
            self.reset(&mut parse);
            if t.payload_len == 0 {
                return;
            }
        }
        if t.payload_len == 0 {
            return;
        }
        let mut payload = t.payload;
        match self.next_seq {
            None => {}
            Some(next) => {
                let delta = t.seq.wrapping_sub(next) as i32;
                if delta < 0 {
                    // Retransmission (maybe with new bytes at the end).
                    let old = (-(delta as i64)) as usize;
                    if old >= payload.len() {
                        return;
                    }
                    payload = &payload[old..];
                } else if delta > 0 {
                    // Gap: bytes are missing; restart at this segment.
                    self.reset(&mut parse);
                }
            }
        }
        let seg_end = t.seq.wrapping_add(t.payload_len);
        self.next_seq = Some(seg_end);
        let snapped = (t.payload.len() as u32) < t.payload_len;
        // Skip bytes of a body that is not parsed.
        if self.skip > 0 {
            let n = (self.skip).min(payload.len() as u64) as usize;
            self.skip -= n as u64;
            payload = &payload[n..];
            if self.skip == 0 {
                parse(Input::SkipDone);
            }
            if payload.is_empty() {
                return;
            }
        }
        let mut buf = std::mem::take(&mut self.pending);
        let data: &[u8] = if buf.is_empty() {
            payload
        } else {
            buf.extend_from_slice(payload);
            &buf
        };
        let mut pos = 0usize;
        let mut keep: Option<usize> = None;
        // Bounded: each step consumes at least one byte or ends the loop.
        while pos < data.len() {
            match parse(Input::Data(&data[pos..])) {
                Step::Consumed(n) if n > 0 => pos += n.min(data.len() - pos),
                Step::Skip(n) if n > 0 => {
                    let left = (data.len() - pos) as u64;
                    if n >= left {
                        self.skip = n - left;
                        pos = data.len();
                    } else {
                        pos += n as usize;
                    }
                }
                Step::NeedMore => {
                    keep = Some(pos);
                    break;
                }
                // Desync (or a parser that made no progress): drop the rest.
                _ => break,
            }
        }
        if let Some(from) = keep {
            if !snapped && data.len() - from <= max_pending {
                let rest = data[from..].to_vec();
                buf.clear();
                buf.extend_from_slice(&rest);
                self.pending = buf;
            }
        } else if !buf.is_empty() {
            buf.clear();
            self.pending = buf; // keep the allocation
        }
        if snapped {
            self.reset(&mut parse);
        }
    }

    fn reset(&mut self, parse: &mut impl FnMut(Input<'_>) -> Step) {
        parse(Input::Reset);
        self.skip = 0;
        self.pending.clear();
    }
}
