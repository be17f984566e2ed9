"""A slow, obviously-correct pure-Python reference of the buddy allocator core.

One zone, no per-cpu lists, no watermarks, no slowpath, no CMA pages, no
isolation.  It is a transcription of mm/page_alloc.c (v6.15+, the
``__rmqueue_claim`` / ``__rmqueue_steal`` split; see /tmp/kernel_notes.md),
written independently of ``defragsim.mm.page_alloc`` and with deliberately plain
data structures so that every step can be checked by eye:

* ``free_lists[(order, mt)]`` is a Python list, index 0 = list head
  (``list_add`` = ``insert(0, ...)``, ``list_add_tail`` = ``append``);
* ``free_order[pfn]`` is the order of the free chunk headed at ``pfn``
  (PageBuddy + buddy_order);
* ``allocated[pfn] = (order, kind)`` for handed-out chunks, and
  ``page_kind[pfn]`` the content of every page of an allocated chunk
  (PageLRU = content anon or file);
* ``block_mt[block]`` the pageblock migratetypes.

Every list operation checks the kernel's VM_WARN/VM_BUG conditions with
``assert`` (a chunk is only ever added to / removed from the list of its
pageblock's current type, "freelist hygiene").

Allocation entry point: :meth:`NaiveZone.rmqueue` ``(order, mt, nofragment)``
- what ``rmqueue_buddy()`` does for a request without ALLOC_HIGHATOMIC /
ALLOC_OOM / ALLOC_NON_BLOCK.  Watermarks and the fast-path/slowpath passes
are the caller's business (see tests/test_buddy_reference.py).

The watermark boost is only counted (``boost_calls`` = number of
``boost_watermark()`` calls, i.e. partial-claim attempts); the caller may turn
that count into a boost value.
"""
from __future__ import annotations

from collections import Counter
from typing import NamedTuple

MAX_PAGE_ORDER = 10
NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1

MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
MIGRATE_PCPTYPES = 3
MIGRATE_HIGHATOMIC = 3
MIGRATE_CMA = 4
MIGRATE_ISOLATE = 5
MIGRATE_TYPES = 6

RMQUEUE_NORMAL = 0
RMQUEUE_CMA = 1
RMQUEUE_CLAIM = 2
RMQUEUE_STEAL = 3

FALLBACK_EMPTY = -1
FALLBACK_NOCLAIM = -2

KIND_NONE = 0
KIND_ANON = 1
KIND_FILE = 2

#: fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1]
FALLBACKS = {
    MIGRATE_UNMOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
    MIGRATE_MOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
    MIGRATE_RECLAIMABLE: (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),
}


class ExtfragEvent(NamedTuple):
    """One mm_page_alloc_extfrag event (``t`` = the caller-set clock)."""

    t: int
    pfn: int
    alloc_order: int
    fallback_order: int
    alloc_mt: int
    fallback_mt: int
    change_ownership: int


def migratetype_is_mergeable(mt):
    return mt < MIGRATE_PCPTYPES


