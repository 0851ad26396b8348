//! What the tools compute over a cached analysis: flow filters and
//! totals, report sections split into listed items, the report places that
//! name a flow, and the rule-based classification.

use super::mask::Masker;
use super::store::Loaded;
use super::types::{Classification, FlowAggregate, FlowQuery, PeerTotal, PortCount, Related};
use pcaplens_core::FlowSummary;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

// ---- flows ------------------------------------------------------------------

/// The flow filters of a query, checked.
pub struct FlowFilter {
    pub addr: Option<String>,
    pub addr_masked: Option<String>,
    pub port: Option<u16>,
    pub transport: Option<String>,
    pub service: Option<String>,
    pub state: Option<String>,
    pub start: Option<f64>,
    pub end: Option<f64>,
}

impl FlowFilter {
    pub fn new(q: &FlowQuery, m: &mut Masker) -> Result<FlowFilter, String> {
        let addr = match &q.addr {
            Some(a) => {
                let a = a.trim().trim_start_matches('[').trim_end_matches(']');
                let ip: std::net::IpAddr = a
                    .parse()
                    .map_err(|_| format!("addr: {a:?} is not an IPv4 or IPv6 address"))?;
                Some(ip.to_string())
            }
            None => None,
        };
        // Protocol words in any case ("TCP", "sf"), as people type them.
        let transport = q.transport.as_ref().map(|t| t.trim().to_ascii_lowercase());
        if let Some(t) = &transport {
            if !["tcp", "udp", "icmp", "icmpv6", "other"].contains(&t.as_str()) {
                return Err(format!(
                    "transport: {t:?} is not one of tcp, udp, icmp, icmpv6, other"
                ));
            }
        }
        if let (Some(s), Some(e)) = (q.start, q.end) {
            if s > e {
                return Err("start is after end".into());
            }
        }
        // The client may pass a pseudonym (as results show) or the real address.
        let addr_masked = addr.as_deref().map(|a| m.addr(a));
        Ok(FlowFilter {
            addr,
            addr_masked,
            port: q.port,
            transport,
            service: q.service.as_ref().map(|s| s.to_ascii_lowercase()),
            state: q.state.clone(),
            start: q.start,
            end: q.end,
        })
    }

    pub fn matches(&self, f: &FlowSummary, shown: &FlowSummary) -> bool {
        if let Some(p) = self.port {
            if f.orig_port != p && f.resp_port != p {
                return false;
            }
        }
        if let Some(t) = &self.transport {
            if &f.transport != t {
                return false;
            }
        }
        if let Some(s) = &self.service {
            if f.service.as_deref().unwrap_or("unknown") != s {
                return false;
            }
        }
        if let Some(s) = &self.state {
            if !f.conn_state.eq_ignore_ascii_case(s) {
                return false;
            }
        }
        if self.start.is_some_and(|s| f.last_ts < s) || self.end.is_some_and(|e| f.first_ts > e) {
            return false;
        }
        if let Some(a) = &self.addr {
            let shown_hit = shown.orig_addr == *a || shown.resp_addr == *a;
            let real_hit = self
                .addr_masked
                .as_ref()
                .is_some_and(|m| shown.orig_addr == *m || shown.resp_addr == *m);
            if !shown_hit && !real_hit {
                return false;
            }
        }
        true
    }

    pub fn text(&self, sort: &str) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{sort}",
            self.addr, self.port, self.transport, self.service, self.state, self.start, self.end
        )
    }
}

