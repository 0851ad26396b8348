//! IPv4 and IPv6 fragment reassembly, as tshark does it with its default
//! `ip.defragment` / `ipv6.defragment` preferences.
//!
//! A fragment whose IP payload is all captured is queued; the frame that
//! completes its datagram (not necessarily the one with the highest offset)
//! carries the whole datagram, decoded as if it had come unfragmented, and is
//! the frame every finding about it points to (tshark's "Reassembled in #N").
//! Until then a queued fragment carries no transport layer: it joins no flow,
//! as in tshark's conversation tables. A fragment cut short by the snap length
//! is not queued and decodes as it did before (a first fragment is read as
//! is, as tshark does).
//!
//! tshark's rules, followed here:
//! - a datagram is keyed by (source, destination, identification) and, for
//!   IPv4, the protocol (tshark folds it into the identification);
//! - fragments are kept in offset order, a later copy after the earlier ones
//!   of the same offset; the datagram ends where the first fragment without
//!   "more fragments" ends (a second, different end is ignored); it is
//!   complete when the fragments cover it without a hole;
//! - on overlap the bytes already placed win (lower offset first, then
//!   arrival order); an overlap whose bytes differ is a conflict, counted;
//!   bytes past the end are dropped;
//! - a completed datagram leaves the table: a later copy of one of its
//!   fragments starts a new datagram.
//!
//! Unlike tshark, which keeps every incomplete datagram to the end of the
//! file, memory is bounded: a datagram not completed within
//! [`TIMEOUT_NANOS`] of its first fragment is dropped, and queued bytes are
//! capped per source address ([`MAX_BYTES_PER_SOURCE`]) and in total
//! ([`MAX_BYTES_TOTAL`]); over a cap the oldest datagrams go first. Each
//! drop is counted in the report (`summary.ip_reassembly`).

use super::{Fragment, Packet, Reassembly, Transport};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// An incomplete datagram is dropped this long after its first fragment
/// (Linux's `ipfrag_time` is 30 s; tshark never drops one).
pub const TIMEOUT_NANOS: i64 = 60_000_000_000;
/// Queued bytes per source address (fragment data plus [`FRAGMENT_OVERHEAD`] each).
pub const MAX_BYTES_PER_SOURCE: usize = 1 << 20;
/// Queued bytes in total.
pub const MAX_BYTES_TOTAL: usize = 8 << 20;
/// What one queued fragment is charged beyond its data (bookkeeping), so a
/// flood of tiny fragments is bounded too.
pub const FRAGMENT_OVERHEAD: usize = 64;
/// A datagram may not end past this (the largest an IPv4 offset and length
/// can reach); a fragment beyond it is not queued.
const MAX_DATAGRAM: u32 = 0x1fff * 8 + 0xffff;

/// What reassembly did while one frame was handled, for the report's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragNote {
    /// Fragments the datagram completed by this frame was made of (0: none completed).
    pub reassembled_fragments: u16,
    /// Of those, fragments that overlapped bytes already placed.
    pub overlapping: u16,
    /// Of those, overlapping fragments whose bytes differed.
    pub conflicting: u16,
    /// Datagrams dropped incomplete now: timed out, and evicted by a memory cap.
    pub timed_out: u16,
    pub evicted: u16,
    /// Fragments those dropped datagrams held.
    pub dropped_fragments: u32,
}

