//! In-place walkers for the application protocols that carry identifiers:
//! DNS (and mDNS/LLMNR/NBNS), DHCP, HTTP/1.x (and SSDP), TLS handshakes,
//! QUIC long headers, NTP, SSH banners. Anything else is "unknown payload"
//! and gets the run's policy. A walker that meets bytes it cannot parse
//! zeroes from there on (fail closed).

use super::frame::Frame;
use super::pseudo::{looks_like_hostname, Pseudonymizer};
use super::quic_initial::UdpPair;
use super::stream::{Body, St};
use super::text::scrub_text;
use super::tls_hello::{handshake, Handshake};
use super::PayloadPolicy;
use crate::decode::app::{
    looks_like_dns, looks_like_http_request, looks_like_http_response, looks_like_quic,
    looks_like_tls,
};
use crate::decode::{IpLayer, Tcp, Udp};
use arrayvec::ArrayVec;
use base64::Engine;
use std::ops::Range;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|x| u16::from_be_bytes([x[0], x[1]]))
}

impl Frame<'_> {
    /// Zero a region that is understood but must not be kept (no failure).
    pub(crate) fn redact(&mut self, r: Range<usize>) {
        let r = r.start.min(self.len())..r.end.min(self.len());
        if !r.is_empty() {
            self.out[r.clone()].fill(0);
            self.c.bytes_redacted += r.len() as u64;
        }
    }

    pub(crate) fn token(&mut self, r: Range<usize>, record: bool) {
        let r = r.start.min(self.len())..r.end.min(self.len());
        if r.is_empty() {
            return;
        }
        let tok: ArrayVec<u8, 4096> = self.orig[r.clone()].iter().take(4096).copied().collect();
        let out = &mut self.out[r.start..r.start + tok.len()];
        out.copy_from_slice(&tok);
        if record {
            self.ps.pseudonymize_token(out);
            self.c.secrets += 1;
        } else {
            self.ps.pseudonymize_word(out);
        }
        if r.len() > tok.len() {
            self.fail_closed(r.start + tok.len()..r.end);
        }
    }

    /// The pseudonym of a whole dotted name (learned like any other).
    pub(super) fn pseudonymize_name(&mut self, name: &[u8]) -> Vec<u8> {
        let mut p = name.to_vec();
        self.ps.pseudonymize_dns_name_in_place(&mut p);
        self.c.dns_names += 1;
        p
    }

    pub(super) fn dns_text(&mut self, r: Range<usize>) {
        let r = r.start.min(self.len())..r.end.min(self.len());
        self.out[r.clone()].copy_from_slice(&self.orig[r.clone()]);
        self.ps.pseudonymize_dns_name_in_place(&mut self.out[r]);
        self.c.dns_names += 1;
    }
}

pub(crate) fn tcp(f: &mut Frame<'_>, t: &Tcp<'_>, r: Range<usize>, layer: &IpLayer<'_>) {
    if r.is_empty() {
        return;
    }
    let key = (layer.src, layer.dst, t.src_port, t.dst_port);
    f.streams.enter_segment(key, t.seq, r.start);
    let before = f.streams.state_for(&key, t.seq);
    let after = tcp_stream(f, t, r.clone(), before);
    f.streams.update(key, t.seq, r.len() as u32, before, after);
}

