"""Mirror of mm/slub.c: slab caches whose pages hold many objects.

A workload op on a slab object (``CONTENT_SLAB_OBJECT``; its cache in the
``order`` column) allocates or frees one object of a cache of
:data:`~defragsim.constants.SLAB_CACHES`.  Objects are counted per slab page
(the page's ``pg_handle`` packs its cache and objects in use:
:func:`slab_handle`), not placed: a slab page is freed only when its last
object goes (and, as in ``__slab_free()``, only when the node already keeps
``min_partial`` partial slabs of the cache), which is what keeps long-lived
unmovable and reclaimable pages scattered through memory.  Objects of
shrinkable caches (dentries, inodes) sit on one ``list_lru``
(``Owners.h_lru_next``/``h_lru_prev``, oldest at the tail) that
:func:`~defragsim.mm.vmscan.shrink_slab` scans object by object.

MODEL differences (also marked at the code):

* no per-cpu slabs or per-cpu partial lists: every allocation takes an
  object from the first slab of the node's partial list;
* a slab's objects are interchangeable: which object of a page an
  allocation gets is not modelled, only how many are in use;
* the list_lru has no DCACHE_REFERENCED second chance (the workload does not
  touch slab objects).
"""
from __future__ import annotations

from .._jit import kernel as njit
from ..constants import (
    H_EVICTED, H_RESIDENT, KIND_SLAB_RECLAIMABLE, KIND_SLAB_UNRECLAIMABLE, PAGE_SHIFT,
    SLAB_CACHE_BITS, VM_SLABS_SCANNED,
)
from ..gfp import __GFP_COMP, __GFP_MOVABLE, __GFP_NOFAIL, __GFP_NORETRY, __GFP_NOWARN, \
    __GFP_RECLAIMABLE
from .page_alloc import __alloc_pages, free_frozen_pages, prep_new_page
from .state import (
    NODE_OBJ_LRU_COUNT, NODE_OBJ_LRU_HEAD, NODE_OBJ_LRU_TAIL, SLAB_ACTIVE_OBJS, SLAB_ALLOC_FAILED,
    SLAB_MIN_ORDER, SLAB_MIN_PARTIAL, SLAB_NR_PAGES, SLAB_NR_PARTIAL, SLAB_NR_SLABS,
    SLAB_OBJSIZE, SLAB_ORDER, SLAB_PARTIAL_HEAD, SLAB_PARTIAL_TAIL, SLAB_SHRINKABLE,
)


@njit(inline='always')
def slab_handle(cache, inuse):
    """``pg_handle`` of a slab page of ``cache`` with ``inuse`` objects in
    use (slab->inuse): -2 - (cache | inuse << SLAB_CACHE_BITS), a value no
    workload handle has (-1 stays "no handle")."""
    return -2 - (cache | (inuse << SLAB_CACHE_BITS))


@njit(inline='always')
def slab_cache_of(st, pfn):
    """The cache of slab page ``pfn``, or -1 if it is not an object slab."""
    h = st.pg_handle[pfn]
    return (-2 - h) & ((1 << SLAB_CACHE_BITS) - 1) if h <= -2 else -1


@njit(inline='always')
def slab_inuse(st, pfn):
    """Objects in use on slab page ``pfn`` (its head page)."""
    return (-2 - st.pg_handle[pfn]) >> SLAB_CACHE_BITS


@njit(inline='always')
def objs_per_slab(st, cache, order):
    """oo_objects(): objects of a slab of ``order`` pages."""
    return ((1 << PAGE_SHIFT) << order) // st.slab_cache[cache, SLAB_OBJSIZE]


@njit
def partial_add(st, cache, pfn, tail):
    """add_partial(): the slab goes on the node's partial list of its cache
    (the list links are the page's, as the slab's ``slab_list`` is)."""
    head = st.slab_cache[cache, SLAB_PARTIAL_HEAD]
    tl = st.slab_cache[cache, SLAB_PARTIAL_TAIL]
    if head < 0:
        st.pg_next[pfn] = -1
        st.pg_prev[pfn] = -1
        st.slab_cache[cache, SLAB_PARTIAL_HEAD] = pfn
        st.slab_cache[cache, SLAB_PARTIAL_TAIL] = pfn
    elif tail:
        st.pg_next[pfn] = -1
        st.pg_prev[pfn] = tl
        st.pg_next[tl] = pfn
        st.slab_cache[cache, SLAB_PARTIAL_TAIL] = pfn
    else:
        st.pg_prev[pfn] = -1
        st.pg_next[pfn] = head
        st.pg_prev[head] = pfn
        st.slab_cache[cache, SLAB_PARTIAL_HEAD] = pfn
    st.slab_cache[cache, SLAB_NR_PARTIAL] += 1


