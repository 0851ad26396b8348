"""Report.to_json() is byte-identical to `pcaplens analyze --json` for every capture."""

from __future__ import annotations

from pathlib import Path

import pytest

import pcaplens

from conftest import FIXTURES, parity_captures, run_cli, small_capture

CAPTURES = parity_captures()


def python_json(path: Path, **options: object) -> str:
    try:
        return pcaplens.analyze(path, **options).to_json()
    except pcaplens.CaptureFormatError as exc:
        # Not a capture at all: the CLI still prints the (empty) report, and the
        # exception carries the same report.
        report: pcaplens.Report = exc.report  # type: ignore[attr-defined]
        return report.to_json()


def test_parity_has_captures() -> None:
    # A parity suite over nothing would pass vacuously.
    assert CAPTURES, "no fixtures and no corpus captures found"


@pytest.mark.filterwarnings("ignore::pcaplens.PartialCaptureWarning")
@pytest.mark.parametrize("path", CAPTURES, ids=[p.name for p in CAPTURES])
def test_to_json_matches_cli(path: Path) -> None:
    cli = run_cli("analyze", "--json", "--no-progress", str(path))
    assert cli.stdout, f"CLI printed nothing for {path.name}: {cli.stderr!r}"
    ours = (python_json(path) + "\n").encode()
    assert ours == cli.stdout


@pytest.mark.filterwarnings("ignore::pcaplens.PartialCaptureWarning")
@pytest.mark.parametrize("path", CAPTURES[:8], ids=[p.name for p in CAPTURES[:8]])
def test_to_json_matches_cli_with_options(path: Path) -> None:
    cli = run_cli(
        "analyze", "--json", "--no-progress", "--flows-limit", "2", "--top", "3",
        "--idle-timeout", "5", "--max-flows", "4", str(path),
    )
    ours = python_json(path, flows_limit=2, top_n=3, idle_timeout=5, max_flows=4)
    assert (ours + "\n").encode() == cli.stdout


def test_parity_on_hand_built_capture(tmp_path: Path) -> None:
    path = tmp_path / "hand.pcap"
    path.write_bytes(small_capture(40))
    cli = run_cli("analyze", "--json", str(path))
    assert cli.returncode == 0, cli.stderr
    report = pcaplens.analyze(path)
    assert report.summary.packets == 40
    assert (report.to_json() + "\n").encode() == cli.stdout


@pytest.mark.parametrize(
    ("threads", "flows"), [("1", "reading"), ("2", "reading"), ("2", "analysis")]
)
def test_every_way_of_reading_a_file_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: str, flows: str
) -> None:
    # Several read chunks long; analyze(path) reads on one thread or two, with
    # the flow table on either, as the machine's cores suggest;
    # PCAPLENS_READ_THREADS and PCAPLENS_FLOW_THREAD fix the choice.
    data = pcaplens.generate("normal", packets=20000, seed=3)
    assert len(data) > 4 * (256 << 10)
    path = tmp_path / "big.pcap"
    path.write_bytes(data)
    monkeypatch.setenv("PCAPLENS_READ_THREADS", threads)
    monkeypatch.setenv("PCAPLENS_FLOW_THREAD", flows)
    ours = pcaplens.analyze(path).to_json()
    streamed = pcaplens.Analyzer()
    streamed.feed(data)
    assert ours == streamed.finish().to_json()
    cli = run_cli("analyze", "--json", str(path))
    assert (ours + "\n").encode() == cli.stdout


CONFIG = """
top_n = 2

[detect.long_lived]
min_duration_secs = 60

[detect.ports]
max_ordinary_port = 20000
"""


def test_config_file_matches_keywords(tmp_path: Path) -> None:
    """`pcaplens analyze --config FILE` and the same keys as Python keywords agree byte for byte."""
    path = FIXTURES / "mixed.pcap"
    config = tmp_path / "pcaplens.toml"
    config.write_text(CONFIG)
    cli = run_cli("analyze", "--json", "--no-progress", "--config", str(config), str(path))
    nested = python_json(
        path, top_n=2, detect={"long_lived": {"min_duration_secs": 60}, "ports": {"max_ordinary_port": 20000}}
    )
    assert (nested + "\n").encode() == cli.stdout
    short = python_json(path, top=2, long_conn_threshold=60, unusual_port_threshold=20000)
    assert short == nested
    assert nested != python_json(path)
