"""Pre-trace memory placed from the trace itself (issue 17): every folio a
trace frees before allocating it was there when the trace began; the
replay's prefill takes it off the buddy lists where the machine had it
(``page_alloc.take_page_off_buddy``), and the trace's free frees it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defragsim import Config, constants as C
from defragsim.analysis.replay import replay
from defragsim.mm import page_alloc as pa
from defragsim.mm.invariants import check_state
from defragsim.mm.state import make_state
from defragsim.workloads._traceparse import EV_ALLOC, EV_FREE
from defragsim.workloads.replay_ops import machine_to_model_pfn, pretrace_folios, reclaim_frees

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
SAMPLE = DATA / "samples-1s" / "page_events.csv.xz"


def _node():
    cfg = Config(mem="256M")
    return make_state(cfg), cfg.to_params()


@pytest.mark.parametrize("order", [0, 2, 9])
def test_take_page_off_buddy_takes_exactly_the_range(order):
    """The free chunk holding the range leaves its list, the rest of it goes
    back in pieces (break_down_buddy_pages), NR_FREE_PAGES drops by the
    range; a second take of the same range finds it gone."""
    st, prm = _node()
    z = C.ZONE_NORMAL
    pfn = int(st.zone_start[z]) + (5 << 10) + (3 << order)
    free0 = int(st.zone_stat[z, C.NR_FREE_PAGES])
    chunks0 = int(st.nr_free[z].sum())
    assert pa.take_page_off_buddy(st, prm, pfn, order) == pfn
    assert int(st.zone_stat[z, C.NR_FREE_PAGES]) == free0 - (1 << order)
    # one order-10 chunk became 10 - order pieces
    assert int(st.nr_free[z].sum()) == chunks0 - 1 + (C.MAX_PAGE_ORDER - order)
    assert not st.pg_flags[pfn] & C.PG_buddy
    pa.prep_new_page(st, pfn, order, C.KIND_FILE, 0)
    check_state(st, prm)
    assert pa.take_page_off_buddy(st, prm, pfn, order) == -1
    assert pa.take_page_off_buddy(st, prm, pfn + (1 << order) - 1, 0) == -1
    assert int(st.zone_stat[z, C.NR_FREE_PAGES]) == free0 - (1 << order)


def test_pretrace_folios_are_the_frees_before_any_allocation():
    ev = np.array([EV_FREE, EV_ALLOC, EV_FREE, EV_FREE, EV_FREE, EV_ALLOC], np.int64)
    pfn = np.array([100, 200, 200, 300, 100, 4096], np.int64)
    order = np.array([0, 0, 0, 2, 0, 0], np.int64)
    gfp = np.array([0, 0xcc0, 0, 0, 0, 0x140cca], np.int64)
    cols = dict(t_ns=np.arange(6), ev=ev, pfn=pfn, order=order, gfp=gfp)
    pfns, orders, kinds, by_task, _, migrated = pretrace_folios(iter([cols]))
    assert pfns.tolist() == [100, 300] and orders.tolist() == [0, 2]
    assert by_task.tolist() == [False, False]          # not known without reclaim_of
    assert migrated.tolist() == [False, False]
    # the allocations by pageblock: GFP_KERNEL in block 0, page cache in block 8
    assert kinds[0, C.KIND_KERNEL] == 1 and kinds[8, C.KIND_FILE] == 1
    # the same in two chunks
    half = [{k: v[:3] for k, v in cols.items()}, {k: v[3:] for k, v in cols.items()}]
    p2, o2, k2, *_ = pretrace_folios(iter(half))
    assert p2.tolist() == pfns.tolist() and o2.tolist() == orders.tolist()
    assert np.array_equal(k2[:len(kinds)], kinds)
    # which frees a task made: reclaim_of marks the reclaim's (kswapd: 1)
    pid = np.array([45, 7, 7, 7, 7, 7], np.int64)
    cols["pid"] = pid
    by_comm = {45: "kswapd0", 7: "reader"}
    _, _, _, by_task, _, migrated = pretrace_folios(iter([cols]), lambda c: reclaim_frees(
        c["pid"], c["t_ns"], c["ev"], by_comm, None, 0, migration=True))
    assert by_task.tolist() == [False, True] and migrated.tolist() == [False, False]
    # kcompactd's free: compaction moved the folio (neither a task's free nor reclaim's)
    by_comm[45] = "kcompactd0"
    _, _, _, by_task, _, migrated = pretrace_folios(iter([cols]), lambda c: reclaim_frees(
        c["pid"], c["t_ns"], c["ev"], by_comm, None, 0, migration=True))
    assert by_task.tolist() == [False, True] and migrated.tolist() == [True, False]
    # without migration (the replay's own frees): kcompactd's are reclaim's, 1
    assert reclaim_frees(pid, cols["t_ns"], ev, by_comm, None, 0).tolist()[0] == 1


def test_machine_pfns_map_to_the_same_offset_in_the_model_zone():
    layout = {"DMA": (1, 4095, 3998), "DMA32": (4096, 1044480, 782336),
              "Normal": (1048576, 5505024, 5505024)}
    spans = [(0, 782336), (782336, 782336 + 5505024)]       # the machine's present pages
    pfns = np.array([5, 4096, 4096 + 1000, 1048576 + 77, 1048576 + 512 * 3 + 5, 4096 + 900000])
    orders = np.array([0, 0, 3, 0, 9, 0], np.int8)
    out = machine_to_model_pfn(pfns, orders, layout, spans)
    assert out.tolist() == [-1, 0, 1000, 782336 + 77, 782336 + 512 * 3, -1]
    # a model half the size scales the offsets down
    half = [(0, 391168), (391168, 391168 + 2752512)]
    out = machine_to_model_pfn(pfns, orders, layout, half)
    assert out[3] == 391168 + 38 and out[4] == 391168 + 768 - 768 % 512


def test_a_replay_places_the_pre_trace_folios_and_replays_their_frees():
    rp = replay(SAMPLE)
    st = rp.stats
    assert st.pretrace_folios == 188 and st.pretrace_placed == 188
    assert st.frees_before_trace == 0 and st.frees_matched == 386 + 188
    assert any("placed at the machine's pfns" in line for line in rp.notes())
    empty = replay(SAMPLE, init="empty")
    assert empty.stats.pretrace_placed == 0 and empty.stats.frees_before_trace == 188


def test_gap_folios_fill_the_pieces_placing_left_smallest_first():
    """Placed folios leave pieces free in their pageblocks that the machine's
    buddyinfo does not show free: they become folios of the buddy orders
    that cover them, smallest first, within each zone's room and the
    budget, holding what most of the block's placed pages hold."""
    from defragsim.workloads.replay_ops import _gap_pieces, _smallest_within

    def _gap_folios(taken, pfns, orders, kinds, pbo, budget, spans, room):
        gp, go, gk = _gap_pieces(taken, pfns, orders, kinds, pbo)
        keep = _smallest_within(gp, go, spans, room, budget)
        return gp[keep], go[keep], gk[keep]
    pbo, n = 4, 64                                  # 16-page blocks, 4 blocks, one zone
    taken = np.zeros(n, bool)
    pfns = np.array([0, 5, 8, 32], np.int64)
    orders = np.array([2, 0, 2, 4], np.int64)       # block 0: 0-3, 5, 8-11; block 2 full
    kinds = np.array([C.KIND_FILE, C.KIND_FILE, C.KIND_ANON, C.KIND_ANON], np.uint8)
    for p, o in zip(pfns, orders):
        taken[p:p + (1 << o)] = True
    spans = [(0, n)]
    gp, go, gk = _gap_folios(taken, pfns, orders, kinds, pbo, 100, spans, [100])
    # block 0's free pfns 4, 6-7, 12-15 as buddy chunks; blocks 1 (empty) and 3 untouched
    assert sorted(zip(gp.tolist(), go.tolist())) == [(4, 0), (6, 1), (12, 2)]
    assert go.tolist() == sorted(go.tolist())                      # smallest first
    assert set(gk.tolist()) == {C.KIND_FILE}        # block 0: 5 file pages, 4 anon
    covered = taken.copy()
    for p, o in zip(gp, go):
        assert not covered[p:p + (1 << o)].any()
        covered[p:p + (1 << o)] = True
    assert covered[:16].all()
    # the room of the zone caps it, smallest first
    gp, go, _ = _gap_folios(taken, pfns, orders, kinds, pbo, 100, spans, [3])
    assert sorted(zip(gp.tolist(), go.tolist())) == [(4, 0), (6, 1)]
    gp, go, _ = _gap_folios(taken, pfns, orders, kinds, pbo, 1, spans, [100])
    assert gp.tolist() == [4]


