//! The frame decoder and IP reassembly: frames of any link type, one
//! reassembly state across them (fragments combine with each other).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcaplens_core::decode::{self, defrag::Defrag, Packet};

const LINKS: [u32; 16] = [
    1, 0, 101, 228, 229, 113, 276, 9, 105, 127, 192, 239, 12, 14, 108, 147,
];

fuzz_target!(|data: &[u8]| {
    let mut defrag = Defrag::default();
    let mut rest = data;
    let mut ts = 0i64;
    // Frames as [link index, length hi, length lo, bytes...].
    while rest.len() >= 3 {
        let link = LINKS[rest[0] as usize % LINKS.len()];
        let len = (u16::from_be_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let frame = &rest[3..3 + len];
        rest = &rest[3 + len..];
        ts += (link as i64 % 5) * 20_000_000_000;
        let whole;
        let mut pkt = Packet::default();
        decode::decode_into(&mut pkt, link, frame);
        if pkt.has_fragment() {
            whole = defrag.on_packet(&mut pkt, frame, ts);
            if let Some(w) = &whole {
                decode::apply_reassembled(&mut pkt, w);
            }
        }
        let _ = format!("{pkt:?}");
        assert!(defrag.queued_bytes() <= decode::defrag::MAX_BYTES_TOTAL + 70_000);
    }
});
