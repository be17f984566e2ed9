"""A replayed readahead window follows the model's outcomes, not the trace's
(mm/readahead.c: page_cache_ra_order() allocates a window's large folios
until one fails, then do_page_cache_ra() reads the rest as order-0 folios)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from defragsim import Config, run
from defragsim import constants as C
from defragsim.gfp import parse_gfp
from defragsim.workloads._traceparse import readahead_marks
from defragsim.workloads.replay_ops import trace_workload
from defragsim.workloads.trace import CSV_HEADER, EV_ALLOC, EV_FREE, read_trace

#: readahead_gfp_mask() of a page-cache mapping, as the shipped traces show it
RA = 0x152c4a
NOWAIT = parse_gfp("GFP_NOWAIT")


def _marks(t, ev, task, order, pfn, is_ra, nr_tasks=4):
    last = np.full(nr_tasks, -1, np.int64)
    failed = np.zeros(nr_tasks, np.int8)
    return readahead_marks(np.array(t, np.int64), np.array(ev, np.int8),
                           np.array(task, np.int64), np.array(order, np.int8),
                           np.array(pfn, np.int64), np.array(is_ra, bool), last, failed,
                           1_000_000, EV_ALLOC, C.RA_WINDOW_START, C.RA_HEAD, C.RA_FAILED_HEAD,
                           C.RA_FALLBACK, C.RA_SLOT_SHIFT, C.NR_RA_SLOTS)


def test_marks_windows_heads_failures_and_fallback():
    # task 0: a window of two folios, the second failed, then its order-0
    # fallback; a later window (2 ms on) starts afresh.  Task 1 interleaves.
    t = [0, 5_000, 10_000, 12_000, 13_000, 14_000, 3_000_000, 3_010_000]
    ev = [EV_ALLOC, EV_ALLOC, EV_ALLOC, EV_ALLOC, EV_FREE, EV_ALLOC, EV_ALLOC, EV_ALLOC]
    task = [0, 0, 0, 1, 0, 0, 0, 0]
    order = [9, 9, 0, 0, 0, 0, 0, 9]
    pfn = [512, -1, 7, 8, 7, 9, 10, 1024]
    is_ra = [True, True, True, True, False, True, True, True]
    m = _marks(t, ev, task, order, pfn, is_ra)
    flags = m & ((1 << C.RA_SLOT_SHIFT) - 1)
    slot = m >> C.RA_SLOT_SHIFT
    assert flags.tolist() == [
        C.RA_WINDOW_START | C.RA_HEAD, C.RA_HEAD | C.RA_FAILED_HEAD, C.RA_FALLBACK,
        C.RA_WINDOW_START, 0, C.RA_FALLBACK, C.RA_WINDOW_START, C.RA_HEAD]
    assert slot[3] == 1 and slot[0] == slot[1] == slot[7] == 0


def _trace(tmp_path: Path, rows) -> Path:
    p = tmp_path / "t.csv"
    p.write_text("\n".join([CSV_HEADER] + [",".join(str(x) for x in r) for r in rows]) + "\n")
    return p


def _run(p: Path):
    cfg = Config(mem="64M", nr_cpus=2)
    wl, st = trace_workload(read_trace(p), nr_cpus=cfg.nr_cpus, nr_pages=cfg.nr_pages,
                            snapshot=None)
    return run(wl, cfg)


def _requests(r, mt: str) -> int:
    """Allocation requests of a migratetype (the latency histogram counts each)."""
    lat = r.latency()
    return int(lat.loc[lat.migratetype == mt, "count"].sum())


def test_a_folio_the_kernel_failed_and_the_model_gets_is_kept_and_reads_on_in_folios(tmp_path):
    """On an empty machine the model gets the order-9 folio the kernel failed:
    it keeps it, its 512 pages stand for the first 512 of the kernel's
    order-0 fallback reads, and the next 512 are read as one more folio:
    two allocation requests instead of 1 + 1,024."""
    rows = [(1000, 0, 200, "A", -1, 9, 1, f"{RA:x}", "", "", "")]
    rows += [(1000 + 10 * k, 0, 200, "A", 4096 + k, 0, 1, f"{RA:x}", "", "", "")
             for k in range(1, 1025)]
    r = _run(_trace(tmp_path, rows))
    assert int(r.timeseries["nr_file_lru"].iloc[-1]) == 1024
    assert _requests(r, "movable") == 2
    assert int(r.timeseries["alloc_failed"].iloc[-1]) == 0


def test_a_folio_the_model_fails_turns_the_rest_of_the_window_to_order0(tmp_path):
    """Memory full of unmovable pages with every other one freed: no free
    pageblock, nothing to reclaim or migrate.  The model fails the first
    order-9 readahead folio the kernel got; like the kernel's readahead, it
    reads that folio's range and the rest of the window (the kernel's second
    folio) as order-0 folios."""
    n = 16384
    rows = [(10 + k, 0, 100, "A", k, 0, 0, f"{NOWAIT:x}", "", "", "") for k in range(n)]
    rows += [(200_000 + k, 0, 100, "F", k, 0, "", "", "", "", "") for k in range(0, n, 2)]
    t0 = 1_000_000
    rows += [(t0, 1, 200, "A", 1 << 20, 9, 1, f"{RA:x}", "", "", ""),
             (t0 + 5_000, 1, 200, "A", (1 << 20) + 512, 9, 1, f"{RA:x}", "", "", "")]
    r = _run(_trace(tmp_path, rows))
    ts = r.timeseries
    assert int(ts["nr_file_lru"].iloc[-1]) == 1024
    # one readahead folio failed: not the second (the model's window had
    # fallen back to order-0 by then), no order-0 read either
    failed = r.diagnostics["alloc_failed"]
    assert failed.get("9/movable") == 1 and "0/movable" not in failed
