"""One test per fallback rule of mm/page_alloc.c (v6.15+), on hand-built states.

States are built through ``step_chunk`` (tests/model_driver.py): a booted
zone is filled by MOVABLE requests of decreasing size, which the buddy
allocator hands out contiguously in address order, so every piece lands at a
known pfn (``fill`` asserts it); pieces are then freed to make holes, and a few
direct jitted calls (``move_freepages_block``) retype pageblocks.  The content
kind of each piece decides PageLRU (anon/file) for try_to_claim_block()'s
counting.

Unless a test says otherwise: one Normal zone of 16 MiB (4096 pages, 8
pageblocks of 512), no per-cpu lists, requests that cannot reclaim
(model_driver.GFP_NORECLAIM), watermark_boost_factor 0, and the MIN and LOW
watermarks of the zone set to 0 so that memory can be filled completely.  The
rules tested here do not depend on watermarks (the HIGH mark, which
boost_watermark() reads, is left alone).

Event tuples are (t, pfn, alloc_order, fallback_order, alloc_mt, fallback_mt,
change_ownership); most asserts drop ``t``.
"""
from __future__ import annotations

import pytest

from defragsim import Config
from defragsim import constants as C
from defragsim.mm import page_alloc as pa
from defragsim.mm.invariants import check_state

from model_driver import ModelRun

Z = C.ZONE_NORMAL
U, M, R, H = C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE, C.MIGRATE_HIGHATOMIC
ANON, FILE, KERN = C.KIND_ANON, C.KIND_FILE, C.KIND_KERNEL
NON_LRU = [C.KIND_SLAB_RECLAIMABLE, C.KIND_SLAB_UNRECLAIMABLE, C.KIND_PAGETABLE, C.KIND_KERNEL]
LRU = [ANON, FILE]
PB = 512
HOLE = "hole"


def model(mem="16M", dma32=0, pcp=False, defrag_mode=0, boost=0, zero_wmarks=True):
    cfg = Config(mem=mem, dma32=dma32, nr_cpus=1, pcp=pcp, min_free_kbytes=128,
                 watermark_boost_factor=boost, defrag_mode=defrag_mode)
    m = ModelRun(cfg)
    if zero_wmarks:
        m.st.watermark[:, C.WMARK_MIN] = 0
        m.st.watermark[:, C.WMARK_LOW] = 0
    return m


def fill(m, pieces, mt=M):
    """Allocate ``pieces`` = [(order, kind-or-HOLE)] (kind HOLE = anon, to be
    freed by the caller) in one step_chunk call; assert they are contiguous in
    address order.  Returns [(pfn, handle)]."""
    res = m.alloc_many([(o, mt, ANON if k == HOLE else k) for o, k in pieces])
    pfn = res[0][0]
    for (o, k), (p, _h) in zip(pieces, res):
        assert p == pfn, f"piece {(o, k)} landed at {p}, expected {pfn}"
        pfn += 1 << o
    return res


def holes(pieces, res):
    """{pfn: handle} of the HOLE pieces."""
    return {p: h for (o, k), (p, h) in zip(pieces, res) if k == HOLE}


def retype(m, block, old, new):
    """move_freepages_block(): retype a pageblock and move its free chunks
    (the block's free chunks must lie inside it)."""
    moved = pa.move_freepages_block(m.st, m.prm, Z, block * PB, old, new)
    assert moved >= 0
    assert m.block_mt()[block] == new
    return moved


def ev(m, i=-1):
    """An extfrag event without its time stamp."""
    return m.events()[i][1:]


def lru_block(base_order=9):
    return [(base_order, ANON)]


def check(m):
    check_state(m.st, m.prm)


# ---------------------------------------------------------------------------
# (a) __rmqueue_smallest / expand
# ---------------------------------------------------------------------------

