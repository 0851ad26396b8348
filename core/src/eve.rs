//! Suricata EVE JSON: the engine's events as the lines Suricata writes, so
//! a SIEM that reads Suricata (Elastic, Splunk, Sentinel, Wazuh…) reads
//! pcaplens too. Pure: builds `serde_json` values and strings, no I/O.
//!
//! - [`flow_event`]: `event_type: "flow"` from an ended flow ([`FlowSummary`]).
//! - [`alert_event`]: `event_type: "alert"` from a finding ([`FindingEvent`]),
//!   with a fixed signature id per kind ([`SIGNATURES`]).
//! - [`stats_event`]: `event_type: "stats"` from counters the caller passes in.
//! - [`EveWriter`]: the engine's [`Event`]s in, one line each out (failures
//!   give no line), remembering which live flows alerted (`flow.alerted`).
//!
//! Every line validates against Suricata's schema (`etc/schema.json`, test
//! data in `tests/schemas/`). The schema allows no keys of our own at the top
//! level nor in `flow`/`tcp`; pcaplens' own fields go where it allows them:
//! `alert.metadata` (arrays of strings) and `metadata.flowvars` (flow
//! variables, `{key, value}`). Keys are sorted (serde_json's map), so the
//! same events give the same bytes. Field by field: `docs/eve.md`.

use crate::engine::{Event, FindingEvent};
use crate::report::FlowSummary;
use crate::time::{nanos_from_secs, suricata};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// `alert.gid` of every pcaplens alert (Suricata's generator id of rules).
pub const GID: u64 = 1;
/// `alert.rev` of every pcaplens signature.
pub const REV: u64 = 1;

/// A pcaplens signature: what `alert.signature_id`, `alert.signature`,
/// `alert.category` and `alert.severity` say for one kind of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Signature {
    /// In 9000000–9000099, reserved for pcaplens.
    pub id: u64,
    /// The finding kind (`FindingEvent::kind`) and, where the id tells them
    /// apart, its variant (scan pattern, blocklist place, mismatch kind).
    pub kind: &'static str,
    pub variant: &'static str,
    pub signature: &'static str,
    /// A Suricata classtype's description (`classification.config`).
    pub category: &'static str,
    /// 1 (high) … 3 (low), as Suricata's priorities.
    pub severity: u8,
}

const RECON: &str = "Attempted Information Leak";
const BAD: &str = "Potentially Bad Traffic";
const MISC: &str = "Misc activity";
const NON_STANDARD: &str = "Detection of a non-standard protocol or event";

const fn sig(
    id: u64,
    kind: &'static str,
    variant: &'static str,
    signature: &'static str,
    category: &'static str,
    severity: u8,
) -> Signature {
    Signature {
        id,
        kind,
        variant,
        signature,
        category,
        severity,
    }
}

