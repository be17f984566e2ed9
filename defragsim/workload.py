"""Workloads: a stream of allocation and free requests, and the scenario files
that generate them.

A :class:`Workload` is a set of equal-length numpy columns, one row per op,
sorted by time: ``t`` (ns), ``kind`` (OP_ALLOC / OP_FREE), ``order``, ``gfp``
(kernel gfp bits), ``handle`` (which allocation a free releases), ``cpu``
(whose per-cpu lists are used) and ``content`` (what the pages will hold:
anon, file, slab, ...).  Randomness lives only here, drawn from a
``numpy.random.Generator`` seeded from the config; the model is deterministic.

Scenario files live in ``data/scenarios/*.toml``.  Every key is documented in
the file itself and validated on load: an unknown key, a wrong type or an
impossible value raises :class:`ScenarioError` with a one-line message naming
the file, the key and the problem.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import constants as C
from .gfp import GfpError, gfp_migratetype, parse_gfp, vma_thp_gfp_mask

HPAGE_PMD_ORDER = 9


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names file, key and problem."""


CONTENT_BY_NAME = {n: i for i, n in enumerate(C.KIND_NAMES) if i != C.KIND_NONE}


#: dtype of each op column of a Workload (the kernels are compiled for these)
OP_DTYPES = (np.int64, np.int8, np.int8, np.int64, np.int32, np.int32, np.uint8)


def new_op_columns(n: int) -> tuple:
    """Zeroed op columns for ``n`` ops with the Workload dtypes, in field
    order: t, kind, order, gfp, handle, cpu, content."""
    return tuple(np.zeros(n, d) for d in OP_DTYPES)


@dataclass
class Workload:
    """An op stream plus what it came from."""

    name: str
    t: np.ndarray        # int64 ns
    kind: np.ndarray     # int8 OP_*
    order: np.ndarray    # int8
    gfp: np.ndarray      # int64 gfp mask
    handle: np.ndarray   # int32
    cpu: np.ndarray      # int32
    content: np.ndarray  # uint8 KIND_*
    nr_handles: int
    duration_ns: int
    description: str = ""
    meta: dict = field(default_factory=dict)
    #: owner of each handle (index into owner_kind); default: one kernel owner
    handle_owner: np.ndarray | None = None
    #: OWNER_TASK / OWNER_FILE / OWNER_KERNEL per owner
    owner_kind: np.ndarray | None = None
    owner_names: list | None = None
    #: swap device size the scenario asks for (bytes), if any
    swap: object = None

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def validate(self, nr_cpus: int) -> None:
        n = len(self)
        for name in ("kind", "order", "gfp", "handle", "cpu", "content"):
            if getattr(self, name).shape[0] != n:
                raise ScenarioError(f"workload {self.name}: column {name} has "
                                    f"{getattr(self, name).shape[0]} rows, expected {n}")
        if n and np.any(np.diff(self.t) < 0):
            raise ScenarioError(f"workload {self.name}: ops are not sorted by time")
        if n and (self.order.min() < 0 or self.order.max() > C.MAX_PAGE_ORDER):
            raise ScenarioError(f"workload {self.name}: order outside 0..{C.MAX_PAGE_ORDER}")
        if n and (self.handle.min() < 0 or self.handle.max() >= self.nr_handles):
            raise ScenarioError(f"workload {self.name}: handle outside 0..{self.nr_handles - 1}")
        if self.handle_owner is None:
            self.handle_owner = np.zeros(self.nr_handles, np.int32)
            self.owner_kind = np.array([C.OWNER_KERNEL], np.uint8)
            self.owner_names = ["kernel"]
        if self.handle_owner.shape[0] != self.nr_handles:
            raise ScenarioError(f"workload {self.name}: handle_owner has {self.handle_owner.shape[0]} "
                                f"entries, expected {self.nr_handles}")
        if self.nr_handles and (self.handle_owner.min() < 0 or
                                self.handle_owner.max() >= len(self.owner_kind)):
            raise ScenarioError(f"workload {self.name}: handle owner outside 0..{len(self.owner_kind) - 1}")
        if n and (self.kind.min() < 0 or self.kind.max() >= len(C.OP_NAMES)):
            raise ScenarioError(f"workload {self.name}: op kind outside 0..{len(C.OP_NAMES) - 1} "
                                f"({', '.join(C.OP_NAMES)})")
        if n and int((self.content.astype(np.int64) & ~C.CONTENT_FLAGS).max()) >= C.NR_KINDS:
            raise ScenarioError(f"workload {self.name}: content outside 0..{C.NR_KINDS - 1}")
        if n and (self.cpu.min() < 0 or self.cpu.max() >= nr_cpus):
            raise ScenarioError(f"workload {self.name}: cpu id {int(self.cpu.max())} but the "
                                f"config has nr_cpus={nr_cpus}")


# ---------------------------------------------------------------------------
# Scenario files
# ---------------------------------------------------------------------------

def scenario_dir() -> Path:
    """``data/scenarios`` of the source tree (or of an installed copy)."""
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "data" / "scenarios", here / "data" / "scenarios"):
        if cand.is_dir():
            return cand
    raise ScenarioError(f"scenario folder data/scenarios not found next to {here}")


SCENARIO_SUFFIXES = (".toml", ".yaml", ".yml")


def read_scenario_doc(path: Path) -> dict:
    """A scenario file as a dict: TOML, or YAML (``.yaml``/``.yml``)."""
    where = path.name
    if path.suffix in (".yaml", ".yml"):
        import yaml
        try:
            with open(path, encoding="utf-8") as f:
                doc = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ScenarioError(f"{where}: not valid YAML: {' '.join(str(e).split())}") from None
        if not isinstance(doc, dict):
            raise ScenarioError(f"{where}: expected a mapping at the top, got {type(doc).__name__}")
        return doc
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{where}: not valid TOML: {e}") from None


def list_scenarios() -> dict[str, str]:
    """``{name: one-line description}`` of the shipped scenarios."""
    out = {}
    files = sorted(p for suf in SCENARIO_SUFFIXES for p in scenario_dir().glob(f"*{suf}"))
    for p in files:
        try:
            doc = read_scenario_doc(p)
            out[p.stem] = str(doc.get("description", "")).strip().splitlines()[0]
        except (ScenarioError, IndexError, OSError):
            out[p.stem] = "(unreadable scenario file)"
    return dict(sorted(out.items()))


def scenario_path(name: str) -> Path:
    p = Path(name)
    if p.suffix in SCENARIO_SUFFIXES:
        if p.exists():
            return p
        raise ScenarioError(f"{p}: no such scenario file")
    for suf in SCENARIO_SUFFIXES:
        cand = scenario_dir() / f"{name}{suf}"
        if cand.exists():
            return cand
    known = ", ".join(list_scenarios()) or "(none)"
    raise ScenarioError(f"unknown scenario {name!r}; known scenarios: {known}")