/// Walk one segment from the stream state it starts in; returns the state
/// at its end.
fn tcp_stream(f: &mut Frame<'_>, t: &Tcp<'_>, r: Range<usize>, mut st: St) -> St {
    let ports = [t.src_port, t.dst_port];
    let mut p = r.start;
    // A Content-Length body that starts in this segment: (start, length).
    let mut body_here: Option<(usize, u64)> = None;
    {
        // A new message where a body was expected (a HEAD response, a
        // body shorter than announced): trust the message start.
        let rest = &f.orig[p..r.end];
        if matches!(st, St::Body(_))
            && (looks_like_http_request(rest) || looks_like_http_response(rest))
        {
            st = St::Unknown;
        }
    }
    while p < r.end {
        match st {
            St::Tls {
                remaining,
                rtype,
                mut hs,
                ..
            } if remaining > 0 => {
                let e = (p + remaining as usize).min(r.end);
                match rtype {
                    22 => hs = handshake(f, p..e, hs),
                    23 | 24 => f.policy(p..e),
                    _ => {}
                }
                st = St::Tls {
                    remaining: remaining - (e - p) as u32,
                    rtype,
                    hs,
                    head: [0; 4],
                    head_len: 0,
                };
                p = e;
            }
            St::Tls {
                hs, head, head_len, ..
            } if head_len > 0 => {
                // The rest of a record header the previous segment cut.
                let mut h = [0u8; 5];
                h[..head_len as usize].copy_from_slice(&head[..head_len as usize]);
                let take = (5 - head_len as usize).min(r.end - p);
                h[head_len as usize..head_len as usize + take]
                    .copy_from_slice(&f.orig[p..p + take]);
                if head_len as usize + take < 5 {
                    let mut head = [0u8; 4];
                    head.copy_from_slice(&h[..4]);
                    return St::Tls {
                        remaining: 0,
                        rtype: 0,
                        hs,
                        head,
                        head_len: head_len + take as u8,
                    };
                }
                if !(20..=24).contains(&h[0]) || h[1] != 3 {
                    f.policy(p..r.end);
                    return St::Unknown;
                }
                p += take;
                st = St::Tls {
                    remaining: u16::from_be_bytes([h[3], h[4]]) as u32,
                    rtype: h[0],
                    hs,
                    head: [0; 4],
                    head_len: 0,
                };
            }
            St::DnsTcp { remaining } => {
                // The rest of a DNS message an earlier segment began: its
                // names cannot be read without the beginning (fail closed).
                let e = (p + remaining as usize).min(r.end);
                f.fail_closed(p..e);
                let left = remaining - (e - p) as u32;
                st = if left > 0 {
                    St::DnsTcp { remaining: left }
                } else {
                    St::Unknown
                };
                p = e;
            }
            St::HttpHeaders { mid_line, next } => {
                let (np, nst) = http_headers(f, p, r.end, mid_line, next);
                if let St::Body(Body::Length(n)) = nst {
                    body_here = Some((np, n));
                }
                p = np;
                st = nst;
            }
            St::Body(b) => {
                let (np, nst) = http_body(f, p, r.end, b);
                if let Some((at, n)) = body_here.take() {
                    if at == p {
                        redacted_json_body(f, p, n, r.end);
                    }
                }
                p = np;
                st = nst;
            }
            St::Unknown | St::Tls { .. } => {
                let rest = &f.orig[p..r.end];
                if looks_like_tls(rest) {
                    let hs = match st {
                        St::Tls { hs, .. } => hs,
                        _ => Handshake::default(),
                    };
                    st = tls(f, p..r.end, hs);
                    p = r.end;
                } else if looks_like_http_request(rest) || looks_like_http_response(rest) {
                    let le = rest
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(r.end, |i| p + i);
                    let line_end = if le > p && f.orig[le - 1] == b'\r' {
                        le - 1
                    } else {
                        le
                    };
                    let next = request_line(f, p, line_end);
                    if le >= r.end {
                        return St::HttpHeaders {
                            mid_line: true,
                            next,
                        };
                    }
                    st = St::HttpHeaders {
                        mid_line: false,
                        next,
                    };
                    p = le + 1;
                } else if rest.starts_with(b"SSH-") || ports.contains(&22) {
                    // SSH: banner and key exchange hold no identifiers, the
                    // rest is ciphertext; zeroing it would break its framing.
                    f.out[p..r.end].copy_from_slice(&f.orig[p..r.end]);
                    let le = rest
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(r.end, |i| p + i + 1);
                    if !rest.starts_with(b"SSH-") {
                        f.c.bytes_kept += (r.end - p) as u64;
                    } else {
                        scrub_text(f.ps, &mut f.out[p..le]);
                    }
                    return St::Unknown;
                } else if ports.contains(&53) && rest.len() >= 14 {
                    return dns_tcp(f, p..r.end);
                } else {
                    f.policy(p..r.end);
                    return St::Unknown;
                }
            }
        }
    }
    st
}

/// Length-prefixed DNS messages from a message boundary; returns where the
/// stream stands at the segment's end.
fn dns_tcp(f: &mut Frame<'_>, r: Range<usize>) -> St {
    let mut pos = r.start;
    while pos + 2 <= r.end {
        let n = u16_at(f.orig, pos).unwrap_or(0) as usize;
        let end = (pos + 2 + n).min(r.end);
        if n < 12 || !looks_like_dns(&f.orig[pos + 2..end]) {
            f.policy((pos + 14).min(r.end)..r.end);
            return St::Unknown;
        }
        dns_message(f, pos + 2, end);
        if pos + 2 + n > r.end {
            return St::DnsTcp {
                remaining: (pos + 2 + n - r.end) as u32,
            };
        }
        pos = pos + 2 + n;
    }
    if pos < r.end {
        f.policy(pos..r.end);
    }
    St::Unknown
}

