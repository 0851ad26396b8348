//! The engine: packets and time in, events and reports out.
//!
//! A sans-IO state machine in quinn-proto's shape. The caller hands it
//! packets ([`Engine::handle_packet`]) and, when no packet comes, the current
//! time ([`Engine::handle_timeout`], at the latest when
//! [`Engine::poll_timeout`] says); it polls what the engine decided
//! ([`Engine::poll_event`]: ended flows, findings and failure instances, as
//! soon as each is decided), looks at the analysis so far without ending it
//! ([`Engine::snapshot`]) and ends it ([`Engine::finish`]). The engine never
//! reads a clock: time is the packets' timestamps, or the caller's `now`.
//!
//! Capture files go through [`crate::Analyzer`], a thin adapter that turns
//! container bytes into the same packet calls.

use crate::anomaly::{AnomalyEngine, FeatureMatrix};
use crate::capture::{CaptureInfo, Record};
use crate::decode::{self, tcp_flags};
use crate::detect::{Detectors, FlowCtx, PacketCtx};
use crate::error::{ConfigError, ErrorInfo};
use crate::flow::{EndReason, Flow, FlowInput, FlowTable};
use crate::options::AnalyzerConfig;
use crate::report::{
    CaptureSummary, ConversationSummary, FlowSummary, Generator, Report, Status, Summary,
    SCHEMA_VERSION,
};
use crate::stats::{self, FlowStats, PacketStats};
use crate::time::{rfc3339, ts_secs};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use crate::detect::outbox::Decision;
pub use crate::detect::outbox::{FailureEvent, FindingEvent};

/// What the engine decided, handed out by [`Engine::poll_event`] in the
/// order it was decided.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A flow left the table: idle timeout (on a later packet or on
    /// [`Engine::handle_timeout`]), eviction, port reuse, or the end.
    FlowEnded(Box<FlowSummary>),
    /// A finding (scan, blocklist hit, unusual port, long-lived connection,
    /// protocol/port mismatch) at the moment it is decided. Its report entry
    /// may grow later (more probes, more flows); the finding is polled once.
    Finding(FindingEvent),
    /// One counted failure instance (a retransmission, an unanswered DNS
    /// query, an HTTP error…): per class, their number is the class's total.
    Failure(FailureEvent),
}

/// The first half of the per-packet work: the flow table, the anomaly
/// features and the flow statistics (totals, talkers, top conversations). It
/// needs only decoded frames, so a front with two cores may run it beside the
/// decoding while the detectors run on the other core (`pcaplens-native-io`).
#[derive(Clone)]
pub struct Accounting {
    pub(crate) table: FlowTable,
    pub(crate) anomaly: Option<AnomalyEngine>,
    /// Counted as flows end, on this stage's thread: a pure function of the
    /// ended flows, taken off the detectors' core.
    pub(crate) flow_stats: FlowStats,
}

/// Ended flows handed from a first stage to the detectors in batches of
/// this many (only across threads: [`Engine`] ends flows one by one).
pub const ENDED_BATCH: usize = 256;

impl Accounting {
    pub fn new(cfg: &AnalyzerConfig) -> Self {
        Accounting {
            table: FlowTable::new(cfg.flow.clone()),
            anomaly: cfg
                .anomaly
                .enabled
                .then(|| AnomalyEngine::new(&cfg.anomaly)),
            flow_stats: FlowStats::new(cfg.top_n),
        }
    }

    /// Account one decoded frame; returns the context of its innermost flow.
    pub fn on_packet(&mut self, rec: &Record<'_>, pkt: &decode::Packet<'_>) -> Option<FlowCtx> {
        let vlan = pkt.vlan_ids.first().copied();
        let n = pkt.ip.len();
        // Outer (tunnel) layers first: they have flows of their own but no app protocol.
        for layer in pkt.ip.iter().take(n.saturating_sub(1)) {
            account_layer(&mut self.table, &mut self.anomaly, layer, rec, None, vlan);
        }
        let layer = pkt.ip.last()?;
        account_layer(
            &mut self.table,
            &mut self.anomaly,
            layer,
            rec,
            pkt.app,
            vlan,
        )
        .map(|(flow, placement)| FlowCtx {
            flow: flow.view(),
            from_orig: placement.from_orig,
            new_flow: placement.new_flow,
            tcp: placement.tcp,
        })
    }

