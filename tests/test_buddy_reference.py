"""Differential tests: the jitted model against the pure-Python reference in
tests/naive.py, on random alloc/free sequences.

Setup: ``Config(mem="16M", dma32=0, nr_cpus=1, pcp=False, min_free_kbytes=128)``
- one Normal zone of 4096 pages (8 pageblocks), no per-cpu lists, so every
alloc goes to rmqueue_buddy() and every free to free_one_page().

Requests use gfp ``__GFP_NOWARN | __GFP_NOMEMALLOC`` (+ __GFP_MOVABLE /
__GFP_RECLAIMABLE), see model_driver.GFP_NORECLAIM: no direct reclaim, no
kswapd wakeup (no ALLOC_KSWAPD), no reserves (no ALLOC_NON_BLOCK /
ALLOC_HIGHATOMIC), no CMA pages exist.  The slowpath of such a request is one
freelist attempt at the MIN watermark and then "if (!can_direct_reclaim) goto
nopage", so nothing reclaim, compaction or OOM modelling does can make the
model and the reference differ.

What the reference adds around NaiveZone.rmqueue(order, mt, nofragment) is
the sequence of attempts the kernel makes for such a request on a
single-Normal-zone node, each attempt guarded by the zone watermark check the
kernel does first (zone_watermark_fast / __zone_watermark_ok, emulated
exactly in :meth:`RefAllocator.zone_watermark_fast`).  We do NOT restrict the
sequences to keep memory free: allocations near a full zone are expected to
fail in both.

* defrag_mode=0: __alloc_frozen_pages_noprof sets ALLOC_NOFRAGMENT
  (alloc_flags_nofragment: the preferred zone is ZONE_NORMAL on one node), so
  get_page_from_freelist first tries (WMARK_LOW, NOFRAGMENT); when that pass
  fails it drops the flag and retries (WMARK_LOW, no NOFRAGMENT) ("It's
  possible on a UMA machine to get through all zones that are fragmented. If
  avoiding fragmentation, reset and try again"); then the slowpath
  (gfp_to_alloc_flags: no NOFRAGMENT without defrag_mode) tries
  (WMARK_MIN, no NOFRAGMENT) and goes to nopage.
* defrag_mode=1: (WMARK_LOW, NOFRAGMENT) in the fast path and, since
  get_page_from_freelist never drops the flag in defrag_mode, no second pass;
  the slowpath tries (WMARK_MIN, NOFRAGMENT) (gfp_to_alloc_flags sets it
  again) and, unable to reclaim, goes to nopage before the defrag_mode drop
  point.  So only same-type pages and whole free pageblocks are ever used.

A failed NOFRAGMENT attempt has no side effects (claims are then limited to
whole pageblocks, which always succeed, and steals are skipped), so replaying
the passes on the reference is exact.  With watermark_boost_factor > 0 each
partial-claim attempt calls boost_watermark(); the reference counts the calls
and the driver turns the count into zone->watermark_boost with the kernel's
formula (the boost is only ever lowered by kswapd, which such requests never
wake).
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as hst

from defragsim import Config
from defragsim import constants as C
from defragsim.mm.invariants import check_state

from model_driver import ALLOC, FREE, ModelRun
from naive import NaiveZone

MEM = "16M"
NR_PAGES = 4096
MIN_FREE_KBYTES = 128


def make_config(defrag_mode, boost_factor):
    return Config(mem=MEM, dma32=0, nr_cpus=1, pcp=False, min_free_kbytes=MIN_FREE_KBYTES,
                  watermark_boost_factor=boost_factor, defrag_mode=defrag_mode)


class RefAllocator:
    """NaiveZone plus the watermark-guarded attempt sequence described above."""

    def __init__(self, nr_pages, defrag_mode, boost_factor, pageblock_order=9,
                 min_free_kbytes=MIN_FREE_KBYTES, watermark_scale_factor=10):
        self.zone = NaiveZone(0, nr_pages, pageblock_order)
        self.managed = nr_pages
        self.defrag_mode = defrag_mode
        self.boost_factor = boost_factor
        # __setup_per_zone_wmarks() for the only (lowmem) zone
        pages_min = min_free_kbytes >> (C.PAGE_SHIFT - 10)
        tmp = pages_min * nr_pages // nr_pages
        gap = max(tmp >> 2, nr_pages * watermark_scale_factor // 10000)
        self.wmark = {C.WMARK_MIN: tmp, C.WMARK_LOW: tmp + gap, C.WMARK_HIGH: tmp + 2 * gap}
        self.failed = 0

    def watermark_boost(self):
        """zone->watermark_boost after ``boost_calls`` calls of boost_watermark()."""
        pb = self.zone.pb_nr
        boost = 0
        for _ in range(self.zone.boost_calls):
            if self.boost_factor == 0 or pb * 4 > self.managed:
                break
            max_boost = self.wmark[C.WMARK_HIGH] * self.boost_factor // 10000
            if max_boost == 0:
                break
            max_boost = max(pb, max_boost)
            boost = min(boost + pb, max_boost)
        return boost

    def zone_watermark_fast(self, order, mark, mt):
        """zone_watermark_fast() for alloc_flags without ALLOC_RESERVES, ALLOC_CMA
        iff MOVABLE, highest_zoneidx = Normal (lowmem_reserve 0)."""
        z = self.zone
        free_pages = z.nr_free_pages()
        unusable = z.nr_free_pages_of(C.MIGRATE_HIGHATOMIC)
        if mt != C.MIGRATE_MOVABLE:
            unusable += z.nr_free_pages_of(C.MIGRATE_CMA)
        if order == 0:
            usable_free = free_pages - min(free_pages, unusable)
            if usable_free > mark:
                return True
        # __zone_watermark_ok()
        if free_pages - ((1 << order) - 1) - unusable <= mark:
            return False
        if order == 0:
            return True
        for o in range(order, C.NR_PAGE_ORDERS):
            if any(z.free_lists[(o, t)] for t in range(C.MIGRATE_PCPTYPES)):
                return True
            if mt == C.MIGRATE_MOVABLE and z.free_lists[(o, C.MIGRATE_CMA)]:
                return True
        # (the __GFP_HIGH order-0 retry at the unboosted min mark needs ALLOC_MIN_RESERVE)
        return False

    def attempts(self):
        """(watermark, ALLOC_NOFRAGMENT) of each get_page_from_freelist pass."""
        if self.defrag_mode:
            return [(C.WMARK_LOW, True), (C.WMARK_MIN, True)]
        return [(C.WMARK_LOW, True), (C.WMARK_LOW, False), (C.WMARK_MIN, False)]

    def alloc(self, order, mt, kind):
        for wm, nofragment in self.attempts():
            mark = self.wmark[wm] + self.watermark_boost()
            if not self.zone_watermark_fast(order, mark, mt):
                continue
            pfn = self.zone.rmqueue(order, mt, nofragment)
            if pfn >= 0:
                self.zone.prep_new_page(pfn, order, kind)
                return pfn
        self.failed += 1
        return -1


def run_pair(abstract_ops, defrag_mode, boost_factor):
    """Resolve ``abstract_ops`` on the reference, replay the concrete ops on the
    model, and return (ref, model, ops, ref_pfns, model_pfns)."""
    cfg = make_config(defrag_mode, boost_factor)
    ref = RefAllocator(cfg.nr_pages, defrag_mode, boost_factor, cfg.pageblock_order)
    model = ModelRun(cfg)
    ops = []
    ref_pfns = {}
    live = []
    for op in abstract_ops:
        ref.zone.clock = len(ops)
        if op[0] == ALLOC:
            _, order, mt, kind = op
            h = len(ops)
            pfn = ref.alloc(order, mt, kind)
            ref_pfns[h] = pfn
            if pfn >= 0:
                live.append(h)
            ops.append((ALLOC, order, mt, kind, h))
        else:
            if not live:
                continue
            h = live.pop(op[1] % len(live))
            ref.zone.free(ref_pfns[h])
            ops.append((FREE, h))
    model_pfns = model.run(ops)
    return ref, model, ops, ref_pfns, model_pfns


def assert_same(ref, model, ops, ref_pfns, model_pfns):
    ref.zone.check()
    check_state(model.st, model.prm)
    # 1. returned pfns, in op order
    for h in sorted(ref_pfns):
        if ref_pfns[h] != model_pfns[h]:
            raise AssertionError(
                f"op {h} {ops[h]}: reference returned pfn {ref_pfns[h]}, model {model_pfns[h]}"
                f" (first divergence; the {min(h, 20)} ops before it: {ops[max(0, h - 20):h]})")
    # 2. extfrag events, all fields
    ref_ev = [tuple(e) for e in ref.zone.events]
    mod_ev = model.events()
    for i, (a, b) in enumerate(zip(ref_ev, mod_ev)):
        assert a == b, (f"extfrag event {i} differs: reference {a}, model {b} "
                        "(t, pfn, alloc_order, fallback_order, alloc_mt, fallback_mt, "
                        "change_ownership)")
    assert len(ref_ev) == len(mod_ev), f"{len(ref_ev)} reference events, {len(mod_ev)} model"
    # 3. pageblock migratetypes
    nb = len(model.block_mt())
    assert [ref.zone.block_mt[b] for b in range(nb)] == model.block_mt()
    # 4. free lists, in list order
    mod_fl = model.free_lists()
    for key, lst in ref.zone.free_lists.items():
        assert mod_fl[key] == lst, \
            f"free_list order {key[0]} mt {key[1]}: reference {lst}, model {mod_fl[key]}"
    # 5. counters derived from them
    assert model.nr_free_pages() == ref.zone.nr_free_pages()
    assert model.boost() == ref.watermark_boost()
    assert int(model.st.alloc_failed.sum()) == ref.failed


# ---------------------------------------------------------------------------
# Op generators
# ---------------------------------------------------------------------------

#: small orders dominate (pcp-sized requests), but every order 0..10 occurs
ORDERS = [0] * 6 + [1] * 3 + [2] * 2 + [3] * 2 + [4, 4, 5, 5, 6, 7, 8, 9, 10]
#: how often an abstract op is repeated (bulk fills and frees create the
#: memory pressure under which claims fail and steals happen)
REPEATS = [1, 1, 1, 2, 8, 32, 64]
#: the content a request of each migratetype usually carries
NATURAL_KINDS = {
    C.MIGRATE_UNMOVABLE: [C.KIND_SLAB_UNRECLAIMABLE, C.KIND_PAGETABLE, C.KIND_KERNEL],
    C.MIGRATE_MOVABLE: [C.KIND_ANON, C.KIND_FILE],
    C.MIGRATE_RECLAIMABLE: [C.KIND_SLAB_RECLAIMABLE],
}


def content_kind(mt, sel):
    """``sel`` in 0..99: mostly the natural content of ``mt``, sometimes any content."""
    if sel < 85:
        nat = NATURAL_KINDS[mt]
        return nat[sel % len(nat)]
    return C.KIND_ANON + sel % (C.KIND_KERNEL - C.KIND_ANON + 1)


def expand_ops(abstract):
    """(ALLOC, order, mt, kind_sel, repeat) / (FREE, seed, repeat) -> concrete
    ("a", order, mt, kind) / ("f", seed) ops for run_pair().

    Order-9 allocations never hold anon memory: the workload driver treats a
    failed order-9 anon allocation as a THP fault and retries with an order-0
    GFP_KERNEL-like request (do_huge_pmd_anonymous_page fallback), which is
    not part of the allocator being compared here.
    """
    out = []
    for op in abstract:
        if op[0] == ALLOC:
            _, order, mt, sel, rep = op
            if rep > 8:
                order = min(order, 2)
            kind = content_kind(mt, sel)
            if order == 9 and kind == C.KIND_ANON:
                kind = C.KIND_FILE
            out.extend([(ALLOC, order, mt, kind)] * rep)
        else:
            _, seed, rep = op
            out.extend((FREE, seed * (j + 1) + j) for j in range(rep))
    return out


alloc_op = hst.tuples(hst.just(ALLOC), hst.sampled_from(ORDERS),
                      hst.integers(C.MIGRATE_UNMOVABLE, C.MIGRATE_RECLAIMABLE),
                      hst.integers(0, 99), hst.sampled_from(REPEATS))
free_op = hst.tuples(hst.just(FREE), hst.integers(0, 1 << 16), hst.sampled_from(REPEATS))
op_lists = hst.lists(hst.one_of(alloc_op, alloc_op, free_op), min_size=1, max_size=30)


def random_abstract_ops(rng, n, p_free=0.35):
    """``n`` abstract ops: allocations of any order/type/content, bulk or single,
    and frees of random live allocations."""
    ops = []
    for _ in range(n):
        rep = int(rng.choice(REPEATS))
        if rng.random() < p_free:
            ops.append((FREE, int(rng.integers(0, 1 << 16)), rep))
        else:
            ops.append((ALLOC, int(rng.choice(ORDERS)), int(rng.integers(0, 3)),
                        int(rng.integers(0, 100)), rep))
    return ops


#: (UNMOVABLE, MOVABLE, RECLAIMABLE) shares of the fill phase
FILL_MIXES = [(0.05, 0.9, 0.05), (0.2, 0.6, 0.2), (0.0, 1.0, 0.0)]


def phased_abstract_ops(rng, fill_pages, fill_mix, free_frac, n_tail, p_free=0.35):
    """A fragmenting workload: fill about ``fill_pages`` pages with small
    allocations (mostly MOVABLE), free a random ``free_frac`` of them (holes
    scattered over every pageblock), then ``n_tail`` random ops.  This is the
    state in which partial claims succeed or fail and steals happen."""
    ops = []
    pages = 0
    n = 0
    while pages < fill_pages:
        o = int(rng.choice([0, 0, 0, 1, 2, 3, 4]))
        ops.append((ALLOC, o, int(rng.choice(3, p=fill_mix)), int(rng.integers(0, 100)), 1))
        pages += 1 << o
        n += 1
    ops.extend((FREE, int(rng.integers(0, 1 << 16)), 1) for _ in range(int(free_frac * n)))
    return ops + random_abstract_ops(rng, n_tail, p_free)


@hst.composite
def scenarios(draw):
    """A seeded random prefix - either plain random ops (whole-block claims,
    cross-pageblock merges) or a fragmenting fill/free workload (partial
    claims, steals) - followed by a Hypothesis-built tail (which shrinks well)."""
    rng = np.random.default_rng(draw(hst.integers(0, 2**32 - 1)))
    if draw(hst.booleans()):
        prefix = phased_abstract_ops(rng, draw(hst.integers(1500, 4200)),
                                     draw(hst.sampled_from(FILL_MIXES)),
                                     draw(hst.sampled_from([0.3, 0.5, 0.7])),
                                     draw(hst.integers(0, 20)))
    else:
        prefix = random_abstract_ops(rng, draw(hst.integers(0, 40)),
                                     draw(hst.sampled_from([0.35, 0.3, 0.45])))
    return prefix + draw(op_lists)


def steer(ref):
    """Report what an example exercised and steer Hypothesis towards examples
    with many fallbacks (hypothesis.target)."""
    s = ref.zone.stats
    for k in ("claim_whole", "claim_partial_ok", "steal", "merge_retype"):
        if s[k]:
            event(k)
    if s["claim_partial_attempt"] > s["claim_partial_ok"]:
        event("claim_partial_fail")
    if ref.failed:
        event("alloc_failed")
    target(float(s["steal"] + s["claim_partial_attempt"] + s["merge_retype"]), label="fallbacks")


def assert_nofragment_only(ref):
    """defrag_mode=1 with a request that cannot reclaim: ALLOC_NOFRAGMENT is
    never dropped, so the only fallbacks are whole-pageblock claims."""
    assert ref.zone.stats["claim_partial_attempt"] == 0
    assert ref.zone.stats["steal"] == 0
    for e in ref.zone.events:
        assert e.fallback_order >= 9 and e.change_ownership == 1, e


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------

HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_watermarks_match_reference_formula():
    """The reference's __setup_per_zone_wmarks arithmetic gives the model's marks."""
    cfg = make_config(0, 0)
    ref = RefAllocator(cfg.nr_pages, 0, 0)
    model = ModelRun(cfg)
    z = C.ZONE_NORMAL
    for wm in (C.WMARK_MIN, C.WMARK_LOW, C.WMARK_HIGH):
        assert model.st.watermark[z, wm] == ref.wmark[wm]
    assert model.st.zone_managed[z] == NR_PAGES


def test_boot_state_matches_reference():
    """Boot (memblock_free_all -> __free_pages_core with FPI_TO_TAIL) gives the
    same free lists: MAX_PAGE_ORDER chunks in address order, all MOVABLE."""
    cfg = make_config(0, 0)
    ref = RefAllocator(cfg.nr_pages, 0, 0)
    model = ModelRun(cfg)
    assert model.free_lists() == ref.zone.free_lists
    assert model.free_list(10, C.MIGRATE_MOVABLE) == [0, 1024, 2048, 3072]
    assert model.block_mt() == [C.MIGRATE_MOVABLE] * 8


@pytest.mark.parametrize("defrag_mode", [0, 1])
@HYP
@given(abstract_ops=scenarios())
def test_random_sequences_match_reference(defrag_mode, abstract_ops):
    """Free lists (in list order), block types, returned pfns and extfrag
    events agree with the reference after random alloc/free sequences."""
    ref, *rest = run_pair(expand_ops(abstract_ops), defrag_mode, boost_factor=0)
    assert_same(ref, *rest)
    steer(ref)
    if defrag_mode:
        assert_nofragment_only(ref)


@HYP
@given(abstract_ops=scenarios())
def test_random_sequences_match_reference_with_boost(abstract_ops):
    """Same with the default watermark_boost_factor (15000): every partial-claim
    attempt boosts the watermark, which then makes later allocations fail sooner."""
    ref, *rest = run_pair(expand_ops(abstract_ops), 0, boost_factor=15000)
    assert_same(ref, *rest)
    steer(ref)


@pytest.mark.parametrize("defrag_mode", [0, 1])
def test_long_random_sequences_cover_every_rule(defrag_mode):
    """Deterministic sequences of both generator styles: they match the
    reference, and between them exercise every rule the comparison is meant to
    cover (so a change of the generators cannot silently make the property
    tests vacuous)."""
    rng = np.random.default_rng(20260)
    seen = Counter()
    runs = [random_abstract_ops(rng, 40) for _ in range(8)]
    runs += [phased_abstract_ops(rng, int(rng.integers(1500, 4200)), FILL_MIXES[i % 2],
                                 [0.3, 0.5][i % 2], 10) for i in range(8)]
    for abstract in runs:
        ref, *rest = run_pair(expand_ops(abstract), defrag_mode, boost_factor=0)
        assert_same(ref, *rest)
        s = ref.zone.stats
        seen.update(s)
        seen["claim_partial_fail"] += s["claim_partial_attempt"] - s["claim_partial_ok"]
        seen["failed"] += ref.failed
        seen["events"] += len(ref.zone.events)
    if defrag_mode:
        for k in ("claim_whole", "failed", "events"):
            assert seen[k] > 0, f"never exercised {k}: {dict(seen)}"
        assert seen["claim_partial_attempt"] == 0 and seen["steal"] == 0
    else:
        for k in ("claim_whole", "claim_partial_ok", "claim_partial_fail", "steal",
                  "merge_retype", "failed", "events"):
            assert seen[k] > 0, f"never exercised {k}: {dict(seen)}"
