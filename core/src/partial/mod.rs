//! Mergeable partial results (issue 23; the exactness argument is in
//! `docs/scale.md`).
//!
//! A capture analysed as consecutive pieces (files, or one file cut at record
//! boundaries) gives one [`Partial`] per piece; [`merge`] joins two adjacent
//! ones (associative, with [`Partial::empty`] as identity) and [`finish`]
//! turns the result into a [`Report`]. The sections [`NOT_MERGEABLE`] lists are
//! left empty in a merged report (and named in its `merge` field); every
//! other field is byte for byte the whole capture's.
//!
//! A partial travels as one versioned binary value ([`Partial::to_bytes`]):
//! a magic, the format version, then the fields in postcard's stable format.

use crate::capture::{CaptureInfo, Format};
use crate::error::ErrorInfo;
use crate::report::{
    CaptureSummary, Generator, IpReassembly, LinkTypeCount, MergeInfo, Report, Status, Summary,
    TimelineBucket, SCHEMA_VERSION,
};
use crate::stats::{self, PacketStats, MAX_TIMELINE_BUCKETS};
use crate::time::{rfc3339, ts_secs};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the binary layout of [`Partial`]; bumped on any change to it.
pub const PARTIAL_VERSION: u16 = 1;

/// First bytes of a serialised [`Partial`].
const MAGIC: &[u8; 8] = b"PCLPART\0";

/// Report fields a merge leaves empty for now (their exact merge is future
/// work, docs/scale.md): everything that depends on flows, on the detectors'
/// state across a cut, or on the Isolation Forest (trained on a whole
/// capture, so never exactly mergeable).
pub const NOT_MERGEABLE: &[&str] = &[
    "quality",
    "summary.flows",
    "summary.conversations",
    "summary.top_talkers",
    "summary.top_conversations",
    "failures",
    "findings",
    "anomalies",
    "flows",
];

/// Where a piece lies in the file it was cut from: byte offsets of its
/// records (the copied file header excluded). Adjacent pieces of one file
/// must be merged in order: `a.end == b.start`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Names the file (any label the caller chooses, the same for every piece).
    pub source: String,
    pub start: u64,
    pub end: u64,
}

/// What a piece's reader had to be given before its records so it could
/// read them: the file header (pcap), or the section header and the
/// interface descriptions so far (pcapng). Its bytes and blocks are not the
/// piece's own and are taken out of the counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prefix {
    pub bytes: u64,
    pub sections: u32,
    pub interfaces: u32,
}

/// The timeline of a piece: bucket `i` starts at `origin + i * width` (ns).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelinePart {
    pub origin: Option<i64>,
    pub width: i64,
    pub buckets: Vec<(u64, u64)>,
    /// Buckets of later pieces that start before `origin` (timestamps
    /// stepping back across a cut), by start (ns): kept apart until
    /// [`finish`] adds them to bucket 0, so a merge stays associative.
    pub early: BTreeMap<i64, (u64, u64)>,
}

/// Most `early` buckets kept; past it they join bucket 0 at once (and the
/// timeline is named inexact).
const MAX_EARLY_BUCKETS: usize = 4096;

