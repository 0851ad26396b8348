//! Bursts: many TCP resets sent by one host, or many connection attempts to
//! one host left unanswered, within a few seconds. A refusing or crashed
//! service, a reset-injecting middlebox, a scan of filtered ports. Off by
//! default (files report these as failures already); `pcaplens live` turns
//! it on, so each burst becomes an alert within seconds of the evidence.
//!
//! A burst starts when `min_*` events of one host fall within `window_secs`
//! and lasts while they go on (a gap longer than the window ends it); each
//! burst is one finding, counted, with the events it held.

use super::{DetectConfig, Detector, Evidence, Findings, PacketCtx};
use crate::decode::{tcp_flags, Transport};
use crate::flow::{Flow, FxHashMap};
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BurstsConfig {
    /// Events of one host must fall within this many seconds.
    pub window_secs: u64,
    /// Resets sent by one host in a window that make a burst (0: off).
    pub min_resets: u64,
    /// Connection attempts to one host left unanswered in a window that
    /// make a burst (0: off).
    pub min_unanswered_syns: u64,
    /// A SYN with nothing back from the other side for this long is unanswered.
    pub syn_answer_secs: u64,
    /// Most hosts (and pending SYNs) followed at once (memory bound).
    pub max_hosts: usize,
}

impl Default for BurstsConfig {
    fn default() -> Self {
        BurstsConfig {
            window_secs: 10,
            min_resets: 0,
            min_unanswered_syns: 0,
            syn_answer_secs: 3,
            max_hosts: 65_536,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct BurstsReport {
    /// Bursts found (never capped).
    pub total: u64,
    /// The first `max_instances` of them, in the order they started.
    pub bursts: Vec<Burst>,
}

impl BurstsReport {
    /// Nothing to say (the report leaves the section out: files, where
    /// bursts are off, keep their layout).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Burst {
    /// "resets" (sent by `host`) or "unanswered_syns" (to `host`).
    pub kind: String,
    pub host: String,
    /// Events in the burst.
    pub count: u64,
    pub first_ts: f64,
    pub last_ts: f64,
    /// The events that started it (frame, time, Community ID).
    pub evidence: Vec<Evidence>,
}

/// One host's recent events of one kind.
#[derive(Clone, Default)]
struct Track {
    /// Times of the last `min` events (the window test).
    recent: VecDeque<i64>,
    recent_evidence: VecDeque<Evidence>,
    /// The burst going on: its index in the report (or past the cap).
    active: Option<usize>,
    count: u64,
    last: i64,
}

/// A SYN waiting for an answer.
#[derive(Clone, Copy)]
struct Pending {
    ts: i64,
    frame: u64,
    server: IpAddr,
    client: IpAddr,
    cid: crate::flow::CommunityIdSource,
}

#[derive(Clone)]
pub struct BurstsDetector {
    out: super::outbox::Outbox,
    cfg: BurstsConfig,
    cap: usize,
    resets: FxHashMap<IpAddr, Track>,
    silent: FxHashMap<IpAddr, Track>,
    /// SYNs of new flows without a packet back yet, by flow id.
    pending: FxHashMap<u64, Pending>,
    report: BurstsReport,
}

impl BurstsDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        BurstsDetector {
            out: Default::default(),
            cfg: cfg.bursts.clone(),
            cap: cfg.max_instances,
            resets: FxHashMap::default(),
            silent: FxHashMap::default(),
            pending: FxHashMap::default(),
            report: BurstsReport::default(),
        }
    }

    fn window(&self) -> i64 {
        (self.cfg.window_secs as i64).saturating_mul(1_000_000_000)
    }

    /// Count one event of `kind` for `host`; a burst starts or grows.
    fn event(&mut self, kind: &'static str, host: IpAddr, peer: IpAddr, ts: i64, ev: Evidence) {
        let (min, window, cap, max_hosts) = (
            match kind {
                "resets" => self.cfg.min_resets,
                _ => self.cfg.min_unanswered_syns,
            },
            self.window(),
            self.cap,
            self.cfg.max_hosts,
        );
        let tracks = if kind == "resets" {
            &mut self.resets
        } else {
            &mut self.silent
        };
        if !tracks.contains_key(&host) && tracks.len() >= max_hosts {
            // Bounded: forget hosts quiet for a window, then try again.
            tracks.retain(|_, t| ts.saturating_sub(t.last) <= window);
            if tracks.len() >= max_hosts {
                return;
            }
        }
        let t = tracks.entry(host).or_default();
        if t.active.is_some() && ts.saturating_sub(t.last) > window {
            t.active = None;
        }
        t.last = ts.max(t.last);
        if let Some(i) = t.active {
            t.count += 1;
            if i < self.report.bursts.len() {
                let b = &mut self.report.bursts[i];
                b.count = t.count;
                b.last_ts = ts_secs(t.last);
            }
            return;
        }
        t.recent.push_back(ts);
        t.recent_evidence.push_back(ev);
        while t.recent.len() as u64 > min {
            t.recent.pop_front();
            t.recent_evidence.pop_front();
        }
        let first = *t.recent.front().unwrap_or(&ts);
        if (t.recent.len() as u64) < min || ts.saturating_sub(first) > window {
            return;
        }
        // A burst: `min` events within the window.
        t.count = min;
        let evidence: Vec<Evidence> = t.recent_evidence.drain(..).take(cap).collect();
        t.recent.clear();
        self.report.total += 1;
        let burst = Burst {
            kind: kind.to_string(),
            host: host.to_string(),
            count: min,
            first_ts: ts_secs(first),
            last_ts: ts_secs(ts),
            evidence,
        };
        let index = self.report.bursts.len();
        t.active = Some(if index < cap { index } else { usize::MAX });
        self.out.finding(|| super::outbox::FindingEvent {
            kind: "burst",
            frame: burst.evidence.last().map_or(0, |e| e.frame),
            ts: burst.last_ts,
            community_id: burst
                .evidence
                .last()
                .map(|e| e.community_id.clone())
                .unwrap_or_default(),
            summary: match kind {
                "resets" => format!(
                    "{host} sent {min} TCP resets within {} s",
                    self.cfg.window_secs
                ),
                _ => format!(
                    "{min} connection attempts to {host} unanswered within {} s",
                    self.cfg.window_secs
                ),
            },
            detail: serde_json::json!({
                "kind": kind,
                "host": host.to_string(),
                "count": min,
                "window_secs": self.cfg.window_secs,
                // EVE's ends: who sent the resets (to the last peer), or the
                // last client and the host that did not answer.
                "orig": if kind == "resets" { host.to_string() } else { peer.to_string() },
                "resp": if kind == "resets" { peer.to_string() } else { host.to_string() },
                "transport": "tcp",
            }),
        });
        if index < cap {
            self.report.bursts.push(burst);
        }
    }

    /// SYNs pending longer than `syn_answer_secs` at `now` are unanswered.
    fn expire_pending(&mut self, now: i64) {
        if self.pending.is_empty() {
            return;
        }
        let wait = (self.cfg.syn_answer_secs as i64).saturating_mul(1_000_000_000);
        let mut due: Vec<(u64, Pending)> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_sub(p.ts) > wait)
            .map(|(id, p)| (*id, *p))
            .collect();
        // Flow ids order the pending SYNs as they came (hash order never shows).
        due.sort_unstable_by_key(|(id, _)| *id);
        for (id, p) in due {
            self.pending.remove(&id);
            let ev = Evidence::new(p.frame, p.ts, &p.cid.id());
            self.event("unanswered_syns", p.server, p.client, p.ts, ev);
        }
    }
}

