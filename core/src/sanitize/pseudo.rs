//! Keyed, consistent pseudonyms for every identifier class.
//!
//! One [`Pseudonymizer`] per key: the same key maps the same identifier to
//! the same pseudonym in the capture, in a JSON report and in LLM evidence.
//! Binary rewrites keep the byte length; text forms keep the text length
//! where the capture needs it ([`Pseudonymizer::ip_text_same_len`]).
//!
//! It also remembers every original it replaced ([`Originals`]), which the
//! leak audit searches the output for, and — only when asked — the
//! pseudonym → original table that `unmask` uses.

use super::cryptopan::CryptoPan;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

type HmacSha256 = Hmac<Sha256>;

/// Every original identifier that was replaced, by class (the leak audit's input).
#[derive(Clone, Debug, Default)]
pub struct Originals {
    pub ipv4: HashSet<[u8; 4]>,
    pub ipv6: HashSet<[u8; 16]>,
    pub mac: HashSet<[u8; 6]>,
    /// Lowercase dotted names.
    pub dns_names: HashSet<Box<[u8]>>,
    /// Credentials, tokens, cookies, e-mail addresses (as seen).
    pub secrets: HashSet<Box<[u8]>>,
    /// Pseudonyms written (an original that is also some pseudonym is no
    /// leak where it appears as that pseudonym: the audit knows both).
    pub produced_ipv4: HashSet<[u8; 4]>,
    pub produced_ipv6: HashSet<[u8; 16]>,
    /// Last labels kept as they are (lowercase): a single-label name that
    /// is also some name's top-level domain is public, so the audit does
    /// not look for it (its wire form is the tail of every such name).
    pub kept_tlds: HashSet<Box<[u8]>>,
}

impl Originals {
    pub fn total(&self) -> usize {
        self.ipv4.len()
            + self.ipv6.len()
            + self.mac.len()
            + self.dns_names.len()
            + self.secrets.len()
    }
}

/// Keyed pseudonym functions with caches. See the module documentation.
#[derive(Debug)]
pub struct Pseudonymizer {
    cpan: CryptoPan,
    mac_key: HmacSha256,
    name_key: HmacSha256,
    text_key: HmacSha256,
    time_key: HmacSha256,
    keep_special_ranges: bool,
    v4: HashMap<[u8; 4], [u8; 4]>,
    v6: HashMap<[u8; 16], [u8; 16]>,
    macs: HashMap<[u8; 6], [u8; 6]>,
    /// Small direct-mapped caches in front of the maps: the same few
    /// addresses repeat packet after packet, and SipHash is the cost.
    recent_v4: Recent<4>,
    recent_v6: Recent<16>,
    recent_mac: Recent<6>,
    labels: HashMap<Box<[u8]>, Box<[u8]>>,
    originals: Originals,
    map: Option<BTreeMap<String, String>>,
}

const RECENT: usize = 64;

/// (original, pseudonym) slots, indexed by [`recent_slot`].
type Recent<const N: usize> = Box<[Option<([u8; N], [u8; N])>; RECENT]>;

/// Slot of an identifier in the `recent_*` caches.
fn recent_slot(b: &[u8]) -> usize {
    let mut h: u32 = 0;
    for &x in b {
        h = h.rotate_left(5) ^ x as u32;
    }
    (h.wrapping_mul(0x9e37_79b9) >> 26) as usize % RECENT
}

/// Names of sub-keys derived from the caller's key (domain separation).
fn subkey(key: &[u8], what: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"pcaplens-sanitize/");
    m.update(what);
    m.finalize().into_bytes().into()
}

fn hmac_for(k: [u8; 32]) -> HmacSha256 {
    <HmacSha256 as Mac>::new_from_slice(&k).expect("HMAC takes any key length")
}

/// MAC addresses that identify no one (broadcast, multicast groups, zero).
pub fn mac_is_well_known(m: &[u8; 6]) -> bool {
    *m == [0; 6]
        || *m == [0xff; 6]
        || m[..3] == [0x01, 0x00, 0x5e]
        || m[..2] == [0x33, 0x33]
        || m[..3] == [0x01, 0x80, 0xc2]
}

fn v4_special_prefix(a: [u8; 4]) -> Option<u32> {
    let x = u32::from_be_bytes(a);
    let ranges: [(u32, u32); 7] = [
        (0x0A00_0000, 8),  // 10/8
        (0xAC10_0000, 12), // 172.16/12
        (0xC0A8_0000, 16), // 192.168/16
        (0x7F00_0000, 8),  // loopback
        (0xA9FE_0000, 16), // link-local
        (0xE000_0000, 4),  // multicast
        (0x6440_0000, 10), // CGNAT 100.64/10
    ];
    ranges
        .iter()
        .find(|(net, len)| x & (u32::MAX << (32 - len)) == *net)
        .map(|(_, len)| *len)
}

fn v6_special_prefix(a: [u8; 16]) -> Option<u32> {
    let x = u128::from_be_bytes(a);
    let ranges: [(u128, u32); 3] = [
        (0xfe80 << 112, 10), // link-local
        (0xfc00 << 112, 7),  // unique local
        (0xff00 << 112, 8),  // multicast
    ];
    ranges
        .iter()
        .find(|(net, len)| x & (u128::MAX << (128 - len)) == *net)
        .map(|(_, len)| *len)
}

