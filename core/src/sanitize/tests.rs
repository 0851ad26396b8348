//! The sanitizer end to end: crafted captures in, rewritten bytes and the
//! analysis of them out.

mod capture_rewrites {
    use crate::sanitize::*;
    use crate::{analyze_bytes, AnalyzerConfig};

    /// A raw-IP (LINKTYPE 101) pcap; each record captures `caplen` bytes of `pkt`.
    fn pcap(pkts: &[(&[u8], usize)]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for (i, (p, cap)) in pkts.iter().enumerate() {
            for v in [1000 + i as u32, 0, *cap as u32, p.len() as u32] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(&p[..*cap]);
        }
        b
    }

    fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0];
        p.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[
            0, 1, 0x40, 0, 64, proto, 0, 0, 192, 0, 2, 7, 198, 51, 100, 9,
        ]);
        let ck = !(rewrite::sum16(&p) as u16);
        p[10..12].copy_from_slice(&ck.to_be_bytes());
        p.extend_from_slice(l4);
        p
    }

    fn run(input: &[u8]) -> Vec<u8> {
        sanitize_bytes(input, SanitizeConfig::new(vec![7; 32]))
            .unwrap()
            .0
    }

    #[test]
    fn snapped_tcp_header_keeps_its_fields_and_gets_a_new_checksum() {
        // A SYN with 20 bytes of options, captured up to the middle of them.
        let mut tcp = vec![
            0xed, 0x9b, 0, 25, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0x16, 0xd0,
        ];
        tcp.extend_from_slice(&[0x12, 0x34, 0, 0]);
        tcp.extend_from_slice(&[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        let ip = ipv4(6, &tcp);
        let input = pcap(&[(&ip, 20 + 24)]);
        let out = run(&input);
        let (o, s) = (&input[40..], &out[40..]);
        assert_ne!(o[12..20], s[12..20], "addresses replaced");
        assert_eq!(o[20..36], s[20..36], "TCP fields kept");
        assert_ne!(o[36..38], s[36..38], "TCP checksum follows the addresses");
        let flows = |b: &[u8]| analyze_bytes(b, AnalyzerConfig::default()).unwrap();
        let (a, b) = (flows(&input), flows(&out));
        assert_eq!(a.summary.flows.total, 1);
        assert_eq!(b.summary.flows.total, 1);
        assert_eq!(a.summary.malformed_frames, b.summary.malformed_frames);
    }

    #[test]
    fn dns_question_running_out_of_the_message_still_runs_out() {
        // Query whose first label claims 40 bytes but 6 follow.
        let mut dns = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 40];
        dns.extend_from_slice(b"secret");
        let ip = udp_datagram(0xc000, 53, &dns);
        let input = pcap(&[(&ip, ip.len())]);
        let out = run(&input);
        assert!(!out.windows(6).any(|w| w == b"secret"), "fail closed");
        let dns_of = |b: &[u8]| {
            analyze_bytes(b, AnalyzerConfig::default())
                .unwrap()
                .failures
                .dns
                .malformed_messages
        };
        assert_eq!(dns_of(&input), 1);
        assert_eq!(dns_of(&out), 1);
    }

    /// An IPv4 UDP datagram (checksum 0: none) from `sport` to `dport`.
    fn udp_datagram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut udp = Vec::with_capacity(8 + payload.len());
        udp.extend_from_slice(&sport.to_be_bytes());
        udp.extend_from_slice(&dport.to_be_bytes());
        udp.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(payload);
        ipv4(17, &udp)
    }

    fn tcp_segment(dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut tcp = vec![0x9c, 0x40];
        tcp.extend_from_slice(&dport.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        tcp.extend_from_slice(payload);
        ipv4(6, &tcp)
    }

    fn find(h: &[u8], n: &[u8]) -> Option<usize> {
        h.windows(n.len()).position(|w| w == n)
    }

    /// Live curl → http.server traffic: a redacted form or text body keeps
    /// its Content-Type (tshark parses the zeros as the same protocol, so
    /// the protocol hierarchy is the same), a binary type is still renamed;
    /// Basic credentials stay base64 of `user:password` of the same shape.
    #[test]
    fn http_textual_bodies_keep_their_type_and_basic_stays_user_password() {
        use base64::Engine;
        let b64 = &base64::engine::general_purpose::STANDARD;
        let cred = b64.encode("alice.w:Tr0ub4dor&3xyz");
        let req = format!(
            "POST /v1/upload HTTP/1.1\r\nHost: api.brightquill.test\r\nAuthorization: Basic {cred}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\n\
             email=carol@brightquill.io"
        );
        let resp = "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\n\x7fPNG";
        let (a, b) = (
            tcp_segment(80, req.as_bytes()),
            tcp_segment(80, resp.as_bytes()),
        );
        let input = pcap(&[(&a, a.len()), (&b, b.len())]);
        let out = run(&input);
        assert_eq!(out.len(), input.len());
        assert!(find(&out, b"Content-Type: application/x-www-form-urlencoded\r\n").is_some());
        assert!(find(&out, b"Content-Type: image/xxx\r\n").is_some());
        assert!(find(&out, b"carol").is_none() && find(&out, b"brightquill").is_none());
        let at = find(&out, b"Basic ").expect("scheme kept") + 6;
        let new = b64.decode(&out[at..at + cred.len()]).expect("still base64");
        let new = String::from_utf8(new).expect("still text");
        assert_eq!(new.len(), 22);
        assert_eq!(new.find(':'), Some(7), "{new}");
        assert!(
            !new.contains("alice") && !new.contains("Tr0ub4dor"),
            "{new}"
        );
        // The body is zeroed, its framing kept.
        let body = find(&out, b"\r\n\r\n").unwrap() + 4;
        assert_eq!(out[body..body + 26], [0; 26]);
    }

    /// `curl -H 'Content-Type: application/json' -d '{…}'`: a redacted JSON
    /// body reads as JSON (`{}` and spaces), not as zeros under a text layer.
    #[test]
    fn redacted_json_body_is_an_empty_object() {
        let body = r#"{"email":"carol@brightquill.io","k":1}"#;
        let req = format!(
            "POST /v1/profile HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let a = tcp_segment(8080, req.as_bytes());
        let input = pcap(&[(&a, a.len())]);
        let out = run(&input);
        let at = find(&out, b"\r\n\r\n").unwrap() + 4;
        let mut want = vec![b' '; body.len()];
        want[..2].copy_from_slice(b"{}");
        assert_eq!(out[at..at + body.len()], want[..]);
        assert!(find(&out, b"Content-Type: application/json\r\n").is_some());
        // keep: the body is kept (scrubbed), not replaced.
        let mut cfg = SanitizeConfig::new(vec![7; 32]);
        cfg.payload_policy = PayloadPolicy::Keep;
        let kept = sanitize_bytes(&input, cfg).unwrap().0;
        assert_eq!(kept[at], b'{');
        assert!(find(&kept, b"\"email\"").is_some());
    }

    /// `curl -g http://[fd5a:7c31:4e02::53]:8080/`: the Host literal stays an
    /// IPv6 address (it was replaced letter by letter, `pj4z:8o86:…`), port kept.
    #[test]
    fn http_host_ipv6_literal_stays_an_address() {
        let req = b"GET / HTTP/1.1\r\nHost: [fd5a:7c31:4e02::53]:8080\r\n\r\n";
        let a = tcp_segment(8080, req);
        let input = pcap(&[(&a, a.len())]);
        let out = run(&input);
        let at = find(&out, b"Host: [").expect("host kept") + 7;
        let end = at
            + out[at..]
                .iter()
                .position(|&c| c == b']')
                .expect("bracket kept");
        assert_eq!(end - at, "fd5a:7c31:4e02::53".len());
        let text = std::str::from_utf8(&out[at..end]).unwrap();
        let addr: std::net::Ipv6Addr = text.parse().expect("still an IPv6 address");
        assert_ne!(
            addr,
            "fd5a:7c31:4e02::53".parse::<std::net::Ipv6Addr>().unwrap()
        );
        assert_eq!(&out[end..end + 6], b"]:8080");
    }

    fn ptr_query(dst: [u8; 4], name: &str, tail: &[u8]) -> Vec<u8> {
        let mut dns = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            dns.push(l.len() as u8);
            dns.extend_from_slice(l.as_bytes());
        }
        dns.extend_from_slice(&[0, 0, 12, 0, 1]);
        dns.extend_from_slice(tail);
        let mut ip = udp_datagram(0xc000, 53, &dns);
        ip[16..20].copy_from_slice(&dst);
        ip[10..12].fill(0);
        let ck = !(rewrite::sum16(&ip[..20]) as u16);
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
        ip
    }

    /// `dig -x 10.213.57.53` in a live capture: the reverse name must be the
    /// address's pseudonym. Octets that need more digits than their label
    /// has move the label boundaries (same total length) instead of losing
    /// digits (`53.48.075.75` read as 75.75.48.53).
    #[test]
    fn reverse_name_is_the_address_pseudonym_even_when_octets_grow() {
        let mut relaid = 0;
        for d in 1..=9u8 {
            let name = format!("{d}.200.200.200.in-addr.arpa");
            let ip = ptr_query([200, 200, 200, d], &name, &[]);
            let input = pcap(&[(&ip, ip.len())]);
            let out = run(&input);
            let o = &out[40..];
            let p = [o[16], o[17], o[18], o[19]];
            let q = &o[28 + 12..];
            let mut labels = Vec::new();
            let mut i = 0;
            while q[i] != 0 {
                labels.push(String::from_utf8(q[i + 1..i + 1 + q[i] as usize].to_vec()).unwrap());
                i += 1 + q[i] as usize;
            }
            assert_eq!(i, name.len() + 1, "name length kept");
            assert_eq!(labels[4..], ["in-addr", "arpa"]);
            let digits: usize = p.iter().map(|o| o.to_string().len()).sum();
            if digits <= 10 {
                let got: Vec<u8> = labels[..4]
                    .iter()
                    .rev()
                    .map(|l| l.parse().unwrap())
                    .collect();
                assert_eq!(got, p, "{name} -> {labels:?}");
            }
            if labels[0].len() != 1 {
                relaid += 1;
            }
        }
        assert!(relaid > 0, "no case needed the boundaries moved");
    }

    /// A pointer aiming inside the reverse name (an SOA owner naming the
    /// zone `200.200.in-addr.arpa` through the question) pins its label
    /// boundaries: the message stays parseable, every length byte kept.
    #[test]
    fn reverse_name_with_a_pointer_inside_keeps_its_labels() {
        // Authority: owner = pointer to "51.198.in-addr.arpa" inside the question.
        let inner = 12 + 2 + 4;
        let tail = [0xc0, inner as u8, 0, 6, 0, 1, 0, 0, 0, 60, 0, 0];
        for d in 1..=9u8 {
            let name = format!("{d}.200.200.200.in-addr.arpa");
            let ip = ptr_query([200, 200, 200, d], &name, &tail);
            let input = pcap(&[(&ip, ip.len())]);
            let out = run(&input);
            let (a, b) = (&input[40 + 28 + 12..], &out[40 + 28 + 12..]);
            let mut i = 0;
            while a[i] != 0 {
                assert_eq!(a[i], b[i], "length byte at {i} kept ({name})");
                i += 1 + a[i] as usize;
            }
        }
    }

    /// A neighbour solicitation on a veth: the Ethernet destination
    /// 33:33:ff:00:00:53 spelt the last 24 bits of the target fd5a:…::53.
    /// The group MAC now follows the pseudonymised IPv6 destination.
    #[test]
    fn multicast_mac_follows_the_pseudonymised_group_address() {
        let mut b = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let mut f = vec![
            0x33, 0x33, 0xff, 0, 0, 0x53, 2, 0x5c, 0xa1, 0x7e, 0, 0x10, 0x86, 0xdd,
        ];
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, 59, 255]);
        f.extend_from_slice(&[
            0xfd, 0x5a, 0x7c, 0x31, 0x4e, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ]);
        f.extend_from_slice(&[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0x53]);
        for v in [1u32, 0, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&f);
        let out = run(&b);
        let o = &out[40..];
        assert_eq!(o[..2], [0x33, 0x33], "still a group MAC");
        assert_eq!(
            o[2..6],
            o[14 + 24 + 12..14 + 24 + 16],
            "made from the new destination"
        );
        assert_ne!(o[2..6], f[2..6], "the original's last bits are gone");
    }

    /// A TXT answer (dig against a stdlib server) keeps its string lengths:
    /// tshark still shows two strings of 12 and 5 bytes, not 19 empty ones.
    #[test]
    fn dns_txt_keeps_its_string_lengths() {
        let mut dns = vec![0x12, 0x34, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0];
        dns.extend_from_slice(b"\x04corp\x04test\x00\x00\x10\x00\x01");
        dns.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 1, 0, 0, 19]);
        dns.extend_from_slice(b"\x0capi-key=s3cr\x05hello");
        let ip = udp_datagram(53, 0xc000, &dns);
        let input = pcap(&[(&ip, ip.len())]);
        let out = run(&input);
        let rd = out.len() - 19;
        assert_eq!(out[rd], 12);
        assert_eq!(out[rd + 1..rd + 13], [0; 12]);
        assert_eq!(out[rd + 13], 5);
        assert_eq!(out[rd + 14..], [0; 5]);
    }

    #[test]
    fn custom_blocks_keep_their_structure() {
        // pcapng: SHB, then a custom block (type 0xBAD, PEN, data).
        let mut b = Vec::new();
        for v in [0x0a0d_0d0au32, 28, 0x1a2b_3c4d, 1, u32::MAX, u32::MAX, 28] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [0xbadu32, 20, 32473] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(b"host");
        b.extend_from_slice(&20u32.to_le_bytes());
        let (out, summary, _) = sanitize_bytes(&b, SanitizeConfig::new(vec![7; 32])).unwrap();
        assert!(summary.error.is_none(), "{:?}", summary.error);
        assert_eq!(out[..40], b[..40], "header, type, length and PEN kept");
        assert_eq!(out[40..44], [0; 4], "content zeroed");
        assert_eq!(out[44..], b[44..]);
    }
}

