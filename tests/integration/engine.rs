//! The packet-level engine (issue 17): events as they are decided, time from
//! the caller, snapshots that equal the capture cut there, and events that
//! add up to the report.

use pcaplens_core::capture::writer::PcapWriter;
use pcaplens_core::capture::{Event as CaptureEvent, Reader};
use pcaplens_core::detect::blocklist::parse_list;
use pcaplens_core::generate::{generate, GenerateOptions, Scenario};
use pcaplens_core::{analyze_bytes, Analyzer, AnalyzerConfig, Engine, Event, Report};
use serde_json::Value;
use std::collections::BTreeMap;

/// One record of a capture, owned.
struct Packet {
    ts: i64,
    link: u32,
    orig_len: u32,
    data: Vec<u8>,
    /// Offset just past this record in the file.
    end: usize,
}

fn packets(bytes: &[u8]) -> Vec<Packet> {
    let mut r = Reader::new();
    let mut out = Vec::new();
    r.push(bytes, &mut |ev| {
        if let CaptureEvent::Record(rec) = ev {
            out.push(Packet {
                ts: rec.ts_nanos,
                link: rec.link_type,
                orig_len: rec.orig_len,
                data: rec.data.to_vec(),
                end: (rec.offset as usize) + rec.raw.len(),
            });
        }
    })
    .expect("a capture");
    out
}

fn scenario(s: Scenario, packets: u64, seed: u64) -> Vec<u8> {
    generate(
        s,
        &GenerateOptions {
            packets,
            seed,
            ..Default::default()
        },
    )
    .expect("generate")
    .bytes
}

/// The capture twice, the second copy `gap_secs` after the first ends: the
/// first copy's flows go idle, and end, while the second is read.
fn twice(bytes: &[u8], gap_secs: i64) -> Vec<u8> {
    let pkts = packets(bytes);
    let span = pkts.last().unwrap().ts - pkts[0].ts;
    let shift = span + gap_secs * 1_000_000_000;
    let mut w = PcapWriter::new(pkts[0].link, 65535, true);
    for p in pkts.iter() {
        w.write_record(p.ts as u64, p.orig_len, &p.data);
    }
    for p in pkts.iter() {
        w.write_record((p.ts + shift) as u64, p.orig_len, &p.data);
    }
    w.into_bytes()
}

fn drain(engine: &mut Engine, into: &mut Vec<Event>) {
    while let Some(e) = engine.poll_event() {
        into.push(e);
    }
}

/// A scan's finding is polled while the capture is still being fed: the
/// first copy's probes end on idle timeout during the second copy.
#[test]
fn scan_finding_is_polled_before_the_last_packet() {
    let bytes = twice(&scenario(Scenario::PortScan, 3000, 11), 1800);
    let pkts = packets(&bytes);
    let mut engine = Engine::new(AnalyzerConfig::default())
        .unwrap()
        .with_events();
    let mut first_scan_at = None;
    let mut events = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        engine.handle_packet(p.ts, p.link, p.orig_len, &p.data);
        drain(&mut engine, &mut events);
        if first_scan_at.is_none()
            && events
                .iter()
                .any(|e| matches!(e, Event::Finding(f) if f.kind == "scan"))
        {
            first_scan_at = Some(i);
        }
    }
    let at = first_scan_at.expect("a scan finding before finish");
    assert!(
        at < pkts.len() - 1,
        "scan polled at packet {at} of {}",
        pkts.len()
    );
    // Decided during the second copy, when the first copy's flows idled out.
    assert!(at >= pkts.len() / 2, "at {at}");
    engine.close();
    drain(&mut engine, &mut events);
    let report = engine.finish();
    let scans = events
        .iter()
        .filter(|e| matches!(e, Event::Finding(f) if f.kind == "scan"))
        .count() as u64;
    assert!(report.findings.scans.total >= 1);
    assert_eq!(scans, report.findings.scans.total);
}

