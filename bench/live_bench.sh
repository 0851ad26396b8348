#!/usr/bin/env bash
# Live capture benchmark (issue 19): `pcaplens live` (every detector on, the
# default) beside `tcpdump -w /dev/null`, both fed by tcpreplay over a veth
# between two throw-away network namespaces, at rising packet rates.
#
# For each rate, one capture at a time (never both at once: on a small machine
# they would compete for the cores and each figure would depend on the other;
# the order alternates from rate to rate):
#   - start the capture on the veth end in namespace b and wait until it listens,
#   - replay the capture file from namespace a with tcpreplay --pps RATE for
#     --seconds (looped: RATE x seconds packets; long enough that pcaplens's
#     queue of 32 MiB and the kernel buffer cannot hide a rate it does
#     not keep up with),
#   - wait 2 s of quiet (pcaplens reads libpcap's counters every second), stop
#     the capture with SIGINT,
#   - read the drops: pcaplens from its --json report (`live.drops` kernel +
#     interface + queue, `live.packets_analysed`), tcpdump from its
#     "N packets captured / N packets dropped by kernel" lines,
#   - and what the veth delivered to namespace b (its rx_packets; the sender's
#     tx_dropped counts what the kernel's backlog refused before any capture
#     could see it).
# A run has zero drops when the tool counted none and captured every packet
# the veth delivered. The table ends with the highest zero-drop rate of each
# tool and their ratio.
#
# Then memory: `pcaplens live` on the veth while tcpreplay loops the file at a
# moderate rate (half of pcaplens's highest zero-drop rate unless --rss-pps)
# for --minutes (default 5); VmRSS of the pcaplens process after 10 s and at
# the end (target: flat within 10 %), with samples in between.
#
# Nothing leaves the namespaces: the veth has no addresses, IPv6 is off on
# both ends, and tcpreplay sends only on the veth end in namespace a.
#
# Needs root, iproute2, tcpdump and tcpreplay (Debian: apt-get install -y
# tcpreplay tcpdump; the script installs tcpreplay when apt-get is there).
#
# Usage: bench/live_bench.sh [--quick] [--rates 10000,25000,...] [--seconds N]
#                            [--minutes N] [--rss-pps N] [--buffer-kib N]
#                            [--pps-multi N] [--repeat N] [--keep DIR]
#   --quick       rates 10k,100k,400k, 4 s each, 1 minute of RSS
#   --rates       comma-separated packets/s (default 10000,25000,50000,100000,200000,400000)
#   --seconds     seconds of replay at each rate (default 10)
#   --minutes     length of the RSS run (default 5; --quick 1; 0 skips it)
#   --rss-pps     rate of the RSS run (default: half of pcaplens's highest zero-drop rate)
#   --buffer-kib  kernel capture buffer of both tools (-B; default: libpcap's, 2 MiB)
#   --pps-multi   tcpreplay --pps-multi (packets sent per timer tick; default 1)
#   --repeat N    run each tool N times at each rate (order alternating); a rate
#                 counts as zero-drop only if every run was (default 1)
#   --keep DIR    keep the logs and reports in DIR (default: a temporary directory, removed)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RATES="10000,25000,50000,100000,200000,400000"
SECONDS_PER_RATE=10
MINUTES=5
RSS_PPS=""
BUFFER_KIB=""
PPS_MULTI=1
REPEAT=1
KEEP=""
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; RATES="10000,100000,400000"; SECONDS_PER_RATE=4; MINUTES=1 ;;
    --rates) RATES="$2"; shift ;;
    --seconds) SECONDS_PER_RATE="$2"; shift ;;
    --minutes) MINUTES="$2"; shift ;;
    --rss-pps) RSS_PPS="$2"; shift ;;
    --buffer-kib) BUFFER_KIB="$2"; shift ;;
    --pps-multi) PPS_MULTI="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --keep) KEEP="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "live_bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "live_bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, raw sockets)"
