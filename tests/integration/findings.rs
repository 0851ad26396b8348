//! Findings (scans, blocklist, unusual ports, long-lived, protocol/port
//! mismatch) and the capture-quality verdict: generator scenarios with exact
//! truth, negative controls, real captures, and the CLI's `--blocklist`.

use pcaplens_core::detect::blocklist::parse_list;
use pcaplens_core::generate::{generate, GenerateOptions, Generated, Scenario};
use pcaplens_core::{analyze_bytes, AnalyzerConfig, Report};
use pcaplens_tests::{corpus_files, pcaplens_bin, truth};

fn gen(scenario: &str, packets: u64, seed: u64) -> Generated {
    let s: Scenario = scenario.parse().expect("scenario");
    generate(
        s,
        &GenerateOptions {
            packets,
            seed,
            ..Default::default()
        },
    )
    .expect("generate")
}

fn analyze(bytes: &[u8], cfg: AnalyzerConfig) -> Report {
    analyze_bytes(bytes, cfg).expect("analyze")
}

#[test]
fn port_scan_scenario_finds_the_scanner_target_and_ports() {
    for seed in [1, 9] {
        let g = gen("port-scan", 6000, seed);
        let t = &g.truth;
        let r = analyze(&g.bytes, AnalyzerConfig::default());
        let scans = &r.findings.scans;
        assert_eq!(scans.total, 1, "exactly one scan: {:#?}", scans.scans);
        let s = &scans.scans[0];
        assert_eq!(Some(&s.scanner), t.scanner.as_ref());
        assert_eq!(s.pattern, "vertical");
        assert_eq!(s.targets, vec![t.scan_target.clone().unwrap()]);
        assert_eq!(s.port_count, t.scan_ports);
        assert_eq!(s.ports.len() as u64, t.scan_ports.min(100));
        assert_eq!(s.open_ports, t.scan_open_ports);
        assert_eq!(s.scan_types, vec!["syn".to_string()]);
        assert!(s.duration_secs > 0.0 && s.max_in_window == t.scan_ports);
        assert_eq!(s.evidence.len(), 20);
        assert!(s.evidence.windows(2).all(|w| w[0].frame < w[1].frame));
        assert!(s.evidence.iter().all(|e| e.community_id.starts_with("1:")));
        // The evidence's Community IDs are the flows' own.
        let ids: Vec<&str> = r.flows.iter().map(|f| f.community_id.as_str()).collect();
        assert!(s
            .evidence
            .iter()
            .all(|e| ids.contains(&e.community_id.as_str())));
        // Scan probes are not unusual-port servers nor protocol mismatches.
        assert_eq!(r.findings.protocol_mismatch.total_flows, 0);
    }
}

#[test]
fn scan_thresholds_are_configurable() {
    let g = gen("port-scan", 6000, 1);
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.scan.vertical_min_ports = g.truth.scan_ports + 1;
    assert_eq!(analyze(&g.bytes, cfg.clone()).findings.scans.total, 0);
    cfg.detect.scan.vertical_min_ports = g.truth.scan_ports;
    assert_eq!(analyze(&g.bytes, cfg).findings.scans.total, 1);
}

#[test]
fn normal_traffic_raises_no_scan_no_mismatch_and_good_quality() {
    for seed in [1, 2, 3] {
        let g = gen("normal", 20_000, seed);
        let r = analyze(&g.bytes, AnalyzerConfig::default());
        let f = &r.findings;
        assert_eq!(f.scans.total, 0, "seed {seed}: {:#?}", f.scans.scans);
        assert_eq!(
            f.protocol_mismatch.total_flows, 0,
            "seed {seed}: {:#?}",
            f.protocol_mismatch.servers
        );
        assert_eq!(f.blocklist.total_hits, 0);
        assert_eq!(f.long_lived.total, 0);
        assert_eq!(r.quality.verdict, "good", "{:#?}", r.quality);
        assert!(r.quality.reasons.is_empty());
    }
}

