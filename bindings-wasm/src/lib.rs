//! # pcaplens-wasm
//!
//! The browser front of pcaplens: a thin wasm-bindgen binding of
//! `pcaplens-core` (in the style of ruff's `ruff_wasm`). It converts types and
//! maps errors; every fact comes from the core, so the same capture gives the
//! same report here as in the CLI (`pcaplens analyze --json`).
//!
//! JS surface (see `index.d.ts` in the built package):
//! - `new Analyzer(options?)`, `.feed(Uint8Array)`, `.progress()`, `.finish()` /
//!   `.finishJson()`: streaming analysis, for files read slice by slice.
//! - `analyze(bytes, options?)` / `analyzeJson(bytes, options?)`: one-shot.
//! - `optionNames()`, `optionDefaults()`: the analysis option keys (the core's,
//!   as Python's keywords and `pcaplens analyze --config`), with defaults and meanings.
//! - `generate(scenario, options?) → Uint8Array`: the core's seeded traffic generator.
//! - `sanitize(bytes, {key, …}) → Uint8Array` and the streaming `Sanitizer`:
//!   the core's keyed, length-preserving rewrite (`pcaplens sanitize`).
//! - `flowsCsv(flows)`: flow rows as the CLI's CSV.
//! - `evidence(capture | report, {key, budget?, focus?, sanitize?})`: the
//!   core's evidence pack for a language model (`pcaplens prepare`'s
//!   `ai_analysis_prompt.md`), keyed pseudonyms as `sanitize` with the same key.
//!
//! Reports cross the boundary as plain JS objects through serde-wasm-bindgen
//! (maps as objects, `None` as `null`), i.e. exactly what `JSON.parse` gives for
//! the CLI's JSON. `finishJson` returns the core's own pretty JSON text, byte
//! for byte the CLI's: JavaScript prints floats differently from serde_json
//! (`0` vs `0.0`), so only the text route is byte-exact.

use js_sys::{Error, Reflect};
use pcaplens_core::evidence::{
    self, mask::Identity, ByteUpperBound, Coverage, Diagnosis, EvidenceConfig, Focus,
};
use pcaplens_core::generate::{self, GenerateOptions, Scenario};
use pcaplens_core::sanitize::{PayloadPolicy, SanitizeConfig};
use pcaplens_core::{AnalyzerConfig, CaptureError, FlowSummary, Report};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const REPORT_TYPES: &str = include_str!("../report.d.ts");

/// Analysis options → [`AnalyzerConfig`], through the core's one mapping
/// ([`AnalyzerConfig::from_json`]): the options object becomes a JSON value
/// (properties set to `undefined` left out, as if absent) and the core
/// resolves shorthands (`idleTimeout`, `top`, …), nested tables (`{detect:
/// {scan: {windowSecs: 60}}}`), dotted keys and camelCase, and refuses
/// unknown keys and bad values with the same message as the Python front.
fn analyze_config(options: Option<JsValue>) -> Result<AnalyzerConfig, Error> {
    let value = match options.filter(|o| !o.is_null() && !o.is_undefined()) {
        None => serde_json::Value::Null,
        Some(options) => js_to_json("", &options)?,
    };
    AnalyzerConfig::from_json(&value).map_err(|e| typed_error("invalid_options", &e.to_string()))
}

