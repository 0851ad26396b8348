//! Pseudonyms for identifiers that go into the evidence pack.
//!
//! Sanitisation of the pack is one call per identifier through the
//! [`Pseudonymizer`] trait, so the keyed pseudonyms of `pcaplens sanitize`
//! plug in here unchanged (same key → same pseudonyms in the rewritten capture
//! and in the prompt, and `--unmask` can map an answer back).
//! [`Recording`] wraps any pseudonymizer and remembers pseudonym → original,
//! the table `--unmask` uses locally; it never leaves the machine.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Maps identifiers to pseudonyms. Deterministic for a given key.
pub trait Pseudonymizer {
    fn ip(&mut self, ip: IpAddr) -> IpAddr;
    /// A DNS name, HTTP host or TLS server name.
    fn name(&mut self, name: &str) -> String;
    /// Free text from the wire (URI, User-Agent): `class` names what it is.
    fn text(&mut self, class: &str, text: &str) -> String;
}

/// No masking (`--no-sanitize`): identifiers pass through.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl Pseudonymizer for Identity {
    fn ip(&mut self, ip: IpAddr) -> IpAddr {
        ip
    }
    fn name(&mut self, name: &str) -> String {
        name.to_string()
    }
    fn text(&mut self, _class: &str, text: &str) -> String {
        text.to_string()
    }
}

/// Keyed pseudonyms: HMAC-SHA1 of each identifier under a 32-byte key.
///
/// Stand-in until `pcaplens_core::sanitize` exposes its keyed pseudonymizer
/// (Crypto-PAn for addresses); swapping it in is a one-line change in
/// [`super::build_pack`]'s callers.
#[derive(Clone)]
pub struct KeyedPseudonyms {
    key: [u8; 32],
}

impl std::fmt::Debug for KeyedPseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedPseudonyms { key: <redacted> }")
    }
}

impl KeyedPseudonyms {
    pub fn new(key: [u8; 32]) -> Self {
        KeyedPseudonyms { key }
    }

    fn mac(&self, class: &[u8], data: &[u8]) -> [u8; 20] {
        // HMAC-SHA1 (RFC 2104) with a 64-byte block.
        let mut k = [0u8; 64];
        k[..32].copy_from_slice(&self.key);
        let mut inner = sha1_smol::Sha1::new();
        inner.update(&k.map(|b| b ^ 0x36));
        inner.update(class);
        inner.update(&[0]);
        inner.update(data);
        let mut outer = sha1_smol::Sha1::new();
        outer.update(&k.map(|b| b ^ 0x5c));
        outer.update(&inner.digest().bytes());
        outer.digest().bytes()
    }
}

/// Top-level labels kept as they are: they tell the model what kind of name
/// it is and identify no one.
const KEPT_TLDS: &[&str] = &[
    "com",
    "net",
    "org",
    "edu",
    "gov",
    "io",
    "local",
    "arpa",
    "internal",
    "lan",
    "home",
    "example",
    "test",
    "invalid",
    "localhost",
];

impl Pseudonymizer for KeyedPseudonyms {
    fn ip(&mut self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(a) => {
                let h = self.mac(b"ip4", &a.octets());
                // 10.0.0.0/8 keeps pseudonyms recognisable as addresses and
                // out of the public space (no pseudonym points at a real host).
                IpAddr::V4(Ipv4Addr::new(10, h[0], h[1], h[2].max(1)))
            }
            IpAddr::V6(a) => {
                let h = self.mac(b"ip6", &a.octets());
                let mut o = [0u8; 16];
                o[0] = 0xfd; // unique-local
                o[1..].copy_from_slice(&h[..15]);
                IpAddr::V6(Ipv6Addr::from(o))
            }
        }
    }

    fn name(&mut self, name: &str) -> String {
        let trimmed = name.trim_end_matches('.');
        let labels: Vec<&str> = trimmed.split('.').collect();
        let last = labels.len().saturating_sub(1);
        let mut out = Vec::with_capacity(labels.len());
        for (i, label) in labels.iter().enumerate() {
            let lower = label.to_ascii_lowercase();
            if i == last && labels.len() > 1 && KEPT_TLDS.contains(&lower.as_str()) {
                out.push(lower);
            } else {
                // Hash the label with its suffix so equal labels under different
                // parents differ, while one name always maps the same way.
                let suffix = labels[i..].join(".").to_ascii_lowercase();
                let h = self.mac(b"name", suffix.as_bytes());
                out.push(format!("n{}", hex(&h[..3])));
            }
        }
        out.join(".")
    }

    fn text(&mut self, class: &str, text: &str) -> String {
        let h = self.mac(class.as_bytes(), text.as_bytes());
        format!("{class}-{}", hex(&h[..4]))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Wraps a pseudonymizer and records pseudonym → original for `--unmask`.
pub struct Recording<'p> {
    inner: &'p mut dyn Pseudonymizer,
    table: BTreeMap<String, String>,
}

