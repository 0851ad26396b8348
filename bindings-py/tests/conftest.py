"""Shared helpers: the CLI binary, the parity captures, tiny hand-built pcaps."""

from __future__ import annotations

import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# -- issue 23: captures cut into consecutive files, merged-report comparison ---


def pcap_records(data: bytes) -> tuple[bytes, list[tuple[int, int, int]]]:
    """A classic pcap's file header and its records as (offset, end, timestamp)."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a classic pcap")
    out = []
    off = PCAP_HEADER_LEN
    while off + RECORD_HEADER_LEN <= len(data):
        sec, frac, incl, _ = struct.unpack_from(e + "IIII", data, off)
        end = off + RECORD_HEADER_LEN + incl
        out.append((off, end, sec * 1_000_000_000 + frac))
        off = end
    return data[:PCAP_HEADER_LEN], out


def cut_pcap(data: bytes, pieces: int) -> list[bytes]:
    """A classic pcap as `pieces` consecutive files (each with the file header),
    cut near equal record counts where time does not step back (a merge of
    separate files refuses that, docs/scale.md)."""
    header, records = pcap_records(data)
    cuts = []
    for k in range(1, pieces):
        i = k * len(records) // pieces
        while 0 < i < len(records) and records[i][2] < records[i - 1][2]:
            i += 1
        cuts.append(i)
    bounds = [0, *cuts, len(records)]
    return [
        header + data[records[a][0] : records[b - 1][1]] for a, b in zip(bounds, bounds[1:]) if b > a
    ]


def drop_field(doc: dict[str, object], dotted: str) -> None:
    parts = dotted.split(".")
    node: object = doc
    for p in parts[:-1]:
        assert isinstance(node, dict)
        node = node[p]
    assert isinstance(node, dict) and parts[-1] in node, f"no field {dotted}"
    del node[parts[-1]]


def assert_mergeable_fields_equal(whole: dict[str, object], merged: dict[str, object], files: int) -> None:
    """Everything but the fields the merged report names in ``merge.not_mergeable``
    is the whole capture's (as tests/integration/scale.rs checks); `files`
    separate files hold `files` file headers, which only the capture section counts."""
    import copy
    import json

    merged = copy.deepcopy(merged)
    whole = copy.deepcopy(whole)
    info = merged.pop("merge")
    assert isinstance(info, dict)
    assert info["pieces"] == files
    capture = merged["capture"]
    assert isinstance(capture, dict)
    capture["bytes_read"] -= (files - 1) * PCAP_HEADER_LEN
    capture["interfaces"] -= files - 1
    for field in info["not_mergeable"]:
        drop_field(whole, field)
        drop_field(merged, field)
    assert json.dumps(merged, sort_keys=True) == json.dumps(whole, sort_keys=True)


def complete_corpus_captures(n: int) -> list[Path]:
    """The first `n` corpus captures that read to the end without damage."""
    import pcaplens

    import warnings

    out = []
    for path in corpus_captures():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pcaplens.PartialCaptureWarning)
            try:
                complete = pcaplens.analyze(str(path)).complete
            except pcaplens.PcaplensError:
                complete = False
        if complete:
            out.append(path)
        if len(out) == n:
            return out
    pytest.fail(f"fewer than {n} complete captures in the corpus")


# -- one local Ray cluster and one Spark session per test run, on 127.0.0.1 ---


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A local Ray cluster (2 CPUs, 512 MiB object store) bound to 127.0.0.1."""
    # Bind to loopback (RECIPES.md) and keep the shuffle on tasks, not actors.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_DATA_DEFAULT_SHUFFLE_STRATEGY"] = "sort_shuffle_pull_based"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as e:
        pytest.fail(f"ray is not installed ({e}); run-tests.sh installs ray[data]", pytrace=False)
    # A short path: Ray's socket names must fit in 107 bytes.
    temp = Path("/tmp") / f"pcaplens-ray-{os.getpid()}"
    ray.init(
        num_cpus=2,
        object_store_memory=512 << 20,
        _temp_dir=str(temp),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """A Spark local[2] session on 127.0.0.1, workers on this Python."""
    import sys

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        pytest.fail(f"pyspark is not installed ({e}); run-tests.sh installs pyspark[sql]", pytrace=False)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("pcaplens-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


WHOLE_CAPTURE = CORPUS / "zeek__206_example_b.pcap"


@pytest.fixture(scope="session")
def cut_dir(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """WHOLE_CAPTURE cut into 4 consecutive files (sorted names = capture order)."""
    if not WHOLE_CAPTURE.is_file():
        pytest.fail(f"{WHOLE_CAPTURE} is missing from the corpus")
    d = tmp_path_factory.mktemp("cut")
    paths = []
    for i, piece in enumerate(cut_pcap(WHOLE_CAPTURE.read_bytes(), 4)):
        p = d / f"piece-{i:03d}.pcap"
        p.write_bytes(piece)
        paths.append(p)
    assert len(paths) == 4
    return paths


def cli_merged(paths: list[Path], jobs: int = 2) -> dict[str, Any]:
    """`pcaplens analyze --jobs N --json PATHS…` parsed."""
    import json

    out = run_cli("analyze", "--json", "--jobs", str(jobs), *map(str, paths))
    assert out.returncode == 0, out.stderr.decode()
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def cli_whole(path: Path) -> dict[str, Any]:
    import json

    out = run_cli("analyze", "--json", str(path))
    assert out.returncode == 0, out.stderr.decode()
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc
