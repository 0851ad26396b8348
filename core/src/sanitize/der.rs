//! Names inside certificates (and CA lists, OCSP responses): every
//! printable DER string, SAN entry and SAN address is replaced in place, the
//! DER structure untouched, and elements are followed across the segments a
//! certificate chain takes.

use super::cut::{cut_first, cut_rest};
use super::pseudo::looks_like_hostname;
use super::rewrite::{url, FrameRewrite};
use super::stream::{CutKind, DerCut};
use super::text::scrub_text;
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

/// What [`der_element`] made of the bytes at a position.
enum DerStep {
    /// An element, rewritten; scanning goes on here.
    Next(usize),
    /// An element the piece cut.
    Cut(DerCut),
    /// No element starts here.
    None,
}

fn stringy_tag(tag: u8) -> bool {
    matches!(
        tag,
        0x0c | 0x12 | 0x13 | 0x14 | 0x16 | 0x1a | 0x81 | 0x82 | 0x86
    )
}

/// Tags whose strings may take a long-form length of one byte (`81 LL`).
fn long_form_tag(tag: u8) -> bool {
    matches!(tag, 0x0c | 0x13 | 0x16 | 0x86)
}

/// Names inside certificates (and CA lists, OCSP): every printable DER
/// string, SAN entry and SAN address is replaced in place; DER structure is
/// untouched. A certificate chain takes several segments, so elements are
/// followed across pieces: `more` says the message goes on after `r` (an
/// element running past it is cut, not malformed), `carried` is the element
/// the previous piece cut, and the element this piece cuts is returned.
pub(super) fn der_strings(
    f: &mut FrameRewrite<'_>,
    r: Range<usize>,
    more: bool,
    carried: Option<DerCut>,
) -> Option<DerCut> {
    let mut i = r.start;
    match carried {
        Some(DerCut::Body { len, left, kind }) => {
            let n = (left as usize).min(r.end - i);
            if n == left as usize {
                cut_rest(f, i..i + n, len, left, kind, rewrite_whole_value);
            } else {
                // A third piece of one element: not followed.
                f.fail_closed(i..i + n);
                return None;
            }
            i += n;
        }
        Some(DerCut::Head(head, k)) => {
            let mut h = [head[0], head[1], 0];
            let mut have = k as usize;
            while have < 2 && i < r.end {
                h[have] = f.orig[i];
                have += 1;
                i += 1;
            }
            if have < 2 {
                return more.then_some(DerCut::Head([h[0], h[1]], have as u8));
            }
            let (tag, mut len) = (h[0], h[1] as usize);
            let mut long = false;
            if len == 0x81 && long_form_tag(tag) {
                let &l = f.orig[..r.end].get(i)?;
                len = l as usize;
                i += 1;
                long = true;
            }
            match der_element(f, r.end, tag, len, long, i, more) {
                DerStep::Next(n) => i = n,
                DerStep::Cut(c) => return Some(c),
                DerStep::None => {}
            }
        }
        None => {}
    }
    while i < r.end {
        let tag = f.orig[i];
        let rest = r.end - i;
        // A header the piece cuts: finished by the next one.
        if rest == 1 || (rest == 2 && f.orig[i + 1] == 0x81 && long_form_tag(tag)) {
            if more && (stringy_tag(tag) || tag == 0x87) {
                let second = if rest == 2 { f.orig[i + 1] } else { 0 };
                return Some(DerCut::Head([tag, second], rest as u8));
            }
            break;
        }
        let mut len = f.orig[i + 1] as usize;
        let mut hl = 2;
        let mut long = false;
        if len == 0x81 && long_form_tag(tag) {
            // Long form, one length byte (URLs, policy texts ≥ 128 bytes).
            len = f.orig[i + 2] as usize;
            hl = 3;
            long = true;
        }
        // 0x81/0x82 right after a constructed tag are long-form lengths.
        let long_len = matches!(tag, 0x81 | 0x82)
            && i > r.start
            && matches!(f.orig[i - 1], 0x30 | 0x31 | 0xa0..=0xa8 | 0x04 | 0x03);
        if !long_len {
            match der_element(f, r.end, tag, len, long, i + hl, more) {
                DerStep::Next(n) => {
                    i = n;
                    continue;
                }
                DerStep::Cut(c) => return Some(c),
                DerStep::None => {}
            }
        }
        i += 1;
    }
    None
}

/// The element with this tag and length whose content starts at `s`.
fn der_element(
    f: &mut FrameRewrite<'_>,
    end: usize,
    tag: u8,
    len: usize,
    long: bool,
    s: usize,
    more: bool,
) -> DerStep {
    if stringy_tag(tag) && (2..0x100).contains(&len) && (long || len < 0x80) {
        if more && s + len > end {
            let kind = CutKind::DerString { utf8: tag == 0x0c };
            cut_first(f, s..end, len as u32, kind, rewrite_whole_value);
            let left = (s + len - end) as u32;
            return DerStep::Cut(DerCut::Body {
                len: len as u32,
                left,
                kind,
            });
        }
        let mut se = (s + len).min(end);
        // Some encoders NUL-terminate strings; the NULs are not content.
        while se > s && f.orig[se - 1] == 0 {
            se -= 1;
        }
        let content = &f.orig[s..se];
        match DerText::of(content, tag == 0x0c) {
            DerText::Not => return DerStep::None,
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
        return DerStep::Next(se);
    }
    if tag == 0x87 && (len == 4 || len == 16) && !long {
        if s + len <= end {
            if len == 4 {
                f.v4(s);
            } else {
                f.v6(s);
            }
            return DerStep::Next(s + len);
        }
        if more {
            cut_first(f, s..end, len as u32, CutKind::DerIp, rewrite_whole_value);
            let left = (s + len - end) as u32;
            return DerStep::Cut(DerCut::Body {
                len: len as u32,
                left,
                kind: CutKind::DerIp,
            });
        }
    }
    DerStep::None
}
