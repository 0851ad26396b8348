// TypeScript types of the pcaplens report (schema_version 2), written by hand
// from docs/report.md. Every report-producing front emits this same document.

/**
 * Options of an analysis: the core's option keys (docs/options.md; `optionDefaults()` prints
 * every key with its default and meaning), the same as Python's keyword arguments and
 * `pcaplens analyze --config FILE`. Written here in camelCase; `snake_case` and dotted keys
 * (`"detect.scan.window_secs"`) are accepted as well. Unknown keys and bad values throw an
 * `OptionsError` with the same message as Python's.
 */
export interface AnalyzeOptions {
  /** Shorthand of `flow.idleTimeoutSecs`: seconds of inactivity after which a flow is finished (default 600). */
  idleTimeout?: number;
  /** Shorthand of `flow.maxFlows`: most flows held at once (default 200000). */
  maxFlows?: number;
  /** Most flows listed in `report.flows` (default 10000); all are counted. `null`: every flow. */
  flowsLimit?: number | null;
  /** Shorthand of `topN`. */
  top?: number;
  /** Length of top-N lists (default 10); also sets `anomaly.topN` unless that is given. */
  topN?: number;
  /** Run the detectors (default true); false: statistics and flows only. */
  detectEnabled?: boolean;
  /** Shorthand of `detect.maxInstances` (default 20). */
  maxInstances?: number;
  /** Shorthand of `anomaly.seed`. */
  anomalySeed?: number;
  /** Shorthand of `anomaly.perPacket` (default false). */
  perPacketAnomaly?: boolean;
  /** Shorthand of `detect.longLived.minDurationSecs` (seconds, default 3600). */
  longConnThreshold?: number;
  /** Shorthand of `detect.ports.maxOrdinaryPort` (default 1024). */
  unusualPortThreshold?: number;
  flow?: { idleTimeoutSecs?: number; maxFlows?: number; closedTimeoutSecs?: number };
  detect?: DetectOptions;
  /** Anomaly scoring; `false` turns it off (as `{ enabled: false }`). */
  anomaly?: boolean | AnomalyOptions;
}

/** `detect.*` options (defaults: docs/options.md). */
export interface DetectOptions {
  maxInstances?: number;
  tcp?: { topN?: number; minSegmentsForRate?: number };
  dns?: { waitSecs?: number; retransmissionSecs?: number; maxPending?: number; topNames?: number };
  http?: { maxHeadBytes?: number; maxOutstanding?: number };
  tls?: { maxRecordBytes?: number; maxNames?: number };
  quic?: Record<string, never>;
  icmp?: { maxTrackedFlows?: number };
  perf?: { slowDnsMs?: number; slowHttpMs?: number; slowHandshakeMs?: number; highRetransmissionRate?: number };
  scan?: {
    verticalMinPorts?: number; horizontalMinHosts?: number; sweepMinHosts?: number; windowSecs?: number;
    maxSources?: number; maxProbesPerSource?: number; maxListed?: number; retireAfterSecs?: number;
  };
  /** Entries: IP addresses, CIDR ranges and domains. */
  blocklist?: { entries?: string[] };
  ports?: { maxOrdinaryPort?: number; allow?: number[]; maxServers?: number };
  longLived?: { minDurationSecs?: number };
  mismatch?: { httpPorts?: number[]; tlsPorts?: number[]; maxServers?: number };
  quality?: {
    checksumMaxSegment?: number; checksumSampleEvery?: number; duplicateMaxGapMicros?: number;
    degradedFraction?: number; poorFraction?: number;
  };
  /** Bursts of resets or unanswered connection attempts (off unless a minimum is set). */
  bursts?: {
    windowSecs?: number; minResets?: number; minUnansweredSyns?: number; synAnswerSecs?: number;
    maxHosts?: number;
  };
}

/** `anomaly.*` options (defaults: docs/options.md). */
export interface AnomalyOptions {
  enabled?: boolean; trees?: number; sampleSize?: number; seed?: number; topN?: number;
  perPacket?: boolean; maxTrainingFlows?: number; maxPackets?: number;
}

/** Options of the traffic generator (`pcaplens generate`). */
export interface GenerateOptions {
  /** Target packet count (default 2000). */
  packets?: number;
  /** Seed (default 1); the same seed gives the same bytes. */
  seed?: number;
  /** Exact number of background flows; default derives a mix from `packets`. */
  flows?: number;
  /** Capture start, whole seconds since the Unix epoch (default 1700000000). */
  startTs?: number;
}

