//! `pcaplens sanitize` on live traffic made by real tools (dig, curl,
//! openssl, ping, the kernel's ARP/NDP) between two network namespaces,
//! captured by tcpdump (Linux SLL, SLL2, Ethernet) and dumpcap (pcapng).
//!
//! `tests/traffic/sanitize_scenarios.py` makes the traffic and lists every
//! identifier it used; `tests/traffic/sanitize_check.py` sanitises each
//! capture (redact and keep, two keys) and compares the output with the input
//! through tshark: no identifier left in bytes or decode, same lengths, no new
//! bad checksum or malformed frame, same protocol stack and message counts,
//! one pseudonym per original across protocols and captures, same `analyze`
//! counts. Here, through the core API and `sanitize IN --check FILE`, the
//! leak audit must also be able to fail: on the input itself and on an
//! output with one frame put back.
//!
//! Needs root, `ip`, tcpdump, dumpcap, tshark, dig, curl, openssl, python3.
//! Missing ones fail the test; `PCAPLENS_SKIP_LIVE_TRAFFIC=1` skips it.

use pcaplens_core::sanitize::audit::audit_bytes;
use pcaplens_core::sanitize::{sanitize_bytes, SanitizeConfig};
use pcaplens_tests::{live_traffic, pcaplens_bin, python, repo_root, temp_dir};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const TOOLS: &[&str] = &[
    "ip", "tcpdump", "dumpcap", "tshark", "dig", "curl", "openssl", "ping",
];

fn run_script(script: &str, args: &[&Path]) {
    let path = repo_root().join("tests/traffic").join(script);
    let out = Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{script}:\n{text}");
    assert!(out.status.success(), "{script} failed:\n{text}");
}

/// The byte range of the first frame whose data holds `needle` (pcap only).
fn pcap_frame_with(cap: &[u8], needle: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut p = 24;
    while p + 16 <= cap.len() {
        let incl = u32::from_le_bytes(cap[p + 8..p + 12].try_into().unwrap()) as usize;
        let data = p + 16..p + 16 + incl;
        if cap[data.clone()].windows(needle.len()).any(|w| w == needle) {
            return Some(data);
        }
        p = data.end;
    }
    None
}

fn audit_must_fail_on_originals(work: &Path, name: &str) {
    let input = std::fs::read(work.join(name)).expect("read capture");
    let cfg = SanitizeConfig::new(vec![0x11; 32]);
    let (out, summary, ps) = sanitize_bytes(&input, cfg).expect("key");
    assert!(summary.error.is_none(), "{name}: {:?}", summary.error);
    let clean = audit_bytes(&out, ps.originals());
    assert!(
        clean.passed,
        "{name}: audit of the output: {:?}",
        clean.hits_by_form
    );
    // The input holds every original: the audit must say so, for every class.
    let raw = audit_bytes(&input, ps.originals());
    assert!(
        !raw.passed,
        "{name}: the audit passed the unsanitised input"
    );
    for class in ["ipv4", "ipv6", "mac", "dns_name", "secret"] {
        assert!(
            raw.hits.get(class).copied().unwrap_or(0) > 0,
            "{name}: no {class} found in the input: {:?}",
            raw.hits
        );
    }
    // A partly sanitised file: one frame (the request with the Bearer token)
    // left as it was.
    if name.ends_with(".pcap") {
        let frame = pcap_frame_with(&input, b"Authorization: Bearer").expect("bearer request");
        let mut partial = out.clone();
        partial[frame.clone()].copy_from_slice(&input[frame]);
        let r = audit_bytes(&partial, ps.originals());
        assert!(!r.passed, "{name}: the audit missed an unsanitised frame");
        assert!(
            r.hits.get("secret").copied().unwrap_or(0) > 0,
            "{name}: the Bearer token was not reported: {:?}",
            r.hits
        );
        let partial_path = work.join(format!("partial-{name}"));
        std::fs::write(&partial_path, &partial).expect("write partial");
        let sanitized = work.join(format!("out-redact-{}", name.replace(".pcap", ".k1.pcap")));
        // The same through the CLI: `sanitize IN --check FILE`.
        for (target, want) in [(&work.join(name), 4), (&partial_path, 4), (&sanitized, 0)] {
            let st = Command::new(pcaplens_bin())
                .arg("sanitize")
                .arg(work.join(name))
                .arg("--check")
                .arg(target)
                .arg("--key-file")
                .arg(work.join("k1.key"))
                .output()
                .expect("run pcaplens sanitize --check");
            assert_eq!(
                st.status.code(),
                Some(want),
                "sanitize {name} --check {}: {}",
                target.display(),
                String::from_utf8_lossy(&st.stderr)
            );
        }
    }
}

#[test]
fn sanitize_live_dns_http_tls_traffic() {
    if !live_traffic("sanitize_live_dns_http_tls_traffic", TOOLS) {
        return;
    }
    let t0 = Instant::now();
    let work = temp_dir("traffic-sanitize");
    run_script("sanitize_scenarios.py", &[&work]);
    let made = t0.elapsed();
    let bin = pcaplens_bin();
    run_script("sanitize_check.py", &[&work, &bin]);
    let scen: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("scenario.json")).expect("scenario"))
            .expect("scenario json");
    for name in scen["captures"].as_array().expect("captures") {
        audit_must_fail_on_originals(&work, name.as_str().expect("name"));
    }
    eprintln!(
        "traffic made in {:.1} s, checked in {:.1} s",
        made.as_secs_f64(),
        (t0.elapsed() - made).as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&work);
}
