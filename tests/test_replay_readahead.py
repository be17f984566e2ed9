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
    task_slot = np.full(nr_tasks, -1, np.int64)
    slot_task = np.full(C.NR_RA_SLOTS, -1, np.int64)
    slot_last = np.full(C.NR_RA_SLOTS, -1, np.int64)
    collisions = np.zeros(1, np.int64)
    m = readahead_marks(np.array(t, np.int64), np.array(ev, np.int8), np.array(task, np.int64),
                        np.array(order, np.int8), np.array(pfn, np.int64),
                        np.array(is_ra, bool), last, failed, task_slot, slot_task, slot_last,
                        1_000_000, EV_ALLOC, C.RA_WINDOW_START, C.RA_HEAD, C.RA_FAILED_HEAD,
                        C.RA_FALLBACK, C.RA_SLOT_SHIFT, C.NR_RA_SLOTS, collisions)
    return m & ((1 << C.RA_SLOT_SHIFT) - 1), m >> C.RA_SLOT_SHIFT


def test_marks_windows_heads_failures_and_fallback():
    # task 0: a window of two folios, the second failed, then its order-0
    # fallback; a large folio after the fallback starts the next window (the
    # kernel's loop broke off); a later window (2 ms on) starts afresh.
    # Task 1 reads meanwhile: a slot of its own.
    t = [0, 5_000, 10_000, 12_000, 13_000, 14_000, 20_000, 3_000_000, 3_010_000]
    ev = [EV_ALLOC, EV_ALLOC, EV_ALLOC, EV_ALLOC, EV_FREE, EV_ALLOC, EV_ALLOC, EV_ALLOC, EV_ALLOC]
    task = [0, 0, 0, 1, 0, 0, 0, 0, 0]
    order = [9, 9, 0, 0, 0, 0, 9, 0, 9]
    pfn = [512, -1, 7, 8, 7, 9, 1536, 10, 1024]
    is_ra = [True, True, True, True, False, True, True, True, True]
    flags, slot = _marks(t, ev, task, order, pfn, is_ra)
    assert flags.tolist() == [
        C.RA_WINDOW_START | C.RA_HEAD, C.RA_HEAD | C.RA_FAILED_HEAD, C.RA_FALLBACK,
        C.RA_WINDOW_START, 0, C.RA_FALLBACK, C.RA_WINDOW_START | C.RA_HEAD,
        C.RA_WINDOW_START, C.RA_HEAD]
    assert slot[3] != slot[0] and slot[0] == slot[1] == slot[6] == slot[8]


def test_windows_open_at_once_take_different_slots():
    n = C.NR_RA_SLOTS + 1
    flags, slot = _marks(list(range(n)), [EV_ALLOC] * n, list(range(n)), [9] * n, [512] * n,
                         [True] * n, nr_tasks=n)
    assert len(set(slot[:-1].tolist())) == C.NR_RA_SLOTS     # the last one had to share


def _trace(tmp_path: Path, rows) -> Path:
    p = tmp_path / "t.csv"
    p.write_text("\n".join([CSV_HEADER] + [",".join(str(x) for x in r) for r in rows]) + "\n")
    return p


