use super::*;
use crate::decode::decode;

const LINK_ETHERNET: u32 = 1;

/// An Ethernet/IPv4 frame carrying TCP (flags, seq) or UDP (`flags` None).
pub(crate) fn frame(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    tcp: Option<(u8, u32)>,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let l4_len = if tcp.is_some() { 20 } else { 8 };
    let total = 20 + l4_len + payload.len();
    let proto = if tcp.is_some() { 6 } else { 17 };
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    match tcp {
        Some((flags, seq)) => {
            f.extend_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        }
        None => {
            let l = (8 + payload.len()) as u16;
            f.extend_from_slice(&l.to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
    }
    f.extend_from_slice(payload);
    f
}

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];
const SYN: u8 = tcp_flags::SYN;
const ACK: u8 = tcp_flags::ACK;
const PSH: u8 = tcp_flags::PSH | tcp_flags::ACK;
const FIN: u8 = tcp_flags::FIN | tcp_flags::ACK;

fn feed(r: &mut Reassembler, frames: &[(f64, Vec<u8>)]) {
    for (i, (ts, f)) in frames.iter().enumerate() {
        let p = decode(LINK_ETHERNET, f);
        r.handle_packet(*ts, i as u64 + 1, &p);
    }
}

fn c2s(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    frame(C, 40000, S, 80, Some((flags, seq)), payload)
}

fn s2c(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    frame(S, 80, C, 40000, Some((flags, seq)), payload)
}

#[test]
fn in_order_with_retransmission_overlap_and_reordering() {
    let mut r = Reassembler::new(ReassemblyConfig::default());
    feed(
        &mut r,
        &[
            (1.0, c2s(999, SYN, b"")),
            (1.1, s2c(4999, SYN | ACK, b"")),
            (1.2, c2s(1000, PSH, b"GET / HT")),
            (1.3, c2s(1000, PSH, b"GET / HT")),   // retransmission
            (1.4, c2s(1014, PSH, b"\r\n\r\n")),   // ahead of a hole
            (1.5, c2s(1004, PSH, b"XXXXTP/1.1")), // overlaps: the first copy wins
            (1.6, s2c(5000, PSH, b"HTTP/1.1 200 OK\r\n")),
            (1.7, c2s(1018, FIN, b"")),
            (1.8, s2c(5017, FIN, b"")),
        ],
    );
    let p = r.poll_ready().expect("ended flow is ready");
    assert_eq!(p.reason, ReadyReason::Ended);
    assert_eq!(p.client.data, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(p.server.data, b"HTTP/1.1 200 OK\r\n");
    assert!(p.client.marks.is_empty());
    assert_eq!(p.client.retransmitted_segments, 2);
    assert_eq!((p.client_port, p.server_port), (40000, 80));
    assert_eq!(p.service, Some(AppProto::Http));
    assert_eq!(p.client.packets, 6);
    assert!(r.poll_ready().is_none());
    assert_eq!(r.live_flows(), 0);
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn a_hole_never_filled_is_a_gap() {
    let mut r = Reassembler::new(ReassemblyConfig::default());
    feed(
        &mut r,
        &[(1.0, c2s(100, PSH, b"abc")), (1.1, c2s(110, PSH, b"xyz"))],
    );
    r.finish();
    let p = r.poll_ready().unwrap();
    assert_eq!(p.reason, ReadyReason::CaptureEnd);
    assert_eq!(p.client.data, b"abcxyz");
    assert_eq!(p.client.marks, vec![(3, Mark::Gap(7))]);
    assert_eq!(r.stats().gaps, 1);
}

#[test]
fn a_full_buffer_hands_the_flow_over_once_and_says_what_was_cut() {
    let cfg = ReassemblyConfig {
        max_bytes: 10,
        ..Default::default()
    };
    let mut r = Reassembler::new(cfg);
    feed(
        &mut r,
        &[
            (1.0, c2s(100, PSH, b"0123456")),
            (1.1, c2s(107, PSH, b"789abcdef")),
            (1.2, c2s(116, PSH, b"more")),
        ],
    );
    let p = r.poll_ready().unwrap();
    assert_eq!(p.reason, ReadyReason::Full);
    assert_eq!(p.client.data, b"0123456789");
    assert_eq!(p.client.cut_bytes, 6);
    assert!(p.truncated());
    // Later packets are only counted; the end reports nothing more.
    r.finish();
    assert!(r.poll_ready().is_none());
    assert_eq!(r.stats().packets_after_full, 1);
    assert_eq!(r.buffered_bytes(), 0);
}

#[test]
fn udp_datagrams_and_idle_timeout() {
    let mut r = Reassembler::new(ReassemblyConfig {
        idle_timeout_secs: 5.0,
        ..Default::default()
    });
    feed(
        &mut r,
        &[
            (1.0, frame(C, 5000, S, 9999, None, b"ping")),
            (1.5, frame(S, 9999, C, 5000, None, b"pong")),
            (2.0, frame(C, 5000, S, 9999, None, b"again")),
        ],
    );
    r.handle_timeout(6.0);
    assert!(r.poll_ready().is_none(), "not idle for 5 s yet");
    r.handle_timeout(7.5);
    let p = r.poll_ready().unwrap();
    assert_eq!(p.reason, ReadyReason::Idle);
    assert_eq!(p.transport, "udp");
    assert_eq!(p.client.data, b"pingagain");
    assert_eq!(
        p.client.marks,
        vec![(0, Mark::Datagram), (4, Mark::Datagram)]
    );
    assert_eq!(p.server.data, b"pong");
}

#[test]
fn memory_stays_bounded_by_evicting_the_longest_idle() {
    let cfg = ReassemblyConfig {
        max_bytes: 100,
        max_flows: 16,
        max_total_bytes: 400,
        ..Default::default()
    };
    let mut r = Reassembler::new(cfg);
    for i in 0..200u16 {
        let f = frame(C, 10000 + i, S, 80, Some((PSH, 1)), &[b'a'; 50]);
        let p = decode(LINK_ETHERNET, &f);
        r.handle_packet(1.0 + f64::from(i) * 0.001, u64::from(i) + 1, &p);
        assert!(r.live_flows() <= 16);
        assert!(r.buffered_bytes() <= 400 + 50);
    }
    r.finish();
    let mut n = 0;
    let mut last = 0;
    while let Some(p) = r.poll_ready() {
        assert!(p.first_frame > last, "ready in frame order");
        last = p.first_frame;
        n += 1;
    }
    assert_eq!(n, 200, "every flow with payload is reported once");
    assert!(r.stats().flows_evicted > 0);
}

#[test]
fn syn_only_flows_are_not_reported() {
    let mut r = Reassembler::new(ReassemblyConfig::default());
    feed(
        &mut r,
        &[
            (1.0, c2s(1, SYN, b"")),
            (2.0, s2c(5, tcp_flags::RST | ACK, b"")),
        ],
    );
    r.finish();
    assert!(r.poll_ready().is_none());
    assert_eq!(r.stats().flows_without_payload, 1);
}

#[test]
fn garbage_never_panics() {
    let mut r = Reassembler::new(ReassemblyConfig {
        max_bytes: 64,
        ..Default::default()
    });
    let mut seed = 0x1234_5678u32;
    for i in 0..2000u64 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let len = (seed % 200) as usize;
        let mut f = c2s(seed, (seed >> 8) as u8, &vec![b'x'; (seed % 40) as usize]);
        f.truncate(len.max(14));
        let p = decode(LINK_ETHERNET, &f);
        r.handle_packet(i as f64 * 0.01, i + 1, &p);
    }
    r.finish();
    while r.poll_ready().is_some() {}
    assert_eq!(r.buffered_bytes(), 0);
}

/// An IPv4 fragment (Ethernet) of a datagram with identification 7.
fn fragment(offset: usize, more: bool, proto: u8, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + data.len();
    let frag = ((offset / 8) as u16) | if more { 0x2000 } else { 0 };
    f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 7]);
    f.extend_from_slice(&frag.to_be_bytes());
    f.extend_from_slice(&[64, proto, 0, 0]);
    f.extend_from_slice(&C);
    f.extend_from_slice(&S);
    f.extend_from_slice(data);
    f
}

