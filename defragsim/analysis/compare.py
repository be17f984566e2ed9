"""Compare configurations on the same workload and seeds (``defragsim compare``).

The text table follows mmtests' ``compare-kernels.sh``: one column per
configuration, the mean over seeds, the change relative to the first column
in percent, and ``*  x.xx%*`` instead of ``(  x.xx%)`` where the 95%
confidence intervals of the two means do not overlap (``new`` against a zero
base, the ratio ``x`` past a tenfold change).  It is plain ASCII, ready for a
mail body; :func:`defragsim.analysis.report.headline_table` is the short
table to paste first.

A configuration is written as ``key=value`` pairs separated by commas, e.g.
``"defrag_mode=1,patches=2,3,4"`` (a bare number after ``patches=`` continues
the patch list).  Keys are :class:`~defragsim.config.Config` fields plus
``growth_scale`` (the scenario's growing non-movable footprint).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from .. import constants as C
from ..config import Config, ConfigError, Patches, format_size
from ..sim import run
from ..sim.metrics import all_metrics
from ..workloads import build_workload, load_scenario
from ..workloads.estimate import check_fits, check_workload_fits, result_bytes

# Two-sided 95% Student t quantiles for n-1 degrees of freedom.
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]

_BOOL = {"1": True, "true": True, "yes": True, "on": True,
         "0": False, "false": False, "no": False, "off": False}
#: Config fields a spec may set, with their parsers.
_CONFIG_KEYS = {f.name for f in fields(Config)}
_INT_KEYS = {"defrag_mode", "watermark_scale_factor", "watermark_boost_factor",
             "lowmem_reserve_ratio_dma32", "nr_cpus", "pageblock_order", "swappiness",
             "compaction_proactiveness", "min_free_kbytes", "page_reporting_order"}
_FLOAT_KEYS = {"runnable_tasks", "cpu_pace"}
_BOOL_KEYS = {"thp_enabled", "pcp", "oomd"}
_WORKLOAD_KEYS = {"growth_scale"}


@dataclass(frozen=True)
class RunSpec:
    """One configuration of a comparison: Config overrides + workload knobs."""

    label: str
    config: dict = field(default_factory=dict)
    growth_scale: float = 1.0

    def make_config(self, base: dict, seed: int) -> Config:
        kw = dict(base)
        kw.update(self.config)
        kw["seed"] = seed
        return Config(**kw)


def parse_run_spec(spec: str, *, label: str | None = None, where: str = "compare") -> RunSpec:
    """``"defrag_mode=1,patches=2,3,4,growth_scale=1.5"`` -> RunSpec.

    Errors name the offending key and the whole spec, after ``where`` (the
    command or option the spec came from)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"{where}: empty configuration {spec!r} (e.g. \"defrag_mode=1,patches=all\")")
    pairs: list[list[str]] = []
    for tok in spec.split(","):
        tok = tok.strip()
        if not tok:
            continue
        if "=" in tok:
            k, v = tok.split("=", 1)
            pairs.append([k.strip(), v.strip()])
        elif pairs and pairs[-1][0] == "patches" and tok.isdigit():
            pairs[-1][1] += "," + tok
        else:
            raise ConfigError(f"{where}: {spec!r}: {tok!r} is not key=value")
    cfg: dict = {}
    growth = 1.0
    seen = set()
    for k, v in pairs:
        if k in seen:
            raise ConfigError(f"{where}: {spec!r}: {k} given twice")
        seen.add(k)
        if k == "seed":
            raise ConfigError(f"{where}: {spec!r}: seeds are chosen with --seeds, not per configuration")
        if k in _WORKLOAD_KEYS:
            try:
                growth = float(v)
            except ValueError:
                raise ConfigError(f"{where}: {spec!r}: growth_scale: not a number: {v!r}") from None
            if not (growth >= 0 and math.isfinite(growth)):
                raise ConfigError(f"{where}: {spec!r}: growth_scale: must be >= 0, got {v}")
            continue
        if k not in _CONFIG_KEYS:
            known = ", ".join(sorted((_CONFIG_KEYS - {"seed"}) | _WORKLOAD_KEYS))
            raise ConfigError(f"{where}: {spec!r}: unknown key {k!r} (known: {known})")
        if k in _INT_KEYS:
            try:
                cfg[k] = int(v)
            except ValueError:
                raise ConfigError(f"{where}: {spec!r}: {k}: not an integer: {v!r}") from None
        elif k in _FLOAT_KEYS:
            try:
                cfg[k] = float(v)
            except ValueError:
                raise ConfigError(f"{where}: {spec!r}: {k}: not a number: {v!r}") from None
        elif k in _BOOL_KEYS:
            if v.lower() not in _BOOL:
                raise ConfigError(f"{where}: {spec!r}: {k}: expected true/false, got {v!r}")
            cfg[k] = _BOOL[v.lower()]
        else:
            cfg[k] = v
    # validate now, so a bad spec fails before any run starts
    Config(**{"mem": "1G", **cfg})
    return RunSpec(label=label or default_label(cfg, growth), config=cfg, growth_scale=growth)


