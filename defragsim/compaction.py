"""Mirror of mm/compaction.c: admission (compaction_suitable and friends),
deferral, and the entry points the allocator and kswapd call.

This model version has the *seams* of compaction: ``try_to_compact_pages``
is called where the kernel calls it and returns ``COMPACT_SKIPPED`` (the
scanners, migration and capture are not modelled yet), and kcompactd records
its wakeups but does no work.  The admission arithmetic that reclaim depends
on (``compact_gap``, ``fragmentation_index``, ``compaction_suitable``,
``compaction_zonelist_suitable``) is complete, because direct reclaim's
``compaction_ready`` / ``should_continue_reclaim`` and the slowpath's
``should_compact_retry`` use it.
"""
from __future__ import annotations

from ._jit import kernel as njit
from .constants import (
    COMPACT_CLUSTER_MAX, COMPACT_MAX_DEFER_SHIFT, MAX_NR_ZONES, NR_FREE_PAGES, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER,
    WMARK_LOW, WMARK_MIN,
)
from .page_alloc import __zone_watermark_ok, wmark_pages
from . import costs
from .constants import (
    FALLBACK_EMPTY, KIND_ANON, KIND_FILE, MAX_PAGE_ORDER, MIGRATE_CMA, MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES, NR_FREE_PAGES_BLOCKS, PG_buddy, PG_head, PG_lru, PG_pcp, PG_tail,
    VM_COMPACT_DAEMON_FREE_SCANNED, VM_COMPACT_DAEMON_MIGRATE_SCANNED, VM_COMPACT_DAEMON_WAKE,
    VM_COMPACT_FREE_SCANNED, VM_COMPACT_ISOLATED, VM_COMPACT_MIGRATE_SCANNED,
    VM_PGMIGRATE_FAIL, VM_PGMIGRATE_SUCCESS, WMARK_HIGH,
)
from .state import (
    CAPC_ACTIVE, CAPC_EXT_MT, CAPC_MIGRATETYPE, CAPC_ORDER, CAPC_PAGE, CAPC_ZONE,
    CC_ALLOC_FLAGS, CC_COST_NS, CC_CPU, CC_DIRECT, CC_DIRECT_IDX, CC_FAST_SEARCH_FAIL,
    CC_FINISH_PAGEBLOCK, CC_FREE_PFN, CC_FREE_SCANNED, CC_GFP, CC_HIGHEST_ZONEIDX,
    CC_IGNORE_BLOCK_SUITABLE, CC_IGNORE_SKIP_HINT, CC_ISOLATED, CC_KCOMPACTD_IDX, CC_MIGRATED,
    CC_MIGRATE_FAILED, CC_MIGRATE_PFN, CC_MIGRATE_SCANNED, CC_MIGRATETYPE, CC_MODE,
    CC_NR_FREE_CHUNKS, CC_NR_FREEPAGES, CC_NR_MIGRATEPAGES, CC_ORDER, CC_WHOLE_ZONE, CC_ZONE,
    NODE_KCOMPACTD_HIGHEST_ZONEIDX, NODE_KCOMPACTD_MAX_ORDER, NODE_KCOMPACTD_STATE,
    NODE_KSWAPD_STATE, NODE_PSI_SOME_NS, NR_CC_FREE, ZC_BLOCKSKIP_FLUSH, ZC_CACHED_FREE,
    ZC_CACHED_MIGRATE_ASYNC, ZC_CACHED_MIGRATE_SYNC, ZC_INIT_FREE, ZC_INIT_MIGRATE,
    NODE_KCOMPACTD_TIME, NODE_KCOMPACTD_BUSY_NS, NODE_LOCKDEP_BASE,
)

# enum migrate_mode
MIGRATE_ASYNC = 0
MIGRATE_SYNC_LIGHT = 1
MIGRATE_SYNC = 2

# enum isolate_migrate_t
ISOLATE_ABORT = 0
ISOLATE_NONE = 1
ISOLATE_SUCCESS = 2

KCOMPACTD_SLEEPING = 0
KCOMPACTD_RUNNING = 1

__GFP_FS = 0x80
__GFP_IO = 0x40
ALLOC_CMA_FLAG = 0x80

# enum compact_result (include/linux/compaction.h), in increasing strength
COMPACT_NOT_SUITABLE_ZONE = 0
COMPACT_SKIPPED = 1
COMPACT_DEFERRED = 2
COMPACT_NO_SUITABLE_PAGE = 3
COMPACT_CONTINUE = 4
COMPACT_COMPLETE = 5
COMPACT_PARTIAL_SKIPPED = 6
COMPACT_CONTENDED = 7
COMPACT_SUCCESS = 8
COMPACT_RESULT_NAMES = ["not_suitable_zone", "skipped", "deferred", "no_suitable_page",
                        "continue", "complete", "partial_skipped", "contended", "success"]

# enum compact_priority
COMPACT_PRIO_SYNC_FULL = 0
MIN_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_FULL
COMPACT_PRIO_SYNC_LIGHT = 1
MIN_COMPACT_COSTLY_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
DEF_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
COMPACT_PRIO_ASYNC = 2
INIT_COMPACT_PRIORITY = COMPACT_PRIO_ASYNC

#: sysctl vm.extfrag_threshold
EXTFRAG_THRESHOLD = 500


@njit(inline='always')
def compact_gap(prm, order):
    """compact_gap(): ``2 << order``, capped at COMPACT_CLUSTER_MAX in the 2026
    mm tree the series is based on (``prm.compact_gap_capped``)."""
    g = 2 << order
    if prm.compact_gap_capped and g > COMPACT_CLUSTER_MAX:
        return COMPACT_CLUSTER_MAX
    return g


