//! The options of one analysis run: one serde type ([`AnalyzerConfig`]) and
//! the one mapping every front uses to build it ([`AnalyzerConfig::from_json`]).
//!
//! Every setting is a key with a documented default ([`OPTION_DOCS`]; `pcaplens
//! config --print-defaults` prints them as TOML, see [`defaults_toml`]). Keys
//! nest as the types do: `flow.idle_timeout_secs`, `detect.scan.window_secs`,
//! `anomaly.seed`. The fronts hand over a JSON value — the CLI its `--config`
//! TOML file and its flags, Python its keyword arguments, wasm its options
//! object — and the core does the rest, so all of them accept the same keys and
//! refuse the same mistakes with the same message:
//!
//! - a key may be written in `snake_case` or `camelCase` (`idleTimeout`);
//! - a key may be a dotted path (`"detect.scan.window_secs": 60`), at any level;
//! - a few shorthands at the top level stand for a nested key ([`ALIASES`]);
//!   `anomaly = false` (a boolean rather than a table) is `anomaly.enabled`;
//! - `top_n` also sets `anomaly.top_n` unless that is given too (one knob for
//!   every top-N list);
//! - `flows_limit = null` (Python's `None`) lists every flow;
//! - an unknown key is an error naming its full dotted path, as written, and
//!   the keys expected there; a bad value names its key.

use crate::anomaly::AnomalyConfig;
use crate::classify::ClassifyConfig;
use crate::detect::DetectConfig;
use crate::error::ConfigError;
use crate::flow::FlowConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Options of one analysis run. Everything that changes the output is here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzerConfig {
    pub flow: FlowConfig,
    /// Most flows listed in `Report::flows` (the rest are still counted).
    pub flows_limit: usize,
    /// Length of top-N lists (talkers, conversations).
    pub top_n: usize,
    /// Keep finished flows for [`crate::Analyzer::drain_flows`] (e.g. `--flows FILE`).
    /// Run plumbing, not an option key.
    #[serde(skip)]
    pub collect_flows: bool,
    pub detect: DetectConfig,
    /// Run the detectors (failures, findings). Off: statistics and flows only.
    pub detect_enabled: bool,
    pub anomaly: AnomalyConfig,
    /// Flow classification (`classify`, `live --classify`); not used by `analyze`.
    pub classify: ClassifyConfig,
}

/// The options type under its plain name.
pub type Options = AnalyzerConfig;

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            flow: FlowConfig::default(),
            flows_limit: 10_000,
            top_n: 10,
            collect_flows: false,
            detect: DetectConfig::default(),
            detect_enabled: true,
            anomaly: AnomalyConfig::default(),
            classify: ClassifyConfig::default(),
        }
    }
}