/// A JS value as JSON: numbers that are whole (and safe) become integers.
fn js_to_json(key: &str, v: &JsValue) -> Result<serde_json::Value, Error> {
    use serde_json::Value;
    if v.is_null() || v.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = v.as_f64() {
        const SAFE: f64 = 9_007_199_254_740_991.0;
        return Ok(if n.fract() == 0.0 && n.abs() <= SAFE {
            if n >= 0.0 {
                Value::from(n as u64)
            } else {
                Value::from(n as i64)
            }
        } else {
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(n.to_string()))
        });
    }
    if let Some(s) = v.as_string() {
        return Ok(Value::String(s));
    }
    if js_sys::Array::is_array(v) {
        let arr: &js_sys::Array = v.unchecked_ref();
        return arr.iter().map(|item| js_to_json(key, &item)).collect();
    }
    // A plain object ({...} or Object.create(null)), not a typed array, Map, …
    let plain = v.is_object() && !v.is_function() && {
        let proto: JsValue = js_sys::Object::get_prototype_of(v).into();
        let object_proto: JsValue = js_sys::Object::get_prototype_of(&js_sys::Object::new()).into();
        proto.is_null() || proto == object_proto
    };
    if plain {
        let mut m = serde_json::Map::new();
        for k in js_sys::Object::keys(v.unchecked_ref::<js_sys::Object>()).iter() {
            let name = k.as_string().unwrap_or_default();
            let item = Reflect::get(v, &k).unwrap_or(JsValue::UNDEFINED);
            if item.is_undefined() {
                continue;
            }
            let path = if key.is_empty() {
                name.clone()
            } else {
                format!("{key}.{name}")
            };
            m.insert(name, js_to_json(&path, &item)?);
        }
        return Ok(Value::Object(m));
    }
    let what = if key.is_empty() {
        "analysis options must be an object (a table of keys)".to_string()
    } else {
        format!(
            "option {key} cannot be a {}",
            v.js_typeof().as_string().unwrap_or_default()
        )
    };
    Err(typed_error("invalid_options", &what))
}

/// Every analysis option name (dotted keys and the top-level shorthands);
/// camelCase spellings are accepted too.
#[wasm_bindgen(js_name = optionNames)]
pub fn option_names() -> Vec<String> {
    pcaplens_core::options::option_names()
        .into_iter()
        .map(String::from)
        .collect()
}

/// Every analysis option with its default value and meaning, as TOML (what
/// `pcaplens config --print-defaults` prints).
#[wasm_bindgen(js_name = optionDefaults)]
pub fn option_defaults() -> String {
    pcaplens_core::options::defaults_toml()
}

const GENERATE_KEYS: &[&str] = &["packets", "seed", "flows", "startTs"];
const SANITIZE_KEYS: &[&str] = &["key", "payload", "keepSpecialRanges", "timeShift"];
const EVIDENCE_KEYS: &[&str] = &["key", "budget", "focus", "sanitize"];

/// Sanitizer options, named like `pcaplens sanitize` flags. The key comes from
/// the caller (the core takes no randomness of its own).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SanitizeOptions {
    /// Secret key, at least 16 bytes (`--key-file`); a `Uint8Array` or array of numbers.
    key: Vec<u8>,
    /// `--payload`: "redact" (default), "keep" or "truncate".
    payload: Option<String>,
    /// `--keep-special-ranges`.
    keep_special_ranges: bool,
    /// `--time-shift`.
    time_shift: bool,
}

impl SanitizeOptions {
    fn from_js(options: Option<JsValue>) -> Result<SanitizeConfig, Error> {
        let Some(options) = options.filter(|o| !o.is_null()) else {
            return Err(typed_error(
                "invalid_options",
                "sanitize options need a `key` (Uint8Array of at least 16 random bytes)",
            ));
        };
        check_keys(&options, "sanitize", SANITIZE_KEYS)?;
        let opts: SanitizeOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| typed_error("invalid_options", &format!("sanitize options: {e}")))?;
        let mut cfg = SanitizeConfig::new(opts.key);
        if let Some(p) = opts.payload {
            cfg.payload_policy = p
                .parse::<PayloadPolicy>()
                .map_err(|e| typed_error("invalid_options", &e))?;
        }
        cfg.keep_special_ranges = opts.keep_special_ranges;
        cfg.time_shift = opts.time_shift;
        Ok(cfg)
    }
}