def _run(p: Path):
    cfg = Config(mem="64M", nr_cpus=2)
    wl, st = trace_workload(read_trace(p), nr_cpus=cfg.cpus, nr_pages=cfg.nr_pages,
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
    assert r.diagnostics["readahead_kept"] == 1 and r.diagnostics["readahead_fell_back"] == 0


def _fragmented(n=16384):
    """Memory full of unmovable pages with every other one freed, and the
    larger free pieces left taken: no free pageblock, nothing to reclaim or
    migrate (the model's 64M has about 16k pages)."""
    rows = [(10 + k, 0, 100, "A", k, 0, 0, f"{NOWAIT:x}", "", "", "") for k in range(n)]
    rows += [(200_000 + k, 0, 100, "F", k, 0, "", "", "", "", "") for k in range(0, n, 2)]
    rows += [(300_000 + k, 0, 100, "A", (1 << 19) + 8 * k, 3, 0, f"{NOWAIT:x}", "", "", "")
             for k in range(200)]
    return rows


def _head(t, pfn, ok=True):
    return (t, 1, 200, "A", pfn if ok else -1, 9, 1, f"{RA:x}", "", "", "")


def test_a_folio_the_model_fails_turns_the_rest_of_the_window_to_order0(tmp_path):
    """The model fails the first of three order-9 readahead folios the kernel
    got; like the kernel's readahead, it reads that folio's range and the
    rest of the window as order-0 folios: one failed request and 1,536
    order-0 ones (not 1 + 1 + 1,024: it does not try the others)."""
    t0 = 1_000_000
    rows = _fragmented() + [_head(t0, 1 << 20), _head(t0 + 5_000, (1 << 20) + 512),
                            _head(t0 + 10_000, (1 << 20) + 1024)]
    r = _run(_trace(tmp_path, rows))
    assert int(r.timeseries["nr_file_lru"].iloc[-1]) == 1536
    assert r.diagnostics["alloc_failed"].get("9/movable") == 1
    assert _requests(r, "movable") == 1 + 3 * 512
    d = r.diagnostics
    assert d["readahead_fell_back"] == 1 and d["readahead_order0_pages"] == 1536
    assert d["readahead_kept"] == 0 and d["readahead_stopped"] == 0


def test_a_fallen_back_window_reads_the_kernels_own_fallback_once(tmp_path):
    """The model fell back at the window's first folio; the kernel failed its
    third and read the rest as order-0 (its fallback ops follow): the third
    folio's range is read by those ops, not a second time."""
    t0 = 1_000_000
    rows = _fragmented() + [_head(t0, 1 << 20), _head(t0 + 5_000, (1 << 20) + 512),
                            _head(t0 + 10_000, 0, ok=False)]
    rows += [(t0 + 20_000 + 10 * k, 1, 200, "A", (1 << 21) + k, 0, 1, f"{RA:x}", "", "", "")
             for k in range(512)]
    r = _run(_trace(tmp_path, rows))
    assert int(r.timeseries["nr_file_lru"].iloc[-1]) == 1536


def test_readahead_pace_is_the_median_gap_of_a_tasks_order0_readahead():
    """replay_ops.ReadaheadPace: the gaps between a task's consecutive
    successful order-0 page-cache allocations with __GFP_NORETRY, carried
    over from chunk to chunk, less than RA_FOLIO_GAP_NS apart; large folios,
    failed ones, other tasks' and other gfp masks do not count."""
    from defragsim.workloads.replay_ops import RA_FOLIO_GAP_NS, ReadaheadPace
    movable = parse_gfp("GFP_HIGHUSER_MOVABLE")
    rows = []                                      # (t, pid, order, pfn, gfp)
    rows += [(10_000 + 500 * k, 7, 0, 100 + k, RA) for k in range(300)]     # 299 gaps of 500
    rows += [(10_250 + 900 * k, 8, 0, 1000 + k, RA) for k in range(100)]    # 99 gaps of 900
    rows += [(10_000 + 500 * 300 + RA_FOLIO_GAP_NS, 7, 0, 5, RA)]           # the next window
    rows += [(10_100 + 500 * k, 7, 9, 2048, RA) for k in range(5)]          # large folios
    rows += [(10_200 + 500 * k, 7, 0, -1, RA) for k in range(5)]            # failed
    rows += [(10_300 + 500 * k, 7, 0, 9, movable) for k in range(50)]       # not readahead
    rows.sort()
    t, pid, order, pfn, gfp = (np.array(c, np.int64) for c in zip(*rows))
    ev = np.full(len(rows), EV_ALLOC, np.int8)
    pace = ReadaheadPace()
    assert pace.ns() is None
    half = len(rows) // 2
    for s in (slice(0, half), slice(half, None)):
        pace.add(t[s], ev[s], pid[s].astype(np.int32), order[s].astype(np.int8), pfn[s], gfp[s])
    assert 500 <= pace.ns() < 510                  # 299 of 500 against 99 of 900


def test_kswapd_reclaims_while_the_model_reads_a_window_in_order0_folios():
    """Where the model failed a large readahead folio the kernel got, it reads
    the folio's range as order-0 folios the trace has no ops for.  Each takes
    the reader the trace's own pace (c_pressure_dm1: 0.34 us), and kswapd,
    woken by the failed folio, reclaims meanwhile: fewer of the following
    order-0 reads fall to direct reclaim than when the reads take no time."""
    from defragsim.analysis.replay import replay
    p = Path(__file__).resolve().parents[1] / "data" / "traces" / "c_pressure_dm1" / \
        "page_events.csv.xz"
    paced = replay(p)
    instant = replay(p, config_overrides={"readahead_folio_ns": 0})
    assert 300 <= paced.result.config.readahead_folio_ns <= 400
    assert any("ns a folio" in n for n in paced.notes())

    def model(rp, name):
        return next(r["model"] for r in rp.comparison() if r["name"] == name)
    assert model(paced, "mm_vmscan_direct_reclaim_begin") < \
        0.8 * model(instant, "mm_vmscan_direct_reclaim_begin")
    assert model(paced, "pgscan_kswapd over the trace") > \
        model(instant, "pgscan_kswapd over the trace")


def test_readahead_folio_ns_is_checked():
    import pytest
    from defragsim.errors import ConfigError
    assert Config().to_params().readahead_folio_ns == -1      # costs.READAHEAD_FOLIO_NS
    assert Config(readahead_folio_ns=0).to_params().readahead_folio_ns == 0
    for bad in (-1, "700", 1.5, True, 10**8):
        with pytest.raises(ConfigError, match="config.readahead_folio_ns"):
            Config(readahead_folio_ns=bad)


from hypothesis import given, settings, strategies as hs   # noqa: E402


@settings(max_examples=60, deadline=None)
@given(gaps=hs.lists(hs.lists(hs.integers(0, 25_000), min_size=50, max_size=80), min_size=3,
                     max_size=4),
       cuts=hs.lists(hs.integers(0, 400), max_size=3))
def test_readahead_pace_is_the_median_however_the_trace_is_chunked(gaps, cuts):
    """ReadaheadPace over any split of the events into chunks: the median of
    every task's gaps under RA_FOLIO_GAP_NS, to its 10 ns bin (None under
    MIN_GAPS gaps)."""
    from defragsim.workloads.replay_ops import RA_FOLIO_GAP_NS, ReadaheadPace
    rows = []
    for pid, gs in enumerate(gaps):
        t = 1_000 + pid
        rows.append((t, pid))
        for g in gs:
            t += g
            rows.append((t, pid))
    rows.sort()
    t = np.array([r[0] for r in rows], np.int64)
    pid = np.array([r[1] for r in rows], np.int32)
    n = len(rows)
    ev = np.full(n, EV_ALLOC, np.int8)
    order = np.zeros(n, np.int8)
    pfn = np.arange(n, dtype=np.int64)
    gfp = np.full(n, RA, np.int64)
    pace = ReadaheadPace()
    bounds = [0] + sorted(min(c, n) for c in cuts) + [n]
    for a, b in zip(bounds, bounds[1:]):
        pace.add(t[a:b], ev[a:b], pid[a:b], order[a:b], pfn[a:b], gfp[a:b])
    kept = sorted(g for gs in gaps for g in gs if g < RA_FOLIO_GAP_NS)
    if len(kept) < ReadaheadPace.MIN_GAPS:        # gaps of 20 us or more left out
        assert pace.ns() is None
        return
    med = kept[(len(kept) + 1) // 2 - 1]
    assert pace.ns() == med // 10 * 10 + 5
