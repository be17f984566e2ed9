"""Per-build counters of a run with several builds back to back.

The defrag_mode changelogs ran 15 kernel builds in a row and reported how
vanilla THP success fell from build to build as memory aged (a211c6550efc:
62k THP allocations in the first run, 33k in the last).  A ``[jobs]``
scenario with ``builds = N`` records when each build starts
(``result.meta["build_starts"]``); :func:`per_build` turns the run's
cumulative timeseries into one row per build.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: /proc/vmstat counters of the per-build table (cumulative in the timeseries)
BUILD_COUNTERS = ["thp_fault_alloc", "thp_fault_fallback", "compact_stall", "allocstall",
                  "pgscan_kswapd", "pgscan_direct", "pswpout", "pswpin"]


def per_build(result) -> pd.DataFrame:
    """One row per build: each counter's increase over the build, and the
    THP fallback rate (fallback / (alloc + fallback)).  A run without builds
    is one build."""
    ts = result.timeseries
    starts = list(result.meta.get("build_starts") or [0.0])
    ends = starts[1:] + [float(result.duration_s)]
    t = ts.index.to_numpy(dtype=float)
    rows = []
    for k, (a, b) in enumerate(zip(starts, ends)):
        ia = max(int(np.searchsorted(t, a, side="right")) - 1, 0)
        ib = max(int(np.searchsorted(t, b, side="right")) - 1, 0)
        row = {"build": k + 1, "start_s": a, "end_s": b}
        for c in BUILD_COUNTERS:
            row[c] = int(ts[c].iloc[ib] - ts[c].iloc[ia])
        n = row["thp_fault_alloc"] + row["thp_fault_fallback"]
        row["thp_fallback_rate"] = row["thp_fault_fallback"] / n if n else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("build")
