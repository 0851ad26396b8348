#!/usr/bin/env python3
"""MCP latency: the first tool call on a 1,000,000-packet capture (the
analysis) against the same call answered from the cache, through the
official Python MCP client over stdio (`pip install mcp`).

Generates the capture with `pcaplens generate` (1,000,000 packets, scenario
mixed), starts `pcaplens mcp` with the capture's directory as root, then for
each of a few tools times: the first call (cold: analysis + answer), then
`--repeat` cached calls (median), each tool on a fresh server. Prints a table.

Usage: python3 bench/mcp_latency.py [--packets N] [--repeat N] [--bin PATH]
(the project's venv has the client: `. .ci/venv.sh` after tests/mcp/run-tests.sh)
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time

from mcp import Client, StdioServerParameters

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


TOOLS = [
    ("load_pcap_file", {}),
    ("get_pcap_summary", {}),
    ("get_flows", {"limit": 1000, "sort": "bytes"}),
    ("get_failures", {}),
    ("classify_flows", {}),
]


async def measure(binary, root, capture, repeat):
    """For each tool, a fresh server: its first call (the analysis and the
    answer), its second call, then `repeat` more cached calls."""
    rows, facts = [], None
    params = StdioServerParameters(command=binary, args=["mcp", "--root", root], cwd=root)
    for name, extra in TOOLS:
        args = {"path": capture, **extra}
        async with Client(params) as c:
            # The session is up before timing starts: only the tool calls count.
            await c.list_tools()
            times = []
            for _ in range(repeat + 2):
                t = time.perf_counter()
                r = await c.call_tool(name, args)
                times.append(time.perf_counter() - t)
                assert not r.is_error, r.content[0].text
            if facts is None:
                facts = (await c.call_tool("load_pcap_file", {"path": capture})).structured_content
        rows.append((name, times[0], times[1], times[2:]))
    return facts, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pcaplens"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        capture = "capture.pcap"
        subprocess.run([args.bin, "generate", "--scenario", "mixed", "--packets", str(args.packets),
                        "--seed", "5", "-o", os.path.join(root, capture)], check=True)
        size = os.path.getsize(os.path.join(root, capture))
        s, rows = asyncio.run(measure(args.bin, root, capture, args.repeat))
    print(f"capture: {s['packets']:,} packets, {s['flows']:,} flows, {size / 1e6:.1f} MB; "
          f"server-side analysis {s['analysis_ms']} ms")
    print(f"{'tool (fresh server)':<22}{'first call':>12}{'second call':>13}{'cached median':>15}"
          f"{'ratio':>8}")
    for name, first, second, cached in rows:
        med = statistics.median(cached)
        print(f"{name:<22}{first * 1000:>10.1f}ms{second * 1000:>11.1f}ms{med * 1000:>13.1f}ms"
              f"{first / med:>7.0f}x")
    print("(first call: the capture is analysed, then answered; later calls read the cached "
          "analysis; ratio = first / cached median)")


if __name__ == "__main__":
    main()
