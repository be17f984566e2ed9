"""The model's VM_BUG_ON: consistency checks run after every chunk in tests.

:func:`check_state` raises :class:`InvariantError` naming the first broken
invariant and the pfn/zone/order involved.  Checked:

* pages conserved: every pfn is covered exactly once by a free buddy chunk, a
  chunk on a per-cpu list, an allocated chunk, or a chunk free page reporting
  holds while it reports it; the zone counters agree;
* free chunks are order-aligned, inside their zone, PageBuddy with the right
  order, on the list of their pageblock's current type (freelist hygiene);
* no two free buddies of the same order are left unmerged where
  ``__free_one_page`` would have merged them;
* ``nr_free``/per-type counts equal the list lengths; NR_FREE_PAGES,
  NR_FREE_PAGES_BLOCKS, the highatomic and CMA sub-counts equal the lists;
* pcp counts equal their lists; pageblock types are valid;
* slab caches: each object slab's objects in use are within its capacity,
  and per cache the slabs, their pages and objects in use equal the cache's
  counts; the partial lists hold exactly the cache's slabs that are not full;
* LRU lists: each memcg's lists hold its own folios and as many pages as its
  sizes say, and the node's sizes are the sums over the memcgs.
"""
from __future__ import annotations

import numpy as np

from .._jit import njit
from ..constants import (
    MAX_NR_ZONES, MAX_PAGE_ORDER, MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE,
    MIGRATE_PCPTYPES, MIGRATE_TYPES, NR_FREE_CMA_PAGES, NR_LRU_LISTS, NR_FREE_HIGHATOMIC, NR_FREE_PAGES,
    NR_FREE_PAGES_BLOCKS, NR_PAGE_ORDERS, NR_PCP_LISTS, NR_ZONE_ALLOCATED, NR_ZONE_PCP,
    PG_buddy, PG_head, PG_pcp, PG_tail, SLAB_CACHE_BITS,
)
from .page_alloc import free_list_id, pcp_list_id, pindex_to_order
from .vmscan import lru_list_id
from .state import (
    CC_NR_FREE_CHUNKS, CC_NR_FREEPAGES, CC_NR_MIGRATEPAGES, NODE_PR_OFFSET, SLAB_ACTIVE_OBJS,
    SLAB_NR_PAGES, SLAB_NR_PARTIAL, SLAB_NR_SLABS, SLAB_OBJSIZE, SLAB_PARTIAL_HEAD,
    SLAB_PARTIAL_TAIL,
)

# The invariants, by the code _check() returns (0: all hold)
INV_OK = 0
INV_UNALIGNED = 1
INV_NOT_BUDDY = 2
INV_OUTSIDE_ZONE = 3
INV_WRONG_LIST = 4
INV_COVERED_TWICE = 5
INV_NOT_COVERED = 6
INV_NR_FREE_MT = 7
INV_NR_FREE = 8
INV_NR_FREE_PAGES = 9
INV_NR_FREE_PAGES_BLOCKS = 10
INV_UNMERGED = 11
INV_PCP_COUNT = 12
INV_BAD_MIGRATETYPE = 13
INV_COMPOUND_FLAGS = 14
INV_NR_ZONE_ALLOCATED = 15
INV_RESERVE_COUNT = 16
INV_CORRUPT_LIST = 17
INV_NR_ZONE_PCP = 18
INV_SLAB_INUSE = 19
INV_SLAB_COUNTS = 20
INV_SLAB_PARTIAL = 21
INV_LRU = 22
INV_CC_FREEPAGES = 23

