"""Mirror of mm/vmscan.c (classic active/inactive LRU; v6.18) plus the
workingset and swap paths reclaim needs, and kswapd.

What reclaim frees is exact in placement: it frees the individual folios it
picks from the LRU tails, wherever in physical memory they sit, so free
pages appear scattered through the blocks their owners live in (spec
compaction-reclaim 3.6).  Whole free pageblocks only appear when every used
page of a block happens to be reclaimed.

kswapd runs concurrently with the workload on its own clock
(``node[NODE_KSWAPD_TIME]``): :func:`run_daemons` lets it take
``balance_pgdat`` steps, each costing simulated time from
:mod:`defragsim.costs`, until it has caught up with the caller's time.  Its
throughput therefore follows from the cost model.

MODEL differences (also marked at the code):

* one lruvec per memcg (State.memcg_lru_size; the node's sizes are the
  sums, and LRU sizes are also kept per zone for ``zone_reclaimable_pages``);
  reclaim walks the memcgs as shrink_node_memcgs() does, but without
  memory.min/low protection or memcg limits (global reclaim only), with the
  anon/file balance and refault state of the node, and with the list_lru's
  slab objects charged to the root;
* MGLRU is not modelled (classic LRU only);
* dirty file folios met by reclaim are marked PG_reclaim and activated, and
  the flusher writes them (``folio_start_writeback``: the write takes the
  disk's time, shared with swap-out); when the write ends the folio is
  rotated to the inactive tail (``folio_end_writeback``).  The flusher writes
  only what reclaim found dirty: no dirty_expire / dirty_background writeback
  of folios reclaim has not met;
* swap-out frees the folio at once (as with zswap); the device write is
  charged to the swap device's busy time, not to the reclaimer;
* slab objects of shrinkable caches (dentries, inodes) are on one list_lru
  that one shrinker scans object by object (:mod:`defragsim.mm.slub`); a
  workload that allocates reclaimable slab by the page (a scenario, a trace
  replay) has those pages on ``LRU_SLAB``, one page one object; a replay's
  are freed by its trace, not by the shrinker (``Params.shrink_page_slab``).
"""
from __future__ import annotations

import math

import numpy as np

from . import costs
from .._jit import kernel as njit
from ..constants import (
    KSWAPD_FREE_BLOCKS_EVERY_ORDER, KSWAPD_FREE_BLOCKS_HIGH_ORDER, PAGE_SHIFT,
    DEF_PRIORITY, H_EVICTED, H_SWAPPED, KIND_ANON, KIND_FILE,
    KIND_SLAB_RECLAIMABLE, LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_ANON,
    LRU_INACTIVE_FILE, LRU_SLAB, MAX_NR_ZONES, NR_LRU_LISTS, MAX_RECLAIM_RETRIES, NR_FREE_PAGES,
    NR_FREE_PAGES_BLOCKS, PAGE_ALLOC_COSTLY_ORDER, PG_active, PG_dirty, PG_lru, PG_pinned, PG_reclaim,
    PG_referenced, PG_workingset, PG_writeback, PG_young, SWAP_CLUSTER_MAX, VM_ALLOCSTALL_DMA32,
    VM_KSWAPD_HIGH_WMARK_HIT_QUICKLY, VM_KSWAPD_LOW_WMARK_HIT_QUICKLY, VM_PAGEOUTRUN,
    VM_PGACTIVATE, VM_PGDEACTIVATE, VM_PGSCAN_ANON, VM_PGSCAN_DIRECT, VM_PGSCAN_FILE,
    VM_PGSCAN_KSWAPD, VM_PGSTEAL_ANON, VM_PGSTEAL_DIRECT, VM_PGSTEAL_FILE, VM_PGSTEAL_KSWAPD,
    VM_NR_VMSCAN_IMMEDIATE_RECLAIM, VM_NR_WRITTEN, VM_PSWPOUT, VM_SLABS_SCANNED, WMARK_HIGH,
    WMARK_MIN, ZONE_RECLAIM_ACTIVE,
)
from ..gfp import __GFP_DIRECT_RECLAIM, __GFP_IO, __GFP_MOVABLE
from .page_alloc import (
    __zone_watermark_ok, free_frozen_pages, list_add, list_add_tail, list_del, page_kind,
    page_zonenum, wmark_pages,
)
from .state import (
    CAPC_ACTIVE, CEV_KSWAPD_SLEEP, CEV_KSWAPD_WAKE, CEV_WAKEUP_KCOMPACTD, KSWAPD_NAPPING,
    KSWAPD_RUNNING, KSWAPD_SLEEPING, NODE_ANON_COST, NODE_BP_ALLOC_ORDER, NODE_REQ_TIME,
    NODE_BP_BOOSTED, NODE_BP_NR_BOOST, NODE_BP_OUT_BALANCED, NODE_BP_ZONE_BOOST, NODE_FILE_COST,
    NODE_KCOMPACTD_HIGHEST_ZONEIDX,
    NODE_KCOMPACTD_MAX_ORDER, NODE_KSWAPD_BUSY_NS, NODE_KSWAPD_FAILURES,
    NODE_KSWAPD_HIGHEST_ZONEIDX, NODE_KSWAPD_ORDER, NODE_KSWAPD_STARTING, NODE_KSWAPD_STATE,
    NODE_KSWAPD_TIME,
    NODE_KSWAPD_ROUND_STEAL, NODE_KSWAPD_WAKES, NODE_MEMCG_CHARGE, NODE_MEMCG_ITER_POS,
    SC_MEMCG_FULL_WALK, NODE_KSWAPD_WAKE_FLAG, NODE_KCOMPACTD_STATE, NODE_KCOMPACTD_TIME,
    NODE_PROACTIVE_NEXT,
    NODE_LAST_REFAULTS_ANON, NODE_LAST_REFAULTS_FILE, NODE_NAP_UNTIL,
    NODE_NAP_WOKEN, NODE_NONRESIDENT_AGE, NODE_PSI_SOME_NS, NODE_REFAULTS_ANON,
    NODE_REFAULTS_FILE, NODE_SWAP_IO_BUSY_UNTIL, NODE_SWAP_TOTAL, NODE_SWAP_USED,
    NODE_OBJ_LRU_COUNT, NODE_SHRINK_NR_DEFERRED, NODE_WB_COUNT, NODE_WB_HEAD, SC_CACHE_TRIM,
    WB_END, WB_HANDLE, WB_PFN,
    SC_COMPACTION_READY, SC_COST_NS, SC_CPU, SC_DIRECT, SC_FILE_IS_TINY, SC_GFP, SC_IS_KSWAPD,
    SC_KSWAPD, SC_MAY_DEACTIVATE_ANON, SC_MAY_DEACTIVATE_FILE, SC_MAY_SWAP, SC_MAY_WRITEPAGE,
    SC_NR_RECLAIMED, SC_NR_SCANNED, SC_NR_TO_RECLAIM, SC_ORDER, SC_PRIORITY, SC_RECLAIM_IDX,
    DIAG_KSWAPD_IDLE_ROUNDS, DIAG_KSWAPD_ROUNDS, DIAG_KSWAPD_WAKEUPS,
)


# ---------------------------------------------------------------------------
# LRU lists (include/linux/mm_inline.h)
# ---------------------------------------------------------------------------


@njit(inline='always')
def folio_lru_list(st, pfn):
    """folio_lru_list(): which list a folio belongs on."""
    kind = page_kind(st, pfn)
    active = (st.pg_flags[pfn] & PG_active) != 0
    if kind == KIND_ANON:
        return LRU_ACTIVE_ANON if active else LRU_INACTIVE_ANON
    if kind == KIND_FILE:
        return LRU_ACTIVE_FILE if active else LRU_INACTIVE_FILE
    return LRU_SLAB


@njit(inline='always')
def is_lru_kind(kind):
    return kind == KIND_ANON or kind == KIND_FILE or kind == KIND_SLAB_RECLAIMABLE


@njit(inline='always')
def lru_list_id(memcg, lru):
    """The flat index of ``mem_cgroup_lruvec(memcg)->lists[lru]`` in
    State.lru_head / lru_tail."""
    return memcg * NR_LRU_LISTS + lru


@njit(inline='always')
def folio_memcg(st, pfn):
    """folio_memcg(): the memcg the folio is charged to (the root when the
    state has one memcg: State.pg_memcg then holds one entry)."""
    if st.pg_memcg.shape[0] > 1:
        return np.int64(st.pg_memcg[pfn])
    return np.int64(0)


@njit(fastpath=True)   # __always_inline in mm_inline.h
def lruvec_add_folio(st, pfn, tail):
    """lruvec_add_folio() / lruvec_add_folio_tail() on the folio's memcg's
    lruvec (folio_lruvec())."""
    lru = folio_lru_list(st, pfn)
    m = folio_memcg(st, pfn)
    if tail:
        list_add_tail(st, st.lru_head, st.lru_tail, lru_list_id(m, lru), pfn)
    else:
        list_add(st, st.lru_head, st.lru_tail, lru_list_id(m, lru), pfn)
    n = 1 << st.pg_order[pfn]
    st.lru_size[lru] += n
    st.lru_zone_size[page_zonenum(st, pfn), lru] += n
    st.memcg_lru_size[m, lru] += n


