//! `pcaplens analyze`: stream files (or stdin) through the core analyzer.

use crate::azure::monitor::{ConnectionString, Monitor, MonitorSettings};
use crate::azure::table::BlocklistTable;
use crate::options_args::OptionArgs;
use crate::{exit, human};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use pcaplens_core::detect::blocklist::{parse_list, Indicator};
use pcaplens_core::ecs::EcsWriter;
use pcaplens_core::eve::EveWriter;
use pcaplens_core::{Analyzer, AnalyzerConfig, FlowSummary, Report};
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Show a progress bar only for inputs at least this large (and only on a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng); `-` reads standard input
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print the full JSON report instead of the terminal summary (= --format json)
    #[arg(long)]
    pub json: bool,
    /// Output: human (terminal summary), json (the full report), eve
    /// (Suricata EVE JSON lines: a `flow` event per flow, an `alert` per finding)
    /// or ecs (Elastic Common Schema NDJSON: the same events as ECS documents)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<OutputFormat>,
    /// Write every flow to this file (NDJSON, or CSV when the name ends in .csv)
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,
    /// Format of --flows (default: from the file name)
    #[arg(long, value_enum)]
    pub flows_format: Option<FlowsFormat>,
    /// Seconds of inactivity (capture time) after which a flow is finished [default: 600]
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Most flows held at once; beyond it the longest-idle flows are finished early [default: 200000]
    #[arg(long, value_name = "N")]
    pub max_flows: Option<usize>,
    /// Most flows listed in the JSON report's `flows` (all are counted) [default: 10000]
    #[arg(long, value_name = "N")]
    pub flows_limit: Option<usize>,
    /// Length of top-N lists (talkers, conversations, anomalies) [default: 10]
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Most instances listed per failure class (totals are never capped) [default: 20]
    #[arg(long, value_name = "N")]
    pub max_instances: Option<usize>,
    /// Report flows lasting at least this long as long-lived [default: 3600]
    #[arg(long, value_name = "SECS")]
    pub long_conn_threshold: Option<u64>,
    /// Flag servers on ports above this one (unless allowed) [default: 1024]
    #[arg(long, value_name = "PORT")]
    pub unusual_port_threshold: Option<u16>,
    #[command(flatten)]
    pub options: OptionArgs,
    /// Statistics and flows only: skip failure and security detection (faster)
    #[arg(long)]
    pub no_detect: bool,
    /// Never show a progress bar
    #[arg(long)]
    pub no_progress: bool,
    /// Blocklist file (repeatable): one IP, CIDR range or domain a line, `#` comments
    #[arg(long, value_name = "FILE")]
    pub blocklist: Vec<PathBuf>,
    /// Also take blocklist entries from this Azure Table (each RowKey an IP, a CIDR range
    /// written ADDR_LEN, or a domain), read with AZURE_STORAGE_CONNECTION_STRING; default:
    /// the AZURE_BLACKLIST_TABLE variable (docs/azure-table.md)
    #[arg(long, value_name = "NAME")]
    pub blocklist_table: Option<String>,
    /// Send findings to Azure Monitor (Application Insights) with this connection string;
    /// default: the AZURE_MONITOR_CONNECTION_STRING variable (docs/azure-monitor.md)
    #[arg(long, value_name = "CONN_STR")]
    pub monitor_conn_str: Option<String>,
    /// Stop (exit 2) when the blocklist table cannot be read, and exit 1 when findings
    /// could not all be delivered to Azure Monitor, instead of warning and going on
    #[arg(long)]
    pub strict: bool,
    /// Seed of the anomaly scoring's Isolation Forest (same seed, same scores)
    #[arg(long, value_name = "N")]
    pub anomaly_seed: Option<u64>,
    /// Turn anomaly scoring off
    #[arg(long)]
    pub no_anomaly: bool,
    /// Also score packets (the report lists the top frames)
    #[arg(long)]
    pub per_packet_anomaly: bool,
    /// Write the anomaly feature matrix and scores (CSV, one row per scored flow)
    #[arg(long, value_name = "FILE", conflicts_with = "no_anomaly")]
    pub anomaly_features: Option<PathBuf>,
    /// Analyse the files on N threads (docs/scale.md); with --independent, one
    /// report per file as without --jobs, else one merged report of the files
    /// as consecutive pieces of one capture
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// With --jobs: one report per file (the same bytes as without --jobs)
    #[arg(long, requires = "jobs")]
    pub independent: bool,
}

