//! Detectors: one per concern, each a small type behind [`Detector`] with
//! no-op defaults (in the spirit of rusticata's analyzer plugins, without any
//! I/O). They see every packet after flow accounting, every finished flow, and
//! write their section of the report at the end.
//!
//! Findings carry evidence: frame numbers (1-based, as Wireshark counts),
//! timestamps and Community IDs. Instance lists are capped by
//! [`DetectConfig::max_instances`]; totals never are.

pub mod blocklist;
pub mod bursts;
pub mod dns;
pub mod doq;
pub mod http;
pub mod icmp;
pub mod long_lived;
pub mod mismatch;
pub mod outbox;
pub mod perf;
pub mod ports;
pub mod quality;
pub mod quic;
pub mod scan;
pub(crate) mod stream;
pub mod tcp;
#[cfg(test)]
pub(crate) mod testpcap;
pub mod tls;

use crate::capture::Record;
use crate::decode::{IpLayer, Packet, Tcp, Transport};
use crate::flow::{Flow, FxHashMap};
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};

/// Options of every detector.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Most instances listed per failure class (totals are never capped).
    pub max_instances: usize,
    pub tcp: tcp::TcpConfig,
    pub dns: dns::DnsConfig,
    pub http: http::HttpConfig,
    pub tls: tls::TlsConfig,
    pub quic: quic::QuicConfig,
    pub icmp: icmp::IcmpConfig,
    pub perf: perf::PerfConfig,
    pub scan: scan::ScanConfig,
    pub blocklist: blocklist::BlocklistConfig,
    pub ports: ports::PortsConfig,
    pub long_lived: long_lived::LongLivedConfig,
    pub mismatch: mismatch::MismatchConfig,
    pub quality: quality::QualityConfig,
    pub bursts: bursts::BurstsConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            max_instances: 20,
            tcp: Default::default(),
            dns: Default::default(),
            http: Default::default(),
            tls: Default::default(),
            quic: Default::default(),
            icmp: Default::default(),
            perf: Default::default(),
            scan: Default::default(),
            blocklist: Default::default(),
            ports: Default::default(),
            long_lived: Default::default(),
            mismatch: Default::default(),
            quality: Default::default(),
            bursts: Default::default(),
        }
    }
}

/// What a detector sees for one packet.
pub struct PacketCtx<'r, 'a> {
    pub record: &'r Record<'a>,
    pub packet: &'r Packet<'a>,
    /// Flow of the innermost IP layer, when it has one.
    pub flow: Option<&'r FlowCtx>,
}

/// The innermost flow of a packet, after this packet was accounted.
#[derive(Clone, Copy, Debug)]
pub struct FlowCtx {
    pub flow: crate::flow::FlowView,
    /// The packet travels originator → responder.
    pub from_orig: bool,
    pub new_flow: bool,
    /// Wireshark's TCP analysis of this packet (empty for non-TCP).
    pub tcp: crate::flow::tcp_analysis::TcpPacketAnalysis,
}

impl PacketCtx<'_, '_> {
    pub fn frame(&self) -> u64 {
        self.record.frame
    }
    pub fn ts(&self) -> i64 {
        self.record.ts_nanos
    }
    /// What the Community ID of the packet's flow is computed from (None
    /// without a flow), for state that reports it only later, if at all.
    pub fn community_id_source(&self) -> Option<crate::flow::CommunityIdSource> {
        self.flow.map(|f| f.flow.community_id_source())
    }

    /// Community ID of the packet's flow ("" when it has none), computed on
    /// each call: callers ask only for the instances they list.
    pub fn community_id(&self) -> String {
        self.flow
            .as_ref()
            .map(|f| f.flow.community_id().to_string())
            .unwrap_or_default()
    }
}

