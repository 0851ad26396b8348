"""pcaplens: packet-capture analysis (flows, failures, statistics) from Python.

The analysis runs in Rust (the ``pcaplens-core`` engine, the same one the
``pcaplens`` command line uses) with the GIL released; this package is the
idiomatic Python face of it::

    import pcaplens
    report = pcaplens.analyze("capture.pcapng")     # a path, bytes, a file object or chunks
    report.summary.packets                          # attribute access to the JSON report
    report.flows_df()                               # pandas (optional dependency)
    pyarrow.table(report.flows_table())             # Arrow, zero-copy (PyCapsule interface)

Damaged captures: :func:`analyze` returns the report of everything before the
damage with ``report.partial == True`` (and warns with
:class:`PartialCaptureWarning`); pass ``strict=True`` to raise instead. An input
that is not a capture at all always raises :class:`CaptureFormatError`.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Union, overload

from . import _native
from ._native import (
    ArrowTable,
    CaptureFormatError,
    CorruptCaptureError,
    OptionsError,
    PartialError,
    PartialOrderError,
    PcaplensError,
    TruncatedCaptureError,
)

if TYPE_CHECKING:
    import pandas
    import pyarrow

__all__ = [
    "Analyzer",
    "ArrowTable",
    "CaptureFormatError",
    "CorruptCaptureError",
    "OPTION_NAMES",
    "OptionsError",
    "PartialCaptureWarning",
    "PartialError",
    "PartialOrderError",
    "PcaplensError",
    "Report",
    "SCHEMA_VERSION",
    "Section",
    "TruncatedCaptureError",
    "analyze",
    "analyze_many",
    "FLOW_BATCH_ROWS",
    "flow_batches",
    "flows_schema",
    "merge",
    "merge_partials",
    "partial",
    "LeakAuditError",
    "SanitizeResult",
    "generate",
    "generate_with_truth",
    "sanitize",
    "scenarios",
    "__version__",
]

__version__: str = _native.__version__
#: Version of the report layout (``report.schema_version``).
SCHEMA_VERSION: int = _native.SCHEMA_VERSION
#: Names accepted as keyword options by :func:`analyze` and :class:`Analyzer`:
#: every dotted option key that holds a value, then the top-level shorthands
#: (see docs/options.md; nested dicts and camelCase spellings are accepted too).
OPTION_NAMES: tuple[str, ...] = tuple(_native.OPTION_NAMES)

#: Chunk size for file objects and memoryviews (the CLI's read size).
CHUNK_SIZE = 1 << 20

#: What :func:`analyze` accepts as a capture.
Source = Union[
    str,
    "os.PathLike[str]",
    bytes,
    bytearray,
    memoryview,
    BinaryIO,
    Iterable[Union[bytes, bytearray, memoryview]],
]


class LeakAuditError(PcaplensError):
    """The leak audit found original identifiers in a sanitised capture.

    The output must not be shared; ``result`` holds the :class:`SanitizeResult`
    with the audit's hits.
    """

    result: SanitizeResult


class PartialCaptureWarning(UserWarning):
    """A capture was cut short or damaged; the report covers everything before it."""


def _wrap(value: Any) -> Any:
    """JSON value → attribute-friendly value (dicts become :class:`Section`)."""
    if isinstance(value, dict):
        return Section(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class Section(Mapping[str, Any]):
    """A read-only part of a report: a mapping that also allows attribute access.

    ``report.summary.flows.total`` and ``report.summary["flows"]["total"]`` are
    the same value. :meth:`to_dict` returns plain dicts and lists.
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return _wrap(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return _wrap(self._data[name])
        except KeyError:
            raise AttributeError(
                f"no field {name!r} here; fields: {', '.join(self._data)}"
            ) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._data))

    def to_dict(self) -> dict[str, Any]:
        """A deep copy as plain Python dicts and lists."""
        copied: dict[str, Any] = json.loads(json.dumps(self._data))
        return copied

    def __repr__(self) -> str:
        return f"Section({self._data!r})"


def _optional_pyarrow() -> Any:
    """pyarrow when installed, else None (it only speeds DataFrames up)."""
    try:
        import pyarrow
    except ImportError:
        return None
    return pyarrow


def _dataframe(records: list[dict[str, Any]], columns: list[str] | None = None) -> pandas.DataFrame:
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "pandas is needed for DataFrames: pip install pandas "
            "(or use report.flows_table() with pyarrow/polars, or report.to_dict())"
        ) from None
    return pd.DataFrame.from_records(records, columns=columns)


