"""Network-namespace lab for the application-traffic scenarios (apps.py).

One namespace per scenario (its own lo), processes started inside it and
always cleaned up (namespace deleted, every child killed) by `Lab.close`,
also when the scenario fails. tshark is run with the corpus oracle's options
(tests/corpus/ORACLE.md) so its counts are defined exactly as the
stored truth files define them.
"""
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))

# The oracle's pinned preferences (ORACLE.md), with -n -2.
from oracle import PREFS  # noqa: E402


class Lab:
    """A namespace (plus optional peers joined by veth) and its processes."""

    def __init__(self, tag):
        self.tag = tag
        self.namespaces = []
        self.procs = []
        self.ns = self.add_ns("a")

    def add_ns(self, suffix):
        name = "pla%s%s" % (self.tag, suffix)
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def veth(self, other_ns, addr_a, addr_b, prefix=24):
        """Join self.ns and other_ns with a veth pair (names fit IFNAMSIZ)."""
        a, b = "va%s" % self.tag[-8:], "vb%s" % self.tag[-8:]
        run(["ip", "link", "add", a, "netns", self.ns, "type", "veth", "peer", "name", b,
             "netns", other_ns])
        run(["ip", "-n", self.ns, "addr", "add", "%s/%d" % (addr_a, prefix), "dev", a])
        run(["ip", "-n", other_ns, "addr", "add", "%s/%d" % (addr_b, prefix), "dev", b])
        run(["ip", "-n", self.ns, "link", "set", a, "up"])
        run(["ip", "-n", other_ns, "link", "set", b, "up"])
        return a, b

    def cmd(self, argv, ns=None):
        return ["ip", "netns", "exec", ns or self.ns] + list(argv)

    def run(self, argv, ns=None, timeout=20, check=True, input=None):
        p = subprocess.run(self.cmd(argv, ns), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (argv, p.returncode,
                                                     p.stderr.decode(errors="replace")))
        return p

    def spawn(self, argv, ns=None, stdin=subprocess.DEVNULL, ready=None, stdout=None):
        """Start a process in the namespace; with `ready`, wait until a line
        containing it appears on its stdout (servers print it once bound)."""
        p = subprocess.Popen(self.cmd(argv, ns), stdin=stdin,
                             stdout=subprocess.PIPE if ready else (stdout or subprocess.DEVNULL),
                             stderr=subprocess.PIPE if ready else subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        if ready:
            wait_for_line(p, p.stdout, ready, argv)
        return p

    def py(self, script, *args, ns=None, ready="ready"):
        return self.spawn([sys.executable, os.path.join(HERE, script)] + list(args), ns=ns,
                          ready=ready)

    def capture(self, iface, path, ns=None):
        """tcpdump inside the namespace; returns once it is listening."""
        p = subprocess.Popen(self.cmd(["tcpdump", "--immediate-mode", "-B", "32768", "-U", "-n", "-s", "0", "-i", iface, "-w", path],
                                      ns),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
        self.procs.append(p)
        wait_for_line(p, p.stderr, "listening on", ["tcpdump"])
        return p

    def stop_capture(self, p):
        time.sleep(0.2)  # let the last packets reach the capture buffer
        p.send_signal(signal.SIGINT)
        p.wait(timeout=10)
        sys.stderr.write("tcpdump: %s\n" % " / ".join(l for l in p.lines if "packets" in l))

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.procs):
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=3)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (argv, p.stderr.decode(errors="replace")))
    return p


def wait_for_line(p, stream, needle, what, timeout=10):
    """Read `stream` until a line contains `needle`; keep draining it after
    (the lines are kept in p.lines)."""
    found = threading.Event()
    p.lines = []

    def reader():
        for raw in iter(stream.readline, b""):
            p.lines.append(raw.decode(errors="replace").rstrip())
            if needle.encode() in raw:
                found.set()
        found.set()

    threading.Thread(target=reader, daemon=True).start()
    if not found.wait(timeout) or p.poll() not in (None, 0):
        raise RuntimeError("%s did not become ready: %s" % (what, getattr(p, "lines", [])))
    if p.poll() is not None:
        raise RuntimeError("%s exited before it was ready" % (what,))


# ---------------------------------------------------------------- tshark side

FIELDS = [
    "frame.number", "dns.flags.response", "dns.flags.rcode", "dns.response_in",
    "dns.qry.name", "http.request", "http.response", "http.response.code",
    "http.request.method", "http.host", "http.request.uri",
    "tls.handshake.extensions_server_name", "tls.alert_message", "tls.alert_message.desc",
    "tls.handshake.extensions_alpn_str", "tls.handshake.type",
    "quic.version", "icmp", "icmpv6", "dns", "mdns", "llmnr", "tls", "quic",
]


