//! Isolation Forest anomaly scoring: injected odd flows rank at the top,
//! output is deterministic per seed, bounded beyond the training cap.

use pcaplens_core::anomaly::AnomalyConfig;
use pcaplens_core::capture::writer::{PcapWriter, LINKTYPE_ETHERNET};
use pcaplens_core::capture::{Event, Reader};
use pcaplens_core::generate::{generate, GenerateOptions, Scenario};
use pcaplens_core::{analyze_bytes, Analyzer, AnalyzerConfig, Report};
use std::collections::BTreeSet;

const ODD_NET: [u8; 2] = [10, 66];

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let total = 20 + l4.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    ip[10..12].copy_from_slice(&ck.to_be_bytes());
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(l4);
    frame
}

fn udp(sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let len = 8 + payload;
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.resize(len, 0xa5);
    v
}

fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(20 + payload);
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&1u32.to_be_bytes());
    v.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    v.resize(20 + payload, 0x5a);
    v
}

/// Three kinds of odd flows, `i` picks one: a one-way UDP blast of big
/// datagrams to a high port, a slow hours-long one-way TCP push without a
/// handshake, and a burst of oversized pings.
fn odd_flow(i: u32, start: u64) -> Vec<(u64, Vec<u8>)> {
    let src = [ODD_NET[0], ODD_NET[1], 0, 10 + i as u8];
    let dst = [198, 18, 0, 1 + i as u8];
    let mut out = Vec::new();
    match i % 3 {
        0 => {
            for k in 0..150u64 {
                out.push((
                    start + k * 200_000,
                    ipv4(17, src, dst, &udp(40000, 31337, 1400)),
                ));
            }
        }
        1 => {
            for k in 0..40u64 {
                let seg = tcp(50000, 9999, 1000 + k as u32 * 1460, 0x18, 1460);
                out.push((start + k * 90_000_000_000, ipv4(6, src, dst, &seg)));
            }
        }
        _ => {
            for k in 0..60u64 {
                let mut icmp = vec![8, 0, 0, 0, 0x12, i as u8, 0, k as u8];
                icmp.resize(8 + 1200, 0x77);
                out.push((start + k * 1_000_000, ipv4(1, src, dst, &icmp)));
            }
        }
    }
    out
}

/// A generator capture of ordinary traffic with odd flows mixed in (1 % of
/// the background flows), frames in time order.
fn capture_with_odd_flows(packets: u64, seed: u64) -> (Vec<u8>, u32) {
    let normal = generate(
        Scenario::Normal,
        &GenerateOptions {
            packets,
            seed,
            ..GenerateOptions::default()
        },
    )
    .unwrap();
    let background = analyze_bytes(&normal.bytes, AnalyzerConfig::default())
        .unwrap()
        .summary
        .flows
        .total;
    let odd = (background / 100).max(1) as u32;
    let mut frames: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut reader = Reader::new();
    reader
        .push(&normal.bytes, &mut |ev| {
            if let Event::Record(r) = ev {
                frames.push((r.ts_nanos as u64, r.data.to_vec()));
            }
        })
        .unwrap();
    let first = frames.first().unwrap().0;
    let span = frames.last().unwrap().0 - first;
    for i in 0..odd {
        let start = first + span / (odd as u64 + 1) * (i as u64 + 1);
        frames.extend(odd_flow(i, start));
    }
    frames.sort_by_key(|f| f.0);
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET, 65535, true);
    for (ts, data) in &frames {
        w.write_record(*ts, data.len() as u32, data);
    }
    (w.into_bytes(), odd)
}

fn config(anomaly: AnomalyConfig) -> AnalyzerConfig {
    AnalyzerConfig {
        flows_limit: usize::MAX,
        anomaly,
        ..AnalyzerConfig::default()
    }
}

fn odd_flow_ids(report: &Report) -> BTreeSet<u64> {
    report
        .flows
        .iter()
        .filter(|f| f.orig_addr.starts_with("10.66."))
        .map(|f| f.id)
        .collect()
}

/// Rank (1-based) of each odd flow among all scored flows.
fn odd_ranks(bytes: &[u8], anomaly: AnomalyConfig) -> (Vec<usize>, usize, Report) {
    let mut a = Analyzer::new(config(AnomalyConfig {
        export_features: true,
        ..anomaly
    }))
    .unwrap();
    a.feed(bytes).unwrap();
    let (report, _, matrix) = a.finish_with_features();
    let matrix = matrix.expect("feature matrix requested");
    let odd = odd_flow_ids(&report);
    let mut rows: Vec<(f64, u64)> = matrix.rows.iter().map(|r| (r.score, r.flow_id)).collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let ranks = rows
        .iter()
        .enumerate()
        .filter(|(_, (_, id))| odd.contains(id))
        .map(|(k, _)| k + 1)
        .collect();
    (ranks, rows.len(), report)
}

#[test]
fn injected_odd_flows_rank_in_the_top_5_percent() {
    let (bytes, odd) = capture_with_odd_flows(40_000, 21);
    let (ranks, n, report) = odd_ranks(&bytes, AnomalyConfig::default());
    assert!(n >= 1500, "{n} flows");
    assert_eq!(ranks.len(), odd as usize, "every odd flow is scored");
    let cutoff = n * 5 / 100;
    eprintln!("odd flows {odd} of {n}; ranks {ranks:?}; top-5% cutoff {cutoff}");
    let outside: Vec<usize> = ranks.iter().copied().filter(|&r| r > cutoff).collect();
    assert!(
        outside.is_empty(),
        "odd flows ranked below the top 5%: {outside:?}"
    );
    // The report's own top list is made of them, each explained.
    let a = &report.anomalies;
    assert!(!a.sampled);
    assert_eq!(a.training_flows as usize, n);
    let odd_ids = odd_flow_ids(&report);
    let top_odd = a
        .top_flows
        .iter()
        .filter(|t| odd_ids.contains(&t.flow_id))
        .count();
    assert!(top_odd >= 8, "only {top_odd} odd flows in the top 10");
    for t in &a.top_flows {
        assert!(!t.explanation.is_empty() && t.explanation.len() <= 3);
        assert!(t.score > a.median_score);
    }
}

