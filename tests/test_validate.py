"""defragsim validate: the published rows are well formed and the verdicts
follow the numbers (no model run here; `defragsim validate --quick` runs them)."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from defragsim import kernels as K
from defragsim.analysis import validate as V
from defragsim.cli import main


def test_every_published_row_names_a_metric_and_configurations_of_its_step():
    for p in V.PUBLISHED:
        assert p.metric in V.METRICS, p
        cfgs = V.STEP_CONFIGS[p.step]
        assert set(p.configs) <= set(cfgs), p
        for kw in cfgs.values():
            assert kw["kernel"] in K.BASELINES


def test_each_step_runs_on_the_baseline_it_was_published_on():
    assert V.STEP_CONFIGS["a211c6550efc"]["defrag_mode"]["kernel"] == "a211c6550efc"
    assert V.STEP_CONFIGS["6.15"]["+kswapd fix"] == {"kernel": "6.15", "defrag_mode": 1}
    # the fix's table compares the kernel before it with the kernel after it
    assert V.STEP_CONFIGS["6.15"]["defrag_mode"]["kernel"] == "7a95a05f15d5"


@pytest.mark.parametrize("pub,model,verdict", [
    ((100, 200), (10, 20), V.AGREES),          # same change
    ((100, 200), (10, 12.5), V.DIRECTION),     # same way, a third of the change in log terms
    ((100, 200), (10, 5), V.DISAGREES),        # the other way
    ((100, 200), (10, 10.5), V.DISAGREES),     # the kernel moved, the model did not
    ((100, 102), (10, 10.4), V.AGREES),        # both unchanged
    ((100, 102), (10, 30), V.DISAGREES),       # the kernel did not move, the model did
    ((100, 200), (0, 0), V.CANNOT_SAY),        # nothing to compare
])
def test_judge_change(pub, model, verdict):
    q, v = V.judge_change(*pub, *model)
    assert v == verdict
    if verdict == V.AGREES and pub[1] / pub[0] > 1.5:
        assert 0.5 <= q <= 2


def test_judge_count_is_within_3x():
    assert V.judge_count(100, 250)[1] == V.AGREES
    assert V.judge_count(100, 34)[1] == V.AGREES
    assert V.judge_count(100, 400)[1] == V.DISAGREES
    assert V.judge_count(100, 20)[1] == V.DISAGREES
    assert V.judge_count(0, 0)[1] == V.CANNOT_SAY
    assert math.isinf(V.judge_count(0, 5)[0])


def test_table_shows_every_row_and_counts_verdicts():
    df = pd.DataFrame([
        dict(group="g1", source="s1", check="THP fault fallback: vanilla -> defrag_mode",
             published="21,911 -> 5,412", model="85.0 -> 6.0", ratio=1.9, verdict=V.AGREES),
        dict(group="g2", source="s2", check="swap out", published="48,000 -> 110,000",
             model="a very long model cell that is wrapped below", ratio=math.nan,
             verdict=V.DISAGREES),
    ])
    text = V.validate_table(df)
    assert text.startswith("defragsim validate: 2 checks: 1 agrees, 0 direction, 1 disagrees")
    assert "== g1  [s1]" in text and "== g2  [s2]" in text
    assert "model: a very long model cell that is wrapped below" in text
    assert max(len(line) for line in text.splitlines()) <= 110


def test_kernels_command_lists_the_baselines(capsys):
    assert main(["kernels"]) == 0
    out = capsys.readouterr().out
    for name in K.BASELINES:
        assert name in out


def _fake_replay_table(kernel: dict, model: dict, recorded: dict, calls: list):
    """A stand-in for ``V._replay_table``: the kernel's counts for the mode
    a trace was ``recorded`` at, beside the ``model``'s at the mode asked
    (:data:`V.MODE_COUNTERS` order); each call noted in ``calls``."""
    def fake_table(path, dm, duration, progress, name):
        calls.append((name, dm))
        k = kernel[recorded[name]]
        return {c: (k[c], m) for c, m in zip(V.MODE_COUNTERS, model[name, dm])}
    return fake_table


def test_trace_rows_judge_each_trace_at_both_defrag_modes(tmp_path, monkeypatch):
    """Each trace is replayed at its recorded defrag_mode (kernel vs model
    counts) and at the other one: the model's dm=0 -> dm=1 change on the
    trace is judged against the kernel's between the dm=0 and dm=1 traces."""
    kernel = {0: {"failed allocations": 20, "mm_vmscan_direct_reclaim_begin": 80,
                  "vmstat compact_success (delta)": 140},
              1: {"failed allocations": 320, "mm_vmscan_direct_reclaim_begin": 500,
                  "vmstat compact_success (delta)": 10}}
    model = {("b_pressure_dm0", 0): (50, 60, 190), ("b_pressure_dm0", 1): (150, 17, 170),
             ("c_pressure_dm1", 0): (25, 8, 200), ("c_pressure_dm1", 1): (180, 18, 30)}
    recorded = {"b_pressure_dm0": 0, "c_pressure_dm1": 1}
    calls = []
    fake_table = _fake_replay_table(kernel, model, recorded, calls)

    for name in recorded:
        (tmp_path / name).mkdir()
        (tmp_path / name / "page_events.csv.xz").write_bytes(b"")
    monkeypatch.setattr(V, "_replay_table", fake_table)
    rows = pd.DataFrame(V.trace_rows(tmp_path))
    assert sorted(calls) == sorted(model)
    swap = rows[rows.group.str.contains("at defrag_mode 0 and 1")]
    assert len(swap) == 2 * len(V.MODE_COUNTERS)
    b = swap[swap.group.str.startswith("replay b_pressure_dm0")].set_index("check").verdict
    assert b["mm_vmscan_direct_reclaim_begin: dm=0 -> dm=1"] == V.DISAGREES
    assert b["failed allocations: dm=0 -> dm=1"] in (V.AGREES, V.DIRECTION)
    c = swap[swap.group.str.startswith("replay c_pressure_dm1")].set_index("check")
    assert c.loc["vmstat compact_success (delta): dm=0 -> dm=1", "published"] == "140 -> 10.0"
    assert c.loc["vmstat compact_success (delta): dm=0 -> dm=1", "model"] == "200 -> 30.0"


