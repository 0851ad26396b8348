//! Many files on many threads (issue 23, docs/scale.md): `analyze --jobs N`.

use pcaplens_tests::{corpus_files, pcaplens_bin};
use std::process::Command;

fn analyze(args: &[&str], files: &[std::path::PathBuf]) -> std::process::Output {
    Command::new(pcaplens_bin())
        .arg("analyze")
        .args(args)
        .args(files)
        .output()
        .unwrap()
}

/// `--jobs 3 --independent` prints the same bytes as the sequential run, and
/// every report in it is the report of that file analysed alone, in the
/// order the files were given (a missing file keeps its place and its exit code).
#[test]
fn independent_jobs_match_one_file_at_a_time() {
    let mut files = corpus_files();
    files.truncate(7);
    // Largest first: the threads finish out of order, the output must not.
    files.sort_by_key(|f| std::cmp::Reverse(std::fs::metadata(f).unwrap().len()));
    let seq = analyze(&["--json"], &files);
    let par = analyze(&["--json", "--jobs", "3", "--independent"], &files);
    assert_eq!(seq.status.code(), par.status.code());
    assert!(seq.stdout == par.stdout, "--jobs output differs");
    let arr: serde_json::Value = serde_json::from_slice(&par.stdout).unwrap();
    let arr = arr.as_array().unwrap();
    assert_eq!(arr.len(), files.len());
    for (entry, f) in arr.iter().zip(&files) {
        assert_eq!(entry["file"], f.display().to_string());
        let alone = analyze(&["--json"], std::slice::from_ref(f));
        let alone: serde_json::Value = serde_json::from_slice(&alone.stdout).unwrap();
        assert!(entry["report"] == alone, "{}", f.display());
    }
    let mut with_missing = files[..2].to_vec();
    with_missing.insert(1, "/nonexistent/x.pcap".into());
    let out = analyze(&["--json", "--jobs", "2", "--independent"], &with_missing);
    assert_eq!(out.status.code(), Some(2));
    let arr: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(arr.as_array().unwrap().len(), 2);
}

#[test]
fn jobs_refuses_what_it_cannot_do_yet() {
    let files = corpus_files()[..2].to_vec();
    for args in [
        &["--jobs", "0", "--independent"][..],
        &["--jobs", "2", "--independent", "--format", "eve"],
        &["--jobs", "2", "--independent", "--flows", "/tmp/never-written.csv"],
    ] {
        let out = analyze(args, &files);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--jobs"));
    }
    assert!(!std::path::Path::new("/tmp/never-written.csv").exists());
}