impl DefragNote {
    pub fn is_empty(&self) -> bool {
        *self == DefragNote::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    /// IPv4 protocol (0 for IPv6: tshark keys those by addresses and id only).
    proto: u8,
}

#[derive(Clone, Debug)]
struct Piece {
    offset: u32,
    data: Vec<u8>,
}

#[derive(Clone, Debug)]
struct Datagram {
    /// In offset order; equal offsets in arrival order.
    pieces: Vec<Piece>,
    /// Where the first fragment without "more fragments" ended.
    end: Option<u32>,
    charged: usize,
    first_ts: i64,
    seq: u64,
}

/// Reassembly state: owned by whoever decodes frames in capture order (the
/// [`crate::Engine`], or a [`crate::analyzer::FrameSource`] first stage).
#[derive(Clone, Debug, Default)]
pub struct Defrag {
    pending: HashMap<Key, Datagram>,
    /// Datagrams by age (creation order), for timeouts and eviction.
    order: BTreeMap<u64, Key>,
    /// Per source: bytes charged and its datagrams by age.
    sources: HashMap<IpAddr, (usize, BTreeSet<u64>)>,
    total: usize,
    next_seq: u64,
}

/// The fragment carried by a frame's innermost IP layer, read from the frame.
struct Arrival<'a> {
    key: Key,
    offset: u32,
    more: bool,
    data: &'a [u8],
    /// Transport protocol (IPv6: the fragment header's next header).
    next_header: u8,
    /// Bytes from the IP header to the fragmentable part.
    header_len: u32,
}

/// A datagram completed by the current frame.
pub struct Reassembled {
    pub data: Vec<u8>,
    pub(crate) next_header: u8,
    pub(crate) header_len: u32,
}

impl Defrag {
    /// Datagrams waiting for fragments.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes charged to the queued fragments (data plus overhead).
    pub fn queued_bytes(&self) -> usize {
        self.total
    }

