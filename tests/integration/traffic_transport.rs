//! Live transport-level traffic: real Linux stacks and real tools (the kernel's
//! TCP, curl, hping3, nmap) inside throw-away network namespaces, captured with
//! tcpdump (raw IP on a TUN, Ethernet on a veth, Linux SLL with `-i any`).
//! `tests/traffic/transport.py` makes the traffic and runs tshark with the corpus
//! oracle's options on every capture; this module runs pcaplens on the same files.
//!
//! The primary assertion is pcaplens == tshark on the same capture, frame by
//! frame, for every `tcp.analysis.*` flag, `tcp.flags.reset`, SYN streams without
//! SYN/ACK and ICMP/ICMPv6 destination unreachable (with codes). Where the
//! scenario fixes a number exactly (5 refused connects, 3 SYNs of one hping3
//! stream, nmap's scanner address and port range), that truth is asserted too.
//!
//! Needs root, `ip`, tcpdump, tshark and the scenario's tools; without them the
//! tests fail, unless `PCAPLENS_SKIP_LIVE_TRAFFIC=1` (then they say so and skip).
//! `PCAPLENS_TRAFFIC_KEEP=1` keeps the captures and prints where they are.

use pcaplens_core::detect::tcp::{TcpEvent, TcpReport};
use pcaplens_core::detect::Counted;
use pcaplens_core::report::Report;
use pcaplens_core::{analyze_bytes, AnalyzerConfig};
use pcaplens_tests::{live_traffic, python, repo_root};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// (scenario, capture file or "*", flag, why): differences from tshark with a
/// reason, each also in docs/conformance.md ("Live traffic").
const KNOWN: &[(&str, &str, &str, &str)] = &[];

/// tshark's `tcp.analysis.<flag>` → pcaplens's list of that flag.
fn flag_list<'a>(t: &'a TcpReport, flag: &str) -> &'a Counted<TcpEvent> {
    match flag {
        "retransmission" => &t.retransmission,
        "fast_retransmission" => &t.fast_retransmission,
        "spurious_retransmission" => &t.spurious_retransmission,
        "out_of_order" => &t.out_of_order,
        "duplicate_ack" => &t.duplicate_ack,
        "zero_window" => &t.zero_window,
        "lost_segment" => &t.lost_segment,
        "zero_window_probe" => &t.zero_window_probe,
        "zero_window_probe_ack" => &t.zero_window_probe_ack,
        "keep_alive" => &t.keep_alive,
        "keep_alive_ack" => &t.keep_alive_ack,
        "window_full" => &t.window_full,
        "window_update" => &t.window_update,
        "ack_lost_segment" => &t.ack_unseen_segment,
        "reused_ports" => &t.reused_ports,
        other => panic!("unknown flag {other}"),
    }
}

/// One scenario's captures and the script's result.json.
struct Scenario {
    name: &'static str,
    dir: PathBuf,
    result: Value,
}

