//! Conformance against `../shared/corpus`: tshark's own counts for real captures.
//! Differences that are justified are listed in `docs/conformance.md` and in
//! `KNOWN_DIFFERENCES` below; anything else fails with a file × counter table.

use pcaplens_core::{analyze_bytes, AnalyzerConfig};
use pcaplens_tests::{corpus_absent_notice, corpus_dir, corpus_files, truth};

/// (file, counter, why) — each also explained in docs/conformance.md.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[];

fn known(file: &str, counter: &str) -> bool {
    KNOWN_DIFFERENCES
        .iter()
        .any(|(f, c, _)| *f == file && *c == counter)
}

#[test]
fn corpus_packets_and_conversations_match_tshark() {
    if corpus_dir().is_none() {
        corpus_absent_notice("corpus_packets_and_conversations_match_tshark");
        return;
    }
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for path in corpus_files() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let t = truth(&path);
        let bytes = std::fs::read(&path).unwrap();
        let r = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
        let tshark_ok = t["tshark_rc"].as_i64() == Some(0);
        if !tshark_ok {
            // tshark could not read it fully: we must report an error or the
            // frames before it — never panic, never claim a clean read silently.
            continue;
        }
        checked += 1;
        let want_packets = t["packets"].as_u64().unwrap();
        if r.summary.packets != want_packets && !known(&name, "packets") {
            mismatches.push((
                name.clone(),
                "packets",
                want_packets.to_string(),
                r.summary.packets.to_string(),
            ));
        }
        for proto in ["tcp", "udp"] {
            let want = t["conversations"][proto].as_u64().unwrap_or(0);
            let got = r
                .summary
                .flows
                .by_transport
                .get(proto)
                .copied()
                .unwrap_or(0);
            if want != got && !known(&name, proto) {
                mismatches.push((name.clone(), proto, want.to_string(), got.to_string()));
            }
        }
    }
    if !mismatches.is_empty() {
        let mut table = format!(
            "{:<50} {:<10} {:>8} {:>8}\n",
            "file", "counter", "tshark", "pcaplens"
        );
        for (f, c, w, g) in &mismatches {
            table.push_str(&format!("{f:<50} {c:<10} {w:>8} {g:>8}\n"));
        }
        panic!(
            "{} mismatches over {checked} files:\n{table}",
            mismatches.len()
        );
    }
    assert!(checked > 50, "only {checked} corpus files checked");
}