/** Options of the sanitizer, named like `pcaplens sanitize` flags. */
export interface SanitizeOptions {
  /** Secret key, at least 16 bytes (32 recommended). Keep it to reproduce the same pseudonyms. */
  key: Uint8Array | number[];
  /** Payload no parser understands: "redact" (default, zeroed), "keep" or "truncate". */
  payload?: "redact" | "keep" | "truncate";
  /** Keep private, loopback, link-local, CGNAT and multicast prefixes recognisable. */
  keepSpecialRanges?: boolean;
  /** Shift every timestamp by one keyed offset (intervals kept). */
  timeShift?: boolean;
}

/** What the sanitizer rewrote (`Sanitizer.finish()`). */
export interface SanitizeSummary {
  format: "pcap" | "pcapng" | null;
  payload_policy: "redact" | "keep" | "truncate";
  keep_special_ranges: boolean;
  time_shifted: boolean;
  bytes_in: number;
  bytes_out: number;
  distinct_identifiers: Record<string, number>;
  counters: Record<string, number>;
  /** Set when the input was damaged: the output covers everything before it. */
  error: ErrorInfo | null;
}

/** One packet of a flow (`FlowPacketScan.finish()`). */
export interface FlowPacket {
  /** 1-based frame number, as Wireshark counts. */
  frame: number;
  /** Seconds since the Unix epoch. */
  ts: number;
  src: string;
  src_port: number | null;
  dst: string;
  dst_port: number | null;
  wire_len: number;
  /** TCP flags by name ("SYN,ACK"); null for other transports. */
  tcp_flags: string | null;
  seq: number | null;
  ack: number | null;
  window: number | null;
  payload_len: number;
}

/** The packets of one flow: the first `max`, and how many there were. */
export interface FlowPackets {
  community_id: string;
  packets: FlowPacket[];
  total: number;
  /** Set when the capture could not be read to its end. */
  error: string | null;
}

/** Options of the evidence pack, named like `pcaplens prepare` flags. */
export interface EvidenceOptions {
  /** `--key-file`: exactly 32 bytes; the same key gives the pseudonyms of `sanitize`. Required unless `sanitize` is false. */
  key?: Uint8Array | number[];
  /** `--budget`: hard limit on prompt tokens, system + evidence (default 8000). */
  budget?: number;
  /** `--focus` (default "general"). */
  focus?: "general" | "errors" | "performance" | "dns" | "security";
  /** `false` is `--no-sanitize`: real addresses and names (NOT for sharing). Default true. */
  sanitize?: boolean;
}

/** "covers N of M flows, K of L failures". */
export interface Coverage {
  flows_covered: number;
  flows_total: number;
  failures_covered: number;
  failures_total: number;
  diagnoses_included: number;
  diagnoses_total: number;
}

/** One ranked cause of the rule-based diagnosis (identifiers masked when sanitized). */
export interface Diagnosis {
  rank: number;
  rule: string;
  score: number;
  /** Markdown sentence; strings off the wire as `⟦wire "…"⟧`. */
  summary: string;
  endpoint: string;
  count: number;
  share: number | null;
  flows: number;
  frames: number[];
  community_ids: string[];
  /** Failure events that are part of this cause, by class (`"tcp.resets"`: a scan's provoked resets); absent when none. */
  explains?: Record<string, number>;
}

/** The evidence pack (`evidence()`): what `pcaplens prepare` writes, for a language model. */
export interface EvidencePack {
  /** `ai_analysis_prompt.md`: system instructions, then the evidence. */
  prompt: string;
  systemPrompt: string;
  evidence: string;
  /** Tokens of system prompt + evidence as `tokenCounter` counts them (an upper bound of any model's count). */
  tokens: number;
  tokenBudget: number;
  tokenCounter: string;
  /** The coverage line, as in the prompt. */
  coverage: string;
  coverageCounts: Coverage;
  focus: "general" | "errors" | "performance" | "dns" | "security";
  sanitized: boolean;
  diagnoses: Diagnosis[];
  /** The coverage line and the ranked diagnosis as plain text (`pcaplens ask --offline`). */
  diagnosisText: string;
  /** Community ID → rank of the item whose failures the flow's are part of (a scan's probes); empty when sanitized. */
  explainedBy: Record<string, number>;
}

export interface Progress {
  bytesFed: number;
  packets: number;
  liveFlows: number;
}

/** Thrown by `Analyzer.feed` at the first problem in a capture. */
export interface CaptureError extends Error {
  name: "CaptureError";
  code: "not_a_capture" | "truncated" | "record_too_large" | "malformed" | "unsupported";
  /** Byte offset where the problem starts. */
  offset: number;
}

export interface Report {
  schema_version: number;
  generator: { name: string; version: string };
  capture: CaptureSummary;
  status: Status;
  summary: Summary;
  failures: Failures;
  /** Flow rows in creation order, at most `flowsLimit`. */
  flows: FlowSummary[];
  /** Capture-quality verdict (added by a later schema; absent before). */
  quality?: unknown;
  /** Port scans and other findings (added by a later schema; absent before). */
  findings?: unknown;
  /** Top anomalies with explanations (added by a later schema; absent before). */
  anomalies?: unknown;
}

