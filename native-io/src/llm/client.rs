//! Chat completions over HTTP: one request shape for Azure OpenAI and
//! OpenAI-compatible servers, streaming (SSE) or not, with retries on 429 and
//! 5xx that honour `Retry-After` / `retry-after-ms`, and errors that say what
//! to fix.

use super::{pricing, AzureApi, LlmConfig, Provider};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub text: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// HTTP attempts made (1 = no retry).
    pub attempts: u32,
}

/// Longest wait we accept from a `Retry-After`.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

pub fn request_body(cfg: &LlmConfig, system: &str, user: &str) -> Value {
    let mut body = json!({
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ],
        "stream": cfg.stream,
    });
    match &cfg.provider {
        Provider::OpenAi { model, .. } => body["model"] = json!(model),
        Provider::Azure {
            deployment,
            api: AzureApi::V1,
            ..
        } => body["model"] = json!(deployment),
        Provider::Azure { .. } => {}
    }
    if cfg.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if pricing::is_reasoning_model(cfg.model()) {
        body["max_completion_tokens"] = json!(cfg.max_output_tokens);
    } else {
        body["max_tokens"] = json!(cfg.max_output_tokens);
        body["temperature"] = json!(0.2);
    }
    body
}

fn install_crypto_provider() {
    // Once per process; a second install fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Send the prompt; `on_delta` receives streamed text as it arrives.
pub async fn chat(
    cfg: &LlmConfig,
    system: &str,
    user: &str,
    on_delta: &mut dyn FnMut(&str),
) -> Result<Answer> {
    install_crypto_provider();
    let client = http_client(cfg)?;
    chat_with(&client, cfg, system, user, None, on_delta).await
}

/// The HTTP client for [`chat_with`] (one per worker: connections are reused).
pub fn http_client(cfg: &LlmConfig) -> Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .read_timeout(cfg.read_timeout)
        .build()
        .context("building the HTTP client")
}

/// [`chat`] on a given client, with an optional `response_format` (structured
/// output: a JSON schema the answer must follow).
pub async fn chat_with(
    client: &reqwest::Client,
    cfg: &LlmConfig,
    system: &str,
    user: &str,
    response_format: Option<&Value>,
    on_delta: &mut dyn FnMut(&str),
) -> Result<Answer> {
    let url = cfg.url();
    let mut body = request_body(cfg, system, user);
    if let Some(rf) = response_format {
        body["response_format"] = rf.clone();
    }
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let mut req = client.post(&url).json(&body);
        match (&cfg.provider, &cfg.api_key) {
            (Provider::Azure { .. }, Some(k)) => req = req.header("api-key", k.expose()),
            (Provider::OpenAi { .. }, Some(k)) => req = req.bearer_auth(k.expose()),
            (_, None) => {}
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if attempt <= cfg.max_retries && (e.is_connect() || e.is_timeout()) => {
                let wait = backoff(attempt);
                eprintln!(
                    "pcaplens: {} (attempt {attempt}); retrying in {:.1} s",
                    describe_transport(&e),
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(e) => bail!("{} at {}", describe_transport(&e), endpoint_label(cfg)),
        };
        let status = resp.status().as_u16();
        if status == 429 || (500..600).contains(&status) {
            if attempt <= cfg.max_retries {
                let wait = retry_after(resp.headers()).unwrap_or_else(|| backoff(attempt));
                eprintln!(
                    "pcaplens: the model endpoint answered HTTP {status} (attempt {attempt}); retrying in {:.1} s",
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            let text = resp.text().await.unwrap_or_default();
            bail!(
                "{} (gave up after {attempt} attempts)",
                explain_error(cfg, status, &text)
            );
        }
        if !(200..300).contains(&status) {
            let text = resp.text().await.unwrap_or_default();
            bail!("{}", explain_error(cfg, status, &text));
        }
        let mut answer = if cfg.stream {
            read_stream(cfg, resp, on_delta).await?
        } else {
            let v: Value = resp
                .json()
                .await
                .context("the model endpoint returned invalid JSON")?;
            let choice = &v["choices"][0];
            let text = choice["message"]["content"]
                .as_str()
                .unwrap_or("")
                .to_string();
            on_delta(&text);
            Answer {
                text,
                finish_reason: choice["finish_reason"].as_str().map(str::to_string),
                usage: parse_usage(&v["usage"]),
                attempts: 0,
            }
        };
        answer.attempts = attempt;
        if answer.finish_reason.as_deref() == Some("content_filter") {
            bail!(
                "the answer was stopped by the provider's content filter (finish_reason content_filter) \
                 after {} characters; try --focus with a narrower topic, or review the deployment's content filter policy",
                answer.text.len()
            );
        }
        if answer.text.trim().is_empty() {
            bail!(
                "the model returned an empty answer (finish_reason {}); try again, raise \
                 PCAPLENS_LLM_MAX_OUTPUT_TOKENS, or choose another model",
                answer.finish_reason.as_deref().unwrap_or("none")
            );
        }
        return Ok(answer);
    }
}

async fn read_stream(
    cfg: &LlmConfig,
    mut resp: reqwest::Response,
    on_delta: &mut dyn FnMut(&str),
) -> Result<Answer> {
    let mut answer = Answer::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut done = false;
    while !done {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => bail!(
                "the answer stream broke: {} (after {} characters)",
                describe_transport(&e),
                answer.text.len()
            ),
        };
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            let Some(data) = line.strip_prefix("data:") else {
                continue; // comments, event names, blank separators
            };
            let data = data.trim();
            if data == "[DONE]" {
                done = true;
                break;
            }
            let v: Value = serde_json::from_str(data)
                .with_context(|| format!("bad chunk in the answer stream: {data:.200}"))?;
            if let Some(err) = v.get("error") {
                bail!(
                    "{}",
                    explain_error(cfg, 200, &json!({"error": err}).to_string())
                );
            }
            if let Some(u) = parse_usage(&v["usage"]) {
                answer.usage = Some(u);
            }
            // Azure sends a first chunk with prompt_filter_results and no choices.
            if let Some(choice) = v["choices"].get(0) {
                if let Some(t) = choice["delta"]["content"].as_str() {
                    on_delta(t);
                    answer.text.push_str(t);
                }
                if let Some(r) = choice["finish_reason"].as_str() {
                    answer.finish_reason = Some(r.to_string());
                }
            }
        }
    }
    Ok(answer)
}

fn parse_usage(v: &Value) -> Option<Usage> {
    let p = v.get("prompt_tokens")?.as_u64()?;
    let c = v
        .get("completion_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(Usage {
        prompt_tokens: p,
        completion_tokens: c,
        total_tokens: v
            .get("total_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(p + c),
    })
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let d = if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    } else {
        // Seconds; an HTTP-date is rare here and falls back to backoff.
        Duration::from_secs_f64(get("retry-after")?.parse::<f64>().ok()?.max(0.0))
    };
    Some(d.min(MAX_RETRY_WAIT))
}