_TOP_KEYS = {
    "name": str, "description": str, "kind": str, "duration": (int, float),
    "fill": (int, float), "mem": (str, int), "classes": list,
}
_CLASS_KEYS = {
    "name": str, "gfp": str, "content": str, "share": (int, float),
    "orders": dict, "lifetime_s": (int, float),
}


@dataclass(frozen=True)
class ClassSpec:
    name: str
    gfp: int
    content: int
    share: float
    orders: tuple        # ((order, weight), ...)
    lifetime_s: float


@dataclass(frozen=True)
class Scenario:
    """A parsed, validated scenario file."""

    name: str
    description: str
    kind: str
    duration: float
    fill: float
    mem: object
    classes: tuple
    path: str = ""
    params: dict | None = None
    swap: object = None


def _type_name(t) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


def _check_type(where, key, value, types):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ScenarioError(f"{where}: key {key!r}: expected {_type_name(types)}, got a boolean")
    if not isinstance(value, types):
        raise ScenarioError(f"{where}: key {key!r}: expected {_type_name(types)}, "
                            f"got {type(value).__name__} {value!r}")


def load_scenario(name_or_path: str) -> Scenario:
    """Load and validate a scenario file (by name from data/scenarios, or a path)."""
    path = scenario_path(name_or_path)
    where = path.name
    doc = read_scenario_doc(path)
    if doc.get("kind") == "trace":
        params = validate_trace_scenario(doc, where, path)
        return Scenario(name=doc.get("name", path.stem), description=doc["description"].strip(),
                        kind="trace", duration=params["duration"] or 0.0, fill=0.0,
                        mem=doc.get("mem"), classes=(), path=str(path), params=params)
    if doc.get("kind") == "processes":
        params = validate_processes(doc, where)
        if "description" not in doc:
            raise ScenarioError(f"{where}: missing key 'description'")
        return Scenario(name=doc.get("name", path.stem), description=doc["description"].strip(),
                        kind="processes", duration=params["duration"], fill=0.0,
                        mem=doc.get("mem"), classes=(), path=str(path), params=params,
                        swap=doc.get("swap"))
    for k, v in doc.items():
        if k not in _TOP_KEYS:
            raise ScenarioError(f"{where}: unknown key {k!r} (known: {', '.join(_TOP_KEYS)})")
        _check_type(where, k, v, _TOP_KEYS[k])
    for k in ("description", "kind", "duration", "fill", "classes"):
        if k not in doc:
            raise ScenarioError(f"{where}: missing key {k!r}")
    if doc["kind"] != "churn":
        raise ScenarioError(f"{where}: key 'kind': unknown workload kind {doc['kind']!r} "
                            "(known: churn, processes, trace)")
    duration = float(doc["duration"])
    if not (duration > 0 and math.isfinite(duration)):
        raise ScenarioError(f"{where}: key 'duration': must be a positive number of seconds, "
                            f"got {doc['duration']!r}")
    fill = float(doc["fill"])
    if not (0 < fill < 1):
        raise ScenarioError(f"{where}: key 'fill': must be between 0 and 1 (a fraction of "
                            f"memory), got {doc['fill']!r}")
    if not doc["classes"]:
        raise ScenarioError(f"{where}: key 'classes': at least one class is needed")
    classes = []
    for i, c in enumerate(doc["classes"]):
        cw = f"{where}: classes[{i}]"
        if not isinstance(c, dict):
            raise ScenarioError(f"{cw}: expected a table, got {type(c).__name__}")
        for k, v in c.items():
            if k not in _CLASS_KEYS:
                raise ScenarioError(f"{cw}: unknown key {k!r} (known: {', '.join(_CLASS_KEYS)})")
            _check_type(cw, k, v, _CLASS_KEYS[k])
        for k in _CLASS_KEYS:
            if k not in c:
                raise ScenarioError(f"{cw}: missing key {k!r}")
        cw = f"{where}: classes.{c['name']}"
        try:
            g = parse_gfp(c["gfp"], where=f"{cw}.gfp")
            gfp_migratetype(g)
        except GfpError as e:
            raise ScenarioError(str(e)) from None
        if c["content"] not in CONTENT_BY_NAME:
            raise ScenarioError(f"{cw}.content: unknown content {c['content']!r} "
                                f"(known: {', '.join(CONTENT_BY_NAME)})")
        share = float(c["share"])
        if not (share > 0 and math.isfinite(share)):
            raise ScenarioError(f"{cw}.share: must be positive, got {c['share']!r}")
        life = float(c["lifetime_s"])
        if not (life > 0 and math.isfinite(life)):
            raise ScenarioError(f"{cw}.lifetime_s: must be positive, got {c['lifetime_s']!r}")
        orders = []
        for ok, ow in c["orders"].items():
            try:
                o = int(ok)
            except ValueError:
                raise ScenarioError(f"{cw}.orders: key {ok!r} is not an order number") from None
            if not 0 <= o <= C.MAX_PAGE_ORDER:
                raise ScenarioError(f"{cw}.orders: order {o} outside 0..{C.MAX_PAGE_ORDER}")
            if isinstance(ow, bool) or not isinstance(ow, (int, float)) or not ow >= 0:
                raise ScenarioError(f"{cw}.orders.{ok}: weight must be a number >= 0, got {ow!r}")
            orders.append((o, float(ow)))
        if not orders or sum(w for _, w in orders) <= 0:
            raise ScenarioError(f"{cw}.orders: needs at least one positive weight")
        classes.append(ClassSpec(c["name"], g, CONTENT_BY_NAME[c["content"]], share,
                                 tuple(orders), life))
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{where}: key 'classes': duplicate class names")
    return Scenario(name=doc.get("name", path.stem), description=doc["description"].strip(),
                    kind=doc["kind"], duration=duration, fill=fill, mem=doc.get("mem"),
                    classes=tuple(classes), path=str(path))


# ---------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------

