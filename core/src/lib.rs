//! # pcaplens-core
//!
//! The sans-IO engine of pcaplens: capture bytes in, facts out. No files,
//! sockets, clocks, threads or environment — the caller feeds bytes and passes
//! time and randomness in, so the same core runs in the CLI, in Python and in
//! the browser (wasm32), and gives byte-identical reports everywhere.
//!
//! Data flows one way, in one pass, with memory bounded by the number of live
//! flows (never by the number of packets):
//!
//! ```text
//! bytes ─► capture::Reader ─► Record ─► decode::decode ─► Packet
//!                                                         │
//!                              flow::FlowTable (Community ID, Zeek state)
//!                                                         │
//!                                    stats ─────────► report::Report
//! ```
//!
//! | layer | module | contract |
//! |---|---|---|
//! | containers | [`capture`] | push-based; incomplete ≠ malformed; bounded buffering |
//! | frames | [`decode`] | lax, zero-copy views, never panics |
//! | flows | [`flow`] | canonical keys, Community ID v1, Zeek `conn_state`/`history` |
//! | statistics | [`stats`] | totals, protocol hierarchy, talkers, conversations |
//! | output | [`report`] | the one serde data contract, versioned, deterministic |
//! | anomalies | [`anomaly`] | Isolation Forest over per-flow features, seeded, explained |
//! | driver | [`analyzer`] | `feed` / `drain_flows` / `finish` |
//! | options | [`options`] | one serde type, documented defaults, one mapping for every front |
//! | test traffic | [`generate`] | seeded, deterministic scenarios as pcap bytes |
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
pub mod decode;
pub mod detect;
pub mod error;
pub mod evidence;
pub mod flow;
pub mod generate;
pub mod options;
pub mod report;
pub mod sanitize;
pub mod staged;
pub mod stats;

pub use analyzer::{
    analyze_bytes, Analyzer, AnalyzerConfig, Frame, FrameFlow, FrameSource, Progress, SourceEnd,
};
pub use error::{CaptureError, ConfigError, ErrorInfo};
pub use options::Options;
pub use report::{FlowSummary, Report, SCHEMA_VERSION};
