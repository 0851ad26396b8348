//! `pcaplens prepare CAPTURE -o DIR`: the evidence for a language model, as
//! files a human can read and send by hand (or `pcaplens ask DIR`).

use crate::keyfile;
use crate::llm::pricing::{self, Tokenizer, CHAT_OVERHEAD_TOKENS, ESTIMATE_MODELS, PRICES_AS_OF};
use crate::options_args::OptionArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use pcaplens_core::evidence::{self, mask::Identity, EvidenceConfig, EvidencePack, Focus};
use pcaplens_core::sanitize::Pseudonymizer;
use pcaplens_core::{AnalyzerConfig, Report};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Options shared by `prepare` and `ask`.
#[derive(Args, Debug, Clone)]
pub struct EvidenceArgs {
    /// What to concentrate on
    #[arg(long, default_value = "general", value_parser = clap::builder::PossibleValuesParser::new(Focus::NAMES))]
    pub focus: String,
    /// Hard limit on prompt tokens (system + evidence), counted with the model's tokenizer
    #[arg(long, default_value_t = evidence::DEFAULT_TOKEN_BUDGET, value_name = "TOKENS")]
    pub budget: usize,
    /// 32-byte pseudonymisation key (64 hex digits or 32 raw bytes), as for `pcaplens sanitize`;
    /// default: a fresh random key per run
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Put real addresses and names into the evidence (NOT for sharing)
    #[arg(long)]
    pub no_sanitize: bool,
    /// Model whose tokenizer counts the budget (and, for `ask`, the model or Azure deployment)
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// Capture file (pcap or pcapng)
    pub capture: PathBuf,
    /// Output directory (created if missing)
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    #[command(flatten)]
    pub options: OptionArgs,
}

/// Name of the local pseudonym table (never part of the prompt).
pub const UNMASK_FILE: &str = "unmask_table.json";

pub fn analyze_file(path: &Path, cfg: AnalyzerConfig) -> Result<Report> {
    if path.as_os_str() != "-" {
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    }
    let report = crate::input::analyze_path(path, cfg)?;
    if let Some(err) = &report.status.error {
        if err.code == "not_a_capture" {
            bail!("{}: {}", path.display(), err.message);
        }
        eprintln!(
            "pcaplens: {}: {} (evidence covers what came before)",
            path.display(),
            err.message
        );
    }
    Ok(report)
}

pub fn read_key(path: Option<&Path>) -> Result<[u8; 32]> {
    match path {
        Some(p) => keyfile::read(p),
        None => keyfile::fresh().context("no --key-file given"),
    }
}

/// Tokenizer model for budgets: --model, else the configured deployment/model, else gpt-4o.
pub fn budget_model(args: &EvidenceArgs) -> String {
    args.model
        .clone()
        .or_else(|| std::env::var("AZURE_OPENAI_DEPLOYMENT").ok())
        .or_else(|| std::env::var("OPENAI_MODEL").ok())
        .unwrap_or_else(|| "gpt-4o".into())
}

pub fn build(report: &Report, args: &EvidenceArgs) -> Result<EvidencePack> {
    let cfg = EvidenceConfig {
        token_budget: args.budget.saturating_sub(CHAT_OVERHEAD_TOKENS),
        focus: Focus::parse(&args.focus).unwrap_or_default(),
        ..Default::default()
    };
    let tokenizer = Tokenizer::for_model(&budget_model(args));
    let mut pack = if args.no_sanitize {
        evidence::build_pack(report, &cfg, &tokenizer, &mut Identity, false)
    } else {
        // The sanitiser's pseudonyms: same key file → same pseudonyms as
        // `pcaplens sanitize` (without --keep-special-ranges).
        let key = read_key(args.key_file.as_deref())?;
        let mut keyed = Pseudonymizer::new(&key, false, false);
        evidence::build_pack(report, &cfg, &tokenizer, &mut keyed, true)
    };
    pack.tokens += CHAT_OVERHEAD_TOKENS;
    pack.token_budget = args.budget;
    Ok(pack)
}