/// The mergeable state of one or more consecutive pieces of a capture.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// Pieces merged into this value (0: the empty value).
    pub pieces: u64,
    /// Byte range in the file the pieces were cut from, when they were.
    pub span: Option<Span>,
    /// The container facts of the first piece, and counts that add up (the
    /// report's own section, so `finish` hands it over as it is).
    pub capture: CaptureSummary,
    /// The first capture error, in capture order (frame and offset are the
    /// whole capture's).
    pub error: Option<ErrorInfo>,
    pub packets: u64,
    pub bytes: u64,
    pub captured_bytes: u64,
    /// Earliest and latest timestamp (ns).
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    /// Timestamps of the first and the last timed frame, in capture order.
    pub first_ts_in_order: Option<i64>,
    pub last_ts_in_order: Option<i64>,
    pub ts_backwards: u64,
    pub link_types: BTreeMap<u32, u64>,
    pub undecoded: u64,
    pub malformed: u64,
    pub snapped: u64,
    pub fragments: u64,
    pub reassembly: IpReassembly,
    /// Frames and bytes per protocol path.
    pub paths: BTreeMap<Vec<String>, (u64, u64)>,
    pub timeline: TimelinePart,
    /// The last piece ended with IP datagrams still waiting for fragments:
    /// the next piece may hold the rest, which a merge cannot join yet.
    pub fragments_pending_at_end: bool,
    /// The last piece ended with a QUIC flow live: the next piece's QUIC
    /// version negotiations on it are labelled by that flow's service, which
    /// the next piece alone does not know (`summary.protocol_hierarchy`).
    pub quic_live_at_end: bool,
    /// The first piece had frames earlier than its first frame's timeline
    /// bucket (timestamps stepping back), which its timeline keeps in bucket
    /// 0 — as the whole run does for the first piece, not for later ones.
    pub first_piece_clamped: bool,
    /// A piece after the first did so: `summary.timeline` is inexact.
    pub later_piece_clamped: bool,
    /// Fields (beyond [`NOT_MERGEABLE`]) a cut made inexact in this merge.
    pub inexact: BTreeSet<String>,
}

/// Fields a cut with IP datagrams pending on its left makes inexact: the
/// defragmenter's queue is not carried across a cut yet.
pub const INEXACT_AFTER_PENDING_FRAGMENTS: &[&str] =
    &["summary.ip_reassembly", "summary.protocol_hierarchy"];

/// Why a partial cannot be read or two partials cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartialError {
    #[error("not a pcaplens partial (bad magic)")]
    NotAPartial,
    #[error("partial format version {0}, this pcaplens reads version {PARTIAL_VERSION}")]
    Version(u16),
    #[error("damaged partial: {0}")]
    Damaged(String),
    #[error("pieces out of order: {0}")]
    OutOfOrder(String),
}

impl Partial {
    /// The identity of [`merge`]: no piece at all.
    pub fn empty() -> Self {
        Partial::default()
    }

    /// The partial of one piece analysed alone, from its packet statistics,
    /// what was open at its end (IP datagrams waiting for fragments, a live
    /// QUIC flow) and what its reader said.
    pub(crate) fn of_piece(
        stats: &PacketStats,
        (fragments_pending, quic_live): (bool, bool),
        info: &CaptureInfo,
        consumed: u64,
        error: Option<ErrorInfo>,
        prefix: &Prefix,
        span: Option<Span>,
    ) -> Self {
        let (first_in_order, last_in_order) = stats.ts_in_order();
        let (origin, width, buckets) = stats.timeline_parts();
        let mut paths: BTreeMap<Vec<String>, (u64, u64)> = BTreeMap::new();
        for (names, frames, bytes) in stats.path_counts() {
            let e = paths
                .entry(names.into_iter().map(str::to_string).collect())
                .or_default();
            e.0 += frames;
            e.1 += bytes;
        }
        let mut link_types = BTreeMap::new();
        for (lt, n) in stats.link_type_frames() {
            *link_types.entry(lt).or_default() += n;
        }
        let error = error.map(|mut e| {
            e.offset = e.offset.saturating_sub(prefix.bytes);
            e
        });
        Partial {
            pieces: 1,
            span,
            capture: CaptureSummary {
                format: info.format.map(|f| match f {
                    Format::Pcap => "pcap".to_string(),
                    Format::Pcapng => "pcapng".to_string(),
                }),
                big_endian: info.big_endian,
                ts_precision: info.ts_precision.map(str::to_string),
                snaplen: info.snaplen,
                sections: info.sections.saturating_sub(prefix.sections),
                interfaces: info.interfaces.saturating_sub(prefix.interfaces),
                bytes_read: consumed.saturating_sub(prefix.bytes),
            },
            error,
            packets: stats.packets,
            bytes: stats.bytes,
            captured_bytes: stats.captured_bytes,
            first_ts: stats.first_ts,
            last_ts: stats.last_ts,
            first_ts_in_order: first_in_order,
            last_ts_in_order: last_in_order,
            ts_backwards: stats.ts_backwards,
            link_types,
            undecoded: stats.undecoded,
            malformed: stats.malformed,
            snapped: stats.snapped,
            fragments: stats.fragments,
            reassembly: stats.reassembly.clone(),
            paths,
            timeline: TimelinePart {
                origin,
                width,
                buckets: buckets.to_vec(),
                early: BTreeMap::new(),
            },
            fragments_pending_at_end: fragments_pending,
            quic_live_at_end: quic_live,
            first_piece_clamped: matches!((stats.first_ts, origin), (Some(f), Some(o)) if f < o),
            later_piece_clamped: false,
            inexact: BTreeSet::new(),
        }
    }

