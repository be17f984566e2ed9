"""kswapd's reclaim as the kernel paces it: the per-cpu lists while kswapd
reclaims (ZONE_RECLAIM_ACTIVE, c49c2c47dab6) and reclaim's cost per folio.

- balance_pgdat() sets ZONE_RECLAIM_ACTIVE on the zones it balances and
  clears it when it ends; while it is set, nr_pcp_high() keeps at most
  ``batch << 2`` pages on a cpu's lists, so what reclaim frees reaches the
  buddy lists, where every cpu can allocate it.
- shrink_inactive_list() charges its work per folio: one 512-page clean file
  folio costs about what a few order-0 folios cost (the shipped 6.18 traces:
  4.6 us against 19 us for 32 order-0 folios), not 512 times one.
"""
from __future__ import annotations

from defragsim import Config
from defragsim import constants as C
from defragsim.mm import costs
from defragsim.mm import page_alloc as pa
from defragsim.mm import vmscan as vs
from defragsim.mm.state import NODE_KSWAPD_HIGHEST_ZONEIDX, SC_COST_NS, SC_KSWAPD
from model_driver import ModelRun


def _pcp_after_freeing(n, *, reclaim_active):
    """Free ``n`` order-0 movable pages one by one on cpu 0 (of Normal) with
    kswapd's balance_pgdat() running or not; the pages left on cpu 0's lists."""
    m = ModelRun(Config(mem="256M", nr_cpus=2), max_handles=1 << 15)
    st, prm = m.st, m.prm
    handles = [h for _, h in m.alloc_many([(0, C.MIGRATE_MOVABLE, C.KIND_FILE)] * n)]
    pa.drain_all_pages.impl(st, prm, -1)            # the lists empty to start
    if reclaim_active:
        st.node[NODE_KSWAPD_HIGHEST_ZONEIDX] = C.ZONE_NORMAL
        vs.start_balance_pgdat.impl(st, prm)
    assert bool(st.zone_flags[C.ZONE_NORMAL] & C.ZONE_RECLAIM_ACTIVE) == reclaim_active
    m.free(*handles)
    return int(st.pcp_count[0, C.ZONE_NORMAL]), int(st.pcp_batch[C.ZONE_NORMAL]), \
        int(st.pcp_high[C.ZONE_NORMAL]), m


def test_pcp_lists_hold_four_batches_while_kswapd_reclaims():
    n = 6000
    idle, batch, high, _ = _pcp_after_freeing(n, reclaim_active=False)
    busy, batch2, _, m = _pcp_after_freeing(n, reclaim_active=True)
    assert batch == batch2 and high > 4 * batch + 2 * batch
    # without reclaim the lists fill toward pcp->high (minus a drain batch)
    assert idle > 4 * batch
    # while kswapd reclaims: drained whenever they reach batch << 2
    assert busy < 4 * batch
    # balance_pgdat()'s end clears the flag
    vs.finish_balance_pgdat.impl(m.st, m.prm)
    assert not m.st.zone_flags[C.ZONE_NORMAL] & C.ZONE_RECLAIM_ACTIVE
    assert not m.st.zone_flags[C.ZONE_DMA32] & C.ZONE_RECLAIM_ACTIVE


def _reclaim_cost(order, n, cfg=None):
    """kswapd's shrink_inactive_list() over ``n`` clean file folios of ``order``:
    (pages reclaimed, simulated ns charged)."""
    m = ModelRun(cfg or Config(mem="64M"), max_handles=1 << 14)
    st, prm = m.st, m.prm
    m.alloc_many([(order, C.MIGRATE_MOVABLE, C.KIND_FILE)] * n)
    s = SC_KSWAPD
    vs.init_scan_control.impl(st, s, 0xcc0, 0, C.MAX_NR_ZONES - 1, 0, 0, True)
    st.sc[s, SC_COST_NS] = 0
    _, reclaimed = vs.shrink_inactive_list.impl(st, prm, m.own, 0, n << order,
                                                C.LRU_INACTIVE_FILE, s)
    return int(reclaimed), int(st.sc[s, SC_COST_NS])


def test_reclaim_is_charged_per_folio():
    pages9, cost9 = _reclaim_cost(9, 4)
    pages0, cost0 = _reclaim_cost(0, 4)
    assert pages9 == 4 * 512 and pages0 == 4
    per_folio = costs.SCAN_FOLIO_NS + costs.RECLAIM_CLEAN_FILE_NS
    assert cost0 == 4 * per_folio
    assert cost9 == 4 * (per_folio + 511 * costs.FOLIO_PAGE_NS)
    # one 512-page folio costs a few order-0 folios, as in the traces (4.6 us
    # against 0.6 us), not 512 of them
    assert 3 < cost9 / cost0 < 12
