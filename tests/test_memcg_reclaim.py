"""Reclaim over memory cgroups (mm/vmscan.c shrink_node_memcgs(),
mm/memcontrol.c mem_cgroup_iter()).

Since "mm: vmscan: restore incremental cgroup iteration" (v6.10) a direct
reclaimer walks the memcg tree from a position it shares with the other
direct reclaimers and stops after the memcg with which its goal
(nr_to_reclaim) is met; kswapd always walks the whole tree.  Each memcg has
its own LRU lists, scanned by their own sizes >> priority; an offline memcg
too small for that has SWAP_CLUSTER_MAX scraped out.  A replay finds the
memcgs that held LRU pages in kswapd's first walk in ``other_events.csv``.
"""
from __future__ import annotations

import numpy as np
import pytest

from defragsim import constants as C
from defragsim.mm import vmscan
from defragsim.mm.invariants import check_state
from defragsim.mm.state import (
    NODE_MEMCG_CHARGE, NODE_MEMCG_ITER_POS, SC_DIRECT, SC_KSWAPD, SC_MAY_SWAP, make_state,
)
from defragsim.workloads.replay_ops import ReplayStats, _initial_memcgs
from defragsim.workloads.trace import _split_walk, memcg_walk

from model_driver import ModelRun
from defragsim.config import Config
from test_compaction import FILE, GFP_KERNEL, NORMAL

M = C.MIGRATE_MOVABLE


def _direct(fn):
    return getattr(fn, "impl", fn)


mem_cgroup_iter = _direct(vmscan.mem_cgroup_iter)
get_scan_count = _direct(vmscan.get_scan_count)
init_scan_control = _direct(vmscan.init_scan_control)
try_to_free_pages = _direct(vmscan.try_to_free_pages)


def _cfg():
    return Config(mem="256M", dma32=0, pcp=False, min_free_kbytes=128, swap=0)


def _memcg_run(sizes):
    """A 256M node with ``len(sizes)`` memcgs; memcg i holds ``sizes[i]``
    order-0 page-cache folios (charged as they are allocated)."""
    cfg = _cfg()
    run = ModelRun(cfg, max_handles=sum(sizes) + 8)
    run.st = make_state(cfg, nr_memcg=len(sizes))
    for m, n in enumerate(sizes):
        run.st.node[NODE_MEMCG_CHARGE] = m
        if n:
            run.alloc_many([(0, M, FILE)] * n)
    check_state(run.st, run.prm)
    return run


def _file_pages(st):
    return [int(st.memcg_lru_size[m, C.LRU_INACTIVE_FILE] + st.memcg_lru_size[m, C.LRU_ACTIVE_FILE])
            for m in range(st.memcg_lru_size.shape[0])]


def test_one_memcg_keeps_fifteen_bytes_a_page():
    """With only the root there is no per-page memcg (State.pg_memcg holds one
    entry); every folio is the root's."""
    cfg = _cfg()
    st1 = make_state(cfg)
    st3 = make_state(cfg, nr_memcg=3)
    assert st1.pg_memcg.shape == (1,) and st3.pg_memcg.shape == (cfg.nr_pages,)
    assert st3.lru_head.shape == (3 * C.NR_LRU_LISTS,)
    with pytest.raises(ValueError, match="nr_memcg"):
        make_state(cfg, nr_memcg=0)


def test_folios_are_charged_to_the_workloads_memcg():
    """mem_cgroup_charge(): each folio lands on its memcg's lists, and the node's
    sizes are the sums over the memcgs."""
    run = _memcg_run([0, 40, 300])
    st = run.st
    assert _file_pages(st) == [0, 40, 300]
    assert int(st.lru_size[C.LRU_INACTIVE_FILE]) == 340
    assert {int(st.pg_memcg[p]) for p in range(40)} == {1}


