//! Capture files for the native fronts (the CLI and the Python package).
//!
//! One call analyses a file: [`analyze_path`] (or [`analyze_input`], with a
//! hook after each chunk for progress and streamed flows). The core is
//! sans-IO and runs no threads; its reading can run as a first stage
//! ([`FrameSource`]: reading, decoding, flow accounting) apart from the
//! detectors ([`pcaplens_core::Analyzer::feed_frame`]). This crate is where
//! those stages meet files and threads, once for both native fronts: on a
//! regular file the first stage runs on a read-ahead thread while the caller
//! analyses the previous chunk; a pipe, terminal or device is read in order
//! on the caller's thread. The report is the same either way.
//!
//! Plain reads into a buffer that fits the CPU cache measured faster than
//! memory-mapping here: the kernel's copy leaves the bytes hot for the parser,
//! while first touches of mapped pages miss the cache in the parser itself.

pub mod classify;
pub mod llm;
pub mod pieces;
pub mod staged;

use pcaplens_core::analyzer::{FrameSource, SourceEnd};
use pcaplens_core::anomaly::FeatureMatrix;
use pcaplens_core::{Analyzer, AnalyzerConfig, ConfigError, FlowSummary, Report};
use staged::{ChunkStorage, DecodedChunk};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel};

/// Read size: small enough to stay in the L2 cache between the copy and the parse.
pub const READ_CHUNK: usize = 256 << 10;

/// Environment variable that fixes how many threads [`decode_file`] uses
/// ("1" or "2"); otherwise two for a file of more than a few chunks when the
/// process has two cores or more.
pub const THREADS_ENV: &str = "PCAPLENS_READ_THREADS";

/// Environment variable that fixes which of [`decode_file`]'s two threads
/// keeps the flow table ("reading" or "analysis"); otherwise a probe of the
/// two cores decides.
pub const FLOWS_ENV: &str = "PCAPLENS_FLOW_THREAD";

/// Files smaller than this are read on one thread (unless [`THREADS_ENV`] says).
const SMALL_FILE: u64 = 4 * READ_CHUNK as u64;

/// Buffers in flight between the reading thread and the analysis.
const BUFFERS: usize = 4;

/// Why reading stopped early: the input failed, or the caller's analysis did
/// (or the options were refused before anything was read).
#[derive(Debug)]
pub enum Error<E> {
    Read(io::Error),
    Analyse(E),
    Config(ConfigError),
}

/// An opened capture: a regular file (read ahead on a second thread when it
/// pays) or a stream (a pipe, terminal or device, read in order).
pub enum Input {
    File(File),
    Stream(Box<dyn Read + Send>),
}

impl Input {
    /// Open a path; `-` is standard input.
    pub fn open(path: &Path) -> io::Result<Input> {
        if path.as_os_str() == "-" {
            return Ok(Input::Stream(Box::new(io::stdin())));
        }
        let f = File::open(path)?;
        if f.metadata()?.is_file() {
            Ok(Input::File(f))
        } else {
            Ok(Input::Stream(Box::new(f)))
        }
    }

    /// The size in bytes, when the input is a regular file.
    pub fn size(&self) -> Option<u64> {
        match self {
            Input::File(f) => f.metadata().ok().map(|m| m.len()),
            Input::Stream(_) => None,
        }
    }
}

/// What an analysis gives at the end: the report, the flows ended at the end
/// that `each_chunk` did not take yet (with `collect_flows`), and the anomaly
/// feature matrix (with `anomaly.export_features`).
pub struct Analysis {
    pub report: Report,
    pub flows: Vec<FlowSummary>,
    pub features: Option<FeatureMatrix>,
}

/// Analyse a capture with these options. After each chunk of input,
/// `each_chunk` gets the analyzer (for progress and
/// [`Analyzer::drain_flows`]) and the chunk's size; returning false stops the
/// reading (the report then covers what was read).
pub fn analyze_input<E>(
    input: Input,
    cfg: AnalyzerConfig,
    mut each_chunk: impl FnMut(&mut Analyzer, usize) -> Result<bool, E>,
) -> Result<Analysis, Error<E>> {
    let source = FrameSource::new(&cfg);
    let mut analyzer = Analyzer::new(cfg).map_err(Error::Config)?;
    let analyse = |chunk: &DecodedChunk| {
        chunk.for_each(|frame| analyzer.feed_frame(frame));
        analyzer.add_external_bytes(chunk.input_len as u64);
        each_chunk(&mut analyzer, chunk.input_len)
    };
    let end = match input {
        Input::File(file) => decode_file(&file, source, analyse)?,
        Input::Stream(mut r) => decode_stream(&mut r, source, analyse)?,
    };
    let (report, flows, features) = analyzer.finish_from(end);
    Ok(Analysis {
        report,
        flows,
        features,
    })
}

