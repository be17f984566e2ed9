"""A machine's state from its ``/proc`` files: the snapshot a replay starts from.

``defragsim snapshot`` (and the shared traces' ``snap/`` folders) hold
``before.*``/``after.*`` copies of meminfo, vmstat, sysctl, pagetypeinfo,
buddyinfo and zoneinfo, and optionally the kpageflags content map
(``before.pbmap.csv.gz``).  This module reads them; it never runs the model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import constants as C
from ..errors import ConfigError
from .textfile import read_text

_INT_RE = re.compile(r"-?[0-9]+")


def read_text_file(path: Path) -> str:
    """A /proc copy as text; ConfigError naming it when it cannot be read or
    is not text (binary data, not UTF-8)."""
    return read_text(path, ConfigError, f"init-from: {path}")


def read_proc_kv(path: Path) -> dict:
    """``key value`` (vmstat), ``key: value kB`` (meminfo) or ``key=value``
    (sysctl) lines into a dict of ints (non-numeric values skipped)."""
    out = {}
    for line in read_text_file(path).splitlines():
        if "=" in line and ":" not in line:
            k, _, v = line.partition("=")
        elif ":" in line:
            k, _, v = line.partition(":")
        else:
            k, _, v = line.strip().partition(" ")
        parts = v.split()
        if parts and _INT_RE.fullmatch(parts[0]):         # ASCII digits ("²".isdigit())
            out[k.strip().split(".")[-1] if "=" in line else k.strip()] = int(parts[0])
    return out


@dataclass
class Snapshot:
    """The ``before.*`` / ``after.*`` /proc files of a trace folder."""

    path: Path
    meminfo: dict = field(default_factory=dict)
    vmstat_before: dict = field(default_factory=dict)
    vmstat_after: dict = field(default_factory=dict)
    sysctl: dict = field(default_factory=dict)
    pagetypeinfo: str | None = None
    #: ``after.pagetypeinfo``: the machine's free lists when the trace ended
    pagetypeinfo_after: str | None = None
    buddyinfo: str | None = None
    #: ``before.platform`` (``defragsim snapshot``): kernel_release, nr_cpus, ...
    platform: dict = field(default_factory=dict)
    #: ``before/after.platform_params``: module parameters (/sys/module/*/parameters)
    params_before: dict = field(default_factory=dict)
    params_after: dict = field(default_factory=dict)
    _pti: dict = field(default_factory=dict, repr=False)   # tag -> parsed table

    @classmethod
    def load(cls, d) -> "Snapshot":
        d = Path(d)
        if not d.is_dir():
            raise ConfigError(f"init-from: {d}: not a directory")
        meminfo = d / "before.meminfo"
        if not meminfo.exists():
            raise ConfigError(f"init-from: {d}: no before.meminfo (a snapshot has before.meminfo, "
                              "before.vmstat, before.pagetypeinfo, ...)")
        s = cls(path=d, meminfo=read_proc_kv(meminfo))
        if "MemTotal" not in s.meminfo:
            raise ConfigError(f"init-from: {meminfo}: no MemTotal line")
        if s.meminfo["MemTotal"] * 1024 < C.PAGE_SIZE << C.MAX_PAGE_ORDER:
            raise ConfigError(f"init-from: {meminfo}: MemTotal: must be at least "
                              f"{(C.PAGE_SIZE << C.MAX_PAGE_ORDER) // 1024} kB, got "
                              f"{s.meminfo['MemTotal']} kB")
        for name, attr in (("before.vmstat", "vmstat_before"), ("after.vmstat", "vmstat_after"),
                           ("before.sysctl", "sysctl")):
            if (d / name).exists():
                setattr(s, attr, read_proc_kv(d / name))
        if (d / "before.platform").exists():
            s.platform = read_platform(d / "before.platform", plain_output=True)
        else:
            s.platform = uname_platform(d)
        s.check_page_size()
        for tag in ("before", "after"):
            if (d / f"{tag}.platform_params").exists():
                setattr(s, f"params_{tag}", {k.rsplit("/parameters/", 1)[-1] if "/parameters/" in k
                                             else k: v for k, v in
                                             read_platform(d / f"{tag}.platform_params").items()})
        for name, attr in (("before.pagetypeinfo", "pagetypeinfo"), ("before.buddyinfo", "buddyinfo"),
                           ("after.pagetypeinfo", "pagetypeinfo_after")):
            if (d / name).exists():
                setattr(s, attr, read_text_file(d / name))
        return s

    def pagetypeinfo_table(self, tag: str = "before") -> dict | None:
        """``before.pagetypeinfo`` (``tag`` "before") or ``after.pagetypeinfo``
        ("after") parsed, once each: see :func:`procfs.parse_pagetypeinfo`;
        None without the file."""
        text = self.pagetypeinfo if tag == "before" else self.pagetypeinfo_after
        if text is None:
            return None
        if tag not in self._pti:
            try:
                self._pti[tag] = parse_pagetypeinfo(text, where=str(self.path / f"{tag}.pagetypeinfo"))
            except ValueError as e:
                raise ConfigError(f"init-from: {e}") from None
        return self._pti[tag]

    def free_pages_by_type(self, tag: str = "before") -> dict | None:
        """``{zone: {type: free pages}}`` from :meth:`pagetypeinfo_table`
        (``tag``: "before" or "after"); None without the file."""
        pti = self.pagetypeinfo_table(tag)
        if pti is None:
            return None
        return {z: {t: sum(n << o for o, n in enumerate(counts)) for t, counts in v["free"].items()}
                for z, v in pti.items()}

    def zone_blocks(self) -> dict | None:
        """``{zone: {type: blocks}}`` from before.pagetypeinfo (None without it)."""
        pti = self.pagetypeinfo_table()
        if pti is None:
            return None
        return {z: v["blocks"] for z, v in pti.items() if v["blocks"]}

    def dma32_fraction(self) -> float | None:
        """DMA32's managed pages over MemTotal, from before.zoneinfo."""
        zi = self.path / "before.zoneinfo"
        if not zi.exists():
            return None
        m = zoneinfo_managed(read_text_file(zi))
        if "DMA32" not in m:
            return None
        return m["DMA32"] * C.PAGE_SIZE / (self.meminfo["MemTotal"] * 1024)

    def zone_present_managed(self) -> dict | None:
        """``{zone: (present, managed)}`` pages from before.zoneinfo (None
        without it): present less managed is what memblock reserved at boot."""
        zi = self.path / "before.zoneinfo"
        if not zi.exists():
            return None
        text = read_text_file(zi)
        layout, managed = zoneinfo_layout(text), zoneinfo_managed(text)
        return {z: (layout[z][2], managed[z]) for z in layout if z in managed} or None

    def zone_layout(self) -> dict | None:
        """``{zone: (start_pfn, spanned, present)}`` from before.zoneinfo (None without it)."""
        zi = self.path / "before.zoneinfo"
        if not zi.exists():
            return None
        return zoneinfo_layout(read_text_file(zi)) or None

    def zone_watermarks(self) -> dict | None:
        """``{zone: (free, min, low, high, protection)}`` pages from
        before.zoneinfo (``pages free``, the watermarks and the lowmem
        ``protection`` tuple); None without it."""
        zi = self.path / "before.zoneinfo"
        if not zi.exists():
            return None
        return zoneinfo_watermarks(read_text_file(zi)) or None

    def pbmap(self):
        """The kpageflags content map (``before.pbmap.csv.gz``), or None."""
        p = self.path / "before.pbmap.csv.gz"
        if not p.exists():
            return None
        try:
            return load_pbmap(p)
        except (ValueError, OSError, EOFError) as e:
            raise ConfigError(f"init-from: {p}: {e}") from None

    def pfn_limit(self) -> int:
        """One past the largest pfn the machine has: the end of its last zone
        (before.zoneinfo), else MemTotal plus the 4 GiB a PCI hole may skip."""
        zi = self.path / "before.zoneinfo"
        end = zoneinfo_pfn_end(read_text_file(zi)) if zi.exists() else None
        if end:
            return end
        return self.meminfo["MemTotal"] * 1024 // C.PAGE_SIZE + (4 << 30) // C.PAGE_SIZE

    def _uptimes(self) -> list | None:
        """``[(uptime, idle), ...]`` of ``before.time`` and ``after.time``
        (line 2: /proc/uptime); None without both or without that line."""
        up = []
        for tag in ("before", "after"):
            p = self.path / f"{tag}.time"
            if not p.exists():
                return None
            lines = read_text_file(p).split("\n")
            if len(lines) < 2 or not lines[1].strip():
                return None          # recorded without /proc/uptime
            fields = lines[1].split()
            try:
                up.append((float(fields[0]), float(fields[1])))
            except (IndexError, ValueError):
                raise ConfigError(f"init-from: {p}: line 2: expected /proc/uptime's two "
                                  f"numbers (uptime, idle), got {lines[1:2]!r}") from None
        return up

    def uptime_span(self) -> float | None:
        """Seconds from the ``before`` snapshot to the ``after`` one (their
        /proc/uptime); None without both or when not positive."""
        up = self._uptimes()
        if up is None or up[1][0] <= up[0][0]:
            return None
        return up[1][0] - up[0][0]

    def busy_cpus(self) -> float | None:
        """CPUs busy on average over the trace: ``before.time`` and
        ``after.time`` hold the wall clock and /proc/uptime (seconds up, and
        idle seconds summed over the CPUs), so busy = (nr_cpus x uptime
        delta - idle delta) / uptime delta.  None without both files, the
        CPU count (``before.platform``) or a positive uptime delta."""
        up = self._uptimes()
        if up is None:
            return None
        ncpu = self.nr_cpus()
        dt = up[1][0] - up[0][0]
        if ncpu is None or dt <= 0:
            return None
        return max(0.0, (ncpu * dt - (up[1][1] - up[0][1])) / dt)

    def page_reporting(self) -> tuple[int | None, int | None]:
        """(page_reporting_order, KiB reported during the trace) when free
        page reporting was at work: the module's ``page_reporting_order``
        and a ``reported_kib`` that grew from before to after (None, None
        otherwise; the KiB None when only the order is known)."""
        order = self.params_before.get("page_reporting_order")
        a, b = self.params_after.get("reported_kib"), self.params_before.get("reported_kib")
        try:
            order = int(order) if order is not None else None
            kib = int(a) - int(b) if a is not None and b is not None else None
        except ValueError:
            raise ConfigError(f"init-from: {self.path}: page_reporting parameters are not "
                              f"integers (page_reporting_order {order!r}, reported_kib "
                              f"{b!r} -> {a!r})") from None
        if order is None or (kib is not None and kib <= 0):
            return None, None
        return order, kib

    def nr_cpus(self) -> int | None:
        """The machine's CPU count (``before.platform``'s nr_cpus), None
        when not recorded; a value that is not a count is a ConfigError."""
        v = self.platform.get("nr_cpus")
        if v is None:
            return None
        try:
            n = int(v)
        except (TypeError, ValueError):
            n = 0
        if not 1 <= n <= 1024:
            raise ConfigError(f"init-from: {self.path}: before.platform: nr_cpus must be a "
                              f"CPU count from 1 to 1024, got {v!r}")
        return n

    def check_page_size(self) -> None:
        """``before.platform``'s page_size, when recorded, must be the model's
        4 KiB: a pfn of a 16K- or 64K-page machine is not the model's pfn."""
        v = self.platform.get("page_size")
        if v is not None and str(v).strip() != str(C.PAGE_SIZE):
            raise ConfigError(f"init-from: {self.path}: before.platform: page_size {v!r}: the "
                              f"model has {C.PAGE_SIZE}-byte pages only")

    def config_overrides(self) -> dict:
        kw = {"mem": self.meminfo["MemTotal"] * 1024}
        order, _ = self.page_reporting()
        if order is not None and 0 <= order <= C.MAX_PAGE_ORDER:
            kw["page_reporting_order"] = order
        ncpu = self.nr_cpus()
        if ncpu is not None:
            kw["nr_cpus"] = ncpu
        busy = self.busy_cpus()
        if busy is not None:
            # MODEL: the busy CPUs stand in for the runnable tasks the daemons
            # shared the CPUs with (they include the daemons' own time)
            kw["runnable_tasks"] = round(busy, 2)
        sc = self.sysctl
        for key in ("min_free_kbytes", "watermark_scale_factor", "watermark_boost_factor",
                    "swappiness", "compaction_proactiveness", "defrag_mode"):
            if key in sc:
                kw[key] = sc[key]
        swap = self.meminfo.get("SwapTotal")
        if swap is not None:
            kw["swap"] = swap * 1024
        return kw


