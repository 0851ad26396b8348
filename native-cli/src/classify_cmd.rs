//! `pcaplens classify FILE…`: reassemble each flow's payload, sanitize it and
//! ask a model (Azure OpenAI or OpenAI-compatible) whether it is suspicious —
//! or, with no endpoint configured, the rule-based classifier.

use crate::classify_pipeline::{
    endpoint_from_env, feed_input, report_json, ClassifyOptions, FlowVerdict, Input, Pipeline,
    RunStats,
};
use crate::llm::LlmConfig;
use crate::options_args::OptionArgs;
use crate::prepare_cmd::read_key;
use anyhow::Result;
use clap::Args;
use pcaplens_core::classify::ClassifyConfig;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::PathBuf;

/// Options shared by `classify` and `live --classify`. The thresholds are
/// keys of the options' `classify` group (`--config`, `--set classify.KEY=V`);
/// a flag given here overrides them. Defaults: `docs/options.md`.
#[derive(Args, Debug, Clone, Default)]
pub struct ClassifyArgs {
    /// Payload bytes kept per flow (both directions) before it is classified [default: 2048]
    #[arg(long, value_name = "BYTES")]
    pub flow_max_bytes: Option<u64>,
    /// Seconds without a packet after which a flow is classified [default: 60]
    #[arg(long, value_name = "SECS")]
    pub flow_timeout: Option<f64>,
    /// Suspicious verdicts at or above this confidence are alerts [default: 0.6]
    #[arg(long, value_name = "X")]
    pub confidence_threshold: Option<f64>,
    /// Verdicts cached (LRU; keyed by SHA-256 of the prompt) [default: 1024]
    #[arg(long, value_name = "N")]
    pub cache_size: Option<u64>,
    /// Model requests at once [default: 4]
    #[arg(long, value_name = "N")]
    pub workers: Option<u64>,
    /// Flows waiting for a worker; live: when full, a flow is dropped (counted) [default: 256]
    #[arg(long, value_name = "N")]
    pub queue_size: Option<u64>,
    /// Most model requests in any minute; beyond it flows are skipped (counted)
    #[arg(long, value_name = "N")]
    pub max_requests_per_minute: Option<u32>,
    /// Most USD spent (price table of `ask`); beyond it flows are skipped (counted)
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Model (OpenAI) or deployment (Azure); default from the environment
    #[arg(long)]
    pub model: Option<String>,
    /// Use the rule-based classifier even when an endpoint is configured
    #[arg(long)]
    pub rules: bool,
    /// Do not ask for structured output (`response_format: json_schema`)
    #[arg(long)]
    pub no_structured_output: bool,
    /// Pseudonym key (64 hex digits or 32 bytes); default: a fresh one per run
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Flows tracked at once (beyond it the longest idle are classified early) [default: 100000]
    #[arg(long, value_name = "N")]
    pub flow_max_flows: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ClassifyCmdArgs {
    /// Capture files (pcap or pcapng)
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the JSON report (one verdict per classified flow, the run's statistics)
    #[arg(long)]
    pub json: bool,
    /// Print every flow (default: the suspicious ones and those not classified)
    #[arg(long)]
    pub all: bool,
    /// Drop flows when the queue is full (as live capture does) instead of waiting
    #[arg(long)]
    pub drop_when_busy: bool,
    #[command(flatten)]
    pub classify: ClassifyArgs,
    #[command(flatten)]
    pub options: OptionArgs,
}

impl ClassifyArgs {
    /// The flags as option keys (`classify.*`), to layer over `--config`.
    pub fn option_flags(&self) -> Map<String, Value> {
        let mut c = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                c.insert(k.to_string(), v);
            }
        };
        put("flow_max_bytes", self.flow_max_bytes.map(Value::from));
        put("flow_timeout_secs", self.flow_timeout.map(Value::from));
        put("flow_max_flows", self.flow_max_flows.map(Value::from));
        put(
            "confidence_threshold",
            self.confidence_threshold.map(Value::from),
        );
        put("cache_size", self.cache_size.map(Value::from));
        put("workers", self.workers.map(Value::from));
        put("queue_size", self.queue_size.map(Value::from));
        put(
            "max_requests_per_minute",
            self.max_requests_per_minute.map(Value::from),
        );
        put("max_cost_usd", self.max_cost.map(Value::from));
        if self.no_structured_output {
            put("structured_output", Some(Value::Bool(false)));
        }
        let mut m = Map::new();
        if !c.is_empty() {
            m.insert("classify".into(), Value::Object(c));
        }
        m
    }

