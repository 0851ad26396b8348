#!/usr/bin/env python3
"""Real transport-level traffic for pcaplens's live tests (tests/integration/traffic_transport.rs).

    transport.py SCENARIO OUT_DIR TAG

builds throw-away network namespaces (names carry TAG, unique per test), makes
real Linux stacks and real tools (curl, hping3, nmap, the kernel's TCP) talk,
captures with tcpdump inside the namespaces, runs tshark on every capture with
the corpus oracle's options, and writes OUT_DIR/result.json:

    {"scenario": ..., "truth": {...what the scenario fixes exactly...},
     "captures": [{"file": ..., "link": ..., "tshark": {...counts and frames...}}]}

The Rust test then runs pcaplens on the same files and compares. Everything the
script started is stopped and every namespace deleted, also on failure.

Scenarios: bulk (faulty TUN relay), windows (zero window, keep-alive), resets,
syn (unanswered SYNs), unreach (ICMP/ICMPv6 destination unreachable), routed
(capture on a router), scans_tcp and scans_other (nmap, ping). The relay's seed
comes from PCAPLENS_TRAFFIC_SEED (default 7).
"""
import ctypes
import fcntl
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

# ---------------------------------------------------------------- tshark, as the oracle runs it

from oracle import PREFS  # noqa: E402

# tcp.analysis.* flags compared frame by frame (the oracle's seven first, then the rest).
FLAGS = [
    "retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
    "duplicate_ack", "zero_window", "lost_segment",
    "zero_window_probe", "zero_window_probe_ack", "keep_alive", "keep_alive_ack",
    "window_full", "window_update", "ack_lost_segment", "reused_ports",
]
FIELDS = ["frame.number", "tcp.stream", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset",
          "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code", "icmp", "icmpv6"] + \
         ["tcp.analysis." + f for f in FLAGS]


# The oracle's names of ICMP destination unreachable codes (oracle.py ICMP_UNREACH).
ICMP_UNREACH = {0: "net", 1: "host", 2: "protocol", 3: "port", 4: "frag-needed",
                5: "src-route-failed", 9: "net-prohibited", 10: "host-prohibited",
                13: "admin-prohibited"}


def tshark_summary(path):
    """The oracle's TCP/ICMP counters of one capture, with the frame numbers behind them."""
    cmd = ["tshark", "-n", "-2"] + [a for p in PREFS for a in ("-o", p)] + [
        "-r", path, "-T", "fields", "-E", "header=n", "-E", "separator=/t",
        "-E", "occurrence=a", "-E", "aggregator=|", "-E", "quote=n"]
    for f in FIELDS:
        cmd += ["-e", f]
    # An empty configuration directory, as the oracle runs tshark.
    with tempfile.TemporaryDirectory(prefix="pl-wsconf-") as conf:
        env = dict(os.environ, WIRESHARK_CONFIG_DIR=conf, LC_ALL="C", TZ="UTC")
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           check=False)
    if p.returncode != 0:
        raise RuntimeError("tshark failed on %s: %s" % (path, p.stderr.decode()))
    fi = {f: i for i, f in enumerate(FIELDS)}

    def vals(row, f):
        v = row[fi[f]] if fi[f] < len(row) else ""
        return v.split("|") if v else []

    def ints(row, f):
        return [int(x, 0) for x in vals(row, f) if x not in ("", "False", "True")]

    out = {"frames": 0, "rst": [], "icmp_unreach": [], "icmpv6_unreach": [],
           "icmp_codes": {}, "icmpv6_codes": {}, "flags": {f: [] for f in FLAGS}}
    syn_streams, synack_streams, syn_frames = {}, set(), {}
    for line in p.stdout.decode().splitlines():
        if not line.strip():
            continue
        r = line.split("\t")
        n = int(r[0])
        out["frames"] += 1
        for f in FLAGS:
            if vals(r, "tcp.analysis." + f):
                out["flags"][f].append(n)
        if 1 in ints(r, "tcp.flags.reset"):
            out["rst"].append(n)
        for proto, tname, cname, want in (("icmp", "icmp.type", "icmp.code", 3),
                                          ("icmpv6", "icmpv6.type", "icmpv6.code", 1)):
            types, codes = ints(r, tname), ints(r, cname)
            if want in types:
                out[proto + "_unreach"].append(n)
                code = codes[types.index(want)]
                out[proto + "_codes"][str(code)] = out[proto + "_codes"].get(str(code), 0) + 1
        if not (vals(r, "icmp") or vals(r, "icmpv6")):
            for st, s, a in zip(ints(r, "tcp.stream"), ints(r, "tcp.flags.syn"),
                                ints(r, "tcp.flags.ack")):
                if s == 1 and a == 0:
                    syn_streams.setdefault(st, n)
                    syn_frames[st] = syn_frames.get(st, 0) + 1
                if s == 1 and a == 1:
                    synack_streams.add(st)
    out["icmp_codes_oracle"] = {"%s:%s" % (c, ICMP_UNREACH.get(int(c), "?")): n
                                for c, n in out["icmp_codes"].items()}
    out["syn_without_synack"] = sorted(
        [{"first_frame": f, "syns": syn_frames[st]} for st, f in syn_streams.items()
         if st not in synack_streams], key=lambda x: x["first_frame"])
    return out


