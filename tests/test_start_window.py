"""Free pageblocks at a trace's start, from the trace itself.

A snapshot is taken before the trace starts (e_pressure_dm1's by 2.9 s),
and the machine may reclaim in between.  Until the machine first runs short
(its first kswapd or kcompactd wakeup, direct reclaim or direct compaction
in other_events.csv, or a failed allocation), every allocation of a
pageblock or more was served from a free pageblock: the zone had at least
that many, less the blocks the window's frees could have made.  A replay
adds what the snapshot lacks, out of its page cache.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from defragsim import constants as C
from defragsim.workloads.replay_ops import (ReplayStats, _spend_blocks, spent_free_blocks,
                                           start_free_blocks)
from defragsim.workloads.snapshot import Snapshot
from defragsim.workloads.trace import StartWindow, start_window

ROOT = Path(__file__).resolve().parents[1]
HEADER = "t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c\n"
NORMAL_START = 1 << 20          # e_pressure_dm1's machine: Normal starts at 4 GiB


def _trace(tmp_path, page_lines, other_lines):
    (tmp_path / "page_events.csv").write_text(HEADER + "".join(page_lines))
    (tmp_path / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n" + "".join(other_lines))
    return tmp_path / "page_events.csv"


def _a(t, pfn, order):
    return f"{t},0,10,A,{pfn},{order},1,152c4a,,,\n"


def _f(t, pfn, order):
    return f"{t},0,10,F,{pfn},{order},1,0,,,\n"


WAKE = "500,1,20,vmscan:mm_vmscan_wakeup_kswapd,gfp_flags=1387594 nid=0 order=9 zid=3\n"


def test_the_window_ends_at_the_first_shortage(tmp_path):
    """Allocations of order 9 or more before the first kswapd wakeup are
    kept with their pfns; order-0 allocations are not; every free is."""
    p = _trace(tmp_path, [_a(100, 1 << 21, 9), _a(200, 5, 0), _f(300, 7, 0), _a(400, 1 << 22, 10),
                          _a(600, 1 << 23, 9)], [WAKE])
    w = start_window(p, 9)
    assert w.until_ns == 500
    assert w.alloc_pfns.tolist() == [1 << 21, 1 << 22] and w.alloc_orders.tolist() == [9, 10]
    assert w.free_pfns.tolist() == [7] and w.free_orders.tolist() == [0]


def test_a_failed_allocation_ends_the_window(tmp_path):
    p = _trace(tmp_path, [_a(100, 1 << 21, 9), _a(200, -1, 9), _a(300, 1 << 22, 9)], [WAKE])
    w = start_window(p, 9)
    assert w.until_ns == 200 and len(w.alloc_pfns) == 1


def test_without_a_shortage_the_window_is_the_trace(tmp_path):
    """No wakeup, reclaim or compaction in other_events.csv: the window runs
    to the first failed allocation, or to the end; no other_events.csv: none."""
    p = _trace(tmp_path, [_a(100, 1 << 21, 9), _a(200, 1 << 22, 9)], [])
    assert len(start_window(p, 9).alloc_pfns) == 2
    p = _trace(tmp_path, [_a(100, 1 << 21, 9), _a(150, -1, 0), _a(200, 1 << 22, 9)], [])
    w = start_window(p, 9)
    assert w.until_ns == 150 and len(w.alloc_pfns) == 1
    (tmp_path / "other_events.csv").unlink()
    assert start_window(p, 9) is None


def _e_snapshot():
    return Snapshot.load(ROOT / "data" / "traces" / "e_pressure_dm1" / "snap")


def _spans():
    # model zones: DMA32 (its machine pfns), Normal from 4 GiB on
    return [(0, NORMAL_START), (NORMAL_START, NORMAL_START + 5_505_024)]


def test_free_blocks_the_snapshot_lacks():
    """e's before.pagetypeinfo shows 19 free pageblocks in Normal (one order-9
    and nine order-10 movable chunks).  60 order-9 allocations and one
    order-10 (62 blocks) before the first shortage; the window's frees all
    fall in the first of those blocks, which may have been made free by
    them; the other 61 were free when the trace began: 61 - 19 = 42 more.
    DMA32 took nothing: none."""
    pfns = NORMAL_START + (np.arange(61) << 10)
    orders = np.array([9] * 60 + [10])
    win = StartWindow(400, pfns, orders, np.array([NORMAL_START + 5] * 1000), np.zeros(1000, np.int64))
    st = ReplayStats()
    extra = start_free_blocks(win, _e_snapshot(), _spans(), 9, st)
    assert extra == {C.ZONE_NORMAL: 42}
    assert st.start_free_blocks["Normal"][:4] == (62, 61, 19, 42)


def test_an_order_ten_free_touches_two_blocks():
    """A free of an order-10 chunk touches both of its pageblocks."""
    pfns = NORMAL_START + (np.arange(30) << 9)
    win = StartWindow(400, pfns, np.full(30, 9), np.array([NORMAL_START]), np.array([10]))
    assert start_free_blocks(win, _e_snapshot(), _spans(), 9, ReplayStats()) == {C.ZONE_NORMAL: 9}


def test_nothing_added_when_the_snapshot_has_enough():
    win = StartWindow(400, NORMAL_START + (np.arange(10) << 10), np.full(10, 9),
                      np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert start_free_blocks(win, _e_snapshot(), _spans(), 9, ReplayStats()) == {}
    assert start_free_blocks(None, _e_snapshot(), _spans(), 9, ReplayStats()) == {}


def test_e_replay_starts_with_the_free_blocks_its_trace_proves():
    """e_pressure_dm1: 63 order-9 allocations in Normal in its first 0.4 s,
    none in a pageblock the 4,950 pages freed meanwhile touched, and 19 free
    blocks in the snapshot: 44 more blocks."""
    w = start_window(ROOT / "data" / "traces" / "e_pressure_dm1" / "page_events.csv.xz", 9)
    st = ReplayStats()
    assert start_free_blocks(w, _e_snapshot(), _spans(), 9, st) == {C.ZONE_NORMAL: 44}


# -- the snapshot's free blocks the machine had spent when the trace began ----

def test_the_window_names_the_order_of_the_request_that_ran_short(tmp_path):
    """A window that ends at a request's own shortage sign (its slowpath woke
    kswapd, it compacted or reclaimed directly) carries that request's order;
    one ended by a failed allocation, or by kswapd's own wake, carries -1."""
    p = _trace(tmp_path, [_a(100, 1 << 21, 9), _a(200, 5, 0)], [WAKE])
    assert start_window(p, 0).shortage_order == 9
    p = _trace(tmp_path, [_a(100, 1 << 21, 9), _a(200, -1, 9)], [WAKE])
    assert start_window(p, 0).shortage_order == -1
    own = "500,1,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3\n"
    p = _trace(tmp_path, [_a(100, 1 << 21, 9)], [own])
    assert start_window(p, 0).shortage_order == -1
    compact = "500,1,20,compaction:mm_compaction_try_to_compact_pages,gfp_mask=1387594 order=10 prio=2\n"
    p = _trace(tmp_path, [_a(100, 1 << 21, 9)], [compact])
    assert start_window(p, 0).shortage_order == 10


