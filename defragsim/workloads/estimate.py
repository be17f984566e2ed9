"""What a run will need, estimated before anything is allocated.

A scenario's rates times its duration (and the machine size) give the number
of ops its generator will produce; at about :data:`BYTES_PER_OP` bytes each
while they are generated and sorted (the Workload itself keeps 27), plus
the model state (:data:`BYTES_PER_PAGE` per simulated page), that is what a
run needs.  :func:`check_workload_fits` refuses a run that cannot fit in this
machine's available memory with one line naming the estimate and the
scenario key most of the ops come from, instead of a MemoryError a minute
later.  The same holds for results kept per seed (:func:`check_fits`).

The estimates are expected values (the generators draw Poisson counts), good
to a factor well below two: enough to tell 40 GiB from 400 MiB.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from .. import constants as C
from ..errors import ConfigError, ScenarioError
from .stream import EPOCH_TARGET_OPS, epoch_length

#: peak bytes per op while a generator builds, sorts and packs its columns
#: (measured: 91-110 for the shipped scenarios, e.g. kbuild-thp at 2G: 20.2M ops,
#: 1.93 GB above the interpreter; the Workload keeps 27).  Not rounded up: the
#: op count itself is estimated high (kbuild-thp: 27.7M for those 20.2M), and a
#: run that fits (kbuild-thp at 16G, about 16 GB) must not be refused.
BYTES_PER_OP = 100
#: bytes of model state per simulated page (measured: 39)
BYTES_PER_PAGE = 40
#: the most ops one run may have (a generated run fits in memory whatever its
#: length; this bounds its time: about 6-9 hours on the 2-core development VM)
MAX_RUN_OPS = 1e11
#: ops per second the refusal's time estimate assumes
ASSUMED_OPS_PER_S = 4e6
#: bytes of the model's tables per handle slot (driver Owners: pfn, order,
#: state, owner, content, gfp, shadow, list_lru links)
BYTES_PER_HANDLE = 35
#: ops-equivalents of the Python objects of one task, job, burst or file
#: (owner names, per-task arrays)
OBJECT_OPS = 32
#: a Result (time series, 21 pageblock maps, event tables): fixed part and
#: per pageblock (measured: 190 KiB at 256 MiB, 450 KiB at 1 GiB)
RESULT_BYTES = 200 << 10
RESULT_BYTES_PER_BLOCK = 1 << 10
#: the largest pfn a trace may name without a snapshot: 1 TiB of memory
MAX_TRACE_PFN = (1 << 40) // C.PAGE_SIZE
#: the longest duration whose nanoseconds fit an int64 (292 years)
MAX_DURATION_S = (2 ** 63 - 1) / 1e9


def available_memory() -> int:
    """Bytes this machine can give a run: MemAvailable, else the physical size."""
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 1 << 62          # unknown: do not refuse


def gib(nbytes: float) -> str:
    """``41 GiB``, ``1.2e+04 GiB``, ``300 MiB``."""
    if nbytes < (1 << 30):
        return f"{nbytes / (1 << 20):.0f} MiB"
    g = nbytes / (1 << 30)
    return f"{g:.0f} GiB" if g < 1e5 else f"{g:.2g} GiB"


def check_fits(need: float, what: str, error=ConfigError) -> None:
    """Raise ``error`` ("<what> would need about N GiB; this machine has M
    GiB available") when ``need`` bytes exceed the available memory."""
    have = available_memory()
    if not need <= have:
        raise error(f"{what} would need about {gib(need)}; this machine has {gib(have)} available")


def result_bytes(nr_pages: int, pageblock_order: int = C.PAGEBLOCK_ORDER_DEFAULT) -> int:
    """Bytes one Result holds (kept per seed by compare)."""
    return RESULT_BYTES + (nr_pages >> pageblock_order) * RESULT_BYTES_PER_BLOCK


# -- ops of each scenario kind --------------------------------------------------------

def _mean_pages(orders) -> float:
    w = sum(x for _, x in orders)
    return sum((1 << o) * x for o, x in orders) / w if w > 0 else 1.0


def _churn_sources(sc, nr_pages: int, dur: float) -> dict:
    """``classes.NAME`` -> expected ops (allocations, those alive at t=0
    included, and their frees)."""
    shares = [c.share for c in sc.classes]
    total = sum(shares)
    per_alloc = sum(s / total * _mean_pages(c.orders) * c.lifetime_s
                    for s, c in zip(shares, sc.classes))
    rate = sc.fill * nr_pages / per_alloc if per_alloc > 0 else 0.0
    return {f"classes.{c.name}": 2.0 * rate * s / total * (c.lifetime_s + dur)
            for s, c in zip(shares, sc.classes)}


def _anon_file_sources(p: dict, nr_pages: int, g: float, dur: float) -> dict:
    """[anon] and [file] of a processes scenario."""
    a, f = p["anon"], p["file"]
    out = {"anon.footprint": a["footprint"] * nr_pages * (1 + a["pagetable_ratio"]),
           "anon.touch_rate_per_gib": a["touch_rate_per_gib"] * g * dur,
           "anon.tasks": a["tasks"] * OBJECT_OPS,
           "file.files": f["files"] * OBJECT_OPS / 8,
           "file.initial": f["initial"] * nr_pages}
    mp = max(_mean_pages(f["orders"]), 1.0)
    n = f["read_mib_s_per_gib"] * g * 256 * dur / mp
    out["file.read_mib_s_per_gib"] = n * (1 + f["reread_share"] + f["dirty_share"])
    out["file.write_mib_s_per_gib"] = 2 * f["write_mib_s_per_gib"] * g * 256 * dur / mp
    return out


def _kernel_sources(p: dict, nr_pages: int, g: float, dur: float, growth_scale: float) -> dict:
    """[[nonmovable]], [growth], [jobs] and [[thp_bursts]] of a processes scenario."""
    out = {}
    for c in p["nonmovable"]:
        r = c["rate_per_gib"] * g
        if c["burst"] is not None:
            every, length, start = c["burst"]
            windows = max(dur - start, 0.0) / every + 1
            out[f"nonmovable.{c['name']}.rate_per_gib"] = 2 * r * min(length * windows, dur) \
                + windows * OBJECT_OPS
        else:
            alive = c["lifetime_s"] if c["lifetime_s"] < 1e6 else 0.0
            out[f"nonmovable.{c['name']}.rate_per_gib"] = 2 * r * (alive + dur)
    gr = p["growth"]
    if gr is not None:
        pages_s = gr["mib_s_per_gib"] * growth_scale * g * 256
        out["growth.mib_s_per_gib"] = pages_s * max(dur - gr["start_s"], 0.0) / \
            max(_mean_pages(gr["orders"]), 1.0)
    j = p["jobs"]
    if j is not None:
        span = max(dur - j["start_s"], 0.0)
        jobs = j["concurrency"] * (span / j["lifetime_s"] + 1)
        per_job = (2 * j["footprint"] * nr_pages / j["concurrency"]
                   * (1 + j["touches_per_page"] + j["pagetable_ratio"])
                   + j["stack_pages"] + j["slab_pages"] + 2 * j["dentry_pages"]
                   + 2 * sum(n for _, n in j["fork_objects"] + j["file_objects"])
                   + (j["read_pages_per_gib"] + 2 * j["write_pages_per_gib"]) * g + OBJECT_OPS)
        out["jobs.concurrency"] = jobs * per_job + j["hot_set"] * nr_pages
    for i, b in enumerate(p["thp_bursts"]):
        nthp = int(b["footprint"] * nr_pages) >> C.HPAGE_PMD_ORDER
        if nthp:
            bursts = max(dur - b["start_s"], 0.0) / b["every_s"] + 1
            out[f"thp_bursts[{i}].every_s"] = bursts * (2 * nthp + OBJECT_OPS)
    return out


def op_sources(scenario, config, duration: float | None = None,
               growth_scale: float = 1.0) -> dict:
    """Expected ops of a scenario for a config, by the scenario key that
    drives them (``{"nonmovable.pipes.rate_per_gib": 1.2e9, ...}``).  Empty
    for a trace scenario (its size is the trace's)."""
    dur = float(scenario.duration if duration is None else duration)
    nr_pages = config.nr_pages
    if scenario.kind == "churn":
        return _churn_sources(scenario, nr_pages, dur)
    if scenario.kind != "processes":
        return {}
    p = scenario.params
    g = nr_pages * C.PAGE_SIZE / (1 << 30)
    out = _anon_file_sources(p, nr_pages, g, dur)
    out.update(_kernel_sources(p, nr_pages, g, dur, growth_scale))
    out["compact_memory_at"] = float(len(p["compact_memory_at"]))
    return out


def stream_bytes(ops: float, duration: float, nr_pages: int) -> float:
    """Peak bytes of a generated (streamed) run: the model state, the handle
    tables (about one slot per page, room for twice that while they grow) and a few epochs of
    ops (the one running, the one generated ahead, the later ops waiting)."""
    per_epoch = ops / duration * epoch_length(ops / duration) if duration > 0 else ops
    return nr_pages * (BYTES_PER_PAGE + 2 * BYTES_PER_HANDLE) + \
        4 * max(min(per_epoch, ops), min(EPOCH_TARGET_OPS, ops)) * BYTES_PER_OP


def estimate_ops(scenario, config, duration: float | None = None,
                 growth_scale: float = 1.0) -> float:
    """The number of ops ``build_workload(scenario, config, duration=...)``
    is expected to produce (see :func:`op_sources`)."""
    return float(sum(op_sources(scenario, config, duration, growth_scale).values()))


def check_workload_fits(scenario, config, duration: float | None = None,
                        growth_scale: float = 1.0) -> None:
    """Refuse (ScenarioError) a run whose ops and state cannot fit in this
    machine's available memory, naming the estimate and the key most ops
    come from."""
    src = op_sources(scenario, config, duration, growth_scale)
    ops = sum(src.values())
    dur = float(scenario.duration if duration is None else duration)
    streamed = scenario.kind in ("churn", "processes")
    if streamed:
        # the ops are generated while the run goes: memory for a few epochs,
        # plus the Python objects (tasks, files) kept for the whole run
        objects = sum(v for k, v in src.items() if k in ("anon.tasks", "file.files"))
        need = stream_bytes(ops, dur, config.nr_pages) + objects * BYTES_PER_OP
    else:
        need = ops * BYTES_PER_OP + config.nr_pages * BYTES_PER_PAGE
    where = Path(scenario.path).name if scenario.path else scenario.name
    top = max(src, key=lambda k: src[k]) if src else None
    most = f" (mostly {top})" if top is not None and src[top] > ops / 2 else ""
    have = available_memory()
    if streamed and need <= have and not ops <= MAX_RUN_OPS:
        hours = ops / ASSUMED_OPS_PER_S / 3600 if math.isfinite(ops) else math.inf
        raise ScenarioError(f"{where}: {dur:g} s at {gib(config.nr_pages * C.PAGE_SIZE)} would run "
                            f"about {ops:.2g} ops{most}, about {hours:,.0f} hours at "
                            f"{ASSUMED_OPS_PER_S:.0e} ops/s; a run is limited to "
                            f"{MAX_RUN_OPS:.0e} ops")
    if need <= have and math.isfinite(ops):
        return
    raise ScenarioError(f"{where}: {dur:g} s at {gib(config.nr_pages * C.PAGE_SIZE)} would need "
                        f"about {gib(need)} for {ops:.2g} ops{most}; this machine has "
                        f"{gib(have)} available")
