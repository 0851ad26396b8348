#!/usr/bin/env bash
# The browser front's tests, called by .ci/run: builds the wasm package and the
# native CLI, installs the page's npm dependencies (and Chromium when missing),
# then runs (1) parity of the wasm reports with `pcaplens analyze --json` (and of
# sanitize with `pcaplens sanitize`), a type check of the package's .d.ts, and
# (2) the end-to-end test of the page in headless Chromium. Fails when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

bash bindings-wasm/build.sh
cargo build --release -p pcaplens-cli --locked

cd web-demo
npm ci --no-audit --no-fund --loglevel=error
mkdir -p test-results
node --test \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination=test-results/results.tap \
  test/parity.test.mjs test/evidence.test.mjs test/types.test.mjs test/e2e.test.mjs
passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' test-results/results.tap)
if [ "${passed:-0}" -eq 0 ]; then
  echo "web-demo/run-tests.sh: no test ran" >&2
  exit 1
fi
echo "web-demo: ${passed} tests passed"
