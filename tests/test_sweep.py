"""``defragsim sweep``: task keys, the local pool and Dask against a serial run,
resume and unreadable store files, the summary, figures, errors and the CLI.

Tiny runs (steady, 64M, 0.5 s simulated, 3 configurations x 2 seeds) so the
file stays well under two minutes on two cores."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from defragsim import plot
from defragsim.analysis import sweep as sw
from defragsim.cli import main
from defragsim.analysis.compare import RunSpec, compare, t95
from defragsim.errors import DefragsimError, SweepError, TraceError

SMALL = dict(patches="none;all;2,3", seeds=2, mem="64M", duration=0.5)


def run_sweep(out, **kw):
    args = {**SMALL, "workers": 2, "progress": False, "log": lambda msg: None, **kw}
    return sw.sweep("steady", out=out, **args)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The reference sweep on a local pool of two workers."""
    return run_sweep(tmp_path_factory.mktemp("sweep") / "base")


@pytest.fixture
def copy_of_base(base, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(base.out, out)
    return out


# -- tasks and keys ------------------------------------------------------------

def test_task_keys_per_configuration_not_per_seed():
    plan = sw.make_plan("steady", **SMALL)
    tasks = plan.tasks()
    assert len(tasks) == 6                                 # 3 configurations x 2 seeds
    assert [t.key for t in tasks] == [t.key for t in sw.make_plan("steady", **SMALL).tasks()]
    a0, a1 = tasks[0], tasks[1]
    assert (a0.seed, a1.seed) == (0, 1) and a0.key == a1.key  # one configuration, two seeds:
    assert a0 != a1 and a0.file_name != a1.file_name          # ... two tasks, two files
    assert len(set(plan.keys())) == 3
    for other in (dict(SMALL, duration=1.0), dict(SMALL, mem="128M"),
                  dict(SMALL, growth_scale=2.0), dict(SMALL, base={"swappiness": 100})):
        assert sw.make_plan("steady", **other).keys()[0] != plan.keys()[0], other


def test_task_key_covers_the_scenario_file(tmp_path):
    from defragsim.workloads import scenario_path
    text = scenario_path("steady").read_text()
    a, b = tmp_path / "a" / "steady.toml", tmp_path / "b" / "steady.toml"
    for p, t in ((a, text), (b, text + "\n# a comment changes the file, so the key\n")):
        p.parent.mkdir()
        p.write_text(t)
    ka, kb = (sw.make_plan(str(p), **SMALL).keys()[0] for p in (a, b))
    assert ka == sw.make_plan(str(a), **SMALL).keys()[0] and ka != kb


def test_trace_scenario_hash_covers_the_trace_and_its_snapshot(tmp_path):
    from defragsim.workloads import scenario_path
    src = scenario_path("samples-1s")
    data = src.parent.parent / "traces" / "samples-1s"
    shutil.copytree(data, tmp_path / "traces" / "samples-1s")
    (tmp_path / "scenarios").mkdir()
    sc = tmp_path / "scenarios" / "samples-1s.toml"
    shutil.copy(src, sc)
    h0 = sw.scenario_sha256(str(sc))
    assert h0 == sw.scenario_sha256(str(src))              # the same files, the same hash
    snap = tmp_path / "traces" / "samples-1s" / "snap" / "before.meminfo"
    snap.write_text(snap.read_text() + "\n")
    h1 = sw.scenario_sha256(str(sc))
    trace = tmp_path / "traces" / "samples-1s" / "page_events.csv.xz"
    trace.write_bytes(trace.read_bytes() + b"\0")
    assert len({h0, h1, sw.scenario_sha256(str(sc))}) == 3


def test_task_key_covers_the_model_source(monkeypatch):
    key = sw.make_plan("steady", **SMALL).keys()[0]
    assert len(sw.model_sha256()) == 64
    monkeypatch.setattr(sw, "model_sha256", lambda: "1" * 64)   # as if a kernel had been edited
    assert sw.make_plan("steady", **SMALL).keys()[0] != key


def test_a_worker_with_another_model_refuses_the_task(tmp_path):
    task = sw.make_plan("steady", **dict(SMALL, patches="none", seeds=1)).tasks()[0]
    assert task.model_sha256 == sw.model_sha256()
    bad = dataclasses.replace(task, model_sha256="1" * 64)
    failed = sw.run_tasks([bad], tmp_path, workers=1, progress=False)
    assert len(failed) == 1 and "model here differs" in failed[0]


def test_all_combinations_are_the_twelve_kernel_subsets():
    labels = [p.label() for p in sw.all_patch_combinations()]
    assert labels == ["none", "1", "2", "3", "1,2", "1,3", "2,3", "3,4", "1,2,3", "1,3,4",
                      "2,3,4", "all"]
    assert [p.label() for p in sw.parse_patch_sets(["none;all", "2,3,4"])] == ["none", "all", "2,3,4"]


# -- running -------------------------------------------------------------------

def test_local_pool_equals_a_serial_run(base):
    assert (base.ran, base.skipped, base.rerun) == (6, 0, 0)
    specs = [RunSpec(s.label, s.config, s.growth_scale) for s in base.plan.specs]
    serial = compare("steady", specs, seeds=[0, 1], duration=0.5).frame()
    got = base.frame().drop(columns="key")
    key = ["config", "seed", "metric"]
    pd.testing.assert_frame_equal(got.sort_values(key).reset_index(drop=True),
                                  serial.sort_values(key).reset_index(drop=True))
    df = sw.load_store(base.out)
    assert len(df.groupby(["key", "seed"])) == 6


def test_resume_runs_only_the_missing_task(base, copy_of_base):
    victim = sorted((copy_of_base / "store").glob("*.parquet"))[2]
    victim.unlink()
    again = run_sweep(copy_of_base)
    assert (again.ran, again.skipped, again.rerun) == (1, 5, 0)
    assert victim.exists()
    pd.testing.assert_frame_equal(again.frame(), base.frame())


def test_corrupt_store_file_is_named_and_rerun(base, copy_of_base):
    bad = sorted((copy_of_base / "store").glob("*.parquet"))[0]
    bad.write_bytes(bad.read_bytes()[:100])               # truncated
    with pytest.raises(SweepError, match=re.escape(bad.name)):
        sw.load_store(copy_of_base)
    with pytest.warns(sw.SweepWarning, match=re.escape(str(bad))):
        again = run_sweep(copy_of_base)
    assert (again.ran, again.skipped, again.rerun) == (1, 5, 1)
    pd.testing.assert_frame_equal(again.frame(), base.frame())


def test_a_failed_task_is_reported_and_not_stored(tmp_path):
    task = sw.make_plan("steady", **dict(SMALL, patches="none", seeds=1)).tasks()[0]
    bad = dataclasses.replace(task, scenario_sha256="0" * 64)   # as if the worker had another file
    failed = sw.run_tasks([bad], tmp_path, workers=1, progress=False)
    assert len(failed) == 1 and "SweepTaskError" in failed[0] and "differs" in failed[0]
    assert not list(tmp_path.iterdir())


def test_dask_cluster_gives_the_same_results(base, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        res = run_sweep(tmp_path / "dask", executor=cluster.scheduler_address.replace(
            "tcp://", "dask://"), workers=None)
    assert res.ran == 6
    pd.testing.assert_frame_equal(res.frame(), base.frame())
    first = res.frame()[res.frame()["config"] == "patches=none"]
    assert sorted(set(first["seed"])) == [0, 1]           # same configuration, both seeds


# -- summary, table, figures -----------------------------------------------------

def test_summary_matches_numpy(base):
    summ = pd.read_csv(base.out / "summary.csv")
    assert list(summ.columns) == ["config", "metric", "n", "mean", "ci95"]
    wide = base.frame().pivot_table(index=["config", "metric"], columns="seed", values="value")
    wide = wide.reindex(pd.MultiIndex.from_frame(summ[["config", "metric"]])).fillna(0.0)
    x = wide.to_numpy()
    assert (summ["n"] == 2).all()
    np.testing.assert_allclose(summ["mean"], x.mean(axis=1))
    np.testing.assert_allclose(summ["ci95"], t95(2) * x.std(axis=1, ddof=1) / np.sqrt(2))
    text = (base.out / "summary.txt").read_text()
    for lab in ("patches=none", "patches=all", "patches=2,3"):
        assert lab in text
    assert text.startswith("defragsim sweep: steady, 64M, 0.5 s simulated, 3 configurations, "
                           "2 seeds (0, 1)")


def test_table_in_blocks_of_columns(base):
    text = base.table(full=False, columns=2)
    assert "== columns [0], [1] (block 1 of 2" in text and "== columns [0], [2] (block 2 of 2" in text
    header = [ln for ln in text.splitlines() if "patches=none" in ln and "patches=all" in ln]
    assert header, text
    assert "== columns" not in base.table(columns=None)


def test_figures_rerun_the_median_seed_in_a_grid(base, copy_of_base):
    res = sw.SweepResult(out=copy_of_base, plan=base.plan)
    files = plot.write_compare_figures(sw.figure_comparison(res, progress=False), copy_of_base / "figures",
                                       seed_index=0, ncols=2)
    assert any(f.endswith("pageblocks.png") for f in files)
    assert (copy_of_base / "figures" / "swap.svg").exists()
    # a store that does not reproduce is refused, not drawn
    seed = res.figure_seed()
    key = base.plan.keys()[0]
    path = copy_of_base / "store" / f"{key}-seed{seed}.parquet"
    df = pd.read_parquet(path)
    df.loc[df["metric"] == "vmstat pgalloc_normal", "value"] += 1
    df.to_parquet(path, index=False)
    with pytest.raises(sw.SweepError, match="pgalloc_normal"):
        sw.figure_comparison(sw.SweepResult(out=copy_of_base, plan=base.plan), progress=False)


# -- errors and the CLI ----------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv,msg", [
    (["--executor", "dask:/nowhere"], "--executor: 'dask:/nowhere' is neither"),
    (["--executor", "dask://localhost"], "dask://HOST:PORT"),
    (["--patches", "none;4"], "--patches '4': patches: patch 4"),
    (["--patches", "none;none"], "given more than once"),
    (["--seeds", "0"], "--seeds: must be at least 1"),
    (["--defrag-mode", "0,2"], "--defrag-mode"),
    (["--set", "mem=1G"], "--set: mem is a sweep dimension"),
    (["--set", "swappiness=x"], "--set: 'swappiness=x': swappiness: not an integer"),
    (["--workers", "0"], "--workers"),
])
def test_cli_bad_input_is_one_line_error(argv, msg, tmp_path, capsys):
    rc = main(["sweep", "steady", "--mem", "64M", "--duration", "0.5", "--seeds", "1",
               "--no-progress", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("defragsim: error: ") and msg in err and "\n" not in err


def test_unreachable_scheduler_fails_fast(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sw, "CONNECT_TIMEOUT_S", 1.0)
    addr = f"dask://127.0.0.1:{_closed_port()}"
    rc = main(["sweep", "steady", "--patches", "none", "--mem", "64M", "--duration", "0.5",
               "--seeds", "1", "--no-progress", "--executor", addr, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and err.startswith("defragsim: error: --executor: cannot reach the Dask "
                                      f"scheduler at tcp://127.0.0.1:{addr.rsplit(':', 1)[1]}")


def test_missing_dask_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)        # import fails as if not installed
    with pytest.raises(SweepError, match=r"not installed \(pip install 'defragsim\[cluster\]'\)"):
        sw.connect("tcp://127.0.0.1:8786")


def test_cli_sweep_writes_store_and_summary(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["sweep", "steady", "--patches", "none;all", "--seeds", "2", "--mem", "64M",
               "--duration", "0.5", "--no-progress", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "patches=none" in text and "patches=all" in text and "4 tasks run" in text
    assert len(list((out / "store").glob("*.parquet"))) == 4
    assert (out / "summary.txt").exists() and (out / "sweep.json").exists()
    assert len(pd.read_csv(out / "summary.csv")["config"].unique()) == 2


@pytest.mark.parametrize("kw,msg", [
    (dict(patches="none;4"), "--patches '4'"),
    (dict(seeds=0), "--seeds: must be at least 1"),
    (dict(defrag_mode="0,2"), "--defrag-mode"),
    (dict(mem="64M,64M"), "--mem: a size given twice"),
    (dict(executor="dask:/nowhere"), "--executor"),
    (dict(workers=0), "--workers"),
    (dict(duration=-1), "--duration"),
])
def test_bad_input_raises_sweep_error(kw, msg, tmp_path):
    with pytest.raises(SweepError, match=re.escape(msg)) as e:
        run_sweep(tmp_path / "o", **kw)
    assert isinstance(e.value, DefragsimError)
    assert not (tmp_path / "o" / "summary.txt").exists()


def test_failed_tasks_raise_sweep_task_error_not_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sw, "run_tasks", lambda *a, **k: ["[patches=none] seed 0: RuntimeError: boom"])
    with pytest.raises(sw.SweepTaskError, match="tasks failed .*boom") as e:
        run_sweep(tmp_path / "o", patches="none", seeds=1)
    assert not isinstance(e.value, DefragsimError) and isinstance(e.value, RuntimeError)


def test_a_trace_with_a_bad_line_is_an_input_error(tmp_path, capsys):
    """Every task would fail the same way: the first one stops the sweep with
    the trace's error (exit 2), and no empty summary is written."""
    import lzma
    from defragsim.workloads import scenario_path
    src = scenario_path("samples-1s")
    trace = tmp_path / "traces" / "samples-1s"
    shutil.copytree(src.parent.parent / "traces" / "samples-1s", trace)
    lines = lzma.decompress((trace / "page_events.csv.xz").read_bytes()).decode().splitlines(True)
    lines[5] = "12345,0,1,A,not-a-pfn,0,1,0x1,,,\n"
    (trace / "page_events.csv.xz").write_bytes(lzma.compress("".join(lines).encode()))
    (tmp_path / "scenarios").mkdir()
    sc = tmp_path / "scenarios" / "samples-1s.toml"
    shutil.copy(src, sc)
    out = tmp_path / "o"
    with pytest.raises(TraceError, match=r"\[patches=none\] seed 0: .*page_events.csv.xz"):
        sw.sweep(str(sc), patches="none", seeds=1, mem="64M", workers=1, out=out,
                 progress=False, log=lambda msg: None)
    assert not (out / "summary.txt").exists() and not list((out / "store").iterdir())
    rc = main(["sweep", str(sc), "--patches", "none", "--seeds", "1", "--mem", "64M",
               "--workers", "1", "--no-progress", "--out", str(tmp_path / "o2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("defragsim: error: [patches=none] seed 0:"), err
    assert not (tmp_path / "o2" / "summary.txt").exists()


def test_summaries_are_written_atomically_and_stale_tmp_files_go(base, copy_of_base, monkeypatch):
    store = copy_of_base / "store"
    stale = [store / ".0123456789abcdef-seed0.parquet.999999999.tmp",
             copy_of_base / ".summary.txt.999999999.tmp"]
    live = store / f".0123456789abcdef-seed1.parquet.{os.getppid()}.tmp"   # a running sweep's
    for f in stale + [live]:
        f.write_bytes(b"half a file")
    replaced = []
    real_replace = os.replace

    def replace(src, dst):
        assert Path(src).name.startswith(".") and Path(src).name.endswith(".tmp")
        replaced.append(Path(dst).name)
        real_replace(src, dst)
    monkeypatch.setattr(sw.os, "replace", replace)
    again = run_sweep(copy_of_base)
    assert (again.ran, again.skipped) == (0, 6)
    assert sorted(replaced) == ["summary.csv", "summary.txt", "sweep.json"]
    assert not any(f.exists() for f in stale) and live.exists()
    assert not list(copy_of_base.glob(".*.tmp"))
    assert (copy_of_base / "summary.txt").read_text() == (base.out / "summary.txt").read_text()


def _descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every descendant process (psutil, else /proc)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        out = {}
        for k in psutil.Process(pid).children(recursive=True):
            try:
                out[k.pid] = " ".join(k.cmdline())
            except psutil.Error:
                pass
        return out
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs psutil or a Linux /proc to list child processes")
    parent, cmd = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                cmd[int(d.name)] = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError, ValueError):
                pass
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for c, pp in parent.items():
            if pp == p and c not in out:
                out[c] = cmd.get(c, "")
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:                                   # a zombie is gone for our purpose
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def test_sigterm_ends_a_sweep_and_its_workers(tmp_path):
    """The sweep's process gets SIGTERM while its spawn workers run: it exits
    (the CLI's 'interrupted' line, no traceback) and no worker survives."""
    cmd = [sys.executable, "-m", "defragsim", "sweep", "steady", "--patches", "none;all",
           "--seeds", "2", "--mem", "64M", "--duration", "600", "--workers", "2",
           "--no-progress", "--out", str(tmp_path / "o")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    try:
        kids = {}
        t_end = time.monotonic() + 240
        while time.monotonic() < t_end and p.poll() is None:
            kids = _descendants(p.pid)
            if sum("spawn_main" in c for c in kids.values()) >= 2:
                break
            time.sleep(0.2)
        assert sum("spawn_main" in c for c in kids.values()) >= 2, (p.poll(), kids)
        time.sleep(1.0)
        kids = _descendants(p.pid)                  # the workers and the resource tracker
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        assert p.returncode != 0 and "Traceback" not in err, err
        assert "interrupted" in err
        t_end = time.monotonic() + 5
        while time.monotonic() < t_end and any(_alive(k) for k in kids):
            time.sleep(0.1)
        assert not [(k, c) for k, c in kids.items() if _alive(k)]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
