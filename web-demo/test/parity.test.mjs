// Parity: the wasm package gives the native CLI's report, for every capture.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { before, describe, test } from "node:test";
import { cli, loadWasm, parityInputs, scratchDir } from "./helpers.mjs";

let wasm;
let dir;
let inputs;

before(async () => {
  wasm = await loadWasm();
  dir = scratchDir();
  inputs = parityInputs(wasm, dir);
});

/** Deterministic chunk sizes (1 byte up to ~64 kB) so streaming is exercised at every boundary kind. */
function* chunkSizes(seed) {
  let x = seed >>> 0 || 1;
  for (;;) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    yield 1 + (x % (x & 1 ? 97 : 65536));
  }
}

describe("wasm report equals `pcaplens analyze --json`", () => {
  test("every input, whole, streamed in odd chunks, and as a JS object", () => {
    assert.ok(inputs.length >= 13, `expected fixtures/corpus/generated inputs, got ${inputs.length}`);
    let checked = 0;
    for (const path of inputs) {
      const bytes = readFileSync(path);
      const native = cli(["analyze", "--json", path]).stdout;
      const name = basename(path);

      // The core's JSON text through wasm: byte for byte the CLI's.
      assert.equal(wasm.analyzeJson(bytes) + "\n", native, `${name}: analyzeJson differs from the CLI`);

      // Streaming: any chunking gives the same report.
      const a = new wasm.Analyzer();
      const sizes = chunkSizes(bytes.length + checked);
      for (let off = 0; off < bytes.length;) {
        const n = sizes.next().value;
        try {
          a.feed(bytes.subarray(off, off + n));
        } catch (e) {
          assert.equal(e.name, "CaptureError", `${name}: feed threw ${e}`);
          break;
        }
        off += n;
      }
      assert.equal(a.finishJson() + "\n", native, `${name}: streamed report differs from the CLI`);

      // Plain JS object (serde-wasm-bindgen): what JSON.parse gives for the CLI's text.
      const obj = wasm.analyze(bytes);
      assert.deepStrictEqual(obj, JSON.parse(native), `${name}: report object differs from the CLI's JSON`);
      checked++;
    }
    assert.equal(checked, inputs.length);
  });

  test("JSON.stringify of the report object differs from the CLI only in float spelling", () => {
    // serde_json writes whole floats as `0.0`; JavaScript as `0`. Everything else matches,
    // which is why finishJson()/analyzeJson() exist for byte-exact output.
    const path = inputs.find((p) => basename(p) === "gen-mixed.pcap");
    const native = cli(["analyze", "--json", path]).stdout;
    const js = JSON.stringify(wasm.analyze(readFileSync(path)), null, 2) + "\n";
    const normalise = (s) => s.replace(/(-?\d+)\.0(?=[,\n])/g, "$1");
    assert.equal(normalise(js), normalise(native));
  });

  test("options map onto the CLI flags", () => {
    const path = inputs.find((p) => basename(p) === "gen-mixed.pcap");
    const native = cli(["analyze", "--json", "--flows-limit", "5", "--top", "3", "--idle-timeout", "30", path]).stdout;
    const got = wasm.analyzeJson(readFileSync(path), { flowsLimit: 5, top: 3, idleTimeout: 30 });
    assert.equal(got + "\n", native);
    assert.equal(JSON.parse(got).flows.length, 5);
  });

  test("options: every spelling of a key maps like the CLI's --config file and flags", () => {
    // The same keys as the Python front (bindings-py/tests/test_analyze.py: SAME_SETTINGS).
    const path = inputs.find((p) => basename(p) === "gen-mixed.pcap");
    const config = join(dir, "pcaplens.toml");
    writeFileSync(config, "top_n = 2\n[detect.long_lived]\nmin_duration_secs = 60\n[detect.ports]\nmax_ordinary_port = 20000\n");
    const native = cli(["analyze", "--json", "--config", config, path]).stdout;
    const bytes = readFileSync(path);
    for (const options of [
      { long_conn_threshold: 60, unusual_port_threshold: 20000, top: 2 },
      { longConnThreshold: 60, unusualPortThreshold: 20000, top: 2 },
      { detect: { long_lived: { min_duration_secs: 60 }, ports: { max_ordinary_port: 20000 } }, top_n: 2 },
      { "detect.long_lived.min_duration_secs": 60, "detect.ports.maxOrdinaryPort": 20000, top_n: 2, maxFlows: undefined },
    ]) {
      assert.equal(wasm.analyzeJson(bytes, options) + "\n", native, JSON.stringify(options));
    }
    assert.notEqual(wasm.analyzeJson(bytes) + "\n", native);
  });

  test("flowsCsv gives the CLI's --flows CSV rows", () => {
    const path = inputs.find((p) => basename(p) === "gen-mixed.pcap");
    const csvPath = join(dir, "flows.csv");
    const native = JSON.parse(cli(["analyze", "--json", "--flows", csvPath, path]).stdout);
    const ours = wasm.flowsCsv(native.flows).trimEnd().split("\n");
    // The CLI's file has a leading `file` column and lists flows in finishing order.
    const theirs = readFileSync(csvPath, "utf8").trimEnd().split("\n")
      .map((l) => l.slice(l.indexOf(",") + 1));
    assert.equal(ours[0], theirs[0], "header");
    const byId = (l) => Number(l.split(",")[0]);
    assert.deepEqual(ours.slice(1), theirs.slice(1).sort((x, y) => byId(x) - byId(y)));
    assert.equal(ours.length - 1, native.flows.length);
  });
});

