//! Walking one frame: link layer → IP → ICMP and transport, then the
//! protocol walkers (`tcp` for segments; DNS, QUIC, DHCP, NTP, RIP, SSDP and
//! the rest of UDP here); checksums are updated last, innermost first (see
//! `rewrite`).
//!
//! Layer offsets come from [`crate::decode::decode`] run on the original
//! bytes (its views are sub-slices, so pointer differences give offsets);
//! every write goes to the output copy, of the same length.

use super::dhcp::dhcp;
use super::dns::dns_message;
use super::http::http;
use super::quic_initial::quic;
use super::rewrite::{sum16, u16_at, FrameRewrite};
use super::stream::UdpPair;
use super::tcp;
use super::PayloadPolicy;
use crate::decode::app::{looks_like_dns, looks_like_quic};
use crate::decode::{self, IpLayer, Transport, Udp};
use std::net::IpAddr;
use std::ops::Range;

impl FrameRewrite<'_> {
    /// Rewrite the whole frame. Returns how many bytes to keep.
    pub fn run(&mut self, link_type: u32) -> usize {
        let orig = self.orig;
        let mut pkt = decode::decode(link_type, orig);
        let link_end = self.link(link_type);
        // IP the decoder does not reach (MPLS over PPP): decode from the
        // IP header on; layer offsets are then relative to `base`.
        let mut base = 0;
        if pkt.ip.is_empty() {
            if let Some(at) = link_end.and_then(|(end, _)| self.mpls_ip(link_type, end)) {
                let inner = decode::decode(101, &orig[at..]);
                if !inner.ip.is_empty() {
                    pkt = inner;
                    base = at;
                }
            }
        }
        if pkt.ip.is_empty() {
            match link_end {
                Some((end, true)) => self.fail_closed(end..self.len()), // ARP padding etc.
                Some((end, false)) if self.non_ip(end) => {}
                Some((end, false)) => {
                    if pkt.malformed.is_some() {
                        // Keep an IP header's first word (version, length:
                        // no identity) so the frame is still counted as IP.
                        let is_ip = matches!(self.orig.get(end).map(|b| b >> 4), Some(4 | 6));
                        let keep = if is_ip { 4 } else { 0 };
                        self.fail_closed((end + keep).min(self.len())..self.len());
                    } else {
                        self.counters.non_ip_frames += 1;
                        self.policy(end..self.len());
                    }
                }
                None => {
                    self.counters.unknown_link_frames += 1;
                    self.fail_closed(0..self.len());
                }
            }
            if pkt.malformed.is_some() && link_end.is_some_and(|(e, _)| e < self.len()) {
                self.mark_failed_closed();
            }
            return self.finish();
        }
        let n_layers = pkt.ip.len();
        for (i, layer) in pkt.ip.iter().enumerate() {
            let o = layer.offset + base;
            let want = if layer.src.is_ipv6() { 6 } else { 4 };
            if orig.get(o).is_none_or(|b| b >> 4 != want) {
                // Not where the decoder says: trust nothing from here on.
                self.fail_closed(o.min(self.len())..self.len());
                break;
            }
            let v6 = want == 6;
            if v6 {
                self.v6(o + 8);
                self.v6(o + 24);
            } else {
                self.v4(o + 12);
                self.v4(o + 16);
                let ihl = orig.get(o).map_or(20, |b| (b & 0xf) as usize * 4);
                if o + ihl <= self.len() {
                    self.push_ipv4_header(o, ihl);
                }
            }
            if i == 0 && base == 0 && link_type == 1 {
                self.multicast_mac_follows_ip(o, v6);
            }
            let ip_end = (o + layer.total_len as usize).min(self.len());
            let next = pkt.ip.get(i + 1).map(|l| l.offset + base);
            let innermost = i + 1 == n_layers;
            let non_first_fragment = layer.fragment.is_some_and(|f| f.offset > 0);
            match &layer.transport {
                Transport::Tcp(t) => {
                    let (l4, p0) = if self.within(t.payload) {
                        let p0 = self.off(t.payload);
                        (p0.saturating_sub(t.header_len as usize), p0)
                    } else {
                        // A header cut by the snap length (or with a data offset
                        // beyond the packet): the decoder keeps its fields but
                        // no payload view, so find the header from the IP layer.
                        let Some(l4) = transport_start(orig, o, v6) else {
                            self.fail_closed(o.min(self.len())..self.len());
                            break;
                        };
                        (l4, (l4 + t.header_len as usize).min(ip_end))
                    };
                    self.push_l4(o, v6, true, l4, ip_end, l4 + 16, false);
                    if self.policy != PayloadPolicy::Keep {
                        self.tcp_options(l4 + 20, p0.min(ip_end));
                    }
                    let p_end = p0 + t.payload.len();
                    if innermost {
                        tcp::segment(self, t, p0..p_end, layer);
                        self.redact(p_end..ip_end);
                    } else if let Some(n) = next {
                        self.inner_ethernet(p0, n);
                    }
                }
                Transport::Udp(u) => {
                    let p0 = self.off(u.payload);
                    let l4 = p0.saturating_sub(8);
                    let udp_len = self
                        .orig
                        .get(l4 + 4..l4 + 6)
                        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as usize);
                    let udp_end = if udp_len >= 8 {
                        (l4 + udp_len).min(ip_end)
                    } else {
                        ip_end
                    };
                    self.push_l4(o, v6, true, l4, udp_end, l4 + 6, true);
                    let p_end = p0 + u.payload.len();
                    if innermost {
                        udp(self, u, p0..p_end, layer);
                        // IP payload beyond the UDP length: disowned bytes.
                        self.redact(p_end..ip_end);
                    } else if let Some(n) = next {
                        // A walked tunnel header has no Ethernet header to find.
                        if self.udp_tunnel_header(u, p0, n).is_none() {
                            self.inner_ethernet(p0, n);
                        }
                    }
                }
                Transport::Icmp(ic) => {
                    let l4 = self.off(ic.body).saturating_sub(4);
                    self.push_l4(o, v6, v6, l4, ip_end, l4 + 2, false);
                    if innermost {
                        self.icmp(ic.v6, ic.icmp_type, ic.is_error(), l4, ip_end);
                    }
                }
                Transport::Other { payload } => {
                    let p0 = self.off(payload);
                    let frag_off = layer.fragment.map_or(0, |f| f.offset as usize);
                    let aruba = (innermost
                        && layer.proto == 47
                        && !non_first_fragment
                        && pkt.malformed.is_none())
                    .then(|| self.gre_wlan_at(p0, p0 + payload.len()))
                    .flatten();
                    if let (false, Some(n)) = (innermost, next) {
                        // 802.11 then LLC/SNAP: no Ethernet header before the IP.
                        match self.gre_wlan_at(p0, n) {
                            Some(at) => {
                                self.wlan(at);
                            }
                            None => self.inner_ethernet(p0, n),
                        }
                    } else if let Some(at) = aruba {
                        // Aruba's 802.11 without an IP packet (management,
                        // protected): MACs walked, the body under the policy.
                        let body = self.wlan(at);
                        if let Some(rest) = self.wlan_payload(body) {
                            self.policy(rest..p0 + payload.len());
                        }
                    } else if layer.proto == 2 && !non_first_fragment && pkt.malformed.is_none() {
                        self.push_l4(o, v6, false, p0, ip_end, p0 + 2, false);
                        self.igmp(p0, ip_end);
                    } else if non_first_fragment && matches!(layer.proto, 6 | 17) && frag_off < 60 {
                        // A later fragment that still holds part of the
                        // transport header (and maybe its checksum): keep the
                        // header bytes, fix the checksum for the new addresses.
                        let hdr_end = (p0 + (60 - frag_off)).min(p0 + payload.len());
                        let ck = if layer.proto == 6 { 16 } else { 6 };
                        if (frag_off..frag_off + (hdr_end - p0)).contains(&ck) {
                            let ck_at = p0 + ck - frag_off;
                            self.push_l4(
                                o,
                                v6,
                                true,
                                p0,
                                hdr_end.max(ck_at + 2),
                                ck_at,
                                layer.proto == 17,
                            );
                        }
                        let r = hdr_end..p0 + payload.len();
                        let before = sum16(&orig[r.clone()]);
                        self.policy(r.clone());
                        self.compensate(r, before);
                    } else {
                        let r = p0..p0 + payload.len();
                        let before = non_first_fragment.then(|| sum16(&orig[r.clone()]));
                        if pkt.malformed.is_some() {
                            self.fail_closed(r.clone());
                        } else {
                            self.policy(r.clone());
                        }
                        // A later fragment keeps its ones'-complement sum, so the
                        // reassembled datagram's checksum (in the first fragment) holds.
                        if let Some(s) = before {
                            self.compensate(r, s);
                        }
                    }
                }
                Transport::Truncated => {
                    // A first fragment that cuts the transport header may still
                    // hold its checksum: update it for the new addresses.
                    if !v6 && layer.fragment.is_some() && matches!(layer.proto, 6 | 17) {
                        let l4 = o + orig.get(o).map_or(20, |b| (b & 0xf) as usize * 4);
                        let ck = l4 + if layer.proto == 6 { 16 } else { 6 };
                        self.push_l4(o, false, true, l4, ip_end, ck, layer.proto == 17);
                    } else if layer.fragment.is_none() {
                        // A transport header the decoder rejected (cut short, or
                        // a TCP data offset under 5 words): no walker reads what
                        // follows, so it is unknown payload, never kept verbatim.
                        match transport_start(orig, o, v6) {
                            Some(l4) if l4 < ip_end => self.policy(l4..ip_end),
                            Some(_) => {}
                            None => self.fail_closed(o.min(self.len())..self.len()),
                        }
                    }
                }
            }
        }
        // Bytes after the outermost IP packet (Ethernet padding, trailers, FCS,
        // or data a length field disowns): never content, so zeroed.
        if let Some(first) = pkt.ip.first() {
            let ip_end = (first.offset + base).saturating_add(first.total_len as usize);
            if ip_end < self.len() && self.orig[ip_end..].iter().any(|&b| b != 0) {
                self.redact(ip_end..self.len());
                self.counters.trailers_redacted += 1;
            }
        }
        self.finish()
    }

    /// header, whether it was ARP), or None for a link type we cannot walk.
    fn link(&mut self, lt: u32) -> Option<(usize, bool)> {
        self.link_at(lt, 0, 0)
    }

    fn link_at(&mut self, lt: u32, at: usize, depth: u8) -> Option<(usize, bool)> {
        let len = self.len();
        if depth > 4 || at > len {
            return None;
        }
        if at > 0 {
            return match lt {
                1 => Some(self.ethernet(at)),
                105 => Some((self.wlan(at), false)),
                12 | 14 | 101 | 228 | 229 => Some((at, false)),
                _ => None,
            };
        }
        match lt {
            9 | 50 => Some((
                if self.orig.starts_with(&[0xff, 0x03]) {
                    4
                } else {
                    2
                }
                .min(len),
                false,
            )),
            226 => Some((24.min(len), false)),
            149 => {
                // PKTAP: keep length and inner link type; the rest names the
                // interface and the process (pid, command): not kept.
                let hl = self
                    .orig
                    .get(0..4)
                    .map_or(len, |b| u32::from_le_bytes(b.try_into().unwrap()) as usize);
                let dlt = self
                    .orig
                    .get(4..8)
                    .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()));
                if hl < 8 || hl > len {
                    return None;
                }
                self.redact(8..hl);
                self.link_at(dlt, hl, depth + 1)
            }
            239 => self.nflog(),
            _ => self.link_base(lt),
        }
    }

    /// NFLOG: TLVs; the packet is in NFULA_PAYLOAD (9).
    fn nflog(&mut self) -> Option<(usize, bool)> {
        let len = self.len();
        let mut p = 4;
        while p + 4 <= len {
            let tl = u16::from_le_bytes([self.orig[p], self.orig[p + 1]]) as usize;
            let ty = u16::from_le_bytes([self.orig[p + 2], self.orig[p + 3]]) & 0x7fff;
            if tl < 4 {
                return None;
            }
            let v = p + 4;
            let ve = (p + tl).min(len);
            match ty {
                9 => return Some((v, false)),
                6 if ve >= v + 10 => {
                    self.mac(v + 4);
                    self.redact(v + 10..ve);
                }
                1 | 2 | 3 | 4 | 5 | 8 | 15 => {}
                _ => self.redact(v..ve), // prefix, uid, gid, …
            }
            p += (tl + 3) & !3;
        }
        Some((len, false))
    }

    fn link_base(&mut self, lt: u32) -> Option<(usize, bool)> {
        let len = self.len();
        match lt {
            1 => Some(self.ethernet(0)),
            0 | 108 => Some((4.min(len), false)),
            12 | 14 | 101 | 228 | 229 => Some((0, false)),
            113 => {
                if len < 16 {
                    self.fail_closed(0..len);
                    return Some((len, false));
                }
                let halen = u16::from_be_bytes([self.orig[4], self.orig[5]]);
                if halen == 6 {
                    self.mac(6);
                } else {
                    self.out[6..14].fill(0);
                }
                let proto = u16::from_be_bytes([self.orig[14], self.orig[15]]);
                if proto == 0x0806 {
                    self.arp(16);
                    return Some((len, true));
                }
                Some((16, false))
            }
            276 => {
                if len < 20 {
                    self.fail_closed(0..len);
                    return Some((len, false));
                }
                if self.orig[11] == 6 {
                    self.mac(12);
                } else {
                    self.out[12..20].fill(0);
                }
                let proto = u16::from_be_bytes([self.orig[0], self.orig[1]]);
                if proto == 0x0806 {
                    self.arp(20);
                    return Some((len, true));
                }
                Some((20, false))
            }
            105 => Some((self.wlan(0), false)),
            127 => {
                let hl = self
                    .orig
                    .get(2..4)
                    .map_or(len, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
                Some((self.wlan(hl), false))
            }
            192 => {
                let hl = self
                    .orig
                    .get(2..4)
                    .map_or(len, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
                let dlt = self
                    .orig
                    .get(4..8)
                    .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()));
                self.link_at(dlt, hl, 1)
            }
            _ => None,
        }
    }

    /// An Ethernet multicast destination made from the IP destination
    /// (33:33 + its last 32 bits, RFC 2464; 01:00:5e + its last 23 bits,
    /// RFC 1112) is kept as a group MAC, but it spells part of the original
    /// address (the solicited-node group of a host holds its last 24 bits):
    /// make it from the pseudonymised destination instead.
    fn multicast_mac_follows_ip(&mut self, ip_at: usize, v6: bool) {
        let (o, out) = (self.orig, &mut self.out);
        if v6 {
            let d = ip_at + 24;
            if d + 16 <= o.len() && o[..2] == [0x33, 0x33] && o[2..6] == o[d + 12..d + 16] {
                let low: [u8; 4] = out[d + 12..d + 16].try_into().unwrap();
                out[2..6].copy_from_slice(&low);
            }
        } else {
            let d = ip_at + 16;
            if d + 4 <= o.len()
                && o[..3] == [0x01, 0x00, 0x5e]
                && o[3] == o[d + 1] & 0x7f
                && o[4..6] == o[d + 2..d + 4]
            {
                let low = [out[d + 1] & 0x7f, out[d + 2], out[d + 3]];
                out[3..6].copy_from_slice(&low);
            }
        }
    }

    pub(crate) fn ethernet(&mut self, at: usize) -> (usize, bool) {
        let len = self.len();
        if at + 14 > len {
            self.fail_closed(at..len);
            return (len, false);
        }
        self.mac(at);
        self.mac(at + 6);
        let mut pos = at + 12;
        let mut et = u16::from_be_bytes([self.orig[pos], self.orig[pos + 1]]);
        while matches!(et, 0x8100 | 0x88a8 | 0x9100) && pos + 6 <= len {
            pos += 4;
            et = u16::from_be_bytes([self.orig[pos], self.orig[pos + 1]]);
        }
        if et == 0x0806 {
            self.arp(pos + 2);
            return (len, true);
        }
        (pos + 2, false)
    }

    fn wlan(&mut self, at: usize) -> usize {
        self.wlan_fc(at, false)
    }

    /// An 802.11 header; `swapped`: frame-control bytes in the other order
    /// (CAPWAP data, as the decoder reads it).
    fn wlan_fc(&mut self, at: usize, swapped: bool) -> usize {
        let len = self.len();
        let (Some(&b0), Some(&b1)) = (self.orig.get(at), self.orig.get(at + 1)) else {
            return len;
        };
        let (fc, flags) = if swapped { (b1, b0) } else { (b0, b1) };
        let ftype = (fc >> 2) & 3;
        let subtype = fc >> 4;
        self.mac(at + 4);
        if ftype == 1 {
            self.mac(at + 10);
            return len;
        }
        self.mac(at + 10);
        self.mac(at + 16);
        let mut hl = 24;
        if ftype == 2 && flags & 3 == 3 {
            self.mac(at + 24);
            hl += 6;
        }
        if ftype == 2 && subtype & 8 != 0 {
            hl += 2;
        }
        (at + hl).min(len)
    }

    fn arp(&mut self, at: usize) {
        let len = self.len();
        let Some(h) = self.orig.get(at..at + 8) else {
            self.fail_closed(at..len);
            return;
        };
        let (hlen, plen) = (h[4] as usize, h[5] as usize);
        let mut pos = at + 8;
        for _ in 0..2 {
            if hlen == 6 {
                self.mac(pos);
            } else {
                self.fail_closed(pos..pos + hlen);
            }
            pos += hlen;
            if plen == 4 {
                self.v4(pos);
            } else if plen == 16 {
                self.v6(pos);
            } else {
                self.fail_closed(pos..pos + plen);
            }
            pos += plen;
        }
        if pos > len {
            self.mark_failed_closed();
        } else {
            // What follows the ARP body (padding, or bytes an ARP header with
            // bogus sizes did not cover) is unknown payload (fuzz: sanitize):
            // kept and scrubbed, or zeroed (never cut: the frame keeps its length).
            if self.policy == PayloadPolicy::Keep {
                self.policy(pos..len);
            } else if self.orig[pos..len].iter().any(|&b| b != 0) {
                self.out[pos..len].fill(0);
                self.counters.bytes_redacted += (len - pos) as u64;
            }
        }
    }

    /// TCP options (`at..end`): the ones the analysis reads (MSS, window
    /// scale, SACK, timestamps) and padding stay; the body of any other
    /// (Fast Open cookies, MPTCP keys, vendor options) and bytes past a
    /// malformed option are unknown payload, zeroed (fuzz: sanitize found an
    /// original MAC kept in a malformed option). The checksum fix-up covers them.
    fn tcp_options(&mut self, mut at: usize, end: usize) {
        let end = end.min(self.len());
        while at < end {
            let kind = self.orig[at];
            if kind == 0 {
                // End of options: what follows is padding.
                if self.orig[at..end].iter().any(|&b| b != 0) {
                    self.redact(at + 1..end);
                }
                return;
            }
            if kind == 1 {
                at += 1;
                continue;
            }
            let len = self.orig.get(at + 1).map_or(0, |&l| l as usize);
            if len < 2 || at + len > end {
                self.redact(at..end);
                return;
            }
            if !matches!(kind, 2 | 3 | 4 | 5 | 8) {
                self.redact(at + 2..at + len);
            }
            at += len;
        }
    }

    /// An Ethernet header right before an inner IP layer (VXLAN, TEB over
    /// GRE, ERSPAN), with up to four VLAN tags between its MACs and the IP
    /// ethertype (the MACs are then 4 bytes further back per tag).
    fn inner_ethernet(&mut self, from: usize, ip_at: usize) {
        if ip_at >= from + 14 && ip_at <= self.len() {
            let et = [self.orig[ip_at - 2], self.orig[ip_at - 1]];
            if et == [0x08, 0x00] || et == [0x86, 0xdd] {
                let mut tags = 0;
                while tags < 4 && ip_at >= from + 14 + 4 * (tags + 1) {
                    let t = ip_at - 6 - 4 * tags;
                    if !matches!(
                        [self.orig[t], self.orig[t + 1]],
                        [0x81, 0x00] | [0x88, 0xa8] | [0x91, 0x00]
                    ) {
                        break;
                    }
                    tags += 1;
                }
                self.mac(ip_at - 14 - 4 * tags);
                self.mac(ip_at - 8 - 4 * tags);
            }
        }
    }

    /// Identifiers in the header of a UDP tunnel (`from`: its first byte)
    /// before the tunnelled packet or frame at `to`: AYIYA's identity and
    /// signature, CAPWAP's radio MAC and its 802.11 frame's MACs. Returns
    /// where the tunnelled frame's own payload starts, when it is walked.
    fn udp_tunnel_header(&mut self, u: &Udp<'_>, from: usize, to: usize) -> Option<usize> {
        let has = |port: u16| u.src_port == port || u.dst_port == port;
        let to = to.min(self.len());
        let h = self.orig.get(from..to)?;
        if has(5072) && h.len() >= 8 {
            // AYIYA: the identity (2^n bytes; an IPv6 address when 16) is the
            // tunnel client's, the signature a hash of the packet.
            let id_len = 1usize << (h[0] >> 4);
            let sig_len = (h[1] >> 4) as usize * 4;
            let id = from + 8;
            if id_len == 16 && id + 16 <= to {
                self.v6(id);
            } else {
                self.redact(id..(id + id_len).min(to));
            }
            let sig = id + id_len;
            self.redact(sig.min(to)..(sig + sig_len).min(to));
            return Some((sig + sig_len).min(to));
        }
        if has(5247) && h.len() >= 8 && h[0] == 0 {
            // CAPWAP data: optional radio MAC (M bit: length byte, address),
            // then an 802.11 frame (T bit, binding 1; frame-control bytes
            // swapped) or an Ethernet frame.
            let hlen = (h[1] >> 3) as usize * 4;
            let wbid = (u16::from_be_bytes([h[2], h[3]]) >> 9) & 0x1F;
            let t = h[2] & 0x01 != 0;
            if h[3] & 0x10 != 0 && h.len() >= 9 {
                if h[8] == 6 {
                    self.mac(from + 9);
                } else {
                    self.redact(from + 9..(from + 9 + h[8] as usize).min(from + hlen).min(to));
                }
            }
            if hlen < 8 || h[3] & 0x80 != 0 || from + hlen >= to {
                return None;
            }
            let body = from + hlen;
            if !t {
                let (end, arp) = self.ethernet(body);
                return (!arp).then_some(end);
            }
            if wbid == 1 {
                let payload = self.wlan_fc(body, true);
                return Some(self.wlan_payload(payload).unwrap_or(to));
            }
        }
        None
    }

    /// What follows a tunnelled 802.11 header at `at`: LLC/SNAP is kept (the
    /// analysis names it) and ARP walked. Where the policy applies from,
    /// or `None` when nothing is left to it.
    fn wlan_payload(&mut self, at: usize) -> Option<usize> {
        let snap = self.orig.get(at..at + 8)?;
        if snap[..3] != [0xAA, 0xAA, 0x03] {
            return Some(at);
        }
        if snap[6..8] == [0x08, 0x06] {
            self.arp(at + 8);
            return None;
        }
        Some(at + 8)
    }

    /// Where Aruba's 802.11 frame starts in a GRE packet (`from`: the GRE
    /// header), for protocol types 0x8200-0x8370 as the decoder opens them.
    fn gre_wlan_at(&self, from: usize, to: usize) -> Option<usize> {
        let g = self.orig.get(from..to.min(self.len()))?;
        if g.len() < 4 {
            return None;
        }
        let proto = u16::from_be_bytes([g[2], g[3]]);
        if !(0x8200..=0x8370).contains(&proto) || proto & 0x000F != 0 {
            return None;
        }
        let hlen = 4 + [0x80u8, 0x20, 0x10]
            .iter()
            .filter(|&&bit| g[0] & bit != 0)
            .count()
            * 4;
        (hlen + 24 <= g.len()).then_some(from + hlen)
    }

    /// Start of an IP header after an MPLS label stack the decoder skipped.
    fn mpls_ip(&self, link_type: u32, end: usize) -> Option<usize> {
        // PPP protocol or ethertype: the two bytes before the payload.
        let _ = link_type;
        let proto = u16::from_be_bytes([*self.orig.get(end.checked_sub(2)?)?, self.orig[end - 1]]);
        if !matches!(proto, 0x0281 | 0x0283 | 0x8847 | 0x8848) {
            return None;
        }
        let mut p = end;
        for _ in 0..8 {
            let bos = self.orig.get(p + 2)? & 1;
            p += 4;
            if bos == 1 {
                return matches!(self.orig.get(p)? >> 4, 4 | 6).then_some(p);
            }
        }
        None
    }

    fn igmp(&mut self, l4: usize, end: usize) {
        let Some(&ty) = self.orig.get(l4) else { return };
        match ty {
            0x11 => {
                self.v4(l4 + 4);
                if end >= l4 + 12 {
                    let n = u16::from_be_bytes([self.orig[l4 + 10], self.orig[l4 + 11]]) as usize;
                    for k in 0..n {
                        self.v4(l4 + 12 + 4 * k);
                    }
                }
            }
            0x12 | 0x16 | 0x17 => self.v4(l4 + 4),
            0x22 => {
                self.group_records(l4, 4);
            }
            _ => self.policy(l4 + 4..end),
        }
    }

    /// Non-IP payloads we can rewrite in place (EAPOL, LLDP, STP). True when handled.
    fn non_ip(&mut self, end: usize) -> bool {
        let len = self.len();
        if end < 2 || end > len {
            return false;
        }
        let et = u16::from_be_bytes([self.orig[end - 2], self.orig[end - 1]]);
        match et {
            0x888e if end + 4 <= len => {
                let (ty, body) = (self.orig[end + 1], end + 4);
                let blen = u16::from_be_bytes([self.orig[end + 2], self.orig[end + 3]]) as usize;
                let bend = (body + blen).min(len);
                if ty == 0 && body + 5 <= bend && matches!(self.orig[body], 1 | 2) {
                    if self.orig[body + 4] == 1 {
                        self.token(body + 5..bend, true); // EAP identity: a user name
                    } else if self.orig[body + 4] != 3 {
                        self.policy(body + 5..bend);
                    }
                }
                self.redact(bend..len);
                true
            }
            0x88cc => {
                let mut p = end;
                while p + 2 <= len {
                    let h = u16::from_be_bytes([self.orig[p], self.orig[p + 1]]);
                    let (ty, tl) = (h >> 9, (h & 0x1ff) as usize);
                    let v = p + 2;
                    let ve = (v + tl).min(len);
                    match ty {
                        0 => break,
                        1 | 2 if tl == 7 && matches!((ty, self.orig[v]), (1, 4) | (2, 3)) => {
                            self.mac(v + 1)
                        }
                        1 | 2 => self.token(v + 1..ve, true),
                        3 | 7 => {}
                        4..=6 => self.token(v..ve, false),
                        8 if tl >= 2 => {
                            let (al, sub) = (self.orig[v] as usize, self.orig[v + 1]);
                            match (sub, al) {
                                (1, 5) => self.v4(v + 2),
                                (2, 17) => self.v6(v + 2),
                                _ => self.redact(v + 2..(v + 1 + al).min(ve)),
                            }
                        }
                        _ => self.redact((v + 4).min(ve)..ve),
                    }
                    p = v + tl;
                }
                self.redact(p.min(len)..len);
                true
            }
            // 802.3 length + LLC: spanning tree BPDUs carry bridge MACs.
            n if n < 0x600 && self.orig.get(end..end + 3) == Some(&[0x42, 0x42, 0x03]) => {
                let b = end + 3;
                self.mac(b + 7);
                self.mac(b + 19);
                true
            }
            // Cisco's DTP (SNAP, PID 0x2004): a version byte, then TLVs (type,
            // length with the 4-byte header); the neighbor's MAC in type 4,
            // the VTP domain name (type 1) under the policy.
            n if n < 0x600
                && self.orig.get(end..end + 8)
                    == Some(&[0xAA, 0xAA, 0x03, 0x00, 0x00, 0x0C, 0x20, 0x04]) =>
            {
                let mut p = end + 9;
                while p + 4 <= len {
                    let t = u16::from_be_bytes([self.orig[p], self.orig[p + 1]]);
                    let l = u16::from_be_bytes([self.orig[p + 2], self.orig[p + 3]]) as usize;
                    if l < 4 {
                        break;
                    }
                    match (t, l) {
                        (4, 10) => self.mac(p + 4),
                        (1, _) => self.policy(p + 4..(p + l).min(len)),
                        _ => {}
                    }
                    p += l;
                }
                self.redact(p.min(len)..len);
                true
            }
            // Cisco's PVST+ BPDUs: the same BPDU after SNAP (OUI 00000c, PID 0x010b).
            n if n < 0x600
                && self.orig.get(end..end + 8)
                    == Some(&[0xAA, 0xAA, 0x03, 0x00, 0x00, 0x0C, 0x01, 0x0B]) =>
            {
                let b = end + 8;
                self.mac(b + 7);
                self.mac(b + 19);
                true
            }
            _ => false,
        }
    }

    fn icmp(&mut self, v6: bool, ty: u8, is_error: bool, l4: usize, end: usize) {
        if is_error {
            if !v6 && ty == 5 {
                self.v4(l4 + 4);
            }
            self.quoted(l4 + 8, end);
            return;
        }
        if !v6 {
            self.policy(l4 + 8..end);
            return;
        }
        match ty {
            128 | 129 => self.policy(l4 + 8..end),
            130..=132 => {
                self.v6(l4 + 8);
                self.fail_closed(l4 + 24..end);
            }
            133 => self.ndp_options(l4 + 8, end),
            134 => self.ndp_options(l4 + 16, end),
            135 | 136 => {
                self.v6(l4 + 8);
                self.ndp_options(l4 + 24, end);
            }
            137 => {
                self.v6(l4 + 8);
                self.v6(l4 + 24);
                self.ndp_options(l4 + 40, end);
            }
            143 => {
                let p = self.group_records(l4, 16);
                self.fail_closed(p..end);
            }
            _ => self.policy(l4 + 4..end),
        }
    }

    /// The group records of an IGMPv3 (4-byte addresses) or MLDv2 (16-byte)
    /// report: each a type, an aux length, a source count, the group, the
    /// sources and aux data (redacted). Returns where the records end.
    fn group_records(&mut self, l4: usize, addr_len: usize) -> usize {
        let nrec = self
            .orig
            .get(l4 + 6..l4 + 8)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let addr = |this: &mut Self, at: usize| {
            if addr_len == 4 {
                this.v4(at)
            } else {
                this.v6(at)
            }
        };
        let mut p = l4 + 8;
        for _ in 0..nrec {
            let Some(h) = self.orig.get(p..p + 4) else {
                break;
            };
            let (aux, nsrc) = (h[1] as usize * 4, u16::from_be_bytes([h[2], h[3]]) as usize);
            addr(self, p + 4);
            let sources = p + 4 + addr_len;
            for k in 0..nsrc {
                addr(self, sources + addr_len * k);
            }
            let aux_at = sources + addr_len * nsrc;
            self.fail_closed(aux_at..aux_at + aux);
            p = aux_at + aux;
        }
        p
    }

    fn ndp_options(&mut self, mut p: usize, end: usize) {
        while p + 2 <= end {
            let (ty, ln) = (self.orig[p], self.orig[p + 1] as usize * 8);
            if ln == 0 {
                self.fail_closed(p..end);
                return;
            }
            match ty {
                1 | 2 if ln == 8 => self.mac(p + 2),
                3 if ln == 32 => self.v6(p + 16),
                5 => {}
                25 => {
                    let mut a = p + 8;
                    while a + 16 <= p + ln {
                        self.v6(a);
                        a += 16;
                    }
                }
                _ => self.fail_closed(p + 2..p + ln),
            }
            p += ln;
        }
        self.fail_closed(p..end);
    }

    /// The packet quoted in an ICMP error, as far as it was captured.
    fn quoted(&mut self, q: usize, end: usize) {
        let Some(&b0) = self.orig.get(q) else { return };
        let (l4, proto, v6) = match b0 >> 4 {
            4 if q + 20 <= end => {
                self.v4(q + 12);
                self.v4(q + 16);
                let ihl = (b0 & 0xf) as usize * 4;
                if q + ihl <= end && ihl >= 20 {
                    self.push_ipv4_header(q, ihl);
                }
                (q + ihl.max(20), self.orig[q + 9], false)
            }
            6 if q + 40 <= end => {
                self.v6(q + 8);
                self.v6(q + 24);
                (q + 40, self.orig[q + 6], true)
            }
            _ => {
                self.fail_closed(q..end);
                return;
            }
        };
        match proto {
            17 if l4 + 8 <= end => {
                self.push_l4(q, v6, true, l4, end, l4 + 6, true);
                let ports = [
                    u16::from_be_bytes([self.orig[l4], self.orig[l4 + 1]]),
                    u16::from_be_bytes([self.orig[l4 + 2], self.orig[l4 + 3]]),
                ];
                if ports.contains(&53) || ports.contains(&5353) {
                    dns_message(self, l4 + 8, end);
                } else if looks_like_quic(&self.orig[l4 + 8..end]) {
                    // The analysis reads quoted QUIC headers (a version
                    // negotiation bounced by ICMP): same walker as in UDP,
                    // with the quoted datagram's conversation, whose
                    // Initial keys open a quoted Initial that does not
                    // carry the client's first DCID (a server's late
                    // Initial bounced off a closed port).
                    let o = &self.orig;
                    let addr = |at: usize| -> IpAddr {
                        if v6 {
                            let b: [u8; 16] = o[at..at + 16].try_into().unwrap_or_default();
                            IpAddr::from(b)
                        } else {
                            let b: [u8; 4] = o[at..at + 4].try_into().unwrap_or_default();
                            IpAddr::from(b)
                        }
                    };
                    let (src, dst) = if v6 {
                        (addr(q + 8), addr(q + 24))
                    } else {
                        (addr(q + 12), addr(q + 16))
                    };
                    let port = |at: usize| u16::from_be_bytes([o[at], o[at + 1]]);
                    let pair = UdpPair::of(src, port(l4), dst, port(l4 + 2));
                    quic(self, l4 + 8..end, Some(pair));
                } else {
                    self.policy(l4 + 8..end);
                }
            }
            6 if l4 + 18 <= end => {
                self.push_l4(q, v6, true, l4, end, l4 + 16, false);
                let hl = ((self.orig[l4 + 12] >> 4) as usize * 4).max(20);
                self.policy(l4 + hl..end);
            }
            1 | 58 if l4 + 8 <= end => {
                self.push_l4(q, v6, v6, l4, end, l4 + 2, false);
                self.policy(l4 + 8..end);
            }
            _ => {}
        }
    }
}