def generate_churn(sc: Scenario, *, nr_pages: int, nr_cpus: int, seed: int,
                   duration: float | None = None) -> Workload:
    """Sustained alloc/free churn at a steady memory fill.

    Each class allocates at rate ``r * share`` with orders drawn from its
    order weights and exponentially distributed lifetimes of mean
    ``lifetime_s``.  The total rate ``r`` is chosen so that the expected
    allocated memory at steady state is ``fill * nr_pages``; because
    lifetimes are memoryless the run starts *in* steady state: at t=0 each
    class already holds a Poisson number of allocations (``rate * lifetime``),
    placed in random order, with fresh exponential residual lifetimes.
    """
    rng = np.random.default_rng(seed)
    dur = float(sc.duration if duration is None else duration)
    if not (dur > 0 and math.isfinite(dur)):
        raise ScenarioError(f"{sc.name}: duration must be positive, got {duration!r}")
    shares = np.array([c.share for c in sc.classes], float)
    shares /= shares.sum()
    mean_pages = []
    for c in sc.classes:
        o = np.array([x for x, _ in c.orders])
        w = np.array([x for _, x in c.orders])
        w = w / w.sum()
        mean_pages.append(float((w * (2.0 ** o)).sum()))
    mean_pages = np.array(mean_pages)
    life = np.array([c.lifetime_s for c in sc.classes])
    # fill * nr_pages = r * sum(share * mean_pages * lifetime)
    rate = sc.fill * nr_pages / float((shares * mean_pages * life).sum())
    parts_t, parts_order, parts_gfp, parts_content, parts_life, parts_owner = [], [], [], [], [], []
    for ci, c in enumerate(sc.classes):
        r = rate * shares[ci]
        n0 = rng.poisson(r * c.lifetime_s)           # already alive at t=0
        n1 = rng.poisson(r * dur)                    # arrivals during the run
        t = np.concatenate([np.zeros(n0), np.sort(rng.uniform(0.0, dur, n1))])
        o = np.array([x for x, _ in c.orders], np.int8)
        w = np.array([x for _, x in c.orders])
        orders = rng.choice(o, size=n0 + n1, p=w / w.sum())
        lt = rng.exponential(c.lifetime_s, n0 + n1)
        parts_t.append(t)
        parts_order.append(orders)
        parts_gfp.append(np.full(n0 + n1, c.gfp, np.int64))
        parts_content.append(np.full(n0 + n1, c.content, np.uint8))
        parts_life.append(lt)
        parts_owner.append(np.full(n0 + n1, ci, np.int32))
    t_alloc = np.concatenate(parts_t)
    order = np.concatenate(parts_order).astype(np.int8)
    gfp = np.concatenate(parts_gfp)
    content = np.concatenate(parts_content)
    lifetime = np.concatenate(parts_life)
    owner = np.concatenate(parts_owner)
    n = t_alloc.shape[0]
    # Interleave the t=0 population randomly; keep arrivals in time order.
    tie = rng.random(n)
    idx = np.lexsort((tie, t_alloc))
    t_alloc, order, gfp, content, lifetime, owner = (
        a[idx] for a in (t_alloc, order, gfp, content, lifetime, owner))
    handle = np.arange(n, dtype=np.int32)
    t_free = t_alloc + lifetime
    freed = t_free < dur
    ta_ns = np.round(t_alloc * 1e9).astype(np.int64)
    tf_ns = np.round(t_free[freed] * 1e9).astype(np.int64)
    nf = int(freed.sum())
    all_t = np.concatenate([ta_ns, tf_ns])
    kind = np.concatenate([np.full(n, C.OP_ALLOC, np.int8), np.full(nf, C.OP_FREE, np.int8)])
    all_order = np.concatenate([order, order[freed]])
    all_gfp = np.concatenate([gfp, gfp[freed]])
    all_handle = np.concatenate([handle, handle[freed]])
    all_content = np.concatenate([content, content[freed]])
    cpu = rng.integers(0, nr_cpus, n + nf).astype(np.int32)
    # Sort by time; an allocation always precedes its own free (lifetime > 0).
    seq = np.arange(n + nf)
    o2 = np.lexsort((seq, all_t))
    return Workload(
        name=sc.name, t=all_t[o2], kind=kind[o2], order=all_order[o2], gfp=all_gfp[o2],
        handle=all_handle[o2], cpu=cpu[o2], content=all_content[o2], nr_handles=n,
        duration_ns=int(round(dur * 1e9)), description=sc.description,
        meta={"rate_per_s": rate, "fill": sc.fill, "seed": seed,
              "classes": [c.name for c in sc.classes]},
        handle_owner=owner, owner_kind=np.array([owner_kind_of(c.content) for c in sc.classes], np.uint8),
        owner_names=[c.name for c in sc.classes],
    )


def owner_kind_of(content: int) -> int:
    """Anonymous memory and page tables belong to tasks; page cache to files."""
    if content in (C.KIND_ANON, C.KIND_PAGETABLE):
        return C.OWNER_TASK
    if content == C.KIND_FILE:
        return C.OWNER_FILE
    return C.OWNER_KERNEL


_TRACE_KEYS = {"name": str, "description": str, "kind": str, "trace": str, "mem": (str, int),
               "duration": (int, float), "comm": str, "init": str, "format": str}


def validate_trace_scenario(doc: dict, where: str, path: Path) -> dict:
    """``kind = "trace"``: a real trace replayed as a scenario."""
    _check_table(where, doc, _TRACE_KEYS, required=("description", "kind", "trace"))
    trace = Path(doc["trace"])
    if not trace.is_absolute():
        trace = (path.parent / trace).resolve()
    if not trace.exists():
        raise ScenarioError(f"{where}: key 'trace': {doc['trace']} does not exist ({trace})")
    init = doc.get("init", "auto")
    if init not in ("auto", "empty"):
        raise ScenarioError(f"{where}: key 'init': must be auto or empty, got {init!r}")
    dur = doc.get("duration")
    if dur is not None:
        dur = _pos(where, "duration", dur, allow_zero=False)
    return dict(trace=str(trace), comm=doc.get("comm"), init=init, duration=dur,
                format=doc.get("format"))


def build_workload(name_or_scenario, config, *, duration: float | None = None,
                   growth_scale: float = 1.0) -> Workload:
    """The workload of a scenario for a config (memory size, cpus and seed)."""
    sc = name_or_scenario if isinstance(name_or_scenario, Scenario) else load_scenario(name_or_scenario)
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not duration > 0 or not math.isfinite(duration)):
        raise ScenarioError(f"duration: must be a positive number of seconds, got {duration!r}")
    if sc.kind == "trace":
        # MODEL: a trace has no seed; every seed replays the same events
        from .replay import Snapshot, find_snapshot, trace_workload
        from .trace import read_trace
        p = sc.params
        tr = read_trace(p["trace"], fmt=p["format"], comm=p["comm"])
        snap = None
        if p["init"] == "auto":
            d = find_snapshot(p["trace"])
            snap = Snapshot.load(d) if d is not None else None
        wl, st = trace_workload(tr, nr_cpus=config.nr_cpus, nr_pages=config.nr_pages,
                                snapshot=snap, duration=duration or p["duration"],
                                zone_spans=config.zone_spans(),
                                pageblock_order=config.pageblock_order)
        wl.name = sc.name
        wl.meta["baseline_ops"] = st.prefill_ops
        wl.meta["replay"] = st.as_dict()
        return wl
    if sc.kind == "processes":
        from .config import parse_size
        wl = generate_processes(sc.params, name=sc.name, description=sc.description,
                                nr_pages=config.nr_pages, nr_cpus=config.nr_cpus,
                                seed=config.seed, duration=duration,
                                growth_scale=growth_scale, thp_defrag=config.thp_defrag)
        if sc.swap is not None:
            where = f"{Path(sc.path).name}: swap"
            if isinstance(sc.swap, float):
                if not 0 <= sc.swap <= 4:
                    raise ScenarioError(f"{where}: a fraction of memory must be in [0, 4], got {sc.swap}")
                wl.swap = int(sc.swap * config.nr_pages) * C.PAGE_SIZE
            elif str(sc.swap).strip() in ("0", "0G", "0M"):
                wl.swap = 0
            else:
                try:
                    wl.swap = parse_size(sc.swap, name=where)
                except ValueError as e:
                    raise ScenarioError(str(e)) from None
            if wl.swap > 4 * config.nr_pages * C.PAGE_SIZE:
                raise ScenarioError(f"{where}: {sc.swap} is more than 4x memory; the model allows at most 4x")
        return wl
    return generate_churn(sc, nr_pages=config.nr_pages, nr_cpus=config.nr_cpus,
                          seed=config.seed, duration=duration)