    /// The versioned binary value: magic, version (u16 LE), postcard body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&PARTIAL_VERSION.to_le_bytes());
        // Serialising plain data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// Read a value written by [`Partial::to_bytes`]; anything else is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PartialError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(PartialError::NotAPartial)?;
        let (version, body) = rest
            .split_first_chunk::<2>()
            .ok_or_else(|| PartialError::Damaged("cut short".into()))?;
        let version = u16::from_le_bytes(*version);
        if version != PARTIAL_VERSION {
            return Err(PartialError::Version(version));
        }
        let (p, left): (Partial, &[u8]) =
            postcard::take_from_bytes(body).map_err(|e| PartialError::Damaged(e.to_string()))?;
        if !left.is_empty() {
            return Err(PartialError::Damaged(format!(
                "{} bytes after the value",
                left.len()
            )));
        }
        p.check()?;
        Ok(p)
    }

    /// Invariants a merge relies on (a value from elsewhere may break them).
    fn check(&self) -> Result<(), PartialError> {
        let t = &self.timeline;
        let bad = |what: &str| Err(PartialError::Damaged(what.to_string()));
        if t.origin.is_some() {
            let w = t.width;
            let steps = w / 1_000_000_000;
            if w <= 0 || w % 1_000_000_000 != 0 || steps.count_ones() != 1 {
                return bad("timeline width is not 1 s times a power of two");
            }
            if t.origin.is_some_and(|o| o % w != 0) {
                return bad("timeline origin not aligned to its width");
            }
        }
        if t.early.len() > MAX_EARLY_BUCKETS || (t.origin.is_none() && !t.early.is_empty()) {
            return bad("bad early timeline buckets");
        }
        if t.buckets.len() > MAX_TIMELINE_BUCKETS {
            return bad("too many timeline buckets");
        }
        if self.pieces == 0 && *self != Partial::empty() {
            return bad("no pieces but not empty");
        }
        if let Some(s) = &self.span {
            if s.start > s.end {
                return bad("span ends before it starts");
            }
        }
        Ok(())
    }
}