@njit(fastpath=True)   # __always_inline in mm_inline.h
def lruvec_del_folio(st, pfn):
    """lruvec_del_folio()."""
    lru = folio_lru_list(st, pfn)
    m = folio_memcg(st, pfn)
    list_del(st, st.lru_head, st.lru_tail, lru_list_id(m, lru), pfn)
    n = 1 << st.pg_order[pfn]
    st.lru_size[lru] -= n
    st.lru_zone_size[page_zonenum(st, pfn), lru] -= n
    st.memcg_lru_size[m, lru] -= n


@njit(inline='always')
def mem_cgroup_charge(st, pfn):
    """mem_cgroup_charge(): a new folio is charged to the workload's memcg
    (``NODE_MEMCG_CHARGE``; the root unless a replay says otherwise)."""
    if st.pg_memcg.shape[0] > 1:
        st.pg_memcg[pfn] = st.node[NODE_MEMCG_CHARGE]


@njit(inline='always')
def mem_cgroup_migrate(st, old, new):
    """mem_cgroup_migrate(): the new folio of a migration is charged where
    the old one was."""
    if st.pg_memcg.shape[0] > 1:
        st.pg_memcg[new] = st.pg_memcg[old]


@njit
def mem_cgroup_spread_lru(st, weights, charge, assigned):
    """MODEL (no kernel function): a replay's initial LRU folios, which the
    prefill charged to the root, are spread over the memcgs, each list in
    proportion to ``weights[:, lru]`` (pages on that list per memcg:
    kswapd's first walk in the trace) and in its LRU order (the memcg
    furthest behind its share takes the next folio), and new folios are
    charged to memcg ``charge``.  Reclaimable slab stays with the root.
    ``assigned``: float64 scratch, one per memcg."""
    # MODEL: a replay's start; which memcg each machine folio was charged to is unknown
    nr = weights.shape[0]
    st.node[NODE_MEMCG_CHARGE] = charge
    if nr < 2:
        return
    for lru in range(4):
        total_w = 0
        for m in range(nr):
            total_w += weights[m, lru]
        if total_w <= 0:
            continue
        assigned[:] = 0.0
        done = 0
        pfn = st.lru_head[lru_list_id(0, lru)]
        while pfn >= 0:
            nxt = st.pg_next[pfn]
            n = 1 << st.pg_order[pfn]
            done += n
            best = 0
            best_gap = -1e300
            for m in range(nr):
                gap = weights[m, lru] * done / total_w - assigned[m]
                if gap > best_gap:
                    best, best_gap = m, gap
            assigned[best] += n
            if best != 0:
                lruvec_del_folio(st, pfn)
                st.pg_memcg[pfn] = best
                lruvec_add_folio(st, pfn, True)
            pfn = nxt


@njit
def folio_add_lru(st, pfn, active):
    """folio_add_lru(): new folios start on the inactive list (or active after
    a workingset refault)."""
    if active:
        st.pg_flags[pfn] |= PG_active
    lruvec_add_folio(st, pfn, False)


@njit
def mark_page_accessed(st, pfn):
    """folio_mark_accessed(): inactive,unreferenced -> referenced;
    inactive,referenced -> active; active,unreferenced -> referenced."""
    f = st.pg_flags[pfn]
    if (f & PG_lru) == 0:
        return
    if (f & PG_active) == 0 and (f & PG_referenced) != 0:
        lruvec_del_folio(st, pfn)
        st.pg_flags[pfn] = (f | PG_active) & ~PG_referenced
        lruvec_add_folio(st, pfn, False)
        st.vm_events[VM_PGACTIVATE] += 1 << st.pg_order[pfn]
    elif (f & PG_referenced) == 0:
        st.pg_flags[pfn] = f | PG_referenced


@njit(inline='always')
def inactive_ratio_of(pages):
    gb = pages >> (30 - PAGE_SHIFT)     # GiB
    if gb:
        return int(math.sqrt(10.0 * gb))
    return 1


@njit
def inactive_is_low(st, memcg, inactive_lru):
    """inactive_is_low(): inactive * sqrt(10 * GB) < active, on a memcg's
    lruvec, or on the node's (the target lruvec of global reclaim, whose
    sizes are the sum over the hierarchy) when ``memcg`` is -1."""
    if memcg < 0:
        inactive = st.lru_size[inactive_lru]
        active = st.lru_size[inactive_lru + 1]
    else:
        inactive = st.memcg_lru_size[memcg, inactive_lru]
        active = st.memcg_lru_size[memcg, inactive_lru + 1]
    return inactive * inactive_ratio_of(inactive + active) < active


@njit
def swap_available(st):
    return st.node[NODE_SWAP_TOTAL] - st.node[NODE_SWAP_USED] > 0


@njit
def zone_reclaimable_pages(st, z):
    """zone_reclaimable_pages(): file LRU, plus anon LRU if swap space is left."""
    nr = st.lru_zone_size[z, LRU_INACTIVE_FILE] + st.lru_zone_size[z, LRU_ACTIVE_FILE]
    if swap_available(st):
        nr += st.lru_zone_size[z, LRU_INACTIVE_ANON] + st.lru_zone_size[z, LRU_ACTIVE_ANON]
    return nr


# ---------------------------------------------------------------------------
# Releasing a reclaimed folio
# ---------------------------------------------------------------------------

@njit
def workingset_eviction(st, own, h, nr):
    """workingset_eviction(): leave a shadow entry with the nonresident age."""
    st.node[NODE_NONRESIDENT_AGE] += nr
    own.h_shadow[h] = st.node[NODE_NONRESIDENT_AGE]


@njit
def release_reclaimed_folio(st, prm, own, pfn, cpu, new_state):
    """__remove_mapping() + free: the folio leaves the LRU and is freed to the
    per-cpu lists of the reclaiming cpu; its handle keeps a shadow entry."""
    h = st.pg_handle[pfn]
    order = st.pg_order[pfn]
    nr = 1 << order
    kind = page_kind(st, pfn)
    if h < 0:
        # a folio no handle names (forgotten by a streamed workload): its
        # eviction still ages the workingset clock, as every eviction does
        st.node[NODE_NONRESIDENT_AGE] += nr
    else:
        own.h_state[h] = new_state
        own.h_pfn[h] = -1
        workingset_eviction(st, own, h, nr)
        o = own.h_owner[h]
        if kind == KIND_ANON:
            own.o_rss[o] -= nr
            if new_state == H_SWAPPED:
                own.o_swap[o] += nr
    free_frozen_pages(st, prm, cpu, pfn, order)


# ---------------------------------------------------------------------------
# shrink_folio_list and friends
# ---------------------------------------------------------------------------

@njit
def shrink_active_list(st, prm, own, memcg, nr_to_scan, lru, s):
    """shrink_active_list(): deactivate folios from the active tail of a
    memcg's lruvec.  The kernel counts the scan in PGREFILL only (not in
    sc->nr_scanned), so nothing is returned.

    MODEL: executable file folios (which the kernel rotates on the active
    list when referenced) are not distinguished.
    """
    scanned = 0
    folios = 0
    # MODEL: no VM_EXEC rotation of referenced executable file folios
    while scanned < nr_to_scan:
        pfn = st.lru_tail[lru_list_id(memcg, lru)]
        if pfn < 0:
            break
        nr = 1 << st.pg_order[pfn]
        scanned += nr
        folios += 1
        lruvec_del_folio(st, pfn)
        st.pg_flags[pfn] = (st.pg_flags[pfn] & ~(PG_active | PG_young | PG_referenced)) | PG_workingset
        lruvec_add_folio(st, pfn, False)
        st.vm_events[VM_PGDEACTIVATE] += nr
    st.sc[s, SC_COST_NS] += folios * costs.cpu_ns(prm, costs.SCAN_FOLIO_NS)


@njit(inline='always')
def activate_locked(st, s, pfn, flags, cost):
    """shrink_folio_list()'s activate_locked: the folio goes back to the LRU
    as active (``flags`` plus PG_active; pgactivate), its scan cost charged."""
    st.pg_flags[pfn] = flags | PG_active
    lruvec_add_folio(st, pfn, False)
    st.vm_events[VM_PGACTIVATE] += 1 << st.pg_order[pfn]
    st.sc[s, SC_COST_NS] += cost


@njit(inline='always')
def disk_write(st, nr):
    """Queue ``nr`` pages on the disk (swap-out and writeback share it, at
    costs.SWAP_WRITE_PAGES_PER_S); returns when the write ends (ns)."""
    end = max(st.node[NODE_SWAP_IO_BUSY_UNTIL], st.clock[0]) + \
        nr * 1_000_000_000 // costs.SWAP_WRITE_PAGES_PER_S
    st.node[NODE_SWAP_IO_BUSY_UNTIL] = end
    return end


