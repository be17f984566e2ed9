"""A replay starts with compaction's pageblock skip bits where the trace's
first compaction pass shows the machine had them (issue 17).

The kernel marks each pageblock a compaction scanner finishes
(set_pageblock_skip() in isolate_migratepages_block(),
update_pageblock_skip() in isolate_freepages()) and keeps the marks until
__reset_isolation_suitable().  In both shipped 6.18 traces the first pass in
Normal crossed the whole zone scanning 0.9% (b) and 2.4% (c) of it: the
machine had compacted before.  Started without marks, the model's first
passes scanned every full block again (``compact_free_scanned`` 4.4x the
kernel's in b)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defragsim.analysis.replay import replay
from defragsim.errors import TraceError
from defragsim.sim import loop as L
from defragsim.workloads import trace as T
from defragsim.workloads.replay_ops import (ReplayStats, initial_cached_positions,
                                           initial_defer_state, initial_skip_blocks)

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
HEADER = "t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c\n"
ZS, ZE = 1048576, 1048576 + 262144          # a 1 GiB Normal zone

OTHER = [
    # the scanners met before the trace: this pass crosses nothing and says nothing
    f"50,0,36,compaction:mm_compaction_begin,free_pfn={ZS + 4095} migrate_pfn={ZS + 4096} "
    f"sync=0 zone_end={ZE} zone_start={ZS}",
    f"60,0,36,compaction:mm_compaction_end,free_pfn={ZS + 4095} migrate_pfn={ZS + 4096} "
    f"status=6 sync=0 zone_end={ZE} zone_start={ZS}",
    f"100,0,36,compaction:mm_compaction_begin,free_pfn={ZE - 1} migrate_pfn={ZS} sync=1 "
    f"zone_end={ZE} zone_start={ZS}",
    f"200,0,36,compaction:mm_compaction_isolate_migratepages,end_pfn={ZS + 512} nr_scanned=512 "
    f"nr_taken=3 start_pfn={ZS}",
    f"250,0,36,compaction:mm_compaction_fast_isolate_freepages,end_pfn={ZE} nr_scanned=40 "
    f"nr_taken=0 start_pfn={ZS + 4096}",
    # another task's events are not this pass's
    f"260,1,99,compaction:mm_compaction_isolate_freepages,end_pfn={ZS + 9999} nr_scanned=999 "
    f"nr_taken=0 start_pfn={ZS + 9000}",
    f"300,0,36,compaction:mm_compaction_isolate_freepages,end_pfn={ZE} nr_scanned=512 "
    f"nr_taken=0 start_pfn={ZE - 512}",
    f"400,0,36,compaction:mm_compaction_end,free_pfn={ZS + 200000} migrate_pfn={ZS + 150000} "
    f"status=5 sync=1 zone_end={ZE} zone_start={ZS}",
    f"500,0,36,compaction:mm_compaction_begin,free_pfn={ZE - 1} migrate_pfn={ZS} sync=1 "
    f"zone_end={ZE} zone_start={ZS}",
    f"600,0,36,compaction:mm_compaction_end,free_pfn={ZE - 1} migrate_pfn={ZS + 512} "
    f"status=5 sync=1 zone_end={ZE} zone_start={ZS}",
    # a pass still running when the trace ends is left out
    "700,1,37,compaction:mm_compaction_begin,free_pfn=1048575 migrate_pfn=4096 sync=1 "
    "zone_end=1048576 zone_start=4096",
]


def _trace(d, other):
    (d / "page_events.csv").write_text(HEADER + "1000,0,100,A,5000,0,1,140cca,,,\n")
    (d / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n" + "\n".join(other) + "\n")
    return d / "page_events.csv"


def test_each_zones_passes_their_crossed_ranges_and_scanned_blocks(tmp_path):
    passes = T.compaction_passes(_trace(tmp_path, OTHER))
    assert list(passes) == [ZS]
    met, p, later = passes[ZS]
    assert met.crossed == [] and met.crossed_pages == 0
    assert p.crossed == [(ZS, ZS + 150000), (ZS + 200001, ZE)]
    assert p.crossed_pages == 150000 + (ZE - ZS - 200001)
    assert p.scanned_pages == 512 + 40 + 512          # the fast search counts, not as a block
    assert p.scanned == [(ZS, ZS + 512), (ZE - 512, ZE)]
    assert later.crossed == [(ZS, ZS + 512)] and later.scanned == []
    # a sync pass's migrate scanner looked at every block's mark; its free scanner did not
    assert p.untyped == [(ZS, ZS + 150000)] and later.untyped == [(ZS, ZS + 512)]
    (tmp_path / "other_events.csv").unlink()
    assert T.compaction_passes(tmp_path / "page_events.csv") is None


def test_a_bad_compaction_line_is_named(tmp_path):
    _trace(tmp_path, OTHER[:1] + ["3x0,0,36,compaction:mm_compaction_end,free_pfn=1"])
    with pytest.raises(TraceError, match=r"other_events.csv: line 3: expected .*'3x0,0,36"):
        T.compaction_passes(tmp_path / "page_events.csv")


def _p(crossed, scanned_pages, scanned=()):
    return T.CompactionPass(list(crossed), scanned_pages, list(scanned))


def _pass(crossed, scanned_pages, scanned=()):
    return {ZS: [_p(crossed, scanned_pages, scanned)]}


def test_the_blocks_a_pass_crossed_without_scanning_start_marked():
    layout = {"Normal": (ZS, ZE - ZS, ZE - ZS)}
    spans = [(0, 65536), (65536, 65536 + 262144)]      # the model's DMA32 and Normal
    nr_pages = spans[1][1]
    st = ReplayStats()
    skip = initial_skip_blocks(_pass([(ZS, ZS + 150000), (ZS + 200001, ZE)], 1064,
                                     [(ZS, ZS + 512), (ZE - 512, ZE)]),
                               layout, spans, nr_pages, 9, st)
    blocks = np.flatnonzero(skip)
    first = 65536 // 512
    # Normal's blocks from the second (the first was scanned) to the one the
    # migrate scanner stopped in, and from the free scanner's stop to the
    # last but one (the last was scanned); DMA32's untouched
    expect = set(range(first + 1, first + 150000 // 512 + 1)) | \
        set(range(first + 200001 // 512, first + 262144 // 512 - 1))
    assert set(blocks.tolist()) == expect
    assert st.initial_skip == {"Normal": (len(expect), 150000 + 62143, 1064, 1)}
    # a pass that crossed little comes first: the first across the zone tells,
    # and the blocks the earlier one scanned had no mark
    early = _p([(ZS + 1024, ZS + 2048)], 1024, [(ZS + 1024, ZS + 2048)])
    skip = initial_skip_blocks({ZS: [early, _p([(ZS, ZE)], 0)]}, layout, spans, nr_pages, 9,
                               ReplayStats())
    assert set(np.flatnonzero(skip).tolist()) == set(range(first, first + 512)) - {first + 2,
                                                                                   first + 3}


def test_a_free_scanners_crossing_tells_of_movable_blocks_only():
    """isolate_freepages() passes over a block that is not MOVABLE before it
    looks at the block's mark (suitable_migration_target()); a sync pass's
    migrate scanner looks at every block's (isolation_suitable() first).
    What the free scanner crossed is marked if the block starts MOVABLE."""
    from defragsim import Config
    from defragsim import constants as C
    from defragsim.mm.state import make_state
    from defragsim.workloads.replay_ops import SKIP_MARKED, SKIP_MARKED_IF_MOVABLE
    layout = {"Normal": (ZS, ZE - ZS, ZE - ZS)}
    spans = [(0, 65536), (65536, 65536 + 262144)]
    first = 65536 // 512
    ps = T.CompactionPass([(ZS, ZS + 100 * 512), (ZS + 400 * 512, ZE)], 0, [],
                          [(ZS, ZS + 100 * 512)])
    told = initial_skip_blocks({ZS: [ps]}, layout, spans, spans[1][1], 9, ReplayStats())
    assert set(np.flatnonzero(told == SKIP_MARKED)) == set(range(first, first + 100))
    assert set(np.flatnonzero(told == SKIP_MARKED_IF_MOVABLE)) == \
        set(range(first + 400, first + 512))
    cfg = Config(mem=spans[1][1] * 4096)
    st = make_state(cfg)
    assert len(told) == len(st.block_mt)
    st.block_mt[first + 50] = C.MIGRATE_UNMOVABLE       # crossed by the migrate scanner
    st.block_mt[first + 450] = C.MIGRATE_RECLAIMABLE    # crossed by the free scanner
    marked = L.initial_skip_marks(st, told)
    assert set(np.flatnonzero(marked)) == \
        set(range(first, first + 100)) | set(range(first + 400, first + 512)) - {first + 450}
    # a bool array (a workload's own meta) is marked or not
    assert (L.initial_skip_marks(st, told != 0) == (told != 0)).all()


def test_each_block_is_told_by_the_first_pass_that_crosses_it():
    """Later passes tell of the blocks the earlier ones did not cross: a
    block one of them crossed without scanning starts marked, unless a pass
    (any, even one too small to tell) had scanned it by then; a block an
    earlier telling pass crossed keeps what that pass said."""
    layout = {"Normal": (ZS, ZE - ZS, ZE - ZS)}
    spans = [(0, 65536), (65536, 65536 + 262144)]
    first = 65536 // 512
    low = _p([(ZS, ZS + 100 * 512)], 0)                         # blocks 0-99, none scanned
    small = _p([(ZS + 150 * 512, ZS + 152 * 512)], 1024,        # too small to tell,
               [(ZS + 150 * 512, ZS + 152 * 512)])              # but it scanned 150-151
    high = _p([(ZS + 50 * 512, ZS + 200 * 512)], 512,           # 50-199: 50-99 told already,
              [(ZS + 60 * 512, ZS + 61 * 512)])                 # 60 scanned too late to count
    st = ReplayStats()
    skip = initial_skip_blocks({ZS: [low, small, high]}, layout, spans, spans[1][1], 9, st)
    expect = set(range(first, first + 200)) - {first + 150, first + 151}
    assert set(np.flatnonzero(skip).tolist()) == expect
    assert st.initial_skip == {"Normal": (198, 100 * 512, 0, 2)}


def test_no_marks_without_the_evidence():
    layout = {"Normal": (ZS, ZE - ZS, ZE - ZS)}
    spans = [(0, 65536), (65536, 65536 + 262144)]
    args = (layout, spans, spans[1][1], 9, ReplayStats())
    # a pass that scanned most of what it crossed: the machine had no marks
    assert initial_skip_blocks(_pass([(ZS, ZE)], 200000), *args) is None
    # a pass that crossed 63 pageblocks says too little
    assert initial_skip_blocks(_pass([(ZS, ZS + 63 * 512)], 0), *args) is None
    assert initial_skip_blocks(None, *args) is None
    # a zone the model lacks
    assert initial_skip_blocks({1: [T.CompactionPass([(1, 4096)], 0, [])]},
                               *args) is None


def test_a_replay_starts_with_the_marks_of_the_traces_first_pass(monkeypatch):
    seen = []
    run = L._Loop.run

    def spy(self, *a, **kw):
        seen.append(int(self.st.block_skip.sum()))
        return run(self, *a, **kw)
    monkeypatch.setattr(L._Loop, "run", spy)
    rp = replay(DATA / "b_pressure_dm0" / "page_events.csv.xz", duration=0.05)
    marked, crossed, scanned, _ = rp.stats.initial_skip["Normal"]
    assert 0.9 * 10544 < marked < 10544                          # most of Normal's blocks
    # those the free scanner told of are marked if they start MOVABLE
    assert len(seen) == 1 and 0.9 * marked < seen[0] < marked
    assert crossed == 5390848 and scanned == 47222
    assert any("skip bits at the start" in n for n in rp.notes())
    empty = replay(DATA / "b_pressure_dm0" / "page_events.csv.xz", duration=0.05, init="empty")
    assert seen[-1] == 0 and empty.stats.initial_skip == {}


DEFER = [
    f"10,0,36,compaction:mm_compaction_deferred,considered=12 defer_shift=5 idx=2 nid=0 "
    f"order=9 order_failed=9",
    f"20,0,36,compaction:mm_compaction_defer_compaction,considered=0 defer_shift=3 idx=1 nid=0 "
    f"order=9 order_failed=9",
    # not the first of its zone: says nothing of the start
    f"30,0,36,compaction:mm_compaction_defer_reset,considered=0 defer_shift=0 idx=2 nid=0 "
    f"order=9 order_failed=10",
    # a reset that kept the counts: DMA's state before it, order_failed back to the order
    f"40,0,36,compaction:mm_compaction_defer_reset,considered=16 defer_shift=4 idx=0 nid=0 "
    f"order=9 order_failed=10",
]


def test_the_deferral_state_before_each_zones_first_deferral_event(tmp_path):
    """compaction_deferred() counts the attempt before its event, so the
    state before it had one less; defer_compaction() raised the shift (the
    compaction that failed ran: considered at the limit); a reset that kept
    the counts raised order_failed to the order + 1."""
    p = _trace(tmp_path, OTHER + DEFER)
    assert T.compaction_defer_states(p) == {2: (11, 5, 9), 1: (4, 2, 9), 0: (16, 4, 9)}
    st = ReplayStats()
    assert initial_defer_state(T.compaction_defer_states(p), st) == {0: (4, 2, 9), 1: (11, 5, 9)}
    assert st.initial_defer == {"DMA32": (4, 2, 9), "Normal": (11, 5, 9)}
    # a first event that reset to zero says nothing; no file, no state
    _trace(tmp_path, [DEFER[2]])
    assert T.compaction_defer_states(p) == {}
    (tmp_path / "other_events.csv").unlink()
    assert T.compaction_defer_states(p) is None


def test_an_impossible_deferral_event_is_named(tmp_path):
    _trace(tmp_path, [DEFER[0].replace("defer_shift=5", "defer_shift=40")])
    with pytest.raises(TraceError, match=r"other_events.csv: a compaction deferral event "
                                         r"with impossible fields .*defer_shift=40"):
        T.compaction_defer_states(tmp_path / "page_events.csv")


def _after_prefill(monkeypatch, look) -> list:
    """What ``look(state)`` finds right after each replay's prefill."""
    seen = []
    prefill = L._Loop.prefill

    def spy(self, *a, **kw):
        out = prefill(self, *a, **kw)
        seen.append(look(self.st))
        return out
    monkeypatch.setattr(L._Loop, "prefill", spy)
    return seen


