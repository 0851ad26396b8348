//! The streaming analyzer: the one pass that drives reader → decode → flows →
//! statistics and produces the [`Report`].
//!
//! Sans-IO in the style of quinn-proto: the caller pushes bytes with
//! [`Analyzer::feed`], may pull finished flows with [`Analyzer::drain_flows`],
//! and calls [`Analyzer::finish`] for the report. Time comes from the packets.

use crate::anomaly::{AnomalyEngine, FeatureMatrix};
use crate::capture::{Event, Reader, Record};
use crate::decode::{self, tcp_flags};
use crate::detect::{Detectors, FlowCtx, PacketCtx};
use crate::error::{CaptureError, ConfigError, ErrorInfo};
use crate::flow::{EndReason, Flow, FlowInput, FlowTable};
use crate::report::{
    rfc3339, ts_secs, CaptureSummary, ConversationSummary, FlowSummary, Generator, Report, Status,
    Summary, SCHEMA_VERSION,
};
use crate::stats::{self, FlowStats, PacketStats};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Finished flows accounted in one batch.
const FINISHED_BATCH: usize = 256;

pub use crate::options::AnalyzerConfig;

/// How far the analysis has got (for progress bars).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub bytes_fed: u64,
    pub packets: u64,
    pub live_flows: u64,
}

/// The second stage: detection, per-flow statistics and the flow list, fed
/// with [`Frame`]s in capture order.
struct Pipeline {
    cfg: AnalyzerConfig,
    /// Here rather than in the first stage, which has the flow table and the
    /// reading: this keeps the two stages about equal on two cores.
    packet_stats: PacketStats,
    flow_stats: FlowStats,
    /// The flow accounting, when the frames come from a first stage made
    /// [`FrameSource::without_flows`] (started with the first such frame).
    accounting: Option<Accounting>,
    detectors: Detectors,
    listed: BTreeMap<u64, FlowSummary>,
    omitted: u64,
    collected: Vec<FlowSummary>,
}

/// What [`FrameSource`] hands on, in capture order.
pub enum Frame<'r, 'a> {
    Packet {
        record: &'r Record<'a>,
        packet: &'r decode::Packet<'a>,
        /// The flow of the innermost IP layer, as this packet left it.
        flow: FrameFlow<'r>,
    },
    /// A file header or a non-packet block.
    Meta(&'r Event<'a>),
    /// Flows that left the flow table (idle timeout, eviction, port reuse),
    /// handed on in batches right after the packet that completed the batch.
    FlowsEnded(&'r [Flow]),
}

/// The flow side of a [`Frame::Packet`].
#[derive(Clone, Copy, Debug)]
pub enum FrameFlow<'r> {
    /// The first stage accounted the frame: its innermost flow, if it has one.
    Accounted(Option<&'r FlowCtx>),
    /// The first stage left the flow accounting to the analyzer
    /// ([`FrameSource::without_flows`]).
    Unaccounted,
}

/// The first stage of the analysis: capture reading, frame decoding, and the
/// flow accounting that needs no detector (the flow table and the anomaly
/// features), unless it was made [`FrameSource::without_flows`].
///
/// [`Analyzer::feed`] runs it inline. A caller with a spare core can run it on
/// another thread and hand its frames to [`Analyzer::feed_frame`] in order,
/// then end with [`Analyzer::finish_from`]: the report is the same.
pub struct FrameSource {
    reader: Reader,
    bytes_fed: u64,
    error: Option<ErrorInfo>,
    accounting: Option<Accounting>,
}

/// The first stage's flow accounting. It needs only the decoded frames, so on
/// two cores it runs beside the decoding while the detectors run on the other.
pub(crate) struct Accounting {
    table: FlowTable,
    anomaly: Option<AnomalyEngine>,
}

impl Accounting {
    fn new(cfg: &AnalyzerConfig) -> Self {
        Accounting {
            table: FlowTable::new(cfg.flow.clone()),
            anomaly: cfg
                .anomaly
                .enabled
                .then(|| AnomalyEngine::new(&cfg.anomaly)),
        }
    }

