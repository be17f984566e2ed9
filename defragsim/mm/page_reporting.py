"""Mirror of mm/page_reporting.c: free page reporting (CONFIG_PAGE_REPORTING).

A guest kernel with a free-page-reporting device (virtio-balloon) tells the
hypervisor which free chunks of ``page_reporting_order`` or more it may take
back.  Freeing such a chunk (``__free_one_page()`` ->
``page_reporting_notify_free()``) requests a pass, run ``PAGE_REPORTING_DELAY``
(2 s) later by a worker.  The pass walks each zone (above its low watermark
plus a report's worth of pages) from the reporting order up, every free list
but MIGRATE_ISOLATE's: unreported chunks are taken off the free lists
(``__isolate_free_page()``, which retypes whole-block chunks to MOVABLE) into
a scatterlist of ``PAGE_REPORTING_CAPACITY`` (32); a full list is reported,
the chunks are **off the free lists while the device reports them**, then go
back (``__putback_isolated_page()``) marked PageReported, which later passes
skip.  Each list gets ``DIV_ROUND_UP(nr_free, 32 * 16)`` reports per pass; a
list it cannot finish asks for another pass.

The worker runs on its own clock between the workload's ops
(:func:`page_reporting_run`, from ``run_daemons``).  Counters (model
diagnostics): ``page_reporting_reports``, ``page_reporting_pages``.

MODEL: the report's duration is :data:`costs.PAGE_REPORT_NS` plus
:data:`costs.PAGE_REPORT_PAGE_NS` per page (an estimate: the hypervisor's
madvise of the guest's memory); a reported chunk costs nothing when it is
allocated again (the hypervisor's refault of it is not modelled).
"""
from __future__ import annotations

from . import costs
from .._jit import kernel as njit
from ..constants import (
    ALLOC_CMA, MAX_NR_ZONES, MIGRATE_ISOLATE, MIGRATE_TYPES, NR_FREE_PAGES, NR_PAGE_ORDERS,
    PAGE_REPORTING_CAPACITY, PG_buddy, PG_reported, WMARK_LOW,
)
from .state import (
    DIAG_PAGE_REPORTING_PAGES, DIAG_PAGE_REPORTING_REPORTS, NODE_PR_BUDGET, NODE_PR_HOLD_UNTIL,
    NODE_PR_LIST, NODE_PR_NEXT_WORK, NODE_PR_NOTIFY_OFF, NODE_PR_OFFSET, NODE_PR_SKIP_CYCLE,
    NODE_PR_STATE, NODE_PR_TIME,
)

#: enum { PAGE_REPORTING_IDLE, PAGE_REPORTING_REQUESTED, PAGE_REPORTING_ACTIVE }
PAGE_REPORTING_IDLE = 0
PAGE_REPORTING_REQUESTED = 1
PAGE_REPORTING_ACTIVE = 2
#: PAGE_REPORTING_DELAY: 2 * HZ
PAGE_REPORTING_DELAY_NS = 2_000_000_000


@njit
def __page_reporting_request(st, now):
    """__page_reporting_request(): mark a pass requested; if the worker was
    idle, schedule it PAGE_REPORTING_DELAY from now."""
    state = st.node[NODE_PR_STATE]
    if state == PAGE_REPORTING_REQUESTED:
        return
    st.node[NODE_PR_STATE] = PAGE_REPORTING_REQUESTED
    if state != PAGE_REPORTING_IDLE:
        return
    st.node[NODE_PR_NEXT_WORK] = now + PAGE_REPORTING_DELAY_NS


@njit(inline='always')
def page_reporting_notify_free(st, prm, order):
    """page_reporting_notify_free(), from __free_one_page(): a chunk of the
    reporting order or more was freed (not the reporter's own putback:
    FPI_SKIP_REPORT_NOTIFY)."""
    if prm.page_reporting_order >= 0 and order >= prm.page_reporting_order and \
            not st.node[NODE_PR_NOTIFY_OFF]:
        __page_reporting_request(st, st.clock[0])