def test_a_replay_starts_with_the_traces_deferral_state(monkeypatch):
    seen = _after_prefill(monkeypatch, lambda st: st.compact_defer.tolist())
    rp = replay(DATA / "b_pressure_dm0" / "page_events.csv.xz", duration=0.05)
    assert rp.stats.initial_defer == {"Normal": (11, 5, 9)}
    assert seen[0][1] == [11, 5, 9] and seen[0][0] == [0, 0, 0]
    assert any("deferral at the start: Normal at compact_defer_shift 5" in n for n in rp.notes())


KCOMPACTD = [
    # another task's compaction does not end kcompactd's wait
    "100,1,99,compaction:mm_compaction_begin,free_pfn=2047 migrate_pfn=1024 sync=0 "
    "zone_end=2048 zone_start=1024",
    "150,0,38,compaction:mm_compaction_kcompactd_sleep,nid=0",
]


@pytest.mark.parametrize("first, expect", [
    # a timeout with nothing to do: the loop goes back to sleep then
    ([], 150),
    # a proactive pass: kcompactd's own compaction, no wake event
    (["120,0,38,compaction:mm_compaction_begin,free_pfn=2047 migrate_pfn=1024 sync=1 "
      "zone_end=2048 zone_start=1024"], 120),
    # a wake with work a wakeup left pending earlier (no wakeup just before): a timeout
    (["130,0,38,compaction:mm_compaction_kcompactd_wake,highest_zoneidx=2 nid=0 order=9"], 130),
    # a wakeup: the wait it ended is not the timer's; the next wait times out a period later
    (["125,1,47,compaction:mm_compaction_wakeup_kcompactd,highest_zoneidx=3 nid=0 order=9",
      "130,0,38,compaction:mm_compaction_kcompactd_wake,highest_zoneidx=2 nid=0 order=9"],
     130 + 500_000_000),
])
def test_kcompactd_first_timeout_from_its_first_event(tmp_path, first, expect):
    """kcompactd_first_timeout(): when the trace's kcompactd first ended a
    wait, a period after it if a wakeup ended it; None without the file or
    without kcompactd."""
    p = _trace(tmp_path, KCOMPACTD[:1] + first + KCOMPACTD[1:])
    assert T.kcompactd_first_timeout(p) == expect
    _trace(tmp_path, KCOMPACTD[:1])
    assert T.kcompactd_first_timeout(p) is None
    (tmp_path / "other_events.csv").unlink()
    assert T.kcompactd_first_timeout(p) is None


