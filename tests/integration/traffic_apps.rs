//! Application protocols on live traffic made by real tools (dig, curl,
//! openssl, stdlib servers) in a private network namespace:
//! `tests/traffic/apps.py` makes the traffic, captures it with tcpdump and
//! counts it with tshark using the corpus oracle's definitions; here pcaplens
//! analyses the same capture and must agree with tshark, and with what the
//! scenario knows it did where that is exact.
//!
//! Needs root, `ip`, tcpdump, tshark, python3 and the tools of each scenario;
//! without them the tests fail, unless PCAPLENS_SKIP_LIVE_TRAFFIC=1 (then
//! they print a notice and pass).

use pcaplens_core::{analyze_bytes, AnalyzerConfig};
use pcaplens_tests::{pcaplens_bin, repo_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// One scenario's capture, the driver's result.json and pcaplens's report.
struct Run {
    dir: PathBuf,
    /// result.json: {"truth": …, "tshark": …}
    res: Value,
    /// pcaplens's report (as JSON) on capture.pcap.
    rep: Value,
}

impl Run {
    fn truth(&self, k: &str) -> &Value {
        &self.res["truth"][k]
    }
    fn tshark(&self, k: &str) -> u64 {
        self.res["tshark"]["counts"][k].as_u64().unwrap_or(0)
    }
    fn tshark_frames(&self, k: &str) -> Vec<u64> {
        u64s(&self.res["tshark"]["frames"][k])
    }
    fn ours(&self, path: &str) -> &Value {
        path.split('.').fold(&self.rep, |v, k| &v[k])
    }
    fn ours_u64(&self, path: &str) -> u64 {
        self.ours(path)
            .as_u64()
            .unwrap_or_else(|| panic!("{path} is not a number in the report"))
    }
    fn ctx(&self) -> String {
        format!("capture {}", self.dir.join("capture.pcap").display())
    }
}

fn u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn map_u64(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// `{"3:NXDomain": 2}` → `{"3": 2}`: our keys carry names, tshark's numbers.
fn strip_names(m: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    m.iter()
        .map(|(k, n)| (k.split(':').next().unwrap().to_string(), *n))
        .collect()
}

fn skip_requested(test: &str) -> bool {
    if std::env::var("PCAPLENS_SKIP_LIVE_TRAFFIC").as_deref() == Ok("1") {
        eprintln!("NOTICE: {test}: PCAPLENS_SKIP_LIVE_TRAFFIC=1, live traffic test skipped");
        return true;
    }
    false
}

fn require_tools(tools: &[&str]) {
    let euid = Command::new("id").arg("-u").output().expect("run id -u");
    assert_eq!(
        String::from_utf8_lossy(&euid.stdout).trim(),
        "0",
        "live traffic tests need root (network namespaces); set PCAPLENS_SKIP_LIVE_TRAFFIC=1 to skip"
    );
    for t in ["ip", "tcpdump", "tshark", "python3"].iter().chain(tools) {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "live traffic tests need `{t}` on PATH (see .ci/run); set PCAPLENS_SKIP_LIVE_TRAFFIC=1 to skip"
        );
    }
}

/// Run apps.py SCENARIO, then pcaplens (the core, default config) on its capture.
fn run_scenario(scenario: &str, tools: &[&str]) -> Option<Run> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    if skip_requested(scenario) {
        return None;
    }
    require_tools(tools);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    // Namespace and interface names derive from the tag: short and unique.
    let tag = format!("{}{n}", std::process::id() % 100_000);
    let dir = std::env::temp_dir().join(format!("pcaplens-traffic-{scenario}-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let out = Command::new("python3")
        .arg(repo_root().join("tests/traffic/apps.py"))
        .args([scenario, dir.to_str().unwrap(), &tag])
        .output()
        .expect("run python3 tests/traffic/apps.py");
    assert!(
        out.status.success(),
        "apps.py {scenario} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res: Value =
        serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("capture.pcap")).unwrap();
    let report = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    let rep = serde_json::to_value(&report).unwrap();
    eprintln!(
        "traffic scenario {scenario}: {} frames, {:.1} s (traffic {} s)",
        rep["summary"]["packets"],
        t0.elapsed().as_secs_f64(),
        res["traffic_secs"]
    );
    Some(Run { dir, res, rep })
}

fn remove(run: Run) {
    let _ = std::fs::remove_dir_all(&run.dir);
}

// ---------------------------------------------------------------- DNS

#[test]
fn live_dns_over_udp_and_tcp_matches_tshark_and_the_server() {
    let Some(r) = run_scenario("dns", &["dig"]) else {
        return;
    };
    let ctx = r.ctx();
    // tshark, with the oracle's definitions.
    assert_eq!(
        r.ours_u64("failures.dns.error_response_frames"),
        r.tshark("dns_error_responses_dnsproto"),
        "{ctx}: dns_error_responses_dnsproto"
    );
    let rcodes = map_u64(r.ours("failures.dns.rcodes"));
    assert_eq!(
        strip_names(&rcodes),
        map_u64(&r.res["tshark"]["dns_rcodes"]),
        "{ctx}: rcode breakdown"
    );
    let unanswered = r.ours_u64("failures.dns.unanswered_queries.total")
        + r.ours_u64("failures.dns.query_retransmissions")
        + r.ours_u64("failures.dns.answered_malformed_queries");
    assert_eq!(
        unanswered,
        r.tshark("dns_queries_unanswered_dnsproto"),
        "{ctx}: dns_queries_unanswered_dnsproto"
    );
    // `messages`/`queries` leave mDNS and LLMNR out, as tshark's `dns` does.
    assert_eq!(
        r.ours_u64("failures.dns.queries"),
        r.tshark("dns_query_messages"),
        "{ctx}: queries"
    );
    assert_eq!(
        r.ours_u64("failures.dns.messages"),
        r.tshark("dns_query_messages") + r.tshark("dns_response_messages"),
        "{ctx}: DNS messages"
    );
    assert_eq!(
        r.ours_u64("failures.dns.responses"),
        r.tshark("dns_response_messages"),
        "{ctx}: responses"
    );
    assert_eq!(
        r.ours_u64("failures.dns.mdns_messages") + r.ours_u64("failures.dns.llmnr_messages"),
        r.tshark("mdns_llmnr_frames"),
        "{ctx}: mDNS/LLMNR kept apart"
    );
    // Frame numbers of the error responses, as tshark numbers them.
    let err_frames: Vec<u64> = r
        .ours("failures.dns.error_responses.instances")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["frame"].as_u64())
        .collect();
    let mut dedup = err_frames.clone();
    dedup.dedup();
    assert_eq!(dedup, r.tshark_frames("dns_error"), "{ctx}: error frames");

    // The server's own truth.
    assert_eq!(
        strip_names(&rcodes),
        map_u64(r.truth("error_rcodes")),
        "{ctx}: rcodes the server sent"
    );
    assert_eq!(
        r.ours_u64("failures.dns.responses"),
        r.truth("responses").as_u64().unwrap(),
        "{ctx}: responses the server sent"
    );
    // drop1 once, drop2 twice (dig retried with the same id): 3 query frames
    // unanswered, in two transactions.
    assert_eq!(unanswered, r.truth("dropped_queries").as_u64().unwrap());
    let names: Vec<&str> = r
        .ours("failures.dns.unanswered_queries.instances")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["qname"].as_str())
        .collect();
    assert!(names.contains(&"drop1.app.test") && names.contains(&"drop2.app.test"));
    assert!(
        r.ours_u64("summary.conversations.tcp") >= 2,
        "{ctx}: TC retry + batch"
    );
    // Response times: every answered transaction has one, on loopback well under 1 s.
    let rt = r.ours("failures.dns.response_times");
    assert_eq!(rt["count"].as_u64(), r.truth("responses").as_u64(), "{ctx}");
    assert!(rt["max_ms"].as_f64().unwrap() < 1000.0, "{ctx}: {rt}");
    assert!(rt["min_ms"].as_f64().unwrap() >= 0.0, "{ctx}: {rt}");
    remove(r);
}