impl Scenario {
    fn captures(&self) -> impl Iterator<Item = (&str, Report, &Value)> + '_ {
        self.result["captures"].as_array().unwrap().iter().map(|c| {
            let file = c["file"].as_str().unwrap();
            (file, analyze(&self.dir.join(file)), &c["tshark"])
        })
    }

    fn truth(&self) -> &Value {
        &self.result["truth"]
    }

    fn report(&self, file: &str) -> Report {
        analyze(&self.dir.join(file))
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if std::env::var("PCAPLENS_TRAFFIC_KEEP").as_deref() == Ok("1") {
            eprintln!("{}: captures kept in {}", self.name, self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn analyze(path: &Path) -> Report {
    let mut cfg = AnalyzerConfig::default();
    cfg.detect.max_instances = 1_000_000;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    analyze_bytes(&bytes, cfg).unwrap()
}

/// Run one scenario of transport.py, or None when live tests are switched off.
fn run(name: &'static str, tools: &[&str]) -> Option<Scenario> {
    if !live_traffic(name, tools) {
        return None;
    }
    let python = python();
    // Namespace and interface names carry pid and counter: tests run in parallel.
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let tag = format!(
        "{}x{}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let dir = pcaplens_tests::temp_dir(&format!("traffic-{name}"));
    let script = repo_root().join("tests/traffic/transport.py");
    let t0 = std::time::Instant::now();
    // transport.py deletes its namespaces itself; this is the safety net for a
    // script that died without running its cleanup.
    struct Namespaces(String);
    impl Drop for Namespaces {
        fn drop(&mut self) {
            for suffix in ["a", "b", "r"] {
                let _ = Command::new("ip")
                    .args(["netns", "del", &format!("pltr{}{suffix}", self.0)])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
    let _cleanup = Namespaces(tag.clone());
    let out = Command::new(&python)
        .arg(&script)
        .args([name, dir.to_str().unwrap(), &tag])
        .output()
        .expect("run transport.py");
    assert!(
        out.status.success(),
        "transport.py {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value =
        serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    eprintln!(
        "{name}: traffic {}s, with tshark {:.1}s",
        result["traffic_secs"],
        t0.elapsed().as_secs_f64()
    );
    Some(Scenario { name, dir, result })
}

fn frames(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn first_diff(want: &[u64], got: &[u64]) -> String {
    let missing: Vec<u64> = want
        .iter()
        .filter(|f| !got.contains(f))
        .take(8)
        .copied()
        .collect();
    let extra: Vec<u64> = got
        .iter()
        .filter(|f| !want.contains(f))
        .take(8)
        .copied()
        .collect();
    format!("only tshark {missing:?}, only pcaplens {extra:?}")
}

/// Every TCP/ICMP counter of the oracle (and the other analysis flags), frame
/// by frame, pcaplens against tshark, on every capture of the scenario.
fn assert_matches_tshark(s: &Scenario) {
    let mut rows = Vec::new();
    let mut check = |file: &str, what: &str, want: Vec<u64>, mut got: Vec<u64>| {
        got.sort_unstable();
        got.dedup();
        if want != got {
            let known = KNOWN
                .iter()
                .any(|(sc, f, w, _)| *sc == s.name && (*f == "*" || *f == file) && *w == what);
            rows.push(format!(
                "{file:<26} {what:<24} tshark {:>5} pcaplens {:>5}{}  {}",
                want.len(),
                got.len(),
                if known { " (known)" } else { "" },
                first_diff(&want, &got)
            ));
            if !known {
                return true;
            }
        }
        false
    };
    let mut unexpected = 0;
    for (file, r, ts) in s.captures() {
        let tcp = &r.failures.tcp;
        for (flag, want) in ts["flags"].as_object().unwrap() {
            let got = flag_list(tcp, flag)
                .instances
                .iter()
                .map(|e| e.frame)
                .collect();
            unexpected += check(file, flag, frames(want), got) as usize;
        }
        let got = tcp.resets.instances.iter().map(|e| e.frame).collect();
        unexpected += check(file, "rst", frames(&ts["rst"]), got) as usize;
        // SYN streams without SYN/ACK: first SYN frame, then the SYN count.
        let want: Vec<u64> = ts["syn_without_synack"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["first_frame"].as_u64().unwrap())
            .collect();
        let got = tcp
            .unanswered_syns
            .instances
            .iter()
            .map(|u| u.frame)
            .collect();
        unexpected += check(file, "syn_without_synack", want, got) as usize;
        let want: Vec<u64> = ts["syn_without_synack"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["first_frame"].as_u64().unwrap() * 1000 + x["syns"].as_u64().unwrap())
            .collect();
        let got = tcp
            .unanswered_syns
            .instances
            .iter()
            .map(|u| u.frame * 1000 + u.syns as u64)
            .collect();
        unexpected += check(file, "syn_count(frame*1000+n)", want, got) as usize;
        let icmp = &r.failures.icmp;
        let got = icmp
            .unreachable_v4
            .instances
            .iter()
            .map(|u| u.evidence.frame)
            .collect();
        unexpected += check(file, "icmp_dest_unreach", frames(&ts["icmp_unreach"]), got) as usize;
        let got = icmp
            .unreachable_v6
            .instances
            .iter()
            .map(|u| u.evidence.frame)
            .collect();
        unexpected += check(
            file,
            "icmpv6_dest_unreach",
            frames(&ts["icmpv6_unreach"]),
            got,
        ) as usize;
        for (key, ours) in [
            ("icmp_codes", &icmp.v4_codes),
            ("icmpv6_codes", &icmp.v6_codes),
        ] {
            // Ours are "<code>:<name>"; tshark's "<code>". Encode as code*1e6+count.
            let want = ts[key]
                .as_object()
                .unwrap()
                .iter()
                .map(|(c, n)| c.parse::<u64>().unwrap() * 1_000_000 + n.as_u64().unwrap())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let got = ours
                .iter()
                .map(|(c, n)| c.split(':').next().unwrap().parse::<u64>().unwrap() * 1_000_000 + n)
                .collect();
            unexpected += check(file, key, want, got) as usize;
        }
        // The v4 breakdown's keys are the oracle's own ("13:admin-prohibited").
        for (k, n) in ts["icmp_codes_oracle"].as_object().unwrap() {
            if !k.ends_with(":?") {
                assert_eq!(
                    icmp.v4_codes.get(k),
                    n.as_u64().as_ref(),
                    "{file}: v4_codes[{k}] {:?}",
                    icmp.v4_codes
                );
            }
        }
    }
    let table = rows.join("\n");
    if !rows.is_empty() {
        eprintln!("{}: differences from tshark:\n{table}", s.name);
    }
    assert_eq!(
        unexpected, 0,
        "{}: pcaplens differs from tshark:\n{table}",
        s.name
    );
}

fn no_scan(s: &Scenario) {
    for (file, r, _) in s.captures() {
        assert_eq!(
            r.findings.scans.total, 0,
            "{file}: normal traffic reported as a scan: {:?}",
            r.findings.scans.scans
        );
    }
}

#[test]
fn traffic_bulk_tcp_over_lossy_relay_matches_tshark() {
    let Some(s) = run("bulk", &["curl", "editcap"]) else {
        return;
    };
    assert_eq!(s.truth()["received_socket"], 3_000_000);
    assert_eq!(
        s.truth()["received_curl"],
        serde_json::json!([1_500_000, 1_500_000, 1_500_000])
    );
    assert_eq!(s.truth()["received_v6"], 1_000_000);
    assert_matches_tshark(&s);
    // The relay lost, duplicated and reordered: the receiver's capture must show it.
    let rx = s.report("bulk-receiver.pcap");
    let tcp = &rx.failures.tcp;
    for (what, n) in [
        ("retransmission", tcp.retransmission.total),
        ("lost_segment", tcp.lost_segment.total),
        ("duplicate_ack", tcp.duplicate_ack.total),
        ("out_of_order", tcp.out_of_order.total),
    ] {
        assert!(n > 0, "bulk-receiver.pcap: no {what} (relay not lossy?)");
    }
    assert_eq!(
        rx.summary.link_types[0].link_type, 101,
        "TUN capture is raw IP"
    );
    // The same capture as pcapng (dumpcap's format) gives the same analysis.
    let ng = s.dir.join("bulk-receiver.pcapng");
    let out = Command::new("editcap")
        .args(["-F", "pcapng"])
        .arg(s.dir.join("bulk-receiver.pcap"))
        .arg(&ng)
        .output()
        .expect("run editcap (wireshark-common)");
    assert!(
        out.status.success(),
        "editcap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rx_ng = analyze(&ng);
    assert_eq!(
        rx_ng.failures.tcp, rx.failures.tcp,
        "pcapng and pcap differ"
    );
    assert_eq!(rx_ng.capture.format.as_deref(), Some("pcapng"));
    no_scan(&s);
}

#[test]
fn traffic_zero_window_and_keepalive_match_tshark() {
    let Some(s) = run("windows", &[]) else {
        return;
    };
    assert_eq!(s.truth()["received"], 400_000);
    assert_matches_tshark(&s);
    for (file, r, _) in s.captures() {
        let tcp = &r.failures.tcp;
        assert!(tcp.zero_window.total > 0, "{file}: no zero window");
        assert!(tcp.keep_alive.total > 0, "{file}: no keep-alive");
    }
    no_scan(&s);
}

#[test]
fn traffic_tso_super_packets_match_tshark() {
    let Some(s) = run("offload", &[]) else {
        return;
    };
    assert_eq!(s.truth()["received"], 4_000_000);
    assert_matches_tshark(&s);
    no_scan(&s);
}

#[test]
fn traffic_loopback_big_and_cut_segments_match_tshark() {
    let Some(s) = run("loopback", &[]) else {
        return;
    };
    assert_eq!(s.truth()["received"], 3_000_000);
    assert_matches_tshark(&s);
    let cut = s.report("loopback-snap1500.pcap");
    assert!(
        cut.summary.snaplen_truncated_frames > 0,
        "snaplen 1500 cut nothing"
    );
    no_scan(&s);
}

#[test]
fn traffic_capture_started_midstream_matches_tshark() {
    let Some(s) = run("midstream", &[]) else {
        return;
    };
    assert_eq!(s.truth()["received"], 3_000_000);
    assert_matches_tshark(&s);
    no_scan(&s);
}

#[test]
fn traffic_tcp_fast_open_and_ecn_match_tshark() {
    let Some(s) = run("tfo", &[]) else {
        return;
    };
    let want: Vec<String> = (0..4).map(|i| format!("echo:hello{i}")).collect();
    assert_eq!(s.truth()["replies"], serde_json::json!(want));
    assert_matches_tshark(&s);
    let r = s.report("tfo.pcap");
    let states: Vec<&str> = r
        .flows
        .iter()
        .filter(|f| f.transport == "tcp")
        .map(|f| f.conn_state.as_str())
        .collect();
    assert_eq!(
        states,
        vec!["SF"; 4],
        "Fast Open connections close normally"
    );
    no_scan(&s);
}

#[test]
fn traffic_resets_refused_and_aborted() {
    let Some(s) = run("resets", &[]) else {
        return;
    };
    assert_matches_tshark(&s);
    let t = s.truth();
    assert_eq!(
        t["refused_connects"], 7,
        "every connect to the closed port refused"
    );
    let r = s.report("resets.pcap");
    let rs = &r.failures.tcp.resets;
    let got = [
        ("rst_frames", rs.total),
        ("refused", rs.refused),
        ("aborted", rs.aborted),
        ("from_originator", rs.from_originator),
        ("from_responder", rs.from_responder),
    ];
    for (k, v) in got {
        assert_eq!(t[k].as_u64(), Some(v), "resets.{k}: {rs:#?}");
    }
    assert_zeek_states(&r, t);
    no_scan(&s);
}

/// Zeek conn_state and history of every TCP flow, by responder port:
/// truth["zeek"][port] = [conn_state, history (null: not checked), number of flows].
fn assert_zeek_states(r: &Report, t: &Value) {
    for (port, want) in t["zeek"].as_object().unwrap() {
        let port: u16 = port.parse().unwrap();
        let got: Vec<(&str, &str)> = r
            .flows
            .iter()
            .filter(|f| f.transport == "tcp" && f.resp_port == port)
            .map(|f| (f.conn_state.as_str(), f.history.as_str()))
            .collect();
        let n = want[2].as_u64().unwrap() as usize;
        let history = |h: &str| {
            want[1]
                .as_str()
                .map_or("(any)".to_string(), |_| h.to_string())
        };
        let got: Vec<(&str, String)> = got.into_iter().map(|(c, h)| (c, history(h))).collect();
        let one = (
            want[0].as_str().unwrap(),
            history(want[1].as_str().unwrap_or("")),
        );
        assert_eq!(
            got,
            vec![one; n],
            "conn_state, history of flows to port {port}"
        );
    }
}

#[test]
fn traffic_routed_capture_on_router_matches_tshark() {
    let Some(s) = run("routed", &["ping"]) else {
        return;
    };
    assert_matches_tshark(&s);
    no_scan(&s);
    // Path MTU discovery: the router told the server, about its own flow.
    let r = s.report("routed-router.pcap");
    assert_eq!(r.summary.link_types[0].link_type, 113, "-y LINUX_SLL");
    let frag: Vec<_> = r
        .failures
        .icmp
        .unreachable_v4
        .instances
        .iter()
        .filter(|u| u.code == 4)
        .collect();
    assert!(
        !frag.is_empty(),
        "no fragmentation needed: {:?}",
        r.failures.icmp
    );
    for u in frag {
        let q = u.quoted.as_ref().expect("quoted segment");
        assert_eq!(
            (q.proto, q.src.as_str()),
            (6, s.truth()["server"].as_str().unwrap())
        );
        assert!(q.flow_id.is_some(), "{q:?}");
    }
}

#[test]
fn traffic_unanswered_syns() {
    let Some(s) = run("syn", &["hping3"]) else {
        return;
    };
    assert_matches_tshark(&s);
    let t = s.truth();
    let r = s.report("syn.pcap");
    let u = &r.failures.tcp.unanswered_syns;
    assert_eq!(Some(u.total), t["unanswered_streams"].as_u64(), "{u:#?}");
    let port = |i: &pcaplens_core::detect::tcp::UnansweredSyn| -> u16 {
        i.dst.rsplit(':').next().unwrap().parse().unwrap()
    };
    for i in &u.instances {
        match port(i) {
            443 | 8444 => assert_eq!((i.syns, i.retries), (1, 0), "{i:?}"),
            8443 => assert_eq!((i.syns, i.retries), (3, 2), "{i:?}"),
            // The kernel's own retries: how many depends on its timers, but at
            // least one came (tshark's SYN count per stream was compared above).
            80..=82 => assert!(i.retries >= 1 && i.retries + 1 == i.syns, "{i:?}"),
            p => panic!("unexpected unanswered SYN to port {p}: {i:?}"),
        }
    }
    assert_eq!(u.instances.iter().filter(|i| port(i) == 443).count(), 4);
    assert_eq!(u.instances.iter().filter(|i| port(i) == 8444).count(), 3);
    assert_zeek_states(&r, t);
    no_scan(&s);
}

#[test]
fn traffic_icmp_destination_unreachable() {
    let Some(s) = run("unreach", &[]) else {
        return;
    };
    assert_matches_tshark(&s);
    let t = s.truth();
    let r = s.report("unreach.pcap");
    let link = r.summary.link_types[0].link_type;
    assert!(
        link == 113 || link == 276,
        "-i any is Linux SLL or SLL2, not {link}"
    );
    let icmp = &r.failures.icmp;
    for (want, ours) in [
        (&t["v4_codes"], &icmp.v4_codes),
        (&t["v6_codes"], &icmp.v6_codes),
    ] {
        let ours: std::collections::BTreeMap<String, u64> = ours
            .iter()
            .map(|(k, v)| (k.split(':').next().unwrap().to_string(), *v))
            .collect();
        let want: std::collections::BTreeMap<String, u64> = want
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(ours, want, "unreachable codes");
    }
    // Every error quotes the datagram/SYN that caused it, tied to its flow.
    let sent = t["sent"].as_array().unwrap();
    for u in icmp
        .unreachable_v4
        .instances
        .iter()
        .chain(&icmp.unreachable_v6.instances)
    {
        let q = u
            .quoted
            .as_ref()
            .unwrap_or_else(|| panic!("no quoted packet: {u:?}"));
        let code = t["code_by_dst"][q.dst.as_str()].as_u64();
        assert_eq!(
            code,
            Some(u.code as u64),
            "code of the error about {}",
            q.dst
        );
        let hit = sent.iter().any(|x| match q.proto {
            1 | 58 => x[0] == "icmp" && x[1] == q.dst.as_str(),
            p => {
                x[0] == if p == 6 { "tcp" } else { "udp" }
                    && x[1] == q.dst.as_str()
                    && x[2].as_u64() == q.dst_port.map(u64::from)
                    && x[3].as_u64() == q.src_port.map(u64::from)
            }
        });
        assert!(hit, "quoted packet matches nothing sent: {q:?}");
        let id = q
            .flow_id
            .unwrap_or_else(|| panic!("quoted flow not tied: {q:?}"));
        let f = r.flows.iter().find(|f| f.id == id).expect("flow listed");
        assert_eq!(f.community_id, q.community_id, "{q:?}");
        assert_eq!(f.resp_addr, q.dst, "{q:?}");
        if let Some(port) = q.dst_port {
            assert_eq!(f.resp_port, port, "{q:?}");
        }
    }
    no_scan(&s);
}

#[test]
fn traffic_nmap_tcp_scans_detected() {
    nmap_scans(
        "scans_tcp",
        &["syn", "connect", "fin", "null", "xmas", "syn6"],
    );
}

#[test]
fn traffic_nmap_udp_ack_maimon_scans_and_sweeps_detected() {
    nmap_scans(
        "scans_other",
        &[
            "udp",
            "ack",
            "maimon",
            "horizontal",
            "ping_sweep",
            "sweep_default",
            "ping_data",
        ],
    );
}

/// Each nmap run (capture scan-<kind>.pcap) is one scan of the right kind.
fn nmap_scans(scenario: &'static str, kinds: &[&str]) {
    let Some(s) = run(scenario, &["nmap", "ping"]) else {
        return;
    };
    assert_matches_tshark(&s);
    let t = s.truth();
    let scanner = t["scanner"].as_str().unwrap();
    let open: Vec<u16> = t["open_tcp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as u16)
        .collect();
    for (kind, pattern) in [
        ("syn", "vertical"),
        ("connect", "vertical"),
        ("fin", "vertical"),
        ("null", "vertical"),
        ("xmas", "vertical"),
        ("udp", "vertical"),
        ("ack", "vertical"),
        ("maimon", "vertical"),
        ("syn6", "vertical"),
        ("horizontal", "horizontal"),
        ("ping_sweep", "ping_sweep"),
        ("sweep_default", "ping_sweep"),
        ("ping_data", "ping_sweep"),
    ]
    .into_iter()
    .filter(|(k, _)| kinds.contains(k))
    {
        let file = format!("scan-{kind}.pcap");
        let r = s.report(&file);
        let scans = &r.findings.scans.scans;
        assert_eq!(scans.len(), 1, "{file}: one scan expected: {scans:#?}");
        let f = &scans[0];
        let v6 = kind == "syn6";
        let (scanner, target) = if v6 {
            (
                t["scanner6"].as_str().unwrap(),
                t["target6"].as_str().unwrap(),
            )
        } else {
            (scanner, t["target"].as_str().unwrap())
        };
        assert_eq!(f.scanner, scanner, "{file}");
        assert_eq!(f.pattern, pattern, "{file}");
        let want_type = match kind {
            "horizontal" => "syn",
            "ping_sweep" | "ping_data" => "icmp_echo",
            "syn6" => "syn",
            k => k,
        };
        if kind == "sweep_default" {
            // The discovery SYNs to 443 are part of the sweep.
            assert!(f.scan_types.contains(&"icmp_echo".to_string()), "{file}");
        } else {
            assert_eq!(f.scan_types, vec![want_type.to_string()], "{file}");
        }
        match pattern {
            "vertical" => {
                assert_eq!(f.targets, vec![target], "{file}");
                assert_eq!(f.port_count, 200, "{file}: nmap -p1-200");
                if ["syn", "connect", "syn6"].contains(&kind) {
                    assert_eq!(f.open_ports, open, "{file}");
                }
            }
            _ => {
                assert_eq!(f.target_count, t["range_hosts"].as_u64().unwrap(), "{file}");
                assert_eq!(
                    f.responsive_targets.len() as u64,
                    t["range_alive"].as_u64().unwrap(),
                    "{file}"
                );
                if pattern == "horizontal" {
                    assert_eq!(f.ports, vec![80], "{file}");
                }
            }
        }
    }
}

/// The stored corpus, for the same breakdown: `v4_codes` has the oracle's own
/// keys (`icmp_dest_unreach_codes`), `v6_codes` the same codes with names.
#[test]
fn corpus_icmp_unreachable_codes_match_oracle() {
    use pcaplens_tests::{corpus_files, truth};
    let mut checked = 0;
    for path in corpus_files() {
        let t = truth(&path);
        let b = &t["breakdowns"];
        if t["tshark_rc"].as_i64() != Some(0)
            || (b["icmp_dest_unreach_codes"].as_object().unwrap().is_empty()
                && b["icmpv6_dest_unreach_codes"]
                    .as_object()
                    .unwrap()
                    .is_empty())
        {
            continue;
        }
        checked += 1;
        let icmp = analyze(&path).failures.icmp;
        let name = path.file_name().unwrap().to_string_lossy();
        for (k, n) in b["icmp_dest_unreach_codes"].as_object().unwrap() {
            let ours = if k.ends_with(":?") {
                // Codes the oracle does not name: match by number.
                let code = k.split(':').next().unwrap();
                icmp.v4_codes
                    .iter()
                    .find(|(ok, _)| ok.split(':').next() == Some(code))
                    .map(|(_, v)| *v)
            } else {
                icmp.v4_codes.get(k).copied()
            };
            assert_eq!(ours, n.as_u64(), "{name}: v4 {k}: {:?}", icmp.v4_codes);
        }
        assert_eq!(
            icmp.v4_codes.len(),
            b["icmp_dest_unreach_codes"].as_object().unwrap().len(),
            "{name}"
        );
        let v6: std::collections::BTreeMap<String, u64> = icmp
            .v6_codes
            .iter()
            .map(|(k, v)| (k.split(':').next().unwrap().to_string(), *v))
            .collect();
        let want: std::collections::BTreeMap<String, u64> = b["icmpv6_dest_unreach_codes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(v6, want, "{name}: v6 codes");
    }
    assert!(checked > 0, "no corpus capture with ICMP unreachable");
    eprintln!("ICMP unreachable codes: {checked} corpus captures match the oracle");
}
