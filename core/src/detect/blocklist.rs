//! Blocklist: IP addresses, CIDR ranges and domains, matched against packet
//! addresses, DNS queries and answers (names, A/AAAA addresses, CNAME
//! targets), TLS SNI and the HTTP Host header. A domain entry matches the
//! name itself and every subdomain.
//!
//! The core takes the list as data ([`BlocklistConfig::entries`]); reading
//! files is the front's job ([`parse_list`] does the parsing for it).
//! With an empty list the detector returns at once: no cost per packet.
//! Addresses are checked once per flow (its first packet); names on every
//! DNS message, ClientHello and HTTP request.

use super::{DetectConfig, Detector, Evidence, Findings, PacketCtx};
use crate::decode::dns::{Message, Section};
use crate::decode::{AppProto, Transport};
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// What one entry matches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IndicatorKind {
    Ip(IpAddr),
    /// Network address (host bits cleared) and prefix length.
    Net(IpAddr, u8),
    /// Lower-case name without a trailing dot.
    Domain(String),
}

/// One blocklist entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Indicator {
    pub kind: IndicatorKind,
    /// Where it came from (e.g. "lists/bad.txt:12"), shown with each hit.
    pub source: String,
}

impl Indicator {
    /// The entry in canonical written form.
    pub fn text(&self) -> String {
        match &self.kind {
            IndicatorKind::Ip(a) => a.to_string(),
            IndicatorKind::Net(a, p) => format!("{a}/{p}"),
            IndicatorKind::Domain(d) => d.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlocklistConfig {
    /// As an option key: a list of entries in written form (IP address, CIDR
    /// range or domain, as in a blocklist file), each parsed by [`parse_entry`].
    /// Entries from files are added by the fronts ([`parse_list`]).
    #[serde(with = "entries_as_text")]
    pub entries: Vec<Indicator>,
}

/// `detect.blocklist.entries` as option text: written as [`Indicator::text`],
/// read with [`parse_entry`] (a bad entry is an error naming it).
mod entries_as_text {
    use super::{parse_entry, Indicator};
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(entries: &[Indicator], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(entries.iter().map(Indicator::text))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Indicator>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| match parse_entry(text) {
                Ok(Some(kind)) => Ok(Indicator {
                    kind,
                    source: format!("options:{}", i + 1),
                }),
                Ok(None) => Err(D::Error::custom(format!(
                    "entry {} ('{text}') is blank or a comment",
                    i + 1
                ))),
                Err(reason) => Err(D::Error::custom(format!(
                    "bad blocklist entry '{text}': {reason}"
                ))),
            })
            .collect()
    }
}

/// A line that is not a valid entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// Parse one entry: an IP address, a CIDR range or a domain (`*.` prefix
/// allowed). Blank lines and `#` comments (whole-line or trailing) give `None`.
pub fn parse_entry(line: &str) -> Result<Option<IndicatorKind>, String> {
    let s = line.split('#').next().unwrap_or("").trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.contains(char::is_whitespace) {
        return Err("one entry per line expected".into());
    }
    if let Some((addr, len)) = s.split_once('/') {
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{addr}' is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("prefix length '{len}' is not 0..={max}"))?;
        return Ok(Some(IndicatorKind::Net(mask(addr, len), len)));
    }
    if let Ok(a) = s.parse::<IpAddr>() {
        return Ok(Some(IndicatorKind::Ip(a)));
    }
    let d = s.strip_prefix("*.").unwrap_or(s).trim_end_matches('.');
    let d = d.to_ascii_lowercase();
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    };
    if d.is_empty() || d.len() > 253 || !d.split('.').all(valid_label) {
        return Err("not an IP address, CIDR range or domain name".into());
    }
    if d.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return Err("looks like an IP address but does not parse as one".into());
    }
    Ok(Some(IndicatorKind::Domain(d)))
}