/// The octet labels of a reverse IPv4 name (label `k` holds `p[n-1-k]`)
/// written with the same total number of digits as the original labels
/// (`widths`), so the name keeps its length: zero-padded in the original
/// widths when every octet fits; else, when `relayout` allows label
/// boundaries to move, each octet in the digits it needs plus zeros (at most
/// 3 digits a label). `None` when the pseudonym cannot be written exactly.
pub(crate) fn reverse_v4_digits(p: &[u8], widths: &[usize], relayout: bool) -> Option<Vec<String>> {
    let n = widths.len();
    if p.len() != n {
        return None;
    }
    let octet = |k: usize| p[n - 1 - k].to_string();
    if (0..n).all(|k| octet(k).len() <= widths[k]) {
        return Some(
            (0..n)
                .map(|k| format!("{:0>w$}", octet(k), w = widths[k]))
                .collect(),
        );
    }
    if !relayout {
        return None;
    }
    let total: usize = widths.iter().sum();
    let mut w: Vec<usize> = (0..n).map(|k| octet(k).len()).collect();
    let mut extra = total.checked_sub(w.iter().sum())?;
    for wk in w.iter_mut() {
        let add = extra.min(3 - *wk);
        *wk += add;
        extra -= add;
    }
    (extra == 0).then(|| {
        (0..n)
            .map(|k| format!("{:0>w$}", octet(k), w = w[k]))
            .collect()
    })
}

impl Pseudonymizer {
    /// `key`: any length ≥ 16 bytes. A 32-byte key is used for Crypto-PAn as is
    /// (so the reference vectors reproduce); sub-keys for the other classes are
    /// derived with HMAC-SHA-256.
    pub fn new(key: &[u8], keep_special_ranges: bool, collect_map: bool) -> Self {
        let cpan_key: [u8; 32] = if key.len() == 32 {
            key.try_into().expect("length checked")
        } else {
            subkey(key, b"crypto-pan")
        };
        Pseudonymizer {
            cpan: CryptoPan::new(&cpan_key),
            mac_key: hmac_for(subkey(key, b"mac")),
            name_key: hmac_for(subkey(key, b"dns-label")),
            text_key: hmac_for(subkey(key, b"text")),
            time_key: hmac_for(subkey(key, b"time")),
            keep_special_ranges,
            v4: HashMap::new(),
            v6: HashMap::new(),
            macs: HashMap::new(),
            recent_v4: Box::new([None; RECENT]),
            recent_v6: Box::new([None; RECENT]),
            recent_mac: Box::new([None; RECENT]),
            labels: HashMap::new(),
            originals: Originals::default(),
            map: collect_map.then(BTreeMap::new),
        }
    }

    pub fn originals(&self) -> &Originals {
        &self.originals
    }

    /// The pseudonym → original table (empty unless `collect_map` was set).
    pub fn map(&self) -> Option<&BTreeMap<String, String>> {
        self.map.as_ref()
    }

    fn note(&mut self, pseudo: String, orig: String) {
        if let Some(m) = &mut self.map {
            m.entry(pseudo).or_insert(orig);
        }
    }

    /// Keyed offset in whole seconds (1–11 years) for the optional time shift.
    pub fn time_shift_secs(&self) -> i64 {
        let mut m = self.time_key.clone();
        m.update(b"shift");
        let h = m.finalize().into_bytes();
        let x = u64::from_be_bytes(h[..8].try_into().unwrap());
        365 * 86_400 + (x % (3650 * 86_400)) as i64
    }

    // ---- IP addresses ----------------------------------------------------

    pub fn pseudonymize_ipv4(&mut self, a: [u8; 4]) -> [u8; 4] {
        if a == [0; 4] || a == [255; 4] {
            return a;
        }
        let slot = recent_slot(&a);
        if let Some((k, p)) = self.recent_v4[slot] {
            if k == a {
                return p;
            }
        }
        if let Some(&p) = self.v4.get(&a) {
            self.recent_v4[slot] = Some((a, p));
            return p;
        }
        let mut p = self.cpan.anonymize_v4(a);
        if self.keep_special_ranges {
            if let Some(len) = v4_special_prefix(a) {
                let mask = u32::MAX << (32 - len);
                let x = (u32::from_be_bytes(a) & mask) | (u32::from_be_bytes(p) & !mask);
                p = x.to_be_bytes();
            }
        }
        self.v4.insert(a, p);
        self.originals.produced_ipv4.insert(p);
        if p != a {
            self.originals.ipv4.insert(a);
        }
        self.note(Ipv4Addr::from(p).to_string(), Ipv4Addr::from(a).to_string());
        p
    }