@njit
def shrink_inactive_list(st, prm, own, memcg, nr_to_scan, lru, s):
    """shrink_inactive_list() + shrink_folio_list(): isolate folios from the
    inactive tail of a memcg's lruvec and reclaim those not recently
    referenced.

    Returns (scanned, reclaimed).  Anon folios are swapped out when swap space
    is left and the context may swap (``__GFP_IO``); dirty file folios are
    passed to writeback first; clean file folios are dropped.
    """
    is_anon = lru == LRU_INACTIVE_ANON
    kswapd = st.sc[s, SC_IS_KSWAPD]
    cpu = st.sc[s, SC_CPU]
    gfp = st.sc[s, SC_GFP]
    scanned = 0
    reclaimed = 0
    nr_io = 0
    n_entries = st.memcg_lru_size[memcg, lru]
    visited = 0
    while scanned < nr_to_scan and visited < n_entries:
        pfn = st.lru_tail[lru_list_id(memcg, lru)]
        if pfn < 0:
            break
        order = st.pg_order[pfn]
        nr = 1 << order
        scanned += nr
        visited += nr
        f = st.pg_flags[pfn]
        lruvec_del_folio(st, pfn)
        cost = costs.cpu_ns(prm, costs.SCAN_FOLIO_NS)   # the work is per folio, not per page
        if f & PG_pinned:
            # a long-term pinned folio: try_to_unmap() fails (the pinned
            # anon-exclusive page cannot be shared), so it stays mapped and
            # shrink_folio_list() takes activate_locked
            activate_locked(st, s, pfn, f, cost)
            continue
        if f & PG_writeback:
            # shrink_folio_list(), "case 1"/"case 2": a folio under writeback
            # is marked for immediate reclaim and activated; it is rotated to
            # the inactive tail when its write ends.
            # MODEL: no PGDAT_WRITEBACK throttling of kswapd (reclaim_throttle)
            activate_locked(st, s, pfn, f | PG_reclaim, cost)
            continue
        # folio_check_references()
        if f & PG_young:
            if (f & PG_referenced) or is_anon:
                # referenced twice (or a mapped anon folio): activate
                activate_locked(st, s, pfn, f & ~(PG_young | PG_referenced), cost)
            else:
                st.pg_flags[pfn] = (f & ~PG_young) | PG_referenced
                lruvec_add_folio(st, pfn, False)   # keep: rotate to the head
                st.sc[s, SC_COST_NS] += cost
            continue
        if is_anon:
            # add_to_swap() needs a slot per page of the folio.
            # MODEL: a large folio without enough room is activated instead
            # of being split and swapped page by page as the kernel does.
            swap_room = st.node[NODE_SWAP_TOTAL] - st.node[NODE_SWAP_USED] >= nr
            if not swap_room or (gfp & __GFP_IO) == 0 or not st.sc[s, SC_MAY_SWAP]:
                # no swap space (or may not swap): activate, try again later
                activate_locked(st, s, pfn, f, cost)
                continue
            # add_to_swap() + pageout(): swap the folio out
            st.node[NODE_SWAP_USED] += nr
            st.vm_events[VM_PSWPOUT] += nr
            nr_io += nr
            disk_write(st, nr)
            cost += nr * costs.cpu_ns(prm, costs.UNMAP_PAGE_NS + costs.SWAP_OUT_CPU_NS)
            release_reclaimed_folio(st, prm, own, pfn, cpu, H_SWAPPED)
        else:
            if f & PG_dirty:
                # Reclaim does not write file folios: "immediately reclaim
                # when written back" (NR_VMSCAN_IMMEDIATE, PG_reclaim,
                # activate_locked), and wakeup_flusher_threads(WB_REASON_VMSCAN).
                # MODEL: the woken flusher starts this folio's write at once
                st.vm_events[VM_NR_VMSCAN_IMMEDIATE_RECLAIM] += nr
                st.pg_flags[pfn] = f | PG_reclaim
                folio_start_writeback(st, pfn)
                activate_locked(st, s, pfn, st.pg_flags[pfn], cost)
                continue
            if f & PG_referenced:
                # referenced-only clean file folio: reclaim anyway (RECLAIM_CLEAN)
                pass
            cost += costs.cpu_ns(prm, costs.RECLAIM_CLEAN_FILE_NS + (nr - 1) * costs.FOLIO_PAGE_NS)
            release_reclaimed_folio(st, prm, own, pfn, cpu, H_EVICTED)
        reclaimed += nr
        st.sc[s, SC_COST_NS] += cost
    # lru_note_cost(): IO is expensive, rotations cheap
    note = nr_io * SWAP_CLUSTER_MAX + (scanned - reclaimed)
    if is_anon:
        st.node[NODE_ANON_COST] += note
    else:
        st.node[NODE_FILE_COST] += note
    total = st.lru_size[0] + st.lru_size[1] + st.lru_size[2] + st.lru_size[3]
    if st.node[NODE_ANON_COST] + st.node[NODE_FILE_COST] > total // 4:
        st.node[NODE_ANON_COST] //= 2
        st.node[NODE_FILE_COST] //= 2
    if kswapd:
        st.vm_events[VM_PGSCAN_KSWAPD] += scanned
        st.vm_events[VM_PGSTEAL_KSWAPD] += reclaimed
    else:
        st.vm_events[VM_PGSCAN_DIRECT] += scanned
        st.vm_events[VM_PGSTEAL_DIRECT] += reclaimed
    if is_anon:
        st.vm_events[VM_PGSCAN_ANON] += scanned
        st.vm_events[VM_PGSTEAL_ANON] += reclaimed
    else:
        st.vm_events[VM_PGSCAN_FILE] += scanned
        st.vm_events[VM_PGSTEAL_FILE] += reclaimed
    return scanned, reclaimed


@njit
def get_scan_count(st, prm, memcg, s, nr):
    """get_scan_count(): how many pages to scan on each evictable list of a
    memcg's lruvec.

    Fills ``nr[LRU_*]`` for the four anon/file lists.  The balance between
    anon and file comes from the node (the target lruvec's costs); the
    amounts from the memcg's own list sizes.  A memcg that is no longer
    online has what is left scraped out, SWAP_CLUSTER_MAX at a time.
    """
    priority = st.sc[s, SC_PRIORITY]
    swappiness = prm.swappiness
    for i in range(4):
        nr[i] = 0
    anon_only = False
    file_only = False
    equal = False
    if not st.sc[s, SC_MAY_SWAP] or not swap_available(st):
        file_only = True
    elif priority == 0 and swappiness:
        equal = True
    elif st.sc[s, SC_FILE_IS_TINY]:
        anon_only = True
    elif st.sc[s, SC_CACHE_TRIM]:
        file_only = True
    ap = 1
    fp = 1
    if not (anon_only or file_only or equal):
        anon_cost = st.node[NODE_ANON_COST]
        file_cost = st.node[NODE_FILE_COST]
        total_cost = anon_cost + file_cost
        a = total_cost + anon_cost
        f = total_cost + file_cost
        T = a + f
        ap = swappiness * (T + 1) // (a + 1)
        fp = (200 - swappiness) * (T + 1) // (f + 1)
    online = st.memcg_online[memcg] != 0
    for lru in range(4):
        size = st.memcg_lru_size[memcg, lru]
        scan = size >> priority
        if scan == 0 and not online:
            # "If the cgroup's already been deleted, make sure to scrape out
            # the remaining cache."
            scan = min(size, SWAP_CLUSTER_MAX)
        file = lru >= LRU_INACTIVE_FILE
        if anon_only:
            if file:
                scan = 0
        elif file_only:
            if not file:
                scan = 0
        elif not equal:
            denom = ap + fp
            if denom > 0:
                if online:
                    scan = scan * (fp if file else ap) // denom
                else:     # DIV64_U64_ROUND_UP
                    scan = (scan * (fp if file else ap) + denom - 1) // denom
        nr[lru] = scan


@njit
def folio_start_writeback(st, pfn):
    """The flusher writes a dirty file folio: folio_clear_dirty_for_io() and
    folio_start_writeback().  The write ends when the disk has written it
    (the device is shared with swap-out, ``NODE_SWAP_IO_BUSY_UNTIL``), in the
    order started, so State.wb_ring is a FIFO.  Returns False, the folio left
    dirty, when the ring is full (wb_capacity() writes in flight)."""
    n = st.node[NODE_WB_COUNT]
    cap = st.wb_ring.shape[0]
    if n >= cap:
        return False
    end = disk_write(st, 1 << st.pg_order[pfn])
    i = (st.node[NODE_WB_HEAD] + n) & (cap - 1)
    st.wb_ring[i, WB_PFN] = pfn
    st.wb_ring[i, WB_HANDLE] = st.pg_handle[pfn]
    st.wb_ring[i, WB_END] = end
    st.node[NODE_WB_COUNT] = n + 1
    st.pg_flags[pfn] = (st.pg_flags[pfn] & ~PG_dirty) | PG_writeback
    return True