    /// The flows that ended since the last batch, once there are
    /// [`ENDED_BATCH`] of them (the batches do not depend on chunking).
    pub fn ended_batch(&mut self) -> Option<Vec<Flow>> {
        (self.table.finished_len() >= ENDED_BATCH).then(|| self.take_ended())
    }

    /// Every flow that ended and was not taken yet, in the order they ended.
    pub fn take_ended(&mut self) -> Vec<Flow> {
        let ended = self.table.take_finished();
        for f in &ended {
            count_ended(&mut self.anomaly, &mut self.flow_stats, f);
        }
        ended
    }

    /// Flows in the table now.
    pub fn live_flows(&self) -> usize {
        self.table.live()
    }

    /// End of input: every flow that ended and every flow still in the
    /// table, handed to `f` one by one (ended ones first, then the live ones in
    /// creation order), each counted by the anomaly features and the flow
    /// statistics on its way.
    pub fn drain(&mut self, mut f: impl FnMut(Flow)) {
        for flow in self.take_ended() {
            f(flow);
        }
        let (anomaly, flow_stats) = (&mut self.anomaly, &mut self.flow_stats);
        self.table.drain_live(|flow| {
            count_ended(anomaly, flow_stats, &flow);
            f(flow)
        });
    }
}

/// What the first stage counts of every flow that ends.
fn count_ended(anomaly: &mut Option<AnomalyEngine>, flow_stats: &mut FlowStats, f: &Flow) {
    if let Some(a) = anomaly {
        a.on_flow_end(f);
    }
    let service = stats::service_label(f);
    flow_stats.on_flow(f, service, || {
        conversation_row(&flow_summary(f), &service.to_string())
    });
}

/// The second half: packet statistics, detectors and the flow list.
#[derive(Clone)]
struct Pipeline {
    cfg: AnalyzerConfig,
    packet_stats: PacketStats,
    detectors: Detectors,
    listed: BTreeMap<u64, FlowSummary>,
    omitted: u64,
    collected: Vec<FlowSummary>,
}

/// The packet-level engine. See the module documentation.
#[derive(Clone)]
pub struct Engine {
    /// None while a first stage run elsewhere does the accounting
    /// ([`Engine::handle_accounted`]); it then arrives with [`Engine::finish_parts`].
    accounting: Option<Accounting>,
    pipe: Pipeline,
    /// Frames given to [`Engine::handle_packet`] (they are numbered 1, 2, …).
    frames: u64,
    events: VecDeque<Event>,
    events_enabled: bool,
    /// [`Engine::close`] ran (a packet after it opens the input again).
    closed: bool,
    /// IP fragment reassembly of the frames this engine decodes itself.
    defrag: decode::defrag::Defrag,
}

