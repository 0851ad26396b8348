// End to end in headless Chromium: the page served on 127.0.0.1 analyses
// captures in the browser, shows the CLI's numbers, downloads the CLI's JSON,
// and sends nothing anywhere.
import assert from "node:assert/strict";
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { after, before, describe, test } from "node:test";
import { cli, cliPath, CORPUS, failureTotal, identifyingTalkers, loadWasm, mentions, scratchDir, WEB_DEMO } from "./helpers.mjs";
import { spawnSync } from "node:child_process";

const nf = (n) => new Intl.NumberFormat("en-US").format(n);
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const RESULTS = join(WEB_DEMO, "test-results");
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json", ".ts": "text/plain", ".svg": "image/svg+xml",
};
// The page's own policy, also sent as a header so the worker (which a <meta> policy does not reach) has it too.
const CSP = readFileSync(join(WEB_DEMO, "index.html"), "utf8").match(/http-equiv="Content-Security-Policy"\s+content="([^"]+)"/)[1];

let server, origin, browser, wasm, dir;
const requests = [];

function serve() {
  return new Promise((resolve) => {
    const s = createServer((req, res) => {
      const url = new URL(req.url, "http://x");
      let path = normalize(join(WEB_DEMO, decodeURIComponent(url.pathname)));
      if (!path.startsWith(WEB_DEMO + sep) && path !== WEB_DEMO) { res.writeHead(403).end(); return; }
      if (existsSync(path) && statSync(path).isDirectory()) path = join(path, "index.html");
      if (!existsSync(path) || path.includes(`${sep}node_modules${sep}`)) { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-type": TYPES[extname(path)] || "application/octet-stream", "content-security-policy": CSP });
      createReadStream(path).pipe(res);
    });
    s.listen(0, "127.0.0.1", () => resolve(s));
  });
}

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  wasm = await loadWasm();
  dir = scratchDir();
  mkdirSync(RESULTS, { recursive: true });
  server = await serve();
  origin = `http://127.0.0.1:${server.address().port}`;
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    // launch() gives the browser a new, empty profile directory of its own (it refuses --user-data-dir).
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** A fresh page with every request and every error recorded. */
async function openPage(colorScheme = "light", { clipboard = true } = {}) {
  const context = await browser.newContext({ acceptDownloads: true, colorScheme, viewport: { width: 1366, height: 900 } });
  if (clipboard) await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  // A browser without a usable clipboard (insecure context, policy): the page must fall back.
  else await context.addInitScript(() => Object.defineProperty(Navigator.prototype, "clipboard", { get: () => undefined }));
  const errors = [];
  context.on("request", (r) => requests.push({ url: r.url(), method: r.method() }));
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("worker", (w) => w.on("console", (m) => { if (m.type() === "error") errors.push(`worker: ${m.text()}`); }));
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => document.getElementById("version").textContent !== "", null, { timeout: 30_000 });
  return { context, page, errors };
}

/** Waits until the page shows results or an error; returns which. */
async function settle(page) {
  await page.waitForSelector("#results:not([hidden]), #error:not([hidden])", { timeout: 60_000 });
  return (await page.isVisible("#error")) ? "error" : "results";
}

async function metric(page, name) {
  return Number(await page.getAttribute(`[data-metric=${name}]`, "data-value"));
}