/// Refuses option names we do not know: serde-wasm-bindgen reads only the
/// fields a struct names, so a misspelt option would otherwise be ignored silently.
fn check_keys(options: &JsValue, what: &str, known: &[&str]) -> Result<(), Error> {
    if !options.is_object() {
        return Err(typed_error(
            "invalid_options",
            &format!("{what} options must be an object"),
        ));
    }
    for key in js_sys::Object::keys(options.unchecked_ref::<js_sys::Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(typed_error(
                "invalid_options",
                &format!(
                    "unknown {what} option `{key}`; expected one of: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// Generator options (`pcaplens generate`).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct GenOptions {
    packets: Option<u64>,
    seed: Option<u64>,
    flows: Option<u64>,
    /// Start of the capture in whole seconds since the epoch (nanoseconds do
    /// not fit a JS number).
    start_ts: Option<u64>,
}

/// How far a streaming analysis has got (for progress bars).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProgressJs {
    bytes_fed: u64,
    packets: u64,
    live_flows: u64,
}

/// Streaming analyzer: feed a capture in chunks of any size, then finish.
#[wasm_bindgen]
pub struct Analyzer {
    // `None` once finished, so a second `finish` is a clear error rather than
    // a use of a freed object.
    inner: Option<pcaplens_core::Analyzer>,
}

#[wasm_bindgen]
impl Analyzer {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "AnalyzeOptions | undefined")] options: Option<
            JsValue,
        >,
    ) -> Result<Analyzer, Error> {
        let cfg = analyze_config(options)?;
        let inner = pcaplens_core::Analyzer::new(cfg)
            .map_err(|e| typed_error("invalid_options", &e.to_string()))?;
        Ok(Analyzer { inner: Some(inner) })
    }

    /// Feed the next chunk. Throws a `CaptureError` (with `code`, `offset`) at
    /// the first problem in the capture; `finish()` still returns the report
    /// of everything before it, marked partial.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.live()?.feed(chunk).map_err(|e| capture_error(&e))
    }

    #[wasm_bindgen(unchecked_return_type = "Progress")]
    pub fn progress(&self) -> Result<JsValue, Error> {
        let inner = self.inner.as_ref().ok_or_else(finished_error)?;
        let p = inner.progress();
        to_js(&ProgressJs {
            bytes_fed: p.bytes_fed,
            packets: p.packets,
            live_flows: p.live_flows,
        })
    }

    /// End of input: the report as a plain object (as `JSON.parse` of the CLI's JSON).
    #[wasm_bindgen(unchecked_return_type = "Report")]
    pub fn finish(&mut self) -> Result<JsValue, Error> {
        let report = self.take()?.finish();
        to_js(&report)
    }

    /// End of input: the report as pretty JSON text, byte-identical to
    /// `pcaplens analyze --json` (without the trailing newline).
    #[wasm_bindgen(js_name = finishJson)]
    pub fn finish_json(&mut self) -> Result<String, Error> {
        Ok(self.take()?.finish().to_json_pretty())
    }
}

impl Analyzer {
    fn live(&mut self) -> Result<&mut pcaplens_core::Analyzer, Error> {
        self.inner.as_mut().ok_or_else(finished_error)
    }

    fn take(&mut self) -> Result<pcaplens_core::Analyzer, Error> {
        self.inner.take().ok_or_else(finished_error)
    }
}

/// The packets of one flow, picked out of a capture by Community ID (the
/// page's flow detail): feed the capture again in chunks, then `finish`.
#[wasm_bindgen]
pub struct FlowPacketScan {
    inner: Option<pcaplens_core::flow_packets::FlowPacketScan>,
}

#[wasm_bindgen]
impl FlowPacketScan {
    /// `communityId`: the flow's Community ID; `max`: the most packets listed
    /// (the rest are only counted).
    #[wasm_bindgen(constructor)]
    pub fn new(community_id: &str, max: u32) -> FlowPacketScan {
        FlowPacketScan {
            inner: Some(pcaplens_core::flow_packets::FlowPacketScan::new(
                community_id,
                max as usize,
            )),
        }
    }

    /// Feed the next chunk; false once the capture cannot be read further.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<bool, Error> {
        Ok(self.inner.as_mut().ok_or_else(finished_error)?.feed(chunk))
    }

    /// `{community_id, packets, total, error}`, as the core serialises it.
    #[wasm_bindgen(unchecked_return_type = "FlowPackets")]
    pub fn finish(&mut self) -> Result<JsValue, Error> {
        let inner = self.inner.take().ok_or_else(finished_error)?;
        to_js(&inner.finish())
    }
}

/// Streaming sanitizer: a keyed, length-preserving rewrite of a capture
/// (`pcaplens sanitize`). `feed` returns the sanitized bytes ready so far.
#[wasm_bindgen]
pub struct Sanitizer {
    inner: Option<pcaplens_core::sanitize::Sanitizer>,
}

