#!/usr/bin/env python3
"""Patch-explorer benchmark (figures printed, never a timed test).

    python benchmarks/explorer.py

The explorer's default configuration: the first run (compiles on a cold numba
cache), then reruns after toggling patches 3 and 4 (not cached: model +
redraw), a cached rerun (redraw only) and a slider move (map redraw only).
"""
from __future__ import annotations

import statistics
import time


def measure(reruns: int = 3) -> dict:
    """Seconds: ``first_s``, ``rerun_s`` (median uncached rerun), ``model_s``
    (median of the model's part of those), ``cached_s``, ``slider_s``."""
    from defragsim.widgets import PatchExplorer
    ex = PatchExplorer()
    out = {}
    t = time.perf_counter()
    ex.run()
    out["first_s"] = time.perf_counter() - t
    out["status"] = ex.status.value
    times, model = [], []
    for i in range(reruns):
        on = i % 2 == 0
        ex.patch_boxes[2].value = ex.patch_boxes[3].value = on
        ex.cache.clear()
        t = time.perf_counter()
        ex.run()
        times.append(time.perf_counter() - t)
        model.append(ex.result.elapsed_s)
    out["reruns_s"] = times
    out["rerun_s"] = statistics.median(times)
    out["model_s"] = statistics.median(model)
    ex.patch_boxes[2].value = ex.patch_boxes[3].value = False
    ex.run()
    ex.patch_boxes[2].value = ex.patch_boxes[3].value = True
    t = time.perf_counter()
    ex.run()
    out["cached_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ex.slider.value = 0
    out["slider_s"] = time.perf_counter() - t
    return out


def main() -> int:
    m = measure()
    print(f"first run: {m['first_s']:.2f} s ({m['status']})")
    print("rerun, uncached (model + redraw): " + ", ".join(f"{x:.2f} s" for x in m["reruns_s"])
          + f"  (model alone, median: {m['model_s']:.2f} s)")
    print(f"rerun, cached (redraw only): {m['cached_s']:.2f} s")
    print(f"slider move (map redraw): {m['slider_s']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
