//! Seeded, deterministic synthetic traffic generator.
//!
//! Produces complete Ethernet pcap files of realistic, valid traffic (correct
//! checksums, real TCP state machines, real DNS/HTTP/TLS/SSH/NTP bytes) with
//! one fault injected per [`Scenario`], plus a [`Truth`] describing exactly
//! what was injected so analyzers can be tested against it.
//!
//! Every scenario carries a background of normal traffic — DNS lookups
//! followed by HTTP/HTTPS connections (some over IPv6), SSH sessions and
//! NTP — so faults are a clear minority:
//!
//! * `normal` – background only.
//! * `tcp-resets` – 203.0.113.10:8443 refuses (SYN → RST/ACK) or aborts
//!   mid-transfer (RST/ACK) about 40 % of its connections.
//! * `retransmissions` – downloads from 198.51.100.20:443 lose segments:
//!   three SACKed duplicate ACKs + fast retransmission, and RTO (≥200 ms)
//!   retransmissions of the last segment of a response.
//! * `dns-failures` – resolver 10.0.0.53 answers SERVFAIL for names under
//!   `internal.example.org`, NXDOMAIN for typos, 10.0.0.54 never answers
//!   (queries retried after ~1 s), one public resolver REFUSES.
//! * `http-errors` – 203.0.113.50 (port 80) answers many requests with 503,
//!   background servers answer some requests with 404 and one API with 500.
//! * `port-scan` – 10.0.0.66 SYN-scans ports 1..N (N ≤ 1024, scaled with
//!   `packets`) of 10.0.0.20 within a few seconds.
//! * `long-lived` – one TLS connection lasting more than two hours with
//!   periodic small exchanges; the background is spread over that time.
//! * `blocklisted` – DNS lookup of `malware.example.net` and HTTPS
//!   connections with that SNI to 198.51.100.66.
//! * `http-odd-port` – HTTP served on 203.0.113.81:8081.
//! * `non-http-port80` – a binary protocol on 198.51.100.80:80.
//! * `mixed` – a little of every fault above.
//!
//! Output is streamed: flows are state machines stepped lazily from a
//! priority queue keyed by their next packet time, so memory is bounded by
//! the number of concurrently active flows, not the capture size.

mod flows;
mod proto;
mod scenarios;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

use crate::capture::writer::{PcapWriter, LINKTYPE_ETHERNET};
use flows::Script;
use wire::Emitter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    Normal,
    TcpResets,
    Retransmissions,
    DnsFailures,
    HttpErrors,
    PortScan,
    LongLived,
    Blocklisted,
    HttpOddPort,
    NonHttpPort80,
    Mixed,
    /// Many short flows: scans, DNS lookups, short web connections.
    FlowHeavy,
}

impl Scenario {
    pub const ALL: &'static [Scenario] = &[
        Scenario::Normal,
        Scenario::TcpResets,
        Scenario::Retransmissions,
        Scenario::DnsFailures,
        Scenario::HttpErrors,
        Scenario::PortScan,
        Scenario::LongLived,
        Scenario::Blocklisted,
        Scenario::HttpOddPort,
        Scenario::NonHttpPort80,
        Scenario::Mixed,
        Scenario::FlowHeavy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Normal => "normal",
            Scenario::TcpResets => "tcp-resets",
            Scenario::Retransmissions => "retransmissions",
            Scenario::DnsFailures => "dns-failures",
            Scenario::HttpErrors => "http-errors",
            Scenario::PortScan => "port-scan",
            Scenario::LongLived => "long-lived",
            Scenario::Blocklisted => "blocklisted",
            Scenario::HttpOddPort => "http-odd-port",
            Scenario::NonHttpPort80 => "non-http-port80",
            Scenario::Mixed => "mixed",
            Scenario::FlowHeavy => "flow-heavy",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = GenerateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        Scenario::ALL
            .iter()
            .copied()
            .find(|x| x.name() == t)
            .ok_or_else(|| GenerateError::UnknownScenario(s.to_string()))
    }
}

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Target total packet count; reached within about one flow.
    pub packets: u64,
    pub seed: u64,
    /// Exact number of background flows (TCP conversations); `None` derives
    /// a realistic mix from `packets`. With a fixed value, raising `packets`
    /// makes the same flows longer instead of adding flows.
    pub flows: Option<u64>,
    /// Timestamp of the start of the capture, nanoseconds since the epoch.
    pub start_ts_nanos: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            packets: 2000,
            seed: 1,
            flows: None,
            start_ts_nanos: 1_700_000_000 * 1_000_000_000,
        }
    }
}