/// What `analyze` prints on standard output.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The terminal summary
    Human,
    /// The full JSON report (as --json)
    Json,
    /// Suricata EVE JSON lines (docs/eve.md), written as the analysis decides them
    Eve,
    /// Elastic Common Schema NDJSON (docs/ecs.md), written as the analysis decides them
    Ecs,
}

impl OutputFormat {
    /// One line per event, written during the analysis (no report printed).
    fn is_lines(self) -> bool {
        matches!(self, OutputFormat::Eve | OutputFormat::Ecs)
    }
}

/// The writer of `--format eve` or `--format ecs` (and of `live --alerts`):
/// engine events in, lines out.
pub(crate) enum LineWriter {
    Eve(EveWriter),
    Ecs(EcsWriter),
}

impl LineWriter {
    /// ECS documents when `ecs`, else EVE lines.
    pub(crate) fn new(ecs: bool, pcap_filename: Option<&str>) -> Self {
        match (ecs, pcap_filename) {
            (true, None) => LineWriter::Ecs(EcsWriter::new()),
            (true, Some(n)) => LineWriter::Ecs(EcsWriter::new().with_pcap_filename(n)),
            (false, None) => LineWriter::Eve(EveWriter::new()),
            (false, Some(n)) => LineWriter::Eve(EveWriter::new().with_pcap_filename(n)),
        }
    }

    pub(crate) fn is_ecs(&self) -> bool {
        matches!(self, LineWriter::Ecs(_))
    }