    /// Account one decoded frame; returns the context of its innermost flow.
    pub(crate) fn on_packet(
        &mut self,
        rec: &Record<'_>,
        pkt: &decode::Packet<'_>,
    ) -> Option<FlowCtx> {
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

    /// The flows that ended since the last batch, once there are enough of
    /// them: memory follows the live flows, not every flow of the capture
    /// (and the batches do not depend on the caller's chunking).
    pub(crate) fn ended_batch(&mut self) -> Option<Vec<Flow>> {
        (self.table.finished_len() >= FINISHED_BATCH).then(|| self.take_ended())
    }

    /// End of input: every flow still in the table ends.
    fn finish(mut self) -> (Accounting, Vec<Flow>) {
        self.table.finish_all();
        let ended = self.take_ended();
        (self, ended)
    }

    fn take_ended(&mut self) -> Vec<Flow> {
        let ended = self.table.take_finished();
        if let Some(a) = &mut self.anomaly {
            for f in &ended {
                a.on_flow_end(f);
            }
        }
        ended
    }
}

/// Where a [`FrameSource`] ended: what the report needs from the first stage.
pub struct SourceEnd {
    info: crate::capture::CaptureInfo,
    consumed: u64,
    error: Option<ErrorInfo>,
    /// The flow accounting, with every flow still in the table at the end
    /// (in creation order); None when the analyzer did the accounting.
    flows: Option<(Accounting, Vec<Flow>)>,
}

impl Default for FrameSource {
    fn default() -> Self {
        Self::new(&AnalyzerConfig::default())
    }
}

impl FrameSource {
    /// The first stage for an analysis with these options (the same ones the
    /// [`Analyzer`] that gets the frames was made with).
    pub fn new(cfg: &AnalyzerConfig) -> Self {
        FrameSource {
            reader: Reader::new(),
            bytes_fed: 0,
            error: None,
            accounting: Some(Accounting::new(cfg)),
        }
    }

    /// The same stage without the flow accounting, which the [`Analyzer`]
    /// its frames go to then does itself: on two cores that share no cache,
    /// less crosses between them this way.
    pub fn without_flows(mut self) -> Self {
        self.accounting = None;
        self
    }

    /// Read the next chunk (any size); `sink` gets every frame it completes, in order.
    /// After the first error, further input is ignored and the error returned again.
    pub fn push(
        &mut self,
        chunk: &[u8],
        sink: &mut dyn FnMut(Frame<'_, '_>),
    ) -> Result<(), CaptureError> {
        self.push_accounting(chunk, |ev, acc| match ev {
            Event::Record(record) => {
                // Filled in place: a ~600-byte packet is not moved around.
                let mut packet = decode::Packet::default();
                decode::decode_into(&mut packet, record.link_type, record.data);
                let Some(acc) = acc else {
                    sink(Frame::Packet {
                        record,
                        packet: &packet,
                        flow: FrameFlow::Unaccounted,
                    });
                    return;
                };
                let flow = acc.on_packet(record, &packet);
                sink(Frame::Packet {
                    record,
                    packet: &packet,
                    flow: FrameFlow::Accounted(flow.as_ref()),
                });
                if let Some(ended) = acc.ended_batch() {
                    sink(Frame::FlowsEnded(&ended));
                }
            }
            Event::Meta { .. } | Event::Secrets { .. } => sink(Frame::Meta(ev)),
        })
    }

