//! The rewrite of one frame: its original bytes, the output copy being
//! written, the keyed pseudonymizer, the run's policy and counters, and the
//! checksums to update. Every protocol walker writes through it; it knows no
//! protocol itself (URIs aside: HTTP and certificates both carry them).
//!
//! Nothing here can panic on hostile input: every index is checked against
//! the captured length.

use super::pseudo::Pseudonymizer;
use super::stream::{QuicState, Streams};
use super::text::scrub_text;
use super::{Counters, PayloadPolicy};
use arrayvec::ArrayVec;
use std::ops::Range;

#[derive(Clone, Copy, Debug)]
enum Fixup {
    /// IPv4 header checksum.
    Ipv4Header { at: usize, len: usize },
    /// TCP/UDP/ICMP(v6) checksum over `region`, with the pseudo-header of the
    /// IP header at `ip` when `pseudo` is set.
    L4 {
        ip: usize,
        v6: bool,
        pseudo: bool,
        region: (usize, usize),
        ck_at: usize,
        udp: bool,
    },
}

/// One frame being rewritten, and the run's state the walkers reach through it.
pub(crate) struct FrameRewrite<'f> {
    /// The frame as captured: every walker reads from here.
    pub orig: &'f [u8],
    /// The copy being rewritten (same length): every walker writes here.
    pub out: &'f mut [u8],
    pub pseudonymizer: &'f mut Pseudonymizer,
    pub policy: PayloadPolicy,
    pub counters: &'f mut Counters,
    /// What the walkers remember between frames (see `stream`).
    pub streams: &'f mut Streams,
    pub quic: &'f mut QuicState,
    /// Bytes of the frame to keep (less than the length only under `truncate`).
    pub keep_len: usize,
    fixups: ArrayVec<Fixup, 24>,
    failed_closed: bool,
    /// Leave checksums alone (the output is only scanned, never written).
    pub skip_checksums: bool,
}

/// The big-endian u16 at `at`, if the bytes are there.
pub(super) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|x| u16::from_be_bytes([x[0], x[1]]))
}

/// Ones' complement sum of big-endian 16-bit words (odd tail padded).
/// Summed as little-endian 32-bit halves of 64-bit loads and byte-swapped at
/// the end: the ones' complement sum does not depend on byte order (RFC 1071).
pub(crate) fn sum16(b: &[u8]) -> u32 {
    let mut s: u64 = 0;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        s += (v & 0xffff_ffff) + (v >> 32);
    }
    let mut pairs = chunks.remainder().chunks_exact(2);
    for w in &mut pairs {
        s += u16::from_le_bytes([w[0], w[1]]) as u64;
    }
    if let [last] = pairs.remainder() {
        s += *last as u64;
    }
    (fold(s) as u16).swap_bytes() as u32
}

fn fold(mut s: u64) -> u32 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u32
}

impl<'f> FrameRewrite<'f> {
    pub fn new(
        orig: &'f [u8],
        out: &'f mut [u8],
        pseudonymizer: &'f mut Pseudonymizer,
        policy: PayloadPolicy,
        counters: &'f mut Counters,
        streams: &'f mut Streams,
        quic: &'f mut QuicState,
    ) -> Self {
        let keep_len = orig.len();
        FrameRewrite {
            orig,
            out,
            pseudonymizer,
            policy,
            counters,
            streams,
            quic,
            keep_len,
            fixups: ArrayVec::new(),
            failed_closed: false,
            skip_checksums: false,
        }
    }

    pub fn len(&self) -> usize {
        self.orig.len()
    }

    /// Whether a decoder view lies inside this frame (an empty view may not).
    pub(super) fn within(&self, s: &[u8]) -> bool {
        let (a, b) = (s.as_ptr() as usize, self.orig.as_ptr() as usize);
        a >= b && a + s.len() <= b + self.orig.len()
    }

    pub(super) fn off(&self, s: &[u8]) -> usize {
        (s.as_ptr() as usize).saturating_sub(self.orig.as_ptr() as usize)
    }

    pub fn mac(&mut self, at: usize) {
        if let Some(m) = self.orig.get(at..at + 6) {
            let p = self.pseudonymizer.pseudonymize_mac(m.try_into().unwrap());
            self.out[at..at + 6].copy_from_slice(&p);
            self.counters.mac_rewrites += 1;
        }
    }

