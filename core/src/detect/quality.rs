//! Capture-quality verdict: how far the rest of the report can be trusted.
//!
//! Checks (each "ok", "note", "degraded" or "poor"; the verdict is "good",
//! "degraded" or "poor" from the worst of them):
//! - `snaplen_truncation`: frames cut by the snap length (payload analysis blind);
//! - `missed_packets`: segments the capture missed, from the TCP analysis
//!   ("previous segment not captured" + "ACKed unseen segment");
//! - `one_sided`: TCP flows seen in one direction only (asymmetric routing,
//!   a tap on one side);
//! - `timestamps_backwards`: frames earlier than the frame before them;
//! - `duplicates`: the same packet captured twice (identical IP and transport
//!   headers within a few frames and a millisecond: SPAN of both directions,
//!   "any" captures on bridges);
//! - `checksum_offload`: IPv4/TCP/UDP checksums wrong on packets sent by one
//!   host while everyone else's are fine — the capturing host hands its
//!   packets to the NIC before the checksum is filled in (or loopback traffic,
//!   whose checksums the kernel never fills in), or wrong transport checksums
//!   that hold what offload leaves in the field (the pseudo-header sum, or
//!   zero) from any number of senders on the capturing machine (namespaces on
//!   a bridge, veth pairs: both directions). An artefact, not a fault: it is a
//!   note, never a downgrade (docs/report.md says how it is told apart).
//!
//! Cost per packet stays tiny: checksums are verified on one frame in
//! `checksum_sample_every` (IPv4 header always, TCP/UDP only on segments of
//! at most `checksum_max_segment` bytes: pure ACKs, SYNs, small datagrams),
//! and the duplicate check hashes at most 64 header bytes against a ring of 4.

use super::{DetectConfig, Evidence, Failures, PacketCtx};
use crate::decode::tcp_flags::ACK;
use crate::flow::{Flow, FxHashMap};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityConfig {
    /// TCP/UDP checksums are verified on segments up to this many bytes.
    pub checksum_max_segment: usize,
    /// Checksums are verified on one frame in this many (offload spoils every
    /// packet a host sends, so a sample finds it at a fraction of the cost).
    pub checksum_sample_every: u64,
    /// Two identical packets at most this far apart (µs) are duplicates.
    pub duplicate_max_gap_micros: u64,
    /// Fractions at which a check becomes "degraded" and "poor".
    pub degraded_fraction: f64,
    pub poor_fraction: f64,
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            checksum_max_segment: 128,
            checksum_sample_every: 16,
            duplicate_max_gap_micros: 1000,
            degraded_fraction: 0.005,
            poor_fraction: 0.05,
        }
    }
}

/// What the verdict reads from the report's summary (the quality monitor
/// sees the frames but not the summary's bookkeeping).
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameCounts {
    pub packets: u64,
    pub snaplen_truncated_frames: u64,
    pub out_of_order_timestamps: u64,
}

/// The quality section of the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct Quality {
    /// "good", "degraded" or "poor".
    pub verdict: String,
    /// One sentence per check that is not "ok", worst first.
    pub reasons: Vec<String>,
    /// Every check, in a fixed order.
    pub checks: Vec<QualityCheck>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityCheck {
    pub name: String,
    /// "ok", "note", "degraded" or "poor".
    pub status: String,
    /// Events counted, out of `of` (frames, TCP segments or TCP flows).
    pub count: u64,
    pub of: u64,
    pub fraction: f64,
    pub detail: String,
    /// First frames showing it, where frames show it.
    pub evidence: Vec<Evidence>,
}

#[derive(Default, Clone, Copy)]
struct Sums {
    /// Packets sampled (the IPv4 header is verified on every one of them).
    checked: u64,
    bad: u64,
    /// Bad IPv4 header checksums: offload never spoils those (the kernel fills them in).
    ip_bad: u64,
    /// Packets whose TCP/UDP checksum was verified, and how many were wrong. Offload
    /// spoils only these; a host's large segments (header verified, transport not)
    /// must not dilute its share of wrong ones.
    l4_checked: u64,
    l4_bad: u64,
    /// Wrong TCP/UDP checksums that hold what offload leaves in the field: the
    /// pseudo-header sum (Linux's CHECKSUM_PARTIAL, for the NIC to finish) or
    /// zero. Corruption leaves arbitrary values, not these.
    l4_partial: u64,
}

