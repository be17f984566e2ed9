"""The command line's shape: shared option groups, help text everywhere, one
error exit (``defragsim: error: <message>``, status 2; status 1 for a sweep
whose tasks failed)."""
from __future__ import annotations

import argparse

import pytest

from defragsim import cli
from defragsim.analysis.sweep import SweepTaskError
from defragsim.cli import build_parser, main
from defragsim.errors import CaptureError, SweepError


def _subcommands() -> dict:
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(sp) -> dict:
    return {a.option_strings[0] if a.option_strings else a.dest: a for a in sp._actions
            if not isinstance(a, argparse._HelpAction)}


def test_every_option_has_help_text():
    missing = [f"{name} {opt}" for name, sp in _subcommands().items()
               for opt, a in _options(sp).items() if not a.help]
    assert not missing, missing


@pytest.mark.parametrize("name,seeds", [("demo", 3), ("compare", 1), ("figures", 1),
                                        ("onset", 1), ("sweep", 3)])
def test_seed_range_is_seeds_and_seed0_everywhere(name, seeds):
    opts = _options(_subcommands()[name])
    assert opts["--seeds"].default == seeds and opts["--seed0"].default == 0
    assert "--seed" not in opts


def test_run_keeps_its_single_seed():
    opts = _options(_subcommands()["run"])
    assert "--seed" in opts and "--seed0" not in opts


def test_demo_takes_seed0_not_seed(capsys):
    assert build_parser().parse_args(["demo", "--seed0", "4"]).seed0 == 4
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--seed", "4"])


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("defragsim: error: "), err
    return err.strip()


def test_input_errors_exit_2_with_one_line(monkeypatch, capsys):
    assert main(["run", "no-such-scenario"]) == 2
    assert "no-such-scenario" in _one_line_error(capsys)
    assert main(["compare", "steady", "--a", "defrag_mode=0", "--b", "defrag_mode=1",
                 "--seeds", "0"]) == 2
    assert _one_line_error(capsys) == "defragsim: error: --seeds: must be at least 1, got 0"
    assert main(["replay", "x.csv", "--thp-defrag", "sometimes"]) == 2
    assert "config.thp_defrag" in _one_line_error(capsys)

    def no_tracefs(*a, **k):
        raise CaptureError("snapshot: /proc/pagetypeinfo is not readable")
    monkeypatch.setattr(cli, "snapshot", no_tracefs)
    assert main(["snapshot", "-o", "x"]) == 2
    assert _one_line_error(capsys).endswith("/proc/pagetypeinfo is not readable")


@pytest.mark.parametrize("error,status", [
    (SweepTaskError("2 of 8 tasks failed (the others are stored; run again to retry them): "
                    "[x] seed 0: boom"), 1),
    (SweepError("figures: [x] seed 0 gave other numbers than its stored result (...): "
                "use a new --out"), 2),
])
def test_sweep_errors_exit_1_only_for_failed_tasks(monkeypatch, capsys, tmp_path, error, status):
    def failing_sweep(*a, **k):
        raise error
    monkeypatch.setattr(cli, "sweep", failing_sweep)
    assert main(["sweep", "steady", "--no-progress", "--out", str(tmp_path)]) == status
    assert _one_line_error(capsys) == f"defragsim: error: {error}"


def test_run_map_text_prints_the_text_map(capsys):
    assert main(["run", "steady", "--mem", "128M", "--duration", "1", "--map-text"]) == 0
    out = capsys.readouterr().out
    assert "-- DMA32 pfn 0x0-" in out and "-- Normal pfn" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("0x")]
    assert lines and all(len(ln.split(" ", 1)[1]) <= 64 for ln in lines)
    assert main(["run", "steady", "--map-text", "--json"]) == 2


def test_a_cold_cache_is_announced_before_the_first_run(monkeypatch, capsys):
    monkeypatch.setattr(cli, "model_cache_cold", lambda: True)
    assert main(["run", "steady", "--mem", "128M", "--duration", "0.5"]) == 0
    err = capsys.readouterr().err
    assert "compiling the model (first run only" in err
    monkeypatch.setattr(cli, "model_cache_cold", lambda: False)
    main(["run", "steady", "--mem", "128M", "--duration", "0.5"])
    assert "compiling" not in capsys.readouterr().err


def test_model_cache_cold_reads_numbas_file_names(tmp_path, monkeypatch):
    import hashlib
    from defragsim import provenance
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert provenance.model_cache_cold()
    mm = provenance._PKG / "mm"
    d = provenance._numba_cache_root() / f"mm_{hashlib.sha1(str(mm).encode()).hexdigest()}"
    assert str(d).startswith(str(tmp_path))
    d.mkdir(parents=True)
    (d / "page_alloc.get_page_from_freelist-900.py311.nbi").write_bytes(b"")
    assert not provenance.model_cache_cold()


def test_figures_help_says_what_it_writes(capsys):
    with pytest.raises(SystemExit):
        main(["figures", "--help"])
    out = capsys.readouterr().out
    assert "caption line" in out and "--readme" in out


def test_cpu_sharing_and_page_reporting_from_the_command_line(capsys, monkeypatch):
    """--nr-cpus, --runnable-tasks and --page-reporting-order reach the Config
    of `run` (and of `replay`'s overrides); compare/sweep specs take them as keys."""
    from defragsim.analysis.compare import parse_run_spec
    seen = {}
    real = cli._config_from_args

    def spy(args, scenario=None):
        seen["cfg"] = real(args, scenario)
        return seen["cfg"]

    monkeypatch.setattr(cli, "_config_from_args", spy)
    assert main(["run", "steady", "--mem", "64M", "--duration", "0.5", "--runnable-tasks", "3",
                 "--page-reporting-order", "9", "--nr-cpus", "3"]) == 0
    assert seen["cfg"].runnable_tasks == 3 and seen["cfg"].page_reporting_order == 9
    assert seen["cfg"].nr_cpus == 3
    spec = parse_run_spec("defrag_mode=1,runnable_tasks=2.5,page_reporting_order=9,nr_cpus=8")
    assert spec.config == {"defrag_mode": 1, "runnable_tasks": 2.5, "page_reporting_order": 9,
                           "nr_cpus": 8}
    assert main(["run", "steady", "--page-reporting-order", "11"]) == 2
    assert "config.page_reporting_order" in capsys.readouterr().err
    assert main(["run", "steady", "--nr-cpus", "0"]) == 2
    assert "config.nr_cpus: 0 is below the minimum 1" in capsys.readouterr().err