# ---------------------------------------------------------------------------
# "processes": tasks with anonymous working sets, page cache, kernel memory
# ---------------------------------------------------------------------------

_PROC_TOP = {"name": str, "description": str, "kind": str, "duration": (int, float),
             "mem": (str, int), "swap": (str, int, float), "anon": dict, "file": dict,
             "nonmovable": list, "growth": dict, "jobs": dict, "thp_bursts": list,
             "compact_memory_at": list}
_ANON_KEYS = {"tasks": int, "footprint": (int, float), "ramp_s": (int, float),
              "touch_rate_per_gib": (int, float), "hot_fraction": (int, float),
              "hot_share": (int, float), "thp_share": (int, float), "gfp": str,
              "thp_madvise": bool, "pagetable_ratio": (int, float), "pinned_share": (int, float)}
_FILE_KEYS = {"files": int, "read_mib_s_per_gib": (int, float), "reread_share": (int, float),
              "reread_window_s": (int, float), "dirty_share": (int, float), "gfp": str,
              "orders": dict, "initial": (int, float), "write_mib_s_per_gib": (int, float)}
_JOB_KEYS = {"concurrency": int, "lifetime_s": (int, float), "footprint": (int, float),
             "gfp": str, "thp_share": (int, float), "thp_madvise": bool,
             "pagetable_ratio": (int, float), "stack_pages": int, "slab_pages": int,
             "touches_per_page": (int, float), "read_pages_per_gib": (int, float),
             "hot_share": (int, float), "hot_set": (int, float), "write_pages_per_gib": (int, float),
             "dentry_pages": int,
             "dentry_lifetime_s": (int, float), "start_s": (int, float)}
_BURST_KEYS = {"name": str, "start_s": (int, float), "every_s": (int, float),
               "footprint": (int, float), "ramp_s": (int, float), "hold_s": (int, float),
               "madvise": bool}
_NM_KEYS = {"name": str, "gfp": str, "content": str, "rate_per_gib": (int, float),
            "orders": dict, "lifetime_s": (int, float), "fs_locked": bool,
            "burst_every_s": (int, float), "burst_len_s": (int, float),
            "burst_start_s": (int, float)}
_GROWTH_KEYS = {"mib_s_per_gib": (int, float), "gfp": str, "content": str, "orders": dict,
                "start_s": (int, float)}


def _check_table(where, table, keys, required=()):
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}: expected a table")
    for k, v in table.items():
        if k not in keys:
            raise ScenarioError(f"{where}: unknown key {k!r} (known: {', '.join(keys)})")
        _check_type(where, k, v, keys[k])
    for k in required:
        if k not in table:
            raise ScenarioError(f"{where}: missing key {k!r}")


def _frac(where, key, v, lo=0.0, hi=1.0, lo_open=False):
    v = float(v)
    ok = (v > lo if lo_open else v >= lo) and v <= hi and math.isfinite(v)
    if not ok:
        raise ScenarioError(f"{where}.{key}: must be between {lo} and {hi}, got {v!r}")
    return v


def _pos(where, key, v, allow_zero=True):
    v = float(v)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ScenarioError(f"{where}.{key}: must be a {'non-negative' if allow_zero else 'positive'} "
                            f"number, got {v!r}")
    return v


def _orders(where, table):
    out = []
    for ok, ow in table.items():
        try:
            o = int(ok)
        except ValueError:
            raise ScenarioError(f"{where}.orders: key {ok!r} is not an order number") from None
        if not 0 <= o <= C.MAX_PAGE_ORDER:
            raise ScenarioError(f"{where}.orders: order {o} outside 0..{C.MAX_PAGE_ORDER}")
        if isinstance(ow, bool) or not isinstance(ow, (int, float)) or not ow >= 0:
            raise ScenarioError(f"{where}.orders.{ok}: weight must be a number >= 0, got {ow!r}")
        out.append((o, float(ow)))
    if not out or sum(w for _, w in out) <= 0:
        raise ScenarioError(f"{where}.orders: needs at least one positive weight")
    return tuple(out)


def _gfp(where, s):
    try:
        g = parse_gfp(s, where=f"{where}.gfp")
        gfp_migratetype(g)
        return g
    except GfpError as e:
        raise ScenarioError(str(e)) from None


def _content(where, s):
    if s not in CONTENT_BY_NAME:
        raise ScenarioError(f"{where}.content: unknown content {s!r} (known: {', '.join(CONTENT_BY_NAME)})")
    return CONTENT_BY_NAME[s]


