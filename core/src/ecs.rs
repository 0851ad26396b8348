//! Elastic Common Schema (ECS) documents: the engine's events as the
//! documents Elastic's Suricata integration makes of EVE, so an Elastic
//! stack (or anything that speaks ECS) takes pcaplens' output without an
//! ingest pipeline. Pure, like [`crate::eve`] — a sibling formatter built on
//! it: the same roles (source and destination of an alert), signatures and
//! flow states, then mapped to ECS field names.
//!
//! - [`alert_document`]: `event.kind: "alert"`, `event.category:
//!   ["network", "intrusion_detection"]`, `rule.*` from the signature.
//! - [`flow_document`]: `event.kind: "event"`, `event.category: ["network"]`,
//!   `event.type: ["connection", "end"]`, bytes and packets per side.
//! - [`stats_document`]: `event.kind: "metric"` with the live counters.
//! - [`EcsWriter`]: engine events in, one document each out (as
//!   [`crate::eve::EveWriter`], whose `flow.alerted` bookkeeping it reuses).
//!
//! Every field outside `pcaplens.*` is an ECS field of the version in
//! [`ECS_VERSION`] with the type ECS gives it (checked against Elastic's
//! field definitions in `tests/schemas/ecs/`); pcaplens' own values go under
//! the custom `pcaplens` object, as ECS asks of custom fields. Keys are
//! sorted (serde_json's map): same events, same bytes. Field by field:
//! `docs/ecs.md`.

use crate::engine::{Event, FindingEvent};
use crate::eve::{self, EveWriter, StatsCounters};
use crate::report::FlowSummary;
use crate::time::{nanos_from_secs, rfc3339};
use serde_json::{json, Map, Value};

/// The ECS version the documents follow (`ecs.version`).
pub const ECS_VERSION: &str = "8.17.0";

/// `event.module` of every document, and the prefix of `event.dataset`.
pub const MODULE: &str = "pcaplens";

/// ECS's `network.transport` (lower-case IANA keyword) and
/// `network.iana_number` for the report's transport name.
fn transport(t: &str) -> Option<(&'static str, u8)> {
    Some(match t {
        "tcp" => ("tcp", 6),
        "udp" => ("udp", 17),
        "icmp" => ("icmp", 1),
        "icmpv6" => ("ipv6-icmp", 58),
        "sctp" => ("sctp", 132),
        _ => return None,
    })
}

/// EVE's `proto` back to the report's transport name.
fn transport_of_eve(proto: &str) -> Option<&'static str> {
    Some(match proto {
        "TCP" => "tcp",
        "UDP" => "udp",
        "ICMP" => "icmp",
        "IPv6-ICMP" => "icmpv6",
        "SCTP" => "sctp",
        _ => return None,
    })
}

/// `source`/`destination`: `ip`, `address` and `port` when known.
fn end(ip: Option<&Value>, port: Option<&Value>) -> Option<Map<String, Value>> {
    let ip = ip?.as_str()?;
    let mut m = Map::new();
    m.insert("ip".into(), ip.into());
    m.insert("address".into(), ip.into());
    if let Some(p) = port.and_then(Value::as_u64) {
        m.insert("port".into(), p.into());
    }
    Some(m)
}

/// The `network` object: transport, IANA number, IP version, Community ID,
/// application protocol, VLAN.
fn network(
    transport_name: Option<&str>,
    ip_version: Option<u64>,
    community_id: &str,
    app_proto: Option<&str>,
    vlan: Option<u16>,
) -> Map<String, Value> {
    let mut n = Map::new();
    if let Some((t, iana)) = transport_name.and_then(transport) {
        n.insert("transport".into(), t.into());
        n.insert("iana_number".into(), iana.to_string().into());
    }
    match ip_version {
        Some(4) => {
            n.insert("type".into(), "ipv4".into());
        }
        Some(6) => {
            n.insert("type".into(), "ipv6".into());
        }
        _ => {}
    }
    if !community_id.is_empty() {
        n.insert("community_id".into(), community_id.into());
    }
    if let Some(p) = app_proto {
        n.insert("protocol".into(), p.to_ascii_lowercase().into());
    }
    if let Some(v) = vlan {
        n.insert("vlan".into(), json!({ "id": v.to_string() }));
    }
    n
}

fn observer() -> Value {
    json!({"product": "pcaplens", "vendor": "pcaplens", "type": "ids"})
}

