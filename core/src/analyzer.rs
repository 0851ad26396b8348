//! Capture files in, reports out: [`Analyzer`] is the thin adapter that turns
//! container bytes (pcap, pcapng, in chunks of any size) into
//! [`Engine`](crate::engine::Engine) packet calls, and adds what the container
//! said to the report.
//!
//! [`FrameSource`] is the same reading split off as a first stage (reading,
//! decoding and, unless told otherwise, the flow accounting), for a front
//! that runs it on another thread (`pcaplens-native-io`) and hands its
//! frames to the engine in order.

use crate::anomaly::FeatureMatrix;
use crate::capture::{Event, Reader, Record};
use crate::decode::{self, defrag::Defrag};
use crate::detect::FlowCtx;
use crate::engine::{Accounting, Capture, Engine};
use crate::error::{CaptureError, ConfigError, ErrorInfo};
use crate::flow::Flow;
use crate::report::{FlowSummary, Report};

pub use crate::options::AnalyzerConfig;

/// How far the analysis has got (for progress bars).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub bytes_fed: u64,
    pub packets: u64,
    pub live_flows: u64,
}

/// What [`FrameSource`] hands on, in capture order.
pub enum SourceItem<'r, 'a> {
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

/// The flow side of a [`SourceItem::Packet`].
#[derive(Clone, Copy, Debug)]
pub enum FrameFlow<'r> {
    /// The first stage accounted the frame: its innermost flow, if it has one.
    Accounted(Option<&'r FlowCtx>),
    /// The first stage left the flow accounting to the engine
    /// ([`FrameSource::without_flows`]).
    Unaccounted,
}

/// The first stage of the analysis: capture reading, frame decoding, and the
/// flow accounting ([`Accounting`]), unless it was made
/// [`FrameSource::without_flows`]. Its frames go to [`Analyzer::feed_frame`]
/// in order; [`Analyzer::finish_from`] ends the analysis with the same report
/// as [`Analyzer::feed`] and [`Analyzer::finish`] give.
pub struct FrameSource {
    reader: Reader,
    bytes_fed: u64,
    error: Option<ErrorInfo>,
    accounting: Option<Accounting>,
    /// IP fragment reassembly: this stage decodes the frames.
    defrag: Defrag,
}

/// Where a [`FrameSource`] ended: what the report needs from the first stage.
pub struct SourceEnd {
    capture: Capture,
    /// The flow accounting, with the flows that ended and were not handed
    /// over yet and every flow still in the table; None when the engine did
    /// the accounting.
    flows: Option<Accounting>,
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
            defrag: Defrag::default(),
        }
    }

    /// The same stage without the flow accounting, which the engine its
    /// frames go to then does itself: on two cores that share no cache, less
    /// crosses between them this way.
    pub fn without_flows(mut self) -> Self {
        self.accounting = None;
        self
    }

    /// Read the next chunk (any size); `sink` gets every frame it completes, in order.
    /// After the first error, further input is ignored and the error returned again.
    pub fn push(
        &mut self,
        chunk: &[u8],
        sink: &mut dyn FnMut(SourceItem<'_, '_>),
    ) -> Result<(), CaptureError> {
        self.push_accounting(chunk, |ev, acc, defrag| match ev {
            Event::Record(record) => {
                let whole;
                let mut packet = decode::Packet::default();
                decode::decode_into(&mut packet, record.link_type, record.data);
                if packet.has_fragment() {
                    whole = defrag.on_packet(&mut packet, record.data, record.ts_nanos);
                    if let Some(w) = &whole {
                        decode::apply_reassembled(&mut packet, w);
                    }
                }
                let Some(acc) = acc else {
                    sink(SourceItem::Packet {
                        record,
                        packet: &packet,
                        flow: FrameFlow::Unaccounted,
                    });
                    return;
                };
                let flow = acc.on_packet(record, &packet);
                sink(SourceItem::Packet {
                    record,
                    packet: &packet,
                    flow: FrameFlow::Accounted(flow.as_ref()),
                });
                if let Some(ended) = acc.ended_batch() {
                    sink(SourceItem::FlowsEnded(&ended));
                }
            }
            Event::Meta { .. } | Event::Secrets { .. } => sink(SourceItem::Meta(ev)),
        })
    }

    /// The container events of the next chunk, for a sink that decodes each
    /// record into storage of its own ([`decode::decode_into`]), hands a
    /// frame with a fragment to the stage's [`Defrag`] (then
    /// [`decode::apply_reassembled`] when it completes a datagram), and
    /// accounts it with [`Accounting::on_packet`] and
    /// [`Accounting::ended_batch`] (when this stage does the flow accounting).
    // Generic rather than `dyn`: the sink is inlined into the reader's loop,
    // so a record goes from the container straight to where it is kept.
    pub fn push_accounting(
        &mut self,
        chunk: &[u8],
        mut sink: impl FnMut(&Event<'_>, Option<&mut Accounting>, &mut Defrag),
    ) -> Result<(), CaptureError> {
        let FrameSource {
            reader,
            bytes_fed,
            error,
            accounting,
            defrag,
        } = self;
        *bytes_fed += chunk.len() as u64;
        if error.is_some() {
            return reader.push(&[], &mut |_| {});
        }
        let result = reader.push(chunk, &mut |ev| sink(&ev, accounting.as_mut(), defrag));
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
        self.accounting.as_ref().map_or(0, Accounting::live_flows)
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
            capture: Capture {
                info: Some(self.reader.info().clone()),
                consumed: self.reader.consumed(),
                error: self.error,
            },
            flows: self.accounting,
        }
    }
}

