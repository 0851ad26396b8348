//! Where captures come from: paths checked against the roots (symlinks
//! resolved first), analysed once on a blocking thread (progress reported,
//! cancellable), and kept in a bounded cache keyed by (path, size,
//! modification time), so an edited file is analysed again.

use pcaplens_core::{AnalyzerConfig, FlowSummary, Report};
use pcaplens_native_io as native_io;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

/// The safety limits of a server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Canonical root directories: only files under one of them are read or written.
    pub roots: Vec<PathBuf>,
    pub max_file_size: u64,
}

/// A capture file that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub path: PathBuf,
    pub size: u64,
    pub mtime_nanos: i128,
}

impl Limits {
    /// Resolve a path the client gave (relative: to the first root), with
    /// symlinks resolved, and check it is a regular file under a root and not
    /// too large. The error says what is wrong, for the assistant to relay.
    pub fn check_capture(&self, given: &str) -> Result<FileKey, String> {
        let path = self.resolve(given)?;
        let canon = std::fs::canonicalize(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("no such file: {given}"),
            _ => format!("cannot open {given}: {e}"),
        })?;
        self.under_root(&canon, given)?;
        let meta = std::fs::metadata(&canon).map_err(|e| format!("cannot open {given}: {e}"))?;
        if !meta.is_file() {
            return Err(format!(
                "{given} is not a regular file (a capture file is expected)"
            ));
        }
        if meta.len() > self.max_file_size {
            return Err(format!(
                "{given} is {} bytes, over the server's --max-file-size of {} bytes",
                meta.len(),
                self.max_file_size
            ));
        }
        let mtime_nanos = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        Ok(FileKey {
            path: canon,
            size: meta.len(),
            mtime_nanos,
        })
    }

    /// Where a new file may be written: its directory must exist under a root
    /// (after resolving symlinks), and the name itself must not be a symlink.
    pub fn check_output(&self, given: &str) -> Result<PathBuf, String> {
        let path = self.resolve(given)?;
        let name = path
            .file_name()
            .ok_or_else(|| format!("{given}: not a file name"))?
            .to_owned();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir = std::fs::canonicalize(&parent)
            .map_err(|_| format!("{given}: the directory {} does not exist", parent.display()))?;
        self.under_root(&dir, given)?;
        let out = dir.join(name);
        if let Ok(m) = std::fs::symlink_metadata(&out) {
            if m.file_type().is_symlink() {
                return Err(format!(
                    "{given} is a symbolic link: refusing to write through it"
                ));
            }
            if !m.is_file() {
                return Err(format!("{given} exists and is not a regular file"));
            }
        }
        Ok(out)
    }

    fn resolve(&self, given: &str) -> Result<PathBuf, String> {
        if given.trim().is_empty() {
            return Err("path is empty: give a capture file's path".into());
        }
        if given.contains('\0') {
            return Err("path contains a NUL character".into());
        }
        let p = Path::new(given);
        Ok(if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.roots[0].join(p)
        })
    }

    fn under_root(&self, canon: &Path, given: &str) -> Result<(), String> {
        if self.roots.iter().any(|r| canon.starts_with(r)) {
            Ok(())
        } else {
            Err(format!(
                "{given} is outside the directories this server may read (--root: {})",
                self.roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }
}

/// An analysed capture. Identifiers here are the originals: they are
/// pseudonymised on the way out (`mask`).
pub struct Loaded {
    pub key: FileKey,
    pub report: Report,
    /// Every flow (not only the report's capped list), in creation order.
    pub flows: Vec<FlowSummary>,
    /// Original Community ID → the flows that carry it.
    pub by_cid: HashMap<String, Vec<u32>>,
    pub analysis_ms: u64,
    /// Community ID as shown (pseudonymised) → flows; built on first use.
    pub shown: OnceLock<HashMap<String, Vec<u32>>>,
    /// Original Community ID → the report places that list it; built on first use.
    pub places: OnceLock<HashMap<String, Vec<String>>>,
}

impl Loaded {
    /// Rough bytes held, for the cache's bound.
    fn cost(&self) -> usize {
        self.flows.len() * (std::mem::size_of::<FlowSummary>() + 160)
            + self.report.flows.len() * (std::mem::size_of::<FlowSummary>() + 120)
            + (256 << 10)
    }
}

/// Why an analysis gave no result.
#[derive(Debug)]
pub enum LoadError {
    Cancelled,
    Failed(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Cancelled => f.write_str("cancelled by the client"),
            LoadError::Failed(m) => f.write_str(m),
        }
    }
}

/// Analyse a capture (blocking). `progress(bytes_done)` is called after each
/// chunk; returning false cancels.
pub fn analyze(
    key: &FileKey,
    cfg: &AnalyzerConfig,
    display: &str,
    mut progress: impl FnMut(u64) -> bool,
) -> Result<Loaded, LoadError> {
    let start = Instant::now();
    let input = native_io::Input::open(&key.path)
        .map_err(|e| LoadError::Failed(format!("cannot open {display}: {e}")))?;
    let mut cfg = cfg.clone();
    // Every flow, not only the report's capped list: pages cover them all.
    cfg.collect_flows = true;
    let mut flows = Vec::new();
    let mut done = 0u64;
    let analysis = native_io::analyze_input(input, cfg, |analyzer, len| {
        flows.append(&mut analyzer.drain_flows());
        done += len as u64;
        if progress(done) {
            Ok(true)
        } else {
            Err(())
        }
    });
    let analysis = match analysis {
        Ok(a) => a,
        Err(native_io::Error::Analyse(())) => return Err(LoadError::Cancelled),
        Err(native_io::Error::Read(e)) => {
            return Err(LoadError::Failed(format!("reading {display}: {e}")))
        }
        Err(native_io::Error::Config(e)) => {
            return Err(LoadError::Failed(format!("analysis options: {e}")))
        }
    };
    let report = analysis.report;
    if let Some(err) = &report.status.error {
        if err.code == "not_a_capture" {
            return Err(LoadError::Failed(format!(
                "{display} is not a pcap or pcapng capture: {}",
                err.message
            )));
        }
    }
    flows.extend(analysis.flows);
    // Ended flows come in the order they ended: creation order is stable
    // and is what the report's own list uses.
    flows.sort_by_key(|f| f.id);
    let mut by_cid: HashMap<String, Vec<u32>> = HashMap::new();
    for (i, f) in flows.iter().enumerate() {
        by_cid
            .entry(f.community_id.clone())
            .or_default()
            .push(i as u32);
    }
    Ok(Loaded {
        key: key.clone(),
        report,
        flows,
        by_cid,
        analysis_ms: start.elapsed().as_millis() as u64,
        shown: OnceLock::new(),
        places: OnceLock::new(),
    })
}

/// Analysed captures, least recently used dropped first, bounded by count
/// and by estimated bytes (the most recent one is always kept).
pub struct Cache {
    inner: Mutex<CacheInner>,
    max_entries: usize,
    max_bytes: usize,
}

struct CacheInner {
    entries: Vec<(Arc<Loaded>, u64)>,
    clock: u64,
}

impl Cache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Cache {
            inner: Mutex::new(CacheInner {
                entries: Vec::new(),
                clock: 0,
            }),
            max_entries: max_entries.max(1),
            max_bytes,
        }
    }

    pub fn get(&self, key: &FileKey) -> Option<Arc<Loaded>> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.clock += 1;
        let now = g.clock;
        let hit = g.entries.iter_mut().find(|(l, _)| l.key == *key)?;
        hit.1 = now;
        Some(hit.0.clone())
    }

    pub fn put(&self, loaded: Arc<Loaded>) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.clock += 1;
        let now = g.clock;
        // An older version of the same file is of no use any more.
        g.entries.retain(|(l, _)| l.key.path != loaded.key.path);
        g.entries.push((loaded, now));
        loop {
            let bytes: usize = g.entries.iter().map(|(l, _)| l.cost()).sum();
            if g.entries.len() <= 1
                || (g.entries.len() <= self.max_entries && bytes <= self.max_bytes)
            {
                break;
            }
            let oldest = g
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(i, _)| i)
                .unwrap_or(0);
            g.entries.remove(oldest);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entries
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(path: &str, flows: usize) -> Arc<Loaded> {
        let capture = pcaplens_core::generate::generate(
            pcaplens_core::generate::Scenario::Normal,
            &Default::default(),
        )
        .unwrap();
        let report = pcaplens_core::analyze_bytes(&capture.bytes, Default::default()).unwrap();
        let one = report.flows[0].clone();
        Arc::new(Loaded {
            key: FileKey {
                path: PathBuf::from(path),
                size: 1,
                mtime_nanos: 1,
            },
            report,
            flows: vec![one; flows],
            by_cid: HashMap::new(),
            analysis_ms: 0,
            shown: OnceLock::new(),
            places: OnceLock::new(),
        })
    }

    #[test]
    fn cache_is_bounded_by_count_and_bytes_and_keeps_the_recent() {
        let c = Cache::new(2, usize::MAX);
        c.put(loaded("/a", 1));
        c.put(loaded("/b", 1));
        let a = loaded("/a", 1);
        assert!(
            c.get(&a.key).is_some(),
            "a is used again: b is now the oldest"
        );
        c.put(loaded("/c", 1));
        assert_eq!(c.len(), 2);
        assert!(c.get(&a.key).is_some());
        assert!(c.get(&loaded("/b", 1).key).is_none());

        let small = Cache::new(10, 1 << 20);
        small.put(loaded("/x", 10_000));
        small.put(loaded("/y", 10_000));
        assert_eq!(
            small.len(),
            1,
            "two entries over the byte bound: the older goes"
        );
        assert!(small.get(&loaded("/y", 1).key).is_some());
    }
}
