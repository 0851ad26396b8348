//! The leak audit: re-parse a sanitised capture and look for every original
//! identifier the sanitiser replaced.
//!
//! Two independent searches:
//! 1. **Structured**: the same walkers run over the output (with a throwaway
//!    key) and collect every identifier found at an identifier position (IP
//!    headers, ARP, DNS answers, DHCP, HTTP headers, certificates, pcapng
//!    metadata…); any that is an original is a leak.
//! 2. **Byte search** over every record and metadata block, case-insensitive:
//!    IPv4 in dotted text; IPv6 in binary and text; MACs in binary, `:`/`-`
//!    and dotted-quad text; DNS names dotted and in wire form; secrets raw,
//!    URL-encoded and base64-encoded. (IPv4 in binary is left to the
//!    structured search: four arbitrary bytes match by chance too often.)

use super::pseudo::{fmt_mac, Originals};
use super::{ClassCounts, PayloadPolicy, SanitizeConfig, Sanitizer};
use crate::capture::{Event, Reader};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use arrayvec::ArrayVec;
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Most example hits kept in the report (totals are not capped).
pub const MAX_EXAMPLES: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Boundary {
    /// Binary pattern: any position.
    None,
    /// Dotted IPv4: no digit or '.'+digit around.
    Ipv4,
    /// Hex/colon text (IPv6, MAC): no hex digit or ':' around.
    Hex,
    /// Names and secrets: no letter, digit or '-' around.
    Word,
}

#[derive(Clone, Debug)]
struct Pattern {
    class: &'static str,
    form: &'static str,
    boundary: Boundary,
}

/// One leak found (the original is not repeated here: the audit is shareable).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AuditHit {
    /// Frame number (0 for file headers and metadata blocks).
    pub frame: u64,
    pub class: &'static str,
    pub form: &'static str,
    /// Byte offset inside the frame data (or block).
    pub offset: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    pub passed: bool,
    pub frames_checked: u64,
    pub blocks_checked: u64,
    /// Distinct originals searched for, per class.
    pub originals: ClassCounts,
    /// Patterns searched (originals × forms).
    pub patterns: usize,
    /// Leaks per class: structured and byte-search hits.
    pub hits: BTreeMap<&'static str, u64>,
    pub hits_by_form: BTreeMap<String, u64>,
    pub examples: Vec<AuditHit>,
    /// The output could not be read to the end (counts cover what was read).
    pub error: Option<String>,
}

/// Streaming leak audit over a sanitised capture.
pub struct LeakAudit {
    originals: Originals,
    ac: Option<AhoCorasick>,
    patterns: Vec<Pattern>,
    /// Longest run of NUL bytes inside any pattern: longer runs in the data
    /// cannot be crossed by a match, so the search skips them.
    max_zero_run: usize,
    /// Taken out while a chunk is pushed through it (the search borrows self).
    reader: Option<Reader>,
    rescan: Sanitizer,
    sink: Vec<u8>,
    frames: u64,
    blocks: u64,
    hits: BTreeMap<&'static str, u64>,
    hits_by_form: BTreeMap<String, u64>,
    examples: Vec<AuditHit>,
    error: Option<String>,
}

fn url_encode(s: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(s.len() * 3);
    for &c in s {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            o.push(c);
        } else {
            o.extend_from_slice(format!("%{c:02X}").as_bytes());
        }
    }
    o
}

fn dns_wire(name: &[u8]) -> Option<Vec<u8>> {
    let mut o = Vec::with_capacity(name.len() + 2);
    for l in name.split(|&c| c == b'.') {
        if l.is_empty() || l.len() > 63 {
            return None;
        }
        o.push(l.len() as u8);
        o.extend_from_slice(l);
    }
    o.push(0);
    Some(o)
}

