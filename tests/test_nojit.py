"""``NUMBA_DISABLE_JIT=1`` runs the same kernels as plain Python, and they give
the same numbers: /proc/vmstat, the model diagnostics, every time-series row,
every extfrag event and every pageblock snapshot of small runs with and
without memory pressure (invariants checked after every chunk in both).  The
JIT changes the speed, never a result; ``benchmarks/run.py`` reports the
speed-up."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json, sys
from defragsim import Config, run
from defragsim.workloads import build_workload
out = {}
for sc, mem, dur in (("steady", "16M", 0.05), ("storm", "32M", 0.3), ("kbuild-thp", "32M", 0.3)):
    cfg = Config(mem=mem, defrag_mode=1, seed=1)
    r = run(build_workload(sc, cfg, duration=dur), cfg, check_invariants=True)
    out[sc] = {"vmstat": r.vmstat, "diagnostics": json.loads(json.dumps(r.diagnostics, default=float)),
               "timeseries": r.timeseries.to_numpy().tolist(), "extfrag": r.extfrag.to_numpy().tolist(),
               "blocks": [s.migratetype.tolist() for s in r.snapshots],
               "counts": [s.counts.tolist() for s in r.snapshots],
               "latency": r.latency_hist.tolist()}
json.dump(out, sys.stdout)
"""


def _run(disable_jit: bool) -> dict:
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    if disable_jit:
        env["NUMBA_DISABLE_JIT"] = "1"
    p = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


@pytest.mark.slow
def test_plain_python_gives_the_numbers_of_the_compiled_kernels():
    jit, py = _run(False), _run(True)
    assert py["storm"]["vmstat"]["pswpout"] > 0            # the pressure paths ran
    assert py["steady"]["vmstat"]["pgalloc_normal"] > 0
    for sc in jit:
        for what in jit[sc]:
            assert py[sc][what] == jit[sc][what], (sc, what)