def test_pre_trace_page_cache_a_task_frees_starts_active():
    """Page cache placed from a free by a task (not kswapd, kcompactd or a
    direct reclaimer) starts on the active list: two touches at t=0 right
    after its allocation (folio_mark_accessed() twice); what reclaim frees
    stays inactive.  The same in a streamed replay."""
    from defragsim.analysis.replay import _replay_config
    from defragsim.workloads.replay_ops import TraceStream, trace_workload
    from defragsim.workloads.snapshot import Snapshot
    from defragsim.workloads.trace import read_trace, trace_extent
    snap = Snapshot.load(SAMPLE.parent / "snap")
    tr = read_trace(SAMPLE)
    cfg, _ = _replay_config(lambda: int(tr.pfn.max()) + 1, snap, {}, [], SAMPLE)
    kw = dict(nr_cpus=cfg.cpus, nr_pages=cfg.nr_pages, snapshot=snap,
              zone_spans=cfg.zone_spans(), pageblock_order=cfg.pageblock_order)
    wl, st = trace_workload(tr, **kw)
    pre = slice(0, st.prefill_ops)
    touched = wl.handle[pre][wl.kind[pre] == C.OP_TOUCH]
    handles, counts = np.unique(touched, return_counts=True)
    assert (counts == 2).all()
    placed = {int(h): int(o) for h, o in zip(wl.handle[pre][wl.kind[pre] == C.OP_ALLOC],
                                             wl.order[pre][wl.kind[pre] == C.OP_ALLOC])}
    active = sum(1 << placed[int(h)] for h in handles)
    assert active >= st.pretrace_active_pages > 0
    # the streamed replay makes the same prefill
    ts = TraceStream(SAMPLE, "csv", extent=trace_extent(SAMPLE, "csv", None), **kw)
    assert ts.stats.pretrace_active_pages == st.pretrace_active_pages
    assert np.array_equal(ts._prefill[1], wl.kind[pre])


