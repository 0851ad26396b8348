//! Generator tests; the tshark test shells out (tests may do I/O).

use super::*;
use std::process::Command;

fn opts(packets: u64, seed: u64) -> GenerateOptions {
    GenerateOptions {
        packets,
        seed,
        ..Default::default()
    }
}

/// Minimal pcap record walk: (count, timestamps non-decreasing).
fn walk(bytes: &[u8]) -> (u64, bool) {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    let mut p = 24;
    let mut n = 0;
    let mut prev = 0u64;
    let mut mono = true;
    while p < bytes.len() {
        let s = u32::from_le_bytes(bytes[p..p + 4].try_into().unwrap()) as u64;
        let us = u32::from_le_bytes(bytes[p + 4..p + 8].try_into().unwrap()) as u64;
        let len = u32::from_le_bytes(bytes[p + 8..p + 12].try_into().unwrap()) as usize;
        let ts = s * 1_000_000 + us;
        mono &= ts >= prev;
        prev = ts;
        p += 16 + len;
        n += 1;
    }
    assert_eq!(p, bytes.len());
    (n, mono)
}

#[test]
fn scenario_names_round_trip() {
    for s in Scenario::ALL {
        assert_eq!(s.name().parse::<Scenario>().unwrap(), *s);
    }
    let e = "bogus".parse::<Scenario>().unwrap_err().to_string();
    assert!(e.contains("tcp-resets") && e.contains("bogus"), "{e}");
}

#[test]
fn invalid_options() {
    assert!(generate(Scenario::Normal, &opts(0, 1)).is_err());
    let mut o = opts(10, 1);
    o.flows = Some(0);
    assert!(matches!(
        generate(Scenario::Normal, &o),
        Err(GenerateError::InvalidOptions(_))
    ));
}

#[test]
fn every_scenario_generates_close_to_target() {
    for &s in Scenario::ALL {
        let g = generate(s, &opts(2000, 7)).unwrap();
        let (n, mono) = walk(&g.bytes);
        assert!(mono, "{s}: timestamps decrease");
        assert_eq!(n, g.truth.packets, "{s}");
        let t = &g.truth;
        assert!(
            t.packets > 1500 && t.packets < 2600,
            "{s}: {} packets",
            t.packets
        );
        assert!(t.tcp_flows > 0 && t.udp_flows > 0, "{s}: {t:?}");
        match s {
            Scenario::Normal => {
                assert_eq!(
                    t.tcp_rst_frames
                        + t.tcp_retransmissions
                        + t.dns_error_responses
                        + t.http_error_responses,
                    0
                )
            }
            Scenario::TcpResets => assert!(t.tcp_rst_frames > 0 && t.tcp_refused_connections > 0),
            Scenario::Retransmissions => {
                assert!(t.tcp_fast_retransmissions > 0 && t.tcp_timeout_retransmissions > 0)
            }
            Scenario::DnsFailures => {
                assert!(t.dns_servfail > 0 && t.dns_nxdomain > 0 && t.dns_unanswered >= 4)
            }
            Scenario::HttpErrors => assert!(t.http_5xx > 0 && t.http_4xx > 0),
            Scenario::PortScan => assert!(t.scan_ports >= 100 && t.scanner.is_some()),
            Scenario::LongLived => assert!(t.long_lived_seconds.unwrap() > 7200),
            Scenario::Blocklisted => assert!(t.blocklisted_connections > 0),
            Scenario::HttpOddPort => assert!(t.odd_http_requests > 0),
            Scenario::NonHttpPort80 => assert!(t.non_http_port80_flows > 0),
            Scenario::Mixed => assert!(
                t.scan_ports > 0 && t.long_lived_seconds.is_some() && t.tcp_retransmissions > 0
            ),
            Scenario::FlowHeavy => assert!(
                t.packets < (t.tcp_flows + t.udp_flows) * 8
                    && t.dns_nxdomain > 0
                    && t.tcp_rst_frames > 0,
                "{t:?}"
            ),
        }
    }
}

#[test]
fn deterministic_and_seed_sensitive() {
    let a = generate(Scenario::Mixed, &opts(3000, 42)).unwrap();
    let b = generate(Scenario::Mixed, &opts(3000, 42)).unwrap();
    let c = generate(Scenario::Mixed, &opts(3000, 43)).unwrap();
    assert!(a.bytes == b.bytes);
    assert!(a.bytes != c.bytes);
}