impl AnalyzerConfig {
    /// Length of every top-N list (talkers, conversations, anomalies): one
    /// knob, so every front maps its "top" option the same way.
    pub fn set_top_n(&mut self, n: usize) {
        self.top_n = n;
        self.anomaly.top_n = n;
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let at_least = |name: &'static str, value: u64, min: u64, unit: &str| {
            if value < min {
                Err(ConfigError::Invalid {
                    name,
                    detail: format!("must be at least {min}{unit}"),
                })
            } else {
                Ok(())
            }
        };
        at_least("flow.max_flows", self.flow.max_flows as u64, 1, "")?;
        at_least(
            "flow.idle_timeout_secs",
            self.flow.idle_timeout_secs,
            1,
            " second",
        )?;
        at_least("anomaly.trees", self.anomaly.trees as u64, 1, "")?;
        at_least(
            "anomaly.sample_size",
            self.anomaly.sample_size as u64,
            2,
            "",
        )?;
        at_least(
            "detect.quality.checksum_sample_every",
            self.detect.quality.checksum_sample_every,
            1,
            "",
        )?;
        self.classify
            .check()
            .map_err(|(name, detail)| ConfigError::Invalid { name, detail })?;
        Ok(())
    }

    /// The one mapping of every front: options as a JSON value (an object, or
    /// null for none) → the validated config. See the module documentation.
    pub fn from_json(options: &Value) -> Result<Self, ConfigError> {
        Self::from_layers([options])
    }

    /// Like [`AnalyzerConfig::from_json`] for layered options (e.g. a config
    /// file, then command-line flags): each layer is mapped alone, and a later
    /// layer's keys override an earlier one's.
    pub fn from_layers<'a>(
        layers: impl IntoIterator<Item = &'a Value>,
    ) -> Result<Self, ConfigError> {
        let mut merged = Value::Object(Map::new());
        for layer in layers {
            merge(&mut merged, normalize(layer)?);
        }
        let cfg: AnalyzerConfig =
            serde_path_to_error::deserialize(merged).map_err(|e| ConfigError::Value {
                key: e.path().to_string(),
                detail: format!("is invalid: {}", e.inner()),
            })?;
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Shorthand top-level keys (the names the fronts have always used) and the
/// key each stands for. `anomaly` given a boolean is `anomaly.enabled`.
pub const ALIASES: &[(&str, &str)] = &[
    ("idle_timeout", "flow.idle_timeout_secs"),
    ("max_flows", "flow.max_flows"),
    ("top", "top_n"),
    ("max_instances", "detect.max_instances"),
    ("anomaly_seed", "anomaly.seed"),
    ("per_packet_anomaly", "anomaly.per_packet"),
    ("long_conn_threshold", "detect.long_lived.min_duration_secs"),
    ("unusual_port_threshold", "detect.ports.max_ordinary_port"),
];

/// Every key (dotted path) with its meaning, tables included, in the order
/// `pcaplens config --print-defaults` prints them. A unit test keeps it equal
/// to the keys of the serialized default config.
pub const OPTION_DOCS: &[(&str, &str)] = &[
    ("flows_limit", "Most flows listed in the report's `flows` (all are counted); None in Python, null in JS: every flow"),
    ("top_n", "Length of the top-N lists (talkers, conversations); also sets anomaly.top_n unless that is given"),
    ("detect_enabled", "Run the detectors (failures, findings); false: statistics and flows only"),
    ("flow", "The flow table"),
    ("flow.idle_timeout_secs", "Seconds without a packet (capture time) after which a flow is finished (at least 1)"),
    ("flow.max_flows", "Most flows held at once; beyond it the longest-idle flows are finished early (at least 1)"),
    ("flow.closed_timeout_secs", "A TCP flow closed by a reset or a FIN each way ends after this many quiet seconds; 0: it waits for the idle timeout (`pcaplens live` uses 2)"),
    ("detect", "The detectors (failures and findings)"),
    ("detect.max_instances", "Most instances listed per failure class (totals are never capped)"),
    ("detect.tcp", "TCP failures"),
    ("detect.tcp.top_n", "Length of the slowest-handshakes and worst-flows lists"),
    ("detect.tcp.min_segments_for_rate", "Flows with fewer data segments are left out of the per-flow retransmission-rate list"),
    ("detect.tcp.max_rtt_samples", "Most handshake RTTs kept for the median and p95 (beyond it a uniform sample; count, min, max and slow stay exact); 0: all (`pcaplens live` keeps 100000)"),
    ("detect.dns", "DNS failures"),
    ("detect.dns.wait_secs", "A query with no response this many seconds after it (capture time) is unanswered"),
    ("detect.dns.retransmission_secs", "A repeated query within this many seconds is a retransmission (tshark: 5)"),
    ("detect.dns.max_pending", "Most open DNS transactions kept; the oldest are given up beyond"),
    ("detect.dns.top_names", "Length of the failing-names list"),
    ("detect.http", "HTTP/1.x failures"),
    ("detect.http.max_head_bytes", "Longest message head (bytes) reassembled across segments"),
    ("detect.http.max_outstanding", "Most outstanding requests kept per connection (pipelining depth)"),
    ("detect.tls", "TLS handshakes and alerts"),
    ("detect.tls.max_record_bytes", "Longest handshake/alert record (bytes) reassembled across segments"),
    ("detect.tls.max_names", "Most distinct names kept in the SNI and ALPN tables"),
    ("detect.quic", "QUIC (no options yet)"),
    ("detect.icmp", "ICMP errors"),
    ("detect.icmp.max_tracked_flows", "Most live flows remembered for tying quoted packets back to their flow"),
    ("detect.perf", "Performance findings"),
    ("detect.perf.slow_dns_ms", "A DNS response later than this many milliseconds is slow"),
    ("detect.perf.slow_http_ms", "An HTTP response later than this many milliseconds is slow"),
    ("detect.perf.slow_handshake_ms", "A TCP handshake (SYN to the ACK of the SYN/ACK) longer than this many milliseconds is slow"),
    ("detect.perf.high_retransmission_rate", "Flows retransmitting more than this share of their data segments are listed"),
    ("detect.scan", "Port scans and address sweeps"),
    ("detect.scan.vertical_min_ports", "A source probing at least this many ports of one host is a vertical scan"),
    ("detect.scan.horizontal_min_hosts", "A source probing one port on at least this many hosts is a horizontal scan"),
    ("detect.scan.sweep_min_hosts", "A source pinging at least this many hosts is a sweep"),
    ("detect.scan.window_secs", "The distinct targets must be reached within this many seconds"),
    ("detect.scan.max_sources", "Most scan sources tracked (memory bound)"),
    ("detect.scan.max_probes_per_source", "Most distinct probes kept per source (the rest are counted)"),
    ("detect.scan.max_listed", "Most ports or targets listed per finding (counts are never capped)"),
    ("detect.scan.retire_after_secs", "A source with no new probe for this many seconds is done: its scans are decided and its probes forgotten (and a busy source forgets probes older than the window that are in no scan); 0: kept to the end (`pcaplens live` uses 600)"),
    ("detect.blocklist", "Blocklist matches (`--blocklist FILE` adds entries from files)"),
    ("detect.blocklist.entries", "Blocklist entries: IP addresses, CIDR ranges and domains (a domain also matches its subdomains)"),
    ("detect.ports", "Servers on unusual ports"),
    ("detect.ports.max_ordinary_port", "Server ports at or below this are never flagged"),
    ("detect.ports.allow", "Ports above max_ordinary_port that are not flagged either"),
    ("detect.ports.max_servers", "Most (server, port) entries tracked; the rest are counted only"),
    ("detect.long_lived", "Long-lived connections"),
    ("detect.long_lived.min_duration_secs", "Flows lasting at least this many seconds are reported"),
    ("detect.mismatch", "Protocol / port mismatches"),
    ("detect.mismatch.http_ports", "Ports where plain HTTP is expected"),
    ("detect.mismatch.tls_ports", "Ports where TLS from the first byte is expected"),
    ("detect.mismatch.max_servers", "Most (server, kind) entries kept"),
    ("detect.quality", "Capture quality"),
    ("detect.quality.checksum_max_segment", "TCP/UDP checksums are verified on segments up to this many bytes"),
    ("detect.quality.checksum_sample_every", "Checksums are verified on one frame in this many (at least 1)"),
    ("detect.quality.duplicate_max_gap_micros", "Two identical packets at most this many microseconds apart are duplicates"),
    ("detect.quality.degraded_fraction", "Share of affected packets at which a quality check becomes \"degraded\""),
    ("detect.quality.poor_fraction", "Share of affected packets at which a quality check becomes \"poor\""),
    ("detect.bursts", "Bursts of resets or unanswered connection attempts (off unless a minimum is set; `pcaplens live` sets them)"),
    ("detect.bursts.window_secs", "Events of one host must fall within this many seconds to make a burst"),
    ("detect.bursts.min_resets", "TCP resets sent by one host within the window that make a burst; 0: off (`pcaplens live` uses 50)"),
    ("detect.bursts.min_unanswered_syns", "Connection attempts to one host left unanswered within the window that make a burst; 0: off (`pcaplens live` uses 20)"),
    ("detect.bursts.syn_answer_secs", "A SYN with nothing back for this many seconds is unanswered"),
    ("detect.bursts.max_hosts", "Most hosts and pending SYNs followed at once (memory bound)"),
    ("anomaly", "Anomaly scoring (Isolation Forest over per-flow features); `anomaly = false` turns it off"),
    ("anomaly.enabled", "Score flows for anomalies"),
    ("anomaly.trees", "Trees in the Isolation Forest (at least 1)"),
    ("anomaly.sample_size", "Rows drawn for each tree, the psi of the paper (at least 2)"),
    ("anomaly.seed", "Seed of every random choice (same seed, same scores)"),
    ("anomaly.top_n", "Flows (and packets) listed in the anomaly section"),
    ("anomaly.per_packet", "Also score packets (the report lists the top frames)"),
    ("anomaly.max_training_flows", "Most flow feature vectors kept for training (beyond it: reservoir sampling)"),
    ("anomaly.max_packets", "Most packets kept for per-packet scoring (beyond it: reservoir sampling)"),
    ("classify", "Flow classification (`pcaplens classify`, `live --classify`, `pcaplens.classify()`); 0 for a cap: no cap"),
    ("classify.flow_max_bytes", "Payload bytes kept per flow, both directions together, before it is classified (at least 1)"),
    ("classify.flow_timeout_secs", "Seconds without a packet (capture time for files, the clock live) after which a flow is classified (more than 0)"),
    ("classify.flow_max_flows", "Flows reassembled at once; beyond it the longest idle are classified early (at least 1)"),
    ("classify.confidence_threshold", "Suspicious verdicts at or above this confidence (0 to 1) are alerts"),
    ("classify.cache_size", "Verdicts cached (LRU keyed by SHA-256 of the prompt); 0: no cache"),
    ("classify.workers", "Model requests at once (at least 1)"),
    ("classify.queue_size", "Flows waiting for a worker; when full, files wait and live capture drops the flow (at least 1)"),
    ("classify.max_requests_per_minute", "Most model requests in any 60 seconds; beyond it flows are skipped (counted); 0: no cap"),
    ("classify.max_cost_usd", "Most USD spent on model calls (the price table of `ask`); beyond it flows are skipped (counted); 0: no cap"),
    ("classify.structured_output", "Ask the model for structured output (`response_format: json_schema`); false for servers that refuse it"),
    ("classify.leak_guard_max_originals", "Most original identifiers the leak guard remembers (memory bound over long live runs); flows whose originals no longer fit are classified by the rules, never sent"),
];

/// Every key the mapping accepts in its canonical spelling: the dotted keys
/// of [`OPTION_DOCS`] that hold values, then the shorthands of [`ALIASES`]
/// (each may also be written in camelCase).
pub fn option_names() -> Vec<&'static str> {
    let defaults = default_tree();
    OPTION_DOCS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !lookup(&defaults, k).is_some_and(Value::is_object))
        .chain(ALIASES.iter().map(|(a, _)| *a))
        .chain(std::iter::once("anomaly"))
        .collect()
}

