//! `pcaplens live`: capture with libpcap (or replay a file at its own pace)
//! and analyse packet by packet, with alerts as they are decided.
//!
//! Two threads and a bounded queue: the capture thread reads libpcap with
//! non-blocking reads and `poll(2)`, so a quiet link still wakes it, and
//! hands packets over; when the analysis falls behind, packets are dropped
//! and counted, never buffered without limit. The analysis thread feeds the
//! core's [`Engine`] and tells it the time ([`Engine::handle_timeout`]), so
//! idle flows end on a quiet link. SIGINT or SIGTERM ends the capture, every
//! flow and the report; a second SIGINT exits at once. SIGHUP reopens the
//! alert and log files and reloads the blocklists (logrotate's convention).
//!
//! `-w FILE` keeps the packets, rotated with `-C`/`-G`/`-W` as tcpdump does
//! ([`crate::live_write`]); `--log-file` copies the console log to a
//! rotating file ([`crate::live_log`]).

use crate::analyze_cmd::LineWriter;
use crate::azure::monitor::{ConnectionString, Monitor, MonitorSettings};
use crate::azure::table::{BlocklistTable, Loaded};
use crate::live_log::{self, log};
use crate::live_queue::{Batch, Consumer, Msg, Producer};
use crate::live_write::{RotatingPcap, Rotation};
use crate::options_args::OptionArgs;
use anyhow::{Context, Result};
use clap::Args;
use pcaplens_core::capture::{Event as CaptureEvent, Reader};
use pcaplens_core::detect::blocklist::Indicator;
use pcaplens_core::eve::StatsCounters;
use pcaplens_core::{AnalyzerConfig, Engine, Event};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds a closed TCP flow stays after its last packet in live capture
/// (files keep it until the idle timeout: their reports do not change).
const LIVE_CLOSED_TIMEOUT_SECS: u64 = 2;

/// How often the analysis tells the engine the time when packets are few.
const CLOCK_TICK: Duration = Duration::from_millis(250);

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on (see --list-interfaces)
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interface: Option<String>,
    /// Replay this capture file through the live path instead (with --realtime: at its own pace)
    #[arg(
        short = 'r',
        long = "read",
        value_name = "FILE",
        conflicts_with = "interface"
    )]
    pub read: Option<PathBuf>,
    /// With -r: send packets at the pace of their timestamps
    #[arg(long, requires = "read")]
    pub realtime: bool,
    /// List the interfaces libpcap can capture on, and exit
    #[arg(long)]
    pub list_interfaces: bool,
    /// Capture filter (BPF, as tcpdump takes it), compiled by libpcap
    #[arg(short = 'f', long = "bpf", value_name = "FILTER")]
    pub bpf: Option<String>,
    /// Bytes kept of each packet
    #[arg(long, default_value_t = 262_144, value_name = "BYTES")]
    pub snaplen: i32,
    /// Do not put the interface in promiscuous mode
    #[arg(long)]
    pub no_promisc: bool,
    /// Promiscuous mode (the default)
    #[arg(long, conflicts_with = "no_promisc")]
    pub promisc: bool,
    /// Kernel capture buffer in bytes (set before the capture starts)
    #[arg(short = 'B', long, value_name = "BYTES")]
    pub buffer_size: Option<i32>,
    /// Hand each packet over as it arrives (off: libpcap batches them for at
    /// most 100 ms; immediate mode gives each packet a whole snaplen-sized slot
    /// of the kernel buffer, so bursts need a larger -B)
    #[arg(long)]
    pub immediate: bool,
    /// Stop after this many seconds
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Stop after this many packets
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    /// Write alerts (and with --eve-flows, ended flows) as Suricata EVE JSON lines (or ECS:
    /// --alerts-format ecs) to FILE (`-`: stdout)
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// Format of the --alerts lines: eve (Suricata EVE JSON) or ecs (Elastic
    /// Common Schema documents, docs/ecs.md)
    #[arg(
        long,
        value_enum,
        default_value = "eve",
        value_name = "FORMAT",
        requires = "alerts"
    )]
    pub alerts_format: AlertsFormat,
    /// Also write one `flow` line (EVE or ECS) per ended flow to the alerts file
    #[arg(long, requires = "alerts")]
    pub eve_flows: bool,
    /// Write an EVE `stats` line to the alerts file every SECS seconds (0: never)
    #[arg(long, default_value_t = 0, value_name = "SECS", requires = "alerts")]
    pub stats_interval: u64,
    /// Keep the captured packets in this pcap file (what the analysis saw).
    /// With -C or -G it rotates: FILE, then FILE1, FILE2, … (tcpdump's -C names)
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// With -w: start the next file before the current one would exceed MB
    /// million bytes (tcpdump's -C)
    #[arg(short = 'C', long = "file-size", value_name = "MB", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub file_size: Option<u64>,
    /// With -w: start the next file with the first packet SECS seconds (wall
    /// clock) or more after the current file was opened (named FILE1, FILE2, …
    /// as with -C; no packet, no file)
    #[arg(short = 'G', long = "rotate-seconds", value_name = "SECS", requires = "write",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub rotate_seconds: Option<u64>,
    /// With -C or -G: a ring of N files (FILE … FILE<N-1>, then FILE is
    /// overwritten), as tcpdump's -W with -C
    #[arg(short = 'W', long = "file-count", value_name = "N", requires = "write",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub file_count: Option<u32>,
    /// Also write the console log (status lines, messages) to FILE, each line
    /// after an RFC 3339 UTC timestamp; FILE is rotated to FILE.1, FILE.2, …
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// Rotate the log file before it would exceed this many bytes
    #[arg(
        long,
        default_value_t = 10_000_000,
        value_name = "BYTES",
        requires = "log_file"
    )]
    pub log_max_bytes: u64,
    /// Old log files kept (FILE.1 … FILE.N; 0: the log file is emptied instead)
    #[arg(long, default_value_t = 5, value_name = "N", requires = "log_file")]
    pub log_keep: u32,
    /// At the end, print the full JSON report (as `analyze --json`, plus a `live` section)
    #[arg(long)]
    pub json: bool,
    /// Print a status line on stderr every --interval seconds (default when stderr is a terminal)
    #[arg(long)]
    pub status: bool,
    /// Seconds between status lines
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub interval: u64,
    /// Memory in MiB for packets between the capture and the analysis,
    /// allocated at the start; when it is full packets are dropped and counted
    #[arg(long, default_value_t = 32, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub queue_mib: u64,
    /// Blocklist file (repeatable): one IP, CIDR range or domain a line
    /// (read again on SIGHUP)
    #[arg(long, value_name = "FILE")]
    pub blocklist: Vec<PathBuf>,
    /// Also take blocklist entries from this Azure Table (each RowKey an IP, a CIDR range
    /// written ADDR_LEN, or a domain), read with AZURE_STORAGE_CONNECTION_STRING and read
    /// again every --blocklist-refresh seconds and on SIGHUP; default: the
    /// AZURE_BLACKLIST_TABLE variable (docs/azure-table.md)
    #[arg(long, value_name = "NAME")]
    pub blocklist_table: Option<String>,
    /// Seconds between two reads of the blocklist table (0: read it once, and on SIGHUP)
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub blocklist_refresh: u64,
    /// Send findings, and statistics every --monitor-interval seconds, to Azure Monitor
    /// (Application Insights) with this connection string; default: the
    /// AZURE_MONITOR_CONNECTION_STRING variable (docs/azure-monitor.md)
    #[arg(long, value_name = "CONN_STR")]
    pub monitor_conn_str: Option<String>,
    /// Seconds between two sets of statistics sent to Azure Monitor as metrics (0: none)
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub monitor_interval: u64,
    /// Exit (status 2) when the blocklist table cannot be read at the start, instead of
    /// warning and capturing without its entries
    #[arg(long)]
    pub strict: bool,
    /// Classify flows (reassembled payload, sanitized, judged by an LLM or,
    /// with no endpoint configured, the rules); alerts at or above
    /// --confidence-threshold go to --alerts as they arrive
    #[arg(long)]
    pub classify: bool,
    #[command(flatten, next_help_heading = "Flow classification (--classify)")]
    pub classify_opts: crate::classify_cmd::ClassifyArgs,
    #[command(flatten)]
    pub options: OptionArgs,
}

