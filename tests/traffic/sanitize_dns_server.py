"""A small authoritative DNS server (stdlib only) for the sanitizer's live scenarios.

Answers over UDP and TCP from a fixed zone and compresses names the way real
servers do (every suffix already written becomes a pointer), so the sanitizer
sees pointers into the question, into answers and chains of pointers.
Usage: sanitize_dns_server.py ZONE.json ADDRESS [ADDRESS...]  (port 53)
"""

import json
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}


class Writer:
    def __init__(self):
        self.buf = bytearray()
        self.names = {}  # lowercase suffix -> offset, for compression

    def name(self, name):
        labels = [l for l in name.rstrip(".").split(".") if l]
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]).lower()
            if suffix in self.names:
                self.buf += struct.pack("!H", 0xC000 | self.names[suffix])
                return
            if len(self.buf) < 0x3FFF:
                self.names[suffix] = len(self.buf)
            lab = labels[i].encode()
            self.buf += bytes([len(lab)]) + lab
        self.buf += b"\0"


def rdata(w, rtype, value):
    """Append RDLENGTH + RDATA (names compressed where RFC 3597 allows it)."""
    at = len(w.buf)
    w.buf += b"\0\0"
    if rtype == "A":
        w.buf += socket.inet_pton(socket.AF_INET, value)
    elif rtype == "AAAA":
        w.buf += socket.inet_pton(socket.AF_INET6, value)
    elif rtype in ("CNAME", "NS", "PTR"):
        w.name(value)
    elif rtype == "MX":
        pref, host = value
        w.buf += struct.pack("!H", pref)
        w.name(host)
    elif rtype == "SOA":
        mname, rname, serial = value
        w.name(mname)
        w.name(rname)
        w.buf += struct.pack("!IIIII", serial, 3600, 600, 86400, 300)
    elif rtype == "TXT":
        for s in value:
            b = s.encode()
            w.buf += bytes([len(b)]) + b
    struct.pack_into("!H", w.buf, at, len(w.buf) - at - 2)


def parse_question(msg):
    labels, i = [], 12
    while msg[i]:
        labels.append(msg[i + 1 : i + 1 + msg[i]].decode())
        i += 1 + msg[i]
    qtype, qclass = struct.unpack("!HH", msg[i + 1 : i + 5])
    return ".".join(labels), qtype, qclass, msg[12 : i + 5]


def answer(zone, msg):
    qid, flags = struct.unpack("!HH", msg[:4])
    qname, qtype, _qclass, _raw = parse_question(msg)
    w = Writer()
    w.buf += b"\0" * 12
    w.name(qname)
    w.buf += struct.pack("!HH", qtype, 1)
    answers, authority = [], []
    name = qname.lower()
    # Follow CNAME chains inside the zone, as an authoritative server does.
    for _ in range(8):
        recs = zone.get(name, {})
        if "CNAME" in recs and qtype != TYPES["CNAME"]:
            answers.append((name, "CNAME", recs["CNAME"]))
            name = recs["CNAME"].lower()
            continue
        for rtype, values in recs.items():
            if TYPES[rtype] == qtype:
                # CNAME holds one name; every other type a list of values.
                for v in [values] if rtype == "CNAME" else values:
                    answers.append((name, rtype, v))
        break
    rcode = 0
    if not answers:
        soa_owner = zone["_apex"]
        authority.append((soa_owner, "SOA", zone[soa_owner]["SOA"][0]))
        if name not in zone:
            rcode = 3
    for owner, rtype, v in answers + authority:
        w.name(owner)
        w.buf += struct.pack("!HHI", TYPES[rtype], 1, 300)
        rdata(w, rtype, v)
    rd = flags & 0x0100
    struct.pack_into("!HHHHHH", w.buf, 0, qid, 0x8400 | rd | rcode, 1, len(answers), len(authority), 0)
    return bytes(w.buf)


def serve_udp(zone, sock):
    while True:
        msg, peer = sock.recvfrom(4096)
        try:
            sock.sendto(answer(zone, msg), peer)
        except Exception as e:  # a bad query must not stop the server
            print("dns: udp error", e, file=sys.stderr, flush=True)


def serve_tcp_conn(zone, conn):
    with conn:
        while True:
            hdr = conn.recv(2)
            if len(hdr) < 2:
                return
            (n,) = struct.unpack("!H", hdr)
            msg = b""
            while len(msg) < n:
                part = conn.recv(n - len(msg))
                if not part:
                    return
                msg += part
            out = answer(zone, msg)
            conn.sendall(struct.pack("!H", len(out)) + out)


def serve_tcp(zone, sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(zone, conn), daemon=True).start()


def main():
    with open(sys.argv[1]) as f:
        zone = json.load(f)
    zone = {k.lower() if not k.startswith("_") else k: v for k, v in zone.items()}
    threads = []
    for addr in sys.argv[2:]:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((addr, 53))
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, 53))
        t.listen(16)
        threads += [
            threading.Thread(target=serve_udp, args=(zone, u), daemon=True),
            threading.Thread(target=serve_tcp, args=(zone, t), daemon=True),
        ]
    for t in threads:
        t.start()
    print("dns: ready", flush=True)
    threads[0].join()


if __name__ == "__main__":
    main()