command -v ip >/dev/null || die "needs iproute2 (ip)"
command -v tcpdump >/dev/null || die "needs tcpdump (apt-get install -y tcpdump)"
if ! command -v tcpreplay >/dev/null; then
  if command -v apt-get >/dev/null; then
    echo "live_bench: installing tcpreplay (apt-get install -y -qq tcpreplay)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpreplay >/dev/null || die "cannot install tcpreplay"
  else
    die "needs tcpreplay"
  fi
fi

# ------------------------------------------------------------------ cleanup
TAG=$$
NSA="plbench-a-$TAG"
NSB="plbench-b-$TAG"
VA="plba$TAG"   # interface names: at most 15 characters
VB="plbb$TAG"
if [ -n "$KEEP" ]; then mkdir -p "$KEEP"; WORK=$(cd "$KEEP" && pwd); else WORK=$(mktemp -d); fi
PIDS=()
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$NSA" 2>/dev/null || true
  ip netns del "$NSB" 2>/dev/null || true
  [ -n "$KEEP" ] || rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build and capture file
cargo build --release -q -p pcaplens-cli
BIN=$ROOT/target/release/pcaplens
CAP=$WORK/mixed-200k.pcap
"$BIN" generate --scenario mixed --packets 200000 --seed 7 -o "$CAP" >/dev/null
# pcap, Ethernet (link type 1), and no frame over the veth's MTU: tcpreplay sends every one.
read -r FILE_PACKETS MAX_FRAME < <(python3 - "$CAP" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
magic = data[:4]
if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
    e = "<"
elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
    e = ">"
else:
    sys.exit("not a pcap file (magic %s)" % magic.hex())
link = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
if link != 1:
    sys.exit("link type %d, not Ethernet (1): tcpreplay on a veth needs Ethernet" % link)
off, n, big = 24, 0, 0
while off + 16 <= len(data):
    incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
    off += 16 + incl
    n += 1
    big = max(big, incl)
print(n, big)
EOF
) || die "the generated capture does not suit tcpreplay"
MTU=1500
[ "$MAX_FRAME" -le $((MTU + 14)) ] || MTU=$((MAX_FRAME - 14))

# ------------------------------------------------------------------ namespaces and veth
ip netns add "$NSA"
ip netns add "$NSB"
ip link add "$VA" netns "$NSA" type veth peer name "$VB" netns "$NSB"
for pair in "$NSA:$VA" "$NSB:$VB"; do
  ns=${pair%%:*}; dev=${pair#*:}
  # No IPv6 (no neighbour discovery or MLD chatter) and no addresses: the
  # captures see only the replayed packets, and the stack of namespace b
  # drops them (they are not addressed to it).
  ip netns exec "$ns" sysctl -q -w "net.ipv6.conf.$dev.disable_ipv6=1"
  # GSO/TSO off: ethtool when installed, else at most one segment per GSO packet.
  if command -v ethtool >/dev/null; then
    ip netns exec "$ns" ethtool -K "$dev" gso off tso off gro off >/dev/null 2>&1 || true
  fi
  ip -n "$ns" link set "$dev" mtu "$MTU" gso_max_segs 1 up
done
sleep 1
stat_of() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }

# ------------------------------------------------------------------ machine facts
echo "== live_bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), load average $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
echo "pcaplens: $("$BIN" --version 2>&1 | head -1) ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "tcpdump: $(tcpdump --version 2>&1 | head -1); $(tcpdump --version 2>&1 | sed -n 2p)"
echo "tcpreplay: $(tcpreplay --version 2>&1 | head -1 | sed 's/^tcpreplay version: //')"
echo "capture: pcaplens generate --scenario mixed --packets 200000 --seed 7 ($FILE_PACKETS packets, largest frame $MAX_FRAME bytes), looped: $SECONDS_PER_RATE s at each rate"
echo "veth: $VA ($NSA) -> $VB ($NSB), mtu $MTU, IPv6 off, GSO off; capture buffer: ${BUFFER_KIB:-libpcap default (2048)} KiB for both"
echo "pcaplens live: queue of 32 MiB (--queue-mib default)"
echo "one capture at a time per rate (pcaplens live --json, every detector on; tcpdump -n -w /dev/null), order alternating; $REPEAT run(s) of each per rate"

