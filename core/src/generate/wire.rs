//! Frame builders (Ethernet II / IPv4 / IPv6 / TCP / UDP) with correct
//! lengths and checksums, plus the per-flow packet queue and TCP state.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use super::Truth;
use crate::rng::Rng;

pub(crate) const FIN: u8 = 0x01;
pub(crate) const SYN: u8 = 0x02;
pub(crate) const RST: u8 = 0x04;
pub(crate) const PSH: u8 = 0x08;
pub(crate) const ACK: u8 = 0x10;

pub(crate) const MS: u64 = 1_000_000;
pub(crate) const US: u64 = 1_000;
pub(crate) const SEC: u64 = 1_000_000_000;

/// An endpoint as seen on the capture link: `mac` is the link-layer address
/// frames to/from it carry (the router's MAC for off-subnet hosts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Host {
    pub mac: [u8; 6],
    pub ip: IpAddr,
}

fn csum_add(mut sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u64;
    }
    if let [b] = chunks.remainder() {
        sum += (*b as u64) << 8;
    }
    sum
}

fn csum_fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Per-packet IP-level parameters chosen by the sender.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IpParams {
    pub id: u16,
    pub ttl: u8,
    pub flow_label: u32,
}

/// Builds a complete Ethernet frame around an L4 header + payload, filling
/// in the L4 checksum at `csum_off` within the header and the IPv4 header
/// checksum. Frames shorter than 60 bytes are zero-padded like on the wire.
pub(crate) fn build_frame(
    src: &Host,
    dst: &Host,
    ip: IpParams,
    proto: u8,
    l4hdr: &[u8],
    csum_off: usize,
    payload: &[u8],
) -> Vec<u8> {
    let l4len = l4hdr.len() + payload.len();
    let mut f = Vec::with_capacity(14 + 40 + l4len + 8);
    f.extend_from_slice(&dst.mac);
    f.extend_from_slice(&src.mac);
    let pseudo;
    match (src.ip, dst.ip) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
            let start = f.len();
            f.push(0x45);
            f.push(0);
            f.extend_from_slice(&((20 + l4len) as u16).to_be_bytes());
            f.extend_from_slice(&ip.id.to_be_bytes());
            f.extend_from_slice(&0x4000u16.to_be_bytes()); // DF, as Linux sets with PMTU discovery
            f.push(ip.ttl);
            f.push(proto);
            f.extend_from_slice(&[0, 0]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
            let c = csum_fold(csum_add(0, &f[start..start + 20]));
            f[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
            let mut p = csum_add(0, &s.octets());
            p = csum_add(p, &d.octets());
            p += proto as u64 + l4len as u64;
            pseudo = p;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&0x86DDu16.to_be_bytes());
            f.extend_from_slice(&(0x6000_0000u32 | (ip.flow_label & 0xf_ffff)).to_be_bytes());
            f.extend_from_slice(&(l4len as u16).to_be_bytes());
            f.push(proto);
            f.push(ip.ttl);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
            let mut p = csum_add(0, &s.octets());
            p = csum_add(p, &d.octets());
            p += l4len as u64 + proto as u64;
            pseudo = p;
        }
        _ => panic!(
            "address family mismatch between {:?} and {:?}",
            src.ip, dst.ip
        ),
    }
    let l4start = f.len();
    f.extend_from_slice(l4hdr);
    f.extend_from_slice(payload);
    let mut c = csum_fold(csum_add(pseudo, &f[l4start..]));
    if proto == 17 && c == 0 {
        c = 0xffff; // 0 means "no checksum" in UDP
    }
    f[l4start + csum_off..l4start + csum_off + 2].copy_from_slice(&c.to_be_bytes());
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn tcp_frame(
    src: &Host,
    dst: &Host,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    opts: &[u8],
    payload: &[u8],
    ip: IpParams,
) -> Vec<u8> {
    debug_assert!(opts.len() % 4 == 0 && opts.len() <= 40);
    let mut h = [0u8; 60];
    let hl = 20 + opts.len();
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..8].copy_from_slice(&seq.to_be_bytes());
    h[8..12].copy_from_slice(&ack.to_be_bytes());
    h[12] = ((hl / 4) as u8) << 4;
    h[13] = flags;
    h[14..16].copy_from_slice(&win.to_be_bytes());
    h[20..hl].copy_from_slice(opts);
    build_frame(src, dst, ip, 6, &h[..hl], 16, payload)
}