@njit
def fragmentation_index(st, z, order):
    """fragmentation_index() / __fragmentation_index() x1000:
    -1000 if a free block of ``order`` exists, ~0 = lack of memory,
    ~1000 = fragmentation."""
    free_pages = 0
    free_blocks_total = 0
    suitable = 0
    for o in range(NR_PAGE_ORDERS):
        n = st.nr_free[z, o]
        free_blocks_total += n
        free_pages += n << o
        if o >= order:
            suitable += n << (o - order)
    if free_blocks_total == 0:
        return 0
    if suitable:
        return -1000
    return 1000 - ((1000 + (free_pages * 1000 // (1 << order))) // free_blocks_total)


@njit
def __compaction_suitable(st, prm, z, order, watermark, highest_zoneidx, free_pages):
    """__compaction_suitable(): enough order-0 free memory to compact into."""
    watermark += compact_gap(prm, order)
    if order > PAGE_ALLOC_COSTLY_ORDER:
        watermark += st.watermark[z, WMARK_LOW] - st.watermark[z, WMARK_MIN]
    return __zone_watermark_ok(st, z, 0, watermark, highest_zoneidx, 0x80, free_pages)  # ALLOC_CMA


@njit
def compaction_suitable(st, prm, z, order, watermark, highest_zoneidx):
    """compaction_suitable(): __compaction_suitable() plus, for costly orders,
    a fragmentation index outside [0, extfrag_threshold]."""
    if not __compaction_suitable(st, prm, z, order, watermark, highest_zoneidx,
                                 st.zone_stat[z, NR_FREE_PAGES]):
        return False
    if order > PAGE_ALLOC_COSTLY_ORDER:
        fragindex = fragmentation_index(st, z, order)
        if fragindex >= 0 and fragindex <= EXTFRAG_THRESHOLD:
            return False
    return True


@njit
def compaction_zonelist_suitable(st, prm, order, alloc_flags, highest_zoneidx):
    """compaction_zonelist_suitable(): would compaction be admissible if a
    share (1/order) of the reclaimable memory were freed?"""
    for z in range(highest_zoneidx, -1, -1):
        if st.zone_managed[z] == 0:
            continue
        available = vmscan.zone_reclaimable_pages(st, z) // order
        available += st.zone_stat[z, NR_FREE_PAGES]
        if __compaction_suitable(st, prm, z, order, st.watermark[z, WMARK_MIN], highest_zoneidx,
                                 available):
            return True
    return False


@njit
def lockdep_fs_reclaim(st, gfp_mask, order, compact_order):
    """[PATCH 1/4] fs_reclaim_acquire()/release() around direct compaction.

    No allocator behaviour: the model counts what lockdep would see, by gfp
    context: entries that may recurse into the filesystem (__GFP_FS), entries
    from NOFS/NOIO contexts, and entries opened by [PATCH 4/4] (requests whose
    own order would not have compacted: order 0 promoted to pageblock order).
    """
    if gfp_mask & __GFP_FS:
        st.node[NODE_LOCKDEP_BASE + 0] += 1
    else:
        st.node[NODE_LOCKDEP_BASE + 1] += 1
    if order == 0 and compact_order > 0:
        st.node[NODE_LOCKDEP_BASE + 2] += 1


@njit(inline='always')
def pageblock_start(prm, pfn):
    return pfn & ~(prm.pageblock_nr_pages - 1)


@njit
def reset_cached_positions(st, prm, z):
    """reset_cached_positions(): scanners restart at the zone ends."""
    st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] = st.zone_start[z]
    st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = st.zone_start[z]
    st.zone_compact[z, ZC_CACHED_FREE] = pageblock_start(prm, st.zone_end[z] - 1)


@njit
def __reset_isolation_suitable(st, prm, z):
    """__reset_isolation_suitable(): clear the zone's skip bits.

    MODEL: the kernel also picks new restart points by sampling the zone; the
    model restarts the scanners at the zone ends.
    """
    b0 = st.zone_start[z] >> prm.pageblock_order
    b1 = (st.zone_end[z] + prm.pageblock_nr_pages - 1) >> prm.pageblock_order
    for b in range(b0, b1):
        st.block_skip[b] = 0
    st.zone_compact[z, ZC_BLOCKSKIP_FLUSH] = 0
    reset_cached_positions(st, prm, z)
    st.zone_compact[z, ZC_INIT_MIGRATE] = st.zone_start[z]
    st.zone_compact[z, ZC_INIT_FREE] = pageblock_start(prm, st.zone_end[z] - 1)


@njit
def reset_isolation_suitable(st, prm):
    """reset_isolation_suitable(): kswapd going to sleep clears skip bits of
    zones where a direct compaction pass finished (compact_blockskip_flush)."""
    for z in range(MAX_NR_ZONES):
        if st.zone_managed[z] and st.zone_compact[z, ZC_BLOCKSKIP_FLUSH]:
            __reset_isolation_suitable(st, prm, z)


@njit(inline='always')
def isolation_suitable(st, prm, c, pfn):
    """isolation_suitable(): not skip-marked (or skip hints ignored)."""
    if st.cc[c, CC_IGNORE_SKIP_HINT]:
        return True
    return st.block_skip[pfn >> prm.pageblock_order] == 0


@njit
def pageblock_skip_persistent(st, prm, pfn):
    """pageblock_skip_persistent(): the block starts with a compound page of at
    least pageblock order (a THP): never a migration source."""
    start = pageblock_start(prm, pfn)
    return (st.pg_flags[start] & PG_head) != 0 and st.pg_order[start] >= prm.pageblock_order or \
        (st.pg_flags[start] & PG_tail) != 0


@njit
def suitable_migration_source(st, prm, c, pfn):
    """suitable_migration_source(): may the migrate scanner take this block?

    Before [PATCH 2/4]: kcompactd and sync modes take any block; async direct
    compaction takes MOVABLE/CMA blocks for movable requests and blocks of
    exactly the request's type otherwise.  After: CMA only for ALLOC_CMA
    requests in every direct mode, and whole-block requests (order >=
    pageblock_order) may evacuate MOVABLE blocks in async mode too.
    """
    if pageblock_skip_persistent(st, prm, pfn):
        return False
    block_mt = st.block_mt[pfn >> prm.pageblock_order]
    direct = st.cc[c, CC_DIRECT]
    mode = st.cc[c, CC_MODE]
    cc_mt = st.cc[c, CC_MIGRATETYPE]
    if prm.patch2:
        # Background compaction produces blocks for the zone at large.
        if not direct:
            return True
        # CMA pages can only be taken by ALLOC_CMA requests.
        if block_mt == MIGRATE_CMA and (st.cc[c, CC_ALLOC_FLAGS] & ALLOC_CMA_FLAG) == 0:
            return False
        if mode != MIGRATE_ASYNC:
            return True
        # Whole-block production is exempt from the pollution gate.
        if cc_mt == MIGRATE_MOVABLE or st.cc[c, CC_ORDER] >= prm.pageblock_order:
            return block_mt == MIGRATE_MOVABLE or block_mt == MIGRATE_CMA
        return block_mt == cc_mt
    if mode != MIGRATE_ASYNC or not direct:
        return True
    if cc_mt == MIGRATE_MOVABLE:
        return block_mt == MIGRATE_MOVABLE or block_mt == MIGRATE_CMA
    return block_mt == cc_mt


@njit
def suitable_migration_target(st, prm, c, pfn):
    """suitable_migration_target(): free pages only from MOVABLE/CMA blocks
    (any block at the highest priority), and never split a free chunk of the
    order being produced."""
    start = pageblock_start(prm, pfn)
    if st.pg_flags[start] & PG_buddy:
        order = st.cc[c, CC_ORDER] if st.cc[c, CC_ORDER] > 0 else prm.pageblock_order
        if st.pg_order[start] >= order:
            return False
    if st.cc[c, CC_IGNORE_BLOCK_SUITABLE]:
        return True
    mt = st.block_mt[start >> prm.pageblock_order]
    return mt == MIGRATE_MOVABLE or mt == MIGRATE_CMA


@njit
def fast_find_migrateblock(st, prm, c):
    """fast_find_migrateblock(): pick a source block quickly from the free lists.

    Gates (kernel): only for order > PAGE_ALLOC_COSTLY_ORDER, honouring skip
    hints, at a pageblock start; not for non-movable direct compaction (before
    [PATCH 2/4]) or non-movable direct compaction below pageblock order
    (after).  MODEL: the search itself is simplified to "the lowest MOVABLE
    block, not skip-marked, in the lower half of the remaining range, that
    holds a free chunk of order 3 .. cc.order-1".
    """
    pfn = st.cc[c, CC_MIGRATE_PFN]
    if st.cc[c, CC_IGNORE_SKIP_HINT]:
        return pfn
    if st.cc[c, CC_FINISH_PAGEBLOCK]:
        return pfn
    if pfn != pageblock_start(prm, pfn):
        return pfn
    order = st.cc[c, CC_ORDER]
    if order <= PAGE_ALLOC_COSTLY_ORDER:
        return pfn
    if prm.patch2:
        # Prevent small unmovable/reclaimable requests from polluting movable
        # blocks through fallbacks; whole-block production is exempt.
        if st.cc[c, CC_DIRECT] and st.cc[c, CC_MIGRATETYPE] != MIGRATE_MOVABLE and \
                order < prm.pageblock_order:
            return pfn
    elif st.cc[c, CC_DIRECT] and st.cc[c, CC_MIGRATETYPE] != MIGRATE_MOVABLE:
        return pfn
    if st.cc[c, CC_FAST_SEARCH_FAIL] > 8:
        return pfn
    z = st.cc[c, CC_ZONE]
    distance = (st.cc[c, CC_FREE_PFN] - pfn) >> 1
    limit = pfn + distance
    best = -1
    for o in range(min(order - 1, MAX_PAGE_ORDER), PAGE_ALLOC_COSTLY_ORDER - 1, -1):
        p = st.free_head[(z * NR_PAGE_ORDERS + o) * 6 + MIGRATE_MOVABLE]
        n = 0
        while p >= 0 and n < 32:
            n += 1
            if p >= pfn and p < limit and st.block_skip[p >> prm.pageblock_order] == 0:
                b = pageblock_start(prm, p)
                if best < 0 or b < best:
                    best = b
            p = st.pg_next[p]
    if best < 0:
        st.cc[c, CC_FAST_SEARCH_FAIL] += 1
        return pfn
    return best


@njit
def putback_movable_pages(st, prm, c):
    """putback_movable_pages(): isolated folios go back on their LRU."""
    for i in range(st.cc[c, CC_NR_MIGRATEPAGES]):
        pfn = st.cc_migratepages[c, i]
        vmscan.lruvec_add_folio(st, pfn, False)
        st.cc_migratepages[c, i] = -1
    st.cc[c, CC_NR_MIGRATEPAGES] = 0


@njit
def isolate_migratepages_block(st, prm, c, low_pfn, end_pfn):
    """isolate_migratepages_block(): take up to COMPACT_CLUSTER_MAX LRU folios
    off the LRU.  Slab, page tables and other kernel pages, pages on per-cpu
    lists, compound pages of the target order or more, and (for callers
    without __GFP_FS) file pages cannot be isolated.  Direct async compaction
    gives up on a whole cc.order-aligned chunk at its first such page
    (skip_on_failure).  Returns the pfn where scanning stopped."""
    direct = st.cc[c, CC_DIRECT]
    skip_on_failure = direct and st.cc[c, CC_MODE] == MIGRATE_ASYNC
    order = st.cc[c, CC_ORDER]
    chunk = 1 << max(order, 0)
    next_skip_pfn = 0
    if skip_on_failure:
        next_skip_pfn = (low_pfn & ~(chunk - 1)) + chunk
    nr_scanned = 0
    nr_isolated = 0
    block = low_pfn >> prm.pageblock_order
    skip_updated = False
    gfp = st.cc[c, CC_GFP]
    pfn = low_pfn
    while pfn < end_pfn:
        if skip_on_failure and pfn >= next_skip_pfn:
            # We failed to isolate in the previous order-aligned block; give
            # up on it if anything was isolated.
            if nr_isolated:
                break
            next_skip_pfn = (pfn & ~(chunk - 1)) + chunk
        nr_scanned += 1
        f = st.pg_flags[pfn]
        if f & PG_buddy:
            pfn += 1 << st.pg_order[pfn]
            continue
        ok = False
        step = 1
        if f & PG_head:
            o = st.pg_order[pfn]
            step = 1 << o
            kind = st.pg_kind[pfn]
            if (f & PG_lru) and (kind == KIND_ANON or kind == KIND_FILE):
                if o >= prm.pageblock_order or (order > 0 and o >= order):
                    ok = False        # a compound page of the target order or more
                elif kind == KIND_FILE and (gfp & __GFP_FS) == 0:
                    ok = False        # no filesystem callbacks from NOFS context
                else:
                    ok = True
        elif f & PG_pcp:
            step = 1 << st.pg_order[pfn]
        if ok:
            if not skip_updated and not st.cc[c, CC_FINISH_PAGEBLOCK]:
                # test_and_set_skip(): claim the block for this compactor
                skip_updated = True
                if st.block_skip[block] and not st.cc[c, CC_IGNORE_SKIP_HINT]:
                    # another compactor owns the block: abandon it
                    pfn = end_pfn
                    break
                st.block_skip[block] = 1
            vmscan.lruvec_del_folio(st, pfn)
            st.cc_migratepages[c, st.cc[c, CC_NR_MIGRATEPAGES]] = pfn
            st.cc[c, CC_NR_MIGRATEPAGES] += 1
            nr_isolated += step
            pfn += step
            if st.cc[c, CC_NR_MIGRATEPAGES] >= COMPACT_CLUSTER_MAX:
                break
            continue
        # isolate_fail
        if skip_on_failure and step >= 1:
            if nr_isolated:
                putback_movable_pages(st, prm, c)
                nr_isolated = 0
            pfn = max(next_skip_pfn, pfn + step)
            continue
        pfn += step
    st.cc[c, CC_MIGRATE_SCANNED] += nr_scanned
    st.cc[c, CC_ISOLATED] += nr_isolated
    st.cc[c, CC_COST_NS] += nr_scanned * costs.COMPACT_SCAN_PFN_NS
    # Update the pageblock-skip if the whole block was scanned without isolation
    if pfn >= end_pfn and nr_isolated == 0:
        st.block_skip[block] = 1
    return pfn


@njit
def isolate_migratepages(st, prm, c):
    """isolate_migratepages(): find the next suitable source block and isolate
    from it.  Returns ISOLATE_NONE or ISOLATE_SUCCESS."""
    z = st.cc[c, CC_ZONE]
    low_pfn = fast_find_migrateblock(st, prm, c)
    fast_find_block = low_pfn != st.cc[c, CC_MIGRATE_PFN]
    block_start = pageblock_start(prm, low_pfn)
    if block_start < st.zone_start[z]:
        block_start = st.zone_start[z]
    block_end = pageblock_start(prm, low_pfn) + prm.pageblock_nr_pages
    sync = st.cc[c, CC_MODE] != MIGRATE_ASYNC
    while block_end <= st.cc[c, CC_FREE_PFN]:
        if (low_pfn == pageblock_start(prm, low_pfn) or low_pfn == st.zone_start[z]) and \
                not fast_find_block and not isolation_suitable(st, prm, c, low_pfn):
            st.cc[c, CC_MIGRATE_PFN] = block_end
            low_pfn = block_end
            block_end += prm.pageblock_nr_pages
            continue
        if not suitable_migration_source(st, prm, c, low_pfn):
            # update_cached_migrate(): all remaining blocks between the
            # scanners may be unsuitable; remember how far we got
            if sync:
                st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = max(
                    st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC], block_end)
            st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] = max(
                st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC], block_end)
            st.cc[c, CC_MIGRATE_PFN] = block_end
            low_pfn = block_end
            block_end += prm.pageblock_nr_pages
            fast_find_block = False
            continue
        low_pfn = isolate_migratepages_block(st, prm, c, low_pfn, block_end)
        st.cc[c, CC_MIGRATE_PFN] = low_pfn
        if low_pfn >= block_end:
            if sync:
                st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = max(
                    st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC], block_end)
            st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] = max(
                st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC], block_end)
        break
    if st.cc[c, CC_NR_MIGRATEPAGES]:
        return ISOLATE_SUCCESS
    return ISOLATE_NONE