# ------------------------------------------------------------------ helpers
# wait_listening FILE PID WHAT: until FILE holds "listening on" (both tools print it when ready).
wait_listening() {
  local i
  for i in $(seq 1 200); do
    grep -q "listening on" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; die "$3 died before listening"; }
    sleep 0.1
  done
  die "$3: no 'listening on' in 20 s"
}

# replay PPS LIMIT LOG [extra tcpreplay options]: from namespace a, into the
# veth, the file looped until LIMIT packets.
replay() {
  local pps=$1 limit=$2 log=$3; shift 3
  local multi=()
  [ "$PPS_MULTI" -le 1 ] || multi=(--pps-multi "$PPS_MULTI")
  ip netns exec "$NSA" tcpreplay -i "$VA" --preload-pcap --pps "$pps" "${multi[@]}" \
    --loop 0 --limit "$limit" "$@" "$CAP" >"$log" 2>&1 || { cat "$log" >&2; die "tcpreplay failed at $pps pps"; }
}

# tcpreplay's log -> "sent failed achieved_pps"
replay_figures() {
  python3 - "$1" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
sent = re.search(r"Successful packets:\s+(\d+)", t)
failed = re.search(r"Failed packets:\s+(\d+)", t)
rated = re.search(r"Rated:.*?([\d.]+) pps", t)
print(sent.group(1) if sent else 0, failed.group(1) if failed else 0,
      int(float(rated.group(1))) if rated else 0)
EOF
}

B_OPT=()
[ -z "$BUFFER_KIB" ] || B_OPT=(-B "$BUFFER_KIB")
PL_B_OPT=()
[ -z "$BUFFER_KIB" ] || PL_B_OPT=(-B $((BUFFER_KIB * 1024)))

