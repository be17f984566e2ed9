"""Reclaim, the allocator slowpath's retry predicates, OOM and swap.

Each test names the kernel behaviour it checks (mm/page_alloc.c
``__alloc_pages_slowpath``, ``should_reclaim_retry``, ``should_compact_retry``,
``__alloc_pages_may_oom``; mm/vmscan.c; mm/oom_kill.c; mm/workingset.c) and
the spec section (shared/spec/page-alloc.md 4.2-4.9).

Most scenarios are hand-built op streams on a Normal-only node (``dma32=0``)
without per-cpu lists (``pcp=False``), so that where every page goes is known.
``min_free_kbytes=128`` gives small watermarks (min 32, low 48, high 64 pages
on 64 MiB) so memory can be filled almost completely from the fast path.
"""
from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest
from storm_seeds import storm_run, storming_seeds

from defragsim import (Config, ConfigError, ScenarioError, build_workload,
                       load_scenario, parse_gfp, run)
from defragsim.mm import compaction as cp
from defragsim import constants as C
from defragsim.mm import page_alloc as pa
from defragsim.mm.state import NODE_SWAP_TOTAL, make_state
from model_ops import Ops

GFP_KERNEL = parse_gfp("GFP_KERNEL")
GFP_MOVABLE = parse_gfp("GFP_HIGHUSER_MOVABLE")
GFP_THP = parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP")
NORMAL = C.ZONE_NORMAL
MIN_FLAGS = C.ALLOC_WMARK_MIN | C.ALLOC_CPUSET     # gfp_to_alloc_flags(GFP_KERNEL)

SCENARIOS = Path(__file__).resolve().parents[1] / "data" / "scenarios"

# 64 MiB, Normal zone only: 16384 pages, 32 pageblocks.
NR_PAGES_64M = 16384


def _cfg64(**kw):
    base = dict(mem="64M", dma32=0, pcp=False, min_free_kbytes=128, swap=0)
    base.update(kw)
    return Config(**base)


def _direct(fn):
    """The compiled body of a kernel (skips the int64-casting wrapper, whose
    compilation is not cached); Python ints already arrive as int64."""
    return getattr(fn, "impl", fn)


# ---------------------------------------------------------------------------
# 1. should_reclaim_retry
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def boot64():
    cfg = _cfg64()
    return make_state(cfg), cfg.to_params()


def _fresh(boot):
    st, prm = boot
    return type(st)(*(a.copy() for a in st)), prm


def test_should_reclaim_retry_progress_and_costly_counter(boot64):
    """should_reclaim_retry(): ``if (did_some_progress && order <=
    PAGE_ALLOC_COSTLY_ORDER) *no_progress_loops = 0; else
    (*no_progress_loops)++`` and ``if (*no_progress_loops >
    MAX_RECLAIM_RETRIES) goto out`` -> unreserve_highatomic_pageblock(ac, true),
    which is false without highatomic blocks (spec 4.5)."""
    st, prm = _fresh(boot64)
    srr = _direct(pa.should_reclaim_retry)
    U = C.MIGRATE_UNMOVABLE
    # plenty of free memory: the watermark part says "retry"
    for order in (0, 1, C.PAGE_ALLOC_COSTLY_ORDER):
        assert srr(st, prm, GFP_KERNEL, order, MIN_FLAGS, 1, 7, NORMAL, U) == (True, 0)
    # above the costly order progress does not reset the counter
    assert srr(st, prm, GFP_KERNEL, C.PAGE_ALLOC_COSTLY_ORDER + 1, MIN_FLAGS, 1, 7, NORMAL, U) \
        == (True, 8)
    # no progress counts up; the 16th loop still retries, the 17th gives up
    assert srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 0, 0, NORMAL, U) == (True, 1)
    assert srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 0, C.MAX_RECLAIM_RETRIES - 1, NORMAL, U) \
        == (True, C.MAX_RECLAIM_RETRIES)
    retry, loops = srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 0, C.MAX_RECLAIM_RETRIES, NORMAL, U)
    assert (retry, loops) == (False, C.MAX_RECLAIM_RETRIES + 1)
    # ... and a costly request with progress every time gives up the same way
    loops = 0
    rounds = 0
    while True:
        retry, loops = srr(st, prm, GFP_KERNEL, 4, MIN_FLAGS, 1, loops, NORMAL, U)
        rounds += 1
        if not retry:
            break
        assert rounds <= 100
    assert rounds == C.MAX_RECLAIM_RETRIES + 1
    assert st.zone_stat[NORMAL, C.NR_RESERVED_HIGHATOMIC] == 0