def test_zoneinfo_watermarks_of_a_snapshot():
    wm = _e_snapshot().zone_watermarks()
    assert wm["Normal"] == (40192, 14769, 20163, 25557, (0, 0, 0, 0, 0))
    assert wm["DMA32"][0] == 23162 and wm["DMA32"][4] == (0, 0, 21071, 21071, 21071)


def _window(nr_blocks, shortage, small_pages=0):
    """An order-9 request ran short at 400 ns after ``nr_blocks`` order-9
    allocations in Normal and ``small_pages`` order-0 ones."""
    pfns = np.concatenate([NORMAL_START + (np.arange(nr_blocks) << 9),
                           np.full(small_pages, NORMAL_START + (1 << 22))])
    orders = np.concatenate([np.full(nr_blocks, 9), np.zeros(small_pages, np.int64)])
    return StartWindow(400, pfns, orders, np.zeros(0, np.int64), np.zeros(0, np.int64),
                       shortage_order=shortage)


def test_free_blocks_the_machine_had_spent():
    """e's snapshot shows 19 free pageblocks in Normal (40,192 free pages,
    low watermark 20,163).  An order-9 request failed the fast path after
    five order-9 allocations there: with the zone well above its low
    watermark, it had no free chunk of order 9 or more, so it had at most
    those five blocks when the trace began: 14 of the snapshot's were spent."""
    st = ReplayStats()
    assert spent_free_blocks(_window(5, 9), _e_snapshot(), _spans(), 9, st) == {C.ZONE_NORMAL: 14}
    assert st.spent_free_blocks["Normal"] == (19, 5, 14, 400, 9, False)
    # an order-0 shortage (a low watermark), or a window ended otherwise: nothing known
    assert spent_free_blocks(_window(5, 0), _e_snapshot(), _spans(), 9, ReplayStats()) == {}
    assert spent_free_blocks(_window(5, -1), _e_snapshot(), _spans(), 9, ReplayStats()) == {}
    # as many allocations as the snapshot's blocks: none spent
    assert spent_free_blocks(_window(19, 9), _e_snapshot(), _spans(), 9, ReplayStats()) == {}