forget_pid() { # drop $1 from PIDS (it has been waited for)
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# run_tool TOOL PPS: one capture at one rate. Sets CAPTURED (what the tool
# analysed or wrote), DROPPED (what it counted dropped), and of the replay
# SENT FAILED ACHIEVED, DELIVERED (rx_packets of the veth in namespace b) and
# VETH_DROPS (tx_dropped of the sender's end). Logs stay in $WORK.
run_tool() {
  local tool=$1 pps=$2 base="$WORK/$1-$2-r$REP"
  local rx0 txd0 pid rc=0
  PACKETS=$((pps * SECONDS_PER_RATE))
  if [ "$tool" = pcaplens ]; then
    ip netns exec "$NSB" "$BIN" live -i "$VB" --json "${PL_B_OPT[@]}" >"$base.json" 2>"$base.err" &
  else
    ip netns exec "$NSB" tcpdump -n -i "$VB" "${B_OPT[@]}" -w /dev/null >/dev/null 2>"$base.err" &
  fi
  pid=$!
  PIDS+=("$pid")
  wait_listening "$base.err" "$pid" "$tool"
  sleep 0.5
  rx0=$(stat_of "$NSB" "$VB" rx_packets); txd0=$(stat_of "$NSA" "$VA" tx_dropped)
  replay "$pps" "$PACKETS" "$base.replay"
  # Quiet time: libpcap hands over its last batch (100 ms timeout) and pcaplens
  # reads the kernel's counters (every second) before the stop.
  sleep 2
  DELIVERED=$(( $(stat_of "$NSB" "$VB" rx_packets) - rx0 ))
  VETH_DROPS=$(( $(stat_of "$NSA" "$VA" tx_dropped) - txd0 ))
  read -r SENT FAILED ACHIEVED < <(replay_figures "$base.replay")
  kill -INT "$pid"
  wait "$pid" || rc=$?
  forget_pid "$pid"
  [ "$rc" = 0 ] || { cat "$base.err" >&2; die "$tool exited with status $rc at $pps pps"; }
  if [ "$tool" = pcaplens ]; then
    read -r CAPTURED DROPPED SPLIT < <(python3 - "$base.json" <<'EOF2'
import json, sys
live = json.load(open(sys.argv[1]))["live"]
d = live["drops"]
print(live["packets_analysed"], d["kernel"] + d["interface"] + d["queue"],
      "k%d/q%d" % (d["kernel"] + d["interface"], d["queue"]))
EOF2
)
  else
    read -r CAPTURED DROPPED SPLIT < <(python3 - "$base.err" <<'EOF2'
import re, sys
t = open(sys.argv[1]).read()
cap = re.search(r"(\d+) packets? captured", t)
drop = re.search(r"(\d+) packets? dropped by kernel", t)
ifd = re.search(r"(\d+) packets? dropped by interface", t)
print(int(cap.group(1)), int(drop.group(1)) + (int(ifd.group(1)) if ifd else 0), "-")
EOF2
)
  fi
  [ -n "$CAPTURED" ] || die "$tool at $pps pps: no figures (see $base.err)"
  # Zero drops: nothing counted dropped anywhere, every packet sent and captured.
  if [ "$DROPPED" = 0 ] && [ "$CAPTURED" = "$DELIVERED" ] && [ "$VETH_DROPS" = 0 ] \
     && [ "$FAILED" = 0 ] && [ "$SENT" = "$PACKETS" ]; then OK=yes; else OK=no; fi
}

# ------------------------------------------------------------------ warm-up: tcpreplay takes the file
replay 1000 200 "$WORK/warmup.replay"
read -r s f _ < <(replay_figures "$WORK/warmup.replay")
[ "$s" = 200 ] && [ "$f" = 0 ] || { cat "$WORK/warmup.replay" >&2; die "tcpreplay did not send the file cleanly ($s sent, $f failed)"; }

# ------------------------------------------------------------------ rates
echo
printf "%9s %15s | %15s %15s %8s | %9s %8s %13s | %9s %8s | %5s %5s | %s\n" \
  "rate pps" "achieved" "sent" "delivered" "vethdrop" "pl anal." "pl drop" "kernel/queue" "td capt." "td drop" "pl ok" "td ok" "order"
IFS=, read -r -a RATE_LIST <<<"$RATES"
BEST_PL=0; BEST_TD=0; BEST_PL_ACH=0; BEST_TD_ACH=0; PL_OK_ALL=1; TD_OK_ALL=1; SHORT_SEEN=0
n=0
for pps in "${RATE_LIST[@]}"; do
  if [ $((n % 2)) = 0 ]; then order=(pcaplens tcpdump); else order=(tcpdump pcaplens); fi
  n=$((n + 1))
  # With --repeat: sums over the repeats, the lowest achieved rate, ok only if every repeat was.
  pl=("" 0 0 0 0 0 yes 0 0); td=("" 0 0 0 0 0 yes 0 0)
  first="${order[*]}"
  for REP in $(seq 1 "$REPEAT"); do
    for tool in "${order[@]}"; do
      run_tool "$tool" "$pps"
      k=0; q=0
      if [[ $SPLIT =~ ^k([0-9]+)/q([0-9]+)$ ]]; then k=${BASH_REMATCH[1]}; q=${BASH_REMATCH[2]}; fi
      if [ "$tool" = pcaplens ]; then declare -n acc=pl; else declare -n acc=td; fi
      if [ -z "${acc[0]}" ] || [ "$ACHIEVED" -lt "${acc[0]}" ]; then acc[0]=$ACHIEVED; fi
      acc[1]=$((acc[1] + SENT)); acc[2]=$((acc[2] + DELIVERED)); acc[3]=$((acc[3] + VETH_DROPS))
      acc[4]=$((acc[4] + CAPTURED)); acc[5]=$((acc[5] + DROPPED)); [ "$OK" = yes ] || acc[6]=no
      acc[7]=$((acc[7] + k)); acc[8]=$((acc[8] + q))
      unset -n acc
    done
    order=("${order[1]}" "${order[0]}")
  done
  pl[7]="k${pl[7]}/q${pl[8]}"
  # tcpreplay fell short of the rate asked (by over 5 %) in either run: the machine's limit, not the tools'.
  short=""
  if [ $((pl[0] * 100)) -lt $((pps * 95)) ] || [ $((td[0] * 100)) -lt $((pps * 95)) ]; then
    short="*"; SHORT_SEEN=1
  fi
  # The sender's figures of both runs: pcaplens's/tcpdump's.
  printf "%9s %15s | %15s %15s %8s | %9s %8s %13s | %9s %8s | %5s %5s | %s\n" \
    "$pps" "${short}${pl[0]}/${td[0]}" "${pl[1]}/${td[1]}" "${pl[2]}/${td[2]}" "${pl[3]}/${td[3]}" \
    "${pl[4]}" "${pl[5]}" "${pl[7]}" "${td[4]}" "${td[5]}" "${pl[6]}" "${td[6]}" "$first"
  # Highest zero-drop rate: the last of the unbroken run of zero-drop rates from the lowest.
  if [ "${pl[6]}" = yes ] && [ "$PL_OK_ALL" = 1 ]; then BEST_PL=$pps; BEST_PL_ACH=${pl[0]}; else PL_OK_ALL=0; fi
  if [ "${td[6]}" = yes ] && [ "$TD_OK_ALL" = 1 ]; then BEST_TD=$pps; BEST_TD_ACH=${td[0]}; else TD_OK_ALL=0; fi
done
echo
echo "achieved: tcpreplay's own rate, pps (pcaplens run/tcpdump run; the lowest of the repeats); delivered: the veth's rx_packets in namespace b;"
[ "$REPEAT" = 1 ] || echo "sent, delivered, vethdrop, anal./capt., drop: sums over the $REPEAT runs; ok: every run had zero drops."
[ "$SHORT_SEEN" = 0 ] || echo "*: tcpreplay sent over 5 % slower than asked (the machine's limit): that row's rate is the achieved one, not the one asked."
echo "vethdrop: packets the sender's veth could not hand to namespace b (the backlog was full), before any capture."
echo "pl drop: pcaplens live.drops kernel+interface+queue (kernel/queue: k kernel+interface, q its own queue); td drop: tcpdump's dropped by kernel (+ by interface)."
echo "ok: nothing dropped anywhere and every packet sent was captured."
# The ratio is of the rates tcpreplay achieved in those runs (the same as asked unless marked *).
echo "highest zero-drop rate (of an unbroken run from the lowest): pcaplens live $BEST_PL pps asked ($BEST_PL_ACH achieved), tcpdump -w /dev/null $BEST_TD pps asked ($BEST_TD_ACH achieved)$(
  [ "$BEST_TD_ACH" -gt 0 ] && python3 -c "import sys; print(', ratio pcaplens/tcpdump %.2f (achieved rates)' % (int(sys.argv[1]) / int(sys.argv[2])))" "$BEST_PL_ACH" "$BEST_TD_ACH")"
