//! `pcaplens sanitize IN -o OUT`: keyed, length-preserving rewrite of a
//! capture, then a leak audit of the file written.

use crate::{exit, keyfile};
use anyhow::{Context, Result};
use clap::Args;
use pcaplens_core::sanitize::{
    LeakAudit, PayloadPolicy, SanitizeConfig, SanitizeSummary, Sanitizer,
};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const CHUNK: usize = 1 << 20;

#[derive(Args, Debug)]
pub struct SanitizeArgs {
    /// Capture to sanitise (pcap or pcapng); `-` reads standard input
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Where to write the sanitised capture (same container format as IN)
    #[arg(short, long, value_name = "OUT", required_unless_present = "check")]
    pub output: Option<PathBuf>,
    /// Write nothing: audit FILE (a sanitised copy edited since, a partly
    /// sanitised file, IN itself) for every identifier the sanitiser would
    /// replace in IN. Exit 4 when one is found
    #[arg(long, value_name = "FILE", conflicts_with_all = ["output", "map"])]
    pub check: Option<PathBuf>,
    /// Secret key file (64 hex digits or 32 raw bytes; the same file works for
    /// `prepare` and `ask`). Without it a random
    /// 32-byte key is created and saved as OUT.key (mode 0600)
    #[arg(long, value_name = "F")]
    pub key_file: Option<PathBuf>,
    /// Write the pseudonym → original table here (JSON, mode 0600) for `unmask`
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// What to do with payload no parser understands
    #[arg(long, default_value = "redact", value_name = "redact|keep|truncate")]
    pub payload: PayloadPolicy,
    /// Keep private, loopback, link-local, CGNAT and multicast prefixes recognisable
    #[arg(long)]
    pub keep_special_ranges: bool,
    /// Shift all timestamps by one keyed offset (intervals are kept)
    #[arg(long)]
    pub time_shift: bool,
    /// Write the leak audit as JSON to this file (`-` for standard output)
    #[arg(long, value_name = "FILE")]
    pub audit_json: Option<PathBuf>,
}

/// Create a file readable by its owner only.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path)?;
    #[cfg(unix)]
    {
        // An existing file keeps its old mode through open(): set it.
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

fn load_or_create_key(args: &SanitizeArgs, output: &Path) -> Result<Vec<u8>> {
    if let Some(kf) = &args.key_file {
        return Ok(keyfile::read(kf)?.to_vec());
    }
    let key = keyfile::fresh()?;
    let mut path = output.to_path_buf().into_os_string();
    path.push(".key");
    let path = PathBuf::from(path);
    let hex = keyfile::to_hex(&key);
    let mut f =
        create_private(&path).with_context(|| format!("writing key to {}", path.display()))?;
    writeln!(f, "{hex}")?;
    eprintln!(
        "pcaplens: new random key saved to {} (mode 0600); pass --key-file {} to get the same pseudonyms again",
        path.display(),
        path.display()
    );
    Ok(key.to_vec())
}

fn config(args: &SanitizeArgs, key: Vec<u8>) -> SanitizeConfig {
    let mut cfg = SanitizeConfig::new(key);
    cfg.payload_policy = args.payload;
    cfg.keep_special_ranges = args.keep_special_ranges;
    cfg.time_shift = args.time_shift;
    cfg.collect_map = args.map.is_some();
    cfg
}

fn open_input(args: &SanitizeArgs) -> Option<Box<dyn Read>> {
    if args.input.as_os_str() == "-" {
        return Some(Box::new(io::stdin().lock()));
    }
    match File::open(&args.input) {
        Ok(f) => Some(Box::new(f)),
        Err(e) => {
            eprintln!("pcaplens: cannot open {}: {e}", args.input.display());
            None
        }
    }
}

fn write_audit_json(args: &SanitizeArgs, doc: &serde_json::Value) -> Result<()> {
    match &args.audit_json {
        Some(p) if p.as_os_str() == "-" => println!("{}", serde_json::to_string_pretty(doc)?),
        Some(p) => std::fs::write(p, serde_json::to_string_pretty(doc)? + "\n")
            .with_context(|| format!("writing {}", p.display()))?,
        None => {}
    }
    Ok(())
}

/// Feed the whole input to the sanitizer, handing each chunk's output to
/// `emit`; stops after the first capture error (its output is still emitted:
/// everything before the error is kept).
fn feed_input(
    args: &SanitizeArgs,
    s: &mut Sanitizer,
    input: &mut dyn Read,
    mut emit: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK + (64 << 10));
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", args.input.display())),
        };
        out.clear();
        let failed = s.feed(&buf[..n], &mut out).is_err();
        emit(&out)?;
        if failed {
            return Ok(());
        }
    }
}

/// One pass: sanitize the whole input into `output`. None when the input
/// cannot be opened (said on stderr).
fn sanitize_into(
    args: &SanitizeArgs,
    s: &mut Sanitizer,
    output: &Path,
) -> Result<Option<SanitizeSummary>> {
    let Some(mut input) = open_input(args) else {
        return Ok(None);
    };
    let out_file =
        File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let mut w = BufWriter::new(out_file);
    feed_input(args, s, &mut input, |out| Ok(w.write_all(out)?))?;
    w.flush()?;
    Ok(Some(s.finish()))
}

/// Run the leak audit over every byte of `file`.
fn audit_file(audit: &mut LeakAudit, file: &mut File) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        audit.feed(&buf[..n]);
    }
}

