//! Azure Monitor (Application Insights): findings as `Event` telemetry and
//! live statistics as `Metric` telemetry, sent as Application Insights
//! envelopes to `{IngestionEndpoint}/v2.1/track`.
//!
//! The analysis only ever calls [`Monitor::track_finding`] /
//! [`Monitor::track_metric`], which put the envelope in a bounded queue
//! without waiting (a full queue drops it and counts it: `overflow`). A
//! background thread takes batches from the queue (up to
//! [`MonitorSettings::max_batch`] items, or what came within
//! [`MonitorSettings::flush_interval`]), sends each as one gzip'd JSON array,
//! and follows the service's rules:
//!
//! - 200: all accepted;
//! - 206 (partial success): `errors[]` names the failed items by `index`;
//!   only those whose `statusCode` is retriable (408, 429, 439, 500, 503)
//!   are sent again, the others are rejected and counted;
//! - 408, 429, 439, 500, 503 and transport errors: the whole batch is sent
//!   again, after `Retry-After` when the service gives one, else an
//!   exponential backoff; at most [`MonitorSettings::max_attempts`] times;
//! - anything else (400, 401, 403, 404…): the batch is rejected, and the
//!   reason logged once.
//!
//! The instrumentation key goes only into the envelopes; it is never
//! printed nor logged (messages are scrubbed of it).

use super::{connection_settings, describe_transport, retry_after, setting, Secret};
use flate2::write::GzEncoder;
use flate2::Compression;
use pcaplens_core::engine::FindingEvent;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variables holding the connection string (the first set wins).
pub const CONNECTION_STRING_VARS: [&str; 2] = [
    "AZURE_MONITOR_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
];
/// The ingestion endpoint when the connection string names none.
pub const DEFAULT_INGESTION_ENDPOINT: &str = "https://dc.services.visualstudio.com";

/// Status codes after which a batch (or, in a 206, an item) is sent again.
pub fn is_retriable(status: u16) -> bool {
    matches!(status, 408 | 429 | 439 | 500 | 503)
}

/// An Application Insights connection string.
pub struct ConnectionString {
    pub instrumentation_key: Secret,
    /// No trailing slash.
    pub ingestion_endpoint: String,
}

impl std::fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionString")
            .field("instrumentation_key", &self.instrumentation_key)
            .field("ingestion_endpoint", &self.ingestion_endpoint)
            .finish()
    }
}

impl ConnectionString {
    /// Parse as the Azure SDKs do: `InstrumentationKey` (required);
    /// endpoint = `IngestionEndpoint`, else `https://{Location.}dc.{EndpointSuffix}`,
    /// else [`DEFAULT_INGESTION_ENDPOINT`]; `Authorization` may only be
    /// `ikey`; keys are case-insensitive, unknown keys ignored. Unlike the
    /// SDKs, an `http://` endpoint is kept as it is (a local collector).
    pub fn parse(s: &str) -> Result<ConnectionString, String> {
        let settings = connection_settings(s)?;
        let get = |k: &str| setting(&settings, k);
        if let Some(a) = get("authorization") {
            if !a.eq_ignore_ascii_case("ikey") {
                return Err("Authorization must be ikey (the only kind supported)".into());
            }
        }
        let key = get("instrumentationkey")
            .ok_or("it has no InstrumentationKey (copy the whole connection string from the Application Insights resource's overview)")?;
        let endpoint = match (get("ingestionendpoint"), get("endpointsuffix")) {
            (Some(e), _) => e.to_string(),
            (None, Some(suffix)) => {
                let location = get("location").map(|l| format!("{l}.")).unwrap_or_default();
                format!("https://{location}dc.{}", suffix.trim_start_matches('.'))
            }
            (None, None) => DEFAULT_INGESTION_ENDPOINT.to_string(),
        };
        let endpoint = endpoint.trim().trim_end_matches('/');
        let endpoint = if endpoint.contains("://") {
            endpoint.to_string()
        } else {
            format!("https://{endpoint}")
        };
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(format!(
                "the ingestion endpoint {endpoint} is not an http:// or https:// URL"
            ));
        }
        Ok(ConnectionString {
            instrumentation_key: Secret::new(key.to_string()),
            ingestion_endpoint: endpoint,
        })
    }

    /// From `--monitor-conn-str`, else the environment. `Ok(None)`: none given.
    pub fn from_args(flag: Option<&str>) -> Result<Option<ConnectionString>, String> {
        let (text, source) = match flag {
            Some(t) => (t.to_string(), "--monitor-conn-str"),
            None => match CONNECTION_STRING_VARS.iter().find_map(|v| {
                std::env::var(v)
                    .ok()
                    .filter(|t| !t.trim().is_empty())
                    .map(|t| (t, *v))
            }) {
                Some(x) => x,
                None => return Ok(None),
            },
        };
        ConnectionString::parse(&text)
            .map(Some)
            .map_err(|e| format!("{source}: not an Application Insights connection string: {e}"))
    }

    pub fn track_url(&self) -> String {
        format!("{}/v2.1/track", self.ingestion_endpoint)
    }
}