    /// Handle the fragment of a frame just decoded from `frame` (nothing to
    /// do for a frame without one). A queued fragment loses its transport;
    /// when this frame completes a datagram it is returned, for the caller
    /// to keep alive as long as the packet and hand to
    /// [`super::apply_reassembled`].
    pub fn on_packet<'a>(
        &mut self,
        pkt: &mut Packet<'a>,
        frame: &'a [u8],
        ts_nanos: i64,
    ) -> Option<Reassembled> {
        let layer = pkt.ip.last()?;
        let frag = layer.fragment?;
        let arrival = read_fragment(frame, layer.offset, layer.src, layer.dst, frag)?;
        self.expire(ts_nanos, &mut pkt.defrag);
        // Queued: the frame shows the fragment, no transport (tshark's "Fragmented IP protocol").
        let ip_index = pkt.ip.len() - 1;
        strip_transport(pkt, arrival.data);
        if let Some(l) = pkt.ip.get_mut(ip_index) {
            if let Some(f) = &mut l.fragment {
                f.reassembly = Reassembly::Held;
            }
        }
        let key = arrival.key;
        let seq = self.next_seq;
        let dg = self.pending.entry(key).or_insert_with(|| Datagram {
            pieces: Vec::new(),
            end: None,
            charged: 0,
            first_ts: ts_nanos,
            seq,
        });
        if dg.seq == seq {
            self.next_seq += 1;
            self.order.insert(seq, key);
            self.sources.entry(key.src).or_default().1.insert(seq);
        }
        let at = dg.pieces.partition_point(|p| p.offset <= arrival.offset);
        dg.pieces.insert(
            at,
            Piece {
                offset: arrival.offset,
                data: arrival.data.to_vec(),
            },
        );
        let end = arrival.offset + arrival.data.len() as u32;
        if !arrival.more && dg.end.is_none() {
            dg.end = Some(end);
        }
        let cost = arrival.data.len() + FRAGMENT_OVERHEAD;
        dg.charged += cost;
        self.total += cost;
        if let Some(s) = self.sources.get_mut(&key.src) {
            s.0 += cost;
        }
        let complete = dg.end.is_some_and(|end| covered(&dg.pieces) >= end);
        if complete {
            let dg = self.remove(&key)?;
            let (data, overlapping, conflicting) = assemble(&dg);
            let note = &mut pkt.defrag;
            note.reassembled_fragments = dg.pieces.len().min(u16::MAX as usize) as u16;
            note.overlapping = overlapping;
            note.conflicting = conflicting;
            if let Some(f) = pkt.ip.get_mut(ip_index).and_then(|l| l.fragment.as_mut()) {
                f.reassembly = Reassembly::Completed;
            }
            return Some(Reassembled {
                data,
                next_header: arrival.next_header,
                header_len: arrival.header_len,
            });
        }
        self.enforce_caps(key.src, &mut pkt.defrag);
        None
    }

    /// Drop datagrams whose first fragment is older than the timeout.
    fn expire(&mut self, now: i64, note: &mut DefragNote) {
        while let Some((_, &key)) = self.order.first_key_value() {
            let Some(dg) = self.pending.get(&key) else {
                break;
            };
            if now.saturating_sub(dg.first_ts) <= TIMEOUT_NANOS {
                break;
            }
            if let Some(dg) = self.remove(&key) {
                note.timed_out = note.timed_out.saturating_add(1);
                note.dropped_fragments = note
                    .dropped_fragments
                    .saturating_add(dg.pieces.len() as u32);
            }
        }
    }

    /// Over a cap: drop the source's oldest datagrams, then the oldest overall.
    fn enforce_caps(&mut self, src: IpAddr, note: &mut DefragNote) {
        loop {
            let victim = match self.sources.get(&src) {
                Some((bytes, seqs)) if *bytes > MAX_BYTES_PER_SOURCE => seqs.first().copied(),
                _ if self.total > MAX_BYTES_TOTAL => self.order.keys().next().copied(),
                _ => None,
            };
            let Some(key) = victim.and_then(|s| self.order.get(&s).copied()) else {
                return;
            };
            if let Some(dg) = self.remove(&key) {
                note.evicted = note.evicted.saturating_add(1);
                note.dropped_fragments = note
                    .dropped_fragments
                    .saturating_add(dg.pieces.len() as u32);
            }
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Datagram> {
        let dg = self.pending.remove(key)?;
        self.order.remove(&dg.seq);
        self.total -= dg.charged;
        if let Some(s) = self.sources.get_mut(&key.src) {
            s.0 -= dg.charged;
            s.1.remove(&dg.seq);
            if s.1.is_empty() {
                self.sources.remove(&key.src);
            }
        }
        Some(dg)
    }
}

/// How far the pieces cover the datagram from byte 0 without a hole.
fn covered(pieces: &[Piece]) -> u32 {
    let mut max = 0u32;
    for p in pieces {
        if p.offset > max {
            break;
        }
        max = max.max(p.offset + p.data.len() as u32);
    }
    max
}

/// The datagram's bytes (tshark's `fragment_defragment_and_free`), and how
/// many pieces overlapped earlier bytes, and how many of those differed.
fn assemble(dg: &Datagram) -> (Vec<u8>, u16, u16) {
    let end = dg.end.unwrap_or(0) as usize;
    let mut out = vec![0u8; end];
    let (mut pos, mut overlapping, mut conflicting) = (0usize, 0u16, 0u16);
    for p in &dg.pieces {
        let start = p.offset as usize;
        if start >= end || p.data.is_empty() {
            continue;
        }
        let stop = (start + p.data.len()).min(end);
        if start < pos {
            overlapping = overlapping.saturating_add(1);
            let same = pos.min(stop) - start;
            if out[start..start + same] != p.data[..same] {
                conflicting = conflicting.saturating_add(1);
            }
        }
        if stop > pos {
            out[pos..stop].copy_from_slice(&p.data[pos - start..stop - start]);
            pos = stop;
        }
    }
    (out, overlapping, conflicting)
}

/// A queued fragment carries no transport layer: its names after the IP
/// layer and the application protocol go.
fn strip_transport<'a>(pkt: &mut Packet<'a>, data: &'a [u8]) {
    let Some(layer) = pkt.ip.last_mut() else {
        return;
    };
    if !matches!(layer.transport, Transport::Other { .. }) {
        layer.transport = Transport::Other { payload: data };
    }
    pkt.app = None;
    pkt.protocols.truncate_after_last_ip();
}