/// The ECS document of a finding: an alert.
pub fn alert_document(f: &FindingEvent) -> Value {
    let e = eve::alert_event(f);
    let sig = eve::signature(f.kind, &f.detail);
    let mut d = Map::new();
    d.insert("@timestamp".into(), rfc3339(nanos_from_secs(f.ts)).into());
    d.insert("ecs".into(), json!({ "version": ECS_VERSION }));
    d.insert("message".into(), f.summary.clone().into());
    d.insert(
        "event".into(),
        json!({
            "kind": "alert",
            "category": ["network", "intrusion_detection"],
            // Suricata's alert.action "allowed", as Elastic maps it.
            "type": ["allowed"],
            "severity": sig.severity,
            "module": MODULE,
            "dataset": format!("{MODULE}.alert"),
            "action": f.kind,
        }),
    );
    d.insert(
        "rule".into(),
        json!({
            "id": sig.id.to_string(),
            "name": sig.signature,
            "category": sig.category,
            "ruleset": MODULE,
            "version": eve::REV.to_string(),
        }),
    );
    d.insert("observer".into(), observer());
    if let Some(s) = end(e.get("src_ip"), e.get("src_port")) {
        d.insert("source".into(), Value::Object(s));
    }
    match end(e.get("dest_ip"), e.get("dest_port")) {
        Some(m) => {
            d.insert("destination".into(), Value::Object(m));
        }
        // A horizontal scan names a port but no one host.
        None => {
            if let Some(p) = e.get("dest_port").and_then(Value::as_u64) {
                d.insert("destination".into(), json!({ "port": p }));
            }
        }
    }
    let net = network(
        e.get("proto")
            .and_then(Value::as_str)
            .and_then(transport_of_eve),
        e.get("ip_v").and_then(Value::as_u64),
        &f.community_id,
        e.get("app_proto").and_then(Value::as_str),
        None,
    );
    if !net.is_empty() {
        d.insert("network".into(), Value::Object(net));
    }
    let mut finding = Map::new();
    finding.insert("kind".into(), f.kind.into());
    if f.frame > 0 {
        finding.insert("frame".into(), f.frame.into());
    }
    finding.insert("detail".into(), f.detail.clone());
    let mut own = Map::new();
    own.insert("finding".into(), Value::Object(finding));
    if let Some(id) = e.get("flow_id") {
        own.insert("flow_id".into(), id.clone());
    }
    d.insert("pcaplens".into(), Value::Object(own));
    Value::Object(d)
}

/// The ECS document of an ended flow. `alerted`: whether an alert named it.
pub fn flow_document(f: &FlowSummary, alerted: bool) -> Value {
    let start = nanos_from_secs(f.first_ts);
    let end_ns = nanos_from_secs(f.last_ts);
    let ported = matches!(f.transport.as_str(), "tcp" | "udp" | "sctp");
    let side = |ip: &str, port: u16, bytes: u64, packets: u64| {
        let mut m = Map::new();
        m.insert("ip".into(), ip.into());
        m.insert("address".into(), ip.into());
        if ported {
            m.insert("port".into(), port.into());
        }
        m.insert("bytes".into(), bytes.into());
        m.insert("packets".into(), packets.into());
        Value::Object(m)
    };
    let mut d = Map::new();
    d.insert("@timestamp".into(), rfc3339(start).into());
    d.insert("ecs".into(), json!({ "version": ECS_VERSION }));
    d.insert(
        "event".into(),
        json!({
            "kind": "event",
            "category": ["network"],
            "type": ["connection", "end"],
            "module": MODULE,
            "dataset": format!("{MODULE}.flow"),
            "start": rfc3339(start),
            "end": rfc3339(end_ns),
            "duration": (end_ns - start).max(0),
        }),
    );
    d.insert("observer".into(), observer());
    d.insert(
        "source".into(),
        side(&f.orig_addr, f.orig_port, f.orig_bytes, f.orig_packets),
    );
    d.insert(
        "destination".into(),
        side(&f.resp_addr, f.resp_port, f.resp_bytes, f.resp_packets),
    );
    let version = if f.orig_addr.contains(':') { 6 } else { 4 };
    let mut net = network(
        Some(&f.transport),
        Some(version),
        &f.community_id,
        f.service.as_deref(),
        f.vlan,
    );
    net.insert("bytes".into(), (f.orig_bytes + f.resp_bytes).into());
    net.insert("packets".into(), (f.orig_packets + f.resp_packets).into());
    d.insert("network".into(), Value::Object(net));
    let mut flow = Map::new();
    flow.insert("id".into(), f.id.into());
    flow.insert("transport".into(), f.transport.clone().into());
    flow.insert("conn_state".into(), f.conn_state.clone().into());
    if !f.history.is_empty() {
        flow.insert("history".into(), f.history.clone().into());
    }
    flow.insert("end_reason".into(), f.end_reason.clone().into());
    flow.insert("first_frame".into(), f.first_frame.into());
    flow.insert("last_frame".into(), f.last_frame.into());
    flow.insert("alerted".into(), alerted.into());
    if let Some(t) = f.icmp_type {
        flow.insert("icmp_type".into(), t.into());
    }
    if let Some(c) = f.icmp_code {
        flow.insert("icmp_code".into(), c.into());
    }
    d.insert("pcaplens".into(), json!({ "flow": flow }));
    Value::Object(d)
}