/// How the sender batches and retries.
#[derive(Clone, Debug)]
pub struct MonitorSettings {
    /// Envelopes held between the analysis and the sender; beyond it new
    /// ones are dropped and counted.
    pub buffer: usize,
    /// Most envelopes in one request.
    pub max_batch: usize,
    /// A batch goes out at the latest this long after its first envelope.
    pub flush_interval: Duration,
    /// Attempts per batch (the first included).
    pub max_attempts: u32,
    /// The first backoff; doubled on each attempt, at most a minute.
    pub backoff: Duration,
    /// `ai.cloud.role` and `ai.cloud.roleInstance`.
    pub role: String,
    pub role_instance: String,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        let backoff_ms = std::env::var("PCAPLENS_MONITOR_BACKOFF_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        MonitorSettings {
            buffer: 10_000,
            max_batch: 500,
            flush_interval: Duration::from_secs(5),
            max_attempts: 5,
            backoff: Duration::from_millis(backoff_ms),
            role: "pcaplens".into(),
            role_instance: hostname(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Counters of the sender (all in envelopes).
#[derive(Default, Debug)]
struct Counters {
    queued: AtomicU64,
    /// Dropped because the buffer was full.
    overflow: AtomicU64,
    accepted: AtomicU64,
    /// Refused by the service for good (non-retriable status).
    rejected: AtomicU64,
    /// Given up after the last attempt (or at shutdown).
    failed: AtomicU64,
    /// Sent again (items, summed over attempts).
    retried: AtomicU64,
    requests: AtomicU64,
}

/// What the sender did, at the end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub queued: u64,
    pub overflow: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub failed: u64,
    pub retried: u64,
    pub requests: u64,
    /// Envelopes still unsent when the shutdown deadline passed.
    pub unsent: u64,
    /// The last error, in words (no key in it).
    pub last_error: Option<String>,
}

impl Summary {
    pub fn line(&self) -> String {
        let mut s = format!(
            "Azure Monitor: {} of {} telemetry items accepted in {} requests ({} items sent again)",
            self.accepted, self.queued, self.requests, self.retried
        );
        for (n, what) in [
            (self.overflow, "dropped: the buffer was full"),
            (self.rejected, "rejected by the service"),
            (self.failed, "given up after retries"),
            (self.unsent, "unsent at exit"),
        ] {
            if n > 0 {
                s.push_str(&format!("; {n} {what}"));
            }
        }
        if let Some(e) = &self.last_error {
            s.push_str(&format!("; last error: {e}"));
        }
        s
    }

    /// Every item accepted (nothing dropped, rejected or lost).
    pub fn all_accepted(&self) -> bool {
        self.accepted == self.queued && self.overflow == 0
    }
}

struct Shared {
    counters: Counters,
    last_error: Mutex<Option<String>>,
    /// Set at shutdown: retries stop when they would go past it.
    deadline: Mutex<Option<Instant>>,
}

/// The Application Insights sender: a bounded queue and a background thread.
pub struct Monitor {
    tx: Option<SyncSender<Value>>,
    shared: Arc<Shared>,
    done: Receiver<()>,
    ikey: Secret,
    tags: Value,
}

impl Monitor {
    /// Start the sender thread.
    pub fn start(conn: ConnectionString, settings: MonitorSettings) -> Monitor {
        let (tx, rx) = sync_channel::<Value>(settings.buffer.max(1));
        let (done_tx, done) = sync_channel::<()>(1);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            last_error: Mutex::new(None),
            deadline: Mutex::new(None),
        });
        let tags = json!({
            "ai.cloud.role": settings.role,
            "ai.cloud.roleInstance": settings.role_instance,
            "ai.internal.sdkVersion": format!("pcaplens:{}", env!("CARGO_PKG_VERSION")),
        });
        let ikey = conn.instrumentation_key.clone();
        let worker = Worker {
            url: conn.track_url(),
            ikey: conn.instrumentation_key,
            settings,
            shared: Arc::clone(&shared),
        };
        std::thread::spawn(move || {
            worker.run(rx);
            let _ = done_tx.send(());
        });
        Monitor {
            tx: Some(tx),
            shared,
            done,
            ikey,
            tags,
        }
    }