/// Every signature pcaplens writes, in id order (the table of `docs/eve.md`).
/// A variant of "" matches any other variant of its kind; the last entry
/// catches kinds this build does not know.
pub const SIGNATURES: &[Signature] = &[
    sig(
        9000001,
        "scan",
        "vertical",
        "PCAPLENS SCAN vertical port scan (one host, many ports)",
        RECON,
        2,
    ),
    sig(
        9000002,
        "scan",
        "horizontal",
        "PCAPLENS SCAN horizontal scan (one port, many hosts)",
        RECON,
        2,
    ),
    sig(
        9000003,
        "scan",
        "ping_sweep",
        "PCAPLENS SCAN ICMP ping sweep",
        RECON,
        2,
    ),
    sig(9000009, "scan", "", "PCAPLENS SCAN scan", RECON, 2),
    sig(
        9000010,
        "blocklist",
        "src_addr",
        "PCAPLENS BLOCKLIST source address on blocklist",
        BAD,
        1,
    ),
    sig(
        9000011,
        "blocklist",
        "dst_addr",
        "PCAPLENS BLOCKLIST destination address on blocklist",
        BAD,
        1,
    ),
    sig(
        9000012,
        "blocklist",
        "dns_query",
        "PCAPLENS BLOCKLIST DNS query for blocklisted name",
        BAD,
        1,
    ),
    sig(
        9000013,
        "blocklist",
        "dns_answer",
        "PCAPLENS BLOCKLIST DNS answer with blocklisted name or address",
        BAD,
        1,
    ),
    sig(
        9000014,
        "blocklist",
        "tls_sni",
        "PCAPLENS BLOCKLIST TLS SNI of blocklisted name",
        BAD,
        1,
    ),
    sig(
        9000015,
        "blocklist",
        "http_host",
        "PCAPLENS BLOCKLIST HTTP Host of blocklisted name",
        BAD,
        1,
    ),
    sig(
        9000019,
        "blocklist",
        "",
        "PCAPLENS BLOCKLIST blocklisted indicator",
        BAD,
        1,
    ),
    sig(
        9000020,
        "unusual_port",
        "",
        "PCAPLENS POLICY server on unusual port",
        MISC,
        3,
    ),
    sig(
        9000030,
        "long_lived",
        "",
        "PCAPLENS INFO long-lived connection",
        MISC,
        3,
    ),
    sig(
        9000040,
        "protocol_mismatch",
        "http_on_non_standard_port",
        "PCAPLENS PROTOCOL HTTP on non-standard port",
        NON_STANDARD,
        2,
    ),
    sig(
        9000041,
        "protocol_mismatch",
        "non_http_on_port_80",
        "PCAPLENS PROTOCOL non-HTTP traffic on port 80",
        NON_STANDARD,
        2,
    ),
    sig(
        9000042,
        "protocol_mismatch",
        "tls_on_non_standard_port",
        "PCAPLENS PROTOCOL TLS on non-standard port",
        NON_STANDARD,
        2,
    ),
    sig(
        9000043,
        "protocol_mismatch",
        "non_tls_on_port_443",
        "PCAPLENS PROTOCOL non-TLS traffic on port 443",
        NON_STANDARD,
        2,
    ),
    sig(
        9000049,
        "protocol_mismatch",
        "",
        "PCAPLENS PROTOCOL protocol does not fit its port",
        NON_STANDARD,
        2,
    ),
    sig(
        9000050,
        "burst",
        "resets",
        "PCAPLENS TCP burst of resets from one host",
        BAD,
        2,
    ),
    sig(
        9000051,
        "burst",
        "unanswered_syns",
        "PCAPLENS TCP burst of unanswered connection attempts to one host",
        BAD,
        2,
    ),
    sig(9000059, "burst", "", "PCAPLENS TCP burst", BAD, 2),
    sig(9000099, "", "", "PCAPLENS unclassified finding", MISC, 3),
];

/// The signature of a finding: by its kind and the variant its detail names
/// (`pattern` of a scan, `matched_in` of a blocklist hit, `kind` of a
/// protocol mismatch).
pub fn signature(kind: &str, detail: &Value) -> &'static Signature {
    let key = match kind {
        "scan" => "pattern",
        "blocklist" => "matched_in",
        "protocol_mismatch" | "burst" => "kind",
        _ => "",
    };
    let variant = detail.get(key).and_then(Value::as_str).unwrap_or("");
    SIGNATURES
        .iter()
        .find(|s| s.kind == kind && s.variant == variant && !variant.is_empty())
        .or_else(|| {
            SIGNATURES
                .iter()
                .find(|s| s.kind == kind && s.variant.is_empty())
        })
        .unwrap_or(&SIGNATURES[SIGNATURES.len() - 1])
}

/// EVE's `proto` for the report's transport name ("tcp" → "TCP", "icmpv6" →
/// "IPv6-ICMP"); `None` for "other" (the protocol number is not kept).
pub fn proto_name(transport: &str) -> Option<&'static str> {
    Some(match transport {
        "tcp" => "TCP",
        "udp" => "UDP",
        "icmp" => "ICMP",
        "icmpv6" => "IPv6-ICMP",
        "sctp" => "SCTP",
        _ => return None,
    })
}

fn has_ports(transport: &str) -> bool {
    matches!(transport, "tcp" | "udp" | "sctp")
}

fn ip_version(addr: &str) -> u64 {
    if addr.contains(':') {
        6
    } else {
        4
    }
}