/// One analysis concern. Every hook defaults to doing nothing.
pub trait Detector {
    fn on_packet(&mut self, _ctx: &PacketCtx<'_, '_>) {}
    fn on_flow_end(&mut self, _flow: &Flow) {}
    /// The caller's clock moved to `now` (live capture on a quiet link).
    fn on_timeout(&mut self, _now: i64) {}
    /// End of input, after every flow ended: decide what is still open
    /// (before any section is written).
    fn on_input_end(&mut self) {}
    /// Where this detector puts what it decides as it goes (None: it
    /// decides only in its report section).
    fn outbox(&mut self) -> Option<&mut outbox::Outbox> {
        None
    }
    /// Decryption secrets found in the capture (pcapng DSB), before the
    /// packets they unlock.
    fn on_secrets(&mut self, _secrets_type: u32, _data: &[u8]) {}
    fn finish(&mut self, _out: &mut Failures) {}
    /// Security and oddity findings (scans, blocklist, ports, …).
    fn finish_findings(&mut self, _out: &mut Findings) {}
}

/// The findings section of the report: what looks hostile or odd, with evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Findings {
    pub scans: scan::ScanReport,
    pub blocklist: blocklist::BlocklistReport,
    pub unusual_ports: ports::UnusualPortsReport,
    pub long_lived: long_lived::LongLivedReport,
    pub protocol_mismatch: mismatch::MismatchReport,
    /// Only when bursts are on (live capture) and one was found.
    #[serde(default, skip_serializing_if = "bursts::BurstsReport::is_empty")]
    pub bursts: bursts::BurstsReport,
}

/// Add a flow's evidence to a list that keeps the earliest flows (by id), at
/// most `cap` of them once trimmed (trimmed in batches, not on every push).
pub(crate) fn keep_earliest_evidence(list: &mut Vec<(u64, Evidence)>, flow: &Flow, cap: usize) {
    list.push((
        flow.id,
        Evidence::new(flow.first_frame, flow.first_ts, flow.community_id()),
    ));
    if list.len() > 2 * cap.max(1) {
        list.sort_by_key(|e| e.0);
        list.truncate(cap);
    }
}

/// Empty a per-flow state map in flow-id order: what a detector still holds
/// when the capture ends, finished deterministically (hash order never shows).
pub(crate) fn take_in_id_order<V>(map: &mut FxHashMap<u64, V>) -> Vec<V> {
    let mut all: Vec<(u64, V)> = map.drain().collect();
    all.sort_unstable_by_key(|(id, _)| *id);
    all.into_iter().map(|(_, v)| v).collect()
}

/// The failures section of the report: what went wrong, with evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Failures {
    pub tcp: tcp::TcpReport,
    pub icmp: icmp::IcmpReport,
    pub dns: dns::DnsReport,
    pub http: http::HttpReport,
    pub tls: tls::TlsReport,
    pub quic: quic::QuicReport,
    pub performance: perf::PerfReport,
}

/// Evidence for one instance: where to look in the capture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// 1-based frame number, as Wireshark numbers frames.
    pub frame: u64,
    pub ts: f64,
    pub community_id: String,
}

/// A frame remembered for later evidence: number, time, and what its
/// Community ID is computed from (only when it is shown).
pub(crate) type Moment = (u64, i64, Option<crate::flow::CommunityIdSource>);

impl Evidence {
    pub fn new(frame: u64, ts_nanos: i64, community_id: &str) -> Self {
        Evidence {
            frame,
            ts: ts_secs(ts_nanos),
            community_id: community_id.to_string(),
        }
    }

    pub(crate) fn at(&(frame, ts, cid): &Moment) -> Self {
        Self::new(frame, ts, cid.map(|c| c.id()).as_deref().unwrap_or(""))
    }
}

/// A counted class of events with the first instances kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counted<T> {
    pub total: u64,
    pub instances: Vec<T>,
}

impl<T> Default for Counted<T> {
    fn default() -> Self {
        Counted {
            total: 0,
            instances: Vec::new(),
        }
    }
}

impl<T> Counted<T> {
    /// Count one event; keep it (built lazily) while under `cap`.
    pub fn add(&mut self, cap: usize, make: impl FnOnce() -> T) {
        self.total += 1;
        if self.instances.len() < cap {
            self.instances.push(make());
        }
    }
}

/// A TCP segment of a tracked flow: what the per-connection detectors read.
pub(crate) struct Segment<'r, 'a> {
    pub flow: &'r FlowCtx,
    /// The innermost IP layer, which carries the segment.
    pub layer: &'r IpLayer<'a>,
    pub tcp: &'r Tcp<'a>,
}