#[test]
fn blocklisted_scenario_hits_in_addresses_dns_and_sni() {
    let g = gen("blocklisted", 3000, 4);
    let t = &g.truth;
    let ip = t.blocklisted_host.clone().unwrap();
    let domain = t.blocklisted_domain.clone().unwrap();
    assert_eq!(
        (ip.as_str(), domain.as_str()),
        ("198.51.100.66", "malware.example.net")
    );
    // The domain listed by a parent: subdomains match.
    let list = parse_list(
        &format!("# test list\n{ip}\nexample.net # parent\n"),
        "t.txt",
    )
    .expect("list");
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.blocklist.entries = list;
    let r = analyze(&g.bytes, cfg);
    let b = &r.findings.blocklist;
    assert_eq!(b.entries, 2);
    let hit = |place: &str, value: &str| {
        b.hits
            .iter()
            .find(|h| h.matched_in == place && h.value == value)
            .unwrap_or_else(|| panic!("no {place} hit for {value}: {:#?}", b.hits))
    };
    let dst = hit("dst_addr", &ip);
    assert_eq!(dst.count, t.blocklisted_connections);
    assert_eq!(dst.indicator_source, "t.txt:2");
    assert!(hit("dns_query", &domain).count >= 1);
    assert!(hit("dns_answer", &domain).count >= 1);
    assert!(hit("dns_answer", &ip).count >= 1);
    let sni = hit("tls_sni", &domain);
    assert_eq!(sni.count, t.blocklisted_connections);
    assert_eq!(sni.indicator, "example.net");
    assert_eq!(sni.indicator_source, "t.txt:3");
    assert!(!sni.evidence.is_empty() && sni.evidence[0].community_id.starts_with("1:"));
    // A CIDR entry and an exact domain entry find the same connections.
    let list = parse_list("198.51.100.0/24\nmalware.example.net\n", "u").unwrap();
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.blocklist.entries = list;
    let r2 = analyze(&g.bytes, cfg);
    let n = |r: &Report, place: &str, value: &str| -> u64 {
        r.findings
            .blocklist
            .hits
            .iter()
            .filter(|h| h.matched_in == place && h.value == value)
            .map(|h| h.count)
            .sum()
    };
    assert_eq!(n(&r2, "dst_addr", &ip), t.blocklisted_connections);
    assert_eq!(n(&r2, "tls_sni", &domain), t.blocklisted_connections);
    // No list, no hits; and unrelated names never match.
    let r3 = analyze(&g.bytes, AnalyzerConfig::default());
    assert_eq!(r3.findings.blocklist.total_hits, 0);
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.blocklist.entries = parse_list("ample.net\n203.0.113.255\n", "v").unwrap();
    assert_eq!(analyze(&g.bytes, cfg).findings.blocklist.total_hits, 0);
}

#[test]
fn long_lived_scenario_reports_the_long_flow() {
    let g = gen("long-lived", 3000, 5);
    let t = &g.truth;
    let r = analyze(&g.bytes, AnalyzerConfig::default());
    let l = &r.findings.long_lived;
    assert_eq!(l.total, 1, "{l:#?}");
    let f = &l.flows[0];
    let want = t.long_lived_flow.clone().unwrap();
    assert_eq!(format!("{} -> {}", f.orig, f.resp), want);
    let secs = t.long_lived_seconds.unwrap() as f64;
    assert!(
        (f.duration_secs - secs).abs() < 1.0,
        "{} vs {secs}",
        f.duration_secs
    );
    // Threshold configurable: above the flow's length, nothing.
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.long_lived.min_duration_secs = t.long_lived_seconds.unwrap() + 10;
    assert_eq!(analyze(&g.bytes, cfg).findings.long_lived.total, 0);
}

