"""HTTP server (stdlib http.server) for the sanitizer's live scenarios.

Dual-stack on one port. It answers every request with session cookies, echoes
identifiers into headers (so the response carries them too) and a small body
holding an e-mail address and a token. Usage: sanitize_http_server.py PORT SECRETS.json
"""

import http.server
import json
import socket
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    secrets = {}

    def big(self):
        """A chunked body of several TCP segments, identifiers across the cuts."""
        s = self.secrets
        line = "user %s token %s host %s key %s\n" % (
            s["email_body"], s["resp_token"], s["redirect_host"], s["api_key_query"])
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(6):
            chunk = (line * (40 + i)).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.path.startswith("/big"):
            return self.big()
        s = self.secrets
        body = ("contact %s token %s\n" % (s["email_body"], s["resp_token"])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header(
            "Set-Cookie",
            "sessionid=%s; Domain=%s; Path=/; HttpOnly" % (s["set_cookie"], s["cookie_domain"]),
        )
        self.send_header("X-Request-Token", s["resp_token"])
        self.send_header("Location", "http://%s/next?token=%s" % (s["redirect_host"], s["redirect_token"]))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = reply
    do_POST = reply

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    with open(sys.argv[2]) as f:
        Handler.secrets = json.load(f)["http"]
    srv = Server(("::", int(sys.argv[1])), Handler)
    print("http: ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
