//! `pcaplens live` and its files, over a replayed capture (`-r`, no root):
//! `-w` rotated by size (`-C`) and by time (`-G`), the ring (`-W`), the
//! rotating `--log-file`, and SIGHUP (alert and log files reopened, the
//! blocklists reloaded).

use pcaplens_core::capture::writer::{PcapWriter, LINKTYPE_ETHERNET};
use pcaplens_tests::{pcaplens_bin, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An Ethernet/IPv4/UDP frame from 10.0.0.1:`sport` to `dst`:5000.
/// (`sport` from the ephemeral range, so the flows' direction is clear.)
fn udp_frame(dst: [u8; 4], sport: u16) -> Vec<u8> {
    let payload = [0x42u8; 32];
    let udp_len = 8 + payload.len();
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1];
    ip.extend_from_slice(&dst);
    let total = (20 + udp_len) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&5000u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// A capture of one-packet UDP flows, `step_ms` apart; `dst(i)` picks the
/// i-th packet's destination.
fn slow_capture(path: &Path, packets: u32, step_ms: u64, dst: impl Fn(u32) -> [u8; 4]) {
    let mut w = PcapWriter::new(LINKTYPE_ETHERNET, 65535, true);
    let t0 = 1_700_000_000u64 * 1_000_000_000;
    for i in 0..packets {
        let f = udp_frame(dst(i), 50000 + i as u16);
        w.write_record(t0 + i as u64 * step_ms * 1_000_000, f.len() as u32, &f);
    }
    std::fs::write(path, w.into_bytes()).unwrap();
}

fn analyze_json(path: &Path) -> Value {
    let out = Command::new(pcaplens_bin())
        .args(["analyze", "--json"])
        .arg(path)
        .output()
        .expect("run pcaplens analyze");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("analyze --json {}: {e}", path.display()))
}

/// `pcaplens live` with `args`; the JSON report.
fn live_json(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(pcaplens_bin())
        .current_dir(dir)
        .arg("live")
        .args(args)
        .arg("--json")
        .output()
        .expect("run pcaplens live");
    assert_eq!(
        out.status.code(),
        Some(0),
        "live {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("live --json")
}

/// `-w` files in `dir` named BASE, BASE1, BASE2, … in order (checks there is
/// no gap in the numbers).
fn written(dir: &Path, base: &str) -> Vec<PathBuf> {
    let mut numbers: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let rest = name.strip_prefix(base)?;
            if rest.is_empty() {
                Some(0)
            } else {
                rest.parse().ok()
            }
        })
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (0..numbers.len() as u64).collect::<Vec<_>>(),
        "{base}: file numbers"
    );
    numbers
        .iter()
        .map(|&n| {
            if n == 0 {
                dir.join(base)
            } else {
                dir.join(format!("{base}{n}"))
            }
        })
        .collect()
}

/// Every file a complete capture; returns the packets of all of them.
fn packets_in(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .map(|f| {
            let r = analyze_json(f);
            assert_eq!(
                r["status"]["complete"],
                true,
                "{}: {}",
                f.display(),
                r["status"]
            );
            r["summary"]["packets"].as_u64().unwrap()
        })
        .sum()
}

