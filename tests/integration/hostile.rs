//! Hostile inputs (issue 24): each gives a clear error or a partial report,
//! quickly, without allocating by what a header claims.

use pcaplens_core::{analyze_bytes, AnalyzerConfig, Report};
use std::time::{Duration, Instant};

/// Analyse, and check it took well under the time a hang would.
fn analyze_quickly(bytes: &[u8]) -> Report {
    let start = Instant::now();
    let r = analyze_bytes(bytes, AnalyzerConfig::default()).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
    r
}

fn pcap(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&262_144u32.to_le_bytes());
    out.extend_from_slice(&link.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Raw IPv4 (LINKTYPE_RAW) packet.
fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(20 + payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend_from_slice(payload);
    p
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn pcapng_shb_idb() -> Vec<u8> {
    let mut b = Vec::new();
    // Section header: type, length 28, magic, version 1.0, section length -1.
    b.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
    b.extend_from_slice(&28u32.to_le_bytes());
    b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&[0xff; 8]);
    b.extend_from_slice(&28u32.to_le_bytes());
    // Interface description: Ethernet, snap length 0.
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&20u32.to_le_bytes());
    b.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(&20u32.to_le_bytes());
    b
}

#[test]
fn pcapng_block_whose_length_lies_is_an_error_at_its_offset() {
    // An enhanced packet block claiming 4 GB, one claiming fewer bytes than
    // its own header, and one whose trailing length differs from its leading one.
    for (claimed, trailer) in [(0xffff_fff0u32, 0u32), (8, 8), (48, 52)] {
        let mut b = pcapng_shb_idb();
        let at = b.len() as u64;
        b.extend_from_slice(&6u32.to_le_bytes());
        b.extend_from_slice(&claimed.to_le_bytes());
        b.extend_from_slice(&[0; 12]); // interface, timestamp
        b.extend_from_slice(&14u32.to_le_bytes());
        b.extend_from_slice(&14u32.to_le_bytes());
        b.extend_from_slice(&[0xab; 16]);
        b.extend_from_slice(&trailer.to_le_bytes());
        b.extend_from_slice(&[0; 64]);
        let r = analyze_quickly(&b);
        let e = r.status.error.expect("an error");
        assert!(r.status.partial);
        assert!((at..at + 8).contains(&e.offset), "{claimed}: {}", e.message);
        assert!(!e.message.is_empty());
        assert_eq!(r.summary.packets, 0);
    }
}

#[test]
fn record_claiming_4_gb_is_refused_without_reading_it() {
    let mut b = pcap(1, &[]);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&[0xAB; 64]);
    let r = analyze_quickly(&b);
    let e = r.status.error.expect("error");
    assert_eq!(e.code, "record_too_large");
    assert_eq!(e.offset, 24);
    assert!(r.status.partial);
}

#[test]
fn ipv6_extension_header_chain_of_thousands_is_walked_in_bounded_time() {
    // 8,000 destination-options headers (8 bytes each, 64 KB), then UDP.
    let mut body = Vec::new();
    for _ in 0..8000 {
        body.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    let last = body.len() - 8;
    body[last] = 17;
    body.extend_from_slice(&udp(1000, 53, b"x"));
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(body.len().min(0xffff) as u16).to_be_bytes());
    p.extend_from_slice(&[60, 64]);
    p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&body[..body.len().min(0xffff)]);
    let frames: Vec<Vec<u8>> = (0..50).map(|_| p.clone()).collect();
    let r = analyze_quickly(&pcap(229, &frames));
    assert!(r.status.complete);
    assert_eq!(r.summary.packets, 50);
}

#[test]
fn dns_compression_loops_end_as_malformed_messages() {
    // A response whose question name points at itself, and one whose two
    // names point at each other.
    let mut self_loop = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
    self_loop.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    self_loop.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    let mut mutual = vec![0x12, 0x35, 0x81, 0x83, 0, 1, 0, 1, 0, 0, 0, 0];
    mutual.extend_from_slice(&[1, b'a', 0xc0, 20, 0, 1, 0, 1]);
    mutual.extend_from_slice(&[1, b'b', 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 0]);
    let frames = vec![
        ipv4(17, &udp(5000, 53, &self_loop)),
        ipv4(17, &udp(53, 5000, &self_loop)),
        ipv4(17, &udp(53, 5001, &mutual)),
    ];
    let r = analyze_quickly(&pcap(101, &frames));
    assert!(r.status.complete);
    let dns = &r.failures.dns;
    assert_eq!(dns.messages, 3);
    // Names are walked with a bound on pointer jumps: a loop ends the walk
    // (the message is malformed where the loop is in a name that must be read).
    assert!(dns.malformed_messages >= 1, "{}", dns.malformed_messages);
    assert_eq!(dns.error_response_frames, 1);
}

#[test]
fn http_header_flood_is_bounded() {
    // A request head of 20,000 headers (~600 KB) over 450 segments, never ended.
    let mut head = b"GET / HTTP/1.1\r\nHost: example.com\r\n".to_vec();
    for i in 0..20_000 {
        head.extend_from_slice(format!("X-Flood-{i}: {}\r\n", "v".repeat(8)).as_bytes());
    }
    let mut frames = vec![ipv4(6, &tcp(40000, 80, 0, 0x02, b""))];
    let mut seq = 1u32;
    for chunk in head.chunks(1400) {
        frames.push(ipv4(6, &tcp(40000, 80, seq, 0x18, chunk)));
        seq += chunk.len() as u32;
    }
    let r = analyze_quickly(&pcap(101, &frames));
    assert!(r.status.complete);
    assert_eq!(r.summary.packets as usize, frames.len());
}

#[test]
fn tls_records_claiming_16_mb_are_not_allocated() {
    // A handshake record whose ClientHello claims 16 MB (0xffffff), then
    // records of the largest length, over a few segments.
    let mut hello = vec![
        0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0x03, 0x03,
    ];
    hello.resize(1400, 0x41);
    let mut frames = vec![ipv4(6, &tcp(40001, 443, 0, 0x02, b""))];
    let mut seq = 1u32;
    for _ in 0..60 {
        frames.push(ipv4(6, &tcp(40001, 443, seq, 0x18, &hello)));
        seq += hello.len() as u32;
    }
    let r = analyze_quickly(&pcap(101, &frames));
    assert!(r.status.complete);
    assert_eq!(r.failures.tls.client_hellos, 0);
}
