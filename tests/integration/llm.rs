//! LLM root-cause analysis: the evidence pack (leaks, budget, diagnosis on
//! injected faults) and `pcaplens ask` against a local server speaking the
//! Azure OpenAI and OpenAI chat-completions protocols.

use pcaplens_core::evidence::{self, ByteUpperBound, EvidenceConfig, Focus};
use pcaplens_core::sanitize::audit::audit_text;
use pcaplens_core::sanitize::{sanitize_bytes, SanitizeConfig};
use pcaplens_core::{analyze_bytes, AnalyzerConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, Once};

// ---------------------------------------------------------------- helpers

fn cli() -> PathBuf {
    static BUILD: Once = Once::new();
    let root = pcaplens_tests::repo_root();
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = Command::new(cargo)
            .args(["build", "-q", "-p", "pcaplens-cli"])
            .current_dir(&root)
            .status()
            .expect("run cargo build for the pcaplens binary");
        assert!(st.success(), "building pcaplens-cli failed");
    });
    root.join("target").join("debug").join("pcaplens")
}

#[derive(Clone, Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted HTTP/1.1 server: answers the i-th request with `responses[i]`
/// (raw bytes after the status line is built) and records every request.
struct MockServer {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r
}

fn sse(chunks: &[serde_json::Value]) -> String {
    let mut body = String::new();
    for c in chunks {
        body.push_str(&format!("data: {c}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    response("200 OK", &[("Content-Type", "text/event-stream")], &body)
}

impl MockServer {
    fn start(responses: Vec<String>) -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { break };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut headers = Vec::new();
                loop {
                    let mut l = String::new();
                    reader.read_line(&mut l).unwrap();
                    let l = l.trim_end().to_string();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                seen2.lock().unwrap().push(Seen {
                    request_line: request_line.trim_end().to_string(),
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                });
                let r = responses.get(i).cloned().unwrap_or_else(|| {
                    response("500 Internal Server Error", &[], "script exhausted")
                });
                let _ = stream.write_all(r.as_bytes());
                let _ = stream.flush();
            }
        });
        MockServer { base, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

const AZURE_KEY: &str = "azure-test-key-0123456789abcdef";
const OPENAI_KEY: &str = "sk-test-openai-key-9876543210";

/// A small capture with a few flows (from the corpus if present, else the
/// fixtures), written to a temp dir.
fn sample_capture() -> PathBuf {
    let p = pcaplens_tests::corpus_dir().join("chrissanders__synscan.pcapng");
    if p.exists() {
        return p;
    }
    pcaplens_tests::fixture_files()
        .into_iter()
        .next()
        .expect("no capture for the CLI tests: neither tests/corpus nor fixtures/*.pcap exist")
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcaplens-llm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run the CLI in a clean environment (no inherited model variables, no .env).
fn run_cli(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(cli());
    cmd.args(args).current_dir(dir);
    for k in [
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_API_VERSION",
        "AZURE_OPENAI_DEPLOYMENT",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_MODEL",
    ] {
        cmd.env_remove(k);
    }
    cmd.env("PCAPLENS_LLM_BACKOFF_MS", "10");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run pcaplens")
}

fn azure_env(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AZURE_OPENAI_ENDPOINT", base.to_string()),
        ("AZURE_OPENAI_API_KEY", AZURE_KEY.to_string()),
        ("AZURE_OPENAI_API_VERSION", "2024-10-21".to_string()),
    ]
}

fn env_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn delta(t: &str) -> serde_json::Value {
    serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]})
}

// ---------------------------------------------------------------- Azure protocol

