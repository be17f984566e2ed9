"""The reclaimable slab a trace does not show (``workloads/untraced.py``):
the trace's own flows, the estimate from the snapshots, the schedule, and a
replay that adds it the same way for every parse-chunk size."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from defragsim import Config, constants as C
from defragsim import gfp as G
from defragsim.analysis.replay import replay
from defragsim.workloads.replay_ops import TraceStream, content_of, trace_workload
from defragsim.workloads.snapshot import Snapshot
from defragsim.workloads.trace import EV_ALLOC, EV_FREE, read_trace, trace_extent
from defragsim.workloads.untraced import SlabFlows, UntracedSlab, schedule, untraced_reclaimable

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
SAMPLE = DATA / "samples-1s" / "page_events.csv.xz"
REC0 = G.GFP_KERNEL | G.__GFP_RECLAIMABLE | G.__GFP_COMP
REC2 = G.__GFP_RECLAIMABLE | G.__GFP_IO | G.__GFP_NOWARN | G.__GFP_NORETRY | G.__GFP_COMP


def _cols(rows):
    ev, pfn, order, gfp = (np.array(c, np.int64) for c in zip(*rows))
    return dict(ev=ev, pfn=pfn, order=order, gfp=gfp, t_ns=np.zeros(len(ev), np.int64))


def _add(flows: SlabFlows, events) -> None:
    """What pretrace_folios hands SlabFlows.add: the allocations and their content."""
    cols = _cols(events)
    rows = np.flatnonzero((cols["ev"] == EV_ALLOC) & (cols["pfn"] >= 0))
    flows.add(cols, rows, np.array([content_of(int(g)) for g in cols["gfp"][rows]], np.int64))
    flows.add_slab_frees(cols, np.ones(len(flows.slab_free_rows), bool))   # all by tasks


EVENTS = [
    (EV_ALLOC, 0, 0, REC0),        # reclaimable, traced
    (EV_FREE, 0, 0, 0),            # its free: a first free in block 0
    (EV_FREE, 0, 0, 0),            # freed again, nothing allocated it in between
    (EV_FREE, 8, 2, 0),            # a page from before the trace: a first free
    (EV_ALLOC, 8, 2, REC2),
    (EV_FREE, 8, 2, 0),
    (EV_FREE, 8, 2, 0),            # second free, order 2
    (EV_FREE, 512, 1, 0),          # block 1
    (EV_ALLOC, 600, 0, G.GFP_KERNEL),      # unmovable: not counted
]


def test_slab_flows_count_second_frees_and_slab_frees_per_pageblock():
    f = SlabFlows()
    _add(f, EVENTS)
    assert f.second_free[0, 0] == 1 and f.second_free[0, 2] == 1
    assert f.second_free.sum() == 2
    assert f.rec_alloc == {(0, REC0): 1, (2, REC2): 4}
    assert f.slab_task_free == 1 + 4          # the two traced slab allocations' frees
    # the same read in chunks of any size
    for k in (1, 2, 4):
        g = SlabFlows()
        for i in range(0, len(EVENTS), k):
            _add(g, EVENTS[i:i + k])
        assert np.array_equal(g.second_free[:2], f.second_free[:2])
        assert g.rec_alloc == f.rec_alloc
        assert g.slab_task_free == f.slab_task_free


def test_the_slab_the_replay_frees_leaves_out_reclaims_frees_and_counts_reallocations():
    """What the replay frees of the trace's reclaimable slab: a task's free
    of a traced slab allocation, and a slab pfn allocated again with no
    traced free (the replay frees the old allocation then); not a free by
    reclaim (kswapd's, or inside a direct reclaim: the model's own), not a
    free of page cache, nor one of a page from before the trace; in chunks
    of any size."""
    from defragsim.workloads.replay_ops import pretrace_folios
    events = [
        (EV_ALLOC, 0, 0, REC0), (EV_FREE, 0, 0, 0),       # a task frees it: 1 page
        (EV_ALLOC, 4, 2, REC2), (EV_ALLOC, 4, 2, REC2),   # re-allocated, no free: 4 pages
        (EV_ALLOC, 16, 2, REC2), (EV_FREE, 16, 2, 0),     # freed by reclaim: not replayed
        (EV_ALLOC, 32, 0, G.GFP_HIGHUSER_MOVABLE), (EV_FREE, 32, 0, 0),   # page cache
        (EV_FREE, 64, 1, 0),                                # allocated before the trace
    ]
    cols = _cols(events)
    cols["pid"] = np.where(np.arange(len(events)) == 5, 99, 1)    # pid 99: reclaim
    reclaim_of = lambda c: (c["pid"] == 99).astype(np.int64)      # noqa: E731
    for k in (1, 2, 3, len(events)):
        chunks = [{key: v[i:i + k] for key, v in cols.items()} for i in range(0, len(events), k)]
        flows = pretrace_folios(chunks, reclaim_of)[4]
        assert flows.slab_task_free == 1 and int(flows.slab_implicit_free[0]) == 4, k


def _snapshot(tmp_path, before: int | None, after: int | None, up=(100.0, 110.0)) -> Snapshot:
    d = tmp_path / "snap"
    d.mkdir(exist_ok=True)
    for tag, u in zip(("before", "after"), up):
        if u is not None:
            (d / f"{tag}.time").write_text(f"1700000000.0\n{u} 1.0\n")
    s = Snapshot(path=d)
    if before is not None:
        s.vmstat_before = {"nr_slab_reclaimable": before}
    if after is not None:
        s.vmstat_after = {"nr_slab_reclaimable": after}
    return s


def test_the_estimate_is_the_growth_the_trace_does_not_account_for(tmp_path):
    """Growth 1,000 pages over the snapshots' 10 s, the trace spans 5 s:
    500; the trace allocated 5 pages of reclaimable slab and the replay frees
    5 of them (its two second frees free nothing it has) and 3 pages of
    pre-trace slab the prefill placed: 500 - 5 + 8.  The orders are the
    second frees', by pages (1 + 4), each with the trace's gfp of that order."""
    f = SlabFlows()
    _add(f, EVENTS)
    kinds = np.zeros((2, C.NR_KINDS), np.int64)
    kinds[0, C.KIND_SLAB_RECLAIMABLE] = 3
    kinds[1, C.KIND_FILE] = 3                      # block 1 holds page cache: no second frees
    est = untraced_reclaimable(f, kinds, _snapshot(tmp_path, 2000, 3000), 5 * 10**9, 3)
    assert est.machine_delta == 1000 and est.snapshot_s == pytest.approx(10.0)
    assert est.traced_alloc == 5 and est.traced_free == 5 + 3
    assert est.second_frees == 2 and est.second_free_pages == 5
    assert est.pages == 500 - 5 + 8
    assert [(o, g) for o, _, g in est.mix] == [(0, REC0), (2, REC2)]
    assert [s for _, s, _ in est.mix] == pytest.approx([0.2, 0.8])
    # the slab shrank more than the trace shows: nothing to add
    assert untraced_reclaimable(f, kinds, _snapshot(tmp_path, 3000, 1000), 5 * 10**9).pages == 0
    # what the estimate needs: both counters, both times, a trace that spans time
    assert untraced_reclaimable(f, kinds, _snapshot(tmp_path, 2000, None), 5 * 10**9) is None
    (tmp_path / "snap" / "after.time").unlink()
    assert untraced_reclaimable(f, kinds, _snapshot(tmp_path, 2000, 3000, (100.0, None)),
                                5 * 10**9) is None
    assert untraced_reclaimable(f, kinds, None, 5 * 10**9) is None


def test_schedule_spreads_each_order_evenly_and_stops_at_a_cut():
    est = UntracedSlab(0, 10.0, 10.0, 0, 0, 0, 0, pages=4096,
                       mix=[(0, 0.5, REC0), (2, 0.5, REC2)])
    t, order, gfp, cpu = schedule(est, 0.5, 10**9, -1, 2)
    assert (order == 0).sum() == 1024 and (order == 2).sum() == 256
    assert int((1 << order.astype(np.int64)).sum()) == 2048
    assert np.all(np.diff(t) >= 0) and t[0] >= 1 and t[-1] <= 10**9
    assert set(gfp[order == 2].tolist()) == {REC2}
    # evenly: each tenth of the span holds a tenth of each order
    for o, n in ((0, 1024), (2, 256)):
        per, _ = np.histogram(t[order == o], bins=10, range=(0, 10**9))
        assert per.min() >= n // 10 - 1 and per.max() <= n // 10 + 1
    assert cpu.tolist() == (np.arange(len(t)) % 2).tolist()
    cut = schedule(est, 0.5, 10**9, 10**8, 2)[0]
    assert len(cut) and cut.max() <= 10**8 and len(cut) == int((t <= 10**8).sum())
    assert all(len(a) == 0 for a in schedule(None, 1.0, 10**9, -1, 2))


def test_schedule_follows_the_pace_of_the_traced_reclaimable_allocations():
    """The untraced allocations come at the pace of the traced reclaimable
    ones (SlabFlows.pace): three quarters in the first 200 ms of a second
    that took three quarters of the traced pages then, evenly within a bin."""
    from defragsim.workloads.untraced import PACE_BIN_NS
    pace = np.array([300, 300, 50, 50, 50, 50, 50, 50, 50, 50], np.int64)
    est = UntracedSlab(0, 1.0, 1.0, 0, 0, 0, 0, pages=1000, mix=[(0, 1.0, REC0)], pace=pace)
    t = schedule(est, 1.0, 10 * PACE_BIN_NS, -1, 1)[0]
    per, _ = np.histogram(t, bins=10, range=(0, 10 * PACE_BIN_NS))
    assert per.tolist() == [300, 300] + [50] * 8
    assert "pace" not in est.as_dict()
    # SlabFlows.pace: the traced reclaimable pages per bin of the trace's time
    flows = SlabFlows()
    cols = _cols([(EV_ALLOC, 0, 0, REC0), (EV_ALLOC, 8, 2, REC2), (EV_ALLOC, 600, 0, G.GFP_KERNEL)])
    cols["t_ns"] = np.array([5, PACE_BIN_NS + 7, 2 * PACE_BIN_NS], np.int64)
    flows.add(cols, np.arange(3), np.array([content_of(int(g)) for g in cols["gfp"]], np.int64))
    assert flows.pace.tolist() == [1, 4]


@pytest.fixture(scope="module")
def grown_sample(tmp_path_factory):
    """The shipped 1 s sample with an ``after`` snapshot in which reclaimable
    slab grew by 20,000 pages over 2 s."""
    d = tmp_path_factory.mktemp("grown") / "samples-1s"
    shutil.copytree(SAMPLE.parent, d)
    snap = d / "snap"
    up, idle = (snap / "before.time").read_text().split("\n")[1].split()
    (snap / "after.time").write_text(f"0\n{float(up) + 2.0:.2f} {idle}\n")
    vm = (snap / "before.vmstat").read_text()
    grown = "\n".join(f"nr_slab_reclaimable {int(line.split()[1]) + 20000}"
                      if line.startswith("nr_slab_reclaimable ") else line
                      for line in vm.split("\n"))
    (snap / "after.vmstat").write_text(grown)
    return d / SAMPLE.name


@pytest.mark.parametrize("chunk_bytes", [1 << 12, 1 << 16])
def test_a_replay_adds_the_untraced_slab_the_same_for_any_chunks(grown_sample, chunk_bytes):
    """About half the growth (the trace is 1 s of the snapshots' 2 s) is
    added as kernel-owned reclaimable slab allocations that are never
    freed; streamed in chunks of any size, the ops are the whole-file
    replay's."""
    cfg = Config(mem="1G")
    snap = Snapshot.load(grown_sample.parent / "snap")
    tr = read_trace(grown_sample, max_pfn=snap.pfn_limit())
    wl, st = trace_workload(tr, nr_cpus=cfg.cpus, nr_pages=cfg.nr_pages, snapshot=snap,
                            zone_spans=cfg.zone_spans(), pageblock_order=cfg.pageblock_order)
    u = st.untraced_slab
    assert u["machine_delta"] == 20000 and u["pages"] > 9000
    # the model's managed pages: less those memblock reserved at boot
    managed = cfg.nr_pages - sum(st.reserved_pages.values())
    scale = managed / (snap.meminfo["MemTotal"] * 1024 // C.PAGE_SIZE)
    assert st.untraced_slab_pages == pytest.approx(u["pages"] * scale, rel=0.01)
    added = (wl.content == C.KIND_SLAB_RECLAIMABLE) & (wl.kind == C.OP_ALLOC) & (wl.t > 0)
    added &= ~np.isin(wl.handle, wl.handle[wl.kind == C.OP_FREE])
    assert int((1 << wl.order[added].astype(np.int64)).sum()) >= st.untraced_slab_pages
    assert np.all(np.diff(wl.t) >= 0)                        # merged in time order
    ts = TraceStream(grown_sample, "csv", nr_cpus=cfg.cpus, nr_pages=cfg.nr_pages,
                     snapshot=snap, extent=trace_extent(grown_sample, "csv"),
                     zone_spans=cfg.zone_spans(), pageblock_order=cfg.pageblock_order,
                     chunk_bytes=chunk_bytes)
    m = ts.materialize()
    for col in ("t", "kind", "order", "gfp", "handle", "cpu", "content", "op_owner"):
        assert np.array_equal(getattr(m, col), getattr(wl, col)), col
    assert ts.stats.untraced_slab_pages == st.untraced_slab_pages


def test_the_replay_notes_say_what_was_added(grown_sample):
    rp = replay(grown_sample, config_overrides={"mem": "1G"})
    line = next(x for x in rp.notes() if x.startswith("reclaimable slab the trace does not show"))
    assert "+20,000 pages" in line and f"{rp.stats.untraced_slab_pages:,} model pages" in line
    assert replay(SAMPLE).stats.untraced_slab == {}          # no after snapshot: nothing added
    assert not any("trace does not show" in x for x in replay(SAMPLE).notes())


def test_a_snapshot_without_what_the_estimate_needs_says_so(grown_sample, tmp_path):
    d = tmp_path / "samples-1s"
    shutil.copytree(grown_sample.parent, d)
    (d / "snap" / "after.time").write_text("1795665512.0\n")        # no /proc/uptime line
    rp = replay(d / SAMPLE.name, config_overrides={"mem": "1G"})
    assert rp.stats.untraced_slab == {} and rp.stats.untraced_slab_pages == 0
    assert any("does not show: not estimated" in x for x in rp.notes())