    /// The pseudonym of a network prefix (host bits zero): its leading
    /// octets equal those of every address inside it. Not an identifier
    /// on its own, so not recorded.
    pub fn pseudonymize_ipv4_prefix(&mut self, a: [u8; 4]) -> [u8; 4] {
        let mut p = self.cpan.anonymize_v4(a);
        if self.keep_special_ranges {
            if let Some(len) = v4_special_prefix(a) {
                let mask = u32::MAX << (32 - len);
                p = ((u32::from_be_bytes(a) & mask) | (u32::from_be_bytes(p) & !mask))
                    .to_be_bytes();
            }
        }
        p
    }

    /// IPv6 counterpart of [`Self::pseudonymize_ipv4_prefix`].
    pub fn pseudonymize_ipv6_prefix(&mut self, a: [u8; 16]) -> [u8; 16] {
        self.cpan.anonymize_v6(a)
    }

    pub fn pseudonymize_ipv6(&mut self, a: [u8; 16]) -> [u8; 16] {
        let x = u128::from_be_bytes(a);
        if x <= 1 {
            return a; // :: and ::1 name no one
        }
        let slot = recent_slot(&a);
        if let Some((k, p)) = self.recent_v6[slot] {
            if k == a {
                return p;
            }
        }
        if let Some(&p) = self.v6.get(&a) {
            self.recent_v6[slot] = Some((a, p));
            return p;
        }
        let mut p;
        if a[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
            || a[..12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]
        {
            // IPv4-mapped / NAT64: the embedded IPv4 gets its own pseudonym.
            p = a;
            let v4 = self.pseudonymize_ipv4(a[12..].try_into().unwrap());
            p[12..].copy_from_slice(&v4);
        } else {
            p = self.cpan.anonymize_v6(a);
            if self.keep_special_ranges {
                if let Some(len) = v6_special_prefix(a) {
                    let mask = u128::MAX << (128 - len);
                    p = ((x & mask) | (u128::from_be_bytes(p) & !mask)).to_be_bytes();
                }
            }
            if a[..2] == [0x20, 0x02] {
                // 6to4: 2002:V4ADDR::/48 carries an IPv4 address.
                let v4 = self.pseudonymize_ipv4(a[2..6].try_into().unwrap());
                p[..2].copy_from_slice(&a[..2]);
                p[2..6].copy_from_slice(&v4);
            } else if a[..4] == [0x20, 0x01, 0, 0] {
                // Teredo: server IPv4 in clear, client IPv4 inverted.
                let srv = self.pseudonymize_ipv4(a[4..8].try_into().unwrap());
                let cl: [u8; 4] = std::array::from_fn(|i| !a[12 + i]);
                let cl = self.pseudonymize_ipv4(cl);
                p[..4].copy_from_slice(&a[..4]);
                p[4..8].copy_from_slice(&srv);
                for i in 0..4 {
                    p[12 + i] = !cl[i];
                }
            }
            if a[11] == 0xff && a[12] == 0xfe {
                // Modified EUI-64 interface identifier: embed the MAC's pseudonym.
                let mut mac = [a[8] ^ 0x02, a[9], a[10], a[13], a[14], a[15]];
                mac = self.pseudonymize_mac(mac);
                p[8] = mac[0] ^ 0x02;
                p[9] = mac[1];
                p[10] = mac[2];
                p[11] = 0xff;
                p[12] = 0xfe;
                p[13..].copy_from_slice(&mac[3..]);
            }
        }
        self.v6.insert(a, p);
        self.originals.produced_ipv6.insert(p);
        if p != a {
            self.originals.ipv6.insert(a);
        }
        self.note(Ipv6Addr::from(p).to_string(), Ipv6Addr::from(a).to_string());
        p
    }

    pub fn pseudonymize_ip(&mut self, ip: std::net::IpAddr) -> std::net::IpAddr {
        match ip {
            std::net::IpAddr::V4(v) => Ipv4Addr::from(self.pseudonymize_ipv4(v.octets())).into(),
            std::net::IpAddr::V6(v) => Ipv6Addr::from(self.pseudonymize_ipv6(v.octets())).into(),
        }
    }

    /// Same-length text for an IPv6 address in a payload: every hex digit
    /// replaced by a keyed one (consistent per address), colons kept.
    pub fn ipv6_text_same_len(&mut self, text: &mut [u8], a: [u8; 16]) {
        let orig: arrayvec::ArrayVec<u8, 64> = text.iter().take(64).copied().collect();
        let p = self.pseudonymize_ipv6(a);
        let h = self.keyed(&self.text_key.clone(), b"ipv6-text", &p);
        for (i, c) in text.iter_mut().enumerate() {
            if c.is_ascii_hexdigit() {
                let d = b"0123456789abcdef"[(h[i % 32] % 16) as usize];
                *c = if c.is_ascii_uppercase() {
                    d.to_ascii_uppercase()
                } else {
                    d
                };
            }
        }
        self.note(
            String::from_utf8_lossy(text).into_owned(),
            String::from_utf8_lossy(&orig).into_owned(),
        );
    }

    /// Same-length text for a MAC address (`:` or `-`, case kept).
    pub fn mac_text_same_len(&mut self, text: &mut [u8], m: [u8; 6]) {
        let p = self.pseudonymize_mac(m);
        let upper = text.iter().any(u8::is_ascii_uppercase);
        let sep = text[2];
        for (i, b) in p.iter().enumerate() {
            let hex = if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            };
            text[i * 3..i * 3 + 2].copy_from_slice(hex.as_bytes());
            if i < 5 {
                text[i * 3 + 2] = sep;
            }
        }
    }

