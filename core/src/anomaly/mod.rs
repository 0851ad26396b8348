//! Anomaly scoring: an Isolation Forest over per-flow features, trained on the
//! capture itself, seeded and deterministic, each top flow explained by the
//! features that set it apart.
//!
//! * Per packet, [`features::FlowAcc`] (in every [`Flow`]) updates running
//!   size and inter-arrival statistics and flag counts in O(1).
//! * When a flow finishes, its feature vector (f32, [`features::FEATURES`])
//!   is kept — up to [`AnomalyConfig::max_training_flows`] of them.
//! * Beyond that cap the kept set becomes a uniform reservoir sample of all
//!   flows (Vitter's algorithm R). A forest trained on the first full set
//!   scores every flow that is not (or no longer) in the reservoir, and the
//!   best-scoring of those stay as candidates (a bounded list). So the top
//!   anomalies are searched among all flows while memory stays bounded.
//! * At the end, the final forest is trained on the kept set and scores kept
//!   flows and candidates; the report lists the top flows with, per flow, the
//!   three features furthest from their median in robust z units
//!   (|x − median| / (1.4826 · MAD), falling back to the mean absolute
//!   deviation when the MAD is 0).
//! * Scoring every kept flow with every tree costs more than the rest of the
//!   analysis on big captures, so above 4,096 kept flows it is two-stage: the
//!   first 6 trees score every flow, and the best max(16·top_n, 2 %, 512)
//!   of them are scored by the whole forest (the ranking of the top is the
//!   whole forest's). With `export_features` every flow gets every tree.
//! * Optionally, packets: a reservoir of packets (frame, size, gap since the
//!   direction's previous packet) scored by a second forest over the flow's
//!   features plus those of the packet; the report keeps the top N frames.

pub mod features;
pub mod forest;

use crate::capture::Record;
use crate::decode::{AppProto, IpLayer, Transport};
use crate::flow::{community_id_v1, Flow, Placement};
use crate::rng::Rng;
use crate::time::ts_secs;
use features::{FlowAcc, DIMS, FEATURES};
use forest::Forest;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;

pub use features::Welford;

/// Options of anomaly scoring.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    pub enabled: bool,
    /// Trees in the forest.
    pub trees: usize,
    /// Rows drawn (without replacement) for each tree: ψ of the paper.
    pub sample_size: usize,
    /// Seed of every random choice (subsamples, splits, reservoirs).
    pub seed: u64,
    /// Flows (and packets) listed in the report.
    pub top_n: usize,
    /// Also score packets (top `top_n` frames reported).
    pub per_packet: bool,
    /// Most flow feature vectors kept (beyond it: reservoir sampling).
    pub max_training_flows: usize,
    /// Most packets kept for per-packet scoring (beyond it: reservoir sampling).
    pub max_packets: usize,
    /// Keep the full feature matrix for [`crate::Analyzer::finish_with_features`].
    /// Run plumbing (the CLI's `--anomaly-features FILE`), not an option key.
    #[serde(skip)]
    pub export_features: bool,
}

/// Default seed: any fixed value; this one spells "IFores". It stays below
/// 2^53 so the report's `seed` is exact as a JavaScript number too.
pub const DEFAULT_SEED: u64 = 0x4946_6f72_6573;

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            enabled: true,
            trees: 100,
            sample_size: 256,
            seed: DEFAULT_SEED,
            top_n: 10,
            per_packet: false,
            max_training_flows: 50_000,
            max_packets: 200_000,
            export_features: false,
        }
    }
}

