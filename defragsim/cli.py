"""Command line: ``defragsim run|scenarios|demo|compare|figures|replay|snapshot|record|sweep|onset``
(also ``python -m defragsim``).

Errors in the input (an impossible config, an unknown scenario, a bad
scenario file or trace, ...: every :class:`~defragsim.errors.DefragsimError`)
print one line ``defragsim: error: <message>`` naming the field and exit with
status 2; they never show a traceback.  A sweep whose tasks failed (the input
was fine) exits with status 1.  An output folder (``--out``, ``-o``) is
checked before any work and written atomically (:mod:`defragsim.outdir`).
As a last resort, an OSError, UnicodeDecodeError, MemoryError or
RecursionError that escaped the readers (which name file and line) also
gives one line and status 2; any other exception is a bug and shows its
traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import signal
import sys
import warnings
from pathlib import Path

from .analysis.compare import compare, parse_run_spec
from .analysis.onset import DEFAULT_CONFIGS, DEFAULT_SCALES, onset_summary, storm_onset
from .analysis.replay import replay
from .analysis.report import fallback_table, headline_table, onset_lines, remains_sentence
from .analysis.validate import check_settings, validate, validate_table
from .analysis.sweep import SweepTaskError, figure_comparison, parse_set, sweep
from .capture import record, snapshot
from .kernels import DEFAULT_KERNEL, baseline, kernels_table
from .config import THP_DEFRAG_SETTINGS, Config, Patches
from .errors import ConfigError, DefragsimError
from .outdir import check_out_dir, staged
from .provenance import model_cache_cold
from .sim import run
from .workloads import build_workload, list_scenarios, load_scenario
from .workloads.estimate import MAX_DURATION_S

#: The headline comparison of the cover letter (``defragsim demo``, and
#: ``defragsim figures`` without configurations): label -> spec.
DEMO_CONFIGS = {"defrag_mode=0": "defrag_mode=0,patches=none",
                "defrag_mode=1": "defrag_mode=1,patches=none",
                "dm=1+series": "defrag_mode=1,patches=all"}


def _plot():
    """The figures module (and pyplot), imported on first use."""
    # lazily: matplotlib adds most of a second to every command, and most draw nothing
    import matplotlib.pyplot as plt
    from . import plot  # lazily too: it imports pyplot at its top
    return plot, plt


def _progress(msg):
    print(msg, file=sys.stderr, flush=True)


def _compile_notice() -> None:
    """One line on stderr before the first model call of a cold numba cache
    (the compile takes minutes, and nothing else would be printed).  Called
    when the run is about to start, after every input check: a refused input
    prints its one error line and nothing else."""
    if model_cache_cold():
        _progress("defragsim: compiling the model (first run only, about a minute)...")


def _run_progress(quiet: bool = False):
    """A ``progress`` callback for compare/onset: the compile notice before the
    first run (checks done by then), then each "running ..." line."""
    first = [True]

    def progress(msg):
        if first[0]:
            first[0] = False
            _compile_notice()
        if not quiet:
            _progress(msg)
    return progress


#: the README's example figure (``defragsim figures --readme``)
README_FIGURE = Path("docs") / "storm-reclaim.png"


def _seed_list(args) -> range:
    """``--seeds N --seed0 S`` -> S, S+1, ..., S+N-1 (a range: compare checks
    what N seeds need before it makes the list)."""
    if args.seeds < 1:
        raise ConfigError(f"--seeds: must be at least 1, got {args.seeds}")
    if args.seed0 < 0:
        raise ConfigError(f"--seed0: must be at least 0, got {args.seed0}")
    return range(args.seed0, args.seed0 + args.seeds)


def _specs(args, *, at_least: int, where: str) -> list:
    """The configurations of ``--a``/``--b``/``--c``, parsed."""
    specs = [parse_run_spec(s, where=where) for s in (args.a, args.b, *(args.more or []))
             if s is not None]
    if len(specs) < at_least:
        raise ConfigError(f"{where}: give at least two configurations (--a and --b)")
    return specs


def _config_from_args(args, scenario=None) -> Config:
    mem = args.mem
    if mem is None:
        mem = (scenario.mem if scenario is not None and scenario.mem else "1G")
    seed = args.seed
    if seed is not None and seed < 0:
        raise ConfigError(f"config.seed: {seed} is below the minimum 0")
    return Config(mem=mem, defrag_mode=args.defrag_mode, patches=Patches.parse(args.patches),
                  seed=0 if seed is None else seed, swap=args.swap,
                  oomd=True if getattr(args, "oomd", False) else None,
                  thp_defrag=args.thp_defrag, kernel=args.kernel or DEFAULT_KERNEL,
                  compaction_proactiveness=args.compaction_proactiveness,
                  runnable_tasks=args.runnable_tasks, nr_cpus=args.nr_cpus,
                  page_reporting_order=args.page_reporting_order, cpu_pace=args.cpu_pace)


def write_outputs(result, out: Path) -> list[str]:
    """``--out``: vmstat.json, extfrag.csv, compaction_events.csv, timeseries.csv, pagetypeinfo.txt,
    buddyinfo.txt, pageblocks.txt (the text map), result.json and the pageblock map (PNG + SVG)."""
    plot, plt = _plot()
    out.mkdir(parents=True, exist_ok=True)
    files = []
    (out / "vmstat.json").write_text(json.dumps(result.vmstat, indent=1) + "\n")
    result.extfrag.to_csv(out / "extfrag.csv", index=False)
    result.compaction_events.to_csv(out / "compaction_events.csv", index=False)
    result.timeseries.to_csv(out / "timeseries.csv")
    (out / "pagetypeinfo.txt").write_text(result.pagetypeinfo())
    (out / "buddyinfo.txt").write_text(result.buddyinfo())
    (out / "pageblocks.txt").write_text(result.pageblock_text())
    (out / "result.json").write_text(json.dumps(result.to_json_dict(), indent=1) + "\n")
    files += [str(out / n) for n in ("vmstat.json", "extfrag.csv", "compaction_events.csv",
                                      "timeseries.csv", "pagetypeinfo.txt", "buddyinfo.txt",
                                      "pageblocks.txt", "result.json")]
    fig, ax = plt.subplots(figsize=(7, 5))
    plot.plot_pageblock_map(result, ax=ax)
    plot.finish_figure(fig, plot.caption_text(result))
    files += plot.save_figure(fig, out / "pageblocks")
    plt.close(fig)
    return files


# -- the commands ---------------------------------------------------------------------

def cmd_run(args) -> int:
    sc = load_scenario(args.scenario)
    cfg = _config_from_args(args, sc)
    if args.map_text and args.json:
        raise ConfigError("--map-text: not with --json (the map is text; --out writes pageblocks.txt)")
    wl = build_workload(sc, cfg, duration=args.duration, growth_scale=args.growth_scale)
    _compile_notice()
    result = run(wl, cfg, progress=not args.json and sys.stderr.isatty())
    if args.out:
        with staged(args.out) as st:
            write_outputs(result, st.tmp)
    if args.json:
        print(json.dumps(result.to_json_dict()))
    else:
        ex = result.extfrag_summary()
        print(f"{result.scenario}: {cfg.label()}, {result.duration_s:g} s simulated, "
              f"{result.events_processed:,} events in {result.elapsed_s:.2f} s")
        print(f"extfrag: {ex['events']} events, {ex['change_ownership']} change_ownership, "
              f"{ex['fragmenting']} fragmenting")
        for zone, c in result.block_counts.items():
            print(f"blocks {zone}: " + ", ".join(f"{k} {v}" for k, v in c.items() if v))
        print(result.buddyinfo(), end="")
        if args.map_text:
            print(result.pageblock_text(), end="")
        if args.out:
            print(f"wrote {args.out}/")
    return 0


def cmd_scenarios(args) -> int:
    for name, desc in list_scenarios().items():
        print(f"{name:<16} {desc}")
    return 0


def _write_replay(rp, out: Path, table: str) -> None:
    """``replay --out``: the run's outputs, the table and the machine-vs-model map."""
    write_outputs(rp.result, out)
    (out / "observed_vs_model.txt").write_text(table)
    pbmap = rp.snapshot.path / "before.pbmap.csv.gz" if rp.snapshot is not None else None
    if pbmap is not None and pbmap.exists():
        plot, plt = _plot()
        axes = plot.plot_machine_vs_model(pbmap, rp.result)
        fig = axes[0].figure
        plot.finish_figure(fig, plot.caption_text(rp.result))
        plot.save_figure(fig, out / "pageblocks_machine_vs_model")
        plt.close(fig)


