// The page: takes a file, hands it to the analysis worker, renders the report.
// Every number shown comes from the report the wasm core produced; this file
// only formats and lays it out.

const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat("en-US");
const compact = new Intl.NumberFormat("en-US", { notation: "compact" });
const FLOW_PAGE = 50;
const SAMPLE = { scenario: "mixed", options: { packets: 20000, seed: 7 } };

let worker = null;
let capabilities = { sanitize: false };
let current = null; // { file, report, json }
let charts = [];
let flowView = { rows: [], sortKey: "id", sortDir: 1, page: 0 };

// ---------- worker lifecycle ----------

function startWorker() {
  worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.onmessage = onWorkerMessage;
  worker.onerror = (e) => showError(`The analyzer stopped unexpectedly: ${e.message || "unknown error"}`);
}

function onWorkerMessage(ev) {
  const msg = ev.data;
  switch (msg.type) {
    case "ready":
      capabilities = msg;
      $("version").textContent = msg.version;
      $("engine-status").textContent = "Analyzer ready (WebAssembly).";
      break;
    case "progress":
      showProgress(msg);
      break;
    case "result":
      onResult(msg);
      break;
    case "sample": {
      const name = `sample-${msg.scenario}.pcap`;
      $("engine-status").textContent = "Analyzer ready (WebAssembly).";
      analyze(new File([msg.bytes], name, { type: "application/vnd.tcpdump.pcap" }));
      break;
    }
    case "flowPackets":
      showFlowPackets(msg.communityId, msg.result);
      break;
    case "csv":
      download(`${baseName(current.file.name)}.flows.csv`, msg.text, "text/csv");
      break;
    case "sanitized": {
      const ext = msg.summary.format === "pcapng" || /\.pcapng$/i.test(msg.name) ? "pcapng" : "pcap";
      download(`${baseName(msg.name)}.sanitized.${ext}`, msg.blob, "application/vnd.tcpdump.pcap");
      $("download-sanitized").disabled = false;
      const ids = msg.summary.distinct_identifiers;
      $("sanitize-note").textContent = `Sanitized ${nf.format(msg.summary.counters.frames)} frames: ` +
        Object.entries(ids).filter(([, n]) => n).map(([k, n]) => `${nf.format(n)} ${humanize(k)}`).join(", ") +
        " replaced by keyed pseudonyms (random key for this session, never stored).";
      if (msg.summary.error) showWarning(`The sanitized capture stops where the input is damaged: ${msg.summary.error.message}.`);
      break;
    }
    case "fatal":
      $("progress").hidden = true;
      $("download-sanitized").disabled = false;
      showError(msg.message);
      break;
  }
}

function analyze(file) {
  clearMessages();
  $("results").hidden = true;
  current = { file };
  $("progress").hidden = false;
  $("progress-name").textContent = file.name;
  $("progress-bar").style.width = "0%";
  $("progress-text").textContent = `Reading ${fmtBytes(file.size)}…`;
  worker.postMessage({ type: "analyze", file });
}

function showProgress(p) {
  const pct = p.total > 0 ? (100 * p.bytes) / p.total : 100;
  $("progress-bar").style.width = `${pct.toFixed(1)}%`;
  const secs = p.elapsedMs / 1000;
  const rate = secs > 0 ? p.bytes / 1e6 / secs : 0;
  $("progress-text").textContent =
    `${pct.toFixed(0)}% · ${fmtBytes(p.bytes)} of ${fmtBytes(p.total)} · ` +
    `${nf.format(p.packets)} packets · ${rate.toFixed(0)} MB/s`;
}

function onResult(msg) {
  $("progress").hidden = true;
  const report = JSON.parse(msg.json);
  const err = report.status.error;
  if (err && err.code === "not_a_capture") {
    showError(`“${msg.name}” is not a packet capture. pcaplens reads pcap and pcapng files ` +
      `(as written by Wireshark, tcpdump, dumpcap). Details: ${err.message}.`);
    return;
  }
  current = { file: current.file, report, json: msg.json, secs: msg.elapsedMs / 1000, evidence: msg.evidence, diagnosis: msg.diagnosis };
  showEvidence(msg);
  if (err) {
    showWarning(`This capture is damaged or cut short: ${err.message}. ` +
      `The results below cover the ${nf.format(report.summary.packets)} frames before frame ` +
      `${nf.format(err.next_frame)} (partial).`);
  }
  const secs = msg.elapsedMs / 1000;
  render(report, msg.name, msg.size, secs, msg.diagnosis);
}

// ---------- LLM summary ----------

/** The evidence pack's size and coverage next to its button (the numbers are the core's). */
function showEvidence(msg) {
  const button = $("copy-llm");
  const note = $("llm-note");
  $("llm-fallback").hidden = true;
  button.textContent = "Copy LLM summary";
  if (!msg.evidence) {
    button.disabled = true;
    note.textContent = msg.evidenceError ? `LLM summary unavailable: ${msg.evidenceError}` : "";
    return;
  }
  const e = msg.evidence;
  button.disabled = false;
  // The page counts one token per byte (an upper bound for every model's tokenizer), hence "≤".
  note.textContent = `≤ ${nf.format(e.tokens)} tokens (budget ${nf.format(e.tokenBudget)})` +
    `${e.sanitized ? " · pseudonymized" : ""} · ${e.coverage}`;
  note.title = "Token count: one per byte of the prompt, an upper bound for GPT, Llama and other byte-level tokenizers.";
}

async function copyEvidence() {
  const text = current && current.evidence && current.evidence.prompt;
  if (!text) return;
  const button = $("copy-llm");
  try {
    if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error("no clipboard API");
    await navigator.clipboard.writeText(text);
    $("llm-fallback").hidden = true;
    button.textContent = "Copied ✓";
    setTimeout(() => { button.textContent = "Copy LLM summary"; }, 2000);
  } catch {
    // Insecure context, denied permission, or no API: show the text selected for a manual copy.
    const area = $("llm-text");
    area.value = text;
    $("llm-fallback").hidden = false;
    area.focus();
    area.select();
    area.scrollTop = 0; // select() scrolls to the end; the prompt reads from the top
  }
}

// ---------- rendering ----------

function render(r, name, size, secs, diagnosis) {
  $("results").hidden = false;
  $("result-title").textContent = name;
  const cap = r.capture;
  timeOrigin = r.summary.start_ts ?? null;
  evidenceIndex = indexEvidence(r);
  const meta = $("result-meta");
  meta.replaceChildren(...[
    cap.format ? `${cap.format}${cap.format === "pcapng" ? `, ${cap.interfaces} interface(s)` : ""}` : null,
    fmtBytes(size),
    r.summary.start_ts != null ? absTime(r.summary.start_ts) : null,
    r.summary.start_ts != null ? `${fmtDuration(r.summary.duration_secs)} long` : null,
    `analysed in ${secs.toFixed(2)} s (${(size / 1e6 / Math.max(secs, 1e-3)).toFixed(0)} MB/s)`,
  ].filter(Boolean).flatMap((x, i) => (i ? [" · ", x] : [x])));
  $("download-sanitized").hidden = !capabilities.sanitize;
  $("sanitize-note").textContent = "";

  for (const c of charts) c.destroy();
  charts = [];
  renderDiagnosis(diagnosis);
  renderCards(r);
  guarded("quality", () => renderQuality(r.quality));
  renderProtocols(r.summary.protocol_hierarchy);
  renderTimeline(r, diagnosis);
  renderTalkers(r.summary.top_talkers);
  renderFailures(r.failures);
  guarded("findings", () => renderFindings(r.findings));
  guarded("anomalies", () => renderAnomalies(r.anomalies));
  setupFlows(r);
  showFlowFromHash();
}