pub fn aggregate(rows: &[&FlowSummary], filter: &FlowFilter) -> FlowAggregate {
    let mut a = FlowAggregate::default();
    let mut peers: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut ports: HashMap<(u16, &str), u64> = HashMap::new();
    for f in rows {
        let bytes = f.orig_bytes + f.resp_bytes;
        a.flows += 1;
        a.packets += f.orig_packets + f.resp_packets;
        a.bytes += bytes;
        a.first_ts = Some(a.first_ts.map_or(f.first_ts, |t: f64| t.min(f.first_ts)));
        a.last_ts = Some(a.last_ts.map_or(f.last_ts, |t: f64| t.max(f.last_ts)));
        *a.by_transport.entry(f.transport.clone()).or_default() += 1;
        *a.by_state.entry(f.conn_state.clone()).or_default() += 1;
        *a.by_service
            .entry(f.service.clone().unwrap_or_else(|| "unknown".into()))
            .or_default() += 1;
        let hit =
            |x: &str| filter.addr.as_deref() == Some(x) || filter.addr_masked.as_deref() == Some(x);
        for (addr, other) in [(&f.orig_addr, &f.resp_addr), (&f.resp_addr, &f.orig_addr)] {
            // With an address filter, the peers are the other side.
            if filter.addr.is_none() || hit(other) {
                let e = peers.entry(addr.as_str()).or_default();
                e.0 += bytes;
                e.1 += 1;
            }
        }
        *ports
            .entry((f.resp_port, f.transport.as_str()))
            .or_default() += 1;
    }
    let mut peers: Vec<_> = peers.into_iter().collect();
    peers.sort_by(|x, y| y.1 .0.cmp(&x.1 .0).then(x.0.cmp(y.0)));
    a.top_peers = peers
        .into_iter()
        .filter(|(addr, _)| filter.addr.as_deref().is_none_or(|f| f != *addr))
        .take(10)
        .map(|(addr, (bytes, flows))| PeerTotal {
            addr: addr.to_string(),
            bytes,
            flows,
        })
        .collect();
    let mut ports: Vec<_> = ports.into_iter().collect();
    ports.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    a.top_ports = ports
        .into_iter()
        .take(10)
        .map(|((port, transport), flows)| PortCount {
            port,
            transport: transport.to_string(),
            flows,
        })
        .collect();
    a
}

// ---- report sections --------------------------------------------------------

/// Original Community ID → the one shown (over the pseudonymised tuple).
pub fn cid_mapper(loaded: &Loaded) -> impl FnMut(&mut Masker, &str) -> String + '_ {
    move |m: &mut Masker, cid: &str| {
        if !m.active() || cid.is_empty() {
            return cid.to_string();
        }
        match loaded.by_cid.get(cid).and_then(|v| v.first()) {
            Some(&i) => m.flow_cid(&loaded.flows[i as usize]),
            // A Community ID of no listed flow (e.g. a quoted ICMP packet):
            // the masked form of a flow made of it is unknown, so it goes.
            None => String::new(),
        }
    }
}

/// A report section (failures or findings) as it leaves the server.
pub fn masked_section(loaded: &Loaded, m: &mut Masker, name: &str) -> Value {
    let v = match name {
        "failures" => serde_json::to_value(&loaded.report.failures),
        _ => serde_json::to_value(&loaded.report.findings),
    }
    .unwrap_or(Value::Null);
    let mut cid = cid_mapper(loaded);
    m.json(&v, &mut cid)
}

/// Split a section into listed items and counters. Failures: each class
/// with `total` and `instances` is an item (when its total is not zero).
/// Findings: each element of a list of objects is an item.
pub fn split_items(doc: &Value, failures: bool, only: Option<&str>) -> (Value, Vec<Value>) {
    let mut counters = Map::new();
    let mut items = Vec::new();
    let Some(sections) = doc.as_object() else {
        return (Value::Object(counters), items);
    };
    for (section, body) in sections {
        if only.is_some_and(|o| o != section) {
            continue;
        }
        let mut rest = Map::new();
        if let Some(fields) = body.as_object() {
            for (k, v) in fields {
                let is_class = failures && v.get("total").is_some() && v.get("instances").is_some();
                let is_list = !failures
                    && v.as_array()
                        .is_some_and(|a| a.first().is_some_and(Value::is_object));
                if is_class {
                    if v["total"].as_u64().unwrap_or(0) > 0 {
                        let mut item = Map::new();
                        item.insert("section".into(), section.clone().into());
                        item.insert("class".into(), k.clone().into());
                        if let Some(o) = v.as_object() {
                            item.extend(o.clone());
                        }
                        items.push(Value::Object(item));
                    }
                } else if is_list {
                    for x in v.as_array().into_iter().flatten() {
                        let mut item = Map::new();
                        item.insert("section".into(), section.clone().into());
                        item.insert("list".into(), k.clone().into());
                        if let Some(o) = x.as_object() {
                            item.extend(o.clone());
                        }
                        items.push(Value::Object(item));
                    }
                } else {
                    rest.insert(k.clone(), v.clone());
                }
            }
        }
        counters.insert(section.clone(), Value::Object(rest));
    }
    (Value::Object(counters), items)
}