fn default_tree() -> Value {
    serde_json::to_value(AnalyzerConfig::default()).unwrap_or(Value::Null)
}

fn lookup<'v>(tree: &'v Value, dotted: &str) -> Option<&'v Value> {
    dotted.split('.').try_fold(tree, |v, k| v.get(k))
}

/// `idleTimeout` → `idle_timeout` (snake_case stays as it is).
fn snake(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The keys expected directly under `prefix` (with the shorthands at the top).
fn expected_under(prefix: &str) -> String {
    let mut names: Vec<&str> = OPTION_DOCS
        .iter()
        .filter_map(|(k, _)| {
            let rest = if prefix.is_empty() {
                *k
            } else {
                k.strip_prefix(prefix)?.strip_prefix('.')?
            };
            (!rest.contains('.')).then_some(rest)
        })
        .collect();
    if prefix.is_empty() {
        names.extend(ALIASES.iter().map(|(a, _)| *a));
    }
    names.join(", ")
}

fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Check a leaf value against the type of its default; `key` is as written.
fn check_leaf(key: &str, canonical: &str, default: &Value, v: Value) -> Result<Value, ConfigError> {
    let bad = |detail: String| {
        Err(ConfigError::Value {
            key: key.to_string(),
            detail,
        })
    };
    if canonical == "flows_limit" && v.is_null() {
        return Ok(Value::from(usize::MAX as u64));
    }
    match default {
        Value::Bool(_) if v.is_boolean() => Ok(v),
        Value::Bool(_) => bad(format!("must be true or false, got {}", shown(&v))),
        Value::Number(n) if n.is_u64() => match &v {
            Value::Number(x) if x.is_u64() => Ok(v),
            Value::Bool(_) => bad("must be a non-negative integer, not a bool".into()),
            _ => bad(format!("must be a non-negative integer, got {}", shown(&v))),
        },
        Value::Number(_) => match v.as_f64() {
            Some(x) if x >= 0.0 && x.is_finite() => Ok(v),
            _ => bad(format!("must be a non-negative number, got {}", shown(&v))),
        },
        Value::Array(_) if v.is_array() => Ok(v),
        Value::Array(_) => bad(format!("must be a list, got {}", shown(&v))),
        _ => Ok(v),
    }
}

/// Put `v` at the canonical dotted `path` of `out`; a key given twice (under
/// two spellings) is an error.
fn put(
    out: &mut Map<String, Value>,
    path: &str,
    shown_key: &str,
    v: Value,
) -> Result<(), ConfigError> {
    let mut parts = path.split('.').peekable();
    let mut at = out;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            if at.contains_key(part) {
                return Err(ConfigError::Value {
                    key: shown_key.to_string(),
                    detail: format!("is given twice (as another spelling of {path})"),
                });
            }
            at.insert(part.to_string(), v);
            return Ok(());
        }
        // Only tables are ever inserted on the way to a leaf.
        at = match at
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()))
        {
            Value::Object(m) => m,
            _ => {
                return Err(ConfigError::Other(format!(
                    "option {shown_key}: {part} is not a table"
                )))
            }
        };
    }
    Ok(())
}