@njit
def page_reporting_drain(st, prm):
    """page_reporting_drain(): the reported chunks go back to their free
    lists (__putback_isolated_page(), without notifying); one that did not
    merge with a buddy is marked PageReported."""
    st.node[NODE_PR_NOTIFY_OFF] = 1
    for i in range(st.node[NODE_PR_OFFSET]):
        pfn = st.pr_sgl[i]
        order = st.pr_order[i]
        mt = st.block_mt[pfn >> prm.pageblock_order]
        page_alloc.__free_one_page(st, prm, pfn, page_alloc.page_zonenum(st, pfn), order, mt,
                                   False)
        if (st.pg_flags[pfn] & PG_buddy) and st.pg_order[pfn] == order:
            st.pg_flags[pfn] |= PG_reported
        st.pr_sgl[i] = -1
    st.node[NODE_PR_NOTIFY_OFF] = 0
    st.node[NODE_PR_OFFSET] = 0


@njit
def page_reporting_start_reported(st, prm):
    """A replay's start: every free chunk of the reporting order or more is
    PageReported and the worker is idle (the pass the prefill's frees asked
    for is dropped).  MODEL: the machine's free chunks at its snapshot had
    been reported, each within PAGE_REPORTING_DELAY of its free (those freed
    in the last 2 s before the snapshot had not; the snapshot cannot say
    which); started unreported, a 5 s replay of an idle machine (22 GB free)
    reported 2.3 GB 2 s in, against the kernel's 16 MB."""
    if prm.page_reporting_order < 0:
        return
    # MODEL: the snapshot's free chunks were reported before the trace (see above)
    pfn = 0
    n = st.pg_flags.shape[0]
    while pfn < n:
        if st.pg_flags[pfn] & PG_buddy:
            order = st.pg_order[pfn]
            if order >= prm.page_reporting_order:
                st.pg_flags[pfn] |= PG_reported
            pfn += 1 << order
        else:
            pfn += 1
    if st.node[NODE_PR_LIST] == -2 and st.node[NODE_PR_STATE] == PAGE_REPORTING_REQUESTED:
        st.node[NODE_PR_STATE] = PAGE_REPORTING_IDLE
        st.node[NODE_PR_NEXT_WORK] = -1


@njit
def start_report(st):
    """prdev->report(): the device reports the scatterlist; the chunks stay
    isolated until it is done."""
    n = 0
    for i in range(st.node[NODE_PR_OFFSET]):
        n += 1 << st.pr_order[i]
    st.node[NODE_PR_HOLD_UNTIL] = st.node[NODE_PR_TIME] + costs.PAGE_REPORT_NS + \
        n * costs.PAGE_REPORT_PAGE_NS
    st.diag[DIAG_PAGE_REPORTING_REPORTS] += 1
    st.diag[DIAG_PAGE_REPORTING_PAGES] += n


@njit
def zone_may_report(st, prm, z):
    """page_reporting_process_zone()'s check: the zone stays above its low
    watermark plus a whole report of the reporting order."""
    watermark = st.watermark[z, WMARK_LOW] + \
        (PAGE_REPORTING_CAPACITY << prm.page_reporting_order)
    return page_alloc.__zone_watermark_ok(st, z, 0, watermark, 0, ALLOC_CMA,
                                          st.zone_stat[z, NR_FREE_PAGES])


@njit
def page_reporting_cycle(st, prm, z, order, mt):
    """page_reporting_cycle() on one free list from its head, as far as it
    gets before a report must be made.  Returns True when the list is done
    (nothing unreported left, or its budget spent), False when a report was
    started (the walk resumes at the list's head after it)."""
    lid = page_alloc.free_list_id(z, order, mt)
    pfn = st.free_head[lid]
    while pfn >= 0:
        nxt = st.pg_next[pfn]
        if st.pg_flags[pfn] & PG_reported:
            pfn = nxt
            continue
        if st.node[NODE_PR_BUDGET] < 0:
            # budget spent: ask for another pass, rotate the rest to the front
            st.node[NODE_PR_STATE] = PAGE_REPORTING_REQUESTED
            page_alloc.move_freelist_head(st, st.free_head, st.free_tail, lid, pfn)
            return True
        if st.node[NODE_PR_OFFSET] < PAGE_REPORTING_CAPACITY:
            if not compaction.__isolate_free_page(st, prm, pfn, order):
                page_alloc.move_freelist_head(st, st.free_head, st.free_tail, lid, pfn)
                return True
            k = st.node[NODE_PR_OFFSET]
            st.pr_sgl[k] = pfn
            st.pr_order[k] = order
            st.node[NODE_PR_OFFSET] = k + 1
            pfn = nxt
            continue
        # the scatterlist is full and another unreported chunk waits: make it
        # the list's head and report
        page_alloc.move_freelist_head(st, st.free_head, st.free_tail, lid, pfn)
        st.node[NODE_PR_BUDGET] -= 1
        start_report(st)
        return False
    return True


