"""Make the IP-reassembly corpus captures with real tools (needs root, ip, tcpdump,
dnsmasq, dig, ping).

Two fresh network namespaces joined by a veth pair with MTU 1280 (the
IPv6 minimum), so larger datagrams leave as fragments. dnsmasq in one answers a TXT record of
~3 KB and an ANY-sized AAAA set over UDP (EDNS buffer 4096), so its answers
leave as IP fragments; dig in the other asks over IPv4 and IPv6; ping sends
3000-byte echoes both ways. tcpdump on the client's veth writes the capture.

    python3 tests/traffic/frag_capture.py OUT.pcap

Only the two namespaces this script creates carry traffic; both are deleted
at the end, also on failure.
"""
import os
import subprocess
import sys
import time

TAG = "plfrag%d" % os.getpid()
NS_C, NS_S = TAG + "c", TAG + "s"
V4_C, V4_S = "10.77.0.1", "10.77.0.2"
V6_C, V6_S = "fd77::1", "fd77::2"


def run(argv, check=True, **kw):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (argv, p.stderr.decode(errors="replace")))
    return p


def ns(name, argv, **kw):
    return run(["ip", "netns", "exec", name] + argv, **kw)


def main(out):
    procs = []
    try:
        for n in (NS_C, NS_S):
            run(["ip", "netns", "add", n])
            ns(n, ["ip", "link", "set", "lo", "up"])
        run(["ip", "link", "add", "vc" + TAG[-6:], "netns", NS_C, "type", "veth", "peer",
             "name", "vs" + TAG[-6:], "netns", NS_S])
        for n, dev, a4, a6 in ((NS_C, "vc" + TAG[-6:], V4_C, V6_C),
                               (NS_S, "vs" + TAG[-6:], V4_S, V6_S)):
            ns(n, ["ip", "link", "set", dev, "mtu", "1280", "up"])
            ns(n, ["ip", "addr", "add", a4 + "/24", "dev", dev])
            ns(n, ["ip", "addr", "add", a6 + "/64", "dev", dev, "nodad"])
            # No offloads: the capture shows the fragments the wire carries.
            ns(n, ["ethtool", "-K", dev, "tx", "off", "rx", "off", "gso", "off", "tso", "off",
                   "gro", "off"], check=False)
        conf = os.path.join("/tmp", TAG + ".conf")
        with open(conf, "w") as f:
            f.write("no-resolv\nno-hosts\nport=53\nedns-packet-max=4096\nlisten-address=%s,%s\nbind-interfaces\n"
                    % (V4_S, V6_S))
            # Twelve TXT records of 250 bytes (dnsmasq reads short lines only).
            for i in range(12):
                f.write('txt-record=big.frag.test,"%s"\n' % (chr(ord("a") + i) * 250))
            for i in range(1, 120):
                f.write("host-record=many.frag.test,fd77::%x\n" % (0x1000 + i))
            f.write("txt-record=small.frag.test,\"hello\"\n")
        dev_c = "vc" + TAG[-6:]
        pcap = subprocess.Popen(["ip", "netns", "exec", NS_C, "tcpdump", "-U", "-n", "-i", dev_c,
                                 "-s", "0", "-w", out], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        procs.append(pcap)
        dns = subprocess.Popen(["ip", "netns", "exec", NS_S, "dnsmasq", "-k", "-C", conf,
                                "--pid-file=/tmp/%s.pid" % TAG, "--user=root"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(dns)
        time.sleep(1.5)
        for server in (V4_S, V6_S):
            for name, qtype in (("big.frag.test", "TXT"), ("many.frag.test", "AAAA"),
                                ("small.frag.test", "TXT"), ("nx.frag.test", "A")):
                ns(NS_C, ["dig", "+bufsize=4096", "+notcp", "+ignore", "+tries=1", "+time=2",
                          "@" + server, name, qtype], check=False)
        ns(NS_C, ["ping", "-c", "2", "-i", "0.2", "-s", "3000", V4_S], check=False)
        ns(NS_C, ["ping", "-6", "-c", "2", "-i", "0.2", "-s", "3000", V6_S], check=False)
        time.sleep(1)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        for n in (NS_C, NS_S):
            run(["ip", "netns", "del", n], check=False)
        for suffix in (".conf", ".pid"):
            try:
                os.unlink(os.path.join("/tmp", TAG + suffix))
            except OSError:
                pass


if __name__ == "__main__":
    main(sys.argv[1])