# ---------------------------------------------------------------- namespaces and processes

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class Lab:
    """Namespaces, links and processes of one scenario; close() undoes everything."""

    def __init__(self, tag, out):
        self.tag, self.out = tag, out
        self.namespaces, self.procs, self.captures, self.files = [], [], [], []
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.stop = threading.Event()
        self.profile = {}
        self.threads = []

    def ns(self, letter):
        name = "pltr%s%s" % (self.tag, letter)  # "tr": transport (other suites differ)
        sh(["ip", "netns", "add", name])
        self.namespaces.append(name)
        self.ip(name, "link set lo up")
        return name

    def ip(self, ns, args):
        sh(["ip", "-n", ns] + args.split())

    def sysctl(self, ns, key, value):
        sh(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "%s=%s" % (key, value)])

    def veth(self, a, b, offloads=False):
        """A veth pair between namespaces a and b; returns (name in a, name in b)."""
        ia, ib = "va%s" % self.tag, "vb%s" % self.tag
        sh(["ip", "link", "add", ia, "netns", a, "type", "veth", "peer", "name", ib, "netns", b])
        for ns, i in ((a, ia), (b, ib)):
            # Without offloads no TSO super-packets: the sender's capture shows
            # wire-sized segments.
            self.ip(ns, "link set %s %s up" % (i, "" if offloads else "gso_max_segs 1"))
        return ia, ib

    def in_ns(self, ns, fn):
        """Run fn() with this thread inside ns: sockets and TUN devices it makes live there."""
        fd = os.open("/var/run/netns/" + ns, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + ns)
            return fn()
        finally:
            os.close(fd)
            if _libc.setns(self.home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")

    def sock(self, ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        return self.in_ns(ns, lambda: socket.socket(family, kind))

    def spawn(self, ns, cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, **kw)
        self.procs.append(p)
        return p

    def run(self, ns, cmd, timeout=60, ok=(0,)):
        p = self.spawn(ns, cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=timeout)
        if p.returncode not in ok:
            raise RuntimeError("%s failed (%d): %s" % (cmd, p.returncode, err.decode()))
        return out.decode()

    def capture(self, ns, iface, name, link, snaplen=4096, extra=(), buffer_kib=65536):
        """Start tcpdump in ns and wait until it listens; stop_captures() ends it."""
        path = os.path.join(self.out, name)
        # Immediate mode: with TPACKET_V3 blocks, packets of the last block can
        # be lost when tcpdump is stopped. Immediate mode gives one ring slot
        # per snaplen, so the snaplen is kept small (no frame here is larger:
        # veths have GSO off, the TUNs have no offloads) and the buffer (-B,
        # KiB) big, or a burst like nmap's overflows the ring.
        p = self.spawn(ns, ["tcpdump", "-U", "--immediate-mode", "-B", str(buffer_kib), "-n",
                            "-s", str(snaplen)] + list(extra) + ["-i", iface, "-w", path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seen = b""
        while b"listening on" not in seen:
            line = p.stderr.readline()
            if not line:
                raise RuntimeError("tcpdump in %s on %s died: %s" % (ns, iface, seen.decode()))
            seen += line
        self.captures.append(p)
        self.files.append({"file": name, "link": link})
        return path

    def stop_captures(self, allow_drops=False):
        """Stop the captures. A capture that dropped packets still serves the
        pcaplens == tshark comparison, but not a scenario's exact truth, so
        drops fail the run unless allow_drops."""
        time.sleep(0.3)  # let the last packets reach the capture buffers
        for p in self.captures:
            p.send_signal(signal.SIGINT)
        for p in self.captures:
            err = p.stderr.read().decode()
            p.wait(timeout=10)
            dropped = [l for l in err.splitlines() if "dropped by kernel" in l]
            if dropped and not dropped[0].startswith("0 ") and not allow_drops:
                raise RuntimeError("tcpdump lost packets: " + err)
        self.captures = []

    def thread(self, fn):
        t = threading.Thread(target=fn, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def close(self):
        self.stop.set()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p in self.captures else signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for t in self.threads:
            t.join(timeout=5)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], check=False)


def sh(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), p.stderr.decode().strip()))
    return p.stdout.decode()


# ---------------------------------------------------------------- lossy relay between two TUNs

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def open_tun(lab, ns, name):
    def make():
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        return fd
    fd = lab.in_ns(ns, make)
    lab.ip(ns, "link set %s up" % name)
    return fd


MILD = {"latency": 0.0, "loss": 0.02, "burst": 0.0, "dup": 0.01, "delay": 0.03,
        "max_delay": 0.008, "ack_loss": 0.01, "ack_dup": 0.0, "ack_delay": 0.0}
# A 4 ms path with burst losses, late segments (past the RTT: retransmission or
# out-of-order by tshark's timing rule) and lost, duplicated and late ACKs.
HARSH = {"latency": 0.002, "loss": 0.03, "burst": 0.01, "dup": 0.02, "delay": 0.05,
         "max_delay": 0.02, "ack_loss": 0.03, "ack_dup": 0.02, "ack_delay": 0.03,
         "small_loss": 0.1}


def relay(lab, fd_a, fd_b, seed):
    """Forward IP packets between two TUN fds with the faults of lab.profile
    (read per packet, so a scenario can change it between transfers): a -> b
    (data) loses (also in bursts), duplicates and delays (so reorders) segments;
    b -> a does the same to ACKs. Packets of 200 bytes or less in the data
    direction (handshake, FIN) pass untouched unless the profile has a
    small_loss. Seeded."""
    rng = random.Random(seed)
    pending = []  # (due, seq, fd, packet)
    seq = 0
    burst_left = 0

    def send(to, pkt, extra):
        nonlocal seq
        due = time.monotonic() + lab.profile["latency"] + extra
        if due <= time.monotonic():
            os.write(to, pkt)
        else:
            seq += 1
            heapq.heappush(pending, (due, seq, to, pkt))

    while not lab.stop.is_set():
        timeout = 0.05
        if pending:
            timeout = max(0.0, min(timeout, pending[0][0] - time.monotonic()))
        ready, _, _ = select.select([fd_a, fd_b], [], [], timeout)
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, fd, pkt = heapq.heappop(pending)
            os.write(fd, pkt)
        for fd in ready:
            try:
                pkt = os.read(fd, 65536)
            except OSError:
                return
            pr = lab.profile
            data = fd == fd_a
            to = fd_b if data else fd_a
            if data and len(pkt) <= 200:
                # Handshake and FIN: lost only in the harsh profile (then the
                # SYN/ACK or FIN is retransmitted).
                if rng.random() >= pr.get("small_loss", 0.0):
                    send(to, pkt, 0.0)
                continue
            if data and burst_left > 0:
                burst_left -= 1
                continue
            x = rng.random()
            loss, dup, delay = ((pr["loss"], pr["dup"], pr["delay"]) if data else
                                (pr["ack_loss"], pr["ack_dup"], pr["ack_delay"]))
            if data and x < pr["burst"]:
                burst_left = rng.randint(1, 4)
                continue
            x -= pr["burst"] if data else 0.0
            if x < loss:
                continue
            if x < loss + dup:
                send(to, pkt, 0.0)
                send(to, pkt, 0.0)
            elif x < loss + dup + delay:
                send(to, pkt, rng.uniform(0.001, pr["max_delay"]))
            else:
                send(to, pkt, 0.0)


# ---------------------------------------------------------------- scenarios

def serve_bytes(lab, srv, size):
    """Accept one connection and send `size` bytes, then close."""
    def run():
        c, _ = srv.accept()
        chunk = b"x" * 65536
        left = size
        while left > 0:
            left -= c.send(chunk[:min(left, len(chunk))])
        c.close()
    return lab.thread(run)


def scenario_bulk(lab, seed):
    """Two bulk downloads across a faulty relay: a Python socket server (mild
    faults) and curl from python http.server (harsh faults: latency, burst loss,
    late and duplicated segments and ACKs). Captured on the receiver's TUN
    (raw IP; segments the relay dropped are truly never seen) and on the sender
    with -i any (Linux SLL; the sender's retransmissions as sent)."""
    a, b = lab.ns("a"), lab.ns("b")
    ta, tb = "ta%s" % lab.tag, "tb%s" % lab.tag
    fd_a, fd_b = open_tun(lab, a, ta), open_tun(lab, b, tb)
    lab.ip(a, "addr add 10.1.0.1/24 dev %s" % ta)
    lab.ip(b, "addr add 10.1.0.2/24 dev %s" % tb)
    lab.ip(a, "addr add fd00:1::1/64 dev %s nodad" % ta)
    lab.ip(b, "addr add fd00:1::2/64 dev %s nodad" % tb)
    lab.profile = MILD
    lab.thread(lambda: relay(lab, fd_a, fd_b, seed))
    srv = lab.sock(a)
    srv.bind(("10.1.0.1", 5001))
    srv.listen(4)
    www = os.path.join(lab.out, "www")
    os.makedirs(www)
    with open(os.path.join(www, "blob.bin"), "wb") as f:
        f.write(random.Random(seed).randbytes(1_500_000))
    httpd = lab.spawn(a, [sys.executable, "-m", "http.server", "--bind", "10.1.0.1",
                          "--directory", www, "8080"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lab.capture(b, tb, "bulk-receiver.pcap", "raw")
    lab.capture(a, "any", "bulk-sender.pcap", "sll")
    sender = serve_bytes(lab, srv, 3_000_000)
    cli = lab.sock(b)
    cli.settimeout(30)
    cli.connect(("10.1.0.1", 5001))
    got = 0
    while True:
        d = cli.recv(1 << 16)
        if not d:
            break
        got += len(d)
    cli.close()
    sender.join(30)
    lab.profile = HARSH
    # Three downloads, so some handshakes and FINs are lost too. http.server
    # needs a moment to listen: connection refusals are retried.
    curl_sizes = []
    for _ in range(60):
        if httpd.poll() is not None:
            raise RuntimeError("http.server died")
        r = lab.spawn(b, ["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}",
                          "http://10.1.0.1:8080/blob.bin"], stdout=subprocess.PIPE,
                      stderr=subprocess.DEVNULL)
        out, _ = r.communicate(timeout=30)
        if r.returncode == 0:
            curl_sizes.append(int(out))
            if len(curl_sizes) == 3:
                break
        else:
            time.sleep(0.1)
    else:
        raise RuntimeError("curl never reached http.server")
    # And one transfer over IPv6.
    srv6 = lab.sock(a, socket.AF_INET6)
    srv6.bind(("fd00:1::1", 5001))
    srv6.listen(1)
    sender = serve_bytes(lab, srv6, 1_000_000)
    cli = lab.sock(b, socket.AF_INET6)
    cli.settimeout(30)
    cli.connect(("fd00:1::1", 5001))
    got6 = 0
    while True:
        d = cli.recv(1 << 16)
        if not d:
            break
        got6 += len(d)
    cli.close()
    sender.join(30)
    lab.stop_captures(allow_drops=True)
    return {"received_socket": got, "received_curl": curl_sizes, "received_v6": got6,
            "scans": 0}


def scenario_windows(lab, seed):
    """Zero window (a receiver with a tiny SO_RCVBUF that stops reading; the sender
    sends zero-window probes) and keep-alives (SO_KEEPALIVE, 1 s idle/interval) over a
    veth, captured on the sender with -i any (SLL) and on the receiver's veth (Ethernet)."""
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b)
    lab.ip(a, "addr add 10.6.0.1/24 dev %s" % va)
    lab.ip(b, "addr add 10.6.0.2/24 dev %s" % vb)
    srv = lab.sock(a)
    srv.bind(("10.6.0.1", 6001))
    srv.listen(4)
    lab.capture(a, "any", "windows-sender.pcap", "sll")
    lab.capture(b, vb, "windows-receiver.pcap", "ethernet")
    sender = serve_bytes(lab, srv, 400_000)
    slow = lab.sock(b)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("10.6.0.1", 6001))
    ka_srv = lab.sock(a)
    ka_srv.bind(("10.6.0.1", 6002))
    ka_srv.listen(1)
    ka = lab.sock(b)
    ka.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    ka.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
    ka.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    ka.connect(("10.6.0.1", 6002))
    ka_peer, _ = ka_srv.accept()
    time.sleep(2.6)  # the slow reader's window is closed; keep-alives at ~1 s and ~2 s
    got = 0
    slow.settimeout(20)
    while True:
        d = slow.recv(1 << 16)
        if not d:
            break
        got += len(d)
    slow.close()
    sender.join(20)
    ka.close()
    ka_peer.close()
    lab.stop_captures()
    return {"received": got, "scans": 0}


def scenario_offload(lab, seed):
    """A veth with its default offloads: the sender's stack hands TSO
    super-packets (up to 64 KB) to the device, and a capture on the sender
    shows them as they are. Bulk transfer plus a receiver that stops reading
    (zero window), captured on the sender with -i any and snaplen 262144 (whole
    super-packets) and on the receiver with snaplen 65535, where the largest
    super-packets are cut: payload lengths then come from the IP header."""
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b, offloads=True)
    lab.ip(a, "addr add 10.9.0.1/24 dev %s" % va)
    lab.ip(b, "addr add 10.9.0.2/24 dev %s" % vb)
    srv = lab.sock(a)
    srv.bind(("10.9.0.1", 6001))
    srv.listen(4)
    lab.capture(a, "any", "offload-sender.pcap", "sll", snaplen=262144)
    lab.capture(a, va, "offload-sender-eth.pcap", "ethernet", snaplen=65535)
    sender = serve_bytes(lab, srv, 4_000_000)
    slow = lab.sock(b)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    slow.connect(("10.9.0.1", 6001))
    time.sleep(0.5)
    got = 0
    slow.settimeout(20)
    while True:
        d = slow.recv(1 << 16)
        if not d:
            break
        got += len(d)
    slow.close()
    sender.join(20)
    lab.stop_captures()
    return {"received": got, "scans": 0}