    pub(crate) fn line(&mut self, event: &pcaplens_core::Event) -> Option<String> {
        match self {
            LineWriter::Eve(w) => w.line(event),
            LineWriter::Ecs(w) => w.line(event),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FlowsFormat {
    Ndjson,
    Csv,
}

impl AnalyzeArgs {
    /// The output format: `--format`, or json for `--json`. `Err` when the
    /// two disagree.
    fn output_format(&self) -> std::result::Result<OutputFormat, String> {
        match (self.json, self.format) {
            (false, f) => Ok(f.unwrap_or(OutputFormat::Human)),
            (true, None | Some(OutputFormat::Json)) => Ok(OutputFormat::Json),
            (true, Some(f)) => Err(format!(
                "--json and --format {} disagree: give one of them",
                f.to_possible_value()
                    .map_or("?".into(), |v| v.get_name().to_string())
            )),
        }
    }

    /// The flags given, as keys of the core's option mapping (flags not
    /// given stay out, so they never override the `--config` file).
    fn flag_options(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("idle_timeout", self.idle_timeout.map(Value::from));
        put("max_flows", self.max_flows.map(Value::from));
        put("flows_limit", self.flows_limit.map(Value::from));
        put("top", self.top.map(Value::from));
        put("max_instances", self.max_instances.map(Value::from));
        put(
            "long_conn_threshold",
            self.long_conn_threshold.map(Value::from),
        );
        put(
            "unusual_port_threshold",
            self.unusual_port_threshold.map(Value::from),
        );
        put(
            "detect_enabled",
            self.no_detect.then_some(Value::Bool(false)),
        );
        put("anomaly", self.no_anomaly.then_some(Value::Bool(false)));
        put("anomaly_seed", self.anomaly_seed.map(Value::from));
        put(
            "per_packet_anomaly",
            self.per_packet_anomaly.then_some(Value::Bool(true)),
        );
        m
    }

    /// Defaults < `--config` < flags < `--set`, plus the run's plumbing.
    /// `Err` is a usage error to print.
    pub fn config(&self) -> std::result::Result<AnalyzerConfig, String> {
        let mut cfg = self.options.resolve(self.flag_options())?;
        cfg.collect_flows = self.flows.is_some();
        cfg.anomaly.export_features = self.anomaly_features.is_some();
        Ok(cfg)
    }
}

/// Writes flows as they finish, so the flow file never needs the whole set in memory.
struct FlowSink {
    out: BufWriter<File>,
    format: FlowsFormat,
}

impl FlowSink {
    fn open(path: &PathBuf, format: Option<FlowsFormat>) -> Result<Self> {
        let format = format.unwrap_or_else(|| {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            {
                FlowsFormat::Csv
            } else {
                FlowsFormat::Ndjson
            }
        });
        let file = File::create(path)
            .with_context(|| format!("cannot create flow file {}", path.display()))?;
        let mut out = BufWriter::new(file);
        if format == FlowsFormat::Csv {
            writeln!(out, "file,{}", FlowSummary::CSV_COLUMNS.join(","))?;
        }
        Ok(FlowSink { out, format })
    }

    fn write(&mut self, file_label: &str, flows: &[FlowSummary]) -> Result<()> {
        for f in flows {
            match self.format {
                FlowsFormat::Ndjson => {
                    let mut v = serde_json::to_value(f)?;
                    if let serde_json::Value::Object(m) = &mut v {
                        m.insert("file".into(), file_label.into());
                    }
                    serde_json::to_writer(&mut self.out, &v)?;
                    self.out.write_all(b"\n")?;
                }
                FlowsFormat::Csv => {
                    let label = pcaplens_core::report::csv_field(file_label);
                    writeln!(self.out, "{label},{}", f.to_csv_row())?;
                }
            }
        }
        Ok(())
    }
}

/// The anomaly feature matrix of every input, as CSV (a `file` column first).
struct FeatureSink {
    out: BufWriter<File>,
    header_written: bool,
}

impl FeatureSink {
    fn open(path: &PathBuf) -> Result<Self> {
        let file = File::create(path)
            .with_context(|| format!("cannot create feature file {}", path.display()))?;
        Ok(FeatureSink {
            out: BufWriter::new(file),
            header_written: false,
        })
    }

    fn write(&mut self, file_label: &str, m: &pcaplens_core::anomaly::FeatureMatrix) -> Result<()> {
        if !self.header_written {
            writeln!(self.out, "file,{}", m.csv_header())?;
            self.header_written = true;
        }
        let label = pcaplens_core::report::csv_field(file_label);
        for r in &m.rows {
            writeln!(
                self.out,
                "{label},{}",
                pcaplens_core::anomaly::FeatureMatrix::csv_row(r)
            )?;
        }
        Ok(())
    }
}

/// Outcome of reading one input.
pub enum Outcome {
    Report(Box<Report>),
    /// Could not be opened at all.
    OpenFailed(String),
}

/// Read every `--blocklist` file; bad lines are all reported (file:line).
fn load_blocklists(paths: &[PathBuf]) -> std::result::Result<Vec<Indicator>, Vec<String>> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let label = p.display().to_string();
        let text = match std::fs::read(p) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                errors.push(format!("{label}: cannot read blocklist: {e}"));
                continue;
            }
        };
        match parse_list(&text, &label) {
            Ok(mut v) => entries.append(&mut v),
            Err(bad) => errors.extend(bad.into_iter().map(|b| {
                format!(
                    "{label}:{}: bad blocklist entry '{}': {}",
                    b.line,
                    b.text.trim(),
                    b.reason
                )
            })),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

pub fn run(args: AnalyzeArgs) -> Result<u8> {
    let format = match args.output_format() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(exit::BAD_INPUT);
        }
    };
    let mut cfg = match args.config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(exit::BAD_INPUT);
        }
    };
    match load_blocklists(&args.blocklist) {
        Ok(entries) => cfg.detect.blocklist.entries.extend(entries),
        Err(errors) => {
            for e in errors {
                eprintln!("pcaplens: {e}");
            }
            return Ok(exit::BAD_INPUT);
        }
    }
    match load_table(&args) {
        Ok(entries) => cfg.detect.blocklist.entries.extend(entries),
        Err(code) => return Ok(code),
    }
    let monitor = match ConnectionString::from_args(args.monitor_conn_str.as_deref()) {
        Ok(c) => c.map(|c| Monitor::start(c, MonitorSettings::default())),
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(exit::BAD_INPUT);
        }
    };
    if let Some(e) = args
        .jobs
        .and_then(|jobs| jobs_refusal(&args, format, monitor.is_some(), jobs))
    {
        eprintln!("pcaplens: {e}");
        return Ok(exit::BAD_INPUT);
    }
    let inputs: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    let outputs: Vec<&Path> = [&args.flows, &args.anomaly_features]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .collect();
    if crate::input::refuse_to_overwrite_inputs(&inputs, &outputs) {
        return Ok(exit::BAD_INPUT);
    }
    let mut sink = match &args.flows {
        Some(p) => Some(FlowSink::open(p, args.flows_format)?),
        None => None,
    };
    let mut features = match &args.anomaly_features {
        Some(p) => Some(FeatureSink::open(p)?),
        None => None,
    };
    let stdout = io::stdout();
    // A large buffer: a report lists thousands of flows, and stdout's line
    // buffering would otherwise turn every 8 KiB into two system calls.
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    if let (Some(jobs), false) = (args.jobs, args.independent) {
        return run_merged(&args, &cfg, format, jobs, &mut out);
    }
    let mut results: Vec<(String, Outcome)> = Vec::new();
    if let Some(jobs) = args.jobs {
        results = analyze_parallel(&args.files, &cfg, &args, jobs)?;
    }
    for path in args.files.iter().filter(|_| args.jobs.is_none()) {
        let label = path.display().to_string();
        let outcome = if format.is_lines() || monitor.is_some() {
            let sinks = Sinks {
                flows: sink.as_mut(),
                features: features.as_mut(),
                monitor: monitor.as_ref(),
            };
            lines_one(path, &cfg, &args, (format, &label), sinks, &mut out)?
        } else {
            analyze_one(path, &cfg, &args, &label, sink.as_mut(), features.as_mut())?
        };
        results.push((label, outcome));
    }
    if let Some(f) = features.as_mut() {
        f.out.flush()?;
    }
    if let Some(s) = sink.as_mut() {
        s.out.flush()?;
    }

    let mut status = exit::OK;
    if let Some(m) = monitor {
        let summary = m.finish(MONITOR_FINISH_TIMEOUT);
        eprintln!("pcaplens: {}", summary.line());
        if args.strict && !summary.all_accepted() {
            status = exit::FAILURE;
        }
    }
    for (label, outcome) in &results {
        match outcome {
            Outcome::OpenFailed(msg) => {
                eprintln!("pcaplens: {label}: {msg}");
                status = status.max(exit::BAD_INPUT);
            }
            Outcome::Report(r) => {
                if let Some(err) = &r.status.error {
                    eprintln!("pcaplens: {label}: {}", err.message);
                    let code = if err.code == "not_a_capture" {
                        exit::BAD_INPUT
                    } else {
                        exit::PARTIAL
                    };
                    status = if status == exit::BAD_INPUT {
                        status
                    } else {
                        status.max(code)
                    };
                    if code == exit::BAD_INPUT {
                        status = exit::BAD_INPUT;
                    }
                }
            }
        }
    }

    if format.is_lines() {
        // The lines went out during the analysis.
    } else if format == OutputFormat::Json {
        let reports: Vec<(&String, &Report)> = results
            .iter()
            .filter_map(|(l, o)| match o {
                Outcome::Report(r) => Some((l, r.as_ref())),
                Outcome::OpenFailed(_) => None,
            })
            .collect();
        if args.files.len() == 1 {
            if let Some((_, r)) = reports.first() {
                // Straight into the buffered stdout: the same bytes as
                // `Report::to_json_pretty` without building a string of
                // several megabytes first.
                serde_json::to_writer_pretty(&mut out, r)?;
                out.write_all(b"\n")?;
            }
        } else {
            let arr: Vec<serde_json::Value> = reports
                .iter()
                .map(|(l, r)| serde_json::json!({"file": l, "report": r}))
                .collect();
            serde_json::to_writer_pretty(&mut out, &arr)?;
            out.write_all(b"\n")?;
        }
    } else {
        let color = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        for (label, outcome) in &results {
            if let Outcome::Report(r) = outcome {
                if r.status
                    .error
                    .as_ref()
                    .is_some_and(|e| e.code == "not_a_capture")
                {
                    continue;
                }
                human::print_report(&mut out, label, r, color)?;
            }
        }
    }
    out.flush()?;
    Ok(status)
}