impl LeakAudit {
    pub fn new(originals: &Originals) -> Self {
        let mut pats: Vec<Vec<u8>> = Vec::new();
        let mut meta: Vec<Pattern> = Vec::new();
        let mut add = |p: Vec<u8>, class, form, boundary| {
            pats.push(p);
            meta.push(Pattern {
                class,
                form,
                boundary,
            });
        };
        let mut v4: Vec<_> = originals.ipv4.iter().collect();
        v4.sort();
        for a in v4 {
            add(
                Ipv4Addr::from(*a).to_string().into_bytes(),
                "ipv4",
                "text",
                Boundary::Ipv4,
            );
        }
        let mut v6: Vec<_> = originals.ipv6.iter().collect();
        v6.sort();
        for a in v6 {
            // Mostly-zero addresses match zero padding by chance: structured only.
            if a.iter().filter(|&&b| b == 0).count() <= 8 {
                add(a.to_vec(), "ipv6", "binary", Boundary::None);
            }
            add(
                Ipv6Addr::from(*a).to_string().into_bytes(),
                "ipv6",
                "text",
                Boundary::Hex,
            );
        }
        let mut macs: Vec<_> = originals.mac.iter().collect();
        macs.sort();
        for m in macs {
            // aa:aa:aa:aa:aa:aa also spells ports and windows of fuzzed TCP,
            // 00:00:00:00:00:04 any run of zeros: low-entropy MACs are left
            // to the structured search.
            if m.iter().any(|&b| b != m[0]) && m.iter().filter(|&&b| b == 0).count() < 4 {
                add(m.to_vec(), "mac", "binary", Boundary::None);
            }
            let colon = fmt_mac(m);
            add(
                colon.replace(':', "-").into_bytes(),
                "mac",
                "text-dash",
                Boundary::Hex,
            );
            add(colon.into_bytes(), "mac", "text-colon", Boundary::Hex);
            add(
                format!(
                    "{:02x}{:02x}.{:02x}{:02x}.{:02x}{:02x}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                )
                .into_bytes(),
                "mac",
                "text-dotted",
                Boundary::Hex,
            );
        }
        let mut names: Vec<_> = originals.dns_names.iter().collect();
        names.sort();
        for n in names {
            if n.contains(&b'.') {
                add(n.to_vec(), "dns_name", "dotted", Boundary::Word);
            }
            // A single label that some name keeps as its top-level domain
            // is public; its wire form is the tail of every such name.
            let public_tld = !n.contains(&b'.') && originals.kept_tlds.contains(n);
            if let Some(w) = dns_wire(n).filter(|_| !public_tld) {
                add(w, "dns_name", "wire", Boundary::None);
            }
        }
        let mut secrets: Vec<_> = originals.secrets.iter().collect();
        secrets.sort();
        for s in secrets {
            if s.len() < 6 {
                continue;
            }
            add(s.to_vec(), "secret", "raw", Boundary::Word);
            let u = url_encode(s);
            if u != **s {
                add(u, "secret", "url-encoded", Boundary::Word);
            }
            if s.len() >= 8 {
                let b = base64::engine::general_purpose::STANDARD.encode(s);
                add(
                    b.trim_end_matches('=').as_bytes().to_vec(),
                    "secret",
                    "base64",
                    Boundary::Word,
                );
            }
        }
        let max_zero_run = pats
            .iter()
            .map(|p| p.split(|&b| b != 0).map(<[u8]>::len).max().unwrap_or(0))
            .max()
            .unwrap_or(0);
        // A full DFA has the fastest transitions but grows with the patterns
        // (states × byte classes): only for a modest pattern set.
        let pattern_bytes: usize = pats.iter().map(Vec::len).sum();
        let kind = if pattern_bytes <= 256 * 1024 {
            AhoCorasickKind::DFA
        } else {
            AhoCorasickKind::ContiguousNFA
        };
        let ac = (!pats.is_empty()).then(|| {
            AhoCorasickBuilder::new()
                .kind(Some(kind))
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(&pats)
                .expect("patterns are bounded and non-empty")
        });
        // The structured re-scan keeps payload so the text walkers see it all.
        let mut cfg = SanitizeConfig::new(vec![0x5a; 32]);
        cfg.payload_policy = PayloadPolicy::Keep;
        LeakAudit {
            originals: originals.clone(),
            ac,
            patterns: meta,
            max_zero_run,
            reader: Some(Reader::new()),
            rescan: {
                let mut r = Sanitizer::new(cfg).expect("32-byte key");
                r.collect_only();
                r
            },
            sink: Vec::new(),
            frames: 0,
            blocks: 0,
            hits: BTreeMap::new(),
            hits_by_form: BTreeMap::new(),
            examples: Vec::new(),
            error: None,
        }
    }

    fn hit(&mut self, frame: u64, class: &'static str, form: &'static str, offset: usize) {
        *self.hits.entry(class).or_default() += 1;
        *self
            .hits_by_form
            .entry(format!("{class}/{form}"))
            .or_default() += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(AuditHit {
                frame,
                class,
                form,
                offset,
            });
        }
    }

