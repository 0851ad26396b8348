//! `pcaplens analyze --format eve` (issues 19 and 22): every line for every
//! corpus capture and every generator scenario validates against Suricata's
//! EVE schema (`tests/schemas/suricata-eve.schema.json`, checked by
//! `tests/schemas/validate_eve.py` with Python's jsonschema), and the lines
//! add up to the report: one `flow` per flow, one `alert` per finding.

use pcaplens_core::generate::Scenario;
use pcaplens_tests::{corpus_files, pcaplens_bin, python, repo_root, temp_dir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const BLOCKLIST: &str = "198.51.100.0/24\n203.0.113.66\nmalware.example.net\n";

/// Per finding kind, the report total its alerts add up to (docs/engine.md).
const KIND_TOTALS: &[(&str, &str, &str)] = &[
    ("scan", "scans", "total"),
    ("blocklist", "blocklist", "total_hits"),
    ("unusual_port", "unusual_ports", "total_servers"),
    ("long_lived", "long_lived", "total"),
    ("protocol_mismatch", "protocol_mismatch", "total_flows"),
];

struct Checked {
    /// Alerts per signature id.
    signatures: BTreeMap<u64, u64>,
}

/// Run `analyze --format eve` and `analyze --json` on one capture, write
/// the EVE lines to `eve_out`, check they add up to the report.
fn eve_and_report(capture: &Path, blocklist: &Path, eve_out: &Path) -> Checked {
    let name = capture.display().to_string();
    let eve = Command::new(pcaplens_bin())
        .args(["analyze", "--format", "eve", "--blocklist"])
        .arg(blocklist)
        .arg(capture)
        .output()
        .unwrap();
    // Damaged captures exit 2 or 3; their lines must still be valid.
    assert!(
        matches!(eve.status.code(), Some(0 | 2 | 3)),
        "{name}: {:?} {}",
        eve.status,
        String::from_utf8_lossy(&eve.stderr)
    );
    std::fs::write(eve_out, &eve.stdout).unwrap();
    let json = Command::new(pcaplens_bin())
        .args(["analyze", "--json", "--blocklist"])
        .arg(blocklist)
        .arg(capture)
        .output()
        .unwrap();
    assert_eq!(json.status.code(), eve.status.code(), "{name}: exit codes");
    let report: Value = serde_json::from_slice(&json.stdout)
        .unwrap_or_else(|e| panic!("{name}: --json output: {e}"));

    let mut flows = 0u64;
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut signatures: BTreeMap<u64, u64> = BTreeMap::new();
    let mut flow_ids = std::collections::BTreeSet::new();
    for (n, line) in String::from_utf8(eve.stdout).unwrap().lines().enumerate() {
        let e: Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{name}:{}: {err}", n + 1));
        match e["event_type"].as_str() {
            Some("flow") => {
                flows += 1;
                assert!(
                    flow_ids.insert(e["flow_id"].as_u64().unwrap()),
                    "{name}: {line}"
                );
            }
            Some("alert") => {
                let kind = e["alert"]["metadata"]["pcaplens_kind"][0]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name}: alert without pcaplens_kind: {line}"));
                *kinds.entry(kind.to_string()).or_default() += 1;
                let sid = e["alert"]["signature_id"].as_u64().unwrap();
                let sig = pcaplens_core::eve::signature(kind, &Value::Null);
                assert_eq!(sid / 10, sig.id / 10, "{name}: {kind} has sid {sid}");
                *signatures.entry(sid).or_default() += 1;
            }
            other => panic!("{name}: unexpected event_type {other:?}: {line}"),
        }
        assert_eq!(
            e["pcap_filename"].as_str(),
            Some(name.as_str()),
            "{name}: {line}"
        );
    }
    assert_eq!(
        Some(flows),
        report["summary"]["flows"]["total"].as_u64(),
        "{name}: one flow event per flow"
    );
    for (kind, section, field) in KIND_TOTALS {
        let total = report["findings"][section][field]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}: findings.{section}.{field}"));
        assert_eq!(
            kinds.get(*kind).copied().unwrap_or(0),
            total,
            "{name}: {kind} alerts vs findings.{section}.{field}"
        );
    }
    for kind in kinds.keys() {
        assert!(
            KIND_TOTALS.iter().any(|(k, _, _)| k == kind),
            "{name}: unexpected alert kind {kind}"
        );
    }
    Checked { signatures }
}