@pytest.mark.parametrize("first, expect", [
    ([], None),                       # a timeout with nothing to do
    (["120,0,38,compaction:mm_compaction_begin,free_pfn=2047 migrate_pfn=1024 sync=1 "
      "zone_end=2048 zone_start=1024"], None),        # a proactive pass
    # kcompactd_do_work() with no wakeup in the trace: a request was pending
    (["130,0,38,compaction:mm_compaction_kcompactd_wake,highest_zoneidx=2 nid=0 order=9"], (9, 2)),
    # a wakeup in the trace set it
    (["125,1,47,compaction:mm_compaction_wakeup_kcompactd,highest_zoneidx=3 nid=0 order=9",
      "130,0,38,compaction:mm_compaction_kcompactd_wake,highest_zoneidx=2 nid=0 order=9"], None),
])
def test_kcompactd_pending_request_from_its_first_event(tmp_path, first, expect):
    """kcompactd_pending_request(): a first kcompactd event that is
    kcompactd_do_work()'s wake, with no wakeup before it in the trace, shows
    the request a pre-trace wakeup left: (order, kernel highest_zoneidx)."""
    p = _trace(tmp_path, KCOMPACTD[:1] + first + KCOMPACTD[1:])
    assert T.kcompactd_pending_request(p) == expect