/// TCP flag letters of the report ("SAF") as Suricata's byte.
fn flag_bits(letters: &str) -> u8 {
    letters.chars().fold(0, |acc, c| {
        acc | match c {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' => 0x40,
            'C' => 0x80,
            _ => 0,
        }
    })
}

/// Suricata's flow state (`new`, `established`, `closed`) for a flow that
/// ended in this Zeek `conn_state`; `both` says whether both sides sent.
fn flow_state(transport: &str, conn_state: &str, both: bool) -> &'static str {
    if transport == "tcp" {
        match conn_state {
            "SF" | "REJ" | "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" => "closed",
            "S1" | "S2" | "S3" => "established",
            "OTH" if both => "established",
            _ => "new",
        }
    } else if both {
        "established"
    } else {
        "new"
    }
}

/// Suricata's TCP session state at the end, where the Zeek state tells it.
fn tcp_state(conn_state: &str) -> Option<&'static str> {
    Some(match conn_state {
        "S0" => "syn_sent",
        "S1" => "established",
        "S2" | "S3" => "fin_wait1",
        "SF" | "REJ" | "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" => "closed",
        _ => return None,
    })
}

/// Suricata's `flow.reason` for the report's `end_reason`.
fn end_reason(reason: &str) -> &'static str {
    match reason {
        // A closed flow that stayed quiet: Suricata's closed-state timeout.
        "idle_timeout" | "closed" => "timeout",
        "evicted" => "forced",
        "port_reuse" => "tcp_reuse",
        "capture_end" => "shutdown",
        _ => "unknown",
    }
}

/// The `flow` event of an ended flow. `alerted`: whether an alert named
/// this flow before it ended.
pub fn flow_event(f: &FlowSummary, alerted: bool) -> Value {
    let mut e = Map::new();
    e.insert(
        "timestamp".into(),
        suricata(nanos_from_secs(f.first_ts)).into(),
    );
    e.insert("event_type".into(), "flow".into());
    e.insert("flow_id".into(), f.id.into());
    e.insert("src_ip".into(), f.orig_addr.clone().into());
    e.insert("dest_ip".into(), f.resp_addr.clone().into());
    e.insert("ip_v".into(), ip_version(&f.orig_addr).into());
    if has_ports(&f.transport) {
        e.insert("src_port".into(), f.orig_port.into());
        e.insert("dest_port".into(), f.resp_port.into());
    }
    if let Some(p) = proto_name(&f.transport) {
        e.insert("proto".into(), p.into());
    }
    if let Some(t) = f.icmp_type {
        e.insert("icmp_type".into(), t.into());
    }
    if let Some(c) = f.icmp_code {
        e.insert("icmp_code".into(), c.into());
    }
    if let Some(v) = f.vlan {
        e.insert("vlan".into(), json!([v]));
    }
    if !f.community_id.is_empty() {
        e.insert("community_id".into(), f.community_id.clone().into());
    }
    if let Some(s) = &f.service {
        e.insert("app_proto".into(), s.clone().into());
    }
    let both = f.orig_packets > 0 && f.resp_packets > 0;
    e.insert(
        "flow".into(),
        json!({
            "pkts_toserver": f.orig_packets,
            "pkts_toclient": f.resp_packets,
            "bytes_toserver": f.orig_bytes,
            "bytes_toclient": f.resp_bytes,
            "start": suricata(nanos_from_secs(f.first_ts)),
            "end": suricata(nanos_from_secs(f.last_ts)),
            "age": (f.last_ts.floor() - f.first_ts.floor()).max(0.0) as u64,
            "state": flow_state(&f.transport, &f.conn_state, both),
            "reason": end_reason(&f.end_reason),
            "alerted": alerted,
        }),
    );
    if f.transport == "tcp" {
        let ts = flag_bits(f.orig_tcp_flags.as_deref().unwrap_or(""));
        let tc = flag_bits(f.resp_tcp_flags.as_deref().unwrap_or(""));
        let all = ts | tc;
        let mut tcp = Map::new();
        tcp.insert("tcp_flags".into(), format!("{all:02x}").into());
        tcp.insert("tcp_flags_ts".into(), format!("{ts:02x}").into());
        tcp.insert("tcp_flags_tc".into(), format!("{tc:02x}").into());
        for (bit, name) in [
            (0x01, "fin"),
            (0x02, "syn"),
            (0x04, "rst"),
            (0x08, "psh"),
            (0x10, "ack"),
            (0x20, "urg"),
            (0x40, "ecn"),
            (0x80, "cwr"),
        ] {
            if all & bit != 0 {
                tcp.insert(name.into(), true.into());
            }
        }
        if let Some(s) = tcp_state(&f.conn_state) {
            tcp.insert("state".into(), s.into());
        }
        e.insert("tcp".into(), Value::Object(tcp));
    }
    // Our own per-flow values, as flow variables (the schema's only place
    // for them in a flow event).
    let mut vars = vec![
        json!({"key": "pcaplens.conn_state", "value": f.conn_state}),
        json!({"key": "pcaplens.end_reason", "value": f.end_reason}),
        json!({"key": "pcaplens.first_frame", "value": f.first_frame.to_string()}),
    ];
    if !f.history.is_empty() {
        vars.insert(1, json!({"key": "pcaplens.history", "value": f.history}));
    }
    e.insert("metadata".into(), json!({ "flowvars": vars }));
    Value::Object(e)
}

