//! `pcaplens generate`: write a synthetic capture for a scenario.

use anyhow::{Context, Result};
use clap::Args;
use pcaplens_core::generate::{generate_into, GenerateOptions, Scenario};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Scenario: normal, tcp-resets, retransmissions, dns-failures, http-errors, port-scan,
    /// long-lived, blocklisted, http-odd-port, non-http-port80, mixed, flow-heavy
    #[arg(long, value_name = "NAME")]
    pub scenario: String,
    /// Output file (`-` for standard output)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Approximate number of packets
    #[arg(long, default_value_t = 2000)]
    pub packets: u64,
    /// Seed: the same seed and options give a byte-identical capture
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of distinct background flows (default: grows with --packets)
    #[arg(long, value_name = "N")]
    pub flows: Option<u64>,
    /// Print what was injected (the scenario's truth) as JSON on stderr
    #[arg(long)]
    pub truth: bool,
}

pub fn run(args: GenerateArgs) -> Result<u8> {
    let scenario: Scenario = match args.scenario.parse() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    let opts = GenerateOptions {
        packets: args.packets,
        seed: args.seed,
        flows: args.flows,
        ..GenerateOptions::default()
    };
    let mut out: Box<dyn Write> = if args.output.as_os_str() == "-" {
        Box::new(BufWriter::new(std::io::stdout().lock()))
    } else {
        let f = File::create(&args.output)
            .with_context(|| format!("cannot create {}", args.output.display()))?;
        Box::new(BufWriter::with_capacity(1 << 20, f))
    };
    let mut io_err: Option<std::io::Error> = None;
    let truth = generate_into(scenario, &opts, &mut |chunk| {
        if io_err.is_none() {
            if let Err(e) = out.write_all(chunk) {
                io_err = Some(e);
            }
        }
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(e) = io_err {
        return Err(e).context("writing the capture");
    }
    out.flush()?;
    if args.truth {
        eprintln!("{}", serde_json::to_string_pretty(&truth)?);
    }
    Ok(crate::exit::OK)
}
