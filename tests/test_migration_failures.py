"""Migration that can fail, and writeback that takes time (issue 16).

mm/migrate.c and mm/compaction.c: a folio under writeback is neither
isolated (ISOLATE_ASYNC_MIGRATE, every mode but MIGRATE_SYNC) nor migrated
(-EBUSY) except by MIGRATE_SYNC, which waits for the write; a locked or
extra-referenced folio fails; too_many_isolated() aborts async passes.
mm/vmscan.c: reclaim marks a dirty file folio PG_reclaim and activates it,
the flusher writes it, and folio_end_writeback() rotates it to the inactive
tail.  Each test builds a small zone by hand (tests/test_compaction.py's
layouts) and calls the mirrored functions directly.
"""
from __future__ import annotations

import numpy as np
import pytest

from defragsim import constants as C
from defragsim.mm import compaction as cp
from defragsim.mm import costs, vmscan
from defragsim.mm.invariants import check_state
from defragsim.mm.state import (
    CC_COST_NS, CC_FREE_PFN, CC_MODE, CC_NR_MIGRATEPAGES, NODE_MIGRATE_SEQ, NODE_SWAP_IO_BUSY_UNTIL,
    NODE_WB_COUNT,
)

from test_compaction import (
    FILE, GFP_KERNEL, GFP_NOFS, LAST_BLOCK, NORMAL, PB, _anon, _build, _direct_cc, _isolated,
    _kcompactd_cc, _lru_members,
)


@pytest.fixture(scope="module")
def file_block():
    """Block 0: 512 page-cache folios; block 1: 512 anon folios; blocks 2-3:
    anon folios at odd pfns, free pages between them (migration targets:
    the free zone above is whole order-10 chunks, never a target)."""
    return _build([(0, C.MIGRATE_MOVABLE, FILE)] * PB + _anon(3 * PB),
                  free_if=lambda p: p >= 2 * PB and p % 2 == 0)


def _free_scanner_at_the_top(st, c):
    """The free scanner starts at the zone's last pageblock (compact_zone())."""
    st.cc[c, CC_FREE_PFN] = LAST_BLOCK


def _start_writeback(st, pfns):
    for p in pfns:
        assert vmscan.folio_start_writeback(st, p)


@pytest.mark.parametrize("mode, taken", [(cp.MIGRATE_ASYNC, False), (cp.MIGRATE_SYNC_LIGHT, False),
                                         (cp.MIGRATE_SYNC, True)])
def test_folio_under_writeback_is_isolated_only_by_sync(file_block, mode, taken):
    """isolate_migratepages_block(): ISOLATE_ASYNC_MIGRATE (every mode but
    MIGRATE_SYNC) passes over folios under writeback; MIGRATE_SYNC takes them."""
    z = file_block.copy()
    st = z.st
    _start_writeback(st, [0, 1, 2])
    c = _kcompactd_cc(st, mode=mode)
    cp.isolate_migratepages_block(st, z.prm, z.own, c, 0, PB)
    got = _isolated(st, c)
    assert len(got) == C.COMPACT_CLUSTER_MAX
    if taken:
        assert got[:3] == [0, 1, 2]
    else:
        assert got == list(range(3, 3 + C.COMPACT_CLUSTER_MAX))
    cp.putback_movable_pages(st, z.prm, c)
    check_state(st, z.prm)


@pytest.mark.parametrize("mode", [cp.MIGRATE_ASYNC, cp.MIGRATE_SYNC_LIGHT])
def test_folio_under_writeback_is_not_migrated_in_async_or_sync_light(file_block, mode):
    """migrate_folio_unmap(): a folio under writeback fails with -EBUSY
    outside MIGRATE_SYNC: it stays where it is, back on its LRU list, still
    under writeback, and counts in pgmigrate_fail; the others move."""
    z = file_block.copy()
    st = z.st
    c = _kcompactd_cc(st, mode=cp.MIGRATE_SYNC)
    cp.isolate_migratepages_block(st, z.prm, z.own, c, 0, PB)
    _start_writeback(st, [0])        # the write starts after isolation
    st.cc[c, CC_MODE] = mode
    _free_scanner_at_the_top(st, c)
    h0 = z.handle_at(0)
    failed, enomem = cp.migrate_isolated(st, z.prm, z.own, c)
    assert (failed, enomem) == (1, False)
    assert z.own.h_pfn[h0] == 0 and st.pg_flags[0] & C.PG_writeback
    assert _lru_members(st)[0] == C.LRU_INACTIVE_FILE
    assert st.vm_events[C.VM_PGMIGRATE_FAIL] == 1
    assert st.vm_events[C.VM_PGMIGRATE_SUCCESS] == C.COMPACT_CLUSTER_MAX - 1
    cp.release_freepages(st, z.prm, c)      # compact_zone()'s end
    check_state(st, z.prm)