def test_a_partial_walk_continues_where_the_last_one_stopped():
    """mem_cgroup_iter() with a reclaim cookie: each call moves the shared
    position; a walk that starts at the end of the tree starts again at the
    root; a full walk (kswapd) neither reads nor moves the position."""
    run = _memcg_run([0, 0, 0])
    st = run.st
    st.node[NODE_MEMCG_ITER_POS] = -1
    assert [mem_cgroup_iter(st, -1, True), mem_cgroup_iter(st, 0, True)] == [0, 1]
    assert st.node[NODE_MEMCG_ITER_POS] == 1
    # a new walk starts after memcg 1
    assert mem_cgroup_iter(st, -1, True) == 2
    assert mem_cgroup_iter(st, 2, True) == -1          # the end: the walk is over
    assert st.node[NODE_MEMCG_ITER_POS] == -1
    st.node[NODE_MEMCG_ITER_POS] = 2
    assert mem_cgroup_iter(st, -1, True) == 0          # "see at least one group"
    pos = int(st.node[NODE_MEMCG_ITER_POS])
    assert [mem_cgroup_iter(st, -1, False), mem_cgroup_iter(st, 2, False)] == [0, -1]
    assert st.node[NODE_MEMCG_ITER_POS] == pos


def test_direct_reclaim_stops_after_the_memcg_that_met_its_goal():
    """Order-0 direct reclaim (nr_to_reclaim = SWAP_CLUSTER_MAX) of clean
    order-0 page cache in memcgs of 8,192, 16,384 and 4,096 pages:

    - priority 12 (proportional: each memcg's whole target, size >> 12):
      2 + 4 + 1 = 7 pages, short of 32, and the walk reaches the end;
    - priority 11 starts again at the root: 8,190 >> 11 = 3, 7, 1 (18);
    - priority 10: memcg 1 gives 7 (25), memcg 2 gives 15 (40): the goal is
      met there, memcg 3 is not visited and the shared position stays at 2.

    The next reclaimer starts after memcg 2: memcg 3 (4,094 >> 12 = 0 pages),
    the end; then priority 11 from the root: 3 + 7 + 1, priority 10: 7 + 15."""
    sizes = [0, 8192, 16384, 4096]
    run = _memcg_run(sizes)
    st = run.st
    before = _file_pages(st)
    try_to_free_pages(st, run.prm, run.own, GFP_KERNEL, 0, NORMAL, 0)
    assert [b - a for b, a in zip(before, _file_pages(st))] == [0, 12, 26, 2]
    assert st.node[NODE_MEMCG_ITER_POS] == 2
    before = _file_pages(st)
    try_to_free_pages(st, run.prm, run.own, GFP_KERNEL, 0, NORMAL, 0)
    assert [b - a for b, a in zip(before, _file_pages(st))] == [0, 10, 22, 1]
    check_state(st, run.prm)


def test_kswapd_walks_every_memcg():
    """kswapd's shrink_node_memcgs() is a full walk: with the shared position
    at memcg 2 and a goal the first memcg meets, every memcg big enough to be
    scanned at the priority still loses pages, and the position stays."""
    run = _memcg_run([0, 8192, 16384, 4096])
    st = run.st
    st.node[NODE_MEMCG_ITER_POS] = 2
    s = SC_KSWAPD
    init_scan_control(st, s, GFP_KERNEL, 0, NORMAL, C.SWAP_CLUSTER_MAX, 0, True)
    before = _file_pages(st)
    _direct(vmscan.shrink_node)(st, run.prm, run.own, s)
    freed = [b - a for b, a in zip(before, _file_pages(st))]
    assert freed == [0, 2, 4, 1]
    assert st.node[NODE_MEMCG_ITER_POS] == 2


def test_an_offline_memcg_is_scraped():
    """get_scan_count(): an offline memcg whose lists are too small to scan at
    the priority has min(size, SWAP_CLUSTER_MAX) scanned ("make sure to
    scrape out the remaining cache"); an online one has nothing."""
    run = _memcg_run([0, 100])
    st = run.st
    init_scan_control(st, SC_DIRECT, GFP_KERNEL, 0, NORMAL, 32, 0, False)
    nr = np.zeros(4, np.int64)
    st.sc[SC_DIRECT, SC_MAY_SWAP] = 0
    get_scan_count(st, run.prm, 1, SC_DIRECT, nr)
    assert nr[C.LRU_INACTIVE_FILE] == 0
    st.memcg_online[1] = 0
    get_scan_count(st, run.prm, 1, SC_DIRECT, nr)
    assert nr[C.LRU_INACTIVE_FILE] == C.SWAP_CLUSTER_MAX