def test_rmqueue_smallest_takes_smallest_same_type_chunk_lowest_piece():
    """__rmqueue_smallest(): "for current_order = order..NR_PAGE_ORDERS-1: page =
    get_page_from_free_area(area, migratetype)" - the smallest chunk on the
    request's OWN lists (smaller chunks of other types are ignored), the list
    head; page_del_and_expand()/expand() keep the lowest piece for the caller
    and queue every upper half on the same migratetype's lists."""
    m = model()
    assert m.alloc_pfn(0, U) == 0          # claims blocks 0-1 for UNMOVABLE (see test (b))
    assert [m.alloc_pfn(o, M) for o in (0, 1, 2)] == [1024, 1026, 1028]
    # MOVABLE now has o0 [1025], nothing at o1/o2, o3 [1032], ...; UNMOVABLE has o1 [2]
    assert m.free_list(1, U) == [2]
    assert m.free_list(3, M) == [1032]
    n_ev = len(m.events())
    pfn = m.alloc_pfn(1, M)
    assert pfn == 1032                     # smallest MOVABLE chunk >= order 1, lowest piece
    assert m.free_list(3, M) == []
    assert m.free_list(2, M) == [1036]     # upper halves, on MOVABLE lists
    assert m.free_list(1, M) == [1034]
    assert m.free_list(0, M) == [1025]
    assert m.free_list(1, U) == [2]        # the smaller UNMOVABLE chunk was not touched
    assert len(m.events()) == n_ev         # same-type allocation: no extfrag event
    check(m)


def test_expand_queues_split_halves_at_list_head():
    """expand(): "__add_to_free_list(&page[size], zone, high, migratetype, false)" -
    each split-off half goes to the HEAD of its list.  __rmqueue_smallest()
    itself only ever expands into empty lists (all own lists between the
    request order and the split chunk's order are empty), so the head
    insertion is checked with a direct page_del_and_expand() call on a list
    that already holds a chunk; free_one_page() then merges everything back."""
    m = model()
    assert m.alloc_pfn(0, M) == 0
    assert m.free_list(0, M) == [1]
    assert m.free_list(9, M) == [512]
    pa.page_del_and_expand(m.st, m.prm, Z, 1024, 0, 10, M)
    assert m.free_list(0, M) == [1025, 1]
    assert m.free_list(9, M) == [1536, 512]
    assert m.free_list(10, M) == [2048, 3072]
    pa.free_one_page(m.st, m.prm, 1024, Z, 0, False)
    assert m.free_list(0, M) == [1]
    assert m.free_list(9, M) == [512]
    assert m.free_list(10, M) == [1024, 2048, 3072]
    check(m)


# ---------------------------------------------------------------------------
# (b) whole-block claims
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("defrag_mode", [0, 1])
def test_claim_takes_largest_whole_free_block_and_retypes_it(defrag_mode):
    """__rmqueue_claim(): "for (current_order = MAX_PAGE_ORDER; current_order >=
    min_order; --current_order)" - the largest foreign chunk first; and
    try_to_claim_block(): "if (current_order >= pageblock_order) { ...
    change_pageblock_range(page, current_order, start_type); expand(...,
    start_type) ... }" - a whole free chunk is taken outright, every pageblock
    it spans is retyped, the remainders go to the claimer's lists, and the
    extfrag event has change_ownership=1.  Allowed under ALLOC_NOFRAGMENT too."""
    m = model(defrag_mode=defrag_mode)
    assert m.alloc_pfn(9, M, ANON) == 0    # leaves MOVABLE o9 [512], o10 [1024, 2048, 3072]
    assert m.free_list(9, M) == [512]
    pfn = m.alloc_pfn(0, U)
    assert pfn == 1024                     # the order-10 chunk, not the order-9 one at 512
    assert ev(m) == (1024, 0, 10, U, M, 1)
    assert m.block_mt() == [M, M, U, U, M, M, M, M]
    for o in range(10):
        assert m.free_list(o, U) == [1024 + (1 << o)]
    assert m.free_list(9, M) == [512]
    assert m.free_list(10, M) == [2048, 3072]
    # a single free pageblock: change_pageblock_range() retypes just that block
    assert [m.alloc_pfn(10, M, ANON) for _ in range(2)] == [2048, 3072]
    # (RECLAIMABLE falls back to UNMOVABLE first: its order-9 chunk at 1536, not 512)
    assert m.alloc_pfn(9, R) == 1536
    assert ev(m) == (1536, 9, 9, R, U, 1)
    assert m.block_mt() == [M, M, U, R, M, M, M, M]
    assert m.free_list(9, M) == [512]
    check(m)


# ---------------------------------------------------------------------------
# (c) ALLOC_NOFRAGMENT
# ---------------------------------------------------------------------------

#: blocks 0-5 anon (three order-10 pieces), block 6 anon, block 7 anon except
#: a free order-5 chunk at its end (pfn 4064) that is never allocated
NOFRAG_PIECES = [(10, ANON)] * 3 + [(9, ANON), (8, ANON), (7, ANON), (6, ANON), (5, ANON)]


