//! Regression tests, each named after the bug it pins (as ripgrep's
//! `tests/regression.rs`): most were found on live traffic
//! (`tests/traffic/*.py`) or by the robustness suite, and are kept here as
//! small crafted captures so they run everywhere, on every build.

use crate::decode::tcp_flags::{ACK, RST, SYN};
use crate::detect::testpcap::*;

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Robustness suite, debug build: a JSON request claiming a Content-Length
/// near 2^64 overflowed the sanitizer's body end offset.
#[test]
fn sanitize_json_body_with_huge_content_length_overflowed() {
    use crate::sanitize::{sanitize_bytes, SanitizeConfig};
    let req = b"POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 18446744073709551615\r\n\r\n{\"a\":1}";
    let mut p = Pcap::new();
    p.push(0, &tcp(C, 40_000, S, 8080, 1, 1, 0x18, req));
    let out = sanitize_bytes(p.bytes(), SanitizeConfig::new(vec![7; 32]))
        .unwrap()
        .0;
    assert!(find(&out, b"Content-Length: 18446744073709551615").is_some());
}

/// Live traffic (`tests/traffic/apps.py http`): http.server sends the head
/// and the body in separate segments; responses were counted at the head.
/// tshark shows a response in the frame that completes its body, and never
/// when the body is cut.
mod http_response_was_counted_before_its_body_completed {
    use crate::detect::http::HttpReport;
    use crate::detect::testpcap::*;

    /// Client request in frame 1, then the server's segments in frames 2, 3, ….
    fn exchange(req: &[u8], segments: &[&[u8]]) -> HttpReport {
        let mut p = Pcap::new();
        p.push(0, &tcp(C, 6100, S, 80, 1, 1, 0x18, req));
        let mut seq = 1u32;
        for (i, seg) in segments.iter().enumerate() {
            let ack = 1 + req.len() as u32;
            p.push(1 + i as u64, &tcp(S, 80, C, 6100, seq, ack, 0x18, seg));
            seq = seq.wrapping_add(seg.len() as u32);
        }
        p.failures().http
    }

    #[test]
    fn content_length_body_in_later_segments_counts_in_the_last_one() {
        let f = exchange(
            b"GET /missing HTTP/1.1\r\nHost: h\r\n\r\n",
            &[
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\n",
                b"01234",
                b"56789HTTP/1.1 200 OK\r\n",
            ],
        );
        assert_eq!(f.error_responses.total, 1);
        assert_eq!(f.error_responses.instances[0].evidence.frame, 4);
        assert_eq!(f.error_responses.instances[0].request_frame, Some(1));
        // The second head never completed.
        assert_eq!(f.responses, 1);
    }

    #[test]
    fn chunked_body_counts_at_the_last_chunk() {
        let f = exchange(
            b"GET /c HTTP/1.1\r\nHost: h\r\n\r\n",
            &[
                b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"5\r\nhello\r\n1",
                // A chunk's data running into the next segment.
                b"0;ext=1\r\n01234567",
                b"89ABCDEF\r\n",
                b"0\r\nX-Trailer: y\r\n",
                b"\r\n",
            ],
        );
        assert_eq!(f.error_responses.total, 1);
        assert_eq!(f.error_responses.instances[0].evidence.frame, 7);
        assert_eq!(f.error_response_frames, 1);
    }

    #[test]
    fn body_cut_by_the_end_of_the_capture_is_not_a_response() {
        let f = exchange(
            b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n",
            &[b"HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\nxx"],
        );
        assert_eq!((f.requests, f.responses), (1, 0));
        assert_eq!(f.error_response_frames, 0);
        assert_eq!(f.unanswered_requests, 1);
    }

