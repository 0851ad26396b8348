#!/usr/bin/env python3
"""Many files on 1 and 2 workers: `pcaplens analyze --jobs`, Ray Data, Spark (issue 23).

Makes FILES captures of PACKETS packets each (`pcaplens.generate("normal")`,
one seed per file, timestamps shifted so the files follow each other in time
like rotated capture files), then times in one run:

  one process   `pcaplens analyze --json F` for every file, one after another
                (PCAPLENS_READ_THREADS=1: one core; the full report per file:
                detectors, anomaly scoring, flows) — the issue's baseline
  one process, same work (the baselines of the engines' rows, in this Python):
                summary: pcaplens.partial per file + pcaplens.merge;
                flows:   pcaplens.flow_batches(F, flows_limit=None) per file
  --jobs N      `pcaplens analyze --jobs N --json FILES…` (one merged report)
  Ray N         pcaplens.ray.summary(FILES) on a local cluster of N CPUs, and
                pcaplens.ray.read_pcaps(FILES).count() (every flow as a row)
  Spark N       pcaplens.spark.summary / flows(...).count() on local[N]

Engine start-up (ray.init, SparkSession) is timed apart and not counted.
Each engine runs a 2-file warm-up first (worker processes, imports). Every
timing is the best of --runs runs (the machine may be shared). Prints
packets/s per worker, its ratio to the issue's baseline, and its ratio to
one process doing the same work (a merged summary skips the detectors and
the anomaly scoring, which the full report runs).

Usage: python3 bench/scale_bench.py [--files 100] [--packets 20000] [--runs 2] [--cli PATH]
Needs the package installed with its extras (pip install "./bindings-py[ray,spark]").
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pcaplens

ROOT = Path(__file__).resolve().parents[1]


def shift_pcap(data: bytes, secs: int) -> bytes:
    """A little-endian classic pcap with every timestamp moved by `secs` seconds."""
    out = bytearray(data)
    off = 24
    while off + 16 <= len(out):
        sec, _, incl, _ = struct.unpack_from("<IIII", out, off)
        struct.pack_into("<I", out, off, sec + secs)
        off += 16 + incl
    return bytes(out)


def make_files(d: Path, files: int, packets: int) -> tuple[list[Path], int]:
    paths = []
    shift = 0
    for i in range(files):
        p = d / f"capture-{i:04d}.pcap"
        data = pcaplens.generate("normal", packets=packets, seed=i + 1)
        assert data[:4] == b"\xd4\xc3\xb2\xa1", "expected a little-endian µs pcap"
        p.write_bytes(shift_pcap(data, shift))
        # The next file starts after this one ends (rotation order = time order).
        dur = pcaplens.analyze(p, anomaly=False).summary.duration_secs
        shift += int(dur) + 2
        paths.append(p)
    total = pcaplens.analyze_many(paths, independent=False).summary.packets
    return paths, total


RUNS = 2


def timed(fn, runs: int = 1) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--packets", type=int, default=20_000)
    ap.add_argument("--cli", type=Path, default=ROOT / "target" / "release" / "pcaplens")
    ap.add_argument("--runs", type=int, default=RUNS, help="best of this many runs per timing")
    ap.add_argument("--skip", default="", help="comma list of engines to skip: ray,spark")
    args = ap.parse_args()
    runs = args.runs
    skip = set(filter(None, args.skip.split(",")))
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_DATA_DEFAULT_SHUFFLE_STRATEGY"] = "sort_shuffle_pull_based"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable

    with tempfile.TemporaryDirectory(prefix="pcaplens-scale-") as tmp:
        d = Path(tmp)
        t, (paths, packets) = timed(lambda: make_files(d, args.files, args.packets))
        names = [str(p) for p in paths]
        size = sum(p.stat().st_size for p in paths)
        print(f"{len(paths)} files, {packets:,} packets, {size / 1e6:.1f} MB (made in {t:.1f} s)")
        print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        # (name, workers, seconds, kind): kind picks the same-work baseline.
        rows: list[tuple[str, int, float, str]] = []

        env = {**os.environ, "PCAPLENS_READ_THREADS": "1"}

        def one_process() -> None:
            for n in names:
                subprocess.run([str(args.cli), "analyze", "--json", n], env=env,
                               stdout=subprocess.DEVNULL, check=True)

        t, _ = timed(one_process, runs)
        base = packets / t
        rows.append(("one process: pcaplens analyze per file (full report)", 1, t, "report"))
        t, _ = timed(lambda: pcaplens.merge([pcaplens.partial(n) for n in names]), runs)
        rows.append(("one process: pcaplens.partial per file + merge", 1, t, "summary"))
        t, _ = timed(lambda: sum(b.num_rows for n in names
                                 for b in pcaplens.flow_batches(n, flows_limit=None)), runs)
        rows.append(("one process: pcaplens.flow_batches per file", 1, t, "flows"))

        def jobs(n: int) -> None:
            subprocess.run([str(args.cli), "analyze", "--jobs", str(n), "--json", *names],
                           stdout=subprocess.DEVNULL, check=True)

        for n in (1, 2):
            t, _ = timed(lambda: jobs(n), runs)
            rows.append((f"pcaplens analyze --jobs {n} (merged)", n, t, "summary"))

        if "ray" not in skip:
            import logging

            import ray

            import pcaplens.ray as pr

            logging.getLogger("ray").setLevel(logging.WARNING)

            for n in (1, 2):
                temp = Path("/tmp") / f"pcaplens-bench-ray-{os.getpid()}"
                t, _ = timed(lambda: ray.init(num_cpus=n, object_store_memory=512 << 20,
                                              _temp_dir=str(temp), include_dashboard=False,
                                              log_to_driver=False))
                print(f"ray start-up ({n} CPU): {t:.2f} s")
                ctx = ray.data.DataContext.get_current()
                ctx.enable_progress_bars = False
                logging.getLogger("ray.data").setLevel(logging.WARNING)
                pr.summary(names[:2])
                pr.read_pcaps(names[:2]).count()
                t, _ = timed(lambda: pr.summary(names), runs)
                rows.append((f"ray summary (merged partials), {n} CPU", n, t, "summary"))
                t, count = timed(lambda: pr.read_pcaps(names).count(), runs)
                rows.append((f"ray read_pcaps().count() ({count:,} flows), {n} CPU", n, t, "flows"))
                ray.shutdown()
                shutil.rmtree(temp, ignore_errors=True)

        if "spark" not in skip:
            from pyspark.sql import SparkSession

            import pcaplens.spark as ps

            for n in (1, 2):
                t, spark = timed(lambda: (
                    SparkSession.builder.master(f"local[{n}]").appName("pcaplens-bench")
                    .config("spark.sql.shuffle.partitions", str(n))
                    .config("spark.ui.enabled", "false")
                    .config("spark.ui.showConsoleProgress", "false")
                    .config("spark.driver.host", "127.0.0.1")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .getOrCreate()))
                spark.sparkContext.setLogLevel("ERROR")  # type: ignore[attr-defined]
                master = spark.sparkContext.master  # type: ignore[attr-defined]
                again = " (the JVM was already up)" if n > 1 else ""
                print(f"spark start-up ({master}): {t:.2f} s{again}")

                def df(ps_names: list[str]):  # type: ignore[no-untyped-def]
                    return spark.createDataFrame([(x,) for x in ps_names], "path string").repartition(n)  # type: ignore[attr-defined]

                ps.summary(df(names[:2]))
                ps.flows(df(names[:2])).count()
                t, _ = timed(lambda: ps.summary(df(names)), runs)
                rows.append((f"spark summary (merged partials), local[{n}]", n, t, "summary"))
                t, count = timed(lambda: ps.flows(df(names)).count(), runs)
                rows.append((f"spark flows().count() ({count:,} flows), local[{n}]", n, t, "flows"))
                spark.stop()  # type: ignore[attr-defined]

        same = {kind: packets / t for name, n, t, kind in rows if name.startswith("one process")}
        print()
        print(f"{'run':58} {'workers':>7} {'seconds':>8} {'pkt/s/worker':>13} "
              f"{'vs analyze':>11} {'vs same work':>13}")
        for name, n, t, kind in rows:
            per = packets / t / n
            print(f"{name:58} {n:7d} {t:8.2f} {per:13,.0f} {per / base:10.2f}x "
                  f"{per / same[kind]:12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