def test_should_reclaim_retry_needs_free_plus_reclaimable_above_min(boot64):
    """should_reclaim_retry(): retry only if some zone passes
    __zone_watermark_ok(order, min_wmark, available = zone_reclaimable_pages +
    NR_FREE_PAGES); zone_reclaimable_pages counts file LRU always and anon LRU
    only while swap space is left (spec 4.5).  Progress does not matter here."""
    st, prm = _fresh(boot64)
    srr = _direct(pa.should_reclaim_retry)
    U = C.MIGRATE_UNMOVABLE
    wmin = int(st.watermark[NORMAL, C.WMARK_MIN])
    # free exactly at min: __zone_watermark_ok needs free > min
    st.zone_stat[NORMAL, C.NR_FREE_PAGES] = wmin
    assert srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 1, 0, NORMAL, U) == (False, 0)
    assert srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 0, 3, NORMAL, U) == (False, 4)
    # one more free page is enough for order 0
    st.zone_stat[NORMAL, C.NR_FREE_PAGES] = wmin + 1
    assert srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 0, 3, NORMAL, U) == (True, 4)
    # reclaimable file pages count
    st.zone_stat[NORMAL, C.NR_FREE_PAGES] = wmin
    st.lru_zone_size[NORMAL, C.LRU_INACTIVE_FILE] = 10
    assert srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 0, 3, NORMAL, U) == (True, 4)
    # anon pages count only with swap space left
    st.lru_zone_size[NORMAL, C.LRU_INACTIVE_FILE] = 0
    st.lru_zone_size[NORMAL, C.LRU_ACTIVE_ANON] = 1000
    assert srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 1, 0, NORMAL, U)[0] is False
    st.node[NODE_SWAP_TOTAL] = 100
    assert srr(st, prm, GFP_KERNEL, 0, MIN_FLAGS, 1, 0, NORMAL, U) == (True, 0)


# ---------------------------------------------------------------------------
# 2. should_compact_retry
# ---------------------------------------------------------------------------

def _scr_sequence(st, prm, order, results, prio=C.DEF_COMPACT_PRIORITY):
    scr = _direct(pa.should_compact_retry)
    retries = 0
    out = []
    for res in results:
        retry, prio, retries = scr(st, prm, order, MIN_FLAGS, res, prio, retries, NORMAL)
        out.append((bool(retry), int(prio), int(retries)))
        if not retry:
            break
    return out


def test_should_compact_retry_order0_and_success_budget(boot64):
    """should_compact_retry(): ``if (!order) return false``; COMPACT_SUCCESS
    retries up to MAX_COMPACT_RETRIES (16), a quarter of that for costly
    orders; past the budget it falls through to priority escalation (spec 4.6)."""
    st, prm = _fresh(boot64)
    scr = _direct(pa.should_compact_retry)
    for res in (C.COMPACT_SUCCESS, C.COMPACT_SKIPPED, C.COMPACT_COMPLETE):
        assert scr(st, prm, 0, MIN_FLAGS, res, C.COMPACT_PRIO_ASYNC, 0, NORMAL)[0] is False
    SYNC_LIGHT, SYNC_FULL = C.COMPACT_PRIO_SYNC_LIGHT, C.COMPACT_PRIO_SYNC_FULL
    assert C.DEF_COMPACT_PRIORITY == SYNC_LIGHT
    # !costly: 16 success retries at the same priority, then one escalation
    # (retries reset), 16 more, then give up at SYNC_FULL.
    seq = _scr_sequence(st, prm, 2, [C.COMPACT_SUCCESS] * 100)
    assert seq[:16] == [(True, SYNC_LIGHT, i) for i in range(1, 17)]
    assert seq[16] == (True, SYNC_FULL, 0)
    assert seq[17:33] == [(True, SYNC_FULL, i) for i in range(1, 17)]
    assert seq[33][0] is False and len(seq) == 34
    # costly: 4 success retries; SYNC_LIGHT is already the costly minimum
    seq = _scr_sequence(st, prm, 4, [C.COMPACT_SUCCESS] * 100)
    assert seq[:4] == [(True, SYNC_LIGHT, i) for i in range(1, 5)]
    assert seq[4][0] is False and len(seq) == 5


