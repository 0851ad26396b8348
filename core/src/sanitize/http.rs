//! HTTP/1.x (and SSDP) messages: request lines, header values (hosts,
//! cookies, credentials, secrets) and bodies as the policy says, with
//! Content-Length and chunked bodies followed across segments.

use super::pseudo::Pseudonymizer;
use super::rewrite::{host, url, FrameRewrite};
use super::stream::{Body, NextBody, StreamState};
use super::text::scrub_text;
use super::PayloadPolicy;
use arrayvec::ArrayVec;
use base64::Engine;
use std::ops::Range;

const SECRET_WORDS: &[&[u8]] = &[
    b"key",
    b"token",
    b"secret",
    b"auth",
    b"passw",
    b"session",
    b"signature",
    b"credential",
    b"csrf",
    b"xsrf",
    b"api",
    b"sid",
    b"jwt",
];

fn contains_ci(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// `Basic` credentials as base64 of `user:password` with the user and the
/// password pseudonymised on their own (same lengths, so the same base64
/// length): the output still decodes to `user:password` (as tshark shows it)
/// and both parts are audited on their own too. `None` for anything that is
/// not canonical base64 of printable text: the caller replaces it as a token.
fn basic_credentials(ps: &mut Pseudonymizer, b64: &[u8]) -> Option<Vec<u8>> {
    let eng = &base64::engine::general_purpose::STANDARD;
    let dec = eng.decode(b64).ok()?;
    if dec.is_empty()
        || eng.encode(&dec).as_bytes() != b64
        || !dec.iter().all(|c| c.is_ascii_graphic() || *c == b' ')
    {
        return None;
    }
    let colon = dec.iter().position(|&c| c == b':').unwrap_or(dec.len());
    let mut new = dec.clone();
    let (user, pass) = new.split_at_mut(colon);
    ps.pseudonymize_token(user);
    if pass.len() > 1 {
        ps.pseudonymize_token(&mut pass[1..]);
    }
    ps.note_secret(&dec);
    ps.note_secret(b64);
    Some(eng.encode(&new).into_bytes())
}

/// A redacted JSON body read as JSON: zeros make tshark add a text layer
/// under `json` (`json:data-text-lines`) where the original was `json` only,
/// so a body wholly in this segment becomes `{}` and spaces (same length,
/// nothing of the original). Bodies spread over segments stay zeros.
pub(super) fn redacted_json_body(f: &mut FrameRewrite<'_>, at: usize, n: u64, end: usize) {
    // Content-Length is the sender's word: any size, so no unchecked sums.
    let Some(body_end) = usize::try_from(n).ok().and_then(|n| at.checked_add(n)) else {
        return;
    };
    let n = body_end - at;
    if f.policy != PayloadPolicy::Redact || n < 2 || body_end > end || body_end > f.len() {
        return;
    }
    // The Content-Type of this message, if its header is in this segment.
    // (From the end of an earlier message in the segment, if any.)
    let head = &f.orig[..at];
    let start = head[..at.saturating_sub(4)]
        .windows(4)
        .rposition(|w| w == b"\r\n\r\n")
        .map_or(0, |i| i + 4);
    let is_json = head[start..].split(|&c| c == b'\n').any(|line| {
        let l = line.to_ascii_lowercase();
        l.starts_with(b"content-type:") && {
            let v = &l[13..];
            let t = v
                .split(|&c| c == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            t.ends_with(b"/json") || t.ends_with(b"+json")
        }
    });
    if is_json && f.out[at..at + n].iter().all(|&c| c == 0) {
        f.out[at..at + n].fill(b' ');
        f.out[at] = b'{';
        f.out[at + 1] = b'}';
    }
}

/// A media type whose dissectors read a zeroed body the way they read the
/// original (tshark: text lines, a form, XML, JSON; no malformed frame). The
/// type is kept, so the protocol hierarchy is kept; other types (images,
/// ASN.1, compressed codings) would call zeros malformed and get `x`es.
fn zeroed_body_parses_alike(content_type: &[u8]) -> bool {
    let t = content_type
        .split(|&c| c == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let Some(slash) = t.iter().position(|&c| c == b'/') else {
        return false;
    };
    let (top, sub) = (&t[..slash], &t[slash + 1..]);
    let ends_ci = |s: &[u8], suf: &[u8]| {
        s.len() >= suf.len() && s[s.len() - suf.len()..].eq_ignore_ascii_case(suf)
    };
    top.eq_ignore_ascii_case(b"text")
        || sub.eq_ignore_ascii_case(b"x-www-form-urlencoded")
        || sub.eq_ignore_ascii_case(b"xml")
        || ends_ci(sub, b"+xml")
        || sub.eq_ignore_ascii_case(b"json")
        || ends_ci(sub, b"+json")
}

/// A whole HTTP-like message in one datagram (SSDP).
pub(super) fn http(f: &mut FrameRewrite<'_>, r: Range<usize>) {
    let rest = &f.orig[r.clone()];
    let le = rest
        .iter()
        .position(|&c| c == b'\n')
        .map_or(r.end, |i| r.start + i);
    let line_end = if le > r.start && f.orig[le - 1] == b'\r' {
        le - 1
    } else {
        le
    };
    let next = request_line(f, r.start, line_end);
    if le >= r.end {
        return;
    }
    let (p, st) = http_headers(f, le + 1, r.end, false, next);
    if p < r.end || matches!(st, StreamState::Body(_)) {
        f.policy(p..r.end);
    }
}

/// Header lines from `p`; returns where they stopped and the state then.
pub(super) fn http_headers(
    f: &mut FrameRewrite<'_>,
    mut p: usize,
    end: usize,
    mid_line: bool,
    mut next: NextBody,
) -> (usize, StreamState) {
    if mid_line {
        // The rest of a line cut by the previous segment: unknown header, not kept.
        let le = f.orig[p..end]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(end, |i| p + i);
        let te = if le > p && f.orig[le - 1] == b'\r' {
            le - 1
        } else {
            le
        };
        f.token(p..te, false);
        if le >= end {
            return (
                end,
                StreamState::HttpHeaders {
                    mid_line: true,
                    next,
                },
            );
        }
        p = le + 1;
    }
    while p < end {
        let le = f.orig[p..end]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(end, |i| p + i);
        let line_end = if le > p && f.orig[le - 1] == b'\r' {
            le - 1
        } else {
            le
        };
        if line_end == p && le < end {
            let body = match next {
                NextBody::Nothing | NextBody::Length(0) => StreamState::Unknown,
                NextBody::Length(n) => StreamState::Body(Body::Length(n)),
                NextBody::Chunked => StreamState::Body(Body::ChunkSize {
                    value: 0,
                    done: false,
                }),
                NextBody::UntilClose => StreamState::Body(Body::Length(u64::MAX)),
            };
            return (le + 1, body);
        }
        header_line(f, p, line_end, &mut next);
        if le >= end {
            return (
                end,
                StreamState::HttpHeaders {
                    mid_line: true,
                    next,
                },
            );
        }
        p = le + 1;
    }
    (
        end,
        StreamState::HttpHeaders {
            mid_line: false,
            next,
        },
    )
}

/// Body bytes: the policy applies to content, never to chunk framing.
pub(super) fn http_body(
    f: &mut FrameRewrite<'_>,
    mut p: usize,
    end: usize,
    mut b: Body,
) -> (usize, StreamState) {
    while p < end {
        match b {
            Body::Length(n) => {
                let take = (end - p).min(usize::try_from(n).unwrap_or(usize::MAX));
                f.policy(p..p + take);
                p += take;
                let left = if n == u64::MAX { n } else { n - take as u64 };
                if left == 0 {
                    return (p, StreamState::Unknown);
                }
                b = Body::Length(left);
            }
            Body::ChunkSize { value, done } => {
                let c = f.orig[p];
                p += 1;
                b = if c == b'\n' {
                    if value == 0 {
                        Body::Trailer {
                            at_line_start: true,
                        }
                    } else {
                        Body::ChunkData(value)
                    }
                } else if !done && c.is_ascii_hexdigit() {
                    let d = (c as char).to_digit(16).unwrap_or(0) as u64;
                    Body::ChunkSize {
                        value: value.saturating_mul(16).saturating_add(d),
                        done,
                    }
                } else if c == b'\r' {
                    Body::ChunkSize { value, done: true }
                } else {
                    // Chunk extensions: not kept.
                    f.out[p - 1] = b' ';
                    Body::ChunkSize { value, done: true }
                };
            }
            Body::ChunkData(n) => {
                let take = (end - p).min(usize::try_from(n).unwrap_or(usize::MAX));
                f.policy(p..p + take);
                p += take;
                let left = n - take as u64;
                b = if left == 0 {
                    Body::ChunkEnd(2)
                } else {
                    Body::ChunkData(left)
                };
            }
            Body::ChunkEnd(_) => {
                let c = f.orig[p];
                p += 1;
                b = if c == b'\n' {
                    Body::ChunkSize {
                        value: 0,
                        done: false,
                    }
                } else {
                    Body::ChunkEnd(1)
                };
            }
            Body::Trailer { at_line_start } => {
                let c = f.orig[p];
                p += 1;
                if c == b'\n' {
                    if at_line_start {
                        return (p, StreamState::Unknown);
                    }
                    b = Body::Trailer {
                        at_line_start: true,
                    };
                } else if c != b'\r' {
                    f.out[p - 1] = b'x';
                    b = Body::Trailer {
                        at_line_start: false,
                    };
                }
            }
        }
    }
    (end, StreamState::Body(b))
}

pub(super) fn request_line(f: &mut FrameRewrite<'_>, p: usize, e: usize) -> NextBody {
    let line = &f.orig[p..e];
    if line.starts_with(b"HTTP/") {
        // Status line: 1xx, 204 and 304 have no body; others run to close
        // unless a length or chunking is announced.
        let code = line.get(9..12).unwrap_or(b"000");
        return if code[0] == b'1' || code == b"204" || code == b"304" {
            NextBody::Nothing
        } else {
            NextBody::UntilClose
        };
    }
    let Some(s1) = line.iter().position(|&c| c == b' ') else {
        f.fail_closed(p..e);
        return NextBody::Nothing;
    };
    let rest = &line[s1 + 1..];
    let uri_end = rest
        .iter()
        .rposition(|&c| c == b' ')
        .filter(|&i| rest[i + 1..].starts_with(b"HTTP/"))
        .unwrap_or(rest.len());
    let verb = &line[..s1];
    let u0 = p + s1 + 1;
    if verb != b"M-SEARCH" && verb != b"NOTIFY" {
        url(f, u0, u0 + uri_end);
    }
    NextBody::Nothing
}

fn header_line(f: &mut FrameRewrite<'_>, p: usize, e: usize, next: &mut NextBody) {
    let line = &f.orig[p..e];
    let Some(colon) = line.iter().position(|&c| c == b':') else {
        // A cut or odd line: nothing to recognise, so nothing kept.
        f.token(p..e, false);
        return;
    };
    let name: ArrayVec<u8, 64> = line[..colon]
        .iter()
        .take(64)
        .map(u8::to_ascii_lowercase)
        .collect();
    let mut v = p + colon + 1;
    while v < e && f.orig[v] == b' ' {
        v += 1;
    }
    if v >= e {
        return;
    }
    f.counters.http_headers += 1;
    match name.as_slice() {
        b"content-length" => {
            let n = std::str::from_utf8(&f.orig[v..e])
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
            if let (Some(n), false) = (n, *next == NextBody::Chunked) {
                *next = NextBody::Length(n);
            }
        }
        b"transfer-encoding" => {
            if contains_ci(&f.orig[v..e], b"chunked") {
                *next = NextBody::Chunked;
            }
        }
        b"content-type" | b"content-encoding"
            if f.policy != PayloadPolicy::Keep && !zeroed_body_parses_alike(&f.orig[v..e]) =>
        {
            // The body is zeroed: name no type a dissector would try to parse.
            let val = &f.orig[v..e];
            let from = val.iter().position(|&c| c == b'/').map_or(0, |i| i + 1);
            let to = val.iter().position(|&c| c == b';').unwrap_or(val.len());
            if from < to {
                f.out[v + from..v + to].fill(b'x');
            }
        }
        b"host" => host(f, v, e),
        b"authorization" | b"proxy-authorization" => {
            let val = &f.orig[v..e];
            if let Some(sp) = val.iter().position(|&c| c == b' ') {
                let mut cs = v + sp + 1;
                while cs < e && f.orig[cs] == b' ' {
                    cs += 1;
                }
                let ce = cs + f.orig[cs..e].trim_ascii_end().len();
                if val[..sp].eq_ignore_ascii_case(b"basic") {
                    if let Some(new) = basic_credentials(f.pseudonymizer, &f.orig[cs..ce]) {
                        f.out[cs..ce].copy_from_slice(&new);
                        f.counters.secrets += 1;
                        return;
                    }
                    if let Ok(dec) =
                        base64::engine::general_purpose::STANDARD.decode(&f.orig[cs..ce])
                    {
                        f.pseudonymizer.note_secret(&dec);
                    }
                }
                f.token(v + sp + 1..e, true);
            } else {
                f.token(v..e, true);
            }
        }
        b"cookie" | b"set-cookie" => {
            let set = name.as_slice() == b"set-cookie";
            let mut k = v;
            let mut first = true;
            while k < e {
                let pe = f.orig[k..e]
                    .iter()
                    .position(|&c| c == b';')
                    .map_or(e, |i| k + i);
                let pair = &f.orig[k..pe];
                let eq = pair.iter().position(|&c| c == b'=');
                match eq {
                    Some(q) if set && !first => {
                        let an = pair[..q].trim_ascii();
                        if an.eq_ignore_ascii_case(b"domain") {
                            let mut ds = k + q + 1;
                            while ds < pe && f.orig[ds] == b'.' {
                                ds += 1;
                            }
                            f.dns_text(ds..pe);
                        }
                    }
                    Some(q) => f.token(k + q + 1..pe, true),
                    None if !set || first => f.token(k..pe, true),
                    None => {}
                }
                first = false;
                k = pe + 1;
            }
        }
        b"referer" | b"location" | b"origin" | b"content-location" | b"x-original-url" => {
            url(f, v, e)
        }
        b"user-agent" => f.token(v..e, true),
        n if n.ends_with(b"url") || n.ends_with(b"uri") => url(f, v, e),
        n if SECRET_WORDS.iter().any(|w| contains_ci(n, w)) => f.token(v..e, true),
        _ => {
            f.out[v..e].copy_from_slice(&f.orig[v..e]);
            scrub_text(f.pseudonymizer, &mut f.out[v..e]);
        }
    }
}