/// A datagram completed by IP reassembly counts in the frame that completed
/// it (a later fragment), with the whole payload; a lone later fragment
/// (no reassembly ran) carries no transport and is skipped.
#[test]
fn a_datagram_completed_by_ip_reassembly_is_one_payload() {
    let payload: Vec<u8> = (0..100u8).collect();
    let mut udp = vec![0x9c, 0x40, 0, 53];
    udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&payload);
    let (first, second) = udp.split_at(48);
    let frames = [
        fragment(0, true, 17, first),
        fragment(48, false, 17, second),
    ];

    let mut r = Reassembler::new(ReassemblyConfig::default());
    let mut defrag = crate::decode::defrag::Defrag::default();
    for (i, f) in frames.iter().enumerate() {
        let whole;
        let mut pkt = decode(LINK_ETHERNET, f);
        if pkt.has_fragment() {
            whole = defrag.on_packet(&mut pkt, f, 1_000_000_000 * (i as i64 + 1));
            if let Some(w) = &whole {
                crate::decode::apply_reassembled(&mut pkt, w);
            }
        }
        r.handle_packet(i as f64 + 1.0, i as u64 + 1, &pkt);
    }
    r.finish();
    let flow = r.poll_ready().expect("one flow");
    assert_eq!(flow.first_frame, 2);
    assert_eq!(flow.server_port, 53);
    assert_eq!(flow.client.data, payload);
    assert!(r.poll_ready().is_none());

    // Without reassembly the second fragment alone is no packet of a flow;
    // the first is read as it is (its UDP header and first bytes).
    let mut r = Reassembler::new(ReassemblyConfig::default());
    for (i, f) in frames.iter().enumerate() {
        r.handle_packet(i as f64 + 1.0, i as u64 + 1, &decode(LINK_ETHERNET, f));
    }
    r.finish();
    let flow = r.poll_ready().expect("the first fragment's flow");
    assert_eq!(flow.first_frame, 1);
    assert_eq!(flow.client.data, payload[..40]);
    assert!(r.poll_ready().is_none());
}