@pytest.mark.parametrize("result", ["COMPACT_COMPLETE", "COMPACT_DEFERRED",
                                    "COMPACT_PARTIAL_SKIPPED", "COMPACT_NO_SUITABLE_PAGE"])
def test_should_compact_retry_failure_escalates_priority(boot64, result):
    """should_compact_retry(): a failed compaction retries with
    ``(*compact_priority)--`` while above min_priority = MIN_COMPACT_PRIORITY
    (SYNC_FULL) for !costly and MIN_COMPACT_COSTLY_PRIORITY (SYNC_LIGHT) for
    costly orders; retries are reset on escalation (spec 4.6)."""
    st, prm = _fresh(boot64)
    res = getattr(cp, result)
    ASYNC, LIGHT, FULL = C.COMPACT_PRIO_ASYNC, C.COMPACT_PRIO_SYNC_LIGHT, C.COMPACT_PRIO_SYNC_FULL
    seq = _scr_sequence(st, prm, 2, [res] * 10, prio=ASYNC)
    assert [s[:2] for s in seq] == [(True, LIGHT), (True, FULL), (False, FULL)]
    assert all(s[2] == 0 for s in seq)
    seq = _scr_sequence(st, prm, C.PAGE_ALLOC_COSTLY_ORDER + 1, [res] * 10, prio=ASYNC)
    assert [s[:2] for s in seq] == [(True, LIGHT), (False, LIGHT)]


def test_should_compact_retry_skipped_asks_compaction_zonelist_suitable(boot64):
    """should_compact_retry(): COMPACT_SKIPPED -> compaction_zonelist_suitable()
    (some zone passes __compaction_suitable at MIN with free + reclaimable/order),
    priority and retries untouched (spec 4.6)."""
    st, prm = _fresh(boot64)
    scr = _direct(pa.should_compact_retry)
    LIGHT = C.COMPACT_PRIO_SYNC_LIGHT
    assert scr(st, prm, 2, MIN_FLAGS, C.COMPACT_SKIPPED, LIGHT, 3, NORMAL) == (True, LIGHT, 3)
    st.zone_stat[NORMAL, C.NR_FREE_PAGES] = 0
    assert scr(st, prm, 2, MIN_FLAGS, C.COMPACT_SKIPPED, LIGHT, 3, NORMAL) == (False, LIGHT, 3)


# ---------------------------------------------------------------------------
# 3. the defrag_mode NOFRAGMENT drop point
# ---------------------------------------------------------------------------

#: GFP_KERNEL without __GFP_KSWAPD_RECLAIM: the same slowpath, but kswapd
#: (and kcompactd, which kswapd wakes) stay asleep, so the request's retry
#: loop is all that happens.
GFP_KERNEL_NO_KSWAPD = parse_gfp("__GFP_DIRECT_RECLAIM|__GFP_IO|__GFP_FS")
#: a THP fault under thp defrag "defer": kswapd and kcompactd are woken,
#: the faulting task neither reclaims nor compacts
GFP_THP_NO_DIRECT_RECLAIM = parse_gfp("__GFP_KSWAPD_RECLAIM|__GFP_IO|__GFP_FS|__GFP_HARDWALL|"
                                      "__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_COMP|__GFP_NOWARN")


def _holes_workload(gfp=GFP_KERNEL, with_request=True):
    """A task fills the node with order-0 MOVABLE anon pages, leaving 64 pages
    free inside the last (partial) block, then frees every other page of the
    first pageblock: 320 free pages, all in two partial MOVABLE blocks.  With
    fewer than pageblock_nr_pages free pages no whole free block can appear,
    whatever reclaim or compaction do.  Then a kernel owner makes one
    UNMOVABLE order-0 request."""
    ops = Ops()
    task = ops.owner(C.OWNER_TASK)
    kern = ops.owner(C.OWNER_KERNEL)
    hs = ops.handles(task, NR_PAGES_64M - 64)
    for h in hs:
        ops.alloc(h, GFP_MOVABLE, C.KIND_ANON)
    for h in hs[:512:2]:
        ops.free(h)
    if with_request:
        ops.gap(1_000_000)
        (k,) = ops.handles(kern, 1)
        ops.alloc(k, gfp, C.KIND_KERNEL)
    return ops.build("nofragment-holes")


