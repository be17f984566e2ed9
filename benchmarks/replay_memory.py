#!/usr/bin/env python3
"""Peak memory of a replay against the trace's length (figures printed).

    python benchmarks/replay_memory.py [--copies 5]

Builds a trace ``--copies`` times as long as the shipped 60 s pressure trace
(b_pressure_dm0's events repeated, each copy 1 s after the last, with its
snapshot), compressed as the shipped one is (``xz -T2`` when the tool is
there), and replays it and the original in new processes, parsed while the
model runs (the default) and parsed whole first (``stream=False``): wall
seconds and peak RSS (VmHWM) of each, and whether the results are equal.
"""
from __future__ import annotations

import argparse
import json
import lzma
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
TRACE = ROOT / "data/traces/b_pressure_dm0"


def long_trace(out: Path, copies: int) -> int:
    """``copies`` back-to-back copies of TRACE's page events in ``out`` (with
    its snap/ and comm.csv); returns the lines."""
    raw = lzma.decompress((TRACE / "page_events.csv.xz").read_bytes())
    head, _, body = raw.partition(b"\n")
    lines = body.rstrip(b"\n").split(b"\n")
    t = [int(x.split(b",", 1)[0]) for x in lines]
    rest = [x.split(b",", 1)[1] for x in lines]
    span = t[-1] - t[0] + 1_000_000_000
    parts = [head + b"\n"]
    for k in range(copies):
        parts.append(b"".join(b"%d,%s\n" % (a + k * span, b) for a, b in zip(t, rest)))
    data = b"".join(parts)
    if shutil.which("xz"):
        comp = subprocess.run(["xz", "-T2", "-6", "-c"], input=data, capture_output=True,
                              check=True).stdout
    else:
        comp = lzma.compress(data, preset=6)
    (out / "page_events.csv.xz").write_bytes(comp)
    shutil.copytree(TRACE / "snap", out / "snap")
    shutil.copy(TRACE / "comm.csv", out / "comm.csv")
    return len(lines) * copies


def main() -> int:
    from run import REPLAY_CHILD_CODE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="defragsim-long-") as d:
        n = long_trace(Path(d), args.copies)
        print(f"{'trace':>24} {'lines':>12} {'mode':>7} {'wall s':>7} {'peak RSS MB':>12}")
        for name, path, lines in (("b_pressure_dm0 (60 s)", TRACE / "page_events.csv.xz", None),
                                  (f"{args.copies} copies", Path(d) / "page_events.csv.xz", n)):
            vm = {}
            for mode in ("stream", "whole"):
                p = subprocess.run([sys.executable, "-c", REPLAY_CHILD_CODE, str(path), mode],
                                   capture_output=True, text=True)
                if p.returncode != 0:
                    print(p.stderr[-2000:], file=sys.stderr)
                    return 1
                r = json.loads(p.stdout.strip().splitlines()[-1])
                vm[mode] = r["vmstat"]
                print(f"{name:>24} {lines or n // args.copies:>12,} {mode:>7} {r['s']:>7.1f} "
                      f"{r['maxrss_mb']:>12,.0f}", flush=True)
            print(f"{'':>24} results equal: {vm['stream'] == vm['whole']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
