"""pcaplens on Ray Data (``pip install "pcaplens[ray]"``; docs/scale.md).

::

    import pcaplens.ray
    flows = pcaplens.ray.read_pcaps(paths)        # ray.data.Dataset, one row per flow
    report = pcaplens.ray.summary(paths)          # one merged pcaplens.Report

:func:`read_pcaps` is a datasource whose read tasks analyse one file at a
time in Rust (memory bounded by one file's flows) and yield Arrow tables.
:func:`summary` computes each file's :func:`pcaplens.partial` in a Ray task
and merges them with :class:`MergePartials`, an aggregate that keeps runs of
consecutive files merged as soon as they meet, so the result is the merge in
the order of ``paths`` whichever way Ray combines blocks.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import ray.data
from ray.data.aggregate import AggregateFnV2
from ray.data.block import BlockAccessor, BlockMetadata
from ray.data.datasource import Datasource, ReadTask

import pcaplens

__all__ = ["MergePartials", "PcapDatasource", "partials", "read_pcaps", "summary"]

#: Name of the file column of :func:`read_pcaps` rows (the path as given).
FILE_COLUMN = "file"


def _flows_schema() -> pa.Schema:
    return pcaplens.flows_schema().insert(0, pa.field(FILE_COLUMN, pa.string(), nullable=False))


def _with_file(batch: pa.RecordBatch, path: str) -> pa.Table:
    table = pa.Table.from_batches([batch])
    files = pa.array([path] * batch.num_rows, pa.string())
    return table.add_column(0, pa.field(FILE_COLUMN, pa.string(), nullable=False), files)


def _read_files(paths: list[str], options: dict[str, Any], batch_rows: int) -> Iterator[pa.Table]:
    for path in paths:
        for batch in pcaplens.flow_batches(path, batch_rows=batch_rows, **options):
            yield _with_file(batch, path)


class PcapDatasource(Datasource):
    """Flow rows of capture files: each read task analyses its files one after another.

    Blocks are ``pa.Table`` s of at most ``batch_rows`` rows with the columns
    of :func:`pcaplens.flow_batches` and ``file`` first.
    """

    def __init__(
        self, paths: Sequence[str | os.PathLike[str]], options: dict[str, Any], batch_rows: int
    ) -> None:
        self._paths = [os.fspath(p) for p in paths]
        self._options = dict(options)
        self._batch_rows = batch_rows

    def estimate_inmemory_data_size(self) -> int | None:
        # Flow rows are a small fraction of the capture; the file size bounds them.
        return sum(os.path.getsize(p) for p in self._paths if os.path.exists(p)) or None

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        n = max(1, min(parallelism, len(self._paths)))
        # Contiguous groups keep each task's files in the order given.
        k = len(self._paths)
        groups = [self._paths[i * k // n : (i + 1) * k // n] for i in range(n)]
        schema = _flows_schema()
        tasks = []
        for group in groups:
            if not group:
                continue
            meta = BlockMetadata(
                num_rows=None,
                size_bytes=None,
                input_files=tuple(group),
                exec_stats=None,
            )
            tasks.append(
                ReadTask(
                    functools.partial(_read_files, group, self._options, self._batch_rows),
                    meta,
                    schema=schema,
                )
            )
        return tasks


def read_pcaps(
    paths: Iterable[str | os.PathLike[str]],
    *,
    batch_rows: int = pcaplens.FLOW_BATCH_ROWS,
    override_num_blocks: int | None = None,
    **options: Any,
) -> ray.data.Dataset:
    """A ``ray.data.Dataset`` of the flows of every capture, one row per flow.

    Rows are :func:`pcaplens.flow_batches` rows with a ``file`` column (the
    path as given) first: each file analysed alone, so a flow id is unique
    within its file. Options are :func:`pcaplens.analyze`'s; every flow is
    listed unless ``flows_limit`` says otherwise. Workers import
    ``pcaplens``: install the package on every node.
    """
    opts = {"flows_limit": None, **options}
    source = PcapDatasource(list(paths), opts, batch_rows)
    ds: ray.data.Dataset = ray.data.read_datasource(source, override_num_blocks=override_num_blocks)
    return ds


# -- merged summary -------------------------------------------------------------

# A state is runs of consecutive files, each already merged: (first index,
# last index, partial bytes), in a flat binary value so Ray keeps it in an
# Arrow binary column like any other value.
_RUN = struct.Struct("<QQQ")


def _encode(runs: list[tuple[int, int, bytes]]) -> bytes:
    return b"".join(_RUN.pack(a, b, len(p)) + p for a, b, p in runs)


def _decode(state: bytes) -> list[tuple[int, int, bytes]]:
    runs = []
    off = 0
    while off < len(state):
        a, b, n = _RUN.unpack_from(state, off)
        off += _RUN.size
        runs.append((a, b, bytes(state[off : off + n])))
        off += n
    return runs


def _merge_two(a: bytes, b: bytes) -> bytes:
    """Two partials of adjacent runs as one, by the core's merge."""
    return pcaplens.merge_partials([a, b])


