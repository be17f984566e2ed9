"""Mirror of mm/page_alloc.c (v6.15+ with ``vm.defrag_mode``; v6.18 behaviour).

Every function here is a numba kernel named after the kernel function it
mirrors; hold this file next to mm/page_alloc.c.  State is the
:class:`~defragsim.state.State` namedtuple of numpy arrays, ``prm`` the
:class:`~defragsim.config.Params` namedtuple, ``rec`` the event
:class:`~defragsim.state.Recorder`.

What is modelled: zones DMA32 and Normal on one node, buddy free lists per
order and migratetype with head/tail insertion, split (``expand``) and merge
(``__free_one_page``) including cross-pageblock merges and the v6.10 freelist
hygiene, per-cpu page lists with batched refill (mode caching) and batched
drains, watermarks with boost and lowmem reserve, the ``__rmqueue`` fallback
modes (``__rmqueue_smallest`` / CMA / ``__rmqueue_claim`` / ``__rmqueue_steal``),
``ALLOC_NOFRAGMENT`` with and without defrag_mode, the highatomic reserve,
and ``mm_page_alloc_extfrag`` events.

What is left out, and why (each also marked ``# MODEL:`` where it matters):
locks, RCU, NUMA, cpusets, memcg, page poisoning/guard pages, free page
reporting and shuffling (no effect on the fallback logic being studied);
``ZONE_DMA``/``ZONE_MOVABLE`` (the series is about Normal/DMA32 behaviour).
Reclaim, kswapd, compaction and OOM are separate modules; the slowpath below
calls into them at the kernel's call sites.
"""
from __future__ import annotations

import numpy as np

from . import costs
from .._jit import kernel as njit
from ..constants import (
    DIRECT_COMPACT_DEFERRED_RETURN, KSWAPD_WAKE_PAGEBLOCK_ORDER, NOFRAGMENT_LAST_RESORT_LOOPING,
    THISNODE_THP_NOPAGE,
    COMPACT_DEFERRED, COMPACT_SKIPPED, COMPACT_SUCCESS, DEF_COMPACT_PRIORITY, INIT_COMPACT_PRIORITY,
    MIN_COMPACT_COSTLY_PRIORITY, MIN_COMPACT_PRIORITY,
    ALLOC_CMA, ALLOC_CPUSET, ALLOC_HIGHATOMIC, ALLOC_KSWAPD, ALLOC_MIN_RESERVE,
    ALLOC_NO_WATERMARKS, ALLOC_NOFRAGMENT, ALLOC_NON_BLOCK, ALLOC_OOM, ALLOC_PREFILL_KEEP_TYPES,
    ALLOC_RESERVES,
    ALLOC_WMARK_HIGH, ALLOC_WMARK_LOW, ALLOC_WMARK_MASK, ALLOC_WMARK_MIN, FALLBACK_EMPTY, FALLBACK_NOCLAIM,
    HPAGE_PMD_ORDER,
    KIND_ANON, KIND_FILE, KIND_KERNEL, MAX_NR_ZONES, MAX_PAGE_ORDER, MIGRATE_CMA,
    MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES,
    MIGRATE_RECLAIMABLE, MIGRATE_TYPES, MIGRATE_UNMOVABLE, NR_FREE_CMA_PAGES,
    NR_FREE_HIGHATOMIC, NR_FREE_PAGES, NR_FREE_PAGES_BLOCKS, NR_LOWORDER_PCP_LISTS,
    NR_PAGE_ORDERS, NR_PCP_LISTS, NR_RESERVED_HIGHATOMIC, NR_ZONE_ALLOCATED, NR_ZONE_PCP,
    MAX_COMPACT_RETRIES, MAX_RECLAIM_RETRIES, PAGE_ALLOC_COSTLY_ORDER,
    VM_COMPACT_FAIL, VM_COMPACT_MIGRATE_SCANNED, VM_COMPACT_STALL, VM_COMPACT_SUCCESS,
    VM_PGMIGRATE_SUCCESS, PG_KIND_SHIFT, PG_buddy, PG_head, PG_lru, PG_pcp,
    PG_tail, RMQUEUE_CLAIM, RMQUEUE_CMA, RMQUEUE_NORMAL, RMQUEUE_STEAL,
    VM_PGALLOC_DMA32, VM_PGFREE, WMARK_HIGH, WMARK_MIN, ZONE_BOOSTED_WATERMARK,
    ZONE_DMA32, ZONE_RECLAIM_ACTIVE, ZONE_NORMAL,
)
from ..gfp import (
    __GFP_DIRECT_RECLAIM, __GFP_DMA, __GFP_DMA32, __GFP_FS, __GFP_HIGH, __GFP_IO,
    __GFP_KSWAPD_RECLAIM, __GFP_MOVABLE, __GFP_NOFAIL, __GFP_NOMEMALLOC, __GFP_NORETRY,
    __GFP_RECLAIMABLE, __GFP_RETRY_MAYFAIL, __GFP_THISNODE,
)
from .state import (
    DIAG_ALLOC_FAILED_TOTAL, DIAG_COMPACT_CAPTURED, DIAG_COMPACT_DEFERRED_TRIES,
    DIAG_HIGHATOMIC_RESERVED,
    DIAG_HIGHATOMIC_UNRESERVED, DIAG_NOFRAGMENT_DROPPED,
    DIAG_NOFRAGMENT_SECOND_PASS, DIAG_PCP_DRAINS, DIAG_PCP_REFILLS, DIAG_SLOWPATH_ENTRIES,
    SCRATCH_BUDDY_MODE, SCRATCH_BULK_MODE, DIAG_SLOWPATH_LOOP_CAP, DIAG_NOFAIL_FAILED,
    CAPC_ACTIVE, CAPC_CC, CAPC_EXT_MT, CAPC_EXT_ORDER, CAPC_MIGRATETYPE, CAPC_ORDER, CAPC_PAGE,
    CAPC_ZONE, LD_CTX_FS, LD_CTX_FS_LOCKED, LD_CTX_NOFS, LD_CTX_NOFS_LOCKED,
    LOCKDEP_COMPACT_ANNOTATED, LOCKDEP_COMPACT_ENTRIES, LOCKDEP_COMPACT_OPENED,
    LOCKDEP_DIRECT_RECLAIM, NODE_FS_LOCKED, REQ_COMPACT_FAIL, REQ_COMPACT_MIGRATE_SCANNED,
    REQ_COMPACT_MIGRATED, REQ_COMPACT_PROMOTED, REQ_COMPACT_STALL, REQ_COMPACT_SUCCESS,
    NODE_PSI_SOME_NS, NODE_PSI_TASK_NS, NODE_REQ_STALL_NS, NODE_REQ_TIME,
    REQ_COMPACT_RETRIES, REQ_DIRECT_RECLAIM, REQ_FAILED, REQ_FUTILE_RECLAIM,
    REQ_NOFRAGMENT_DROPS, REQ_OOM, REQ_RECLAIM_RETRIES, REQ_RECLAIMED, REQ_SLOWPATH,
    REQ_STALL_NS,
)

#: CONFIG_PCP_BATCH_SCALE_MAX default
PCP_BATCH_SCALE_MAX = 5

# fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1] (mm/page_alloc.c)
FALLBACKS = np.array([
    [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE],    # MIGRATE_UNMOVABLE
    [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE],  # MIGRATE_MOVABLE
    [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE],      # MIGRATE_RECLAIMABLE
], dtype=np.int64)


# ---------------------------------------------------------------------------
# Small accessors (include/linux/mmzone.h, include/linux/pageblock-flags.h)
# ---------------------------------------------------------------------------

@njit(inline='always')
def page_zonenum(st, pfn):
    """page_zonenum(): the zone a pfn belongs to (zones are contiguous pfn ranges)."""
    if pfn < st.zone_end[ZONE_DMA32]:
        return ZONE_DMA32
    return ZONE_NORMAL


@njit(inline='always')
def page_kind(st, pfn):
    """What the page holds (KIND_*; model): the top bits of its flags."""
    return st.pg_flags[pfn] >> PG_KIND_SHIFT


@njit(inline='always')
def get_pageblock_migratetype(st, prm, pfn):
    """get_pfnblock_migratetype()."""
    return np.int64(st.block_mt[pfn >> prm.pageblock_order])


@njit(inline='always')
def set_pageblock_migratetype(st, prm, pfn, mt):
    """set_pageblock_migratetype() for the block holding ``pfn``."""
    st.block_mt[pfn >> prm.pageblock_order] = mt


@njit
def change_pageblock_range(st, prm, pfn, order, mt):
    """change_pageblock_range(): retype every block of a chunk of ``order`` >= pageblock_order."""
    nr = 1 << order
    b = pfn >> prm.pageblock_order
    nb = max(nr >> prm.pageblock_order, 1)
    for i in range(nb):
        st.block_mt[b + i] = mt


@njit(inline='always')
def migratetype_is_mergeable(mt):
    """migratetype_is_mergeable(): only the three PCP types merge across blocks."""
    return mt < MIGRATE_PCPTYPES


@njit(inline='always')
def is_migrate_movable(mt):
    """is_migrate_movable(): MOVABLE or CMA."""
    return mt == MIGRATE_MOVABLE or mt == MIGRATE_CMA


@njit(inline='always')
def free_list_id(z, order, mt):
    """Flat index of zone->free_area[order].free_list[mt] in State.free_head/free_tail."""
    return (z * NR_PAGE_ORDERS + order) * MIGRATE_TYPES + mt


@njit(inline='always')
def pcp_list_id(cpu, z, pindex):
    """Flat index of per_cpu_pages(cpu, zone)->lists[pindex] in State.pcp_head/pcp_tail."""
    return (cpu * MAX_NR_ZONES + z) * NR_PCP_LISTS + pindex


@njit(inline='always')
def free_area_empty(st, z, order, mt):
    """free_area_empty()."""
    return st.free_head[free_list_id(z, order, mt)] < 0


@njit(inline='always')
def wmark_pages(st, z, i):
    """wmark_pages(): watermark plus the current boost."""
    return st.watermark[z, i] + st.watermark_boost[z]


# ---------------------------------------------------------------------------
# List primitives (include/linux/list.h) on the shared page links
# ---------------------------------------------------------------------------

@njit(inline='always')
def list_add(st, heads, tails, lid, pfn):
    """list_add(): insert at the head."""
    h = heads[lid]
    st.pg_prev[pfn] = -1
    st.pg_next[pfn] = h
    if h >= 0:
        st.pg_prev[h] = pfn
    else:
        tails[lid] = pfn
    heads[lid] = pfn


@njit(inline='always')
def list_add_tail(st, heads, tails, lid, pfn):
    """list_add_tail(): insert at the tail."""
    t = tails[lid]
    st.pg_next[pfn] = -1
    st.pg_prev[pfn] = t
    if t >= 0:
        st.pg_next[t] = pfn
    else:
        heads[lid] = pfn
    tails[lid] = pfn


