//! The tools' arguments and results: their JSON schemas are the tools'
//! input and output schemas (doc comments become descriptions).

use pcaplens_core::FlowSummary;
use rmcp::schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

// ---- parameters -------------------------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
// An unknown argument is a typo the assistant should hear about.
#[serde(deny_unknown_fields)]
pub struct PathArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SummaryArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// Include packets and bytes over time (up to 600 buckets; cut to fit)
    #[serde(default)]
    pub timeline: bool,
}

/// Which flows, in which order, which page.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct FlowQuery {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// Either endpoint's address (as shown in results, or the real one)
    pub addr: Option<String>,
    /// Either endpoint's port
    pub port: Option<u16>,
    /// tcp, udp, icmp, icmpv6 or other
    pub transport: Option<String>,
    /// Service as identified (dns, http, tls, quic, ssh, …; "unknown" for none)
    pub service: Option<String>,
    /// Zeek conn_state (SF, S0, REJ, RSTO, …)
    pub state: Option<String>,
    /// Only flows active at or after this time (seconds since the epoch)
    pub start: Option<f64>,
    /// Only flows active at or before this time (seconds since the epoch)
    pub end: Option<f64>,
    /// Order: id (creation, default), bytes, packets, duration (largest first) or start (earliest first)
    pub sort: Option<String>,
    /// Most flows on this page (default 100, at most 1000; fewer when the token limit is reached)
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct PortArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// Port on either side of the flow
    pub port: u16,
    /// Most flows listed on this page (default 100)
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct IpArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// Address on either side (as shown in results, or the real one)
    pub ip: String,
    /// Most flows listed on this page (default 100)
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ProtocolArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// A transport (tcp, udp, icmp, icmpv6) or a service (dns, http, tls, quic, ssh, …)
    pub protocol: String,
    /// Most flows listed on this page (default 100)
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ItemsArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// Only this section (failures: tcp, icmp, dns, http, tls, quic, performance;
    /// findings: scans, blocklist, unusual_ports, long_lived, protocol_mismatch, bursts)
    pub section: Option<String>,
    /// Most items on this page (default 100; fewer when the token limit is reached)
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct FlowArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// Community ID of the flow, as shown in results ("1:…")
    pub community_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct PacketArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// Frame number, 1-based as Wireshark counts
    pub frame: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct DiagnoseArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// What to concentrate on: general (default), errors, performance, dns, security
    pub focus: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ClassifyArgs {
    /// Capture file (pcap or pcapng), absolute or relative to the server's first root
    pub path: String,
    /// Only flows with this verdict: malicious, suspicious, failing, unusual, normal
    pub verdict: Option<String>,
    /// Most flows on this page (default 100; fewer when the token limit is reached)
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SanitizeArgs {
    /// Capture to sanitize, under a root
    pub path: String,
    /// Where to write the sanitized copy (its directory must be under a root)
    pub output: String,
    /// Replace `output` if it exists (default false)
    #[serde(default)]
    pub overwrite: bool,
    /// Also write the pseudonym → original table for `pcaplens unmask` as OUTPUT.map.json (default true)
    pub write_map: Option<bool>,
}

// ---- results ----------------------------------------------------------------

/// One flow: the row of `pcaplens analyze --flows` (without its `file`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct FlowRow {
    pub id: u64,
    pub community_id: String,
    pub transport: String,
    pub orig_addr: String,
    pub orig_port: u16,
    pub resp_addr: String,
    pub resp_port: u16,
    pub service: Option<String>,
    pub first_ts: f64,
    pub last_ts: f64,
    pub duration_secs: f64,
    pub first_frame: u64,
    pub last_frame: u64,
    pub orig_packets: u64,
    pub orig_bytes: u64,
    pub orig_ip_bytes: u64,
    pub orig_payload_bytes: u64,
    pub resp_packets: u64,
    pub resp_bytes: u64,
    pub resp_ip_bytes: u64,
    pub resp_payload_bytes: u64,
    pub orig_tcp_flags: Option<String>,
    pub resp_tcp_flags: Option<String>,
    pub conn_state: String,
    pub history: String,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub vlan: Option<u16>,
    pub end_reason: String,
}