impl Engine {
    pub fn new(cfg: AnalyzerConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Engine {
            accounting: Some(Accounting::new(&cfg)),
            pipe: Pipeline {
                packet_stats: PacketStats::default(),
                detectors: Detectors::new(&cfg.detect),
                listed: BTreeMap::new(),
                omitted: 0,
                collected: Vec::new(),
                cfg,
            },
            frames: 0,
            events: VecDeque::new(),
            events_enabled: false,
            closed: false,
            defrag: Default::default(),
        })
    }

    /// Keep events for [`Engine::poll_event`]. Off by default: a caller that
    /// only wants the report pays nothing for them. A caller that turns them
    /// on polls them as they come (they wait in memory until polled).
    pub fn with_events(mut self) -> Self {
        self.events_enabled = true;
        self.pipe.detectors.set_events(true);
        self
    }

    /// Allocate now the bounded memory that would otherwise fill in over the
    /// first minutes of traffic (the anomaly training reservoir): a sensor's
    /// resident size is then the same after an hour as after ten seconds.
    /// The analysis does not change.
    pub fn preallocated(mut self) -> Self {
        if let Some(a) = self.accounting.as_mut().and_then(|a| a.anomaly.as_mut()) {
            a.preallocate();
        }
        self
    }

    /// One packet: its capture time (nanoseconds since the Unix epoch), the
    /// LINKTYPE_* of its link, its length on the wire and the captured bytes.
    /// Returns its frame number (1-based, as Wireshark counts).
    pub fn handle_packet(
        &mut self,
        ts_nanos: i64,
        link_type: u32,
        orig_len: u32,
        data: &[u8],
    ) -> u64 {
        self.frames += 1;
        let record = Record {
            frame: self.frames,
            ts_nanos,
            has_ts: true,
            link_type,
            interface: 0,
            orig_len: orig_len.max(data.len() as u32),
            data,
            offset: 0,
            raw: data,
        };
        self.handle_record(&record);
        self.frames
    }

    /// One record of a capture file (its frame number is the reader's).
    pub(crate) fn handle_record(&mut self, record: &Record<'_>) {
        self.closed = false;
        // Filled in place: a ~600-byte packet is not moved around.
        let whole;
        let mut packet = decode::Packet::default();
        decode::decode_into(&mut packet, record.link_type, record.data);
        if packet.has_fragment() {
            whole = self
                .defrag
                .on_packet(&mut packet, record.data, record.ts_nanos);
            if let Some(w) = &whole {
                decode::apply_reassembled(&mut packet, w);
            }
        }
        let acc = self
            .accounting
            .get_or_insert_with(|| Accounting::new(&self.pipe.cfg));
        let flow = acc.on_packet(record, &packet);
        self.pipe.on_packet(record, &packet, flow.as_ref());
        self.end_flows();
        self.move_events();
    }

    /// A packet a first stage already decoded and accounted (the flow
    /// accounting then stays with that stage; see [`Accounting`]).
    pub fn handle_accounted(
        &mut self,
        record: &Record<'_>,
        packet: &decode::Packet<'_>,
        flow: Option<&FlowCtx>,
    ) {
        self.accounting = None;
        self.pipe.on_packet(record, packet, flow);
        self.move_events();
    }

    /// A packet a first stage decoded without the flow accounting, which this
    /// engine then does.
    pub fn handle_decoded(&mut self, record: &Record<'_>, packet: &decode::Packet<'_>) {
        let acc = self
            .accounting
            .get_or_insert_with(|| Accounting::new(&self.pipe.cfg));
        let flow = acc.on_packet(record, packet);
        self.pipe.on_packet(record, packet, flow.as_ref());
        self.end_flows();
        self.move_events();
    }

    /// Flows a first stage ended (see [`Engine::handle_accounted`]).
    pub fn handle_ended(&mut self, flows: &[Flow]) {
        for f in flows {
            self.end_flow(f);
        }
        self.move_events();
    }

    /// Decryption secrets from the capture (pcapng DSB), before the packets they unlock.
    pub fn handle_secrets(&mut self, secrets_type: u32, data: &[u8]) {
        if self.pipe.cfg.detect_enabled {
            self.pipe.detectors.on_secrets(secrets_type, data);
        }
    }

    /// Replace the blocklist (`detect.blocklist.entries`) from the next packet
    /// on: a long-running caller reloading its list files. Hits so far stay
    /// in the report under the entries that matched them; the report's
    /// `findings.blocklist.entries` counts the list in force at the end.
    pub fn set_blocklist(&mut self, entries: Vec<crate::detect::blocklist::Indicator>) {
        self.pipe.detectors.set_blocklist(entries.clone());
        self.pipe.cfg.detect.blocklist.entries = entries;
    }

    /// The caller's clock (same epoch and unit as the packets' timestamps):
    /// flows idle past the timeout end now, without waiting for a packet.
    pub fn handle_timeout(&mut self, now_nanos: i64) {
        if let Some(acc) = &mut self.accounting {
            acc.table.expire(now_nanos);
        }
        self.end_flows();
        if self.pipe.cfg.detect_enabled {
            self.pipe.detectors.on_timeout(now_nanos);
        }
        self.move_events();
    }

    /// When [`Engine::handle_timeout`] has work to do next (the next sweep
    /// of idle flows), if anything is live.
    pub fn poll_timeout(&self) -> Option<i64> {
        let acc = self.accounting.as_ref()?;
        (acc.table.live() > 0)
            .then(|| acc.table.next_sweep())
            .flatten()
    }

    /// The next event decided, oldest first (only after [`Engine::with_events`]).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The flows ended since the last call (with `collect_flows`), in the order they ended.
    pub fn drain_flows(&mut self) -> Vec<FlowSummary> {
        std::mem::take(&mut self.pipe.collected)
    }

    /// The packet statistics so far (for a mergeable partial, `crate::partial`).
    pub(crate) fn packet_stats(&self) -> &PacketStats {
        &self.pipe.packet_stats
    }

    /// IP datagrams whose fragments are still waiting for the rest.
    pub(crate) fn pending_fragments(&self) -> usize {
        self.defrag.pending()
    }

    /// Whether a QUIC flow is still live (a piece's end, `crate::partial`: the
    /// next piece's frames on it are relabelled by the flow's service, which
    /// that piece alone does not know). Ends the live flows.
    pub(crate) fn end_with_quic_live(&mut self) -> bool {
        let Some(acc) = &mut self.accounting else {
            return false;
        };
        acc.table.finish_all();
        acc.table
            .take_finished()
            .iter()
            .any(|f| f.service == Some(decode::AppProto::Quic))
    }

    /// Packets seen and flows live now (progress only).
    pub fn packets(&self) -> u64 {
        self.pipe.packet_stats.packets
    }

    pub fn live_flows(&self) -> usize {
        self.accounting.as_ref().map_or(0, Accounting::live_flows)
    }

    /// The report of everything so far, as if the input ended here, without
    /// ending the analysis.
    pub fn snapshot(&self) -> Report {
        self.clone().finish()
    }

    /// End of input: every live flow ends now and what is still open
    /// (unanswered queries, unfinished handshakes, scans) is decided; their
    /// events follow in [`Engine::poll_event`]. [`Engine::finish`] does this
    /// itself when it was not done.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        if let Some(mut acc) = self.accounting.take() {
            acc.drain(|f| self.end_flow(&f));
            self.accounting = Some(acc);
        }
        self.input_end();
    }

    /// End of input: every live flow ends; the report.
    pub fn finish(self) -> Report {
        self.finish_parts(Capture::default(), None).0
    }

    /// End of input, with what the container said and the accounting of a
    /// first stage run elsewhere (None: this engine's own).
    pub(crate) fn finish_parts(
        mut self,
        capture: Capture,
        first_stage: Option<Accounting>,
    ) -> (Report, Vec<FlowSummary>, Option<FeatureMatrix>) {
        let accounting = match first_stage {
            Some(mut accounting) => {
                accounting.drain(|f| self.end_flow(&f));
                self.input_end();
                accounting
            }
            None => {
                self.close();
                self.accounting
                    .take()
                    .unwrap_or_else(|| Accounting::new(&self.pipe.cfg))
            }
        };
        let rest = std::mem::take(&mut self.pipe.collected);
        let (report, matrix) = self.pipe.build_report(capture, accounting);
        (report, rest, matrix)
    }

    fn input_end(&mut self) {
        if self.pipe.cfg.detect_enabled {
            self.pipe.detectors.input_end();
        }
        self.move_events();
        self.closed = true;
    }

    /// Hand the flows the table ended to the detectors and the flow list, one by one.
    fn end_flows(&mut self) {
        let Some(acc) = &mut self.accounting else {
            return;
        };
        if acc.table.finished_len() == 0 {
            return;
        }
        for f in acc.take_ended() {
            self.end_flow(&f);
        }
    }

    fn end_flow(&mut self, f: &Flow) {
        self.pipe.on_flow_end(f);
        if self.events_enabled {
            self.move_events();
            self.events
                .push_back(Event::FlowEnded(Box::new(flow_summary(f))));
        }
    }

    fn move_events(&mut self) {
        if self.events_enabled {
            let events = &mut self.events;
            self.pipe.detectors.move_events(|d| {
                events.push_back(match d {
                    Decision::Finding(f) => Event::Finding(f),
                    Decision::Failure(f) => Event::Failure(f),
                })
            });
        }
    }
}