class NaiveZone:
    """One zone ``[start_pfn, end_pfn)``; all pageblocks start as ``initial_mt``.

    With ``boot=True`` every page is handed to the buddy allocator the way
    boot does it: MAX_PAGE_ORDER-aligned chunks in address order, freed with
    FPI_TO_TAIL (``__free_pages_core`` -> ``__free_pages_ok(FPI_TO_TAIL)``).
    """

    def __init__(self, start_pfn, end_pfn, pageblock_order=9, initial_mt=MIGRATE_MOVABLE,
                 boot=True):
        assert start_pfn % (1 << pageblock_order) == 0
        assert end_pfn % (1 << pageblock_order) == 0
        self.start = start_pfn
        self.end = end_pfn
        self.pbo = pageblock_order
        self.pb_nr = 1 << pageblock_order
        self.block_mt = {b: initial_mt for b in range(start_pfn >> self.pbo, end_pfn >> self.pbo)}
        self.free_lists = {(o, mt): [] for o in range(NR_PAGE_ORDERS) for mt in range(MIGRATE_TYPES)}
        self.free_order = {}
        self.allocated = {}
        self.page_kind = {}
        self.events = []
        self.clock = 0
        self.boost_calls = 0
        self.stats = Counter()
        if boot:
            p = start_pfn
            while p < end_pfn:
                o = MAX_PAGE_ORDER
                while o > 0 and (p % (1 << o) != 0 or p + (1 << o) > end_pfn):
                    o -= 1
                self.split_large_buddy(p, o, to_tail=True)
                p += 1 << o

    # ------------------------------------------------------------------
    # pageblocks
    # ------------------------------------------------------------------
    def get_mt(self, pfn):
        return self.block_mt[pfn >> self.pbo]

    def set_mt(self, pfn, mt):
        self.block_mt[pfn >> self.pbo] = mt

    def change_pageblock_range(self, pfn, order, mt):
        assert order >= self.pbo
        for i in range(1 << (order - self.pbo)):
            self.set_mt(pfn + i * self.pb_nr, mt)

    # ------------------------------------------------------------------
    # free lists
    # ------------------------------------------------------------------
    def _check_hygiene(self, pfn, order, mt):
        nblocks = max((1 << order) >> self.pbo, 1)
        for i in range(nblocks):
            assert self.get_mt(pfn + i * self.pb_nr) == mt, \
                f"free chunk {pfn}/{order}: block type {self.get_mt(pfn + i * self.pb_nr)} != list {mt}"

    def add_to_free_list(self, pfn, order, mt, tail):
        """__add_to_free_list() + set_buddy_order()."""
        self._check_hygiene(pfn, order, mt)
        assert pfn % (1 << order) == 0 and self.start <= pfn and pfn + (1 << order) <= self.end
        assert pfn not in self.free_order and pfn not in self.allocated
        lst = self.free_lists[(order, mt)]
        if tail:
            lst.append(pfn)
        else:
            lst.insert(0, pfn)
        self.free_order[pfn] = order

    def del_from_free_list(self, pfn, order, mt):
        """__del_page_from_free_list() (clears PageBuddy)."""
        self._check_hygiene(pfn, order, mt)
        assert self.free_order[pfn] == order
        self.free_lists[(order, mt)].remove(pfn)   # ValueError if not on that list
        del self.free_order[pfn]

    def move_to_free_list(self, pfn, order, old_mt, new_mt):
        """move_to_free_list(): list_move_tail to new_mt (block not yet retyped)."""
        self._check_hygiene(pfn, order, old_mt)
        assert self.free_order[pfn] == order
        self.free_lists[(order, old_mt)].remove(pfn)
        self.free_lists[(order, new_mt)].append(pfn)

    def head(self, order, mt):
        """get_page_from_free_area(): list head or None."""
        lst = self.free_lists[(order, mt)]
        return lst[0] if lst else None

    def nr_free(self, order):
        """free_area[order].nr_free (all types)."""
        return sum(len(self.free_lists[(order, mt)]) for mt in range(MIGRATE_TYPES))

    def nr_free_pages(self):
        """NR_FREE_PAGES, recomputed from the lists (isolated pages do not count)."""
        return sum(len(self.free_lists[(o, mt)]) << o
                   for o in range(NR_PAGE_ORDERS) for mt in range(MIGRATE_TYPES)
                   if mt != MIGRATE_ISOLATE)

    def nr_free_pages_of(self, mt):
        return sum(len(self.free_lists[(o, mt)]) << o for o in range(NR_PAGE_ORDERS))

    # ------------------------------------------------------------------
    # freeing
    # ------------------------------------------------------------------
    def page_is_buddy(self, buddy, order):
        return self.start <= buddy < self.end and self.free_order.get(buddy) == order

    def buddy_merge_likely(self, pfn, buddy_pfn, order):
        if order >= MAX_PAGE_ORDER - 1:
            return False
        higher_page_pfn = buddy_pfn & pfn
        higher_buddy = higher_page_pfn ^ (1 << (order + 1))
        return self.page_is_buddy(higher_buddy, order + 1)

    def _free_one_page(self, pfn, order, mt, to_tail):
        """__free_one_page(): ``mt`` is the pageblock's type when the page reaches buddy."""
        buddy_pfn = 0
        while order < MAX_PAGE_ORDER:
            buddy_mt = mt
            buddy_pfn = pfn ^ (1 << order)
            if not self.page_is_buddy(buddy_pfn, order):
                break
            if order >= self.pbo:
                buddy_mt = self.get_mt(buddy_pfn)
                if mt != buddy_mt and (not migratetype_is_mergeable(mt)
                                       or not migratetype_is_mergeable(buddy_mt)):
                    break
            self.del_from_free_list(buddy_pfn, order, buddy_mt)
            if buddy_mt != mt:
                self.stats["merge_retype"] += 1
                self.change_pageblock_range(buddy_pfn, order, mt)
            pfn = buddy_pfn & pfn
            order += 1
        tail = to_tail or self.buddy_merge_likely(pfn, buddy_pfn, order)
        self.add_to_free_list(pfn, order, mt, tail)

    def split_large_buddy(self, pfn, order, to_tail=False):
        """split_large_buddy(): free block by block, each with its own block type."""
        end = pfn + (1 << order)
        if order > self.pbo:
            order = self.pbo
        while pfn < end:
            self._free_one_page(pfn, order, self.get_mt(pfn), to_tail)
            pfn += 1 << order

    def free(self, pfn):
        """Free an allocated chunk straight to the buddy lists (free_one_page)."""
        order, _kind = self.allocated.pop(pfn)
        for p in range(pfn, pfn + (1 << order)):
            del self.page_kind[p]
        self.split_large_buddy(pfn, order, to_tail=False)

    # ------------------------------------------------------------------
    # allocation
    # ------------------------------------------------------------------
    def expand(self, pfn, low, high, mt):
        size = 1 << high
        while high > low:
            high -= 1
            size >>= 1
            self.add_to_free_list(pfn + size, high, mt, tail=False)

    def page_del_and_expand(self, pfn, low, high, mt):
        self.del_from_free_list(pfn, high, mt)
        self.expand(pfn, low, high, mt)

    def rmqueue_smallest(self, order, mt):
        for current_order in range(order, NR_PAGE_ORDERS):
            pfn = self.head(current_order, mt)
            if pfn is None:
                continue
            self.page_del_and_expand(pfn, order, current_order, mt)
            return pfn
        return -1

    def should_try_claim_block(self, order, start_mt):
        if order >= self.pbo:
            return True
        if order >= self.pbo // 2:
            return True
        if start_mt in (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE):
            return True
        return False   # page_group_by_mobility_disabled is never set here

    def find_suitable_fallback(self, order, migratetype, claimable):
        if claimable and not self.should_try_claim_block(order, migratetype):
            return FALLBACK_NOCLAIM
        if self.nr_free(order) == 0:
            return FALLBACK_EMPTY
        for fallback_mt in FALLBACKS[migratetype]:
            if self.free_lists[(order, fallback_mt)]:
                return fallback_mt
        return FALLBACK_EMPTY

    def prep_move_freepages_block(self, pfn):
        """Returns (ok, start_pfn, free_pages, movable_pages)."""
        start = pfn - pfn % self.pb_nr
        end = start + self.pb_nr
        if not (self.start <= start < self.end and self.start <= end - 1 < self.end):
            return False, start, 0, 0
        free_pages = 0
        movable_pages = 0
        p = start
        while p < end:
            if p in self.free_order:
                nr = 1 << self.free_order[p]
                free_pages += nr
                p += nr
                continue
            if self.page_kind.get(p, KIND_NONE) in (KIND_ANON, KIND_FILE):   # PageLRU
                movable_pages += 1
            p += 1
        return True, start, free_pages, movable_pages

    def move_freepages_block_pages(self, start_pfn, old_mt, new_mt):
        """__move_freepages_block(): every free chunk of the block, in pfn order."""
        p = start_pfn
        moved = 0
        while p < start_pfn + self.pb_nr:
            if p not in self.free_order:
                p += 1
                continue
            o = self.free_order[p]
            self.move_to_free_list(p, o, old_mt, new_mt)
            p += 1 << o
            moved += 1 << o
        return moved

    def try_to_claim_block(self, pfn, current_order, order, start_type, block_type):
        if current_order >= self.pbo:
            self.del_from_free_list(pfn, current_order, block_type)
            self.change_pageblock_range(pfn, current_order, start_type)
            self.expand(pfn, order, current_order, start_type)
            self.stats["claim_whole"] += 1
            return pfn
        self.boost_calls += 1          # boost_watermark() (value left to the caller)
        self.stats["claim_partial_attempt"] += 1
        ok, start_pfn, free_pages, movable_pages = self.prep_move_freepages_block(pfn)
        if not ok:
            return -1
        if start_type == MIGRATE_MOVABLE:
            alike_pages = movable_pages
        elif block_type == MIGRATE_MOVABLE:
            alike_pages = self.pb_nr - (free_pages + movable_pages)
        else:
            alike_pages = 0
        if free_pages + alike_pages >= (1 << (self.pbo - 1)):
            self.move_freepages_block_pages(start_pfn, block_type, start_type)
            self.set_mt(start_pfn, start_type)
            self.stats["claim_partial_ok"] += 1
            return self.rmqueue_smallest(order, start_type)
        return -1

    def emit_extfrag(self, pfn, alloc_order, fallback_order, alloc_mt, fallback_mt):
        """trace_mm_page_alloc_extfrag(): change_ownership computed now."""
        self.events.append(ExtfragEvent(self.clock, pfn, alloc_order, fallback_order, alloc_mt,
                                        fallback_mt, int(alloc_mt == self.get_mt(pfn))))

    def rmqueue_claim(self, order, start_mt, nofragment):
        min_order = order
        if order < self.pbo and nofragment:
            min_order = self.pbo
        for current_order in range(MAX_PAGE_ORDER, min_order - 1, -1):
            fallback_mt = self.find_suitable_fallback(current_order, start_mt, True)
            if fallback_mt == FALLBACK_EMPTY:
                continue
            if fallback_mt == FALLBACK_NOCLAIM:
                break
            pfn = self.head(current_order, fallback_mt)
            pfn = self.try_to_claim_block(pfn, current_order, order, start_mt, fallback_mt)
            if pfn >= 0:
                self.emit_extfrag(pfn, order, current_order, start_mt, fallback_mt)
                return pfn
        return -1

    def rmqueue_steal(self, order, start_mt):
        for current_order in range(order, NR_PAGE_ORDERS):
            fallback_mt = self.find_suitable_fallback(current_order, start_mt, False)
            if fallback_mt == FALLBACK_EMPTY:
                continue
            pfn = self.head(current_order, fallback_mt)
            self.page_del_and_expand(pfn, order, current_order, fallback_mt)
            self.stats["steal"] += 1
            self.emit_extfrag(pfn, order, current_order, start_mt, fallback_mt)
            return pfn
        return -1

    def _rmqueue(self, order, mt, nofragment, mode):
        """__rmqueue() with the switch fall-through; ``mode`` is a 1-element list.

        No CMA pages exist in this reference, so the CMA balancing step and
        the RMQUEUE_CMA case can never return a page.
        """
        m = mode[0]
        if m <= RMQUEUE_NORMAL:
            pfn = self.rmqueue_smallest(order, mt)
            if pfn >= 0:
                return pfn
        if m <= RMQUEUE_CLAIM:
            pfn = self.rmqueue_claim(order, mt, nofragment)
            if pfn >= 0:
                mode[0] = RMQUEUE_NORMAL
                return pfn
        if not nofragment:
            pfn = self.rmqueue_steal(order, mt)
            if pfn >= 0:
                mode[0] = RMQUEUE_STEAL
                return pfn
        return -1

    def rmqueue(self, order, mt, nofragment):
        """rmqueue_buddy() for a plain request: one chunk or -1."""
        return self._rmqueue(order, mt, nofragment, [RMQUEUE_NORMAL])

    def rmqueue_bulk(self, order, count, mt, nofragment):
        """rmqueue_bulk(): up to ``count`` chunks with one cached mode."""
        mode = [RMQUEUE_NORMAL]
        out = []
        for _ in range(count):
            pfn = self._rmqueue(order, mt, nofragment, mode)
            if pfn < 0:
                break
            out.append(pfn)
        return out

    def prep_new_page(self, pfn, order, kind):
        assert pfn not in self.allocated
        self.allocated[pfn] = (order, kind)
        for p in range(pfn, pfn + (1 << order)):
            assert p not in self.page_kind
            self.page_kind[p] = kind

    # ------------------------------------------------------------------
    # self-check
    # ------------------------------------------------------------------
    def check(self):
        """Every page covered once; hygiene; nothing left unmerged."""
        cover = {}
        for (o, mt), lst in self.free_lists.items():
            assert len(set(lst)) == len(lst)
            for p in lst:
                assert self.free_order[p] == o
                self._check_hygiene(p, o, mt)
                for q in range(p, p + (1 << o)):
                    assert q not in cover
                    cover[q] = "free"
        assert sum(len(v) for v in self.free_lists.values()) == len(self.free_order)
        for p, (o, _k) in self.allocated.items():
            for q in range(p, p + (1 << o)):
                assert q not in cover
                cover[q] = "alloc"
        assert len(cover) == self.end - self.start
        for p, o in self.free_order.items():
            if o >= MAX_PAGE_ORDER:
                continue
            b = p ^ (1 << o)
            if self.free_order.get(b) == o:
                mt, bmt = self.get_mt(p), self.get_mt(b)
                assert o >= self.pbo and mt != bmt and not (
                    migratetype_is_mergeable(mt) and migratetype_is_mergeable(bmt)), \
                    f"unmerged buddies {p}/{b} order {o}"
