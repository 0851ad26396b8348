"""End-to-end tests of `pcaplens mcp` with the official Python MCP client
(`pip install mcp`, SDK 2.x): over stdio with both the high-level
`mcp.Client` and the low-level `stdio_client` + `ClientSession`, and over
streamable HTTP. Captures are the project's fixtures, the shared corpus and a
1,000,000-packet capture made by `pcaplens generate`.

Run by tests/mcp/run-tests.sh (from .ci/run); PCAPLENS_CLI names the binary.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import anyio
import jsonschema
import pytest
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("PCAPLENS_CLI") or str(REPO / "target" / "release" / "pcaplens")
KEY_HEX = "7f" * 16 + "3c" * 16
TOOLS = {
    "load_pcap_file", "get_pcap_summary", "analyze_port_flows", "analyze_ip_flows",
    "analyze_protocol_flows", "get_failures", "get_findings", "get_flows", "get_flow",
    "get_packet", "diagnose", "classify_flows", "sanitize_pcap",
}
# Flow fields that identify a flow the same way in a capture and in its
# sanitized copy (payload-derived fields may differ once payload is redacted).
IDENTITY = ("community_id", "transport", "orig_addr", "orig_port", "resp_addr", "resp_port",
            "orig_packets", "resp_packets", "orig_bytes", "resp_bytes", "first_frame", "last_frame")
WIRE = re.compile(r'^⟦wire (".*")⟧$')
LIMIT_TOKENS = 25_000


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN, *args], cwd=cwd, check=True, capture_output=True, text=True)


def unwire(s: str) -> str:
    m = WIRE.match(s)
    assert m, f"not a wire-marked string: {s!r}"
    return json.loads(m.group(1))


# ---- the tokenizer: Python's tiktoken with the ranks tiktoken-rs ships -------

def _encodings():
    import tiktoken
    import tiktoken_ext.openai_public as pub

    cargo = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    found = sorted(glob.glob(str(cargo / "registry/src/*/tiktoken-rs-*/assets")))
    assert found, "tiktoken-rs's bundled ranks not found under CARGO_HOME (build the CLI first)"
    assets = Path(found[-1])

    def local(url: str, expected_hash: str | None = None):
        return tiktoken.load.load_tiktoken_bpe(str(assets / url.rsplit("/", 1)[-1]))

    pub.load_tiktoken_bpe = local  # no download: the same ranks, from the crate
    return [tiktoken.Encoding(**pub.o200k_base()), tiktoken.Encoding(**pub.cl100k_base())]


ENCODINGS = _encodings()


def tokens(text: str) -> int:
    return max(len(e.encode(text, disallowed_special=())) for e in ENCODINGS)


def result_tokens(r) -> int:
    """Tokens of everything an assistant gets from a result: the text blocks
    and the structured content (as JSON-RPC carries it: compact)."""
    text = "".join(c.text for c in r.content if getattr(c, "type", "") == "text")
    structured = json.dumps(r.structured_content, ensure_ascii=False, separators=(",", ":"))
    return tokens(text) + tokens(structured)


# ---- captures and a root ------------------------------------------------------

@pytest.fixture(scope="session")
def root(tmp_path_factory) -> Path:
    """The server's root: fixtures and corpus captures, a key, a symlink to
    a capture outside, a text file, a capture with many flows."""
    base = tmp_path_factory.mktemp("mcp")
    root = base / "root"
    outside = base / "outside"
    root.mkdir()
    outside.mkdir()
    for name in ["mixed.pcap", "dns-failures.pcap", "port-scan.pcap", "http-errors.pcap",
                 "blocklisted.pcap", "tcp-resets.pcap"]:
        shutil.copy(REPO / "fixtures" / name, root / name)
    corpus = REPO / "tests" / "corpus"
    for name in ["chrissanders__synscan.pcapng", "ndpi__http_ipv6.pcap",
                 "arkime__tls-alpn-h2.pcap", "chrissanders__stranded_branchdns.pcapng"]:
        shutil.copy(corpus / name, root / name)
    (root / "key.hex").write_text(KEY_HEX + "\n")
    shutil.copy(REPO / "fixtures" / "mixed.pcap", outside / "secret.pcap")
    (root / "escape.pcap").symlink_to(outside / "secret.pcap")
    (root / "inside-link.pcap").symlink_to(root / "mixed.pcap")
    (root / "notes.txt").write_text("this is not a capture\n" * 10)
    # Many flows: the paging test walks every page of them.
    run("generate", "--scenario", "normal", "--packets", "60000", "--flows", "3000",
        "--seed", "11", "-o", str(root / "many-flows.pcap"))
    return root


@pytest.fixture(scope="session")
def big(root: Path):
    path = root / "million.pcap"
    run("generate", "--scenario", "mixed", "--packets", "1000000", "--seed", "5", "-o", str(path))
    yield path
    # 671 MB: pytest keeps its last temporary directories, not this.
    path.unlink()


def server_params(root: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=BIN, args=["mcp", "--root", str(root), *extra], cwd=str(root))


def keyed(root: Path, *extra: str) -> StdioServerParameters:
    return server_params(root, "--key-file", str(root / "key.hex"), *extra)


def flows_ndjson(path: Path, out: Path) -> list[dict]:
    run("analyze", "--json", "--flows", str(out), str(path))
    rows = [json.loads(line) for line in out.read_text().splitlines() if line]
    for r in rows:
        del r["file"]
    return rows


async def all_pages(c, tool: str, args: dict, key: str = "flows") -> tuple[list[dict], int]:
    """Follow next_cursor to the end; returns the rows and the page count."""
    rows, cursor, pages = [], None, 0
    while True:
        a = dict(args)
        if cursor:
            a["cursor"] = cursor
        r = await c.call_tool(tool, a)
        assert not r.is_error, r.content[0].text
        pages += 1
        rows += r.structured_content[key]
        assert r.structured_content["offset"] == len(rows) - len(r.structured_content[key])
        cursor = r.structured_content["next_cursor"]
        if cursor is None:
            return rows, pages
        assert pages < 10_000, "the cursor never ended"


def check_result(tool, r) -> None:
    """Not an error; structuredContent valid against the output schema; the
    text block is the same JSON."""
    assert not r.is_error, f"{tool.name}: {r.content[0].text}"
    jsonschema.validate(r.structured_content, tool.output_schema)
    texts = [c.text for c in r.content if getattr(c, "type", "") == "text"]
    assert texts and json.loads(texts[0]) == r.structured_content


def version() -> str:
    return run("--version").stdout.split()[-1]


# ---- listing --------------------------------------------------------------------

def test_tools_listed_with_input_and_output_schemas(root):
    async def go():
        async with Client(server_params(root)) as c:
            info = c.session.server_info if hasattr(c.session, "server_info") else None
            listed = (await c.list_tools()).tools
            return info, listed

    info, listed = asyncio.run(go())
    assert info is not None and info.name == "pcaplens" and info.version == version()
    assert {t.name for t in listed} == TOOLS
    for t in listed:
        assert t.description and len(t.description) > 40, t.name
        jsonschema.Draft202012Validator.check_schema(t.input_schema)
        assert "path" in t.input_schema["properties"], t.name
        assert "path" in t.input_schema.get("required", []), t.name
        assert t.input_schema.get("additionalProperties") is False, t.name
        assert t.output_schema and t.output_schema.get("type") == "object", t.name
        jsonschema.Draft202012Validator.check_schema(t.output_schema)
        assert t.annotations is not None, t.name
        assert t.annotations.read_only_hint is (t.name != "sanitize_pcap"), t.name
        assert t.annotations.open_world_hint is False, t.name
    flows = next(t for t in listed if t.name == "get_flows").input_schema["properties"]
    assert {"addr", "port", "transport", "service", "state", "start", "end", "sort", "limit",
            "cursor"} <= set(flows)


# ---- every tool, every capture (low-level client) -----------------------------

CAPTURES = ["mixed.pcap", "dns-failures.pcap", "port-scan.pcap", "http-errors.pcap",
            "blocklisted.pcap", "tcp-resets.pcap", "chrissanders__synscan.pcapng",
            "ndpi__http_ipv6.pcap", "arkime__tls-alpn-h2.pcap",
            "chrissanders__stranded_branchdns.pcapng"]


async def every_tool(s, captures):
    """Call every tool on each capture through the session or client `s`;
    each result checked against its tool's output schema."""
    tools = {t.name: t for t in (await s.list_tools()).tools}
    seen = {}
    for cap in captures:
        calls = []
        first = await s.call_tool("get_flows", {"path": cap, "limit": 5})
        check_result(tools["get_flows"], first)
        row = first.structured_content["flows"][0]
        calls += [
            ("load_pcap_file", {"path": cap}),
            ("get_pcap_summary", {"path": cap, "timeline": True}),
            ("get_flows", {"path": cap, "sort": "bytes", "transport": row["transport"]}),
            ("analyze_port_flows", {"path": cap, "port": row["resp_port"]}),
            ("analyze_ip_flows", {"path": cap, "ip": row["orig_addr"]}),
            ("analyze_protocol_flows", {"path": cap, "protocol": row["transport"]}),
            ("get_failures", {"path": cap}),
            ("get_findings", {"path": cap}),
            ("get_flow", {"path": cap, "community_id": row["community_id"]}),
            ("get_packet", {"path": cap, "frame": row["first_frame"]}),
            ("diagnose", {"path": cap, "focus": "errors"}),
            ("classify_flows", {"path": cap}),
            ("sanitize_pcap", {"path": cap, "output": f"out-{cap}", "overwrite": True}),
        ]
        for name, args in calls:
            r = await s.call_tool(name, args)
            check_result(tools[name], r)
            seen[(cap, name)] = r.structured_content
    return seen


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_every_tool_on_fixtures_and_corpus(root, transport):
    """Low-level client over stdio (`stdio_client` + `ClientSession`), the
    high-level `mcp.Client` over streamable HTTP."""
    async def go():
        if transport == "stdio":
            async with stdio_client(keyed(root)) as (read, write):
                async with ClientSession(read, write) as s:
                    init = await s.initialize()
                    assert init.server_info.name == "pcaplens"
                    return await every_tool(s, CAPTURES)
        srv = HttpServer(root, "--key-file", str(root / "key.hex"))
        try:
            async with Client(srv.url) as c:
                return await every_tool(c, CAPTURES)
        finally:
            srv.close()

    seen = asyncio.run(go())
    assert {n for (_, n) in seen} | {"get_flows"} == TOOLS
    real = json.loads(run("analyze", "--json", str(root / "mixed.pcap")).stdout)
    # Behaviour, not just shape: totals agree with `pcaplens analyze`.
    load = seen[("mixed.pcap", "load_pcap_file")]
    assert load["packets"] == real["summary"]["packets"]
    assert load["flows"] == real["summary"]["flows"]["total"]
    totals = seen[("mixed.pcap", "get_pcap_summary")]["failure_totals"]
    assert totals["tcp.resets"] == real["failures"]["tcp"]["resets"]["total"] > 0
    assert totals["dns.error_responses"] == real["failures"]["dns"]["error_responses"]["total"]
    failures = seen[("mixed.pcap", "get_failures")]["items"]
    resets = next(i for i in failures if i["section"] == "tcp" and i["class"] == "resets")
    assert resets["total"] == real["failures"]["tcp"]["resets"]["total"]
    scans = [i for i in seen[("mixed.pcap", "get_findings")]["items"] if i["section"] == "scans"]
    assert len(scans) == len(real["findings"]["scans"]["scans"]) == 1
    assert scans[0]["scanner"] != real["findings"]["scans"]["scans"][0]["scanner"], "pseudonymised"
    # A port-scan capture: the scanner's flows are classified suspicious.
    cls = seen[("port-scan.pcap", "classify_flows")]
    assert cls["method"] == "rules" and cls["verdict_counts"]["suspicious"] > 0
    assert cls["flows"][0]["verdict"] in ("malicious", "suspicious")
    # get_flow finds the flow it was given, with its related instances.
    flow = seen[("mixed.pcap", "get_flow")]
    assert flow["flows"] and all(f["community_id"] == flow["community_id"] for f in flow["flows"])
    # get_packet decodes the frame that opened the flow, layer by layer.
    pkt = seen[("mixed.pcap", "get_packet")]["packet"]
    names = [l["layer"] for l in pkt["layers"]]
    assert names[0] == "link" and names[1] in ("ipv4", "ipv6") and names[2] in ("tcp", "udp", "icmp")
    assert pkt["community_id"] == flow["community_id"], "the frame's Community ID is the flow's"
    # diagnose: the offline rules' ranked diagnoses and the evidence.
    diag = seen[("mixed.pcap", "diagnose")]
    assert diag["diagnoses"] and diag["diagnoses"][0]["rank"] == 1 and diag["evidence_tokens"] > 0
    # Wire strings are marked as untrusted.
    dns = next(i for i in seen[("dns-failures.pcap", "get_failures")]["items"]
               if i["section"] == "dns" and i["class"] == "error_responses")
    assert all(WIRE.match(x["qname"]) for x in dns["instances"])