@pytest.mark.parametrize("defrag_mode", [0, 1])
def test_nofragment_never_claims_or_steals_sub_pageblock_chunks(defrag_mode):
    """ALLOC_NOFRAGMENT: __rmqueue_claim() "if (order < pageblock_order &&
    alloc_flags & ALLOC_NOFRAGMENT) min_order = pageblock_order" and __rmqueue()
    "case RMQUEUE_STEAL: if (!(alloc_flags & ALLOC_NOFRAGMENT))".  With
    defrag_mode=1 get_page_from_freelist() never drops the flag ("if
    (no_fallback && !defrag_mode)"), and a request that cannot reclaim goes to
    nopage before the slowpath's defrag_mode drop point: the only foreign
    memory, an order-5 chunk, is neither claimed nor stolen and the allocation
    fails without touching the free lists.  With defrag_mode=0 the UMA second
    pass without the flag steals it."""
    m = model(defrag_mode=defrag_mode)
    fill(m, NOFRAG_PIECES)
    assert m.free_list(5, M) == [4064]
    before = m.free_lists()
    pfn = m.alloc_pfn(0, U)
    if defrag_mode:
        assert pfn == -1
        assert m.events() == []
        assert m.free_lists() == before
        assert int(m.st.alloc_failed[0, U]) == 1
    else:
        assert pfn == 4064
        assert ev(m) == (4064, 0, 5, U, M, 0)
        assert m.free_list(0, M) == [4065]
    assert m.block_mt() == [M] * 8
    check(m)


def test_nofragment_first_pass_prefers_other_zone_over_fragmenting():
    """alloc_flags_nofragment(): ALLOC_NOFRAGMENT for a Normal-zone request on
    a node with DMA32; get_page_from_freelist() walks Normal then DMA32 with
    the flag before its UMA retry without it.  Normal holds only a sub-pageblock
    MOVABLE chunk, DMA32 whole free blocks: an UNMOVABLE request claims a whole
    DMA32 block instead of fragmenting Normal (defrag_mode=0)."""
    m = model(mem="32M", dma32="16M")
    assert m.st.zone_start[Z] == 4096
    fill(m, NOFRAG_PIECES)                 # fills Normal (pfn 4096..8191) but its last 32 pages
    normal_before = {k: v for k, v in m.free_lists(Z).items()}
    assert normal_before[(5, M)] == [8160]
    pfn = m.alloc_pfn(0, U)
    assert pfn == 0                        # DMA32's first order-10 chunk, claimed whole
    assert ev(m) == (0, 0, 10, U, M, 1)
    assert m.free_lists(Z) == normal_before
    assert m.block_mt()[:2] == [U, U] and m.block_mt()[2:] == [M] * 14
    check(m)


# ---------------------------------------------------------------------------
# (d)-(g) partial claims: try_to_claim_block()'s counting
# ---------------------------------------------------------------------------

#: blocks 0-5 full of anon pages; block 6 built by the test; block 7 anon
HEAD = [(10, ANON)] * 3
TAIL = [(9, ANON)]


def build(m, block6):
    pieces = HEAD + block6 + TAIL
    res = fill(m, pieces)
    return holes(pieces, res)


def test_partial_claim_moves_free_pages_and_takes_own_list_head():
    """try_to_claim_block(), partial block: "if (free_pages + alike_pages >= (1
    << (pageblock_order-1))) { __move_freepages_block(zone, start_pfn,
    block_type, start_type); set_pageblock_migratetype(...); return
    __rmqueue_smallest(zone, order, start_type); }".  UNMOVABLE into a MOVABLE
    block with 128 free, 128 LRU and 256 other pages: 128 + 256 >= 256.  All
    free chunks of the block move, in pfn order, to the TAIL of the UNMOVABLE
    lists (move_to_free_list: list_move_tail), and the page then comes from
    the HEAD - here the block's lower hole, not the chunk that was examined."""
    m = model()
    hs = build(m, [(8, KERN), (6, HOLE), (6, ANON), (6, HOLE), (6, ANON)])
    assert sorted(hs) == [3328, 3456]
    m.free(hs[3328])
    m.free(hs[3456])
    assert m.free_list(6, M) == [3456, 3328]
    pfn = m.alloc_pfn(0, U)
    assert pfn == 3328
    assert ev(m) == (3328, 0, 6, U, M, 1)
    assert m.block_mt()[6] == U
    assert m.free_list(6, M) == []
    assert m.free_list(6, U) == [3456]
    for o in range(6):
        assert m.free_list(o, U) == [3328 + (1 << o)]
    check(m)


