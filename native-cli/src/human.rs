//! The terminal summary: short, aligned, most useful facts first.

use pcaplens_core::Report;
use std::io::{self, Write};

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn human_duration(secs: f64) -> String {
    if secs < 1.0 {
        format!("{:.1} ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.2} s")
    } else if secs < 7200.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{:.1} h", secs / 3600.0)
    }
}

struct Style {
    color: bool,
}

impl Style {
    fn head(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn warn(&self, s: &str) -> String {
        if self.color {
            format!("\x1b[33m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

pub fn print_report(out: &mut impl Write, label: &str, r: &Report, color: bool) -> io::Result<()> {
    let st = Style { color };
    let s = &r.summary;
    writeln!(out, "{}", st.head(&format!("== {label}")))?;
    if let Some(err) = &r.status.error {
        writeln!(
            out,
            "{}",
            st.warn(&format!(
                "PARTIAL: {} (report covers frames 1..{})",
                err.message,
                err.next_frame.saturating_sub(1)
            ))
        )?;
    }
    let fmt = r.capture.format.clone().unwrap_or_else(|| "?".into());
    writeln!(
        out,
        "{:<14}{} packets, {} on the wire, {}",
        "capture",
        s.packets,
        human_bytes(s.bytes),
        fmt
    )?;
    if let (Some(a), Some(b)) = (&s.start_time, &s.end_time) {
        writeln!(
            out,
            "{:<14}{} → {} ({})",
            "time",
            a,
            b,
            human_duration(s.duration_secs)
        )?;
    }
    let links: Vec<String> = s
        .link_types
        .iter()
        .map(|l| {
            format!(
                "{} ({}){}",
                l.name,
                l.frames,
                if l.decoded { "" } else { " not decoded" }
            )
        })
        .collect();
    writeln!(out, "{:<14}{}", "link types", links.join(", "))?;
    let mut notes = Vec::new();
    if s.undecoded_frames > 0 {
        notes.push(format!(
            "{} frames of undecoded link types",
            s.undecoded_frames
        ));
    }
    if s.malformed_frames > 0 {
        notes.push(format!("{} malformed frames", s.malformed_frames));
    }
    if s.snaplen_truncated_frames > 0 {
        notes.push(format!(
            "{} frames cut by the snap length",
            s.snaplen_truncated_frames
        ));
    }
    if s.out_of_order_timestamps > 0 {
        notes.push(format!(
            "{} timestamps going backwards",
            s.out_of_order_timestamps
        ));
    }
    if s.ip_fragments > 0 {
        notes.push(format!("{} IP fragments", s.ip_fragments));
    }
    if !notes.is_empty() {
        writeln!(out, "{:<14}{}", "notes", st.warn(&notes.join("; ")))?;
    }
    let f = &s.flows;
    let by_t: Vec<String> = f
        .by_transport
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(out, "{:<14}{} ({})", "flows", f.total, by_t.join(", "))?;
    let mut states: Vec<(&String, &u64)> = f.by_state.iter().collect();
    states.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let states: Vec<String> = states.iter().map(|(k, v)| format!("{k} {v}")).collect();
    writeln!(out, "{:<14}{}", "flow states", states.join(", "))?;

    writeln!(out, "\n{}", st.head("Protocols"))?;
    for p in s.protocol_hierarchy.iter().take(24) {
        let pct = if s.packets > 0 {
            p.frames as f64 * 100.0 / s.packets as f64
        } else {
            0.0
        };
        writeln!(
            out,
            "  {:indent$}{:<12} {:>9} frames {:>6.1}%  {:>10}",
            "",
            p.protocol,
            p.frames,
            pct,
            human_bytes(p.bytes),
            indent = p.depth as usize * 2
        )?;
    }
    if !s.top_talkers.is_empty() {
        writeln!(out, "\n{}", st.head("Top talkers"))?;
        writeln!(
            out,
            "  {:<40} {:>10} {:>10}  mostly",
            "address", "sent", "received"
        )?;
        for t in &s.top_talkers {
            writeln!(
                out,
                "  {:<40} {:>10} {:>10}  {}",
                t.addr,
                human_bytes(t.bytes_sent),
                human_bytes(t.bytes_received),
                t.main_service
            )?;
        }
    }
    if !s.top_conversations.is_empty() {
        writeln!(out, "\n{}", st.head("Top conversations"))?;
        for c in &s.top_conversations {
            writeln!(
                out,
                "  {:<6} {:<24} → {:<24} {:<8} {:>8} pkts {:>10}  {}",
                c.transport,
                c.orig,
                c.resp,
                c.service,
                c.packets,
                human_bytes(c.bytes),
                c.conn_state
            )?;
        }
    }
    writeln!(out)?;
    Ok(())
}