def test_an_impossible_pending_kcompactd_request_is_named(tmp_path):
    p = _trace(tmp_path, ["130,0,38,compaction:mm_compaction_kcompactd_wake,"
                          "highest_zoneidx=2 nid=0 order=14"])
    with pytest.raises(TraceError, match="kcompactd wake with impossible fields"):
        T.kcompactd_pending_request(p)


def test_a_replay_starts_kcompactds_wait_where_the_trace_does():
    """b_pressure_dm0's kcompactd first woke at 0.296 s with work pending and
    no wakeup before: its wait timed out then."""
    rp = replay(DATA / "b_pressure_dm0" / "page_events.csv.xz", duration=0.05)
    assert rp.result.meta["initial_kcompactd_timeout_ns"] == rp.stats.kcompactd_first_timeout_ns
    assert 0.29e9 < rp.stats.kcompactd_first_timeout_ns < 0.30e9
    assert any("kcompactd's first wait ends at 0.296 s" in n for n in rp.notes())
    # ... with an order-9 request pending for Normal (model zone 1)
    assert rp.result.meta["initial_kcompactd_request"] == (9, 1)
    assert any("order-9 request pending (highest zone Normal)" in n for n in rp.notes())


def test_kswapd_idle_rounds_count_rounds_without_lru_reclaim(tmp_path):
    """kswapd_idle_rounds(): a round runs from kswapd's wake after a sleep to
    its next sleep (a second wake inside it, after a nap, does not start
    another); it is idle when kswapd's own shrink_inactive batches reclaimed
    nothing (another task's batches do not count); a round the trace does
    not end is left out; until_ns cuts at t0_ns + until_ns."""
    shrink = ("vmscan:mm_vmscan_lru_shrink_inactive,nid=0 nr_scanned={n} nr_reclaimed={n} "
              "nr_dirty=0 priority=12 reclaim_flags=10")
    p = _trace(tmp_path, [
        "100,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",
        "150,1,900,vmscan:mm_vmscan_direct_reclaim_begin,gfp_flags=1387594 order=9",
        "160,1,900," + shrink.format(n=512),
        "200,0,47,vmscan:mm_vmscan_kswapd_sleep,nid=0",                  # idle
        "300,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",
        "310,0,47," + shrink.format(n=0),
        "400,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=0 zid=3",     # after its nap
        "410,0,47," + shrink.format(n=512),
        "500,0,47,vmscan:mm_vmscan_kswapd_sleep,nid=0",                  # reclaimed 512
        "600,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",
        "700,0,47,vmscan:mm_vmscan_kswapd_sleep,nid=0",                  # idle
        "800,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",     # not ended
    ])
    assert T.kswapd_idle_rounds(p) == (3, 2)
    assert T.kswapd_idle_rounds(p, t0_ns=100, until_ns=450) == (2, 1)
    assert T.idle_rounds([("sleep", 0), ("reclaim", 5), ("wake", 0), ("sleep", 0)]) == (1, 1)
    _trace(tmp_path, KCOMPACTD)
    assert T.kswapd_idle_rounds(p) is None
    (tmp_path / "other_events.csv").unlink()
    assert T.kswapd_idle_rounds(p) is None