/// The fragment of the IP header at `at` in the frame, when its payload is
/// all captured (tshark queues only those).
fn read_fragment(
    frame: &[u8],
    at: usize,
    src: IpAddr,
    dst: IpAddr,
    frag: Fragment,
) -> Option<Arrival<'_>> {
    let ip = frame.get(at..)?;
    let be16 = |b: &[u8], i: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
    };
    let (data, next_header, header_len, proto_key) = match ip.first()? >> 4 {
        4 => {
            let ihl = (ip[0] & 0x0f) as usize * 4;
            let total = be16(ip, 2)? as usize;
            if ihl < 20 || total <= ihl {
                return None;
            }
            let proto = *ip.get(9)?;
            (ip.get(ihl..total)?, proto, ihl as u32, proto)
        }
        6 => {
            let plen = be16(ip, 4)? as usize;
            if plen == 0 {
                return None;
            }
            let body = ip.get(40..40 + plen)?;
            let (_, nh, start) = find_ipv6_fragment(*ip.get(6)?, body)?;
            (body.get(start..)?, nh, 40 + start as u32, 0)
        }
        _ => return None,
    };
    if data.is_empty() || frag.offset + data.len() as u32 > MAX_DATAGRAM {
        return None;
    }
    Some(Arrival {
        key: Key {
            src,
            dst,
            id: frag.id,
            proto: proto_key,
        },
        offset: frag.offset,
        more: frag.more,
        data,
        next_header,
        header_len,
    })
}

/// The fragment header of an IPv6 packet, after the unfragmentable
/// extension headers (`next`: the IPv6 header's next header, `body`: what
/// follows the fixed header): the fragment facts, the header's next header
/// and where the fragmentable part starts in `body`.
pub(crate) fn find_ipv6_fragment(mut next: u8, body: &[u8]) -> Option<(Fragment, u8, usize)> {
    let mut pos = 0usize;
    for _ in 0..16 {
        match next {
            44 => {
                let h = body.get(pos..pos + 8)?;
                let off_flags = u16::from_be_bytes([h[2], h[3]]);
                let frag = Fragment {
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    offset: (off_flags & 0xfff8) as u32,
                    more: off_flags & 1 == 1,
                    reassembly: Reassembly::NotQueued,
                };
                return Some((frag, h[0], pos + 8));
            }
            0 | 43 | 60 => {
                let len = (*body.get(pos + 1)? as usize + 1) * 8;
                next = *body.get(pos)?;
                pos += len;
            }
            51 => {
                let len = (*body.get(pos + 1)? as usize + 2) * 4;
                next = *body.get(pos)?;
                pos += len;
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dg(pieces: &[(u32, &[u8])], end: u32) -> Datagram {
        Datagram {
            pieces: pieces
                .iter()
                .map(|(o, d)| Piece {
                    offset: *o,
                    data: d.to_vec(),
                })
                .collect(),
            end: Some(end),
            charged: 0,
            first_ts: 0,
            seq: 0,
        }
    }

    #[test]
    fn earlier_bytes_win_and_conflicts_are_counted() {
        // Sorted by offset: [0..4) "abcd", [2..6) "XXef" overlaps and differs, [4..8) "efgh".
        let d = dg(&[(0, b"abcd"), (2, b"XXef"), (4, b"efgh")], 8);
        let (out, overlapping, conflicting) = assemble(&d);
        assert_eq!(&out, b"abcdefgh");
        assert_eq!((overlapping, conflicting), (2, 1));
        // A same-bytes duplicate overlaps without conflict; bytes past the end go.
        let d = dg(&[(0, b"abcd"), (0, b"abcd"), (4, b"efghij")], 8);
        let (out, overlapping, conflicting) = assemble(&d);
        assert_eq!(&out, b"abcdefgh");
        assert_eq!((overlapping, conflicting), (1, 0));
    }

    #[test]
    fn coverage_stops_at_the_first_hole() {
        assert_eq!(covered(&dg(&[(0, b"abcd"), (8, b"ijkl")], 12).pieces), 4);
        assert_eq!(covered(&dg(&[(0, b"abcdef"), (4, b"efgh")], 8).pieces), 8);
        assert_eq!(covered(&dg(&[(4, b"efgh")], 8).pieces), 0);
    }
}