/// Parse a whole list; `source` names it in each entry ("name:line").
/// Every bad line is returned, so a user can fix them all at once.
pub fn parse_list(text: &str, source: &str) -> Result<Vec<Indicator>, Vec<BadLine>> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_entry(line) {
            Ok(Some(kind)) => out.push(Indicator {
                kind,
                source: format!("{source}:{}", i + 1),
            }),
            Ok(None) => {}
            Err(reason) => bad.push(BadLine {
                line: i + 1,
                text: line.chars().take(200).collect(),
                reason,
            }),
        }
    }
    if bad.is_empty() {
        Ok(out)
    } else {
        Err(bad)
    }
}

fn to_bits(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u32::from(v) as u128),
        IpAddr::V6(v) => (true, u128::from(v)),
    }
}

/// The top `len` bits of a 32- or 128-bit address.
fn prefix_mask(v6: bool, len: u8) -> u128 {
    let all: u128 = if v6 { u128::MAX } else { u32::MAX as u128 };
    all ^ all.checked_shr(len as u32).unwrap_or(0)
}

fn mask(a: IpAddr, len: u8) -> IpAddr {
    let (v6, bits) = to_bits(a);
    let m = bits & prefix_mask(v6, len);
    if v6 {
        IpAddr::V6(m.into())
    } else {
        IpAddr::V4((m as u32).into())
    }
}

/// Lookup structures built once from the entries.
#[derive(Clone, Default)]
struct Index {
    ips: HashMap<IpAddr, usize>,
    /// One table per (family, prefix length), longest prefix first.
    nets: Vec<(bool, u8, HashMap<u128, usize>)>,
    domains: HashMap<Box<[u8]>, usize>,
}

impl Index {
    #[cfg(test)]
    fn new(entries: &[Indicator]) -> Self {
        Self::over(entries.iter().enumerate())
    }

    /// The index of `entries`, each given with the position a match returns
    /// (the first of equal entries wins).
    fn over<'a>(entries: impl IntoIterator<Item = (usize, &'a Indicator)>) -> Self {
        let mut ix = Index::default();
        let mut nets: BTreeMap<(bool, u8), HashMap<u128, usize>> = BTreeMap::new();
        for (i, e) in entries {
            match &e.kind {
                IndicatorKind::Ip(a) => {
                    ix.ips.entry(*a).or_insert(i);
                }
                IndicatorKind::Net(a, len) => {
                    let (v6, bits) = to_bits(*a);
                    nets.entry((v6, *len))
                        .or_default()
                        .entry(bits & prefix_mask(v6, *len))
                        .or_insert(i);
                }
                IndicatorKind::Domain(d) => {
                    ix.domains
                        .entry(d.as_bytes().to_vec().into_boxed_slice())
                        .or_insert(i);
                }
            }
        }
        ix.nets = nets
            .into_iter()
            .rev()
            .map(|((v6, l), m)| (v6, l, m))
            .collect();
        ix
    }

    fn is_empty(&self) -> bool {
        self.ips.is_empty() && self.nets.is_empty() && self.domains.is_empty()
    }

    fn match_ip(&self, a: IpAddr) -> Option<usize> {
        if let Some(&i) = self.ips.get(&a) {
            return Some(i);
        }
        let (v6, bits) = to_bits(a);
        self.nets
            .iter()
            .filter(|(fam, _, _)| *fam == v6)
            .find_map(|(_, len, m)| m.get(&(bits & prefix_mask(v6, *len))).copied())
    }

    /// `name` is lower-case, dot-separated, without a trailing dot.
    fn match_name(&self, name: &[u8]) -> Option<usize> {
        if self.domains.is_empty() || name.is_empty() {
            return None;
        }
        let mut rest = name;
        loop {
            if let Some(&i) = self.domains.get(rest) {
                return Some(i);
            }
            let dot = rest.iter().position(|&c| c == b'.')?;
            rest = &rest[dot + 1..];
        }
    }
}

/// Where a hit was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    SrcAddr,
    DstAddr,
    DnsQuery,
    DnsAnswer,
    TlsSni,
    HttpHost,
}