/// On a quiet link the caller's clock ends an idle flow: no later packet.
#[test]
fn handle_timeout_ends_an_idle_flow_without_a_later_packet() {
    let bytes = scenario(Scenario::Normal, 200, 3);
    let pkts = packets(&bytes);
    let mut engine = Engine::new(AnalyzerConfig::default())
        .unwrap()
        .with_events();
    assert_eq!(
        engine.poll_timeout(),
        None,
        "nothing live, nothing to wake for"
    );
    for p in &pkts {
        engine.handle_packet(p.ts, p.link, p.orig_len, &p.data);
    }
    let mut events = Vec::new();
    drain(&mut engine, &mut events);
    let ended_before = count_flows(&events);
    let live = engine.live_flows();
    assert!(live > 0);
    let last = pkts.last().unwrap().ts;
    let wake = engine
        .poll_timeout()
        .expect("live flows: a timeout to wait for");
    assert!(wake > pkts[0].ts);
    // Before the idle timeout (600 s) nothing ends.
    engine.handle_timeout(last + 10_000_000_000);
    drain(&mut engine, &mut events);
    assert_eq!(count_flows(&events), ended_before);
    // Well past it, every flow ends, by idle timeout, and no packet came.
    let mut now = last;
    for _ in 0..10 {
        now = now.max(engine.poll_timeout().unwrap_or(now)) + 200_000_000_000;
        engine.handle_timeout(now);
        drain(&mut engine, &mut events);
    }
    assert_eq!(engine.live_flows(), 0);
    assert_eq!(engine.poll_timeout(), None);
    let ended: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::FlowEnded(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(ended.len(), ended_before + live);
    assert!(ended[ended_before..]
        .iter()
        .all(|f| f.end_reason == "idle_timeout"));
    let report = engine.finish();
    assert_eq!(report.summary.flows.total as usize, ended.len());
    assert_eq!(report.summary.flows.idle_timeouts as usize, ended.len());
}

fn count_flows(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::FlowEnded(_)))
        .count()
}

/// A snapshot in the middle equals the report of the capture cut there, and
/// does not disturb the analysis (its final report is unchanged).
#[test]
fn snapshot_equals_the_report_of_the_capture_cut_there() {
    for (s, n) in [
        (Scenario::Mixed, 6000),
        (Scenario::PortScan, 3000),
        (Scenario::DnsFailures, 3000),
    ] {
        let bytes = scenario(s, n, 5);
        let pkts = packets(&bytes);
        let whole = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
        for cut in [1, pkts.len() / 3, pkts.len() / 2 + 7] {
            let end = pkts[cut - 1].end;
            let mut a = Analyzer::new(AnalyzerConfig::default()).unwrap();
            a.feed(&bytes[..end]).unwrap();
            let snap = a.snapshot();
            let cut_report = analyze_bytes(&bytes[..end], AnalyzerConfig::default()).unwrap();
            assert_eq!(
                snap.to_json(),
                cut_report.to_json(),
                "{s:?} cut after packet {cut}"
            );
            a.feed(&bytes[end..]).unwrap();
            assert_eq!(a.finish().to_json(), whole.to_json(), "{s:?}");
        }
        // The same through the packet API (no container facts).
        let mut e = Engine::new(AnalyzerConfig::default()).unwrap();
        let cut = pkts.len() / 2;
        for p in &pkts[..cut] {
            e.handle_packet(p.ts, p.link, p.orig_len, &p.data);
        }
        let snap = e.snapshot();
        let cut_report =
            analyze_bytes(&bytes[..pkts[cut - 1].end], AnalyzerConfig::default()).unwrap();
        assert_eq!(without_container(&snap), without_container(&cut_report));
    }
}

fn without_container(r: &Report) -> Value {
    let mut v = serde_json::to_value(r).unwrap();
    v.as_object_mut().unwrap().remove("capture");
    v
}

