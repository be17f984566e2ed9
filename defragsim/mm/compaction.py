"""Mirror of mm/compaction.c: admission (compaction_suitable and friends),
the two scanners, migration, capture, deferral, kcompactd (woken and
proactive) and manual compaction.

* ``compact_zone``: the migrate scanner (zone start upward; cached per
  async/sync, ``fast_find_migrateblock``, ``isolate_migratepages_block`` with
  async's skip_on_failure, skip bits, finish_pageblock rescans) and the free
  scanner (zone end downward; ``fast_isolate_freepages`` with
  ``fast_isolate_around``, then ``isolate_freepages`` with async's adaptive
  stride), ``compaction_alloc``, migration that moves the owner's data to the
  new pfn and frees the old page, and ``__compact_finished``.
* Who compacts: ``try_to_compact_pages`` / ``compact_zone_order`` (direct,
  with capture armed), ``kcompactd_do_work`` (woken; defrag_mode's
  whole-block goal), the proactive check every 500 ms, and ``compact_node``
  (proactive passes and /proc/sys/vm/compact_memory).
* ``suitable_migration_source`` and ``fast_find_migrateblock`` carry the
  [PATCH 2/4] branches; capture's order carries [PATCH 4/4]; patches 1 and 3
  are seams with no behaviour (see page_alloc.__alloc_pages_direct_compact).
* Every run emits mm_compaction_* tracepoints into ``State.cev``.

MODEL differences are marked ``MODEL:`` at the code.  Not modelled: zone and
LRU lock contention (COMPACT_CONTENDED comes from -ENOMEM and from
too_many_isolated() in async mode), and non-LRU movable pages (zsmalloc,
balloon).  Migration fails as in mm/migrate.c for folios under writeback,
locked folios and folios with extra references (:func:`migrate_folio_busy`).
"""
from __future__ import annotations

import numpy as np

from . import costs
from .._jit import kernel as njit
from ..gfp import GFP_KERNEL, __GFP_FS, __GFP_IO
from ..constants import (
    COMPACT_GAP_CAPPED, COMPACT_COMPLETE, COMPACT_CONTENDED, COMPACT_CONTINUE, COMPACT_DEFERRED,
    COMPACT_NO_SUITABLE_PAGE, COMPACT_PARTIAL_SKIPPED,
    COMPACT_PRIO_ASYNC, COMPACT_SKIPPED, COMPACT_SUCCESS, MIN_COMPACT_PRIORITY,
    COMPACT_CLUSTER_MAX, COMPACT_MAX_DEFER_SHIFT, KIND_ANON, KIND_FILE, MAX_NR_ZONES, OWNER_SHMEM,
    HPAGE_FRAG_CHECK_INTERVAL_NS,
    MAX_PAGE_ORDER, MIGRATE_CMA, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, NR_FREE_PAGES,
    NR_FREE_PAGES_BLOCKS, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER, PG_buddy, PG_head, PG_lru,
    PG_dirty, PG_pcp, PG_pinned, PG_reclaim, PG_tail, PG_writeback, PG_young,
    VM_COMPACT_DAEMON_FREE_SCANNED,
    VM_COMPACT_DAEMON_MIGRATE_SCANNED, VM_COMPACT_DAEMON_WAKE, VM_COMPACT_FREE_SCANNED,
    VM_COMPACT_ISOLATED, VM_COMPACT_MIGRATE_SCANNED, VM_NR_WRITTEN, VM_PGMIGRATE_FAIL,
    VM_PGMIGRATE_SUCCESS, WMARK_HIGH, WMARK_LOW, WMARK_MIN, LRU_ACTIVE_ANON, LRU_ACTIVE_FILE,
    LRU_INACTIVE_ANON, LRU_INACTIVE_FILE,
)
from .page_alloc import __zone_watermark_ok, gfp_migratetype, page_kind, wmark_pages
from .state import (
    CAPC_ACTIVE, CAPC_CC, CAPC_EXT_MT, CAPC_MIGRATETYPE, CAPC_ORDER, CAPC_PAGE, CAPC_ZONE,
    CC_ALLOC_FLAGS, CC_COST_NS, CC_CPU, CC_DIRECT, CC_DIRECT_IDX, CC_FAST_SEARCH_FAIL,
    CC_FAST_START_PFN, CC_LAST_MIGRATED_PFN, CC_UPDATE_CACHED,
    CC_FINISH_PAGEBLOCK, CC_FREE_PFN, CC_FREE_SCANNED, CC_GFP, CC_HIGHEST_ZONEIDX,
    CC_IGNORE_BLOCK_SUITABLE, CC_IGNORE_SKIP_HINT, CC_ISOLATED, CC_KCOMPACTD_IDX, CC_MIGRATED,
    CC_MIGRATE_PFN, CC_MIGRATE_SCANNED, CC_MIGRATETYPE, CC_MODE, CC_NR_FREE_CHUNKS,
    CC_NR_FREEPAGES, CC_NR_MIGRATEPAGES, CC_ORDER, CC_PROACTIVE, CC_SEARCH_ORDER,
    CC_WHOLE_ZONE, CC_ZONE, CEV_BEGIN, CEV_CONSIDERED, CEV_DEFER_COMPACTION, CEV_DEFER_RESET,
    CEV_DEFER_SHIFT, CEV_DEFERRED, CEV_DIRECT, CEV_END, CEV_EVENT, CEV_FREE_PFN,
    CEV_KCOMPACTD_WAKE, CEV_MIGRATE_PFN, CEV_ORDER, CEV_ORDER_FAILED, CEV_STATUS, CEV_SYNC,
    CEV_T, CEV_TRY, CEV_ZONE, KSWAPD_NAPPING, KSWAPD_RUNNING, NODE_CURRENT_KCOMPACTD,
    NODE_KCOMPACTD_BUSY_NS, NODE_NAP_WOKEN,
    NODE_KCOMPACTD_HIGHEST_ZONEIDX, NODE_KCOMPACTD_MAX_ORDER, NODE_KCOMPACTD_PROACTIVE_NS,
    NODE_KCOMPACTD_STATE, NODE_KCOMPACTD_TIME, NODE_KSWAPD_STATE, NODE_KSWAPD_TIME,
    NODE_MIGRATE_SEQ, NODE_PROACTIVE_NEXT, NODE_PSI_SOME_NS, NODE_REQ_TIME, NODE_WB_COUNT, NODE_WB_HEAD,
    NR_CC_FREE, WB_END, WB_PFN, ZC_BLOCKSKIP_FLUSH, ZC_CACHED_FREE,
    ZC_CACHED_MIGRATE_ASYNC, ZC_CACHED_MIGRATE_SYNC, ZC_INIT_FREE, ZC_INIT_MIGRATE,
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

ALLOC_CMA_FLAG = 0x80

#: sysctl vm.extfrag_threshold
EXTFRAG_THRESHOLD = 500


@njit(inline='always')
def compact_gap(prm, order):
    """compact_gap(): ``2 << order``; capped at COMPACT_CLUSTER_MAX in the 2026
    mm tree the series is based on (kernel switch ``compact_gap``)."""
    g = 2 << order
    if prm.k_compact_gap == COMPACT_GAP_CAPPED and g > COMPACT_CLUSTER_MAX:
        return COMPACT_CLUSTER_MAX
    return g


@njit
def trace_compaction(st, ev, z, order, sync, status, migrate_pfn, free_pfn, considered,
                     defer_shift, order_failed):
    """Record one mm_compaction_* tracepoint (include/trace/events/compaction.h)
    in the State.cev ring.  The time stamp is the clock of ``current``: the
    request's clock for a task, kcompactd's own clock for kcompactd.  A full
    ring counts lost events, as ftrace does."""
    i = st.cev_count[0]
    if i >= st.cev.shape[0]:
        st.cev_count[1] += 1
        return
    kc = st.node[NODE_CURRENT_KCOMPACTD]
    st.cev[i, CEV_T] = st.node[NODE_KCOMPACTD_TIME] if kc else st.clock[0]
    st.cev[i, CEV_EVENT] = ev
    st.cev[i, CEV_ZONE] = z
    st.cev[i, CEV_ORDER] = order
    st.cev[i, CEV_SYNC] = sync
    st.cev[i, CEV_STATUS] = status
    st.cev[i, CEV_MIGRATE_PFN] = migrate_pfn
    st.cev[i, CEV_FREE_PFN] = free_pfn
    st.cev[i, CEV_CONSIDERED] = considered
    st.cev[i, CEV_DEFER_SHIFT] = defer_shift
    st.cev[i, CEV_ORDER_FAILED] = order_failed
    st.cev[i, CEV_DIRECT] = 0 if kc else 1
    st.cev_count[0] = i + 1


@njit
def trace_kswapd(st, ev, zid, order):
    """Record mm_vmscan_kswapd_wake or mm_vmscan_kswapd_sleep
    (include/trace/events/vmscan.h: nid, zid, order) in the State.cev ring,
    at kswapd's own clock."""
    i = st.cev_count[0]
    trace_compaction(st, ev, zid, order, 0, 0, 0, 0, 0, 0, 0)
    if st.cev_count[0] > i:
        st.cev[i, CEV_T] = st.node[NODE_KSWAPD_TIME]
        st.cev[i, CEV_DIRECT] = 0


@njit
def trace_defer(st, ev, z, order):
    """mm_compaction_defer_compaction / _deferred / _defer_reset: the zone's
    deferral state after the call."""
    trace_compaction(st, ev, z, order, 0, 0, 0, 0, st.compact_defer[z, DEFER_CONSIDERED],
                     st.compact_defer[z, DEFER_SHIFT], st.compact_defer[z, DEFER_ORDER_FAILED])


@njit
def extfrag_for_order(st, z, order):
    """extfrag_for_order() (mm/vmstat.c): percent of free memory not in free
    blocks of at least ``order``."""
    free_pages = 0
    suitable = 0
    for o in range(NR_PAGE_ORDERS):
        n = st.nr_free[z, o]
        free_pages += n << o
        if o >= order:
            suitable += n << (o - order)
    if free_pages == 0:
        return 0
    return (free_pages - (suitable << order)) * 100 // free_pages


@njit
def fragmentation_score_zone(st, prm, z):
    """fragmentation_score_zone(): extfrag_for_order(zone, COMPACTION_HPAGE_ORDER)."""
    return extfrag_for_order(st, z, prm.pageblock_order)


@njit
def fragmentation_score_node(st, prm):
    """fragmentation_score_node(): the populated zones' scores, each weighted
    by its present pages over the node's (fragmentation_score_zone_weighted():
    zone->present_pages, node_present_pages + 1; the model's zones span
    their present pages)."""
    node_present = 0
    for z in range(MAX_NR_ZONES):
        node_present += st.zone_end[z] - st.zone_start[z]
    score = 0
    for z in range(MAX_NR_ZONES):
        if st.zone_managed[z] == 0:
            continue
        present = st.zone_end[z] - st.zone_start[z]
        score += present * fragmentation_score_zone(st, prm, z) // (node_present + 1)
    return score


@njit
def fragmentation_score_wmark(prm, low):
    """fragmentation_score_wmark(): low = 100 - compaction_proactiveness,
    high = low + min(10, low / 2)."""
    wmark_low = 100 - prm.compaction_proactiveness
    if low:
        return wmark_low
    return wmark_low + min(10, wmark_low // 2)


@njit(inline='always')
def kswapd_is_running(st):
    """kswapd_is_running(): kswapd is TASK_RUNNING, reclaiming or woken out
    of its HZ/10 nap (try_to_wake_up() made it runnable; the model lets it
    leave the nap at its next step)."""
    state = st.node[NODE_KSWAPD_STATE]
    return state == KSWAPD_RUNNING or (state == KSWAPD_NAPPING and st.node[NODE_NAP_WOKEN] != 0)


@njit
def should_proactive_compact_node(st, prm):
    """should_proactive_compact_node()."""
    if prm.compaction_proactiveness == 0 or kswapd_is_running(st):
        return False
    return fragmentation_score_node(st, prm) > fragmentation_score_wmark(prm, False)


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
        if __compaction_suitable(st, prm, z, order, wmark_pages(st, z, WMARK_MIN), highest_zoneidx,
                                 available):
            return True
    return False


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
def __reset_isolation_pfn(st, prm, z, pfn, check_source, check_target):
    """__reset_isolation_pfn(): clear the skip bit of ``pfn``'s pageblock if a
    1-in-8 sample of the block (every ``1 << PAGE_ALLOC_COSTLY_ORDER`` pages
    from its start) finds an LRU page (a migration source) or a free buddy
    head (a target).  Blocks that start with a compound page of pageblock
    order or more keep their skip bit (pageblock_skip_persistent()); the free
    scanner never restarts in a non-movable block."""
    if pfn < st.zone_start[z] or pfn >= st.zone_end[z]:
        return False
    if pageblock_skip_persistent(st, prm, pfn):
        return False
    b = pfn >> prm.pageblock_order
    # skip already clear: no further checking once the restart points are set
    if check_source and check_target and st.block_skip[b] == 0:
        return True
    if not check_source and check_target and st.block_mt[b] != MIGRATE_MOVABLE:
        return False
    start = max(pageblock_start(prm, pfn), st.zone_start[z])
    end = min(pageblock_start(prm, pfn) + prm.pageblock_nr_pages - 1, st.zone_end[z] - 1)
    p = start
    while p <= end:
        f = st.pg_flags[p]
        if (check_source and (f & PG_lru)) or (check_target and (f & PG_buddy)):
            st.block_skip[b] = 0
            return True
        p += 1 << PAGE_ALLOC_COSTLY_ORDER
    return False


@njit
def __reset_isolation_suitable(st, prm, z):
    """__reset_isolation_suitable(): after a full compaction pass
    (compact_blockskip_flush), walk the zone from both ends and clear skip
    bits where a sample finds migration sources (from the start) or targets
    (from the end); the first such blocks become the scanners' restart points
    (compact_init_*/compact_cached_*).  If none is found the scanners are left
    to meet in the middle ("leave no distance")."""
    if st.zone_compact[z, ZC_BLOCKSKIP_FLUSH] == 0:
        return
    st.zone_compact[z, ZC_BLOCKSKIP_FLUSH] = 0
    migrate_pfn = st.zone_start[z]
    free_pfn = st.zone_end[z] - 1
    reset_migrate = free_pfn
    reset_free = migrate_pfn
    source_set = False
    free_set = False
    while migrate_pfn < free_pfn:
        if __reset_isolation_pfn(st, prm, z, migrate_pfn, True, source_set) and \
                migrate_pfn < reset_migrate:
            source_set = True
            reset_migrate = migrate_pfn
            st.zone_compact[z, ZC_INIT_MIGRATE] = reset_migrate
            st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] = reset_migrate
            st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = reset_migrate
        if __reset_isolation_pfn(st, prm, z, free_pfn, free_set, True) and free_pfn > reset_free:
            free_set = True
            reset_free = free_pfn
            st.zone_compact[z, ZC_INIT_FREE] = reset_free
            st.zone_compact[z, ZC_CACHED_FREE] = reset_free
        migrate_pfn += prm.pageblock_nr_pages
        free_pfn -= prm.pageblock_nr_pages
    # Leave no distance if no suitable block was reset
    if reset_migrate >= reset_free:
        st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] = migrate_pfn
        st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = migrate_pfn
        st.zone_compact[z, ZC_CACHED_FREE] = free_pfn


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
def update_fast_start_pfn(st, c, pfn):
    """update_fast_start_pfn(): remember the lowest block a fast search found."""
    if st.cc[c, CC_FAST_START_PFN] == -1:          # ULONG_MAX: already used
        return
    if st.cc[c, CC_FAST_START_PFN] == 0 or pfn < st.cc[c, CC_FAST_START_PFN]:
        st.cc[c, CC_FAST_START_PFN] = pfn


