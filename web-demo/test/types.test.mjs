// The package's .d.ts (wasm-bindgen's output + bindings-wasm/report.d.ts) type-checks
// against a program that uses the whole API.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { WEB_DEMO } from "./helpers.mjs";

test("TypeScript types compile for real use of the API", () => {
  const tsc = join(WEB_DEMO, "node_modules", "typescript", "bin", "tsc");
  const r = spawnSync(process.execPath, [tsc, "--noEmit", "--strict", "--target", "es2022", "--module", "es2022",
    "--moduleResolution", "bundler", "--lib", "esnext,dom", join(WEB_DEMO, "test", "types-usage.ts")], { encoding: "utf8" });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
