"""Make real traffic for the sanitizer checks: DNS (dig ↔ stdlib DNS server),
HTTP (curl ↔ http.server), TLS (openssl s_client / curl ↔ openssl s_server),
ping, ARP and NDP, over IPv4 and IPv6 between two network namespaces joined
by a veth pair. Two captures are taken at once: Linux SLL (`-i any -y
LINUX_SLL`) in the client namespace and Ethernet on the server's veth.

Usage: sanitize_scenarios.py WORKDIR
Writes WORKDIR/client_sll.pcap, WORKDIR/server_eth.pcap and
WORKDIR/scenario.json (every identifier the scenario used: the checks search
the sanitized output for each). Needs root, ip, tcpdump, dig, curl, openssl.
"""

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time

PID = os.getpid()
NS_C = "plsan-c-%d" % PID
NS_S = "plsan-s-%d" % PID
VETH_C = "vpsc%d" % (PID % 100000)
VETH_S = "vpss%d" % (PID % 100000)
DOMAIN = "brightquill.test"
C4, S4 = "10.213.57.10", "10.213.57.53"
C6, S6 = "fd5a:7c31:4e02::10", "fd5a:7c31:4e02::53"
MAC_C, MAC_S = "02:5c:a1:7e:00:10", "02:5c:a1:7e:00:53"

# Every secret the clients and servers send (the checks must find none of them).
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJhbGljZSIsImVtYWlsIjoiYWxpY2VAYnJpZ2h0cXVpbGwudGVzdCJ9."
    "Qm9ndXNTaWduYXR1cmVGb3JUZXN0aW5nT25seTEyMw"
)
BASIC_USER, BASIC_PASS = "alice.w", "Tr0ub4dor&3xyz"
HTTP = {
    "jwt": JWT,
    "basic_user": BASIC_USER,
    "basic_pass": BASIC_PASS,
    "basic_b64": base64.b64encode(("%s:%s" % (BASIC_USER, BASIC_PASS)).encode()).decode(),
    "cookie_session": "7f3c9a1e5b2d4f60a8c1e9b7d3f5a2c4",
    "cookie_csrf": "Zq8LmN3pR6sT9vW2xY5bC7dF",
    "set_cookie": "4e9b2c7a1f8d3e6b0c5a9f2d7e1b8c3a",
    "cookie_domain": DOMAIN,
    "api_key_query": "AKIAQ7XRZ3PLM4NBV2WE",
    "email_body": "carol.jones@" + DOMAIN,
    "email_header": "dave.miller@" + DOMAIN,
    "x_api_key": "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
    "referer_token": "ghp_R2d2C3poBb8Yoda4Luke5Leia6Han7Solo8",
    "resp_token": "rt_8c6f1d9e2b7a4c3f5e0d8b1a",
    "redirect_host": "login." + DOMAIN,
    "redirect_token": "Xk29fLq83VbN7mRt4WcY6pZs",
    "ua_host": "workstation7." + DOMAIN,
}
TXT_KEY = "api-key=AIzaSyB7xQ2mN9kL4pR8tV6wZ3cF1hJ5gD0eS2u"
SOA_RNAME = "hostmaster." + DOMAIN
CLIENT_CN, CLIENT_EMAIL = "Rosalind Featherstonehaugh", "rosalind.f@" + DOMAIN
# Certificate fields in other scripts (UTF8String): names all the same.
CERT_OU, CERT_CITY = "ブライトクイル開発部", "Zürich-Höngg"

ZONE = {
    "_apex": DOMAIN,
    DOMAIN: {
        "SOA": [["ns1." + DOMAIN, SOA_RNAME, 2026112201]],
        "NS": ["ns1." + DOMAIN],
        "MX": [[10, "mail." + DOMAIN], [20, "mx-backup." + DOMAIN]],
        "TXT": [[TXT_KEY, "v=spf1 ip4:%s -all" % S4]],
    },
    "ns1." + DOMAIN: {"A": [S4], "AAAA": [S6]},
    "mail." + DOMAIN: {"A": [S4]},
    "mx-backup." + DOMAIN: {"A": [S4]},
    "api." + DOMAIN: {"A": [S4], "AAAA": [S6]},
    "secure." + DOMAIN: {"A": [S4], "AAAA": [S6]},
    "www." + DOMAIN: {"CNAME": "edge." + DOMAIN},
    "edge." + DOMAIN: {"CNAME": "cdn-origin." + DOMAIN},
    "cdn-origin." + DOMAIN: {"A": [S4], "AAAA": [S6]},
    "53.57.213.10.in-addr.arpa": {"PTR": ["api." + DOMAIN]},
    "10.57.213.10.in-addr.arpa": {"PTR": ["workstation7." + DOMAIN]},
}