@njit(inline='always')
def _unlink(nxt, prv, head, hi, tail, ti, x):
    """list_del() of ``x`` from a list threaded through ``nxt``/``prv`` whose
    first and last entries are ``head[hi]`` and ``tail[ti]``."""
    n, p = nxt[x], prv[x]
    if p >= 0:
        nxt[p] = n
    else:
        head[hi] = n
    if n >= 0:
        prv[n] = p
    else:
        tail[ti] = p
    nxt[x] = -1
    prv[x] = -1


@njit
def remove_partial(st, cache, pfn):
    """remove_partial()."""
    row = st.slab_cache[cache]
    _unlink(st.pg_next, st.pg_prev, row, SLAB_PARTIAL_HEAD, row, SLAB_PARTIAL_TAIL, pfn)
    row[SLAB_NR_PARTIAL] -= 1


@njit
def allocate_slab(st, prm, rec, own, cpu, cache, gfp):
    """allocate_slab(): a new slab page for ``cache``.  The preferred order
    is tried first without retrying or warning (``__GFP_NORETRY |
    __GFP_NOWARN``, no ``__GFP_NOFAIL``), then the smallest order that holds
    one object with the caller's flags.  Shrinkable caches are
    SLAB_RECLAIM_ACCOUNT: their pages are ``__GFP_RECLAIMABLE``.  Returns the
    pfn or -1."""
    flags = gfp & ~(__GFP_MOVABLE | __GFP_RECLAIMABLE)
    kind = KIND_SLAB_UNRECLAIMABLE
    if st.slab_cache[cache, SLAB_SHRINKABLE]:
        flags |= __GFP_RECLAIMABLE
        kind = KIND_SLAB_RECLAIMABLE
    order = st.slab_cache[cache, SLAB_ORDER]
    min_order = st.slab_cache[cache, SLAB_MIN_ORDER]
    pfn = -1
    if order > min_order:
        alloc_gfp = ((flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL) | __GFP_COMP
        pfn = __alloc_pages(st, prm, rec, own, cpu, alloc_gfp, order)
    if pfn < 0:
        order = min_order
        pfn = __alloc_pages(st, prm, rec, own, cpu, flags | (__GFP_COMP if order else 0), order)
    if pfn < 0:
        return -1
    prep_new_page(st, pfn, order, kind, slab_handle(cache, 0))
    st.slab_cache[cache, SLAB_NR_SLABS] += 1
    st.slab_cache[cache, SLAB_NR_PAGES] += 1 << order
    return pfn


@njit
def list_lru_add(st, own, h):
    """list_lru_add(): a shrinkable object goes on the head of the list_lru."""
    head = st.node[NODE_OBJ_LRU_HEAD]
    own.h_lru_prev[h] = -1
    own.h_lru_next[h] = head
    if head >= 0:
        own.h_lru_prev[head] = h
    else:
        st.node[NODE_OBJ_LRU_TAIL] = h
    st.node[NODE_OBJ_LRU_HEAD] = h
    st.node[NODE_OBJ_LRU_COUNT] += 1


@njit
def list_lru_del(st, own, h):
    """list_lru_del()."""
    _unlink(own.h_lru_next, own.h_lru_prev, st.node, NODE_OBJ_LRU_HEAD, st.node,
            NODE_OBJ_LRU_TAIL, h)
    st.node[NODE_OBJ_LRU_COUNT] -= 1


@njit
def kmem_cache_alloc(st, prm, rec, own, h, cpu, cache, gfp):
    """kmem_cache_alloc() of one object of ``cache`` for handle ``h``: from
    the first partial slab (``get_partial_node()``), else a new slab
    (``new_slab()``).  A slab whose last free object is taken leaves the
    partial list (full slabs are on no list).  Returns False when no slab
    page could be allocated.  The handle remembers its cache
    (:func:`evicted_object_cache`)."""
    own.h_shadow[h] = -1 - cache       # an object has no workingset shadow
    # MODEL: no per-cpu slab or per-cpu partial list: the node's first partial slab
    pfn = st.slab_cache[cache, SLAB_PARTIAL_HEAD]
    if pfn < 0:
        pfn = allocate_slab(st, prm, rec, own, cpu, cache, gfp)
        if pfn < 0:
            st.slab_cache[cache, SLAB_ALLOC_FAILED] += 1
            return False
        # reclaim inside allocate_slab() may have freed objects of this
        # cache: the new slab goes on the list after whatever is there
        partial_add(st, cache, pfn, False)
    # MODEL: which free object of the slab it gets is not modelled, only the count
    inuse = slab_inuse(st, pfn) + 1
    st.pg_handle[pfn] = slab_handle(cache, inuse)
    if inuse >= objs_per_slab(st, cache, st.pg_order[pfn]):
        remove_partial(st, cache, pfn)
    st.slab_cache[cache, SLAB_ACTIVE_OBJS] += 1
    own.h_pfn[h] = pfn
    own.h_order[h] = 0
    own.h_state[h] = H_RESIDENT
    own.h_content[h] = KIND_SLAB_RECLAIMABLE if st.slab_cache[cache, SLAB_SHRINKABLE] \
        else KIND_SLAB_UNRECLAIMABLE
    own.h_lru_next[h] = -1
    own.h_lru_prev[h] = -1
    if st.slab_cache[cache, SLAB_SHRINKABLE]:
        list_lru_add(st, own, h)
    return True


@njit(inline='always')
def evicted_object_cache(own, h):
    """The cache of the slab object handle ``h`` last held (kept after a
    shrinker evicted it, for a later lookup), or -1 for any other handle:
    page evictions leave a non-negative workingset shadow there."""
    return -1 - own.h_shadow[h] if own.h_shadow[h] < 0 else -1


@njit
def kmem_cache_free(st, prm, own, h, cpu):
    """kmem_cache_free() of handle ``h``'s object (``__slab_free()``): a full
    slab goes back on the partial list (at its tail); a slab whose last
    object goes is freed (``discard_slab()``) once the node keeps
    ``min_partial`` partial slabs of the cache, else kept empty on the list.
    Returns the pages freed."""
    pfn = own.h_pfn[h]
    cache = slab_cache_of(st, pfn)
    if st.slab_cache[cache, SLAB_SHRINKABLE]:
        list_lru_del(st, own, h)
    own.h_pfn[h] = -1
    st.slab_cache[cache, SLAB_ACTIVE_OBJS] -= 1
    order = st.pg_order[pfn]
    inuse = slab_inuse(st, pfn)
    was_full = inuse >= objs_per_slab(st, cache, order)
    inuse -= 1
    st.pg_handle[pfn] = slab_handle(cache, inuse)
    if inuse == 0 and st.slab_cache[cache, SLAB_NR_PARTIAL] >= \
            st.slab_cache[cache, SLAB_MIN_PARTIAL]:
        if not was_full:
            remove_partial(st, cache, pfn)
        st.slab_cache[cache, SLAB_NR_SLABS] -= 1
        st.slab_cache[cache, SLAB_NR_PAGES] -= 1 << order
        free_frozen_pages(st, prm, cpu, pfn, order)
        return 1 << order
    if was_full:
        partial_add(st, cache, pfn, True)
    return 0


@njit
def shrink_list_lru(st, prm, own, nr_to_scan, cpu, cost_per_object):
    """The shrinkers' scan (super_cache_scan(): prune_dcache_sb(),
    prune_icache_sb()) over the list_lru: up to ``nr_to_scan`` objects from
    the tail (the oldest) are freed; each leaves its handle evicted.  Returns
    (objects scanned, pages freed, cost in ns).
    MODEL: no DCACHE_REFERENCED second chance (objects are never touched)."""
    scanned = 0
    pages = 0
    # MODEL: no DCACHE_REFERENCED second chance: every object scanned is freed
    while scanned < nr_to_scan:
        h = st.node[NODE_OBJ_LRU_TAIL]
        if h < 0:
            break
        scanned += 1
        pages += kmem_cache_free(st, prm, own, h, cpu)
        own.h_state[h] = H_EVICTED    # a later free by the workload is a no-op
    st.vm_events[VM_SLABS_SCANNED] += scanned
    return scanned, pages, scanned * cost_per_object