/// One end of an alert: address and port (port 0: none).
#[derive(Clone, Debug, PartialEq, Eq)]
struct End {
    ip: String,
    port: Option<u16>,
}

/// "1.2.3.4:80", "[2001:db8::1]:443", "1.2.3.4" or "2001:db8::1" (the
/// report's endpoint strings).
fn parse_endpoint(s: &str) -> Option<End> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        return Some(End {
            ip: ip.to_string(),
            port: port.parse().ok(),
        });
    }
    match s.split_once(':') {
        Some((ip, port)) if !port.contains(':') => Some(End {
            ip: ip.to_string(),
            port: port.parse().ok(),
        }),
        _ => Some(End {
            ip: s.to_string(),
            port: None,
        }),
    }
}

fn detail_str<'a>(detail: &'a Value, key: &str) -> Option<&'a str> {
    detail.get(key).and_then(Value::as_str)
}

/// Both ends of an alert and its transport.
#[derive(Default)]
struct Ends {
    src: Option<End>,
    dst: Option<End>,
    /// A destination port without a host (a horizontal scan's port).
    dst_port: Option<u16>,
    transport: Option<String>,
}

/// Source, destination and transport of a finding, from the roles its detail
/// names: scanner → target; client → server; orig → resp (the flow).
fn alert_ends(kind: &str, d: &Value) -> Ends {
    let transport = detail_str(d, "transport")
        .or((kind == "protocol_mismatch").then_some("tcp")) // TCP only
        .map(str::to_string);
    if kind != "scan" {
        let (a, b) = if d.get("orig").is_some() {
            ("orig", "resp")
        } else {
            ("client", "server")
        };
        return Ends {
            src: detail_str(d, a).and_then(parse_endpoint),
            dst: detail_str(d, b).and_then(parse_endpoint),
            dst_port: None,
            transport,
        };
    }
    let src = detail_str(d, "scanner").and_then(parse_endpoint);
    let pattern = detail_str(d, "pattern").unwrap_or("");
    let mut dst = detail_str(d, "target").and_then(parse_endpoint);
    if dst.is_none() && pattern == "vertical" {
        // The report's entry (decided at the end) lists its one target.
        dst = d
            .get("targets")
            .and_then(Value::as_array)
            .filter(|t| t.len() == 1)
            .and_then(|t| t[0].as_str())
            .and_then(parse_endpoint);
    }
    let transport = match pattern {
        "ping_sweep" => src
            .as_ref()
            .map(|s| if s.ip.contains(':') { "icmpv6" } else { "icmp" }.to_string()),
        _ => transport,
    };
    let dst_port = match pattern {
        "horizontal" => d.get("port").and_then(Value::as_u64).map(|p| p as u16),
        _ => None,
    };
    Ends {
        src,
        dst,
        dst_port,
        transport,
    }
}