@njit
def reinit_migrate_pfn(st, c):
    """reinit_migrate_pfn(): after a failed fast search, restart the linear
    scan (once per compaction run) at the lowest block an earlier fast search
    found."""
    f = st.cc[c, CC_FAST_START_PFN]
    if f == 0 or f == -1:
        return st.cc[c, CC_MIGRATE_PFN]
    st.cc[c, CC_MIGRATE_PFN] = f
    st.cc[c, CC_FAST_START_PFN] = -1
    return f


@njit
def fast_find_migrateblock(st, prm, c):
    """fast_find_migrateblock(): pick a source block quickly from the free
    lists: a MOVABLE free chunk of order cc.order - 1 down to
    PAGE_ALLOC_COSTLY_ORDER in the lower part of the remaining range (the
    first half when starting at the zone start, else the first eighth), in a
    block not skip-marked; at most freelist_scan_limit() entries are looked
    at (counted as migrate-scanned), and the entry found (or the one the
    limit stopped at) is moved to its list's tail, so the next search starts
    after it.  On a miss, fast_search_fail grows (shrinking later limits)
    and the linear scan restarts, once per run, at the lowest block an
    earlier search found (reinit_migrate_pfn()).

    Gates (kernel): only for order > PAGE_ALLOC_COSTLY_ORDER, honouring skip
    hints, at a pageblock (or zone) start; not for non-movable direct
    compaction (before [PATCH 2/4]) or non-movable direct compaction below
    pageblock order (after).
    """
    limit = freelist_scan_limit(st, c)
    nr_scanned = 0
    pfn = st.cc[c, CC_MIGRATE_PFN]
    z = st.cc[c, CC_ZONE]
    if st.cc[c, CC_IGNORE_SKIP_HINT]:
        return pfn
    if st.cc[c, CC_FINISH_PAGEBLOCK]:
        return pfn
    if pfn != st.zone_start[z] and pfn != pageblock_start(prm, pfn):
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
    # the first half of the search space when starting, else the first eighth
    distance = (st.cc[c, CC_FREE_PFN] - pfn) >> 1
    if pfn != st.zone_start[z]:
        distance >>= 2
    high_pfn = pageblock_start(prm, pfn + distance)
    found = False
    o = order - 1
    while o >= PAGE_ALLOC_COSTLY_ORDER and not found and nr_scanned < limit:
        if st.nr_free[z, o] == 0:
            o -= 1
            continue
        lid = (z * NR_PAGE_ORDERS + o) * 6 + MIGRATE_MOVABLE
        p = st.free_head[lid]
        while p >= 0:
            nxt = st.pg_next[p]
            if nr_scanned >= limit:
                nr_scanned += 1
                page_alloc.move_freelist_tail(st, st.free_head, st.free_tail, lid, p)
                break
            nr_scanned += 1
            if p < high_pfn:
                # avoid if skipped recently
                if st.block_skip[p >> prm.pageblock_order]:
                    p = nxt
                    continue
                page_alloc.move_freelist_tail(st, st.free_head, st.free_tail, lid, p)
                update_fast_start_pfn(st, c, p)
                pfn = pageblock_start(prm, p)
                if pfn < st.zone_start[z]:
                    pfn = st.zone_start[z]
                st.cc[c, CC_FAST_SEARCH_FAIL] = 0
                found = True
                break
            p = nxt
        o -= 1
    st.cc[c, CC_MIGRATE_SCANNED] += nr_scanned
    if not found:
        st.cc[c, CC_FAST_SEARCH_FAIL] += 1
        pfn = reinit_migrate_pfn(st, c)
    return pfn