/** Sections newer reports add are drawn from their shape; one that cannot be drawn must not take the page down. */
function guarded(id, draw) {
  try {
    draw();
  } catch (e) {
    const box = $(id);
    box.hidden = false;
    box.replaceChildren(h("h2", {}, humanize(id)), h("div", { class: "muted" }, `This section could not be displayed (${e.message}); it is in the JSON report.`));
  }
}

function failureTotal(failures) {
  let total = 0;
  for (const cls of Object.values(failures || {})) {
    for (const kind of counted(cls)) total += kind[1].total;
  }
  return total;
}

/** The counted sub-classes (`{total, instances}`) of one failure class. */
function counted(cls) {
  if (!cls || typeof cls !== "object") return [];
  return Object.entries(cls).filter(
    ([, v]) => v && typeof v === "object" && typeof v.total === "number" && Array.isArray(v.instances));
}

// ---------- diagnosis ----------

/**
 * The core's ranked diagnosis, as `pcaplens ask --offline --no-sanitize` prints it: the
 * sentences, counts and evidence are the core's; this only lays them out and links them.
 */
function renderDiagnosis(d) {
  const list = $("diagnosis-list");
  list.replaceChildren();
  const box = $("diagnosis");
  if (!d) {
    $("diagnosis-count").textContent = "";
    $("diagnosis-coverage").textContent = "The diagnosis is not available in this build of the analyzer.";
    return;
  }
  const items = d.diagnoses;
  box.dataset.items = String(items.length);
  $("diagnosis-count").textContent = items.length ? `${items.length} likely cause${items.length > 1 ? "s" : ""}` : "nothing stands out";
  $("diagnosis-count").className = `pill ${items.length ? "bad" : "good"}`;
  const c = d.coverage;
  $("diagnosis-coverage").textContent = items.length
    ? `These explain ${nf.format(c.failures_covered)} of ${nf.format(c.failures_total)} failure events and involve ${nf.format(c.flows_covered)} of ${nf.format(c.flows_total)} flows. Most likely first.`
    : `No rule found a likely cause: no failure pattern stands out (${nf.format(c.failures_total)} failure events, ${nf.format(c.flows_total)} flows).`;
  for (const it of items) {
    const facts = [
      `${nf.format(it.count)} events`,
      it.flows ? `${nf.format(it.flows)} flow${it.flows > 1 ? "s" : ""}` : null,
      it.share != null ? `${(it.share * 100).toFixed(0)}% of its traffic` : null,
    ].filter(Boolean).join(" · ");
    // The failure events that are part of this cause (the core's count: a scan's provoked resets).
    const explains = Object.entries(it.explains || {});
    const explained = explains.length ? h("div", { class: "diag-explains small", "data-explains": String(explains.reduce((a, [, n]) => a + n, 0)) },
      "Includes ", explains.map(([k, n]) => `${nf.format(n)} ${humanize(k.split(".").pop())}`).join(" and "),
      " it provoked: counted here, not as faults of their own.") : "";
    const frames = it.frames.map((f) => frameLink(f));
    const flows = it.community_ids.map((cid) => flowLink(cid, shortCid(cid)));
    list.append(h("li", { class: "diag", id: `diag-${it.rank}`, "data-rule": it.rule, "data-rank": String(it.rank) },
      h("div", { class: "diag-summary" }, ...summaryParts(it.summary)),
      h("div", { class: "diag-facts muted small" }, h("span", { class: `tag ${ruleTone(it.rule)}` }, humanize(it.rule)), " ", facts),
      explained,
      h("div", { class: "diag-evidence small" },
        frames.length ? h("span", {}, "frames ", ...frames) : "",
        flows.length ? h("span", {}, " conversations ", ...flows.flatMap((a, i) => (i ? [", ", a] : [a]))) : "")));
  }
}

function ruleTone(rule) {
  return /scan|blocklist/.test(rule) ? "sec" : "";
}

/** The core's sentence, with its quoted wire strings (⟦wire "…"⟧) shown as quoted text. */
function summaryParts(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(/⟦wire ("(?:[^"\\]|\\.)*")⟧/g)) {
    out.push(text.slice(last, m.index));
    let wire;
    try { wire = JSON.parse(m[1]); } catch { wire = m[1]; }
    out.push(h("q", { class: "wire", title: "text captured from the network" }, wire));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

// ---------- cards and quality ----------

function renderCards(r) {
  const s = r.summary;
  const failures = failureTotal(r.failures);
  const cards = [
    { metric: "packets", label: "Packets", value: s.packets, text: nf.format(s.packets),
      sub: `${fmtBytes(s.bytes)} on the wire` },
    { metric: "duration", label: "Duration", value: s.duration_secs, text: fmtDuration(s.duration_secs),
      sub: s.packets > 1 && s.duration_secs > 0 ? `${nf.format(Math.round(s.packets / s.duration_secs))} packets/s` : "" },
    { metric: "flows", label: "Flows", value: s.flows.total, text: nf.format(s.flows.total),
      sub: Object.entries(s.flows.by_transport).map(([k, v]) => `${k} ${nf.format(v)}`).join(" · ") },
    // Raw event counts, not a verdict: a port scan alone provokes thousands of resets. The diagnosis above weighs them.
    { metric: "failures", label: "Failure events", value: failures, text: nf.format(failures),
      sub: !failures ? "none detected"
        : explainedTotal() ? `${nf.format(Math.min(explainedTotal(), failures))} of them part of a diagnosed cause (see its item)`
        : "grouped by conversation below" },
  ];
  const box = $("cards");
  box.replaceChildren();
  for (const c of cards) {
    const el = h("div", { class: `card ${c.tone || ""}`, "data-metric": c.metric, "data-value": String(c.value) },
      h("div", { class: "card-label" }, c.label),
      h("div", { class: "card-value" }, c.text),
      h("div", { class: "card-sub muted" }, c.sub));
    box.append(el);
  }
}

function renderQuality(q) {
  const box = $("quality");
  box.hidden = q == null;
  if (q == null) return;
  box.replaceChildren(h("h2", {}, "Capture quality"));
  const verdict = typeof q === "object" ? (q.verdict ?? q.grade ?? q.level ?? q.status) : q;
  if (verdict != null) {
    const tone = /good|ok|clean|complete/i.test(String(verdict)) ? "good" : /bad|poor|fail/i.test(String(verdict)) ? "bad" : "warn";
    box.append(h("div", { class: `verdict ${tone}`, id: "quality-verdict" }, String(verdict)));
  }
  if (typeof q !== "object") return;
  if (Array.isArray(q.reasons) && q.reasons.length) {
    box.append(h("ul", { class: "reasons" }, ...q.reasons.map((x) => h("li", {}, typeof x === "string" ? x : fmtCell(x)))));
  }
  if (Array.isArray(q.checks)) {
    // The checks that found something first; all of them behind a disclosure.
    const flagged = q.checks.filter((c) => c.status && c.status !== "ok");
    for (const c of flagged) box.append(h("div", { class: "check" }, h("span", { class: `tag ${c.status}` }, c.status), " ", h("b", {}, humanize(c.name)), ": ", c.detail));
    const table = dataTable(["Check", "Status", "Detail"], q.checks.map((c) => [humanize(c.name), c.status, { text: c.detail, wrap: true }]));
    box.append(h("details", { class: "more" }, h("summary", {}, `All ${q.checks.length} checks`), table));
  }
  const rest = Object.fromEntries(Object.entries(q).filter(([k]) => !["verdict", "grade", "level", "status", "reasons", "checks"].includes(k)));
  if (Object.keys(rest).length) box.append(renderValue(rest));
}

// ---------- charts ----------

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function chartDefaults() {
  const Chart = window.Chart;
  Chart.defaults.color = cssVar("--muted");
  Chart.defaults.borderColor = cssVar("--grid");
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;
  return Chart;
}

/**
 * Leaf protocols of the core's hierarchy: each node's frames not carried by a child
 * ("tcp (other)") plus every leaf, so the bars add up to all frames and nothing hides
 * behind its parent. A log axis keeps a 20-frame protocol visible next to 8,000.
 */
function protocolLeaves(nodes) {
  const path = [];
  const out = [];
  nodes.forEach((n, i) => {
    path[n.depth] = n.protocol;
    let childFrames = 0, childBytes = 0;
    for (let j = i + 1; j < nodes.length && nodes[j].depth > n.depth; j++) {
      if (nodes[j].depth === n.depth + 1) { childFrames += nodes[j].frames; childBytes += nodes[j].bytes; }
    }
    const own = n.frames - childFrames;
    const label = path.slice(Math.min(1, n.depth), n.depth + 1).join(" › ");
    if (own > 0) out.push({ label: childFrames ? `${label} (other)` : label, frames: own, bytes: n.bytes - childBytes });
  });
  return out.sort((a, b) => b.frames - a.frames);
}

function renderProtocols(nodes) {
  const Chart = chartDefaults();
  const shown = protocolLeaves(nodes).slice(0, 14);
  const total = nodes.length ? nodes[0].frames : 0;
  const pct = (n) => (total ? ((100 * n) / total).toFixed(n * 1000 < total ? 2 : 1) : "0");
  $("protocol-chart").setAttribute("aria-label", `Frames by protocol: ${shown.map((n) => `${n.label} ${nf.format(n.frames)} (${pct(n.frames)}%)`).join(", ")}`);
  charts.push(new Chart($("protocol-chart"), {
    type: "bar",
    data: {
      labels: shown.map((n) => `${n.label}  ${pct(n.frames)}%`),
      datasets: [{ label: "frames", data: shown.map((n) => n.frames), backgroundColor: cssVar("--accent"), borderRadius: 3, minBarLength: 3 }],
    },
    options: {
      indexAxis: "y", maintainAspectRatio: false,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (c) => {
          const n = shown[c.dataIndex];
          return `${nf.format(n.frames)} frames (${pct(n.frames)}%), ${fmtBytes(n.bytes)}`;
        } } },
      },
      scales: {
        x: { type: "logarithmic", min: 0.8, ticks: { maxRotation: 0, callback: (v) => ([1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8].includes(v) ? compact.format(v) : "") } },
        y: { ticks: { autoSkip: false, font: { size: 11 } } },
      },
    },
  }));
}