fn backoff(attempt: u32) -> Duration {
    let base_ms: u64 = std::env::var("PCAPLENS_LLM_BACKOFF_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    Duration::from_millis((base_ms << attempt.saturating_sub(1).min(6)).min(8000))
}

fn endpoint_label(cfg: &LlmConfig) -> String {
    match &cfg.provider {
        Provider::Azure { endpoint, .. } => format!("Azure OpenAI endpoint {endpoint}"),
        Provider::OpenAi { base_url, .. } => format!("OpenAI-compatible endpoint {base_url}"),
    }
}

fn describe_transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the model endpoint timed out".into()
    } else if e.is_connect() {
        "cannot connect to the model endpoint".into()
    } else {
        format!("HTTP error: {e}")
    }
}

/// A message that says what went wrong and what to change.
pub fn explain_error(cfg: &LlmConfig, status: u16, body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let err = &v["error"];
    let code = err["code"].as_str().unwrap_or("");
    let inner = err["innererror"]["code"].as_str().unwrap_or("");
    let server_msg = err["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(300).collect());
    let server_msg = match &cfg.api_key {
        Some(k) => k.scrub(&server_msg),
        None => server_msg,
    };
    let azure = matches!(cfg.provider, Provider::Azure { .. });
    let key_var = if azure {
        "AZURE_OPENAI_API_KEY"
    } else {
        "OPENAI_API_KEY"
    };
    let what = if status == 401 || status == 403 {
        if cfg.api_key.is_none() {
            format!("authentication required (HTTP {status}): set {key_var}")
        } else {
            format!(
                "authentication failed (HTTP {status}): the API key was rejected; check {key_var}"
            )
        }
    } else if code == "DeploymentNotFound" || (azure && status == 404) {
        format!(
            "Azure deployment {:?} not found (HTTP {status} {code}): pass the deployment name (not the model name) \
             with --model or AZURE_OPENAI_DEPLOYMENT, and check AZURE_OPENAI_ENDPOINT",
            cfg.model()
        )
    } else if status == 404 {
        format!(
            "model {:?} or path not found (HTTP 404): check --model and OPENAI_BASE_URL (it usually ends in /v1)",
            cfg.model()
        )
    } else if code == "content_filter" || inner == "ResponsibleAIPolicyViolation" {
        format!("the request was blocked by the provider's content filter (HTTP {status} content_filter)")
    } else if status == 429 {
        "rate limited (HTTP 429)".to_string()
    } else if status >= 500 {
        format!("the model endpoint failed (HTTP {status})")
    } else {
        format!("the model endpoint rejected the request (HTTP {status})")
    };
    format!("{what} at {}: {server_msg}", endpoint_label(cfg))
}