def uname_platform(snap_dir: Path) -> dict:
    """The kernel release where a recording without ``before.platform`` kept
    ``uname -a``: ``meta/platform.txt`` beside the trace folders (the layout
    of the shared recording tools: ``<traces>/<trace>/snap`` and
    ``<traces>/meta/platform.txt``, first line ``Linux HOST RELEASE ...``).
    ``{"kernel_release": ..., "kernel_version": <the line>, "source": <path>}`` or {}."""
    p = Path(snap_dir).resolve().parent.parent / "meta" / "platform.txt"
    if not p.is_file():
        return {}
    line = next((x.strip() for x in read_text_file(p).splitlines() if x.strip()), "")
    got = _uname_line(line)
    return dict(got, source=str(p)) if got else {}


#: ``uname -r``: a kernel release such as 6.18.44-fc-v1300 (no spaces)
_RELEASE_RE = re.compile(r"\d+\.\d+[\w.+~-]*")


def _uname_line(line: str) -> dict:
    """``uname -a`` output (``Linux HOST RELEASE #VERSION ...``) -> its
    kernel_release and the whole line as kernel_version; {} otherwise."""
    parts = line.split()
    if len(parts) < 3 or parts[0] != "Linux" or not _RELEASE_RE.fullmatch(parts[2]):
        return {}
    return {"kernel_release": parts[2], "kernel_version": line}


