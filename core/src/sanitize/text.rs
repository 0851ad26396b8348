//! Same-length scrubbing of identifiers and secrets inside free text
//! (payload kept by policy, HTTP header values, …): e-mail addresses, JWTs,
//! bearer tokens, cloud access keys, other high-entropy tokens, login
//! arguments of line protocols and dotted IPv4 addresses.

use super::pseudo::{looks_like_hostname, Pseudonymizer};

fn is_b64ish(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-')
}

fn is_email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_host_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// Shannon entropy in bits per byte.
pub(crate) fn entropy(b: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &c in b {
        counts[c as usize] += 1;
    }
    let n = b.len() as f64;
    counts
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Does this token look like a secret (key, token, password hash)?
pub fn looks_secret(t: &[u8]) -> bool {
    if t.len() < 20 {
        return false;
    }
    let has_digit = t.iter().any(u8::is_ascii_digit);
    let has_upper = t.iter().any(u8::is_ascii_uppercase);
    let has_lower = t.iter().any(u8::is_ascii_lowercase);
    let hex = t.iter().all(u8::is_ascii_hexdigit);
    // Single-case tokens with many digits (`rt_8c6f1d9e…`, `sk_live_…`, hex
    // with a prefix) are as secret as mixed-case ones; words with a year or a
    // version number have too few digits or too little entropy.
    let digits = t.iter().filter(|c| c.is_ascii_digit()).count();
    let digit_rich = digits * 4 >= t.len() && (has_upper || has_lower);
    (hex && t.len() >= 32)
        || (has_digit && has_upper && has_lower && entropy(t) >= 3.5)
        || (digit_rich && entropy(t) >= 3.5)
}

fn parse_dotted_v4(b: &[u8]) -> Option<([u8; 4], usize)> {
    let mut a = [0u8; 4];
    let mut i = 0;
    for (k, o) in a.iter_mut().enumerate() {
        let start = i;
        let mut v: u32 = 0;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 3 {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        if i == start || v > 255 || (i < b.len() && b[i].is_ascii_digit()) {
            return None;
        }
        *o = v as u8;
        if k < 3 {
            if i >= b.len() || b[i] != b'.' {
                return None;
            }
            i += 1;
        }
    }
    // Not part of a longer dotted number (an OID, a version string).
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        return None;
    }
    Some((a, i))
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(k, c)| {
            if matches!(k, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Is the whole of `b` a dotted IPv4 address?
pub fn scrub_is_ipv4(b: &[u8]) -> bool {
    parse_dotted_v4(b).is_some_and(|(_, n)| n == b.len())
}

/// The index of the first non-zero byte at or after `i` (32 bytes at a time).
pub(crate) fn skip_zeros(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = b.get(i..i + 32) {
        if w.iter().fold(0u8, |a, &x| a | x) != 0 {
            break;
        }
        i += 32;
    }
    while i < b.len() && b[i] == 0 {
        i += 1;
    }
    i
}

/// Scrub `buf` in place. `orig` is the same bytes before any rewrite (used
/// to recognise patterns; `buf` may already differ where earlier passes wrote).
/// Only the addresses written as text (dotted IPv4, IPv6) in `buf`: for bytes
/// kept as they are whose other text is public by nature (SSH's algorithm
/// lists name `…@openssh.com` and `lysator.liu.se`, which `scrub_text`
/// would take for an e-mail address and a host).
pub fn scrub_address_text(ps: &mut Pseudonymizer, buf: &mut [u8]) {
    let mut i = 0;
    while i < buf.len() {
        i = address_text_at(ps, buf, i).unwrap_or(i + 1);
    }
}

/// An IPv6 or dotted IPv4 address written as text at `buf[i..]`, replaced
/// in place: the position after it, or None when none starts there.
fn address_text_at(ps: &mut Pseudonymizer, buf: &mut [u8], i: usize) -> Option<usize> {
    let n = buf.len();
    let c = buf[i];
    // IPv6 text: hex groups with at least two colons.
    if (c.is_ascii_hexdigit() || c == b':')
        && (i == 0 || !(buf[i - 1].is_ascii_hexdigit() || buf[i - 1] == b':'))
    {
        let mut e = i;
        while e < n
            && e - i < 45
            && (buf[e].is_ascii_hexdigit() || buf[e] == b':' || buf[e] == b'.')
        {
            e += 1;
        }
        let tok = &buf[i..e];
        // Fewer than four hex digits ("::4", "a::b") is what ciphertext
        // and binary spell by chance, and too little to identify a host.
        if tok.iter().filter(|&&c| c == b':').count() >= 2
            && tok.iter().filter(|c| c.is_ascii_hexdigit()).count() >= 4
        {
            if let Some(a) = std::str::from_utf8(tok)
                .ok()
                .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
            {
                if u128::from(a) > 1 {
                    ps.ipv6_text_same_len(&mut buf[i..e], a.octets());
                }
                return Some(e);
            }
        }
    }
    // Dotted IPv4 text.
    if c.is_ascii_digit() && (i == 0 || !(buf[i - 1].is_ascii_digit() || buf[i - 1] == b'.')) {
        if let Some((a, len)) = parse_dotted_v4(&buf[i..]) {
            let text: arrayvec::ArrayVec<u8, 15> = buf[i..i + len].iter().copied().collect();
            ps.ip_text_same_len(&text, a, &mut buf[i..i + len]);
            return Some(i + len);
        }
    }
    None
}

pub fn scrub_text(ps: &mut Pseudonymizer, buf: &mut [u8]) {
    let n = buf.len();
    let mut i = 0;
    // Token runs already judged (not secret): other patterns may still start inside.
    let mut judged_until = 0;
    while i < n {
        let c = buf[i];
        if c == 0 {
            // No pattern starts with NUL, and redacted payload is all NULs.
            i = skip_zeros(buf, i);
            continue;
        }
        let at_word_start = i == 0 || !buf[i - 1].is_ascii_alphanumeric();
        // Line-protocol logins: USER x / PASS x / AUTH x.
        if at_word_start
            && (i == 0 || buf[i - 1] == b'\n')
            && n - i > 5
            && (buf[i..i + 5].eq_ignore_ascii_case(b"PASS ")
                || buf[i..i + 5].eq_ignore_ascii_case(b"USER ")
                || buf[i..i + 5].eq_ignore_ascii_case(b"AUTH "))
        {
            let s = i + 5;
            let mut e = s;
            while e < n && buf[e] != b'\r' && buf[e] != b'\n' {
                e += 1;
            }
            ps.pseudonymize_token(&mut buf[s..e]);
            i = e;
            continue;
        }
        // Bearer tokens.
        if at_word_start && n - i > 7 && buf[i..i + 7].eq_ignore_ascii_case(b"bearer ") {
            let s = i + 7;
            let mut e = s;
            while e < n && (is_b64ish(buf[e]) || matches!(buf[e], b'.' | b'~')) {
                e += 1;
            }
            if e - s >= 8 {
                ps.pseudonymize_token(&mut buf[s..e]);
                i = e;
                continue;
            }
        }
        // MAC text: aa:bb:cc:dd:ee:ff or aa-bb-….
        if c.is_ascii_hexdigit()
            && n - i >= 17
            && (i == 0 || !(buf[i - 1].is_ascii_hexdigit() || buf[i - 1] == b':'))
        {
            if let Some(m) = super::pseudo::parse_mac(&buf[i..i + 17]) {
                if buf
                    .get(i + 17)
                    .is_none_or(|c| !(c.is_ascii_hexdigit() || *c == b':'))
                {
                    ps.mac_text_same_len(&mut buf[i..i + 17], m);
                    i += 17;
                    continue;
                }
            }
        }
        // Addresses written as text.
        if let Some(e) = address_text_at(ps, buf, i) {
            i = e;
            continue;
        }
        // E-mail addresses.
        if c == b'@' && i > 0 && is_email_local(buf[i - 1]) {
            let mut s = i;
            while s > 0 && is_email_local(buf[s - 1]) {
                s -= 1;
            }
            let mut e = i + 1;
            while e < n && is_host_char(buf[e]) {
                e += 1;
            }
            let mut de = e;
            while de > i + 1 && buf[de - 1] == b'.' {
                de -= 1;
            }
            if looks_like_hostname(&buf[i + 1..de]) {
                let whole: Box<[u8]> = buf[s..de].into();
                ps.pseudonymize_token(&mut buf[s..i]);
                ps.pseudonymize_dns_name_in_place(&mut buf[i + 1..de]);
                ps.note_secret(&whole);
                i = de;
                continue;
            }
        }
        // Host names in text (Via, Server-Timing, XML, …); an e-mail's local
        // part is left to the e-mail rule.
        if c.is_ascii_alphanumeric() && (i == 0 || !is_host_char(buf[i - 1])) {
            let mut e = i;
            while e < n && is_host_char(buf[e]) {
                e += 1;
            }
            let mut he = e;
            while he > i && buf[he - 1] == b'.' {
                he -= 1;
            }
            if buf.get(e) != Some(&b'@') && looks_like_hostname(&buf[i..he]) {
                ps.pseudonymize_dns_name_in_place(&mut buf[i..he]);
                i = e;
                continue;
            }
        }
        // UUIDs name devices and sessions.
        if c.is_ascii_hexdigit()
            && n - i >= 36
            && (i == 0 || !buf[i - 1].is_ascii_alphanumeric())
            && is_uuid(&buf[i..i + 36])
        {
            ps.pseudonymize_token(&mut buf[i..i + 36]);
            i += 36;
            continue;
        }
        // Token runs: JWTs, cloud keys, other high-entropy strings.
        if i >= judged_until
            && is_b64ish(c)
            && (i == 0 || !(is_b64ish(buf[i - 1]) || buf[i - 1] == b'.'))
        {
            let mut e = i;
            while e < n && (is_b64ish(buf[e]) || buf[e] == b'.') {
                e += 1;
            }
            let tok = &buf[i..e];
            let jwt = tok.starts_with(b"eyJ") && tok.iter().filter(|&&c| c == b'.').count() >= 1;
            let cloud = (tok.starts_with(b"AKIA") || tok.starts_with(b"ASIA")) && tok.len() >= 20
                || tok.starts_with(b"AIza") && tok.len() >= 39
                || tok.starts_with(b"ghp_")
                || tok.starts_with(b"github_pat_")
                || tok.starts_with(b"xox")
                || tok.starts_with(b"sk-") && tok.len() >= 20;
            if jwt || cloud {
                ps.pseudonymize_token(&mut buf[i..e]);
                i = e;
                continue;
            } else {
                // Dots separate words; judge each piece on its own.
                let mut s = i;
                for k in i..=e {
                    if k == e || buf[k] == b'.' {
                        if looks_secret(&buf[s..k]) {
                            ps.pseudonymize_token(&mut buf[s..k]);
                        }
                        s = k + 1;
                    }
                }
            }
            judged_until = e;
        }
        i += 1;
    }
}

/// URIs are free text with a grammar: this rewrite lives with the text
/// scrubbing it uses, not in the pseudonymizer (which stays a leaf).
impl Pseudonymizer {
    /// A request URI as text, rewritten as the HTTP walker rewrites it in the
    /// capture (so a URI in a report or prompt reads like the sanitised
    /// capture's): the host of an absolute URI (or of a CONNECT target) as a
    /// name or address, every path and query word keyed; `/ ? & = . %XX` kept.
    pub fn pseudonymize_uri(&mut self, uri: &str) -> String {
        let mut b = uri.as_bytes().to_vec();
        let u = uri.as_bytes();
        let lower = u
            .iter()
            .take(8)
            .map(u8::to_ascii_lowercase)
            .collect::<Vec<u8>>();
        let scheme = if lower.starts_with(b"http://") {
            7
        } else if lower.starts_with(b"https://") {
            8
        } else {
            0
        };
        let mut i = 0;
        if scheme > 0 || (!u.is_empty() && u[0] != b'/') {
            let he = if scheme > 0 {
                u[scheme..]
                    .iter()
                    .position(|&c| matches!(c, b'/' | b'?' | b'#'))
                    .map_or(u.len(), |k| scheme + k)
            } else {
                u.len()
            };
            self.uri_host(&mut b, scheme, he);
            if scheme == 0 {
                return String::from_utf8_lossy(&b).into_owned();
            }
            i = he;
        }
        let mut in_query_value = false;
        while i < u.len() {
            let c = u[i];
            if c == b'%' && i + 2 < u.len() {
                i += 3;
                continue;
            }
            if c.is_ascii_alphanumeric() {
                let mut j = i;
                while j < u.len() && (u[j].is_ascii_alphanumeric() || matches!(u[j], b'-' | b'_')) {
                    j += 1;
                }
                if in_query_value && j - i >= 8 {
                    self.pseudonymize_token(&mut b[i..j]);
                } else {
                    self.pseudonymize_word(&mut b[i..j]);
                }
                i = j;
                continue;
            }
            if c == b'=' {
                in_query_value = true;
            } else if c == b'&' || c == b'?' {
                in_query_value = false;
            }
            i += 1;
        }
        String::from_utf8_lossy(&b).into_owned()
    }

    /// `host[:port]` at `b[s..e]`, as the HTTP walker's host rewrite.
    fn uri_host(&mut self, b: &mut [u8], s: usize, e: usize) {
        let h = b[s..e].to_vec();
        let mut he = e;
        if let Some(c) = h.iter().rposition(|&c| c == b':') {
            if h[c + 1..].iter().all(u8::is_ascii_digit) && !h.starts_with(b"[") {
                he = s + c;
            }
        }
        if h.starts_with(b"[") {
            self.pseudonymize_token(&mut b[s..he]);
        } else if scrub_is_ipv4(&b[s..he]) {
            scrub_text(self, &mut b[s..he]);
        } else {
            self.pseudonymize_dns_name_in_place(&mut b[s..he]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_secrets_and_addresses() {
        let mut ps = Pseudonymizer::new(&[3u8; 32], false, false);
        let orig =
            b"USER alice\r\nPASS hunter22\r\nmail bob.smith@corp.example.com from 10.20.30.40 \
key AKIAIOSFODNN7EXAMPLE jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig0123 \
Authorization: Bearer abcdefgh12345678 oid 1.3.6.1.4.1 x"
                .to_vec();
        let mut buf = orig.clone();
        scrub_text(&mut ps, &mut buf);
        assert_eq!(buf.len(), orig.len());
        let s = String::from_utf8_lossy(&buf);
        for gone in [
            "alice",
            "hunter22",
            "bob.smith",
            "corp.example",
            "10.20.30.40",
            "AKIAIOSFODNN7EXAMPLE",
            "eyJhbGciOiJIUzI1NiJ9",
            "abcdefgh12345678",
        ] {
            assert!(!s.contains(gone), "{gone} left in {s}");
        }
        assert!(s.contains("1.3.6.1.4.1"), "OIDs are not addresses: {s}");
        assert!(s.contains(".com from"), "{s}");
    }

    /// Live HTTP scenario: a lowercase token echoed in a kept response body.
    #[test]
    fn single_case_digit_rich_tokens_are_secrets() {
        assert!(looks_secret(b"rt_8c6f1d9e2b7a4c3f5e0d8b1a"));
        assert!(looks_secret(b"sk_live_4eC39HqLyjWDarjtT1zdp7dc"));
        assert!(looks_secret(b"TOKEN_93A7C1F0B2D84E6A5C"));
        for word in [
            &b"application_settings_2024"[..],
            b"release-notes-2024-11-22",
            b"aaaaaaaaaa1111111111",
        ] {
            assert!(!looks_secret(word), "{}", String::from_utf8_lossy(word));
        }
    }
}
