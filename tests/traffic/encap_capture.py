"""Make the tunnel corpus capture with the kernel's own encapsulations (needs
root, ip, tcpdump, ping): two fresh network namespaces joined by a veth
pair (the underlay, captured), and between them one tunnel of each kind
Linux makes, each with its own inner addresses; a ping (and a UDP datagram)
crosses every tunnel.

    python3 tests/traffic/encap_capture.py OUT.pcap

Tunnels: GRE (plain, with key, sequence numbers and checksums), gretap
(Ethernet over GRE), ip6gre and ip6gretap (over IPv6), ERSPAN type II
(erspan version 1) and type III (version 2), IPIP, SIT (6in4), ip6ip6,
VXLAN, GENEVE and L2TPv3 over IP and over UDP. Kinds the kernel lacks are
skipped (listed on stderr). Only the namespaces this script creates carry
traffic; both are deleted at the end, also on failure.
"""
import os
import subprocess
import sys
import time

TAG = "plenc%d" % (os.getpid() % 100000)
A, B = TAG + "a", TAG + "b"
UA, UB = "10.99.0.1", "10.99.0.2"
UA6, UB6 = "fd99::1", "fd99::2"


def run(argv, check=True):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.decode(errors="replace")))
    return p


def ns(n, *argv, check=True):
    return run(["ip", "netns", "exec", n] + list(argv), check=check)


# (name, link args for side a (local, remote filled in), inner v4 prefix, inner is v6)
def tunnels():
    return [
        ("gre1", ["type", "gre"], False),
        ("gre2", ["type", "gre", "key", "42", "seq", "csum"], False),
        ("gtap1", ["type", "gretap", "key", "7"], False),
        ("g6", ["type", "ip6gre"], True),
        ("g6tap", ["type", "ip6gretap"], True),
        ("ersp1", ["type", "erspan", "seq", "key", "11", "erspan_ver", "1", "erspan", "123"],
         False),
        ("ersp2", ["type", "erspan", "seq", "key", "12", "erspan_ver", "2", "erspan_dir",
                   "ingress", "erspan_hwid", "7"], False),
        ("ipip1", ["type", "ipip"], False),
        ("sit1", ["type", "sit"], False),
        ("ip6t", ["type", "ip6tnl", "mode", "ip6ip6"], True),
        ("vx1", ["type", "vxlan", "id", "77", "dstport", "4789"], False),
        ("gnv1", ["type", "geneve", "id", "88"], False),
    ]


def main(out):
    procs = []
    made = []
    try:
        for n in (A, B):
            run(["ip", "netns", "add", n])
            ns(n, "ip", "link", "set", "lo", "up")
        run(["ip", "link", "add", "u" + TAG[-6:], "netns", A, "type", "veth", "peer", "name",
             "w" + TAG[-6:], "netns", B])
        for n, dev, a4, a6 in ((A, "u" + TAG[-6:], UA, UA6), (B, "w" + TAG[-6:], UB, UB6)):
            ns(n, "ip", "link", "set", dev, "mtu", "9000", "up")
            ns(n, "ip", "addr", "add", a4 + "/24", "dev", dev)
            ns(n, "ip", "addr", "add", a6 + "/64", "dev", dev, "nodad")
        for i, (name, args, over6) in enumerate(tunnels()):
            ok = True
            for n, local, remote, side in ((A, UA, UB, 1), (B, UB, UA, 2)):
                if over6:
                    local, remote = (UA6, UB6) if side == 1 else (UB6, UA6)
                extra = []
                if name.startswith("vx"):
                    extra = ["local", local, "remote", remote]
                elif name.startswith("gnv"):
                    extra = ["remote", remote]
                else:
                    extra = ["local", local, "remote", remote]
                p = ns(n, "ip", "link", "add", name, *(args + extra), check=False)
                if p.returncode != 0:
                    sys.stderr.write("skipped %s: %s" % (name, p.stderr.decode()))
                    ok = False
                    break
                ns(n, "ip", "link", "set", name, "up")
                if name in ("sit1", "ip6t", "g6"):
                    ns(n, "ip", "addr", "add", "fd%02x::%d/64" % (i + 1, side), "dev", name,
                       "nodad")
                else:
                    ns(n, "ip", "addr", "add", "10.%d.0.%d/24" % (100 + i, side), "dev", name)
            if ok:
                made.append((i, name))
        pcap = subprocess.Popen(["ip", "netns", "exec", A, "tcpdump", "-U", "-n", "-i",
                                 "u" + TAG[-6:], "-s", "0", "-w", out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(pcap)
        time.sleep(2)
        for i, name in made:
            if name in ("sit1", "ip6t", "g6"):
                ns(A, "ping", "-6", "-c", "1", "-W", "1", "fd%02x::2" % (i + 1), check=False)
            else:
                ns(A, "ping", "-c", "1", "-W", "1", "10.%d.0.2" % (100 + i), check=False)
                # A UDP datagram too, so the inner UDP conversation exists.
                ns(A, "python3", "-c",
                   "import socket;s=socket.socket(2,2);s.sendto(b'x'*20,('10.%d.0.2',9))"
                   % (100 + i), check=False)
        time.sleep(1)
        sys.stderr.write("tunnels: %s\n" % " ".join(n for _, n in made))
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        for n in (A, B):
            run(["ip", "netns", "del", n], check=False)


if __name__ == "__main__":
    main(sys.argv[1])