#: A folio someone else holds while migrate_pages() runs, in parts per
#: million of the recently accessed (PG_young) folios it tries.  Estimates: the
#: kernel does not count why a migration failed.  The holder's lock or
#: reference outlasts migrate_pages()'s retry passes (microseconds apart), so
#: a busy folio stays busy for the whole call.
#: MIGRATE_LOCKED_PPM: folio_trylock() fails (a fault or read in progress, the
#: LRU batch draining it); MIGRATE_EXTRA_REF_PPM: folio_migrate_mapping() finds
#: more references than its mappings (GUP for direct I/O, a page-table walk).
MIGRATE_LOCKED_PPM = 10_000        # MODEL: an estimate (see above)
MIGRATE_EXTRA_REF_PPM = 10_000     # MODEL: an estimate (see above)
#: reclaim_throttle(pgdat, VMSCAN_THROTTLE_ISOLATED): HZ/50.
THROTTLE_ISOLATED_NS = 20_000_000
#: Waiting for a page lock in sync migration (another task's fault or read).
#: Estimate.
MIGRATE_LOCK_WAIT_NS = 50_000


@njit
def migrate_folio_busy(st, pfn, ppm):
    """Whether another holder keeps folio ``pfn`` locked or referenced during
    this migration attempt: a recently accessed folio (PG_young) is, with
    ``ppm`` parts per million.  The draw is a hash of a per-node counter, so
    a run is deterministic."""
    if (st.pg_flags[pfn] & PG_young) == 0 or ppm <= 0:
        return False
    st.node[NODE_MIGRATE_SEQ] += 1
    # splitmix64 of the counter
    z = np.uint64(st.node[NODE_MIGRATE_SEQ]) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return z % np.uint64(1_000_000) < np.uint64(ppm)


@njit
def too_many_isolated(st, c):
    """too_many_isolated() (mm/compaction.c): more pages isolated by the
    compactors than half the LRU (an eighth of it for __GFP_FS callers).
    MODEL: reclaim isolates one folio at a time within a step, so only the
    compactors' isolated pages count (NR_ISOLATED_ANON + NR_ISOLATED_FILE)."""
    isolated = 0
    for k in range(st.cc.shape[0]):
        for i in range(st.cc[k, CC_NR_MIGRATEPAGES]):
            isolated += 1 << st.pg_order[st.cc_migratepages[k, i]]
    inactive = st.lru_size[LRU_INACTIVE_ANON] + st.lru_size[LRU_INACTIVE_FILE]
    active = st.lru_size[LRU_ACTIVE_ANON] + st.lru_size[LRU_ACTIVE_FILE]
    if st.cc[c, CC_GFP] & __GFP_FS:
        inactive >>= 3
        active >>= 3
    return isolated > (inactive + active) // 2


@njit
def writeback_end_time(st, pfn):
    """When the write of folio ``pfn`` ends (State.wb_ring); now if not found."""
    cap = st.wb_ring.shape[0]
    for k in range(st.node[NODE_WB_COUNT]):
        i = (st.node[NODE_WB_HEAD] + k) & (cap - 1)
        if st.wb_ring[i, WB_PFN] == pfn:
            return st.wb_ring[i, WB_END]
    return st.clock[0]


@njit
def putback_movable_pages(st, prm, c):
    """putback_movable_pages(): isolated folios go back on their LRU."""
    for i in range(st.cc[c, CC_NR_MIGRATEPAGES]):
        pfn = st.cc_migratepages[c, i]
        vmscan.lruvec_add_folio(st, pfn, False)
        st.cc_migratepages[c, i] = -1
    st.cc[c, CC_NR_MIGRATEPAGES] = 0


@njit
def update_cached_migrate(st, prm, c, pfn):
    """update_cached_migrate(): where async and sync compaction restart.
    (The kernel passes pageblock_end_pfn(pfn) of a block end, i.e. one block
    further; mirrored.)"""
    z = st.cc[c, CC_ZONE]
    pfn = pageblock_start(prm, pfn) + prm.pageblock_nr_pages
    if pfn > st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC]:
        st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] = pfn
    if st.cc[c, CC_MODE] != MIGRATE_ASYNC and pfn > st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC]:
        st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = pfn


@njit(inline='always')
def folio_mapping(st, own, pfn, kind):
    """Whether the LRU folio at ``pfn`` has a mapping (folio_mapping() is not
    NULL): page cache, and shmem, whose swap-backed folios (KIND_ANON here)
    belong to an OWNER_SHMEM owner."""
    if kind == KIND_FILE:
        return True
    h = st.pg_handle[pfn]
    return h >= 0 and own.o_kind[own.h_owner[h]] == OWNER_SHMEM


@njit
def isolate_migratepages_block(st, prm, own, c, low_pfn, end_pfn):
    """isolate_migratepages_block(): take LRU folios off the LRU, up to
    COMPACT_CLUSTER_MAX (the whole block when finishing a pageblock).

    Not isolated: free pages (stepped over), slab, page tables and other
    kernel pages, pages on per-cpu lists, long-term pinned folios, compound
    folios of the target order or more (or of pageblock order), and folios
    with a mapping (page cache, shmem: :func:`folio_mapping`) for callers
    without __GFP_FS.  Direct async compaction gives up on a whole
    cc.order-aligned chunk at its first such page (skip_on_failure).
    The block's skip bit is test-and-set when the scan starts at the block
    start; a block scanned to its end with nothing isolated (or rescanned
    with finish_pageblock) is skip-marked and advances the cached migrate
    pfn.  Returns the pfn where scanning stopped, or -1 (-EAGAIN) when
    too_many_isolated() aborts an async pass or one holding isolated folios.

    Every mode but MIGRATE_SYNC isolates with ISOLATE_ASYNC_MIGRATE: folios
    under writeback are not taken, and a dirty folio is taken only if
    folio_trylock() succeeds (:func:`migrate_folio_busy`).  Dirty file folios
    are otherwise migratable (their filesystems have ->migrate_folio).
    """
    # MODEL: no lru_lock contention
    direct = st.cc[c, CC_DIRECT]
    mode = st.cc[c, CC_MODE]
    if too_many_isolated(st, c):
        if st.cc[c, CC_NR_MIGRATEPAGES] or mode == MIGRATE_ASYNC:
            return -1
        # MODEL: one reclaim_throttle() nap; nothing else runs during it,
        # so the isolated count would not change by waiting longer
        st.cc[c, CC_COST_NS] += THROTTLE_ISOLATED_NS
    skip_on_failure = direct and mode == MIGRATE_ASYNC
    order = st.cc[c, CC_ORDER]
    finish = st.cc[c, CC_FINISH_PAGEBLOCK]
    cap = st.cc_migratepages.shape[1]
    chunk = 1 << max(order, 0)
    next_skip_pfn = 0
    if skip_on_failure:
        next_skip_pfn = (low_pfn & ~(chunk - 1)) + chunk
    nr_scanned = 0
    nr_isolated = 0
    block = low_pfn >> prm.pageblock_order
    z = st.cc[c, CC_ZONE]
    valid_page = False
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
        if not valid_page and (pfn == pageblock_start(prm, pfn) or pfn == st.zone_start[z]):
            # only the first pfn checks whether the block is marked skipped
            if not isolation_suitable(st, prm, c, pfn):
                pfn = end_pfn
                break
            valid_page = True
        nr_scanned += 1
        f = st.pg_flags[pfn]
        if f & PG_buddy:
            o = st.pg_order[pfn]
            nr_scanned += (1 << o) - 1
            pfn += 1 << o
            continue
        ok = False
        step = 1
        if f & PG_head:
            o = st.pg_order[pfn]
            step = 1 << o
            kind = page_kind(st, pfn)
            if (f & PG_lru) and (kind == KIND_ANON or kind == KIND_FILE):
                # skip_isolation_on_order()
                on_order = o >= prm.pageblock_order or (order > 0 and o >= order)
                # not: pinned (extra references), file-backed in a GFP_NOFS
                # context, under writeback or dirty and locked (ISOLATE_ASYNC_MIGRATE)
                ok = not (on_order or (f & PG_pinned) or
                          ((gfp & __GFP_FS) == 0 and folio_mapping(st, own, pfn, kind)))
                if ok and mode != MIGRATE_SYNC:
                    if f & PG_writeback:
                        ok = False
                    elif (f & PG_dirty) and migrate_folio_busy(st, pfn, MIGRATE_LOCKED_PPM):
                        ok = False
                if on_order or (not ok and not skip_on_failure):
                    # its pages count as scanned: skipped on order, the
                    # kernel adds (1 << order) - 1; after another failure
                    # it goes on to the tail pages one by one (not on the
                    # LRU: each fails)
                    nr_scanned += step - 1
            elif o > 0:
                nr_scanned += step - 1     # compound (non-LRU) page: skipped at once
        elif f & PG_pcp:
            step = 1 << st.pg_order[pfn]
        if ok:
            if not skip_updated and valid_page:
                # test_and_set_skip(): the first compactor to lock the block owns it
                skip_updated = True
                if not st.cc[c, CC_IGNORE_SKIP_HINT]:
                    was = st.block_skip[block]
                    st.block_skip[block] = 1
                    if was and not finish:
                        pfn = end_pfn
                        break
            vmscan.lruvec_del_folio(st, pfn)
            st.cc_migratepages[c, st.cc[c, CC_NR_MIGRATEPAGES]] = pfn
            st.cc[c, CC_NR_MIGRATEPAGES] += 1
            nr_isolated += step
            pfn += step
            # avoid isolating too much unless this block is being fully scanned
            if st.cc[c, CC_NR_MIGRATEPAGES] >= COMPACT_CLUSTER_MAX and not finish:
                break
            if st.cc[c, CC_NR_MIGRATEPAGES] >= cap:
                break
            continue
        # isolate_fail
        if skip_on_failure:
            if nr_isolated:
                putback_movable_pages(st, prm, c)
                nr_isolated = 0
            pfn = max(next_skip_pfn, pfn + step)
            continue
        pfn += step
    if pfn > end_pfn:
        pfn = end_pfn
    st.cc[c, CC_MIGRATE_SCANNED] += nr_scanned
    st.cc[c, CC_ISOLATED] += nr_isolated
    st.cc[c, CC_COST_NS] += nr_scanned * costs.cpu_ns(prm, costs.COMPACT_SCAN_PFN_NS)
    if pfn == end_pfn and (nr_isolated == 0 or finish):
        if valid_page and not skip_updated:
            st.block_skip[block] = 1
        update_cached_migrate(st, prm, c, pfn)
    st.cc[c, CC_MIGRATE_PFN] = pfn
    return pfn


