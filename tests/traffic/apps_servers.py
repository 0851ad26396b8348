"""Python-stdlib servers for the application scenarios, run inside a namespace:

  apps_servers.py dns ADDR LOG        authoritative DNS on UDP+TCP 53 of ADDR
  apps_servers.py http ADDR PORT LOG  HTTP/1.1 (http.server) with fixed routes
  apps_servers.py banner ADDR PORT    speaks first with an SSH-like banner
  apps_servers.py silent ADDR PORT    accepts and never says anything
  apps_servers.py quic ADDR PORT LOG  answers QUIC long headers (see below)
  apps_servers.py silent_udp ADDR PORT  binds a UDP port and never reads it
  apps_servers.py h3 ADDR PORT CERT KEY  HTTP/3 over QUIC (aioquic) answering "h3 ok"

Each prints "ready" once bound, and logs what it answered (one JSON object a
line) so the scenario knows its own truth.
"""
import json
import os
import socket
import socketserver
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def log(logpath, **rec):
    with LOCK, open(logpath, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


# ------------------------------------------------------------------ DNS

# name -> what the server does with it. Answers are (type, rdata).
DNS_ZONE = {
    "www.app.test": ("answer", [(1, "10.53.0.80")]),
    "v6.app.test": ("answer", [(28, "fd00:53::80")]),
    "alias.app.test": ("answer", [(5, "www.app.test"), (1, "10.53.0.80")]),
    "evil.test": ("answer", [(1, "10.66.1.7")]),
    "c2.evil.test": ("answer", [(1, "10.66.1.8")]),
    "nx1.app.test": ("rcode", 3),
    "nx2.app.test": ("rcode", 3),
    "nx3.app.test": ("rcode", 3),
    "broken.app.test": ("rcode", 2),
    "closed.app.test": ("rcode", 5),
    "garbled.app.test": ("rcode", 1),
    "drop1.app.test": ("drop", None),
    "drop2.app.test": ("drop", None),
    "big.app.test": ("big", None),
}


def parse_question(msg):
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    i, labels = 12, []
    while msg[i]:
        n = msg[i]
        labels.append(msg[i + 1:i + 1 + n].decode().lower())
        i += 1 + n
    i += 1
    qtype, qclass = struct.unpack("!HH", msg[i:i + 4])
    return qid, flags, ".".join(labels), qtype, msg[12:i + 4]


def encode_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def rr(rtype, rdata):
    if rtype == 1:
        data = socket.inet_pton(socket.AF_INET, rdata)
    elif rtype == 28:
        data = socket.inet_pton(socket.AF_INET6, rdata)
    else:
        data = encode_name(rdata)
    return struct.pack("!HHHIH", 0xC00C, rtype, 1, 60, len(data)) + data


def dns_answer(msg, transport, logpath):
    """The response bytes for a query, or None to drop it."""
    qid, flags, name, qtype, question = parse_question(msg)
    action, arg = DNS_ZONE.get(name, ("rcode", 3))
    rd = flags & 0x0100
    answers, rcode, tc = [], 0, 0
    if action == "drop":
        log(logpath, name=name, transport=transport, action="drop", id=qid)
        return None
    if action == "rcode":
        rcode = arg
    elif action == "answer":
        answers = [rr(t, d) for t, d in arg if t in (qtype, 5) or qtype == 255]
        if qtype == 1 and name == "alias.app.test":
            answers = [rr(t, d) for t, d in arg]
    elif action == "big":
        if transport == "udp":
            tc = 0x0200  # truncated: the client must retry over TCP
        else:
            answers = [rr(1, "10.53.1.%d" % k) for k in range(1, 61)]
    hdr = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | tc | rd | rcode, 1, len(answers), 0, 0)
    log(logpath, name=name, transport=transport, action="answer", id=qid, rcode=rcode,
        tc=bool(tc), answers=len(answers))
    return hdr + question + b"".join(answers)


def serve_dns(addr, logpath):
    class Udp(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            out = dns_answer(data, "udp", logpath)
            if out is not None:
                sock.sendto(out, self.client_address)

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self):
            conn = self.request
            while True:
                head = recv_exact(conn, 2)
                if not head:
                    return
                msg = recv_exact(conn, struct.unpack("!H", head)[0])
                if not msg:
                    return
                out = dns_answer(msg, "tcp", logpath)
                if out is not None:
                    conn.sendall(struct.pack("!H", len(out)) + out)

    socketserver.ThreadingUDPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    u = socketserver.ThreadingUDPServer((addr, 53), Udp)
    t = socketserver.ThreadingTCPServer((addr, 53), Tcp)
    t.daemon_threads = True
    threading.Thread(target=u.serve_forever, daemon=True).start()
    ready()
    t.serve_forever()


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# ------------------------------------------------------------------ HTTP

BIG_BODY = b"".join(b"line %05d of a body that spans many TCP segments\n" % i
                    for i in range(1500))