/// The `anomalies` section of the report (documented in `docs/report.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct AnomalyReport {
    pub enabled: bool,
    /// "isolation_forest".
    pub method: String,
    pub seed: u64,
    pub trees: u64,
    pub sample_size: u64,
    /// Names of the features, in vector order.
    pub features: Vec<String>,
    /// Flows that finished (all of them were seen by a forest).
    pub flows_seen: u64,
    /// Flows the final forest was trained on.
    pub training_flows: u64,
    /// Flows scored by the final forest (training flows + candidates).
    pub flows_scored: u64,
    /// Trees that screened every scored flow (0: every flow got every tree).
    pub screening_trees: u64,
    /// Flows scored by every tree (all, or the best of the screening).
    pub fully_scored_flows: u64,
    /// True when there were more flows than `max_training_flows`.
    pub sampled: bool,
    /// Median score of the scored flows (ordinary flows sit near it); when
    /// screening, of up to 512 training flows spread evenly.
    pub median_score: f64,
    /// Flows by score, highest first (ties: flow id).
    pub top_flows: Vec<FlowAnomaly>,
    /// Per-packet scoring (only when enabled).
    pub packets: Option<PacketAnomalies>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowAnomaly {
    pub rank: u32,
    /// 2^(−E[h]/c(ψ)), rounded to 6 decimals: near 1 = isolated quickly.
    pub score: f64,
    pub flow_id: u64,
    pub community_id: String,
    pub transport: String,
    pub orig: String,
    pub resp: String,
    pub service: Option<String>,
    pub first_frame: u64,
    pub last_frame: u64,
    pub first_ts: f64,
    /// The features furthest from typical, furthest first (at most 3).
    pub explanation: Vec<FeatureDeviation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureDeviation {
    pub feature: String,
    pub unit: String,
    /// This flow's value in `unit`.
    pub value: f64,
    /// The median over the training flows in `unit`.
    pub typical: f64,
    /// Signed distance from the median in robust z units (on the model's
    /// scale: log for counts, bytes and times).
    pub robust_z: f64,
    /// Category name for coded features (port class, transport, state).
    pub category: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct PacketAnomalies {
    /// Packets of flows that finished and were kept (the candidates to score).
    pub packets_seen: u64,
    /// Packets scored (a uniform sample of `packets_seen` beyond `max_packets`).
    pub packets_scored: u64,
    pub top: Vec<PacketAnomaly>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PacketAnomaly {
    pub rank: u32,
    pub score: f64,
    pub frame: u64,
    pub flow_id: u64,
    pub community_id: String,
    /// "orig" (originator → responder) or "resp".
    pub direction: String,
    pub size: u32,
    /// Time since the previous packet in the same direction of the flow (ms; 0 for the first).
    pub gap_ms: f64,
}

/// The exact matrix the forest saw, for cross-checking (e.g. `--anomaly-features`).
#[derive(Clone, Debug, Default)]
pub struct FeatureMatrix {
    pub features: Vec<&'static str>,
    /// Sorted by flow id.
    pub rows: Vec<FeatureRow>,
}

#[derive(Clone, Debug)]
pub struct FeatureRow {
    pub flow_id: u64,
    pub community_id: String,
    /// Part of the final forest's training set (false: a candidate scored by it).
    pub training: bool,
    pub values: [f32; DIMS],
    /// Full-precision score.
    pub score: f64,
}

impl FeatureMatrix {
    pub fn csv_header(&self) -> String {
        let mut s = String::from("flow_id,community_id,training");
        for f in &self.features {
            s.push(',');
            s.push_str(f);
        }
        s.push_str(",score");
        s
    }

    pub fn csv_row(r: &FeatureRow) -> String {
        use std::fmt::Write;
        let mut s = format!("{},{},{}", r.flow_id, r.community_id, r.training as u8);
        for v in &r.values {
            let _ = write!(s, ",{v}");
        }
        let _ = write!(s, ",{}", r.score);
        s
    }
}

/// What is needed of a flow after it is gone, to report it.
#[derive(Clone, Copy, Debug)]
struct FlowMeta {
    id: u64,
    proto: u8,
    orig: IpAddr,
    resp: IpAddr,
    orig_port: u16,
    resp_port: u16,
    icmp: Option<(u8, u8)>,
    service: Option<AppProto>,
    first_frame: u64,
    last_frame: u64,
    first_ts: i64,
}

impl FlowMeta {
    fn of(f: &Flow) -> Self {
        FlowMeta {
            id: f.id,
            proto: f.proto,
            orig: f.orig_addr,
            resp: f.resp_addr,
            orig_port: f.orig_port,
            resp_port: f.resp_port,
            icmp: f.icmp,
            service: f.service,
            first_frame: f.first_frame,
            last_frame: f.last_frame,
            first_ts: f.first_ts,
        }
    }

    /// Community ID computed again (the same inputs as the flow table's), so
    /// that kept flows need no string.
    fn community_id(&self) -> String {
        let ports = match self.proto {
            6 | 17 | 132 => Some((self.orig_port, self.resp_port)),
            1 | 58 => self.icmp.map(|(t, c)| (t as u16, c as u16)),
            _ => None,
        };
        community_id_v1(0, self.orig, self.resp, self.proto, ports)
    }

    fn endpoint(&self, addr: IpAddr, port: u16) -> String {
        use crate::decode::{endpoint, has_ports};
        endpoint(addr, has_ports(self.proto).then_some(port))
    }
}

#[derive(Clone, Copy, Debug)]
struct PacketSample {
    frame: u64,
    flow_id: u64,
    size: u32,
    gap_ns: i64,
    dir: u8,
}

/// Above this many kept flows (and without `export_features`), scoring is
/// two-stage: it keeps the analysis cheap on big captures (see module docs).
const SCREEN_MIN_FLOWS: usize = 4096;
/// Trees of the first stage.
const SCREEN_TREES: usize = 6;
/// Flows whose whole-forest score gives `median_score` when screening.
const MEDIAN_SAMPLE: usize = 512;

/// Candidate flows scored by the interim forest (bounded, best kept).
#[derive(Clone)]
struct Candidates {
    cap: usize,
    /// (interim score, meta, features); unordered, trimmed when twice the cap.
    items: Vec<(f64, FlowMeta, [f32; DIMS])>,
    /// The lowest kept score after the last trim that filled the cap: `cap`
    /// items score at least this, and the cap-th best of a growing set
    /// never falls, so a flow scoring below it can never be kept.
    floor: Option<f64>,
}

impl Candidates {
    fn offer(&mut self, score: f64, meta: FlowMeta, row: [f32; DIMS]) {
        self.items.push((score, meta, row));
        if self.items.len() >= 2 * self.cap {
            self.trim();
        }
    }
    fn trim(&mut self) {
        // Highest score first, ties by flow id: deterministic whatever the arrival order.
        self.items
            .sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        self.items.truncate(self.cap);
        if self.items.len() == self.cap {
            self.floor = self.items.last().map(|x| x.0);
        }
    }
}

/// The streaming side of anomaly scoring, driven by the analyzer.
#[derive(Clone)]
pub struct AnomalyEngine {
    cfg: AnomalyConfig,
    rows: Vec<[f32; DIMS]>,
    metas: Vec<FlowMeta>,
    flows_seen: u64,
    reservoir_rng: Rng,
    interim: Option<Forest>,
    candidates: Candidates,
    packets: Vec<PacketSample>,
    packets_seen: u64,
    packet_rng: Rng,
}

impl AnomalyEngine {
    pub fn new(cfg: &AnomalyConfig) -> Self {
        AnomalyEngine {
            cfg: cfg.clone(),
            rows: Vec::new(),
            metas: Vec::new(),
            flows_seen: 0,
            reservoir_rng: Rng::derive(cfg.seed, 0xF10E, 0),
            interim: None,
            candidates: Candidates {
                cap: (cfg.top_n * 8).max(256),
                items: Vec::new(),
                floor: None,
            },
            packets: Vec::new(),
            packets_seen: 0,
            packet_rng: Rng::derive(cfg.seed, 0x9AC7, 0),
        }
    }

    /// Account one packet of `flow` (after the flow table did).
    #[inline(always)]
    pub fn on_packet(
        &mut self,
        flow: &mut Flow,
        placement: &Placement,
        layer: &IpLayer<'_>,
        rec: &Record<'_>,
    ) {
        let (ts, frame, wire_len) = (rec.ts_nanos, rec.frame, rec.orig_len);
        let tcp_flags = match &layer.transport {
            Transport::Tcp(t) => t.flags,
            _ => 0,
        };
        let retransmission = placement.tcp.is_retransmission();
        let d = if placement.from_orig { 0 } else { 1 };
        if self.cfg.per_packet {
            self.sample_packet(PacketSample {
                frame,
                flow_id: flow.id,
                size: wire_len,
                gap_ns: flow.anomaly.gap(d, ts).unwrap_or(0),
                dir: d as u8,
            });
        }
        flow.anomaly
            .on_packet(d, ts, wire_len, tcp_flags, retransmission);
    }

    #[inline(never)]
    fn sample_packet(&mut self, p: PacketSample) {
        self.packets_seen += 1;
        if self.packets.len() < self.cfg.max_packets {
            self.packets.push(p);
        } else {
            let j = self.packet_rng.below(self.packets_seen);
            if (j as usize) < self.packets.len() {
                self.packets[j as usize] = p;
            }
        }
    }

    /// A flow finished: keep its features, or score it against the interim forest.
    pub fn on_flow_end(&mut self, f: &Flow) {
        let row = features::extract(f);
        let meta = FlowMeta::of(f);
        self.flows_seen += 1;
        let cap = self.cfg.max_training_flows.max(1);
        if self.rows.len() < cap {
            self.rows.push(row);
            self.metas.push(meta);
            return;
        }
        if self.interim.is_none() {
            self.interim = Some(self.train(&self.rows));
        }
        // Algorithm R: the new flow takes slot j with probability cap/seen;
        // whichever flow leaves the reservoir is scored now.
        let j = self.reservoir_rng.below(self.flows_seen) as usize;
        let (out_meta, out_row) = if j < cap {
            let old = (self.metas[j], self.rows[j]);
            self.metas[j] = meta;
            self.rows[j] = row;
            old
        } else {
            (meta, row)
        };
        let Some(interim) = &self.interim else {
            return;
        };
        let score = match self.candidates.floor {
            // Most flows score far below the kept ones: stop walking trees
            // once the rest cannot lift them to the floor.
            Some(floor) => match interim.score_if_at_least(&out_row, floor) {
                Some(s) => s,
                None => return,
            },
            None => interim.score(&out_row),
        };
        self.candidates.offer(score, out_meta, out_row);
    }

    /// Reserve the training reservoir whole and touch it, so its pages are
    /// resident from the start (see [`crate::Engine::preallocated`]).
    pub fn preallocate(&mut self) {
        let cap = self.cfg.max_training_flows.max(1);
        let keep = self.rows.len();
        let blank_meta = self.metas.first().copied().unwrap_or(FlowMeta {
            id: 0,
            proto: 0,
            orig: IpAddr::from([0u8; 4]),
            resp: IpAddr::from([0u8; 4]),
            orig_port: 0,
            resp_port: 0,
            icmp: None,
            service: None,
            first_frame: 0,
            last_frame: 0,
            first_ts: 0,
        });
        self.rows.reserve_exact(cap.saturating_sub(keep));
        self.metas.reserve_exact(cap.saturating_sub(keep));
        // Written, then cut back: the capacity stays, now resident.
        self.rows.resize(cap.max(keep), [0.0; DIMS]);
        self.metas.resize(cap.max(keep), blank_meta);
        self.rows.truncate(keep);
        self.metas.truncate(keep);
    }

    fn train(&self, rows: &[[f32; DIMS]]) -> Forest {
        Forest::train(
            rows.as_flattened(),
            DIMS,
            self.cfg.trees.max(1),
            self.cfg.sample_size,
            self.cfg.seed,
        )
    }

    /// Train the final forest, score, rank and explain.
    pub fn finish(mut self) -> (AnomalyReport, Option<FeatureMatrix>) {
        self.candidates.trim();
        let forest = self.train(&self.rows);
        let training = self.rows.len();
        // Kept flows are numbered: training flows first, then candidates.
        let kept = training + self.candidates.items.len();
        let meta = |i: usize| -> &FlowMeta {
            if i < training {
                &self.metas[i]
            } else {
                &self.candidates.items[i - training].1
            }
        };
        let row = |i: usize| -> &[f32; DIMS] {
            if i < training {
                &self.rows[i]
            } else {
                &self.candidates.items[i - training].2
            }
        };
        // The flow ids only break ties: not looked up otherwise.
        let order = |a: &(f64, usize), b: &(f64, usize)| {
            b.0.total_cmp(&a.0)
                .then_with(|| meta(a.1).id.cmp(&meta(b.1).id))
        };
        let trees = self.cfg.trees.max(1);
        let screen = !self.cfg.export_features && kept > SCREEN_MIN_FLOWS && trees > SCREEN_TREES;
        let scored: Vec<(f64, usize)> = if screen {
            // Two stages: the first trees rank every flow; the best of them
            // (a generous share) get the whole forest's score.
            let mut pre: Vec<(f64, usize)> = (0..kept)
                .map(|i| (forest.score_first(row(i), SCREEN_TREES), i))
                .collect();
            let k = (16 * self.cfg.top_n).max(kept / 50).max(512).min(kept);
            pre.select_nth_unstable_by(k - 1, order);
            pre.truncate(k);
            pre.iter()
                .map(|&(_, i)| (forest.score(row(i)), i))
                .collect()
        } else {
            (0..kept).map(|i| (forest.score(row(i)), i)).collect()
        };
        // Only the top is ordered: selection first, O(n).
        let mut ranked = scored.clone();
        if self.cfg.top_n < ranked.len() {
            ranked.select_nth_unstable_by(self.cfg.top_n, order);
            ranked.truncate(self.cfg.top_n);
        }
        ranked.sort_unstable_by(order);

        let robust = RobustStats::of(&self.rows);
        let top_flows = ranked
            .iter()
            .take(self.cfg.top_n)
            .enumerate()
            .map(|(k, &(score, i))| {
                let m = meta(i);
                FlowAnomaly {
                    rank: k as u32 + 1,
                    score: round6(score),
                    flow_id: m.id,
                    community_id: m.community_id(),
                    transport: crate::decode::transport_name(m.proto).to_string(),
                    orig: m.endpoint(m.orig, m.orig_port),
                    resp: m.endpoint(m.resp, m.resp_port),
                    service: m.service.map(|s| s.name().to_string()),
                    first_frame: m.first_frame,
                    last_frame: m.last_frame,
                    first_ts: ts_secs(m.first_ts),
                    explanation: robust.explain(row(i), 3),
                }
            })
            .collect();
        let median_score = {
            let mut s: Vec<f64> = if screen {
                // Whole-forest scores of training flows spread evenly.
                let step = training.div_ceil(MEDIAN_SAMPLE).max(1);
                (0..training)
                    .step_by(step)
                    .map(|i| forest.score(row(i)))
                    .collect()
            } else {
                scored.iter().map(|x| x.0).collect()
            };
            let mid = s.len() / 2;
            if s.is_empty() {
                0.0
            } else {
                round6(*s.select_nth_unstable_by(mid, f64::total_cmp).1)
            }
        };

        let packets = self.cfg.per_packet.then(|| {
            let mut by_id: HashMap<u64, usize> = HashMap::with_capacity(kept);
            for i in 0..kept {
                by_id.insert(meta(i).id, i);
            }
            self.score_packets(&by_id, &row, &meta)
        });

        let matrix = self.cfg.export_features.then(|| {
            let mut rows: Vec<FeatureRow> = scored
                .iter()
                .map(|&(score, i)| FeatureRow {
                    flow_id: meta(i).id,
                    community_id: meta(i).community_id(),
                    training: i < training,
                    values: *row(i),
                    score,
                })
                .collect();
            rows.sort_unstable_by_key(|r| r.flow_id);
            FeatureMatrix {
                features: FEATURES.iter().map(|f| f.name).collect(),
                rows,
            }
        });

        let report = AnomalyReport {
            enabled: true,
            method: "isolation_forest".into(),
            seed: self.cfg.seed,
            trees: self.cfg.trees.max(1) as u64,
            sample_size: self.cfg.sample_size as u64,
            features: FEATURES.iter().map(|f| f.name.to_string()).collect(),
            flows_seen: self.flows_seen,
            training_flows: training as u64,
            flows_scored: kept as u64,
            screening_trees: if screen { SCREEN_TREES as u64 } else { 0 },
            fully_scored_flows: scored.len() as u64,
            sampled: self.flows_seen > training as u64,
            median_score,
            top_flows,
            packets,
        };
        (report, matrix)
    }

    /// Packets scored by [flow features, log size, log gap, direction].
    fn score_packets<'a>(
        &self,
        by_id: &HashMap<u64, usize>,
        row: &dyn Fn(usize) -> &'a [f32; DIMS],
        meta: &dyn Fn(usize) -> &'a FlowMeta,
    ) -> PacketAnomalies {
        const PD: usize = DIMS + 3;
        let mut kept: Vec<(usize, &PacketSample)> = Vec::new();
        let mut matrix: Vec<f32> = Vec::new();
        for p in &self.packets {
            let Some(&i) = by_id.get(&p.flow_id) else {
                continue;
            };
            matrix.extend_from_slice(row(i));
            matrix.push(features::log1p(p.size as f64));
            matrix.push(features::log1p(p.gap_ns as f64 / 1e6));
            matrix.push(p.dir as f32);
            kept.push((i, p));
        }
        let forest = Forest::train(
            &matrix,
            PD,
            self.cfg.trees.max(1),
            self.cfg.sample_size,
            self.cfg.seed ^ 0x9AC7,
        );
        let mut scored: Vec<(f64, usize)> = matrix
            .chunks_exact(PD)
            .map(|r| forest.score(r))
            .enumerate()
            .map(|(k, s)| (s, k))
            .collect();
        scored.sort_unstable_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then(kept[a.1].1.frame.cmp(&kept[b.1].1.frame))
        });
        let top = scored
            .iter()
            .take(self.cfg.top_n)
            .enumerate()
            .map(|(rank, &(score, k))| {
                let (i, p) = kept[k];
                PacketAnomaly {
                    rank: rank as u32 + 1,
                    score: round6(score),
                    frame: p.frame,
                    flow_id: p.flow_id,
                    community_id: meta(i).community_id(),
                    direction: if p.dir == 0 { "orig" } else { "resp" }.into(),
                    size: p.size,
                    gap_ms: round6(p.gap_ns as f64 / 1e6),
                }
            })
            .collect();
        PacketAnomalies {
            packets_seen: self.packets_seen,
            packets_scored: kept.len() as u64,
            top,
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Most training flows the medians and MADs of explanations are taken over.
const ROBUST_SAMPLE: usize = 4096;

/// Median and robust spread of each feature over the training flows.
struct RobustStats {
    median: [f32; DIMS],
    scale: [f64; DIMS],
}

impl RobustStats {
    /// Over at most [`ROBUST_SAMPLE`] training flows spread evenly (exact below).
    fn of(rows: &[[f32; DIMS]]) -> Self {
        let mut median = [0f32; DIMS];
        let mut scale = [0f64; DIMS];
        let step = rows.len().div_ceil(ROBUST_SAMPLE).max(1);
        let mut col: Vec<f32> = Vec::with_capacity(ROBUST_SAMPLE.min(rows.len()));
        for f in 0..DIMS {
            col.clear();
            col.extend(rows.iter().step_by(step).map(|r| r[f]));
            if col.is_empty() {
                continue;
            }
            // Selection, not sorting: O(n) per feature.
            let mid = col.len() / 2;
            let med = *col.select_nth_unstable_by(mid, f32::total_cmp).1;
            for v in col.iter_mut() {
                *v = (*v - med).abs();
            }
            let dev = &mut col;
            let mad = *dev.select_nth_unstable_by(mid, f32::total_cmp).1 as f64 * 1.4826;
            let mean_ad = dev.iter().map(|&d| d as f64).sum::<f64>() / dev.len() as f64 * 1.2533;
            median[f] = med;
            scale[f] = if mad > 0.0 { mad } else { mean_ad };
        }
        RobustStats { median, scale }
    }

    fn z(&self, f: usize, v: f32) -> f64 {
        let d = v as f64 - self.median[f] as f64;
        if d == 0.0 {
            0.0
        } else if self.scale[f] > 0.0 {
            d / self.scale[f]
        } else {
            // Every training flow had the median: any other value is far off.
            d.signum() * 1e3
        }
    }

    fn explain(&self, row: &[f32; DIMS], n: usize) -> Vec<FeatureDeviation> {
        let mut zs: Vec<(f64, usize)> = (0..DIMS).map(|f| (self.z(f, row[f]), f)).collect();
        zs.sort_unstable_by(|a, b| b.0.abs().total_cmp(&a.0.abs()).then(a.1.cmp(&b.1)));
        zs.into_iter()
            .take(n)
            .filter(|(z, _)| *z != 0.0)
            .map(|(z, f)| {
                let feat = &FEATURES[f];
                let value = features::natural(feat, row[f]);
                let typical = features::natural(feat, self.median[f]);
                let coded = feat.scale == features::Scale::Code;
                FeatureDeviation {
                    feature: feat.name.to_string(),
                    unit: feat.unit.to_string(),
                    value: round6(value),
                    typical: round6(typical),
                    robust_z: (z * 100.0).round() / 100.0,
                    category: coded.then(|| features::code_name(feat.name, value).to_string()),
                }
            })
            .collect()
    }
}

/// Re-exported for [`Flow`]: the per-flow accumulator.
pub type FlowFeatures = FlowAcc;
