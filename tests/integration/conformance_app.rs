//! Application-protocol conformance against `../shared/corpus`: ICMP, DNS,
//! HTTP, TLS and QUIC failure counts equal tshark's for every capture tshark
//! read fully. Justified differences are listed in `KNOWN` and in the
//! "Application protocols" section of docs/conformance.md; anything else
//! fails with a file × counter table.

use pcaplens_core::{analyze_bytes, AnalyzerConfig, Report};
use pcaplens_tests::{corpus_absent_notice, corpus_dir, corpus_files, truth};
use serde_json::Value;
use std::collections::BTreeMap;

/// (file, counter, why) — each also explained in docs/conformance.md.
const KNOWN: &[(&str, &str, &str)] = &[
    (
        "ndpi__doq.pcapng",
        "dns_queries_unanswered_dnsproto",
        "DNS over QUIC: tshark decrypts with the capture's embedded TLS secrets; pcaplens does not",
    ),
    (
        "ndpi__fuzz-2006-06-26-2594.pcap",
        "dns_queries_unanswered_dnsproto",
        "fuzzer-made capture: tshark dissects fuzzed ports as DNS and skips pairings on corrupt frames",
    ),
];

fn known(file: &str, counter: &str) -> bool {
    KNOWN.iter().any(|(f, c, _)| *f == file && *c == counter)
}

/// Our value of each counter, as tshark's frame counts.
fn ours(r: &Report) -> Vec<(&'static str, String)> {
    let f = &r.failures;
    let http_errors: BTreeMap<String, u64> = f
        .http
        .status_codes
        .iter()
        .filter(|(c, _)| **c >= 400)
        .map(|(c, n)| (c.to_string(), *n))
        .collect();
    vec![
        (
            "dns_error_responses_dnsproto",
            f.dns.error_response_frames.to_string(),
        ),
        ("dns_error_rcodes_dnsproto", fmt_map(&f.dns.rcodes)),
        (
            "dns_queries_unanswered_dnsproto",
            (f.dns.unanswered_queries.total + f.dns.query_retransmissions).to_string(),
        ),
        (
            "http_error_responses",
            f.http.error_response_frames.to_string(),
        ),
        ("http_error_codes", fmt_map(&http_errors)),
        ("icmp_dest_unreach", f.icmp.unreachable_v4.total.to_string()),
        (
            "icmpv6_dest_unreach",
            f.icmp.unreachable_v6.total.to_string(),
        ),
        ("tls_alert_frames", f.tls.alert_frames.to_string()),
        (
            "quic_version_negotiation",
            f.quic.version_negotiation.total.to_string(),
        ),
    ]
}

fn fmt_map(m: &BTreeMap<String, u64>) -> String {
    let v: Vec<String> = m.iter().map(|(k, n)| format!("{k}={n}")).collect();
    format!("{{{}}}", v.join(","))
}

fn truth_map(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn theirs(t: &Value, counter: &str) -> String {
    match counter {
        "dns_error_rcodes_dnsproto" | "http_error_codes" => {
            fmt_map(&truth_map(&t["breakdowns"][counter]))
        }
        c => t["counts"][c].as_u64().unwrap_or(0).to_string(),
    }
}

#[test]
fn corpus_application_failures_match_tshark() {
    if corpus_dir().is_none() {
        corpus_absent_notice("corpus_application_failures_match_tshark");
        return;
    }
    let mut rows = Vec::new();
    let mut checked = 0;
    let mut nonzero = 0;
    for path in corpus_files() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let t = truth(&path);
        if t["tshark_rc"].as_i64() != Some(0) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let r = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
        checked += 1;
        for (counter, got) in ours(&r) {
            let want = theirs(&t, counter);
            if want != "0" && want != "{}" {
                nonzero += 1;
            }
            if want != got {
                rows.push((name.clone(), counter, want, got, known(&name, counter)));
            }
        }
    }
    let mut table = format!(
        "{:<48} {:<32} {:>12} {:>12}\n",
        "file", "counter", "tshark", "pcaplens"
    );
    for (f, c, w, g, k) in &rows {
        let mark = if *k { " (known)" } else { "" };
        table.push_str(&format!("{f:<48} {c:<32} {w:>12} {g:>12}{mark}\n"));
    }
    eprintln!(
        "application conformance: {checked} files, {nonzero} non-zero truth values, {} differences\n{table}",
        rows.len()
    );
    let unexplained = rows.iter().filter(|r| !r.4).count();
    assert_eq!(unexplained, 0, "unexplained differences:\n{table}");
    assert!(checked > 50, "only {checked} corpus files checked");
    assert!(nonzero > 30, "the corpus should exercise these counters");
}