/// "section.class" → total, for the classes that happened.
pub fn failure_totals(failures: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (section, body) in failures.as_object().into_iter().flatten() {
        for (k, v) in body.as_object().into_iter().flatten() {
            if let (Some(t), Some(_)) = (v.get("total").and_then(Value::as_u64), v.get("instances"))
            {
                if t > 0 {
                    out.insert(format!("{section}.{k}"), t);
                }
            }
        }
    }
    out
}

pub fn finding_totals(findings: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (section, body) in findings.as_object().into_iter().flatten() {
        for (k, v) in body.as_object().into_iter().flatten() {
            if let Some(a) = v.as_array() {
                if a.first().is_some_and(Value::is_object) {
                    out.insert(format!("{section}.{k}"), a.len() as u64);
                }
            }
        }
    }
    out
}

/// Every place in failures/findings/anomalies that names a Community ID
/// (original), with the object that names it.
pub fn places_by_cid(loaded: &Loaded) -> &HashMap<String, Vec<String>> {
    loaded.places.get_or_init(|| {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        let r = &loaded.report;
        let docs = [
            (
                "failures",
                serde_json::to_value(&r.failures).unwrap_or(Value::Null),
            ),
            (
                "findings",
                serde_json::to_value(&r.findings).unwrap_or(Value::Null),
            ),
            (
                "anomalies",
                serde_json::to_value(&r.anomalies).unwrap_or(Value::Null),
            ),
        ];
        for (name, doc) in &docs {
            collect_places(doc, name.to_string(), &mut out);
        }
        for v in out.values_mut() {
            v.sort();
            v.dedup();
        }
        out
    })
}

fn collect_places(v: &Value, place: String, out: &mut HashMap<String, Vec<String>>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(c)) = o.get("community_id") {
                if !c.is_empty() {
                    out.entry(c.clone()).or_default().push(place.clone());
                }
            }
            for (k, x) in o {
                // Evidence and instance lists belong to the place that holds them.
                let next = if matches!(k.as_str(), "instances" | "evidence" | "community_id")
                    || x.is_array() && place.matches('.').count() >= 2
                {
                    place.clone()
                } else {
                    format!("{place}.{k}")
                };
                collect_places(x, next, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_places(x, place.clone(), out)),
        _ => {}
    }
}

/// The rule-based verdict of one flow.
pub fn classify(f: &FlowSummary, places: Option<&Vec<String>>) -> Classification {
    let mut reasons: Vec<String> = places.cloned().unwrap_or_default();
    let failed_state = matches!(
        f.conn_state.as_str(),
        "S0" | "REJ" | "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" | "SH" | "SHR"
    ) && f.transport == "tcp";
    if failed_state {
        reasons.push(format!("conn_state {}", f.conn_state));
    }
    let has = |p: &str| reasons.iter().any(|r| r.starts_with(p));
    let verdict = if has("findings.blocklist") {
        "malicious"
    } else if has("findings.") {
        "suspicious"
    } else if has("failures.") || failed_state {
        "failing"
    } else if has("anomalies.") {
        "unusual"
    } else {
        "normal"
    };
    Classification {
        verdict: verdict.into(),
        reasons,
    }
}

pub const VERDICTS: &[&str] = &["malicious", "suspicious", "failing", "unusual", "normal"];