def cmd_replay(args) -> int:
    """``defragsim replay TRACE``: a real trace through the model."""
    # the trace's recorded vm.defrag_mode (its snapshot's) unless --defrag-mode says otherwise
    over = {"patches": Patches.parse(args.patches)}
    if args.defrag_mode is not None:
        over["defrag_mode"] = args.defrag_mode
    if args.kernel is not None:
        over["kernel"] = args.kernel
    if args.mem is not None:
        over["mem"] = args.mem
    if args.swap is not None:
        over["swap"] = args.swap
    for key in ("thp_defrag", "nr_cpus", "runnable_tasks", "page_reporting_order",
                "readahead_folio_ns", "cpu_pace"):
        if getattr(args, key, None) is not None:
            over[key] = getattr(args, key)
    rp = replay(args.trace, fmt=args.format, comm=args.comm, skip_bad_lines=args.skip_bad_lines,
                init_from=args.init_from, init="empty" if args.init == "empty" else "auto",
                duration=args.duration, config_overrides=over,
                stream=False if args.whole else (True if args.stream else None),
                progress=not args.json and sys.stderr.isatty(), before_run=_compile_notice,
                recorder_pages=args.recorder_pages)
    table = rp.observed_vs_model()
    if args.out:
        with staged(args.out) as st:
            _write_replay(rp, st.tmp, table)
    if args.json:
        d = rp.result.to_json_dict()
        d["trace"] = rp.trace.summary()
        d["replay"] = rp.stats.as_dict()
        d["work_pace"] = rp.work_pace()
        d["observed_vs_model"] = [dict(row, ratio=None if row["ratio"] in (None, float("inf"))
                                       else row["ratio"], only_model=row["ratio"] == float("inf"))
                                  for row in rp.comparison()]
        print(json.dumps(d))
    else:
        print(table, end="")
        if args.out:
            print(f"wrote {args.out}/")
    return 0


