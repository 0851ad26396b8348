//! `pcaplens analyze --format ecs` (issue 22): every field of every document
//! is checked against Elastic's own ECS field definitions (type, array-ness,
//! allowed values, the event types each category expects: a subset of
//! `ecs_flat.yml` of ECS 8.17.0 in `tests/schemas/ecs/`), and every document
//! is checked against the EVE line of the same event, field by field.

use pcaplens_core::generate::Scenario;
use pcaplens_tests::{corpus_dir, pcaplens_bin, repo_root, temp_dir};
use serde_json::Value;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;

const BLOCKLIST: &str = "198.51.100.0/24\n203.0.113.66\nmalware.example.net\n";

fn definitions() -> Value {
    let p = repo_root().join("tests/schemas/ecs/ecs-8.17.0-fields.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

/// Every leaf of a document with its dotted path (arrays are leaves).
fn leaves<'a>(v: &'a Value, prefix: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(child, &path, out);
            }
        }
        _ => out.push((prefix.to_string(), v)),
    }
}

fn is_ecs_date(s: &str) -> bool {
    // strict_date_optional_time as pcaplens writes it: UTC, 9 fraction digits.
    let b = s.as_bytes();
    b.len() == 30
        && s.ends_with('Z')
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && s[..19]
            .bytes()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16].contains(&i) || c.is_ascii_digit())
        && s[20..29].bytes().all(|c| c.is_ascii_digit())
}

/// Check one document against the definitions; returns its fields.
fn check_document(doc: &Value, defs: &Value, at: &str) -> Vec<String> {
    let fields = &defs["fields"];
    let mut all = Vec::new();
    leaves(doc, "", &mut all);
    let mut names = Vec::new();
    for (path, v) in all {
        names.push(path.clone());
        if path.starts_with("pcaplens.") {
            continue; // custom fields, in their own namespace as ECS asks
        }
        let def = fields
            .get(&path)
            .unwrap_or_else(|| panic!("{at}: {path} is not an ECS field (or not in the subset)"));
        let ty = def["type"].as_str().unwrap();
        let is_array_field = def["normalize"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "array");
        let values: Vec<&Value> = match v {
            Value::Array(items) => {
                assert!(is_array_field, "{at}: {path} is an array, ECS says not");
                assert!(!items.is_empty(), "{at}: {path} is empty");
                items.iter().collect()
            }
            one => vec![one],
        };
        for x in values {
            match ty {
                "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => {
                    assert!(x.is_string(), "{at}: {path} = {x}: ECS type {ty}")
                }
                "long" => assert!(x.is_i64() || x.is_u64(), "{at}: {path} = {x}: ECS long"),
                "ip" => assert!(
                    x.as_str().and_then(|s| s.parse::<IpAddr>().ok()).is_some(),
                    "{at}: {path} = {x}: ECS ip"
                ),
                "date" => assert!(
                    x.as_str().is_some_and(is_ecs_date),
                    "{at}: {path} = {x}: ECS date"
                ),
                other => panic!("{at}: {path}: type {other} not checked by this test"),
            }
            if let Some(allowed) = def.get("allowed_values").and_then(Value::as_array) {
                assert!(allowed.contains(x), "{at}: {path} = {x}: not allowed");
            }
        }
    }
    // event.type: each value must be one its categories expect.
    let expected = &fields["event.category"]["expected_event_types"];
    if let (Some(cats), Some(types)) = (
        doc["event"]["category"].as_array(),
        doc["event"]["type"].as_array(),
    ) {
        for c in cats {
            let ok = expected[c.as_str().unwrap()].as_array().unwrap();
            for t in types {
                assert!(ok.contains(t), "{at}: event.type {t} for category {c}");
            }
        }
    }
    for p in ["source.port", "destination.port"] {
        if let Some(port) = pointer(doc, p).and_then(Value::as_u64) {
            assert!(port <= 65535, "{at}: {p} = {port}");
        }
    }
    names
}

fn pointer<'a>(doc: &'a Value, dotted: &str) -> Option<&'a Value> {
    doc.pointer(&format!("/{}", dotted.replace('.', "/")))
}

fn run(format: &str, capture: &Path, blocklist: &Path) -> Vec<Value> {
    let out = Command::new(pcaplens_bin())
        .args(["analyze", "--format", format, "--blocklist"])
        .arg(blocklist)
        .arg(capture)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}: {:?} {}",
        capture.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The ECS document and the EVE line of the same event say the same.