#[test]
fn azure_streaming_request_shape_usage_and_report() {
    let stream = sse(&[
        // Azure's first chunk: prompt filter results, no choices.
        serde_json::json!({"choices": [], "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}),
        delta("## Summary\nThe server "),
        delta("refuses connections."),
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        serde_json::json!({"choices": [], "usage": {"prompt_tokens": 1500, "completion_tokens": 300, "total_tokens": 1800}}),
    ]);
    let server = MockServer::start(vec![stream]);
    let dir = tempdir("azure-stream");
    let env = azure_env(&server.base);
    let cap = sample_capture();
    let out = run_cli(
        &dir,
        &[
            "ask",
            cap.to_str().unwrap(),
            "--model",
            "gpt-4o-mini",
            "--focus",
            "errors",
        ],
        &env_refs(&env),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(
        stdout.contains("The server refuses connections."),
        "{stdout}"
    );
    assert!(!stderr.contains(AZURE_KEY) && !stdout.contains(AZURE_KEY));

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        r.request_line,
        "POST /openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21 HTTP/1.1"
    );
    assert_eq!(r.header("api-key"), Some(AZURE_KEY));
    assert!(r.header("authorization").is_none());
    assert_eq!(r.body["stream"], true);
    assert_eq!(r.body["stream_options"]["include_usage"], true);
    assert!(r.body["max_tokens"].as_u64().unwrap() > 0);
    assert!(r.body["temperature"].as_f64().unwrap() <= 0.5);
    let msgs = r.body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs[1]["role"], "user");
    let user = msgs[1]["content"].as_str().unwrap();
    assert!(user.contains("Coverage: covers"));
    assert!(msgs[0]["content"]
        .as_str()
        .unwrap()
        .contains("Concentrate on failures"));

    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("refuses connections."));
    assert!(
        report.contains("1500 prompt + 300 completion = 1800 total"),
        "{report}"
    );
    // gpt-4o-mini: 1500 × 0.15 + 300 × 0.60 per 1M = $0.000405
    assert!(report.contains("$0.000405"), "{report}");
}

