#!/usr/bin/env bash
# Time `pcaplens prepare` on a 1,000,000-packet capture (target: < 2 s) and
# show that the evidence stays under the token budget.
# Usage: bench/prepare_bench.sh [CAPTURE]   (default: generate one with `pcaplens generate`)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p pcaplens-cli
BIN=target/release/pcaplens
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
CAP=${1:-}
if [ -z "$CAP" ]; then
  CAP="$WORK/mixed-1m.pcap"
  if ! "$BIN" generate --scenario mixed --packets 1000000 -o "$CAP" >/dev/null 2>&1; then
    echo "prepare_bench: cannot generate a capture (pcaplens generate is missing); pass CAPTURE" >&2
    exit 2
  fi
fi
echo "capture: $CAP ($(capinfos -c -M "$CAP" 2>/dev/null | awk -F': *' '/Number of packets/{print $2}') packets)"
start=$(date +%s.%N)
"$BIN" prepare "$CAP" -o "$WORK/out" 2>/dev/null
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc)
tokens=$(python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));print(d["prompt_tokens"],"of",d["token_budget"])' "$WORK/out/summary.json")
echo "prepare: ${secs} s (target < 2 s); prompt tokens: ${tokens}"