def test_no_free_blocks_spent_where_a_watermark_may_have_failed_the_request():
    """With 10,000 pages of order-0 allocations as well, the zone less the 14
    blocks ends the window at 20,464 free pages, under low + 512: the
    request may have failed on the watermark, so the blocks stay."""
    win = _window(5, 9, small_pages=10_000)
    assert spent_free_blocks(win, _e_snapshot(), _spans(), 9, ReplayStats()) == {}
    win = _window(5, 9, small_pages=9_000)
    assert spent_free_blocks(win, _e_snapshot(), _spans(), 9, ReplayStats()) == {C.ZONE_NORMAL: 14}


def test_spending_blocks_takes_the_smallest_movable_chunks_first():
    """As pageblock-order allocations would: an order-9 chunk before an
    order-10 one, whose other half stays free; another zone's chunks and
    other types' are left."""
    N, D = C.ZONE_NORMAL, C.ZONE_DMA32
    holes = [(N, C.MIGRATE_MOVABLE, 10, 2), (N, C.MIGRATE_MOVABLE, 9, 1),
             (D, C.MIGRATE_MOVABLE, 9, 3), (N, C.MIGRATE_UNMOVABLE, 9, 1), (N, C.MIGRATE_MOVABLE, 3, 7)]
    out, taken = _spend_blocks(holes, N, 2, 9)
    assert taken == 2
    assert sorted(out) == sorted([(D, C.MIGRATE_MOVABLE, 9, 3), (N, C.MIGRATE_UNMOVABLE, 9, 1),
                                  (N, C.MIGRATE_MOVABLE, 3, 7), (N, C.MIGRATE_MOVABLE, 10, 1),
                                  (N, C.MIGRATE_MOVABLE, 9, 1)])
    out, taken = _spend_blocks(holes, N, 10, 9)
    assert taken == 5 and not [h for h in out if h[0] == N and h[1] == C.MIGRATE_MOVABLE and h[2] >= 9]


def test_a_movable_fallback_bounds_the_movable_free_blocks(tmp_path):
    """A movable order-9 request that fell back to an Unmovable chunk
    (mm_page_alloc_extfrag) found no movable chunk of order 9 in its zone:
    e's snapshot shows 19 movable free blocks in Normal (one order-9 and
    nine order-10 chunks); two order-9 allocations came before: 17 spent."""
    x = f"300,0,10,X,{NORMAL_START + (1 << 12)},9,1,,9,0,1\n"
    p = _trace(tmp_path, [_a(100, NORMAL_START, 9), _a(200, NORMAL_START + 512, 9), x,
                          _a(400, NORMAL_START + 1024, 9)], [WAKE])
    w = start_window(p, 0)
    assert w.until_ns == 300 and w.fallback == (NORMAL_START + (1 << 12), 9, C.MIGRATE_MOVABLE)
    assert w.shortage_order == -1
    st = ReplayStats()
    assert spent_free_blocks(w, _e_snapshot(), _spans(), 9, st) == {C.ZONE_NORMAL: 17}
    assert st.spent_free_blocks["Normal"] == (19, 2, 17, 300, 9, True)
    # an unmovable request's fallback says nothing of the movable blocks
    w.fallback = (NORMAL_START, 9, C.MIGRATE_UNMOVABLE)
    assert spent_free_blocks(w, _e_snapshot(), _spans(), 9, ReplayStats()) == {}
    # nor does a fallback of a small request
    w.fallback = (NORMAL_START, 3, C.MIGRATE_MOVABLE)
    assert spent_free_blocks(w, _e_snapshot(), _spans(), 9, ReplayStats()) == {}


def test_shipped_traces_start_without_the_free_blocks_they_had_spent():
    """c_pressure_dm1's first order-9 readahead failed the fast path 4 ms in,
    with Normal far above its low watermark and no pageblock-order
    allocation before: its snapshot's 15 free blocks there were spent.
    d_pressure_dm0's first order-9 readahead fell back to an Unmovable chunk
    14 ms in: its snapshot's 28 movable free blocks in Normal were spent.
    e_pressure_dm1's window took more blocks than its snapshot shows: none."""
    for name, want in (("c_pressure_dm1", {C.ZONE_NORMAL: 15}),
                       ("d_pressure_dm0", {C.ZONE_NORMAL: 28}),
                       ("e_pressure_dm1", {})):
        d = ROOT / "data" / "traces" / name
        w = start_window(d / "page_events.csv.xz", 0)
        st = ReplayStats()
        assert spent_free_blocks(w, Snapshot.load(d / "snap"), _spans(), 9, st) == want, name
    assert st.spent_free_blocks == {}
