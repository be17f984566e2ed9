"""The workload driver (model-only names): applies ops to the model.

``step_chunk`` runs ops ``start:end`` of a workload: allocations (through
``__alloc_pages``), frees, touches (which refault swapped-out or evicted data)
and writes (which dirty page cache).  Before each op the background daemons
are advanced to the op's time.  Ops of owners that were OOM-killed are
skipped.
"""
from __future__ import annotations

from . import costs
from .._jit import kernel as njit
from ..constants import (
    CONTENT_FLAGS, CONTENT_FS_LOCKED, CONTENT_PINNED, CONTENT_PLACED, CONTENT_PLACED_PFN_SHIFT,
    CONTENT_PREFILL, CONTENT_SLAB_OBJECT, NR_RA_SLOTS, OP_GFP_GFP_MASK, OP_GFP_RA_SHIFT,
    RA_FAILED_HEAD, RA_FALLBACK, RA_HEAD, RA_SLOT_SHIFT, RA_WINDOW_START,
    HPAGE_PMD_ORDER, H_EVICTED, H_FAILED, H_FREED, H_NONE, H_RESIDENT, H_SWAPPED, KIND_ANON,
    KIND_FILE, KIND_PAGETABLE, MIGRATE_PCPTYPES, OP_ALLOC, OP_COMPACT_MEMORY, OP_DIRTY, OP_FREE,
    OP_TOUCH, PG_dirty, PG_pinned, PG_young, VM_PGMAJFAULT, VM_PSWPIN,
    VM_THP_FAULT_ALLOC, VM_THP_FAULT_FALLBACK, VM_WORKINGSET_ACTIVATE_ANON,
    VM_WORKINGSET_ACTIVATE_FILE, VM_WORKINGSET_REFAULT_ANON, VM_WORKINGSET_REFAULT_FILE,
    LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE, LRU_INACTIVE_ANON,
)
from ..gfp import __GFP_DIRECT_RECLAIM, __GFP_NORETRY, __GFP_THISNODE
from .page_alloc import (
    __alloc_pages, alloc_pages_prefill, free_frozen_pages, gfp_migratetype, page_kind, prep_new_page,
    take_page_off_buddy,
)
from .state import (
    CEV_HEADROOM, DIAG_FORGOTTEN_HANDLES, DIAG_FREE_UNKNOWN_HANDLE, DIAG_MANUAL_COMPACT_NS,
    DIAG_OPS_OF_DEAD_OWNERS, DIAG_READAHEAD_FELL_BACK, DIAG_READAHEAD_KEPT,
    DIAG_READAHEAD_ORDER0_PAGES, DIAG_READAHEAD_STOPPED, DIAG_REFAULTS, NODE_FS_LOCKED,
    NODE_NONRESIDENT_AGE, NODE_PSI_SOME_NS, NODE_PSI_TASK_NS, NODE_REFAULTS_ANON,
    NODE_REFAULTS_FILE, NODE_SWAP_USED, RA_GFP, RA_KEEP, RA_MODE, RA_MODE_AHEAD, RA_MODE_DONE,
    RA_MODE_FALLBACK, RA_MODE_KERNEL, RA_ORDER, RA_SKIP, REQ_STALL_NS,
)
from . import compaction, slub, vmscan



@njit(fastpath=True)
def free_handle(st, prm, own, h, cpu):
    """The owner frees (or, on OOM kill, loses) a resident allocation: pages
    go back to the allocator, a slab object to its slab (kmem_cache_free())."""
    pfn = own.h_pfn[h]
    if slub.slab_cache_of(st, pfn) >= 0:
        slub.kmem_cache_free(st, prm, own, h, cpu)
        return
    order = own.h_order[h]
    nr = 1 << order
    o = own.h_owner[h]
    kind = page_kind(st, pfn)
    if vmscan.is_lru_kind(kind):
        vmscan.lruvec_del_folio(st, pfn)
    if kind == KIND_ANON:
        own.o_rss[o] -= nr
    elif kind == KIND_PAGETABLE:
        own.o_pt[o] -= nr
    free_frozen_pages(st, prm, cpu, pfn, order)
    own.h_pfn[h] = -1


