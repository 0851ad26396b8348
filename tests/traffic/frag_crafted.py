"""Write a crafted capture of IPv4/IPv6 fragment edge cases (for the corpus:
`pcaplens__frag-edge-cases.pcap`; tshark 4.0's numbers are its truth).

Each case is a DNS query (its own transaction id) answered by a large
NXDOMAIN-or-NOERROR response sent as IP fragments, so tshark's DNS counters
(responses, error responses, unanswered queries) and the frame each response
is counted in show how the fragments were reassembled:

 1. in order (IPv4)                       2. last fragment first, first last
 3. a duplicate middle fragment           4. an overlap whose bytes differ
 5. a middle fragment never sent          6. two different "last" fragments
 7. a copy of a fragment after completion 8. a first fragment cut by the snap length
 9. same id, other protocol, in between   10. IPv6 in order, 11. IPv6 out of order
12. IPv6 with a destination-options header in the fragmentable part

    python3 tests/traffic/frag_crafted.py OUT.pcap
"""
import struct
import sys

C4, S4 = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 53])
C6 = bytes.fromhex("20010db8000000000000000000000001")
S6 = bytes.fromhex("20010db8000000000000000000000053")
MAC_C, MAC_S = bytes.fromhex("020000000001"), bytes.fromhex("020000000053")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def name(n):
    out = b""
    for part in n.split("."):
        out += bytes([len(part)]) + part.encode()
    return out + b"\0"


def dns_query(tid, qname):
    return struct.pack("!HHHHHH", tid, 0x0100, 1, 0, 0, 1) + name(qname) + \
        struct.pack("!HH", 16, 1) + b"\0\0\x29\x10\0\0\0\0\0\0\0"


def dns_response(tid, qname, rcode, size):
    q = name(qname) + struct.pack("!HH", 16, 1)
    answers = b""
    n = 0
    while len(answers) < size:
        txt = bytes([200]) + bytes([0x61 + n % 26]) * 200
        answers += b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, len(txt)) + txt
        n += 1
    hdr = struct.pack("!HHHHHH", tid, 0x8180 | rcode, 1, n, 0, 0)
    return hdr + q + answers


def udp(sport, dport, payload, src=None, dst=None):
    """A UDP datagram; with addresses, its checksum (over the pseudo-header)."""
    u = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if src is None:
        return u
    if len(src) == 4:
        pseudo = src + dst + struct.pack("!BBH", 0, 17, len(u))
    else:
        pseudo = src + dst + struct.pack("!IxxxB", len(u), 17)
    ck = csum(pseudo + u) or 0xFFFF
    return u[:6] + struct.pack("!H", ck) + u[8:]


def ipv4(src, dst, proto, ident, off, more, payload):
    flags = (0x2000 if more else 0) | (off // 8)
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, 64, proto, 0,
                    src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def ipv6(src, dst, nxt, payload):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nxt, 64, src, dst) + payload


def frag6(nxt, ident, off, more, data):
    return struct.pack("!BBHI", nxt, 0, off | (1 if more else 0), ident) + data


def eth(v6, payload):
    return MAC_C + MAC_S + (b"\x86\xdd" if v6 else b"\x08\x00") + payload


def split(data, size):
    return [(i, data[i:i + size]) for i in range(0, len(data), size)]


class Pcap:
    def __init__(self):
        self.records = []
        self.t = 1_700_000_000.0

    def add(self, frame, caplen=None):
        self.t += 0.01
        cap = frame[:caplen] if caplen else frame
        sec = int(self.t)
        usec = int(round((self.t - sec) * 1e6))
        self.records.append(struct.pack("<IIII", sec, usec, len(cap), len(frame)) + cap)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for r in self.records:
                f.write(r)


