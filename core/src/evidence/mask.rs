//! Pseudonyms for identifiers that go into the evidence pack.
//!
//! Sanitisation of the pack is one call per identifier through the
//! [`Pseudonymizer`] trait, so the keyed pseudonyms of `pcaplens sanitize`
//! plug in here unchanged (same key → same pseudonyms in the rewritten capture
//! and in the prompt, and `--unmask` can map an answer back).
//! [`Recording`] wraps any pseudonymizer and remembers pseudonym → original,
//! the table `--unmask` uses locally; it never leaves the machine.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

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

/// The sanitiser's keyed pseudonyms (Crypto-PAn addresses, label-by-label
/// names, keyed words and tokens): the same key gives the same pseudonyms
/// here as in `pcaplens sanitize`'s capture, map and audit.
impl Pseudonymizer for crate::sanitize::Pseudonymizer {
    fn ip(&mut self, ip: IpAddr) -> IpAddr {
        self.pseudonymize_ip(ip)
    }

    fn name(&mut self, name: &str) -> String {
        self.pseudonymize_dns_name(name)
    }

    fn text(&mut self, class: &str, text: &str) -> String {
        match class {
            "uri" | "path" | "referer" => self.pseudonymize_uri(text),
            // User-Agent and other wire strings: one keyed token, as the
            // HTTP walker replaces a User-Agent value.
            _ => {
                let mut b = text.as_bytes().to_vec();
                self.pseudonymize_token(&mut b);
                String::from_utf8_lossy(&b).into_owned()
            }
        }
    }
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
                crate::decode::endpoint(p, port)
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

    fn keyed(b: u8) -> crate::sanitize::Pseudonymizer {
        crate::sanitize::Pseudonymizer::new(&[b; 32], false, false)
    }

    #[test]
    fn same_key_same_pseudonyms_other_key_differs() {
        let mut a = keyed(7);
        let mut b = keyed(7);
        let mut c = keyed(8);
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
        let mut k = keyed(1);
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
    fn same_pseudonyms_as_the_sanitiser() {
        use crate::sanitize::Pseudonymizer as Sanitiser;
        let mut k = keyed(3);
        let mut direct = Sanitiser::new(&[3; 32], false, false);
        let ip: IpAddr = "198.51.100.20".parse().unwrap();
        assert_eq!(Pseudonymizer::ip(&mut k, ip), direct.pseudonymize_ip(ip));
        let n = Pseudonymizer::name(&mut k, "api.shop.example.com");
        assert_eq!(n, direct.pseudonymize_dns_name("api.shop.example.com"));
        assert_eq!(n.len(), "api.shop.example.com".len());
        let u = Pseudonymizer::text(&mut k, "uri", "/users/alice?token=abcdef123456");
        assert!(u.starts_with('/') && u.contains("?") && u.contains('='));
        assert!(!u.contains("alice") && !u.contains("abcdef123456"));
    }
}
