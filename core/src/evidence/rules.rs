//! Rule-based diagnosis: each rule reads the report and proposes findings
//! ranked by evidence. Adding a rule = one function + one line in [`RULES`].
//!
//! Rules read the typed [`Report`] (`failures`, `flows`), so a renamed or
//! retyped field is a compile error here, never a silent "no evidence".
//! Flow-state rules read `report.flows` (Zeek `conn_state`), which needs no
//! detector at all. Only the totals of the coverage line walk the report's
//! JSON form, generically: they count every `Counted` section there is.

use super::Part;
use crate::detect::Evidence;
use crate::report::{FlowSummary, Report};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Most frames / Community IDs cited per finding.
pub const MAX_CITED_FRAMES: usize = 6;
pub const MAX_CITED_FLOWS: usize = 3;

/// What a rule sees.
pub struct RuleCtx<'a> {
    pub report: &'a Report,
    pub flows_by_cid: BTreeMap<&'a str, &'a FlowSummary>,
}

impl<'a> RuleCtx<'a> {
    pub fn new(report: &'a Report) -> Self {
        let flows_by_cid = report
            .flows
            .iter()
            .map(|f| (f.community_id.as_str(), f))
            .collect();
        RuleCtx {
            report,
            flows_by_cid,
        }
    }

    /// Server endpoint ("addr:port") of the flow with this Community ID.
    pub fn server_of(&self, cid: &str) -> Option<String> {
        self.flows_by_cid
            .get(cid)
            .map(|f| endpoint(&f.resp_addr, f.resp_port))
    }
}

/// One proposed cause, with raw (unmasked) identifiers in its parts.
#[derive(Clone, Debug)]
pub struct Finding {
    pub rule: &'static str,
    pub category: Category,
    pub score: f64,
    /// Sentence naming the fault and its endpoint.
    pub summary: Vec<Part>,
    /// The endpoint at fault (raw).
    pub endpoint: String,
    /// Events behind the finding.
    pub count: u64,
    /// Share of the endpoint's traffic affected, 0..=1, when known.
    pub share: Option<f64>,
    /// Distinct flows involved.
    pub flows: u64,
    pub frames: Vec<u64>,
    pub community_ids: Vec<String>,
    /// Failure events that are part of this finding rather than causes of
    /// their own, by failure class ("tcp.resets": the resets a scan provoked).
    pub explains: BTreeMap<&'static str, u64>,
    /// Every flow whose failures this finding explains (raw Community IDs,
    /// sorted, not capped): fronts show those failures under the finding.
    pub explained_flows: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    Errors,
    Performance,
    Dns,
    Security,
}

pub type RuleFn = fn(&RuleCtx<'_>, &mut Vec<Finding>);

/// Every rule, in a fixed order (part of determinism; ties keep this order).
pub const RULES: &[(&str, RuleFn)] = &[
    ("port_scan", port_scan),
    ("resets_from_server", resets_from_server),
    ("unanswered_syns", unanswered_syns),
    ("dns_errors", dns_errors),
    ("dns_unanswered", dns_unanswered),
    ("retransmissions_on_path", retransmissions_on_path),
    ("http_errors", http_errors),
    ("tls_alerts", tls_alerts),
    ("quic_unanswered", quic_unanswered),
];

/// Evidence weight: grows with the count (logarithmically) and the share.
fn score(base: f64, count: u64, share: Option<f64>) -> f64 {
    base * (1.0 + (count as f64).ln_1p()) * (0.5 + share.unwrap_or(0.5))
}

pub fn endpoint(addr: &str, port: u16) -> String {
    crate::decode::endpoint(addr, Some(port))
}

/// Address part of "addr:port" / "[v6]:port" / "addr".
fn host_of(ep: &str) -> &str {
    if let Some(rest) = ep.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match ep.rsplit_once(':') {
        Some((a, p)) if !a.contains(':') && p.parse::<u16>().is_ok() => a,
        _ => ep,
    }
}

/// Collects evidence for one group.
#[derive(Default)]
struct Group {
    count: u64,
    frames: BTreeSet<u64>,
    cids: BTreeSet<String>,
    names: BTreeSet<String>,
    extra: u64,
}

impl Group {
    /// One event, cited by its frame and flow.
    fn cite(&mut self, evidence: &Evidence) {
        self.add(Some(evidence.frame), &evidence.community_id);
    }

    fn add(&mut self, frame: Option<u64>, cid: &str) {
        self.count += 1;
        if let Some(f) = frame {
            self.frames.insert(f);
        }
        if !cid.is_empty() {
            self.cids.insert(cid.to_string());
        }
    }

    fn frames(&self) -> Vec<u64> {
        self.frames.iter().take(MAX_CITED_FRAMES).copied().collect()
    }

    fn cids(&self) -> Vec<String> {
        self.cids.iter().take(MAX_CITED_FLOWS).cloned().collect()
    }
}

/// " (SNI a, b)" after a summary, when there are names.
fn push_snis(summary: &mut Vec<Part>, names: &BTreeSet<String>) {
    if names.is_empty() {
        return;
    }
    summary.push(text(" (SNI "));
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            summary.push(text(", "));
        }
        summary.push(Part::Name(n.clone()));
    }
    summary.push(text(")"));
}

