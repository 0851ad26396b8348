//! `pcaplens unmask --map FILE [FILE|-]`: turn pseudonyms in any text (an
//! LLM's answer, a report) back into the originals.

use anyhow::{Context, Result};
use clap::Args;
use pcaplens_core::sanitize::pseudo::unmask_text;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct UnmaskArgs {
    /// The pseudonym → original table written by `sanitize --map`
    #[arg(long, value_name = "FILE")]
    pub map: PathBuf,
    /// Text to unmask; `-` or nothing reads standard input
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,
}

pub fn run(args: UnmaskArgs) -> Result<u8> {
    let raw =
        std::fs::read(&args.map).with_context(|| format!("reading map {}", args.map.display()))?;
    let map: BTreeMap<String, String> = serde_json::from_slice(&raw)
        .with_context(|| format!("{} is not a pcaplens map (JSON object)", args.map.display()))?;
    let mut text = String::new();
    match &args.input {
        Some(p) if p.as_os_str() != "-" => {
            text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        _ => {
            io::stdin().read_to_string(&mut text)?;
        }
    }
    let out = unmask_text(&map, &text);
    io::stdout().write_all(out.as_bytes())?;
    Ok(crate::exit::OK)
}
