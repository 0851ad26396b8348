//! # pcaplens-core
//!
//! The sans-IO engine of pcaplens: packets and time in, events and reports
//! out. No files, sockets, clocks, threads or environment — the caller hands
//! over packets (or capture bytes) and passes time and randomness in, so the
//! same core runs in the CLI, in Python and in the browser (wasm32), and gives
//! byte-identical reports everywhere.
//!
//! Data flows one way, in one pass, with memory bounded by the number of live
//! flows (never by the number of packets):
//!
//! ```text
//! capture bytes ─► capture::Reader ─► Record ─┐            (analyzer::Analyzer)
//! a live packet ─────────────────────────────► Engine::handle_packet(ts, link, len, bytes)
//! the caller's clock ────────────────────────► Engine::handle_timeout(now)
//!                                              │
//!                decode ─► Packet ─► flow::FlowTable (Community ID, Zeek state, TCP analysis)
//!                                              │
//!                     detect::* · anomaly · stats (per packet, per ended flow, per timeout)
//!                                              │
//!   Engine::poll_event() → ended flows, findings, failure instances, as soon as decided
//!   Engine::snapshot() → the report so far      Engine::finish() → report::Report
//! ```
//!
//! | layer | module | contract |
//! |---|---|---|
//! | engine | [`engine`] | `handle_packet` / `handle_timeout` / `poll_timeout` / `poll_event` / `snapshot` / `close` / `finish` |
//! | files and streams | [`analyzer`] | capture bytes in chunks of any size → the engine; `FrameSource`: the same reading as a first stage for a reader thread |
//! | containers | [`capture`] | push-based; incomplete ≠ malformed; bounded buffering |
//! | frames | [`decode`] | lax, zero-copy views, never panics |
//! | flows | [`flow`] | canonical keys, Community ID v1, Zeek `conn_state`/`history`, per-flow features |
//! | detectors | [`detect`] | one per concern behind one trait with no-op hooks; an outbox for events |
//! | anomalies | [`anomaly`] | Isolation Forest over per-flow features, seeded, explained |
//! | statistics | [`stats`] | totals, protocol hierarchy, talkers, conversations |
//! | output | [`report`] | the one serde data contract, versioned, deterministic |
//! | SIEM output | [`eve`] | Suricata EVE JSON lines (`flow`, `alert`, `stats`) from events, schema-valid |
//! | errors | [`error`] | typed errors with stable codes, offsets and frame numbers |
//! | evidence | [`evidence`] | the compact, masked evidence pack and the offline diagnosis |
//! | rewriting | [`sanitize`] | keyed, length-preserving scrubbing of a capture, with a leak audit |
//! | options | [`options`] | one serde type, documented defaults, one mapping for every front |
//! | test traffic | [`generate`] | seeded, deterministic scenarios as pcap bytes |
//! | leaves | [`time`], `rng` | timestamps and their rendering; the seeded PRNG |
//!
//! ```
//! use pcaplens_core::{analyze_bytes, AnalyzerConfig, generate};
//! let capture = generate::generate(generate::Scenario::Normal, &Default::default()).unwrap();
//! let report = analyze_bytes(&capture.bytes, AnalyzerConfig::default()).unwrap();
//! assert!(report.summary.packets > 0);
//! ```

pub mod analyzer;
pub mod anomaly;
pub mod capture;
pub mod classify;
pub mod decode;
pub mod detect;
pub mod ecs;
pub mod engine;
pub mod error;
pub mod eve;
pub mod evidence;
pub mod flow;
pub mod flow_packets;
pub mod generate;
pub mod options;
pub mod partial;
pub mod reassembly;
pub mod report;
pub(crate) mod rng;
pub mod sanitize;
pub mod stats;
pub mod time;

#[cfg(test)]
mod regression;

pub use analyzer::{analyze_bytes, Analyzer, AnalyzerConfig, Progress};
pub use engine::{Engine, Event};
pub use error::{CaptureError, ConfigError, ErrorInfo};
pub use options::Options;
pub use report::{FlowSummary, Report, SCHEMA_VERSION};