def _combine(x: bytes, y: bytes) -> bytes:
    runs = sorted(_decode(x) + _decode(y), key=lambda r: r[0])
    out: list[tuple[int, int, bytes]] = []
    for first, last, p in runs:
        if out and out[-1][1] + 1 == first:
            f0, _, p0 = out[-1]
            out[-1] = (f0, last, _merge_two(p0, p))
        elif out and first <= out[-1][1]:
            raise pcaplens.PartialOrderError(f"file {first} was counted twice")
        else:
            out.append((first, last, p))
    return _encode(out)


class MergePartials(AggregateFnV2[bytes, bytes]):
    """Merges the ``summary`` column of :func:`partials` rows into one partial (bytes).

    Runs of consecutive files are merged as soon as both ends are known, so
    the state stays small and the result is the merge in file order
    whichever blocks Ray combines first. The result is ``pcaplens.partial``
    bytes: ``pcaplens.merge([result])`` gives the report.
    """

    def __init__(self, on: str = "summary", alias_name: str | None = None) -> None:
        super().__init__(
            alias_name or f"merge_partials({on})",
            zero_factory=lambda: b"",
            on=on,
            ignore_nulls=False,
        )

    def aggregate_block(self, block: Any) -> bytes:
        col = BlockAccessor.for_block(block).to_arrow().column(self.get_target_column())
        state = b""
        for value in col.to_pylist():
            state = _combine(state, value)
        return state

    def combine(self, current_accumulator: bytes, new: bytes) -> bytes:
        return _combine(current_accumulator, new)

    def finalize(self, accumulator: bytes) -> bytes:  # type: ignore[override]
        runs = _decode(accumulator)
        if len(runs) != 1 or runs[0][0] != 0:
            have = ", ".join(f"{a}-{b}" for a, b, _ in runs) or "none"
            raise pcaplens.PartialError(f"merge_partials: files missing (have runs {have})")
        return runs[0][2]


def partials(
    paths: Sequence[str | os.PathLike[str]], *, override_num_blocks: int | None = None, **options: Any
) -> ray.data.Dataset:
    """A dataset with one row per file: ``index`` (position in ``paths``),
    ``file`` and ``summary`` (its :func:`pcaplens.partial`, as a
    :class:`MergePartials` state), computed in Ray tasks."""
    names = [os.fspath(p) for p in paths]
    rows = [{"index": i, "file": p} for i, p in enumerate(names)]
    opts = dict(options)

    def one(row: dict[str, Any]) -> dict[str, Any]:
        part = pcaplens.partial(row["file"], **opts)
        i = int(row["index"])
        return {"index": i, "file": row["file"], "summary": _encode([(i, i, part)])}

    ds = ray.data.from_items(rows, override_num_blocks=override_num_blocks or min(len(rows), 200) or 1)
    return ds.map(one)


def summary(
    paths: Sequence[str | os.PathLike[str]],
    *,
    strict: bool = False,
    override_num_blocks: int | None = None,
    **options: Any,
) -> pcaplens.Report:
    """One merged :class:`pcaplens.Report` of the files as consecutive pieces of one
    capture, in the order given: the same report as ``pcaplens analyze --jobs N
    --json PATHS…`` (``merge.not_mergeable`` names what a merge leaves empty)."""
    if not paths:
        return pcaplens.merge([], strict=strict)
    ds = partials(paths, override_num_blocks=override_num_blocks, **options)
    agg = MergePartials(on="summary", alias_name="merged")
    merged = ds.aggregate(agg)["merged"]
    return pcaplens.merge([merged], strict=strict)
