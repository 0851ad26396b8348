//! Application-protocol conformance against `tests/corpus`: ICMP, DNS,
//! HTTP, TLS and QUIC failure counts equal tshark's for every capture tshark
//! read fully. Justified differences are listed in `KNOWN` and in the
//! "Application protocols" section of docs/conformance.md; anything else
//! fails with a file × counter table.

use pcaplens_core::{analyze_bytes, AnalyzerConfig, Report};
use pcaplens_tests::{corpus_files, map_u64, truth};
use serde_json::Value;
use std::collections::BTreeMap;

/// (file, counter, why) — each also explained in docs/conformance.md.
const KNOWN: &[(&str, &str, &str)] = &[];

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
            (f.dns.unanswered_queries.total
                + f.dns.query_retransmissions
                + f.dns.answered_malformed_queries)
                .to_string(),
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

fn theirs(t: &Value, counter: &str) -> String {
    match counter {
        "dns_error_rcodes_dnsproto" | "http_error_codes" => {
            fmt_map(&map_u64(&t["breakdowns"][counter]))
        }
        c => t["counts"][c].as_u64().unwrap_or(0).to_string(),
    }
}

#[test]
fn corpus_application_failures_match_tshark() {
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

/// The generator's scenarios know their exact failure counts.
#[test]
fn generator_scenarios_have_the_known_failure_counts() {
    use pcaplens_core::generate::{generate, GenerateOptions, Scenario};
    for scenario in [Scenario::DnsFailures, Scenario::HttpErrors, Scenario::Mixed] {
        for seed in [1, 7, 42] {
            let opts = GenerateOptions {
                seed,
                packets: 3000,
                ..Default::default()
            };
            let g = generate(scenario, &opts).expect("generate");
            let t = &g.truth;
            let r = analyze_bytes(&g.bytes, AnalyzerConfig::default()).unwrap();
            let d = &r.failures.dns;
            let h = &r.failures.http;
            let ctx = format!("{} seed {seed}", scenario.name());
            let rc = |k: &str| d.rcodes.get(k).copied().unwrap_or(0);
            assert_eq!(d.queries, t.dns_queries, "{ctx}: dns queries");
            assert_eq!(
                d.error_responses.total, t.dns_error_responses,
                "{ctx}: dns errors"
            );
            assert_eq!(rc("3:NXDomain"), t.dns_nxdomain, "{ctx}: NXDOMAIN");
            assert_eq!(rc("2:ServFail"), t.dns_servfail, "{ctx}: SERVFAIL");
            assert_eq!(rc("5:Refused"), t.dns_refused, "{ctx}: REFUSED");
            // Truth counts every query packet without a response, retries included.
            assert_eq!(
                d.unanswered_queries.total + d.query_retransmissions,
                t.dns_unanswered,
                "{ctx}: unanswered queries"
            );
            assert_eq!(
                d.error_response_frames, t.dns_error_responses,
                "{ctx}: error frames"
            );
            assert_eq!(h.requests, t.http_requests, "{ctx}: http requests");
            assert_eq!(
                h.error_responses.total, t.http_error_responses,
                "{ctx}: http errors"
            );
            assert_eq!(h.client_errors, t.http_4xx, "{ctx}: 4xx");
            assert_eq!(h.server_errors, t.http_5xx, "{ctx}: 5xx");
            if let Some(server) = &t.dns_servfail_resolver {
                let failing = d
                    .error_responses
                    .instances
                    .iter()
                    .any(|e| &e.server == server);
                assert!(failing, "{ctx}: the SERVFAIL resolver {server} is named");
            }
            if let Some(dead) = &t.dns_dead_resolver {
                let named = d
                    .unanswered_queries
                    .instances
                    .iter()
                    .any(|u| &u.server == dead);
                assert!(named, "{ctx}: the dead resolver {dead} is named");
            }
        }
    }
}

/// (file, why): files where tshark shows fewer ClientHellos than pcaplens
/// reads, each also explained in docs/conformance.md.
const KNOWN_HELLOS: &[(&str, &str)] = &[(
    "ndpi__quic-forcing-vn-with-data.pcapng",
    "tshark opens none of the three client Initials (frames 1, 3, 5: a reserved version, \
     the retry after version negotiation, the retry after a Retry); their AEAD tags verify \
     under the keys pcaplens derives, so the three ClientHellos are real",
)];

/// tshark's ClientHellos of a file: how many, and their server names.
fn tshark_hellos(path: &std::path::Path) -> (u64, BTreeMap<String, u64>) {
    let out = std::process::Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-Y",
            "tls.handshake.type==1",
            "-T",
            "fields",
            "-E",
            "separator=/t",
        ])
        .args([
            "-e",
            "tls.handshake.type",
            "-e",
            "tls.handshake.extensions_server_name",
        ])
        .output()
        .expect("tshark is required for this test (apt-get install tshark)");
    let (mut hellos, mut names) = (0, BTreeMap::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let (types, sni) = line.split_once('\t').unwrap_or((line, ""));
        hellos += types.split(',').filter(|t| *t == "1").count() as u64;
        for name in sni.split(',').filter(|s| !s.is_empty()) {
            *names.entry(name.to_string()).or_default() += 1;
        }
    }
    (hellos, names)
}

/// Every ClientHello tshark shows, over TCP and inside QUIC Initial packets
/// (which pcaplens opens with the keys anyone can derive, as tshark does), is
/// counted, with the same server names.
#[test]
fn corpus_client_hellos_and_server_names_match_tshark() {
    let (mut rows, mut checked, mut in_quic) = (Vec::new(), 0, 0);
    for path in corpus_files() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let t = truth(&path);
        let has = |c: &str| t["counts"][c].as_u64().unwrap_or(0) > 0;
        if t["tshark_rc"].as_i64() != Some(0) || !(has("tls_frames") || has("quic_frames")) {
            continue;
        }
        let r = analyze_bytes(&std::fs::read(&path).unwrap(), AnalyzerConfig::default()).unwrap();
        let tls = &r.failures.tls;
        let (hellos, names) = tshark_hellos(&path);
        checked += 1;
        if has("quic_frames") && hellos > 0 {
            in_quic += 1;
        }
        let (want, got) = (
            format!("{hellos} {}", fmt_map(&names)),
            format!("{} {}", tls.client_hellos, fmt_map(&tls.server_names)),
        );
        if want != got {
            let known = KNOWN_HELLOS.iter().any(|(f, _)| *f == name);
            rows.push(format!(
                "{name}{}\n  tshark:   {want}\n  pcaplens: {got}",
                if known { " (known)" } else { "" }
            ));
        }
    }
    eprintln!(
        "ClientHello conformance: {checked} files with TLS or QUIC, {in_quic} with hellos in QUIC, {} differences\n{}",
        rows.len(),
        rows.join("\n")
    );
    let unexplained: Vec<&String> = rows.iter().filter(|r| !r.contains("(known)")).collect();
    assert!(
        unexplained.is_empty(),
        "unexplained differences:\n{unexplained:#?}"
    );
    assert!(checked > 10, "only {checked} corpus files with TLS or QUIC");
    assert!(
        in_quic >= 3,
        "the corpus should have ClientHellos inside QUIC"
    );
}