/// Leaks the fuzzer found (`fuzz/`, target `sanitize`), one test each,
/// named after what leaked.
mod fuzz_found_leaks {
    use crate::sanitize::audit::audit_bytes;
    use crate::sanitize::*;
    use crate::{analyze_bytes, AnalyzerConfig};

    /// A raw-IP (LINKTYPE 101) pcap of whole packets.
    fn pcap(pkts: &[&[u8]]) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for (i, p) in pkts.iter().enumerate() {
            for v in [1000 + i as u32, 0, p.len() as u32, p.len() as u32] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(p);
        }
        b
    }

    fn name_wire(name: &str) -> Vec<u8> {
        let mut w = Vec::new();
        for l in name.split('.') {
            w.push(l.len() as u8);
            w.extend_from_slice(l.as_bytes());
        }
        w.push(0);
        w
    }

    /// A query for the single label `test` is pseudonymised, while `test`
    /// as the last label of other names stays: the audit looked for the
    /// label's wire form, which is the tail of every `*.test` name, and
    /// called each one a leak. A label some name keeps as its top-level
    /// domain is public; a single-label name no name keeps is still audited.
    #[test]
    fn a_single_label_name_that_is_also_a_kept_tld_is_not_a_leak() {
        let query = |id: u16, name: &str| {
            let mut dns = id.to_be_bytes().to_vec();
            dns.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
            dns.extend_from_slice(&name_wire(name));
            dns.extend_from_slice(&[0, 1, 0, 1]);
            let mut udp = vec![0xd4, 0x31, 0, 53];
            udp.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
            udp.extend_from_slice(&[0, 0]);
            udp.extend_from_slice(&dns);
            let mut ip = vec![
                0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 53,
            ];
            let total = (20 + udp.len()) as u16;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&udp);
            ip
        };
        for (names, leak) in [
            (&["test", "host.brightquill.test"][..], false),
            (&["fileserver", "host.brightquill.test"][..], true),
        ] {
            let pkts: Vec<Vec<u8>> = names
                .iter()
                .enumerate()
                .map(|(i, n)| query(i as u16, n))
                .collect();
            let refs: Vec<&[u8]> = pkts.iter().map(|p| &p[..]).collect();
            let input = pcap(&refs);
            let cfg = SanitizeConfig::new(b"fuzz-key-fuzz-key-fuzz-key-0123".to_vec());
            let (out, _, ps) = sanitize_bytes(&input, cfg).unwrap();
            let audit = audit_bytes(&out, ps.originals());
            assert!(audit.passed, "{names:?}: {:?}", audit.hits_by_form);
            // The single label is audited unless some name keeps it.
            let raw = audit_bytes(&input, ps.originals());
            let wire_hits = raw.hits_by_form.get("dns_name/wire").copied().unwrap_or(0);
            assert_eq!(
                wire_hits >= names.len() as u64,
                leak,
                "{names:?}: {:?}",
                raw.hits_by_form
            );
        }
    }

    /// Inputs of the 2026-12-07 fuzz campaign (`fuzz/fixed/`) whose
    /// certificates (and one encrypted pre-master secret) held names and
    /// addresses the old heuristic DER scan kept: with the structural walk,
    /// the audit finds no original in any form, binary included.
    #[test]
    fn fuzzed_certificates_leave_no_original_in_any_form() {
        let inputs: &[(&str, &[u8])] = &[
            (
                "x509-aia-url-host",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-aia-url-host.bin"),
            ),
            (
                "x509-cert-across-segments-1",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-cert-across-segments-1.bin"),
            ),
            (
                "x509-cert-across-segments-2",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-cert-across-segments-2.bin"),
            ),
            (
                "x509-cert-across-segments-3",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-cert-across-segments-3.bin"),
            ),
            (
                "x509-cert-across-segments-4",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-cert-across-segments-4.bin"),
            ),
            (
                "x509-extension-name",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-extension-name.bin"),
            ),
            (
                "x509-public-key-name",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-public-key-name.bin"),
            ),
            (
                "x509-rdn-name",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-rdn-name.bin"),
            ),
            (
                "x509-san-name-after-punctuation",
                include_bytes!("../../../fuzz/fixed/sanitize-x509-san-name-after-punctuation.bin"),
            ),
            (
                "tls-encrypted-premaster-name",
                include_bytes!("../../../fuzz/fixed/sanitize-tls-encrypted-premaster-name.bin"),
            ),
        ];
        check_fuzzed(inputs, true);
    }

    /// The other inputs of that campaign: an IPv4 address as text planted
    /// in SSH ciphertext (kept, for SSH's framing, but text in it that reads
    /// as an address is replaced now); a "name" of binary labels whose wire
    /// form is ordinary record bytes (no longer an original to look for);
    /// an original address that is also another original's pseudonym
    /// (Crypto-PAn permutes the space), found by the structured rescan
    /// where it stands for the pseudonym; a 16-label name whose last,
    /// binary label (kept as a "TLD") held another name's wire form; SSH
    /// algorithm lists whose public `…@openssh.com` names the text scrub
    /// took for e-mail addresses. Audited as the fuzz target audits: an
    /// identifier's raw bytes in kept binary only in the strict mode.
    #[test]
    fn fuzzed_ssh_dns_and_colliding_addresses_pass_the_audit() {
        let inputs: &[(&str, &[u8])] = &[
            (
                "ssh-encrypted-ipv4-text",
                include_bytes!("../../../fuzz/fixed/sanitize-ssh-encrypted-ipv4-text.bin"),
            ),
            (
                "udp-unknown-payload-dns-wire",
                include_bytes!("../../../fuzz/fixed/sanitize-udp-unknown-payload-dns-wire.bin"),
            ),
            (
                "structured-ipv4-on-rescan",
                include_bytes!("../../../fuzz/fixed/sanitize-structured-ipv4-on-rescan.bin"),
            ),
            (
                "dns-binary-last-label-kept-as-tld",
                include_bytes!(
                    "../../../fuzz/fixed/sanitize-dns-binary-last-label-kept-as-tld.bin"
                ),
            ),
            (
                "ssh-algorithm-names-taken-for-email",
                include_bytes!(
                    "../../../fuzz/fixed/sanitize-ssh-algorithm-names-taken-for-email.bin"
                ),
            ),
        ];
        check_fuzzed(inputs, false);
    }

    fn check_fuzzed(inputs: &[(&str, &[u8])], strict: bool) {
        for (what, input) in inputs {
            let cfg = SanitizeConfig::new(b"fuzz-key-fuzz-key-fuzz-key-0123".to_vec());
            let (out, summary, ps) = sanitize_bytes(input, cfg).expect(what);
            assert!(summary.format.is_some(), "{what}");
            let audit = audit_bytes(&out, ps.originals());
            let hits: u64 = audit
                .hits_by_form
                .iter()
                .filter(|(form, _)| {
                    strict || !(form.ends_with("/binary") || form.ends_with("/raw"))
                })
                .map(|(_, n)| n)
                .sum();
            assert_eq!(
                hits, 0,
                "{what}: {:?} {:?}",
                audit.hits_by_form, audit.examples
            );
        }
    }

    /// DNSSEC signatures and keys were kept as they were: opaque, yet they
    /// name their zone to anyone who looks them up (and the fuzzer put a
    /// name's bytes in them, which the audit found). They follow the payload
    /// policy now; the analysis of the message is unchanged.
    #[test]
    fn dnssec_signatures_and_keys_follow_the_payload_policy() {
        let qname = name_wire("host.example.com");
        let mut dns = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        dns.extend_from_slice(&qname);
        dns.extend_from_slice(&[0, 1, 0, 1]);
        // RRSIG over the A record: fixed fields, signer, then a signature
        // that holds the query name in wire form.
        let mut rrsig = vec![0, 1, 8, 3, 0, 0, 0x0e, 0x10];
        rrsig.extend_from_slice(&[0x60, 0, 0, 0, 0x5f, 0, 0, 0, 0x12, 0x34]);
        rrsig.extend_from_slice(&name_wire("example.com"));
        let mut sig = qname.clone();
        sig.resize(64, 0xa5);
        rrsig.extend_from_slice(&sig);
        // DNSKEY whose key bytes hold the name in dotted form.
        let mut dnskey = vec![0x01, 0x01, 3, 8];
        let mut key = b"host.example.com".to_vec();
        key.resize(48, 0x5a);
        dnskey.extend_from_slice(&key);
        for (ty, rdata) in [(46u16, &rrsig), (48, &dnskey)] {
            dns.extend_from_slice(&[0xc0, 0x0c]);
            dns.extend_from_slice(&ty.to_be_bytes());
            dns.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
            dns.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            dns.extend_from_slice(rdata);
        }
        let mut udp = vec![0, 53, 0xd4, 0x31];
        udp.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&dns);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 53, 198, 51, 100, 9]);
        let ck = !(rewrite::sum16(&ip) as u16);
        ip[10..12].copy_from_slice(&ck.to_be_bytes());
        ip.extend_from_slice(&udp);
        let input = pcap(&[&ip]);
        let (out, _, ps) = sanitize_bytes(&input, SanitizeConfig::new(vec![7; 32])).unwrap();
        let audit = audit_bytes(&out, ps.originals());
        assert!(audit.passed, "{:?}", audit.examples);
        let find = |hay: &[u8], n: &[u8]| hay.windows(n.len()).position(|w| w == n);
        let sig_at = find(&input, &sig).unwrap();
        assert!(
            out[sig_at..sig_at + sig.len()].iter().all(|&b| b == 0),
            "signature zeroed"
        );
        let key_at = find(&input, &key).unwrap();
        assert!(
            out[key_at..key_at + key.len()].iter().all(|&b| b == 0),
            "key zeroed"
        );
        assert_eq!(
            out[key_at - 4..key_at],
            input[key_at - 4..key_at],
            "DNSKEY flags kept"
        );
        let dns_of = |b: &[u8]| {
            let r = analyze_bytes(b, AnalyzerConfig::default()).unwrap();
            serde_json::to_value(&r.failures.dns).unwrap()
        };
        assert_eq!(dns_of(&input), dns_of(&out));
        // Kept payload keeps them (text in them scrubbed as in other kept payload).
        let mut cfg = SanitizeConfig::new(vec![7; 32]);
        cfg.payload_policy = PayloadPolicy::Keep;
        let (kept, _, _) = sanitize_bytes(&input, cfg).unwrap();
        assert_eq!(kept[key_at + 16..key_at + key.len()], key[16..]);
    }
}

