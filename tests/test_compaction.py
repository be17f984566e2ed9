"""Compaction (mm/compaction.c): source/target block rules, the migrate and
free scanners, skip hints, cached scanner positions, deferral, capture and
conservation of pages through migration.

Each test names the kernel behaviour it checks and the section of
shared/spec/compaction-reclaim.md (1.3-1.11) that describes it.

The zones are hand-built on a Normal-only node (``dma32=0``) without per-cpu
lists (``pcp=False``): pages are allocated through the model's own driver
(``model_driver.ModelRun``, i.e. ``__alloc_pages`` + ``place_allocation``) so
that free lists, LRU lists and counters are consistent; on a fresh node
order-0 allocations are handed out in ascending pfn order, which every layout
asserts before relying on it.  Compaction kernels are then called directly
(``_direct(fn)`` = the compiled body of an ``@kernel``).

Geometry: 64 MiB = 16384 pages = 32 pageblocks of 512; the last pageblock
starts at pfn 15872.  ``min_free_kbytes=128`` gives watermarks min/low/high =
32/48/64 pages.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from defragsim import Config, parse_gfp
from defragsim.mm import compaction as cp
from defragsim import constants as C
from defragsim.mm import driver
from defragsim.mm import page_alloc as pa
from defragsim.mm import vmscan
from defragsim.mm.invariants import check_state
from defragsim.mm.state import (
    CAPC_ACTIVE, CAPC_EXT_MT, CAPC_MIGRATETYPE, CAPC_ORDER, CAPC_PAGE, CAPC_ZONE,
    CC_ALLOC_FLAGS, CC_DIRECT, CC_DIRECT_IDX, CC_FREE_PFN,
    CC_IGNORE_SKIP_HINT, CC_KCOMPACTD_IDX, CC_MIGRATE_PFN, CC_MIGRATE_SCANNED, CC_MIGRATED,
    CC_MIGRATETYPE, CC_MODE, CC_NR_FREEPAGES, CC_NR_MIGRATEPAGES, CC_ORDER, ZC_BLOCKSKIP_FLUSH,
    ZC_CACHED_FREE, ZC_CACHED_MIGRATE_ASYNC, ZC_CACHED_MIGRATE_SYNC, ZC_INIT_FREE,
    ZC_INIT_MIGRATE, KSWAPD_RUNNING, NODE_KSWAPD_STATE, NODE_REQ_TIME, make_state,
)

from model_driver import ModelRun

NORMAL = C.ZONE_NORMAL
DMA32 = C.ZONE_DMA32
U, M, R = C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE
CMA = C.MIGRATE_CMA
ANON, FILE, KERNEL = C.KIND_ANON, C.KIND_FILE, C.KIND_KERNEL

PB = 512                       # pageblock_nr_pages
NR_PAGES = 16384
LAST_BLOCK = NR_PAGES - PB     # 15872: pageblock_start(zone_end - 1)

GFP_KERNEL = parse_gfp("GFP_KERNEL")          # kcompactd's gfp: UNMOVABLE, __GFP_FS
GFP_NOFS = parse_gfp("GFP_NOFS")              # no __GFP_FS
GFP_THP = parse_gfp("GFP_TRANSHUGE")          # MOVABLE, __GFP_IO
assert GFP_KERNEL & cp.__GFP_FS and not GFP_NOFS & cp.__GFP_FS
MIN_FLAGS = C.ALLOC_WMARK_MIN | C.ALLOC_CPUSET

KC = CC_KCOMPACTD_IDX
DC = CC_DIRECT_IDX


def _cfg(patches="none"):
    return Config(mem="64M", dma32=0, pcp=False, min_free_kbytes=128, swap=0, patches=patches)


def _direct(fn):
    """The compiled body of a kernel (skips the int64-casting wrapper, whose
    compilation is not cached); Python ints already arrive as int64."""
    return getattr(fn, "impl", fn)


# compiled bodies used below
suitable_migration_source = _direct(cp.suitable_migration_source)
isolate_migratepages_block = _direct(cp.isolate_migratepages_block)
isolate_migratepages = _direct(cp.isolate_migratepages)
isolate_freepages = _direct(cp.isolate_freepages)
release_freepages = _direct(cp.release_freepages)
putback_movable_pages = _direct(cp.putback_movable_pages)
init_compact_control = _direct(cp.init_compact_control)
compact_zone = _direct(cp.compact_zone)
try_to_compact_pages = _direct(cp.try_to_compact_pages)
reset_isolation_suitable = _direct(cp.reset_isolation_suitable)
__reset_isolation_suitable = _direct(cp.__reset_isolation_suitable)
defer_compaction = _direct(cp.defer_compaction)
compaction_deferred = _direct(cp.compaction_deferred)
compaction_defer_reset = _direct(cp.compaction_defer_reset)
compaction_restarting = _direct(cp.compaction_restarting)
free_handle = _direct(driver.free_handle)
prep_new_page = _direct(pa.prep_new_page)
del_page_from_free_list = _direct(pa.del_page_from_free_list)
isolation_suitable = cp.isolation_suitable          # inline='always': a plain njit function


# ---------------------------------------------------------------------------
# Hand-built zones
# ---------------------------------------------------------------------------

class Zone:
    """A snapshot of a node built by a layout: state, params, owners and the
    pfn -> handle / kind maps of what the layout allocated."""

    def __init__(self, st, prm, own, pfn_of, kind_of):
        self.st, self.prm, self.own = st, prm, own
        self.pfn_of = pfn_of      # handle -> pfn at build time
        self.kind_of = kind_of    # handle -> content kind

    def copy(self, prm=None):
        cp_ = lambda nt: type(nt)(*(a.copy() for a in nt))  # noqa: E731
        return Zone(cp_(self.st), self.prm if prm is None else prm, cp_(self.own),
                    dict(self.pfn_of), dict(self.kind_of))

    def handle_at(self, pfn):
        return int(self.st.pg_handle[pfn])


def _build(reqs, free_if=None, patches="none"):
    """Allocate ``reqs`` [(order, mt, kind)] in one step_chunk; check they
    landed on consecutive pfns from 0; then free every handle whose pfn
    satisfies ``free_if``."""
    run = ModelRun(_cfg(patches), max_handles=len(reqs) + 8)
    res = run.alloc_many(reqs)
    pfn = 0
    for (p, h), (o, _, _) in zip(res, reqs):
        assert p == pfn, f"layout assumption broken: handle {h} at pfn {p}, expected {pfn}"
        pfn += 1 << o
    pfn_of = {h: p for p, h in res}
    kind_of = {h: k for (_, h), (_, _, k) in zip(res, reqs)}
    if free_if is not None:
        gone = [h for p, h in res if free_if(p)]
        run.free(*gone)
        for h in gone:
            del pfn_of[h]
            del kind_of[h]
    check_state(run.st, run.prm)
    return Zone(run.st, run.prm, run.own, pfn_of, kind_of)


def _anon(n):
    return [(0, M, ANON)] * n


#: pfn of the unmovable page planted in pageblock 1 of ``two_blocks``
PLANTED = PB + 20


@pytest.fixture(scope="module")
def two_blocks():
    """Block 0: 512 anon pages.  Block 1 (MOVABLE): anon pages with ONE
    unmovable kernel page at offset 20 (pfn 532) - inside the first
    COMPACT_CLUSTER_MAX pages, so isolation reaches it.  The rest is free."""
    return _build(_anon(PB + 20) + [(0, M, KERNEL)] + _anon(PB - 21))


@pytest.fixture(scope="module")
def mixed_block():
    """Block 0: anon at even pfns, page cache (file) at odd pfns."""
    return _build([(0, M, ANON if i % 2 == 0 else FILE) for i in range(PB)])


@pytest.fixture(scope="module")
def kernel_block():
    """Block 0 (MOVABLE): 512 unmovable kernel pages (nothing isolable);
    block 1: 512 anon pages."""
    return _build([(0, M, KERNEL)] * PB + _anon(PB))


@pytest.fixture(scope="module")
def dense():
    """Scattered movable memory, too dense to give an order-9 page: 16128
    pages allocated (anon; every 4th page is page cache; one kernel page at
    pfn 2600 in block 5), then every odd pfn from block 2 up is freed.
    Blocks 0 and 1 are full; free memory is order-0 holes plus one order-8
    chunk at the top (16128)."""
    n = NR_PAGES - 256
    reqs = [(0, M, KERNEL if i == 2600 else FILE if i % 4 == 3 else ANON) for i in range(n)]
    return _build(reqs, free_if=lambda p: p >= 2 * PB and p % 2 == 1)


@pytest.fixture(scope="module")
def sparse():
    """Sparse movable memory: 16128 anon pages allocated, then all freed
    except one page in every 32 (16 per block, 8 in the last block).  No free
    chunk of order >= 9 anywhere; every block can be evacuated with one
    COMPACT_CLUSTER_MAX batch."""
    return _build(_anon(NR_PAGES - 256), free_if=lambda p: p % 32 != 0)


@pytest.fixture(scope="module")
def capture_layout():
    """pfns 0-7: unmovable kernel pages (blocks 0-1 become UNMOVABLE);
    1024-1031: kernel pages allocated as MOVABLE (block 2 stays MOVABLE);
    1536: an order-9 kernel page allocated as MOVABLE (block 3)."""
    run = ModelRun(_cfg(), max_handles=64)
    res = run.alloc_many([(0, U, KERNEL)] * 8 + [(0, M, KERNEL)] * 8 + [(9, M, KERNEL)])
    pfns = [p for p, _ in res]
    assert pfns == list(range(8)) + list(range(1024, 1032)) + [1536], pfns
    assert list(run.st.block_mt[:4]) == [U, U, M, M]
    check_state(run.st, run.prm)
    return Zone(run.st, run.prm, run.own, {h: p for p, h in res}, {h: KERNEL for _, h in res})


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def _kcompactd_cc(st, order=9, mode=cp.MIGRATE_SYNC_LIGHT):
    """compact_control as kcompactd_do_work() sets it up (GFP_KERNEL, not direct)."""
    init_compact_control(st, KC, NORMAL, order, GFP_KERNEL, mode, 0, NORMAL, 0, 0, 0)
    return KC


def _direct_cc(st, order, gfp, mode, alloc_flags=MIN_FLAGS):
    """compact_control of direct compaction (compact_zone_order() without the
    capture arming); cc.migratetype as compact_zone() derives it."""
    init_compact_control(st, DC, NORMAL, order, gfp, mode, alloc_flags, NORMAL, 1, 0, 0)
    st.cc[DC, CC_MIGRATETYPE] = (gfp >> 3) & 3     # gfp_migratetype()
    return DC


def _isolated(st, c):
    return [int(x) for x in st.cc_migratepages[c, :st.cc[c, CC_NR_MIGRATEPAGES]]]


def _lru_members(st):
    """{pfn: lru list} by walking every LRU list."""
    out = {}
    for lru in range(C.NR_LRU_LISTS):
        p = int(st.lru_head[lru])
        while p >= 0:
            assert p not in out, f"pfn {p} on two LRU lists"
            out[p] = lru
            p = int(st.pg_next[p])
    return out


def _on_free_list(st, pfn):
    for lid in range(st.free_head.shape[0]):
        p = int(st.free_head[lid])
        while p >= 0:
            if p == pfn:
                return True
            p = int(st.pg_next[p])
    return False


def _on_list(st, pfn, order, mt):
    """``pfn`` heads a free chunk of ``order`` on free_list[mt] of the Normal zone."""
    if not (st.pg_flags[pfn] & C.PG_buddy and st.pg_order[pfn] == order):
        return False
    p = int(st.free_head[pa.free_list_id(NORMAL, order, mt)])
    while p >= 0:
        if p == pfn:
            return True
        p = int(st.pg_next[p])
    return False


def _take_free_chunk(z, pfn, order):
    """The allocator hands out the free chunk at ``pfn`` as an unmovable
    kernel page (used to consume what a compaction run produced)."""
    st = z.st
    assert st.pg_flags[pfn] & C.PG_buddy and st.pg_order[pfn] == order
    del_page_from_free_list(st, z.prm, pfn, NORMAL, order, int(st.block_mt[pfn // PB]))
    prep_new_page(st, pfn, order, KERNEL, -1)


def _free_order9_chunks(st):
    return [p for p in range(0, NR_PAGES, PB)
            if st.pg_flags[p] & C.PG_buddy and st.pg_order[p] >= 9]


def _arm_capc(st, order, mt, zone=NORMAL):
    st.capc[CAPC_ACTIVE] = 1
    st.capc[CAPC_ZONE] = zone
    st.capc[CAPC_ORDER] = order
    st.capc[CAPC_MIGRATETYPE] = mt
    st.capc[CAPC_PAGE] = -1
    st.capc[CAPC_EXT_MT] = -1


# ---------------------------------------------------------------------------
# 1. suitable_migration_source before / after [PATCH 2/4]   (spec 1.6.3)
# ---------------------------------------------------------------------------

def _source_ok(st, prm, block_mt, *, direct, mode, cc_mt, order, alloc_flags=0):
    c = DC if direct else KC
    st.cc[c, CC_DIRECT] = direct
    st.cc[c, CC_MODE] = mode
    st.cc[c, CC_MIGRATETYPE] = cc_mt
    st.cc[c, CC_ORDER] = order
    st.cc[c, CC_ALLOC_FLAGS] = alloc_flags
    st.block_mt[5] = block_mt
    return bool(suitable_migration_source(st, prm, c, 5 * PB))


BLOCK_TYPES = (U, M, R, CMA)


@pytest.mark.parametrize("patches", ["none", "2"])
def test_suitable_migration_source_rules(patches):
    """suitable_migration_source() (spec 1.6.3).  Before [PATCH 2/4]: async
    direct compaction takes blocks of exactly the request's type (MOVABLE or
    CMA for movable requests); SYNC_LIGHT and kcompactd take any block
    including CMA.  After: kcompactd any block; every direct mode refuses CMA
    blocks without ALLOC_CMA; async direct requests of order >=
    pageblock_order take MOVABLE/CMA blocks whatever their own type; async
    sub-pageblock non-movable requests are unchanged (own type only)."""
    cfg = _cfg(patches)
    prm = cfg.to_params()
    assert prm.patch2 == (1 if patches == "2" else 0)
    st = make_state(cfg)
    A, SL = cp.MIGRATE_ASYNC, cp.MIGRATE_SYNC_LIGHT
    ALLOC_CMA = C.ALLOC_CMA

    def row(**kw):
        return {bt: _source_ok(st, prm, bt, **kw) for bt in BLOCK_TYPES}

    every = {U: True, M: True, R: True, CMA: True}
    # kcompactd: any block, before and after
    assert row(direct=0, mode=SL, cc_mt=U, order=9) == every
    # async direct MOVABLE request: MOVABLE and CMA blocks, before and after
    assert row(direct=1, mode=A, cc_mt=M, order=9, alloc_flags=ALLOC_CMA) == \
        {U: False, M: True, R: False, CMA: True}
    # async direct UNMOVABLE request below pageblock order: own type only
    assert row(direct=1, mode=A, cc_mt=U, order=4) == {U: True, M: False, R: False, CMA: False}
    # async direct RECLAIMABLE request below pageblock order: own type only
    assert row(direct=1, mode=A, cc_mt=R, order=4) == {U: False, M: False, R: True, CMA: False}
    if patches == "none":
        # async direct UNMOVABLE order-9 request: only UNMOVABLE blocks
        assert row(direct=1, mode=A, cc_mt=U, order=9) == {U: True, M: False, R: False, CMA: False}
        # SYNC_LIGHT direct: any block, CMA included, ALLOC_CMA or not
        assert row(direct=1, mode=SL, cc_mt=U, order=9) == every
        assert row(direct=1, mode=SL, cc_mt=M, order=9) == every
    else:
        # async direct UNMOVABLE order-9 request: MOVABLE blocks (not CMA without ALLOC_CMA)
        assert row(direct=1, mode=A, cc_mt=U, order=9) == {U: False, M: True, R: False, CMA: False}
        assert row(direct=1, mode=A, cc_mt=R, order=10) == {U: False, M: True, R: False, CMA: False}
        # ... and CMA as well when the request may use CMA
        assert row(direct=1, mode=A, cc_mt=U, order=9, alloc_flags=ALLOC_CMA)[CMA] is True
        # SYNC_LIGHT direct: any block except CMA without ALLOC_CMA
        assert row(direct=1, mode=SL, cc_mt=U, order=9) == {U: True, M: True, R: True, CMA: False}
        assert row(direct=1, mode=SL, cc_mt=M, order=3, alloc_flags=ALLOC_CMA) == every
        # async MOVABLE request without ALLOC_CMA: no CMA block
        assert row(direct=1, mode=A, cc_mt=M, order=9) == {U: False, M: True, R: False, CMA: False}


@pytest.mark.parametrize("patches", ["none", "2"])
def test_suitable_migration_source_never_a_thp_block(patches):
    """suitable_migration_source(): pageblock_skip_persistent() - a block
    starting with a compound page of >= pageblock_order is never a source,
    in any mode (spec 1.6.3)."""
    cfg = _cfg(patches)
    prm = cfg.to_params()
    st = make_state(cfg)
    st.pg_flags[5 * PB] = C.PG_head | C.PG_lru
    st.pg_order[5 * PB] = 9
    for direct, mode in ((0, cp.MIGRATE_SYNC_LIGHT), (1, cp.MIGRATE_ASYNC),
                         (1, cp.MIGRATE_SYNC_LIGHT)):
        assert _source_ok(st, prm, M, direct=direct, mode=mode, cc_mt=M, order=9) is False
    st.pg_order[5 * PB] = 8     # an order-8 folio at the block start does not pin the block
    assert _source_ok(st, prm, M, direct=0, mode=cp.MIGRATE_SYNC_LIGHT, cc_mt=M, order=9) is True


# ---------------------------------------------------------------------------
# 2. isolate_migratepages_block   (spec 1.6.4)
# ---------------------------------------------------------------------------

def test_isolate_block_async_direct_order9_gives_up_whole_block(two_blocks):
    """isolate_migratepages_block(), skip_on_failure (direct MIGRATE_ASYNC):
    with cc.order = 9 the order-aligned chunk is the whole pageblock; the
    first unisolatable page (an unmovable kernel page at offset 20) puts back
    everything isolated so far and the scanner jumps to the block end.
    Nothing stays isolated, every anon page is back on the LRU, the block is
    skip-marked (scanned with nothing isolated)."""
    z = two_blocks.copy()
    st = z.st
    lru_before = _lru_members(st)
    size_before = st.lru_size.copy()
    c = _direct_cc(st, 9, GFP_THP, cp.MIGRATE_ASYNC)
    end = isolate_migratepages_block(st, z.prm, z.own, c, PB, 2 * PB)
    assert end == 2 * PB
    assert st.cc[c, CC_NR_MIGRATEPAGES] == 0
    assert _isolated(st, c) == []
    assert set(_lru_members(st)) == set(lru_before)
    assert (st.lru_size == size_before).all()
    assert st.block_skip[1] == 1
    # the 20 anon pages before the kernel page were scanned (isolated, then put back)
    assert st.cc[c, CC_MIGRATE_SCANNED] >= 21
    check_state(st, z.prm)


def test_isolate_block_sync_light_takes_anon_around_unmovable_page(two_blocks):
    """isolate_migratepages_block() in MIGRATE_SYNC_LIGHT: no skip_on_failure,
    the unmovable page is stepped over and LRU anon pages are isolated up to
    COMPACT_CLUSTER_MAX (32); isolated pages leave the LRU."""
    z = two_blocks.copy()
    st = z.st
    inactive_anon = int(st.lru_size[C.LRU_INACTIVE_ANON])
    c = _direct_cc(st, 9, GFP_THP, cp.MIGRATE_SYNC_LIGHT)
    end = isolate_migratepages_block(st, z.prm, z.own, c, PB, 2 * PB)
    expect = list(range(PB, PLANTED)) + list(range(PLANTED + 1, PB + 33))
    assert len(expect) == C.COMPACT_CLUSTER_MAX
    assert _isolated(st, c) == expect
    assert end == PB + 33
    assert st.lru_size[C.LRU_INACTIVE_ANON] == inactive_anon - 32
    lru = _lru_members(st)
    assert not any(p in lru for p in expect)
    assert st.block_skip[1] == 1          # test_and_set_skip() on the first isolation
    putback_movable_pages(st, z.prm, c)
    assert st.lru_size[C.LRU_INACTIVE_ANON] == inactive_anon
    check_state(st, z.prm)


def test_isolate_block_async_direct_small_order_chunks(two_blocks):
    """skip_on_failure works on cc.order-aligned chunks (spec 1.6.4): with
    order 4 (16-page chunks) async direct isolation stops at the first chunk
    boundary once something is isolated ("migrate the pages now"); a later
    call gives up only the chunk holding the unmovable page (528..543) and
    isolates the next chunk."""
    z = two_blocks.copy()
    st = z.st
    c = _direct_cc(st, 4, GFP_THP, cp.MIGRATE_ASYNC)
    end = isolate_migratepages_block(st, z.prm, z.own, c, PB, 2 * PB)
    assert (end, _isolated(st, c)) == (PB + 16, list(range(PB, PB + 16)))
    putback_movable_pages(st, z.prm, c)
    # a call resuming inside the block does not test the skip bit
    # (test_isolate_block_resumes_inside_a_block_it_claimed)
    end = isolate_migratepages_block(st, z.prm, z.own, c, PB + 16, 2 * PB)
    assert (end, _isolated(st, c)) == (PB + 48, list(range(PB + 32, PB + 48)))
    putback_movable_pages(st, z.prm, c)
    check_state(st, z.prm)


def test_isolate_block_counts_the_pages_of_folios_skipped_on_order():
    """skip_isolation_on_order() (mm/compaction.c): a folio of the target
    order or more is stepped over and all its pages count as scanned
    (nr_scanned += (1 << order) - 1): four order-4 anon folios, then order-0
    anon pages; SYNC_LIGHT at order 4 isolates 32 order-0 pages after
    scanning 4 x 16 + 32 pfns."""
    z = _build([(4, M, ANON)] * 4 + _anon(PB - 64))
    st = z.st
    c = _direct_cc(st, 4, GFP_THP, cp.MIGRATE_SYNC_LIGHT)
    end = isolate_migratepages_block(st, z.prm, z.own, c, 0, PB)
    assert _isolated(st, c) == list(range(64, 96))
    assert end == 96
    assert st.cc[c, CC_MIGRATE_SCANNED] == 4 * 16 + 32
    putback_movable_pages(st, z.prm, c)
    check_state(st, z.prm)


@pytest.mark.parametrize("gfp, expect_file", [(GFP_KERNEL, True), (GFP_NOFS, False)])
def test_isolate_block_file_pages_need_gfp_fs(mixed_block, gfp, expect_file):
    """isolate_migratepages_block(): a file-backed folio is not isolated when
    the caller lacks __GFP_FS (0x80); anon folios are (spec 1.6.4).  Block 0
    alternates anon (even pfn) and page cache (odd pfn); SYNC_LIGHT."""
    z = mixed_block.copy()
    st = z.st
    c = _direct_cc(st, 9, gfp, cp.MIGRATE_SYNC_LIGHT)
    isolate_migratepages_block(st, z.prm, z.own, c, 0, PB)
    got = _isolated(st, c)
    assert len(got) == C.COMPACT_CLUSTER_MAX
    if expect_file:
        assert got == list(range(32))
    else:
        assert got == list(range(0, 64, 2))
        assert all(st.pg_flags[p] >> C.PG_KIND_SHIFT == ANON for p in got)
        # every file page is still on the file LRU
        lru = _lru_members(st)
        assert all(lru.get(p) == C.LRU_INACTIVE_FILE for p in range(1, PB, 2))
    putback_movable_pages(st, z.prm, c)
    check_state(st, z.prm)


def test_isolate_block_resumes_inside_a_block_it_claimed(two_blocks):
    """isolate_migratepages_block(): the skip bit is test-and-set only by a
    scan that starts at the pageblock start (``valid_page`` in the kernel);
    "if it was already set and this is not a finish_pageblock rescan, the
    block is abandoned" (spec 1.6.4) guards against *another* compactor.  A
    call that resumes inside the block after the first COMPACT_CLUSTER_MAX
    batch must keep isolating: block 0 holds 512 anon pages, the second call
    from pfn 32 isolates 32..63."""
    z = two_blocks.copy()
    st = z.st
    c = _kcompactd_cc(st)
    end = isolate_migratepages_block(st, z.prm, z.own, c, 0, PB)
    assert end == 32 and _isolated(st, c) == list(range(32))
    putback_movable_pages(st, z.prm, c)
    end = isolate_migratepages_block(st, z.prm, z.own, c, 32, PB)
    assert _isolated(st, c) == list(range(32, 64))
    assert end == 64


# ---------------------------------------------------------------------------
# 3. Skip bits   (spec 1.1, 1.6.2, 1.6.4, 1.11)
# ---------------------------------------------------------------------------


def test_isolation_suitable_honours_skip_bit_unless_ignored():
    """isolation_suitable(): false for a skip-marked block unless
    cc.ignore_skip_hint (spec 1.6.2)."""
    cfg = _cfg()
    prm = cfg.to_params()
    st = make_state(cfg)
    c = KC
    st.cc[c, CC_IGNORE_SKIP_HINT] = 0
    st.block_skip[3] = 1
    assert isolation_suitable(st, prm, c, 3 * PB) is False
    assert isolation_suitable(st, prm, c, 3 * PB + 77) is False
    assert isolation_suitable(st, prm, c, 4 * PB) is True
    assert isolation_suitable(st, prm, c, 2 * PB + 511) is True
    st.cc[c, CC_IGNORE_SKIP_HINT] = 1
    assert isolation_suitable(st, prm, c, 3 * PB) is True


@pytest.mark.parametrize("ignore, first", [(0, PB), (1, 0)])
def test_migrate_scanner_passes_over_skip_marked_block(two_blocks, ignore, first):
    """isolate_migratepages(): a skip-marked block is passed over (and the
    scanner moves past it) unless ignore_skip_hint (spec 1.6.2)."""
    z = two_blocks.copy()
    st = z.st
    c = _kcompactd_cc(st)
    st.cc[c, CC_IGNORE_SKIP_HINT] = ignore
    st.block_skip[0] = 1
    st.cc[c, CC_MIGRATE_PFN] = 0
    st.cc[c, CC_FREE_PFN] = LAST_BLOCK
    assert isolate_migratepages(st, z.prm, z.own, c) == cp.ISOLATE_SUCCESS
    got = _isolated(st, c)
    assert got[0] == first and len(got) == C.COMPACT_CLUSTER_MAX
    assert all(first <= p < first + PB for p in got)
    putback_movable_pages(st, z.prm, c)


def test_reset_isolation_suitable_samples_blocks_and_keeps_persistent_skips():
    """__reset_isolation_suitable() as in the kernel (__reset_isolation_pfn()):
    after a full pass (compact_blockskip_flush) the zone is walked from both
    ends; a skip bit is cleared only where a 1-in-8 sample of the block finds
    an LRU page (migrate side) or a free buddy head (free side, which never
    restarts in a non-movable block); a block starting with a compound page
    of pageblock order keeps its skip bit; the first such blocks become the
    restart points.  Without the flush flag nothing happens."""
    cfg = _cfg()
    prm = cfg.to_params()
    st = make_state(cfg)            # all free: order-10 buddy heads at even blocks
    z = NORMAL
    nb = LAST_BLOCK // PB + 1
    assert nb == 32 and all(st.pg_flags[b * PB] & C.PG_buddy for b in range(0, nb, 2))
    st.block_skip[:] = 1
    st.pg_flags[0] = C.PG_head          # block 0 starts with an order-9 compound page
    st.pg_order[0] = 9
    st.pg_flags[8] |= C.PG_lru          # ... sampled LRU page: still persistent
    st.pg_flags[PB + 5] |= C.PG_lru     # block 1: an LRU page the 1-in-8 sample misses
    st.pg_flags[2 * PB + 24] |= C.PG_lru   # block 2: sampled LRU page: the migrate restart
    st.block_mt[30] = C.MIGRATE_UNMOVABLE  # block 30: free, but not a target to restart in
    st.zone_compact[z, ZC_BLOCKSKIP_FLUSH] = 0
    __reset_isolation_suitable(st, prm, z)
    assert st.block_skip.sum() == nb            # no flush requested: nothing happens
    st.zone_compact[z, ZC_BLOCKSKIP_FLUSH] = 1
    __reset_isolation_suitable(st, prm, z)
    cleared = {b for b in range(nb) if st.block_skip[b] == 0}
    expect = {2} | {b for b in range(4, 16, 2)} | {28} | {b for b in range(16, 28, 2)}
    assert cleared == expect
    end = LAST_BLOCK + PB - 1                       # zone_end_pfn - 1
    assert int(st.zone_compact[z, ZC_INIT_MIGRATE]) == 2 * PB
    assert int(st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC]) == 2 * PB
    assert int(st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC]) == 2 * PB
    assert int(st.zone_compact[z, ZC_INIT_FREE]) == end - 3 * PB     # block 28's last pfn
    assert int(st.zone_compact[z, ZC_CACHED_FREE]) == end - 3 * PB
    assert st.zone_compact[z, ZC_BLOCKSKIP_FLUSH] == 0


def test_reset_isolation_suitable_leaves_no_distance_without_suitable_blocks():
    """No block yields a sample: the skip bits stay, and the cached scanners
    are left where the walk met (the kernel's "leave no distance")."""
    cfg = _cfg()
    prm = cfg.to_params()
    st = make_state(cfg)
    z = NORMAL
    st.pg_flags[:] &= np.uint16(~(C.PG_buddy | C.PG_lru) & 0xFFFF)
    st.block_skip[:] = 1
    st.zone_compact[z, ZC_BLOCKSKIP_FLUSH] = 1
    reset_isolation_suitable(st, prm)
    assert st.block_skip.sum() == 32
    mid = int(st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC])
    assert int(st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC]) == mid
    assert mid >= int(st.zone_compact[z, ZC_CACHED_FREE])     # met in the middle
    assert 15 * PB <= mid <= 17 * PB


