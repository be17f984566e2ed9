#!/usr/bin/env python3
"""Trace benchmarks (figures printed, never timed tests).

    python benchmarks/traces.py [TRACE ...]

For each trace (default: the two 60 s pressure traces shipped in
data/traces, b_pressure_dm0 and c_pressure_dm1, and the perf-script sample):
parse rate in lines per second (after a warm-up, so numba's cache is
loaded), and the wall time of a full
replay (parse + prefill from the snapshot + model) with the events per second
of the model part.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from defragsim.analysis.replay import replay
    from defragsim.workloads.trace import read_trace

    paths = [Path(p) for p in sys.argv[1:]]
    if not paths:
        traces = ROOT / "data" / "traces"
        paths = [traces / d / "page_events.csv.xz" for d in ("b_pressure_dm0", "c_pressure_dm1")]
        perf = ROOT / "data/traces/samples-perf-script.txt.gz"
        paths.append(perf)
    read_trace(ROOT / "data/traces/samples-1s/page_events.csv.xz")      # warm-up
    read_trace(ROOT / "data/traces/samples-perf-script.txt.gz")
    for p in paths:
        t = time.perf_counter()
        tr = read_trace(p)
        dt = time.perf_counter() - t
        print(f"{p.parent.name}/{p.name}: {tr.format}, {tr.lines:,} lines, {len(tr):,} page events, "
              f"parse {dt:.2f} s = {tr.lines / dt / 1e6:.2f} M lines/s")
        t = time.perf_counter()
        rp = replay(p, config_overrides=None if (p.parent / "snap").exists() else {"mem": "1G"})
        dt = time.perf_counter() - t
        r = rp.result
        print(f"  replay {tr.duration_s:.1f} s of trace on {r.config.label()}: {dt:.1f} s wall "
              f"({r.events_processed:,} ops, model {r.elapsed_s:.1f} s = "
              f"{r.events_processed / r.elapsed_s / 1e6:.2f} M ops/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
