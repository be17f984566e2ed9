#!/usr/bin/env python3
"""Benchmarks (figures printed, never timed tests).

    python benchmarks/run.py [--quick] [--json]

Measures, on this machine: alloc/free events per second without pressure
(`steady`), events per second and simulated seconds per wall second under
pressure (`storm`), bytes of model state per page, and the cold start (first
run in a fresh process, warm numba cache).  The first invocation compiles the
kernels (minutes); the figures are taken after a warm-up run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from defragsim import Config, run
    from defragsim.state import make_state, state_nbytes
    from defragsim.workload import build_workload

    out = {"machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}"}
    mem = "1G" if args.quick else "4G"
    # warm-up (compiles on a cold cache)
    run("steady", Config(mem="64M"), duration=0.5)

    cfg = Config(mem=mem, seed=1)
    wl = build_workload("steady", cfg)
    t = time.perf_counter()
    r = run(wl, cfg)
    dt = time.perf_counter() - t
    out["events_per_s_fastpath"] = len(wl) / dt
    out["steady_mem"] = mem

    cfg = Config(mem="1G", defrag_mode=1, seed=1)
    wl = build_workload("storm", cfg, duration=10 if args.quick else 30)
    t = time.perf_counter()
    r = run(wl, cfg)
    dt = time.perf_counter() - t
    out["events_per_s_storm"] = len(wl) / dt
    out["sim_s_per_wall_s"] = r.duration_s / dt

    st = make_state(Config(mem="1G"))
    out["bytes_per_page"] = state_nbytes(st) / Config(mem="1G").nr_pages

    code = "import time;t=time.perf_counter();from defragsim import run,Config;" \
           "run('steady',Config(mem='256M'),duration=1.0);print(time.perf_counter()-t)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    out["cold_start_s"] = float(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else None

    for k, v in out.items():
        print(f"{k:>24}: {v:.3f}" if isinstance(v, float) else f"{k:>24}: {v}")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