def test_every_corpus_capture_gives_a_result_or_a_clear_error(root, tmp_path):
    """Every capture of the corpus and the fixtures (damaged, truncated, odd
    link types, fuzzed ones among them) through every reading tool: a valid
    result, or a tool error that says what is wrong; the server survives."""
    caps = sorted(glob.glob(str(REPO / "tests" / "corpus" / "*.pcap*")))
    caps += sorted(glob.glob(str(REPO / "fixtures" / "*.pcap")))
    assert len(caps) > 60
    corpus_root = REPO

    damaged: list[str] = []

    async def go():
        errors, ok = [], 0
        async with Client(server_params(corpus_root, "--reveal")) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            for cap in caps:
                rel = os.path.relpath(cap, corpus_root)
                first = await c.call_tool("get_flows", {"path": rel, "limit": 1})
                if first.is_error:
                    errors.append((rel, first.content[0].text))
                    continue
                rows = first.structured_content["flows"]
                calls = [("get_pcap_summary", {"timeline": True}), ("get_failures", {}),
                         ("get_findings", {}), ("classify_flows", {}), ("diagnose", {}),
                         ("get_packet", {"frame": 1}),
                         ("analyze_protocol_flows", {"protocol": "udp"})]
                if rows:
                    calls += [("get_flow", {"community_id": rows[0]["community_id"]}),
                              ("analyze_ip_flows", {"ip": rows[0]["orig_addr"]}),
                              ("get_packet", {"frame": rows[0]["last_frame"]})]
                for name, args in calls:
                    r = await c.call_tool(name, {"path": rel, **args})
                    if name == "get_flow" and r.is_error:
                        # A flow of another protocol has a Community ID only when it has ports.
                        assert "no flow" in r.content[0].text or "Community ID" in r.content[0].text
                        continue
                    if name == "get_packet" and r.is_error:
                        # A capture damaged before that frame: where reading stopped.
                        assert "reading stopped after" in r.content[0].text, r.content[0].text
                        damaged.append(rel)
                        continue
                    check_result(tools[name], r)
                    ok += 1
            alive = await c.call_tool("load_pcap_file", {"path": "fixtures/mixed.pcap"})
        return errors, ok, alive

    errors, ok, alive = asyncio.run(go())
    assert not alive.is_error
    assert ok > 500
    for rel, text in errors:
        assert "not a pcap or pcapng capture" in text, f"{rel}: {text}"
    assert len(errors) < 5, errors
    for rel in damaged:
        # `analyze` exits 2 or 3 on such a capture: its report says why.
        out = subprocess.run([BIN, "analyze", "--json", str(REPO / rel)], capture_output=True, text=True)
        status = json.loads(out.stdout)["status"]
        assert status["error"] is not None, f"{rel}: get_packet failed on an undamaged capture"