@pytest.mark.parametrize("last_kind,claimed", [(KERN, True), (ANON, False)])
def test_partial_claim_threshold_is_half_a_pageblock(last_kind, claimed):
    """try_to_claim_block(): the threshold is ">= (1 << (pageblock_order-1))" =
    256.  UNMOVABLE into MOVABLE: alike = 512 - (free + LRU), so free + alike =
    512 - LRU: 256 LRU pages claim (256 >= 256), 257 do not (255), and the
    request then steals (change_ownership=0, block keeps its type)."""
    m = model()
    block6 = [(8, ANON), (7, KERN), (6, HOLE), (5, KERN), (4, KERN), (3, KERN), (2, KERN),
              (1, KERN), (0, KERN), (0, last_kind)]
    hs = build(m, block6)
    assert list(hs) == [3456]
    m.free(hs[3456])
    assert m.alloc_pfn(0, U) == 3456
    assert ev(m) == (3456, 0, 6, U, M, int(claimed))
    assert m.block_mt()[6] == (U if claimed else M)
    owner = U if claimed else M            # the remainders stay on the list they came from
    assert m.free_list(0, owner) == [3457]
    assert m.free_list(5, owner) == [3488]
    check(m)


@pytest.mark.parametrize("start_mt", [U, R])
@pytest.mark.parametrize("kind", NON_LRU + LRU)
def test_nonmovable_claim_of_movable_block_counts_non_lru_as_alike(start_mt, kind):
    """try_to_claim_block(): "else if (block_type == MIGRATE_MOVABLE) alike_pages =
    pageblock_nr_pages - (free_pages + movable_pages)" - an UNMOVABLE or
    RECLAIMABLE request falling back into a MOVABLE block counts every used
    non-LRU page (slab, page tables, kernel) as compatible.  64 free pages are
    enough when the other 448 are non-LRU; with 448 LRU pages the claim fails
    and the request steals."""
    m = model()
    hs = build(m, [(8, kind), (7, kind), (6, HOLE), (6, kind)])
    assert list(hs) == [3456]
    m.free(hs[3456])
    claimed = kind not in LRU
    assert m.alloc_pfn(0, start_mt) == 3456
    assert ev(m) == (3456, 0, 6, start_mt, M, int(claimed))
    assert m.block_mt()[6] == (start_mt if claimed else M)
    check(m)


@pytest.mark.parametrize("block_mt", [U, R])
@pytest.mark.parametrize("kind", NON_LRU + LRU)
def test_movable_claim_counts_only_lru_pages_as_alike(block_mt, kind):
    """try_to_claim_block(): "if (start_type == MIGRATE_MOVABLE) alike_pages =
    movable_pages" (PageLRU pages).  A MOVABLE request (chunk order 6 >=
    pageblock_order/2, so should_try_claim_block() lets it try) claims an
    UNMOVABLE/RECLAIMABLE block with 64 free + 448 LRU pages, but not one whose
    448 used pages are slab/kernel memory: it steals instead."""
    m = model()
    hs = build(m, [(8, kind), (7, kind), (6, HOLE), (6, kind)])
    m.free(hs[3456])
    retype(m, 6, M, block_mt)
    assert m.free_list(6, block_mt) == [3456]
    claimed = kind in LRU
    assert m.alloc_pfn(0, M) == 3456
    assert ev(m) == (3456, 0, 6, M, block_mt, int(claimed))
    assert m.block_mt()[6] == (M if claimed else block_mt)
    check(m)


@pytest.mark.parametrize("start_mt,block_mt", [(U, R), (R, U)])
@pytest.mark.parametrize("free_pages", [192, 256])
def test_unmovable_reclaimable_claims_count_only_free_pages(start_mt, block_mt, free_pages):
    """try_to_claim_block(): UNMOVABLE falling back into a RECLAIMABLE block or
    vice versa: "else alike_pages = 0" - only free pages count, even though the
    other pages (kernel memory) would count as alike in a MOVABLE block.  256
    free pages claim; 192 do not (the order-7 and then the order-6 chunk of
    the block are both tried and refused), and the request steals the
    smallest chunk."""
    m = model()
    if free_pages == 256:
        block6 = [(8, HOLE), (8, KERN)]
    else:
        block6 = [(8, KERN), (7, HOLE), (6, HOLE), (6, KERN)]
    hs = build(m, block6)
    for p in sorted(hs):
        m.free(hs[p])
    retype(m, 6, M, block_mt)
    pfn = m.alloc_pfn(0, start_mt)
    if free_pages == 256:
        assert pfn == 3072
        assert ev(m) == (3072, 0, 8, start_mt, block_mt, 1)
        assert m.block_mt()[6] == start_mt
    else:
        assert pfn == 3456
        assert ev(m) == (3456, 0, 6, start_mt, block_mt, 0)
        assert m.block_mt()[6] == block_mt
        assert m.free_list(7, block_mt) == [3328]
    check(m)


