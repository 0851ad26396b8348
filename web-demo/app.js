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
  current = { file: current.file, report, json: msg.json, secs: msg.elapsedMs / 1000, evidence: msg.evidence };
  showEvidence(msg);
  if (err) {
    showWarning(`This capture is damaged or cut short: ${err.message}. ` +
      `The results below cover the ${nf.format(report.summary.packets)} frames before frame ` +
      `${nf.format(err.next_frame)} (partial).`);
  }
  const secs = msg.elapsedMs / 1000;
  render(report, msg.name, msg.size, secs);
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

function render(r, name, size, secs) {
  $("results").hidden = false;
  $("result-title").textContent = name;
  const cap = r.capture;
  $("result-meta").textContent = [
    cap.format ? `${cap.format}${cap.format === "pcapng" ? `, ${cap.interfaces} interface(s)` : ""}` : null,
    fmtBytes(size),
    r.summary.start_time ? `${fmtTime(r.summary.start_time)} → ${fmtTime(r.summary.end_time)}` : null,
    `analysed in ${secs.toFixed(2)} s (${(size / 1e6 / Math.max(secs, 1e-3)).toFixed(0)} MB/s)`,
  ].filter(Boolean).join(" · ");
  $("download-sanitized").hidden = !capabilities.sanitize;
  $("sanitize-note").textContent = "";

  for (const c of charts) c.destroy();
  charts = [];
  renderCards(r);
  guarded("quality", () => renderQuality(r.quality));
  renderProtocols(r.summary.protocol_hierarchy);
  renderTimeline(r);
  renderTalkers(r.summary.top_talkers);
  renderFailures(r.failures);
  guarded("findings", () => renderGenericSection("findings", "Findings", r.findings));
  guarded("anomalies", () => renderGenericSection("anomalies", "Top anomalies", r.anomalies));
  setupFlows(r);
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
    { metric: "failures", label: "Failures", value: failures, text: nf.format(failures),
      sub: failures ? "see Failures below" : "none detected", tone: failures ? "bad" : "good" },
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
    box.append(h("div", { class: `verdict ${tone}` }, String(verdict)));
  }
  if (typeof q === "object") {
    const rest = Object.fromEntries(Object.entries(q).filter(([k]) => !["verdict", "grade", "level", "status"].includes(k)));
    box.append(renderValue(rest));
  }
}

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