def test_nothing_identifying_leaves_by_default(root):
    """Without --reveal, no real address or name of the capture appears in
    any result text."""
    real = json.loads(run("analyze", "--json", str(root / "mixed.pcap")).stdout)
    addrs = {f["orig_addr"] for f in real["flows"]} | {f["resp_addr"] for f in real["flows"]}
    names = {i["qname"] for i in real["failures"]["dns"]["error_responses"]["instances"]}
    names |= {i["host"] for i in real["failures"]["http"]["error_responses"]["instances"]}
    assert len(addrs) > 5 and len(names) > 2

    async def go():
        texts = []
        async with Client(server_params(root)) as c:
            for name, args in [("get_pcap_summary", {"timeline": True}), ("get_flows", {"limit": 1000}),
                               ("get_failures", {}), ("get_findings", {}), ("classify_flows", {}),
                               ("diagnose", {}), ("get_packet", {"frame": 1}),
                               ("analyze_ip_flows", {"ip": sorted(addrs)[0]})]:
                r = await c.call_tool(name, {"path": "mixed.pcap", **args})
                assert not r.is_error, r.content[0].text
                texts.append(r.content[0].text)
        return "\n".join(texts)

    text = asyncio.run(go())
    for a in addrs:
        assert not re.search(r"(?<![\d.])" + re.escape(a) + r"(?![\d])", text), f"{a} leaked"
    for n in names:
        assert n not in text, f"{n} leaked"