def scenario_loopback(lab, seed):
    """Loopback inside one namespace (MTU 64 KiB: segments far larger than
    Ethernet's): a bulk transfer, a refused connect over ::1 and a keep-alive
    connection. Captured with -i any (whole frames) and on lo with a 1500-byte
    snaplen, where most segments are cut and payload lengths come from the IP
    header."""
    a = lab.ns("a")
    srv = lab.sock(a)
    srv.bind(("127.0.0.1", 6001))
    srv.listen(4)
    # -i any sees every loopback packet twice (out and in).
    lab.capture(a, "any", "loopback-any.pcap", "sll", snaplen=65600, buffer_kib=262144)
    lab.capture(a, "lo", "loopback-snap1500.pcap", "ethernet", snaplen=1500)
    sender = serve_bytes(lab, srv, 3_000_000)
    c = lab.sock(a)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    c.connect(("127.0.0.1", 6001))
    time.sleep(0.3)  # the small receive buffer fills: zero window
    got = 0
    while True:
        d = c.recv(1 << 16)
        if not d:
            break
        got += len(d)
    c.close()
    sender.join(20)
    s = lab.sock(a, socket.AF_INET6)
    try:
        s.connect(("::1", 6002))
    except ConnectionRefusedError:
        pass
    s.close()
    lab.stop_captures(allow_drops=True)
    return {"received": got, "scans": 0}


