// Evidence pack parity: the wasm `evidence()` gives `pcaplens prepare`'s
// ai_analysis_prompt.md for the same key, and leaks none of the original addresses.
//
// Token counting differs on purpose: the CLI counts with the model's real
// tokenizer (o200k_base for gpt-4o), the wasm package with the core's default,
// one token per byte (an upper bound; the real tables are several MB, too big
// for the page). So with a budget both fit entirely the prompts must be byte
// for byte equal; at the default budget the wasm prompt may hold fewer blocks
// or end its last block earlier, and then what it holds must be lines of the
// CLI's prompt (a prefix of it when the coverage is the same), the system
// prompt must be equal, and it must stay under the budget in bytes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { before, describe, test } from "node:test";
import { cli, cliPath, identifyingTalkers, loadWasm, mentions, parityInputs, scratchDir } from "./helpers.mjs";

const KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 53 + 7) & 0xff);
/** A budget no fixture's evidence reaches, in bytes or tokens: both fronts include every block. */
const UNBOUNDED = 10_000_000;
const DEFAULT_BUDGET = 8000;

let wasm, dir, inputs, keyFile;

before(async () => {
  wasm = await loadWasm();
  dir = scratchDir();
  inputs = parityInputs(wasm, dir);
  keyFile = join(dir, "evidence.key");
  writeFileSync(keyFile, Buffer.from(KEY).toString("hex") + "\n");
});

