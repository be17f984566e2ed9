"""One error boundary: every bad input gives one line ``defragsim: error: ...``
naming where and what, exit status 2, no traceback, and nothing left in
``--out``.

The corpus is ``tests/data/bad/``: scenario files, traces, snapshots, and
``cases.yaml`` (id, argv with ``{bad}``/``{out}``, the expected line as a
regular expression).  Each case runs ``defragsim.cli.main`` in-process; every
one is refused before a simulation would run.  Below the corpus: what can
only be checked with a run (a full disk, a replay cut by --duration, a
smaller --mem than the machine, CSV times), and the Python API raising the
same errors.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from defragsim import cli
from defragsim.cli import main
from defragsim.config import Config
from defragsim.errors import ConfigError, DefragsimError, ScenarioError, TraceError
from defragsim.workloads import build_workload, estimate_ops, load_scenario
from defragsim.workloads.trace import read_trace

BAD = Path(__file__).resolve().parent / "data" / "bad"
CASES = yaml.safe_load((BAD / "cases.yaml").read_text(encoding="utf-8"))
DATA = Path(__file__).resolve().parents[1] / "data" / "traces"


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("defragsim: error: "), err
    return lines[0][len("defragsim: error: "):]


def _snapshot_tree(root: Path) -> dict:
    """Every path under ``root`` with its size and mtime (a file's content
    changing changes one of them)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def test_the_corpus_is_large_and_its_ids_unique():
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(case, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a.replace("{bad}", str(BAD)).replace("{out}", str(out)) for a in case["argv"]]
    before = _snapshot_tree(BAD)
    assert main(argv) == 2
    line = _one_line_error(capsys)
    assert re.search(case["expect"], line), f"{case['id']}: {line!r} !~ {case['expect']!r}"
    assert not out.exists(), f"{case['id']}: wrote {sorted(out.rglob('*'))}"
    assert _snapshot_tree(BAD) == before, f"{case['id']}: changed the corpus"
    assert not list(BAD.rglob(".defragsim-*")) and not list(tmp_path.rglob(".defragsim-*"))


# -- the last resort in main(): never a traceback for an input-caused failure ---------------

@pytest.mark.parametrize("exc,line", [
    (FileNotFoundError(2, "No such file or directory", "/x/y"), "/x/y: No such file or directory"),
    (PermissionError(13, "Permission denied", "/x"), "/x: Permission denied"),
    (MemoryError(), "out of memory: the run needs more than this machine has"),
    (RecursionError("maximum recursion depth exceeded"), "input nested too deeply"),
    (UnicodeDecodeError("utf-8", b"ab\xff", 2, 3, "invalid start byte"),
     "input is not UTF-8 text: byte 0xff at offset 2"),
])
def test_main_maps_input_failures_to_one_line(monkeypatch, capsys, exc, line):
    def boom(args):
        raise exc
    monkeypatch.setattr(cli, "cmd_scenarios", boom)      # the parser is built in main()
    assert main(["scenarios"]) == 2
    assert _one_line_error(capsys).startswith(line)


def test_a_bug_still_shows_a_traceback(monkeypatch):
    def bug(args):
        raise TypeError("a bug in defragsim")
    monkeypatch.setattr(cli, "cmd_scenarios", bug)
    with pytest.raises(TypeError):
        main(["scenarios"])


# -- a full disk: the previous outputs stay ---------------------------------------------