/// Map one layer of options to the canonical nested form: shorthands, camelCase
/// and dotted keys resolved, every key known, every value of the right type.
pub fn normalize(options: &Value) -> Result<Value, ConfigError> {
    let defaults = default_tree();
    let mut out = Map::new();
    match options {
        Value::Null => {}
        Value::Object(m) => walk(&mut out, "", "", m, &defaults)?,
        other => {
            return Err(ConfigError::Other(format!(
                "analysis options must be an object (a table of keys), got {}",
                shown(other)
            )))
        }
    }
    // One knob for every top-N list, unless anomaly.top_n is given itself.
    if let Some(top) = out.get("top_n").cloned() {
        if let Value::Object(a) = out
            .entry("anomaly")
            .or_insert_with(|| Value::Object(Map::new()))
        {
            a.entry("top_n").or_insert(top);
        }
    }
    Ok(Value::Object(out))
}

fn walk(
    out: &mut Map<String, Value>,
    prefix: &str,
    shown_prefix: &str,
    input: &Map<String, Value>,
    defaults: &Value,
) -> Result<(), ConfigError> {
    for (raw, v) in input {
        let (head, rest) = match raw.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (raw.as_str(), None),
        };
        let shown_key = join(shown_prefix, head);
        let name = snake(head);
        let mut canonical = join(prefix, &name);
        if prefix.is_empty() && rest.is_none() {
            if let Some((_, target)) = ALIASES.iter().find(|(a, _)| *a == name) {
                canonical = target.to_string();
            } else if name == "anomaly" && !v.is_object() {
                if !v.is_boolean() {
                    return Err(ConfigError::Value {
                        key: shown_key,
                        detail: format!(
                            "must be true or false, or a table of anomaly options, got {}",
                            shown(v)
                        ),
                    });
                }
                canonical = "anomaly.enabled".into();
            }
        }
        let unknown = |key: String| ConfigError::Unknown {
            key,
            expected: expected_under(prefix),
        };
        match lookup(defaults, &canonical) {
            Some(Value::Object(_)) => {
                let nested;
                let table = match (rest, v) {
                    (Some(rest), _) => {
                        nested = Map::from_iter([(rest.to_string(), v.clone())]);
                        &nested
                    }
                    (None, Value::Object(m)) => m,
                    (None, other) => {
                        return Err(ConfigError::Value {
                            key: shown_key,
                            detail: format!("must be a table of options, got {}", shown(other)),
                        })
                    }
                };
                walk(out, &canonical, &shown_key, table, defaults)?;
            }
            Some(default) if rest.is_none() => {
                let value = check_leaf(&shown_key, &canonical, default, v.clone())?;
                put(out, &canonical, &shown_key, value)?;
            }
            Some(_) | None => return Err(unknown(join(shown_prefix, raw))),
        }
    }
    Ok(())
}