def cmd_snapshot(args) -> int:
    files = snapshot(args.o, tag=args.tag, kpageflags=not args.no_kpageflags)
    print(f"wrote {len(files)} files to {args.o}/ ({args.tag}.*)")
    return 0


def cmd_record(args) -> int:
    info = record(args.o, args.duration, tracefs=args.tracefs, buffer_kb=args.buffer_kb,
                  use_perf=True if args.perf else None)
    extra = f", {info['bytes']:,} bytes, ring overruns {info['overrun']}" if "bytes" in info else ""
    what = f"interrupted by {info['interrupted']}" if info.get("interrupted") else \
        f"recorded {args.duration:g} s"
    print(f"{what} with {info['method']} into {info['trace']}{extra}; "
          f"snapshots in {info['snapshot']}/")
    print(f"replay it: defragsim replay {info['trace']} --init-from {info['snapshot']}")
    if info.get("interrupted"):
        signum = getattr(signal, info["interrupted"], None)
        return 128 + int(signum) if signum is not None else 130
    return 0


def _write_comparison(cmp, out: Path, *, table: str) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.txt").write_text(table)
    cmp.frame().to_csv(out / "metrics.csv", index=False)
    files = [str(out / "report.txt"), str(out / "metrics.csv")]
    i = cmp.figure_seed_index()
    files += _plot()[0].write_compare_figures(cmp, out, seed_index=i)
    for lab, rs in cmp.results.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in lab).strip("_")
        files += write_outputs(rs[i], out / "runs" / f"{safe}-seed{cmp.seeds[i]}")
    return files


def cmd_compare(args) -> int:
    """``defragsim compare SCENARIO --a SPEC --b SPEC [--c SPEC ...] [--seeds N]``."""
    specs = _specs(args, at_least=2, where="compare")
    seeds = _seed_list(args)
    base = _base(args)
    if args.swap is not None:
        base["swap"] = args.swap
    cmp = compare(args.scenario, specs, seeds=seeds, mem=args.mem, duration=args.duration,
                  base=base, progress=_run_progress(quiet=args.quiet))
    parts = [headline_table(cmp, command=args.command)]
    if not args.short:
        parts.append(cmp.table(full=True, width=100))
    if args.full:
        parts.append(fallback_table(cmp))
    table = "\n".join(parts)
    print(table, end="")
    if args.out:
        with staged(args.out) as st:
            _write_comparison(cmp, st.tmp, table=table)
        print(f"wrote {args.out}/report.txt, metrics.csv, "
              "{pageblocks,pageblocks_diff,extfrag,swap,stall,retries}.{png,svg} and runs/ "
              f"(figures: seed {cmp.seeds[cmp.figure_seed_index()]}, the median by swap-out)")
    return 0


def cmd_figures(args) -> int:
    """``defragsim figures``: the headline figure set (PNG + SVG) for a mail."""
    specs = _specs(args, at_least=0, where="figures") or DEMO_CONFIGS
    cmp = compare(args.scenario, specs, seeds=_seed_list(args), mem=args.mem,
                  duration=args.duration, base=_base(args), progress=_run_progress())
    plot = _plot()[0]
    if args.readme:
        files = [plot.readme_figure(cmp, README_FIGURE)]
    else:
        with staged(args.out) as st:
            files = st.final(plot.write_compare_figures(cmp, st.tmp))
    print("\n".join(files))
    return 0


def cmd_demo(args) -> int:
    """The README's main job: the headline comparison of the series.

    ``storm`` with defrag_mode 0, defrag_mode 1 without the series and
    defrag_mode 1 with it, on the same seeds; writes ``report.txt`` (the
    mmtests-style table), the figures and each run's outputs under ``out/``.
    """
    out = Path(args.out)
    cmp = compare(args.scenario, DEMO_CONFIGS, seeds=_seed_list(args), mem=args.mem,
                  duration=args.duration, base=_base(args), progress=_run_progress())
    labels = list(DEMO_CONFIGS)
    text = "\n".join([headline_table(cmp, command=args.command),
                      remains_sentence(cmp, labels[1], labels[2]),
                      cmp.table(full=True, width=100), fallback_table(cmp)])
    with staged(out) as st:
        _write_comparison(cmp, st.tmp, table=text)
    print(text, end="")
    print(f"wrote {out}/report.txt (the tables above), metrics.csv, "
          f"{{pageblocks,pageblocks_diff,extfrag,swap,stall,retries}}.{{png,svg}} and {out}/runs/ "
          f"(figures: seed {cmp.seeds[cmp.figure_seed_index()]}, the median by swap-out)")
    return 0


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"defragsim: warning: {message}", file=sys.stderr, flush=True)