@njit
def folio_end_writeback(st, pfn):
    """folio_end_writeback(): the write is done; a folio reclaim marked
    (PG_reclaim) goes to the inactive tail (folio_rotate_reclaimable():
    lru_move_tail() clears PG_active) unless it was dirtied again."""
    f = st.pg_flags[pfn] & ~PG_writeback
    st.vm_events[VM_NR_WRITTEN] += 1 << st.pg_order[pfn]
    if f & PG_reclaim:
        f &= ~PG_reclaim
        if (f & PG_dirty) == 0 and (f & PG_lru):
            lruvec_del_folio(st, pfn)
            st.pg_flags[pfn] = f & ~PG_active
            lruvec_add_folio(st, pfn, True)
            return
    st.pg_flags[pfn] = f


@njit
def writeback_due(st, now):
    """A write in flight has ended by ``now``."""
    return st.node[NODE_WB_COUNT] > 0 and st.wb_ring[st.node[NODE_WB_HEAD], WB_END] <= now


@njit
def end_writebacks(st, now):
    """The block layer's completions: folio_end_writeback() for every write
    that has ended by ``now``.  A folio freed while its write was in flight
    (or waited for and migrated by sync compaction) has lost PG_writeback or
    changed hands; its entry is dropped.

    MODEL: completions are seen between workload ops; a folio freed during
    its write is freed at once (truncate would wait for the write)."""
    cap = st.wb_ring.shape[0]
    while writeback_due(st, now):
        i = st.node[NODE_WB_HEAD]
        pfn = st.wb_ring[i, WB_PFN]
        st.node[NODE_WB_HEAD] = (i + 1) & (cap - 1)
        st.node[NODE_WB_COUNT] -= 1
        if (st.pg_flags[pfn] & PG_writeback) and st.pg_handle[pfn] == st.wb_ring[i, WB_HANDLE]:
            folio_end_writeback(st, pfn)


@njit
def shrink_slab(st, prm, own, memcg, s):
    """shrink_slab(): the shrinkers, each by do_shrink_slab(), for one memcg.
    Returns the pages freed (what reclaim_state hands back to the reclaimer).

    Two shrinkers: the list_lru of shrinkable slab objects (dentries,
    inodes: :mod:`defragsim.mm.slub`), and whole reclaimable slab pages of
    workloads that allocate slab by the page (a trace replay) on LRU_SLAB,
    one list per memcg (memcg-aware, as the dentry and inode list_lrus are).
    MODEL: a page-level slab page is one object (see the module docstring);
    with ``prm.shrink_page_slab`` 0 (a replay) scanning it frees no page.
    MODEL: the list_lru's objects are not charged to memcgs: its shrinker
    runs when the walk visits the root (where the kernel runs the shrinkers
    that are not memcg-aware).
    """
    priority = st.sc[s, SC_PRIORITY]
    cpu = st.sc[s, SC_CPU]
    freed = 0
    if memcg == 0:      # MODEL: the list_lru's objects are the root's
        freed = do_shrink_list_lru(st, prm, own, s, priority, cpu)
    freeable = st.memcg_lru_size[memcg, LRU_SLAB]
    if freeable == 0:
        return freed
    delta = (freeable >> priority) * 4 // 2
    delta = min(delta, 2 * freeable)
    scanned = 0
    while scanned < delta:
        pfn = st.lru_tail[lru_list_id(memcg, LRU_SLAB)]
        if pfn < 0:
            break
        nr = 1 << st.pg_order[pfn]
        scanned += nr
        f = st.pg_flags[pfn]
        lruvec_del_folio(st, pfn)
        if f & (PG_young | PG_referenced):
            # recently used dentry/inode: rotate (the list_lru "referenced" bit)
            st.pg_flags[pfn] = f & ~(PG_young | PG_referenced)
            lruvec_add_folio(st, pfn, False)
            continue
        st.sc[s, SC_COST_NS] += nr * costs.cpu_ns(prm, costs.SLAB_SHRINK_PAGE_NS)
        if not prm.shrink_page_slab:
            # MODEL: the page's objects go, the page stays: the workload frees
            # it (a replay: the trace's frees hold the pages the kernel's RCU
            # callbacks freed once its shrinkers emptied them)
            lruvec_add_folio(st, pfn, False)
            continue
        release_reclaimed_folio(st, prm, own, pfn, cpu, H_EVICTED)
        freed += nr
    st.vm_events[VM_SLABS_SCANNED] += scanned
    return freed


#: SHRINK_BATCH: objects a shrinker scans per scan_objects() call
SHRINK_BATCH = 128


@njit
def do_shrink_list_lru(st, prm, own, s, priority, cpu):
    """do_shrink_slab() for the list_lru shrinker (DEFAULT_SEEKS = 2): scan
    (nr_deferred >> priority) + (freeable >> priority) * 4 / 2 objects (at
    most twice the freeable) in SHRINK_BATCH batches while a whole batch (or
    everything) is left; what is not scanned is deferred to the next call.
    Returns the slab pages freed."""
    freeable = st.node[NODE_OBJ_LRU_COUNT]
    if freeable == 0:
        return 0
    nr = st.node[NODE_SHRINK_NR_DEFERRED]
    st.node[NODE_SHRINK_NR_DEFERRED] = 0
    delta = (freeable >> priority) * 4 // 2
    total_scan = min((nr >> priority) + delta, 2 * freeable)
    scanned = 0
    pages = 0
    while total_scan >= SHRINK_BATCH or total_scan >= freeable:
        n = min(SHRINK_BATCH, total_scan)
        done, freed_pages, cost = slub.shrink_list_lru(
            st, prm, own, n, cpu, costs.cpu_ns(prm, costs.SLAB_SHRINK_OBJECT_NS))
        st.sc[s, SC_COST_NS] += cost
        pages += freed_pages
        total_scan -= n
        scanned += n
        if done < n or total_scan == 0:
            break
    st.node[NODE_SHRINK_NR_DEFERRED] = min(max(nr + delta - scanned, 0), 2 * freeable)
    return pages


@njit
def prepare_scan_control(st, prm, s):
    """The part of shrink_node() that decides may_deactivate, cache_trim_mode
    and file_is_tiny for this pass."""
    refaults_file = st.node[NODE_REFAULTS_FILE]
    refaults_anon = st.node[NODE_REFAULTS_ANON]
    st.sc[s, SC_MAY_DEACTIVATE_ANON] = 1 if (refaults_anon != st.node[NODE_LAST_REFAULTS_ANON]
                                             or inactive_is_low(st, -1, LRU_INACTIVE_ANON)) else 0
    st.sc[s, SC_MAY_DEACTIVATE_FILE] = 1 if (refaults_file != st.node[NODE_LAST_REFAULTS_FILE]
                                             or inactive_is_low(st, -1, LRU_INACTIVE_FILE)) else 0
    file = st.lru_size[LRU_INACTIVE_FILE]
    st.sc[s, SC_CACHE_TRIM] = 1 if ((file >> st.sc[s, SC_PRIORITY]) > 0
                                    and not st.sc[s, SC_MAY_DEACTIVATE_FILE]) else 0
    # file_is_tiny: global reclaim where file + free cannot even cover the
    # high watermarks; then anon is the only option.
    free = 0
    total_high = 0
    for z in range(MAX_NR_ZONES):
        free += st.zone_stat[z, NR_FREE_PAGES]
        total_high += wmark_pages(st, z, WMARK_HIGH)
    anon_inactive = st.lru_size[LRU_INACTIVE_ANON]
    st.sc[s, SC_FILE_IS_TINY] = 1 if (
        st.lru_size[LRU_INACTIVE_FILE] + st.lru_size[LRU_ACTIVE_FILE] + free <= total_high
        and not inactive_is_low(st, -1, LRU_INACTIVE_ANON)
        and (anon_inactive >> st.sc[s, SC_PRIORITY]) > 0) else 0