def test_an_offline_memcgs_share_is_rounded_up():
    """SCAN_FRACT: an offline memcg's scan is scaled by the anon/file
    fractions rounding up (DIV64_U64_ROUND_UP), an online one's down.  No
    reclaim costs yet: swappiness 60 gives fractions 60 and 140, so the 32
    scraped file pages become ceil(32 * 140 / 200) = 23."""
    run = _memcg_run([0, 100])
    st = run.st
    st.node[vmscan.NODE_SWAP_TOTAL] = 1 << 20
    init_scan_control(st, SC_DIRECT, GFP_KERNEL, 0, NORMAL, 32, 0, False)
    st.memcg_online[1] = 0
    nr = np.zeros(4, np.int64)
    get_scan_count(st, run.prm, 1, SC_DIRECT, nr)
    assert run.prm.swappiness == 60
    assert nr[C.LRU_INACTIVE_FILE] == 23


def test_nothing_reclaimed_retries_with_full_walks():
    """do_try_to_free_pages(): a reclaimer whose partial walks freed nothing
    (and whose compaction is not ready) goes round again with
    sc->memcg_full_walk, counting allocstall again."""
    run = _memcg_run([0, 0])
    st = run.st
    stalls = int(st.vm_events[C.VM_ALLOCSTALL_MOVABLE] + st.vm_events[C.VM_ALLOCSTALL_NORMAL])
    progress, _ = try_to_free_pages(st, run.prm, run.own, GFP_KERNEL, 0, NORMAL, 0)
    assert progress == 0
    after = int(st.vm_events[C.VM_ALLOCSTALL_MOVABLE] + st.vm_events[C.VM_ALLOCSTALL_NORMAL])
    assert after - stalls == 2


def test_spreading_keeps_each_lists_order_and_the_proportions():
    """mem_cgroup_spread_lru() (a replay's start): the root's folios go to the
    memcgs in proportion, each list's order kept, new folios charged to the
    one named."""
    run = _memcg_run([1000, 0, 0])
    st = run.st
    order_before = []
    p = int(st.lru_head[C.LRU_INACTIVE_FILE])
    while p >= 0:
        order_before.append(p)
        p = int(st.pg_next[p])
    _direct(vmscan.mem_cgroup_spread_lru)(st, np.repeat([[0], [250], [750]], 4, axis=1), 2,
                                          np.zeros(3, np.float64))
    assert _file_pages(st) == [0, 250, 750]
    assert st.node[NODE_MEMCG_CHARGE] == 2
    for m in (1, 2):
        got, p = [], int(st.lru_head[vmscan.lru_list_id(m, C.LRU_INACTIVE_FILE)])
        while p >= 0:
            got.append(p)
            p = int(st.pg_next[p])
        assert got == [q for q in order_before if st.pg_memcg[q] == m]
    check_state(st, run.prm)


def test_spreading_weighs_each_list_by_its_own_pages():
    """Each LRU list is spread by that list's pages in each memcg: a memcg the
    trace shows with only active page cache takes none of the inactive
    list, which direct reclaim scans first."""
    run = _memcg_run([1000, 0, 0])
    st = run.st
    p, n = int(st.lru_head[C.LRU_INACTIVE_FILE]), 0
    lruvec_del_folio, lruvec_add_folio = (_direct(vmscan.lruvec_del_folio),
                                          _direct(vmscan.lruvec_add_folio))
    while p >= 0 and n < 400:            # 400 folios to the active list
        nxt = int(st.pg_next[p])
        lruvec_del_folio(st, p)
        st.pg_flags[p] |= vmscan.PG_active
        lruvec_add_folio(st, p, False)
        p, n = nxt, n + 1
    weights = np.zeros((3, 4), np.int64)
    weights[1, C.LRU_ACTIVE_FILE] = 400          # memcg 1: active page cache only
    weights[2, C.LRU_INACTIVE_FILE] = 600        # memcg 2: inactive page cache only
    _direct(vmscan.mem_cgroup_spread_lru)(st, weights, 2, np.zeros(3, np.float64))
    size = st.memcg_lru_size
    assert [int(size[m, C.LRU_INACTIVE_FILE]) for m in range(3)] == [0, 0, 600]
    assert [int(size[m, C.LRU_ACTIVE_FILE]) for m in range(3)] == [0, 400, 0]
    check_state(st, run.prm)


