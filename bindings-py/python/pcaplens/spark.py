"""pcaplens on Spark (``pip install "pcaplens[spark]"``; docs/scale.md).

::

    import pcaplens.spark
    paths = spark.createDataFrame([(p,) for p in files], "path string")
    flows = pcaplens.spark.flows(paths)           # DataFrame, one row per flow
    report = pcaplens.spark.summary(paths)        # one merged pcaplens.Report

Executors get **paths** (never the file contents: Spark's ``binaryFile``
source fails on files over 2 GiB) and analyse each file in Rust inside
``mapInArrow``; the columns are Arrow types Spark accepts (signed integers,
double, string, binary). :func:`summary` brings one partial per file to the
driver and merges them there in order of path.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame

import pcaplens

__all__ = ["flows", "flows_ddl", "partials", "summary"]

#: Name of the file column of :func:`flows` rows (the path as given).
FILE_COLUMN = "file"

# Arrow → Spark SQL types of the columns pcaplens emits (portable layout).
_SQL_TYPES = {
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float64(): "double",
    pa.string(): "string",
    pa.large_string(): "string",
    pa.binary(): "binary",
    # Spark reads a UTC timestamp column as its TimestampType (an instant).
    pa.timestamp("us", tz="UTC"): "timestamp",
}


def flows_ddl() -> str:
    """The Spark schema (DDL) of :func:`flows` rows: ``file`` then :func:`pcaplens.flow_batches` columns."""
    cols = [f"{FILE_COLUMN} string not null"]
    for field in pcaplens.flows_schema():
        sql = _SQL_TYPES.get(field.type)
        if sql is None:
            raise TypeError(f"flows column {field.name}: no Spark type for Arrow {field.type}")
        cols.append(f"`{field.name}` {sql}" + ("" if field.nullable else " not null"))
    return ", ".join(cols)


def _paths(batches: Iterator[pa.RecordBatch], column: str) -> Iterator[str]:
    for batch in batches:
        for path in batch.column(batch.schema.get_field_index(column)).to_pylist():
            if path is None:
                raise ValueError(f"a null in the path column {column!r}")
            yield path


def flows(df: DataFrame, *, path_col: str = "path", batch_rows: int = pcaplens.FLOW_BATCH_ROWS, **options: Any) -> DataFrame:
    """A DataFrame of the flows of every capture named in ``df[path_col]``, one row per flow.

    Columns: ``file`` (the path) then those of :func:`pcaplens.flow_batches`;
    each file analysed alone on an executor (memory bounded by one file's
    flows). Options are :func:`pcaplens.analyze`'s; every flow is listed
    unless ``flows_limit`` says otherwise. Executors import ``pcaplens``.
    """
    opts = {"flows_limit": None, **options}
    file_field = pa.field(FILE_COLUMN, pa.string(), nullable=False)

    def analyse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for path in _paths(batches, path_col):
            for batch in pcaplens.flow_batches(path, batch_rows=batch_rows, **opts):
                files = pa.array([path] * batch.num_rows, pa.string())
                yield pa.RecordBatch.from_arrays(
                    [files, *batch.columns], schema=batch.schema.insert(0, file_field)
                )

    return df.select(path_col).mapInArrow(analyse, flows_ddl())


def partials(df: DataFrame, *, path_col: str = "path", **options: Any) -> DataFrame:
    """A DataFrame ``file string, partial binary``: each file's :func:`pcaplens.partial`."""
    opts = dict(options)
    schema = pa.schema([pa.field("file", pa.string()), pa.field("partial", pa.binary())])

    def analyse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for path in _paths(batches, path_col):
            part = pcaplens.partial(path, **opts)
            yield pa.RecordBatch.from_arrays(
                [pa.array([path], pa.string()), pa.array([part], pa.binary())], schema=schema
            )

    return df.select(path_col).mapInArrow(analyse, "file string, partial binary")


def summary(df: DataFrame, *, path_col: str = "path", strict: bool = False, **options: Any) -> pcaplens.Report:
    """One merged :class:`pcaplens.Report` of the files in ``df[path_col]`` as consecutive
    pieces of one capture, merged on the driver in order of path (name rotated
    files so that this is their time order). The same report as ``pcaplens
    analyze --jobs N --json`` over the paths sorted."""
    rows = partials(df, path_col=path_col, **options).collect()
    ordered = sorted(((r["file"], bytes(r["partial"])) for r in rows), key=lambda r: r[0])
    return pcaplens.merge([p for _, p in ordered], strict=strict)
