// Compiled (not run) by types.test.mjs: the package's TypeScript types describe
// the real API and the report (docs/report.md).
import init, { Analyzer, analyze, generate, sanitize, Sanitizer, flowsCsv, evidence, optionNames, optionDefaults } from "../pkg/pcaplens.js";
import type { Report, FlowSummary, Progress, SanitizeSummary, EvidencePack, Diagnosis } from "../pkg/pcaplens.js";

export async function use(bytes: Uint8Array): Promise<number> {
  await init();
  const a = new Analyzer({ idleTimeout: 60, maxFlows: 1000, flowsLimit: 10, top: 5 });
  const tuned: Report = analyze(bytes, {
    longConnThreshold: 60, unusualPortThreshold: 20000, flowsLimit: null, anomaly: false,
    detect: { scan: { verticalMinPorts: 5 }, blocklist: { entries: ["10.0.0.0/8"] } },
  });
  const names: string[] = optionNames();
  const defaults: string = optionDefaults();
  a.feed(bytes);
  const p: Progress = a.progress();
  const r: Report = a.finish();
  const rows: FlowSummary[] = r.flows;
  const first: string | null = rows[0]?.service ?? null;
  const failed: number = r.status.error ? r.status.error.next_frame : p.packets;
  const sample: Uint8Array = generate("mixed", { packets: 1000, seed: 1 });
  const again: Report = analyze(sample, undefined);
  const key = new Uint8Array(32);
  const clean: Uint8Array = sanitize(sample, { key, payload: "redact" });
  const s = new Sanitizer({ key });
  const out: Uint8Array = s.feed(clean);
  const summary: SanitizeSummary = s.finish();
  const csv: string = flowsCsv(again.flows);
  const pack: EvidencePack = evidence(sample, { key, budget: 4000, focus: "dns" });
  const fromReport: EvidencePack = evidence(again, { sanitize: false });
  const top: Diagnosis | undefined = pack.diagnoses[0];
  const coverage: string = pack.coverage + fromReport.coverageCounts.flows_total;
  return r.summary.packets + r.summary.flows.total + failed + out.length + summary.bytes_out + csv.length + (first ? 1 : 0) +
    pack.tokens + pack.prompt.length + coverage.length + (top ? top.frames.length : 0) +
    tuned.summary.packets + names.length + defaults.length;
}