/// The values of `alert.metadata` (arrays of strings): a detail value as
/// strings (scalars as text, lists element by element, objects as JSON).
fn metadata_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .flat_map(|x| match x {
                Value::Array(_) | Value::Object(_) => vec![x.to_string()],
                _ => metadata_strings(x),
            })
            .collect(),
        Value::Object(_) => vec![v.to_string()],
        other => vec![other.to_string()],
    }
}

/// The `alert` event of a finding.
pub fn alert_event(f: &FindingEvent) -> Value {
    let sig = signature(f.kind, &f.detail);
    let mut e = Map::new();
    e.insert("timestamp".into(), suricata(nanos_from_secs(f.ts)).into());
    e.insert("event_type".into(), "alert".into());
    if f.frame > 0 {
        e.insert("pcap_cnt".into(), f.frame.into());
    }
    if let Some(id) = f.detail.get("flow_id").and_then(Value::as_u64) {
        e.insert("flow_id".into(), id.into());
    }
    let Ends {
        src,
        dst,
        dst_port,
        transport,
    } = alert_ends(f.kind, &f.detail);
    let ported = transport.as_deref().is_some_and(has_ports);
    if let Some(s) = &src {
        e.insert("src_ip".into(), s.ip.clone().into());
        if let (Some(p), true) = (s.port, ported) {
            e.insert("src_port".into(), p.into());
        }
    }
    if let Some(d) = &dst {
        e.insert("dest_ip".into(), d.ip.clone().into());
    }
    if let (Some(p), true) = (dst.as_ref().and_then(|d| d.port).or(dst_port), ported) {
        e.insert("dest_port".into(), p.into());
    }
    if let Some(ip) = src.as_ref().or(dst.as_ref()).map(|x| &x.ip) {
        e.insert("ip_v".into(), ip_version(ip).into());
    }
    if let Some(p) = transport.as_deref().and_then(proto_name) {
        e.insert("proto".into(), p.into());
    }
    if !f.community_id.is_empty() {
        e.insert("community_id".into(), f.community_id.clone().into());
    }
    if let Some(s) = detail_str(&f.detail, "service")
        .or_else(|| detail_str(&f.detail, "detected").filter(|s| *s != "unknown"))
    {
        e.insert("app_proto".into(), s.into());
    }
    let mut meta = Map::new();
    meta.insert("pcaplens_kind".into(), json!([f.kind]));
    meta.insert("frame".into(), json!([f.frame.to_string()]));
    meta.insert("summary".into(), json!([f.summary]));
    if let Value::Object(d) = &f.detail {
        for (k, v) in d {
            let vals = metadata_strings(v);
            if !vals.is_empty() && !meta.contains_key(k) {
                meta.insert(k.clone(), vals.into());
            }
        }
    }
    e.insert(
        "alert".into(),
        json!({
            "action": "allowed",
            "gid": GID,
            "signature_id": sig.id,
            "rev": REV,
            "signature": sig.signature,
            "category": sig.category,
            "severity": sig.severity,
            "metadata": meta,
        }),
    );
    Value::Object(e)
}

/// Counters for a `stats` event (live capture: libpcap's and the engine's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatsCounters {
    /// Seconds since the capture started.
    pub uptime_secs: u64,
    /// Packets the capture received (libpcap `ps_recv`).
    pub kernel_packets: u64,
    /// Packets dropped for lack of buffer (libpcap `ps_drop`).
    pub kernel_drops: u64,
    /// Packets dropped by the interface or driver (libpcap `ps_ifdrop`).
    pub kernel_ifdrops: u64,
    /// Capture errors.
    pub capture_errors: u64,
    /// Packets and bytes the engine decoded.
    pub packets: u64,
    pub bytes: u64,
    pub ipv4: u64,
    pub ipv6: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmpv4: u64,
    pub icmpv6: u64,
    /// Frames that did not decode.
    pub invalid: u64,
    /// Flows seen so far, live now, and per transport.
    pub flows_total: u64,
    pub flows_active: u64,
    pub flows_tcp: u64,
    pub flows_udp: u64,
    pub flows_icmpv4: u64,
    pub flows_icmpv6: u64,
}