pub(crate) fn udp(f: &mut Frame<'_>, u: &Udp<'_>, r: Range<usize>, layer: &IpLayer<'_>) {
    if r.is_empty() {
        return;
    }
    let p = &f.orig[r.clone()];
    let has = |port: u16| u.src_port == port || u.dst_port == port;
    let pair = UdpPair::of(layer.src, u.src_port, layer.dst, u.dst_port);
    if (has(53) || has(5353) || has(5355) || has(137)) && looks_like_dns(p) {
        dns_message(f, r.start, r.end);
    } else if looks_like_quic(p) {
        f.quic.saw_quic(pair);
        quic(f, r, Some(pair));
    } else if p[0] & 0xc0 == 0x40 && f.quic.is_quic(&pair) {
        // A 1-RTT packet of a QUIC conversation: its first byte says the
        // handshake got that far (see `quic`); the rest follows the policy.
        f.policy(r.start + 1..r.end);
    } else if (has(67) || has(68)) && p.len() >= 240 && p[236..240] == [99, 130, 83, 99] {
        dhcp(f, r);
    } else if has(123) && p.len() >= 48 {
        if (2..16).contains(&p[1]) {
            f.v4(r.start + 12); // reference ID = upstream server's IPv4
        }
        f.policy(r.start + 48..r.end);
    } else if has(4789) && p.len() >= 8 + 14 {
        // VXLAN without an inner IP layer (ARP, …): walk the inner Ethernet.
        let (end, arp) = f.ethernet(r.start + 8);
        if !arp {
            f.policy(end..r.end);
        }
    } else if has(521) && p.len() >= 4 {
        // RIPng: 20-byte route entries led by an IPv6 prefix.
        let mut e = r.start + 4;
        while e + 20 <= r.end {
            let mut a = [0u8; 16];
            a.copy_from_slice(&f.orig[e..e + 16]);
            let pa = f.ps.pseudonymize_ipv6_prefix(a);
            f.out[e..e + 16].copy_from_slice(&pa);
            e += 20;
        }
        f.policy(e..r.end);
    } else if has(520) && p.len() >= 4 {
        // RIPv1/v2: 20-byte entries (family, tag, address, mask, next hop, metric).
        let mut e = r.start + 4;
        while e + 20 <= r.end {
            if u16_at(f.orig, e) == Some(2) {
                f.v4(e + 4);
                f.v4(e + 12);
            } else {
                f.redact(e + 4..e + 16);
            }
            e += 20;
        }
        f.policy(e..r.end);
    } else if has(1900) {
        http(f, r);
    } else if has(53) || has(5353) || has(5355) || has(137) {
        // Not DNS-shaped: keep the 12 bytes that decided so (zeros would
        // look like DNS and change the analysis); no names can hide in them.
        f.policy(r.start + 12.min(r.len())..r.end);
    } else if !crate::detect::dns::claimed_udp_port(u.src_port)
        && !crate::detect::dns::claimed_udp_port(u.dst_port)
        && crate::decode::dns::heuristic_match(p)
    {
        // DNS on another port, found by tshark's heuristic (as the analysis).
        dns_message(f, r.start, r.end);
    } else {
        f.policy(r);
    }
}

// ---- DNS --------------------------------------------------------------------

