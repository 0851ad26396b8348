//! Conformance against `tests/corpus`: tshark's own counts for real captures.
//! Differences that are justified are listed in `docs/conformance.md` and in
//! `KNOWN_DIFFERENCES` below; anything else fails with a file × counter table.

use pcaplens_core::{analyze_bytes, AnalyzerConfig};
use pcaplens_tests::{corpus_files, truth};

/// (file, counter, why) — each also explained in docs/conformance.md.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "arkime__gtp-iphone.pcap",
        "udp",
        "tshark lists one RTP stream twice (one row per direction, SDP-set-up conversations); it is one bidirectional flow",
    ),
    (
        "tcpdump__bigtcp-ipv6.pcap",
        "tcp",
        "IPv6 jumbogram (payload length 0, RFC 2675): tshark 4.0 stops at IPv6; pcaplens decodes the TCP segment",
    ),
];

fn known(file: &str, counter: &str) -> bool {
    KNOWN_DIFFERENCES
        .iter()
        .any(|(f, c, _)| *f == file && *c == counter)
}

#[test]
fn corpus_packets_and_conversations_match_tshark() {
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
            let got = r.summary.conversations.get(proto).copied().unwrap_or(0);
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

/// Files tshark itself cannot read fully must give a clear error or a clean
/// read of what is there — never a panic, never silence about a cut.
#[test]
fn corpus_files_tshark_rejects_get_clear_errors() {
    let mut checked = 0;
    for path in corpus_files() {
        let t = truth(&path);
        if t["tshark_rc"].as_i64() == Some(0) {
            continue;
        }
        checked += 1;
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let r = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
        let stderr = t["tshark_stderr"].as_str().unwrap_or("");
        if stderr.contains("network type") && stderr.contains("unknown or unsupported") {
            // A link type tshark does not know: pcaplens reads the frames and
            // reports them as not decoded instead of refusing the file.
            assert!(r.status.complete, "{name}: {:?}", r.status.error);
            assert_eq!(r.summary.undecoded_frames, r.summary.packets, "{name}");
            assert!(r.summary.packets > 0, "{name}");
            continue;
        }
        let err = r.status.error.as_ref().unwrap_or_else(|| {
            panic!("{name}: tshark failed ({stderr}) but pcaplens reports a clean read")
        });
        assert!(r.status.partial, "{name}");
        assert!(
            err.message.contains("byte "),
            "{name}: error does not say where: {}",
            err.message
        );
        assert!(
            r.summary.packets <= t["packets"].as_u64().unwrap_or(0).max(1),
            "{name}"
        );
    }
    assert!(checked >= 4, "only {checked} unreadable files seen");
}