def test_kswapd_idle_rounds_names_a_bad_line(tmp_path):
    p = _trace(tmp_path, ["x,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3"])
    with pytest.raises(TraceError, match=r"other_events.csv: line 2: expected .*kswapd_sleep"):
        T.kswapd_idle_rounds(p)


def test_kswapd_sleeps_from_its_sleep_to_its_next_wake(tmp_path):
    """kswapd_sleeps(): each mm_vmscan_kswapd_sleep to kswapd's next
    mm_vmscan_kswapd_wake (ns); another pid's events and a sleep the trace's
    end cuts do not count; until_ns keeps the sleeps that end before it."""
    p = _trace(tmp_path, [
        "100,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",
        "200,0,47,vmscan:mm_vmscan_kswapd_sleep,nid=0",
        "300,1,48,vmscan:mm_vmscan_kswapd_wake,nid=1 order=0 zid=2",
        "700000200,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",
        "700000300,0,47,vmscan:mm_vmscan_kswapd_sleep,nid=0",
        "900000300,0,47,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",
        "900000400,0,47,vmscan:mm_vmscan_kswapd_sleep,nid=0",
    ])
    assert T.kswapd_sleeps(p).tolist() == [700000000, 200000000]
    assert T.kswapd_sleeps(p, t0_ns=100, until_ns=800000000).tolist() == [700000000]
    _trace(tmp_path, KCOMPACTD)
    assert T.kswapd_sleeps(p) is None
    (tmp_path / "other_events.csv").unlink()
    assert T.kswapd_sleeps(p) is None