/// Validate EVE files with `tests/schemas/validate_eve.py` (one process).
fn validate(files: &[PathBuf]) -> String {
    let script = repo_root().join("tests/schemas/validate_eve.py");
    let out = Command::new(python())
        .arg(&script)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("run {} {}: {e}", python(), script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "EVE schema validation failed ({:?}; needs the Python package jsonschema, \
         which .ci/run installs into the CI venv):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn eve_output_of_every_corpus_capture_and_scenario_is_schema_valid_and_adds_up() {
    let dir = temp_dir("eve");
    let blocklist = dir.join("blocklist.txt");
    std::fs::write(&blocklist, BLOCKLIST).unwrap();
    let mut eve_files = Vec::new();
    let mut alerts = 0u64;

    for &s in Scenario::ALL {
        let capture = dir.join(format!("{}.pcap", s.name()));
        let status = Command::new(pcaplens_bin())
            .args([
                "generate",
                "--scenario",
                s.name(),
                "--packets",
                "3000",
                "-o",
            ])
            .arg(&capture)
            .status()
            .unwrap();
        assert!(status.success(), "generate {}", s.name());
        let out = dir.join(format!("{}.eve.json", s.name()));
        let checked = eve_and_report(&capture, &blocklist, &out);
        let sids = &checked.signatures;
        alerts += sids.values().sum::<u64>();
        match s {
            Scenario::PortScan => assert!(
                sids.keys().any(|id| (9000001..=9000009).contains(id)),
                "port-scan: no scan alert: {sids:?}"
            ),
            Scenario::Blocklisted => assert!(
                sids.range(9000010..=9000019).map(|(_, n)| n).sum::<u64>() > 0,
                "blocklisted: no blocklist alert: {sids:?}"
            ),
            Scenario::LongLived => assert!(sids.contains_key(&9000030), "{sids:?}"),
            Scenario::HttpOddPort => assert!(sids.contains_key(&9000040), "{sids:?}"),
            Scenario::NonHttpPort80 => assert!(sids.contains_key(&9000041), "{sids:?}"),
            _ => {}
        }
        eve_files.push(out);
    }
    for capture in corpus_files() {
        let stem = capture.file_name().unwrap().to_string_lossy().into_owned();
        let out = dir.join(format!("corpus-{stem}.eve.json"));
        let checked = eve_and_report(&capture, &blocklist, &out);
        alerts += checked.signatures.values().sum::<u64>();
        eve_files.push(out);
    }
    assert!(alerts > 20, "{alerts} alerts in all");

    let summary = validate(&eve_files);
    eprintln!("{}", summary.trim());
    // Every flow and alert line was checked (the script counts them).
    assert!(
        summary.contains("alert=") && summary.contains("flow="),
        "{summary}"
    );
}

/// A stats event (for live capture) validates too, as does the validator's
/// failure path: a line the schema refuses fails the run with its number.
#[test]
fn eve_stats_event_is_schema_valid_and_bad_lines_fail() {
    let dir = temp_dir("eve-stats");
    let c = pcaplens_core::eve::StatsCounters {
        uptime_secs: 12,
        kernel_packets: 1000,
        kernel_drops: 3,
        packets: 997,
        bytes: 123_456,
        ipv4: 900,
        ipv6: 97,
        tcp: 800,
        udp: 190,
        flows_total: 40,
        flows_active: 7,
        flows_tcp: 30,
        flows_udp: 10,
        ..Default::default()
    };
    let stats = pcaplens_core::eve::stats_event(1_700_000_000_123_456_789, &c);
    assert_eq!(stats["timestamp"], "2023-11-14T22:13:20.123456+0000");
    let good = dir.join("stats.json");
    std::fs::write(&good, format!("{stats}\n")).unwrap();
    assert!(validate(std::slice::from_ref(&good)).contains("stats=1"));

    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        format!("{stats}\n{{\"event_type\":\"flow\",\"timestamp\":\"x\",\"nope\":1}}\n"),
    )
    .unwrap();
    let out = Command::new(python())
        .arg(repo_root().join("tests/schemas/validate_eve.py"))
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json:2:"), "{err}");
}

#[test]
fn format_flags_agree() {
    let dir = temp_dir("eve-flags");
    let capture = dir.join("n.pcap");
    let status = Command::new(pcaplens_bin())
        .args(["generate", "--scenario", "normal", "--packets", "300", "-o"])
        .arg(&capture)
        .status()
        .unwrap();
    assert!(status.success());
    let run = |args: &[&str]| {
        Command::new(pcaplens_bin())
            .arg("analyze")
            .args(args)
            .arg(&capture)
            .output()
            .unwrap()
    };
    let json = run(&["--json"]);
    let format_json = run(&["--format", "json"]);
    assert!(json.status.success());
    assert_eq!(json.stdout, format_json.stdout, "--format json = --json");
    let conflict = run(&["--json", "--format", "eve"]);
    assert_eq!(conflict.status.code(), Some(2));
    // Same input, same bytes.
    assert_eq!(
        run(&["--format", "eve"]).stdout,
        run(&["--format", "eve"]).stdout
    );
}

/// docs/eve.md lists every signature with its id, text, category and severity.
#[test]
fn docs_list_every_signature() {
    let doc = std::fs::read_to_string(repo_root().join("docs/eve.md")).unwrap();
    for s in pcaplens_core::eve::SIGNATURES {
        let row_start = format!("| {} |", s.id);
        let row = doc
            .lines()
            .find(|l| l.starts_with(&row_start))
            .unwrap_or_else(|| panic!("docs/eve.md: no row for {}", s.id));
        for part in [s.signature, s.category, &format!("| {} |", s.severity)] {
            assert!(
                row.contains(part),
                "docs/eve.md row {}: {part:?} in {row}",
                s.id
            );
        }
    }
}