# ---------------------------------------------------------------------------
# (h) should_try_claim_block
# ---------------------------------------------------------------------------

def _o3_or_o4_hole(kind, hole_order):
    if hole_order == 3:
        return [(8, kind), (7, kind), (6, kind), (5, kind), (4, kind), (3, HOLE), (3, kind)]
    return [(8, kind), (7, kind), (6, kind), (5, kind), (4, HOLE), (4, kind)]


@pytest.mark.parametrize("case", ["movable_o3", "movable_o4", "unmovable_o3"])
def test_should_try_claim_block_movable_needs_large_chunks(case):
    """should_try_claim_block(order, start_mt): true "if (order >= pageblock_order
    / 2)" or for UNMOVABLE/RECLAIMABLE requests, false for MOVABLE requests
    and small chunks; find_suitable_fallback() then returns -2
    (FALLBACK_NOCLAIM) and __rmqueue_claim() breaks out of its loop ("Advanced
    into orders too low to claim, abort") without calling
    try_to_claim_block() - so no watermark boost either - and __rmqueue()
    falls through to __rmqueue_steal().

    movable_o3: MOVABLE request, UNMOVABLE block with a free order-3 chunk and
    504 LRU pages (a claim WOULD succeed) -> steal, block stays UNMOVABLE,
    boost 0.  movable_o4: same with an order-4 chunk -> claim attempted
    (boost +512) and succeeds.  unmovable_o3: an UNMOVABLE request may claim
    from an order-3 chunk (MOVABLE block of kernel pages)."""
    m = model(boost=15000)
    if case == "unmovable_o3":
        start, block_mt, kind, hole_order = U, M, KERN, 3
    else:
        start, block_mt, kind, hole_order = M, U, ANON, int(case[-1])
    hs = build(m, _o3_or_o4_hole(kind, hole_order))
    (hole,) = hs
    m.free(hs[hole])
    if block_mt != M:
        retype(m, 6, M, block_mt)
    assert m.boost() == 0
    assert m.alloc_pfn(0, start) == hole
    claimed = case != "movable_o3"
    assert ev(m) == (hole, 0, hole_order, start, block_mt, int(claimed))
    assert m.block_mt()[6] == (start if claimed else block_mt)
    assert m.boost() == (PB if claimed else 0)
    check(m)


# ---------------------------------------------------------------------------
# (i) __rmqueue_steal
# ---------------------------------------------------------------------------

def test_steal_takes_smallest_foreign_chunk_and_keeps_block_type():
    """__rmqueue_steal(): "for (current_order = order; current_order <
    NR_PAGE_ORDERS; current_order++)" - the SMALLEST foreign chunk (here order
    2, although an order-5 one exists), "page_del_and_expand(zone, page, order,
    current_order, fallback_mt)" - the remainders go back to the fallback
    type's lists - and no retyping, so change_ownership=0.  Both blocks are
    full of LRU pages, so the claims tried first fail."""
    m = model()
    pieces = ([(10, ANON)] * 2
              + [(8, ANON), (7, ANON), (6, ANON), (5, HOLE), (5, ANON)]
              + [(8, ANON), (7, ANON), (6, ANON), (5, ANON), (4, ANON), (3, ANON), (2, HOLE),
                 (2, ANON)]
              + [(9, ANON)] * 2)
    hs = holes(pieces, fill(m, pieces))
    assert sorted(hs) == [2496, 3064]
    m.free(*hs.values())
    assert m.alloc_pfn(0, U) == 3064
    assert ev(m) == (3064, 0, 2, U, M, 0)
    assert m.block_mt() == [M] * 8
    assert m.free_list(1, M) == [3066]
    assert m.free_list(0, M) == [3065]
    assert m.free_list(5, M) == [2496]
    assert all(not v for (o, mt), v in m.free_lists().items() if mt == U)
    # the remainder is MOVABLE memory again: a MOVABLE request takes it without fallback
    n = len(m.events())
    assert m.alloc_pfn(0, M, ANON) == 3065
    assert len(m.events()) == n
    check(m)


# ---------------------------------------------------------------------------
# (j) fallbacks[] order
# ---------------------------------------------------------------------------