class Report:
    """The result of an analysis: the same data as ``pcaplens analyze --json``.

    Every top-level section of the JSON report is an attribute (``summary``,
    ``flows``, ``failures``, ``capture``, ``status``, ``generator``, and any
    section added later); nested objects are :class:`Section` mappings with
    attribute access. :meth:`to_json` is byte-identical to the CLI's output
    (without its trailing newline).
    """

    __slots__ = ("_native", "_data")

    def __init__(self, native: _native.NativeReport) -> None:
        self._native = native
        self._data: dict[str, Any] | None = None

    def _dict(self) -> dict[str, Any]:
        if self._data is None:
            self._data = json.loads(self._native.to_json())
        return self._data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        data = self._dict()
        try:
            return _wrap(data[name])
        except KeyError:
            raise AttributeError(
                f"the report has no section {name!r}; sections: {', '.join(data)}"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return _wrap(self._dict()[key])

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._dict()))

    def keys(self) -> list[str]:
        """Names of the report's top-level sections."""
        return list(self._dict())

    @property
    def partial(self) -> bool:
        """True when damage stopped reading; everything before it is in the report."""
        return self._native.partial

    @property
    def complete(self) -> bool:
        """True when the input ended cleanly after the last record."""
        return self._native.complete

    @property
    def error(self) -> _native._CaptureError | None:
        """The capture error of a partial report as an exception (not raised), or None."""
        exc = self._native.exception()
        if exc is not None:
            exc.report = self
        return exc

    def raise_for_status(self) -> Report:
        """Raise the capture error if the report is partial; return self otherwise."""
        exc = self.error
        if exc is not None:
            raise exc
        return self

    def to_json(self) -> str:
        """Pretty JSON, byte-identical to ``pcaplens analyze --json`` minus its final newline."""
        return self._native.to_json()

    def to_dict(self) -> dict[str, Any]:
        """The whole report as plain dicts and lists (a fresh copy each call)."""
        parsed: dict[str, Any] = json.loads(self._native.to_json())
        return parsed

    def diagnosis(self) -> dict[str, Any]:
        """The core's ranked rule-based diagnosis, as ``pcaplens ask --offline --no-sanitize``.

        ``{"coverage": {...}, "text": str, "diagnoses": [{rank, rule, score, summary, endpoint,
        count, share, flows, frames, community_ids, explains?}, ...], "explained_by": {...}}``,
        most likely cause first; strings from the wire appear in ``summary`` as ``⟦wire "…"⟧``.
        ``explains`` (when present) counts the failure events that are part of the cause, by
        class (``{"tcp.resets": 57}``: resets a port scan provoked); ``explained_by`` maps the
        Community ID of each such flow to the rank of the cause it is part of.
        """
        parsed: dict[str, Any] = json.loads(self._native.diagnosis_json())
        return parsed

    # -- tables ---------------------------------------------------------------

    def flows_table(self) -> ArrowTable:
        """The listed flows as an Arrow table (``__arrow_c_stream__``).

        ``pyarrow.table(t)``, ``polars.DataFrame(t)`` or DuckDB take it without
        copying the columns, which are built in Rust.
        """
        return self._native.flows_table()

    def flows_df(self) -> pandas.DataFrame:
        """The listed flows as a pandas DataFrame (one row per flow, JSON field names).

        Built from :meth:`flows_table` through pyarrow when it is installed
        (fast), from the JSON rows otherwise (same columns and values).
        """
        table = self.flows_table()
        pyarrow = _optional_pyarrow()
        if pyarrow is None:
            return _dataframe(self._dict()["flows"], table.column_names)
        _dataframe([])  # a clear error when pandas itself is missing
        # Columnar, straight from the Rust-built Arrow buffers: no JSON round trip.
        frame: pandas.DataFrame = pyarrow.table(table).to_pandas()
        return frame

    def talkers_df(self) -> pandas.DataFrame:
        """``summary.top_talkers`` as a pandas DataFrame."""
        return _dataframe(self._dict()["summary"]["top_talkers"])

    def conversations_df(self) -> pandas.DataFrame:
        """``summary.top_conversations`` as a pandas DataFrame."""
        return _dataframe(self._dict()["summary"]["top_conversations"])

    def protocols_df(self) -> pandas.DataFrame:
        """``summary.protocol_hierarchy`` (like ``tshark -z io,phs``) as a pandas DataFrame."""
        return _dataframe(self._dict()["summary"]["protocol_hierarchy"])

    # -- display ----------------------------------------------------------------

    def __repr__(self) -> str:
        state = "partial" if self.partial else "complete"
        return f"<pcaplens.Report {self._native.packets} packets, {state}>"

    def _repr_html_(self) -> str:
        d = self._dict()
        s = d["summary"]
        e = html.escape
        rows = [
            ("packets", f"{s['packets']:,}"),
            ("bytes", f"{s['bytes']:,}"),
            ("start", s.get("start_time") or "–"),
            ("duration", f"{s['duration_secs']:.3f} s"),
            ("flows", f"{s['flows']['total']:,}"),
            ("format", d["capture"].get("format") or "–"),
        ]
        status = d["status"]
        parts = ["<div class='pcaplens-report'>", "<strong>pcaplens report</strong>"]
        if status.get("error"):
            parts.append(
                "<p style='color:#b00'>partial: " + e(status["error"]["message"]) + "</p>"
            )
        parts.append("<table>")
        parts += [f"<tr><th style='text-align:left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows]
        parts.append("</table>")
        # The same diagnosis and charts as the web page, from the same report: inline, no network.
        diagnosis = self.diagnosis()
        parts.append(_html_diagnosis(diagnosis))
        parts.append("<div style='display:flex;flex-wrap:wrap;gap:16px'>")
        parts.append(_svg_protocols(s["protocol_hierarchy"]))
        parts.append(_svg_timeline(d, diagnosis))
        parts.append("</div>")
        failures = _failure_totals(d.get("failures", {}))
        if failures:
            parts.append("<p><strong>failures</strong></p><table>")
            parts += [f"<tr><td>{e(k)}</td><td>{n:,}</td></tr>" for k, n in failures]
            parts.append("</table>")
        parts.append(_html_table("top talkers", s["top_talkers"], 10))
        parts.append(_html_table("top conversations", s["top_conversations"], 10))
        parts.append(_html_table("protocols", s["protocol_hierarchy"], 15))
        parts.append("</div>")
        return "".join(parts)


_WIRE = re.compile(r'⟦wire ("(?:[^"\\]|\\.)*")⟧')


def _wire_html(summary: str) -> str:
    """A diagnosis sentence as HTML: quoted wire strings (``⟦wire "…"⟧``) as <q> text."""
    out: list[str] = []
    last = 0
    for m in _WIRE.finditer(summary):
        out.append(html.escape(summary[last : m.start()]))
        try:
            text = json.loads(m.group(1))
        except ValueError:
            text = m.group(1)
        out.append(f"<q><code>{html.escape(str(text))}</code></q>")
        last = m.end()
    out.append(html.escape(summary[last:]))
    return "".join(out)


def _html_diagnosis(diagnosis: Mapping[str, Any]) -> str:
    items = diagnosis["diagnoses"]
    c = diagnosis["coverage"]
    if not items:
        return (
            "<p class='pcaplens-diagnosis'><strong>diagnosis</strong>: no rule found a likely cause "
            f"({c['failures_total']:,} failure events, {c['flows_total']:,} flows)</p>"
        )
    lis = []
    for it in items:
        frames = ", ".join(str(f) for f in it["frames"]) or "–"
        # Failures that are part of this cause (a scan's provoked resets), as the core counts them.
        explains = it.get("explains") or {}
        includes = (
            "<br><small>includes "
            + html.escape(" and ".join(f"{n:,} {k}" for k, n in sorted(explains.items())))
            + " it provoked: counted here, not as faults of their own</small>"
            if explains
            else ""
        )
        lis.append(
            f"<li data-rule='{html.escape(it['rule'])}'>{_wire_html(it['summary'])}"
            f"<br><small>{html.escape(it['rule'])} · {it['count']:,} events · frames {frames}"
            f" · flows {html.escape(', '.join(it['community_ids']) or '–')}</small>{includes}</li>"
        )
    return (
        "<div class='pcaplens-diagnosis'><p><strong>diagnosis</strong> "
        f"(explains {c['failures_covered']:,} of {c['failures_total']:,} failure events; "
        "most likely first)</p><ol>" + "".join(lis) + "</ol></div>"
    )


def _protocol_leaves(nodes: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Frames by innermost protocol: each node's frames no child carries, as the web page draws them."""
    out: list[tuple[str, int]] = []
    path: list[str] = []
    for i, n in enumerate(nodes):
        depth = n["depth"]
        path = path[:depth] + [n["protocol"]]
        child = 0
        for m in nodes[i + 1 :]:
            if m["depth"] <= depth:
                break
            if m["depth"] == depth + 1:
                child += m["frames"]
        own = n["frames"] - child
        if own > 0:
            label = " › ".join(path[min(1, depth) :])
            out.append((f"{label} (other)" if child else label, own))
    return sorted(out, key=lambda x: -x[1])


def _svg_protocols(nodes: list[dict[str, Any]]) -> str:
    """Leaf protocols as bars on a log scale, so a 20-frame protocol stays visible next to 8,000."""
    leaves = _protocol_leaves(nodes)[:12]
    if not leaves:
        return ""
    total = nodes[0]["frames"] or 1
    top = math.log10(max(f for _, f in leaves) + 1)
    w, row, label_w = 420, 18, 170
    bars = []
    for i, (label, frames) in enumerate(leaves):
        y = i * row
        width = max(2.0, (w - label_w - 60) * math.log10(frames + 1) / top)
        bars.append(
            f"<text x='{label_w - 6}' y='{y + 13}' text-anchor='end' font-size='11'>{html.escape(label)}</text>"
            f"<rect x='{label_w}' y='{y + 3}' width='{width:.1f}' height='{row - 6}' fill='#2f6fde'>"
            f"<title>{html.escape(label)}: {frames:,} frames</title></rect>"
            f"<text x='{label_w + width + 4:.1f}' y='{y + 13}' font-size='10'>{100 * frames / total:.1f}%</text>"
        )
    h = row * len(leaves)
    return (
        f"<figure style='margin:0'><figcaption><strong>protocols</strong> (frames, log scale)</figcaption>"
        f"<svg class='pcaplens-protocols' role='img' aria-label='frames by protocol' width='{w}' height='{h}' "
        f"viewBox='0 0 {w} {h}' fill='currentColor'>{''.join(bars)}</svg></figure>"
    )


def _evidence_times(value: Any, out: dict[int, float]) -> None:
    """Frame number → timestamp from every piece of evidence in a report section."""
    if isinstance(value, list):
        for x in value:
            _evidence_times(x, out)
    elif isinstance(value, dict):
        if isinstance(value.get("frame"), int) and isinstance(value.get("ts"), (int, float)):
            out.setdefault(value["frame"], float(value["ts"]))
        for x in value.values():
            if isinstance(x, (dict, list)):
                _evidence_times(x, out)


def _svg_timeline(d: Mapping[str, Any], diagnosis: Mapping[str, Any]) -> str:
    """Packets over time, with the frames the diagnosis cites marked (▲ at their times)."""
    s = d["summary"]
    buckets = s.get("timeline") or []
    if not buckets:
        return ""
    start = float(s.get("start_ts") or buckets[0]["t"])
    span = max(float(s.get("duration_secs") or 0.0), 1e-6)
    w, h, pad = 420, 150, 24
    peak = int(max(b["packets"] for b in buckets)) or 1

    def x(t: float) -> float:
        return pad + (w - 2 * pad) * min(max((t - start) / span, 0.0), 1.0)

    def y(v: float) -> float:
        return h - pad - (h - 2 * pad) * v / peak
    line = " ".join(f"{x(b['t']):.1f},{y(b['packets']):.1f}" for b in buckets)
    times: dict[int, float] = {}
    _evidence_times(d.get("failures"), times)
    _evidence_times(d.get("findings"), times)
    marks = []
    for it in diagnosis["diagnoses"]:
        for f in it["frames"]:
            if f in times:
                mx = x(times[f])
                marks.append(
                    f"<path d='M{mx:.1f},{h - pad} l-4,8 h8 z' fill='#c62828'>"
                    f"<title>#{it['rank']} {html.escape(it['rule'])}: frame {f}, +{times[f] - start:.3f} s</title></path>"
                )
    return (
        f"<figure style='margin:0'><figcaption><strong>packets over time</strong> "
        f"({span:,.1f} s; ▲ frames the diagnosis cites)</figcaption>"
        f"<svg class='pcaplens-timeline' role='img' aria-label='packets over time' width='{w}' height='{h}' "
        f"viewBox='0 0 {w} {h}'><polyline fill='none' stroke='#2f6fde' stroke-width='1.5' points='{line}'/>"
        f"<line x1='{pad}' y1='{h - pad}' x2='{w - pad}' y2='{h - pad}' stroke='#888'/>"
        f"<text x='{pad}' y='{h - 4}' font-size='10' fill='currentColor'>+0 s</text>"
        f"<text x='{w - pad}' y='{h - 4}' font-size='10' text-anchor='end' fill='currentColor'>+{span:,.1f} s</text>"
        f"<text x='{pad}' y='12' font-size='10' fill='currentColor'>{peak:,} packets</text>"
        f"{''.join(marks)}</svg></figure>"
    )


def _failure_totals(failures: Mapping[str, Any], prefix: str = "") -> list[tuple[str, int]]:
    """Non-zero ``count``/``total`` leaves of the failures section, by dotted path."""
    out: list[tuple[str, int]] = []
    for key, value in failures.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            count = value.get("count", value.get("total"))
            if isinstance(count, int) and not isinstance(count, bool):
                if count:
                    out.append((path, count))
            else:
                out += _failure_totals(value, path + ".")
    return out


def _html_table(title: str, rows: list[dict[str, Any]], limit: int) -> str:
    if not rows:
        return ""
    e = html.escape
    cols = list(rows[0])
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{e(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows[:limit]
    )
    return f"<p><strong>{e(title)}</strong></p><table><tr>{head}</tr>{body}</table>"


def _checked(native: _native.NativeReport, strict: bool) -> Report:
    """The one place where a report's capture error becomes a raise or a warning."""
    report = Report(native)
    exc = report.error
    if exc is not None:
        if strict or isinstance(exc, CaptureFormatError):
            raise exc
        warnings.warn(str(exc), PartialCaptureWarning, stacklevel=3)
    return report


class Analyzer:
    """Streaming analysis: :meth:`feed` chunks as they arrive, then :meth:`finish`.

    Chunk boundaries do not matter: feeding a capture whole, byte by byte or in
    random pieces gives the same report. The GIL is released while Rust works.

    Keyword options are those of :func:`analyze`. With ``strict=True``,
    :meth:`feed` raises as soon as the capture turns out damaged; otherwise the
    error is recorded and :meth:`finish` returns a partial report (with a
    :class:`PartialCaptureWarning`). Input that is not a capture raises
    :class:`CaptureFormatError` either way.
    """

    __slots__ = ("_native", "_strict")

    def __init__(self, *, strict: bool = False, **options: Any) -> None:
        self._native = _native.Analyzer(options)
        self._strict = strict

    def feed(self, chunk: bytes | bytearray | memoryview) -> None:
        """Analyse the next bytes of the capture (any size)."""
        for piece in _chunks(chunk) if isinstance(chunk, memoryview) else (chunk,):
            self._native.feed(piece)
        exc = self._native.error
        if exc is not None and (self._strict or isinstance(exc, CaptureFormatError)):
            raise exc

    @property
    def packets(self) -> int:
        """Packets analysed so far."""
        return self._native.packets

    @property
    def bytes_fed(self) -> int:
        """Bytes fed so far."""
        return self._native.bytes_fed

    def finish(self) -> Report:
        """End of input: finish all flows and return the :class:`Report`."""
        return _checked(self._native.finish(), self._strict)


def analyze(source: Source, *, strict: bool = False, **options: Any) -> Report:
    """Analyse a pcap or pcapng capture and return its :class:`Report`.

    ``source`` is a path (``str`` or ``os.PathLike``; streamed from disk in Rust
    with bounded memory, on two threads for a file over 1 MiB when there are
    two cores;
    ``PCAPLENS_READ_THREADS=1`` or ``2`` and ``PCAPLENS_FLOW_THREAD=reading``
    or ``analysis`` decide instead, with the same report), ``bytes``/
    ``bytearray``/``memoryview`` holding a whole
    capture, a binary file object (read in 1 MiB chunks), or an iterable of byte
    chunks.

    Options (all optional) are the core's analysis options, the same keys as
    ``pcaplens analyze --config FILE`` and the wasm options object
    (``pcaplens config --print-defaults`` and docs/options.md list every key,
    its default and meaning): nested (``detect={"scan": {"window_secs": 60}}``),
    dotted (``**{"detect.scan.window_secs": 60}``) or a shorthand:
    ``idle_timeout`` (seconds, 600), ``max_flows`` (200000), ``flows_limit``
    (10000; ``None`` lists every flow), ``top_n`` (10), ``max_instances`` (20),
    ``anomaly`` (True), ``anomaly_seed`` (fixed default), ``per_packet_anomaly``
    (False), ``long_conn_threshold`` (seconds, 3600), ``unusual_port_threshold``
    (1024). :data:`OPTION_NAMES` lists every name. An unknown option or a bad
    value raises :class:`OptionsError`, with the same message as the wasm front.

    A damaged capture gives a partial report (``report.partial``) and a
    :class:`PartialCaptureWarning`, or raises with ``strict=True``
    (:class:`TruncatedCaptureError`, :class:`CorruptCaptureError`; the partial
    report is the exception's ``report`` attribute). Input that is not a capture
    raises :class:`CaptureFormatError` (also with ``report``). A missing file
    raises ``FileNotFoundError``.
    """
    if isinstance(source, (str, os.PathLike)):
        return _checked(_native.analyze_path(os.fspath(source), options), strict)
    native = _native.Analyzer(options)
    for chunk in _chunks(source):
        native.feed(chunk)
        if native.error is not None:
            # The report will carry the error; reading further cannot help.
            break
    return _checked(native.finish(), strict)


@overload
def analyze_many(
    paths: Iterable[str | os.PathLike[str]],
    *,
    jobs: int | None = None,
    independent: Literal[True] = True,
    strict: bool = False,
    **options: Any,
) -> list[Report]: ...


@overload
def analyze_many(
    paths: Iterable[str | os.PathLike[str]],
    *,
    jobs: int | None = None,
    independent: Literal[False],
    strict: bool = False,
    **options: Any,
) -> Report: ...


def analyze_many(
    paths: Iterable[str | os.PathLike[str]],
    *,
    jobs: int | None = None,
    independent: bool = True,
    strict: bool = False,
    **options: Any,
) -> list[Report] | Report:
    """Analyse many capture files on ``jobs`` threads (default: the CPU count)
    in Rust, with the GIL released.

    ``independent=True`` (the default): one :class:`Report` per file in the
    order given, each the same report as ``analyze(path)``.

    ``independent=False``: ONE merged report of the files as consecutive
    pieces of one capture (a single file is cut at record boundaries into
    ``jobs`` pieces), byte-identical to ``pcaplens analyze --jobs N --json
    PATHS…``. Its ``merge.not_mergeable`` names the sections a merge leaves
    empty (flows, failures, findings, anomalies, …; docs/scale.md); every
    other field is the whole capture's. Files out of time order raise
    :class:`PartialOrderError`.

    Options and ``strict`` are as for :func:`analyze`; the first file (in
    the order given) that cannot be read raises.
    """
    names = [os.fspath(p) for p in paths]
    n = jobs if jobs is not None else (os.cpu_count() or 1)
    if not independent:
        return _checked(_native.analyze_merged(names, n, options), strict)
    return [_checked(r, strict) for r in _native.analyze_many(names, n, options)]


def partial(source: str | os.PathLike[str] | bytes | bytearray, **options: Any) -> bytes:
    """The mergeable partial result of one capture (a path, or the whole capture as bytes).

    A versioned binary value (docs/scale.md) that can travel between
    processes and machines; :func:`merge` joins the partials of consecutive
    captures (rotated files, in time order) into one report. It is what
    ``pcaplens analyze --jobs`` computes per piece: the detectors and the
    anomaly scoring are off, since a merge leaves their sections empty.
    Options are those of :func:`analyze`. A damaged capture gives a partial
    that carries its error (the merged report is then partial); a missing
    file raises ``FileNotFoundError``.
    """
    if isinstance(source, (bytes, bytearray)):
        return _native.partial_bytes(bytes(source), options)
    if isinstance(source, (str, os.PathLike)):
        return _native.partial_path(os.fspath(source), options)
    raise TypeError(f"partial: source must be a path or bytes, not {type(source).__name__}")


def merge(partials: Sequence[bytes | bytearray], *, strict: bool = False) -> Report:
    """One :class:`Report` from the :func:`partial` values of consecutive captures, in capture order.

    A left fold of the core's merge (associative, the empty value its
    identity) followed by its ``finish``: the same report as ``analyze_many(
    paths, independent=False)`` over the same files. A value that is not a
    partial, is damaged or of another format version raises
    :class:`PartialError`; one that cannot follow the values before it
    (pieces out of order) raises :class:`PartialOrderError`; both name the
    item (``partials[3]``). ``strict`` is as for :func:`analyze`.
    """
    items = []
    for i, p in enumerate(partials):
        if not isinstance(p, (bytes, bytearray)):
            raise TypeError(f"merge: partials[{i}] is {type(p).__name__}, not bytes")
        items.append(bytes(p))
    return _checked(_native.merge_partials(items), strict)


def merge_partials(partials: Sequence[bytes | bytearray]) -> bytes:
    """The :func:`partial` values of consecutive captures merged into one partial value.

    What :func:`merge` computes before it makes the report: merging is
    associative, so partials can be merged in any grouping (a tree across a
    cluster) as long as their order is kept. Errors as for :func:`merge`.
    """
    return _native.merge_partials_bytes([bytes(p) for p in partials])


#: Rows per record batch of :func:`flow_batches` by default.
FLOW_BATCH_ROWS = 65536


def flow_batches(
    source: Source,
    *,
    batch_rows: int = FLOW_BATCH_ROWS,
    strict: bool = False,
    **options: Any,
) -> Iterator[pyarrow.RecordBatch]:
    """The flows of one capture as ``pyarrow.RecordBatch`` es of at most ``batch_rows`` rows.

    The columns of :meth:`Report.flows_table` with types Spark's
    ``mapInArrow`` and Ray Data both accept: unsigned counters become the next
    wider signed type (``int64``, ports ``int32``, ICMP type/code ``int16``);
    ``first_ts`` and ``last_ts`` are ``timestamp[us, tz=UTC]`` (the JSON's
    float seconds, which are whole microseconds). The capture is analysed
    first (``source`` and options as for :func:`analyze`; ``flows_limit``
    caps the rows as it caps the report's list, ``flows_limit=None`` gives
    every flow). Needs pyarrow.
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    try:
        import pyarrow as pa
    except ImportError:
        raise ImportError("flow_batches needs pyarrow: pip install pyarrow") from None
    report = analyze(source, strict=strict, **options)
    table = pa.table(report._native.flows_table(True, batch_rows))
    yield from table.to_batches()


def flows_schema() -> pyarrow.Schema:
    """The Arrow schema of :func:`flow_batches` (also when a capture has no flow)."""
    import pyarrow as pa

    empty = _native.Analyzer(None).finish()
    schema: pyarrow.Schema = pa.table(empty.flows_table(True)).schema
    return schema


def _chunks(source: object) -> Iterator[bytes | bytearray]:
    """The byte chunks of an in-memory, file-like or iterable source."""
    if isinstance(source, (bytes, bytearray)):
        yield source
    elif isinstance(source, memoryview):
        flat = source.cast("B")
        for start in range(0, flat.nbytes, CHUNK_SIZE):
            yield flat[start : start + CHUNK_SIZE].tobytes()
    elif hasattr(source, "read"):
        while True:
            data = source.read(CHUNK_SIZE)
            if not data:
                break
            yield data
    elif isinstance(source, Iterable):
        for chunk in source:
            yield from _chunks(chunk) if isinstance(chunk, memoryview) else (chunk,)
    else:
        raise TypeError(
            "source must be a path, bytes, a binary file object or an iterable of "
            f"byte chunks, not {type(source).__name__}"
        )


def generate(scenario: str, *, packets: int = 2000, seed: int = 1, flows: int | None = None) -> bytes:
    """A synthetic pcap for a test scenario, byte-identical for the same arguments.

    ``scenario`` is one of :func:`scenarios` (``"normal"``, ``"tcp-resets"``,
    ``"dns-failures"``, …); ``packets`` is the approximate packet count;
    ``flows`` fixes the number of background flows (default: grows with
    ``packets``). Same generator as ``pcaplens generate``. Bad arguments raise
    :class:`OptionsError`.
    """
    return _native.generate(scenario, packets, seed, flows)[0]


def generate_with_truth(
    scenario: str, *, packets: int = 2000, seed: int = 1, flows: int | None = None
) -> tuple[bytes, dict[str, Any]]:
    """Like :func:`generate`, also returning what was injected (exact counts) as a dict."""
    data, truth = _native.generate(scenario, packets, seed, flows)
    parsed: dict[str, Any] = json.loads(truth)
    return data, parsed


def scenarios() -> list[str]:
    """Names of the scenarios :func:`generate` knows."""
    return _native.scenarios()


# -- sanitize -----------------------------------------------------------------


class SanitizeResult(Section):
    """What :func:`sanitize` did: ``sanitize`` (counters, distinct identifiers,
    policy, error) and ``audit`` (the leak audit of the output: ``passed``,
    ``hits``, ``patterns``, ``frames_checked``, …)."""

    __slots__ = ()

    @property
    def passed(self) -> bool:
        """True when the audit found no original identifier in the output."""
        return bool(self._data["audit"]["passed"])


def _key_bytes(key: bytes | bytearray | str) -> bytes:
    if isinstance(key, str):
        try:
            return bytes.fromhex(key)
        except ValueError:
            raise OptionsError("a str key must be hex digits (or pass the key as bytes)") from None
    if isinstance(key, (bytes, bytearray)):
        return bytes(key)
    raise OptionsError(f"key must be bytes or a hex str, not {type(key).__name__}")


def sanitize(
    source: Source,
    dest: str | os.PathLike[str] | BinaryIO,
    *,
    key: bytes | bytearray | str,
    strict: bool = False,
    **policy: Any,
) -> SanitizeResult:
    """Write a sanitised copy of a capture to ``dest`` and audit it for leaks.

    Addresses (Crypto-PAn, prefix-preserving), MACs, names and secrets are
    replaced with keyed pseudonyms, lengths kept and checksums recomputed; the
    output is then re-read and searched for every original identifier (the
    same steps as ``pcaplens sanitize``). The same key gives the same
    pseudonyms, so sanitised captures of one network stay joinable.

    ``source`` is anything :func:`analyze` accepts; ``dest`` a path or a
    writable binary file object (which must also be readable and seekable, e.g.
    ``open(p, "w+b")`` or ``io.BytesIO()``, for the audit). ``key``: at least 16
    bytes (or hex text). Policy options: ``payload`` (``"redact"`` (default),
    ``"keep"`` or ``"truncate"``: what happens to payload no parser
    understands), ``keep_special_ranges`` (keep private/loopback/multicast
    prefixes recognisable), ``time_shift`` (shift all timestamps by one keyed
    offset); others raise :class:`OptionsError`.

    With paths for both, the capture is read a second time when that keeps
    more: a QUIC ClientHello spread over several Initial packets is only
    placed once its last piece is seen, so the first pass zeroes the earlier
    packets and the second rewrites them (a stream is read once).

    Raises :class:`LeakAuditError` when the audit finds an original in the
    output, :class:`CaptureFormatError` when the input is not a capture. A
    damaged capture is sanitised up to the damage (warning, or raise with
    ``strict=True``).
    """
    key = _key_bytes(key)
    if isinstance(source, (str, os.PathLike)) and isinstance(dest, (str, os.PathLike)):
        doc = json.loads(_native.sanitize_path(os.fspath(source), os.fspath(dest), key, policy))
    else:
        doc = _sanitize_stream(source, dest, key, policy)
    result = SanitizeResult(doc)
    error = doc["sanitize"].get("error")
    if error is not None:
        exc = _native.capture_error_from_parts(
            error["code"], error["message"], error["offset"], error["next_frame"]
        )
        if doc["sanitize"].get("format") is None:
            if isinstance(dest, (str, os.PathLike)):
                try:
                    os.remove(dest)
                except OSError:
                    pass
            raise exc
        if strict:
            raise exc
        warnings.warn(str(exc), PartialCaptureWarning, stacklevel=2)
    if not result.passed:
        leak = LeakAuditError(
            f"leak audit failed: original identifiers found in the output: "
            f"{doc['audit'].get('hits_by_form')}; do not share it"
        )
        leak.result = result
        raise leak
    return result


def _sanitize_stream(
    source: object, dest: str | os.PathLike[str] | BinaryIO, key: bytes, policy: dict[str, Any]
) -> dict[str, Any]:
    sanitizer = _native.Sanitizer(key, policy)
    if isinstance(dest, (str, os.PathLike)):
        with open(dest, "w+b") as out:
            return _sanitize_into(sanitizer, source, out)
    return _sanitize_into(sanitizer, source, dest)


def _sanitize_into(sanitizer: _native.Sanitizer, source: object, out: BinaryIO) -> dict[str, Any]:
    try:
        start = out.tell()
    except (OSError, AttributeError):
        start = None
    for chunk in _chunks(source):
        out.write(sanitizer.feed(chunk))
        if sanitizer.failed:
            break
    summary = json.loads(sanitizer.finish())
    if start is None or not out.seekable() or not out.readable():
        raise ValueError(
            "sanitize needs a path or a readable, seekable binary file as dest, to audit the output"
        )
    out.flush()
    end = out.tell()
    out.seek(start)
    audit = sanitizer.audit()
    remaining = end - start
    while remaining > 0:
        data = out.read(min(CHUNK_SIZE, remaining))
        if not data:
            break
        audit.feed(data)
        remaining -= len(data)
    out.seek(end)
    return {"sanitize": summary, "audit": json.loads(audit.finish())}


# --- flow classification (issue 20) ------------------------------------------
# Kept in its own block: the same pipeline as `pcaplens classify` (native-io),
# run with the GIL released; this wrapper only maps keywords and errors.

__all__ += ["CLASSIFY_OPTION_NAMES", "classify"]

#: Keywords of :func:`classify` that stand for ``classify.*`` option keys
#: (the CLI's flag names: ``flow_timeout`` is ``classify.flow_timeout_secs``,
#: ``max_cost`` is ``classify.max_cost_usd``).
CLASSIFY_OPTION_NAMES: tuple[str, ...] = tuple(_native.CLASSIFY_OPTION_NAMES)

_CLASSIFY_KEYS = {"flow_timeout": "flow_timeout_secs", "max_cost": "max_cost_usd"}

ClassifySource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


def classify(
    source: ClassifySource | list[ClassifySource],
    *,
    model: str | None = None,
    rules: bool = False,
    key: bytes | str | None = None,
    drop_when_busy: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Classify every flow of one or more captures: the report of ``pcaplens classify --json``.

    Each flow's payload is reassembled, sanitized (keyed pseudonyms, secrets
    replaced) and judged by the model configured in the environment or
    ``.env`` exactly as for the CLI (``AZURE_OPENAI_ENDPOINT`` +
    ``AZURE_OPENAI_API_KEY`` + ``AZURE_OPENAI_DEPLOYMENT``, or
    ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY`` / ``OPENAI_MODEL``); with none
    configured, or ``rules=True``, by the rule-based classifier
    (``stats.classifier`` says which).

    ``source``: a path, capture bytes, or a list of them. Keywords: the CLI's
    flags (``flow_max_bytes``, ``flow_timeout``, ``flow_max_flows``,
    ``confidence_threshold``, ``cache_size``, ``workers``, ``queue_size``,
    ``max_requests_per_minute``, ``max_cost``, ``structured_output``,
    ``leak_guard_max_originals``; see :data:`CLASSIFY_OPTION_NAMES`), and any
    other option key (``classify={"workers": 2}``,
    ``**{"classify.cache_size": 0}``). ``model``: the model or Azure
    deployment; ``key``: the pseudonym key (32 bytes or 64 hex digits; default
    a fresh one); ``drop_when_busy``: drop flows when the queue is full (as
    live capture does) instead of waiting.

    Raises :class:`OptionsError` for a bad option (or an endpoint configured
    but incomplete), ``OSError`` when a file cannot be read, a capture error
    when an input is not a capture; a capture cut short warns
    (:class:`PartialCaptureWarning`) and its flows are still classified.
    """
    items = list(source) if isinstance(source, list) else [source]
    sources: list[str | bytes] = []
    names: list[str] = []
    for item in items:
        if isinstance(item, (bytes, bytearray, memoryview)):
            sources.append(bytes(item))
            names.append("<bytes>")
        else:
            path = os.fspath(item)
            if not isinstance(path, str):
                raise TypeError("classify: a path must be str or os.PathLike[str]")
            sources.append(path)
            names.append(path)
    opts: dict[str, Any] = {}
    for name, value in options.items():
        if name in CLASSIFY_OPTION_NAMES:
            if value is not None:
                opts["classify." + _CLASSIFY_KEYS.get(name, name)] = value
        else:
            opts[name] = value
    raw_key = key.encode() if isinstance(key, str) else key
    text, errors = _native.classify_inputs(
        sources, names, opts, model, rules, raw_key, drop_when_busy
    )
    for index, any_frames, exc in errors:
        if not any_frames:
            raise exc
        warnings.warn(f"{names[index]}: {exc}", PartialCaptureWarning, stacklevel=2)
    result: dict[str, Any] = json.loads(text)
    return result