#[test]
fn http_on_an_odd_port_is_a_mismatch_and_an_unusual_port() {
    let g = gen("http-odd-port", 5000, 6);
    let t = &g.truth;
    let server = t.odd_http_server.clone().unwrap();
    let r = analyze(&g.bytes, AnalyzerConfig::default());
    let m = &r.findings.protocol_mismatch;
    assert_eq!(m.servers.len(), 1, "{m:#?}");
    assert_eq!(m.servers[0].kind, "http_on_non_standard_port");
    assert_eq!(m.servers[0].server, server);
    assert_eq!(m.servers[0].detected, "http");
    let flows = m.servers[0].flows;
    assert!(flows >= 1 && flows <= t.odd_http_requests);
    let u = &r.findings.unusual_ports;
    let entry = u
        .servers
        .iter()
        .find(|s| s.server == server)
        .unwrap_or_else(|| panic!("{u:#?}"));
    assert_eq!(entry.flows, flows);
    assert_eq!(entry.services, vec!["http".to_string()]);
    // Allowing the port removes the unusual-port finding, not the mismatch.
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.ports.allow.insert(t.odd_http_port.unwrap());
    let r2 = analyze(&g.bytes, cfg);
    assert!(r2
        .findings
        .unusual_ports
        .servers
        .iter()
        .all(|s| s.server != server));
    assert_eq!(r2.findings.protocol_mismatch.total_flows, flows);
}

#[test]
fn non_http_on_port_80_is_a_mismatch() {
    let g = gen("non-http-port80", 5000, 7);
    let t = &g.truth;
    let r = analyze(&g.bytes, AnalyzerConfig::default());
    let m = &r.findings.protocol_mismatch;
    assert_eq!(m.servers.len(), 1, "{m:#?}");
    assert_eq!(m.servers[0].kind, "non_http_on_port_80");
    assert_eq!(
        Some(&m.servers[0].server),
        t.non_http_port80_server.as_ref()
    );
    assert_eq!(m.servers[0].flows, t.non_http_port80_flows);
    assert_eq!(m.servers[0].detected, "unknown");
    assert_eq!(
        m.by_kind.get("non_http_on_port_80"),
        Some(&t.non_http_port80_flows)
    );
}

#[test]
fn mixed_scenario_finds_everything_at_once() {
    let g = gen("mixed", 20_000, 8);
    let t = &g.truth;
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.blocklist.entries = parse_list("malware.example.net\n198.51.100.66\n", "m").unwrap();
    let r = analyze(&g.bytes, cfg);
    let f = &r.findings;
    assert_eq!(f.scans.total, 1);
    assert_eq!(Some(&f.scans.scans[0].scanner), t.scanner.as_ref());
    assert_eq!(f.scans.scans[0].port_count, t.scan_ports);
    assert_eq!(f.long_lived.total, 1);
    assert!(f.blocklist.by_place.contains_key("tls_sni"));
    assert_eq!(
        f.protocol_mismatch.by_kind.get("non_http_on_port_80"),
        Some(&t.non_http_port80_flows)
    );
    assert!(f
        .protocol_mismatch
        .by_kind
        .contains_key("http_on_non_standard_port"));
    // Same input and options: byte-identical JSON.
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.blocklist.entries = parse_list("malware.example.net\n198.51.100.66\n", "m").unwrap();
    assert_eq!(r.to_json(), analyze(&g.bytes, cfg).to_json());
    // The quality section serialises before the summary.
    let json = r.to_json();
    assert!(json.find("\"quality\"").unwrap() < json.find("\"summary\"").unwrap());
}

/// Rewrite a generator pcap (LE, µs, Ethernet) record by record.
fn rewrite(pcap: &[u8], mut f: impl FnMut(usize, &mut Vec<u8>, &mut Vec<Vec<u8>>)) -> Vec<u8> {
    let mut out = pcap[..24].to_vec();
    let mut pos = 24;
    let mut i = 0;
    while pos + 16 <= pcap.len() {
        let incl = u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().unwrap()) as usize;
        let mut rec = pcap[pos..pos + 16 + incl].to_vec();
        let mut extra = Vec::new();
        f(i, &mut rec, &mut extra);
        out.extend_from_slice(&rec);
        for e in extra {
            out.extend_from_slice(&e);
        }
        pos += 16 + incl;
        i += 1;
    }
    out
}

fn check<'a>(r: &'a Report, name: &str) -> &'a pcaplens_core::detect::quality::QualityCheck {
    r.quality
        .checks
        .iter()
        .find(|c| c.name == name)
        .expect("check")
}

