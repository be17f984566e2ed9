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
from .gfp import GfpError, gfp_migratetype, parse_gfp


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message names file, key and problem."""


CONTENT_BY_NAME = {n: i for i, n in enumerate(C.KIND_NAMES) if i != C.KIND_NONE}


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


def list_scenarios() -> dict[str, str]:
    """``{name: one-line description}`` of the shipped scenarios."""
    out = {}
    for p in sorted(scenario_dir().glob("*.toml")):
        try:
            with open(p, "rb") as f:
                doc = tomllib.load(f)
            out[p.stem] = str(doc.get("description", "")).strip().splitlines()[0]
        except (tomllib.TOMLDecodeError, IndexError, OSError):
            out[p.stem] = "(unreadable scenario file)"
    return out


def scenario_path(name: str) -> Path:
    p = Path(name)
    if p.suffix == ".toml" and p.exists():
        return p
    cand = scenario_dir() / f"{name}.toml"
    if not cand.exists():
        known = ", ".join(list_scenarios()) or "(none)"
        raise ScenarioError(f"unknown scenario {name!r}; known scenarios: {known}")
    return cand


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
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{where}: not valid TOML: {e}") from None
    for k, v in doc.items():
        if k not in _TOP_KEYS:
            raise ScenarioError(f"{where}: unknown key {k!r} (known: {', '.join(_TOP_KEYS)})")
        _check_type(where, k, v, _TOP_KEYS[k])
    for k in ("description", "kind", "duration", "fill", "classes"):
        if k not in doc:
            raise ScenarioError(f"{where}: missing key {k!r}")
    if doc["kind"] != "churn":
        raise ScenarioError(f"{where}: key 'kind': unknown workload kind {doc['kind']!r} "
                            "(known: churn)")
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


def build_workload(name_or_scenario, config, *, duration: float | None = None) -> Workload:
    """The workload of a scenario for a config (memory size, cpus and seed)."""
    sc = name_or_scenario if isinstance(name_or_scenario, Scenario) else load_scenario(name_or_scenario)
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not duration > 0 or not math.isfinite(duration)):
        raise ScenarioError(f"duration: must be a positive number of seconds, got {duration!r}")
    return generate_churn(sc, nr_pages=config.nr_pages, nr_cpus=config.nr_cpus,
                          seed=config.seed, duration=duration)