/// `a` followed by `b` (the pieces of `b` come right after those of `a` in
/// the capture). Associative, with [`Partial::empty`] on either side as
/// identity. Refuses pieces out of order: pieces of one file whose byte
/// ranges do not meet, or pieces whose timestamps step back at the cut
/// (rotated files are in time order; a capture with a backwards step exactly
/// there can be cut elsewhere).
pub fn merge(a: &Partial, b: &Partial) -> Result<Partial, PartialError> {
    if a.pieces == 0 {
        return Ok(b.clone());
    }
    if b.pieces == 0 {
        return Ok(a.clone());
    }
    let span = match (&a.span, &b.span) {
        (Some(x), Some(y)) if x.source == y.source => {
            if x.end != y.start {
                return Err(PartialError::OutOfOrder(format!(
                    "{}: bytes {}..{} then {}..{}",
                    x.source, x.start, x.end, y.start, y.end
                )));
            }
            Some(Span {
                source: x.source.clone(),
                start: x.start,
                end: y.end,
            })
        }
        _ => {
            if let (Some(last), Some(first)) = (a.last_ts_in_order, b.first_ts_in_order) {
                if first < last {
                    return Err(PartialError::OutOfOrder(format!(
                        "a piece starting at {} follows one ending at {}",
                        rfc3339(first),
                        rfc3339(last)
                    )));
                }
            }
            None
        }
    };
    let mut link_types = a.link_types.clone();
    for (&lt, &n) in &b.link_types {
        *link_types.entry(lt).or_default() += n;
    }
    let mut paths = a.paths.clone();
    for (k, &(f, by)) in &b.paths {
        let e = paths.entry(k.clone()).or_default();
        e.0 += f;
        e.1 += by;
    }
    // The whole run counts b's first timed frame as a step back when it is
    // earlier than a's last one.
    let boundary_back = match (a.last_ts_in_order, b.first_ts_in_order) {
        (Some(l), Some(f)) => u64::from(f < l),
        _ => 0,
    };
    let error = a.error.clone().or_else(|| {
        b.error.clone().map(|mut e| {
            e.next_frame += a.packets;
            e.offset += a.capture.bytes_read;
            e
        })
    });
    let ra = &a.reassembly;
    let rb = &b.reassembly;
    let reassembly = IpReassembly {
        fragments_queued: ra.fragments_queued + rb.fragments_queued,
        datagrams_reassembled: ra.datagrams_reassembled + rb.datagrams_reassembled,
        fragments_reassembled: ra.fragments_reassembled + rb.fragments_reassembled,
        overlapping_fragments: ra.overlapping_fragments + rb.overlapping_fragments,
        conflicting_fragments: ra.conflicting_fragments + rb.conflicting_fragments,
        datagrams_timed_out: ra.datagrams_timed_out + rb.datagrams_timed_out,
        datagrams_evicted: ra.datagrams_evicted + rb.datagrams_evicted,
        fragments_dropped: ra.fragments_dropped + rb.fragments_dropped,
        fragments_incomplete: ra.fragments_incomplete + rb.fragments_incomplete,
    };
    let mut inexact: BTreeSet<String> = a.inexact.union(&b.inexact).cloned().collect();
    if a.fragments_pending_at_end {
        inexact.extend(
            INEXACT_AFTER_PENDING_FRAGMENTS
                .iter()
                .map(|s| s.to_string()),
        );
    }
    if a.quic_live_at_end {
        inexact.insert("summary.protocol_hierarchy".to_string());
    }
    let mut early_overflow = false;
    let (ca, cb) = (&a.capture, &b.capture);
    // The format is the first header's; a pcapng section header sets the
    // byte order again, so that is the last header's, as in a whole run.
    let first = if ca.format.is_some() { ca } else { cb };
    let head = if cb.format.is_some() { cb } else { ca };
    Ok(Partial {
        pieces: a.pieces + b.pieces,
        span,
        capture: CaptureSummary {
            format: first.format.clone(),
            big_endian: head.big_endian,
            ts_precision: head.ts_precision.clone(),
            snaplen: head.snaplen,
            sections: ca.sections + cb.sections,
            interfaces: ca.interfaces + cb.interfaces,
            bytes_read: ca.bytes_read + cb.bytes_read,
        },
        error,
        packets: a.packets + b.packets,
        bytes: a.bytes + b.bytes,
        captured_bytes: a.captured_bytes + b.captured_bytes,
        first_ts: min_opt(a.first_ts, b.first_ts),
        last_ts: max_opt(a.last_ts, b.last_ts),
        first_ts_in_order: a.first_ts_in_order.or(b.first_ts_in_order),
        last_ts_in_order: b.last_ts_in_order.or(a.last_ts_in_order),
        ts_backwards: a.ts_backwards + b.ts_backwards + boundary_back,
        link_types,
        undecoded: a.undecoded + b.undecoded,
        malformed: a.malformed + b.malformed,
        snapped: a.snapped + b.snapped,
        fragments: a.fragments + b.fragments,
        reassembly,
        paths,
        timeline: merge_timelines(
            &a.timeline,
            &b.timeline,
            max_opt(a.last_ts, b.last_ts),
            &mut early_overflow,
        ),
        fragments_pending_at_end: b.fragments_pending_at_end,
        quic_live_at_end: b.quic_live_at_end,
        first_piece_clamped: a.first_piece_clamped,
        later_piece_clamped: a.later_piece_clamped
            || b.first_piece_clamped
            || b.later_piece_clamped
            || early_overflow,
        inexact,
    })
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// The timeline the whole run would have built. Widths are 1 s times powers
/// of two and origins multiples of their width, so every bucket of a piece
/// lies inside one bucket of any wider width. The whole run's width is the
/// narrowest (no narrower than either piece's) at which its latest frame
/// fits in [`MAX_TIMELINE_BUCKETS`] from the first frame's origin; buckets
/// before that origin join bucket 0, as earlier frames do in a whole run.
fn merge_timelines(
    a: &TimelinePart,
    b: &TimelinePart,
    last_ts: Option<i64>,
    overflow: &mut bool,
) -> TimelinePart {
    let (Some(oa), Some(_)) = (a.origin, b.origin) else {
        return if a.origin.is_some() {
            a.clone()
        } else {
            b.clone()
        };
    };
    let mut width = i128::from(a.width.max(b.width));
    let last = i128::from(last_ts.unwrap_or(oa));
    let origin_at = |w: i128| i128::from(oa).div_euclid(w) * w;
    // i128: a hostile partial cannot overflow this; i64::MAX ns fits 600 buckets
    // long before the width leaves i64.
    while (last - origin_at(width)).max(0) / width >= MAX_TIMELINE_BUCKETS as i128 {
        width *= 2;
    }
    let origin = origin_at(width);
    let mut buckets: Vec<(u64, u64)> = Vec::new();
    let mut early: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let mut add = |start: i128, p: u64, by: u64| {
        // Every width divides the wider ones: a bucket lies in one wider bucket.
        let aligned = start.div_euclid(width) * width;
        let slot = if aligned < origin {
            match i64::try_from(aligned) {
                Ok(k) if early.len() < MAX_EARLY_BUCKETS || early.contains_key(&k) => {
                    early.entry(k).or_default()
                }
                _ => {
                    *overflow = true;
                    if buckets.is_empty() {
                        buckets.push((0, 0));
                    }
                    &mut buckets[0]
                }
            }
        } else {
            let j = ((aligned - origin) / width) as usize;
            if j >= MAX_TIMELINE_BUCKETS {
                // Only a damaged partial (timestamps past its own last_ts) gets here.
                return;
            }
            if j >= buckets.len() {
                buckets.resize(j + 1, (0, 0));
            }
            &mut buckets[j]
        };
        slot.0 += p;
        slot.1 += by;
    };
    for t in [a, b] {
        let Some(o) = t.origin else { continue };
        for (i, &(p, by)) in t.buckets.iter().enumerate() {
            add(i128::from(o) + i as i128 * i128::from(t.width), p, by);
        }
        for (&start, &(p, by)) in &t.early {
            add(i128::from(start), p, by);
        }
    }
    TimelinePart {
        origin: i64::try_from(origin).ok(),
        width: i64::try_from(width).unwrap_or(i64::MAX),
        buckets,
        early,
    }
}

/// The report of the merged pieces: every field the whole capture's report
/// has, except those [`NOT_MERGEABLE`] lists (left empty, and named in the
/// report's `merge` field).
pub fn finish(p: &Partial) -> Report {
    let duration = match (p.first_ts, p.last_ts) {
        (Some(a), Some(b)) => (b - a).max(0) as f64 / 1e9,
        _ => 0.0,
    };
    let t = &p.timeline;
    // Frames earlier than the first frame's bucket join bucket 0, as in a whole run.
    let mut first_buckets = t.buckets.clone();
    if let Some(b0) = first_buckets.first_mut() {
        for &(p, by) in t.early.values() {
            b0.0 += p;
            b0.1 += by;
        }
    }
    let timeline = match t.origin {
        Some(origin) => first_buckets
            .iter()
            .enumerate()
            .map(|(i, &(packets, bytes))| TimelineBucket {
                t: ts_secs(origin + i as i64 * t.width),
                packets,
                bytes,
            })
            .collect(),
        None => Vec::new(),
    };
    let mut reassembly = p.reassembly.clone();
    reassembly.fragments_incomplete = reassembly
        .fragments_queued
        .saturating_sub(reassembly.fragments_reassembled + reassembly.fragments_dropped);
    let summary = Summary {
        packets: p.packets,
        bytes: p.bytes,
        captured_bytes: p.captured_bytes,
        start_ts: p.first_ts.map(ts_secs),
        end_ts: p.last_ts.map(ts_secs),
        start_time: p.first_ts.map(rfc3339),
        end_time: p.last_ts.map(rfc3339),
        duration_secs: (duration * 1e6).round() / 1e6,
        out_of_order_timestamps: p.ts_backwards,
        link_types: p
            .link_types
            .iter()
            .map(|(&lt, &n)| LinkTypeCount {
                link_type: lt,
                name: crate::decode::link::link_type_name(lt).to_string(),
                decoded: crate::decode::link::is_decoded(lt),
                frames: n,
            })
            .collect(),
        undecoded_frames: p.undecoded,
        malformed_frames: p.malformed,
        snaplen_truncated_frames: p.snapped,
        ip_fragments: p.fragments,
        ip_reassembly: reassembly,
        protocol_hierarchy: stats::protocol_hierarchy(
            p.paths
                .iter()
                .map(|(names, &(f, b))| (names.iter().map(String::as_str), f, b)),
        ),
        timeline_bucket_secs: if t.origin.is_some() {
            t.width as f64 / 1e9
        } else {
            0.0
        },
        timeline,
        ..Summary::default()
    };
    Report {
        schema_version: SCHEMA_VERSION,
        generator: Generator {
            name: "pcaplens".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        capture: p.capture.clone(),
        status: Status {
            complete: p.error.is_none(),
            partial: p.error.is_some(),
            error: p.error.clone(),
        },
        quality: Default::default(),
        summary,
        failures: Default::default(),
        findings: Default::default(),
        anomalies: Default::default(),
        flows: Vec::new(),
        merge: Some(MergeInfo {
            pieces: p.pieces,
            not_mergeable: NOT_MERGEABLE
                .iter()
                .map(|s| s.to_string())
                .chain(p.inexact.iter().cloned())
                .chain(
                    p.later_piece_clamped
                        .then(|| "summary.timeline".to_string()),
                )
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        }),
    }
}

/// The configuration a piece is analysed with: the options given, minus
/// the work whose results a merge drops anyway ([`NOT_MERGEABLE`]: the
/// detectors and the anomaly scoring), which changes no field it keeps.
pub fn piece_config(mut cfg: crate::AnalyzerConfig) -> crate::AnalyzerConfig {
    cfg.detect_enabled = false;
    cfg.anomaly.enabled = false;
    cfg
}

impl Prefix {
    /// What `bytes` (a copied file header) count as, read by the same reader.
    pub fn of(bytes: &[u8]) -> Prefix {
        let mut r = crate::capture::Reader::new();
        let _ = r.push(bytes, &mut |_| {});
        let info = r.info();
        Prefix {
            bytes: bytes.len() as u64,
            sections: info.sections,
            interfaces: info.interfaces,
        }
    }
}

/// The partial of one piece of a capture held in memory (`data` is the
/// whole file; `source` names it in the piece's [`Span`]).
pub fn analyze_piece(
    data: &[u8],
    piece: &split::PieceSpec,
    source: &str,
    cfg: crate::AnalyzerConfig,
) -> Result<Partial, crate::ConfigError> {
    let mut header = Vec::new();
    for &(off, len) in &piece.prefix {
        if let Some(b) = data.get(off as usize..(off + len) as usize) {
            header.extend_from_slice(b);
        }
    }
    let mut a = crate::Analyzer::new(piece_config(cfg))?;
    let _ = a.feed(&header);
    let body = data
        .get(piece.start as usize..piece.end as usize)
        .unwrap_or_default();
    let _ = a.feed(body);
    Ok(a.finish_partial(
        &Prefix::of(&header),
        Some(Span {
            source: source.to_string(),
            start: piece.start,
            end: piece.end,
        }),
    ))
}

pub mod split;

#[cfg(test)]
mod tests;