def scenario_midstream(lab, seed):
    """Captures that start after the handshake (window scaling unknown to both
    tools): a transfer to a slow reader (zero window, window full, keep-alive-
    like zero-window probes) over the lossy relay, captured from the middle on
    both TUNs (raw IP)."""
    a, b = lab.ns("a"), lab.ns("b")
    ta, tb = "ta%s" % lab.tag, "tb%s" % lab.tag
    fd_a, fd_b = open_tun(lab, a, ta), open_tun(lab, b, tb)
    lab.ip(a, "addr add 10.10.0.1/24 dev %s" % ta)
    lab.ip(b, "addr add 10.10.0.2/24 dev %s" % tb)
    lab.profile = dict(MILD, latency=0.001)
    lab.thread(lambda: relay(lab, fd_a, fd_b, seed))
    srv = lab.sock(a)
    srv.bind(("10.10.0.1", 6001))
    srv.listen(4)
    sender = serve_bytes(lab, srv, 3_000_000)
    c = lab.sock(b)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
    c.connect(("10.10.0.1", 6001))
    c.settimeout(20)
    got = len(c.recv(1 << 16))
    lab.capture(a, ta, "midstream-sender.pcap", "raw")
    lab.capture(b, tb, "midstream-receiver.pcap", "raw")
    time.sleep(0.4)  # not reading: the window closes
    while True:
        d = c.recv(4096)
        if not d:
            break
        got += len(d)
    c.close()
    sender.join(20)
    lab.stop_captures(allow_drops=True)
    return {"received": got, "scans": 0}


