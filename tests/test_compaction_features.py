"""Compaction as a whole: who compacts (proactive kcompactd, manual
compaction, THP faults by the THP ``defrag`` setting), what cannot move
(long-term pinned folios), the mm_compaction_* event table, and the
scenarios that exercise it (``kbuild-thp``, ``thpchallenge``).

Kernel references: mm/compaction.c (``kcompactd``, ``compact_node``,
``fragmentation_score_*``, ``__compact_finished``,
``isolate_migratepages_block``), mm/huge_memory.c (``vma_thp_gfp_mask``),
include/trace/events/compaction.h; spec compaction-reclaim.md 1.2, 1.6.4,
1.9, 2.3.
"""
from __future__ import annotations

import numpy as np
import pytest

from defragsim import Config, ConfigError, ScenarioError, build_workload, load_scenario, parse_gfp, run
from defragsim import constants as C
from defragsim.gfp import vma_thp_gfp_mask
from defragsim.workloads import validate_processes
from model_ops import Ops

GFP_MOVABLE = parse_gfp("GFP_HIGHUSER_MOVABLE")
NR_PAGES_64M = 16384


def _cfg64(**kw):
    base = dict(mem="64M", dma32=0, pcp=False, min_free_kbytes=128, swap=0)
    base.update(kw)
    return Config(**base)


# ---------------------------------------------------------------------------
# THP defrag setting -> fault gfp (vma_thp_gfp_mask)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("defrag, madvised, expected", [
    ("always", True, "GFP_TRANSHUGE"),
    ("always", False, "GFP_TRANSHUGE|__GFP_NORETRY"),
    ("defer", True, "GFP_TRANSHUGE_LIGHT|__GFP_KSWAPD_RECLAIM"),
    ("defer", False, "GFP_TRANSHUGE_LIGHT|__GFP_KSWAPD_RECLAIM"),
    ("defer+madvise", True, "GFP_TRANSHUGE_LIGHT|__GFP_DIRECT_RECLAIM"),
    ("defer+madvise", False, "GFP_TRANSHUGE_LIGHT|__GFP_KSWAPD_RECLAIM"),
    ("madvise", True, "GFP_TRANSHUGE_LIGHT|__GFP_DIRECT_RECLAIM"),
    ("madvise", False, "GFP_TRANSHUGE_LIGHT"),
    ("never", True, "GFP_TRANSHUGE_LIGHT"),
    ("never", False, "GFP_TRANSHUGE_LIGHT"),
])
def test_vma_thp_gfp_mask(defrag, madvised, expected):
    """vma_thp_gfp_mask(): the five defrag settings, MADV_HUGEPAGE or not."""
    assert vma_thp_gfp_mask(defrag, madvised) == parse_gfp(expected)


def test_thp_defrag_reaches_the_workload():
    """A scenario's THP faults carry the gfp of the config's defrag setting."""
    for defrag, madv in (("madvise", True), ("never", True), ("always", True)):
        wl = build_workload("kbuild-thp", Config(mem="128M", thp_defrag=defrag), duration=3)
        # (a slab-object op's order column holds its cache)
        pages = (wl.content & C.CONTENT_SLAB_OBJECT) == 0
        thp = wl.gfp[(wl.kind == C.OP_ALLOC) & (wl.order == 9) & pages]
        assert len(thp) > 0
        assert set(thp.tolist()) == {vma_thp_gfp_mask(defrag, madv)}


def test_config_rejects_bad_compaction_settings():
    with pytest.raises(ConfigError, match=r"config.thp_defrag: expected one of always"):
        Config(thp_defrag="sometimes")
    with pytest.raises(ConfigError, match=r"config.compaction_proactiveness: 101 is above"):
        Config(compaction_proactiveness=101)


def test_scenario_errors_name_the_key(tmp_path):
    base = {"kind": "processes", "duration": 1.0}
    with pytest.raises(ScenarioError, match=r"x: jobs: missing key 'concurrency'"):
        validate_processes({**base, "jobs": {"lifetime_s": 1.0, "footprint": 0.1}}, "x")
    with pytest.raises(ScenarioError, match=r"x: thp_bursts\[0\].footprint: must be between"):
        validate_processes({**base, "thp_bursts": [{"every_s": 1.0, "footprint": 1.5,
                                                     "hold_s": 1.0}]}, "x")
    with pytest.raises(ScenarioError, match=r"x: jobs.stack_pages: must be a non-negative integer"):
        validate_processes({**base, "jobs": {"concurrency": 2, "lifetime_s": 1.0, "footprint": 0.1,
                                             "stack_pages": -1}}, "x")
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "processes"\nduration = 1.0\n[anon]\nthp_gfp = "GFP_KERNEL"\n')
    with pytest.raises(ScenarioError, match=r"bad.toml: anon: unknown key 'thp_gfp'"):
        load_scenario(str(bad))


