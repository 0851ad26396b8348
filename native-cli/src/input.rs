//! Reading captures in chunks: files, standard input, pipes and devices alike.
//!
//! Plain reads into a buffer that fits the CPU cache measured faster than
//! memory-mapping here: the kernel's copy leaves the bytes hot for the parser,
//! while first touches of mapped pages miss the cache in the parser itself.

use anyhow::{Context, Result};
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
    /// Call `f` with consecutive chunks until the input ends or `f` returns false.
    pub fn for_each_chunk(self, label: &str, f: impl FnMut(&[u8]) -> Result<bool>) -> Result<()> {
        match self.source {
            Source::File(mut file) => read_ahead_loop(&mut file, label, f),
            // A pipe or terminal may block forever: read it on this thread, so
            // stopping early (a damaged capture) never waits for more input.
            Source::Stream(mut r) => simple_loop(&mut r, label, f),
        }
    }
}

/// Buffers in flight between the reading thread and the analysis.
const BUFFERS: usize = 4;

/// Read on a helper thread while the caller's thread analyses: on two cores
/// the kernel's copy of the next chunk overlaps the parsing of this one.
fn simple_loop(
    r: &mut dyn Read,
    label: &str,
    mut f: impl FnMut(&[u8]) -> Result<bool>,
) -> Result<()> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {label}")),
        };
        if !f(&buf[..n])? {
            return Ok(());
        }
    }
}

fn read_ahead_loop(
    r: &mut (dyn Read + Send),
    label: &str,
    mut f: impl FnMut(&[u8]) -> Result<bool>,
) -> Result<()> {
    use std::sync::mpsc::{channel, sync_channel};
    let (full_tx, full_rx) = sync_channel::<io::Result<(Vec<u8>, usize)>>(BUFFERS);
    let (empty_tx, empty_rx) = channel::<Vec<u8>>();
    for _ in 0..BUFFERS {
        empty_tx
            .send(vec![0u8; READ_CHUNK])
            .expect("receiver alive");
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Ends when the input ends, on an error, or when the consumer hangs up.
            while let Ok(mut buf) = empty_rx.recv() {
                let n = loop {
                    match r.read(&mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let done = !matches!(n, Ok(n) if n > 0);
                if full_tx.send(n.map(|n| (buf, n))).is_err() || done {
                    return;
                }
            }
        });
        let result = (|| {
            for item in full_rx.iter() {
                let (buf, n) = item.with_context(|| format!("reading {label}"))?;
                if n == 0 {
                    return Ok(());
                }
                let go_on = f(&buf[..n])?;
                if !go_on {
                    return Ok(());
                }
                let _ = empty_tx.send(buf);
            }
            Ok(())
        })();
        // Unblock the reader if we stopped early, so the scope can end.
        drop(full_rx);
        drop(empty_tx);
        result
    })
}