def serve_http(addr, port, logpath):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: several requests per connection

        def log_message(self, *a):
            pass

        def reply(self, code, body=b"", headers=(), chunked=False):
            log(logpath, method=self.command, path=self.path, code=code,
                host=self.headers.get("Host"), port=port)
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in (b"first chunk\n", b"second chunk\n", b"x" * 3000):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def route(self):
            p = self.path.split("?")[0]
            if p == "/ok":
                return self.reply(200, b"fine\n", [("Content-Type", "text/plain")])
            if p == "/moved":
                return self.reply(301, b"", [("Location", "/ok")])
            if p == "/boom":
                return self.reply(500, b"internal error\n")
            if p == "/busy":
                return self.reply(503, b"try later\n", [("Retry-After", "1")])
            if p == "/chunked":
                return self.reply(200, chunked=True)
            if p == "/big":
                return self.reply(200, BIG_BODY)
            if p == "/big-error":
                return self.reply(502, BIG_BODY)
            if p == "/legacy":
                # No Content-Length: the body runs to the end of the connection.
                log(logpath, method=self.command, path=self.path, code=404,
                    host=self.headers.get("Host"), port=port)
                self.close_connection = True
                self.send_response(404)
                self.end_headers()
                self.wfile.flush()
                self.wfile.write(b"gone for good, body until close\n" * 20)
                return None
            if p == "/empty":
                return self.reply(204)
            if p == "/submit" and self.command == "POST":
                return self.reply(201, b"created\n")
            return self.reply(404, b"no such page\n")

        def do_GET(self):
            self.route()

        def do_HEAD(self):
            self.route()

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
            self.route()

    srv = ThreadingHTTPServer((addr, port), Handler)
    srv.daemon_threads = True
    ready()
    srv.serve_forever()


# ------------------------------------------------------------------ other TCP

def serve_tcp(addr, port, on_conn):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    ready()
    while True:
        c, _ = s.accept()
        threading.Thread(target=on_conn, args=(c,), daemon=True).start()


def banner_conn(c):
    # An SSH-like server: speaks first, reads the client's line, hangs up.
    c.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    c.settimeout(2)
    try:
        c.recv(4096)
    except OSError:
        pass
    c.close()


def silent_conn(c):
    # Accepts and never answers: the client's handshake never completes.
    c.settimeout(30)
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass
    c.close()


# ------------------------------------------------------------------ QUIC

SUPPORTED = [0x00000001]


def serve_quic(addr, port, logpath):
    """Answers an unsupported version with Version Negotiation (RFC 9000
    §17.2.1: first byte with the long-header bit, version 0, DCID = client's
    SCID, SCID = client's DCID, then the supported versions) and a supported
    one with a long-header Handshake-type packet (the connection goes on)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    ready()
    while True:
        data, peer = s.recvfrom(65535)
        if len(data) < 7 or not data[0] & 0x80:
            continue
        version = struct.unpack("!I", data[1:5])[0]
        dlen = data[5]
        dcid = data[6:6 + dlen]
        slen = data[6 + dlen]
        scid = data[7 + dlen:7 + dlen + slen]
        if version not in SUPPORTED:
            vn = (bytes([0x80 | 0x4a]) + b"\0\0\0\0" + bytes([len(scid)]) + scid
                  + bytes([len(dcid)]) + dcid + b"".join(struct.pack("!I", v) for v in
                                                        SUPPORTED + [0x6b3343cf]))
            s.sendto(vn, peer)
            log(logpath, peer="%s:%d" % peer, version="0x%08x" % version, answer="vn")
        else:
            # Handshake packet (type 2) with a dummy protected payload.
            body = os.urandom(40)
            pkt = (bytes([0xC0 | (2 << 4) | 0x01]) + struct.pack("!I", version)
                   + bytes([len(scid)]) + scid + bytes([8]) + os.urandom(8)
                   + struct.pack("!H", 0x4000 | (len(body) + 2)) + b"\0\1" + body)
            s.sendto(pkt, peer)
            log(logpath, peer="%s:%d" % peer, version="0x%08x" % version, answer="handshake")


def serve_silent_udp(addr, port):
    """Holds the port, so datagrams to it draw no ICMP port unreachable."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    ready()
    threading.Event().wait()


# ------------------------------------------------------------------ HTTP/3

H3_BODY = b"<html><body>h3 ok</body></html>"


def serve_h3(addr, port, cert, key):
    """A real QUIC + HTTP/3 server (aioquic, from PyPI): 200 with a fixed page
    to every request."""
    import asyncio
    from aioquic.asyncio import serve
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3_ALPN, H3Connection
    from aioquic.h3.events import HeadersReceived
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.events import ProtocolNegotiated

    class H3(QuicConnectionProtocol):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.h3 = None

        def quic_event_received(self, ev):
            if isinstance(ev, ProtocolNegotiated) and ev.alpn_protocol in H3_ALPN:
                self.h3 = H3Connection(self._quic)
            if self.h3 is None:
                return
            for e in self.h3.handle_event(ev):
                if isinstance(e, HeadersReceived):
                    self.h3.send_headers(e.stream_id, [
                        (b":status", b"200"), (b"content-type", b"text/html"),
                        (b"content-length", str(len(H3_BODY)).encode())])
                    self.h3.send_data(e.stream_id, H3_BODY, end_stream=True)
            self.transmit()

    async def main():
        cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        cfg.load_cert_chain(cert, key)
        await serve(addr, port, configuration=cfg, create_protocol=H3)
        ready()
        await asyncio.Future()

    asyncio.run(main())


def ready():
    print("ready", flush=True)


def main():
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "dns":
        serve_dns(args[0], args[1])
    elif kind == "http":
        serve_http(args[0], int(args[1]), args[2])
    elif kind == "banner":
        serve_tcp(args[0], int(args[1]), banner_conn)
    elif kind == "silent":
        serve_tcp(args[0], int(args[1]), silent_conn)
    elif kind == "quic":
        serve_quic(args[0], int(args[1]), args[2])
    elif kind == "silent_udp":
        serve_silent_udp(args[0], int(args[1]))
    elif kind == "h3":
        serve_h3(args[0], int(args[1]), args[2], args[3])
    else:
        sys.exit("unknown server %r" % kind)


if __name__ == "__main__":
    main()