    /// Options (from the resolved options' `classify` group), and the
    /// endpoint (None: rules). `Err`: a usage error (exit 2).
    pub fn resolve(
        &self,
        cfg: &ClassifyConfig,
        drop_when_full: bool,
    ) -> Result<(ClassifyOptions, Option<LlmConfig>), String> {
        if self.max_cost.is_some_and(|c| c.is_nan() || c <= 0.0) {
            return Err("--max-cost must be more than 0 (use --rules to spend nothing)".into());
        }
        if self.max_requests_per_minute == Some(0) {
            return Err("--max-requests-per-minute must be at least 1".into());
        }
        let key = read_key(self.key_file.as_deref()).map_err(|e| format!("{e:#}"))?;
        let opts = ClassifyOptions::from_config(cfg, key, drop_when_full);
        let llm = endpoint_from_env(self.model.as_deref(), self.rules, opts.max_cost)?;
        Ok((opts, llm))
    }
}

pub fn run(args: ClassifyCmdArgs) -> Result<u8> {
    let resolved = args
        .options
        .resolve(args.classify.option_flags())
        .and_then(|cfg| args.classify.resolve(&cfg.classify, args.drop_when_busy));
    let (opts, llm) = match resolved {
        Ok(x) => x,
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    match &llm {
        Some(c) => eprintln!(
            "pcaplens: classifying with {} ({} workers)",
            c.model(),
            opts.workers
        ),
        None => {
            eprintln!("pcaplens: no model endpoint configured: using the rule-based classifier")
        }
    }
    let mut pipe = Pipeline::new(opts, llm)?;
    let several = args.files.len() > 1;
    let mut status = crate::exit::OK;
    for (i, path) in args.files.iter().enumerate() {
        match feed_input(&mut pipe, several.then_some(i), Input::Path(path)) {
            Ok(None) => {}
            Ok(Some((e, any))) => {
                eprintln!("pcaplens: {}: {e}", path.display());
                status = status.max(if any {
                    crate::exit::PARTIAL
                } else {
                    crate::exit::BAD_INPUT
                });
            }
            Err(e) => {
                eprintln!("pcaplens: {}: {e}", path.display());
                status = crate::exit::BAD_INPUT;
            }
        }
    }
    let (verdicts, stats) = pipe.finish();
    let mut out = std::io::stdout().lock();
    if args.json {
        let files: Vec<String> = args.files.iter().map(|p| p.display().to_string()).collect();
        serde_json::to_writer_pretty(&mut out, &report_json(&files, &verdicts, &stats))?;
        writeln!(out)?;
    } else {
        print_table(&mut out, &verdicts, &stats, args.all)?;
    }
    Ok(status)
}

fn print_table(
    out: &mut dyn Write,
    verdicts: &[FlowVerdict],
    stats: &RunStats,
    all: bool,
) -> Result<()> {
    let shown: Vec<&FlowVerdict> = verdicts
        .iter()
        .filter(|v| all || v.alert || v.suspicious || v.status != "classified")
        .collect();
    writeln!(
        out,
        "{:>7}  {:<5} {:<45} {:<6} {:<22} {:>5} {:<5} reason",
        "frame", "proto", "client -> server", "svc", "category", "conf", "alert"
    )?;
    for v in &shown {
        let conv = format!("{} -> {}", v.client, v.server);
        let mut reason = v.reason.replace(['\n', '\r'], " ");
        if reason.chars().count() > 80 {
            reason = reason.chars().take(79).collect::<String>() + "…";
        }
        writeln!(
            out,
            "{:>7}  {:<5} {:<45} {:<6} {:<22} {:>5} {:<5} {}",
            v.first_frame,
            v.transport,
            conv,
            v.service.unwrap_or("-"),
            if v.status == "classified" {
                v.category.clone()
            } else {
                v.status.to_string()
            },
            if v.status == "classified" {
                format!("{:.2}", v.confidence)
            } else {
                "-".into()
            },
            if v.alert { "ALERT" } else { "" },
            reason
        )?;
    }
    if shown.len() < verdicts.len() {
        writeln!(
            out,
            "({} benign flows not shown; --all lists them)",
            verdicts.len() - shown.len()
        )?;
    }
    writeln!(
        out,
        "\n{} flows classified by {}{}: {} alerts, {} unclassified; cache {} hits / {} misses; \
         {} model requests ({} retries of unparsable answers); dropped (queue full) {}, \
         skipped (rate limit) {}, skipped (cost) {}, withheld by the leak guard {}{}",
        stats.flows_classified,
        stats.classifier,
        stats
            .model
            .as_ref()
            .map(|m| format!(" {m}"))
            .unwrap_or_default(),
        stats.alerts,
        stats.unclassified,
        stats.cache_hits,
        stats.cache_misses,
        stats.model_requests,
        stats.unparsable_retries,
        stats.dropped_queue_full,
        stats.skipped_rate_limit,
        stats.skipped_cost,
        stats.withheld_leak_guard,
        stats
            .cost_usd
            .map(|c| format!("; cost ${c:.6}"))
            .unwrap_or_default()
    )?;
    Ok(())
}