/// What the container said, for the report's `capture` and `status` sections.
#[derive(Clone, Debug, Default)]
pub(crate) struct Capture {
    pub info: Option<CaptureInfo>,
    pub consumed: u64,
    pub error: Option<ErrorInfo>,
}

impl Pipeline {
    fn on_flow_end(&mut self, f: &Flow) {
        if self.cfg.detect_enabled {
            self.detectors.on_flow_end(f);
        }
        // Build the row only when someone keeps it: most flows of a big
        // capture fall past `flows_limit` and are only counted.
        let listed = self.listed.len() < self.cfg.flows_limit
            || self
                .listed
                .last_key_value()
                .is_some_and(|(&last, _)| f.id < last);
        if !listed && !self.cfg.collect_flows {
            self.omitted += 1;
            return;
        }
        let summary = flow_summary(f);
        if self.cfg.collect_flows {
            self.collected.push(summary.clone());
        }
        if listed {
            self.listed.insert(summary.id, summary);
            if self.listed.len() > self.cfg.flows_limit {
                self.listed.pop_last();
                self.omitted += 1;
            }
        } else {
            self.omitted += 1;
        }
    }

    fn on_packet(
        &mut self,
        record: &Record<'_>,
        packet: &decode::Packet<'_>,
        flow: Option<&FlowCtx>,
    ) {
        // A version negotiation is QUIC only on a QUIC conversation, which
        // the decoder cannot know: its protocol path gets `quic` here.
        let quic_flow = packet.app.is_none()
            && flow.is_some_and(|f| f.flow.service == Some(decode::AppProto::Quic));
        self.packet_stats.on_packet(record, packet, quic_flow);
        if self.cfg.detect_enabled {
            self.detectors.on_packet(&PacketCtx {
                record,
                packet,
                flow,
            });
        }
    }

