//! TLS records and handshake messages from a record boundary, and the
//! ClientHello walked in pieces, so its server name is rewritten wherever
//! the TCP segments (or TLS records) cut the message. Certificates go to the
//! DER walker (`der`).
//!
//! A browser's hello with a post-quantum key share is ~1,800 bytes: over a
//! 1,500-byte MTU it takes two segments, and with the extension order
//! shuffled (Chromium) the server_name extension is often in the second.
//! The walk keeps only offsets and a few lengths between segments (it is
//! part of the per-direction stream state, which is copied per segment), so
//! a name cut by a segment boundary cannot be pseudonymised as a whole: its
//! pieces are zeroed (fail closed), never kept.

use super::cut::{cut_first, cut_rest};
use super::der::certificate;
use super::rewrite::FrameRewrite;
use super::stream::CertWalk;
use super::stream::{CutKind, Handshake, HelloField as Field, HelloWalk, StreamState};
use std::ops::Range;

// ---- TLS --------------------------------------------------------------------

/// TLS records from a record boundary. Handshake messages may span records
/// and segments: `handshake` carries the one in progress.
pub(super) fn tls(
    f: &mut FrameRewrite<'_>,
    r: Range<usize>,
    mut handshake: Handshake,
) -> StreamState {
    let mut p = r.start;
    while p + 5 <= r.end {
        let h = &f.orig[p..p + 5];
        if !(20..=24).contains(&h[0]) || h[1] != 3 {
            f.policy(p..r.end);
            return StreamState::Unknown;
        }
        let rtype = h[0];
        let len = u16::from_be_bytes([h[3], h[4]]) as usize;
        let body = p + 5..(p + 5 + len).min(r.end);
        match rtype {
            22 => handshake = walk_handshake(f, body, handshake),
            23 | 24 => f.policy(body),
            _ => {}
        }
        if p + 5 + len > r.end {
            return StreamState::Tls {
                remaining: (p + 5 + len - r.end) as u32,
                rtype,
                handshake,
                head: [0; 4],
                head_len: 0,
            };
        }
        p += 5 + len;
    }
    // A record header cut by the end of the segment (kept as it is: type,
    // version, length) is finished by the next one.
    let mut head = [0u8; 4];
    head[..r.end - p].copy_from_slice(&f.orig[p..r.end]);
    StreamState::Tls {
        remaining: 0,
        rtype: 0,
        handshake,
        head,
        head_len: (r.end - p) as u8,
    }
}

impl HelloWalk {
    /// The start of a ClientHello's body (after the 4-byte handshake header).
    pub fn start() -> Self {
        HelloWalk {
            left: 34,
            ..Self::default()
        }
    }

    fn enter(&mut self, field: Field, len: u32) {
        self.field = field;
        self.left = len;
        self.value = 0;
    }

    /// The next field once an extension (or the server_name list) is done.
    fn next_extension(&mut self) {
        if self.at >= self.exts_end {
            // Anything after the extensions block inside the message.
            self.enter(Field::Garbage, u32::MAX);
        } else if self.exts_end - self.at < 4 {
            self.enter(Field::Garbage, self.exts_end - self.at);
        } else {
            self.enter(Field::ExtType, 2);
        }
    }

    /// Walk the message bytes `r` of `f` (the next piece of the message, in
    /// order), rewriting the server name; returns the walk's progress.
    pub fn walk(mut self, f: &mut FrameRewrite<'_>, r: Range<usize>) -> Self {
        let mut q = r.start;
        while q < r.end {
            let avail = (r.end - q) as u32;
            match self.field {
                Field::SessionIdLen
                | Field::CiphersLen
                | Field::CompressionLen
                | Field::ExtensionsLen
                | Field::ExtType
                | Field::ExtLen
                | Field::ServerNameListLen
                | Field::NameHead => {
                    // Length fields: one byte at a time, across any cut.
                    self.value = (self.value << 8) | f.orig[q] as u32;
                    q += 1;
                    self.at += 1;
                    self.left -= 1;
                    if self.left == 0 {
                        self.field_read();
                    }
                }
                Field::Name => {
                    let n = self.left.min(avail);
                    let piece = q..q + n as usize;
                    if self.left == self.name_len && n == self.left {
                        f.dns_text(piece);
                        f.counters.tls_names += 1;
                    } else {
                        self.name_piece(f, piece);
                    }
                    q += n as usize;
                    self.at += n;
                    self.left -= n;
                    if self.left == 0 {
                        self.after_name();
                    }
                }
                Field::Garbage => {
                    let n = self.left.min(avail);
                    f.fail_closed(q..q + n as usize);
                    q += n as usize;
                    self.at = self.at.saturating_add(n);
                    self.left -= n;
                    if self.left == 0 {
                        self.next_extension();
                    }
                }
                Field::Fixed
                | Field::SessionId
                | Field::Ciphers
                | Field::Compression
                | Field::ExtBody => {
                    let n = self.left.min(avail);
                    q += n as usize;
                    self.at += n;
                    self.left -= n;
                    if self.left == 0 {
                        self.skipped();
                    }
                }
            }
        }
        self
    }