def cmd_sweep(args) -> int:
    """``defragsim sweep SCENARIO --patches all-combinations --seeds N --out DIR``."""
    base, growth = parse_set(args.set)
    if args.kernel is not None:
        base.setdefault("kernel", args.kernel)
    if args.columns < 2:
        raise ConfigError(f"--columns: at least 2 (the base and one more), got {args.columns}")
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        try:
            res = sweep(args.scenario, patches=args.patches or "all-combinations", seeds=args.seeds,
                        seed0=args.seed0, mem=args.mem, defrag_mode=args.defrag_modes,
                        duration=args.duration, base=base, growth_scale=growth,
                        executor=args.executor, workers=args.workers, out=args.out,
                        progress=not args.no_progress, columns=args.columns,
                        log=_progress)
            if args.figures:
                cmp = figure_comparison(res, progress=not args.no_progress)
                _plot()[0].write_compare_figures(cmp, res.out / "figures", seed_index=0, ncols=4)
        except KeyboardInterrupt:
            print(f"defragsim: interrupted; finished runs are in {args.out}/store, the same "
                  "command resumes", file=sys.stderr)
            return 130
        except SweepTaskError as e:
            print(f"defragsim: error: {e}", file=sys.stderr)
            return 1
    print(res.table(full=False, columns=args.columns), end="")
    out = Path(args.out)
    print(f"({res.ran} tasks run, {res.skipped} found in the store; all rows: {out}/summary.txt)")
    print(f"wrote {out}/summary.txt, summary.csv, sweep.json, store/"
          + (", figures/" if args.figures else ""))
    return 0


def _scales(text: str | None) -> list[float]:
    if text is None:
        return list(DEFAULT_SCALES)
    try:
        scales = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        scales = []
    if not scales:
        raise ConfigError(f"onset: --scales: expected numbers like 0,0.5,1, got {text!r}")
    return scales


def cmd_onset(args) -> int:
    """``defragsim onset``: the storm-onset sweep (figure + table)."""
    configs = None
    if args.kernel is not None:
        configs = {lab: f"{spec},kernel={args.kernel}" for lab, spec in DEFAULT_CONFIGS.items()}
    df = storm_onset(args.scenario, scales=_scales(args.scales), seeds=_seed_list(args),
                     mem=args.mem, duration=args.duration, configs=configs,
                     progress=_run_progress())
    summary = onset_summary(df).to_string()
    lines = onset_lines(df)
    print(summary)
    print(lines, end="")
    if args.out:
        with staged(args.out) as st:
            _write_onset(df, summary + "\n" + lines, st.tmp, scenario=args.scenario,
                         kernel=args.kernel or "mm-2026")
        print(f"wrote {args.out}/onset.{{csv,txt,png,svg}}")
    return 0


def _write_onset(df, text: str, out: Path, *, scenario: str, kernel: str) -> None:
    """``onset --out``: onset.csv, onset.txt and the figure (with its caption line)."""
    df.to_csv(out / "onset.csv", index=False)
    (out / "onset.txt").write_text(text)
    plot, plt = _plot()
    axes = plot.plot_onset(df)
    fig = axes[0].figure
    seeds, dur = sorted(df["seed"].unique()), df["duration_s"].iloc[0]
    scales = ",".join(f"{x:g}" for x in sorted(df["growth_scale"].unique()))
    caption = plot.provenance_caption(f"{scenario}, {dur:g} s, growth_scale {scales}",
                                      seeds=seeds, kernel=kernel)
    plot.finish_figure(fig, caption, suptitle=f"storm onset: {df['config'].nunique()} configs, "
                                              f"{len(seeds)} seed(s), {dur:g} s")
    plot.save_figure(fig, out / "onset")
    plt.close(fig)


# -- the parser: option groups shared by the subcommands --------------------------------

SCENARIO_HELP = "scenario name (see `defragsim scenarios`) or a .toml file"


def _add_scenario(p, *, default: str | None = None) -> None:
    if default is None:
        p.add_argument("scenario", help=SCENARIO_HELP)
    else:
        p.add_argument("scenario", nargs="?", default=default,
                       help=f"{SCENARIO_HELP} (default {default})")


def _add_size(p, *, mem="memory size, e.g. 4G (default: the scenario's)",
              duration="simulated seconds (default: the scenario's)") -> None:
    """--mem and --duration."""
    p.add_argument("--mem", default=None, help=mem)
    p.add_argument("--duration", type=float, default=None, help=duration)


