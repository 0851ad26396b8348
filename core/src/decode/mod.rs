//! Frame decoding: link layer → (tunnels) → IP → TCP/UDP/ICMP → application probe.
//!
//! Decoding is lax and never panics: a frame cut by the snap length yields
//! every layer that fits, and the first problem met is recorded in
//! [`Packet::malformed`]. All views borrow the frame bytes (no copies).
//! The frame nearly every capture is made of (Ethernet → plain IPv4/IPv6 →
//! TCP/UDP) is read directly; for every other frame, header parsing of IP
//! and its extension headers and of TCP goes through `etherparse`, whose
//! types do not leave this module.

pub mod app;
pub mod defrag;
pub mod dns;
pub mod http;
pub mod keylog;
pub mod link;
pub mod quic;
pub mod quic_crypto;
pub mod tls;

use arrayvec::ArrayVec;
use etherparse::{
    IpNumber, Ipv4HeaderSlice, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice,
    TcpHeaderSlice,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use app::AppProto;

/// Most IP layers kept per frame (outer tunnels + inner).
pub const MAX_IP_LAYERS: usize = 4;
/// Most protocol names kept per frame for the hierarchy.
pub const MAX_PROTOCOLS: usize = 16;

/// The name of an IP protocol number as reports show it.
pub fn transport_name(proto: u8) -> &'static str {
    match proto {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmpv6",
        132 => "sctp",
        _ => "other",
    }
}

/// An endpoint as reports, evidence and prompts write it: "addr:port", the
/// address in brackets when it is IPv6 ("[2001:db8::1]:443"), or the bare
/// address when there is no port. Written once so every section agrees.
pub fn endpoint(addr: impl std::fmt::Display, port: Option<u16>) -> String {
    let addr = addr.to_string();
    match port {
        Some(port) if addr.contains(':') => format!("[{addr}]:{port}"),
        Some(port) => format!("{addr}:{port}"),
        None => addr,
    }
}

/// Whether an IP protocol's flows have ports (TCP, UDP, SCTP).
pub fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

/// TCP flag bits as on the wire (low byte of the flags field).
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// IPv4/IPv6 fragment facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    pub id: u32,
    /// Offset in bytes.
    pub offset: u32,
    pub more: bool,
    /// What reassembly ([`defrag::Defrag`]) made of it.
    pub reassembly: Reassembly,
}

/// A fragment's place in reassembly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reassembly {
    /// Not queued: decoded on its own (no reassembly ran, or its payload was
    /// not all captured); a first fragment shows its transport header.
    #[default]
    NotQueued,
    /// Queued and waiting: the layer carries no transport.
    Held,
    /// This frame completed the datagram: the layer's transport (and what
    /// it carries) is the whole datagram's.
    Completed,
}

/// Decoded TCP header facts plus the captured payload.
#[derive(Clone, Copy, Debug)]
pub struct Tcp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub header_len: u16,
    /// Payload length on the wire (from the IP length), even when snapped.
    pub payload_len: u32,
    /// Payload bytes actually captured.
    pub payload: &'a [u8],
    /// Raw option bytes (as captured); see [`Tcp::parsed_options`].
    pub options: &'a [u8],
}

/// The TCP options the analysis needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// Number of SACK blocks, and the blocks themselves (left, right).
    pub sack_blocks: u8,
    pub sack: [(u32, u32); 4],
    pub timestamp: Option<(u32, u32)>,
}

#[derive(Clone, Copy, Debug)]
pub struct Udp<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    /// Payload length on the wire.
    pub payload_len: u32,
    pub payload: &'a [u8],
}

#[derive(Clone, Copy, Debug)]
pub struct Icmp<'a> {
    pub v6: bool,
    pub icmp_type: u8,
    pub code: u8,
    /// Bytes after the 4-byte type/code/checksum (rest of header + data).
    pub body: &'a [u8],
}

impl<'a> Icmp<'a> {
    /// True for messages that quote the packet that caused them.
    pub fn is_error(&self) -> bool {
        if self.v6 {
            self.icmp_type < 128
        } else {
            matches!(self.icmp_type, 3 | 4 | 5 | 11 | 12)
        }
    }

    /// The quoted packet of an error message (starts at its IP header).
    pub fn quoted(&self) -> Option<&'a [u8]> {
        if self.is_error() && self.body.len() > 4 {
            Some(&self.body[4..])
        } else {
            None
        }
    }

    /// Echo identifier for echo request/reply (used as the flow's "port").
    pub fn echo_id(&self) -> Option<u16> {
        let echo = if self.v6 {
            matches!(self.icmp_type, 128 | 129)
        } else {
            matches!(self.icmp_type, 0 | 8)
        };
        if echo && self.body.len() >= 2 {
            Some(u16::from_be_bytes([self.body[0], self.body[1]]))
        } else {
            None
        }
    }
}

/// Transport layer of one IP layer.
#[derive(Clone, Copy, Debug)]
pub enum Transport<'a> {
    Tcp(Tcp<'a>),
    Udp(Udp<'a>),
    Icmp(Icmp<'a>),
    /// Another IP protocol, or a fragment that does not carry the transport header.
    Other {
        payload: &'a [u8],
    },
    /// The transport header did not fit in the captured bytes.
    Truncated,
}

/// One IP layer with what it carries.
#[derive(Clone, Copy, Debug)]
pub struct IpLayer<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number of the transport (after IPv6 extension headers).
    pub proto: u8,
    pub ttl: u8,
    /// Length of this IP packet on the wire (header + payload).
    pub total_len: u32,
    pub fragment: Option<Fragment>,
    pub transport: Transport<'a>,
    /// Byte offset of this IP header in the frame.
    pub offset: usize,
}

impl IpLayer<'_> {
    /// (src port, dst port) for TCP/UDP, (type-ish, code-ish) as Zeek for ICMP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match &self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            _ => None,
        }
    }
}

