//! Golden outputs: the sha256 of every product output (sanitized captures,
//! pseudonym maps, leak audits, `analyze --json` reports, `prepare` evidence
//! packs, `ask --offline` diagnoses) on every fixture, corpus capture,
//! generated scenario and recorded live-traffic capture, compared with the
//! digests committed in `tests/golden/*.digests`.
//!
//! A refactoring must leave every byte as it was, so a mismatch, a missing
//! or an extra output fails. The digests change only through an explicit
//! re-recording (see `tests/golden/README.md`):
//!
//! ```sh
//! PCAPLENS_RECORD_GOLDEN=1 cargo test -p pcaplens-tests --test integration golden
//! ```
//!
//! which rewrites the `.digests` files — a change a reviewer sees in the diff.

use pcaplens_tests::{corpus_files, fixture_files, pcaplens_bin, repo_root, temp_dir};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pseudonymisation key of every keyed output (64 hex digits).
const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

const RECORD_ENV: &str = "PCAPLENS_RECORD_GOLDEN";

/// Which outputs are recorded for an input: the evidence pack under every
/// focus is the expensive part (tokenizers), so the 92 corpus captures get the
/// two focuses whose rules they exercise most and the rest get all of them.
#[derive(Clone, Copy)]
enum Depth {
    AllFocuses,
    GeneralAndSecurity,
}

/// One input capture: its name in the digest file and where it is.
struct Input {
    name: String,
    path: PathBuf,
}

fn golden_dir() -> PathBuf {
    repo_root().join("tests/golden")
}

/// Runs `pcaplens ARGS` in `dir`; returns its standard output and exit code.
/// The exit code is part of the golden output (2 for a file that is not a
/// capture, 3 for a damaged one), so any code is accepted here; a crash
/// (no code) is not.
fn pcaplens(dir: &Path, args: &[&str]) -> (Vec<u8>, i32) {
    let out = Command::new(pcaplens_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run pcaplens {args:?}: {e}"));
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "pcaplens {args:?} in {} was killed by a signal\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.stdout, code)
}

/// A file's bytes, or a marker when the run wrote none (a failed run).
fn read_or_absent(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|_| b"(no file written)".to_vec())
}