    fn build_report(
        mut self,
        capture: Capture,
        Accounting {
            table,
            anomaly,
            flow_stats,
        }: Accounting,
    ) -> (Report, Option<FeatureMatrix>) {
        let Capture {
            info,
            consumed,
            error,
        } = capture;
        let info = info.unwrap_or_default();
        let s = &self.packet_stats;
        let mut flow_totals = flow_stats.flow_totals();
        flow_totals.peak_live = table.peak_live as u64;
        flow_totals.idle_timeouts = table.timed_out;
        flow_totals.evicted = table.evicted;
        flow_totals.closed_timeouts = table.closed;
        flow_totals.omitted_from_list = self.omitted;
        let duration = match (s.first_ts, s.last_ts) {
            (Some(a), Some(b)) => (b - a).max(0) as f64 / 1e9,
            _ => 0.0,
        };
        let summary = Summary {
            packets: s.packets,
            bytes: s.bytes,
            captured_bytes: s.captured_bytes,
            start_ts: s.first_ts.map(ts_secs),
            end_ts: s.last_ts.map(ts_secs),
            start_time: s.first_ts.map(rfc3339),
            end_time: s.last_ts.map(rfc3339),
            duration_secs: (duration * 1e6).round() / 1e6,
            out_of_order_timestamps: s.ts_backwards,
            link_types: s.link_type_counts(),
            undecoded_frames: s.undecoded,
            malformed_frames: s.malformed,
            snaplen_truncated_frames: s.snapped,
            ip_fragments: s.fragments,
            ip_reassembly: {
                let mut r = s.reassembly.clone();
                r.fragments_incomplete = r
                    .fragments_queued
                    .saturating_sub(r.fragments_reassembled + r.fragments_dropped);
                r
            },
            protocol_hierarchy: s.protocol_hierarchy(),
            flows: flow_totals,
            conversations: table
                .conversations
                .iter()
                .map(|(&p, &n)| (stats::transport_name(p).to_string(), n))
                .collect(),
            timeline_bucket_secs: s.timeline().0,
            timeline: s.timeline().1,
            top_talkers: flow_stats.top_talkers(),
            top_conversations: flow_stats.top_conversations(),
        };
        let flows: Vec<FlowSummary> = std::mem::take(&mut self.listed).into_values().collect();
        let failures = self.detectors.finish();
        let findings = self.detectors.finish_findings();
        let counts = crate::detect::quality::FrameCounts {
            packets: summary.packets,
            snaplen_truncated_frames: summary.snaplen_truncated_frames,
            out_of_order_timestamps: summary.out_of_order_timestamps,
        };
        let quality = self.detectors.quality(&counts, &failures);
        let (anomalies, matrix) = match anomaly {
            Some(a) => a.finish(),
            None => Default::default(),
        };
        let report = Report {
            schema_version: SCHEMA_VERSION,
            generator: Generator {
                name: "pcaplens".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            capture: CaptureSummary {
                format: info.format.map(|f| match f {
                    crate::capture::Format::Pcap => "pcap".to_string(),
                    crate::capture::Format::Pcapng => "pcapng".to_string(),
                }),
                big_endian: info.big_endian,
                ts_precision: info.ts_precision.map(str::to_string),
                snaplen: info.snaplen,
                sections: info.sections,
                interfaces: info.interfaces,
                bytes_read: consumed,
            },
            status: Status {
                complete: error.is_none(),
                partial: error.is_some(),
                error,
            },
            quality,
            summary,
            failures,
            findings,
            anomalies,
            flows,
            merge: None,
        };
        (report, matrix)
    }
}

fn flag_letters(f: u8) -> String {
    let mut s = String::with_capacity(8);
    for (bit, c) in [
        (tcp_flags::SYN, 'S'),
        (tcp_flags::ACK, 'A'),
        (tcp_flags::PSH, 'P'),
        (tcp_flags::FIN, 'F'),
        (tcp_flags::RST, 'R'),
        (tcp_flags::URG, 'U'),
        (tcp_flags::ECE, 'E'),
        (tcp_flags::CWR, 'C'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Account one IP layer of a record to its flow (and the anomaly features).
/// Always inlined: the flow and placement then go straight into the
/// packet's FlowCtx instead of through a returned copy.
#[inline(always)]
fn account_layer<'t>(
    table: &'t mut FlowTable,
    anomaly: &mut Option<AnomalyEngine>,
    layer: &decode::IpLayer<'_>,
    rec: &Record<'_>,
    app: Option<decode::AppProto>,
    vlan: Option<u16>,
) -> Option<(&'t Flow, crate::flow::Placement)> {
    let mut input = FlowInput::from_layer(layer)?;
    input.snapped_bytes = rec.orig_len.saturating_sub(rec.data.len() as u32);
    let (flow, placement) = table.update(
        input,
        layer,
        rec.ts_nanos,
        rec.frame,
        rec.orig_len,
        app,
        vlan,
    );
    if let Some(a) = anomaly {
        a.on_packet(flow, &placement, layer, rec);
    }
    Some((flow, placement))
}

/// The report row of a flow.
pub fn flow_summary(f: &Flow) -> FlowSummary {
    let first = ts_secs(f.first_ts);
    let last = ts_secs(f.last_ts);
    let is_tcp = f.proto == 6;
    let is_icmp = f.proto == 1 || f.proto == 58;
    FlowSummary {
        id: f.id,
        community_id: f.community_id().to_string(),
        transport: stats::transport_name(f.proto).to_string(),
        orig_addr: addr_string(f.orig_addr),
        orig_port: if is_icmp { 0 } else { f.orig_port },
        resp_addr: addr_string(f.resp_addr),
        resp_port: if is_icmp { 0 } else { f.resp_port },
        service: f.service.map(|s| s.name().to_string()),
        first_ts: first,
        last_ts: last,
        duration_secs: (((f.last_ts - f.first_ts).max(0) as f64 / 1e9) * 1e6).round() / 1e6,
        first_frame: f.first_frame,
        last_frame: f.last_frame,
        orig_packets: f.dir[0].packets,
        orig_bytes: f.dir[0].bytes,
        orig_ip_bytes: f.dir[0].ip_bytes,
        orig_payload_bytes: f.dir[0].payload_bytes,
        resp_packets: f.dir[1].packets,
        resp_bytes: f.dir[1].bytes,
        resp_ip_bytes: f.dir[1].ip_bytes,
        resp_payload_bytes: f.dir[1].payload_bytes,
        orig_tcp_flags: is_tcp.then(|| flag_letters(f.tcp_flags[0])),
        resp_tcp_flags: is_tcp.then(|| flag_letters(f.tcp_flags[1])),
        conn_state: f.conn_state().to_string(),
        history: f.history(),
        icmp_type: f.icmp.filter(|_| is_icmp).map(|x| x.0),
        icmp_code: f.icmp.filter(|_| is_icmp).map(|x| x.1),
        vlan: f.vlan,
        end_reason: match f.end_reason {
            EndReason::CaptureEnd => "capture_end",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::Evicted => "evicted",
            // Zeek's reopened connection is a new connection on the same ports too.
            EndReason::PortReuse | EndReason::Reopened => "port_reuse",
            EndReason::Closed => "closed",
        }
        .to_string(),
    }
}

/// An address as `to_string` writes it; IPv4 (most rows) without the
/// formatting machinery, which costs more than the rest of the row.
fn addr_string(addr: IpAddr) -> String {
    let IpAddr::V4(v4) = addr else {
        return addr.to_string();
    };
    let mut s = String::with_capacity(15);
    for (k, octet) in v4.octets().into_iter().enumerate() {
        if k > 0 {
            s.push('.');
        }
        if octet >= 100 {
            s.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            s.push(char::from(b'0' + octet / 10 % 10));
        }
        s.push(char::from(b'0' + octet % 10));
    }
    s
}

fn endpoint(addr: &str, port: u16, transport: &str) -> String {
    if transport == "tcp" || transport == "udp" {
        if addr.contains(':') {
            format!("[{addr}]:{port}")
        } else {
            format!("{addr}:{port}")
        }
    } else {
        addr.to_string()
    }
}

fn conversation_row(s: &FlowSummary, service: &str) -> ConversationSummary {
    ConversationSummary {
        flow_id: s.id,
        community_id: s.community_id.clone(),
        transport: s.transport.clone(),
        orig: endpoint(&s.orig_addr, s.orig_port, &s.transport),
        resp: endpoint(&s.resp_addr, s.resp_port, &s.transport),
        service: service.to_string(),
        packets: s.orig_packets + s.resp_packets,
        bytes: s.orig_bytes + s.resp_bytes,
        duration_secs: s.duration_secs,
        conn_state: s.conn_state.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::addr_string;
    use std::net::IpAddr;

    #[test]
    fn addr_string_is_to_string() {
        for a in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "192.168.1.20",
            "1.10.99.100",
            "::",
            "2001:db8::1",
            "::ffff:10.1.2.3",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(addr_string(ip), ip.to_string());
        }
    }
}

#[cfg(test)]
mod blocklist_reload {
    use super::{Engine, Event};
    use crate::detect::blocklist::parse_list;
    use crate::generate::wire::{udp_frame, Host, IpParams};
    use crate::options::AnalyzerConfig;

    fn frame(dst: [u8; 4], sport: u16) -> Vec<u8> {
        let host = |ip: [u8; 4], m: u8| Host {
            mac: [2, 0, 0, 0, 0, m],
            ip: ip.into(),
        };
        let ip = IpParams {
            id: sport,
            ttl: 64,
            flow_label: 0,
        };
        udp_frame(
            &host([10, 0, 0, 1], 1),
            &host(dst, 2),
            sport,
            5000,
            b"x",
            ip,
        )
    }

    fn hits(e: &mut Engine) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(ev) = e.poll_event() {
            if let Event::Finding(f) = ev {
                if f.kind == "blocklist" {
                    v.push(f.detail["indicator"].as_str().unwrap().to_string());
                }
            }
        }
        v
    }

    /// A reloaded list matches from the next packet on; earlier hits stay in
    /// the report, and the list's name collectors follow it.
    #[test]
    fn set_blocklist_replaces_the_list_from_the_next_packet() {
        let mut cfg = AnalyzerConfig::default();
        cfg.detect.blocklist.entries = parse_list("10.0.0.2\n", "a.txt").unwrap();
        let mut e = Engine::new(cfg).unwrap().with_events();
        let s = 1_000_000_000i64;
        e.handle_packet(s, 1, 60, &frame([10, 0, 0, 2], 1000));
        e.handle_packet(2 * s, 1, 60, &frame([10, 0, 0, 3], 1001));
        assert_eq!(hits(&mut e), ["10.0.0.2"]);
        e.set_blocklist(parse_list("10.0.0.3\n10.0.0.2/32\n", "a.txt").unwrap());
        e.handle_packet(3 * s, 1, 60, &frame([10, 0, 0, 3], 1002));
        assert_eq!(hits(&mut e), ["10.0.0.3"]);
        e.set_blocklist(Vec::new());
        e.handle_packet(4 * s, 1, 60, &frame([10, 0, 0, 3], 1003));
        e.handle_packet(5 * s, 1, 60, &frame([10, 0, 0, 2], 1004));
        assert!(hits(&mut e).is_empty());
        let r = e.finish();
        let b = &r.findings.blocklist;
        assert_eq!(b.entries, 0);
        assert_eq!(b.total_hits, 2);
        let names: Vec<&str> = b.hits.iter().map(|h| h.indicator.as_str()).collect();
        assert_eq!(names, ["10.0.0.2", "10.0.0.3"]);
    }
}