@njit
def forget_handle(st, prm, own, h, cpu):
    """A streamed workload reuses slot ``h`` for a new allocation
    (workloads/stream.py): what the model still holds for the slot's previous
    allocation no longer belongs to it.  Page cache the workload stopped
    referencing stays where it is, on its LRU, until reclaim frees it
    (without a handle: ``pg_handle`` -1, no shadow entry, as no op can
    refault it); swap held by the previous allocation is released.  Nothing
    the kernel does: a model-only bookkeeping step (its number is
    ``forgotten_handles`` in the diagnostics)."""
    state = own.h_state[h]
    # MODEL: a workload's handle is a reusable slot, not an address_space
    # entry: the folio stays, nameless, and its eviction leaves no shadow
    if state == H_RESIDENT and slub.slab_cache_of(st, own.h_pfn[h]) >= 0:
        # MODEL: a slab object nothing names any more is freed
        slub.kmem_cache_free(st, prm, own, h, cpu)
        st.diag[DIAG_FORGOTTEN_HANDLES] += 1
    elif state == H_RESIDENT:
        pfn = own.h_pfn[h]
        nr = 1 << own.h_order[h]
        for i in range(nr):
            st.pg_handle[pfn + i] = -1
        kind = page_kind(st, pfn)
        o = own.h_owner[h]
        if kind == KIND_ANON:
            own.o_rss[o] -= nr
        elif kind == KIND_PAGETABLE:
            own.o_pt[o] -= nr
        own.h_pfn[h] = -1
        st.diag[DIAG_FORGOTTEN_HANDLES] += 1
    elif state == H_SWAPPED:
        nr = 1 << own.h_order[h]
        st.node[NODE_SWAP_USED] -= nr
        own.o_swap[own.h_owner[h]] -= nr
        st.diag[DIAG_FORGOTTEN_HANDLES] += 1


@njit(fastpath=True)   # after every allocation
def place_allocation(st, prm, own, h, pfn, order, kind, active):
    """After a successful allocation: record the owner's pages and put LRU
    folios (anon, file) and reclaimable slab on their lists."""
    prep_new_page(st, pfn, order, kind, h)
    own.h_pfn[h] = pfn
    own.h_order[h] = order
    own.h_state[h] = H_RESIDENT
    own.h_content[h] = kind
    o = own.h_owner[h]
    nr = 1 << order
    if kind == KIND_ANON:
        own.o_rss[o] += nr
    elif kind == KIND_PAGETABLE:
        own.o_pt[o] += nr
    if vmscan.is_lru_kind(kind):
        # anon and file folios go on the LRU (PageLRU); reclaimable slab goes on
        # the shrinker's list (model: LRU_SLAB) without PageLRU.
        vmscan.mem_cgroup_charge(st, pfn)
        vmscan.folio_add_lru(st, pfn, active)


@njit
def workingset_refault(st, own, h, kind):
    """workingset_refault(): count it; activate if the refault distance is
    within the workingset (active file + inactive file, + anon if swap)."""
    distance = st.node[NODE_NONRESIDENT_AGE] - own.h_shadow[h]
    workingset = st.lru_size[LRU_ACTIVE_FILE] + st.lru_size[LRU_INACTIVE_FILE]
    if kind == KIND_ANON:
        st.vm_events[VM_WORKINGSET_REFAULT_ANON] += 1 << own.h_order[h]
        st.node[NODE_REFAULTS_ANON] += 1
        workingset += st.lru_size[LRU_ACTIVE_ANON]
    else:
        st.vm_events[VM_WORKINGSET_REFAULT_FILE] += 1 << own.h_order[h]
        st.node[NODE_REFAULTS_FILE] += 1
        workingset += st.lru_size[LRU_ACTIVE_ANON] + st.lru_size[LRU_INACTIVE_ANON]
    if distance <= workingset:
        if kind == KIND_ANON:
            st.vm_events[VM_WORKINGSET_ACTIVATE_ANON] += 1 << own.h_order[h]
        else:
            st.vm_events[VM_WORKINGSET_ACTIVATE_FILE] += 1 << own.h_order[h]
        return True
    return False


@njit(fastpath=True)
def do_alloc(st, prm, rec, own, h, cpu, gfp, order, kind, active, prefill, placed):
    if placed >= 0:
        pfn = take_page_off_buddy(st, prm, placed, order)
    elif prefill:
        pfn = alloc_pages_prefill(st, prm, rec, cpu, gfp, order)
    else:
        pfn = __alloc_pages(st, prm, rec, own, cpu, gfp, order)
    if pfn >= 0:
        place_allocation(st, prm, own, h, pfn, order, kind, active)
        return True
    return False