def test_each_pair_of_traces_is_judged_against_its_own_kernel_change(tmp_path, monkeypatch):
    """The defrag_mode rows of a trace compare the model's change on it with
    the kernel's between the two traces of its own pair (recorded back to
    back: b -> c, d -> e), never with the other pair's; a pair with a trace
    missing has no such rows."""
    kernel = {"b_pressure_dm0": 20, "c_pressure_dm1": 320, "d_pressure_dm0": 1,
              "e_pressure_dm1": 19}

    def fake_table(path, dm, duration, progress, name):
        return {"failed allocations": (kernel[name], 10 * (dm + 1))}
    for name in kernel:
        (tmp_path / name).mkdir()
        (tmp_path / name / "page_events.csv.xz").write_bytes(b"")
    monkeypatch.setattr(V, "_replay_table", fake_table)
    rows = pd.DataFrame(V.trace_rows(tmp_path))
    swap = rows[rows.group.str.contains("at defrag_mode 0 and 1")].set_index("group")
    assert swap.loc["replay e_pressure_dm1 at defrag_mode 0 and 1 (6.18)", "published"] == \
        "1.0 -> 19.0"
    assert swap.loc["replay e_pressure_dm1 at defrag_mode 0 and 1 (6.18)", "source"] == \
        "kernel: d_pressure_dm0 -> e_pressure_dm1"
    assert swap.loc["replay b_pressure_dm0 at defrag_mode 0 and 1 (6.18)", "published"] == \
        "20.0 -> 320"
    assert len(swap) == 4
    (tmp_path / "e_pressure_dm1" / "page_events.csv.xz").unlink()
    rows = pd.DataFrame(V.trace_rows(tmp_path))
    groups = set(rows[rows.group.str.contains("at defrag_mode 0 and 1")].group)
    assert groups == {"replay b_pressure_dm0 at defrag_mode 0 and 1 (6.18)",
                      "replay c_pressure_dm1 at defrag_mode 0 and 1 (6.18)"}


