"""Free page reporting (mm/page_reporting.c; issue 17).

A free of a chunk of the reporting order requests a pass, run 2 s later;
the pass isolates up to 32 unreported chunks per report, keeps them off the
free lists while the device reports them, puts them back marked
PageReported, skips zones below their low watermark plus a report's worth,
and gives each list DIV_ROUND_UP(nr_free, 32 * 16) reports before asking for
another pass.  The worker is driven directly on a fresh node.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from defragsim import Config, constants as C
from defragsim.mm import costs
from defragsim.mm import page_reporting as prp
from defragsim.mm.invariants import check_state
from defragsim.mm.state import (
    DIAG_PAGE_REPORTING_PAGES, DIAG_PAGE_REPORTING_REPORTS, NODE_PR_HOLD_UNTIL, NODE_PR_LIST,
    NODE_PR_NEXT_WORK, NODE_PR_STATE, make_state,
)
from defragsim.workloads.snapshot import Snapshot

S = 1_000_000_000
DMA32, NORMAL = C.ZONE_DMA32, C.ZONE_NORMAL


def _node(mem):
    cfg = Config(mem=mem, page_reporting_order=9)
    return make_state(cfg), cfg.to_params()


def _reported(st):
    heads = (st.pg_flags & C.PG_buddy) != 0
    return int((heads & ((st.pg_flags & C.PG_reported) != 0)).sum())


def test_a_report_keeps_its_chunks_off_the_free_lists_until_it_is_done():
    """256M: Normal has 48 free order-10 chunks, DMA32 16 (below its low
    watermark plus 32 order-9 chunks: not reported).  The pass starts 2 s
    after the request; the first report isolates 32 chunks (32,768 pages off
    NR_FREE_PAGES) until 2 s + 20 us + 32,768 x 50 ns; then they are back,
    marked, and the last 16 go in a leftover report.  The pass ends idle."""
    st, prm = _node("256M")
    free0 = st.zone_stat[:, C.NR_FREE_PAGES].copy()
    assert list(st.nr_free[:, 10]) == [16, 48]
    prp.__page_reporting_request(st, 0)
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_REQUESTED
    assert st.node[NODE_PR_NEXT_WORK] == 2 * S
    prp.page_reporting_run(st, prm, 2 * S - 1)
    assert st.diag[DIAG_PAGE_REPORTING_REPORTS] == 0           # not due yet
    prp.page_reporting_run(st, prm, 2 * S)
    end = 2 * S + costs.PAGE_REPORT_NS + 32 * 1024 * costs.PAGE_REPORT_PAGE_NS
    assert st.node[NODE_PR_HOLD_UNTIL] == end
    assert list(st.zone_stat[:, C.NR_FREE_PAGES]) == [free0[0], free0[1] - 32 * 1024]
    assert st.nr_free[NORMAL, 10] == 16
    check_state(st, prm)          # the reported chunks count as held, not lost
    prp.page_reporting_run(st, prm, 10 * S)
    assert list(st.zone_stat[:, C.NR_FREE_PAGES]) == list(free0)
    assert st.diag[DIAG_PAGE_REPORTING_REPORTS] == 2
    assert st.diag[DIAG_PAGE_REPORTING_PAGES] == 48 * 1024
    assert _reported(st) == 48
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_IDLE and st.node[NODE_PR_LIST] == -2
    check_state(st, prm)
    # a second pass finds nothing unreported
    prp.__page_reporting_request(st, 10 * S)
    prp.page_reporting_run(st, prm, 20 * S)
    assert st.diag[DIAG_PAGE_REPORTING_REPORTS] == 2


def test_each_list_gets_its_budget_then_asks_for_another_pass():
    """8G: DMA32's order-10 list holds 512 chunks (budget DIV_ROUND_UP(512,
    512) = 1), Normal's 1,536 (budget 3).  A list is reported until its
    budget goes below zero, budget + 1 full reports: 2 in DMA32, 4 in
    Normal; each list then stops with the state REQUESTED, so another pass
    runs 2 s after this one ended."""
    st, prm = _node("8G")
    assert list(st.nr_free[:, 10]) == [512, 1536]
    prp.__page_reporting_request(st, 0)
    prp.page_reporting_run(st, prm, 3 * S)
    assert st.diag[DIAG_PAGE_REPORTING_REPORTS] == 2 + 4
    assert _reported(st) == (2 + 4) * 32
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_REQUESTED
    assert st.node[NODE_PR_LIST] == -2
    assert 4 * S < st.node[NODE_PR_NEXT_WORK] < 5 * S
    check_state(st, prm)


def test_freeing_a_chunk_of_the_order_requests_a_pass_and_putbacks_do_not():
    """page_reporting_notify_free() from __free_one_page(): boot hands memory
    to the buddy allocator, which requests the first pass (as
    page_reporting_register() does); that pass puts its chunks back without
    asking again and ends idle; a freed order-10 chunk then asks for a pass
    (a freed THP would wait on its per-cpu list)."""
    from model_driver import ModelRun
    cfg = Config(mem="256M", page_reporting_order=9)
    m = ModelRun(cfg, max_handles=64)
    st = m.st
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_REQUESTED
    assert st.node[NODE_PR_NEXT_WORK] == 2 * S
    prp.page_reporting_run(st, m.prm, 3 * S)
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_IDLE and st.diag[DIAG_PAGE_REPORTING_REPORTS]
    (pfn, h), = m.alloc_many([(10, C.MIGRATE_MOVABLE, C.KIND_KERNEL)])
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_IDLE
    m.free(h)
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_REQUESTED
    t = int(st.node[NODE_PR_NEXT_WORK])
    prp.page_reporting_run(st, m.prm, t + S)
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_IDLE and st.node[NODE_PR_NEXT_WORK] == -1


def test_a_replay_starts_with_its_free_chunks_reported():
    """page_reporting_start_reported(), a replay's start: the free chunks of
    the reporting order or more are PageReported (the machine reported them
    before its snapshot), smaller ones are not, and the pass the initial
    frees asked for is dropped, so a pass reports only what is freed later."""
    st, prm = _node("256M")
    prp.__page_reporting_request(st, 0)
    prp.page_reporting_start_reported(st, prm)
    assert _reported(st) == int(st.nr_free[:, 9:].sum())
    small = (st.pg_flags & C.PG_buddy) != 0
    small &= st.pg_order < 9
    assert not ((st.pg_flags[small] & C.PG_reported) != 0).any()
    assert st.node[NODE_PR_STATE] == prp.PAGE_REPORTING_IDLE and st.node[NODE_PR_NEXT_WORK] == -1
    prp.page_reporting_run(st, prm, 10 * S)
    assert st.diag[DIAG_PAGE_REPORTING_REPORTS] == 0
    # a request now finds nothing unreported either
    prp.__page_reporting_request(st, 10 * S)
    prp.page_reporting_run(st, prm, 20 * S)
    assert st.diag[DIAG_PAGE_REPORTING_REPORTS] == 0
    check_state(st, prm)


def test_off_by_default_and_on_in_a_replay_whose_machine_reported():
    """Config.page_reporting_order is None by default (no notify, no pass);
    a snapshot whose page_reporting module reported during the trace turns
    it on at the module's order, and gives the KiB it reported."""
    cfg = Config(mem="256M")
    assert cfg.page_reporting_order is None and cfg.to_params().page_reporting_order == -1
    st = make_state(cfg)
    assert not prp.page_reporting_due(st, cfg.to_params(), 10 * S)
    snap = Snapshot.load(Path(__file__).parents[1] / "data/traces/b_pressure_dm0/snap")
    assert snap.page_reporting() == (9, 6_954_016 - 5_520_416)
    assert snap.config_overrides()["page_reporting_order"] == 9
    assert np.all(st.pr_sgl == -1)


