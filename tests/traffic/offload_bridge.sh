#!/usr/bin/env bash
# Checksum offload as a capture on the capturing machine shows it (issue 26):
# three network namespaces on one bridge, each serving HTTP and fetching from
# the others with curl, captured with tcpdump on the bridge. Every sender is on
# this machine, so the kernel leaves the TCP checksums partial (the
# pseudo-header sum, for a NIC to finish) in both directions of every
# conversation. Usage: offload_bridge.sh OUT.pcap. Needs root, ip, tcpdump,
# curl and python3; the namespaces are removed on exit, also on failure.
set -euo pipefail
out=$1
p=plo$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in hub a b c; do ip netns del "${p}$n" 2>/dev/null || true; done
}
trap cleanup EXIT
ip netns add "${p}hub"
ip -n "${p}hub" link add br0 type bridge
ip -n "${p}hub" link set br0 up
i=1
for n in a b c; do
  ip netns add "${p}$n"
  ip link add "v$n" netns "${p}$n" type veth peer name "p$n" netns "${p}hub"
  ip -n "${p}$n" addr add "10.77.0.$i/24" dev "v$n"
  ip -n "${p}$n" link set "v$n" up
  ip -n "${p}$n" link set lo up
  ip -n "${p}hub" link set "p$n" master br0
  ip -n "${p}hub" link set "p$n" up
  i=$((i + 1))
done
# --immediate-mode: without it libpcap hands packets over only when a ring
# block fills or its one-second timeout passes, and a stop before that loses
# every packet of this short exchange.
ip netns exec "${p}hub" tcpdump --immediate-mode -i br0 -w "$out" -U -s 0 2>"$out.tcpdump.log" &
tcpdump_pid=$!
pids+=($tcpdump_pid)
# tcpdump says "listening on" once it captures; traffic before that is lost
# (on a loaded machine it takes seconds to get there).
for _ in $(seq 300); do
  grep -q "listening on" "$out.tcpdump.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening on" "$out.tcpdump.log" || { echo "tcpdump did not start: $(cat "$out.tcpdump.log")" >&2; exit 1; }
for n in a b c; do
  ip netns exec "${p}$n" python3 -m http.server 8000 --bind 0.0.0.0 >/dev/null 2>&1 &
  pids+=($!)
done
# Until every server answers.
for addr in 10.77.0.1 10.77.0.2 10.77.0.3; do
  for _ in $(seq 50); do
    ip netns exec "${p}a" curl -s -o /dev/null "http://$addr:8000/" && break
    sleep 0.1
  done
done
for _ in 1 2 3 4; do
  ip netns exec "${p}a" curl -sf -o /dev/null http://10.77.0.2:8000/
  ip netns exec "${p}b" curl -sf -o /dev/null http://10.77.0.3:8000/
  ip netns exec "${p}c" curl -sf -o /dev/null http://10.77.0.1:8000/
  ip netns exec "${p}a" curl -sf -o /dev/null http://10.77.0.3:8000/
done
sleep 0.5
# Stop tcpdump ourselves and wait for it to close the file, so what the
# caller reads is complete, and fail here (with tcpdump's words) if it saw
# nothing rather than hand back an empty capture.
kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || true
grep -Eq "^[1-9][0-9]* packets? captured" "$out.tcpdump.log" || {
  echo "tcpdump captured nothing: $(cat "$out.tcpdump.log")" >&2
  exit 1
}
