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
from apps_lab import Lab, tshark_counts, tshark_filter_frames  # noqa: E402

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
    # No server at all: the kernel answers with ICMP port unreachable, which
    # quotes the query (tshark leaves quoted queries out of *_dnsproto).
    procs.append(lab.spawn(["dig", "@10.53.0.99", "-b", "10.53.0.2", "+timeout=1", "+tries=2",
                            "www.app.test", "A"]))
    # Dropped over TCP too: the connection stays open, the query unanswered.
    procs.append(lab.spawn(dig + ["+tries=1", "+tcp", "drop1.app.test", "A"]))
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
        "queries_to_no_server": 2,
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


# ------------------------------------------------------------------ HTTP

def scenario_http(lab, out):
    """curl against http.server on port 80 and 8081, an SSH-like banner on port
    80 of a second address; lo with a 1500-byte MTU so bodies span many
    segments; capture on lo (Ethernet)."""
    lab.run(["ip", "addr", "add", "10.80.0.1/24", "dev", "lo"])
    lab.run(["ip", "link", "set", "lo", "mtu", "1500"])
    log = os.path.join(out, "http.log")
    pcap = os.path.join(out, "capture.pcap")
    cap = lab.capture("lo", pcap)
    lab.py(SERVERS, "http", "10.80.0.1", "80", log)
    lab.py(SERVERS, "http", "10.80.0.1", "8081", log)
    lab.py(SERVERS, "banner", "10.80.0.2", "80")
    lab.py(SERVERS, "silent", "10.80.0.3", "80")
    base = "http://10.80.0.1"
    curl = ["curl", "-s", "--max-time", "5"]
    procs = [
        # Keep-alive: five requests on one connection, with a Host name.
        lab.spawn(curl + ["-H", "Host: shop.app.test"] + [base + p for p in
                  ("/ok", "/moved", "/missing", "/boom", "/busy")]),
        lab.spawn(curl + ["-I", base + "/gone"]),  # HEAD, 404
        lab.spawn(curl + ["-d", "name=value&other=thing", base + "/submit"]),  # POST 201
        lab.spawn(curl + ["--data-binary", "x" * 5000, base + "/nope"]),  # POST 404
        lab.spawn(curl + [base + "/chunked"]),
        lab.spawn(curl + [base + "/big", base + "/big-error"]),  # many segments each
        # Expect: 100-continue: an interim 100 before the 201.
        lab.spawn(curl + ["-H", "Expect: 100-continue", "--data-binary", "y" * 2000,
                          base + "/submit"]),
        lab.spawn(curl + [base + "/empty", base + "/legacy"]),  # 204, then a body until FIN
        # HTTP on an odd port.
        lab.spawn(curl + [base + ":8081/ok", base + ":8081/absent"]),
    ]
    wait_all(procs)
    # Pipelining: two requests in one segment, answered in order.
    lab.run([sys.executable, "-c", PIPELINE_CLIENT])
    # Not HTTP on port 80: an SSH-like exchange, and raw bytes nobody answers.
    lab.run([sys.executable, "-c", BANNER_CLIENT])
    lab.run([sys.executable, "-c", RAW_BYTES_CLIENT])
    lab.stop_capture(cap)
    entries = read_log(log)
    codes = Counter(str(e["code"]) for e in entries)
    # http.server answers "Expect: 100-continue" with an interim 100 it does not log.
    codes["100"] += 1
    return pcap, {
        "requests": len(entries),
        "interim_responses": 1,
        "codes_all": dict(sorted(codes.items())),
        "errors": sorted([e["port"], e["code"], e["method"], e["host"], e["path"]]
                         for e in entries if e["code"] >= 400),
    }


PIPELINE_CLIENT = r"""
import socket
s = socket.create_connection(('10.80.0.1', 80))
s.sendall(b'GET /ok HTTP/1.1\r\nHost: pipe.app.test\r\n\r\n'
          b'GET /pipelined-missing HTTP/1.1\r\nHost: pipe.app.test\r\nConnection: close\r\n\r\n')
while s.recv(65536):
    pass
s.close()
"""