@njit
def alloc_pages_mpol_thp(st, prm, rec, own, h, cpu, gfp, order, kind, active):
    """alloc_pages_mpol() (mm/mempolicy.c) for a THP fault (order
    HPAGE_PMD_ORDER from vma_alloc_folio(), the default local policy): first
    the local node only, compaction without reclaim (``gfp |
    __GFP_THISNODE | __GFP_NORETRY``); then, if that failed and the VMA's
    gfp may reclaim directly (MADV_HUGEPAGE, or defrag=always), the VMA's
    own gfp, "allowing remote memory with both reclaim and compact" (one
    node here, so the same node again).  CONFIG_NUMA kernels (this VM's
    6.18.44 traces such a fault as ``GFP_TRANSHUGE|__GFP_NORETRY|
    __GFP_THISNODE``).  True if a folio was allocated."""
    if do_alloc(st, prm, rec, own, h, cpu, gfp | __GFP_THISNODE | __GFP_NORETRY, order, kind,
                active, False, -1):
        return True
    if (gfp & __GFP_DIRECT_RECLAIM) == 0:
        return False
    return do_alloc(st, prm, rec, own, h, cpu, gfp, order, kind, active, False, -1)


# ---------------------------------------------------------------------------
# A replayed readahead window (mm/readahead.c): the model's outcomes, not the trace's
# ---------------------------------------------------------------------------

@njit(inline='always')
def ra_marks(gfp, content):
    """The readahead marks of a traced page-cache op (constants.RA_*, the
    ``gfp`` column's bits above OP_GFP_RA_SHIFT); 0 for any other op, whose
    bits there mean something else (CONTENT_PLACED: a pfn)."""
    if (content & ~CONTENT_FLAGS) != KIND_FILE or content & (CONTENT_PLACED | CONTENT_PREFILL):
        return 0
    return gfp >> OP_GFP_RA_SHIFT


@njit(inline='always')
def ra_slot(ra):
    """The State.ra_state row of a window's marks."""
    return (ra >> RA_SLOT_SHIFT) & (NR_RA_SLOTS - 1)


@njit
def ra_alloc(st, prm, rec, own, h, cpu, gfp, order):
    """ra_alloc_folio(): a readahead folio on handle ``h`` (page cache, inactive)."""
    own.h_gfp[h] = gfp
    own.h_content[h] = KIND_FILE
    own.h_order[h] = order
    ok = do_alloc(st, prm, rec, own, h, cpu, gfp, order, KIND_FILE, False, False, -1)
    if not ok:
        own.h_state[h] = H_FAILED
    return ok


@njit
def ra_nameless_folio(st, prm, rec, own, cpu, gfp):
    """ractl_alloc_folio() + filemap_add_folio() of an order-0 readahead
    folio in the range of a large folio the trace shows (the kernel's) and
    the model did not get.  MODEL: no op names it (``pg_handle`` -1, as a
    forgotten handle's folio): it stays on the LRU until reclaim frees it."""
    pfn = __alloc_pages(st, prm, rec, own, cpu, gfp, 0)
    if pfn < 0:
        return False
    prep_new_page(st, pfn, 0, KIND_FILE, -1)
    vmscan.mem_cgroup_charge(st, pfn)
    vmscan.folio_add_lru(st, pfn, False)
    return True


@njit
def ra_read_order0(st, prm, rec, own, h, cpu, gfp, order):
    """do_page_cache_ra() -> page_cache_ra_unbounded() over the range of a
    large folio the model did not get: order-0 folios, the first on the
    op's handle (MODEL: a later free of the kernel's large folio frees that
    one page); one that fails (__GFP_NORETRY) ends the readahead.  Returns
    whether every page was read.

    The trace has no ops for these folios, so no clock moves between them:
    each takes the reading task ``prm.readahead_folio_ns`` (its trace's own
    pace), and a kswapd that is running, or was woken in its nap, reclaims
    on another CPU meanwhile (vmscan.kswapd_alongside), as the machine's
    did (e.g. unseen trace m: 512 order-0 readahead allocations in 0.47 ms,
    kswapd's first reclaim frees 0.1 ms after the first of them)."""
    if not ra_alloc(st, prm, rec, own, h, cpu, gfp, 0):
        return False
    st.diag[DIAG_READAHEAD_ORDER0_PAGES] += 1
    # MODEL: the reader's own clock (the global one stays at the op's time)
    t = st.clock[0]
    pace = prm.readahead_folio_ns if prm.readahead_folio_ns >= 0 else \
        costs.cpu_ns(prm, costs.READAHEAD_FOLIO_NS)
    for _ in range((1 << order) - 1):
        t += pace
        vmscan.kswapd_alongside(st, prm, own, t)
        if not ra_nameless_folio(st, prm, rec, own, cpu, gfp):
            return False
        st.diag[DIAG_READAHEAD_ORDER0_PAGES] += 1
    return True