/// The endpoint forms users paste: the v1 API base URL (the deployment goes
/// in the body as `model`, no api-version) and a deployment's whole target
/// URI from the portal (deployment and api-version taken from it; the
/// environment still wins).
#[test]
fn azure_v1_base_url_and_pasted_target_uri_reach_the_right_path() {
    let answer = |t: &str| {
        response(
            "200 OK",
            &[("Content-Type", "application/json")],
            &serde_json::json!({"id": "x", "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
            .to_string(),
        )
    };
    let server = MockServer::start(vec![answer("v1 ok"), answer("uri ok"), answer("env ok")]);
    let dir = tempdir("azure-forms");
    let cap = sample_capture();
    let ask = |endpoint: String, extra: &[(&'static str, &str)]| {
        let mut env = vec![
            ("AZURE_OPENAI_ENDPOINT", endpoint),
            ("AZURE_OPENAI_API_KEY", AZURE_KEY.to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let out = run_cli(
            &dir,
            &["ask", cap.to_str().unwrap(), "--no-stream"],
            &env_refs(&env),
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "stderr: {stderr}");
        stdout
    };
    let v1 = ask(
        format!("{}/openai/v1/", server.base),
        &[("AZURE_OPENAI_DEPLOYMENT", "prod-v1")],
    );
    assert!(v1.contains("v1 ok"), "{v1}");
    let uri = format!(
        "{}/openai/deployments/gpt-4o-prod/chat/completions?api-version=2025-01-01-preview",
        server.base
    );
    assert!(ask(uri.clone(), &[]).contains("uri ok"));
    assert!(ask(
        uri,
        &[
            ("AZURE_OPENAI_API_VERSION", "2024-10-21"),
            ("AZURE_OPENAI_DEPLOYMENT", "other")
        ]
    )
    .contains("env ok"));
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[0].request_line,
        "POST /openai/v1/chat/completions HTTP/1.1"
    );
    assert_eq!(seen[0].body["model"], "prod-v1");
    assert_eq!(seen[0].header("api-key"), Some(AZURE_KEY));
    assert_eq!(
        seen[1].request_line,
        "POST /openai/deployments/gpt-4o-prod/chat/completions?api-version=2025-01-01-preview HTTP/1.1"
    );
    assert!(seen[1].body.get("model").is_none(), "{}", seen[1].body);
    assert_eq!(
        seen[2].request_line,
        "POST /openai/deployments/other/chat/completions?api-version=2024-10-21 HTTP/1.1"
    );
}

#[test]
fn azure_retries_429_and_500_then_succeeds_without_streaming() {
    let ok = response(
        "200 OK",
        &[("Content-Type", "application/json")],
        &serde_json::json!({"id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "All good after retries."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
        .to_string(),
    );
    let server = MockServer::start(vec![
        response(
            "429 Too Many Requests",
            &[("Retry-After", "0"), ("Content-Type", "application/json")],
            r#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit."}}"#,
        ),
        response(
            "500 Internal Server Error",
            &[],
            r#"{"error":{"code":"InternalServerError","message":"boom"}}"#,
        ),
        ok,
    ]);
    let dir = tempdir("azure-retry");
    let mut env = azure_env(&server.base);
    env.push(("AZURE_OPENAI_DEPLOYMENT", "prod-gpt4o".into()));
    let cap = sample_capture();
    let out = run_cli(
        &dir,
        &["ask", cap.to_str().unwrap(), "--no-stream"],
        &env_refs(&env),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("All good after retries."));
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "one attempt + two retries");
    assert!(seen
        .iter()
        .all(|s| s.request_line.contains("/openai/deployments/prod-gpt4o/")));
    assert_eq!(seen[2].body["stream"], false);
    assert!(
        stderr.contains("HTTP 429") && stderr.contains("HTTP 500"),
        "{stderr}"
    );
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .contains("3 attempts"));
}

#[test]
fn azure_persistent_500_gives_up_after_retries() {
    let fail = response(
        "503 Service Unavailable",
        &[("Retry-After", "0")],
        r#"{"error":{"code":"ServiceUnavailable","message":"try later"}}"#,
    );
    let server = MockServer::start(vec![fail.clone(), fail.clone(), fail.clone(), fail]);
    let dir = tempdir("azure-500");
    let mut env = azure_env(&server.base);
    env.push(("AZURE_OPENAI_DEPLOYMENT", "d".into()));
    let cap = sample_capture();
    let out = run_cli(&dir, &["ask", cap.to_str().unwrap()], &env_refs(&env));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.seen().len(), 4, "default: 3 retries");
    assert!(stderr.contains("gave up after 4 attempts"), "{stderr}");
}

#[test]
fn azure_content_filter_error_reads_well() {
    // Azure's exact shape for a prompt blocked by the content filter.
    let body = serde_json::json!({"error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "type": null, "param": "prompt", "code": "content_filter", "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {"hate": {"filtered": false, "severity": "safe"},
                "jailbreak": {"filtered": true, "detected": true},
                "self_harm": {"filtered": false, "severity": "safe"},
                "sexual": {"filtered": false, "severity": "safe"},
                "violence": {"filtered": false, "severity": "safe"}}}}});
    let server = MockServer::start(vec![response(
        "400 Bad Request",
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )]);
    let dir = tempdir("azure-filter");
    let mut env = azure_env(&server.base);
    env.push(("AZURE_OPENAI_DEPLOYMENT", "d".into()));
    let out = run_cli(
        &dir,
        &["ask", sample_capture().to_str().unwrap()],
        &env_refs(&env),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("content filter"), "{stderr}");
    assert_eq!(server.seen().len(), 1, "a 400 is not retried");
}

#[test]
fn azure_stream_cut_by_content_filter_reads_well() {
    let server = MockServer::start(vec![sse(&[
        delta("Partial "),
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter",
            "content_filter_results": {"violence": {"filtered": true, "severity": "medium"}}}]}),
    ])]);
    let dir = tempdir("azure-filter-stream");
    let mut env = azure_env(&server.base);
    env.push(("AZURE_OPENAI_DEPLOYMENT", "d".into()));
    let out = run_cli(
        &dir,
        &["ask", sample_capture().to_str().unwrap()],
        &env_refs(&env),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("content filter") && stderr.contains("finish_reason content_filter"),
        "{stderr}"
    );
}

#[test]
fn azure_wrong_deployment_reads_well() {
    let body = r#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."}}"#;
    let server = MockServer::start(vec![response("404 Not Found", &[], body)]);
    let dir = tempdir("azure-404");
    let env = azure_env(&server.base);
    let out = run_cli(
        &dir,
        &[
            "ask",
            sample_capture().to_str().unwrap(),
            "--model",
            "no-such-deployment",
        ],
        &env_refs(&env),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("\"no-such-deployment\" not found")
            && stderr.contains("AZURE_OPENAI_DEPLOYMENT"),
        "{stderr}"
    );
}