@njit
def __isolate_free_page(st, prm, pfn, order):
    """__isolate_free_page(): take a free chunk for migration targets, if the
    zone stays above its min watermark; a chunk of pageblock_order - 1 or more
    retypes its mergeable block(s) to MOVABLE."""
    z = page_alloc.page_zonenum(st, pfn)
    mt = st.block_mt[pfn >> prm.pageblock_order]
    if mt != 5:   # !is_migrate_isolate()
        watermark = st.watermark[z, 0] + (1 << order)
        if not __zone_watermark_ok(st, z, 0, watermark, 0, ALLOC_CMA_FLAG,
                                   st.zone_stat[z, NR_FREE_PAGES]):
            return False
    page_alloc.del_page_from_free_list(st, prm, pfn, z, order, mt)
    if order >= prm.pageblock_order - 1:
        end = pfn + (1 << order)
        p = pfn
        while p < end:
            bmt = st.block_mt[p >> prm.pageblock_order]
            if bmt < MIGRATE_PCPTYPES and bmt != MIGRATE_MOVABLE:
                st.block_mt[p >> prm.pageblock_order] = MIGRATE_MOVABLE
            p += prm.pageblock_nr_pages
    return True


@njit
def isolate_freepages(st, prm, c):
    """isolate_freepages(): the free scanner, from cc.free_pfn down to the
    block after the migrate scanner, isolating whole free chunks from
    suitable target blocks until there are as many free pages as isolated
    source pages.  MODEL: stride 1, no fast_isolate_freepages()."""
    z = st.cc[c, CC_ZONE]
    pbn = prm.pageblock_nr_pages
    block_start = pageblock_start(prm, st.cc[c, CC_FREE_PFN])
    low_pfn = pageblock_start(prm, st.cc[c, CC_MIGRATE_PFN]) + pbn
    isolate_start = st.cc[c, CC_FREE_PFN]
    while block_start >= low_pfn:
        block_end = min(block_start + pbn, st.zone_end[z])
        if isolate_start < block_start or isolate_start >= block_end:
            isolate_start = block_start
        if not suitable_migration_target(st, prm, c, block_start) or \
                not isolation_suitable(st, prm, c, block_start):
            block_start -= pbn
            isolate_start = block_start
            continue
        p = isolate_start
        failed = False
        while p < block_end:
            st.cc[c, CC_FREE_SCANNED] += 1
            f = st.pg_flags[p]
            if f & PG_buddy:
                o = st.pg_order[p]
                if st.cc[c, CC_NR_FREE_CHUNKS] >= NR_CC_FREE:
                    break
                if not __isolate_free_page(st, prm, p, o):
                    failed = True
                    break
                st.cc_freepages[c, st.cc[c, CC_NR_FREE_CHUNKS]] = p
                st.pg_order[p] = o
                st.cc[c, CC_NR_FREE_CHUNKS] += 1
                st.cc[c, CC_NR_FREEPAGES] += 1 << o
                st.cc[c, CC_ISOLATED] += 1 << o
                p += 1 << o
                if st.cc[c, CC_NR_FREEPAGES] >= st.cc[c, CC_NR_MIGRATEPAGES]:
                    break
                continue
            if (f & PG_head) or (f & PG_pcp):
                step = 1 << st.pg_order[p]
                p += step
                continue
            p += 1
        st.cc[c, CC_COST_NS] += (p - isolate_start) * costs.COMPACT_SCAN_PFN_NS
        if p >= block_end and not failed:
            st.block_skip[block_start >> prm.pageblock_order] = 1
            # compact_cached_free_pfn only moves down here
            if block_start < st.zone_compact[z, ZC_CACHED_FREE]:
                st.zone_compact[z, ZC_CACHED_FREE] = block_start
        if st.cc[c, CC_NR_FREEPAGES] >= st.cc[c, CC_NR_MIGRATEPAGES]:
            if p >= block_end:
                isolate_start = block_start - pbn
            else:
                isolate_start = p
            break
        if failed:
            isolate_start = p
            break
        block_start -= pbn
        isolate_start = block_start
    st.cc[c, CC_FREE_PFN] = max(isolate_start, 0)


