"""Shared helpers: the CLI binary, the parity captures, tiny hand-built pcaps."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The conformance corpus is part of the repository (tests/corpus/MANIFEST.tsv).
CORPUS = REPO / "tests" / "corpus"
FIXTURES = REPO / "fixtures"


def cli_path() -> Path:
    """The native CLI used as the parity oracle (run-tests.sh builds it)."""
    path = Path(os.environ.get("PCAPLENS_CLI", REPO / "target" / "release" / "pcaplens"))
    if not path.is_file():
        pytest.fail(
            f"pcaplens CLI not found at {path}: run `cargo build -p pcaplens-cli --release` "
            "or set PCAPLENS_CLI (bindings-py/run-tests.sh does both)"
        )
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(cli_path()), *args], capture_output=True, check=False)


def corpus_captures() -> list[Path]:
    """Every capture of tests/corpus; a missing corpus is a failure, not a skip."""
    found = sorted(CORPUS.glob("*.pcap")) + sorted(CORPUS.glob("*.pcapng"))
    if not (CORPUS / "MANIFEST.tsv").is_file() or not found:
        pytest.fail(
            f"the conformance corpus is missing: {CORPUS} should hold MANIFEST.tsv and the "
            "captures (it is part of the repository; restore it with `git checkout -- tests/corpus`)",
            pytrace=False,
        )
    return found


def parity_captures() -> list[Path]:
    """Project fixtures plus every corpus capture (damaged ones included)."""
    found = sorted(FIXTURES.glob("*.pcap")) + sorted(FIXTURES.glob("*.pcapng"))
    return found + corpus_captures()


# -- hand-built pcaps ---------------------------------------------------------

PCAP_HEADER_LEN = 24
RECORD_HEADER_LEN = 16


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    """Ethernet/IPv4/UDP frame between 10.0.0.<src> and 10.0.0.<dst>."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
        bytes([10, 0, 0, src]), bytes([10, 0, 0, dst]),
    )
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    eth = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02" + b"\x08\x00"
    return eth + ip + udp


def pcap(frames: list[bytes], start: int = 1_700_000_000) -> bytes:
    """A little-endian microsecond pcap, one frame every 10 ms."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, frame in enumerate(frames):
        usec = i * 10_000
        out += struct.pack("<IIII", start + usec // 1_000_000, usec % 1_000_000, len(frame), len(frame))
        out += frame
    return bytes(out)


def small_capture(n: int = 12) -> bytes:
    """A few UDP conversations (several flows, both directions)."""
    frames = []
    for i in range(n):
        # Each query (even i) is followed by its answer; clients take turns.
        a, b = 1 + (i // 2) % 3, 100
        if i % 2:
            frames.append(udp_frame(b, a, 53, 40000 + a, b"answer %d" % i))
        else:
            frames.append(udp_frame(a, b, 40000 + a, 53, b"query %d" % i))
    return pcap(frames)


@pytest.fixture
def capture_bytes() -> bytes:
    return small_capture()


@pytest.fixture
def capture_file(tmp_path: Path, capture_bytes: bytes) -> Path:
    path = tmp_path / "small.pcap"
    path.write_bytes(capture_bytes)
    return path