fn check_against_eve(ecs: &Value, eve: &Value, at: &str) {
    let s = |v: &Value| v.as_str().map(str::to_string);
    assert_eq!(
        pointer(ecs, "pcaplens.pcap_filename"),
        eve.get("pcap_filename"),
        "{at}"
    );
    assert_eq!(pointer(ecs, "source.ip"), eve.get("src_ip"), "{at}");
    assert_eq!(pointer(ecs, "source.port"), eve.get("src_port"), "{at}");
    assert_eq!(pointer(ecs, "destination.ip"), eve.get("dest_ip"), "{at}");
    assert_eq!(
        pointer(ecs, "destination.port"),
        eve.get("dest_port"),
        "{at}"
    );
    assert_eq!(
        pointer(ecs, "network.community_id"),
        eve.get("community_id"),
        "{at}"
    );
    let transport = eve.get("proto").and_then(Value::as_str).map(|p| match p {
        "IPv6-ICMP" => "ipv6-icmp".to_string(),
        p => p.to_ascii_lowercase(),
    });
    assert_eq!(
        pointer(ecs, "network.transport").and_then(s),
        transport,
        "{at}"
    );
    let ip_type = eve["ip_v"].as_u64().map(|v| format!("ipv{v}"));
    assert_eq!(pointer(ecs, "network.type").and_then(s), ip_type, "{at}");
    assert_eq!(
        pointer(ecs, "network.protocol").and_then(s),
        eve.get("app_proto").and_then(s),
        "{at}"
    );
    // Same instant: EVE's microseconds, ECS's nanoseconds.
    let eve_ts = eve["timestamp"].as_str().unwrap();
    let ecs_ts = ecs["@timestamp"].as_str().unwrap();
    assert_eq!(&eve_ts[..26], &ecs_ts[..26], "{at}");
    match eve["event_type"].as_str().unwrap() {
        "alert" => {
            let a = &eve["alert"];
            assert_eq!(ecs["event"]["kind"], "alert", "{at}");
            assert_eq!(
                ecs["event"]["category"],
                serde_json::json!(["network", "intrusion_detection"]),
                "{at}"
            );
            assert_eq!(
                ecs["rule"]["id"],
                a["signature_id"].as_u64().unwrap().to_string(),
                "{at}"
            );
            assert_eq!(ecs["rule"]["name"], a["signature"], "{at}");
            assert_eq!(ecs["rule"]["category"], a["category"], "{at}");
            assert_eq!(ecs["event"]["severity"], a["severity"], "{at}");
            assert_eq!(
                pointer(ecs, "pcaplens.finding.kind"),
                a["metadata"]["pcaplens_kind"].get(0),
                "{at}"
            );
            assert_eq!(ecs["message"], a["metadata"]["summary"][0], "{at}");
        }
        "flow" => {
            let f = &eve["flow"];
            assert_eq!(ecs["event"]["kind"], "event", "{at}");
            assert_eq!(ecs["event"]["category"], serde_json::json!(["network"]));
            assert_eq!(ecs["source"]["bytes"], f["bytes_toserver"], "{at}");
            assert_eq!(ecs["source"]["packets"], f["pkts_toserver"], "{at}");
            assert_eq!(ecs["destination"]["bytes"], f["bytes_toclient"], "{at}");
            assert_eq!(ecs["destination"]["packets"], f["pkts_toclient"], "{at}");
            assert_eq!(
                ecs["network"]["bytes"].as_u64(),
                Some(f["bytes_toserver"].as_u64().unwrap() + f["bytes_toclient"].as_u64().unwrap()),
                "{at}"
            );
            assert_eq!(pointer(ecs, "pcaplens.flow.id"), eve.get("flow_id"), "{at}");
            assert_eq!(pointer(ecs, "pcaplens.flow.alerted"), f.get("alerted"));
            let end = f["end"].as_str().unwrap();
            assert_eq!(&ecs["event"]["end"].as_str().unwrap()[..26], &end[..26]);
        }
        other => panic!("{at}: event_type {other}"),
    }
}