#[test]
fn quality_sees_duplicates_backwards_time_and_checksum_offload() {
    let g = gen("normal", 4000, 11);
    // Every 10th frame captured twice.
    let mut dups = 0;
    let dup = rewrite(&g.bytes, |i, rec, extra| {
        if i % 10 == 5 {
            extra.push(rec.clone());
            dups += 1;
        }
    });
    let r = analyze(&dup, AnalyzerConfig::default());
    let c = check(&r, "duplicates");
    assert_eq!(c.count, dups);
    assert_eq!(c.status, "poor");
    assert_eq!(r.quality.verdict, "poor");
    assert!(r.quality.reasons[0].starts_with("poor: "));
    assert_eq!(check(&r, "checksum_offload").status, "ok");

    // Ten frames stamped a second early.
    let back = rewrite(&g.bytes, |i, rec, _| {
        if i % 300 == 150 {
            let s = u32::from_le_bytes(rec[0..4].try_into().unwrap()) - 1;
            rec[0..4].copy_from_slice(&s.to_le_bytes());
        }
    });
    let r = analyze(&back, AnalyzerConfig::default());
    let c = check(&r, "timestamps_backwards");
    assert_eq!(c.count, r.summary.out_of_order_timestamps);
    assert!(c.count >= 10 && c.status != "ok");
    assert_eq!(check(&r, "duplicates").count, 0);

    // One host's outgoing IPv4 TCP checksums zeroed (as offload leaves them).
    let victim = [10u8, 0, 0, 11];
    let mut zeroed = 0;
    let off = rewrite(&g.bytes, |_, rec, _| {
        let f = &mut rec[16..];
        if f.len() > 14 + 20 + 20 && f[12..14] == [8, 0] && f[14 + 9] == 6 && f[26..30] == victim {
            let ihl = (f[14] & 15) as usize * 4;
            f[14 + ihl + 16] = 0;
            f[14 + ihl + 17] = 0;
            zeroed += 1;
        }
    });
    assert!(zeroed > 50);
    let r = analyze(&off, AnalyzerConfig::default());
    let c = check(&r, "checksum_offload");
    assert_eq!(c.status, "note", "{c:#?}");
    assert!(c.detail.contains("10.0.0.11"), "{}", c.detail);
    assert!(c.count > 0 && c.count <= zeroed);
    assert_eq!(
        r.quality.verdict, "good",
        "offload is an artefact, not a fault"
    );
}

/// Issue 26: a host whose own packets are mostly large segments (only their IPv4 header
/// verified) and whose few small ones all carry offloaded (zero) transport checksums is
/// the capturing host's offload, not corruption: the large segments must not dilute it.
#[test]
fn quality_offload_on_a_host_sending_mostly_large_segments_is_a_note() {
    let g = gen("normal", 4000, 11);
    // Per IPv4 TCP source: (large segments, small segments) sent.
    let mut sent: std::collections::BTreeMap<[u8; 4], (u64, u64)> = Default::default();
    let _ = rewrite(&g.bytes, |_, rec, _| {
        let f = &rec[16..];
        if f.len() > 14 + 20 + 20 && f[12..14] == [8, 0] && f[14 + 9] == 6 {
            let e = sent.entry(f[26..30].try_into().unwrap()).or_default();
            let l4 = u16::from_be_bytes([f[16], f[17]]) as usize - (f[14] & 15) as usize * 4;
            if l4 > 128 {
                e.0 += 1
            } else {
                e.1 += 1
            }
        }
    });
    // The source whose share of large segments is highest: under the old rule (bad of all
    // sampled packets) its offload read as corruption.
    let (&host, &(large, small)) = sent
        .iter()
        .filter(|(_, (_, s))| *s >= 10)
        .max_by(|a, b| {
            (a.1 .0 * 1000 / (a.1 .0 + a.1 .1)).cmp(&(b.1 .0 * 1000 / (b.1 .0 + b.1 .1)))
        })
        .expect("a TCP sender");
    assert!(
        large > small,
        "{host:?}: {large} large, {small} small segments"
    );
    let off = rewrite(&g.bytes, |_, rec, _| {
        let f = &mut rec[16..];
        if f.len() > 14 + 20 + 20 && f[12..14] == [8, 0] && f[14 + 9] == 6 && f[26..30] == host {
            let ihl = (f[14] & 15) as usize * 4;
            f[14 + ihl + 16] = 0;
            f[14 + ihl + 17] = 0;
        }
    });
    // Every frame verified, so the host's few small segments are all seen.
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.quality.checksum_sample_every = 1;
    let r = analyze(&off, cfg);
    let c = check(&r, "checksum_offload");
    let addr = std::net::Ipv4Addr::from(host).to_string();
    assert!(c.count > 0, "{c:#?}");
    assert_eq!(c.status, "note", "{c:#?}");
    assert!(
        c.detail.contains(&addr) && c.detail.contains("offload"),
        "{}",
        c.detail
    );
    assert_eq!(
        r.quality.verdict, "good",
        "offload alone never downgrades a capture"
    );
}

