// Copies the browser builds of the page's npm dependencies into vendor/
// (gitignored), so the page loads them from its own origin: no CDN, and the
// Content-Security-Policy can stay 'self'.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const files = [["chart.js/dist/chart.umd.min.js", "chart.umd.min.js"]];
mkdirSync(join(root, "vendor"), { recursive: true });
for (const [from, to] of files) {
  copyFileSync(join(root, "node_modules", from), join(root, "vendor", to));
}