    #[test]
    fn response_without_length_runs_to_the_fin() {
        let mut p = Pcap::new();
        let req = b"GET /legacy HTTP/1.1\r\nHost: h\r\n\r\n";
        p.push(0, &tcp(C, 6102, S, 80, 1, 1, 0x18, req));
        let ack = 1 + req.len() as u32;
        let head = b"HTTP/1.0 404 Not Found\r\nServer: x\r\n\r\n";
        p.push(1, &tcp(S, 80, C, 6102, 1, ack, 0x18, head));
        // Body text that looks like a message head is still body.
        let body = b"HTTP/1.1 500 not a response\r\n\r\n";
        p.push(
            2,
            &tcp(S, 80, C, 6102, 1 + head.len() as u32, ack, 0x18, body),
        );
        let fin_seq = 1 + (head.len() + body.len()) as u32;
        p.push(3, &tcp(S, 80, C, 6102, fin_seq, ack, 0x11, b""));
        // A 304 needs no FIN; a HEAD response neither.
        let f = p.failures().http;
        assert_eq!((f.responses, f.error_responses.total), (1, 1));
        assert_eq!(f.error_responses.instances[0].evidence.frame, 4);
        assert_eq!(f.status_codes.get(&500), None);
    }

    #[test]
    fn response_without_length_and_no_fin_is_not_shown() {
        let f = exchange(
            b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
            &[b"HTTP/1.1 503 Busy\r\n\r\n", b"still coming"],
        );
        assert_eq!(f.responses, 0);
        // A head in the sender's FIN segment is shown at once.
        let mut p = Pcap::new();
        let req = b"GET /y HTTP/1.1\r\n\r\n";
        p.push(0, &tcp(C, 6103, S, 80, 1, 1, 0x18, req));
        let head = b"HTTP/1.1 500 Oops\r\nContent-Length: 99\r\n\r\npartial";
        p.push(1, &tcp(S, 80, C, 6103, 1, 1 + req.len() as u32, 0x19, head));
        let f = p.failures().http;
        assert_eq!(f.error_responses.instances[0].evidence.frame, 2);
    }

    #[test]
    fn post_body_makes_the_request_frame_the_last_body_segment() {
        let mut p = Pcap::new();
        let head = b"POST /x HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc";
        p.push(0, &tcp(C, 6101, S, 80, 1, 1, 0x18, head));
        p.push(
            1,
            &tcp(C, 6101, S, 80, 1 + head.len() as u32, 1, 0x18, b"def"),
        );
        let resp = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        p.push(
            2,
            &tcp(S, 80, C, 6101, 1, 1 + head.len() as u32 + 3, 0x18, resp),
        );
        let f = p.failures().http;
        let e = &f.error_responses.instances[0];
        assert_eq!((e.evidence.frame, e.request_frame), (3, Some(2)));
        assert_eq!(e.method.as_deref(), Some("POST"));
    }
}

/// Live traffic (`tests/traffic/apps.py blocklist`): a ClientHello or request
/// head spread over segments was not matched; the blocklist now takes SNI and
/// Host from the TLS and HTTP detectors' reassembly.
mod blocklist_missed_names_split_across_segments {
    use crate::detect::blocklist::parse_list;
    use crate::detect::testpcap::*;
    use crate::detect::DetectConfig;

    #[test]
    fn split_client_hello_and_request_head_are_matched_where_they_complete() {
        let hello = client_hello("split.evil.test", &[]);
        let (a, b) = hello.split_at(40);
        let req = b"GET / HTTP/1.1\r\nHost: www.evil.test:80\r\n\r\n";
        let (c, d) = req.split_at(20);
        let mut p = Pcap::new();
        p.push(0, &tcp(C, 7000, S, 443, 1, 1, 0x18, a));
        p.push(1, &tcp(C, 7000, S, 443, 1 + a.len() as u32, 1, 0x18, b));
        p.push(2, &tcp(C, 7001, S, 80, 1, 1, 0x18, c));
        p.push(3, &tcp(C, 7001, S, 80, 1 + c.len() as u32, 1, 0x18, d));
        let mut cfg = DetectConfig::default();
        cfg.blocklist.entries = parse_list("evil.test\n", "l.txt").unwrap();
        let hits = p.findings_with(cfg).blocklist.hits;
        let got: Vec<(&str, &str, u64)> = hits
            .iter()
            .map(|h| (h.matched_in.as_str(), h.value.as_str(), h.evidence[0].frame))
            .collect();
        assert_eq!(
            got,
            vec![
                ("tls_sni", "split.evil.test", 2),
                ("http_host", "www.evil.test", 4)
            ]
        );
    }
    #[test]
    fn dns_over_tcp_every_message_and_split_ones_are_matched() {
        // Two queries in one segment, then one split over two segments.
        let framed = |m: Vec<u8>| {
            let mut v = (m.len() as u16).to_be_bytes().to_vec();
            v.extend_from_slice(&m);
            v
        };
        let mut first = framed(dns(1, 0x0100, "good.example"));
        first.extend(framed(dns(2, 0x0100, "a.evil.test")));
        let third = framed(dns(3, 0x0100, "b.evil.test"));
        let (x, y) = third.split_at(9);
        let mut p = Pcap::new();
        p.push(0, &tcp(C, 7002, S, 53, 1, 1, 0x18, &first));
        let seq = 1 + first.len() as u32;
        p.push(1, &tcp(C, 7002, S, 53, seq, 1, 0x18, x));
        p.push(2, &tcp(C, 7002, S, 53, seq + x.len() as u32, 1, 0x18, y));
        let mut cfg = DetectConfig::default();
        cfg.blocklist.entries = parse_list("evil.test\n", "l.txt").unwrap();
        let hits = p.findings_with(cfg).blocklist.hits;
        let got: Vec<(&str, u64)> = hits
            .iter()
            .map(|h| (h.value.as_str(), h.evidence[0].frame))
            .collect();
        assert_eq!(got, vec![("a.evil.test", 1), ("b.evil.test", 3)]);
    }
}