[ "${RATE_LIST[-1]}" != "$BEST_PL" ] || echo "  (pcaplens had no drops at the highest rate tried: its limit is higher; add rates)"
[ "${RATE_LIST[-1]}" != "$BEST_TD" ] || echo "  (tcpdump had no drops at the highest rate tried: its limit is higher; add rates)"

# ------------------------------------------------------------------ RSS over a looped replay
if [ "$MINUTES" = 0 ]; then
  echo "RSS run skipped (--minutes 0)"
  exit 0
fi
if [ -z "$RSS_PPS" ]; then
  if [ "$BEST_PL" -gt 0 ]; then RSS_PPS=$((BEST_PL / 2)); else RSS_PPS=$((RATE_LIST[0] / 2)); fi
fi
SECS=$((MINUTES * 60))
echo
echo "== RSS: pcaplens live on $VB for $MINUTES min while tcpreplay loops the file at $RSS_PPS pps (load average $(cut -d' ' -f1-3 /proc/loadavg))"
base=$WORK/rss
ip netns exec "$NSB" "$BIN" live -i "$VB" --json "${PL_B_OPT[@]}" >"$base.json" 2>"$base.err" &
PL=$!
PIDS+=("$PL")
wait_listening "$base.err" "$PL" "pcaplens live"
# ip netns exec execs the command: the background job's PID is pcaplens's own.
[ "$(cat "/proc/$PL/comm")" = pcaplens ] || die "PID $PL is $(cat "/proc/$PL/comm"), not pcaplens"
rss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
rx0=$(stat_of "$NSB" "$VB" rx_packets); txd0=$(stat_of "$NSA" "$VA" tx_dropped)
multi=()
[ "$PPS_MULTI" -le 1 ] || multi=(--pps-multi "$PPS_MULTI")
ip netns exec "$NSA" tcpreplay -i "$VA" --preload-pcap --pps "$RSS_PPS" "${multi[@]}" --loop 0 \
  --duration "$SECS" "$CAP" >"$base.replay" 2>&1 &
