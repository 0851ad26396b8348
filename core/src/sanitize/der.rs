//! Certificates in a TLS Certificate message, walked by their DER structure
//! across the records and segments a chain takes. What the walk recognises
//! is kept or rewritten: the structure (tags, lengths), well-known OIDs,
//! times, small integers and flags are kept; names (DER strings, SAN
//! entries and addresses) are replaced in place. Everything else — serial
//! numbers, public keys, signatures, key identifiers, private OIDs, any
//! value we do not know — follows the payload policy (zeroed by default):
//! such values find the certificate, and so its owner, in public CT logs.
//! Bytes the structure does not account for (lengths that lie, nesting too
//! deep, a header DER forbids) are zeroed to the end of the nearest
//! enclosing element whose length we trust: fail closed, never kept.

use super::cut::{cut_first, cut_rest};
use super::pseudo::looks_like_hostname;
use super::rewrite::{url, FrameRewrite};
use super::stream::{CertWalk, CutKind, Frame, Prim, CERT_DEPTH};
use super::text::scrub_text;
use super::PayloadPolicy;
use std::ops::Range;

/// What a DER string's content is, for rewriting.
pub(super) enum DerText {
    /// Not text (binary that looked like a string, a time): kept.
    Not,
    /// A URI: the scheme stays, host and path are replaced.
    Url,
    /// A host name, from this offset (after a wildcard's `*.`).
    Host(usize),
    /// Text with an e-mail address in it.
    Email,
    /// Any other text: a word.
    Word,
}

impl DerText {
    /// Classify a string's content (trailing NULs already trimmed);
    /// `utf8`: a UTF8String, whose text may be in any script.
    pub(super) fn of(content: &[u8], utf8: bool) -> DerText {
        let is_time = content.len() >= 11
            && content[..content.len() - 1].iter().all(u8::is_ascii_digit)
            && content.last() == Some(&b'Z');
        // A UTF8String may hold any script (O=, L=, CN= of a certificate
        // outside the English-speaking world): well-formed text is text.
        let text = content.iter().all(|c| (0x20..0x7f).contains(c))
            || (utf8
                && std::str::from_utf8(content).is_ok_and(|t| !t.chars().any(char::is_control)));
        if is_time || !text {
            return DerText::Not;
        }
        let trimmed = content.strip_prefix(b"*.").map_or(content, |c| c);
        let scheme = content
            .windows(3)
            .position(|w| w == b"://")
            .is_some_and(|k| k <= 8 && content[..k].iter().all(u8::is_ascii_alphabetic));
        if scheme {
            DerText::Url
        } else if looks_like_hostname(trimmed) {
            DerText::Host(content.len() - trimmed.len())
        } else if content.contains(&b'@') {
            DerText::Email
        } else {
            DerText::Word
        }
    }
}

/// A whole DER string's content rewritten apart from any frame (a string a
/// segment boundary cut): as `der_strings` rewrites one in place, except
/// that a URI is zeroed.
pub(super) fn der_text_rewritten(f: &mut FrameRewrite<'_>, content: &[u8], utf8: bool) -> Vec<u8> {
    let mut n = content.len();
    while n > 0 && content[n - 1] == 0 {
        n -= 1;
    }
    let mut out = content.to_vec();
    match DerText::of(&content[..n], utf8) {
        DerText::Not => {}
        DerText::Url => out[..n].fill(0),
        DerText::Host(off) => {
            let p = f.pseudonymize_name(&content[off..n]);
            out[off..n].copy_from_slice(&p);
            f.counters.tls_names += 1;
        }
        DerText::Email => scrub_text(f.pseudonymizer, &mut out[..n]),
        DerText::Word => f.pseudonymizer.pseudonymize_word(&mut out[..n]),
    }
    out
}