impl Place {
    fn name(self) -> &'static str {
        match self {
            Place::SrcAddr => "src_addr",
            Place::DstAddr => "dst_addr",
            Place::DnsQuery => "dns_query",
            Place::DnsAnswer => "dns_answer",
            Place::TlsSni => "tls_sni",
            Place::HttpHost => "http_host",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct BlocklistReport {
    /// Entries loaded (IPs, ranges and domains).
    pub entries: u64,
    /// All hits (never capped).
    pub total_hits: u64,
    /// Hits per place: "src_addr", "dst_addr", "dns_query", "dns_answer",
    /// "tls_sni", "http_host".
    pub by_place: BTreeMap<String, u64>,
    /// One row per (entry, place, matched value), in entry order then place.
    pub hits: Vec<BlocklistHit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlocklistHit {
    /// The entry as written in canonical form.
    pub indicator: String,
    /// Where the entry came from ("file:line").
    pub indicator_source: String,
    pub matched_in: String,
    /// The value that matched (address or name).
    pub value: String,
    /// Flows (addresses) or messages (names) that matched.
    pub count: u64,
    pub first_ts: f64,
    pub last_ts: f64,
    pub evidence: Vec<Evidence>,
}

#[derive(Clone)]
struct Acc {
    count: u64,
    first: i64,
    last: i64,
    evidence: Vec<Evidence>,
}

#[derive(Clone)]
pub struct BlocklistDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    /// Every entry loaded so far (hits name them by position): the list of
    /// the run, then the entries that [`BlocklistDetector::set_entries`] added.
    entries: Vec<Indicator>,
    /// Entries of the current list (the report's `entries`).
    loaded: usize,
    index: Index,
    cap: usize,
    hits: BTreeMap<(usize, Place, String), Acc>,
    /// Name buffer (lower-cased presentation form) reused for every name.
    name: Vec<u8>,
}

impl BlocklistDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        BlocklistDetector {
            out: Default::default(),
            index: Index::over(cfg.blocklist.entries.iter().enumerate()),
            entries: cfg.blocklist.entries.clone(),
            loaded: cfg.blocklist.entries.len(),
            cap: cfg.max_instances,
            hits: BTreeMap::new(),
            name: Vec::with_capacity(256),
        }
    }

