"""``defragsim compare`` / ``onset``: spec parsing, the mmtests-style table,
significance marks, the CLI and its files, the storm-onset sweep."""
from __future__ import annotations

from pathlib import Path

import pytest

from defragsim.cli import main
from defragsim.analysis.compare import _cell, compare, mean_ci, parse_run_spec, t95
from defragsim.config import ConfigError
from defragsim.analysis.onset import onset_summary, storm_onset, storm_onset_growth
from defragsim.plot import plot_onset


def test_parse_run_spec():
    s = parse_run_spec("defrag_mode=1,patches=2,3,4")
    assert s.config == {"defrag_mode": 1, "patches": "2,3,4"}
    assert s.label == "dm=1 patches=2,3,4"
    s = parse_run_spec("defrag_mode=1, patches=all, growth_scale=1.5, swappiness=100, pcp=false")
    assert s.config == {"defrag_mode": 1, "patches": "all", "swappiness": 100, "pcp": False}
    assert s.growth_scale == 1.5


@pytest.mark.parametrize("spec,msg", [
    ("bogus=1", "unknown key 'bogus'"),
    ("defrag_mode=x", "defrag_mode: not an integer"),
    ("defrag_mode=2", "defrag_mode"),
    ("patches=4", "patch 3"),
    ("patches=5", "unknown patch number"),
    ("seed=3", "--seeds"),
    ("growth_scale=-1", "growth_scale"),
    ("defrag_mode=1,defrag_mode=0", "given twice"),
    ("defrag_mode", "not key=value"),
    ("", "empty configuration"),
])
def test_parse_run_spec_errors_name_the_problem(spec, msg):
    with pytest.raises(ConfigError, match=msg):
        parse_run_spec(spec)


def test_mean_ci_and_significance_marks():
    assert mean_ci([5.0]) == (5.0, 0.0)
    m, ci = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and ci == pytest.approx(t95(3) * 1.0 / 3 ** 0.5)
    base = mean_ci([100.0, 101.0, 99.0])
    far = mean_ci([50.0, 51.0, 49.0])
    near = mean_ci([100.0, 120.0, 80.0])
    assert _cell(base, base, True).endswith("(   0.00%)")
    assert _cell(base, far, False).endswith("* -50.00%*")        # intervals apart: marked
    assert _cell(base, near, False).endswith("(   0.00%)")      # overlapping: not marked
    one = mean_ci([50.0])
    assert "*" not in _cell(mean_ci([100.0]), one, False)      # one seed: never marked
    assert _cell((0.0, 0.0), (3.0, 0.0), False).endswith("(     new)")
    assert _cell((0.5, 0.0), (3000.0, 0.0), False).endswith("(   6000x)")   # not 599900.00%


def test_compare_table_is_plain_text_with_the_headline_rows():
    cmp = compare("steady", ["defrag_mode=0", "defrag_mode=1"], seeds=2, mem="128M",
                  duration=2.0)
    t = cmp.table()
    t.encode("ascii")
    lines = t.splitlines()
    assert lines[0].startswith("defragsim compare: steady, 128M, 2 CPUs, 2.0 s simulated, 2 seeds (0, 1)")
    assert any(line.startswith("pgalloc_normal") for line in lines)
    assert any(line.startswith("extfrag change_ownership") for line in lines)
    short = cmp.table(full=False)
    assert len(short.splitlines()) < len(lines)
    df = cmp.frame()
    assert set(df["config"]) == {"dm=0", "dm=1"} and set(df["seed"]) == {0, 1}