def scenario_tfo(lab, seed):
    """TCP Fast Open and ECN negotiation between two namespaces over a veth
    (Ethernet): the first connection asks for a cookie, the next ones carry
    data in the SYN (and the SYN/ACK acknowledges it); SYNs set ECE+CWR."""
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b)
    lab.ip(a, "addr add 10.11.0.1/24 dev %s" % va)
    lab.ip(b, "addr add 10.11.0.2/24 dev %s" % vb)
    for ns in (a, b):
        lab.sysctl(ns, "net.ipv4.tcp_fastopen", 3)
        lab.sysctl(ns, "net.ipv4.tcp_ecn", 1)
    srv = lab.sock(b)
    srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
    srv.bind(("10.11.0.2", 7100))
    srv.listen(16)

    def serve():
        for _ in range(4):
            c, _ = srv.accept()
            data = c.recv(100)
            c.sendall(b"echo:" + data)
            c.close()
    t = lab.thread(serve)
    lab.capture(a, va, "tfo.pcap", "ethernet")
    replies = []
    for i in range(4):
        c = lab.sock(a)
        c.sendto(b"hello%d" % i, socket.MSG_FASTOPEN, ("10.11.0.2", 7100))
        got = b""
        while True:
            d = c.recv(100)
            if not d:
                break
            got += d
        replies.append(got.decode())
        c.close()
    t.join(10)
    lab.stop_captures()
    return {"replies": replies, "scans": 0}


def scenario_resets(lab, seed):
    """Refused connects (closed port, v4 and v6), a server that aborts after the
    handshake (SO_LINGER 0), a client that aborts (SO_LINGER 0), one clean
    connection and two clean ones from the same client port, over a veth captured on the client side (Ethernet)."""
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b)
    lab.ip(a, "addr add 10.2.0.1/24 dev %s" % va)
    lab.ip(b, "addr add 10.2.0.2/24 dev %s" % vb)
    lab.ip(a, "addr add fd00:2::1/64 dev %s nodad" % va)
    lab.ip(b, "addr add fd00:2::2/64 dev %s nodad" % vb)
    linger0 = struct.pack("ii", 1, 0)
    abort_srv, wait_srv, clean_srv = lab.sock(b), lab.sock(b), lab.sock(b)
    closer_srv = lab.sock(b)
    for s, port in ((abort_srv, 7002), (wait_srv, 7003), (clean_srv, 7004),
                    (closer_srv, 7005)):
        s.bind(("10.2.0.2", port))
        s.listen(8)

    def aborter():
        for _ in range(3):
            c, _ = abort_srv.accept()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
            c.close()

    def waiter():
        for _ in range(2):
            c, _ = wait_srv.accept()
            try:
                c.recv(100)
            except ConnectionResetError:
                pass
            c.close()

    def clean():
        c, _ = clean_srv.accept()
        c.recv(100)
        c.sendall(b"ok")
        while c.recv(100):
            pass
        c.close()
    def closer():
        for _ in range(2):
            c, _ = closer_srv.accept()
            c.sendall(b"bye")
            c.close()
    threads = [lab.thread(aborter), lab.thread(waiter), lab.thread(clean), lab.thread(closer)]
    lab.capture(a, va, "resets.pcap", "ethernet")
    refused = 0
    for fam, host in [(socket.AF_INET, "10.2.0.2")] * 5 + [(socket.AF_INET6, "fd00:2::2")] * 2:
        s = lab.sock(a, fam)
        try:
            s.connect((host, 7001))
        except ConnectionRefusedError:
            refused += 1
        s.close()
    for _ in range(3):
        s = lab.sock(a)
        s.connect(("10.2.0.2", 7002))
        try:
            s.recv(100)
        except ConnectionResetError:
            pass
        s.close()
    for _ in range(2):
        s = lab.sock(a)
        s.connect(("10.2.0.2", 7003))
        time.sleep(0.05)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
        s.close()
    s = lab.sock(a)
    s.connect(("10.2.0.2", 7004))
    s.sendall(b"hi")
    s.recv(100)
    s.shutdown(socket.SHUT_WR)
    s.recv(100)
    s.close()
    # The same client port twice: the server closes first (its TIME_WAIT takes
    # the new SYN), so the second connection reuses the 4-tuple.
    for _ in range(2):
        s = lab.sock(a)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("10.2.0.1", 45005))
        s.connect(("10.2.0.2", 7005))
        while s.recv(100):
            pass
        s.close()
    for t in threads:
        t.join(10)
    lab.stop_captures()
    return {"refused_connects": refused, "rst_frames": 12, "refused": 7, "aborted": 5,
            "from_originator": 2, "from_responder": 10,
            # responder port -> Zeek conn_state and history of every flow to it,
            # and how many flows
            "zeek": {"7001": ["REJ", "Sr", 7], "7002": ["RSTR", "ShAr", 3],
                     "7003": ["RSTO", "ShAR", 2], "7004": ["SF", "ShADadFf", 1],
                     "7005": ["SF", None, 2]}}


