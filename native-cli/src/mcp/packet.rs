//! `get_packet`: one frame, found by number and decoded layer by layer with
//! the core's decoder. Payload bytes are never returned: only header fields
//! and the application protocol's few identifying facts (masked as elsewhere).

use super::mask::Masker;
use pcaplens_core::capture::{Event, Reader};
use pcaplens_core::decode::{self, dns, http, link::link_type_name, tcp_flags, Transport};
use pcaplens_core::flow::community_id_v1;
use pcaplens_core::time::{rfc3339, ts_secs};
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::Path;

/// The frame `number` (1-based) of the capture, as it was captured.
pub struct Frame {
    pub number: u64,
    pub ts_nanos: i64,
    pub link_type: u32,
    pub orig_len: u32,
    pub data: Vec<u8>,
}

/// Read the capture up to frame `number`. `Ok(None)`: the capture has fewer
/// frames (the count is returned in the error text by the caller).
pub fn find_frame(path: &Path, number: u64) -> Result<Result<Frame, u64>, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut reader = Reader::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut found: Option<Frame> = None;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading: {e}")),
        };
        let pushed = reader.push(&buf[..n], &mut |ev: Event<'_>| {
            if let Event::Record(r) = ev {
                if r.frame == number && found.is_none() {
                    found = Some(Frame {
                        number,
                        ts_nanos: r.ts_nanos,
                        link_type: r.link_type,
                        orig_len: r.orig_len,
                        data: r.data.to_vec(),
                    });
                }
            }
        });
        if found.is_some() {
            break;
        }
        if let Err(e) = pushed {
            // The capture is damaged before the frame: say where and why.
            return Err(format!(
                "reading stopped after {} frames, before frame {number}: {e}",
                reader.frames()
            ));
        }
    }
    Ok(found.ok_or(reader.frames()))
}

/// The frame's layers, outermost first, each `{"layer": name, ...fields}`.
pub fn layers(frame: &Frame, m: &mut Masker) -> (Vec<Value>, Option<String>) {
    let pkt = decode::decode(frame.link_type, &frame.data);
    let mut out = Vec::new();
    let mut link = Map::new();
    link.insert("layer".into(), "link".into());
    link.insert("link_type".into(), frame.link_type.into());
    link.insert("name".into(), link_type_name(frame.link_type).into());
    link.insert("decoded".into(), pkt.link_decoded.into());
    if let Some(s) = pkt.eth_src {
        link.insert("src_mac".into(), m.mac(s).into());
    }
    if let Some(d) = pkt.eth_dst {
        link.insert("dst_mac".into(), m.mac(d).into());
    }
    if !pkt.vlan_ids.is_empty() {
        link.insert("vlan_ids".into(), json!(pkt.vlan_ids.to_vec()));
    }
    out.push(Value::Object(link));
    let mut cid = None;
    let count = pkt.ip.len();
    for (i, ip) in pkt.ip.iter().enumerate() {
        let (src, dst) = (m.ip(ip.src), m.ip(ip.dst));
        let mut l = json!({
            "layer": if ip.src.is_ipv4() { "ipv4" } else { "ipv6" },
            "src": src.to_string(),
            "dst": dst.to_string(),
            "protocol": ip.proto,
            "ttl": ip.ttl,
            "total_len": ip.total_len,
            "offset": ip.offset,
        });
        if let Some(fr) = ip.fragment {
            l["fragment"] = json!({"id": fr.id, "offset": fr.offset, "more": fr.more});
        }
        out.push(l);
        let innermost = i + 1 == count;
        let t = match ip.transport {
            Transport::Tcp(t) => {
                let flags: String = [
                    (tcp_flags::SYN, 'S'),
                    (tcp_flags::ACK, 'A'),
                    (tcp_flags::FIN, 'F'),
                    (tcp_flags::RST, 'R'),
                    (tcp_flags::PSH, 'P'),
                    (tcp_flags::URG, 'U'),
                    (tcp_flags::ECE, 'E'),
                    (tcp_flags::CWR, 'C'),
                ]
                .iter()
                .filter(|(b, _)| t.flags & b != 0)
                .map(|(_, c)| *c)
                .collect();
                if innermost {
                    cid = Some(community_id_v1(
                        0,
                        src,
                        dst,
                        6,
                        Some((t.src_port, t.dst_port)),
                    ));
                }
                let o = t.parsed_options();
                json!({"layer": "tcp", "src_port": t.src_port, "dst_port": t.dst_port,
                    "seq": t.seq, "ack": t.ack, "flags": flags, "window": t.window,
                    "header_len": t.header_len, "payload_len": t.payload_len,
                    "mss": o.mss, "window_scale": o.window_scale, "sack_permitted": o.sack_permitted})
            }
            Transport::Udp(u) => {
                if innermost {
                    cid = Some(community_id_v1(
                        0,
                        src,
                        dst,
                        17,
                        Some((u.src_port, u.dst_port)),
                    ));
                }
                json!({"layer": "udp", "src_port": u.src_port, "dst_port": u.dst_port,
                    "payload_len": u.payload_len})
            }
            Transport::Icmp(c) => {
                if innermost {
                    let proto = if c.v6 { 58 } else { 1 };
                    cid = Some(community_id_v1(
                        0,
                        src,
                        dst,
                        proto,
                        Some((c.icmp_type as u16, c.code as u16)),
                    ));
                }
                json!({"layer": if c.v6 { "icmpv6" } else { "icmp" }, "type": c.icmp_type,
                    "code": c.code, "error": c.is_error()})
            }
            Transport::Other { payload } => {
                json!({"layer": "ip-payload", "protocol": ip.proto, "captured_len": payload.len()})
            }
            Transport::Truncated => {
                json!({"layer": "truncated", "note": "transport header cut short"})
            }
        };
        out.push(t);
        if innermost {
            if let Some(app) = pkt.app {
                out.push(app_layer(app, &ip.transport, m));
            }
        }
    }
    if let Some(what) = pkt.malformed {
        out.push(json!({"layer": "malformed", "where": what}));
    }
    (out, cid)
}