/** Axis labels: "+1h18m", "+19m", "+12s", "+250ms" (the tooltip has the full offset). */
function shortOffset(secs) {
  if (secs == null) return "";
  if (secs >= 3600) return `+${Math.floor(secs / 3600)}h${String(Math.floor((secs % 3600) / 60)).padStart(2, "0")}m`;
  if (secs >= 60) return `+${Math.floor(secs / 60)}m${String(Math.floor(secs % 60)).padStart(2, "0")}s`;
  if (secs >= 1) return `+${secs.toFixed(secs < 10 ? 1 : 0)}s`;
  return `+${Math.round(secs * 1000)}ms`;
}

function renderTimeline(r, diagnosis) {
  const Chart = chartDefaults();
  const tl = r.summary.timeline;
  const origin = r.summary.start_ts ?? 0;
  let datasets, note;
  if (Array.isArray(tl) && tl.length) {
    datasets = [
      { label: "packets", data: tl.map((b) => ({ x: Math.max(0, b.t - origin), y: b.packets })), borderColor: cssVar("--accent"), backgroundColor: cssVar("--accent"), yAxisID: "y", pointRadius: 0, tension: 0.2 },
      { label: "bytes", data: tl.map((b) => ({ x: Math.max(0, b.t - origin), y: b.bytes })), borderColor: cssVar("--accent2"), backgroundColor: cssVar("--accent2"), yAxisID: "y1", pointRadius: 0, tension: 0.2 },
    ];
    $("timeline-title").textContent = "Traffic over time";
    note = "";
  } else {
    // Schema 1 has no packet time series; the flow rows still tell when conversations began.
    const flows = r.flows;
    const span = Math.max(r.summary.duration_secs, 1e-6);
    const buckets = Math.min(120, Math.max(1, Math.ceil(span)));
    const width = span / buckets;
    const counts = new Array(buckets).fill(0);
    for (const f of flows) counts[Math.min(buckets - 1, Math.floor((f.first_ts - origin) / width))]++;
    datasets = [{ label: "new flows", data: counts.map((y, i) => ({ x: i * width, y })), borderColor: cssVar("--accent"), yAxisID: "y", pointRadius: 0 }];
    $("timeline-title").textContent = "New flows over time";
    note = `From the ${nf.format(flows.length)} listed flows; a packet/byte timeline needs summary.timeline in the report.`;
  }
  // The diagnosis's evidence frames, at their times: where on the timeline each cause shows.
  const marks = [];
  for (const d of diagnosis ? diagnosis.diagnoses : []) {
    for (const f of d.frames) {
      const ev = evidenceIndex.get(f);
      if (ev && ev.ts != null) marks.push({ x: Math.max(0, ev.ts - origin), y: 0, rank: d.rank, rule: d.rule, frame: f });
    }
  }
  if (marks.length) {
    datasets.push({ label: "diagnosis evidence", type: "scatter", data: marks, yAxisID: "y", pointStyle: "triangle", pointRadius: 6,
      borderColor: cssVar("--bad"), backgroundColor: cssVar("--bad") });
  }
  // Every failure instance and finding the report lists, at its time (the lists are capped, so are the marks).
  const failMarks = [];
  for (const [cls, body] of Object.entries(r.failures || {})) {
    for (const [kind, c] of counted(body)) {
      for (const inst of c.instances) {
        const ev = Array.isArray(inst.evidence) ? inst.evidence[0] : inst.evidence || inst;
        if (ev && typeof ev.ts === "number") failMarks.push({ x: Math.max(0, ev.ts - origin), y: 0, what: `${cls} ${humanize(kind)}`, frame: ev.frame });
      }
    }
  }
  const findMarks = [];
  const walkFindings = (v, path) => {
    if (Array.isArray(v)) { for (const x of v) walkFindings(x, path); return; }
    if (!v || typeof v !== "object") return;
    if (typeof v.first_ts === "number") { findMarks.push({ x: Math.max(0, v.first_ts - origin), y: 0, what: humanize(path) }); return; }
    for (const [k, x] of Object.entries(v)) if (k !== "evidence" && x && typeof x === "object") walkFindings(x, path);
  };
  for (const [k, v] of Object.entries(r.findings || {})) walkFindings(v, k);
  const MAX_MARKS = 400;
  if (failMarks.length) {
    datasets.push({ label: "failures", type: "scatter", data: failMarks.slice(0, MAX_MARKS), yAxisID: "y", pointStyle: "crossRot", pointRadius: 5,
      borderColor: cssVar("--warn"), backgroundColor: cssVar("--warn") });
  }
  if (findMarks.length) {
    datasets.push({ label: "findings", type: "scatter", data: findMarks.slice(0, MAX_MARKS), yAxisID: "y", pointStyle: "rectRot", pointRadius: 5,
      borderColor: cssVar("--accent2"), backgroundColor: cssVar("--accent2") });
  }
  const legend = [
    marks.length ? "▲ frames cited by the diagnosis" : "",
    failMarks.length ? "✕ failures" : "",
    findMarks.length ? "◆ findings (first seen)" : "",
  ].filter(Boolean);
  $("timeline-note").textContent = note || (legend.length ? `${legend.join(", ")}; hover for which.` : "");
  $("timeline-chart").setAttribute("aria-label", `${$("timeline-title").textContent} over ${fmtDuration(r.summary.duration_secs)}` +
    (marks.length ? `; diagnosis evidence at ${[...new Set(marks.map((m) => `+${fmtSecs(m.x)}`))].slice(0, 8).join(", ")}` : ""));
  const scales = {
    x: { type: "linear", min: 0, max: Math.max(r.summary.duration_secs, 1e-3), ticks: { callback: (v) => shortOffset(v), maxTicksLimit: 7, maxRotation: 0 } },
    y: { beginAtZero: true, position: "left", ticks: { callback: (v) => compact.format(v) } },
  };
  if (datasets.some((d) => d.yAxisID === "y1")) scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, ticks: { callback: (v) => fmtBytes(v) } };
  charts.push(new Chart($("timeline-chart"), {
    type: "line",
    data: { datasets },
    options: {
      maintainAspectRatio: false, interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: {
        legend: { display: datasets.length > 1 },
        tooltip: { callbacks: {
          title: (c) => `+${fmtSecs(c[0].parsed.x)}`,
          label: (c) => (c.raw && c.raw.rank ? `#${c.raw.rank} ${humanize(c.raw.rule)} (frame ${c.raw.frame})`
            : c.raw && c.raw.what ? `${c.raw.what}${c.raw.frame != null ? ` (frame ${c.raw.frame})` : ""}`
            : `${c.dataset.label}: ${nf.format(c.parsed.y)}`),
        } },
      },
      scales,
    },
  }));
}

