//! The same capture fed whole, byte by byte, in random chunks, or through a
//! separate first stage (`FrameSource`, with or without the flow table) gives
//! byte-identical reports.

use pcaplens_core::analyzer::FrameSource;
use pcaplens_core::{Analyzer, AnalyzerConfig, Report};
use pcaplens_tests::{corpus_files, fixture_files};
use rand::{rngs::SmallRng, Rng, SeedableRng};

fn feed_in(bytes: &[u8], sizes: &mut dyn FnMut() -> usize) -> Report {
    let mut a = Analyzer::new(AnalyzerConfig::default()).unwrap();
    let mut at = 0;
    while at < bytes.len() {
        let n = sizes().clamp(1, bytes.len() - at);
        if a.feed(&bytes[at..at + n]).is_err() {
            break;
        }
        at += n;
    }
    a.finish()
}

/// The two-stage form: a `FrameSource` run apart from the analyzer, its
/// frames handed over one by one (as the CLI does from its reading thread).
fn feed_through_source(
    bytes: &[u8],
    sizes: &mut dyn FnMut() -> usize,
    flows_in_source: bool,
) -> Report {
    let cfg = AnalyzerConfig::default();
    let mut source = FrameSource::new(&cfg);
    if !flows_in_source {
        // The analyzer then keeps the flow table itself.
        source = source.without_flows();
    }
    let mut a = Analyzer::new(cfg).unwrap();
    let mut at = 0;
    while at < bytes.len() {
        let n = sizes().clamp(1, bytes.len() - at);
        let fed = source.push(&bytes[at..at + n], &mut |frame| a.feed_frame(frame));
        a.add_external_bytes(n as u64);
        if fed.is_err() {
            break;
        }
        at += n;
    }
    a.finish_from(source.finish()).0
}

fn check(path: &std::path::Path, byte_by_byte: bool) {
    let bytes = std::fs::read(path).unwrap();
    let whole = feed_in(&bytes, &mut || usize::MAX).to_json_pretty();
    let mut rng = SmallRng::seed_from_u64(bytes.len() as u64);
    let random = feed_in(&bytes, &mut || rng.random_range(1..4096)).to_json_pretty();
    assert_eq!(whole, random, "{}: random chunks differ", path.display());
    for flows_in_source in [true, false] {
        let staged =
            feed_through_source(&bytes, &mut || rng.random_range(1..65536), flows_in_source)
                .to_json_pretty();
        assert_eq!(
            whole,
            staged,
            "{}: two-stage feeding differs (flows in the first stage: {flows_in_source})",
            path.display()
        );
    }
    if byte_by_byte {
        let single = feed_in(&bytes, &mut || 1).to_json_pretty();
        assert_eq!(whole, single, "{}: 1-byte chunks differ", path.display());
    }
}

#[test]
fn fixtures_give_identical_reports_for_any_chunking() {
    let files = fixture_files();
    assert!(!files.is_empty(), "no fixtures in fixtures/");
    for f in files {
        check(&f, true);
    }
}

#[test]
fn corpus_gives_identical_reports_for_any_chunking() {
    for f in corpus_files() {
        // Byte-by-byte on the small ones keeps the test quick.
        let small = std::fs::metadata(&f).unwrap().len() < 200_000;
        check(&f, small);
    }
}

/// Found by the `capture_chunks` fuzz target: the "not a capture" message
/// quoted as many leading bytes as the first chunk held (8 fed whole, 4 fed
/// byte by byte).
#[test]
fn not_a_capture_message_does_not_depend_on_chunking() {
    let bytes = b"\0\0\0\0\0\0\0\x01\x01\x04\0\0\0\0\0\0\xff\xff\0\0";
    let whole = feed_in(bytes, &mut || usize::MAX);
    let single = feed_in(bytes, &mut || 1);
    let e = whole.status.error.as_ref().expect("an error");
    assert_eq!(e.code, "not_a_capture");
    assert_eq!(
        e.message,
        "not a pcap or pcapng file (starts with 00 00 00 00 \"....\")"
    );
    assert_eq!(whole.to_json_pretty(), single.to_json_pretty());
}