@njit
def compaction_alloc(st, prm, c, order):
    """compaction_alloc(): the smallest isolated free chunk of at least
    ``order``, split if larger (remainders stay isolated).  -1 if none."""
    best = -1
    best_i = -1
    for i in range(st.cc[c, CC_NR_FREE_CHUNKS]):
        p = st.cc_freepages[c, i]
        o = st.pg_order[p]
        if o >= order and (best < 0 or o < st.pg_order[best]):
            best = p
            best_i = i
    if best < 0:
        return -1
    o = st.pg_order[best]
    n = st.cc[c, CC_NR_FREE_CHUNKS] - 1
    st.cc_freepages[c, best_i] = st.cc_freepages[c, n]
    st.cc_freepages[c, n] = -1
    st.cc[c, CC_NR_FREE_CHUNKS] = n
    st.cc[c, CC_NR_FREEPAGES] -= 1 << o
    while o > order:
        o -= 1
        half = best + (1 << o)
        if st.cc[c, CC_NR_FREE_CHUNKS] < NR_CC_FREE:
            st.pg_order[half] = o
            st.cc_freepages[c, st.cc[c, CC_NR_FREE_CHUNKS]] = half
            st.cc[c, CC_NR_FREE_CHUNKS] += 1
            st.cc[c, CC_NR_FREEPAGES] += 1 << o
        else:
            z = page_alloc.page_zonenum(st, half)
            page_alloc.__free_one_page(st, prm, half, z, o,
                                       st.block_mt[half >> prm.pageblock_order], False)
    st.pg_order[best] = -1
    return best