async function assertNumbersMatch(page, report) {
  assert.equal(await metric(page, "packets"), report.summary.packets, "packets card");
  assert.equal(await metric(page, "flows"), report.summary.flows.total, "flows card");
  assert.equal(await metric(page, "failures"), failureTotal(report), "failures card");
  assert.equal(await metric(page, "duration"), report.summary.duration_secs, "duration card");
  assert.equal(await page.textContent("[data-metric=packets] .card-value"), report.summary.packets.toLocaleString("en-US"));
  // Each failure class shows its own total.
  for (const [cls, body] of Object.entries(report.failures)) {
    const expected = failureTotal({ failures: { [cls]: body } });
    assert.equal(Number(await page.getAttribute(`.failure-class[data-class=${cls}]`, "data-total")), expected, `failures.${cls}`);
  }
  const talkers = await page.$$eval("#talkers tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(talkers, report.summary.top_talkers.map((t) => t.addr), "top talkers");
}

/**
 * The copied LLM summary: prepare's system prompt, the coverage line shown next to the button,
 * pseudonyms instead of the original top talkers — the sanitized download's talkers when given.
 */
function checkPrompt(prompt, coverage, report, path, sanitizedTalkers) {
  const out = join(dir, `prepare-${Math.random().toString(36).slice(2)}`);
  const r = spawnSync(cliPath(), ["prepare", path, "-o", out, "--model", "gpt-4o"], { encoding: "utf8" });
  assert.equal(r.status, 0, `pcaplens prepare failed: ${r.stderr}`);
  const cliPrompt = readFileSync(join(out, "ai_analysis_prompt.md"), "utf8");
  const system = (p) => p.slice(0, p.indexOf("<!-- user -->"));
  assert.ok(prompt.startsWith("<!-- system -->\n"), "the prompt starts with the system part");
  assert.equal(system(prompt), system(cliPrompt), "system prompt as `pcaplens prepare` writes it");
  assert.ok(prompt.includes(`\n${coverage}\n`), `the coverage line shown (${coverage}) is in the prompt`);
  assert.match(prompt, /Identifiers: pseudonymized/);
  const originals = identifyingTalkers(report);
  assert.ok(originals.length >= 3, "the report has top talkers to hide");
  for (const addr of originals) assert.ok(!mentions(prompt, addr), `original address ${addr} in the LLM summary`);
  // Pseudonymised addresses are there: the talker lines carry the original byte counts under other addresses.
  const listed = [...prompt.matchAll(/^- (\S+): sent (\d+) B, received (\d+) B/gm)];
  assert.ok(listed.length >= 3, `talker lines in the prompt: ${listed.length}`);
  for (const [, addr, sent, received] of listed) {
    const original = report.summary.top_talkers.find((t) => t.bytes_sent === Number(sent) && t.bytes_received === Number(received));
    assert.ok(original, `talker ${addr} matches a talker of the report`);
    assert.notEqual(addr, original.addr);
    assert.match(addr, /^(\d{1,3}\.){3}\d{1,3}$|:/, `${addr} is an address`);
    // Same session key as the sanitized download: the same pseudonym as in that capture.
    if (sanitizedTalkers) assert.ok(sanitizedTalkers.some((t) => t.addr === addr), `${addr} is not a talker of the sanitized capture`);
  }
}

describe("web page in headless Chromium", () => {
  test("a dropped capture shows the CLI's numbers; downloads; no request leaves", async () => {
    const bytes = wasm.generate("mixed", { packets: 20000, seed: 21 });
    const path = join(dir, "e2e-mixed.pcap");
    writeFileSync(path, bytes);
    const native = cli(["analyze", "--json", path]).stdout;
    const report = JSON.parse(native);

    let sanitizedTalkers = null;
    const { context, page, errors } = await openPage();
    // Drop it, as a user dragging a file onto the page would.
    const dt = await page.evaluateHandle((b64) => {
      const t = new DataTransfer();
      t.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "e2e-mixed.pcap"));
      return t;
    }, Buffer.from(bytes).toString("base64"));
    await page.dispatchEvent("#dropzone", "drop", { dataTransfer: dt });
    assert.equal(await settle(page), "results", await page.textContent("#error"));
    assert.equal(await page.isVisible("#warning"), false, "no warning for a complete capture");
    await assertNumbersMatch(page, report);

    // Flow table: the listed flows, sortable and filterable.
    assert.match(await page.textContent("#page-info"), new RegExp(`of ${report.flows.length.toLocaleString("en-US")}$`));
    await page.click("#flows th[data-key=bytes]");
    const topBytes = Math.max(...report.flows.map((f) => f.orig_bytes + f.resp_bytes));
    const firstId = Number(await page.textContent("#flows tbody tr:first-child td:first-child"));
    const first = report.flows.find((f) => f.id === firstId);
    assert.equal(first.orig_bytes + first.resp_bytes, topBytes, "sorting by bytes puts the largest flow first");
    await page.selectOption("#flow-transport", "udp");
    const udp = report.flows.filter((f) => f.transport === "udp").length;
    assert.match(await page.textContent("#page-info"), new RegExp(`of ${udp.toLocaleString("en-US")}$`));
    await page.selectOption("#flow-transport", "");

    // Report download: byte for byte the CLI's JSON.
    const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#download-json")]);
    assert.equal(readFileSync(await dl.path(), "utf8"), native, "downloaded report equals `pcaplens analyze --json`");
    const [csv] = await Promise.all([page.waitForEvent("download"), page.click("#download-csv")]);
    const lines = readFileSync(await csv.path(), "utf8").trimEnd().split("\n");
    assert.equal(lines.length, report.flows.length + 1, "CSV: header + one line per listed flow");
    assert.match(lines[0], /^id,community_id,transport,/);

    // Sanitized capture: offered only when the package has the sanitizer, then checked by the CLI.
    if (typeof wasm.sanitize === "function") {
      const [san] = await Promise.all([page.waitForEvent("download"), page.click("#download-sanitized")]);
      const sanitized = join(dir, "e2e-sanitized.pcap");
      writeFileSync(sanitized, readFileSync(await san.path()));
      const r = JSON.parse(cli(["analyze", "--json", sanitized]).stdout);
      assert.equal(r.status.complete, true, "the sanitized capture reads cleanly");
      assert.equal(r.summary.packets, report.summary.packets, "sanitizing keeps every packet");
      assert.equal(r.summary.flows.total, report.summary.flows.total, "and every flow");
      assert.equal(san.suggestedFilename(), "e2e-mixed.sanitized.pcap");
      assert.match(await page.textContent("#sanitize-note"), /^Sanitized [\d,]+ frames: .*ipv4.* replaced/);
      const seen = new Set(r.summary.top_talkers.map((t) => t.addr));
      for (const t of report.summary.top_talkers) assert.ok(!seen.has(t.addr), `${t.addr} survived sanitizing`);
      sanitizedTalkers = r.summary.top_talkers;
    } else {
      assert.equal(await page.isVisible("#download-sanitized"), false, "no sanitize button without a sanitizer");
    }

    // LLM summary: the evidence `pcaplens prepare` writes, pseudonymized with the session key, to the clipboard.
    assert.equal(await page.isDisabled("#copy-llm"), false, "the LLM summary button is enabled");
    const note = await page.textContent("#llm-note");
    assert.match(note, /^≤ [\d,]+ tokens \(budget 8,000\) · pseudonymized · Coverage: covers \d+ of [\d,]+ flows, \d+ of [\d,]+ failures/);
    const coverage = note.slice(note.indexOf("Coverage: "));
    await page.click("#copy-llm");
    await page.waitForFunction(() => document.getElementById("copy-llm").textContent === "Copied ✓");
    const prompt = await page.evaluate(() => navigator.clipboard.readText());
    checkPrompt(prompt, coverage, report, path, sanitizedTalkers);
    // One token per byte of system prompt + evidence (the markers around them are not sent).
    assert.equal(Number(note.match(/^≤ ([\d,]+)/)[1].replace(/,/g, "")), Buffer.byteLength(prompt) - "<!-- system -->\n\n\n<!-- user -->\n".length,
      "the token count shown is the copied text's upper bound");
    assert.equal(await page.isVisible("#llm-fallback"), false, "no fallback when the clipboard works");

    await page.screenshot({ path: join(RESULTS, "e2e-light.png"), fullPage: true });
    await page.screenshot({ path: join(RESULTS, "e2e-light-top.png") });
    assert.equal(await page.isVisible("#error"), false);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("the sample button analyses a generated capture (dark mode)", async () => {
    const { context, page, errors } = await openPage("dark");
    await page.click("#sample-button");
    assert.equal(await settle(page), "results", await page.textContent("#error"));
    // The page's sample is generate("mixed", {packets: 20000, seed: 7}); the CLI must agree on it.
    const path = join(dir, "sample-mixed.pcap");
    writeFileSync(path, wasm.generate("mixed", { packets: 20000, seed: 7 }));
    await assertNumbersMatch(page, JSON.parse(cli(["analyze", "--json", path]).stdout));
    await page.screenshot({ path: join(RESULTS, "e2e-dark.png"), fullPage: true });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("without a clipboard the LLM summary is shown selected for a manual copy", async () => {
    const { context, page, errors } = await openPage("light", { clipboard: false });
    await page.click("#sample-button");
    assert.equal(await settle(page), "results", await page.textContent("#error"));
    const path = join(dir, "sample-mixed-fallback.pcap");
    writeFileSync(path, wasm.generate("mixed", { packets: 20000, seed: 7 }));
    const report = JSON.parse(cli(["analyze", "--json", path]).stdout);
    const note = await page.textContent("#llm-note");
    await page.click("#copy-llm");
    await page.waitForSelector("#llm-fallback:not([hidden])");
    const { value, selected, focused } = await page.$eval("#llm-text", (t) => ({
      value: t.value, selected: t.selectionStart === 0 && t.selectionEnd === t.value.length, focused: document.activeElement === t,
    }));
    assert.ok(selected && focused, "the summary is focused and selected, ready for Ctrl+C");
    checkPrompt(value, note.slice(note.indexOf("Coverage: ")), report, path, null);
    await page.screenshot({ path: join(RESULTS, "e2e-llm-fallback.png") });
    await page.click("#llm-fallback-close");
    assert.equal(await page.isVisible("#llm-fallback"), false);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("a file that is not a capture shows a clear message", async () => {
    const { context, page } = await openPage();
    await page.setInputFiles("#file-input", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("just some notes\n") });
    assert.equal(await settle(page), "error");
    assert.match(await page.textContent("#error"), /“notes\.txt” is not a packet capture/);
    assert.equal(await page.isVisible("#results"), false);
    await context.close();
  });

  test("a truncated capture shows partial results with a warning", async () => {
    const full = wasm.generate("normal", { packets: 4000, seed: 2 });
    const path = join(dir, "cut.pcap");
    writeFileSync(path, full.subarray(0, Math.floor(full.length * 0.7)));
    const report = JSON.parse(cli(["analyze", "--json", path]).stdout);
    assert.equal(report.status.partial, true);
    const { context, page, errors } = await openPage();
    await page.setInputFiles("#file-input", path);
    assert.equal(await settle(page), "results");
    assert.match(await page.textContent("#warning"), /cut short.*partial/s);
    await assertNumbersMatch(page, report);
    await page.setViewportSize({ width: 1024, height: 700 });
    await page.screenshot({ path: join(RESULTS, "e2e-partial-1024.png") });
    assert.deepEqual(errors, []);
    await context.close();
  });

  // The page a person reads (issue 26): the core's diagnosis first, readable times, tables that
  // fit a laptop and a phone, frame links that open the flow. Each capture with its injected fault.
  const READ_CASES = [
    { name: "clean", scenario: "normal", packets: 3000, seed: 5, expect: [] },
    { name: "port-scan", scenario: "port-scan", packets: 3000, seed: 5, expect: [["port_scan", "scanner"], ["port_scan", "scan_target"]] },
    { name: "tcp-resets", scenario: "tcp-resets", packets: 3000, seed: 5, expect: [["resets_from_server", "reset_server"]] },
    { name: "dns-failures", scenario: "dns-failures", packets: 3000, seed: 5, expect: [["dns_errors", "dns_servfail_resolver"], ["dns_unanswered", "dns_dead_resolver"]] },
    { name: "http-errors", scenario: "http-errors", packets: 3000, seed: 5, expect: [["http_errors", "http_error_server"]] },
    { name: "retransmissions", scenario: "retransmissions", packets: 3000, seed: 5, expect: [["retransmissions_on_path", "retransmission_server"]] },
    // The capture: a scan, resets, retransmissions, DNS and HTTP failures, ~9,000 packets.
    { name: "mixed", scenario: "mixed", packets: 9000, seed: 7, expect: [["port_scan", "scanner"], ["resets_from_server", "reset_server"], ["dns_errors", "dns_servfail_resolver"], ["http_errors", "http_error_server"]] },
    { name: "large", scenario: "mixed", packets: 120000, seed: 3, expect: [["port_scan", "scanner"], ["dns_errors", "dns_servfail_resolver"]] },
    // Real captures with long IPv6 endpoints (the corpus): `expect` names the text itself.
    { name: "corpus-v6", file: "arkime__v6.pcap", expect: [] },
    { name: "corpus-tls-v6", file: "ndpi__http_ipv6.pcap", expect: [["tls_alerts", "www.ntop.org"]] },
  ];

  /** The core's sentences as the page shows them: quoted wire strings as their text. */
  const plainSummary = (s) => s.replace(/⟦wire ("(?:[^"\\]|\\.)*")⟧/g, (_, q) => JSON.parse(q));

  /** Every data table's box within its panel's box; nothing wider than the viewport. */
  async function assertTablesFit(page, width, label) {
    await page.setViewportSize({ width, height: 900 });
    // Open every disclosure so the collapsed tables are measured too.
    await page.$$eval("#results details", (ds) => ds.forEach((d) => { d.open = true; }));
    const bad = await page.$$eval("#results table.data", (tables) => tables.filter((t) => t.offsetParent !== null).map((t) => {
      const panel = t.closest(".panel");
      const tb = t.getBoundingClientRect(), pb = panel.getBoundingClientRect();
      return { id: t.id || t.closest("[id]").id, table: [tb.left, tb.right], panel: [pb.left, pb.right] };
    }).filter((x) => x.table[0] < x.panel[0] - 0.5 || x.table[1] > x.panel[1] + 0.5));
    assert.deepEqual(bad, [], `${label}: tables wider than their panel at ${width} px`);
    const measured = await page.$$eval("#results table.data", (ts) => ts.filter((t) => t.offsetParent !== null).length);
    assert.ok(measured >= 3, `${label}: ${measured} tables measured at ${width} px`);
    const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scroll <= width, `${label}: the page scrolls sideways at ${width} px (${scroll} px wide)`);
  }

  for (const c of READ_CASES) {
    test(`reading a capture (${c.name}): diagnosis first, readable times, tables fit, frame links open the flow`, async () => {
      let path = join(dir, `read-${c.name}.pcap`);
      let truth = null;
      if (c.file) path = join(CORPUS, c.file);
      else {
        const gen = spawnSync(cliPath(), ["generate", "--scenario", c.scenario, "--packets", String(c.packets), "--seed", String(c.seed), "-o", path, "--truth"], { encoding: "utf8" });
        assert.equal(gen.status, 0, gen.stderr);
        truth = JSON.parse(gen.stderr);
      }
      const report = JSON.parse(cli(["analyze", "--json", path]).stdout);
      // The CLI's `ask --offline --no-sanitize`: the page must show exactly these items, in this order.
      const offline = cli(["ask", "--offline", "--no-sanitize", path]).stdout;
      const expected = [...offline.matchAll(/^(\d+)\. (.*)$/gm)].map((m) => plainSummary(m[2]));

      const { context, page, errors } = await openPage();
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.setInputFiles("#file-input", path);
      assert.equal(await settle(page), "results", await page.textContent("#error"));
      await assertNumbersMatch(page, report);

      const shown = await page.$$eval("#diagnosis-list > li .diag-summary", (els) => els.map((e) => e.textContent));
      assert.deepEqual(shown, expected, "the page's diagnosis is `pcaplens ask --offline`'s");
      const rules = await page.$$eval("#diagnosis-list > li", (els) => els.map((e) => ({ rule: e.dataset.rule, text: e.textContent })));
      for (const [rule, key] of c.expect) {
        const who = truth ? String(truth[key]).replace(/:\d+$/, "") : key;
        assert.ok(rules.some((r) => r.rule === rule && r.text.includes(who)), `${c.name}: a ${rule} item names ${key} ${who}: ${JSON.stringify(rules.map((r) => r.text))}`);
      }
      if (!c.expect.length) assert.match(await page.textContent("#diagnosis-coverage"), /No rule found a likely cause/);
      // First: above the cards, charts and every table.
      const tops = await page.evaluate(() => {
        const top = (el) => el.getBoundingClientRect().top;
        const d = top(document.getElementById("diagnosis"));
        const others = [...document.querySelectorAll("#results .panel, #cards")].filter((e) => e.id !== "diagnosis" && e.offsetParent !== null).map(top);
        return { d, min: Math.min(...others) };
      });
      assert.ok(tops.d < tops.min, `the diagnosis is the first panel (${tops.d} vs ${tops.min})`);

      // Times: relative to the capture's start in tables, absolute with UTC ISO on hover; no raw epoch anywhere.
      const text = await page.textContent("#results");
      assert.doesNotMatch(text, /\b1[5-9]\d{8}\.\d+/, "no epoch timestamps on the page");
      const times = await page.$$eval("#results time.rel", (ts) => ts.map((t) => ({ text: t.textContent, title: t.title })));
      assert.ok(times.length > 0, "relative times are shown");
      for (const t of times.slice(0, 50)) {
        assert.match(t.text, /^\+(\d+\.\d{3} s|\d+ min \d\d\.\d{3} s|\d+ h \d\d min \d\d\.\d{3} s)$/, t.text);
        assert.match(t.title, /local · \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, t.title);
      }

      await assertTablesFit(page, 1280, c.name);
      await page.screenshot({ path: join(RESULTS, `read-${c.name}-1280.png`), fullPage: true });
      await assertTablesFit(page, 390, c.name);
      await page.screenshot({ path: join(RESULTS, `read-${c.name}-390.png`), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 900 });

      // A frame of the first cause opens its flow; back closes it, forward reopens it.
      if (c.expect.length) {
        const link = page.locator("#diagnosis-list > li:first-child a.frame-link").first();
        const frame = Number(await link.getAttribute("data-frame"));
        await link.click();
        await page.waitForSelector("#flow-detail:not([hidden])");
        const cid = await page.getAttribute("#flow-detail", "data-cid");
        const flow = report.flows.find((f) => f.community_id === cid);
        assert.ok(flow, `the detail shows a listed flow (${cid})`);
        assert.ok(flow.first_frame <= frame && frame <= flow.last_frame, `frame ${frame} belongs to flow ${flow.first_frame}–${flow.last_frame}`);
        assert.match(await page.textContent("#flow-detail h2"), new RegExp(flow.resp_addr.replace(/[.[\]]/g, "\\$&")));
        assert.match(page.url(), /#flow=/);
        assert.match(await page.textContent("#flow-detail"), /In the diagnosis/, "the detail says which cause cites the flow");
        // Its packets, read again from the file by the worker: every one of the flow's, the cited frame among them.
        await page.waitForSelector("#flow-packets table");
        const listed = await page.$$eval("#flow-packets tbody tr td:first-child", (tds) => tds.map((td) => Number(td.textContent.replace("#", ""))));
        assert.equal(listed.length, Math.min(200, flow.orig_packets + flow.resp_packets), "one row per packet of the flow");
        assert.equal(listed[0], flow.first_frame);
        assert.ok(listed.includes(frame), `frame ${frame} is among the flow's packets`);
        assert.ok(listed.every((f, i) => i === 0 || f > listed[i - 1]), "in capture order");
        await page.goBack();
        await page.waitForSelector("#flow-detail", { state: "hidden" });
        await page.goForward();
        await page.waitForSelector("#flow-detail:not([hidden])");
        assert.equal(await page.getAttribute("#flow-detail", "data-cid"), cid);
        // Keyboard: the close link is reachable and closes the detail.
        await page.focus("#flow-detail .close");
        await page.keyboard.press("Enter");
        await page.waitForSelector("#flow-detail", { state: "hidden" });
      }
      if (c.name === "mixed") {
        // The timeline marks failures and findings, not only the diagnosis's frames.
        assert.match(await page.textContent("#timeline-note"), /✕ failures.*◆ findings/);
        // Resets the scan provoked are shown as part of it: their conversations name the scan's cause.
        const scanRank = await page.getAttribute("#diagnosis-list > li[data-rule=port_scan]", "data-rank");
        const causes = await page.$$eval(".failure-class[data-class=tcp] .failure-kind[data-kind=resets] .causes a", (as) => as.map((a) => a.textContent));
        assert.ok(causes.length > 0 && causes.every((x) => x === `#${scanRank}`), `scan resets name cause #${scanRank}: ${causes}`);
        // The core counts them under the scan (`ask --offline`'s "explains:" line); the page says so
        // in the scan's item and in the failure card, not as a headline of their own.
        const line = offline.match(/^ {3}explains: (.*) \(provoked by this cause/m);
        assert.ok(line, `ask --offline names what the scan explains:\n${offline}`);
        const explained = [...line[1].matchAll(/(\d+) tcp\.\w+/g)].reduce((a, m) => a + Number(m[1]), 0);
        assert.ok(explained > 0);
        assert.equal(Number(await page.getAttribute("#diagnosis-list > li[data-rule=port_scan] .diag-explains", "data-explains")), explained);
        assert.match(await page.textContent("#diagnosis-list > li[data-rule=port_scan] .diag-explains"), /Includes [\d,]+ resets/);
        assert.match(await page.textContent("[data-metric=failures] .card-sub"), new RegExp(`^${nf(Math.min(explained, failureTotal(report)))} of them part of a diagnosed cause`));
        // The README's screenshots (docs/img/, copied from test-results/): the top of the page at both
        // widths in both colour schemes; the page re-draws its charts when the scheme changes.
        for (const colorScheme of ["light", "dark"]) {
          await page.emulateMedia({ colorScheme });
          for (const width of [1280, 390]) {
            await page.setViewportSize({ width, height: width > 1000 ? 1000 : 844 });
            await page.evaluate(() => window.scrollTo(0, document.getElementById("results").offsetTop - 10));
            await page.screenshot({ path: join(RESULTS, `page-${width}-${colorScheme}.png`) });
          }
        }
        assert.equal(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), "rgb(15, 18, 22)", "dark mode follows the system");
      }
      assert.deepEqual(errors, []);
      await context.close();
    });
  }

  test("the flow table's links and shared #flow= links open the flow's detail", async () => {
    const path = join(dir, "read-mixed.pcap");
    const report = JSON.parse(cli(["analyze", "--json", path]).stdout);
    const { context, page, errors } = await openPage("dark");
    await page.setInputFiles("#file-input", path);
    assert.equal(await settle(page), "results");
    // The top anomaly, opened as a shared link would: its score and why are in the detail.
    const top = report.anomalies.top_flows[0];
    await page.evaluate((cid) => { location.hash = `#flow=${encodeURIComponent(cid)}`; }, top.community_id);
    await page.waitForSelector("#flow-detail:not([hidden])");
    assert.equal(await page.getAttribute("#flow-detail", "data-cid"), top.community_id);
    assert.match(await page.textContent("#flow-anomaly"), new RegExp(`^${top.score.toFixed(3)} \\(rank 1`));
    // A flow-table row link, by keyboard.
    const id = Number(await page.textContent("#flows tbody tr:nth-child(3) td:first-child"));
    await page.focus("#flows tbody tr:nth-child(3) a.flow-link");
    await page.keyboard.press("Enter");
    await page.waitForFunction((cid) => document.getElementById("flow-detail").dataset.cid === cid, report.flows.find((f) => f.id === id).community_id);
    await page.goBack();
    await page.waitForFunction((cid) => document.getElementById("flow-detail").dataset.cid === cid, top.community_id);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test("no request went anywhere but the page's own origin", () => {
    assert.ok(requests.length > 0, "requests were recorded");
    const foreign = requests.filter(({ url }) => !url.startsWith(`${origin}/`) && !url.startsWith("blob:") && !url.startsWith("data:"));
    assert.deepEqual(foreign, []);
    // Only the page's assets: no capture bytes were posted (every request is a GET of a file we serve).
    for (const { url: u, method } of requests.filter(({ url }) => url.startsWith(origin))) {
      assert.equal(method, "GET", u);
      assert.match(new URL(u).pathname, /^\/(index\.html)?$|^\/(app|worker)\.js$|^\/style\.css$|^\/vendor\/|^\/pkg\/|^\/favicon\.(ico|svg)$/, u);
    }
  });
});