def _plain_platform_line(line: str) -> dict:
    """A ``before.platform`` line that is plain command output rather than
    key=value: ``uname -a`` (or ``uname -r``) gives the kernel release,
    ``nproc`` the CPU count; {} for anything else."""
    line = line.strip()
    if line.isdigit():
        return {"nr_cpus": line}
    if _RELEASE_RE.fullmatch(line):
        return {"kernel_release": line}
    return _uname_line(line)


def read_platform(path: Path, *, plain_output: bool = False) -> dict:
    """``key=value`` lines of a ``<tag>.platform`` or ``<tag>.platform_params``
    file (``#`` comments and blank lines skipped).

    ``plain_output`` (a ``before.platform``): a line that is the plain output
    of ``uname -a``, ``uname -r`` or ``nproc`` (what a hand-made recording
    keeps: ``uname -a > before.platform; nproc >> before.platform``) is read
    as ``kernel_release`` (and ``kernel_version``) or ``nr_cpus``; a key=value
    line of the same key wins.  Any other line is a ConfigError naming the
    file and line: the replay would otherwise lose the kernel release and
    pick its default baseline without saying why."""
    out, plain = {}, {}
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        got = _plain_platform_line(line) if plain_output else {}
        if got:
            for k, v in got.items():
                if k in plain and plain[k] != v:
                    raise ConfigError(f"init-from: {path}: line {i}: {k} {v!r} here, "
                                      f"{plain[k]!r} on an earlier line")
                plain[k] = v
            continue
        k, eq, v = line.partition("=")
        if not eq or not k.strip():
            what = ("key=value (such as kernel_release=6.18.44 or nr_cpus=2), or the plain "
                    "output of uname -a or nproc" if plain_output else "key=value")
            raise ConfigError(f"init-from: {path}: line {i}: expected {what}, got "
                              f"{line.strip()[:80]!r}")
        out[k.strip()] = v.strip()
    return {**plain, **out}