@njit
def release_freepages(st, prm, c):
    """release_free_list(): unused isolated free pages go back to the buddy."""
    z = st.cc[c, CC_ZONE]
    hi = -1
    for i in range(st.cc[c, CC_NR_FREE_CHUNKS]):
        p = st.cc_freepages[c, i]
        o = st.pg_order[p]
        st.pg_order[p] = -1
        page_alloc.__free_one_page(st, prm, p, z, o, st.block_mt[p >> prm.pageblock_order], False)
        st.cc_freepages[c, i] = -1
        if p > hi:
            hi = p
    st.cc[c, CC_NR_FREE_CHUNKS] = 0
    st.cc[c, CC_NR_FREEPAGES] = 0
    return hi


@njit
def migrate_folio(st, prm, own, src, dst, order, cpu):
    """migrate_pages() for one folio: the contents move to ``dst`` (owner,
    kind, flags and LRU position stay), then the source is freed."""
    n = 1 << order
    h = st.pg_handle[src]
    kind = st.pg_kind[src]
    flags = st.pg_flags[src]
    page_alloc.prep_new_page(st, dst, order, kind, h)
    st.pg_flags[dst] = flags
    if h >= 0:
        own.h_pfn[h] = dst
    vmscan.lruvec_add_folio(st, dst, False)
    # the source folio is freed (to the per-cpu list of the compacting cpu)
    page_alloc.free_frozen_pages(st, prm, cpu, src, order)
    return n


@njit
def migrate_isolated(st, prm, own, c):
    """migrate_pages(compaction_alloc, compaction_free): returns the number of
    folios that could not be migrated (no target page: -ENOMEM)."""
    failed = 0
    cpu = st.cc[c, CC_CPU]
    for i in range(st.cc[c, CC_NR_MIGRATEPAGES]):
        src = st.cc_migratepages[c, i]
        order = st.pg_order[src]
        dst = compaction_alloc(st, prm, c, order)
        if dst < 0:
            isolate_freepages(st, prm, c)
            dst = compaction_alloc(st, prm, c, order)
        if dst < 0:
            vmscan.lruvec_add_folio(st, src, False)   # putback
            failed += 1
            st.vm_events[VM_PGMIGRATE_FAIL] += 1 << order
            continue
        migrate_folio(st, prm, own, src, dst, order, cpu)
        st.vm_events[VM_PGMIGRATE_SUCCESS] += 1 << order
        st.cc[c, CC_MIGRATED] += 1 << order
        st.cc[c, CC_COST_NS] += (1 << order) * costs.MIGRATE_PAGE_NS
        st.cc_migratepages[c, i] = -1
    st.cc[c, CC_NR_MIGRATEPAGES] = 0
    return failed


