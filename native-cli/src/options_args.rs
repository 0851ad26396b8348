//! Analysis options on the command line: `--config FILE` (TOML) and
//! `--set KEY=VALUE`, layered with a command's own flags and mapped by the
//! core's one mapping ([`AnalyzerConfig::from_layers`]), the same way as
//! Python's keyword arguments and the wasm options object.
//!
//! Precedence: defaults < the `--config` file < flags < `--set`.

use clap::Args;
use pcaplens_core::options::{self, defaults_toml};
use pcaplens_core::AnalyzerConfig;
use serde_json::{Map, Value};
use std::path::PathBuf;

#[derive(Args, Debug, Clone, Default)]
pub struct OptionArgs {
    /// Analysis options from a TOML file (every key: `pcaplens config --print-defaults`);
    /// flags given on the command line override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Set one analysis option by its dotted key, e.g. `--set detect.scan.window_secs=60`
    /// (repeatable; the value is TOML: a number, true/false, "text", [list])
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl OptionArgs {
    /// The config: defaults < `--config` < `flags` (keys of the core's
    /// mapping, e.g. the shorthand `idle_timeout`) < `--set`. `Err` is a
    /// usage error to print (exit status 2).
    pub fn resolve(&self, flags: Map<String, Value>) -> Result<AnalyzerConfig, String> {
        self.resolve_over(&Value::Null, flags)
    }

    /// As [`OptionArgs::resolve`], over a command's own defaults (`base`,
    /// below the file): `pcaplens live` ends closed flows sooner.
    pub fn resolve_over(
        &self,
        base: &Value,
        flags: Map<String, Value>,
    ) -> Result<AnalyzerConfig, String> {
        let file = match &self.config {
            Some(path) => {
                let label = path.display();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{label}: cannot read config file: {e}"))?;
                let table: toml::Table = toml::from_str(&text)
                    .map_err(|e| format!("{label}: not a valid TOML config file: {e}"))?;
                let value = serde_json::to_value(table)
                    .map_err(|e| format!("{label}: unusable config file: {e}"))?;
                // Alone first, so that a mistake in the file names the file.
                AnalyzerConfig::from_json(&value).map_err(|e| format!("{label}: {e}"))?;
                value
            }
            None => Value::Null,
        };
        let mut sets = Map::new();
        for item in &self.set {
            let (key, text) = item
                .split_once('=')
                .ok_or_else(|| format!("--set {item}: expected KEY=VALUE"))?;
            let key = key.trim();
            if sets.contains_key(key) {
                return Err(format!("--set {key} is given twice"));
            }
            sets.insert(key.to_string(), toml_scalar(text.trim()));
        }
        let sets = Value::Object(sets);
        options::normalize(&sets).map_err(|e| format!("--set: {e}"))?;
        AnalyzerConfig::from_layers([base, &file, &Value::Object(flags), &sets])
            .map_err(|e| e.to_string())
    }
}

/// A `--set` value as TOML (`60`, `true`, `"x"`, `[1, 2]`); anything that is
/// not a TOML value is taken as a string.
fn toml_scalar(text: &str) -> Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// `pcaplens config`: the analysis options.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print every option as TOML: its key, default value and meaning
    #[arg(long, required = true)]
    pub print_defaults: bool,
}

pub fn run_config(args: ConfigArgs) -> anyhow::Result<u8> {
    use std::io::Write;
    if args.print_defaults {
        let mut out = std::io::stdout().lock();
        out.write_all(defaults_toml().as_bytes())?;
        out.flush()?;
    }
    Ok(crate::exit::OK)
}