pub(crate) fn udp_frame(
    src: &Host,
    dst: &Host,
    sport: u16,
    dport: u16,
    payload: &[u8],
    ip: IpParams,
) -> Vec<u8> {
    let mut h = [0u8; 8];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    build_frame(src, dst, ip, 17, &h, 6, payload)
}

struct Pend {
    ts: u64,
    ord: u64,
    frame: Vec<u8>,
}

impl PartialEq for Pend {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.ord) == (o.ts, o.ord)
    }
}
impl Eq for Pend {}
impl PartialOrd for Pend {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pend {
    // Reversed: BinaryHeap is a max-heap and we want the earliest packet.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.ts, o.ord).cmp(&(self.ts, self.ord))
    }
}

/// A flow's pending packets plus its generation cursor. Scripts only ever
/// push packets at or after `cursor`, so anything pending at or before the
/// cursor is safe to release in timestamp order.
#[derive(Default)]
pub(crate) struct Emitter {
    pub cursor: u64,
    heap: BinaryHeap<Pend>,
    ord: u64,
}

impl Emitter {
    pub fn new(cursor: u64) -> Self {
        Emitter {
            cursor,
            ..Default::default()
        }
    }

    pub fn push(&mut self, ts: u64, frame: Vec<u8>) {
        debug_assert!(ts >= self.cursor, "packet scheduled in the past");
        self.ord += 1;
        self.heap.push(Pend {
            ts,
            ord: self.ord,
            frame,
        });
    }

    pub fn peek_ts(&self) -> Option<u64> {
        self.heap.peek().map(|p| p.ts)
    }