/// Why `--jobs` cannot run with these arguments (None: it can). The sinks
/// written while a file is read (flow and feature files, EVE/ECS lines,
/// Azure Monitor) would interleave across threads: not supported yet.
fn jobs_refusal(
    args: &AnalyzeArgs,
    format: OutputFormat,
    monitor: bool,
    jobs: usize,
) -> Option<String> {
    if jobs == 0 {
        return Some("--jobs must be at least 1".into());
    }
    let other = if args.flows.is_some() {
        Some("--flows")
    } else if args.anomaly_features.is_some() {
        Some("--anomaly-features")
    } else if format.is_lines() {
        Some("--format eve/ecs")
    } else if monitor {
        Some("Azure Monitor")
    } else if args.files.iter().any(|f| f.as_os_str() == "-") {
        Some("standard input (-)")
    } else {
        None
    };
    other.map(|o| format!("--jobs does not combine with {o} yet"))
}

/// `--jobs N` without `--independent`: the files as consecutive pieces of
/// one capture (a single file cut into N pieces at record boundaries), their
/// partials made on N threads and merged into one report (docs/scale.md).
fn run_merged(
    args: &AnalyzeArgs,
    cfg: &AnalyzerConfig,
    format: OutputFormat,
    jobs: usize,
    out: &mut impl Write,
) -> Result<u8> {
    use pcaplens_native_io::pieces::{self, Piece};
    let label = match args.files.as_slice() {
        [one] => one.display().to_string(),
        many => format!("{} files", many.len()),
    };
    let plan = match args.files.as_slice() {
        [one] => pieces::cut_file(one, jobs),
        many => Ok(many
            .iter()
            .map(|p| Piece {
                path: p.clone(),
                spec: None,
            })
            .collect()),
    };
    let merged = plan.and_then(|p| pieces::merged_partial(&p, cfg, jobs));
    let report = match merged {
        Ok(p) => pcaplens_core::partial::finish(&p),
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Ok(exit::BAD_INPUT);
        }
    };
    let mut status = exit::OK;
    if let Some(err) = &report.status.error {
        eprintln!("pcaplens: {label}: {}", err.message);
        status = if err.code == "not_a_capture" {
            exit::BAD_INPUT
        } else {
            exit::PARTIAL
        };
    }
    if format == OutputFormat::Json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        out.write_all(b"\n")?;
    } else {
        let color = io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        human::print_report(out, &label, &report, color)?;
    }
    out.flush()?;
    Ok(status)
}