/// The format of `--alerts`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AlertsFormat {
    /// Suricata EVE JSON (docs/eve.md)
    Eve,
    /// Elastic Common Schema NDJSON (docs/ecs.md)
    Ecs,
}

/// Counters of the live run, for the status line and the report's `live` section.
#[derive(Default)]
struct LiveCounters {
    received: Widened,
    kernel_dropped: Widened,
    if_dropped: Widened,
}

/// A 32-bit counter of libpcap's, widened: each reading adds its change
/// since the last one, modulo 2^32, so wrap-around is counted.
#[derive(Default)]
struct Widened {
    last: Option<u32>,
    total: u64,
}

impl Widened {
    fn update(&mut self, now: u32) {
        if let Some(last) = self.last {
            self.total += now.wrapping_sub(last) as u64;
        } else {
            self.total = now as u64;
        }
        self.last = Some(now);
    }
}

pub fn run(args: &LiveArgs) -> Result<u8> {
    if args.list_interfaces {
        return list_interfaces();
    }
    if args.interface.is_none() && args.read.is_none() {
        eprintln!("pcaplens live: give an interface (-i IFACE) or a file to replay (-r FILE)");
        return Ok(crate::exit::BAD_INPUT);
    }
    if args.file_count.is_some() && args.file_size.is_none() && args.rotate_seconds.is_none() {
        eprintln!("pcaplens live: -W (--file-count) needs -C or -G");
        return Ok(crate::exit::BAD_INPUT);
    }
    if let Some(path) = &args.log_file {
        match live_log::RotatingLog::open(path, args.log_max_bytes, args.log_keep) {
            Ok(l) => live_log::set_file(l),
            Err(e) => {
                eprintln!(
                    "pcaplens live: cannot open the log file {}: {e}",
                    path.display()
                );
                return Ok(crate::exit::BAD_INPUT);
            }
        }
    }
    let (mut cfg, option_entries, file_entries) = match config(args) {
        Ok(c) => c,
        Err(e) => {
            log!("pcaplens: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    let table = match BlocklistTable::from_args(args.blocklist_table.as_deref()) {
        Ok(t) => t.map(Arc::new),
        Err(e) => {
            log!("pcaplens: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    let monitor = match ConnectionString::from_args(args.monitor_conn_str.as_deref()) {
        Ok(c) => c.map(|c| Monitor::start(c, MonitorSettings::default())),
        Err(e) => {
            log!("pcaplens: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
    };
    let mut table_entries = Vec::new();
    if let Some(t) = &table {
        match t.load_blocking() {
            Ok(loaded) => {
                log_loaded(t, &loaded, "read");
                table_entries = loaded.entries;
            }
            Err(e) if args.strict => {
                log!("pcaplens live: error: {e}");
                return Ok(crate::exit::BAD_INPUT);
            }
            Err(e) => log!(
                "pcaplens live: warning: {e}; capturing without the table's entries (tried again {})",
                if args.blocklist_refresh > 0 {
                    format!("every {} s and on SIGHUP", args.blocklist_refresh)
                } else {
                    "on SIGHUP".to_string()
                }
            ),
        }
        cfg.detect
            .blocklist
            .entries
            .extend(table_entries.iter().cloned());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    {
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // A second signal while stopping exits at once (status 130).
            signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&stop))?;
            signal_hook::flag::register(sig, Arc::clone(&stop))?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&hup))?;
    }
    let (tx, rx, queue_drops) = crate::live_queue::queue((args.queue_mib as usize) << 20);
    let source_stop = Arc::new(AtomicBool::new(false));
    let source = match (&args.interface, &args.read) {
        (Some(iface), _) => match open_interface(iface, args) {
            Ok(cap) => {
                let stop2 = Arc::clone(&source_stop);
                std::thread::spawn(move || capture_loop(cap, tx, stop2))
            }
            Err(code) => return Ok(code),
        },
        (None, Some(path)) => {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()));
            let file = match file {
                Ok(f) => f,
                Err(e) => {
                    log!("pcaplens: {e:#}");
                    return Ok(crate::exit::BAD_INPUT);
                }
            };
            let stop2 = Arc::clone(&source_stop);
            let realtime = args.realtime;
            std::thread::spawn(move || replay_loop(file, realtime, tx, stop2))
        }
        _ => unreachable!("checked above"),
    };
    let refresh = table.as_ref().map(|t| {
        start_refresher(
            Arc::clone(t),
            args.blocklist_refresh,
            Arc::clone(&source_stop),
        )
    });
    let signals = Signals {
        stop: &stop,
        hup: &hup,
        lists: RefCell::new(Lists {
            options: option_entries,
            files: file_entries,
            table: table_entries,
        }),
        refresh,
        monitor: monitor.as_ref(),
    };
    let result = analyse(args, cfg, rx, &signals, &queue_drops, &source_stop);
    source_stop.store(true, Ordering::Relaxed);
    let _ = source.join();
    if let Some(m) = monitor {
        log!(
            "pcaplens live: {}",
            m.finish(Duration::from_secs(10)).line()
        );
    }
    result
}

/// Log what a read of the blocklist table gave (`what`: read, refreshed).
fn log_loaded(t: &BlocklistTable, loaded: &Loaded, what: &str) {
    if loaded.bad_total > 0 {
        let shown: Vec<String> = loaded
            .bad
            .iter()
            .take(5)
            .map(|(rk, why)| format!("'{rk}' ({why})"))
            .collect();
        log!(
            "pcaplens live: warning: {}: {} RowKeys are not blocklist entries and are skipped, e.g. {}",
            t.label(),
            loaded.bad_total,
            shown.join(", ")
        );
    }
    log!(
        "pcaplens live: {} {what}: {} entries ({} pages)",
        t.label(),
        loaded.entries.len(),
        loaded.pages
    );
}

/// The blocklist table read again in the background every `every` seconds
/// (0: only when woken, on SIGHUP), so the capture never waits for it.
struct Refresh {
    results: Receiver<std::result::Result<Loaded, String>>,
    wake: Arc<AtomicBool>,
    table: Arc<BlocklistTable>,
}

fn start_refresher(table: Arc<BlocklistTable>, every: u64, stop: Arc<AtomicBool>) -> Refresh {
    let (tx, results) = sync_channel(1);
    let wake = Arc::new(AtomicBool::new(false));
    let (t, w) = (Arc::clone(&table), Arc::clone(&wake));
    std::thread::spawn(move || loop {
        let due = (every > 0).then(|| Instant::now() + Duration::from_secs(every));
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if w.swap(false, Ordering::Relaxed) || due.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let r = t.load_blocking().map_err(|e| e.to_string());
        if tx.send(r).is_err() {
            return;
        }
    });
    Refresh {
        results,
        wake,
        table,
    }
}

/// The blocklist entries by origin: the engine gets all of them.
struct Lists {
    /// `--config`/`--set` (kept on reload).
    options: Vec<Indicator>,
    /// `--blocklist` files (read again on SIGHUP).
    files: Vec<Indicator>,
    /// `--blocklist-table` (read again every --blocklist-refresh seconds).
    table: Vec<Indicator>,
}

impl Lists {
    fn all(&self) -> Vec<Indicator> {
        let mut v = self.options.clone();
        v.extend(self.files.iter().cloned());
        v.extend(self.table.iter().cloned());
        v
    }
}

/// The options: `--config`, `--set` and the blocklists, over live defaults
/// (closed TCP flows end a few seconds after their last packet). Also
/// returns the blocklist entries of the options alone (a reload keeps them)
/// and those of the files.
#[allow(clippy::type_complexity)]
fn config(
    args: &LiveArgs,
) -> std::result::Result<(AnalyzerConfig, Vec<Indicator>, Vec<Indicator>), String> {
    // Memory follows the active scanners: a quiet source's scans are decided
    // and its probes forgotten after twice the default scan window.
    let base = json!({
        "flow": {"closed_timeout_secs": LIVE_CLOSED_TIMEOUT_SECS},
        "detect": {
            "scan": {"retire_after_secs": 600},
            // Alerts for a flood of resets or of unanswered connection attempts.
            "bursts": {"min_resets": 50, "min_unanswered_syns": 20},
            // Percentiles of a sample beyond 100,000 handshakes: bounded for hours.
            "tcp": {"max_rtt_samples": 100_000},
        },
    });
    let mut cfg = args
        .options
        .resolve_over(&base, args.classify_opts.option_flags())?;
    let option_entries = cfg.detect.blocklist.entries.clone();
    let file_entries = read_blocklists(&args.blocklist)?;
    cfg.detect
        .blocklist
        .entries
        .extend(file_entries.iter().cloned());
    Ok((cfg, option_entries, file_entries))
}

/// The entries of the `--blocklist` files, in order.
fn read_blocklists(paths: &[PathBuf]) -> std::result::Result<Vec<Indicator>, String> {
    let mut entries = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read blocklist {}: {e}", path.display()))?;
        let list = pcaplens_core::detect::blocklist::parse_list(&text, &path.display().to_string())
            .map_err(|bad| {
                let first = &bad[0];
                format!(
                    "{}:{}: {} ({})",
                    path.display(),
                    first.line,
                    first.text,
                    first.reason
                )
            })?;
        entries.extend(list);
    }
    Ok(entries)
}