@njit(inline='always')
def list_del(st, heads, tails, lid, pfn):
    """list_del()."""
    p = st.pg_prev[pfn]
    n = st.pg_next[pfn]
    if p >= 0:
        st.pg_next[p] = n
    else:
        heads[lid] = n
    if n >= 0:
        st.pg_prev[n] = p
    else:
        tails[lid] = p
    st.pg_next[pfn] = -1
    st.pg_prev[pfn] = -1


@njit
def move_freelist_head(st, heads, tails, lid, pfn):
    """mm/compaction.c move_freelist_head(): list_cut_before() the entries
    ahead of ``pfn`` and list_splice_tail() them, so ``pfn`` becomes the
    first entry and a later search starts after what was just scanned."""
    h = heads[lid]
    if h == pfn or h < 0:
        return
    prev = st.pg_prev[pfn]
    t = tails[lid]
    st.pg_prev[pfn] = -1
    heads[lid] = pfn
    st.pg_next[t] = h
    st.pg_prev[h] = t
    st.pg_next[prev] = -1
    tails[lid] = prev


@njit
def move_freelist_tail(st, heads, tails, lid, pfn):
    """mm/compaction.c move_freelist_tail(): list_cut_position() the entries
    up to and including ``pfn`` and list_splice_tail() them, so ``pfn``
    becomes the last entry and a later search starts after it."""
    t = tails[lid]
    if t == pfn or t < 0:
        return
    h = heads[lid]
    nxt = st.pg_next[pfn]
    heads[lid] = nxt
    st.pg_prev[nxt] = -1
    st.pg_next[t] = h
    st.pg_prev[h] = t
    st.pg_next[pfn] = -1
    tails[lid] = pfn


# ---------------------------------------------------------------------------
# Free-list bookkeeping
# ---------------------------------------------------------------------------

@njit(inline='always')
def account_freepages(st, z, nr_pages, mt):
    """account_freepages(): NR_FREE_PAGES and the CMA / highatomic sub-counts."""
    if mt == MIGRATE_ISOLATE:
        return
    st.zone_stat[z, NR_FREE_PAGES] += nr_pages
    if mt == MIGRATE_CMA:
        st.zone_stat[z, NR_FREE_CMA_PAGES] += nr_pages
    elif mt == MIGRATE_HIGHATOMIC:
        st.zone_stat[z, NR_FREE_HIGHATOMIC] += nr_pages


@njit(inline='always')
def set_buddy_order(st, pfn, order):
    """set_buddy_order(): mark ``pfn`` as the head of a free chunk (PageBuddy)."""
    st.pg_order[pfn] = order
    st.pg_flags[pfn] = PG_buddy            # (and KIND_NONE)


@njit
def __add_to_free_list(st, prm, pfn, z, order, mt, tail):
    """__add_to_free_list(): link a chunk, bump nr_free and NR_FREE_PAGES_BLOCKS."""
    lid = free_list_id(z, order, mt)
    if tail:
        list_add_tail(st, st.free_head, st.free_tail, lid, pfn)
    else:
        list_add(st, st.free_head, st.free_tail, lid, pfn)
    st.nr_free[z, order] += 1
    st.nr_free_mt[z, order, mt] += 1
    if order >= prm.pageblock_order and mt != MIGRATE_ISOLATE:
        st.zone_stat[z, NR_FREE_PAGES_BLOCKS] += 1 << order


@njit
def __del_page_from_free_list(st, prm, pfn, z, order, mt):
    """__del_page_from_free_list(): unlink a chunk and clear PageBuddy (no NR_FREE_PAGES change)."""
    lid = free_list_id(z, order, mt)
    list_del(st, st.free_head, st.free_tail, lid, pfn)
    st.pg_flags[pfn] = 0
    st.pg_order[pfn] = -1
    st.nr_free[z, order] -= 1
    st.nr_free_mt[z, order, mt] -= 1
    if order >= prm.pageblock_order and mt != MIGRATE_ISOLATE:
        st.zone_stat[z, NR_FREE_PAGES_BLOCKS] -= 1 << order


@njit
def del_page_from_free_list(st, prm, pfn, z, order, mt):
    """del_page_from_free_list(): unlink and account."""
    __del_page_from_free_list(st, prm, pfn, z, order, mt)
    account_freepages(st, z, -(1 << order), mt)


@njit
def move_to_free_list(st, prm, pfn, z, order, old_mt, new_mt):
    """move_to_free_list(): move a free chunk to the tail of another type's list."""
    lid = free_list_id(z, order, old_mt)
    list_del(st, st.free_head, st.free_tail, lid, pfn)
    st.nr_free_mt[z, order, old_mt] -= 1
    list_add_tail(st, st.free_head, st.free_tail, free_list_id(z, order, new_mt), pfn)
    st.nr_free_mt[z, order, new_mt] += 1
    if order >= prm.pageblock_order:
        if old_mt == MIGRATE_ISOLATE and new_mt != MIGRATE_ISOLATE:
            st.zone_stat[z, NR_FREE_PAGES_BLOCKS] += 1 << order
        elif new_mt == MIGRATE_ISOLATE and old_mt != MIGRATE_ISOLATE:
            st.zone_stat[z, NR_FREE_PAGES_BLOCKS] -= 1 << order
    account_freepages(st, z, -(1 << order), old_mt)
    account_freepages(st, z, 1 << order, new_mt)


@njit(inline='always')
def page_is_buddy(st, pfn, buddy, order):
    """page_is_buddy(): ``buddy`` heads a free chunk of exactly ``order`` in the same zone."""
    if buddy < 0 or buddy >= st.pg_flags.shape[0]:
        return False
    if (st.pg_flags[buddy] & PG_buddy) == 0:
        return False
    if st.pg_order[buddy] != order:
        return False
    return page_zonenum(st, pfn) == page_zonenum(st, buddy)


@njit
def buddy_merge_likely(st, pfn, buddy_pfn, order):
    """buddy_merge_likely(): will this chunk merge soon?  Then queue it at the tail.

    True if the next-higher-order buddy of the combined chunk is already free.
    """
    if order >= MAX_PAGE_ORDER - 1:
        return False
    higher_page_pfn = buddy_pfn & pfn
    higher_buddy = higher_page_pfn ^ (1 << (order + 1))
    return page_is_buddy(st, higher_page_pfn, higher_buddy, order + 1)


@njit(inline='always')
def task_capc(st, prm, z):
    """task_capc(): the current task is compacting zone ``z`` and has not
    captured a page yet.  With [PATCH 3/4] the capture_control exists before
    compaction runs, so ``capc->cc`` is checked too."""
    if st.capc[CAPC_ACTIVE] == 0:
        return False
    if prm.patch3 and st.capc[CAPC_CC] == 0:
        return False
    return st.capc[CAPC_PAGE] < 0 and st.capc[CAPC_ZONE] == z


@njit
def compaction_capture(st, prm, pfn, order, migratetype):
    """compaction_capture(): hand a freed chunk of exactly the capture order to
    the task compacting this zone (task_capc() was checked by the caller).

    The capture order is ``cc->order`` before the series and ``capc->order``
    (the original request order) with [PATCH 4/4]; the model keeps it in
    ``capc[CAPC_ORDER]``.  The extfrag event for a foreign block is emitted
    when the allocator takes the page (it needs the event ring).
    """
    if order != st.capc[CAPC_ORDER]:
        return False
    # Do not accidentally pollute CMA or isolated regions
    if migratetype == MIGRATE_CMA or migratetype == MIGRATE_ISOLATE:
        return False
    # Do not let lower order allocations pollute a movable pageblock unless
    # compaction is also requesting movable pages.
    if order < prm.pageblock_order and migratetype == MIGRATE_MOVABLE and \
            st.capc[CAPC_MIGRATETYPE] != MIGRATE_MOVABLE:
        return False
    if migratetype != st.capc[CAPC_MIGRATETYPE]:
        st.capc[CAPC_EXT_MT] = migratetype
        st.capc[CAPC_EXT_ORDER] = order
    st.capc[CAPC_PAGE] = pfn
    st.pg_flags[pfn] = 0
    st.pg_order[pfn] = -1
    return True


@njit
def __free_one_page(st, prm, pfn, z, order, mt, to_tail):
    """__free_one_page(): merge a freed chunk with its free buddies and queue it.

    ``mt`` is the pageblock's current type (hygiene: looked up by the caller
    at the time the page reaches the buddy allocator).  Blocks only merge
    across a pageblock boundary when both types are mergeable; a merge across
    blocks of different mergeable types retypes the buddy's block.

    Compaction capture (``compaction_capture()``) hooks in here in the kernel;
    it is checked by the compaction model's free path, not by this function.
    """
    account_freepages(st, z, 1 << order, mt)
    buddy_pfn = pfn
    while order < MAX_PAGE_ORDER:
        buddy_mt = mt
        if task_capc(st, prm, z):
            if compaction_capture(st, prm, pfn, order, mt):
                account_freepages(st, z, -(1 << order), mt)
                return
        buddy_pfn = pfn ^ (1 << order)
        if not page_is_buddy(st, pfn, buddy_pfn, order):
            break
        if order >= prm.pageblock_order:
            # Prevent merges between free pages on pageblocks without
            # fallbacks (HIGHATOMIC, CMA, ISOLATE) and normal pageblocks.
            buddy_mt = get_pageblock_migratetype(st, prm, buddy_pfn)
            if mt != buddy_mt and (not migratetype_is_mergeable(mt)
                                   or not migratetype_is_mergeable(buddy_mt)):
                break
        __del_page_from_free_list(st, prm, buddy_pfn, z, order, buddy_mt)
        if buddy_mt != mt:
            # Match buddy type, so a later expand() puts sub-blocks on the
            # right freelists.
            change_pageblock_range(st, prm, buddy_pfn, order, mt)
        pfn = buddy_pfn & pfn
        order += 1
    set_buddy_order(st, pfn, order)
    tail = to_tail or buddy_merge_likely(st, pfn, buddy_pfn, order)
    __add_to_free_list(st, prm, pfn, z, order, mt, tail)
    # Notify page reporting subsystem of freed page
    page_reporting.page_reporting_notify_free(st, prm, order)


@njit
def split_large_buddy(st, prm, pfn, z, order, to_tail):
    """split_large_buddy(): free a chunk larger than a pageblock block by block,
    each with its own block type, then let __free_one_page() re-merge them."""
    end = pfn + (1 << order)
    if order > prm.pageblock_order:
        order = prm.pageblock_order
    while pfn < end:
        mt = get_pageblock_migratetype(st, prm, pfn)
        __free_one_page(st, prm, pfn, z, order, mt, to_tail)
        pfn += 1 << order


@njit
def free_one_page(st, prm, pfn, z, order, to_tail):
    """free_one_page(): a chunk straight into the buddy lists (zone lock held)."""
    split_large_buddy(st, prm, pfn, z, order, to_tail)


