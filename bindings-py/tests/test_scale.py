"""analyze_many, partial / merge, flow batches (issue 23, docs/scale.md)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import pcaplens

from conftest import (
    WHOLE_CAPTURE,
    assert_mergeable_fields_equal,
    cli_merged,
    cli_whole,
    complete_corpus_captures,
    corpus_captures,
    run_cli,
)


def test_analyze_many_is_analyze_per_file_in_order() -> None:
    # Largest first: threads finish out of order, the results must not.
    files = sorted(corpus_captures()[:8], key=lambda p: -p.stat().st_size)
    expected = [pcaplens.analyze(str(f)).to_json() for f in files]
    for jobs in (1, 3):
        got = pcaplens.analyze_many(files, jobs=jobs)
        assert [r.to_json() for r in got] == expected


def test_analyze_many_releases_the_gil() -> None:
    files = corpus_captures()[:6] * 4
    ticks = 0
    done = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=tick)
    t.start()
    try:
        pcaplens.analyze_many(files, jobs=2)
    finally:
        done.set()
        t.join()
    assert ticks > 1000


def test_analyze_many_errors() -> None:
    files = corpus_captures()[:2]
    with pytest.raises(FileNotFoundError):
        pcaplens.analyze_many([files[0], Path("/nonexistent/x.pcap"), files[1]], jobs=2)
    with pytest.raises(ValueError):
        pcaplens.analyze_many(files, jobs=0)
    with pytest.raises(ValueError):
        pcaplens.analyze_many(files, jobs=0, independent=False)
    assert pcaplens.analyze_many([], jobs=2) == []


# -- partial / merge ------------------------------------------------------------


def test_merged_analyze_many_is_the_cli_jobs_report(cut_dir: list[Path]) -> None:
    # Consecutive files, and one file cut into pieces: the same bytes as the CLI.
    for paths, jobs in ((cut_dir, 2), (cut_dir, 3), ([WHOLE_CAPTURE], 3)):
        out = run_cli("analyze", "--json", "--jobs", str(jobs), *map(str, paths))
        assert out.returncode == 0, out.stderr.decode()
        got = pcaplens.analyze_many(paths, jobs=jobs, independent=False)
        assert (got.to_json() + "\n").encode() == out.stdout
        assert got.merge.pieces == (len(paths) if len(paths) > 1 else jobs)


def test_merge_of_partials_is_the_cli_jobs_report_and_the_whole_capture(cut_dir: list[Path]) -> None:
    parts = [pcaplens.partial(p) for p in cut_dir]
    assert all(p.startswith(b"PCLPART\0") for p in parts)
    merged = pcaplens.merge(parts)
    assert merged.to_dict() == cli_merged(cut_dir)
    assert_mergeable_fields_equal(cli_whole(WHOLE_CAPTURE), merged.to_dict(), len(cut_dir))
    # The merged report leaves what it cannot merge empty, and says so.
    assert merged.flows == [] and "flows" in merged.merge.not_mergeable
    # A path and the same capture's bytes give the same partial.
    assert pcaplens.partial(cut_dir[1].read_bytes()) == parts[1]


def test_partial_releases_the_gil(tmp_path: Path) -> None:
    import time

    path = tmp_path / "big.pcap"
    path.write_bytes(pcaplens.generate("normal", packets=100_000))
    seen: list[float] = []
    done = threading.Event()

    def tick() -> None:
        n = 0
        while not done.is_set():
            n += 1
            if n % 1000 == 0:
                seen.append(time.perf_counter())

    t = threading.Thread(target=tick)
    t.start()
    try:
        while not seen:
            time.sleep(0.001)
        for source in (path, path.read_bytes()):
            t0 = time.perf_counter()
            pcaplens.partial(source)
            t1 = time.perf_counter()
            # The other thread ran in the middle of the call: impossible if it held the GIL.
            lo, hi = t0 + (t1 - t0) / 4, t1 - (t1 - t0) / 4
            assert any(lo < x < hi for x in seen), f"no tick during {t1 - t0:.3f} s in Rust"
    finally:
        done.set()
        t.join()


def test_merge_is_associative_with_an_identity(cut_dir: list[Path]) -> None:
    a, b, c, d = (pcaplens.partial(p) for p in cut_dir)
    left = pcaplens.merge_partials([pcaplens.merge_partials([a, b]), c, d])
    right = pcaplens.merge_partials([a, pcaplens.merge_partials([b, pcaplens.merge_partials([c, d])])])
    assert left == right == pcaplens.merge_partials([a, b, c, d])
    empty = pcaplens.merge_partials([])
    assert pcaplens.merge_partials([empty, a, empty]) == a
    assert pcaplens.merge([empty, left]).to_json() == pcaplens.merge([a, b, c, d]).to_json()


def test_merge_refuses_pieces_out_of_order(cut_dir: list[Path]) -> None:
    a, b, c, _ = (pcaplens.partial(p) for p in cut_dir)
    with pytest.raises(pcaplens.PartialOrderError, match=r"partials\[2\] cannot follow partials\[0\.\.2\]"):
        pcaplens.merge([a, c, b])
    with pytest.raises(pcaplens.PartialOrderError):
        pcaplens.analyze_many(list(reversed(cut_dir)), jobs=2, independent=False)
    assert issubclass(pcaplens.PartialOrderError, pcaplens.PartialError)
    assert issubclass(pcaplens.PartialError, pcaplens.PcaplensError)


def test_a_bad_partial_raises_naming_the_item(cut_dir: list[Path]) -> None:
    a, b = pcaplens.partial(cut_dir[0]), pcaplens.partial(cut_dir[1])
    with pytest.raises(pcaplens.PartialError, match=r"partials\[1\]: not a pcaplens partial"):
        pcaplens.merge([a, b"hello"])
    with pytest.raises(pcaplens.PartialError, match=r"partials\[0\]: partial format version 7"):
        pcaplens.merge([a[:8] + b"\x07\x00" + a[10:], b])
    with pytest.raises(pcaplens.PartialError, match=r"partials\[1\]: damaged partial"):
        pcaplens.merge([a, b[: len(b) // 2]])
    # Every one-byte change is an error or a valid value: never a crash.
    for i in range(len(b)):
        bad = bytearray(b)
        bad[i] ^= 0xFF
        try:
            pcaplens.merge_partials([bytes(bad)])
        except pcaplens.PartialError:
            pass
    with pytest.raises(TypeError):
        pcaplens.merge([a, "text"])  # type: ignore[list-item]
    with pytest.raises(FileNotFoundError, match="nonexistent"):
        pcaplens.partial("/nonexistent/x.pcap")


def test_flow_batches_are_the_flows_table_in_portable_types() -> None:
    import pyarrow as pa

    path = corpus_captures()[0].parent / "ndpi__synscan.pcap"  # ~2,000 flows
    expected = pa.table(pcaplens.analyze(path, flows_limit=None).flows_table())
    batches = list(pcaplens.flow_batches(path, batch_rows=100, flows_limit=None))
    assert len(batches) == -(-expected.num_rows // 100) and expected.num_rows > 100
    assert all(b.num_rows <= 100 for b in batches)
    got = pa.Table.from_batches(batches)
    assert got.schema == pcaplens.flows_schema()
    assert got.column_names == expected.column_names
    utc_micros = pa.timestamp("us", tz="UTC")
    for field in got.schema:
        # Types Spark's mapInArrow and Ray both take: no unsigned integers,
        # times as UTC timestamps.
        assert not pa.types.is_unsigned_integer(field.type), field
        allowed = (pa.int16(), pa.int32(), pa.int64(), pa.float64(), pa.string(), utc_micros)
        assert field.type in allowed, field
    assert got.schema.field("first_ts").type == utc_micros
    assert got.schema.field("last_ts").type == utc_micros
    # The same instants, to the microsecond.
    for name in ("first_ts", "last_ts"):
        as_micros = got.column(name).cast(pa.int64()).to_pylist()
        assert as_micros == [round(s * 1_000_000) for s in expected.column(name).to_pylist()]
    times = {"first_ts", "last_ts"}
    strip = lambda rows: [{k: v for k, v in r.items() if k not in times} for r in rows]  # noqa: E731
    assert strip(got.to_pylist()) == strip(expected.to_pylist())
    # The options reach the analysis.
    assert sum(b.num_rows for b in pcaplens.flow_batches(path, flows_limit=7)) == 7
    with pytest.raises(ValueError):
        next(pcaplens.flow_batches(path, batch_rows=0))
