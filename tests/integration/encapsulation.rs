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
