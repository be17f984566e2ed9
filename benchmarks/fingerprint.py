#!/usr/bin/env python3
"""Result fingerprints: prove that a speed change changed no number.

    python benchmarks/fingerprint.py before.json     # on the old code
    python benchmarks/fingerprint.py after.json      # on the new code
    python benchmarks/fingerprint.py --diff before.json after.json

Each case (scenario x configuration, with and without memory pressure,
direct compaction and capture) is run with the invariants checked after every
chunk, and everything it produced is hashed: /proc/vmstat, the diagnostics,
the time series, every extfrag and compaction event, every pageblock snapshot
(types, per-block counts, free lists) and the latency histogram.  Use a fresh
NUMBA_CACHE_DIR for each side.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time

CASES = [
    ("steady", dict(mem="256M", seed=3), 5.0),
    ("storm", dict(mem="256M", defrag_mode=1, seed=1), 8.0),
    ("storm", dict(mem="256M", defrag_mode=1, patches="all", seed=2), 8.0),
    ("storm", dict(mem="256M", defrag_mode=0, seed=2), 8.0),
    # the storm itself (its onset is random: at 1G/30s it starts for seed 2,
    # not for seed 1)
    ("storm", dict(mem="1G", defrag_mode=1, seed=2), 30.0),
    ("storm", dict(mem="1G", defrag_mode=1, patches="2,3,4", seed=2), 30.0),
    ("kbuild-thp", dict(mem="256M", defrag_mode=1, seed=1), 5.0),
    ("network-burst", dict(mem="256M", seed=1), 5.0),
    ("thpchallenge", dict(mem="256M", defrag_mode=1, patches="all", seed=1), 5.0),
    ("real-pressure", dict(mem="256M", defrag_mode=1, seed=1), 5.0),
    ("samples-1s", dict(defrag_mode=1), None),
]


def fingerprint(r) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(r.vmstat, sort_keys=True, default=str).encode())
    h.update(json.dumps(r.diagnostics, sort_keys=True, default=str).encode())
    for df in (r.timeseries, r.extfrag, r.compaction_events):
        h.update(df.to_csv().encode())
    for s in r.snapshots:
        for a in (s.migratetype, s.counts, s.nr_free_mt):
            h.update(a.tobytes())
    h.update(r.latency_hist.tobytes())
    return h.hexdigest()


def main(argv) -> int:
    if argv[:1] == ["--diff"] and len(argv) == 3:
        a, b = (json.load(open(p)) for p in argv[1:])
        bad = [k for k in a if a[k] != b.get(k)] + [k for k in b if k not in a]
        for k in bad:
            print(f"DIFFERS: {k}")
        print("identical" if not bad else f"{len(bad)} of {len(a)} cases differ")
        return 1 if bad else 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    from defragsim import Config, run
    out = {}
    for sc, kw, dur in CASES:
        t = time.perf_counter()
        r = run(sc, Config(**kw), duration=dur, check_invariants=True)
        key = f"{sc} {kw} {dur:g}s" if dur is not None else f"{sc} {kw}"
        out[key] = fingerprint(r)
        print(f"{key}: {out[key][:16]} ({time.perf_counter() - t:.2f} s; pswpout "
              f"{r.vmstat['pswpout']}, compact_stall {r.vmstat['compact_stall']})", flush=True)
    with open(argv[0], "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
