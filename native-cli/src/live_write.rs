//! `pcaplens live -w FILE`: the packets the analysis saw, in pcap files
//! rotated as tcpdump's `-C`/`-G`/`-W` do.
//!
//! Names: the first file is FILE, the following ones FILE1, FILE2, … (the
//! number appended to the name, as tcpdump -C does), whatever made it
//! rotate. `-C MB`: a packet that would take the current file past MB
//! million bytes starts the next file (so no file is larger than MB million
//! bytes, unless one packet is). `-G SECS`: the first packet SECS seconds or
//! more (wall clock) after the current file was opened starts the next file
//! (no packet, no new file). `-W N`: a ring of N files: after FILE(N-1)
//! comes FILE again, overwritten. Each file is a complete capture (its own
//! header); without -W every packet is in exactly one file.

use pcaplens_core::capture::writer::PcapWriter;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes of a classic pcap file header and of a record header.
const FILE_HEADER: u64 = 24;
const RECORD_HEADER: u64 = 16;

pub struct Rotation {
    /// `-C`: bytes a file may hold.
    pub max_bytes: Option<u64>,
    /// `-G`: how long a file is written to.
    pub every: Option<Duration>,
    /// `-W`: how many files the ring holds.
    pub files: Option<u32>,
}

struct Current {
    pcap: PcapWriter,
    out: BufWriter<File>,
    bytes: u64,
    opened: Instant,
}

pub struct RotatingPcap {
    base: PathBuf,
    rotation: Rotation,
    snaplen: u32,
    /// Files opened so far (the current one is number `opened - 1`).
    opened: u64,
    current: Option<Current>,
}

/// The `n`th file's name (0: FILE itself; else FILE followed by n).
pub fn file_name(base: &Path, n: u64) -> PathBuf {
    if n == 0 {
        return base.to_path_buf();
    }
    let mut s = base.as_os_str().to_owned();
    s.push(n.to_string());
    PathBuf::from(s)
}

impl RotatingPcap {
    pub fn new(base: &Path, rotation: Rotation, snaplen: u32) -> Self {
        RotatingPcap {
            base: base.to_path_buf(),
            rotation,
            snaplen,
            opened: 0,
            current: None,
        }
    }

    /// Keep one packet (the first one opens the first file).
    pub fn write(&mut self, ts: i64, link: u32, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let record = RECORD_HEADER + data.len().min(self.snaplen as usize) as u64;
        let rotate = match &self.current {
            None => true,
            Some(c) => {
                let packets = c.bytes > FILE_HEADER;
                let too_big = self
                    .rotation
                    .max_bytes
                    .is_some_and(|m| packets && c.bytes + record > m);
                let too_old = self.rotation.every.is_some_and(|g| c.opened.elapsed() >= g);
                too_big || too_old || c.pcap.link_type() != link
            }
        };
        if rotate {
            self.next_file(link)?;
        }
        let c = self.current.as_mut().expect("a file is open");
        c.pcap.write_record(ts.max(0) as u64, orig_len, data);
        c.out.write_all(&c.pcap.take_bytes())?;
        c.bytes += record;
        Ok(())
    }

    fn next_file(&mut self, link: u32) -> io::Result<()> {
        self.flush()?;
        let n = match self.rotation.files {
            Some(w) => self.opened % u64::from(w.max(1)),
            None => self.opened,
        };
        let path = file_name(&self.base, n);
        let f = File::create(&path).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
        })?;
        let mut pcap = PcapWriter::new(link, self.snaplen, true);
        let mut out = BufWriter::new(f);
        out.write_all(&pcap.take_bytes())?;
        self.current = Some(Current {
            pcap,
            out,
            bytes: FILE_HEADER,
            opened: Instant::now(),
        });
        self.opened += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.current {
            Some(c) => c.out.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pcaplens-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn size_rotation_names_files_as_tcpdump_and_keeps_each_under_the_limit() {
        let d = dir("rot-size");
        let base = d.join("out.pcap");
        let rot = Rotation {
            max_bytes: Some(1000),
            every: None,
            files: None,
        };
        let mut w = RotatingPcap::new(&base, rot, 65535);
        for i in 0..25 {
            w.write(i, 1, 100, &[0u8; 100]).unwrap();
        }
        w.flush().unwrap();
        // 24 + 8 × 116 = 952 ≤ 1000: eight packets a file.
        for (n, records) in [(0, 8), (1, 8), (2, 8), (3, 1)] {
            let len = std::fs::metadata(file_name(&base, n)).unwrap().len();
            assert_eq!(len, 24 + records * 116, "file {n}");
        }
        assert!(d.join("out.pcap1").is_file() && !d.join("out.pcap4").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_ring_reuses_its_names() {
        let d = dir("rot-ring");
        let base = d.join("r.pcap");
        let rot = Rotation {
            max_bytes: Some(200),
            every: None,
            files: Some(2),
        };
        let mut w = RotatingPcap::new(&base, rot, 65535);
        for i in 0..5 {
            w.write(i, 1, 100, &[i as u8; 100]).unwrap();
        }
        w.flush().unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["r.pcap", "r.pcap1"]);
        // The fifth packet overwrote the first file.
        let first = std::fs::read(&base).unwrap();
        assert_eq!(first.len(), 24 + 116);
        assert_eq!(first[24 + 16], 4);
        let _ = std::fs::remove_dir_all(&d);
    }
}
