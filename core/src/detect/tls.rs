//! TLS: ClientHello SNI, ALPN and version; alerts (level and description;
//! encrypted alerts count without a description, as tshark); handshakes that
//! never complete.
//!
//! Records are followed per direction across segments (bounded); alert
//! frames are counted once per frame like tshark's `tls.alert_message`.

use super::stream::{HalfStream, Step};
use super::{Counted, DetectConfig, Detector, Evidence, Failures, PacketCtx, Segment};
use crate::decode::app::looks_like_tls;
use crate::decode::tls::{
    alert_name, parse_client_hello, version_name, RecordHeader, CONTENT_ALERT,
    CONTENT_APPLICATION_DATA, CONTENT_CHANGE_CIPHER_SPEC, CONTENT_HANDSHAKE,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// tshark 4.0's default TCP ports for TLS (`tshark -G decodes`).
pub const TLS_PORTS: &[u16] = &[
    324, 443, 465, 636, 802, 853, 993, 995, 1300, 2221, 2443, 3249, 3250, 3251, 3252, 3496, 5061,
    5671, 5684, 5868, 8883, 11207, 19999, 27017,
];

/// `TLS_PORTS.contains(&p)` as a jump table: it runs for every TCP segment.
pub fn is_tls_port(p: u16) -> bool {
    matches!(
        p,
        324 | 443
            | 465
            | 636
            | 802
            | 853
            | 993
            | 995
            | 1300
            | 2221
            | 2443
            | 3249
            | 3250
            | 3251
            | 3252
            | 3496
            | 5061
            | 5671
            | 5684
            | 5868
            | 8883
            | 11207
            | 19999
            | 27017
    )
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
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

#[derive(Clone, Default)]
pub(crate) struct Conn {
    streams: [HalfStream; 2],
    ccs: [bool; 2],
    app_data: [bool; 2],
    hello: Option<super::Moment>,
    sni: Option<Box<str>>,
    server_hello: bool,
    alerted: bool,
}

#[derive(Clone)]
pub struct TlsDetector {
    /// What this detector decided, for the engine's events.
    out: super::outbox::Outbox,
    cfg: TlsConfig,
    cap: usize,
    report: TlsReport,
    last_alert_frame: u64,
    /// With a blocklist: SNIs of the ClientHellos the current segment
    /// completed (reassembled), for the blocklist to match.
    pub(crate) collect_sni: bool,
    pub(crate) segment_snis: Vec<Box<str>>,
}

/// What a record changes on its connection, applied once the segment is read.
enum Ev {
    /// A ClientHello (already counted in the report).
    Hello {
        sni: Option<Box<str>>,
    },
    ServerHello,
    Ccs,
    Alert {
        level: Option<u8>,
        desc: Option<u8>,
    },
}

/// Count `key` in a table of at most `max` names (allocating only for a new one).
fn bump(map: &mut BTreeMap<String, u64>, key: &str, max: usize) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else if map.len() < max {
        map.insert(key.to_owned(), 1);
    }
}

/// Count a ClientHello handshake message (`msg` starts at its 4-byte
/// header) in the report, reading the names in place; returns its SNI, or
/// None when it does not parse as a ClientHello.
fn count_client_hello(
    report: &mut TlsReport,
    max_names: usize,
    msg: &[u8],
) -> Option<Option<Box<str>>> {
    let hello = parse_client_hello(msg)?;
    let text = |r: &std::ops::Range<usize>| String::from_utf8_lossy(&msg[r.clone()]);
    let sni = hello.sni.as_ref().map(text);
    report.client_hellos += 1;
    if let Some(s) = &sni {
        bump(&mut report.server_names, s, max_names);
    }
    for a in &hello.alpn {
        bump(&mut report.alpn, &text(a), max_names);
    }
    let version = hello.max_supported_version.unwrap_or(hello.version);
    bump(&mut report.versions, version_name(version), max_names);
    Some(sni.map(|s| s.into()))
}

impl TlsDetector {
    /// ClientHellos read from QUIC Initial packets (whole handshake
    /// messages): counted like those over TCP; returns their SNIs.
    pub(crate) fn on_quic_hellos(&mut self, hellos: &[Vec<u8>]) -> Vec<Box<str>> {
        hellos
            .iter()
            .filter_map(|m| count_client_hello(&mut self.report, self.cfg.max_names, m))
            .flatten()
            .collect()
    }

    pub fn new(cfg: &DetectConfig) -> Self {
        TlsDetector {
            out: Default::default(),
            cfg: cfg.tls.clone(),
            cap: cfg.max_instances,
            report: TlsReport::default(),
            last_alert_frame: 0,
            collect_sni: !cfg.blocklist.entries.is_empty(),
            segment_snis: Vec::new(),
        }
    }

    /// The connection of a flow that ended, or was still open at the end.
    pub(crate) fn end_conn(&mut self, c: Conn) {
        let complete = (c.ccs[0] && c.ccs[1]) || (c.app_data[0] && c.app_data[1]);
        if let (Some(moment), false) = (&c.hello, complete) {
            let stage = if c.alerted {
                "alert"
            } else if c.server_hello {
                "server_hello"
            } else {
                "client_hello"
            };
            self.out.count(
                "tls.incomplete_handshakes",
                &mut self.report.incomplete_handshakes,
                self.cap,
                || TlsIncomplete {
                    evidence: Evidence::at(moment),
                    sni: c.sni.as_ref().map(|s| s.to_string()),
                    stage: stage.to_string(),
                },
            );
        }
    }
}

impl TlsDetector {
    /// A segment of a live TCP flow, with the flow's TLS state (None until
    /// the flow looks like TLS).
    /// Inlined: segments of flows that are not TLS, and empty ones, stop here.
    #[inline]
    pub(crate) fn on_segment(
        &mut self,
        ctx: &PacketCtx<'_, '_>,
        seg: &Segment<'_, '_>,
        conn: &mut Option<Box<Conn>>,
    ) {
        let t = seg.tcp;
        // Off the port table, only a ClientHello at the segment start makes it
        // TLS (tshark has no TCP heuristic for TLS; a conversation that starts
        // with a hello is still worth reporting).
        if conn.is_none()
            && (is_tls_port(t.src_port)
                || is_tls_port(t.dst_port)
                || (looks_like_tls(t.payload)
                    && t.payload[0] == 22
                    && t.payload.get(5) == Some(&1)))
        {
            *conn = Some(Box::default());
        }
        if let Some(conn) = conn.as_deref_mut() {
            if t.payload_len > 0 {
                self.read_records(ctx, seg, conn);
            }
        }
    }

    /// The records a segment completes, in order.
    fn read_records(&mut self, ctx: &PacketCtx<'_, '_>, seg: &Segment<'_, '_>, conn: &mut Conn) {
        let (f, t) = (seg.flow, seg.tcp);
        let dir = usize::from(!f.from_orig);
        let mut evs: Vec<Ev> = Vec::new();
        // Application data is by far the commonest record: a flag, not an event.
        let mut app_data = false;
        let encrypted_dir = conn.ccs[dir];
        let max = self.cfg.max_record_bytes;
        let max_names = self.cfg.max_names;
        let report = &mut self.report;
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
                            if let Some(sni) = count_client_hello(report, max_names, body) {
                                evs.push(Ev::Hello { sni });
                            }
                        }
                        Some(2) => evs.push(Ev::ServerHello),
                        _ => {}
                    }
                }
                CONTENT_CHANGE_CIPHER_SPEC => evs.push(Ev::Ccs),
                CONTENT_APPLICATION_DATA => app_data = true,
                _ => {}
            }
            Step::Skip(total as u64)
        });
        if app_data {
            conn.app_data[dir] = true;
        }
        let from = if f.from_orig { "client" } else { "server" };
        for ev in evs {
            match ev {
                Ev::Hello { sni } => {
                    conn.hello = Some((ctx.frame(), ctx.ts(), ctx.community_id_source()));
                    if let (true, Some(s)) = (self.collect_sni, &sni) {
                        self.segment_snis.push(s.clone());
                    }
                    conn.sni = sni;
                }
                Ev::ServerHello => conn.server_hello = true,
                Ev::Ccs => conn.ccs[dir] = true,
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
                    self.out
                        .count("tls.alerts", &mut self.report.alerts, self.cap, || {
                            TlsAlert {
                                evidence: Evidence::new(ctx.frame(), ctx.ts(), &ctx.community_id()),
                                from: from.to_string(),
                                level,
                                description: desc,
                                description_name: desc.map(|d| alert_name(d).to_string()),
                                encrypted: desc.is_none(),
                                sni,
                            }
                        });
                }
            }
        }
    }
}