#[test]
fn same_seed_same_bytes_other_seed_same_top() {
    let (bytes, _) = capture_with_odd_flows(12_000, 4);
    let run = |seed: u64| {
        analyze_bytes(
            &bytes,
            config(AnomalyConfig {
                seed,
                top_n: 20,
                per_packet: true,
                ..AnomalyConfig::default()
            }),
        )
        .unwrap()
    };
    let a = run(1);
    assert_eq!(a.to_json(), run(1).to_json(), "same seed, same JSON");
    // Fed in odd-sized chunks: the same report.
    let mut chunked = Analyzer::new(config(AnomalyConfig {
        seed: 1,
        top_n: 20,
        per_packet: true,
        ..AnomalyConfig::default()
    }))
    .unwrap();
    for c in bytes.chunks(1009) {
        chunked.feed(c).unwrap();
    }
    assert_eq!(a.to_json(), chunked.finish().to_json());

    let b = run(2);
    assert_ne!(a.anomalies.top_flows, b.anomalies.top_flows);
    let ids =
        |r: &Report| -> BTreeSet<u64> { r.anomalies.top_flows.iter().map(|t| t.flow_id).collect() };
    let common = ids(&a).intersection(&ids(&b)).count();
    assert!(
        common >= 15,
        "only {common} of 20 top flows shared between seeds"
    );
}

#[test]
fn beyond_the_training_cap_memory_is_bounded_and_odd_flows_still_found() {
    let (bytes, odd) = capture_with_odd_flows(40_000, 21);
    let cfg = AnomalyConfig {
        max_training_flows: 400,
        max_packets: 5_000,
        per_packet: true,
        top_n: 40,
        ..AnomalyConfig::default()
    };
    let (ranks, n, report) = odd_ranks(&bytes, cfg);
    let a = &report.anomalies;
    assert!(a.sampled);
    assert_eq!(a.training_flows, 400);
    assert_eq!(a.flows_seen, report.summary.flows.total);
    // Training flows plus a bounded candidate list, not every flow.
    assert!(n <= 400 + 320, "{n} rows kept");
    eprintln!("capped: {n} scored rows, odd ranks {ranks:?}");
    let found = ranks.iter().filter(|&&r| r <= 40).count();
    assert!(
        found * 10 >= odd as usize * 8,
        "only {found} of {odd} odd flows in the top 40"
    );
    let p = a.packets.as_ref().expect("per-packet scoring on");
    assert!(p.packets_scored <= 5_000);
    assert_eq!(p.top.len(), 40);
    assert!(p
        .top
        .iter()
        .all(|t| t.frame >= 1 && t.frame <= report.summary.packets));
}

#[test]
fn disabled_scoring_changes_nothing_else() {
    let bytes = generate(Scenario::Mixed, &GenerateOptions::default())
        .unwrap()
        .bytes;
    let on = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    let mut off = analyze_bytes(
        &bytes,
        AnalyzerConfig {
            anomaly: AnomalyConfig {
                enabled: false,
                ..AnomalyConfig::default()
            },
            ..AnalyzerConfig::default()
        },
    )
    .unwrap();
    assert!(!off.anomalies.enabled && off.anomalies.top_flows.is_empty());
    assert!(on.anomalies.enabled && on.anomalies.top_flows.len() == 10);
    off.anomalies = on.anomalies.clone();
    assert_eq!(on, off);
}

#[test]
fn two_stage_scoring_on_big_captures_finds_the_whole_forests_top() {
    // Enough flows (> 4,096) for the screening stage.
    let (bytes, odd) = capture_with_odd_flows(120_000, 8);
    let run = |export_features: bool| {
        let mut a = Analyzer::new(config(AnomalyConfig {
            export_features,
            top_n: 30,
            ..AnomalyConfig::default()
        }))
        .unwrap();
        a.feed(&bytes).unwrap();
        a.finish_with_features()
    };
    let (screened, _, none) = run(false);
    let (full, _, matrix) = run(true);
    assert!(none.is_none());
    let s = &screened.anomalies;
    assert!(
        s.screening_trees > 0,
        "{} flows were not screened",
        s.flows_scored
    );
    assert!(s.fully_scored_flows < s.flows_scored);
    assert_eq!(full.anomalies.screening_trees, 0);
    assert_eq!(
        s.top_flows, full.anomalies.top_flows,
        "screening changed the top"
    );
    let odd_ids = odd_flow_ids(&screened);
    assert_eq!(odd_ids.len(), odd as usize);
    let in_top = s
        .top_flows
        .iter()
        .filter(|t| odd_ids.contains(&t.flow_id))
        .count();
    let expected = (odd as usize).min(30);
    assert!(
        in_top * 10 >= expected * 9,
        "{in_top} odd flows in the top 30, of {odd}"
    );
    // The sampled median is close to the median over every flow.
    let matrix = matrix.unwrap();
    let mut all: Vec<f64> = matrix.rows.iter().map(|r| r.score).collect();
    all.sort_by(f64::total_cmp);
    let exact = all[all.len() / 2];
    assert!(
        (s.median_score - exact).abs() < 0.01,
        "{} vs {exact}",
        s.median_score
    );
}