def scenario_syn(lab, seed):
    """SYNs that nobody answers: the target address is routed to a namespace that
    does not forward (the kernel drops silently). Three kernel connects (the
    kernel's own SYN retries; how many depends on the kernel's timers), hping3 -S
    with 4 single SYNs (a new source port each), hping3 -S with one fixed source
    port and sequence number, 3 SYNs (one connection, exactly 2 retries), and 3
    SYNs with fixed ports but new sequence numbers (3 connections). Captured on a
    veth (Ethernet)."""
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b)
    lab.ip(a, "addr add 10.3.0.1/24 dev %s" % va)
    lab.ip(b, "addr add 10.3.0.2/24 dev %s" % vb)
    lab.ip(a, "route add 10.3.9.0/24 via 10.3.0.2")
    lab.sysctl(b, "net.ipv4.ip_forward", 0)
    lab.capture(a, va, "syn.pcap", "ethernet")
    socks = []
    for port in (80, 81, 82):
        s = lab.sock(a)
        s.setblocking(False)
        try:
            s.connect(("10.3.9.9", port))
        except BlockingIOError:
            pass
        socks.append(s)
    hping = ["hping3", "-q", "-n", "-S", "-i", "u50000"]
    runs = [["-p", "443", "-c", "4"],
            ["-p", "8443", "-k", "-s", "3333", "-M", "1000", "-c", "3"]]
    # Same ports, a new sequence number each time: tshark starts a new stream
    # per SYN ("reused ports"), so 3 unanswered streams of one SYN each.
    runs += [["-p", "8444", "-k", "-s", "3334", "-M", str(seq), "-c", "1"]
             for seq in (5000, 9000, 13000)]
    t0 = time.monotonic()
    for args in runs:  # one after the other: the 8444 SYNs must keep their order
        p = lab.spawn(a, hping + args + ["10.3.9.9"], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
        time.sleep(0.3)
    time.sleep(max(0.0, 2.2 - (time.monotonic() - t0)))  # a kernel SYN retry (1 s RTO)
    for s in socks:
        s.close()
    lab.stop_captures()
    for p in lab.procs:
        if p.args[3] == "hping3":
            p.wait(timeout=10)  # hping3 exits 1 when nothing answered, as intended
    return {"unanswered_streams": 11, "kernel_ports": [80, 81, 82],
            "zeek": {str(p): ["S0", "S", n] for p, n in ((80, 1), (81, 1), (82, 1), (443, 4),
                                                        (8443, 1), (8444, 3))},
            "syns_by_port": {"443": 1, "8443": 3, "8444": 1}, "hping_443_streams": 4}


def scenario_unreach(lab, seed):
    """ICMP and ICMPv6 destination unreachable from real stacks: UDP to a closed
    port (port unreachable, v4 and v6) and datagrams/SYNs routed through a namespace
    with `unreachable` and `prohibit` routes (host unreachable / no route and
    admin prohibited). Captured with -i any (Linux SLL) on the sender."""
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b)
    lab.ip(a, "addr add 10.4.0.1/24 dev %s" % va)
    lab.ip(b, "addr add 10.4.0.2/24 dev %s" % vb)
    lab.ip(a, "addr add fd00:4::1/64 dev %s nodad" % va)
    lab.ip(b, "addr add fd00:4::2/64 dev %s nodad" % vb)
    lab.ip(a, "route add 10.77.0.0/16 via 10.4.0.2")
    lab.ip(a, "-6 route add fd00:77::/32 via fd00:4::2")
    lab.sysctl(b, "net.ipv4.ip_forward", 1)
    lab.sysctl(b, "net.ipv6.conf.all.forwarding", 1)
    lab.sysctl(b, "net.ipv4.icmp_ratemask", 0)  # no rate limit: exact counts
    lab.sysctl(b, "net.ipv6.icmp.ratemask", 127)
    lab.ip(b, "route add unreachable 10.77.1.0/24")
    lab.ip(b, "route add prohibit 10.77.2.0/24")
    lab.ip(b, "-6 route add unreachable fd00:77:1::/48")
    lab.ip(b, "-6 route add prohibit fd00:77:2::/48")
    lab.capture(a, "any", "unreach.pcap", "sll")
    sent = []  # (family, dst, port, proto) of every datagram/SYN that draws an error

    def udp(fam, dst, port, sport):
        s = lab.sock(a, fam, socket.SOCK_DGRAM)
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", sport))
        s.sendto(b"probe", (dst, port))
        s.close()
        sent.append(("udp", dst, port, sport))
        time.sleep(0.02)
    # The kernel's forwarding error path (ip_error) allows a burst of 5 per
    # source regardless of sysctls: v4 errors from the router stay at 4.
    for i in range(4):
        udp(socket.AF_INET, "10.4.0.2", 33434 + i, 40000 + i)
        udp(socket.AF_INET6, "fd00:4::2", 33434 + i, 40100 + i)
    udp(socket.AF_INET, "10.77.1.5", 4000, 40200)
    # Echo requests into the unreachable routes: the errors quote ICMP.
    lab.run(a, ["ping", "-n", "-c", "1", "-W", "1", "10.77.1.6"], ok=(1,))
    lab.run(a, ["ping", "-n", "-c", "1", "-W", "1", "fd00:77:1::8"], ok=(1,))
    sent.append(("icmp", "10.77.1.6", None, None))
    sent.append(("icmp", "fd00:77:1::8", None, None))
    for i in range(3):
        udp(socket.AF_INET6, "fd00:77:1::%d" % (5 + i), 4000, 40300 + i)
    udp(socket.AF_INET, "10.77.2.5", 4000, 40400)
    for i in range(2):
        udp(socket.AF_INET6, "fd00:77:2::%d" % (5 + i), 4000, 40500 + i)
    s = lab.sock(a)
    s.bind(("0.0.0.0", 40600))
    s.settimeout(3)
    try:
        s.connect(("10.77.2.6", 80))
    except OSError:
        pass
    s.close()
    sent.append(("tcp", "10.77.2.6", 80, 40600))
    lab.stop_captures()
    return {"sent": sent,
            "v4_codes": {"3": 4, "1": 2, "13": 2}, "v6_codes": {"4": 4, "0": 4, "1": 2},
            # error code by destination of the packet it quotes
            "code_by_dst": {"10.4.0.2": 3, "fd00:4::2": 4, "10.77.1.5": 1, "10.77.1.6": 1,
                            "fd00:77:1::5": 0, "fd00:77:1::6": 0, "fd00:77:1::7": 0, "fd00:77:1::8": 0,
                            "10.77.2.5": 13, "10.77.2.6": 13, "fd00:77:2::5": 1,
                            "fd00:77:2::6": 1}}


