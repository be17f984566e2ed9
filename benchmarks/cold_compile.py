#!/usr/bin/env python3
"""Cold compile: the model compiled from an empty numba cache, and where the time goes.

    python benchmarks/cold_compile.py [--top N] [--json]

Runs ``storm`` at 64M for 0.5 s in a fresh process with an empty
``NUMBA_CACHE_DIR`` (a temporary folder), which compiles every kernel a run
needs, and prints the wall time (``cold_compile_s``, Python start-up and
import included) and, from numba's compile events, the time of each
function compiled alone (its callees' compilation excluded) with the part
spent holding LLVM's lock.  ``benchmarks/run.py`` reports the same
``cold_compile_s``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Runs in the fresh process: compile events -> per-function self time.
PROFILE_CODE = r"""
import collections, json, sys, time
from numba.core import event

class SelfTime(event.Listener):
    def __init__(self):
        self.stack, self.llvm_depth, self.llvm_t = [], 0, 0.0
        self.self_s = collections.defaultdict(float)
        self.llvm_s = collections.defaultdict(float)

    def on_start(self, ev):
        if ev.kind == "numba:llvm_lock":
            if self.llvm_depth == 0:
                self.llvm_t = time.perf_counter()
            self.llvm_depth += 1
            return
        self.stack.append([ev.data["dispatcher"].py_func.__qualname__, time.perf_counter(), 0.0])

    def on_end(self, ev):
        if ev.kind == "numba:llvm_lock":
            self.llvm_depth -= 1
            if self.llvm_depth == 0:
                self.llvm_s[self.stack[-1][0] if self.stack else "?"] += time.perf_counter() - self.llvm_t
            return
        name, t, child = self.stack.pop()
        d = time.perf_counter() - t
        self.self_s[name] += d - child
        if self.stack:
            self.stack[-1][2] += d

listener = SelfTime()
event.register("numba:compile", listener)
event.register("numba:llvm_lock", listener)
from defragsim import Config, run
run("storm", Config(mem="64M", defrag_mode=1), duration=0.5)
print(json.dumps({"self_s": listener.self_s, "llvm_s": listener.llvm_s}))
"""


def measure(profile: bool = True) -> dict:
    """Cold compile in a fresh process with an empty cache."""
    with tempfile.TemporaryDirectory(prefix="defragsim-cold-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", PROFILE_CODE], cwd=ROOT, env=env,
                           capture_output=True, text=True)
        wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"cold_compile.py: the cold run failed (exit {p.returncode}):\n{p.stderr[-2000:]}")
    prof = json.loads(p.stdout.strip().splitlines()[-1])
    return {"cold_compile_s": wall, "functions": len(prof["self_s"]),
            "llvm_s": sum(prof["llvm_s"].values()), **({"profile": prof} if profile else {})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--top", type=int, default=15, help="functions listed (default 15)")
    ap.add_argument("--json", action="store_true", help="one JSON object as the last line")
    args = ap.parse_args()
    m = measure()
    prof = m.pop("profile")
    print(f"cold_compile_s: {m['cold_compile_s']:.1f} s ({m['functions']} functions compiled; "
          f"{m['llvm_s']:.1f} s holding LLVM's lock)")
    print(f"{'self s':>8} {'LLVM s':>8}  function")
    for name, s in sorted(prof["self_s"].items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"{s:8.2f} {prof['llvm_s'].get(name, 0.0):8.2f}  {name}")
    if args.json:
        print(json.dumps(m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
