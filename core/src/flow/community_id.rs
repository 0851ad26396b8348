//! Community ID v1 (<https://github.com/corelight/community-id-spec>): the
//! flow hash that joins pcaplens output with Zeek, Suricata, Wireshark and Elastic.

use base64::Engine as _;
use std::net::IpAddr;

const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// ICMP (v4) type → the type of its counterpart message, for two-way exchanges.
fn icmp4_counterpart(t: u8) -> Option<u8> {
    Some(match t {
        8 => 0,
        0 => 8,
        13 => 14,
        14 => 13,
        15 => 16,
        16 => 15,
        10 => 9,
        9 => 10,
        17 => 18,
        18 => 17,
        _ => return None,
    })
}

fn icmp6_counterpart(t: u8) -> Option<u8> {
    Some(match t {
        128 => 129,
        129 => 128,
        133 => 134,
        134 => 133,
        135 => 136,
        136 => 135,
        130 => 131,
        131 => 130,
        144 => 145,
        145 => 144,
        146 => 147,
        147 => 146,
        _ => return None,
    })
}

/// Compute the Community ID v1 string ("1:" + base64(sha1(...))).
///
/// For ICMP/ICMPv6 pass the type as `src_port` and the code as `dst_port`,
/// as the specification does. Protocols without ports pass `None`.
pub fn community_id_v1(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ports: Option<(u16, u16)>,
) -> String {
    community_id_v1_inline(seed, src, dst, proto, ports).to_string()
}

/// A Community ID v1 held inline: "1:" and 28 base64 characters. Flows and
/// pending transactions keep one each, so it must not cost an allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommunityId([u8; 30]);

impl CommunityId {
    pub fn as_str(&self) -> &str {
        // Only ASCII ever goes in ("1:" and the base64 alphabet).
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::ops::Deref for CommunityId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// What a flow's Community ID (seed 0) is computed from. State that outlives
/// its flow but rarely reaches the report (pending DNS transactions, TLS
/// hellos) keeps this instead of the ID: the hash runs only for the few
/// instances that are listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommunityIdSource {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub ports: Option<(u16, u16)>,
}

impl CommunityIdSource {
    pub fn id(&self) -> CommunityId {
        community_id_v1_inline(0, self.src, self.dst, self.proto, self.ports)
    }
}

/// [`community_id_v1`] without the allocation.
pub fn community_id_v1_inline(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ports: Option<(u16, u16)>,
) -> CommunityId {
    let mut sport_dport = ports;
    let mut one_way = false;
    if let Some((t, c)) = ports {
        if proto == ICMP || proto == ICMPV6 {
            let counterpart = if proto == ICMP {
                icmp4_counterpart(t as u8)
            } else {
                icmp6_counterpart(t as u8)
            };
            match counterpart {
                Some(ct) => sport_dport = Some((t, ct as u16)),
                None => {
                    sport_dport = Some((t, c));
                    one_way = true;
                }
            }
        }
    }
    let ((src_buf, src_len), (dst_buf, dst_len)) = (addr_bytes(src), addr_bytes(dst));
    let (mut a, mut b) = (&src_buf[..src_len], &dst_buf[..dst_len]);
    let (mut pa, mut pb) = sport_dport.unwrap_or((0, 0));
    let ordered = a < b || (a == b && pa < pb);
    if !one_way && !ordered {
        std::mem::swap(&mut a, &mut b);
        std::mem::swap(&mut pa, &mut pb);
    }
    let mut h = sha1_smol::Sha1::new();
    h.update(&seed.to_be_bytes());
    h.update(a);
    h.update(b);
    h.update(&[proto, 0]);
    if sport_dport.is_some() {
        h.update(&pa.to_be_bytes());
        h.update(&pb.to_be_bytes());
    }
    let digest = h.digest().bytes();
    let mut out = [0u8; 30];
    out[0] = b'1';
    out[1] = b':';
    // 20 bytes always encode to exactly 28 characters, so this cannot fail.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out[2..]);
    CommunityId(out)
}

/// Address bytes without an allocation: a buffer and how much of it is used.
fn addr_bytes(a: IpAddr) -> ([u8; 16], usize) {
    match a {
        IpAddr::V4(v) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v.octets());
            (b, 4)
        }
        IpAddr::V6(v) => (v.octets(), 16),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    // The specification's published baseline vectors (seeds 0 and 1).
    #[test]
    fn published_vectors() {
        type Case<'a> = (u16, &'a str, &'a str, u8, Option<(u16, u16)>, &'a str);
        let cases: &[Case] = &[
            (
                0,
                "1.2.3.4",
                "5.6.7.8",
                6,
                Some((1122, 3344)),
                "1:wCb3OG7yAFWelaUydu0D+125CLM=",
            ),
            (
                0,
                "5.6.7.8",
                "1.2.3.4",
                6,
                Some((3344, 1122)),
                "1:wCb3OG7yAFWelaUydu0D+125CLM=",
            ),
            (
                0,
                "1.2.3.4",
                "5.6.7.8",
                17,
                Some((1122, 3344)),
                "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
            ),
            (
                0,
                "1.2.3.4",
                "5.6.7.8",
                1,
                Some((8, 0)),
                "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
            ),
            (
                0,
                "5.6.7.8",
                "1.2.3.4",
                1,
                Some((0, 0)),
                "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
            ),
            (
                0,
                "fe80:1:203:405:607:809:a0b:c0d",
                "fe80:1011:1213:1415:1617:1819:1a1b:1c1d",
                58,
                Some((128, 0)),
                "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=",
            ),
            (
                1,
                "1.2.3.4",
                "5.6.7.8",
                6,
                Some((1122, 3344)),
                "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
            ),
            (
                1,
                "1.2.3.4",
                "5.6.7.8",
                17,
                Some((1122, 3344)),
                "1:OShq+iKDAMVouh/4bMxB9Sz4amw=",
            ),
            (
                1,
                "1.2.3.4",
                "5.6.7.8",
                1,
                Some((8, 0)),
                "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=",
            ),
            (
                1,
                "fe80:1:203:405:607:809:a0b:c0d",
                "fe80:1011:1213:1415:1617:1819:1a1b:1c1d",
                58,
                Some((128, 0)),
                "1:IO27GQzPuCtNnwFvjWALMHu5tJE=",
            ),
            (
                0,
                "1.2.3.4",
                "5.6.7.8",
                46,
                None,
                "1:ikv3kmf89luf73WPz1jOs49S768=",
            ),
        ];
        for (seed, s, d, p, ports, want) in cases {
            assert_eq!(
                &community_id_v1(*seed, ip(s), ip(d), *p, *ports),
                want,
                "{s} -> {d} proto {p}"
            );
        }
    }
}
