#!/usr/bin/env python3
"""Patch-explorer benchmark (figures printed, never a timed test).

    python benchmarks/explorer.py

The explorer's default configuration: the first run (compiles on a cold numba
cache), then reruns after toggling patches 3 and 4 (not cached: model +
redraw), a cached rerun (redraw only) and slider moves (map redraw only).
The two figures are built once; reruns and slider moves update them in place.

``explorer_slider_s`` is one slider move (median of several);
``default_explorer_warm_s`` (the name ``benchmarks/run.py`` reports) is the
median uncached rerun.
"""
from __future__ import annotations

import statistics
import time


def measure(reruns: int = 3, moves: int = 5) -> dict:
    """Seconds: ``build_s`` (constructing the default explorer), ``first_s``,
    ``rerun_s`` (median uncached rerun), ``model_s`` (median of the model's
    part of those), ``cached_s``, ``slider_s`` (median of ``moves`` slider
    moves)."""
    from defragsim.widgets import PatchExplorer
    out = {}
    t = time.perf_counter()
    ex = PatchExplorer()
    out["build_s"] = time.perf_counter() - t
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
    moved = []
    for i in range(moves):
        t = time.perf_counter()
        ex.slider.value = i * ex.slider.max // max(moves, 1)
        moved.append(time.perf_counter() - t)
    out["slider_s"] = statistics.median(moved)
    return out


def main() -> int:
    m = measure()
    print(f"building the explorer: {m['build_s']:.2f} s")
    print(f"first run: {m['first_s']:.2f} s ({m['status']})")
    print("rerun, uncached (model + redraw): " + ", ".join(f"{x:.2f} s" for x in m["reruns_s"])
          + f"  (model alone, median: {m['model_s']:.2f} s)")
    print(f"rerun, cached (redraw only): {m['cached_s']:.2f} s")
    print(f"slider move (map redraw, median): {m['slider_s'] * 1e3:.0f} ms")
    print(f"explorer_slider_s: {m['slider_s']:.3f}")
    print(f"default_explorer_warm_s: {m['rerun_s']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
