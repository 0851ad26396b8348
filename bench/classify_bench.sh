#!/usr/bin/env bash
# Flow classification throughput and the cost of reassembly (issue 20).
#  1. flows classified per second by `pcaplens classify` against a local
#     chat-completions server that answers at once (every prompt distinct
#     (the cache is off, --cache-size 0, so every flow is a request);
#  2. the same capture with the rules (no HTTP);
#  3. the added cost of reassembly (+ sanitizing + prompts) to `analyze`:
#     time(classify --rules) / time(analyze), in the same run.
# Usage: bench/classify_bench.sh [CAPTURE] [PACKETS]   (default: generate 200,000 packets, mixed)
# PCAPLENS_BIN=path uses that binary instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PCAPLENS_BIN:-}" ]; then BIN=$PCAPLENS_BIN; else
  cargo build --release -q -p pcaplens-cli
  BIN=$PWD/target/release/pcaplens
fi
WORK=$(mktemp -d)
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
CAP=${1:-}
if [ -z "$CAP" ]; then
  CAP="$WORK/mixed.pcap"
  "$BIN" generate --scenario mixed --packets "${2:-200000}" -o "$CAP" >/dev/null 2>&1
fi
cat > "$WORK/server.py" <<'PY'
import http.server, json, sys
ANSWER = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant",
    "content": json.dumps({"suspicious": False, "confidence": 0.9, "category": "benign", "reason": "ok"})}}],
    "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320}}).encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$WORK/server.py" > "$WORK/port" &
SERVER_PID=$!
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")
t() { local s e; s=$(date +%s.%N); "$@" > "$WORK/out.json" 2>/dev/null || true; e=$(date +%s.%N); echo "$e - $s" | bc; }
A=$(t "$BIN" analyze "$CAP" --json)
R=$(t env -u AZURE_OPENAI_ENDPOINT -u OPENAI_BASE_URL -u OPENAI_API_KEY "$BIN" classify "$CAP" --json --rules)
RF=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["stats"]["flows_classified"])' "$WORK/out.json")
M=$(t env -u AZURE_OPENAI_ENDPOINT OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" OPENAI_MODEL=gpt-4o-mini "$BIN" classify "$CAP" --json --cache-size 0 --workers 4)
MF=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["stats"]["model_requests"])' "$WORK/out.json")
echo "capture: $CAP"
echo "analyze:            ${A} s"
echo "classify --rules:   ${R} s, ${RF} flows ($(echo "$RF / $R" | bc) flows/s); ratio to analyze: $(echo "scale=2; $R / $A" | bc)"
echo "classify (model):   ${M} s, ${MF} requests to an instant local server ($(echo "$MF / $M" | bc) flows/s, 4 workers)"
