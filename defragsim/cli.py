"""Command line: ``defragsim run|scenarios|demo|compare|sweep|onset`` (also ``python -m defragsim``).

Errors in the input (an impossible config, an unknown scenario, a bad
scenario file) print one line ``defragsim: error: ...`` naming the field and
exit with status 2; they never show a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .config import THP_DEFRAG_SETTINGS, Config, ConfigError, Patches
from .gfp import GfpError
from .capture import CaptureError
from .workloads.trace import TraceError
from .workloads import ScenarioError, list_scenarios, load_scenario

INPUT_ERRORS = (ConfigError, ScenarioError, GfpError, TraceError, CaptureError)


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
                  thp_defrag=args.thp_defrag,
                  compaction_proactiveness=args.compaction_proactiveness)


def _add_run_options(p):
    p.add_argument("--mem", default=None, help="memory size, e.g. 4G (default: the scenario's)")
    p.add_argument("--defrag-mode", type=int, default=0, choices=None, metavar="0|1",
                   help="vm.defrag_mode (default 0)")
    p.add_argument("--patches", default="none", help="none, all, or a list such as 2,3,4")
    p.add_argument("--seed", type=int, default=None, help="workload seed (default 0)")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds")
    p.add_argument("--swap", default=None, help="swap size, e.g. 2G (default: the scenario's)")
    p.add_argument("--growth-scale", type=float, default=1.0,
                   help="scale the scenario's growing non-movable footprint (storm onset)")
    p.add_argument("--oomd", action="store_true", help="enable the userspace pressure guard")
    p.add_argument("--thp-defrag", default="madvise", metavar="|".join(THP_DEFRAG_SETTINGS),
                   help="/sys/kernel/mm/transparent_hugepage/defrag (default madvise)")
    p.add_argument("--compaction-proactiveness", type=int, default=20, metavar="0..100",
                   help="vm.compaction_proactiveness (default 20; 0 = off)")


def write_outputs(result, out: Path) -> list[str]:
    """``--out``: vmstat.json, extfrag.csv, compaction_events.csv, timeseries.csv, pagetypeinfo.txt,
    buddyinfo.txt, result.json and the pageblock map (PNG + SVG)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from . import plot

    out.mkdir(parents=True, exist_ok=True)
    files = []
    (out / "vmstat.json").write_text(json.dumps(result.vmstat, indent=1) + "\n")
    result.extfrag.to_csv(out / "extfrag.csv", index=False)
    result.compaction_events.to_csv(out / "compaction_events.csv", index=False)
    result.timeseries.to_csv(out / "timeseries.csv")
    (out / "pagetypeinfo.txt").write_text(result.pagetypeinfo())
    (out / "buddyinfo.txt").write_text(result.buddyinfo())
    (out / "result.json").write_text(json.dumps(result.to_json_dict(), indent=1) + "\n")
    files += [str(out / n) for n in ("vmstat.json", "extfrag.csv", "compaction_events.csv",
                                      "timeseries.csv",
                                      "pagetypeinfo.txt", "buddyinfo.txt", "result.json")]
    fig, ax = plt.subplots(figsize=(7, 5))
    plot.plot_pageblock_map(result, ax=ax)
    files += plot.save_figure(fig, out / "pageblocks")
    plt.close(fig)
    return files


def cmd_run(args) -> int:
    from .sim import run
    from .workloads import build_workload
    sc = load_scenario(args.scenario)
    cfg = _config_from_args(args, sc)
    if not args.growth_scale >= 0:
        raise ConfigError(f"growth_scale: must be >= 0, got {args.growth_scale}")
    wl = build_workload(sc, cfg, duration=args.duration, growth_scale=args.growth_scale)
    result = run(wl, cfg, progress=not args.json and sys.stderr.isatty())
    if args.out:
        write_outputs(result, Path(args.out))
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
        if args.out:
            print(f"wrote {args.out}/")
    return 0


def cmd_scenarios(args) -> int:
    for name, desc in list_scenarios().items():
        print(f"{name:<16} {desc}")
    return 0