    /// A piece of a server name that a segment (or record) boundary cut.
    fn name_piece(&self, f: &mut FrameRewrite<'_>, piece: Range<usize>) {
        if self.left == self.name_len {
            cut_first(
                f,
                piece,
                self.name_len,
                CutKind::ServerName,
                rewrite_whole_name,
            );
        } else if cut_rest(
            f,
            piece,
            self.name_len,
            self.left,
            CutKind::ServerName,
            rewrite_whole_name,
        ) {
            f.counters.tls_names += 1;
        }
    }

    /// A length field is complete: enter what it announces.
    fn field_read(&mut self) {
        let v = self.value;
        match self.field {
            Field::SessionIdLen => self.enter_or_skip(Field::SessionId, v),
            Field::CiphersLen => self.enter_or_skip(Field::Ciphers, v),
            Field::CompressionLen => self.enter_or_skip(Field::Compression, v),
            Field::ExtensionsLen => {
                self.exts_end = self.at + v;
                self.next_extension();
            }
            Field::ExtType => {
                self.ext_type = v as u16;
                self.enter(Field::ExtLen, 2);
            }
            Field::ExtLen => {
                let server_name = self.ext_type == 0;
                self.ext_end = self.at + v;
                if self.ext_end > self.exts_end {
                    self.enter(Field::Garbage, self.exts_end - self.at);
                } else if server_name && v >= 2 {
                    self.enter(Field::ServerNameListLen, 2);
                } else {
                    self.enter_or_skip(Field::ExtBody, v);
                }
            }
            Field::ServerNameListLen => {
                self.list_end = (self.at + v).min(self.ext_end);
                self.after_name();
            }
            Field::NameHead => {
                // The low 16 bits: the name's length (the type byte above them).
                let len = v & 0xffff;
                if self.at + len > self.list_end {
                    self.enter(Field::Garbage, self.ext_end - self.at);
                } else {
                    self.name_len = len;
                    self.enter_or_skip(Field::Name, len);
                }
            }
            _ => {}
        }
    }

    /// A body skipped in full: the field after it.
    fn skipped(&mut self) {
        match self.field {
            Field::Fixed => self.enter(Field::SessionIdLen, 1),
            Field::SessionId => self.enter(Field::CiphersLen, 2),
            Field::Ciphers => self.enter(Field::CompressionLen, 1),
            Field::Compression => self.enter(Field::ExtensionsLen, 2),
            Field::ExtBody => self.next_extension(),
            Field::Name => self.after_name(),
            _ => {}
        }
    }

    /// Enter a body of `len` bytes; an empty one is skipped at once.
    fn enter_or_skip(&mut self, field: Field, len: u32) {
        self.enter(field, len);
        if len == 0 {
            self.skipped();
        }
    }

    /// After a name (or the list's length): the next name, or the rest of
    /// the extension.
    fn after_name(&mut self) {
        if self.list_end.saturating_sub(self.at) >= 3 {
            self.enter(Field::NameHead, 3);
        } else if self.at < self.ext_end {
            self.enter(Field::Garbage, self.ext_end - self.at);
        } else {
            self.next_extension();
        }
    }
}

/// A server name rewritten whole (see `cut`).
fn rewrite_whole_name(f: &mut FrameRewrite<'_>, _kind: CutKind, whole: &[u8]) -> Vec<u8> {
    f.pseudonymize_name(whole)
}