/// Issue 26: the capturing host owns several addresses (network namespaces, veth pairs):
/// each spoils the checksums of what it sends, so every conversation has wrong checksums
/// in one direction only. That is offload however many addresses there are; the same
/// hosts' conversations spoiled in both directions are corruption.
#[test]
fn quality_offload_from_several_own_addresses_is_one_directional() {
    let g = gen("normal", 4000, 11);
    let v4_tcp = |f: &[u8]| f.len() > 14 + 20 + 20 && f[12..14] == [8, 0] && f[14 + 9] == 6;
    // Small TCP segments sent per source, and who talks to whom.
    let mut small: std::collections::BTreeMap<[u8; 4], u64> = Default::default();
    let mut pairs: std::collections::BTreeSet<([u8; 4], [u8; 4])> = Default::default();
    let _ = rewrite(&g.bytes, |_, rec, _| {
        let f = &rec[16..];
        if v4_tcp(f) {
            let (s, d): ([u8; 4], [u8; 4]) =
                (f[26..30].try_into().unwrap(), f[30..34].try_into().unwrap());
            pairs.insert((s, d));
            let l4 = u16::from_be_bytes([f[16], f[17]]) as usize - (f[14] & 15) as usize * 4;
            if l4 <= 128 {
                *small.entry(s).or_default() += 1;
            }
        }
    });
    // Three busy senders, none of which talks to another.
    let mut own: Vec<[u8; 4]> = Vec::new();
    let mut by_small: Vec<_> = small.iter().collect();
    by_small.sort_by_key(|(a, n)| (std::cmp::Reverse(**n), **a));
    for (a, _) in by_small {
        if own
            .iter()
            .all(|o| !pairs.contains(&(*a, *o)) && !pairs.contains(&(*o, *a)))
        {
            own.push(*a);
        }
        if own.len() == 3 {
            break;
        }
    }
    assert_eq!(own.len(), 3, "{small:?}");
    let spoil = |both: bool| {
        rewrite(&g.bytes, |_, rec, _| {
            let f = &mut rec[16..];
            if v4_tcp(f) {
                let (s, d): ([u8; 4], [u8; 4]) =
                    (f[26..30].try_into().unwrap(), f[30..34].try_into().unwrap());
                if own.contains(&s) || (both && own.contains(&d)) {
                    let ihl = (f[14] & 15) as usize * 4;
                    f[14 + ihl + 16] ^= 0x5a;
                }
            }
        })
    };
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.quality.checksum_sample_every = 1;
    let r = analyze(&spoil(false), cfg.clone());
    let c = check(&r, "checksum_offload");
    assert_eq!(c.status, "note", "{c:#?}");
    assert!(c.detail.contains("offload"), "{}", c.detail);
    for a in &own {
        assert!(
            c.detail.contains(&std::net::Ipv4Addr::from(*a).to_string()),
            "{}",
            c.detail
        );
    }
    assert_eq!(
        r.quality.verdict, "good",
        "offload alone never downgrades a capture"
    );

    let r = analyze(&spoil(true), cfg.clone());
    let c = check(&r, "checksum_offload");
    assert!(c.status == "degraded" || c.status == "poor", "{c:#?}");
    assert!(c.detail.contains("corruption"), "{}", c.detail);
    assert_ne!(r.quality.verdict, "good");

    // The same conversations, both directions, but holding what Linux leaves for the NIC
    // (CHECKSUM_PARTIAL: the pseudo-header sum), as a capture on a bridge of network
    // namespaces shows: every sender is on the capturing machine. Offload, not corruption.
    let partial = rewrite(&g.bytes, |_, rec, _| {
        let f = &mut rec[16..];
        if v4_tcp(f) {
            let (s, d): ([u8; 4], [u8; 4]) =
                (f[26..30].try_into().unwrap(), f[30..34].try_into().unwrap());
            if own.contains(&s) || own.contains(&d) {
                let ihl = (f[14] & 15) as usize * 4;
                let total = u16::from_be_bytes([f[16], f[17]]) as usize;
                let mut sum = 6u32 + (total - ihl) as u32;
                for w in f[26..34].chunks_exact(2) {
                    sum += u16::from_be_bytes([w[0], w[1]]) as u32;
                }
                while sum > 0xffff {
                    sum = (sum & 0xffff) + (sum >> 16);
                }
                f[14 + ihl + 16..14 + ihl + 18].copy_from_slice(&(sum as u16).to_be_bytes());
            }
        }
    });
    let r = analyze(&partial, cfg);
    let c = check(&r, "checksum_offload");
    assert!(c.count > 50, "{c:#?}");
    assert_eq!(c.status, "note", "{c:#?}");
    assert!(c.detail.contains("partial checksum"), "{}", c.detail);
    assert_eq!(
        r.quality.verdict, "good",
        "offload alone never downgrades a capture"
    );
}

