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
use pcaplens_tests::{live_traffic, map_u64, pcaplens_bin, python, repo_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
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

/// `{"3:NXDomain": 2}` → `{"3": 2}`: our keys carry names, tshark's numbers.
fn strip_names(m: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    m.iter()
        .map(|(k, n)| (k.split(':').next().unwrap().to_string(), *n))
        .collect()
}

/// Run apps.py SCENARIO, then pcaplens (the core, default config) on its capture.
fn run_scenario(scenario: &str, tools: &[&str]) -> Option<Run> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    if !live_traffic(scenario, tools) {
        return None;
    }
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    // Namespace and interface names derive from the tag: short and unique.
    let tag = format!("{}{n}", std::process::id() % 100_000);
    let dir = std::env::temp_dir().join(format!("pcaplens-traffic-{scenario}-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t0 = Instant::now();
    let out = Command::new(python())
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
    // drop1 once, drop2 twice (dig retried with the same id), and the two
    // queries to an address without a server (ICMP port unreachable).
    assert_eq!(
        unanswered,
        r.truth("dropped_queries").as_u64().unwrap()
            + r.truth("queries_to_no_server").as_u64().unwrap(),
        "{ctx}: unanswered queries"
    );
    let names: Vec<&str> = r
        .ours("failures.dns.unanswered_queries.instances")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["qname"].as_str())
        .collect();
    assert!(names.contains(&"drop1.app.test") && names.contains(&"drop2.app.test"));
    let no_server = r
        .ours("failures.dns.unanswered_queries.instances")
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["server"] == "10.53.0.99")
        .count();
    assert_eq!(
        no_server, 2,
        "{ctx}: queries to the address without a server"
    );
    assert_eq!(
        r.ours_u64("failures.icmp.unreachable_v4.total"),
        2,
        "{ctx}: port unreachable"
    );
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

/// Frames of a counted list's instances, each once, in order.
fn instance_frames(v: &Value) -> Vec<u64> {
    let mut f: Vec<u64> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["frame"].as_u64())
        .collect();
    f.dedup();
    f
}

// ---------------------------------------------------------------- HTTP

