"""Frees made by reclaim are the model's own reclaim's work (issue 17): a
free by kswapd or kcompactd (by comm), or by a task between its
mm_vmscan_direct_reclaim_begin and _end (other_events.csv), is not replayed;
the model's kswapd, kcompactd and direct reclaim free those pages
themselves.  The 6.18 traces' frees inside direct reclaim add up to their
pgsteal_direct (b: 625,769 of 659,367 pages; c: 336,942 of 340,690)."""
from __future__ import annotations

import pytest

from defragsim import Config
from defragsim.analysis.replay import replay
from defragsim.errors import TraceError
from defragsim.workloads.trace import direct_reclaim_windows

HEADER = "t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c\n"
PAGE_EVENTS = [
    "1000,0,100,A,5000,0,1,140cca,,,",      # the reader's page cache
    "2000,0,100,A,5001,0,1,140cca,,,",
    "3000,0,100,A,5002,0,1,140cca,,,",
    "3500,0,100,A,5008,3,1,140cca,,,",
    "4000,1,45,F,5000,0,,,,,",              # kswapd0 reclaims one
    "5000,0,100,F,5001,0,,,,,",             # inside the reader's direct reclaim
    "5200,0,100,F,5008,3,,,,,",             # inside it too
    "6000,0,100,F,5002,0,,,,,",             # after it: the reader's own free
]
OTHER = [
    "4500,0,100,vmscan:mm_vmscan_direct_reclaim_begin,gfp_flags=1387594 order=0",
    "5500,0,100,vmscan:mm_vmscan_direct_reclaim_end,nr_reclaimed=9",
]


def _trace(d, other=OTHER):
    (d / "page_events.csv").write_text(HEADER + "\n".join(PAGE_EVENTS) + "\n")
    (d / "comm.csv").write_text("pid,comm\n45,kswapd0\n100,reader\n")
    if other is not None:
        (d / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n" + "\n".join(other) + "\n")
    return d / "page_events.csv"


@pytest.mark.parametrize("stream", [False, True])
def test_reclaim_frees_are_not_replayed(tmp_path, stream):
    r = replay(_trace(tmp_path), Config(mem="64M"), stream=stream)
    st = r.stats
    assert st.frees_by_reclaim == 1                 # kswapd0's
    assert st.frees_in_direct_reclaim == 2          # the reader's, inside its direct reclaim
    assert st.frees_matched == 1                    # the reader's free after it
    assert any("inside their direct reclaim" in n and n.endswith(": 2") for n in r.notes())


def test_without_other_events_a_tasks_frees_are_replayed(tmp_path):
    st = replay(_trace(tmp_path, other=None), Config(mem="64M"), stream=False).stats
    assert st.frees_by_reclaim == 1 and st.frees_in_direct_reclaim == 0
    assert st.frees_matched == 3


def test_direct_reclaim_windows_pair_begin_and_end(tmp_path):
    other = ["100,0,7,vmscan:mm_vmscan_direct_reclaim_end,nr_reclaimed=1",   # began before
             "200,0,7,vmscan:mm_vmscan_direct_reclaim_begin,order=0",
             "300,0,8,vmscan:mm_vmscan_kswapd_wake,nid=0 order=0",
             "400,0,7,vmscan:mm_vmscan_direct_reclaim_end,nr_reclaimed=1",
             "500,1,9,mm_vmscan_direct_reclaim_begin,order=9"]                # never ended
    _trace(tmp_path, other)
    w = direct_reclaim_windows(tmp_path / "page_events.csv")
    assert sorted(w) == [7, 9]
    begin, end = w[7]
    assert begin[0] < 0 and end.tolist() == [100, 400] and begin[1] == 200
    assert w[9][0].tolist() == [500] and w[9][1][0] > 10 ** 18


def test_a_bad_direct_reclaim_line_is_named(tmp_path):
    _trace(tmp_path, [OTHER[0], "55x,0,100,vmscan:mm_vmscan_direct_reclaim_end,nr_reclaimed=9"])
    with pytest.raises(TraceError, match=r"other_events.csv: line 3: expected .*'55x,0,100"):
        replay(tmp_path / "page_events.csv", Config(mem="64M"), stream=False)