// ---------- tables ----------

/**
 * A table whose cells carry their column name (data-label): on a phone the rows become
 * stacked cards (style.css), so no table is wider than its panel. A cell is text, a Node,
 * or { text|node, num, wrap, mono, title }.
 */
function dataTable(head, rows, { compactRows = false, numCols = [], wide = false } = {}) {
  const th = head.map((c, i) => h("th", { class: numCols.includes(i) ? "num" : "" }, c));
  const body = rows.map((cells) => h("tr", {}, ...cells.map((c, i) => {
    const o = c != null && typeof c === "object" && !(c instanceof Node) ? c : { node: c };
    const cls = [o.num || numCols.includes(i) ? "num" : "", o.wrap ? "wrap" : "", o.mono ? "mono" : ""].join(" ").trim();
    return h("td", { class: cls, "data-label": head[i], title: o.title }, o.node !== undefined ? o.node : o.text ?? "");
  })));
  return h("div", { class: "table-wrap" }, h("table", { class: `data${compactRows ? " compact" : ""}${wide ? " wide" : ""}` },
    h("thead", {}, h("tr", {}, ...th)), h("tbody", {}, ...body)));
}

function renderTalkers(talkers) {
  const max = Math.max(1, ...talkers.map((t) => t.bytes_sent + t.bytes_received));
  const head = ["Address", "Main service", "Sent", "Received", "Packets", "Flows", "Share"];
  const rows = talkers.map((t) => {
    const total = t.bytes_sent + t.bytes_received;
    const bar = h("div", { class: "share" });
    bar.style.width = `${((100 * total) / max).toFixed(1)}%`;
    return h("tr", {},
      h("td", { class: "mono", "data-label": head[0] }, t.addr),
      h("td", { "data-label": head[1] }, h("span", { class: "tag" }, t.main_service)),
      h("td", { class: "num", "data-label": head[2] }, fmtBytes(t.bytes_sent)),
      h("td", { class: "num", "data-label": head[3] }, fmtBytes(t.bytes_received)),
      h("td", { class: "num", "data-label": head[4] }, nf.format(t.packets_sent + t.packets_received)),
      h("td", { class: "num", "data-label": head[5] }, nf.format(t.flows)),
      h("td", { class: "share-cell", "data-label": head[6] }, bar));
  });
  $("talkers").replaceChildren(
    h("thead", {}, h("tr", {}, ...head.map((c, i) => h("th", { class: i >= 2 && i <= 5 ? "num" : "" }, c)))),
    h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No IP traffic."))])));
}

/** Conversations shown per failure kind before "Show more". */
const GROUP_PAGE = 8;

function renderFailures(failures) {
  const total = failureTotal(failures);
  $("failures-total").textContent = nf.format(total);
  $("failures-total").dataset.value = String(total);
  const box = $("failures");
  box.replaceChildren();
  for (const [cls, body] of Object.entries(failures || {})) {
    const kinds = counted(body).filter(([, c]) => c.total > 0);
    const clsTotal = kinds.reduce((a, [, v]) => a + v.total, 0);
    const section = h("details", { class: "failure-class", "data-class": cls, "data-total": String(clsTotal) },
      h("summary", {},
        h("span", { class: "class-name" }, cls.toUpperCase()),
        h("span", { class: "muted small kinds" }, kinds.map(([k, c]) => `${humanize(k)} ${nf.format(c.total)}`).join(" · ")),
        h("span", { class: `pill ${clsTotal ? "warn" : ""}` }, clsTotal ? nf.format(clsTotal) : "none")));
    if (!kinds.length) section.append(h("div", { class: "muted small pad" }, "No failures of this class detected."));
    for (const [kind, c] of kinds) section.append(failureKind(kind, c));
    // Non-counted fields of the class (e.g. rates, summaries) behind their own disclosure.
    const extra = Object.fromEntries(Object.entries(body || {}).filter(([k, v]) => !counted(body).some(([kk]) => kk === k) && !isEmpty(v)));
    if (Object.keys(extra).length) section.append(h("details", { class: "more" }, h("summary", {}, "Other numbers"), renderValue(extra)));
    box.append(section);
  }
}

function isEmpty(v) {
  return v == null || (Array.isArray(v) && !v.length) || (typeof v === "object" && !Array.isArray(v) && !Object.keys(v).length);
}

/** One failure kind: its listed instances grouped by conversation, biggest groups first, paged. */
function failureKind(kind, c) {
  const groups = new Map();
  for (const inst of c.instances) {
    const ev = Array.isArray(inst.evidence) ? inst.evidence[0] : inst.evidence || inst;
    const cid = ev && ev.community_id;
    const key = cid || `${inst.src || inst.client || ""}→${inst.dst || inst.server || ""}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { cid, inst: [], frames: [] }));
    g.inst.push(inst);
    if (ev && ev.frame != null) g.frames.push({ frame: ev.frame, cid });
  }
  const sorted = [...groups.values()].sort((a, b) => b.inst.length - a.inst.length || (a.frames[0]?.frame ?? 0) - (b.frames[0]?.frame ?? 0));
  const listed = c.instances.length;
  const wrap = h("div", { class: "failure-kind", "data-kind": kind },
    h("div", { class: "kind-head" }, h("span", {}, humanize(kind)), h("span", { class: "num" }, nf.format(c.total))),
    h("div", { class: "muted small" }, listed < c.total
      ? `${nf.format(listed)} of ${nf.format(c.total)} listed by the core, in ${nf.format(sorted.length)} conversation${sorted.length > 1 ? "s" : ""}:`
      : `${nf.format(listed)} in ${nf.format(sorted.length)} conversation${sorted.length > 1 ? "s" : ""}:`));
  const tableBox = h("div", {});
  const more = h("button", { type: "button", class: "secondary small-btn" }, "");
  let shown = 0;
  const draw = () => {
    shown = Math.min(sorted.length, shown + GROUP_PAGE);
    const rows = sorted.slice(0, shown).map((g) => {
      const flow = g.cid ? flowByCid.get(g.cid) : null;
      const first = g.inst[0];
      const conv = flow ? `${endpoint(flow.orig_addr, flow.orig_port, flow.transport)} → ${endpoint(flow.resp_addr, flow.resp_port, flow.transport)}`
        : [first.src || first.client, first.dst || first.server].filter(Boolean).join(" → ") || "—";
      const ts = first.ts ?? (first.evidence && first.evidence.ts);
      return [
        { node: g.cid ? flowLink(g.cid, conv) : conv, mono: true, wrap: true },
        { text: nf.format(g.inst.length), num: true },
        ts != null ? relCell(ts) : "—",
        { node: h("span", {}, ...g.frames.slice(0, 4).map((f) => frameLink(f.frame, f.cid)), g.frames.length > 4 ? ` +${g.frames.length - 4}` : "") },
        { text: detailOf(first), wrap: true },
        // The causes that cite this conversation: these events are part of that finding.
        { node: h("span", { class: "causes" }, ...causesOf(g.cid).flatMap((d, i) => [i ? " " : "", h("a", { href: `#diag-${d.rank}`, class: "tag", title: humanize(d.rule) }, `#${d.rank}`)])) },
      ];
    });
    tableBox.replaceChildren(dataTable(["Conversation", "Events", "First", "Frames", "Detail", "Cause"], rows, { compactRows: true }));
    more.hidden = shown >= sorted.length;
    more.textContent = `Show ${Math.min(GROUP_PAGE, sorted.length - shown)} more of ${nf.format(sorted.length - shown)}`;
  };
  more.addEventListener("click", draw);
  draw();
  wrap.append(h("details", { class: "more" }, h("summary", {}, "Conversations"), tableBox, more));
  return wrap;
}