pub struct Generated {
    /// A complete pcap file (little-endian, microsecond, Ethernet).
    pub bytes: Vec<u8>,
    pub truth: Truth,
}

/// What the generator put into the capture. Counts are exact.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Truth {
    pub scenario: String,
    pub seed: u64,
    pub packets: u64,
    /// TCP conversations (distinct 4-tuples per connection attempt, as
    /// tshark's `tcp.stream` counts them; every scan probe is one).
    pub tcp_flows: u64,
    /// UDP conversations (a DNS client socket doing A+AAAA is one).
    pub udp_flows: u64,
    pub ipv6_flows: u64,
    /// Number of background sessions (TCP conversations when `flows` is set).
    pub background_flows: u64,
    pub first_ts_nanos: u64,
    pub last_ts_nanos: u64,
    /// Frames with the RST flag (includes the scan's RSTs).
    pub tcp_rst_frames: u64,
    pub tcp_refused_connections: u64,
    pub tcp_aborted_connections: u64,
    pub reset_server: Option<String>,
    /// Frames tshark flags `tcp.analysis.retransmission` (fast + timeout).
    pub tcp_retransmissions: u64,
    pub tcp_fast_retransmissions: u64,
    pub tcp_timeout_retransmissions: u64,
    pub retransmission_server: Option<String>,
    /// DNS query packets (retries included).
    pub dns_queries: u64,
    /// Responses with rcode != 0.
    pub dns_error_responses: u64,
    pub dns_nxdomain: u64,
    pub dns_servfail: u64,
    pub dns_refused: u64,
    /// Query packets that never got a response (each retry counted).
    pub dns_unanswered: u64,
    pub dns_servfail_resolver: Option<String>,
    pub dns_servfail_domain: Option<String>,
    pub dns_dead_resolver: Option<String>,
    /// HTTP requests on any port (including `odd_http_port`).
    pub http_requests: u64,
    /// Responses with status >= 400 (all on port 80).
    pub http_error_responses: u64,
    pub http_4xx: u64,
    pub http_5xx: u64,
    pub http_error_server: Option<String>,
    pub tls_client_hellos: u64,
    pub ssh_sessions: u64,
    pub scanner: Option<String>,
    pub scan_target: Option<String>,
    pub scan_ports: u64,
    pub scan_open_ports: Vec<u16>,
    pub blocklisted_host: Option<String>,
    pub blocklisted_domain: Option<String>,
    pub blocklisted_connections: u64,
    pub odd_http_port: Option<u16>,
    pub odd_http_server: Option<String>,
    pub odd_http_requests: u64,
    pub non_http_port80_server: Option<String>,
    pub non_http_port80_flows: u64,
    /// Duration from first to last packet of the long-lived connection.
    pub long_lived_seconds: Option<u64>,
    pub long_lived_flow: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("unknown scenario {0:?}; expected one of: normal, tcp-resets, retransmissions, dns-failures, http-errors, port-scan, long-lived, blocklisted, http-odd-port, non-http-port80, mixed, flow-heavy")]
    UnknownScenario(String),
    #[error("invalid generate options: {0}")]
    InvalidOptions(String),
}

/// Upper bound keeping runaway requests from looping for hours.
const MAX_PACKETS: u64 = 200_000_000;

pub fn generate(scenario: Scenario, opts: &GenerateOptions) -> Result<Generated, GenerateError> {
    let mut bytes = Vec::new();
    let truth = generate_into(scenario, opts, &mut |c| bytes.extend_from_slice(c))?;
    Ok(Generated { bytes, truth })
}

/// A flow being generated, with the bookkeeping the scheduler needs.
pub(crate) struct Flow {
    pub em: Emitter,
    pub script: Box<dyn Script>,
    /// Estimated packets, used for the packet budget until the flow ends.
    pub planned: u64,
    pub emitted: u64,
    pub done: bool,
    /// Record first/last timestamps (long-lived connection).
    pub track: bool,
}

impl Flow {
    pub fn new(start: u64, script: Box<dyn Script>, planned: u64) -> Self {
        Flow {
            em: Emitter::new(start),
            script,
            planned,
            emitted: 0,
            done: false,
            track: false,
        }
    }

    /// Timestamp of the next packet, stepping the script until a pending
    /// packet is known to precede anything it could still generate.
    fn next_ts(&mut self, truth: &mut Truth) -> Option<u64> {
        loop {
            match self.em.peek_ts() {
                Some(ts) if self.done || ts <= self.em.cursor => return Some(ts),
                None if self.done => return None,
                _ => {}
            }
            if !self.script.step(&mut self.em, truth) {
                self.done = true;
            }
        }
    }
}