impl<'r, 'a> Segment<'r, 'a> {
    fn of(ctx: &'r PacketCtx<'_, 'a>) -> Option<Self> {
        let flow = ctx.flow?;
        let layer = ctx.packet.inner()?;
        match &layer.transport {
            Transport::Tcp(tcp) => Some(Segment { flow, layer, tcp }),
            _ => None,
        }
    }
}

/// What the TCP, HTTP and TLS detectors keep per live TCP flow, in one map:
/// a segment costs one lookup rather than one per detector. HTTP and TLS
/// state exists only on flows those detectors follow.
#[derive(Clone, Default)]
struct TcpConnState {
    tcp: tcp::Conn,
    http: Option<Box<http::Conn>>,
    tls: Option<Box<tls::Conn>>,
}

/// The registry: every detector of a run, once, in a fixed order (the order
/// is part of determinism: later `finish` steps read sections written by
/// earlier ones). It makes the [`Detectors`] struct, its constructor and its
/// list. `wired` detectors exchange data on the per-packet path (TCP segments
/// shared by tcp, http and tls; names from dns, http, tls and quic for the
/// blocklist), so [`Detectors::on_packet`] calls them by hand; `plain` ones
/// get every packet in this order after them. Adding a detector: one line
/// under `plain` (and its report section).
///
/// Concrete fields rather than a list of trait objects: every packet visits
/// each of them, and static calls let their cheap early returns inline.
macro_rules! registry {
    (wired { $($w:ident: $wt:ty,)* } plain { $($p:ident: $pt:ty,)* }) => {
        #[derive(Clone)]
        pub struct Detectors {
            $($w: $wt,)*
            $($p: $pt,)*
            /// Capture-quality observations (a concrete type: its report is not a
            /// failure nor a finding, and it reads the other sections at the end).
            quality: quality::QualityMonitor,
            /// Per-connection state of `tcp`, `http` and `tls`, by tshark
            /// conversation ([`Flow::conversation`]): it outlives a flow that
            /// Zeek's boundary ended.
            tcp_conns: FxHashMap<u64, TcpConnState>,
        }

        impl Detectors {
            pub fn new(cfg: &DetectConfig) -> Self {
                Detectors {
                    $($w: <$wt>::new(cfg),)*
                    $($p: <$pt>::new(cfg),)*
                    quality: quality::QualityMonitor::new(cfg),
                    tcp_conns: FxHashMap::default(),
                }
            }

            /// How many detectors the registry holds (the quality monitor aside).
            const COUNT: usize = [$(stringify!($w),)* $(stringify!($p),)*].len();

            /// Every detector but the quality monitor, in the fixed order.
            fn list(&mut self) -> [&mut dyn Detector; Self::COUNT] {
                [$(&mut self.$w as &mut dyn Detector,)* $(&mut self.$p as &mut dyn Detector,)*]
            }

            /// The `plain` detectors' per-packet hook, in order (static calls).
            #[inline(always)]
            fn plain_on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
                $(self.$p.on_packet(ctx);)*
            }
        }
    };
}

registry! {
    wired {
        tcp: tcp::TcpDetector,
        icmp: icmp::IcmpDetector,
        dns: dns::DnsDetector,
        http: http::HttpDetector,
        tls: tls::TlsDetector,
        quic: quic::QuicDetector,
    }
    plain {
        perf: perf::PerfDetector,
        scan: scan::ScanDetector,
        blocklist: blocklist::BlocklistDetector,
        ports: ports::PortsDetector,
        long_lived: long_lived::LongLivedDetector,
        mismatch: mismatch::MismatchDetector,
        bursts: bursts::BurstsDetector,
    }
}