@pytest.fixture
def mount_tmpfs(tmp_path):
    """``mount_tmpfs(nbytes)``: a tmpfs of that size (skipped where mounting is
    not allowed), unmounted at the end."""
    mounted = []

    def mount(nbytes: int) -> Path:
        mnt = tmp_path / "tmpfs"
        mnt.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={nbytes}", "tmpfs", str(mnt)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
        mounted.append(mnt)
        return mnt

    yield mount
    for mnt in mounted:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_full_disk_leaves_the_previous_outputs(mount_tmpfs, tmp_path, capsys):
    args = ["run", "steady", "--mem", "64M", "--duration", "0.5"]
    ref = tmp_path / "ref"
    assert main(args + ["--out", str(ref)]) == 0
    capsys.readouterr()
    size = sum(-(-p.stat().st_size // 4096) * 4096 for p in ref.rglob("*") if p.is_file())
    # a previous complete output in the folder, and room for only half another
    mnt = mount_tmpfs(size + size // 2)
    out = mnt / "x"
    shutil.copytree(ref, out)
    assert shutil.disk_usage(mnt).free < size
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(args + ["--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert re.match(r"--out: cannot write \S+: No space left on device; the outputs already in "
                    rf"{re.escape(str(out))} are as they were$", line), line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert json.loads((out / "result.json").read_text())["scenario"] == "steady"
    assert not list(mnt.rglob(".defragsim-*"))


def test_outputs_replace_the_previous_ones(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "result.json").write_text("old")
    (out / "mine.txt").write_text("keep")
    assert main(["run", "steady", "--mem", "64M", "--duration", "0.2", "--out", str(out)]) == 0
    assert json.loads((out / "result.json").read_text())["scenario"] == "steady"
    assert (out / "mine.txt").read_text() == "keep"
    assert not list(out.glob(".defragsim-*"))


# -- what a run shows -----------------------------------------------------------------------

def test_csv_times_start_at_zero_like_the_text_formats():
    tr = read_trace(BAD / "epoch.csv")
    assert tr.t0_ns == 1700000000000000000
    assert tr.t_ns.tolist() == [0, 500000, 1000000]
    assert tr.duration_s == 0.001


def _kernel_column(line: str) -> str:
    """The kernel column of an observed-vs-model row (kernel, model,
    model/kernel, then maybe "outside 3x")."""
    return line.removesuffix("  outside 3x").split()[-3]


def test_replay_duration_cuts_the_kernel_side_too(capsys):
    trace = DATA / "vm-record-3s" / "trace.txt.gz"
    full = read_trace(trace)
    assert main(["replay", str(trace), "--mem", "256M", "--duration", "0.5"]) == 0
    text = capsys.readouterr().out
    cut = read_trace(trace, until_ns=500_000_000)
    assert cut.cut_ns == 500_000_000 and 0 < len(cut) < len(full)
    assert (cut.t_ns < 500_000_000).all()
    assert sum(cut.counts.values()) < sum(full.counts.values())
    alloc = next(line for line in text.splitlines() if line.startswith("allocations (requests)"))
    assert _kernel_column(alloc) == f"{int((cut.ev == 0).sum()):,}"
    assert "the trace is cut at 0.5 s (--duration)" in text
    # --mem smaller than the machine: its min_free_kbytes is not applied as it is
    assert "min_free_kbytes: the machine's 67584 kB is for its" in text
    vm = [line for line in text.splitlines() if line.startswith("vmstat ")]
    assert vm and all(_kernel_column(line) == "-" for line in vm)
    # without a cut the deltas are there
    assert main(["replay", str(trace), "--mem", "256M"]) == 0
    vm = [line for line in capsys.readouterr().out.splitlines() if line.startswith("vmstat ")]
    assert vm and not any(_kernel_column(line) == "-" for line in vm)


def test_replay_with_less_memory_than_the_machine(capsys):
    # the snapshot's min_free_kbytes (67584) is more than half of 64 MiB
    trace = DATA / "samples-1s" / "page_events.csv.xz"
    assert main(["replay", str(trace), "--mem", "64M", "--duration", "0.2"]) == 0
    assert "the 64M model takes the kernel's boot-time value" in capsys.readouterr().out


# -- the Python API raises the same errors ------------------------------------------------

def test_api_raises_what_the_cli_reports(monkeypatch):
    from defragsim.analysis.compare import compare
    from defragsim.workloads import estimate
    # a generated run needs its state and a few epochs of ops, whatever its
    # duration: refused when the machine has less
    monkeypatch.setattr(estimate, "available_memory", lambda: 1 << 30)
    with pytest.raises(ScenarioError, match="at 64 GiB would need about 3 GiB"):
        build_workload("kbuild-thp", Config(mem="64G"), duration=1e9)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="growth_scale: must be a finite number"):
        build_workload("storm", Config(mem="64M"), duration=0.1, growth_scale=float("inf"))
    with pytest.raises(ConfigError, match="--seeds 100000000"):
        compare("steady", ["defrag_mode=0", "defrag_mode=1"], seeds=100_000_000, mem="64M")
    with pytest.raises(ScenarioError, match="key 1.5 is not an order number"):
        load_scenario(str(BAD / "orders-float.yaml"))
    with pytest.raises(TraceError, match=r"swapped.csv:4: time"):
        read_trace(BAD / "swapped.csv")
    with pytest.raises(ConfigError, match="patches: cannot parse"):
        Config(patches="²")


def test_explorer_refuses_a_bad_defrag_mode_with_a_config_error():
    from defragsim.widgets import PatchExplorer
    with pytest.raises(ConfigError, match=r"explorer: defrag_mode: must be 0 or 1, got 2"):
        PatchExplorer(defrag_mode=2)
    with pytest.raises(DefragsimError):
        PatchExplorer(seed=-1)


def test_estimate_ops_is_close_to_what_the_generator_makes():
    for name in ("steady", "storm"):
        sc, cfg = load_scenario(name), Config(mem="256M")
        n = len(build_workload(sc, cfg, duration=2.0))
        assert 0.5 < estimate_ops(sc, cfg, 2.0) / n < 2.0, name