@njit
def shrink_lruvec(st, prm, own, memcg, s):
    """shrink_lruvec(): scan a memcg's lists in SWAP_CLUSTER_MAX batches.

    Direct reclaim at DEF_PRIORITY finishes its whole scan target
    (proportional reclaim); otherwise it stops once nr_to_reclaim is met.
    """
    nr = st.scratch[2:6]
    get_scan_count(st, prm, memcg, s, nr)
    nr_to_reclaim = st.sc[s, SC_NR_TO_RECLAIM]
    proportional = (not st.sc[s, SC_IS_KSWAPD]) and st.sc[s, SC_PRIORITY] == DEF_PRIORITY
    reclaimed = 0
    while nr[LRU_INACTIVE_ANON] > 0 or nr[LRU_ACTIVE_FILE] > 0 or nr[LRU_INACTIVE_FILE] > 0:
        for lru in range(4):
            if nr[lru] <= 0:
                continue
            n = min(nr[lru], SWAP_CLUSTER_MAX)
            nr[lru] -= n
            if lru == LRU_ACTIVE_ANON or lru == LRU_ACTIVE_FILE:
                # shrink_list(): only deactivate when the inactive list is low
                # or the type refaults (may_deactivate)
                may = st.sc[s, SC_MAY_DEACTIVATE_ANON] if lru == LRU_ACTIVE_ANON else \
                    st.sc[s, SC_MAY_DEACTIVATE_FILE]
                # MODEL: deactivate only while the node's inactive list is low
                # (the kernel's shrink_list() checks only sc->may_deactivate);
                # it goes with the per-pass refault snapshot (shrink_node())
                if may and inactive_is_low(st, -1, lru - 1):
                    # not sc->nr_scanned, which grows in shrink_folio_list()
                    shrink_active_list(st, prm, own, memcg, n, lru, s)
                continue
            scanned, rec = shrink_inactive_list(st, prm, own, memcg, n, lru, s)
            st.sc[s, SC_NR_SCANNED] += scanned
            st.sc[s, SC_NR_RECLAIMED] += rec
            reclaimed += rec
        if reclaimed < nr_to_reclaim or proportional:
            continue
        break
    # age the anon active list even when anon isn't reclaimed
    if swap_available(st) and inactive_is_low(st, memcg, LRU_INACTIVE_ANON):
        shrink_active_list(st, prm, own, memcg, SWAP_CLUSTER_MAX, LRU_ACTIVE_ANON, s)
    return reclaimed


@njit
def mem_cgroup_iter(st, prev, partial):
    """mem_cgroup_iter(root, prev, reclaim) over the whole hierarchy: the
    memcg after ``prev`` in a pre-order walk (State memcgs are numbered in
    that order), -1 at the end.  A partial walk (a direct reclaimer's
    cookie) starts after the memcg the shared walk returned last
    (``root->nodeinfo[nid]->iter.position``) and moves that position; a
    walk that would start at the end of the hierarchy starts again at the
    root ("make sure they see at least one group").
    MODEL: reclaimers do not overlap, so the iterator's generation (which
    ends a walk that a concurrent walker completed) is not kept."""
    nr_memcg = st.memcg_lru_size.shape[0]
    # MODEL: no iter->generation (reclaimers do not overlap in the model)
    while True:
        pos = st.node[NODE_MEMCG_ITER_POS] if partial else prev
        nxt = pos + 1 if pos + 1 < nr_memcg else -1
        if not partial:
            return nxt
        st.node[NODE_MEMCG_ITER_POS] = nxt
        if nxt < 0 and prev < 0:
            continue
        return nxt


@njit
def shrink_node_memcgs(st, prm, own, s):
    """shrink_node_memcgs(): shrink each memcg's lruvec and its slab.

    kswapd walks the whole hierarchy; a direct reclaimer (unless
    ``sc->memcg_full_walk``) walks from the shared position and stops after
    the memcg with which its reclaim goal (nr_to_reclaim) is met ("mm:
    vmscan: restore incremental cgroup iteration", v6.10).  Returns the
    slab pages freed (flush_reclaim_state(), done by the caller).
    MODEL: no memory.min / memory.low protection."""
    partial = not st.sc[s, SC_IS_KSWAPD] and not st.sc[s, SC_MEMCG_FULL_WALK]
    # MODEL: no mem_cgroup_calculate_protection(): memory.min/low are not modelled
    freed = 0
    memcg = mem_cgroup_iter(st, -1, partial)
    while memcg >= 0:
        shrink_lruvec(st, prm, own, memcg, s)
        freed += shrink_slab(st, prm, own, memcg, s)
        # "If partial walks are allowed, bail once goal is reached"
        if partial and st.sc[s, SC_NR_RECLAIMED] >= st.sc[s, SC_NR_TO_RECLAIM]:
            break    # mem_cgroup_iter_break(): the position stays at memcg
        memcg = mem_cgroup_iter(st, memcg, partial)
    return freed


@njit
def shrink_node(st, prm, own, s):
    """shrink_node(): LRU and slab reclaim over the memcgs, repeated while
    should_continue_reclaim() says reclaim/compaction needs more."""
    while True:
        prepare_scan_control(st, prm, s)
        nr_reclaimed_before = st.sc[s, SC_NR_RECLAIMED]
        nr_scanned_before = st.sc[s, SC_NR_SCANNED]
        freed = shrink_node_memcgs(st, prm, own, s)
        st.sc[s, SC_NR_RECLAIMED] += freed     # flush_reclaim_state()
        reclaimed = st.sc[s, SC_NR_RECLAIMED] - nr_reclaimed_before
        scanned = st.sc[s, SC_NR_SCANNED] - nr_scanned_before
        # MODEL: the refault snapshot after every pass, of every refault; the
        # kernel takes it at the end of a reclaim cycle (do_try_to_free_pages(),
        # balance_pgdat()'s out:) and compares WORKINGSET_ACTIVATE_*.  Done the
        # kernel's way alone, kbuild-thp's a211c6550efc swap-out step at 4G went
        # from 1.4x to 1.1x; with shrink_lruvec()'s deactivation rule the kernel's
        # too, 1.5x, but defrag_mode's direct compaction success rate at 768M
        # went to 28% (six seeds; README, Reclaim bookkeeping): held, the two
        # go together
        snapshot_refaults(st)
        if reclaimed > 0:
            # mainline: reclaim progress clears "hopeless"
            st.node[NODE_KSWAPD_FAILURES] = 0
        if not should_continue_reclaim(st, prm, s, reclaimed, scanned):
            break


@njit
def in_reclaim_compaction(st, s):
    """in_reclaim_compaction(): order > costly, or order > 0 at priority < 10."""
    order = st.sc[s, SC_ORDER]
    gfp = st.sc[s, SC_GFP]
    if (gfp & __GFP_IO) == 0 and not st.sc[s, SC_IS_KSWAPD]:
        return False
    return order > 0 and (order > PAGE_ALLOC_COSTLY_ORDER or st.sc[s, SC_PRIORITY] < DEF_PRIORITY - 2)


@njit
def should_continue_reclaim(st, prm, s, nr_reclaimed, nr_scanned):
    """should_continue_reclaim(): keep reclaiming for compaction while the zone
    is neither ready for the allocation nor suitable for compaction and
    enough inactive pages remain."""
    if not in_reclaim_compaction(st, s):
        return False
    if nr_reclaimed == 0:
        return False
    order = st.sc[s, SC_ORDER]
    for z in range(st.sc[s, SC_RECLAIM_IDX], -1, -1):
        if st.zone_managed[z] == 0:
            continue
        if __zone_watermark_ok(st, z, order, wmark_pages(st, z, WMARK_MIN),
                               st.sc[s, SC_RECLAIM_IDX], 0, st.zone_stat[z, NR_FREE_PAGES]):
            return False
        if compaction.compaction_suitable(st, prm, z, order, wmark_pages(st, z, WMARK_MIN),
                                          st.sc[s, SC_RECLAIM_IDX]):
            return False
    inactive_lru_pages = st.lru_size[LRU_INACTIVE_FILE]
    if swap_available(st):
        inactive_lru_pages += st.lru_size[LRU_INACTIVE_ANON]
    return inactive_lru_pages > compaction.compact_gap(prm, order)


@njit
def compaction_ready(st, prm, z, s):
    """compaction_ready(): the zone already has enough free memory for
    compaction at this order (allocation would succeed, or compaction_suitable
    at the high watermark)."""
    order = st.sc[s, SC_ORDER]
    idx = st.sc[s, SC_RECLAIM_IDX]
    if __zone_watermark_ok(st, z, order, wmark_pages(st, z, WMARK_MIN), idx, 0,
                           st.zone_stat[z, NR_FREE_PAGES]):
        return True
    # MODEL: the form of 67914ac08604 ('mm: compaction: push watermark into
    # compaction_suitable() callers', v6.15-rc1) on every baseline: high +
    # compact_gap, plus low - min for costly orders.  v6.14 checked
    # compaction_suitable() at low + compact_gap and then high + compact_gap,
    # a target lower by low - min for costly orders (the commit: "this didn't
    # show any measurable negative effects"); the other callers on v6.14
    # pass the min watermark, where the two forms are the same.
    return compaction.compaction_suitable(st, prm, z, order, wmark_pages(st, z, WMARK_HIGH), idx)


@njit
def shrink_zones(st, prm, own, s):
    """shrink_zones(): for costly orders skip zones that are compaction_ready.

    The node is shrunk once per call (all zones share the node's LRU)."""
    order = st.sc[s, SC_ORDER]
    need_node = False
    for z in range(st.sc[s, SC_RECLAIM_IDX], -1, -1):
        if st.zone_managed[z] == 0:
            continue
        if order > PAGE_ALLOC_COSTLY_ORDER and compaction_ready(st, prm, z, s):
            st.sc[s, SC_COMPACTION_READY] = 1
            continue
        need_node = True
    if need_node:
        shrink_node(st, prm, own, s)


