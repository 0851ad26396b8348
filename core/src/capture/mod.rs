//! Capture containers: pcap (LE/BE, µs/ns, "modified") and pcapng (many
//! sections and interfaces), read push-style.
//!
//! The caller feeds chunks of any size with [`Reader::push`] and receives
//! [`Event`]s through a callback; [`Reader::finish`] tells whether the input
//! ended cleanly. "Need more bytes" is never an error: an incomplete record
//! stays buffered until the next push. Only the bytes the caller actually gave
//! are ever buffered, and a length field above [`MAX_PACKET_LEN`] or
//! [`MAX_BLOCK_LEN`] is refused at once, so a hostile header cannot make us
//! wait for (or allocate) gigabytes. Results are identical for any chunking.
//!
//! `pcap-parser` parses the pcap file header and the pcapng blocks (pcap
//! records, the bulk of a pcap file, are read in place); its types stay
//! inside this module.

pub mod writer;

use crate::error::{hex_prefix, CaptureError};
use pcap_parser::pcapng::Block;
use serde::Serialize;

/// Largest packet we accept, as Wireshark (`WTAP_MAX_PACKET_SIZE_STANDARD`).
pub const MAX_PACKET_LEN: u32 = 262_144;
/// Largest pcapng block we accept (Wireshark's limit for non-packet blocks).
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;
/// Largest decryption-secrets payload surfaced as [`Event::Secrets`] (a key
/// log of thousands of sessions fits; larger ones are kept as metadata only).
pub const MAX_SECRETS_LEN: usize = 1024 * 1024;
/// Secrets type of a TLS key log in a Decryption Secrets Block ("TLSK").
pub const SECRETS_TLS_KEY_LOG: u32 = 0x544c_534b;

/// Pseudo link types for pcapng blocks that Wireshark numbers as frames
/// although they carry no packet; counting them keeps frame numbers aligned.
pub const LINK_PCAPNG_CUSTOM_BLOCK: u32 = 0x8000_0BAD;
pub const LINK_SYSTEMD_JOURNAL: u32 = 0x8000_0009;

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_BOM: u32 = 0x1A2B_3C4D;

/// Container format of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Pcap,
    Pcapng,
}

/// One captured frame.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// 1-based frame number, as Wireshark counts.
    pub frame: u64,
    /// Nanoseconds since the Unix epoch (the previous frame's when `has_ts` is false).
    pub ts_nanos: i64,
    /// False for records without a timestamp (simple packet blocks, custom blocks).
    pub has_ts: bool,
    /// LINKTYPE_* value of the interface the frame was captured on.
    pub link_type: u32,
    /// Interface index (0 for pcap).
    pub interface: u32,
    /// Length of the frame on the wire (may exceed `data.len()` when snapped).
    pub orig_len: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Byte offset of the record (its header) in the capture.
    pub offset: u64,
    /// The whole record as stored (pcap record header + data, or the whole
    /// pcapng block), so a rewriter can copy the container exactly.
    pub raw: &'a [u8],
}

/// What kind of non-packet structure a [`Event::Meta`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaKind {
    PcapHeader,
    SectionHeader,
    InterfaceDescription,
    NameResolution,
    InterfaceStatistics,
    DecryptionSecrets,
    Custom,
    Other,
}

/// Something the reader found in the capture.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    Record(Record<'a>),
    /// A file header or a non-packet block, raw (for rewriting and auditing).
    Meta {
        offset: u64,
        kind: MetaKind,
        raw: &'a [u8],
    },
    /// The payload of a pcapng Decryption Secrets Block, right after its
    /// `Meta` event: `secrets_type` (e.g. [`SECRETS_TLS_KEY_LOG`]) and the
    /// secrets as stored (at most [`MAX_SECRETS_LEN`] bytes, borrowed).
    Secrets {
        offset: u64,
        secrets_type: u32,
        data: &'a [u8],
    },
}

#[derive(Clone, Debug)]
struct Interface {
    link_type: u32,
    units_per_sec: u64,
    offset_sec: i64,
}