def test_the_replay_table_counts_kswapds_long_sleeps_on_both_sides():
    """The replay table's "kswapd sleeps of 500 ms or more": the kernel's from
    other_events.csv over the (cut) trace, the model's from its own
    mm_vmscan_kswapd_sleep/_wake events, which pair up with its balance_pgdat()
    runs (pageoutrun)."""
    path = DATA / "b_pressure_dm0" / "page_events.csv.xz"
    rp = replay(path, duration=3.0)
    rows = {name: (k, m) for name, k, m in rp.table_rows()}
    k, m = rows["kswapd sleeps of 500 ms or more"]
    gaps = T.kswapd_sleeps(path, t0_ns=rp.trace.t0_ns, until_ns=rp.trace.cut_ns)
    assert k == int((gaps >= 500_000_000).sum())
    ce = rp.result.compaction_events
    wakes = ce[ce.event == "mm_vmscan_kswapd_wake"]
    sleeps = ce[ce.event == "mm_vmscan_kswapd_sleep"]
    assert len(wakes) == rp.result.vmstat["pageoutrun"] > 0 and 0 < len(sleeps) <= len(wakes)
    ks = ce[ce.event.isin(["mm_vmscan_kswapd_wake", "mm_vmscan_kswapd_sleep"])]
    assert (ks.t.diff().dropna() >= 0).all()
    assert not (ks.event.astype(str).shift() == ks.event.astype(str))[
        ks.event == "mm_vmscan_kswapd_sleep"].any()       # no two sleeps in a row
    assert isinstance(m, int) and m >= 0


def test_the_replay_table_counts_kswapds_idle_rounds_on_both_sides():
    """The replay table's "kswapd rounds that reclaimed nothing": the kernel's
    from other_events.csv over the (cut) trace, the model's from its
    kswapd_idle_rounds diagnostic, one of its kswapd_rounds (each ends in an
    mm_vmscan_kswapd_sleep of the event table)."""
    path = DATA / "b_pressure_dm0" / "page_events.csv.xz"
    rp = replay(path, duration=3.0)
    rows = {name: (k, m) for name, k, m in rp.table_rows()}
    k, m = rows["kswapd rounds that reclaimed nothing"]
    rounds, idle = T.kswapd_idle_rounds(path, t0_ns=rp.trace.t0_ns, until_ns=rp.trace.cut_ns)
    assert k == idle < rounds
    assert T.kswapd_idle_rounds(path)[0] > rounds                # the cut leaves rounds out
    d = rp.result.diagnostics
    ce = rp.result.compaction_events
    sleeps = int(((ce.event == "mm_vmscan_kswapd_sleep") & (ce.t > 0)).sum())
    assert m == d["kswapd_idle_rounds"] <= d["kswapd_rounds"] == sleeps > 0