/// Failure classes the detectors announce one instance at a time.
const FAILURE_CLASSES: &[&str] = &[
    "tcp.retransmission",
    "tcp.fast_retransmission",
    "tcp.spurious_retransmission",
    "tcp.out_of_order",
    "tcp.duplicate_ack",
    "tcp.zero_window",
    "tcp.zero_window_probe",
    "tcp.zero_window_probe_ack",
    "tcp.keep_alive",
    "tcp.keep_alive_ack",
    "tcp.window_full",
    "tcp.window_update",
    "tcp.lost_segment",
    "tcp.ack_unseen_segment",
    "tcp.reused_ports",
    "dns.unanswered_queries",
    "dns.slow_responses",
    "dns.error_responses",
    "http.slow_responses",
    "http.error_responses",
    "tls.incomplete_handshakes",
    "tls.alerts",
    "quic.incomplete_handshakes",
    "quic.unanswered_connections",
    "quic.failed_after_version_negotiation",
    "quic.version_negotiation",
    "performance.ipv4_fragment_frames",
    "performance.ipv6_fragment_frames",
];

fn total_at(report: &Value, path: &str) -> u64 {
    let mut v = report;
    for part in path.split('.') {
        v = &v[part];
    }
    v["total"]
        .as_u64()
        .unwrap_or_else(|| panic!("{path}.total in {v}"))
}

/// Everything polled adds up to the final report: one ended flow per flow,
/// one failure event per counted failure, one finding event per finding.
fn check_sums(name: &str, bytes: &[u8], cfg: AnalyzerConfig) -> (usize, usize) {
    let reference = analyze_bytes(bytes, cfg.clone()).unwrap();
    let mut a = Analyzer::new(cfg).unwrap().with_events();
    let mut events = Vec::new();
    // Fed in uneven chunks, polled after each.
    for chunk in bytes.chunks(7919) {
        let _ = a.feed(chunk);
        while let Some(e) = a.poll_event() {
            events.push(e);
        }
    }
    a.close();
    while let Some(e) = a.poll_event() {
        events.push(e);
    }
    let report = a.finish();
    // Events change nothing in the report.
    assert_eq!(report.to_json(), reference.to_json(), "{name}");
    let r = serde_json::to_value(&report).unwrap();
    let mut failures: BTreeMap<&str, u64> = BTreeMap::new();
    let mut findings: BTreeMap<&str, u64> = BTreeMap::new();
    let mut flows = 0u64;
    for e in &events {
        match e {
            Event::FlowEnded(_) => flows += 1,
            Event::Failure(f) => *failures.entry(f.class).or_default() += 1,
            Event::Finding(f) => *findings.entry(f.kind).or_default() += 1,
        }
    }
    assert_eq!(flows, report.summary.flows.total, "{name}: flows");
    for class in FAILURE_CLASSES {
        assert_eq!(
            failures.get(class).copied().unwrap_or(0),
            total_at(&r["failures"], class),
            "{name}: {class}"
        );
    }
    for class in failures.keys() {
        assert!(
            FAILURE_CLASSES.contains(class),
            "{name}: unlisted class {class}"
        );
    }
    let f = &report.findings;
    for (kind, total) in [
        ("scan", f.scans.total),
        ("blocklist", f.blocklist.total_hits),
        ("unusual_port", f.unusual_ports.total_servers),
        ("long_lived", f.long_lived.total),
        ("protocol_mismatch", f.protocol_mismatch.total_flows),
        ("burst", f.bursts.total),
    ] {
        assert_eq!(
            findings.get(kind).copied().unwrap_or(0),
            total,
            "{name}: {kind}"
        );
    }
    (
        failures.values().sum::<u64>() as usize,
        findings.values().sum::<u64>() as usize,
    )
}

