//! Shared helpers for the integration tests (one test binary, `tests/integration`).

use std::path::PathBuf;

/// `../shared/corpus` next to the repository, if present.
pub fn corpus_dir() -> Option<PathBuf> {
    let root = repo_root();
    let dir = root.join("..").join("shared").join("corpus");
    dir.join("truth").is_dir().then_some(dir)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Capture files of the corpus, sorted by name.
pub fn corpus_files() -> Vec<PathBuf> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    v
}

/// The truth JSON of a corpus capture.
pub fn truth(path: &std::path::Path) -> serde_json::Value {
    let name = path.file_name().unwrap().to_string_lossy();
    let t = corpus_dir()
        .unwrap()
        .join("truth")
        .join(format!("{name}.json"));
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

/// Say loudly that the corpus is absent (the only allowed skip).
pub fn corpus_absent_notice(test: &str) {
    eprintln!("NOTICE: {test}: ../shared/corpus is absent; corpus checks skipped");
}