impl From<FlowSummary> for FlowRow {
    fn from(f: FlowSummary) -> Self {
        FlowRow {
            id: f.id,
            community_id: f.community_id,
            transport: f.transport,
            orig_addr: f.orig_addr,
            orig_port: f.orig_port,
            resp_addr: f.resp_addr,
            resp_port: f.resp_port,
            service: f.service,
            first_ts: f.first_ts,
            last_ts: f.last_ts,
            duration_secs: f.duration_secs,
            first_frame: f.first_frame,
            last_frame: f.last_frame,
            orig_packets: f.orig_packets,
            orig_bytes: f.orig_bytes,
            orig_ip_bytes: f.orig_ip_bytes,
            orig_payload_bytes: f.orig_payload_bytes,
            resp_packets: f.resp_packets,
            resp_bytes: f.resp_bytes,
            resp_ip_bytes: f.resp_ip_bytes,
            resp_payload_bytes: f.resp_payload_bytes,
            orig_tcp_flags: f.orig_tcp_flags,
            resp_tcp_flags: f.resp_tcp_flags,
            conn_state: f.conn_state,
            history: f.history,
            icmp_type: f.icmp_type,
            icmp_code: f.icmp_code,
            vlan: f.vlan,
            end_reason: f.end_reason,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct LoadResult {
    pub path: String,
    /// "pcap" or "pcapng"
    pub format: Option<String>,
    pub size_bytes: u64,
    pub packets: u64,
    pub flows: u64,
    pub duration_secs: f64,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// True when the capture ended cleanly after its last record
    pub complete: bool,
    /// What cut the capture short, if anything (the analysis covers what came before)
    pub error: Option<String>,
    /// True when the analysis came from the cache
    pub cached: bool,
    /// How long the analysis took when it was made
    pub analysis_ms: u64,
    pub pseudonymised: bool,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct SummaryResult {
    pub path: String,
    pub pseudonymised: bool,
    /// Container facts (format, snap length, interfaces, bytes read)
    pub capture: Value,
    /// Whether the whole capture was read, and the error that stopped it
    pub status: Value,
    /// How far the capture can be trusted (drops, truncation, clock)
    pub quality: Value,
    /// Totals, protocol hierarchy, flows by state/service, top talkers and conversations
    pub summary: Value,
    /// Failure classes with their totals (non-zero only), "section.class"
    pub failure_totals: BTreeMap<String, u64>,
    /// Findings with their counts (non-zero only), "section.list"
    pub finding_totals: BTreeMap<String, u64>,
    pub notes: Vec<String>,
}

/// Totals over every flow that matched (not only this page).
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct FlowAggregate {
    pub flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    pub by_transport: BTreeMap<String, u64>,
    pub by_state: BTreeMap<String, u64>,
    pub by_service: BTreeMap<String, u64>,
    /// Most bytes first (at most 10): the addresses on the other side of the
    /// filter, or all endpoints when no address was given
    pub top_peers: Vec<PeerTotal>,
    /// Most flows first (at most 10): responder ports
    pub top_ports: Vec<PortCount>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct PeerTotal {
    pub addr: String,
    pub bytes: u64,
    pub flows: u64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct PortCount {
    pub port: u16,
    pub transport: String,
    pub flows: u64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct FlowPage {
    pub path: String,
    pub pseudonymised: bool,
    /// Flows matching the filters (all pages)
    pub total_matching: u64,
    /// Index of this page's first flow among the matching ones
    pub offset: u64,
    pub aggregate: Option<FlowAggregate>,
    pub flows: Vec<FlowRow>,
    /// Pass as `cursor` (with the same path and filters) for the next page; null on the last page
    pub next_cursor: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ItemsPage {
    pub path: String,
    pub pseudonymised: bool,
    /// Per-section counters and statistics (everything but the listed items)
    pub counters: Value,
    /// Items matching (all pages)
    pub total_items: u64,
    pub offset: u64,
    /// Each item: its `section` and `class` (or `list`), totals, and instances
    /// with frame numbers and Community IDs
    pub items: Vec<Value>,
    /// Pass as `cursor` (with the same path and section) for the next page; null on the last page
    pub next_cursor: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct Related {
    /// Where in the report: e.g. failures.tcp.resets, findings.scans.scans
    pub place: String,
    pub item: Value,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct FlowDetail {
    pub path: String,
    pub pseudonymised: bool,
    pub community_id: String,
    /// Every flow with this Community ID (a reused 5-tuple gives several)
    pub flows: Vec<FlowRow>,
    /// The failure and finding instances of this flow that the report lists
    pub related: Vec<Related>,
    pub classification: Classification,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct PacketResult {
    pub path: String,
    pub pseudonymised: bool,
    /// The frame: number, time, lengths, Community ID, and `layers` outermost first
    pub packet: Value,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct DiagnoseResult {
    pub path: String,
    pub pseudonymised: bool,
    pub focus: String,
    /// What the evidence covers of the capture's failures
    pub coverage: Value,
    /// Ranked rule-based diagnoses (offline: no model was called)
    pub diagnoses: Value,
    /// The evidence pack, as `pcaplens prepare` writes it for a model
    pub evidence: String,
    /// Tokens of the evidence (o200k_base)
    pub evidence_tokens: u64,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct Classification {
    /// malicious, suspicious, failing, unusual or normal
    pub verdict: String,
    /// Why: the report places that list this flow, and its connection state
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ClassifiedFlow {
    pub id: u64,
    pub community_id: String,
    pub transport: String,
    pub orig: String,
    pub resp: String,
    pub service: Option<String>,
    pub conn_state: String,
    pub verdict: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ClassifyResult {
    pub path: String,
    pub pseudonymised: bool,
    /// "rules": the detectors' findings and failures (a model endpoint comes with issue 20)
    pub method: String,
    /// Flows per verdict, over all flows
    pub verdict_counts: BTreeMap<String, u64>,
    pub total_matching: u64,
    pub offset: u64,
    pub flows: Vec<ClassifiedFlow>,
    pub next_cursor: Option<String>,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct SanitizeResult {
    /// The sanitized copy
    pub output: String,
    /// The key used (the server's): the same pseudonyms as the tools' results
    pub key_file: Option<String>,
    /// Pseudonym → original table for `pcaplens unmask --map` (keep it local)
    pub map_file: Option<String>,
    /// "passed": no original identifier was found in the written copy
    pub leak_audit: String,
    /// True when the input was cut short (the copy covers what came before)
    pub partial: bool,
    pub notes: Vec<String>,
}