/// Analyse the capture at `path` (`-`: standard input) with these options.
pub fn analyze_path(
    path: &Path,
    cfg: AnalyzerConfig,
) -> Result<Report, Error<std::convert::Infallible>> {
    let input = Input::open(path).map_err(Error::Read)?;
    Ok(analyze_input(input, cfg, |_, _| Ok(true))?.report)
}

/// Run `source` over a regular file on a read-ahead thread, handing each chunk
/// to `analyse` in order on this thread, next to the reading of the next
/// ones. Ends at the end of the file, on a capture error (the chunk carrying
/// it is still handed over: the report keeps the frames before it), or when
/// `analyse` returns false; returns where the source ended.
///
/// Chunk `k` is the file's bytes from `k * READ_CHUNK`. When no decoded chunk
/// is waiting for this thread, it reads the next chunk itself before handing
/// the buffer back: copying the file out of the page cache is the reading
/// thread's largest single cost, and this way the thread with room takes it,
/// whichever core is the slower one. The first short chunk ends the input, as
/// a short read would (a file still being written is read up to where it was).
///
/// Where the flow table goes depends on the cores. When they share a cache,
/// the reading thread keeps it (the two threads then carry about equal work);
/// when they are far apart, every cache line a frame hands across costs
/// several times more, so the reading thread only reads and decodes
/// ([`FrameSource::without_flows`]) and fewer lines cross. The threads time a
/// few round trips between them to tell. The report is the same either way.
/// [`THREADS_ENV`] and [`FLOWS_ENV`] decide instead of the machine.
pub fn decode_file<E>(
    file: &File,
    source: FrameSource,
    mut analyse: impl FnMut(&DecodedChunk) -> Result<bool, E>,
) -> Result<SourceEnd, Error<E>> {
    // Both threads read the file at their own offsets: only where the
    // platform has positioned reads.
    let one_thread = !cfg!(any(unix, windows))
        || match std::env::var(THREADS_ENV).as_deref() {
            Ok("1") => true,
            Ok("2") => false,
            // A file of a few chunks is done before a second thread would pay off.
            _ if file.metadata().is_ok_and(|m| m.len() < SMALL_FILE) => true,
            _ => std::thread::available_parallelism().is_ok_and(|n| n.get() < 2),
        };
    if one_thread {
        return decode_stream(&mut &*file, source, analyse);
    }
    let far = match std::env::var(FLOWS_ENV).as_deref() {
        Ok("reading") => false,
        Ok("analysis") => true,
        _ => {
            let ball = AtomicU32::new(0);
            std::thread::scope(|scope| {
                scope.spawn(|| return_ball(&ball));
                cores_are_far(&ball)
            })
        }
    };
    let mut source = if far { source.without_flows() } else { source };
    let (full_tx, full_rx) = sync_channel::<io::Result<DecodedChunk>>(BUFFERS);
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
    // Chunks decoded and not yet taken by this thread.
    let waiting = AtomicUsize::new(0);
    let (waiting, source_ref) = (&waiting, &mut source);
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
                        let chunk = DecodedChunk::decode(source_ref, storage, n);
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
                let chunk = item.map_err(Error::Read)?;
                if !analyse(&chunk).map_err(Error::Analyse)? || chunk.error.is_some() {
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
    })?;
    Ok(source.finish())
}

/// Two existing paths that name one file, whatever the paths say (links,
/// `./`); `-` (standard input) is never a file here. The fronts refuse to
/// write an output over an input: creating it would empty the capture
/// before it is read.
pub fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    if a.as_os_str() == "-" || b.as_os_str() == "-" {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}

