//! `pcaplens` — the native command line: files, live capture, LLM analysis.
//! All analysis lives in `pcaplens-core`; this crate does I/O and presentation.

mod analyze_cmd;
mod ask_cmd;
mod azure;
mod classify_cmd;
mod generate_cmd;
mod human;
mod input;
mod keyfile;
mod live_cmd;
mod live_log;
mod live_queue;
mod live_write;
mod mcp;
mod options_args;
mod prepare_cmd;
mod sanitize_cmd;
mod unmask_cmd;

// The LLM client and the classification pipeline live in native-io (the
// Python package runs the same pipeline); the CLI keeps its old paths.
use clap::{Parser, Subcommand};
use pcaplens_native_io::classify as classify_pipeline;
use pcaplens_native_io::llm;
use std::process::ExitCode;

/// Exit statuses (also listed in `--help`).
pub mod exit {
    /// Everything was read and analysed.
    pub const OK: u8 = 0;
    /// An unexpected failure (an output could not be written, …).
    pub const FAILURE: u8 = 1;
    /// Bad usage, or an input that is not a capture / cannot be opened.
    pub const BAD_INPUT: u8 = 2;
    /// A capture was cut short or damaged: the report covers what came before.
    pub const PARTIAL: u8 = 3;
    /// `sanitize`: the leak audit found an original identifier in the output.
    pub const LEAK: u8 = 4;
}

/// The exit statuses for `--help`, as a literal so other help texts can include it.
macro_rules! exit_codes_help {
    () => {
        "\
Exit status:
  0  success: every input was read and analysed
  1  unexpected failure (e.g. an output file could not be written)
  2  bad usage, or an input that is not a pcap/pcapng capture or cannot be opened
  3  a capture was cut short or damaged: the report covers everything before the damage
  4  sanitize: the leak audit found an original identifier in the output"
    };
}

const EXIT_CODES_HELP: &str = exit_codes_help!();

const LIVE_HELP: &str = "\
Examples:
  pcaplens live -i eth0 --alerts alerts.json          # alerts as JSON lines while capturing
  pcaplens live -i eth0 -f 'tcp or udp port 53' --duration 60 --json > report.json
  pcaplens live -r capture.pcap --realtime --alerts -  # replay a file at its own pace
  pcaplens live -i eth0 -w keep.pcap -C 100 -W 10     # a ring of 10 files of 100 MB
  pcaplens live -i eth0 -w keep.pcap -G 3600 --log-file live.log   # a new file every hour

Files: -w FILE with -C or -G writes FILE, then FILE1, FILE2, … (each a complete
pcap; no strftime patterns); -W N reuses the first N names. --log-file FILE gets
the stderr lines with an RFC 3339 UTC timestamp, rotated to FILE.1 … FILE.N
(--log-max-bytes, --log-keep). See docs/live.md.

Stop with Ctrl-C (SIGINT) or SIGTERM: every flow ends and the report is printed
(a second Ctrl-C exits at once). SIGHUP reopens the --alerts and --log-file files
at their paths (created anew if moved away: logrotate) and reads the --blocklist
files (and the --blocklist-table) again.

Azure (docs/azure-table.md, docs/azure-monitor.md):
  AZURE_STORAGE_CONNECTION_STRING  with --blocklist-table NAME (or AZURE_BLACKLIST_TABLE)
  AZURE_MONITOR_CONNECTION_STRING  findings and statistics to Application Insights

Capturing needs root or the capabilities:
  sudo setcap cap_net_raw,cap_net_admin=eip $(command -v pcaplens)

Exit status:
  0  the capture ended (signal, --duration, --count or the end of a replayed file)
  1  unexpected failure (e.g. an output file could not be written)
  2  bad usage: unknown interface, bad capture filter, no permission to capture
  3  the source ended with an error (a replayed file cut short, a capture error)";

const MCP_HELP: &str = "\
Examples:
  pcaplens mcp                                  # stdio, files under the working directory
  pcaplens mcp --root ~/captures --key-file k   # same pseudonyms as `pcaplens sanitize --key-file k`
  pcaplens mcp --http 127.0.0.1:8765            # streamable HTTP at http://127.0.0.1:8765/mcp