/// A `stats` event at `now_nanos` (the caller's clock) with these counters.
pub fn stats_event(now_nanos: i64, c: &StatsCounters) -> Value {
    let avg = c.bytes.checked_div(c.packets).unwrap_or(0);
    json!({
        "timestamp": suricata(now_nanos),
        "event_type": "stats",
        "stats": {
            "uptime": c.uptime_secs,
            "capture": {
                "kernel_packets": c.kernel_packets,
                "kernel_drops": c.kernel_drops,
                "kernel_ifdrops": c.kernel_ifdrops,
                "errors": c.capture_errors,
            },
            "decoder": {
                "pkts": c.packets,
                "bytes": c.bytes,
                "avg_pkt_size": avg,
                "invalid": c.invalid,
                "ipv4": c.ipv4,
                "ipv6": c.ipv6,
                "tcp": c.tcp,
                "udp": c.udp,
                "icmpv4": c.icmpv4,
                "icmpv6": c.icmpv6,
            },
            "flow": {
                "total": c.flows_total,
                "active": c.flows_active,
                "tcp": c.flows_tcp,
                "udp": c.flows_udp,
                "icmpv4": c.flows_icmpv4,
                "icmpv6": c.flows_icmpv6,
            },
        },
    })
}

/// Most Community IDs remembered for `flow.alerted` at once (alerts on flows
/// still live); beyond it further alerts do not mark their flows.
pub const MAX_ALERTED: usize = 1 << 16;

/// The engine's events in, EVE lines out, in event order: a `flow` line per
/// ended flow, an `alert` line per finding, nothing for a failure instance.
#[derive(Clone, Debug, Default)]
pub struct EveWriter {
    /// Community IDs of flows an alert named, until their flow line.
    alerted: BTreeSet<String>,
    pcap_filename: Option<String>,
}