@njit
def readahead_op(st, prm, rec, own, h, cpu, gfp, order, ra):
    """Before a traced readahead allocation (marks ``ra``, constants.RA_*):
    True when the window's state in the model decides it.

    page_cache_ra_order() allocates a window's large folios until one fails,
    then do_page_cache_ra() reads the rest as order-0 folios and stops at
    the first of those that fails.  Where the model failed a folio the
    kernel got (RA_MODE_FALLBACK), the kernel's later folios of the window
    become order-0 reads (or, one the kernel failed too, its own order-0
    fallback that follows); where the model got the folio the kernel failed
    (RA_MODE_AHEAD), the kernel's order-0 fallback is read as large folios:
    the first covers as many order-0 ops, then each next op tries the next
    folio, and the model breaks off to order-0 at its own failure.  After
    an order-0 read failed (RA_MODE_DONE) the window reads nothing more."""
    r = st.ra_state[ra_slot(ra)]
    if ra & RA_WINDOW_START:
        r[RA_MODE] = RA_MODE_KERNEL
        r[RA_SKIP] = 0
    mode = r[RA_MODE]
    if mode == RA_MODE_DONE:
        own.h_state[h] = H_FAILED
        return True
    if ra & RA_HEAD:
        if mode == RA_MODE_FALLBACK:
            if ra & RA_FAILED_HEAD:
                own.h_state[h] = H_FAILED       # its own fallback reads follow
            elif not ra_read_order0(st, prm, rec, own, h, cpu, gfp, order):
                r[RA_MODE] = RA_MODE_DONE
                st.diag[DIAG_READAHEAD_STOPPED] += 1
            return True
        r[RA_MODE] = RA_MODE_KERNEL
        return False
    if not (ra & RA_FALLBACK) or mode != RA_MODE_AHEAD:
        return False
    if r[RA_SKIP] > 0:
        # MODEL: within the model's large folio: never allocated (a later op
        # on the handle finds no folio)
        r[RA_SKIP] -= 1
        own.h_state[h] = H_FAILED
        return True
    # MODEL: the window's length is not in the trace: the model's last large
    # folio may reach past the kernel's last order-0 read
    if ra_alloc(st, prm, rec, own, h, cpu, r[RA_GFP], r[RA_ORDER]):
        r[RA_SKIP] = (1 << r[RA_ORDER]) - 1
        return True
    r[RA_MODE] = RA_MODE_KERNEL
    return False


@njit
def readahead_outcome(st, prm, rec, own, h, cpu, gfp, order, ra, ok):
    """After a traced readahead allocation was tried (see readahead_op)."""
    r = st.ra_state[ra_slot(ra)]
    if not ra & RA_HEAD:
        if not ok:
            r[RA_MODE] = RA_MODE_DONE     # page_cache_ra_unbounded() stops
            st.diag[DIAG_READAHEAD_STOPPED] += 1
        return
    if ra & RA_FAILED_HEAD:
        if ok:
            # kept (the trace's give-back is skipped); it covers 1 << order of
            # the kernel's order-0 fallback reads
            st.diag[DIAG_READAHEAD_KEPT] += 1
            r[RA_MODE] = RA_MODE_AHEAD
            r[RA_SKIP] = 1 << order
            r[RA_KEEP] = h
            r[RA_ORDER] = order
            r[RA_GFP] = gfp
    elif not ok:
        st.diag[DIAG_READAHEAD_FELL_BACK] += 1
        r[RA_MODE] = RA_MODE_FALLBACK
        if not ra_read_order0(st, prm, rec, own, h, cpu, gfp, order):
            r[RA_MODE] = RA_MODE_DONE
            st.diag[DIAG_READAHEAD_STOPPED] += 1


@njit
def refault_begin(st, own, h):
    """A touch of swapped-out or evicted data: fault it back in (swap-in or
    page-cache read).  Before the allocation: count the fault and ask
    workingset_refault() whether the folio goes on the active list.  Returns
    (active, IO latency in ns); :func:`step_chunk` then allocates the folio
    (its one call site of the inlined fast path) and calls
    :func:`refault_end`."""
    kind = own.h_content[h]
    st.diag[DIAG_REFAULTS] += 1
    active = False
    io = 0
    if kind == KIND_ANON or kind == KIND_FILE:
        active = workingset_refault(st, own, h, kind)
        st.vm_events[VM_PGMAJFAULT] += 1
        io = costs.SWAP_IN_NS if kind == KIND_ANON else costs.FILE_REFAULT_NS
    return active, io