    /// The container events of the next chunk, for a sink that decodes each
    /// record into storage of its own ([`decode::decode_into`]) and accounts
    /// it with [`Accounting::on_packet`] and [`Accounting::ended_batch`] (when
    /// this stage does the flow accounting).
    // Generic rather than `dyn`: the sink is inlined into the reader's loop,
    // so a record goes from the container straight to where it is kept.
    pub(crate) fn push_accounting(
        &mut self,
        chunk: &[u8],
        mut sink: impl FnMut(&Event<'_>, Option<&mut Accounting>),
    ) -> Result<(), CaptureError> {
        let FrameSource {
            reader,
            bytes_fed,
            error,
            accounting,
        } = self;
        *bytes_fed += chunk.len() as u64;
        if error.is_some() {
            return reader.push(&[], &mut |_| {});
        }
        let result = reader.push(chunk, &mut |ev| sink(&ev, accounting.as_mut()));
        if let Err(e) = &result {
            *error = Some(ErrorInfo::new(e, reader.frames() + 1));
        }
        result
    }

    /// Bytes pushed so far.
    pub fn bytes_fed(&self) -> u64 {
        self.bytes_fed
    }

    /// The first error met, if any.
    pub fn error(&self) -> Option<&ErrorInfo> {
        self.error.as_ref()
    }

    /// Flows in the table now (progress only).
    pub fn live_flows(&self) -> usize {
        self.accounting.as_ref().map_or(0, |a| a.table.live())
    }

    /// End of input (a capture cut short is an error here): every flow still
    /// in the table ends.
    pub fn finish(mut self) -> SourceEnd {
        if self.error.is_none() {
            if let Err(e) = self.reader.finish() {
                self.error = Some(ErrorInfo::new(&e, self.reader.frames() + 1));
            }
        }
        SourceEnd {
            info: self.reader.info().clone(),
            consumed: self.reader.consumed(),
            error: self.error,
            flows: self.accounting.map(Accounting::finish),
        }
    }
}

/// Streaming analyzer. See the module documentation.
pub struct Analyzer {
    source: FrameSource,
    pipe: Pipeline,
    /// Bytes behind the frames given to [`Analyzer::feed_frame`] (progress only).
    external_bytes: u64,
}

impl Analyzer {
    pub fn new(cfg: AnalyzerConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        Ok(Analyzer {
            source: FrameSource::new(&cfg),
            external_bytes: 0,
            pipe: Pipeline {
                accounting: None,
                packet_stats: PacketStats::default(),
                flow_stats: FlowStats::new(cfg.top_n),
                detectors: Detectors::new(&cfg.detect),
                listed: BTreeMap::new(),
                omitted: 0,
                collected: Vec::new(),
                cfg,
            },
        })
    }

    /// Feed the next chunk of the capture (any size, including 1 byte).
    /// After the first error the analyzer ignores further input and returns it again;
    /// [`Analyzer::finish`] still gives the report of everything before it.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), CaptureError> {
        let pipe = &mut self.pipe;
        self.source.push(chunk, &mut |frame| pipe.on_frame(frame))
    }

    /// Analyse one frame from a [`FrameSource`] run by the caller, in
    /// capture order (see [`Analyzer::add_external_bytes`] for progress).
    pub fn feed_frame(&mut self, frame: Frame<'_, '_>) {
        self.pipe.on_frame(frame);
    }

    /// Count input handled by an external [`FrameSource`] (progress only).
    pub fn add_external_bytes(&mut self, bytes: u64) {
        self.external_bytes += bytes;
    }

    pub fn progress(&self) -> Progress {
        Progress {
            bytes_fed: self.source.bytes_fed() + self.external_bytes,
            packets: self.pipe.packet_stats.packets,
            // Frames from an external FrameSource leave this one empty.
            live_flows: self
                .source
                .live_flows()
                .max(self.pipe.accounting.as_ref().map_or(0, |a| a.table.live()))
                as u64,
        }
    }

    /// Flows finished so far (only with `collect_flows`), in finishing order.
    /// Ended flows reach the analysis in batches (and every live flow at
    /// [`Analyzer::finish_with_flows`]), so this returns them batch by batch.
    pub fn drain_flows(&mut self) -> Vec<FlowSummary> {
        std::mem::take(&mut self.pipe.collected)
    }

    /// End of input: finish every flow and build the report.
    pub fn finish(self) -> Report {
        self.finish_with_flows().0
    }

    /// Like [`Analyzer::finish`], also returning the flows finished at the end
    /// that [`Analyzer::drain_flows`] has not returned yet (with `collect_flows`).
    pub fn finish_with_flows(self) -> (Report, Vec<FlowSummary>) {
        let (report, rest, _) = self.finish_with_features();
        (report, rest)
    }

    /// Like [`Analyzer::finish_with_flows`], also returning the anomaly
    /// feature matrix and scores (with `anomaly.export_features`).
    pub fn finish_with_features(self) -> (Report, Vec<FlowSummary>, Option<FeatureMatrix>) {
        let Analyzer { source, pipe, .. } = self;
        Self::finish_pipe(pipe, source.finish())
    }

    /// Like [`Analyzer::finish_with_features`], for frames that came from an
    /// external [`FrameSource`] through [`Analyzer::feed_frame`].
    pub fn finish_from(self, end: SourceEnd) -> (Report, Vec<FlowSummary>, Option<FeatureMatrix>) {
        Self::finish_pipe(self.pipe, end)
    }