@functools.lru_cache(maxsize=None)
def _holes_run(gfp, defrag_mode):
    return run(_holes_workload(gfp), _cfg64(defrag_mode=defrag_mode), check_invariants=True)


def test_holes_setup_has_free_memory_only_in_partial_movable_blocks():
    """Precondition of the drop-point tests: no free chunk of pageblock order,
    every block MOVABLE, free memory above the min watermark, and no slowpath
    entry while building it."""
    cfg = _cfg64(defrag_mode=1)
    r = run(_holes_workload(with_request=False), cfg, check_invariants=True)
    assert r.nr_free_mt[NORMAL, cfg.pageblock_order:, :].sum() == 0
    assert r.block_counts["Normal"]["movable"] == cfg.nr_pageblocks
    assert r.vmstat["nr_free_pages"] == 64 + 256
    assert r.vmstat["nr_free_pages"] > r.watermarks[NORMAL, C.WMARK_HIGH]
    assert r.diagnostics["slowpath_entries"] == 0
    assert r.vmstat["oom_kill"] == 0


@pytest.mark.parametrize("gfp", [GFP_KERNEL, GFP_KERNEL_NO_KSWAPD],
                         ids=["GFP_KERNEL", "GFP_KERNEL-no-kswapd"])
def test_defrag_mode_drops_nofragment_after_retries_then_falls_back(gfp):
    """__alloc_pages_slowpath() with vm.defrag_mode=1: ALLOC_NOFRAGMENT keeps an
    UNMOVABLE request off partial movable blocks; reclaim makes no progress
    (anon only, no swap), so should_reclaim_retry() retries until
    no_progress_loops > MAX_RECLAIM_RETRIES; compaction is not retried (order 0,
    no progress); then ``if (defrag_mode && (alloc_flags & ALLOC_NOFRAGMENT))
    { alloc_flags &= ~ALLOC_NOFRAGMENT; goto retry; }`` -- before the OOM
    killer -- and the request falls back into a movable block (a fragmenting
    mm_page_alloc_extfrag event).  Spec 3.9 drop point 1, 4.2, 4.5."""
    cfg = _cfg64(defrag_mode=1)
    r = _holes_run(gfp, 1)
    d = r.diagnostics
    assert d["nofragment_drops"] == {"unmovable": 1, "movable": 0, "reclaimable": 0}
    assert d["nofragment_dropped"] == 1
    # 16 "goto retry" from should_reclaim_retry, then the 17th says no
    assert d["reclaim_retries"]["unmovable"] == C.MAX_RECLAIM_RETRIES
    assert d["compact_retries"]["unmovable"] == 0
    # one direct reclaim per pass: 17 before the drop, none after (the
    # freelist attempt at the top of the retry loop succeeds)
    assert d["direct_reclaim"]["unmovable"] == C.MAX_RECLAIM_RETRIES + 1
    # each reclaimed nothing, so do_try_to_free_pages() went round again with
    # memcg_full_walk ("goto retry"), counting allocstall once more
    assert r.vmstat["allocstall_normal"] == 2 * (C.MAX_RECLAIM_RETRIES + 1)
    assert r.vmstat["pgsteal_direct"] == 0
    assert r.vmstat["oom_kill"] == 0
    assert d["alloc_failed"] == {}
    assert d["failed"]["unmovable"] == 0
    ef = r.extfrag
    assert len(ef) >= 1
    assert (ef["alloc_migratetype"] == C.MIGRATE_UNMOVABLE).all()
    assert (ef["fallback_migratetype"] == C.MIGRATE_MOVABLE).all()
    assert (ef["fragmenting"] == 1).all()
    assert (ef["fallback_order"] < cfg.pageblock_order).all()