/// Deep-merge `over` into `base`: tables merge key by key, values replace.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Every option with its default as TOML, each key after a comment saying
/// what it means: what `pcaplens config --print-defaults` prints. It parses
/// back to [`AnalyzerConfig::default`].
pub fn defaults_toml() -> String {
    let defaults = default_tree();
    let mut out = String::from(
        "# pcaplens analysis options: every key with its default value.\n\
         # Use with `pcaplens analyze --config FILE`; keep only the keys you change.\n\
         # Python keyword arguments and the wasm options object take the same keys\n\
         # (nested, or dotted: \"detect.scan.window_secs\"). See docs/options.md.\n",
    );
    let is_table = |k: &str| lookup(&defaults, k).is_some_and(Value::is_object);
    let parent = |k: &'static str| k.rsplit_once('.').map_or("", |(p, _)| p);
    let leaves_of = |out: &mut String, table: &str| {
        for (k, doc) in OPTION_DOCS {
            if parent(k) == table && !is_table(k) {
                let v = lookup(&defaults, k).cloned().unwrap_or(Value::Null);
                let name = k.rsplit('.').next().unwrap_or(k);
                out.push_str(&format!("\n# {doc}\n{name} = {}\n", toml_value(&v)));
            }
        }
    };
    leaves_of(&mut out, "");
    for (k, doc) in OPTION_DOCS {
        if is_table(k) {
            out.push_str(&format!("\n# {doc}\n[{k}]\n"));
            leaves_of(&mut out, k);
        }
    }
    out
}