#[wasm_bindgen]
impl Sanitizer {
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "SanitizeOptions")] options: Option<JsValue>,
    ) -> Result<Sanitizer, Error> {
        let cfg = SanitizeOptions::from_js(options)?;
        let inner = pcaplens_core::sanitize::Sanitizer::new(cfg)
            .map_err(|e| typed_error("invalid_options", &e.to_string()))?;
        Ok(Sanitizer { inner: Some(inner) })
    }

    /// Sanitize the next chunk; returns the output bytes it completed (maybe
    /// empty). Throws a `CaptureError` at the first problem in the capture;
    /// the bytes returned before it are a valid capture of the frames before it.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, Error> {
        let inner = self.inner.as_mut().ok_or_else(finished_error)?;
        let mut out = Vec::with_capacity(chunk.len());
        inner.feed(chunk, &mut out).map_err(|e| capture_error(&e))?;
        Ok(out)
    }

    /// End of input: what was rewritten (counters, distinct identifiers, error).
    #[wasm_bindgen(unchecked_return_type = "SanitizeSummary")]
    pub fn finish(&mut self) -> Result<JsValue, Error> {
        let mut inner = self.inner.take().ok_or_else(finished_error)?;
        to_js(&inner.finish())
    }
}

/// Sanitize a whole capture held in memory; returns the sanitized capture.
/// A damaged capture is not an error here: the output covers the frames
/// before the damage (use `Sanitizer` to learn where it stopped).
#[wasm_bindgen]
pub fn sanitize(
    bytes: &[u8],
    #[wasm_bindgen(unchecked_param_type = "SanitizeOptions")] options: Option<JsValue>,
) -> Result<Vec<u8>, Error> {
    let cfg = SanitizeOptions::from_js(options)?;
    pcaplens_core::sanitize::sanitize_bytes(bytes, cfg)
        .map(|(out, _, _)| out)
        .map_err(|e| typed_error("invalid_options", &e.to_string()))
}

/// Analyse a whole capture held in memory. Never throws for a bad capture:
/// the problem is in `report.status.error`.
#[wasm_bindgen(unchecked_return_type = "Report")]
pub fn analyze(
    bytes: &[u8],
    #[wasm_bindgen(unchecked_param_type = "AnalyzeOptions | undefined")] options: Option<JsValue>,
) -> Result<JsValue, Error> {
    to_js(&analyze_report(bytes, options)?)
}

/// Like `analyze`, as the core's pretty JSON text (the CLI's `--json` output).
#[wasm_bindgen(js_name = analyzeJson)]
pub fn analyze_json(
    bytes: &[u8],
    #[wasm_bindgen(unchecked_param_type = "AnalyzeOptions | undefined")] options: Option<JsValue>,
) -> Result<String, Error> {
    Ok(analyze_report(bytes, options)?.to_json_pretty())
}

fn analyze_report(bytes: &[u8], options: Option<JsValue>) -> Result<Report, Error> {
    let cfg = analyze_config(options)?;
    pcaplens_core::analyze_bytes(bytes, cfg)
        .map_err(|e| typed_error("invalid_options", &e.to_string()))
}

/// A seeded, deterministic synthetic capture (pcap bytes) of one scenario:
/// `normal`, `tcp-resets`, `retransmissions`, `dns-failures`, `http-errors`,
/// `port-scan`, `long-lived`, `blocklisted`, `http-odd-port`,
/// `non-http-port80`, `mixed`.
#[wasm_bindgen]
pub fn generate(
    scenario: &str,
    #[wasm_bindgen(unchecked_param_type = "GenerateOptions | undefined")] options: Option<JsValue>,
) -> Result<Vec<u8>, Error> {
    let scenario: Scenario = scenario
        .parse()
        .map_err(|e: generate::GenerateError| typed_error("invalid_options", &e.to_string()))?;
    let opts: GenOptions = match options.filter(|o| !o.is_null()) {
        None => GenOptions::default(),
        Some(options) => {
            check_keys(&options, "generate", GENERATE_KEYS)?;
            serde_wasm_bindgen::from_value(options)
                .map_err(|e| typed_error("invalid_options", &format!("generate options: {e}")))?
        }
    };
    let mut gen = GenerateOptions::default();
    if let Some(v) = opts.packets {
        gen.packets = v;
    }
    if let Some(v) = opts.seed {
        gen.seed = v;
    }
    gen.flows = opts.flows.or(gen.flows);
    if let Some(secs) = opts.start_ts {
        gen.start_ts_nanos = secs.saturating_mul(1_000_000_000);
    }
    generate::generate(scenario, &gen)
        .map(|g| g.bytes)
        .map_err(|e| typed_error("invalid_options", &e.to_string()))
}

