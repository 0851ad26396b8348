"""A local chat-completions server for the classify tests (OpenAI wire protocol).

Run as ``python chat_server.py LOG [DELAY]``: binds 127.0.0.1 on a free port,
prints the port, appends every request (path, headers, body) as a JSON line to
LOG, and answers each with a verdict chosen from the prompt's payload text.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_plus

LOG = sys.argv[1]
DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
LOCK = threading.Lock()


def verdict(user: str) -> dict[str, object]:
    text = unquote_plus(user).lower()
    if "union select" in text or "or 1=1" in text:
        return {"suspicious": True, "confidence": 0.9, "category": "sql_injection",
                "reason": "SQL injection in the query string"}
    if "/dev/tcp" in text:
        return {"suspicious": True, "confidence": 0.95, "category": "reverse_shell",
                "reason": "bash reverse shell"}
    return {"suspicious": False, "confidence": 0.2, "category": "benign", "reason": "ordinary"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode("utf-8", "replace")
        with LOCK, open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({"path": self.path, "headers": dict(self.headers), "body": body}) + "\n")
        time.sleep(DELAY)
        try:
            user = next(m["content"] for m in json.loads(body)["messages"] if m["role"] == "user")
        except (ValueError, KeyError, StopIteration):
            user = ""
        answer = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(verdict(user))}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