@pytest.mark.parametrize("gfp", [GFP_KERNEL, GFP_KERNEL_NO_KSWAPD],
                         ids=["GFP_KERNEL", "GFP_KERNEL-no-kswapd"])
def test_without_defrag_mode_no_drop_and_fallback_on_the_fast_path(gfp):
    """defrag_mode=0: ALLOC_NOFRAGMENT is set in the fast path only and
    dropped by get_page_from_freelist()'s UMA second pass ("reset and try
    again"), so the same request falls back without entering the slowpath:
    no reclaim, no nofragment drop (spec 3.9, defrag_mode = 0)."""
    r = _holes_run(gfp, 0)
    d = r.diagnostics
    assert d["nofragment_drops"] == {"unmovable": 0, "movable": 0, "reclaimable": 0}
    assert d["nofragment_dropped"] == 0
    assert d["nofragment_second_pass"] >= 1
    assert d["slowpath_entries"] == 0
    assert d["reclaim_retries"]["unmovable"] == 0
    assert r.vmstat["allocstall_normal"] == 0
    assert d["alloc_failed"] == {}
    ef = r.extfrag
    assert len(ef) >= 1 and (ef["fragmenting"] == 1).all()


def test_kcompactd_pass_scans_each_pfn_a_bounded_number_of_times():
    """mm/compaction.c compact_zone(): cc->migrate_pfn only advances (a
    pageblock is rescanned at most once, cc->finish_pageblock) and the pass
    ends when the migrate scanner meets the free scanner, so one
    kcompactd_do_work() scans at most about twice the zone per wake.  Here a
    node full of anon (no swap) has every other page of its first 8
    pageblocks free: THP faults that may not reclaim (thp defrag "defer")
    wake kswapd, which reclaims nothing until it is hopeless
    (MAX_RECLAIM_RETRIES failed runs); the next fault then wakes kcompactd
    itself (wakeup_kswapd(): a hopeless kswapd and no __GFP_DIRECT_RECLAIM)."""
    ops = Ops()
    task = ops.owner(C.OWNER_TASK)
    hs = ops.handles(task, NR_PAGES_64M - 64)
    for h in hs:
        ops.alloc(h, GFP_MOVABLE, C.KIND_ANON)
    for h in hs[:8 * 512:2]:
        ops.free(h)
    for t in ops.handles(task, 20):
        ops.gap(100_000_000)
        ops.alloc(t, GFP_THP_NO_DIRECT_RECLAIM, C.KIND_ANON, order=9)
    r = run(ops.build("kcompactd-holes"), _cfg64(defrag_mode=1), check_invariants=True)
    wakes = r.vmstat["compact_daemon_wake"]
    assert wakes >= 1
    assert r.vmstat["compact_daemon_migrate_scanned"] <= 2 * NR_PAGES_64M * wakes


# ---------------------------------------------------------------------------
# 4. OOM
# ---------------------------------------------------------------------------

def _oom_workload(gfp, order=0, nreq=200, dead_ops=True):
    """Task 0 fills RAM with anon pages (no swap: unreclaimable), leaving 100
    pages free; then a kernel owner makes ``nreq`` requests; then task 0's
    later ops (frees, touches, a new allocation).

    The OOM tests run with watermark_boost_factor=0: the kernel requests'
    fallbacks would otherwise boost the watermark, and boosted kswapd wakes
    kcompactd at pageblock order, which is beside the point here."""
    ops = Ops()
    task = ops.owner(C.OWNER_TASK)
    kern = ops.owner(C.OWNER_KERNEL)
    hs = ops.handles(task, NR_PAGES_64M - 100)
    for h in hs:
        ops.alloc(h, GFP_MOVABLE, C.KIND_ANON)
    ops.gap(5_000_000)
    for k in ops.handles(kern, nreq):
        ops.alloc(k, gfp, C.KIND_KERNEL, order=order, dt=20_000)
    if dead_ops:
        ops.gap(5_000_000)
        for h in hs[:10]:
            ops.free(h)
        for h in hs[10:20]:
            ops.touch(h)
        (extra,) = ops.handles(task, 1)
        ops.alloc(extra, GFP_MOVABLE, C.KIND_ANON)
    return ops.build("oom"), len(hs)