    pub fn v4(&mut self, at: usize) {
        if let Some(a) = self.orig.get(at..at + 4) {
            let p = self.pseudonymizer.pseudonymize_ipv4(a.try_into().unwrap());
            self.out[at..at + 4].copy_from_slice(&p);
            self.counters.ip_rewrites += 1;
        }
    }

    pub fn v6(&mut self, at: usize) {
        if let Some(a) = self.orig.get(at..at + 16) {
            let p = self.pseudonymizer.pseudonymize_ipv6(a.try_into().unwrap());
            self.out[at..at + 16].copy_from_slice(&p);
            self.counters.ip_rewrites += 1;
        }
    }

    /// Zero bytes that could not be understood, whatever the policy.
    pub fn fail_closed(&mut self, r: Range<usize>) {
        let r = r.start.min(self.len())..r.end.min(self.len());
        if r.is_empty() {
            return;
        }
        self.out[r.clone()].fill(0);
        self.counters.bytes_redacted += r.len() as u64;
        self.failed_closed = true;
    }

    /// Apply the unknown-payload policy to a region.
    pub fn policy(&mut self, r: Range<usize>) {
        let r = r.start.min(self.len())..r.end.min(self.len());
        if r.is_empty() {
            return;
        }
        match self.policy {
            PayloadPolicy::Keep => {
                scrub_text(self.pseudonymizer, &mut self.out[r.clone()]);
                self.counters.bytes_kept += r.len() as u64;
            }
            PayloadPolicy::Redact => {
                self.out[r.clone()].fill(0);
                self.counters.bytes_redacted += r.len() as u64;
            }
            PayloadPolicy::Truncate => {
                self.out[r.clone()].fill(0);
                self.counters.bytes_redacted += r.len() as u64;
                if r.end == self.len() {
                    self.keep_len = self.keep_len.min(r.start);
                }
            }
        }
    }

    pub(super) fn finish(&mut self) -> usize {
        if self.skip_checksums {
            self.fixups.clear();
        } else {
            self.apply_fixups();
        }
        if self.failed_closed {
            self.counters.frames_failed_closed += 1;
        }
        self.keep_len
    }