/** The instance's own fields that say what happened (not where or when: the other columns have those). */
function detailOf(inst) {
  const skip = new Set(["frame", "ts", "community_id", "evidence", "src", "dst", "client", "server"]);
  return Object.entries(inst).filter(([k, v]) => !skip.has(k) && v != null && v !== "")
    .map(([k, v]) => `${humanize(k)} ${typeof v === "object" ? fmtCell(v) : fmtCell(v)}`).join(", ");
}

/** Top anomalies: flow, score and the core's explanation (which features made the score). */
function renderAnomalies(a) {
  const box = $("anomalies");
  box.hidden = a == null;
  if (a == null) return;
  if (!Array.isArray(a.top_flows)) { renderGenericSection("anomalies", "Top anomalies", a); return; }
  const head = h("h2", {}, "Unusual flows ", h("span", { class: "muted small" }, `isolation forest over ${nf.format(a.flows_scored ?? 0)} flows; median score ${a.median_score ?? "—"}`));
  const rows = a.top_flows.slice(0, 10).map((f) => [
    { text: String(f.rank), num: true },
    { text: f.score.toFixed(3), num: true },
    { node: flowLink(f.community_id, `${f.orig} → ${f.resp}`), mono: true, wrap: true },
    f.service || f.transport,
    relCell(f.first_ts),
    { text: (f.explanation || []).map(explainFeature).join("; "), wrap: true },
  ]);
  box.replaceChildren(head, dataTable(["#", "Score", "Flow", "Service", "Start", "Why"], rows, { compactRows: true }));
  if (a.top_flows.length > 10) box.append(h("div", { class: "muted small" }, `First 10 of ${a.top_flows.length} listed.`));
}

function explainFeature(e) {
  const v = e.category ?? `${fmtNum(e.value)}${e.unit ? ` ${e.unit}` : ""}`;
  const typical = e.category ? "" : ` (typical ${fmtNum(e.typical)})`;
  return `${humanize(e.feature)} ${v}${typical}`;
}

function fmtNum(v) {
  if (typeof v !== "number") return String(v);
  return Math.abs(v) >= 100 ? nf.format(Math.round(v)) : String(+v.toPrecision(3));
}

/**
 * Findings, one block per detector: its numbers on one line, its lists as tables (wide
 * ones wrap), empty detectors named in one line at the end.
 */
function renderFindings(f) {
  const box = $("findings");
  box.hidden = f == null;
  if (f == null) return;
  box.replaceChildren(h("h2", {}, "Findings"));
  const quiet = [];
  for (const [name, sec] of Object.entries(f)) {
    if (!sec || typeof sec !== "object" || Array.isArray(sec)) { box.append(h("div", {}, `${humanize(name)}: ${fmtCell(sec)}`)); continue; }
    const lists = Object.entries(sec).filter(([, v]) => Array.isArray(v) && v.length && v.every((x) => x && typeof x === "object" && !Array.isArray(x)));
    if (!lists.length) { quiet.push(humanize(name)); continue; }
    const facts = Object.entries(sec).filter(([, v]) => v == null || typeof v !== "object" || (!Array.isArray(v) && Object.keys(v).length));
    const block = h("div", { class: "finding", "data-finding": name }, h("h3", {}, humanize(name)));
    if (facts.length) {
      block.append(h("div", { class: "muted small" }, ...facts.flatMap(([k, v], i) => [i ? " · " : "", `${humanize(k)} `,
        typeof v === "object" ? Object.entries(v).map(([a, b]) => `${humanize(a)} ${fmtCell(b)}`).join(", ") : valueNode(k, v)])));
    }
    for (const [, list] of lists) block.append(instancesTable(list.slice(0, 20), list.length));
    box.append(block);
  }
  if (quiet.length) box.append(h("div", { class: "muted small" }, `Nothing found by: ${quiet.join(", ")}.`));
}

/** Sections a later schema adds (findings, anomalies): rendered from whatever shape they have. */
function renderGenericSection(id, title, value) {
  const box = $(id);
  box.hidden = value == null;
  if (value == null) return;
  box.replaceChildren(h("h2", {}, title), renderValue(value));
}

/** Keys whose numbers are capture timestamps (shown relative to the capture's start). */
const TS_KEYS = new Set(["ts", "first_ts", "last_ts", "start_ts", "end_ts", "t"]);
const DURATION_KEYS = /(_secs|duration)$/;

function renderValue(v, depth = 0, key = "") {
  if (v == null) return h("span", { class: "muted" }, "—");
  if (Array.isArray(v)) {
    if (!v.length) return h("span", { class: "muted" }, "none");
    if (v.every((x) => x && typeof x === "object" && !Array.isArray(x) && "frame" in x)) return evidenceChips(v);
    if (v.every((x) => x && typeof x === "object" && !Array.isArray(x))) return instancesTable(v.slice(0, 50), v.length);
    return h("span", {}, listText(v));
  }
  if (typeof v === "object") {
    if (typeof v.total === "number" && Array.isArray(v.instances)) {
      return h("div", {}, h("div", { class: "kind-head" }, h("span", {}, "total"), h("span", { class: "num" }, nf.format(v.total))),
        instancesTable(v.instances, v.total));
    }
    if ("frame" in v && "ts" in v) return evidenceChips(v);
    const dl = h("dl", { class: depth ? "kv nested" : "kv" });
    for (const [k, x] of Object.entries(v)) {
      dl.append(h("dt", {}, humanize(k)), h("dd", {}, typeof x === "object" && x !== null ? renderValue(x, depth + 1, k) : valueNode(k, x)));
    }
    return dl;
  }
  return valueNode(key, v);
}