@njit
def expand(st, prm, z, pfn, low, high, mt):
    """expand(): split a chunk of order ``high`` down to ``low``, keeping the
    lowest piece and queueing each upper half at the head of ``mt``'s list."""
    size = 1 << high
    nr_added = 0
    while high > low:
        high -= 1
        size >>= 1
        __add_to_free_list(st, prm, pfn + size, z, high, mt, False)
        set_buddy_order(st, pfn + size, high)
        nr_added += size
    return nr_added


@njit
def page_del_and_expand(st, prm, z, pfn, low, high, mt):
    """page_del_and_expand()."""
    nr_pages = 1 << high
    __del_page_from_free_list(st, prm, pfn, z, high, mt)
    nr_pages -= expand(st, prm, z, pfn, low, high, mt)
    account_freepages(st, z, -nr_pages, mt)


@njit(inline='always')
def get_page_from_free_area(st, z, order, mt):
    """get_page_from_free_area(): the head of free_list[mt], or -1."""
    return st.free_head[free_list_id(z, order, mt)]


# ---------------------------------------------------------------------------
# Tracepoints
# ---------------------------------------------------------------------------

@njit
def trace_mm_page_alloc_extfrag(st, prm, rec, pfn, alloc_order, fallback_order,
                                alloc_migratetype, fallback_migratetype):
    """TRACE_EVENT(mm_page_alloc_extfrag): record one fallback.

    ``change_ownership`` is computed at emission, as in the kernel's
    TP_fast_assign: ``alloc_migratetype == get_pageblock_migratetype(page)``.
    """
    i = rec.ext_count[0]
    if i >= rec.ext_t.shape[0]:
        return  # the driver keeps headroom; cannot happen unless misused
    rec.ext_t[i] = st.clock[0]
    rec.ext_pfn[i] = pfn
    rec.ext_alloc_order[i] = alloc_order
    rec.ext_fallback_order[i] = fallback_order
    rec.ext_alloc_mt[i] = alloc_migratetype
    rec.ext_fallback_mt[i] = fallback_migratetype
    rec.ext_change_ownership[i] = 1 if alloc_migratetype == get_pageblock_migratetype(st, prm, pfn) else 0
    rec.ext_count[0] = i + 1


# ---------------------------------------------------------------------------
# Block moves (claims, highatomic)
# ---------------------------------------------------------------------------

@njit
def prep_move_freepages_block(st, prm, pfn):
    """prep_move_freepages_block(): scan the block of ``pfn``.

    Returns (ok, start_pfn, free_pages, movable_pages).  ``free_pages``
    counts pages in buddy chunks; ``movable_pages`` counts PageLRU pages
    (every page of an LRU folio, as PageLRU() on a tail reads the head).
    Pages on per-cpu lists are neither.  Blocks straddling a zone boundary
    are refused.
    """
    pbnr = prm.pageblock_nr_pages
    start = pfn & ~(pbnr - 1)
    end = start + pbnr
    z = page_zonenum(st, start)
    if start < st.zone_start[z] or end > st.zone_end[z]:
        return False, start, 0, 0
    free_pages = 0
    movable_pages = 0
    p = start
    while p < end:
        f = st.pg_flags[p]
        if f & PG_buddy:
            o = st.pg_order[p]
            free_pages += 1 << o
            p += 1 << o
            continue
        if f & PG_lru:
            movable_pages += 1
        p += 1
    return True, start, free_pages, movable_pages


@njit
def __move_freepages_block(st, prm, z, start_pfn, old_mt, new_mt):
    """__move_freepages_block(): move every free chunk of the block to new_mt's lists."""
    end = start_pfn + prm.pageblock_nr_pages
    p = start_pfn
    nr_moved = 0
    while p < end:
        if (st.pg_flags[p] & PG_buddy) == 0:
            p += 1
            continue
        o = st.pg_order[p]
        move_to_free_list(st, prm, p, z, o, old_mt, new_mt)
        p += 1 << o
        nr_moved += 1 << o
    return nr_moved


@njit
def move_freepages_block(st, prm, z, pfn, old_mt, new_mt):
    """move_freepages_block(): retype a whole block and move its free pages.

    Returns the number of pages moved, or -1 if the block straddles a zone.
    """
    ok, start, free_pages, movable = prep_move_freepages_block(st, prm, pfn)
    if not ok:
        return -1
    # MODEL: a free chunk larger than a pageblock covering this block is
    # handled by the caller in the kernel (split first); the model never
    # isolates, so claims only move blocks whose chunks fit inside them.
    nr = __move_freepages_block(st, prm, z, start, old_mt, new_mt)
    set_pageblock_migratetype(st, prm, start, new_mt)
    return nr


@njit
def boost_watermark(st, prm, z):
    """boost_watermark(): raise the zone's watermarks by one pageblock (capped)."""
    if prm.watermark_boost_factor == 0:
        return False
    # Don't bother in zones that are unlikely to produce results.
    if prm.pageblock_nr_pages * 4 > st.zone_managed[z]:
        return False
    max_boost = st.watermark[z, WMARK_HIGH] * prm.watermark_boost_factor // 10000
    if max_boost == 0:
        return False
    max_boost = max(prm.pageblock_nr_pages, max_boost)
    st.watermark_boost[z] = min(st.watermark_boost[z] + prm.pageblock_nr_pages, max_boost)
    return True


# ---------------------------------------------------------------------------
# __rmqueue and its fallback modes
# ---------------------------------------------------------------------------

@njit
def __rmqueue_smallest(st, prm, z, order, mt):
    """__rmqueue_smallest(): the smallest chunk on ``mt``'s own lists."""
    for current_order in range(order, NR_PAGE_ORDERS):
        pfn = get_page_from_free_area(st, z, current_order, mt)
        if pfn < 0:
            continue
        page_del_and_expand(st, prm, z, pfn, order, current_order, mt)
        return pfn
    return -1


@njit
def __rmqueue_cma_fallback(st, prm, z, order):
    """__rmqueue_cma_fallback()."""
    return __rmqueue_smallest(st, prm, z, order, MIGRATE_CMA)


@njit
def should_try_claim_block(prm, order, start_mt):
    """should_try_claim_block(): ``order`` is the free chunk's order, not the request's."""
    # We can claim the whole pageblock if the chunk covers it.
    if order >= prm.pageblock_order:
        return True
    # Unmovable/reclaimable requests always try to claim; movable ones only
    # from large chunks.  (page_group_by_mobility_disabled is never set: the
    # model requires at least one pageblock per zone... see Config.)
    if order >= prm.pageblock_order // 2 or start_mt == MIGRATE_RECLAIMABLE \
            or start_mt == MIGRATE_UNMOVABLE:
        return True
    return False


@njit
def find_suitable_fallback(st, prm, z, order, migratetype, claimable):
    """find_suitable_fallback(): FALLBACK_NOCLAIM (-2), FALLBACK_EMPTY (-1) or a type."""
    if claimable and not should_try_claim_block(prm, order, migratetype):
        return FALLBACK_NOCLAIM
    if st.nr_free[z, order] == 0:
        return FALLBACK_EMPTY
    for i in range(MIGRATE_PCPTYPES - 1):
        fallback_mt = FALLBACKS[migratetype, i]
        if not free_area_empty(st, z, order, fallback_mt):
            return fallback_mt
    return FALLBACK_EMPTY


@njit
def try_to_claim_block(st, prm, z, pfn, current_order, order, start_type, block_type,
                       alloc_flags):
    """try_to_claim_block(): take a foreign block for ``start_type`` if we may.

    Whole free blocks (current_order >= pageblock_order) are taken outright.
    A partial block is claimed when at least half of it is free or holds pages
    compatible with the request; that attempt boosts the watermark first.
    """
    if current_order >= prm.pageblock_order:
        del_page_from_free_list(st, prm, pfn, z, current_order, block_type)
        change_pageblock_range(st, prm, pfn, current_order, start_type)
        nr_added = expand(st, prm, z, pfn, order, current_order, start_type)
        account_freepages(st, z, nr_added, start_type)
        return pfn
    # Boost watermarks to increase reclaim pressure and reduce the likelihood
    # of future fallbacks; kswapd is woken from rmqueue().
    if boost_watermark(st, prm, z) and (alloc_flags & ALLOC_KSWAPD):
        st.zone_flags[z] |= ZONE_BOOSTED_WATERMARK
    ok, start_pfn, free_pages, movable_pages = prep_move_freepages_block(st, prm, pfn)
    if not ok:
        return -1
    if start_type == MIGRATE_MOVABLE:
        alike_pages = movable_pages
    elif block_type == MIGRATE_MOVABLE:
        # Falling back into a MOVABLE block: every non-free, non-LRU page
        # (slab, kernel, pages on pcp lists) counts as compatible.
        alike_pages = prm.pageblock_nr_pages - (free_pages + movable_pages)
    else:
        alike_pages = 0
    if free_pages + alike_pages >= (1 << (prm.pageblock_order - 1)):
        __move_freepages_block(st, prm, z, start_pfn, block_type, start_type)
        set_pageblock_migratetype(st, prm, start_pfn, start_type)
        return __rmqueue_smallest(st, prm, z, order, start_type)
    return -1


@njit
def __rmqueue_claim(st, prm, rec, z, order, start_migratetype, alloc_flags):
    """__rmqueue_claim(): claim a foreign block, largest free chunk first.

    Under ALLOC_NOFRAGMENT only whole free pageblocks may be taken.
    """
    min_order = order
    if order < prm.pageblock_order and (alloc_flags & ALLOC_NOFRAGMENT):
        min_order = prm.pageblock_order
    current_order = MAX_PAGE_ORDER
    while current_order >= min_order:
        fallback_mt = find_suitable_fallback(st, prm, z, current_order, start_migratetype, True)
        if fallback_mt == FALLBACK_EMPTY:
            current_order -= 1
            continue
        if fallback_mt == FALLBACK_NOCLAIM:
            break
        pfn = get_page_from_free_area(st, z, current_order, fallback_mt)
        pfn = try_to_claim_block(st, prm, z, pfn, current_order, order, start_migratetype,
                                 fallback_mt, alloc_flags)
        if pfn >= 0:
            trace_mm_page_alloc_extfrag(st, prm, rec, pfn, order, current_order,
                                        start_migratetype, fallback_mt)
            return pfn
        current_order -= 1
    return -1


@njit
def __rmqueue_steal(st, prm, rec, z, order, start_migratetype):
    """__rmqueue_steal(): take the smallest foreign chunk, leaving its block's type."""
    for current_order in range(order, NR_PAGE_ORDERS):
        fallback_mt = find_suitable_fallback(st, prm, z, current_order, start_migratetype, False)
        if fallback_mt == FALLBACK_EMPTY:
            continue
        pfn = get_page_from_free_area(st, z, current_order, fallback_mt)
        page_del_and_expand(st, prm, z, pfn, order, current_order, fallback_mt)
        trace_mm_page_alloc_extfrag(st, prm, rec, pfn, order, current_order,
                                    start_migratetype, fallback_mt)
        return pfn
    return -1