RAW_BYTES_CLIENT = r"""
import socket
s = socket.create_connection(('10.80.0.3', 80))
s.sendall(bytes(range(256)) * 4)
s.close()
"""

BANNER_CLIENT = r"""
import socket
s = socket.create_connection(('10.80.0.2', 80))
s.recv(256)
s.sendall(b'SSH-2.0-OpenSSH_9.2p1 client\r\n')
s.settimeout(2)
while s.recv(4096):
    pass
s.close()
"""


# ------------------------------------------------------------------ TLS

CERT_NAMES = ["ok.app.test", "ok12.app.test", "www.app.test", "odd.app.test", "api.evil.test"]


def make_certs(out):
    """A CA and a server certificate (EC P-256: fast) for CERT_NAMES."""
    ca, ca_key = os.path.join(out, "ca.pem"), os.path.join(out, "ca.key")
    crt, key = os.path.join(out, "srv.pem"), os.path.join(out, "srv.key")
    csr, ext = os.path.join(out, "srv.csr"), os.path.join(out, "srv.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    subprocess.run(["openssl", "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca,
                    "-days", "2", "-subj", "/CN=pcaplens test CA"], **quiet)
    subprocess.run(["openssl", "req"] + ec + ["-keyout", key, "-out", csr,
                    "-subj", "/CN=ok.app.test"], **quiet)
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + n for n in CERT_NAMES) + "\n")
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext], **quiet)
    return ca, crt, key


def scenario_tls(lab, out):
    """openssl s_server/s_client and curl between two namespaces joined by a
    veth; capture on the client's veth (Ethernet)."""
    srv = lab.add_ns("b")
    va, vb = lab.veth(srv, "10.44.0.1", "10.44.0.2")
    for a in ("10.44.0.3", "10.44.0.4", "10.44.0.5", "10.44.0.6"):
        lab.run(["ip", "addr", "add", a + "/24", "dev", vb], ns=srv)
    ca, crt, key = make_certs(out)
    pcap = os.path.join(out, "capture.pcap")
    cap = lab.capture(va, pcap)
    s_server = ["openssl", "s_server", "-cert", crt, "-key", key, "-www"]
    # Any version, ALPN; TLS 1.3 only; TLS 1.2 with one cipher; an odd port.
    lab.spawn(s_server + ["-accept", "10.44.0.2:443", "-alpn", "http/1.1"], ns=srv,
              ready="ACCEPT")
    lab.spawn(s_server + ["-accept", "10.44.0.3:443", "-tls1_3"], ns=srv, ready="ACCEPT")
    lab.spawn(s_server + ["-accept", "10.44.0.4:443", "-tls1_2", "-cipher",
                          "ECDHE-ECDSA-AES256-GCM-SHA384"], ns=srv, ready="ACCEPT")
    lab.spawn(s_server + ["-accept", "10.44.0.2:9444"], ns=srv, ready="ACCEPT")
    lab.py(SERVERS, "silent", "10.44.0.5", "443", ns=srv)
    lab.py(SERVERS, "banner", "10.44.0.6", "443", ns=srv)
    s_client = ["openssl", "s_client", "-quiet", "-no_ign_eof"]
    clients = [
        # (what, argv, expected outcome)
        ("tls13_ok", s_client + ["-connect", "10.44.0.2:443", "-servername", "ok.app.test",
                                 "-alpn", "http/1.1", "-CAfile", ca, "-verify_return_error",
                                 "-tls1_3"]),
        ("tls12_ok", s_client + ["-connect", "10.44.0.2:443", "-servername", "ok12.app.test",
                                 "-alpn", "http/1.1,h2", "-CAfile", ca, "-verify_return_error",
                                 "-tls1_2"]),
        # No CA: the client rejects the certificate (TLS 1.2: a plaintext
        # unknown_ca; TLS 1.3: encrypted, invisible to tshark).
        ("unknown_ca_12", s_client + ["-connect", "10.44.0.2:443", "-servername",
                                      "unknownca12.app.test", "-verify_return_error",
                                      "-CAfile", crt, "-tls1_2"]),
        ("unknown_ca_13", s_client + ["-connect", "10.44.0.2:443", "-servername",
                                      "unknownca13.app.test", "-verify_return_error",
                                      "-CAfile", crt, "-tls1_3"]),
        ("version_mismatch", s_client + ["-connect", "10.44.0.3:443", "-servername",
                                         "v12only.app.test", "-tls1_2"]),
        ("no_shared_cipher", s_client + ["-connect", "10.44.0.4:443", "-servername",
                                         "nocipher.app.test", "-tls1_2", "-cipher",
                                         "ECDHE-ECDSA-CHACHA20-POLY1305"]),
        ("odd_port", s_client + ["-connect", "10.44.0.2:9444", "-servername", "odd.app.test",
                                 "-CAfile", ca]),
        # The server accepts and never answers: the handshake never completes.
        ("silent", ["timeout", "1"] + s_client + ["-connect", "10.44.0.5:443",
                                                 "-servername", "silent.app.test"]),
    ]
    procs = [lab.spawn(argv) for _, argv in clients]
    procs.append(lab.spawn(["curl", "-s", "--max-time", "5", "--cacert", ca, "--resolve",
                            "www.app.test:443:10.44.0.2", "https://www.app.test/"]))
    wait_all(procs)
    lab.run([sys.executable, "-c", BANNER_CLIENT.replace("10.80.0.2', 80", "10.44.0.6', 443")])
    lab.stop_capture(cap)
    return pcap, {
        "sni": sorted(["ok.app.test", "ok12.app.test", "unknownca12.app.test",
                       "unknownca13.app.test", "v12only.app.test", "nocipher.app.test",
                       "odd.app.test", "silent.app.test", "www.app.test"]),
        "client_exit": {name: p.returncode for (name, _), p in zip(clients, procs)},
        # Plaintext alerts the scenario causes: unknown_ca from both clients
        # without the CA (OpenSSL's TLS 1.3 client rejects the certificate
        # before it has switched to handshake keys), protocol_version and
        # handshake_failure (servers).
        "plaintext_alerts": {"40": 1, "48": 2, "70": 1},
        "versions": {"TLS 1.2": 4, "TLS 1.3": 5},
        "incomplete": sorted(["unknownca12.app.test", "unknownca13.app.test",
                              "v12only.app.test", "nocipher.app.test", "silent.app.test"]),
    }