@njit
def isolate_migratepages(st, prm, own, c):
    """isolate_migratepages(): from the migrate scanner (or the block
    fast_find_migrateblock() picked), skip skip-marked blocks and blocks that
    are not a suitable_migration_source() (advancing the cached pfn past
    them), then isolate from the first remaining block.  Returns
    ISOLATE_NONE, ISOLATE_SUCCESS, or ISOLATE_ABORT (too_many_isolated())."""
    z = st.cc[c, CC_ZONE]
    low_pfn = fast_find_migrateblock(st, prm, c)
    # the fast search has checked the block's skip bit
    fast_find_block = low_pfn != st.cc[c, CC_MIGRATE_PFN] and st.cc[c, CC_FAST_SEARCH_FAIL] == 0
    block_start = pageblock_start(prm, low_pfn)
    if block_start < st.zone_start[z]:
        block_start = st.zone_start[z]
    block_end = pageblock_start(prm, low_pfn) + prm.pageblock_nr_pages
    while block_end <= st.cc[c, CC_FREE_PFN]:
        if (low_pfn == pageblock_start(prm, low_pfn) or low_pfn == st.zone_start[z]) and \
                not fast_find_block and not isolation_suitable(st, prm, c, low_pfn):
            fast_find_block = False
            st.cc[c, CC_MIGRATE_PFN] = block_end
            low_pfn = block_end
            block_end += prm.pageblock_nr_pages
            continue
        if not suitable_migration_source(st, prm, c, low_pfn):
            update_cached_migrate(st, prm, c, block_end)
            fast_find_block = False
            st.cc[c, CC_MIGRATE_PFN] = block_end
            low_pfn = block_end
            block_end += prm.pageblock_nr_pages
            continue
        if isolate_migratepages_block(st, prm, own, c, low_pfn, block_end) < 0:
            return ISOLATE_ABORT
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
        # Set the pageblock if the isolated page is at least half of a
        # pageblock: move_freepages_block() retypes it and moves its other
        # free chunks (half a block's worth may be left) to MOVABLE's lists
        end = pfn + (1 << order)
        p = pfn
        while p < end:
            bmt = st.block_mt[p >> prm.pageblock_order]
            if bmt < MIGRATE_PCPTYPES and bmt != MIGRATE_MOVABLE:
                page_alloc.move_freepages_block(st, prm, z, p, bmt, MIGRATE_MOVABLE)
            p += prm.pageblock_nr_pages
    return True


@njit
def isolate_freepages_block(st, prm, c, start_pfn, end_pfn, stride):
    """isolate_freepages_block() (non-strict): isolate every free buddy met
    from ``start_pfn`` up to ``end_pfn``, stepping ``stride`` pfns, until as
    many free pages as isolated source pages are held.  Compound and other
    allocated chunks are stepped over whole.  Returns (the pfn reached,
    pages isolated)."""
    blockpfn = start_pfn
    nr_scanned = 0
    total_isolated = 0
    while blockpfn < end_pfn:
        nr_scanned += 1
        f = st.pg_flags[blockpfn]
        if f & PG_buddy:
            order = st.pg_order[blockpfn]
            if st.cc[c, CC_NR_FREE_CHUNKS] >= NR_CC_FREE:
                break     # MODEL: the isolated-free-page store is full
            if not __isolate_free_page(st, prm, blockpfn, order):
                break
            isolated = 1 << order
            st.cc_freepages[c, st.cc[c, CC_NR_FREE_CHUNKS]] = blockpfn
            st.pg_order[blockpfn] = order          # set_page_private(page, order)
            st.cc[c, CC_NR_FREE_CHUNKS] += 1
            nr_scanned += isolated - 1
            total_isolated += isolated
            st.cc[c, CC_NR_FREEPAGES] += isolated
            if st.cc[c, CC_NR_MIGRATEPAGES] <= st.cc[c, CC_NR_FREEPAGES]:
                blockpfn += isolated
                break
            blockpfn += isolated - 1 + stride
            continue
        if f & PG_head:
            # compound page: skip it at once, its pages counted scanned (a
            # chunk on a per-cpu list is not compound: its pages are stepped
            # over at the stride, each counted, as the kernel does)
            size = 1 << st.pg_order[blockpfn]
            if blockpfn + size <= end_pfn:
                blockpfn += size - 1
                nr_scanned += size - 1
        blockpfn += stride
    if blockpfn > end_pfn:
        blockpfn = end_pfn
    st.cc[c, CC_FREE_SCANNED] += nr_scanned
    st.cc[c, CC_ISOLATED] += total_isolated
    st.cc[c, CC_COST_NS] += nr_scanned * costs.cpu_ns(prm, costs.COMPACT_SCAN_PFN_NS)
    return blockpfn, total_isolated


@njit
def update_pageblock_skip(st, prm, c, block_pfn, pfn):
    """update_pageblock_skip(): mark the block skipped and lower
    compact_cached_free_pfn to ``pfn``."""
    st.block_skip[block_pfn >> prm.pageblock_order] = 1
    z = st.cc[c, CC_ZONE]
    if pfn < st.zone_compact[z, ZC_CACHED_FREE]:
        st.zone_compact[z, ZC_CACHED_FREE] = pfn


@njit
def fast_isolate_around(st, prm, c, pfn):
    """fast_isolate_around(): isolate the rest of the pageblock of a free page
    found by the fast search (not in direct async compaction), and skip-mark
    the block if it was scanned to its end."""
    if st.cc[c, CC_NR_FREEPAGES] >= st.cc[c, CC_NR_MIGRATEPAGES]:
        return
    if st.cc[c, CC_DIRECT] and st.cc[c, CC_MODE] == MIGRATE_ASYNC:
        return
    z = st.cc[c, CC_ZONE]
    start_pfn = max(pageblock_start(prm, pfn), st.zone_start[z])
    end_pfn = min(pageblock_start(prm, pfn) + prm.pageblock_nr_pages, st.zone_end[z])
    reached, _ = isolate_freepages_block(st, prm, c, start_pfn, end_pfn, 1)
    if reached == end_pfn:
        st.block_skip[start_pfn >> prm.pageblock_order] = 1


@njit(inline='always')
def freelist_scan_limit(st, c):
    """freelist_scan_limit(): (COMPACT_CLUSTER_MAX >> fast_search_fail) + 1."""
    return (COMPACT_CLUSTER_MAX >> min(63, st.cc[c, CC_FAST_SEARCH_FAIL])) + 1


@njit
def next_search_order(st, c, order):
    """next_search_order(): round-robin over orders below cc->order, starting
    at cc->search_order; -1 when the search wrapped around."""
    order -= 1
    if order < 0:
        order = st.cc[c, CC_ORDER] - 1
    if order == st.cc[c, CC_SEARCH_ORDER]:
        st.cc[c, CC_SEARCH_ORDER] -= 1
        if st.cc[c, CC_SEARCH_ORDER] < 0:
            st.cc[c, CC_SEARCH_ORDER] = st.cc[c, CC_ORDER] - 1
        return -1
    return order


