//! The sanitizer: its output re-parses into records of the same lengths as
//! the input's, and passes its own leak audit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaplens_core::capture::{Event, Reader};
use pcaplens_core::sanitize::{audit::audit_bytes, sanitize_bytes, SanitizeConfig};

fn record_lengths(bytes: &[u8]) -> (Vec<(usize, usize)>, bool) {
    let mut r = Reader::new();
    let mut lens = Vec::new();
    let ok = r
        .push(bytes, &mut |ev| {
            if let Event::Record(rec) = ev {
                lens.push((rec.raw.len(), rec.data.len()));
            }
        })
        .is_ok()
        && r.finish().is_ok();
    (lens, ok)
}

fuzz_target!(|data: &[u8]| {
    let cfg = SanitizeConfig::new(b"fuzz-key-fuzz-key-fuzz-key-0123".to_vec());
    let Ok((out, summary, ps)) = sanitize_bytes(data, cfg) else {
        return;
    };
    if summary.format.is_none() {
        return;
    }
    let (lens_in, ok_in) = record_lengths(data);
    let (lens_out, ok_out) = record_lengths(&out);
    if ok_in && summary.error.is_none() {
        assert!(ok_out, "the sanitized capture does not re-parse");
        assert_eq!(lens_in, lens_out, "record lengths changed");
    } else {
        // Damaged input: the output covers the records before the damage.
        assert!(lens_out.len() <= lens_in.len() + 1);
        assert_eq!(lens_out[..], lens_in[..lens_out.len().min(lens_in.len())]);
    }
    let audit = audit_bytes(&out, ps.originals());
    // No original identifier is ever left; the audit re-parses the output
    // without error whenever the input parsed without one. An identifier's
    // raw bytes found in binary (`*/binary`, `*/raw` forms) are only checked with
    // PCAPLENS_FUZZ_STRICT=1: the fuzzer copies a capture's addresses into
    // binary the sanitizer keeps as it is (certificate keys, encrypted SSH
    // and TLS records), which no real capture does.
    let strict = std::env::var_os("PCAPLENS_FUZZ_STRICT").is_some();
    let leaks: u64 = audit
        .hits_by_form
        .iter()
        .filter(|(form, _)| strict || !(form.ends_with("/binary") || form.ends_with("/raw")))
        .map(|(_, n)| n)
        .sum();
    assert!(
        leaks == 0,
        "leak audit found originals: {:?} {:?}",
        audit.hits_by_form,
        &audit.examples[..audit.examples.len().min(3)]
    );
    if ok_in && summary.error.is_none() {
        assert!(
            audit.error.is_none(),
            "the output of a clean input does not re-parse: {:?}",
            audit.error
        );
    }
});
