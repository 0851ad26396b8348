// Shared by the tests and the benchmark: the built wasm package, the native
// CLI, and the captures to compare them on.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const WEB_DEMO = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = resolve(WEB_DEMO, "..");
// The conformance corpus, part of the repository (tests/corpus/MANIFEST.tsv).
export const CORPUS = join(REPO, "tests", "corpus");

/** The built package (bindings-wasm/build.sh), initialised for node. */
export async function loadWasm() {
  const glue = join(WEB_DEMO, "pkg", "pcaplens.js");
  if (!existsSync(glue)) {
    throw new Error(`${glue} is missing: build the package first with bindings-wasm/build.sh`);
  }
  const mod = await import(glue);
  await mod.default({ module_or_path: readFileSync(join(WEB_DEMO, "pkg", "pcaplens_bg.wasm")) });
  return mod;
}

/** Path of the release CLI (`cargo build --release -p pcaplens-cli`), or $PCAPLENS_CLI. */
export function cliPath() {
  const p = process.env.PCAPLENS_CLI || join(REPO, "target", "release", "pcaplens");
  if (!existsSync(p)) {
    throw new Error(`native CLI not found at ${p}: run \`cargo build --release -p pcaplens-cli\``);
  }
  return p;
}

/**
 * `pcaplens <args>`: stdout as text and the exit status (2 and 3 are reports too).
 * `input`: bytes for its standard input (for `-`).
 */
export function cli(args, input) {
  const r = spawnSync(cliPath(), args, { encoding: "utf8", maxBuffer: 1 << 30, input });
  if (r.error) throw r.error;
  if (r.status === 1 || r.status === null) {
    throw new Error(`pcaplens ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  }
  return { stdout: r.stdout, status: r.status, stderr: r.stderr };
}

export function scratchDir() {
  return mkdtempSync(join(tmpdir(), "pcaplens-wasm-"));
}

/** The generator's scenarios (must match `pcaplens_core::generate::Scenario`). */
export const SCENARIOS = [
  "normal", "tcp-resets", "retransmissions", "dns-failures", "http-errors", "port-scan",
  "long-lived", "blocklisted", "http-odd-port", "non-http-port80", "mixed",
];

/**
 * Every capture to check parity on: the project's fixtures, the public corpus
 * (tests/corpus: missing, it is an error), one generated capture per scenario,
 * and two bad inputs (not a capture; a capture cut mid-record).
 */
export function parityInputs(wasm, dir) {
  const inputs = [];
  const fixtures = join(REPO, "fixtures");
  if (existsSync(fixtures)) {
    for (const f of readdirSync(fixtures).sort()) {
      if (/\.(pcap|pcapng)$/.test(f)) inputs.push(join(fixtures, f));
    }
  }
  if (!existsSync(join(CORPUS, "MANIFEST.tsv"))) {
    throw new Error(
      `the conformance corpus is missing: ${CORPUS} should hold MANIFEST.tsv and the captures ` +
        "(it is part of the repository; restore it with `git checkout -- tests/corpus`)",
    );
  }
  const corpus = readdirSync(CORPUS).sort().filter((f) => /\.(pcap|pcapng)$/.test(f));
  if (corpus.length === 0) throw new Error(`no captures in ${CORPUS}`);
  for (const f of corpus) inputs.push(join(CORPUS, f));
  for (const s of SCENARIOS) {
    const p = join(dir, `gen-${s}.pcap`);
    writeFileSync(p, wasm.generate(s, { packets: 3000, seed: 11 }));
    inputs.push(p);
  }
  const full = wasm.generate("mixed", { packets: 2000, seed: 3 });
  const cut = join(dir, "bad-truncated.pcap");
  writeFileSync(cut, full.subarray(0, Math.floor(full.length * 0.6) + 7));
  inputs.push(cut);
  const text = join(dir, "bad-not-a-capture.txt");
  writeFileSync(text, "GET / HTTP/1.1\r\nHost: example.invalid\r\n\r\nthis is not a capture\n");
  inputs.push(text);
  return inputs;
}

/** Sum of every counted failure class's total (how the page's Failures card counts). */
export function failureTotal(report) {
  let total = 0;
  for (const cls of Object.values(report.failures || {})) {
    for (const v of Object.values(cls || {})) {
      if (v && typeof v === "object" && typeof v.total === "number" && Array.isArray(v.instances)) total += v.total;
    }
  }
  return total;
}

/** An address as a whole token (not inside a longer address or number). */
export function mentions(text, addr) {
  const esc = addr.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  // Not continued by more of an address: a hex digit or ":hex" for IPv6, a digit or ".digit" for IPv4
  // ("addr: sent …" and "addr:port" still count).
  const after = addr.includes(":") ? "(?![0-9A-Fa-f]|:[0-9A-Fa-f])" : "(?![0-9]|\\.[0-9])";
  return new RegExp(`(?<![0-9A-Fa-f.:])${esc}${after}`).test(text);
}

/** Addresses the sanitizer keeps because they identify no one (pseudo.rs: unspecified, broadcast, ::1). */
export const NAMES_NO_ONE = new Set(["0.0.0.0", "255.255.255.255", "::", "::1"]);

/** The report's top-talker addresses that sanitizing must hide. */
export function identifyingTalkers(report) {
  return report.summary.top_talkers.map((t) => t.addr).filter((a) => !NAMES_NO_ONE.has(a));
}