def test_replay_notes_compare_free_pages_by_list_type_at_start_and_end(tmp_path):
    """The notes put the machine's free pages per free-list type (before and
    after.pagetypeinfo) beside the model's, at the start and at the end."""
    import shutil
    from defragsim.workloads.snapshot import Snapshot
    snap = tmp_path / "snap"
    shutil.copytree(SAMPLE.parent / "snap", snap)
    shutil.copy(snap / "before.pagetypeinfo", snap / "after.pagetypeinfo")
    rp = replay(SAMPLE, init_from=snap)
    notes = rp.notes()
    head = notes.index("free pages by free-list type, machine (before/after.pagetypeinfo) / model:")
    rows = notes[head + 1:head + 5]
    mach = Snapshot.load(snap).free_pages_by_type("before")["Normal"]
    start = [r for r in rows if r.split()[:2] == ["Normal", "start"]]
    end = [r for r in rows if r.split()[:2] == ["Normal", "end"]]
    assert len(start) == 1 and len(end) == 1
    assert f"Movable {mach['Movable']:,}/" in start[0] and f"Movable {mach['Movable']:,}/" in end[0]
    snaps = rp.result.snapshots
    z = C.ZONE_NAMES.index("Normal")
    model_end = int((snaps[-1].nr_free_mt[z, :, C.MIGRATE_MOVABLE]
                     << np.arange(snaps[-1].nr_free_mt.shape[1])).sum())
    cell = end[0].split("Movable ")[1].split(", ")[0]
    assert cell == f"{mach['Movable']:,}/{model_end:,}"
    # without after.pagetypeinfo: the start rows only
    (snap / "after.pagetypeinfo").unlink()
    rows = replay(SAMPLE, init_from=snap).notes()
    assert not any(r.split()[1:2] == ["end"] for r in rows if r.startswith("  Normal"))


def test_folios_kcompactd_moved_are_placed_behind_the_others(tmp_path):
    """The placed folios go on the LRU in the order the machine freed them
    (reclaim's at the inactive tail, as the machine's reclaim took them).  A
    free by kcompactd is compaction's: the folio moved on and its free says
    nothing of its age, so it is placed after every other pre-trace folio.
    Here one task's frees are relabelled as kcompactd's."""
    import shutil
    from defragsim.analysis.replay import _replay_config
    from defragsim.workloads.replay_ops import trace_workload
    from defragsim.workloads.snapshot import Snapshot
    from defragsim.workloads.trace import read_trace
    d = tmp_path / "t"
    shutil.copytree(SAMPLE.parent, d)
    comm = (d / "comm.csv").read_text().replace("12939,perf-exec", "12939,kcompactd0")
    (d / "comm.csv").write_text(comm)
    tr = read_trace(d / "page_events.csv.xz")
    snap = Snapshot.load(d / "snap")
    pf = pretrace_folios([tr.__dict__], lambda c: reclaim_frees(
        c["pid"], c["t_ns"], c["ev"], tr.comm, None, 0, migration=True))
    assert pf[5].sum() > 20 and (~pf[5]).sum() > 20
    cfg, _ = _replay_config(lambda: int(tr.pfn.max()) + 1, snap, {}, [], d / "page_events.csv.xz")
    wl, st = trace_workload(tr, nr_cpus=cfg.cpus, nr_pages=cfg.nr_pages, snapshot=snap,
                            zone_spans=cfg.zone_spans(), pageblock_order=cfg.pageblock_order)
    layout = snap.zone_layout()
    mp = machine_to_model_pfn(pf[0], pf[1], layout, cfg.zone_spans())
    pre = slice(0, st.prefill_ops)
    placed = (wl.kind[pre] == C.OP_ALLOC) & ((wl.content[pre] & C.CONTENT_PLACED) != 0)
    at = {int(p): i for i, p in enumerate((wl.gfp[pre][placed] >> C.CONTENT_PLACED_PFN_SHIFT).tolist())}
    moved = [at[int(p)] for p in mp[pf[5]] if int(p) in at]
    others = [at[int(p)] for p in mp[~pf[5]] if int(p) in at]
    assert moved and others and min(moved) > max(others)