    /// Replace the list from here on (a front reloading its files): later
    /// packets are matched against `entries` only. Hits so far stay in the
    /// report, under the entry that matched them.
    pub fn set_entries(&mut self, entries: Vec<Indicator>) {
        let mut known: HashMap<Indicator, usize> = HashMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            known.entry(e.clone()).or_insert(i);
        }
        let mut positions = Vec::with_capacity(entries.len());
        for e in entries {
            let i = *known.entry(e.clone()).or_insert_with(|| {
                self.entries.push(e);
                self.entries.len() - 1
            });
            positions.push(i);
        }
        self.index = Index::over(positions.iter().map(|&i| (i, &self.entries[i])));
        self.loaded = positions.len();
    }

    /// Whether the current list is empty (packets then stop at once).
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn hit(&mut self, idx: usize, place: Place, value: String, ctx: &PacketCtx<'_, '_>) {
        let ts = ctx.ts();
        let entries = &self.entries;
        self.out.finding(|| {
            let e = &entries[idx];
            super::outbox::FindingEvent {
                kind: "blocklist",
                frame: ctx.frame(),
                ts: ts_secs(ts),
                community_id: ctx.community_id(),
                summary: format!("blocklisted {} in {}: {value}", e.text(), place.name()),
                detail: {
                    let mut d = serde_json::json!({
                        "indicator": e.text(),
                        "indicator_source": e.source,
                        "matched_in": place.name(),
                        "value": value,
                    });
                    // The packet's flow (originator, responder), for outputs
                    // that name both ends of an alert (EVE, ECS).
                    if let Some(src) = ctx.community_id_source() {
                        let port = |i: usize| src.ports.map_or(0, |p| [p.0, p.1][i]);
                        d["transport"] = crate::decode::transport_name(src.proto).into();
                        d["orig"] = super::long_lived::endpoint(src.src, port(0), src.proto).into();
                        d["resp"] = super::long_lived::endpoint(src.dst, port(1), src.proto).into();
                    }
                    d
                },
            }
        });
        let acc = self.hits.entry((idx, place, value)).or_insert(Acc {
            count: 0,
            first: ts,
            last: ts,
            evidence: Vec::new(),
        });
        acc.count += 1;
        acc.first = acc.first.min(ts);
        acc.last = acc.last.max(ts);
        if acc.evidence.len() < self.cap {
            acc.evidence
                .push(Evidence::new(ctx.frame(), ts, &ctx.community_id()));
        }
    }

    fn check_name(&mut self, place: Place, ctx: &PacketCtx<'_, '_>) {
        if let Some(i) = self.index.match_name(&self.name) {
            let v = String::from_utf8_lossy(&self.name).into_owned();
            self.hit(i, place, v, ctx);
        }
    }

    fn check_ip(&mut self, a: IpAddr, place: Place, ctx: &PacketCtx<'_, '_>) {
        if let Some(i) = self.index.match_ip(a) {
            self.hit(i, place, a.to_string(), ctx);
        }
    }

    /// Put the DNS name at `offset` into `self.name`, lower-cased.
    fn load_dns_name(&mut self, msg: &Message<'_>, offset: usize) {
        self.name.clear();
        for r in msg.labels(offset) {
            if !self.name.is_empty() {
                self.name.push(b'.');
            }
            self.name
                .extend(msg.bytes[r].iter().map(|c| c.to_ascii_lowercase()));
            if self.name.len() > 255 {
                break;
            }
        }
    }

    fn load_text(&mut self, b: &[u8]) {
        self.name.clear();
        let b = b.strip_suffix(b".").unwrap_or(b);
        self.name
            .extend(b.iter().take(255).map(|c| c.to_ascii_lowercase()));
    }

    fn dns(&mut self, payload: &[u8], ctx: &PacketCtx<'_, '_>) {
        let Some(msg) = Message::parse(payload) else {
            return;
        };
        let response = msg.header.is_response();
        for rec in msg.records() {
            match rec.section {
                Section::Question if !response => {
                    self.load_dns_name(&msg, rec.name_offset);
                    self.check_name(Place::DnsQuery, ctx);
                }
                Section::Answer => {
                    self.load_dns_name(&msg, rec.name_offset);
                    self.check_name(Place::DnsAnswer, ctx);
                    let rd = &msg.bytes[rec.rdata.clone()];
                    match (rec.rtype, rd.len()) {
                        (1, 4) => {
                            let a = IpAddr::from([rd[0], rd[1], rd[2], rd[3]]);
                            self.check_ip(a, Place::DnsAnswer, ctx);
                        }
                        (28, 16) => {
                            let mut b = [0u8; 16];
                            b.copy_from_slice(rd);
                            self.check_ip(IpAddr::from(b), Place::DnsAnswer, ctx);
                        }
                        // CNAME, NS, PTR: a name in the rdata.
                        (5 | 2 | 12, _) => {
                            self.load_dns_name(&msg, rec.rdata.start);
                            self.check_name(Place::DnsAnswer, ctx);
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// The SNIs and Host headers of the ClientHellos and HTTP requests a TCP
    /// segment completed. The TLS and HTTP detectors reassemble them, so a
    /// ClientHello or request head spread over segments is matched too (in
    /// the frame that completes it, where tshark shows the field).
    pub(crate) fn on_app_names(
        &mut self,
        ctx: &PacketCtx<'_, '_>,
        hosts: &[Box<str>],
        snis: &[Box<str>],
    ) {
        if self.index.is_empty() {
            return;
        }
        for sni in snis {
            self.load_text(sni.as_bytes());
            self.check_name(Place::TlsSni, ctx);
        }
        for host in hosts {
            self.http_host(host.as_bytes(), ctx);
        }
    }

    /// The DNS-over-TCP messages a segment completed, reassembled by the DNS
    /// detector: every message of a segment, and messages spread over several.
    pub(crate) fn on_tcp_dns_messages(&mut self, ctx: &PacketCtx<'_, '_>, msgs: &[Vec<u8>]) {
        if self.index.is_empty() {
            return;
        }
        for m in msgs {
            self.dns(m, ctx);
        }
    }

    fn http_host(&mut self, host: &[u8], ctx: &PacketCtx<'_, '_>) {
        // Strip a port; an IPv6 literal is bracketed.
        let bare = if let Some(rest) = host.strip_prefix(b"[") {
            rest.split(|&c| c == b']').next().unwrap_or(rest)
        } else {
            match host.iter().rposition(|&c| c == b':') {
                Some(i) if host[i + 1..].iter().all(u8::is_ascii_digit) => &host[..i],
                _ => host,
            }
        };
        if let Some(a) = std::str::from_utf8(bare)
            .ok()
            .and_then(|s| s.parse::<IpAddr>().ok())
        {
            self.check_ip(a, Place::HttpHost, ctx);
            return;
        }
        self.load_text(bare);
        self.check_name(Place::HttpHost, ctx);
    }
}

impl BlocklistDetector {
    fn scan_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        let Some(layer) = ctx.packet.inner() else {
            return;
        };
        if ctx.flow.is_some_and(|f| f.new_flow) {
            self.check_ip(layer.src, Place::SrcAddr, ctx);
            self.check_ip(layer.dst, Place::DstAddr, ctx);
        }
        let Some(app) = ctx.packet.app else {
            return;
        };
        // DNS over UDP here; DNS over TCP comes from `on_tcp_dns_messages`,
        // TLS SNI and HTTP Host from `on_app_names` (reassembled by their detectors).
        if let (AppProto::Dns | AppProto::Mdns | AppProto::Llmnr, Transport::Udp(u)) =
            (app, &layer.transport)
        {
            self.dns(u.payload, ctx)
        }
    }
}

impl Detector for BlocklistDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    /// Inlined check: without a blocklist (the usual run) packets stop here.
    #[inline]
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        if !self.index.is_empty() {
            self.scan_packet(ctx);
        }
    }

    fn finish_findings(&mut self, out: &mut Findings) {
        let mut r = BlocklistReport {
            entries: self.loaded as u64,
            ..Default::default()
        };
        for ((idx, place, value), acc) in std::mem::take(&mut self.hits) {
            r.total_hits += acc.count;
            *r.by_place.entry(place.name().to_string()).or_default() += acc.count;
            let e = &self.entries[idx];
            r.hits.push(BlocklistHit {
                indicator: e.text(),
                indicator_source: e.source.clone(),
                matched_in: place.name().to_string(),
                value,
                count: acc.count,
                first_ts: ts_secs(acc.first),
                last_ts: ts_secs(acc.last),
                evidence: acc.evidence,
            });
        }
        out.blocklist = r;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_reject() {
        assert_eq!(
            parse_entry("10.1.2.3/8 # office").unwrap(),
            Some(IndicatorKind::Net("10.0.0.0".parse().unwrap(), 8))
        );
        assert_eq!(
            parse_entry("*.Evil.Example.").unwrap(),
            Some(IndicatorKind::Domain("evil.example".into()))
        );
        assert_eq!(parse_entry("  # only a comment").unwrap(), None);
        assert!(parse_entry("10.0.0.0/33").is_err());
        assert!(parse_entry("300.1.1.1").is_err());
        assert!(parse_entry("two words").is_err());
        assert!(parse_entry("bad_host!").is_err());
        let bad = parse_list("1.2.3.4\nnope!\n\n::1/129\n", "l.txt").unwrap_err();
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2, 4]);
    }

    #[test]
    fn index_matches_ranges_and_subdomains() {
        let list = parse_list("198.51.100.0/24\n2001:db8::/32\nexample.net\n", "x").unwrap();
        let ix = Index::new(&list);
        assert_eq!(ix.match_ip("198.51.100.66".parse().unwrap()), Some(0));
        assert_eq!(ix.match_ip("198.51.101.1".parse().unwrap()), None);
        assert_eq!(ix.match_ip("2001:db8:1::5".parse().unwrap()), Some(1));
        assert_eq!(ix.match_ip("2001:db9::5".parse().unwrap()), None);
        assert_eq!(ix.match_name(b"malware.example.net"), Some(2));
        assert_eq!(ix.match_name(b"example.net"), Some(2));
        assert_eq!(ix.match_name(b"notexample.net"), None);
        assert_eq!(ix.match_name(b"example.network"), None);
        let all = parse_list("0.0.0.0/0\n", "x").unwrap();
        assert_eq!(
            Index::new(&all).match_ip("8.8.8.8".parse().unwrap()),
            Some(0)
        );
    }
}
