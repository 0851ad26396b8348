"""pcaplens.ray on one local Ray cluster (issue 23, docs/scale.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pcaplens

from conftest import (
    WHOLE_CAPTURE,
    assert_mergeable_fields_equal,
    cli_merged,
    cli_whole,
    complete_corpus_captures,
)

pytestmark = pytest.mark.ray


TIME_COLUMNS = ("first_ts", "last_ts")


def micros(value: Any) -> int:
    """A flow time as whole microseconds since the epoch: the JSON's float
    seconds, or a datetime (pyarrow's aware UTC one, or Spark's naive one in
    this process's local time: ``timestamp()`` reads both as the instant)."""
    seconds = value.timestamp() if hasattr(value, "timestamp") else value
    return round(seconds * 1_000_000)


def with_micros(row: dict[str, Any]) -> dict[str, Any]:
    return {k: micros(v) if k in TIME_COLUMNS else v for k, v in row.items()}


def expected_flow_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """flows_table of each file analysed alone, with its file, by file then
    flow id; times as whole microseconds (compare rows through `with_micros`)."""
    import pyarrow as pa

    rows = []
    for p in paths:
        table = pa.table(pcaplens.analyze(p, flows_limit=None).flows_table())
        rows += [with_micros({"file": str(p), **r}) for r in table.to_pylist()]
    return sorted(rows, key=lambda r: (r["file"], r["id"]))


def test_ray_summary_is_the_cli_jobs_report_and_the_whole_capture(
    ray_cluster: Any, cut_dir: list[Path]
) -> None:
    import pcaplens.ray

    # Several blocks, so Ray combines partial states in an order of its own.
    report = pcaplens.ray.summary([str(p) for p in cut_dir], override_num_blocks=4)
    got = report.to_dict()
    expected = cli_merged(cut_dir)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert_mergeable_fields_equal(cli_whole(WHOLE_CAPTURE), got, len(cut_dir))


def test_ray_summary_refuses_files_out_of_order(ray_cluster: Any, cut_dir: list[Path]) -> None:
    import pcaplens.ray

    # Ray re-raises the task's error as an instance of its class.
    with pytest.raises(pcaplens.PartialOrderError, match="out of order"):
        pcaplens.ray.summary([str(p) for p in reversed(cut_dir)], override_num_blocks=2)


def test_ray_flow_rows_are_each_files_flows(ray_cluster: Any) -> None:
    import pcaplens.ray

    paths = complete_corpus_captures(12)
    ds = pcaplens.ray.read_pcaps([str(p) for p in paths], batch_rows=50)
    rows = sorted(ds.take_all(), key=lambda r: (r["file"], r["id"]))
    expected = expected_flow_rows(paths)
    assert len(rows) == len(expected) > 100
    assert [with_micros(dict(r)) for r in rows] == expected
    # Types both engines accept: signed integers, no unsigned; UTC timestamps.
    schema = ds.schema().base_schema
    assert schema.names[0] == "file"
    assert not any(str(t).startswith("uint") for t in schema.types)
    import pyarrow as pa

    for name in TIME_COLUMNS:
        assert schema.field(name).type == pa.timestamp("us", tz="UTC")
