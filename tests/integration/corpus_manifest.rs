//! The corpus in `tests/corpus/` is what its manifests say: every capture is
//! listed (source, licence, sha256, size), every listed capture is there with
//! that sha256, and every capture has its tshark truth (and every Zeek log its
//! capture).

use pcaplens_tests::corpus_dir;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Rows of a manifest (`name` → column → value), after checking its header.
fn manifest(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("manifest header").split('\t').collect();
    for col in [
        "name",
        "source_repo",
        "path",
        "commit",
        "license",
        "sha256",
        "bytes",
    ] {
        assert!(
            header.contains(&col),
            "{}: no `{col}` column",
            path.display()
        );
    }
    let mut rows = BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split('\t').collect();
        let row: BTreeMap<String, String> = header
            .iter()
            .zip(cells.iter().chain(std::iter::repeat(&"")))
            .map(|(h, c)| (h.to_string(), c.to_string()))
            .collect();
        let name = row["name"].clone();
        assert!(
            rows.insert(name.clone(), row).is_none(),
            "{}: {name} listed twice",
            path.display()
        );
    }
    rows
}

fn captures_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks one directory against its manifest; returns the problems found.
fn check_dir(dir: &Path, problems: &mut Vec<String>) -> usize {
    let rows = manifest(&dir.join("MANIFEST.tsv"));
    let on_disk = captures_in(dir);
    for name in on_disk.difference(&rows.keys().cloned().collect()) {
        problems.push(format!(
            "{}: {name} is not listed in MANIFEST.tsv",
            dir.display()
        ));
    }
    for (name, row) in &rows {
        for col in ["source_repo", "path", "license"] {
            if row[col].trim().is_empty() {
                problems.push(format!("{name}: no {col} in MANIFEST.tsv"));
            }
        }
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            problems.push(format!("{}: {name} is listed but missing", dir.display()));
            continue;
        };
        let sha = sha256_hex(&bytes);
        if sha != row["sha256"] {
            problems.push(format!(
                "{name}: sha256 {sha}, MANIFEST.tsv says {}",
                row["sha256"]
            ));
        }
        if row["bytes"] != bytes.len().to_string() {
            problems.push(format!(
                "{name}: {} bytes, MANIFEST.tsv says {}",
                bytes.len(),
                row["bytes"]
            ));
        }
    }
    rows.len()
}

#[test]
fn corpus_manifest_lists_every_capture_with_source_licence_and_sha256() {
    let corpus = corpus_dir();
    let mut problems = Vec::new();
    let main = check_dir(&corpus, &mut problems);
    let zeek = check_dir(&corpus.join("zeek").join("captures"), &mut problems);
    assert!(
        problems.is_empty(),
        "tests/corpus does not match its manifests:\n{}",
        problems.join("\n")
    );
    assert!(main >= 90 && zeek >= 15, "{main} + {zeek} captures listed");
}

#[test]
fn corpus_truth_covers_every_capture() {
    let corpus = corpus_dir();
    let rows = manifest(&corpus.join("MANIFEST.tsv"));
    let mut problems = Vec::new();
    for (name, row) in &rows {
        let path = corpus.join("truth").join(format!("{name}.json"));
        let Ok(text) = std::fs::read(&path) else {
            problems.push(format!("{name}: no truth/{name}.json"));
            continue;
        };
        let t: serde_json::Value = serde_json::from_slice(&text).expect("truth json");
        if t["sha256"].as_str() != Some(row["sha256"].as_str()) {
            problems.push(format!(
                "truth/{name}.json was made from another file (sha256 {})",
                t["sha256"]
            ));
        }
    }
    for e in std::fs::read_dir(corpus.join("truth")).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if !n
            .strip_suffix(".json")
            .is_some_and(|c| rows.contains_key(c))
        {
            problems.push(format!("truth/{n} belongs to no listed capture"));
        }
    }
    // Zeek's logs: `zeek/<capture>.zeek.json` for corpus captures,
    // `zeek/captures/<capture>.zeek.json` next to their own captures.
    let zeek = corpus.join("zeek");
    for (json_dir, capture_dir) in [
        (zeek.clone(), corpus.clone()),
        (zeek.join("captures"), zeek.join("captures")),
    ] {
        for e in std::fs::read_dir(&json_dir).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if let Some(cap) = n.strip_suffix(".zeek.json") {
                if !capture_dir.join(cap).is_file() {
                    problems.push(format!("{}: {n} has no capture", json_dir.display()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