describe("bad input", () => {
  test("a non-capture throws a CaptureError from feed and reports not_a_capture", () => {
    const a = new wasm.Analyzer();
    assert.throws(() => a.feed(new TextEncoder().encode("hello, this is text, not a pcap")), (e) =>
      e.name === "CaptureError" && e.code === "not_a_capture" && /not a pcap or pcapng/.test(e.message));
    const r = a.finish();
    assert.equal(r.status.error.code, "not_a_capture");
    assert.equal(r.summary.packets, 0);
  });

  test("a truncated capture gives a partial report of what came before", () => {
    const full = wasm.generate("normal", { packets: 1000, seed: 5 });
    const whole = wasm.analyze(full);
    const cut = wasm.analyze(full.subarray(0, Math.floor(full.length / 2)));
    assert.equal(cut.status.partial, true);
    assert.equal(cut.status.error.code, "truncated");
    assert.ok(cut.summary.packets > 0 && cut.summary.packets < whole.summary.packets);
    assert.equal(cut.status.error.next_frame, cut.summary.packets + 1);
  });

  test("unknown options and scenarios are refused with a clear error", () => {
    assert.throws(() => new wasm.Analyzer({ flowLimit: 3 }), (e) => e.name === "OptionsError" && /flowLimit/.test(e.message));
    assert.throws(() => new wasm.Analyzer({ maxFlows: 0 }), (e) => e.name === "OptionsError" && /max_flows/.test(e.message));
    assert.throws(() => wasm.generate("no-such-scenario"), (e) => e.name === "OptionsError" && /unknown scenario/.test(e.message));
  });

  test("an unknown key is refused with the same message as the Python front", () => {
    // The literal asserted by bindings-py/tests/test_analyze.py (UNKNOWN_KEY_MESSAGE).
    const message = "unknown option 'detect.scan.vertical_min_portz'; expected one of: vertical_min_ports, "
      + "horizontal_min_hosts, sweep_min_hosts, window_secs, max_sources, max_probes_per_source, max_listed, "
      + "retire_after_secs";
    for (const options of [
      { detect: { scan: { vertical_min_portz: 3 } } },
      { "detect.scan.vertical_min_portz": 3 },
      { detect: { "scan.vertical_min_portz": 3 } },
    ]) {
      assert.throws(() => new wasm.Analyzer(options), (e) => e.name === "OptionsError" && e.code === "invalid_options" && e.message === message);
      assert.throws(() => wasm.analyze(new Uint8Array(0), options), (e) => e.message === message);
    }
  });

  test("the wasm front accepts the same option names as the Python front", () => {
    // sha256 of optionNames().join(","): the digest bindings-py/tests/test_analyze.py
    // asserts for pcaplens.OPTION_NAMES (OPTION_NAMES_SHA256).
    const names = wasm.optionNames();
    assert.equal(createHash("sha256").update(names.join(",")).digest("hex"), "e070484f8d4f11961152ef89d46b7b2f06511df50b8745941b5cd4ec1cc65fee");
    assert.ok(names.includes("detect.scan.window_secs") && names.includes("long_conn_threshold"));
    assert.match(wasm.optionDefaults(), /^min_duration_secs = 3600$/m);
  });

  test("progress counts bytes and packets as they are fed", () => {
    const pcap = wasm.generate("normal", { packets: 500, seed: 4 });
    const a = new wasm.Analyzer();
    assert.deepEqual(a.progress(), { bytesFed: 0, packets: 0, liveFlows: 0 });
    a.feed(pcap.subarray(0, 10_000));
    const p = a.progress();
    assert.equal(p.bytesFed, 10_000);
    assert.ok(p.packets > 0 && p.liveFlows > 0, JSON.stringify(p));
    a.feed(pcap.subarray(10_000));
    assert.equal(a.progress().packets, a.finish().summary.packets);
  });

  test("an analyzer cannot be finished twice", () => {
    const a = new wasm.Analyzer();
    a.finish();
    assert.throws(() => a.finish(), (e) => e.code === "finished");
    assert.throws(() => a.feed(new Uint8Array(4)), (e) => e.code === "finished");
  });
});

