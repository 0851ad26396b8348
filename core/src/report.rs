//! The report: the one data contract every front prints or converts.
//!
//! Deterministic: maps are `BTreeMap`s, lists have a documented order, and
//! nothing depends on hash order or the wall clock. Documented field by field
//! in `docs/report.md`; bump [`SCHEMA_VERSION`] on any incompatible change.

use crate::error::ErrorInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the report layout.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub generator: Generator,
    pub capture: CaptureSummary,
    pub status: Status,
    /// How far the capture can be trusted (before everything it qualifies).
    pub quality: crate::detect::quality::Quality,
    pub summary: Summary,
    /// What went wrong, with evidence (see `detect`).
    pub failures: crate::detect::Failures,
    /// What looks hostile or odd, with evidence (see `detect`).
    pub findings: crate::detect::Findings,
    /// Flows (and optionally packets) ranked by Isolation Forest score (see `anomaly`).
    pub anomalies: crate::anomaly::AnomalyReport,
    /// Flows in creation order (first packet order), at most `flows_limit` of them.
    pub flows: Vec<FlowSummary>,
    /// Only in a report merged from pieces (`crate::partial`, docs/scale.md):
    /// how many, and which sections a merge cannot give exactly yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeInfo>,
}

/// How a merged report was made (docs/scale.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MergeInfo {
    /// Pieces merged (files, or pieces of a file cut at record boundaries).
    pub pieces: u64,
    /// Report fields (dotted paths) a merge does not make exactly, sorted:
    /// the flow, detector and anomaly sections (always; left empty), and
    /// those a cut made inexact in this merge (IP fragments of a datagram
    /// on both sides of a cut: `summary.ip_reassembly` and
    /// `summary.protocol_hierarchy` hold the pieces' sum). Every other field
    /// is the whole capture's.
    pub not_mergeable: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    pub name: String,
    pub version: String,
}

/// Facts about the container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct CaptureSummary {
    /// "pcap" or "pcapng"; null when the input was not a capture.
    pub format: Option<String>,
    pub big_endian: bool,
    /// pcap: "usec", "nsec" or "modified"; null for pcapng.
    pub ts_precision: Option<String>,
    pub snaplen: Option<u32>,
    pub sections: u32,
    pub interfaces: u32,
    /// Bytes of input consumed as complete records.
    pub bytes_read: u64,
}

/// Whether the whole input was analysed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Status {
    /// True when the input ended cleanly after the last record.
    pub complete: bool,
    /// True when an error stopped reading; everything before it is in the report.
    pub partial: bool,
    pub error: Option<ErrorInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Summary {
    /// Frames read.
    pub packets: u64,
    /// Sum of frame lengths on the wire.
    pub bytes: u64,
    /// Sum of captured lengths.
    pub captured_bytes: u64,
    /// Timestamps of the earliest and latest frame, seconds since the epoch.
    pub start_ts: Option<f64>,
    pub end_ts: Option<f64>,
    /// RFC 3339 UTC renderings of the above.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub duration_secs: f64,
    /// Frames whose timestamp is earlier than the previous frame's.
    pub out_of_order_timestamps: u64,
    /// Frames per link type, ascending by link type.
    pub link_types: Vec<LinkTypeCount>,
    /// Frames of a link type pcaplens does not decode (counted, not dropped).
    pub undecoded_frames: u64,
    /// Frames where a header was inconsistent or cut short.
    pub malformed_frames: u64,
    /// Frames captured shorter than on the wire (snap length).
    pub snaplen_truncated_frames: u64,
    /// IPv4/IPv6 fragments (any fragment, first or not).
    pub ip_fragments: u64,
    /// What IP fragment reassembly did (absent when no fragment was queued).
    #[serde(default, skip_serializing_if = "IpReassembly::is_empty")]
    pub ip_reassembly: IpReassembly,
    /// Protocol hierarchy like `tshark -z io,phs`, flattened depth-first.
    pub protocol_hierarchy: Vec<ProtocolNode>,
    pub flows: FlowTotals,
    /// Conversations per transport as `tshark -z conv,…` counts them: one per
    /// address/port pair (a new TCP connection on reused ports is a new one),
    /// however often the flow table split it by idle timeout.
    pub conversations: BTreeMap<String, u64>,
    /// Width in seconds of the `timeline` buckets (1 s, doubled as often as
    /// needed to keep at most 600 buckets).
    pub timeline_bucket_secs: f64,
    /// Packets and bytes over time: bucket start `t` (seconds since the epoch).
    pub timeline: Vec<TimelineBucket>,
    /// Addresses by total bytes (sent + received), descending.
    pub top_talkers: Vec<Talker>,
    /// Flows by total bytes, descending (ties: creation order).
    pub top_conversations: Vec<ConversationSummary>,
}

/// IP fragment reassembly (tshark's `ip.defragment`/`ipv6.defragment`): see
/// `decode::defrag`. Every field sums over pieces of a capture.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpReassembly {
    /// Fragments queued for reassembly (their IP payload all captured).
    pub fragments_queued: u64,
    /// Datagrams completed, and the fragments they were made of.
    pub datagrams_reassembled: u64,
    pub fragments_reassembled: u64,
    /// Fragments of completed datagrams that overlapped bytes already placed
    /// (the earlier bytes win, as in tshark), and those whose bytes differed.
    pub overlapping_fragments: u64,
    pub conflicting_fragments: u64,
    /// Incomplete datagrams dropped: not completed within the timeout, or
    /// evicted by a memory cap; and the fragments they held.
    pub datagrams_timed_out: u64,
    pub datagrams_evicted: u64,
    pub fragments_dropped: u64,
    /// Fragments still waiting at the end of the input (never completed).
    pub fragments_incomplete: u64,
}