def test_pseudonyms_equal_those_of_sanitize_with_the_same_key(root, tmp_path):
    """The flows (addresses and Community IDs) and DNS names in results equal
    those of the capture `pcaplens sanitize` writes with the same key; the
    sanitize_pcap tool writes that same file; `pcaplens unmask` maps results
    back to the real identifiers."""
    san = tmp_path / "san.pcap"
    run("sanitize", str(root / "mixed.pcap"), "-o", str(san), "--key-file", str(root / "key.hex"),
        "--map", str(tmp_path / "map.json"))
    want = {tuple(f[k] for k in IDENTITY) for f in flows_ndjson(san, tmp_path / "san.ndjson")}
    san_report = json.loads(run("analyze", "--json", str(san)).stdout)
    want_names = {i["qname"] for i in san_report["failures"]["dns"]["error_responses"]["instances"]}

    async def go():
        async with Client(keyed(root)) as c:
            rows, _ = await all_pages(c, "get_flows", {"path": "mixed.pcap"})
            fails = await c.call_tool("get_failures", {"path": "mixed.pcap", "section": "dns"})
            tool_copy = await c.call_tool("sanitize_pcap", {"path": "mixed.pcap", "output": "copy.pcap"})
            again = await c.call_tool("sanitize_pcap", {"path": "mixed.pcap", "output": "copy.pcap"})
            return rows, fails.structured_content, tool_copy, again

    rows, fails, tool_copy, again = asyncio.run(go())
    got = {tuple(f[k] for k in IDENTITY) for f in rows}
    assert got == want and len(got) > 10
    err = next(i for i in fails["items"] if i["class"] == "error_responses")
    assert {unwire(i["qname"]) for i in err["instances"]} == want_names
    assert not tool_copy.is_error, tool_copy.content[0].text
    assert (root / "copy.pcap").read_bytes() == san.read_bytes(), "sanitize_pcap == pcaplens sanitize"
    assert again.is_error and "overwrite" in again.content[0].text
    # Reversible: unmask the tool's text with sanitize's map.
    text = json.dumps(rows[:5])
    back = subprocess.run([BIN, "unmask", "--map", str(tmp_path / "map.json")], input=text,
                          capture_output=True, text=True, check=True).stdout
    real = sorted(flows_ndjson(root / "mixed.pcap", tmp_path / "real.ndjson"), key=lambda f: f["id"])
    assert [f["id"] for f in real[:5]] == [f["id"] for f in rows[:5]]
    for f in real[:5]:
        assert f["orig_addr"] in back and f["resp_addr"] in back