@njit
def init_scan_control(st, s, gfp_mask, order, reclaim_idx, nr_to_reclaim, cpu, kswapd):
    for i in range(st.sc.shape[1]):
        st.sc[s, i] = 0
    st.sc[s, SC_GFP] = gfp_mask
    st.sc[s, SC_ORDER] = order
    st.sc[s, SC_RECLAIM_IDX] = reclaim_idx
    st.sc[s, SC_NR_TO_RECLAIM] = nr_to_reclaim
    st.sc[s, SC_PRIORITY] = DEF_PRIORITY
    st.sc[s, SC_MAY_WRITEPAGE] = 1
    st.sc[s, SC_MAY_SWAP] = 1
    st.sc[s, SC_CPU] = cpu
    st.sc[s, SC_IS_KSWAPD] = 1 if kswapd else 0


@njit
def snapshot_refaults(st):
    """snapshot_refaults(): remember the refaults seen so far; the next
    shrink_node() pass deactivates while there were new ones since
    (prepare_scan_control(): may_deactivate).  Called after each pass (see
    the MODEL note in shrink_node())."""
    st.node[NODE_LAST_REFAULTS_FILE] = st.node[NODE_REFAULTS_FILE]
    st.node[NODE_LAST_REFAULTS_ANON] = st.node[NODE_REFAULTS_ANON]


@njit
def try_to_free_pages(st, prm, own, gfp_mask, order, highest_zoneidx, cpu):
    """try_to_free_pages() -> do_try_to_free_pages(): direct reclaim.

    A direct reclaimer walks the memcgs from the shared position
    (shrink_node_memcgs()); if that reclaims nothing and compaction is not
    ready, it tries again with full walks (``sc->memcg_full_walk``, v6.10).

    Returns (progress, cost_ns).  ``allocstall_<zone>`` counts once per pass,
    keyed by the request's highest zone (``gfp_zone``: GFP_HIGHUSER_MOVABLE
    counts as "movable" on x86-64).  Progress is the number reclaimed, or 1 if
    nothing was reclaimed but compaction is ready.
    """
    s = SC_DIRECT
    init_scan_control(st, s, gfp_mask, order, highest_zoneidx, SWAP_CLUSTER_MAX, cpu, False)
    st.sc[s, SC_COST_NS] = costs.cpu_ns(prm, costs.DIRECT_RECLAIM_ENTRY_NS)
    while True:      # retry:
        if gfp_mask & __GFP_MOVABLE:      # gfp_zone() = ZONE_MOVABLE's counter
            st.vm_events[VM_ALLOCSTALL_DMA32 + 2] += 1
        else:
            st.vm_events[VM_ALLOCSTALL_DMA32 + highest_zoneidx] += 1
        while True:
            shrink_zones(st, prm, own, s)
            if st.sc[s, SC_NR_RECLAIMED] >= st.sc[s, SC_NR_TO_RECLAIM]:
                break
            if st.sc[s, SC_COMPACTION_READY]:
                break
            if st.sc[s, SC_PRIORITY] == 0:
                break
            st.sc[s, SC_PRIORITY] -= 1
        cost = st.sc[s, SC_COST_NS]
        if st.sc[s, SC_NR_RECLAIMED]:
            return st.sc[s, SC_NR_RECLAIMED], cost
        if st.sc[s, SC_COMPACTION_READY]:
            return 1, cost
        # "high concurrency can result in individual threads not seeing
        # enough cgroups to make meaningful forward progress. Avoid false
        # OOMs in this case."
        if not st.sc[s, SC_MEMCG_FULL_WALK]:
            st.sc[s, SC_MEMCG_FULL_WALK] = 1
            st.sc[s, SC_PRIORITY] = DEF_PRIORITY
            continue
        return 0, cost


# ---------------------------------------------------------------------------
# kswapd
# ---------------------------------------------------------------------------

@njit
def pgdat_balanced(st, prm, order, highest_zoneidx):
    """pgdat_balanced(): any eligible zone meets its high watermark at
    ``order``; under defrag_mode counted in whole free pageblocks
    (NR_FREE_PAGES_BLOCKS): at every order from a211c6550efc, only while
    balancing a high order from a1f0220f3319 (kernel switch
    ``kswapd_balanced_free_blocks``)."""
    blocks = prm.k_kswapd_balanced_free_blocks
    for z in range(highest_zoneidx + 1):
        if st.zone_managed[z] == 0:
            continue
        mark = wmark_pages(st, z, WMARK_HIGH)
        if prm.defrag_mode and (blocks == KSWAPD_FREE_BLOCKS_EVERY_ORDER or
                                (blocks == KSWAPD_FREE_BLOCKS_HIGH_ORDER and order)):
            free_pages = st.zone_stat[z, NR_FREE_PAGES_BLOCKS]
        else:
            free_pages = st.zone_stat[z, NR_FREE_PAGES]
        if __zone_watermark_ok(st, z, order, mark, highest_zoneidx, 0, free_pages):
            return True
    return False


@njit
def pgdat_watermark_boosted(st, highest_zoneidx):
    for z in range(highest_zoneidx + 1):
        if st.watermark_boost[z]:
            return True
    return False


@njit
def wakeup_kswapd(st, prm, z, gfp_mask, order, highest_zoneidx):
    """wakeup_kswapd(): record the order and wake kswapd unless the node is
    balanced (then, for callers that cannot direct reclaim, wake kcompactd)."""
    st.diag[DIAG_KSWAPD_WAKEUPS] += 1
    if st.node[NODE_KSWAPD_ORDER] < order:
        st.node[NODE_KSWAPD_ORDER] = order
    if st.node[NODE_KSWAPD_HIGHEST_ZONEIDX] < highest_zoneidx:
        st.node[NODE_KSWAPD_HIGHEST_ZONEIDX] = highest_zoneidx
    state = st.node[NODE_KSWAPD_STATE]
    if state == KSWAPD_RUNNING:
        return
    # the waker's clock: a request's own (it moves on while the request stalls
    # in reclaim and compaction; every wakeup comes from a request)
    now = max(st.clock[0], st.node[NODE_REQ_TIME])
    hopeless = st.node[NODE_KSWAPD_FAILURES] >= MAX_RECLAIM_RETRIES
    if hopeless or (pgdat_balanced(st, prm, order, highest_zoneidx)
                    and not pgdat_watermark_boosted(st, highest_zoneidx)):
        if (gfp_mask & __GFP_DIRECT_RECLAIM) == 0:   # only compaction is needed
            wakeup_kcompactd(st, prm, order, highest_zoneidx)
        return
    if state == KSWAPD_NAPPING:
        # woken during the HZ/10 nap in kswapd_try_to_sleep()
        st.node[NODE_NAP_WOKEN] = 1
        # schedule_timeout(HZ/10) returns at the wakeup: kswapd goes on from
        # now, not from when it began to nap (which let it reclaim, after the
        # wakeup, for the part of the nap that had passed)
        if st.node[NODE_KSWAPD_TIME] < now:
            st.node[NODE_KSWAPD_TIME] = now
        return
    st.node[NODE_KSWAPD_WAKE_FLAG] = 1
    st.node[NODE_KSWAPD_STATE] = KSWAPD_RUNNING
    # a round counts from the first traced op on (a replay's prefill runs at 0)
    st.node[NODE_KSWAPD_ROUND_STEAL] = st.vm_events[VM_PGSTEAL_KSWAPD] if st.clock[0] > 0 else -1
    # wake_up_interruptible(): kswapd runs once the scheduler gets to it
    # MODEL: that latency is Config.kswapd_wake_latency_us (a replay: its
    # trace's own), one value per wakeup; none for a kswapd woken in its nap
    lat = st.kswapd_wake_lat[st.node[NODE_KSWAPD_WAKES] % st.kswapd_wake_lat.shape[0]]
    st.node[NODE_KSWAPD_WAKES] += 1
    if st.node[NODE_KSWAPD_TIME] < now + lat:
        st.node[NODE_KSWAPD_TIME] = now + lat
    # kswapd() reads (and resets) kswapd_order once it runs, after that
    # latency, so the wakeups meanwhile raise this round's order
    # (balance_pgdat_step() starts the round)
    st.node[NODE_KSWAPD_STARTING] = 1
    # MODEL: ZONE_RECLAIM_ACTIVE (the pcp lists' cap, nr_pcp_high()) from the
    # wakeup, not from balance_pgdat()'s set_reclaim_active() once kswapd
    # runs.  Set at run time, the order-0 frees of the wakeup latency stay on
    # the pcp lists (the model's pcp->high is fixed at high_min, a replay's
    # frees come from the CPU the trace names), and the replay of
    # c_pressure_dm1 direct-reclaims 3,630 times against the kernel's 508
    # (542 with the flag from the wakeup)
    update_reclaim_active(st, highest_zoneidx, True)