TLS_BROWSER_HOSTS = ["www%d.pq-browser.test" % i for i in range(1, 7)]


def scenario_tls_browser(lab, out):
    """Chromium over HTTPS (TCP) to openssl s_server across a veth whose
    segments are MTU-sized, as on a real network (no segmentation offload
    building 64 KiB frames): Chromium's ClientHello, with its post-quantum
    key share, takes two TCP segments, and with the extension order
    shuffled per connection the server name lands in either one. Captured
    on the client's veth (Ethernet)."""
    srv = lab.add_ns("b")
    va, vb = lab.veth(srv, "10.47.0.1", "10.47.0.2")
    for dev, ns in ((va, None), (vb, srv)):
        lab.run(["ip", "link", "set", dev, "gso_max_size", "1400", "gso_max_segs", "1"], ns=ns)
    ca, crt, key = make_certs(out)
    pcap = os.path.join(out, "capture.pcap")
    cap = lab.capture(va, pcap)
    lab.spawn(["openssl", "s_server", "-cert", crt, "-key", key, "-www",
               "-accept", "10.47.0.2:443"], ns=srv, ready="ACCEPT")
    for i, host in enumerate(TLS_BROWSER_HOSTS):
        lab.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--user-data-dir=" + os.path.join(out, "profile-%d" % i),
                 "--host-resolver-rules=MAP *.pq-browser.test 10.47.0.2",
                 "--ignore-certificate-errors", "--dump-dom", "https://%s/" % host],
                timeout=60, check=False)
    lab.stop_capture(cap)
    return pcap, {"sni": sorted(TLS_BROWSER_HOSTS)}


MDNS_HOSTS = {"a": ("rosalind-macbook", "02:5c:a1:7e:00:31"),
              "b": ("bartholomew-thinkpad", "02:5c:a1:7e:00:32")}

