//! The packets of one flow, picked out of a capture by Community ID: the
//! per-packet summary behind a flow's detail (the web page asks its worker,
//! which still holds the file). Push-based like the analyzer, so the caller
//! feeds the capture in chunks of any size; memory is bounded by `max`.
//!
//! A packet belongs to the flow when the Community ID of its innermost IP
//! layer's 5-tuple is the flow's. IP fragments after the first carry no
//! ports and are not listed.

use crate::capture::{Event, Reader};
use crate::decode::{self, Transport};
use crate::flow::community_id::community_id_v1_inline;
use crate::time::ts_secs;
use serde::{Deserialize, Serialize};

/// One packet of the flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowPacket {
    /// 1-based frame number, as Wireshark counts.
    pub frame: u64,
    /// Seconds since the Unix epoch.
    pub ts: f64,
    pub src: String,
    pub src_port: Option<u16>,
    pub dst: String,
    pub dst_port: Option<u16>,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// TCP flags by name (`SYN,ACK`), TCP only.
    pub tcp_flags: Option<String>,
    pub seq: Option<u32>,
    pub ack: Option<u32>,
    pub window: Option<u16>,
    /// Transport payload length on the wire (ICMP: the body after the header).
    pub payload_len: u32,
}

/// The flow's packets, the first `max` of them, and how many there were.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowPackets {
    pub community_id: String,
    pub packets: Vec<FlowPacket>,
    /// Every packet of the flow in the capture (also those past `max`).
    pub total: u64,
    /// The capture could not be read to its end: what was before the error
    /// is listed.
    pub error: Option<String>,
}

/// Picks the packets of one flow out of a capture fed in chunks.
pub struct FlowPacketScan {
    reader: Reader,
    max: usize,
    out: FlowPackets,
}

impl FlowPacketScan {
    /// `community_id`: the flow's Community ID v1 (seed 0); `max`: the most
    /// packets listed (the rest only counted).
    pub fn new(community_id: &str, max: usize) -> Self {
        FlowPacketScan {
            reader: Reader::new(),
            max,
            out: FlowPackets {
                community_id: community_id.to_string(),
                ..Default::default()
            },
        }
    }

    /// Feed the next chunk; false once the capture cannot be read further
    /// (the error is kept for [`FlowPacketScan::finish`]).
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        let (max, out) = (self.max, &mut self.out);
        let result = self.reader.push(chunk, &mut |ev| {
            if let Event::Record(rec) = ev {
                if let Some(p) = packet_of(
                    rec.frame,
                    rec.ts_nanos,
                    rec.link_type,
                    rec.orig_len,
                    rec.data,
                    &out.community_id,
                ) {
                    out.total += 1;
                    if out.packets.len() < max {
                        out.packets.push(p);
                    }
                }
            }
        });
        if let Err(e) = result {
            self.out.error.get_or_insert_with(|| e.to_string());
            return false;
        }
        true
    }

    /// The packets found (a capture cut short says so in `error`).
    pub fn finish(mut self) -> FlowPackets {
        if self.out.error.is_none() {
            if let Err(e) = self.reader.finish() {
                self.out.error = Some(e.to_string());
            }
        }
        self.out
    }
}

/// The packets of flow `community_id` in a whole capture.
pub fn flow_packets(capture: &[u8], community_id: &str, max: usize) -> FlowPackets {
    let mut scan = FlowPacketScan::new(community_id, max);
    scan.feed(capture);
    scan.finish()
}

fn packet_of(
    frame: u64,
    ts_nanos: i64,
    link_type: u32,
    wire_len: u32,
    data: &[u8],
    want: &str,
) -> Option<FlowPacket> {
    let pkt = decode::decode(link_type, data);
    let ip = pkt.ip.last()?;
    let (ports, tcp, payload_len) = match &ip.transport {
        Transport::Tcp(t) => (Some((t.src_port, t.dst_port)), Some(t), t.payload_len),
        Transport::Udp(u) => (Some((u.src_port, u.dst_port)), None, u.payload_len),
        Transport::Icmp(i) => (
            Some((i.icmp_type as u16, i.code as u16)),
            None,
            i.body.len() as u32,
        ),
        Transport::Other { payload } => (None, None, payload.len() as u32),
        Transport::Truncated => return None,
    };
    if community_id_v1_inline(0, ip.src, ip.dst, ip.proto, ports).as_str() != want {
        return None;
    }
    let has_ports = matches!(ip.transport, Transport::Tcp(_) | Transport::Udp(_));
    Some(FlowPacket {
        frame,
        ts: ts_secs(ts_nanos),
        src: ip.src.to_string(),
        src_port: ports.filter(|_| has_ports).map(|p| p.0),
        dst: ip.dst.to_string(),
        dst_port: ports.filter(|_| has_ports).map(|p| p.1),
        wire_len,
        tcp_flags: tcp.map(|t| flag_names(t.flags)),
        seq: tcp.map(|t| t.seq),
        ack: tcp.map(|t| t.ack),
        window: tcp.map(|t| t.window),
        payload_len,
    })
}

fn flag_names(flags: u8) -> String {
    const NAMES: [(u8, &str); 8] = [
        (0x02, "SYN"),
        (0x10, "ACK"),
        (0x01, "FIN"),
        (0x04, "RST"),
        (0x08, "PSH"),
        (0x20, "URG"),
        (0x40, "ECE"),
        (0x80, "CWR"),
    ];
    let names: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    names.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{analyze_bytes, AnalyzerConfig};

    /// Every flow of a generated capture lists exactly its packets: the
    /// counts and first/last frames the report gives, in chunks or whole.
    #[test]
    fn each_flow_lists_the_packets_the_report_counts() {
        let bytes = crate::generate::generate(
            crate::generate::Scenario::Mixed,
            &crate::generate::GenerateOptions {
                packets: 1500,
                seed: 3,
                ..Default::default()
            },
        )
        .unwrap()
        .bytes;
        let report = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
        assert!(report.flows.len() > 20);
        for f in report.flows.iter().filter(|f| f.transport != "icmp") {
            let got = flow_packets(&bytes, &f.community_id, 5);
            assert_eq!(
                got.total,
                f.orig_packets + f.resp_packets,
                "{}",
                f.community_id
            );
            assert!(got.error.is_none());
            let first = &got.packets[0];
            assert_eq!(first.frame, f.first_frame);
            assert_eq!(got.packets.len() as u64, got.total.min(5));
            let mut scan = FlowPacketScan::new(&f.community_id, 5);
            for c in bytes.chunks(97) {
                assert!(scan.feed(c));
            }
            assert_eq!(scan.finish(), got);
        }
    }

    #[test]
    fn a_capture_cut_short_lists_what_came_before_and_says_why() {
        let bytes = crate::generate::generate(
            crate::generate::Scenario::Mixed,
            &crate::generate::GenerateOptions {
                packets: 300,
                seed: 3,
                ..Default::default()
            },
        )
        .unwrap()
        .bytes;
        let report = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
        let f = &report.flows[0];
        let cut = &bytes[..bytes.len() - 7];
        let got = flow_packets(cut, &f.community_id, 1000);
        assert!(got.error.is_some());
        assert!(got.total >= 1);
        assert!(flow_packets(b"not a capture", &f.community_id, 10)
            .error
            .is_some());
    }
}