/** Long lists (450 scanned ports) are cut: the JSON report has them all. */
function listText(v) {
  const shown = v.slice(0, 24).map(fmtCell).join(", ");
  return v.length > 24 ? `${shown}, … (${nf.format(v.length)} in all)` : shown;
}

function valueNode(k, x) {
  if (typeof x === "number" && TS_KEYS.has(k)) return relCell(x).node;
  if (typeof x === "number" && DURATION_KEYS.test(k)) return h("span", {}, fmtDuration(x));
  if (k === "community_id" && typeof x === "string" && x) return flowLink(x, shortCid(x));
  return h("span", {}, fmtCell(x));
}

function instancesTable(instances, total) {
  const cols = [...new Set(instances.flatMap((i) => Object.keys(i)))].filter((k) => k !== "evidence");
  const hasEvidence = instances.some((i) => i.evidence);
  const head = [...(hasEvidence ? ["frames"] : []), ...cols];
  const rows = instances.map((i) => [
    ...(hasEvidence ? [{ node: evidenceChips(i.evidence) }] : []),
    ...cols.map((k) => {
      const x = i[k];
      if (typeof x === "number" && TS_KEYS.has(k)) return relCell(x);
      if (typeof x === "number" && DURATION_KEYS.test(k)) return { text: fmtDuration(x), num: true };
      if (k === "community_id" && typeof x === "string" && x) return { node: flowLink(x, shortCid(x)) };
      if (Array.isArray(x)) return { text: listText(x), wrap: true };
      // Ports and frame numbers are identifiers, not quantities: no thousands separator.
      if (typeof x === "number" && /(^|_)(port|frame)$/.test(k)) return { text: String(x), num: true };
      const text = fmtCell(x);
      // Long prose (quality details, explanations) wraps instead of widening the page.
      return { text, num: typeof x === "number", wrap: String(text).length > 24 };
    })]);
  const wrap = dataTable(head.map(humanize), rows, { compactRows: true, wide: head.length > 7 });
  if (total > instances.length) wrap.append(h("div", { class: "muted small" }, `First ${instances.length} of ${nf.format(total)} shown.`));
  return wrap;
}

function evidenceChips(ev) {
  const list = Array.isArray(ev) ? ev : ev ? [ev] : [];
  const shown = list.slice(0, 6).map((e) => frameLink(e.frame, e.community_id));
  return h("span", { class: "chips" }, ...shown, list.length > 6 ? h("span", { class: "muted small" }, ` +${list.length - 6}`) : "");
}

// ---------- links and flow detail ----------

let flowByCid = new Map();
/** frame number → { ts, community_id } from every piece of evidence in the report. */
let evidenceIndex = new Map();
let timeOrigin = null;

/** Every object in the report that names a frame, with its time and Community ID when it has them. */
function indexEvidence(r) {
  const idx = new Map();
  const walk = (v) => {
    if (Array.isArray(v)) { for (const x of v) walk(x); return; }
    if (!v || typeof v !== "object") return;
    if (typeof v.frame === "number") {
      const cur = idx.get(v.frame) || {};
      idx.set(v.frame, { ts: cur.ts ?? v.ts, community_id: cur.community_id || v.community_id });
    }
    for (const x of Object.values(v)) if (x && typeof x === "object") walk(x);
  };
  walk(r.failures);
  walk(r.findings);
  for (const f of r.flows) {
    for (const [frame, ts] of [[f.first_frame, f.first_ts], [f.last_frame, f.last_ts]]) {
      const cur = idx.get(frame) || {};
      if (!cur.community_id) idx.set(frame, { ts: cur.ts ?? ts, community_id: f.community_id });
    }
  }
  return idx;
}

/** The diagnosis items that cite a flow: by Community ID, or by a frame the evidence ties to it. */
function causesOf(cid) {
  if (!cid || !current || !current.diagnosis) return [];
  // The core says which cause a flow's failures are part of (a scan's probes); citations add the rest.
  const explainer = (current.diagnosis.explainedBy || {})[cid];
  const cites = (d) => d.rank === explainer || d.community_ids.includes(cid) || d.frames.some((f) => (evidenceIndex.get(f) || {}).community_id === cid);
  return current.diagnosis.diagnoses.filter(cites);
}

/** Failure events the diagnosis explains as part of a cause (the core's `explains` counts). */
function explainedTotal() {
  const d = current && current.diagnosis;
  if (!d) return 0;
  return d.diagnoses.reduce((a, it) => a + Object.values(it.explains || {}).reduce((x, n) => x + n, 0), 0);
}

function flowHref(cid) {
  return `#flow=${encodeURIComponent(cid)}`;
}

function flowLink(cid, label) {
  return h("a", { class: "flow-link", href: flowHref(cid), title: `Community ID ${cid}: open this flow` }, label);
}

/** A frame opens the flow it belongs to (known from the evidence that cites it). */
function frameLink(frame, cid) {
  const owner = cid || (evidenceIndex.get(frame) || {}).community_id;
  const ev = evidenceIndex.get(frame);
  const title = [`frame ${frame}`, ev && ev.ts != null ? absTime(ev.ts) : null].filter(Boolean).join(" · ");
  if (!owner) return h("span", { class: "chip", title }, `#${frame}`);
  return h("a", { class: "chip frame-link", href: `${flowHref(owner)}&frame=${frame}`, title, "data-frame": String(frame) }, `#${frame}`);
}

function shortCid(cid) {
  return cid.length > 14 ? `${cid.slice(0, 12)}…` : cid;
}