def default_label(cfg: dict, growth_scale: float = 1.0) -> str:
    parts = []
    if "defrag_mode" in cfg:
        parts.append(f"dm={cfg['defrag_mode']}")
    if "patches" in cfg:
        parts.append(f"patches={Patches.parse(cfg['patches']).label()}")
    for k, v in cfg.items():
        if k not in ("defrag_mode", "patches"):
            parts.append(f"{k}={v}")
    if growth_scale != 1.0:
        parts.append(f"growth={growth_scale:g}")
    return " ".join(parts) or "default"


def t95(n: int) -> float:
    """Two-sided 95% Student t quantile for ``n`` samples (n >= 2)."""
    return _T95[n - 2] if n - 2 < len(_T95) else 1.96


def mean_ci(values) -> tuple[float, float]:
    """(mean, half-width of the 95% confidence interval); 0 for one sample."""
    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return m, 0.0
    return m, t95(len(x)) * float(x.std(ddof=1)) / math.sqrt(len(x))


def bootstrap_ci(values, *, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """(low, high) of a 95% percentile-bootstrap interval of the mean: it stays
    within the data's range (a count's interval never goes below zero, as
    ``mean +- t * s / sqrt(n)`` does for skewed counts with few seeds).  One
    value: (value, value).  Deterministic (``seed``)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2 or np.all(x == x[0]):
        return float(x.mean()), float(x.mean())
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def median_index(totals) -> int:
    """Index of the (lower) median of ``totals``; ties go to the first."""
    order = sorted(range(len(totals)), key=lambda i: (totals[i], i))
    return order[(len(order) - 1) // 2]


def seed_mean(per_seed: list) -> dict:
    """{metric: mean} of one configuration's metric dicts, one per seed; a
    metric missing from a seed's dict (an event that did not occur) counts 0."""
    keys = dict.fromkeys(k for m in per_seed for k in m)
    return {k: sum(m.get(k, 0) for m in per_seed) / len(per_seed) for k in keys}


@dataclass
class Comparison:
    """Results of several configurations on the same seeds."""

    scenario: str
    specs: list
    seeds: list
    results: dict              # label -> [Result per seed]
    mem: int
    duration_s: float

    def first(self, label) -> object:
        return self.results[label][0]

    def figure_seed_index(self, metric: str = "pswpout") -> int:
        """The seed the figures show: the (lower) median of ``metric`` summed
        over the configurations, so one atypical seed does not stand for all."""
        return median_index([sum(rs[i].vmstat[metric] for rs in self.results.values())
                             for i in range(len(self.seeds))])

    def means(self, view: str = "headline") -> dict:
        """label -> {metric: mean over the seeds}, for one view of
        :meth:`Result.metrics <defragsim.sim.result.Result.metrics>`."""
        return {lab: seed_mean([r.metrics(view) for r in rs]) for lab, rs in self.results.items()}

    def frame(self) -> pd.DataFrame:
        """Long table: one row per (config, seed, metric)."""
        rows = []
        for lab, rs in self.results.items():
            for seed, r in zip(self.seeds, rs):
                for k, v in all_metrics(r).items():
                    rows.append((lab, seed, k.strip(), float(v)))
        return pd.DataFrame(rows, columns=["config", "seed", "metric", "value"])

    def table(self, *, full: bool = True, min_abs: float = 0.0, width: int | None = None) -> str:
        return compare_table(self, full=full, min_abs=min_abs, width=width)


def _fmt_num(x: float) -> str:
    if x == 0:
        return "0"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.4f}"


def _cell(base: tuple, cur: tuple, is_base: bool) -> str:
    m, ci = cur
    num = _fmt_num(m)
    if is_base:
        return f"{num} (   0.00%)"
    bm, bci = base
    if bm == 0:
        pct = "   0.00%" if m == 0 else "     new"
    elif abs(m - bm) >= 10 * abs(bm):
        pct = f"{m / bm:7.0f}x"          # a ratio: 480750.00% of a base of 0.67 says less
    else:
        pct = f"{100.0 * (m - bm) / abs(bm):7.2f}%"
    sig = (ci > 0 or bci > 0) and (m - ci > bm + bci or m + ci < bm - bci)
    return f"{num} *{pct}*" if sig else f"{num} ({pct})"