/// Run `source` over a stream (a pipe, terminal or device: no offsets, and a
/// read may block forever) in order on this thread, so stopping early never
/// waits for more input. Otherwise as [`decode_file`].
pub fn decode_stream<E>(
    r: &mut dyn Read,
    mut source: FrameSource,
    mut analyse: impl FnMut(&DecodedChunk) -> Result<bool, E>,
) -> Result<SourceEnd, Error<E>> {
    let mut storage = ChunkStorage::new(READ_CHUNK);
    loop {
        let n = match r.read(&mut storage.buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Read(e)),
        };
        let chunk = DecodedChunk::decode(&mut source, storage, n);
        let go_on = analyse(&chunk).map_err(Error::Analyse)? && chunk.error.is_none();
        storage = chunk.into_storage();
        if !go_on {
            break;
        }
    }
    Ok(source.finish())
}

/// Round trips of one cache line between the two threads are timed in
/// batches of this many; the fastest batch counts (a batch the scheduler or
/// the host interrupts says nothing about the distance).
const BATCH: u32 = 32;

/// Batches that show near cores before the probe believes them, and the most
/// batches it plays (well under a millisecond on far cores).
const NEAR_BATCHES: u32 = 8;
const MAX_BATCHES: u32 = 64;

/// A round trip slower than this means the cores are far apart (on the
/// 2-core VMs this was built on: ~80 ns when they share a cache, ~400 ns when
/// the host puts them on different chiplets).
const FAR_ROUND_TRIP: std::time::Duration = std::time::Duration::from_nanos(250);

/// Time round trips of a value between this thread and [`return_ball`] on
/// another, and tell whether the cores are far apart. The two threads may
/// start on one core: waits yield, so the game goes on (slowly) until the
/// scheduler spreads them. Bounded by ~20 ms; no fast batch by then counts
/// as far.
fn cores_are_far(ball: &AtomicU32) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(20);
    let mut throw = 0u32;
    let mut play = |n: u32| -> bool {
        for _ in 0..n {
            ball.store(2 * throw + 1, Ordering::Release);
            let mut spins = 0u32;
            while ball.load(Ordering::Acquire) != 2 * throw + 2 {
                spins = spins.wrapping_add(1);
                // The clock is read rarely: reading it slows the game it times.
                if spins % 1024 == 0 {
                    if std::time::Instant::now() > deadline {
                        return false;
                    }
                    std::thread::yield_now();
                }
                std::hint::spin_loop();
            }
            throw += 1;
        }
        true
    };
    let limit = FAR_ROUND_TRIP * BATCH;
    let mut fastest = std::time::Duration::MAX;
    let mut near_batches = 0;
    for _ in 0..MAX_BATCHES {
        let start = std::time::Instant::now();
        if !play(BATCH) {
            break;
        }
        let took = start.elapsed();
        fastest = fastest.min(took);
        if took <= limit {
            near_batches += 1;
            if near_batches == NEAR_BATCHES {
                break;
            }
        }
    }
    ball.store(u32::MAX, Ordering::Release);
    fastest > limit
}

/// The other side of [`cores_are_far`]: answer each odd value with the next
/// even one, until the game ends.
fn return_ball(ball: &AtomicU32) {
    loop {
        let v = ball.load(Ordering::Acquire);
        if v == u32::MAX {
            return;
        }
        if v % 2 == 1 {
            ball.store(v + 1, Ordering::Release);
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A chunk of a file: its place in the file and, when the analysis thread
/// already read it, what that read returned.
struct Job {
    storage: ChunkStorage,
    index: u64,
    read: Option<io::Result<usize>>,
}

/// Read chunk `index` of `file` into `buf`: as many bytes as there are, up to
/// the buffer's size (fewer only at the end of the file).
fn read_chunk(file: &File, buf: &mut [u8], index: u64) -> io::Result<usize> {
    let start = index * buf.len() as u64;
    let mut filled = 0;
    while filled < buf.len() {
        match read_at(file, &mut buf[filled..], start + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A positioned read, which leaves the file's cursor alone (so both threads
/// may read one file).
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Elsewhere, through a handle of its own: seek, then read.
#[cfg(not(any(unix, windows)))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    use std::io::Seek;
    let mut f = file.try_clone()?;
    f.seek(io::SeekFrom::Start(offset))?;
    f.read(buf)
}
