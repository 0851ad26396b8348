//! Frames decoded and accounted ahead of the analysis, with the bytes they
//! point into.
//!
//! A front with two cores reads, decodes and accounts flows on one thread (the
//! first stage, [`FrameSource`]) while the detectors work on the previous
//! chunk on another.
//! A decoded frame borrows its chunk, so a [`DecodedChunk`] owns the chunk and
//! the frames together and can be sent between threads; this module is the
//! only place that ties them (the core itself holds no `unsafe`).

use pcaplens_core::analyzer::{FrameFlow, FrameSource, SourceItem};
use pcaplens_core::capture::{Event, Record};
use pcaplens_core::decode::{self, Packet};
use pcaplens_core::detect::FlowCtx;
use pcaplens_core::flow::Flow;
use pcaplens_core::CaptureError;

/// A read buffer and the room for what is decoded from it, reused from chunk
/// to chunk: packets are decoded in place into slots kept from earlier chunks
/// (a ~600-byte packet is never copied or moved).
pub struct ChunkStorage {
    pub buf: Vec<u8>,
    // The `'static` in these is a lie kept inside this module; see `decode`.
    records: Vec<Record<'static>>,
    /// Slot `i` holds the packet of `records[i]`; slots past `records.len()`
    /// are left from earlier chunks and never read.
    packets: Vec<Packet<'static>>,
    /// The flow context of each record's innermost flow (empty when the
    /// first stage leaves the flow accounting to the analyzer).
    flows: Vec<Option<FlowCtx>>,
    /// Batches of ended flows, with the number of records that came before each.
    ended: Vec<(usize, Vec<Flow>)>,
    /// Non-packet events, with the number of records that came before each.
    metas: Vec<(usize, Event<'static>)>,
    /// Records that straddled two chunks (the reader assembled them in its
    /// own buffer, which the next chunk reuses) and metadata blocks: copied,
    /// one box each, so their addresses never move.
    spill: Vec<Box<[u8]>>,
    /// Datagrams completed by IP reassembly in this chunk: their packets'
    /// transports point into each one's heap buffer, which stays put when
    /// this vector grows.
    reassembled: Vec<decode::defrag::Reassembled>,
}

impl ChunkStorage {
    pub fn new(size: usize) -> Self {
        ChunkStorage {
            buf: vec![0u8; size],
            records: Vec::new(),
            packets: Vec::new(),
            flows: Vec::new(),
            ended: Vec::new(),
            metas: Vec::new(),
            spill: Vec::new(),
            reassembled: Vec::new(),
        }
    }
}

/// The frames completed by one chunk of input, and the bytes they borrow.
pub struct DecodedChunk {
    storage: ChunkStorage,
    /// Bytes of input this chunk covered.
    pub input_len: usize,
    /// The first capture error met while reading this chunk.
    pub error: Option<CaptureError>,
}

impl DecodedChunk {
    /// Read and decode the first `len` bytes of the storage's buffer.
    pub fn decode(source: &mut FrameSource, storage: ChunkStorage, len: usize) -> DecodedChunk {
        let ChunkStorage {
            buf,
            mut records,
            mut packets,
            mut flows,
            mut ended,
            mut metas,
            mut spill,
            mut reassembled,
        } = storage;
        records.clear();
        flows.clear();
        ended.clear();
        metas.clear();
        spill.clear();
        reassembled.clear();
        let chunk = &buf[..len];
        let inside = |s: &[u8]| {
            let (start, end) = (
                chunk.as_ptr() as usize,
                chunk.as_ptr() as usize + chunk.len(),
            );
            let p = s.as_ptr() as usize;
            p >= start && p + s.len() <= end
        };
        // SAFETY (for the three transmutes below): every slice they extend
        // points into `buf` (checked by `inside`), into a box of `spill`
        // (copied just before), or at 'static data. `buf`'s heap block and the
        // boxes' contents are not reallocated or written while these views
        // are used: they move unchanged into the returned `DecodedChunk`,
        // which lends the views only for the length of a borrow of itself
        // (`for_each`) and clears `records` and `metas` before the storage is
        // reused. Stale packet slots past `records.len()` are never read.
        let result = source.push_accounting(chunk, |ev, acc, defrag| match ev {
            Event::Record(record) => {
                let record = if inside(record.raw) && inside(record.data) {
                    *record
                } else {
                    let (raw, data) = copy_record(record.raw, record.data, &mut spill);
                    Record {
                        raw,
                        data,
                        ..*record
                    }
                };
                records.push(unsafe { std::mem::transmute::<Record<'_>, Record<'static>>(record) });
                let i = records.len() - 1;
                if packets.len() == i {
                    packets.push(Packet::default());
                }
                let (record, packet) = (&records[i], &mut packets[i]);
                decode::decode_into(packet, record.link_type, record.data);
                if packet.has_fragment() {
                    if let Some(whole) = defrag.on_packet(packet, record.data, record.ts_nanos) {
                        // Kept with the chunk (SAFETY as for the transmutes:
                        // the packet keeps slices of the datagram's heap
                        // buffer, which moves unchanged into the
                        // `DecodedChunk` and is never written).
                        reassembled.push(whole);
                        if let Some(whole) = reassembled.last() {
                            decode::apply_reassembled(packet, unsafe {
                                std::mem::transmute::<
                                    &decode::defrag::Reassembled,
                                    &'static decode::defrag::Reassembled,
                                >(whole)
                            });
                        }
                    }
                }
                if let Some(acc) = acc {
                    flows.push(acc.on_packet(record, packet));
                    if let Some(batch) = acc.ended_batch() {
                        ended.push((records.len(), batch));
                    }
                }
            }
            Event::Meta { offset, kind, raw } => {
                let (raw, _) = copy_record(raw, &[], &mut spill);
                let ev = Event::Meta {
                    offset: *offset,
                    kind: *kind,
                    raw,
                };
                metas.push((records.len(), unsafe {
                    std::mem::transmute::<Event<'_>, Event<'static>>(ev)
                }));
            }
            Event::Secrets {
                offset,
                secrets_type,
                data,
            } => {
                let (data, _) = copy_record(data, &[], &mut spill);
                let ev = Event::Secrets {
                    offset: *offset,
                    secrets_type: *secrets_type,
                    data,
                };
                metas.push((records.len(), unsafe {
                    std::mem::transmute::<Event<'_>, Event<'static>>(ev)
                }));
            }
        });
        DecodedChunk {
            storage: ChunkStorage {
                buf,
                records,
                packets,
                flows,
                ended,
                metas,
                spill,
                reassembled,
            },
            input_len: len,
            error: result.err(),
        }
    }

