#!/usr/bin/env python3
"""Foundation benchmark: pcaplens analyze vs tshark and capinfos on one capture.

Generates a 1,000,000-packet capture with `pcaplens generate`, then times
`pcaplens analyze`, `tshark -n -q -z conv,tcp` and `capinfos` on the same file
in the same run, and prints packets/s, MB/s, peak RSS and the ratios. A second
part checks that memory does not grow with the number of packets: the same
flows with 10x the packets must keep peak RSS within 10%.

With `--baseline PATH` (another build of pcaplens, e.g. of the previous
commit) it also times that binary on the same file in the same run and prints
this build's time as a ratio of the baseline's.

A third part times the same tools on a flow-heavy capture (`generate
--scenario flow-heavy`: scans, DNS lookups with failures, short web
connections; about one flow per five packets, ~20,000 live at once) and at
twice its size, and prints the ratios to the flow floor (bench/flow_floor.c)
and to tshark, peak RSS, bytes of RSS per live flow and nanoseconds per flow.

Usage: python3 bench/bench.py [--packets N] [--skip-tshark] [--extra-args "..."] [--baseline PATH]
                              [--only-flow-heavy] [--skip-flow-heavy]
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PCAPLENS = os.path.join(ROOT, "target", "release", "pcaplens")


def run(cmd, stdout=subprocess.DEVNULL, env=None):
    """Run cmd; return (wall seconds, peak RSS in MB, CPU seconds) of that process.

    Peak RSS comes from GNU time when present: a child forked from this Python
    process would inherit Python's own high-water mark in ru_maxrss.
    """
    gnu_time = shutil.which("time") and os.path.exists("/usr/bin/time")
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-f", "%M %U %S", "-o", tf.name, *cmd] if gnu_time else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(full, stdout=stdout, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.exit(f"command failed ({code}): {' '.join(cmd)}\n{err}")
        if gnu_time:
            kb, user, system = tf.read().split()[-3:]
            return wall, int(kb) / 1024.0, float(user) + float(system)
        return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def best_of(n, cmd, env=None):
    """Best wall and CPU time of n runs, and the largest peak RSS."""
    runs = [run(cmd, env=env) for _ in range(n)]
    return min(r[0] for r in runs), max(r[1] for r in runs), min(r[2] for r in runs)


def generate(path, packets, flows=None, scenario="normal"):
    cmd = [PCAPLENS, "generate", "--scenario", scenario, "--packets", str(packets), "--seed", "7", "-o", path]
    if flows:
        cmd += ["--flows", str(flows)]
    subprocess.run(cmd, check=True)


def compare_builds(args, big, packets, extra):
    """This build against `--baseline`, runs interleaved so that a load on
    the machine hits both alike; the same report is required of both."""
    a = subprocess.run([args.baseline, "analyze", "--json", *extra, big], capture_output=True, check=True).stdout
    b = subprocess.run([PCAPLENS, "analyze", "--json", *extra, big], capture_output=True, check=True).stdout
    print(f"baseline {args.baseline}: report {'identical' if a == b else 'DIFFERENT'} to this build's")
    for label, env_over, more in (("default", {}, []), ("one thread", {"PCAPLENS_READ_THREADS": "1"}, []),
                                  ("--no-detect", {}, ["--no-detect"])):
        env = dict(os.environ, **env_over)
        base, this = [], []
        for _ in range(args.repeat):
            base.append(run([args.baseline, "analyze", "--json", *more, *extra, big], env=env))
            this.append(run([PCAPLENS, "analyze", "--json", *more, *extra, big], env=env))
        bw, bc = min(r[0] for r in base), min(r[2] for r in base)
        tw, tc = min(r[0] for r in this), min(r[2] for r in this)
        print(f"  {label:<12} baseline {bw:.3f} s wall {bc:.3f} s CPU; this build {tw:.3f} s wall {tc:.3f} s CPU;"
              f" this/baseline {tw / bw:.3f} (wall) {tc / bc:.3f} (CPU); {packets / tw:,.0f} packets/s")


def flow_floor_exe(tmp):
    """bench/flow_floor.c built here (None without a C compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    exe = os.path.join(tmp, "flow_floor")
    if not os.path.exists(exe):
        subprocess.run([cc, "-O2", "-o", exe, os.path.join(ROOT, "bench", "flow_floor.c")], check=True)
    return exe


def flow_heavy(args, tmp, extra):
    """The flow-heavy capture and twice it: pcaplens (every detector, one and
    two threads, --no-detect) against the flow floor and tshark, with memory
    per live flow. Every figure of a row comes from the same run."""
    import json

    floor_exe = flow_floor_exe(tmp)
    tiny = os.path.join(tmp, "tiny.pcap")
    generate(tiny, 2000, scenario="flow-heavy")
    # The process with (nearly) no flows: what a live flow's bytes add to.
    _, rss_base, _ = best_of(1, [PCAPLENS, "analyze", "--json", *extra, tiny])
    print(f"\nflow-heavy captures (baseline RSS of a 2,000-packet analysis: {rss_base:.1f} MB)")
    results = []
    for scale in (1, 2):
        path = os.path.join(tmp, f"flow-heavy-{scale}x.pcap")
        generate(path, args.packets * scale, scenario="flow-heavy")
        report = json.loads(subprocess.run([PCAPLENS, "analyze", "--json", *extra, path],
                                           capture_output=True, check=True).stdout)
        packets = report["summary"]["packets"]
        flows = report["summary"]["flows"]["total"]
        live = report["summary"]["flows"]["peak_live"]
        size_mb = os.path.getsize(path) / 1e6
        one_env = dict(os.environ, PCAPLENS_READ_THREADS="1")
        full = best_of(args.repeat, [PCAPLENS, "analyze", "--json", *extra, path])
        one = best_of(args.repeat, [PCAPLENS, "analyze", "--json", *extra, path], env=one_env)
        nodetect = best_of(args.repeat, [PCAPLENS, "analyze", "--json", "--no-detect", *extra, path])
        floor = best_of(args.repeat, [floor_exe, path]) if floor_exe else None
        tshark = None
        if not args.skip_tshark and shutil.which("tshark"):
            tshark = best_of(1, ["tshark", "-n", "-q", "-z", "conv,tcp", "-r", path])
        print(f"\n{scale}x: {packets:,} packets, {flows:,} flows ({packets / flows:.1f} packets a flow),"
              f" {live:,} live at most, {size_mb:.0f} MB")
        print(f"{'tool':<34}{'wall s':>9}{'CPU s':>8}{'peak RSS MB':>13}{'x floor':>9}{'tshark/x':>10}")
        rows = [("pcaplens analyze (every detector)", full), ("pcaplens analyze, one thread", one),
                ("pcaplens --no-detect", nodetect)]
        if floor:
            rows.append(("flow floor (flow_floor.c)", floor))
        if tshark:
            rows.append(("tshark -n -q -z conv,tcp", tshark))
        for name, (secs, rss, cpu) in rows:
            vs_floor = f"{secs / floor[0]:>9.2f}" if floor else f"{'-':>9}"
            vs_tshark = f"{tshark[0] / secs:>10.1f}" if tshark else f"{'-':>10}"
            print(f"{name:<34}{secs:>9.3f}{cpu:>8.3f}{rss:>13.1f}{vs_floor}{vs_tshark}")
        per_live = (full[1] - rss_base) * 1e6 / max(live, 1)
        print(f"  bytes of RSS per live flow: {per_live:,.0f} ((peak {full[1]:.1f} MB - {rss_base:.1f} MB) / {live:,});"
              f" {full[0] / flows * 1e9:,.0f} ns a flow (wall), {full[2] / flows * 1e9:,.0f} ns (CPU);"
              f" second thread: {one[0] / full[0]:.2f}x the one-thread speed")
        results.append((scale, full))
    (_, a), (_, b) = results
    print(f"\ntwice the packets and flows: peak RSS {a[1]:.1f} -> {b[1]:.1f} MB ({(b[1] - a[1]) / a[1] * 100:+.1f}%,"
          f" target within 10%); time {b[0] / a[0]:.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--skip-tshark", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--extra-args", default="", help="extra arguments for pcaplens analyze")
    ap.add_argument("--baseline", help="another pcaplens binary to time on the same file (before/after)")
    ap.add_argument("--only-baseline", action="store_true",
                    help="with --baseline: time the two builds and stop (no tshark, no memory part)")
    ap.add_argument("--only-flow-heavy", action="store_true", help="only the flow-heavy part")
    ap.add_argument("--skip-flow-heavy", action="store_true", help="without the flow-heavy part")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pcaplens-cli"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="pcaplens-bench-")
    if args.only_flow_heavy:
        flow_heavy(args, tmp, args.extra_args.split())
        shutil.rmtree(tmp)
        return
    big = os.path.join(tmp, "bench.pcap")
    generate(big, args.packets)
    size_mb = os.path.getsize(big) / 1e6
    out = subprocess.run([PCAPLENS, "analyze", "--json", big], capture_output=True, check=True).stdout
    import json

    packets = json.loads(out)["summary"]["packets"]
    print(f"capture: {packets:,} packets, {size_mb:.1f} MB ({big})")

    extra = args.extra_args.split()
    if args.baseline:
        compare_builds(args, big, packets, extra)
        if args.only_baseline:
            shutil.rmtree(tmp)
            return

    rows = []
    pl = best_of(args.repeat, [PCAPLENS, "analyze", "--json", *extra, big])
    rows.append(("pcaplens analyze --json", pl))
    # The foundation alone (flows and statistics, no detectors): "before" the
    # failure and security detection of issues 3 and 4.
    rows.append(("pcaplens --no-detect", best_of(args.repeat, [PCAPLENS, "analyze", "--json", "--no-detect", *extra, big])))
    if shutil.which("capinfos"):
        rows.append(("capinfos", best_of(1, ["capinfos", big])))
    if not args.skip_tshark and shutil.which("tshark"):
        rows.append(("tshark -n -q -z conv,tcp", best_of(1, ["tshark", "-n", "-q", "-z", "conv,tcp", "-r", big])))

    # The floor: reading the file and nothing else, in the 256 KiB reads the
    # CLI makes, on one core and on both (two halves at once). Any analysis
    # costs at least this, so it bounds the ratio any tool can reach here.
    chunk = 256 << 10
    blocks = (os.path.getsize(big) + chunk - 1) // chunk
    floor1 = best_of(args.repeat, ["dd", f"if={big}", "of=/dev/null", "bs=256K", "status=none"])
    floor2 = best_of(args.repeat, ["sh", "-c",
        f"dd if={big} of=/dev/null bs=256K count={blocks // 2} status=none & "
        f"dd if={big} of=/dev/null bs=256K skip={blocks // 2} status=none & wait"])

    load = os.getloadavg()[0]
    print(f"\n{'tool':<28}{'wall s':>9}{'CPU s':>8}{'packets/s':>13}{'MB/s':>9}{'peak RSS MB':>13}")
    for name, (secs, rss, cpu) in rows:
        print(f"{name:<28}{secs:>9.3f}{cpu:>8.3f}{packets / secs:>13,.0f}{size_mb / secs:>9.1f}{rss:>13.1f}")
    print(f"(load average {load:.1f}: on a busy machine compare CPU seconds)")
    for label, idx in (("pcaplens analyze", 0), ("pcaplens --no-detect", 1)):
        wall, _, cpu = rows[idx][1]
        for name, (secs, _, ocpu) in rows[2:]:
            print(f"{label} vs {name}: {secs / wall:.1f}x faster (wall), {ocpu / cpu:.1f}x (CPU)")
    rss = rows[0][1][1]
    print(f"pcaplens peak RSS: {rss:.1f} MB (target < 100 MB)")

    # On two cores the CLI keeps the flow table on its reading thread when the
    # cores share a cache and on the analysing one otherwise (a VM's cores may
    # sit on different chiplets); every way, fixed, for the record.
    for threads, flows in (("1", "reading"), ("2", "reading"), ("2", "analysis")):
        env = dict(os.environ, PCAPLENS_READ_THREADS=threads, PCAPLENS_FLOW_THREAD=flows)
        secs, _, cpu = best_of(args.repeat, [PCAPLENS, "analyze", "--json", *extra, big], env=env)
        tshark_row = [r for r in rows if r[0].startswith("tshark")]
        vs = f", {tshark_row[0][1][0] / secs:.1f}x tshark (wall)" if tshark_row else ""
        how = "one thread" if threads == "1" else f"two threads, flows on the {flows} one"
        print(f"pcaplens analyze, {how}: {secs:.3f} s wall, {cpu:.3f} s CPU{vs}")
    tshark = next((r[1] for r in rows if r[0].startswith("tshark")), None)

    # Two baselines that say how far any design could go here. The flow floor
    # (bench/flow_floor.c: parse and count 5-tuples, nothing else) is what a
    # flow tool cannot go below. Two one-thread analyses side by side show
    # whether both cores deliver full speed on independent work: if so, a
    # perfect split of one analysis over both takes half the one-thread time.
    one_env = dict(os.environ, PCAPLENS_READ_THREADS="1")
    one = best_of(args.repeat, [PCAPLENS, "analyze", "--json", *extra, big], env=one_env)
    pair_cmd = " ".join(f"{shlex.quote(PCAPLENS)} analyze --json {' '.join(map(shlex.quote, extra))} {shlex.quote(big)} >/dev/null &"
                        for _ in range(2)) + " wait"
    pair = best_of(args.repeat, ["sh", "-c", pair_cmd], env=one_env)
    floor_flows = None
    exe = flow_floor_exe(tmp)
    if exe:
        floor_flows = best_of(args.repeat, [exe, big])
    print(f"\nbaselines: one-thread analysis {one[0]:.3f} s; two of them side by side {pair[0]:.3f} s"
          f" ({one[0] / pair[0] * 2:.2f} analyses' worth of work per {one[0]:.3f} s on both cores)")
    if tshark:
        print(f"  a perfect split of one analysis over both cores: about {one[0] / 2:.3f} s,"
              f" {tshark[0] / (one[0] / 2):.1f}x tshark (the serial end of the report not counted)")
    if floor_flows:
        vs = f", {tshark[0] / floor_flows[0]:.1f}x tshark" if tshark else ""
        print(f"  flow floor (bench/flow_floor.c, 5-tuple counts only, one core): {floor_flows[0]:.3f} s{vs};"
              f" pcaplens one-thread analysis = {one[0] / floor_flows[0]:.1f}x the floor")
    print(f"\nread-only floor (dd, no parsing): one core {floor1[0]:.3f} s, two cores {floor2[0]:.3f} s")
    if tshark:
        print(f"  tshark / floor: {tshark[0] / floor1[0]:.1f}x (one core), {tshark[0] / floor2[0]:.1f}x (two cores);"
              f" 50x tshark is {tshark[0] / 50:.3f} s for the whole analysis")
        # The same target as a CPU budget: every core busy for the whole
        # target time, minus what the read alone costs, is what any decoding
        # and analysis may spend here.
        cpus = len(os.sched_getaffinity(0))
        budget = cpus * tshark[0] / 50
        left = budget - floor1[2]
        print(f"  as CPU time: {budget:.3f} s on {cpus} CPUs; the read alone takes {floor1[2]:.3f} s,"
              f" leaving {left:.3f} s ({left / packets * 1e9:.0f} ns a packet) for decoding and analysis")
        for label, idx in (("pcaplens analyze", 0), ("pcaplens --no-detect", 1)):
            cpu = rows[idx][1][2]
            print(f"  {label} uses {cpu:.3f} CPU s, {cpu - floor1[2]:.3f} s beyond the read"
                  f" ({(cpu - floor1[2]) / packets * 1e9:.0f} ns a packet)")

    # Memory must not grow with packets: same flows, 10x the packets.
    flows = 2000
    small = os.path.join(tmp, "flows-small.pcap")
    large = os.path.join(tmp, "flows-large.pcap")
    generate(small, max(args.packets // 10, 10_000), flows)
    generate(large, max(args.packets, 100_000), flows)
    _, rss_small, _ = best_of(1, [PCAPLENS, "analyze", "--json", small])
    _, rss_large, _ = best_of(1, [PCAPLENS, "analyze", "--json", large])
    growth = (rss_large - rss_small) / rss_small * 100
    print(f"\nsame {flows} flows: {os.path.getsize(small) / 1e6:.1f} MB -> {rss_small:.1f} MB RSS; "
          f"10x packets ({os.path.getsize(large) / 1e6:.1f} MB) -> {rss_large:.1f} MB RSS ({growth:+.1f}%, target within 10%)")
    if not args.skip_flow_heavy:
        flow_heavy(args, tmp, extra)
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
