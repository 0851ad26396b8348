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
            Source::File(file) => {
                decode_ahead_loop(&file, label, &mut source, &mut f)?;
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

/// A chunk of a file: its place in the file and, when the analysis thread
/// already read it, what that read returned.
struct Job {
    storage: ChunkStorage,
    index: u64,
    read: Option<io::Result<usize>>,
}

/// The read-ahead loop: the reading thread runs the core's first stage on
/// each chunk while this thread analyses the previous one. Chunk `k` is the
/// file's bytes from `k * READ_CHUNK`. When no decoded chunk is waiting for
/// this thread, it reads the next chunk itself before handing the buffer back:
/// copying the file out of the page cache is the reading thread's largest
/// single cost, and this way the thread with room takes it, whichever core is
/// the slower one. The first short chunk ends the input, as a short read would
/// (a file still being written is read up to where it was).
fn decode_ahead_loop(
    file: &File,
    label: &str,
    source: &mut FrameSource,
    f: &mut dyn FnMut(&DecodedChunk) -> Result<bool>,
) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc::{channel, sync_channel};
    let (full_tx, full_rx) = sync_channel::<io::Result<DecodedChunk>>(BUFFERS);
    // Chunks decoded and not yet taken by this thread.
    let waiting = AtomicUsize::new(0);
    let waiting = &waiting;
    let (job_tx, job_rx) = channel::<Job>();
    let mut next_index = 0u64;
    for _ in 0..BUFFERS {
        let job = Job {
            storage: ChunkStorage::new(READ_CHUNK),
            index: next_index,
            read: None,
        };
        job_tx.send(job).expect("receiver alive");
        next_index += 1;
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Ends at the end of input, on an error, or when the consumer hangs up.
            while let Ok(job) = job_rx.recv() {
                let Job {
                    mut storage,
                    index,
                    read,
                } = job;
                let read = read.unwrap_or_else(|| read_chunk(file, &mut storage.buf, index));
                let (msg, done) = match read {
                    Ok(0) => return,
                    Ok(n) => {
                        let chunk = DecodedChunk::decode(source, storage, n);
                        let done = chunk.error.is_some() || n < READ_CHUNK;
                        (Ok(chunk), done)
                    }
                    Err(e) => (Err(e), true),
                };
                waiting.fetch_add(1, Ordering::Relaxed);
                if full_tx.send(msg).is_err() || done {
                    return;
                }
            }
        });
        let result = (|| {
            for item in full_rx.iter() {
                waiting.fetch_sub(1, Ordering::Relaxed);
                let chunk = item.with_context(|| format!("reading {label}"))?;
                if !f(&chunk)? || chunk.error.is_some() {
                    return Ok(());
                }
                let mut storage = chunk.into_storage();
                let index = next_index;
                next_index += 1;
                let behind = waiting.load(Ordering::Relaxed) == 0;
                let read = behind.then(|| read_chunk(file, &mut storage.buf, index));
                let _ = job_tx.send(Job {
                    storage,
                    index,
                    read,
                });
            }
            Ok(())
        })();
        // Unblock the reader if we stopped early, so the scope can end.
        drop(full_rx);
        drop(job_tx);
        result
    })
}

/// Read chunk `index` of `file` into `buf`: as many bytes as there are, up to
/// the buffer's size (fewer only at the end of the file).
fn read_chunk(file: &File, buf: &mut [u8], index: u64) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let start = index * buf.len() as u64;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], start + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Buffers in flight between the reading thread and the analysis.
const BUFFERS: usize = 4;