    /// Hand every frame, in capture order, to `f`.
    pub fn for_each(&self, mut f: impl FnMut(SourceItem<'_, '_>)) {
        let s = &self.storage;
        let records = &s.records[..];
        // Slots past the records are stale (see `ChunkStorage::packets`).
        let packets = &s.packets[..records.len()];
        // Either every record has its flow context, or none has.
        let flows = (s.flows.len() == records.len()).then_some(&s.flows[..]);
        let mut metas = s.metas.iter().peekable();
        let mut ended = s.ended.iter().peekable();
        for (i, (record, packet)) in records.iter().zip(packets).enumerate() {
            // The frames were written by the reading thread's core: ask for
            // the next ones' lines early, so the analysis does not stall on them.
            if let (Some(next), Some(next_packet)) = (
                records.get(i + PREFETCH_AHEAD),
                packets.get(i + PREFETCH_AHEAD),
            ) {
                // Deeper IP layers (tunnels) are rare: not worth their lines.
                prefetch(
                    next_packet as *const Packet as *const u8,
                    next_packet.used_prefix(),
                );
                prefetch(
                    next as *const Record as *const u8,
                    std::mem::size_of::<Record>(),
                );
                prefetch(next.data.as_ptr(), next.data.len().min(128));
                if let Some(flows) = flows {
                    prefetch(
                        &flows[i + PREFETCH_AHEAD] as *const Option<FlowCtx> as *const u8,
                        std::mem::size_of::<Option<FlowCtx>>(),
                    );
                }
            }
            while let Some((_, ev)) = metas.next_if(|(before, _)| *before == i) {
                f(SourceItem::Meta(ev));
            }
            let flow = match flows {
                Some(flows) => FrameFlow::Accounted(flows[i].as_ref()),
                None => FrameFlow::Unaccounted,
            };
            f(SourceItem::Packet {
                record,
                packet,
                flow,
            });
            while let Some((_, batch)) = ended.next_if(|(after, _)| *after == i + 1) {
                f(SourceItem::FlowsEnded(batch));
            }
        }
        for (_, ev) in metas {
            f(SourceItem::Meta(ev));
        }
    }

    /// Give the storage back for the next chunk.
    pub fn into_storage(self) -> ChunkStorage {
        let mut storage = self.storage;
        // Drop the views before the copies they point into.
        storage.records.clear();
        storage.flows.clear();
        // The ended flows are freed here, by the thread that analysed them.
        storage.ended.clear();
        storage.metas.clear();
        storage.spill.clear();
        storage.reassembled.clear();
        storage
    }
}

/// How many frames ahead [`DecodedChunk::for_each`] prefetches.
const PREFETCH_AHEAD: usize = 4;

/// Hint the CPU to load `len` bytes at `p` (a no-op where there is no hint).
#[inline(always)]
fn prefetch(p: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let mut off = 0;
        while off < len {
            // SAFETY: prefetching is a hint; it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off) as *const i8) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
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
