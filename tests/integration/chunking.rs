//! The same capture fed whole, byte by byte, or in random chunks gives
//! byte-identical reports.

use pcaplens_core::{Analyzer, AnalyzerConfig, Report};
use pcaplens_tests::{corpus_dir, corpus_files, fixture_files};
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

fn check(path: &std::path::Path, byte_by_byte: bool) {
    let bytes = std::fs::read(path).unwrap();
    let whole = feed_in(&bytes, &mut || usize::MAX).to_json_pretty();
    let mut rng = SmallRng::seed_from_u64(bytes.len() as u64);
    let random = feed_in(&bytes, &mut || rng.random_range(1..4096)).to_json_pretty();
    assert_eq!(whole, random, "{}: random chunks differ", path.display());
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
    if corpus_dir().is_none() {
        pcaplens_tests::corpus_absent_notice("corpus_gives_identical_reports_for_any_chunking");
        return;
    }
    for f in corpus_files() {
        // Byte-by-byte on the small ones keeps the test quick.
        let small = std::fs::metadata(&f).unwrap().len() < 200_000;
        check(&f, small);
    }
}