    pub fn pop(&mut self) -> Option<(u64, Vec<u8>)> {
        self.heap.pop().map(|p| (p.ts, p.frame))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Dir {
    C2S = 0,
    S2C = 1,
}

impl Dir {
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// TCP options variants we emit.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Opts {
    None,
    /// MSS, SACK-permitted, timestamps, NOP, window scale (Linux order).
    Syn,
    /// NOP NOP timestamps.
    Ts,
    /// Timestamps plus one SACK block.
    TsSack(u32, u32),
}

#[derive(Clone, Debug)]
pub(crate) struct Side {
    pub host: Host,
    pub port: u16,
    pub nxt: u32,
    ip_id: u16,
    ttl: u8,
    flow_label: u32,
    ts_off: u32,
    last_tsval: u32,
    syn_win: u16,
    pub win: u16,
    wscale: u8,
    mss: u16,
}

/// One TCP connection: both sides' sequence state and link parameters.
/// The capture point is next to the client; `rtt` is what it observes.
#[derive(Clone, Debug)]
pub(crate) struct TcpConn {
    pub side: [Side; 2],
    pub rtt: u64,
    /// Gap between back-to-back segments, per direction (serialisation).
    pub pace: [u64; 2],
    /// Payload bytes per full segment (MSS minus the 12-byte timestamp option).
    pub seg: usize,
}

impl TcpConn {
    pub fn new(rng: &mut Rng, c: Host, cport: u16, s: Host, sport: u16, rtt: u64) -> Self {
        let v6 = c.ip.is_ipv6();
        let mss: u16 = if v6 { 1440 } else { 1460 };
        let server_ttl = if rng.chance(0.7) {
            64 - rng.range(6, 20) as u8
        } else {
            128 - rng.range(6, 20) as u8
        };
        let mk = |rng: &mut Rng, host: Host, port: u16, ttl: u8, syn_win: u16, win: u16| {
            let isn = rng.u32();
            Side {
                host,
                port,
                nxt: isn,
                ip_id: rng.u16(),
                ttl,
                flow_label: rng.u32() & 0xf_ffff,
                ts_off: rng.u32(),
                last_tsval: 0,
                syn_win,
                win,
                wscale: 7,
                mss,
            }
        };
        let cw = rng.range(501, 2100) as u16;
        let client = mk(rng, c, cport, 64, 64240, cw);
        let sw = rng.range(235, 510) as u16;
        let server = mk(rng, s, sport, server_ttl, 65160, sw);
        TcpConn {
            side: [client, server],
            rtt,
            pace: [rng.range(8, 30) * US, rng.range(30, 250) * US],
            seg: mss as usize - 12,
        }
    }

    /// Emits one segment from side `from` at `ts`.
    #[allow(clippy::too_many_arguments)]
    pub fn emit(
        &mut self,
        em: &mut Emitter,
        truth: &mut Truth,
        ts: u64,
        from: usize,
        flags: u8,
        seq: u32,
        ack: u32,
        opts: Opts,
        payload: &[u8],
    ) {
        let to = 1 - from;
        let tsval = self.side[from]
            .ts_off
            .wrapping_add((ts / MS) as u32)
            .max(self.side[from].last_tsval);
        let tsecr = self.side[to].last_tsval;
        let mut o = [0u8; 40];
        let olen = match opts {
            Opts::None => 0,
            Opts::Syn => {
                let s = &self.side[from];
                o[0..4].copy_from_slice(&[2, 4, (s.mss >> 8) as u8, s.mss as u8]);
                o[4..6].copy_from_slice(&[4, 2]);
                o[6..8].copy_from_slice(&[8, 10]);
                o[8..12].copy_from_slice(&tsval.to_be_bytes());
                let ecr = if flags & ACK != 0 { tsecr } else { 0 };
                o[12..16].copy_from_slice(&ecr.to_be_bytes());
                o[16..20].copy_from_slice(&[1, 3, 3, s.wscale]);
                20
            }
            Opts::Ts => {
                o[0..4].copy_from_slice(&[1, 1, 8, 10]);
                o[4..8].copy_from_slice(&tsval.to_be_bytes());
                o[8..12].copy_from_slice(&tsecr.to_be_bytes());
                12
            }
            Opts::TsSack(l, r) => {
                o[0..4].copy_from_slice(&[1, 1, 8, 10]);
                o[4..8].copy_from_slice(&tsval.to_be_bytes());
                o[8..12].copy_from_slice(&tsecr.to_be_bytes());
                o[12..16].copy_from_slice(&[1, 1, 5, 10]);
                o[16..20].copy_from_slice(&l.to_be_bytes());
                o[20..24].copy_from_slice(&r.to_be_bytes());
                24
            }
        };
        if !matches!(opts, Opts::None) {
            self.side[from].last_tsval = tsval;
        }
        let s = &mut self.side[from];
        let win = if flags & SYN != 0 {
            s.syn_win
        } else if flags & RST != 0 {
            0
        } else {
            s.win
        };
        s.ip_id = s.ip_id.wrapping_add(1);
        let ip = IpParams {
            id: s.ip_id,
            ttl: s.ttl,
            flow_label: s.flow_label,
        };
        let (src, sport) = (self.side[from].host, self.side[from].port);
        let (dst, dport) = (self.side[to].host, self.side[to].port);
        if flags & RST != 0 {
            truth.tcp_rst_frames += 1;
        }
        let frame = tcp_frame(
            &src,
            &dst,
            sport,
            dport,
            seq,
            ack,
            flags,
            win,
            &o[..olen],
            payload,
            ip,
        );
        em.push(ts, frame);
    }

    /// Segment from `from` using its current sequence state; advances `nxt`.
    pub fn send(
        &mut self,
        em: &mut Emitter,
        truth: &mut Truth,
        ts: u64,
        from: usize,
        flags: u8,
        payload: &[u8],
    ) {
        let seq = self.side[from].nxt;
        let ack = if flags & ACK != 0 {
            self.side[1 - from].nxt
        } else {
            0
        };
        let opts = if flags & SYN != 0 {
            Opts::Syn
        } else if flags & RST != 0 {
            Opts::None
        } else {
            Opts::Ts
        };
        self.emit(em, truth, ts, from, flags, seq, ack, opts, payload);
        let mut adv = payload.len() as u32;
        if flags & (SYN | FIN) != 0 {
            adv += 1;
        }
        self.side[from].nxt = seq.wrapping_add(adv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn etherparse_accepts_checksums() {
        let a = Host {
            mac: [2, 0, 0, 0, 0, 1],
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        };
        let b = Host {
            mac: [2, 0, 0, 0, 0, 2],
            ip: IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34)),
        };
        let ip = IpParams {
            id: 7,
            ttl: 64,
            flow_label: 0,
        };
        let f = tcp_frame(
            &a,
            &b,
            40000,
            80,
            1,
            2,
            ACK | PSH,
            500,
            &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            b"hello",
            ip,
        );
        let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(v4)) = p.net else {
            panic!()
        };
        let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else {
            panic!()
        };
        let want = tcp
            .to_header()
            .calc_checksum_ipv4(&v4.header().to_header(), tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), want);
        assert_eq!(
            v4.header().to_header().calc_header_checksum(),
            v4.header().header_checksum()
        );
    }
}
