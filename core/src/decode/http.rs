//! Zero-copy HTTP/1.x message-head walker.
//!
//! Parses a request or status line and the header block, exposing byte
//! ranges (method, URI, Host value, reason) so the sanitizer can rewrite them
//! in place. No-panic contract: bounded by the buffer, at most
//! [`MAX_HEADERS`] header lines; an incomplete head is reported as such
//! (`Head::complete == false`), distinct from "not HTTP" (`None`).

use std::ops::Range;

/// Most header lines walked.
pub const MAX_HEADERS: usize = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: Range<usize>,
        uri: Range<usize>,
    },
    Response {
        code: u16,
        reason: Range<usize>,
    },
}

/// A parsed message head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub start: StartLine,
    /// Minor version of HTTP/1.x.
    pub minor: u8,
    /// The header block ended (blank line seen).
    pub complete: bool,
    /// Offset just after the blank line (when complete).
    pub head_len: usize,
    pub host: Option<Range<usize>>,
    pub content_length: Option<u64>,
    pub chunked: bool,
    pub connection_close: bool,
}

impl Head {
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Index of the first `needle` in `hay`, eight bytes per step (heads run to
/// hundreds of bytes and every line is scanned for its end and its colon).
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut words = hay.chunks_exact(8);
    let mut base = 0;
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8])) ^ (ONES * needle as u64);
        // High bit set in each zero byte of `x` (and maybe above the first
        // one, through the borrow): the lowest flag is the first match.
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(base + zeros.trailing_zeros() as usize / 8);
        }
        base += 8;
    }
    let tail = words.remainder();
    tail.iter().position(|&c| c == needle).map(|i| base + i)
}

fn line_end(b: &[u8], from: usize) -> Option<(usize, usize)> {
    // Returns (end of content, start of next line); accepts bare LF.
    let rel = find_byte(b.get(from..)?, b'\n')?;
    let nl = from + rel;
    let end = if nl > from && b[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((end, nl + 1))
}

fn trim(b: &[u8], mut r: Range<usize>) -> Range<usize> {
    while r.start < r.end && (b[r.start] == b' ' || b[r.start] == b'\t') {
        r.start += 1;
    }
    while r.end > r.start && (b[r.end - 1] == b' ' || b[r.end - 1] == b'\t') {
        r.end -= 1;
    }
    r
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u64, |a, &c| a * 10 + (c - b'0') as u64))
}

/// Parse the start line and as much of the header block as is present.
/// `None` when the bytes do not start an HTTP/1.x message.
pub fn parse_head(b: &[u8]) -> Option<Head> {
    let (first_end, mut pos) = match line_end(b, 0) {
        Some(x) => x,
        // The start line itself is cut: still say what it is if we can.
        None => (b.len(), b.len()),
    };
    let line = &b[..first_end];
    let (start, minor) = if line.starts_with(b"HTTP/1.") {
        if line.len() < 12 || line[8] != b' ' || !line[9..12].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let minor = line[7].wrapping_sub(b'0');
        if minor > 9 {
            return None;
        }
        let code = parse_u64(&line[9..12])? as u16;
        let reason = if line.len() > 13 {
            13..first_end
        } else {
            12..12
        };
        (StartLine::Response { code, reason }, minor)
    } else {
        let sp = line.iter().position(|&c| c == b' ')?;
        if sp == 0 || sp > 20 || !line[..sp].iter().all(|&c| is_token(c)) {
            return None;
        }
        let rest = &line[sp + 1..];
        let sp2 = rest.iter().rposition(|&c| c == b' ')?;
        let ver = &rest[sp2 + 1..];
        if ver.len() != 8 || !ver.starts_with(b"HTTP/1.") || !ver[7].is_ascii_digit() {
            return None;
        }
        let uri = sp + 1..sp + 1 + sp2;
        (StartLine::Request { method: 0..sp, uri }, ver[7] - b'0')
    };
    let mut head = Head {
        start,
        minor,
        complete: false,
        head_len: 0,
        host: None,
        content_length: None,
        chunked: false,
        connection_close: false,
    };
    if pos >= b.len() && first_end == b.len() {
        return Some(head);
    }
    for _ in 0..MAX_HEADERS {
        let Some((end, next)) = line_end(b, pos) else {
            return Some(head);
        };
        if end == pos {
            head.complete = true;
            head.head_len = next;
            return Some(head);
        }
        let l = &b[pos..end];
        if let Some(colon) = find_byte(l, b':') {
            let name = &l[..colon];
            let value = trim(b, pos + colon + 1..end);
            let v = &b[value.clone()];
            if name.eq_ignore_ascii_case(b"host") {
                head.host = Some(value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                head.content_length = parse_u64(v);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                head.chunked = v.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"connection") {
                head.connection_close = v.windows(5).any(|w| w.eq_ignore_ascii_case(b"close"));
            }
        }
        pos = next;
    }
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_with_host_and_ranges() {
        let b = b"GET /a/b?c=1 HTTP/1.1\r\nHost: example.org \r\nContent-Length: 5\r\n\r\nhello";
        let h = parse_head(b).unwrap();
        assert!(h.complete);
        let StartLine::Request { method, uri } = h.start.clone() else {
            panic!("request expected")
        };
        assert_eq!(&b[method], b"GET");
        assert_eq!(&b[uri], b"/a/b?c=1");
        assert_eq!(&b[h.host.clone().unwrap()], b"example.org");
        assert_eq!(h.content_length, Some(5));
        assert_eq!(h.head_len, b.len() - 5);
    }

    #[test]
    fn byte_search_finds_the_first_match_at_every_position() {
        for len in 0..40 {
            for at in 0..=len {
                let mut b = vec![b'a'; len];
                if at < len {
                    b[at] = b'\n';
                    // Later matches and a byte one above the needle do not confuse it.
                    b.iter_mut()
                        .skip(at + 1)
                        .step_by(3)
                        .for_each(|c| *c = b'\n');
                    if at > 0 {
                        b[at - 1] = b'\n' + 1;
                    }
                }
                let want = b.iter().position(|&c| c == b'\n');
                assert_eq!(find_byte(&b, b'\n'), want, "{len} {at}");
            }
        }
        assert_eq!(find_byte(&[0x80, 0x00, b':'], b':'), Some(2));
        assert_eq!(find_byte(&[0xff; 17], 0xff), Some(0));
    }

    #[test]
    fn response_status_and_incomplete_head() {
        let b = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n";
        let h = parse_head(b).unwrap();
        assert_eq!(h.status(), Some(404));
        assert!(h.chunked);
        assert!(!h.complete);
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n").is_none());
        assert!(parse_head(b"HTTP/1.1 4x4 no\r\n").is_none());
        for cut in 0..b.len() {
            let _ = parse_head(&b[..cut]);
        }
    }
}
