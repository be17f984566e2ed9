#!/usr/bin/env python3
"""Patch-explorer benchmark (figures printed, never a timed test).

    python benchmarks/explorer.py

The explorer's default configuration (storm, 512M, 20 s, defrag_mode=1): the
first run (compiles on a cold numba cache), then reruns after toggling patches
3 and 4 (not cached: model + redraw), a cached rerun (redraw only) and a
slider move (map redraw only).
"""
from __future__ import annotations

import time


def main() -> int:
    from defragsim.widgets import PatchExplorer
    ex = PatchExplorer()
    t = time.perf_counter()
    ex.run()
    print(f"first run: {time.perf_counter() - t:.2f} s ({ex.status.value})")
    times = []
    for on in (True, False, True):
        ex.patch_boxes[2].value = ex.patch_boxes[3].value = on
        ex.cache.clear()
        t = time.perf_counter()
        ex.run()
        times.append(time.perf_counter() - t)
    print("rerun, uncached (model + redraw): " + ", ".join(f"{x:.2f} s" for x in times)
          + f"  (model alone: {ex.result.elapsed_s:.2f} s)")
    ex.patch_boxes[2].value = ex.patch_boxes[3].value = False
    ex.run()
    ex.patch_boxes[2].value = ex.patch_boxes[3].value = True
    t = time.perf_counter()
    ex.run()
    print(f"rerun, cached (redraw only): {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    ex.slider.value = 0
    print(f"slider move (map redraw): {time.perf_counter() - t:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