def _add_seeds(p, *, seeds: int) -> None:
    """--seeds N and --seed0 S: the seeds S..S+N-1."""
    p.add_argument("--seeds", type=int, default=seeds, help=f"number of seeds (default {seeds})")
    p.add_argument("--seed0", type=int, default=0, help="first seed (default 0)")


def _add_configs(p, *, required: bool) -> None:
    """--a, --b, --c: the configurations compared."""
    dflt = "" if required else " (default: defrag_mode 0, 1, and 1 with the series)"
    p.add_argument("--a", required=required, default=None, metavar="SPEC",
                   help='a configuration, e.g. "defrag_mode=1,patches=none"' + dflt)
    p.add_argument("--b", required=required, default=None, metavar="SPEC",
                   help='the configuration compared with --a, e.g. "defrag_mode=1,patches=all"')
    p.add_argument("--c", dest="more", action="append", metavar="SPEC",
                   help="a further configuration (repeatable)")


def _add_kernel(p, *, swap: str, thp_defrag: str | None, defrag_mode: int | None = 0) -> None:
    """The kernel baseline, vm.defrag_mode (``defrag_mode``: the default; None:
    the replay snapshot's), the patches, swap size, THP defrag."""
    _add_baseline(p)
    p.add_argument("--defrag-mode", type=int, default=defrag_mode, metavar="0|1",
                   help="vm.defrag_mode (default " + (str(defrag_mode) if defrag_mode is not None
                                                      else "the snapshot's, else 0") + ")")
    p.add_argument("--patches", default="none",
                   help="patches of the series: none (default), all, or a list such as 2,3,4")
    p.add_argument("--swap", default=None, help=f"swap size, e.g. 2G (default: {swap})")
    p.add_argument("--thp-defrag", default=thp_defrag, metavar="|".join(THP_DEFRAG_SETTINGS),
                   help="/sys/kernel/mm/transparent_hugepage/defrag (default "
                   + (thp_defrag or "the snapshot's, else madvise") + ")")
    p.add_argument("--nr-cpus", type=int, default=None, metavar="N",
                   help="the machine's CPUs (default: the scenario's, or a replay snapshot's, "
                   "else 2)")
    p.add_argument("--runnable-tasks", type=float, default=None, metavar="N",
                   help="CPU-bound tasks sharing the CPUs with kswapd and kcompactd (default: "
                   "the scenario's, or a replay snapshot's busy CPUs, else 0)")
    p.add_argument("--page-reporting-order", type=int, default=None, metavar="ORDER",
                   help="free page reporting from this order (default: off, or as a replay "
                   "snapshot shows it)")
    p.add_argument("--cpu-pace", type=float, default=None, metavar="X",
                   help="the machine's time for the model's CPU work against the machine its "
                   "costs were measured on (default 1.0, or a replayed trace's own: kswapd's "
                   "reclaim of 512-page folios)")


def _add_baseline(p) -> None:
    p.add_argument("--kernel", default=None, metavar="NAME",
                   help=f"kernel baseline the model behaves like (default {DEFAULT_KERNEL}; "
                   "see `defragsim kernels`); a spec's kernel=NAME wins")


def _base(args) -> dict:
    """Config fields every configuration of a comparison gets from the options."""
    return {"kernel": args.kernel} if getattr(args, "kernel", None) is not None else {}


def _add_out(p, *, default: str | None = None, what: str) -> None:
    p.add_argument("--out", default=default, metavar="DIR",
                   help=what + (f" (default {default})" if default else ""))


# -- the parser: one function per subcommand --------------------------------------------

def _parser_run(sub) -> None:
    r = sub.add_parser("run", help="run one scenario")
    _add_scenario(r)
    _add_size(r)
    _add_kernel(r, swap="the scenario's", thp_defrag="madvise")
    r.add_argument("--seed", type=int, default=None, help="workload seed (default 0)")
    r.add_argument("--growth-scale", type=float, default=1.0,
                   help="scale the scenario's growing non-movable footprint (storm onset)")
    r.add_argument("--oomd", action="store_true", help="enable the userspace pressure guard")
    r.add_argument("--compaction-proactiveness", type=int, default=20, metavar="0..100",
                   help="vm.compaction_proactiveness (default 20; 0 = off)")
    _add_out(r, what="write vmstat.json, extfrag.csv, timeseries.csv, pagetypeinfo.txt and a "
             "pageblock map here")
    r.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    r.add_argument("--map-text", action="store_true",
                   help="also print the final pageblock map as text for a mail (one character "
                   "per block: U M R H, lower case mostly free, * mixed; 64 a line)")
    r.set_defaults(fn=cmd_run)
    sub.add_parser("scenarios", help="list the scenarios").set_defaults(fn=cmd_scenarios)