def test_oom_kill_frees_victim_memory_and_skips_its_later_ops():
    """__alloc_pages_may_oom() -> out_of_memory(): when reclaim cannot help
    (free + reclaimable at the min watermark, so should_reclaim_retry() says
    no), a GFP_KERNEL order-0 request kills the task with the highest
    oom_badness (rss + swap + page tables), its memory is freed, progress
    resets no_progress_loops and the request succeeds on the retry; the
    victim's later ops are skipped (spec 4.9)."""
    wl, ntask = _oom_workload(GFP_KERNEL)
    cfg = _cfg64(watermark_boost_factor=0)
    r = run(wl, cfg, check_invariants=True, sample_interval=0.0005)
    d = r.diagnostics
    assert r.vmstat["oom_kill"] == 1
    assert d["oom_kills"]["unmovable"] == 1
    assert d["oom_kills_no_victim"] == 0
    assert d["alloc_failed"] == {}
    # 10 frees + 10 touches + 1 allocation of the dead task
    assert d["ops_of_dead_owners"] == 21
    assert r.vmstat["nr_anon_pages"] == 0
    # free pages: at the min watermark before the kill, the task's pages after
    ts = r.timeseries
    killed = ts.index[ts["oom_kill"] >= 1][0]
    before = ts.loc[ts.index < killed, "nr_free_pages"]
    # the kernel requests ate into the last 100 free pages before the kill
    assert before.iloc[-1] < 100
    assert ts.loc[killed, "nr_free_pages"] >= ntask - 200
    assert r.vmstat["nr_free_pages"] >= NR_PAGES_64M - 200 - 64


@pytest.mark.parametrize("gfp,order", [
    ("GFP_KERNEL|__GFP_NORETRY", 0),
    ("GFP_KERNEL", C.PAGE_ALLOC_COSTLY_ORDER + 1),
    ("GFP_KERNEL|__GFP_RETRY_MAYFAIL", 0),
], ids=["noretry", "costly", "retry_mayfail"])
def test_requests_that_may_not_oom_fail_instead(gfp, order):
    """__GFP_NORETRY requests give up after one reclaim/compaction round
    (goto nopage); costly orders without __GFP_RETRY_MAYFAIL do not loop and
    ``The OOM killer will not help higher order allocs``;
    __alloc_pages_may_oom() skips the killer for __GFP_RETRY_MAYFAIL.  The
    requests fail, nobody is killed (spec 4.7, 4.9)."""
    wl, ntask = _oom_workload(parse_gfp(gfp), order=order, nreq=100, dead_ops=False)
    r = run(wl, _cfg64(watermark_boost_factor=0), check_invariants=True)
    d = r.diagnostics
    assert r.vmstat["oom_kill"] == 0
    assert d["oom_kills"] == {"unmovable": 0, "movable": 0, "reclaimable": 0}
    assert d["failed"]["unmovable"] >= 1
    assert d["direct_reclaim"]["unmovable"] >= 1
    if "RETRY_MAYFAIL" not in gfp:
        # nopage right after the reclaim/compaction round: no retry loop
        assert d["reclaim_retries"]["unmovable"] == 0
    assert r.vmstat["nr_anon_pages"] == ntask
    assert d["ops_of_dead_owners"] == 0


# ---------------------------------------------------------------------------
# 5. pages and swap slots conserved through reclaim
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("defrag_mode", [0, 1])
def test_storm_conserves_pages_and_swap(defrag_mode):
    """Reclaim (kswapd and direct), swap-out, refaults and OOM kills keep every
    page accounted for (invariants checked after every chunk) and the swap
    device consistent: 0 <= swap used <= its size, and swap used =
    pswpout - pswpin - slots released without a swap-in (freed, killed, failed
    refault) <= pswpout - pswpin."""
    cfg = Config(mem="128M", defrag_mode=defrag_mode, seed=2)
    r = run("storm", cfg, duration=4, check_invariants=True)
    ts = r.timeseries
    conserved = ts["nr_free_pages"] + ts["nr_pcp_pages"] + ts["nr_allocated_pages"]
    assert (conserved == cfg.nr_pages).all()
    swap_pages = int(0.5 * cfg.nr_pages)          # storm.toml: swap = 0.5
    used = r.diagnostics["swap_used_pages"]
    assert used == r.vmstat["nr_swap_used"]
    assert r.vmstat["pswpout"] > 0, "the storm should swap at 128M"
    assert 0 <= used <= swap_pages
    assert used <= r.vmstat["pswpout"] - r.vmstat["pswpin"]
    assert (ts["swap_used"] >= 0).all() and (ts["swap_used"] <= swap_pages).all()