#[test]
fn azure_missing_key_and_bad_key_read_well() {
    let dir = tempdir("azure-key");
    let out = run_cli(
        &dir,
        &["ask", sample_capture().to_str().unwrap(), "--model", "d"],
        &[("AZURE_OPENAI_ENDPOINT", "http://127.0.0.1:9")],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("AZURE_OPENAI_API_KEY is not set"),
        "{stderr}"
    );

    let body = r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#;
    let server = MockServer::start(vec![response("401 Unauthorized", &[], body)]);
    let env = azure_env(&server.base);
    let out = run_cli(
        &dir,
        &["ask", sample_capture().to_str().unwrap(), "--model", "d"],
        &env_refs(&env),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("the API key was rejected") && stderr.contains("AZURE_OPENAI_API_KEY"),
        "{stderr}"
    );
    assert!(!stderr.contains(AZURE_KEY) && !stdout.contains(AZURE_KEY));
}

#[test]
fn env_file_is_read() {
    let server = MockServer::start(vec![sse(&[delta("from dotenv")])]);
    let dir = tempdir("dotenv");
    std::fs::write(
        dir.join(".env"),
        format!("AZURE_OPENAI_ENDPOINT={}\nAZURE_OPENAI_API_KEY={AZURE_KEY}\nAZURE_OPENAI_DEPLOYMENT=envdep\n", server.base),
    )
    .unwrap();
    let out = run_cli(&dir, &["ask", sample_capture().to_str().unwrap()], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("from dotenv"));
    assert!(server.seen()[0]
        .request_line
        .contains("/openai/deployments/envdep/"));
}

// ---------------------------------------------------------------- OpenAI protocol

#[test]
fn openai_request_shape_bearer_and_model() {
    let server = MockServer::start(vec![sse(&[
        delta("Root cause: "),
        delta("a port scan."),
        serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        serde_json::json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}),
    ])]);
    let dir = tempdir("openai");
    let base = format!("{}/v1", server.base);
    let out = run_cli(
        &dir,
        &[
            "ask",
            sample_capture().to_str().unwrap(),
            "--model",
            "gpt-4o",
            "-o",
            "answer.md",
        ],
        &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", OPENAI_KEY)],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Root cause: a port scan."));
    let r = &server.seen()[0];
    assert_eq!(r.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
    assert!(r.header("api-key").is_none());
    assert_eq!(r.body["model"], "gpt-4o");
    assert_eq!(r.body["stream"], true);
    assert!(r.body.get("max_tokens").is_some());
    let report = std::fs::read_to_string(dir.join("answer.md")).unwrap();
    assert!(report.contains("100 prompt + 20 completion"));
}

