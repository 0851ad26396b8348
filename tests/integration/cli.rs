//! The `pcaplens` binary: exit codes, output formats, stdin, flow files.

use pcaplens_tests::{fixture_files, pcaplens_bin, temp_dir};
use std::io::Write;
use std::process::{Command, Stdio};

fn sample() -> std::path::PathBuf {
    fixture_files()
        .into_iter()
        .find(|p| p.ends_with("normal.pcap"))
        .expect("fixtures/normal.pcap")
}

#[test]
fn not_a_capture_exits_2_and_says_what_it_starts_with() {
    let dir = temp_dir("notcap");
    let f = dir.join("notes.txt");
    std::fs::write(&f, b"hello, this is text\n").unwrap();
    let out = Command::new(pcaplens_bin())
        .args(["analyze"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a pcap or pcapng file (starts with 68 65 6c 6c"),
        "{err}"
    );
}

#[test]
fn missing_file_exits_2() {
    let out = Command::new(pcaplens_bin())
        .args(["analyze", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
}

/// An output that is the input (by its name, another spelling or a hard
/// link) is refused before anything is created: the capture stays whole.
#[test]
fn outputs_never_overwrite_the_input() {
    let dir = temp_dir("clobber");
    let input = dir.join("in.pcap");
    std::fs::copy(sample(), &input).unwrap();
    let original = std::fs::read(&input).unwrap();
    let link = dir.join("link.pcap");
    std::fs::hard_link(&input, &link).unwrap();
    let key = dir.join("k.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    let dotted = dir.join(".").join("in.pcap");
    let (i, l, d, k) = (
        input.to_str().unwrap(),
        link.to_str().unwrap(),
        dotted.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    let other = dir.join("out.pcap");
    let o = other.to_str().unwrap();
    for args in [
        vec!["sanitize", i, "-o", i, "--key-file", k],
        vec!["sanitize", i, "-o", l, "--key-file", k],
        vec!["sanitize", i, "-o", o, "--key-file", k, "--map", d],
        vec!["sanitize", i, "-o", o, "--key-file", k, "--audit-json", l],
        vec!["analyze", i, "--flows", d],
        vec!["analyze", i, "--anomaly-features", l],
        vec!["ask", i, "--offline", "-o", d],
    ] {
        let out = Command::new(pcaplens_bin()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("refusing to write"), "{args:?}: {err}");
        assert_eq!(std::fs::read(&input).unwrap(), original, "{args:?}");
        assert!(!other.exists(), "{args:?}: an output was written");
    }
    // Another file is fine.
    let ok = Command::new(pcaplens_bin())
        .args(["sanitize", i, "-o", o, "--key-file", k])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
}

#[test]
fn cut_short_capture_exits_3_with_partial_json() {
    let bytes = std::fs::read(sample()).unwrap();
    let dir = temp_dir("cut");
    let f = dir.join("cut.pcap");
    std::fs::write(&f, &bytes[..bytes.len() - 10]).unwrap();
    let out = Command::new(pcaplens_bin())
        .args(["analyze", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["status"]["partial"], true);
    assert_eq!(r["status"]["error"]["code"], "truncated");
    assert!(r["summary"]["packets"].as_u64().unwrap() > 0);
}

#[test]
fn json_is_deterministic_and_stdin_equals_file() {
    let f = sample();
    let a = Command::new(pcaplens_bin())
        .args(["analyze", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    let b = Command::new(pcaplens_bin())
        .args(["analyze", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout, "two runs differ");
    let mut child = Command::new(pcaplens_bin())
        .args(["analyze", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(&f).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(
        out.stdout, a.stdout,
        "stdin report differs from file report"
    );
    let r: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(r["schema_version"], pcaplens_core::SCHEMA_VERSION);
}

#[test]
fn flows_file_lists_every_flow_as_ndjson_and_csv() {
    let f = sample();
    let dir = temp_dir("flows");
    let nd = dir.join("flows.ndjson");
    let csv = dir.join("flows.csv");
    let json = Command::new(pcaplens_bin())
        .args(["analyze", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let total = r["summary"]["flows"]["total"].as_u64().unwrap();
    assert!(total > 0);
    for (path, is_csv) in [(&nd, false), (&csv, true)] {
        let out = Command::new(pcaplens_bin())
            .args(["analyze", "--flows"])
            .arg(path)
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        if is_csv {
            assert!(
                lines[0].starts_with("file,id,community_id,transport"),
                "{}",
                lines[0]
            );
            assert_eq!(lines.len() as u64 - 1, total);
        } else {
            assert_eq!(lines.len() as u64, total);
            let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
            assert!(first["community_id"].as_str().unwrap().starts_with("1:"));
        }
    }
}

#[test]
fn terminal_summary_names_the_essentials() {
    let out = Command::new(pcaplens_bin())
        .args(["analyze"])
        .arg(sample())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["packets", "flows", "Protocols", "Top talkers"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn help_documents_exit_codes() {
    let out = Command::new(pcaplens_bin())
        .args(["analyze", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Exit status:") && text.contains("cut short"),
        "{text}"
    );
}

/// Every subcommand says what it does (in the list and atop its own help)
/// and documents the exit codes; a flattened option group's doc comment
/// once stood in for the description of `prepare` and `ask`.
#[test]
fn every_subcommand_has_its_own_description_and_exit_codes() {
    let out = Command::new(pcaplens_bin()).arg("--help").output().unwrap();
    let top = String::from_utf8_lossy(&out.stdout).into_owned();
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(commands.len() >= 6, "{top}");
    for name in commands {
        let listed = top
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap();
        assert!(
            listed.split_whitespace().count() > 2,
            "`{name}` has no description in:\n{top}"
        );
        let out = Command::new(pcaplens_bin())
            .args([name, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let about = help.lines().next().unwrap_or_default();
        assert!(
            !about.starts_with("Usage:") && !about.starts_with("Options shared"),
            "`{name} --help` starts with {about:?}"
        );
        assert!(help.contains("Exit status:"), "`{name} --help`:\n{help}");
    }
}

#[test]
fn generate_is_deterministic_and_analyzable() {
    let dir = temp_dir("gen");
    let a = dir.join("a.pcap");
    let b = dir.join("b.pcap");
    for p in [&a, &b] {
        let out = Command::new(pcaplens_bin())
            .args([
                "generate",
                "--scenario",
                "tcp-resets",
                "--packets",
                "500",
                "--seed",
                "9",
                "-o",
            ])
            .arg(p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let bad = Command::new(pcaplens_bin())
        .args(["generate", "--scenario", "nope", "-o"])
        .arg(dir.join("c.pcap"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tcp-resets"));
}

#[test]
fn terminal_summary_lists_top_anomalies_unless_turned_off() {
    let mixed = fixture_files()
        .into_iter()
        .find(|p| p.ends_with("mixed.pcap"))
        .expect("fixtures/mixed.pcap");
    let on = Command::new(pcaplens_bin())
        .args(["analyze"])
        .arg(&mixed)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&on.stdout);
    let section = text
        .split("Anomalies (Isolation Forest")
        .nth(1)
        .expect("an Anomalies section");
    assert!(
        section
            .lines()
            .skip(1)
            .take(5)
            .all(|l| l.trim_start().starts_with("0.")),
        "{section}"
    );
    let off = Command::new(pcaplens_bin())
        .args(["analyze", "--no-anomaly"])
        .arg(&mixed)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&off.stdout).contains("Anomalies ("));
}

/// The CLI decodes on its read-ahead thread and hands decoded frames over in
/// 256 KiB chunks (records that straddle two chunks are copied). Its report
/// must be the core's, byte for byte, for every fixture and corpus capture
/// (the large ones cross many chunk boundaries, pcapng blocks included).
#[test]
fn decode_ahead_report_equals_the_cores() {
    use pcaplens_core::{analyze_bytes, AnalyzerConfig};
    let mut files = fixture_files();
    files.extend(pcaplens_tests::corpus_files());
    // A generated capture several chunks long, so the check never depends on the corpus.
    let dir = temp_dir("decode-ahead");
    let big = dir.join("big.pcap");
    let gen = Command::new(pcaplens_bin())
        .args([
            "generate",
            "--scenario",
            "normal",
            "--packets",
            "20000",
            "--seed",
            "3",
            "-o",
        ])
        .arg(&big)
        .output()
        .unwrap();
    assert!(gen.status.success());
    assert!(std::fs::metadata(&big).unwrap().len() > 4 * (256 << 10));
    files.push(big);
    let mut compared = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let core = analyze_bytes(&bytes, AnalyzerConfig::default());
        // Every way of reading a file, whatever the machine's cores would pick:
        // one thread; two with the flow table on the reading thread; two with
        // it on the analysing thread.
        for (threads, flows) in [("1", "reading"), ("2", "reading"), ("2", "analysis")] {
            let out = Command::new(pcaplens_bin())
                .args(["analyze", "--json"])
                .arg(f)
                .env("PCAPLENS_READ_THREADS", threads)
                .env("PCAPLENS_FLOW_THREAD", flows)
                .output()
                .unwrap();
            if out.stdout.is_empty() {
                // Not a capture at all: no report to compare (exit 2 with a message).
                assert_eq!(out.status.code(), Some(2), "{}", f.display());
                continue;
            }
            let want = format!("{}\n", core.as_ref().unwrap().to_json_pretty());
            assert!(
                out.stdout == want.as_bytes(),
                "{} ({threads} thread(s), flows on the {flows} thread): CLI report differs from the core's",
                f.display()
            );
            compared += 1;
        }
    }
    assert!(
        compared > 3 * fixture_files().len(),
        "compared only {compared}"
    );
}