    /// Search `data`, skipping NUL runs no pattern can cross (redacted
    /// payload is mostly NULs): each run longer than twice the longest NUL
    /// run of any pattern is cut out, keeping that many NULs on either side.
    fn search(&mut self, frame: u64, data: &[u8]) {
        let keep = self.max_zero_run;
        let mut seg_start = 0;
        let mut i = 0;
        while i + 32 <= data.len() {
            if data[i..i + 32].iter().fold(0u8, |a, &x| a | x) != 0 {
                i += 32;
                continue;
            }
            let mut run_start = i;
            while run_start > seg_start && data[run_start - 1] == 0 {
                run_start -= 1;
            }
            let run_end = super::text::skip_zeros(data, i + 32);
            if run_end - run_start > 2 * keep {
                self.search_segment(frame, data, seg_start, run_start + keep);
                seg_start = run_end - keep;
            }
            i = run_end;
        }
        self.search_segment(frame, data, seg_start, data.len());
    }

    fn search_segment(&mut self, frame: u64, data: &[u8], from: usize, to: usize) {
        let Some(ac) = &self.ac else { return };
        if from >= to {
            return;
        }
        let mut found: ArrayVec<(usize, usize), 64> = ArrayVec::new();
        let mut more: Vec<(usize, usize)> = Vec::new();
        for m in ac.find_overlapping_iter(&data[from..to]) {
            let p = &self.patterns[m.pattern().as_usize()];
            let (s, e) = (from + m.start(), from + m.end());
            let before = s.checked_sub(1).map(|i| data[i]);
            let after = data.get(e).copied();
            let after2 = data.get(e + 1).copied();
            let ok = match p.boundary {
                Boundary::None => true,
                Boundary::Ipv4 => {
                    let digit_before = before.is_some_and(|c| c.is_ascii_digit() || c == b'.');
                    let digit_after = after.is_some_and(|c| c.is_ascii_digit())
                        || (after == Some(b'.') && after2.is_some_and(|c| c.is_ascii_digit()));
                    !(digit_before || digit_after)
                }
                Boundary::Hex => {
                    !before.is_some_and(|c| c.is_ascii_hexdigit() || c == b':')
                        && !after.is_some_and(|c| c.is_ascii_hexdigit() || c == b':')
                }
                Boundary::Word => {
                    !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-')
                        && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-')
                }
            };
            if ok {
                if let Err(e) = found.try_push((m.pattern().as_usize(), s)) {
                    more.push(e.element());
                }
            }
        }
        for (pi, s) in found.into_iter().chain(more) {
            let (class, form) = (self.patterns[pi].class, self.patterns[pi].form);
            self.hit(frame, class, form, s);
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if self.error.is_some() {
            return;
        }
        // Every record is searched in place, as the reader hands it over.
        let Some(mut reader) = self.reader.take() else {
            return;
        };
        let r = reader.push(chunk, &mut |ev| match ev {
            Event::Record(rec) => {
                self.frames += 1;
                self.search(rec.frame, rec.data);
            }
            Event::Meta { raw, .. } => {
                self.blocks += 1;
                self.search(0, raw);
            }
            // Already searched as part of its block.
            Event::Secrets { .. } => {}
        });
        self.reader = Some(reader);
        self.sink.clear();
        let _ = self.rescan.feed(chunk, &mut self.sink);
        if let Err(e) = r {
            self.error = Some(e.to_string());
        }
    }

    pub fn finish(mut self) -> AuditReport {
        if self.error.is_none() {
            if let Some(Err(e)) = self.reader.as_mut().map(Reader::finish) {
                self.error = Some(e.to_string());
            }
        }
        let _ = self.rescan.finish();
        // Structured: identifiers present in the output that were originals.
        // An original that is also a pseudonym written by the same key
        // (Crypto-PAn permutes the address space, so one original's
        // pseudonym may be another original) stands there for the pseudonym.
        let present = self.rescan.pseudonymizer().originals().clone();
        let o = &self.originals;
        let structured = [
            (
                "ipv4",
                present
                    .ipv4
                    .iter()
                    .filter(|a| o.ipv4.contains(*a) && !o.produced_ipv4.contains(*a))
                    .count(),
            ),
            (
                "ipv6",
                present
                    .ipv6
                    .iter()
                    .filter(|a| o.ipv6.contains(*a) && !o.produced_ipv6.contains(*a))
                    .count(),
            ),
            (
                "mac",
                present.mac.iter().filter(|a| o.mac.contains(*a)).count(),
            ),
            (
                "dns_name",
                present
                    .dns_names
                    .iter()
                    .filter(|a| o.dns_names.contains(*a))
                    .count(),
            ),
            (
                "secret",
                present
                    .secrets
                    .iter()
                    .filter(|a| o.secrets.contains(*a))
                    .count(),
            ),
        ];
        for (class, n) in structured {
            for _ in 0..n {
                self.hit(0, class, "structured", 0);
            }
        }
        let total: u64 = self.hits.values().sum();
        AuditReport {
            passed: total == 0 && self.error.is_none(),
            frames_checked: self.frames,
            blocks_checked: self.blocks,
            originals: ClassCounts::of(&self.originals),
            patterns: self.patterns.len(),
            hits: self.hits,
            hits_by_form: self.hits_by_form,
            examples: self.examples,
            error: self.error,
        }
    }
}

/// Audit a whole sanitised capture in memory.
pub fn audit_bytes(output: &[u8], originals: &Originals) -> AuditReport {
    let mut a = LeakAudit::new(originals);
    a.feed(output);
    a.finish()
}

/// Audit text (an LLM prompt, a JSON report, an answer) for the originals:
/// the byte search only, in every text form. Addresses that are also
/// pseudonyms written by the same key (Crypto-PAn permutes the address
/// space, so one may equal another original) are left out: in such text
/// they stand for the pseudonym.
pub fn audit_text(text: &[u8], originals: &Originals) -> AuditReport {
    let mut o = originals.clone();
    o.ipv4.retain(|a| !originals.produced_ipv4.contains(a));
    o.ipv6.retain(|a| !originals.produced_ipv6.contains(a));
    let mut a = LeakAudit::new(&o);
    a.search(0, text);
    let total: u64 = a.hits.values().sum();
    AuditReport {
        passed: total == 0,
        frames_checked: 0,
        blocks_checked: 0,
        originals: ClassCounts::of(&a.originals),
        patterns: a.patterns.len(),
        hits: a.hits,
        hits_by_form: a.hits_by_form,
        examples: a.examples,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_finds_originals_next_to_long_nul_runs() {
        let mut o = Originals::default();
        o.dns_names.insert(b"db.corp.example".to_vec().into());
        o.mac.insert([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
        let wire = dns_wire(b"db.corp.example").unwrap();
        for pad in [0usize, 1, 7, 8, 9, 31, 32, 33, 100] {
            let mut d = vec![0u8; pad];
            d.extend_from_slice(&wire);
            d.extend(std::iter::repeat_n(0, 64 + pad));
            d.extend_from_slice(&[0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
            d.extend(std::iter::repeat_n(0, pad));
            let r = audit_text(&d, &o);
            assert_eq!(r.hits_by_form.get("dns_name/wire"), Some(&1), "pad {pad}");
            assert_eq!(r.hits_by_form.get("mac/binary"), Some(&1), "pad {pad}");
        }
        assert!(audit_text(&[0u8; 4096], &o).passed);
    }
}