# ---------------------------------------------------------------------------
# A fragmented 64M zone: every other order-0 anon page freed
# ---------------------------------------------------------------------------

def _fragmented(pinned_every=0, tail=None):
    """Fill the zone with order-0 anon pages, then free a random half of them:
    lots of free memory, no free pageblock.  (Not every other page: the free
    scanner's stride doubles after an empty block -- in the kernel too -- and
    a strictly alternating layout hides every free page from even strides.)
    With ``pinned_every``, every n-th page is long-term pinned (and kept)."""
    o = Ops()
    task = o.owner(C.OWNER_TASK)
    n = NR_PAGES_64M - 1024           # stay above the watermarks
    hs = o.handles(task, n)
    rng = np.random.default_rng(7)
    freed = rng.random(n) < 0.5
    for i, h in enumerate(hs):
        content = C.KIND_ANON
        if pinned_every and i % pinned_every == 0:
            content |= C.CONTENT_PINNED
            freed[i] = False
        o.alloc(h, GFP_MOVABLE, content, dt=10)
    for i in np.flatnonzero(freed):
        o.free(hs[i], dt=10)
    if tail:
        tail(o, hs)
    return o


def _blocks_free(r):
    return r.vmstat["nr_free_pages_blocks"] >> 9


def test_compact_memory_builds_free_pageblocks():
    """echo 1 > /proc/sys/vm/compact_memory: compact_node() (order -1,
    MIGRATE_SYNC, whole zone, skip hints ignored) migrates the scattered
    pages together; pages are conserved (checked after every chunk) and the
    owners' data moves with them."""
    def tail(o, hs):
        o.op(C.OP_COMPACT_MEMORY, 0, dt=1_000_000)
        for h in hs[:64]:
            o.touch(h)
    cfg = _cfg64(compaction_proactiveness=0)
    before = run(_fragmented().build(), cfg, check_invariants=True)
    after = run(_fragmented(tail=tail).build(), cfg, check_invariants=True)
    # the 1024 never-allocated pages are the only free blocks before
    assert _blocks_free(before) <= 2
    assert _blocks_free(after) >= _blocks_free(before) + 8
    assert after.vmstat["pgmigrate_success"] > 3000
    assert after.vmstat["compact_daemon_migrate_scanned"] == 0   # a task, not kcompactd
    ev = after.compaction_events
    end = ev[ev.event == "mm_compaction_end"]
    assert len(end) == 1 and end.iloc[0]["mode"] == "sync" and end.iloc[0]["order"] == -1
    assert end.iloc[0]["status"] == "complete"
    # every kept page is still resident and anon
    assert after.vmstat["nr_anon_pages"] == before.vmstat["nr_anon_pages"]


def test_pinned_folios_are_not_migrated():
    """isolate_migratepages_block(): a folio with extra (pinned) references is
    an isolation failure; blocks holding one can never become free."""
    def tail(o, hs):
        o.op(C.OP_COMPACT_MEMORY, 0, dt=1_000_000)
    cfg = _cfg64(compaction_proactiveness=0)
    # one pinned page in every 256: at least one in each pageblock
    r = run(_fragmented(pinned_every=256, tail=tail).build(), cfg, check_invariants=True)
    snap = r.pageblocks()
    free_blocks = _blocks_free(r)
    unpinned = run(_fragmented(tail=tail).build(), cfg)
    assert free_blocks < _blocks_free(unpinned)
    # no pinned page moved: the blocks that hold them are not free
    assert (snap["free"] == 512).sum() == free_blocks