/// Where the transport header of the IP packet at `ip` starts: after the
/// IPv4 options, or after the IPv6 extension headers the decoder also skips.
fn transport_start(b: &[u8], ip: usize, v6: bool) -> Option<usize> {
    if !v6 {
        return Some(ip + (*b.get(ip)? & 0xf) as usize * 4);
    }
    let mut next = *b.get(ip + 6)?;
    let mut p = ip + 40;
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                next = *b.get(p)?;
                p += (*b.get(p + 1)? as usize + 1) * 8;
            }
            44 => {
                next = *b.get(p)?;
                p += 8;
            }
            51 => {
                next = *b.get(p)?;
                p += (*b.get(p + 1)? as usize + 2) * 4;
            }
            _ => return Some(p),
        }
    }
    None
}

pub(crate) fn udp(f: &mut FrameRewrite<'_>, u: &Udp<'_>, r: Range<usize>, layer: &IpLayer<'_>) {
    if r.is_empty() {
        return;
    }
    let p = &f.orig[r.clone()];
    let has = |port: u16| u.src_port == port || u.dst_port == port;
    let pair = UdpPair::of(layer.src, u.src_port, layer.dst, u.dst_port);
    if (has(53) || has(5353) || has(5355) || has(137)) && looks_like_dns(p) {
        dns_message(f, r.start, r.end);
    } else if looks_like_quic(p) {
        f.quic.saw_quic(pair);
        quic(f, r, Some(pair));
    } else if p[0] & 0xc0 == 0x40 && f.quic.is_quic(&pair) {
        // A 1-RTT packet of a QUIC conversation: its first byte says the
        // handshake got that far (see `quic`); the rest follows the policy.
        f.policy(r.start + 1..r.end);
    } else if (has(67) || has(68)) && p.len() >= 240 && p[236..240] == [99, 130, 83, 99] {
        dhcp(f, r);
    } else if has(123) && p.len() >= 48 {
        if (2..16).contains(&p[1]) {
            f.v4(r.start + 12); // reference ID = upstream server's IPv4
        }
        f.policy(r.start + 48..r.end);
    } else if (has(5072) && p.len() >= 8) || (has(5247) && p.len() >= 8 && p[0] == 0) {
        // AYIYA or CAPWAP data carrying no IP packet (heartbeats, 802.11
        // management frames): their identifiers walked, the rest by policy.
        match f.udp_tunnel_header(u, r.start, r.end) {
            Some(body) => f.policy(body..r.end),
            None => f.policy(r.start + 8..r.end),
        }
    } else if has(4789) && p.len() >= 8 + 14 {
        // VXLAN without an inner IP layer (ARP, …): walk the inner Ethernet.
        let (end, arp) = f.ethernet(r.start + 8);
        if !arp {
            f.policy(end..r.end);
        }
    } else if has(521) && p.len() >= 4 {
        // RIPng: 20-byte route entries led by an IPv6 prefix.
        let mut e = r.start + 4;
        while e + 20 <= r.end {
            let mut a = [0u8; 16];
            a.copy_from_slice(&f.orig[e..e + 16]);
            let pa = f.pseudonymizer.pseudonymize_ipv6_prefix(a);
            f.out[e..e + 16].copy_from_slice(&pa);
            e += 20;
        }
        f.policy(e..r.end);
    } else if has(520) && p.len() >= 4 {
        // RIPv1/v2: 20-byte entries (family, tag, address, mask, next hop, metric).
        let mut e = r.start + 4;
        while e + 20 <= r.end {
            if u16_at(f.orig, e) == Some(2) {
                f.v4(e + 4);
                f.v4(e + 12);
            } else {
                f.redact(e + 4..e + 16);
            }
            e += 20;
        }
        f.policy(e..r.end);
    } else if has(1900) {
        http(f, r);
    } else if has(53) || has(5353) || has(5355) || has(137) {
        // Not DNS-shaped: keep the 12 bytes that decided so (zeros would
        // look like DNS and change the analysis); no names can hide in them.
        f.policy(r.start + 12.min(r.len())..r.end);
    } else if !crate::detect::dns::claimed_udp_port(u.src_port)
        && !crate::detect::dns::claimed_udp_port(u.dst_port)
        && crate::decode::dns::heuristic_match(p)
    {
        // DNS on another port, found by tshark's heuristic (as the analysis).
        dns_message(f, r.start, r.end);
    } else {
        f.policy(r);
    }
}