def compare_table(cmp: Comparison, *, full: bool = True, min_abs: float = 0.0,
                  width: int | None = None) -> str:
    """The mmtests-style text table (see the module docstring); ``width``:
    split the configurations into blocks that fit that many characters."""
    per = {lab: [all_metrics(r) for r in rs] for lab, rs in cmp.results.items()}
    n = len(cmp.seeds)
    head = (f"defragsim compare: {cmp.scenario}, {mem_text(cmp)}{cpus_text(cmp)}, "
            f"{cmp.duration_s:.1f} s simulated, "
            f"{n} seed{'s' if n != 1 else ''} ({', '.join(map(str, cmp.seeds))})")
    return metrics_table(per, cmp.specs, head=head, n_seeds=n, full=full, min_abs=min_abs,
                         width=width)


def mem_text(cmp: Comparison) -> str:
    """The memory size of the comparison's runs, or each one's when the
    configurations differ (``--a mem=64M --b mem=128M``)."""
    pages = (getattr(r.config, "nr_pages", None) for rs in cmp.results.values() for r in rs)
    sizes = list(dict.fromkeys(n * C.PAGE_SIZE for n in pages if n is not None))
    if len(sizes) <= 1:
        return format_size(sizes[0] if sizes else cmp.mem)
    return "/".join(format_size(m) for m in sizes) + " (by configuration)"


def cpus_text(cmp: Comparison) -> str:
    """``, 8 CPUs`` when every run of the comparison had that many (a spec's
    ``nr_cpus`` otherwise shows in its own legend line)."""
    n = {getattr(r.config, "nr_cpus", None) for rs in cmp.results.values() for r in rs}
    return f", {n.pop()} CPUs" if len(n) == 1 and None not in n else ""


def spec_line(i: int, spec: RunSpec) -> str:
    """``  [i] label: key=value, ...`` -- the legend line of one table column."""
    return (f"  [{i}] {spec.label}: " + (", ".join(f"{k}={v}" for k, v in spec.config.items())
                                        or "defaults")
            + (f", growth_scale={spec.growth_scale:g}" if spec.growth_scale != 1.0 else ""))


def metrics_table(per: dict, specs, *, head: str, n_seeds: int, full: bool = True,
                  min_abs: float = 0.0, columns: int | None = None,
                  width: int | None = None) -> str:
    """The mmtests-style table from per-seed metric dicts.

    ``per`` maps a column label to a list of :func:`all_metrics` dicts (one per
    seed); ``specs`` are the columns' RunSpecs, in the same order, for the
    legend.  ``columns``: at most this many configurations side by side; more
    are split into blocks of columns, each block starting again with the
    first configuration (the base of the percentages).  ``None``: one block,
    or as many as fit in ``width`` characters when that is given.
    """
    labels = list(per)
    keys: list[str] = []
    for lab in labels:
        for m in per[lab]:
            for k in m:
                if k not in keys:
                    keys.append(k)
    if not full:
        keys = [k for k in keys if k.startswith("  ")]
    rows = []
    for k in keys:
        stats = [mean_ci([m.get(k, 0) for m in per[lab]]) for lab in labels]
        if all(abs(s[0]) <= min_abs and s[1] == 0 for s in stats):
            continue           # all zero: leave it out of the mail
        rows.append((k, [_cell(stats[0], s, i == 0) for i, s in enumerate(stats)]))
    notes = ["means over seeds; (x%) change vs the first column; *x%* where the 95% confidence",
             "intervals do not overlap" + (" (one seed: no intervals, no marks)" if n_seeds < 2 else ""),
             "rows: the series' headline numbers, then /proc/vmstat, then model diagnostics",
             "(model: not kernel counters); rows that are zero everywhere are omitted;",
             "(new): against a zero base; (Nx): the ratio, past a tenfold change"]
    out = [head, ""] + notes + [""]
    out += [spec_line(i, spec) for i, spec in enumerate(specs)]
    if columns is None and width is not None:
        columns = _columns_that_fit(labels, rows, width)
    blocks = _column_blocks(len(labels), columns)
    for b, cols in enumerate(blocks):
        out.append("")
        if len(blocks) > 1:
            out.append(f"== columns {', '.join(f'[{i}]' for i in cols)} "
                       f"(block {b + 1} of {len(blocks)}; % vs [0])")
        out += _table_block([labels[i] for i in cols], [(k, [c[i] for i in cols]) for k, c in rows])
    return "\n".join(out) + "\n"