#[test]
fn openai_reasoning_model_uses_max_completion_tokens() {
    let server = MockServer::start(vec![sse(&[delta("ok")])]);
    let dir = tempdir("openai-o4");
    let base = format!("{}/v1", server.base);
    let out = run_cli(
        &dir,
        &[
            "ask",
            sample_capture().to_str().unwrap(),
            "--model",
            "o4-mini",
        ],
        &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", OPENAI_KEY)],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let r = &server.seen()[0];
    assert!(r.body.get("max_completion_tokens").is_some());
    assert!(r.body.get("max_tokens").is_none() && r.body.get("temperature").is_none());
}

#[test]
fn openai_local_server_without_key_and_empty_answer() {
    // Ollama / llama.cpp need no key: no Authorization header is sent.
    let server = MockServer::start(vec![sse(&[
        serde_json::json!({"choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}]}),
    ])]);
    let dir = tempdir("openai-empty");
    let base = format!("{}/v1", server.base);
    let out = run_cli(
        &dir,
        &[
            "ask",
            sample_capture().to_str().unwrap(),
            "--model",
            "llama3.1:8b",
        ],
        &[("OPENAI_BASE_URL", &base)],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("empty answer"), "{stderr}");
    assert!(server.seen()[0].header("authorization").is_none());
}

#[test]
fn openai_bad_key_is_explained_and_never_echoed() {
    let body = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {OPENAI_KEY}.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}}}"#
    );
    let server = MockServer::start(vec![response("401 Unauthorized", &[], &body)]);
    let dir = tempdir("openai-401");
    let base = format!("{}/v1", server.base);
    let out = run_cli(
        &dir,
        &["ask", sample_capture().to_str().unwrap()],
        &[("OPENAI_BASE_URL", &base), ("OPENAI_API_KEY", OPENAI_KEY)],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("the API key was rejected; check OPENAI_API_KEY"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(OPENAI_KEY) && !stdout.contains(OPENAI_KEY),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- prepare / offline / unmask

#[test]
fn prepare_writes_every_file_and_ask_dir_unmasks() {
    let dir = tempdir("prepare");
    let key = dir.join("key.hex");
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let cap = sample_capture();
    let out = run_cli(
        &dir,
        &[
            "prepare",
            cap.to_str().unwrap(),
            "-o",
            "ev",
            "--key-file",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let ev = dir.join("ev");
    for f in [
        "summary.json",
        "errors_detailed.json",
        "conversations.json",
        "ai_analysis_prompt.md",
        "quick_stats.txt",
        "token_estimate.txt",
    ] {
        assert!(ev.join(f).is_file(), "missing {f}");
    }
    let est = std::fs::read_to_string(ev.join("token_estimate.txt")).unwrap();
    assert!(
        est.contains("gpt-4o-mini") && est.contains("o200k_base") && est.contains("as of"),
        "{est}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ev.join("summary.json")).unwrap()).unwrap();
    assert!(summary["prompt_tokens"].as_u64().unwrap() <= 8000);

    // Same key → same prompt.
    let out2 = run_cli(
        &dir,
        &[
            "prepare",
            cap.to_str().unwrap(),
            "-o",
            "ev2",
            "--key-file",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out2.status.success());
    assert_eq!(
        std::fs::read(ev.join("ai_analysis_prompt.md")).unwrap(),
        std::fs::read(dir.join("ev2").join("ai_analysis_prompt.md")).unwrap()
    );

    // The model answers with a pseudonym; --unmask maps it back locally.
    let table: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(ev.join("unmask_table.json")).unwrap())
            .unwrap();
    let (pseudo, real) = table
        .iter()
        .find(|(p, _)| p.parse::<std::net::IpAddr>().is_ok())
        .expect("an address pseudonym");
    let prompt = std::fs::read_to_string(ev.join("ai_analysis_prompt.md")).unwrap();
    assert!(!prompt.contains(real.as_str()));
    let server = MockServer::start(vec![sse(&[delta(&format!("Host {pseudo} is scanning."))])]);
    let env = azure_env(&server.base);
    let mut env = env_refs(&env);
    env.push(("AZURE_OPENAI_DEPLOYMENT", "d"));
    let out = run_cli(&dir, &["ask", ev.to_str().unwrap(), "--unmask"], &env);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("Host {real} is scanning.")),
        "{stdout}"
    );
    let report = std::fs::read_to_string(ev.join("report.md")).unwrap();
    assert!(report.contains(real.as_str()));
    // What was sent is the prepared evidence, still masked.
    let sent = server.seen()[0].body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!sent.contains(real.as_str()));

    // --offline calls nothing and prints the diagnosis.
    let out = run_cli(&dir, &["ask", ev.to_str().unwrap(), "--offline"], &[]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("Coverage: covers"), "{stdout}");
}

// ---------------------------------------------------------------- leaks and budget

fn check_no_leaks_and_budget(name: &str, bytes: &[u8]) {
    let report = analyze_bytes(bytes, AnalyzerConfig::default()).expect("analyze");
    // The originals are what the sanitiser replaces in this capture (every
    // address, MAC, name and secret its walkers find), and the pack masks
    // with the same pseudonymizer, so whatever it masks joins them too.
    let (_, _, mut ps) = sanitize_bytes(bytes, SanitizeConfig::new(vec![0x5a; 32])).unwrap();
    // Addresses the analysis saw where the sanitiser failed closed (damaged
    // frames) are originals as well.
    let mut extra = Vec::new();
    for f in &report.flows {
        extra.extend([f.orig_addr.clone(), f.resp_addr.clone()]);
    }
    extra.extend(report.summary.top_talkers.iter().map(|t| t.addr.clone()));
    for budget in [8000usize, 3000] {
        let cfg = EvidenceConfig {
            token_budget: budget,
            focus: Focus::General,
            ..Default::default()
        };
        let pack = evidence::build_pack(&report, &cfg, &ByteUpperBound, &mut ps, true);
        let mut originals = ps.originals().clone();
        for a in extra
            .iter()
            .filter_map(|a| a.parse::<std::net::IpAddr>().ok())
        {
            if ps.pseudonymize_ip(a) == a {
                continue; // 0.0.0.0, ::, broadcast: kept everywhere, not identifying
            }
            match a {
                std::net::IpAddr::V4(v) => originals.ipv4.insert(v.octets()),
                std::net::IpAddr::V6(v) => originals.ipv6.insert(v.octets()),
            };
        }
        let prompt = pack.prompt_markdown();
        let mut text = prompt.clone();
        text.push_str(&serde_json::to_string_pretty(&pack.failures_detail).unwrap());
        text.push_str(&serde_json::to_string_pretty(&pack.conversations).unwrap());
        let audit = audit_text(text.as_bytes(), &originals);
        assert!(
            audit.passed,
            "{name}: the prompt or detail files leak {:?} (of {} patterns), e.g. {:?}",
            audit.hits_by_form,
            audit.patterns,
            &audit.examples[..audit.examples.len().min(3)]
        );
        // ByteUpperBound ≥ any byte-level BPE count, so this holds for real tokenizers too.
        assert!(
            pack.tokens <= budget,
            "{name}: {} tokens > budget {budget}",
            pack.tokens
        );
        assert!(prompt.contains("Coverage: covers"));
    }
}

/// The same key file gives an address the same pseudonym in `pcaplens
/// sanitize`'s capture (as `analyze` reads it) and in `prepare`'s prompt.
#[test]
fn same_key_same_pseudonym_in_sanitized_capture_and_prompt() {
    let cap = pcaplens_tests::repo_root().join("fixtures/tcp-resets.pcap");
    assert!(cap.is_file(), "fixtures/tcp-resets.pcap is missing");
    let dir = tempdir("samekey");
    let key = dir.join("k.hex");
    std::fs::write(&key, format!("{}\n", "a7".repeat(32))).unwrap();
    let k = key.to_str().unwrap();
    let san = run_cli(
        &dir,
        &[
            "sanitize",
            cap.to_str().unwrap(),
            "-o",
            "s.pcap",
            "--key-file",
            k,
        ],
        &[],
    );
    assert_eq!(san.status.code(), Some(0), "{}", text(&san).1);
    let top = |file: &str| -> Vec<String> {
        let out = run_cli(&dir, &["analyze", file, "--json"], &[]);
        assert!(out.status.success(), "{}", text(&out).1);
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        r["summary"]["top_talkers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["addr"].as_str().unwrap().to_string())
            .collect()
    };
    let (orig, pseudo) = (top(cap.to_str().unwrap()), top("s.pcap"));
    assert!(!orig.is_empty() && orig.len() == pseudo.len());
    let prep = run_cli(
        &dir,
        &[
            "prepare",
            cap.to_str().unwrap(),
            "-o",
            "ev",
            "--key-file",
            k,
        ],
        &[],
    );
    assert!(prep.status.success(), "{}", text(&prep).1);
    let prompt = std::fs::read_to_string(dir.join("ev/ai_analysis_prompt.md")).unwrap();
    let table: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ev/unmask_table.json")).unwrap())
            .unwrap();
    // Talkers are ranked by traffic, which sanitising does not change: the
    // i-th original talker is the i-th sanitized one.
    let mut shown = 0;
    for (o, p) in orig.iter().zip(&pseudo) {
        assert_ne!(o, p, "an address kept its value");
        assert!(
            !prompt.contains(o.as_str()),
            "prompt shows the original {o}"
        );
        if prompt.contains(p.as_str()) {
            shown += 1;
            assert_eq!(table.get(p), Some(o), "unmask maps {p} back to {o}");
        }
    }
    assert!(
        shown > 0,
        "no sanitized talker {pseudo:?} appears in the prompt:\n{prompt}"
    );
    // Another key gives other pseudonyms.
    let other = dir.join("k2.hex");
    std::fs::write(&other, "5b".repeat(32)).unwrap();
    let prep2 = run_cli(
        &dir,
        &[
            "prepare",
            cap.to_str().unwrap(),
            "-o",
            "ev2",
            "--key-file",
            other.to_str().unwrap(),
        ],
        &[],
    );
    assert!(prep2.status.success());
    let prompt2 = std::fs::read_to_string(dir.join("ev2/ai_analysis_prompt.md")).unwrap();
    assert!(pseudo.iter().all(|p| !prompt2.contains(p.as_str())));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corpus_prompts_leak_no_identifier_and_fit_the_budget() {
    let files = pcaplens_tests::corpus_files();
    assert!(!files.is_empty());
    for p in files {
        let bytes = std::fs::read(&p).unwrap();
        check_no_leaks_and_budget(&p.display().to_string(), &bytes);
    }
}

#[test]
fn fixture_prompts_leak_no_identifier_and_fit_the_budget() {
    let files = pcaplens_tests::fixture_files();
    assert!(
        !files.is_empty(),
        "fixtures/*.pcap are missing (they land with the generator)"
    );
    for p in &files {
        let bytes = std::fs::read(p).unwrap();
        check_no_leaks_and_budget(&p.display().to_string(), &bytes);
    }
    // The audit can fail: an unmasked pack of the same capture is caught.
    let bytes = std::fs::read(&files[0]).unwrap();
    let report = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    let (_, _, ps) = sanitize_bytes(&bytes, SanitizeConfig::new(vec![0x5a; 32])).unwrap();
    let pack = evidence::build_pack(
        &report,
        &EvidenceConfig::default(),
        &ByteUpperBound,
        &mut evidence::mask::Identity,
        false,
    );
    let audit = audit_text(pack.prompt_markdown().as_bytes(), ps.originals());
    assert!(!audit.passed, "an unmasked prompt must fail the audit");
}

// ---------------------------------------------------------------- diagnosis on injected faults

/// The top diagnosis for a generator scenario names the fault and its endpoint.
/// Endpoints are the generator's documented constants (core/src/generate).
fn top_diagnosis(scenario: &str) -> evidence::rules::Finding {
    let path = pcaplens_tests::repo_root()
        .join("fixtures")
        .join(format!("{scenario}.pcap"));
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (fixtures land with the generator)", path.display()));
    let report = analyze_bytes(&bytes, AnalyzerConfig::default()).expect("analyze");
    let found = evidence::diagnose(&report, Focus::General);
    found
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{scenario}: no diagnosis at all"))
}

#[test]
fn scenario_tcp_resets_top_item_names_the_server() {
    let top = top_diagnosis("tcp-resets");
    assert_eq!(top.rule, "resets_from_server");
    assert_eq!(top.endpoint, "203.0.113.10:8443");
}

#[test]
fn scenario_dns_servfail_top_item_names_the_resolver() {
    let top = top_diagnosis("dns-failures");
    assert_eq!(top.rule, "dns_errors");
    assert!(top.endpoint.starts_with("10.0.0.53"), "{}", top.endpoint);
    let text = format!("{:?}", top.summary);
    assert!(
        text.contains("SERVFAIL") && text.contains("internal.example.org"),
        "{text}"
    );
}

#[test]
fn scenario_retransmissions_top_item_names_the_path() {
    let top = top_diagnosis("retransmissions");
    assert_eq!(top.rule, "retransmissions_on_path");
    assert!(
        top.endpoint.starts_with("198.51.100.20"),
        "{}",
        top.endpoint
    );
}

#[test]
fn scenario_http_503_top_item_names_the_server() {
    let top = top_diagnosis("http-errors");
    assert_eq!(top.rule, "http_errors");
    assert_eq!(top.endpoint, "203.0.113.50:80");
    assert!(format!("{:?}", top.summary).contains("HTTP 503"));
}

#[test]
fn scenario_port_scan_top_item_names_scanner_and_target() {
    let top = top_diagnosis("port-scan");
    assert_eq!(top.rule, "port_scan");
    assert_eq!(top.endpoint, "10.0.0.20");
    assert!(format!("{:?}", top.summary).contains("10.0.0.66"));
}
