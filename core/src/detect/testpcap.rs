//! Hand-built captures for detector unit tests (raw-IP pcap, LINKTYPE 101).

use super::{DetectConfig, Failures};
use crate::{analyze_bytes, AnalyzerConfig};

pub const C: [u8; 4] = [10, 0, 0, 1];
pub const S: [u8; 4] = [10, 0, 0, 2];
pub const R: [u8; 4] = [10, 0, 0, 254];

pub struct Pcap {
    buf: Vec<u8>,
}

impl Pcap {
    pub fn new() -> Self {
        let mut buf = Vec::new();
        buf.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&[0; 8]);
        buf.extend_from_slice(&65535u32.to_le_bytes());
        buf.extend_from_slice(&101u32.to_le_bytes());
        Pcap { buf }
    }

    /// Append one packet at `ms` milliseconds after time 1000 s.
    pub fn push(&mut self, ms: u64, ip: &[u8]) -> &mut Self {
        let us = 1_000_000_000 + ms * 1000;
        self.buf
            .extend_from_slice(&((us / 1_000_000) as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&((us % 1_000_000) as u32).to_le_bytes());
        self.buf.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(ip);
        self
    }

    /// The capture's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn failures(&self) -> Failures {
        self.failures_with(DetectConfig::default())
    }

    /// The whole report (for findings and flows).
    pub fn report(&self) -> crate::report::Report {
        analyze_bytes(&self.buf, AnalyzerConfig::default()).expect("config")
    }

    pub fn failures_with(&self, detect: DetectConfig) -> Failures {
        let cfg = AnalyzerConfig {
            detect,
            ..Default::default()
        };
        analyze_bytes(&self.buf, cfg).expect("config").failures
    }
    pub fn findings_with(&self, detect: DetectConfig) -> crate::detect::Findings {
        let cfg = AnalyzerConfig {
            detect,
            ..Default::default()
        };
        analyze_bytes(&self.buf, cfg).expect("config").findings
    }
}

pub fn ipv4_frag(src: [u8; 4], dst: [u8; 4], proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&len.to_be_bytes());
    p.extend_from_slice(&[0x12, 0x34]);
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_frag(src, dst, proto, 0, payload)
}

pub fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    ipv4(src, dst, 17, &u)
}

#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    ipv4(src, dst, 6, &t)
}

/// A DNS message with one question.
pub fn dns(id: u16, flags: u16, name: &str) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// A TLS record holding a ClientHello with SNI `sni` and, when `alpn` is
/// not empty, an ALPN extension offering those protocols.
pub fn client_hello(sni: &str, alpn: &[&str]) -> Vec<u8> {
    let n = sni.len() as u16;
    let mut ext = vec![0, 0];
    ext.extend_from_slice(&(n + 5).to_be_bytes());
    ext.extend_from_slice(&(n + 3).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&n.to_be_bytes());
    ext.extend_from_slice(sni.as_bytes());
    if !alpn.is_empty() {
        let list: Vec<u8> = alpn
            .iter()
            .flat_map(|p| std::iter::once(p.len() as u8).chain(p.bytes()))
            .collect();
        ext.extend_from_slice(&[0, 16]);
        ext.extend_from_slice(&(list.len() as u16 + 2).to_be_bytes());
        ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
        ext.extend_from_slice(&list);
    }
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0u8; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A client Initial of `version` protected as a real client does it
/// (keys from `dcid`, 2-byte packet number, padded to 1200 bytes),
/// carrying `frames`.
pub fn quic_client_initial(version: u32, dcid: &[u8], pn: u64, frames: &[u8]) -> Vec<u8> {
    quic_initial(version, dcid, dcid, false, pn, frames)
}

/// An Initial with the keys of `keys_dcid` (the client's first DCID), of
/// the client or the `server`, its header carrying `header_dcid`.
pub fn quic_initial(
    version: u32,
    keys_dcid: &[u8],
    header_dcid: &[u8],
    server: bool,
    pn: u64,
    frames: &[u8],
) -> Vec<u8> {
    use crate::decode::quic_crypto::{initial_candidates, PacketKeys, TAG_LEN};
    let (salt, prefix) = initial_candidates(version)[0];
    let keys = PacketKeys::initial(salt, prefix, keys_dcid, server).unwrap();
    let ty = if version == 0x6b33_43cf { 1 } else { 0 };
    let mut pkt = vec![0xc0 | (ty << 4) | 1];
    pkt.extend_from_slice(&version.to_be_bytes());
    pkt.push(header_dcid.len() as u8);
    pkt.extend_from_slice(header_dcid);
    pkt.extend_from_slice(&[0, 0]); // no SCID, no token
    let mut body = frames.to_vec();
    body.resize(1100, 0); // PADDING
    let len = 2 + body.len() + TAG_LEN;
    pkt.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    let pn_off = pkt.len();
    pkt.extend_from_slice(&(pn as u16).to_be_bytes());
    let tag = keys.seal(pn, &pkt, &mut body).unwrap();
    pkt.extend_from_slice(&body);
    pkt.extend_from_slice(&tag);
    let mask = keys.mask(&pkt[pn_off + 4..pn_off + 20]).unwrap();
    pkt[0] ^= mask[0] & 0x0f;
    pkt[pn_off] ^= mask[1];
    pkt[pn_off + 1] ^= mask[2];
    pkt
}

/// A CRYPTO frame at stream offset `offset`.
pub fn quic_crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06, 0x40 | (offset >> 8) as u8, offset as u8];
    f.extend_from_slice(&[0x40 | (data.len() >> 8) as u8, data.len() as u8]);
    f.extend_from_slice(data);
    f
}