struct Active {
    ts: u64,
    id: u64,
    flow: Box<Flow>,
}
impl PartialEq for Active {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.id) == (o.ts, o.id)
    }
}
impl Eq for Active {}
impl PartialOrd for Active {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Active {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.ts, o.id).cmp(&(self.ts, self.id))
    }
}

const CHUNK: usize = 1 << 20;

/// Streaming form: `sink` receives consecutive chunks of the pcap file (the
/// first starts with the global header). Memory stays bounded by the
/// flows in progress.
pub fn generate_into(
    scenario: Scenario,
    opts: &GenerateOptions,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<Truth, GenerateError> {
    if opts.packets == 0 {
        return Err(GenerateError::InvalidOptions(
            "packets must be at least 1".into(),
        ));
    }
    if opts.packets > MAX_PACKETS {
        return Err(GenerateError::InvalidOptions(format!(
            "packets must be at most {MAX_PACKETS}"
        )));
    }
    match opts.flows {
        Some(0) => {
            return Err(GenerateError::InvalidOptions(
                "flows must be at least 1".into(),
            ));
        }
        Some(f) if f > opts.packets => {
            return Err(GenerateError::InvalidOptions(format!(
                "flows ({f}) cannot exceed packets ({})",
                opts.packets
            )));
        }
        _ => {}
    }
    if opts.start_ts_nanos / 1_000_000_000 > u32::MAX as u64 - 30 * 86400 {
        return Err(GenerateError::InvalidOptions(
            "start_ts_nanos does not fit classic pcap timestamps".into(),
        ));
    }

    let mut truth = Truth {
        scenario: scenario.name().to_string(),
        seed: opts.seed,
        ..Default::default()
    };
    let mut plan = scenarios::plan(scenario, opts, &mut truth);
    let mut writer = PcapWriter::new(LINKTYPE_ETHERNET, 262_144, false);
    let mut heap: BinaryHeap<Active> = BinaryHeap::new();
    let mut next_id = 0u64;
    let mut committed: i64 = plan.faults.iter().map(|(_, f)| f.planned as i64).sum();
    let target = opts.packets as i64;
    let mut track: Option<(u64, u64)> = None;
    let mut first_ts = None;
    let mut last_ts = 0u64;

    loop {
        let next_active = heap.peek().map(|a| a.ts);
        let next_fault = plan.faults.front().map(|(s, _)| *s);
        let next_bg = plan.bg.next_start(committed, target);
        let candidate = match (next_fault, next_bg) {
            (Some(f), Some(b)) => Some(f.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(start) = candidate {
            if next_active.is_none_or(|a| start <= a) {
                let mut flow = if next_fault == Some(start) {
                    plan.faults.pop_front().unwrap().1
                } else {
                    let f = plan.bg.admit(&mut plan.world, &mut truth);
                    committed += f.planned as i64;
                    f
                };
                if let Some(ts) = flow.next_ts(&mut truth) {
                    next_id += 1;
                    heap.push(Active {
                        ts,
                        id: next_id,
                        flow: Box::new(flow),
                    });
                }
                continue;
            }
        }
        let Some(mut a) = heap.pop() else { break };
        let (ts, frame) = a.flow.em.pop().expect("active flow without a packet");
        debug_assert!(ts >= last_ts, "timestamps must not decrease");
        writer.write_record(ts, frame.len() as u32, &frame);
        truth.packets += 1;
        first_ts.get_or_insert(ts);
        last_ts = ts;
        a.flow.emitted += 1;
        if a.flow.track {
            let t = track.get_or_insert((ts, ts));
            t.1 = ts;
        }
        if writer.buffered_len() >= CHUNK {
            sink(&writer.take_bytes());
        }
        match a.flow.next_ts(&mut truth) {
            Some(ts) => {
                a.ts = ts;
                heap.push(a);
            }
            None => committed += a.flow.emitted as i64 - a.flow.planned as i64,
        }
    }
    let rest = writer.take_bytes();
    if !rest.is_empty() {
        sink(&rest);
    }
    truth.first_ts_nanos = first_ts.unwrap_or(opts.start_ts_nanos);
    truth.last_ts_nanos = last_ts;
    if let Some((a, b)) = track {
        truth.long_lived_seconds = Some((b - a) / 1_000_000_000);
    }
    Ok(truth)
}