    /// Same-length text for a dotted IPv4 in a payload: the pseudonym with
    /// zero-padded octets when it fits, else a keyed digit-for-digit stand-in.
    pub fn ip_text_same_len(&mut self, text: &[u8], a: [u8; 4], out: &mut [u8]) {
        let p = self.pseudonymize_ipv4(a);
        let s = Ipv4Addr::from(p).to_string();
        let n = text.len();
        if s.len() <= n {
            // Pad octets with leading zeros, left to right, up to the length.
            let mut extra = n - s.len();
            let mut w = 0;
            for (i, oct) in p.iter().enumerate() {
                let d = oct.to_string();
                let pad = extra.min(3 - d.len());
                extra -= pad;
                for _ in 0..pad {
                    out[w] = b'0';
                    w += 1;
                }
                out[w..w + d.len()].copy_from_slice(d.as_bytes());
                w += d.len();
                if i < 3 {
                    out[w] = b'.';
                    w += 1;
                }
            }
            debug_assert_eq!(w, n);
        } else {
            let h = self.keyed(&self.text_key.clone(), b"ip-text", &p);
            for (i, (&c, o)) in text.iter().zip(out.iter_mut()).enumerate() {
                *o = if c.is_ascii_digit() {
                    b'0' + h[i % 32] % 10
                } else {
                    c
                };
            }
        }
        self.note(
            String::from_utf8_lossy(&out[..n]).into_owned(),
            Ipv4Addr::from(a).to_string(),
        );
    }

    // ---- MAC addresses -----------------------------------------------------

    /// Keyed; keeps the I/G (group) and U/L (local) bits.
    pub fn pseudonymize_mac(&mut self, m: [u8; 6]) -> [u8; 6] {
        if mac_is_well_known(&m) {
            return m;
        }
        let slot = recent_slot(&m);
        if let Some((k, p)) = self.recent_mac[slot] {
            if k == m {
                return p;
            }
        }
        if let Some(&p) = self.macs.get(&m) {
            self.recent_mac[slot] = Some((m, p));
            return p;
        }
        let h = self.keyed(&self.mac_key.clone(), b"mac", &m);
        let mut p: [u8; 6] = h[..6].try_into().unwrap();
        p[0] = (p[0] & !0x03) | (m[0] & 0x03);
        self.macs.insert(m, p);
        self.originals.mac.insert(m);
        self.note(fmt_mac(&p), fmt_mac(&m));
        p
    }

