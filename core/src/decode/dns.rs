//! Zero-copy DNS message walker (RFC 1035), also used for mDNS and LLMNR.
//!
//! No-panic contract: every accessor checks bounds and returns `None` (or
//! stops an iterator) on short or inconsistent input. Names are exposed as
//! label byte ranges inside the message, so the sanitizer can rewrite them in
//! place; compression pointers must point strictly backwards and a name may
//! follow at most [`MAX_POINTERS`] of them, so hostile pointer loops end.

use std::ops::Range;

/// Most compression pointers followed for one name.
pub const MAX_POINTERS: usize = 16;
/// Most labels in one name (a 255-byte name has at most 127).
pub const MAX_LABELS: usize = 128;
/// Most resource records walked per message (bounds work on hostile counts).
pub const MAX_RECORDS: usize = 1024;

pub const HEADER_LEN: usize = 12;

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    pub fn parse(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_LEN {
            return None;
        }
        let u = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Some(Header {
            id: u(0),
            flags: u(2),
            qdcount: u(4),
            ancount: u(6),
            nscount: u(8),
            arcount: u(10),
        })
    }
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }
    /// The 4-bit header RCODE (EDNS extended bits are not merged, as tshark's `dns.flags.rcode`).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xF) as u8
    }
    pub fn truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }
}

/// tshark's name for a header RCODE.
pub fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NoError",
        1 => "FormErr",
        2 => "ServFail",
        3 => "NXDomain",
        4 => "NotImp",
        5 => "Refused",
        6 => "YXDomain",
        7 => "YXRRSet",
        8 => "NXRRSet",
        9 => "NotAuth",
        10 => "NotZone",
        11 => "DSOTYPENI",
        _ => "Unassigned",
    }
}

/// A DNS message view.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub header: Header,
    /// The whole message (names are resolved against it).
    pub bytes: &'a [u8],
}

/// One question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// Offset of the (possibly compressed) name in the message.
    pub name_offset: usize,
    pub qtype: u16,
    pub qclass: u16,
    /// Offset just after the question.
    pub end: usize,
}

/// Section of a resource record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Question,
    Answer,
    Authority,
    Additional,
}

/// One resource record (or question, with empty rdata) as byte ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRef {
    pub section: Section,
    pub name_offset: usize,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Range<usize>,
}

impl<'a> Message<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Message<'a>> {
        Some(Message {
            header: Header::parse(bytes)?,
            bytes,
        })
    }

    /// The first question, when it parses.
    pub fn question(&self) -> Option<Question> {
        if self.header.qdcount == 0 {
            return None;
        }
        let end = skip_name(self.bytes, HEADER_LEN)?;
        let b = self.bytes.get(end..end + 4)?;
        Some(Question {
            name_offset: HEADER_LEN,
            qtype: u16::from_be_bytes([b[0], b[1]]),
            qclass: u16::from_be_bytes([b[2], b[3]]),
            end: end + 4,
        })
    }

    /// Label ranges of the name at `offset`, following compression pointers.
    pub fn labels(&self, offset: usize) -> Labels<'a> {
        Labels {
            bytes: self.bytes,
            pos: offset,
            pointers: 0,
            labels: 0,
            min_target: offset,
            done: false,
        }
    }

    /// The name at `offset` in presentation form ("." for the root), lossy
    /// for non-ASCII bytes. Allocates: meant for findings, not the hot path.
    pub fn name(&self, offset: usize) -> String {
        use std::fmt::Write;
        // Sized up front for plain labels (the usual case): one allocation,
        // and none when the caller boxes the result.
        let plain_len: usize = self.labels(offset).map(|r| r.len() + 1).sum();
        let mut s = String::with_capacity(plain_len.saturating_sub(1).max(1));
        for r in self.labels(offset) {
            if !s.is_empty() {
                s.push('.');
            }
            for &c in &self.bytes[r] {
                if c.is_ascii_graphic() && c != b'.' {
                    s.push(c as char);
                } else {
                    let _ = write!(s, "\\{c:03}");
                }
            }
        }
        if s.is_empty() {
            s.push('.');
        }
        s
    }

    /// Every question and resource record, in order; stops at the first that
    /// does not fit.
    pub fn records(&self) -> Records<'a> {
        let h = self.header;
        Records {
            bytes: self.bytes,
            pos: HEADER_LEN,
            left: [h.qdcount, h.ancount, h.nscount, h.arcount],
            walked: 0,
        }
    }
}