/// Flow rows (`report.flows`) as CSV: a header line, then one line per flow —
/// the columns of `pcaplens analyze --flows FILE.csv` after its `file` column.
#[wasm_bindgen(js_name = flowsCsv)]
pub fn flows_csv(
    #[wasm_bindgen(unchecked_param_type = "FlowSummary[]")] flows: JsValue,
) -> Result<String, Error> {
    let flows: Vec<FlowSummary> = serde_wasm_bindgen::from_value(flows)
        .map_err(|e| typed_error("invalid_options", &format!("flow rows: {e}")))?;
    let mut out = FlowSummary::CSV_COLUMNS.join(",");
    out.push('\n');
    for f in &flows {
        out.push_str(&f.to_csv_row());
        out.push('\n');
    }
    Ok(out)
}

/// Evidence-pack options, named like the `pcaplens prepare` flags.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct EvidenceOptions {
    /// `--key-file`: exactly 32 bytes. Required unless `sanitize` is false: the
    /// core takes no randomness, and the page passes its session key so the
    /// pseudonyms match its sanitized capture.
    key: Option<Vec<u8>>,
    /// `--budget` (tokens of system prompt + evidence).
    budget: usize,
    /// `--focus`.
    focus: String,
    /// `false` is `--no-sanitize`.
    sanitize: bool,
}

impl Default for EvidenceOptions {
    fn default() -> Self {
        EvidenceOptions {
            key: None,
            budget: evidence::DEFAULT_TOKEN_BUDGET,
            focus: "general".into(),
            sanitize: true,
        }
    }
}

/// The evidence pack as JS sees it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EvidenceJs {
    /// `ai_analysis_prompt.md`.
    prompt: String,
    system_prompt: String,
    evidence: String,
    /// Upper bound of the prompt's tokens (see `tokenCounter`).
    tokens: usize,
    token_budget: usize,
    token_counter: &'static str,
    /// The coverage line, as in the prompt.
    coverage: String,
    coverage_counts: Coverage,
    focus: Focus,
    sanitized: bool,
    diagnoses: Vec<Diagnosis>,
    /// `pcaplens ask --offline`.
    diagnosis_text: String,
    /// Community ID → rank of the diagnosis item whose failures the flow's are
    /// part of (a scan's probes); only when not sanitized (real IDs).
    explained_by: std::collections::BTreeMap<String, u32>,
}