def _column_blocks(n: int, columns: int | None) -> list[list[int]]:
    """Column indices of each block: all in one, or [0] + up to columns-1 others."""
    if columns is None or n <= columns:
        return [list(range(n))]
    if columns < 2:
        raise ConfigError(f"table: columns must be at least 2 (the base and one more), got {columns}")
    step = columns - 1
    return [[0] + list(range(s, min(s + step, n))) for s in range(1, n, step)]


def _columns_that_fit(labels: list, rows: list, width: int) -> int:
    """How many configurations side by side keep every line of a block
    within ``width`` characters (at least 2: the base and one more)."""
    lines = _table_block(labels, rows)
    if max(map(len, lines)) <= width:
        return len(labels)
    for k in range(len(labels) - 1, 1, -1):
        blocks = _column_blocks(len(labels), k)
        if all(max(map(len, _table_block([labels[i] for i in cols],
                                         [(key, [c[i] for i in cols]) for key, c in rows])))
               <= width for cols in blocks):
            return k
    return 2


def _table_block(labels: list, rows: list) -> list[str]:
    """Header line and one line per metric for the columns ``labels``."""
    def shown(k):
        return k.strip() if k.startswith("  ") else k.split(" ", 1)[1].strip()

    w0 = max([len(shown(k)) for k, _ in rows] + [10]) + 2
    colw = [max([len(lab)] + [len(c[i]) for _, c in rows]) + 3 for i, lab in enumerate(labels)]
    out = [" " * w0 + "".join(f"{lab:>{colw[i]}}" for i, lab in enumerate(labels))]
    section = None
    titles = {"vmstat": "/proc/vmstat", "model": "model diagnostics (not kernel counters)"}
    for k, cells in rows:
        sec = "headline" if k.startswith("  ") else k.split(" ", 1)[0]
        if sec != section:
            if section is not None:
                out.append("")
                out.append(f"-- {titles.get(sec, sec)}")
            section = sec
        out.append(f"{shown(k):<{w0}}" + "".join(f"{c:>{colw[i]}}" for i, c in enumerate(cells)))
    return out


def compare(scenario, specs, *, seeds=1, mem=None, duration=None, base: dict | None = None,
            progress=None) -> Comparison:
    """Run each configuration of ``specs`` on the same seeds.  ``specs``: RunSpecs
    or spec strings, or a dict label -> spec string.  ``seeds`` is a count
    (seeds 0..N-1) or a list of seeds."""
    sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
    if isinstance(specs, dict):
        specs = [parse_run_spec(s, label=lab) for lab, s in specs.items()]
    specs = [s if isinstance(s, RunSpec) else parse_run_spec(s) for s in specs]
    if not specs:
        raise ConfigError("compare: no configurations given")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        specs = [RunSpec(f"[{i}] {s.label}", s.config, s.growth_scale) for i, s in enumerate(specs)]
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"compare: --seeds must be at least 1, got {seeds}")
        seeds = range(seeds)
    base = dict(base or {})
    base.setdefault("mem", mem or sc.mem or "1G")
    # every Result is kept: refuse before running what cannot fit
    cfgs = [s.make_config(base, 0) for s in specs]
    per = max(result_bytes(c.nr_pages, c.pageblock_order) for c in cfgs)
    check_fits(per * len(specs) * len(seeds), f"--seeds {len(seeds)}: the results of "
               f"{len(specs)} configurations x {len(seeds):,} seeds")
    for spec, cfg in zip(specs, cfgs):
        check_workload_fits(sc, cfg, duration, spec.growth_scale)
    seeds = [int(s) for s in seeds]
    results = {}
    memb = None
    dur = None
    for spec in specs:
        rs = []
        for seed in seeds:
            cfg = spec.make_config(base, seed)
            wl = build_workload(sc, cfg, duration=duration, growth_scale=spec.growth_scale)
            if progress:
                progress(f"running {sc.name} [{spec.label}] seed {seed} ...")
            r = run(wl, cfg)
            rs.append(r)
            memb = cfg.nr_pages * C.PAGE_SIZE
            dur = r.duration_s
        results[spec.label] = rs
    return Comparison(scenario=sc.name, specs=specs, seeds=seeds, results=results, mem=memb,
                      duration_s=dur)