/// Declares the names a protocol path can hold: the table, and an id constant
/// for each name (its index in the table).
macro_rules! protocol_names {
    ($($id:ident = $name:literal,)*) => {
        #[allow(clippy::upper_case_acronyms)]
        #[repr(u8)]
        enum ProtocolIndex { $($id,)* }
        /// Ids of the names in a [`Protocols`].
        pub(crate) mod proto {
            $(pub const $id: u8 = super::ProtocolIndex::$id as u8;)*
        }
        static PROTOCOL_NAMES: &[&str] = &[$($name,)*];
    };
}

protocol_names! {
    ETH = "eth", VLAN = "vlan", ARP = "arp", MPLS = "mpls", PPPOES = "pppoes",
    LLC = "llc", NULL = "null", RAW = "raw", SLL = "sll", PPP = "ppp",
    RADIOTAP = "radiotap", WLAN = "wlan", PPI = "ppi", PKTAP = "pktap",
    IPNET = "ipnet", NFLOG = "nflog", ERSPAN = "erspan", VXLAN = "vxlan",
    GTP = "gtp", TEREDO = "teredo", GENEVE = "geneve", IP = "ip", IPV6 = "ipv6",
    TCP = "tcp", UDP = "udp", ICMP = "icmp", ICMPV6 = "icmpv6", GRE = "gre",
    IGMP = "igmp", ESP = "esp", AH = "ah", OSPF = "ospf", PIM = "pim",
    VRRP = "vrrp", SCTP = "sctp", DNS = "dns", MDNS = "mdns", LLMNR = "llmnr",
    HTTP = "http", TLS = "tls", QUIC = "quic", SSH = "ssh", NTP = "ntp",
    DHCP = "dhcp", DHCPV6 = "dhcpv6", SMTP = "smtp", FTP = "ftp", SNMP = "snmp",
    SYSLOG = "syslog", SSDP = "ssdp", NBNS = "nbns", NSH = "nsh",
    AYIYA = "ayiya", CAPWAP = "capwap.data", CMD = "cmd",
}

/// The protocol-path id of an application protocol (its name).
fn app_protocol_id(a: AppProto) -> u8 {
    match a {
        AppProto::Dns => proto::DNS,
        AppProto::Mdns => proto::MDNS,
        AppProto::Llmnr => proto::LLMNR,
        AppProto::Http => proto::HTTP,
        AppProto::Tls => proto::TLS,
        AppProto::Quic => proto::QUIC,
        AppProto::Ssh => proto::SSH,
        AppProto::Ntp => proto::NTP,
        AppProto::Dhcp => proto::DHCP,
        AppProto::Dhcpv6 => proto::DHCPV6,
        AppProto::Smtp => proto::SMTP,
        AppProto::Ftp => proto::FTP,
        AppProto::Snmp => proto::SNMP,
        AppProto::Syslog => proto::SYSLOG,
        AppProto::Ssdp => proto::SSDP,
        AppProto::Nbns => proto::NBNS,
    }
}

/// A frame's protocol names, outermost first (at most [`MAX_PROTOCOLS`];
/// more are dropped). Kept as one-byte ids, so a path is 17 bytes that
/// compare and hash at once; ids past the length stay zero for that.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Protocols {
    len: u8,
    ids: [u8; MAX_PROTOCOLS],
}

impl Protocols {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The names, outermost first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &'static &'static str> + '_ {
        self.ids[..self.len()]
            .iter()
            .map(|&id| &PROTOCOL_NAMES[id as usize])
    }

    /// A hash of the path, cheap enough to compute for every frame.
    pub(crate) fn fingerprint(&self) -> u64 {
        let (lo, hi) = self.ids.split_at(8);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
        let mixed = word(lo) ^ word(hi).rotate_left(29) ^ self.len as u64;
        mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40
    }

    fn push(&mut self, id: u8) {
        if let Some(slot) = self.ids.get_mut(self.len as usize) {
            *slot = id;
            self.len += 1;
        }
    }

    /// Add an application protocol's name (when there is room).
    pub(crate) fn push_app(&mut self, a: AppProto) {
        self.push(app_protocol_id(a));
    }

    /// Drop the names after the last IP layer's (its transport and what that carried).
    fn truncate_after_last_ip(&mut self) {
        if let Some(i) = self.ids[..self.len()]
            .iter()
            .rposition(|&id| id == proto::IP || id == proto::IPV6)
        {
            self.ids[i + 1..].fill(0);
            self.len = i as u8 + 1;
        }
    }
}

impl std::fmt::Debug for Protocols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A decoded frame: borrowed views into the frame bytes.
///
/// `repr(C)` with the IP layers last: what a frame with one IP layer (nearly
/// every frame) uses is then one short prefix, [`Packet::used_prefix`].
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct Packet<'a> {
    /// First decoding problem met, with the layer it was in.
    pub malformed: Option<&'static str>,
    /// Address of the frame's first byte, so layers can report their offsets
    /// (the sanitizer rewrites in place).
    frame_base: usize,
    pub vlan_ids: ArrayVec<u16, 4>,
    /// Protocol names outermost first (as tshark's protocol hierarchy).
    pub protocols: Protocols,
    /// Ethernet source/destination (outermost), when the link has them.
    pub eth_src: Option<[u8; 6]>,
    pub eth_dst: Option<[u8; 6]>,
    /// Application protocol found on the innermost transport.
    pub app: Option<AppProto>,
    /// False when the link type is not one we decode.
    pub link_decoded: bool,
    /// What IP reassembly did on this frame (counters for the report).
    pub defrag: defrag::DefragNote,
    /// IP layers outermost first; the last one is the innermost.
    pub ip: ArrayVec<IpLayer<'a>, MAX_IP_LAYERS>,
}

