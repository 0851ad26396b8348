"""Errors: the exception hierarchy, offsets and frame numbers, partial reports."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import pcaplens

from conftest import PCAP_HEADER_LEN, RECORD_HEADER_LEN, pcap, small_capture, udp_frame


def test_hierarchy() -> None:
    for cls in (
        pcaplens.CaptureFormatError,
        pcaplens.TruncatedCaptureError,
        pcaplens.CorruptCaptureError,
        pcaplens.OptionsError,
    ):
        assert issubclass(cls, pcaplens.PcaplensError)
        assert cls.__module__ == "pcaplens"
    assert issubclass(pcaplens.PcaplensError, Exception)


@pytest.mark.parametrize("data", [b"", b"hello, this is not a capture", b"\x0a\x0d\x0d"])
def test_not_a_capture_always_raises(data: bytes) -> None:
    with pytest.raises(pcaplens.CaptureFormatError) as info:
        pcaplens.analyze(data)
    exc = info.value
    assert exc.code == "not_a_capture"  # type: ignore[attr-defined]
    assert exc.offset == 0  # type: ignore[attr-defined]
    assert "byte offset 0" in str(exc)
    assert exc.report.summary.packets == 0  # type: ignore[attr-defined]


def test_not_a_capture_raises_while_streaming() -> None:
    analyzer = pcaplens.Analyzer()
    with pytest.raises(pcaplens.CaptureFormatError, match="not a pcap or pcapng file"):
        analyzer.feed(b"GET / HTTP/1.1\r\n")


def truncated_capture() -> tuple[bytes, int]:
    """12 whole frames, then the 13th cut in the middle; returns (data, offset of frame 13)."""
    whole = small_capture(13)
    last = len(udp_frame(1, 100, 40001, 53, b"query 12"))
    cut_at = len(whole) - RECORD_HEADER_LEN - last
    return whole[: cut_at + RECORD_HEADER_LEN + 5], cut_at


def test_truncated_gives_partial_report_and_warns() -> None:
    data, offset = truncated_capture()
    with pytest.warns(pcaplens.PartialCaptureWarning, match=f"byte offset {offset}, frame 13"):
        report = pcaplens.analyze(data)
    assert report.partial and not report.complete
    assert report.summary.packets == 12
    assert report.status.error.code == "truncated"
    assert report.status.error.offset == offset
    assert report.status.error.next_frame == 13
    err = report.error
    assert isinstance(err, pcaplens.TruncatedCaptureError)
    with pytest.raises(pcaplens.TruncatedCaptureError):
        report.raise_for_status()
    # The partial report equals the report of the whole frames alone, but for status.
    clean = pcaplens.analyze(data[:offset]).to_dict()
    partial = report.to_dict()
    for section in ("summary", "flows", "failures"):
        assert partial[section] == clean[section]


def test_truncated_strict_raises_with_offset_and_frame(tmp_path: Path) -> None:
    data, offset = truncated_capture()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data)
    for source in (data, path, [data[:30], data[30:]]):
        with pytest.raises(pcaplens.TruncatedCaptureError) as info:
            pcaplens.analyze(source, strict=True)  # type: ignore[arg-type]
        exc = info.value
        assert f"at byte {offset}" in str(exc) and "frame 13" in str(exc)
        assert (exc.offset, exc.frame) == (offset, 13)  # type: ignore[attr-defined]
        assert exc.report.partial and exc.report.summary.packets == 12  # type: ignore[attr-defined]


def test_oversized_record_is_corrupt_and_strict_feed_raises_at_once() -> None:
    good = small_capture(3)
    bad_offset = len(good)
    # A record header claiming 1 GB: refused at once, never waited for or allocated.
    data = good + struct.pack("<IIII", 1_700_000_001, 0, 1 << 30, 1 << 30) + b"\0" * 64
    with pytest.warns(pcaplens.PartialCaptureWarning):
        report = pcaplens.analyze(data)
    assert report.summary.packets == 3
    assert report.status.error.code == "record_too_large"
    assert report.status.error.offset == bad_offset
    analyzer = pcaplens.Analyzer(strict=True)
    with pytest.raises(pcaplens.CorruptCaptureError, match=f"byte offset {bad_offset}, frame 4"):
        analyzer.feed(data)


def test_cut_record_header_is_truncated() -> None:
    cut = PCAP_HEADER_LEN + RECORD_HEADER_LEN // 2
    with pytest.raises(pcaplens.TruncatedCaptureError, match=f"byte offset {PCAP_HEADER_LEN}, frame 1; no frame was analysed"):
        pcaplens.analyze(small_capture(1)[:cut], strict=True)


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        pcaplens.analyze("/nonexistent/capture.pcap")


def test_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        pcaplens.analyze(tmp_path)


def test_pcap_helper_is_valid() -> None:
    assert pcaplens.analyze(pcap([])).summary.packets == 0
