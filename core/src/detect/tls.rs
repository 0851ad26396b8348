//! TLS: ClientHello SNI, ALPN and version; alerts (level and description;
//! encrypted alerts count without a description, as tshark); handshakes that
//! never complete.
//!
//! Records are followed per direction across segments (bounded); alert
//! frames are counted once per frame like tshark's `tls.alert_message`.

use super::stream::{HalfStream, Step};
use super::{Counted, DetectConfig, Detector, Evidence, Failures, PacketCtx};
use crate::decode::app::looks_like_tls;
use crate::decode::tls::{
    alert_name, parse_client_hello, version_name, RecordHeader, CONTENT_ALERT,
    CONTENT_APPLICATION_DATA, CONTENT_CHANGE_CIPHER_SPEC, CONTENT_HANDSHAKE,
};
use crate::decode::Transport;
use crate::flow::{Flow, FxHashMap};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// tshark 4.0's default TCP ports for TLS (`tshark -G decodes`).
pub const TLS_PORTS: &[u16] = &[
    324, 443, 465, 636, 802, 853, 993, 995, 1300, 2221, 2443, 3249, 3250, 3251, 3252, 3496, 5061,
    5671, 5684, 5868, 8883, 11207, 19999, 27017,
];

#[derive(Clone, Debug, PartialEq)]
pub struct TlsConfig {
    /// Longest handshake/alert record reassembled across segments.
    pub max_record_bytes: usize,
    /// Most distinct names kept in the SNI/ALPN tables.
    pub max_names: usize,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            max_record_bytes: 18_437,
            max_names: 10_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TlsAlert {
    #[serde(flatten)]
    pub evidence: Evidence,
    /// "client" or "server" (who sent the alert).
    pub from: String,
    /// 1 warning, 2 fatal; absent when encrypted.
    pub level: Option<u8>,
    pub description: Option<u8>,
    pub description_name: Option<String>,
    pub encrypted: bool,
    pub sni: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TlsIncomplete {
    #[serde(flatten)]
    pub evidence: Evidence,
    pub sni: Option<String>,
    /// How far it got: "client_hello", "server_hello", "alert".
    pub stage: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct TlsReport {
    pub client_hellos: u64,
    pub server_names: BTreeMap<String, u64>,
    pub alpn: BTreeMap<String, u64>,
    /// Highest version offered by each ClientHello.
    pub versions: BTreeMap<String, u64>,
    /// Alert records (one per record).
    pub alerts: Counted<TlsAlert>,
    /// Frames holding at least one alert (tshark's `tls.alert_message` count).
    pub alert_frames: u64,
    /// `"<desc>:<name>"` → alerts (plaintext alerts only).
    pub alert_descriptions: BTreeMap<String, u64>,
    pub encrypted_alerts: u64,
    /// Connections with a ClientHello whose handshake never completed.
    pub incomplete_handshakes: Counted<TlsIncomplete>,
}

#[derive(Default)]
struct Conn {
    streams: [HalfStream; 2],
    ccs: [bool; 2],
    app_data: [bool; 2],
    hello: Option<(u64, i64, Box<str>)>,
    sni: Option<Box<str>>,
    server_hello: bool,
    alerted: bool,
}

pub struct TlsDetector {
    cfg: TlsConfig,
    cap: usize,
    report: TlsReport,
    conns: FxHashMap<u64, Conn>,
    last_alert_frame: u64,
}

enum Ev {
    Hello {
        sni: Option<String>,
        alpn: Vec<String>,
        version: u16,
    },
    ServerHello,
    Ccs,
    AppData,
    Alert {
        level: Option<u8>,
        desc: Option<u8>,
    },
}

fn bump(map: &mut BTreeMap<String, u64>, key: String, max: usize) {
    if map.len() < max || map.contains_key(&key) {
        *map.entry(key).or_default() += 1;
    }
}

impl TlsDetector {
    pub fn new(cfg: &DetectConfig) -> Self {
        TlsDetector {
            cfg: cfg.tls.clone(),
            cap: cfg.max_instances,
            report: TlsReport::default(),
            conns: FxHashMap::default(),
            last_alert_frame: 0,
        }
    }

    fn end_conn(&mut self, c: Conn) {
        let complete = (c.ccs[0] && c.ccs[1]) || (c.app_data[0] && c.app_data[1]);
        if let (Some((frame, ts, cid)), false) = (&c.hello, complete) {
            let stage = if c.alerted {
                "alert"
            } else if c.server_hello {
                "server_hello"
            } else {
                "client_hello"
            };
            self.report
                .incomplete_handshakes
                .add(self.cap, || TlsIncomplete {
                    evidence: Evidence::new(*frame, *ts, cid),
                    sni: c.sni.as_ref().map(|s| s.to_string()),
                    stage: stage.to_string(),
                });
        }
    }
}

impl Detector for TlsDetector {
    fn on_packet(&mut self, ctx: &PacketCtx<'_, '_>) {
        let Some(inner) = ctx.packet.inner() else {
            return;
        };
        let Transport::Tcp(t) = &inner.transport else {
            return;
        };
        let Some(f) = ctx.flow.as_ref() else {
            return;
        };
        let id = f.flow.id;
        if let std::collections::hash_map::Entry::Vacant(e) = self.conns.entry(id) {
            let by_port = TLS_PORTS.contains(&t.src_port) || TLS_PORTS.contains(&t.dst_port);
            // Off the port table, only a ClientHello at the segment start makes it
            // TLS (tshark has no TCP heuristic for TLS; a conversation that starts
            // with a hello is still worth reporting).
            let hello =
                looks_like_tls(t.payload) && t.payload[0] == 22 && t.payload.get(5) == Some(&1);
            if !by_port && !hello {
                return;
            }
            e.insert(Conn::default());
        }
        if t.payload_len == 0 {
            return;
        }
        let dir = usize::from(!f.from_orig);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut evs: Vec<Ev> = Vec::new();
        let encrypted_dir = conn.ccs[dir];
        let max = self.cfg.max_record_bytes;
        conn.streams[dir].feed(t, max, |b| {
            let Some(h) = RecordHeader::parse(b) else {
                return Step::Desync;
            };
            let total = h.total_len();
            let parsed = matches!(h.content_type, CONTENT_ALERT | CONTENT_HANDSHAKE);
            if parsed && b.len() < total {
                return Step::NeedMore;
            }
            match h.content_type {
                CONTENT_ALERT => {
                    let body = &b[5..total];
                    // Plaintext alerts are 2 bytes (level 1 or 2) before ChangeCipherSpec.
                    let plain = !encrypted_dir && body.len() == 2 && matches!(body[0], 1 | 2);
                    evs.push(if plain {
                        Ev::Alert {
                            level: Some(body[0]),
                            desc: Some(body[1]),
                        }
                    } else {
                        Ev::Alert {
                            level: None,
                            desc: None,
                        }
                    });
                }
                CONTENT_HANDSHAKE if !encrypted_dir => {
                    let body = &b[5..total];
                    match body.first() {
                        Some(1) => {
                            if let Some(hello) = parse_client_hello(body) {
                                let s = |r: std::ops::Range<usize>| {
                                    String::from_utf8_lossy(&body[r]).into_owned()
                                };
                                evs.push(Ev::Hello {
                                    sni: hello.sni.clone().map(s),
                                    alpn: hello.alpn.iter().cloned().map(s).collect(),
                                    version: hello.max_supported_version.unwrap_or(hello.version),
                                });
                            }
                        }
                        Some(2) => evs.push(Ev::ServerHello),
                        _ => {}
                    }
                }
                CONTENT_CHANGE_CIPHER_SPEC => evs.push(Ev::Ccs),
                CONTENT_APPLICATION_DATA => evs.push(Ev::AppData),
                _ => {}
            }
            Step::Skip(total as u64)
        });
        let from = if f.from_orig { "client" } else { "server" };
        for ev in evs {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            match ev {
                Ev::Hello { sni, alpn, version } => {
                    self.report.client_hellos += 1;
                    conn.hello = Some((ctx.frame(), ctx.ts(), ctx.community_id().into()));
                    conn.sni = sni.clone().map(Into::into);
                    let max = self.cfg.max_names;
                    if let Some(s) = sni {
                        bump(&mut self.report.server_names, s, max);
                    }
                    for a in alpn {
                        bump(&mut self.report.alpn, a, max);
                    }
                    bump(&mut self.report.versions, version_name(version).into(), max);
                }
                Ev::ServerHello => conn.server_hello = true,
                Ev::Ccs => conn.ccs[dir] = true,
                Ev::AppData => conn.app_data[dir] = true,
                Ev::Alert { level, desc } => {
                    conn.alerted = true;
                    let sni = conn.sni.as_ref().map(|s| s.to_string());
                    if self.last_alert_frame != ctx.frame() {
                        self.last_alert_frame = ctx.frame();
                        self.report.alert_frames += 1;
                    }
                    match desc {
                        Some(d) => {
                            *self
                                .report
                                .alert_descriptions
                                .entry(format!("{d}:{}", alert_name(d)))
                                .or_default() += 1
                        }
                        None => self.report.encrypted_alerts += 1,
                    }
                    self.report.alerts.add(self.cap, || TlsAlert {
                        evidence: Evidence::new(ctx.frame(), ctx.ts(), ctx.community_id()),
                        from: from.to_string(),
                        level,
                        description: desc,
                        description_name: desc.map(|d| alert_name(d).to_string()),
                        encrypted: desc.is_none(),
                        sni,
                    });
                }
            }
        }
    }

    fn on_flow_end(&mut self, flow: &Flow) {
        if let Some(c) = self.conns.remove(&flow.id) {
            self.end_conn(c);
        }
    }

    fn finish(&mut self, out: &mut Failures) {
        let mut ids: Vec<u64> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            if let Some(c) = self.conns.remove(&id) {
                self.end_conn(c);
            }
        }
        out.tls = std::mem::take(&mut self.report);
    }
}