impl<'a> Packet<'a> {
    /// The innermost IP layer, if any.
    pub fn inner(&self) -> Option<&IpLayer<'a>> {
        self.ip.last()
    }

    /// True when the innermost IP layer is a fragment (the one layer
    /// reassembly looks at: decoding stops at a fragment).
    #[inline]
    pub fn has_fragment(&self) -> bool {
        self.ip.last().is_some_and(|l| l.fragment.is_some())
    }

    /// Bytes from the start of the packet through its first IP layer (an
    /// address computation: the packet itself is not read).
    pub fn used_prefix(&self) -> usize {
        let start = self as *const Packet as usize;
        self.ip.as_ptr() as usize + std::mem::size_of::<IpLayer>() - start
    }

    fn push_proto(&mut self, id: u8) {
        self.protocols.push(id);
    }

    fn mark(&mut self, what: &'static str) {
        if self.malformed.is_none() {
            self.malformed = Some(what);
        }
    }
}

/// Ethertypes we follow.
pub(crate) mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88A8;
    pub const QINQ_OLD: u16 = 0x9100;
    pub const IPV6: u16 = 0x86DD;
    pub const MPLS: u16 = 0x8847;
    pub const MPLS_MC: u16 = 0x8848;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const TEB: u16 = 0x6558;
}

/// Decode one frame of the given LINKTYPE.
pub fn decode(link_type: u32, data: &[u8]) -> Packet<'_> {
    let mut pkt = Packet::default();
    decode_into(&mut pkt, link_type, data);
    pkt
}

/// [`decode`] into a packet the caller holds (cleared first): the hot path
/// avoids moving the ~600-byte `Packet` around.
pub fn decode_into<'a>(pkt: &mut Packet<'a>, link_type: u32, data: &'a [u8]) {
    // Field by field (no ~600-byte temporary); the exhaustive pattern makes a new
    // field a compile error here until it is reset too.
    let Packet {
        protocols,
        ip,
        eth_src,
        eth_dst,
        vlan_ids,
        app,
        link_decoded,
        malformed,
        frame_base,
        defrag,
    } = pkt;
    *defrag = defrag::DefragNote::default();
    *protocols = Protocols::default();
    ip.clear();
    *eth_src = None;
    *eth_dst = None;
    vlan_ids.clear();
    *app = None;
    *link_decoded = false;
    *malformed = None;
    *frame_base = data.as_ptr() as usize;
    if !(link_type == 1 && decode_common_ethernet(pkt, data)) {
        link::decode_link(pkt, link_type, data, 0);
    }
    probe_app(pkt);
}

/// Identify the application protocol on the innermost transport.
fn probe_app(pkt: &mut Packet<'_>) {
    if let Some(inner) = pkt.ip.last() {
        pkt.app = match &inner.transport {
            Transport::Tcp(t) => app::probe_tcp(t),
            Transport::Udp(u) => app::probe_udp(u),
            _ => None,
        };
        if let Some(a) = pkt.app {
            pkt.push_proto(app_protocol_id(a));
        }
    }
}

/// The frame nearly every capture is made of, decoded straight: Ethernet →
/// IPv4 without options or IPv6 without extension headers, unfragmented →
/// a whole TCP header or UDP datagram header, on no tunnel port. Fills
/// `pkt` (freshly cleared) exactly as the general decoder would and returns
/// true; for any other frame it returns false having written nothing.
#[inline(always)]
fn decode_common_ethernet<'a>(pkt: &mut Packet<'a>, frame: &'a [u8]) -> bool {
    const ETH_LEN: usize = 14;
    let (Some(eth), Some(ip)) = (frame.get(..ETH_LEN), frame.get(ETH_LEN..)) else {
        return false;
    };
    let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    // (ip protocol-path id, src, dst, transport protocol, ttl, IP length on
    // the wire, IP payload as captured, IP payload length on the wire)
    let (ip_id, src, dst, proto, ttl, total_len, payload, payload_wire) = match be16(eth, 12) {
        ethertype::IPV4 if ip.len() >= 20 && ip[0] == 0x45 => {
            let total_len = be16(ip, 2) as usize;
            // Fragments (offset or more-fragments set) and short lengths
            // take the general path.
            if total_len < 20 || be16(ip, 6) & 0x3fff != 0 {
                return false;
            }
            let src: [u8; 4] = ip[12..16].try_into().unwrap_or_default();
            let dst: [u8; 4] = ip[16..20].try_into().unwrap_or_default();
            (
                proto::IP,
                IpAddr::V4(Ipv4Addr::from(src)),
                IpAddr::V4(Ipv4Addr::from(dst)),
                ip[9],
                ip[8],
                total_len as u32,
                &ip[20..total_len.min(ip.len())],
                (total_len - 20) as u32,
            )
        }
        ethertype::IPV6 if ip.len() >= 40 && ip[0] >> 4 == 6 => {
            let plen = be16(ip, 4) as usize;
            // Jumbograms: see decode_ipv6.
            let wire_payload = if plen == 0 { ip.len() - 40 } else { plen };
            let src: [u8; 16] = ip[8..24].try_into().unwrap_or_default();
            let dst: [u8; 16] = ip[24..40].try_into().unwrap_or_default();
            (
                proto::IPV6,
                IpAddr::V6(Ipv6Addr::from(src)),
                IpAddr::V6(Ipv6Addr::from(dst)),
                ip[6],
                ip[7],
                40 + wire_payload as u32,
                &ip[40..(40 + wire_payload).min(ip.len())],
                wire_payload as u32,
            )
        }
        _ => return false,
    };
    let (transport_id, transport) = match proto {
        6 if payload.len() >= 20 => {
            let hl = ((payload[12] & 0xf0) >> 2) as usize;
            if hl < 20 || payload.len() < hl {
                return false;
            }
            let tcp = Tcp {
                src_port: be16(payload, 0),
                dst_port: be16(payload, 2),
                seq: u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]),
                ack: u32::from_be_bytes([payload[8], payload[9], payload[10], payload[11]]),
                flags: payload[13],
                window: be16(payload, 14),
                header_len: hl as u16,
                payload_len: payload_wire.saturating_sub(hl as u32),
                payload: &payload[hl..],
                options: &payload[20..hl],
            };
            (proto::TCP, Transport::Tcp(tcp))
        }
        17 if payload.len() >= 8 => {
            let (src_port, dst_port) = (be16(payload, 0), be16(payload, 2));
            if [src_port, dst_port]
                .iter()
                .any(|p| matches!(p, 4789 | 4790 | 2152 | 3544 | 5072 | 5247 | 6081 | 6635))
            {
                // A tunnel the general path may follow.
                return false;
            }
            let udp_len = be16(payload, 4) as u32;
            let payload_len = if udp_len >= 8 {
                udp_len - 8
            } else {
                payload_wire.saturating_sub(8)
            };
            let end = (8 + payload_len as usize).min(payload.len());
            let udp = Udp {
                src_port,
                dst_port,
                payload_len,
                payload: &payload[8..end],
            };
            (proto::UDP, Transport::Udp(udp))
        }
        _ => return false,
    };
    pkt.link_decoded = true;
    pkt.eth_dst = eth[0..6].try_into().ok();
    pkt.eth_src = eth[6..12].try_into().ok();
    pkt.push_proto(proto::ETH);
    pkt.push_proto(ip_id);
    pkt.push_proto(transport_id);
    pkt.ip.push(IpLayer {
        src,
        dst,
        proto,
        ttl,
        total_len,
        fragment: None,
        transport,
        offset: ETH_LEN,
    });
    true
}