def validate_processes(doc: dict, where: str) -> dict:
    """Validate a ``kind = "processes"`` scenario document; returns normalised params."""
    for k, v in doc.items():
        if k not in _PROC_TOP:
            raise ScenarioError(f"{where}: unknown key {k!r} (known: {', '.join(_PROC_TOP)})")
        _check_type(where, k, v, _PROC_TOP[k])
    p = {"duration": _pos(where, "duration", doc.get("duration", 0), allow_zero=False)}
    a = doc.get("anon", {})
    _check_table(f"{where}: anon", a, _ANON_KEYS)
    aw = f"{where}: anon"
    p["anon"] = dict(
        tasks=int(a.get("tasks", 4)), footprint=_frac(aw, "footprint", a.get("footprint", 0.5)),
        ramp_s=_pos(aw, "ramp_s", a.get("ramp_s", 5.0)),
        touch_rate_per_gib=_pos(aw, "touch_rate_per_gib", a.get("touch_rate_per_gib", 20000)),
        hot_fraction=_frac(aw, "hot_fraction", a.get("hot_fraction", 0.2), lo_open=True),
        hot_share=_frac(aw, "hot_share", a.get("hot_share", 0.9)),
        thp_share=_frac(aw, "thp_share", a.get("thp_share", 0.0)),
        gfp=_gfp(aw, a.get("gfp", "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP")),
        thp_madvise=bool(a.get("thp_madvise", True)),
        pagetable_ratio=_frac(aw, "pagetable_ratio", a.get("pagetable_ratio", 1 / 512)),
        pinned_share=_frac(aw, "pinned_share", a.get("pinned_share", 0.0)),
    )
    if p["anon"]["tasks"] < 1:
        raise ScenarioError(f"{aw}.tasks: must be at least 1, got {p['anon']['tasks']}")
    f = doc.get("file", {})
    _check_table(f"{where}: file", f, _FILE_KEYS)
    fw = f"{where}: file"
    p["file"] = dict(
        files=int(f.get("files", 16)),
        read_mib_s_per_gib=_pos(fw, "read_mib_s_per_gib", f.get("read_mib_s_per_gib", 0.0)),
        reread_share=_frac(fw, "reread_share", f.get("reread_share", 0.0)),
        reread_window_s=_pos(fw, "reread_window_s", f.get("reread_window_s", 10.0), allow_zero=False),
        dirty_share=_frac(fw, "dirty_share", f.get("dirty_share", 0.0)),
        gfp=_gfp(fw, f.get("gfp", "GFP_HIGHUSER_MOVABLE|__GFP_COMP")),
        orders=_orders(fw, f.get("orders", {"0": 1.0})),
        initial=_frac(fw, "initial", f.get("initial", 0.0)),
        write_mib_s_per_gib=_pos(fw, "write_mib_s_per_gib", f.get("write_mib_s_per_gib", 0.0)),
    )
    if p["file"]["files"] < 1:
        raise ScenarioError(f"{fw}.files: must be at least 1")
    nms = []
    for i, c in enumerate(doc.get("nonmovable", [])):
        cw = f"{where}: nonmovable[{i}]"
        _check_table(cw, c, _NM_KEYS, required=("name", "gfp", "content", "rate_per_gib",
                                                "orders", "lifetime_s"))
        cw = f"{where}: nonmovable.{c['name']}"
        content = _content(cw, c["content"])
        if c.get("fs_locked", False):
            content |= C.CONTENT_FS_LOCKED
        burst = None
        if any(k in c for k in ("burst_every_s", "burst_len_s", "burst_start_s")):
            if "burst_every_s" not in c or "burst_len_s" not in c:
                raise ScenarioError(f"{cw}: bursts need both burst_every_s and burst_len_s")
            every = _pos(cw, "burst_every_s", c["burst_every_s"], allow_zero=False)
            length = _pos(cw, "burst_len_s", c["burst_len_s"], allow_zero=False)
            if length > every:
                raise ScenarioError(f"{cw}.burst_len_s: {length} is longer than burst_every_s "
                                    f"{every}")
            burst = (every, length, _pos(cw, "burst_start_s", c.get("burst_start_s", 0.0)))
        nms.append(dict(name=c["name"], gfp=_gfp(cw, c["gfp"]), content=content,
                        rate_per_gib=_pos(cw, "rate_per_gib", c["rate_per_gib"]),
                        orders=_orders(cw, c["orders"]),
                        lifetime_s=_pos(cw, "lifetime_s", c["lifetime_s"], allow_zero=False),
                        burst=burst))
    p["nonmovable"] = nms
    g = doc.get("growth")
    if g is not None:
        gw = f"{where}: growth"
        _check_table(gw, g, _GROWTH_KEYS, required=("mib_s_per_gib", "gfp", "content", "orders"))
        p["growth"] = dict(mib_s_per_gib=_pos(gw, "mib_s_per_gib", g["mib_s_per_gib"]),
                           gfp=_gfp(gw, g["gfp"]), content=_content(gw, g["content"]),
                           orders=_orders(gw, g["orders"]),
                           start_s=_pos(gw, "start_s", g.get("start_s", 0.0)))
    else:
        p["growth"] = None
    j = doc.get("jobs")
    if j is not None:
        jw = f"{where}: jobs"
        _check_table(jw, j, _JOB_KEYS, required=("concurrency", "lifetime_s", "footprint"))
        p["jobs"] = dict(
            concurrency=int(j["concurrency"]),
            lifetime_s=_pos(jw, "lifetime_s", j["lifetime_s"], allow_zero=False),
            footprint=_frac(jw, "footprint", j["footprint"]),
            gfp=_gfp(jw, j.get("gfp", "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP")),
            thp_share=_frac(jw, "thp_share", j.get("thp_share", 0.0)),
            thp_madvise=bool(j.get("thp_madvise", False)),
            pagetable_ratio=_frac(jw, "pagetable_ratio", j.get("pagetable_ratio", 1 / 512)),
            stack_pages=_count(jw, "stack_pages", j.get("stack_pages", 4)),
            slab_pages=_count(jw, "slab_pages", j.get("slab_pages", 8)),
            touches_per_page=_pos(jw, "touches_per_page", j.get("touches_per_page", 1.0)),
            read_pages_per_gib=_pos(jw, "read_pages_per_gib", j.get("read_pages_per_gib", 0)),
            hot_share=_frac(jw, "hot_share", j.get("hot_share", 0.0)),
            hot_set=_frac(jw, "hot_set", j.get("hot_set", 0.0)),
            write_pages_per_gib=_pos(jw, "write_pages_per_gib", j.get("write_pages_per_gib", 0)),
            dentry_pages=_count(jw, "dentry_pages", j.get("dentry_pages", 0)),
            dentry_lifetime_s=_pos(jw, "dentry_lifetime_s", j.get("dentry_lifetime_s", 60.0),
                                   allow_zero=False),
            start_s=_pos(jw, "start_s", j.get("start_s", 0.0)),
        )
        if p["jobs"]["concurrency"] < 1:
            raise ScenarioError(f"{jw}.concurrency: must be at least 1, got {p['jobs']['concurrency']}")
        if p["jobs"]["hot_share"] > 0 and p["jobs"]["hot_set"] <= 0:
            raise ScenarioError(f"{jw}.hot_set: must be positive when hot_share > 0")
    else:
        p["jobs"] = None
    bursts = []
    for i, b in enumerate(doc.get("thp_bursts", [])):
        bw = f"{where}: thp_bursts[{i}]"
        _check_table(bw, b, _BURST_KEYS, required=("every_s", "footprint", "hold_s"))
        bursts.append(dict(
            name=str(b.get("name", f"burst{i}")),
            start_s=_pos(bw, "start_s", b.get("start_s", 0.0)),
            every_s=_pos(bw, "every_s", b["every_s"], allow_zero=False),
            footprint=_frac(bw, "footprint", b["footprint"]),
            ramp_s=_pos(bw, "ramp_s", b.get("ramp_s", 0.2)),
            hold_s=_pos(bw, "hold_s", b["hold_s"], allow_zero=False),
            madvise=bool(b.get("madvise", True))))
    p["thp_bursts"] = bursts
    cm = []
    for i, t in enumerate(doc.get("compact_memory_at", [])):
        cm.append(_pos(f"{where}: compact_memory_at[{i}]", "t", t))
    p["compact_memory_at"] = cm
    return p