impl IpReassembly {
    pub fn is_empty(&self) -> bool {
        *self == IpReassembly::default()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineBucket {
    pub t: f64,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTypeCount {
    pub link_type: u32,
    pub name: String,
    pub decoded: bool,
    pub frames: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolNode {
    pub depth: u32,
    pub protocol: String,
    pub frames: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FlowTotals {
    pub total: u64,
    /// Flows per transport: "tcp", "udp", "icmp", "icmpv6", "other".
    pub by_transport: BTreeMap<String, u64>,
    /// Flows per Zeek conn_state.
    pub by_state: BTreeMap<String, u64>,
    /// Flows per service ("unknown" when none was identified).
    pub by_service: BTreeMap<String, u64>,
    /// Most flows alive at once in the table.
    pub peak_live: u64,
    pub idle_timeouts: u64,
    pub evicted: u64,
    /// Flows not listed in `flows` because of `flows_limit`.
    pub omitted_from_list: u64,
    /// Closed TCP flows ended by `flow.closed_timeout_secs` (only when it is
    /// set: live capture).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub closed_timeouts: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Talker {
    pub addr: String,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub flows: u64,
    /// The service carrying most of this address's bytes.
    pub main_service: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub flow_id: u64,
    pub community_id: String,
    pub transport: String,
    pub orig: String,
    pub resp: String,
    pub service: String,
    pub packets: u64,
    pub bytes: u64,
    pub duration_secs: f64,
    pub conn_state: String,
}

/// One flow, as a row (also the NDJSON/CSV record of `--flows`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowSummary {
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
    /// TCP flags seen from each side, as letters (e.g. "SAF").
    pub orig_tcp_flags: Option<String>,
    pub resp_tcp_flags: Option<String>,
    pub conn_state: String,
    pub history: String,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub vlan: Option<u16>,
    /// "capture_end", "idle_timeout", "evicted" or "port_reuse".
    pub end_reason: String,
}

impl FlowSummary {
    /// Column names for CSV output, in field order.
    pub const CSV_COLUMNS: &'static [&'static str] = &[
        "id",
        "community_id",
        "transport",
        "orig_addr",
        "orig_port",
        "resp_addr",
        "resp_port",
        "service",
        "first_ts",
        "last_ts",
        "duration_secs",
        "first_frame",
        "last_frame",
        "orig_packets",
        "orig_bytes",
        "orig_ip_bytes",
        "orig_payload_bytes",
        "resp_packets",
        "resp_bytes",
        "resp_ip_bytes",
        "resp_payload_bytes",
        "orig_tcp_flags",
        "resp_tcp_flags",
        "conn_state",
        "history",
        "icmp_type",
        "icmp_code",
        "vlan",
        "end_reason",
    ];

    /// One CSV line (RFC 4180 quoting where needed), without the newline.
    pub fn to_csv_row(&self) -> String {
        fn opt<T: ToString>(v: &Option<T>) -> String {
            v.as_ref().map(|x| x.to_string()).unwrap_or_default()
        }
        let q = |s: &str| csv_field(s).into_owned();
        let cols = [
            self.id.to_string(),
            q(&self.community_id),
            q(&self.transport),
            q(&self.orig_addr),
            self.orig_port.to_string(),
            q(&self.resp_addr),
            self.resp_port.to_string(),
            q(&opt(&self.service)),
            fmt_f64(self.first_ts),
            fmt_f64(self.last_ts),
            fmt_f64(self.duration_secs),
            self.first_frame.to_string(),
            self.last_frame.to_string(),
            self.orig_packets.to_string(),
            self.orig_bytes.to_string(),
            self.orig_ip_bytes.to_string(),
            self.orig_payload_bytes.to_string(),
            self.resp_packets.to_string(),
            self.resp_bytes.to_string(),
            self.resp_ip_bytes.to_string(),
            self.resp_payload_bytes.to_string(),
            q(&opt(&self.orig_tcp_flags)),
            q(&opt(&self.resp_tcp_flags)),
            q(&self.conn_state),
            q(&self.history),
            opt(&self.icmp_type),
            opt(&self.icmp_code),
            opt(&self.vlan),
            q(&self.end_reason),
        ];
        cols.join(",")
    }
}

/// Shortest exact decimal for a float, as JSON prints it.
pub fn fmt_f64(v: f64) -> String {
    serde_json::to_string(&v).unwrap_or_else(|_| "0".into())
}

impl Report {
    /// Pretty JSON, byte-identical for identical input and options.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// Compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("report serializes")
    }
}

pub use crate::time::{rfc3339, ts_secs};

/// One CSV field, RFC 4180: quoted (inner quotes doubled) when it holds a
/// comma, a quote or a line break; as is otherwise. Every CSV this project
/// writes (flows, feature matrices, their `file` column) quotes with this.
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}