@njit
def page_reporting_run(st, prm, until):
    """The delayed work, page_reporting_process(), up to time ``until``: a
    pass starts when it is due and goes list by list (zone, order from the
    reporting order up, migratetype), pausing while a report is in flight;
    each zone's leftover chunks are reported when its lists are done."""
    if prm.page_reporting_order < 0:
        return
    per_zone = NR_PAGE_ORDERS * MIGRATE_TYPES
    nlists = MAX_NR_ZONES * per_zone
    for _ in range(1_000_000):
        if st.node[NODE_PR_LIST] == -2:          # no pass running
            due = st.node[NODE_PR_NEXT_WORK]
            if due < 0 or due > until:
                return
            # page_reporting_process(): state = ACTIVE, from the first list
            st.node[NODE_PR_NEXT_WORK] = -1
            st.node[NODE_PR_STATE] = PAGE_REPORTING_ACTIVE
            st.node[NODE_PR_TIME] = due
            st.node[NODE_PR_LIST] = -1
            st.node[NODE_PR_OFFSET] = 0
            st.node[NODE_PR_SKIP_CYCLE] = 0
        hold = st.node[NODE_PR_HOLD_UNTIL]
        if hold > 0:
            if hold > until:
                return
            st.node[NODE_PR_TIME] = hold
            st.node[NODE_PR_HOLD_UNTIL] = 0
            page_reporting_drain(st, prm)
        # the list being walked: (zone, order, mt) in one number
        li = st.node[NODE_PR_LIST]
        if 0 <= li < nlists and not st.node[NODE_PR_SKIP_CYCLE]:
            if not page_reporting_cycle(st, prm, li // per_zone, (li // MIGRATE_TYPES)
                                        % NR_PAGE_ORDERS, li % MIGRATE_TYPES):
                continue                       # a report in flight
        st.node[NODE_PR_SKIP_CYCLE] = 0
        # the next list; a new zone is checked against its watermark
        zold = li // per_zone if li >= 0 else -1
        li += 1
        while li < nlists:
            z = li // per_zone
            order = (li // MIGRATE_TYPES) % NR_PAGE_ORDERS
            mt = li % MIGRATE_TYPES
            if order < prm.page_reporting_order:
                li = (z * NR_PAGE_ORDERS + prm.page_reporting_order) * MIGRATE_TYPES
                if st.zone_end[z] <= st.zone_start[z] or not zone_may_report(st, prm, z):
                    li = (z + 1) * per_zone
                continue
            if mt == MIGRATE_ISOLATE or st.free_head[page_alloc.free_list_id(z, order, mt)] < 0:
                li += 1
                continue
            break
        znew = li // per_zone if li < nlists else MAX_NR_ZONES
        if znew != zold and zold >= 0 and st.node[NODE_PR_OFFSET] > 0:
            # page_reporting_process_zone(): report the leftover chunks of the
            # zone just walked, then go on from where the walk stopped
            st.node[NODE_PR_LIST] = zold * per_zone + per_zone - 1
            st.node[NODE_PR_SKIP_CYCLE] = 1
            start_report(st)
            continue
        if li >= nlists:
            # the pass is over: idle, or another pass 2 s later if requested
            if st.node[NODE_PR_STATE] == PAGE_REPORTING_ACTIVE:
                st.node[NODE_PR_STATE] = PAGE_REPORTING_IDLE
            else:
                st.node[NODE_PR_NEXT_WORK] = st.node[NODE_PR_TIME] + PAGE_REPORTING_DELAY_NS
            st.node[NODE_PR_LIST] = -2
            continue
        st.node[NODE_PR_LIST] = li
        # budget = DIV_ROUND_UP(area->nr_free, PAGE_REPORTING_CAPACITY * 16)
        cap = PAGE_REPORTING_CAPACITY * 16
        st.node[NODE_PR_BUDGET] = (st.nr_free[li // per_zone, (li // MIGRATE_TYPES)
                                               % NR_PAGE_ORDERS] + cap - 1) // cap


@njit
def page_reporting_due(st, prm, until):
    """The worker has something to do by ``until``."""
    if prm.page_reporting_order < 0:
        return False
    if st.node[NODE_PR_LIST] == -2:
        return 0 <= st.node[NODE_PR_NEXT_WORK] <= until
    return st.node[NODE_PR_HOLD_UNTIL] <= until


from . import compaction, page_alloc  # noqa: E402  (kernels resolve them at compile time)