    fn envelope(&self, name: &str, base_type: &str, base_data: Value) -> Value {
        json!({
            "name": format!("Microsoft.ApplicationInsights.{name}"),
            "time": ai_time(super::now_nanos()),
            "iKey": self.ikey.expose(),
            "tags": self.tags,
            "data": {"baseType": base_type, "baseData": base_data},
        })
    }

    /// Queue an envelope; never waits (a full buffer drops and counts it).
    fn push(&self, envelope: Value) {
        let c = &self.shared.counters;
        c.queued.fetch_add(1, Ordering::Relaxed);
        let Some(tx) = &self.tx else { return };
        match tx.try_send(envelope) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                c.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A finding as an `Event`: named by its signature, with the finding's
    /// fields as custom properties; `capture`: the file or interface.
    pub fn track_finding(&self, f: &FindingEvent, capture: &str) {
        let sig = pcaplens_core::eve::signature(f.kind, &f.detail);
        let alert = pcaplens_core::eve::alert_event(f);
        let mut p = Map::new();
        let mut put = |k: &str, v: String| {
            p.insert(k.to_string(), Value::String(truncate(v, 8192)));
        };
        put("kind", f.kind.to_string());
        put("summary", f.summary.clone());
        put("rule_id", sig.id.to_string());
        put("rule_name", sig.signature.to_string());
        put("rule_category", sig.category.to_string());
        put("severity", sig.severity.to_string());
        put("capture", capture.to_string());
        put(
            "capture_time",
            pcaplens_core::time::rfc3339(pcaplens_core::time::nanos_from_secs(f.ts)),
        );
        if f.frame > 0 {
            put("frame", f.frame.to_string());
        }
        if !f.community_id.is_empty() {
            put("community_id", f.community_id.clone());
        }
        for (eve_key, key) in [
            ("src_ip", "src_ip"),
            ("src_port", "src_port"),
            ("dest_ip", "dest_ip"),
            ("dest_port", "dest_port"),
            ("proto", "proto"),
            ("app_proto", "app_proto"),
        ] {
            match alert.get(eve_key) {
                Some(Value::String(s)) => put(key, s.clone()),
                Some(Value::Number(n)) => put(key, n.to_string()),
                _ => {}
            }
        }
        put("detail", f.detail.to_string());
        let base = json!({
            "ver": 2,
            "name": sig.signature,
            "properties": p,
            "measurements": {"severity": sig.severity},
        });
        self.push(self.envelope("Event", "EventData", base));
    }

    /// One metric value as a `Metric` (Application Insights stores one
    /// metric per item).
    pub fn track_metric(&self, name: &str, value: f64, capture: &str) {
        let base = json!({
            "ver": 2,
            "metrics": [{"name": name, "value": value, "count": 1}],
            "properties": {"capture": capture},
        });
        self.push(self.envelope("Metric", "MetricData", base));
    }

    /// Items dropped so far because the buffer was full.
    pub fn overflow(&self) -> u64 {
        self.shared.counters.overflow.load(Ordering::Relaxed)
    }

    /// Close the queue, let the sender finish what it holds (retries
    /// included) for at most `timeout`, and say what happened.
    pub fn finish(mut self, timeout: Duration) -> Summary {
        *self
            .shared
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + timeout);
        self.tx = None;
        let finished = self
            .done
            .recv_timeout(timeout + Duration::from_secs(1))
            .is_ok();
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = Summary {
            queued: get(&c.queued),
            overflow: get(&c.overflow),
            accepted: get(&c.accepted),
            rejected: get(&c.rejected),
            failed: get(&c.failed),
            retried: get(&c.retried),
            requests: get(&c.requests),
            unsent: 0,
            last_error: self
                .shared
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        if !finished {
            s.unsent = s
                .queued
                .saturating_sub(s.overflow + s.accepted + s.rejected + s.failed);
        }
        s
    }
}

/// Application Insights' time: UTC, 7 fraction digits (what .NET parses).
fn ai_time(nanos: i64) -> String {
    let s = pcaplens_core::time::rfc3339(nanos);
    format!("{}Z", &s[..27])
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The sender thread.
struct Worker {
    url: String,
    ikey: Secret,
    settings: MonitorSettings,
    shared: Arc<Shared>,
}

/// What one request came to.
enum Outcome {
    /// Done with these items (accepted or rejected for good).
    Done,
    /// Send these again (all of them, or a 206's retriable ones), after this wait.
    Retry(Vec<Value>, Option<Duration>),
}

impl Worker {
    fn run(self, rx: Receiver<Value>) {
        let (rt, client) = match (
            super::runtime(),
            super::http_client(Duration::from_secs(30)),
        ) {
            (Ok(rt), Ok(c)) => (rt, c),
            (Err(e), _) | (_, Err(e)) => {
                self.error(format!("Azure Monitor: {e}; no telemetry is sent"));
                // Drain so the counters say what was lost.
                for _ in rx.iter() {
                    self.shared.counters.failed.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
        };
        let mut batch: Vec<Value> = Vec::new();
        let mut open = true;
        while open || !batch.is_empty() {
            // Gather a batch: up to max_batch, or what comes within the
            // flush interval after its first item.
            let mut first_at: Option<Instant> = None;
            while open && batch.len() < self.settings.max_batch {
                let wait = match first_at {
                    Some(t) => {
                        (t + self.settings.flush_interval).saturating_duration_since(Instant::now())
                    }
                    None => Duration::from_secs(3600),
                };
                match rx.recv_timeout(wait) {
                    Ok(v) => {
                        first_at.get_or_insert_with(Instant::now);
                        batch.push(v);
                    }
                    Err(RecvTimeoutError::Timeout) if first_at.is_some() => break,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            }
            while !batch.is_empty() {
                let n = batch.len().min(self.settings.max_batch);
                let items: Vec<Value> = batch.drain(..n).collect();
                rt.block_on(self.send(&client, items));
                if open {
                    break;
                }
            }
        }
    }

    /// Log a problem (once while it repeats) and keep it as the last
    /// error of the summary.
    fn error(&self, msg: String) {
        let msg = self.ikey.scrub(&msg);
        let mut last = self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.as_deref() != Some(msg.as_str()) {
            crate::live_log::line(&format!("pcaplens: {msg}"));
        }
        *last = Some(msg);
    }

    /// Send one batch, with the retries the service asks for.
    async fn send(&self, client: &reqwest::Client, mut items: Vec<Value>) {
        let c = &self.shared.counters;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = self.attempt(client, &items).await;
            let (again, wait) = match outcome {
                Outcome::Done => return,
                Outcome::Retry(again, wait) => (again, wait),
            };
            let wait = wait.unwrap_or_else(|| self.backoff(attempt));
            let deadline = *self
                .shared
                .deadline
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let too_late = deadline.is_some_and(|d| Instant::now() + wait > d);
            if attempt >= self.settings.max_attempts || too_late {
                c.failed.fetch_add(again.len() as u64, Ordering::Relaxed);
                // The cause stays the last error; this says what came of it.
                crate::live_log::line(&format!(
                    "pcaplens: Azure Monitor: gave up on {} telemetry items after {attempt} attempts{}",
                    again.len(),
                    if too_late { " (exiting)" } else { "" }
                ));
                return;
            }
            c.retried.fetch_add(again.len() as u64, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            items = again;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.settings.backoff.as_millis() as u64;
        Duration::from_millis((base << attempt.saturating_sub(1).min(10)).min(60_000))
    }

    async fn attempt(&self, client: &reqwest::Client, items: &[Value]) -> Outcome {
        let c = &self.shared.counters;
        let body = match gzip_json(items) {
            Ok(b) => b,
            Err(e) => {
                c.failed.fetch_add(items.len() as u64, Ordering::Relaxed);
                self.error(format!("Azure Monitor: cannot compress a batch: {e}"));
                return Outcome::Done;
            }
        };
        c.requests.fetch_add(1, Ordering::Relaxed);
        let resp = client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(body)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            Err(e) => {
                self.error(format!(
                    "Azure Monitor: {} sending to {}",
                    describe_transport(&e),
                    self.url
                ));
                return Outcome::Retry(items.to_vec(), None);
            }
        };
        let status = resp.status().as_u16();
        let wait = retry_after(resp.headers(), Duration::from_secs(60));
        let text = resp.text().await.unwrap_or_default();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            200 => {
                c.accepted.fetch_add(items.len() as u64, Ordering::Relaxed);
                Outcome::Done
            }
            206 => {
                let errors = answer["errors"].as_array().cloned().unwrap_or_default();
                let mut again = Vec::new();
                let mut failed_idx = std::collections::BTreeSet::new();
                let mut rejected_msg = None;
                for e in &errors {
                    let Some(i) = e["index"].as_u64().map(|i| i as usize) else {
                        continue;
                    };
                    if i >= items.len() || !failed_idx.insert(i) {
                        continue;
                    }
                    let code = e["statusCode"].as_u64().unwrap_or(0) as u16;
                    if is_retriable(code) {
                        again.push(items[i].clone());
                    } else {
                        c.rejected.fetch_add(1, Ordering::Relaxed);
                        rejected_msg.get_or_insert_with(|| {
                            format!(
                                "HTTP {code}: {}",
                                e["message"].as_str().unwrap_or("no message")
                            )
                        });
                    }
                }
                let accepted = items.len() - failed_idx.len();
                c.accepted.fetch_add(accepted as u64, Ordering::Relaxed);
                if let Some(m) = rejected_msg {
                    self.error(format!(
                        "Azure Monitor refused {} telemetry items ({m})",
                        failed_idx.len() - again.len()
                    ));
                }
                if again.is_empty() {
                    Outcome::Done
                } else {
                    Outcome::Retry(again, wait)
                }
            }
            s if is_retriable(s) => Outcome::Retry(items.to_vec(), wait),
            s => {
                c.rejected.fetch_add(items.len() as u64, Ordering::Relaxed);
                let why = answer["errors"][0]["message"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| text.chars().take(200).collect());
                let hint = match s {
                    400 => " (is the InstrumentationKey right?)",
                    401 | 403 => " (the resource may require Entra ID authentication, which pcaplens does not do: allow local authentication)",
                    404 => " (is the IngestionEndpoint right?)",
                    _ => "",
                };
                self.error(format!(
                    "Azure Monitor refused {} telemetry items: HTTP {s}: {why}{hint}",
                    items.len()
                ));
                Outcome::Done
            }
        }
    }
}

fn gzip_json(items: &[Value]) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(items)?;
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::default());
    gz.write_all(&json)?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_as_the_sdks_read_them() {
        let c = ConnectionString::parse(
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/",
        )
        .unwrap();
        assert_eq!(
            c.track_url(),
            "https://westeurope-5.in.applicationinsights.azure.com/v2.1/track"
        );
        assert_eq!(
            c.instrumentation_key.expose(),
            "00000000-0000-0000-0000-000000000001"
        );
        let s =
            ConnectionString::parse("instrumentationkey=k;EndpointSuffix=ai.contoso.com").unwrap();
        assert_eq!(s.ingestion_endpoint, "https://dc.ai.contoso.com");
        let l = ConnectionString::parse(
            "InstrumentationKey=k;EndpointSuffix=ai.contoso.com;Location=westus2",
        )
        .unwrap();
        assert_eq!(l.ingestion_endpoint, "https://westus2.dc.ai.contoso.com");
        let o = ConnectionString::parse(
            "InstrumentationKey=k;EndpointSuffix=ai.contoso.com;IngestionEndpoint=http://127.0.0.1:9",
        )
        .unwrap();
        assert_eq!(o.track_url(), "http://127.0.0.1:9/v2.1/track");
        let d = ConnectionString::parse("InstrumentationKey=k").unwrap();
        assert_eq!(d.ingestion_endpoint, DEFAULT_INGESTION_ENDPOINT);
        assert!(ConnectionString::parse("IngestionEndpoint=https://x").is_err());
        assert!(ConnectionString::parse("InstrumentationKey=k;Authorization=aad").is_err());
        let e = ConnectionString::parse("InstrumentationKey=secret-key;Broken")
            .err()
            .unwrap();
        assert!(!e.contains("secret-key"), "{e}");
        assert!(!format!("{d:?}").contains("=k"));
    }

    /// A sender stuck on a server that never answers: the analysis side
    /// never waits, the full buffer's overflow is counted, and the end
    /// comes at the deadline with what was left unsent.
    #[test]
    fn a_full_buffer_drops_and_counts_without_waiting() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let conn = ConnectionString::parse(&format!(
            "InstrumentationKey=k;IngestionEndpoint=http://{}",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        let settings = MonitorSettings {
            buffer: 4,
            max_batch: 2,
            flush_interval: Duration::from_millis(10),
            ..MonitorSettings::default()
        };
        let m = Monitor::start(conn, settings);
        let t = Instant::now();
        for i in 0..200 {
            m.track_metric("x", i as f64, "test");
        }
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        assert!(m.overflow() >= 190, "{}", m.overflow());
        let s = m.finish(Duration::from_millis(200));
        assert_eq!(s.queued, 200);
        assert_eq!(s.accepted, 0);
        assert!(s.overflow + s.unsent + s.failed == 200, "{s:?}");
        assert!(
            s.line().contains("dropped: the buffer was full"),
            "{}",
            s.line()
        );
        drop(listener);
    }

    #[test]
    fn times_have_seven_fraction_digits() {
        assert_eq!(
            ai_time(1_796_644_238_123_456_789),
            "2026-12-07T11:50:38.1234567Z"
        );
    }
}