def find_snapshot(trace_path) -> Path | None:
    """``snap/`` beside the trace (the shared/traces layout); None when there
    is none.  A ``snap/`` without ``before.meminfo`` is a ConfigError rather
    than passed over: the replay would size the machine from the trace and
    take the default kernel and sysctls without a word."""
    d = Path(trace_path).resolve().parent / "snap"
    if (d / "before.meminfo").exists():
        return d
    if d.is_dir():
        raise ConfigError(f"{d}: a snapshot folder without before.meminfo (the machine's "
                          f"MemTotal, /proc/meminfo); add it, or replay with --init empty")
    return None



def parse_pagetypeinfo(text: str, where: str = "pagetypeinfo") -> dict:
    """A /proc/pagetypeinfo text -> ``{zone: {"blocks": {type: n}, "free": {type: [n per order]}}}``.

    Types are the kernel's names (Unmovable, Movable, ...).  Raises ValueError
    naming ``where`` and the line when the text is not a pagetypeinfo."""
    out: dict = {}
    types = None
    for i, line in enumerate(text.splitlines(), start=1):
        if line.startswith("Number of blocks type"):
            types = line[len("Number of blocks type"):].split()
            continue
        m = re.match(r"Node\s+\d+, zone\s+(\S+), type\s+(\S+)\s+(.*)$", line)
        if m:
            z = out.setdefault(m.group(1), {"blocks": {}, "free": {}})
            nums = [int(x.lstrip(">")) for x in m.group(3).split()]
            z["free"][m.group(2)] = nums
            continue
        m = re.match(r"Node\s+\d+, zone\s+(\S+)\s+([\d\s]+)$", line)
        if m and types is not None:
            nums = [int(x) for x in m.group(2).split()]
            if len(nums) != len(types):
                raise ValueError(f"{where}:{i}: {len(nums)} block counts for {len(types)} types")
            out.setdefault(m.group(1), {"blocks": {}, "free": {}})["blocks"] = dict(zip(types, nums))
    if not any(z["blocks"] for z in out.values()):
        raise ValueError(f"{where}: no 'Number of blocks type' table")
    return out


