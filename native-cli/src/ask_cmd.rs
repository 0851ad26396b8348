//! `pcaplens ask CAPTURE|DIR`: send the evidence pack to a model (Azure
//! OpenAI or OpenAI-compatible) and save its root-cause analysis as `report.md`.

use crate::llm::{client, pricing, LlmConfig};
use crate::options_args::OptionArgs;
use crate::prepare_cmd::{self, EvidenceArgs, UNMASK_FILE};
use anyhow::{bail, Context, Result};
use clap::Args;
use pcaplens_core::evidence::{self, mask::unmask, Coverage, Diagnosis, Focus};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct AskArgs {
    /// A capture file, or a directory written by `pcaplens prepare`
    pub input: PathBuf,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
    /// Analysis options (for a capture; a prepared directory is already analysed)
    #[command(flatten)]
    pub options: OptionArgs,
    /// Print the rule-based diagnosis; call no model
    #[arg(long)]
    pub offline: bool,
    /// Map pseudonyms in the answer back to real addresses and names (locally)
    #[arg(long)]
    pub unmask: bool,
    /// Where to save the answer (default: DIR/report.md, or ./report.md for a capture)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Wait for the whole answer instead of streaming it
    #[arg(long)]
    pub no_stream: bool,
}

/// What is sent, from a capture or a prepared directory.
struct Prepared {
    system_prompt: String,
    evidence: String,
    sanitized: bool,
    coverage: Coverage,
    diagnoses: Vec<Diagnosis>,
    unmask_table: BTreeMap<String, String>,
    tokens: usize,
}

fn load(args: &AskArgs, cfg: pcaplens_core::AnalyzerConfig) -> Result<Prepared> {
    let focus = Focus::parse(&args.evidence.focus).unwrap_or_default();
    if args.input.is_dir() {
        let dir = &args.input;
        let read = |n: &str| {
            std::fs::read_to_string(dir.join(n)).with_context(|| {
                format!(
                    "{}: not a `pcaplens prepare` directory (missing {n})",
                    dir.display()
                )
            })
        };
        let summary: serde_json::Value = serde_json::from_str(&read("summary.json")?)
            .with_context(|| format!("{}: summary.json is not valid JSON", dir.display()))?;
        let prompt = read("ai_analysis_prompt.md")?;
        let Some((_, evidence)) = prompt.split_once("<!-- user -->\n") else {
            bail!(
                "{}: ai_analysis_prompt.md has no `<!-- user -->` section",
                dir.display()
            );
        };
        let sanitized = summary["sanitized"].as_bool().unwrap_or(true);
        let unmask_table = if args.unmask {
            serde_json::from_str(&read(UNMASK_FILE)?).context("unmask table")?
        } else {
            BTreeMap::new()
        };
        Ok(Prepared {
            // The focus may differ from prepare's: the instructions are fixed text.
            system_prompt: evidence::system_prompt(focus, sanitized),
            evidence: evidence.to_string(),
            sanitized,
            coverage: serde_json::from_value(summary["coverage"].clone()).unwrap_or_default(),
            diagnoses: serde_json::from_value(summary["diagnosis"].clone()).unwrap_or_default(),
            unmask_table,
            tokens: summary["prompt_tokens"].as_u64().unwrap_or(0) as usize,
        })
    } else {
        let report = prepare_cmd::analyze_file(&args.input, cfg)?;
        let pack = prepare_cmd::build(&report, &args.evidence)?;
        Ok(Prepared {
            system_prompt: pack.system_prompt,
            evidence: pack.evidence,
            sanitized: pack.sanitized,
            coverage: pack.coverage,
            diagnoses: pack.diagnoses,
            unmask_table: pack.unmask_table,
            tokens: pack.tokens,
        })
    }
}

pub fn run(args: AskArgs) -> Result<u8> {
    if let Some(out) = &args.output {
        if crate::input::refuse_to_overwrite_inputs(&[&args.input], &[out]) {
            return Ok(crate::exit::BAD_INPUT);
        }
    }
    let cfg = match args.options.resolve(Default::default()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    let p = load(&args, cfg)?;
    let maybe_unmask = |t: &str| {
        if args.unmask {
            unmask(t, &p.unmask_table)
        } else {
            t.to_string()
        }
    };
    if args.offline {
        print!(
            "{}",
            maybe_unmask(&evidence::diagnosis_text(&p.coverage, &p.diagnoses))
        );
        return Ok(crate::exit::OK);
    }
    let mut cfg = match LlmConfig::from_env(args.evidence.model.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pcaplens: {e:#}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    cfg.stream = !args.no_stream;
    if !p.sanitized {
        eprintln!("pcaplens: warning: sending UNSANITIZED evidence (real addresses and names)");
    }
    eprintln!(
        "pcaplens: asking {} ({} prompt tokens; {})",
        cfg.model(),
        p.tokens,
        p.coverage.line()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Pseudonyms can be split across stream chunks, so an unmasked answer is
    // printed whole at the end rather than streamed.
    let live = !args.unmask;
    let stdout = std::io::stdout();
    let mut on_delta = |t: &str| {
        if live {
            let mut out = stdout.lock();
            let _ = out.write_all(t.as_bytes());
            let _ = out.flush();
        }
    };
    let answer = match rt.block_on(client::chat(
        &cfg,
        &p.system_prompt,
        &p.evidence,
        &mut on_delta,
    )) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pcaplens: {e:#}");
            return Ok(crate::exit::FAILURE);
        }
    };
    let text = maybe_unmask(&answer.text);
    if live {
        println!();
    } else {
        println!("{text}");
    }

    let usage_line = match &answer.usage {
        Some(u) => {
            let cost = pricing::price(cfg.model())
                .map(|pr| {
                    format!(
                        "${:.6} (prices as of {})",
                        pricing::cost_usd(pr, u.prompt_tokens, u.completion_tokens),
                        pricing::PRICES_AS_OF
                    )
                })
                .unwrap_or_else(|| "unknown (model not in the price table)".into());
            format!(
                "Tokens: {} prompt + {} completion = {} total; cost {cost}",
                u.prompt_tokens, u.completion_tokens, u.total_tokens
            )
        }
        None => "Tokens: not reported by the endpoint".into(),
    };
    let out_path = args.output.clone().unwrap_or_else(|| {
        if args.input.is_dir() {
            args.input.join("report.md")
        } else {
            PathBuf::from("report.md")
        }
    });
    let doc = format!(
        "# Root-cause analysis (pcaplens ask)\n\n{}\n\n---\n\nModel: {} · {}{}\n\n{}\n\n{}\n",
        text.trim_end(),
        cfg.model(),
        usage_line,
        if answer.attempts > 1 {
            format!(" · {} attempts", answer.attempts)
        } else {
            String::new()
        },
        p.coverage.line(),
        if args.unmask {
            "Identifiers: unmasked locally (this file contains real addresses and names)."
        } else if p.sanitized {
            "Identifiers: pseudonyms (map back with --unmask and the same key)."
        } else {
            "Identifiers: real (the evidence was not sanitized)."
        }
    );
    std::fs::write(&out_path, doc)
        .with_context(|| format!("cannot write {}", out_path.display()))?;
    eprintln!("pcaplens: {usage_line}");
    eprintln!("pcaplens: saved {}", out_path.display());
    Ok(crate::exit::OK)
}