mod dns_tcp_tests {
    use crate::detect::testpcap::{tcp, Pcap, C, S};
    use crate::sanitize::*;

    /// A DNS response with one TXT answer of `text` for `name`, length-prefixed.
    fn txt_response(id: u16, name: &str, text: &[u8]) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&[0x84, 0, 0, 1, 0, 1, 0, 0, 0, 0]);
        for l in name.split('.') {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 16, 0, 1, 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
        m.extend_from_slice(&(text.len() as u16 + 1).to_be_bytes());
        m.push(text.len() as u8);
        m.extend_from_slice(text);
        let mut framed = (m.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&m);
        framed
    }

    /// A DNS message over two TCP segments: the second segment's part of it
    /// is zeroed (its names cannot be read without the beginning) — it used
    /// to be read as a new message, keeping its first 14 bytes — and a
    /// message after it in the same segment is rewritten as usual.
    #[test]
    fn a_dns_message_continued_in_the_next_segment_leaks_nothing() {
        let first = txt_response(
            1,
            "txt.cutzone.example",
            b"v=spf1 include:_spf.mailer-19.cutzone.example ~all",
        );
        let second = txt_response(2, "next.cutzone.example", b"hello");
        let cut = first.len() - 30;
        let mut stream = first.clone();
        stream.extend_from_slice(&second);
        let mut pcap = Pcap::new();
        pcap.push(0, &tcp(S, 53, C, 40000, 1, 1, 0x18, &stream[..cut]));
        pcap.push(
            1,
            &tcp(S, 53, C, 40000, 1 + cut as u32, 1, 0x18, &stream[cut..]),
        );
        let (out, _, _) = sanitize_bytes(pcap.bytes(), SanitizeConfig::new(vec![7; 32])).unwrap();
        let find = |n: &[u8]| out.windows(n.len()).any(|w| w == n);
        assert!(!find(b"cutzone"), "a name or its text is left");
        assert!(!find(b"mailer-19"), "the continuation is kept");
        // The second segment: IP and TCP headers, the continuation (zeros),
        // then the next message with its header kept and its name rewritten.
        let seg = &out[out.len() - (stream.len() - cut)..];
        assert!(seg[..first.len() - cut].iter().all(|&b| b == 0));
        let next = &seg[first.len() - cut..];
        assert_eq!(next[..14], second[..14], "length prefix and header kept");
        assert_eq!(next[14], 4, "label length kept");
        assert_ne!(&next[15..19], b"next", "label rewritten");
        assert!(
            next[15..19].iter().all(u8::is_ascii_alphabetic),
            "not zeroed: {:?}",
            &next[15..19]
        );
    }
}

