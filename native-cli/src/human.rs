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
    print_quality(out, &st, r)?;
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
        let r = &s.ip_reassembly;
        if r.datagrams_reassembled > 0 {
            notes.push(format!(
                "{} IP fragments ({} datagrams reassembled)",
                s.ip_fragments, r.datagrams_reassembled
            ));
        } else {
            notes.push(format!("{} IP fragments", s.ip_fragments));
        }
        let incomplete = r.fragments_incomplete + r.fragments_dropped;
        if incomplete > 0 {
            notes.push(format!("{incomplete} fragments never completed a datagram"));
        }
    }
    if !notes.is_empty() {
        writeln!(out, "{:<14}{}", "notes", st.warn(&notes.join("; ")))?;
    }
    // A merged report leaves the flow, detector and anomaly sections empty:
    // say so instead of printing zero flows and no failures.
    if let Some(m) = r.merge.as_ref().filter(|m| !m.not_mergeable.is_empty()) {
        writeln!(
            out,
            "{:<14}{}",
            "merged",
            st.warn(&format!(
                "{} pieces; not merged yet, so left out: {}",
                m.pieces,
                m.not_mergeable.join(", ")
            ))
        )?;
    } else {
        print_flows_and_findings(out, &st, r)?;
    }

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

/// The quality verdict leads: it says how far everything below can be trusted.
fn print_quality(out: &mut impl Write, st: &Style, r: &Report) -> io::Result<()> {
    let q = &r.quality;
    let verdict = if q.verdict == "good" {
        q.verdict.clone()
    } else {
        st.warn(&q.verdict.to_uppercase())
    };
    writeln!(out, "{:<14}{}", "quality", verdict)?;
    for reason in &q.reasons {
        writeln!(out, "{:<14}- {}", "", reason)?;
    }
    Ok(())
}

