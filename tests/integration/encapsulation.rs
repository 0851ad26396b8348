//! Tunnels checked against tshark on real captures (tcpdump's test suite):
//! ERSPAN type I (no ERSPAN header: GRE without a sequence number), MPLS
//! over UDP (port 6635), NSH over VXLAN-GPE (port 4790), VXLAN. Every
//! layer tshark's protocol hierarchy shows, pcaplens shows at the same
//! depth with the same frames (names pcaplens does not decode aside).

use pcaplens_core::{analyze_bytes, AnalyzerConfig};
use pcaplens_tests::{corpus_dir, truth};
use std::collections::BTreeSet;

/// tshark names pcaplens has no decoder for (payload, link-local protocols,
/// tshark's own markers).
fn ignored(name: &str) -> bool {
    name == "data" || name == "lldp" || name.starts_with("_ws.")
}

#[test]
fn tunnel_captures_decode_every_layer_tshark_decodes() {
    for name in [
        "tcpdump__erspan-type-i-1.pcap",
        "tcpdump__erspan-type-i-4.pcap",
        "tcpdump__mpls-over-udp.pcap",
        "tcpdump__nsh-over-vxlan-gpe.pcap",
        "tcpdump__vxlan.pcap",
    ] {
        let path = corpus_dir().join(name);
        let t = truth(&path);
        let want: BTreeSet<(u64, String, u64)> = t["protocol_hierarchy"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| !ignored(n["protocol"].as_str().unwrap()))
            .map(|n| {
                (
                    n["depth"].as_u64().unwrap(),
                    n["protocol"].as_str().unwrap().to_string(),
                    n["frames"].as_u64().unwrap(),
                )
            })
            .collect();
        let r = analyze_bytes(&std::fs::read(&path).unwrap(), AnalyzerConfig::default()).unwrap();
        let got: BTreeSet<(u64, String, u64)> = r
            .summary
            .protocol_hierarchy
            .iter()
            .map(|n| (n.depth as u64, n.protocol.clone(), n.frames))
            .collect();
        assert_eq!(
            got, want,
            "{name}: protocol hierarchy differs from tshark's"
        );
        assert_eq!(r.summary.undecoded_frames, 0, "{name}");
    }
}

/// Tunnels whose payload tshark names below the transport (HTTP bodies, TLS
/// records counted after desegmentation) or with link-layer protocols
/// pcaplens does not name: compared through the innermost transport.
/// AYIYA (Zeek's traces), Aruba's GRE 802.11 (Zeek's), Cisco WCCP redirect
/// and Cisco MetaData in GRE (tcpdump's), CAPWAP data (nDPI's), and LWAPP,
/// which tshark opens into 802.11 management frames only (no IP layer) and
/// pcaplens leaves as UDP.
#[test]
fn wireless_and_vendor_tunnels_decode_like_tshark_through_the_transport() {
    // Protocols pcaplens has no decoder for, with everything below them.
    let unnamed = |name: &str| {
        ignored(name)
            || matches!(
                name,
                "loop" | "stp" | "dtp" | "cdp" | "wlan.mgt" | "wlccp" | "lwapp" | "lwapp-cntl"
                    // CAPWAP control (UDP 5246: DTLS), not the data channel.
                    | "capwap"
            )
    };
    // Below a transport only tunnels are compared, not application protocols.
    let tunnel = |name: &str| matches!(name, "ayiya" | "capwap.data" | "vxlan" | "teredo");
    let prune = |nodes: Vec<(u64, String, u64)>| {
        let mut out = BTreeSet::new();
        // Ancestors of the node at hand: (depth, name, pruned).
        let mut stack: Vec<(u64, String, bool)> = Vec::new();
        for (depth, name, frames) in nodes {
            while stack.last().is_some_and(|(d, _, _)| *d >= depth) {
                stack.pop();
            }
            let under_pruned = stack.iter().any(|(_, _, p)| *p);
            // Below a transport with no tunnel between: an application protocol.
            let below_transport = stack
                .iter()
                .rev()
                .take_while(|(_, n, _)| !tunnel(n))
                .any(|(_, n, _)| matches!(n.as_str(), "tcp" | "udp" | "icmp" | "icmpv6"));
            let pruned = under_pruned || unnamed(&name) || (below_transport && !tunnel(&name));
            if !pruned {
                out.insert((depth, name.clone(), frames));
            }
            stack.push((depth, name, pruned));
        }
        out
    };
    for (name, tunnel_layer) in [
        ("zeek__ayiya3.pcap", "ayiya"),
        ("zeek__ayiya-large-identity.pcap", "ayiya"),
        ("zeek__gre-aruba.pcap", "wlan"),
        ("zeek__gre-aruba-ccmp.pcap", "wlan"),
        ("tcpdump__wccp_redirect_gre.pcap", "gre"),
        ("tcpdump__various_gre.pcap", "cmd"),
        ("ndpi__capwap_data.pcapng", "capwap.data"),
        ("ndpi__capwap.pcap", "capwap.data"),
        ("tcpdump__lwapp-data.pcap", "udp"),
    ] {
        let path = corpus_dir().join(name);
        let t = truth(&path);
        let want = prune(
            t["protocol_hierarchy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| {
                    (
                        n["depth"].as_u64().unwrap(),
                        n["protocol"].as_str().unwrap().to_string(),
                        n["frames"].as_u64().unwrap(),
                    )
                })
                .collect(),
        );
        let r = analyze_bytes(&std::fs::read(&path).unwrap(), AnalyzerConfig::default()).unwrap();
        let got = prune(
            r.summary
                .protocol_hierarchy
                .iter()
                .map(|n| (n.depth as u64, n.protocol.clone(), n.frames))
                .collect(),
        );
        assert_eq!(
            got, want,
            "{name}: protocol hierarchy differs from tshark's"
        );
        assert!(
            got.iter().any(|(_, p, _)| p == tunnel_layer),
            "{name}: no {tunnel_layer} layer"
        );
        assert_eq!(r.summary.undecoded_frames, 0, "{name}");
    }
}

/// Flows follow the tunnelled packet: the inner addresses and ports, not the
/// tunnel endpoints (AYIYA's IPv6 HTTP, Aruba's 802.11 TCP, CAPWAP's TCP).
#[test]
fn flows_inside_the_new_tunnels_use_the_inner_packet() {
    for (name, needle) in [
        ("zeek__ayiya3.pcap", "2001:4978:f:4c::2"),
        ("ndpi__capwap_data.pcapng", "10.1.3.68"),
        ("tcpdump__wccp_redirect_gre.pcap", "10.254.108.228"),
    ] {
        let path = corpus_dir().join(name);
        let r = analyze_bytes(&std::fs::read(&path).unwrap(), AnalyzerConfig::default()).unwrap();
        let flows = serde_json::to_string(&r.flows).unwrap();
        assert!(
            flows.contains(needle),
            "{name}: no flow of the inner host {needle}"
        );
    }
}
