"""pcaplens.generate: deterministic scenarios, truth, and CLI parity on them."""

from __future__ import annotations

from pathlib import Path

import pytest

import pcaplens

from conftest import run_cli


def test_scenarios_listed() -> None:
    names = pcaplens.scenarios()
    assert "normal" in names and "port-scan" in names and len(names) == len(set(names))


def test_deterministic_per_seed() -> None:
    a = pcaplens.generate("normal", packets=500, seed=3)
    assert a == pcaplens.generate("normal", packets=500, seed=3)
    assert a != pcaplens.generate("normal", packets=500, seed=4)
    assert a[:4] == b"\xd4\xc3\xb2\xa1"  # little-endian µs pcap


def test_report_agrees_with_truth() -> None:
    data, truth = pcaplens.generate_with_truth("normal", packets=3000, seed=5)
    report = pcaplens.analyze(data, flows_limit=None)
    assert report.complete
    assert report.summary.packets == truth["packets"]
    assert report.summary.flows.by_transport.get("tcp", 0) == truth["tcp_flows"]


def test_bad_generate_arguments() -> None:
    with pytest.raises(pcaplens.OptionsError, match="unknown scenario"):
        pcaplens.generate("nope")
    with pytest.raises(pcaplens.OptionsError, match="packets must be at least 1"):
        pcaplens.generate("normal", packets=0)


@pytest.mark.parametrize("scenario", pcaplens.scenarios())
def test_parity_on_generated_captures(tmp_path: Path, scenario: str) -> None:
    path = tmp_path / f"{scenario}.pcap"
    path.write_bytes(pcaplens.generate(scenario, packets=3000, seed=11))
    cli = run_cli("analyze", "--json", str(path))
    assert cli.returncode == 0, cli.stderr
    assert (pcaplens.analyze(path).to_json() + "\n").encode() == cli.stdout
    # Streaming the same bytes in odd-sized chunks gives the same report.
    data = path.read_bytes()
    chunks = [data[i : i + 4093] for i in range(0, len(data), 4093)]
    assert pcaplens.analyze(chunks).to_json() == pcaplens.analyze(path).to_json()