def test_compact_zone_restarting_clears_skip_bits(sparse):
    """compact_zone(): if compaction_restarting() (deferred to the maximum
    and the window has expired) and compact_blockskip_flush is set, the skip
    bits of blocks whose sample finds LRU or free pages are cleared before
    scanning (spec 1.4, 1.11; __reset_isolation_pfn())."""
    z = sparse.copy()
    st = z.st
    st.block_skip[:] = 1
    st.zone_compact[NORMAL, ZC_BLOCKSKIP_FLUSH] = 1
    st.compact_defer[NORMAL] = [64, C.COMPACT_MAX_DEFER_SHIFT, 0]  # considered, shift, order_failed
    assert compaction_restarting(st, NORMAL, 9)
    c = _kcompactd_cc(st)
    ret = compact_zone(st, z.prm, z.own, c)
    # with every block skip-marked nothing could have been scanned; after the
    # reset the first block is evacuated and the run succeeds
    assert ret == C.COMPACT_SUCCESS
    assert st.zone_compact[NORMAL, ZC_BLOCKSKIP_FLUSH] == 0
    assert st.vm_events[C.VM_PGMIGRATE_SUCCESS] == 16
    # without the flush flag the skip bits stay and nothing is migrated
    z = sparse.copy()
    st = z.st
    st.block_skip[:] = 1
    st.compact_defer[NORMAL] = [64, C.COMPACT_MAX_DEFER_SHIFT, 0]
    c = _kcompactd_cc(st)
    ret = compact_zone(st, z.prm, z.own, c)
    assert ret != C.COMPACT_SUCCESS
    assert st.vm_events[C.VM_PGMIGRATE_SUCCESS] == 0