pub fn run(args: PrepareArgs) -> Result<u8> {
    let cfg = match args.options.resolve(Default::default()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    let report = analyze_file(&args.capture, cfg)?;
    let pack = build(&report, &args.evidence)?;
    let dir = &args.output;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, data: &str| -> Result<()> {
        let p = dir.join(name);
        std::fs::write(&p, data).with_context(|| format!("cannot write {}", p.display()))
    };
    let totals = evidence::rules::failure_totals(
        &serde_json::json!({"failures": serde_json::to_value(&report.failures)?}),
    );
    let summary = serde_json::json!({
        "generator": report.generator,
        "sanitized": pack.sanitized,
        "focus": pack.focus,
        "token_budget": pack.token_budget,
        "prompt_tokens": pack.tokens,
        "tokenizer": Tokenizer::for_model(&budget_model(&args.evidence)).name,
        "coverage": pack.coverage,
        "capture": {
            "format": report.capture.format,
            "complete": report.status.complete,
            "partial": report.status.partial,
        },
        "statistics": {
            "packets": report.summary.packets,
            "bytes": report.summary.bytes,
            "duration_secs": report.summary.duration_secs,
            "flows": report.summary.flows.total,
            "flows_by_state": report.summary.flows.by_state,
            "flows_by_service": report.summary.flows.by_service,
        },
        "failure_counts": totals.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "diagnosis": pack.diagnoses,
    });
    write(
        "summary.json",
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    let detailed = serde_json::json!({
        "diagnosis": pack.diagnoses,
        "failures": pack.failures_detail,
    });
    write(
        "errors_detailed.json",
        &(serde_json::to_string_pretty(&detailed)? + "\n"),
    )?;
    write(
        "conversations.json",
        &(serde_json::to_string_pretty(&pack.conversations)? + "\n"),
    )?;
    write("ai_analysis_prompt.md", &pack.prompt_markdown())?;
    write("quick_stats.txt", &quick_stats(&report, &pack, &totals))?;
    write("token_estimate.txt", &token_estimate(&pack))?;
    if pack.sanitized {
        write(
            UNMASK_FILE,
            &(serde_json::to_string_pretty(&pack.unmask_table)? + "\n"),
        )?;
    }
    eprintln!(
        "pcaplens: wrote evidence to {} ({} prompt tokens of {} budget; {})",
        dir.display(),
        pack.tokens,
        pack.token_budget,
        pack.coverage.line()
    );
    if pack.sanitized {
        eprintln!(
            "pcaplens: {} holds the real identifiers: keep it local (it is never sent)",
            dir.join(UNMASK_FILE).display()
        );
    }
    Ok(crate::exit::OK)
}

fn quick_stats(report: &Report, pack: &EvidencePack, totals: &[(String, u64)]) -> String {
    let s = &report.summary;
    let mut t = String::new();
    let _ = writeln!(t, "packets:   {}", s.packets);
    let _ = writeln!(t, "bytes:     {}", s.bytes);
    let _ = writeln!(t, "duration:  {:.3} s", s.duration_secs);
    let _ = writeln!(t, "flows:     {}", s.flows.total);
    for (state, n) in &s.flows.by_state {
        let _ = writeln!(t, "  {state:<8} {n}");
    }
    let _ = writeln!(t, "\nfailures:");
    if totals.is_empty() {
        let _ = writeln!(t, "  none counted");
    }
    for (k, v) in totals {
        let _ = writeln!(t, "  {k:<40} {v}");
    }
    let _ = writeln!(t, "\ndiagnosis (rule-based):");
    t.push_str(&pack.diagnosis_text());
    t
}

fn token_estimate(pack: &EvidencePack) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Prompt: {} tokens in the budget's tokenizer (budget {}).",
        pack.tokens, pack.token_budget
    );
    let _ = writeln!(
        t,
        "Estimated cost per model: input tokens counted with each model's tokenizer, \
         output assumed {EXPECTED_OUTPUT} tokens. Prices USD per 1M tokens as of {PRICES_AS_OF}.\n"
    );
    let _ = writeln!(
        t,
        "{:<14} {:<12} {:>8} {:>8} {:>9} {:>10}",
        "model", "tokenizer", "input", "$/1M in", "$/1M out", "est. USD"
    );
    let text = format!("{}{}", pack.system_prompt, pack.evidence);
    for m in ESTIMATE_MODELS {
        let tok = Tokenizer::for_model(m);
        let input = (pricing_count(&tok, &text) + CHAT_OVERHEAD_TOKENS) as u64;
        if let Some(p) = pricing::price(m) {
            let _ = writeln!(
                t,
                "{:<14} {:<12} {:>8} {:>8.2} {:>9.2} {:>10.5}",
                m,
                tok.name,
                input,
                p.input_per_mtok,
                p.output_per_mtok,
                pricing::cost_usd(p, input, EXPECTED_OUTPUT)
            );
        }
    }
    t
}

const EXPECTED_OUTPUT: u64 = 1000;

fn pricing_count(tok: &Tokenizer, text: &str) -> usize {
    use pcaplens_core::evidence::TokenCounter;
    tok.count(text)
}
