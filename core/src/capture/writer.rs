//! Classic little-endian pcap writer that appends into memory.
//!
//! The core crate is sans-IO, so the writer never touches a file: callers
//! take the bytes (all at once, or in chunks via [`PcapWriter::take_bytes`]
//! when streaming very large captures) and put them wherever they like.

/// `LINKTYPE_ETHERNET` from the tcpdump link-type registry.
pub const LINKTYPE_ETHERNET: u32 = 1;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;

/// Writes a classic (not pcapng) little-endian capture into a `Vec<u8>`.
#[derive(Debug, Clone)]
pub struct PcapWriter {
    buf: Vec<u8>,
    link_type: u32,
    nanos: bool,
    snaplen: u32,
    records: u64,
}

impl PcapWriter {
    /// Starts a capture and writes the 24-byte global header.
    /// `nanosecond` selects the `a1b23c4d` magic (nanosecond timestamps).
    pub fn new(link_type: u32, snaplen: u32, nanosecond: bool) -> Self {
        let mut buf = Vec::with_capacity(64 * 1024);
        let magic = if nanosecond {
            MAGIC_NANOS
        } else {
            MAGIC_MICROS
        };
        buf.extend_from_slice(&magic.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes()); // version major
        buf.extend_from_slice(&4u16.to_le_bytes()); // version minor
        buf.extend_from_slice(&0i32.to_le_bytes()); // thiszone: timestamps are UTC
        buf.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        buf.extend_from_slice(&snaplen.to_le_bytes());
        buf.extend_from_slice(&link_type.to_le_bytes());
        PcapWriter {
            buf,
            link_type,
            nanos: nanosecond,
            snaplen,
            records: 0,
        }
    }

    /// Appends one record. `data` longer than the snaplen is truncated, as a
    /// capturing kernel would; `orig_len` is raised to at least the captured
    /// length because a smaller value would make the file invalid.
    pub fn write_record(&mut self, ts_nanos: u64, orig_len: u32, data: &[u8]) {
        let cap = if self.snaplen > 0 {
            data.len().min(self.snaplen as usize)
        } else {
            data.len()
        };
        let secs = ts_nanos / 1_000_000_000;
        let sub = ts_nanos % 1_000_000_000;
        let frac = if self.nanos { sub } else { sub / 1_000 };
        self.buf.reserve(16 + cap);
        // Classic pcap stores 32-bit seconds; wrapping after 2106 is the format's limit.
        self.buf.extend_from_slice(&(secs as u32).to_le_bytes());
        self.buf.extend_from_slice(&(frac as u32).to_le_bytes());
        self.buf.extend_from_slice(&(cap as u32).to_le_bytes());
        self.buf
            .extend_from_slice(&orig_len.max(data.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(&data[..cap]);
        self.records += 1;
    }

    /// Everything written and not yet taken.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Drains what was written so far, leaving the writer ready for more
    /// records; concatenating all taken chunks yields the complete file.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.buf, Vec::with_capacity(64 * 1024))
    }

    /// Number of bytes currently buffered (not yet taken).
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    pub fn is_nanosecond(&self) -> bool {
        self.nanos
    }

    /// Records written since creation (including already-taken ones).
    pub fn records(&self) -> u64 {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(LINKTYPE_ETHERNET, 65535, false);
        assert_eq!(w.as_bytes().len(), 24);
        assert_eq!(&w.as_bytes()[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        w.write_record(1_700_000_000_123_456_789, 3, &[1, 2, 3]);
        let b = w.as_bytes();
        assert_eq!(b.len(), 24 + 16 + 3);
        assert_eq!(
            u32::from_le_bytes(b[24..28].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 123_456);
        assert_eq!(&b[40..], &[1, 2, 3]);
    }

    #[test]
    fn nanos_and_take() {
        let mut w = PcapWriter::new(LINKTYPE_ETHERNET, 4, true);
        assert_eq!(&w.as_bytes()[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        let head = w.take_bytes();
        w.write_record(1_000_000_007, 0, &[9; 10]);
        let rec = w.take_bytes();
        assert_eq!(head.len(), 24);
        assert_eq!(u32::from_le_bytes(rec[4..8].try_into().unwrap()), 7);
        assert_eq!(u32::from_le_bytes(rec[8..12].try_into().unwrap()), 4); // truncated
        assert_eq!(u32::from_le_bytes(rec[12..16].try_into().unwrap()), 10);
        assert!(w.as_bytes().is_empty());
        assert_eq!(w.records(), 1);
    }
}