def cmd_replay(args) -> int:
    """``defragsim replay TRACE``: a real trace through the model."""
    from .analysis.replay import replay
    over = {"defrag_mode": args.defrag_mode, "patches": Patches.parse(args.patches)}
    if args.mem is not None:
        over["mem"] = args.mem
    if args.swap is not None:
        over["swap"] = args.swap
    if args.thp_defrag is not None:
        over["thp_defrag"] = args.thp_defrag
    rp = replay(args.trace, fmt=args.format, comm=args.comm, skip_bad_lines=args.skip_bad_lines,
                init_from=args.init_from, init="empty" if args.init == "empty" else "auto",
                duration=args.duration, config_overrides=over,
                progress=not args.json and sys.stderr.isatty())
    table = rp.observed_vs_model()
    if args.out:
        out = Path(args.out)
        write_outputs(rp.result, out)
        (out / "observed_vs_model.txt").write_text(table)
        pbmap = rp.snapshot.path / "before.pbmap.csv.gz" if rp.snapshot is not None else None
        if pbmap is not None and pbmap.exists():
            import matplotlib.pyplot as plt
            from . import plot
            axes = plot.plot_machine_vs_model(pbmap, rp.result)
            fig = axes[0].figure
            fig.tight_layout()
            plot.save_figure(fig, out / "pageblocks_machine_vs_model")
            plt.close(fig)
    if args.json:
        d = rp.result.to_json_dict()
        d["trace"] = rp.trace.summary()
        d["replay"] = rp.stats.as_dict()
        print(json.dumps(d))
    else:
        print(table, end="")
        if args.out:
            print(f"wrote {args.out}/")
    return 0


def cmd_snapshot(args) -> int:
    from .capture import snapshot
    files = snapshot(args.o, tag=args.tag, kpageflags=not args.no_kpageflags)
    print(f"wrote {len(files)} files to {args.o}/ ({args.tag}.*)")
    return 0


def cmd_record(args) -> int:
    from .capture import record
    info = record(args.o, args.duration, tracefs=args.tracefs, buffer_kb=args.buffer_kb,
                  use_perf=True if args.perf else None)
    extra = f", {info['bytes']:,} bytes, ring overruns {info['overrun']}" if "bytes" in info else ""
    print(f"recorded {args.duration:g} s with {info['method']} into {info['trace']}{extra}; "
          f"snapshots in {info['snapshot']}/")
    print(f"replay it: defragsim replay {info['trace']} --init-from {info['snapshot']}")
    return 0


def _progress(msg):
    print(msg, file=sys.stderr, flush=True)


def _write_comparison(cmp, out: Path, *, table: str) -> list[str]:
    from .analysis.compare import write_figures
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.txt").write_text(table)
    cmp.frame().to_csv(out / "metrics.csv", index=False)
    files = [str(out / "report.txt"), str(out / "metrics.csv")]
    i = cmp.figure_seed_index()
    files += write_figures(cmp, out, seed_index=i)
    for lab, rs in cmp.results.items():
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in lab).strip("_")
        files += write_outputs(rs[i], out / "runs" / f"{safe}-seed{cmp.seeds[i]}")
    return files


def cmd_compare(args) -> int:
    """``defragsim compare SCENARIO --a SPEC --b SPEC [--c SPEC ...] [--seeds N]``."""
    from .analysis.compare import compare, parse_run_spec
    specs = [parse_run_spec(s) for s in (args.a, args.b, *(args.more or [])) if s is not None]
    if len(specs) < 2:
        raise ConfigError("compare: give at least two configurations (--a and --b)")
    if args.seeds < 1:
        raise ConfigError(f"compare: --seeds must be at least 1, got {args.seeds}")
    base = {}
    if args.swap is not None:
        base["swap"] = args.swap
    cmp = compare(args.scenario, specs, seeds=list(range(args.seed0, args.seed0 + args.seeds)),
                  mem=args.mem, duration=args.duration, base=base,
                  progress=_progress if not args.quiet else None)
    table = cmp.table(full=not args.short)
    print(table, end="")
    if args.out:
        _write_comparison(cmp, Path(args.out), table=table)
        print(f"wrote {args.out}/report.txt, metrics.csv, "
              "{pageblocks,extfrag,swap,stall,retries}.{png,svg} and runs/ "
              f"(figures: seed {cmp.seeds[cmp.figure_seed_index()]}, the median by swap-out)")
    return 0


