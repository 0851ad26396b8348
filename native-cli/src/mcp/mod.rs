//! `pcaplens mcp`: the Model Context Protocol server (official Rust SDK,
//! `rmcp`) over stdio, or streamable HTTP with `--http`.
//!
//! The tools are thin: a capture is analysed once by the same code as
//! `pcaplens analyze` (`store`), results are pseudonymised with the
//! sanitizer's key (`mask`), and every result is paged or cut to stay under
//! the assistants' 25,000-token limit (`budget`).

mod budget;
mod http;
mod mask;
mod packet;
mod query;
mod store;
mod tools;
mod types;

use crate::options_args::OptionArgs;
use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use tools::PcapServer;

#[derive(Args, Debug)]
pub struct McpArgs {
    /// Directory whose files the tools may read (and `sanitize_pcap` write
    /// under); repeatable. Default: the working directory. Symlinks are
    /// resolved before the check
    #[arg(long, value_name = "DIR")]
    pub root: Vec<PathBuf>,
    /// Largest capture the tools open, in bytes (suffixes K, M, G accepted)
    #[arg(long, value_name = "BYTES", default_value = "4G", value_parser = parse_size)]
    pub max_file_size: u64,
    /// Pseudonymisation key (64 hex digits or 32 raw bytes), as for
    /// `pcaplens sanitize`: results then carry the same pseudonyms as the
    /// sanitized capture, and `pcaplens unmask` maps them back. Default: a
    /// random key for this server's lifetime
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Put real addresses, MACs and names into results (NOT for assistants
    /// run by a third party)
    #[arg(long)]
    pub reveal: bool,
    /// Serve streamable HTTP on this address (e.g. 127.0.0.1:8765) instead of stdio;
    /// the endpoint is /mcp
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// Allow --http on an address other than loopback; requires --token-file
    #[arg(long, requires = "http")]
    pub allow_remote: bool,
    /// File holding the bearer token HTTP clients must send
    /// (`Authorization: Bearer TOKEN`); required with --allow-remote
    #[arg(long, value_name = "FILE", requires = "http")]
    pub token_file: Option<PathBuf>,
    /// Browser origin allowed to call the HTTP endpoint (repeatable, e.g.
    /// http://localhost:5173); requests with any other Origin are refused
    #[arg(long, value_name = "ORIGIN", requires = "http")]
    pub allow_origin: Vec<String>,
    /// Most analysed captures kept in memory
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub cache_entries: usize,
    /// Memory budget of the cache of analysed captures, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub cache_mib: usize,
    #[command(flatten)]
    pub options: OptionArgs,
}

fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("{s}: unknown size suffix (K, M, G or T)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s}: not a size in bytes"))
}

pub fn run(args: McpArgs) -> Result<u8> {
    let cfg = match args.options.resolve(Default::default()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    // Usage errors are said plainly, with exit status 2.
    let usage = |msg: String| {
        eprintln!("pcaplens: {msg}");
        Ok(crate::exit::BAD_INPUT)
    };
    let roots = if args.root.is_empty() {
        vec![std::env::current_dir().context("the working directory")?]
    } else {
        args.root.clone()
    };
    let mut canon = Vec::new();
    for r in &roots {
        match std::fs::canonicalize(r) {
            Ok(c) if c.is_dir() => canon.push(c),
            Ok(_) => return usage(format!("--root {}: not a directory", r.display())),
            Err(e) => return usage(format!("--root {}: {e}", r.display())),
        }
    }
    let roots = canon;
    let key = match &args.key_file {
        Some(p) => match crate::keyfile::read(p) {
            Ok(k) => k,
            Err(e) => return usage(format!("{e:#}")),
        },
        None => crate::keyfile::fresh()?,
    };
    let token = match args.http.map(|addr| http::check(addr, &args)) {
        Some(Err(e)) => return usage(e),
        Some(Ok(t)) => t,
        None => None,
    };
    let limits = store::Limits {
        roots,
        max_file_size: args.max_file_size,
    };
    let state = tools::State::new(
        limits,
        cfg,
        key,
        args.key_file.clone(),
        args.reveal,
        store::Cache::new(args.cache_entries, args.cache_mib.saturating_mul(1 << 20)),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match args.http {
        Some(addr) => rt.block_on(http::serve(state, addr, token, &args))?,
        None => rt.block_on(async move {
            use rmcp::ServiceExt;
            let server = PcapServer::new(state);
            let running = server
                .serve(rmcp::transport::stdio())
                .await
                .context("MCP handshake on stdio")?;
            running.waiting().await.context("MCP session")?;
            anyhow::Ok(())
        })?,
    }
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::parse_size("4G"), Ok(4 << 30));
        assert_eq!(super::parse_size("512"), Ok(512));
        assert_eq!(super::parse_size("10m"), Ok(10 << 20));
        assert!(super::parse_size("x").is_err());
        assert!(super::parse_size("3Q").is_err());
    }
}
