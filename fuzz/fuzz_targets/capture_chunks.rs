//! The capture reader and the whole analysis, fed in chunks the input
//! chooses: the report must not depend on the chunking (and nothing panics).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaplens_core::{Analyzer, AnalyzerConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, capture)) = data.split_first() else {
        return;
    };
    let whole = {
        let mut a = Analyzer::new(AnalyzerConfig::default()).unwrap();
        let _ = a.feed(capture);
        a.finish().to_json()
    };
    // Chunk sizes from the seed byte: 1..=seed+1, cycling.
    let mut a = Analyzer::new(AnalyzerConfig::default()).unwrap();
    let mut at = 0;
    let mut k = 0usize;
    while at < capture.len() {
        let n = (1 + (k * 7 + seed as usize) % (seed as usize + 1)).min(capture.len() - at);
        k += 1;
        if a.feed(&capture[at..at + n]).is_err() {
            break;
        }
        at += n;
    }
    let chunked = a.finish().to_json();
    assert_eq!(whole, chunked, "chunking changed the report");
});