/// Walk one name occurrence at `pos`; rewrite the labels stored there.
/// Returns the position after the name, or None when it cannot be parsed.
fn dns_name(f: &mut Frame<'_>, msg: usize, end: usize, pos: usize) -> Option<usize> {
    let orig = f.orig;
    let mut labels: ArrayVec<(usize, usize), 128> = ArrayVec::new();
    let mut physical = 0;
    let mut next = None;
    let mut p = pos;
    let mut hops = 0;
    loop {
        if p >= end {
            return None;
        }
        let l = orig[p] as usize;
        if l == 0 {
            if next.is_none() {
                next = Some(p + 1);
            }
            break;
        }
        if l & 0xC0 == 0xC0 {
            let ptr = ((l & 0x3f) << 8) | *orig.get(p + 1)? as usize;
            if next.is_none() {
                next = Some(p + 2);
            }
            hops += 1;
            if hops > 64 || msg + ptr >= end {
                return None;
            }
            p = msg + ptr;
            continue;
        }
        if l & 0xC0 != 0 || p + 1 + l > end {
            return None;
        }
        labels.try_push((p + 1, l)).ok()?;
        if next.is_none() {
            physical += 1;
        }
        p += 1 + l;
    }
    let count = labels.len();
    let label = |k: usize| &orig[labels[k].0..labels[k].0 + labels[k].1];
    let is = |k: usize, s: &[u8]| label(k).eq_ignore_ascii_case(s);
    let digits = |k: usize| label(k).iter().all(u8::is_ascii_digit);
    let octets = count.saturating_sub(2);
    if (3..=6).contains(&count)
        && is(count - 2, b"in-addr")
        && is(count - 1, b"arpa")
        && (0..octets).all(digits)
    {
        // Reverse IPv4 name (or a prefix of one, e.g. a zone): the labels
        // become the pseudonym's octets — Crypto-PAn keeps prefixes, so a
        // zone and the names in it agree. Zero-padded; an octet needing
        // more digits than the label has keeps its last ones.
        let mut a = [0u8; 4];
        for (k, o) in a.iter_mut().enumerate().take(octets) {
            let v: u32 = std::str::from_utf8(label(octets - 1 - k))
                .ok()?
                .parse()
                .ok()?;
            *o = u8::try_from(v).ok()?;
        }
        let p4 = if octets == 4 {
            f.ps.pseudonymize_ipv4(a)
        } else {
            f.ps.pseudonymize_ipv4_prefix(a)
        };
        let widths: ArrayVec<usize, 4> = (0..octets).map(|k| labels[k].1).collect();
        // Label boundaries may move only where the octet labels are all
        // stored here and no pointer in the message aims inside them.
        let movable = octets <= physical && {
            let inner: ArrayVec<usize, 4> = (1..octets).map(|k| labels[k].0 - 1 - msg).collect();
            !orig[msg..end].windows(2).any(|w| {
                w[0] & 0xC0 == 0xC0
                    && inner.contains(&((((w[0] & 0x3f) as usize) << 8) | w[1] as usize))
            })
        };
        let exact = super::pseudo::reverse_v4_digits(&p4[..octets], &widths, false).or_else(|| {
            movable
                .then(|| super::pseudo::reverse_v4_digits(&p4[..octets], &widths, true))
                .flatten()
        });
        if let Some(digits) = exact {
            let mut at = labels[0].0 - 1;
            for d in digits.iter().take(octets.min(physical)) {
                f.out[at] = d.len() as u8;
                f.out[at + 1..at + 1 + d.len()].copy_from_slice(d.as_bytes());
                at += 1 + d.len();
            }
        } else {
            // Cannot be written exactly: each label keeps its width and the
            // last digits of its octet.
            for k in 0..octets.min(physical) {
                let (lp, ll) = labels[k];
                let s = format!("{:0>width$}", p4[octets - 1 - k], width = ll);
                f.out[lp..lp + ll].copy_from_slice(&s.as_bytes()[s.len() - ll..]);
            }
        }
        f.c.ip_rewrites += 1;
        return next;
    }
    if count == 34
        && is(32, b"ip6")
        && is(33, b"arpa")
        && (0..32).all(|k| labels[k].1 == 1 && label(k)[0].is_ascii_hexdigit())
    {
        let mut a = [0u8; 16];
        for k in 0..32 {
            let nib = (label(k)[0] as char).to_digit(16)? as u8;
            let idx = 31 - k;
            a[idx / 2] |= if idx % 2 == 0 { nib << 4 } else { nib };
        }
        let p6 = f.ps.pseudonymize_ipv6(a);
        for k in 0..32.min(physical) {
            let idx = 31 - k;
            let nib = if idx % 2 == 0 {
                p6[idx / 2] >> 4
            } else {
                p6[idx / 2] & 0xf
            };
            f.out[labels[k].0] = b"0123456789abcdef"[nib as usize];
        }
        f.c.ip_rewrites += 1;
        return next;
    }
    let mut dotted_orig: ArrayVec<u8, 300> = ArrayVec::new();
    let mut dotted_new: ArrayVec<u8, 300> = ArrayVec::new();
    let mut tmp = [0u8; 64];
    for k in 0..count {
        let (lp, ll) = labels[k];
        let text = &orig[lp..lp + ll];
        let kept = super::pseudo::Pseudonymizer::label_is_kept(text, k, count);
        let newl: &[u8] = if k >= physical {
            // Reached through a compression pointer: the label is rewritten
            // where it is stored (as part of that name), so the name reads
            // as whatever that left in the output.
            tmp[..ll].copy_from_slice(&f.out[lp..lp + ll]);
            &tmp[..ll]
        } else if kept {
            text
        } else {
            f.ps.pseudonymize_label(text, &mut tmp[..ll]);
            &tmp[..ll]
        };
        if k < physical {
            f.out[lp..lp + ll].copy_from_slice(newl);
        }
        if k > 0 {
            let _ = dotted_orig.try_push(b'.');
            let _ = dotted_new.try_push(b'.');
        }
        let _ = dotted_orig.try_extend_from_slice(text);
        let _ = dotted_new.try_extend_from_slice(newl);
    }
    if count > 0 {
        f.ps.note_dns_name(&dotted_orig, &dotted_new);
        f.c.dns_names += 1;
    }
    next
}

/// One DNS message at `start..end` (UDP payload or one TCP-framed message).
pub(crate) fn dns_message(f: &mut Frame<'_>, start: usize, end: usize) {
    let end = end.min(f.len());
    if start + 12 > end {
        f.fail_closed(start..end);
        return;
    }
    let counts: [usize; 4] =
        std::array::from_fn(|i| u16_at(f.orig, start + 4 + 2 * i).unwrap_or(0) as usize);
    // The analysis (like tshark) tells malformed messages apart: a record
    // cut at the end must stay cut, not become zeros that read as one.
    let malformed = !crate::decode::dns::dissects_whole(&f.orig[start..end]);
    let cut = |f: &mut Frame<'_>, pos: usize| {
        f.fail_closed(pos..end);
        if malformed {
            overrunning_name(f, pos, end);
        }
    };
    let mut pos = start + 12;
    for _ in 0..counts[0] {
        match dns_name(f, start, end, pos) {
            Some(p) if p + 4 <= end => pos = p + 4,
            _ => return cut(f, pos),
        }
    }
    let rrs = counts[1] + counts[2] + counts[3];
    for _ in 0..rrs {
        let Some(p) = dns_name(f, start, end, pos) else {
            return cut(f, pos);
        };
        if p + 10 > end {
            return cut(f, pos);
        }
        let ty = u16_at(f.orig, p).unwrap_or(0);
        let rdlen = u16_at(f.orig, p + 8).unwrap_or(0) as usize;
        let rd = p + 10;
        let rd_end = rd + rdlen;
        if rd_end > end {
            f.fail_closed(rd..end);
            return;
        }
        rdata(f, start, rd, rd_end, ty);
        pos = rd_end;
    }
    if pos < end {
        f.fail_closed(pos..end);
    }
}