impl Detector for TlsDetector {
    fn outbox(&mut self) -> Option<&mut super::outbox::Outbox> {
        Some(&mut self.out)
    }

    fn finish(&mut self, out: &mut Failures) {
        out.tls = std::mem::take(&mut self.report);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testpcap::*;

    fn hello(sni: &str) -> Vec<u8> {
        client_hello(sni, &["h2"])
    }

    #[test]
    fn hello_alert_and_incomplete_handshake() {
        let h = hello("bad.example");
        let (a, b) = h.split_at(30);
        let mut p = Pcap::new();
        p.push(0, &tcp(C, 7000, S, 443, 1, 0, 0x02, &[]));
        p.push(1, &tcp(S, 443, C, 7000, 10, 2, 0x12, &[]));
        // The ClientHello is split across two segments.
        p.push(2, &tcp(C, 7000, S, 443, 2, 11, 0x18, a));
        p.push(3, &tcp(C, 7000, S, 443, 2 + a.len() as u32, 11, 0x18, b));
        // Fatal unrecognized_name alert from the server.
        p.push(
            4,
            &tcp(
                S,
                443,
                C,
                7000,
                11,
                2 + h.len() as u32,
                0x18,
                &[21, 3, 3, 0, 2, 2, 112],
            ),
        );
        // A connection on port 443 that completes (both sides send application data).
        p.push(5, &tcp(C, 7001, S, 443, 1, 1, 0x18, &hello("ok.example")));
        p.push(6, &tcp(S, 443, C, 7001, 1, 200, 0x18, &[23, 3, 3, 0, 1, 0]));
        p.push(7, &tcp(C, 7001, S, 443, 200, 7, 0x18, &[23, 3, 3, 0, 1, 0]));
        // An encrypted alert (after ChangeCipherSpec) on the second connection.
        p.push(
            8,
            &tcp(
                C,
                7001,
                S,
                443,
                206,
                7,
                0x18,
                &[20, 3, 3, 0, 1, 1, 21, 3, 3, 0, 26],
            ),
        );
        let f = p.failures().tls;
        assert_eq!(f.client_hellos, 2);
        assert_eq!(f.server_names.get("bad.example"), Some(&1));
        assert_eq!(f.alpn.get("h2"), Some(&2));
        assert_eq!(f.versions.get("TLS 1.2"), Some(&2));
        assert_eq!(
            f.alert_frames, 1,
            "the cut encrypted alert record is not complete"
        );
        let al = &f.alerts.instances[0];
        assert_eq!((al.level, al.description), (Some(2), Some(112)));
        assert_eq!(al.sni.as_deref(), Some("bad.example"));
        assert_eq!(f.alert_descriptions.get("112:unrecognized_name"), Some(&1));
        assert_eq!(f.incomplete_handshakes.total, 1);
        assert_eq!(f.incomplete_handshakes.instances[0].stage, "alert");
        assert_eq!(f.incomplete_handshakes.instances[0].evidence.frame, 4);
    }

    #[test]
    fn encrypted_alert_counts_without_description() {
        let mut alert = vec![20, 3, 3, 0, 1, 1, 21, 3, 3, 0, 26];
        alert.extend_from_slice(&[0xAB; 26]);
        let mut p = Pcap::new();
        p.push(0, &tcp(C, 7002, S, 993, 1, 1, 0x18, &alert));
        let f = p.failures().tls;
        assert_eq!((f.alert_frames, f.encrypted_alerts), (1, 1));
        assert_eq!(f.alerts.instances[0].description, None);
        assert!(f.alert_descriptions.is_empty());
    }
}

#[cfg(test)]
mod port_table_tests {
    #[test]
    fn jump_table_equals_the_list() {
        for p in 0..=u16::MAX {
            assert_eq!(super::is_tls_port(p), super::TLS_PORTS.contains(&p), "{p}");
        }
    }
}