#[derive(Clone, Debug)]
enum State {
    Magic,
    Pcap {
        big_endian: bool,
        nanos: bool,
        modified: bool,
        link_type: u32,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Facts about the container, filled in as the reader goes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CaptureInfo {
    pub format: Option<Format>,
    pub big_endian: bool,
    /// "usec", "nsec" or "modified" for pcap; per-interface for pcapng.
    pub ts_precision: Option<&'static str>,
    pub snaplen: Option<u32>,
    pub sections: u32,
    pub interfaces: u32,
}

/// Push-based capture reader. See the module documentation.
#[derive(Clone, Debug)]
pub struct Reader {
    state: State,
    /// Bytes of an incomplete structure carried over to the next push.
    pending: Vec<u8>,
    /// Absolute offset of the first byte not yet consumed.
    consumed: u64,
    frames: u64,
    /// Timestamp of the last timestamped record (for records without one).
    last_ts: i64,
    info: CaptureInfo,
    failed: Option<CaptureError>,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

enum Step {
    /// Structure consumed: advance by this many bytes.
    Advance(usize),
    /// Not enough bytes yet for the structure at the current position.
    NeedMore,
}

fn rd_u32(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

fn rd_u16(b: &[u8], at: usize, big_endian: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

impl Reader {
    pub fn new() -> Self {
        Reader {
            state: State::Magic,
            pending: Vec::new(),
            consumed: 0,
            frames: 0,
            last_ts: 0,
            info: CaptureInfo::default(),
            failed: None,
        }
    }

    /// Container facts known so far.
    pub fn info(&self) -> &CaptureInfo {
        &self.info
    }

    /// Frames delivered so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes consumed as complete structures so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Feed the next chunk. Complete records are passed to `sink` in order.
    /// After an error the reader stays failed and returns the same error.
    pub fn push<F: FnMut(Event<'_>)>(
        &mut self,
        chunk: &[u8],
        sink: &mut F,
    ) -> Result<(), CaptureError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.push_inner(chunk, sink);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.pending = Vec::new();
        }
        result
    }

    fn push_inner<F: FnMut(Event<'_>)>(
        &mut self,
        mut chunk: &[u8],
        sink: &mut F,
    ) -> Result<(), CaptureError> {
        // Complete a structure left over from the previous push by copying only
        // the bytes it still needs, then parse the rest straight from the chunk:
        // each input byte is copied at most once, and only near chunk borders.
        while !self.pending.is_empty() && !chunk.is_empty() {
            let want = self
                .structure_len(&self.pending)
                .saturating_sub(self.pending.len())
                .max(1);
            let take = want.min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            let buf = std::mem::take(&mut self.pending);
            let r = self.parse(&buf, sink);
            let mut buf = buf;
            match r {
                Ok(n) => {
                    buf.drain(..n);
                    self.pending = buf;
                }
                Err(e) => return Err(e),
            }
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let n = self.parse(chunk, sink)?;
        self.pending.extend_from_slice(&chunk[n..]);
        Ok(())
    }

    /// Total length of the structure that starts at `buf` (header plus body),
    /// or the header length while the header itself is incomplete.
    fn structure_len(&self, buf: &[u8]) -> usize {
        match &self.state {
            State::Magic => {
                if buf.len() >= 4
                    && u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) == PCAPNG_SHB
                {
                    12
                } else {
                    24
                }
            }
            State::Pcap {
                modified,
                big_endian,
                ..
            } => {
                let hdr = if *modified { 24 } else { 16 };
                if buf.len() < hdr {
                    hdr
                } else {
                    hdr + (rd_u32(buf, 8, *big_endian).min(MAX_PACKET_LEN) as usize)
                }
            }
            State::PcapNg { big_endian, .. } => {
                if buf.len() < 12 {
                    return 12;
                }
                let is_shb = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) == PCAPNG_SHB;
                let big = if is_shb {
                    u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) != PCAPNG_BOM
                } else {
                    *big_endian
                };
                (rd_u32(buf, 4, big).clamp(12, MAX_BLOCK_LEN)) as usize
            }
        }
    }

    /// Declare the end of input. Leftover bytes mean the capture was cut short.
    pub fn finish(&mut self) -> Result<(), CaptureError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let err = match &self.state {
            State::Magic => Some(CaptureError::NotACapture {
                first_bytes: hex_prefix(&self.pending),
            }),
            _ if self.pending.is_empty() => None,
            State::Pcap { modified, .. } => {
                let hdr = if *modified { 24 } else { 16 };
                Some(self.truncated_record(hdr, 8, "pcap record"))
            }
            State::PcapNg { .. } => Some(self.truncated_record(12, 4, "pcapng block")),
        };
        match err {
            Some(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn truncated_record(
        &self,
        header_len: usize,
        len_at: usize,
        what: &'static str,
    ) -> CaptureError {
        let available = self.pending.len() as u64;
        let needed = if self.pending.len() >= header_len {
            let big = match &self.state {
                State::Pcap { big_endian, .. } | State::PcapNg { big_endian, .. } => *big_endian,
                State::Magic => false,
            };
            let len = rd_u32(&self.pending, len_at, big) as u64;
            if what == "pcap record" {
                header_len as u64 + len
            } else {
                len
            }
        } else {
            header_len as u64
        };
        CaptureError::Truncated {
            offset: self.consumed,
            what,
            needed,
            available,
        }
    }

    /// Parse as many complete structures as `data` holds; returns bytes consumed.
    fn parse<F: FnMut(Event<'_>)>(
        &mut self,
        data: &[u8],
        sink: &mut F,
    ) -> Result<usize, CaptureError> {
        let mut pos = 0usize;
        loop {
            let rest = &data[pos..];
            let step = match self.state {
                State::Magic => self.parse_magic(rest, sink)?,
                // A pcap file stays pcap to its end: its records are read in one loop.
                State::Pcap { .. } => return self.parse_pcap_records(data, pos, sink),
                State::PcapNg { .. } => self.parse_ng_block(rest, sink)?,
            };
            match step {
                Step::Advance(n) => {
                    pos += n;
                    self.consumed += n as u64;
                }
                Step::NeedMore => return Ok(pos),
            }
        }
    }

    fn parse_magic<F: FnMut(Event<'_>)>(
        &mut self,
        rest: &[u8],
        sink: &mut F,
    ) -> Result<Step, CaptureError> {
        if rest.len() < 4 {
            return Ok(Step::NeedMore);
        }
        let magic = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        match magic {
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 | 0xd4c3_b2a1 | 0x4d3c_b2a1 => {
                if rest.len() < 24 {
                    return Ok(Step::NeedMore);
                }
                let (_, hdr) = pcap_parser::parse_pcap_header(&rest[..24]).map_err(|_| {
                    CaptureError::Malformed {
                        offset: self.consumed,
                        what: "pcap file header",
                        detail: "unreadable".into(),
                    }
                })?;
                let big_endian = hdr.is_bigendian();
                let raw_link = hdr.network.0 as u32;
                if hdr.version_major != 2 {
                    return Err(CaptureError::Unsupported {
                        offset: 4,
                        what: "pcap version",
                        detail: format!(
                            "{}.{} (only 2.x exists)",
                            hdr.version_major, hdr.version_minor
                        ),
                    });
                }
                if raw_link & 0x03FF_0000 != 0 {
                    // libpcap's LT_RESERVED1 bits; Wireshark refuses such files too.
                    return Err(CaptureError::Unsupported {
                        offset: 20,
                        what: "pcap link type",
                        detail: format!(
                            "network type reserved field not zero (0x{:08x})",
                            raw_link & 0x03FF_0000
                        ),
                    });
                }
                let nanos = hdr.is_nanosecond_precision();
                let modified = hdr.is_modified_format();
                self.info.format = Some(Format::Pcap);
                self.info.big_endian = big_endian;
                self.info.snaplen = Some(hdr.snaplen);
                self.info.interfaces = 1;
                self.info.ts_precision = Some(if modified {
                    "modified"
                } else if nanos {
                    "nsec"
                } else {
                    "usec"
                });
                self.state = State::Pcap {
                    big_endian,
                    nanos,
                    modified,
                    link_type: raw_link & 0xFFFF,
                };
                sink(Event::Meta {
                    offset: self.consumed,
                    kind: MetaKind::PcapHeader,
                    raw: &rest[..24],
                });
                Ok(Step::Advance(24))
            }
            0x34cd_b2a1 => Err(CaptureError::Unsupported {
                offset: 0,
                what: "pcap variant",
                detail: "big-endian \"modified\" pcap".into(),
            }),
            PCAPNG_SHB => {
                self.state = State::PcapNg {
                    big_endian: false,
                    interfaces: Vec::new(),
                };
                self.info.format = Some(Format::Pcapng);
                Ok(Step::Advance(0))
            }
            // The four bytes the verdict rests on: what else arrived in the
            // same chunk must not change the message (fuzz: capture_chunks).
            _ => Err(CaptureError::NotACapture {
                first_bytes: hex_prefix(&rest[..rest.len().min(4)]),
            }),
        }
    }

    /// Read the pcap records of `data` from `pos` on; returns where the
    /// first incomplete one starts.
    fn parse_pcap_records<F: FnMut(Event<'_>)>(
        &mut self,
        data: &[u8],
        mut pos: usize,
        sink: &mut F,
    ) -> Result<usize, CaptureError> {
        let State::Pcap {
            big_endian,
            nanos,
            modified,
            link_type,
        } = self.state
        else {
            unreachable!("parse_pcap_records outside pcap state")
        };
        let hdr_len = if modified { 24 } else { 16 };
        loop {
            let rest = &data[pos..];
            if rest.len() < hdr_len {
                return Ok(pos);
            }
            let caplen = rd_u32(rest, 8, big_endian);
            if caplen > MAX_PACKET_LEN {
                return Err(CaptureError::RecordTooLarge {
                    offset: self.consumed,
                    what: "pcap record",
                    claimed: caplen as u64,
                    limit: MAX_PACKET_LEN as u64,
                });
            }
            let total = hdr_len + caplen as usize;
            if rest.len() < total {
                return Ok(pos);
            }
            // The header fields are read in place (the length checks above are
            // all the validation a pcap record header has); "modified" pcap is
            // little-endian only (its big-endian magic is refused up front).
            let ts_sec = rd_u32(rest, 0, big_endian);
            let ts_frac = rd_u32(rest, 4, big_endian);
            let origlen = rd_u32(rest, 12, big_endian);
            // Like Wireshark, scale an out-of-range microsecond field in 32 bits
            // rather than trusting it (fuzzed files put 2^31 there).
            let frac = if nanos {
                ts_frac as i64
            } else {
                ts_frac.wrapping_mul(1000) as i64
            };
            let ts_nanos = ts_sec as i64 * 1_000_000_000 + frac;
            self.frames += 1;
            self.last_ts = ts_nanos;
            sink(Event::Record(Record {
                frame: self.frames,
                ts_nanos,
                has_ts: true,
                link_type,
                interface: 0,
                orig_len: origlen.max(caplen),
                data: &rest[hdr_len..total],
                offset: self.consumed,
                raw: &rest[..total],
            }));
            pos += total;
            self.consumed += total as u64;
        }
    }

    fn parse_ng_block<F: FnMut(Event<'_>)>(
        &mut self,
        rest: &[u8],
        sink: &mut F,
    ) -> Result<Step, CaptureError> {
        if rest.len() < 12 {
            return Ok(Step::NeedMore);
        }
        let offset = self.consumed;
        let State::PcapNg { big_endian, .. } = self.state else {
            unreachable!("parse_ng_block outside pcapng state")
        };
        let block_type_le = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let is_shb = block_type_le == PCAPNG_SHB;
        let big = if is_shb {
            // The byte-order magic of each section decides its endianness.
            let bom = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
            if bom == PCAPNG_BOM {
                false
            } else if bom == PCAPNG_BOM.swap_bytes() {
                true
            } else {
                return Err(CaptureError::Malformed {
                    offset: offset + 8,
                    what: "pcapng section header",
                    detail: format!(
                        "byte-order magic 0x{bom:08x} is neither 1a2b3c4d nor 4d3c2b1a"
                    ),
                });
            }
        } else {
            big_endian
        };
        if !is_shb && self.info.sections == 0 {
            return Err(CaptureError::Malformed {
                offset,
                what: "pcapng file",
                detail: "first block is not a section header".into(),
            });
        }
        let block_len = rd_u32(rest, 4, big);
        if block_len < 12 || block_len % 4 != 0 {
            return Err(CaptureError::Malformed {
                offset: offset + 4,
                what: "pcapng block",
                detail: format!("block length {block_len} is not a multiple of 4 of at least 12"),
            });
        }
        if block_len > MAX_BLOCK_LEN {
            return Err(CaptureError::RecordTooLarge {
                offset,
                what: "pcapng block",
                claimed: block_len as u64,
                limit: MAX_BLOCK_LEN as u64,
            });
        }
        let len = block_len as usize;
        if rest.len() < len {
            return Ok(Step::NeedMore);
        }
        let raw = &rest[..len];
        if is_shb {
            if len < 28 {
                return Err(CaptureError::Malformed {
                    offset,
                    what: "pcapng section header",
                    detail: format!("block length {block_len} is below the minimum of 28"),
                });
            }
            let major = rd_u16(raw, 12, big);
            let minor = rd_u16(raw, 14, big);
            if major != 1 || minor > 2 {
                return Err(CaptureError::Unsupported {
                    offset: offset + 12,
                    what: "pcapng section header",
                    detail: format!("unknown SHB version {major}.{minor}"),
                });
            }
        }
        if let Some(start) = options_start(raw, block_type_le, big) {
            check_options(raw, start, big, offset)?;
        }
        let parsed = if big {
            pcap_parser::pcapng::parse_block_be(raw)
        } else {
            pcap_parser::pcapng::parse_block_le(raw)
        };
        let block = match parsed {
            Ok((_, b)) => b,
            Err(e) => {
                let detail = match e {
                    pcap_parser::nom::Err::Incomplete(_) => {
                        "a field runs past the end of its block".to_string()
                    }
                    _ => "its contents do not match its type (inconsistent lengths)".to_string(),
                };
                return Err(CaptureError::Malformed {
                    offset,
                    what: "pcapng block",
                    detail,
                });
            }
        };
        let State::PcapNg {
            interfaces,
            big_endian,
        } = &mut self.state
        else {
            unreachable!()
        };
        match block {
            Block::SectionHeader(_) => {
                *big_endian = big;
                interfaces.clear();
                self.info.sections += 1;
                self.info.big_endian = big;
                sink(Event::Meta {
                    offset,
                    kind: MetaKind::SectionHeader,
                    raw,
                });
            }
            Block::InterfaceDescription(idb) => {
                let units_per_sec =
                    idb.ts_resolution()
                        .ok_or_else(|| CaptureError::Unsupported {
                            offset,
                            what: "pcapng interface",
                            detail: format!("timestamp resolution option 0x{:02x}", idb.if_tsresol),
                        })?;
                interfaces.push(Interface {
                    link_type: idb.linktype.0 as u32 & 0xFFFF,
                    units_per_sec,
                    offset_sec: idb.ts_offset(),
                });
                self.info.interfaces += 1;
                sink(Event::Meta {
                    offset,
                    kind: MetaKind::InterfaceDescription,
                    raw,
                });
            }
            Block::EnhancedPacket(epb) => {
                let Some(iface) = interfaces.get(epb.if_id as usize) else {
                    return Err(CaptureError::Malformed {
                        offset,
                        what: "pcapng enhanced packet block",
                        detail: format!(
                            "refers to interface {} but the section defines {}",
                            epb.if_id,
                            interfaces.len()
                        ),
                    });
                };
                if epb.caplen > MAX_PACKET_LEN {
                    return Err(CaptureError::RecordTooLarge {
                        offset,
                        what: "pcapng packet",
                        claimed: epb.caplen as u64,
                        limit: MAX_PACKET_LEN as u64,
                    });
                }
                let units = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                let ts_nanos = units_to_nanos(units, iface.units_per_sec, iface.offset_sec);
                self.frames += 1;
                self.last_ts = ts_nanos;
                sink(Event::Record(Record {
                    frame: self.frames,
                    ts_nanos,
                    has_ts: true,
                    link_type: iface.link_type,
                    interface: epb.if_id,
                    orig_len: epb.origlen.max(epb.caplen),
                    data: epb.data,
                    offset,
                    raw,
                }));
            }
            Block::SimplePacket(spb) => {
                let Some(iface) = interfaces.first() else {
                    return Err(CaptureError::Malformed {
                        offset,
                        what: "pcapng simple packet block",
                        detail: "no interface is defined in this section".into(),
                    });
                };
                let data = &spb.data[..(spb.origlen as usize).min(spb.data.len())];
                self.frames += 1;
                sink(Event::Record(Record {
                    frame: self.frames,
                    ts_nanos: self.last_ts,
                    has_ts: false,
                    link_type: iface.link_type,
                    interface: 0,
                    orig_len: spb.origlen.max(data.len() as u32),
                    data,
                    offset,
                    raw,
                }));
            }
            Block::Custom(_) | Block::SystemdJournalExport(_) => {
                let link_type = if matches!(block, Block::Custom(_)) {
                    LINK_PCAPNG_CUSTOM_BLOCK
                } else {
                    LINK_SYSTEMD_JOURNAL
                };
                self.frames += 1;
                sink(Event::Record(Record {
                    frame: self.frames,
                    ts_nanos: self.last_ts,
                    has_ts: false,
                    link_type,
                    interface: 0,
                    orig_len: raw.len() as u32,
                    data: raw,
                    offset,
                    raw,
                }));
            }
            other => {
                let kind = match other {
                    Block::NameResolution(_) => MetaKind::NameResolution,
                    Block::InterfaceStatistics(_) => MetaKind::InterfaceStatistics,
                    Block::DecryptionSecrets(_) => MetaKind::DecryptionSecrets,
                    Block::Custom(_) => MetaKind::Custom,
                    _ => MetaKind::Other,
                };
                sink(Event::Meta { offset, kind, raw });
                if kind == MetaKind::DecryptionSecrets {
                    if let Some((secrets_type, data)) = dsb_secrets(raw, big) {
                        sink(Event::Secrets {
                            offset,
                            secrets_type,
                            data,
                        });
                    }
                }
            }
        }
        Ok(Step::Advance(len))
    }
}

/// (secrets type, secrets) of a whole Decryption Secrets Block: type, block
/// length, secrets type, secrets length, secrets. The length is checked
/// against the block, never trusted; oversized secrets are not surfaced.
fn dsb_secrets(raw: &[u8], big: bool) -> Option<(u32, &[u8])> {
    if raw.len() < 20 {
        return None;
    }
    let secrets_type = rd_u32(raw, 8, big);
    let len = rd_u32(raw, 12, big) as usize;
    if len > MAX_SECRETS_LEN {
        return None;
    }
    // The trailing block length follows the (padded) secrets.
    let data = raw.get(16..raw.len() - 4)?.get(..len)?;
    Some((secrets_type, data))
}

/// Where the options of a block start, for the block types that carry them.
fn options_start(raw: &[u8], block_type_le: u32, big: bool) -> Option<usize> {
    let block_type = if big {
        block_type_le.swap_bytes()
    } else {
        block_type_le
    };
    match block_type {
        PCAPNG_SHB => Some(24),
        1 => Some(16),
        6 if raw.len() >= 28 => {
            let caplen = rd_u32(raw, 20, big) as usize;
            Some(28usize.saturating_add(caplen.saturating_add(3) & !3))
        }
        _ => None,
    }
}

/// Walk a block's options so a bad option length gets a precise message
/// (what and where) instead of a generic parse failure.
fn check_options(
    raw: &[u8],
    start: usize,
    big: bool,
    block_offset: u64,
) -> Result<(), CaptureError> {
    let end = raw.len() - 4; // trailing block length
    if start > end {
        return Err(CaptureError::Malformed {
            offset: block_offset,
            what: "pcapng block",
            detail: format!(
                "captured data runs past the end of the {}-byte block",
                raw.len()
            ),
        });
    }
    let mut at = start;
    while at + 4 <= end {
        let code = rd_u16(raw, at, big);
        let len = rd_u16(raw, at + 2, big) as usize;
        if code == 0 {
            break;
        }
        let padded = (len + 3) & !3;
        if at + 4 + padded > end {
            return Err(CaptureError::Malformed {
                offset: block_offset + at as u64,
                what: "pcapng option",
                detail: format!(
                    "option {code} claims {len} bytes but only {} remain in its block",
                    end - at - 4
                ),
            });
        }
        at += 4 + padded;
    }
    Ok(())
}

/// Convert a pcapng timestamp in interface units to nanoseconds since the epoch.
fn units_to_nanos(units: u64, units_per_sec: u64, offset_sec: i64) -> i64 {
    let per = units_per_sec.max(1) as u128;
    let nanos = (units as u128 * 1_000_000_000u128) / per;
    let nanos = i64::try_from(nanos).unwrap_or(i64::MAX);
    nanos.saturating_add(offset_sec.saturating_mul(1_000_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_with(records: &[(&[u8], u32)]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        for (i, (data, orig)) in records.iter().enumerate() {
            v.extend_from_slice(&(100 + i as u32).to_le_bytes());
            v.extend_from_slice(&5u32.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&orig.to_le_bytes());
            v.extend_from_slice(data);
        }
        v
    }

    /// (frame number, timestamp, data) of a record.
    type FrameSeen = (u64, i64, Vec<u8>);

    fn read_all(bytes: &[u8], chunk: usize) -> (Vec<FrameSeen>, Result<(), CaptureError>) {
        let mut r = Reader::new();
        let mut out = Vec::new();
        let mut res = Ok(());
        for c in bytes.chunks(chunk.max(1)) {
            res = r.push(c, &mut |e| {
                if let Event::Record(rec) = e {
                    out.push((rec.frame, rec.ts_nanos, rec.data.to_vec()));
                }
            });
            if res.is_err() {
                break;
            }
        }
        if res.is_ok() {
            res = r.finish();
        }
        (out, res)
    }

    #[test]
    fn any_chunking_gives_same_records() {
        let file = pcap_with(&[(b"abc", 3), (b"", 0), (b"0123456789", 60)]);
        let whole = read_all(&file, file.len());
        for chunk in [1, 2, 3, 7, 16, 17] {
            assert_eq!(read_all(&file, chunk).0, whole.0, "chunk {chunk}");
        }
        assert_eq!(whole.0.len(), 3);
        assert_eq!(whole.0[0].1, 100_000_005_000);
        assert!(whole.1.is_ok());
    }

    #[test]
    fn not_a_capture_names_first_bytes() {
        let (_, res) = read_all(b"GET / HTTP/1.1\r\n", 4);
        let err = res.unwrap_err();
        assert_eq!(err.code(), "not_a_capture");
        assert!(err.to_string().contains("starts with 47 45 54 20"), "{err}");
    }

    #[test]
    fn cut_short_reports_offset_and_keeps_records() {
        let file = pcap_with(&[(b"abcd", 4), (b"efgh", 4)]);
        let cut = &file[..file.len() - 2];
        let (recs, res) = read_all(cut, 5);
        assert_eq!(recs.len(), 1);
        let err = res.unwrap_err();
        assert_eq!(err.code(), "truncated");
        assert_eq!(err.offset(), 24 + 16 + 4);
    }

    #[test]
    fn huge_record_length_is_refused_without_waiting() {
        let mut file = pcap_with(&[]);
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        file.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        let (_, res) = read_all(&file, 3);
        let err = res.unwrap_err();
        assert_eq!(err.code(), "record_too_large");
        assert_eq!(err.offset(), 24);
    }

    /// SHB, then a DSB holding `secrets` with the given declared length.
    fn pcapng_with_dsb(secrets: &[u8], declared: u32) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [PCAPNG_SHB, 28, PCAPNG_BOM, 1, u32::MAX, u32::MAX, 28] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        let padded = (secrets.len() + 3) & !3;
        let len = (20 + padded) as u32;
        for x in [0x0Au32, len, SECRETS_TLS_KEY_LOG, declared] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(secrets);
        v.resize(v.len() + padded - secrets.len(), 0);
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    fn secrets_seen(file: &[u8], chunk: usize) -> (Vec<(u32, Vec<u8>)>, bool) {
        let mut r = Reader::new();
        let mut out = Vec::new();
        let mut ok = true;
        for c in file.chunks(chunk) {
            ok &= r
                .push(c, &mut |e| {
                    if let Event::Secrets {
                        secrets_type, data, ..
                    } = e
                    {
                        out.push((secrets_type, data.to_vec()));
                    }
                })
                .is_ok();
        }
        ok &= r.finish().is_ok();
        (out, ok)
    }

    #[test]
    fn decryption_secrets_are_surfaced_within_their_block() {
        let log = b"CLIENT_TRAFFIC_SECRET_0 00 11\n";
        let file = pcapng_with_dsb(log, log.len() as u32);
        for chunk in [1, 7, file.len()] {
            assert_eq!(
                secrets_seen(&file, chunk),
                (vec![(SECRETS_TLS_KEY_LOG, log.to_vec())], true)
            );
        }
        // A secrets length beyond the block is never trusted: no secrets.
        for declared in [0xFFFF_0000, 64] {
            let (seen, ok) = secrets_seen(&pcapng_with_dsb(log, declared), 5);
            assert!(seen.is_empty() && !ok, "{declared}");
        }
        assert_eq!(dsb_secrets(&[0; 19], false), None);
    }

    #[test]
    fn pcapng_ns_resolution_and_interfaces() {
        // SHB, IDB(eth, tsresol=9), EPB.
        let mut v = Vec::new();
        v.extend_from_slice(&PCAPNG_SHB.to_le_bytes());
        v.extend_from_slice(&28u32.to_le_bytes());
        v.extend_from_slice(&PCAPNG_BOM.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&(-1i64).to_le_bytes());
        v.extend_from_slice(&28u32.to_le_bytes());
        // IDB with if_tsresol option (code 9, len 1, value 9) + opt_endofopt
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&32u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&9u16.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&[9, 0, 0, 0]);
        v.extend_from_slice(&[0, 0, 0, 0]);
        v.extend_from_slice(&32u32.to_le_bytes());
        // EPB with 4 bytes of data
        let ts: u64 = 1_500_000_000_123_456_789;
        v.extend_from_slice(&6u32.to_le_bytes());
        v.extend_from_slice(&36u32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        v.extend_from_slice(&(ts as u32).to_le_bytes());
        v.extend_from_slice(&4u32.to_le_bytes());
        v.extend_from_slice(&4u32.to_le_bytes());
        v.extend_from_slice(b"wxyz");
        v.extend_from_slice(&36u32.to_le_bytes());
        for chunk in [1, 5, 100] {
            let (recs, res) = read_all(&v, chunk);
            assert!(res.is_ok(), "{res:?}");
            assert_eq!(recs, vec![(1, ts as i64, b"wxyz".to_vec())]);
        }
    }
}