/// What the signal handlers set, and what a reload needs.
struct Signals<'a> {
    stop: &'a AtomicBool,
    /// SIGHUP: reopen the alert and log files, reload the blocklists.
    hup: &'a AtomicBool,
    /// The blocklist entries in force, by origin.
    lists: RefCell<Lists>,
    /// The blocklist table's background reads.
    refresh: Option<Refresh>,
    /// Azure Monitor, when a connection string is given.
    monitor: Option<&'a Monitor>,
}

/// The alerts file: created (emptied) at the start, appended to when
/// reopened (created anew if it was moved away).
fn open_alerts(path: &Path, reopen: bool) -> Result<Box<dyn Write>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdout()));
    }
    let f = if reopen {
        OpenOptions::new().create(true).append(true).open(path)
    } else {
        File::create(path)
    };
    let f = f.with_context(|| format!("cannot create {}", path.display()))?;
    Ok(Box::new(BufWriter::new(f)))
}

/// SIGHUP: reopen the alert and log files at their paths and read the
/// blocklists again (a list that does not read keeps the one in force).
fn reload(
    args: &LiveArgs,
    signals: &Signals<'_>,
    engine: &mut Engine,
    alerts: &mut Option<Box<dyn Write>>,
) -> Result<()> {
    let mut done = Vec::new();
    if let Some(e) = live_log::reopen() {
        match e {
            Ok(p) => done.push(format!("log {}", p.display())),
            Err(e) => log!("pcaplens live: SIGHUP: cannot reopen the log file: {e}"),
        }
    }
    if let (Some(path), Some(old)) = (&args.alerts, alerts.as_mut()) {
        if path.as_os_str() != "-" {
            old.flush()?;
            match open_alerts(path, true) {
                Ok(new) => {
                    *alerts = Some(new);
                    done.push(format!("alerts {}", path.display()));
                }
                // The capture goes on; alerts go to the file still open.
                Err(e) => log!("pcaplens live: SIGHUP: {e:#}; alerts go on to the old file"),
            }
        }
    }
    if !args.blocklist.is_empty() {
        match read_blocklists(&args.blocklist) {
            Ok(list) => {
                let mut lists = signals.lists.borrow_mut();
                lists.files = list;
                let entries = lists.all();
                done.push(format!("blocklist ({} entries)", entries.len()));
                engine.set_blocklist(entries);
            }
            Err(e) => log!("pcaplens live: SIGHUP: blocklist not reloaded, the old one stays: {e}"),
        }
    }
    if let Some(r) = &signals.refresh {
        // Read in the background; the entries change when it answers.
        r.wake.store(true, Ordering::Relaxed);
        done.push("blocklist table (reading)".to_string());
    }
    log!(
        "pcaplens live: SIGHUP: reopened/reloaded {}",
        if done.is_empty() {
            "nothing".to_string()
        } else {
            done.join(", ")
        }
    );
    Ok(())
}