/// Handshake bytes `r` of a record, from the message state `handshake`; returns the
/// state at their end. ClientHellos and certificates are walked, ServerHellos
/// kept; other messages follow the payload policy.
pub fn walk_handshake(
    f: &mut FrameRewrite<'_>,
    r: Range<usize>,
    mut handshake: Handshake,
) -> Handshake {
    let mut q = r.start;
    while q < r.end {
        if handshake.remaining > 0 {
            let e = (q + handshake.remaining as usize).min(r.end);
            if handshake.lost {
                f.fail_closed(q..e);
                handshake.lost = e - q < handshake.remaining as usize;
            } else if handshake.msg_type == 1 {
                handshake.hello = handshake.hello.walk(f, q..e);
            } else if matches!(handshake.msg_type, 11 | 13) {
                let more = e - q < handshake.remaining as usize;
                certificate(f, q..e, more, &mut handshake.cert);
            } else if handshake.msg_type == 22 {
                // OCSP responses name their responder and hold certificates
                // in DER the walk does not follow yet: zeroed under every
                // policy, since `--payload keep` would keep those names.
                f.fail_closed(q..e);
            } else if handshake.msg_type != 2 {
                // Key exchanges, signatures, tickets, messages we do not
                // know: nothing the analysis reads, and opaque to us, so
                // the payload policy.
                f.policy(q..e);
            }
            handshake.remaining -= (e - q) as u32;
            q = e;
            continue;
        }
        if handshake.lost {
            // A message header was cut and its first bytes not kept: where
            // the next message starts is unknown.
            f.fail_closed(q..r.end);
            return handshake;
        }
        // A message header (type, 24-bit length), perhaps begun in the
        // previous record or segment.
        let have = handshake.head_len as usize;
        let take = (4 - have).min(r.end - q);
        let mut h = [0u8; 4];
        h[..have].copy_from_slice(&handshake.head[..have]);
        h[have..have + take].copy_from_slice(&f.orig[q..q + take]);
        q += take;
        if have + take < 4 {
            handshake.head[..have + take].copy_from_slice(&h[..have + take]);
            handshake.head_len = (have + take) as u8;
            return handshake;
        }
        handshake.head_len = 0;
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        handshake.cert = if h[0] == 13 {
            CertWalk::start_request(len)
        } else {
            CertWalk::start(len)
        };
        handshake.msg_type = h[0];
        handshake.remaining = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        handshake.hello = HelloWalk::start();
    }
    handshake
}

#[cfg(test)]
mod tests {
    use crate::detect::testpcap::{tcp, Pcap, C, S};
    use crate::sanitize::{sanitize_bytes, SanitizeConfig};
    use crate::{analyze_bytes, AnalyzerConfig};

    const NAME: &[u8] = b"pq-split.secret-host.example";