/// Failure classes reaching the terminal: every `{total, instances}` pair of
/// the failures section, found generically so new detectors show up without
/// edits here. Informational TCP flags are left out.
fn failure_classes(r: &Report) -> Vec<(String, u64, Vec<serde_json::Value>)> {
    const QUIET: &[&str] = &[
        "tcp.window_update",
        "tcp.keep_alive",
        "tcp.keep_alive_ack",
        "tcp.zero_window_probe_ack",
    ];
    fn walk(
        v: &serde_json::Value,
        path: &str,
        out: &mut Vec<(String, u64, Vec<serde_json::Value>)>,
    ) {
        let serde_json::Value::Object(m) = v else {
            return;
        };
        if let (Some(t), Some(serde_json::Value::Array(inst))) =
            (m.get("total").and_then(|t| t.as_u64()), m.get("instances"))
        {
            out.push((path.to_string(), t, inst.clone()));
            return;
        }
        for (k, x) in m {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            walk(x, &p, out);
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(&r.failures) {
        walk(&v, "", &mut out);
    }
    out.retain(|(p, t, _)| *t > 0 && !QUIET.contains(&p.as_str()));
    // Worst first: most events, then name.
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// One line for an instance: its frame and the fields that say who and what.
fn instance_line(v: &serde_json::Value) -> String {
    let frame = v
        .get("frame")
        .or_else(|| v.get("evidence").and_then(|e| e.get("frame")))
        .or_else(|| {
            v.get("evidence")
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("frame"))
        })
        .and_then(|f| f.as_u64());
    let mut parts = Vec::new();
    for key in [
        "src",
        "dst",
        "client",
        "server",
        "query",
        "name",
        "host",
        "method",
        "uri",
        "status",
        "rcode",
        "sni",
        "alert",
        "description",
        "side",
        "phase",
    ] {
        match v.get(key) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => parts.push(s.clone()),
            Some(serde_json::Value::Number(n)) => parts.push(format!("{key} {n}")),
            _ => {}
        }
    }
    let who = match (v.get("src"), v.get("dst")) {
        (Some(_), Some(_)) if parts.len() >= 2 => {
            let rest = parts.split_off(2);
            let mut s = format!("{} → {}", parts[0], parts[1]);
            if !rest.is_empty() {
                s.push_str(&format!(" ({})", rest.join(", ")));
            }
            s
        }
        _ => parts.join(", "),
    };
    match frame {
        Some(f) => format!("frame {f}: {who}"),
        None => who,
    }
}

/// The flow counts, failures, findings and anomalies of a report.
fn print_flows_and_findings(out: &mut impl Write, st: &Style, r: &Report) -> io::Result<()> {
    let f = &r.summary.flows;
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
    print_failures(out, st, r)?;
    print_findings(out, st, r)?;
    print_anomalies(out, st, r)?;
    Ok(())
}

fn print_failures(out: &mut impl Write, st: &Style, r: &Report) -> io::Result<()> {
    let classes = failure_classes(r);
    if classes.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n{}", st.head("What went wrong"))?;
    for (name, total, inst) in classes.iter().take(10) {
        writeln!(out, "  {:<38} {:>8}", name, total)?;
        for i in inst.iter().take(3) {
            writeln!(out, "      {}", instance_line(i))?;
        }
    }
    if classes.len() > 10 {
        writeln!(out, "  … {} more classes (see --json)", classes.len() - 10)?;
    }
    Ok(())
}

fn frames(ev: &[pcaplens_core::detect::Evidence]) -> String {
    let v: Vec<String> = ev.iter().take(3).map(|e| e.frame.to_string()).collect();
    if v.is_empty() {
        String::new()
    } else {
        format!(" (frames {})", v.join(", "))
    }
}

fn print_findings(out: &mut impl Write, st: &Style, r: &Report) -> io::Result<()> {
    let f = &r.findings;
    let any = f.scans.total
        + f.blocklist.total_hits
        + f.unusual_ports.total_flows
        + f.long_lived.total
        + f.protocol_mismatch.total_flows;
    if any == 0 {
        return Ok(());
    }
    writeln!(out, "\n{}", st.head("Findings"))?;
    for s in f.scans.scans.iter().take(10) {
        let what = match s.pattern.as_str() {
            "vertical" => format!("{} ports of {}", s.port_count, s.targets.join(", ")),
            "horizontal" => format!(
                "port {} on {} hosts",
                s.ports.first().copied().unwrap_or(0),
                s.target_count
            ),
            _ => format!("{} hosts", s.target_count),
        };
        let open = if s.open_ports.is_empty() {
            String::new()
        } else {
            let p: Vec<String> = s.open_ports.iter().take(12).map(u16::to_string).collect();
            format!(", open: {}", p.join(" "))
        };
        writeln!(
            out,
            "  {} {} scan ({}) by {}: {}{} in {}{}",
            st.warn("scan"),
            s.pattern.replace('_', " "),
            s.scan_types.join("/"),
            s.scanner,
            what,
            open,
            human_duration(s.duration_secs),
            frames(&s.evidence)
        )?;
    }
    for h in f.blocklist.hits.iter().take(10) {
        writeln!(
            out,
            "  {} {} in {} ({}×, entry {} from {}){}",
            st.warn("blocklisted"),
            h.value,
            h.matched_in,
            h.count,
            h.indicator,
            h.indicator_source,
            frames(&h.evidence)
        )?;
    }
    for m in f.protocol_mismatch.servers.iter().take(10) {
        writeln!(
            out,
            "  mismatch {} {} (content: {}), {} flows{}",
            m.kind,
            m.server,
            m.detected,
            m.flows,
            frames(&m.evidence)
        )?;
    }
    for p in f.unusual_ports.servers.iter().take(10) {
        writeln!(
            out,
            "  unusual port {} {} ({}), {} flows from {} clients{}",
            p.transport,
            p.server,
            if p.services.is_empty() {
                "unknown".to_string()
            } else {
                p.services.join(",")
            },
            p.flows,
            p.clients,
            frames(&p.evidence)
        )?;
    }
    for l in f.long_lived.flows.iter().take(10) {
        writeln!(
            out,
            "  long-lived {} {} → {} {} ({} pkts) (frame {})",
            l.transport,
            l.orig,
            l.resp,
            human_duration(l.duration_secs),
            l.packets,
            l.first_frame
        )?;
    }
    Ok(())
}

/// The five most anomalous flows with the feature that sets each apart most.
fn print_anomalies(out: &mut impl Write, st: &Style, r: &Report) -> io::Result<()> {
    let a = &r.anomalies;
    if !a.enabled || a.top_flows.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\n{}",
        st.head(&format!(
            "Anomalies (Isolation Forest over {} flows, median score {:.2})",
            a.flows_scored, a.median_score
        ))
    )?;
    for f in a.top_flows.iter().take(5) {
        let why = f
            .explanation
            .first()
            .map(|e| match &e.category {
                Some(c) => format!("{} = {c}", e.feature),
                None => format!(
                    "{} {} {} (typical {})",
                    e.feature,
                    fmt_num(e.value),
                    e.unit,
                    fmt_num(e.typical)
                ),
            })
            .unwrap_or_default();
        writeln!(
            out,
            "  {:.3}  {:<6} {} → {}  {}  (frame {})",
            f.score, f.transport, f.orig, f.resp, why, f.first_frame
        )?;
    }
    Ok(())
}

/// Three significant digits for small values, whole numbers for large ones.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        let decimals = (2.0 - a.log10().floor()).clamp(2.0, 9.0) as usize;
        format!("{v:.decimals$}")
    }
}