@njit
def fast_isolate_freepages(st, prm, c):
    """fast_isolate_freepages(): search the MOVABLE free lists (orders below
    cc->order, from the tail) for a free page in the top quarter of the
    unscanned range, accepting the top half; isolate it and the rest of its
    block (fast_isolate_around).  Lowers compact_cached_free_pfn.  Returns
    the pfn the free scanner should continue from."""
    z = st.cc[c, CC_ZONE]
    pbn = prm.pageblock_nr_pages
    limit = max(1, freelist_scan_limit(st, c) >> 1)
    nr_scanned = 0
    highest = 0
    page = -1
    scan_start = False
    if st.cc[c, CC_ORDER] <= 0:
        return st.cc[c, CC_FREE_PFN]
    if st.cc[c, CC_FREE_PFN] >= st.zone_compact[z, ZC_INIT_FREE]:
        limit = pbn >> 1
        scan_start = True
    distance = st.cc[c, CC_FREE_PFN] - st.cc[c, CC_MIGRATE_PFN]
    low_pfn = pageblock_start(prm, st.cc[c, CC_FREE_PFN] - (distance >> 2))
    min_pfn = pageblock_start(prm, st.cc[c, CC_FREE_PFN] - (distance >> 1))
    if min_pfn > low_pfn:
        low_pfn = min_pfn
    st.cc[c, CC_SEARCH_ORDER] = min(st.cc[c, CC_ORDER] - 1, st.cc[c, CC_SEARCH_ORDER])
    order = st.cc[c, CC_SEARCH_ORDER]
    while page < 0 and order >= 0:
        if st.nr_free[z, order] == 0:
            order = next_search_order(st, c, order)
            continue
        lid = page_alloc.free_list_id(z, order, MIGRATE_MOVABLE)
        order_scanned = 0
        high_pfn = 0
        freepage = -1
        p = st.free_tail[lid]          # list_for_each_entry_reverse
        while p >= 0:
            order_scanned += 1
            nr_scanned += 1
            if p >= highest:
                highest = max(pageblock_start(prm, p), st.zone_start[z])
            if p >= low_pfn:
                st.cc[c, CC_FAST_SEARCH_FAIL] = 0
                st.cc[c, CC_SEARCH_ORDER] = order
                page = p
                freepage = p
                break
            if p >= min_pfn and p > high_pfn:
                high_pfn = p
                limit >>= 1            # shorten the scan if a candidate is found
            if order_scanned >= limit:
                freepage = p
                break
            p = st.pg_prev[p]
        # use a maximum candidate pfn if a preferred one was not found
        if page < 0 and high_pfn:
            page = high_pfn
            freepage = page
        if freepage >= 0:
            # reorder so that a future search skips recent pages
            page_alloc.move_freelist_head(st, st.free_head, st.free_tail, lid, freepage)
        if page >= 0:
            if st.cc[c, CC_NR_FREE_CHUNKS] < NR_CC_FREE and __isolate_free_page(st, prm, page, order):
                st.cc_freepages[c, st.cc[c, CC_NR_FREE_CHUNKS]] = page
                st.pg_order[page] = order
                st.cc[c, CC_NR_FREE_CHUNKS] += 1
                nr_scanned += (1 << order) - 1
                st.cc[c, CC_NR_FREEPAGES] += 1 << order
                st.cc[c, CC_ISOLATED] += 1 << order
            else:
                # if isolation fails, abort the search
                order = st.cc[c, CC_SEARCH_ORDER] + 1
                page = -1
        if st.cc[c, CC_NR_FREEPAGES] >= st.cc[c, CC_NR_MIGRATEPAGES]:
            break
        if order_scanned >= limit:
            limit = max(1, limit >> 1)
        if page >= 0:
            break
        order = next_search_order(st, c, order)
    if page < 0:
        st.cc[c, CC_FAST_SEARCH_FAIL] += 1
        if scan_start:
            # use the highest pfn found above min; if none, be pessimistic
            # for direct compaction and use the min mark
            if highest >= min_pfn:
                page = highest
                st.cc[c, CC_FREE_PFN] = highest
            elif st.cc[c, CC_DIRECT] and min_pfn >= st.zone_start[z]:
                if suitable_migration_target(st, prm, c, min_pfn):
                    page = min_pfn
                st.cc[c, CC_FREE_PFN] = min_pfn
    if highest and highest >= st.zone_compact[z, ZC_CACHED_FREE]:
        highest -= pbn
        st.zone_compact[z, ZC_CACHED_FREE] = highest
    st.cc[c, CC_FREE_SCANNED] += nr_scanned
    st.cc[c, CC_COST_NS] += nr_scanned * costs.cpu_ns(prm, costs.COMPACT_SCAN_PFN_NS)
    if page < 0:
        return st.cc[c, CC_FREE_PFN]
    fast_isolate_around(st, prm, c, page)
    return page


@njit
def isolate_freepages(st, prm, c):
    """isolate_freepages(): first fast_isolate_freepages(); if that found
    nothing, the linear free scanner from cc->free_pfn down to the block
    after the migrate scanner, over suitable, not skip-marked target blocks,
    with async's adaptive stride (32, 1 after a block that yielded pages,
    doubling per empty block), until enough free pages are isolated."""
    fast_isolate_freepages(st, prm, c)
    if st.cc[c, CC_NR_FREEPAGES]:
        return
    z = st.cc[c, CC_ZONE]
    pbn = prm.pageblock_nr_pages
    isolate_start_pfn = st.cc[c, CC_FREE_PFN]
    block_start_pfn = pageblock_start(prm, isolate_start_pfn)
    block_end_pfn = min(block_start_pfn + pbn, st.zone_end[z])
    low_pfn = pageblock_start(prm, st.cc[c, CC_MIGRATE_PFN]) + pbn
    stride = COMPACT_CLUSTER_MAX if st.cc[c, CC_MODE] == MIGRATE_ASYNC else 1
    while block_start_pfn >= low_pfn:
        if suitable_migration_target(st, prm, c, block_start_pfn) and \
                isolation_suitable(st, prm, c, block_start_pfn):
            isolate_start_pfn, nr_isolated = isolate_freepages_block(
                st, prm, c, isolate_start_pfn, block_end_pfn, stride)
            # update the skip hint if the full pageblock was scanned
            if isolate_start_pfn == block_end_pfn:
                update_pageblock_skip(st, prm, c, block_start_pfn, block_start_pfn - pbn)
            if st.cc[c, CC_NR_FREEPAGES] >= st.cc[c, CC_NR_MIGRATEPAGES]:
                if isolate_start_pfn >= block_end_pfn:
                    # restart at the previous pageblock next time
                    isolate_start_pfn = block_start_pfn - pbn
                break
            elif isolate_start_pfn < block_end_pfn:
                break      # isolation failed early: do not continue needlessly
            if nr_isolated:
                stride = 1
            else:
                stride = min(COMPACT_CLUSTER_MAX, stride << 1)
        block_end_pfn = block_start_pfn
        block_start_pfn -= pbn
        isolate_start_pfn = block_start_pfn
    st.cc[c, CC_FREE_PFN] = max(isolate_start_pfn, 0)


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
            # MODEL: the isolated-free store is full: the remainder goes back
            # to the buddy (the kernel keeps it on cc->freepages)
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
    kind = page_kind(st, src)
    flags = st.pg_flags[src]
    page_alloc.prep_new_page(st, dst, order, kind, h)
    st.pg_flags[dst] = flags
    vmscan.mem_cgroup_migrate(st, src, dst)
    if h >= 0:
        own.h_pfn[h] = dst
    vmscan.lruvec_add_folio(st, dst, False)
    # the source folio is freed (to the per-cpu list of the compacting cpu)
    page_alloc.free_frozen_pages(st, prm, cpu, src, order)
    return n


