//! The console log of `pcaplens live`: every line goes to stderr and, with
//! `--log-file FILE`, to FILE with an RFC 3339 UTC timestamp in front.
//! FILE is rotated when a line would take it past `--log-max-bytes`:
//! FILE → FILE.1 → FILE.2 … up to `--log-keep` old files (the oldest is
//! removed). [`reopen`] (on SIGHUP) opens FILE again at its path, so a file
//! moved away by logrotate is created anew.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The log file with its rotation.
pub struct RotatingLog {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
    /// Bytes in the current file.
    size: u64,
}

impl RotatingLog {
    /// Open (append to) `path`.
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<Self> {
        let (file, size) = open_append(path)?;
        Ok(RotatingLog {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep,
            file,
            size,
        })
    }

    /// Write one line (a newline is added).
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    /// FILE → FILE.1 → … → FILE.keep (dropped past it), then a new FILE.
    fn rotate(&mut self) -> io::Result<()> {
        let old = |n: u32| {
            let mut s = self.path.clone().into_os_string();
            s.push(format!(".{n}"));
            PathBuf::from(s)
        };
        if self.keep == 0 {
            self.file = File::create(&self.path)?;
            self.size = 0;
            return Ok(());
        }
        let _ = std::fs::remove_file(old(self.keep));
        for n in (1..self.keep).rev() {
            match std::fs::rename(old(n), old(n + 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        std::fs::rename(&self.path, old(1))?;
        self.reopen()
    }

    /// Open FILE again at its path (created when it was moved away).
    pub fn reopen(&mut self) -> io::Result<()> {
        let (file, size) = open_append(&self.path)?;
        self.file = file;
        self.size = size;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

static LOG: Mutex<Option<RotatingLog>> = Mutex::new(None);

/// Send the log to `log` too (besides stderr).
pub fn set_file(log: RotatingLog) {
    *LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(log);
}

/// One line: on stderr, and timestamped in the log file if there is one. A
/// log file that cannot be written is reported on stderr once and dropped.
pub fn line(text: &str) {
    eprintln!("{text}");
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(log) = guard.as_mut() {
        let stamped = format!("{} {text}", now_rfc3339());
        if let Err(e) = log.write_line(&stamped) {
            eprintln!(
                "pcaplens live: cannot write the log file {}: {e}; logging to stderr only",
                log.path.display()
            );
            *guard = None;
        }
    }
}

/// Reopen the log file at its path (SIGHUP). Returns the path, or the error.
pub fn reopen() -> Option<io::Result<PathBuf>> {
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    let log = guard.as_mut()?;
    Some(log.reopen().map(|()| log.path.clone()))
}

/// RFC 3339 UTC, milliseconds.
fn now_rfc3339() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let full = pcaplens_core::time::rfc3339(nanos);
    // "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" → milliseconds.
    match full.find('.') {
        Some(dot) if full.len() >= dot + 4 => format!("{}Z", &full[..dot + 4]),
        _ => full,
    }
}

/// `log!(...)`: a formatted line through [`line`].
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::live_log::line(&format!($($arg)*))
    };
}
pub(crate) use log;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_keeps_at_most_keep_old_files() {
        let dir = std::env::temp_dir().join(format!("pcaplens-live-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l.log");
        let mut log = RotatingLog::open(&path, 25, 2).unwrap();
        for i in 0..10 {
            log.write_line(&format!("line number {i:02}")).unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["l.log", "l.log.1", "l.log.2"]);
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
        assert_eq!(read("l.log"), "line number 09\n");
        assert_eq!(read("l.log.1"), "line number 08\n");
        assert_eq!(read("l.log.2"), "line number 07\n");
        // Moved away: reopen creates it anew.
        std::fs::rename(&path, dir.join("moved")).unwrap();
        log.reopen().unwrap();
        log.write_line("after").unwrap();
        assert_eq!(read("l.log"), "after\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