/// A certificate string or address rewritten whole (see `cut`).
fn rewrite_whole_value(f: &mut FrameRewrite<'_>, kind: CutKind, whole: &[u8]) -> Vec<u8> {
    match kind {
        CutKind::ServerName => f.pseudonymize_name(whole),
        CutKind::DerString { utf8 } => der_text_rewritten(f, whole, utf8),
        CutKind::DerIp => {
            f.counters.ip_rewrites += 1;
            match <[u8; 4]>::try_from(whole) {
                Ok(a) => f.pseudonymizer.pseudonymize_ipv4(a).to_vec(),
                Err(_) => match <[u8; 16]>::try_from(whole) {
                    Ok(a) => f.pseudonymizer.pseudonymize_ipv6(a).to_vec(),
                    Err(_) => vec![0; whole.len()],
                },
            }
        }
    }
}

fn stringy_tag(tag: u8) -> bool {
    // UTF8, Numeric, Printable, T61, IA5, Visible; SAN rfc822Name, dNSName, URI.
    matches!(
        tag,
        0x0c | 0x12 | 0x13 | 0x14 | 0x16 | 0x1a | 0x81 | 0x82 | 0x86
    )
}

/// Cut strings longer than this follow the payload policy instead of being
/// carried to the next piece (policy texts, not names).
const MAX_CUT_STRING: u32 = 1024;

/// Well-known OID arcs (DER content prefixes) kept as they are: X.500
/// attributes and extensions, PKCS, PKIX, Microsoft, Netscape, the CA/B
/// Forum, curves, EdDSA, Certificate Transparency. A private enterprise arc
/// names its organisation: it follows the payload policy.
const KNOWN_OID_ARCS: &[&[u8]] = &[
    &[0x55],                                     // 2.5 (X.500)
    &[0x2a, 0x86, 0x48],                         // 1.2.840 (ANSI X9, RSADSI)
    &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07],       // 1.3.6.1.5.5.7 (PKIX)
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37], // 1.3.6.1.4.1.311 (Microsoft)
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79], // 1.3.6.1.4.1.11129 (CT)
    &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03],       // 2.16.840.1.101.3 (NIST algorithms)
    &[0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x42], // 2.16.840.1.113730 (Netscape)
    &[0x67, 0x81, 0x0c],                         // 2.23.140 (CA/Browser Forum)
    &[0x2b, 0x81, 0x04],                         // 1.3.132 (SEC curves)
    &[0x2b, 0x65],                               // 1.3.101 (EdDSA, X25519)
    &[0x2b, 0x0e, 0x03, 0x02],                   // 1.3.14.3.2 (OIW: SHA-1)
];

/// The embedded SCT list extension (1.3.6.1.4.1.11129.2.4.2).
const SCT_LIST_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02];

/// Byte `k` of an SCT list of `len` bytes that says nothing: one SCT with a
/// zero log ID, timestamp and signature. A list's log IDs, times and
/// signatures find the certificate in public CT logs, so they cannot stay;
/// zeros alone would not be a valid list (vectors of length 0), and readers
/// such as tshark would call every certificate malformed.
fn sct_byte(k: u32, len: u32) -> u8 {
    // list length, SCT length, version, log ID (32), timestamp (8),
    // extensions length, hash and signature algorithms, signature length.
    const FIXED: u32 = 2 + 2 + 1 + 32 + 8 + 2 + 2 + 2;
    if len < FIXED {
        return 0;
    }
    let be = |v: u32, hi: bool| if hi { (v >> 8) as u8 } else { v as u8 };
    match k {
        0 | 1 => be(len - 2, k == 0),
        2 | 3 => be(len - 4, k == 2),
        47 => 4, // sha256
        48 => 3, // ecdsa
        49 | 50 => be(len - FIXED, k == 49),
        _ => 0,
    }
}

impl CertWalk {
    /// A Certificate message of `len` bytes.
    pub fn start(len: u32) -> Self {
        CertWalk {
            len,
            ..Self::default()
        }
    }

    /// A CertificateRequest of `len` bytes: its CA names are walked as a
    /// certificate's names are.
    pub fn start_request(len: u32) -> Self {
        CertWalk {
            len,
            request: true,
            ..Self::default()
        }
    }