#: what each broken invariant means
ERRORS = {
    INV_UNALIGNED: "free chunk not aligned to its order",
    INV_NOT_BUDDY: "free chunk head lacks PageBuddy or has the wrong order",
    INV_OUTSIDE_ZONE: "free or per-cpu chunk outside its zone",
    INV_WRONG_LIST: "free chunk on the list of a type other than its pageblock's (hygiene)",
    INV_COVERED_TWICE: "page covered twice (free/pcp/allocated overlap)",
    INV_NOT_COVERED: "page not covered by any free, pcp or allocated chunk (pages not conserved)",
    INV_NR_FREE_MT: "nr_free_mt differs from the free list length",
    INV_NR_FREE: "nr_free differs from the sum over types",
    INV_NR_FREE_PAGES: "NR_FREE_PAGES differs from the free lists",
    INV_NR_FREE_PAGES_BLOCKS: "NR_FREE_PAGES_BLOCKS differs from the free lists",
    INV_UNMERGED: "two free buddies left unmerged",
    INV_PCP_COUNT: "pcp count differs from its lists",
    INV_BAD_MIGRATETYPE: "invalid pageblock migratetype",
    INV_COMPOUND_FLAGS: "allocated chunk head/tail flags inconsistent",
    INV_NR_ZONE_ALLOCATED: "NR_ZONE_ALLOCATED differs from allocated pages",
    INV_RESERVE_COUNT: "highatomic/CMA free count differs from the lists",
    INV_CORRUPT_LIST: "free list is corrupt (broken prev/next links)",
    INV_NR_ZONE_PCP: "NR_ZONE_PCP differs from the pcp lists",
    INV_SLAB_INUSE: "slab page with objects in use outside 0..its capacity",
    INV_SLAB_COUNTS: "a cache's slabs, pages or objects in use differ from its slab pages",
    INV_SLAB_PARTIAL: "a partial list differs from the cache's slabs that are not full",
    INV_LRU: "an LRU list differs from its memcg's size, or holds another memcg's folio",
    INV_CC_FREEPAGES: "a compaction's isolated free chunks differ from its counts, or it still "
                      "holds isolated folios",
}


class InvariantError(AssertionError):
    """A model invariant does not hold."""