#[test]
fn live_write_rotates_by_size_as_tcpdump_c() {
    let dir = temp_dir("live-rot-size");
    let st = Command::new(pcaplens_bin())
        .current_dir(&dir)
        .args(["generate", "--scenario", "mixed", "--packets", "8000"])
        .args(["-o", "x.pcap"])
        .status()
        .unwrap();
    assert!(st.success());
    let size = std::fs::metadata(dir.join("x.pcap")).unwrap().len();
    assert!(size > 3_000_000, "capture of {size} bytes");
    let report = live_json(&dir, &["-r", "x.pcap", "-w", "out.pcap", "-C", "1"]);
    let files = written(&dir, "out.pcap");
    assert!(files.len() >= 3, "{files:?}");
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len <= 1_000_000, "{}: {len} bytes", f.display());
    }
    // Every packet the analysis saw, in exactly one file.
    assert_eq!(
        Some(packets_in(&files)),
        report["summary"]["packets"].as_u64()
    );
    assert_eq!(
        report["summary"]["packets"],
        report["live"]["packets_analysed"]
    );

    // A ring of two: FILE and FILE1 only.
    let ring = dir.join("ring");
    std::fs::create_dir(&ring).unwrap();
    live_json(
        &ring,
        &["-r", "../x.pcap", "-w", "r.pcap", "-C", "1", "-W", "2"],
    );
    assert_eq!(written(&ring, "r.pcap").len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_write_rotates_by_time_as_tcpdump_g() {
    let dir = temp_dir("live-rot-time");
    // 8 packets over 3.5 s.
    slow_capture(&dir.join("slow.pcap"), 8, 500, |_| [10, 0, 0, 2]);
    let report = live_json(
        &dir,
        &["-r", "slow.pcap", "--realtime", "-w", "t.pcap", "-G", "1"],
    );
    assert_eq!(report["summary"]["packets"], 8);
    let files = written(&dir, "t.pcap");
    assert!(files.len() >= 2, "{files:?}");
    assert_eq!(packets_in(&files), 8, "{files:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn live_log_file_gets_the_console_log_timestamped_and_rotated() {
    let dir = temp_dir("live-log");
    // 11 packets over 5 s: four or five status lines at --interval 1.
    slow_capture(&dir.join("slow.pcap"), 11, 500, |_| [10, 0, 0, 2]);
    let out = Command::new(pcaplens_bin())
        .current_dir(&dir)
        .args(["live", "-r", "slow.pcap", "--realtime", "--status"])
        .args(["--interval", "1", "--log-file", "l.log"])
        .args(["--log-max-bytes", "300", "--log-keep", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let status_lines = stderr.lines().filter(|l| l.contains("live flows")).count();
    assert!(status_lines >= 3, "{stderr}");
    // Each status line (~230 bytes with its timestamp) fills a file: FILE and
    // one old file are kept, the older ones are gone.
    assert!(dir.join("l.log.1").is_file(), "no l.log.1");
    assert!(!dir.join("l.log.2").exists(), "l.log.2 past --log-keep 1");
    for name in ["l.log", "l.log.1"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(!text.is_empty(), "{name} is empty");
        assert!(text.len() <= 300, "{name}: {} bytes", text.len());
        for line in text.lines() {
            let (stamp, msg) = line.split_once(' ').unwrap();
            // RFC 3339 UTC: 2024-01-02T03:04:05.678Z
            assert!(
                stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
                "{name}: {line}"
            );
            assert!(stderr.contains(msg), "{name}: {msg} not on stderr");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn lines_of(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("an EVE line"))
        .collect()
}

/// Blocklist alerts (signatures 9000010..=9000019): the far end of each
/// (the address that is not the capture's client 10.0.0.1; which end is
/// `src_ip` follows the flow's direction, a guess for one-packet UDP flows).
fn blocklist_alerts(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| {
            l["event_type"] == "alert"
                && l["alert"]["signature_id"]
                    .as_u64()
                    .is_some_and(|s| (9_000_010..=9_000_019).contains(&s))
        })
        .map(|l| {
            let far = if l["src_ip"] == "10.0.0.1" {
                "dest_ip"
            } else {
                "src_ip"
            };
            l[far].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -{sig} {pid}");
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn live_sighup_reopens_the_alert_and_log_files_and_reloads_the_blocklist() {
    let dir = temp_dir("live-hup");
    // A packet every 100 ms for 60 s: new flows to 10.0.0.2 for the first
    // 4 s, then to 10.9.9.9.
    slow_capture(&dir.join("slow.pcap"), 600, 100, |i| {
        if i < 40 {
            [10, 0, 0, 2]
        } else {
            [10, 9, 9, 9]
        }
    });
    std::fs::write(dir.join("bl.txt"), "10.0.0.2\n").unwrap();
    let child = Command::new(pcaplens_bin())
        .current_dir(&dir)
        .args(["live", "-r", "slow.pcap", "--realtime", "--json"])
        .args(["--alerts", "a.json", "--blocklist", "bl.txt"])
        .args(["--log-file", "l.log"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (a, old) = (dir.join("a.json"), dir.join("a.json.old"));
    wait_for("the first alert", Duration::from_secs(10), || {
        !blocklist_alerts(&lines_of(&a)).is_empty()
    });
    // logrotate: move the files away, then SIGHUP.
    std::fs::rename(&a, &old).unwrap();
    std::fs::rename(dir.join("l.log"), dir.join("l.log.old")).unwrap();
    std::fs::write(dir.join("bl.txt"), "# reloaded\n10.9.9.9\n").unwrap();
    signal(pid, "HUP");
    wait_for(
        "an alert for the reloaded entry in the new a.json",
        Duration::from_secs(20),
        || blocklist_alerts(&lines_of(&a)).contains(&"10.9.9.9".to_string()),
    );
    signal(pid, "INT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    let before = blocklist_alerts(&lines_of(&old));
    let after = blocklist_alerts(&lines_of(&a));
    assert!(
        !before.is_empty() && before.iter().all(|d| d == "10.0.0.2"),
        "{before:?}"
    );
    assert!(after.iter().all(|d| d == "10.9.9.9"), "{after:?}");
    // The report holds both, the list in force at the end has one entry.
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = &report["findings"]["blocklist"];
    assert_eq!(b["entries"], 1, "{b}");
    assert_eq!(
        b["total_hits"].as_u64(),
        Some((before.len() + after.len()) as u64),
        "{b}"
    );
    // The log file was created anew and says what SIGHUP did.
    let log = std::fs::read_to_string(dir.join("l.log")).unwrap();
    assert!(
        log.contains("SIGHUP") && log.contains("blocklist (1 entries)"),
        "{log}"
    );
    assert!(stderr.contains("SIGHUP"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
