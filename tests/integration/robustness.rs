//! No byte sequence panics, hangs or allocates by an untrusted length.

use pcaplens_core::{analyze_bytes, AnalyzerConfig};
use pcaplens_tests::{corpus_files, fixture_files};
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = fixture_files()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    v.extend(
        corpus_files()
            .iter()
            .filter(|p| std::fs::metadata(p).unwrap().len() < 40_000)
            .map(|p| std::fs::read(p).unwrap()),
    );
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let r = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
        prop_assert!(r.status.complete || r.status.error.is_some());
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..4096), nanos in any::<bool>(), link in prop::sample::select(vec![0u32, 1, 101, 105, 113, 127, 192, 228, 229, 239, 276, 9, 226, 149])) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(if nanos { 0xa1b2_3c4du32 } else { 0xa1b2_c3d4 }).to_le_bytes());
        bytes.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0]);
        bytes.extend_from_slice(&link.to_le_bytes());
        bytes.extend_from_slice(&tail);
        let _ = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    }

    #[test]
    fn mutated_real_captures_never_panic(pick in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24), cut in any::<prop::sample::Index>()) {
        let seeds = seeds();
        let mut bytes = pick.get(&seeds).clone();
        for (at, v) in flips {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] ^= v;
            }
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        let r = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
        // A cut or damaged capture is reported as partial, with a location.
        if let Some(e) = &r.status.error {
            prop_assert!(r.status.partial);
            prop_assert!(!e.message.is_empty());
        }
    }
}

/// Captures that carry TLS key logs (pcapng decryption secrets): the QUIC
/// decryption path (key derivation, header protection, packet numbers,
/// frames, DNS over QUIC) must survive damage anywhere, including in the
/// secrets themselves. Built from the corpus' DoQ capture.
fn secret_seeds() -> Vec<Vec<u8>> {
    let v: Vec<Vec<u8>> = pcaplens_tests::corpus_files()
        .into_iter()
        .filter(|p| p.ends_with("ndpi__doq.pcapng"))
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(!v.is_empty(), "ndpi__doq.pcapng missing from tests/corpus");
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn damaged_key_log_captures_never_panic(pick in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let seeds = secret_seeds();
        let mut bytes = pick.get(&seeds).clone();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= v;
        }
        let _ = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    }
}

#[test]
fn huge_record_length_is_an_error_at_its_offset() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    bytes.extend_from_slice(&[
        2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ]);
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    bytes.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    bytes.extend_from_slice(&[0xAB; 64]);
    let r = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    let e = r.status.error.expect("error");
    assert_eq!(e.code, "record_too_large");
    assert_eq!(e.offset, 24);
    assert!(r.status.partial);
}

#[test]
fn not_a_capture_says_what_it_starts_with() {
    let r = analyze_bytes(b"%PDF-1.7 not a capture", AnalyzerConfig::default()).unwrap();
    let e = r.status.error.expect("error");
    assert_eq!(e.code, "not_a_capture");
    assert!(
        e.message
            .starts_with("not a pcap or pcapng file (starts with 25 50 44 46"),
        "{}",
        e.message
    );
}

#[test]
fn cut_short_capture_keeps_everything_before_the_cut() {
    let path = fixture_files().into_iter().next().expect("a fixture");
    let bytes = std::fs::read(path).unwrap();
    let whole = analyze_bytes(&bytes, AnalyzerConfig::default()).unwrap();
    let cut = &bytes[..bytes.len() - 7];
    let r = analyze_bytes(cut, AnalyzerConfig::default()).unwrap();
    let e = r.status.error.expect("truncation reported");
    assert_eq!(e.code, "truncated");
    assert!(r.status.partial);
    assert_eq!(r.summary.packets + 1, whole.summary.packets);
    assert!(e.offset > 24 && e.offset < bytes.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// The sanitizer (every payload policy) and its audit survive damaged
    /// captures too: a rewrite path must be as panic-free as the analysis.
    #[test]
    fn sanitizer_never_panics_on_mutated_captures(pick in any::<prop::sample::Index>(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24), cut in any::<prop::sample::Index>(), policy in 0u8..3) {
        use pcaplens_core::sanitize::{sanitize_bytes, PayloadPolicy, SanitizeConfig};
        let seeds = seeds();
        let mut bytes = pick.get(&seeds).clone();
        for (at, v) in flips {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] ^= v;
            }
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        let mut cfg = SanitizeConfig::new(vec![7u8; 32]);
        cfg.payload_policy = [PayloadPolicy::Redact, PayloadPolicy::Keep, PayloadPolicy::Truncate][policy as usize];
        let (out, _summary, ps) = sanitize_bytes(&bytes, cfg).expect("32-byte key");
        // Length-preserving even on damaged input, and the output re-reads.
        prop_assert!(out.len() <= bytes.len());
        let _ = pcaplens_core::sanitize::audit::audit_bytes(&out, ps.originals());
        let _ = analyze_bytes(&out, AnalyzerConfig::default()).unwrap();
    }
}