fn list_interfaces() -> Result<u8> {
    match pcap::Device::list() {
        Ok(devs) => {
            for d in devs {
                let addrs: Vec<String> = d.addresses.iter().map(|a| a.addr.to_string()).collect();
                println!(
                    "{}\t{}\t{}",
                    d.name,
                    d.desc.unwrap_or_default(),
                    addrs.join(",")
                );
            }
            Ok(crate::exit::OK)
        }
        Err(e) => {
            log!("pcaplens live: cannot list interfaces: {e}");
            Ok(crate::exit::FAILURE)
        }
    }
}

/// Open and activate the capture; on failure, print what to do and return
/// the exit status.
fn open_interface(
    iface: &str,
    args: &LiveArgs,
) -> std::result::Result<pcap::Capture<pcap::Active>, u8> {
    let known = pcap::Device::list().unwrap_or_default();
    if !known.is_empty() && !known.iter().any(|d| d.name == iface) {
        log!("pcaplens live: no interface {iface:?}; these can be captured on:");
        for d in &known {
            log!("  {}", d.name);
        }
        return Err(crate::exit::BAD_INPUT);
    }
    let mut inactive = match pcap::Capture::from_device(iface) {
        Ok(c) => c,
        Err(e) => {
            log!("pcaplens live: {iface}: {e}");
            return Err(crate::exit::BAD_INPUT);
        }
    };
    inactive = inactive
        .promisc(!args.no_promisc)
        .snaplen(args.snaplen.max(64))
        .immediate_mode(args.immediate)
        .precision(pcap::Precision::Nano)
        .timeout(100);
    if let Some(b) = args.buffer_size {
        inactive = inactive.buffer_size(b);
    }
    let cap = match inactive.open() {
        Ok(c) => c,
        Err(e) => {
            let text = e.to_string();
            if text.contains("ermission") || text.contains("not permitted") {
                log!(
                    "pcaplens live: no permission to capture on {iface} ({text}); run as root or \
                     grant the binary the capability: sudo setcap cap_net_raw,cap_net_admin=eip {}",
                    std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "pcaplens".into())
                );
            } else {
                log!("pcaplens live: cannot capture on {iface}: {text}");
            }
            return Err(crate::exit::BAD_INPUT);
        }
    };
    let mut cap = match cap.setnonblock() {
        Ok(c) => c,
        Err(e) => {
            log!("pcaplens live: {iface}: cannot read without blocking: {e}");
            return Err(crate::exit::FAILURE);
        }
    };
    if let Some(filter) = &args.bpf {
        if let Err(e) = cap.filter(filter, true) {
            log!("pcaplens live: bad capture filter {filter:?}: {e}");
            return Err(crate::exit::BAD_INPUT);
        }
    }
    // As tcpdump says it: scripts wait for this line.
    log!(
        "pcaplens live: listening on {iface}, link-type {}, snapshot length {} bytes",
        cap.get_datalink().0,
        args.snaplen.max(64)
    );
    Ok(cap)
}