/// A `metric` document at `now_nanos` (the caller's clock) with the live
/// counters (`pcaplens.stats`, as EVE's `stats` object).
pub fn stats_document(now_nanos: i64, c: &StatsCounters) -> Value {
    let eve = eve::stats_event(now_nanos, c);
    json!({
        "@timestamp": rfc3339(now_nanos),
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "metric",
            "module": MODULE,
            "dataset": format!("{MODULE}.stats"),
        },
        "observer": observer(),
        "pcaplens": {"stats": eve["stats"].clone()},
    })
}

/// The engine's events in, ECS documents out, in event order: a flow
/// document per ended flow, an alert per finding, nothing for a failure.
#[derive(Clone, Debug, Default)]
pub struct EcsWriter {
    /// Keeps which flows alerted (`pcaplens.flow.alerted`).
    eve: EveWriter,
    pcap_filename: Option<String>,
}

impl EcsWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Name every document's capture file (`pcaplens.pcap_filename`).
    pub fn with_pcap_filename(mut self, name: impl Into<String>) -> Self {
        self.pcap_filename = Some(name.into());
        self
    }

    /// The ECS document of an engine event (`None`: it has none).
    pub fn event(&mut self, event: &Event) -> Option<Value> {
        // Through the EVE writer for its bookkeeping of alerted flows.
        let eve = self.eve.event(event)?;
        let mut v = match event {
            Event::FlowEnded(f) => flow_document(f, eve["flow"]["alerted"] == true),
            Event::Finding(f) => alert_document(f),
            Event::Failure(_) => return None,
        };
        if let (Some(name), Some(own)) = (
            &self.pcap_filename,
            v.get_mut("pcaplens").and_then(Value::as_object_mut),
        ) {
            own.insert("pcap_filename".into(), name.clone().into());
        }
        Some(v)
    }

    /// The ECS line (without the newline) of an engine event.
    pub fn line(&mut self, event: &Event) -> Option<String> {
        self.event(event).map(|v| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> FindingEvent {
        FindingEvent {
            kind: "blocklist",
            frame: 3,
            ts: 1_452_286_755.5,
            community_id: "1:abc".into(),
            summary: "10.0.0.1 contacted blocklisted 203.0.113.66".into(),
            detail: json!({"matched_in": "dst_addr", "orig": "10.0.0.1:40000",
                "resp": "203.0.113.66:443", "transport": "tcp", "indicator": "203.0.113.66"}),
        }
    }

    #[test]
    fn alert_fields() {
        let v = alert_document(&finding());
        assert_eq!(v["@timestamp"], "2016-01-08T20:59:15.500000000Z");
        assert_eq!(v["event"]["kind"], "alert");
        assert_eq!(
            v["event"]["category"],
            json!(["network", "intrusion_detection"])
        );
        assert_eq!(v["rule"]["id"], "9000011");
        assert_eq!(v["event"]["severity"], 1);
        assert_eq!(v["source"]["ip"], "10.0.0.1");
        assert_eq!(v["source"]["port"], 40000);
        assert_eq!(v["destination"]["ip"], "203.0.113.66");
        assert_eq!(v["destination"]["port"], 443);
        assert_eq!(v["network"]["transport"], "tcp");
        assert_eq!(v["network"]["iana_number"], "6");
        assert_eq!(v["network"]["community_id"], "1:abc");
        assert_eq!(v["pcaplens"]["finding"]["frame"], 3);
    }

    #[test]
    fn horizontal_scan_has_a_destination_port_only() {
        let f = FindingEvent {
            kind: "scan",
            detail: json!({"scanner": "10.0.0.9", "pattern": "horizontal",
                "transport": "tcp", "port": 22, "target": null}),
            ..finding()
        };
        let v = alert_document(&f);
        assert_eq!(v["destination"], json!({"port": 22}));
        assert_eq!(v["source"]["ip"], "10.0.0.9");
    }
}