/// Iterator over the label ranges of one name.
pub struct Labels<'a> {
    bytes: &'a [u8],
    pos: usize,
    pointers: usize,
    labels: usize,
    /// Pointers must go strictly before this (no loops, no forward jumps).
    min_target: usize,
    done: bool,
}

impl Iterator for Labels<'_> {
    type Item = Range<usize>;
    fn next(&mut self) -> Option<Range<usize>> {
        loop {
            if self.done || self.labels >= MAX_LABELS {
                return None;
            }
            let Some(&len) = self.bytes.get(self.pos) else {
                self.done = true;
                return None;
            };
            match len & 0xC0 {
                0x00 => {
                    if len == 0 {
                        self.done = true;
                        return None;
                    }
                    let start = self.pos + 1;
                    let end = start + len as usize;
                    if end > self.bytes.len() {
                        self.done = true;
                        return None;
                    }
                    self.pos = end;
                    self.labels += 1;
                    return Some(start..end);
                }
                0xC0 => {
                    let Some(&lo) = self.bytes.get(self.pos + 1) else {
                        self.done = true;
                        return None;
                    };
                    let target = (((len & 0x3F) as usize) << 8) | lo as usize;
                    self.pointers += 1;
                    if target >= self.min_target || self.pointers > MAX_POINTERS {
                        self.done = true;
                        return None;
                    }
                    self.min_target = target;
                    self.pos = target;
                }
                _ => {
                    // Extended label types (0x40, 0x80) are obsolete: stop.
                    self.done = true;
                    return None;
                }
            }
        }
    }
}

/// Whether the name at `pos` can be read to its end without leaving the
/// message (pointers in any direction, at most [`MAX_POINTERS`] of them;
/// a loop is not an overrun). tshark gives up on a message at such a name.
pub fn name_in_bounds(b: &[u8], pos: usize) -> bool {
    bounds_walk(b, pos, MAX_LABELS + MAX_POINTERS)
}

/// [`name_in_bounds`] from `pos` with `steps` labels or pointers left to
/// read, no pointer followed yet.
fn bounds_walk(b: &[u8], mut pos: usize, steps: usize) -> bool {
    let mut pointers = 0;
    for _ in 0..steps {
        let Some(&len) = b.get(pos) else {
            return false;
        };
        match len & 0xC0 {
            0x00 if len == 0 => return true,
            0x00 => pos += 1 + len as usize,
            0xC0 => {
                let Some(&lo) = b.get(pos + 1) else {
                    return false;
                };
                pointers += 1;
                if pointers > MAX_POINTERS {
                    return true;
                }
                pos = (((len & 0x3F) as usize) << 8) | lo as usize;
            }
            // Extended label types: shown as unknown, not an overrun.
            _ => return true,
        }
    }
    true
}

/// Offset just after the name starting at `pos` (pointers end a name).
pub fn skip_name(b: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..MAX_LABELS {
        let len = *b.get(pos)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(pos + 1),
            0x00 => {
                pos += 1 + len as usize;
                if pos > b.len() {
                    return None;
                }
            }
            0xC0 => return (pos + 2 <= b.len()).then_some(pos + 2),
            _ => return None,
        }
    }
    None
}

/// Where the name at `pos` ends in place, as tshark reads it: `None` when a
/// label or pointer runs out of the message (tshark: Malformed Packet). An
/// obsolete extended label type ends the name after its type byte.
fn name_end_checked(b: &[u8], pos: usize) -> Option<usize> {
    // One walk: up to the first pointer, the in-place walk and the bounds
    // walk read the same labels, so the bounds walk only goes on from there.
    let mut p = pos;
    for step in 0..=MAX_LABELS {
        let len = *b.get(p)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(p + 1),
            0x00 => p += 1 + len as usize,
            0xC0 => {
                let in_bounds = bounds_walk(b, p, MAX_LABELS + MAX_POINTERS - step);
                return (in_bounds && p + 2 <= b.len()).then_some(p + 2);
            }
            _ => return Some(p + 1),
        }
    }
    bounds_walk(b, p, MAX_POINTERS - 1).then_some(p)
}

