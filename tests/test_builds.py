"""kbuild-thp's builds back to back (``[jobs] builds``, issue 16).

The defrag_mode changelogs ran 15 builds in a row; each build after the
first starts with `make clean`, which deletes the object files written
before it.  The source tree (the hot set) and everything else stay.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from defragsim import Config, constants as C, run
from defragsim.analysis.builds import BUILD_COUNTERS, per_build
from defragsim.workloads import build_workload
from defragsim.workloads.scenarios import ScenarioError, load_scenario, scenario_path

KBUILD = scenario_path("kbuild-thp").read_text()


def _kbuild(tmp_path: Path, builds_line: str, name="kb.toml") -> Path:
    text = re.sub(r"(?m)^builds = \d+$", builds_line, KBUILD)
    p = tmp_path / name
    p.write_text(text)
    return p


def test_the_shipped_kbuild_runs_several_builds():
    assert load_scenario("kbuild-thp").params["jobs"]["builds"] >= 3


def test_one_build_is_the_stream_without_the_key(tmp_path):
    """``builds = 1`` (the default) changes nothing: the same ops."""
    cfg = Config(mem="128M", seed=2)
    a = build_workload(str(_kbuild(tmp_path, "", "a.toml")), cfg, duration=5).materialize()
    b = build_workload(str(_kbuild(tmp_path, "builds = 1", "b.toml")), cfg,
                       duration=5).materialize()
    for col in ("t", "kind", "order", "gfp", "handle", "cpu", "content", "op_owner"):
        assert np.array_equal(getattr(a, col), getattr(b, col)), col
    assert "build_starts" not in a.meta


def test_make_clean_frees_the_object_files_written_before_it(tmp_path):
    """With 3 builds over 12 s, builds start at 0, 4 and 8 s.  At 4 s and
    8 s every object file (a dirtied page-cache handle) written before and
    not freed yet is freed, at exactly that time; nothing is freed twice and
    objects written after the last clean stay."""
    cfg = Config(mem="128M", seed=1)
    wl = build_workload(str(_kbuild(tmp_path, "builds = 3")), cfg, duration=12).materialize()
    assert wl.meta["build_starts"] == pytest.approx([0.0, 4.0, 8.0])
    dirty = wl.kind == C.OP_DIRTY
    S4, S8 = 4_000_000_000, 8_000_000_000      # op times are ns
    # the handle (slot) of each object write, and when it was written
    written = {}
    for t, h in zip(wl.t[dirty], wl.handle[dirty]):
        written.setdefault(int(h), []).append(int(t))
    for tc in (S4, S8):
        at = (wl.kind == C.OP_FREE) & (wl.t == tc) & (wl.content == C.KIND_FILE)
        freed = wl.handle[at]
        assert len(freed) > 0
        assert len(np.unique(freed)) == len(freed)
        # each freed slot holds an object written before the clean
        assert all(any(w < tc for w in written.get(int(h), [])) for h in freed)
    # an object written between the cleans is freed by the second one
    between = [h for h, ts in written.items() if any(S4 < w < S8 for w in ts)]
    at8 = set(wl.handle[(wl.kind == C.OP_FREE) & (wl.t == S8)].tolist())
    assert between and set(between) <= at8


def test_per_build_splits_the_run_counters(tmp_path):
    """per_build(): one row per build, the counters' increases summing to
    the run's totals; the THP fallback rate per build."""
    cfg = Config(mem="128M", seed=1)
    r = run(build_workload(str(_kbuild(tmp_path, "builds = 3")), cfg, duration=9), cfg)
    df = per_build(r)
    assert list(df.index) == [1, 2, 3]
    assert list(df["start_s"]) == pytest.approx([0, 3, 6])
    for c in ("thp_fault_alloc", "thp_fault_fallback", "pswpout", "compact_stall"):
        assert df[c].sum() == r.vmstat[c]
    assert set(BUILD_COUNTERS) <= set(df.columns)
    n = df["thp_fault_alloc"] + df["thp_fault_fallback"]
    assert np.allclose(df["thp_fallback_rate"][n > 0], (df["thp_fault_fallback"] / n)[n > 0])


def test_builds_must_be_a_positive_count(tmp_path):
    with pytest.raises(ScenarioError, match=r"jobs\.builds: must be at least 1"):
        load_scenario(str(_kbuild(tmp_path, "builds = 0")))
    with pytest.raises(ScenarioError, match=r"jobs: key 'builds': expected int, got float"):
        load_scenario(str(_kbuild(tmp_path, "builds = 2.5")))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kbuild_rereads_its_source_tree(seed):
    """The build's source tree does not fit beside the jobs (a memory-
    constrained machine): what reclaim evicts from it is read again.  The
    changelogs' vanilla runs refaulted 138k file pages a build against 627k
    reclaimed (22%); before the tree (stop 40) the model's kbuild read new
    page cache once and refaulted 0-3% of what it reclaimed."""
    r = run("kbuild-thp", Config(mem="256M", seed=seed), duration=8)
    v = r.vmstat
    reclaimed = v["pgsteal_kswapd"] + v["pgsteal_direct"]
    assert reclaimed > 0
    assert v["workingset_refault_file"] >= 0.1 * reclaimed
    # the tree starts in the page cache and survives: file pages stay a
    # large part of memory once the jobs run
    ts = r.timeseries
    n = int(ts.nr_free_pages.iloc[0] + ts.nr_allocated_pages.iloc[0])
    assert ts.nr_file_lru.iloc[len(ts) // 5:].mean() >= 0.2 * n
