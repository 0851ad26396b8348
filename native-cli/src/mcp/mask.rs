//! What leaves the server: identifiers pseudonymised with the sanitizer's
//! keyed functions (so they equal those in `pcaplens sanitize`'s capture with
//! the same key, and `pcaplens unmask` maps them back), Community IDs
//! recomputed over the pseudonymised tuple (so they match the sanitized
//! capture's), and strings from the wire marked as untrusted data.

use pcaplens_core::evidence::mask::parse_endpoint;
use pcaplens_core::evidence::wire;
use pcaplens_core::flow::community_id_v1;
use pcaplens_core::sanitize::pseudo::{fmt_mac, parse_mac};
use pcaplens_core::sanitize::Pseudonymizer;
use pcaplens_core::FlowSummary;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Keys whose string values are names from the wire (DNS, HTTP Host, TLS SNI).
const NAME_KEYS: &[&str] = &["qname", "host", "sni", "server_name", "domain", "query"];
/// Keys whose values are other free text from the wire.
const TEXT_KEYS: &[&str] = &[
    "uri",
    "user_agent",
    "path",
    "referer",
    "reason",
    "alpn",
    "version_text",
];
/// Maps keyed by names.
const NAME_MAPS: &[&str] = &["server_names", "names", "hosts"];
/// Lists whose `name` is a name from the wire (elsewhere `name` is ours:
/// link types, quality checks, the generator).
const NAME_LISTS: &[&str] = &["top_failing_names"];

fn is_name(key: &str, parent: &str) -> bool {
    NAME_KEYS.contains(&key) || (key == "name" && NAME_LISTS.contains(&parent))
}

/// The pseudonymisation of one result. `None` key: `--reveal`.
pub struct Masker {
    pseudo: Option<Pseudonymizer>,
}

impl Masker {
    /// A fresh pseudonymizer per result: it is deterministic for its key, so
    /// results agree with each other, and its caches never outgrow one result.
    pub fn new(key: Option<&[u8; 32]>) -> Self {
        Masker {
            // As `pcaplens sanitize` without --keep-special-ranges.
            pseudo: key.map(|k| Pseudonymizer::new(k, false, false)),
        }
    }

    pub fn active(&self) -> bool {
        self.pseudo.is_some()
    }

    pub fn ip(&mut self, ip: IpAddr) -> IpAddr {
        match &mut self.pseudo {
            Some(p) => p.pseudonymize_ip(ip),
            None => ip,
        }
    }

    /// An address string (as flows hold them); other text passes through.
    pub fn addr(&mut self, s: &str) -> String {
        match s.parse::<IpAddr>() {
            Ok(ip) => self.ip(ip).to_string(),
            Err(_) => s.to_string(),
        }
    }

    fn endpoint(&mut self, s: &str) -> String {
        match parse_endpoint(s) {
            Some((ip, port)) => pcaplens_core::decode::endpoint(self.ip(ip), port),
            None => s.to_string(),
        }
    }

    pub fn name(&mut self, s: &str) -> String {
        match &mut self.pseudo {
            Some(p) => p.pseudonymize_dns_name(s),
            None => s.to_string(),
        }
    }

    fn text(&mut self, class: &str, s: &str) -> String {
        match &mut self.pseudo {
            Some(p) => match class {
                "uri" | "path" | "referer" => p.pseudonymize_uri(s),
                // Reasons and versions are short protocol words; what could
                // identify someone in them (addresses, names seen) is replaced.
                "reason" | "alpn" | "version_text" => p.pseudonymize_text(s),
                _ => {
                    let mut b = s.as_bytes().to_vec();
                    p.pseudonymize_token(&mut b);
                    String::from_utf8_lossy(&b).into_owned()
                }
            },
            None => s.to_string(),
        }
    }

    fn free_text(&mut self, s: &str) -> String {
        match &mut self.pseudo {
            Some(p) => p.pseudonymize_text(s),
            None => s.to_string(),
        }
    }

    pub fn mac(&mut self, m: [u8; 6]) -> String {
        match &mut self.pseudo {
            Some(p) => fmt_mac(&p.pseudonymize_mac(m)),
            None => fmt_mac(&m),
        }
    }

    /// A flow's Community ID over its pseudonymised tuple: what the analysis
    /// of the sanitized capture (same key) gives for the same flow.
    pub fn flow_cid(&mut self, f: &FlowSummary) -> String {
        if self.pseudo.is_none() || f.community_id.is_empty() {
            return f.community_id.clone();
        }
        let (Ok(a), Ok(b)) = (f.orig_addr.parse::<IpAddr>(), f.resp_addr.parse::<IpAddr>()) else {
            return self.text("cid", &f.community_id);
        };
        let (ma, mb) = (self.ip(a), self.ip(b));
        let (proto, ports) = match f.transport.as_str() {
            "tcp" => (6, Some((f.orig_port, f.resp_port))),
            "udp" => (17, Some((f.orig_port, f.resp_port))),
            "icmp" | "icmpv6" => (
                if f.transport == "icmp" { 1 } else { 58 },
                f.icmp_type
                    .map(|t| (t as u16, f.icmp_code.unwrap_or(0) as u16)),
            ),
            // Other IP protocols: the flow's own number is not in the
            // summary; a keyed token keeps it unlinkable.
            _ => return self.text("cid", &f.community_id),
        };
        community_id_v1(0, ma, mb, proto, ports)
    }

