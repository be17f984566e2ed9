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

from .. import constants as C
from ..errors import GfpError, ScenarioError
from ..gfp import gfp_migratetype, parse_gfp

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