fn capture_loop(mut cap: pcap::Capture<pcap::Active>, mut tx: Producer, stop: Arc<AtomicBool>) {
    let mut last_stats = Instant::now();
    let link = cap.get_datalink().0 as u32;
    while !stop.load(Ordering::Relaxed) {
        match cap.next_packet() {
            Ok(p) => {
                let h = *p.header;
                // time_t and suseconds_t are narrower on some platforms.
                #[allow(clippy::unnecessary_cast)]
                let ts = h.ts.tv_sec as i64 * 1_000_000_000 + h.ts.tv_usec as i64;
                if !tx.offer(ts, link, h.len, p.data) {
                    return;
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing to read now: what waits goes over when due.
                if !tx.flush_if_due() {
                    return;
                }
                wait_readable(&cap, tx.hold_left());
            }
            Err(e) => {
                let _ = tx.send(Msg::End(Some(e.to_string())));
                return;
            }
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            last_stats = Instant::now();
            if let Ok(s) = cap.stats() {
                if !tx.send(Msg::Stats(s)) {
                    return;
                }
            }
        }
    }
    if let Ok(s) = cap.stats() {
        let _ = tx.send(Msg::Stats(s));
    }
}

/// Wait until the capture has packets, or 100 ms (so stop requests and
/// statistics are seen on a quiet link), or until a waiting batch is due.
#[cfg(unix)]
fn wait_readable(cap: &pcap::Capture<pcap::Active>, hold_left: Option<Duration>) {
    use std::os::fd::AsRawFd;
    let mut fds = [libc::pollfd {
        fd: cap.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd for the length of the call.
    let ms = hold_left.map_or(100, |d| d.as_millis().clamp(1, 100) as i32);
    unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
}

#[cfg(not(unix))]
fn wait_readable(_cap: &pcap::Capture<pcap::Active>, _hold_left: Option<Duration>) {
    std::thread::sleep(Duration::from_millis(1));
}

/// Replay a capture file through the live path: records in order, at their
/// own pace with `realtime`.
fn replay_loop(mut file: File, realtime: bool, mut tx: Producer, stop: Arc<AtomicBool>) {
    let mut reader = Reader::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut pace: Option<(i64, Instant)> = None;
    let mut link: Option<u32> = None;
    // Set when the capture is stopped or the analysis has gone.
    let mut done = false;
    loop {
        if done || stop.load(Ordering::Relaxed) {
            let _ = tx.send(Msg::End(None));
            return;
        }
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Msg::End(Some(e.to_string())));
                return;
            }
        };
        let res = reader.push(&buf[..n], &mut |ev| {
            let CaptureEvent::Record(r) = ev else { return };
            if done {
                return;
            }
            // One link type per live run (a pcapng of several interfaces
            // is analysed with `analyze`).
            if *link.get_or_insert(r.link_type) != r.link_type {
                return;
            }
            if realtime {
                let (t0, start) = *pace.get_or_insert((r.ts_nanos, Instant::now()));
                let due = start + Duration::from_nanos((r.ts_nanos - t0).max(0) as u64);
                if Instant::now() < due && !tx.flush() {
                    done = true;
                    return;
                }
                while Instant::now() < due {
                    if stop.load(Ordering::Relaxed) {
                        done = true;
                        return;
                    }
                    std::thread::sleep((due - Instant::now()).min(Duration::from_millis(50)));
                }
                done = !tx.offer(r.ts_nanos, r.link_type, r.orig_len, r.data);
            } else {
                // As fast as the analysis takes them: nothing is dropped.
                done = !tx.push_wait(r.ts_nanos, r.link_type, r.orig_len, r.data);
            }
        });
        // A batch partly filled goes over once its first packet has waited long enough.
        done |= !tx.flush_if_due();
        if let Err(e) = res {
            let _ = tx.send(Msg::End(Some(e.to_string())));
            return;
        }
    }
    let end = reader.finish().err().map(|e| e.to_string());
    let _ = tx.send(Msg::End(end));
}

