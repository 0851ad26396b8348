//! Azure Monitor (issue 22): findings and live statistics sent to an
//! in-test ingestion server that speaks the Application Insights protocol
//! (Breeze, `POST /v2.1/track`): gzip'd JSON arrays of envelopes in; `200`,
//! `206` with `errors[{index, statusCode, message}]`, `503` with
//! `Retry-After` out. The real service cannot run here, so this double
//! checks every envelope as the service would and scripts its answers.

use flate2::read::GzDecoder;
use pcaplens_tests::{pcaplens_bin, temp_dir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const IKEY: &str = "9c1f2d3e-aaaa-4bbb-8ccc-0123456789ab";

#[derive(Clone, Debug)]
struct Request {
    at: Instant,
    line: String,
    headers: Vec<(String, String)>,
    items: Vec<Value>,
}

impl Request {
    fn header(&self, k: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map_or("", |(_, v)| v.as_str())
    }
}

/// An answer: status, extra headers, JSON body.
type Answer = (u16, Vec<(&'static str, String)>, Value);
type Script = Vec<Box<dyn Fn(&[Value]) -> Answer + Send>>;

/// Breeze's answer when every item is accepted.
fn all_accepted(items: &[Value]) -> Answer {
    let n = items.len();
    (
        200,
        vec![],
        json!({"itemsReceived": n, "itemsAccepted": n, "errors": []}),
    )
}

/// What the service says of an envelope it refuses (None: valid).
fn invalid(e: &Value) -> Option<String> {
    let name = e["name"].as_str().unwrap_or("");
    let base_type = e["data"]["baseType"].as_str().unwrap_or("");
    let base = &e["data"]["baseData"];
    let time = e["time"].as_str().unwrap_or("");
    let time_ok = time.len() == 28
        && time.ends_with('Z')
        && time.as_bytes()[10] == b'T'
        && time.as_bytes()[19] == b'.';
    let ok = match (name, base_type) {
        ("Microsoft.ApplicationInsights.Event", "EventData") => {
            base["name"].as_str().is_some_and(|n| !n.is_empty())
                && base["properties"]
                    .as_object()
                    .is_some_and(|p| p.values().all(Value::is_string))
                && base["measurements"]
                    .as_object()
                    .is_none_or(|m| m.values().all(Value::is_number))
        }
        ("Microsoft.ApplicationInsights.Metric", "MetricData") => base["metrics"]
            .as_array()
            .is_some_and(|m| m.len() == 1 && m[0]["name"].is_string() && m[0]["value"].is_number()),
        _ => false,
    };
    if !ok {
        return Some(format!("109: bad envelope {name}/{base_type}"));
    }
    if !time_ok {
        return Some(format!("109: Field 'time' is invalid: {time}"));
    }
    if e["iKey"] != IKEY {
        return Some("400: Invalid instrumentation key".into());
    }
    if base["ver"] != 2 || e["tags"]["ai.cloud.role"] != "pcaplens" {
        return Some("109: ver or tags".into());
    }
    None
}

/// The ingestion server: answers the i-th request with `script[i]` (then
/// "all accepted"), after checking the request as the service does.
struct Ingestion {
    endpoint: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Ingestion {
    fn start(script: Script) -> Ingestion {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut l = String::new();
                    reader.read_line(&mut l).unwrap();
                    let l = l.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let get = |k: &str| {
                    headers
                        .iter()
                        .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let len: usize = get("content-length").parse().unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let mut req = Request {
                    at: Instant::now(),
                    line: line.trim_end().to_string(),
                    headers: headers.clone(),
                    items: Vec::new(),
                };
                let answer = if req.line != "POST /v2.1/track HTTP/1.1" {
                    (404, vec![], json!({"error": "not found"}))
                } else if get("content-encoding") != "gzip" {
                    (400, vec![], json!({"error": "expected gzip"}))
                } else {
                    let mut text = String::new();
                    GzDecoder::new(&body[..]).read_to_string(&mut text).unwrap();
                    req.items = serde_json::from_str(&text).unwrap();
                    let errors: Vec<Value> = req
                        .items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, e)| {
                            invalid(e).map(|m| json!({"index": i, "statusCode": 400, "message": m}))
                        })
                        .collect();
                    let n = req.items.len();
                    let i = seen.lock().unwrap().len();
                    if !errors.is_empty() {
                        (
                            206,
                            vec![],
                            json!({"itemsReceived": n, "itemsAccepted": n - errors.len(), "errors": errors}),
                        )
                    } else if let Some(f) = script.get(i) {
                        f(&req.items)
                    } else {
                        all_accepted(&req.items)
                    }
                };
                seen.lock().unwrap().push(req);
                let (status, extra, body) = answer;
                let body = body.to_string();
                let reason = match status {
                    200 => "OK",
                    206 => "Partial Content",
                    503 => "Service Unavailable",
                    _ => "Error",
                };
                let mut resp = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                resp.push_str(&body);
                let _ = stream.write_all(resp.as_bytes());
            }
        });
        Ingestion { endpoint, requests }
    }

    fn conn(&self) -> String {
        format!(
            "InstrumentationKey={IKEY};IngestionEndpoint={}/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId=1",
            self.endpoint
        )
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn blocklisted(dir: &Path) -> (PathBuf, PathBuf) {
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
    let list = dir.join("list.txt");
    std::fs::write(&list, "198.51.100.0/24\nmalware.example.net\n10.0.0.53\n").unwrap();
    (capture, list)
}

fn pcaplens(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(pcaplens_bin());
    cmd.args(args)
        .env_remove("AZURE_MONITOR_CONNECTION_STRING")
        .env_remove("APPLICATIONINSIGHTS_CONNECTION_STRING")
        .env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .env_remove("AZURE_BLACKLIST_TABLE")
        .env("PCAPLENS_MONITOR_BACKOFF_MS", "100");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Findings of `analyze` reach the service, with exactly the retries it
/// asked for: a 503 (Retry-After: 1) → the whole batch again after a
/// second; a 206 → only the items whose status is retriable (500, 429),
/// not the refused one (400); then 200.
#[test]
fn azure_monitor_findings_with_503_and_206_retries() {
    let dir = temp_dir("azure-monitor");
    let (capture, list) = blocklisted(&dir);
    let alerts = pcaplens(
        &[
            "analyze",
            "--format",
            "eve",
            "--blocklist",
            list.to_str().unwrap(),
            capture.to_str().unwrap(),
        ],
        &[],
    );
    let n_alerts = String::from_utf8_lossy(&alerts.stdout)
        .lines()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
        .count();
    assert!(n_alerts >= 5, "{n_alerts} alerts");

    let script: Script = vec![
        Box::new(|items: &[Value]| {
            let n = items.len();
            (
                503,
                vec![("Retry-After", "1".to_string())],
                json!({"itemsReceived": n, "itemsAccepted": 0, "errors": (0..n).map(|i| json!({"index": i, "statusCode": 503, "message": "Service Unavailable"})).collect::<Vec<_>>()}),
            )
        }),
        Box::new(|items: &[Value]| {
            let n = items.len();
            (
                206,
                vec![],
                json!({"itemsReceived": n, "itemsAccepted": n - 3, "errors": [
                    {"index": 0, "statusCode": 500, "message": "Internal Server Error"},
                    {"index": 2, "statusCode": 400, "message": "109: Field 'name' on type 'EventData' is required but missing or empty"},
                    {"index": 3, "statusCode": 429, "message": "Too Many Requests"},
                ]}),
            )
        }),
    ];
    let server = Ingestion::start(script);
    let conn = server.conn();
    let o = pcaplens(
        &[
            "analyze",
            "--json",
            "--blocklist",
            list.to_str().unwrap(),
            capture.to_str().unwrap(),
        ],
        &[("AZURE_MONITOR_CONNECTION_STRING", &conn)],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    // The report is unchanged by the sending.
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        report["findings"]["blocklist"]["total_hits"]
            .as_u64()
            .unwrap()
            > 0
    );

    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        3,
        "{:#?}",
        reqs.iter().map(|r| r.items.len()).collect::<Vec<_>>()
    );
    let (first, second, third) = (&reqs[0], &reqs[1], &reqs[2]);
    for r in &reqs {
        assert_eq!(r.header("content-type"), "application/json");
        assert_eq!(r.header("content-encoding"), "gzip");
    }
    // One batch with every finding, one Event each.
    assert_eq!(first.items.len(), n_alerts);
    assert!(first.items.iter().all(|e| invalid(e).is_none()));
    let kinds: Vec<&str> = first
        .items
        .iter()
        .map(|e| {
            e["data"]["baseData"]["properties"]["kind"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(kinds.iter().all(|k| *k == "blocklist"), "{kinds:?}");
    let p = &first.items[0]["data"]["baseData"]["properties"];
    for k in [
        "summary",
        "rule_id",
        "rule_name",
        "severity",
        "capture",
        "capture_time",
        "detail",
        "community_id",
    ] {
        assert!(p[k].is_string(), "property {k}: {p}");
    }
    assert_eq!(p["capture"], capture.to_str().unwrap());
    // 503: the same batch again, after Retry-After.
    assert_eq!(second.items, first.items);
    let waited = second.at - first.at;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After 1 not honoured: {waited:?}"
    );
    // 206: only items 0 and 3 (retriable), not 2 (refused).
    assert_eq!(
        third.items,
        vec![second.items[0].clone(), second.items[3].clone()]
    );

    let n = n_alerts;
    assert!(
        err.contains(&format!(
            "Azure Monitor: {} of {n} telemetry items accepted in 3 requests ({} items sent again)",
            n - 1,
            n + 2
        )),
        "{err}"
    );
    assert!(err.contains("1 rejected by the service"), "{err}");
    assert!(err.contains("109: Field 'name'"), "{err}");
    assert!(
        !err.contains(IKEY),
        "the instrumentation key was printed: {err}"
    );

    // --strict: undelivered findings make the exit status 1; the flag
    // instead of the variable.
    let refusing = Ingestion::start(vec![Box::new(|_: &[Value]| {
        (
            400,
            vec![],
            json!({"itemsReceived": 0, "itemsAccepted": 0, "errors": [{"index": 0, "statusCode": 400, "message": "Invalid instrumentation key"}]}),
        )
    })]);
    let o = pcaplens(
        &[
            "analyze",
            "--strict",
            "--monitor-conn-str",
            &refusing.conn(),
            "--blocklist",
            list.to_str().unwrap(),
            capture.to_str().unwrap(),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("HTTP 400: Invalid instrumentation key"),
        "{err}"
    );
    assert!(!err.contains(IKEY), "{err}");
    assert_eq!(refusing.requests().len(), 1, "a 400 is not retried");

    // A connection string without a key: a usage error that does not echo it.
    let o = pcaplens(
        &[
            "analyze",
            "--monitor-conn-str",
            "IngestionEndpoint=http://127.0.0.1:9;Secretish=abc",
            capture.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("InstrumentationKey") && !err.contains("Secretish=abc"),
        "{err}"
    );
}

/// `live`: findings as Events and, every --monitor-interval seconds, the
/// statistics as Metrics.
#[test]
fn azure_monitor_live_metrics_and_findings() {
    let dir = temp_dir("azure-monitor-live");
    let (capture, list) = blocklisted(&dir);
    let server = Ingestion::start(Vec::new());
    let o = pcaplens(
        &[
            "live",
            "-r",
            capture.to_str().unwrap(),
            "--realtime",
            "--monitor-interval",
            "1",
            "--blocklist",
            list.to_str().unwrap(),
        ],
        &[("AZURE_MONITOR_CONNECTION_STRING", &server.conn())],
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    let items: Vec<Value> = server
        .requests()
        .into_iter()
        .flat_map(|r| r.items)
        .collect();
    assert!(items.iter().all(|e| invalid(e).is_none()));
    let metric = |name: &str| -> Vec<f64> {
        items
            .iter()
            .filter(|e| e["data"]["baseData"]["metrics"][0]["name"] == name)
            .map(|e| {
                e["data"]["baseData"]["metrics"][0]["value"]
                    .as_f64()
                    .unwrap()
            })
            .collect()
    };
    let packets = metric("pcaplens.packets");
    assert!(packets.len() >= 3, "{packets:?}");
    assert!(packets.windows(2).all(|w| w[0] <= w[1]), "{packets:?}");
    for name in [
        "pcaplens.packets_per_second",
        "pcaplens.live_flows",
        "pcaplens.alerts",
        "pcaplens.drops.kernel",
        "pcaplens.drops.queue",
        "pcaplens.monitor.overflow",
    ] {
        assert_eq!(metric(name).len(), packets.len(), "{name}");
    }
    let events = items
        .iter()
        .filter(|e| e["name"] == "Microsoft.ApplicationInsights.Event")
        .count();
    assert!(events >= 5, "{events} events");
    assert!(err.contains("telemetry items accepted"), "{err}");
    assert!(!err.contains(IKEY));
}
