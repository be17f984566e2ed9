"""kswapd's order between balance_pgdat() runs, as mm/vmscan.c:kswapd() and
kswapd_try_to_sleep() keep it.

- balance_pgdat() finished at the order it was asked: it naps at that order
  (a MODEL: difference, see vmscan.finish_balance_pgdat);
- it ended unbalanced: the next balance_pgdat() runs at the order wakeups
  left in kswapd_order, the previous order is not put back;
- a nap cut short by a wakeup: kswapd_order is raised to the order kswapd
  napped at (the only place the kernel restores it).
"""
from __future__ import annotations

import numpy as np

from defragsim import Config
from defragsim import constants as C
from defragsim.mm import vmscan as vs
from defragsim.mm.state import (KSWAPD_NAPPING, KSWAPD_RUNNING, NODE_BP_ALLOC_ORDER,
                                NODE_KCOMPACTD_MAX_ORDER, NODE_KSWAPD_ORDER, NODE_KSWAPD_STATE,
                                NODE_KSWAPD_TIME, NODE_NAP_WOKEN, SC_KSWAPD, SC_NR_RECLAIMED,
                                SC_ORDER, SC_RECLAIM_IDX, make_owners, make_state)


def _after_balance(alloc_order, reclaim_order, kswapd_order, *, balanced=True):
    cfg = Config(mem="64M")
    st, prm = make_state(cfg), cfg.to_params()
    if not balanced:
        st.watermark[:, C.WMARK_HIGH] = 1 << 40        # no zone can meet it
    st.node[NODE_KSWAPD_STATE] = KSWAPD_RUNNING
    st.node[NODE_BP_ALLOC_ORDER] = alloc_order
    st.sc[SC_KSWAPD, SC_ORDER] = reclaim_order
    st.sc[SC_KSWAPD, SC_NR_RECLAIMED] = 32
    st.sc[SC_KSWAPD, SC_RECLAIM_IDX] = C.MAX_NR_ZONES - 1
    st.node[NODE_KSWAPD_ORDER] = kswapd_order
    vs.finish_balance_pgdat.impl(st, prm)
    return st, prm


def test_finished_at_the_asked_order_naps_and_wakes_kcompactd_for_it():
    # MODEL (vmscan.finish_balance_pgdat): the order just balanced, not a
    # fresh read of kswapd_order
    st, _ = _after_balance(9, 9, 0)
    assert st.node[NODE_KSWAPD_STATE] == KSWAPD_NAPPING
    assert st.node[NODE_BP_ALLOC_ORDER] == 9 and st.node[NODE_KCOMPACTD_MAX_ORDER] == 9


def test_fell_back_to_order0_wakes_kcompactd_for_the_request():
    # balance_pgdat() dropped to order 0 (compaction ready): goto kswapd_try_sleep
    st, _ = _after_balance(9, 0, 0)
    assert st.node[NODE_KSWAPD_STATE] == KSWAPD_NAPPING
    assert st.node[NODE_BP_ALLOC_ORDER] == 9 and st.sc[SC_KSWAPD, SC_ORDER] == 0
    assert st.node[NODE_KCOMPACTD_MAX_ORDER] == 9


def test_unbalanced_runs_again_at_the_order_wakeups_left():
    st, _ = _after_balance(9, 9, 0, balanced=False)
    assert st.node[NODE_KSWAPD_STATE] == KSWAPD_RUNNING
    assert st.node[NODE_BP_ALLOC_ORDER] == 0              # not 9 put back
    assert st.sc[SC_KSWAPD, SC_ORDER] == 0
    assert st.node[NODE_KSWAPD_ORDER] == 0                 # read and reset
    st, _ = _after_balance(9, 9, 2, balanced=False)
    assert st.node[NODE_BP_ALLOC_ORDER] == 2


def test_a_nap_cut_short_restores_the_order_kswapd_napped_at():
    st, prm = _after_balance(3, 3, 0)                        # napping at order 3
    assert st.node[NODE_KSWAPD_STATE] == KSWAPD_NAPPING and st.sc[SC_KSWAPD, SC_ORDER] == 3
    st.node[NODE_KSWAPD_ORDER] = 1                           # an order-1 wakeup cut the nap
    st.node[NODE_NAP_WOKEN] = 1
    own = make_owners(1, np.zeros(1, np.int32), np.zeros(1, np.uint8))
    vs.run_daemons.impl(st, prm, own, st.node[NODE_KSWAPD_TIME])
    assert st.node[NODE_KSWAPD_STATE] == KSWAPD_RUNNING
    assert st.node[NODE_BP_ALLOC_ORDER] == 3                 # max(1, napped-at order 3)
    assert st.sc[SC_KSWAPD, SC_ORDER] == 3
