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
from .state import NODE_KCOMPACTD_MAX_ORDER

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
def try_to_compact_pages(st, prm, own, gfp_mask, order, alloc_flags, highest_zoneidx, prio,
                         capture_order):
    """try_to_compact_pages(): direct compaction over the zonelist.

    Returns (compact_result, captured_pfn, cost_ns).

    MODEL: compaction's scanners, migration and capture are not in this model
    version.  The admission check is real: a zone that fails
    compaction_suitable() gives COMPACT_SKIPPED, as in the kernel.  A zone
    that would be compacted reports COMPACT_DEFERRED, the outcome the kernel
    has when compaction is deferred: no compact_stall is counted, and
    should_compact_retry() escalates the priority and then gives up.
    """
    rc = COMPACT_SKIPPED
    for z in range(highest_zoneidx, -1, -1):
        if st.zone_managed[z] == 0:
            continue
        mark = wmark_pages(st, z, alloc_flags & 3)
        if __zone_watermark_ok(st, z, order, mark, highest_zoneidx, alloc_flags,
                               st.zone_stat[z, NR_FREE_PAGES]):
            continue
        if compaction_suitable(st, prm, z, order, mark, highest_zoneidx):
            rc = max(rc, COMPACT_DEFERRED)
    return rc, -1, 0


@njit
def reset_isolation_suitable(st, prm):
    """reset_isolation_suitable(): clear skip hints (no skip bits yet)."""
    return


@njit
def kcompactd_wake(st, prm):
    """wakeup_kcompactd()'s wake: kcompactd does no work in this model version
    (the order it was asked for stays recorded in NODE_KCOMPACTD_MAX_ORDER)."""
    return


@njit
def run_kcompactd(st, prm, own, until):
    """Let kcompactd run up to ``until`` (no work in this model version)."""
    return



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


from . import vmscan  # noqa: E402