/// The analysis thread: packets and time into the engine, events out.
fn analyse(
    args: &LiveArgs,
    cfg: AnalyzerConfig,
    rx: Consumer,
    signals: &Signals<'_>,
    queue_drops: &AtomicU64,
    source_stop: &AtomicBool,
) -> Result<u8> {
    let stop = signals.stop;
    let classify_cfg = cfg.classify.clone();
    let mut engine = Engine::new(cfg)?.with_events().preallocated();
    let mut classifier = match args.classify {
        false => None,
        true => {
            let (opts, llm) = args
                .classify_opts
                .resolve(&classify_cfg, true)
                .map_err(|e| anyhow::anyhow!("--classify: {e}"))?;
            log!(
                "pcaplens live: classifying flows with {}",
                llm.as_ref()
                    .map(|c| c.model().to_string())
                    .unwrap_or_else(
                        || "the rule-based classifier (no model endpoint configured)".into()
                    )
            );
            Some(crate::classify_pipeline::Pipeline::new(opts, llm)?)
        }
    };
    let mut alerts = match &args.alerts {
        Some(p) => Some(open_alerts(p, false)?),
        None => None,
    };
    let mut eve = LineWriter::new(args.alerts_format == AlertsFormat::Ecs, None);
    let mut last_stats_event = Instant::now();
    let snaplen = args.snaplen.max(64) as u32;
    let mut writer = args.write.as_ref().map(|path| {
        let rotation = Rotation {
            max_bytes: args.file_size.map(|mb| mb.saturating_mul(1_000_000)),
            every: args.rotate_seconds.map(Duration::from_secs),
            files: args.file_count,
        };
        RotatingPcap::new(path, rotation, snaplen)
    });
    let show_status = args.status || io::stderr().is_terminal();
    let started = Instant::now();
    let wall_start = wall_nanos();
    let deadline = args
        .duration
        .map(|s| started + Duration::from_secs_f64(s.max(0.0)));
    let mut counters = LiveCounters::default();
    let mut packets: u64 = 0;
    let mut alert_count: u64 = 0;
    let mut last_tick = Instant::now();
    let mut last_status = Instant::now();
    let mut last_status_packets = 0u64;
    let mut last_metrics = Instant::now();
    let mut last_metrics_packets = 0u64;
    let sink = MonitorSink {
        monitor: signals.monitor,
        capture: args
            .interface
            .clone()
            .or_else(|| args.read.as_ref().map(|p| p.display().to_string()))
            .unwrap_or_default(),
    };
    // The engine's clock: the wall clock, moved onto the packets' time base
    // (the same for a live capture; a replayed file's own for `-r`).
    let mut clock_offset: Option<i64> = None;
    let mut source_error = None;
    let replaying = args.read.is_some();
    // The newest packet time seen (the clock of a replay at full speed).
    let mut newest_ts = i64::MIN;
    loop {
        if stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || args.count.is_some_and(|c| packets >= c)
        {
            break;
        }
        if signals.hup.swap(false, Ordering::Relaxed) {
            reload(args, signals, &mut engine, &mut alerts)?;
        }
        if let Some(r) = &signals.refresh {
            match r.results.try_recv() {
                Ok(Ok(loaded)) => {
                    // Said only when the entries changed: a refresh every few
                    // minutes would otherwise fill the log.
                    let mut lists = signals.lists.borrow_mut();
                    if lists.table != loaded.entries {
                        log_loaded(&r.table, &loaded, "read again");
                        lists.table = loaded.entries;
                        engine.set_blocklist(lists.all());
                    }
                }
                Ok(Err(e)) => log!("pcaplens live: warning: {e}; the entries read before stay"),
                Err(_) => {}
            }
        }
        match rx.recv_timeout(CLOCK_TICK) {
            Ok(Msg::Batch(b)) => {
                if clock_offset.is_none() && !b.is_empty() {
                    let ts = b.packet(0).ts;
                    clock_offset = Some(if replaying { ts - wall_nanos() } else { 0 });
                }
                if !b.is_empty() {
                    newest_ts = newest_ts.max(b.packet(b.len() - 1).ts);
                }
                let taken = analyse_batch(
                    &b,
                    &mut engine,
                    &mut writer,
                    &mut classifier,
                    packets,
                    args.count,
                );
                rx.recycle(b);
                packets += taken?;
            }
            Ok(Msg::Stats(s)) => {
                counters.received.update(s.received);
                counters.kernel_dropped.update(s.dropped);
                counters.if_dropped.update(s.if_dropped);
            }
            Ok(Msg::End(err)) => {
                source_error = err;
                break;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_tick.elapsed() >= CLOCK_TICK {
            last_tick = Instant::now();
            if let Some(off) = clock_offset {
                let now = if !replaying || args.realtime {
                    wall_nanos() + off
                } else {
                    // A file replayed at full speed: its own time is the
                    // clock (scans retire, busy sources forget old probes).
                    newest_ts
                };
                engine.handle_timeout(now);
                if let Some(c) = &mut classifier {
                    c.handle_timeout(now as f64 / 1e9);
                }
            }
            if let Some(w) = &mut writer {
                w.flush()?;
            }
        }
        alert_count += write_events(&mut engine, &mut eve, &mut alerts, args.eve_flows, &sink)?;
        if let Some(c) = &mut classifier {
            let verdicts = c.take_verdicts();
            alert_count += write_verdicts(&verdicts, &eve, &mut alerts)?;
        }
        if let (Some(m), true) = (signals.monitor, args.monitor_interval > 0) {
            if last_metrics.elapsed() >= Duration::from_secs(args.monitor_interval) {
                let secs = last_metrics.elapsed().as_secs_f64();
                last_metrics = Instant::now();
                let queue = queue_drops.load(Ordering::Relaxed);
                for (name, value) in [
                    ("pcaplens.packets", packets as f64),
                    (
                        "pcaplens.packets_per_second",
                        (packets - last_metrics_packets) as f64 / secs,
                    ),
                    ("pcaplens.live_flows", engine.live_flows() as f64),
                    ("pcaplens.alerts", alert_count as f64),
                    (
                        "pcaplens.drops.kernel",
                        counters.kernel_dropped.total as f64,
                    ),
                    ("pcaplens.drops.interface", counters.if_dropped.total as f64),
                    ("pcaplens.drops.queue", queue as f64),
                    ("pcaplens.monitor.overflow", m.overflow() as f64),
                ] {
                    m.track_metric(name, value, &sink.capture);
                }
                last_metrics_packets = packets;
            }
        }
        if args.stats_interval > 0
            && last_stats_event.elapsed() >= Duration::from_secs(args.stats_interval)
        {
            last_stats_event = Instant::now();
            if let Some(a) = &mut alerts {
                let c = StatsCounters {
                    uptime_secs: started.elapsed().as_secs(),
                    kernel_packets: counters.received.total,
                    kernel_drops: counters.kernel_dropped.total,
                    kernel_ifdrops: counters.if_dropped.total,
                    packets,
                    flows_active: engine.live_flows() as u64,
                    ..Default::default()
                };
                let now = wall_nanos() + clock_offset.unwrap_or(0);
                let line = if eve.is_ecs() {
                    pcaplens_core::ecs::stats_document(now, &c)
                } else {
                    pcaplens_core::eve::stats_event(now, &c)
                };
                writeln!(a, "{line}")?;
                a.flush()?;
            }
        }
        if show_status && last_status.elapsed() >= Duration::from_secs(args.interval.max(1)) {
            let secs = last_status.elapsed().as_secs_f64();
            last_status = Instant::now();
            log!(
                "{}",
                status_line(
                    packets,
                    (packets - last_status_packets) as f64 / secs,
                    engine.live_flows(),
                    alert_count,
                    &counters,
                    queue_drops.load(Ordering::Relaxed)
                )
            );
            last_status_packets = packets;
        }
    }
    // Stop the source and take what it still hands over: the packets
    // already captured (analysed, but not past --count) and libpcap's last
    // counters, which it sends as it stops (waited for at most a second).
    source_stop.store(true, Ordering::Relaxed);
    let drain_until = Instant::now() + Duration::from_secs(1);
    while let Ok(msg) = rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())) {
        match msg {
            Msg::Batch(b) => {
                let taken = analyse_batch(
                    &b,
                    &mut engine,
                    &mut writer,
                    &mut classifier,
                    packets,
                    args.count,
                );
                rx.recycle(b);
                packets += taken?;
            }
            Msg::Stats(s) => {
                counters.received.update(s.received);
                counters.kernel_dropped.update(s.dropped);
                counters.if_dropped.update(s.if_dropped);
            }
            _ => {}
        }
    }
    engine.close();
    alert_count += write_events(&mut engine, &mut eve, &mut alerts, args.eve_flows, &sink)?;
    let mut classify_stats = None;
    if let Some(c) = classifier.take() {
        let (verdicts, stats) = c.finish();
        alert_count += write_verdicts(&verdicts, &eve, &mut alerts)?;
        classify_stats = Some(stats);
    }
    if let Some(a) = &mut alerts {
        a.flush()?;
    }
    if let Some(w) = &mut writer {
        w.flush()?;
    }
    let live_flows = engine.live_flows();
    let report = engine.finish();
    let queue = queue_drops.load(Ordering::Relaxed);
    let live = json!({
        "source": match (&args.interface, &args.read) {
            (Some(i), _) => json!({"interface": i}),
            (_, Some(f)) => json!({"file": f.display().to_string(), "realtime": args.realtime}),
            _ => Value::Null,
        },
        "started": pcaplens_core::time::rfc3339(wall_start),
        "duration_secs": (started.elapsed().as_secs_f64() * 1e3).round() / 1e3,
        "packets_analysed": packets,
        "alerts": alert_count,
        "live_flows_at_end": live_flows,
        "drops": {
            "kernel": counters.kernel_dropped.total,
            "interface": counters.if_dropped.total,
            "queue": queue,
        },
        "kernel_received": counters.received.total,
        "source_error": source_error,
        "classify": classify_stats,
    });
    let mut out = io::stdout().lock();
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if let Value::Object(m) = &mut v {
            m.insert("live".into(), live);
        }
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        let label = args
            .interface
            .clone()
            .or_else(|| args.read.as_ref().map(|p| p.display().to_string()))
            .unwrap_or_default();
        crate::human::print_report(&mut out, &label, &report, io::stdout().is_terminal())?;
        writeln!(
            out,
            "live: {packets} packets analysed in {:.1} s, {alert_count} alerts; drops: kernel {}, interface {}, queue {queue}",
            started.elapsed().as_secs_f64(),
            counters.kernel_dropped.total,
            counters.if_dropped.total,
        )?;
    }
    out.flush()?;
    if let Some(e) = source_error {
        log!("pcaplens live: the source ended with an error: {e}");
        return Ok(crate::exit::PARTIAL);
    }
    Ok(crate::exit::OK)
}