def rev6(addr):
    import ipaddress

    return ipaddress.ip_address(addr).reverse_pointer


ZONE[rev6(S6)] = {"PTR": ["api." + DOMAIN]}

NAMES = sorted(
    {n for n in ZONE if not n.startswith("_") and not n.endswith("arpa")}
    | {"edge." + DOMAIN, "workstation7." + DOMAIN, "portal." + DOMAIN, "login." + DOMAIN,
       "nonexistent-host." + DOMAIN, "unreachable-probe." + DOMAIN, SOA_RNAME}
)

procs = []


def run(*args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def nsrun(ns, *args, **kw):
    return run("ip", "netns", "exec", ns, *args, **kw)


def start(ns, args, ready, log):
    """Start a process inside NS and wait until it printed READY on stdout/stderr."""
    p = subprocess.Popen(
        ["ip", "netns", "exec", ns] + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    procs.append(p)
    seen = b""
    deadline = time.time() + 10
    while ready.encode() not in seen:
        if time.time() > deadline or p.poll() is not None:
            raise RuntimeError("%s did not start: %s" % (log, seen.decode(errors="replace")))
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            seen += chunk
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def setup():
    run("ip", "netns", "add", NS_C)
    run("ip", "netns", "add", NS_S)
    run("ip", "link", "add", VETH_C, "netns", NS_C, "address", MAC_C, "type", "veth",
        "peer", "name", VETH_S, "netns", NS_S, "address", MAC_S)
    for ns, dev, a4, a6 in ((NS_C, VETH_C, C4, C6), (NS_S, VETH_S, S4, S6)):
        nsrun(ns, "ip", "link", "set", "lo", "up")
        nsrun(ns, "ip", "addr", "add", a4 + "/24", "dev", dev)
        nsrun(ns, "ip", "-6", "addr", "add", a6 + "/64", "dev", dev, "nodad")
        nsrun(ns, "sysctl", "-qw", "net.ipv6.conf.%s.accept_dad=0" % dev)
        # Segments as a NIC puts them on the wire (no 64 KB GSO frames), so
        # bodies and certificates cross many segment boundaries.
        nsrun(ns, "ip", "link", "set", dev, "gso_max_size", "1500")
        nsrun(ns, "ip", "link", "set", dev, "up")
    # glibc's resolver inside the client namespace asks our DNS server
    # (`ip netns exec` bind-mounts /etc/netns/NS/resolv.conf).
    os.makedirs("/etc/netns/" + NS_C, exist_ok=True)
    with open("/etc/netns/%s/resolv.conf" % NS_C, "w") as f:
        f.write("nameserver %s\noptions attempts:1 timeout:2\n" % S4)
    with open("/etc/netns/%s/hosts" % NS_C, "w") as f:
        f.write("127.0.0.1 localhost\n")


def teardown():
    for p in reversed(procs):
        stop(p)
    for ns in (NS_C, NS_S):
        run("ip", "netns", "del", ns, check=False)
    shutil.rmtree("/etc/netns/" + NS_C, ignore_errors=True)


def link_local(ns, dev):
    out = json.loads(nsrun(ns, "ip", "-j", "-6", "addr", "show", "dev", dev).stdout)
    return [a["local"] for i in out for a in i["addr_info"] if a["local"].startswith("fe80")]


def make_pki(work):
    """A throwaway CA and a server certificate for secure.DOMAIN."""
    ca_key, ca = os.path.join(work, "ca.key"), os.path.join(work, "ca.pem")
    key, csr, crt = (os.path.join(work, n) for n in ("srv.key", "srv.csr", "srv.pem"))
    ext = os.path.join(work, "srv.ext")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=BrightQuill Internal Root CA/O=BrightQuill Ltd/emailAddress=pki@" + DOMAIN)
    run("openssl", "req", "-utf8", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr,
        "-subj", "/CN=secure.%s/O=BrightQuill Ltd/OU=%s/L=%s" % (DOMAIN, CERT_OU, CERT_CITY))
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:secure.%s,DNS:*.api.%s,email:pki-admin@%s,IP:%s,IP:%s\n"
                % (DOMAIN, DOMAIN, DOMAIN, S4, S6))
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    ckey, ccsr, ccrt = (os.path.join(work, n) for n in ("cli.key", "cli.csr", "cli.pem"))
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ckey, "-out", ccsr, "-subj", "/CN=%s/emailAddress=%s" % (CLIENT_CN, CLIENT_EMAIL))
    run("openssl", "x509", "-req", "-in", ccsr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", ccrt, "-days", "2")
    return ca, key, crt


def traffic(work, ca):
    h = HTTP
    dig = ["dig", "+tries=1", "+time=2"]
    queries = [
        ["@" + S4, "api." + DOMAIN, "A"],
        ["@" + S4, "api." + DOMAIN, "AAAA"],
        ["@" + S4, "www." + DOMAIN, "A"],
        ["@" + S4, DOMAIN, "MX"],
        ["@" + S4, DOMAIN, "SOA"],
        ["@" + S4, DOMAIN, "TXT"],
        ["@" + S4, DOMAIN, "NS"],
        ["@" + S4, "-x", S4],
        ["@" + S4, "-x", C4],
        ["@" + S4, "-x", S6],
        ["@" + S4, "nonexistent-host." + DOMAIN, "A"],
        ["@" + S4, "+tcp", "secure." + DOMAIN, "A"],
        ["@" + S6, "www." + DOMAIN, "AAAA"],
        ["@" + S6, "mail." + DOMAIN, "A"],
    ]
    for q in queries:
        nsrun(NS_C, *dig, *q)
    # Nothing listens on 5353: the ICMP/ICMPv6 port-unreachable errors quote
    # the query (addresses, ports and the start of the name).
    for server in (S4, S6):
        nsrun(NS_C, "dig", "+tries=1", "+time=1", "-p", "5353", "@" + server,
              "unreachable-probe." + DOMAIN, "A", check=False)
    nsrun(NS_C, "ping", "-c", "1", "-W", "2", S4)
    nsrun(NS_C, "ping", "-6", "-c", "1", "-W", "2", S6)
    base = "http://api.%s:8080" % DOMAIN
    # curl resolves through glibc (A and AAAA to our server), IPv4 then IPv6.
    nsrun(NS_C, "curl", "-4", "-sS", "-o", "/dev/null",
          "http://%s:%s@api.%s:8080/v1/items?api_key=%s&user=alice"
          % (h["basic_user"], h["basic_pass"].replace("&", "%26"), DOMAIN, h["api_key_query"]),
          "-H", "Cookie: sessionid=%s; csrftoken=%s" % (h["cookie_session"], h["cookie_csrf"]),
          "-H", "X-Api-Key: " + h["x_api_key"],
          "-H", "Referer: http://portal.%s/callback?token=%s" % (DOMAIN, h["referer_token"]),
          "-H", "From: " + h["email_header"],
          "-H", "X-Device-Mac: " + MAC_C,
          "-A", "BrightQuillSync/4.2 (host=%s)" % h["ua_host"])
    nsrun(NS_C, "curl", "-6", "-sS", "-o", "/dev/null", base + "/v1/upload",
          "-H", "Authorization: Bearer " + h["jwt"],
          "-H", "X-Forwarded-For: " + C4,
          "--data", "email=%s&note=hello" % h["email_body"])
    # A JSON API call (the body names a person and holds a key).
    nsrun(NS_C, "curl", "-4", "-sS", "-o", "/dev/null", base + "/v1/profile",
          "-H", "Content-Type: application/json",
          "--data", '{"email":"%s","api_key":"%s"}' % (h["email_body"], h["x_api_key"]))
    # Address literals: the Host header holds the addresses as text.
    nsrun(NS_C, "curl", "-sS", "-o", "/dev/null", "http://%s:8080/literal" % S4)
    nsrun(NS_C, "curl", "-sS", "-g", "-o", "/dev/null", "http://[%s]:8080/literal" % S6)
    # Keep-alive: two requests on one connection, the second answered with a
    # chunked body spread over many segments.
    nsrun(NS_C, "curl", "-4", "-sS", "-o", "/dev/null", "-o", "/dev/null",
          base + "/v1/items?session=" + h["cookie_session"], base + "/big?access_token=" + h["x_api_key"],
          "-H", "Cookie: sessionid=" + h["cookie_session"])
    # TLS 1.2 shows the certificate in clear; TLS 1.3 only the SNI.
    nsrun(NS_C, "curl", "-4", "-sS", "-o", "/dev/null", "--cacert", ca, "--tls-max", "1.2",
          "https://secure.%s:4433/" % DOMAIN)
    nsrun(NS_C, "curl", "-6", "-sS", "-o", "/dev/null", "--cacert", ca,
          "https://secure.%s:4433/" % DOMAIN)
    # Mutual TLS 1.2: the client's certificate names a person.
    nsrun(NS_C, "openssl", "s_client", "-connect", "%s:4433" % S4, "-servername", "secure." + DOMAIN,
          "-tls1_2", "-CAfile", ca, "-cert", os.path.join(work, "cli.pem"),
          "-key", os.path.join(work, "cli.key"), input="GET / HTTP/1.0\r\n\r\n")
    time.sleep(0.3)  # let the last FINs and neighbour traffic reach the captures


def main():
    work = os.path.abspath(sys.argv[1])
    os.makedirs(work, exist_ok=True)
    try:
        setup()
        scen = {"http": HTTP}
        with open(os.path.join(work, "scenario.json"), "w") as f:
            json.dump(scen, f)
        with open(os.path.join(work, "zone.json"), "w") as f:
            json.dump(ZONE, f)
        ca, key, crt = make_pki(work)
        here = os.path.dirname(os.path.abspath(__file__))
        cap_c = os.path.join(work, "client_sll.pcap")
        cap_s = os.path.join(work, "server_eth.pcap")
        tc = start(NS_C, ["tcpdump", "--immediate-mode", "-U", "-n", "-s", "0", "-i", "any", "-y", "LINUX_SLL",
                          "-w", cap_c], "listening on", "tcpdump client")
        ts = start(NS_S, ["tcpdump", "--immediate-mode", "-U", "-n", "-s", "0", "-i", VETH_S, "-w", cap_s],
                   "listening on", "tcpdump server")
        # tcpdump's own default for `any` (SLL2), and dumpcap's pcapng (with
        # interface names, OS and application options in its blocks).
        t2 = start(NS_S, ["tcpdump", "--immediate-mode", "-U", "-n", "-s", "0", "-i", "any",
                          "-w", os.path.join(work, "server_sll2.pcap")], "listening on", "tcpdump sll2")
        t3 = start(NS_C, ["dumpcap", "-q", "-i", VETH_C, "-w", os.path.join(work, "client_eth.pcapng")],
                   "File:", "dumpcap client")
        start(NS_S, [sys.executable, os.path.join(here, "sanitize_dns_server.py"),
                     os.path.join(work, "zone.json"), S4, S6], "dns: ready", "dns server")
        start(NS_S, [sys.executable, os.path.join(here, "sanitize_http_server.py"), "8080",
                     os.path.join(work, "scenario.json")], "http: ready", "http server")
        start(NS_S, ["openssl", "s_server", "-accept", "4433", "-cert", crt, "-key", key,
                     "-www", "-naccept", "3", "-verify", "1", "-CAfile", ca, "-cert_chain", ca], "ACCEPT", "openssl s_server")
        traffic(work, ca)
        for p in (tc, ts, t2, t3):
            stop(p)
        scen.update({
            "captures": ["client_sll.pcap", "server_eth.pcap", "server_sll2.pcap", "client_eth.pcapng"],
            "ipv4": [C4, S4],
            "ipv6": [C6, S6] + link_local(NS_C, VETH_C) + link_local(NS_S, VETH_S),
            "mac": [MAC_C, MAC_S],
            "names": NAMES,
            "labels": ["brightquill", "workstation7", "cdn-origin", "mx-backup", "hostmaster",
                       "nonexistent-host", "Featherstonehaugh"],
            "secrets": sorted({v for k, v in HTTP.items() if k not in ("cookie_domain", "redirect_host", "ua_host", "basic_user")}
                              | {TXT_KEY.split("=", 1)[1], "pki-admin@" + DOMAIN, "pki@" + DOMAIN,
                                 CLIENT_CN, CLIENT_EMAIL, CERT_OU, CERT_CITY}),
            "domain": DOMAIN,
            "client4": C4, "server4": S4, "client6": C6, "server6": S6,
        })
        with open(os.path.join(work, "scenario.json"), "w") as f:
            json.dump(scen, f, indent=1)
    finally:
        teardown()


if __name__ == "__main__":
    main()