#[test]
fn ecs_documents_follow_the_ecs_definitions_and_match_eve() {
    let defs = definitions();
    assert_eq!(defs["ecs_version"], pcaplens_core::ecs::ECS_VERSION);
    let dir = temp_dir("ecs");
    let blocklist = dir.join("blocklist.txt");
    std::fs::write(&blocklist, BLOCKLIST).unwrap();
    let mut captures = Vec::new();
    for s in [
        Scenario::PortScan,
        Scenario::Blocklisted,
        Scenario::LongLived,
        Scenario::HttpOddPort,
        Scenario::NonHttpPort80,
        Scenario::Mixed,
    ] {
        let capture = dir.join(format!("{}.pcap", s.name()));
        let st = Command::new(pcaplens_bin())
            .args([
                "generate",
                "--scenario",
                s.name(),
                "--packets",
                "2000",
                "-o",
            ])
            .arg(&capture)
            .status()
            .unwrap();
        assert!(st.success());
        captures.push(capture);
    }
    for name in [
        "arkime__v6.pcap",
        "chrissanders__icmp_traceroute.pcapng",
        "zeek__icmp_dot1q.pcap",
        "chrissanders__synscan.pcapng",
    ] {
        captures.push(corpus_dir().join(name));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut kinds = std::collections::BTreeMap::<String, u64>::new();
    for capture in &captures {
        let ecs = run("ecs", capture, &blocklist);
        let eve = run("eve", capture, &blocklist);
        assert_eq!(
            ecs.len(),
            eve.len(),
            "{}: one document per EVE line",
            capture.display()
        );
        for (i, (doc, line)) in ecs.iter().zip(&eve).enumerate() {
            let at = format!("{}:{}", capture.display(), i + 1);
            seen.extend(check_document(doc, &defs, &at));
            check_against_eve(doc, line, &at);
            *kinds
                .entry(doc["event"]["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    assert!(kinds["alert"] >= 10 && kinds["event"] >= 50, "{kinds:?}");
    // The fields the issue names are all exercised.
    for f in [
        "@timestamp",
        "event.kind",
        "event.category",
        "source.ip",
        "source.port",
        "destination.ip",
        "destination.port",
        "network.transport",
        "network.community_id",
        "rule.id",
        "rule.name",
        "rule.category",
        "network.vlan.id",
    ] {
        assert!(seen.contains(f), "{f} never written");
    }
}

/// Every ECS field pcaplens writes is documented in docs/ecs.md.
#[test]
fn docs_list_every_ecs_field() {
    let doc = std::fs::read_to_string(repo_root().join("docs/ecs.md")).unwrap();
    let defs = definitions();
    for field in defs["fields"].as_object().unwrap().keys() {
        if field == "tags" {
            continue;
        }
        assert!(doc.contains(&format!("`{field}`")), "docs/ecs.md: {field}");
    }
}

/// `live --alerts-format ecs`: alerts, flows (`--eve-flows`) and a stats
/// `metric` document, each valid ECS.
#[test]
fn live_alerts_in_ecs() {
    let defs = definitions();
    let dir = temp_dir("ecs-live");
    let blocklist = dir.join("blocklist.txt");
    std::fs::write(&blocklist, BLOCKLIST).unwrap();
    let capture = dir.join("blocklisted.pcap");
    let st = Command::new(pcaplens_bin())
        .args([
            "generate",
            "--scenario",
            "blocklisted",
            "--packets",
            "300",
            "-o",
        ])
        .arg(&capture)
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new(pcaplens_bin())
        .args(["live", "-r"])
        .arg(&capture)
        .args([
            "--realtime",
            "--alerts",
            "-",
            "--alerts-format",
            "ecs",
            "--eve-flows",
        ])
        .args(["--stats-interval", "1", "--blocklist"])
        .arg(&blocklist)
        .env_remove("AZURE_MONITOR_CONNECTION_STRING")
        .env_remove("AZURE_BLACKLIST_TABLE")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut kinds = std::collections::BTreeMap::<String, u64>::new();
    // The report follows the lines on stdout: take the JSON lines only.
    for (i, line) in String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("{\"@timestamp\""))
        .enumerate()
    {
        let doc: Value = serde_json::from_str(line).unwrap();
        check_document(&doc, &defs, &format!("live:{}", i + 1));
        *kinds
            .entry(doc["event"]["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(kinds.get("alert").is_some_and(|n| *n >= 5), "{kinds:?}");
    assert!(kinds.get("event").is_some_and(|n| *n >= 5), "{kinds:?}");
    assert!(kinds.get("metric").is_some_and(|n| *n >= 1), "{kinds:?}");
}