def _parser_compare(sub) -> None:
    d = sub.add_parser("demo", help="the headline comparison (storm: defrag_mode 0, 1, 1 + series)")
    _add_scenario(d, default="storm")
    _add_size(d)
    _add_seeds(d, seeds=3)
    _add_baseline(d)
    _add_out(d, default="out", what="report.txt, metrics.csv, figures and runs/ go here")
    d.set_defaults(fn=cmd_demo)
    c = sub.add_parser("compare", help="compare configurations on the same seeds (mmtests-style table)")
    _add_scenario(c)
    _add_configs(c, required=True)
    _add_size(c)
    _add_seeds(c, seeds=1)
    c.add_argument("--swap", default=None, help="swap size for every configuration, e.g. 2G "
                   "(default: the scenario's)")
    c.add_argument("--short", action="store_true",
                   help="only the headline table (under 80 columns), not the full one")
    c.add_argument("--full", action="store_true",
                   help="also the fallback table in the defrag_mode changelog's form "
                   "(@claimer, @pollute, @steal)")
    _add_baseline(c)
    c.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    _add_out(c, what="also write report.txt, metrics.csv and figures here")
    c.set_defaults(fn=cmd_compare)
    fg = sub.add_parser("figures", help="write the headline figure set (PNG + SVG)", description=(
        "Run the configurations (default: defrag_mode 0, 1, and 1 with the series) on the same "
        "seeds and write, for the median seed by swap-out: the pageblock maps and their "
        "difference, extfrag events by fallback pair, reclaim and swap split by kswapd and "
        "direct reclaim, stall and reclaim retries, side by side on shared y ranges, each with a "
        "caption line (scenario, memory, kernel baseline, seeds, defragsim version, model hash)."))
    _add_scenario(fg, default="storm")
    _add_configs(fg, required=False)
    _add_size(fg)
    _add_seeds(fg, seeds=1)
    _add_baseline(fg)
    _add_out(fg, default="out/figures", what="the figures go here")
    fg.add_argument("--readme", action="store_true",
                    help=f"write only the README's example figure, {README_FIGURE} (reclaim and "
                    "swap side by side; the README regenerates it with: defragsim figures --readme --mem 1G --duration 30 --seed0 1)")
    fg.set_defaults(fn=cmd_figures)
    o = sub.add_parser("onset", help="storm-onset sweep over the growth of non-movable demand")
    _add_scenario(o, default="storm")
    o.add_argument("--scales", default=None, help="growth scales, e.g. 0,0.5,1,2 (default "
                   + ",".join(f"{s:g}" for s in DEFAULT_SCALES) + ")")
    _add_size(o)
    _add_seeds(o, seeds=1)
    _add_baseline(o)
    _add_out(o, what="write onset.csv, onset.txt and the figure here")
    o.set_defaults(fn=cmd_onset)


def _parser_trace(sub) -> None:
    rp = sub.add_parser("replay", help="replay a real page-allocator trace through the model")
    rp.add_argument("trace", help="CSV (shared/traces schema), tracefs/trace-cmd or perf script "
                    "text; .gz/.xz read transparently")
    rp.add_argument("--format", default=None, choices=["csv", "tracefs", "trace-cmd", "perf"],
                    help="override format detection")
    rp.add_argument("--comm", default=None, help="replay only allocations by this command name")
    rp.add_argument("--skip-bad-lines", action="store_true",
                    help="count malformed lines instead of stopping at the first")
    rp.add_argument("--init-from", default=None, help="a snapshot folder (before.meminfo, ...); "
                    "default: snap/ beside the trace")
    rp.add_argument("--init", default="auto", choices=["auto", "empty"],
                    help="empty: start from an empty machine")
    rp.add_argument("--recorder-pages", type=int, default=None, metavar="N",
                    help="machine pages the recorder's ring buffers took after the before "
                    "snapshot (default: the snapshot's recorder_buffer_pages, for a CSV trace "
                    "perf record -a -m 4096 on its CPUs, else 0)")
    rp.add_argument("--readahead-folio-ns", type=int, default=None, metavar="NS",
                    help="the reader's time per order-0 folio of a window the model reads where "
                    "the trace has a large folio (default: the trace's own pace; 0: at once)")
    how = rp.add_mutually_exclusive_group()
    how.add_argument("--whole", action="store_true",
                     help="parse the whole trace before replaying it (the default for a trace "
                     "of up to 256 MiB of text; the results are the same)")
    how.add_argument("--stream", action="store_true",
                     help="parse the trace while the model runs it, in bounded memory (the "
                     "default for a longer trace)")
    _add_size(rp, mem="memory size (default: the snapshot's MemTotal)",
              duration="replay only the first S seconds")
    _add_kernel(rp, swap="the snapshot's SwapTotal", thp_defrag=None, defrag_mode=None)
    rp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _add_out(rp, what="write the run's outputs and observed_vs_model.txt here")
    rp.set_defaults(fn=cmd_replay)
    sn = sub.add_parser("snapshot", help="save this machine's allocator state (/proc files, "
                        "kpageflags pageblock map)")
    sn.add_argument("-o", required=True, metavar="DIR", help="write the snapshot files here")
    sn.add_argument("--tag", default="before", help="file prefix (default before: loads as an "
                    "initial state)")
    sn.add_argument("--no-kpageflags", action="store_true",
                    help="skip the pageblock map from /proc/kpageflags")
    sn.set_defaults(fn=cmd_snapshot)
    rc = sub.add_parser("record", help="record page-allocator events of this machine (root)")
    rc.add_argument("-o", required=True, metavar="DIR",
                    help="write the trace and the before/after snapshots here")
    rc.add_argument("--duration", type=float, required=True, help="seconds")
    rc.add_argument("--tracefs", default=None, help="tracefs mount (default /sys/kernel/tracing)")
    rc.add_argument("--buffer-kb", type=int, default=65536, help="per-cpu ring buffer size")
    rc.add_argument("--perf", action="store_true", help="use perf record instead of tracefs")
    rc.set_defaults(fn=cmd_record)