@njit
def wakeup_kcompactd(st, prm, order, highest_zoneidx):
    """wakeup_kcompactd() (mm/compaction.c): record the order (max) and the
    highest zone index (min), then wake kcompactd if it sleeps and the node
    is suitable (mm_compaction_wakeup_kcompactd).  kcompactd's work is in
    :mod:`defragsim.compaction`."""
    if order == 0:
        return
    if st.node[NODE_KCOMPACTD_MAX_ORDER] < order:
        st.node[NODE_KCOMPACTD_MAX_ORDER] = order
    if st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX] > highest_zoneidx:
        st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX] = highest_zoneidx
    if compaction.kcompactd_wake(st, prm):
        compaction.trace_compaction(st, CEV_WAKEUP_KCOMPACTD, highest_zoneidx, order,
                                    0, 0, 0, 0, 0, 0, 0)


@njit
def update_reclaim_active(st, highest_zoneidx, active):
    """update_reclaim_active(): set_reclaim_active() / clear_reclaim_active()
    on the managed zones up to ``highest_zoneidx`` (limits the pcp lists, see
    page_alloc.nr_pcp_high)."""
    for z in range(highest_zoneidx + 1):
        if not st.zone_managed[z]:
            continue
        if active:
            st.zone_flags[z] |= ZONE_RECLAIM_ACTIVE
        else:
            st.zone_flags[z] &= ~ZONE_RECLAIM_ACTIVE


@njit
def start_balance_pgdat(st, prm):
    """kswapd(): read and reset kswapd_order, then enter balance_pgdat().
    Called when kswapd runs: after its wakeup latency
    (balance_pgdat_step()), after its HZ/10 nap, or at once when it is not
    balanced after a round."""
    alloc_order = st.node[NODE_KSWAPD_ORDER]
    st.node[NODE_KSWAPD_ORDER] = 0
    s = SC_KSWAPD
    compaction.trace_kswapd(st, CEV_KSWAPD_WAKE, st.node[NODE_KSWAPD_HIGHEST_ZONEIDX], alloc_order)
    init_scan_control(st, s, 0xcc0, alloc_order, st.node[NODE_KSWAPD_HIGHEST_ZONEIDX], 0, 0, True)
    st.node[NODE_BP_ALLOC_ORDER] = alloc_order
    # the boost to reclaim, and each zone's (zone_boosts[]): the zones up to
    # highest_zoneidx
    nr_boost = 0
    for z in range(MAX_NR_ZONES):
        boost = st.watermark_boost[z] if z <= st.sc[s, SC_RECLAIM_IDX] and st.zone_managed[z] else 0
        st.node[NODE_BP_ZONE_BOOST + z] = boost
        nr_boost += boost
    st.node[NODE_BP_NR_BOOST] = nr_boost
    st.node[NODE_BP_BOOSTED] = 1 if nr_boost else 0
    st.node[NODE_BP_OUT_BALANCED] = 0
    st.vm_events[VM_PAGEOUTRUN] += 1
    # restart: set_reclaim_active(pgdat, highest_zoneidx)
    update_reclaim_active(st, st.sc[s, SC_RECLAIM_IDX], True)


@njit
def kswapd_shrink_node(st, prm, own, s):
    """kswapd_shrink_node(): reclaim toward the high watermarks; drop to order
    0 once compact_gap(order) pages were reclaimed (hand-off to kcompactd).
    True when the pass scanned, or freed (the shrinkers' slab pages count:
    mm_account_reclaimed_pages(), 3f74e6bd3b84, July 2024), as much as it was
    to reclaim: then balance_pgdat() does not raise the priority."""
    nr_to_reclaim = 0
    for z in range(st.sc[s, SC_RECLAIM_IDX] + 1):
        if st.zone_managed[z]:
            nr_to_reclaim += max(wmark_pages(st, z, WMARK_HIGH), SWAP_CLUSTER_MAX)
    st.sc[s, SC_NR_TO_RECLAIM] = nr_to_reclaim
    nr_reclaimed = st.sc[s, SC_NR_RECLAIMED]
    shrink_node(st, prm, own, s)
    if st.sc[s, SC_ORDER] and st.sc[s, SC_NR_RECLAIMED] >= compaction.compact_gap(prm, st.sc[s, SC_ORDER]):
        st.sc[s, SC_ORDER] = 0
    return max(st.sc[s, SC_NR_SCANNED], st.sc[s, SC_NR_RECLAIMED] - nr_reclaimed) >= \
        st.sc[s, SC_NR_TO_RECLAIM]


@njit
def balance_pgdat_step(st, prm, own):
    """One iteration of balance_pgdat()'s priority loop.  Returns True when
    balance_pgdat() is done (kswapd then tries to sleep).

    MODEL: the iteration's kswapd_shrink_node() (up to the zones' high
    watermarks, ~29k pages on the shipped traces' machine) takes effect at
    once at kswapd's clock, which then advances by its cost; the kernel's
    kswapd frees in SWAP_CLUSTER_MAX batches as it goes, so allocations
    between two iterations here see the frees in one burst (trace e: a
    readahead failed 0.1 ms before 23k pages of whole free pageblocks
    appeared)."""
    # MODEL: a priority iteration's reclaim lands at once (see the docstring)
    if st.node[NODE_KSWAPD_STARTING]:
        # kswapd runs: it reads the order and enters balance_pgdat()
        st.node[NODE_KSWAPD_STARTING] = 0
        start_balance_pgdat(st, prm)
    s = SC_KSWAPD
    idx = st.sc[s, SC_RECLAIM_IDX]
    balanced = pgdat_balanced(st, prm, st.sc[s, SC_ORDER], idx)
    nr_boost = st.node[NODE_BP_NR_BOOST]
    if not balanced and nr_boost:
        # a real shortage beats boosting: restart without the boost target
        st.node[NODE_BP_NR_BOOST] = 0
        st.sc[s, SC_PRIORITY] = DEF_PRIORITY
        return False
    if balanced and nr_boost == 0:
        st.node[NODE_BP_OUT_BALANCED] = 1       # goto out: no failure counted
        return True
    # Limit the priority of boosting to avoid reclaim writeback
    boost_floor = nr_boost != 0 and st.sc[s, SC_PRIORITY] == DEF_PRIORITY - 2
    # boosted reclaim must not write or swap (may_writepage = may_swap = !boost)
    st.sc[s, SC_MAY_WRITEPAGE] = 0 if nr_boost else 1
    st.sc[s, SC_MAY_SWAP] = 0 if nr_boost else 1
    st.sc[s, SC_NR_SCANNED] = 0
    before = st.sc[s, SC_NR_RECLAIMED]
    cost_before = st.sc[s, SC_COST_NS]
    raise_priority = not kswapd_shrink_node(st, prm, own, s) and not boost_floor
    cost = st.sc[s, SC_COST_NS] - cost_before
    # kswapd gets its fair share of the CPUs (the clock advances by the wall time)
    cost = max(cost, costs.cpu_ns(prm, costs.SCAN_FOLIO_NS))
    st.node[NODE_KSWAPD_TIME] += costs.daemon_wall_ns(
        cost, prm.nr_cpus, prm.runnable_milli,
        1 if st.node[NODE_KCOMPACTD_STATE] != compaction.KCOMPACTD_SLEEPING else 0)
    st.node[NODE_KSWAPD_BUSY_NS] += cost
    st.node[NODE_PSI_SOME_NS] += cost
    nr_reclaimed = st.sc[s, SC_NR_RECLAIMED] - before
    st.node[NODE_BP_NR_BOOST] -= min(st.node[NODE_BP_NR_BOOST], nr_reclaimed)
    if st.node[NODE_BP_NR_BOOST] and nr_reclaimed == 0:
        return True
    if raise_priority or nr_reclaimed == 0:
        st.sc[s, SC_PRIORITY] -= 1
        if st.sc[s, SC_PRIORITY] < 1:
            return True
    return False