impl Detectors {
    pub fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        // Static calls (the no-op ones vanish); the registry's order.
        self.tcp.on_packet(ctx);
        if let Some(seg) = Segment::of(ctx) {
            let conn = self
                .tcp_conns
                .entry(seg.flow.flow.conversation)
                .or_default();
            self.tcp.on_segment(ctx, &seg, &mut conn.tcp);
            self.http.on_segment(ctx, &seg, &mut conn.http);
            self.tls.on_segment(ctx, &seg, &mut conn.tls);
            // Names from messages the segment completed (reassembled across
            // segments), collected only when there is a blocklist.
            if !self.http.segment_hosts.is_empty() || !self.tls.segment_snis.is_empty() {
                self.blocklist
                    .on_app_names(ctx, &self.http.segment_hosts, &self.tls.segment_snis);
                self.http.segment_hosts.clear();
                self.tls.segment_snis.clear();
            }
        }
        self.icmp.on_packet(ctx);
        self.dns.on_packet(ctx);
        if !self.dns.segment_tcp_messages.is_empty() {
            self.blocklist
                .on_tcp_dns_messages(ctx, &self.dns.segment_tcp_messages);
            self.dns.segment_tcp_messages.clear();
        }
        self.http.on_packet(ctx);
        self.tls.on_packet(ctx);
        self.quic.on_packet(ctx);
        if !self.quic.packet_hellos.is_empty() {
            let snis = self.tls.on_quic_hellos(&self.quic.packet_hellos);
            self.blocklist.on_app_names(ctx, &[], &snis);
            self.quic.packet_hellos.clear();
        }
        self.plain_on_packet(ctx);
        self.quality.on_packet(ctx);
    }

    /// Replace the blocklist from here on (see
    /// [`blocklist::BlocklistDetector::set_entries`]); the detectors that hand
    /// it names collect them only while it is not empty.
    pub fn set_blocklist(&mut self, entries: Vec<blocklist::Indicator>) {
        self.blocklist.set_entries(entries);
        let on = !self.blocklist.is_empty();
        self.dns.collect_tcp_messages = on;
        self.http.collect_hosts = on;
        self.tls.collect_sni = on;
    }

    /// Turn the detectors' events on or off (off by default).
    pub fn set_events(&mut self, on: bool) {
        for d in self.list() {
            if let Some(o) = d.outbox() {
                o.set_enabled(on);
            }
        }
    }

    /// Hand what the detectors decided since the last call to `to`, in the
    /// detectors' fixed order.
    pub fn move_events(&mut self, mut to: impl FnMut(outbox::Decision)) {
        for d in self.list() {
            if let Some(o) = d.outbox() {
                o.drain(&mut to);
            }
        }
    }

    /// The caller's clock moved to `now`.
    pub fn on_timeout(&mut self, now: i64) {
        for d in self.list() {
            d.on_timeout(now);
        }
    }

    pub fn on_secrets(&mut self, secrets_type: u32, data: &[u8]) {
        for d in self.list() {
            d.on_secrets(secrets_type, data);
        }
    }

    pub fn on_flow_end(&mut self, flow: &Flow) {
        // A reopened flow's conversation goes on in the next flow.
        if flow.end_reason != crate::flow::EndReason::Reopened {
            if let Some(conn) = self.tcp_conns.remove(&flow.conversation) {
                self.end_tcp_conn(flow, conn);
            }
        }
        for d in self.list() {
            d.on_flow_end(flow);
        }
        self.quality.on_flow_end(flow);
    }

    fn end_tcp_conn(&mut self, flow: &Flow, conn: TcpConnState) {
        self.tcp.end_conn(flow, conn.tcp);
        if let Some(c) = conn.http {
            self.http.end_conn(*c);
        }
        if let Some(c) = conn.tls {
            self.tls.end_conn(*c);
        }
    }

    /// End of input, after every flow ended: what is still open is decided.
    pub fn input_end(&mut self) {
        // Connections still open at the end, as HTTP and TLS report them (the
        // TCP detector only reports connections whose flow ended).
        for conn in take_in_id_order(&mut self.tcp_conns) {
            if let Some(c) = conn.http {
                self.http.end_conn(*c);
            }
            if let Some(c) = conn.tls {
                self.tls.end_conn(*c);
            }
        }
        for d in self.list() {
            d.on_input_end();
        }
    }

    /// The failures section (after [`Detectors::input_end`]).
    pub fn finish(&mut self) -> Failures {
        let mut out = Failures::default();
        for d in self.list() {
            d.finish(&mut out);
        }
        out
    }

    pub fn finish_findings(&mut self) -> Findings {
        let mut out = Findings::default();
        for d in self.list() {
            d.finish_findings(&mut out);
        }
        out
    }

    /// The capture-quality verdict, from this run's observations and the
    /// summary and failure sections already built.
    pub fn quality(&self, summary: &quality::FrameCounts, failures: &Failures) -> quality::Quality {
        self.quality.assess(summary, failures)
    }
}