#: fallbacks[MIGRATE_PCPTYPES][MIGRATE_PCPTYPES - 1]
FALLBACK_TABLE = [(U, R, M), (M, R, U), (R, U, M)]


@pytest.mark.parametrize("start,first,second", FALLBACK_TABLE)
def test_claim_follows_fallbacks_table(start, first, second):
    """fallbacks[]: UNMOVABLE -> {RECLAIMABLE, MOVABLE}, MOVABLE ->
    {RECLAIMABLE, UNMOVABLE}, RECLAIMABLE -> {UNMOVABLE, MOVABLE};
    find_suitable_fallback() returns the first non-empty list in that order at
    the order being scanned.  Two whole free blocks of both fallback types
    (the second type's at the LOWER address): the first type's is claimed."""
    m = model()
    res = fill(m, [(9, ANON)] * 8)
    m.free(res[2][1], res[4][1])           # blocks 2 and 4; their buddies stay allocated
    if second != M:
        retype(m, 2, M, second)
    if first != M:
        retype(m, 4, M, first)
    assert m.alloc_pfn(0, start) == 2048
    assert ev(m) == (2048, 0, 9, start, first, 1)
    assert m.block_mt()[2] == second and m.block_mt()[4] == start
    check(m)


@pytest.mark.parametrize("start,first,second", FALLBACK_TABLE)
def test_steal_follows_fallbacks_table(start, first, second):
    """The same table in __rmqueue_steal(): at the smallest order with a foreign
    chunk, the first non-empty fallback type in table order is stolen from
    (claims fail or are not tried: the blocks hold LRU pages, or kernel pages
    for a MOVABLE request, and the chunks are of order 2)."""
    m = model()
    kind = KERN if start == M else ANON
    small = [(8, kind), (7, kind), (6, kind), (5, kind), (4, kind), (3, kind), (2, HOLE),
             (2, kind)]
    pieces = [(10, ANON)] + small + [(9, ANON)] + small + [(9, ANON), (10, ANON)]
    hs = holes(pieces, fill(m, pieces))
    assert sorted(hs) == [1528, 2552]
    m.free(*hs.values())
    if second != M:
        retype(m, 2, M, second)
    if first != M:
        retype(m, 4, M, first)
    assert m.alloc_pfn(0, start) == 2552
    assert ev(m) == (2552, 0, 2, start, first, 0)
    assert m.block_mt()[2] == second and m.block_mt()[4] == first
    check(m)


# ---------------------------------------------------------------------------
# (k) watermark boost
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("defrag_mode", [0, 1])
def test_failed_partial_claim_still_boosts_watermark(defrag_mode):
    """try_to_claim_block(): "if (boost_watermark(zone) && ...)" runs before
    prep_move_freepages_block() and the alike test, so a partial-claim attempt
    raises zone->watermark_boost by pageblock_nr_pages (boost_watermark:
    min(boost + pageblock_nr_pages, max(pageblock_nr_pages, high *
    watermark_boost_factor / 10000))) even when the claim is refused (the
    request then steals).  Under ALLOC_NOFRAGMENT (defrag_mode=1) no partial
    claim is attempted, so there is no boost."""
    m = model(boost=15000, defrag_mode=defrag_mode)
    fill(m, NOFRAG_PIECES)
    assert m.boost() == 0
    pfn = m.alloc_pfn(0, U)
    if defrag_mode:
        assert pfn == -1 and m.boost() == 0
    else:
        assert pfn == 4064
        assert ev(m) == (4064, 0, 5, U, M, 0)
        assert m.block_mt()[7] == M
        assert m.boost() == PB
    check(m)


