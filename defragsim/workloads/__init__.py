"""Workloads: the op streams the simulator consumes.

- :mod:`.ops`: :class:`Workload`, the op columns and their dtypes;
- :mod:`.scenarios`: the scenario registry (``data/scenarios``) and validation;
- :mod:`.sources`: the generators of synthetic scenarios;
- :mod:`.trace`, :mod:`._traceparse`: real trace readers;
- :mod:`.snapshot`: a machine's ``/proc`` snapshot (sizes, sysctls, free chunks);
- :mod:`.replay_ops`: a parsed trace (and its snapshot) as a Workload;
- :mod:`.estimate`: what a run will need (ops, bytes), checked before it is built.

Nothing here imports the simulator.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from .. import constants as C
from ..config import parse_size
from ..errors import ConfigError
from .estimate import MAX_DURATION_S, check_workload_fits, estimate_ops
from .ops import OP_DTYPES, Workload, new_op_columns
from .scenarios import (Scenario, ScenarioError, list_scenarios, load_scenario, scenario_path,
                        validate_processes)
from .snapshot import Snapshot, find_snapshot
from .sources import generate_churn, generate_processes
from .replay_ops import trace_workload
from .trace import read_trace

__all__ = ["OP_DTYPES", "Scenario", "ScenarioError", "Workload", "build_workload", "estimate_ops",
           "list_scenarios", "load_scenario", "new_op_columns", "scenario_path",
           "validate_processes"]


def build_workload(name_or_scenario, config, *, duration: float | None = None,
                   growth_scale: float = 1.0) -> Workload:
    """The workload of a scenario for a config (memory size, cpus and seed).
    A config that leaves ``nr_cpus`` to the workload gets the scenario's
    (``meta["nr_cpus"]`` says what the workload was built for)."""
    sc = name_or_scenario if isinstance(name_or_scenario, Scenario) else load_scenario(name_or_scenario)
    if config.nr_cpus is None and sc.nr_cpus is not None:
        config = dataclasses.replace(config, nr_cpus=sc.nr_cpus)
    wl = _build(sc, config, duration, growth_scale)
    wl.meta["nr_cpus"] = config.cpus
    return wl


def _build(sc: Scenario, config, duration, growth_scale):
    """:func:`build_workload` for a loaded scenario and a config with its CPUs."""
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not duration > 0 or not math.isfinite(duration)):
        raise ScenarioError(f"duration: must be a positive number of seconds, got {duration!r}")
    if duration is not None and duration > MAX_DURATION_S:
        raise ScenarioError(f"duration: at most {MAX_DURATION_S:.3g} s (times are int64 "
                            f"nanoseconds), got {duration!r}")
    if isinstance(growth_scale, bool) or not isinstance(growth_scale, (int, float)) or \
            not (growth_scale >= 0 and math.isfinite(growth_scale)):
        raise ConfigError(f"growth_scale: must be a finite number >= 0, got {growth_scale!r}")
    check_workload_fits(sc, config, duration, growth_scale)
    est = estimate_ops(sc, config, duration, growth_scale)     # a generated stream's epochs
    if sc.kind == "trace":
        # MODEL: a trace has no seed; every seed replays the same events
        p = sc.params
        snap = None
        if p["init"] == "auto":
            d = find_snapshot(p["trace"])
            snap = Snapshot.load(d) if d is not None else None
        tr = read_trace(p["trace"], fmt=p["format"], comm=p["comm"],
                        max_pfn=snap.pfn_limit() if snap is not None else None)
        wl, st = trace_workload(tr, nr_cpus=config.cpus, nr_pages=config.nr_pages,
                                snapshot=snap, duration=duration or p["duration"],
                                zone_spans=config.zone_spans(),
                                pageblock_order=config.pageblock_order)
        wl.name = sc.name
        wl.meta["baseline_ops"] = st.prefill_ops
        wl.meta["replay"] = st.as_dict()
        return wl
    if sc.kind == "processes":
        wl = generate_processes(sc.params, name=sc.name, description=sc.description,
                                nr_pages=config.nr_pages, nr_cpus=config.cpus,
                                seed=config.seed, duration=duration,
                                growth_scale=growth_scale, thp_defrag=config.thp_defrag,
                                estimated_ops=est)
        if sc.swap is not None:
            where = f"{Path(sc.path).name}: swap"
            if isinstance(sc.swap, float):
                if not 0 <= sc.swap <= 4:
                    raise ScenarioError(f"{where}: a fraction of memory must be in [0, 4], got {sc.swap}")
                wl.swap = int(sc.swap * config.nr_pages) * C.PAGE_SIZE
            elif str(sc.swap).strip() in ("0", "0G", "0M"):
                wl.swap = 0
            elif isinstance(sc.swap, int):
                # a bare 1 would be one byte; 1.0 is memory's size
                raise ScenarioError(f"{where}: {sc.swap} is neither a fraction of memory (a float: "
                                    f"{sc.swap}.0) nor a size (a string: \"{sc.swap}G\")")
            else:
                try:
                    wl.swap = parse_size(sc.swap, name=where)
                except ValueError as e:
                    raise ScenarioError(str(e)) from None
            if wl.swap > 4 * config.nr_pages * C.PAGE_SIZE:
                raise ScenarioError(f"{where}: {sc.swap} is more than 4x memory; the model allows at most 4x")
        return wl
    return generate_churn(sc, nr_pages=config.nr_pages, nr_cpus=config.cpus,
                          seed=config.seed, duration=duration, estimated_ops=est)


