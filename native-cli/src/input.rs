//! Inputs and outputs of the commands (the reading itself is
//! `pcaplens-native-io`'s, shared with the Python package).

use anyhow::{Context, Result};
use pcaplens_core::{AnalyzerConfig, Report};
use pcaplens_native_io as native_io;
use std::path::Path;

/// Analyse a capture file (`-`: standard input) with these options, as
/// `analyze` does: the error of a capture cut short is in the report.
pub fn analyze_path(path: &Path, cfg: AnalyzerConfig) -> Result<Report> {
    native_io::analyze_path(path, cfg).or_else(|e| match e {
        native_io::Error::Read(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        native_io::Error::Config(e) => Err(e.into()),
        native_io::Error::Analyse(never) => match never {},
    })
}

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