@njit
def migrate_isolated(st, prm, own, c):
    """migrate_pages(compaction_alloc, compaction_free, cc->mode) for the
    isolated folios.  Returns (folios not migrated, -ENOMEM seen).

    A folio fails (pgmigrate_fail, put back on its LRU):

    * under writeback, unless MIGRATE_SYNC (which waits for the write);
    * locked by another holder, in MIGRATE_ASYNC and for a PF_MEMALLOC
      (direct) compactor, which may not wait for a page lock; kcompactd's
      SYNC_LIGHT and manual SYNC wait for it;
    * with extra references, in every mode (-EAGAIN on each retry pass);
    * with no target page (-ENOMEM): the remaining folios are not tried; a
      large folio is split instead and the others are tried (its pieces
      are not migrated: a ``MODEL:`` difference, see the code).

    MODEL: a busy folio stays busy for the whole call (its holder outlasts
    the retry passes), so the 10 passes collapse into one decision; the
    checks come before the target page is taken (the kernel takes it first
    and gives it back through compaction_free()).
    """
    failed = 0
    enomem = False
    cpu = st.cc[c, CC_CPU]
    mode = st.cc[c, CC_MODE]
    direct = st.cc[c, CC_DIRECT]
    n = st.cc[c, CC_NR_MIGRATEPAGES]
    for i in range(n):
        src = st.cc_migratepages[c, i]
        order = st.pg_order[src]
        nr = 1 << order
        if enomem:
            vmscan.lruvec_add_folio(st, src, False)   # untried: putback_movable_pages()
            st.cc_migratepages[c, i] = -1
            continue
        # migrate_folio_unmap(): folio_trylock(), then the writeback check
        # MODEL: a busy folio is busy for all the retry passes (one decision)
        busy = False
        if migrate_folio_busy(st, src, MIGRATE_LOCKED_PPM):
            if mode == MIGRATE_ASYNC or direct:
                busy = True
            else:
                st.cc[c, CC_COST_NS] += MIGRATE_LOCK_WAIT_NS       # folio_lock()
        if not busy and (st.pg_flags[src] & PG_writeback):
            if mode != MIGRATE_SYNC:
                busy = True                                         # -EBUSY
            else:
                # folio_wait_writeback(): the write ends, then the folio moves
                wait = writeback_end_time(st, src) - st.clock[0]
                if wait > 0:
                    st.cc[c, CC_COST_NS] += wait
                st.pg_flags[src] &= ~(PG_writeback | PG_reclaim)
                st.vm_events[VM_NR_WRITTEN] += nr
        # folio_migrate_mapping(): the reference count must match the mappings
        if not busy and migrate_folio_busy(st, src, MIGRATE_EXTRA_REF_PPM):
            busy = True
        if busy:
            vmscan.lruvec_add_folio(st, src, False)   # putback
            failed += 1
            st.vm_events[VM_PGMIGRATE_FAIL] += nr
            st.cc[c, CC_COST_NS] += nr * costs.cpu_ns(prm, costs.MIGRATE_PAGE_NS)
            st.cc_migratepages[c, i] = -1
            continue
        dst = compaction_alloc(st, prm, c, order)
        if dst < 0:
            isolate_freepages(st, prm, c)
            dst = compaction_alloc(st, prm, c, order)
        if dst < 0:
            vmscan.lruvec_add_folio(st, src, False)   # putback
            failed += 1
            # -ENOMEM ends the call for a folio of one page; a large folio is
            # split instead (try_split_folio(), "Large folio NUMA faulting
            # doesn't split to retry") and the call goes on with the rest.
            # MODEL: the split pieces are not migrated: the model keeps a
            # folio whole (one owner handle), so it stays where it is
            if order == 0:
                enomem = True
            st.vm_events[VM_PGMIGRATE_FAIL] += nr
            st.cc_migratepages[c, i] = -1
            continue
        migrate_folio(st, prm, own, src, dst, order, cpu)
        st.vm_events[VM_PGMIGRATE_SUCCESS] += nr
        st.cc[c, CC_MIGRATED] += nr
        st.cc[c, CC_COST_NS] += nr * costs.cpu_ns(prm, costs.MIGRATE_PAGE_NS)
        st.cc_migratepages[c, i] = -1
    st.cc[c, CC_NR_MIGRATEPAGES] = 0
    return failed, enomem


@njit
def compaction_suit_allocation_order(st, prm, z, order, highest_zoneidx, alloc_flags, is_async,
                                     kcompactd):
    """compaction_suit_allocation_order(): COMPACT_SUCCESS if the watermark is
    already met (kcompactd under defrag_mode counts whole free pageblocks),
    COMPACT_SKIPPED if there is not enough free memory to compact into."""
    if kcompactd and prm.defrag_mode and prm.k_kcompactd_free_blocks_goal:   # a211c6550efc
        free_pages = st.zone_stat[z, NR_FREE_PAGES_BLOCKS]
    else:
        free_pages = st.zone_stat[z, NR_FREE_PAGES]
    watermark = wmark_pages(st, z, alloc_flags & 3)
    if __zone_watermark_ok(st, z, order, watermark, highest_zoneidx, alloc_flags, free_pages):
        return COMPACT_SUCCESS
    # MODEL: 6.14's form (low_wmark_pages() + compact_gap) for every baseline;
    # 67914ac08604 (v6.15-rc1) checks the request's watermark + compact_gap
    # instead.  Without CMA pageblocks (the model has none) both are implied
    # by compaction_suitable() below, which the same commit made add
    # low - min for costly orders: for a request at the min watermark both
    # forms skip exactly when __compaction_suitable() fails (tried as a
    # baseline switch: bit-identical on storm, kbuild-thp, thpchallenge).
    if order > PAGE_ALLOC_COSTLY_ORDER and is_async and (alloc_flags & ALLOC_CMA_FLAG) == 0:
        wm = st.watermark[z, WMARK_LOW] + compact_gap(prm, order)
        if not __zone_watermark_ok(st, z, 0, wm, highest_zoneidx, 0, st.zone_stat[z, NR_FREE_PAGES]):
            return COMPACT_SKIPPED
    if not compaction_suitable(st, prm, z, order, watermark, highest_zoneidx):
        return COMPACT_SKIPPED
    return COMPACT_CONTINUE


@njit
def __compact_finished(st, prm, c):
    """__compact_finished(): scanners met (COMPLETE/PARTIAL_SKIPPED); proactive
    passes stop at the low fragmentation-score mark (or when kswapd runs);
    manual compaction (order -1) runs on; finish the
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
    if st.cc[c, CC_PROACTIVE]:
        if kswapd_is_running(st):
            return COMPACT_PARTIAL_SKIPPED
        if fragmentation_score_zone(st, prm, z) > fragmentation_score_wmark(prm, True):
            return COMPACT_CONTINUE
        return COMPACT_SUCCESS
    order = st.cc[c, CC_ORDER]
    if order < 0:
        return COMPACT_CONTINUE       # is_via_compact_memory()
    if st.cc[c, CC_MIGRATE_PFN] != pageblock_start(prm, st.cc[c, CC_MIGRATE_PFN]):
        return COMPACT_CONTINUE
    if prm.defrag_mode and prm.k_kcompactd_free_blocks_goal and not st.cc[c, CC_DIRECT]:
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
def compact_scanners_met(st, prm, c):
    """compact_scanners_met(): the free scanner reached the migrate scanner's block."""
    return st.cc[c, CC_FREE_PFN] >> prm.pageblock_order <= st.cc[c, CC_MIGRATE_PFN] >> prm.pageblock_order


@njit
def compact_zone(st, prm, own, c):
    """compact_zone(): run the two scanners toward each other until the zone
    can satisfy the order, the scanners meet, or a page is captured.

    A pageblock whose migration partly failed is rescanned whole once
    (finish_pageblock) and then skip-marked; -ENOMEM from compaction_alloc
    before the scanners met ends the run as COMPACT_CONTENDED; the compacting
    cpu's per-cpu lists are drained when the migrate scanner leaves the
    order-aligned block it migrated from, so freed pages merge (and can be
    captured).  Emits mm_compaction_begin / mm_compaction_end.

    The body is split in three (model-only; a caller could run it a step at
    a time, which kcompactd does not, see :func:`run_kcompactd`):
    :func:`compact_zone_begin` (up to
    mm_compaction_begin), :func:`compact_zone_step` (one pass of the main
    loop: __compact_finished(), one isolate_migratepages() batch and its
    migration) and :func:`compact_zone_finish` (after the loop).  The loop's
    locals live in ``cc`` between steps.
    """
    ret = compact_zone_begin(st, prm, own, c)
    if ret != COMPACT_CONTINUE:
        return ret
    while ret == COMPACT_CONTINUE:
        ret = compact_zone_step(st, prm, own, c)
    return compact_zone_finish(st, prm, c, ret)


@njit
def compact_zone_begin(st, prm, own, c):
    """compact_zone() up to mm_compaction_begin: admission by
    compaction_suit_allocation_order(), the skip-bit reset of a restarting
    zone, the scanners' start pfns.  COMPACT_CONTINUE if the loop runs."""
    z = st.cc[c, CC_ZONE]
    order = st.cc[c, CC_ORDER]
    st.cc[c, CC_MIGRATETYPE] = gfp_migratetype(st.cc[c, CC_GFP])
    is_async = st.cc[c, CC_MODE] == MIGRATE_ASYNC
    if order >= 0:
        ret = compaction_suit_allocation_order(st, prm, z, order, st.cc[c, CC_HIGHEST_ZONEIDX],
                                               st.cc[c, CC_ALLOC_FLAGS], is_async,
                                               not st.cc[c, CC_DIRECT])
        if ret != COMPACT_CONTINUE:
            return ret
    # Clear pageblock skip if there were failures recently and compaction is
    # about to be retried after being deferred.
    if compaction_restarting(st, z, order):
        __reset_isolation_suitable(st, prm, z)
    start_pfn = st.zone_start[z]
    end_pfn = st.zone_end[z]
    sync = 0 if is_async else 1
    st.cc[c, CC_SEARCH_ORDER] = order if order > 0 else 0
    st.cc[c, CC_FAST_START_PFN] = 0
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
    # MODEL: no lru_add_drain(): folios are on their LRU list from the start
    st.cc[c, CC_UPDATE_CACHED] = 1 if is_async and st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] == \
        st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] else 0
    trace_compaction(st, CEV_BEGIN, z, order, st.cc[c, CC_MODE], 0, st.cc[c, CC_MIGRATE_PFN],
                     st.cc[c, CC_FREE_PFN], 0, 0, 0)
    st.cc[c, CC_LAST_MIGRATED_PFN] = 0
    return COMPACT_CONTINUE


