"""Reclaim bookkeeping as mm/vmscan.c keeps it (6.18), each rule on a
hand-built node:

- kswapd_shrink_node() tells balance_pgdat() not to raise the priority when
  the pass scanned, or freed, as much as it was to reclaim; pages the
  shrinkers freed count (3f74e6bd3b84, "account for progress from
  mm_account_reclaimed_pages()", July 2024);
- sc->nr_scanned grows in shrink_folio_list() only: shrink_active_list()
  counts PGREFILL, not sc->nr_scanned;
- kswapd_order stays when kswapd goes to sleep: kswapd() reads and resets it
  when it is next woken, so an order recorded by a wakeup that found the node
  balanced sets the next round's order;
- compaction_ready() and compaction_zonelist_suitable() use the boosted min
  watermark (min_wmark_pages() includes zone->watermark_boost).
"""
from __future__ import annotations

import numpy as np

from defragsim import Config
from defragsim import constants as C
from defragsim.mm import compaction as cp
from defragsim.mm import vmscan as vs
from defragsim.mm.state import (KSWAPD_NAPPING, KSWAPD_SLEEPING, NODE_BP_ALLOC_ORDER,
                                NODE_KSWAPD_ORDER, NODE_KSWAPD_STATE, NODE_NAP_UNTIL, SC_DIRECT,
                                SC_KSWAPD, SC_NR_SCANNED, SC_ORDER, SC_RECLAIM_IDX, make_owners,
                                make_state)

NORMAL = C.MAX_NR_ZONES - 1


def _node(mem="64M"):
    cfg = Config(mem=mem)
    st, prm = make_state(cfg), cfg.to_params()
    own = make_owners(1, np.zeros(1, np.int32), np.zeros(1, np.uint8))
    return st, prm, own


_KSWAPD_PASS = r"""
import json, sys
import numpy as np
from defragsim import Config
from defragsim.mm import vmscan as vs
from defragsim.mm.state import SC_KSWAPD, SC_NR_RECLAIMED, SC_NR_SCANNED, SC_NR_TO_RECLAIM
from defragsim.mm.state import make_owners, make_state
cfg = Config(mem="64M")
out = []
for scanned, reclaimed in json.loads(sys.argv[1]):
    st, prm = make_state(cfg), cfg.to_params()
    own = make_owners(1, np.zeros(1, np.int32), np.zeros(1, np.uint8))
    vs.init_scan_control(st, SC_KSWAPD, 0xcc0, 0, 1, 0, 0, True)
    st.sc[SC_KSWAPD, SC_NR_RECLAIMED] = 1000        # earlier passes of the run

    def shrink_node(st, prm, own, s, scanned=scanned, reclaimed=reclaimed):
        st.sc[s, SC_NR_SCANNED] += scanned
        st.sc[s, SC_NR_RECLAIMED] += reclaimed
    vs.shrink_node = shrink_node                    # plain Python: NUMBA_DISABLE_JIT=1
    out.append([bool(vs.kswapd_shrink_node(st, prm, own, SC_KSWAPD)),
                int(st.sc[SC_KSWAPD, SC_NR_TO_RECLAIM])])
json.dump(out, sys.stdout)
"""