function renderProtocols(nodes) {
  const Chart = chartDefaults();
  // The root (frame / link layer) is every frame; show what lies under it. The
  // same protocol can sit in several places (tls over ip/tcp and over ipv6/tcp),
  // so a label is the node's path below the root.
  const path = [];
  const labelled = nodes.map((n) => {
    path[n.depth] = n.protocol;
    return { ...n, label: path.slice(1, n.depth + 1).join(" › ") };
  });
  const shown = labelled.filter((n) => n.depth > 0).sort((a, b) => b.frames - a.frames).slice(0, 12);
  const total = nodes.length ? Math.max(...nodes.map((n) => n.frames)) : 0;
  charts.push(new Chart($("protocol-chart"), {
    type: "bar",
    data: {
      labels: shown.map((n) => n.label),
      datasets: [{ label: "frames", data: shown.map((n) => n.frames), backgroundColor: cssVar("--accent"), borderRadius: 3 }],
    },
    options: {
      indexAxis: "y", maintainAspectRatio: false,
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { label: (c) => {
          const n = shown[c.dataIndex];
          return `${nf.format(n.frames)} frames (${total ? ((100 * n.frames) / total).toFixed(1) : 0}%), ${fmtBytes(n.bytes)}`;
        } } },
      },
      scales: {
        x: { beginAtZero: true, ticks: { maxRotation: 0, callback: (v) => compact.format(v) } },
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

function renderTimeline(r) {
  const Chart = chartDefaults();
  const tl = r.summary.timeline;
  let labels, datasets, note;
  if (Array.isArray(tl) && tl.length) {
    // Offsets from the first frame, as the flow-based fallback below uses.
    const origin = r.summary.start_ts ?? tl[0].t;
    labels = tl.map((b) => Math.max(0, b.t - origin));
    datasets = [
      { label: "packets", data: tl.map((b) => b.packets), borderColor: cssVar("--accent"), yAxisID: "y", pointRadius: 0, tension: 0.2 },
      { label: "bytes", data: tl.map((b) => b.bytes), borderColor: cssVar("--accent2"), yAxisID: "y1", pointRadius: 0, tension: 0.2 },
    ];
    $("timeline-title").textContent = "Traffic over time";
    note = "";
  } else {
    // Schema 1 has no packet time series; the flow rows still tell when conversations began.
    const flows = r.flows;
    const start = r.summary.start_ts ?? 0;
    const span = Math.max(r.summary.duration_secs, 1e-6);
    const buckets = Math.min(120, Math.max(1, Math.ceil(span)));
    const width = span / buckets;
    const counts = new Array(buckets).fill(0);
    for (const f of flows) counts[Math.min(buckets - 1, Math.floor((f.first_ts - start) / width))]++;
    labels = counts.map((_, i) => i * width);
    datasets = [{ label: "new flows", data: counts, backgroundColor: cssVar("--accent"), borderColor: cssVar("--accent"), type: "bar" }];
    $("timeline-title").textContent = "New flows over time";
    note = `From the ${nf.format(flows.length)} listed flows; a packet/byte timeline needs summary.timeline in the report.`;
  }
  $("timeline-note").textContent = note;
  const scales = {
    x: { ticks: { callback: (v, i) => shortOffset(labels[i]), maxTicksLimit: 7, autoSkip: true, maxRotation: 0 } },
    y: { beginAtZero: true, position: "left", ticks: { callback: (v) => compact.format(v) } },
  };
  if (datasets.length > 1) scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, ticks: { callback: (v) => fmtBytes(v) } };
  charts.push(new Chart($("timeline-chart"), {
    type: datasets[0].type || "line",
    data: { labels, datasets },
    options: {
      maintainAspectRatio: false, interaction: { mode: "index", intersect: false },
      plugins: { legend: { display: datasets.length > 1 }, tooltip: { callbacks: { title: (c) => `+${fmtOffset(labels[c[0].dataIndex])}` } } },
      scales,
    },
  }));
}

function renderTalkers(talkers) {
  const max = Math.max(1, ...talkers.map((t) => t.bytes_sent + t.bytes_received));
  const rows = talkers.map((t) => {
    const total = t.bytes_sent + t.bytes_received;
    const bar = h("div", { class: "share" });
    bar.style.width = `${((100 * total) / max).toFixed(1)}%`;
    return h("tr", {},
      h("td", { class: "mono" }, t.addr),
      h("td", {}, h("span", { class: "tag" }, t.main_service)),
      h("td", { class: "num" }, fmtBytes(t.bytes_sent)),
      h("td", { class: "num" }, fmtBytes(t.bytes_received)),
      h("td", { class: "num" }, nf.format(t.packets_sent + t.packets_received)),
      h("td", { class: "num" }, nf.format(t.flows)),
      h("td", { class: "share-cell" }, bar));
  });
  $("talkers").replaceChildren(
    h("thead", {}, h("tr", {}, ...["Address", "Main service", "Sent", "Received", "Packets", "Flows", "Share"].map((c, i) =>
      h("th", { class: i >= 2 && i <= 5 ? "num" : "" }, c)))),
    h("tbody", {}, ...(rows.length ? rows : [h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No IP traffic."))])));
}

function renderFailures(failures) {
  const total = failureTotal(failures);
  $("failures-total").textContent = nf.format(total);
  $("failures-total").dataset.value = String(total);
  const box = $("failures");
  box.replaceChildren();
  for (const [cls, body] of Object.entries(failures || {})) {
    const kinds = counted(body);
    const clsTotal = kinds.reduce((a, [, v]) => a + v.total, 0);
    const section = h("details", { class: "failure-class", "data-class": cls, "data-total": String(clsTotal) },
      h("summary", {},
        h("span", { class: "class-name" }, cls.toUpperCase()),
        h("span", { class: `pill ${clsTotal ? "bad" : ""}` }, clsTotal ? nf.format(clsTotal) : "none")));
    if (clsTotal) section.open = true;
    if (!kinds.length) {
      section.append(h("div", { class: "muted small pad" }, "No failures of this class detected."));
    }
    for (const [kind, c] of kinds) {
      section.append(h("div", { class: "failure-kind" },
        h("div", { class: "kind-head" }, h("span", {}, humanize(kind)), h("span", { class: "num" }, nf.format(c.total))),
        c.instances.length ? instancesTable(c.instances, c.total) : h("span", {})));
    }
    // Non-counted fields of the class (e.g. rates, summaries) as plain values.
    const extra = Object.fromEntries(Object.entries(body || {}).filter(([k]) => !kinds.some(([kk]) => kk === k)));
    if (Object.keys(extra).length) section.append(renderValue(extra));
    box.append(section);
  }
}

function instancesTable(instances, total) {
  const cols = [...new Set(instances.flatMap((i) => Object.keys(i)))].filter((k) => k !== "evidence");
  const hasEvidence = instances.some((i) => i.evidence);
  const head = [...(hasEvidence ? ["frames"] : []), ...cols];
  const rows = instances.map((i) => h("tr", {},
    ...(hasEvidence ? [h("td", {}, evidenceChips(i.evidence))] : []),
    ...cols.map((k) => {
      const text = fmtCell(i[k]);
      // Long prose (quality details, explanations) wraps instead of widening the page.
      const cls = typeof i[k] === "number" ? "num" : String(text).length > 48 ? "wrap" : "";
      return h("td", { class: cls }, text);
    })));
  const table = h("table", { class: "data compact" },
    h("thead", {}, h("tr", {}, ...head.map((c) => h("th", {}, humanize(c))))),
    h("tbody", {}, ...rows));
  const wrap = h("div", { class: "table-wrap" }, table);
  if (total > instances.length) wrap.append(h("div", { class: "muted small" }, `First ${instances.length} of ${nf.format(total)} shown.`));
  return wrap;
}

function evidenceChips(ev) {
  const list = Array.isArray(ev) ? ev : ev ? [ev] : [];
  return h("span", {}, ...list.map((e) => h("span", { class: "chip", title: `${fmtTs(e.ts)} · ${e.community_id || ""}` }, `#${e.frame}`)));
}

/** Sections a later schema adds (findings, anomalies): rendered from whatever shape they have. */
function renderGenericSection(id, title, value) {
  const box = $(id);
  box.hidden = value == null;
  if (value == null) return;
  box.replaceChildren(h("h2", {}, title), renderValue(value));
}

function renderValue(v, depth = 0) {
  if (v == null) return h("span", { class: "muted" }, "—");
  if (Array.isArray(v)) {
    if (!v.length) return h("span", { class: "muted" }, "none");
    if (v.every((x) => x && typeof x === "object" && !Array.isArray(x))) return instancesTable(v.slice(0, 50), v.length);
    return h("span", {}, v.map(fmtCell).join(", "));
  }
  if (typeof v === "object") {
    if (typeof v.total === "number" && Array.isArray(v.instances)) {
      return h("div", {}, h("div", { class: "kind-head" }, h("span", {}, "total"), h("span", { class: "num" }, nf.format(v.total))),
        instancesTable(v.instances, v.total));
    }
    if ("frame" in v && "ts" in v) return evidenceChips(v);
    const dl = h("dl", { class: depth ? "kv nested" : "kv" });
    for (const [k, x] of Object.entries(v)) {
      dl.append(h("dt", {}, humanize(k)), h("dd", {}, typeof x === "object" && x !== null ? renderValue(x, depth + 1) : fmtCell(x)));
    }
    return dl;
  }
  return h("span", {}, fmtCell(v));
}

// ---------- flow table ----------

const FLOW_COLS = [
  { key: "id", label: "#", num: true },
  { key: "transport", label: "Proto" },
  { key: "orig", label: "Originator", get: (f) => endpoint(f.orig_addr, f.orig_port, f.transport), mono: true },
  { key: "resp", label: "Responder", get: (f) => endpoint(f.resp_addr, f.resp_port, f.transport), mono: true },
  { key: "service", label: "Service", get: (f) => f.service || "" },
  { key: "conn_state", label: "State" },
  { key: "packets", label: "Packets", num: true, get: (f) => f.orig_packets + f.resp_packets, fmt: (v) => nf.format(v) },
  { key: "bytes", label: "Bytes", num: true, get: (f) => f.orig_bytes + f.resp_bytes, fmt: fmtBytes },
  { key: "duration_secs", label: "Duration", num: true, fmt: fmtDuration },
  { key: "first_frame", label: "Frames", num: true, get: (f) => f.first_frame, fmt: (v, f) => `${v}–${f.last_frame}` },
];

function setupFlows(r) {
  const transports = Object.keys(r.summary.flows.by_transport);
  const sel = $("flow-transport");
  sel.replaceChildren(h("option", { value: "" }, "All transports"), ...transports.map((t) => h("option", { value: t }, t)));
  $("flow-filter").value = "";
  flowView = { all: r.flows, rows: r.flows, sortKey: "id", sortDir: 1, page: 0 };
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
    return h("td", { class: `${c.num ? "num" : ""} ${c.mono ? "mono" : ""}`, title: c.key === "conn_state" ? `history ${f.history}` : "" },
      c.fmt ? c.fmt(v, f) : String(v));
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

function humanize(k) {
  return String(k).replace(/_/g, " ");
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

function fmtOffset(s) {
  return s == null ? "" : fmtDuration(s);
}

function fmtTime(iso) {
  return iso.replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function fmtTs(ts) {
  return new Date(ts * 1000).toISOString();
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
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    if (current && current.report) render(current.report, current.file.name, current.file.size, current.secs);
  });
}

wire();
startWorker();
