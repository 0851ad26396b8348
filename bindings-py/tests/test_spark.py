"""pcaplens.spark on one local[2] Spark session (issue 23, docs/scale.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    WHOLE_CAPTURE,
    assert_mergeable_fields_equal,
    cli_merged,
    cli_whole,
    complete_corpus_captures,
)
from test_ray import expected_flow_rows, with_micros

pytestmark = pytest.mark.spark


def paths_df(spark: Any, paths: list[Path]) -> Any:
    # Two partitions, so both local[2] workers take files.
    return spark.createDataFrame([(str(p),) for p in paths], "path string").repartition(2)


def test_spark_summary_is_the_cli_jobs_report_and_the_whole_capture(
    spark_session: Any, cut_dir: list[Path]
) -> None:
    import pcaplens.spark

    report = pcaplens.spark.summary(paths_df(spark_session, cut_dir))
    got = report.to_dict()
    expected = cli_merged(cut_dir)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert_mergeable_fields_equal(cli_whole(WHOLE_CAPTURE), got, len(cut_dir))
    # Rows come back in any order; the driver merges in order of path.
    again = pcaplens.spark.summary(paths_df(spark_session, list(reversed(cut_dir))))
    assert again.to_json() == report.to_json()


def test_spark_flow_rows_are_each_files_flows(spark_session: Any) -> None:
    import pcaplens.spark

    paths = complete_corpus_captures(12)
    df = pcaplens.spark.flows(paths_df(spark_session, paths), batch_rows=50)
    rows = sorted(
        (with_micros(r.asDict()) for r in df.collect()), key=lambda r: (r["file"], r["id"])
    )
    expected = expected_flow_rows(paths)
    assert len(rows) == len(expected) > 100
    assert rows == expected
    assert df.columns[0] == "file"
    assert dict(df.dtypes)["orig_bytes"] == "bigint"
    assert dict(df.dtypes)["first_ts"] == "timestamp"