@njit(fastpath=True)
def __rmqueue(st, prm, rec, z, order, migratetype, alloc_flags, mode):
    """__rmqueue(): own lists, then CMA, claim, steal, remembering in ``mode[0]``
    where pay dirt was found (the mode persists across an rmqueue_bulk batch)."""
    if alloc_flags & ALLOC_CMA:
        # Balance movable allocations between regular and CMA areas.
        if st.zone_stat[z, NR_FREE_CMA_PAGES] > st.zone_stat[z, NR_FREE_PAGES] // 2:
            pfn = __rmqueue_cma_fallback(st, prm, z, order)
            if pfn >= 0:
                return pfn
    m = mode[0]
    if m <= RMQUEUE_NORMAL:
        pfn = __rmqueue_smallest(st, prm, z, order, migratetype)
        if pfn >= 0:
            return pfn
    if m <= RMQUEUE_CMA:
        if alloc_flags & ALLOC_CMA:
            pfn = __rmqueue_cma_fallback(st, prm, z, order)
            if pfn >= 0:
                mode[0] = RMQUEUE_CMA
                return pfn
    # MODEL: a replay's prefill never claims a pageblock (page_alloc.alloc_pages_prefill)
    if m <= RMQUEUE_CLAIM and (alloc_flags & ALLOC_PREFILL_KEEP_TYPES) == 0:
        pfn = __rmqueue_claim(st, prm, rec, z, order, migratetype, alloc_flags)
        if pfn >= 0:
            # Replenished preferred freelist, back to normal mode.
            mode[0] = RMQUEUE_NORMAL
            return pfn
    if (alloc_flags & ALLOC_NOFRAGMENT) == 0:
        pfn = __rmqueue_steal(st, prm, rec, z, order, migratetype)
        if pfn >= 0:
            mode[0] = RMQUEUE_STEAL
            return pfn
    return -1


# ---------------------------------------------------------------------------
# Per-cpu page lists
# ---------------------------------------------------------------------------

@njit(inline='always')
def pcp_allowed_order(order):
    """pcp_allowed_order(): orders 0..PAGE_ALLOC_COSTLY_ORDER and the THP order."""
    return order <= PAGE_ALLOC_COSTLY_ORDER or order == HPAGE_PMD_ORDER


@njit(inline='always')
def order_to_pindex(migratetype, order):
    """order_to_pindex()."""
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return NR_LOWORDER_PCP_LISTS + (1 if migratetype == MIGRATE_MOVABLE else 0)
    return (MIGRATE_PCPTYPES * order) + migratetype


@njit(inline='always')
def pindex_to_order(pindex):
    """pindex_to_order()."""
    if pindex >= NR_LOWORDER_PCP_LISTS:
        return HPAGE_PMD_ORDER
    return pindex // MIGRATE_PCPTYPES


@njit(inline='always')
def pcp_add(st, cpu, z, pindex, pfn, order, tail):
    lid = pcp_list_id(cpu, z, pindex)
    if tail:
        list_add_tail(st, st.pcp_head, st.pcp_tail, lid, pfn)
    else:
        list_add(st, st.pcp_head, st.pcp_tail, lid, pfn)
    st.pg_flags[pfn] = PG_pcp              # (and KIND_NONE)
    st.pg_order[pfn] = order
    st.pcp_count[cpu, z] += 1 << order
    st.zone_stat[z, NR_ZONE_PCP] += 1 << order


@njit(inline='always')
def pcp_del(st, cpu, z, pindex, pfn, order):
    lid = pcp_list_id(cpu, z, pindex)
    list_del(st, st.pcp_head, st.pcp_tail, lid, pfn)
    st.pg_flags[pfn] = 0
    st.pg_order[pfn] = -1
    st.pcp_count[cpu, z] -= 1 << order
    st.zone_stat[z, NR_ZONE_PCP] -= 1 << order


@njit
def rmqueue_bulk(st, prm, rec, cpu, z, order, count, pindex, migratetype, alloc_flags):
    """rmqueue_bulk(): refill a pcp list with ``count`` chunks under one zone lock.

    The fallback mode is cached across the batch: once a page had to be
    stolen, the rest of the batch is stolen page by page (one extfrag event
    each), without retrying the own lists or claims.
    """
    mode = st.scratch[SCRATCH_BULK_MODE:SCRATCH_BULK_MODE + 1]
    mode[0] = RMQUEUE_NORMAL
    st.diag[DIAG_PCP_REFILLS] += 1
    i = 0
    while i < count:
        pfn = __rmqueue(st, prm, rec, z, order, migratetype, alloc_flags, mode)
        if pfn < 0:
            break
        pcp_add(st, cpu, z, pindex, pfn, order, True)
        i += 1
    return i


@njit
def nr_pcp_alloc(st, cpu, z, order):
    """nr_pcp_alloc(): the refill batch.

    MODEL: pcp->high is fixed at high_min (no auto-tuning toward high_max);
    alloc_factor doubling of order-0 batches is kept.
    """
    high = st.pcp_high[z]      # MODEL: fixed at high_min
    base_batch = st.pcp_batch[z]
    if high < base_batch:
        return 1
    if order:
        batch = base_batch
    else:
        batch = base_batch << st.pcp_alloc_factor[cpu, z]
    if order == 0:
        max_nr_alloc = max(high - st.pcp_count[cpu, z] - base_batch, base_batch)
        if batch <= max_nr_alloc and st.pcp_alloc_factor[cpu, z] < PCP_BATCH_SCALE_MAX:
            st.pcp_alloc_factor[cpu, z] += 1
        batch = min(batch, max_nr_alloc)
    if batch > 1:
        batch = max(batch >> order, 2)
    return batch


@njit(fastpath=True)
def rmqueue_pcplist(st, prm, rec, cpu, z, order, migratetype, alloc_flags):
    """rmqueue_pcplist() / __rmqueue_pcplist(): take the list head, refilling on a miss."""
    pindex = order_to_pindex(migratetype, order)
    lid = pcp_list_id(cpu, z, pindex)
    # Allocating resets the free-batch scaling (pcp->free_count >>= 1).
    st.pcp_free_count[cpu, z] >>= 1
    if st.pcp_head[lid] < 0:
        batch = nr_pcp_alloc(st, cpu, z, order)
        rmqueue_bulk(st, prm, rec, cpu, z, order, batch, pindex, migratetype, alloc_flags)
        if st.pcp_head[lid] < 0:
            return -1
    pfn = st.pcp_head[lid]
    pcp_del(st, cpu, z, pindex, pfn, order)
    st.vm_events[VM_PGALLOC_DMA32 + z] += 1 << order
    return pfn


@njit
def rmqueue_buddy(st, prm, rec, z, order, alloc_flags, migratetype):
    """rmqueue_buddy(): one chunk straight from the buddy lists."""
    pfn = -1
    if alloc_flags & ALLOC_HIGHATOMIC:
        pfn = __rmqueue_smallest(st, prm, z, order, MIGRATE_HIGHATOMIC)
    if pfn < 0:
        mode = st.scratch[SCRATCH_BUDDY_MODE:SCRATCH_BUDDY_MODE + 1]
        mode[0] = RMQUEUE_NORMAL
        pfn = __rmqueue(st, prm, rec, z, order, migratetype, alloc_flags, mode)
        # Failing now is worse than failing a high-order atomic allocation
        # later: OOM handling and atomic requests may use HIGHATOMIC reserves.
        if pfn < 0 and (alloc_flags & (ALLOC_OOM | ALLOC_NON_BLOCK)):
            pfn = __rmqueue_smallest(st, prm, z, order, MIGRATE_HIGHATOMIC)
        if pfn < 0:
            return -1
    st.vm_events[VM_PGALLOC_DMA32 + z] += 1 << order
    return pfn


@njit(fastpath=True)
def rmqueue(st, prm, rec, cpu, preferred_z, z, order, gfp_mask, alloc_flags, migratetype):
    """rmqueue(): per-cpu lists for small orders and THP, else the buddy lists."""
    pfn = -1
    if prm.pcp_enabled and pcp_allowed_order(order):
        pfn = rmqueue_pcplist(st, prm, rec, cpu, z, order, migratetype, alloc_flags)
    if pfn < 0:
        pfn = rmqueue_buddy(st, prm, rec, z, order, alloc_flags, migratetype)
    if (alloc_flags & ALLOC_KSWAPD) and (st.zone_flags[z] & ZONE_BOOSTED_WATERMARK):
        st.zone_flags[z] &= ~ZONE_BOOSTED_WATERMARK
        vmscan.wakeup_kswapd(st, prm, z, 0, 0, z)
    return pfn


@njit
def free_pcppages_bulk(st, prm, cpu, z, count, pindex):
    """free_pcppages_bulk(): drain ``count`` pages round-robin over the lists,
    starting with ``pindex``, each from the list tail (the coldest page)."""
    st.diag[DIAG_PCP_DRAINS] += 1
    count = min(st.pcp_count[cpu, z], count)
    pindex = pindex - 1
    while count > 0:
        # Remove pages from lists in a round-robin fashion.
        while True:
            pindex += 1
            if pindex > NR_PCP_LISTS - 1:
                pindex = 0
            if st.pcp_head[pcp_list_id(cpu, z, pindex)] >= 0:
                break
        order = pindex_to_order(pindex)
        lid = pcp_list_id(cpu, z, pindex)
        while True:
            pfn = st.pcp_tail[lid]
            # Hygiene: the block type is looked up at drain time.
            mt = get_pageblock_migratetype(st, prm, pfn)
            pcp_del(st, cpu, z, pindex, pfn, order)
            count -= 1 << order
            __free_one_page(st, prm, pfn, z, order, mt, False)
            if count <= 0 or st.pcp_head[lid] < 0:
                break


@njit
def nr_pcp_free(st, cpu, z, batch, high):
    """nr_pcp_free(): how many pages to drain (free_high mode not modelled)."""
    if high < batch:
        return 1
    min_nr_free = batch
    max_nr_free = high - batch
    return min(max(st.pcp_free_count[cpu, z], min_nr_free), max_nr_free)


@njit(inline='always')
def nr_pcp_high(st, z):
    """nr_pcp_high(): the pcp count above which a free drains to the buddy.

    While kswapd reclaims (ZONE_RECLAIM_ACTIVE, set by balance_pgdat()) the
    lists keep at most ``batch << 2`` pages, so what reclaim frees reaches
    the buddy lists, where every cpu can allocate it (c49c2c47dab6, v5.14).
    MODEL: pcp->high is fixed at high_min, so the kernel's lowering of
    pcp->high toward high_min here has nothing to do.
    """
    high = st.pcp_high[z]      # MODEL: fixed at high_min
    if st.zone_flags[z] & ZONE_RECLAIM_ACTIVE:
        return min(st.pcp_batch[z] << 2, high)
    return high