/// The packets of a batch into the engine (and the -w file), up to `count`
/// packets in all; `before` were analysed already. Returns how many were taken.
fn analyse_batch(
    batch: &Batch,
    engine: &mut Engine,
    writer: &mut Option<RotatingPcap>,
    classifier: &mut Option<crate::classify_pipeline::Pipeline>,
    before: u64,
    count: Option<u64>,
) -> Result<u64> {
    let room = count.map_or(u64::MAX, |c| c.saturating_sub(before));
    let n = (batch.len() as u64).min(room) as usize;
    for i in 0..n {
        let p = batch.packet(i);
        if let Some(w) = writer {
            w.write(p.ts, p.link, p.orig_len, p.data)?;
        }
        engine.handle_packet(p.ts, p.link, p.orig_len, p.data);
        if let Some(c) = classifier {
            c.feed_packet(p.ts.max(0) as u64, p.link, p.orig_len, p.data);
        }
    }
    Ok(n as u64)
}

/// Classification verdicts that are alerts, as lines in the alerts file.
/// Returns the number of alerts.
fn write_verdicts(
    verdicts: &[crate::classify_pipeline::FlowVerdict],
    eve: &LineWriter,
    out: &mut Option<Box<dyn Write>>,
) -> Result<u64> {
    let mut n = 0;
    for v in verdicts.iter().filter(|v| v.alert) {
        n += 1;
        log!(
            "pcaplens live: classify: {} {} -> {} ({:.2}): {}",
            v.category,
            v.client,
            v.server,
            v.confidence,
            v.reason
        );
        if let Some(o) = out.as_mut() {
            writeln!(
                o,
                "{}",
                crate::classify_pipeline::alert_line(v, eve.is_ecs())
            )?;
        }
    }
    if n > 0 {
        if let Some(o) = out.as_mut() {
            o.flush()?;
        }
    }
    Ok(n)
}

