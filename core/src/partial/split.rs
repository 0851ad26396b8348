//! Cutting one capture file into pieces at record boundaries (pcap: record
//! headers; pcapng: blocks), so each piece can be analysed on its own core
//! and the partials merged.
//!
//! Sans-IO: the caller reads (`read_at` fills a buffer from a file offset),
//! only the few header bytes of each record are asked for, and the plan
//! holds one entry per piece, so a file of any size is cut in bounded memory.

/// The caller's reading: fill the buffer from this file offset.
pub type ReadAt<'a, E> = dyn FnMut(u64, &mut [u8]) -> Result<(), E> + 'a;

/// What a stretch of the file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    /// pcap file header, pcapng section header block.
    Header,
    /// pcapng interface description block.
    Interface,
    /// A packet record or block: a piece may start here.
    Packet,
    /// Any other pcapng block.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    pub offset: u64,
    pub len: u64,
    pub kind: UnitKind,
}

/// One piece: the byte ranges to feed first (headers copied from earlier in
/// the file), then the piece's own bytes `start..end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceSpec {
    pub prefix: Vec<(u64, u64)>,
    pub start: u64,
    pub end: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError<E> {
    #[error(transparent)]
    Read(E),
    #[error("cannot cut: {0}")]
    Format(&'static str),
}

/// Visit every unit of a capture of `len` bytes, in file order. A damaged or
/// cut-short tail ends the walk quietly: it stays in the last piece, whose
/// reader reports it as a whole run would.
pub fn scan<E>(
    len: u64,
    read_at: &mut ReadAt<'_, E>,
    visit: &mut dyn FnMut(Unit),
) -> Result<(), SplitError<E>> {
    if len < 12 {
        return Err(SplitError::Format("too short for a capture"));
    }
    let mut head = [0u8; 12];
    read_at(0, &mut head).map_err(SplitError::Read)?;
    let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let pcap_record_header = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d | 0xd4c3_b2a1 | 0x4d3c_b2a1 => Some((16, magic >> 24 == 0xa1)),
        // Kuznetzov's modified pcap: 24-byte record headers.
        0xa1b2_cd34 | 0x34cd_b2a1 => Some((24, magic >> 24 == 0xa1)),
        _ => None,
    };
    if let Some((rec_hdr, le)) = pcap_record_header {
        if len < 24 {
            return Err(SplitError::Format("pcap file header cut short"));
        }
        visit(Unit {
            offset: 0,
            len: 24,
            kind: UnitKind::Header,
        });
        let mut off = 24u64;
        let mut hdr = [0u8; 16];
        while off + rec_hdr <= len {
            read_at(off, &mut hdr).map_err(SplitError::Read)?;
            let b = [hdr[8], hdr[9], hdr[10], hdr[11]];
            let incl = if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            };
            let n = rec_hdr + u64::from(incl);
            if off + n > len {
                break;
            }
            visit(Unit {
                offset: off,
                len: n,
                kind: UnitKind::Packet,
            });
            off += n;
        }
        return Ok(());
    }
    if magic != 0x0a0d_0d0a {
        return Err(SplitError::Format("not a pcap or pcapng file"));
    }
    let mut off = 0u64;
    let mut le = true;
    let mut hdr = [0u8; 12];
    while off + 12 <= len {
        read_at(off, &mut hdr).map_err(SplitError::Read)?;
        let raw_type = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        if raw_type == 0x0a0d_0d0a {
            // The byte-order magic of a section header decides its section's order.
            le = u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]) == 0x1a2b_3c4d;
        }
        let word = |b: [u8; 4]| {
            if le {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let block_type = word([hdr[0], hdr[1], hdr[2], hdr[3]]);
        let n = u64::from(word([hdr[4], hdr[5], hdr[6], hdr[7]]));
        if n < 12 || n % 4 != 0 || off + n > len {
            break;
        }
        let kind = match block_type {
            0x0a0d_0d0a => UnitKind::Header,
            1 => UnitKind::Interface,
            2 | 3 | 6 => UnitKind::Packet,
            _ => UnitKind::Other,
        };
        visit(Unit {
            offset: off,
            len: n,
            kind,
        });
        off += n;
    }
    Ok(())
}

/// Plan the pieces of a capture: a new piece starts at every packet unit
/// `cut_here` says yes to (it is asked about each packet after the first,
/// in file order). A piece after the first starts with a copy of the file
/// header (pcap) or of its section's header and interfaces so far (pcapng).
pub fn plan<E>(
    len: u64,
    read_at: &mut ReadAt<'_, E>,
    cut_here: &mut dyn FnMut(&Unit) -> bool,
) -> Result<Vec<PieceSpec>, SplitError<E>> {
    let mut pieces = vec![PieceSpec {
        prefix: Vec::new(),
        start: 0,
        end: len,
    }];
    let mut header: Option<(u64, u64)> = None;
    let mut interfaces: Vec<(u64, u64)> = Vec::new();
    let mut seen_packet = false;
    scan(len, read_at, &mut |u| match u.kind {
        UnitKind::Header => {
            header = Some((u.offset, u.len));
            interfaces.clear();
        }
        UnitKind::Interface => interfaces.push((u.offset, u.len)),
        UnitKind::Other => {}
        UnitKind::Packet => {
            if seen_packet && cut_here(&u) {
                if let Some(last) = pieces.last_mut() {
                    last.end = u.offset;
                }
                let mut prefix: Vec<(u64, u64)> = header.into_iter().collect();
                prefix.extend(&interfaces);
                pieces.push(PieceSpec {
                    prefix,
                    start: u.offset,
                    end: len,
                });
            }
            seen_packet = true;
        }
    })?;
    Ok(pieces)
}

/// [`plan`] for `n` pieces of about equal size: a piece starts at the first
/// packet at or after each `k * len / n`.
pub fn plan_even<E>(
    len: u64,
    n: usize,
    read_at: &mut ReadAt<'_, E>,
) -> Result<Vec<PieceSpec>, SplitError<E>> {
    let n = n.max(1) as u64;
    let mut k = 1u64;
    plan(len, read_at, &mut |u| {
        if k < n && u.offset >= k * (len / n) {
            while k < n && u.offset >= k * (len / n) {
                k += 1;
            }
            true
        } else {
            false
        }
    })
}

/// A `read_at` over bytes in memory.
pub fn slice_reader(data: &[u8]) -> impl FnMut(u64, &mut [u8]) -> Result<(), &'static str> + '_ {
    move |off, buf| {
        let start = usize::try_from(off).map_err(|_| "offset past the data")?;
        let src = data
            .get(start..start.saturating_add(buf.len()))
            .ok_or("read past the data")?;
        buf.copy_from_slice(src);
        Ok(())
    }
}