def test_results_are_deterministic_for_a_key(root):
    """Two server processes with one key give byte-identical results."""
    calls = [("get_pcap_summary", {"timeline": True}), ("get_failures", {}), ("get_findings", {}),
             ("classify_flows", {}), ("diagnose", {}), ("get_flows", {"sort": "bytes"}),
             ("get_packet", {"frame": 72})]

    async def once():
        async with Client(keyed(root)) as c:
            return [(await c.call_tool(n, {"path": "mixed.pcap", **a})).content[0].text for n, a in calls]

    assert asyncio.run(once()) == asyncio.run(once())


def test_paging_union_equals_analyze_flows(root, tmp_path):
    """Every page of a large flow list, followed to the end: with --reveal
    the union is exactly `pcaplens analyze --flows`; pseudonymised, the same
    flows by id. Sorted pages cover the same set."""
    want = flows_ndjson(root / "many-flows.pcap", tmp_path / "f.ndjson")
    assert len(want) > 2000

    async def go():
        async with Client(server_params(root, "--reveal")) as c:
            by_id, pages = await all_pages(c, "get_flows", {"path": "many-flows.pcap", "limit": 1000})
            by_bytes, _ = await all_pages(c, "get_flows",
                                          {"path": "many-flows.pcap", "sort": "bytes", "limit": 1000})
            tcp_upper = await c.call_tool("get_flows", {"path": "many-flows.pcap", "transport": "TCP",
                                                        "state": "sf", "limit": 3})
            bad = await c.call_tool("get_flows", {"path": "many-flows.pcap", "sort": "packets",
                                                  "cursor": "djE6MTAwOjAwMDAwMDAwMDAwMDAwMDA"})
        async with Client(server_params(root)) as c:
            masked, _ = await all_pages(c, "get_flows", {"path": "many-flows.pcap", "limit": 1000})
        return by_id, pages, by_bytes, bad, masked, tcp_upper

    by_id, pages, by_bytes, bad, masked, tcp_upper = asyncio.run(go())
    want_tcp_sf = [f for f in want if f["transport"] == "tcp" and f["conn_state"] == "SF"]
    assert tcp_upper.structured_content["total_matching"] == len(want_tcp_sf) > 0
    assert pages > 10, "the token limit splits the list into many pages"
    assert sorted(by_id, key=lambda f: f["id"]) == sorted(want, key=lambda f: f["id"])
    assert [f["id"] for f in by_id] == sorted(f["id"] for f in by_id), "default order: creation"
    sizes = [f["orig_bytes"] + f["resp_bytes"] for f in by_bytes]
    assert sizes == sorted(sizes, reverse=True)
    assert {f["id"] for f in by_bytes} == {f["id"] for f in want}
    assert bad.is_error and "cursor" in bad.content[0].text
    assert [f["id"] for f in masked] == [f["id"] for f in by_id]
    assert all(m["orig_addr"] != r["orig_addr"] for m, r in zip(masked, by_id))


