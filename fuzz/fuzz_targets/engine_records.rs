//! The engine over records: packets of several link types with timestamps
//! that jump around (idle timeouts, reuse, eviction), then the report.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaplens_core::{AnalyzerConfig, Engine};

const LINKS: [u32; 8] = [1, 101, 113, 276, 0, 228, 229, 127];

fuzz_target!(|data: &[u8]| {
    let mut cfg = AnalyzerConfig::default();
    // Small tables so eviction paths run too; the anomaly forest (slow to
    // train on every input) on a quarter of the inputs only.
    cfg.flow.max_flows = 64;
    cfg.anomaly.enabled = data.first().is_some_and(|b| b & 3 == 0);
    cfg.anomaly.trees = 8;
    let Ok(engine) = Engine::new(cfg) else {
        return;
    };
    let mut e = engine.with_events();
    let mut rest = data;
    let mut ts = 1_700_000_000_000_000_000i64;
    // Records as [link, dt (signed, seconds/8), len hi, len lo, bytes...].
    while rest.len() >= 4 {
        let link = LINKS[rest[0] as usize % LINKS.len()];
        ts += (rest[1] as i8 as i64) * 125_000_000;
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize).min(rest.len() - 4);
        let frame = &rest[4..4 + len];
        rest = &rest[4 + len..];
        e.handle_packet(ts, link, len as u32 + (rest.len() as u32 & 0xff), frame);
        while e.poll_event().is_some() {}
        if rest.first() == Some(&0xff) {
            e.handle_timeout(ts + 3_600_000_000_000);
        }
    }
    let _ = e.snapshot().to_json();
    let _ = e.finish().to_json();
});
