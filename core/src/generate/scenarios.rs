//! Scenario plans: the address world, background sessions and the injected
//! fault flows.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::flows::{AckMode, DnsLookup, Loss, Phase, Scan, Send, Session};
use super::proto::{self, DnsAnswer, Stream, QTYPE_A, QTYPE_AAAA};
use super::wire::{Dir, Host, TcpConn, MS, SEC, US};
use super::{Flow, GenerateOptions, Scenario, Truth};
use crate::rng::Rng;

const ROUTER_MAC: [u8; 6] = [0x00, 0x1c, 0x73, 0x4a, 0x10, 0x01];
const RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 53);
const DEAD_RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 54);

struct Client {
    mac: [u8; 6],
    v4: Ipv4Addr,
    v6: Ipv6Addr,
    next_port: u16,
}

pub(crate) struct World {
    clients: Vec<Client>,
}

fn local_mac(rng: &mut Rng, oui: [u8; 3]) -> [u8; 6] {
    let b = rng.bytes(3);
    [oui[0], oui[1], oui[2], b[0], b[1], b[2]]
}

const OUIS: [[u8; 3]; 4] = [
    [0x3c, 0x22, 0xfb],
    [0xa4, 0x83, 0xe7],
    [0x00, 0x1b, 0x21],
    [0xf0, 0x2f, 0x74],
];

impl World {
    fn new(seed: u64, n_clients: usize) -> Self {
        let mut rng = Rng::derive(seed, 4, 0);
        let clients = (0..n_clients)
            .map(|i| {
                let oui = *rng.pick(&OUIS);
                let host = 10 + i as u32;
                Client {
                    mac: local_mac(&mut rng, oui),
                    v4: Ipv4Addr::from(
                        u32::from(Ipv4Addr::new(10, 0, 0, 0)) + (host % 200) + (host / 200) * 256,
                    ),
                    v6: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, (host >> 16) as u16, host as u16),
                    next_port: rng.range(32768, 50000) as u16,
                }
            })
            .collect();
        World { clients }
    }

    fn client(&self, ci: usize, v6: bool) -> Host {
        let c = &self.clients[ci];
        Host {
            mac: c.mac,
            ip: if v6 {
                IpAddr::V6(c.v6)
            } else {
                IpAddr::V4(c.v4)
            },
        }
    }

    /// Linux-like ephemeral port allocation: increasing with small gaps.
    fn port(&mut self, ci: usize, rng: &mut Rng) -> u16 {
        let c = &mut self.clients[ci];
        let p = c.next_port;
        let n = p as u64 + 1 + rng.below(3);
        c.next_port = if n > 60999 {
            32768 + (n as u16 - 61000)
        } else {
            n as u16
        };
        p
    }
}

fn remote(ip: IpAddr) -> Host {
    Host {
        mac: ROUTER_MAC,
        ip,
    }
}

fn local(ip: Ipv4Addr, mac: [u8; 6]) -> Host {
    Host {
        mac,
        ip: IpAddr::V4(ip),
    }
}