def tshark_cmd(path):
    """tshark with the oracle's options and an empty configuration directory."""
    env = dict(os.environ, LC_ALL="C", TZ="UTC")
    conf = os.path.join(os.path.dirname(path), "wsconf")
    os.makedirs(conf, exist_ok=True)
    env["WIRESHARK_CONFIG_DIR"] = conf
    cmd = ["tshark", "-n", "-2"]
    for p in PREFS:
        cmd += ["-o", p]
    return cmd + ["-r", path], env


def tshark_filter_frames(path, display_filter):
    """Frame numbers matching a display filter."""
    cmd, env = tshark_cmd(path)
    p = subprocess.run(cmd + ["-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        raise RuntimeError("tshark -Y %r failed: %s" % (display_filter,
                                                        p.stderr.decode(errors="replace")))
    return [int(x) for x in p.stdout.split()]


def tshark_rows(path):
    cmd, env = tshark_cmd(path)
    cmd += ["-T", "fields", "-E", "header=n", "-E", "separator=/t",
            "-E", "occurrence=a", "-E", "aggregator=|", "-E", "quote=n"]
    for f in FIELDS:
        cmd += ["-e", f]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if p.returncode != 0:
        raise RuntimeError("tshark failed: %s" % p.stderr.decode(errors="replace"))
    rows = []
    for line in p.stdout.decode(errors="replace").splitlines():
        cols = line.split("\t")
        cols += [""] * (len(FIELDS) - len(cols))
        rows.append({f: (cols[i].split("|") if cols[i] != "" else [])
                     for i, f in enumerate(FIELDS)})
    return rows


def ints(vals):
    out = []
    for v in vals:
        try:
            out.append(int(v, 0))
        except ValueError:
            pass
    return out


def tshark_counts(path):
    """The oracle's counters for this capture (same definitions as oracle.py),
    plus the frame numbers behind them, for frame-level checks."""
    c = Counter()
    rcodes, http_codes, alerts, quic_versions = Counter(), Counter(), Counter(), Counter()
    frames = {k: [] for k in ["dns_error", "dns_unanswered", "http_error", "tls_alert",
                              "quic_vn", "http_request", "http_response"]}
    sni, alpn, http_errors = set(), set(), []
    for r in tshark_rows(path):
        n = int(r["frame.number"][0])
        is_dns = bool(r["dns"])
        in_icmp = bool(r["icmp"] or r["icmpv6"])
        resp, rcode = ints(r["dns.flags.response"]), ints(r["dns.flags.rcode"])
        if is_dns and not in_icmp:
            # (A query quoted in an ICMP error is not a message sent.)
            c["dns_frames"] += 1
            c["dns_query_messages"] += resp.count(0)
            c["dns_response_messages"] += resp.count(1)
        if r["mdns"] or r["llmnr"]:
            c["mdns_llmnr_frames"] += 1
        if is_dns and 1 in resp and any(x != 0 for x in rcode):
            c["dns_error_responses_dnsproto"] += 1
            frames["dns_error"].append(n)
            for rs, rc in zip(resp, rcode):
                if rs == 1 and rc != 0:
                    rcodes[rc] += 1
        if is_dns and 0 in resp and not r["dns.response_in"] and not in_icmp:
            c["dns_queries_unanswered_dnsproto"] += 1
            frames["dns_unanswered"].append(n)
        if r["http.request"]:
            c["http_requests"] += 1
            frames["http_request"].append(n)
        if r["http.response"]:
            c["http_responses"] += 1
            frames["http_response"].append(n)
        codes = ints(r["http.response.code"])
        for x in codes:
            http_codes[x] += 1
        if any(x >= 400 for x in codes):
            c["http_error_responses"] += 1
            frames["http_error"].append(n)
        if r["tls"]:
            c["tls_frames"] += 1
        if r["tls.handshake.extensions_server_name"]:
            c["tls_sni_frames"] += 1
            sni.update(r["tls.handshake.extensions_server_name"])
        alpn.update(r["tls.handshake.extensions_alpn_str"])
        if r["tls.alert_message"]:
            c["tls_alert_frames"] += 1
            frames["tls_alert"].append(n)
        for d in ints(r["tls.alert_message.desc"]):
            alerts[d] += 1
        c["tls_client_hellos"] += ints(r["tls.handshake.type"]).count(1)
        if r["quic"]:
            c["quic_frames"] += 1
        qv = ints(r["quic.version"])
        for v in qv:
            quic_versions["0x%08x" % v] += 1
        if 0 in qv:
            c["quic_version_negotiation"] += 1
            frames["quic_vn"].append(n)
    return {
        "counts": dict(c),
        "dns_rcodes": {str(k): v for k, v in sorted(rcodes.items())},
        "http_codes": {str(k): v for k, v in sorted(http_codes.items())},
        "tls_alert_descriptions": {str(k): v for k, v in sorted(alerts.items())},
        "quic_versions": dict(sorted(quic_versions.items())),
        "tls_sni": sorted(sni),
        "tls_alpn": sorted(alpn),
        "frames": frames,
    }