AVAHI_CONF = """[server]
host-name=%s
domain-name=local
use-ipv4=yes
use-ipv6=yes
enable-dbus=no
allow-interfaces=%s
[publish]
publish-addresses=yes
publish-hinfo=yes
publish-workstation=yes
"""


def scenario_mdns(lab, out):
    """Two avahi-daemons on one link (each in its own namespace, with its
    own /run so both can run): they probe for their host names, announce
    addresses, HINFO and the workstation service, whose instance name
    holds the host name and the MAC address as text. Captured on one side
    (Ethernet)."""
    peer = lab.add_ns("b")
    va, vb = lab.veth(peer, "10.51.0.1", "10.51.0.2")
    pcap = os.path.join(out, "capture.pcap")
    daemons = []
    for (side, (host, mac)), (ns, dev) in zip(sorted(MDNS_HOSTS.items()),
                                              ((None, va), (peer, vb))):
        lab.run(["ip", "link", "set", dev, "down"], ns=ns)
        lab.run(["ip", "link", "set", dev, "address", mac, "multicast", "on", "up"], ns=ns)
    # IPv6 duplicate address detection ends before the daemons start, so
    # their link-local addresses are in place.
    time.sleep(2.5)
    cap = lab.capture(va, pcap)
    for (side, (host, mac)), (ns, dev) in zip(sorted(MDNS_HOSTS.items()),
                                              ((None, va), (peer, vb))):
        conf = os.path.join(out, "avahi-%s.conf" % side)
        with open(conf, "w") as f:
            f.write(AVAHI_CONF % (host, dev))
        daemons.append(lab.spawn(
            ["unshare", "-m", "sh", "-c",
             "mkdir -p /run/avahi-daemon && mount -t tmpfs none /run/avahi-daemon && exec "
             "avahi-daemon -f %s --no-drop-root --no-chroot --no-rlimits -s" % conf],
            ns=ns))
    # Probing (~0.75 s), then announcements repeated at 1 s and 2 s.
    time.sleep(5)
    for d in daemons:
        d.terminate()
    time.sleep(0.5)  # the goodbye packets (TTL 0)
    lab.stop_capture(cap)
    return pcap, {"hosts": {h: m for h, m in MDNS_HOSTS.values()}}


# ------------------------------------------------------------------ QUIC

def scenario_quic(lab, out):
    """QUIC long headers from a Python client to a Python responder (no QUIC
    tool is installed): a v1 Initial that is answered, an unknown version
    answered with Version Negotiation and then abandoned, and one that retries
    with v1 after the VN. Captured on a TUN-free lo (Ethernet)."""
    lab.run(["ip", "addr", "add", "10.43.0.1/24", "dev", "lo"])
    log = os.path.join(out, "quic.log")
    pcap = os.path.join(out, "capture.pcap")
    cap = lab.capture("lo", pcap)
    lab.py(SERVERS, "quic", "10.43.0.1", "4433", log)
    lab.run([sys.executable, "-c", QUIC_CLIENT])
    lab.stop_capture(cap)
    answers = Counter(e["answer"] for e in read_log(log))
    return pcap, {
        "version_negotiations": answers["vn"],
        "handshakes": answers["handshake"],
        # Flows whose only server answer was a VN: the abandoned one.
        "failed_after_vn_client_ports": [40002],
        "recovered_client_ports": [40003],
    }


QUIC_CLIENT = r"""
import os, socket, struct, time

def initial(version, dcid, scid):
    # RFC 9000 17.2.2: long header, type Initial, 1-byte packet number,
    # no token, Length as a 2-byte varint, padded to 1200 bytes (payload
    # stands in for the protected CRYPTO frame).
    body = os.urandom(1200 - 7 - len(dcid) - len(scid) - 1 - 2 - 1)
    return (bytes([0xC0]) + struct.pack('!I', version) + bytes([len(dcid)]) + dcid
            + bytes([len(scid)]) + scid + b'\0'
            + struct.pack('!H', 0x4000 | (len(body) + 1)) + b'\0' + body)

def client(port, versions):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('10.43.0.1', port))
    s.settimeout(2)
    dcid, scid = os.urandom(8), os.urandom(8)
    for v in versions:
        s.sendto(initial(v, dcid, scid), ('10.43.0.1', 4433))
        s.recvfrom(2048)
    s.close()

client(40001, [0x00000001])                # answered
client(40002, [0x1a2a3a4a])                # VN, then nothing: failed
client(40003, [0x1a2a3a4a, 0x00000001])    # VN, then v1: goes on
"""


