"""DataFrames (pandas), Arrow PyCapsule export (pyarrow, polars)."""

from __future__ import annotations

import sys

import pytest

import pcaplens

from conftest import small_capture

import pandas as pd  # noqa: E402  (installed by run-tests.sh; a missing one must fail)
import pyarrow as pa
import polars as pl


@pytest.fixture
def report() -> pcaplens.Report:
    return pcaplens.analyze(small_capture(30))


def test_flows_table_via_pyarrow(report: pcaplens.Report) -> None:
    table = report.flows_table()
    assert len(table) == table.num_rows == 3
    arrow = pa.table(table)
    assert arrow.column_names == table.column_names
    assert arrow.to_pylist() == report.to_dict()["flows"]
    assert arrow.schema.field("orig_port").type == pa.uint16()
    assert arrow.schema.field("service").nullable
    # The stream can be taken more than once (each call exports a new stream).
    assert pa.RecordBatchReader.from_stream(table).read_all().num_rows == 3
    assert pa.schema(table).names == table.column_names


def test_flow_columns_follow_the_json(report: pcaplens.Report) -> None:
    # The Arrow schema is written out in Rust; it must not drift from the JSON flow rows.
    assert report.flows_table().column_names == list(report.to_dict()["flows"][0])


def test_flows_table_via_polars(report: pcaplens.Report) -> None:
    df = pl.DataFrame(report.flows_table())
    assert df.shape == (3, 29)
    assert df["orig_packets"].sum() + df["resp_packets"].sum() == 30


def test_flows_df(report: pcaplens.Report) -> None:
    df = report.flows_df()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == report.flows_table().column_names
    assert len(df) == 3
    assert df["orig_packets"].sum() + df["resp_packets"].sum() == 30
    assert sorted(df["orig_addr"]) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_summary_dataframes(report: pcaplens.Report) -> None:
    talkers = report.talkers_df()
    assert talkers.iloc[0]["addr"] == "10.0.0.100"  # the server talks to everyone
    assert len(report.conversations_df()) == 3
    protocols = report.protocols_df()
    assert "udp" in set(protocols["protocol"])


def test_empty_report_tables() -> None:
    empty = pcaplens.analyze(small_capture(0))
    assert pa.table(empty.flows_table()).num_rows == 0
    assert len(empty.flows_df()) == 0


def test_dataframe_without_pandas(report: pcaplens.Report, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        report.flows_df()


def test_flows_df_without_pyarrow_is_the_same(report: pcaplens.Report, monkeypatch: pytest.MonkeyPatch) -> None:
    via_arrow = report.flows_df()
    monkeypatch.setattr(pcaplens, "_optional_pyarrow", lambda: None)
    via_rows = report.flows_df()
    assert list(via_rows.columns) == list(via_arrow.columns)
    assert via_rows.astype(str).values.tolist() == via_arrow.astype(str).values.tolist()
