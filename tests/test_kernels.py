"""Kernel baselines: each is a set of behaviour switches, each switch acts only
at the code it names.

A switch is flipped alone by replacing one field of the kernels' Params; the
same workload then gives bit-identical results wherever the switch's code path
is not reached (defrag_mode=0 for the defrag_mode switches, orders whose
compact_gap is below the cap, runs without deferred compaction), and other
results where it is.
"""
from __future__ import annotations

import hashlib
import json

import pytest

from defragsim import Config, ConfigError, run
from defragsim import constants as C
from defragsim import kernels as K
from defragsim.workloads import build_workload


def test_every_baseline_sets_every_switch_and_names_a_known_value():
    for b in K.BASELINES.values():
        assert set(b.settings) == set(K.SWITCHES), b.name
        for name, value in b.settings.items():
            assert value in K.SWITCHES[name].values, (b.name, name, value)


def test_switch_value_indices_match_the_constants_the_kernels_read():
    ix = {s: {v: i for i, v in enumerate(K.SWITCHES[s].values)} for s in K.SWITCHES}
    assert ix["nofragment_last_resort"]["looping"] == C.NOFRAGMENT_LAST_RESORT_LOOPING
    assert ix["nofragment_last_resort"]["once"] == C.NOFRAGMENT_LAST_RESORT_ONCE
    assert ix["kswapd_wake_order"]["pageblock"] == C.KSWAPD_WAKE_PAGEBLOCK_ORDER
    assert ix["kswapd_balanced_free_blocks"]["every_order"] == C.KSWAPD_FREE_BLOCKS_EVERY_ORDER
    assert ix["kswapd_balanced_free_blocks"]["high_order"] == C.KSWAPD_FREE_BLOCKS_HIGH_ORDER
    assert ix["kcompactd_free_blocks_goal"]["on"] == C.KCOMPACTD_FREE_BLOCKS_GOAL_ON
    assert ix["compact_gap"]["capped"] == C.COMPACT_GAP_CAPPED
    assert ix["direct_compact_deferred"]["return"] == C.DIRECT_COMPACT_DEFERRED_RETURN
    assert ix["thisnode_thp_after_compaction"]["nopage"] == C.THISNODE_THP_NOPAGE


def test_history_adds_one_change_at_a_time():
    names = list(K.BASELINES)
    assert names[0] == "6.14" and names[-1] == K.DEFAULT_KERNEL == "mm-2026"
    diffs = {}
    for a, b in zip(names, names[1:]):
        sa, sb = K.BASELINES[a].settings, K.BASELINES[b].settings
        diffs[b] = sorted(k for k in sa if sa[k] != sb[k])
    assert diffs["101f9d666e4d"] == ["kswapd_wake_order"]
    assert diffs["a211c6550efc"] == ["kcompactd_free_blocks_goal", "kswapd_balanced_free_blocks"]
    assert diffs["7a95a05f15d5"] == ["nofragment_last_resort"]
    assert diffs["6.15"] == ["kswapd_balanced_free_blocks"]
    assert diffs["6.18"] == ["thisnode_thp_after_compaction"]
    assert diffs["mm-2026"] == ["compact_gap", "direct_compact_deferred"]


def test_baselines_refuse_what_their_kernel_does_not_have():
    with pytest.raises(ConfigError, match="no vm.defrag_mode"):
        Config(kernel="6.14", defrag_mode=1)
    with pytest.raises(ConfigError, match="applies to mm-2026 only"):
        Config(kernel="6.18", defrag_mode=1, patches="all")
    with pytest.raises(ConfigError, match="unknown kernel baseline 'v5.4'.*known: 6.14"):
        Config(kernel="v5.4")
    assert Config(kernel="6.18").to_dict()["kernel"] == "6.18"
    assert "kernel=6.18" in Config(kernel="6.18").label()
    assert "kernel" not in Config().label()


def test_kernels_table_lists_every_baseline_and_switch():
    text = K.kernels_table()
    for b in K.BASELINES.values():
        assert b.name in text and b.summary in text
    for s in K.SWITCHES:
        assert s in text


def _fingerprint(r) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(r.vmstat, sort_keys=True).encode())
    h.update(json.dumps(r.diagnostics, sort_keys=True, default=str).encode())
    h.update(r.timeseries.to_csv().encode())
    h.update(r.extfrag.to_csv().encode())
    return h.hexdigest()


def _run_flipped(monkeypatch, scenario, cfg: Config, duration, **switches):
    """Run with ``cfg``, its kernel's switches replaced by ``switches`` (value names)."""
    orig = Config.to_params
    values = {f"k_{k}": K.SWITCHES[k].values.index(v) for k, v in switches.items()}
    monkeypatch.setattr(Config, "to_params", lambda self: orig(self)._replace(**values))
    try:
        return run(build_workload(scenario, cfg, duration=duration), cfg)
    finally:
        monkeypatch.setattr(Config, "to_params", orig)


