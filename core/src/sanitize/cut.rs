//! Text that a TCP segment (or TLS record) boundary cuts: a ClientHello's
//! server name, a certificate string or address. The first piece is written
//! before its rest is read, so it gets zeros — or, on a second pass that
//! learned the whole text, the beginning of its rewrite — and the rest gets
//! the tail of the whole text's rewrite. The walker that found the text says
//! how a whole one is rewritten (`rewrite_whole`).

use super::rewrite::FrameRewrite;
use super::stream::{CutKind, CutPiece};
use std::ops::Range;

/// Names a segment boundary cut, bounded: pieces waiting for their rest,
/// and whole names for the second pass.
const MAX_PARTIAL: usize = 1024;
const MAX_CUT_NAMES: usize = 65_536;

/// How a walker rewrites a whole cut text of the given kind.
pub(super) type WholeRewrite = fn(&mut FrameRewrite<'_>, CutKind, &[u8]) -> Vec<u8>;

/// The first piece of a text (`len` bytes in all) that runs past the end of
/// its segment or record. It is kept until the rest comes. It gets the
/// beginning of the whole text's rewrite when an earlier pass learned the
/// text, else zeros (it is written before its rest is read; the rest then
/// asks for a second pass).
pub(super) fn cut_first(
    f: &mut FrameRewrite<'_>,
    piece: Range<usize>,
    len: u32,
    kind: CutKind,
    rewrite_whole: WholeRewrite,
) {
    let Some((key, seq)) = f.streams.position_of(piece.start) else {
        return f.fail_closed(piece);
    };
    let bytes = &f.orig[piece.clone()];
    let cuts = &mut f.streams.cuts;
    if cuts.partial.len() >= MAX_PARTIAL && !cuts.partial.contains_key(&key) {
        cuts.partial.clear();
    }
    cuts.partial.insert(
        key,
        CutPiece {
            kind,
            first_seq: seq,
            len,
            text: bytes.to_vec(),
        },
    );
    let known = cuts
        .known
        .known
        .get(&(key, seq))
        .filter(|t| t.len() == len as usize && t.starts_with(bytes))
        .cloned();
    match known {
        Some(whole) => {
            // The rewrite counts once, when the rest comes (it is made again
            // there): counted here too, a cut name would count twice.
            let counted = f.counters.clone();
            let r = rewrite_whole(f, kind, &whole);
            *f.counters = counted;
            f.out[piece.clone()].copy_from_slice(&r[..piece.len()]);
        }
        None => f.fail_closed(piece),
    }
}

/// The rest of a cut text (`left` of its `len` bytes): it gets the tail of
/// the whole text's rewrite, and the text is learned for a second pass when
/// its first piece was zeroed. False (and the piece zeroed) when the piece
/// does not complete what its direction began.
pub(super) fn cut_rest(
    f: &mut FrameRewrite<'_>,
    piece: Range<usize>,
    len: u32,
    left: u32,
    kind: CutKind,
    rewrite_whole: WholeRewrite,
) -> bool {
    let Some((key, _)) = f.streams.position_of(piece.start) else {
        f.fail_closed(piece);
        return false;
    };
    let done = len - left;
    let whole = match f.streams.cuts.partial.remove(&key) {
        Some(CutPiece {
            kind: k,
            first_seq,
            len: l,
            mut text,
        }) if k == kind
            && l == len
            && text.len() == done as usize
            && piece.len() == left as usize =>
        {
            text.extend_from_slice(&f.orig[piece.clone()]);
            Some((first_seq, text))
        }
        _ => None,
    };
    let Some((first_seq, text)) = whole else {
        f.fail_closed(piece);
        return false;
    };
    let r = rewrite_whole(f, kind, &text);
    f.out[piece].copy_from_slice(&r[done as usize..]);
    let cuts = &mut f.streams.cuts;
    if !cuts.known.known.contains_key(&(key, first_seq))
        && cuts.zeroed_early.known.len() < MAX_CUT_NAMES
    {
        cuts.zeroed_early
            .known
            .insert((key, first_seq), text.into());
    }
    true
}