fn text(t: impl Into<String>) -> Part {
    Part::Text(t.into())
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn is_tcp(f: &FlowSummary) -> bool {
    f.transport == "tcp"
}

/// Reset by the server: refused (REJ) or torn down by the responder.
fn reset_by_responder(f: &FlowSummary) -> bool {
    matches!(f.conn_state.as_str(), "REJ" | "RSTR" | "RSTRH")
}

fn resets_from_server(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    // Exact RST frames from the TCP detector, when it ran.
    let mut rst_frame: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &ctx.report.failures.tcp.resets.instances {
        rst_frame.entry(r.community_id.as_str()).or_insert(r.frame);
    }
    let mut by_server: BTreeMap<String, (u64, Group)> = BTreeMap::new();
    for f in ctx.report.flows.iter().filter(|f| is_tcp(f)) {
        let e = by_server
            .entry(endpoint(&f.resp_addr, f.resp_port))
            .or_default();
        e.0 += 1;
        if reset_by_responder(f) {
            let frame = rst_frame
                .get(f.community_id.as_str())
                .copied()
                .unwrap_or(f.last_frame);
            e.1.add(Some(frame), &f.community_id);
            if f.conn_state == "REJ" {
                e.1.extra += 1;
            }
        }
    }
    for (server, (flows, g)) in by_server {
        if g.count < 3 {
            continue;
        }
        let share = g.count as f64 / flows as f64;
        out.push(Finding {
            rule: "resets_from_server",
            category: Category::Errors,
            score: score(3.0, g.count, Some(share)),
            summary: vec![
                text(format!(
                    "TCP resets from the server: {} of {} connections to ",
                    g.count, flows
                )),
                Part::Endpoint(server.clone()),
                text(format!(
                    " ({}) were reset by the server ({} refused at the handshake, {} aborted later)",
                    pct(share),
                    g.extra,
                    g.count - g.extra
                )),
            ],
            endpoint: server,
            count: g.count,
            share: Some(share),
            flows: g.count,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: BTreeMap::new(),
            explained_flows: Vec::new(),
        });
    }
}

fn unanswered_syns(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    let mut by_server: BTreeMap<String, (u64, Group)> = BTreeMap::new();
    for f in ctx.report.flows.iter().filter(|f| is_tcp(f)) {
        let e = by_server
            .entry(endpoint(&f.resp_addr, f.resp_port))
            .or_default();
        e.0 += 1;
        if f.conn_state == "S0" && f.resp_packets == 0 {
            e.1.add(Some(f.first_frame), &f.community_id);
        }
    }
    for (server, (flows, g)) in by_server {
        if g.count < 3 {
            continue;
        }
        let share = g.count as f64 / flows as f64;
        out.push(Finding {
            rule: "unanswered_syns",
            category: Category::Errors,
            score: score(2.5, g.count, Some(share)),
            summary: vec![
                text(format!(
                    "Unanswered SYNs: {} of {flows} connection attempts to ",
                    g.count
                )),
                Part::Endpoint(server.clone()),
                text(format!(
                    " ({}) got no reply (filtered, down or unreachable)",
                    pct(share)
                )),
            ],
            endpoint: server,
            count: g.count,
            share: Some(share),
            flows: g.count,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: BTreeMap::new(),
            explained_flows: Vec::new(),
        });
    }
}

/// Port scans as the scan detector found them (`findings.scans`: one
/// definition of a scan in the product): each vertical scan, with the probe
/// connections to its target that were refused or went unanswered (the flow
/// list) as its evidence.
fn port_scan(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    for scan in &ctx.report.findings.scans.scans {
        if scan.pattern != "vertical" {
            continue;
        }
        let Some(target) = scan.targets.first() else {
            continue;
        };
        let mut g = Group::default();
        let mut explained = Explained::default();
        for f in ctx
            .report
            .flows
            .iter()
            .filter(|f| is_tcp(f) && f.orig_addr == scan.scanner && f.resp_addr == *target)
        {
            if matches!(
                f.conn_state.as_str(),
                "REJ" | "S0" | "RSTOS0" | "RSTO" | "SH" | "OTH"
            ) {
                g.add(Some(f.first_frame), &f.community_id);
                explained.probe(f);
            }
        }
        let ports = scan.port_count;
        let share = (g.count as f64 / ports.max(1) as f64).min(1.0);
        let transport = if scan.scan_types.iter().all(|t| t == "udp") {
            "UDP"
        } else if scan.scan_types.iter().any(|t| t == "udp") {
            "TCP/UDP"
        } else {
            "TCP"
        };
        out.push(Finding {
            rule: "port_scan",
            category: Category::Security,
            score: score(4.0, ports, Some(share)),
            summary: vec![
                text("Port scan: "),
                Part::Endpoint(scan.scanner.clone()),
                text(format!(" probed {ports} {transport} ports of ")),
                Part::Endpoint(target.clone()),
                text(format!(
                    " ({} probe connections refused or unanswered)",
                    g.count
                )),
            ],
            endpoint: target.clone(),
            count: ports,
            share: Some(share),
            flows: g.count,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: explained.counts,
            explained_flows: explained.flows.into_iter().collect(),
        });
    }
}

/// The failures a scan's probe connections provoked: the target's resets of
/// refused probes and the SYNs that got nothing back. They are the scan's
/// doing, not faults of the target, so they are counted under the scan.
#[derive(Default)]
struct Explained {
    counts: BTreeMap<&'static str, u64>,
    flows: BTreeSet<String>,
}

impl Explained {
    fn probe(&mut self, f: &FlowSummary) {
        // Zeek history: 'r' a RST from the responder, 'R' from the originator
        // (each letter once per direction; the TCP detector counts RST frames,
        // which a probe sends one of).
        let resets = f.history.contains('r') as u64 + f.history.contains('R') as u64;
        let mut any = false;
        if resets > 0 {
            *self.counts.entry("tcp.resets").or_default() += resets;
            any = true;
        }
        // As the TCP detector's `unanswered_syns`: a SYN and nothing back.
        if f.conn_state == "S0" && f.resp_packets == 0 {
            *self.counts.entry("tcp.unanswered_syns").or_default() += 1;
            any = true;
        }
        if any && !f.community_id.is_empty() {
            self.flows.insert(f.community_id.clone());
        }
    }
}

/// Longest common label suffix of names, as "*.suffix" (or the one name).
fn common_domain(names: &BTreeSet<String>) -> Option<String> {
    let mut iter = names.iter();
    let first: Vec<&str> = iter.next()?.trim_end_matches('.').rsplit('.').collect();
    if names.len() == 1 {
        return Some(names.iter().next()?.clone());
    }
    let mut common = first.len();
    for n in iter {
        let labels: Vec<&str> = n.trim_end_matches('.').rsplit('.').collect();
        common = common.min(
            first
                .iter()
                .zip(&labels)
                .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                .count(),
        );
    }
    (common >= 2).then(|| {
        let mut suffix: Vec<&str> = first[..common].to_vec();
        suffix.reverse();
        format!("*.{}", suffix.join("."))
    })
}

fn dns_errors(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    let dns = &ctx.report.failures.dns;
    let responses = Some(dns.responses);
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for e in &dns.error_responses.instances {
        let g = groups
            .entry((e.server.clone(), e.rcode_name.clone()))
            .or_default();
        g.cite(&e.evidence);
        if !e.qname.is_empty() && g.names.len() < 50 {
            g.names.insert(e.qname.clone());
        }
    }
    // Instances are capped: scale each group to the section's total.
    let listed: u64 = groups.values().map(|g| g.count).sum();
    let total = dns.error_responses.total.max(listed);
    for ((server, rcode), g) in groups {
        let count = if listed > 0 {
            (g.count as f64 * total as f64 / listed as f64).round() as u64
        } else {
            g.count
        };
        // The DNS section names rcodes as Wireshark does ("ServFail", "NXDomain").
        let base = match rcode.to_ascii_uppercase().as_str() {
            "SERVFAIL" => 3.2,
            "REFUSED" => 2.2,
            "NXDOMAIN" => 1.2,
            _ => 1.5,
        };
        let share = responses.map(|r| (count as f64 / r.max(1) as f64).min(1.0));
        let mut summary = vec![
            // RFC mnemonics (SERVFAIL, NXDOMAIN) read best in a diagnosis.
            text(format!(
                "DNS {}: {count} responses from resolver ",
                rcode.to_ascii_uppercase()
            )),
            Part::Endpoint(server.clone()),
        ];
        match common_domain(&g.names) {
            Some(d) => {
                summary.push(text(" for "));
                summary.push(Part::Name(d));
            }
            None => {
                summary.push(text(" for names like "));
                for (i, n) in g.names.iter().take(3).enumerate() {
                    if i > 0 {
                        summary.push(text(", "));
                    }
                    summary.push(Part::Name(n.clone()));
                }
            }
        }
        out.push(Finding {
            rule: "dns_errors",
            category: Category::Dns,
            score: score(base, count, share),
            summary,
            endpoint: server,
            count,
            share,
            flows: g.cids.len() as u64,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: BTreeMap::new(),
            explained_flows: Vec::new(),
        });
    }
}

fn dns_unanswered(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for e in &ctx.report.failures.dns.unanswered_queries.instances {
        groups
            .entry(e.server.clone())
            .or_default()
            .cite(&e.evidence);
    }
    for (server, g) in groups {
        if g.count < 2 {
            continue;
        }
        out.push(Finding {
            rule: "dns_unanswered",
            category: Category::Dns,
            score: score(2.0, g.count, None),
            summary: vec![
                text(format!("DNS timeouts: {} queries to resolver ", g.count)),
                Part::Endpoint(server.clone()),
                text(" got no answer"),
            ],
            endpoint: server,
            count: g.count,
            share: None,
            flows: g.cids.len() as u64,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: BTreeMap::new(),
            explained_flows: Vec::new(),
        });
    }
}

fn retransmissions_on_path(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    // Per-flow rates when the TCP detector lists them; else the instances.
    let mut paths: BTreeMap<String, (u64, Group)> = BTreeMap::new();
    let tcp = &ctx.report.failures.tcp;
    let worst = &tcp.retransmission_rate.worst_flows;
    for w in worst {
        let e = paths.entry(w.resp.clone()).or_default();
        e.0 += w.data_segments;
        e.1.count += w.retransmissions;
        e.1.frames.insert(w.first_frame);
        e.1.cids.insert(w.community_id.clone());
    }
    for events in [&tcp.retransmission, &tcp.fast_retransmission] {
        for r in &events.instances {
            let cid = r.community_id.as_str();
            // The sender of a retransmission is the data source; name the
            // server side of its flow when known.
            let server = ctx.server_of(cid).unwrap_or_else(|| r.src.clone());
            let e = paths.entry(server).or_default();
            if worst.is_empty() {
                e.1.count += 1;
            }
            e.1.frames.insert(r.frame);
            if !cid.is_empty() {
                e.1.cids.insert(cid.to_string());
            }
        }
    }
    for (server, (segs, g)) in paths {
        if g.count < 3 || server.is_empty() {
            continue;
        }
        let share = (segs > 0).then(|| (g.count as f64 / segs as f64).min(1.0));
        let mut summary = vec![
            text("TCP retransmissions on the path to "),
            Part::Endpoint(server.clone()),
            text(format!(": {} retransmitted segments", g.count)),
        ];
        if let Some(sh) = share {
            summary.push(text(format!(" ({:.1}% of data segments)", sh * 100.0)));
        }
        summary.push(text(" — packet loss or congestion on this path"));
        out.push(Finding {
            rule: "retransmissions_on_path",
            category: Category::Performance,
            // A few percent of loss already hurts: weigh the share up.
            score: score(2.8, g.count, share.map(|s| (s * 10.0).min(1.0))),
            summary,
            endpoint: server,
            count: g.count,
            share,
            flows: g.cids.len() as u64,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: BTreeMap::new(),
            explained_flows: Vec::new(),
        });
    }
}

fn http_errors(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(String, u16), Group> = BTreeMap::new();
    for e in &ctx.report.failures.http.error_responses.instances {
        // An error response names no server of its own: its flow does.
        let server = ctx.server_of(&e.evidence.community_id).unwrap_or_default();
        let g = groups.entry((server, e.code)).or_default();
        g.cite(&e.evidence);
        if let Some(h) = &e.host {
            if g.names.len() < 3 {
                g.names.insert(h.clone());
            }
        }
    }
    let requests_to = |server: &str| -> u64 {
        // Requests are not split per server in the report; use flows to it.
        ctx.report
            .flows
            .iter()
            .filter(|f| endpoint(&f.resp_addr, f.resp_port) == server)
            .count() as u64
    };
    for ((server, code), g) in groups {
        if server.is_empty() || g.count < 2 {
            continue;
        }
        let base = if code >= 500 { 3.0 } else { 1.0 };
        let flows = requests_to(&server);
        let share = (flows > 0).then(|| (g.cids.len() as f64 / flows as f64).min(1.0));
        let mut summary = vec![
            text(format!("HTTP {code}: {} error responses from ", g.count)),
            Part::Endpoint(server.clone()),
        ];
        if !g.names.is_empty() {
            summary.push(text(" (Host "));
            for (i, n) in g.names.iter().enumerate() {
                if i > 0 {
                    summary.push(text(", "));
                }
                summary.push(Part::Name(n.clone()));
            }
            summary.push(text(")"));
        }
        if code >= 500 {
            summary.push(text(" — the server side fails"));
        }
        out.push(Finding {
            rule: "http_errors",
            category: Category::Errors,
            score: score(base, g.count, share),
            summary,
            endpoint: server,
            count: g.count,
            share,
            flows: g.cids.len() as u64,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: BTreeMap::new(),
            explained_flows: Vec::new(),
        });
    }
}

fn tls_alerts(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for a in &ctx.report.failures.tls.alerts.instances {
        let desc = match (&a.description_name, a.encrypted) {
            (Some(name), _) => name.clone(),
            (None, true) => "encrypted".to_string(),
            (None, false) => "unknown".to_string(),
        };
        let g = groups.entry((a.from.clone(), desc)).or_default();
        g.cite(&a.evidence);
        if let Some(sni) = &a.sni {
            if g.names.len() < 3 {
                g.names.insert(sni.clone());
            }
        }
    }
    for ((from, desc), g) in groups {
        let base = if desc == "close_notify" || desc == "encrypted" {
            0.5
        } else {
            2.4
        };
        let mut summary = vec![
            text(format!("TLS alert {desc}: {} alerts sent by ", g.count)),
            Part::Endpoint(from.clone()),
        ];
        push_snis(&mut summary, &g.names);
        out.push(Finding {
            rule: "tls_alerts",
            category: Category::Errors,
            score: score(base, g.count, None),
            summary,
            endpoint: host_of(&from).to_string(),
            count: g.count,
            share: None,
            flows: g.cids.len() as u64,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: BTreeMap::new(),
            explained_flows: Vec::new(),
        });
    }
}

/// QUIC connection attempts that got nothing back, by server: UDP filtered
/// on the path, or no QUIC server (clients then fall back to TCP, slower).
fn quic_unanswered(ctx: &RuleCtx<'_>, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for u in &ctx.report.failures.quic.unanswered_connections.instances {
        let server = ctx.server_of(&u.evidence.community_id).unwrap_or_default();
        let g = groups.entry(server).or_default();
        g.cite(&u.evidence);
        g.extra += u.client_initials;
        if let Some(sni) = &u.sni {
            if g.names.len() < 3 {
                g.names.insert(sni.clone());
            }
        }
    }
    for (server, g) in groups {
        let mut summary = vec![text(format!(
            "QUIC unanswered: {} connection attempts ({} Initial packets) to ",
            g.count, g.extra
        ))];
        summary.push(if server.is_empty() {
            text("a server")
        } else {
            Part::Endpoint(server.clone())
        });
        push_snis(&mut summary, &g.names);
        summary.push(text(
            " got no datagram back: UDP filtered on the path, or no QUIC server (clients fall back to TCP)",
        ));
        out.push(Finding {
            rule: "quic_unanswered",
            category: Category::Errors,
            score: score(2.0, g.count, None),
            summary,
            endpoint: host_of(&server).to_string(),
            count: g.count,
            share: None,
            flows: g.cids.len() as u64,
            frames: g.frames(),
            community_ids: g.cids(),
            explains: BTreeMap::new(),
            explained_flows: Vec::new(),
        });
    }
}