    fn keyed(&self, k: &HmacSha256, domain: &[u8], data: &[u8]) -> [u8; 32] {
        let mut m = k.clone();
        m.update(domain);
        m.update(&[0]);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    // ---- DNS names -----------------------------------------------------------

    /// One label, same length. A label of words (a DNS-SD instance name
    /// such as `Rosalind's MacBook` or `rosalind-mbp [de:94:c7:98:15:55]`)
    /// keeps its spaces and punctuation; each word becomes what it would be
    /// as a label of its own, so the host name inside an instance name gets
    /// the host's pseudonym, and MAC text the MAC's.
    pub fn pseudonymize_label(&mut self, label: &[u8], out: &mut [u8]) {
        let n = label.len().min(out.len());
        let separator =
            |c: u8| c.is_ascii() && !c.is_ascii_alphanumeric() && c != b'-' && c != b'_';
        if !label[..n].iter().any(|&c| separator(c)) {
            return self.pseudonymize_word_label(&label[..n], &mut out[..n]);
        }
        let mut i = 0;
        while i < n {
            let word_start = i == 0 || separator(label[i - 1]);
            if word_start && n - i >= 17 {
                if let Some(m) = parse_mac(&label[i..i + 17]) {
                    if label.get(i + 17).is_none_or(|&c| separator(c) && c != b':') {
                        out[i..i + 17].copy_from_slice(&label[i..i + 17]);
                        self.mac_text_same_len(&mut out[i..i + 17], m);
                        i += 17;
                        continue;
                    }
                }
            }
            if separator(label[i]) {
                out[i] = label[i];
                i += 1;
                continue;
            }
            let end = (i..n).find(|&j| separator(label[j])).unwrap_or(n);
            self.pseudonymize_word_label(&label[i..end], &mut out[i..end]);
            i = end;
        }
    }

    /// A label without spaces or punctuation, same length, keyed on its
    /// lowercase form; letters stay letters (with the original case
    /// pattern), digits stay digits, other bytes (`-`, `_`) are kept; bytes
    /// of non-ASCII characters become letters (a name in another script is
    /// a name too). NetBIOS first-level encoding (A–P) stays valid.
    fn pseudonymize_word_label(&mut self, label: &[u8], out: &mut [u8]) {
        let n = label.len().min(out.len());
        let mut lower = [0u8; 256];
        let n = n.min(255);
        for i in 0..n {
            lower[i] = label[i].to_ascii_lowercase();
        }
        let key = &lower[..n];
        if !self.labels.contains_key(key) {
            let netbios = n == 32 && label[..n].iter().all(|c| (b'A'..=b'P').contains(c));
            let mut p = vec![0u8; n];
            let mut block = [0u8; 32];
            for i in 0..n {
                if i % 32 == 0 {
                    let mut m = self.name_key.clone();
                    m.update(&[(i / 32) as u8]);
                    m.update(key);
                    block = m.finalize().into_bytes().into();
                }
                let r = block[i % 32];
                let c = key[i];
                p[i] = if netbios {
                    b'a' + r % 16
                } else if c.is_ascii_lowercase() {
                    b'a' + r % 26
                } else if c.is_ascii_digit() {
                    b'0' + r % 10
                } else if !c.is_ascii() {
                    b'a' + r % 26
                } else {
                    c
                };
            }
            self.labels.insert(key.into(), p.into());
        }
        let p = &self.labels[key];
        for i in 0..n {
            out[i] = if label[i].is_ascii_uppercase() {
                p[i].to_ascii_uppercase()
            } else {
                p[i]
            };
        }
    }

    /// Is this label kept as is? Service labels (`_tcp`) and the top-level
    /// label of a multi-label name carry no identity.
    pub fn label_is_kept(label: &[u8], index: usize, count: usize) -> bool {
        const WELL_KNOWN: &[&[u8]] = &[
            b"local",
            b"arpa",
            b"lan",
            b"home",
            b"internal",
            b"localdomain",
            b"localhost",
            b"corp",
            b"com",
            b"net",
            b"org",
            b"edu",
            b"gov",
            b"mil",
            b"int",
            b"io",
            b"in-addr",
        ];
        label.first() == Some(&b'_')
            || (count == 1
                && (WELL_KNOWN.iter().any(|w| label_eq(label, w))
                    || (label.len() == 2 && label.iter().all(u8::is_ascii_alphabetic))))
            // A top-level domain is letters, digits and hyphens (`xn--…`):
            // a last label of anything else (binary a damaged or crafted
            // message put there) is no TLD, and is rewritten.
            || (count >= 2
                && index == count - 1
                && label
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-'))
            || (index + 2 == count && (label_eq(label, b"ip6") || label_eq(label, b"in-addr")))
    }

    /// Record that `label` was kept as the last label of a name (bounded:
    /// a capture of random names could otherwise grow the set per name).
    pub fn note_kept_tld(&mut self, label: &[u8]) {
        if self.originals.kept_tlds.len() < 4096 {
            let lower: Box<[u8]> = label.to_ascii_lowercase().into();
            self.originals.kept_tlds.insert(lower);
        }
    }

    /// Record that the dotted name `orig` (any case) became `pseudo`.
    pub fn note_dns_name(&mut self, orig: &[u8], pseudo: &[u8]) {
        if orig.len() < 4 || orig.eq_ignore_ascii_case(pseudo) {
            return;
        }
        // A name with control bytes in its labels (NULs, lengths: binary
        // that a damaged or crafted message put where a name goes) is still
        // rewritten, but it names no host, and its wire form is ordinary
        // record bytes (a type, a class, a TTL) that the audit would find
        // everywhere: not an original to look for.
        if orig.iter().any(|&c| c < 0x20 || c == 0x7f) {
            return;
        }
        let lower: Box<[u8]> = orig.to_ascii_lowercase().into();
        if !self.originals.dns_names.contains(&lower) {
            self.note(
                String::from_utf8_lossy(pseudo).into_owned(),
                String::from_utf8_lossy(orig).into_owned(),
            );
            self.originals.dns_names.insert(lower);
        }
    }

    /// A dotted name as text, same length, label by label (for SNI, Host,
    /// DHCP host names, reports).
    pub fn pseudonymize_dns_name_in_place(&mut self, name: &mut [u8]) {
        let orig: arrayvec::ArrayVec<u8, 512> = name.iter().take(512).copied().collect();
        if self.reverse_v4_in_place(&orig, name) {
            return;
        }
        let count = orig.split(|&c| c == b'.').filter(|l| !l.is_empty()).count();
        let mut start = 0;
        let mut idx = 0;
        for i in 0..=orig.len() {
            if i == orig.len() || orig[i] == b'.' {
                let label = &orig[start..i];
                if !label.is_empty() {
                    if !Self::label_is_kept(label, idx, count) {
                        self.pseudonymize_label(label, &mut name[start..i]);
                    } else if count >= 2 && idx == count - 1 {
                        self.note_kept_tld(label);
                    }
                    idx += 1;
                }
                start = i + 1;
            }
        }
        let trimmed = orig.strip_suffix(b".").unwrap_or(&orig);
        self.note_dns_name(trimmed, &name[..trimmed.len()]);
    }

    /// `d.c.b.a.in-addr.arpa` (or a zone prefix of it) as text: the octet
    /// labels become the address's pseudonym, as in DNS messages.
    fn reverse_v4_in_place(&mut self, orig: &[u8], name: &mut [u8]) -> bool {
        let lower = orig.to_ascii_lowercase();
        let Some(head) = lower
            .strip_suffix(b".in-addr.arpa.")
            .or_else(|| lower.strip_suffix(b".in-addr.arpa"))
        else {
            return false;
        };
        let labels: arrayvec::ArrayVec<&[u8], 4> =
            match head.split(|&c| c == b'.').take(5).collect::<Vec<_>>() {
                v if (1..=4).contains(&v.len()) => v.into_iter().collect(),
                _ => return false,
            };
        let mut a = [0u8; 4];
        let n = labels.len();
        for (k, l) in labels.iter().enumerate() {
            let Some(v) = std::str::from_utf8(l)
                .ok()
                .and_then(|t| t.parse::<u8>().ok())
            else {
                return false;
            };
            a[n - 1 - k] = v;
        }
        let p = if n == 4 {
            self.pseudonymize_ipv4(a)
        } else {
            self.pseudonymize_ipv4_prefix(a)
        };
        let widths: arrayvec::ArrayVec<usize, 4> = labels.iter().map(|l| l.len()).collect();
        // Text has no compression pointers: the dots may move.
        let digits = reverse_v4_digits(&p[..n], &widths, true);
        let mut at = 0;
        for (k, l) in labels.iter().enumerate() {
            let s = match &digits {
                Some(d) => d[k].clone(),
                None => format!("{:0>width$}", p[n - 1 - k], width = l.len()),
            };
            let w = if digits.is_some() { s.len() } else { l.len() };
            name[at..at + w].copy_from_slice(&s.as_bytes()[s.len() - w..]);
            if k + 1 < n {
                name[at + w] = b'.';
            }
            at += w + 1;
        }
        true
    }

    pub fn pseudonymize_dns_name(&mut self, name: &str) -> String {
        let mut b = name.as_bytes().to_vec();
        self.pseudonymize_dns_name_in_place(&mut b);
        String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    // ---- secrets and free text -----------------------------------------------

    /// Like [`Self::pseudonymize_token`] for words that are not secrets on
    /// their own (URL path pieces, certificate strings): not audited as secrets.
    pub fn pseudonymize_word(&mut self, tok: &mut [u8]) {
        let orig: arrayvec::ArrayVec<u8, 4096> = tok.iter().take(4096).copied().collect();
        self.token_chars(&orig, tok);
        if orig.len() >= 6 {
            self.note(
                String::from_utf8_lossy(tok).into_owned(),
                String::from_utf8_lossy(&orig).into_owned(),
            );
        }
    }

    fn token_chars(&self, orig: &[u8], tok: &mut [u8]) {
        let mut block = [0u8; 32];
        for i in 0..orig.len().min(tok.len()) {
            if i % 32 == 0 {
                let mut m = self.text_key.clone();
                m.update(&(i as u32 / 32).to_be_bytes());
                m.update(orig);
                block = m.finalize().into_bytes().into();
            }
            let r = block[i % 32];
            let c = orig[i];
            tok[i] = if c.is_ascii_lowercase() || !c.is_ascii() {
                // Bytes of non-ASCII characters too: a word in another script
                // is a word (and the result is ASCII, valid UTF-8).
                b'a' + r % 26
            } else if c.is_ascii_uppercase() {
                b'A' + r % 26
            } else if c.is_ascii_digit() {
                b'0' + r % 10
            } else {
                c
            };
        }
    }

    /// Replace a secret token in place, same length, keyed on its value:
    /// letters stay letters, digits digits, punctuation is kept.
    pub fn pseudonymize_token(&mut self, tok: &mut [u8]) {
        if tok.is_empty() {
            return;
        }
        let orig: Box<[u8]> = tok.into();
        self.token_chars(&orig, tok);
        if orig.len() >= 8 && !self.originals.secrets.contains(&orig) {
            self.note(
                String::from_utf8_lossy(tok).into_owned(),
                String::from_utf8_lossy(&orig).into_owned(),
            );
            self.originals.secrets.insert(orig);
        }
    }

    /// Remember a secret that was replaced piecewise (e.g. a whole e-mail address).
    pub fn note_secret(&mut self, orig: &[u8]) {
        if orig.len() >= 8 && !self.originals.secrets.contains(orig) {
            self.originals.secrets.insert(orig.into());
        }
    }

    /// Pseudonymise identifiers in free text (a JSON report, an LLM prompt):
    /// IPv4/IPv6 addresses, MAC addresses, e-mail addresses and names that
    /// were pseudonymised in the capture. Lengths may change.
    pub fn pseudonymize_text(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if is_token_char(c) && (i == 0 || !is_token_char(b[i - 1])) {
                let mut j = i;
                while j < b.len() && is_token_char(b[j]) {
                    j += 1;
                }
                let tok = &text[i..j];
                let tok_trim = tok.trim_end_matches('.');
                let rest = &tok[tok_trim.len()..];
                out.push_str(&self.pseudonymize_token_text(tok_trim));
                out.push_str(rest);
                i = j;
            } else {
                let ch = text[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }

    fn pseudonymize_token_text(&mut self, tok: &str) -> String {
        if let Ok(v4) = tok.parse::<Ipv4Addr>() {
            return Ipv4Addr::from(self.pseudonymize_ipv4(v4.octets())).to_string();
        }
        if tok.contains(':') {
            if let Ok(v6) = tok.parse::<Ipv6Addr>() {
                return Ipv6Addr::from(self.pseudonymize_ipv6(v6.octets())).to_string();
            }
            if let Some(m) = parse_mac(tok.as_bytes()) {
                return fmt_mac(&self.pseudonymize_mac(m));
            }
        }
        if let Some(m) = parse_mac(tok.as_bytes()) {
            return fmt_mac(&self.pseudonymize_mac(m));
        }
        if let Some(at) = tok.find('@') {
            let (local, domain) = (&tok[..at], &tok[at + 1..]);
            if !local.is_empty() && looks_like_hostname(domain.as_bytes()) {
                let mut l = local.as_bytes().to_vec();
                self.pseudonymize_token(&mut l);
                let d = self.pseudonymize_dns_name(domain);
                return format!("{}@{d}", String::from_utf8_lossy(&l));
            }
        }
        let lower = tok.to_ascii_lowercase();
        if looks_like_hostname(tok.as_bytes())
            && self.originals.dns_names.contains(lower.as_bytes())
        {
            return self.pseudonymize_dns_name(tok);
        }
        if self.originals.secrets.contains(tok.as_bytes()) {
            let mut t = tok.as_bytes().to_vec();
            self.pseudonymize_token(&mut t);
            return String::from_utf8_lossy(&t).into_owned();
        }
        tok.to_string()
    }
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b':' | b'-' | b'_' | b'@' | b'+' | b'%')
}

fn label_eq(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A dotted host name: ≥ 2 labels of letters/digits/hyphens, alphabetic top label.
pub fn looks_like_hostname(b: &[u8]) -> bool {
    let b = b.strip_suffix(b".").unwrap_or(b);
    if b.len() < 4 || b.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for l in b.split(|&c| c == b'.') {
        if l.is_empty()
            || l.len() > 63
            || !l
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        {
            return false;
        }
        labels += 1;
        last = l;
    }
    // "2.gif" is a file name: some label before the top one has a letter.
    let head = &b[..b.len() - last.len()];
    labels >= 2
        && last.len() >= 2
        && last.iter().all(u8::is_ascii_alphabetic)
        && head.iter().any(u8::is_ascii_alphabetic)
}

pub fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`.
pub fn parse_mac(b: &[u8]) -> Option<[u8; 6]> {
    if b.len() != 17 {
        return None;
    }
    let sep = b[2];
    if sep != b':' && sep != b'-' {
        return None;
    }
    let mut m = [0u8; 6];
    for (i, o) in m.iter_mut().enumerate() {
        if i > 0 && b[i * 3 - 1] != sep {
            return None;
        }
        let s = std::str::from_utf8(&b[i * 3..i * 3 + 2]).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistent_and_length_preserving() {
        let mut p = Pseudonymizer::new(&[7u8; 32], false, true);
        let a = p.pseudonymize_dns_name("www.Example.com");
        let b = p.pseudonymize_dns_name("mail.example.com");
        assert_eq!(a.len(), 15);
        assert!(a.ends_with(".com"));
        assert_eq!(a[4..11].to_ascii_lowercase(), b[5..12]);
        assert_ne!(&a[4..11], "Example");
        let m = p.pseudonymize_mac([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(m[0] & 3, 0);
        let m2 = p.pseudonymize_mac([0x03, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(m2[0] & 3, 3);
        let t =
            p.pseudonymize_text("host 10.1.2.3 talked to 00:11:22:33:44:55 about www.example.com.");
        assert!(
            !t.contains("10.1.2.3")
                && !t.contains("00:11:22:33:44:55")
                && !t.contains("www.example.com"),
            "{t}"
        );
        assert!(t.contains(&a.to_ascii_lowercase()) || t.contains(&a), "{t}");
        let mut buf = *b"192.168.100.200";
        let mut out = [0u8; 15];
        p.ip_text_same_len(b"192.168.100.200", [192, 168, 100, 200], &mut out);
        buf.copy_from_slice(&out);
        assert_ne!(&buf, b"192.168.100.200");
        let mut short = [0u8; 7];
        p.ip_text_same_len(b"1.2.3.4", [1, 2, 3, 4], &mut short);
        assert_eq!(short.iter().filter(|&&c| c == b'.').count(), 3);
    }

    #[test]
    fn special_ranges_stay_recognisable() {
        let mut p = Pseudonymizer::new(&[9u8; 32], true, false);
        assert_eq!(p.pseudonymize_ipv4([192, 168, 1, 7])[..2], [192, 168]);
        assert_eq!(p.pseudonymize_ipv4([10, 9, 8, 7])[0], 10);
        let ll: Ipv6Addr = "fe80::1234:5678".parse().unwrap();
        let out = Ipv6Addr::from(p.pseudonymize_ipv6(ll.octets()));
        assert_eq!(out.segments()[0] & 0xffc0, 0xfe80);
        let mapped: Ipv6Addr = "::ffff:10.9.8.7".parse().unwrap();
        let out = p.pseudonymize_ipv6(mapped.octets());
        assert_eq!(out[12..], p.pseudonymize_ipv4([10, 9, 8, 7]));
    }
}

/// Replace every pseudonym of `map` (pseudonym → original) found in `text`
/// by its original. Matches are whole tokens, case-insensitive, longest first.
pub fn unmask_text(map: &BTreeMap<String, String>, text: &str) -> String {
    let keys: Vec<&String> = map.keys().filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        return text.to_string();
    }
    let ac = aho_corasick::AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(aho_corasick::MatchKind::LeftmostLongest)
        .build(&keys)
        .expect("bounded patterns");
    let b = text.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in ac.find_iter(text) {
        let (s, e) = (m.start(), m.end());
        let before_ok = s == 0
            || !(word(b[s - 1])
                || (b[s - 1] == b'.'
                    && s >= 2
                    && b[s - 2].is_ascii_digit()
                    && b[s].is_ascii_digit()));
        let after_ok = e == b.len()
            || !(word(b[e])
                || (b[e] == b'.'
                    && e + 1 < b.len()
                    && b[e + 1].is_ascii_digit()
                    && b[e - 1].is_ascii_digit()));
        if before_ok && after_ok && text.is_char_boundary(s) && text.is_char_boundary(e) {
            out.push_str(&text[last..s]);
            out.push_str(&map[keys[m.pattern().as_usize()]]);
            last = e;
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod label_tests {
    use super::*;

    fn label(p: &mut Pseudonymizer, l: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; l.len()];
        p.pseudonymize_label(l, &mut out);
        out
    }

    /// avahi's workstation instance name: the host name and the MAC inside
    /// get the pseudonyms they get as a host label and as a MAC.
    #[test]
    fn an_instance_name_reuses_the_host_and_mac_pseudonyms() {
        let mut p = Pseudonymizer::new(&[7u8; 32], false, false);
        let host = label(&mut p, b"rosalind-macbook");
        let mut mac = *b"de:94:c7:98:15:55";
        p.mac_text_same_len(&mut mac, [0xde, 0x94, 0xc7, 0x98, 0x15, 0x55]);
        let inst = label(&mut p, b"rosalind-macbook [de:94:c7:98:15:55]");
        let mut want = host.clone();
        want.extend_from_slice(b" [");
        want.extend_from_slice(&mac);
        want.push(b']');
        assert_eq!(inst, want);
        assert_ne!(host, b"rosalind-macbook");
        // Words keep their case pattern and the punctuation stays.
        let owner = label(&mut p, b"Rosalind's MacBook Pro");
        assert_eq!(owner.len(), 22);
        assert_eq!((owner[8], owner[10], owner[18]), (b'\'', b' ', b' '));
        assert!(owner[0].is_ascii_uppercase() && owner[11].is_ascii_uppercase());
        assert_eq!(owner[..8].to_ascii_lowercase(), label(&mut p, b"rosalind"));
    }

    /// Bytes of non-ASCII characters were kept as they were: a name in
    /// another script went through whole.
    #[test]
    fn a_label_in_another_script_is_replaced_too() {
        let mut p = Pseudonymizer::new(&[7u8; 32], false, false);
        for l in ["田中のiPhone", "Андрей-ноутбук", "José’s MacBook"] {
            let out = label(&mut p, l.as_bytes());
            assert_eq!(out.len(), l.len(), "{l}");
            assert!(out.iter().all(u8::is_ascii), "{l}: {out:?}");
            assert!(
                !out.windows(3)
                    .any(|w| l.as_bytes().windows(3).any(|v| v == w && !v.is_ascii())),
                "{l}"
            );
        }
        // Words of text (certificate strings, header values) alike.
        let mut word = "Zürich-Höngg".as_bytes().to_vec();
        p.pseudonymize_word(&mut word);
        assert_eq!(word.len(), "Zürich-Höngg".len());
        assert!(
            word.iter().all(u8::is_ascii) && word[0].is_ascii_uppercase(),
            "{word:?}"
        );
        let once = label(&mut p, "田中のiPhone".as_bytes());
        assert_eq!(
            label(&mut p, "田中のiPhone".as_bytes()),
            once,
            "keyed: the same each time"
        );
    }
}

#[cfg(test)]
mod unmask_tests {
    use super::*;

    #[test]
    fn unmask_restores_what_pseudonymize_text_replaced() {
        let mut p = Pseudonymizer::new(&[5u8; 32], false, true);
        // Seen in a capture first (names are replaced in text only when known).
        p.pseudonymize_dns_name("api.example.org");
        let original =
            "10.0.0.1 asked api.example.org; 10.0.0.12 and fe80::1 did not (aa:bb:cc:dd:ee:01)";
        let masked = p.pseudonymize_text(original);
        assert!(
            !masked.contains("10.0.0.1 ") && !masked.contains("api.example.org"),
            "{masked}"
        );
        assert_eq!(unmask_text(p.map().unwrap(), &masked), original);
    }
}