def _parser_sweep(sub) -> None:
    sw = sub.add_parser("sweep", help="every patch combination x seeds (x memory sizes x "
                        "defrag modes) in parallel, resumable; means and 95%% intervals")
    _add_scenario(sw)
    _add_baseline(sw)
    sw.add_argument("--patches", action="append", metavar="SPECS",
                    help="all-combinations (default: the 12 subsets the kernel can have) or patch "
                    "sets separated by ';', e.g. 'none;all;2,3,4' (repeatable)")
    _add_seeds(sw, seeds=3)
    _add_size(sw, mem="memory sizes, e.g. 512M,1G (default: the scenario's)")
    sw.add_argument("--defrag-mode", dest="defrag_modes", default="1", metavar="1|0,1",
                    help="vm.defrag_mode values (default 1)")
    sw.add_argument("--set", default=None, metavar="KEY=VALUE,...",
                    help="further settings for every configuration, as for compare "
                    "(e.g. swappiness=100,growth_scale=2)")
    sw.add_argument("--executor", default="local", help="local (a process pool, default) or "
                    "dask://HOST:PORT (a Dask scheduler)")
    sw.add_argument("--workers", type=int, default=None,
                    help="local pool size (default: one per CPU)")
    sw.add_argument("--columns", type=int, default=5, help="configurations side by side in the "
                    "table; more are split into blocks that each start with the first (default 5)")
    sw.add_argument("--out", required=True, metavar="DIR", help="store/, summary.txt, summary.csv, "
                    "sweep.json; finished tasks found here are skipped")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.add_argument("--figures", action="store_true", help="also the compare figures of the median "
                    "seed in OUT/figures (re-simulated here)")
    sw.set_defaults(fn=cmd_sweep)


def cmd_kernels(args) -> int:
    """``defragsim kernels``: the kernel baselines and their behaviour switches."""
    print(kernels_table(), end="")
    return 0


def cmd_validate(args) -> int:
    """``defragsim validate``: every published result beside the model's."""
    out = Path(args.out) if args.out else None
    if out is not None:
        _check_out_dir(out)
    settings = {}
    if args.set is not None:
        # before compare's parser, whose message for seed= points to a --seeds validate has not
        check_settings(tok.split("=", 1)[0].strip() for tok in args.set.split(","))
        spec = parse_run_spec(args.set, where="validate --set")
        if spec.growth_scale != 1.0:
            raise ConfigError("validate --set: growth_scale is not a Config field; put a "
                              "scenario with the demand you want in --kbuild")
        settings = spec.config
    df = validate(quick=args.quick, progress=None if args.json else _progress,
                  traces=args.trace or (), pairs=args.pair or (), traces_only=args.traces_only,
                  kbuild=args.kbuild, settings=settings, kbuild_only=args.kbuild_only)
    if args.json:
        print(df.to_json(orient="records"))
    else:
        print(validate_table(df), end="")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "validate.txt").write_text(validate_table(df))
        df.to_csv(out / "validate.csv", index=False)
        plot, _ = _plot()
        files = plot.write_validate_figures(df, out)
        if not args.json:
            print(f"wrote {out}/validate.txt, validate.csv and "
                  f"{', '.join(Path(f).name for f in files)}")
    return 0


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a directory")


