//! Azure integrations (HTTP, CLI only; the core stays sans-IO):
//!
//! - [`table`]: a blocklist kept in an Azure Table (Table Storage or
//!   Azurite), read with Shared Key signing (hmac + sha2) or a SAS, page
//!   by page; merged with the `--blocklist` files.
//! - [`monitor`]: findings and live statistics sent to Azure Monitor
//!   (Application Insights ingestion, `v2.1/track`) from a background
//!   thread with a bounded buffer, never slowing the analysis.
//!
//! Connection strings and keys live in [`Secret`]s: never printed, never
//! logged, scrubbed from every server message shown.

pub mod monitor;
pub mod table;

pub use crate::llm::Secret;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `k=v;k=v` settings of a connection string, keys lower-cased (they are
/// case-insensitive, as the Azure SDKs read them). A value may hold `=`
/// (base64 keys, SAS tokens). Empty segments are skipped.
pub fn connection_settings(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, part) in s.split(';').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!(
                "setting {} is not KEY=VALUE (the connection string is `Key=value;Key=value`)",
                i + 1
            )
        })?;
        out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    Ok(out)
}

/// The value of a setting (key in lower case).
pub fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Now, in nanoseconds since the epoch (the wall clock).
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The HTTP client of the Azure integrations.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    // Once per process; a second install fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A one-thread async runtime for the blocking callers.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// A transport error in words (no URL with secrets in it: reqwest's own
/// message names the URL, so it is not shown).
pub fn describe_transport(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut root = e.source();
    let mut deepest = None;
    while let Some(s) = root {
        deepest = Some(s.to_string());
        root = s.source();
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "HTTP error"
    };
    match deepest {
        Some(d) => format!("{what} ({d})"),
        None => what.to_string(),
    }
}

/// `Retry-After` (seconds, or `retry-after-ms`), at most `max`.
pub fn retry_after(h: &reqwest::header::HeaderMap, max: Duration) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let d = if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::from_secs_f64(ms.max(0.0) / 1000.0)
    } else {
        Duration::from_secs_f64(get("retry-after")?.parse::<f64>().ok()?.max(0.0))
    };
    Some(d.min(max))
}

/// Percent-encoding of a query value (RFC 3986 unreserved kept).
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_keep_equals_signs_and_ignore_case() {
        let s = connection_settings("AccountName=a;accountkey=ab==;;TableEndpoint=http://x/y;")
            .unwrap();
        assert_eq!(setting(&s, "accountkey"), Some("ab=="));
        assert_eq!(setting(&s, "accountname"), Some("a"));
        assert_eq!(setting(&s, "tableendpoint"), Some("http://x/y"));
        assert!(connection_settings("novalue").is_err());
        assert_eq!(encode_query("a b/c"), "a%20b%2Fc");
    }
}