/// Continue decoding at an ethertype (after Ethernet, VLAN, SLL, …).
pub(crate) fn decode_ethertype<'a>(
    pkt: &mut Packet<'a>,
    ether_type: u16,
    data: &'a [u8],
    depth: u8,
) {
    use ethertype::*;
    match ether_type {
        IPV4 | IPV6 => decode_ip(pkt, data, depth),
        VLAN | QINQ | QINQ_OLD => {
            if data.len() < 4 {
                pkt.push_proto(proto::VLAN);
                pkt.mark("vlan");
                return;
            }
            pkt.push_proto(proto::VLAN);
            let tci = u16::from_be_bytes([data[0], data[1]]);
            let _ = pkt.vlan_ids.try_push(tci & 0x0FFF);
            let next = u16::from_be_bytes([data[2], data[3]]);
            if next < 0x0600 {
                // A length, not an ethertype: LLC follows (PVST+ BPDUs, …).
                link::decode_llc(pkt, &data[4..], depth);
            } else if depth < 8 {
                decode_ethertype(pkt, next, &data[4..], depth + 1);
            }
        }
        ARP => pkt.push_proto(proto::ARP),
        MPLS | MPLS_MC => link::decode_mpls(pkt, data, depth),
        PPPOE_SESSION => {
            pkt.push_proto(proto::PPPOES);
            if data.len() >= 8 {
                let proto = u16::from_be_bytes([data[6], data[7]]);
                link::decode_ppp_proto(pkt, proto, &data[8..], depth);
            }
        }
        TEB => link::decode_ethernet(pkt, data, depth + 1),
        _ => {}
    }
}

/// Decode an IPv4 or IPv6 packet (version from the first nibble).
pub(crate) fn decode_ip<'a>(pkt: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    if pkt.ip.is_full() || depth > 12 {
        return;
    }
    let Some(&first) = data.first() else {
        pkt.mark("ip");
        return;
    };
    let base = (data.as_ptr() as usize).wrapping_sub(pkt.frame_base);
    match first >> 4 {
        4 => decode_ipv4(pkt, data, depth, base),
        6 => decode_ipv6(pkt, data, depth, base),
        _ => pkt.mark("ip"),
    }
}

fn decode_ipv4<'a>(pkt: &mut Packet<'a>, data: &'a [u8], depth: u8, offset: usize) {
    pkt.push_proto(proto::IP);
    let hdr = match Ipv4HeaderSlice::from_slice(data) {
        Ok(h) => h,
        Err(_) => {
            pkt.mark("ip");
            return;
        }
    };
    let hlen = hdr.slice().len();
    let total_len = hdr.total_len() as usize;
    if total_len < hlen {
        // Wireshark flags this; TSO captures write 0 here. Use what was captured.
        pkt.mark("ip");
    }
    let wire_total = if total_len >= hlen {
        total_len
    } else {
        data.len()
    };
    let end = wire_total.min(data.len());
    let payload = &data[hlen..end.max(hlen)];
    let payload_wire = (wire_total - hlen) as u32;
    let frag_off = hdr.fragments_offset().value() as u32 * 8;
    let more = hdr.more_fragments();
    let fragment = if more || frag_off > 0 {
        Some(Fragment {
            id: hdr.identification() as u32,
            offset: frag_off,
            more,
            reassembly: Reassembly::NotQueued,
        })
    } else {
        None
    };
    let proto = hdr.protocol().0;
    let src = IpAddr::V4(Ipv4Addr::from(hdr.source()));
    let dst = IpAddr::V4(Ipv4Addr::from(hdr.destination()));
    let transport = if frag_off > 0 {
        Transport::Other { payload }
    } else {
        decode_transport(pkt, proto, payload, payload_wire, depth, false)
    };
    let layer = IpLayer {
        src,
        dst,
        proto,
        ttl: hdr.ttl(),
        total_len: wire_total as u32,
        fragment,
        transport,
        offset,
    };
    push_layer(pkt, layer, payload, payload_wire, depth);
}