fn app_layer(app: decode::AppProto, t: &Transport<'_>, m: &mut Masker) -> Value {
    let payload = match t {
        Transport::Tcp(t) => t.payload,
        Transport::Udp(u) => u.payload,
        _ => &[],
    };
    let mut l = json!({"layer": app.name()});
    match app {
        decode::AppProto::Dns | decode::AppProto::Mdns | decode::AppProto::Llmnr => {
            if let Some(msg) = dns::Message::parse(payload) {
                l["response"] = msg.header.is_response().into();
                l["rcode"] = msg.header.rcode().into();
                l["rcode_name"] = dns::rcode_name(msg.header.rcode()).into();
                if let Some(q) = msg.question() {
                    let name = msg.name(q.name_offset);
                    l["qname"] = pcaplens_core::evidence::wire(&m.name(&name)).into();
                    l["qtype"] = q.qtype.into();
                }
            }
        }
        decode::AppProto::Http => {
            if let Some(h) = http::parse_head(payload) {
                let text = |r: &std::ops::Range<usize>| {
                    String::from_utf8_lossy(payload.get(r.clone()).unwrap_or_default()).into_owned()
                };
                match &h.start {
                    http::StartLine::Request { method, .. } => {
                        // The method is a protocol word; the URI and Host
                        // are the client's and are masked.
                        l["method"] = pcaplens_core::evidence::wire(&text(method)).into();
                        if let Some(host) = &h.host {
                            l["host"] = pcaplens_core::evidence::wire(&m.name(&text(host))).into();
                        }
                    }
                    http::StartLine::Response { code, .. } => {
                        l["status"] = (*code).into();
                    }
                }
            }
        }
        _ => {}
    }
    l
}

/// The frame as a JSON object (for `get_packet`).
pub fn describe(frame: &Frame, m: &mut Masker) -> Value {
    let (layers, cid) = layers(frame, m);
    let ts = ts_secs(frame.ts_nanos);
    json!({
        "frame": frame.number,
        "ts": ts,
        "time": rfc3339(frame.ts_nanos),
        "orig_len": frame.orig_len,
        "captured_len": frame.data.len(),
        "community_id": cid,
        "layers": layers,
    })
}