def _count(where, key, v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ScenarioError(f"{where}.{key}: must be a non-negative integer, got {v!r}")
    return v


def generate_processes(p: dict, *, name: str, description: str, nr_pages: int, nr_cpus: int,
                       seed: int, duration: float | None = None, growth_scale: float = 1.0,
                       thp_defrag: str = "madvise") -> Workload:
    """A production-like machine: tasks fault in anonymous working sets and
    keep touching them (hot/cold), files are streamed into the page cache and
    partly re-read or dirtied (or written), kernel memory churns, optionally a
    non-movable footprint grows, short-lived jobs (a parallel build) come and
    go, and bursts of THP faults arrive.  Rates scale with memory size ("per
    GiB").  THP faults take their gfp mask from ``thp_defrag`` and whether
    the region is MADV_HUGEPAGE (:func:`~defragsim.gfp.vma_thp_gfp_mask`)."""
    rng = np.random.default_rng(seed)
    dur = float(p["duration"] if duration is None else duration)
    gib = nr_pages * C.PAGE_SIZE / (1 << 30)
    cols = {k: [] for k in ("t", "kind", "order", "gfp", "handle", "content")}
    h_owner = []
    owner_kind = []
    owner_names = []
    next_h = [0]

    def new_handles(n, owner):
        """``n`` new handles owned by ``owner`` (one id, or one per handle)."""
        h = np.arange(next_h[0], next_h[0] + n, dtype=np.int64)
        next_h[0] += n
        h_owner.append(np.broadcast_to(np.asarray(owner, np.int32), (n,)).copy())
        return h

    def emit(t, kind, order, gfp, handle, content):
        n = len(t)
        cols["t"].append(np.asarray(t, np.float64))
        cols["kind"].append(np.full(n, kind, np.int8))
        cols["order"].append(np.broadcast_to(np.asarray(order, np.int8), (n,)).copy())
        cols["gfp"].append(np.broadcast_to(np.asarray(gfp, np.int64), (n,)).copy())
        cols["handle"].append(np.asarray(handle, np.int64))
        cols["content"].append(np.broadcast_to(np.asarray(content, np.uint8), (n,)).copy())

    def pick_orders(orders, n):
        o = np.array([x for x, _ in orders], np.int8)
        w = np.array([x for _, x in orders])
        return rng.choice(o, size=n, p=w / w.sum())

    # --- anonymous tasks ------------------------------------------------------
    a = p["anon"]
    ntask = a["tasks"]
    total_anon = int(a["footprint"] * nr_pages)
    sizes = rng.dirichlet(np.full(ntask, 4.0)) * total_anon
    task_handles = []
    for ti in range(ntask):
        owner = len(owner_kind)
        owner_kind.append(C.OWNER_TASK)
        owner_names.append(f"task{ti}")
        pages = int(sizes[ti])
        n_thp = int(pages * a["thp_share"]) // 512
        n_small = max(pages - n_thp * 512, 0)
        hs = new_handles(n_small, owner)
        ts = np.sort(rng.uniform(0, min(a["ramp_s"], dur), n_small)) if a["ramp_s"] > 0 else np.zeros(n_small)
        content = np.where(rng.random(n_small) < a["pinned_share"],
                           C.KIND_ANON | C.CONTENT_PINNED, C.KIND_ANON) if a["pinned_share"] \
            else C.KIND_ANON
        emit(ts, C.OP_ALLOC, 0, a["gfp"], hs, content)
        ht = new_handles(n_thp, owner)
        tt = np.sort(rng.uniform(0, min(a["ramp_s"], dur), n_thp)) if a["ramp_s"] > 0 else np.zeros(n_thp)
        emit(tt, C.OP_ALLOC, HPAGE_PMD_ORDER, vma_thp_gfp_mask(thp_defrag, a["thp_madvise"]), ht,
             C.KIND_ANON)
        task_handles.append((hs, ht))
        # page tables: one page per 1/pagetable_ratio anon pages, unmovable
        npt = max(int(pages * a["pagetable_ratio"]), 1)
        hp = new_handles(npt, owner)
        tp = np.sort(rng.uniform(0, min(a["ramp_s"], dur), npt)) if a["ramp_s"] > 0 else np.zeros(npt)
        emit(tp, C.OP_ALLOC, 0, parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO"), hp, C.KIND_PAGETABLE)
    # touches: hot/cold accesses to each task's pages (touches of pages not yet
    # faulted in are no-ops in the model)
    ntouch = rng.poisson(a["touch_rate_per_gib"] * gib * dur)
    if ntouch and total_anon:
        w = sizes / sizes.sum()
        who = rng.choice(ntask, size=ntouch, p=w)
        tt = rng.uniform(0, dur, ntouch)
        hot = rng.random(ntouch) < a["hot_share"]
        hh = np.empty(ntouch, np.int64)
        # the touches of each task, in time-draw order (one stable sort, not a
        # pass over all touches per task)
        by_task = np.argsort(who, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(who, minlength=ntask))])
        for ti in range(ntask):
            sel = by_task[bounds[ti]:bounds[ti + 1]]
            hs, ht = task_handles[ti]
            allh = np.concatenate([hs, ht])
            if len(allh) == 0:
                hh[sel] = -1
                continue
            perm = rng.permutation(allh)
            nhot = max(int(len(perm) * a["hot_fraction"]), 1)
            k = len(sel)
            r = rng.random(k)
            hsel = hot[sel]
            idx = np.where(hsel, (r * nhot).astype(np.int64),
                           nhot + (r * max(len(perm) - nhot, 1)).astype(np.int64))
            idx = np.minimum(idx, len(perm) - 1)
            hh[sel] = perm[idx]
        ok = hh >= 0
        emit(tt[ok], C.OP_TOUCH, 0, 0, hh[ok], C.KIND_ANON)

    # --- page cache -------------------------------------------------------------
    f = p["file"]
    file_owner0 = len(owner_kind)
    for fi in range(f["files"]):
        owner_kind.append(C.OWNER_FILE)
        owner_names.append(f"file{fi}")
    n_init = int(f["initial"] * nr_pages)
    if n_init:
        orders = pick_orders(f["orders"], n_init)
        hi = new_handles(n_init, file_owner0 + rng.integers(0, f["files"], n_init))
        emit(np.zeros(n_init), C.OP_ALLOC, orders, f["gfp"], hi, C.KIND_FILE)
    rate = f["read_mib_s_per_gib"] * gib * (1 << 20) / C.PAGE_SIZE
    if rate > 0:
        orders_mean = np.mean([2 ** o * w for o, w in f["orders"]]) / np.mean([w for _, w in f["orders"]])
        n = rng.poisson(rate * dur / max(orders_mean, 1))
        t = np.sort(rng.uniform(0, dur, n))
        orders = pick_orders(f["orders"], n)
        hf = new_handles(n, file_owner0 + rng.integers(0, f["files"], n))
        emit(t, C.OP_ALLOC, orders, f["gfp"], hf, C.KIND_FILE)
        if f["reread_share"] > 0 and n:
            nr = rng.poisson(n * f["reread_share"])
            tr = rng.uniform(0, dur, nr)
            # re-read a page read within the last reread_window_s
            lo = np.searchsorted(t, tr - f["reread_window_s"])
            hi = np.searchsorted(t, tr)
            ok = hi > lo
            j = lo[ok] + (rng.random(int(ok.sum())) * (hi[ok] - lo[ok])).astype(np.int64)
            emit(tr[ok], C.OP_TOUCH, 0, 0, hf[j], C.KIND_FILE)
        if f["dirty_share"] > 0 and n:
            nd = rng.poisson(n * f["dirty_share"])
            j = rng.integers(0, n, nd)
            td = t[j] + rng.exponential(0.01, nd)
            emit(td, C.OP_DIRTY, 0, 0, hf[j], C.KIND_FILE)

    wrate = f["write_mib_s_per_gib"] * gib * (1 << 20) / C.PAGE_SIZE
    if wrate > 0:
        # streaming writes (fio, a log, objects): new page cache, dirtied at once
        orders_mean = np.mean([2 ** o * w for o, w in f["orders"]]) / np.mean([w for _, w in f["orders"]])
        n = rng.poisson(wrate * dur / max(orders_mean, 1))
        t = np.sort(rng.uniform(0, dur, n))
        hw = new_handles(n, file_owner0 + rng.integers(0, f["files"], n))
        emit(t, C.OP_ALLOC, pick_orders(f["orders"], n), f["gfp"], hw, C.KIND_FILE)
        emit(t, C.OP_DIRTY, 0, 0, hw, C.KIND_FILE)

    # --- non-movable churn -----------------------------------------------------
    kern_owner = len(owner_kind)
    owner_kind.append(C.OWNER_KERNEL)
    owner_names.append("kernel")
    for c in p["nonmovable"]:
        r = c["rate_per_gib"] * gib
        if c["burst"] is not None:
            # bursts: rate_per_gib applies inside each burst window only
            every, length, start = c["burst"]
            parts = []
            b0 = start
            while b0 < dur:
                b1 = min(b0 + length, dur)
                parts.append(rng.uniform(b0, b1, rng.poisson(r * (b1 - b0))))
                b0 += every
            t = np.sort(np.concatenate(parts)) if parts else np.zeros(0)
            n = len(t)
        else:
            n0 = rng.poisson(r * c["lifetime_s"]) if c["lifetime_s"] < 1e6 else 0
            n1 = rng.poisson(r * dur)
            t = np.concatenate([np.zeros(n0), np.sort(rng.uniform(0, dur, n1))])
            n = n0 + n1
        hs = new_handles(n, kern_owner)
        orders = pick_orders(c["orders"], n)
        emit(t, C.OP_ALLOC, orders, c["gfp"], hs, c["content"])
        life = rng.exponential(c["lifetime_s"], n)
        tf = t + life
        fr = tf < dur
        emit(tf[fr], C.OP_FREE, orders[fr], c["gfp"], hs[fr], c["content"])

    # --- growing non-movable footprint ----------------------------------------------
    g = p["growth"]
    if g is not None and g["mib_s_per_gib"] * growth_scale > 0:
        pages_s = g["mib_s_per_gib"] * growth_scale * gib * (1 << 20) / C.PAGE_SIZE
        om = np.mean([2 ** o * w for o, w in g["orders"]]) / np.mean([w for _, w in g["orders"]])
        span = max(dur - g["start_s"], 0.0)
        n = rng.poisson(pages_s * span / max(om, 1))
        t = np.sort(rng.uniform(g["start_s"], dur, n)) if span > 0 else np.zeros(0)
        hs = new_handles(n, kern_owner)
        emit(t, C.OP_ALLOC, pick_orders(g["orders"], n), g["gfp"], hs, g["content"])

    # --- short-lived jobs (a parallel build: make -jN) ------------------------------
    j = p["jobs"]
    if j is not None and dur > j["start_s"]:
        _emit_jobs(j, rng=rng, dur=dur, nr_pages=nr_pages, thp_defrag=thp_defrag,
                   new_handles=new_handles, emit=emit, owner_kind=owner_kind,
                   owner_names=owner_names, kern_owner=kern_owner,
                   file_owner0=file_owner0, nfiles=f["files"])

    # --- bursts of THP faults (MADV_HUGEPAGE regions, or not) -----------------------
    for b in p["thp_bursts"]:
        gfp = vma_thp_gfp_mask(thp_defrag, b["madvise"])
        nthp = int(b["footprint"] * nr_pages) >> HPAGE_PMD_ORDER
        k = 0
        t0 = b["start_s"]
        while t0 < dur and nthp:
            owner = len(owner_kind)
            owner_kind.append(C.OWNER_TASK)
            owner_names.append(f"{b['name']}{k}")
            hb = new_handles(nthp, owner)
            tb = t0 + np.sort(rng.uniform(0, b["ramp_s"], nthp))
            emit(tb, C.OP_ALLOC, HPAGE_PMD_ORDER, gfp, hb, C.KIND_ANON)
            tf = tb + b["hold_s"]
            fr = tf < dur
            emit(tf[fr], C.OP_FREE, 0, 0, hb[fr], C.KIND_ANON)
            k += 1
            t0 += b["every_s"]

    # --- echo 1 > /proc/sys/vm/compact_memory -----------------------------------------
    for tc in p["compact_memory_at"]:
        if tc < dur:
            emit(np.array([tc]), C.OP_COMPACT_MEMORY, 0, 0, np.array([0]), 0)

    t = np.concatenate(cols["t"]) if cols["t"] else np.zeros(0)
    order = np.argsort(t, kind="stable")
    t_ns = np.round(t[order] * 1e9).astype(np.int64)
    nops = len(t_ns)
    nh = next_h[0]
    return Workload(
        name=name, t=t_ns, kind=np.concatenate(cols["kind"])[order],
        order=np.concatenate(cols["order"])[order], gfp=np.concatenate(cols["gfp"])[order],
        handle=np.concatenate(cols["handle"])[order].astype(np.int32),
        cpu=rng.integers(0, nr_cpus, nops).astype(np.int32),
        content=np.concatenate(cols["content"])[order], nr_handles=nh,
        duration_ns=int(round(dur * 1e9)), description=description,
        meta={"seed": seed, "gib": gib, "growth_scale": growth_scale},
        handle_owner=np.concatenate(h_owner) if h_owner else np.zeros(0, np.int32),
        owner_kind=np.array(owner_kind, np.uint8), owner_names=owner_names,
    )


