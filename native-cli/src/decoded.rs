//! Frames decoded ahead of the analysis, with the bytes they point into.
//!
//! The read-ahead thread runs the core's first stage ([`FrameSource`]: capture
//! reading and frame decoding) on each chunk it reads, so on two cores the
//! decoding overlaps the flow tracking and detection of the previous chunk.
//! A decoded frame borrows its chunk, so a [`DecodedChunk`] owns the chunk and
//! the frames together; this module is the only place that ties them.

use pcaplens_core::capture::{Event, Record};
use pcaplens_core::decode::{self, Packet};
use pcaplens_core::{CaptureError, Frame, FrameSource};

/// One decoded item, its views pointing into the owning [`DecodedChunk`].
// Boxing the packet would allocate per frame; the small variant is rare.
#[allow(clippy::large_enum_variant)]
enum Item<'a> {
    Packet(Record<'a>, Packet<'a>),
    Meta(Event<'a>),
}

/// The frames completed by one chunk of input, and the bytes they borrow.
pub struct DecodedChunk {
    // Declared (so dropped) before the storage they point into. The `'static`
    // is a lie kept inside this module: `for_each` only lends the items for
    // the duration of a borrow of `self`.
    items: Vec<Item<'static>>,
    /// Frames that straddled two chunks (the reader assembled them in its own
    /// buffer, which the next chunk reuses): copied, one box each, so their
    /// addresses never move.
    spill: Vec<Box<[u8]>>,
    buf: Vec<u8>,
    /// Bytes of input this chunk covered.
    pub input_len: usize,
    /// The first capture error met while reading this chunk.
    pub error: Option<CaptureError>,
}

impl DecodedChunk {
    /// Decode the first `len` bytes of `buf` with `source`, keeping `buf`.
    pub fn decode(source: &mut FrameSource, buf: Vec<u8>, len: usize) -> DecodedChunk {
        let mut items: Vec<Item<'static>> = Vec::new();
        let mut spill: Vec<Box<[u8]>> = Vec::new();
        let chunk = &buf[..len];
        let inside = |s: &[u8]| {
            let (start, end) = (
                chunk.as_ptr() as usize,
                chunk.as_ptr() as usize + chunk.len(),
            );
            let p = s.as_ptr() as usize;
            p >= start && p + s.len() <= end
        };
        let result = source.push(chunk, &mut |frame| {
            let item = match frame {
                Frame::Packet { record, packet } if inside(record.raw) && inside(record.data) => {
                    Item::Packet(*record, packet.clone())
                }
                Frame::Packet { record, .. } => {
                    // Copy the record and decode it again from the copy
                    // (decoding is a pure function of the bytes).
                    let (raw, data) = copy_record(record.raw, record.data, &mut spill);
                    let record = Record {
                        raw,
                        data,
                        ..*record
                    };
                    let mut packet = Packet::default();
                    decode::decode_into(&mut packet, record.link_type, record.data);
                    Item::Packet(record, packet)
                }
                Frame::Meta(Event::Meta { offset, kind, raw }) => {
                    let (raw, _) = copy_record(raw, &[], &mut spill);
                    Item::Meta(Event::Meta {
                        offset: *offset,
                        kind: *kind,
                        raw,
                    })
                }
                Frame::Meta(Event::Secrets {
                    offset,
                    secrets_type,
                    data,
                }) => {
                    let (data, _) = copy_record(data, &[], &mut spill);
                    Item::Meta(Event::Secrets {
                        offset: *offset,
                        secrets_type: *secrets_type,
                        data,
                    })
                }
                // FrameSource hands records on as packets only.
                Frame::Meta(Event::Record(_)) => return,
            };
            // SAFETY: every slice in `item` points into `buf` (checked by
            // `inside`), into a box of `spill` (copied above), or at 'static
            // data. `buf`'s heap block and the boxes' contents are never
            // reallocated or written while `items` lives: they move into the
            // returned `DecodedChunk` unchanged, which drops `items` first and
            // lends items only for the length of a borrow of itself.
            items.push(unsafe { std::mem::transmute::<Item<'_>, Item<'static>>(item) });
        });
        DecodedChunk {
            items,
            spill,
            buf,
            input_len: len,
            error: result.err(),
        }
    }

    /// Hand every frame, in capture order, to `f`.
    pub fn for_each(&self, mut f: impl FnMut(Frame<'_, '_>)) {
        for item in &self.items {
            match item {
                Item::Packet(record, packet) => f(Frame::Packet { record, packet }),
                Item::Meta(ev) => f(Frame::Meta(ev)),
            }
        }
    }

    /// Give the read buffer back for the next chunk.
    pub fn into_buffer(self) -> Vec<u8> {
        let DecodedChunk {
            items, spill, buf, ..
        } = self;
        drop(items);
        drop(spill);
        buf
    }
}

/// Copy a record into its own box; returns views of the copy for `raw` and
/// for `data` (a part of `raw`, or copied after it when it is not).
fn copy_record<'s>(raw: &[u8], data: &[u8], spill: &'s mut Vec<Box<[u8]>>) -> (&'s [u8], &'s [u8]) {
    let raw_start = raw.as_ptr() as usize;
    let data_start = data.as_ptr() as usize;
    let within = data_start >= raw_start && data_start + data.len() <= raw_start + raw.len();
    let boxed: Box<[u8]> = if within {
        raw.into()
    } else {
        [raw, data].concat().into_boxed_slice()
    };
    let data_range = if within {
        data_start - raw_start..data_start - raw_start + data.len()
    } else {
        raw.len()..raw.len() + data.len()
    };
    spill.push(boxed);
    let copy: &[u8] = spill.last().map(|b| &b[..]).unwrap_or(&[]);
    (&copy[..raw.len()], &copy[data_range])
}