@njit
def compaction_suit_allocation_order(st, prm, z, order, highest_zoneidx, alloc_flags, is_async,
                                     kcompactd):
    """compaction_suit_allocation_order(): COMPACT_SUCCESS if the watermark is
    already met (kcompactd under defrag_mode counts whole free pageblocks),
    COMPACT_SKIPPED if there is not enough free memory to compact into."""
    if kcompactd and prm.defrag_mode:
        free_pages = st.zone_stat[z, NR_FREE_PAGES_BLOCKS]
    else:
        free_pages = st.zone_stat[z, NR_FREE_PAGES]
    watermark = wmark_pages(st, z, alloc_flags & 3)
    if __zone_watermark_ok(st, z, order, watermark, highest_zoneidx, alloc_flags, free_pages):
        return COMPACT_SUCCESS
    if order > PAGE_ALLOC_COSTLY_ORDER and is_async and (alloc_flags & ALLOC_CMA_FLAG) == 0:
        wm = st.watermark[z, WMARK_LOW] + compact_gap(prm, order)
        if not __zone_watermark_ok(st, z, 0, wm, highest_zoneidx, 0, st.zone_stat[z, NR_FREE_PAGES]):
            return COMPACT_SKIPPED
    if not compaction_suitable(st, prm, z, order, watermark, highest_zoneidx):
        return COMPACT_SKIPPED
    return COMPACT_CONTINUE


@njit
def __compact_finished(st, prm, c):
    """__compact_finished(): scanners met (COMPLETE/PARTIAL_SKIPPED); finish the
    current pageblock; kcompactd under defrag_mode succeeds when the high
    watermark is met in whole free pageblocks; otherwise success when a free
    chunk of the order exists on the request's list or a claimable fallback."""
    z = st.cc[c, CC_ZONE]
    if st.cc[c, CC_FREE_PFN] >> prm.pageblock_order <= st.cc[c, CC_MIGRATE_PFN] >> prm.pageblock_order:
        reset_cached_positions(st, prm, z)
        if st.cc[c, CC_DIRECT]:
            st.zone_compact[z, ZC_BLOCKSKIP_FLUSH] = 1
        if st.cc[c, CC_WHOLE_ZONE]:
            return COMPACT_COMPLETE
        return COMPACT_PARTIAL_SKIPPED
    order = st.cc[c, CC_ORDER]
    if order < 0:
        return COMPACT_CONTINUE
    if st.cc[c, CC_MIGRATE_PFN] != pageblock_start(prm, st.cc[c, CC_MIGRATE_PFN]):
        return COMPACT_CONTINUE
    if prm.defrag_mode and not st.cc[c, CC_DIRECT]:
        if __zone_watermark_ok(st, z, order, wmark_pages(st, z, WMARK_HIGH),
                               st.cc[c, CC_HIGHEST_ZONEIDX], st.cc[c, CC_ALLOC_FLAGS],
                               st.zone_stat[z, NR_FREE_PAGES_BLOCKS]):
            return COMPACT_SUCCESS
        return COMPACT_CONTINUE
    mt = st.cc[c, CC_MIGRATETYPE]
    for o in range(order, NR_PAGE_ORDERS):
        if not page_alloc.free_area_empty(st, z, o, mt):
            return COMPACT_SUCCESS
        if mt == MIGRATE_MOVABLE and not page_alloc.free_area_empty(st, z, o, MIGRATE_CMA):
            return COMPACT_SUCCESS
        if page_alloc.find_suitable_fallback(st, prm, z, o, mt, True) >= 0:
            return COMPACT_SUCCESS
    return COMPACT_NO_SUITABLE_PAGE


@njit
def compact_zone(st, prm, own, c):
    """compact_zone(): run the two scanners toward each other until the zone
    can satisfy the order, the scanners meet, or a page is captured."""
    z = st.cc[c, CC_ZONE]
    order = st.cc[c, CC_ORDER]
    st.cc[c, CC_MIGRATETYPE] = st.cc[c, CC_GFP] >> 3 & 3
    is_async = st.cc[c, CC_MODE] == MIGRATE_ASYNC
    if order >= 0:
        ret = compaction_suit_allocation_order(st, prm, z, order, st.cc[c, CC_HIGHEST_ZONEIDX],
                                               st.cc[c, CC_ALLOC_FLAGS], is_async,
                                               not st.cc[c, CC_DIRECT])
        if ret != COMPACT_CONTINUE:
            return ret
    # Clear pageblock skip if there were failures recently and compaction is
    # about to be retried after being deferred.
    if compaction_restarting(st, z, order) and st.zone_compact[z, ZC_BLOCKSKIP_FLUSH]:
        __reset_isolation_suitable(st, prm, z)
    start_pfn = st.zone_start[z]
    end_pfn = st.zone_end[z]
    sync = 0 if is_async else 1
    if st.cc[c, CC_WHOLE_ZONE]:
        st.cc[c, CC_MIGRATE_PFN] = start_pfn
        st.cc[c, CC_FREE_PFN] = pageblock_start(prm, end_pfn - 1)
    else:
        st.cc[c, CC_MIGRATE_PFN] = st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC + sync]
        st.cc[c, CC_FREE_PFN] = st.zone_compact[z, ZC_CACHED_FREE]
        if st.cc[c, CC_FREE_PFN] < start_pfn or st.cc[c, CC_FREE_PFN] >= end_pfn:
            st.cc[c, CC_FREE_PFN] = pageblock_start(prm, end_pfn - 1)
            st.zone_compact[z, ZC_CACHED_FREE] = st.cc[c, CC_FREE_PFN]
        if st.cc[c, CC_MIGRATE_PFN] < start_pfn or st.cc[c, CC_MIGRATE_PFN] >= end_pfn:
            st.cc[c, CC_MIGRATE_PFN] = start_pfn
            st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] = start_pfn
            st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = start_pfn
        if st.cc[c, CC_MIGRATE_PFN] <= st.zone_compact[z, ZC_INIT_MIGRATE]:
            st.cc[c, CC_WHOLE_ZONE] = 1
    last_migrated_pfn = 0
    ret = COMPACT_CONTINUE
    while True:
        ret = __compact_finished(st, prm, c)
        if ret == COMPACT_NO_SUITABLE_PAGE:
            ret = COMPACT_CONTINUE
        if ret != COMPACT_CONTINUE:
            break
        iso_start = st.cc[c, CC_MIGRATE_PFN]
        r = isolate_migratepages(st, prm, c)
        if r == ISOLATE_NONE and st.cc[c, CC_MIGRATE_PFN] <= iso_start:
            # MODEL: guarantee progress (the kernel's scanner always advances)
            st.cc[c, CC_MIGRATE_PFN] = pageblock_start(prm, iso_start) + prm.pageblock_nr_pages
        if r == ISOLATE_SUCCESS:
            failed = migrate_isolated(st, prm, own, c)
            last_migrated_pfn = iso_start
            if failed and st.cc[c, CC_FREE_PFN] >> prm.pageblock_order > \
                    st.cc[c, CC_MIGRATE_PFN] >> prm.pageblock_order and \
                    st.cc[c, CC_NR_FREEPAGES] == 0:
                # -ENOMEM from compaction_alloc: nothing left to migrate into
                ret = COMPACT_CONTENDED
                break
            if st.capc[CAPC_ACTIVE] and st.capc[CAPC_PAGE] >= 0:
                ret = COMPACT_SUCCESS
                break
        # Has the migration scanner moved away from the previous cc->order
        # aligned block where we migrated from?  Then flush the freed pages
        # from this cpu's lists so they can merge (and be captured).
        if order > 0 and last_migrated_pfn:
            cur = st.cc[c, CC_MIGRATE_PFN] & ~((1 << order) - 1)
            if last_migrated_pfn < cur:
                page_alloc.drain_pages_zone(st, prm, st.cc[c, CC_CPU], z)
                last_migrated_pfn = 0
                if st.capc[CAPC_ACTIVE] and st.capc[CAPC_PAGE] >= 0:
                    ret = COMPACT_SUCCESS
                    break
    hi = release_freepages(st, prm, c)
    if hi >= 0:
        pb = pageblock_start(prm, hi)
        if pb > st.zone_compact[z, ZC_CACHED_FREE]:
            st.zone_compact[z, ZC_CACHED_FREE] = pb
    if st.cc[c, CC_NR_MIGRATEPAGES]:
        putback_movable_pages(st, prm, c)
    ms = st.cc[c, CC_MIGRATE_SCANNED]
    fs = st.cc[c, CC_FREE_SCANNED]
    st.vm_events[VM_COMPACT_MIGRATE_SCANNED] += ms
    st.vm_events[VM_COMPACT_FREE_SCANNED] += fs
    st.vm_events[VM_COMPACT_ISOLATED] += st.cc[c, CC_ISOLATED]
    if not st.cc[c, CC_DIRECT]:
        st.vm_events[VM_COMPACT_DAEMON_MIGRATE_SCANNED] += ms
        st.vm_events[VM_COMPACT_DAEMON_FREE_SCANNED] += fs
    return ret