impl<'p> Recording<'p> {
    pub fn new(inner: &'p mut dyn Pseudonymizer) -> Self {
        Recording {
            inner,
            table: BTreeMap::new(),
        }
    }

    pub fn into_table(self) -> BTreeMap<String, String> {
        self.table
    }

    fn note(&mut self, pseudo: &str, original: &str) {
        if pseudo != original {
            self.table
                .entry(pseudo.to_string())
                .or_insert_with(|| original.to_string());
        }
    }

    /// An address, or an endpoint "ip:port" / "[v6]:port"; other text is
    /// treated as a name.
    pub fn endpoint(&mut self, s: &str) -> String {
        match parse_endpoint(s) {
            Some((ip, port)) => {
                let p = self.inner.ip(ip);
                self.note(&p.to_string(), &ip.to_string());
                match (port, p) {
                    (None, p) => p.to_string(),
                    (Some(port), IpAddr::V6(_)) => format!("[{p}]:{port}"),
                    (Some(port), p) => format!("{p}:{port}"),
                }
            }
            None => self.name(s),
        }
    }

    pub fn ip(&mut self, ip: IpAddr) -> IpAddr {
        let p = self.inner.ip(ip);
        self.note(&p.to_string(), &ip.to_string());
        p
    }

    pub fn name(&mut self, s: &str) -> String {
        let p = self.inner.name(s);
        self.note(&p, s);
        p
    }

    pub fn text(&mut self, class: &str, s: &str) -> String {
        let p = self.inner.text(class, s);
        self.note(&p, s);
        p
    }
}

/// "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80" → address and optional port.
pub fn parse_endpoint(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, port) = rest.split_once("]:")?;
        return Some((addr.parse().ok()?, Some(port.parse().ok()?)));
    }
    let (addr, port) = s.rsplit_once(':')?;
    let ip: Ipv4Addr = addr.parse().ok()?;
    Some((IpAddr::V4(ip), Some(port.parse().ok()?)))
}

/// Replace every pseudonym in `text` by its original, longest first (so a
/// pseudonym that is a prefix of another cannot clobber it).
pub fn unmask(text: &str, table: &BTreeMap<String, String>) -> String {
    let mut keys: Vec<&String> = table.keys().collect();
    keys.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    // One left-to-right scan: replaced text is never scanned again.
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let bytes = text.as_bytes();
    'scan: while i < text.len() {
        for k in &keys {
            if bytes[i..].starts_with(k.as_bytes()) {
                out.push_str(&table[*k]);
                i += k.len();
                continue 'scan;
            }
        }
        let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_pseudonyms_other_key_differs() {
        let mut a = KeyedPseudonyms::new([7; 32]);
        let mut b = KeyedPseudonyms::new([7; 32]);
        let mut c = KeyedPseudonyms::new([8; 32]);
        let ip: IpAddr = "203.0.113.10".parse().unwrap();
        assert_eq!(a.ip(ip), b.ip(ip));
        assert_ne!(a.ip(ip), c.ip(ip));
        assert_ne!(a.ip(ip), ip);
        let n = a.name("db.internal.example.org");
        assert_eq!(n, b.name("db.internal.example.org"));
        assert!(n.ends_with(".org") && !n.contains("internal") && !n.contains("example"));
    }

    #[test]
    fn endpoints_round_trip_through_unmask() {
        let mut k = KeyedPseudonyms::new([1; 32]);
        let mut rec = Recording::new(&mut k);
        let e1 = rec.endpoint("192.0.2.1:443");
        let e2 = rec.endpoint("[2001:db8::1]:53");
        let n = rec.name("www.example.com");
        let table = rec.into_table();
        let answer = format!("Server {e1} and {e2} resolve {n}.");
        assert_eq!(
            unmask(&answer, &table),
            "Server 192.0.2.1:443 and [2001:db8::1]:53 resolve www.example.com."
        );
    }

    #[test]
    fn debug_redacts_key() {
        let k = KeyedPseudonyms::new([0xab; 32]);
        assert!(!format!("{k:?}").contains("171"));
    }
}