/// A record that runs out of the message makes the analysis (like tshark)
/// see a malformed message. Zeroing it would make a valid root name, so
/// write empty labels that still run past `end`.
fn overrunning_name(f: &mut Frame<'_>, mut p: usize, end: usize) {
    while p < end {
        f.out[p] = 63;
        p += 64;
    }
}

fn rdata(f: &mut Frame<'_>, msg: usize, rd: usize, rd_end: usize, ty: u16) {
    let name_at = |f: &mut Frame<'_>, at: usize| -> Option<usize> {
        let n = dns_name(f, msg, rd_end, at)?;
        (n <= rd_end).then_some(n)
    };
    let ok = match ty {
        1 if rd_end - rd == 4 => {
            f.v4(rd);
            true
        }
        28 if rd_end - rd == 16 => {
            f.v6(rd);
            true
        }
        2..=5 | 7..=9 | 12 | 39 => name_at(f, rd) == Some(rd_end),
        15 => name_at(f, rd + 2) == Some(rd_end),
        33 => name_at(f, rd + 6) == Some(rd_end),
        6 => name_at(f, rd)
            .and_then(|n| name_at(f, n))
            .is_some_and(|n| n + 20 == rd_end),
        46 => name_at(f, rd + 18).is_some(),
        47 => name_at(f, rd).is_some(),
        32 if rd_end - rd >= 6 && (rd_end - rd) % 6 == 0 => {
            // NBNS NB record: (flags, IPv4) entries.
            let mut p = rd;
            while p + 6 <= rd_end {
                f.v4(p + 2);
                p += 6;
            }
            true
        }
        41 => {
            // EDNS options: Client Subnet carries (part of) an address.
            let mut p = rd;
            while p + 4 <= rd_end {
                let code = u16_at(f.orig, p).unwrap_or(0);
                let len = u16_at(f.orig, p + 2).unwrap_or(0) as usize;
                let d = p + 4;
                if d + len > rd_end {
                    break;
                }
                if code == 4 && len >= 8 {
                    // EDNS0 Owner (Apple sleep proxy): version, seq, MAC(s), password.
                    f.mac(d + 2);
                    if len >= 14 {
                        f.mac(d + 8);
                    }
                    f.redact(d + 8 + if len >= 14 { 6 } else { 0 }..d + len);
                } else if matches!(code, 10..=12) {
                    // cookie, keepalive, padding: no identity
                } else if code == 8 && len >= 4 {
                    let fam = u16_at(f.orig, d).unwrap_or(0);
                    let n = len - 4;
                    let a = d + 4;
                    if fam == 1 && n <= 4 {
                        let mut x = [0u8; 4];
                        x[..n].copy_from_slice(&f.orig[a..a + n]);
                        let y = f.ps.pseudonymize_ipv4_prefix(x);
                        f.out[a..a + n].copy_from_slice(&y[..n]);
                    } else if fam == 2 && n <= 16 {
                        let mut x = [0u8; 16];
                        x[..n].copy_from_slice(&f.orig[a..a + n]);
                        let y = f.ps.pseudonymize_ipv6_prefix(x);
                        f.out[a..a + n].copy_from_slice(&y[..n]);
                    } else {
                        f.redact(a..a + n);
                    }
                } else {
                    f.redact(d..d + len); // NSID and the rest: server/vendor data
                }
                p = d + len;
            }
            p == rd_end
        }
        43 | 48 | 50 | 51 | 52 | 44 | 59 | 60 | 61 => true,
        13 | 16 | 99 if char_strings_fit(f.orig, rd, rd_end) => {
            // HINFO, TXT, SPF: <character-string>s. The length bytes stay so
            // a reader sees as many strings of the same lengths; the text
            // follows the payload policy.
            let mut p = rd;
            while p < rd_end {
                let n = f.orig[p] as usize;
                f.policy(p + 1..p + 1 + n);
                p += 1 + n;
            }
            f.c.dns_rdata_by_policy += 1;
            true
        }
        _ => {
            // TXT, HINFO, NBSTAT, … : free text, the payload policy decides.
            f.policy(rd..rd_end);
            f.c.dns_rdata_by_policy += 1;
            true
        }
    };
    if !ok {
        f.fail_closed(rd..rd_end);
    }
}

/// Do `<character-string>`s (a length byte, then that many bytes) fill
/// `rd..rd_end` exactly?
fn char_strings_fit(b: &[u8], rd: usize, rd_end: usize) -> bool {
    if rd_end > b.len() {
        return false;
    }
    let mut p = rd;
    while p < rd_end {
        p += 1 + b[p] as usize;
    }
    p == rd_end
}