/// Sum of every `Counted` total under `failures` (the "L" of the coverage line).
pub fn failure_events(doc: &Value) -> u64 {
    fn walk(v: &Value) -> u64 {
        match v {
            Value::Object(m) => {
                if let (Some(t), Some(_)) = (
                    m.get("total").and_then(Value::as_u64),
                    m.get("instances").and_then(Value::as_array),
                ) {
                    return t;
                }
                m.values().map(walk).sum()
            }
            _ => 0,
        }
    }
    doc.get("failures").map(walk).unwrap_or(0)
}

/// Every non-zero `Counted` total under `failures`, as ("tcp.resets", n).
pub fn failure_totals(doc: &Value) -> Vec<(String, u64)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, u64)>) {
        if let Value::Object(m) = v {
            if let (Some(t), Some(_)) = (
                m.get("total").and_then(Value::as_u64),
                m.get("instances").and_then(Value::as_array),
            ) {
                if t > 0 {
                    out.push((prefix.to_string(), t));
                }
                return;
            }
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&p, v, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Some(f) = doc.get("failures") {
        walk("", f, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_domain_finds_suffix() {
        let names: BTreeSet<String> = ["a.internal.example.org", "b.c.internal.example.org"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            common_domain(&names).as_deref(),
            Some("*.internal.example.org")
        );
        let apart: BTreeSet<String> = ["a.com", "b.net"].iter().map(|s| s.to_string()).collect();
        assert_eq!(common_domain(&apart), None);
    }

    #[test]
    fn host_of_strips_ports() {
        assert_eq!(host_of("10.0.0.1:53"), "10.0.0.1");
        assert_eq!(host_of("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(host_of("2001:db8::1"), "2001:db8::1");
    }
}