/// `--jobs N --independent`: every file analysed alone on one of N threads
/// (each by the same call as without --jobs), the outcomes in the order given.
fn analyze_parallel(
    files: &[PathBuf],
    cfg: &AnalyzerConfig,
    args: &AnalyzeArgs,
    jobs: usize,
) -> Result<Vec<(String, Outcome)>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<Outcome>>>> =
        files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(files.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let label = path.display().to_string();
                let outcome = analyze_one(path, cfg, args, &label, None, None);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
            });
        }
    });
    files
        .iter()
        .zip(slots)
        .map(|(path, slot)| {
            let outcome = slot
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err(anyhow::anyhow!("worker thread ended early")))?;
            Ok((path.display().to_string(), outcome))
        })
        .collect()
}

/// A progress bar on stderr for a large input, when stderr is a terminal.
fn progress_bar(size: Option<u64>, args: &AnalyzeArgs) -> Option<indicatif::ProgressBar> {
    match size {
        // Several bars from --jobs threads would overwrite each other.
        Some(n)
            if n >= PROGRESS_MIN_BYTES
                && !args.no_progress
                && args.jobs.is_none()
                && io::stderr().is_terminal() =>
        {
            let pb = indicatif::ProgressBar::new(n);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            Some(pb)
        }
        _ => None,
    }
}

/// The `--flows` and `--anomaly-features` outputs of a run, and Azure Monitor.
struct Sinks<'a> {
    flows: Option<&'a mut FlowSink>,
    features: Option<&'a mut FeatureSink>,
    monitor: Option<&'a Monitor>,
}

/// How long the end of `analyze` waits for Azure Monitor to take the last
/// findings (retries included).
const MONITOR_FINISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `--blocklist-table`: the table's entries. A table that cannot be read is
/// a warning (the analysis goes on without it) unless `--strict`; a missing
/// or malformed connection string is a usage error. `Err`: the exit status.
fn load_table(args: &AnalyzeArgs) -> std::result::Result<Vec<Indicator>, u8> {
    let table = match BlocklistTable::from_args(args.blocklist_table.as_deref()) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            eprintln!("pcaplens: {e}");
            return Err(exit::BAD_INPUT);
        }
    };
    let fail = |msg: String| {
        if args.strict {
            eprintln!("pcaplens: error: {msg}");
            Err(exit::BAD_INPUT)
        } else {
            eprintln!(
                "pcaplens: warning: {msg}; the analysis goes on without the table's entries \
                 (--strict stops instead)"
            );
            Ok(Vec::new())
        }
    };
    match table.load_blocking() {
        Ok(loaded) => {
            if loaded.bad_total > 0 {
                let shown: Vec<String> = loaded
                    .bad
                    .iter()
                    .take(5)
                    .map(|(rk, why)| format!("'{rk}' ({why})"))
                    .collect();
                let msg = format!(
                    "{}: {} RowKeys are not blocklist entries, e.g. {}",
                    table.label(),
                    loaded.bad_total,
                    shown.join(", ")
                );
                if args.strict {
                    eprintln!("pcaplens: error: {msg}");
                    return Err(exit::BAD_INPUT);
                }
                eprintln!("pcaplens: warning: {msg}; they are skipped");
            }
            eprintln!(
                "pcaplens: {}: {} entries ({} pages)",
                table.label(),
                loaded.entries.len(),
                loaded.pages
            );
            Ok(loaded.entries)
        }
        Err(e) => fail(e.to_string()),
    }
}