def test_bad_input_is_a_tool_error_and_the_server_keeps_running(root):
    cases = [
        ("get_pcap_summary", {"path": str(root.parent / "outside" / "secret.pcap")}, "outside"),
        ("get_pcap_summary", {"path": "escape.pcap"}, "outside"),
        ("get_pcap_summary", {"path": "../outside/secret.pcap"}, "outside"),
        ("get_flows", {"path": "no-such.pcap"}, "no such file"),
        ("load_pcap_file", {"path": "notes.txt"}, "not a pcap or pcapng"),
        ("get_packet", {"path": "notes.txt", "frame": 1}, "reading stopped after 0 frames"),
        ("get_flows", {"path": "mixed.pcap", "limit": 0}, "limit"),
        ("get_flows", {"path": "mixed.pcap", "transport": "carrier-pigeon"}, "transport"),
        ("get_flows", {"path": "mixed.pcap", "addr": "not-an-ip"}, "addr"),
        ("get_flows", {"path": "mixed.pcap", "cursor": "!!"}, "cursor"),
        ("get_flows", {"path": "mixed.pcap", "port": "https"}, ""),
        ("get_packet", {"path": "mixed.pcap", "frame": 0}, "start at 1"),
        ("get_packet", {"path": "mixed.pcap", "frame": 10**9}, "there is no frame"),
        ("get_flow", {"path": "mixed.pcap", "community_id": "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "no flow"),
        ("diagnose", {"path": "mixed.pcap", "focus": "astrology"}, "focus"),
        ("sanitize_pcap", {"path": "mixed.pcap", "output": "/tmp/elsewhere.pcap"}, "outside"),
        ("sanitize_pcap", {"path": "mixed.pcap", "output": "mixed.pcap", "overwrite": True}, "input"),
        ("get_findings", {"path": "mixed.pcap", "section": "nope"}, "section"),
        ("get_pcap_summary", {"path": "."}, "not a regular file"),
        ("get_flows", {"path": "mixed.pcap", "prot": 80}, "prot"),
        ("get_pcap_summary", {}, "path"),
    ]

    async def go():
        out = []
        async with Client(server_params(root, "--max-file-size", "64M")) as c:
            for name, args, _ in cases:
                out.append(await c.call_tool(name, args))
            big = await c.call_tool("get_flows", {"path": "many-flows.pcap"})
            ok = await c.call_tool("get_pcap_summary", {"path": "inside-link.pcap"})
        return out, big, ok

    out, big, ok = asyncio.run(go())
    for (name, args, words), r in zip(cases, out):
        assert r.is_error, f"{name} {args}: no error"
        assert words.lower() in r.content[0].text.lower(), f"{name} {args}: {r.content[0].text}"
        assert "panick" not in r.content[0].text
    assert not big.is_error, "under --max-file-size"
    assert not ok.is_error, "a symlink that stays inside the root is fine"

    async def small():
        async with Client(server_params(root, "--max-file-size", "1K")) as c:
            return await c.call_tool("get_flows", {"path": "mixed.pcap"})
    r = asyncio.run(small())
    assert r.is_error and "max-file-size" in r.content[0].text


# ---- HTTP -----------------------------------------------------------------------

class HttpServer:
    def __init__(self, root: Path, *extra: str):
        self.proc = subprocess.Popen([BIN, "mcp", "--root", str(root), "--http", "127.0.0.1:0", *extra],
                                     cwd=root, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        m = re.search(r"listening on (http://\S+)", line)
        assert m, f"no listening line: {line!r}"
        self.url = m.group(1)
        # Keep reading what the server says, so a full pipe never blocks it.
        self.log: list[str] = []
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def raw_post(url: str, headers: dict) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_http_transport_origin_and_token(root, tmp_path):
    srv = HttpServer(root)
    try:
        async def go():
            async with Client(srv.url) as c:
                listed = {t.name for t in (await c.list_tools()).tools}
                r = await c.call_tool("get_pcap_summary", {"path": "mixed.pcap"})
                bad = await c.call_tool("get_flows", {"path": "escape.pcap"})
                return listed, r, bad
        listed, r, bad = asyncio.run(go())
        assert listed == TOOLS
        assert not r.is_error and r.structured_content["summary"]["packets"] > 0
        assert bad.is_error and "outside" in bad.content[0].text
        assert raw_post(srv.url, {}) == 200
        assert raw_post(srv.url, {"Origin": "http://evil.example"}) == 403
        assert raw_post(srv.url, {"Host": "evil.example"}) == 403
    finally:
        srv.close()

    # Not loopback without --allow-remote; --allow-remote without a token.
    p = subprocess.run([BIN, "mcp", "--root", str(root), "--http", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "allow-remote" in p.stderr
    p = subprocess.run([BIN, "mcp", "--root", str(root), "--http", "0.0.0.0:0", "--allow-remote"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "token" in p.stderr
    p = subprocess.run([BIN, "mcp", "--root", str(root / "no-such-dir")], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 2 and "no-such-dir" in p.stderr

    token = "s3cret-token-0123456789"
    (tmp_path / "token").write_text(token + "\n")
    srv = HttpServer(root, "--allow-remote", "--token-file", str(tmp_path / "token"),
                     "--allow-origin", "http://localhost:5173")
    try:
        assert raw_post(srv.url, {}) == 401
        assert raw_post(srv.url, {"Authorization": "Bearer wrong-token-0123456789"}) == 401
        auth = {"Authorization": f"Bearer {token}"}
        assert raw_post(srv.url, auth) == 200
        assert raw_post(srv.url, {**auth, "Origin": "http://localhost:5173"}) == 200
        assert raw_post(srv.url, {**auth, "Origin": "http://evil.example"}) == 403
    finally:
        srv.close()


# ---- a 1,000,000-packet capture ---------------------------------------------------

def test_million_packets_results_stay_under_the_token_limit(root, big):
    """The largest result of every tool on a 1,000,000-packet capture stays
    under 25,000 tokens (text and structured content together, both
    tokenizers); the first load reports progress, the second comes from the
    cache; a cancelled load leaves the server working."""
    progress: list[tuple[float, float | None]] = []

    async def on_progress(p, total, message):
        progress.append((p, total))

    async def go():
        sizes = {}
        async with Client(server_params(root)) as c:
            t0 = time.perf_counter()
            first = await c.call_tool("load_pcap_file", {"path": big.name}, progress_callback=on_progress)
            t1 = time.perf_counter()
            second = await c.call_tool("load_pcap_file", {"path": big.name})
            t2 = time.perf_counter()
            assert not first.is_error, first.content[0].text
            summary = first.structured_content
            flows = await c.call_tool("get_flows", {"path": big.name, "limit": 3, "sort": "bytes"})
            top = flows.structured_content["flows"][0]
            calls = [
                ("get_pcap_summary", {"timeline": True}),
                ("get_flows", {"limit": 1000}),
                ("get_flows", {"limit": 1000, "sort": "bytes"}),
                ("analyze_port_flows", {"port": top["resp_port"], "limit": 1000}),
                ("analyze_ip_flows", {"ip": top["orig_addr"], "limit": 1000}),
                ("analyze_protocol_flows", {"protocol": "tcp", "limit": 1000}),
                ("get_failures", {"limit": 1000}),
                ("get_findings", {"limit": 1000}),
                ("classify_flows", {"limit": 1000}),
                ("diagnose", {}),
                ("get_flow", {"community_id": top["community_id"]}),
                ("get_packet", {"frame": summary["packets"]}),
            ]
            for name, args in calls:
                r = await c.call_tool(name, {"path": big.name, **args})
                assert not r.is_error, f"{name}: {r.content[0].text}"
                sizes[f"{name} {args}"] = result_tokens(r)
            # A load the client cancels stops, caches nothing, and the
            # server goes on serving: the next load analyses afresh.
            with anyio.move_on_after(0.2) as scope:
                await c.call_tool("load_pcap_file", {"path": other.name})
            assert scope.cancelled_caught, "the load finished before the cancel"
            again = await c.call_tool("load_pcap_file", {"path": other.name})
            assert not again.is_error, again.content[0].text
            assert again.structured_content["cached"] is False, "a cancelled analysis was cached"
        return summary, second, sizes, (t1 - t0, t2 - t1)

    other = root / "million-2.pcap"
    run("generate", "--scenario", "mixed", "--packets", "1000000", "--seed", "6", "-o", str(other))
    try:
        summary, second, sizes, (cold, warm) = asyncio.run(go())
    finally:
        other.unlink()
    assert summary["packets"] >= 1_000_000
    assert second.structured_content["cached"] is True
    assert progress and progress[-1][1] == big.stat().st_size
    assert all(b >= a for (a, _), (b, _) in zip(progress, progress[1:])), "progress only grows"
    biggest = max(sizes.values())
    print(f"\n1M packets: first load {cold:.2f} s, cached {warm * 1000:.1f} ms; "
          f"largest result {biggest} tokens ({max(sizes, key=sizes.get)})")
    for k, v in sizes.items():
        assert v < LIMIT_TOKENS, f"{k}: {v} tokens"
    # The limit is used, not dodged: the big lists fill most of their budget.
    assert sizes["get_flows {'limit': 1000}"] > 10_000
