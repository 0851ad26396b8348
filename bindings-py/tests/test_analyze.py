"""analyze() over every kind of source, streaming, options and the Report API."""

from __future__ import annotations

import io
import json
import random
import sys
import threading
import warnings
from pathlib import Path

import pytest

import pcaplens

import hashlib

from conftest import FIXTURES, corpus_captures, small_capture


def test_every_source_kind_gives_the_same_report(capture_bytes: bytes, capture_file: Path) -> None:
    expected = pcaplens.analyze(str(capture_file)).to_json()
    chunks = [capture_bytes[i : i + 7] for i in range(0, len(capture_bytes), 7)]
    sources: list[object] = [
        capture_file,  # os.PathLike
        capture_bytes,
        bytearray(capture_bytes),
        memoryview(capture_bytes),
        io.BytesIO(capture_bytes),
        iter(chunks),
        chunks,
        (bytes([b]) for b in capture_bytes),
    ]
    for source in sources:
        assert pcaplens.analyze(source).to_json() == expected, type(source)  # type: ignore[arg-type]
    with open(capture_file, "rb") as f:
        assert pcaplens.analyze(f).to_json() == expected


def test_report_counts_what_was_built(capture_bytes: bytes) -> None:
    report = pcaplens.analyze(capture_bytes)
    assert report.complete and not report.partial
    assert report.summary.packets == 12
    # 3 clients × 1 server, each a request/response conversation on UDP/53.
    assert report.summary.flows.total == 3
    assert len(report.flows) == 3
    assert {f.orig_addr for f in report.flows} == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
    assert all(f.resp_port == 53 and f.transport == "udp" for f in report.flows)
    assert report.capture.format == "pcap"
    assert report.schema_version == pcaplens.SCHEMA_VERSION


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_chunking_equals_whole_file(seed: int) -> None:
    data = small_capture(60)
    whole = pcaplens.analyze(data).to_json()
    rng = random.Random(seed)
    analyzer = pcaplens.Analyzer()
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 200)
        analyzer.feed(data[pos : pos + step])
        pos += step
    assert analyzer.bytes_fed == len(data)
    assert analyzer.finish().to_json() == whole


def test_chunked_corpus_equals_path_analysis() -> None:
    captures = corpus_captures()
    files = [p for p in captures if p.suffix == ".pcapng"][:5] + [
        p for p in captures if p.suffix == ".pcap"
    ][:5]
    assert files
    rng = random.Random(7)
    for path in files:
        data = path.read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pcaplens.PartialCaptureWarning)
            whole = _json_or_format_error(lambda: pcaplens.analyze(path))
            chunks = []
            pos = 0
            while pos < len(data):
                step = rng.randint(1, 4096)
                chunks.append(data[pos : pos + step])
                pos += step
            streamed = _json_or_format_error(lambda: pcaplens.analyze(chunks))
        assert streamed == whole, path.name


def _json_or_format_error(run: object) -> str:
    try:
        return run().to_json()  # type: ignore[operator,no-any-return]
    except pcaplens.CaptureFormatError as exc:
        return exc.report.to_json()  # type: ignore[attr-defined,no-any-return]


def test_analyzer_progress_and_finish_once(capture_bytes: bytes) -> None:
    analyzer = pcaplens.Analyzer()
    analyzer.feed(capture_bytes[:100])
    assert analyzer.packets == 0 or analyzer.packets == 1
    analyzer.feed(capture_bytes[100:])
    assert analyzer.packets == 12
    analyzer.finish()
    with pytest.raises(pcaplens.PcaplensError, match="already finished"):
        analyzer.feed(b"x")
    with pytest.raises(pcaplens.PcaplensError, match="already finished"):
        analyzer.finish()


def test_threads_analyse_concurrently(capture_bytes: bytes) -> None:
    expected = pcaplens.analyze(capture_bytes).to_json()
    results: list[str] = []

    def work() -> None:
        results.append(pcaplens.analyze([capture_bytes[:50], capture_bytes[50:]]).to_json())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


# -- options ------------------------------------------------------------------


def test_options_change_the_report(capture_bytes: bytes) -> None:
    report = pcaplens.analyze(capture_bytes, flows_limit=1, top_n=1)
    assert len(report.flows) == 1
    assert report.summary.flows.omitted_from_list == 2
    assert len(report.summary.top_talkers) == 1
    assert len(pcaplens.analyze(capture_bytes, flows_limit=None).flows) == 3


def test_unknown_option_is_an_error(capture_bytes: bytes) -> None:
    with pytest.raises(pcaplens.OptionsError, match="unknown option 'flow_limit'.*flows_limit"):
        pcaplens.analyze(capture_bytes, flow_limit=3)
    assert "flows_limit" in pcaplens.OPTION_NAMES


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_flows": 0}, "max_flows"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"top_n": -1}, "top_n must be a non-negative integer"),
        ({"flows_limit": "ten"}, "flows_limit must be a non-negative integer"),
        ({"max_instances": True}, "not a bool"),
    ],
)
def test_bad_option_values(capture_file: Path, options: dict[str, object], message: str) -> None:
    with pytest.raises(pcaplens.OptionsError, match=message):
        pcaplens.analyze(capture_file, **options)
    with pytest.raises(pcaplens.OptionsError, match=message):
        pcaplens.Analyzer(**options)