Tools: load_pcap_file, get_pcap_summary, get_flows, analyze_port_flows, analyze_ip_flows,
analyze_protocol_flows, get_failures, get_findings, get_flow, get_packet, diagnose,
classify_flows, sanitize_pcap. Results are pseudonymised unless --reveal, paged, and
kept under 25,000 tokens. See docs/mcp.md.

Exit status:
  0  the client closed the session
  1  unexpected failure (e.g. the HTTP address could not be bound)
  2  bad usage (e.g. a --root that does not exist, bad options)";

const ANALYZE_HELP: &str = concat!(
    "\
Environment (the report is the same whatever they say):
  PCAPLENS_READ_THREADS  1 or 2: analyse a capture file on one thread, or on two (reading
                         and decoding on one, detection on the other). Unset: two for a
                         file over 1 MiB when there are two cores.
  PCAPLENS_FLOW_THREAD   reading or analysis: which of the two threads keeps the flow
                         table. Unset: the reading thread when the two cores share a cache.

Azure (docs/azure-table.md, docs/azure-monitor.md):
  AZURE_STORAGE_CONNECTION_STRING  the storage account of --blocklist-table (key or SAS)
  AZURE_BLACKLIST_TABLE            the blocklist table when --blocklist-table is not given
  AZURE_MONITOR_CONNECTION_STRING  send findings to Azure Monitor (Application Insights)

",
    exit_codes_help!()
);

#[derive(Parser, Debug)]
#[command(
    name = "pcaplens",
    version,
    about = "Packet-capture analysis: flows, failures, anomalies — fast, and safe to share",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse pcap/pcapng captures and print a summary (or the full JSON report)
    #[command(after_help = ANALYZE_HELP)]
    Analyze(analyze_cmd::AnalyzeArgs),
    /// Write compact, sanitised evidence of a capture for an LLM (prompt files, no network)
    #[command(after_help = EXIT_CODES_HELP)]
    Prepare(prepare_cmd::PrepareArgs),
    /// Ask an LLM (Azure OpenAI or OpenAI-compatible) for the root cause; `--offline`: the rules only
    #[command(after_help = EXIT_CODES_HELP)]
    Ask(ask_cmd::AskArgs),
    /// Classify flows: reassembled, sanitized payload judged by an LLM (or the rules offline)
    #[command(after_help = EXIT_CODES_HELP)]
    Classify(classify_cmd::ClassifyCmdArgs),
    /// Capture live with libpcap (or replay a file) and alert as findings are decided
    #[command(after_help = LIVE_HELP)]
    Live(Box<live_cmd::LiveArgs>),
    /// Write a synthetic test capture for a scenario (deterministic for a seed)
    #[command(after_help = EXIT_CODES_HELP)]
    Generate(generate_cmd::GenerateArgs),
    /// The analysis options: `--print-defaults` prints every key, its default and its meaning
    #[command(after_help = EXIT_CODES_HELP)]
    Config(options_args::ConfigArgs),
    /// Pseudonymise a capture (addresses, names, headers, secrets) and audit it for leaks
    #[command(after_help = EXIT_CODES_HELP)]
    Sanitize(sanitize_cmd::SanitizeArgs),
    /// Turn pseudonyms in any text (an LLM's answer, a report) back into the originals
    #[command(after_help = EXIT_CODES_HELP)]
    Unmask(unmask_cmd::UnmaskArgs),
    /// Serve the analysis to AI assistants: a Model Context Protocol server (stdio, or --http)
    #[command(after_help = MCP_HELP)]
    Mcp(mcp::McpArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            });
        }
    };
    let result = match cli.command {
        Command::Analyze(args) => analyze_cmd::run(args),
        Command::Prepare(args) => prepare_cmd::run(args),
        Command::Ask(args) => ask_cmd::run(args),
        Command::Classify(args) => classify_cmd::run(args),
        Command::Live(args) => live_cmd::run(&args),
        Command::Generate(args) => generate_cmd::run(args),
        Command::Config(args) => options_args::run_config(args),
        Command::Sanitize(args) => sanitize_cmd::run(args),
        Command::Unmask(args) => unmask_cmd::run(args),
        Command::Mcp(args) => mcp::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                // Output was closed early (e.g. piped into `head`): not an error.
                return ExitCode::from(exit::OK);
            }
            eprintln!("pcaplens: error: {err:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
