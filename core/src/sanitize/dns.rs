//! DNS messages (and mDNS, LLMNR, NBNS): every name, compressed or not, and
//! the addresses and names in the record data are rewritten in place; over
//! TCP, the length-prefixed messages of a segment.

use super::rewrite::{u16_at, FrameRewrite};
use super::stream::StreamState;
use crate::decode::app::looks_like_dns;
use arrayvec::ArrayVec;
use std::ops::Range;

/// Walk one name occurrence at `pos`; rewrite the labels stored there.
/// Returns the position after the name, or None when it cannot be parsed.
pub(super) fn dns_name(
    f: &mut FrameRewrite<'_>,
    msg: usize,
    end: usize,
    pos: usize,
) -> Option<usize> {
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
            f.pseudonymizer.pseudonymize_ipv4(a)
        } else {
            f.pseudonymizer.pseudonymize_ipv4_prefix(a)
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
        f.counters.ip_rewrites += 1;
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
        let p6 = f.pseudonymizer.pseudonymize_ipv6(a);
        for k in 0..32.min(physical) {
            let idx = 31 - k;
            let nib = if idx % 2 == 0 {
                p6[idx / 2] >> 4
            } else {
                p6[idx / 2] & 0xf
            };
            f.out[labels[k].0] = b"0123456789abcdef"[nib as usize];
        }
        f.counters.ip_rewrites += 1;
        return next;
    }
    let mut dotted_orig: ArrayVec<u8, 300> = ArrayVec::new();
    let mut dotted_new: ArrayVec<u8, 300> = ArrayVec::new();
    let mut tmp = [0u8; 64];
    for k in 0..count {
        let (lp, ll) = labels[k];
        let text = &orig[lp..lp + ll];
        let kept = super::pseudo::Pseudonymizer::label_is_kept(text, k, count);
        if kept && count >= 2 && k == count - 1 {
            f.pseudonymizer.note_kept_tld(text);
        }
        let newl: &[u8] = if k >= physical {
            // Reached through a compression pointer: the label is rewritten
            // where it is stored (as part of that name), so the name reads
            // as whatever that left in the output.
            tmp[..ll].copy_from_slice(&f.out[lp..lp + ll]);
            &tmp[..ll]
        } else if kept {
            text
        } else {
            f.pseudonymizer.pseudonymize_label(text, &mut tmp[..ll]);
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
        f.pseudonymizer.note_dns_name(&dotted_orig, &dotted_new);
        f.counters.dns_names += 1;
    }
    next
}

/// One DNS message at `start..end` (UDP payload or one TCP-framed message).
pub(super) fn dns_message(f: &mut FrameRewrite<'_>, start: usize, end: usize) {
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
    let cut = |f: &mut FrameRewrite<'_>, pos: usize| {
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
fn overrunning_name(f: &mut FrameRewrite<'_>, mut p: usize, end: usize) {
    while p < end {
        f.out[p] = 63;
        p += 64;
    }
}

fn rdata(f: &mut FrameRewrite<'_>, msg: usize, rd: usize, rd_end: usize, ty: u16) {
    let name_at = |f: &mut FrameRewrite<'_>, at: usize| -> Option<usize> {
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
        // DNSSEC signatures, keys, digests and hashed names, TLSA and SSHFP
        // fingerprints, OpenPGP keys: opaque, yet each names its zone, host
        // or owner to anyone who looks the value up in public DNS or CT
        // logs (and an OpenPGP key carries user IDs): the payload policy
        // decides, the fixed fields before them stay.
        46 => match name_at(f, rd + 18) {
            Some(n) => {
                opaque(f, n, rd_end);
                true
            }
            None => false,
        },
        47 => name_at(f, rd).is_some(),
        48 | 60 | 43 | 59 if rd_end - rd >= 4 => {
            opaque(f, rd + 4, rd_end);
            true
        }
        50 if rd_end - rd >= 5 => {
            // NSEC3: salt and next hashed owner (a name's hash, open to a
            // dictionary) by policy; lengths and type bitmaps stay.
            let salt = rd + 5;
            let salt_end = salt + f.orig[rd + 4] as usize;
            match f.orig.get(salt_end).map(|&n| n as usize) {
                Some(n) if salt_end + 1 + n <= rd_end => {
                    opaque(f, salt, salt_end);
                    opaque(f, salt_end + 1, salt_end + 1 + n);
                }
                _ => opaque(f, rd + 4, rd_end),
            }
            true
        }
        52 if rd_end - rd >= 3 => {
            opaque(f, rd + 3, rd_end);
            true
        }
        44 if rd_end - rd >= 2 => {
            opaque(f, rd + 2, rd_end);
            true
        }
        61 => {
            opaque(f, rd, rd_end);
            true
        }
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
                        let y = f.pseudonymizer.pseudonymize_ipv4_prefix(x);
                        f.out[a..a + n].copy_from_slice(&y[..n]);
                    } else if fam == 2 && n <= 16 {
                        let mut x = [0u8; 16];
                        x[..n].copy_from_slice(&f.orig[a..a + n]);
                        let y = f.pseudonymizer.pseudonymize_ipv6_prefix(x);
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
        // NSEC3PARAM (a salt) and the records above too short for their
        // fixed fields: nothing that names anyone.
        43 | 48 | 50 | 51 | 52 | 44 | 59 | 60 => true,
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
            f.counters.dns_rdata_by_policy += 1;
            true
        }
        _ => {
            // TXT, HINFO, NBSTAT, … : free text, the payload policy decides.
            f.policy(rd..rd_end);
            f.counters.dns_rdata_by_policy += 1;
            true
        }
    };
    if !ok {
        f.fail_closed(rd..rd_end);
    }
}

/// Opaque record data that identifies (see the DNSSEC arm of `rdata`): the
/// payload policy decides, counted like the other rdata it decides.
fn opaque(f: &mut FrameRewrite<'_>, r0: usize, r1: usize) {
    if r0 < r1 {
        f.policy(r0..r1);
        f.counters.dns_rdata_by_policy += 1;
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

/// Length-prefixed DNS messages from a message boundary; returns where the
/// stream stands at the segment's end.
pub(super) fn dns_tcp(f: &mut FrameRewrite<'_>, r: Range<usize>) -> StreamState {
    let mut pos = r.start;
    while pos + 2 <= r.end {
        let n = u16_at(f.orig, pos).unwrap_or(0) as usize;
        let end = (pos + 2 + n).min(r.end);
        if n < 12 || !looks_like_dns(&f.orig[pos + 2..end]) {
            f.policy((pos + 14).min(r.end)..r.end);
            return StreamState::Unknown;
        }
        dns_message(f, pos + 2, end);
        if pos + 2 + n > r.end {
            return StreamState::DnsTcp {
                remaining: (pos + 2 + n - r.end) as u32,
            };
        }
        pos = pos + 2 + n;
    }
    if pos < r.end {
        f.policy(pos..r.end);
    }
    StreamState::Unknown
}