mod quic_tests {
    use crate::detect::testpcap::{
        client_hello, quic_client_initial, quic_crypto_frame, udp, Pcap, C, S,
    };
    use crate::sanitize::*;
    use crate::{analyze_bytes, AnalyzerConfig};

    /// A browser's ClientHello: split over two Initials, the SNI in the first
    /// packet, the hello's start (which places the SNI) only in the second.
    fn split_hello_capture(sni: &str) -> Vec<u8> {
        let hello = client_hello(sni, &["h3"])[5..].to_vec();
        let at = hello
            .windows(sni.len())
            .position(|w| w == sni.as_bytes())
            .unwrap();
        let (head, tail) = hello.split_at(at - 3);
        let dcid = [0x5a; 8];
        let mut p = Pcap::new();
        let first = quic_client_initial(1, &dcid, 0, &quic_crypto_frame(head.len(), tail));
        let second = quic_client_initial(1, &dcid, 1, &quic_crypto_frame(0, head));
        p.push(0, &udp(C, 50000, S, 443, &first));
        p.push(1, &udp(C, 50000, S, 443, &second));
        p.bytes().to_vec()
    }

    /// A 1-RTT packet keeps its first byte (the analysis reads the
    /// handshake's progress from it) only in a conversation that carried
    /// QUIC long headers; any other UDP payload is zeroed whole.
    #[test]
    fn short_header_first_byte_is_kept_only_in_quic_conversations() {
        let short = [0x41, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44, 0x55];
        let mut p = Pcap::new();
        p.push(0, &udp(C, 40000, S, 7777, &short));
        let hello = client_hello("x.example", &[])[5..].to_vec();
        let initial = quic_client_initial(1, &[1; 8], 0, &quic_crypto_frame(0, &hello));
        p.push(1, &udp(C, 50000, S, 443, &initial));
        p.push(2, &udp(S, 443, C, 50000, &short));
        let input = p.bytes().to_vec();
        let (out, _, _) = sanitize_bytes(&input, SanitizeConfig::new(vec![7; 32])).unwrap();
        // The last bytes of record `i` of the (raw-IP) pcap: the UDP payload.
        let tail = |b: &[u8], i: usize| {
            let mut pos = 24;
            for _ in 0..i {
                pos += 16 + u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
            }
            let len = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
            b[pos + 16 + len - short.len()..pos + 16 + len].to_vec()
        };
        assert_eq!(tail(&out, 0), [0; 10]);
        assert_eq!(tail(&out, 2)[0], 0x41);
        assert_eq!(tail(&out, 2)[1..], [0; 9]);
    }

