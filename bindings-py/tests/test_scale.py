"""analyze_many: many files on many threads (issue 23, docs/scale.md)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import pcaplens

from conftest import corpus_captures


def test_analyze_many_is_analyze_per_file_in_order() -> None:
    # Largest first: threads finish out of order, the results must not.
    files = sorted(corpus_captures()[:8], key=lambda p: -p.stat().st_size)
    expected = [pcaplens.analyze(str(f)).to_json() for f in files]
    for jobs in (1, 3):
        got = pcaplens.analyze_many(files, jobs=jobs)
        assert [r.to_json() for r in got] == expected


def test_analyze_many_releases_the_gil() -> None:
    files = corpus_captures()[:6] * 4
    ticks = 0
    done = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=tick)
    t.start()
    try:
        pcaplens.analyze_many(files, jobs=2)
    finally:
        done.set()
        t.join()
    assert ticks > 1000


def test_analyze_many_errors() -> None:
    files = corpus_captures()[:2]
    with pytest.raises(FileNotFoundError):
        pcaplens.analyze_many([files[0], Path("/nonexistent/x.pcap"), files[1]], jobs=2)
    with pytest.raises(ValueError):
        pcaplens.analyze_many(files, jobs=0)
    with pytest.raises(NotImplementedError):
        pcaplens.analyze_many(files, independent=False)
    assert pcaplens.analyze_many([], jobs=2) == []