/// Live traffic (`nmap -sT`, scenario scans): connect() to 20 ports, two
/// open, was also reported as a SYN scan. The closed ports' SYN + RST looks
/// like a SYN scan's; the completed handshakes tell it is a connect scan.
#[test]
fn scan_connect_scan_was_also_reported_as_syn_scan() {
    let mut p = Pcap::new();
    for port in 1..=20u16 {
        let (sport, ms) = (40_000 + port, port as u64);
        p.push(ms, &tcp(C, sport, S, port, 100, 0, SYN, b""));
        if port == 5 || port == 9 {
            p.push(ms, &tcp(S, port, C, sport, 500, 101, SYN | ACK, b""));
            p.push(ms, &tcp(C, sport, S, port, 101, 501, ACK, b""));
            p.push(ms, &tcp(C, sport, S, port, 101, 501, RST | ACK, b""));
        } else {
            p.push(ms, &tcp(S, port, C, sport, 0, 101, RST | ACK, b""));
        }
    }
    let scans = p.report().findings.scans.scans;
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(scans[0].scan_types, vec!["connect".to_string()]);
    assert_eq!(scans[0].open_ports, vec![5, 9]);
    assert_eq!(scans[0].port_count, 20);
}

/// Live traffic (`nmap -sU`, scenario scans): nmap puts protocol payloads
/// in probes to well-known ports; those were not counted as probes.
#[test]
fn scan_udp_probes_with_payload_were_not_counted() {
    let mut p = Pcap::new();
    for port in 1..=20u16 {
        let payload: &[u8] = if port % 4 == 0 { b"\x00\x01probe" } else { b"" };
        p.push(port as u64, &udp(C, 50_000, S, port, payload));
    }
    let scans = p.report().findings.scans.scans;
    assert_eq!(scans.len(), 1, "{scans:?}");
    assert_eq!(scans[0].scan_types, vec!["udp".to_string()]);
    assert_eq!(scans[0].port_count, 20);
}

/// Live traffic (scenario unreach): a host unreachable about a ping was
/// not tied to the ping's flow (it is keyed by echo id).
#[test]
fn icmp_unreachable_about_a_ping_was_not_tied_to_its_flow() {
    let mut p = Pcap::new();
    let mut echo = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    echo.extend_from_slice(&[0xab; 56]);
    let ping = ipv4(C, [192, 0, 2, 9], 1, &echo);
    p.push(0, &ping);
    let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&ping[..28]);
    p.push(1, &ipv4(R, C, 1, &icmp));
    let r = p.report();
    let u = &r.failures.icmp.unreachable_v4.instances[0];
    let q = u.quoted.as_ref().expect("quoted packet");
    let id = q.flow_id.expect("tied to the ping's flow");
    let f = r.flows.iter().find(|f| f.id == id).expect("flow listed");
    assert_eq!((f.transport.as_str(), f.icmp_type), ("icmp", Some(8)));
    assert_eq!(f.community_id, q.community_id);
}
