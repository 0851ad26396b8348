//! The flow-classification pipeline shared by `pcaplens classify` and
//! `pcaplens live --classify`:
//!
//! ```text
//! capture bytes ─┬─► sanitize::Sanitizer (learns every original identifier; output unused)
//!                ├─► Analyzer (findings per Community ID)
//!                └─► capture::Reader ─► decode ─► reassembly::Reassembler
//!                                                     │ flow ready
//!   rules (local, raw payload) ◄──────────────────────┤
//!   classify::sanitized_flow (keyed pseudonyms, secrets replaced)
//!     ─► prompt (JSON; wire text quoted as untrusted data, no addresses)
//!     ─► leak guard (audit_text against every original seen so far)
//!     ─► cache (LRU, SHA-256 of the prompt) / join a request in flight
//!     ─► caps: requests per minute, cost
//!     ─► bounded queue (full: wait for files, drop live) ─► N workers ─► model
//! ```
//!
//! Without an endpoint, the rule-based classifier answers at once. Nothing
//! here prints the API key; the model sees no raw identifier.
//!
//! It lives here, not in the CLI, so that `pcaplens classify`, `pcaplens live
//! --classify` and Python's `pcaplens.classify()` run the same code and print
//! the same report ([`report_json`]).

use crate::llm::{client, pricing, LlmConfig};
use anyhow::Result;
use pcaplens_core::capture::{self, writer::PcapWriter};
use pcaplens_core::classify::{self, ClassifyConfig, Verdict};
use pcaplens_core::decode::{self, defrag::Defrag};
use pcaplens_core::engine::Event;
use pcaplens_core::reassembly::{FlowPayload, Reassembler, ReassemblyConfig, ReassemblyStats};
use pcaplens_core::sanitize::audit::audit_text;
use pcaplens_core::sanitize::pseudo::unmask_text;
use pcaplens_core::sanitize::{PayloadPolicy, SanitizeConfig, Sanitizer};
use pcaplens_core::{Analyzer, AnalyzerConfig};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct ClassifyOptions {
    pub reassembly: ReassemblyConfig,
    pub confidence_threshold: f64,
    pub cache_size: usize,
    pub workers: usize,
    pub queue_size: usize,
    pub max_requests_per_minute: Option<u32>,
    pub max_cost: Option<f64>,
    pub structured_output: bool,
    /// When the queue is full: wait (files) or drop the flow (live).
    pub drop_when_full: bool,
    pub key: [u8; 32],
    /// Most originals the leak guard remembers (see [`Pipeline::rotate_guard`]).
    pub leak_guard_max_originals: usize,
}

impl ClassifyOptions {
    /// The options' `classify` group (0 for a cap: no cap).
    pub fn from_config(c: &ClassifyConfig, key: [u8; 32], drop_when_full: bool) -> Self {
        ClassifyOptions {
            reassembly: c.reassembly(),
            confidence_threshold: c.confidence_threshold,
            cache_size: c.cache_size,
            workers: c.workers,
            queue_size: c.queue_size,
            max_requests_per_minute: (c.max_requests_per_minute > 0)
                .then(|| c.max_requests_per_minute.min(u32::MAX as u64) as u32),
            max_cost: (c.max_cost_usd > 0.0).then_some(c.max_cost_usd),
            structured_output: c.structured_output,
            drop_when_full,
            key,
            leak_guard_max_originals: c.leak_guard_max_originals.max(1),
        }
    }
}