def scenario_scans(lab, seed, part):
    """nmap from one namespace at another: SYN, connect, FIN, NULL, Xmas, UDP and
    IPv6 SYN scans of ports 1-200 (TCP 22 and 80 open, UDP 123 silent), a horizontal SYN scan of port 80 over
    40 addresses (30 exist), an ICMP echo ping sweep of the same range (routed,
    so nmap cannot use ARP) and the same sweep with iputils ping. One capture per scan, on the target's veth (Ethernet)
    and, for the sweep, with -i any on the scanner (SLL)."""
    a, b = lab.ns("a"), lab.ns("b")
    va, vb = lab.veth(a, b)
    lab.ip(a, "addr add 10.5.0.1/24 dev %s" % va)
    lab.ip(b, "addr add 10.5.0.2/24 dev %s" % vb)
    lab.ip(a, "addr add fd00:5::1/64 dev %s nodad" % va)
    lab.ip(b, "addr add fd00:5::2/64 dev %s nodad" % vb)
    lab.ip(a, "route add 10.5.1.0/24 via 10.5.0.2")
    for i in range(1, 31):
        lab.ip(b, "addr add 10.5.1.%d/32 dev lo" % i)
    lab.sysctl(b, "net.ipv4.icmp_ratemask", 0)
    listeners = []
    for port in (22, 80, 443):
        for fam, any_addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            s = lab.sock(b, fam)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((any_addr, port))
            s.listen(64)
            listeners.append(s)
    u = lab.sock(b, socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 123))
    listeners.append(u)
    nmap = ["nmap", "-n", "-Pn", "-T5", "--max-retries", "1"]
    scans = [
        ("syn", nmap + ["-sS", "-p1-200", "10.5.0.2"], vb, "ethernet"),
        ("connect", nmap + ["-sT", "-p1-200", "10.5.0.2"], vb, "ethernet"),
        ("fin", nmap + ["-sF", "-p1-200", "10.5.0.2"], vb, "ethernet"),
        ("null", nmap + ["-sN", "-p1-200", "10.5.0.2"], vb, "ethernet"),
        ("xmas", nmap + ["-sX", "-p1-200", "10.5.0.2"], vb, "ethernet"),
        ("udp", nmap + ["-sU", "-p1-200", "10.5.0.2"], vb, "ethernet"),
        # -sA and -sW send the same bare ACK; -sM sends FIN+ACK.
        ("ack", nmap + ["-sA", "-p1-200", "10.5.0.2"], vb, "ethernet"),
        ("maimon", nmap + ["-sM", "-p1-200", "10.5.0.2"], vb, "ethernet"),
        ("syn6", nmap + ["-6", "-sS", "-p1-200", "fd00:5::2"], vb, "ethernet"),
        ("horizontal", nmap + ["-sS", "-p80", "10.5.1.1-40"], vb, "ethernet"),
        ("ping_sweep", ["nmap", "-n", "-sn", "-PE", "-T5", "10.5.1.1-40"], "any", "sll"),
        # nmap's default discovery: echo, SYN to 443, ACK to 80, timestamp request.
        ("sweep_default", ["nmap", "-n", "-sn", "-T5", "10.5.1.1-40"], vb, "ethernet"),
    ]
    # Two halves, run by two tests in parallel (nmap mostly waits).
    tcp = ("syn", "connect", "fin", "null", "xmas", "syn6")
    for name, cmd, iface, link in scans:
        if (name in tcp) != (part == "tcp"):
            continue
        lab.capture(a if iface == "any" else b, iface, "scan-%s.pcap" % name, link)
        lab.run(a, cmd)
        lab.stop_captures()
    if part != "tcp":
        # A sweep with iputils ping (echo requests carrying 56 bytes of data).
        lab.capture(b, vb, "scan-ping_data.pcap", "ethernet")
        pings = [lab.spawn(a, ["ping", "-n", "-c", "1", "-W", "1", "10.5.1.%d" % i],
                           stdout=subprocess.DEVNULL) for i in range(1, 41)]
        for p in pings:
            p.wait(timeout=10)
        lab.stop_captures()
    return {"scanner": "10.5.0.1", "target": "10.5.0.2", "open_tcp": [22, 80],
            "scanner6": "fd00:5::1", "target6": "fd00:5::2",
            "range_hosts": 40, "range_alive": 30}