SAMPLES = V.Path(__file__).resolve().parents[1] / "data" / "traces" / "samples-1s"


def test_validate_judges_a_trace_the_reviewer_recorded(capsys):
    """``validate --traces-only --trace DIR``: the trace is replayed at the
    defrag_mode its snapshot's before.sysctl recorded and each counter is
    judged as the shipped traces' are (the 1 s sample: a real replay)."""
    assert V.recorded_trace(SAMPLES)[1:] == ("samples-1s", 0)
    assert main(["validate", "--traces-only", "--trace", str(SAMPLES)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("defragsim validate: ")
    assert "== replay samples-1s (defrag_mode=0)" in out
    assert "  failed allocations " in out and "pgmigrate_success over the trace" in out


def test_validate_trace_problems_are_named(tmp_path):
    """A missing file, a trace without its snapshot, a snapshot that does
    not say the defrag_mode, and --traces-only without a trace: each a
    ConfigError naming it, before any replay runs."""
    from defragsim.errors import ConfigError
    with pytest.raises(ConfigError, match=r"--trace .*nope: no such trace file"):
        V.recorded_trace(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"a folder needs page_events.csv.xz"):
        V.recorded_trace(tmp_path)
    t = tmp_path / "t"
    t.mkdir()
    (t / "page_events.csv.xz").write_bytes((SAMPLES / "page_events.csv.xz").read_bytes())
    with pytest.raises(ConfigError, match=r"no snapshot beside it"):
        V.recorded_trace(t)
    (t / "snap").mkdir()
    for f in ("before.meminfo", "before.zoneinfo"):
        (t / "snap" / f).write_bytes((SAMPLES / "snap" / f).read_bytes())
    (t / "snap" / "before.sysctl").write_text("vm.swappiness=60\n")
    with pytest.raises(ConfigError, match=r"before.sysctl does not say vm.defrag_mode"):
        V.recorded_trace(t)
    with pytest.raises(ConfigError, match=r"--traces-only needs one --trace or --pair or more"):
        V.validate(traces_only=True)
    with pytest.raises(ConfigError, match=r"no such trace file"):
        V.validate(traces=[tmp_path / "nope"])          # before kbuild-thp runs


def _recording(root, name: str, dm: int):
    """A recording folder: the 1 s sample's events and snapshot, its
    before.sysctl saying ``dm``."""
    t = root / name
    (t / "snap").mkdir(parents=True)
    (t / "page_events.csv.xz").write_bytes((SAMPLES / "page_events.csv.xz").read_bytes())
    for f in (SAMPLES / "snap").iterdir():
        (t / "snap" / f.name).write_bytes(f.read_bytes())
    (t / "snap" / "before.sysctl").write_text(f"vm.defrag_mode={dm}\nvm.swappiness=60\n")
    return t


def test_validate_judges_a_recorded_pair(tmp_path, monkeypatch, capsys):
    """``validate --pair A B``: the defrag_mode 0 trace and the 1 trace
    (whichever order they are given in), each judged at its own mode and
    replayed at the other against the kernel's change between them; two
    recordings at one mode are named."""
    from defragsim.errors import ConfigError
    a, b = _recording(tmp_path, "x_dm0", 0), _recording(tmp_path, "y_dm1", 1)
    kernel = {dm: dict(zip(V.MODE_COUNTERS, k)) for dm, k in ((0, (1, 40, 100)), (1, (50, 400, 5)))}
    model = {("x_dm0", 0): (2, 30, 90), ("x_dm0", 1): (20, 10, 9),
             ("y_dm1", 0): (3, 35, 80), ("y_dm1", 1): (40, 300, 4)}
    calls = []
    monkeypatch.setattr(V, "_replay_table",
                        _fake_replay_table(kernel, model, {"x_dm0": 0, "y_dm1": 1}, calls))
    (p0, n0, d0), (p1, n1, d1) = V.recorded_pair(b, a)          # given dm1 first
    assert (n0, d0, n1, d1) == ("x_dm0", 0, "y_dm1", 1)
    df = V.validate(pairs=[(b, a)], traces_only=True)
    assert sorted(calls) == sorted(model)
    own = df[df.group == "replay x_dm0 (defrag_mode=0)"].set_index("check")
    assert own.loc["failed allocations", "published"] == "1.0"
    swap = df[df.group == "replay x_dm0 at defrag_mode 0 and 1"].set_index("check")
    assert swap.loc["failed allocations: dm=0 -> dm=1", "published"] == "1.0 -> 50.0"
    assert swap.loc["failed allocations: dm=0 -> dm=1", "model"] == "2.0 -> 20.0"
    assert swap.loc["mm_vmscan_direct_reclaim_begin: dm=0 -> dm=1", "verdict"] == V.DISAGREES
    assert set(df.source[df.group.str.contains("at defrag_mode 0 and 1")]) == {
        "kernel: x_dm0 -> y_dm1"}
    assert main(["validate", "--traces-only", "--pair", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "== replay y_dm1 at defrag_mode 0 and 1  [kernel: x_dm0 -> y_dm1]" in out
    c = _recording(tmp_path, "z_dm0", 0)
    with pytest.raises(ConfigError, match=r"--pair .*x_dm0 .*z_dm0: both were recorded at "
                                          r"defrag_mode 0"):
        V.recorded_pair(a, c)


def _no_runs(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a model run started before the arguments were checked")
    monkeypatch.setattr(V, "run", refuse)


def test_kbuild_rows_run_the_scenario_and_settings_asked_for(tmp_path, monkeypatch):
    """``--kbuild FILE --set KEY=VALUE``: every configuration of every step
    runs that file with that setting, on its own kernel and defrag_mode, and
    the groups say what ran.  A run of one build cannot judge the ageing rows."""
    from defragsim.workloads.scenarios import scenario_path
    text = scenario_path("kbuild-thp").read_text()
    p = tmp_path / "kb-light.toml"
    p.write_text(text.replace("builds = 3", "builds = 1").replace("madvise = true",
                                                                  "madvise = false"))
    ran = []
    real_run = V.run

    def spy(wl, cfg):
        ran.append((cfg.kernel, cfg.defrag_mode, cfg.thp_defrag, cfg.mem, wl.name))
        return real_run(wl, cfg)
    monkeypatch.setattr(V, "run", spy)
    rows = V.kbuild_rows(seeds=1, duration=1.0, scenario=str(p),
                         settings={"thp_defrag": "defer", "mem": "256M"})
    want = {(kw["kernel"], kw["defrag_mode"]) for c in V.STEP_CONFIGS.values() for kw in c.values()}
    assert {(k, dm) for k, dm, *_ in ran} == want and len(ran) == len(want)
    assert {(td, mem, name) for *_, td, mem, name in ran} == {("defer", 256 << 20, "kbuild-thp")}
    assert len(rows) == len(V.PUBLISHED) + len(V.AGEING)
    assert all(r["group"].startswith("kb-light.toml (256M, thp_defrag=defer) ") for r in rows)
    ageing = [r for r in rows if "ageing" in r["group"]]
    assert [r["verdict"] for r in ageing] == [V.CANNOT_SAY] * len(V.AGEING)
    assert all(r["model"] == "one build (a run of kb-light.toml)" for r in ageing)
    df = pd.DataFrame(rows)
    assert "kb-light.toml (256M, thp_defrag=defer) 101f9d666e4d" in V.validate_table(df)


def test_kbuild_groups_name_the_size_only_when_asked_or_not_the_shipped_scenario(monkeypatch):
    """The shipped kbuild-thp as it is keeps the table's old groups; --set
    mem=SIZE runs that size and says so."""
    cfg = V.Config(mem="128M", seed=0)
    one = V.run(V.build_workload("kbuild-thp", cfg, duration=1.0), cfg)   # every run's stand-in
    ran = []
    monkeypatch.setattr(V, "run", lambda wl, cfg: ran.append(cfg.mem) or one)
    assert V.kbuild_rows(mem="512M", seeds=1, duration=1.0)[0]["group"] == "kbuild-thp e3aa7df331bc"
    rows = V.kbuild_rows(mem="512M", seeds=1, duration=1.0, settings={"mem": "2G"})
    assert rows[0]["group"] == "kbuild-thp (2G) e3aa7df331bc"
    assert set(ran) == {512 << 20, 2 << 30}


def test_validate_kbuild_options_are_checked_before_anything_runs(tmp_path, monkeypatch):
    from defragsim.errors import ConfigError
    from defragsim.workloads.scenarios import ScenarioError
    _no_runs(monkeypatch)
    with pytest.raises(ConfigError, match=r"--set kernel: each kbuild-thp step sets kernel"):
        V.validate(settings={"kernel": "6.15"}, kbuild_only=True)
    with pytest.raises(ConfigError, match=r"--set defrag_mode: each kbuild-thp step sets"):
        V.validate(settings={"defrag_mode": 1}, kbuild_only=True)
    with pytest.raises(ConfigError, match=r"--kbuild samples-1s: a trace replay"):
        V.validate(kbuild="samples-1s", kbuild_only=True)
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'"):
        V.validate(kbuild="nope", kbuild_only=True)
    with pytest.raises(ConfigError, match=r"--traces-only runs no kbuild-thp rows"):
        V.validate(traces_only=True, kbuild_only=True)
    with pytest.raises(ConfigError, match=r"--traces-only runs no kbuild-thp rows"):
        V.validate(traces=[tmp_path], traces_only=True, settings={"swappiness": 100})
    with pytest.raises(ConfigError, match=r"--kbuild-only judges no traces"):
        V.validate(traces=[tmp_path], kbuild_only=True)
    assert main(["validate", "--kbuild-only", "--set", "growth_scale=2"]) == 2
    assert main(["validate", "--kbuild-only", "--set", "thp_defrag=bogus"]) == 2
    with pytest.raises(ConfigError, match=r"--set patches: the series' patches apply to mm-2026"):
        V.validate(settings={"patches": "all"}, kbuild_only=True)
    with pytest.raises(ConfigError, match=r"--set seed: validate runs seeds 0-2 itself"):
        V.validate(settings={"seed": 1}, kbuild_only=True)
    assert main(["validate", "--kbuild-only", "--set", "swappiness=100,seed=1"]) == 2


def _table_with_numbers():
    """A validate frame as validate() builds it: changes (one from zero and
    one with nothing in the model), trace counts (one zero), a direction."""
    rows = [
        dict(group="kbuild-thp a211c6550efc", source="s", check="THP fault fallback: v -> d",
             published="21,911 -> 5,412", model="134 -> 34.0", ratio=0.98, verdict=V.AGREES,
             **V._values(21911, 5412, 134, 34)),
        dict(group="kbuild-thp 6.15", source="s", check="THP fault fallback: d -> +fix",
             published="16,970 -> 15,952", model="0.0 -> 179", ratio=math.nan,
             verdict=V.DISAGREES, **V._values(16970, 15952, 0, 179)),
        dict(group="kbuild-thp a211c6550efc", source="s", check="swap out: v -> d",
             published="48,000 -> 110,000", model="0.0 -> 0.0", ratio=math.nan,
             verdict=V.CANNOT_SAY, **V._values(48000, 110000, 0, 0)),
        dict(group="replay b (6.18, defrag_mode=0)", source="t", check="failed allocations",
             published="21.0", model="0.0", ratio=0.0, verdict=V.DISAGREES,
             **V._values(math.nan, 21, math.nan, 0)),
        dict(group="replay c (6.18, defrag_mode=1)", source="t", check="failed allocations",
             published="324", model="366", ratio=1.1, verdict=V.AGREES,
             **V._values(math.nan, 324, math.nan, 366)),
        dict(group="storm, the 2026 series (mm-2026)", source="c", check="swaps more",
             published="more", model="(below)", ratio=math.nan, verdict=V.AGREES),
    ]
    return pd.DataFrame(rows, columns=V.COLUMNS)


def test_validate_figures_draw_each_kind_of_row(tmp_path):
    from defragsim import plot
    df = _table_with_numbers()
    changes, counts = plot.validate_change_rows(df), plot.validate_count_rows(df)
    assert list(changes["check"]) == ["THP fault fallback: v -> d", "THP fault fallback: d -> +fix",
                                      "swap out: v -> d"]
    assert list(counts["group"]) == ["replay b (6.18, defrag_mode=0)",
                                     "replay c (6.18, defrag_mode=1)"]
    ax = plot.plot_validate_changes(df)
    # the a211c6550efc rows sit together, as in the text table, under their group's name
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "THP fault fallback: v -> d", "swap out: v -> d", "THP fault fallback: d -> +fix"]
    assert {"kbuild-thp a211c6550efc", "kbuild-thp 6.15"} <= {t.get_text() for t in ax.texts}
    # the model's 0 -> 0 ("swap out") has no model marker, only the published one
    ys = {round(float(y), 6) for c in ax.collections for _, y in c.get_offsets()}
    marks = [(c.get_facecolors().shape[0] and c.get_facecolors()[0][3] > 0,
              {round(float(y), 6) for _, y in c.get_offsets()}) for c in ax.collections]
    swap_y = [y for y, t in zip(ax.get_yticks(), ax.get_yticklabels())
              if t.get_text() == "swap out: v -> d"][0]
    assert round(float(swap_y), 6) in ys
    assert not any(filled and round(float(swap_y), 6) in yy for filled, yy in marks)
    ax = plot.plot_validate_counts(df)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["failed allocations"]
    files = plot.write_validate_figures(df, tmp_path)
    assert sorted(Path(f).name for f in files) == ["validate_changes.png", "validate_changes.svg",
                                                  "validate_traces.png", "validate_traces.svg"]
    assert all(Path(f).stat().st_size > 1000 for f in files)
    # a table of trace rows only still draws both figures (one says there is nothing), and so
    # do an empty one and one read back from its CSV (the number columns then objects)
    assert len(plot.write_validate_figures(df[df["group"].str.startswith("replay")],
                                           tmp_path / "t")) == 4
    empty = pd.DataFrame(columns=V.COLUMNS)
    assert len(plot.write_validate_figures(empty, tmp_path / "e")) == 4
    empty.to_csv(tmp_path / "e.csv", index=False)
    assert len(plot.write_validate_figures(pd.read_csv(tmp_path / "e.csv"), tmp_path / "e")) == 4
    with pytest.raises(ValueError, match=r"no column published_before.*run defragsim validate"):
        plot.validate_change_rows(df[V.COLUMNS[:7]])
    # a count far off the axis is drawn at its end as a triangle
    far = pd.DataFrame([dict(group="replay x", source="t", check="pgscan_kswapd", published="2e6",
                             model="0", ratio=0.0, verdict=V.DISAGREES,
                             **V._values(math.nan, 2e6, math.nan, 0))], columns=V.COLUMNS)
    ax = plot.plot_validate_counts(far)
    assert ax.get_xlim()[0] == pytest.approx(1e-3)
    assert [tuple(c.get_offsets()[0]) for c in ax.collections] == [(1e-3, 0.0)]


def test_validate_out_writes_the_table_csv_and_figures(tmp_path, monkeypatch, capsys):
    import defragsim.cli as cli
    monkeypatch.setattr(cli, "validate", lambda **kw: _table_with_numbers())
    out = tmp_path / "v"
    assert main(["validate", "--quick", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["validate.csv", "validate.txt", "validate_changes.png",
                     "validate_changes.svg", "validate_traces.png", "validate_traces.svg"]
    csv = pd.read_csv(out / "validate.csv")
    assert list(csv.columns) == V.COLUMNS
    assert csv["published_after"].iloc[4] == 324 and math.isnan(csv["published_before"].iloc[4])
    assert "wrote " in capsys.readouterr().out