/// The core's evidence pack for a language model: byte for byte the
/// `ai_analysis_prompt.md` of `pcaplens prepare --key-file K` whenever both fit
/// the same blocks in the budget. `input` is the capture (`Uint8Array`,
/// analysed with default options as `prepare` does) or a finished report (the
/// object or the JSON text from `finishJson`).
///
/// Tokens are counted with the core's conservative default (one token per
/// byte, an upper bound for every byte-level BPE tokenizer): the real
/// tokenizers' tables are several MB, too big for the page. So the prompt never
/// exceeds the budget, but may hold fewer blocks than the CLI's for the same budget.
#[wasm_bindgen(unchecked_return_type = "EvidencePack")]
pub fn evidence(
    #[wasm_bindgen(unchecked_param_type = "Uint8Array | Report | string")] input: JsValue,
    #[wasm_bindgen(unchecked_param_type = "EvidenceOptions")] options: Option<JsValue>,
) -> Result<JsValue, Error> {
    let opts: EvidenceOptions = match options.filter(|o| !o.is_null()) {
        None => EvidenceOptions::default(),
        Some(options) => {
            check_keys(&options, "evidence", EVIDENCE_KEYS)?;
            serde_wasm_bindgen::from_value(options)
                .map_err(|e| typed_error("invalid_options", &format!("evidence options: {e}")))?
        }
    };
    let focus = Focus::parse(&opts.focus).ok_or_else(|| {
        typed_error(
            "invalid_options",
            &format!(
                "unknown focus `{}`; expected one of: {}",
                opts.focus,
                Focus::NAMES.join(", ")
            ),
        )
    })?;
    let key: Option<[u8; 32]> = match (opts.sanitize, opts.key) {
        (false, _) => None,
        (true, None) => return Err(typed_error(
            "invalid_options",
            "evidence options need a `key` (Uint8Array of 32 random bytes), or `sanitize: false`",
        )),
        (true, Some(k)) => Some(k.as_slice().try_into().map_err(|_| {
            typed_error(
                "invalid_options",
                &format!("the evidence key must be exactly 32 bytes, got {}", k.len()),
            )
        })?),
    };
    let report = report_from_js(input)?;
    // As `pcaplens prepare`: a file that is not a capture has no evidence;
    // a damaged one gives evidence of what came before the damage.
    if let Some(err) = report
        .status
        .error
        .as_ref()
        .filter(|e| e.code == "not_a_capture")
    {
        return Err(typed_error(&err.code, &err.message));
    }
    let cfg = EvidenceConfig {
        token_budget: opts.budget,
        focus,
        ..Default::default()
    };
    let explained_by = if key.is_none() {
        evidence::explained_by(&report, cfg.focus, cfg.max_diagnoses)
    } else {
        Default::default()
    };
    let pack = match key {
        // The sanitizer's pseudonyms, as `prepare` builds them.
        Some(key) => {
            let mut keyed = pcaplens_core::sanitize::Pseudonymizer::new(&key, false, false);
            evidence::build_pack(&report, &cfg, &ByteUpperBound, &mut keyed, true)
        }
        None => evidence::build_pack(&report, &cfg, &ByteUpperBound, &mut Identity, false),
    };
    to_js(&EvidenceJs {
        prompt: pack.prompt_markdown(),
        diagnosis_text: pack.diagnosis_text(),
        coverage: pack.coverage.line(),
        system_prompt: pack.system_prompt,
        evidence: pack.evidence,
        tokens: pack.tokens,
        token_budget: pack.token_budget,
        token_counter: "bytes (upper bound)",
        coverage_counts: pack.coverage,
        focus: pack.focus,
        sanitized: pack.sanitized,
        diagnoses: pack.diagnoses,
        explained_by,
    })
}

/// A capture's bytes (analysed with default options), a report object, or report JSON text.
fn report_from_js(input: JsValue) -> Result<Report, Error> {
    if let Some(bytes) = input.dyn_ref::<js_sys::Uint8Array>() {
        return analyze_report(&bytes.to_vec(), None);
    }
    // An object goes through its JSON text: maps keyed by numbers (HTTP status
    // codes, ports) are objects with string keys, which only serde_json reads back.
    let text = match input.as_string() {
        Some(text) => text,
        None => js_sys::JSON::stringify(&input)
            .ok()
            .and_then(|t| t.as_string())
            .ok_or_else(|| {
                typed_error(
                    "invalid_options",
                    "evidence input must be a capture (Uint8Array), a report or its JSON text",
                )
            })?,
    };
    serde_json::from_str(&text)
        .map_err(|e| typed_error("invalid_options", &format!("report JSON: {e}")))
}

/// Library version (the report's `generator.version`).
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, Error> {
    // Maps as plain objects and `None` as `null`: the shape `JSON.parse` gives.
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    value
        .serialize(&ser)
        .map_err(|e| typed_error("internal", &format!("converting the result: {e}")))
}

/// One error mapping for the whole binding: a JS `Error` named after the
/// failure kind, with the core's stable `code` (and `offset` for captures).
fn typed_error(code: &str, message: &str) -> Error {
    let err = Error::new(message);
    err.set_name(if code == "invalid_options" {
        "OptionsError"
    } else {
        "PcaplensError"
    });
    // Reflect::set on a fresh Error object cannot fail.
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err
}

fn capture_error(e: &CaptureError) -> Error {
    let err = Error::new(&e.to_string());
    err.set_name("CaptureError");
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    let _ = Reflect::set(&err, &"offset".into(), &(e.offset() as f64).into());
    err
}

fn finished_error() -> Error {
    typed_error(
        "finished",
        "this Analyzer has already finished; create a new one",
    )
}