#: The core's message for an unknown key. web-demo/test/parity.test.mjs
#: asserts the same literal for the wasm front.
UNKNOWN_KEY_MESSAGE = (
    "unknown option 'detect.scan.vertical_min_portz'; expected one of: vertical_min_ports, "
    "horizontal_min_hosts, sweep_min_hosts, window_secs, max_sources, max_probes_per_source, "
    "max_listed, retire_after_secs"
)

#: sha256 of ",".join(OPTION_NAMES); web-demo/test/parity.test.mjs asserts the
#: same digest for the wasm front's optionNames(), so both accept the same keys.
OPTION_NAMES_SHA256 = "e070484f8d4f11961152ef89d46b7b2f06511df50b8745941b5cd4ec1cc65fee"


@pytest.mark.parametrize(
    "options",
    [
        {"detect": {"scan": {"vertical_min_portz": 3}}},
        {"detect.scan.vertical_min_portz": 3},
        {"detect": {"scan.vertical_min_portz": 3}},
    ],
)
def test_unknown_key_is_named_by_its_dotted_path(capture_bytes: bytes, options: dict[str, object]) -> None:
    with pytest.raises(pcaplens.OptionsError) as info:
        pcaplens.analyze(capture_bytes, **options)
    assert str(info.value) == UNKNOWN_KEY_MESSAGE
    with pytest.raises(pcaplens.OptionsError) as info:
        pcaplens.Analyzer(**options)
    assert str(info.value) == UNKNOWN_KEY_MESSAGE


def test_option_names_are_the_cores() -> None:
    names = pcaplens.OPTION_NAMES
    assert hashlib.sha256(",".join(names).encode()).hexdigest() == OPTION_NAMES_SHA256
    for name in (
        "flows_limit", "top_n", "idle_timeout", "max_flows", "top", "max_instances", "anomaly",
        "anomaly_seed", "per_packet_anomaly", "long_conn_threshold", "unusual_port_threshold",
        "detect.scan.vertical_min_ports", "detect.long_lived.min_duration_secs",
        "detect.blocklist.entries", "anomaly.trees",
    ):
        assert name in names


#: One setting, every spelling: shorthand, camelCase, nested dicts, dotted keys.
SAME_SETTINGS: list[dict[str, object]] = [
    {"long_conn_threshold": 60, "unusual_port_threshold": 20000, "top": 2},
    {"longConnThreshold": 60, "unusualPortThreshold": 20000, "top": 2},
    {"detect": {"long_lived": {"min_duration_secs": 60}, "ports": {"max_ordinary_port": 20000}}, "top_n": 2},
    {"detect.long_lived.min_duration_secs": 60, "detect.ports.maxOrdinaryPort": 20000, "top_n": 2},
]


def test_every_spelling_of_a_key_is_the_same_key() -> None:
    capture = FIXTURES / "mixed.pcap"
    reports = [pcaplens.analyze(capture, **options).to_dict() for options in SAME_SETTINGS]
    assert all(r == reports[0] for r in reports)
    default = pcaplens.analyze(capture).to_dict()
    assert default["findings"]["unusual_ports"]["total_servers"] == 1
    assert reports[0]["findings"]["unusual_ports"]["total_servers"] == 0
    assert reports[0]["findings"]["long_lived"]["threshold_secs"] == 60
    assert len(reports[0]["summary"]["top_talkers"]) <= 2


def test_nested_options_and_blocklist_entries(capture_bytes: bytes) -> None:
    report = pcaplens.analyze(
        capture_bytes, detect={"blocklist": {"entries": ["10.0.0.0/8", "example.org"]}}
    ).to_dict()
    blocklist = report["findings"]["blocklist"]
    assert blocklist["entries"] == 2 and blocklist["total_hits"] > 0
    with pytest.raises(pcaplens.OptionsError, match="bad blocklist entry '10.0.0.0/33'"):
        pcaplens.analyze(capture_bytes, detect={"blocklist": {"entries": ["10.0.0.0/33"]}})
    with pytest.raises(pcaplens.OptionsError, match="option detect.scan must be a table"):
        pcaplens.analyze(capture_bytes, detect={"scan": 3})
    with pytest.raises(pcaplens.OptionsError, match="given twice"):
        pcaplens.analyze(capture_bytes, idle_timeout=5, flow={"idle_timeout_secs": 6})


# -- Report ---------------------------------------------------------------------