function parseHash() {
  const m = location.hash.match(/^#flow=([^&]+)(?:&frame=(\d+))?/);
  return m ? { cid: decodeURIComponent(m[1]), frame: m[2] ? Number(m[2]) : null } : null;
}

/** `#flow=<Community ID>`: the flow's detail; back/forward move between flows and the page. */
function showFlowFromHash() {
  const box = $("flow-detail");
  const want = parseHash();
  if (!want || !current || !current.report) { box.hidden = true; return; }
  const r = current.report;
  const flow = flowByCid.get(want.cid);
  const close = h("a", { href: "#", class: "close", "aria-label": "Close the flow detail" }, "Close ✕");
  if (!flow) {
    box.replaceChildren(h("h2", { id: "flow-detail-title" }, "Flow not found ", close),
      h("div", { class: "muted" }, `No flow with Community ID ${want.cid} is listed in this report.`));
    box.hidden = false;
    return;
  }
  box.dataset.cid = flow.community_id;
  const ep = (a, p) => endpoint(a, p, flow.transport);
  const kv = h("dl", { class: "kv" });
  const add = (k, v) => kv.append(h("dt", {}, k), h("dd", {}, v));
  add("Community ID", h("span", { class: "mono" }, flow.community_id));
  add("Service", `${flow.transport}${flow.service ? ` / ${flow.service}` : ""}`);
  add("State", `${flow.conn_state} (history ${flow.history || "—"})`);
  add("Time", h("span", {}, relCell(flow.first_ts).node, " → ", relCell(flow.last_ts).node, ` (${fmtDuration(flow.duration_secs)})`));
  add("Frames", want.frame ? `${flow.first_frame}–${flow.last_frame} (opened from frame ${want.frame})` : `${flow.first_frame}–${flow.last_frame}`);
  const packets = (n) => `${nf.format(n)} packet${n === 1 ? "" : "s"}`;
  add("Originator → responder", `${packets(flow.orig_packets)}, ${fmtBytes(flow.orig_bytes)}`);
  add("Responder → originator", `${packets(flow.resp_packets)}, ${fmtBytes(flow.resp_bytes)}`);
  const parts = [h("h2", { id: "flow-detail-title" }, h("span", { class: "mono" }, `${ep(flow.orig_addr, flow.orig_port)} → ${ep(flow.resp_addr, flow.resp_port)}`), close), kv];

  const diag = causesOf(flow.community_id);
  if (diag.length) parts.push(h("h3", {}, "In the diagnosis"), h("ul", {}, ...diag.map((d) => h("li", {}, `#${d.rank} `, ...summaryParts(d.summary)))));
  const fails = [];
  for (const [cls, body] of Object.entries(r.failures || {})) {
    for (const [kind, c] of counted(body)) {
      for (const inst of c.instances) {
        const ev = Array.isArray(inst.evidence) ? inst.evidence[0] : inst.evidence || inst;
        if (ev && ev.community_id === flow.community_id) fails.push([`${cls} ${humanize(kind)}`, ev.frame != null ? { node: frameLink(ev.frame, flow.community_id) } : "—", ev.ts != null ? relCell(ev.ts) : "—", { text: detailOf(inst), wrap: true }]);
      }
    }
  }
  parts.push(h("h3", {}, "Failures"), fails.length ? dataTable(["Failure", "Frame", "Time", "Detail"], fails, { compactRows: true }) : h("div", { class: "muted small" }, "None among the failure instances the report lists (each list keeps the first few; totals are above)."));
  const finds = [];
  const walk = (v, path) => {
    if (Array.isArray(v)) { for (const x of v) walk(x, path); return; }
    if (!v || typeof v !== "object") return;
    const ev = Array.isArray(v.evidence) ? v.evidence : [];
    if (v.community_id === flow.community_id || ev.some((e) => e.community_id === flow.community_id)) finds.push(humanize(path));
    for (const [k, x] of Object.entries(v)) if (k !== "evidence" && x && typeof x === "object") walk(x, path);
  };
  for (const [k, v] of Object.entries(r.findings || {})) walk(v, k);
  parts.push(h("h3", {}, "Findings"), h("div", { class: finds.length ? "" : "muted small" }, finds.length ? [...new Set(finds)].join(", ") : "None for this flow."));
  const anomaly = r.anomalies && Array.isArray(r.anomalies.top_flows) ? r.anomalies.top_flows.find((a) => a.community_id === flow.community_id) : null;
  parts.push(h("h3", {}, "Anomaly score"), h("div", { class: anomaly ? "" : "muted small", id: "flow-anomaly" }, anomaly
    ? `${anomaly.score.toFixed(3)} (rank ${anomaly.rank}; median ${r.anomalies.median_score}): ${(anomaly.explanation || []).map(explainFeature).join("; ")}`
    : "Not among the top anomalies."));
  // Its packets: the worker reads the file again for them (the report lists flows, not packets).
  parts.push(h("h3", {}, "Packets"), h("div", { id: "flow-packets", class: "muted small", "aria-live": "polite" }, "Reading the flow's packets…"));
  box.replaceChildren(...parts);
  if (current.file && capabilities && capabilities.flowPackets) {
    worker.postMessage({ type: "flowPackets", file: current.file, communityId: flow.community_id, max: FLOW_PACKETS_SHOWN });
  } else {
    $("flow-packets").textContent = "Not available in this build of the analyzer.";
  }
  box.hidden = false;
  box.scrollIntoView({ block: "start" });
  box.focus({ preventScroll: true });
}

/** Packets listed in a flow's detail (the rest are counted). */
const FLOW_PACKETS_SHOWN = 200;

function showFlowPackets(cid, res) {
  const box = $("flow-detail");
  const slot = $("flow-packets");
  if (!slot || box.dataset.cid !== cid) return; // another flow is open by now
  const flow = flowByCid.get(cid);
  const fromOrig = (p) => flow && p.src === flow.orig_addr && (p.src_port == null || p.src_port === flow.orig_port);
  const rows = res.packets.map((p) => [
    { node: frameLink(p.frame, cid) },
    relCell(p.ts),
    fromOrig(p) ? "→ orig to resp" : "← resp to orig",
    nf.format(p.wire_len),
    p.tcp_flags ?? "",
    p.tcp_flags != null ? `seq ${p.seq} ack ${p.ack} win ${p.window}` : "",
    nf.format(p.payload_len),
  ]);
  const note = [];
  if (res.total > res.packets.length) note.push(`The first ${nf.format(res.packets.length)} of ${nf.format(res.total)} packets.`);
  if (res.error) note.push(`The capture could not be read to its end: ${res.error}.`);
  slot.className = "";
  slot.replaceChildren(
    rows.length ? dataTable(["Frame", "Time", "Direction", "Bytes", "TCP flags", "Numbers", "Payload"], rows, { compactRows: true }) : h("div", { class: "muted small" }, "No packet of this flow was found."),
    ...(note.length ? [h("div", { class: "muted small" }, note.join(" "))] : []),
  );
}

// ---------- flow table ----------

const FLOW_COLS = [
  { key: "id", label: "#", num: true, link: true },
  { key: "transport", label: "Proto" },
  // Endpoints may wrap (IPv6 ones are long): the table must fit its panel at 1280 px.
  { key: "orig", label: "Originator", get: (f) => endpoint(f.orig_addr, f.orig_port, f.transport), mono: true, wrap: true },
  { key: "resp", label: "Responder", get: (f) => endpoint(f.resp_addr, f.resp_port, f.transport), mono: true, wrap: true },
  { key: "service", label: "Service", get: (f) => f.service || "" },
  { key: "conn_state", label: "State" },
  { key: "packets", label: "Packets", num: true, get: (f) => f.orig_packets + f.resp_packets, fmt: (v) => nf.format(v) },
  { key: "bytes", label: "Bytes", num: true, get: (f) => f.orig_bytes + f.resp_bytes, fmt: fmtBytes },
  { key: "first_ts", label: "Start", num: true, fmt: (v) => relCell(v).node },
  { key: "duration_secs", label: "Duration", num: true, fmt: fmtDuration },
];

function setupFlows(r) {
  const transports = Object.keys(r.summary.flows.by_transport);
  const sel = $("flow-transport");
  sel.replaceChildren(h("option", { value: "" }, "All transports"), ...transports.map((t) => h("option", { value: t }, t)));
  $("flow-filter").value = "";
  flowView = { all: r.flows, rows: r.flows, sortKey: "id", sortDir: 1, page: 0 };
  flowByCid = new Map(r.flows.map((f) => [f.community_id, f]));
  const omitted = r.summary.flows.omitted_from_list;
  $("flows-count").textContent = nf.format(r.summary.flows.total) + (omitted ? ` (${nf.format(r.flows.length)} listed)` : "");
  applyFlowFilter();
}

function colValue(c, f) {
  return c.get ? c.get(f) : f[c.key];
}

function applyFlowFilter() {
  const q = $("flow-filter").value.trim().toLowerCase();
  const t = $("flow-transport").value;
  const terms = q.split(/\s+/).filter(Boolean);
  flowView.rows = flowView.all.filter((f) => {
    if (t && f.transport !== t) return false;
    if (!terms.length) return true;
    const hay = `${f.orig_addr}:${f.orig_port} ${f.resp_addr}:${f.resp_port} ${f.transport} ${f.service || ""} ${f.conn_state} ${f.history} ${f.community_id}`.toLowerCase();
    return terms.every((w) => hay.includes(w));
  });
  sortFlows();
}

function sortFlows() {
  const c = FLOW_COLS.find((x) => x.key === flowView.sortKey);
  const dir = flowView.sortDir;
  flowView.rows = flowView.rows.slice().sort((a, b) => {
    const x = colValue(c, a), y = colValue(c, b);
    const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), "en", { numeric: true });
    return cmp * dir || a.id - b.id;
  });
  flowView.page = 0;
  renderFlowPage();
}

