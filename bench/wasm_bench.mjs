#!/usr/bin/env node
// wasm vs native: analysis throughput of the wasm package under node against
// `pcaplens analyze --json` on the same 1,000,000-packet capture, side by side
// (native on one thread, like for like, and the CLI's default, which adds a
// second thread when the two cores share a cache), plus the gzipped size of
// the wasm module.
//
// Usage: node bench/wasm_bench.mjs [--packets N] [--capture FILE] [--runs N]
// Needs: bindings-wasm/build.sh and `cargo build --release -p pcaplens-cli`.
// The capture is `pcaplens generate --scenario normal` when the CLI has that
// command, otherwise the same core generator through the wasm package.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import { cliPath, loadWasm, WEB_DEMO } from "../web-demo/test/helpers.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const packets = Number(opt("--packets", 1_000_000));
const runs = Number(opt("--runs", 3));
const capture = opt("--capture", `/tmp/bench-${packets}.pcap`);
const SLICE = 4 << 20; // as the page's worker reads files

const wasm = await loadWasm();
const cli = cliPath();

if (!existsSync(capture)) {
  const gen = spawnSync(cli, ["generate", "--scenario", "normal", "--packets", String(packets), "-o", capture], { stdio: ["ignore", "inherit", "pipe"] });
  if (gen.status !== 0) {
    console.log("(the CLI has no `generate`; generating with the same core through wasm)");
    writeFileSync(capture, wasm.generate("normal", { packets }));
  }
}
const size = statSync(capture).size;

function native() {
  const t = performance.now();
  const r = spawnSync(cli, ["analyze", "--json", capture], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`pcaplens analyze failed: ${r.stderr}`);
  return { secs: (performance.now() - t) / 1000, json: r.stdout.toString() };
}

// The same analysis on one native thread, as the wasm package runs it: the
// CLI reads standard input on its own thread (no read-ahead stage).
function nativeOneThread() {
  const fd = openSync(capture, "r");
  const t = performance.now();
  const r = spawnSync(cli, ["analyze", "--json", "-"], { stdio: [fd, "pipe", "pipe"], maxBuffer: 1 << 30 });
  const secs = (performance.now() - t) / 1000;
  closeSync(fd);
  if (r.status !== 0) throw new Error(`pcaplens analyze - failed: ${r.stderr}`);
  return { secs, json: r.stdout.toString() };
}
function inWasm() {
  // Read in slices and stream, as the page does (file reading included in the time, as for the CLI).
  const t = performance.now();
  const a = new wasm.Analyzer();
  const fd = openSync(capture, "r");
  const buf = Buffer.allocUnsafe(SLICE);
  for (let n; (n = readSync(fd, buf, 0, SLICE, null)) > 0;) a.feed(buf.subarray(0, n));
  closeSync(fd);
  const json = a.finishJson();
  return { secs: (performance.now() - t) / 1000, json: json + "\n" };
}

const best = (f) => {
  let b = null;
  for (let i = 0; i < runs; i++) {
    const r = f();
    if (!b || r.secs < b.secs) b = r;
  }
  return b;
};
const n = best(native);
const n1 = best(nativeOneThread);
const w = best(inWasm);
const report = JSON.parse(n.json);
const pk = report.summary.packets;
const row = (name, r) =>
  `${name.padEnd(22)} ${r.secs.toFixed(3).padStart(8)} s ${(pk / r.secs / 1e6).toFixed(2).padStart(8)} Mpkt/s ${(size / 1e6 / r.secs).toFixed(0).padStart(7)} MB/s`;
const wasmFile = join(WEB_DEMO, "pkg", "pcaplens_bg.wasm");
const raw = readFileSync(wasmFile);
const gz = gzipSync(raw, { level: 9 }).length;

console.log(`capture: ${capture} (${pk.toLocaleString("en-US")} packets, ${(size / 1e6).toFixed(1)} MB), best of ${runs}`);
console.log(row("native CLI (default)", n));
console.log(row("native, 1 thread", n1));
console.log(row(`wasm (node ${process.version})`, w));
// Like for like: the wasm package has one thread, so the target compares it
// with the same analysis on one native thread. The CLI's default runs its first
// stage on a second core when the two cores share a cache; that ratio is
// printed too.
const ratio = n1.secs / w.secs;
console.log(`wasm/native throughput, one thread each: ${ratio.toFixed(2)} (target >= 0.50) ${ratio >= 0.5 ? "OK" : "BELOW TARGET"}`);
console.log(`wasm/native throughput, native CLI default: ${(n.secs / w.secs).toFixed(2)}`);
const same = n.json === w.json && n1.json === w.json;
console.log(`same report: ${same ? "yes" : "NO"}`);
console.log(`wasm module: ${raw.length.toLocaleString("en-US")} bytes, ${gz.toLocaleString("en-US")} gzipped (limit 1,048,576) ${gz < 1 << 20 ? "OK" : "TOO LARGE"}`);
if (!same || gz >= 1 << 20) process.exitCode = 1;