def test_swap_accounting_exact_without_frees_or_kills():
    """With no frees, kills or failed refaults, every slot taken by swap-out
    (pswpout) is released only by a swap-in (pswpin): swap used == pswpout -
    pswpin exactly (mm/vmscan.c pageout + mm/page_io.c counters)."""
    r, touched = _anon_refault_run()
    v = r.vmstat
    assert r.diagnostics["alloc_failed"] == {}
    assert r.vmstat["oom_kill"] == 0
    assert r.diagnostics["swap_used_pages"] == v["pswpout"] - v["pswpin"]


def test_swap_used_never_exceeds_swap_device_with_thp():
    """mm/vmscan.c shrink_folio_list(): add_to_swap() of a THP needs a slot for
    every page; without room the kernel splits the folio and swaps base pages
    while slots last (the model activates the folio instead).  Either way the
    swap device never holds more than its size (16 pages here, with eight
    order-9 anon folios at the cold end of the LRU)."""
    ops = Ops()
    task = ops.owner(C.OWNER_TASK)
    thp = ops.handles(task, 8)
    for h in thp:
        ops.alloc(h, GFP_THP, C.KIND_ANON, order=9)
    small = ops.handles(task, NR_PAGES_64M - 8 * 512 - 100)
    for h in small:
        ops.alloc(h, GFP_MOVABLE, C.KIND_ANON)
    more = ops.handles(task, 500)
    for h in more:
        ops.alloc(h, GFP_MOVABLE, C.KIND_ANON)
    swap_pages = 16
    r = run(ops.build("thp-swap"), _cfg64(swap=swap_pages * C.PAGE_SIZE), check_invariants=True)
    assert r.vmstat["pswpout"] > 0
    assert r.diagnostics["swap_used_pages"] <= swap_pages
    assert r.timeseries["swap_used"].max() <= swap_pages


# ---------------------------------------------------------------------------
# 6. refaults
# ---------------------------------------------------------------------------

def _anon_refault_run():
    """Task A fills RAM with anon pages; task B's allocations force reclaim to
    swap out A's oldest pages (the inactive anon tail); then A touches its
    first 1000 pages again."""
    ops = Ops()
    a = ops.owner(C.OWNER_TASK)
    b = ops.owner(C.OWNER_TASK)
    ha = ops.handles(a, NR_PAGES_64M - 100)
    for h in ha:
        ops.alloc(h, GFP_MOVABLE, C.KIND_ANON)
    for h in ops.handles(b, 2000):
        ops.alloc(h, GFP_MOVABLE, C.KIND_ANON)
    ops.gap(1_000_000)
    touched = ha[:1000]
    for h in touched:
        ops.touch(h)
    r = run(ops.build("anon-refault"), _cfg64(swap="64M"), check_invariants=True)
    return r, touched


def test_anon_refault_swaps_in():
    """do_swap_page(): touching swapped-out anon data swaps it in (pswpin,
    pgmajfault) and workingset_refault() counts workingset_refault_anon;
    reclaim swapped it out (pswpout) in the first place."""
    r, touched = _anon_refault_run()
    v = r.vmstat
    assert v["pswpout"] >= 2000 - 100
    assert 0 < v["pswpin"] <= len(touched)
    assert v["workingset_refault_anon"] == v["pswpin"]
    assert v["workingset_refault_file"] == 0
    assert v["pgmajfault"] == v["pswpin"]
    assert r.diagnostics["refaults"] == v["pswpin"]