impl EveWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Name every line's capture file (`pcap_filename`, as Suricata does
    /// when it reads a file).
    pub fn with_pcap_filename(mut self, name: impl Into<String>) -> Self {
        self.pcap_filename = Some(name.into());
        self
    }

    /// The EVE event of an engine event (`None`: it has none).
    pub fn event(&mut self, event: &Event) -> Option<Value> {
        let mut v = match event {
            Event::FlowEnded(f) => {
                let alerted = !f.community_id.is_empty() && self.alerted.remove(&f.community_id);
                flow_event(f, alerted)
            }
            Event::Finding(f) => {
                if !f.community_id.is_empty() && self.alerted.len() < MAX_ALERTED {
                    self.alerted.insert(f.community_id.clone());
                }
                alert_event(f)
            }
            Event::Failure(_) => return None,
        };
        if let (Some(name), Value::Object(m)) = (&self.pcap_filename, &mut v) {
            m.insert("pcap_filename".into(), name.clone().into());
        }
        Some(v)
    }

    /// The EVE line (without the newline) of an engine event.
    pub fn line(&mut self, event: &Event) -> Option<String> {
        self.event(event).map(|v| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> FlowSummary {
        FlowSummary {
            id: 7,
            community_id: "1:abc".into(),
            transport: "tcp".into(),
            orig_addr: "10.0.0.1".into(),
            orig_port: 40000,
            resp_addr: "10.0.0.2".into(),
            resp_port: 80,
            service: Some("http".into()),
            first_ts: 1_452_286_755.320017,
            last_ts: 1_452_286_757.1,
            duration_secs: 1.779983,
            first_frame: 1,
            last_frame: 9,
            orig_packets: 5,
            orig_bytes: 500,
            orig_ip_bytes: 430,
            orig_payload_bytes: 100,
            resp_packets: 4,
            resp_bytes: 900,
            resp_ip_bytes: 844,
            resp_payload_bytes: 600,
            orig_tcp_flags: Some("SAPF".into()),
            resp_tcp_flags: Some("SAF".into()),
            conn_state: "SF".into(),
            history: "ShADadFf".into(),
            icmp_type: None,
            icmp_code: None,
            vlan: None,
            end_reason: "capture_end".into(),
        }
    }

    #[test]
    fn flow_event_fields() {
        let v = flow_event(&flow(), true);
        assert_eq!(v["timestamp"], "2016-01-08T20:59:15.320017+0000");
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["flow"]["end"], "2016-01-08T20:59:17.100000+0000");
        assert_eq!(v["flow"]["age"], 2);
        assert_eq!(v["flow"]["state"], "closed");
        assert_eq!(v["flow"]["reason"], "shutdown");
        assert_eq!(v["flow"]["alerted"], true);
        assert_eq!(v["tcp"]["tcp_flags"], "1b");
        assert_eq!(v["tcp"]["tcp_flags_ts"], "1b");
        assert_eq!(v["tcp"]["tcp_flags_tc"], "13");
        assert_eq!(v["tcp"]["state"], "closed");
        assert_eq!(v["tcp"]["psh"], true);
        assert!(v["tcp"].get("rst").is_none());
        assert_eq!(v["metadata"]["flowvars"][0]["value"], "SF");
    }

    #[test]
    fn signatures_are_unique_and_in_range() {
        let mut ids: Vec<u64> = SIGNATURES.iter().map(|s| s.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert!(ids.iter().all(|i| (9_000_000..9_000_100).contains(i)));
        assert!(SIGNATURES.windows(2).all(|w| w[0].id < w[1].id));
        let d = json!({"pattern": "horizontal"});
        assert_eq!(signature("scan", &d).id, 9000002);
        assert_eq!(signature("scan", &json!({})).id, 9000009);
        assert_eq!(
            signature("blocklist", &json!({"matched_in": "tls_sni"})).id,
            9000014
        );
        assert_eq!(signature("nope", &json!({})).id, 9000099);
    }

    #[test]
    fn alert_roles_from_detail() {
        let f = FindingEvent {
            kind: "scan",
            frame: 12,
            ts: 1_452_286_755.5,
            community_id: "1:x".into(),
            summary: "s".into(),
            detail: json!({"scanner": "10.0.0.9", "pattern": "horizontal",
                "transport": "tcp", "port": 22, "target": null, "distinct_targets": 20}),
        };
        let v = alert_event(&f);
        assert_eq!(v["src_ip"], "10.0.0.9");
        assert_eq!(v["dest_port"], 22);
        assert!(v.get("dest_ip").is_none());
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["pcap_cnt"], 12);
        assert_eq!(v["alert"]["signature_id"], 9000002);
        assert_eq!(v["alert"]["metadata"]["distinct_targets"], json!(["20"]));
        let m = FindingEvent {
            kind: "protocol_mismatch",
            detail: json!({"kind": "non_http_on_port_80", "server": "[2001:db8::1]:80",
                "client": "2001:db8::2", "port": 80, "detected": "unknown"}),
            ..f
        };
        let v = alert_event(&m);
        assert_eq!(v["dest_ip"], "2001:db8::1");
        assert_eq!(v["src_ip"], "2001:db8::2");
        assert_eq!(v["ip_v"], 6);
        assert!(v.get("app_proto").is_none());
        assert_eq!(v["alert"]["signature_id"], 9000041);
    }

    #[test]
    fn writer_marks_alerted_flows_once() {
        let mut w = EveWriter::new().with_pcap_filename("a.pcap");
        let finding = FindingEvent {
            kind: "long_lived",
            frame: 1,
            ts: 1.0,
            community_id: "1:abc".into(),
            summary: "s".into(),
            detail: json!({"orig": "10.0.0.1:40000", "resp": "10.0.0.2:80",
                "transport": "tcp", "flow_id": 7}),
        };
        let a = w.event(&Event::Finding(finding)).unwrap();
        assert_eq!(a["flow_id"], 7);
        assert_eq!(a["src_port"], 40000);
        assert_eq!(a["pcap_filename"], "a.pcap");
        let f = Event::FlowEnded(Box::new(flow()));
        assert_eq!(w.event(&f).unwrap()["flow"]["alerted"], true);
        assert_eq!(w.event(&f).unwrap()["flow"]["alerted"], false);
        assert!(w
            .line(&Event::Failure(crate::engine::FailureEvent {
                class: "tcp.retransmission",
                instance: Value::Null
            }))
            .is_none());
    }
}