/// The digest of one run's outputs: its exit code and every file it wrote,
/// each by name and length (so moving bytes between files changes it too),
/// shortened to 48 bits: enough to notice a change, small enough to commit.
fn run_digest(code: i32, files: &[(String, Vec<u8>)]) -> String {
    let mut h = Sha256::new();
    h.update(format!("exit {code}\n"));
    for (name, bytes) in files {
        h.update(format!("{name} {}\n", bytes.len()));
        h.update(bytes);
    }
    h.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every run over one input, as (run name → digest). The CLI runs in the
/// input's directory with a bare file name, so no absolute path can leak into
/// an output.
fn outputs_of(input: &Input, depth: Depth, work: &Path) -> BTreeMap<String, String> {
    let dir = input.path.parent().expect("input dir");
    let file = input.path.file_name().expect("file name").to_str().unwrap();
    let key = work.join("key.hex");
    std::fs::write(&key, KEY_HEX).unwrap();
    let key = key.to_str().unwrap();
    let mut digests = BTreeMap::new();

    let capture = std::fs::read(&input.path).unwrap();
    digests.insert(
        "input".into(),
        run_digest(0, &[("capture".into(), capture)]),
    );

    let (report, code) = pcaplens(dir, &["analyze", "--json", file]);
    digests.insert(
        "analyze".into(),
        run_digest(code, &[("stdout".into(), report)]),
    );

    let sanitize_runs: [(&str, &[&str]); 3] = [
        ("redact", &["--payload", "redact"]),
        (
            "keep",
            &["--payload", "keep", "--keep-special-ranges", "--time-shift"],
        ),
        ("truncate", &["--payload", "truncate"]),
    ];
    for (tag, extra) in sanitize_runs {
        let out = work.join(format!("sanitized-{tag}"));
        let map = work.join(format!("map-{tag}.json"));
        let audit = work.join(format!("audit-{tag}.json"));
        for stale in [&out, &map, &audit] {
            let _ = std::fs::remove_file(stale);
        }
        let mut args = vec![
            "sanitize",
            file,
            "-o",
            out.to_str().unwrap(),
            "--key-file",
            key,
            "--map",
            map.to_str().unwrap(),
            "--audit-json",
            audit.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (_, code) = pcaplens(dir, &args);
        let files = [("capture", &out), ("map", &map), ("audit", &audit)]
            .map(|(name, path)| (name.to_string(), read_or_absent(path)));
        digests.insert(format!("sanitize-{tag}"), run_digest(code, &files));
    }

    let focuses: &[&str] = match depth {
        Depth::AllFocuses => &["general", "errors", "performance", "dns", "security"],
        Depth::GeneralAndSecurity => &["general", "security"],
    };
    let mut packs: Vec<(String, Vec<&str>)> = focuses
        .iter()
        .map(|f| {
            (
                format!("prepare-{f}"),
                vec!["--focus", f, "--key-file", key],
            )
        })
        .collect();
    if matches!(depth, Depth::AllFocuses) {
        packs.push(("prepare-unsanitized".into(), vec!["--no-sanitize"]));
    }
    for (tag, extra) in packs {
        let out = work.join(&tag);
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec!["prepare", file, "-o", out.to_str().unwrap()];
        args.extend(extra.iter().copied());
        let (_, code) = pcaplens(dir, &args);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&out)
            .map(|dir| dir.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        paths.sort();
        let files: Vec<(String, Vec<u8>)> = paths
            .iter()
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(p).unwrap())
            })
            .collect();
        digests.insert(tag, run_digest(code, &files));
    }

    let (diagnosis, code) = pcaplens(
        dir,
        &[
            "ask",
            "--offline",
            "--focus",
            "errors",
            "--key-file",
            key,
            file,
        ],
    );
    digests.insert(
        "ask-offline-errors".into(),
        run_digest(code, &[("stdout".into(), diagnosis)]),
    );
    digests
}

/// All outputs of `inputs`, computed on every core at once.
fn outputs_of_all(group: &str, inputs: &[Input], depth: Depth) -> Digests {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let all = std::sync::Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for w in 0..workers {
            let (next, all) = (&next, &all);
            s.spawn(move || {
                let work = temp_dir(&format!("golden-{group}-{w}"));
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let digests = outputs_of(input, depth, &work);
                    all.lock().unwrap().insert(input.name.clone(), digests);
                }
                let _ = std::fs::remove_dir_all(&work);
            });
        }
    });
    all.into_inner().unwrap()
}

/// Input name → run name → digest.
type Digests = BTreeMap<String, BTreeMap<String, String>>;

/// One line per input: `NAME<TAB>run=digest run=digest …`.
fn format_digests(digests: &Digests) -> String {
    digests
        .iter()
        .map(|(input, runs)| {
            let runs: Vec<String> = runs.iter().map(|(r, d)| format!("{r}={d}")).collect();
            format!("{input}\t{}\n", runs.join(" "))
        })
        .collect()
}

fn parse_digests(text: &str) -> Digests {
    text.lines()
        .map(|line| {
            let (input, runs) = line.split_once('\t').expect("`NAME<TAB>runs` lines");
            let runs = runs
                .split(' ')
                .map(|r| {
                    let (run, digest) = r.split_once('=').expect("`run=digest`");
                    (run.to_string(), digest.to_string())
                })
                .collect();
            (input.to_string(), runs)
        })
        .collect()
}