# ------------------------------------------------------------------ blocklist

BLOCKLIST = """# pcaplens live-traffic blocklist
10.66.0.9
10.66.1.0/24
evil.test
"""


def scenario_blocklist(lab, out):
    """dig, curl and openssl touching an address, a CIDR range and a domain of
    BLOCKLIST (written to OUTDIR/blocklist.txt), plus benign traffic that must
    not match; capture on `any`."""
    lab.run(["ip", "addr", "add", "10.66.0.1/16", "dev", "lo"])
    ca, crt, key = make_certs(out)
    with open(os.path.join(out, "blocklist.txt"), "w") as f:
        f.write(BLOCKLIST)
    log = os.path.join(out, "server.log")
    pcap = os.path.join(out, "capture.pcap")
    cap = lab.capture("any", pcap)
    lab.py(SERVERS, "dns", "10.66.0.53", log)
    lab.py(SERVERS, "http", "10.66.1.7", "80", log)
    lab.py(SERVERS, "http", "10.66.2.2", "80", log)
    lab.spawn(["openssl", "s_server", "-cert", crt, "-key", key, "-www", "-accept",
               "10.66.0.9:443"], ready="ACCEPT")
    dig = ["dig", "@10.66.0.53", "-b", "10.66.0.2", "+tries=1", "+timeout=2"]
    procs = [
        lab.spawn(dig + ["evil.test", "A"]),
        lab.spawn(dig + ["c2.evil.test", "A"]),
        lab.spawn(dig + ["www.app.test", "A"]),  # benign
        lab.spawn(["curl", "-s", "--max-time", "5", "-H", "Host: www.evil.test",
                   "http://10.66.1.7/ok"]),
        lab.spawn(["curl", "-s", "--max-time", "5", "-H", "Host: good.app.test",
                   "http://10.66.2.2/ok"]),  # benign
        lab.spawn(["openssl", "s_client", "-quiet", "-no_ign_eof", "-connect", "10.66.0.9:443",
                   "-servername", "api.evil.test", "-CAfile", ca]),
    ]
    wait_all(procs)
    # A ClientHello split over two segments (as big post-quantum hellos are).
    lab.run([sys.executable, "-c", SPLIT_HELLO_CLIENT])
    lab.stop_capture(cap)
    evil = 'contains "evil.test"'
    frames = {
        "dns_query": tshark_filter_frames(pcap, "dns.flags.response==0 && dns.qry.name " + evil),
        "dns_answer": tshark_filter_frames(pcap, "dns.flags.response==1 && dns.resp.name "
                                           + evil),
        "tls_sni": tshark_filter_frames(pcap, 'tls.handshake.extensions_server_name '
                                        + evil),
        "http_host": tshark_filter_frames(pcap, 'http.host == "www.evil.test"'),
        "dst_addr": tshark_filter_frames(pcap, "tcp.flags.syn==1 && tcp.flags.ack==0 && "
                                         "(ip.dst==10.66.0.9 || ip.dst==10.66.1.0/24)"),
    }
    # (entry, place, value) -> count (flows for addresses, messages for names)
    hits = [
        ["10.66.1.0/24", "dns_answer", "10.66.1.7", 1],
        ["10.66.1.0/24", "dns_answer", "10.66.1.8", 1],
        ["10.66.1.0/24", "dst_addr", "10.66.1.7", 1],
        ["evil.test", "dns_answer", "c2.evil.test", 1],
        ["evil.test", "dns_answer", "evil.test", 1],
        ["evil.test", "dns_query", "c2.evil.test", 1],
        ["evil.test", "dns_query", "evil.test", 1],
        ["evil.test", "http_host", "www.evil.test", 1],
        ["evil.test", "tls_sni", "api.evil.test", 1],
        ["evil.test", "tls_sni", "split.evil.test", 1],
        ["10.66.0.9", "dst_addr", "10.66.0.9", 2],
    ]
    return pcap, {"hits": hits, "tshark_frames": frames}


