//! IP fragment reassembly (`core/src/decode/defrag.rs`): the frames tshark
//! points to on the corpus's fragment captures, and bounded memory and time
//! on fragments that never complete.

use pcaplens_core::{analyze_bytes, AnalyzerConfig, Report};
use pcaplens_tests::corpus_dir;
use serde_json::Value;

fn analyze_corpus(name: &str) -> Value {
    let bytes = std::fs::read(corpus_dir().join(name)).unwrap();
    let r = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    serde_json::from_str(&r.to_json_pretty()).unwrap()
}

fn frames(v: &Value) -> Vec<u64> {
    v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["frame"].as_u64().unwrap())
        .collect()
}

/// `tests/traffic/frag_crafted.py`: tshark 4.0 (`-2`, defragment on) shows
/// the DNS responses in the frames completing their datagrams: 4, 8 (the
/// first fragment, sent last), 13, 18 (no error: its rogue overlap leaves it
/// malformed), 26, 30, 33 (a snapped first fragment read as is), 40, 44, 48,
/// 52; the query of frame 19 (a fragment missing) stays unanswered.
#[test]
fn crafted_fragment_cases_count_where_tshark_counts() {
    let r = analyze_corpus("pcaplens__frag-edge-cases.pcap");
    let dns = &r["failures"]["dns"];
    assert_eq!(
        frames(&dns["error_responses"]),
        [4, 8, 13, 26, 30, 33, 40, 44, 48, 52],
        "{dns:#}"
    );
    assert_eq!(frames(&dns["unanswered_queries"]), [19]);
    assert_eq!(dns["responses"], 11);
    let ra = &r["summary"]["ip_reassembly"];
    // 11 datagrams; case 3's duplicate overlaps without conflict, case 4's
    // rogue fragment and the real one after it conflict, case 6's longer tail
    // overlaps the shorter one's bytes.
    assert_eq!(ra["datagrams_reassembled"], 11, "{ra:#}");
    assert_eq!(ra["overlapping_fragments"], 4, "{ra:#}");
    assert_eq!(ra["conflicting_fragments"], 2, "{ra:#}");
    // Case 5's two fragments, case 7's late copy, case 8's later fragment.
    assert_eq!(ra["fragments_incomplete"], 4, "{ra:#}");
    assert_eq!(ra["fragments_dropped"], 0);
    // Held fragments are in no flow: one UDP conversation per query, one ICMP echo.
    assert_eq!(r["summary"]["conversations"]["udp"], 12);
    assert!(r["summary"]["conversations"].get("other").is_none());
}

/// `tests/traffic/frag_capture.py` (dig, dnsmasq and ping over a veth with
/// MTU 1280): every DNS answer is read from its reassembled datagram.
#[test]
fn real_fragmented_dns_and_pings_are_reassembled() {
    let r = analyze_corpus("pcaplens__frag-dns-ping-netns.pcap");
    let dns = &r["failures"]["dns"];
    assert_eq!(dns["unanswered_queries"]["total"], 0, "{dns:#}");
    assert_eq!(dns["queries"], dns["responses"]);
    let ra = &r["summary"]["ip_reassembly"];
    // 4 DNS answers and 8 echoes, 3 fragments each.
    assert_eq!(ra["datagrams_reassembled"], 12, "{ra:#}");
    assert_eq!(ra["fragments_reassembled"], 36);
    assert_eq!(ra["fragments_incomplete"], 0);
}

/// A pcap of raw-IPv4 (LINKTYPE_RAW) frames.
fn raw_pcap(frames: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for (sec, f) in frames {
        out.extend_from_slice(&sec.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

fn ipv4_fragment(src: [u8; 4], id: u16, offset: u16, more: bool, data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(20 + data.len() as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    let flags = if more { 0x2000 } else { 0 } | (offset / 8);
    p.extend_from_slice(&flags.to_be_bytes());
    p.extend_from_slice(&[64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&[10, 0, 0, 1]);
    p.extend_from_slice(data);
    p
}

fn reassembly(r: &Report) -> Value {
    serde_json::to_value(&r.summary.ip_reassembly).unwrap()
}

/// Fragments that never complete: 20,000 first fragments of 1,400 bytes
/// (27 MB) from one source and 20,000 from many: memory stays under the
/// caps (the oldest datagrams are evicted, counted) and the run is quick.
#[test]
fn fragments_that_never_complete_are_bounded_and_counted() {
    let data = vec![0x55u8; 1400];
    let mut frames = Vec::new();
    for i in 0..20_000u32 {
        frames.push((1, ipv4_fragment([192, 0, 2, 9], i as u16, 0, true, &data)));
    }
    for i in 0..20_000u32 {
        let src = [198, 51, (i >> 8) as u8, i as u8];
        frames.push((1, ipv4_fragment(src, 7, 0, true, &data)));
    }
    let bytes = raw_pcap(&frames);
    let start = std::time::Instant::now();
    let r = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    let ra = reassembly(&r);
    assert_eq!(ra["fragments_queued"], 40_000);
    assert_eq!(ra["datagrams_reassembled"], 0);
    // Per source 1 MiB (~710 of these fragments), 8 MiB in total (~5,700).
    let evicted = ra["datagrams_evicted"].as_u64().unwrap();
    let incomplete = ra["fragments_incomplete"].as_u64().unwrap();
    assert_eq!(ra["fragments_dropped"].as_u64().unwrap(), evicted);
    assert_eq!(evicted + incomplete, 40_000);
    assert!(incomplete <= (8 << 20) / 1400, "{ra:#}");
    assert!(incomplete > 1000, "{ra:#}");
}

/// The rest of a datagram arriving past the timeout (60 s after its first
/// fragment) starts a new one; what waited is dropped and counted.
#[test]
fn a_fragment_past_the_timeout_does_not_complete_an_old_datagram() {
    let mut udp = vec![0x30, 0x39, 0x00, 0x35, 0, 24, 0, 0];
    udp.extend_from_slice(&[0xabu8; 16]);
    let first = ipv4_fragment([192, 0, 2, 1], 5, 0, true, &udp[..16]);
    let last = ipv4_fragment([192, 0, 2, 1], 5, 16, false, &udp[16..]);
    let on_time = raw_pcap(&[(100, first.clone()), (130, last.clone())]);
    let late = raw_pcap(&[(100, first), (161, last)]);
    let r = analyze_bytes(&on_time, AnalyzerConfig::default()).unwrap();
    assert_eq!(reassembly(&r)["datagrams_reassembled"], 1);
    assert_eq!(r.summary.conversations.get("udp"), Some(&1));
    let r = analyze_bytes(&late, AnalyzerConfig::default()).unwrap();
    let ra = reassembly(&r);
    assert_eq!(ra["datagrams_reassembled"], 0, "{ra:#}");
    assert_eq!(ra["datagrams_timed_out"], 1, "{ra:#}");
    assert_eq!(ra["fragments_incomplete"], 1, "{ra:#}");
    assert_eq!(r.summary.conversations.get("udp"), None);
}