/// `--format eve` or `ecs`: the capture read in order into an analyzer with
/// events on, a line written for each event as it is polled after each chunk
/// (so memory follows the live flows, not the capture), then the report
/// (for the exit status and the other outputs).
fn lines_one(
    path: &Path,
    cfg: &AnalyzerConfig,
    args: &AnalyzeArgs,
    (format, label): (OutputFormat, &str),
    mut sinks: Sinks<'_>,
    out: &mut impl Write,
) -> Result<Outcome> {
    let input = match pcaplens_native_io::Input::open(path) {
        Ok(i) => i,
        Err(e) => return Ok(Outcome::OpenFailed(format!("cannot open: {e}"))),
    };
    let bar = progress_bar(input.size(), args);
    let mut reader: Box<dyn Read> = match input {
        pcaplens_native_io::Input::File(f) => Box::new(f),
        pcaplens_native_io::Input::Stream(r) => r,
    };
    let mut analyzer = Analyzer::new(cfg.clone())?.with_events();
    let mut eve = format.is_lines().then(|| {
        LineWriter::new(
            format == OutputFormat::Ecs,
            (path.as_os_str() != "-").then_some(label),
        )
    });
    let monitor = sinks.monitor;
    let mut drain = |analyzer: &mut Analyzer, out: &mut dyn Write| -> Result<()> {
        while let Some(event) = analyzer.poll_event() {
            if let (Some(m), pcaplens_core::Event::Finding(f)) = (monitor, &event) {
                m.track_finding(f, label);
            }
            if let Some(line) = eve.as_mut().and_then(|w| w.line(&event)) {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    };
    let mut buf = vec![0u8; pcaplens_native_io::READ_CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {label}")),
        };
        // A capture error ends the reading; the report keeps what came before.
        let failed = analyzer.feed(&buf[..n]).is_err();
        drain(&mut analyzer, out)?;
        if let Some(s) = sinks.flows.as_deref_mut() {
            s.write(label, &analyzer.drain_flows())?;
        }
        if let Some(pb) = &bar {
            pb.inc(n as u64);
            pb.set_message(format!("{} packets", analyzer.progress().packets));
        }
        if failed {
            break;
        }
    }
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    analyzer.close();
    drain(&mut analyzer, out)?;
    let (report, rest, matrix) = analyzer.finish_with_features();
    if let Some(s) = sinks.flows {
        s.write(label, &rest)?;
    }
    if let (Some(f), Some(m)) = (sinks.features, matrix) {
        f.write(label, &m)?;
    }
    Ok(Outcome::Report(Box::new(report)))
}

fn analyze_one(
    path: &std::path::Path,
    cfg: &AnalyzerConfig,
    args: &AnalyzeArgs,
    label: &str,
    mut sink: Option<&mut FlowSink>,
    features: Option<&mut FeatureSink>,
) -> Result<Outcome> {
    let input = match pcaplens_native_io::Input::open(path) {
        Ok(i) => i,
        Err(e) => return Ok(Outcome::OpenFailed(format!("cannot open: {e}"))),
    };
    let bar = progress_bar(input.size(), args);
    let analysis = pcaplens_native_io::analyze_input(input, cfg.clone(), |analyzer, len| {
        if let Some(pb) = &bar {
            pb.inc(len as u64);
            pb.set_message(format!("{} packets", analyzer.progress().packets));
        }
        if let Some(s) = sink.as_deref_mut() {
            s.write(label, &analyzer.drain_flows())?;
        }
        anyhow::Ok(true)
    });
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    let analysis = analysis.or_else(|e| match e {
        pcaplens_native_io::Error::Read(e) => Err(e).with_context(|| format!("reading {label}")),
        pcaplens_native_io::Error::Analyse(e) => Err(e),
        pcaplens_native_io::Error::Config(e) => Err(e.into()),
    })?;
    let pcaplens_native_io::Analysis {
        report,
        flows: rest,
        features: matrix,
    } = analysis;
    if let Some(s) = sink {
        s.write(label, &rest)?;
    }
    if let (Some(f), Some(m)) = (features, matrix) {
        f.write(label, &m)?;
    }
    Ok(Outcome::Report(Box::new(report)))
}