def test_sync_migration_waits_for_the_write(file_block):
    """MIGRATE_SYNC waits for the write (folio_wait_writeback()): the wait is
    charged to the compactor, the write counts in nr_written, the folio moves
    clean, and the write's completion later finds nothing to do."""
    z = file_block.copy()
    st = z.st
    st.clock[0] = 1_000_000
    _start_writeback(st, [0])
    end = int(st.node[NODE_SWAP_IO_BUSY_UNTIL])
    assert end == st.clock[0] + 10_000        # one page at SWAP_WRITE_PAGES_PER_S
    c = _kcompactd_cc(st, mode=cp.MIGRATE_SYNC)
    cp.isolate_migratepages_block(st, z.prm, z.own, c, 0, PB)
    cost0 = int(st.cc[c, CC_COST_NS])
    h0 = z.handle_at(0)
    _free_scanner_at_the_top(st, c)
    failed, _ = cp.migrate_isolated(st, z.prm, z.own, c)
    assert failed == 0
    new = int(z.own.h_pfn[h0])
    assert new != 0 and not st.pg_flags[new] & C.PG_writeback
    assert st.cc[c, CC_COST_NS] - cost0 >= end - st.clock[0]
    assert st.vm_events[C.VM_NR_WRITTEN] == 1
    vmscan.end_writebacks(st, end)
    assert st.node[NODE_WB_COUNT] == 0 and st.vm_events[C.VM_NR_WRITTEN] == 1
    cp.release_freepages(st, z.prm, c)
    check_state(st, z.prm)


def test_reclaim_hands_dirty_file_folios_to_the_flusher(file_block):
    """shrink_inactive_list() on dirty page cache: each dirty folio is counted
    in nr_vmscan_immediate_reclaim, marked PG_reclaim, activated and written
    (PG_writeback, no longer dirty); nothing is reclaimed.  When the writes
    end (in the order started, at the disk's rate) folio_end_writeback()
    moves each folio to the inactive tail, clean and inactive."""
    z = file_block.copy()
    st = z.st
    dirty = list(range(8))
    for p in dirty:
        st.pg_flags[p] |= C.PG_dirty
    # the inactive file list's tail is its oldest folio: pfn 0
    assert st.lru_tail[C.LRU_INACTIVE_FILE] == 0
    s = 0
    vmscan.init_scan_control(st, s, GFP_KERNEL, 0, NORMAL, 32, 0, 0)
    vmscan.shrink_inactive_list(st, z.prm, z.own, 0, 8, C.LRU_INACTIVE_FILE, s)
    assert st.vm_events[C.VM_NR_VMSCAN_IMMEDIATE_RECLAIM] == 8
    lru = _lru_members(st)
    for p in dirty:
        f = int(st.pg_flags[p])
        assert f & C.PG_writeback and f & C.PG_reclaim and not f & C.PG_dirty
        assert lru[p] == C.LRU_ACTIVE_FILE
    assert st.node[NODE_WB_COUNT] == 8
    # half the writes are done 4 pages' time later
    t = int(st.clock[0]) + 4 * 1_000_000_000 // costs.SWAP_WRITE_PAGES_PER_S
    vmscan.end_writebacks(st, t)
    assert st.node[NODE_WB_COUNT] == 4
    assert st.vm_events[C.VM_NR_WRITTEN] == 4
    vmscan.end_writebacks(st, t * 10)
    lru = _lru_members(st)
    for p in dirty:
        f = int(st.pg_flags[p])
        assert not f & (C.PG_writeback | C.PG_reclaim | C.PG_active)
        assert lru[p] == C.LRU_INACTIVE_FILE
    assert st.lru_tail[C.LRU_INACTIVE_FILE] == dirty[-1]   # rotated to the tail, in order
    check_state(st, z.prm)