/// Capture bytes in, a report out: the container reader in front of an
/// [`Engine`].
pub struct Analyzer {
    reader: Reader,
    bytes_fed: u64,
    error: Option<ErrorInfo>,
    engine: Engine,
    /// Bytes behind the frames given to [`Analyzer::feed_frame`] (progress only).
    external_bytes: u64,
}

impl Analyzer {
    pub fn new(cfg: AnalyzerConfig) -> Result<Self, ConfigError> {
        Ok(Analyzer {
            reader: Reader::new(),
            bytes_fed: 0,
            error: None,
            engine: Engine::new(cfg)?,
            external_bytes: 0,
        })
    }

    /// Keep the engine's events for [`Analyzer::poll_event`].
    pub fn with_events(mut self) -> Self {
        self.engine = self.engine.with_events();
        self
    }

    /// Feed the next chunk of the capture (any size, including 1 byte).
    /// After the first error the analyzer ignores further input and returns it again;
    /// [`Analyzer::finish`] still gives the report of everything before it.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), CaptureError> {
        let Analyzer {
            reader,
            bytes_fed,
            error,
            engine,
            ..
        } = self;
        *bytes_fed += chunk.len() as u64;
        if error.is_some() {
            return reader.push(&[], &mut |_| {});
        }
        let result = reader.push(chunk, &mut |ev| match ev {
            Event::Record(record) => engine.handle_record(&record),
            Event::Secrets {
                secrets_type, data, ..
            } => engine.handle_secrets(secrets_type, data),
            Event::Meta { .. } => {}
        });
        if let Err(e) = &result {
            *error = Some(ErrorInfo::new(e, reader.frames() + 1));
        }
        result
    }

    /// Analyse one frame from a [`FrameSource`] run by the caller, in
    /// capture order (see [`Analyzer::add_external_bytes`] for progress).
    pub fn feed_frame(&mut self, frame: SourceItem<'_, '_>) {
        match frame {
            SourceItem::Packet {
                record,
                packet,
                flow: FrameFlow::Accounted(flow),
            } => self.engine.handle_accounted(record, packet, flow),
            SourceItem::Packet {
                record,
                packet,
                flow: FrameFlow::Unaccounted,
            } => self.engine.handle_decoded(record, packet),
            SourceItem::Meta(Event::Secrets {
                secrets_type, data, ..
            }) => self.engine.handle_secrets(*secrets_type, data),
            SourceItem::Meta(_) => {}
            SourceItem::FlowsEnded(flows) => self.engine.handle_ended(flows),
        }
    }

    /// Count input handled by an external [`FrameSource`] (progress only).
    pub fn add_external_bytes(&mut self, bytes: u64) {
        self.external_bytes += bytes;
    }

    pub fn progress(&self) -> Progress {
        Progress {
            bytes_fed: self.bytes_fed + self.external_bytes,
            packets: self.engine.packets(),
            live_flows: self.engine.live_flows() as u64,
        }
    }

    /// The engine's next event (see [`Engine::poll_event`]).
    pub fn poll_event(&mut self) -> Option<crate::engine::Event> {
        self.engine.poll_event()
    }

    /// Flows finished so far (only with `collect_flows`), in finishing order.
    pub fn drain_flows(&mut self) -> Vec<FlowSummary> {
        self.engine.drain_flows()
    }

    /// The report of everything fed so far, as if the capture ended here,
    /// without ending the analysis.
    pub fn snapshot(&self) -> Report {
        let capture = Capture {
            info: Some(self.reader.info().clone()),
            consumed: self.reader.consumed(),
            error: self.error.clone(),
        };
        self.engine.clone().finish_parts(capture, None).0
    }

    /// End of input: every live flow ends and what is still open is decided
    /// (see [`Engine::close`]); the remaining events follow in
    /// [`Analyzer::poll_event`], and [`Analyzer::finish`] builds the report.
    pub fn close(&mut self) {
        if self.error.is_none() {
            if let Err(e) = self.reader.finish() {
                self.error = Some(ErrorInfo::new(&e, self.reader.frames() + 1));
            }
        }
        self.engine.close();
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
    pub fn finish_with_features(mut self) -> (Report, Vec<FlowSummary>, Option<FeatureMatrix>) {
        if self.error.is_none() {
            if let Err(e) = self.reader.finish() {
                self.error = Some(ErrorInfo::new(&e, self.reader.frames() + 1));
            }
        }
        let capture = Capture {
            info: Some(self.reader.info().clone()),
            consumed: self.reader.consumed(),
            error: self.error,
        };
        self.engine.finish_parts(capture, None)
    }

    /// End of input of one piece of a capture: its mergeable partial
    /// (`crate::partial`). `prefix` is what was fed before the piece's own
    /// records (a copied file header), `span` where the piece lies in the
    /// file it was cut from.
    pub fn finish_partial(
        mut self,
        prefix: &crate::partial::Prefix,
        span: Option<crate::partial::Span>,
    ) -> crate::partial::Partial {
        if self.error.is_none() {
            if let Err(e) = self.reader.finish() {
                self.error = Some(ErrorInfo::new(&e, self.reader.frames() + 1));
            }
        }
        let quic_live = self.engine.end_with_quic_live();
        crate::partial::Partial::of_piece(
            self.engine.packet_stats(),
            (self.engine.pending_fragments() > 0, quic_live),
            self.reader.info(),
            self.reader.consumed(),
            self.error,
            prefix,
            span,
        )
    }

    /// Like [`Analyzer::finish_with_features`], for frames that came from an
    /// external [`FrameSource`] through [`Analyzer::feed_frame`].
    pub fn finish_from(self, end: SourceEnd) -> (Report, Vec<FlowSummary>, Option<FeatureMatrix>) {
        self.engine.finish_parts(end.capture, end.flows)
    }
}

/// Analyse a whole capture held in memory.
pub fn analyze_bytes(bytes: &[u8], cfg: AnalyzerConfig) -> Result<Report, ConfigError> {
    let mut a = Analyzer::new(cfg)?;
    let _ = a.feed(bytes);
    Ok(a.finish())
}