describe("generate", () => {
  test("is deterministic per seed and matches the requested size", () => {
    const a = wasm.generate("dns-failures", { packets: 1500, seed: 9 });
    const b = wasm.generate("dns-failures", { packets: 1500, seed: 9 });
    const c = wasm.generate("dns-failures", { packets: 1500, seed: 10 });
    assert.ok(a instanceof Uint8Array);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const r = wasm.analyze(a);
    assert.equal(r.status.complete, true);
    assert.ok(Math.abs(r.summary.packets - 1500) < 200, `packets ${r.summary.packets}`);
    writeFileSync(join(dir, "gen-check.pcap"), a);
    assert.equal(cli(["analyze", "--json", join(dir, "gen-check.pcap")]).status, 0);
  });
});

describe("sanitize equals `pcaplens sanitize`", () => {
  test("same key → the CLI's bytes, one-shot (a file) and streamed (standard input); the result is a clean capture", () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
    const keyFile = join(dir, "key.hex");
    writeFileSync(keyFile, Buffer.from(key).toString("hex"));
    // Generated scenarios plus every corpus/fixture capture that reads cleanly.
    const picks = inputs.filter((p) => !basename(p).startsWith("bad-"));
    let checked = 0;
    for (const path of picks) {
      const name = basename(path);
      const bytes = readFileSync(path);
      const out = join(dir, `san-${name}`);
      const r = cli(["sanitize", path, "-o", out, "--key-file", keyFile]);
      if (r.status === 2) continue; // the CLI refused the input (not a capture it can rewrite)
      const native = readFileSync(out);
      const ours = wasm.sanitize(bytes, { key });
      assert.ok(Buffer.from(ours).equals(native), `${name}: wasm sanitize differs from the CLI`);

      const s = new wasm.Sanitizer({ key });
      const parts = [];
      const sizes = chunkSizes(bytes.length);
      for (let off = 0; off < bytes.length;) {
        const n = sizes.next().value;
        try {
          parts.push(s.feed(bytes.subarray(off, off + n)));
        } catch (e) {
          assert.equal(e.name, "CaptureError", `${name}: ${e}`);
          break;
        }
        off += n;
      }
      const summary = s.finish();
      // A stream is read once, as the CLI reads standard input: a file may
      // take a second pass (QUIC hellos, TLS names or certificate strings a
      // packet boundary cut), a stream keeps the first pass's zeros.
      const outStream = join(dir, `san-stdin-${name}`);
      cli(["sanitize", "-", "-o", outStream, "--key-file", keyFile], bytes);
      const nativeStream = readFileSync(outStream);
      assert.ok(Buffer.concat(parts).equals(nativeStream), `${name}: streamed sanitize differs from the CLI's`);
      assert.equal(summary.bytes_out, nativeStream.length);
      assert.equal(nativeStream.length, native.length, `${name}: both passes keep every length`);
      checked++;
    }
    assert.ok(checked >= 11, `sanitize parity checked on ${checked} captures`);
    // The sanitized capture still analyses with the same packet count.
    const mixed = inputs.find((p) => basename(p) === "gen-mixed.pcap");
    const before = wasm.analyze(readFileSync(mixed));
    const after = wasm.analyze(wasm.sanitize(readFileSync(mixed), { key }));
    assert.equal(after.status.complete, true);
    assert.equal(after.summary.packets, before.summary.packets);
    assert.equal(after.summary.flows.total, before.summary.flows.total);
  });

  test("options are checked: a key is required and at least 16 bytes", () => {
    const pcap = wasm.generate("normal", { packets: 100 });
    assert.throws(() => wasm.sanitize(pcap), (e) => e.name === "OptionsError" && /key/.test(e.message));
    assert.throws(() => wasm.sanitize(pcap, { key: new Uint8Array(8) }), (e) => /at least 16 bytes/.test(e.message));
    assert.throws(() => wasm.sanitize(pcap, { key: new Uint8Array(16), payload: "shred" }), (e) => /payload policy/.test(e.message));
    assert.throws(() => new wasm.Sanitizer({ key: new Uint8Array(16), mode: 1 }), (e) => /unknown sanitize option `mode`/.test(e.message));
  });
});