// ---- DHCP -------------------------------------------------------------------

fn dhcp(f: &mut Frame<'_>, r: Range<usize>) {
    let s = r.start;
    let e = r.end;
    for k in 0..4 {
        f.v4(s + 12 + 4 * k);
    }
    if f.orig[s + 1] == 1 && f.orig[s + 2] == 6 {
        f.mac(s + 28);
        f.redact(s + 34..s + 44);
    } else {
        f.redact(s + 28..s + 44);
    }
    if f.orig[s + 44..s + 236].iter().any(|&b| b != 0) {
        f.redact(s + 44..s + 236); // server name, boot file: free text
    }
    let mut p = s + 240;
    while p < e {
        let code = f.orig[p];
        if code == 0 {
            p += 1;
            continue;
        }
        if code == 255 {
            return;
        }
        let Some(&len) = f.orig.get(p + 1) else {
            f.fail_closed(p..e);
            return;
        };
        let d = p + 2;
        let de = d + len as usize;
        if de > e {
            f.fail_closed(p..e);
            return;
        }
        match code {
            1 | 2 | 13 | 19..=27 | 51 | 52 | 53 | 55 | 57 | 58 | 59 | 60 | 80 | 93 | 94 | 116 => {}
            3..=11 | 16 | 28 | 32 | 41 | 42 | 44 | 45 | 48 | 49 | 50 | 54 | 65 | 68..=76 | 118
                if len % 4 == 0 =>
            {
                let mut a = d;
                while a + 4 <= de {
                    f.v4(a);
                    a += 4;
                }
            }
            12 | 14 | 15 | 40 | 64 | 66 | 67 => f.dns_text(d..de),
            81 if len >= 3 => {
                if f.orig[d] & 0x04 != 0 {
                    // Wire-format name; no compression inside an option.
                    if dns_name(f, d + 3, de, d + 3).is_none() {
                        f.fail_closed(d + 3..de);
                    }
                } else {
                    f.dns_text(d + 3..de);
                }
            }
            61 if len == 7 && f.orig[d] == 1 => f.mac(d + 1),
            _ => f.redact(d..de),
        }
        p = de;
    }
}

// ---- HTTP -------------------------------------------------------------------

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
fn redacted_json_body(f: &mut Frame<'_>, at: usize, n: u64, end: usize) {
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
fn http(f: &mut Frame<'_>, r: Range<usize>) {
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
    if p < r.end || matches!(st, St::Body(_)) {
        f.policy(p..r.end);
    }
}

/// Header lines from `p`; returns where they stopped and the state then.
fn http_headers(
    f: &mut Frame<'_>,
    mut p: usize,
    end: usize,
    mid_line: bool,
    mut next: NextBody,
) -> (usize, St) {
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
                St::HttpHeaders {
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
                NextBody::Nothing | NextBody::Length(0) => St::Unknown,
                NextBody::Length(n) => St::Body(Body::Length(n)),
                NextBody::Chunked => St::Body(Body::ChunkSize {
                    value: 0,
                    done: false,
                }),
                NextBody::UntilClose => St::Body(Body::Length(u64::MAX)),
            };
            return (le + 1, body);
        }
        header_line(f, p, line_end, &mut next);
        if le >= end {
            return (
                end,
                St::HttpHeaders {
                    mid_line: true,
                    next,
                },
            );
        }
        p = le + 1;
    }
    (
        end,
        St::HttpHeaders {
            mid_line: false,
            next,
        },
    )
}

