"""pcaplens's Isolation Forest against scikit-learn's on the exact same feature matrix.

The matrix and pcaplens's scores come from ``pcaplens analyze --anomaly-features``;
scikit-learn fits ``IsolationForest`` on that matrix and its scores must rank
the flows the same way (Spearman ≥ 0.9). ``score_samples`` is the *negative*
anomaly score of the paper, so it is negated before comparing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.ensemble import IsolationForest

import pcaplens

from conftest import FIXTURES, run_cli

META_COLUMNS = ("file", "flow_id", "community_id", "training", "score")


def feature_matrix(capture: Path, tmp_path: Path, *extra: str) -> tuple[list[str], np.ndarray, np.ndarray, dict]:
    """(feature names, matrix, pcaplens scores, JSON report) of one capture."""
    out = tmp_path / (capture.stem + ".features.csv")
    proc = run_cli("analyze", "--json", "--anomaly-features", str(out), *extra, str(capture))
    assert proc.returncode == 0, proc.stderr.decode()
    report = json.loads(proc.stdout)
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows, f"no feature rows for {capture}"
    names = [c for c in rows[0] if c not in META_COLUMNS]
    matrix = np.array([[float(r[c]) for c in names] for r in rows], dtype=np.float32)
    scores = np.array([float(r["score"]) for r in rows])
    assert all(r["training"] == "1" for r in rows), "small captures are scored exactly"
    return names, matrix, scores, report


@pytest.fixture(scope="module")
def generated_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generator capture with a few thousand flows."""
    path = tmp_path_factory.mktemp("gen") / "normal-60k.pcap"
    path.write_bytes(pcaplens.generate("normal", packets=60_000, seed=3))
    return path


def captures(generated: Path) -> list[Path]:
    return [FIXTURES / "mixed.pcap", FIXTURES / "port-scan.pcap", generated]


def test_rank_correlation_with_scikit_learn(generated_capture: Path, tmp_path: Path) -> None:
    results = []
    for capture in captures(generated_capture):
        names, x, ours, report = feature_matrix(capture, tmp_path)
        assert len(x) >= 50, f"{capture.name}: only {len(x)} flows"
        assert names == report["anomalies"]["features"]
        assert len(x) == report["anomalies"]["flows_scored"] == report["summary"]["flows"]["total"]
        forest = IsolationForest(n_estimators=300, max_samples="auto", random_state=0).fit(x)
        theirs = -forest.score_samples(x)
        rho = spearmanr(ours, theirs).statistic
        results.append((capture.name, len(x), rho))
    print("Spearman pcaplens vs scikit-learn:", results)
    for name, n, rho in results:
        assert rho >= 0.9, f"{name} ({n} flows): Spearman {rho:.3f} < 0.9"


def test_report_top_flows_are_the_matrix_top(tmp_path: Path) -> None:
    _, _, ours, report = feature_matrix(FIXTURES / "mixed.pcap", tmp_path)
    top = report["anomalies"]["top_flows"]
    assert len(top) == 10
    best = sorted(ours, reverse=True)[:10]
    assert [t["score"] for t in top] == [round(s, 6) for s in best]
    for t in top:
        assert 1 <= len(t["explanation"]) <= 3
        assert t["explanation"][0]["robust_z"] != 0


def test_same_seed_same_scores_other_seed_same_top(generated_capture: Path, tmp_path: Path) -> None:
    _, _, a, _ = feature_matrix(generated_capture, tmp_path, "--anomaly-seed", "11")
    _, _, b, _ = feature_matrix(generated_capture, tmp_path, "--anomaly-seed", "11")
    _, _, c, _ = feature_matrix(generated_capture, tmp_path, "--anomaly-seed", "12")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    k = max(10, len(a) // 100)
    top_a = set(np.argsort(-a, kind="stable")[:k])
    top_c = set(np.argsort(-c, kind="stable")[:k])
    overlap = len(top_a & top_c) / k
    assert overlap >= 0.7, f"top-{k} overlap between seeds {overlap:.2f}"
    assert spearmanr(a, c).statistic >= 0.95


def test_python_binding_matches_cli(tmp_path: Path) -> None:
    capture = FIXTURES / "port-scan.pcap"
    _, _, _, cli = feature_matrix(capture, tmp_path, "--anomaly-seed", "5", "--per-packet-anomaly")
    report = pcaplens.analyze(capture, anomaly_seed=5, per_packet_anomaly=True)
    assert report.to_dict()["anomalies"] == cli["anomalies"]
    packets = cli["anomalies"]["packets"]
    assert packets["packets_scored"] > 0 and len(packets["top"]) == 10
    off = pcaplens.analyze(capture, anomaly=False).to_dict()["anomalies"]
    assert off["enabled"] is False and off["top_flows"] == []
    with pytest.raises(pcaplens.OptionsError):
        pcaplens.analyze(capture, anomaly=1)