@njit
def _check(st, prm):
    n = st.pg_flags.shape[0]
    cover = np.zeros(n, np.uint8)
    for b in range(st.block_mt.shape[0]):
        if st.block_mt[b] >= MIGRATE_TYPES:
            return INV_BAD_MIGRATETYPE, b, st.block_mt[b], 0
    for z in range(MAX_NR_ZONES):
        free_pages = 0
        free_blocks = 0
        free_ha = 0
        free_cma = 0
        for o in range(NR_PAGE_ORDERS):
            tot = 0
            for mt in range(MIGRATE_TYPES):
                cnt = 0
                lid = free_list_id(z, o, mt)
                p = st.free_head[lid]
                prev = -1
                while p >= 0:
                    if st.pg_prev[p] != prev:
                        return INV_CORRUPT_LIST, p, z, o
                    if p & ((1 << o) - 1):
                        return INV_UNALIGNED, p, z, o
                    if (st.pg_flags[p] & 0x0F) != PG_buddy or st.pg_order[p] != o:
                        return INV_NOT_BUDDY, p, z, o
                    if p < st.zone_start[z] or p + (1 << o) > st.zone_end[z]:
                        return INV_OUTSIDE_ZONE, p, z, o
                    nb = max((1 << o) >> prm.pageblock_order, 1)
                    for k in range(nb):
                        if st.block_mt[(p >> prm.pageblock_order) + k] != mt:
                            return INV_WRONG_LIST, p, z, o
                    for k in range(1 << o):
                        if cover[p + k]:
                            return INV_COVERED_TWICE, p + k, z, o
                        cover[p + k] = 1
                    if mt != MIGRATE_ISOLATE:
                        free_pages += 1 << o
                        if o >= prm.pageblock_order:
                            free_blocks += 1 << o
                    if mt == MIGRATE_HIGHATOMIC:
                        free_ha += 1 << o
                    if mt == MIGRATE_CMA:
                        free_cma += 1 << o
                    cnt += 1
                    prev = p
                    p = st.pg_next[p]
                if st.free_tail[lid] != prev:
                    return INV_CORRUPT_LIST, prev, z, o
                if cnt != st.nr_free_mt[z, o, mt]:
                    return INV_NR_FREE_MT, cnt, z, o
                tot += cnt
            if tot != st.nr_free[z, o]:
                return INV_NR_FREE, tot, z, o
        if free_pages != st.zone_stat[z, NR_FREE_PAGES]:
            return INV_NR_FREE_PAGES, free_pages, z, st.zone_stat[z, NR_FREE_PAGES]
        if free_blocks != st.zone_stat[z, NR_FREE_PAGES_BLOCKS]:
            return INV_NR_FREE_PAGES_BLOCKS, free_blocks, z, st.zone_stat[z, NR_FREE_PAGES_BLOCKS]
        if free_ha != st.zone_stat[z, NR_FREE_HIGHATOMIC] or free_cma != st.zone_stat[z, NR_FREE_CMA_PAGES]:
            return INV_RESERVE_COUNT, free_ha, z, free_cma
        # pcp lists
        zpcp = 0
        for cpu in range(prm.nr_cpus):
            cnt = 0
            for pi in range(NR_PCP_LISTS):
                o = pindex_to_order(pi)
                lid = pcp_list_id(cpu, z, pi)
                p = st.pcp_head[lid]
                prev = -1
                while p >= 0:
                    if st.pg_prev[p] != prev or (st.pg_flags[p] & PG_pcp) == 0 or st.pg_order[p] != o:
                        return INV_CORRUPT_LIST, p, z, o
                    if p < st.zone_start[z] or p + (1 << o) > st.zone_end[z]:
                        return INV_OUTSIDE_ZONE, p, z, o
                    for k in range(1 << o):
                        if cover[p + k]:
                            return INV_COVERED_TWICE, p + k, z, o
                        cover[p + k] = 1
                    cnt += 1 << o
                    prev = p
                    p = st.pg_next[p]
                if st.pcp_tail[lid] != prev:
                    return INV_CORRUPT_LIST, prev, z, o
            if cnt != st.pcp_count[cpu, z]:
                return INV_PCP_COUNT, cnt, cpu, z
            zpcp += cnt
        if zpcp != st.zone_stat[z, NR_ZONE_PCP]:
            return INV_NR_ZONE_PCP, zpcp, z, st.zone_stat[z, NR_ZONE_PCP]
    # allocated chunks
    alloc = np.zeros(MAX_NR_ZONES, np.int64)
    p = 0
    while p < n:
        f = st.pg_flags[p]
        if f & PG_head:
            o = st.pg_order[p]
            if o < 0 or o > MAX_PAGE_ORDER or (p & ((1 << o) - 1)):
                return INV_COMPOUND_FLAGS, p, o, 0
            for k in range(1 << o):
                if k > 0 and (st.pg_flags[p + k] & PG_tail) == 0:
                    return INV_COMPOUND_FLAGS, p + k, o, 1
                if cover[p + k]:
                    return INV_COVERED_TWICE, p + k, o, 2
                cover[p + k] = 1
            z = 0 if p < st.zone_end[0] else 1
            alloc[z] += 1 << o
            p += 1 << o
        else:
            p += 1
    # chunks free page reporting holds off the free lists while it reports them
    for i in range(st.node[NODE_PR_OFFSET]):
        p0 = st.pr_sgl[i]
        for k in range(1 << st.pr_order[i]):
            if cover[p0 + k]:
                return INV_COVERED_TWICE, p0 + k, st.pr_order[i], 3
            cover[p0 + k] = 1
    # free chunks a compaction holds isolated (cc->freepages; none once it
    # returned, and a compaction runs within one op or daemon step)
    for c in range(st.cc_freepages.shape[0]):
        chunks = 0
        pages = 0
        for i in range(st.cc_freepages.shape[1]):
            p0 = st.cc_freepages[c, i]
            if p0 < 0:
                continue
            o = st.pg_order[p0]
            for k in range(1 << o):
                if cover[p0 + k]:
                    return INV_COVERED_TWICE, p0 + k, o, 4
                cover[p0 + k] = 1
            chunks += 1
            pages += 1 << o
        if chunks != st.cc[c, CC_NR_FREE_CHUNKS] or pages != st.cc[c, CC_NR_FREEPAGES] or \
                st.cc[c, CC_NR_MIGRATEPAGES] != 0:
            return INV_CC_FREEPAGES, c, chunks, pages
    for p in range(n):
        if cover[p] == 0:
            return INV_NOT_COVERED, p, st.pg_flags[p], st.pg_order[p]
    for z in range(MAX_NR_ZONES):
        if alloc[z] != st.zone_stat[z, NR_ZONE_ALLOCATED]:
            return INV_NR_ZONE_ALLOCATED, alloc[z], z, st.zone_stat[z, NR_ZONE_ALLOCATED]
    # slab caches (mm/slub.py)
    nc = st.slab_cache.shape[0]
    slabs = np.zeros(nc, np.int64)
    pages = np.zeros(nc, np.int64)
    objs = np.zeros(nc, np.int64)
    notfull = np.zeros(nc, np.int64)
    for p in range(n):
        h = st.pg_handle[p]
        if h <= -2 and (st.pg_flags[p] & PG_head):
            c = (-2 - h) & ((1 << SLAB_CACHE_BITS) - 1)
            inuse = (-2 - h) >> SLAB_CACHE_BITS
            o = st.pg_order[p]
            cap = (4096 << o) // st.slab_cache[c, SLAB_OBJSIZE]
            if c >= nc or inuse > cap:
                return INV_SLAB_INUSE, p, c, inuse
            slabs[c] += 1
            pages[c] += 1 << o
            objs[c] += inuse
            if inuse < cap:
                notfull[c] += 1
    for c in range(nc):
        if slabs[c] != st.slab_cache[c, SLAB_NR_SLABS] or pages[c] != \
                st.slab_cache[c, SLAB_NR_PAGES] or objs[c] != st.slab_cache[c, SLAB_ACTIVE_OBJS]:
            return INV_SLAB_COUNTS, c, slabs[c], objs[c]
        k = 0
        p = st.slab_cache[c, SLAB_PARTIAL_HEAD]
        prev = -1
        while p >= 0 and k <= slabs[c]:
            if st.pg_handle[p] > -2 or ((-2 - st.pg_handle[p]) & ((1 << SLAB_CACHE_BITS) - 1)) != c \
                    or st.pg_prev[p] != prev:
                return INV_SLAB_PARTIAL, c, p, k
            k += 1
            prev = p
            p = st.pg_next[p]
        if k != notfull[c] or k != st.slab_cache[c, SLAB_NR_PARTIAL] or \
                prev != st.slab_cache[c, SLAB_PARTIAL_TAIL]:
            return INV_SLAB_PARTIAL, c, k, notfull[c]
    # LRU lists, per memcg
    nr_memcg = st.memcg_lru_size.shape[0]
    for lru in range(NR_LRU_LISTS):
        node_total = 0
        for m in range(nr_memcg):
            pages = 0
            p = st.lru_head[lru_list_id(m, lru)]
            prev = -1
            while p >= 0 and pages <= st.memcg_lru_size[m, lru]:
                if st.pg_prev[p] != prev or (nr_memcg > 1 and st.pg_memcg[p] != m):
                    return INV_LRU, m, lru, p
                pages += 1 << st.pg_order[p]
                prev = p
                p = st.pg_next[p]
            if pages != st.memcg_lru_size[m, lru] or prev != st.lru_tail[lru_list_id(m, lru)]:
                return INV_LRU, m, lru, pages
            node_total += pages
        if node_total != st.lru_size[lru]:
            return INV_LRU, -1, lru, node_total
    # unmerged buddies
    for z in range(MAX_NR_ZONES):
        for o in range(MAX_PAGE_ORDER):
            for mt in range(MIGRATE_TYPES):
                p = st.free_head[free_list_id(z, o, mt)]
                while p >= 0:
                    b = p ^ (1 << o)
                    if b >= st.zone_start[z] and b < st.zone_end[z] and \
                            (st.pg_flags[b] & PG_buddy) and st.pg_order[b] == o:
                        bmt = st.block_mt[b >> prm.pageblock_order]
                        ok_split = o >= prm.pageblock_order and bmt != mt and \
                            (mt >= MIGRATE_PCPTYPES or bmt >= MIGRATE_PCPTYPES)
                        if not ok_split:
                            return INV_UNMERGED, p, z, o
                    p = st.pg_next[p]
    return INV_OK, 0, 0, 0


def check_state(st, prm) -> None:
    """Raise :class:`InvariantError` if any invariant is broken."""
    code, a, b, c = _check(st, prm)
    if code:
        raise InvariantError(f"invariant {code} broken: {ERRORS.get(int(code), '?')} "
                             f"(values {int(a)}, {int(b)}, {int(c)})")