def test_proactive_compaction_lowers_the_fragmentation_score():
    """kcompactd's proactive check (every 500 ms) compacts a node whose
    fragmentation score is above the high mark (low + min(10, low/2): 60 at
    proactiveness 50) until each zone is at or below the low mark
    (100 - proactiveness = 50); proactiveness 0 disables it.  (The zone here
    scores ~87: below the default high mark of 90.)"""
    def tail(o, hs):
        # time passes (touches keep the clock moving for 3 s)
        for i in range(300):
            o.touch(hs[0], dt=10_000_000)
    on = run(_fragmented(tail=tail).build(), _cfg64(compaction_proactiveness=50),
             check_invariants=True)
    off = run(_fragmented(tail=tail).build(), _cfg64(compaction_proactiveness=0))
    default = run(_fragmented(tail=tail).build(), _cfg64())
    assert default.vmstat["compact_daemon_migrate_scanned"] == 0     # 87 <= 90
    assert off.vmstat["compact_daemon_migrate_scanned"] == 0
    assert _blocks_free(off) <= 2
    assert on.vmstat["compact_daemon_migrate_scanned"] > 0
    assert on.diagnostics["kcompactd_proactive_s"] > 0
    assert _blocks_free(on) > _blocks_free(off)
    # the pass stopped at the low mark: score = % of free memory outside free blocks
    free = on.vmstat["nr_free_pages"]
    score = 100 * (free - on.vmstat["nr_free_pages_blocks"]) // free
    assert score <= 50


@pytest.mark.parametrize("first_ns", [None, 300_000_123, 1_300_000_007])
def test_a_workload_can_set_when_kcompactd_first_times_out(first_ns):
    """meta["initial_kcompactd_timeout_ns"] (a replay: when the traced
    machine's kcompactd first ended a wait): the first proactive check, and
    so the first proactive pass on a fragmented node, comes then; the next a
    period (500 ms) after the pass.  Without it kcompactd waits from the
    start."""
    def tail(o, hs):
        for i in range(300):
            o.touch(hs[0], dt=10_000_000)
    wl = _fragmented(tail=tail).build()
    if first_ns is not None:
        wl.meta["initial_kcompactd_timeout_ns"] = first_ns
    r = run(wl, _cfg64(compaction_proactiveness=50))
    ev = r.compaction_events
    begin = ev[(ev.event == "mm_compaction_begin") & (ev.order == -1)]
    assert len(begin)
    expect = C.HPAGE_FRAG_CHECK_INTERVAL_NS if first_ns is None else first_ns
    assert round(begin.t.iloc[0] * 1e9) == expect


def test_a_pending_kcompactd_request_is_served_when_the_first_wait_ends():
    """meta["initial_kcompactd_request"] (a replay: the request a wakeup
    before the trace left pending): kcompactd's first wait ends in
    kcompactd_do_work() for that order (mm_compaction_kcompactd_wake, no
    wakeup_kcompactd before it), not in a proactive check; without it the
    same timeout makes the proactive pass."""
    def tail(o, hs):
        for i in range(300):
            o.touch(hs[0], dt=10_000_000)
    first = 300_000_123
    runs = {}
    for pending in (None, (9, 1)):
        wl = _fragmented(tail=tail).build()
        wl.meta["initial_kcompactd_timeout_ns"] = first
        if pending is not None:
            wl.meta["initial_kcompactd_request"] = pending
        runs[pending] = run(wl, _cfg64(compaction_proactiveness=50)).compaction_events
    ev = runs[(9, 1)]
    wake = ev[ev.event == "mm_compaction_kcompactd_wake"]
    assert round(wake.t.iloc[0] * 1e9) == first and wake.order.iloc[0] == 9
    assert not (ev[ev.event == "mm_compaction_wakeup_kcompactd"].t <= wake.t.iloc[0]).any()
    proactive = ev[(ev.event == "mm_compaction_begin") & (ev.order == -1)]
    assert not (proactive.t * 1e9 <= first + 1).any()
    ev = runs[None]
    proactive = ev[(ev.event == "mm_compaction_begin") & (ev.order == -1)]
    assert round(proactive.t.iloc[0] * 1e9) == first


@pytest.mark.parametrize("bad", [(0, 1), (9, 5), (9,), "9", (9.0, 1)])
def test_a_bad_pending_kcompactd_request_is_named(bad):
    wl = _fragmented().build()
    wl.meta["initial_kcompactd_request"] = bad
    with pytest.raises(ConfigError, match="initial_kcompactd_request"):
        run(wl, _cfg64())


@pytest.mark.parametrize("bad", [-5, "soon", 1.5])
def test_a_bad_first_kcompactd_timeout_is_named(bad):
    wl = _fragmented().build()
    wl.meta["initial_kcompactd_timeout_ns"] = bad
    with pytest.raises(ConfigError, match="initial_kcompactd_timeout_ns"):
        run(wl, _cfg64())


# ---------------------------------------------------------------------------
# The event table and the scenarios
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def kbuild_runs():
    out = {}
    for dm in (0, 1):
        out[dm] = run("kbuild-thp", Config(mem="256M", defrag_mode=dm, seed=3), duration=8)
    return out