def _parser_validation(sub) -> None:
    sub.add_parser("kernels", help="list the kernel baselines (--kernel NAME) and their switches"
                   ).set_defaults(fn=cmd_kernels)
    v = sub.add_parser("validate", help="every published defrag_mode result beside the model's "
                       "(kbuild-thp per commit, the series' claims, the real traces)")
    v.add_argument("--quick", action="store_true",
                   help="smaller runs: kbuild-thp at 512M for 20 s, seeds 0-2 (40-90 s on a 2-CPU VM)")
    v.add_argument("--trace", action="append", metavar="PATH",
                   help="also judge a trace you recorded (its page_events file or folder, with "
                        "snap/ beside it), replayed at its recorded defrag_mode; repeatable")
    v.add_argument("--pair", nargs=2, action="append", metavar=("DM0", "DM1"),
                   help="also judge two traces you recorded back to back at defrag_mode 0 and 1: "
                        "each as --trace, and each replayed at the other mode against the "
                        "kernel's change between them; repeatable")
    v.add_argument("--traces-only", action="store_true",
                   help="judge only the --trace and --pair traces (no kbuild-thp, storm or "
                        "shipped traces)")
    v.add_argument("--kbuild", default="kbuild-thp", metavar="SCENARIO",
                   help="run the kbuild-thp rows on this scenario (a name or a .toml file, e.g. "
                        "a copy of kbuild-thp.toml with other THP faults) to see whether a "
                        "disagreement comes from the workload (default kbuild-thp); at "
                        "validate's size (1G, 512M with --quick), not the file's own mem, "
                        "unless --set mem=SIZE")
    v.add_argument("--set", default=None, metavar="KEY=VALUE,...",
                   help="further settings for every kbuild-thp configuration, as for compare "
                        "(e.g. thp_defrag=defer,mem=2G); each step sets kernel and defrag_mode")
    v.add_argument("--kbuild-only", action="store_true",
                   help="judge only the kbuild-thp rows (no storm or traces)")
    v.add_argument("--json", action="store_true", help="one JSON list of rows on stdout")
    _add_out(v, what="write validate.txt, validate.csv and the figures (validate_changes, "
             "validate_traces: PNG and SVG) here")
    v.set_defaults(fn=cmd_validate)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="defragsim", description=(
        "A model of the Linux page allocator for studying 'mm: fix reclaim storms in defrag_mode'."))
    sub = p.add_subparsers(dest="cmd", required=True)
    _parser_run(sub)
    _parser_compare(sub)
    _parser_trace(sub)
    _parser_sweep(sub)
    _parser_validation(sub)
    return p


# -- errors ---------------------------------------------------------------------------

def _check_args(args) -> None:
    """Checks that need no work, before any: a bad value fails at once, and
    an output folder that cannot be written before a simulation runs."""
    _check_numbers(args)
    for opt in ("out", "o"):
        if getattr(args, opt, None) and not (opt == "out" and getattr(args, "readme", False)):
            check_out_dir(Path(getattr(args, opt)), option=f"--{opt}" if opt == "out" else "-o")
    if getattr(args, "defrag_mode", None) not in (None, 0, 1):
        raise ConfigError(f"config.defrag_mode: must be 0 or 1, got {args.defrag_mode}")
    kernel = getattr(args, "kernel", None)
    if kernel is not None:
        baseline(kernel)          # an unknown (or empty) name fails here, listing the known
    thp = getattr(args, "thp_defrag", None)
    if thp is not None and thp not in THP_DEFRAG_SETTINGS:
        raise ConfigError(f"config.thp_defrag: expected one of {', '.join(THP_DEFRAG_SETTINGS)}, "
                          f"got {thp!r}")


def _check_numbers(args) -> None:
    """--duration, --growth-scale, --seeds, --seed0: in range and finite."""
    dur = getattr(args, "duration", None)
    if dur is not None and not (0 < dur <= MAX_DURATION_S):
        raise ConfigError(f"--duration: must be a positive number of seconds (at most "
                          f"{MAX_DURATION_S:.3g}), got {dur:g}")
    g = getattr(args, "growth_scale", None)
    if g is not None and not (g >= 0 and math.isfinite(g)):
        raise ConfigError(f"--growth-scale: must be a finite number >= 0, got {g:g}")
    if getattr(args, "seeds", None) is not None and getattr(args, "seed0", None) is not None:
        _seed_list(args)


def _input_error(e: BaseException) -> str:
    """The one line for an input-caused failure that escaped the readers."""
    if isinstance(e, MemoryError):
        return "out of memory: the run needs more than this machine has (a smaller --mem, " \
            "--duration or --seeds?)"
    if isinstance(e, RecursionError):
        return "input nested too deeply"
    if isinstance(e, UnicodeDecodeError):
        return f"input is not UTF-8 text: byte 0x{e.object[e.start]:02x} at offset {e.start}"
    where = e.filename if getattr(e, "filename", None) else None
    return f"{where}: {e.strerror or e}" if where else (e.strerror or str(e))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command = "defragsim " + " ".join(shlex.quote(a) for a in argv)
    try:
        _check_args(args)
        return args.fn(args)
    except DefragsimError as e:
        print(f"defragsim: error: {e}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError, MemoryError, RecursionError) as e:
        # the last resort: the readers name file and line; never a traceback
        print(f"defragsim: error: {_input_error(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
