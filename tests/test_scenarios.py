"""The scenario library: YAML files, trace scenarios, bursts."""
from __future__ import annotations

from pathlib import Path

import pytest

from defragsim import Config, run
from defragsim import constants as C
from defragsim.cli import main
from defragsim.workloads import ScenarioError, build_workload, list_scenarios, load_scenario


def test_library_lists_every_kind():
    names = list_scenarios()
    assert {"steady", "storm", "kbuild-thp", "thpchallenge", "network-burst", "samples-1s",
            "real-pressure"} <= set(names)
    assert all(desc and desc != "(unreadable scenario file)" for desc in names.values())
    assert load_scenario("real-pressure").kind == "processes"      # a YAML file
    assert load_scenario("samples-1s").kind == "trace"


def test_yaml_errors_name_the_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("kind: processes\n  description: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"^bad.yaml: not valid YAML"):
        load_scenario(str(p))
    p.write_text("- a list\n")
    with pytest.raises(ScenarioError, match="expected a mapping"):
        load_scenario(str(p))


def test_trace_scenario_runs_and_ignores_the_seed():
    a = run("samples-1s", Config(mem="512M", seed=1))
    b = run("samples-1s", Config(mem="512M", seed=2))
    assert a.vmstat == b.vmstat
    assert a.meta["replay"]["allocations"] == 2899
    assert "baseline_vmstat" in a.meta
    short = run("samples-1s", Config(mem="512M"), duration=0.25)
    assert short.meta["replay"]["allocations"] < 2899


def test_trace_scenario_errors(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text('description = "x"\nkind = "trace"\ntrace = "nope.csv"\n')
    with pytest.raises(ScenarioError, match=r"t.toml: key 'trace': nope.csv does not exist"):
        load_scenario(str(p))
    p.write_text('description = "x"\nkind = "trace"\ntrace = "nope.csv"\nseed = 3\n')
    with pytest.raises(ScenarioError, match="unknown key 'seed'"):
        load_scenario(str(p))


def test_network_bursts_only_inside_their_windows():
    sc = load_scenario("network-burst")
    cfg = Config(mem="256M", seed=3)
    wl = build_workload(sc, cfg, duration=10.0)
    atomic = (wl.kind == C.OP_ALLOC) & (wl.order == 3) & (wl.content == C.KIND_KERNEL)
    t = wl.t[atomic] / 1e9
    assert len(t) > 100
    phase = (t - 4.0) % 2.0
    assert (t >= 4.0).all() and (phase < 0.4 + 1e-9).all()


def test_burst_keys_are_validated(tmp_path):
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "data" / "scenarios" /
            "network-burst.toml").read_text()
    p = tmp_path / "b.toml"
    p.write_text(text.replace("burst_len_s = 0.4", "burst_len_s = 3.0"))
    with pytest.raises(ScenarioError, match="burst_len_s: 3.0 is longer than burst_every_s"):
        load_scenario(str(p))
    p.write_text(text.replace("burst_len_s = 0.4\n", ""))
    with pytest.raises(ScenarioError, match="need both burst_every_s and burst_len_s"):
        load_scenario(str(p))


def test_cli_run_scenario_overrides(capsys):
    assert main(["run", "network-burst", "--mem", "256M", "--duration", "2", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("network-burst: 256M") and "2 s simulated" in out


def test_a_bare_integer_swap_is_refused_not_read_as_bytes(tmp_path):
    """``swap = 1`` in a scenario would have been one byte of swap (no swap)
    while ``swap = 1.0`` is memory's size: the integer is refused by name."""
    text = (Path(__file__).resolve().parents[1] / "data/scenarios/storm.toml").read_text()
    assert "\nswap = 0.5\n" in text
    cfg = Config(mem="128M", seed=1)
    for value, ok in (("1", False), ("1.0", True), ('"256M"', True), ("0", True)):
        p = tmp_path / f"s{len(value)}.toml"
        p.write_text(text.replace("\nswap = 0.5\n", f"\nswap = {value}\n"))
        if ok:
            build_workload(str(p), cfg, duration=1.0)
        else:
            with pytest.raises(ScenarioError, match=r"swap: 1 is neither a fraction of memory "
                                                    r"\(a float: 1.0\) nor a size"):
                build_workload(str(p), cfg, duration=1.0)


def test_compare_header_names_each_memory_size_when_they_differ(capsys):
    assert main(["compare", "steady", "--a", "mem=64M", "--b", "mem=128M", "--duration", "1"]) == 0
    out = capsys.readouterr().out
    assert "steady, 64M/128M (by configuration)," in out
    assert main(["compare", "steady", "--a", "defrag_mode=0", "--b", "defrag_mode=1",
                 "--duration", "1", "--mem", "128M"]) == 0
    assert "steady, 128M, " in capsys.readouterr().out


def test_an_empty_kernel_name_and_a_rounded_size_are_named(capsys):
    assert main(["run", "steady", "--kernel", "", "--duration", "1"]) == 2
    assert "unknown kernel baseline ''" in capsys.readouterr().err
    assert main(["run", "steady", "--mem", "5M", "--duration", "1"]) == 2
    assert "config.mem: 5M (4M in whole 4M blocks) is too small" in capsys.readouterr().err


def test_replay_stats_say_none_for_an_unknown_kcompactd_timeout_and_empty_scales_are_refused(capsys):
    from defragsim.workloads.replay_ops import ReplayStats
    assert ReplayStats().as_dict()["kcompactd_first_timeout_ns"] is None   # was -1 in --json
    assert ReplayStats(kcompactd_first_timeout_ns=5).as_dict()["kcompactd_first_timeout_ns"] == 5
    assert main(["onset", "storm", "--scales", ""]) == 2          # ran the default scales
    assert "--scales: expected numbers like 0,0.5,1, got ''" in capsys.readouterr().err