#: switches that act only under defrag_mode, with their non-default value
DEFRAG_MODE_SWITCHES = {"nofragment_last_resort": "looping", "kswapd_wake_order": "request",
                        "kswapd_balanced_free_blocks": "every_order",
                        "kcompactd_free_blocks_goal": "off"}


@pytest.mark.parametrize("switch,value", sorted(DEFRAG_MODE_SWITCHES.items()))
def test_defrag_mode_switches_are_inert_without_defrag_mode(monkeypatch, switch, value):
    cfg = Config(mem="128M", defrag_mode=0, seed=1)
    base = run(build_workload("storm", cfg, duration=4.0), cfg)
    flipped = _run_flipped(monkeypatch, "storm", cfg, 4.0, **{switch: value})
    assert _fingerprint(flipped) == _fingerprint(base)


def test_all_pre_2026_baselines_agree_without_defrag_mode():
    prints = {}
    for k in ("6.14", "e3aa7df331bc", "a211c6550efc", "6.15", "6.18"):
        cfg = Config(mem="128M", defrag_mode=0, seed=2, kernel=k)
        prints[k] = _fingerprint(run(build_workload("storm", cfg, duration=4.0), cfg))
    assert len(set(prints.values())) == 1, prints


LOW_ORDER_CHURN = """
name = "low-order"
description = "orders 0-3 only"
kind = "churn"
duration = 3.0
fill = 0.9
[[classes]]
name = "anon"
gfp = "GFP_HIGHUSER_MOVABLE"
content = "anon"
share = 0.8
orders = { 0 = 1.0, 3 = 0.2 }
lifetime_s = 1.0
[[classes]]
name = "slab"
gfp = "GFP_KERNEL"
content = "slab_unreclaimable"
share = 0.2
orders = { 0 = 1.0, 2 = 0.5 }
lifetime_s = 2.0
"""


def test_compact_gap_acts_only_above_the_cap(monkeypatch, tmp_path):
    # orders 0..3 have compact_gap(order) = 2 << order <= 16 < COMPACT_CLUSTER_MAX:
    # the cap changes nothing on a workload of such orders
    sc = tmp_path / "low-order.toml"
    sc.write_text(LOW_ORDER_CHURN)
    cfg = Config(mem="128M", defrag_mode=1, seed=1)
    wl = build_workload(str(sc), cfg)
    assert int(wl.order.max()) <= 3
    base = run(wl, cfg)
    flipped = _run_flipped(monkeypatch, str(sc), cfg, None, compact_gap="mainline")
    assert _fingerprint(flipped) == _fingerprint(base)


def test_switches_act_on_the_storm(monkeypatch):
    """On the storm under defrag_mode the defrag_mode switches are live: each
    flipped alone changes the run."""
    cfg = Config(mem="256M", defrag_mode=1, seed=1)
    base = _fingerprint(run(build_workload("storm", cfg, duration=8.0), cfg))
    for switch in ("kswapd_wake_order", "kswapd_balanced_free_blocks", "kcompactd_free_blocks_goal"):
        value = DEFRAG_MODE_SWITCHES[switch]
        assert _fingerprint(_run_flipped(monkeypatch, "storm", cfg, 8.0, **{switch: value})) != base, \
            switch


def test_deferred_direct_compaction_counts_as_a_stall_on_6_18(monkeypatch):
    """6.18 counts a try where every zone was deferred (COMPACT_DEFERRED) as
    compact_stall and compact_fail; the 2026 tree returns at once.  Flipped
    alone: a run's stalls then include each of its deferred tries (the
    ``compact_deferred_tries`` diagnostic), and without deferred tries the
    switch changes nothing."""
    cfg = Config(mem="256M", defrag_mode=1, seed=1)
    ret = run(build_workload("storm", cfg, duration=20.0), cfg)
    stall = _run_flipped(monkeypatch, "storm", cfg, 20.0, direct_compact_deferred="stall")
    def tries(r):
        ev = r.compaction_events
        return int(((ev["event"] == "mm_compaction_try_to_compact_pages") & ev["direct"]).sum())
    deferred = ret.diagnostics["compact_deferred_tries"]
    # the 2026 tree: a deferred try is no stall
    assert ret.vmstat["compact_stall"] + deferred <= tries(ret)
    if deferred == 0:
        assert _fingerprint(stall) == _fingerprint(ret)
    else:
        d = stall.diagnostics["compact_deferred_tries"]
        assert d > 0 and stall.vmstat["compact_stall"] >= d and stall.vmstat["compact_fail"] >= d