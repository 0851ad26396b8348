//! Capture files as pieces of one capture (docs/scale.md): a file cut at
//! record boundaries, each piece's partial read on its own thread, the
//! partials merged in order.

use crate::READ_CHUNK;
use pcaplens_core::partial::split::{self, PieceSpec, SplitError};
use pcaplens_core::partial::{self, Partial, PartialError, Prefix, Span};
use pcaplens_core::{Analyzer, AnalyzerConfig, ConfigError};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// One piece to analyse: a file, or a byte range of one.
#[derive(Clone, Debug)]
pub struct Piece {
    pub path: std::path::PathBuf,
    /// None: the whole file.
    pub spec: Option<PieceSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum PiecesError {
    #[error("{0}: {1}")]
    Read(String, io::Error),
    #[error("{0}: {1}")]
    Cut(String, String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Merge(#[from] PartialError),
}

/// Cut `path` into about `n` pieces of equal size at record boundaries
/// (fewer when it has fewer packets).
pub fn cut_file(path: &Path, n: usize) -> Result<Vec<Piece>, PiecesError> {
    let label = path.display().to_string();
    let file = File::open(path).map_err(|e| PiecesError::Read(label.clone(), e))?;
    let len = file
        .metadata()
        .map_err(|e| PiecesError::Read(label.clone(), e))?
        .len();
    let specs = split::plan_even(len, n, &mut |off, buf| file.read_exact_at(buf, off)).map_err(
        |e| match e {
            SplitError::Read(e) => PiecesError::Read(label.clone(), e),
            SplitError::Format(m) => PiecesError::Cut(label.clone(), m.to_string()),
        },
    )?;
    Ok(specs
        .into_iter()
        .map(|s| Piece {
            path: path.to_path_buf(),
            spec: Some(s),
        })
        .collect())
}

/// The partial of one piece, read in chunks (bounded memory).
pub fn piece_partial(piece: &Piece, cfg: &AnalyzerConfig) -> Result<Partial, PiecesError> {
    let label = piece.path.display().to_string();
    let rd = |e| PiecesError::Read(label.clone(), e);
    let file = File::open(&piece.path).map_err(rd)?;
    let len = file.metadata().map_err(rd)?.len();
    let mut analyzer = Analyzer::new(partial::piece_config(cfg.clone()))?;
    let (prefix_ranges, start, end) = match &piece.spec {
        Some(s) => (s.prefix.as_slice(), s.start, s.end.min(len)),
        None => (&[][..], 0, len),
    };
    let mut header = Vec::new();
    for &(off, n) in prefix_ranges {
        // Headers only: a section header and interface blocks, not records.
        let mut b = vec![0u8; usize::try_from(n).unwrap_or(0).min(1 << 20)];
        file.read_exact_at(&mut b, off).map_err(rd)?;
        header.extend_from_slice(&b);
    }
    let _ = analyzer.feed(&header);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut off = start;
    while off < end {
        let want = usize::try_from((end - off).min(READ_CHUNK as u64)).unwrap_or(READ_CHUNK);
        let got = file.read_at(&mut buf[..want], off).map_err(rd)?;
        if got == 0 {
            break;
        }
        if analyzer.feed(&buf[..got]).is_err() {
            break;
        }
        off += got as u64;
    }
    let span = piece.spec.as_ref().map(|s| Span {
        source: label.clone(),
        start: s.start,
        end: s.end,
    });
    Ok(analyzer.finish_partial(&Prefix::of(&header), span))
}

/// Every piece's partial on up to `jobs` threads, merged in the order given.
pub fn merged_partial(
    pieces: &[Piece],
    cfg: &AnalyzerConfig,
    jobs: usize,
) -> Result<Partial, PiecesError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Result<Partial, PiecesError>>>> =
        pieces.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1).min(pieces.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(piece) = pieces.get(i) else { break };
                let r = piece_partial(piece, cfg);
                *slots[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    let mut acc = Partial::empty();
    for slot in slots {
        let p = slot
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(|| Ok(Partial::empty()))?;
        acc = partial::merge(&acc, &p)?;
    }
    Ok(acc)
}