/// Azure Monitor and the name of the capture (interface or file).
struct MonitorSink<'a> {
    monitor: Option<&'a Monitor>,
    capture: String,
}

/// Write what the engine decided: findings as EVE `alert` lines (and with
/// `flows`, ended flows as `flow` lines). Returns the number of alerts.
fn write_events(
    engine: &mut Engine,
    eve: &mut LineWriter,
    out: &mut Option<Box<dyn Write>>,
    flows: bool,
    sink: &MonitorSink<'_>,
) -> Result<u64> {
    let mut alerts = 0;
    let mut wrote = false;
    while let Some(ev) = engine.poll_event() {
        let line = match &ev {
            Event::Finding(f) => {
                alerts += 1;
                if let Some(m) = sink.monitor {
                    m.track_finding(f, &sink.capture);
                }
                eve.line(&ev)
            }
            // Through the writer even when not written: it marks alerted flows.
            Event::FlowEnded(_) => eve.line(&ev).filter(|_| flows),
            _ => None,
        };
        if let (Some(line), Some(o)) = (line, out.as_mut()) {
            o.write_all(line.as_bytes())?;
            o.write_all(b"\n")?;
            wrote = true;
        }
    }
    if wrote {
        // Alerts are read while the capture runs (tail -f, a SIEM shipper).
        if let Some(o) = out.as_mut() {
            o.flush()?;
        }
    }
    Ok(alerts)
}

fn status_line(
    packets: u64,
    rate: f64,
    flows: usize,
    alerts: u64,
    c: &LiveCounters,
    queue: u64,
) -> String {
    let seen = packets + queue + c.kernel_dropped.total + c.if_dropped.total;
    let pct = |n: u64| {
        if seen == 0 {
            0.0
        } else {
            n as f64 * 100.0 / seen as f64
        }
    };
    format!(
        "pcaplens live: {packets} packets ({rate:.0}/s), {flows} live flows, {alerts} alerts; drops: kernel {} ({:.2}%), interface {} ({:.2}%), queue {queue} ({:.2}%)",
        c.kernel_dropped.total,
        pct(c.kernel_dropped.total),
        c.if_dropped.total,
        pct(c.if_dropped.total),
        pct(queue)
    )
}

fn wall_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
