"""A THP page fault's allocation attempts (mm/mempolicy.c alloc_pages_mpol()).

On a CONFIG_NUMA kernel a THP fault (vma_alloc_folio() at HPAGE_PMD_ORDER,
the default local policy) first tries the local node only, compaction without
reclaim: ``gfp | __GFP_THISNODE | __GFP_NORETRY``.  If that fails and the
VMA's gfp may reclaim directly (MADV_HUGEPAGE under defrag=madvise, or
defrag=always), it tries again with the VMA's own gfp, "allowing remote
memory with both reclaim and compact"; on one node, the same node again.
Only then does do_huge_pmd_anonymous_page() fall back to base pages.  This
VM's 6.18.44 traces such a fault's first attempt as
``gfp_flags=GFP_TRANSHUGE|__GFP_NORETRY|__GFP_THISNODE``, and under memory
pressure a failed one (``page=(nil)``) followed by a ``GFP_TRANSHUGE`` one.

The first attempt's slowpath: async compaction; COMPACT_SKIPPED or
COMPACT_DEFERRED fail it.  A compaction that ran and failed went on to direct
reclaim and a second async compaction until "mm, page_alloc, thp: prevent
reclaim for __GFP_THISNODE THP allocations" (mm-stable 2026-01, in 6.18.y),
which fails it at once (switch ``thisnode_thp_after_compaction``).

A replay's ops are the kernel's own attempts (each is an mm_page_alloc of the
trace), so there the model makes one attempt per op and leaves a failed
local-node attempt's retry and fallback to the trace's next ops.
"""
from __future__ import annotations

import functools

import pytest

from defragsim import Config, parse_gfp, run
from defragsim import constants as C
from defragsim import kernels as K
from defragsim.gfp import __GFP_NORETRY, __GFP_THISNODE
from model_ops import Ops

GFP_MOVABLE = parse_gfp("GFP_HIGHUSER_MOVABLE")
#: a MADV_HUGEPAGE fault under defrag=madvise (vma_thp_gfp_mask())
GFP_THP_MADVISED = parse_gfp("GFP_TRANSHUGE")
#: a fault outside MADV_HUGEPAGE regions under defrag=madvise: no reclaim at all
GFP_THP_LIGHT = parse_gfp("GFP_TRANSHUGE_LIGHT")
NR_PAGES = 16384          # 64 MiB, Normal only


def _cfg(kernel):
    return Config(mem="64M", dma32=0, pcp=False, min_free_kbytes=128, swap=0, kernel=kernel)


def _workload(thp_gfp):
    """Memory full of pinned anon (migration and reclaim both fail), with
    every other page of the first ten pageblocks free: 2,624 free pages,
    above compaction's low watermark + compact_gap(9), in no whole block.
    Then one THP fault."""
    ops = Ops()
    task = ops.owner(C.OWNER_TASK)
    hs = ops.handles(task, NR_PAGES - 64)
    for h in hs:
        ops.alloc(h, GFP_MOVABLE, C.KIND_ANON | C.CONTENT_PINNED)
    for h in hs[:10 * 512:2]:
        ops.free(h)
    ops.gap(1_000_000)
    (thp,) = ops.handles(task, 1)
    ops.alloc(thp, thp_gfp, C.KIND_ANON, order=9)
    return ops.build("thp-fault-mpol")


def _tries(r):
    ev = r.compaction_events
    tries = ev[(ev["event"] == "mm_compaction_try_to_compact_pages") & ev["direct"]]
    return [int(g) for g in tries["gfp_mask"]]


@functools.lru_cache(maxsize=None)
def _run(kernel, thp_gfp=GFP_THP_MADVISED):
    return run(_workload(thp_gfp), _cfg(kernel), check_invariants=True)


def test_the_setup_lets_compaction_run_and_fail():
    r = _run("mm-2026")
    assert r.vmstat["thp_fault_alloc"] == 0 and r.vmstat["thp_fault_fallback"] == 1
    assert r.vmstat["compact_stall"] >= 1 and r.vmstat["compact_success"] == 0
    assert r.nr_free_mt[C.ZONE_NORMAL, 9:, :].sum() == 0


@pytest.mark.parametrize("kernel,local_tries,reclaims", [
    ("a211c6550efc", 2, 2),     # the local attempt reclaims and compacts again
    ("6.18", 1, 1),             # it fails after its compaction (the 6.18.y backport)
    ("mm-2026", 1, 1),
])
def test_a_failing_madvised_fault_tries_the_local_node_then_its_own_gfp(kernel, local_tries,
                                                                          reclaims):
    r = _run(kernel)
    tries = _tries(r)
    local = __GFP_THISNODE | __GFP_NORETRY
    # alloc_pages_mpol(): the local-node attempts come first ...
    assert tries[:local_tries] == [GFP_THP_MADVISED | local] * local_tries
    # ... then the VMA's gfp: async compaction, reclaim, SYNC_LIGHT compaction,
    # and a costly request without __GFP_RETRY_MAYFAIL gives up
    assert tries[local_tries:] == [GFP_THP_MADVISED] * 2
    assert r.diagnostics["direct_reclaim"]["movable"] == reclaims
    assert r.vmstat["thp_fault_fallback"] == 1


def test_a_fault_that_may_not_reclaim_makes_one_attempt():
    """GFP_TRANSHUGE_LIGHT (no __GFP_DIRECT_RECLAIM): the local attempt is
    the only one, and it neither compacts nor reclaims."""
    r = _run("mm-2026", GFP_THP_LIGHT)
    assert _tries(r) == []
    assert r.diagnostics["direct_reclaim"]["movable"] == 0
    assert r.vmstat["thp_fault_fallback"] == 1


def test_the_switch_acts_only_on_local_node_attempts():
    """Flipping thisnode_thp_after_compaction changes the run only through a
    __GFP_THISNODE request: a fault that may not reclaim never reaches it."""
    a = _run("a211c6550efc", GFP_THP_LIGHT)
    b = _run("mm-2026", GFP_THP_LIGHT)
    assert a.vmstat == b.vmstat
    ix = K.SWITCHES["thisnode_thp_after_compaction"].values
    assert ix.index("reclaim") == C.THISNODE_THP_RECLAIM
    assert ix.index("nopage") == C.THISNODE_THP_NOPAGE


def test_a_replay_takes_each_op_as_one_traced_attempt(monkeypatch):
    """A replay's ops are the kernel's attempts (Params.thp_fault_mpol 0):
    the fault's op is tried once with its own gfp, and a failed local-node
    op (the trace's __GFP_THISNODE attempt) does not fall back: the trace
    holds the retry and the base pages."""
    orig = Config.to_params
    monkeypatch.setattr(Config, "to_params", lambda self: orig(self)._replace(thp_fault_mpol=0))
    r = run(_workload(GFP_THP_MADVISED), _cfg("mm-2026"))
    assert _tries(r) == [GFP_THP_MADVISED] * 2
    assert r.vmstat["thp_fault_fallback"] == 1
    local = run(_workload(GFP_THP_MADVISED | __GFP_THISNODE | __GFP_NORETRY), _cfg("mm-2026"))
    assert _tries(local) == [GFP_THP_MADVISED | __GFP_THISNODE | __GFP_NORETRY]
    assert local.vmstat["thp_fault_fallback"] == 0 and local.vmstat["thp_fault_alloc"] == 0