#[test]
fn live_http_with_curl_matches_tshark_and_the_server() {
    let Some(r) = run_scenario("http", &["curl"]) else {
        return;
    };
    let ctx = r.ctx();
    let h = r.ours("failures.http");
    // tshark: frames with an error response, codes, and which frames.
    assert_eq!(
        h["error_response_frames"].as_u64().unwrap(),
        r.tshark("http_error_responses"),
        "{ctx}: http_error_responses"
    );
    assert_eq!(
        map_u64(&h["status_codes"]),
        map_u64(&r.res["tshark"]["http_codes"]),
        "{ctx}: http.response.code breakdown"
    );
    // A response counts in the frame that completes its body, as tshark shows it.
    assert_eq!(
        instance_frames(&h["error_responses"]),
        r.tshark_frames("http_error"),
        "{ctx}: error response frames"
    );
    // The servers' truth: every request answered and paired, method/host/URI
    // of each error.
    let requests = r.truth("requests").as_u64().unwrap();
    assert_eq!(h["requests"].as_u64(), Some(requests), "{ctx}: requests");
    let interim = r.truth("interim_responses").as_u64().unwrap();
    assert_eq!(
        h["responses"].as_u64(),
        Some(requests + interim),
        "{ctx}: responses (a 100 Continue included)"
    );
    assert_eq!(
        map_u64(&h["status_codes"]),
        map_u64(r.truth("codes_all")),
        "{ctx}: codes the servers sent"
    );
    assert_eq!(h["unmatched_responses"].as_u64(), Some(0), "{ctx}");
    assert_eq!(h["unanswered_requests"].as_u64(), Some(0), "{ctx}");
    assert_eq!(h["response_times"]["count"].as_u64(), Some(requests));
    let mut errors: Vec<Value> = h["error_responses"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let host = e["host"].as_str().unwrap_or("");
            let port = if host.ends_with(":8081") { 8081 } else { 80 };
            serde_json::json!([port, e["code"], e["method"], e["host"], e["uri"]])
        })
        .collect();
    errors.sort_by_key(|v| v.to_string());
    let mut want: Vec<Value> = r.truth("errors").as_array().unwrap().clone();
    want.sort_by_key(|v| v.to_string());
    assert_eq!(errors, want, "{ctx}: method/host/URI of 4xx/5xx");
    // Protocol/port mismatch: HTTP on 8081, an SSH banner and raw bytes on port 80.
    let m = r.ours("findings.protocol_mismatch");
    assert_eq!(
        map_u64(&m["by_kind"]),
        BTreeMap::from([
            ("http_on_non_standard_port".to_string(), 1),
            ("non_http_on_port_80".to_string(), 2)
        ]),
        "{ctx}: {m}"
    );
    let servers: Vec<(String, String, String)> = m["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_string(),
                s["server"].as_str().unwrap().to_string(),
                s["detected"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(servers.contains(&(
        "http_on_non_standard_port".into(),
        "10.80.0.1:8081".into(),
        "http".into()
    )));
    assert!(servers.contains(&(
        "non_http_on_port_80".into(),
        "10.80.0.2:80".into(),
        "ssh".into()
    )));
    assert!(servers.contains(&(
        "non_http_on_port_80".into(),
        "10.80.0.3:80".into(),
        "unknown".into()
    )));
    remove(r);
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// (kind, server, detected) of each protocol_mismatch entry.
fn mismatches(r: &Run) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = r
        .ours("findings.protocol_mismatch.servers")
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_string(),
                s["server"].as_str().unwrap().to_string(),
                s["detected"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------- TLS

#[test]
fn live_tls_with_openssl_and_curl_matches_tshark_and_the_clients() {
    let Some(r) = run_scenario("tls", &["openssl", "curl", "timeout"]) else {
        return;
    };
    let ctx = r.ctx();
    let t = r.ours("failures.tls");
    // tshark: alert frames (encrypted alerts included), which frames, and the
    // plaintext descriptions.
    assert_eq!(
        t["alert_frames"].as_u64().unwrap(),
        r.tshark("tls_alert_frames"),
        "{ctx}: tls_alert_frames"
    );
    assert_eq!(
        instance_frames(&t["alerts"]),
        r.tshark_frames("tls_alert"),
        "{ctx}: alert frames"
    );
    let descs = strip_names(&map_u64(&t["alert_descriptions"]));
    assert_eq!(
        descs,
        map_u64(&r.res["tshark"]["tls_alert_descriptions"]),
        "{ctx}: alert descriptions"
    );
    assert_eq!(
        descs,
        map_u64(r.truth("plaintext_alerts")),
        "{ctx}: alerts caused"
    );
    assert_eq!(
        t["client_hellos"].as_u64().unwrap(),
        r.tshark("tls_client_hellos"),
        "{ctx}: ClientHellos"
    );
    // SNI and ALPN: tshark and the clients' own arguments.
    assert_eq!(
        keys(&t["server_names"]),
        strings(&r.res["tshark"]["tls_sni"]),
        "{ctx}: SNI"
    );
    assert_eq!(
        keys(&t["server_names"]),
        strings(r.truth("sni")),
        "{ctx}: SNI sent"
    );
    assert_eq!(
        keys(&t["alpn"]),
        strings(&r.res["tshark"]["tls_alpn"]),
        "{ctx}: ALPN"
    );
    assert_eq!(
        map_u64(&t["versions"]),
        map_u64(r.truth("versions")),
        "{ctx}: versions"
    );
    // Handshakes that failed or never finished, and how far they got.
    let incomplete = &t["incomplete_handshakes"]["instances"];
    let mut snis: Vec<String> = incomplete
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["sni"].as_str().map(str::to_string))
        .collect();
    snis.sort();
    assert_eq!(snis, strings(r.truth("incomplete")), "{ctx}: incomplete");
    let silent = incomplete
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sni"] == "silent.app.test")
        .unwrap();
    assert_eq!(silent["stage"], "client_hello", "{ctx}");
    // TLS on 9444, an SSH-like banner on 443.
    assert_eq!(
        mismatches(&r),
        vec![
            (
                "non_tls_on_port_443".to_string(),
                "10.44.0.6:443".to_string(),
                "ssh".to_string()
            ),
            (
                "tls_on_non_standard_port".to_string(),
                "10.44.0.2:9444".to_string(),
                "tls".to_string()
            ),
        ],
        "{ctx}"
    );
    remove(r);
}

// ---------------------------------------------------------------- QUIC

#[test]
fn live_quic_version_negotiation_matches_tshark_and_the_responder() {
    let Some(r) = run_scenario("quic", &[]) else {
        return;
    };
    let ctx = r.ctx();
    let q = r.ours("failures.quic");
    assert_eq!(
        q["version_negotiation"]["total"].as_u64().unwrap(),
        r.tshark("quic_version_negotiation"),
        "{ctx}: quic_version_negotiation"
    );
    assert_eq!(
        q["version_negotiation"]["total"].as_u64(),
        r.truth("version_negotiations").as_u64(),
        "{ctx}: VNs the responder sent"
    );
    assert_eq!(
        instance_frames(&q["version_negotiation"]),
        r.tshark_frames("quic_vn"),
        "{ctx}: VN frames"
    );
    assert_eq!(
        map_u64(&q["versions"]),
        map_u64(&r.res["tshark"]["quic_versions"]),
        "{ctx}: quic.version breakdown"
    );
    // Only the client that got a VN and never heard from the server again failed.
    let flow_cid = |port: u64| -> Value {
        r.ours("flows")
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["orig_port"].as_u64() == Some(port))
            .unwrap_or_else(|| panic!("{ctx}: no flow from port {port}"))["community_id"]
            .clone()
    };
    let failed = &q["failed_after_version_negotiation"];
    let want: Vec<Value> = u64s(r.truth("failed_after_vn_client_ports"))
        .into_iter()
        .map(flow_cid)
        .collect();
    let got: Vec<Value> = failed["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["community_id"].clone())
        .collect();
    assert_eq!(got, want, "{ctx}: failed after VN");
    assert_eq!(
        failed["instances"][0]["client_versions"],
        serde_json::json!(["0x1a2a3a4a"]),
        "{ctx}"
    );
    remove(r);
}

// ---------------------------------------------------------------- TLS from a browser

/// Chromium's ClientHello over TCP takes two segments on an MTU-sized path
/// (its post-quantum key share alone is 1,200 bytes), with the server name
/// in either: the hellos and names are read like tshark reads them, and
/// sanitizing rewrites every name (the audit passes, no name is left in the
/// bytes) while tshark sees the same protocols in every frame.
#[test]
fn live_chromium_tls_hello_over_two_segments_is_read_and_sanitized() {
    let Some(r) = run_scenario("tls_browser", &["chromium", "openssl"]) else {
        return;
    };
    let ctx = r.ctx();
    let capture = r.dir.join("capture.pcap");
    let t = r.ours("failures.tls");
    let hellos = t["client_hellos"].as_u64().unwrap();
    let sent = strings(r.truth("sni"));
    assert!(hellos >= sent.len() as u64, "{ctx}: {hellos} hellos");
    assert_eq!(hellos, r.tshark("tls_client_hellos"), "{ctx}: ClientHellos");
    assert_eq!(keys(&t["server_names"]), sent, "{ctx}: SNI");
    assert_eq!(
        strings(&r.res["tshark"]["tls_sni"]),
        sent,
        "{ctx}: tshark's SNI"
    );
    // Every hello came in two segments (else this would not test the cut).
    let segments = tshark_fields(&capture, "tls.handshake.type == 1", "tcp.segment");
    assert_eq!(segments.len() as u64, hellos, "{ctx}");
    assert!(
        segments.iter().all(|s| s.split(',').count() == 2),
        "{ctx}: reassembled from {segments:?}"
    );

    let names: Vec<&str> = sent.iter().map(String::as_str).collect();
    let (bytes, c) = sanitize_with_cli(&r, &names);
    assert!(c["tls_names"].as_u64().unwrap() >= hellos, "{ctx}: {c}");
    let sanitized = r.dir.join("sanitized.pcap");
    let after_names = tshark_fields(
        &sanitized,
        "tls.handshake.type == 1",
        "tls.handshake.extensions_server_name",
    );
    assert_eq!(after_names.len() as u64, hellos, "{ctx}: {after_names:?}");
    for n in &after_names {
        assert!(!sent.contains(n), "{ctx}: {n} kept");
        assert!(
            sent.iter().any(|s| s.len() == n.len()),
            "{ctx}: {n} is no pseudonym of a name sent"
        );
    }
    let protocols = |f: &Path| tshark_fields(f, "frame", "frame.protocols");
    assert_eq!(protocols(&capture), protocols(&sanitized), "{ctx}");
    let after = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    assert_eq!(after.failures.tls.client_hellos, hellos, "{ctx}");
    assert_eq!(after.failures.tls.server_names.len(), sent.len(), "{ctx}");
    remove(r);
}

// ---------------------------------------------------------------- mDNS (avahi)

/// Two avahi-daemons announce their hosts and workstation services: the
/// messages are mDNS, kept apart from DNS, frame for frame as tshark
/// counts them; sanitizing leaves no host name or MAC (in any text form),
/// and the pseudonyms are consistent: the workstation instance name holds
/// the host's pseudonym and the pseudonym of the MAC the frames came from.
#[test]
fn live_avahi_mdns_is_counted_and_sanitized_consistently() {
    let Some(r) = run_scenario("mdns", &["avahi-daemon", "unshare"]) else {
        return;
    };
    let ctx = r.ctx();
    let capture = r.dir.join("capture.pcap");
    let mdns_frames = tshark_fields(&capture, "mdns", "frame.number").len() as u64;
    assert!(mdns_frames >= 10, "{ctx}: {mdns_frames} mDNS frames");
    assert_eq!(
        r.ours_u64("failures.dns.mdns_messages"),
        mdns_frames,
        "{ctx}"
    );
    assert_eq!(
        r.ours_u64("failures.dns.messages"),
        0,
        "{ctx}: mDNS counted as DNS"
    );

    let hosts: BTreeMap<String, String> = r
        .truth("hosts")
        .as_object()
        .unwrap()
        .iter()
        .map(|(h, m)| (h.clone(), m.as_str().unwrap().to_string()))
        .collect();
    let mut gone: Vec<String> = Vec::new();
    for (host, mac) in &hosts {
        gone.push(host.clone());
        gone.push(mac.clone());
        gone.push(mac.to_uppercase());
        gone.push(mac.replace(':', "-"));
    }
    let gone_refs: Vec<&str> = gone.iter().map(String::as_str).collect();
    let (_, c) = sanitize_with_cli(&r, &gone_refs);
    assert!(c["dns_names"].as_u64().unwrap() > 0, "{ctx}: {c}");
    let sanitized = r.dir.join("sanitized.pcap");
    let fields = |f: &Path, field: &str| tshark_fields(f, "mdns", field);
    assert_eq!(
        fields(&capture, "frame.number"),
        fields(&sanitized, "frame.number"),
        "{ctx}"
    );
    // Each host's pseudonym, from its A record's owner in the frames it sent
    // (tshark's first answer name), and its MAC's, from eth.src.
    let macs_before = fields(&capture, "eth.src");
    let macs_after = fields(&sanitized, "eth.src");
    let names_after = fields(&sanitized, "dns.resp.name");
    let names_before = fields(&capture, "dns.resp.name");
    let mut checked = 0;
    for (host, mac) in &hosts {
        let pseudo_mac = macs_before
            .iter()
            .zip(&macs_after)
            .find(|(b, _)| *b == mac)
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| panic!("{ctx}: no frame from {mac}"));
        assert_ne!(&pseudo_mac, mac, "{ctx}");
        let owner = format!("{host}.local");
        let pseudo_host = names_before
            .iter()
            .zip(&names_after)
            .find_map(|(b, a)| {
                let i = b.split(',').position(|n| n == owner)?;
                a.split(',')
                    .nth(i)
                    .map(|n| n.trim_end_matches(".local").to_string())
            })
            .unwrap_or_else(|| panic!("{ctx}: no answer for {owner}"));
        assert_eq!(pseudo_host.len(), host.len(), "{ctx}");
        assert_ne!(&pseudo_host, host, "{ctx}");
        let instance = format!("{pseudo_host} [{pseudo_mac}]._workstation._tcp.local");
        assert!(
            names_after
                .iter()
                .any(|n| n.split(',').any(|x| x == instance)),
            "{ctx}: no {instance} in {names_after:?}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "{ctx}");
    remove(r);
}

// ---------------------------------------------------------------- QUIC from a browser

const QUIC_HOST: &str = "quic.browser.test";

/// tshark's `field` in each frame of `file` that matches `filter`, a line a frame.
fn tshark_fields(file: &Path, filter: &str, field: &str) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-e", field])
        .output()
        .expect("run tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `pcaplens sanitize` of the run's capture through the CLI, as users run
/// it (a file, so two passes when needed), with the leak audit passing and
/// none of `names` left in the bytes: the output's bytes and the
/// sanitizer's counters.
fn sanitize_with_cli(r: &Run, names: &[&str]) -> (Vec<u8>, Value) {
    let ctx = r.ctx();
    let key = r.dir.join("k.key");
    std::fs::write(&key, [0x42u8; 32]).unwrap();
    let (out, audit) = (r.dir.join("sanitized.pcap"), r.dir.join("audit.json"));
    let run = Command::new(pcaplens_bin())
        .arg("sanitize")
        .arg(r.dir.join("capture.pcap"))
        .arg("-o")
        .arg(&out)
        .arg("--key-file")
        .arg(&key)
        .arg("--audit-json")
        .arg(&audit)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{ctx}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&audit).unwrap()).unwrap();
    assert_eq!(doc["audit"]["passed"], true, "{ctx}: {}", doc["audit"]);
    let bytes = std::fs::read(&out).unwrap();
    for name in names {
        assert!(
            !bytes.windows(name.len()).any(|w| w == name.as_bytes()),
            "{ctx}: {name} is still in the bytes"
        );
    }
    (bytes, doc["sanitize"]["counters"].clone())
}

/// Chromium's ClientHello over QUIC (split over two Initials, pieces
/// shuffled) is read like tshark reads it, and sanitizing keeps every client
/// Initial decryptable, with the SNI's pseudonym in place.
#[test]
fn live_chromium_quic_client_hello_is_read_and_sanitized() {
    let Some(r) = run_scenario("quic_browser", &["chromium"]) else {
        return;
    };
    let ctx = r.ctx();
    let capture = r.dir.join("capture.pcap");
    let t = r.ours("failures.tls");
    let hellos = t["client_hellos"].as_u64().unwrap();
    assert!(hellos >= 1, "{ctx}: no ClientHello read");
    assert_eq!(hellos, r.tshark("tls_client_hellos"), "{ctx}: ClientHellos");
    assert_eq!(
        keys(&t["server_names"]),
        strings(&r.res["tshark"]["tls_sni"]),
        "{ctx}: SNI"
    );
    assert_eq!(
        keys(&t["server_names"]),
        strings(r.truth("sni")),
        "{ctx}: SNI sent"
    );
    // The hello really came in pieces over several Initials (else this test
    // would not test the reassembly).
    assert!(
        !tshark_fields(&capture, "quic.crypto.offset > 0", "frame.number").is_empty(),
        "{ctx}: no CRYPTO frame past offset 0"
    );
    // Nothing answers: one unanswered QUIC connection, with its name and
    // every Initial Chromium sent (tshark's count of Initial packets).
    let u = r.ours("failures.quic.unanswered_connections");
    assert_eq!(u["total"], 1, "{ctx}: {u}");
    assert_eq!(u["instances"][0]["sni"], QUIC_HOST, "{ctx}: {u}");
    let initials =
        tshark_fields(&capture, "quic.long.packet_type == 0", "frame.number").len() as u64;
    assert!(initials >= 2, "{ctx}: {initials} Initials");
    assert_eq!(u["instances"][0]["client_initials"], initials, "{ctx}: {u}");

    let (bytes, c) = sanitize_with_cli(&r, &[QUIC_HOST]);
    assert_eq!(c["quic_initials_redacted"], 0, "{ctx}: {c}");
    assert!(
        c["quic_initials_rewritten"].as_u64().unwrap() >= 2,
        "{ctx}: {c}"
    );
    let names = tshark_fields(
        &r.dir.join("sanitized.pcap"),
        "tls.handshake.type==1",
        "tls.handshake.extensions_server_name",
    );
    assert_eq!(
        names.len() as u64,
        hellos,
        "{ctx}: tshark's hellos after: {names:?}"
    );
    for n in &names {
        assert_eq!(n.len(), QUIC_HOST.len(), "{ctx}: {n}");
        assert_ne!(n, QUIC_HOST, "{ctx}");
    }
    let after = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    assert_eq!(after.failures.tls.client_hellos, hellos, "{ctx}");
    let pseudonyms: Vec<&String> = after.failures.tls.server_names.keys().collect();
    assert_eq!(pseudonyms, [&names[0]], "{ctx}");
    remove(r);
}

/// Chromium against a real HTTP/3 server (aioquic): the handshake that
/// completes (the page loads) is not flagged; the one Chromium abandons
/// over the certificate is an incomplete QUIC handshake with its SNI; the
/// ClientHellos match tshark's, and survive sanitizing.
#[test]
fn live_chromium_http3_complete_and_rejected_handshakes() {
    let Some(r) = run_scenario("quic_h3", &["chromium", "openssl"]) else {
        return;
    };
    let ctx = r.ctx();
    assert_eq!(
        r.truth("trusted_page_loaded"),
        true,
        "{ctx}: no HTTP/3 page"
    );
    assert_eq!(r.truth("rejected_page_loaded"), false, "{ctx}");
    let t = r.ours("failures.tls");
    let hellos = t["client_hellos"].as_u64().unwrap();
    assert!(hellos >= 2, "{ctx}: {hellos} ClientHellos");
    assert_eq!(hellos, r.tshark("tls_client_hellos"), "{ctx}: ClientHellos");
    assert_eq!(
        keys(&t["server_names"]),
        strings(r.truth("sni")),
        "{ctx}: SNI"
    );
    let q = r.ours("failures.quic");
    assert_eq!(q["unanswered_connections"]["total"], 0, "{ctx}: {q}");
    let incomplete = q["incomplete_handshakes"]["instances"].as_array().unwrap();
    // Every connection but the first (the trusted one) was abandoned.
    assert_eq!(
        q["incomplete_handshakes"]["total"].as_u64(),
        Some(hellos - 1),
        "{ctx}: {q}"
    );
    for i in incomplete {
        assert_eq!(i["sni"], QUIC_HOST, "{ctx}: {i}");
        assert_eq!(i["stage"], "handshake", "{ctx}: {i}");
        assert_ne!(i["frame"], 1, "{ctx}: the completed handshake is flagged");
    }

    // Sanitized: every Initial kept (the client's rewritten, the server's
    // ServerHello untouched), tshark reads the same handshake messages and
    // frames in every packet, pcaplens gives the same verdicts.
    let (bytes, c) = sanitize_with_cli(&r, &[QUIC_HOST]);
    assert_eq!(c["quic_initials_redacted"], 0, "{ctx}: {c}");
    let sanitized = r.dir.join("sanitized.pcap");
    for field in [
        "tls.handshake.type",
        "quic.frame_type",
        "quic.packet_number",
    ] {
        assert_eq!(
            tshark_fields(&sanitized, "quic", field),
            tshark_fields(&r.dir.join("capture.pcap"), "quic", field),
            "{ctx}: tshark's {field} per frame"
        );
    }
    let after =
        serde_json::to_value(analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap()).unwrap();
    assert_eq!(after["failures"]["tls"]["client_hellos"], hellos, "{ctx}");
    assert_eq!(
        after["failures"]["quic"]["incomplete_handshakes"]["total"],
        q["incomplete_handshakes"]["total"],
        "{ctx}"
    );
    let after_tshark = tshark_fields(
        &r.dir.join("sanitized.pcap"),
        "tls.handshake.type==1",
        "frame.number",
    );
    assert_eq!(
        after_tshark.len() as u64,
        hellos,
        "{ctx}: tshark's hellos after sanitizing"
    );
    remove(r);
}

// ---------------------------------------------------------------- blocklist

#[test]
fn live_blocklist_matches_address_range_and_domain_with_evidence() {
    let Some(r) = run_scenario("blocklist", &["dig", "curl", "openssl"]) else {
        return;
    };
    let ctx = r.ctx();
    // Through the CLI, as users pass it: `pcaplens analyze --blocklist FILE`.
    let out = Command::new(pcaplens_bin())
        .args(["analyze", "--json", "--no-anomaly", "--blocklist"])
        .arg(r.dir.join("blocklist.txt"))
        .arg(r.dir.join("capture.pcap"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{ctx}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &rep["findings"]["blocklist"];
    assert_eq!(b["entries"], 3, "{ctx}");
    let hits = b["hits"].as_array().unwrap();
    let mut got: Vec<Value> = hits
        .iter()
        .map(|h| serde_json::json!([h["indicator"], h["matched_in"], h["value"], h["count"]]))
        .collect();
    got.sort_by_key(|v| v.to_string());
    let mut want = r.truth("hits").as_array().unwrap().clone();
    want.sort_by_key(|v| v.to_string());
    // Exactly these: the benign name, Host and address matched nothing.
    assert_eq!(got, want, "{ctx}: blocklist hits");
    let line_of = |entry: &str| match entry {
        "10.66.0.9" => 2,
        "10.66.1.0/24" => 3,
        _ => 4,
    };
    for h in hits {
        let entry = h["indicator"].as_str().unwrap();
        let source = h["indicator_source"].as_str().unwrap();
        assert!(
            source.ends_with(&format!("blocklist.txt:{}", line_of(entry))),
            "{ctx}: {source}"
        );
        // Each piece of evidence is a frame tshark shows the match in.
        let place = h["matched_in"].as_str().unwrap();
        let frames = u64s(&r.truth("tshark_frames")[place]);
        let evidence = u64s(
            &h["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["frame"].clone())
                .collect::<Vec<_>>()
                .into(),
        );
        assert!(!evidence.is_empty(), "{ctx}: {h}");
        for f in evidence {
            assert!(
                frames.contains(&f),
                "{ctx}: {place} frame {f} not in {frames:?}"
            );
        }
    }
    remove(r);
}