/// A JSON scalar or list as a TOML value (JSON numbers, booleans, strings
/// and arrays are written the same way in TOML).
fn toml_value(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(toml_value).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys_of(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Object(m) = v {
            for (k, child) in m {
                let key = join(prefix, k);
                out.push(key.clone());
                keys_of(child, &key, out);
            }
        }
    }

    #[test]
    fn every_key_is_documented_and_every_documented_key_exists() {
        let mut keys = Vec::new();
        keys_of(&default_tree(), "", &mut keys);
        keys.sort();
        let mut documented: Vec<String> = OPTION_DOCS.iter().map(|(k, _)| k.to_string()).collect();
        documented.sort();
        assert_eq!(keys, documented);
        for (_, target) in ALIASES {
            assert!(lookup(&default_tree(), target).is_some(), "{target}");
        }
    }

    #[test]
    fn the_defaults_map_to_the_default_config() {
        assert_eq!(
            AnalyzerConfig::from_json(&Value::Null).unwrap(),
            AnalyzerConfig::default()
        );
        assert_eq!(
            AnalyzerConfig::from_json(&json!({})).unwrap(),
            AnalyzerConfig::default()
        );
        assert_eq!(
            AnalyzerConfig::from_json(&default_tree()).unwrap(),
            AnalyzerConfig::default()
        );
        let text = defaults_toml();
        for (k, _) in OPTION_DOCS {
            let name = k.rsplit('.').next().unwrap();
            assert!(
                text.contains(&format!("{name} = ")) || text.contains(&format!("[{k}]")),
                "{k}"
            );
        }
    }

    #[test]
    fn shorthands_camel_case_and_dotted_keys_are_the_same_keys() {
        let nested = AnalyzerConfig::from_json(&json!({
            "flow": {"idle_timeout_secs": 30},
            "detect": {"long_lived": {"min_duration_secs": 5}, "scan": {"window_secs": 9}},
            "top_n": 3,
        }))
        .unwrap();
        let short = AnalyzerConfig::from_json(&json!({
            "idleTimeout": 30,
            "long_conn_threshold": 5,
            "detect.scan.windowSecs": 9,
            "top": 3,
        }))
        .unwrap();
        assert_eq!(nested, short);
        assert_eq!(nested.flow.idle_timeout_secs, 30);
        assert_eq!(nested.anomaly.top_n, 3);
        let mut expected = AnalyzerConfig::default();
        expected.set_top_n(3);
        expected.flow.idle_timeout_secs = 30;
        expected.detect.long_lived.min_duration_secs = 5;
        expected.detect.scan.window_secs = 9;
        assert_eq!(nested, expected);
        let own = AnalyzerConfig::from_json(&json!({"top_n": 3, "anomaly": {"top_n": 7}})).unwrap();
        assert_eq!((own.top_n, own.anomaly.top_n), (3, 7));
        let off = AnalyzerConfig::from_json(&json!({"anomaly": false})).unwrap();
        assert!(!off.anomaly.enabled);
        let all = AnalyzerConfig::from_json(&json!({"flows_limit": null})).unwrap();
        assert_eq!(all.flows_limit, usize::MAX);
    }

    #[test]
    fn unknown_keys_are_named_by_their_full_path() {
        let err = |v: Value| AnalyzerConfig::from_json(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"detect": {"scan": {"vertical_min_portz": 3}}})),
            "unknown option 'detect.scan.vertical_min_portz'; expected one of: vertical_min_ports, \
             horizontal_min_hosts, sweep_min_hosts, window_secs, max_sources, \
             max_probes_per_source, max_listed, retire_after_secs"
        );
        assert!(err(json!({"detect.scan.verticalMinPortz": 3}))
            .starts_with("unknown option 'detect.scan.verticalMinPortz';"));
        assert!(err(json!({"flow_limit": 3}))
            .starts_with("unknown option 'flow_limit'; expected one of: flows_limit,"));
        assert!(err(json!({"top.x": 3})).starts_with("unknown option 'top.x';"));
        assert!(err(json!({"flows_limit": {"x": 1}})).contains("flows_limit"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = |v: Value| AnalyzerConfig::from_json(&v).unwrap_err().to_string();
        assert_eq!(
            err(json!({"top_n": -1})),
            "option top_n must be a non-negative integer, got -1"
        );
        assert_eq!(
            err(json!({"max_instances": true})),
            "option max_instances must be a non-negative integer, not a bool"
        );
        assert_eq!(
            err(json!({"flow": {"max_flows": 0}})),
            "invalid option flow.max_flows: must be at least 1"
        );
        assert!(
            err(json!({"detect": {"ports": {"max_ordinary_port": 70000}}}))
                .starts_with("option detect.ports.max_ordinary_port is invalid: ")
        );
        assert_eq!(
            err(json!({"detect": {"blocklist": {"entries": ["10.0.0.0/40"]}}})),
            "option detect.blocklist.entries is invalid: bad blocklist entry '10.0.0.0/40': \
             prefix length '40' is not 0..=32"
        );
        assert!(
            err(json!({"idle_timeout": 5, "flow": {"idle_timeout_secs": 6}}))
                .contains("given twice")
        );
        assert!(err(json!({"anomaly": 1})).starts_with("option anomaly must be true or false"));
        assert!(err(json!(3)).starts_with("analysis options must be an object"));
    }

    #[test]
    fn blocklist_entries_are_text() {
        let cfg = AnalyzerConfig::from_json(&json!({
            "detect": {"blocklist": {"entries": ["10.0.0.0/8", "Evil.Example.", "192.0.2.1"]}}
        }))
        .unwrap();
        let texts: Vec<String> = cfg
            .detect
            .blocklist
            .entries
            .iter()
            .map(|e| e.text())
            .collect();
        assert_eq!(texts, ["10.0.0.0/8", "evil.example", "192.0.2.1"]);
        assert_eq!(cfg.detect.blocklist.entries[1].source, "options:2");
    }

    #[test]
    fn later_layers_override_earlier_ones() {
        let file = json!({"flow": {"idle_timeout_secs": 30}, "top_n": 4});
        let flags = json!({"idle_timeout": 40});
        let cfg = AnalyzerConfig::from_layers([&file, &flags]).unwrap();
        assert_eq!(
            (cfg.flow.idle_timeout_secs, cfg.top_n, cfg.anomaly.top_n),
            (40, 4, 4)
        );
    }

    #[test]
    fn every_option_name_is_accepted() {
        let defaults = default_tree();
        for name in option_names() {
            let target = ALIASES
                .iter()
                .find(|(a, _)| *a == name)
                .map_or(name, |(_, t)| *t);
            let target = if name == "anomaly" {
                "anomaly.enabled"
            } else {
                target
            };
            let v = lookup(&defaults, target).cloned().unwrap();
            let one = Value::Object(Map::from_iter([(name.to_string(), v)]));
            let cfg = AnalyzerConfig::from_json(&one).unwrap();
            assert_eq!(cfg, AnalyzerConfig::default(), "{name}");
        }
    }
}
