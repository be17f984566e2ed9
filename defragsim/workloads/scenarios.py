"""Scenario files: the registry of ``data/scenarios`` and their validation.

Scenario files live in ``data/scenarios/*.toml`` (or ``.yaml``).  Every key is
documented in the file itself and validated on load: an unknown key, a wrong
type or an impossible value raises :class:`ScenarioError` with a one-line
message naming the file, the key and the problem.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

from .. import constants as C
from .textfile import read_text
from ..errors import GfpError, ScenarioError
from ..gfp import gfp_migratetype, parse_gfp
from .estimate import MAX_DURATION_S

CONTENT_BY_NAME = {n: i for i, n in enumerate(C.KIND_NAMES) if i != C.KIND_NONE}

def scenario_dir() -> Path:
    """``data/scenarios`` of the source tree (or of an installed copy)."""
    here = Path(__file__).resolve().parents[1]      # the defragsim package
    for cand in (here.parent / "data" / "scenarios", here / "data" / "scenarios"):
        if cand.is_dir():
            return cand
    raise ScenarioError(f"scenario folder data/scenarios not found next to {here}")


SCENARIO_SUFFIXES = (".toml", ".yaml", ".yml")


def read_scenario_doc(path: Path) -> dict:
    """A scenario file as a dict: TOML, or YAML (``.yaml``/``.yml``).  A file
    that cannot be read, is not UTF-8 text, does not parse or nests too
    deeply raises ScenarioError naming it."""
    where = path.name
    text = read_text(path, ScenarioError, where, read_where=str(path))
    try:
        if path.suffix in (".yaml", ".yml"):
            doc = _load_yaml(where, text)
        else:
            doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{where}: not valid TOML: {e}") from None
    except RecursionError:
        raise ScenarioError(f"{where}: nested too deeply to be a scenario") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: expected a mapping at the top, got {type(doc).__name__}")
    return doc


def _load_yaml(where: str, text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ScenarioError(f"{where}: not valid YAML: {' '.join(str(e).split())}") from None


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
        if p.is_dir():
            raise ScenarioError(f"{p}: is a directory, not a scenario file")
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
    "fill": (int, float), "mem": (str, int), "classes": list, "nr_cpus": int,
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
    #: the machine's CPUs (Config.nr_cpus when the config leaves it to the
    #: workload); None: the config's default
    nr_cpus: int | None = None


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
                        swap=doc.get("swap"), nr_cpus=_nr_cpus(where, doc))
    return _load_churn(doc, where, path)


def _load_churn(doc: dict, where: str, path: Path) -> Scenario:
    """``kind = "churn"``: classes of allocations at a steady fill."""
    _check_table(where, doc, _TOP_KEYS, required=("description", "kind", "duration", "fill",
                                                   "classes"))
    if doc["kind"] != "churn":
        raise ScenarioError(f"{where}: key 'kind': unknown workload kind {doc['kind']!r} "
                            "(known: churn, processes, trace)")
    duration = _duration(where, doc["duration"])
    fill = float(doc["fill"])
    if not (0 < fill < 1):
        raise ScenarioError(f"{where}: key 'fill': must be between 0 and 1 (a fraction of "
                            f"memory), got {doc['fill']!r}")
    if not doc["classes"]:
        raise ScenarioError(f"{where}: key 'classes': at least one class is needed")
    classes = [_churn_class(where, i, c) for i, c in enumerate(doc["classes"])]
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{where}: key 'classes': duplicate class names")
    return Scenario(name=doc.get("name", path.stem), description=doc["description"].strip(),
                    kind=doc["kind"], duration=duration, fill=fill, mem=doc.get("mem"),
                    classes=tuple(classes), path=str(path), nr_cpus=_nr_cpus(where, doc))


def _nr_cpus(where: str, doc: dict) -> int | None:
    """A scenario's ``nr_cpus``: the CPUs of the machine it describes (1 to
    1024), or None when it leaves them to the config."""
    n = doc.get("nr_cpus")
    if n is not None and not 1 <= n <= 1024:
        raise ScenarioError(f"{where}: key 'nr_cpus': the machine's CPUs, from 1 to 1024, got {n!r}")
    return n


def _churn_class(where: str, i: int, c) -> ClassSpec:
    """The ``i``-th ``[[classes]]`` table of a churn scenario (key errors name
    it by index, value errors by its name)."""
    cw = f"{where}: classes[{i}]"
    if not isinstance(c, dict):
        raise ScenarioError(f"{cw}: expected a table, got {type(c).__name__}")
    t = _Table(cw, c, _CLASS_KEYS, required=tuple(_CLASS_KEYS)).named(f"{where}: classes.{c['name']}")
    gfp, content = t.gfp(), t.content()
    share, life = t.positive("share"), t.positive("lifetime_s")
    return ClassSpec(c["name"], gfp, content, share, t.orders(), life)


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
        dur = _duration(where, dur)
    return dict(trace=str(trace), comm=doc.get("comm"), init=init, duration=dur,
                format=doc.get("format"))


_PROC_TOP = {"name": str, "description": str, "kind": str, "duration": (int, float),
             "mem": (str, int), "swap": (str, int, float), "anon": dict, "file": dict,
             "nonmovable": list, "growth": dict, "jobs": dict, "thp_bursts": list,
             "compact_memory_at": list, "runnable_tasks": (int, float), "nr_cpus": int}
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
             "dentry_pages": int, "fork_objects": dict, "file_objects": dict,
             "dentry_lifetime_s": (int, float), "start_s": (int, float), "builds": int,
             "clean": bool}
_BURST_KEYS = {"name": str, "start_s": (int, float), "every_s": (int, float),
               "footprint": (int, float), "ramp_s": (int, float), "hold_s": (int, float),
               "madvise": bool}
_NM_KEYS = {"name": str, "gfp": str, "content": str, "rate_per_gib": (int, float),
            "orders": dict, "lifetime_s": (int, float), "fs_locked": bool,
            "burst_every_s": (int, float), "burst_len_s": (int, float),
            "burst_start_s": (int, float), "cache": str}
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


_REQUIRED = object()


class _Table:
    """One table of a scenario file being validated, for every scenario kind.

    The constructor checks the keys (known, typed, required ones present);
    the methods check one value each (the table's or ``default``) and return
    it normalised.  Errors name ``where`` (the file and the table) and the
    key."""

    def __init__(self, where: str, table, keys: dict, required=()):
        _check_table(where, table, keys, required)
        self.table = table
        self.where = where

    def named(self, where: str) -> "_Table":
        """Name the table ``where`` in value errors from now on (a list item by
        its name, ``nonmovable.pipes``, once its keys named it ``nonmovable[2]``)."""
        self.where = where
        return self

    def get(self, key, default=_REQUIRED):
        return self.table[key] if default is _REQUIRED else self.table.get(key, default)

    def frac(self, key, default=_REQUIRED, lo_open=False) -> float:
        """A fraction in [0, 1] (``lo_open``: in (0, 1])."""
        return _frac(self.where, key, self.get(key, default), lo_open=lo_open)

    def pos(self, key, default=_REQUIRED, allow_zero=True) -> float:
        """A finite number >= 0 (``allow_zero=False``: > 0)."""
        return _pos(self.where, key, self.get(key, default), allow_zero=allow_zero)

    def positive(self, key) -> float:
        """A finite number > 0, with the message churn files always had
        ("must be positive, got <the value as written>")."""
        v = self.table[key]
        f = _number(self.where, key, v)
        if not (f > 0 and math.isfinite(f)):
            raise ScenarioError(f"{self.where}.{key}: must be positive, got {v!r}")
        return f

    def count(self, key, default=_REQUIRED) -> int:
        return _count(self.where, key, self.get(key, default))

    def gfp(self, default=_REQUIRED) -> int:
        return _gfp(self.where, self.get("gfp", default))

    def content(self) -> int:
        return _content(self.where, self.table["content"])

    def orders(self, default=_REQUIRED) -> tuple:
        return _orders(self.where, self.get("orders", default))


def _sep(where: str) -> str:
    """``file: `` before a top-level key, ``.`` after a table's name."""
    return ": " if where.endswith((".toml", ".yaml", ".yml")) else "."


def _number(where, key, v) -> float:
    """``v`` as a float; ScenarioError unless it is an int or float (not a bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ScenarioError(f"{where}{_sep(where)}{key}: expected a number, got {v!r}")
    try:
        return float(v)
    except OverflowError:
        raise ScenarioError(f"{where}{_sep(where)}{key}: a number of {len(str(v))} digits is "
                            "too large") from None


def _duration(where, v) -> float:
    """A positive number of seconds whose nanoseconds fit an int64."""
    d = _number(where, "duration", v)
    if not (d > 0 and math.isfinite(d)):
        raise ScenarioError(f"{where}: key 'duration': must be a positive number of seconds, "
                            f"got {v!r}")
    if d > MAX_DURATION_S:
        raise ScenarioError(f"{where}: key 'duration': at most {MAX_DURATION_S:.3g} s (times are "
                            f"int64 nanoseconds), got {v!r}")
    return d


def _frac(where, key, v, lo=0.0, hi=1.0, lo_open=False):
    v = _number(where, key, v)
    ok = (v > lo if lo_open else v >= lo) and v <= hi and math.isfinite(v)
    if not ok:
        raise ScenarioError(f"{where}.{key}: must be between {lo} and {hi}, got {v!r}")
    return v


def _pos(where, key, v, allow_zero=True):
    v = _number(where, key, v)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ScenarioError(f"{where}{_sep(where)}{key}: must be a {'non-negative' if allow_zero else 'positive'} "
                            f"number, got {v!r}")
    return v


def _count(where, key, v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ScenarioError(f"{where}.{key}: must be a non-negative integer, got {v!r}")
    return v


def _orders(where, table):
    out = []
    for ok, ow in table.items():
        # TOML keys are strings; YAML's may be ints, floats, booleans or null:
        # only an int or a string of ASCII digits is an order
        if isinstance(ok, int) and not isinstance(ok, bool):
            o = ok
        elif isinstance(ok, str) and ok.strip().isascii() and ok.strip().isdigit():
            o = int(ok)
        else:
            raise ScenarioError(f"{where}.orders: key {ok!r} is not an order number "
                                f"(0..{C.MAX_PAGE_ORDER})")
        if not 0 <= o <= C.MAX_PAGE_ORDER:
            raise ScenarioError(f"{where}.orders: order {o} outside 0..{C.MAX_PAGE_ORDER}")
        if isinstance(ow, bool) or not isinstance(ow, (int, float)) or not ow >= 0 or \
                not math.isfinite(ow):
            raise ScenarioError(f"{where}.orders.{ok}: weight must be a number >= 0, got {ow!r}")
        out.append((o, float(ow)))
    if not out or sum(w for _, w in out) <= 0:
        raise ScenarioError(f"{where}.orders: needs at least one positive weight")
    return tuple(out)


def _gfp(where, s):
    try:
        g = parse_gfp(s, where=f"{where}.gfp")
    except GfpError as e:
        raise ScenarioError(str(e)) from None
    try:
        gfp_migratetype(g)
    except GfpError:
        raise ScenarioError(f"{where}.gfp: {s!r}: __GFP_MOVABLE and __GFP_RECLAIMABLE together "
                            "(no migratetype has both)") from None
    return g


def _content(where, s):
    if s not in CONTENT_BY_NAME:
        raise ScenarioError(f"{where}.content: unknown content {s!r} (known: {', '.join(CONTENT_BY_NAME)})")
    return CONTENT_BY_NAME[s]


def validate_processes(doc: dict, where: str) -> dict:
    """Validate a ``kind = "processes"`` scenario document; returns normalised params."""
    _check_table(where, doc, _PROC_TOP)
    return {
        "duration": _duration(where, doc.get("duration", 0)),
        "anon": _validate_anon(where, doc.get("anon", {})),
        "file": _validate_file(where, doc.get("file", {})),
        "nonmovable": [_validate_nonmovable(where, i, c)
                       for i, c in enumerate(doc.get("nonmovable", []))],
        "growth": _validate_growth(where, doc["growth"]) if doc.get("growth") is not None else None,
        "jobs": _validate_jobs(where, doc["jobs"]) if doc.get("jobs") is not None else None,
        "thp_bursts": [_validate_thp_burst(where, i, b)
                       for i, b in enumerate(doc.get("thp_bursts", []))],
        "compact_memory_at": [_pos(where, f"compact_memory_at[{i}]", t)
                              for i, t in enumerate(doc.get("compact_memory_at", []))],
        "runnable_tasks": (_pos(where, "runnable_tasks", doc["runnable_tasks"])
                           if "runnable_tasks" in doc else None),
    }


def _validate_anon(where: str, a: dict) -> dict:
    """``[anon]``: the long-running tasks."""
    t = _Table(f"{where}: anon", a, _ANON_KEYS)
    anon = dict(
        tasks=int(t.get("tasks", 4)), footprint=t.frac("footprint", 0.5),
        ramp_s=t.pos("ramp_s", 5.0),
        touch_rate_per_gib=t.pos("touch_rate_per_gib", 20000),
        hot_fraction=t.frac("hot_fraction", 0.2, lo_open=True),
        hot_share=t.frac("hot_share", 0.9),
        thp_share=t.frac("thp_share", 0.0),
        gfp=t.gfp("GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP"),
        thp_madvise=bool(t.get("thp_madvise", True)),
        pagetable_ratio=t.frac("pagetable_ratio", 1 / 512),
        pinned_share=t.frac("pinned_share", 0.0),
    )
    if anon["tasks"] < 1:
        raise ScenarioError(f"{t.where}.tasks: must be at least 1, got {anon['tasks']}")
    return anon


def _validate_file(where: str, f: dict) -> dict:
    """``[file]``: the page cache."""
    t = _Table(f"{where}: file", f, _FILE_KEYS)
    file = dict(
        files=int(t.get("files", 16)),
        read_mib_s_per_gib=t.pos("read_mib_s_per_gib", 0.0),
        reread_share=t.frac("reread_share", 0.0),
        reread_window_s=t.pos("reread_window_s", 10.0, allow_zero=False),
        dirty_share=t.frac("dirty_share", 0.0),
        gfp=t.gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP"),
        orders=t.orders({"0": 1.0}),
        initial=t.frac("initial", 0.0),
        write_mib_s_per_gib=t.pos("write_mib_s_per_gib", 0.0),
    )
    if file["files"] < 1:
        raise ScenarioError(f"{t.where}.files: must be at least 1")
    return file


def _validate_nonmovable(where: str, i: int, c: dict) -> dict:
    """One ``[[nonmovable]]`` churn class (steady, or in bursts)."""
    cache = c.get("cache")
    required = ("name", "gfp", "rate_per_gib", "lifetime_s") + \
        (() if cache is not None else ("content", "orders"))
    t = _Table(f"{where}: nonmovable[{i}]", c, _NM_KEYS, required=required)
    t.named(f"{where}: nonmovable.{c['name']}")
    cw = t.where
    if cache is not None:
        cache_id = slab_cache_id(cw, "cache", cache)
        if "orders" in c:
            raise ScenarioError(f"{cw}.orders: not with cache = {cache!r} (objects of a cache "
                                f"have its slab order)")
        content = C.SLAB_CACHE_KIND[cache_id]
        if "content" in c and t.content() != content:
            raise ScenarioError(f"{cw}.content: {c['content']!r} but cache {cache!r} is "
                                f"{C.KIND_NAMES[content]}")
        content |= C.CONTENT_SLAB_OBJECT
        orders = None
    else:
        cache_id = None
        content = t.content()
        orders = t.orders()
    if c.get("fs_locked", False):
        content |= C.CONTENT_FS_LOCKED
    burst = None
    if any(k in c for k in ("burst_every_s", "burst_len_s", "burst_start_s")):
        if "burst_every_s" not in c or "burst_len_s" not in c:
            raise ScenarioError(f"{cw}: bursts need both burst_every_s and burst_len_s")
        every = t.pos("burst_every_s", allow_zero=False)
        length = t.pos("burst_len_s", allow_zero=False)
        if length > every:
            raise ScenarioError(f"{cw}.burst_len_s: {length} is longer than burst_every_s "
                                f"{every}")
        burst = (every, length, t.pos("burst_start_s", 0.0))
    return dict(name=c["name"], gfp=t.gfp(), content=content,
                rate_per_gib=t.pos("rate_per_gib"), orders=orders, cache=cache_id,
                lifetime_s=t.pos("lifetime_s", allow_zero=False), burst=burst)


def slab_cache_id(where: str, key: str, name) -> int:
    """The index of slab cache ``name`` in SLAB_CACHES, or a ScenarioError."""
    if not isinstance(name, str) or name not in C.SLAB_CACHE_IDS:
        raise ScenarioError(f"{where}.{key}: unknown slab cache {name!r} (known: "
                            f"{', '.join(C.SLAB_CACHE_IDS)})")
    return C.SLAB_CACHE_IDS[name]


def _slab_objects(where: str, key: str, table) -> tuple:
    """``{cache = count, ...}``: objects per cache, as ((cache id, count), ...)."""
    if not isinstance(table, dict):
        raise ScenarioError(f"{where}.{key}: expected a table of cache = count, got {table!r}")
    return tuple((slab_cache_id(where, key, n), _count(f"{where}.{key}", n, v))
                 for n, v in table.items())


def _validate_growth(where: str, g: dict) -> dict:
    """``[growth]``: a growing non-movable footprint."""
    t = _Table(f"{where}: growth", g, _GROWTH_KEYS,
               required=("mib_s_per_gib", "gfp", "content", "orders"))
    return dict(mib_s_per_gib=t.pos("mib_s_per_gib"), gfp=t.gfp(), content=t.content(),
                orders=t.orders(), start_s=t.pos("start_s", 0.0))


def _validate_jobs(where: str, j: dict) -> dict:
    """``[jobs]``: short-lived jobs of a parallel build."""
    t = _Table(f"{where}: jobs", j, _JOB_KEYS, required=("concurrency", "lifetime_s", "footprint"))
    jobs = dict(
        concurrency=int(j["concurrency"]),
        lifetime_s=t.pos("lifetime_s", allow_zero=False),
        footprint=t.frac("footprint"),
        gfp=t.gfp("GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP"),
        thp_share=t.frac("thp_share", 0.0),
        thp_madvise=bool(t.get("thp_madvise", False)),
        pagetable_ratio=t.frac("pagetable_ratio", 1 / 512),
        stack_pages=t.count("stack_pages", 4),
        slab_pages=t.count("slab_pages", 8),
        touches_per_page=t.pos("touches_per_page", 1.0),
        read_pages_per_gib=t.pos("read_pages_per_gib", 0),
        hot_share=t.frac("hot_share", 0.0),
        hot_set=t.frac("hot_set", 0.0),
        write_pages_per_gib=t.pos("write_pages_per_gib", 0),
        dentry_pages=t.count("dentry_pages", 0),
        fork_objects=_slab_objects(t.where, "fork_objects", j.get("fork_objects", {})),
        file_objects=_slab_objects(t.where, "file_objects", j.get("file_objects", {})),
        dentry_lifetime_s=t.pos("dentry_lifetime_s", 60.0, allow_zero=False),
        start_s=t.pos("start_s", 0.0),
        builds=t.count("builds", 1),
        clean=bool(t.get("clean", True)),
    )
    if jobs["builds"] < 1:
        raise ScenarioError(f"{t.where}.builds: must be at least 1, got {jobs['builds']}")
    if jobs["concurrency"] < 1:
        raise ScenarioError(f"{t.where}.concurrency: must be at least 1, got {jobs['concurrency']}")
    if jobs["hot_share"] > 0 and jobs["hot_set"] <= 0:
        raise ScenarioError(f"{t.where}.hot_set: must be positive when hot_share > 0")
    return jobs


def _validate_thp_burst(where: str, i: int, b: dict) -> dict:
    """One ``[[thp_bursts]]`` table: recurring bursts of THP faults."""
    t = _Table(f"{where}: thp_bursts[{i}]", b, _BURST_KEYS, required=("every_s", "footprint", "hold_s"))
    return dict(
        name=str(t.get("name", f"burst{i}")),
        start_s=t.pos("start_s", 0.0),
        every_s=t.pos("every_s", allow_zero=False),
        footprint=t.frac("footprint"),
        ramp_s=t.pos("ramp_s", 0.2),
        hold_s=t.pos("hold_s", allow_zero=False),
        madvise=bool(t.get("madvise", True)))
