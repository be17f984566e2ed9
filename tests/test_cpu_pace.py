"""The machine's pace at the model's CPU work (Config.cpu_pace, issue 17).

The costs in ``defragsim.mm.costs`` were measured on the machine that
recorded the shipped traces b and c (kswapd reclaimed a 512-page folio in
4.6-5.0 µs there).  The VM that recorded d, e and the unseen traces took
7-14 µs for the same folio (README, Validation, stop 51), so a replay of its
traces ran the model's daemons and stalls several times too fast.  Now every
CPU cost is charged at the machine's pace (``costs.cpu_ns``), and a replay
measures its traced machine's pace on kswapd's 512-page batches
(``replay.trace_cpu_pace``).
"""
from __future__ import annotations

import pytest

from defragsim import Config, run
from defragsim.analysis.replay import CPU_PACE_MIN_BATCHES, replay, trace_cpu_pace
from defragsim.errors import ConfigError
from defragsim.sim.metrics import compact_scan_page_ns, reclaim_batch_cost_ns
from test_reclaim_active import _reclaim_cost
from test_replay_kswapd_latency import DATA, _trace
from test_replay_work_pace import ISOLATE, SHRINK


@pytest.mark.parametrize("bad", [0, -1, 0.01, 51, "2", True, float("nan")])
def test_a_pace_outside_its_range_is_refused(bad):
    with pytest.raises(ConfigError, match=r"config\.cpu_pace: expected a number from 0\.05 to 50"):
        Config(cpu_pace=bad)


def test_the_pace_reaches_the_kernels_in_thousandths():
    assert Config().to_params().cpu_pace_milli == 1000
    assert Config(cpu_pace=1.84).to_params().cpu_pace_milli == 1840
    assert Config(cpu_pace=2).to_params().cpu_pace_milli == 2000


def test_reclaim_is_charged_at_the_machines_pace():
    pages, cost = _reclaim_cost(9, 4)
    pages2, cost2 = _reclaim_cost(9, 4, Config(mem="64M", cpu_pace=2.0))
    pages_half, cost_half = _reclaim_cost(0, 4, Config(mem="64M", cpu_pace=0.5))
    assert pages == pages2 == 4 * 512 and pages_half == 4
    assert cost == 4 * reclaim_batch_cost_ns(512)
    assert cost2 == 4 * reclaim_batch_cost_ns(512, 2000) == 2 * cost
    assert cost_half == reclaim_batch_cost_ns(4, 500) == reclaim_batch_cost_ns(4) // 2
    assert compact_scan_page_ns(2000) == 2 * compact_scan_page_ns()


def test_pace_one_is_the_default_bit_for_bit():
    a = run("steady", Config(mem="256M"), duration=2)
    b = run("steady", Config(mem="256M", cpu_pace=1.0), duration=2)
    assert a.vmstat == b.vmstat and a.diagnostics == b.diagnostics


def test_a_slower_machine_reclaims_more_slowly():
    # the same workload: kswapd needs twice the CPU for each page it frees
    a = run("storm", Config(mem="256M"), duration=3)
    b = run("storm", Config(mem="256M", cpu_pace=2.0), duration=3)
    per_page = [r.diagnostics["kswapd_busy_s"] / r.vmstat["pgsteal_kswapd"] for r in (a, b)]
    assert a.vmstat["pgsteal_kswapd"] > 1000 and b.vmstat["pgsteal_kswapd"] > 1000
    assert per_page[1] / per_page[0] == pytest.approx(2.0, rel=0.15)


def _batches(n, us):
    """kswapd's ``n`` 512-page batches of ``us`` µs each, in other_events.csv lines."""
    out = ["100,0,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9"]
    for i in range(n):
        t = 1000 + 100_000 * i
        out += [f"{t},0,45," + ISOLATE.format(n=512),
                f"{t + int(us * 1000)},0,45," + SHRINK.format(n=512)]
    return out


def test_a_replay_takes_its_machines_pace(tmp_path):
    model_us = reclaim_batch_cost_ns(512) / 1000
    path = _trace(tmp_path, _batches(CPU_PACE_MIN_BATCHES, 2 * model_us))
    assert trace_cpu_pace(path) == (2.0, pytest.approx(2 * model_us, abs=0.001),
                                    CPU_PACE_MIN_BATCHES)
    rp = replay(path)
    assert rp.result.config.cpu_pace == 2.0
    note = next(n for n in rp.notes() if n.startswith("cpu_pace"))
    assert "cpu_pace 2: the traced machine's CPU work takes 2 times the model's costs" in note
    assert rp.work_pace()["reclaim_batch_us"][512]["model"] == pytest.approx(2 * model_us, 0.01)
    # given: kept, no note
    rp = replay(path, config_overrides={"cpu_pace": 1.5})
    assert rp.result.config.cpu_pace == 1.5
    assert not any(n.startswith("cpu_pace") for n in rp.notes())


def test_too_few_batches_say_nothing(tmp_path):
    path = _trace(tmp_path, _batches(CPU_PACE_MIN_BATCHES - 1, 20.0))
    assert trace_cpu_pace(path) is None
    assert replay(path).result.config.cpu_pace is None
    # a pace beyond the range is held at its end
    path = _trace(tmp_path, _batches(CPU_PACE_MIN_BATCHES, 1000.0))
    assert trace_cpu_pace(path)[0] == 50.0


def test_the_shipped_traces_paces():
    # b and c: the machine the costs were measured on; e: the slower VM
    assert trace_cpu_pace(DATA / "b_pressure_dm0" / "page_events.csv.xz")[0] == \
        pytest.approx(0.94, abs=0.02)
    assert trace_cpu_pace(DATA / "c_pressure_dm1" / "page_events.csv.xz")[0] == \
        pytest.approx(1.02, abs=0.02)
    assert trace_cpu_pace(DATA / "e_pressure_dm1" / "page_events.csv.xz")[0] == \
        pytest.approx(1.84, abs=0.05)


def test_the_command_line_sets_it(tmp_path, capsys):
    import json
    from defragsim.analysis.compare import parse_run_spec
    from defragsim.cli import main
    path = _trace(tmp_path, _batches(CPU_PACE_MIN_BATCHES, 20.0))
    assert main(["replay", str(path), "--cpu-pace", "1.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["work_pace"]["cpu_pace"] == 1.5
    assert main(["replay", str(path), "--cpu-pace", "0"]) != 0
    assert "config.cpu_pace: expected a number from 0.05 to 50" in capsys.readouterr().err
    assert parse_run_spec("cpu_pace=1.8", where="--a").config["cpu_pace"] == 1.8