@njit
def compact_zone_step(st, prm, own, c):
    """One pass of compact_zone()'s main loop: __compact_finished(), then one
    isolate_migratepages() batch, its migrate_pages(), the finish_pageblock
    rescan and the per-cpu drain.  Returns COMPACT_CONTINUE while the loop
    goes on, else the run's result."""
    z = st.cc[c, CC_ZONE]
    order = st.cc[c, CC_ORDER]
    if c == CC_DIRECT_IDX and st.cc[c, CC_DIRECT]:
        # MODEL: kswapd reclaims on another CPU meanwhile (see kswapd_alongside)
        vmscan.kswapd_alongside(st, prm, own, st.node[NODE_REQ_TIME] + st.cc[c, CC_COST_NS])
    ret = __compact_finished(st, prm, c)
    if ret == COMPACT_NO_SUITABLE_PAGE:
        ret = COMPACT_CONTINUE
    if ret != COMPACT_CONTINUE:
        return ret
    iteration_start_pfn = st.cc[c, CC_MIGRATE_PFN]
    # Avoid multiple rescans of the same pageblock: the first rescan
    # captures the entire pageblock; if that fails it is skip-marked.
    st.cc[c, CC_FINISH_PAGEBLOCK] = 0
    last = st.cc[c, CC_LAST_MIGRATED_PFN]
    if last and pageblock_start(prm, last) == pageblock_start(prm, iteration_start_pfn):
        st.cc[c, CC_FINISH_PAGEBLOCK] = 1
    while True:   # rescan:
        r = isolate_migratepages(st, prm, own, c)
        if r == ISOLATE_ABORT:
            # too_many_isolated() in an async pass
            return COMPACT_CONTENDED
        if r == ISOLATE_NONE:
            if st.cc[c, CC_MIGRATE_PFN] <= iteration_start_pfn and \
                    not compact_scanners_met(st, prm, c):
                # MODEL: guarantee progress (the kernel's scanner always
                # advances; here a free scanner that stopped mid-block can
                # leave the migrate scanner's loop empty)
                st.cc[c, CC_MIGRATE_PFN] = pageblock_start(prm, iteration_start_pfn) + \
                    prm.pageblock_nr_pages
            if st.cc[c, CC_UPDATE_CACHED]:
                st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = \
                    st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC]
            break
        st.cc[c, CC_UPDATE_CACHED] = 0
        st.cc[c, CC_LAST_MIGRATED_PFN] = max(st.zone_start[z],
                                             pageblock_start(prm, st.cc[c, CC_MIGRATE_PFN] - 1))
        failed, enomem = migrate_isolated(st, prm, own, c)
        if failed:
            # migrate_pages() may return -ENOMEM when the scanners meet
            if enomem and not compact_scanners_met(st, prm, c):
                return COMPACT_CONTENDED
            if st.cc[c, CC_MIGRATE_PFN] != pageblock_start(prm, st.cc[c, CC_MIGRATE_PFN]) and \
                    not st.cc[c, CC_IGNORE_SKIP_HINT] and not st.cc[c, CC_FINISH_PAGEBLOCK] and \
                    st.cc[c, CC_MODE] < MIGRATE_SYNC:
                st.cc[c, CC_FINISH_PAGEBLOCK] = 1
                # draining pcplists does not help THP if any page failed
                if order == prm.pageblock_order:
                    st.cc[c, CC_LAST_MIGRATED_PFN] = 0
                continue
        # stop if a page has been captured
        if st.capc[CAPC_ACTIVE] and st.capc[CAPC_PAGE] >= 0:
            return COMPACT_SUCCESS
        break
    # check_drain: has the migration scanner moved away from the
    # previous cc->order aligned block where we migrated from?  Then
    # flush this cpu's freed pages so they can merge (and be captured).
    last = st.cc[c, CC_LAST_MIGRATED_PFN]
    if order > 0 and last:
        cur = st.cc[c, CC_MIGRATE_PFN] & ~((1 << order) - 1)
        if last < cur:
            page_alloc.drain_pages_zone(st, prm, st.cc[c, CC_CPU], z)
            st.cc[c, CC_LAST_MIGRATED_PFN] = 0
            if st.capc[CAPC_ACTIVE] and st.capc[CAPC_PAGE] >= 0:
                return COMPACT_SUCCESS
    return COMPACT_CONTINUE


@njit
def compact_zone_finish(st, prm, c, ret):
    """compact_zone() after its loop: put back unmigrated folios, release the
    unused free pages (compact_cached_free_pfn moves up to them), count the
    scanned pages, emit mm_compaction_end.  Returns ``ret``."""
    z = st.cc[c, CC_ZONE]
    order = st.cc[c, CC_ORDER]
    if st.cc[c, CC_NR_MIGRATEPAGES]:
        putback_movable_pages(st, prm, c)
    hi = release_freepages(st, prm, c)
    # compact_cached_free_pfn only moves up here, to where unused free pages were
    if hi >= 0:
        pb = pageblock_start(prm, hi)
        if pb > st.zone_compact[z, ZC_CACHED_FREE]:
            st.zone_compact[z, ZC_CACHED_FREE] = pb
    ms = st.cc[c, CC_MIGRATE_SCANNED]
    fs = st.cc[c, CC_FREE_SCANNED]
    st.vm_events[VM_COMPACT_MIGRATE_SCANNED] += ms
    st.vm_events[VM_COMPACT_FREE_SCANNED] += fs
    st.vm_events[VM_COMPACT_ISOLATED] += st.cc[c, CC_ISOLATED]
    if c == CC_KCOMPACTD_IDX:
        st.vm_events[VM_COMPACT_DAEMON_MIGRATE_SCANNED] += ms
        st.vm_events[VM_COMPACT_DAEMON_FREE_SCANNED] += fs
    trace_compaction(st, CEV_END, z, order, st.cc[c, CC_MODE], ret, st.cc[c, CC_MIGRATE_PFN],
                     st.cc[c, CC_FREE_PFN], 0, 0, 0)
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
                       cpu):
    """compact_zone_order(): one zone, direct compaction at ``prio``.

    Before [PATCH 3/4] the capture_control lives on this function's stack
    (``current->capture_control`` set around compact_zone()); after it,
    __alloc_pages_direct_compact() owns it and this function only sets
    ``capc->cc`` while compact_zone() runs.  Either way a page can be
    captured only while this zone is compacted, so the two behave the same.
    """
    c = CC_DIRECT_IDX
    mode = MIGRATE_ASYNC if prio == COMPACT_PRIO_ASYNC else MIGRATE_SYNC_LIGHT
    prio_min = 1 if prio == MIN_COMPACT_PRIORITY else 0
    init_compact_control(st, c, z, order, gfp_mask, mode, alloc_flags, highest_zoneidx, 1,
                         prio_min, cpu)
    # capc->cc = &cc: the capture side reads the zone and migratetype from cc
    st.capc[CAPC_ZONE] = z
    st.capc[CAPC_MIGRATETYPE] = gfp_migratetype(gfp_mask)
    if not prm.patch4:
        st.capc[CAPC_ORDER] = order          # compaction_capture() compares cc->order
    if prm.patch3:
        st.capc[CAPC_CC] = 1                 # WRITE_ONCE(capc->cc, &cc)
    else:
        # struct capture_control capc = { .cc = &cc, .page = NULL };
        # WRITE_ONCE(current->capture_control, &capc);
        st.capc[CAPC_PAGE] = -1
        st.capc[CAPC_EXT_MT] = -1
        st.capc[CAPC_ACTIVE] = 1
    ret = compact_zone(st, prm, own, c)
    if prm.patch3:
        st.capc[CAPC_CC] = 0                 # WRITE_ONCE(capc->cc, NULL)
    else:
        st.capc[CAPC_ACTIVE] = 0             # WRITE_ONCE(current->capture_control, NULL)
    if st.capc[CAPC_PAGE] >= 0:
        ret = COMPACT_SUCCESS
    return ret


@njit
def try_to_compact_pages(st, prm, own, gfp_mask, order, alloc_flags, highest_zoneidx, prio,
                         cpu):
    """try_to_compact_pages(): direct compaction over the zonelist.

    Returns (compact_result, captured_pfn, cost_ns).  Before [PATCH 3/4]
    the captured page is handed back through ``*capture`` (each
    compact_zone_order() starts a new capture_control); after it, it is in the
    caller's capc.
    """
    if not prm.patch3:
        st.capc[CAPC_PAGE] = -1              # *capture = NULL until a zone captures
        st.capc[CAPC_EXT_MT] = -1
    if (gfp_mask & __GFP_IO) == 0:
        return COMPACT_SKIPPED, -1, 0
    trace_compaction(st, CEV_TRY, highest_zoneidx, order, prio, gfp_mask, 0, 0, 0, 0, 0)
    rc = COMPACT_SKIPPED
    cost = 0
    for z in range(highest_zoneidx, -1, -1):
        if st.zone_managed[z] == 0:
            continue
        if prio > MIN_COMPACT_PRIORITY and compaction_deferred(st, z, order):
            rc = max(rc, COMPACT_DEFERRED)
            continue
        status = compact_zone_order(st, prm, own, z, order, gfp_mask, prio, alloc_flags,
                                    highest_zoneidx, cpu)
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
def highest_populated_zone(st):
    """pgdat->nr_zones - 1."""
    for z in range(MAX_NR_ZONES - 1, -1, -1):
        if st.zone_managed[z]:
            return z
    return 0