@njit(fastpath=True)
def free_frozen_page_commit(st, prm, cpu, z, pfn, order, migratetype):
    """free_frozen_page_commit(): queue on the pcp list head, drain above pcp->high.

    MODEL: the order-1..3 ``free_high`` early drain and pcp->high tuning are
    not modelled; free_count scaling of the drain size is.
    """
    st.pcp_alloc_factor[cpu, z] >>= 1
    st.vm_events[VM_PGFREE] += 1 << order
    # MODEL: no free_high early drain for orders 1..3, no pcp->high tuning
    pindex = order_to_pindex(migratetype, order)
    pcp_add(st, cpu, z, pindex, pfn, order, False)
    batch = st.pcp_batch[z]
    if st.pcp_free_count[cpu, z] < (batch << PCP_BATCH_SCALE_MAX):
        st.pcp_free_count[cpu, z] += 1 << order
    high = nr_pcp_high(st, z)
    if st.pcp_count[cpu, z] >= high:
        free_pcppages_bulk(st, prm, cpu, z, nr_pcp_free(st, cpu, z, batch, high), pindex)


@njit
def drain_pages_zone(st, prm, cpu, z):
    """drain_pages_zone(): empty one cpu's pcp lists for a zone."""
    while st.pcp_count[cpu, z] > 0:
        free_pcppages_bulk(st, prm, cpu, z, st.pcp_count[cpu, z], 0)


@njit
def drain_all_pages(st, prm, z):
    """drain_all_pages(zone); ``z < 0`` drains every zone."""
    for cpu in range(prm.nr_cpus):
        for zz in range(MAX_NR_ZONES):
            if z < 0 or zz == z:
                drain_pages_zone(st, prm, cpu, zz)


# ---------------------------------------------------------------------------
# Freeing
# ---------------------------------------------------------------------------

@njit
def clear_page_contents(st, pfn, order):
    """Model bookkeeping: the pages no longer hold anything."""
    n = 1 << order
    for i in range(n):
        st.pg_flags[pfn + i] = 0           # (and KIND_NONE)
        st.pg_handle[pfn + i] = -1
        st.pg_order[pfn + i] = -1


@njit(fastpath=True)
def free_frozen_pages(st, prm, cpu, pfn, order):
    """free_frozen_pages() / __free_pages_ok(): free an allocated chunk.

    Small orders and THPs go to the per-cpu list of the block's type
    (HIGHATOMIC and CMA pages are filed on the MOVABLE list; ISOLATE pages
    bypass the pcp); other orders go straight to the buddy lists.
    """
    z = page_zonenum(st, pfn)
    clear_page_contents(st, pfn, order)
    st.zone_stat[z, NR_ZONE_ALLOCATED] -= 1 << order
    migratetype = get_pageblock_migratetype(st, prm, pfn)
    if prm.pcp_enabled and pcp_allowed_order(order):
        if migratetype >= MIGRATE_PCPTYPES:
            if migratetype == MIGRATE_ISOLATE:
                st.vm_events[VM_PGFREE] += 1 << order
                free_one_page(st, prm, pfn, z, order, False)
                return
            migratetype = MIGRATE_MOVABLE
        free_frozen_page_commit(st, prm, cpu, z, pfn, order, migratetype)
        return
    st.vm_events[VM_PGFREE] += 1 << order
    free_one_page(st, prm, pfn, z, order, False)


@njit
def prep_new_page(st, pfn, order, kind, handle):
    """prep_new_page(): the chunk is handed out (model: record what it holds)."""
    n = 1 << order
    lru = PG_lru if (kind == KIND_ANON or kind == KIND_FILE) else 0
    st.pg_flags[pfn] = PG_head | lru | (kind << PG_KIND_SHIFT)
    st.pg_order[pfn] = order
    st.pg_handle[pfn] = handle
    for i in range(1, n):
        st.pg_flags[pfn + i] = PG_tail | lru | (kind << PG_KIND_SHIFT)
        st.pg_order[pfn + i] = -1
        st.pg_handle[pfn + i] = handle
    st.zone_stat[page_zonenum(st, pfn), NR_ZONE_ALLOCATED] += n


# ---------------------------------------------------------------------------
# Watermarks
# ---------------------------------------------------------------------------

@njit(inline='always')
def __zone_watermark_unusable_free(st, z, order, alloc_flags):
    """__zone_watermark_unusable_free()."""
    unusable_free = (1 << order) - 1
    if (alloc_flags & ALLOC_RESERVES) == 0:
        unusable_free += st.zone_stat[z, NR_FREE_HIGHATOMIC]
    if (alloc_flags & ALLOC_CMA) == 0:
        unusable_free += st.zone_stat[z, NR_FREE_CMA_PAGES]
    return unusable_free


@njit
def __zone_watermark_ok(st, z, order, mark, highest_zoneidx, alloc_flags, free_pages):
    """__zone_watermark_ok(): order-0 free count above the mark, and for
    order > 0 at least one chunk big enough on a usable list (migratetype of
    the request and ALLOC_NOFRAGMENT are not considered here)."""
    min_ = mark
    free_pages -= __zone_watermark_unusable_free(st, z, order, alloc_flags)
    if alloc_flags & ALLOC_RESERVES:
        # __GFP_HIGH allows access to 50% of the min reserve as well as OOM.
        if alloc_flags & ALLOC_MIN_RESERVE:
            min_ -= min_ // 2
            # Non-blocking allocations (GFP_ATOMIC) can access more reserves.
            if alloc_flags & ALLOC_NON_BLOCK:
                min_ -= min_ // 4
        if alloc_flags & ALLOC_OOM:
            min_ -= min_ // 2
    if free_pages <= min_ + st.lowmem_reserve[z, highest_zoneidx]:
        return False
    if order == 0:
        return True
    for o in range(order, NR_PAGE_ORDERS):
        if st.nr_free[z, o] == 0:
            continue
        for mt in range(MIGRATE_PCPTYPES):
            if not free_area_empty(st, z, o, mt):
                return True
        if (alloc_flags & ALLOC_CMA) and not free_area_empty(st, z, o, MIGRATE_CMA):
            return True
        if (alloc_flags & (ALLOC_HIGHATOMIC | ALLOC_OOM)) and \
                not free_area_empty(st, z, o, MIGRATE_HIGHATOMIC):
            return True
    return False


@njit
def zone_watermark_ok(st, z, order, mark, highest_zoneidx, alloc_flags):
    """zone_watermark_ok(): against NR_FREE_PAGES."""
    return __zone_watermark_ok(st, z, order, mark, highest_zoneidx, alloc_flags,
                               st.zone_stat[z, NR_FREE_PAGES])


@njit(fastpath=True)
def zone_watermark_fast(st, z, order, mark, highest_zoneidx, alloc_flags):
    """zone_watermark_fast(): order-0 shortcut, then the full check, then the
    un-boosted min watermark for __GFP_HIGH order-0 requests."""
    free_pages = st.zone_stat[z, NR_FREE_PAGES]
    if order == 0:
        usable_free = free_pages
        reserved = __zone_watermark_unusable_free(st, z, 0, alloc_flags)
        usable_free -= min(usable_free, reserved)
        if usable_free > mark + st.lowmem_reserve[z, highest_zoneidx]:
            return True
    if __zone_watermark_ok(st, z, order, mark, highest_zoneidx, alloc_flags, free_pages):
        return True
    if order == 0 and (alloc_flags & ALLOC_MIN_RESERVE) and st.watermark_boost[z] \
            and (alloc_flags & ALLOC_WMARK_MASK) == WMARK_MIN:
        mark = st.watermark[z, WMARK_MIN]
        return __zone_watermark_ok(st, z, order, mark, highest_zoneidx, alloc_flags, free_pages)
    return False


# ---------------------------------------------------------------------------
# Highatomic reserve
# ---------------------------------------------------------------------------