def main(out):
    p = Pcap()
    case = [0]

    def query(v6, tid, qname, sport):
        msg = udp(sport, 53, dns_query(tid, qname), *((C6, S6) if v6 else (C4, S4)))
        if v6:
            p.add(eth(True, ipv6(C6, S6, 17, msg)))
        else:
            p.add(eth(False, ipv4(C4, S4, 17, 0x100 + tid, 0, False, msg)))

    def v4_frags(tid, qname, sport, rcode=3, size=2600, fsize=1200):
        body = udp(53, sport, dns_response(tid, qname, rcode, size), S4, C4)
        pieces = split(body, fsize)
        return [(off, data, i + 1 < len(pieces)) for i, (off, data) in enumerate(pieces)]

    def send4(ident, frags, caplen=None, proto=17):
        for off, data, more in frags:
            p.add(eth(False, ipv4(S4, C4, proto, ident, off, more, data)), caplen)

    # 1. in order
    query(False, 1, "one.example", 40001)
    send4(0x1001, v4_frags(1, "one.example", 40001))
    # 2. reverse order: the first fragment completes the datagram
    query(False, 2, "two.example", 40002)
    send4(0x1002, list(reversed(v4_frags(2, "two.example", 40002))))
    # 3. duplicate middle fragment (same bytes)
    query(False, 3, "three.example", 40003)
    f = v4_frags(3, "three.example", 40003)
    send4(0x1003, [f[0], f[1], f[1], f[2]])
    # 4. overlap whose bytes differ: a rogue fragment at offset 600 sent
    # before the real one at 0; the lower offset (real) wins in the overlap.
    query(False, 4, "four.example", 40004)
    f = v4_frags(4, "four.example", 40004, rcode=0)
    rogue = (600, b"\xee" * 1200, True)
    send4(0x1004, [rogue, f[0], f[1], f[2]])
    # 5. a middle fragment never sent: the query stays unanswered
    query(False, 5, "five.example", 40005)
    f = v4_frags(5, "five.example", 40005)
    send4(0x1005, [f[0], f[2]])
    # 6. two different "last" fragments: the first one's end counts
    query(False, 6, "six.example", 40006)
    f = v4_frags(6, "six.example", 40006)
    short_tail = (f[2][0], f[2][1][:100], False)
    send4(0x1006, [f[0], short_tail, f[2], f[1]])
    # 7. a copy of a fragment after completion starts a datagram that never completes
    query(False, 7, "seven.example", 40007)
    f = v4_frags(7, "seven.example", 40007)
    send4(0x1007, f + [f[0]])
    # 8. first fragment cut by the snap length (not queued: read as is), rest whole
    query(False, 8, "eight.example", 40008)
    f = v4_frags(8, "eight.example", 40008, size=1300, fsize=1000)
    send4(0x1008, f[:1], caplen=14 + 20 + 300)
    send4(0x1008, f[1:])
    # 9. same id, another protocol, in between: two datagrams
    query(False, 9, "nine.example", 40009)
    f = v4_frags(9, "nine.example", 40009)
    send4(0x1009, f[:1])
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x99, 1) + b"x" * 1500
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    send4(0x1009, [(o, d, m) for o, d, m in
                   [(off, data, i + 1 < 2) for i, (off, data) in enumerate(split(icmp, 800))]],
          proto=1)
    send4(0x1009, f[1:])

    def v6_case(tid, qname, sport, order, dest_opts=False):
        query(True, tid, qname, sport)
        body = udp(53, sport, dns_response(tid, qname, 3, 2600), S6, C6)
        nxt = 17
        if dest_opts:
            body = struct.pack("!BB", 17, 0) + b"\x01\x04\0\0\0\0" + body
            nxt = 60
        pieces = split(body, 1200)
        frags = [(off, data, i + 1 < len(pieces)) for i, (off, data) in enumerate(pieces)]
        for i in order:
            off, data, more = frags[i]
            p.add(eth(True, ipv6(S6, C6, 44, frag6(nxt, 0xABC00000 + tid, off, more, data))))

    v6_case(10, "ten.example", 40010, [0, 1, 2])
    v6_case(11, "eleven.example", 40011, [2, 0, 1])
    v6_case(12, "twelve.example", 40012, [0, 1, 2], dest_opts=True)
    p.write(out)


if __name__ == "__main__":
    main(sys.argv[1])