export interface CaptureSummary {
  format: "pcap" | "pcapng" | null;
  big_endian: boolean;
  ts_precision: "usec" | "nsec" | "modified" | null;
  snaplen: number | null;
  sections: number;
  interfaces: number;
  bytes_read: number;
}

export interface ErrorInfo {
  code: "not_a_capture" | "truncated" | "record_too_large" | "malformed" | "unsupported";
  message: string;
  offset: number;
  next_frame: number;
}

export interface Status {
  complete: boolean;
  partial: boolean;
  error: ErrorInfo | null;
}

export interface Summary {
  packets: number;
  bytes: number;
  captured_bytes: number;
  start_ts: number | null;
  end_ts: number | null;
  start_time: string | null;
  end_time: string | null;
  duration_secs: number;
  out_of_order_timestamps: number;
  link_types: LinkTypeCount[];
  undecoded_frames: number;
  malformed_frames: number;
  snaplen_truncated_frames: number;
  ip_fragments: number;
  /** IP fragment reassembly; present only when a fragment was queued. */
  ip_reassembly?: IpReassembly;
  protocol_hierarchy: ProtocolNode[];
  flows: FlowTotals;
  conversations: Record<string, number>;
  top_talkers: Talker[];
  top_conversations: ConversationSummary[];
  /** Per-bucket traffic series (planned; absent in schema 1). */
  timeline_bucket_secs: number;
  timeline: { t: number; packets: number; bytes: number }[];
}

export interface LinkTypeCount {
  link_type: number;
  name: string;
  decoded: boolean;
  frames: number;
}

export interface ProtocolNode {
  depth: number;
  protocol: string;
  frames: number;
  bytes: number;
}

export interface FlowTotals {
  total: number;
  by_transport: Record<string, number>;
  by_state: Record<string, number>;
  by_service: Record<string, number>;
  peak_live: number;
  idle_timeouts: number;
  evicted: number;
  omitted_from_list: number;
  /** Only with `flow.closedTimeoutSecs` (live capture): closed TCP flows ended by it. */
  closed_timeouts?: number;
}

export interface Talker {
  addr: string;
  bytes_sent: number;
  bytes_received: number;
  packets_sent: number;
  packets_received: number;
  flows: number;
  main_service: string;
}

export interface ConversationSummary {
  flow_id: number;
  community_id: string;
  transport: string;
  orig: string;
  resp: string;
  service: string;
  packets: number;
  bytes: number;
  duration_secs: number;
  conn_state: string;
}

export interface FlowSummary {
  id: number;
  community_id: string;
  transport: "tcp" | "udp" | "icmp" | "icmpv6" | "sctp" | "other";
  orig_addr: string;
  orig_port: number;
  resp_addr: string;
  resp_port: number;
  service: string | null;
  first_ts: number;
  last_ts: number;
  duration_secs: number;
  first_frame: number;
  last_frame: number;
  orig_packets: number;
  orig_bytes: number;
  orig_ip_bytes: number;
  orig_payload_bytes: number;
  resp_packets: number;
  resp_bytes: number;
  resp_ip_bytes: number;
  resp_payload_bytes: number;
  orig_tcp_flags: string | null;
  resp_tcp_flags: string | null;
  conn_state: string;
  history: string;
  icmp_type: number | null;
  icmp_code: number | null;
  vlan: number | null;
  end_reason: "capture_end" | "idle_timeout" | "evicted" | "port_reuse" | "closed";
}

/** Where to look in the capture: 1-based frame number, time, Community ID. */
export interface Evidence {
  frame: number;
  ts: number;
  community_id: string;
}

/** A counted failure class: `total` is never capped, `instances` holds the first N. */
export interface Counted<T = FailureInstance> {
  total: number;
  instances: T[];
}

export interface FailureInstance {
  evidence?: Evidence | Evidence[];
  [field: string]: unknown;
}

/** One object per class; each holds counted sub-classes (see docs/failures.md). */
export interface Failures {
  tcp: FailureClass;
  icmp: FailureClass;
  dns: FailureClass;
  http: FailureClass;
  tls: FailureClass;
  quic: FailureClass;
  performance: FailureClass;
}

export type FailureClass = { [kind: string]: Counted | unknown };

export interface IpReassembly {
  fragments_queued: number;
  datagrams_reassembled: number;
  fragments_reassembled: number;
  overlapping_fragments: number;
  conflicting_fragments: number;
  datagrams_timed_out: number;
  datagrams_evicted: number;
  fragments_dropped: number;
  fragments_incomplete: number;
}