TR=$!
PIDS+=("$TR")
sleep 10
RSS0=$(rss "$PL")
echo "  t=10 s: VmRSS $RSS0 kB"
step=$(( SECS >= 300 ? 30 : 15 ))
t=10
RSS60=""
while kill -0 "$TR" 2>/dev/null; do
  sleep 1
  t=$((t + 1))
  if [ $((t % step)) = 0 ]; then
    r=$(rss "$PL")
    echo "  t=$t s: VmRSS $r kB"
    [ "$t" != 60 ] || RSS60=$r
  fi
done
wait "$TR" || { cat "$base.replay" >&2; die "tcpreplay failed in the RSS run"; }
RSS1=$(rss "$PL")
echo "  t=$t s (end of replay): VmRSS $RSS1 kB"
sleep 2
delivered=$(( $(stat_of "$NSB" "$VB" rx_packets) - rx0 ))
vethdrop=$(( $(stat_of "$NSA" "$VA" tx_dropped) - txd0 ))
kill -INT "$PL"
wait "$PL" || die "pcaplens live exited with status $? after the RSS run"
read -r sent failed achieved < <(replay_figures "$base.replay")
python3 - "$base.json" "$RSS0" "$RSS1" "$sent" "$delivered" "$vethdrop" "$achieved" "$SECS" "${RSS60:-0}" <<'EOF'
import json, sys
rep = json.load(open(sys.argv[1]))
live = rep["live"]
r0, r1, sent, delivered, vethdrop, achieved, secs, r60 = map(int, sys.argv[2:10])
d = live["drops"]
change = (r1 - r0) * 100.0 / r0
print("  replayed %d packets (%d pps achieved), veth delivered %d (vethdrop %d); pcaplens analysed %d, "
      "drops kernel %d, interface %d, queue %d"
      % (sent, achieved, delivered, vethdrop, live["packets_analysed"], d["kernel"], d["interface"], d["queue"]))
print("RSS: %.1f MB after 10 s, %.1f MB at the end: %+.1f %% (target: within 10 %%) -> %s"
      % (r0 / 1024, r1 / 1024, change, "flat" if abs(change) <= 10 else "NOT FLAT"))
if r60 and secs >= 120:
    print("     after the first minute (the flow table filled): %.1f MB at 60 s, %.1f MB at the end: %+.1f %%"
          % (r60 / 1024, r1 / 1024, (r1 - r60) * 100.0 / r60))
EOF
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
