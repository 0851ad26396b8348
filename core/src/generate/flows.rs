//! Flow scripts: lazily stepped state machines that push timestamped
//! frames into their [`Emitter`]. A [`Session`] is a list of phases over at
//! most one TCP connection (optionally preceded by a DNS lookup); the port
//! scan has its own script.

use std::collections::VecDeque;

use super::proto::{self, DnsAnswer, Stream};
use super::wire::{
    tcp_frame, udp_frame, Dir, Emitter, Host, IpParams, Opts, TcpConn, ACK, FIN, MS, PSH, RST, SEC,
    SYN, US,
};
use super::Truth;
use crate::rng::Rng;

pub(crate) trait Script {
    /// Generates the next few packets (each at or after `em.cursor`) and
    /// moves the cursor forward. Returns false once the script is finished.
    fn step(&mut self, em: &mut Emitter, truth: &mut Truth) -> bool;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckMode {
    /// Receiver ACKs every second segment and the last one (Linux delayed ACK).
    Delayed,
    /// Receiver's next data segment carries the ACK.
    Piggyback,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loss {
    None,
    /// Segment number `at` (1-based) is lost after the capture point; three
    /// SACKed duplicate ACKs trigger a fast retransmission.
    Fast(u32),
    /// The last segment is lost; it is retransmitted after the RTO.
    Timeout,
}

#[derive(Debug)]
pub(crate) struct Send {
    pub dir: Dir,
    pub stream: Stream,
    /// Time from the cursor to the first segment (RTT + server think time
    /// for responses, client think time for requests).
    pub delay: u64,
    pub ack: AckMode,
    pub loss: Loss,
    started: bool,
    seg: u32,
    total: u32,
    unacked: u32,
    lost: Option<(u32, Vec<u8>, u8)>,
    dups: u32,
    /// Stop after this many segments (connection aborted mid-transfer).
    cut: Option<u32>,
}

impl Send {
    pub fn new(dir: Dir, stream: Stream, delay: u64, ack: AckMode) -> Self {
        Send {
            dir,
            stream,
            delay,
            ack,
            loss: Loss::None,
            started: false,
            seg: 0,
            total: 0,
            unacked: 0,
            lost: None,
            dups: 0,
            cut: None,
        }
    }

    pub fn with_loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    fn estimate(&self, seg: usize) -> u64 {
        let mut n = self.stream.remaining().div_ceil(seg as u64);
        if let Some(c) = self.cut {
            n = n.min(c as u64);
        }
        let acks = if self.ack == AckMode::Delayed {
            n.div_ceil(2)
        } else {
            0
        };
        let extra = match self.loss {
            Loss::None => 0,
            Loss::Fast(_) => 4,
            Loss::Timeout => 2,
        };
        n + acks + extra
    }
}

#[derive(Debug)]
pub(crate) struct DnsLookup {
    pub client: Host,
    pub server: Host,
    pub cport: u16,
    pub name: String,
    pub queries: Vec<(u16, DnsAnswer)>,
    /// Resolver response time as seen by the client.
    pub rtt: u64,
    /// No response at all: the client retries once after ~1 s.
    pub unanswered: bool,
}

#[derive(Debug)]
pub(crate) enum Phase {
    Dns(DnsLookup),
    Ntp {
        client: Host,
        server: Host,
        cport: u16,
        rtt: u64,
    },
    Connect,
    /// SYN answered by RST/ACK (closed port / refused).
    Refused,
    Send(Send),
    Idle(u64),
    Close {
        client_first: bool,
    },
    /// RST/ACK sent by the server (or the client) mid-connection.
    Abort {
        by_server: bool,
    },
}

impl Phase {
    fn estimate(&self, seg: usize) -> u64 {
        match self {
            Phase::Dns(d) => d.queries.len() as u64 * 2,
            Phase::Ntp { .. } => 2,
            Phase::Connect | Phase::Close { .. } => 3,
            Phase::Refused => 2,
            Phase::Send(s) => s.estimate(seg),
            Phase::Idle(_) => 0,
            Phase::Abort { .. } => 1,
        }
    }
}

pub(crate) struct Session {
    pub rng: Rng,
    pub conn: Option<TcpConn>,
    phases: VecDeque<Phase>,
}

impl Session {
    pub fn new(rng: Rng, conn: Option<TcpConn>) -> Self {
        Session {
            rng,
            conn,
            phases: VecDeque::new(),
        }
    }

    pub fn push(&mut self, p: Phase) -> &mut Self {
        self.phases.push_back(p);
        self
    }

    /// Expected packet count (exact except for ACK rounding in loss cases).
    pub fn estimate(&self) -> u64 {
        let seg = self.conn.as_ref().map_or(1448, |c| c.seg);
        self.phases.iter().map(|p| p.estimate(seg)).sum()
    }

    pub fn pop_last(&mut self) -> Option<Phase> {
        self.phases.pop_back()
    }

    /// Cuts the last server→client transfer roughly in half (for aborts).
    pub fn truncate_last_send(&mut self) {
        let seg = self.conn.as_ref().map_or(1448, |c| c.seg) as u64;
        if let Some(Phase::Send(s)) = self
            .phases
            .iter_mut()
            .rev()
            .find(|p| matches!(p, Phase::Send(s) if s.dir == Dir::S2C))
        {
            let n = s.stream.remaining().div_ceil(seg);
            s.cut = Some((n / 2).max(1) as u32);
        }
    }
}

fn udp_ip(rng: &mut Rng, ttl: u8) -> IpParams {
    IpParams {
        id: rng.u16(),
        ttl,
        flow_label: rng.u32() & 0xf_ffff,
    }
}

fn dns_phase(d: &DnsLookup, rng: &mut Rng, em: &mut Emitter, truth: &mut Truth) {
    let t0 = em.cursor;
    let mut t = t0;
    let mut last = t0;
    let ids: Vec<u16> = d.queries.iter().map(|_| rng.u16()).collect();
    let tries = if d.unanswered { 2 } else { 1 };
    for attempt in 0..tries {
        if attempt == 1 {
            // Stub resolvers retry after a one-second timeout.
            t = last.max(t0 + SEC + rng.range(0, 5 * MS));
        }
        for (i, (qtype, ans)) in d.queries.iter().enumerate() {
            if i > 0 {
                t += rng.range(20, 120) * US;
            }
            let q = proto::dns_query(ids[i], &d.name, *qtype);
            let f = udp_frame(&d.client, &d.server, d.cport, 53, &q, udp_ip(rng, 64));
            em.push(t, f);
            truth.dns_queries += 1;
            last = last.max(t);
            if d.unanswered {
                truth.dns_unanswered += 1;
                continue;
            }
            let rt = t + d.rtt + rng.range(0, d.rtt / 5 + 1);
            let r = proto::dns_response(ids[i], &d.name, *qtype, ans);
            let f = udp_frame(&d.server, &d.client, 53, d.cport, &r, udp_ip(rng, 64));
            em.push(rt, f);
            if let DnsAnswer::Error(rc) = ans {
                truth.dns_error_responses += 1;
                match *rc {
                    proto::RCODE_NXDOMAIN => truth.dns_nxdomain += 1,
                    proto::RCODE_SERVFAIL => truth.dns_servfail += 1,
                    proto::RCODE_REFUSED => truth.dns_refused += 1,
                    _ => {}
                }
            }
            last = last.max(rt);
        }
    }
    em.cursor = last;
}

impl Script for Session {
    fn step(&mut self, em: &mut Emitter, truth: &mut Truth) -> bool {
        let Some(mut phase) = self.phases.pop_front() else {
            return false;
        };
        let rng = &mut self.rng;
        match &mut phase {
            Phase::Dns(d) => dns_phase(d, rng, em, truth),
            Phase::Ntp {
                client,
                server,
                cport,
                rtt,
            } => {
                let t = em.cursor;
                let rx = t + *rtt / 2;
                let f = udp_frame(
                    client,
                    server,
                    *cport,
                    123,
                    &proto::ntp_client(t),
                    udp_ip(rng, 64),
                );
                em.push(t, f);
                let back = t + *rtt + rng.range(0, 200) * US;
                let p = proto::ntp_server(t, rx, rx + 30 * US);
                let f = udp_frame(server, client, 123, *cport, &p, udp_ip(rng, 54));
                em.push(back, f);
                em.cursor = back;
            }
            Phase::Connect => {
                let c = self.conn.as_mut().unwrap();
                let t = em.cursor;
                c.send(em, truth, t, 0, SYN, &[]);
                let t2 = t + c.rtt;
                c.send(em, truth, t2, 1, SYN | ACK, &[]);
                let t3 = t2 + rng.range(20, 80) * US;
                c.send(em, truth, t3, 0, ACK, &[]);
                em.cursor = t3;
            }
            Phase::Refused => {
                let c = self.conn.as_mut().unwrap();
                let t = em.cursor;
                c.send(em, truth, t, 0, SYN, &[]);
                let t2 = t + c.rtt;
                let ack = c.side[0].nxt;
                c.emit(em, truth, t2, 1, RST | ACK, 0, ack, Opts::None, &[]);
                em.cursor = t2;
            }
            Phase::Idle(d) => em.cursor += *d,
            Phase::Close { client_first } => {
                let c = self.conn.as_mut().unwrap();
                let (a, b) = if *client_first { (0, 1) } else { (1, 0) };
                let t1 = em.cursor + rng.range(200 * US, 30 * MS);
                c.send(em, truth, t1, a, FIN | ACK, &[]);
                let (t2, t3) = if *client_first {
                    let t2 = t1 + c.rtt;
                    (t2, t2 + rng.range(20, 80) * US)
                } else {
                    let t2 = t1 + rng.range(60, 900) * US;
                    (t2, t2 + c.rtt)
                };
                c.send(em, truth, t2, b, FIN | ACK, &[]);
                c.send(em, truth, t3, a, ACK, &[]);
                em.cursor = t3;
            }
            Phase::Abort { by_server } => {
                let c = self.conn.as_mut().unwrap();
                let t = em.cursor + rng.range(100 * US, 5 * MS);
                let from = if *by_server { 1 } else { 0 };
                c.send(em, truth, t, from, RST | ACK, &[]);
                em.cursor = t;
            }
            Phase::Send(s) => {
                let conn = self.conn.as_mut().expect("send without connection");
                if !send_step(s, conn, rng, em, truth) {
                    self.phases.push_front(phase);
                }
            }
        }
        true
    }
}

/// One data segment (plus the ACKs it provokes). Returns true when done.
fn send_step(
    s: &mut Send,
    c: &mut TcpConn,
    rng: &mut Rng,
    em: &mut Emitter,
    truth: &mut Truth,
) -> bool {
    let snd = s.dir.idx();
    let rcv = 1 - snd;
    if !s.started {
        s.started = true;
        s.total = s.stream.remaining().div_ceil(c.seg as u64) as u32;
        em.cursor += s.delay;
        if s.total == 0 {
            return true;
        }
    } else {
        let p = c.pace[snd];
        em.cursor += rng.range(p / 2, p + p / 2 + 1);
    }
    let t = em.cursor;
    let mut payload = Vec::with_capacity(c.seg);
    s.stream.take(c.seg, rng, &mut payload);
    let full = s.stream.remaining() == 0;
    let last = full || s.cut == Some(s.seg + 1);
    let flags = if full { ACK | PSH } else { ACK };
    let seq = c.side[snd].nxt;
    c.send(em, truth, t, snd, flags, &payload);
    s.seg += 1;
    s.unacked += 1;

    // Receiver ACK timing: the client (capture side) answers within tens of
    // microseconds, the server's ACK shows up one RTT later.
    let ack_at = |rng: &mut Rng, c: &TcpConn, t: u64| {
        if rcv == 0 {
            t + rng.range(15, 60) * US
        } else {
            t + c.rtt + rng.range(0, 20) * US
        }
    };
    let pure_ack =
        |c: &mut TcpConn, em: &mut Emitter, truth: &mut Truth, at: u64, ack: u32, opts: Opts| {
            let seq = c.side[rcv].nxt;
            c.emit(em, truth, at, rcv, ACK, seq, ack, opts, &[]);
        };

    match s.loss {
        Loss::Fast(at) if snd == 1 && s.total >= at + 3 && at >= 2 => {
            if s.seg == at - 1 {
                // Make sure everything before the lost segment is ACKed so the
                // following ACKs are pure duplicates.
                let a = ack_at(rng, c, t);
                pure_ack(c, em, truth, a, c.side[snd].nxt, Opts::Ts);
                s.unacked = 0;
                return last;
            }
            if s.seg == at {
                s.lost = Some((seq, payload, flags));
                s.unacked = 0;
                return last;
            }
            if s.seg > at && s.seg <= at + 3 {
                let (lseq, lpay, lflags) = s.lost.clone().unwrap();
                let a = ack_at(rng, c, t);
                let left = lseq.wrapping_add(lpay.len() as u32);
                pure_ack(c, em, truth, a, lseq, Opts::TsSack(left, c.side[snd].nxt));
                s.dups += 1;
                s.unacked = 0;
                if s.dups == 3 {
                    // Retransmission follows the third dup ACK within one
                    // (short) RTT, well inside tshark's 20 ms window.
                    let rt = a + c.rtt.min(12 * MS) + rng.range(5, 40) * US;
                    let ack = c.side[rcv].nxt;
                    c.emit(em, truth, rt, snd, lflags, lseq, ack, Opts::Ts, &lpay);
                    truth.tcp_retransmissions += 1;
                    truth.tcp_fast_retransmissions += 1;
                    let a2 = rt + rng.range(15, 60) * US;
                    pure_ack(c, em, truth, a2, c.side[snd].nxt, Opts::Ts);
                    em.cursor = rt;
                }
                return last;
            }
        }
        Loss::Timeout if snd == 1 => {
            if !last && s.seg + 1 == s.total {
                let a = ack_at(rng, c, t);
                pure_ack(c, em, truth, a, c.side[snd].nxt, Opts::Ts);
                s.unacked = 0;
                return false;
            }
            if last {
                // Linux RTO: at least 200 ms plus RTT-derived variance.
                let rt = t + 200 * MS + c.rtt + rng.range(0, 150 * MS);
                let ack = c.side[rcv].nxt;
                c.emit(em, truth, rt, snd, flags, seq, ack, Opts::Ts, &payload);
                truth.tcp_retransmissions += 1;
                truth.tcp_timeout_retransmissions += 1;
                let a2 = rt + rng.range(15, 60) * US;
                pure_ack(c, em, truth, a2, c.side[snd].nxt, Opts::Ts);
                em.cursor = rt;
                return true;
            }
        }
        _ => {}
    }

    if s.ack == AckMode::Delayed && (s.unacked >= 2 || last) {
        let a = ack_at(rng, c, t);
        pure_ack(c, em, truth, a, c.side[snd].nxt, Opts::Ts);
        s.unacked = 0;
    }
    last
}

/// nmap-style SYN scan: one source port, ports in random order, closed ports
/// answer RST/ACK, open ones SYN/ACK which the scanner resets.
pub(crate) struct Scan {
    pub rng: Rng,
    pub scanner: Host,
    pub target: Host,
    pub sport: u16,
    pub ports: Vec<u16>,
    pub open: Vec<u16>,
    pub rtt: u64,
    pub idx: usize,
    pub ip_id: u16,
    /// A connect scan (nmap -sT): an open port's handshake is completed and
    /// then reset, and every probe comes from a new source port.
    pub connect: bool,
}

impl Scan {
    pub fn estimate(&self) -> u64 {
        let extra = 1 + self.connect as u64;
        self.ports
            .iter()
            .map(|p| 2 + extra * self.open.contains(p) as u64)
            .sum()
    }
}

impl Script for Scan {
    fn step(&mut self, em: &mut Emitter, truth: &mut Truth) -> bool {
        let Some(&port) = self.ports.get(self.idx) else {
            return false;
        };
        self.idx += 1;
        // A connect scan's probes each come from a new ephemeral port.
        let sport = if self.connect {
            self.sport.wrapping_add(self.idx as u16)
        } else {
            self.sport
        };
        let rng = &mut self.rng;
        let t = em.cursor + rng.range(300, 1800) * US;
        let seq = rng.u32();
        let ipp = |id: u16, ttl: u8| IpParams {
            id,
            ttl,
            flow_label: 0,
        };
        let syn = tcp_frame(
            &self.scanner,
            &self.target,
            sport,
            port,
            seq,
            0,
            SYN,
            1024,
            &[2, 4, 0x05, 0xb4],
            &[],
            ipp(rng.u16(), 46),
        );
        em.push(t, syn);
        let rt = t + self.rtt + rng.range(0, 100) * US;
        self.ip_id = self.ip_id.wrapping_add(1);
        if self.open.contains(&port) {
            let isn = rng.u32();
            let f = tcp_frame(
                &self.target,
                &self.scanner,
                port,
                sport,
                isn,
                seq.wrapping_add(1),
                SYN | ACK,
                64240,
                &[2, 4, 0x05, 0xb4],
                &[],
                ipp(0, 64),
            );
            em.push(rt, f);
            if self.connect {
                // connect() completes the handshake, then the scanner
                // closes with a reset at once.
                let ack = isn.wrapping_add(1);
                let at = rt + rng.range(10, 40) * US;
                let f = tcp_frame(
                    &self.scanner,
                    &self.target,
                    sport,
                    port,
                    seq.wrapping_add(1),
                    ack,
                    ACK,
                    502,
                    &[],
                    &[],
                    ipp(rng.u16(), 64),
                );
                em.push(at, f);
                let f = tcp_frame(
                    &self.scanner,
                    &self.target,
                    sport,
                    port,
                    seq.wrapping_add(1),
                    ack,
                    RST | ACK,
                    502,
                    &[],
                    &[],
                    ipp(rng.u16(), 64),
                );
                em.push(at + rng.range(5, 30) * US, f);
                truth.tcp_rst_frames += 1;
                em.cursor = t;
                return true;
            }
            let f = tcp_frame(
                &self.scanner,
                &self.target,
                sport,
                port,
                seq.wrapping_add(1),
                0,
                RST,
                0,
                &[],
                &[],
                ipp(rng.u16(), 64),
            );
            em.push(rt + rng.range(10, 40) * US, f);
            truth.tcp_rst_frames += 1;
        } else {
            let f = tcp_frame(
                &self.target,
                &self.scanner,
                port,
                sport,
                0,
                seq.wrapping_add(1),
                RST | ACK,
                0,
                &[],
                &[],
                ipp(0, 64),
            );
            em.push(rt, f);
            truth.tcp_rst_frames += 1;
        }
        em.cursor = t;
        true
    }
}