    /// A handshake message shaped like Chromium's hello with a post-quantum
    /// key share: 1,200+ bytes of extensions before the server name. Returns
    /// the message and where the name sits in it.
    fn browser_hello() -> (Vec<u8>, usize) {
        let mut ext = Vec::new();
        ext.extend_from_slice(&[0x0a, 0x0a, 0, 0]); // GREASE
        let key_share: Vec<u8> = (0..1254u32).map(|i| (i * 7 + 1) as u8).collect();
        ext.extend_from_slice(&[0, 51]);
        ext.extend_from_slice(&(key_share.len() as u16).to_be_bytes());
        ext.extend_from_slice(&key_share);
        let n = NAME.len() as u16;
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&(n + 5).to_be_bytes());
        ext.extend_from_slice(&(n + 3).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&n.to_be_bytes());
        let name_in_ext = ext.len();
        ext.extend_from_slice(NAME);
        ext.extend_from_slice(&[0, 16, 0, 14, 0, 12, 2, b'h', b'2', 8]);
        ext.extend_from_slice(b"http/1.1");
        ext.extend_from_slice(&[0, 43, 0, 3, 2, 3, 4]);
        let mut body = vec![3, 3];
        body.extend((0..32u8).map(|i| i ^ 0x5a));
        body.push(32);
        body.extend((0..32u8).map(|i| i ^ 0xa5));
        body.extend_from_slice(&[0, 6, 0x13, 1, 0x13, 2, 0x13, 3, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        let name_in_body = body.len() + name_in_ext;
        body.extend_from_slice(&ext);
        let mut msg = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        msg.extend_from_slice(&body);
        (msg, 4 + name_in_body)
    }

    fn record(fragment: &[u8]) -> Vec<u8> {
        let mut r = vec![22, 3, 1];
        r.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
        r.extend_from_slice(fragment);
        r
    }

    /// The stream's bytes as TCP segments cut at `cuts`; returns the capture
    /// and where each segment's payload starts in it.
    fn segments(stream: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<usize>) {
        let mut pcap = Pcap::new();
        let mut starts = Vec::new();
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(stream.len());
        for (i, w) in bounds.windows(2).enumerate() {
            starts.push(pcap.bytes().len() + 16 + 40);
            let seg = tcp(
                C,
                40000,
                S,
                443,
                1 + w[0] as u32,
                1,
                0x18,
                &stream[w[0]..w[1]],
            );
            pcap.push(i as u64, &seg);
        }
        (pcap.bytes().to_vec(), starts)
    }

    fn sanitized(capture: &[u8]) -> Vec<u8> {
        sanitize_bytes(capture, SanitizeConfig::new(vec![9; 32]))
            .unwrap()
            .0
    }

    /// The stream back out of a capture made by `segments`.
    fn stream_of(capture: &[u8], starts: &[usize], stream_len: usize) -> Vec<u8> {
        let mut ends: Vec<usize> = starts[1..].iter().map(|s| s - 16 - 40).collect();
        ends.push(capture.len());
        let out: Vec<u8> = starts
            .iter()
            .zip(ends)
            .flat_map(|(&s, e)| capture[s..e].iter().copied())
            .collect();
        assert_eq!(out.len(), stream_len);
        out
    }

    fn contains(h: &[u8], n: &[u8]) -> bool {
        h.windows(n.len()).any(|w| w == n)
    }

    /// A hello cut into two TCP segments at every byte: the name gets the
    /// same pseudonym as in one piece (a cut inside the name takes the
    /// second pass), every other byte is kept, the name is never left in
    /// clear.
    #[test]
    fn a_hello_cut_anywhere_by_tcp_loses_its_name_and_nothing_else() {
        let (msg, name_in_msg) = browser_hello();
        let stream = record(&msg);
        let name = 5 + name_in_msg..5 + name_in_msg + NAME.len();
        let (whole, starts) = segments(&stream, &[]);
        let pseudonym = stream_of(&sanitized(&whole), &starts, stream.len())[name.clone()].to_vec();
        assert_ne!(pseudonym, NAME);
        assert_eq!(pseudonym.len(), NAME.len());
        assert!(pseudonym.ends_with(b".example"));
        // From 5: a stream's first segment holds its first record header.
        for cut in 5..stream.len() {
            let (capture, starts) = segments(&stream, &[cut]);
            let out = stream_of(&sanitized(&capture), &starts, stream.len());
            assert!(!contains(&out, NAME), "name in clear, cut at {cut}");
            assert_eq!(out[..name.start], stream[..name.start], "cut at {cut}");
            assert_eq!(out[name.end..], stream[name.end..], "cut at {cut}");
            assert_eq!(out[name.clone()], pseudonym[..], "cut at {cut}");
        }
    }

    /// One pass over a hello whose name a segment cuts: the first piece is
    /// zeroed (written before the rest was read), the rest is the tail of
    /// the name's pseudonym, and the pass asks for a second one that knows
    /// the name; that one writes the whole pseudonym.
    #[test]
    fn a_name_cut_by_a_segment_takes_a_second_pass() {
        use crate::sanitize::Sanitizer;
        let (msg, name_in_msg) = browser_hello();
        let stream = record(&msg);
        let name = 5 + name_in_msg..5 + name_in_msg + NAME.len();
        let cut = name.start + 9;
        let (capture, starts) = segments(&stream, &[cut]);
        let one_pass = |cfg: SanitizeConfig| {
            let mut s = Sanitizer::new(cfg).unwrap();
            let mut out = Vec::new();
            s.feed(&capture, &mut out).unwrap();
            let counters = s.finish().counters;
            (stream_of(&out, &starts, stream.len()), s, counters)
        };
        let (first, s, _) = one_pass(SanitizeConfig::new(vec![9; 32]));
        let second_cfg = s.second_pass().expect("a second pass");
        assert_eq!(second_cfg.tls_cut_names.len(), 1);
        let (second, s2, counters) = one_pass(second_cfg);
        assert!(s2.second_pass().is_none(), "two passes are enough");
        assert_eq!(
            (counters.tls_names, counters.dns_names),
            (1, 1),
            "one name, counted once"
        );
        let whole = sanitized(&capture);
        let whole = stream_of(&whole, &starts, stream.len());
        assert_eq!(second, whole, "sanitize_bytes makes the same two passes");
        assert!(first[name.start..cut].iter().all(|&b| b == 0));
        assert_eq!(first[cut..name.end], second[cut..name.end]);
        assert_ne!(second[name.clone()], *NAME);
        assert!(!contains(&first, NAME) && !contains(&second, NAME));
    }

    /// A Certificate message shaped like a real one where it matters here:
    /// SAN dNSNames and addresses, subject strings in several string types
    /// (one UTF-8 in another script, one with a long-form length), an
    /// e-mail address. Returns the stream (record header and message) and
    /// the originals that must not survive.
    fn certificate_stream() -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut body = Vec::new();
        let mut push = |tag: u8, content: &[u8]| {
            body.push(tag);
            if content.len() >= 0x80 {
                body.push(0x81);
            }
            body.push(content.len() as u8);
            body.extend_from_slice(content);
            // Something that is not a string between the strings.
            body.extend_from_slice(&[0x02, 0x01, 0x05]);
        };
        let host = b"host-20.segmentcut-corp.example".to_vec();
        let org = b"Segmentcut Corporation".to_vec();
        let city = "Zürich-Höngg".as_bytes().to_vec();
        let mail = b"certadmin@segmentcut-corp.example".to_vec();
        let policy: Vec<u8> =
            b"Segmentcut policy text that is long enough to take a long-form length byte in DER, "
                .repeat(2);
        push(0x82, &host);
        push(0x13, &org);
        push(0x0c, &city);
        push(0x16, &mail);
        push(0x0c, &policy);
        push(0x87, &[192, 0, 2, 77]);
        push(
            0x87,
            &[
                0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xca, 0xfe, 0xbe, 0xef,
            ],
        );
        push(0x82, b"www.segmentcut-corp.example");
        // TLS 1.2 framing: the list's length, the certificate's length, the
        // certificate (one SEQUENCE, two-byte long-form length).
        let u24 = |n: usize| [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let mut cert = vec![0x30, 0x82, (body.len() >> 8) as u8, body.len() as u8];
        cert.extend_from_slice(&body);
        let mut list = u24(cert.len()).to_vec();
        list.extend_from_slice(&cert);
        let mut msg = vec![11];
        msg.extend_from_slice(&u24(list.len() + 3));
        msg.extend_from_slice(&u24(list.len()));
        msg.extend_from_slice(&list);
        let originals = vec![
            host,
            org,
            city,
            mail,
            b"segmentcut".to_vec(),
            vec![192, 0, 2, 77],
            vec![0xca, 0xfe, 0xbe, 0xef],
        ];
        (record(&msg), originals)
    }

    /// A certificate cut into two segments at every byte is rewritten
    /// exactly as in one piece: strings, names and addresses the cut falls
    /// in (or in whose header it falls) included.
    #[test]
    fn a_certificate_cut_anywhere_is_rewritten_as_in_one_piece() {
        let (stream, originals) = certificate_stream();
        let (whole, starts) = segments(&stream, &[]);
        let want = stream_of(&sanitized(&whole), &starts, stream.len());
        for o in &originals {
            assert!(!contains(&want, o), "{o:?} in one piece");
        }
        assert_eq!(
            want[..19],
            stream[..19],
            "record, message, list and DER headers kept"
        );
        // The INTEGERs between the strings are kept; the strings are
        // rewritten, not zeroed.
        let kept = want.windows(3).filter(|w| w == &[0x02, 0x01, 0x05]).count();
        assert_eq!(kept, 8, "{want:?}");
        assert!(
            want.windows(8).any(|w| w == b".example"),
            "names rewritten to pseudonyms: {want:?}"
        );
        for cut in 5..stream.len() {
            let (capture, starts) = segments(&stream, &[cut]);
            let out = stream_of(&sanitized(&capture), &starts, stream.len());
            assert_eq!(out, want, "cut at {cut}");
        }
    }

    /// A retransmitted segment that starts inside a ClientHello replays
    /// from the ring, which keeps no walk details: the copy is zeroed to the
    /// end of the hello, never left in clear; the first copy keeps its
    /// pseudonym.
    #[test]
    fn a_retransmission_inside_a_hello_is_zeroed_not_kept() {
        let (msg, name_in_msg) = browser_hello();
        let stream = record(&msg);
        let name = 5 + name_in_msg..5 + name_in_msg + NAME.len();
        let cut = name.start - 40;
        let mut pcap = Pcap::new();
        let seg = |a: usize, b: usize| tcp(C, 40000, S, 443, 1 + a as u32, 1, 0x18, &stream[a..b]);
        pcap.push(0, &seg(0, cut));
        pcap.push(1, &seg(cut, stream.len()));
        pcap.push(2, &seg(cut, stream.len()));
        let out = sanitized(pcap.bytes());
        assert!(!contains(&out, NAME));
        let copy_len = stream.len() - cut;
        let (first, second) = (
            &out[out.len() - 2 * copy_len - 56..],
            &out[out.len() - copy_len..],
        );
        let first = &first[..copy_len];
        let at = name.start - cut;
        assert!(
            first[at..at + NAME.len()].ends_with(b".example"),
            "{:?}",
            &first[at..at + NAME.len()]
        );
        assert!(
            second.iter().all(|&b| b == 0),
            "the retransmitted hello is zeroed"
        );
    }

    /// The analysis of a sanitised capture whose hello came in two segments
    /// (the name in the second) reads the hello and the pseudonym.
    #[test]
    fn a_hello_with_its_name_in_the_second_segment_reads_as_the_pseudonym() {
        let (msg, name_in_msg) = browser_hello();
        let stream = record(&msg);
        let (capture, _) = segments(&stream, &[1400.min(5 + name_in_msg - 10)]);
        let tls = |b: &[u8]| {
            analyze_bytes(b, AnalyzerConfig::default())
                .unwrap()
                .failures
                .tls
        };
        let before = tls(&capture);
        assert_eq!(before.client_hellos, 1);
        let original = String::from_utf8(NAME.to_vec()).unwrap();
        assert_eq!(before.server_names.get(&original), Some(&1));
        let after = tls(&sanitized(&capture));
        assert_eq!(after.client_hellos, 1);
        let names: Vec<&String> = after.server_names.keys().collect();
        assert_eq!(names.len(), 1);
        assert_ne!(names[0], &original);
        assert_eq!(names[0].len(), original.len());
    }

    /// One hello over several TLS records in one segment, and over records
    /// and segments at once: the name is found wherever the records cut the
    /// message outside it.
    #[test]
    fn a_hello_over_several_records_keeps_its_structure() {
        let (msg, name_in_msg) = browser_hello();
        let name_end = name_in_msg + NAME.len();
        for cut in [
            1,
            4,
            5,
            40,
            76,
            300,
            name_in_msg - 1,
            name_in_msg,
            name_end,
            msg.len() - 1,
        ] {
            let mut stream = record(&msg[..cut]);
            stream.extend_from_slice(&record(&msg[cut..]));
            // The name's place in the stream: one more record header if it
            // comes after the cut.
            let at = if cut <= name_in_msg {
                10 + name_in_msg
            } else {
                5 + name_in_msg
            };
            for seg_cut in [None, Some(8), Some(stream.len() / 2), Some(at + 2)] {
                let cuts: Vec<usize> = seg_cut.into_iter().collect();
                let (capture, starts) = segments(&stream, &cuts);
                let out = stream_of(&sanitized(&capture), &starts, stream.len());
                let why = format!("record cut {cut}, segment cut {seg_cut:?}");
                assert!(!contains(&out, NAME), "{why}");
                assert_eq!(out[..at], stream[..at], "{why}");
                assert_eq!(out[at + NAME.len()..], stream[at + NAME.len()..], "{why}");
                let pseudonym = &out[at..at + NAME.len()];
                assert!(pseudonym.ends_with(b".example"), "{why}: {pseudonym:?}");
                assert!(pseudonym.iter().all(|&b| b != 0), "{why}: {pseudonym:?}");
            }
        }
    }
}