/// Whether tshark dissects the whole message without an exception: the
/// header, every counted question and resource record (name, fixed fields,
/// RDATA) fit in the message. A and AAAA read their address whatever RDLENGTH
/// says. tshark tracks the transaction before it walks the records, but only
/// shows `dns.response_in` (and the retransmission marks) once the walk
/// completes, so a malformed query always looks unanswered.
pub fn dissects_whole(b: &[u8]) -> bool {
    let Some(h) = Header::parse(b) else {
        return false;
    };
    let mut pos = HEADER_LEN;
    // Each question takes at least 5 bytes and each record 11: the walk ends
    // by running out of the message long before the counts on hostile input.
    for _ in 0..h.qdcount {
        let Some(end) = name_end_checked(b, pos) else {
            return false;
        };
        pos = end + 4;
        if pos > b.len() {
            return false;
        }
    }
    let rrs = h.ancount as u32 + h.nscount as u32 + h.arcount as u32;
    for _ in 0..rrs {
        let Some(end) = name_end_checked(b, pos) else {
            return false;
        };
        let Some(f) = b.get(end..end + 10) else {
            return false;
        };
        let rtype = u16::from_be_bytes([f[0], f[1]]);
        let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
        let start = end + 10;
        let read = match rtype {
            1 => rdlen.max(4),
            28 => rdlen.max(16),
            _ => rdlen,
        };
        if start + read > b.len() {
            return false;
        }
        pos = start + rdlen;
    }
    true
}

/// tshark's "DNS over UDP" heuristic (tried on UDP ports no dissector
/// claims): more than a header, standard-query opcode, a query with exactly
/// one question and no answer or authority records, a response with at most
/// one question, 100 answers and 10 authority records; at most 10 additional
/// records either way.
pub fn heuristic_match(p: &[u8]) -> bool {
    let Some(h) = Header::parse(p) else {
        return false;
    };
    if p.len() <= HEADER_LEN || h.opcode() != 0 || h.arcount > 10 {
        return false;
    }
    if h.is_response() {
        h.qdcount <= 1 && h.ancount <= 100 && h.nscount <= 10
    } else {
        h.qdcount == 1 && h.ancount == 0 && h.nscount == 0
    }
}

/// Iterator over questions and resource records.
pub struct Records<'a> {
    bytes: &'a [u8],
    pos: usize,
    left: [u16; 4],
    walked: usize,
}