#[test]
fn polled_events_add_up_to_the_report_totals() {
    let mut failures = 0;
    let mut findings = 0;
    for &s in Scenario::ALL {
        let mut cfg = AnalyzerConfig::default();
        cfg.detect.blocklist.entries = parse_list(
            "198.51.100.0/24\n203.0.113.66\nmalware.example.net\n",
            "test",
        )
        .unwrap();
        for bytes in [scenario(s, 4000, 9), twice(&scenario(s, 1500, 2), 1200)] {
            let (a, b) = check_sums(&format!("{s:?}"), &bytes, cfg.clone());
            failures += a;
            findings += b;
        }
    }
    // Bursts on (as live capture has them): the scan's refused probes are a
    // burst of resets from its target.
    let mut bursts = AnalyzerConfig::default();
    bursts.detect.bursts.min_resets = 20;
    bursts.detect.bursts.min_unanswered_syns = 5;
    for s in [Scenario::PortScan, Scenario::TcpResets, Scenario::Mixed] {
        let bytes = scenario(s, 4000, 9);
        let (a, b) = check_sums(&format!("{s:?} with bursts"), &bytes, bursts.clone());
        failures += a;
        findings += b;
        if s == Scenario::PortScan {
            let r = analyze_bytes(&bytes, bursts.clone()).unwrap();
            assert!(
                r.findings.bursts.bursts.iter().any(|b| b.kind == "resets"),
                "{:?}",
                r.findings.bursts
            );
        }
    }
    for f in pcaplens_tests::corpus_files() {
        let bytes = std::fs::read(&f).unwrap();
        let (a, b) = check_sums(&f.display().to_string(), &bytes, AnalyzerConfig::default());
        failures += a;
        findings += b;
    }
    // The scenarios make both kinds: the sums above were not all zero.
    assert!(failures > 100, "{failures}");
    assert!(findings > 10, "{findings}");
}

/// Live settings: closed flows end after 2 s and a scanner quiet for 30 s is
/// retired (its probes forgotten, its scans kept). One scan: the same
/// finding as without retiring. The scan again half an hour later: a second
/// episode, a second finding (kept together, they make one). Each finding
/// is announced once.
#[test]
fn quiet_scanners_are_retired_with_their_scans_kept() {
    let once = scenario(Scenario::PortScan, 3000, 11);
    let again = twice(&once, 1800);
    let mut keep = AnalyzerConfig::default();
    keep.flow.closed_timeout_secs = 2;
    let mut retire = keep.clone();
    retire.detect.scan.retire_after_secs = 30;
    let run = |bytes: &[u8], cfg: AnalyzerConfig| {
        let pkts = packets(bytes);
        let mut e = Engine::new(cfg).unwrap().with_events();
        let mut events = Vec::new();
        for p in &pkts {
            e.handle_packet(p.ts, p.link, p.orig_len, &p.data);
            // The caller's clock, as live capture tells it.
            e.handle_timeout(p.ts);
            drain(&mut e, &mut events);
        }
        let last = pkts.last().unwrap().ts;
        for k in 1..=20 {
            e.handle_timeout(last + k * 10_000_000_000);
            drain(&mut e, &mut events);
        }
        e.close();
        drain(&mut e, &mut events);
        let scans = events
            .iter()
            .filter(|e| matches!(e, Event::Finding(f) if f.kind == "scan"))
            .count() as u64;
        let report = e.finish();
        assert_eq!(scans, report.findings.scans.total, "one event per scan");
        report.findings.scans
    };
    let kept = run(&once, keep.clone());
    assert!(kept.total >= 1);
    assert_eq!(run(&once, retire.clone()), kept);
    let (kept, retired) = (run(&again, keep), run(&again, retire));
    assert_eq!(retired.total, 2 * kept.total, "{retired:?}");
    assert_eq!(retired.probe_flows, kept.probe_flows);
}

/// Live capture allocates the anomaly reservoir up front
/// (`Engine::preallocated`); the analysis is the same, including past the
/// reservoir's size (training flows sampled, the rest scored as they leave).
#[test]
fn a_preallocated_engine_reports_the_same() {
    let bytes = scenario(Scenario::Mixed, 20_000, 3);
    let mut cfg = AnalyzerConfig::default();
    cfg.anomaly.max_training_flows = 300;
    let run = |pre: bool| {
        let mut e = Engine::new(cfg.clone()).unwrap();
        if pre {
            e = e.preallocated();
        }
        for p in packets(&bytes) {
            e.handle_packet(p.ts, p.link, p.orig_len, &p.data);
        }
        serde_json::to_value(e.finish()).unwrap()
    };
    let (plain, pre) = (run(false), run(true));
    assert!(
        plain["anomalies"]["sampled"].as_bool().unwrap(),
        "past the reservoir"
    );
    assert_eq!(plain, pre);
}
