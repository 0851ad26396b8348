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
            Source::File(mut file) => read_loop(&mut file, label, f),
            Source::Stream(mut r) => read_loop(&mut r, label, f),
        }
    }
}

fn read_loop(
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