@njit
def kcompactd_node_suitable(st, prm):
    """kcompactd_node_suitable(): some zone where compaction at the requested
    order is neither already satisfied nor unsuitable."""
    order = st.node[NODE_KCOMPACTD_MAX_ORDER]
    idx = st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX]
    alloc_flags = WMARK_HIGH if prm.defrag_mode and prm.k_kcompactd_free_blocks_goal else 0
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
    is suitable for compaction at the recorded order.  True if woken."""
    if st.node[NODE_KCOMPACTD_STATE] == KCOMPACTD_RUNNING:
        return False
    if not kcompactd_node_suitable(st, prm):
        return False
    st.node[NODE_KCOMPACTD_STATE] = KCOMPACTD_RUNNING
    if st.node[NODE_KCOMPACTD_TIME] < st.clock[0]:
        st.node[NODE_KCOMPACTD_TIME] = st.clock[0]
    return True


@njit
def kcompactd_do_work(st, prm, own):
    """kcompactd_do_work(): compact each eligible zone at the recorded order
    (SYNC_LIGHT, no capture, any source block); defer on failure.  Shares the
    deferral state with direct compaction.  A zone is checked at its own
    index (``zoneid``), then by compact_zone() at the request's highest
    zone index, whose lowmem reserve can refuse it.  Returns the cost in ns."""
    c = CC_KCOMPACTD_IDX
    order = st.node[NODE_KCOMPACTD_MAX_ORDER]
    idx = st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX]
    alloc_flags = WMARK_HIGH if prm.defrag_mode and prm.k_kcompactd_free_blocks_goal else 0
    trace_compaction(st, CEV_KCOMPACTD_WAKE, idx, order, 0, 0, 0, 0, 0, 0, 0)
    st.vm_events[VM_COMPACT_DAEMON_WAKE] += 1
    cost = 0
    for z in range(idx + 1):
        if st.zone_managed[z] == 0:
            continue
        if compaction_deferred(st, z, order):
            continue
        # the zone's own index here (no lowmem reserve for the zones above
        # it); compact_zone() checks again at cc->highest_zoneidx
        if compaction_suit_allocation_order(st, prm, z, order, z, alloc_flags, False,
                                            True) != COMPACT_CONTINUE:
            continue
        init_compact_control(st, c, z, order, GFP_KERNEL, MIGRATE_SYNC_LIGHT, alloc_flags, idx, 0,
                             0, 0)
        status = compact_zone(st, prm, own, c)
        cost += st.cc[c, CC_COST_NS]
        if status == COMPACT_SUCCESS:
            compaction_defer_reset(st, z, order, False)
        elif status == COMPACT_PARTIAL_SKIPPED or status == COMPACT_COMPLETE:
            # Buddy pages may become stranded on pcps that could otherwise
            # coalesce on the zone's free area for order >= cc->order.
            page_alloc.drain_all_pages(st, prm, z)
            defer_compaction(st, z, order)
    # clear the request if it was not raised meanwhile
    if st.node[NODE_KCOMPACTD_MAX_ORDER] <= order:
        st.node[NODE_KCOMPACTD_MAX_ORDER] = 0
    if st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX] >= idx:
        st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX] = highest_populated_zone(st)
    return max(cost, costs.cpu_ns(prm, costs.COMPACT_SCAN_PFN_NS))


@njit
def compact_node(st, prm, own, proactive, cpu):
    """compact_node(): compact every populated zone of the node, whole zone,
    skip hints ignored, no target order (-1).  Proactive passes (kcompactd)
    run MIGRATE_SYNC_LIGHT and stop at the low fragmentation-score mark;
    /proc/sys/vm/compact_memory runs MIGRATE_SYNC.  Returns the cost in ns."""
    c = CC_KCOMPACTD_IDX if proactive else CC_DIRECT_IDX
    mode = MIGRATE_SYNC_LIGHT if proactive else MIGRATE_SYNC
    cost = 0
    for z in range(MAX_NR_ZONES):
        if st.zone_managed[z] == 0:
            continue
        init_compact_control(st, c, z, -1, GFP_KERNEL, mode, 0, MAX_NR_ZONES - 1, 0, 0, cpu)
        st.cc[c, CC_IGNORE_SKIP_HINT] = 1
        st.cc[c, CC_WHOLE_ZONE] = 1
        st.cc[c, CC_PROACTIVE] = 1 if proactive else 0
        compact_zone(st, prm, own, c)
        cost += st.cc[c, CC_COST_NS]
    return cost


@njit
def run_kcompactd(st, prm, own, until):
    """Let kcompactd run up to ``until``: one kcompactd_do_work() per wakeup,
    charged to kcompactd's own clock (and to PSI: it runs in a memstall);
    between wakeups, every HPAGE_FRAG_CHECK_INTERVAL_MSEC (500 ms; x64 after
    a pass that did not lower the node's score) the wait times out: then
    kcompactd_do_work() if a request is pending (kcompactd_max_order), else
    the proactive check.
    Proactive passes are not a memstall."""
    st.node[NODE_CURRENT_KCOMPACTD] = 1
    # MODEL: a pass is one daemon step: the workload's ops and kswapd do not
    # run while kcompactd compacts (running it a compact_zone_step() at a
    # time moved the replays away from the kernel; README, Validation, stop 34)
    # terminates: a wakeup is served once, and every proactive check moves
    # the next one at least HPAGE_FRAG_CHECK_INTERVAL_NS further
    while True:
        if st.node[NODE_KCOMPACTD_STATE] == KCOMPACTD_RUNNING:
            if st.node[NODE_KCOMPACTD_TIME] > until:
                break
            cost = kcompactd_do_work(st, prm, own)
            st.node[NODE_KCOMPACTD_TIME] += costs.daemon_wall_ns(
                cost, prm.nr_cpus, prm.runnable_milli, 1 if kswapd_is_running(st) else 0)
            st.node[NODE_KCOMPACTD_BUSY_NS] += cost
            st.node[NODE_PSI_SOME_NS] += cost
            st.node[NODE_KCOMPACTD_STATE] = KCOMPACTD_SLEEPING
            # the timeout restarts after work
            st.node[NODE_PROACTIVE_NEXT] = st.node[NODE_KCOMPACTD_TIME] + \
                HPAGE_FRAG_CHECK_INTERVAL_NS
            continue
        if prm.compaction_proactiveness == 0 or st.node[NODE_PROACTIVE_NEXT] > until:
            break
        # the wait timed out
        if st.node[NODE_KCOMPACTD_TIME] < st.node[NODE_PROACTIVE_NEXT]:
            st.node[NODE_KCOMPACTD_TIME] = st.node[NODE_PROACTIVE_NEXT]
        if st.node[NODE_KCOMPACTD_MAX_ORDER] > 0:
            # wait_event_freezable_timeout() is true when its condition,
            # kcompactd_work_requested(), holds at the timeout: a request a
            # wakeup_kcompactd() recorded without waking kcompactd (the node
            # was not suitable then) is served now, by kcompactd_do_work()
            st.node[NODE_KCOMPACTD_STATE] = KCOMPACTD_RUNNING
            continue
        # proactive check
        timeout = HPAGE_FRAG_CHECK_INTERVAL_NS
        if should_proactive_compact_node(st, prm):
            prev_score = fragmentation_score_node(st, prm)
            cost = compact_node(st, prm, own, True, 0)
            st.node[NODE_KCOMPACTD_TIME] += costs.daemon_wall_ns(
                cost, prm.nr_cpus, prm.runnable_milli, 1 if kswapd_is_running(st) else 0)
            st.node[NODE_KCOMPACTD_BUSY_NS] += cost
            st.node[NODE_KCOMPACTD_PROACTIVE_NS] += cost
            if fragmentation_score_node(st, prm) >= prev_score:
                timeout = HPAGE_FRAG_CHECK_INTERVAL_NS << COMPACT_MAX_DEFER_SHIFT
        st.node[NODE_PROACTIVE_NEXT] = st.node[NODE_KCOMPACTD_TIME] + timeout
    st.node[NODE_CURRENT_KCOMPACTD] = 0


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
    trace_defer(st, CEV_DEFER_COMPACTION, z, order)


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
    trace_defer(st, CEV_DEFERRED, z, order)
    return True


@njit
def compaction_defer_reset(st, z, order, alloc_success):
    """compaction_defer_reset()."""
    if alloc_success:
        st.compact_defer[z, DEFER_CONSIDERED] = 0
        st.compact_defer[z, DEFER_SHIFT] = 0
    if order >= st.compact_defer[z, DEFER_ORDER_FAILED]:
        st.compact_defer[z, DEFER_ORDER_FAILED] = order + 1
    trace_defer(st, CEV_DEFER_RESET, z, order)


@njit
def compaction_restarting(st, z, order):
    """compaction_restarting()."""
    if order < st.compact_defer[z, DEFER_ORDER_FAILED]:
        return False
    return st.compact_defer[z, DEFER_SHIFT] == COMPACT_MAX_DEFER_SHIFT and \
        st.compact_defer[z, DEFER_CONSIDERED] >= (1 << COMPACT_MAX_DEFER_SHIFT)


from . import page_alloc, vmscan  # noqa: E402
