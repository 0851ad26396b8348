#!/usr/bin/env bash
# Build the wasm package into web-demo/pkg/ (gitignored): cargo for
# wasm32-unknown-unknown, then the wasm-bindgen CLI of exactly the version the
# crate pins (the two must match or the glue and the module disagree).
# Installs the wasm32 target and the CLI when missing; prints the gzipped size
# and fails when it reaches 1 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
WASM_BINDGEN_VERSION=0.2.130
OUT=web-demo/pkg
PROFILE=release-wasm
MAX_GZIP_BYTES=$((1024 * 1024))

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "build.sh: installing the wasm32-unknown-unknown target" >&2
  rustup target add wasm32-unknown-unknown
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " ${WASM_BINDGEN_VERSION}\$"; then
  echo "build.sh: installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (takes a few minutes)" >&2
  cargo install wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}"
fi

cargo build -p pcaplens-wasm --profile "${PROFILE}" --target wasm32-unknown-unknown --locked
rm -rf "${OUT}"
wasm-bindgen --target web --out-dir "${OUT}" --out-name pcaplens \
  --remove-name-section --remove-producers-section \
  "target/wasm32-unknown-unknown/${PROFILE}/pcaplens_wasm.wasm"

gz=$(gzip -9 -c "${OUT}/pcaplens_bg.wasm" | wc -c)
raw=$(wc -c < "${OUT}/pcaplens_bg.wasm")
echo "build.sh: ${OUT}/pcaplens_bg.wasm: ${raw} bytes, ${gz} bytes gzipped"
if [ "${gz}" -ge "${MAX_GZIP_BYTES}" ]; then
  echo "build.sh: the gzipped wasm must stay under 1 MB" >&2
  exit 1
fi