impl Detector for BurstsDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    #[inline]
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        if self.cfg.min_resets == 0 && self.cfg.min_unanswered_syns == 0 {
            return;
        }
        let (Some(flow), Some(layer)) = (ctx.flow, ctx.packet.inner()) else {
            return;
        };
        let Transport::Tcp(t) = &layer.transport else {
            return;
        };
        if self.cfg.min_resets > 0 && t.flags & tcp_flags::RST != 0 {
            let ev = Evidence::new(ctx.frame(), ctx.ts(), &ctx.community_id());
            self.event("resets", layer.src, layer.dst, ctx.ts(), ev);
        }
        if self.cfg.min_unanswered_syns > 0 {
            let id = flow.flow.id;
            if !flow.from_orig {
                self.pending.remove(&id);
            } else if flow.new_flow
                && t.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN
                && self.pending.len() < self.cfg.max_hosts
            {
                self.pending.insert(
                    id,
                    Pending {
                        ts: ctx.ts(),
                        frame: ctx.frame(),
                        server: layer.dst,
                        client: layer.src,
                        cid: flow.flow.community_id_source(),
                    },
                );
            }
            self.expire_pending(ctx.ts());
        }
    }

    fn on_flow_end(&mut self, f: &Flow) {
        if let Some(p) = self.pending.remove(&f.id) {
            // Ended with nothing back: unanswered.
            if f.dir[1].packets == 0 {
                let ev = Evidence::new(p.frame, p.ts, &p.cid.id());
                self.event("unanswered_syns", p.server, p.client, p.ts, ev);
            }
        }
    }

    fn on_timeout(&mut self, now: i64) {
        self.expire_pending(now);
    }

    fn on_input_end(&mut self) {
        self.expire_pending(i64::MAX);
    }

    fn finish_findings(&mut self, out: &mut Findings) {
        out.bursts = std::mem::take(&mut self.report);
    }
}