fn decode_ipv6<'a>(pkt: &mut Packet<'a>, data: &'a [u8], depth: u8, offset: usize) {
    pkt.push_proto(proto::IPV6);
    let hdr = match Ipv6HeaderSlice::from_slice(data) {
        Ok(h) => h,
        Err(_) => {
            pkt.mark("ipv6");
            return;
        }
    };
    let plen = hdr.payload_length() as usize;
    // Jumbograms (payload length 0, e.g. big TCP) carry their length elsewhere: use the capture.
    let wire_payload = if plen == 0 { data.len() - 40 } else { plen };
    let end = (40 + wire_payload).min(data.len());
    let body = &data[40..end];
    let (exts, mut next, mut rest, mut err) =
        Ipv6ExtensionsSlice::from_slice_lax(hdr.next_header(), body);
    let mut fragment = None;
    if hdr.next_header() != IpNumber::UDP && hdr.next_header() != IpNumber::TCP {
        // After the fragment header of a later fragment comes payload data,
        // not more headers: the chain ends there (etherparse reads on).
        if let Some((f, nh, start)) = defrag::find_ipv6_fragment(hdr.next_header().0, body) {
            if f.offset > 0 {
                (next, rest, err, fragment) = (IpNumber(nh), &body[start..], None, Some(f));
            }
        }
    }
    if err.is_some() {
        pkt.mark("ipv6");
    }
    // etherparse 0.21's iterator trusts the chain up to the header that failed
    // and reads past the slice (UB) when there was an error: iterate only a
    // chain that parsed cleanly.
    let iterable = if err.is_none() && fragment.is_none() {
        Some(exts.clone())
    } else {
        None
    };
    for ext in iterable.into_iter().flatten() {
        if let Ipv6ExtensionSlice::Fragment(f) = ext {
            let off = f.fragment_offset().value() as u32 * 8;
            let more = f.more_fragments();
            if off > 0 || more {
                fragment = Some(Fragment {
                    id: f.identification(),
                    offset: off,
                    more,
                    reassembly: Reassembly::NotQueued,
                });
            }
        }
    }
    let ext_len = body.len() - rest.len();
    let payload_wire = wire_payload.saturating_sub(ext_len) as u32;
    let proto = next.0;
    let transport = if fragment.is_some_and(|f| f.offset > 0) || err.is_some() {
        Transport::Other { payload: rest }
    } else {
        decode_transport(pkt, proto, rest, payload_wire, depth, true)
    };
    let layer = IpLayer {
        src: IpAddr::V6(Ipv6Addr::from(hdr.source())),
        dst: IpAddr::V6(Ipv6Addr::from(hdr.destination())),
        proto,
        ttl: hdr.hop_limit(),
        total_len: 40 + wire_payload as u32,
        fragment,
        transport,
        offset,
    };
    push_layer(pkt, layer, rest, payload_wire, depth);
}

/// Record the layer, then follow tunnels it carries (IP-in-IP, GRE, VXLAN, GTP-U, Teredo).
// Inlined so the layer is built in place instead of copied through the call.
#[inline(always)]
fn push_layer<'a>(
    pkt: &mut Packet<'a>,
    layer: IpLayer<'a>,
    ip_payload: &'a [u8],
    _wire: u32,
    depth: u8,
) {
    let proto = layer.proto;
    let transport = layer.transport;
    // A fragment's tunnelled payload is followed only once reassembled.
    let whole = layer
        .fragment
        .is_none_or(|f| f.reassembly == Reassembly::Completed);
    if pkt.ip.try_push(layer).is_err() || !whole {
        return;
    }
    match (proto, transport) {
        (4, _) | (41, _) => decode_ip(pkt, ip_payload, depth + 1),
        (47, _) => link::decode_gre(pkt, ip_payload, depth + 1),
        (_, Transport::Udp(u)) => link::decode_udp_tunnel(pkt, &u, depth + 1),
        _ => {}
    }
}

/// Offset given to IP layers found inside a reassembled datagram: they are
/// in no frame (`record.data.get(offset..)` is `None`).
pub const NOT_IN_FRAME: usize = usize::MAX / 4;

/// Decode the datagram [`defrag::Defrag::on_packet`] completed as the
/// transport of the packet's innermost (fragment) layer, then what it
/// carries (tunnels, the application protocol), as an unfragmented packet
/// would be. `datagram` must outlive the packet.
pub fn apply_reassembled<'a>(pkt: &mut Packet<'a>, datagram: &'a defrag::Reassembled) {
    let Some(mut layer) = pkt.ip.pop() else {
        return;
    };
    let depth = pkt.ip.len() as u8 + 1;
    pkt.protocols.truncate_after_last_ip();
    pkt.app = None;
    let v6 = layer.src.is_ipv6();
    let (proto, rest) = if v6 {
        let (_, next, rest, err) =
            Ipv6ExtensionsSlice::from_slice_lax(IpNumber(datagram.next_header), &datagram.data);
        if err.is_some() {
            pkt.mark("ipv6");
        }
        (next.0, rest)
    } else {
        (datagram.next_header, &datagram.data[..])
    };
    layer.proto = proto;
    layer.total_len = datagram.header_len + datagram.data.len() as u32;
    layer.transport = decode_transport(pkt, proto, rest, rest.len() as u32, depth, v6);
    let first_inner = pkt.ip.len() + 1;
    push_layer(pkt, layer, rest, rest.len() as u32, depth);
    for inner in pkt.ip.iter_mut().skip(first_inner) {
        inner.offset = NOT_IN_FRAME;
    }
    probe_app(pkt);
}

