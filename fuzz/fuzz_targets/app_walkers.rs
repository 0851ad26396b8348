//! The application-layer walkers (DNS, HTTP, TLS, QUIC) on any bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaplens_core::decode::{app, dns, http, quic, tls};

fuzz_target!(|data: &[u8]| {
    let Some((&which, b)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            if let Some(m) = dns::Message::parse(b) {
                let _ = m.question();
                for r in m.records().take(4096) {
                    let _ = format!("{r:?}");
                }
                let _ = m.name(12);
            }
            let _ = dns::dissects_whole(b);
            let _ = dns::heuristic_match(b);
            let _ = dns::skip_name(b, 12);
        }
        1 => {
            if let Some(h) = http::parse_head(b) {
                let _ = (h.is_request(), h.status());
            }
        }
        2 => {
            for r in tls::records(b).take(4096) {
                let _ = format!("{r:?}");
            }
            let _ = tls::parse_client_hello(b);
        }
        _ => {
            let _ = app::quic_by_bytes(b);
            for h in quic::long_headers(b).take(64) {
                let _ = quic::initial_layout(b, &h);
                let _ = quic::negotiated_versions(b, &h).take(4096).count();
            }
            for f in quic::frames(b).take(4096) {
                let _ = format!("{f:?}");
            }
            let _ = quic::hello_length(b);
        }
    }
});