def test_a_write_ending_after_its_folio_was_freed_is_dropped(file_block):
    """A folio freed during its write (or its pfn reused) loses PG_writeback
    or changes handle: the completion leaves the page alone."""
    z = file_block.copy()
    st = z.st
    _start_writeback(st, [5])
    flags = int(st.pg_flags[5]) & ~C.PG_writeback
    st.pg_flags[5] = flags                 # as if freed and reallocated
    vmscan.end_writebacks(st, 1 << 62)
    assert st.node[NODE_WB_COUNT] == 0 and int(st.pg_flags[5]) == flags
    assert st.vm_events[C.VM_NR_WRITTEN] == 0


def test_migrate_folio_busy_is_a_deterministic_draw_of_recently_used_folios(file_block):
    """migrate_folio_busy(): never for a folio not accessed since reclaim last
    looked (no PG_young); otherwise with the given parts per million, drawn
    from a per-node counter so the same run draws the same."""
    z = file_block.copy()
    st = z.st
    assert not any(cp.migrate_folio_busy(st, 0, 1_000_000) for _ in range(10))
    assert st.node[NODE_MIGRATE_SEQ] == 0
    st.pg_flags[0] |= C.PG_young
    draws = [cp.migrate_folio_busy(st, 0, 250_000) for _ in range(20_000)]
    assert 0.23 < np.mean(draws) < 0.27
    st.node[NODE_MIGRATE_SEQ] = 0
    assert [cp.migrate_folio_busy(st, 0, 250_000) for _ in range(20_000)] == draws
    assert cp.MIGRATE_LOCKED_PPM < 100_000 and cp.MIGRATE_EXTRA_REF_PPM < 100_000


def test_too_many_isolated_aborts_async_and_throttles_sync_light():
    """too_many_isolated(): more isolated pages than half the LRU (an eighth
    of it for __GFP_FS callers).  kcompactd (GFP_KERNEL) isolates 32 pages of
    a 512-page LRU: 32 > (480 >> 3) / 2, so its next pass, holding pages,
    returns -EAGAIN, as does an async direct pass; a SYNC_LIGHT pass holding
    nothing naps HZ/50 once and goes on.  A caller without __GFP_FS weighs
    the whole LRU (32 <= 480 / 2)."""
    z = _build(_anon(PB))
    st = z.st
    k = _kcompactd_cc(st, mode=cp.MIGRATE_SYNC_LIGHT)
    assert cp.isolate_migratepages_block(st, z.prm, z.own, k, 0, PB) == 32
    assert st.cc[k, CC_NR_MIGRATEPAGES] == 32
    assert cp.too_many_isolated(st, k)
    assert cp.isolate_migratepages_block(st, z.prm, z.own, k, 32, PB) == -1
    assert st.cc[k, CC_NR_MIGRATEPAGES] == 32
    c = _direct_cc(st, 9, GFP_KERNEL, cp.MIGRATE_ASYNC)
    assert cp.isolate_migratepages_block(st, z.prm, z.own, c, 64, PB) == -1
    assert _isolated(st, c) == []
    assert not cp.too_many_isolated(st, _direct_cc(st, 9, GFP_NOFS, cp.MIGRATE_ASYNC))
    c = _direct_cc(st, 9, GFP_KERNEL, cp.MIGRATE_SYNC_LIGHT)
    cost0 = int(st.cc[c, CC_COST_NS])
    assert cp.isolate_migratepages_block(st, z.prm, z.own, c, 64, PB) == 96
    assert st.cc[c, CC_COST_NS] - cost0 >= cp.THROTTLE_ISOLATED_NS
    assert _isolated(st, c) == list(range(64, 96))