def _emit_jobs(j, *, rng, dur, nr_pages, thp_defrag, new_handles, emit, owner_kind, owner_names,
               kern_owner, file_owner0, nfiles):
    """Jobs of a parallel build: ``concurrency`` slots each run jobs back to
    back.  A job (its own OOM-killable task) gets a kernel stack and task/mm
    slab at fork, faults its anon memory (with page tables) over the first
    third of its life while touching it, reads sources (a share from a hot
    set of headers that stays in the page cache, the rest new page cache),
    writes its object file (dirty page cache that outlives it), leaves
    dentries/inodes behind (reclaimable slab), and frees its memory at exit."""
    gfp_thp = vma_thp_gfp_mask(thp_defrag, j["thp_madvise"])
    gib = nr_pages * C.PAGE_SIZE / (1 << 30)
    gfp_kernel = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO")
    gfp_stack = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO")        # THREADINFO_GFP (vmalloc'd stack)
    gfp_slab = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP")
    gfp_dentry = parse_gfp("GFP_KERNEL|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP")
    gfp_file = parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP")
    mean_pages = j["footprint"] * nr_pages / j["concurrency"]
    hot = None
    if j["hot_share"] > 0:
        # the hot set (headers): in the page cache from the start
        nhot = max(int(j["hot_set"] * nr_pages), 1)
        hot = new_handles(nhot, file_owner0 + rng.integers(0, nfiles, nhot))
        emit(np.zeros(nhot), C.OP_ALLOC, 0, gfp_file, hot, C.KIND_FILE)
    k = 0
    for slot in range(j["concurrency"]):
        t0 = j["start_s"] + rng.uniform(0, j["lifetime_s"])   # staggered starts
        while t0 < dur:
            life = rng.gamma(2.0, j["lifetime_s"] / 2.0)
            t_exit = t0 + life
            owner = len(owner_kind)
            owner_kind.append(C.OWNER_TASK)
            owner_names.append(f"job{k}")
            k += 1
            pages = int(rng.gamma(4.0, mean_pages / 4.0))
            n_thp = int(pages * j["thp_share"]) >> HPAGE_PMD_ORDER
            n_small = max(pages - (n_thp << HPAGE_PMD_ORDER), 0)
            ramp = life / 3.0
            # fork: kernel stack and task/mm slab
            hk = new_handles(j["stack_pages"] + j["slab_pages"], owner)
            emit(np.full(j["stack_pages"], t0), C.OP_ALLOC, 0, gfp_stack, hk[:j["stack_pages"]],
                 C.KIND_KERNEL)
            emit(np.full(j["slab_pages"], t0), C.OP_ALLOC, 0, gfp_slab, hk[j["stack_pages"]:],
                 C.KIND_SLAB_UNRECLAIMABLE)
            # anon memory and page tables
            ha = new_handles(n_small, owner)
            ta = t0 + np.sort(rng.uniform(0, ramp, n_small))
            emit(ta, C.OP_ALLOC, 0, j["gfp"], ha, C.KIND_ANON)
            ht = new_handles(n_thp, owner)
            tt = t0 + np.sort(rng.uniform(0, ramp, n_thp))
            emit(tt, C.OP_ALLOC, HPAGE_PMD_ORDER, gfp_thp, ht, C.KIND_ANON)
            npt = max(int(pages * j["pagetable_ratio"]), 1)
            hp = new_handles(npt, owner)
            emit(t0 + np.sort(rng.uniform(0, ramp, npt)), C.OP_ALLOC, 0, gfp_kernel, hp,
                 C.KIND_PAGETABLE)
            allh = np.concatenate([ha, ht])
            ntouch = rng.poisson(j["touches_per_page"] * len(allh)) if len(allh) else 0
            if ntouch:
                tt_ = rng.uniform(t0 + ramp, t_exit, ntouch)
                emit(tt_, C.OP_TOUCH, 0, 0, allh[rng.integers(0, len(allh), ntouch)], C.KIND_ANON)
            # source reads
            nr = int(rng.poisson(j["read_pages_per_gib"] * gib))
            if nr:
                nh = rng.binomial(nr, j["hot_share"]) if hot is not None else 0
                if nh:
                    emit(rng.uniform(t0, t_exit, nh), C.OP_TOUCH, 0, 0,
                         hot[rng.integers(0, len(hot), nh)], C.KIND_FILE)
                nn = nr - nh
                if nn:
                    hr = new_handles(nn, file_owner0 + rng.integers(0, nfiles, nn))
                    emit(rng.uniform(t0, t_exit, nn), C.OP_ALLOC, 0, gfp_file, hr, C.KIND_FILE)
            # the object file: written near the end, outlives the job
            nw = int(rng.poisson(j["write_pages_per_gib"] * gib))
            if nw:
                hw = new_handles(nw, file_owner0 + rng.integers(0, nfiles, nw))
                tw = np.sort(rng.uniform(t0 + 0.8 * life, t_exit, nw))
                emit(tw, C.OP_ALLOC, 0, gfp_file, hw, C.KIND_FILE)
                emit(tw, C.OP_DIRTY, 0, 0, hw, C.KIND_FILE)
            # dentries and inodes of the files it opened
            if j["dentry_pages"]:
                hd = new_handles(j["dentry_pages"], kern_owner)
                td = rng.uniform(t0, t_exit, j["dentry_pages"])
                emit(td, C.OP_ALLOC, 0, gfp_dentry, hd, C.KIND_SLAB_RECLAIMABLE)
                tf = td + rng.exponential(j["dentry_lifetime_s"], j["dentry_pages"])
                fr = tf < dur
                emit(tf[fr], C.OP_FREE, 0, 0, hd[fr], C.KIND_SLAB_RECLAIMABLE)
            # exit: the task's memory is freed
            if t_exit < dur:
                mine = np.concatenate([hk, ha, ht, hp])
                emit(np.full(len(mine), t_exit), C.OP_FREE, 0, 0, mine, C.KIND_ANON)
            t0 = t_exit