def test_every_json_section_is_an_attribute(capture_bytes: bytes) -> None:
    report = pcaplens.analyze(capture_bytes)
    data = report.to_dict()
    assert data == json.loads(report.to_json())
    assert set(report.keys()) == set(data)
    for name, value in data.items():
        attr = getattr(report, name)
        plain = attr.to_dict() if isinstance(attr, pcaplens.Section) else attr
        if isinstance(plain, list):
            plain = [x.to_dict() if isinstance(x, pcaplens.Section) else x for x in plain]
        assert plain == value, name
        assert name in dir(report)
    assert report.summary["flows"]["total"] == report.summary.flows.total
    with pytest.raises(AttributeError, match="no section 'nonsense'"):
        report.nonsense
    with pytest.raises(AttributeError, match="no field 'nope'"):
        report.summary.nope


def test_to_dict_is_a_fresh_copy(capture_bytes: bytes) -> None:
    report = pcaplens.analyze(capture_bytes)
    d = report.to_dict()
    d["summary"]["packets"] = -1
    assert report.to_dict()["summary"]["packets"] == 12
    assert report.summary.packets == 12


def test_repr_and_html(capture_bytes: bytes) -> None:
    report = pcaplens.analyze(capture_bytes)
    assert repr(report) == "<pcaplens.Report 12 packets, complete>"
    page = report._repr_html_()
    assert "<table>" in page and ">12</td>" in page and "10.0.0.100" in page


def test_bad_source_type() -> None:
    with pytest.raises(TypeError, match="source must be a path"):
        pcaplens.analyze(42)  # type: ignore[arg-type]


def test_version() -> None:
    assert pcaplens.__version__.count(".") == 2


def test_html_lists_failure_totals_generically() -> None:
    # Detector sections differ per class; every non-zero `total` shows by its path.
    failures = {
        "tcp": {"resets": {"total": 3, "instances": []}, "zero_window": {"total": 0}},
        "dns": {"servfail": {"total": 2}, "by_server": {"a": {"total": 1}}},
    }
    assert pcaplens._failure_totals(failures) == [
        ("tcp.resets", 3),
        ("dns.servfail", 2),
        ("dns.by_server.a", 1),
    ]


def test_diagnosis_is_ask_offline_and_the_html_view_shows_it_with_two_charts(tmp_path: Path) -> None:
    # Issue 26: the notebook view leads with the core's ranked diagnosis (the CLI's
    # `ask --offline --no-sanitize`, item for item) and draws two inline SVG charts.
    from conftest import run_cli

    data = pcaplens.generate("mixed", packets=9000, seed=7)
    path = tmp_path / "mixed.pcap"
    path.write_bytes(data)
    report = pcaplens.analyze(path)
    diagnosis = report.diagnosis()
    offline = run_cli("ask", "--offline", "--no-sanitize", str(path))
    assert offline.returncode == 0, offline.stderr
    items = [line.split(". ", 1)[1] for line in offline.stdout.decode().splitlines() if line[:1].isdigit()]
    assert [d["summary"] for d in diagnosis["diagnoses"]] == items
    assert diagnosis["diagnoses"][0]["rule"] == "port_scan"
    assert diagnosis["coverage"]["failures_total"] > 0
    # The resets the scan provoked are part of its item (the core counts them), flow by flow.
    scan = diagnosis["diagnoses"][0]
    assert scan["explains"]["tcp.resets"] > 0
    assert set(diagnosis["explained_by"].values()) == {1}
    assert len(diagnosis["explained_by"]) >= scan["explains"]["tcp.resets"] // 2
    assert all("explains" not in d for d in diagnosis["diagnoses"][1:])

    page = report._repr_html_()
    assert f"includes {scan['explains']['tcp.resets']:,} tcp.resets" in page
    # The diagnosis comes before the tables and charts, most likely cause first.
    first = page.index("<li data-rule='port_scan'>Port scan: 10.0.0.66 probed")
    assert first < page.index("pcaplens-protocols") < page.index("top talkers")
    assert page.count("<li data-rule=") == len(items)
    assert "<q><code>shop.example.com</code></q>" in page  # wire strings quoted, markers gone
    assert "⟦" not in page
    assert page.count("<svg") == 2
    assert "class='pcaplens-protocols'" in page and "class='pcaplens-timeline'" in page
    # A small protocol keeps a visible bar (log scale), and cited frames are marked in time.
    assert "ip › tcp › ssh</text><rect" in page
    assert page.count("fill='#c62828'") >= len(items)
    # Nothing loads from anywhere: no scripts, stylesheets, images or links.
    for needle in ("<script", "<link", "<img", "src=", "href=", "http://", "https://"):
        assert needle not in page, needle


def test_html_of_a_clean_capture_says_no_cause() -> None:
    data = pcaplens.generate("normal", packets=3000, seed=5)
    report = pcaplens.analyze(data)
    assert report.diagnosis()["diagnoses"] == []
    assert "no rule found a likely cause" in report._repr_html_()