    /// Bytes of the length field that comes next at the message's top.
    fn top_field(&self) -> usize {
        match (self.request, self.stage) {
            (false, _) => 3,
            (true, 0) => 1,
            (true, _) => 2,
        }
    }

    fn top(&self) -> (Frame, u32) {
        match self.depth {
            0 => (Frame::Message, self.len),
            d => (self.kinds[d as usize - 1], self.ends[d as usize - 1]),
        }
    }

    fn push(&mut self, frame: Frame, end: u32) -> bool {
        if self.depth as usize == CERT_DEPTH {
            return false;
        }
        self.kinds[self.depth as usize] = frame;
        self.ends[self.depth as usize] = end;
        self.depth += 1;
        true
    }

    /// Damage before message offset `pos`: zero from there to the end of
    /// the nearest element whose length is trusted (an extension's value,
    /// the certificate, the list, the message) and that `pos` is inside.
    fn damaged(&mut self, pos: u32) {
        while self.depth > 0 {
            let (frame, end) = self.top();
            let trusted = matches!(
                frame,
                Frame::Wrapped | Frame::WrappedFresh | Frame::Cert | Frame::List | Frame::CaList
            );
            if trusted && end >= pos {
                self.prim = Prim::Zero;
                self.prim_end = end;
                return;
            }
            self.depth -= 1;
        }
        self.prim = Prim::Zero;
        self.prim_end = self.len.max(pos);
    }
}

/// A string whose whole content is at `s..e` rewritten in place; text that
/// is not text follows the payload policy.
fn string_in_place(f: &mut FrameRewrite<'_>, tag: u8, s: usize, e: usize) {
    let mut se = e;
    // Some encoders NUL-terminate strings; the NULs are not content.
    while se > s && f.orig[se - 1] == 0 {
        se -= 1;
    }
    let content = &f.orig[s..se];
    match DerText::of(content, tag == 0x0c) {
        // An implicit [1] GeneralizedTime (a private key usage period's end)
        // shares rfc822Name's tag.
        DerText::Not if der_time(content) => {}
        DerText::Not => f.policy(s..e),
        DerText::Url => {
            url(f, s, se);
            f.counters.tls_names += 1;
        }
        DerText::Host(off) => {
            f.dns_text(s + off..se);
            f.counters.tls_names += 1;
        }
        DerText::Email => {
            f.out[s..se].copy_from_slice(content);
            scrub_text(f.pseudonymizer, &mut f.out[s..se]);
        }
        DerText::Word => f.token(s..se, false),
    }
}

/// Whether a primitive value is kept as it is, when its length decides.
fn kept_by_length(tag: u8, len: u32) -> Option<bool> {
    match tag {
        0x01 | 0x05 => Some(len <= 1),     // BOOLEAN, NULL
        0x02 | 0x0a => Some(len <= 2),     // version, path length; enumerations
        0x03 => Some(len <= 3),            // key usage bits (keys and signatures are longer)
        0x06 | 0x17 | 0x18 | 0x80 => None, // OIDs and times: by content
        _ => Some(false),
    }
}

/// Whether a primitive value, whole in `content`, is kept as it is.
fn kept_primitive(tag: u8, content: &[u8]) -> bool {
    let n = content.len();
    match tag {
        0x06 => KNOWN_OID_ARCS.iter().any(|a| content.starts_with(a)) && n <= 24,
        // Times, also as implicit [0] (a private key usage period's start).
        0x17 | 0x18 | 0x80 => der_time(content),
        _ => kept_by_length(tag, n as u32) == Some(true),
    }
}

/// A UTCTime's or GeneralizedTime's content.
fn der_time(content: &[u8]) -> bool {
    (11..=24).contains(&content.len())
        && content
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'Z' | b'.' | b'+' | b'-'))
}

