"""pcaplens.sanitize: pseudonymised output, leak audit, policies, errors, CLI parity."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

import pcaplens

from conftest import pcap, run_cli, small_capture, udp_frame

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def capture() -> bytes:
    return pcaplens.generate("normal", packets=1500, seed=2)


def test_sanitize_keeps_the_traffic_and_hides_the_addresses(capture: bytes) -> None:
    out = io.BytesIO()
    result = pcaplens.sanitize(capture, out, key=KEY)
    assert result.passed and result.audit.patterns > 0
    assert result.sanitize.counters.frames == pcaplens.analyze(capture).summary.packets
    sanitized = out.getvalue()
    assert len(sanitized) == len(capture)  # length-preserving with the default policy
    before = pcaplens.analyze(capture, flows_limit=None)
    after = pcaplens.analyze(sanitized, flows_limit=None)
    assert after.summary.packets == before.summary.packets
    assert after.summary.flows.total == before.summary.flows.total
    original = {f.orig_addr for f in before.flows} | {f.resp_addr for f in before.flows}
    seen = {f.orig_addr for f in after.flows} | {f.resp_addr for f in after.flows}
    assert original and not (original & seen)


def test_same_key_same_output_other_key_other_output(capture: bytes, tmp_path: Path) -> None:
    src = tmp_path / "in.pcap"
    src.write_bytes(capture)
    a, b, c = tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap"
    pcaplens.sanitize(src, a, key=KEY)  # path → path: streamed in Rust
    streamed = io.BytesIO()
    pcaplens.sanitize([capture[:999], capture[999:]], streamed, key=KEY.hex())
    pcaplens.sanitize(capture, b, key=bytearray(KEY))
    pcaplens.sanitize(capture, c, key=b"another key of 16+ bytes")
    assert a.read_bytes() == streamed.getvalue() == b.read_bytes()
    assert c.read_bytes() != a.read_bytes()


def test_matches_cli_sanitize(capture: bytes, tmp_path: Path) -> None:
    src, key_file = tmp_path / "in.pcap", tmp_path / "key"
    src.write_bytes(capture)
    key_file.write_bytes(KEY)
    cli = run_cli("sanitize", str(src), "-o", str(tmp_path / "cli.pcap"), "--key-file", str(key_file))
    assert cli.returncode == 0, cli.stderr
    pcaplens.sanitize(src, tmp_path / "py.pcap", key=KEY)
    assert (tmp_path / "py.pcap").read_bytes() == (tmp_path / "cli.pcap").read_bytes()


def test_policy_options(capture: bytes) -> None:
    redacted, truncated, shifted = io.BytesIO(), io.BytesIO(), io.BytesIO()
    pcaplens.sanitize(capture, redacted, key=KEY)
    r = pcaplens.sanitize(capture, truncated, key=KEY, payload="truncate")
    assert r.sanitize.payload_policy == "truncate"
    assert len(truncated.getvalue()) <= len(redacted.getvalue())
    r = pcaplens.sanitize(capture, shifted, key=KEY, time_shift=True)
    assert r.sanitize.time_shifted
    start = pcaplens.analyze(redacted.getvalue()).summary.start_ts
    assert pcaplens.analyze(shifted.getvalue()).summary.start_ts != start


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": b"short"}, "at least 16 bytes"),
        ({"key": "not hex"}, "hex"),
        ({"key": KEY, "payload": "shred"}, "unknown payload policy"),
        ({"key": KEY, "time_shift": "yes"}, "True or False"),
        ({"key": KEY, "keep_ranges": True}, "unknown sanitize option 'keep_ranges'"),
    ],
)
def test_bad_sanitize_options(capture: bytes, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(pcaplens.OptionsError, match=message):
        pcaplens.sanitize(capture, io.BytesIO(), **kwargs)  # type: ignore[arg-type]


def test_not_a_capture(tmp_path: Path) -> None:
    src, dest = tmp_path / "x.txt", tmp_path / "out.pcap"
    src.write_bytes(b"just some text, no capture")
    with pytest.raises(pcaplens.CaptureFormatError, match="byte offset 0"):
        pcaplens.sanitize(src, dest, key=KEY)
    assert not dest.exists()


def test_damaged_capture_is_sanitised_up_to_the_damage() -> None:
    data = small_capture(10)
    cut = data[:-7]
    out = io.BytesIO()
    with pytest.warns(pcaplens.PartialCaptureWarning, match="frame 10"):
        result = pcaplens.sanitize(cut, out, key=KEY)
    assert result.sanitize.error.code == "truncated"
    assert pcaplens.analyze(out.getvalue()).summary.packets == 9
    with pytest.raises(pcaplens.TruncatedCaptureError):
        pcaplens.sanitize(cut, io.BytesIO(), key=KEY, strict=True)


def test_unseekable_dest_is_refused(capture: bytes) -> None:
    class WriteOnly(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            return len(b)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="seekable"):
        pcaplens.sanitize(capture, WriteOnly(), key=KEY)  # type: ignore[arg-type]


def quic_split_hello_capture() -> bytes:
    """A real client's QUIC Initials (aioquic, from PyPI) whose ClientHello
    does not fit one packet (150 ALPN names), the second packet captured
    first: the first packet the sanitizer meets cannot be placed until the
    hello is whole."""
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection

    cfg = QuicConfiguration(
        is_client=True,
        alpn_protocols=[f"proto-{i:03d}" for i in range(150)],
        server_name="split.example.org",
    )
    conn = QuicConnection(configuration=cfg)
    conn.connect(("10.0.0.2", 443), now=0.0)
    datagrams = [d for d, _ in conn.datagrams_to_send(now=0.0)]
    assert len(datagrams) == 2, [len(d) for d in datagrams]
    return pcap([udp_frame(1, 2, 50000, 443, d) for d in reversed(datagrams)])


def test_split_quic_hello_is_kept_by_a_second_pass_over_a_file(tmp_path: Path) -> None:
    data = quic_split_hello_capture()
    before = pcaplens.analyze(data)
    assert before.failures.tls.client_hellos == 1
    assert dict(before.failures.tls.server_names) == {"split.example.org": 1}
    src, key_file = tmp_path / "quic.pcap", tmp_path / "key"
    src.write_bytes(data)
    key_file.write_bytes(KEY)
    # Path to path: the file is read twice, every Initial rewritten.
    result = pcaplens.sanitize(src, tmp_path / "py.pcap", key=KEY)
    counters = result.sanitize.counters
    assert (counters.quic_initials_rewritten, counters.quic_initials_redacted) == (2, 0)
    out = (tmp_path / "py.pcap").read_bytes()
    assert b"split.example.org" not in out and len(out) == len(data)
    after = pcaplens.analyze(out)
    names = list(dict(after.failures.tls.server_names))
    assert after.failures.tls.client_hellos == 1
    assert len(names) == 1 and len(names[0]) == len("split.example.org")
    # A stream is read once: the packet met first stays zeroed.
    streamed = io.BytesIO()
    once = pcaplens.sanitize(data, streamed, key=KEY)
    assert once.sanitize.counters.quic_initials_redacted == 1
    assert pcaplens.analyze(streamed.getvalue()).failures.tls.client_hellos == 0
    # The CLI does the same two passes.
    cli = run_cli("sanitize", str(src), "-o", str(tmp_path / "cli.pcap"), "--key-file", str(key_file))
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "cli.pcap").read_bytes() == out


def test_sanitize_refuses_to_write_over_its_input(capture: bytes, tmp_path: Path) -> None:
    src = tmp_path / "in.pcap"
    src.write_bytes(capture)
    (tmp_path / "link.pcap").hardlink_to(src)
    for dest in (src, tmp_path / "." / "in.pcap", tmp_path / "link.pcap"):
        with pytest.raises(pcaplens.OptionsError, match="refusing to write"):
            pcaplens.sanitize(src, dest, key=KEY)
        assert src.read_bytes() == capture
