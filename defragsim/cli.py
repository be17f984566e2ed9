"""Command line: ``defragsim run|scenarios|demo`` (also ``python -m defragsim``).

Errors in the input (an impossible config, an unknown scenario, a bad
scenario file) print one line ``defragsim: error: ...`` naming the field and
exit with status 2; they never show a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import THP_DEFRAG_SETTINGS, Config, ConfigError, Patches
from .gfp import GfpError
from .workload import ScenarioError, list_scenarios, load_scenario

INPUT_ERRORS = (ConfigError, ScenarioError, GfpError)


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
    from .workload import build_workload
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


def cmd_demo(args) -> int:
    """The README's main job: run the headline comparison, write figures + report.

    Today: the reclaim storm (``storm``) with defrag_mode 0 and 1, same seed.
    """
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from . import plot
    from .report import comparison_table
    from .sim import run

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sc = load_scenario(args.scenario)
    results = {}
    for dm in (0, 1):
        cfg = Config(mem=args.mem or sc.mem or "1G", defrag_mode=dm, seed=args.seed or 0)
        print(f"running {sc.name} with {cfg.label()} ...", flush=True)
        results[f"defrag_mode={dm}"] = run(sc, cfg, duration=args.duration)
    first = next(iter(results.values()))
    table = comparison_table(results, title=f"{sc.name}, {first.config.label().split()[0]}, "
                                            f"seed {first.config.seed}, {first.duration_s:g} s")
    (out / "report.txt").write_text(table)
    n = len(results)
    for name, fn, h in (("pageblocks", plot.plot_pageblock_map, 5), ("extfrag", plot.plot_extfrag, 3),
                        ("swap", plot.plot_swap, 3), ("stall", plot.plot_stall, 3),
                        ("retries", plot.plot_reclaim_retries, 3)):
        fig, axes = plt.subplots(1, n, figsize=(6 * n, h), squeeze=False)
        for ax, r in zip(axes[0], results.values()):
            fn(r, ax=ax)
        fig.tight_layout()
        plot.save_figure(fig, out / name)
        plt.close(fig)
    for lab, r in results.items():
        write_outputs(r, out / lab.replace("=", ""))
    print(table)
    print(f"wrote {out}/report.txt and {out}/{{pageblocks,extfrag,swap,stall,retries}}.{{png,svg}}")
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
    d = sub.add_parser("demo", help="run the headline comparison and write figures + report")
    d.add_argument("--out", default="out")
    d.add_argument("--scenario", default="storm")
    d.add_argument("--mem", default=None)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--duration", type=float, default=None)
    d.set_defaults(fn=cmd_demo)
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