/// The bytes `r` of a Certificate message, walked from `w`; `more`: the
/// message goes on after `r`.
pub(super) fn certificate(f: &mut FrameRewrite<'_>, r: Range<usize>, more: bool, w: &mut CertWalk) {
    let mut i = r.start;
    // The message offset of frame offset `i`.
    let at = |w: &CertWalk, i: usize| w.at + (i - r.start) as u32;
    while i < r.end {
        let here = at(w, i);
        if here >= w.len {
            // Past the message's declared end: not ours to walk.
            f.fail_closed(i..r.end);
            break;
        }
        if w.prim != Prim::None {
            let n = (w.prim_end.saturating_sub(here) as usize).min(r.end - i);
            match w.prim {
                Prim::None | Prim::Keep => {}
                Prim::Sct { start, len } => {
                    for k in i..i + n {
                        f.out[k] = sct_byte(at(w, k) - start, len);
                    }
                    f.counters.bytes_redacted += n as u64;
                }
                Prim::Policy => f.policy(i..i + n),
                Prim::Zero => f.fail_closed(i..i + n),
                Prim::Text { len, kind } => {
                    let left = w.prim_end.saturating_sub(here);
                    if n as u32 != left
                        || !cut_rest(f, i..i + n, len, left, kind, rewrite_whole_value)
                    {
                        if n as u32 != left {
                            f.fail_closed(i..i + n);
                        }
                        w.prim = Prim::Zero;
                    }
                }
            }
            i += n;
            if at(w, i) >= w.prim_end {
                w.prim = Prim::None;
            }
            continue;
        }
        // Elements that end here are done.
        while w.depth > 0 && w.top().1 == here {
            w.depth -= 1;
        }
        let (frame, frame_end) = w.top();
        if frame == Frame::Message && w.stage == 3 {
            // Bytes after the list: not accounted for.
            w.damaged(here);
            continue;
        }
        let top_field = w.top_field();
        // A header: 3 length bytes in the message and the list, a DER tag
        // and length elsewhere, perhaps begun in the previous piece.
        let head_start = i;
        let need = |h: &[u8]| -> Option<usize> {
            match frame {
                Frame::Message => Some(top_field),
                Frame::List => Some(3),
                Frame::CaList => Some(2),
                _ => match h.get(1) {
                    None => Some(2),
                    Some(&l) if l < 0x80 => Some(2),
                    Some(&l) if (0x81..=0x83).contains(&l) => Some(2 + (l - 0x80) as usize),
                    Some(_) => None,
                },
            }
        };
        let mut bad = false;
        loop {
            let have = w.head_len as usize;
            match need(&w.head[..have]) {
                None => {
                    bad = true;
                    break;
                }
                Some(n) if n == have => break,
                Some(_) if i == r.end => break,
                Some(_) => {
                    w.head[have] = f.orig[i];
                    w.head_len += 1;
                    i += 1;
                }
            }
        }
        let have = w.head_len as usize;
        if !bad && need(&w.head[..have]) != Some(have) {
            // The piece ends inside the header: finished by the next one.
            if !more {
                f.fail_closed(head_start..i);
            }
            return finish(w, r.end - r.start);
        }
        let h = w.head;
        w.head_len = 0;
        let content = at(w, i);
        let value = |bytes: &[u8]| bytes.iter().fold(0u32, |v, &b| v << 8 | b as u32);
        let (tag, len) = match frame {
            Frame::Message | Frame::List | Frame::CaList => (0, value(&h[..have])),
            _ => {
                let len = if h[1] < 0x80 {
                    h[1] as u32
                } else {
                    let v = value(&h[2..have]);
                    // DER: the long form only when needed, no leading zeros.
                    if v < 0x80 || h[2] == 0 {
                        bad = true;
                    }
                    v
                };
                (h[0], len)
            }
        };
        let end = content.saturating_add(len);
        let fresh = frame == Frame::WrappedFresh;
        if fresh {
            w.kinds[w.depth as usize - 1] = Frame::Wrapped;
        }
        // Not DER where DER must be: a tag DER forbids here, a length past
        // the enclosing element, a high tag number.
        let misfit = bad
            || end > frame_end
            || (frame == Frame::Message && !w.request && end != w.len)
            || (frame == Frame::Message
                && w.request
                && w.stage == 1
                && end != w.len
                && end + 2 > w.len)
            || (frame == Frame::Message && w.request && w.stage == 2 && end != w.len)
            || (!matches!(frame, Frame::Message | Frame::List | Frame::CaList)
                && tag & 0x1f == 0x1f);
        if misfit {
            if fresh && content <= frame_end {
                // An extension value that is not DER: opaque, not damage.
                f.policy(head_start..i);
                w.prim = Prim::Policy;
                w.prim_end = frame_end;
            } else {
                f.fail_closed(head_start..i);
                w.damaged(content);
            }
            continue;
        }
        match frame {
            Frame::Message if !w.request => {
                w.push(Frame::List, end);
                w.stage = 3;
                continue;
            }
            Frame::Message => {
                // Certificate types; then (TLS 1.2 only) signature
                // algorithms — told apart by whether the CA list would end
                // exactly at the message's end; then the CA list.
                if w.stage == 0 || (w.stage == 1 && end != w.len) {
                    w.prim = Prim::Keep;
                    w.prim_end = end;
                    w.stage += 1;
                } else {
                    w.push(Frame::CaList, end);
                    w.stage = 3;
                }
                continue;
            }
            Frame::List | Frame::CaList => {
                w.push(Frame::Cert, end);
                continue;
            }
            _ => {}
        }
        if tag == 0x04 && w.sct_next && matches!(frame, Frame::Wrapped | Frame::WrappedFresh) {
            // The SCT list inside the extension's value.
            w.sct_next = false;
            if f.policy != PayloadPolicy::Keep {
                w.prim = Prim::Sct {
                    start: content,
                    len,
                };
                w.prim_end = end;
                continue;
            }
        }
        // A public key: the unused-bits count, then the key's DER (RSA's
        // modulus and exponent are INTEGERs, so they follow the policy).
        if tag == 0x03 && len > 3 && i + 2 <= r.end && f.orig[i] == 0 && f.orig[i + 1] == 0x30 {
            if !w.push(Frame::WrappedFresh, end) {
                f.fail_closed(head_start..i);
                w.damaged(content);
            } else {
                i += 1;
            }
            continue;
        }
        if tag == 0x06 {
            w.sct_next = i + len as usize <= r.end && &f.orig[i..i + len as usize] == SCT_LIST_OID;
        }
        if tag & 0x20 != 0 || tag == 0x04 && len >= 2 {
            let kind = if tag == 0x04 {
                Frame::WrappedFresh
            } else {
                Frame::Der
            };
            if !w.push(kind, end) {
                f.fail_closed(head_start..i);
                w.damaged(content);
            }
            continue;
        }
        // A primitive value.
        let whole = i + len as usize <= r.end;
        if whole {
            let s = i;
            let e = i + len as usize;
            if stringy_tag(tag) && len >= 1 {
                string_in_place(f, tag, s, e);
            } else if tag == 0x87 && (len == 4 || len == 16) {
                if len == 4 {
                    f.v4(s);
                } else {
                    f.v6(s);
                }
            } else if !kept_primitive(tag, &f.orig[s..e]) {
                f.policy(s..e);
            }
            i = e;
            continue;
        }
        // A value the piece cuts.
        let text = if stringy_tag(tag) && len <= MAX_CUT_STRING {
            Some(CutKind::DerString { utf8: tag == 0x0c })
        } else if tag == 0x87 && (len == 4 || len == 16) {
            Some(CutKind::DerIp)
        } else {
            None
        };
        match text {
            Some(kind) if more => {
                cut_first(f, i..r.end, len, kind, rewrite_whole_value);
                w.prim = Prim::Text { len, kind };
            }
            _ if text.is_none() && kept_by_length(tag, len) == Some(true) => w.prim = Prim::Keep,
            // Whether an OID or a time is one we keep needs all of it: a cut
            // one follows the payload policy.
            _ => {
                f.policy(i..r.end);
                w.prim = Prim::Policy;
            }
        }
        w.prim_end = end;
        i = r.end;
    }
    finish(w, r.end - r.start)
}

fn finish(w: &mut CertWalk, walked: usize) {
    w.at += walked as u32;
}