    /// The server's Initial (its ServerHello names no one) and the client's
    /// later Initials (keys from its first DCID, the server's ID in the
    /// header) are kept, protected again; a CONNECTION_CLOSE reason is
    /// zeroed. Nothing of them is left unreadable for tshark.
    #[test]
    fn server_initials_and_later_client_initials_are_kept() {
        use crate::detect::testpcap::quic_initial;
        let (client_id, server_id) = ([0x11; 8], [0x22; 8]);
        let hello = client_hello("kept.example", &["h3"])[5..].to_vec();
        let server_hello = [2, 0, 0, 4, 3, 3, 0, 0];
        let mut close = vec![0x1c, 0x01, 0x00, 0x0b];
        close.extend_from_slice(b"secret-host");
        let ack = [0x02, 0x00, 0x00, 0x00, 0x00];
        let mut p = Pcap::new();
        let c = |pn, header: &[u8], frames: &[u8]| {
            quic_initial(1, &client_id, header, false, pn, frames)
        };
        let s = |pn, frames: &[u8]| quic_initial(1, &client_id, &[], true, pn, frames);
        p.push(
            0,
            &udp(
                C,
                50000,
                S,
                443,
                &c(0, &client_id, &quic_crypto_frame(0, &hello)),
            ),
        );
        p.push(
            1,
            &udp(
                S,
                443,
                C,
                50000,
                &s(0, &quic_crypto_frame(0, &server_hello)),
            ),
        );
        p.push(2, &udp(C, 50000, S, 443, &c(1, &server_id, &ack)));
        p.push(3, &udp(S, 443, C, 50000, &s(1, &close)));
        let input = p.bytes().to_vec();
        let (out, summary, _) = sanitize_bytes(&input, SanitizeConfig::new(vec![7; 32])).unwrap();
        assert_eq!(
            (
                summary.counters.quic_initials_rewritten,
                summary.counters.quic_initials_redacted
            ),
            (4, 0)
        );
        assert!(!out.windows(11).any(|w| w == b"secret-host"));
        // The unchanged server Initial is byte for byte the original.
        let record = |b: &[u8], i: usize| {
            let mut pos = 24;
            for _ in 0..i {
                pos += 16 + u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
            }
            let len = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
            b[pos + 16 + 28..pos + 16 + len].to_vec()
        };
        assert_eq!(record(&out, 1), record(&input, 1));
        assert_ne!(record(&out, 3), record(&input, 3));
    }

