"""A replay's kswapd runs as late after a wakeup as the traced machine's did
(issue 17): in the 6.18 trace c, 341 of the 508 direct reclaims began after
a wakeup of the sleeping kswapd and before kswapd ran (median wait 232 µs,
90th percentile 2.2 ms on the busy 2-vCPU machine).
``trace.kswapd_wake_latencies`` measures those waits from other_events.csv;
the replay's Config.kswapd_wake_latency_us takes their quantiles."""
from __future__ import annotations

from pathlib import Path

import pytest

from defragsim import Config
from defragsim.analysis.replay import replay
from defragsim.workloads import trace as T

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
HEADER = "t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c\n"


def _trace(d, other):
    (d / "page_events.csv").write_text(HEADER + "1000,0,100,A,5000,0,1,140cca,,,\n"
                                       "2000,0,100,F,5000,0,,,,,\n")
    (d / "comm.csv").write_text("pid,comm\n45,kswapd0\n100,reader\n")
    (d / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n" + "\n".join(other) + "\n")
    return d / "page_events.csv"


OTHER = [
    "100,0,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=0",          # awake already
    "200,0,100,vmscan:mm_vmscan_wakeup_kswapd,nid=0 order=9 zid=3",  # not from sleep
    "300,0,45,vmscan:mm_vmscan_kswapd_sleep,nid=0",
    "10000,0,100,vmscan:mm_vmscan_wakeup_kswapd,nid=0 order=9 zid=3",
    "10500,1,100,vmscan:mm_vmscan_wakeup_kswapd,nid=0 order=9 zid=3",  # the first counts
    "60000,1,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9",         # 50 us
    "70000,0,45,mm_vmscan_kswapd_sleep,nid=0",
    "80000,0,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=0",         # a timeout: no wakeup
    "90000,0,45,vmscan:mm_vmscan_kswapd_sleep,nid=0",
    "100000,0,7,vmscan:mm_vmscan_wakeup_kswapd,nid=0 order=0 zid=2",
    "2100000,1,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=0",       # 2 ms
]


def test_wake_latencies_are_wakeup_from_sleep_to_running(tmp_path):
    _trace(tmp_path, OTHER)
    assert T.kswapd_wake_latencies(tmp_path / "page_events.csv") == [50.0, 2000.0]
    _trace(tmp_path, OTHER[:3])
    assert T.kswapd_wake_latencies(tmp_path / "page_events.csv") is None


def test_many_latencies_become_quantiles():
    lat = T.kswapd_wake_latencies(DATA / "c_pressure_dm1" / "page_events.csv.xz")
    assert len(lat) == T.WAKE_LATENCY_QUANTILES and lat == sorted(lat)
    assert 150 < lat[len(lat) // 2] < 350 and lat[-1] > 2000      # median ~232 us, a long tail


def test_a_replay_takes_the_traces_latencies_unless_told(tmp_path):
    path = _trace(tmp_path, OTHER)
    r = replay(path, stream=False)
    assert r.result.config.kswapd_wake_latency_us == (50.0, 2000.0)
    assert any("after a wakeup from its sleep" in n for n in r.notes())
    r = replay(path, stream=False, config_overrides={"kswapd_wake_latency_us": None})
    assert r.result.config.kswapd_wake_latency_us is None
    r = replay(path, Config(mem="64M"), stream=True)           # a full Config is used as given
    assert r.result.config.kswapd_wake_latency_us is None


def test_a_bad_kswapd_line_is_named(tmp_path):
    from defragsim.errors import TraceError
    _trace(tmp_path, OTHER[:3] + ["1x0,0,100,vmscan:mm_vmscan_wakeup_kswapd,nid=0 order=9 zid=3"])
    with pytest.raises(TraceError, match=r"other_events.csv: line 5: expected .*'1x0,0,100"):
        T.kswapd_wake_latencies(tmp_path / "page_events.csv")