SPLIT_HELLO_CLIENT = r"""
import socket, ssl, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname='split.evil.test')
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = out.read()
s = socket.create_connection(('10.66.0.9', 443))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(hello[:60])
time.sleep(0.05)
s.sendall(hello[60:])
s.settimeout(2)
s.recv(65536)
s.close()
"""


# ------------------------------------------------------------------ QUIC from a browser

QUIC_HOST = "quic.browser.test"


def scenario_quic_browser(lab, out):
    """Chromium's own QUIC: with QUIC forced on for one name, it sends its
    ClientHello split over two Initial packets with the pieces shuffled
    (chaos protection), then retransmits them, then gives up with a
    CONNECTION_CLOSE. A socket that reads nothing stands in for the server
    (no ICMP unreachable cuts the attempt short)."""
    lab.run(["ip", "addr", "add", "10.44.0.1/24", "dev", "lo"])
    pcap = os.path.join(out, "capture.pcap")
    cap = lab.capture("lo", pcap)
    lab.py(SERVERS, "silent_udp", "10.44.0.1", "443")
    profile = os.path.join(out, "chromium-profile")
    lab.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + profile, "--enable-quic",
             "--origin-to-force-quic-on=%s:443" % QUIC_HOST,
             "--host-resolver-rules=MAP %s 10.44.0.1" % QUIC_HOST,
             "--dump-dom", "https://%s/" % QUIC_HOST], timeout=60, check=False)
    lab.stop_capture(cap)
    return pcap, {"sni": [QUIC_HOST]}


def chromium_quic(lab, out, name, *extra):
    """Chromium fetching https://QUIC_HOST/ over QUIC only; returns the page."""
    p = lab.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--user-data-dir=" + os.path.join(out, "profile-" + name),
                 "--enable-quic", "--origin-to-force-quic-on=%s:443" % QUIC_HOST,
                 "--host-resolver-rules=MAP %s 10.45.0.1" % QUIC_HOST] + list(extra)
                + ["--dump-dom", "https://%s/" % QUIC_HOST], timeout=60, check=False)
    return p.stdout.decode(errors="replace")


def scenario_quic_h3(lab, out):
    """Chromium against a real HTTP/3 server (aioquic): first trusting its
    self-signed certificate (by key pin), so the handshake completes and the
    page loads; then without, so Chromium rejects the certificate and the
    handshake never completes."""
    lab.run(["ip", "addr", "add", "10.45.0.1/24", "dev", "lo"])
    cert, key = os.path.join(out, "cert.pem"), os.path.join(out, "key.pem")
    lab.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + QUIC_HOST,
         "-addext", "subjectAltName=DNS:" + QUIC_HOST])
    spki = subprocess.run(
        "openssl x509 -pubkey -noout -in %s | openssl pkey -pubin -outform der"
        " | openssl dgst -sha256 -binary | base64" % cert,
        shell=True, check=True, stdout=subprocess.PIPE).stdout.decode().strip()
    pcap = os.path.join(out, "capture.pcap")
    cap = lab.capture("lo", pcap)
    lab.py(SERVERS, "h3", "10.45.0.1", "443", cert, key)
    trusted = chromium_quic(lab, out, "trusted", "--ignore-certificate-errors-spki-list=" + spki)
    rejected = chromium_quic(lab, out, "rejected")
    lab.stop_capture(cap)
    return pcap, {"sni": [QUIC_HOST], "trusted_page_loaded": "h3 ok" in trusted,
                  "rejected_page_loaded": "h3 ok" in rejected}


# ------------------------------------------------------------------ main

SCENARIOS = {
    "dns": scenario_dns,
    "http": scenario_http,
    "tls": scenario_tls,
    "tls_browser": scenario_tls_browser,
    "mdns": scenario_mdns,
    "quic": scenario_quic,
    "quic_browser": scenario_quic_browser,
    "quic_h3": scenario_quic_h3,
    "blocklist": scenario_blocklist,
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