fn decode_transport<'a>(
    pkt: &mut Packet<'a>,
    proto: u8,
    payload: &'a [u8],
    payload_wire: u32,
    _depth: u8,
    v6: bool,
) -> Transport<'a> {
    match IpNumber(proto) {
        IpNumber::TCP => {
            pkt.push_proto(proto::TCP);
            match TcpHeaderSlice::from_slice(payload) {
                Ok(h) => {
                    let hl = h.slice().len();
                    let options = &payload[20..hl];
                    let flags = payload[13];
                    Transport::Tcp(Tcp {
                        src_port: h.source_port(),
                        dst_port: h.destination_port(),
                        seq: h.sequence_number(),
                        ack: h.acknowledgment_number(),
                        flags,
                        window: h.window_size(),
                        header_len: hl as u16,
                        payload_len: payload_wire.saturating_sub(hl as u32),
                        payload: &payload[hl..],
                        options,
                    })
                }
                Err(_) => {
                    pkt.mark("tcp");
                    partial_tcp(payload, payload_wire)
                }
            }
        }
        IpNumber::UDP => {
            pkt.push_proto(proto::UDP);
            if payload.len() < 8 {
                pkt.mark("udp");
                return Transport::Truncated;
            }
            let udp_len = u16::from_be_bytes([payload[4], payload[5]]) as u32;
            let payload_len = if udp_len >= 8 {
                udp_len - 8
            } else {
                payload_wire.saturating_sub(8)
            };
            let end = (8 + payload_len as usize).min(payload.len());
            Transport::Udp(Udp {
                src_port: u16::from_be_bytes([payload[0], payload[1]]),
                dst_port: u16::from_be_bytes([payload[2], payload[3]]),
                payload_len,
                payload: &payload[8..end],
            })
        }
        IpNumber::ICMP | IpNumber::IPV6_ICMP => {
            let is_v6 = proto == 58;
            pkt.push_proto(if is_v6 { proto::ICMPV6 } else { proto::ICMP });
            if payload.len() < 4 {
                pkt.mark(if is_v6 { "icmpv6" } else { "icmp" });
                return Transport::Truncated;
            }
            let _ = v6;
            Transport::Icmp(Icmp {
                v6: is_v6,
                icmp_type: payload[0],
                code: payload[1],
                body: &payload[4..],
            })
        }
        IpNumber::IPV4 | IpNumber::IPV6 => Transport::Other { payload },
        IpNumber::GRE => {
            pkt.push_proto(proto::GRE);
            Transport::Other { payload }
        }
        other => {
            if let Some(name) = ip_proto_name(other.0) {
                pkt.push_proto(name);
            }
            Transport::Other { payload }
        }
    }
}

/// A TCP header cut short (snap length) or with a bad data offset: keep the
/// fields that are present, as Wireshark does, so the frame stays in its flow.
fn partial_tcp(payload: &[u8], payload_wire: u32) -> Transport<'_> {
    // Without the 20-byte fixed header Wireshark keeps no conversation either.
    if payload.len() < 20 {
        return Transport::Truncated;
    }
    let be32 = |at: usize| {
        payload
            .get(at..at + 4)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let be16 = |at: usize| {
        payload
            .get(at..at + 2)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
    };
    let data_offset = match payload.get(12) {
        // A data offset below 5 words is bogus: Wireshark drops such a header entirely.
        Some(b) if b >> 4 < 5 => return Transport::Truncated,
        Some(b) => (b >> 4) as u16 * 4,
        None => 20,
    };
    let options = payload
        .get(20..(data_offset as usize).min(payload.len()))
        .unwrap_or(&[]);
    Transport::Tcp(Tcp {
        src_port: be16(0),
        dst_port: be16(2),
        seq: be32(4),
        ack: be32(8),
        flags: payload.get(13).copied().unwrap_or(0),
        window: be16(14),
        header_len: data_offset,
        payload_len: payload_wire.saturating_sub(data_offset as u32),
        payload: &[],
        options,
    })
}

/// The protocol-path id of an IP protocol without a decoder of its own.
fn ip_proto_name(p: u8) -> Option<u8> {
    Some(match p {
        2 => proto::IGMP,
        50 => proto::ESP,
        51 => proto::AH,
        89 => proto::OSPF,
        103 => proto::PIM,
        112 => proto::VRRP,
        132 => proto::SCTP,
        _ => return None,
    })
}

impl Tcp<'_> {
    /// The options, parsed (on demand: most consumers never need them).
    pub fn parsed_options(&self) -> TcpOptions {
        parse_tcp_options(self.options)
    }

    /// The window-scale option, if present (the one option read per segment,
    /// so it skips filling a whole [`TcpOptions`]; the last one wins).
    pub fn window_scale(&self) -> Option<u8> {
        let mut found = None;
        for (kind, body) in TcpOptionWalk(self.options) {
            if kind == 3 && body.len() == 1 {
                found = Some(body[0]);
            }
        }
        found
    }
}

/// The options of a TCP header as (kind, body); ends quietly at the end-of-list
/// option or at the first inconsistent length.
struct TcpOptionWalk<'a>(&'a [u8]);

impl<'a> Iterator for TcpOptionWalk<'a> {
    type Item = (u8, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        loop {
            let opts = self.0;
            let &kind = opts.first()?;
            match kind {
                0 => {
                    self.0 = &[];
                    return None;
                }
                1 => {
                    self.0 = &opts[1..];
                    continue;
                }
                _ => {}
            }
            let len = opts.get(1).map_or(0, |&l| l as usize);
            if len < 2 || len > opts.len() {
                self.0 = &[];
                return None;
            }
            self.0 = &opts[len..];
            return Some((kind, &opts[2..len]));
        }
    }
}