/** `pcaplens prepare`; returns the prompt, summary.json and the exit status. */
function prepare(path, name, extra = []) {
  const out = join(dir, `prep-${name}`);
  // --model pins the tokenizer: prepare would otherwise read it from the environment.
  const r = spawnSync(cliPath(), ["prepare", path, "-o", out, "--key-file", keyFile, "--model", "gpt-4o", ...extra],
    { encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) return { status: r.status, stderr: r.stderr };
  return {
    status: 0,
    prompt: readFileSync(join(out, "ai_analysis_prompt.md"), "utf8"),
    summary: JSON.parse(readFileSync(join(out, "summary.json"), "utf8")),
  };
}

const systemPart = (prompt) => prompt.slice(0, prompt.indexOf("<!-- user -->"));
const isCoverage = (line) => line.startsWith("Coverage: ");

/**
 * `evidence()` against `prepare --budget` at a budget that may cut: with the
 * same coverage, the CLI's prompt or a prefix of it; else only lines of the
 * CLI's prompt.
 */
function compareAtBudget(path, name, bytes, budget) {
  const def = prepare(path, `${name}-budget-${budget}`, ["--budget", String(budget)]);
  assert.equal(def.status, 0, `${name}: prepare failed: ${def.stderr}`);
  const ours = wasm.evidence(bytes, { key: KEY, budget });
  assert.equal(ours.tokenBudget, budget);
  assert.equal(ours.tokens, Buffer.byteLength(ours.systemPrompt) + Buffer.byteLength(ours.evidence), `${name}: tokens are bytes`);
  assert.ok(ours.tokens <= budget, `${name}: ${ours.tokens} bytes over the budget ${budget}`);
  assert.equal(systemPart(ours.prompt), systemPart(def.prompt), `${name}: system prompt`);
  assert.ok(ours.prompt.includes(`\n${ours.coverage}\n`), `${name}: the coverage line is in the prompt`);
  if (isDeepStrictEqual(ours.coverageCounts, def.summary.coverage)) {
    // The same blocks that count toward coverage; the last block, one that
    // counts nothing (the top talkers), may end earlier in bytes than in tokens.
    assert.ok(def.prompt.startsWith(ours.prompt), `${name}: same coverage, so the CLI's prompt starts with ours`);
    return ours.prompt === def.prompt ? "identical" : "subset";
  }
  // Fewer blocks fit in bytes than in tokens: every line we kept is one of the CLI's.
  const theirs = new Set(def.prompt.split("\n"));
  for (const line of ours.prompt.split("\n")) {
    if (!isCoverage(line)) assert.ok(theirs.has(line), `${name}: line not in prepare's prompt: ${line}`);
  }
  assert.ok(ours.coverageCounts.flows_covered <= def.summary.coverage.flows_covered, `${name}: covers more than the CLI`);
  assert.ok(ours.evidence.length < def.prompt.length, `${name}: holds less than the CLI`);
  return "subset";
}

describe("wasm evidence equals `pcaplens prepare`", () => {
  test("every capture: byte-identical prompt when both fit, consistent at the default budget, no original address", () => {
    let identicalFull = 0, identicalDefault = 0, subsetDefault = 0, addressesChecked = 0;
    for (const path of inputs) {
      const name = basename(path);
      const bytes = readFileSync(path);
      const full = prepare(path, `${name}-full`, ["--budget", String(UNBOUNDED)]);
      if (name === "bad-not-a-capture.txt") {
        // prepare refuses it; so does evidence(), with the report's error code.
        assert.notEqual(full.status, 0, `${name}: prepare should refuse a non-capture`);
        assert.throws(() => wasm.evidence(bytes, { key: KEY }), (e) => e.code === "not_a_capture" && /not a pcap/.test(e.message));
        continue;
      }
      assert.equal(full.status, 0, `${name}: prepare failed: ${full.stderr}`);

      // Unbounded budget: every block in both, so the texts must agree byte for byte.
      const ours = wasm.evidence(bytes, { key: KEY, budget: UNBOUNDED });
      assert.equal(ours.prompt, full.prompt, `${name}: wasm prompt differs from prepare's ai_analysis_prompt.md`);
      assert.deepEqual(ours.coverageCounts, full.summary.coverage, `${name}: coverage`);
      assert.equal(ours.sanitized, true);
      identicalFull++;

      // The page's route: the report (JSON text or object) instead of the capture gives the same pack.
      const native = cli(["analyze", "--json", path]).stdout;
      assert.equal(wasm.evidence(native, { key: KEY, budget: UNBOUNDED }).prompt, ours.prompt, `${name}: from report JSON`);
      assert.equal(wasm.evidence(JSON.parse(native), { key: KEY, budget: UNBOUNDED }).prompt, ours.prompt, `${name}: from report object`);

      // Default budget: the CLI counts real tokens, we count bytes (an upper bound).
      if (compareAtBudget(path, name, bytes, DEFAULT_BUDGET) === "identical") identicalDefault++;
      else subsetDefault++;
      const small = wasm.evidence(bytes, { key: KEY });

      // No original address of the report's top talkers survives (the unsanitized pack shows them).
      const report = JSON.parse(native);
      const plain = wasm.evidence(bytes, { sanitize: false, budget: UNBOUNDED });
      assert.equal(plain.sanitized, false);
      for (const addr of identifyingTalkers(report)) {
        for (const text of [ours.prompt, small.prompt]) {
          assert.ok(!mentions(text, addr), `${name}: original address ${addr} in the sanitized prompt`);
        }
        assert.ok(mentions(plain.prompt, addr), `${name}: ${addr} missing from the unsanitized prompt (check is blind)`);
        addressesChecked++;
      }
    }
    console.log(`evidence parity: ${identicalFull} byte-identical at an unbounded budget; at the default budget ` +
      `${identicalDefault} identical, ${subsetDefault} a subset (bytes vs o200k tokens); ${addressesChecked} top-talker addresses absent`);
    assert.ok(identicalFull >= 12, `only ${identicalFull} captures compared`);
    assert.ok(addressesChecked >= 20, `only ${addressesChecked} addresses checked`);
  });

  test("focus maps onto --focus", () => {
    const path = inputs.find((p) => basename(p) === "gen-dns-failures.pcap");
    for (const focus of ["errors", "performance", "dns", "security"]) {
      const cliPack = prepare(path, `focus-${focus}`, ["--budget", String(UNBOUNDED), "--focus", focus]);
      const ours = wasm.evidence(readFileSync(path), { key: KEY, budget: UNBOUNDED, focus });
      assert.equal(ours.focus, focus);
      assert.equal(ours.prompt, cliPack.prompt, `focus ${focus}`);
    }
  });

  test("pseudonyms agree with the sanitized capture of the same key", () => {
    const path = inputs.find((p) => basename(p) === "gen-mixed.pcap");
    const bytes = readFileSync(path);
    const pack = wasm.evidence(bytes, { key: KEY, budget: UNBOUNDED });
    const sanitized = wasm.analyze(wasm.sanitize(bytes, { key: KEY }));
    assert.ok(sanitized.summary.top_talkers.length >= 3);
    for (const t of sanitized.summary.top_talkers) {
      assert.ok(pack.prompt.includes(`- ${t.addr}: sent ${t.bytes_sent} B, received ${t.bytes_received} B`),
        `talker ${t.addr} of the sanitized capture is not in the evidence`);
    }
    // Another key, other pseudonyms.
    const other = wasm.evidence(bytes, { key: KEY.map((b) => b ^ 0x5a), budget: UNBOUNDED });
    assert.notEqual(other.prompt, pack.prompt);
  });

  test("a tight budget is honoured and said in the coverage line", () => {
    const path = inputs.find((p) => basename(p) === "gen-mixed.pcap");
    const all = wasm.evidence(readFileSync(path), { key: KEY, budget: UNBOUNDED });
    const tight = wasm.evidence(readFileSync(path), { key: KEY, budget: 3000 });
    assert.ok(tight.tokens <= 3000 && tight.tokens < all.tokens, `${tight.tokens} vs ${all.tokens}`);
    assert.ok(tight.coverageCounts.flows_covered < all.coverageCounts.flows_covered, tight.coverage);
    assert.match(tight.coverage, /^Coverage: covers \d+ of \d+ flows, \d+ of \d+ failures/);
    // Here bytes and o200k tokens keep different blocks: the wasm prompt is a part of the CLI's.
    assert.equal(compareAtBudget(path, "gen-mixed.pcap", readFileSync(path), 3000), "subset");
  });

  test("options are checked", () => {
    const pcap = wasm.generate("normal", { packets: 100 });
    assert.throws(() => wasm.evidence(pcap), (e) => e.name === "OptionsError" && /key/.test(e.message));
    assert.throws(() => wasm.evidence(pcap, { key: new Uint8Array(16) }), (e) => /exactly 32 bytes, got 16/.test(e.message));
    assert.throws(() => wasm.evidence(pcap, { key: KEY, focus: "vibes" }), (e) => /unknown focus `vibes`/.test(e.message));
    assert.throws(() => wasm.evidence(pcap, { key: KEY, budgt: 10 }), (e) => /unknown evidence option `budgt`/.test(e.message));
    assert.throws(() => wasm.evidence("{not json", { key: KEY }), (e) => e.code === "invalid_options" && /report JSON/.test(e.message));
  });
});