def scenario_routed(lab, seed):
    """Client and server on either side of a router namespace; captured with
    -i any ON THE ROUTER, so every forwarded packet appears twice (in and out,
    Linux SLL): a bulk download through a narrower link (ICMP fragmentation
    needed), a refused connect, pings, and UDP to a closed port. Checks that
    both tools treat the copies alike."""
    a, r, b = lab.ns("a"), lab.ns("r"), lab.ns("b")
    lab.tag, tag = lab.tag + "l", lab.tag
    ar, ra = lab.veth(a, r)
    lab.tag = tag + "r"
    rb, br = lab.veth(r, b)
    lab.tag = tag
    lab.ip(a, "addr add 10.8.1.1/24 dev %s" % ar)
    lab.ip(r, "addr add 10.8.1.254/24 dev %s" % ra)
    lab.ip(r, "addr add 10.8.2.254/24 dev %s" % rb)
    lab.ip(b, "addr add 10.8.2.1/24 dev %s" % br)
    lab.ip(a, "route add default via 10.8.1.254")
    lab.ip(b, "route add default via 10.8.2.254")
    lab.sysctl(r, "net.ipv4.ip_forward", 1)
    lab.sysctl(b, "net.ipv4.icmp_ratemask", 0)
    # A narrower link towards the client: the server's first full-size segments
    # draw "fragmentation needed" (path MTU discovery) from the router.
    # (The client keeps 1500, so its SYN announces a full MSS.)
    lab.ip(r, "link set %s mtu 1200" % ra)
    srv = lab.sock(b)
    srv.bind(("10.8.2.1", 8001))
    srv.listen(4)
    lab.capture(r, "any", "routed-router.pcap", "sll", extra=["-y", "LINUX_SLL"])
    sender = serve_bytes(lab, srv, 500_000)
    cli = lab.sock(a)
    cli.connect(("10.8.2.1", 8001))
    while cli.recv(1 << 16):
        pass
    cli.close()
    sender.join(10)
    s = lab.sock(a)
    try:
        s.connect(("10.8.2.1", 8002))
    except ConnectionRefusedError:
        pass
    s.close()
    u = lab.sock(a, socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"x", ("10.8.2.1", 9999))
    u.close()
    lab.run(a, ["ping", "-n", "-c", "2", "-i", "0.05", "10.8.2.1"])
    lab.stop_captures()
    return {"scans": 0, "server": "10.8.2.1"}


SCENARIOS = {"routed": scenario_routed, "tfo": scenario_tfo, "midstream": scenario_midstream, "loopback": scenario_loopback, "offload": scenario_offload, "bulk": scenario_bulk, "windows": scenario_windows, "resets": scenario_resets,
             "syn": scenario_syn, "unreach": scenario_unreach,
             "scans_tcp": lambda lab, seed: scenario_scans(lab, seed, "tcp"),
             "scans_other": lambda lab, seed: scenario_scans(lab, seed, "other")}


def main():
    name, out, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    seed = int(os.environ.get("PCAPLENS_TRAFFIC_SEED", "7"))
    os.makedirs(out, exist_ok=True)
    lab = Lab(tag, out)
    t0 = time.monotonic()

    def too_long(*_):
        raise TimeoutError("scenario %s took over 120 s" % name)
    # A hung tool must not hang the test: the exception runs the cleanup below.
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(120)
    try:
        truth = SCENARIOS[name](lab, seed)
    finally:
        signal.alarm(0)
        lab.close()
    traffic_secs = time.monotonic() - t0
    for c in lab.files:
        c["tshark"] = tshark_summary(os.path.join(out, c["file"]))
    res = {"scenario": name, "seed": seed, "truth": truth, "captures": lab.files,
           "traffic_secs": round(traffic_secs, 2),
           "total_secs": round(time.monotonic() - t0, 2)}
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