def test_cli_compare_writes_report_and_figures(tmp_path, capsys):
    out = tmp_path / "cmp"
    rc = main(["compare", "steady", "--a", "defrag_mode=0", "--b", "defrag_mode=1,patches=all",
               "--c", "defrag_mode=1,patches=2,3", "--seeds", "1", "--mem", "128M",
               "--duration", "2", "--quiet", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "dm=1 patches=all" in text and "dm=1 patches=2,3" in text
    assert (out / "report.txt").read_text() in text
    for name in ("pageblocks", "extfrag", "swap", "stall", "retries"):
        assert (out / f"{name}.png").stat().st_size > 1000
        assert (out / f"{name}.svg").exists()
    assert (out / "metrics.csv").exists()
    assert len(list((out / "runs").iterdir())) == 3


def test_cli_compare_bad_spec_is_one_line_error(capsys):
    rc = main(["compare", "steady", "--a", "defrag_mode=1", "--b", "patches=4"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("defragsim: error: patches:") and "patch 3" in err
    assert "\n" not in err


def test_onset_sweep_shape_and_plot():
    import matplotlib.pyplot as plt
    df = storm_onset("storm", scales=[0.0, 1.0], seeds=1, mem="128M", duration=3.0)
    assert len(df) == 3 * 2
    assert set(df["growth_mib_s_per_gib"]) == {0.0, 8.0}
    summ = onset_summary(df)
    assert summ.shape[0] == 2
    on = storm_onset_growth(df, "defrag_mode=1")
    assert on is None or on in (0.0, 8.0)
    assert storm_onset_growth(df, "defrag_mode=1", metric="pswpout_mib", per_s=0.0) == 0.0
    with pytest.raises(ConfigError, match="no configuration 'nope'"):
        storm_onset_growth(df, "nope")
    axes = plot_onset(df)
    assert len(axes) == 4
    plt.close(axes[0].figure)


def test_onset_needs_a_growth_section():
    with pytest.raises(ConfigError, match="no \\[growth\\] section"):
        storm_onset("steady", scales=[1.0], mem="128M", duration=1.0)


def test_cli_onset_writes_csv_and_figure(tmp_path, capsys):
    out = tmp_path / "onset"
    assert main(["onset", "--scales", "0,1", "--mem", "128M", "--duration", "2",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "defrag_mode=1 + series: non-movable reclaim retries >= 1/s from" in text
    for name in ("onset.csv", "onset.txt", "onset.png", "onset.svg"):
        assert (out / name).exists()
    assert main(["onset", "--scales", "0,x"]) == 2
    assert "--scales" in capsys.readouterr().err


def test_figure_seed_is_the_median_by_swap_out():
    from types import SimpleNamespace
    from defragsim.analysis.compare import Comparison

    def r(p):
        return SimpleNamespace(vmstat={"pswpout": p})
    cmp = Comparison("x", [], [7, 8, 9], {"a": [r(10), r(300), r(200)], "b": [r(0), r(300), r(100)]},
                     1 << 30, 1.0)
    assert cmp.figure_seed_index() == 2          # totals 10, 600, 300 -> median 300 (seed 9)


def test_cli_figures_writes_the_headline_set(tmp_path, capsys):
    out = tmp_path / "fig"
    assert main(["figures", "steady", "--mem", "128M", "--duration", "2", "--out", str(out)]) == 0
    files = capsys.readouterr().out.split()
    assert len(files) == 12 and all(Path(f).exists() for f in files)
    assert {Path(f).stem for f in files} == {"pageblocks", "pageblocks_diff", "extfrag", "swap",
                                             "stall", "retries"}


# -- the series' claims (analysis/claims.py) --------------------------------------------

def test_claim_verdicts_follow_the_numbers():
    from defragsim.analysis import claims as cl
    means = {"a": {"x": 100.0, "z": 0.0}, "b": {"x": 40.0, "z": 0.0}, "ref": {"x": 50.0, "z": 0.0}}
    less = cl.Claim("x falls", "x", ("a", "b"), "less", factor=0.5)
    v = cl.judge(less, means)
    assert v.verdict == cl.AGREES and str(v) == "agrees:          x falls: 100 -> 40"
    assert cl.judge(cl.Claim("x rises", "x", ("a", "b"), "more"), means).verdict == cl.DISAGREES
    toward = cl.Claim("x back toward ref", "x", ("a", "b"), "toward", ref="ref")
    assert str(cl.judge(toward, means)).endswith("100 -> 40 (ref: 50)")
    assert cl.judge(toward, means).verdict == cl.AGREES
    zero = cl.Claim("x about zero", "x", ("a", "b"), "about zero", ref="ref", factor=0.1, floor=5)
    assert cl.judge(zero, means).verdict == cl.DISAGREES             # 40 > max(5, 5)
    unseen = cl.Claim("fewer z", "z", ("a", "b"), "less", unseen="no z at this size")
    v = cl.judge(unseen, means)
    assert v.verdict == cl.CANNOT_SAY and str(v) == "cannot say:      fewer z -- no z at this size"
    assert cl.verdicts([less, unseen], means).count("\n") == 1
    with pytest.raises(ConfigError, match="no configuration 'c'"):
        cl.judge(cl.Claim("t", "x", ("a", "c"), "less"), means)
    with pytest.raises(ConfigError, match="unknown direction"):
        cl.Claim("t", "x", ("a", "b"), "sideways")
    with pytest.raises(ConfigError, match="needs a reference"):
        cl.Claim("t", "x", ("a", "b"), "toward")


def test_claims_on_a_comparison_and_the_notebook_tables():
    from defragsim.analysis import claims as cl
    from defragsim.analysis.report import cost_table, nonmovable_table
    cmp = compare("storm", cl.SERIES_CONFIGS, seeds=1, mem="128M", duration=1.0)
    assert list(cmp.results) == list(cl.SERIES_CONFIGS)
    m = cl.config_means(cmp)
    for c in cl.PROBLEM + cl.PATCH2 + cl.storm_ends("dm=1 +3,4"):
        assert c.metric in m["dm=1"], c.metric
    lines = cl.verdicts(cl.storm_ends("dm=1 +2,3,4"), cmp).splitlines()
    assert len(lines) == 5
    assert all(line.startswith(("agrees: ", "does NOT agree: ", "cannot say: ")) for line in lines)
    assert m["dm=1"]["OOM kills (kernel + guard)"] == m["dm=1"]["oom_kill"] + m["dm=1"]["oomd kills"]
    assert len(nonmovable_table(cmp, cl.FIXES).splitlines()) == 6
    assert len(cost_table(cmp, 0).splitlines()) == 2 * len(cl.SERIES_CONFIGS)
    r = cmp.results["dm=1"][0]
    assert cl.judge_no_change(cl.PATCH3, r, r).verdict == cl.AGREES
    other = cmp.results["dm=0"][0]
    assert cl.judge_no_change(cl.PATCH1, r, other).verdict == cl.DISAGREES


def test_onset_verdicts_at_every_growth_rate():
    import pandas as pd
    from defragsim.analysis import claims as cl
    rows = []
    for cfg, retries, frag in (("defrag_mode=0", [0, 0], [50, 200]),
                               ("defrag_mode=1", [0, 40], [0, 0]),
                               ("defrag_mode=1 + series", [0, 1], [0, 3])):
        for x, rt, fr in zip((0.0, 8.0), retries, frag):
            rows.append(dict(config=cfg, growth_mib_s_per_gib=x, seed=0, duration_s=10.0,
                             nonmovable_reclaim_retries=rt, extfrag_fragmenting=fr))
    lines = cl.onset_verdicts(pd.DataFrame(rows)).splitlines()
    assert lines[0].startswith("agrees:          the series moves the storm's onset")
    assert lines[0].endswith("onset 8 MiB/s per GiB -> none in the sweep")
    assert lines[1].startswith("agrees: ") and lines[1].endswith("(2 of 2 rates)")
    assert lines[2].startswith("agrees: ")


def test_seed_mean_counts_a_missing_metric_as_zero():
    from defragsim.analysis.compare import seed_mean
    assert seed_mean([{"a": 1, "b": 4}, {"a": 3}]) == {"a": 2.0, "b": 2.0}


# -- tables for a mail (analysis/report.py) ----------------------------------------------

@pytest.fixture(scope="module")
def storm_cmp():
    from defragsim.cli import DEMO_CONFIGS
    return compare("storm", DEMO_CONFIGS, seeds=2, mem="128M", duration=4.0)


def test_headline_table_fits_80_columns_with_provenance(storm_cmp):
    from defragsim.analysis.report import headline_table
    from defragsim.provenance import __version__, model_hash_short
    t = headline_table(storm_cmp, command="defragsim demo --mem 128M")
    lines = t.splitlines()
    assert max(map(len, lines)) <= 80
    assert lines[0] == "$ defragsim demo --mem 128M"
    assert lines[1] == f"kernel baseline mm-2026 | defragsim {__version__} | model {model_hash_short()}"
    assert any(line.startswith("pswpout ") for line in lines)
    assert not any("%" in line and float(line.split("%")[0].split()[-1]) >= 1000 for line in lines
                   if line.startswith(("pswpout", "pgsteal")))
    row = next(line for line in lines if line.startswith("pswpout "))
    assert "." not in row.split()[1]                         # counters as integers
    full = storm_cmp.table(full=True, width=100)
    assert max(map(len, full.splitlines())) <= 100


def test_change_text_never_prints_huge_percentages():
    from defragsim.analysis.report import change_text
    assert change_text(0, 5) == "new" and change_text(0, 0) == "=" and change_text(7, 7) == "="
    assert change_text(100, 50) == "-50%" and change_text(100, 102.5) == "+2.5%"
    assert change_text(2, 11405) == "+11k"


def test_headline_table_names_seeds_that_disagree():
    from types import SimpleNamespace
    from defragsim.analysis import report

    class R(SimpleNamespace):
        pass
    cfg = SimpleNamespace(kernel="mm-test")
    per = {"a": [{"  pswpout": 0}, {"  pswpout": 5000}], "b": [{"  pswpout": 10}, {"  pswpout": 20}]}
    cmp = SimpleNamespace(results={lab: [R(config=cfg, m=m) for m in ms] for lab, ms in per.items()},
                          seeds=[3, 4], scenario="x", mem=1 << 30, duration_s=1.0,
                          specs=[SimpleNamespace(label="a", config={}), SimpleNamespace(label="b", config={})])
    orig = report.all_metrics
    report.all_metrics = lambda r: r.m
    try:
        t = report.headline_table(cmp)
    finally:
        report.all_metrics = orig
    assert "kernel baseline mm-test" in t
    assert "seeds disagree: [0] pswpout: none with seed 3, up to 5000 with the others" in t
    assert "0/5000" in t


def test_fallback_table_in_the_changelogs_form(storm_cmp):
    from defragsim.analysis.report import fallback_counts, fallback_table
    r = storm_cmp.results["defrag_mode=0"][0]
    c = fallback_counts(r)
    ef = r.extfrag
    assert sum(v for k, v in c.items() if k.startswith("@claimer")) == int(ef["change_ownership"].sum())
    assert sum(c.values()) == len(ef)
    t = fallback_table(storm_cmp)
    assert "@claimer[unmovable]" in t and "@pollute[movable from reclaimable]" in t
    assert "147k" in t                              # the changelog's vanilla number beside


def test_remains_sentence_is_computed_from_the_numbers(storm_cmp):
    from defragsim.analysis.report import compact, remains_sentence
    s = remains_sentence(storm_cmp, "defrag_mode=1", "dm=1+series")
    m = storm_cmp.means("all")["dm=1+series"]
    assert s.startswith("After the series (dm=1+series against defrag_mode=1)")
    if m["vmstat pgsteal_kswapd"] > 0:
        assert f"kswapd still reclaims {compact(m['vmstat pgsteal_kswapd'])} pages" in s.replace("\n", " ")
    assert max(map(len, s.splitlines())) <= 80