    /// Initials quoted in ICMP errors open with the keys of the quoted
    /// datagram's conversation, as in UDP. A browser that gives up on a
    /// handshake closes its socket at once; the server's late ACK-only
    /// Initials (their DCID the client's empty ID, keys from the client's
    /// first DCID) then come back as port unreachable. They were zeroed
    /// (the quoted packet had no conversation to take keys from). A quote
    /// cut short (it no longer authenticates) is still zeroed.
    #[test]
    fn initials_quoted_in_icmp_errors_open_with_their_conversations_keys() {
        use crate::detect::testpcap::{ipv4, quic_initial};
        let (client_id, server_id) = ([0x33; 8], [0x44; 8]);
        let hello = client_hello("quoted.example", &["h3"])[5..].to_vec();
        let server_hello = [2, 0, 0, 4, 3, 3, 0, 0];
        // ACK, then CONNECTION_CLOSE with a reason.
        let mut ack_close = vec![0x02, 0x05, 0x09, 0x01, 0x00, 0x00, 0x01];
        ack_close.extend_from_slice(&[0x1c, 0x01, 0x00, 0x0b]);
        ack_close.extend_from_slice(b"secret-host");
        let port_unreachable = |from: [u8; 4], to: [u8; 4], quoted: &[u8]| {
            let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(quoted);
            ipv4(from, to, 1, &icmp)
        };
        let client = quic_initial(1, &client_id, &client_id, false, 1, &{
            quic_crypto_frame(0, &hello)
        });
        let server = quic_initial(1, &client_id, &[], true, 0, &{
            quic_crypto_frame(0, &server_hello)
        });
        let late_server = quic_initial(1, &client_id, &[], true, 4, &ack_close);
        let late_client = quic_initial(1, &client_id, &server_id, false, 5, &[0x01]);
        let mut p = Pcap::new();
        p.push(0, &udp(C, 48472, S, 443, &client));
        p.push(1, &udp(S, 443, C, 48472, &server));
        p.push(
            2,
            &port_unreachable(C, S, &udp(S, 443, C, 48472, &late_server)),
        );
        p.push(
            3,
            &port_unreachable(S, C, &udp(C, 48472, S, 443, &late_client)),
        );
        // As Linux quotes at most 576 bytes of IPv4: the Initial is cut.
        let cut = udp(S, 443, C, 48472, &late_server);
        p.push(4, &port_unreachable(C, S, &cut[..576 - 28]));
        let input = p.bytes().to_vec();
        let (out, summary, _) = sanitize_bytes(&input, SanitizeConfig::new(vec![7; 32])).unwrap();
        assert_eq!(out.len(), input.len());
        assert_eq!(
            (
                summary.counters.quic_initials_rewritten,
                summary.counters.quic_initials_redacted
            ),
            (4, 1)
        );
        assert!(!out.windows(11).any(|w| w == b"secret-host"));
        assert!(!out.windows(14).any(|w| w == b"quoted.example"));
        // The quoted server Initial opens, with its reason zeroed and the
        // rest (ACK) as it was.
        use crate::decode::quic_crypto::{initial_candidates, open_packet, PacketKeys};
        let (salt, prefix) = initial_candidates(1)[0];
        let keys = PacketKeys::initial(salt, prefix, &client_id, true).unwrap();
        let record = |b: &[u8], i: usize| {
            let mut pos = 24;
            for _ in 0..i {
                pos += 16 + u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
            }
            let len = u32::from_le_bytes(b[pos + 8..pos + 12].try_into().unwrap()) as usize;
            b[pos + 16..pos + 16 + len].to_vec()
        };
        // Past the IP, ICMP, quoted IP and UDP headers; the packet number
        // after first byte, version, DCID and SCID lengths, token, length.
        let pkt = &record(&out, 2)[20 + 8 + 20 + 8..];
        let opened = open_packet(&keys, pkt, 10, None).expect("opens");
        assert_eq!(opened.pn, 4);
        let reason = ack_close.len() - 11;
        assert_eq!(opened.payload[..reason], ack_close[..reason]);
        assert_eq!(opened.payload[reason..ack_close.len()], [0; 11]);
        // Deterministic.
        assert_eq!(
            sanitize_bytes(&input, SanitizeConfig::new(vec![7; 32]))
                .unwrap()
                .0,
            out
        );
    }

