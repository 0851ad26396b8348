// The analysis worker: reads the file in slices and feeds the streaming
// Analyzer, so memory stays bounded by the slice size and the live flows
// (never by the file size) and the page never freezes. All analysis is the
// wasm core's; this file only moves bytes and messages.
import init, * as pcaplens from "./pkg/pcaplens.js";

/** Bytes read and fed per step: large enough to amortise calls, small enough for flat memory. */
const SLICE_BYTES = 4 * 1024 * 1024;
/** Progress messages at most this often. */
const PROGRESS_EVERY_MS = 100;

const ready = init().then(() => {
  postMessage({
    type: "ready",
    version: pcaplens.version(),
    // The sanitizer binding arrives with the core's sanitizer; offer it only when present.
    sanitize: typeof pcaplens.sanitize === "function",
    evidence: typeof pcaplens.evidence === "function",
    flowPackets: typeof pcaplens.FlowPacketScan === "function",
  });
});
ready.catch((e) => postMessage({ type: "fatal", message: `The analyzer could not start: ${e}` }));

onmessage = async (ev) => {
  const msg = ev.data;
  try {
    await ready;
    if (msg.type === "analyze") await analyzeFile(msg.file, msg.options);
    else if (msg.type === "sample") sample(msg.scenario, msg.options);
    else if (msg.type === "sanitize") await sanitizeFile(msg.file, msg.options);
    else if (msg.type === "csv") postMessage({ type: "csv", text: pcaplens.flowsCsv(msg.flows) });
    else if (msg.type === "flowPackets") await flowPackets(msg.file, msg.communityId, msg.max);
  } catch (e) {
    postMessage({ type: "fatal", message: String(e && e.message ? e.message : e) });
  }
};

async function analyzeFile(file, options) {
  const started = performance.now();
  const analyzer = new pcaplens.Analyzer(options);
  let lastProgress = 0;
  let offset = 0;
  // Read the next slice while the current one is analysed.
  let next = file.size > 0 ? file.slice(0, SLICE_BYTES).arrayBuffer() : null;
  try {
    while (next) {
      const buf = await next;
      const end = offset + buf.byteLength;
      next = end < file.size ? file.slice(end, end + SLICE_BYTES).arrayBuffer() : null;
      offset = end;
      analyzer.feed(new Uint8Array(buf));
      const now = performance.now();
      if (now - lastProgress >= PROGRESS_EVERY_MS || !next) {
        lastProgress = now;
        const p = analyzer.progress();
        postMessage({
          type: "progress",
          bytes: p.bytesFed,
          total: file.size,
          packets: p.packets,
          elapsedMs: now - started,
        });
      }
    }
  } catch (e) {
    // A capture error stops reading; the report below covers everything before
    // it and says what went wrong (status.error). Anything else is a real failure.
    if (!e || e.name !== "CaptureError") throw e;
  }
  // The core's own JSON text: downloads are byte-identical to `pcaplens analyze --json`.
  const json = analyzer.finishJson();
  postMessage({
    type: "result",
    json,
    ...llmEvidence(json),
    ...diagnosis(json),
    name: file.name,
    size: file.size,
    elapsedMs: performance.now() - started,
  });
}

function sample(scenario, options) {
  const bytes = pcaplens.generate(scenario, options);
  postMessage({ type: "sample", bytes, scenario }, [bytes.buffer]);
}

// One random key per page session, never shown or stored: pseudonyms are
// consistent within this session's downloads and cannot be reversed by anyone.
const sessionKey = crypto.getRandomValues(new Uint8Array(32));

/**
 * The core's evidence pack for a language model (`pcaplens prepare`'s prompt),
 * with the session key: its pseudonyms are those of the sanitized download.
 * Built from the report text, so it costs no second pass over the file.
 */
function llmEvidence(json) {
  if (typeof pcaplens.evidence !== "function") return {};
  try {
    const { prompt, tokens, tokenBudget, coverage, sanitized } = pcaplens.evidence(json, { key: sessionKey });
    return { evidence: { prompt, tokens, tokenBudget, coverage, sanitized } };
  } catch (e) {
    // Not a capture (the page says so already) or a real failure: the button stays off with the reason.
    return { evidenceError: String(e && e.message ? e.message : e) };
  }
}

/**
 * The core's ranked diagnosis for the page (`pcaplens ask --offline --no-sanitize`):
 * real addresses, since it is shown only to the person who has the capture.
 */
function diagnosis(json) {
  if (typeof pcaplens.evidence !== "function") return {};
  try {
    const { diagnoses, diagnosisText, coverageCounts, explainedBy } = pcaplens.evidence(json, { sanitize: false });
    return { diagnosis: { diagnoses, text: diagnosisText, coverage: coverageCounts, explainedBy: explainedBy || {} } };
  } catch {
    // Not a capture: the page shows that message instead.
    return {};
  }
}

async function sanitizeFile(file, options) {
  const sanitizer = new pcaplens.Sanitizer({ key: sessionKey, ...options });
  const parts = [];
  try {
    for (let offset = 0; offset < file.size;) {
      const buf = await file.slice(offset, offset + SLICE_BYTES).arrayBuffer();
      offset += buf.byteLength;
      const out = sanitizer.feed(new Uint8Array(buf));
      if (out.length) parts.push(out);
    }
  } catch (e) {
    // Damaged input: the output holds every frame before the damage (summary.error says where).
    if (!e || e.name !== "CaptureError") throw e;
  }
  const summary = sanitizer.finish();
  // A Blob of the parts: the browser may keep large ones on disk rather than in memory.
  const blob = new Blob(parts, { type: "application/vnd.tcpdump.pcap" });
  postMessage({ type: "sanitized", blob, summary, name: file.name });
}

/**
 * The packets of one flow for its detail: the file is read again (the page
 * keeps the File, not its bytes) through the core's FlowPacketScan.
 */
async function flowPackets(file, communityId, max) {
  const scan = new pcaplens.FlowPacketScan(communityId, max);
  for (let offset = 0; offset < file.size; offset += SLICE_BYTES) {
    const buf = await file.slice(offset, offset + SLICE_BYTES).arrayBuffer();
    if (!scan.feed(new Uint8Array(buf))) break;
  }
  postMessage({ type: "flowPackets", communityId, result: scan.finish() });
}
