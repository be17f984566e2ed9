"""Zones of the machine's present pages, with the pages memblock reserved at
boot kept out of the buddy allocator (issue 17: the replay's initial state).

A zone's ``present`` pages less its ``managed`` ones were reserved at boot
(the memmap, the kernel image, firmware tables): reserve_bootmem_region()
marks them PageReserved and memblock_free_all() never hands them to the
buddy allocator.  A replay sizes the model's zones to the present pages, so
that machine pfns map to model pfns one to one, and places the reserved
pages where the trace never touches memory (``boot_reserved``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defragsim import Config, constants as C
from defragsim.analysis.replay import replay
from defragsim.mm.invariants import check_state
from defragsim.mm.state import make_state, setup_per_zone_wmarks
from defragsim.workloads.replay_ops import (
    ReplayStats, _holes_from_gaps, _prefill_holes, _ReplayOps, boot_reserved,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
SAMPLE = DATA / "samples-1s" / "page_events.csv.xz"


def test_reserved_pages_stay_out_of_the_buddy_allocator_and_the_managed_pages():
    cfg = Config(mem="256M", min_free_kbytes=4096)
    n = cfg.nr_pages
    (d0, d1), (n0, n1) = cfg.zone_spans()
    res = np.zeros(n, bool)
    res[d1 - 700:d1] = True              # the top of DMA32, not chunk-aligned
    res[n1 - 2048:n1] = True             # the top of Normal: whole MAX_PAGE_ORDER chunks
    res[n0 + 5] = True                   # one page inside a chunk
    st, prm = make_state(cfg, reserved=res), cfg.to_params()
    check_state(st, prm)                 # every pfn covered once: free or allocated
    assert st.zone_managed.tolist() == [d1 - d0 - 700, n1 - n0 - 2049]
    for z in (0, 1):
        s, e = cfg.zone_spans()[z]
        assert int(st.zone_stat[z, C.NR_FREE_PAGES]) == e - s - int(res[s:e].sum())
        assert int(st.zone_stat[z, C.NR_ZONE_ALLOCATED]) == int(res[s:e].sum())
    # reserved pages: kernel memory no handle owns, never on an LRU
    for pfn in (d1 - 700, d1 - 1, n0 + 5, n1 - 1):
        assert st.pg_flags[pfn] >> C.PG_KIND_SHIFT == C.KIND_KERNEL
        assert st.pg_flags[pfn] & (C.PG_head | C.PG_tail)
        assert not st.pg_flags[pfn] & (C.PG_buddy | C.PG_lru)
        assert st.pg_handle[pfn] == -1
    # the watermarks are the managed pages', as the kernel's are
    wm = setup_per_zone_wmarks(st.zone_managed, 4096, cfg.watermark_scale_factor)
    assert np.array_equal(st.watermark, wm)
    # the pages around the reserved one are free, in the largest chunks they fit
    for pfn, order in ((n0, 2), (n0 + 4, 0), (n0 + 6, 1), (n0 + 8, 3), (n0 + 512, 9)):
        assert st.pg_flags[pfn] & C.PG_buddy and st.pg_order[pfn] == order, pfn - n0


def test_no_reserved_pages_boot_as_before():
    cfg = Config(mem="128M")
    a = make_state(cfg)
    b = make_state(cfg, reserved=np.zeros(cfg.nr_pages, bool))
    for name in ("free_head", "nr_free", "pg_flags", "pg_order", "zone_managed", "watermark"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    with pytest.raises(ValueError, match="reserved"):
        make_state(cfg, reserved=np.zeros(cfg.nr_pages - 1, bool))


def test_boot_reserved_takes_untouched_pageblocks_from_the_top_first():
    """Memblock allocates top-down and a reserved page is never freed: the
    pageblocks nothing in the trace touched go first, from the top of the
    zone; then unplaced pfns of blocks without traced allocations; then any
    unplaced pfn, top-down."""
    pbo, pb = 4, 16
    spans = [(0, 64), (64, 192)]                  # zone 1: blocks 4..11
    n = 192
    taken = np.zeros(n, bool)
    taken[64:80] = True                           # block 4: placed folios
    taken[176:180] = True                         # block 11: partly placed, no traced alloc
    traced = np.zeros(n // pb, bool)
    traced[[5, 6, 9, 10]] = True                  # blocks 5, 6, 9, 10: traced allocations
    res = boot_reserved({1: 40}, spans, n, pbo, taken, traced)
    # untouched blocks 8, 7 (top-down) take 32, then block 11's 12 unplaced pfns, top-down
    assert res[128:144].all() and res[112:128].all()
    assert res.sum() == 40 and res[184:192].all() and not res[176:184].any()
    assert not (res & taken).any()
    # without the trace's evidence: the top of the zone
    res = boot_reserved({0: 20}, spans, n, pbo)
    assert np.flatnonzero(res).tolist() == list(range(44, 64))


def test_free_chunks_are_the_pieces_placing_left_where_they_can_be():
    """A free piece placing left (as large as it fits, so its buddy is not
    free) is one of the buddyinfo's free chunks of its order and pageblock
    type, spread evenly over the zone's such pieces; the chunks no piece can
    be stay to be shaped with a spacer."""
    pbo = 4
    spans = [(0, 128)]
    gp = np.array([1, 17, 33, 49, 65, 81, 2, 18], np.int64)
    go = np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64)
    bt = np.full(8, C.MIGRATE_MOVABLE, np.uint8)
    bt[5] = C.MIGRATE_UNMOVABLE                           # the piece at 81
    holes = [(0, C.MIGRATE_MOVABLE, 0, 3), (0, C.MIGRATE_UNMOVABLE, 0, 2),
             (0, C.MIGRATE_MOVABLE, 1, 1), (0, C.MIGRATE_MOVABLE, 4, 1)]
    use, left = _holes_from_gaps(gp, go, bt, pbo, holes, spans)
    assert gp[use].tolist() == [1, 33, 65, 81, 2]          # first, middle, last movable ones
    assert left == [(0, C.MIGRATE_UNMOVABLE, 0, 1), (0, C.MIGRATE_MOVABLE, 4, 1)]


def test_max_order_free_chunks_are_held_through_the_fill_without_a_spacer():
    ro, st = _ReplayOps({}), ReplayStats()
    holes = [(1, C.MIGRATE_MOVABLE, C.MAX_PAGE_ORDER, 2), (1, C.MIGRATE_MOVABLE, 3, 1)]
    placeholders, budget = _prefill_holes(ro, st, holes, 10_000)
    assert [o for _, o, _, _ in placeholders] == [C.MAX_PAGE_ORDER, C.MAX_PAGE_ORDER, 3]
    assert st.spacer_pages == 8 and budget == 10_000 - 8
    assert len(ro) == 4                                     # 3 placeholders + 1 spacer


def test_a_replay_sizes_its_zones_to_the_present_pages():
    rp = replay(SAMPLE)
    cfg = rp.result.config
    # before.zoneinfo: DMA32 present 782,336, Normal 5,505,024 (the model has no DMA)
    assert cfg.nr_pages == 782336 + 5505024 and cfg.dma32 == 782336 * C.PAGE_SIZE
    # present - managed, but within present - MemTotal: samples-1s's Normal was
    # grown lazily (deferred_init=lazy: 4,194,304 of its pages not yet managed)
    assert rp.stats.reserved_pages == {"DMA32": 782336 - 772808, "Normal": 110758}
    assert any("reserved at boot" in line for line in rp.notes())
    # the machine's min_free_kbytes is kept: the model is the machine's size
    assert not any(line.startswith("min_free_kbytes") for line in rp.notes())


def test_buddy_chains_keep_free_chunks_apart_with_few_allocated_pages():
    """A chain of free chunks of orders top..bottom needs only 2^bottom
    allocated pages (no chunk's buddy is free); a MAX_PAGE_ORDER chunk needs
    none.  Laid out in free pageblocks of the chunks' type, they make
    exactly the asked free chunks."""
    from defragsim.workloads.replay_ops import _chains, _hole_chains
    need = np.zeros(C.MAX_PAGE_ORDER + 1, np.int64)
    need[[0, 1, 2, 3, 9, 10]] = [3, 2, 2, 1, 1, 2]
    chains = _chains(need)
    assert sorted(chains) == sorted([(10, 10), (10, 10), (9, 9), (3, 0), (2, 0), (0, 0)])
    got = np.zeros_like(need)
    for top, bottom in chains:
        got[bottom:top + 1] += 1
    assert np.array_equal(got, need)
    # laid out: the free chunks, their buddies never wholly free
    pbo, nb = 9, 16
    taken = np.zeros(nb << pbo, bool)
    taken[5 << pbo] = True                              # block 5 is used
    bt = np.full(nb, C.MIGRATE_MOVABLE, np.uint8)
    bt[3] = C.MIGRATE_UNMOVABLE
    holes = [(0, C.MIGRATE_MOVABLE, o, int(n)) for o, n in enumerate(need) if n]
    holes.append((0, C.MIGRATE_UNMOVABLE, 4, 1))
    was = taken.copy()
    (ap, ao, am, _), (fp, fo, fm, _), left = _hole_chains(taken, bt, pbo, holes, [(0, nb << pbo)])
    assert left == []
    assert np.array_equal(np.bincount(fo[fm == C.MIGRATE_MOVABLE], minlength=11), need)
    assert fo[fm == C.MIGRATE_UNMOVABLE].tolist() == [4]
    assert int((1 << ao).sum()) == 512 + 1 + 1 + 1 + 16    # (9, 9): a block; three chains; the U one
    state = np.zeros(nb << pbo, np.int8)                # 1 allocated, 2 free
    state[was] = 1
    for p, o in zip(ap, ao):
        assert not was[p:p + (1 << o)].any() and (bt[p >> pbo] == am[ap == p]).all()
        state[p:p + (1 << o)] = 1
    for p, o in zip(fp, fo):
        assert not state[p:p + (1 << o)].any()
        state[p:p + (1 << o)] = 2
    for p, o in zip(fp, fo):
        if o < C.MAX_PAGE_ORDER:
            buddy = p ^ (1 << o)
            assert (state[buddy:buddy + (1 << o)] != 2).any()      # it cannot merge
    assert taken[fp].all() and taken[ap].all() and not (bt[fp >> pbo] != fm).any()


def test_the_prefill_keeps_the_snapshots_pageblock_types():
    """The prefill allocates without claiming pageblocks (a model-only
    ALLOC_PREFILL_KEEP_TYPES: __rmqueue() steals the page instead), so the
    replay starts with the pageblock types the snapshot's pagetypeinfo
    shows, blocks memblock reserved included."""
    rp = replay(DATA / "b_pressure_dm0" / "page_events.csv.xz", duration=0.001)
    blocks = rp.snapshot.zone_blocks()
    counts = rp.result.block_counts            # after 1 ms of the trace
    for name in ("Unmovable", "Movable", "Reclaimable"):
        assert abs(counts["Normal"][name.lower()] - int(blocks["Normal"][name])) <= 1, name


def test_order0_movable_prefill_is_interleaved_not_packed():
    """Anon and small page cache come at once on a running machine, and each
    pcp batch serves whichever comes next: the prefill interleaves the
    movable order-0 kinds in proportion, so anon does not fill pageblocks of
    its own (which GFP_NOFS direct compaction could empty, as the kernel's
    could not: b_pressure_dm0's migrated 32 pages from each of 103 blocks)."""
    from defragsim.workloads.replay_ops import _balanced_sequence
    seq = _balanced_sequence(np.array([3, 7, 0]))
    assert sorted(seq.tolist()) == [0] * 3 + [1] * 7
    assert np.flatnonzero(seq == 0).tolist() == [1, 4, 8]       # spread, not bunched
    rp = replay(DATA / "b_pressure_dm0" / "page_events.csv.xz", duration=0.001)
    pb = rp.result.pageblocks()
    n = pb[pb.zone == "Normal"]
    other = n.file + n.slab_reclaimable + n.slab_unreclaimable + n.pagetable + n.kernel
    assert n.anon.sum() > 40_000
    assert int(n.anon[other == 0].sum()) < 0.01 * int(n.anon.sum())


def test_boot_reserved_keeps_out_of_unmovable_and_reclaimable_pageblocks():
    """memmap_init_range() starts every pageblock Movable, and a block whose
    pages are never freed keeps that type: within each tier the reserved
    pages take Movable blocks first, and an Unmovable or Reclaimable block
    (whose free chunks pagetypeinfo lists) only when nothing else is left."""
    pbo, pb = 4, 16
    spans = [(0, 64)]                             # blocks 0..3
    n = 64
    bt = np.full(n // pb, C.MIGRATE_MOVABLE, np.uint8)
    bt[3] = C.MIGRATE_UNMOVABLE                   # the top block
    res = boot_reserved({0: 20}, spans, n, pbo, block_types=bt)
    # block 2 (Movable, the highest) whole, then block 1's top 4; not block 3
    assert not res[48:64].any()
    assert res[32:48].all() and res[28:32].all() and res.sum() == 20
    # more than the Movable blocks hold: the Unmovable one last
    res = boot_reserved({0: 60}, spans, n, pbo, block_types=bt)
    assert res[:48].all() and res[60:64].all() and res.sum() == 60