impl Iterator for Records<'_> {
    type Item = RecordRef;
    fn next(&mut self) -> Option<RecordRef> {
        if self.walked >= MAX_RECORDS {
            return None;
        }
        let idx = self.left.iter().position(|&n| n > 0)?;
        let section = [
            Section::Question,
            Section::Answer,
            Section::Authority,
            Section::Additional,
        ][idx];
        let name_offset = self.pos;
        let after = skip_name(self.bytes, self.pos);
        let Some(after) = after else {
            self.left = [0; 4];
            return None;
        };
        let fixed = if idx == 0 { 4 } else { 10 };
        let Some(f) = self.bytes.get(after..after + fixed) else {
            self.left = [0; 4];
            return None;
        };
        let rtype = u16::from_be_bytes([f[0], f[1]]);
        let class = u16::from_be_bytes([f[2], f[3]]);
        let (ttl, rdata) = if idx == 0 {
            (0, after + 4..after + 4)
        } else {
            let ttl = u32::from_be_bytes([f[4], f[5], f[6], f[7]]);
            let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
            let start = after + 10;
            if start + rdlen > self.bytes.len() {
                self.left = [0; 4];
                return None;
            }
            (ttl, start..start + rdlen)
        };
        self.pos = rdata.end;
        self.left[idx] -= 1;
        self.walked += 1;
        Some(RecordRef {
            section,
            name_offset,
            rtype,
            class,
            ttl,
            rdata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[&str], id: u16) -> Vec<u8> {
        let mut m = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    }

    #[test]
    fn question_name_and_label_ranges() {
        let m = query(&["www", "example", "com"], 0x1234);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.header.id, 0x1234);
        assert!(!msg.header.is_response());
        let q = msg.question().unwrap();
        assert_eq!(q.qtype, 1);
        assert_eq!(msg.name(q.name_offset), "www.example.com");
        let ranges: Vec<_> = msg.labels(q.name_offset).collect();
        assert_eq!(ranges, vec![13..16, 17..24, 25..28]);
        assert_eq!(msg.records().count(), 1);
    }

    #[test]
    fn compression_pointers_resolve_and_loops_end() {
        let mut m = query(&["example", "com"], 1);
        m[2] = 0x81;
        m[3] = 0x83; // response, NXDOMAIN
        m[7] = 1; // one answer
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.header.rcode(), 3);
        let recs: Vec<_> = msg.records().collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(msg.name(recs[1].name_offset), "example.com");
        assert_eq!(&m[recs[1].rdata.clone()], &[1, 2, 3, 4]);

        // A pointer to itself and a forward pointer both stop.
        let mut bad = vec![0u8; 12];
        bad.extend_from_slice(&[0xC0, 12]);
        let msg = Message::parse(&bad).unwrap();
        assert_eq!(msg.labels(12).count(), 0);
        let mut fwd = vec![0u8; 12];
        fwd.extend_from_slice(&[0xC0, 14, 1, b'a', 0]);
        assert_eq!(Message::parse(&fwd).unwrap().labels(12).count(), 0);
    }

    #[test]
    fn whole_message_check_follows_tshark_exceptions() {
        let q = query(&["a", "example"], 9);
        assert!(dissects_whole(&q));
        // A question that runs out, a missing additional record, a short A record.
        assert!(!dissects_whole(&q[..q.len() - 1]));
        let mut ar = q.clone();
        ar[11] = 1;
        assert!(!dissects_whole(&ar));
        let mut a = q.clone();
        a[7] = 1;
        a.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 2, 1, 2]);
        assert!(!dissects_whole(&a));
        a.extend_from_slice(&[3, 4]);
        assert!(dissects_whole(&a));
        // A pointer loop is shown as such, not an exception.
        let mut l = vec![0u8, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1];
        assert!(dissects_whole(&l));
        l.truncate(14);
        assert!(!dissects_whole(&l));
        assert!(!dissects_whole(&[0, 1, 0, 0]));
    }

    #[test]
    fn udp_heuristic_is_tsharks() {
        let q = query(&["a", "example"], 9);
        assert!(heuristic_match(&q));
        assert!(!heuristic_match(&q[..12]));
        let mut two = q.clone();
        two[5] = 2;
        assert!(!heuristic_match(&two));
        let mut resp = q.clone();
        resp[2] = 0x81;
        resp[7] = 100;
        assert!(heuristic_match(&resp));
        resp[11] = 11;
        assert!(!heuristic_match(&resp));
    }

    #[test]
    fn hostile_counts_and_every_prefix_do_not_panic() {
        let mut m = query(&["a", "b"], 7);
        m[6] = 0xFF;
        m[7] = 0xFF;
        for cut in 0..m.len() {
            if let Some(msg) = Message::parse(&m[..cut]) {
                let _ = msg.question();
                let _ = msg.records().count();
                let _ = msg.name(12);
            }
        }
        assert!(Message::parse(&m).unwrap().records().count() <= MAX_RECORDS);
    }
}

#[cfg(test)]
mod hostile {
    use proptest::prelude::*;

    proptest! {
        // Any bytes: every walker ends, none panics (DNS, TLS, HTTP, QUIC).
        #[test]
        fn app_walkers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Some(m) = super::Message::parse(&b) {
                for r in m.records() {
                    let _ = m.name(r.name_offset);
                }
                let _ = m.question();
                let _ = super::name_in_bounds(&b, 12);
                let _ = super::dissects_whole(&b);
                let _ = super::heuristic_match(&b);
            }
            for r in crate::decode::tls::records(&b) {
                let _ = crate::decode::tls::parse_client_hello(r.body);
            }
            let mut hello = vec![1u8, 0, 0, 0, 3, 3];
            hello.extend_from_slice(&b);
            let _ = crate::decode::tls::parse_client_hello(&hello);
            let mut quic = vec![0xc0u8, 0, 0, 0, 1];
            quic.extend_from_slice(&b);
            let _ = crate::decode::quic::long_headers(&quic).count();
            let _ = crate::decode::http::parse_head(&b);
            for h in crate::decode::quic::long_headers(&b) {
                let _ = crate::decode::quic::negotiated_versions(&b, &h).count();
            }
        }
    }
}