/// Issue 26, on real traffic: three network namespaces on one bridge (all on the capturing
/// machine) talking HTTP, captured by tcpdump on the bridge: the kernel leaves every TCP
/// checksum partial, in both directions. Before, this read "poor: corruption"; it is offload.
#[test]
fn quality_offload_on_a_bridge_of_namespaces_is_a_note() {
    if !pcaplens_tests::live_traffic(
        "quality_offload_on_a_bridge_of_namespaces_is_a_note",
        &["curl"],
    ) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pcaplens-offload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("bridge.pcap");
    let out = std::process::Command::new("bash")
        .arg(pcaplens_tests::repo_root().join("tests/traffic/offload_bridge.sh"))
        .arg(&pcap)
        .output()
        .expect("run offload_bridge.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&pcap).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // Every frame verified (the default samples one in 16, which may miss a host).
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.quality.checksum_sample_every = 1;
    for cfg in [cfg, AnalyzerConfig::default()] {
        let r = analyze(&bytes, cfg);
        assert!(r.summary.packets > 100, "{} packets", r.summary.packets);
        let c = check(&r, "checksum_offload");
        assert!(c.status == "note" || c.status == "ok", "{c:#?}");
        assert_eq!(r.quality.verdict, "good", "{:?}", r.quality.reasons);
    }
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.quality.checksum_sample_every = 1;
    let r = analyze(&bytes, cfg);
    let c = check(&r, "checksum_offload");
    assert!(c.count > 50, "{c:#?}");
    assert_eq!(c.status, "note", "{c:#?}");
    for host in ["10.77.0.1", "10.77.0.2", "10.77.0.3"] {
        assert!(c.detail.contains(host), "{}", c.detail);
    }
}

/// Issue 26: loopback captures carry unfilled transport checksums (here in ::1 traffic,
/// where most sampled segments are too large to verify): an artefact, not corruption.
#[test]
fn quality_loopback_checksums_are_not_corruption() {
    let path = corpus_files()
        .into_iter()
        .find(|p| p.ends_with("zeek__1000-requests-one-dropped-response.pcap"))
        .expect("corpus capture");
    let r = analyze(&std::fs::read(path).unwrap(), AnalyzerConfig::default());
    let c = check(&r, "checksum_offload");
    assert_eq!(c.status, "note", "{c:#?}");
    assert!(
        c.detail.contains("::1") && c.detail.contains("loopback"),
        "{}",
        c.detail
    );
    assert_ne!(r.quality.verdict, "poor");
    // Real corruption from many hosts (a fuzzed capture) stays a fault.
    let fuzz = corpus_files()
        .into_iter()
        .find(|p| p.ends_with("ndpi__fuzz-2006-06-26-2594.pcap"))
        .expect("corpus capture");
    let r = analyze(&std::fs::read(fuzz).unwrap(), AnalyzerConfig::default());
    assert_eq!(check(&r, "checksum_offload").status, "poor");
}

#[test]
fn quality_sees_one_sided_capture_and_missed_segments() {
    let g = gen("normal", 4000, 12);
    // Drop everything the servers sent (ports < 1024 as source).
    let one = {
        let mut out = g.bytes[..24].to_vec();
        let mut pos = 24;
        while pos + 16 <= g.bytes.len() {
            let incl = u32::from_le_bytes(g.bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
            let rec = &g.bytes[pos..pos + 16 + incl];
            let f = &rec[16..];
            let from_server = f.len() > 14 + 20 + 4 && f[12..14] == [8, 0] && f[14 + 9] == 6 && {
                let ihl = (f[14] & 15) as usize * 4;
                u16::from_be_bytes([f[14 + ihl], f[15 + ihl]]) < 1024
            };
            if !from_server {
                out.extend_from_slice(rec);
            }
            pos += 16 + incl;
        }
        out
    };
    let r = analyze(&one, AnalyzerConfig::default());
    let c = check(&r, "one_sided");
    assert!(c.count > 10 && c.status == "poor", "{c:#?}");
    assert_eq!(r.quality.verdict, "poor");
    assert!(!c.evidence.is_empty());
    let m = check(&r, "missed_packets");
    assert_eq!(
        m.count,
        r.failures.tcp.lost_segment.total + r.failures.tcp.ack_unseen_segment.total
    );
    // Wireshark flags gaps only against a seen direction: drop some server
    // data segments instead, and the capture "missed" them.
    let mut dropped = 0;
    let gappy = {
        let mut out = g.bytes[..24].to_vec();
        let mut pos = 24;
        let mut n = 0;
        while pos + 16 <= g.bytes.len() {
            let incl = u32::from_le_bytes(g.bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
            let rec = &g.bytes[pos..pos + 16 + incl];
            let f = &rec[16..];
            let server_data =
                f.len() > 14 + 20 + 20 + 100 && f[12..14] == [8, 0] && f[14 + 9] == 6 && {
                    let ihl = (f[14] & 15) as usize * 4;
                    u16::from_be_bytes([f[14 + ihl], f[15 + ihl]]) < 1024
                };
            let drop = server_data && {
                n += 1;
                n % 25 == 0
            };
            if drop {
                dropped += 1;
            } else {
                out.extend_from_slice(rec);
            }
            pos += 16 + incl;
        }
        out
    };
    assert!(dropped > 5);
    let r = analyze(&gappy, AnalyzerConfig::default());
    let m = check(&r, "missed_packets");
    assert!(m.count >= dropped, "{m:#?} dropped {dropped}");
    assert_ne!(m.status, "ok");
    assert_ne!(r.quality.verdict, "good");
    assert!(!m.evidence.is_empty());
    assert_eq!(check(&r, "one_sided").count, 0);
}

/// Scanners with a clear pattern in the truth's SYN-source summary.
const CLEAR_SCAN_HOST_PORTS: u64 = 100;
/// Sources below this are ordinary traffic: no scan may be reported for them.
const ORDINARY_HOST_PORTS: u64 = 10;

#[test]
fn corpus_scanners_found_and_ordinary_files_quiet() {
    let files = corpus_files();
    let mut rows = Vec::new();
    let mut missed = Vec::new();
    let mut false_pos = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let t = truth(path);
        let srcs = t["breakdowns"]["tcp_syn_sources_top5"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let expected: Vec<String> = srcs
            .iter()
            .filter(|s| s["distinct_dst_host_ports"].as_u64().unwrap_or(0) >= CLEAR_SCAN_HOST_PORTS)
            .map(|s| s["src"].as_str().unwrap_or("").to_string())
            .collect();
        let ordinary_file = srcs
            .iter()
            .all(|s| s["distinct_dst_host_ports"].as_u64().unwrap_or(0) < ORDINARY_HOST_PORTS);
        let bytes = std::fs::read(path).expect("read corpus file");
        let r = analyze(&bytes, AnalyzerConfig::default());
        let found: Vec<String> = r
            .findings
            .scans
            .scans
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}p/{}h",
                    s.scanner, s.pattern, s.port_count, s.target_count
                )
            })
            .collect();
        for e in &expected {
            if !r.findings.scans.scans.iter().any(|s| &s.scanner == e) {
                missed.push(format!("{name}: {e}"));
            }
        }
        // TCP scans from ordinary sources are false positives.
        for s in &r.findings.scans.scans {
            let known = srcs.iter().find(|x| x["src"] == s.scanner.as_str());
            let small = known.is_some_and(|x| {
                x["distinct_dst_host_ports"].as_u64().unwrap_or(0) < ORDINARY_HOST_PORTS
            });
            let tcp = s
                .scan_types
                .iter()
                .any(|k| ["syn", "connect"].contains(&k.as_str()));
            if tcp && (ordinary_file || small) {
                false_pos.push(format!("{name}: {}", found.join("; ")));
            }
        }
        if !expected.is_empty() || !found.is_empty() {
            rows.push(format!(
                "{name:<48} expected [{}] found [{}]",
                expected.join(", "),
                found.join("; ")
            ));
        }
    }
    eprintln!(
        "corpus scans ({} files; files with no scan expected or found not listed):",
        files.len()
    );
    for r in &rows {
        eprintln!("  {r}");
    }
    eprintln!("false positives: {false_pos:?}");
    assert!(missed.is_empty(), "scanners missed: {missed:?}");
    assert!(false_pos.is_empty(), "false positives: {false_pos:?}");
    assert!(
        rows.iter().filter(|r| r.contains("172.16.0.8")).count() >= 2,
        "both synscan captures are in the corpus and found"
    );
}