#[test]
fn streaming_matches_buffered() {
    let g = generate(Scenario::Normal, &opts(20_000, 5)).unwrap();
    let mut chunks = 0;
    let mut all = Vec::new();
    let t = generate_into(Scenario::Normal, &opts(20_000, 5), &mut |c| {
        chunks += 1;
        all.extend_from_slice(c);
    })
    .unwrap();
    assert!(all == g.bytes);
    assert!(chunks > 1);
    assert_eq!(t.packets, g.truth.packets);
    assert!((19_000..21_000).contains(&t.packets), "{}", t.packets);
}

#[test]
fn fixed_flows_scale_packets_not_flows() {
    let mut o = opts(5_000, 9);
    o.flows = Some(50);
    let small = generate(Scenario::Normal, &o).unwrap().truth;
    o.packets = 50_000;
    let big = generate(Scenario::Normal, &o).unwrap().truth;
    assert_eq!(small.tcp_flows, 50);
    assert_eq!(big.tcp_flows, 50);
    assert_eq!(small.udp_flows + big.udp_flows, 0);
    assert!((4_500..5_600).contains(&small.packets), "{}", small.packets);
    assert!((45_000..55_000).contains(&big.packets), "{}", big.packets);
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn tshark_count(file: &std::path::Path, filter: &str) -> u64 {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-Y", filter])
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ])
        .args(["-T", "fields", "-e", "frame.number"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64
}

#[test]
fn tshark_accepts_every_scenario_and_truth_matches() {
    if !tshark_available() {
        if std::env::var("PCAPLENS_NO_TSHARK").as_deref() == Ok("1") {
            eprintln!("tshark not found; skipped because PCAPLENS_NO_TSHARK=1");
            return;
        }
        panic!("tshark is not on PATH: install it (apt-get install tshark) or set PCAPLENS_NO_TSHARK=1 to skip this test");
    }
    let dir = std::env::temp_dir();
    let mut failures = Vec::new();
    for &s in Scenario::ALL {
        // Overridable to sweep other sizes/seeds by hand.
        let env = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let g = generate(
            s,
            &opts(
                env("PCAPLENS_GEN_PACKETS", 2500),
                env("PCAPLENS_GEN_SEED", 11),
            ),
        )
        .unwrap();
        let path = dir.join(format!(
            "pcaplens-gen-test-{}-{}.pcap",
            std::process::id(),
            s.name()
        ));
        std::fs::write(&path, &g.bytes).unwrap();
        let t = &g.truth;
        let bad = tshark_count(&path, "_ws.malformed || _ws.expert.severity >= error");
        let checks = [
            ("frame", t.packets),
            ("tcp.flags.reset==1", t.tcp_rst_frames),
            (
                "dns.flags.rcode!=0 && dns.flags.response==1",
                t.dns_error_responses,
            ),
            ("dns.flags.response==0", t.dns_queries),
            ("http.response.code>=400", t.http_error_responses),
            ("tcp.analysis.retransmission", t.tcp_retransmissions),
            (
                "tcp.analysis.fast_retransmission",
                t.tcp_fast_retransmissions,
            ),
            ("tls.handshake.type==1", t.tls_client_hellos),
        ];
        let mut errs = Vec::new();
        if bad != 0 {
            errs.push(format!("{bad} malformed/error frames"));
        }
        for (f, want) in checks {
            let got = tshark_count(&path, f);
            if got != want {
                errs.push(format!("{f}: tshark {got} vs truth {want}"));
            }
        }
        if errs.is_empty() {
            let _ = std::fs::remove_file(&path);
        }
        if !errs.is_empty() {
            failures.push(format!("{s} ({}): {}", path.display(), errs.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Large captures stream in bounded chunks and land on the requested size
/// (the speed of the 1,000,000-packet run is measured by `bench/bench.py`).
#[test]
fn large_capture_streams_in_bounded_chunks() {
    let mut bytes = 0usize;
    let mut max_chunk = 0usize;
    let t = generate_into(Scenario::Mixed, &opts(100_000, 1), &mut |c| {
        bytes += c.len();
        max_chunk = max_chunk.max(c.len());
    })
    .unwrap();
    assert!((99_000..101_000).contains(&t.packets), "{}", t.packets);
    assert!(
        bytes > 24 && max_chunk < 4 << 20,
        "{bytes} bytes, largest chunk {max_chunk}"
    );
}