def test_compaction_event_table(kbuild_runs):
    """mm_compaction_begin/end come in pairs with the tracepoint fields; every
    end has a compact_result status; defer events carry the zone's deferral
    state; try_to_compact_pages carries the gfp mask and priority."""
    ev = kbuild_runs[1].compaction_events
    assert kbuild_runs[1].compaction_events_lost == 0
    counts = ev.event.value_counts()
    assert counts["mm_compaction_begin"] == counts["mm_compaction_end"] > 0
    end = ev[ev.event == "mm_compaction_end"]
    assert set(end.status) <= {"complete", "partial_skipped", "contended", "success",
                               "no_suitable_page", "continue"}
    be = ev[ev.event.isin(["mm_compaction_begin", "mm_compaction_end"])]
    assert (be.zone_start <= be.migrate_pfn).all() and (be.free_pfn < be.zone_end).all()
    tr = ev[ev.event == "mm_compaction_try_to_compact_pages"]
    assert (tr.gfp_mask & 0x400).all()            # direct compaction needs __GFP_DIRECT_RECLAIM
    assert set(tr.prio) <= {0, 1, 2}
    dfr = ev[ev.event == "mm_compaction_defer_compaction"]
    assert (dfr.defer_shift.between(1, C.COMPACT_MAX_DEFER_SHIFT)).all()
    # events of kcompactd are stamped with kcompactd's clock, tasks' with theirs
    assert ev.t.min() >= 0 and ev.t.max() <= kbuild_runs[1].duration_s + 1


def test_kbuild_thp_defrag_mode_direction():
    """The defrag_mode changelog's direction on the kbuild-thp workload:
    pollution fallbacks (extfrag with fallback_order < pageblock_order) go to
    about zero under defrag_mode=1.  Summed over seeds 1-3: with its kernel
    memory as slab objects a 256M build pollutes only a few times per run."""
    f = {dm: sum(int(run("kbuild-thp", Config(mem="256M", defrag_mode=dm, seed=seed),
                         duration=15).extfrag.fragmenting.sum()) for seed in (1, 2, 3))
         for dm in (0, 1)}
    assert f[0] >= 5
    assert f[1] <= 1


def test_scenarios_are_deterministic():
    a = run("thpchallenge", Config(mem="128M", seed=5), duration=2)
    b = run("thpchallenge", Config(mem="128M", seed=5), duration=2)
    assert a.vmstat == b.vmstat
    assert a.compaction_events.equals(b.compaction_events)


def test_the_node_score_weights_each_zone_by_its_present_pages():
    """fragmentation_score_node(): fragmentation_score_zone_weighted() weighs
    a zone by zone->present_pages over node_present_pages + 1, not by its
    managed pages (a replay's zones keep the machine's boot-reserved pages out
    of the managed ones)."""
    from defragsim.mm import compaction
    from defragsim.mm.state import make_state
    cfg = Config(mem="256M", dma32="64M")
    prm = cfg.to_params()
    reserved = np.zeros(cfg.nr_pages, bool)
    reserved[cfg.nr_pages - 8192:] = True            # 32 MiB of Normal reserved at boot
    st = make_state(cfg, reserved=reserved)
    dma32, normal = (int(e - s) for s, e in zip(st.zone_start, st.zone_end))
    assert st.zone_managed[1] == normal - 8192
    st.nr_free[:] = 0
    st.nr_free[0, 0] = 100                           # DMA32: all free memory in pages: 100
    st.nr_free[1, C.MAX_PAGE_ORDER] = 1              # Normal: all in a free block: 0
    assert compaction.fragmentation_score_zone(st, prm, 0) == 100
    assert compaction.fragmentation_score_zone(st, prm, 1) == 0
    assert compaction.fragmentation_score_node(st, prm) == dma32 * 100 // (dma32 + normal + 1)


def test_bad_initial_skip_bits_are_named():
    wl = _fragmented().build()
    cfg = _cfg64()
    wl.meta["initial_block_skip"] = np.full(cfg.nr_pageblocks, 3, np.int8)
    with pytest.raises(ConfigError, match=r"initial skip bits: expected 0, 1 .* or 2"):
        run(wl, cfg)
    wl.meta["initial_block_skip"] = np.zeros(cfg.nr_pageblocks + 1, bool)
    with pytest.raises(ConfigError, match="initial skip bits for"):
        run(wl, cfg)