# ---------------------------------------------------------------------------
# kswapd's walk in a trace
# ---------------------------------------------------------------------------

HEADER = "t_ns,cpu,pid,event,fields\n"


def _slab(t, shr, prio=12):
    return (f"{t},1,45,vmscan:mm_shrink_slab_start,cache_items=10 delta=1 gfp_flags=3264 nid=0 "
            f"nr_objects_to_shrink=2 priority={prio} shr={shr} shrink=1 total_scan=1\n")


def _iso(t, req, lru=2):
    return (f"{t},1,45,vmscan:mm_vmscan_lru_isolate,highest_zoneidx=3 lru={lru} "
            f"nr_requested={req} nr_scanned={req} nr_skipped=0 nr_taken={req} order=9\n")


def test_memcg_walk_from_a_trace(tmp_path):
    """memcg_walk(): the root's shrinker calls open the walk; a memcg ends with
    its shrinker calls or after a list's short last batch; the walk ends where
    the root's shrinker calls come again (the next root's batches, which come
    first, not counted: this root had none, so the 3 before them is a memcg
    without slab).  Here: the root (no LRU batch), a memcg of 3 (no slab),
    one of 32 + 32 + 5, one of 7, one of 3."""
    lines = [HEADER, "100,1,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3\n",
             _slab(101, 111), _slab(102, 222),
             _iso(103, 3), _iso(104, 32), _iso(105, 32), _iso(106, 5), _slab(107, 333),
             _iso(108, 7), _slab(109, 333),
             _iso(110, 3), _slab(111, 111), _slab(112, 222),
             "200,1,45,vmscan:mm_vmscan_kswapd_sleep,nid=0\n"]
    (tmp_path / "other_events.csv").write_text("".join(lines))
    (tmp_path / "page_events.csv").write_text("t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c\n")
    walk = memcg_walk(tmp_path / "page_events.csv")
    assert walk.priority == 12 and walk.requested == [0, 3, 69, 7, 3]
    assert walk.pages == [0, 3 << 12, 69 << 12, 7 << 12, 3 << 12]


def test_split_walk_by_batches():
    """After the root's shrinker calls, a list's short batch ends a memcg;
    without any shrinker call nothing marks where the root's batches end, so
    all are the root's."""
    batches = [("L", 2, 32), ("L", 2, 4), ("L", 2, 32), ("L", 2, 1)]
    assert _totals(_split_walk(batches)) == [69]
    assert _totals(_split_walk([("S", 9)] + batches)) == [0, 36, 33]
    assert _split_walk([("S", 9)] + batches)[1] == [0, 0, 36, 0, 0]


def test_split_walk_ends_at_the_next_root():
    """The next walk's root shrinks its lists before its slab, so its batches
    come before the shrinker call that shows the walk is over; a memcg-aware
    shrinker (9) runs for the children too, the root's global one (5) only for
    the root: the walk ends where 5 comes back."""
    L = lambda n: ("L", 2, n)   # noqa: E731
    assert _totals(_split_walk([L(3), ("S", 9), L(32), L(4), ("S", 7), L(32), L(1), L(3),
                                ("S", 9)])) == [3, 36, 33]
    assert _totals(_split_walk([L(3), ("S", 9), ("S", 5), L(32), L(4), ("S", 9), L(32), L(1),
                                L(3), ("S", 9), ("S", 5)])) == [3, 36, 33]