pub fn bracket(a: &str) -> String {
    if a.contains(':') {
        format!("[{a}]")
    } else {
        a.to_string()
    }
}

/// Objects in `doc` whose `community_id` is `cid`, with where they are.
pub fn find_related(doc: &Value, place: String, cid: &str, out: &mut Vec<Related>) {
    match doc {
        Value::Object(o) => {
            if o.get("community_id").and_then(Value::as_str) == Some(cid) {
                out.push(Related {
                    place: place.clone(),
                    item: doc.clone(),
                });
                return;
            }
            for (k, v) in o {
                let next = if matches!(k.as_str(), "instances" | "evidence") {
                    place.clone()
                } else {
                    format!("{place}.{k}")
                };
                find_related(v, next, cid, out);
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|x| find_related(x, place.clone(), cid, out)),
        _ => {}
    }
}

impl Loaded {
    /// Community ID as shown → flows. Built once per cached capture (the key
    /// is the server's for its lifetime).
    pub fn shown_cids(&self, m: &mut Masker) -> &HashMap<String, Vec<u32>> {
        if !m.active() {
            return &self.by_cid;
        }
        self.shown.get_or_init(|| {
            let mut out: HashMap<String, Vec<u32>> = HashMap::new();
            for (i, f) in self.flows.iter().enumerate() {
                out.entry(m.flow_cid(f)).or_default().push(i as u32);
            }
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flow(state: &str) -> FlowSummary {
        let capture = pcaplens_core::generate::generate(
            pcaplens_core::generate::Scenario::Normal,
            &Default::default(),
        )
        .unwrap();
        let report = pcaplens_core::analyze_bytes(&capture.bytes, Default::default()).unwrap();
        let mut f = report
            .flows
            .into_iter()
            .find(|f| f.transport == "tcp")
            .unwrap();
        f.conn_state = state.into();
        f
    }

    #[test]
    fn verdicts_follow_the_worst_reason() {
        let places = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = flow("SF");
        assert_eq!(classify(&f, None).verdict, "normal");
        let s0 = flow("S0");
        let c = classify(&s0, None);
        assert_eq!(
            (c.verdict.as_str(), c.reasons),
            ("failing", vec!["conn_state S0".into()])
        );
        let p = places(&["anomalies.top_flows", "failures.tcp.resets"]);
        assert_eq!(classify(&f, Some(&p)).verdict, "failing");
        let p = places(&["failures.tcp.resets", "findings.scans"]);
        assert_eq!(classify(&f, Some(&p)).verdict, "suspicious");
        let p = places(&["findings.blocklist.hits", "findings.scans"]);
        assert_eq!(classify(&f, Some(&p)).verdict, "malicious");
        assert_eq!(
            classify(&f, Some(&places(&["anomalies.top_flows"]))).verdict,
            "unusual"
        );
    }

    #[test]
    fn sections_split_into_items_and_counters() {
        let failures = json!({"tcp": {
            "resets": {"total": 2, "instances": [{"frame": 1}, {"frame": 5}]},
            "zero_window": {"total": 0, "instances": []},
            "handshake_rtt": {"count": 3},
        }});
        let (counters, items) = split_items(&failures, true, None);
        assert_eq!(items.len(), 1, "classes that did not happen are not items");
        assert_eq!(items[0]["section"], "tcp");
        assert_eq!(items[0]["class"], "resets");
        assert_eq!(items[0]["total"], 2);
        assert_eq!(counters["tcp"]["handshake_rtt"]["count"], 3);
        assert_eq!(
            failure_totals(&failures),
            BTreeMap::from([("tcp.resets".to_string(), 2)])
        );
        let findings =
            json!({"scans": {"total": 1, "scans": [{"scanner": "a"}, {"scanner": "b"}]}});
        let (counters, items) = split_items(&findings, false, Some("scans"));
        assert_eq!(items.len(), 2);
        assert_eq!(items[1]["list"], "scans");
        assert_eq!(counters["scans"]["total"], 1);
        assert!(split_items(&findings, false, Some("blocklist"))
            .1
            .is_empty());
    }
}
