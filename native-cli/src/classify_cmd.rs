//! `pcaplens classify FILE…`: reassemble each flow's payload, sanitize it and
//! ask a model (Azure OpenAI or OpenAI-compatible) whether it is suspicious —
//! or, with no endpoint configured, the rule-based classifier.

use crate::classify_pipeline::{ClassifyOptions, FlowVerdict, Pipeline, RunStats};
use crate::llm::{pricing, LlmConfig};
use crate::prepare_cmd::read_key;
use anyhow::{Context, Result};
use clap::Args;
use pcaplens_core::reassembly::ReassemblyConfig;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Options shared by `classify` and `live --classify`.
#[derive(Args, Debug, Clone)]
pub struct ClassifyArgs {
    /// Payload bytes kept per flow (both directions) before it is classified
    #[arg(long, value_name = "BYTES", default_value_t = 2048)]
    pub flow_max_bytes: usize,
    /// Seconds without a packet after which a flow is classified
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub flow_timeout: f64,
    /// Suspicious verdicts at or above this confidence are alerts
    #[arg(long, value_name = "X", default_value_t = 0.6)]
    pub confidence_threshold: f64,
    /// Verdicts cached (LRU; keyed by SHA-256 of the prompt)
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub cache_size: usize,
    /// Model requests at once
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub workers: usize,
    /// Flows waiting for a worker; live: when full, a flow is dropped (counted)
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub queue_size: usize,
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
    /// Flows tracked at once (beyond it the longest idle are classified early)
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub flow_max_flows: usize,
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
}

impl ClassifyArgs {
    /// Options, and the endpoint (None: rules). `Err`: a usage error (exit 2).
    pub fn resolve(
        &self,
        drop_when_full: bool,
    ) -> Result<(ClassifyOptions, Option<LlmConfig>), String> {
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err("--confidence-threshold must be between 0 and 1".into());
        }
        if self.flow_timeout.is_nan() || self.flow_timeout <= 0.0 {
            return Err("--flow-timeout must be positive".into());
        }
        if self.flow_max_bytes == 0 || self.workers == 0 || self.queue_size == 0 {
            return Err("--flow-max-bytes, --workers and --queue-size must be at least 1".into());
        }
        let key = read_key(self.key_file.as_deref()).map_err(|e| format!("{e:#}"))?;
        let llm = if self.rules {
            None
        } else {
            let configured = ["AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY"]
                .iter()
                .any(|k| std::env::var(k).is_ok_and(|v| !v.trim().is_empty()));
            let dotenv = std::path::Path::new(".env").exists();
            if configured || dotenv {
                match LlmConfig::from_env(self.model.as_deref()) {
                    Ok(c) => Some(c),
                    Err(e) if configured => return Err(format!("{e:#}")),
                    Err(_) => None,
                }
            } else {
                None
            }
        };
        if let (Some(c), Some(_)) = (&llm, self.max_cost) {
            if pricing::price(c.model()).is_none() {
                return Err(format!(
                    "--max-cost: model {:?} is not in the price table (prices as of {}), so its cost cannot be counted",
                    c.model(),
                    pricing::PRICES_AS_OF
                ));
            }
        }
        Ok((
            ClassifyOptions {
                reassembly: ReassemblyConfig {
                    max_bytes: self.flow_max_bytes,
                    idle_timeout_secs: self.flow_timeout,
                    max_flows: self.flow_max_flows.max(1),
                    ..Default::default()
                },
                confidence_threshold: self.confidence_threshold,
                cache_size: self.cache_size,
                workers: self.workers,
                queue_size: self.queue_size,
                max_requests_per_minute: self.max_requests_per_minute,
                max_cost: self.max_cost,
                structured_output: !self.no_structured_output,
                drop_when_full,
                key,
            },
            llm,
        ))
    }
}

pub fn run(args: ClassifyCmdArgs) -> Result<u8> {
    let (opts, llm) = match args.classify.resolve(args.drop_when_busy) {
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
        pipe.start_file(several.then_some(i))?;
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("pcaplens: {}: {e}", path.display());
                status = crate::exit::BAD_INPUT;
                continue;
            }
        };
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            if pipe.feed(&buf[..n]).is_err() {
                break;
            }
        }
        if let Some((e, any)) = pipe.end_file() {
            eprintln!("pcaplens: {}: {e}", path.display());
            status = status.max(if any {
                crate::exit::PARTIAL
            } else {
                crate::exit::BAD_INPUT
            });
        }
    }
    let (verdicts, stats) = pipe.finish();
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = serde_json::json!({
            "schema": "pcaplens.classify/1",
            "files": args.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "verdicts": verdicts,
            "stats": stats,
        });
        serde_json::to_writer_pretty(&mut out, &report)?;
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