/// Walk TCP options; stops quietly at the first inconsistent length.
pub fn parse_tcp_options(opts: &[u8]) -> TcpOptions {
    let mut out = TcpOptions::default();
    for (kind, body) in TcpOptionWalk(opts) {
        match (kind, body.len()) {
            (2, 2) => out.mss = Some(u16::from_be_bytes([body[0], body[1]])),
            (3, 1) => out.window_scale = Some(body[0]),
            (4, 0) => out.sack_permitted = true,
            (5, n) if n % 8 == 0 => {
                for (i, b) in body.chunks_exact(8).take(4).enumerate() {
                    out.sack[i] = (
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                        u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                    );
                    out.sack_blocks = i as u8 + 1;
                }
            }
            (8, 8) => {
                out.timestamp = Some((
                    u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                    u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                ))
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_options_parse_and_stop_on_garbage() {
        let o = parse_tcp_options(&[
            2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2,
        ]);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.window_scale, Some(7));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamp, Some((1, 2)));
        let o = parse_tcp_options(&[2, 40, 1]);
        assert_eq!(o, TcpOptions::default());
    }

    proptest::proptest! {
        // The per-segment fast path must agree with the full option parser.
        #[test]
        fn window_scale_fast_path_agrees_with_the_parser(
            opts in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            lead in proptest::collection::vec(proptest::sample::select(vec![1u8, 3, 2, 8]), 0..6),
        ) {
            let bytes: Vec<u8> = lead.iter().copied().chain(opts.iter().copied()).collect();
            let tcp = Tcp {
                src_port: 1, dst_port: 2, seq: 0, ack: 0, flags: 0, window: 0,
                header_len: 20, payload_len: 0, payload: &[], options: &bytes,
            };
            proptest::prop_assert_eq!(tcp.window_scale(), parse_tcp_options(&bytes).window_scale);
        }
    }

    /// A frame decoded without the common-frame shortcut.
    fn decode_general(link_type: u32, data: &[u8]) -> Packet<'_> {
        let mut pkt = Packet {
            frame_base: data.as_ptr() as usize,
            ..Packet::default()
        };
        link::decode_link(&mut pkt, link_type, data, 0);
        probe_app(&mut pkt);
        pkt
    }

    /// Ethernet + IPv4/IPv6 + TCP/UDP with consistent lengths, for mutating.
    fn common_frame(v6: bool, tcp: bool, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
        let l4_len = if tcp { 24 } else { 8 } + payload.len();
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        let proto = if tcp { 6 } else { 17 };
        if v6 {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(l4_len as u16).to_be_bytes());
            f.extend_from_slice(&[proto, 64]);
            f.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            f.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
            f.extend_from_slice(&((20 + l4_len) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        }
        f.extend_from_slice(&ports.0.to_be_bytes());
        f.extend_from_slice(&ports.1.to_be_bytes());
        if tcp {
            f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0x60, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            f.extend_from_slice(&[2, 4, 5, 0xb4]);
        } else {
            f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            f.extend_from_slice(&[0, 0]);
        }
        f.extend_from_slice(payload);
        f
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        // The common-frame shortcut must decode every frame exactly as the
        // general decoder does (or leave it to it).
        #[test]
        fn common_frame_shortcut_agrees_with_the_general_decoder(
            v6: bool,
            tcp: bool,
            ports in (
                proptest::sample::select(vec![53u16, 80, 443, 123, 4789, 4790, 2152, 3544, 5072, 5247, 6081, 6635, 5353, 22]),
                proptest::prelude::any::<u16>(),
            ),
            payload in proptest::sample::select(vec![
                &b""[..], b"GET / HTTP/1.1\r\n", b"\x16\x03\x01\x00\x05hello", b"SSH-2.0-x\r\n",
                b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x00\x00\x01\x00\x01",
            ]),
            edits in proptest::collection::vec(
                (0usize..80, proptest::prelude::any::<u8>()), 0..4),
            cut in 0usize..160,
        ) {
            let mut frame = common_frame(v6, tcp, ports, payload);
            for (at, byte) in edits {
                if let Some(b) = frame.get_mut(at) {
                    *b = byte;
                }
            }
            frame.truncate(cut);
            let fast = decode(1, &frame);
            let general = decode_general(1, &frame);
            proptest::prop_assert_eq!(format!("{fast:?}"), format!("{general:?}"));
        }
    }

    #[test]
    fn app_protocol_ids_name_the_protocol() {
        use AppProto::*;
        for a in [
            Dns, Mdns, Llmnr, Http, Tls, Quic, Ssh, Ntp, Dhcp, Dhcpv6, Smtp, Ftp, Snmp, Syslog,
            Ssdp, Nbns,
        ] {
            assert_eq!(PROTOCOL_NAMES[app_protocol_id(a) as usize], a.name());
        }
    }

    #[test]
    fn every_prefix_of_a_frame_decodes_without_panic() {
        // Ethernet + IPv4 + TCP SYN.
        let frame: Vec<u8> = [
            &[0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00][..],
            &[
                0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            ][..],
            &[
                0x30, 0x39, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
            ][..],
        ]
        .concat();
        let full = decode(1, &frame);
        let ip = full.inner().expect("ip layer");
        assert!(
            matches!(ip.transport, Transport::Tcp(t) if t.dst_port == 80 && t.flags == tcp_flags::SYN)
        );
        assert!(full.protocols.iter().eq(&["eth", "ip", "tcp"]));
        for cut in 0..frame.len() {
            let p = decode(1, &frame[..cut]);
            if cut >= 34 {
                assert!(p.inner().is_some(), "ip layer survives a cut at {cut}");
            }
        }
    }

    /// IPv4 header (no options, checksum not filled) around `payload`.
    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let len = (20 + payload.len()) as u16;
        let mut h = vec![
            0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
        ];
        h[2..4].copy_from_slice(&len.to_be_bytes());
        [h, payload.to_vec()].concat()
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(&sport.to_be_bytes());
        h.extend_from_slice(&dport.to_be_bytes());
        h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        h.extend_from_slice(&[0, 0]);
        [h, payload.to_vec()].concat()
    }

    /// An 802.11 data frame (to DS) with LLC/SNAP and an IPv4 packet;
    /// `swapped`: frame-control bytes in CAPWAP's order.
    fn wlan_ip(swapped: bool) -> Vec<u8> {
        let fc = if swapped { [0x01, 0x08] } else { [0x08, 0x01] };
        let mut f = fc.to_vec();
        f.extend_from_slice(&[0; 22]); // duration, three addresses, sequence
        f.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        f.extend(ipv4(17, &udp(1234, 9999, b"x")));
        f
    }

    fn assert_prefixes_do_not_panic(link: u32, frame: &[u8]) {
        for cut in 0..frame.len() {
            let _ = decode(link, &frame[..cut]);
        }
    }

    #[test]
    fn ayiya_opens_forward_messages_only() {
        // Identity 2^4 = 16 bytes, signature 5·4 = 20 bytes, opcode 1, next header 4.
        let mut ayiya = vec![0x41, 0x52, 0x11, 4, 0, 0, 0, 0];
        ayiya.extend_from_slice(&[0xEE; 36]);
        ayiya.extend(ipv4(17, &udp(40000, 53, b"")));
        let frame = ipv4(17, &udp(5072, 5072, &ayiya));
        let p = decode(101, &frame);
        assert!(p
            .protocols
            .iter()
            .eq(&["raw", "ip", "udp", "ayiya", "ip", "udp"]));
        assert_eq!(p.ip.len(), 2);
        assert!(p.malformed.is_none());
        assert_prefixes_do_not_panic(101, &frame);
        // A heartbeat (opcode 0) carries no packet.
        let mut beat = ayiya.clone();
        beat[2] = 0x10;
        let frame = ipv4(17, &udp(5072, 5072, &beat));
        let p = decode(101, &frame);
        assert!(p.protocols.iter().eq(&["raw", "ip", "udp", "ayiya"]));
        // An identity longer than the datagram: flagged, no inner layer.
        let mut long = ayiya[..8].to_vec();
        long[0] = 0xF1;
        let frame = ipv4(17, &udp(5072, 5072, &long));
        let p = decode(101, &frame);
        assert_eq!((p.ip.len(), p.malformed), (1, Some("ayiya")));
    }

    #[test]
    fn capwap_data_opens_swapped_80211_and_ethernet() {
        // HLEN 2 words, WBID 1, T bit.
        let hdr = [0u8, 0x10, 0x03, 0x00, 0, 0, 0, 0];
        let frame = ipv4(17, &udp(41264, 5247, &[&hdr[..], &wlan_ip(true)].concat()));
        let p = decode(101, &frame);
        let want = [
            "raw",
            "ip",
            "udp",
            "capwap.data",
            "wlan",
            "llc",
            "ip",
            "udp",
        ];
        assert!(p.protocols.iter().eq(&want), "{:?}", p.protocols);
        assert_prefixes_do_not_panic(101, &frame);
        // Not swapped, the frame control reads as a management frame: no IP.
        let frame = ipv4(17, &udp(41264, 5247, &[&hdr[..], &wlan_ip(false)].concat()));
        assert_eq!(decode(101, &frame).ip.len(), 1);
        // T bit clear: an Ethernet frame.
        let eth: Vec<u8> = [&[0u8; 12][..], &[0x08, 0x00], &ipv4(6, &[])].concat();
        let hdr = [0u8, 0x10, 0x02, 0x00, 0, 0, 0, 0];
        let frame = ipv4(17, &udp(41264, 5247, &[&hdr[..], &eth].concat()));
        let p = decode(101, &frame);
        assert!(p
            .protocols
            .iter()
            .eq(&["raw", "ip", "udp", "capwap.data", "eth", "ip", "tcp"]));
        // A fragment (F bit) is not opened.
        let hdr = [0u8, 0x10, 0x03, 0x80, 0, 0, 0, 0];
        let frame = ipv4(17, &udp(41264, 5247, &[&hdr[..], &wlan_ip(true)].concat()));
        assert_eq!(decode(101, &frame).ip.len(), 1);
    }

    #[test]
    fn gre_aruba_wccp_and_cisco_metadata() {
        let gre = |proto: u16, body: &[u8]| [&[0u8, 0][..], &proto.to_be_bytes(), body].concat();
        for proto in [0x8200u16, 0x8210, 0x8370] {
            let frame = ipv4(47, &gre(proto, &wlan_ip(false)));
            let p = decode(101, &frame);
            let want = ["raw", "ip", "gre", "wlan", "llc", "ip", "udp"];
            assert!(
                p.protocols.iter().eq(&want),
                "{proto:#x}: {:?}",
                p.protocols
            );
            assert_prefixes_do_not_panic(101, &frame);
        }
        // tshark 4.0 opens no other value of the range.
        for proto in [0x8201u16, 0x820F, 0x8380, 0x9000] {
            assert_eq!(
                decode(101, &ipv4(47, &gre(proto, &wlan_ip(false))))
                    .ip
                    .len(),
                1
            );
        }
        // WCCPv2: a 4-byte redirect header; WCCPv1: the IPv4 packet directly.
        let inner = ipv4(6, &[0; 20]);
        for body in [
            [&[0x01u8, 0x59, 0, 0x48][..], &inner].concat(),
            inner.clone(),
        ] {
            let frame = ipv4(47, &gre(0x883E, &body));
            let p = decode(101, &frame);
            assert!(p.protocols.iter().eq(&["raw", "ip", "gre", "ip", "tcp"]));
        }
        // Cisco MetaData: inner ethertype first, 8 bytes, then the packet.
        let cmd = [&[0x08u8, 0x00, 1, 1, 0, 1, 0, 0][..], &inner].concat();
        let frame = ipv4(47, &gre(0x8909, &cmd));
        let p = decode(101, &frame);
        assert!(p
            .protocols
            .iter()
            .eq(&["raw", "ip", "gre", "cmd", "ip", "tcp"]));
        assert_prefixes_do_not_panic(101, &frame);
    }
}
