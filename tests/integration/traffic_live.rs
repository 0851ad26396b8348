//! `pcaplens live` on a real interface: a veth between two network
//! namespaces, tcpdump beside pcaplens on the same interface, real traffic
//! (curl against an HTTP server, dig against dnsmasq, an nmap SYN scan).
//! `tests/traffic/live.py` makes the traffic and signals pcaplens; this module
//! judges what pcaplens wrote while and after it ran.
//!
//! Needs root, `ip`, tcpdump, curl, dig, dnsmasq and nmap; without them the
//! tests fail, unless `PCAPLENS_SKIP_LIVE_TRAFFIC=1` (then they say so and skip).

use pcaplens_tests::{live_traffic, pcaplens_bin, python, repo_root};
use serde_json::Value;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

struct Run {
    dir: std::path::PathBuf,
    result: Value,
}

impl Drop for Run {
    fn drop(&mut self) {
        if std::env::var("PCAPLENS_TRAFFIC_KEEP").as_deref() == Ok("1") {
            eprintln!("live run kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn run(name: &str) -> Option<Run> {
    let test = format!("live_{name}");
    let tools: &[&str] = if name.starts_with("classify") {
        &["curl"]
    } else {
        &["curl", "dig", "dnsmasq", "nmap"]
    };
    if !live_traffic(&test, tools) {
        return None;
    }
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let tag = format!(
        "{}l{}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    struct Namespaces(String);
    impl Drop for Namespaces {
        fn drop(&mut self) {
            for suffix in ["a", "b"] {
                let _ = Command::new("ip")
                    .args(["netns", "del", &format!("pltr{}{suffix}", self.0)])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
    let _cleanup = Namespaces(tag.clone());
    let dir = pcaplens_tests::temp_dir(&format!("live-{name}"));
    let out = Command::new(python())
        .arg(repo_root().join("tests/traffic/live.py"))
        .args([
            name,
            pcaplens_bin().to_str().unwrap(),
            dir.to_str().unwrap(),
            &tag,
        ])
        .output()
        .expect("run live.py");
    assert!(
        out.status.success(),
        "live.py {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value =
        serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    Some(Run { dir, result })
}

fn analyze_json(path: &std::path::Path, extra: &[&str]) -> Value {
    let out = Command::new(pcaplens_bin())
        .args(["analyze", "--json"])
        .args(extra)
        .arg(path)
        .output()
        .expect("run pcaplens analyze");
    serde_json::from_slice(&out.stdout).expect("analyze --json")
}

/// What a live analysis and a file analysis of the same packets may tell
/// apart: the container, the live section, and when flows ended (the live
/// clock ends flows that a file ends only at its end).
fn comparable(mut v: Value) -> Value {
    let m = v.as_object_mut().unwrap();
    m.remove("capture");
    m.remove("live");
    let flows = m["summary"]["flows"].as_object_mut().unwrap();
    for k in ["idle_timeouts", "closed_timeouts", "peak_live"] {
        flows.remove(k);
    }
    for f in m["flows"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("end_reason");
    }
    v
}

#[test]
fn live_capture_alerts_while_running_and_reports_what_it_kept() {
    let Some(r) = run("main") else {
        return;
    };
    let res = &r.result;
    let ctx = format!("{} ({})", r.dir.display(), res["stderr"]);
    assert_eq!(res["rc"], 0, "{ctx}: exit status after SIGINT");
    assert_eq!(res["dig"], "10.6.0.2", "{ctx}: the resolver answered");
    let report: Value =
        serde_json::from_slice(&std::fs::read(r.dir.join("report.json")).unwrap()).unwrap();

    // Every packet tcpdump saw on the interface, pcaplens analysed.
    let tcpdump = analyze_json(&r.dir.join(res["tcpdump"].as_str().unwrap()), &[]);
    assert_eq!(
        report["summary"]["packets"], tcpdump["summary"]["packets"],
        "{ctx}: packets, pcaplens live vs tcpdump"
    );
    assert_eq!(report["live"]["drops"]["queue"], 0, "{ctx}");
    assert_eq!(report["live"]["drops"]["kernel"], 0, "{ctx}");

    // The scan alert came while the capture ran, within 5 s of the scan's end.
    let t = &res["times"];
    let seen = t["scan_alert_seen"]
        .as_f64()
        .unwrap_or_else(|| panic!("{ctx}: no scan alert while capturing: {}", res["alerts"]));
    let late = seen - t["scan_done"].as_f64().unwrap();
    assert!(late <= 5.0, "{ctx}: scan alert {late:.1} s after the scan");
    let lines = res["alerts"].as_array().unwrap();
    let scans: Vec<&Value> = lines
        .iter()
        .filter(|a| {
            a["event_type"] == "alert" && a["alert"]["metadata"]["pcaplens_kind"][0] == "scan"
        })
        .collect();
    assert!(
        scans
            .iter()
            .any(|a| a["src_ip"] == "10.6.0.1" && a["alert"]["signature_id"] == 9_000_001),
        "{ctx}: no vertical scan alert from the scanner: {scans:?}"
    );
    // The target's refusals of the scan's probes: a burst of resets, alerted.
    assert!(
        lines
            .iter()
            .any(|a| a["alert"]["signature_id"] == 9_000_050 && a["src_ip"] == "10.6.0.2"),
        "{ctx}: no reset-burst alert"
    );
    // The alert file is Suricata EVE: every line validates against its schema.
    let out = Command::new(python())
        .arg(repo_root().join("tests/schemas/validate_eve.py"))
        .arg(r.dir.join("alerts.json"))
        .output()
        .expect("run validate_eve.py");
    assert!(
        out.status.success(),
        "{ctx}: alerts.json vs the EVE schema: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lines.iter().any(|l| l["event_type"] == "stats"),
        "{ctx}: no stats line"
    );

    // A quiet link: flows ended by the clock before the capture stopped.
    let early = res["flows_before_stop"].as_array().unwrap();
    assert!(
        early.iter().any(|f| f["dest_port"] == 80
            && f["metadata"]["flowvars"].as_array().is_some_and(|v| v
                .iter()
                .any(|kv| kv["key"] == "pcaplens.end_reason" && kv["value"] == "closed"))),
        "{ctx}: no HTTP flow ended by the clock: {early:?}"
    );
    assert!(res["status_lines"].as_u64().unwrap() >= 1, "{ctx}");

    // The final report agrees with a file analysis of the packets it kept
    // (with the same options: live ends closed flows after 2 s).
    let kept = analyze_json(
        &r.dir.join(res["kept"].as_str().unwrap()),
        &[
            "--set",
            "flow.closed_timeout_secs=2",
            "--set",
            "detect.bursts.min_resets=50",
            "--set",
            "detect.bursts.min_unanswered_syns=20",
        ],
    );
    assert_eq!(
        comparable(report.clone()),
        comparable(kept),
        "{ctx}: live report vs analyze of --write"
    );
    assert_eq!(
        report["findings"]["scans"]["total"].as_u64(),
        Some(scans.len() as u64),
        "{ctx}: one alert per scan"
    );
}

#[test]
fn live_capture_filter_keeps_only_what_it_matches() {
    let Some(r) = run("filter") else {
        return;
    };
    let res = &r.result;
    let ctx = format!("{} ({})", r.dir.display(), res["stderr"]);
    assert_eq!(res["rc"], 0, "{ctx}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(r.dir.join("report.json")).unwrap()).unwrap();
    let flows = report["flows"].as_array().unwrap();
    assert!(!flows.is_empty(), "{ctx}");
    assert!(
        flows
            .iter()
            .all(|f| f["transport"] == "tcp" && (f["resp_port"] == 80 || f["orig_port"] == 80)),
        "{ctx}: {flows:?}"
    );
    // No DNS got through the filter.
    assert_eq!(report["failures"]["dns"]["queries"], 0, "{ctx}");
}

#[test]
fn live_capture_refuses_a_bad_filter_and_an_unknown_interface() {
    if !live_traffic("live_bad_usage", &[]) {
        return;
    }
    let out = Command::new(pcaplens_bin())
        .args(["live", "-i", "lo", "-f", "tcp port", "--duration", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad capture filter") && err.contains("syntax error"),
        "{err}"
    );
    let out = Command::new(pcaplens_bin())
        .args(["live", "-i", "no-such-if0", "--duration", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no interface") && err.contains("lo"), "{err}");
}

/// The EVE alerts of `live --classify`: categories by signature 9000100.
fn classify_alerts(res: &Value) -> Vec<&Value> {
    res["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["event_type"] == "alert" && a["alert"]["signature_id"] == 9_000_100)
        .collect()
}

fn categories(alerts: &[&Value]) -> std::collections::BTreeSet<String> {
    alerts
        .iter()
        .map(|a| {
            a["alert"]["metadata"]["classify_category"][0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn live_classify_alerts_carry_the_categories_of_curls_attacks() {
    let Some(r) = run("classify") else {
        return;
    };
    let res = &r.result;
    let ctx = format!("{} ({})", r.dir.display(), res["stderr"]);
    assert_eq!(res["rc"], 0, "{ctx}");
    assert_eq!(
        res["alerts_while_running"], true,
        "{ctx}: {}",
        res["alerts"]
    );
    let alerts = classify_alerts(res);
    let cats = categories(&alerts);
    assert!(
        cats.contains("sql_injection") && cats.contains("reverse_shell"),
        "{ctx}: {cats:?}"
    );
    // From the client to the web server, by the rules (no endpoint).
    for a in &alerts {
        assert_eq!(
            (
                a["src_ip"].as_str(),
                a["dest_ip"].as_str(),
                a["dest_port"].as_u64()
            ),
            (Some("10.6.0.1"), Some("10.6.0.2"), Some(80)),
            "{ctx}: {a}"
        );
        assert_eq!(a["alert"]["metadata"]["source"][0], "rules", "{ctx}: {a}");
    }
    // The plain page fetches raised nothing.
    assert_eq!(alerts.len(), 2, "{ctx}: {alerts:?}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(r.dir.join("report.json")).unwrap()).unwrap();
    let stats = &report["live"]["classify"];
    assert_eq!(stats["classifier"], "rules", "{ctx}: {stats}");
    assert_eq!(stats["alerts"], 2, "{ctx}: {stats}");
}

#[test]
fn live_classify_against_a_model_server_sends_no_address() {
    let Some(r) = run("classify_model") else {
        return;
    };
    let res = &r.result;
    let ctx = format!("{} ({})", r.dir.display(), res["stderr"]);
    assert_eq!(res["rc"], 0, "{ctx}");
    let alerts = classify_alerts(res);
    let cats = categories(&alerts);
    assert!(
        cats.contains("sql_injection") && cats.contains("reverse_shell"),
        "{ctx}: {cats:?}"
    );
    assert!(
        alerts
            .iter()
            .all(|a| a["alert"]["metadata"]["source"][0] == "model"),
        "{ctx}: {alerts:?}"
    );
    let requests = res["requests"].as_array().unwrap();
    assert!(requests.len() >= 2, "{ctx}: {requests:?}");
    for q in requests {
        let body = q["body"].as_str().unwrap();
        for original in res["originals"].as_array().unwrap() {
            let o = original.as_str().unwrap();
            assert!(!body.contains(o), "{ctx}: {o} reached the model: {body}");
        }
    }
    // The attack text itself was shown (it is what the model judges).
    assert!(
        requests
            .iter()
            .any(|q| q["body"].as_str().unwrap().contains("/dev/tcp/")),
        "{ctx}"
    );
}