@pytest.fixture(scope="module")
def large_folio_block():
    """Block 0: an order-2 page-cache folio, then order-0 page cache; blocks
    2-3: anon folios at odd pfns, single free pages between them (the only
    migration targets: no free chunk of order 2)."""
    return _build([(2, C.MIGRATE_MOVABLE, FILE)] + [(0, C.MIGRATE_MOVABLE, FILE)] * (PB - 4)
                  + _anon(3 * PB), free_if=lambda p: p >= 2 * PB and p % 2 == 0)


def test_a_large_folio_without_a_target_is_split_and_the_rest_migrates(large_folio_block):
    """migrate_pages_batch(): -ENOMEM for a large folio splits it
    (try_split_folio(); "Large folio NUMA faulting doesn't split to retry")
    and the call goes on with the other folios, so compaction does not end
    COMPACT_CONTENDED; the model leaves the split pieces where they are
    (MODEL: one folio, one owner handle) and counts them in pgmigrate_fail."""
    z = large_folio_block.copy()
    st = z.st
    c = _kcompactd_cc(st)
    cp.isolate_migratepages_block(st, z.prm, z.own, c, 0, PB)
    got = _isolated(st, c)
    assert got[0] == 0 and st.pg_order[0] == 2 and len(got) > 1
    _free_scanner_at_the_top(st, c)
    h0 = z.handle_at(0)
    failed, enomem = cp.migrate_isolated(st, z.prm, z.own, c)
    assert (failed, enomem) == (1, False)
    assert z.own.h_pfn[h0] == 0 and _lru_members(st)[0] == C.LRU_INACTIVE_FILE
    assert st.vm_events[C.VM_PGMIGRATE_FAIL] == 4
    assert st.vm_events[C.VM_PGMIGRATE_SUCCESS] == len(got) - 1
    cp.release_freepages(st, z.prm, c)
    check_state(st, z.prm)


def test_an_order0_folio_without_a_target_ends_the_call():
    """-ENOMEM for a folio of one page: the folios after it are not tried
    (putback_movable_pages()), and migrate_isolated() reports it."""
    z = _build([(0, C.MIGRATE_MOVABLE, FILE)] * PB + _anon(3 * PB))   # no free page below
    st = z.st
    c = _kcompactd_cc(st)
    cp.isolate_migratepages_block(st, z.prm, z.own, c, 0, PB)
    n = len(_isolated(st, c))
    st.cc[c, CC_FREE_PFN] = 2 * PB       # the free scanner meets full blocks only
    failed, enomem = cp.migrate_isolated(st, z.prm, z.own, c)
    assert enomem and failed == 1
    assert st.vm_events[C.VM_PGMIGRATE_SUCCESS] == 0 and st.vm_events[C.VM_PGMIGRATE_FAIL] == 1
    assert sorted(_lru_members(st))[:n] == list(range(n))     # all back on their LRU
    cp.release_freepages(st, z.prm, c)
    check_state(st, z.prm)


@pytest.mark.parametrize("owner_kind, gfp, taken", [
    (C.OWNER_TASK, GFP_NOFS, True),       # anon: no mapping, migratable without __GFP_FS
    (C.OWNER_SHMEM, GFP_NOFS, False),     # shmem: swap-backed, but it has a mapping
    (C.OWNER_SHMEM, GFP_KERNEL, True),    # __GFP_FS callers (kcompactd) migrate shmem
])
def test_shmem_has_a_mapping_for_gfp_nofs_compaction(file_block, owner_kind, gfp, taken):
    """isolate_migratepages_block(): ``if (!(cc->gfp_mask & __GFP_FS) &&
    mapping) goto isolate_fail_put``: shmem folios (KIND_ANON of an
    OWNER_SHMEM owner: compaction.folio_mapping) are page cache there."""
    z = file_block.copy()
    st = z.st
    z.own.o_kind[:] = owner_kind
    c = _direct_cc(st, 9, gfp, cp.MIGRATE_ASYNC) if gfp == GFP_NOFS else \
        _kcompactd_cc(st, mode=cp.MIGRATE_SYNC_LIGHT)
    cp.isolate_migratepages_block(st, z.prm, z.own, c, PB, 2 * PB)    # block 1: anon folios
    assert (len(_isolated(st, c)) == C.COMPACT_CLUSTER_MAX) == taken