/// Per-run observations, turned into [`Quality`] at the end.
#[derive(Clone)]
pub struct QualityMonitor {
    cfg: QualityConfig,
    cap: usize,
    ring: [(u64, i64); 4],
    ring_pos: usize,
    duplicates: u64,
    duplicate_evidence: Vec<Evidence>,
    ts_back_evidence: Vec<Evidence>,
    last_ts: Option<i64>,
    tcp_packets: u64,
    tcp_flows: u64,
    one_sided: u64,
    one_sided_evidence: Vec<(u64, Evidence)>,
    /// Checksums verified per sending host (only ever summed or sorted, so
    /// the hash order never shows).
    sums: FxHashMap<IpAddr, Sums>,
    /// Wrong TCP/UDP checksums per (sender, receiver): offload spoils one
    /// direction of a conversation (the capturing host's own), corruption both.
    pair_bad: FxHashMap<(IpAddr, IpAddr), u64>,
}

/// Ones'-complement sum of 16-bit big-endian words (odd tail padded).
fn sum16(b: &[u8], mut acc: u64) -> u64 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u64) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn mix(h: u64, v: u64) -> u64 {
    (h.rotate_left(23) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// What identifies a packet for the duplicate check: the IP header and the
/// start of the transport header (ports, seq, ack, flags, checksum) — its
/// length mixed with up to 56 bytes in whole 8-byte words; None under 16
/// bytes. A retransmission differs in the IPv4 id, and is rarely within a
/// millisecond and four frames.
fn fingerprint(ip: &[u8]) -> Option<u64> {
    let mix_words = |h: u64, words: &[u8]| {
        words.chunks_exact(8).fold(h, |h, c| {
            mix(h, u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        })
    };
    let h = ip.len() as u64;
    // The common case apart, at a fixed length, so that its loop unrolls.
    if let Some(head) = ip.first_chunk::<56>() {
        return Some(mix_words(h, head));
    }
    let n = ip.len() & !7;
    (n >= 16).then(|| mix_words(h, &ip[..n]))
}

impl QualityMonitor {
    pub fn new(cfg: &DetectConfig) -> Self {
        QualityMonitor {
            cfg: cfg.quality.clone(),
            cap: cfg.max_instances,
            ring: [(0, i64::MIN); 4],
            ring_pos: 0,
            duplicates: 0,
            duplicate_evidence: Vec::new(),
            ts_back_evidence: Vec::new(),
            last_ts: None,
            tcp_packets: 0,
            tcp_flows: 0,
            one_sided: 0,
            one_sided_evidence: Vec::new(),
            sums: FxHashMap::default(),
            pair_bad: FxHashMap::default(),
        }
    }

    #[inline]
    pub fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        let ts = ctx.ts();
        if let Some(prev) = self.last_ts {
            if ts < prev && self.ts_back_evidence.len() < self.cap {
                self.ts_back_evidence
                    .push(Evidence::new(ctx.frame(), ts, &ctx.community_id()));
            }
        }
        self.last_ts = Some(ts);
        let Some(layer) = ctx.packet.inner() else {
            return;
        };
        let data = ctx.record.data;
        let Some(ip) = data.get(layer.offset..) else {
            return;
        };
        if layer.proto == 6 {
            self.tcp_packets += 1;
        }
        self.duplicate_check(ip, ctx);
        if ctx.frame() % self.cfg.checksum_sample_every.max(1) == 0 {
            self.checksum_check(
                ip,
                (layer.src, layer.dst),
                layer.proto,
                layer.fragment.is_some(),
            );
        }
    }

    fn duplicate_check(&mut self, ip: &[u8], ctx: &PacketCtx<'_, '_>) {
        let Some(h) = fingerprint(ip) else {
            return;
        };
        let ts = ctx.ts();
        // Hashes first, without branches: they almost never match.
        let [a, b, c, d] = self.ring;
        if ((a.0 == h) | (b.0 == h) | (c.0 == h) | (d.0 == h)) && self.ring_holds(h, ts) {
            self.duplicates += 1;
            if self.duplicate_evidence.len() < self.cap {
                self.duplicate_evidence
                    .push(Evidence::new(ctx.frame(), ts, &ctx.community_id()));
            }
        }
        self.ring[self.ring_pos] = (h, ts);
        self.ring_pos = (self.ring_pos + 1) & 3;
    }

    /// A packet with fingerprint `h` was seen in the ring within the gap of `ts`.
    fn ring_holds(&self, h: u64, ts: i64) -> bool {
        let gap = (self.cfg.duplicate_max_gap_micros as i64).saturating_mul(1000);
        self.ring
            .iter()
            .any(|&(f, t)| f == h && t != i64::MIN && ts.saturating_sub(t).abs() <= gap)
    }

    fn checksum_check(
        &mut self,
        ip: &[u8],
        (src, dst): (IpAddr, IpAddr),
        proto: u8,
        fragment: bool,
    ) {
        let mut bad = false;
        let mut l4_bad = None;
        let (l4, pseudo) = match ip.first().map(|b| b >> 4) {
            Some(4) => {
                let ihl = (ip[0] & 0x0f) as usize * 4;
                if ihl < 20 || ip.len() < ihl {
                    return;
                }
                bad |= fold(sum16(&ip[..ihl], 0)) != 0xffff;
                let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
                let Some(l4) = ip.get(ihl..total.max(ihl)) else {
                    return self.count(src, bad, bad, None, false);
                };
                let pseudo = sum16(&ip[12..20], proto as u64 + l4.len() as u64);
                (l4, pseudo)
            }
            Some(6) => {
                // Only when the transport follows the fixed header directly.
                if ip.len() < 40 || ip[6] != proto {
                    return;
                }
                let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
                let Some(l4) = ip.get(40..40 + plen) else {
                    return;
                };
                let pseudo = sum16(&ip[8..40], proto as u64 + l4.len() as u64);
                (l4, pseudo)
            }
            _ => return,
        };
        let ip_bad = bad;
        let small = l4.len() <= self.cfg.checksum_max_segment && !fragment;
        let field_at = match proto {
            6 if small && l4.len() >= 20 => Some(16),
            // UDP over IPv4 may leave the checksum out (zero).
            17 if small && l4.len() >= 8 && !(ip[0] >> 4 == 4 && l4[6] == 0 && l4[7] == 0) => {
                Some(6)
            }
            _ => None,
        };
        let mut partial = false;
        if let Some(at) = field_at {
            let wrong = fold(sum16(l4, pseudo)) != 0xffff;
            l4_bad = Some(wrong);
            if wrong {
                let field = u16::from_be_bytes([l4[at], l4[at + 1]]);
                partial = field == 0 || field == fold(pseudo);
                *self.pair_bad.entry((src, dst)).or_default() += 1;
            }
        }
        bad |= l4_bad == Some(true);
        self.count(src, bad, ip_bad, l4_bad, partial);
    }

    fn count(&mut self, src: IpAddr, bad: bool, ip_bad: bool, l4_bad: Option<bool>, partial: bool) {
        let s = self.sums.entry(src).or_default();
        s.checked += 1;
        s.l4_partial += partial as u64;
        s.bad += bad as u64;
        s.ip_bad += ip_bad as u64;
        if let Some(b) = l4_bad {
            s.l4_checked += 1;
            s.l4_bad += b as u64;
        }
    }

    pub fn on_flow_end(&mut self, f: &Flow) {
        if f.proto != 6 {
            return;
        }
        self.tcp_flows += 1;
        let [a, b] = &f.dir;
        let one_sided = (a.packets >= 3 && b.packets == 0 && f.tcp_flags[0] & ACK != 0)
            || (b.packets >= 3 && a.packets == 0 && f.tcp_flags[1] & ACK != 0);
        if one_sided {
            self.one_sided += 1;
            super::keep_earliest_evidence(&mut self.one_sided_evidence, f, self.cap);
        }
    }

    fn status(&self, count: u64, of: u64) -> (&'static str, f64) {
        let frac = if of == 0 {
            0.0
        } else {
            count as f64 / of as f64
        };
        let s = if count == 0 {
            "ok"
        } else if frac >= self.cfg.poor_fraction {
            "poor"
        } else if frac >= self.cfg.degraded_fraction {
            "degraded"
        } else {
            "note"
        };
        (s, (frac * 1e6).round() / 1e6)
    }

    /// The verdict, from this run's observations, the frame counts of the
    /// summary and the finished failure sections.
    pub fn assess(&self, summary: &FrameCounts, failures: &Failures) -> Quality {
        let mut checks = Vec::new();
        let mut push = |name: &str,
                        (status, fraction): (&str, f64),
                        count: u64,
                        of: u64,
                        detail: String,
                        evidence: Vec<Evidence>| {
            checks.push(QualityCheck {
                name: name.into(),
                status: status.into(),
                count,
                of,
                fraction,
                detail,
                evidence,
            })
        };
        let frames = summary.packets;

        let n = summary.snaplen_truncated_frames;
        // Truncation blinds payload analysis but not header analysis: at worst degraded.
        let (mut st, frac) = self.status(n, frames);
        if st == "poor" {
            st = "degraded";
        }
        push(
            "snaplen_truncation",
            (st, frac),
            n,
            frames,
            format!("{n} of {frames} frames cut by the snap length; payload-level findings (DNS, HTTP, TLS) may be incomplete"),
            Vec::new(),
        );

        let lost = failures.tcp.lost_segment.total;
        let unseen = failures.tcp.ack_unseen_segment.total;
        let missed = lost + unseen;
        let mut ev: Vec<Evidence> = failures
            .tcp
            .lost_segment
            .instances
            .iter()
            .chain(failures.tcp.ack_unseen_segment.instances.iter())
            .map(|e| Evidence {
                frame: e.frame,
                ts: e.ts,
                community_id: e.community_id.clone(),
            })
            .collect();
        ev.sort_by_key(|e| e.frame);
        ev.truncate(self.cap);
        push(
            "missed_packets",
            self.status(missed, self.tcp_packets),
            missed,
            self.tcp_packets,
            format!("{lost} sequence gaps (previous segment not captured) and {unseen} ACKs of unseen segments in {} TCP segments: the capture dropped packets, so loss and retransmission counts are lower bounds", self.tcp_packets),
            ev,
        );

        let mut ev: Vec<(u64, Evidence)> = self.one_sided_evidence.clone();
        ev.sort_by_key(|e| e.0);
        ev.truncate(self.cap);
        push(
            "one_sided",
            self.status(self.one_sided, self.tcp_flows),
            self.one_sided,
            self.tcp_flows,
            format!("{} of {} TCP flows seen in one direction only (asymmetric routing or a one-sided tap): their RTT, loss and failure verdicts are unreliable", self.one_sided, self.tcp_flows),
            ev.into_iter().map(|e| e.1).collect(),
        );

        let back = summary.out_of_order_timestamps;
        push(
            "timestamps_backwards",
            self.status(back, frames),
            back,
            frames,
            format!("{back} frames are timestamped earlier than the frame before them: durations and response times around them are suspect"),
            self.ts_back_evidence.clone(),
        );

        push(
            "duplicates",
            self.status(self.duplicates, frames),
            self.duplicates,
            frames,
            format!("{} frames duplicate the packet just before them (captured twice): counts of packets, bytes and retransmissions are inflated", self.duplicates),
            self.duplicate_evidence.clone(),
        );

        let (checked, bad) = self
            .sums
            .values()
            .fold((0, 0), |(c, b), s| (c + s.checked, b + s.bad));
        // Hosts that sent mostly bad checksums while the rest are fine: mostly of
        // all their sampled packets, or (only transport checksums wrong, the
        // IPv4 headers right, as offload leaves them) mostly of their verified
        // TCP/UDP checksums. Loopback traffic never reaches a wire or a NIC, so
        // any share of wrong transport checksums on it is the kernel leaving
        // them unfilled (often in one direction only), never corruption.
        let offload_like = |a: &IpAddr, s: &Sums| {
            s.bad > 0
                && (s.bad * 2 >= s.checked
                    || (s.ip_bad == 0 && (s.l4_bad * 2 >= s.l4_checked || a.is_loopback())))
        };
        let mut offload: Vec<(IpAddr, Sums)> = self
            .sums
            .iter()
            .filter(|(a, s)| offload_like(a, s))
            .map(|(a, s)| (*a, *s))
            .collect();
        offload.sort_by_key(|(a, _)| *a);
        let offload_bad: u64 = offload.iter().map(|(_, s)| s.bad).sum();
        let others_bad = bad - offload_bad;
        // The capturing host's own addresses (several: namespaces, veth pairs,
        // v4 and v6) spoil only what they send: every conversation with wrong
        // transport checksums has them in one direction only, and no IPv4
        // header is wrong. Corruption on a path spoils both directions.
        let one_directional = !offload.is_empty()
            && offload.iter().all(|(_, s)| s.ip_bad == 0)
            && self
                .pair_bad
                .keys()
                .all(|&(a, b)| a == b || !self.pair_bad.contains_key(&(b, a)));
        // Offload's fingerprint: wrong transport checksums holding the
        // pseudo-header sum (or zero), every IPv4 header right. Every sender on
        // the capturing machine (namespaces, containers, veth pairs: both ends
        // of their conversations) leaves it, however many there are; it is
        // asked after the per-host rule so that rule's notes keep their words.
        let ip_bad_all: u64 = self.sums.values().map(|s| s.ip_bad).sum();
        let partial: u64 = self.sums.values().map(|s| s.l4_partial).sum();
        let mut partial_hosts: Vec<IpAddr> = self
            .sums
            .iter()
            .filter(|(_, s)| s.l4_partial > 0)
            .map(|(a, _)| *a)
            .collect();
        partial_hosts.sort();
        let (status, detail) = if bad == 0 {
            ("ok", format!("{checked} checksums verified, all correct"))
        } else if !offload.is_empty()
            && (offload.len() <= 2 || one_directional)
            && others_bad * 100 <= checked
        {
            let mut hosts: Vec<String> =
                offload.iter().take(4).map(|(a, _)| a.to_string()).collect();
            if offload.len() > 4 {
                hosts.push(format!("{} more", offload.len() - 4));
            }
            let loopback = offload.iter().all(|(a, _)| a.is_loopback());
            (
                "note",
                if loopback && others_bad == 0 {
                    format!(
                        "{offload_bad} packets sent by {} have wrong TCP/UDP checksums: loopback traffic, whose checksums the kernel leaves unfilled (an artefact, not corruption)",
                        hosts.join(", ")
                    )
                } else {
                    format!(
                        "{offload_bad} packets sent by {} have wrong checksums while other hosts' are fine: checksum offload on the capturing host (an artefact, not corruption)",
                        hosts.join(", ")
                    )
                },
            )
        } else if partial > 0 && ip_bad_all == 0 && (bad - partial) * 100 <= checked {
            let mut hosts: Vec<String> = partial_hosts
                .iter()
                .take(4)
                .map(|a| a.to_string())
                .collect();
            if partial_hosts.len() > 4 {
                hosts.push(format!("{} more", partial_hosts.len() - 4));
            }
            (
                "note",
                format!(
                    "{partial} packets sent by {} carry the partial checksum (pseudo-header sum or zero) that checksum offload leaves for the NIC: senders on the capturing machine (an artefact, not corruption)",
                    hosts.join(", ")
                ),
            )
        } else {
            (
                self.status(bad, checked).0,
                format!("{bad} of {checked} verified packets have wrong IP/TCP/UDP checksums, from several hosts: corruption or a rewriting device"),
            )
        };
        push(
            "checksum_offload",
            (status, self.status(bad, checked).1),
            bad,
            checked,
            detail,
            Vec::new(),
        );

        let rank = |s: &str| match s {
            "poor" => 3,
            "degraded" => 2,
            "note" => 1,
            _ => 0,
        };
        let worst = checks.iter().map(|c| rank(&c.status)).max().unwrap_or(0);
        let mut reasons: Vec<(usize, String)> = checks
            .iter()
            .filter(|c| c.status != "ok")
            .map(|c| (rank(&c.status), format!("{}: {}", c.status, c.detail)))
            .collect();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.0));
        Quality {
            verdict: match worst {
                3 => "poor",
                2 => "degraded",
                _ => "good",
            }
            .into(),
            reasons: reasons.into_iter().map(|r| r.1).collect(),
            checks,
        }
    }
}