fn resolver() -> Host {
    local(RESOLVER, [0x00, 0x16, 0x3e, 0x53, 0x53, 0x01])
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

// Background sites: (name, CDN CNAME target, has IPv6).
const SITES: &[(&str, Option<&str>, bool)] = &[
    ("www.example.com", None, true),
    ("example.org", None, true),
    ("www.example.org", None, false),
    ("api.example.net", None, true),
    ("static.example.com", Some("static.example-cdn.net"), true),
    ("cdn.example.net", None, true),
    ("news.example.com", Some("news.edge.example-cdn.net"), false),
    ("mail.example.org", None, false),
    ("login.example.com", None, true),
    ("updates.example.net", None, false),
    ("img.example.org", Some("img.example-cdn.net"), true),
    ("docs.example.com", None, false),
    ("shop.example.org", None, true),
    (
        "video.example.net",
        Some("video.edge.example-cdn.net"),
        true,
    ),
    ("status.example.com", None, false),
    ("telemetry.example.net", None, false),
];

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Stable address per name, in ranges that never collide with fault hosts.
fn site_v4(name: &str) -> IpAddr {
    let h = hash(name);
    match h % 3 {
        0 => v4(93, 184, 216, 16 + (h >> 8) as u8 % 224),
        1 => v4(198, 51, 100, 100 + (h >> 8) as u8 % 100),
        _ => v4(203, 0, 113, 100 + (h >> 8) as u8 % 80),
    }
}

fn site_v6(name: &str) -> IpAddr {
    let h = hash(name);
    IpAddr::V6(Ipv6Addr::new(
        0x2001,
        0xdb8,
        0xcafe,
        (h >> 16) as u16 & 0xff,
        0,
        0,
        0,
        0x10 + (h & 0xfff) as u16,
    ))
}

fn addr_answer(rng: &mut Rng, cname: Option<&str>, ip: IpAddr) -> DnsAnswer {
    DnsAnswer::Addrs {
        cname: cname.map(str::to_string),
        addrs: vec![ip],
        ttl: rng.range(60, 3600) as u32,
    }
}

/// A+AAAA lookup from a fresh client socket (one UDP conversation).
#[allow(clippy::too_many_arguments)]
fn lookup(
    w: &mut World,
    rng: &mut Rng,
    truth: &mut Truth,
    ci: usize,
    server: Host,
    name: &str,
    a: DnsAnswer,
    aaaa: Option<DnsAnswer>,
    rtt: u64,
    unanswered: bool,
) -> Phase {
    let mut queries = vec![(QTYPE_A, a)];
    if let Some(x) = aaaa {
        queries.push((QTYPE_AAAA, x));
    }
    truth.udp_flows += 1;
    Phase::Dns(DnsLookup {
        client: w.client(ci, false),
        server,
        cport: w.port(ci, rng),
        name: name.to_string(),
        queries,
        rtt,
        unanswered,
    })
}

fn site_lookup(w: &mut World, rng: &mut Rng, truth: &mut Truth, ci: usize, site: usize) -> Phase {
    let (name, cname, has6) = SITES[site];
    let a = addr_answer(rng, cname, site_v4(name));
    let aaaa = if has6 {
        addr_answer(rng, cname, site_v6(name))
    } else {
        DnsAnswer::NoData
    };
    let rtt = if rng.chance(0.6) {
        rng.range(300, 2000) * US
    } else {
        rng.range(8, 60) * MS
    };
    lookup(
        w,
        rng,
        truth,
        ci,
        resolver(),
        name,
        a,
        Some(aaaa),
        rtt,
        false,
    )
}

const PATHS: [&str; 7] = [
    "/",
    "/index.html",
    "/assets/app.js",
    "/css/site.css",
    "/news/today",
    "/api/v1/items",
    "/download/file.bin",
];

/// One request/response exchange on a connection.
#[derive(Clone, Debug)]
struct Exchange {
    req: usize,
    resp: u64,
    think: u64,
    loss: Loss,
    code: u16,
    path: &'static str,
}

impl Exchange {
    fn ok(rng: &mut Rng, resp: u64) -> Self {
        Exchange {
            req: rng.range(90, 700) as usize,
            resp,
            think: rng.range(300 * US, 40 * MS),
            loss: Loss::None,
            code: 200,
            path: PATHS[rng.below(PATHS.len() as u64) as usize],
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum End {
    Close,
    Abort,
}

struct ConnSpec {
    client: Host,
    cport: u16,
    server: Host,
    sport: u16,
    rtt: u64,
}

fn conn_spec(
    w: &mut World,
    rng: &mut Rng,
    ci: usize,
    server: IpAddr,
    sport: u16,
    rtt: u64,
) -> ConnSpec {
    let v6 = server.is_ipv6();
    ConnSpec {
        client: w.client(ci, v6),
        cport: w.port(ci, rng),
        server: remote(server),
        sport,
        rtt,
    }
}

fn open(rng: &mut Rng, truth: &mut Truth, c: &ConnSpec) -> Session {
    truth.tcp_flows += 1;
    if c.client.ip.is_ipv6() {
        truth.ipv6_flows += 1;
    }
    let conn = TcpConn::new(rng, c.client, c.cport, c.server, c.sport, c.rtt);
    Session::new(rng.clone(), Some(conn))
}

fn resp_size(rng: &mut Rng) -> u64 {
    let segs = {
        let r = rng.f64();
        if r < 0.6 {
            rng.range(1, 3)
        } else if r < 0.9 {
            rng.range(3, 12)
        } else if r < 0.99 {
            rng.range(12, 60)
        } else {
            rng.range(60, 300)
        }
    };
    (segs * 1400).saturating_sub(rng.range(0, 700)).max(300)
}

fn client_delay(rng: &mut Rng) -> u64 {
    rng.range(150, 2500) * US
}

/// TLS 1.3 connection: handshake then one application exchange per entry.
fn tls_session(
    rng: &mut Rng,
    truth: &mut Truth,
    c: &ConnSpec,
    sni: &str,
    ex: &[Exchange],
    end: End,
    pre: Option<Phase>,
) -> Session {
    let mut s = open(rng, truth, c);
    let mut r = s.rng.clone();
    if let Some(p) = pre {
        s.push(p);
        s.push(Phase::Idle(rng.range(100, 1500) * US));
    }
    let (hello, sid) = proto::tls_client_hello(&mut r, sni, &["h2", "http/1.1"]);
    truth.tls_client_hellos += 1;
    s.push(Phase::Connect);
    s.push(Phase::Send(Send::new(
        Dir::C2S,
        Stream::bytes(hello),
        rng.range(100, 400) * US,
        AckMode::Piggyback,
    )));
    let flight = proto::tls_server_flight(&mut r, &sid);
    s.push(Phase::Send(Send::new(
        Dir::S2C,
        Stream::bytes(flight),
        c.rtt + rng.range(200 * US, 3 * MS),
        AckMode::Delayed,
    )));
    for (i, e) in ex.iter().enumerate() {
        let mut req = Vec::new();
        if i == 0 {
            req.extend_from_slice(&proto::CCS);
            req.extend_from_slice(&proto::app_record(&mut r, 53));
        }
        req.extend_from_slice(&proto::app_record(&mut r, e.req));
        let delay = if i == 0 {
            client_delay(rng)
        } else {
            rng.range(5 * MS, 900 * MS)
        };
        s.push(Phase::Send(Send::new(
            Dir::C2S,
            Stream::bytes(req),
            delay,
            AckMode::Piggyback,
        )));
        s.push(Phase::Send(
            Send::new(
                Dir::S2C,
                Stream::tls(e.resp),
                c.rtt + e.think,
                AckMode::Delayed,
            )
            .with_loss(e.loss),
        ));
    }
    s.push(match end {
        End::Close => Phase::Close {
            client_first: rng.chance(0.7),
        },
        End::Abort => Phase::Abort { by_server: true },
    });
    s.rng = r;
    s
}

fn http_session(
    rng: &mut Rng,
    truth: &mut Truth,
    c: &ConnSpec,
    host: &str,
    ex: &[Exchange],
    pre: Option<Phase>,
    date: u64,
) -> Session {
    let mut s = open(rng, truth, c);
    if let Some(p) = pre {
        s.push(p);
        s.push(Phase::Idle(rng.range(100, 1500) * US));
    }
    s.push(Phase::Connect);
    let ua = *rng.pick(proto::UAS);
    let server = *rng.pick(&[
        "nginx/1.24.0",
        "Apache/2.4.58 (Debian)",
        "nginx",
        "cloudflare",
    ]);
    for (i, e) in ex.iter().enumerate() {
        let post = e.code == 500 || (e.code == 200 && rng.chance(0.1));
        let req = if post {
            proto::http_request("POST", host, e.path, ua, Some(b"item=42&qty=1&note=hello"))
        } else {
            proto::http_request("GET", host, e.path, ua, None)
        };
        truth.http_requests += 1;
        let delay = if i == 0 {
            client_delay(rng)
        } else {
            rng.range(5 * MS, 900 * MS)
        };
        s.push(Phase::Send(Send::new(
            Dir::C2S,
            Stream::bytes(req),
            delay,
            AckMode::Piggyback,
        )));
        let stream = if e.code >= 400 {
            truth.http_error_responses += 1;
            if e.code >= 500 {
                truth.http_5xx += 1;
            } else {
                truth.http_4xx += 1;
            }
            let body = proto::http_error_body(e.code);
            let mut v =
                proto::http_response_head(e.code, "text/html", body.len() as u64, date, server);
            v.extend_from_slice(&body);
            Stream::bytes(v)
        } else {
            let (ctype, text) = if e.path.ends_with(".bin") {
                ("application/octet-stream", false)
            } else if e.path.ends_with(".js") {
                ("application/javascript", true)
            } else if e.path.ends_with(".css") {
                ("text/css", true)
            } else {
                ("text/html; charset=utf-8", true)
            };
            let head = proto::http_response_head(200, ctype, 0, date, server);
            let body = e.resp.saturating_sub(head.len() as u64).max(64);
            Stream::http(
                proto::http_response_head(200, ctype, body, date, server),
                body,
                text,
            )
        };
        s.push(Phase::Send(
            Send::new(Dir::S2C, stream, c.rtt + e.think, AckMode::Delayed).with_loss(e.loss),
        ));
    }
    s.push(Phase::Close {
        client_first: rng.chance(0.6),
    });
    s
}

fn ssh_session(rng: &mut Rng, truth: &mut Truth, c: &ConnSpec, rounds: u64, bulk: u64) -> Session {
    let mut s = open(rng, truth, c);
    let mut r = s.rng.clone();
    truth.ssh_sessions += 1;
    let d = c.rtt;
    let sends: Vec<(Dir, Vec<u8>)> = vec![
        (
            Dir::S2C,
            b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n".to_vec(),
        ),
        (Dir::C2S, b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
        (Dir::S2C, proto::ssh_kexinit(&mut r)),
        (
            Dir::C2S,
            [proto::ssh_kexinit(&mut r), proto::ssh_ecdh_init(&mut r)].concat(),
        ),
        (Dir::S2C, proto::ssh_ecdh_reply_newkeys(&mut r)),
        (Dir::C2S, proto::ssh_newkeys(&mut r)),
    ];
    s.push(Phase::Connect);
    for (dir, b) in sends {
        let (delay, ack) = match dir {
            Dir::S2C => (d + rng.range(300 * US, 4 * MS), AckMode::Delayed),
            Dir::C2S => (client_delay(rng), AckMode::Piggyback),
        };
        s.push(Phase::Send(Send::new(dir, Stream::bytes(b), delay, ack)));
    }
    s.push(Phase::Send(Send::new(
        Dir::S2C,
        Stream::Random { left: 44 },
        d + rng.range(100, 900) * US,
        AckMode::Delayed,
    )));
    for _ in 0..rounds {
        let gap = rng.range(80 * MS, 1500 * MS);
        s.push(Phase::Send(Send::new(
            Dir::C2S,
            Stream::Random { left: 36 },
            gap,
            AckMode::Piggyback,
        )));
        let out = rng.range(36, 600);
        s.push(Phase::Send(Send::new(
            Dir::S2C,
            Stream::Random { left: out },
            d + rng.range(50, 400) * US,
            AckMode::Delayed,
        )));
    }
    if bulk > 0 {
        s.push(Phase::Send(Send::new(
            Dir::C2S,
            Stream::Random { left: 52 },
            client_delay(rng),
            AckMode::Piggyback,
        )));
        s.push(Phase::Send(Send::new(
            Dir::S2C,
            Stream::Random { left: bulk },
            d + rng.range(1, 5) * MS,
            AckMode::Delayed,
        )));
    }
    s.push(Phase::Close { client_first: true });
    s.rng = r;
    s
}

fn ntp_session(w: &mut World, rng: &mut Rng, truth: &mut Truth, ci: usize) -> Session {
    truth.udp_flows += 1;
    let server = remote(*rng.pick(&[
        v4(192, 0, 2, 123),
        v4(203, 0, 113, 123),
        v4(198, 51, 100, 123),
    ]));
    let mut s = Session::new(rng.clone(), None);
    s.push(Phase::Ntp {
        client: w.client(ci, false),
        server,
        cport: w.port(ci, rng),
        rtt: rng.range(8, 45) * MS,
    });
    s
}

fn flow(start: u64, s: Session) -> Flow {
    let est = s.estimate();
    Flow::new(start, Box::new(s), est)
}

// ---------------------------------------------------------------- background

pub(crate) struct Background {
    seed: u64,
    arrivals: Rng,
    next: u64,
    idx: u64,
    /// (number of flows, packet budget per flow) when `flows` is fixed.
    fixed: Option<(u64, u64)>,
    /// Many short flows (the flow-heavy scenario) instead of the mixed sessions.
    flow_heavy: bool,
    mean_ia: f64,
    stopped: bool,
    date: u64,
}

impl Background {
    pub fn next_start(&mut self, committed: i64, target: i64) -> Option<u64> {
        if self.stopped {
            return None;
        }
        let go = match self.fixed {
            Some((n, _)) => self.idx < n,
            None => committed < target || self.idx == 0,
        };
        if !go {
            // Never restart: a later start could precede emitted packets.
            self.stopped = true;
            return None;
        }
        Some(self.next)
    }

    pub fn admit(&mut self, w: &mut World, truth: &mut Truth) -> Flow {
        let start = self.next;
        let mut rng = Rng::derive(self.seed, 1, self.idx);
        self.idx += 1;
        self.next += (self.arrivals.exp(self.mean_ia) as u64).max(50 * US);
        truth.background_flows += 1;
        if self.flow_heavy {
            return flow_heavy_item(w, &mut rng, truth, start, self.date);
        }
        let s = match self.fixed {
            Some((_, budget)) => fixed_session(w, &mut rng, truth, budget),
            None => mixed_session(w, &mut rng, truth, self.date),
        };
        flow(start, s)
    }
}

/// The internet-facing server that the flow-heavy scenario's scanners probe.
const SCANNED_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 20);

/// One item of the flow-heavy background: the traffic of an internet-facing
/// network where most flows are a few packets long. Shares (of items):
/// SYN-scan probes 34%, connect-scan probes 10%, DNS lookups 32% (some
/// failing), short HTTP 14% and TLS 9% connections, long SSH or TLS 1%.
/// About five packets a flow on average.
fn flow_heavy_item(w: &mut World, rng: &mut Rng, truth: &mut Truth, start: u64, date: u64) -> Flow {
    let ci = rng.below(w.clients.len() as u64) as usize;
    let r = rng.below(100);
    let rtt = rng.range(4, 60) * MS;
    match r {
        0..=43 => {
            // A scanner from the internet probes one to three ports of the
            // server: each probe is a flow of its own.
            let connect = r >= 34;
            let scanner = remote(IpAddr::V4(Ipv4Addr::new(
                *rng.pick(&[192, 198, 203]),
                *rng.pick(&[0, 51, 0]),
                *rng.pick(&[2, 100, 113]),
                rng.range(1, 250) as u8,
            )));
            let n = rng.range(1, 4) as usize;
            let ports: Vec<u16> = (0..n)
                .map(|_| {
                    if rng.chance(0.3) {
                        *rng.pick(&[21u16, 22, 23, 25, 80, 443, 445, 3389, 8080, 8443])
                    } else {
                        rng.range(1, 65536) as u16
                    }
                })
                .collect();
            truth.tcp_flows += ports.len() as u64;
            let scan = Scan {
                sport: rng.range(1024, 65000) as u16,
                rtt: rng.range(20, 200) * MS,
                ip_id: rng.u16(),
                rng: rng.clone(),
                scanner,
                target: local(SCANNED_SERVER, [0x00, 0x25, 0x90, 0x11, 0x22, 0x33]),
                ports,
                open: vec![22, 80, 443],
                idx: 0,
                connect,
            };
            let est = scan.estimate();
            Flow::new(start, Box::new(scan), est)
        }
        44..=75 => {
            let site = rng.below(SITES.len() as u64) as usize;
            let f = rng.below(100);
            let phase = if f < 12 {
                let name = *rng.pick(&["wwww.example.com", "exmaple.com", "api.exmaple.net"]);
                let e = DnsAnswer::Error(proto::RCODE_NXDOMAIN);
                let rtt = rng.range(10, 60) * MS;
                lookup(w, rng, truth, ci, resolver(), name, e, None, rtt, false)
            } else if f < 15 {
                let e = DnsAnswer::Error(proto::RCODE_SERVFAIL);
                let rtt = rng.range(50, 1500) * MS;
                let name = "wiki.internal.example.org";
                lookup(w, rng, truth, ci, resolver(), name, e, None, rtt, false)
            } else if f < 17 {
                let dead = local(DEAD_RESOLVER, [0x00, 0x16, 0x3e, 0x53, 0x53, 0x02]);
                let name = SITES[site].0;
                let rtt = rng.range(1, 2) * MS;
                lookup(
                    w,
                    rng,
                    truth,
                    ci,
                    dead,
                    name,
                    DnsAnswer::NoData,
                    None,
                    rtt,
                    true,
                )
            } else {
                site_lookup(w, rng, truth, ci, site)
            };
            let mut s = Session::new(rng.clone(), None);
            s.push(phase);
            flow(start, s)
        }
        76..=98 => {
            let site = rng.below(SITES.len() as u64) as usize;
            let name = SITES[site].0;
            let ip = site_v4(name);
            let size = rng.range(300, 6000);
            let ex = [Exchange::ok(rng, size)];
            let s = if r < 90 {
                let c = conn_spec(w, rng, ci, ip, 80, rtt);
                http_session(rng, truth, &c, name, &ex, None, date)
            } else {
                let c = conn_spec(w, rng, ci, ip, 443, rtt);
                tls_session(rng, truth, &c, name, &ex, End::Close, None)
            };
            flow(start, s)
        }
        _ => {
            let ip = v4(198, 51, 100, 122);
            let c = conn_spec(w, rng, ci, ip, 22, rtt);
            let bulk = rng.range(20_000, 120_000);
            let rounds = rng.range(5, 40);
            flow(start, ssh_session(rng, truth, &c, rounds, bulk))
        }
    }
}

fn mixed_session(w: &mut World, rng: &mut Rng, truth: &mut Truth, date: u64) -> Session {
    let ci = rng.below(w.clients.len() as u64) as usize;
    let site = rng.below(SITES.len() as u64) as usize;
    let (name, _, has6) = SITES[site];
    let r = rng.below(100);
    let rtt = rng.range(4, 60) * MS;
    let n_ex = 1 + rng.below(3) as usize;
    let ex: Vec<Exchange> = (0..n_ex)
        .map(|_| {
            let sz = resp_size(rng);
            Exchange::ok(rng, sz)
        })
        .collect();
    let dns = if rng.chance(0.85) {
        Some(site_lookup(w, rng, truth, ci, site))
    } else {
        None
    };
    match r {
        0..=49 => {
            let ip = if has6 && r < 12 {
                site_v6(name)
            } else {
                site_v4(name)
            };
            let c = conn_spec(w, rng, ci, ip, 443, rtt);
            tls_session(rng, truth, &c, name, &ex, End::Close, dns)
        }
        50..=71 => {
            let ip = if has6 && r < 53 {
                site_v6(name)
            } else {
                site_v4(name)
            };
            let c = conn_spec(w, rng, ci, ip, 80, rtt);
            http_session(rng, truth, &c, name, &ex, dns, date)
        }
        72..=81 => {
            // Lookup only (prefetch, connectivity check).
            let d = dns.unwrap_or_else(|| site_lookup(w, rng, truth, ci, site));
            let mut s = Session::new(rng.clone(), None);
            s.push(d);
            s
        }
        82..=87 => {
            let ip = *rng.pick(&[
                v4(198, 51, 100, 122),
                v4(203, 0, 113, 122),
                v4(93, 184, 216, 222),
            ]);
            let c = conn_spec(w, rng, ci, ip, 22, rtt);
            let rounds = rng.range(3, 25);
            let bulk = if rng.chance(0.2) {
                rng.range(5_000, 200_000)
            } else {
                0
            };
            ssh_session(rng, truth, &c, rounds, bulk)
        }
        _ => ntp_session(w, rng, truth, ci),
    }
}

/// Background flow for a fixed flow count: always exactly one TCP
/// conversation whose length scales with `budget` packets.
fn fixed_session(w: &mut World, rng: &mut Rng, truth: &mut Truth, budget: u64) -> Session {
    let ci = rng.below(w.clients.len() as u64) as usize;
    let site = rng.below(SITES.len() as u64) as usize;
    let (name, _, has6) = SITES[site];
    let kind = rng.below(100);
    let rtt = rng.range(4, 60) * MS;
    let ip = if has6 && kind < 12 {
        site_v6(name)
    } else {
        site_v4(name)
    };
    let (port, kind) = match kind {
        0..=59 => (443, 0),
        60..=89 => (80, 1),
        _ => (22, 2),
    };
    let c = conn_spec(w, rng, ci, ip, port, rtt);
    let seg = if ip.is_ipv6() { 1428 } else { 1448 };
    let build = |rng: &mut Rng, truth: &mut Truth, segs: u64| match kind {
        0 => {
            let ex = [Exchange::ok(rng, segs * seg)];
            tls_session(rng, truth, &c, name, &ex, End::Close, None)
        }
        1 => {
            let mut e = Exchange::ok(rng, segs * seg);
            e.path = "/download/file.bin";
            http_session(rng, truth, &c, name, &[e], None, 1_700_000_000)
        }
        _ => ssh_session(rng, truth, &c, 2, segs * seg),
    };
    let probe = build(&mut rng.clone(), &mut Truth::default(), 1).estimate();
    let segs = 1 + budget.saturating_sub(probe) * 2 / 3;
    build(rng, truth, segs)
}

// ---------------------------------------------------------------- faults

pub(crate) struct Plan {
    pub world: World,
    pub faults: VecDeque<(u64, Flow)>,
    pub bg: Background,
}

/// Rough mean packets per mixed background session (for time spreading).
const AVG_SESSION: u64 = 30;
const MEAN_IA: f64 = 150.0 * MS as f64;
/// Items of the flow-heavy background: about 8 packets and 1.4 flows each
/// (an item of scan probes holds several flows), one every 50 ms: with the
/// flow table's 600 s idle timeout about 20,000 flows are live at once.
const FLOW_HEAVY_AVG: u64 = 8;
const FLOW_HEAVY_IA: f64 = 50.0 * MS as f64;

struct Ctx<'a> {
    w: &'a mut World,
    rng: Rng,
    truth: &'a mut Truth,
    t0: u64,
    span: u64,
    date: u64,
    out: Vec<(u64, Flow)>,
}

impl Ctx<'_> {
    fn at(&mut self) -> u64 {
        let a = self.span / 20;
        self.t0 + self.rng.range(a, self.span - self.span / 6)
    }
    fn client(&mut self) -> usize {
        self.rng.below(self.w.clients.len() as u64) as usize
    }
    fn sub(&mut self) -> Rng {
        let v = self.rng.next_u64();
        Rng::new(v)
    }
}

fn count(k: f64, base: f64) -> u64 {
    (k * base).round().max(1.0) as u64
}

fn resets(cx: &mut Ctx, n: u64) {
    let server = v4(203, 0, 113, 10);
    cx.truth.reset_server = Some("203.0.113.10:8443".into());
    let n_reset = ((n as f64 * 0.4).round() as u64).max(2);
    let mut kinds: Vec<u8> = (0..n)
        .map(|i| {
            if i < n_reset / 2 {
                0
            } else if i < n_reset {
                1
            } else {
                2
            }
        })
        .collect();
    cx.rng.shuffle(&mut kinds);
    for k in kinds {
        let start = cx.at();
        let ci = cx.client();
        let mut rng = cx.sub();
        let rtt = rng.range(15, 40) * MS;
        let c = conn_spec(cx.w, &mut rng, ci, server, 8443, rtt);
        let s = match k {
            0 => {
                cx.truth.tcp_refused_connections += 1;
                let mut s = open(&mut rng, cx.truth, &c);
                s.push(Phase::Refused);
                s
            }
            1 => {
                cx.truth.tcp_aborted_connections += 1;
                let sz = rng.range(8, 40) * 1448;
                let ex = [Exchange::ok(&mut rng, sz)];
                let mut s = tls_session(
                    &mut rng,
                    cx.truth,
                    &c,
                    "gateway.example.com",
                    &ex,
                    End::Abort,
                    None,
                );
                // Cut the response short: the server resets mid-transfer.
                truncate_last_response(&mut s);
                s
            }
            _ => {
                let sz = resp_size(&mut rng);
                let ex = [Exchange::ok(&mut rng, sz)];
                tls_session(
                    &mut rng,
                    cx.truth,
                    &c,
                    "gateway.example.com",
                    &ex,
                    End::Close,
                    None,
                )
            }
        };
        cx.out.push((start, flow(start, s)));
    }
}

fn truncate_last_response(s: &mut Session) {
    s.truncate_last_send();
}

fn retransmissions(cx: &mut Ctx, n: u64) {
    let server = v4(198, 51, 100, 20);
    cx.truth.retransmission_server = Some("198.51.100.20".into());
    for i in 0..n {
        let start = cx.at();
        let ci = cx.client();
        let mut rng = cx.sub();
        let rtt = rng.range(4, 12) * MS;
        let c = conn_spec(cx.w, &mut rng, ci, server, 443, rtt);
        let mut ex = Vec::new();
        for j in 0..2 {
            let segs = rng.range(20, 90);
            let trim = rng.range(0, 700);
            let mut e = Exchange::ok(&mut rng, segs * 1448 - trim);
            e.loss = if j == 0 && (i == 0 || rng.chance(0.75)) {
                fast_loss_segment(&mut rng, e.resp, segs)
            } else if j == 1 && (i == 0 || rng.chance(0.6)) {
                Loss::Timeout
            } else {
                Loss::None
            };
            ex.push(e);
        }
        let s = tls_session(
            &mut rng,
            cx.truth,
            &c,
            "downloads.example.net",
            &ex,
            End::Close,
            None,
        );
        cx.out.push((start, flow(start, s)));
    }
}

/// Picks a segment to lose such that no TLS record completes before its
/// retransmission: the capture point saw the "lost" segment, so tshark
/// would otherwise finish reassembling the record and then flag the
/// retransmitted copy as overlapping a completed reassembly (an error).
fn fast_loss_segment(rng: &mut Rng, resp: u64, segs: u64) -> Loss {
    let starts = proto::tls_record_starts(resp);
    let ok: Vec<u64> = (3..segs.saturating_sub(5))
        .filter(|at| {
            // The lost segment and the three that provoke dup ACKs.
            let (a, b) = ((at - 1) * 1448, (at + 3) * 1448);
            !starts.iter().any(|&p| p >= a && p <= b + 5)
        })
        .collect();
    if ok.is_empty() {
        Loss::None
    } else {
        Loss::Fast(*rng.pick(&ok) as u32)
    }
}

fn dns_failures(cx: &mut Ctx, servfail: u64, nx: u64, dead: u64, refused: u64) {
    cx.truth.dns_servfail_resolver = Some(RESOLVER.to_string());
    cx.truth.dns_servfail_domain = Some("internal.example.org".into());
    let push = |cx: &mut Ctx,
                name: String,
                ans: DnsAnswer,
                server: Host,
                rtt: (u64, u64),
                dead: bool,
                both: bool| {
        let start = cx.at();
        let ci = cx.client();
        let mut rng = cx.sub();
        let rtt = rng.range(rtt.0, rtt.1);
        let aaaa = both.then(|| ans.clone());
        let p = lookup(
            cx.w, &mut rng, cx.truth, ci, server, &name, ans, aaaa, rtt, dead,
        );
        let mut s = Session::new(rng, None);
        s.push(p);
        cx.out.push((start, flow(start, s)));
    };
    const HOSTS: [&str; 7] = ["wiki", "git", "jira", "vault", "ci", "intranet", "grafana"];
    for _ in 0..servfail {
        let h = *cx.rng.pick(&HOSTS);
        push(
            cx,
            format!("{h}.internal.example.org"),
            DnsAnswer::Error(proto::RCODE_SERVFAIL),
            resolver(),
            (50 * MS, 1500 * MS),
            false,
            true,
        );
    }
    const TYPOS: [&str; 6] = [
        "wwww.example.com",
        "exmaple.com",
        "www.exampel.org",
        "api.exmaple.net",
        "gooogle.example",
        "staitc.example.com",
    ];
    for _ in 0..nx {
        let h = *cx.rng.pick(&TYPOS);
        push(
            cx,
            h.to_string(),
            DnsAnswer::Error(proto::RCODE_NXDOMAIN),
            resolver(),
            (10 * MS, 60 * MS),
            false,
            true,
        );
    }
    if dead > 0 {
        cx.truth.dns_dead_resolver = Some(DEAD_RESOLVER.to_string());
    }
    for _ in 0..dead {
        let site = cx.rng.below(SITES.len() as u64) as usize;
        let dead_host = local(DEAD_RESOLVER, [0x00, 0x16, 0x3e, 0x53, 0x53, 0x02]);
        push(
            cx,
            SITES[site].0.to_string(),
            DnsAnswer::NoData,
            dead_host,
            (MS, 2 * MS),
            true,
            true,
        );
    }
    for _ in 0..refused {
        let site = cx.rng.below(SITES.len() as u64) as usize;
        push(
            cx,
            SITES[site].0.to_string(),
            DnsAnswer::Error(proto::RCODE_REFUSED),
            remote(v4(198, 51, 100, 53)),
            (15 * MS, 40 * MS),
            false,
            false,
        );
    }
}

fn http_errors(cx: &mut Ctx, n503: u64, n404: u64, n500: u64) {
    let server = v4(203, 0, 113, 50);
    cx.truth.http_error_server = Some("203.0.113.50".into());
    for i in 0..n503 {
        let start = cx.at();
        let ci = cx.client();
        let mut rng = cx.sub();
        let draw = rng.range(10, 30) * MS;
        let c = conn_spec(cx.w, &mut rng, ci, server, 80, draw);
        let nreq = rng.range(2, 5);
        let ex: Vec<Exchange> = (0..nreq)
            .map(|j| {
                let sz = resp_size(&mut rng);
                let mut e = Exchange::ok(&mut rng, sz);
                e.path = *rng.pick(&["/", "/cart", "/checkout", "/products/42", "/search?q=lamp"]);
                if (i == 0 && j == 0) || rng.chance(0.6) {
                    e.code = 503;
                }
                e
            })
            .collect();
        let s = http_session(
            &mut rng,
            cx.truth,
            &c,
            "shop.example.com",
            &ex,
            None,
            cx.date,
        );
        cx.out.push((start, flow(start, s)));
    }
    for i in 0..(n404 + n500) {
        let start = cx.at();
        let ci = cx.client();
        let mut rng = cx.sub();
        let site = rng.below(SITES.len() as u64) as usize;
        let name = if i < n404 {
            SITES[site].0
        } else {
            "api.example.net"
        };
        let draw = rng.range(5, 50) * MS;
        let c = conn_spec(cx.w, &mut rng, ci, site_v4(name), 80, draw);
        let mut e = Exchange::ok(&mut rng, 0);
        if i < n404 {
            e.code = 404;
            e.path = *rng.pick(&[
                "/favicon.ico",
                "/wp-login.php",
                "/old-page.html",
                "/.env",
                "/images/logo-2019.png",
            ]);
        } else {
            e.code = 500;
            e.path = "/v1/orders";
        }
        let s = http_session(&mut rng, cx.truth, &c, name, &[e], None, cx.date);
        cx.out.push((start, flow(start, s)));
    }
}

fn port_scan(cx: &mut Ctx, nports: u64) {
    let mut rng = cx.sub();
    let mut ports: Vec<u16> = (1..=nports as u16).collect();
    rng.shuffle(&mut ports);
    let open: Vec<u16> = [22u16, 80, 111, 443, 631, 3306, 8080]
        .into_iter()
        .filter(|p| (*p as u64) <= nports)
        .collect();
    let scanner = local(
        Ipv4Addr::new(10, 0, 0, 66),
        local_mac(&mut rng, [0x08, 0x00, 0x27]),
    );
    let target = local(
        Ipv4Addr::new(10, 0, 0, 20),
        local_mac(&mut rng, [0x00, 0x25, 0x90]),
    );
    cx.truth.scanner = Some("10.0.0.66".into());
    cx.truth.scan_target = Some("10.0.0.20".into());
    cx.truth.scan_ports = nports;
    cx.truth.scan_open_ports = open.clone();
    cx.truth.tcp_flows += nports;
    let start = cx.at();
    let scan = Scan {
        sport: rng.range(40000, 65000) as u16,
        rtt: rng.range(150, 600) * US,
        ip_id: rng.u16(),
        rng,
        scanner,
        target,
        ports,
        open,
        idx: 0,
        connect: false,
    };
    let est = scan.estimate();
    cx.out.push((start, Flow::new(start, Box::new(scan), est)));
}

fn long_lived(cx: &mut Ctx, duration: u64) {
    let ci = cx.client();
    let mut rng = cx.sub();
    let draw = rng.range(20, 45) * MS;
    let c = conn_spec(cx.w, &mut rng, ci, v4(203, 0, 113, 200), 443, draw);
    let mut ex = vec![Exchange::ok(&mut rng, 2200)];
    ex[0].think = 2 * MS;
    let mut s = tls_session(
        &mut rng,
        cx.truth,
        &c,
        "push.example.com",
        &ex,
        End::Close,
        None,
    );
    let close = s.pop_last().expect("close phase");
    let mut t = 0;
    while t < duration {
        let gap = rng.range(45 * SEC, 110 * SEC);
        t += gap;
        s.push(Phase::Idle(gap));
        if rng.chance(0.8) {
            // Client heartbeat, server echo.
            let draw = rng.range(24, 60);
            s.push(Phase::Send(Send::new(
                Dir::C2S,
                Stream::bytes(proto::app_record(&mut rng, draw as usize)),
                200 * US,
                AckMode::Piggyback,
            )));
        }
        s.push(Phase::Send(Send::new(
            Dir::S2C,
            Stream::tls(rng.range(30, 400)),
            c.rtt + rng.range(100, 900) * US,
            AckMode::Delayed,
        )));
    }
    s.push(close);
    cx.truth.long_lived_flow = Some(format!("{}:{} -> 203.0.113.200:443", c.client.ip, c.cport));
    let start = cx.t0 + rng.range(200 * MS, 3 * SEC);
    let mut f = flow(start, s);
    f.track = true;
    cx.out.push((start, f));
}

fn blocklisted(cx: &mut Ctx, conns: u64) {
    let ip = v4(198, 51, 100, 66);
    let name = "malware.example.net";
    cx.truth.blocklisted_host = Some(ip.to_string());
    cx.truth.blocklisted_domain = Some(name.into());
    let ci = cx.client();
    let mut first = cx.at();
    for i in 0..conns {
        let mut rng = cx.sub();
        let pre = (i == 0).then(|| {
            let a = addr_answer(&mut rng, None, ip);
            let draw = rng.range(20, 80) * MS;
            lookup(
                cx.w,
                &mut rng,
                cx.truth,
                ci,
                resolver(),
                name,
                a,
                Some(DnsAnswer::NoData),
                draw,
                false,
            )
        });
        let draw = rng.range(60, 140) * MS;
        let c = conn_spec(cx.w, &mut rng, ci, ip, 443, draw);
        let draw = rng.range(300, 6000);
        let ex = [Exchange::ok(&mut rng, draw)];
        let s = tls_session(&mut rng, cx.truth, &c, name, &ex, End::Close, pre);
        cx.truth.blocklisted_connections += 1;
        cx.out.push((first, flow(first, s)));
        first += rng
            .range(20 * SEC, 70 * SEC)
            .min(cx.span / (conns + 1))
            .max(2 * SEC);
    }
}

fn odd_port(cx: &mut Ctx, n: u64) {
    let ip = v4(203, 0, 113, 81);
    cx.truth.odd_http_port = Some(8081);
    cx.truth.odd_http_server = Some("203.0.113.81:8081".into());
    for _ in 0..n {
        let start = cx.at();
        let ci = cx.client();
        let mut rng = cx.sub();
        let draw = rng.range(5, 30) * MS;
        let c = conn_spec(cx.w, &mut rng, ci, ip, 8081, draw);
        let ex: Vec<Exchange> = (0..rng.range(1, 4))
            .map(|_| {
                let sz = resp_size(&mut rng);
                Exchange::ok(&mut rng, sz)
            })
            .collect();
        cx.truth.odd_http_requests += ex.len() as u64;
        let s = http_session(
            &mut rng,
            cx.truth,
            &c,
            "intranet.example.com:8081",
            &ex,
            None,
            cx.date,
        );
        cx.out.push((start, flow(start, s)));
    }
}

fn non_http80(cx: &mut Ctx, n: u64) {
    let ip = v4(198, 51, 100, 80);
    cx.truth.non_http_port80_server = Some("198.51.100.80:80".into());
    for _ in 0..n {
        let start = cx.at();
        let ci = cx.client();
        let mut rng = cx.sub();
        let draw = rng.range(20, 60) * MS;
        let c = conn_spec(cx.w, &mut rng, ci, ip, 80, draw);
        let mut s = open(&mut rng, cx.truth, &c);
        s.push(Phase::Connect);
        for i in 0..rng.range(3, 9) {
            // A length-prefixed binary protocol that merely borrows port 80.
            let len = rng.range(20, 300) as usize;
            let mut m = vec![0x00, 0x01, 0xbe, 0xef];
            m.extend_from_slice(&(len as u32).to_be_bytes());
            m.extend_from_slice(&rng.bytes(len));
            let draw = rng.range(20 * MS, 500 * MS);
            let delay = if i == 0 { client_delay(&mut rng) } else { draw };
            s.push(Phase::Send(Send::new(
                Dir::C2S,
                Stream::bytes(m),
                delay,
                AckMode::Piggyback,
            )));
            let rl = rng.range(16, 2000) as usize;
            let mut r = vec![0x00, 0x02, 0xbe, 0xef];
            r.extend_from_slice(&(rl as u32).to_be_bytes());
            r.extend_from_slice(&rng.bytes(rl));
            s.push(Phase::Send(Send::new(
                Dir::S2C,
                Stream::bytes(r),
                c.rtt + rng.range(100, 3000) * US,
                AckMode::Delayed,
            )));
        }
        s.push(Phase::Close { client_first: true });
        s.rng = rng;
        cx.truth.non_http_port80_flows += 1;
        cx.out.push((start, flow(start, s)));
    }
}

pub(crate) fn plan(scenario: Scenario, o: &GenerateOptions, truth: &mut Truth) -> Plan {
    let t0 = o.start_ts_nanos;
    let date = t0 / SEC;
    let flow_heavy = scenario == Scenario::FlowHeavy;
    let avg_session = if flow_heavy {
        FLOW_HEAVY_AVG
    } else {
        AVG_SESSION
    };
    let est_sessions = o.flows.unwrap_or((o.packets / avg_session).max(1));
    let n_clients = (est_sessions / 40).clamp(8, 250) as usize;
    let mut w = World::new(o.seed, n_clients);
    let mut prng = Rng::derive(o.seed, 3, 0);
    let long = matches!(scenario, Scenario::LongLived | Scenario::Mixed);
    let long_dur = 7200 * SEC + prng.range(300, 1500) * SEC;
    let mean_ia = if long {
        long_dur as f64 / est_sessions as f64
    } else if flow_heavy {
        FLOW_HEAVY_IA
    } else {
        MEAN_IA
    };
    let span = ((est_sessions as f64 * mean_ia) as u64).max(3 * SEC);
    // Faults scale gently with capture size so they stay a minority.
    let k = (o.packets as f64 / 2000.0).sqrt().clamp(1.0, 20.0);
    let mut cx = Ctx {
        w: &mut w,
        rng: prng,
        truth,
        t0,
        span,
        date,
        out: Vec::new(),
    };
    let scan_ports = |div: u64, min: u64| (o.packets / div).clamp(min, 1024);
    match scenario {
        Scenario::Normal | Scenario::FlowHeavy => {}
        Scenario::TcpResets => resets(&mut cx, count(k, 14.0)),
        Scenario::Retransmissions => retransmissions(&mut cx, count(k, 4.0)),
        Scenario::DnsFailures => dns_failures(
            &mut cx,
            count(k, 6.0),
            count(k, 4.0),
            count(k, 2.0),
            count(k, 1.0),
        ),
        Scenario::HttpErrors => http_errors(&mut cx, count(k, 6.0), count(k, 4.0), count(k, 1.0)),
        Scenario::PortScan => port_scan(&mut cx, scan_ports(8, 100)),
        Scenario::LongLived => long_lived(&mut cx, long_dur),
        Scenario::Blocklisted => blocklisted(&mut cx, 3),
        Scenario::HttpOddPort => odd_port(&mut cx, count(k, 3.0)),
        Scenario::NonHttpPort80 => non_http80(&mut cx, count(k, 2.0)),
        Scenario::Mixed => {
            resets(&mut cx, count(k, 6.0));
            retransmissions(&mut cx, count(k, 2.0));
            dns_failures(
                &mut cx,
                count(k, 3.0),
                count(k, 2.0),
                count(k, 1.0),
                count(k, 1.0),
            );
            http_errors(&mut cx, count(k, 3.0), count(k, 2.0), count(k, 1.0));
            port_scan(&mut cx, scan_ports(20, 50));
            long_lived(&mut cx, long_dur);
            blocklisted(&mut cx, 2);
            odd_port(&mut cx, count(k, 2.0));
            non_http80(&mut cx, count(k, 1.0));
        }
    }
    let mut faults = std::mem::take(&mut cx.out);
    faults.sort_by_key(|(s, _)| *s);
    let fault_packets: u64 = faults.iter().map(|(_, f)| f.planned).sum();
    let fixed = o
        .flows
        .map(|f| (f, (o.packets.saturating_sub(fault_packets) / f).max(1)));
    let bg = Background {
        seed: o.seed,
        arrivals: Rng::derive(o.seed, 2, 0),
        next: t0 + 10 * MS,
        idx: 0,
        fixed,
        flow_heavy: flow_heavy && o.flows.is_none(),
        mean_ia,
        stopped: false,
        date,
    };
    Plan {
        world: w,
        faults: faults.into(),
        bg,
    }
}