def cmd_figures(args) -> int:
    """``defragsim figures``: the headline figure set (PNG + SVG) for a mail."""
    from .analysis.compare import compare, parse_run_spec, write_figures
    specs = [parse_run_spec(s) for s in (args.a, args.b, *(args.more or [])) if s is not None]
    if not specs:
        specs = [parse_run_spec(s, label=lab) for s, lab in
                 zip(DEMO_SPECS, ("defrag_mode=0", "defrag_mode=1", "dm=1+series"))]
    cmp = compare(args.scenario, specs, seeds=list(range(args.seed0, args.seed0 + args.seeds)),
                  mem=args.mem, duration=args.duration, progress=_progress)
    files = write_figures(cmp, Path(args.out))
    print("\n".join(files))
    return 0


#: The headline comparison of the cover letter (``defragsim demo``).
DEMO_SPECS = ("defrag_mode=0,patches=none", "defrag_mode=1,patches=none",
              "defrag_mode=1,patches=all")


def cmd_demo(args) -> int:
    """The README's main job: the headline comparison of the series.

    ``storm`` with defrag_mode 0, defrag_mode 1 without the series and
    defrag_mode 1 with it, on the same seeds; writes ``report.txt`` (the
    mmtests-style table), the figures and each run's outputs under ``out/``.
    """
    from .analysis.compare import compare, parse_run_spec
    out = Path(args.out)
    specs = [parse_run_spec(s, label=lab) for s, lab in
             zip(DEMO_SPECS, ("defrag_mode=0", "defrag_mode=1", "dm=1+series"))]
    cmp = compare(args.scenario, specs, seeds=list(range(args.seed, args.seed + args.seeds)),
                  mem=args.mem, duration=args.duration, progress=_progress)
    table = cmp.table(full=True)
    _write_comparison(cmp, out, table=table)
    print(cmp.table(full=False), end="")
    print(f"(full table with vmstat and model diagnostics: {out}/report.txt)")
    print(f"wrote {out}/report.txt, metrics.csv, {{pageblocks,extfrag,swap,stall,retries}}.{{png,svg}}"
          f" and {out}/runs/ (figures: seed {cmp.seeds[cmp.figure_seed_index()]}, the median by "
          "swap-out)")
    return 0


def _warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"defragsim: warning: {message}", file=sys.stderr, flush=True)


def cmd_sweep(args) -> int:
    """``defragsim sweep SCENARIO --patches all-combinations --seeds N --out DIR``."""
    from .analysis.sweep import SweepError, parse_set, sweep
    base, growth = parse_set(args.set)
    if args.columns < 2:
        raise ConfigError(f"--columns: at least 2 (the base and one more), got {args.columns}")
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        try:
            res = sweep(args.scenario, patches=args.patches or "all-combinations", seeds=args.seeds,
                        seed0=args.seed0, mem=args.mem, defrag_mode=args.defrag_modes,
                        duration=args.duration, base=base, growth_scale=growth,
                        executor=args.executor, workers=args.workers, out=args.out,
                        progress=not args.no_progress, figures=args.figures, columns=args.columns,
                        log=_progress)
        except SweepError as e:
            print(f"defragsim: error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"defragsim: interrupted; finished runs are in {args.out}/store, the same "
                  "command resumes", file=sys.stderr)
            return 130
    print(res.table(full=False, columns=args.columns), end="")
    out = Path(args.out)
    print(f"({res.ran} tasks run, {res.skipped} found in the store; all rows: {out}/summary.txt)")
    print(f"wrote {out}/summary.txt, summary.csv, sweep.json, store/"
          + (", figures/" if args.figures else ""))
    return 0