@njit
def init_compact_control(st, c, z, order, gfp_mask, mode, alloc_flags, highest_zoneidx, direct,
                         prio_min, cpu):
    for i in range(st.cc.shape[1]):
        st.cc[c, i] = 0
    st.cc[c, CC_ZONE] = z
    st.cc[c, CC_ORDER] = order
    st.cc[c, CC_GFP] = gfp_mask
    st.cc[c, CC_MODE] = mode
    st.cc[c, CC_ALLOC_FLAGS] = alloc_flags
    st.cc[c, CC_HIGHEST_ZONEIDX] = highest_zoneidx
    st.cc[c, CC_DIRECT] = direct
    st.cc[c, CC_WHOLE_ZONE] = prio_min
    st.cc[c, CC_IGNORE_SKIP_HINT] = prio_min
    st.cc[c, CC_IGNORE_BLOCK_SUITABLE] = prio_min
    st.cc[c, CC_CPU] = cpu


@njit
def compact_zone_order(st, prm, own, z, order, gfp_mask, prio, alloc_flags, highest_zoneidx,
                       capture_order, cpu):
    """compact_zone_order(): one zone, direct compaction at ``prio``.

    The capture_control is armed here before [PATCH 3/4] and by
    __alloc_pages_direct_compact() after it; in both cases it is live exactly
    while this zone is compacted (capc->cc is set only here), so the two
    placements behave identically.
    """
    c = CC_DIRECT_IDX
    mode = MIGRATE_ASYNC if prio == COMPACT_PRIO_ASYNC else MIGRATE_SYNC_LIGHT
    prio_min = 1 if prio == MIN_COMPACT_PRIORITY else 0
    init_compact_control(st, c, z, order, gfp_mask, mode, alloc_flags, highest_zoneidx, 1,
                         prio_min, cpu)
    st.capc[CAPC_ACTIVE] = 1
    st.capc[CAPC_ZONE] = z
    st.capc[CAPC_ORDER] = capture_order if prm.patch4 else order
    st.capc[CAPC_MIGRATETYPE] = gfp_mask >> 3 & 3
    ret = compact_zone(st, prm, own, c)
    st.capc[CAPC_ACTIVE] = 0
    if st.capc[CAPC_PAGE] >= 0:
        ret = COMPACT_SUCCESS
    return ret


@njit
def try_to_compact_pages(st, prm, own, gfp_mask, order, alloc_flags, highest_zoneidx, prio,
                         capture_order, cpu):
    """try_to_compact_pages(): direct compaction over the zonelist.

    Returns (compact_result, captured_pfn, cost_ns).
    """
    st.capc[CAPC_PAGE] = -1
    st.capc[CAPC_EXT_MT] = -1
    if (gfp_mask & __GFP_IO) == 0:
        return COMPACT_SKIPPED, -1, 0
    rc = COMPACT_SKIPPED
    cost = 0
    for z in range(highest_zoneidx, -1, -1):
        if st.zone_managed[z] == 0:
            continue
        if prio > MIN_COMPACT_PRIORITY and compaction_deferred(st, z, order):
            rc = max(rc, COMPACT_DEFERRED)
            continue
        status = compact_zone_order(st, prm, own, z, order, gfp_mask, prio, alloc_flags,
                                    highest_zoneidx, capture_order, cpu)
        cost += st.cc[CC_DIRECT_IDX, CC_COST_NS]
        rc = max(status, rc)
        if status == COMPACT_SUCCESS:
            compaction_defer_reset(st, z, order, False)
            break
        if prio != COMPACT_PRIO_ASYNC and (status == COMPACT_COMPLETE or
                                           status == COMPACT_PARTIAL_SKIPPED):
            defer_compaction(st, z, order)
    return rc, st.capc[CAPC_PAGE], cost