def test_boost_watermark_formula():
    """boost_watermark(): no boost with watermark_boost_factor=0 or in zones
    smaller than 4 pageblocks; otherwise +pageblock_nr_pages per call, capped
    at max(pageblock_nr_pages, mult_frac(_watermark[WMARK_HIGH],
    watermark_boost_factor, 10000))."""
    m = model(boost=150000, zero_wmarks=False)
    high = int(m.st.watermark[Z, C.WMARK_HIGH])
    cap = max(PB, high * 150000 // 10000)
    assert cap > PB
    got = []
    for _ in range(3):
        assert pa.boost_watermark(m.st, m.prm, Z)
        got.append(m.boost())
    assert got == [PB, cap, cap]
    m0 = model(boost=0)
    assert not pa.boost_watermark(m0.st, m0.prm, Z) and m0.boost() == 0
    # (zones smaller than 4 pageblocks are never boosted: a 4 MiB DMA32 zone)
    from defragsim import Config
    from defragsim.mm.state import make_state
    small = Config(mem="16M", dma32="4M", watermark_boost_factor=15000)
    st = make_state(small)
    assert not pa.boost_watermark(st, small.to_params(), C.ZONE_DMA32)
    assert st.watermark_boost[C.ZONE_DMA32] == 0


# ---------------------------------------------------------------------------
# (l) cross-pageblock merges
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("freeing_mt,buddy_mt,merges", [
    (M, R, True), (U, M, True), (R, U, True), (M, M, True), (H, H, True),
    (M, H, False), (H, M, False), (U, H, False),
])
def test_cross_pageblock_merge_rules(freeing_mt, buddy_mt, merges):
    """__free_one_page(): at order >= pageblock_order the buddy is in another
    pageblock; "if (migratetype != buddy_mt && (!migratetype_is_mergeable(
    migratetype) || !migratetype_is_mergeable(buddy_mt))) goto done_merging" -
    HIGHATOMIC (and CMA/ISOLATE) blocks never merge with a normal neighbour;
    two mergeable types merge and "change_pageblock_range(buddy, order,
    migratetype)" retypes the buddy's block to the FREEING block's type.  No
    extfrag event either way."""
    m = model()
    res = fill(m, [(9, ANON)] * 8)
    m.free(res[1][1])                      # block 1: a free order-9 chunk, buddy allocated
    if buddy_mt != M:
        retype(m, 1, M, buddy_mt)
    if freeing_mt != M:
        retype(m, 0, M, freeing_mt)        # block 0 is fully allocated: only the type changes
    m.free(res[0][1])
    if merges:
        assert m.block_mt()[:2] == [freeing_mt, freeing_mt]
        assert m.free_list(10, freeing_mt) == [0]
        assert m.free_list(9, buddy_mt) == []
    else:
        assert m.block_mt()[:2] == [freeing_mt, buddy_mt]
        assert m.free_list(9, freeing_mt) == [0]
        assert m.free_list(9, buddy_mt) == [512]
        assert m.free_list(10, freeing_mt) == [] and m.free_list(10, buddy_mt) == []
    ha = (PB * 2 if merges else PB) if H in (freeing_mt, buddy_mt) else 0
    assert int(m.st.zone_stat[Z, C.NR_FREE_HIGHATOMIC]) == ha
    assert m.events() == []
    check(m)


def test_freed_chunk_goes_to_tail_when_buddy_merge_likely():
    """__free_one_page(): "to_tail = buddy_merge_likely(pfn, buddy_pfn, page,
    order)" - a freed chunk that cannot merge now is queued at the TAIL when the
    buddy of the chunk one order up is free (it is likely to merge soon), at
    the HEAD otherwise."""
    m = model()
    res = fill(m, [(0, ANON)] * 8)         # pfns 0..7
    h = {p: hd for p, hd in res}
    assert sorted(h) == list(range(8))
    m.free(h[5])                           # buddy 4 busy; order-1 buddy 6 busy -> head
    m.free(h[2])                           # head
    assert m.free_list(0, M) == [2, 5]
    m.free(h[3])                           # merges with 2 into an order-1 chunk at 2
    assert m.free_list(0, M) == [5] and m.free_list(1, M) == [2]
    m.free(h[0])                           # buddy 1 busy, but the order-1 buddy (2) is free -> tail
    assert m.free_list(0, M) == [5, 0]
    m.free(h[6])                           # order-1 buddy 4 is busy -> head
    assert m.free_list(0, M) == [6, 5, 0]
    check(m)


# ---------------------------------------------------------------------------
# page_group_by_mobility_disabled (small machines)
# ---------------------------------------------------------------------------

def _vm_total_pages(m):
    """build_all_zonelists(): vm_total_pages = nr_free_zone_pages(gfp_zone(
    GFP_HIGHUSER_MOVABLE)) = sum over zones of max(managed - high_wmark, 0)."""
    st = m.st
    return int(sum(max(int(st.zone_managed[z]) - int(st.watermark[z, C.WMARK_HIGH]), 0)
                   for z in range(C.MAX_NR_ZONES)))


def test_mobility_grouping_enabled_at_16M():
    """The configurations used in this file are large enough for grouping by
    mobility: vm_total_pages >= pageblock_nr_pages * MIGRATE_TYPES."""
    m = model(zero_wmarks=False)
    assert _vm_total_pages(m) >= PB * C.MIGRATE_TYPES


def test_small_machine_refused_instead_of_mobility_grouping_disabled():
    """build_all_zonelists() sets page_group_by_mobility_disabled when
    vm_total_pages < pageblock_nr_pages * MIGRATE_TYPES (then every request is
    UNMOVABLE and every fallback claims).  The model does not implement that
    mode, so Config refuses such small machines with a one-line error."""
    from defragsim import Config, ConfigError
    for mem in ("4M", "8M", "12M"):
        with pytest.raises(ConfigError, match="^config.mem: .*page_group_by_mobility_disabled"):
            Config(mem=mem)
    Config(mem="16M")


# ---------------------------------------------------------------------------
# (m) pcp refill: rmqueue_bulk() caches the fallback mode
# ---------------------------------------------------------------------------

#: blocks 0-3 anon; block 4 (C) anon with a free order-5 chunk at 2528; block 5
#: (A) anon with a free order-4 chunk at 3056; block 6 (B) kernel pages with a
#: free order-4 chunk at 3568; block 7 anon.  Orders 4..8 and 10 bypass the
#: per-cpu lists, so the fill leaves nothing on them.
PCP_PIECES = ([(10, ANON)] * 2
              + [(8, ANON), (7, ANON), (6, ANON), (5, ANON), (5, HOLE)]
              + [(8, ANON), (7, ANON), (6, ANON), (5, ANON), (4, ANON), (4, HOLE)]
              + [(8, KERN), (7, KERN), (6, KERN), (5, KERN), (4, KERN), (4, HOLE)]
              + [(8, ANON), (8, ANON)])


def _pcp_state(pcp, a_first):
    m = model(pcp=pcp)
    hs = holes(PCP_PIECES, fill(m, PCP_PIECES))
    assert sorted(hs) == [2528, 3056, 3568]
    order = [2528, 3568, 3056] if a_first else [2528, 3056, 3568]
    for p in order:                        # freed to the head: the last one leads the list
        m.free(hs[p])
    assert m.free_list(4, M) == ([3056, 3568] if a_first else [3568, 3056])
    return m


def test_pcp_refill_keeps_stealing_for_the_rest_of_the_batch():
    """rmqueue_bulk() passes one "enum rmqueue_mode rmqm" to every __rmqueue()
    of the batch; after a steal "*mode = RMQUEUE_STEAL" and the next calls
    start at "case RMQUEUE_STEAL", skipping __rmqueue_smallest() and
    __rmqueue_claim().  An order-0 UNMOVABLE refill (defrag_mode=0: the
    ALLOC_NOFRAGMENT pass refills nothing, the second pass gets a batch of 2
    via nr_pcp_alloc()'s alloc_factor doubling) steals the order-4 chunk of
    LRU block A, then steals again from A's order-0 remainder - one extfrag
    event per page - although a claim would now succeed: B's chunk leads the
    order-4 list and B is full of kernel pages (shown by the pcp=False
    control, whose second single allocation does claim B)."""
    m = _pcp_state(pcp=True, a_first=True)
    assert m.alloc_pfn(0, U) == 3056
    assert [e[1:] for e in m.events()] == [(3056, 0, 4, U, M, 0), (3057, 0, 0, U, M, 0)]
    assert m.block_mt()[6] == M
    lid = pa.pcp_list_id(0, Z, pa.order_to_pindex(U, 0))
    assert int(m.st.pcp_head[lid]) == 3057 and int(m.st.pcp_count[0, Z]) == 1
    check(m)

    ctl = _pcp_state(pcp=False, a_first=True)
    assert ctl.alloc_pfn(0, U) == 3056
    assert ctl.alloc_pfn(0, U) == 3568
    assert [e[1:] for e in ctl.events()] == [(3056, 0, 4, U, M, 0), (3568, 0, 4, U, M, 1)]
    assert ctl.block_mt()[6] == U


def test_pcp_refill_after_claim_returns_to_normal_mode():
    """__rmqueue(): after a successful claim "Replenished preferred freelist,
    back to normal mode" (*mode = RMQUEUE_NORMAL): the rest of the batch comes
    from the claimer's own lists without further extfrag events."""
    m = _pcp_state(pcp=True, a_first=False)
    assert m.alloc_pfn(0, U) == 3568
    assert [e[1:] for e in m.events()] == [(3568, 0, 4, U, M, 1)]
    assert m.block_mt()[6] == U
    lid = pa.pcp_list_id(0, Z, pa.order_to_pindex(U, 0))
    assert int(m.st.pcp_head[lid]) == 3569
    check(m)