/// Compares with (or, when asked, re-records) `tests/golden/GROUP.digests`.
fn check_group(group: &str, inputs: Vec<Input>, depth: Depth) {
    assert!(!inputs.is_empty(), "{group}: no inputs");
    let actual = outputs_of_all(group, &inputs, depth);
    let file = golden_dir().join(format!("{group}.digests"));
    if std::env::var(RECORD_ENV).as_deref() == Ok("1") {
        std::fs::write(&file, format_digests(&actual)).unwrap();
        // Recording compares nothing, so it never counts as a pass.
        panic!(
            "{RECORD_ENV}=1: re-recorded {} ({} inputs); nothing was compared: review \
             `git diff tests/golden/` and run the test again without {RECORD_ENV}",
            file.display(),
            actual.len()
        );
    }
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the golden digests are committed; record them on purpose with \
             {RECORD_ENV}=1, see tests/golden/README.md)",
            file.display()
        )
    });
    let expected = parse_digests(&text);
    let flat = |d: &Digests| -> BTreeMap<String, String> {
        d.iter()
            .flat_map(|(input, runs)| {
                runs.iter()
                    .map(move |(run, digest)| (format!("{input}: {run}"), digest.clone()))
            })
            .collect()
    };
    let (expected, actual) = (flat(&expected), flat(&actual));
    let mut problems = Vec::new();
    for (name, digest) in &expected {
        match actual.get(name) {
            None => problems.push(format!("missing: {name}")),
            Some(d) if d != digest => problems.push(format!("changed: {name}")),
            Some(_) => {}
        }
    }
    for name in actual.keys().filter(|n| !expected.contains_key(*n)) {
        problems.push(format!("new: {name}"));
    }
    assert!(
        problems.is_empty(),
        "{group}: {} of {} outputs differ from {}:\n{}\n(an intended change is re-recorded \
         with {RECORD_ENV}=1, see tests/golden/README.md)",
        problems.len(),
        expected.len(),
        file.display(),
        problems.join("\n")
    );
}

fn named(paths: Vec<PathBuf>) -> Vec<Input> {
    paths
        .into_iter()
        .map(|path| Input {
            name: path.file_name().unwrap().to_string_lossy().into_owned(),
            path,
        })
        .collect()
}

#[test]
fn golden_fixtures() {
    check_group("fixtures", named(fixture_files()), Depth::AllFocuses);
}

#[test]
fn golden_corpus() {
    check_group("corpus", named(corpus_files()), Depth::GeneralAndSecurity);
}

/// Captures recorded from the live-traffic tests' scenarios
/// (`tests/traffic/sanitize_scenarios.py`, `apps.py tls_browser`,
/// `apps.py quic_browser`: real dig, curl, openssl, Chromium over TCP and
/// QUIC), kept in `tests/golden/live/`.
#[test]
fn golden_live_traffic() {
    let dir = golden_dir().join("live");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    paths.sort();
    check_group("live", named(paths), Depth::AllFocuses);
}

/// Every scenario of `pcaplens generate`, with a seed and size of its own
/// (not those of `fixtures/`).
#[test]
fn golden_generated_scenarios() {
    let work = temp_dir("golden-generate");
    let (help, _) = pcaplens(&work, &["generate", "--help"]);
    let help = String::from_utf8_lossy(&help);
    let scenarios: Vec<String> = help
        .lines()
        .find_map(|l| l.split_once("Scenario: ").map(|(_, list)| list.to_string()))
        .expect("`generate --help` lists the scenarios")
        .split(", ")
        .map(|s| s.trim().to_string())
        .collect();
    assert!(scenarios.len() >= 11, "scenarios: {scenarios:?}");
    let inputs: Vec<Input> = scenarios
        .iter()
        .map(|s| {
            let path = work.join(format!("{s}.pcap"));
            pcaplens(
                &work,
                &[
                    "generate",
                    "--scenario",
                    s,
                    "-o",
                    path.to_str().unwrap(),
                    "--packets",
                    "3000",
                    "--seed",
                    "7",
                ],
            );
            Input {
                name: format!("generate {s} --packets 3000 --seed 7"),
                path,
            }
        })
        .collect();
    check_group("generated", inputs, Depth::AllFocuses);
    let _ = std::fs::remove_dir_all(&work);
}