def test_kcompactd_proactive_passes_are_waits_that_compact_without_a_wake(tmp_path):
    """A kcompactd wait that ends in kcompactd_do_work() traces
    mm_compaction_kcompactd_wake before its passes; one that ends in
    compact_node(pgdat, true) goes straight to mm_compaction_begin on every
    zone: one proactive pass however many zones.  Before the first traced
    sleep only a begin on the node's first zone counts (a do_work under way
    shows later zones); another task's passes and those after the cut do
    not count."""
    dma, dma32, normal = "zone_start=1", "zone_start=4096", f"zone_start={ZS}"

    def begin(t, pid, zone):
        return f"{t},0,{pid},compaction:mm_compaction_begin,free_pfn=9 migrate_pfn=1 sync=1 {zone}"

    def own(t, ev, fields="nid=0"):
        return f"{t},0,38,compaction:mm_compaction_kcompactd_{ev},{fields}"
    other = [
        begin(10, 38, normal),                               # a do_work under way: not counted
        own(20, "sleep"), own(30, "wake", "highest_zoneidx=2 nid=0 order=9"), begin(31, 38, normal),
        own(40, "sleep"), begin(50, 38, dma), begin(51, 38, dma32), begin(52, 38, normal),
        own(60, "sleep"), begin(70, 99, dma),                # a direct compactor
        own(80, "sleep"), begin(90, 38, dma), begin(91, 38, normal),
    ]
    path = _trace(tmp_path, other)
    assert T.kcompactd_proactive_passes(path) == 2
    assert T.kcompactd_proactive_passes(path, t0_ns=0, until_ns=85) == 1
    # a proactive pass under way when the trace began: its first zone's begin
    path = _trace(tmp_path, [begin(5, 38, dma), begin(6, 38, normal)] + other[1:])
    assert T.kcompactd_proactive_passes(path) == 3
    assert T.kcompactd_proactive_passes(tmp_path / "none" / "page_events.csv") is None


def test_each_zones_scanners_start_where_its_first_pass_began(tmp_path):
    """The first mm_compaction_begin of a zone prints compact_zone()'s
    start: the cached migrate and free pfns (here the scanners met in the
    middle, as __reset_isolation_suitable() leaves them when it finds no
    block to restart at); later passes say nothing of the start."""
    p = _trace(tmp_path, OTHER)
    assert T.compaction_start_positions(p) == {ZS: (ZS + 4096, ZS + 4095),
                                               4096: (4096, 1048575)}
    layout = {"DMA32": (4096, 1044480, 1044480), "Normal": (ZS, ZE - ZS, ZE - ZS)}
    st = ReplayStats()
    # the model's zones: DMA32 [0, 1044480), Normal at the same size and at half of it
    full = initial_cached_positions(T.compaction_start_positions(p), layout,
                                    [(0, 1044480), (1044480, 1044480 + 262144)], st)
    assert full == {0: (0, 1044479), 1: (1044480 + 4096, 1044480 + 4095)}
    assert st.initial_cached == {"DMA32": (0, 1044479), "Normal": (4096, 4095)}
    half = initial_cached_positions(T.compaction_start_positions(p), layout,
                                    [(0, 1044480), (1044480, 1044480 + 131072)], ReplayStats())
    assert half[1] == (1044480 + 2048, 1044480 + 2047)
    (tmp_path / "other_events.csv").unlink()
    assert T.compaction_start_positions(p) is None


def test_a_first_pass_outside_its_zone_is_named(tmp_path):
    _trace(tmp_path, [OTHER[0].replace(f"migrate_pfn={ZS + 4096}", f"migrate_pfn={ZE + 7}")])
    with pytest.raises(TraceError, match=r"other_events.csv: an mm_compaction_begin with its "
                                         r"scanners outside its zone .*migrate_pfn="):
        T.compaction_start_positions(tmp_path / "page_events.csv")


def test_a_replay_starts_the_scanners_where_the_traces_first_pass_did(monkeypatch):
    seen = _after_prefill(monkeypatch, lambda st: [int(x) - int(st.zone_start[1])
                                                   for x in st.zone_compact[1, :3]])
    rp = replay(DATA / "b_pressure_dm0" / "page_events.csv.xz", duration=0.05)
    # b's first pass: migrate_pfn=1063936 free_pfn=6553599 in Normal (zone_start 1048576)
    migrate, free = rp.stats.initial_cached["Normal"]
    assert (migrate, free) == (1063936 - 1048576, 6553599 - 1048576)
    # compact_cached_migrate_pfn[0], [1] and compact_cached_free_pfn, as offsets into the zone
    assert seen[0] == [migrate, migrate, free]
    assert any("compaction's scanners at the start: Normal's migrate scanner at 15,360"
               in n for n in rp.notes())