# ---------------------------------------------------------------------------
# kcompactd
# ---------------------------------------------------------------------------

@njit
def kcompactd_node_suitable(st, prm):
    """kcompactd_node_suitable(): some zone where compaction at the requested
    order is neither already satisfied nor unsuitable."""
    order = st.node[NODE_KCOMPACTD_MAX_ORDER]
    idx = st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX]
    alloc_flags = WMARK_HIGH if prm.defrag_mode else 0
    for z in range(idx + 1):
        if st.zone_managed[z] == 0:
            continue
        if compaction_suit_allocation_order(st, prm, z, order, idx, alloc_flags, False,
                                            True) == COMPACT_CONTINUE:
            return True
    return False


@njit
def kcompactd_wake(st, prm):
    """The wake in wakeup_kcompactd(): only if kcompactd sleeps and the node
    is suitable for compaction at the recorded order."""
    if st.node[NODE_KCOMPACTD_STATE] == KCOMPACTD_RUNNING:
        return
    if not kcompactd_node_suitable(st, prm):
        return
    st.node[NODE_KCOMPACTD_STATE] = KCOMPACTD_RUNNING
    if st.node[NODE_KCOMPACTD_TIME] < st.clock[0]:
        st.node[NODE_KCOMPACTD_TIME] = st.clock[0]


@njit
def kcompactd_do_work(st, prm, own):
    """kcompactd_do_work(): compact each eligible zone at the recorded order
    (SYNC_LIGHT, no capture, any source block); defer on failure.  Shares the
    deferral state with direct compaction.  Returns the cost in ns."""
    c = CC_KCOMPACTD_IDX
    order = st.node[NODE_KCOMPACTD_MAX_ORDER]
    idx = st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX]
    alloc_flags = WMARK_HIGH if prm.defrag_mode else 0
    st.vm_events[VM_COMPACT_DAEMON_WAKE] += 1
    cost = 0
    for z in range(idx + 1):
        if st.zone_managed[z] == 0:
            continue
        if compaction_deferred(st, z, order):
            continue
        if compaction_suit_allocation_order(st, prm, z, order, idx, alloc_flags, False,
                                            True) != COMPACT_CONTINUE:
            continue
        init_compact_control(st, c, z, order, 0xcc0, MIGRATE_SYNC_LIGHT, alloc_flags, idx, 0, 0, 0)
        status = compact_zone(st, prm, own, c)
        cost += st.cc[c, CC_COST_NS]
        if status == COMPACT_SUCCESS:
            compaction_defer_reset(st, z, order, False)
        elif status == COMPACT_PARTIAL_SKIPPED or status == COMPACT_COMPLETE:
            page_alloc.drain_all_pages(st, prm, z)
            defer_compaction(st, z, order)
    # clear the request if it was not raised meanwhile
    if st.node[NODE_KCOMPACTD_MAX_ORDER] <= order:
        st.node[NODE_KCOMPACTD_MAX_ORDER] = 0
    st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX] = 0
    return max(cost, costs.COMPACT_SCAN_PFN_NS)


@njit
def run_kcompactd(st, prm, own, until):
    """Let kcompactd run up to ``until``: one kcompactd_do_work per wakeup,
    charged to kcompactd's own clock (and to PSI: it runs in a memstall)."""
    if st.node[NODE_KCOMPACTD_STATE] != KCOMPACTD_RUNNING:
        return
    if st.node[NODE_KCOMPACTD_TIME] > until:
        return
    cost = kcompactd_do_work(st, prm, own)
    st.node[NODE_KCOMPACTD_TIME] += cost
    st.node[NODE_KCOMPACTD_BUSY_NS] += cost
    st.node[NODE_PSI_SOME_NS] += cost
    st.node[NODE_KCOMPACTD_STATE] = KCOMPACTD_SLEEPING


# ---------------------------------------------------------------------------
# Deferral (per zone, shared by direct compaction of every order and kcompactd)
# ---------------------------------------------------------------------------
DEFER_CONSIDERED = 0
DEFER_SHIFT = 1
DEFER_ORDER_FAILED = 2


@njit
def defer_compaction(st, z, order):
    """defer_compaction()."""
    st.compact_defer[z, DEFER_CONSIDERED] = 0
    st.compact_defer[z, DEFER_SHIFT] = min(st.compact_defer[z, DEFER_SHIFT] + 1,
                                           COMPACT_MAX_DEFER_SHIFT)
    if order < st.compact_defer[z, DEFER_ORDER_FAILED]:
        st.compact_defer[z, DEFER_ORDER_FAILED] = order


@njit
def compaction_deferred(st, z, order):
    """compaction_deferred(): skip this attempt?"""
    if order < st.compact_defer[z, DEFER_ORDER_FAILED]:
        return False
    limit = 1 << st.compact_defer[z, DEFER_SHIFT]
    st.compact_defer[z, DEFER_CONSIDERED] += 1
    if st.compact_defer[z, DEFER_CONSIDERED] >= limit:
        st.compact_defer[z, DEFER_CONSIDERED] = limit
        return False
    return True


@njit
def compaction_defer_reset(st, z, order, alloc_success):
    """compaction_defer_reset()."""
    if alloc_success:
        st.compact_defer[z, DEFER_CONSIDERED] = 0
        st.compact_defer[z, DEFER_SHIFT] = 0
    if order >= st.compact_defer[z, DEFER_ORDER_FAILED]:
        st.compact_defer[z, DEFER_ORDER_FAILED] = order + 1


@njit
def compaction_restarting(st, z, order):
    """compaction_restarting()."""
    if order < st.compact_defer[z, DEFER_ORDER_FAILED]:
        return False
    return st.compact_defer[z, DEFER_SHIFT] == COMPACT_MAX_DEFER_SHIFT and \
        st.compact_defer[z, DEFER_CONSIDERED] >= (1 << COMPACT_MAX_DEFER_SHIFT)


from . import page_alloc, vmscan  # noqa: E402
