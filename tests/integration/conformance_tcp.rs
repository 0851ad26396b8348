//! TCP analysis conformance: every corpus capture tshark read fully must give
//! tshark's TCP counts (`tcp_rst`, the `tcp.analysis.*` flags, SYNs without
//! SYN/ACK). Known differences are listed in `KNOWN` and in
//! `docs/conformance.md` (section "TCP analysis"), each with frames and reason.
//!
//! Debug aid: `PCAPLENS_TCP_FRAMES=<file>` prints our frame list per counter
//! for that capture, to diff against
//! `tshark -n -2 -r F -Y tcp.analysis.<flag> -T fields -e frame.number`.

use pcaplens_core::detect::tcp::{TcpEvent, TcpReport};
use pcaplens_core::detect::Counted;
use pcaplens_core::{analyze_bytes, AnalyzerConfig};
use pcaplens_tests::{corpus_files, truth};

/// (file, counter, why): differences where tshark is wrong or our input
/// decoding cannot match; each is explained in docs/conformance.md.
const KNOWN: &[(&str, &str, &str)] = &[];

const COUNTERS: &[&str] = &[
    "tcp_rst",
    "tcp_retransmission",
    "tcp_fast_retransmission",
    "tcp_spurious_retransmission",
    "tcp_out_of_order",
    "tcp_duplicate_ack",
    "tcp_zero_window",
    "tcp_lost_segment",
    "tcp_syn_without_synack_streams",
];

fn list<'a>(r: &'a TcpReport, counter: &str) -> Option<&'a Counted<TcpEvent>> {
    Some(match counter {
        "tcp_retransmission" => &r.retransmission,
        "tcp_fast_retransmission" => &r.fast_retransmission,
        "tcp_spurious_retransmission" => &r.spurious_retransmission,
        "tcp_out_of_order" => &r.out_of_order,
        "tcp_duplicate_ack" => &r.duplicate_ack,
        "tcp_zero_window" => &r.zero_window,
        "tcp_lost_segment" => &r.lost_segment,
        _ => return None,
    })
}

fn ours(r: &TcpReport, counter: &str) -> u64 {
    match counter {
        "tcp_rst" => r.resets.total,
        "tcp_syn_without_synack_streams" => r.unanswered_syns.total,
        c => list(r, c).map(|l| l.total).unwrap_or(0),
    }
}

#[test]
fn corpus_tcp_analysis_matches_tshark() {
    let debug = std::env::var("PCAPLENS_TCP_FRAMES").ok();
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.max_instances = 1_000_000;
    let mut rows = Vec::new();
    let mut unexpected = 0;
    let mut checked = 0;
    let mut compared = 0u64;
    for path in corpus_files() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let t = truth(&path);
        if t["tshark_rc"].as_i64() != Some(0) {
            continue;
        }
        checked += 1;
        let bytes = std::fs::read(&path).unwrap();
        let r = analyze_bytes(&bytes, cfg.clone()).unwrap();
        let tcp = &r.failures.tcp;
        if let Ok(dir) = std::env::var("PCAPLENS_TCP_DUMP") {
            // Every flag's frames, one "flag frame" line each, to diff with tshark.
            let mut out = String::new();
            for (flag, l) in [
                ("retransmission", &tcp.retransmission),
                ("fast_retransmission", &tcp.fast_retransmission),
                ("spurious_retransmission", &tcp.spurious_retransmission),
                ("out_of_order", &tcp.out_of_order),
                ("duplicate_ack", &tcp.duplicate_ack),
                ("zero_window", &tcp.zero_window),
                ("zero_window_probe", &tcp.zero_window_probe),
                ("zero_window_probe_ack", &tcp.zero_window_probe_ack),
                ("keep_alive", &tcp.keep_alive),
                ("keep_alive_ack", &tcp.keep_alive_ack),
                ("window_full", &tcp.window_full),
                ("window_update", &tcp.window_update),
                ("lost_segment", &tcp.lost_segment),
                ("ack_lost_segment", &tcp.ack_unseen_segment),
                ("reused_ports", &tcp.reused_ports),
            ] {
                for e in &l.instances {
                    out.push_str(&format!("{flag} {}\n", e.frame));
                }
            }
            std::fs::write(format!("{dir}/{name}.txt"), out).unwrap();
        }
        if debug.as_deref() == Some(name.as_str()) {
            for c in COUNTERS {
                if let Some(l) = list(tcp, c) {
                    let frames: Vec<u64> = l.instances.iter().map(|e| e.frame).collect();
                    eprintln!("{c}: {frames:?}");
                }
            }
            let syn: Vec<u64> = tcp
                .unanswered_syns
                .instances
                .iter()
                .map(|u| u.frame)
                .collect();
            eprintln!("unanswered syn streams (first SYN frame): {syn:?}");
        }
        for c in COUNTERS {
            let want = t["counts"][c].as_u64().unwrap_or(0);
            let got = ours(tcp, c);
            compared += want;
            if want != got {
                let known = KNOWN.iter().any(|(f, k, _)| *f == name && k == c);
                if !known {
                    unexpected += 1;
                }
                rows.push((name.clone(), *c, want, got, known));
            }
        }
    }
    let mut table = format!(
        "{:<48} {:<31} {:>7} {:>8}\n",
        "file", "counter", "tshark", "pcaplens"
    );
    for (f, c, w, g, known) in &rows {
        let mark = if *known { " (known)" } else { "" };
        table.push_str(&format!("{f:<48} {c:<31} {w:>7} {g:>8}{mark}\n"));
    }
    eprintln!(
        "TCP conformance: {checked} files, {} counters, {compared} flagged frames in the truth, {} mismatches ({unexpected} unexpected)\n{table}",
        checked * COUNTERS.len(),
        rows.len()
    );
    assert_eq!(unexpected, 0, "unexpected TCP mismatches:\n{table}");
    assert!(checked > 50, "only {checked} corpus files checked");
    // Every known difference must still be a difference (no stale entries).
    for (f, c, why) in KNOWN {
        assert!(
            rows.iter().any(|(rf, rc, ..)| rf == f && rc == c),
            "stale KNOWN entry {f} {c}: {why}"
        );
    }
}