    /// A flow as it leaves the server.
    pub fn flow(&mut self, f: &FlowSummary) -> FlowSummary {
        let mut out = f.clone();
        if self.pseudo.is_some() {
            out.community_id = self.flow_cid(f);
            out.orig_addr = self.addr(&f.orig_addr);
            out.resp_addr = self.addr(&f.resp_addr);
        }
        out
    }

    /// A JSON tree from the report: strings classified by their key (names,
    /// wire text, Community IDs through `cid`), any string or map key that is
    /// an address or endpoint masked as one, MAC addresses as MACs, other
    /// text searched for addresses and names. Wire strings are marked as
    /// untrusted whether or not they are masked.
    pub fn json(&mut self, v: &Value, cid: &mut dyn FnMut(&mut Self, &str) -> String) -> Value {
        // Names first, so that free text mentioning a name seen in this
        // result is recognised (the pseudonymizer learns names as it masks).
        if self.pseudo.is_some() {
            self.learn_names(v, "", "");
        }
        self.walk(v, "", "", cid)
    }

    fn learn_names(&mut self, v: &Value, key: &str, parent: &str) {
        match v {
            Value::String(s) if is_name(key, parent) => {
                self.name(s);
            }
            Value::Array(a) => a.iter().for_each(|x| self.learn_names(x, key, parent)),
            Value::Object(o) => {
                for (k, x) in o {
                    if NAME_MAPS.contains(&key) {
                        self.name(k);
                    }
                    self.learn_names(x, k, key);
                }
            }
            _ => {}
        }
    }

    fn walk(
        &mut self,
        v: &Value,
        key: &str,
        parent: &str,
        cid: &mut dyn FnMut(&mut Self, &str) -> String,
    ) -> Value {
        match v {
            Value::String(s) if key == "community_id" => Value::String(cid(self, s)),
            Value::String(s) if parse_endpoint(s).is_some() => Value::String(self.endpoint(s)),
            Value::String(s) if parse_mac(s.as_bytes()).is_some() => {
                Value::String(self.mac(parse_mac(s.as_bytes()).unwrap_or_default()))
            }
            Value::String(s) if is_name(key, parent) => {
                let n = self.name(s);
                Value::String(wire(&n))
            }
            Value::String(s) if TEXT_KEYS.contains(&key) => {
                let t = self.text(key, s);
                Value::String(wire(&t))
            }
            Value::String(s) => Value::String(self.free_text(s)),
            Value::Array(a) => {
                Value::Array(a.iter().map(|x| self.walk(x, key, parent, cid)).collect())
            }
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    let mk = if NAME_MAPS.contains(&key) {
                        self.name(k)
                    } else if parse_endpoint(k).is_some() {
                        self.endpoint(k)
                    } else {
                        k.clone()
                    };
                    out.insert(mk, self.walk(x, k, key, cid));
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_pseudonyms_as_the_sanitizer_and_wire_marked() {
        let key = [5u8; 32];
        let mut m = Masker::new(Some(&key));
        let mut p = Pseudonymizer::new(&key, false, false);
        let doc = serde_json::json!({
            "server": "10.0.0.53:53",
            "qname": "vault.internal.example.org",
            "note": "host 10.0.0.7 failed",
            "link_types": [{"name": "EN10MB"}],
            "top_failing_names": [{"name": "vault.internal.example.org"}],
        });
        let out = m.json(&doc, &mut |_, c| c.to_string());
        let ip = p.pseudonymize_ip("10.0.0.53".parse().unwrap());
        assert_eq!(out["server"], format!("{ip}:53"));
        let name = p.pseudonymize_dns_name("vault.internal.example.org");
        assert_eq!(out["qname"], wire(&name));
        let ip7 = p.pseudonymize_ip("10.0.0.7".parse().unwrap());
        assert_eq!(out["note"], format!("host {ip7} failed"));
        assert_eq!(out["link_types"][0]["name"], "EN10MB");
        assert_eq!(out["top_failing_names"][0]["name"], wire(&name));

        let mut reveal = Masker::new(None);
        let out = reveal.json(&doc, &mut |_, c| c.to_string());
        assert_eq!(out["server"], "10.0.0.53:53");
        assert_eq!(out["qname"], wire("vault.internal.example.org"));
    }
}
