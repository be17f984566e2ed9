"""The storm-onset sweep: storm intensity against the growth rate of
non-movable demand (``defragsim onset``).

A scenario's ``[growth]`` section is a non-movable footprint that keeps
growing (MiB/s per GiB of memory): the demand that needs *new* pageblocks.
The sweep scales it (``growth_scale``) and runs each configuration on the
same seeds, recording swap-out, reclaim retries by non-movable requests,
allocation stall time and fragmenting extfrag events.  With defrag_mode=1
and without the series, the storm begins where the growth outruns what
kswapd/kcompactd produce in whole free blocks; the series should remove it
without bringing fragmentation (defrag_mode=0's fallbacks) back.
"""
from __future__ import annotations

import pandas as pd

from ..config import Config, ConfigError
from ..sim import run
from ..workloads import build_workload, load_scenario
from ..workloads.estimate import check_fits
from ..sim.metrics import nonmovable
from .compare import parse_run_spec

#: The three configurations of the cover letter's argument.
DEFAULT_CONFIGS = {
    "defrag_mode=0": "defrag_mode=0,patches=none",
    "defrag_mode=1": "defrag_mode=1,patches=none",
    "defrag_mode=1 + series": "defrag_mode=1,patches=all",
}
DEFAULT_SCALES = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
#: bytes of one run's row (a dict of a dozen numbers, then a DataFrame row)
ROW_BYTES = 2048

#: metric column -> axis label
ONSET_METRICS = {
    "pswpout_mib": "swap-out (MiB)",
    "nonmovable_reclaim_retries": "reclaim retries, non-movable requests",
    "task_stall_s": "allocation + refault stall (s)",
    "extfrag_fragmenting": "fragmenting extfrag events",
}


def storm_onset(scenario="storm", *, scales=DEFAULT_SCALES, configs=None, seeds=1, mem=None,
                duration=None, progress=None) -> pd.DataFrame:
    """Run the sweep; one row per (config, growth_scale, seed).

    ``configs``: label -> spec string (see :func:`defragsim.compare.parse_run_spec`);
    default :data:`DEFAULT_CONFIGS`.  ``seeds``: a count or a list.
    """
    sc = load_scenario(scenario) if isinstance(scenario, str) else scenario
    g = sc.params.get("growth") if sc.kind == "processes" else None
    if g is None:
        raise ConfigError(f"onset: scenario {sc.name!r} has no [growth] section to scale")
    base_rate = float(g["mib_s_per_gib"])
    scales = [float(s) for s in scales]
    if not scales or any(not (s >= 0) for s in scales):
        raise ConfigError(f"onset: growth scales must be >= 0, got {scales}")
    specs = [parse_run_spec(v, label=k) if isinstance(v, str) else v
             for k, v in (configs or DEFAULT_CONFIGS).items()]
    for s in specs:
        if s.growth_scale != 1.0:
            raise ConfigError(f"onset: {s.label}: growth_scale is the sweep variable; "
                              "do not set it per configuration")
    seeds = range(seeds) if isinstance(seeds, int) else seeds
    if not len(seeds):
        raise ConfigError("onset: at least one seed is needed")
    check_fits(len(specs) * len(scales) * len(seeds) * ROW_BYTES,
               f"--seeds {len(seeds)}: the rows of {len(specs) * len(scales) * len(seeds):,} runs")
    seeds = [int(x) for x in seeds]
    rows = []
    for spec in specs:
        for scale in scales:
            for seed in seeds:
                cfg = Config(**{"mem": mem or sc.mem or "1G", **spec.config, "seed": seed})
                wl = build_workload(sc, cfg, duration=duration, growth_scale=scale)
                if progress:
                    progress(f"onset: {spec.label} growth x{scale:g} seed {seed}")
                r = run(wl, cfg)
                d, v = r.diagnostics, r.vmstat
                rows.append(dict(
                    config=spec.label, growth_scale=scale,
                    growth_mib_s_per_gib=scale * base_rate, seed=seed,
                    pswpout_mib=v["pswpout"] * 4096 / (1 << 20),
                    pgsteal_direct=v["pgsteal_direct"],
                    nonmovable_reclaim_retries=nonmovable(d, "reclaim_retries"),
                    task_stall_s=d["psi_task_stall_s"],
                    nonmovable_stall_s=nonmovable(d, "stall_s"),
                    extfrag_fragmenting=r.extfrag_summary()["fragmenting"],
                    oom_kill=v["oom_kill"], compact_stall=v["compact_stall"],
                    duration_s=r.duration_s, mem=cfg.nr_pages * 4096))
    return pd.DataFrame(rows)


def onset_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds: rows = growth rate, columns = (metric, config)."""
    m = df.groupby(["config", "growth_mib_s_per_gib"], sort=False)[list(ONSET_METRICS)].mean()
    return m.unstack("config").round(2)


def storm_onset_growth(df: pd.DataFrame, config: str, *,
                       metric: str = "nonmovable_reclaim_retries", per_s: float = 1.0):
    """Where the storm begins for ``config``: the lowest growth rate (MiB/s per
    GiB) at which the mean ``metric`` per simulated second reaches ``per_s``.
    The default is the storm's own signature in the changelog: non-movable
    requests retrying in reclaim.  Returns None when the sweep never gets there."""
    g = df[df["config"] == config]
    if g.empty:
        raise ConfigError(f"onset: no configuration {config!r} in the sweep "
                          f"(have: {', '.join(dict.fromkeys(df['config']))})")
    rate = g.groupby("growth_mib_s_per_gib")[metric].mean() / g["duration_s"].mean()
    hit = rate[rate >= per_s]
    return float(hit.index.min()) if len(hit) else None


__all__ = ["DEFAULT_CONFIGS", "DEFAULT_SCALES", "ONSET_METRICS", "onset_summary",
           "storm_onset", "storm_onset_growth"]