    #[test]
    fn a_split_quic_hello_is_rewritten_in_every_packet_after_a_second_pass() {
        let sni = "secret-service.example.com";
        let input = split_hello_capture(sni);
        let before = analyze_bytes(&input, AnalyzerConfig::default()).unwrap();
        assert_eq!(before.failures.tls.server_names.get(sni), Some(&1));

        // One pass: the first packet cannot be placed and is zeroed; the
        // sanitizer says a second pass would keep it.
        let mut one = Sanitizer::new(SanitizeConfig::new(vec![7; 32])).unwrap();
        let mut out = Vec::new();
        one.feed(&input, &mut out).unwrap();
        let s = one.finish();
        assert_eq!(
            (
                s.counters.quic_initials_redacted,
                s.counters.quic_initials_rewritten
            ),
            (1, 1)
        );
        assert!(one.second_pass().is_some());
        let after_one = analyze_bytes(&out, AnalyzerConfig::default()).unwrap();
        assert_eq!(after_one.failures.tls.client_hellos, 0);

        // Both passes (sanitize_bytes): every Initial rewritten, the hello
        // still decrypts, with the DNS pseudonym of the name in place.
        let (out, s, mut ps) = sanitize_bytes(&input, SanitizeConfig::new(vec![7; 32])).unwrap();
        assert_eq!(
            (
                s.counters.quic_initials_redacted,
                s.counters.quic_initials_rewritten
            ),
            (0, 2)
        );
        assert_eq!(out.len(), input.len());
        assert!(!out.windows(sni.len()).any(|w| w == sni.as_bytes()));
        let after = analyze_bytes(&out, AnalyzerConfig::default()).unwrap();
        let names: Vec<&String> = after.failures.tls.server_names.keys().collect();
        assert_eq!(names, [&ps.pseudonymize_dns_name(sni)]);
        assert_ne!(names[0], sni);
        // The same key gives the same bytes.
        assert_eq!(
            sanitize_bytes(&input, SanitizeConfig::new(vec![7; 32]))
                .unwrap()
                .0,
            out
        );
    }
}