def test_file_refault_counts_workingset_refault_file():
    """filemap_fault() -> workingset_refault(): a touch of an evicted page-cache
    page reads it back (pgmajfault) and counts workingset_refault_file; no
    swap is involved."""
    ops = Ops()
    f0 = ops.owner(C.OWNER_FILE)
    f1 = ops.owner(C.OWNER_FILE)
    h0 = ops.handles(f0, NR_PAGES_64M - 100)
    for h in h0:
        ops.alloc(h, GFP_MOVABLE, C.KIND_FILE)
    for h in ops.handles(f1, 2000):
        ops.alloc(h, GFP_MOVABLE, C.KIND_FILE)
    ops.gap(1_000_000)
    touched = h0[:1000]
    for h in touched:
        ops.touch(h)
    r = run(ops.build("file-refault"), _cfg64(swap=0), check_invariants=True)
    v = r.vmstat
    assert v["pgsteal_file"] >= 2000 - 100
    assert 0 < v["workingset_refault_file"] <= len(touched)
    assert v["pgmajfault"] == v["workingset_refault_file"]
    assert r.diagnostics["refaults"] == v["workingset_refault_file"]
    assert v["workingset_refault_anon"] == 0
    assert v["pswpin"] == 0 and v["pswpout"] == 0


# ---------------------------------------------------------------------------
# 7. the storm's direction
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def storm512():
    """The first two seeds whose storm run storms at 512M/20s
    (tests/storm_seeds.py), with defrag_mode 0 and 1."""
    return {(i, dm): storm_run(seed, defrag_mode=dm)
            for i, seed in enumerate(storming_seeds(2)) for dm in (0, 1)}


@pytest.mark.parametrize("i", [0, 1])
def test_storm_direction_defrag_mode(storm512, i):
    """The reclaim storm of "mm: fix reclaim storms in defrag_mode": with
    defrag_mode=1 (no patches) non-movable requests keep reclaiming instead of
    falling back -- GFP_KERNEL requests enter direct reclaim (allocstall_normal),
    swap-out rises -- and in exchange fragment less (fewer fragmenting extfrag
    events)."""
    r0, r1 = storm512[i, 0], storm512[i, 1]
    assert r0.vmstat["allocstall_normal"] == 0
    assert r1.vmstat["allocstall_normal"] > 0
    assert r1.vmstat["pgsteal_direct"] > r0.vmstat["pgsteal_direct"]
    assert r1.vmstat["pswpout"] > r0.vmstat["pswpout"]
    assert r1.extfrag_summary()["fragmenting"] < r0.extfrag_summary()["fragmenting"]


# ---------------------------------------------------------------------------
# 8. bad scenario input
# ---------------------------------------------------------------------------

def _mutated_storm(tmp_path, old, new, name="bad.toml"):
    text = (SCENARIOS / "storm.toml").read_text()
    assert old in text
    p = tmp_path / name
    p.write_text(text.replace(old, new, 1))
    return p


def _one_line(e):
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_storm_toml_loads(tmp_path):
    p = tmp_path / "copy.toml"
    shutil.copy(SCENARIOS / "storm.toml", p)
    sc = load_scenario(str(p))
    assert sc.kind == "processes"


def test_negative_footprint_names_the_key(tmp_path):
    p = _mutated_storm(tmp_path, "footprint = 0.85", "footprint = -0.5")
    with pytest.raises(ScenarioError) as e:
        load_scenario(str(p))
    msg = _one_line(e)
    assert "footprint" in msg and "bad.toml" in msg


def test_unknown_gfp_flag_names_the_flag(tmp_path):
    p = _mutated_storm(tmp_path, 'gfp = "GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP"',
                       'gfp = "GFP_KERNEL|__GFP_BOGUS"')
    with pytest.raises(ScenarioError) as e:
        load_scenario(str(p))
    msg = _one_line(e)
    assert "__GFP_BOGUS" in msg and "gfp" in msg


def test_swap_larger_than_allowed_names_swap(tmp_path):
    p = _mutated_storm(tmp_path, "swap = 0.5", 'swap = "64G"')
    load_scenario(str(p))     # a size is checked against memory when building
    with pytest.raises(ScenarioError) as e:
        build_workload(str(p), Config(mem="1G"), duration=1)
    msg = _one_line(e)
    assert "swap" in msg and "64G" in msg


def test_config_swap_too_large():
    with pytest.raises(ConfigError) as e:
        Config(swap="5G", mem="1G")
    assert str(e.value).startswith("config.swap")
    assert "\n" not in str(e.value)
