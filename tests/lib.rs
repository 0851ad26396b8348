//! Shared helpers for the integration tests (one test binary, `tests/integration`).

use std::path::PathBuf;

/// The conformance corpus, `tests/corpus/` in the repository: real captures,
/// their tshark truth (`truth/`) and Zeek's logs (`zeek/`), listed with source,
/// licence and sha256 in `MANIFEST.tsv`. It is part of the repository, so a
/// missing corpus fails the test that needs it (no test is skipped for it).
pub fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    assert!(
        dir.join("truth").is_dir() && dir.join("MANIFEST.tsv").is_file(),
        "the conformance corpus is missing: {} should hold MANIFEST.tsv, truth/ and the \
         captures (it is part of the repository; restore it with `git checkout -- tests/corpus`)",
        dir.display()
    );
    dir
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Capture files of the corpus, sorted by name (never empty: a missing
/// corpus fails).
pub fn corpus_files() -> Vec<PathBuf> {
    let dir = corpus_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no captures in {}", dir.display());
    v
}

/// The truth JSON of a corpus capture.
pub fn truth(path: &std::path::Path) -> serde_json::Value {
    let name = path.file_name().unwrap().to_string_lossy();
    let t = corpus_dir().join("truth").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&t).expect("truth file")).expect("truth json")
}

/// The project's own fixtures (`fixtures/*.pcap`), sorted.
pub fn fixture_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo_root().join("fixtures"))
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    v
}

/// The Python that runs the live-traffic scripts of `tests/traffic`
/// (`$PYTHON`, else `python3`).
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether a live-traffic test runs: false, after a notice, when
/// `PCAPLENS_SKIP_LIVE_TRAFFIC=1` asks to skip it; otherwise it panics unless
/// it runs as root (network namespaces) with `ip`, tcpdump, tshark, Python
/// and every one of `tools` on PATH, so a machine that lacks them fails
/// instead of skipping silently.
pub fn live_traffic(test: &str, tools: &[&str]) -> bool {
    if std::env::var("PCAPLENS_SKIP_LIVE_TRAFFIC").as_deref() == Ok("1") {
        eprintln!("NOTICE: {test}: live traffic test skipped (PCAPLENS_SKIP_LIVE_TRAFFIC=1)");
        return false;
    }
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("run id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "{test}: live traffic tests need root (network namespaces); set PCAPLENS_SKIP_LIVE_TRAFFIC=1 to skip"
    );
    let python = python();
    let missing: Vec<&str> = ["ip", "tcpdump", "tshark", python.as_str()]
        .into_iter()
        .chain(tools.iter().copied())
        .filter(|tool| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "{test}: live traffic tests need {missing:?} on PATH (see .ci/run); set PCAPLENS_SKIP_LIVE_TRAFFIC=1 to skip"
    );
    true
}

/// A JSON object of counts as a map (non-numbers count 0; not an object: empty).
pub fn map_u64(v: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Path of the `pcaplens` binary of the current profile, built once on demand
/// (the tests crate cannot depend on a binary crate directly).
pub fn pcaplens_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test exe path");
            // target/<profile>/deps/integration-… → target/<profile>
            let profile_dir = exe
                .parent()
                .and_then(|p| p.parent())
                .expect("profile dir")
                .to_path_buf();
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["build", "-q", "-p", "pcaplens-cli"])
                .current_dir(repo_root());
            if release {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build");
            assert!(status.success(), "building pcaplens-cli failed");
            let bin = profile_dir.join(if cfg!(windows) {
                "pcaplens.exe"
            } else {
                "pcaplens"
            });
            assert!(bin.exists(), "{} missing after build", bin.display());
            bin
        })
        .clone()
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcaplens-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}