def test_a_replay_prefill_fills_a_zone_past_its_watermarks():
    """A replay's prefill (CONTENT_PREFILL) is placed without watermarks:
    allocating Normal's free pages fills Normal to the last page and leaves
    DMA32 alone; the same allocations without the flag stop at Normal's
    watermark and spill into DMA32 (the zonelist fallback)."""
    from model_driver import ModelRun
    out = {}
    for flag in (0, C.CONTENT_PREFILL):
        m = ModelRun(Config(mem="64M"), max_handles=20000)
        free = [int(x) for x in m.st.zone_stat[:, C.NR_FREE_PAGES]]
        m.alloc_many([(0, C.MIGRATE_MOVABLE, C.KIND_FILE | flag)] * free[NORMAL])
        out[flag] = [int(x) for x in m.st.zone_stat[:, C.NR_FREE_PAGES]], free
    (after, free), (after_pre, _) = out[0], out[C.CONTENT_PREFILL]
    assert after_pre == [free[DMA32], 0]
    assert after[NORMAL] > 0 and after[DMA32] < free[DMA32]


def test_isolating_half_a_block_retypes_it_and_moves_its_other_free_chunks():
    """__isolate_free_page() of a chunk of pageblock_order - 1 in an
    UNMOVABLE block (free page reporting at a low order can take one):
    move_freepages_block() makes the block MOVABLE and moves its other free
    chunks to MOVABLE's lists, so every free chunk stays on its block's type."""
    from model_driver import ModelRun
    from defragsim.mm import compaction as cp
    m = ModelRun(Config(mem="64M"), max_handles=8)
    (pfn, _), = m.alloc_many([(0, C.MIGRATE_UNMOVABLE, C.KIND_KERNEL)])
    st, prm = m.st, m.prm
    block = pfn >> 9
    assert st.block_mt[block] == C.MIGRATE_UNMOVABLE
    half = [p for p in range(block << 9, (block + 1) << 9)
            if st.pg_flags[p] & C.PG_buddy and st.pg_order[p] == 8]
    assert len(half) == 1
    assert cp.__isolate_free_page(st, prm, half[0], 8)
    assert st.block_mt[block] == C.MIGRATE_MOVABLE
    others = [p for p in range(block << 9, (block + 1) << 9) if st.pg_flags[p] & C.PG_buddy]
    assert others                                    # the rest of the block's free pages
    # put the half back as compaction's release_freepages() does, then check
    from defragsim.mm import page_alloc as pa
    pa.__free_one_page(st, prm, half[0], pa.page_zonenum(st, half[0]), 8, C.MIGRATE_MOVABLE, False)
    check_state(st, prm)
