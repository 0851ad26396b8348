"""Application-level real-traffic scenarios for pcaplens (DNS, HTTP, TLS, QUIC,
blocklist). Usage:

    apps.py SCENARIO OUTDIR TAG

Makes the scenario's traffic with real tools (dig, curl, openssl) and the
stdlib servers of apps_servers.py inside a fresh network namespace, captures
it with tcpdump inside the namespace, and writes to OUTDIR:

  capture.pcap   the capture
  result.json    {"truth": what the servers/clients know they did,
                  "tshark": the oracle's counters on capture.pcap}

tests/integration/traffic_apps.rs runs pcaplens on the same capture and
compares. TAG makes names unique (the Rust test passes pid + counter).
"""
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apps_lab import Lab, tshark_counts  # noqa: E402

SERVERS = "apps_servers.py"


def read_log(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def wait_all(procs, timeout=15):
    for p in procs:
        p.wait(timeout=timeout)


# ------------------------------------------------------------------ DNS

def scenario_dns(lab, out):
    """dig over UDP and TCP against the stdlib authoritative server; capture on
    `any` (Linux SLL)."""
    ns = lab.ns
    lab.run(["ip", "addr", "add", "10.53.0.1/24", "dev", "lo"])
    lab.run(["ip", "link", "set", "lo", "multicast", "on"])
    lab.run(["ip", "route", "add", "224.0.0.0/4", "dev", "lo"])
    log = os.path.join(out, "dns.log")
    pcap = os.path.join(out, "capture.pcap")
    cap = lab.capture("any", pcap)
    lab.py(SERVERS, "dns", "10.53.0.1", log)
    dig = ["dig", "@10.53.0.1", "-b", "10.53.0.2", "+timeout=1"]
    udp = [("www.app.test", "A"), ("v6.app.test", "AAAA"), ("alias.app.test", "A"),
           ("nx1.app.test", "A"), ("nx2.app.test", "MX"), ("broken.app.test", "A"),
           ("closed.app.test", "A"), ("garbled.app.test", "A"), ("big.app.test", "A")]
    procs = [lab.spawn(dig + ["+tries=1", n, t]) for n, t in udp]
    # Unanswered: one query given up at once, one retried once (same id).
    procs.append(lab.spawn(dig + ["+tries=1", "drop1.app.test", "A"]))
    procs.append(lab.spawn(dig + ["+tries=2", "drop2.app.test", "A"]))
    # Several queries on one TCP connection.
    batch = os.path.join(out, "batch.txt")
    with open(batch, "w") as f:
        f.write("www.app.test A\nnx3.app.test A\nbroken.app.test A\nalias.app.test A\n")
    procs.append(lab.spawn(dig + ["+tries=1", "+tcp", "+keepopen", "-f", batch]))
    # mDNS and LLMNR queries: other protocols for tshark, must stay apart.
    lab.run([sys.executable, "-c", MDNS_SENDER])
    wait_all(procs)
    lab.stop_capture(cap)
    entries = read_log(log)
    answered = [e for e in entries if e["action"] == "answer"]
    rcodes = Counter(str(e["rcode"]) for e in answered if e["rcode"] != 0)
    return pcap, {
        "responses": len(answered),
        "error_rcodes": dict(sorted(rcodes.items())),
        "dropped_queries": sum(1 for e in entries if e["action"] == "drop"),
        "truncated_udp": sum(1 for e in answered if e.get("tc")),
        "tcp_responses": sum(1 for e in answered if e["transport"] == "tcp"),
        "tcp_connections_expected_min": 2,  # the TC retry and the keepopen batch
        "mdns_llmnr_sent": 2,
    }


MDNS_SENDER = r"""
import socket, struct
def q(name, qid):
    return struct.pack('!HHHHHH', qid, 0, 1, 0, 0, 0) + b''.join(
        bytes([len(p)]) + p.encode() for p in name.split('.')) + b'\0' + struct.pack('!HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('10.53.0.2'))
s.sendto(q('printer.local', 0), ('224.0.0.251', 5353))
s.sendto(q('fileserver', 0x4242), ('224.0.0.252', 5355))
"""


# ------------------------------------------------------------------ main

SCENARIOS = {
    "dns": scenario_dns,
}


def main():
    name, out, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(out, exist_ok=True)
    for tool in ("ip", "tcpdump", "tshark"):
        if shutil.which(tool) is None:
            sys.exit("missing tool: %s" % tool)
    if os.geteuid() != 0:
        sys.exit("live traffic scenarios need root (network namespaces)")
    t0 = time.monotonic()
    with Lab(tag) as lab:
        pcap, truth = SCENARIOS[name](lab, out)
    result = {"scenario": name, "truth": truth, "tshark": tshark_counts(pcap),
              "traffic_secs": round(time.monotonic() - t0, 3)}
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