    /// Make the sum of `out[r]` equal `want` by setting its first two bytes.
    pub(super) fn compensate(&mut self, r: Range<usize>, want: u32) {
        if r.len() < 2 || r.end > self.len() {
            return;
        }
        self.out[r.start] = 0;
        self.out[r.start + 1] = 0;
        let rest = sum16(&self.out[r.clone()]);
        let w = fold(want as u64 + (!rest & 0xffff) as u64);
        self.out[r.start..r.start + 2].copy_from_slice(&(w as u16).to_be_bytes());
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_l4(
        &mut self,
        ip: usize,
        v6: bool,
        pseudo: bool,
        l4: usize,
        end: usize,
        ck_at: usize,
        udp: bool,
    ) {
        if ck_at + 2 <= end && end <= self.len() {
            let _ = self.fixups.try_push(Fixup::L4 {
                ip,
                v6,
                pseudo,
                region: (l4, end),
                ck_at,
                udp,
            });
        }
    }

    /// Checksums by RFC 1624 incremental update over exactly the bytes we
    /// hold: correct even for snapped frames and later fragments, and an
    /// originally bad checksum stays bad by the same amount.
    fn apply_fixups(&mut self) {
        while let Some(f) = self.fixups.pop() {
            let (region, ck_at, pseudo_at, udp, over_v6) = match f {
                Fixup::Ipv4Header { at, len } => ((at, at + len), at + 10, None, false, false),
                Fixup::L4 {
                    ip,
                    v6,
                    pseudo,
                    region,
                    ck_at,
                    udp,
                } => {
                    let p = if !pseudo {
                        None
                    } else if v6 {
                        Some((ip + 8, ip + 40))
                    } else {
                        Some((ip + 12, ip + 20))
                    };
                    (region, ck_at, p, udp, v6)
                }
            };
            let (a, b) = region;
            if b > self.len() || ck_at + 2 > b || a > b {
                continue;
            }
            let old_ck = u16::from_be_bytes([self.orig[ck_at], self.orig[ck_at + 1]]);
            if udp && old_ck == 0 && !over_v6 {
                continue; // UDP over IPv4 without a checksum stays without one.
            }
            let mut s_old = sum16(&self.orig[a..b]) as u64;
            let mut s_new = sum16(&self.out[a..b]) as u64;
            // The checksum field itself may already differ (a quoted packet's
            // checksum updated earlier): count it as in the original.
            s_new = s_new
                + (!(u16::from_be_bytes([self.out[ck_at], self.out[ck_at + 1]]) as u32) & 0xffff)
                    as u64
                + old_ck as u64;
            if let Some((ps, pe)) = pseudo_at {
                if pe <= self.len() {
                    s_old += sum16(&self.orig[ps..pe]) as u64;
                    s_new += sum16(&self.out[ps..pe]) as u64;
                }
            }
            let s_old = fold(s_old);
            let s_new = fold(s_new);
            if s_old == s_new {
                self.out[ck_at..ck_at + 2].copy_from_slice(&old_ck.to_be_bytes());
                continue;
            }
            let x = fold((!old_ck) as u64 + s_new as u64 + ((!s_old) & 0xffff) as u64);
            let mut ck = !(x as u16);
            if udp && ck == 0 {
                ck = 0xffff;
            }
            self.out[ck_at..ck_at + 2].copy_from_slice(&ck.to_be_bytes());
            self.counters.checksums_updated += 1;
        }
    }

    /// The IPv4 header at `at` (`len` bytes) gets its checksum updated last.
    pub(super) fn push_ipv4_header(&mut self, at: usize, len: usize) {
        let _ = self.fixups.try_push(Fixup::Ipv4Header { at, len });
    }

    /// Note that bytes were zeroed because they could not be understood.
    pub(super) fn mark_failed_closed(&mut self) {
        self.failed_closed = true;
    }

    /// Zero a region that is understood but must not be kept (no failure).
    pub(crate) fn redact(&mut self, r: Range<usize>) {
        let r = r.start.min(self.len())..r.end.min(self.len());
        if !r.is_empty() {
            self.out[r.clone()].fill(0);
            self.counters.bytes_redacted += r.len() as u64;
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
            self.pseudonymizer.pseudonymize_token(out);
            self.counters.secrets += 1;
        } else {
            self.pseudonymizer.pseudonymize_word(out);
        }
        if r.len() > tok.len() {
            self.fail_closed(r.start + tok.len()..r.end);
        }
    }

    /// The pseudonym of a whole dotted name (learned like any other).
    pub(super) fn pseudonymize_name(&mut self, name: &[u8]) -> Vec<u8> {
        let mut p = name.to_vec();
        self.pseudonymizer.pseudonymize_dns_name_in_place(&mut p);
        self.counters.dns_names += 1;
        p
    }

    pub(super) fn dns_text(&mut self, r: Range<usize>) {
        let r = r.start.min(self.len())..r.end.min(self.len());
        self.out[r.clone()].copy_from_slice(&self.orig[r.clone()]);
        self.pseudonymizer
            .pseudonymize_dns_name_in_place(&mut self.out[r]);
        self.counters.dns_names += 1;
    }
}

pub(super) fn url(f: &mut FrameRewrite<'_>, s: usize, e: usize) {
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

pub(super) fn host(f: &mut FrameRewrite<'_>, s: usize, e: usize) {
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
                f.pseudonymizer
                    .ipv6_text_same_len(&mut f.out[s + 1..s + c], a.octets());
            }
            _ => f.token(s..he, true),
        }
        return;
    }
    if super::text::scrub_is_ipv4(&f.orig[s..he]) {
        f.out[s..he].copy_from_slice(&f.orig[s..he]);
        scrub_text(f.pseudonymizer, &mut f.out[s..he]);
        return;
    }
    f.dns_text(s..he);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum16_matches_the_big_endian_definition() {
        fn reference(b: &[u8]) -> u32 {
            let mut s: u64 = 0;
            for w in b.chunks(2) {
                s += ((w[0] as u64) << 8) | w.get(1).copied().unwrap_or(0) as u64;
            }
            fold(s)
        }
        let data: Vec<u8> = (0..3010u32)
            .map(|i| (i * 7919 % 251) as u8 ^ 0xa5)
            .collect();
        for len in (0..40).chain([1499, 1500, 2999, 3000]) {
            for start in 0..3 {
                let b = &data[start..start + len];
                assert_eq!(sum16(b), reference(b), "len {len} start {start}");
            }
        }
        assert_eq!(sum16(&[0xff; 64]), reference(&[0xff; 64]));
    }
}