/// Body bytes: the policy applies to content, never to chunk framing.
fn http_body(f: &mut Frame<'_>, mut p: usize, end: usize, mut b: Body) -> (usize, St) {
    while p < end {
        match b {
            Body::Length(n) => {
                let take = (end - p).min(usize::try_from(n).unwrap_or(usize::MAX));
                f.policy(p..p + take);
                p += take;
                let left = if n == u64::MAX { n } else { n - take as u64 };
                if left == 0 {
                    return (p, St::Unknown);
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
                        return (p, St::Unknown);
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
    (end, St::Body(b))
}

fn request_line(f: &mut Frame<'_>, p: usize, e: usize) -> NextBody {
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

fn url(f: &mut Frame<'_>, s: usize, e: usize) {
    let u = &f.orig[s..e];
    let mut i = s;
    let lower: ArrayVec<u8, 8> = u.iter().take(8).map(u8::to_ascii_lowercase).collect();
    let scheme = if lower.starts_with(b"http://") {
        7
    } else if lower.starts_with(b"https://") {
        8
    } else {
        0
    };
    if scheme > 0 {
        i += scheme;
        let he = f.orig[i..e]
            .iter()
            .position(|&c| matches!(c, b'/' | b'?' | b'#'))
            .map_or(e, |k| i + k);
        host(f, i, he);
        i = he;
    } else if u.first() != Some(&b'/') && !u.is_empty() {
        // CONNECT host:port
        host(f, s, e);
        return;
    }
    // Path and query: every word is replaced; '/', '?', '&', '=', '.', '%XX' stay.
    let mut k = i;
    let mut in_query_value = false;
    while k < e {
        let c = f.orig[k];
        if c == b'%' && k + 2 < e {
            k += 3;
            continue;
        }
        if c.is_ascii_alphanumeric() {
            let mut j = k;
            while j < e && (f.orig[j].is_ascii_alphanumeric() || matches!(f.orig[j], b'-' | b'_')) {
                j += 1;
            }
            f.token(k..j, in_query_value && j - k >= 8);
            k = j;
            continue;
        }
        if c == b'=' {
            in_query_value = true;
        } else if c == b'&' || c == b'?' {
            in_query_value = false;
        }
        k += 1;
    }
}

fn host(f: &mut Frame<'_>, s: usize, e: usize) {
    let h = &f.orig[s..e];
    let mut he = e;
    if let Some(c) = h.iter().rposition(|&c| c == b':') {
        if h[c + 1..].iter().all(u8::is_ascii_digit) && !h.starts_with(b"[") {
            he = s + c;
        }
    }
    if h.starts_with(b"[") {
        // `[v6]` or `[v6]:port`: the address as same-length IPv6 text (so it
        // still reads as an address), the port kept.
        let close = h.iter().position(|&c| c == b']');
        let addr = close.and_then(|c| {
            std::str::from_utf8(&h[1..c])
                .ok()?
                .parse::<std::net::Ipv6Addr>()
                .ok()
        });
        match (close, addr) {
            (Some(c), Some(a)) => {
                f.out[s..e].copy_from_slice(&f.orig[s..e]);
                f.ps.ipv6_text_same_len(&mut f.out[s + 1..s + c], a.octets());
            }
            _ => f.token(s..he, true),
        }
        return;
    }
    if super::text::scrub_is_ipv4(&f.orig[s..he]) {
        f.out[s..he].copy_from_slice(&f.orig[s..he]);
        scrub_text(f.ps, &mut f.out[s..he]);
        return;
    }
    f.dns_text(s..he);
}

fn header_line(f: &mut Frame<'_>, p: usize, e: usize, next: &mut NextBody) {
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
    f.c.http_headers += 1;
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
                    if let Some(new) = basic_credentials(f.ps, &f.orig[cs..ce]) {
                        f.out[cs..ce].copy_from_slice(&new);
                        f.c.secrets += 1;
                        return;
                    }
                    if let Ok(dec) =
                        base64::engine::general_purpose::STANDARD.decode(&f.orig[cs..ce])
                    {
                        f.ps.note_secret(&dec);
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
            scrub_text(f.ps, &mut f.out[v..e]);
        }
    }
}

// ---- TLS --------------------------------------------------------------------

/// TLS records from a record boundary. Handshake messages may span records
/// and segments: `hs` carries the one in progress.
fn tls(f: &mut Frame<'_>, r: Range<usize>, mut hs: Handshake) -> St {
    let mut p = r.start;
    while p + 5 <= r.end {
        let h = &f.orig[p..p + 5];
        if !(20..=24).contains(&h[0]) || h[1] != 3 {
            f.policy(p..r.end);
            return St::Unknown;
        }
        let rtype = h[0];
        let len = u16::from_be_bytes([h[3], h[4]]) as usize;
        let body = p + 5..(p + 5 + len).min(r.end);
        match rtype {
            22 => hs = handshake(f, body, hs),
            23 | 24 => f.policy(body),
            _ => {}
        }
        if p + 5 + len > r.end {
            return St::Tls {
                remaining: (p + 5 + len - r.end) as u32,
                rtype,
                hs,
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
    St::Tls {
        remaining: 0,
        rtype: 0,
        hs,
        head,
        head_len: (r.end - p) as u8,
    }
}

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
pub(super) fn der_text_rewritten(f: &mut Frame<'_>, content: &[u8], utf8: bool) -> Vec<u8> {
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
            f.c.tls_names += 1;
        }
        DerText::Email => scrub_text(f.ps, &mut out[..n]),
        DerText::Word => f.ps.pseudonymize_word(&mut out[..n]),
    }
    out
}

/// A DER element that the end of a piece (segment or record) cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DerCut {
    /// Its header: the first byte or two (tag, length or long-form marker).
    Head([u8; 2], u8),
    /// A string or address of `len` bytes, `left` of them in the next piece.
    Body {
        len: u32,
        left: u32,
        kind: super::tls_hello::CutKind,
    },
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
    f: &mut Frame<'_>,
    r: Range<usize>,
    more: bool,
    carried: Option<DerCut>,
) -> Option<DerCut> {
    let mut i = r.start;
    match carried {
        Some(DerCut::Body { len, left, kind }) => {
            let n = (left as usize).min(r.end - i);
            if n == left as usize {
                super::tls_hello::cut_rest(f, i..i + n, len, left, kind);
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
    f: &mut Frame<'_>,
    end: usize,
    tag: u8,
    len: usize,
    long: bool,
    s: usize,
    more: bool,
) -> DerStep {
    use super::tls_hello::{cut_first, CutKind};
    if stringy_tag(tag) && (2..0x100).contains(&len) && (long || len < 0x80) {
        if more && s + len > end {
            let kind = CutKind::DerString { utf8: tag == 0x0c };
            cut_first(f, s..end, len as u32, kind);
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
                f.c.tls_names += 1;
            }
            DerText::Host(off) => {
                f.dns_text(s + off..se);
                f.c.tls_names += 1;
            }
            DerText::Email => {
                f.out[s..se].copy_from_slice(content);
                scrub_text(f.ps, &mut f.out[s..se]);
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
            cut_first(f, s..end, len as u32, CutKind::DerIp);
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

// ---- QUIC -------------------------------------------------------------------

fn varint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *b.get(at)?;
    let n = 1usize << (first >> 6);
    let bytes = b.get(at..at + n)?;
    let mut v = (first & 0x3f) as u64;
    for &x in &bytes[1..] {
        v = (v << 8) | x as u64;
    }
    Some((v, n))
}

/// Long-header packets: headers kept; an Initial's payload is always zeroed
/// (it is encrypted with keys anyone can derive and carries the SNI); other
/// packets' (encrypted) payload follows the policy.
pub(crate) fn quic(f: &mut Frame<'_>, r: Range<usize>, pair: Option<UdpPair>) {
    let o = f.orig;
    let mut p = r.start;
    while p < r.end {
        let b0 = o[p];
        if b0 & 0x80 == 0 {
            // A short-header (1-RTT) packet: its first byte (header form,
            // fixed bit, protected bits) tells the analysis the handshake
            // got that far; the rest follows the policy.
            f.policy(p + 1..r.end);
            return;
        }
        // The version-independent header (RFC 8999) as the analysis reads it.
        let Some(h) = crate::decode::quic::long_header(&o[..r.end], p) else {
            f.fail_closed(p..r.end);
            return;
        };
        let v = h.version;
        let v1_layout = v == 1 || v == 0x6b33_43cf || v == 0x709a_50c4 || v >> 8 == 0xff_0000;
        let parsed = (|| {
            let version = u32::from_be_bytes(o.get(p + 1..p + 5)?.try_into().ok()?);
            let dl = *o.get(p + 5)? as usize;
            let mut q = p + 6 + dl;
            let sl = *o.get(q)? as usize;
            q += 1 + sl;
            if version == 0 {
                return Some((q, r.end, false, true));
            }
            let ty = (b0 >> 4) & 3;
            let v2 = version == 0x6b33_43cf;
            let (initial, retry) = if v2 {
                (ty == 1, ty == 0)
            } else {
                (ty == 0, ty == 3)
            };
            if retry {
                return Some((q, r.end, false, false));
            }
            if initial {
                let (tl, n) = varint(o, q)?;
                q += n + usize::try_from(tl).ok()?;
            }
            let (len, n) = varint(o, q)?;
            q += n;
            let end = q.checked_add(usize::try_from(len).ok()?)?;
            Some((q, end, initial, false))
        })();
        let Some((q, end, initial, keep)) = parsed else {
            if v1_layout {
                f.fail_closed(p..r.end);
            } else {
                // Unknown (e.g. GREASE) version that does not follow the v1
                // layout: only the invariant header is understood.
                f.policy(h.scid.end..r.end);
            }
            return;
        };
        let pe = end.min(r.end);
        if keep {
            return;
        }
        if initial && end <= r.end && initial_packet(f, pair, p, h.dcid.clone(), q, end, v) {
            f.c.quic_initials_rewritten += 1;
        } else if initial {
            f.redact(q..pe);
            f.c.quic_initials_redacted += 1;
        } else {
            f.policy(q..pe);
        }
        if end <= p {
            return;
        }
        p = end;
    }
}

/// An Initial decrypted, rewritten, protected again (see
/// [`super::quic_initial::rewrite_initial`]). False: not done, the caller
/// zeroes it.
fn initial_packet(
    f: &mut Frame<'_>,
    pair: Option<UdpPair>,
    p: usize,
    dcid: Range<usize>,
    pn_off: usize,
    end: usize,
    version: u32,
) -> bool {
    let dcid: ArrayVec<u8, 255> = f.orig[dcid].iter().copied().collect();
    // The header before the packet number is already rewritten where needed
    // (nothing in it is): work on the output copy of the packet.
    let ok = super::quic_initial::rewrite_initial(
        f.ps,
        f.quic,
        pair,
        &mut f.out[p..end],
        version,
        &dcid,
        pn_off - p,
    );
    if !ok {
        // The attempt may have left partial writes: restore, then zero.
        f.out[p..end].copy_from_slice(&f.orig[p..end]);
    }
    ok
}

/// What follows an HTTP header block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextBody {
    Nothing,
    Length(u64),
    Chunked,
    UntilClose,
}
