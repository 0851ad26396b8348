//! Reading captures in chunks: files, standard input, pipes and devices alike.
//!
//! Plain reads into a buffer that fits the CPU cache measured faster than
//! memory-mapping here: the kernel's copy leaves the bytes hot for the parser,
//! while first touches of mapped pages miss the cache in the parser itself.

use anyhow::{Context, Result};
use pcaplens_core::staged::{ChunkStorage, DecodedChunk};
use pcaplens_core::{FrameSource, SourceEnd};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Read size: small enough to stay in the L2 cache between the copy and the parse.
const READ_CHUNK: usize = 256 << 10;

/// An opened input and its size when known.
pub struct Input {
    source: Source,
    pub size: Option<u64>,
}

enum Source {
    File(File),
    Stream(Box<dyn Read>),
}

/// Open a path, `-` meaning standard input.
pub fn open(path: &Path) -> io::Result<Input> {
    if path.as_os_str() == "-" {
        return Ok(Input {
            source: Source::Stream(Box::new(io::stdin().lock())),
            size: None,
        });
    }
    let f = File::open(path)?;
    let meta = f.metadata()?;
    if meta.is_file() {
        Ok(Input {
            source: Source::File(f),
            size: Some(meta.len()),
        })
    } else {
        Ok(Input {
            source: Source::Stream(Box::new(f)),
            size: None,
        })
    }
}

impl Input {
    /// Call `f` with consecutive chunks of the input, read, decoded and
    /// accounted by `source` (the core's first stage). For files that stage
    /// runs on the read-ahead thread, next to the caller's analysis of the
    /// previous chunk. Ends at the end of input, on a capture error (the chunk
    /// carrying it is still handed over), or when `f` returns false; returns
    /// where the source ended.
    pub fn for_each_decoded(
        self,
        label: &str,
        mut source: FrameSource,
        mut f: impl FnMut(&DecodedChunk) -> Result<bool>,
    ) -> Result<SourceEnd> {
        match self.source {
            Source::File(mut file) => {
                decode_ahead_loop(&mut file, label, &mut source, &mut f)?;
            }
            // A pipe or terminal may block forever: read it on this thread, so
            // stopping early (a damaged capture) never waits for more input.
            Source::Stream(mut r) => {
                let mut storage = ChunkStorage::new(READ_CHUNK);
                loop {
                    let n = match r.read(&mut storage.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e).with_context(|| format!("reading {label}")),
                    };
                    let chunk = DecodedChunk::decode(&mut source, storage, n);
                    let go_on = f(&chunk)? && chunk.error.is_none();
                    storage = chunk.into_storage();
                    if !go_on {
                        break;
                    }
                }
            }
        }
        Ok(source.finish())
    }
}

/// The read-ahead loop, decoding on the reading thread too.
fn decode_ahead_loop(
    r: &mut (dyn Read + Send),
    label: &str,
    source: &mut FrameSource,
    f: &mut dyn FnMut(&DecodedChunk) -> Result<bool>,
) -> Result<()> {
    use std::sync::mpsc::{channel, sync_channel};
    let (full_tx, full_rx) = sync_channel::<io::Result<DecodedChunk>>(BUFFERS);
    let (empty_tx, empty_rx) = channel::<ChunkStorage>();
    for _ in 0..BUFFERS {
        empty_tx
            .send(ChunkStorage::new(READ_CHUNK))
            .expect("receiver alive");
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Ends at the end of input, on an error, or when the consumer hangs up.
            while let Ok(mut storage) = empty_rx.recv() {
                let n = loop {
                    match r.read(&mut storage.buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let (msg, done) = match n {
                    Ok(0) => return,
                    Ok(n) => {
                        let chunk = DecodedChunk::decode(source, storage, n);
                        let failed = chunk.error.is_some();
                        (Ok(chunk), failed)
                    }
                    Err(e) => (Err(e), true),
                };
                if full_tx.send(msg).is_err() || done {
                    return;
                }
            }
        });
        let result = (|| {
            for item in full_rx.iter() {
                let chunk = item.with_context(|| format!("reading {label}"))?;
                if !f(&chunk)? || chunk.error.is_some() {
                    return Ok(());
                }
                let _ = empty_tx.send(chunk.into_storage());
            }
            Ok(())
        })();
        // Unblock the reader if we stopped early, so the scope can end.
        drop(full_rx);
        drop(empty_tx);
        result
    })
}

/// Buffers in flight between the reading thread and the analysis.
const BUFFERS: usize = 4;