function renderFlowPage() {
  const { rows, page } = flowView;
  const pages = Math.max(1, Math.ceil(rows.length / FLOW_PAGE));
  const slice = rows.slice(page * FLOW_PAGE, (page + 1) * FLOW_PAGE);
  const head = h("tr", {}, ...FLOW_COLS.map((c) => {
    const arrow = flowView.sortKey === c.key ? (flowView.sortDir > 0 ? " ▲" : " ▼") : "";
    const th = h("th", { class: `sortable ${c.num ? "num" : ""}`, "data-key": c.key, tabindex: "0", "aria-sort": arrow ? (flowView.sortDir > 0 ? "ascending" : "descending") : "none" }, c.label + arrow);
    return th;
  }));
  const body = slice.map((f) => h("tr", {}, ...FLOW_COLS.map((c) => {
    const v = colValue(c, f);
    const shown = c.fmt ? c.fmt(v, f) : String(v);
    return h("td", { class: `${c.num ? "num" : ""} ${c.mono ? "mono" : ""} ${c.wrap ? "wrap" : ""}`, "data-label": c.label, title: c.key === "conn_state" ? `history ${f.history}` : null },
      c.link ? flowLink(f.community_id, shown) : shown);
  })));
  $("flows").replaceChildren(h("thead", {}, head),
    h("tbody", {}, ...(body.length ? body : [h("tr", {}, h("td", { colspan: String(FLOW_COLS.length), class: "muted" }, "No flow matches."))])));
  $("page-info").textContent = rows.length
    ? `${nf.format(page * FLOW_PAGE + 1)}–${nf.format(page * FLOW_PAGE + slice.length)} of ${nf.format(rows.length)}`
    : "0 flows";
  $("page-prev").disabled = page === 0;
  $("page-next").disabled = page >= pages - 1;
}

function onSortClick(ev) {
  const th = ev.target.closest("th[data-key]");
  if (!th) return;
  const key = th.dataset.key;
  if (flowView.sortKey === key) flowView.sortDir = -flowView.sortDir;
  else { flowView.sortKey = key; flowView.sortDir = FLOW_COLS.find((c) => c.key === key).num ? -1 : 1; }
  sortFlows();
}

// ---------- helpers ----------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null && v !== false) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return el;
}

function endpoint(addr, port, transport) {
  if (transport !== "tcp" && transport !== "udp") return addr;
  return addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Report keys as column names: "first_ts" → "first seen", "duration_secs" → "duration". */
const KEY_NAMES = { ts: "time", first_ts: "first seen", last_ts: "last seen", duration_secs: "duration", community_id: "flow" };

function humanize(k) {
  return KEY_NAMES[k] ?? String(k).replace(/_secs$/, "").replace(/_/g, " ");
}

function fmtCell(v) {
  if (v == null) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? nf.format(v) : String(+v.toFixed(6));
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function fmtBytes(n) {
  if (!Number.isFinite(n)) return "—";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0) : n} ${units[i]}`;
}

function fmtDuration(s) {
  if (!(s > 0)) return "0 s";
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 0)} ms`;
  if (s < 120) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60), hrs = Math.floor(m / 60);
  return hrs ? `${hrs} h ${m % 60} min` : `${m} min ${Math.round(s % 60)} s`;
}

/** Seconds since the capture's start, to the millisecond: "12.345 s", "1 min 02.345 s", "2 h 03 min 04.5 s". */
function fmtSecs(s) {
  if (s == null || !Number.isFinite(s)) return "";
  if (s < 60) return `${s.toFixed(3)} s`;
  const m = Math.floor(s / 60), hrs = Math.floor(m / 60);
  const sec = (s % 60).toFixed(3).padStart(6, "0");
  return hrs ? `${hrs} h ${String(m % 60).padStart(2, "0")} min ${sec} s` : `${m} min ${sec} s`;
}

const localTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** Absolute time in the viewer's zone, with the UTC ISO time after it. */
function absTime(ts) {
  const d = new Date(ts * 1000);
  return `${localTime.format(d)} (${d.toISOString()})`;
}

/** A capture timestamp as "+12.345 s" from the capture's start; the absolute time on hover. */
function relCell(ts) {
  const d = new Date(ts * 1000);
  const node = h("time", { class: "rel", datetime: d.toISOString(), title: `${localTime.format(d)} local · ${d.toISOString()}` },
    `+${fmtSecs(Math.max(0, ts - (timeOrigin ?? ts)))}`);
  return { node, num: true };
}

function baseName(name) {
  return name.replace(/\.(pcapng|pcap|cap|dmp)$/i, "");
}

function download(name, data, type) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function clearMessages() {
  $("error").hidden = true;
  $("warning").hidden = true;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}

function showWarning(text) {
  $("warning").textContent = text;
  $("warning").hidden = false;
}

// ---------- wiring ----------

function wire() {
  const drop = $("dropzone");
  $("file-input").addEventListener("change", (e) => {
    const f = e.target.files[0];
    if (f) analyze(f);
    e.target.value = "";
  });
  for (const t of ["dragenter", "dragover"]) {
    document.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const t of ["dragleave", "drop"]) {
    document.addEventListener(t, (e) => { e.preventDefault(); if (t === "drop" || e.target === drop) drop.classList.remove("over"); });
  }
  document.addEventListener("drop", (e) => {
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) analyze(f);
  });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file-input").click(); } });
  $("sample-button").addEventListener("click", () => {
    clearMessages();
    $("engine-status").textContent = "Generating a sample capture (synthetic traffic with failures to find)…";
    worker.postMessage({ type: "sample", ...SAMPLE });
  });
  $("cancel-button").addEventListener("click", () => {
    worker.terminate();
    $("progress").hidden = true;
    showWarning("Analysis cancelled.");
    startWorker();
  });
  $("download-json").addEventListener("click", () =>
    download(`${baseName(current.file.name)}.report.json`, current.json + "\n", "application/json"));
  $("download-csv").addEventListener("click", () => worker.postMessage({ type: "csv", flows: current.report.flows }));
  $("copy-llm").addEventListener("click", copyEvidence);
  $("llm-fallback-close").addEventListener("click", () => { $("llm-fallback").hidden = true; });
  $("download-sanitized").addEventListener("click", () => {
    $("download-sanitized").disabled = true;
    worker.postMessage({ type: "sanitize", file: current.file });
  });
  $("flow-filter").addEventListener("input", applyFlowFilter);
  $("flow-transport").addEventListener("change", applyFlowFilter);
  $("flows").addEventListener("click", onSortClick);
  $("flows").addEventListener("keydown", (e) => { if (e.key === "Enter") onSortClick(e); });
  $("page-prev").addEventListener("click", () => { flowView.page--; renderFlowPage(); });
  $("page-next").addEventListener("click", () => { flowView.page++; renderFlowPage(); });
  // Flow links are plain #flow= anchors: the browser keeps the history, so back/forward and shared links work.
  addEventListener("hashchange", showFlowFromHash);
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (current && current.report) render(current.report, current.file.name, current.file.size, current.secs, current.diagnosis);
  });
}

wire();
startWorker();