/// `--check FILE`: learn IN's identifiers (the rewrite goes nowhere), then
/// run the leak audit over FILE. The key only matters for telling apart a
/// pseudonym that happens to equal an original: pass the one used for FILE.
fn check(args: &SanitizeArgs, target: &Path) -> Result<u8> {
    let key = match &args.key_file {
        Some(kf) => keyfile::read(kf)?.to_vec(),
        None => keyfile::fresh()?.to_vec(),
    };
    let mut s = Sanitizer::new(config(args, key))?;
    let Some(mut input) = open_input(args) else {
        return Ok(exit::BAD_INPUT);
    };
    // Only the identifiers are wanted: the rewritten bytes go nowhere.
    feed_input(args, &mut s, &mut input, |_| Ok(()))?;
    let summary = s.finish();
    if let (Some(e), None) = (&summary.error, &summary.format) {
        eprintln!("pcaplens: {}: {}", args.input.display(), e.message);
        return Ok(exit::BAD_INPUT);
    }
    let ps = s.into_pseudonymizer();
    let mut audit = LeakAudit::new(ps.originals());
    let mut file = match File::open(target) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("pcaplens: cannot open {}: {e}", target.display());
            return Ok(exit::BAD_INPUT);
        }
    };
    audit_file(&mut audit, &mut file)?;
    let report = audit.finish();
    let leaks: u64 = report.hits.values().sum();
    write_audit_json(
        args,
        &serde_json::json!({ "sanitize": summary, "audit": report }),
    )?;
    if leaks > 0 {
        eprintln!(
            "pcaplens: LEAK AUDIT FAILED: {leaks} identifiers of {} found in {}: {:?}",
            args.input.display(),
            target.display(),
            report.hits_by_form
        );
        return Ok(exit::LEAK);
    }
    if let Some(e) = &report.error {
        eprintln!(
            "pcaplens: LEAK AUDIT INCOMPLETE: {} ({e})",
            target.display()
        );
        return Ok(exit::LEAK);
    }
    eprintln!(
        "pcaplens: leak audit passed: {} patterns of {} searched in {} frames of {}, 0 found",
        report.patterns,
        args.input.display(),
        report.frames_checked,
        target.display()
    );
    Ok(exit::OK)
}

pub fn run(args: SanitizeArgs) -> Result<u8> {
    let outputs: Vec<&Path> = [&args.output, &args.map, &args.audit_json]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path)
        .collect();
    if crate::input::refuse_to_overwrite_inputs(&[&args.input], &outputs) {
        return Ok(exit::BAD_INPUT);
    }
    if let Some(target) = &args.check {
        return check(&args, target);
    }
    let output = args
        .output
        .clone()
        .expect("clap requires -o without --check");
    let key = load_or_create_key(&args, &output)?;
    let mut s = Sanitizer::new(config(&args, key))?;
    let mut summary = match sanitize_into(&args, &mut s, &output)? {
        Some(summary) => summary,
        None => return Ok(exit::BAD_INPUT),
    };
    // QUIC ClientHellos spread over several Initials, and TLS server names
    // cut by a TCP segment, are only known whole after the packets holding
    // their first pieces were written: a file is read again, with what the
    // first pass learned, so nothing is zeroed. Standard input is read once.
    if let (Some(cfg), false) = (s.second_pass(), args.input.as_os_str() == "-") {
        s = Sanitizer::new(cfg)?;
        summary = match sanitize_into(&args, &mut s, &output)? {
            Some(summary) => summary,
            None => return Ok(exit::BAD_INPUT),
        };
    }
    let ps = s.into_pseudonymizer();
    if let Some(e) = &summary.error {
        if summary.format.is_none() {
            eprintln!("pcaplens: {}: {}", args.input.display(), e.message);
            let _ = std::fs::remove_file(&output);
            return Ok(exit::BAD_INPUT);
        }
    }
    if let Some(map_path) = &args.map {
        let f = create_private(map_path)
            .with_context(|| format!("writing map {}", map_path.display()))?;
        let mut mw = BufWriter::new(f);
        serde_json::to_writer_pretty(&mut mw, ps.map().expect("map was collected"))?;
        mw.flush()?;
    }

    // The proof: read back what was written and search it for every original.
    let mut audit = LeakAudit::new(ps.originals());
    let mut written =
        File::open(&output).with_context(|| format!("re-reading {}", output.display()))?;
    audit_file(&mut audit, &mut written)?;
    let report = audit.finish();
    let leaks: u64 = report.hits.values().sum();
    write_audit_json(
        &args,
        &serde_json::json!({ "sanitize": summary, "audit": report }),
    )?;
    let ids = &summary.distinct_identifiers;
    eprintln!(
        "pcaplens: sanitized {} frames → {} ({} IPv4, {} IPv6, {} MAC, {} names, {} secrets replaced; {} frames fail-closed)",
        summary.counters.frames,
        output.display(),
        ids.ipv4,
        ids.ipv6,
        ids.mac,
        ids.dns_name,
        ids.secret,
        summary.counters.frames_failed_closed,
    );
    if leaks > 0 {
        eprintln!(
            "pcaplens: LEAK AUDIT FAILED: {leaks} original identifiers found in the output: {:?}",
            report.hits_by_form
        );
        return Ok(exit::LEAK);
    }
    // An audit that could not read back every frame written proves nothing.
    if report.error.is_some() || report.frames_checked != summary.counters.frames {
        eprintln!(
            "pcaplens: LEAK AUDIT INCOMPLETE: read back {} of {} frames{}",
            report.frames_checked,
            summary.counters.frames,
            report
                .error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
        return Ok(exit::LEAK);
    }
    eprintln!(
        "pcaplens: leak audit passed: {} patterns searched in {} frames, 0 found",
        report.patterns, report.frames_checked
    );
    if let Some(e) = &summary.error {
        eprintln!(
            "pcaplens: {}: {} (output covers everything before it)",
            args.input.display(),
            e.message
        );
        return Ok(exit::PARTIAL);
    }
    Ok(exit::OK)
}