@njit
def finish_balance_pgdat(st, prm):
    """The tail of balance_pgdat(): failures, boost clearing, kcompactd wake."""
    s = SC_KSWAPD
    # out: clear_reclaim_active(pgdat, highest_zoneidx)
    update_reclaim_active(st, st.sc[s, SC_RECLAIM_IDX], False)
    # after the priority loop, not when it found the node balanced ("goto out"
    # jumps past the count)
    # MODEL: a boosted round is not counted on every baseline; that is the
    # 2025-10 mm patch "mm/vmscan: skip increasing kswapd_failures when
    # reclaim was boosted" (Jiayuan Chen), later than 6.18
    if st.sc[s, SC_NR_RECLAIMED] == 0 and not st.node[NODE_BP_BOOSTED] and \
            not st.node[NODE_BP_OUT_BALANCED]:
        st.node[NODE_KSWAPD_FAILURES] += 1
    if st.node[NODE_BP_BOOSTED]:
        # account for the reclaim done in this pass: a boost raised meanwhile
        # stays (zone->watermark_boost -= min(boost, zone_boosts[i]))
        for z in range(MAX_NR_ZONES):
            st.watermark_boost[z] -= min(st.watermark_boost[z], st.node[NODE_BP_ZONE_BOOST + z])
        wakeup_kcompactd(st, prm, prm.pageblock_order, st.sc[s, SC_RECLAIM_IDX])
    # kswapd_try_to_sleep(alloc_order, reclaim_order): after a balance_pgdat()
    # that dropped below the order it was asked (the compact_gap hand-off)
    # kswapd() goes there at once ("goto kswapd_try_sleep"); after one that
    # finished at that order its loop goes to its top first: alloc_order =
    # reclaim_order = READ_ONCE(pgdat->kswapd_order), what the wakeups asked
    # for while it ran (0 if none: no kcompactd wakeup then)
    alloc_order = st.node[NODE_BP_ALLOC_ORDER]
    reclaim_order = st.sc[s, SC_ORDER]
    if reclaim_order >= alloc_order:
        alloc_order = st.node[NODE_KSWAPD_ORDER]
        reclaim_order = alloc_order
    idx = st.sc[s, SC_RECLAIM_IDX]
    hopeless = st.node[NODE_KSWAPD_FAILURES] >= MAX_RECLAIM_RETRIES
    if hopeless or pgdat_balanced(st, prm, reclaim_order, idx):
        # prepare_kswapd_sleep(): reset compaction skip hints, wake kcompactd
        # for the order of the request that woke us, then nap HZ/10.
        compaction.reset_isolation_suitable(st, prm)
        wakeup_kcompactd(st, prm, alloc_order, idx)
        st.node[NODE_KSWAPD_STATE] = KSWAPD_NAPPING
        st.node[NODE_NAP_UNTIL] = st.node[NODE_KSWAPD_TIME] + costs.KSWAPD_NAP_NS
        st.node[NODE_NAP_WOKEN] = 0
        st.node[NODE_BP_ALLOC_ORDER] = alloc_order
        st.sc[s, SC_ORDER] = reclaim_order
        return
    # not balanced: kswapd_high_wmark_hit_quickly, and balance_pgdat() again
    # at the order wakeups left in kswapd_order (restored only after a nap
    # cut short by a wakeup, in run_daemons)
    st.vm_events[VM_KSWAPD_HIGH_WMARK_HIT_QUICKLY] += 1
    start_balance_pgdat(st, prm)


@njit(inline='always')
def daemons_due(st, prm, until):
    """Whether :func:`run_daemons` has work before ``until`` (model-only: the
    driver checks this before each op, so an op that finds both daemons
    asleep or ahead of it in time makes no call): kswapd running behind
    ``until``, or napping and woken or due; kcompactd woken and behind
    ``until``, or its proactive timeout expired; the page reporter's work."""
    if page_reporting.page_reporting_due(st, prm, until):
        return True
    state = st.node[NODE_KSWAPD_STATE]
    if state == KSWAPD_RUNNING:
        if st.node[NODE_KSWAPD_TIME] < until:
            return True
    elif state == KSWAPD_NAPPING:
        if st.node[NODE_NAP_WOKEN] or st.node[NODE_NAP_UNTIL] <= until:
            return True
    if st.node[NODE_KCOMPACTD_STATE] != compaction.KCOMPACTD_SLEEPING:
        return st.node[NODE_KCOMPACTD_TIME] <= until
    return prm.compaction_proactiveness != 0 and st.node[NODE_PROACTIVE_NEXT] <= until


#: MODEL: a bound on the daemon steps of one run_daemons() call (each step is a
#: balance_pgdat() round or a kcompactd pass; a call needs a few hundred at
#: most), so a model bug cannot hang the driver.
RUN_DAEMONS_MAX_STEPS = 1_000_000


@njit
def run_daemons(st, prm, own, until):
    """Let the background daemons (kswapd, kcompactd) run up to time ``until``."""
    for _ in range(RUN_DAEMONS_MAX_STEPS):
        state = st.node[NODE_KSWAPD_STATE]
        if state == KSWAPD_RUNNING:
            if st.node[NODE_KSWAPD_TIME] >= until:
                break
            if balance_pgdat_step(st, prm, own):
                finish_balance_pgdat(st, prm)
        elif state == KSWAPD_NAPPING:
            if st.node[NODE_NAP_WOKEN]:
                kswapd_nap_cut_short(st, prm)
                continue
            if st.node[NODE_NAP_UNTIL] > until:
                break
            st.node[NODE_KSWAPD_TIME] = st.node[NODE_NAP_UNTIL]
            s = SC_KSWAPD
            if pgdat_balanced(st, prm, st.sc[s, SC_ORDER], st.sc[s, SC_RECLAIM_IDX]) or \
                    st.node[NODE_KSWAPD_FAILURES] >= MAX_RECLAIM_RETRIES:
                st.node[NODE_KSWAPD_STATE] = KSWAPD_SLEEPING
                compaction.trace_kswapd(st, CEV_KSWAPD_SLEEP, 0, 0)
                if st.node[NODE_KSWAPD_ROUND_STEAL] >= 0:
                    st.diag[DIAG_KSWAPD_ROUNDS] += 1
                    if st.vm_events[VM_PGSTEAL_KSWAPD] == st.node[NODE_KSWAPD_ROUND_STEAL]:
                        st.diag[DIAG_KSWAPD_IDLE_ROUNDS] += 1
                # kswapd_order stays: kswapd() reads and resets it when it
                # is next woken, so the orders wakeups recorded meanwhile
                # (while it ran or napped, or found the node balanced) count
                st.node[NODE_KSWAPD_HIGHEST_ZONEIDX] = 0
            else:
                st.vm_events[VM_KSWAPD_HIGH_WMARK_HIT_QUICKLY] += 1
                st.node[NODE_KSWAPD_STATE] = KSWAPD_RUNNING
                start_balance_pgdat(st, prm)
        else:
            break
    compaction.run_kcompactd(st, prm, own, until)
    page_reporting.page_reporting_run(st, prm, until)


@njit
def kswapd_nap_cut_short(st, prm):
    """kswapd_try_to_sleep(): woken before HZ/10 ("remaining"), kswapd
    leaves its nap with kswapd_order at least the order it napped at and
    runs balance_pgdat() again (kswapd_low_wmark_hit_quickly)."""
    if st.node[NODE_KSWAPD_ORDER] < st.sc[SC_KSWAPD, SC_ORDER]:
        st.node[NODE_KSWAPD_ORDER] = st.sc[SC_KSWAPD, SC_ORDER]
    st.vm_events[VM_KSWAPD_LOW_WMARK_HIT_QUICKLY] += 1
    st.node[NODE_KSWAPD_STATE] = KSWAPD_RUNNING
    st.node[NODE_NAP_WOKEN] = 0
    start_balance_pgdat(st, prm)


@njit
def kswapd_alongside(st, prm, own, until):
    """kswapd reclaiming on another CPU while the current task is stalled in
    direct compaction (or reads a readahead window the trace has no ops
    for, driver.ra_read_order0), up to the task's own clock ``until``.

    MODEL: the driver applies one op at a time and lets the daemons run
    between ops; a direct compactor calls this between pageblocks (where
    __compact_finished() looks at the free lists), so a folio kswapd frees
    meanwhile ends the compaction as it does in the kernel.  (In the 6.18
    trace b_pressure_dm0, 96 of the 107 direct compactions that ended
    COMPACT_SUCCESS saw kswapd free an order-9 folio during the run.)  A
    running kswapd advances, and one woken in its HZ/10 nap (by this
    request's wake_all_kswapds(), as a rule) leaves the nap and runs; a
    sleeping or napping kswapd is left to run_daemons().  A page kswapd
    frees is never captured: capture_control belongs to the compacting task
    (task_capc() reads current)."""
    # MODEL: a running kswapd catches up with the compacting task's clock here
    if st.node[NODE_KSWAPD_STATE] == KSWAPD_NAPPING and st.node[NODE_NAP_WOKEN] and \
            st.node[NODE_KSWAPD_TIME] < until:
        kswapd_nap_cut_short(st, prm)
    if st.node[NODE_KSWAPD_STATE] != KSWAPD_RUNNING or st.node[NODE_KSWAPD_TIME] >= until:
        return
    capc_active = st.capc[CAPC_ACTIVE]
    st.capc[CAPC_ACTIVE] = 0
    for _ in range(RUN_DAEMONS_MAX_STEPS):
        if st.node[NODE_KSWAPD_STATE] != KSWAPD_RUNNING or st.node[NODE_KSWAPD_TIME] >= until:
            break
        if balance_pgdat_step(st, prm, own):
            finish_balance_pgdat(st, prm)
    st.capc[CAPC_ACTIVE] = capc_active


from . import compaction, page_reporting, slub  # noqa: E402  (kernels resolve them at compile time)