def _kswapd_passes(cases):
    """kswapd_shrink_node() around a stand-in shrink_node() that scans and
    frees the given numbers of pages (run as plain Python, where a module
    global can be replaced): [(its verdict, nr_to_reclaim)]."""
    import json
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    p = subprocess.run([sys.executable, "-c", _KSWAPD_PASS, json.dumps(cases)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


def test_slab_progress_keeps_kswapd_priority():
    ((_, target),) = _kswapd_passes([[0, 0]])
    assert target > 0
    got = [ok for ok, _ in _kswapd_passes([[target - 1, 0], [target, 0], [10, target],
                                            [10, target - 11]])]
    # scanned short: raise the priority; scanned enough: do not; the LRU
    # scan fell short but the shrinkers freed enough (slab pages): do not;
    # what earlier passes of the run reclaimed does not count for this one
    assert got == [False, True, True, False]


def test_active_list_scans_are_not_sc_nr_scanned():
    """shrink_lruvec() with nothing inactive to reclaim only ages the active
    anon list (shrink_active_list() counts PGREFILL); sc->nr_scanned, which
    kswapd_shrink_node() compares with nr_to_reclaim, stays 0."""
    from model_driver import ModelRun
    m = ModelRun(Config(mem="64M"), max_handles=8192)
    got = m.alloc_many([(0, C.MIGRATE_MOVABLE, C.KIND_ANON)] * 4000)
    st, prm = m.st, m.prm
    st.node[vs.NODE_SWAP_TOTAL] = 1 << 20               # swap space: anon is aged
    for pfn, _ in got:                         # all on the active anon list
        vs.lruvec_del_folio.impl(st, pfn)
        st.pg_flags[pfn] |= C.PG_active
        vs.lruvec_add_folio.impl(st, pfn, False)
    assert st.lru_size[C.LRU_ACTIVE_ANON] >= 4000 and st.lru_size[C.LRU_INACTIVE_ANON] == 0
    vs.init_scan_control.impl(st, SC_DIRECT, 0xcc0, 0, NORMAL, 32, 0, False)
    active = int(st.lru_size[C.LRU_ACTIVE_ANON])
    vs.shrink_lruvec.impl(st, prm, m.own, 0, SC_DIRECT)
    assert st.lru_size[C.LRU_ACTIVE_ANON] < active       # it aged the active list
    assert st.sc[SC_DIRECT, SC_NR_SCANNED] == 0


def test_an_order_recorded_while_balanced_sets_the_next_round():
    """kswapd naps, then sleeps; meanwhile an order-9 request finds the node
    balanced at order 9 (so kswapd is not woken) but wakeup_kswapd() has
    raised kswapd_order.  The next wakeup, for order 0, runs balance_pgdat()
    at order 9, as kswapd() reads READ_ONCE(pgdat->kswapd_order) then."""
    st, prm, own = _node()
    st.node[NODE_KSWAPD_STATE] = KSWAPD_NAPPING
    st.node[NODE_NAP_UNTIL] = st.clock[0]
    st.sc[SC_KSWAPD, SC_ORDER] = 0
    st.sc[SC_KSWAPD, SC_RECLAIM_IDX] = NORMAL
    vs.wakeup_kswapd.impl(st, prm, NORMAL, 0xcc0, 9, NORMAL)     # balanced: not woken
    assert st.node[NODE_KSWAPD_ORDER] == 9
    vs.run_daemons.impl(st, prm, own, st.clock[0] + 1)
    assert st.node[NODE_KSWAPD_STATE] == KSWAPD_SLEEPING
    assert st.node[NODE_KSWAPD_ORDER] == 9                        # kept while asleep
    st.watermark[:, C.WMARK_HIGH] = 1 << 40                       # now unbalanced
    vs.wakeup_kswapd.impl(st, prm, NORMAL, 0xcc0, 0, NORMAL)
    vs.balance_pgdat_step.impl(st, prm, own)                     # kswapd() reads the order
    assert st.node[NODE_BP_ALLOC_ORDER] == 9 and st.node[NODE_KSWAPD_ORDER] == 0


def test_compaction_ready_and_zonelist_suitable_use_the_boosted_min():
    st, prm, own = _node()
    z = NORMAL
    vs.init_scan_control.impl(st, SC_DIRECT, 0xcc0, 9, NORMAL, 32, 0, False)
    assert vs.compaction_ready.impl(st, prm, z, SC_DIRECT)       # a fresh zone: blocks free
    assert cp.compaction_zonelist_suitable.impl(st, prm, 9, 0, NORMAL)
    free = int(st.zone_stat[:, C.NR_FREE_PAGES].sum())
    st.watermark_boost[:] = 2 * free                              # min + boost above all free
    assert not vs.compaction_ready.impl(st, prm, z, SC_DIRECT)
    assert not cp.compaction_zonelist_suitable.impl(st, prm, 9, 0, NORMAL)
