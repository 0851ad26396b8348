//! Reading captures in chunks: files, standard input, pipes and devices
//! alike (the threads and reads themselves are in `pcaplens-native-io`,
//! shared with the Python package).

use anyhow::{Context, Result};
use pcaplens_core::staged::DecodedChunk;
use pcaplens_core::{FrameSource, SourceEnd};
use pcaplens_native_io as native_io;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Refuse to write an output over an input: creating it would empty the
/// capture before it is read. An output is the same file as an input when
/// both exist and are one file, whatever the paths say (links, `./`, case).
/// Says so on stderr and returns true when one would.
pub fn refuse_to_overwrite_inputs(inputs: &[&Path], outputs: &[&Path]) -> bool {
    for out in outputs {
        if let Some(inp) = inputs.iter().find(|i| native_io::same_file(i, out)) {
            eprintln!(
                "pcaplens: refusing to write {} over the input {}: nothing was written",
                out.display(),
                inp.display()
            );
            return true;
        }
    }
    false
}

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
        source: FrameSource,
        f: impl FnMut(&DecodedChunk) -> Result<bool>,
    ) -> Result<SourceEnd> {
        let ended = match self.source {
            Source::File(file) => native_io::decode_file(&file, source, f),
            Source::Stream(mut r) => native_io::decode_stream(&mut r, source, f),
        };
        ended.or_else(|e| match e {
            native_io::Error::Read(e) => Err(e).with_context(|| format!("reading {label}")),
            native_io::Error::Analyse(e) => Err(e),
        })
    }
}