    fn finish_pipe(
        mut pipe: Pipeline,
        mut end: SourceEnd,
    ) -> (Report, Vec<FlowSummary>, Option<FeatureMatrix>) {
        // The accounting is the first stage's, or this one's when the first
        // stage left it here.
        let (accounting, ended) = match end.flows.take() {
            Some(flows) => flows,
            None => pipe
                .accounting
                .take()
                .unwrap_or_else(|| Accounting::new(&pipe.cfg))
                .finish(),
        };
        pipe.collect_finished(&ended);
        let rest = std::mem::take(&mut pipe.collected);
        let (report, matrix) = pipe.build_report(end, accounting);
        (report, rest, matrix)
    }
}

impl Pipeline {
    fn on_frame(&mut self, frame: Frame<'_, '_>) {
        match frame {
            Frame::Packet {
                record,
                packet,
                flow: FrameFlow::Accounted(flow),
            } => self.on_packet(record, packet, flow),
            Frame::Packet {
                record,
                packet,
                flow: FrameFlow::Unaccounted,
            } => {
                let acc = self
                    .accounting
                    .get_or_insert_with(|| Accounting::new(&self.cfg));
                let flow = acc.on_packet(record, packet);
                // Taken before the detectors run: they never touch the table.
                let ended = acc.ended_batch();
                self.on_packet(record, packet, flow.as_ref());
                if let Some(ended) = ended {
                    self.collect_finished(&ended);
                }
            }
            // TLS key logs let the detectors read DNS over QUIC.
            Frame::Meta(Event::Secrets {
                secrets_type, data, ..
            }) if self.cfg.detect_enabled => self.detectors.on_secrets(*secrets_type, data),
            Frame::Meta(_) => {}
            Frame::FlowsEnded(flows) => self.collect_finished(flows),
        }
    }

    fn collect_finished(&mut self, ended: &[Flow]) {
        for f in ended {
            if self.cfg.detect_enabled {
                self.detectors.on_flow_end(f);
            }
            let service = stats::service_label(f);
            self.flow_stats
                .on_flow(f, &service, || conversation_row(&flow_summary(f), &service));
            // Build the row only when someone keeps it: most flows of a big
            // capture fall past `flows_limit` and are only counted.
            let listed = self.listed.len() < self.cfg.flows_limit
                || self
                    .listed
                    .last_key_value()
                    .is_some_and(|(&last, _)| f.id < last);
            if !listed && !self.cfg.collect_flows {
                self.omitted += 1;
                continue;
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
    }

    fn on_packet(
        &mut self,
        record: &Record<'_>,
        packet: &decode::Packet<'_>,
        flow: Option<&FlowCtx>,
    ) {
        self.packet_stats.on_packet(record, packet);
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
        end: SourceEnd,
        Accounting { table, anomaly }: Accounting,
    ) -> (Report, Option<FeatureMatrix>) {
        let SourceEnd {
            info,
            consumed,
            error,
            ..
        } = end;
        let s = &self.packet_stats;
        let mut flow_totals = self.flow_stats.flow_totals();
        flow_totals.peak_live = table.peak_live as u64;
        flow_totals.idle_timeouts = table.timed_out;
        flow_totals.evicted = table.evicted;
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
            protocol_hierarchy: s.protocol_hierarchy(),
            flows: flow_totals,
            conversations: table
                .conversations
                .iter()
                .map(|(&p, &n)| (stats::transport_name(p).to_string(), n))
                .collect(),
            timeline_bucket_secs: s.timeline().0,
            timeline: s.timeline().1,
            top_talkers: self.flow_stats.top_talkers(),
            top_conversations: self.flow_stats.top_conversations(),
        };
        let flows: Vec<FlowSummary> = std::mem::take(&mut self.listed).into_values().collect();
        let failures = self.detectors.finish();
        let findings = self.detectors.finish_findings();
        let quality = self.detectors.quality(&summary, &failures);
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
            EndReason::PortReuse => "port_reuse",
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

/// Analyse a whole capture held in memory.
pub fn analyze_bytes(bytes: &[u8], cfg: AnalyzerConfig) -> Result<Report, ConfigError> {
    let mut a = Analyzer::new(cfg)?;
    let _ = a.feed(bytes);
    Ok(a.finish())
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