/// The endpoint from the environment (or `.env`), as `ask` reads it; None:
/// none configured (or `rules`), so the rule-based classifier runs. `Err`:
/// an endpoint is configured but incomplete, or `max_cost` is set for a
/// model with no price (its cost could not be counted).
pub fn endpoint_from_env(
    model: Option<&str>,
    rules: bool,
    max_cost: Option<f64>,
) -> Result<Option<LlmConfig>, String> {
    if rules {
        return Ok(None);
    }
    let configured = ["AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()));
    let dotenv = std::path::Path::new(".env").exists();
    let llm = if configured || dotenv {
        match LlmConfig::from_env(model) {
            Ok(c) => Some(c),
            Err(e) if configured => return Err(format!("{e:#}")),
            Err(_) => None,
        }
    } else {
        None
    };
    if let (Some(c), Some(_)) = (&llm, max_cost) {
        if pricing::price(c.model()).is_none() {
            return Err(format!(
                "max cost: model {:?} is not in the price table (prices as of {}), so its cost cannot be counted",
                c.model(),
                pricing::PRICES_AS_OF
            ));
        }
    }
    Ok(llm)
}

/// The report of a run, as `pcaplens classify --json` prints it and
/// `pcaplens.classify()` returns it.
pub fn report_json(files: &[String], verdicts: &[FlowVerdict], stats: &RunStats) -> Value {
    serde_json::json!({
        "schema": "pcaplens.classify/1",
        "files": files,
        "verdicts": verdicts,
        "stats": stats,
    })
}

/// Feed one capture (a file, or bytes in memory) through the pipeline as
/// input number `index` (several inputs: verdicts say which). `Ok(Some((e,
/// any)))`: the capture was cut short or is not a capture (`any`: frames were
/// read before it); `Err`: the file could not be read.
pub fn feed_input(
    pipe: &mut Pipeline,
    index: Option<usize>,
    input: Input<'_>,
) -> std::io::Result<Option<(pcaplens_core::CaptureError, bool)>> {
    use std::io::Read;
    pipe.start_file(index).map_err(std::io::Error::other)?;
    match input {
        Input::Bytes(b) => {
            for chunk in b.chunks(1 << 20) {
                if pipe.feed(chunk).is_err() {
                    break;
                }
            }
        }
        Input::Path(path) => {
            let mut f = std::fs::File::open(path)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 || pipe.feed(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    Ok(pipe.end_file())
}

/// One input of [`feed_input`].
pub enum Input<'a> {
    Path(&'a std::path::Path),
    Bytes(&'a [u8]),
}

/// One flow's verdict as reported.
#[derive(Clone, Debug, Serialize)]
pub struct FlowVerdict {
    /// Index of the input file (several files) — 0 for live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<usize>,
    pub first_frame: u64,
    /// Time of the flow's first and last packet kept (seconds since the epoch).
    pub first_ts: f64,
    pub last_ts: f64,
    pub community_id: String,
    pub transport: &'static str,
    pub client: String,
    pub server: String,
    pub service: Option<&'static str>,
    pub tls_sni: Option<String>,
    pub ready: pcaplens_core::reassembly::ReadyReason,
    pub truncated: bool,
    pub client_bytes_kept: usize,
    pub server_bytes_kept: usize,
    pub findings: Vec<String>,
    /// "classified", "unclassified", "skipped", "dropped".
    pub status: &'static str,
    /// "model", "cache", "rules", "rules_leak_guard", "none".
    pub source: &'static str,
    pub suspicious: bool,
    pub confidence: f64,
    pub category: String,
    pub reason: String,
    pub alert: bool,
}

/// Counters of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunStats {
    pub classifier: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub flows_ready: u64,
    pub flows_classified: u64,
    pub alerts: u64,
    pub unclassified: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_entries: usize,
    pub model_requests: u64,
    pub unparsable_retries: u64,
    pub dropped_queue_full: u64,
    pub skipped_rate_limit: u64,
    pub skipped_cost: u64,
    pub withheld_leak_guard: u64,
    /// Flows classified by the rules because the leak guard had forgotten
    /// originals of theirs (its list was full and started over).
    pub withheld_leak_guard_full: u64,
    /// Times the leak guard's list was full and started over, and the
    /// originals it forgot then.
    pub leak_guard_rotations: u64,
    pub leak_guard_originals_dropped: u64,
    /// Most originals the guard held at once (checked after each input chunk
    /// or live packet).
    pub leak_guard_originals_peak: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    pub reassembly: ReassemblyStats,
}

/// A small LRU map.
struct Lru {
    cap: usize,
    tick: u64,
    map: HashMap<[u8; 32], (Verdict, u64)>,
    order: BTreeMap<u64, [u8; 32]>,
}

impl Lru {
    fn new(cap: usize) -> Self {
        Lru {
            cap,
            tick: 0,
            map: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    fn get(&mut self, k: &[u8; 32]) -> Option<Verdict> {
        self.tick += 1;
        let (v, t) = self.map.get_mut(k)?;
        self.order.remove(t);
        *t = self.tick;
        self.order.insert(self.tick, *k);
        Some(v.clone())
    }

    fn put(&mut self, k: [u8; 32], v: Verdict) {
        if self.cap == 0 {
            return;
        }
        self.tick += 1;
        if let Some((_, t)) = self.map.insert(k, (v, self.tick)) {
            self.order.remove(&t);
        }
        self.order.insert(self.tick, k);
        while self.map.len() > self.cap {
            let Some((_, old)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&old);
        }
    }
}

struct Job {
    key: [u8; 32],
    user: String,
}

enum Outcome {
    Verdict(Verdict),
    Failed(String),
}

struct JobResult {
    key: [u8; 32],
    outcome: Outcome,
    requests: u64,
    unparsable_retries: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
}

struct Llm {
    cfg: LlmConfig,
    tx: Option<SyncSender<Job>>,
    results: Receiver<JobResult>,
    workers: Vec<std::thread::JoinHandle<()>>,
    /// Estimated cost of requests in flight, by key.
    inflight_cost: HashMap<[u8; 32], f64>,
    sent_times: VecDeque<Instant>,
}

/// A flow waiting for its verdict.
struct Waiting {
    file: Option<usize>,
    flow: FlowPayload,
    findings: Vec<String>,
}

pub struct Pipeline {
    opts: ClassifyOptions,
    sanitizer: Sanitizer,
    /// Pseudonymizers of earlier input files (their maps unmask; their
    /// originals are guarded against).
    retired: Vec<pcaplens_core::sanitize::Pseudonymizer>,
    /// The pseudonyms of what the model is shown (same key as the sanitizer).
    snippets: pcaplens_core::sanitize::Pseudonymizer,
    unmask_memo: HashMap<String, String>,
    /// The maps of the leak guard's previous generation (unmasking answers
    /// to prompts sent before it started over).
    previous: Vec<pcaplens_core::sanitize::Pseudonymizer>,
    /// Flows of this input with a frame before this one had originals that
    /// the leak guard forgot: they are never sent.
    guard_from_frame: u64,
    /// Live: the packet sanitizer stopped on a packet (see [`Pipeline::feed`]).
    sanitizer_failed: bool,
    /// Fed live packets: dispatch on the clock's ticks only.
    live: bool,
    san_out: Vec<u8>,
    reader: capture::Reader,
    /// IP fragments are reassembled before flows are (as the analyzer does).
    defrag: Defrag,
    analyzer: Analyzer,
    reasm: Reassembler,
    findings: HashMap<String, BTreeSet<String>>,
    file: Option<usize>,
    llm: Option<Llm>,
    cache: Lru,
    pending: HashMap<[u8; 32], Vec<Waiting>>,
    done: Vec<FlowVerdict>,
    stats: RunStats,
    writer: Option<PcapWriter>,
}

const EST_OUTPUT_TOKENS: u64 = 120;

fn estimate_tokens(text: &str) -> u64 {
    // An upper-ish bound for byte-level BPE over JSON-escaped text.
    (text.len() as u64).div_ceil(3)
}

impl Pipeline {
    /// `llm`: None runs the rule-based classifier.
    pub fn new(opts: ClassifyOptions, llm: Option<LlmConfig>) -> Result<Self> {
        let mut stats = RunStats {
            classifier: if llm.is_some() { "model" } else { "rules" },
            model: llm.as_ref().map(|c| c.model().to_string()),
            ..Default::default()
        };
        if llm.is_some() && opts.max_cost.is_some() {
            stats.cost_usd = Some(0.0);
        }
        let llm = match llm {
            None => None,
            Some(cfg) => Some(start_workers(cfg, &opts)?),
        };
        Ok(Pipeline {
            sanitizer: new_sanitizer(&opts.key)?,
            retired: Vec::new(),
            snippets: pcaplens_core::sanitize::Pseudonymizer::new(&opts.key, false, true),
            unmask_memo: HashMap::new(),
            previous: Vec::new(),
            guard_from_frame: 0,
            sanitizer_failed: false,
            live: false,
            san_out: Vec::new(),
            reader: capture::Reader::new(),
            defrag: Defrag::default(),
            analyzer: new_analyzer()?,
            reasm: Reassembler::new(opts.reassembly.clone()),
            findings: HashMap::new(),
            file: None,
            cache: Lru::new(opts.cache_size),
            pending: HashMap::new(),
            done: Vec::new(),
            stats,
            writer: None,
            llm,
            opts,
        })
    }

    /// Start the next input file (several files: verdicts say which).
    pub fn start_file(&mut self, index: Option<usize>) -> Result<()> {
        self.end_input();
        // The sanitizer keeps its key (same pseudonyms in every file) but
        // starts a new container; its map and originals are carried over by
        // keeping the old one for unmasking.
        self.file = index;
        self.reader = capture::Reader::new();
        self.defrag = Defrag::default();
        self.analyzer = new_analyzer()?;
        self.reasm = Reassembler::new(self.opts.reassembly.clone());
        self.findings.clear();
        self.guard_from_frame = 0;
        let old = std::mem::replace(&mut self.sanitizer, new_sanitizer(&self.opts.key)?);
        self.retired.push(old.into_pseudonymizer());
        // Between files the list can start over at no cost: no flow of the
        // new file has been seen yet.
        if self.originals_held() > self.opts.leak_guard_max_originals {
            self.rotate_guard();
        }
        Ok(())
    }

    /// Capture-file bytes (any chunking).
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), pcaplens_core::CaptureError> {
        // The sanitizer first: the originals of these packets are known
        // before any of their flows is shown to the model.
        self.san_out.clear();
        let learned = self.sanitizer.feed(chunk, &mut self.san_out);
        if learned.is_err() && self.live {
            // The guard no longer learns while the capture goes on: it starts
            // over with a fresh sanitizer after this packet, and no flow seen
            // before is sent.
            self.guard_from_frame = u64::MAX;
            self.sanitizer_failed = true;
        }
        self.san_out.clear();
        self.push_raw(chunk)
    }

    /// One live packet (a pcap record is made of it for the sanitizer).
    pub fn feed_packet(&mut self, ts_nanos: u64, link_type: u32, orig_len: u32, data: &[u8]) {
        let w = self
            .writer
            .get_or_insert_with(|| PcapWriter::new(link_type, 262_144, true));
        if w.link_type() != link_type {
            return;
        }
        w.write_record(ts_nanos, orig_len, data);
        let bytes = w.take_bytes();
        // Live: flows are dispatched on the clock's ticks (handle_timeout),
        // in batches, so the leak guard's matcher is built once a tick.
        self.live = true;
        let _ = self.feed(&bytes);
    }

    /// The caller's clock (live): idle flows are finished.
    pub fn handle_timeout(&mut self, now_secs: f64) {
        self.reasm.handle_timeout(now_secs);
        self.dispatch_ready();
        self.collect(false);
    }

    fn push_raw(&mut self, chunk: &[u8]) -> Result<(), pcaplens_core::CaptureError> {
        let Pipeline {
            reader,
            defrag,
            analyzer,
            reasm,
            findings,
            ..
        } = self;
        let _ = analyzer.feed(chunk);
        while let Some(ev) = analyzer.poll_event() {
            if let Event::Finding(f) = ev {
                if !f.community_id.is_empty() {
                    findings
                        .entry(f.community_id.clone())
                        .or_default()
                        .insert(f.kind.to_string());
                }
            }
        }
        let r = reader.push(chunk, &mut |ev| {
            if let capture::Event::Record(r) = ev {
                let whole;
                let mut pkt = decode::decode(r.link_type, r.data);
                if pkt.has_fragment() {
                    whole = defrag.on_packet(&mut pkt, r.data, r.ts_nanos);
                    if let Some(w) = &whole {
                        decode::apply_reassembled(&mut pkt, w);
                    }
                }
                reasm.handle_packet(r.ts_nanos as f64 / 1e9, r.frame, &pkt);
            }
        });
        self.bound_guard();
        if !self.live {
            self.dispatch_ready();
            self.collect(false);
        }
        r
    }

    fn originals_held(&self) -> usize {
        self.sanitizer.pseudonymizer().originals().total()
            + self.snippets.originals().total()
            + self
                .retired
                .iter()
                .map(|p| p.originals().total())
                .sum::<usize>()
    }

    /// Keep the leak guard's list of originals bounded: when it holds more
    /// than `leak_guard_max_originals`, it starts over (a fresh sanitizer and
    /// snippet pseudonymizer, same key, so the same pseudonyms). Flows that
    /// had a packet before that point may carry originals no longer listed,
    /// so they are classified by the rules and never sent; flows entirely
    /// after it are guarded by the new list, which learns every packet before
    /// its flow is dispatched.
    ///
    /// Live only: the packet sanitizer reads a capture stream, and a fresh one
    /// is started with a stream header of its own (live packets are made into
    /// records here). A file's header cannot be replayed mid-file, so for
    /// files the list starts over between files only; within a file it holds
    /// that file's originals (bounded by the file).
    fn bound_guard(&mut self) {
        let held = self.originals_held();
        let peak = &mut self.stats.leak_guard_originals_peak;
        *peak = (*peak).max(held as u64);
        if self.live && (held > self.opts.leak_guard_max_originals || self.sanitizer_failed) {
            self.sanitizer_failed = false;
            self.rotate_guard();
        }
    }

    fn rotate_guard(&mut self) {
        let dropped = self.originals_held() as u64;
        let fresh = match new_sanitizer(&self.opts.key) {
            Ok(s) => s,
            Err(_) => return,
        };
        let mut fresh = fresh;
        if let Some(w) = &self.writer {
            // The live stream's header, so that the fresh sanitizer reads the
            // records that follow (the reader keeps its stream).
            let mut header = PcapWriter::new(w.link_type(), 262_144, true);
            self.san_out.clear();
            let _ = fresh.feed(&header.take_bytes(), &mut self.san_out);
            self.san_out.clear();
        }
        let old = std::mem::replace(&mut self.sanitizer, fresh);
        let old_snippets = std::mem::replace(
            &mut self.snippets,
            pcaplens_core::sanitize::Pseudonymizer::new(&self.opts.key, false, true),
        );
        // One previous generation is kept for unmasking answers in flight
        // (bounded: the ones before it are forgotten): the sanitizer and
        // snippet maps, or (between files) the last file's.
        self.previous = vec![old.into_pseudonymizer(), old_snippets];
        self.previous.extend(self.retired.drain(..).rev());
        self.previous
            .retain(|p| p.map().is_some_and(|m| !m.is_empty()));
        self.previous.truncate(2);
        self.unmask_memo.clear();
        self.guard_from_frame = self.reader.frames() + 1;
        self.stats.leak_guard_rotations += 1;
        self.stats.leak_guard_originals_dropped += dropped;
    }

    /// Frames read from the current input so far.
    pub fn frames(&self) -> u64 {
        self.reader.frames()
    }

    /// End of the current input file: its flows are dispatched. Returns a
    /// capture error (a file cut short, or not a capture) and whether any
    /// frame was read before it.
    pub fn end_file(&mut self) -> Option<(pcaplens_core::CaptureError, bool)> {
        let err = self.reader.finish().err();
        let any = self.reader.frames() > 0;
        self.end_input();
        err.map(|e| (e, any))
    }

    /// End of the current input: every flow is finished and dispatched.
    fn end_input(&mut self) {
        let _ = self.reader.finish();
        self.analyzer.close();
        while let Some(ev) = self.analyzer.poll_event() {
            if let Event::Finding(f) = ev {
                self.findings
                    .entry(f.community_id.clone())
                    .or_default()
                    .insert(f.kind.to_string());
            }
        }
        self.reasm.finish();
        self.dispatch_ready();
        let s = self.reasm.stats().clone();
        let t = &mut self.stats.reassembly;
        t.flows_seen += s.flows_seen;
        t.flows_ready += s.flows_ready;
        t.flows_without_payload += s.flows_without_payload;
        t.flows_evicted += s.flows_evicted;
        t.packets_after_full += s.packets_after_full;
        t.gaps += s.gaps;
        t.peak_buffered_bytes = t.peak_buffered_bytes.max(s.peak_buffered_bytes);
        self.reasm = Reassembler::new(self.opts.reassembly.clone());
    }

    /// End of all input: wait for every verdict. Returns them in order
    /// (file, first frame) and the run's counters.
    pub fn finish(mut self) -> (Vec<FlowVerdict>, RunStats) {
        self.end_input();
        if let Some(llm) = &mut self.llm {
            llm.tx = None; // workers end when the queue is empty
        }
        self.collect(true);
        if let Some(llm) = self.llm.take() {
            for w in llm.workers {
                let _ = w.join();
            }
        }
        self.stats.cache_entries = self.cache.map.len();
        let mut done = std::mem::take(&mut self.done);
        done.sort_by_key(|v| (v.file, v.first_frame));
        (done, self.stats)
    }

    /// Verdicts decided since the last call (live: alerts as they arrive).
    pub fn take_verdicts(&mut self) -> Vec<FlowVerdict> {
        self.dispatch_ready();
        self.collect(false);
        std::mem::take(&mut self.done)
    }

    fn dispatch_ready(&mut self) {
        let mut batch = Vec::new();
        while let Some(flow) = self.reasm.poll_ready() {
            self.stats.flows_ready += 1;
            let findings: Vec<String> = self
                .findings
                .get(&flow.community_id)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default();
            let w = Waiting {
                file: self.file,
                flow,
                findings,
            };
            if self.llm.is_none() {
                let v = classify::rule_verdict(&w.flow);
                self.record(w, Some(v), "classified", "rules");
                continue;
            }
            if w.flow.first_frame < self.guard_from_frame {
                // Its originals may be forgotten: not even a prompt is made.
                self.guard_full_rules(w);
                continue;
            }
            let shown = classify::sanitized_flow(&mut self.snippets, &w.flow);
            let user = classify::user_prompt(&shown, &w.findings);
            batch.push((w, user));
            if self.live && self.originals_held() > self.opts.leak_guard_max_originals {
                // The prompts so far are checked against the full list, then
                // it starts over; the rest of the batch goes to the rules.
                self.send_batch(std::mem::take(&mut batch));
                self.bound_guard();
            }
        }
        self.send_batch(batch);
    }

    /// Leak-check a batch of prompts and dispatch them.
    fn send_batch(&mut self, batch: Vec<(Waiting, String)>) {
        if batch.is_empty() {
            return;
        }
        // The leak guard builds a matcher over every original: once for the
        // batch; only when the batch has a hit, prompt by prompt.
        let mut joined = String::new();
        for (_, u) in &batch {
            joined.push_str(u);
            joined.push('\n');
        }
        let batch_clean = self.leak_check(&joined).is_none();
        for (w, user) in batch {
            let hit = if batch_clean {
                None
            } else {
                self.leak_check(&user)
            };
            self.dispatch(w, user, hit);
        }
    }

    /// A flow with a packet from before the leak guard started over: the
    /// rules classify it, nothing is sent.
    fn guard_full_rules(&mut self, w: Waiting) {
        self.stats.withheld_leak_guard_full += 1;
        let mut v = classify::rule_verdict(&w.flow);
        v.reason = format!(
            "{} (rules: the leak guard's list of originals was full and started over during this flow, so its prompt was not sent)",
            v.reason
        );
        self.record(w, Some(v), "classified", "rules_leak_guard");
    }

    /// The classes of original identifiers found in `text` (None: none).
    fn leak_check(&self, text: &str) -> Option<Vec<&'static str>> {
        let mut sets = vec![
            self.sanitizer.pseudonymizer().originals(),
            self.snippets.originals(),
        ];
        sets.extend(self.retired.iter().map(|p| p.originals()));
        for o in sets {
            let a = audit_text(text.as_bytes(), o);
            if !a.passed {
                return Some(a.hits.keys().copied().collect());
            }
        }
        None
    }

    fn dispatch(&mut self, w: Waiting, user: String, leak: Option<Vec<&'static str>>) {
        // Answers that came back first (cost so far, cache entries).
        self.collect(false);
        let key = classify::cache_key(classify::SYSTEM_PROMPT, &user);
        if let Some(v) = self.cache.get(&key) {
            self.stats.cache_hits += 1;
            self.record(w, Some(v), "classified", "cache");
            return;
        }
        if let Some(list) = self.pending.get_mut(&key) {
            // The same prompt is on its way to the model: share its answer.
            self.stats.cache_hits += 1;
            list.push(w);
            return;
        }
        // Originals of this flow may have been forgotten by the guard.
        if w.flow.first_frame < self.guard_from_frame {
            self.guard_full_rules(w);
            return;
        }
        // The last guard: no original identifier may leave the machine.
        if let Some(classes) = leak {
            self.stats.withheld_leak_guard += 1;
            let mut v = classify::rule_verdict(&w.flow);
            v.reason = format!(
                "{} (rules: the prompt was withheld from the model because an original {} survived sanitizing)",
                v.reason,
                classes.join("/")
            );
            self.record(w, Some(v), "classified", "rules_leak_guard");
            return;
        }
        let llm = self.llm.as_mut().expect("checked");
        let now = Instant::now();
        if let Some(rpm) = self.opts.max_requests_per_minute {
            while llm
                .sent_times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
            {
                llm.sent_times.pop_front();
            }
            if llm.sent_times.len() >= rpm as usize {
                self.stats.skipped_rate_limit += 1;
                self.record(w, None, "skipped", "none");
                if let Some(d) = self.done.last_mut() {
                    d.reason = format!("skipped: --max-requests-per-minute {rpm} reached");
                }
                return;
            }
        }
        let estimate = pricing::price(llm.cfg.model()).map(|p| {
            pricing::cost_usd(
                p,
                estimate_tokens(classify::SYSTEM_PROMPT) + estimate_tokens(&user),
                EST_OUTPUT_TOKENS,
            )
        });
        if let Some(max) = self.opts.max_cost {
            let spent = self.stats.cost_usd.unwrap_or(0.0);
            let inflight: f64 = llm.inflight_cost.values().sum();
            if spent + inflight + estimate.unwrap_or(0.0) > max {
                self.stats.skipped_cost += 1;
                self.record(w, None, "skipped", "none");
                if let Some(d) = self.done.last_mut() {
                    d.reason = format!("skipped: --max-cost {max} USD would be exceeded");
                }
                return;
            }
        }
        let Some(tx) = &llm.tx else {
            return;
        };
        let job = Job {
            key,
            user: user.clone(),
        };
        let sent = if self.opts.drop_when_full {
            match tx.try_send(job) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            }
        } else {
            tx.send(job).is_ok()
        };
        if !sent {
            self.stats.dropped_queue_full += 1;
            self.record(w, None, "dropped", "none");
            if let Some(d) = self.done.last_mut() {
                d.reason = "dropped: the classification queue was full".into();
            }
            return;
        }
        self.stats.cache_misses += 1;
        llm.sent_times.push_back(now);
        llm.inflight_cost.insert(key, estimate.unwrap_or(0.0));
        self.pending.insert(key, vec![w]);
    }

    /// Take finished jobs; `all`: wait for every pending one.
    fn collect(&mut self, all: bool) {
        loop {
            let Some(llm) = &mut self.llm else { return };
            let r = if all && !self.pending.is_empty() {
                match llm.results.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            } else {
                match llm.results.try_recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            };
            llm.inflight_cost.remove(&r.key);
            self.stats.model_requests += r.requests;
            self.stats.unparsable_retries += r.unparsable_retries;
            self.stats.prompt_tokens += r.prompt_tokens;
            self.stats.completion_tokens += r.completion_tokens;
            if let Some(p) = pricing::price(llm.cfg.model()) {
                *self.stats.cost_usd.get_or_insert(0.0) +=
                    pricing::cost_usd(p, r.prompt_tokens, r.completion_tokens);
            }
            let waiting = self.pending.remove(&r.key).unwrap_or_default();
            match r.outcome {
                Outcome::Verdict(v) => {
                    self.cache.put(r.key, v.clone());
                    for (i, w) in waiting.into_iter().enumerate() {
                        let source = if i == 0 { "model" } else { "cache" };
                        self.record(w, Some(v.clone()), "classified", source);
                    }
                }
                Outcome::Failed(reason) => {
                    for w in waiting {
                        self.record(w, None, "unclassified", "model");
                        if let Some(d) = self.done.last_mut() {
                            d.reason = reason.clone();
                        }
                    }
                }
            }
        }
    }

    /// The pseudonym → original table of every input so far.
    fn unmask(&mut self, text: &str) -> String {
        // The same answer comes back for every flow of a cached prompt.
        if let Some(t) = self.unmask_memo.get(text) {
            return t.clone();
        }
        let t = self.unmask_uncached(text);
        if self.unmask_memo.len() >= 4096 {
            self.unmask_memo.clear();
        }
        self.unmask_memo.insert(text.to_string(), t.clone());
        t
    }

    fn unmask_uncached(&self, text: &str) -> String {
        let mut t = text.to_string();
        if let Some(m) = self.snippets.map() {
            t = unmask_text(m, &t);
        }
        if let Some(m) = self.sanitizer.pseudonymizer().map() {
            t = unmask_text(m, &t);
        }
        for p in self.retired.iter().chain(&self.previous) {
            if let Some(m) = p.map() {
                t = unmask_text(m, &t);
            }
        }
        t
    }

    fn record(
        &mut self,
        w: Waiting,
        v: Option<Verdict>,
        status: &'static str,
        source: &'static str,
    ) {
        let f = &w.flow;
        let endpoint = |a: std::net::IpAddr, p: u16| match a {
            std::net::IpAddr::V6(_) => format!("[{a}]:{p}"),
            _ => format!("{a}:{p}"),
        };
        let community_id = f.community_id.clone();
        let (suspicious, confidence, category, reason) = match &v {
            Some(v) => (
                v.suspicious,
                v.confidence,
                v.category.clone(),
                self.unmask(&v.reason),
            ),
            None => (false, 0.0, "unclassified".to_string(), String::new()),
        };
        let alert =
            status == "classified" && suspicious && confidence >= self.opts.confidence_threshold;
        if status == "classified" {
            self.stats.flows_classified += 1;
        } else if status == "unclassified" {
            self.stats.unclassified += 1;
        }
        if alert {
            self.stats.alerts += 1;
        }
        let fv = FlowVerdict {
            file: w.file,
            first_frame: f.first_frame,
            first_ts: f.first_ts,
            last_ts: f.last_ts,
            community_id,
            transport: f.transport,
            client: endpoint(f.client_addr, f.client_port),
            server: endpoint(f.server_addr, f.server_port),
            service: f.service.map(|s| s.name()),
            tls_sni: f.tls_sni.clone(),
            ready: f.reason,
            truncated: f.truncated(),
            client_bytes_kept: f.client.data.len(),
            server_bytes_kept: f.server.data.len(),
            findings: w.findings,
            status,
            source,
            suspicious,
            confidence,
            category,
            reason,
            alert,
        };
        self.done.push(fv);
    }
}

fn new_sanitizer(key: &[u8; 32]) -> Result<Sanitizer> {
    let mut cfg = SanitizeConfig::new(key.to_vec());
    cfg.payload_policy = PayloadPolicy::Keep;
    cfg.collect_map = true;
    Sanitizer::new(cfg).map_err(|e| anyhow::anyhow!("{e}"))
}

fn new_analyzer() -> Result<Analyzer> {
    Ok(Analyzer::new(AnalyzerConfig::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_events())
}

fn start_workers(cfg: LlmConfig, opts: &ClassifyOptions) -> Result<Llm> {
    let (tx, rx) = mpsc::sync_channel::<Job>(opts.queue_size.max(1));
    let (rtx, rrx) = mpsc::channel::<JobResult>();
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::new();
    let format = opts.structured_output.then(classify::response_format);
    for i in 0..opts.workers.max(1) {
        let rx = rx.clone();
        let rtx = rtx.clone();
        let cfg = cfg.clone();
        let format = format.clone();
        let h = std::thread::Builder::new()
            .name(format!("classify-{i}"))
            .spawn(move || worker(cfg, format, rx, rtx))?;
        workers.push(h);
    }
    Ok(Llm {
        cfg,
        tx: Some(tx),
        results: rrx,
        workers,
        inflight_cost: HashMap::new(),
        sent_times: VecDeque::new(),
    })
}

fn worker(
    mut cfg: LlmConfig,
    format: Option<Value>,
    rx: Arc<Mutex<Receiver<Job>>>,
    tx: mpsc::Sender<JobResult>,
) {
    cfg.stream = false;
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let client = match client::http_client(&cfg) {
        Ok(c) => c,
        Err(_) => return,
    };
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let mut r = JobResult {
            key: job.key,
            outcome: Outcome::Failed(String::new()),
            requests: 0,
            unparsable_retries: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
        };
        for attempt in 0..2 {
            r.requests += 1;
            let answer = rt.block_on(client::chat_with(
                &client,
                &cfg,
                classify::SYSTEM_PROMPT,
                &job.user,
                format.as_ref(),
                &mut |_| {},
            ));
            match answer {
                Err(e) => {
                    r.outcome = Outcome::Failed(format!("model call failed: {e:#}"));
                    break;
                }
                Ok(a) => {
                    if let Some(u) = &a.usage {
                        r.prompt_tokens += u.prompt_tokens;
                        r.completion_tokens += u.completion_tokens;
                    }
                    match classify::parse_verdict(&a.text) {
                        Ok(v) => {
                            r.outcome = Outcome::Verdict(v);
                            break;
                        }
                        Err(e) if attempt == 0 => {
                            r.unparsable_retries += 1;
                            r.outcome = Outcome::Failed(format!("unparsable answer: {e}"));
                        }
                        Err(e) => {
                            r.outcome = Outcome::Failed(format!(
                                "unparsable answer (after one retry): {e}"
                            ));
                        }
                    }
                }
            }
        }
        if tx.send(r).is_err() {
            return;
        }
    }
}

/// A verdict that is an alert as one line for the alerts file: a Suricata
/// EVE `alert` (or, `ecs`, an Elastic Common Schema document).
pub fn alert_line(v: &FlowVerdict, ecs: bool) -> String {
    let split = |ep: &str| -> (String, u16) {
        let (ip, port) = ep.rsplit_once(':').unwrap_or((ep, "0"));
        (
            ip.trim_start_matches('[').trim_end_matches(']').to_string(),
            port.parse().unwrap_or(0),
        )
    };
    let (sip, sport) = split(&v.client);
    let (dip, dport) = split(&v.server);
    let nanos = (v.last_ts * 1e9) as i64;
    let name = format!("PCAPLENS CLASSIFY {}", v.category);
    let e = if ecs {
        serde_json::json!({
            "@timestamp": pcaplens_core::time::rfc3339(nanos),
            "event": {"kind": "alert", "category": ["network", "intrusion_detection"], "module": "pcaplens", "dataset": "pcaplens.classify"},
            "rule": {"id": "9000100", "name": name, "category": v.category},
            "source": {"ip": sip, "port": sport},
            "destination": {"ip": dip, "port": dport},
            "network": {"transport": v.transport, "community_id": v.community_id},
            "pcaplens": {"classify": v},
        })
    } else {
        serde_json::json!({
            "timestamp": pcaplens_core::time::rfc3339(nanos),
            "event_type": "alert",
            "pcap_cnt": v.first_frame,
            "src_ip": sip, "src_port": sport, "dest_ip": dip, "dest_port": dport,
            "proto": v.transport.to_ascii_uppercase(),
            "community_id": v.community_id,
            "app_proto": v.service.unwrap_or("unknown"),
            "alert": {
                "action": "allowed", "gid": 1, "signature_id": 9000100, "rev": 1,
                "signature": name, "category": "Flow classified suspicious", "severity": 2,
                "metadata": {
                    "pcaplens_kind": ["classification"],
                    "classify_category": [v.category],
                    "confidence": [format!("{:.2}", v.confidence)],
                    "source": [v.source],
                    "reason": [v.reason],
                },
            },
        })
    };
    e.to_string()
}

/// A fresh pseudonym key from the OS generator (a run without a key file).
pub fn fresh_key() -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| anyhow::anyhow!("no system randomness for a key: {e}"))?;
    Ok(key)
}