@njit
def reserve_highatomic_pageblock(st, prm, pfn, order, z):
    """reserve_highatomic_pageblock(): keep the block of a successful high-order
    atomic allocation for future ones (up to ~1% of the zone)."""
    managed = st.zone_managed[z]
    if managed // 100 < prm.pageblock_nr_pages:
        return
    pb = prm.pageblock_nr_pages
    max_managed = ((managed // 100) + pb - 1) // pb * pb
    if st.zone_stat[z, NR_RESERVED_HIGHATOMIC] >= max_managed:
        return
    mt = get_pageblock_migratetype(st, prm, pfn)
    # Only reserve normal pageblocks (i.e., they can merge with others).
    if not migratetype_is_mergeable(mt):
        return
    if order < prm.pageblock_order:
        if move_freepages_block(st, prm, z, pfn, mt, MIGRATE_HIGHATOMIC) == -1:
            return
        st.zone_stat[z, NR_RESERVED_HIGHATOMIC] += pb
    else:
        change_pageblock_range(st, prm, pfn, order, MIGRATE_HIGHATOMIC)
        st.zone_stat[z, NR_RESERVED_HIGHATOMIC] += 1 << order
    st.diag[DIAG_HIGHATOMIC_RESERVED] += 1


@njit
def unreserve_highatomic_pageblock(st, prm, migratetype, highest_zoneidx, force):
    """unreserve_highatomic_pageblock(): give a HIGHATOMIC block to ``migratetype``.

    Called by the slowpath when reclaim fails; returns True if a block moved.
    """
    for z in range(highest_zoneidx, -1, -1):
        if st.zone_managed[z] == 0:
            continue
        # Preserve at least one pageblock unless memory pressure is really high.
        if not force and st.zone_stat[z, NR_RESERVED_HIGHATOMIC] <= prm.pageblock_nr_pages:
            continue
        for order in range(NR_PAGE_ORDERS):
            pfn = get_page_from_free_area(st, z, order, MIGRATE_HIGHATOMIC)
            if pfn < 0:
                continue
            size = max(prm.pageblock_nr_pages, 1 << order)
            size = min(size, st.zone_stat[z, NR_RESERVED_HIGHATOMIC])
            st.zone_stat[z, NR_RESERVED_HIGHATOMIC] -= size
            if order < prm.pageblock_order:
                ret = move_freepages_block(st, prm, z, pfn, MIGRATE_HIGHATOMIC, migratetype)
            else:
                move_to_free_list(st, prm, pfn, z, order, MIGRATE_HIGHATOMIC, migratetype)
                change_pageblock_range(st, prm, pfn, order, migratetype)
                ret = 1
            if ret > 0:
                st.diag[DIAG_HIGHATOMIC_UNRESERVED] += 1
                return True
    return False


# ---------------------------------------------------------------------------
# The allocator entry points
# ---------------------------------------------------------------------------

@njit(inline='always')
def gfp_migratetype(gfp_mask):
    """gfp_migratetype(): __GFP_MOVABLE -> MOVABLE, __GFP_RECLAIMABLE -> RECLAIMABLE."""
    return (gfp_mask & (__GFP_MOVABLE | __GFP_RECLAIMABLE)) >> 3


@njit(inline='always')
def gfp_zone(gfp_mask):
    """gfp_zone() for the model's DMA32 + Normal node (GFP_DMA maps to DMA32)."""
    if gfp_mask & (__GFP_DMA | __GFP_DMA32):
        return ZONE_DMA32
    return ZONE_NORMAL


@njit
def first_zone(st, highest_zoneidx):
    """The preferred zone: the highest populated zone <= highest_zoneidx, or -1."""
    for z in range(highest_zoneidx, -1, -1):
        if st.zone_managed[z] > 0:
            return z
    return -1


@njit
def alloc_flags_nofragment(st, prm, preferred_z, gfp_mask):
    """alloc_flags_nofragment(): ALLOC_KSWAPD, plus ALLOC_NOFRAGMENT always in
    defrag_mode, otherwise when the preferred zone is Normal (single node)."""
    alloc_flags = gfp_mask & __GFP_KSWAPD_RECLAIM   # == ALLOC_KSWAPD
    if prm.defrag_mode:
        return alloc_flags | ALLOC_NOFRAGMENT
    if preferred_z != ZONE_NORMAL:
        return alloc_flags
    # Single node: "If ZONE_DMA32 exists, assume it is the one after
    # ZONE_NORMAL and the memory is below 4G"; the multi-node unpopulated-DMA32
    # exception cannot apply.
    return alloc_flags | ALLOC_NOFRAGMENT


@njit(inline='always')
def gfp_to_alloc_flags_cma(gfp_mask, alloc_flags):
    """gfp_to_alloc_flags_cma()."""
    if gfp_migratetype(gfp_mask) == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    return alloc_flags


@njit
def get_page_from_freelist(st, prm, rec, cpu, gfp_mask, order, alloc_flags, migratetype,
                           highest_zoneidx):
    """get_page_from_freelist(): walk the zonelist (Normal, then DMA32) and
    take the first zone that passes its watermark and has a page.

    Without defrag_mode a failed pass with ALLOC_NOFRAGMENT is repeated
    without it ("on a UMA machine ... reset and try again"), so other zones
    are tried before fragmenting.  With defrag_mode the flag is never dropped
    here.

    MODEL: the ZONE_BELOW_HIGH pre-check only tunes pcp->high in the kernel;
    with a fixed pcp->high it is omitted (it never changes the outcome).
    """
    preferred_z = first_zone(st, highest_zoneidx)
    # MODEL: no ZONE_BELOW_HIGH pre-check (it only tunes pcp->high)
    while True:
        no_fallback = alloc_flags & ALLOC_NOFRAGMENT
        for z in range(highest_zoneidx, -1, -1):
            if st.zone_managed[z] == 0:
                continue
            mark = wmark_pages(st, z, alloc_flags & ALLOC_WMARK_MASK)
            if not zone_watermark_fast(st, z, order, mark, highest_zoneidx, alloc_flags):
                if (alloc_flags & ALLOC_NO_WATERMARKS) == 0:
                    continue   # node_reclaim is disabled
            pfn = rmqueue(st, prm, rec, cpu, preferred_z, z, order, gfp_mask, alloc_flags,
                          migratetype)
            if pfn >= 0:
                # If this is a high-order atomic allocation then check if the
                # pageblock should be reserved for the future.
                if alloc_flags & ALLOC_HIGHATOMIC:
                    reserve_highatomic_pageblock(st, prm, pfn, order, z)
                return pfn
        # It's possible on a UMA machine to get through all zones that are
        # fragmented.  If avoiding fragmentation, reset and try again.
        if no_fallback and not prm.defrag_mode:
            alloc_flags &= ~ALLOC_NOFRAGMENT
            st.diag[DIAG_NOFRAGMENT_SECOND_PASS] += 1
            continue
        return -1


#: The same function, inlined at the fast path's call in __alloc_pages (the
#: slowpath's calls stay calls; see defragsim._jit on what a call costs).
get_page_from_freelist_fast = njit(get_page_from_freelist.__wrapped__, fastpath=True)


@njit
def gfp_to_alloc_flags(prm, gfp_mask, order):
    """gfp_to_alloc_flags(): the slowpath's flags (MIN watermark, reserves,
    ALLOC_NOFRAGMENT under defrag_mode)."""
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    # __GFP_HIGH == ALLOC_MIN_RESERVE, __GFP_KSWAPD_RECLAIM == ALLOC_KSWAPD
    alloc_flags |= gfp_mask & (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
    if (gfp_mask & __GFP_DIRECT_RECLAIM) == 0:
        if (gfp_mask & __GFP_NOMEMALLOC) == 0:
            alloc_flags |= ALLOC_NON_BLOCK
            if order > 0 and (alloc_flags & ALLOC_MIN_RESERVE):
                alloc_flags |= ALLOC_HIGHATOMIC
        if alloc_flags & ALLOC_MIN_RESERVE:
            alloc_flags &= ~ALLOC_CPUSET
    alloc_flags = gfp_to_alloc_flags_cma(gfp_mask, alloc_flags)
    if prm.defrag_mode:
        alloc_flags |= ALLOC_NOFRAGMENT
    return alloc_flags


@njit
def wake_all_kswapds(st, prm, order, gfp_mask, highest_zoneidx):
    """wake_all_kswapds(): defrag_mode asks kswapd for a whole pageblock
    (101f9d666e4d; kernel switch ``kswapd_wake_order``)."""
    reclaim_order = order
    if prm.defrag_mode and prm.k_kswapd_wake_order == KSWAPD_WAKE_PAGEBLOCK_ORDER:
        reclaim_order = max(order, prm.pageblock_order)
    z = first_zone(st, highest_zoneidx)
    if z >= 0:
        vmscan.wakeup_kswapd(st, prm, z, gfp_mask, reclaim_order, highest_zoneidx)


@njit
def charge_request(st, ns):
    """Model: the current request spends ``ns`` of simulated time stalled."""
    st.node[NODE_REQ_STALL_NS] += ns
    st.node[NODE_REQ_TIME] += ns


@njit
def nofragment_promoted(prm, alloc_flags, migratetype):
    """[PATCH 4/4] the condition under which a request is promoted to
    pageblock-order reclaim and compaction."""
    return prm.patch4 != 0 and (alloc_flags & ALLOC_NOFRAGMENT) != 0 and \
        migratetype != MIGRATE_MOVABLE


@njit(inline='always')
def lockdep_gfp_context(st, gfp_mask):
    """Model: the LD_CTX_* column of an fs_reclaim entry (gfp and held locks)."""
    locked = st.node[NODE_FS_LOCKED] != 0
    if gfp_mask & __GFP_FS:
        return LD_CTX_FS_LOCKED if locked else LD_CTX_FS
    return LD_CTX_NOFS_LOCKED if locked else LD_CTX_NOFS


@njit
def fs_reclaim_acquire(st, row, gfp_mask):
    """fs_reclaim_acquire(): lockdep's fs_reclaim map, taken for __GFP_FS
    requests that may reclaim (``__need_reclaim()``).

    MODEL: lockdep is not run.  The model counts the annotated entries by gfp
    context in ``st.lockdep[row]``.  An entry with __GFP_FS while ``current``
    holds a filesystem lock (the workload marks such requests ``fs_locked``)
    is what lockdep reports as a circular dependency (fs lock -> fs_reclaim
    -> fs lock); NOFS/NOIO entries do not take the map.
    """
    # MODEL: current_gfp_context() is the identity (no memalloc_nofs_save()
    # scopes: a workload states NOFS in the gfp mask), and PF_MEMALLOC /
    # __GFP_NOLOCKDEP do not occur; every caller has __GFP_DIRECT_RECLAIM.
    st.lockdep[row, lockdep_gfp_context(st, gfp_mask)] += 1


@njit
def __alloc_pages_direct_compact(st, prm, rec, own, cpu, gfp_mask, order, alloc_flags,
                                 migratetype, highest_zoneidx, prio):
    """__alloc_pages_direct_compact(): compact, then take the captured page or
    retry the freelists.  Returns (pfn, compact_result).

    [PATCH 1/4] wraps the compaction in fs_reclaim_acquire/release (lockdep
    only: counted in ``st.lockdep``, no behaviour change).  [PATCH 3/4] arms
    the capture_control here instead of in compact_zone_order() (no behaviour
    change: capture is possible only while capc->cc is set).  [PATCH 4/4]
    compacts non-movable ALLOC_NOFRAGMENT requests at
    ``max(order, pageblock_order)`` while capture stays at the request order
    (``capc.order``), and resets deferral at the compaction order.
    """
    compact_order = order
    if nofragment_promoted(prm, alloc_flags, migratetype):
        compact_order = max(order, prm.pageblock_order)
    if compact_order == 0:
        return -1, COMPACT_SKIPPED
    mt = min(migratetype, MIGRATE_PCPTYPES - 1)
    # MODEL: entry accounting for the lockdep report (not a kernel counter)
    ctx = lockdep_gfp_context(st, gfp_mask)
    st.lockdep[LOCKDEP_COMPACT_ENTRIES, ctx] += 1
    if order == 0:
        st.lockdep[LOCKDEP_COMPACT_OPENED, ctx] += 1
    if compact_order != order:
        st.req_stats[mt, REQ_COMPACT_PROMOTED] += 1
    if prm.patch3:
        # struct capture_control capc = { .order = order, .page = NULL };
        # WRITE_ONCE(current->capture_control, &capc);
        st.capc[CAPC_PAGE] = -1
        st.capc[CAPC_EXT_MT] = -1
        st.capc[CAPC_CC] = 0
        st.capc[CAPC_ORDER] = order
        st.capc[CAPC_ACTIVE] = 1
    if prm.patch1:
        fs_reclaim_acquire(st, LOCKDEP_COMPACT_ANNOTATED, gfp_mask)
    scanned0 = st.vm_events[VM_COMPACT_MIGRATE_SCANNED]
    migrated0 = st.vm_events[VM_PGMIGRATE_SUCCESS]
    result, captured, cost = compaction.try_to_compact_pages(
        st, prm, own, gfp_mask, compact_order, alloc_flags, highest_zoneidx, prio, cpu)
    st.req_stats[mt, REQ_COMPACT_MIGRATE_SCANNED] += st.vm_events[VM_COMPACT_MIGRATE_SCANNED] - \
        scanned0
    st.req_stats[mt, REQ_COMPACT_MIGRATED] += st.vm_events[VM_PGMIGRATE_SUCCESS] - migrated0
    # (fs_reclaim_release(): nothing to count)
    charge_request(st, cost)
    if prm.patch3:
        # WRITE_ONCE(current->capture_control, NULL); page = READ_ONCE(capc.page);
        st.capc[CAPC_ACTIVE] = 0
        captured = st.capc[CAPC_PAGE]
    if result == COMPACT_SKIPPED:
        return -1, result
    if result == COMPACT_DEFERRED:
        st.diag[DIAG_COMPACT_DEFERRED_TRIES] += 1
    # the 2026 mm tree returns on a fully deferred try too; 6.18 counts it as a
    # stall (kernel switch direct_compact_deferred)
    if result == COMPACT_DEFERRED and prm.k_direct_compact_deferred == DIRECT_COMPACT_DEFERRED_RETURN:
        return -1, result
    st.vm_events[VM_COMPACT_STALL] += 1
    st.req_stats[mt, REQ_COMPACT_STALL] += 1
    pfn = captured
    if pfn >= 0:
        st.diag[DIAG_COMPACT_CAPTURED] += 1
        # the captured page is prepped by the caller; emit its extfrag event
        # if it came from a block of another type (f46012c0ec9f, v6.15)
        if st.capc[CAPC_EXT_MT] >= 0:
            trace_mm_page_alloc_extfrag(st, prm, rec, pfn, st.capc[CAPC_EXT_ORDER],
                                        st.capc[CAPC_EXT_ORDER], migratetype,
                                        st.capc[CAPC_EXT_MT])
    if pfn < 0:
        pfn = get_page_from_freelist(st, prm, rec, cpu, gfp_mask, order, alloc_flags,
                                     migratetype, highest_zoneidx)
    if pfn >= 0:
        z = page_zonenum(st, pfn)
        st.zone_compact[z, compaction.ZC_BLOCKSKIP_FLUSH] = 0
        compaction.compaction_defer_reset(st, z, compact_order, True)
        st.vm_events[VM_COMPACT_SUCCESS] += 1
        st.req_stats[mt, REQ_COMPACT_SUCCESS] += 1
        return pfn, result
    st.vm_events[VM_COMPACT_FAIL] += 1
    st.req_stats[mt, REQ_COMPACT_FAIL] += 1
    return -1, result


@njit
def __alloc_pages_direct_reclaim(st, prm, rec, own, cpu, gfp_mask, order, alloc_flags,
                                 migratetype, highest_zoneidx):
    """__alloc_pages_direct_reclaim(): reclaim, then retry the freelists once,
    and once more after unreserving highatomic blocks and draining the pcp
    lists.  Returns (pfn, did_some_progress).

    With [PATCH 4/4], non-movable ALLOC_NOFRAGMENT requests reclaim at
    ``max(order, pageblock_order)``.
    """
    reclaim_order = order
    if nofragment_promoted(prm, alloc_flags, migratetype):
        reclaim_order = max(order, prm.pageblock_order)
    mt = min(migratetype, MIGRATE_PCPTYPES - 1)
    st.req_stats[mt, REQ_DIRECT_RECLAIM] += 1
    fs_reclaim_acquire(st, LOCKDEP_DIRECT_RECLAIM, gfp_mask)     # __perform_reclaim()
    progress, cost = vmscan.try_to_free_pages(st, prm, own, gfp_mask, reclaim_order,
                                              highest_zoneidx, cpu)
    charge_request(st, cost)
    if progress == 0:
        return -1, 0
    st.req_stats[mt, REQ_RECLAIMED] += progress
    drained = False
    while True:
        pfn = get_page_from_freelist(st, prm, rec, cpu, gfp_mask, order, alloc_flags,
                                     migratetype, highest_zoneidx)
        if pfn >= 0 or drained:
            break
        # Pages may be pinned on the per-cpu lists or in highatomic reserves.
        unreserve_highatomic_pageblock(st, prm, migratetype, highest_zoneidx, False)
        drain_all_pages(st, prm, -1)
        drained = True
    if pfn < 0:
        st.req_stats[mt, REQ_FUTILE_RECLAIM] += 1
    return pfn, progress


@njit
def should_reclaim_retry(st, prm, gfp_mask, order, alloc_flags, did_some_progress,
                         no_progress_loops, highest_zoneidx, migratetype):
    """should_reclaim_retry(): retry while some zone could meet its min
    watermark with all reclaimable pages freed.  Progress resets the loop
    counter for orders up to PAGE_ALLOC_COSTLY_ORDER.

    Returns (retry, no_progress_loops).
    """
    if did_some_progress and order <= PAGE_ALLOC_COSTLY_ORDER:
        no_progress_loops = 0
    else:
        no_progress_loops += 1
    ret = False
    if no_progress_loops <= MAX_RECLAIM_RETRIES:
        for z in range(highest_zoneidx, -1, -1):
            if st.zone_managed[z] == 0:
                continue
            available = vmscan.zone_reclaimable_pages(st, z)
            available += st.zone_stat[z, NR_FREE_PAGES]
            if __zone_watermark_ok(st, z, order, wmark_pages(st, z, WMARK_MIN), highest_zoneidx,
                                   alloc_flags, available):
                ret = True
                break
    if not ret:
        return unreserve_highatomic_pageblock(st, prm, migratetype, highest_zoneidx, True), \
            no_progress_loops
    return ret, no_progress_loops


@njit
def should_compact_retry(st, prm, order, alloc_flags, compact_result, compact_priority,
                         compaction_retries, highest_zoneidx):
    """should_compact_retry(): returns (retry, compact_priority, compaction_retries)."""
    if order == 0:
        return False, compact_priority, compaction_retries
    if compact_result == COMPACT_SKIPPED:
        return compaction.compaction_zonelist_suitable(st, prm, order, alloc_flags,
                                                       highest_zoneidx), \
            compact_priority, compaction_retries
    if compact_result == COMPACT_SUCCESS:
        max_retries = MAX_COMPACT_RETRIES
        if order > PAGE_ALLOC_COSTLY_ORDER:
            max_retries //= 4
        compaction_retries += 1
        if compaction_retries <= max_retries:
            return True, compact_priority, compaction_retries
    if order > PAGE_ALLOC_COSTLY_ORDER:
        min_priority = MIN_COMPACT_COSTLY_PRIORITY
    else:
        min_priority = MIN_COMPACT_PRIORITY
    if compact_priority > min_priority:
        return True, compact_priority - 1, 0
    return False, compact_priority, compaction_retries


@njit
def __alloc_pages_may_oom(st, prm, rec, own, cpu, gfp_mask, order, migratetype,
                          highest_zoneidx):
    """__alloc_pages_may_oom(): a last freelist attempt at the high watermark
    (no ALLOC_NOFRAGMENT), then the OOM killer unless the request may not use
    it.  Returns (pfn, did_some_progress)."""
    pfn = get_page_from_freelist(st, prm, rec, cpu, gfp_mask, order,
                                 ALLOC_WMARK_HIGH | ALLOC_CPUSET, migratetype, highest_zoneidx)
    if pfn >= 0:
        return pfn, 1
    # The OOM killer will not help higher order allocs
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return -1, 0
    # The OOM killer does not needlessly kill tasks for lowmem
    if highest_zoneidx < ZONE_NORMAL:
        return -1, 0
    if gfp_mask & (__GFP_RETRY_MAYFAIL | __GFP_THISNODE):
        return -1, 0
    # MODEL: a __GFP_NOFAIL request gets no progress and no ALLOC_NO_WATERMARKS
    # attempt when out_of_memory() kills nothing (the kernel: "if
    # (out_of_memory(&oc) || WARN_ON_ONCE_GFP(gfp_mask & __GFP_NOFAIL, ...))
    # { *did_some_progress = 1; ... ALLOC_NO_WATERMARKS }"); with nopage's
    # single attempt below it fails where the kernel loops.  About 0.15% of
    # the traced allocations are NOFAIL; they differ only at OOM.
    if oom_kill.out_of_memory(st, prm, own, gfp_mask, order, cpu):
        st.req_stats[min(migratetype, MIGRATE_PCPTYPES - 1), REQ_OOM] += 1
        return -1, 1
    return -1, 0


#: MODEL: a request that loops in the slowpath longer than this is failed (the
#: kernel would loop; the model must terminate).  Counted in diagnostics.
MAX_SLOWPATH_LOOPS = 100_000


@njit
def __alloc_pages_slowpath(st, prm, rec, own, cpu, gfp_mask, order, migratetype,
                           highest_zoneidx):
    """__alloc_pages_slowpath(), in the kernel's order (v6.18 with the seed
    base's COMPACT_DEFERRED early return).

    Background daemons (kswapd, kcompactd) run concurrently: before each
    retry they are advanced to the request's own clock, which moves forward
    by the cost of the work the request does.
    """
    mt = min(migratetype, MIGRATE_PCPTYPES - 1)
    st.diag[DIAG_SLOWPATH_ENTRIES] += 1
    st.req_stats[mt, REQ_SLOWPATH] += 1
    can_direct_reclaim = (gfp_mask & __GFP_DIRECT_RECLAIM) != 0
    can_compact = (gfp_mask & __GFP_IO) != 0          # gfp_compaction_allowed()
    nofail = (gfp_mask & __GFP_NOFAIL) != 0
    costly_order = order > PAGE_ALLOC_COSTLY_ORDER
    compaction_retries = 0
    no_progress_loops = 0
    compact_result = COMPACT_SKIPPED
    compact_priority = DEF_COMPACT_PRIORITY
    alloc_flags = gfp_to_alloc_flags(prm, gfp_mask, order)
    if alloc_flags & ALLOC_KSWAPD:
        wake_all_kswapds(st, prm, order, gfp_mask, highest_zoneidx)
    charge_request(st, costs.cpu_ns(prm, costs.SLOWPATH_ITER_NS))
    pfn = get_page_from_freelist(st, prm, rec, cpu, gfp_mask, order, alloc_flags, migratetype,
                                 highest_zoneidx)
    if pfn >= 0:
        return pfn
    # For costly allocations, and non-movable high-order ones, try direct
    # compaction before reclaim: the pages may be there, just fragmented.
    if can_direct_reclaim and can_compact and \
            (costly_order or (order > 0 and migratetype != MIGRATE_MOVABLE)):
        pfn, compact_result = __alloc_pages_direct_compact(
            st, prm, rec, own, cpu, gfp_mask, order, alloc_flags, migratetype, highest_zoneidx,
            INIT_COMPACT_PRIORITY)
        if pfn >= 0:
            return pfn
        if costly_order and (gfp_mask & __GFP_NORETRY):
            if compact_result == COMPACT_SKIPPED or \
                    compact_result == COMPACT_DEFERRED:
                return -1
            # THP faults try the local node first, compaction only
            # (alloc_pages_mpol()); before the fix they went on to reclaim
            if gfp_mask & __GFP_THISNODE and \
                    prm.k_thisnode_thp_after_compaction == THISNODE_THP_NOPAGE:
                return -1
            compact_priority = INIT_COMPACT_PRIORITY
    loops = 0
    while True:                                   # retry:
        loops += 1
        if loops > MAX_SLOWPATH_LOOPS:
            st.diag[DIAG_SLOWPATH_LOOP_CAP] += 1
            return -1
        vmscan.run_daemons(st, prm, own, st.node[NODE_REQ_TIME])
        if alloc_flags & ALLOC_KSWAPD:
            wake_all_kswapds(st, prm, order, gfp_mask, highest_zoneidx)
        charge_request(st, costs.cpu_ns(prm, costs.SLOWPATH_ITER_NS))
        pfn = get_page_from_freelist(st, prm, rec, cpu, gfp_mask, order, alloc_flags,
                                     migratetype, highest_zoneidx)
        if pfn >= 0:
            return pfn
        if not can_direct_reclaim:
            break                                 # goto nopage
        pfn, did_some_progress = __alloc_pages_direct_reclaim(
            st, prm, rec, own, cpu, gfp_mask, order, alloc_flags, migratetype, highest_zoneidx)
        if pfn >= 0:
            return pfn
        pfn, compact_result = __alloc_pages_direct_compact(
            st, prm, rec, own, cpu, gfp_mask, order, alloc_flags, migratetype, highest_zoneidx,
            compact_priority)
        if pfn >= 0:
            return pfn
        if gfp_mask & __GFP_NORETRY:
            break
        if costly_order and (not can_compact or (gfp_mask & __GFP_RETRY_MAYFAIL) == 0):
            break
        retry, no_progress_loops = should_reclaim_retry(
            st, prm, gfp_mask, order, alloc_flags, did_some_progress > 0, no_progress_loops,
            highest_zoneidx, migratetype)
        if retry:
            st.req_stats[mt, REQ_RECLAIM_RETRIES] += 1
            continue
        if did_some_progress > 0 and can_compact:
            retry, compact_priority, compaction_retries = should_compact_retry(
                st, prm, order, alloc_flags, compact_result, compact_priority,
                compaction_retries, highest_zoneidx)
            if retry:
                st.req_stats[mt, REQ_COMPACT_RETRIES] += 1
                continue
        # defrag_mode: the retry loops gave up; allow fragmenting fallbacks.
        if prm.defrag_mode and prm.k_nofragment_last_resort == NOFRAGMENT_LAST_RESORT_LOOPING:
            # e3aa7df331bc..a211c6550efc: "alloc_flags &= ALLOC_NOFRAGMENT; goto retry;"
            # keeps only the flag and retries until MAX_SLOWPATH_LOOPS (7a95a05f15d5)
            alloc_flags &= ALLOC_NOFRAGMENT
            continue
        if prm.defrag_mode and (alloc_flags & ALLOC_NOFRAGMENT):
            alloc_flags &= ~ALLOC_NOFRAGMENT
            st.diag[DIAG_NOFRAGMENT_DROPPED] += 1
            st.req_stats[mt, REQ_NOFRAGMENT_DROPS] += 1
            continue
        pfn, did_some_progress = __alloc_pages_may_oom(
            st, prm, rec, own, cpu, gfp_mask, order, migratetype, highest_zoneidx)
        if pfn >= 0:
            return pfn
        if did_some_progress:
            no_progress_loops = 0
            continue
        break
    # nopage:
    if nofail and can_direct_reclaim:
        # __alloc_pages_cpuset_fallback() with ALLOC_MIN_RESERVE.  MODEL: once;
        # the kernel then does cond_resched() and "goto retry" until memory
        # comes back from other tasks' frees, which the model applies only
        # between requests
        pfn = get_page_from_freelist(st, prm, rec, cpu, gfp_mask, order,
                                     ALLOC_WMARK_MIN | ALLOC_MIN_RESERVE | ALLOC_CPUSET,
                                     migratetype, highest_zoneidx)
        if pfn >= 0:
            return pfn
        st.diag[DIAG_NOFAIL_FAILED] += 1
    return -1


@njit(fastpath=True)
def __alloc_pages(st, prm, rec, own, cpu, gfp_mask, order):
    """__alloc_frozen_pages_noprof(): the fast path, then the slowpath.

    Returns the head pfn of the chunk or -1 (counted in ``alloc_failed``).
    The request's stall time is left in ``node[NODE_REQ_STALL_NS]``.
    """
    migratetype = gfp_migratetype(gfp_mask)
    highest_zoneidx = gfp_zone(gfp_mask)
    st.node[NODE_REQ_STALL_NS] = 0
    st.node[NODE_REQ_TIME] = st.clock[0]
    preferred_z = first_zone(st, highest_zoneidx)
    if preferred_z < 0:
        st.alloc_failed[order, migratetype] += 1
        st.diag[DIAG_ALLOC_FAILED_TOTAL] += 1
        return -1
    alloc_flags = ALLOC_WMARK_LOW
    alloc_flags = gfp_to_alloc_flags_cma(gfp_mask, alloc_flags)
    alloc_flags |= alloc_flags_nofragment(st, prm, preferred_z, gfp_mask)
    pfn = get_page_from_freelist_fast(st, prm, rec, cpu, gfp_mask, order, alloc_flags,
                                      migratetype, highest_zoneidx)
    if pfn < 0:
        pfn = __alloc_pages_slowpath(st, prm, rec, own, cpu, gfp_mask, order, migratetype,
                                     highest_zoneidx)
    mt = min(migratetype, MIGRATE_PCPTYPES - 1)
    stall = st.node[NODE_REQ_STALL_NS]
    if stall:
        st.req_stats[mt, REQ_STALL_NS] += stall
        st.node[NODE_PSI_SOME_NS] += stall
        st.node[NODE_PSI_TASK_NS] += stall
    b = 0
    x = stall
    while x > 0 and b < st.lat_hist.shape[1] - 1:
        x >>= 1
        b += 1
    st.lat_hist[mt, b] += 1
    if pfn < 0:
        st.alloc_failed[order, migratetype] += 1
        st.diag[DIAG_ALLOC_FAILED_TOTAL] += 1
        st.req_stats[mt, REQ_FAILED] += 1
    return pfn


@njit
def alloc_pages_prefill(st, prm, rec, cpu, gfp_mask, order):
    """A replay's prefill (model-only name): the machine's memory at the start
    of a trace is placed where the zonelist would put it, without watermarks
    (ALLOC_NO_WATERMARKS), without waking kswapd or entering the slowpath:
    the machine filled its zones over hours, down to the free memory its
    snapshot shows, not down to a watermark.  Nor does it claim a pageblock
    for its type (ALLOC_PREFILL_KEEP_TYPES, model-only: __rmqueue() steals
    the page instead), so the pageblock types stay those the replay set from
    the snapshot's pagetypeinfo.  Returns the pfn or -1."""
    # MODEL: a model-only entry; the kernel never allocates without its slowpath
    alloc_flags = gfp_to_alloc_flags_cma(gfp_mask, ALLOC_NO_WATERMARKS | ALLOC_PREFILL_KEEP_TYPES)
    return get_page_from_freelist(st, prm, rec, cpu, gfp_mask, order, alloc_flags,
                                  gfp_migratetype(gfp_mask), gfp_zone(gfp_mask))


@njit
def break_down_buddy_pages(st, prm, z, pfn, target, low, high, mt):
    """break_down_buddy_pages(): split the free chunk of order ``high`` at
    ``pfn`` (already off its list) down to the order-``low`` piece holding
    ``target``; every other piece goes back on ``mt``'s lists.  Returns the
    pages put back."""
    size = 1 << high
    added = 0
    while high > low:
        high -= 1
        size >>= 1
        if target >= pfn + size:
            next_pfn = pfn + size
            buddy = pfn
        else:
            next_pfn = pfn
            buddy = pfn + size
        __add_to_free_list(st, prm, buddy, z, high, mt, False)
        set_buddy_order(st, buddy, high)
        added += size
        pfn = next_pfn
    return added


@njit
def take_page_off_buddy(st, prm, pfn, order):
    """take_page_off_buddy(), for a chunk of ``order`` at ``pfn``: find the
    free buddy chunk holding it, take that off its free list and give the
    rest back (break_down_buddy_pages()).  The kernel takes one page (a
    poisoned one); a replay's prefill takes each folio the trace frees
    before allocating it (CONTENT_PLACED) where the machine had it.
    Returns ``pfn``, or -1 when the range is not free."""
    # MODEL: generalized from one page to a folio of ``order``
    z = page_zonenum(st, pfn)
    for o in range(order, MAX_PAGE_ORDER + 1):
        head = pfn & ~((1 << o) - 1)
        if head < st.zone_start[z]:
            break
        f = st.pg_flags[head]
        if (f & PG_buddy) != 0 and st.pg_order[head] >= o:
            high = st.pg_order[head]
            mt = st.block_mt[head >> prm.pageblock_order]
            del_page_from_free_list(st, prm, head, z, high, mt)
            added = break_down_buddy_pages(st, prm, z, head, pfn, order, high, mt)
            account_freepages(st, z, added, mt)
            st.vm_events[VM_PGALLOC_DMA32 + z] += 1 << order
            return pfn
        if (f & PG_buddy) == 0 and f != 0:
            break                        # allocated (or on a per-cpu list)
    return -1


# ---------------------------------------------------------------------------
# Boot (model-only name)
# ---------------------------------------------------------------------------

@njit(entry=True)
def init_free_memory(st, prm, reserved):
    """Boot: hand every zone's pages to the buddy allocator in MAX_PAGE_ORDER
    chunks queued at the tail (memblock_free_all -> free_low_memory_core_early
    -> __free_pages_memory over each free memblock range), except the pages
    memblock reserved (``reserved[pfn]`` nonzero; an empty array: none).

    Reserved pages (reserve_bootmem_region(): PageReserved, the memmap, the
    kernel image, firmware tables) never reach the buddy allocator and are
    not among the zone's managed pages.

    MODEL: a reserved page is an allocated chunk of kernel memory that no
    handle owns and nothing frees (KIND_KERNEL, buddy-aligned chunks of each
    reserved run), so it counts in NR_ZONE_ALLOCATED; the kernel has no
    PageReserved counter."""
    has_reserved = reserved.shape[0] > 0
    for z in range(MAX_NR_ZONES):
        s = st.zone_start[z]
        e = st.zone_end[z]
        p = s
        while p < e:
            res = has_reserved and reserved[p] != 0
            # the longest aligned chunk of pfns all reserved or all free
            o = MAX_PAGE_ORDER
            while o > 0:
                if (p & ((1 << o) - 1)) == 0 and p + (1 << o) <= e:
                    same = True
                    if has_reserved:
                        for q in range(p, p + (1 << o)):
                            if (reserved[q] != 0) != res:
                                same = False
                                break
                    if same:
                        break
                o -= 1
            if res:
                # MODEL: a reserved page is held kernel memory (see the docstring)
                prep_new_page(st, p, o, KIND_KERNEL, -1)
            else:
                __free_one_page(st, prm, p, z, o, get_pageblock_migratetype(st, prm, p), True)
            p += 1 << o


from . import compaction, oom_kill, page_reporting, vmscan  # noqa: E402  (resolved by numba at compile time)