def _totals(lists):
    return [sum(x) for x in lists]


def test_the_walk_keeps_each_lists_pages(tmp_path):
    """A walk that deactivates scans the active lists too: each memcg's pages
    are kept list by list (MemcgWalk.list_pages), so a memcg of active page
    cache only is told apart from one of inactive page cache; a batch with
    no list counts in the memcg's total only; the replay's meta carries both."""
    lines = [HEADER, "100,1,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3\n",
             _slab(101, 111),
             _iso(103, 3, lru=3), _slab(104, 333),
             _iso(105, 32), _iso(106, 5), _iso(107, 2, lru=3), _slab(108, 333),
             _iso(109, 4).replace("lru=2 ", ""), _slab(110, 333),
             _iso(111, 1), _slab(112, 111),
             "200,1,45,vmscan:mm_vmscan_kswapd_sleep,nid=0\n"]
    (tmp_path / "other_events.csv").write_text("".join(lines))
    (tmp_path / "page_events.csv").write_text("t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c\n")
    walk = memcg_walk(tmp_path / "page_events.csv")
    assert walk.requested == [0, 3, 39, 4, 1]
    assert walk.list_pages == [[0, 0, 0, 0], [0, 0, 0, 3 << 12], [0, 0, 37 << 12, 2 << 12],
                               [0, 0, 0, 0], [0, 0, 1 << 12, 0]]
    meta, st = {}, ReplayStats()
    _initial_memcgs(tmp_path / "page_events.csv", st, meta)
    assert meta["initial_memcg_pages"] == walk.pages
    assert meta["initial_memcg_lru_pages"] == walk.list_pages


def test_no_walk_without_kswapd(tmp_path):
    (tmp_path / "other_events.csv").write_text(HEADER + _slab(1, 5))
    (tmp_path / "page_events.csv").write_text("t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c\n")
    assert memcg_walk(tmp_path / "page_events.csv") is None


@pytest.mark.parametrize("trace, memcgs", [("b_pressure_dm0", 5), ("c_pressure_dm1", 4),
                                            ("d_pressure_dm0", 2)])
def test_shipped_traces_walks(trace, memcgs):
    """The shipped traces' machines: each command ran in a memcg of its own,
    and nearly all page cache is the workload's."""
    from pathlib import Path
    p = Path(__file__).resolve().parents[1] / "data" / "traces" / trace / "page_events.csv.xz"
    walk = memcg_walk(p)
    assert len(walk.requested) == memcgs
    assert max(walk.pages) > 0.99 * sum(walk.pages)


def test_a_walk_cut_by_the_first_look_is_read_whole(monkeypatch):
    """memcg_walk() reads a few MiB after kswapd's first wake first; a walk
    that does not end there is read from the whole file: the same memcgs."""
    from pathlib import Path
    from defragsim.workloads import trace as T
    p = Path(__file__).resolve().parents[1] / "data" / "traces" / "c_pressure_dm1" / "page_events.csv.xz"
    whole = memcg_walk(p)
    monkeypatch.setattr(T, "MEMCG_WALK_BYTES", 2000)
    assert memcg_walk(p) == whole


@pytest.mark.parametrize("lists", [[[0, 0, 5, 0]], [[0, 0, 5, 0], [1, 2, 3]],
                                   [[0, 0, 5, 0], [0, 0, -1, 0]]])
def test_a_workloads_memcg_lists_must_fit_its_memcgs(lists):
    """initial_memcg_lru_pages: four page counts for each memcg of
    initial_memcg_pages, or run() names the key."""
    from defragsim import ConfigError, run
    from model_ops import Ops
    ops = Ops()
    h = ops.handles(ops.owner(C.OWNER_KERNEL), 1)
    ops.alloc(h[0], GFP_KERNEL, C.KIND_KERNEL)
    wl = ops.build()
    wl.meta.update(initial_memcg_pages=[10, 20], initial_memcg_lru_pages=lists)
    with pytest.raises(ConfigError, match="initial_memcg_lru_pages"):
        run(wl, _cfg())