def cmd_onset(args) -> int:
    """``defragsim onset``: the storm-onset sweep (figure + table)."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from . import plot
    from .analysis.onset import DEFAULT_SCALES, onset_summary, plot_onset, storm_onset, storm_onset_growth
    scales = DEFAULT_SCALES
    if args.scales:
        try:
            scales = [float(x) for x in args.scales.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"onset: --scales: expected numbers like 0,0.5,1, got {args.scales!r}") \
                from None
    df = storm_onset(args.scenario, scales=scales, seeds=args.seeds, mem=args.mem,
                     duration=args.duration, progress=_progress)
    summ = onset_summary(df)
    with_pd_wide = summ.to_string()
    print(with_pd_wide)
    labels = list(dict.fromkeys(df["config"]))
    lines = []
    for lab in labels:
        on = storm_onset_growth(df, lab)
        lines.append(f"{lab}: non-movable reclaim retries >= 1/s from "
                     + (f"{on:g} MiB/s per GiB" if on is not None else "nowhere in the sweep"))
    print("\n".join(lines))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "onset.csv", index=False)
        (out / "onset.txt").write_text(with_pd_wide + "\n" + "\n".join(lines) + "\n")
        axes = plot_onset(df)
        fig = axes[0].figure
        fig.suptitle(f"storm onset: {df['config'].nunique()} configs, "
                     f"{df['seed'].nunique()} seed(s), {df['duration_s'].iloc[0]:g} s", fontsize=9)
        fig.tight_layout()
        plot.save_figure(fig, out / "onset")
        plt.close(fig)
        print(f"wrote {out}/onset.{{csv,txt,png,svg}}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="defragsim", description=(
        "A model of the Linux page allocator for studying 'mm: fix reclaim storms in defrag_mode'."))
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one scenario")
    r.add_argument("scenario", help="scenario name (see `defragsim scenarios`) or a .toml file")
    _add_run_options(r)
    r.add_argument("--out", default=None, help="write vmstat.json, extfrag.csv, timeseries.csv, "
                   "pagetypeinfo.txt and a pageblock map here")
    r.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    r.set_defaults(fn=cmd_run)
    s = sub.add_parser("scenarios", help="list the scenarios")
    s.set_defaults(fn=cmd_scenarios)
    d = sub.add_parser("demo", help="the headline comparison (storm: defrag_mode 0, 1, 1 + series)")
    d.add_argument("--out", default="out")
    d.add_argument("--scenario", default="storm")
    d.add_argument("--mem", default=None)
    d.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    d.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    d.add_argument("--duration", type=float, default=None)
    d.set_defaults(fn=cmd_demo)
    c = sub.add_parser("compare", help="compare configurations on the same seeds (mmtests-style table)")
    c.add_argument("scenario")
    c.add_argument("--a", required=True, help='a configuration, e.g. "defrag_mode=1,patches=none"')
    c.add_argument("--b", required=True, help='e.g. "defrag_mode=1,patches=all"')
    c.add_argument("--c", dest="more", action="append", metavar="SPEC",
                   help="a further configuration (repeatable)")
    c.add_argument("--seeds", type=int, default=1, help="number of seeds (default 1)")
    c.add_argument("--seed0", type=int, default=0, help="first seed (default 0)")
    c.add_argument("--mem", default=None)
    c.add_argument("--swap", default=None)
    c.add_argument("--duration", type=float, default=None)
    c.add_argument("--short", action="store_true", help="only the headline rows")
    c.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    c.add_argument("--out", default=None, help="also write report.txt, metrics.csv and figures here")
    c.set_defaults(fn=cmd_compare)
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
    rp.add_argument("--mem", default=None, help="memory size (default: the snapshot's MemTotal)")
    rp.add_argument("--defrag-mode", type=int, default=0, metavar="0|1")
    rp.add_argument("--patches", default="none")
    rp.add_argument("--swap", default=None)
    rp.add_argument("--thp-defrag", default=None, choices=list(THP_DEFRAG_SETTINGS))
    rp.add_argument("--duration", type=float, default=None, help="replay only the first S seconds")
    rp.add_argument("--json", action="store_true")
    rp.add_argument("--out", default=None)
    rp.set_defaults(fn=cmd_replay)
    sn = sub.add_parser("snapshot", help="save this machine's allocator state (/proc files, "
                        "kpageflags pageblock map)")
    sn.add_argument("-o", required=True, metavar="DIR")
    sn.add_argument("--tag", default="before", help="file prefix (default before: loads as an "
                    "initial state)")
    sn.add_argument("--no-kpageflags", action="store_true")
    sn.set_defaults(fn=cmd_snapshot)
    rc = sub.add_parser("record", help="record page-allocator events of this machine (root)")
    rc.add_argument("-o", required=True, metavar="DIR")
    rc.add_argument("--duration", type=float, required=True, help="seconds")
    rc.add_argument("--tracefs", default=None, help="tracefs mount (default /sys/kernel/tracing)")
    rc.add_argument("--buffer-kb", type=int, default=65536, help="per-cpu ring buffer size")
    rc.add_argument("--perf", action="store_true", help="use perf record instead of tracefs")
    rc.set_defaults(fn=cmd_record)
    fg = sub.add_parser("figures", help="write the headline figure set (PNG + SVG)")
    fg.add_argument("scenario", nargs="?", default="storm")
    fg.add_argument("--a", default=None, help="configurations as for compare "
                    "(default: defrag_mode 0, 1, and 1 with the series)")
    fg.add_argument("--b", default=None)
    fg.add_argument("--c", dest="more", action="append", metavar="SPEC")
    fg.add_argument("--seeds", type=int, default=1)
    fg.add_argument("--seed0", type=int, default=0)
    fg.add_argument("--mem", default=None)
    fg.add_argument("--duration", type=float, default=None)
    fg.add_argument("--out", default="out/figures")
    fg.set_defaults(fn=cmd_figures)
    sw = sub.add_parser("sweep", help="every patch combination x seeds (x memory sizes x "
                        "defrag modes) in parallel, resumable; means and 95%% intervals")
    sw.add_argument("scenario")
    sw.add_argument("--patches", action="append", metavar="SPECS",
                    help="all-combinations (default: the 12 subsets the kernel can have) or patch "
                    "sets separated by ';', e.g. 'none;all;2,3,4' (repeatable)")
    sw.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    sw.add_argument("--seed0", type=int, default=0, help="first seed (default 0)")
    sw.add_argument("--mem", default=None, help="memory sizes, e.g. 512M,1G (default: the scenario's)")
    sw.add_argument("--defrag-mode", dest="defrag_modes", default="1", metavar="1|0,1",
                    help="vm.defrag_mode values (default 1)")
    sw.add_argument("--duration", type=float, default=None, help="simulated seconds")
    sw.add_argument("--set", default=None, metavar="KEY=VALUE,...",
                    help="further settings for every configuration, as for compare "
                    "(e.g. swappiness=100,growth_scale=2)")
    sw.add_argument("--executor", default="local", help="local (a process pool, default) or "
                    "dask://HOST:PORT (a Dask scheduler)")
    sw.add_argument("--workers", type=int, default=None,
                    help="local pool size (default: one per CPU)")
    sw.add_argument("--columns", type=int, default=5, help="configurations side by side in the "
                    "table; more are split into blocks that each start with the first (default 5)")
    sw.add_argument("--out", required=True, help="store/, summary.txt, summary.csv, sweep.json; "
                    "finished tasks found here are skipped")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    sw.add_argument("--figures", action="store_true", help="also the compare figures of the median "
                    "seed in OUT/figures (re-simulated here)")
    sw.set_defaults(fn=cmd_sweep)
    o = sub.add_parser("onset", help="storm-onset sweep over the growth of non-movable demand")
    o.add_argument("scenario", nargs="?", default="storm")
    o.add_argument("--scales", default=None, help="growth scales, e.g. 0,0.5,1,2")
    o.add_argument("--seeds", type=int, default=1)
    o.add_argument("--mem", default=None)
    o.add_argument("--duration", type=float, default=None)
    o.add_argument("--out", default=None)
    o.set_defaults(fn=cmd_onset)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "defrag_mode", 0) not in (0, 1):
        print(f"defragsim: error: config.defrag_mode: must be 0 or 1, got {args.defrag_mode}",
              file=sys.stderr)
        return 2
    try:
        return args.fn(args)
    except INPUT_ERRORS as e:
        print(f"defragsim: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