mod quic_random_tests {
    use crate::detect::testpcap::{
        client_hello, quic_client_initial, quic_crypto_frame, udp, Pcap, C, S,
    };
    use crate::rng::Rng;
    use crate::sanitize::*;
    use crate::{analyze_bytes, AnalyzerConfig};

    /// Client Initials that open (valid keys and tags) but carry CRYPTO
    /// frames at random offsets and lengths, pieces of real hellos among
    /// them: the analysis and both sanitizer passes take them without a
    /// panic, and every output keeps the input's length.
    #[test]
    fn random_crypto_frames_in_valid_initials() {
        let mut rng = Rng::new(11);
        let mut p = Pcap::new();
        let mut ms = 0;
        for conn in 0..60u16 {
            let dcid: Vec<u8> = (0..8).map(|_| rng.below(256) as u8).collect();
            let hello = client_hello(&format!("h{conn}.random.example"), &["h3"])[5..].to_vec();
            for pn in 0..rng.range(1, 10) {
                let mut frames = Vec::new();
                for _ in 0..rng.range(1, 4) {
                    let (off, piece) = if rng.chance(0.5) {
                        // A piece of the real hello.
                        let a = rng.below(hello.len() as u64) as usize;
                        let b = a + rng.below((hello.len() - a) as u64 + 1) as usize;
                        (a, hello[a..b].to_vec())
                    } else {
                        let len = rng.below(300) as usize;
                        let data: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
                        (rng.below(0x3fff) as usize, data)
                    };
                    frames.extend(quic_crypto_frame(off, &piece));
                }
                frames.truncate(1000);
                let pkt = quic_client_initial(1, &dcid, pn, &frames);
                p.push(ms, &udp(C, 40000 + conn, S, 443, &pkt));
                ms += 1;
            }
        }
        let input = p.bytes().to_vec();
        let r = analyze_bytes(&input, AnalyzerConfig::default()).unwrap();
        assert!(r.failures.tls.client_hellos <= 60);
        let (out, summary, _) = sanitize_bytes(&input, SanitizeConfig::new(vec![9; 32])).unwrap();
        assert_eq!(out.len(), input.len());
        assert_eq!(summary.counters.frames, r.summary.packets);
        let again = analyze_bytes(&out, AnalyzerConfig::default()).unwrap();
        assert_eq!(again.summary.packets, r.summary.packets);
    }
}