# ---------------------------------------------------------------------------
# 4. Cached scanner positions   (spec 1.4, 1.6.4, 1.7.3)
# ---------------------------------------------------------------------------

def _moved(before, z):
    """Handles whose pfn changed since ``before`` ({handle: pfn})."""
    return {h for h, p in before.items() if int(z.own.h_pfn[h]) != p}


def _run(z, c):
    before = {h: int(z.own.h_pfn[h]) for h in z.pfn_of}
    ret = compact_zone(z.st, z.prm, z.own, c)
    return ret, _moved(before, z)


def _blocks_of(z, handles, before):
    return {before[h] // PB for h in handles}


# ---------------------------------------------------------------------------
# 5. Deferral   (spec 1.10)
# ---------------------------------------------------------------------------

class DeferRef:
    """The kernel formulas of spec 1.10, in plain Python."""

    def __init__(self):
        self.considered = 0
        self.shift = 0
        self.order_failed = 0

    def defer(self, order):
        self.considered = 0
        self.shift = min(self.shift + 1, C.COMPACT_MAX_DEFER_SHIFT)
        if order < self.order_failed:
            self.order_failed = order

    def deferred(self, order):
        if order < self.order_failed:
            return False
        self.considered += 1
        limit = 1 << self.shift
        if self.considered >= limit:
            self.considered = limit
            return False
        return True

    def reset(self, order, alloc_success):
        if alloc_success:
            self.considered = 0
            self.shift = 0
        if order >= self.order_failed:
            self.order_failed = order + 1

    def restarting(self, order):
        return order >= self.order_failed and self.shift == C.COMPACT_MAX_DEFER_SHIFT and \
            self.considered >= 1 << C.COMPACT_MAX_DEFER_SHIFT

    def state(self):
        return (self.considered, self.shift, self.order_failed)


@pytest.fixture(scope="module")
def defer_state():
    cfg = _cfg()
    return make_state(cfg)


_OPS = hst.lists(
    hst.tuples(hst.sampled_from(["defer", "deferred", "deferred", "deferred", "deferred",
                                 "reset", "restarting"]),
               hst.integers(0, C.MAX_PAGE_ORDER), hst.booleans()),
    min_size=1, max_size=400)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_deferral_matches_kernel_formulas(defer_state, ops):
    """defer_compaction() / compaction_deferred() / compaction_defer_reset() /
    compaction_restarting(): random call sequences with random orders give
    the same (considered, defer_shift, order_failed) and return values, step
    by step, as the kernel formulas (spec 1.10)."""
    st = defer_state
    st.compact_defer[:] = 0
    ref = DeferRef()
    z = NORMAL
    for i, (op, order, success) in enumerate(ops):
        if op == "defer":
            defer_compaction(st, z, order)
            ref.defer(order)
        elif op == "deferred":
            got = bool(compaction_deferred(st, z, order))
            assert got == ref.deferred(order), (i, op, order)
        elif op == "reset":
            compaction_defer_reset(st, z, order, success)
            ref.reset(order, success)
        else:
            assert bool(compaction_restarting(st, z, order)) == ref.restarting(order), (i, order)
        assert tuple(int(x) for x in st.compact_defer[z]) == ref.state(), (i, op, order)
    assert (st.compact_defer[DMA32] == 0).all()     # per zone


def test_deferral_window_doubles_and_restarts(defer_state):
    """After n consecutive defer_compaction() calls the next 2^n - 1 attempts
    (n capped at COMPACT_MAX_DEFER_SHIFT = 6) are deferred and the 2^n-th
    runs; orders below compact_order_failed are never deferred; at the cap,
    once the window has expired, compaction_restarting() is true (spec 1.10)."""
    st = defer_state
    st.compact_defer[:] = 0
    z = NORMAL
    compaction_defer_reset(st, z, 8, False)   # order 8 succeeded: order_failed = 9
    assert list(st.compact_defer[z]) == [0, 0, 9]
    for n in range(1, 9):
        defer_compaction(st, z, 9)
        window = 1 << min(n, C.COMPACT_MAX_DEFER_SHIFT)
        results = [bool(compaction_deferred(st, z, 9)) for _ in range(window)]
        assert results == [True] * (window - 1) + [False], n
        assert not compaction_deferred(st, z, 8)          # below order_failed (9)
        if n >= C.COMPACT_MAX_DEFER_SHIFT:
            assert compaction_restarting(st, z, 9)
            assert not compaction_restarting(st, z, 8)
        else:
            assert not compaction_restarting(st, z, 9)
    compaction_defer_reset(st, z, 9, True)
    assert list(st.compact_defer[z]) == [0, 0, 10]
    assert not compaction_deferred(st, z, 9)


def test_try_to_compact_pages_skips_deferred_zone(sparse):
    """try_to_compact_pages(): a zone where compaction_deferred() is true is
    not compacted below the top priority (COMPACT_DEFERRED, nothing
    scanned); COMPACT_PRIO_SYNC_FULL ignores deferral; requests without
    __GFP_IO are COMPACT_SKIPPED (spec 1.2, 1.10)."""
    z = sparse.copy()
    st = z.st
    defer_compaction(st, NORMAL, 9)      # shift 1: the next attempt is deferred
    rc, page, cost = try_to_compact_pages(st, z.prm, z.own, GFP_THP, 9, MIN_FLAGS, NORMAL,
                                          C.COMPACT_PRIO_ASYNC, 0)
    assert (rc, page, cost) == (C.COMPACT_DEFERRED, -1, 0)
    assert st.vm_events[C.VM_COMPACT_MIGRATE_SCANNED] == 0
    rc, page, _ = try_to_compact_pages(st, z.prm, z.own, GFP_THP & ~cp.__GFP_IO, 9, MIN_FLAGS,
                                       NORMAL, C.COMPACT_PRIO_SYNC_LIGHT, 0)
    assert (rc, page) == (C.COMPACT_SKIPPED, -1)
    defer_compaction(st, NORMAL, 9)      # shift 2
    rc, page, _ = try_to_compact_pages(st, z.prm, z.own, GFP_THP, 9, MIN_FLAGS, NORMAL,
                                       C.COMPACT_PRIO_SYNC_FULL, 0)
    assert rc == C.COMPACT_SUCCESS and page == 0          # captured the evacuated block 0
    assert list(st.compact_defer[NORMAL][1:]) == [2, 10]   # reset(order, false): order_failed only


# ---------------------------------------------------------------------------
# 6. Capture   (spec 1.8; page_alloc.compaction_capture / __free_one_page)
# ---------------------------------------------------------------------------

def _free_pfns(z, *pfns):
    for p in pfns:
        free_handle(z.st, z.prm, z.own, z.handle_at(p), 0)


def test_capture_chunk_merging_to_exactly_capture_order(capture_layout):
    """__free_one_page() -> compaction_capture(): a freed page that merges
    with its buddies to exactly capc.order is handed to the compacting task
    (capc.page) instead of a free list; the buddies it absorbed leave the free
    counts, the captured chunk is never counted free; once the allocator
    preps it every invariant holds."""
    z = capture_layout.copy()
    st = z.st
    _free_pfns(z, 1, 2, 3)                  # 1: order 0; 2+3 merge to order 1
    nr0, nr1, nr2 = (int(st.nr_free[NORMAL, o]) for o in range(3))
    free0 = int(st.zone_stat[NORMAL, C.NR_FREE_PAGES])
    _arm_capc(st, 2, U)
    _free_pfns(z, 0)                        # 0+1 -> order 1, + 2..3 -> order 2: captured
    assert st.capc[CAPC_PAGE] == 0
    assert st.capc[CAPC_EXT_MT] == -1       # same type: no extfrag event pending
    assert not st.pg_flags[0] & C.PG_buddy
    assert not _on_free_list(st, 0) and not _on_free_list(st, 2) and not _on_free_list(st, 1)
    assert st.zone_stat[NORMAL, C.NR_FREE_PAGES] == free0 - 3
    assert (int(st.nr_free[NORMAL, 0]), int(st.nr_free[NORMAL, 1]), int(st.nr_free[NORMAL, 2])) \
        == (nr0 - 1, nr1 - 1, nr2)
    # capture is one-shot: a second order-2 chunk is not captured
    _free_pfns(z, 5, 6, 7)
    _free_pfns(z, 4)
    assert st.capc[CAPC_PAGE] == 0
    assert st.pg_flags[4] & C.PG_buddy and st.pg_order[4] == 2
    st.capc[CAPC_ACTIVE] = 0
    prep_new_page(st, 0, 2, KERNEL, -1)     # the allocator takes the captured page
    check_state(st, z.prm)


def test_capture_happens_at_the_first_merge_step_reaching_the_order(capture_layout):
    """compaction_capture() is checked at every merge step of
    __free_one_page(): with capc.order = 1 a page whose merge would go on to
    order 2 is captured at order 1, and its order-1 buddy stays free."""
    z = capture_layout.copy()
    st = z.st
    _free_pfns(z, 1, 2, 3)
    _arm_capc(st, 1, U)
    _free_pfns(z, 0)
    assert st.capc[CAPC_PAGE] == 0
    assert st.pg_flags[2] & C.PG_buddy and st.pg_order[2] == 1
    st.capc[CAPC_ACTIVE] = 0
    prep_new_page(st, 0, 1, KERNEL, -1)
    check_state(st, z.prm)


@pytest.mark.parametrize("capc_order", [3, 5])
def test_no_capture_when_merge_ends_at_another_order(capture_layout, capc_order):
    """compaction_capture(): ``order != capc.order`` - a chunk that stops
    merging below the capture order, or that is freed whole above it, goes on
    the free list."""
    z = capture_layout.copy()
    st = z.st
    _free_pfns(z, 1, 2, 3)
    _arm_capc(st, capc_order, U)
    free0 = int(st.zone_stat[NORMAL, C.NR_FREE_PAGES])
    _free_pfns(z, 0)                         # merges to order 2 (4..7 allocated)
    assert st.capc[CAPC_PAGE] == -1
    assert _on_list(st, 0, 2, U)
    assert st.zone_stat[NORMAL, C.NR_FREE_PAGES] == free0 + 1
    # an order-9 chunk freed whole never passes through a lower order
    _arm_capc(st, 8, M)
    _free_pfns(z, 1536)
    assert st.capc[CAPC_PAGE] == -1
    assert _on_list(st, 1536, 9, M)
    st.capc[CAPC_ACTIVE] = 0
    check_state(st, z.prm)


@pytest.mark.parametrize("capc_mt, captured", [(U, False), (R, False), (M, True)])
def test_capture_sub_pageblock_chunk_in_movable_block(capture_layout, capc_mt, captured):
    """compaction_capture(): "do not let lower order allocations pollute a
    movable pageblock" - a sub-pageblock chunk in a MOVABLE block is captured
    only for a MOVABLE capture (spec 1.8)."""
    z = capture_layout.copy()
    st = z.st
    _free_pfns(z, 1025, 1026, 1027)
    _arm_capc(st, 2, capc_mt)
    _free_pfns(z, 1024)
    if captured:
        assert st.capc[CAPC_PAGE] == 1024
        assert not _on_free_list(st, 1024)
        st.capc[CAPC_ACTIVE] = 0
        prep_new_page(st, 1024, 2, KERNEL, -1)
    else:
        assert st.capc[CAPC_PAGE] == -1
        assert _on_list(st, 1024, 2, M)
        st.capc[CAPC_ACTIVE] = 0
    check_state(st, z.prm)


def test_capture_foreign_block_records_extfrag_and_zone_must_match(capture_layout):
    """compaction_capture(): a RECLAIMABLE capture may take a chunk of an
    UNMOVABLE block (the normal fallback could too) and records the pending
    mm_page_alloc_extfrag type; task_capc() only captures in the zone being
    compacted."""
    z = capture_layout.copy()
    st = z.st
    _free_pfns(z, 1, 2, 3)
    _arm_capc(st, 2, U, zone=DMA32)          # another zone: never captured
    _free_pfns(z, 0)
    assert st.capc[CAPC_PAGE] == -1
    _free_pfns(z, 5, 6, 7)
    _arm_capc(st, 2, R)
    _free_pfns(z, 4)
    assert st.capc[CAPC_PAGE] == 4
    assert st.capc[CAPC_EXT_MT] == U
    st.capc[CAPC_ACTIVE] = 0
    assert _on_list(st, 0, 2, U)             # the chunk freed while capturing for DMA32
    prep_new_page(st, 4, 2, KERNEL, -1)
    check_state(st, z.prm)


@pytest.mark.parametrize("block_mt, captured", [(CMA, False), (M, True)])
def test_capture_never_from_cma_block(capture_layout, block_mt, captured):
    """compaction_capture(): CMA (and ISOLATE) chunks are never captured
    ("do not accidentally pollute CMA"), even at the right order for a
    MOVABLE capture; the same chunk in a MOVABLE block is (spec 1.8)."""
    z = capture_layout.copy()
    st = z.st
    st.block_mt[3] = block_mt                # block 3 is fully allocated (one order-9 page)
    cma0 = int(st.zone_stat[NORMAL, C.NR_FREE_CMA_PAGES])
    _arm_capc(st, 9, M)
    _free_pfns(z, 1536)
    st.capc[CAPC_ACTIVE] = 0
    if captured:
        assert st.capc[CAPC_PAGE] == 1536
        prep_new_page(st, 1536, 9, KERNEL, -1)
    else:
        assert st.capc[CAPC_PAGE] == -1
        assert st.free_head[pa.free_list_id(NORMAL, 9, CMA)] == 1536
        assert st.zone_stat[NORMAL, C.NR_FREE_CMA_PAGES] == cma0 + PB
    check_state(st, z.prm)


# ---------------------------------------------------------------------------
# 7. Conservation through migration   (spec 1.5, 1.8)
# ---------------------------------------------------------------------------

def _check_owners_and_lru(z, moved_expected=None):
    """Every handle's page: PG_head, pg_handle, kind and order as allocated;
    LRU kinds on exactly the right LRU list, nothing else on the LRU."""
    st, own = z.st, z.own
    lru = _lru_members(st)
    want_lru = {}
    for h, kind in z.kind_of.items():
        p = int(own.h_pfn[h])
        assert p >= 0, h
        assert st.pg_flags[p] & C.PG_head, (h, p)
        assert st.pg_handle[p] == h, (h, p)
        assert st.pg_flags[p] >> C.PG_KIND_SHIFT == kind, (h, p)
        assert st.pg_order[p] == own.h_order[h] == 0
        if kind == ANON:
            assert st.pg_flags[p] & C.PG_lru      # swap-backed: its kind is anon
            want_lru[p] = C.LRU_INACTIVE_ANON
        elif kind == FILE:
            assert st.pg_flags[p] & C.PG_lru
            want_lru[p] = C.LRU_INACTIVE_FILE
    assert lru == want_lru
    for l in range(C.NR_LRU_LISTS):
        n = sum(1 for v in lru.values() if v == l)
        assert st.lru_size[l] == n == st.lru_zone_size[NORMAL, l]


@pytest.mark.parametrize("how", ["kcompactd", "kcompactd_ignore_skip", "direct_sync_light"])
def test_migration_conserves_pages_owners_and_lru(dense, how):
    """compact_zone() / try_to_compact_pages() on a fragmented zone (anon and
    file pages, one unmovable page): pages are conserved (free + allocated =
    managed, allocated unchanged), every owner handle still points at a
    PG_head page carrying its handle and kind, LRU folios are on their LRU
    lists (and only they), pgmigrate_success equals the number of folios
    that moved, and check_state() passes."""
    z = dense.copy()
    st = z.st
    managed = int(st.zone_managed[NORMAL])
    alloc0 = int(st.zone_stat[NORMAL, C.NR_ZONE_ALLOCATED])
    assert alloc0 + st.zone_stat[NORMAL, C.NR_FREE_PAGES] == managed
    before = {h: int(z.own.h_pfn[h]) for h in z.pfn_of}
    captured = -1
    if how == "direct_sync_light":
        rc, captured, cost = try_to_compact_pages(st, z.prm, z.own, GFP_THP, 9, MIN_FLAGS, NORMAL,
                                                  C.COMPACT_PRIO_SYNC_LIGHT, 0)
        assert cost > 0
        assert st.capc[CAPC_ACTIVE] == 0
    else:
        c = _kcompactd_cc(st)
        st.cc[c, CC_IGNORE_SKIP_HINT] = 1 if how == "kcompactd_ignore_skip" else 0
        rc = compact_zone(st, z.prm, z.own, c)
    assert rc in (C.COMPACT_SUCCESS, C.COMPACT_COMPLETE, C.COMPACT_PARTIAL_SKIPPED)
    moved = _moved(before, z)
    assert len(moved) > 0
    assert st.vm_events[C.VM_PGMIGRATE_SUCCESS] == len(moved)
    # the unmovable page never moves
    (h_kernel,) = [h for h, k in z.kind_of.items() if k == KERNEL]
    assert z.pfn_of[h_kernel] == 2600 and z.own.h_pfn[h_kernel] == 2600
    assert h_kernel not in moved
    if captured >= 0:
        assert rc == C.COMPACT_SUCCESS
        prep_new_page(st, captured, 9, KERNEL, -1)
        alloc0 += PB
    assert st.zone_stat[NORMAL, C.NR_ZONE_ALLOCATED] == alloc0
    assert st.zone_stat[NORMAL, C.NR_ZONE_ALLOCATED] + st.zone_stat[NORMAL, C.NR_FREE_PAGES] \
        == managed
    # migrated folios landed in MOVABLE blocks above where they came from
    for h in moved:
        assert z.own.h_pfn[h] > before[h]
        assert st.block_mt[z.own.h_pfn[h] // PB] == M
    # isolated lists are empty again
    assert (st.cc[:, CC_NR_MIGRATEPAGES] == 0).all() and (st.cc[:, CC_NR_FREEPAGES] == 0).all()
    _check_owners_and_lru(z)
    check_state(st, z.prm)


# ---------------------------------------------------------------------------
# End to end: the scanners produce an order-9 page
# ---------------------------------------------------------------------------

def test_kcompactd_produces_order9_block_from_sparse_zone(sparse):
    """compact_zone() as kcompactd runs it (SYNC_LIGHT, not direct, skip hints
    honoured, order 9): from a zone with no free order-9 chunk and 16 movable
    pages per block, one block is evacuated into free pages higher up and
    the run ends COMPACT_SUCCESS with a free order-9 chunk (spec 1.5, 1.9)."""
    z = sparse.copy()
    st = z.st
    assert st.nr_free[NORMAL, 9:].sum() == 0
    c = _kcompactd_cc(st)
    ret, moved = _run(z, c)
    assert ret == C.COMPACT_SUCCESS
    assert st.nr_free[NORMAL, 9:].sum() == 1
    assert st.cc[c, CC_MIGRATED] == len(moved) == 16
    assert len(_blocks_of(z, moved, z.pfn_of)) == 1
    assert st.vm_events[C.VM_COMPACT_DAEMON_MIGRATE_SCANNED] == st.cc[c, CC_MIGRATE_SCANNED] > 0
    assert st.block_skip[_free_order9_chunks(st)[0] // PB] == 1
    _check_owners_and_lru(z)
    check_state(st, z.prm)


def test_direct_compaction_captures_the_evacuated_block(sparse):
    """try_to_compact_pages() (direct, SYNC_LIGHT, movable order-9 request):
    the block the migrate scanner empties merges to order 9 as its last page
    is freed and is captured for the request instead of going on a free list;
    the result is COMPACT_SUCCESS with the captured pfn, deferral is reset for
    the order (compaction_defer_reset(.., false)) and the capture_control is
    disarmed (spec 1.8, 1.10)."""
    z = sparse.copy()
    st = z.st
    free0 = int(st.zone_stat[NORMAL, C.NR_FREE_PAGES])
    rc, page, cost = try_to_compact_pages(st, z.prm, z.own, GFP_THP, 9, MIN_FLAGS, NORMAL,
                                          C.COMPACT_PRIO_SYNC_LIGHT, 0)
    assert rc == C.COMPACT_SUCCESS
    assert page >= 0 and page % PB == 0
    assert cost > 0
    assert st.capc[CAPC_ACTIVE] == 0 and st.capc[CAPC_PAGE] == page
    assert st.nr_free[NORMAL, 9:].sum() == 0            # captured, not on a free list
    assert not _on_free_list(st, page)
    # migration itself leaves the free count unchanged; the captured block leaves it
    assert st.zone_stat[NORMAL, C.NR_FREE_PAGES] == free0 - PB
    assert st.vm_events[C.VM_PGMIGRATE_SUCCESS] == 16
    assert st.compact_defer[NORMAL, 2] == 10           # order_failed = order + 1
    prep_new_page(st, page, 9, ANON, -1)
    check_state(st, z.prm)


# ---------------------------------------------------------------------------
# fast_find_migrateblock (mm/compaction.c)
# ---------------------------------------------------------------------------

fast_find_migrateblock = _direct(cp.fast_find_migrateblock)
move_freelist_tail = _direct(pa.move_freelist_tail)
ORDER4_MOVABLE = (NORMAL * C.NR_PAGE_ORDERS + 4) * 6 + M


def _free_list(st, lid):
    out, p = [], int(st.free_head[lid])
    while p >= 0:
        out.append(p)
        p = int(st.pg_next[p])
    return out


def _holes(*pfns):
    """Blocks 0-23 filled with order-4 anon folios; the folios at ``pfns``
    freed (their buddies stay allocated: free order-4 MOVABLE chunks)."""
    return _build([(4, M, ANON)] * (24 * PB // 16), free_if=lambda p: p in pfns)


def _thp_cc(st, migrate_pfn, free_pfn):
    c = _direct_cc(st, 9, GFP_THP, cp.MIGRATE_ASYNC)
    st.cc[c, CC_MIGRATE_PFN] = migrate_pfn
    st.cc[c, CC_FREE_PFN] = free_pfn
    return c


def test_move_freelist_tail_puts_the_entry_and_those_before_it_last():
    z = _holes(2 * PB, 5 * PB, 9 * PB, 20 * PB)
    st = z.st
    before = _free_list(st, ORDER4_MOVABLE)
    assert sorted(before) == [2 * PB, 5 * PB, 9 * PB, 20 * PB]
    move_freelist_tail(st, st.free_head, st.free_tail, ORDER4_MOVABLE, before[1])
    assert _free_list(st, ORDER4_MOVABLE) == before[2:] + before[:2]
    assert int(st.free_tail[ORDER4_MOVABLE]) == before[1]
    check_state(st, z.prm)


def test_fast_find_migrateblock_takes_a_block_in_the_first_half_or_eighth():
    """At the zone start the first half of the range qualifies, later only
    the first eighth; the entry found moves to its list's tail, what was
    looked at counts as migrate-scanned, and the find is remembered for
    reinit_migrate_pfn()."""
    z = _holes(2 * PB, 5 * PB, 20 * PB)
    st = z.st
    c = _thp_cc(st, 0, LAST_BLOCK)            # high_pfn: block 15
    got = fast_find_migrateblock(st, z.prm, c)
    assert got in (2 * PB, 5 * PB)
    assert int(st.free_tail[ORDER4_MOVABLE]) == got
    assert st.cc[c, cp.CC_FAST_SEARCH_FAIL] == 0 and st.cc[c, cp.CC_FAST_START_PFN] == got
    assert 1 <= st.cc[c, CC_MIGRATE_SCANNED] <= 3
    # from block 1: (15872 - 512) / 2 / 4 = 1920 pages, high_pfn block 4
    st2 = z.copy().st
    c = _thp_cc(st2, PB, LAST_BLOCK)
    assert fast_find_migrateblock(st2, z.prm, c) == 2 * PB
    # skip-marked block 2: nothing low enough; the linear scan goes on
    st3 = z.copy().st
    st3.block_skip[2] = 1
    c = _thp_cc(st3, PB, LAST_BLOCK)
    assert fast_find_migrateblock(st3, z.prm, c) == PB
    assert st3.cc[c, cp.CC_FAST_SEARCH_FAIL] == 1


def test_fast_find_migrateblock_looks_at_most_freelist_scan_limit_entries():
    """36 free chunks, all above the first half: the search stops after
    freelist_scan_limit() = COMPACT_CLUSTER_MAX + 1 entries (33, plus the
    one that stops it: 34 counted), moves that one to the tail and fails;
    after a failure the limit halves."""
    pfns = [b * PB + off for b in range(12, 24) for off in (0, 64, 128)]
    z = _holes(*pfns)
    st = z.st
    c = _thp_cc(st, 0, 24 * PB)                # high_pfn: block 12
    before = _free_list(st, ORDER4_MOVABLE)
    assert len(before) == 36
    assert fast_find_migrateblock(st, z.prm, c) == 0
    assert st.cc[c, CC_MIGRATE_SCANNED] == C.COMPACT_CLUSTER_MAX + 2
    assert st.cc[c, cp.CC_FAST_SEARCH_FAIL] == 1
    stopped = before[C.COMPACT_CLUSTER_MAX + 1]
    assert int(st.free_tail[ORDER4_MOVABLE]) == stopped
    st.cc[c, CC_MIGRATE_SCANNED] = 0
    fast_find_migrateblock(st, z.prm, c)
    assert st.cc[c, CC_MIGRATE_SCANNED] == C.COMPACT_CLUSTER_MAX // 2 + 2
    check_state(st, z.prm)


# ---------------------------------------------------------------------------
# kswapd reclaims on another CPU while a task compacts (vmscan.kswapd_alongside)
# ---------------------------------------------------------------------------

wakeup_kswapd = _direct(vmscan.wakeup_kswapd)


@pytest.fixture(scope="module")
def folio_then_dense():
    """Block 0: one order-9 page-cache folio (the oldest on the inactive file
    list); blocks 1-30: anon and page cache, every odd pfn from block 3 up
    freed.  No free order-9 chunk; compaction cannot make one at once."""
    n = NR_PAGES - 256 - PB
    reqs = [(9, M, FILE)] + [(0, M, FILE if i % 4 == 3 else ANON) for i in range(n)]
    return _build(reqs, free_if=lambda p: p >= 3 * PB and p % 2 == 1)


def _compact_alongside(z, *, wake, c_of, capture=True):
    zz = z.copy()
    st = zz.st
    if wake:
        # the slowpath woke kswapd for the order (wake_all_kswapds())
        wakeup_kswapd(st, zz.prm, NORMAL, GFP_THP, 9, NORMAL)
        assert st.node[NODE_KSWAPD_STATE] == KSWAPD_RUNNING
    # the request has been in the slowpath for 1 ms already
    st.node[NODE_REQ_TIME] = st.clock[0] + 1_000_000
    if capture:
        _arm_capc(st, 9, M)
    c = c_of(st)
    ret = compact_zone(st, zz.prm, zz.own, c)
    check_state(st, zz.prm)
    return st, ret


def test_direct_compaction_ends_when_kswapd_frees_a_block_meanwhile(folio_then_dense):
    """kswapd, woken by the slowpath, runs on its own CPU while the task
    compacts: the order-9 folio it reclaims ends the direct compaction
    (__compact_finished() finds the free block: COMPACT_SUCCESS), and the
    page is not captured (capture_control belongs to the compacting task)."""
    st, ret = _compact_alongside(folio_then_dense, wake=True,
                                 c_of=lambda s: _direct_cc(s, 9, GFP_THP, cp.MIGRATE_ASYNC))
    assert ret == cp.COMPACT_SUCCESS
    assert st.vm_events[C.VM_PGSTEAL_KSWAPD] >= PB
    assert _free_order9_chunks(st) == [0] and _on_list(st, 0, 9, M)
    assert st.capc[CAPC_PAGE] == -1
    # kswapd asleep: the same compaction finds nothing and runs to the end
    st, ret = _compact_alongside(folio_then_dense, wake=False,
                                 c_of=lambda s: _direct_cc(s, 9, GFP_THP, cp.MIGRATE_ASYNC))
    assert ret != cp.COMPACT_SUCCESS and _free_order9_chunks(st) == []
    assert st.vm_events[C.VM_PGSTEAL_KSWAPD] == 0


def test_kcompactd_does_not_run_kswapd_inline(folio_then_dense):
    """Only a direct compactor lets kswapd catch up with its own clock;
    kcompactd's time is its own (the daemons are run by run_daemons())."""
    st, _ = _compact_alongside(folio_then_dense, wake=True, c_of=lambda s: _kcompactd_cc(s),
                               capture=False)
    assert st.vm_events[C.VM_PGSTEAL_KSWAPD] == 0


def test_invariants_cover_the_free_chunks_a_compaction_holds():
    """Free chunks a compaction has isolated (cc->freepages) are off the free
    lists: the page-conservation check counts them as held, and a held chunk
    its counters do not account for is reported."""
    from defragsim.mm.invariants import InvariantError
    z = _build(_anon(PB))                     # block 0 full, the rest free
    st = z.st
    _kcompactd_cc(st)
    reached, isolated = _direct(cp.isolate_freepages_block)(st, z.prm, KC, PB, 2 * PB, 1)
    assert isolated > 0 and st.cc[KC, CC_NR_FREEPAGES] == isolated
    check_state(st, z.prm)                    # held, not lost
    st.cc[KC, CC_NR_FREEPAGES] += 1
    with pytest.raises(InvariantError, match="isolated free chunks"):
        check_state(st, z.prm)


@pytest.mark.parametrize("stride, expected", [(32, 2), (1, 64)])
def test_free_scanner_steps_over_a_pcp_chunk_at_its_stride(stride, expected):
    """isolate_freepages_block(): a chunk on a per-cpu list is not compound
    (free pages are not), so the free scanner steps over its pages at the
    stride, counting each page it visits, where a compound page is skipped
    at once with all its pages counted.  64 allocated order-0 pages with an
    order-3 pcp chunk at the start: at stride 32 two pages are visited."""
    from defragsim.mm.state import CC_FREE_SCANNED, CC_KCOMPACTD_IDX, make_state
    cfg = Config(mem="64M")
    st, prm = make_state(cfg), cfg.to_params()
    z = C.MAX_NR_ZONES - 1
    start = int(st.zone_start[z]) + 4 * prm.pageblock_nr_pages
    st.pg_flags[start:start + 64] = 0                  # allocated, not compound
    st.pg_flags[start] = C.PG_pcp
    st.pg_order[start] = 3
    c = CC_KCOMPACTD_IDX
    cp.init_compact_control.impl(st, c, z, 9, 0xcc0, cp.MIGRATE_SYNC_LIGHT, 0, z, 0, 0, 0)
    reached, isolated = cp.isolate_freepages_block.impl(st, prm, c, start, start + 64, stride)
    assert isolated == 0 and reached == start + 64
    assert st.cc[c, CC_FREE_SCANNED] == expected