@njit
def refault_end(st, own, h, state, ok, io):
    """After the refault's allocation: release the swap slot (swap-in) and
    pay the IO latency as a memory stall."""
    nr = 1 << own.h_order[h]
    stall = io
    if state == H_SWAPPED:
        st.node[NODE_SWAP_USED] -= nr
        own.o_swap[own.h_owner[h]] -= nr
        if ok:
            st.vm_events[VM_PSWPIN] += nr
    if not ok:
        own.h_state[h] = H_FAILED
    if stall:
        mt = min(gfp_migratetype(own.h_gfp[h]), MIGRATE_PCPTYPES - 1)
        st.req_stats[mt, REQ_STALL_NS] += stall
        st.node[NODE_PSI_SOME_NS] += stall
        st.node[NODE_PSI_TASK_NS] += stall


@njit(entry=True, nogil=True)
def step_chunk(st, prm, rec, own, op_t, op_kind, op_order, op_gfp, op_handle, op_cpu,
               op_content, op_owner, start, end, event_limit):
    """Apply workload ops ``start:end``; stop early when the event ring has
    less than the headroom left.  Returns the next op index.

    An allocation names its owner (``op_owner``): a streamed workload reuses
    handle slots, and a reused slot belongs to its new owner."""
    i = start
    while i < end:
        if rec.ext_count[0] >= event_limit or st.cev_count[0] >= st.cev.shape[0] - CEV_HEADROOM:
            return i
        t = op_t[i]
        if t > st.clock[0]:
            st.clock[0] = t
        if vmscan.writeback_due(st, st.clock[0]):
            vmscan.end_writebacks(st, st.clock[0])
        if vmscan.daemons_due(st, prm, st.clock[0]):
            vmscan.run_daemons(st, prm, own, st.clock[0])
        k = op_kind[i]
        h = op_handle[i]
        cpu = op_cpu[i]
        if k == OP_COMPACT_MEMORY:
            # echo 1 > /proc/sys/vm/compact_memory: the writing task runs
            # compact_node() (MIGRATE_SYNC); not a memstall
            st.diag[DIAG_MANUAL_COMPACT_NS] += compaction.compact_node(st, prm, own, False, cpu)
            i += 1
            continue
        o = op_owner[i] if k == OP_ALLOC else own.h_owner[h]
        if own.o_dead[o]:
            st.diag[DIAG_OPS_OF_DEAD_OWNERS] += 1
            i += 1
            continue
        state = own.h_state[h]
        if k == OP_ALLOC:
            if state == H_RESIDENT or state == H_SWAPPED:
                forget_handle(st, prm, own, h, cpu)
            own.h_owner[h] = o
        # Allocating ops (a fault, a refault) share one call of do_alloc():
        # the allocator's fast path is compiled inline at each call site.
        alloc = False
        refaulting = False
        if k == OP_ALLOC and op_content[i] & CONTENT_SLAB_OBJECT:
            # kmem_cache_alloc(): one object of cache op_order[i]
            own.h_gfp[h] = op_gfp[i]
            st.node[NODE_FS_LOCKED] = 1 if op_content[i] & CONTENT_FS_LOCKED else 0
            if not slub.kmem_cache_alloc(st, prm, rec, own, h, cpu, op_order[i], op_gfp[i]):
                own.h_state[h] = H_FAILED
            st.node[NODE_FS_LOCKED] = 0
            i += 1
            continue
        if k == OP_TOUCH and state == H_EVICTED and slub.evicted_object_cache(own, h) >= 0:
            # a reclaimed dentry/inode looked up again: allocated anew (d_alloc())
            if not slub.kmem_cache_alloc(st, prm, rec, own, h, cpu,
                                         slub.evicted_object_cache(own, h), own.h_gfp[h]):
                own.h_state[h] = H_FAILED
            i += 1
            continue
        # a replay's readahead window (ops of traced page cache only)
        ra = ra_marks(op_gfp[i], op_content[i]) if k == OP_ALLOC or k == OP_FREE else 0
        if k == OP_ALLOC:
            order = op_order[i]
            gfp = op_gfp[i]
            kind = op_content[i] & ~CONTENT_FLAGS
            if ra:
                gfp = gfp & OP_GFP_GFP_MASK
            own.h_gfp[h] = gfp
            own.h_content[h] = kind
            own.h_order[h] = order
            active = False
            io = 0
            # MODEL: the lock is held for the allocation only (lockdep's view)
            fs_locked = 1 if op_content[i] & CONTENT_FS_LOCKED else 0
            pin = op_content[i] & CONTENT_PINNED
            prefill = (op_content[i] & CONTENT_PREFILL) != 0
            placed = -1
            if op_content[i] & CONTENT_PLACED:
                # a prefill folio at the machine's pfn (see CONTENT_PLACED)
                placed = gfp >> CONTENT_PLACED_PFN_SHIFT
                gfp = gfp & ((1 << CONTENT_PLACED_PFN_SHIFT) - 1)
                own.h_gfp[h] = gfp
            thp = order == HPAGE_PMD_ORDER and kind == KIND_ANON
            alloc = True
            if ra and readahead_op(st, prm, rec, own, h, cpu, gfp, order, ra):
                i += 1
                continue
        elif k == OP_TOUCH and (state == H_SWAPPED or state == H_EVICTED):
            active, io = refault_begin(st, own, h)
            gfp = own.h_gfp[h]
            order = own.h_order[h]
            kind = own.h_content[h]
            fs_locked = 0
            pin = 0
            prefill = False
            placed = -1
            thp = False
            alloc = True
            refaulting = True
        if alloc:
            st.node[NODE_FS_LOCKED] = fs_locked
            while True:
                if thp and prm.thp_fault_mpol and not prefill and placed < 0:
                    ok = alloc_pages_mpol_thp(st, prm, rec, own, h, cpu, gfp, order, kind, active)
                else:
                    ok = do_alloc(st, prm, rec, own, h, cpu, gfp, order, kind, active, prefill,
                                  placed)
                st.node[NODE_FS_LOCKED] = 0
                if ok and pin:
                    st.pg_flags[own.h_pfn[h]] |= PG_pinned     # pin_user_pages(FOLL_LONGTERM)
                if not thp:
                    break
                if ok:
                    st.vm_events[VM_THP_FAULT_ALLOC] += 1
                    break
                if gfp & __GFP_THISNODE and not prm.thp_fault_mpol:
                    # a traced local-node attempt: the trace holds the next one
                    break
                # do_huge_pmd_anonymous_page() failed: fall back to a small page.
                # MODEL: one base page stands for the region
                st.vm_events[VM_THP_FAULT_FALLBACK] += 1
                gfp = gfp & ~0x40000 | 0xcc0      # GFP_HIGHUSER_MOVABLE-ish
                own.h_gfp[h] = gfp
                own.h_order[h] = 0
                order = 0
                pin = 0
                thp = False
            if refaulting:
                refault_end(st, own, h, state, ok, io)
            elif not ok:
                own.h_state[h] = H_FAILED
            if ra:
                readahead_outcome(st, prm, rec, own, h, cpu, gfp, order, ra, ok)
        elif k == OP_FREE:
            if ra & RA_FAILED_HEAD and st.ra_state[ra_slot(ra), RA_KEEP] == h:
                # the kernel failed this readahead folio, the model keeps it
                st.ra_state[ra_slot(ra), RA_KEEP] = -1
            elif state == H_RESIDENT:
                free_handle(st, prm, own, h, cpu)
                own.h_state[h] = H_FREED
            elif state == H_SWAPPED:
                nr = 1 << own.h_order[h]
                st.node[NODE_SWAP_USED] -= nr
                own.o_swap[o] -= nr
                own.h_state[h] = H_FREED
            elif state == H_EVICTED:
                own.h_state[h] = H_FREED
            elif state == H_NONE:
                st.diag[DIAG_FREE_UNKNOWN_HANDLE] += 1
        elif k == OP_TOUCH:
            if state == H_RESIDENT:
                pfn = own.h_pfn[h]
                if own.h_content[h] == KIND_FILE:
                    vmscan.mark_page_accessed(st, pfn)
                else:
                    st.pg_flags[pfn] |= PG_young
        elif k == OP_DIRTY:
            if state == H_RESIDENT and own.h_content[h] == KIND_FILE:
                pfn = own.h_pfn[h]
                st.pg_flags[pfn] |= PG_dirty | PG_young
        i += 1
    return i