#[test]
fn cli_blocklist_flag_reads_files_and_rejects_bad_lines() {
    let dir = std::env::temp_dir().join(format!("pcaplens-findings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let g = gen("blocklisted", 2000, 4);
    let cap = dir.join("b.pcap");
    std::fs::write(&cap, &g.bytes).unwrap();
    let good1 = dir.join("ips.txt");
    let good2 = dir.join("domains.txt");
    std::fs::write(&good1, "# addresses\n198.51.100.66\n").unwrap();
    std::fs::write(&good2, "\nmalware.example.net # the C2\n").unwrap();
    let out = std::process::Command::new(pcaplens_bin())
        .args(["analyze", "--json", "--blocklist"])
        .arg(&good1)
        .arg("--blocklist")
        .arg(&good2)
        .arg(&cap)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &v["findings"]["blocklist"];
    assert_eq!(b["entries"], 2);
    let sources: Vec<&str> = b["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["indicator_source"].as_str().unwrap())
        .collect();
    assert!(sources.iter().any(|s| s.ends_with("ips.txt:2")));
    assert!(sources.iter().any(|s| s.ends_with("domains.txt:2")));
    // Terminal summary: quality first, findings listed.
    let out = std::process::Command::new(pcaplens_bin())
        .args(["analyze", "--blocklist"])
        .arg(&good2)
        .arg(&cap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("quality"), "{text}");
    assert!(
        text.contains("blocklisted malware.example.net in tls_sni"),
        "{text}"
    );

    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "10.0.0.1\nnot a domain\n10.0.0.0/99\n").unwrap();
    let out = std::process::Command::new(pcaplens_bin())
        .args(["analyze", "--blocklist"])
        .arg(&bad)
        .arg(&cap)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.txt:2:") && err.contains("bad.txt:3:"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn terminal_summary_leads_with_what_went_wrong_worst_first() {
    let g = gen("tcp-resets", 4000, 3);
    let dir = std::env::temp_dir().join(format!("pcaplens-wrong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cap = dir.join("r.pcap");
    std::fs::write(&cap, &g.bytes).unwrap();
    let out = std::process::Command::new(pcaplens_bin())
        .arg("analyze")
        .arg(&cap)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let at = text.find("What went wrong").expect("section");
    assert!(at < text.find("Protocols").unwrap());
    // Class lines: "  name   total"; totals descending.
    let totals: Vec<u64> = text[at..]
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("      "))
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect();
    assert!(!totals.is_empty());
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1]),
        "{totals:?}\n{text}"
    );
    assert!(text[at..].contains("frame "));
    std::fs::remove_dir_all(&dir).ok();
}