def zoneinfo_pfn_end(text: str) -> int | None:
    """One past the last pfn of any zone (``start_pfn`` + ``spanned``) in
    /proc/zoneinfo, or None when it has no such lines."""
    end, spanned = None, None
    for line in text.splitlines():
        m = re.match(r"\s+spanned\s+(\d+)", line)
        if m:
            spanned = int(m.group(1))
            continue
        m = re.match(r"\s+start_pfn:\s+(\d+)", line)
        if m and spanned:
            end = max(end or 0, int(m.group(1)) + spanned)
            spanned = None
    return end


def _zone_lines(text: str):
    """(zone, line) for each line of /proc/zoneinfo after its zone's
    ``Node N, zone NAME`` header."""
    cur = None
    for line in text.splitlines():
        m = re.match(r"Node \d+, zone\s+(\S+)", line)
        if m:
            cur = m.group(1)
        elif cur is not None:
            yield cur, line


def zoneinfo_layout(text: str) -> dict:
    """``{zone: (start_pfn, spanned, present)}`` of the zones with pages, from
    /proc/zoneinfo."""
    out, vals = {}, {}
    for zone, line in _zone_lines(text):
        m = re.match(r"\s+(spanned|present|start_pfn):?\s+(\d+)", line)
        if m:
            v = vals.setdefault(zone, {})
            v[m.group(1)] = int(m.group(2))
            if len(v) == 3 and v["spanned"] > 0:
                out[zone] = (v["start_pfn"], v["spanned"], v["present"])
    return out


def zoneinfo_watermarks(text: str) -> dict:
    """``{zone: (free, min, low, high, protection)}`` of the zones with a
    ``pages free`` line in /proc/zoneinfo (``protection`` a tuple, empty
    when the zone shows none)."""
    out, vals = {}, {}
    for zone, line in _zone_lines(text):
        v = vals.setdefault(zone, {})
        m = re.match(r"\s+(?:pages (free)|(min|low|high))\s+(\d+)\s*$", line)
        if m:
            v[m.group(1) or m.group(2)] = int(m.group(3))
        m = re.match(r"\s+protection:\s*\(([\d,\s]*)\)", line)
        if m:
            v["protection"] = tuple(int(x) for x in m.group(1).replace(",", " ").split())
        if {"free", "min", "low", "high", "protection"} <= set(v) and zone not in out:
            out[zone] = (v["free"], v["min"], v["low"], v["high"], v["protection"])
    return out


def zoneinfo_managed(text: str) -> dict:
    """``{zone: managed pages}`` from /proc/zoneinfo."""
    out = {}
    for zone, line in _zone_lines(text):
        m = re.match(r"\s+managed\s+(\d+)", line)
        if m:
            out[zone] = int(m.group(1))
    return out


def load_pbmap(path):
    """A per-pageblock content map from a kpageflags snapshot as a DataFrame
    with the :data:`CONTENT_CLASSES` columns (pages per block) and ``zone``.

    Reads ``defragsim snapshot``'s ``<tag>.pbmap.csv.gz`` and the shared
    traces' ``pbmap_*.csv.gz`` (whose first line is a ``# zone_id`` comment)."""
    df = pd.read_csv(path, comment="#")
    if "zone_id" in df.columns:                      # shared/traces/tools/kpf_map.py
        df["zone"] = np.where(df["zone_id"] == 0, "DMA32", "Normal")
        df["lru_anon"] = df["lru_anon"] + df.get("lru_shmem", 0) + df.get("anon_nonlru", 0)
        df["other"] = df.get("other_noflags", 0) + df.get("other_flagged", 0) + \
            df.get("compound_other", 0) + df.get("offline", 0) + df.get("nopage", 0)
    need = {"zone", "start_pfn", "buddy", "slab", "lru_file", "lru_anon", "pgtable", "reserved",
            "other"}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"{path}: not a pageblock content map (missing {', '.join(sorted(missing))})")
    out = pd.DataFrame({"zone": df["zone"], "start_pfn": df["start_pfn"], "free": df["buddy"],
                        "file": df["lru_file"], "anon": df["lru_anon"], "slab": df["slab"],
                        "pagetable": df["pgtable"], "reserved": df["reserved"],
                        "other": df["other"]})
    return out[out["zone"].isin(["DMA32", "Normal"])].reset_index(drop=True)
