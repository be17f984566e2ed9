"""Reading real page-allocator traces.

Formats (detected from the first lines; ``.gz`` and ``.xz`` are read
transparently and everything is streamed):

* the CSV schema of ``shared/traces/`` (``t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c``;
  ``ev``: A alloc (pfn -1 = failed), F free, B free_batched, Z zone_locked,
  D pcpu_drain, X extfrag), with ``comm.csv`` beside it for command names;
* tracefs ``trace`` / ``trace_pipe`` text (``comm-pid [cpu] flags ts: event: fields``);
* ``trace-cmd report`` text (the same, without the flags column, maybe ``cpus=N`` first);
* ``perf script`` text (``comm pid [cpu] ts: [system:]event: fields``).

Events used: ``mm_page_alloc`` (failed ones too: ``page=(nil)``/pfn 0 in
text, pfn -1 in the CSV), ``mm_page_free``, ``mm_page_free_batched`` (a
marker for a free that already produced ``mm_page_free``: counted, never a
second free), ``mm_page_alloc_extfrag``; other events (compaction, vmscan,
migrate) are counted by name.  Bad lines raise :class:`TraceError` with the
file, line number and text, or are counted with ``skip_bad_lines=True``: a
line that does not parse, an order, migratetype, fallback or
change_ownership out of range, a negative pfn (other than a failed
allocation's) or one beyond the machine (``max_pfn``: the snapshot's zones,
else 1 TiB of memory), a gfp mask with both __GFP_MOVABLE and
__GFP_RECLAIMABLE, and an event earlier than the one before it (traces are
in time order).  Times start at 0 at the first page event, in every format.
"""
from __future__ import annotations

import concurrent.futures
import functools
import gzip
import io
import lzma
import queue
import threading
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import constants as C
from .. import gfp as G
from ..errors import TraceError
from .estimate import MAX_TRACE_PFN
from . import _traceparse as P
from . import xzblocks
from .text_events import KERNEL_ZONE_IDX, other_events_csv
from ._traceparse import EV_ALLOC, EV_EXTFRAG, EV_FREE

CSV_HEADER = "t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c"
#: the fast parser of each format (trace-cmd report is tracefs text)
FAST_FORMATS = {"csv": "csv", "tracefs": "tracefs", "trace-cmd": "tracefs", "perf": "perf"}
#: bytes of decompressed trace parsed at a time by the fast parsers (about
#: 200k lines: the first chunk is parsed soon after the file is opened)
CHUNK_BYTES = 1 << 23

#: tracefs / trace-cmd: "comm-pid [cpu] <flags> ts: event: fields" (flags and
#: a "(tgid)" column optional)
_RE_TRACEFS = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:[\w.]{4,5}\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>[\w:]+):\s?(?P<fields>.*)$")
#: perf script: "comm pid [cpu] ts: system:event: fields"
_RE_PERF = re.compile(
    r"^\s*(?P<comm>.*?)\s+(?P<pid>\d+)(?:/\d+)?\s+\[(?P<cpu>\d+)\]\s+(?P<ts>\d+\.\d+):\s+"
    r"(?P<event>[\w:]+):\s?(?P<fields>.*)$")


@dataclass
class ParsedTrace:
    """Columnar page events of one trace (time-ordered as recorded)."""

    path: str
    format: str
    t_ns: np.ndarray          # int64, from the first event
    ev: np.ndarray            # int8 EV_*
    pfn: np.ndarray           # int64; -1 = failed allocation
    order: np.ndarray         # int8
    mt: np.ndarray            # int8 migratetype (alloc: requested; extfrag: alloc_migratetype)
    gfp: np.ndarray           # int64 (alloc)
    pid: np.ndarray           # int32
    cpu: np.ndarray           # int16: the CPU the event ran on (its per-cpu lists)
    fallback_order: np.ndarray   # int8 (extfrag)
    fallback_mt: np.ndarray      # int8 (extfrag)
    change_ownership: np.ndarray  # int8 (extfrag)
    comm: dict = field(default_factory=dict)          # pid -> command name
    counts: Counter = field(default_factory=Counter)  # every event name seen
    unknown_gfp: Counter = field(default_factory=Counter)
    bad_lines: int = 0
    lines: int = 0
    filtered_out: int = 0
    #: the recorded time of the first page event (ns; times are relative to it)
    t0_ns: int = 0
    #: ``until_ns`` of :func:`read_trace` when the trace went on beyond it
    cut_ns: int | None = None
    #: a streamed trace (``replay_ops.TraceStream``) keeps no columns: the
    #: totals of its page events (:func:`add_page_totals`)
    streamed: dict | None = None
    #: (events, totals) of the last :meth:`page_totals` of a whole trace
    _totals: tuple | None = field(default=None, repr=False, compare=False)

    @classmethod
    def empty(cls, path, fmt: str) -> "ParsedTrace":
        return cls(path=str(path), format=fmt, **_Columns().arrays())

    def set_columns(self, cols: dict) -> None:
        """Install the event columns (the keys of :meth:`_Columns.arrays`)."""
        for k, v in cols.items():
            setattr(self, k, v)

    def __len__(self) -> int:
        return self.streamed["events"] if self.streamed else int(self.t_ns.shape[0])

    @property
    def duration_s(self) -> float:
        if self.streamed:
            return self.streamed["last_ns"] / 1e9
        return float(self.t_ns[-1]) / 1e9 if len(self) else 0.0

    def summary(self) -> dict:
        tot = self.page_totals()
        return {
            "allocations": tot["allocations"],
            "failed_allocations": tot["failed_allocations"],
            "frees": tot["frees"],
            "free_batched_markers": int(self.counts.get("mm_page_free_batched", 0)),
            "extfrag_events": tot["extfrag_events"],
            "extfrag_fragmenting": tot["extfrag_fragmenting"],
            "extfrag_change_ownership": tot["extfrag_change_ownership"],
            "extfrag_pairs": {f"{a}->{b}": n for (a, b), n in sorted(tot["pairs"].items())},
            "other_events": {k: v for k, v in sorted(self.counts.items())
                             if not k.startswith("mm_page_")},
            "unknown_gfp_flags": dict(self.unknown_gfp),
            "bad_lines": self.bad_lines,
            "duration_s": self.duration_s,
        }

    def page_totals(self) -> dict:
        """:func:`add_page_totals` of the whole trace: a streamed trace's, kept
        as it streamed, or a whole trace's, summed once for its events."""
        if self.streamed:
            return self.streamed
        if self._totals is None or self._totals[0] != len(self):
            self._totals = (len(self), add_page_totals(new_page_totals(), self.__dict__))
        return self._totals[1]

    def allocated_pages(self, start_pfn: int, end_pfn: int) -> int:
        """Pages the trace's successful allocations took in ``[start_pfn,
        end_pfn)`` (a zone's span): what /proc/vmstat's ``pgalloc_<zone>``
        counted over the trace itself, pageblock-aligned bounds assumed."""
        by_block = self.page_totals()["alloc_pages_by_block"]
        lo, hi = start_pfn >> PAGES_BY_BLOCK_SHIFT, end_pfn >> PAGES_BY_BLOCK_SHIFT
        return int(by_block[lo:hi].sum())


#: :func:`add_page_totals` sums allocated pages per 2^9-page block of pfns
#: (zone boundaries are pageblock-aligned)
PAGES_BY_BLOCK_SHIFT = 9


def new_page_totals() -> dict:
    """Zero totals of page events (:func:`add_page_totals`)."""
    return {"events": 0, "allocations": 0, "failed_allocations": 0, "frees": 0,
            "extfrag_events": 0, "extfrag_fragmenting": 0, "extfrag_change_ownership": 0,
            "pairs": Counter(), "last_ns": 0,
            "alloc_pages_by_block": np.zeros(0, np.int64)}


def add_page_totals(tot: dict, cols: dict) -> dict:
    """``tot`` plus the page events of ``cols`` (:class:`ParsedTrace` column
    names): what :meth:`ParsedTrace.summary` reports, gathered chunk by chunk
    for a streamed trace."""
    ev, n = cols["ev"], int(cols["t_ns"].shape[0])
    a = ev == EV_ALLOC
    x = ev == EV_EXTFRAG
    tot["events"] += n
    tot["allocations"] += int(a.sum())
    tot["failed_allocations"] += int((a & (cols["pfn"] < 0)).sum())
    tot["frees"] += int((ev == EV_FREE).sum())
    tot["extfrag_events"] += int(x.sum())
    tot["extfrag_fragmenting"] += int((x & (cols["fallback_order"] < 9)).sum())
    tot["extfrag_change_ownership"] += int((x & (cols["change_ownership"] > 0)).sum())
    tot["pairs"].update(zip(cols["mt"][x].tolist(), cols["fallback_mt"][x].tolist()))
    ok = a & (cols["pfn"] >= 0)
    if ok.any():
        blocks = np.bincount(cols["pfn"][ok] >> PAGES_BY_BLOCK_SHIFT,
                             weights=np.left_shift(1, cols["order"][ok].astype(np.int64)))
        have = tot["alloc_pages_by_block"]
        if blocks.shape[0] > have.shape[0]:
            have = np.concatenate([have, np.zeros(blocks.shape[0] - have.shape[0], np.int64)])
        have[:blocks.shape[0]] += blocks.astype(np.int64)
        tot["alloc_pages_by_block"] = have
    if n:
        tot["last_ns"] = int(cols["t_ns"][-1])
    return tot


class _decompress_errors:
    """Turn a truncated or corrupt .gz/.xz stream into a TraceError naming the
    file and the last line read (``where()`` gives the line number)."""

    def __init__(self, path, where):
        self.path, self.where = path, where

    def __enter__(self):
        return self

    def __exit__(self, et, e, tb):
        kind = {".xz": "xz", ".gz": "gzip"}.get(Path(self.path).suffix)
        if kind and et is not None and self.where() == 0 and \
                (issubclass(et, (lzma.LZMAError, gzip.BadGzipFile, EOFError))):
            raise TraceError(f"{self.path}: not {kind}-compressed data, although the name ends "
                             f"in {Path(self.path).suffix} ({e or 'empty'})") from None
        if et is EOFError:
            raise TraceError(f"{self.path}: truncated compressed file (after line {self.where()})") \
                from None
        if et is not None and issubclass(et, lzma.LZMAError):
            raise TraceError(f"{self.path}: corrupt xz data after line {self.where()}: {e}") from None
        if et is not None and issubclass(et, gzip.BadGzipFile):
            raise TraceError(f"{self.path}: corrupt gzip data after line {self.where()}: {e}") \
                from None
        return False


def open_text(path) -> io.TextIOBase:
    """Open plain, ``.gz`` or ``.xz`` text for streaming."""
    p = Path(path)
    if not p.exists():
        raise TraceError(f"{p}: no such file")
    if p.is_dir():
        raise TraceError(f"{p}: is a directory, not a trace file")
    try:
        if p.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace")
        if p.suffix == ".xz":
            return io.TextIOWrapper(lzma.open(p, "rb"), encoding="utf-8", errors="replace")
        return open(p, encoding="utf-8", errors="replace")
    except OSError as e:
        raise TraceError(f"{p}: cannot read: {e.strerror or e}") from None


def parse_gfp_lenient(text: str, unknown: Counter) -> int:
    """A gfp mask from a trace: hex, or ``|``-separated names; names the model
    does not know are counted in ``unknown`` and ignored."""
    s = text.strip()
    if not s or s == "none":
        return 0
    if s[0] in "0123456789":        # the CSV schema and raw masks are hex
        try:
            return int(s, 16)
        except ValueError:
            raise ValueError(f"gfp_flags {s!r} starts with a digit but is not hex") from None
    mask = 0
    for name in s.split("|"):
        if name.startswith(("0x", "0X")):   # bits __print_flags() had no name for
            unknown[name] += 1
            continue
        v = G.FLAG_BITS.get(name)
        if v is None:
            v = G.COMPOSITES.get(name)
        if v is None:
            unknown[name] += 1
            continue
        mask |= v
    return mask


class _Columns:
    def __init__(self):
        self.t, self.ev, self.pfn, self.order, self.mt, self.gfp, self.pid = ([] for _ in range(7))
        self.cpu, self.fo, self.fmt, self.co = [], [], [], []

    def arrays(self):
        return dict(t_ns=np.asarray(self.t, np.int64), ev=np.asarray(self.ev, np.int8),
                    pfn=np.asarray(self.pfn, np.int64), order=np.asarray(self.order, np.int8),
                    mt=np.asarray(self.mt, np.int8), gfp=np.asarray(self.gfp, np.int64),
                    pid=np.asarray(self.pid, np.int32), cpu=np.asarray(self.cpu, np.int16),
                    fallback_order=np.asarray(self.fo, np.int8),
                    fallback_mt=np.asarray(self.fmt, np.int8),
                    change_ownership=np.asarray(self.co, np.int8))


def detect_format(path) -> str:
    """``csv``, ``tracefs`` (also trace-cmd report) or ``perf``, from the first
    event line."""
    i = 0
    with open_text(path) as f, _decompress_errors(path, lambda: i):
        for i, line in enumerate(f, start=1):
            s = line.strip()
            if not s or s.startswith("#") or s.startswith("cpus="):
                continue
            if s.startswith("t_ns,"):
                return "csv"
            if _RE_TRACEFS.match(line):
                return "tracefs"
            if _RE_PERF.match(line):
                return "perf"
            if i > 200:
                break
    raise TraceError(f"{path}: not a trace this reader knows (CSV with header {CSV_HEADER!r}, "
                     "tracefs/trace-cmd text or perf script text)")


@dataclass
class TraceLimits:
    """What a page event may hold beyond the formats' syntax: pfns below
    ``max_pfn`` (``pfn_what`` says whose limit), and times before ``until_ns``
    (from the first page event; None: all)."""

    max_pfn: int = MAX_TRACE_PFN
    pfn_what: str = "1 TiB of memory (the limit without a snapshot)"
    until_ns: int | None = None


def read_trace(path, *, fmt: str | None = None, comm: str | None = None,
               skip_bad_lines: bool = False, max_pfn: int | None = None,
               until_ns: int | None = None) -> ParsedTrace:
    """Stream ``path`` into a :class:`ParsedTrace`.

    ``comm``: keep only allocations made by this command name (frees and
    extfrag events are kept whatever the task: a page allocated by the
    command may be freed by another).  ``max_pfn``: one past the machine's
    last pfn (a snapshot's :meth:`~.snapshot.Snapshot.pfn_limit`; default 1
    TiB of memory); a larger pfn is a bad line.  ``until_ns``: read only
    the events of the first ``until_ns`` ns (counts of other events too);
    ``cut_ns`` of the result says whether the trace went on.
    """
    path = Path(path)
    lim = TraceLimits(until_ns=until_ns) if max_pfn is None else \
        TraceLimits(int(max_pfn), f"the machine's memory (pfns below {int(max_pfn):#x})", until_ns)
    fmt = fmt or detect_format(path)
    # a cut trace is read by the line readers, which stop at the cut
    fast = until_ns is None
    if fmt == "csv":
        out = _read_fast(path, "csv", comm, lim) if fast else None
        if out is None:       # something is off: the line-by-line reader finds where
            out = _read_csv(path, comm, skip_bad_lines, lim)
    elif fmt in ("tracefs", "trace-cmd", "perf"):
        out = _read_fast(path, "perf" if fmt == "perf" else "tracefs", comm, lim) if fast else None
        if out is None:
            out = _read_text(path, fmt, comm, skip_bad_lines, lim)
    else:
        raise TraceError(f"{path}: unknown trace format {fmt!r} (csv, tracefs, trace-cmd, perf)")
    if not (out.ev == EV_ALLOC).any():
        raise TraceError(f"{path}: no mm_page_alloc events"
                         + (f" for comm {comm!r}" if comm else "") + f" in {out.lines} lines")
    return out


def _bad(path, lineno, line, why, skip, out):
    if skip:
        out.bad_lines += 1
        return
    text = line.rstrip("\n")
    if len(text) > 160:
        text = text[:160] + "..."
    raise TraceError(f"{path}:{lineno}: {why}: {text!r}")


def _read_comm_csv(path: Path) -> dict:
    """``comm.csv`` beside a CSV trace (shared/traces schema)."""
    for cand in (path.with_name("comm.csv"),):
        if cand.exists():
            out = {}
            with open(cand, encoding="utf-8", errors="replace") as f:
                next(f, None)
                for line in f:
                    pid, _, name = line.rstrip("\n").partition(",")
                    if re.fullmatch(r"-?[0-9]+", pid.strip()):   # ASCII digits only
                        out[int(pid)] = name
            return out
    return {}


class _Clock:
    """The times of a trace's page events as they are read: the first (times
    are rebased to it), their order, and the cut (``lim.until_ns`` after it);
    ``lim`` also holds the pfn limit the rows are checked against."""

    def __init__(self, lim: TraceLimits):
        self.lim = lim
        self.t0: int | None = None
        self.prev: int | None = None
        self.until = lim.until_ns
        self.cut = False

    def beyond(self, t: int) -> bool:
        """Whether ``t`` (as recorded) is at or after the cut (noted in ``cut``)."""
        if self.until is None or self.t0 is None or t - self.t0 < self.until:
            return False
        self.cut = True
        return True

    def step(self, t: int) -> str | None:
        """The problem with a page event at ``t`` (as recorded), or None."""
        if not -2 ** 63 <= t < 2 ** 63 or (self.t0 is not None and t - self.t0 >= 2 ** 63):
            return f"time {t} ns is out of range"
        if self.t0 is None:
            self.t0 = t
        if self.prev is not None and t < self.prev:
            return (f"time {(t - self.t0) / 1e9:.9f} s is before the previous event's "
                    f"{(self.prev - self.t0) / 1e9:.9f} s (a trace is in time order)")
        self.prev = t
        return None

    def finish(self, res: ParsedTrace) -> None:
        res.t0_ns = self.t0 or 0
        res.cut_ns = self.until if self.cut else None


_INT32 = 2 ** 31
#: a recorded cpu number must fit ParsedTrace.cpu (int16)
_MAX_CPUS = 2 ** 15


def _row_problem(row, lim: TraceLimits) -> str | None:
    """What is wrong with a page event row (t, ev, pfn, order, mt, gfp, pid,
    fallback order, fallback mt, change_ownership, cpu), or None.  The fast
    parsers' columns are checked the same way by :func:`_columns_ok`."""
    _, ev, pfn, order, mt, gfp, pid, fo, fmt, co, cpu = row[:11]
    if not 0 <= order <= C.MAX_PAGE_ORDER:
        return f"order {order} outside 0..{C.MAX_PAGE_ORDER}"
    if pfn < (-1 if ev == EV_ALLOC else 0):
        return f"negative pfn {pfn}"
    if pfn >= lim.max_pfn:
        return f"pfn {pfn:#x} is beyond {lim.pfn_what}"
    if not -_INT32 <= pid < _INT32:
        return f"pid {pid} out of range"
    if not 0 <= cpu < _MAX_CPUS:
        return f"cpu {cpu} outside 0..{_MAX_CPUS - 1}"
    if ev != EV_FREE and not 0 <= mt < C.MIGRATE_TYPES:
        return f"migratetype {mt} outside 0..{C.MIGRATE_TYPES - 1}"
    if ev == EV_ALLOC and not 0 <= gfp <= G.GFP_T_MAX:
        return f"gfp mask {gfp:#x} is not a 32-bit gfp_t"
    if ev == EV_ALLOC and gfp & G.GFP_MOVABLE_MASK == G.GFP_MOVABLE_MASK:
        return f"gfp {G.gfp_to_string(gfp)}: __GFP_MOVABLE and __GFP_RECLAIMABLE together"
    if ev == EV_EXTFRAG:
        if not 0 <= fo <= C.MAX_PAGE_ORDER:
            return f"fallback_order {fo} outside 0..{C.MAX_PAGE_ORDER}"
        if not 0 <= fmt < C.MIGRATE_TYPES:
            return f"fallback_migratetype {fmt} outside 0..{C.MIGRATE_TYPES - 1}"
        if co not in (0, 1):
            return f"change_ownership {co} is not 0 or 1"
    return None


def _columns_ok(a: dict, keep: np.ndarray, lim: TraceLimits) -> bool:
    """:func:`_row_problem` and the time order over the fast parsers' columns
    (before their int8 casts), in one compiled pass
    (:func:`_traceparse.columns_ok`); False sends the file to the line
    reader, which names the line.  ``keep``: a boolean mask (both parsers'
    ``finish``)."""
    return bool(P.columns_ok(keep, a["t"], a["ev"], a["pfn"], a["mt"], a["gfp"], a["pid"],
                             a["cpu"], a["fo"], a["fmt"], a["co"],
                             int(min(lim.max_pfn, 2 ** 63 - 1)), _MAX_CPUS, EV_ALLOC,
                             EV_FREE, EV_EXTFRAG, C.MIGRATE_TYPES, C.MAX_PAGE_ORDER, G.GFP_T_MAX,
                             G.GFP_MOVABLE_MASK))


def _csv_row(p: list, ev: str) -> tuple:
    """The row of a CSV A/F/X line split into 11 fields (ValueError: a bad number)."""
    t, cpu, pid, pfn, order = int(p[0]), int(p[1]), int(p[2]), int(p[4]), int(p[5])
    if ev == "A":
        return (t, EV_ALLOC, pfn, order, int(p[6]), int(p[7], 16), pid, -1, -1, 0, cpu)
    if ev == "F":
        return (t, EV_FREE, pfn, order, -1, 0, pid, -1, -1, 0, cpu)
    return (t, EV_EXTFRAG, pfn, order, int(p[6]), 0, pid, int(p[8]), int(p[9]), int(p[10]), cpu)


def _read_csv(path: Path, comm, skip, lim: TraceLimits | None = None) -> ParsedTrace:
    """The line-by-line reader of the CSV schema: slow, but it names a bad
    line, or skips and counts it; it stops at ``lim.until_ns``."""
    lim = lim or TraceLimits()
    rows = []
    res = ParsedTrace.empty(path, "csv")
    comms = _read_comm_csv(path)
    keep_pids = None
    if comm is not None:
        keep_pids = {p for p, c in comms.items() if c == comm}
        if not comms:
            raise TraceError(f"{path}: --comm needs comm.csv beside the trace")
    clock = _Clock(lim)
    lineno = 0
    with open_text(path) as f, _decompress_errors(path, lambda: lineno):
        header = f.readline()
        lineno = 1
        if header.strip() != CSV_HEADER:
            raise TraceError(f"{path}:1: expected the header {CSV_HEADER!r}, got "
                             f"{header.strip()[:80]!r}")
        for line in f:
            lineno += 1
            p = line.rstrip("\n").split(",")
            if len(p) > 11 or len(p) < 6:
                _bad(path, lineno, line, f"expected 11 fields, got {len(p)}", skip, res)
                continue
            p += [""] * (11 - len(p))     # trailing empty fields may be left out
            ev = p[3]
            name = _EV_NAMES.get(ev)
            if name is None:
                _bad(path, lineno, line, f"unknown event code {ev!r}", skip, res)
                continue
            t = int(p[0]) if re.fullmatch(r"-?[0-9]+", p[0]) else None
            if t is not None and clock.beyond(t):
                break
            res.counts[name] += 1
            if ev not in "AFX":
                continue
            try:
                row = _csv_row(p, ev)
            except ValueError as e:
                _bad(path, lineno, line, f"bad number ({e})", skip, res)
                continue
            if keep_pids is not None and ev == "A" and row[6] not in keep_pids:
                why = clock.step(row[0])
                if why is None:
                    res.filtered_out += 1
                    continue
            else:
                why = _row_problem(row, lim) or clock.step(row[0])
            if why is not None:
                _bad(path, lineno, line, why, skip, res)
                continue
            rows.append(row)
    _set_rows(res, rows, clock)
    res.comm = comms
    res.lines = lineno
    return res


def _open_binary(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    if path.suffix == ".xz":
        return lzma.open(path, "rb")
    return open(path, "rb")


def _chunks(f, size=1 << 25):
    """Whole-line chunks of a binary stream."""
    return _line_chunks(iter(lambda: f.read(size), b""), size)


def _line_chunks(pieces, size: int):
    """The bytes of ``pieces`` (any sizes) as chunks of whole lines of about
    ``size`` bytes (a last line without a newline gets one)."""
    rest = b""
    for data in pieces:
        data = rest + data if rest else data
        start = 0
        while len(data) - start > size:
            cut = data.rfind(b"\n", start, start + size)
            if cut < 0:
                cut = data.find(b"\n", start + size)
                if cut < 0:
                    break
            yield data[start:cut + 1]
            start = cut + 1
        rest = data[start:]
    if rest:
        yield rest if rest.endswith(b"\n") else rest + b"\n"


class _byte_chunks:
    """``with _byte_chunks(path, size) as chunks``: the decompressed bytes of
    ``path`` as whole-line chunks of about ``size`` bytes, read and
    decompressed ahead in a thread (:class:`_Prefetch`)."""

    def __init__(self, path: Path, size: int = CHUNK_BYTES):
        self.path, self.size = path, size
        self._file = self._prefetch = None

    def __enter__(self):
        blocks = xzblocks.xz_blocks(self.path) if self.path.suffix == ".xz" else None
        if blocks is not None and max(b[3] for b in blocks) <= XZ_PARALLEL_MAX_BLOCK:
            # an xz file of several blocks: two decompressed at once
            pieces = xzblocks.iter_xz_parallel(self.path, 2, blocks)
            self._prefetch = _Prefetch(_line_chunks(pieces, self.size))
        else:
            self._file = _open_binary(self.path)
            self._prefetch = _Prefetch(_chunks(self._file, self.size))
        return self._prefetch.__enter__()

    def __exit__(self, *exc) -> None:
        self._prefetch.__exit__(*exc)
        if self._file is not None:
            self._file.close()


class _Prefetch:
    """Iterate ``chunks`` (a generator reading and decompressing a file) in a
    thread, ``depth`` chunks ahead: xz/gzip decompression and the numba
    parsers both release the GIL, so on two cores the next chunk is
    decompressed while the parser works on this one.  An exception of the
    reader is raised here, in the consumer; leaving the ``with`` block early
    stops the thread."""

    _END = object()

    def __init__(self, chunks, depth: int = 2):
        self._chunks, self._q = chunks, queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="defragsim-trace-read", daemon=True)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(self._END)
        except BaseException as e:          # handed to the consumer, raised there
            self._put(e)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def __iter__(self):
        while True:
            item = self._q.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


def _fnv_py(b: bytes) -> int:
    a = np.frombuffer(b, np.uint8)
    return int(P._fnv(a, 0, len(a)))


# the fields the parser picks out, in the order _traceparse.parse_text_chunk indexes them
_KEY_NAMES = (b"page", b"pfn", b"order", b"migratetype", b"gfp_flags", b"fallback_order",
              b"fallback_migratetype", b"change_ownership", b"alloc_order", b"alloc_migratetype")
_KEYS = np.zeros((len(_KEY_NAMES), max(map(len, _KEY_NAMES))), np.uint8)
for _i, _k in enumerate(_KEY_NAMES):
    _KEYS[_i, :len(_k)] = np.frombuffer(_k, np.uint8)
_KLEN = np.array([len(k) for k in _KEY_NAMES], np.int64)


#: the columns the fast parsers fill (``comm``: the comm hash of text formats)
_FAST_COLS = ("t", "ev", "pfn", "order", "mt", "gfp", "pid", "cpu", "fo", "fmt", "co", "comm")
#: the page events of the CSV schema, in the order of parse_csv_chunk's counts
_CSV_COUNTED = ("mm_page_alloc", "mm_page_free", "mm_page_free_batched",
                "mm_page_alloc_zone_locked", "mm_page_pcpu_drain", "mm_page_alloc_extfrag")


class IrregularLine(Exception):
    """A line (or value) the fast parsers do not take: the line readers,
    which name it or skip it, read the file instead."""


def _read_fast(path: Path, fmt: str, comm, lim: TraceLimits | None = None):
    """The numba byte parsers (several million lines a second).  None when a
    line is irregular (or a value out of range, see :func:`_columns_ok`):
    the Python reader then reports or skips it."""
    res = ParsedTrace.empty(path, fmt)
    try:
        parts = list(fast_chunks(path, fmt, comm, lim or TraceLimits(), res))
    except IrregularLine:
        return None
    if parts:
        res.set_columns({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
    return res


def fast_chunks(path: Path, fmt: str, comm, lim: TraceLimits, res: ParsedTrace,
                chunk_bytes: int = CHUNK_BYTES):
    """The page events of ``path`` through the numba byte parsers, a chunk of
    about ``chunk_bytes`` of text at a time: dicts of :class:`ParsedTrace`
    column arrays (times from the first page event; allocations filtered by
    ``comm``).  ``res`` gathers the event counts, command names, lines,
    unknown gfp names and ``t0_ns`` as the chunks are read.  Raises
    :class:`IrregularLine` at a line or value the fast parsers do not take
    (see :func:`_columns_ok`), also after earlier chunks were yielded.

    Decompression runs ahead in a thread (an xz file of several blocks, as
    ``xz -T2`` writes, in two: :mod:`.xzblocks`); each chunk is parsed in two
    halves at once (the parsers release the GIL)."""
    parser = _FastCSV(res) if fmt == "csv" else _FastText(res)
    keep_arg = parser.comm_filter(path, comm)
    prev_t = t0 = None
    try:
        with _byte_chunks(path, chunk_bytes) as chunks, \
                concurrent.futures.ThreadPoolExecutor(2, "defragsim-trace-parse") as pool:
            for half, raw in _parsed_pieces(_pieces(chunks, fmt, res), parser, pool):
                arr, n = parser.absorb(half, raw)
                if arr is None:
                    raise IrregularLine
                a = {k: arr[k][:n] for k in _FAST_COLS}
                keep = parser.keep(a, keep_arg)
                if keep is None or not _columns_ok(a, keep, lim) or \
                        (n and prev_t is not None and a["t"][0] < prev_t):
                    raise IrregularLine
                if n:
                    prev_t = int(a["t"][n - 1])
                    if t0 is None:
                        t0 = res.t0_ns = int(a["t"][0])
                    yield _kept_columns(a, keep, t0)
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile, OSError):
        raise IrregularLine from None


def _pieces(chunks, fmt: str, res: ParsedTrace):
    """Each chunk (the CSV header checked and dropped) as two halves of whole lines."""
    for i, chunk in enumerate(chunks):
        if fmt == "csv" and i == 0:
            head, _, chunk = chunk.partition(b"\n")
            res.lines += 1
            if head.decode("utf-8", "replace").strip() != CSV_HEADER:
                raise IrregularLine
        yield from _halves(chunk)


#: pieces of a trace being parsed at once (by the pool's two threads, or waiting)
PARSE_DEPTH = 4


def _parsed_pieces(pieces, parser, pool):
    """``(piece, parser.raw(piece))`` in order, the pieces parsed by ``pool``
    up to :data:`PARSE_DEPTH` ahead while the caller handles the earlier
    ones: a piece's scratch columns are reused by the piece
    :data:`PARSE_DEPTH` later, submitted only after the caller is done with it."""
    scratch = [_Scratch() for _ in range(PARSE_DEPTH)]
    pending: deque = deque()
    it = iter(pieces)
    k = 0
    while True:
        while len(pending) < PARSE_DEPTH:
            piece = next(it, None)
            if piece is None:
                break
            pending.append((piece, pool.submit(parser.raw, piece, scratch[k % PARSE_DEPTH])))
            k += 1
        if not pending:
            return
        piece, fut = pending.popleft()
        yield piece, fut.result()


#: the largest xz block decompressed in parallel (three are held at once;
#: ``xz -T2 -9`` writes 192 MiB blocks, which are read serially)
XZ_PARALLEL_MAX_BLOCK = 1 << 26
#: bytes read from a trace's head and tail to find its first and last page events
PROBE_BYTES = 1 << 20


def trace_text_bytes(path) -> int | None:
    """The size of ``path``'s text once decompressed, when the file says it
    cheaply: a plain file's size, an xz file's index (several blocks), a
    gzip file's trailer (ISIZE: the size modulo 4 GiB, taken for files under
    1 GiB); None otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.suffix == ".xz":
            blocks = xzblocks.xz_blocks(path, min_blocks=1)
            return sum(b[3] for b in blocks) if blocks is not None else None
        if path.suffix == ".gz":
            if not 18 <= size < 1 << 30:
                return None
            with open(path, "rb") as f:
                f.seek(size - 4)
                return int.from_bytes(f.read(4), "little")
        return size
    except OSError:
        return None


def trace_extent(path, fmt: str, comm=None) -> tuple[int, int] | None:
    """``(first, last)``: the recorded times (ns) of the first page event
    (the times' origin) and of the last one ``comm`` keeps, as the fast
    parsers read them, from the file's head and tail only (a streamed replay
    needs its length before it starts).  None when a probe meets a line the
    fast parsers do not take or finds no page event."""
    path = Path(path)
    try:
        first = _probe_times(path, fmt, None, _head_bytes(path, PROBE_BYTES), False)
        last = _probe_times(path, fmt, comm, _tail_bytes(path, PROBE_BYTES), True)
    except (IrregularLine, EOFError, lzma.LZMAError, gzip.BadGzipFile, OSError):
        return None
    if first is None or last is None:
        return None
    return first, last


def _probe_times(path: Path, fmt: str, comm, chunk: bytes, last: bool) -> int | None:
    """The first row's time (``last`` False) or the last kept row's (True) of
    ``chunk`` (whole lines), None when it has none."""
    if fmt == "csv" and chunk.startswith(b"t_ns,"):
        chunk = chunk.partition(b"\n")[2]
    res = ParsedTrace.empty(path, fmt)
    parser = _FastCSV(res) if fmt == "csv" else _FastText(res)
    arr, n = parser.absorb(chunk, parser.raw(chunk))
    if arr is None:
        raise IrregularLine
    if not n:
        return None
    a = {k: arr[k][:n] for k in _FAST_COLS}
    if not last:
        return int(a["t"][0])
    keep = parser.keep(a, parser.comm_filter(path, comm))
    if keep is None:
        raise IrregularLine
    rows = np.flatnonzero(keep)
    return int(a["t"][rows[-1]]) if len(rows) else None


def _head_bytes(path: Path, n: int) -> bytes:
    """The first whole lines of ``path`` (decompressed), about ``n`` bytes."""
    with _open_binary(path) as f:
        data = f.read(n)
    if len(data) == n and b"\n" in data:
        return data[:data.rfind(b"\n") + 1]
    return data if data.endswith(b"\n") or not data else data + b"\n"


def _tail_bytes(path: Path, n: int) -> bytes:
    """The last whole lines of ``path`` (decompressed), about ``n`` bytes: a
    seek for plain files, the last blocks of a multi-block xz file, else
    the whole stream decompressed (keeping its end)."""
    data, whole = b"", False
    blocks = xzblocks.xz_blocks(path) if path.suffix == ".xz" else None
    if path.suffix not in (".gz", ".xz"):
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(max(size - n, 0))
            data, whole = f.read(), size <= n
    elif blocks is not None:
        with open(path, "rb") as f:
            header = f.read(12)
            parts, k = [], len(blocks)
            while k and sum(map(len, parts)) < n:
                k -= 1
                off, total, unpadded, usize = blocks[k]
                f.seek(off)
                parts.insert(0, lzma.decompress(
                    xzblocks.block_stream(header, f.read(total), unpadded, usize)))
        data, whole = b"".join(parts), k == 0
    else:
        keep: list = []
        whole = True
        with _open_binary(path) as f:
            while chunk := f.read(max(n, 1 << 22)):
                whole = whole and len(keep) < 2
                keep = keep[-1:] + [chunk]
        data = b"".join(keep)
    if not whole:
        data = data.partition(b"\n")[2]
    return data if data.endswith(b"\n") or not data else data + b"\n"


def _kept_columns(a: dict, keep: np.ndarray, t0: int) -> dict:
    """The :class:`ParsedTrace` columns of a parsed chunk's kept rows (new
    arrays: the parser's scratch columns are reused), times from ``t0``."""
    if keep.all():
        keep = slice(None)                 # every row kept: no copy by a mask
    return dict(
        t_ns=a["t"][keep] - t0, ev=a["ev"][keep].astype(np.int8), pfn=a["pfn"][keep].copy(),
        order=a["order"][keep].astype(np.int8), mt=a["mt"][keep].astype(np.int8),
        gfp=a["gfp"][keep].copy(), pid=a["pid"][keep].astype(np.int32),
        cpu=a["cpu"][keep].astype(np.int16),
        fallback_order=a["fo"][keep].astype(np.int8), fallback_mt=a["fmt"][keep].astype(np.int8),
        change_ownership=a["co"][keep].astype(np.int8))


def _halves(chunk: bytes, min_bytes: int = 1 << 16) -> list:
    """``chunk`` (whole lines) as two runs of whole lines split near the
    middle, or as itself when small or one line."""
    if len(chunk) < min_bytes:
        return [chunk]
    cut = chunk.find(b"\n", len(chunk) // 2)
    if cut < 0 or cut + 1 >= len(chunk):
        return [chunk]
    return [chunk[:cut + 1], chunk[cut + 1:]]


class _Scratch:
    """int64 arrays for one parser thread, reused from chunk to chunk
    (allocating ~18 fresh arrays a chunk cost a sixth of the parse, in page
    faults); the caller copies out the rows it keeps before the next chunk.
    Not zeroed: the parsers write every column of each row they return (and
    the text parser an event hash for every line; its offsets are read only
    where it wrote them)."""

    def __init__(self):
        self.cap, self.arrays = 0, {}

    def get(self, name: str, n: int, width: int = 0) -> np.ndarray:
        """``n`` rows (of ``width`` columns when nonzero), not initialized."""
        if n > self.cap:
            self.cap, self.arrays = max(n, self.cap * 5 // 4), {}
        key = (name, width)
        if key not in self.arrays:
            self.arrays[key] = np.empty((self.cap, width) if width else self.cap, np.int64)
        return self.arrays[key][:n]


def _chunk_columns(chunk: bytes, scratch: _Scratch | None = None) -> tuple:
    """(bytes as uint8, lines, int64 columns for as many rows).  A
    last line without a newline is a line too (the parsers read it: the
    columns must have its row; ``_chunks`` never makes one)."""
    n_lines = chunk.count(b"\n") + (1 if chunk and not chunk.endswith(b"\n") else 0)
    scratch = scratch or _Scratch()
    return np.frombuffer(chunk, np.uint8), n_lines, {k: scratch.get(k, n_lines) for k in _FAST_COLS}


class _FastCSV:
    """The CSV schema through :func:`_traceparse.parse_csv_chunk`."""

    def __init__(self, res: ParsedTrace):
        self.res = res
        self.page_counts = np.zeros(len(_CSV_COUNTED), np.int64)

    def raw(self, chunk: bytes, scratch: _Scratch | None = None) -> tuple:
        """The compiled parser's output for a chunk of whole lines (touches
        nothing of ``self``: two halves are parsed at once, each with its own
        ``scratch``)."""
        buf, n_lines, arr = _chunk_columns(chunk, scratch)
        counts = np.zeros_like(self.page_counts)
        n, bad = P.parse_csv_chunk(buf, n_lines, arr["t"], arr["ev"], arr["pfn"], arr["order"],
                                   arr["mt"], arr["gfp"], arr["pid"], arr["cpu"], arr["fo"],
                                   arr["fmt"], arr["co"], counts)
        return n_lines, arr, n, bad, counts

    def absorb(self, chunk: bytes, raw: tuple):
        """(columns, rows) of a parsed chunk, in file order; (None, 0) at a bad line."""
        n_lines, arr, n, bad, counts = raw
        if bad >= 0:
            return None, 0
        self.page_counts += counts
        self.res.lines += n_lines
        return arr, n

    def comm_filter(self, path: Path, comm):
        """comm.csv's command names into ``res.comm``; the pids of ``comm``
        (None: no filter)."""
        self.res.comm.update(_read_comm_csv(path))
        if comm is None:
            return None
        if not self.res.comm:
            raise TraceError(f"{path}: --comm needs comm.csv beside the trace")
        return np.array([p for p, c in self.res.comm.items() if c == comm], np.int64)

    def keep(self, a: dict, pids) -> np.ndarray:
        """The rows of a chunk to keep (``pids``: allocations by other tasks
        are dropped), after counting its events."""
        res = self.res
        for i, name in enumerate(_CSV_COUNTED):
            if self.page_counts[i]:
                res.counts[name] += int(self.page_counts[i])
        self.page_counts[:] = 0
        keep = np.ones(len(a["t"]), bool)
        if pids is not None:
            drop = (a["ev"] == EV_ALLOC) & ~np.isin(a["pid"], pids)
            res.filtered_out += int(drop.sum())
            keep &= ~drop
        return keep


class _FastText:
    """tracefs / trace-cmd / perf text through :func:`_traceparse.parse_text_chunk`:
    event names, gfp texts and comms come back as hashes and offsets, decoded
    here once per distinct value."""

    def __init__(self, res: ParsedTrace):
        self.res = res
        self.ev_names: dict = {}
        self.gfp_texts: dict = {}
        #: gfp text hash -> (mask, unknown names)
        self.gfp_masks: dict = {}
        self.comm_names: dict = {}
        self.names = [_fnv_py(n) for n in (b"mm_page_alloc", b"mm_page_free", b"mm_page_alloc_extfrag")]

    def raw(self, chunk: bytes, scratch: _Scratch | None = None) -> tuple:
        """The compiled parser's output for a chunk of whole lines (touches
        nothing of ``self``: two halves are parsed at once, each with its own
        ``scratch``)."""
        scratch = scratch or _Scratch()
        buf, n_lines, arr = _chunk_columns(chunk, scratch)
        ev_hash = scratch.get("ev_hash", n_lines)
        ev_off = scratch.get("ev_off", n_lines, 2)
        comm_off = scratch.get("comm_off", n_lines, 2)
        comm_hash = scratch.get("comm_hash", n_lines)
        gfp_hash = scratch.get("gfp_hash", n_lines)
        gfp_off = scratch.get("gfp_off", n_lines, 2)
        ln, n, bad = P.parse_text_chunk(
            buf, arr["t"], arr["ev"], arr["pfn"], arr["order"], arr["mt"], arr["pid"],
            arr["cpu"], arr["fo"], arr["fmt"], arr["co"], ev_hash, ev_off, comm_off,
            comm_hash, gfp_hash, gfp_off, _KEYS, _KLEN, *self.names)
        return n_lines, arr, ln, n, bad, ev_hash, ev_off, comm_off, comm_hash, gfp_hash, gfp_off

    def absorb(self, chunk: bytes, raw: tuple):
        """(columns, rows) of a parsed chunk, in file order (a pid's command
        name is its first event's); (None, 0) at a bad line."""
        n_lines, arr, ln, n, bad, ev_hash, ev_off, comm_off, comm_hash, gfp_hash, gfp_off = raw
        if bad >= 0:
            return None, 0
        self.res.lines += n_lines
        self._count_events(chunk, ev_hash[:ln], ev_off)
        a_rows = np.flatnonzero(arr["ev"][:n] == EV_ALLOC)
        gh, ch = gfp_hash[:n], comm_hash[:n]
        _decode_once(self.gfp_texts, chunk, gh[a_rows], gfp_off[a_rows], "ascii")
        _decode_once(self.comm_names, chunk, ch, comm_off, "utf-8")
        # a pid's command name: its first page event's (as the Python reader)
        upid, first = np.unique(arr["pid"][:n], return_index=True)
        for pv, i in zip(upid.tolist(), first.tolist()):
            self.res.comm.setdefault(pv, self.comm_names[int(ch[i])])
        arr["gfp"][:n] = gh
        arr["comm"][:n] = ch
        return arr, n

    def _count_events(self, chunk: bytes, hs: np.ndarray, ev_off: np.ndarray) -> None:
        """Every event of the chunk, counted by name (0: not an event line)."""
        u, idx, cnt = np.unique(hs[hs != 0], return_index=True, return_counts=True)
        nz = np.flatnonzero(hs != 0)
        for h, i, c in zip(u.tolist(), idx.tolist(), cnt.tolist()):
            if h not in self.ev_names:
                j = nz[i]
                self.ev_names[h] = chunk[ev_off[j, 0]:ev_off[j, 1]].decode("utf-8", "replace")
            self.res.counts[self.ev_names[h]] += c

    def comm_filter(self, path: Path, comm):
        """The hash of ``comm`` (None: no filter)."""
        return None if comm is None else _fnv_py(comm.encode())

    def keep(self, a: dict, comm_hash) -> np.ndarray | None:
        """Turn a chunk's gfp text hashes into masks (each distinct text parsed
        once, unknown names counted per allocation) and return the rows to
        keep (``comm_hash``: allocations by other commands are dropped); None
        when a gfp text does not parse."""
        res = self.res
        is_a = a["ev"] == EV_ALLOC
        rows = np.flatnonzero(is_a)
        texts, which = np.unique(a["gfp"][rows], return_inverse=True)
        vals = np.empty(len(texts), np.int64)
        for j, h in enumerate(texts.tolist()):
            hit = self.gfp_masks.get(h)
            if hit is None:
                cnt = Counter()
                try:
                    v = parse_gfp_lenient(self.gfp_texts[h], cnt)
                except ValueError:
                    return None              # the line reader names the line
                if not 0 <= v <= G.GFP_T_MAX:
                    return None
                hit = self.gfp_masks[h] = (v, cnt)
            vals[j] = hit[0]
            if hit[1]:
                n = int(np.count_nonzero(which == j))
                for name, k in hit[1].items():
                    res.unknown_gfp[name] += k * n
        comm_of_row = a["comm"]
        a["gfp"] = np.zeros(len(is_a), np.int64)
        a["gfp"][rows] = vals[which]
        keep = np.ones(len(is_a), bool)
        if comm_hash is not None:
            drop = is_a & (comm_of_row != comm_hash)
            res.filtered_out += int(drop.sum())
            keep &= ~drop
        return keep


def _decode_once(texts: dict, chunk: bytes, hashes: np.ndarray, offs: np.ndarray,
                 encoding: str) -> None:
    """``texts[hash]`` = the text at ``offs`` of the first row with each hash not
    seen before."""
    for h, i in zip(*np.unique(hashes, return_index=True)):
        h = int(h)
        if h not in texts:
            texts[h] = chunk[offs[i, 0]:offs[i, 1]].decode(encoding, "replace")


_EV_NAMES = {"A": "mm_page_alloc", "F": "mm_page_free", "B": "mm_page_free_batched",
             "Z": "mm_page_alloc_zone_locked", "D": "mm_page_pcpu_drain",
             "X": "mm_page_alloc_extfrag"}


def _fields(s: str) -> dict:
    out = {}
    for tok in s.split():
        k, sep, v = tok.partition("=")
        if sep:
            out[k] = v
    return out


def _alloc_fields(fs: str):
    """(page, pfn, order, migratetype, gfp text) of an mm_page_alloc line: the
    kernel's fixed layout first, any key order as the fallback."""
    tok = fs.split()
    if len(tok) == 5 and tok[0][:5] == "page=" and tok[1][:4] == "pfn=" and \
            tok[2][:6] == "order=" and tok[3][:12] == "migratetype=" and tok[4][:10] == "gfp_flags=":
        return tok[0][5:], int(tok[1][4:], 16), int(tok[2][6:]), int(tok[3][12:]), tok[4][10:]
    fl = _fields(fs)
    return (fl.get("page", ""), int(fl["pfn"], 16), int(fl["order"]), int(fl["migratetype"]),
            fl.get("gfp_flags", "none"))


def _read_text(path: Path, fmt, comm, skip, lim: TraceLimits | None = None) -> ParsedTrace:
    """The line-by-line reader of tracefs / trace-cmd / perf text (regular
    expressions): slow, but it names a bad line, or skips and counts it; it
    stops at ``lim.until_ns``."""
    lim = lim or TraceLimits()
    rows = []
    res = ParsedTrace.empty(path, fmt)
    gfp_cache: dict = {}
    match = (_RE_PERF if fmt == "perf" else _RE_TRACEFS).match
    clock = _Clock(lim)
    lineno = 0
    with open_text(path) as f, _decompress_errors(path, lambda: lineno):
        for line in f:
            lineno += 1
            c0 = line[:1]
            if c0 == "#" or c0 == "\n" or line.startswith(("cpus=", "CPU ")) or not line.strip():
                continue
            m = match(line)
            if m is None:
                _bad(path, lineno, line, f"not a {fmt} event line", skip, res)
                continue
            c, pid_s, cpu_s, ts, event, fs = m.groups()
            t = _ts_ns(ts)
            if clock.beyond(t):
                break
            event = _bare_event(event)
            res.counts[event] += 1
            if event[:8] != "mm_page_" or event not in _TEXT_EVENTS:
                continue
            why = _text_event(res, clock, event, fs, t, int(pid_s), int(cpu_s), c.strip(), comm,
                              gfp_cache, rows)
            if why is not None:
                res.counts[event] -= 1
                _bad(path, lineno, line, why, skip, res)
    _set_rows(res, rows, clock, gfp_cache)
    res.lines = lineno
    return res


def _text_event(res: ParsedTrace, clock: _Clock, event: str, fs: str, t: int, pid: int, cpu: int,
                c: str, comm, gfp_cache: dict, rows: list) -> str | None:
    """One page event line of a text trace into ``rows`` (unless ``comm``
    filters it out); the problem with it, or None."""
    if pid not in res.comm:
        res.comm[pid] = c
    if event == "mm_page_alloc" and comm is not None and c != comm:
        why = clock.step(t)
        if why is None:
            res.filtered_out += 1
        return why
    try:
        row = _text_row(event, fs, t, pid, cpu, gfp_cache)
    except (KeyError, ValueError) as e:
        return f"{event}: missing or bad field ({e})"
    why = _row_problem(row, clock.lim) or clock.step(t)
    if why is None:
        rows.append(row)
    return why


def _text_row(event: str, fs: str, t: int, pid: int, cpu: int, gfp_cache: dict) -> tuple:
    """(t, ev, pfn, order, mt, gfp, pid, fallback order, fallback mt,
    change_ownership, cpu, gfp text) of a page event with fields ``fs``; gfp texts
    are parsed once (``gfp_cache``: text -> (mask, unknown names))."""
    if event == "mm_page_alloc":
        page, pfn, order, mt, gtext = _alloc_fields(fs)
        failed = page in ("(nil)", "0000000000000000", "0") or \
            (pfn == 0 and page.strip("0x") == "")
        hit = gfp_cache.get(gtext)
        if hit is None:
            cnt = Counter()
            hit = gfp_cache[gtext] = (parse_gfp_lenient(gtext, cnt), cnt)
        return (t, EV_ALLOC, -1 if failed else pfn, order, mt, hit[0], pid, -1, -1, 0, cpu, gtext)
    if event == "mm_page_free":
        tok = fs.split()
        if len(tok) == 3 and tok[1][:4] == "pfn=" and tok[2][:6] == "order=":
            pfn, order = int(tok[1][4:], 16), int(tok[2][6:])
        else:
            fl = _fields(fs)
            pfn, order = int(fl["pfn"], 16), int(fl["order"])
        return (t, EV_FREE, pfn, order, -1, 0, pid, -1, -1, 0, cpu, None)
    fl = _fields(fs)
    order = int(fl["alloc_order"])
    return (t, EV_EXTFRAG, int(fl["pfn"], 16), order, int(fl["alloc_migratetype"]), 0, pid,
            int(fl["fallback_order"]), int(fl["fallback_migratetype"]),
            int(fl["change_ownership"]), cpu, None)


def _set_rows(res: ParsedTrace, rows: list, clock: _Clock, gfp_cache: dict | None = None) -> None:
    """The rows of :func:`_csv_row` or :func:`_text_row` as the trace's
    columns, times from the first page event; unknown gfp names (text)
    counted per allocation that carried them."""
    clock.finish(res)
    if rows and gfp_cache is not None:
        n_by_text = Counter(r[11] for r in rows if r[11] is not None)
        for g, n in n_by_text.items():
            for name, k in gfp_cache[g][1].items():
                res.unknown_gfp[name] += k * n
    if rows:
        a = np.array([r[:11] for r in rows], dtype=np.int64)
        a[:, 0] -= res.t0_ns
    else:
        a = np.zeros((0, 11), np.int64)
    res.set_columns(dict(
        t_ns=a[:, 0].copy(), ev=a[:, 1].astype(np.int8), pfn=a[:, 2].copy(),
        order=a[:, 3].astype(np.int8), mt=a[:, 4].astype(np.int8), gfp=a[:, 5].copy(),
        pid=a[:, 6].astype(np.int32), fallback_order=a[:, 7].astype(np.int8),
        fallback_mt=a[:, 8].astype(np.int8), change_ownership=a[:, 9].astype(np.int8),
        cpu=a[:, 10].astype(np.int16)))


_TEXT_EVENTS = frozenset(("mm_page_alloc", "mm_page_free", "mm_page_alloc_extfrag"))
#: other_events.csv: the event (fourth) field of a line, after any "system:" prefix
_RE_OTHER_EVENT = re.compile(rb"^[^,\n]*,[^,\n]*,[^,\n]*,(?:[^,\n]*:)?([^,:\n]*)", re.M)


#: other_events.csv: a direct_reclaim_begin/end line's time, pid and which
_RE_DIRECT_RECLAIM = re.compile(
    rb"(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?mm_vmscan_direct_reclaim_(begin|end),")


def _event_lines(data: bytes, trace_path, regex, what: str, *needles: bytes,
                 lo: int = 0, hi: int | None = None) -> list:
    """The ``regex`` match of each line of ``other_events.csv`` (``data``)
    naming one of ``needles`` (found from byte ``lo`` to ``hi``), in file
    order (a memchr-speed search: the events wanted are a few of the file's
    lines); a line that does not match is named (``what`` it should be)."""
    hi = len(data) if hi is None else hi
    starts = set()
    for needle in needles:
        pos = data.find(needle, lo, hi)
        while pos >= 0:
            starts.add(data.rfind(b"\n", 0, pos) + 1)
            pos = data.find(needle, pos + len(needle), hi)
    out = []
    for st in sorted(starts):
        end = data.find(b"\n", st)
        line = data[st:end if end >= 0 else len(data)]
        m = regex.match(line)
        if m is None:
            at = data.count(b"\n", 0, st) + 1
            raise TraceError(f"{other_events_name(trace_path)}: line {at}: expected {what} "
                             f"with integer time and pid, got "
                             f"{line.decode('utf-8', 'replace')[:120]!r}")
        out.append(m)
    return out


# The readers below take "the other_events.csv beside a CSV trace": for a text
# trace, they read its own compaction, vmscan and migrate lines in that form
# (_other_events_bytes(), workloads/text_events.py).


def other_events_path(trace_path) -> Path | None:
    """``other_events.csv[.xz|.gz]`` beside a CSV trace, or None."""
    d = Path(trace_path).resolve().parent
    for name in ("other_events.csv.xz", "other_events.csv.gz", "other_events.csv"):
        if (d / name).exists():
            return d / name
    return None


def other_events_name(trace_path) -> str:
    """What a reader of the other events names in an error: the
    ``other_events.csv`` beside a CSV trace, or a text trace's own events."""
    if trace_format(trace_path) != "csv":
        return f"{trace_path} (its compaction, vmscan and migrate events)"
    return str(other_events_path(trace_path))


def trace_format(trace_path) -> str:
    """:func:`detect_format` of a trace file, kept for the last few files;
    "csv" for a path with no file (only an ``other_events.csv`` beside it)."""
    p = Path(trace_path)
    if not p.is_file():
        return "csv"
    st = p.stat()
    return _trace_format(str(p.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _trace_format(path: str, mtime_ns: int, size: int) -> str:
    return detect_format(path)


def _other_events_bytes(trace_path) -> bytes | None:
    """The whole (decompressed) ``other_events.csv`` beside a CSV trace, or
    for a text trace its own compaction, vmscan and migrate events in that
    form (:func:`.text_events.other_events_csv`); None without them.  The
    last file read is kept, as a replay reads it several times."""
    fmt = trace_format(trace_path)
    if fmt != "csv":
        data = text_other_events(trace_path, fmt)
        return data if data.find(b"\n") + 1 < len(data) else None
    p = other_events_path(trace_path)
    if p is None:
        return None
    st = p.stat()
    return _read_other_events(str(p), st.st_mtime_ns, st.st_size)


def text_other_events(trace_path, fmt: str) -> bytes:
    """A text trace's reclaim, compaction and migration events as
    ``other_events.csv`` (:func:`.text_events.other_events_csv`), kept for
    the last file read."""
    st = Path(trace_path).stat()
    return _text_other_events(str(Path(trace_path).resolve()), fmt, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=1)
def _text_other_events(path: str, fmt: str, mtime_ns: int, size: int) -> bytes:
    lines = [0]

    def counted(chunks):
        for chunk in chunks:
            yield chunk
            lines[0] += chunk.count(b"\n")
    # (a damaged compressed file is named with the last whole line read)
    with _decompress_errors(path, lambda: lines[0]), _byte_chunks(Path(path)) as chunks:
        return other_events_csv(counted(chunks), fmt, parse_gfp_lenient)


@functools.lru_cache(maxsize=1)
def _read_other_events(path: str, mtime_ns: int, size: int) -> bytes:
    lineno = 0
    with _decompress_errors(path, lambda: lineno), _open_binary(Path(path)) as f:
        return f.read()


def direct_reclaim_windows(trace_path) -> dict | None:
    """Each task's direct reclaim as recorded beside a CSV trace:
    ``{pid: (begin_ns, end_ns)}`` (two sorted int64 arrays, the file's
    times) from the ``mm_vmscan_direct_reclaim_begin`` / ``_end`` lines of
    ``other_events.csv``; None without the file.  A begin without its end
    (the trace stopped first) lasts to the end; an end without its begin
    (reclaim began before the trace) starts at the beginning.  A
    begin/end line whose time or pid is not an integer is named."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    found = _event_lines(data, trace_path, _RE_DIRECT_RECLAIM,
                         "t_ns,cpu,pid,vmscan:mm_vmscan_direct_reclaim_begin|end,...",
                         b"mm_vmscan_direct_reclaim_")
    open_: dict = {}
    out: dict = {}
    lo, hi = -(1 << 62), 1 << 62
    for m in found:
        t, pid = int(m.group(1)), int(m.group(2))
        if m.group(3) == b"begin":
            if pid in open_:          # a lost end: the earlier one ends here
                out.setdefault(pid, []).append((open_[pid], t))
            open_[pid] = t
        else:
            out.setdefault(pid, []).append((open_.pop(pid, lo), t))
    for pid, t in open_.items():
        out.setdefault(pid, []).append((t, hi))
    return {pid: (np.array(sorted(w))[:, 0].astype(np.int64),
                  np.array(sorted(w))[:, 1].astype(np.int64)) for pid, w in out.items()}


#: other_events.csv: kswapd's sleep and wake, and its wakeups (time, which)
_RE_KSWAPD_WAKE = re.compile(
    rb"(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?mm_vmscan_(kswapd_sleep|wakeup_kswapd|kswapd_wake),")
#: how many quantiles of a trace's kswapd wakeup latencies a replay uses
WAKE_LATENCY_QUANTILES = 32


def kswapd_wake_latencies(trace_path) -> list | None:
    """How long the traced machine's kswapd took to run after a wakeup from
    its sleep, from ``other_events.csv`` beside a CSV trace: after each
    ``mm_vmscan_kswapd_sleep``, the first ``mm_vmscan_wakeup_kswapd`` to the
    next ``mm_vmscan_kswapd_wake``.  Returns the latencies' quantiles in µs
    (:data:`WAKE_LATENCY_QUANTILES` of them, or every latency when there are
    fewer), None without the file or a wakeup from sleep."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    lat, asleep, woken = [], False, None
    for m in _event_lines(data, trace_path, _RE_KSWAPD_WAKE,
                          "t_ns,cpu,pid,vmscan:mm_vmscan_kswapd_sleep|wakeup_kswapd|kswapd_wake,...",
                          b"mm_vmscan_kswapd_sleep", b"mm_vmscan_wakeup_kswapd",
                          b"mm_vmscan_kswapd_wake"):
        t, what = int(m.group(1)), m.group(3)
        if what == b"kswapd_sleep":
            asleep, woken = True, None
        elif what == b"wakeup_kswapd":
            if asleep and woken is None:
                woken = t
        else:
            if woken is not None and t >= woken:
                lat.append((t - woken) / 1000)
            asleep, woken = False, None
    if not lat:
        return None
    a = np.sort(np.array(lat))
    if len(a) > WAKE_LATENCY_QUANTILES:
        a = np.quantile(a, (np.arange(WAKE_LATENCY_QUANTILES) + 0.5) / WAKE_LATENCY_QUANTILES)
    return [round(float(x), 3) for x in a]


#: other_events.csv: kswapd's events (:func:`kswapd_reclaim_batches`)
_RE_PACE = re.compile(
    rb"(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?mm_vmscan_(kswapd_wake|kswapd_sleep|"
    rb"lru_isolate|lru_shrink_inactive),([^\n]*)")
#: the reclaim batches :func:`work_pace` times: SWAP_CLUSTER_MAX pages, and
#: one pageblock-order folio's
PACE_BATCH_PAGES = (32, 512)
#: a direct compaction pass this long (pageblocks scanned) or longer gives
#: :attr:`WorkPace.compact_block_us` a sample
PACE_MIN_BLOCKS = 50


@dataclass
class WorkPace:
    """How fast the traced machine did the work the model charges time for
    (:func:`work_pace`): medians, with how many samples each has."""
    reclaim_batch_us: dict       # {pages: median µs}: kswapd's batches that reclaimed them all
    reclaim_batches: dict        # {pages: how many such batches}
    compact_pass_us: float | None    # an async direct compaction pass that isolated nothing
    compact_passes: int
    compact_block_us: float | None   # one pageblock its migrate scanner scanned (long passes)
    compact_block_pages: float | None    # pages scanned a pageblock in those passes
    compact_long_passes: int


def kswapd_reclaim_batches(trace_path) -> dict | None:
    """kswapd's reclaim batches in ``other_events.csv`` that reclaimed every
    page they isolated, by size (:data:`PACE_BATCH_PAGES`): ``{pages: [ns,
    ...]}`` from ``mm_vmscan_lru_isolate`` to kswapd's next
    ``mm_vmscan_lru_shrink_inactive`` (kswapd is the task of
    ``mm_vmscan_kswapd_wake``/``_sleep``).  None without the file."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    what = "t_ns,cpu,pid,vmscan:mm_vmscan_kswapd_*|lru_isolate|lru_shrink_inactive,..."
    batches = {n: [] for n in PACE_BATCH_PAGES}
    kswapd = next((m.group(2) for m in _event_lines(
        data, trace_path, _RE_PACE, what, b"mm_vmscan_kswapd_wake", b"mm_vmscan_kswapd_sleep")),
        None)
    if kswapd is None:
        return batches
    # kswapd's own lines only (a memchr-speed search on its pid): the direct
    # reclaimers' are not parsed
    needles = [b"," + kswapd + b"," + system + b"mm_vmscan_lru_" + ev
               for system in (b"vmscan:", b"") for ev in (b"isolate,", b"shrink_inactive,")]
    found = _event_lines(data, trace_path, _RE_PACE, what, *needles)
    isolated = None             # kswapd's batch in flight: (t, nr_taken)
    for m in found:
        t, ev = int(m.group(1)), m.group(3)
        if ev == b"lru_isolate":
            f = _RE_NR_TAKEN.search(m.group(4))
            isolated = (t, int(f.group(1)) if f else -1)
        elif ev == b"lru_shrink_inactive" and isolated is not None:
            t0, n = isolated
            isolated = None
            f = _RE_NR_RECLAIMED.search(m.group(4))
            if n in batches and f is not None and int(f.group(1)) == n and t >= t0:
                batches[n].append(t - t0)
    return batches


def work_pace(trace_path) -> WorkPace | None:
    """The traced machine's pace at the two kinds of work whose simulated
    cost decides who runs when in a replay, from ``other_events.csv``:

    - kswapd's reclaim batches: ``mm_vmscan_lru_isolate`` (isolate_lru_folios()
      has taken ``nr_taken`` pages) to the same task's next
      ``mm_vmscan_lru_shrink_inactive`` (shrink_folio_list() is done), for the
      batches of :data:`PACE_BATCH_PAGES` pages that reclaimed every page;
      kswapd is the task of ``mm_vmscan_kswapd_wake``/``_sleep``;
    - async direct compaction passes (``mm_compaction_begin`` with sync=0:
      kcompactd's are sync) that isolated nothing, begin to end, and per
      pageblock the migrate scanner scanned (one
      ``mm_compaction_isolate_migratepages`` each) in those of
      :data:`PACE_MIN_BLOCKS` blocks or more.

    The time includes the tracing itself and, on a busy machine, the
    preemptions in between.  None without the file or any such sample."""
    batches = kswapd_reclaim_batches(trace_path)
    if batches is None:
        return None
    passes = [(p.end_ns - p.begin_ns, p.scanned_pages, p.migrate_blocks)
              for zone in (compaction_passes(trace_path) or {}).values() for p in zone
              if p.sync == 0 and not p.isolated and p.end_ns >= p.begin_ns]
    if not passes and not any(batches.values()):
        return None
    per_block = [(d / b, p / b) for d, p, b in passes if b >= PACE_MIN_BLOCKS]
    med = (lambda a: float(np.median(a)) / 1000 if len(a) else None)
    return WorkPace(
        reclaim_batch_us={n: med(v) for n, v in batches.items()},
        reclaim_batches={n: len(v) for n, v in batches.items()},
        compact_pass_us=med([d for d, _, _ in passes]), compact_passes=len(passes),
        compact_block_us=med([d for d, _ in per_block]),
        compact_block_pages=float(np.median([p for _, p in per_block])) if per_block else None,
        compact_long_passes=len(per_block))


#: other_events.csv: a compaction pass's begin and end, and the blocks it scanned
_RE_COMPACTION_PASS = re.compile(
    rb"(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?mm_compaction_(begin|end|isolate_migratepages|"
    rb"isolate_freepages|fast_isolate_freepages),([^\n]*)")
_RE_FIELD = re.compile(rb"([a-z_]+)=(-?[0-9]+)")
_RE_ZONE_START = re.compile(rb"(?<![a-z_])zone_start=(-?[0-9]+)")
_RE_NR_SCANNED = re.compile(rb"(?<![a-z_])nr_scanned=(-?[0-9]+)")
_RE_NR_TAKEN = re.compile(rb"(?<![a-z_])nr_taken=(-?[0-9]+)")
_RE_NR_RECLAIMED = re.compile(rb"(?<![a-z_])nr_reclaimed=(-?[0-9]+)")
_RE_START_PFN = re.compile(rb"(?<![a-z_])start_pfn=(-?[0-9]+)")
_RE_END_PFN = re.compile(rb"(?<![a-z_])end_pfn=(-?[0-9]+)")


@dataclass
class CompactionPass:
    """A compaction pass in a trace (:func:`compaction_passes`): the pfn
    ranges its two scanners crossed, the pages it scanned, the ranges of
    the pageblocks it scanned (``mm_compaction_isolate_*``), and which of
    the crossed ranges looked at every pageblock's skip bit (``untyped``:
    a sync pass's migrate scanner; isolate_migratepages() tests
    isolation_suitable() before suitable_migration_source()).  In the
    others the scanner passed over a pageblock of the wrong type without
    looking at its bit: the free scanner takes only MOVABLE blocks
    (suitable_migration_target()), an async direct compaction's migrate
    scanner only those of the request's type."""
    crossed: list          # [(lo, hi)] machine pfns, hi exclusive
    scanned_pages: int
    scanned: list          # [(start_pfn, end_pfn)] of the isolate events
    untyped: list = field(default_factory=list)     # the crossed ranges of any block type
    begin_ns: int = 0      # mm_compaction_begin's and _end's times
    end_ns: int = 0
    sync: int = 1          # mm_compaction_begin's sync (0: MIGRATE_ASYNC)
    migrate_blocks: int = 0    # mm_compaction_isolate_migratepages events
    isolated: bool = False     # took a page (the free scanner runs only then)

    @property
    def crossed_pages(self) -> int:
        return sum(hi - lo for lo, hi in self.crossed)


def compaction_passes(trace_path) -> dict | None:
    """Each zone's compaction passes recorded beside a CSV trace, in the
    order they ended: ``{zone_start_pfn: [CompactionPass, ...]}`` from
    ``other_events.csv`` (``mm_compaction_begin`` to the same task's
    ``mm_compaction_end``, the ``mm_compaction_isolate_*`` events between);
    None without the file.  A pass still running when the trace ends is
    left out; a line of these events without integer fields is named."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    what = "t_ns,cpu,pid,compaction:mm_compaction_<begin|end|isolate_*>,key=value ..."
    out: dict = {}
    running: dict = {}
    for m in _event_lines(data, trace_path, _RE_COMPACTION_PASS, what,
                          b"mm_compaction_begin", b"mm_compaction_end",
                          b"mm_compaction_isolate_", b"mm_compaction_fast_isolate_"):
        pid, ev = int(m.group(2)), m.group(3)
        if ev != b"begin" and ev != b"end":
            # the scanners' events, most of the lines: only the range and nr_scanned are read
            if pid in running:
                r = running[pid]
                fs = m.group(4)
                n = _RE_NR_SCANNED.search(fs)
                if ev != b"fast_isolate_freepages":
                    a, b = _RE_START_PFN.search(fs), _RE_END_PFN.search(fs)
                    if a is not None and b is not None:
                        r[2].append((int(a.group(1)), int(b.group(1))))
                r[1] += int(n.group(1)) if n is not None else 0
                if ev == b"isolate_migratepages":
                    r[3] += 1
                    taken = _RE_NR_TAKEN.search(fs)
                    r[4] = r[4] or (taken is not None and int(taken.group(1)) > 0)
                else:
                    r[4] = True
            continue
        f = {k.decode(): int(v) for k, v in _RE_FIELD.findall(m.group(4))}
        if ev == b"begin":
            if all(k in f for k in ("zone_start", "migrate_pfn", "free_pfn")):
                # [begin's fields, pages scanned, blocks, migrate blocks, isolated, begin time]
                running[pid] = [f, 0, [], 0, False, int(m.group(1))]
        elif pid in running:
            f0, scanned, blocks, mig_blocks, isolated, t0 = running[pid]
            if ev == b"end":
                del running[pid]
                if "migrate_pfn" not in f or "free_pfn" not in f:
                    continue
                mig = (f0["migrate_pfn"], max(f["migrate_pfn"], f0["migrate_pfn"]))
                free = (min(f["free_pfn"], f0["free_pfn"]) + 1, f0["free_pfn"] + 1)
                crossed = [r for r in (mig, free) if r[1] > r[0]]
                # MODEL: an async pass's migrate scanner taken as a MOVABLE request's
                untyped = [mig] if f0.get("sync", 1) and mig[1] > mig[0] else []
                out.setdefault(f0["zone_start"], []).append(
                    CompactionPass(crossed, scanned, blocks, untyped, t0, int(m.group(1)),
                                   f0.get("sync", 1), mig_blocks, isolated))
    return out


def compaction_start_positions(trace_path) -> dict | None:
    """Where each zone's compaction scanners were cached when the trace
    began, from its first ``mm_compaction_begin`` in ``other_events.csv``
    beside a CSV trace: ``{zone_start_pfn: (migrate_pfn, free_pfn)}``
    (machine pfns).  compact_zone() starts the migrate scanner at
    ``compact_cached_migrate_pfn[sync]`` and the free scanner at
    ``compact_cached_free_pfn`` and the tracepoint prints both.  A pass
    that compacts the whole zone (kcompactd's proactive pass,
    /proc/sys/vm/compact_memory) starts at the zone's ends whatever is
    cached, as a pass after reset_cached_positions() does: such a first
    pass is taken as the reset it looks like.  A begin outside its zone is
    named; None without the file."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    what = "t_ns,cpu,pid,compaction:mm_compaction_begin,key=value ..."
    out: dict = {}
    for m in _event_lines(data, trace_path, _RE_COMPACTION_PASS, what, b"mm_compaction_begin"):
        f = {k.decode(): int(v) for k, v in _RE_FIELD.findall(m.group(4))}
        if not all(k in f for k in ("zone_start", "zone_end", "migrate_pfn", "free_pfn")):
            continue
        if f["zone_start"] in out:
            continue
        if not (f["zone_start"] <= f["migrate_pfn"] < f["zone_end"]
                and f["zone_start"] <= f["free_pfn"] < f["zone_end"]):
            raise TraceError(f"{other_events_name(trace_path)}: an mm_compaction_begin with "
                             f"its scanners outside its zone [zone_start, zone_end): "
                             f"{m.group(0).decode('utf-8', 'replace')[:160]!r}")
        out[f["zone_start"]] = (f["migrate_pfn"], f["free_pfn"])
    return out


#: other_events.csv: kswapd's walk over the memcgs (its LRU batches and shrinker calls)
_RE_RECLAIM_WALK = re.compile(
    rb"(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?mm_(vmscan_kswapd_wake|vmscan_kswapd_sleep|"
    rb"vmscan_lru_isolate|shrink_slab_start|vmscan_lru_shrink_inactive),([^\n]*)")


#: the LRU lists of an mm_vmscan_lru_isolate ``lru`` field (enum lru_list:
#: inactive anon, active anon, inactive file, active file); a batch without one
#: is counted in a last slot of :attr:`MemcgWalk.lists`
NR_WALK_LISTS = 4


@dataclass
class MemcgWalk:
    """The memory cgroups kswapd's first walk over the hierarchy scanned
    (:func:`memcg_walk`): ``lists[i]``, the scan target of each LRU list of
    the i-th memcg of the walk (the root first; :data:`NR_WALK_LISTS` lists,
    then the batches without a list), ``requested`` their sums, and
    ``pages[i]``, the LRU pages the memcg held (its scan target <<
    ``priority``).  A walk that does not deactivate (sc->may_deactivate
    clear) scans no active list, so a memcg's active pages show only in a
    walk that does."""
    priority: int
    lists: list
    t_ns: int

    @property
    def requested(self) -> list:
        return [sum(x) for x in self.lists]

    @property
    def pages(self) -> list:
        return [r << self.priority for r in self.requested]

    @property
    def list_pages(self) -> list:
        """Pages on each LRU list of each memcg (its list's scan target <<
        ``priority``; 0 for a list the walk did not scan)."""
        return [[r << self.priority for r in x[:NR_WALK_LISTS]] for x in self.lists]


def _walk_tokens(events, priority):
    """kswapd's events of one balance_pgdat() pass at ``priority`` as LRU
    batches ("L", lru, nr_requested) and shrinker calls ("S", shr)."""
    out = []
    for ev, f in events:
        if f.get("priority", priority) != priority:
            break
        if ev == b"vmscan_lru_isolate":
            out.append(("L", f.get("lru", -1), f.get("nr_requested", 0)))
        elif ev == b"shrink_slab_start":
            out.append(("S", f.get("shr", 0)))
    return out


def _split_walk(tokens) -> list:
    """One shrink_node_memcgs() walk out of kswapd's tokens.  Each memcg's
    LRU batches come before its shrinker calls (shrink_lruvec(), then
    shrink_slab()), so the tokens are units of (batches, shrinker calls);
    the first unit is the root's.  The walk ends at the unit whose shrinker
    calls include the one of the root's that comes back last: a shrinker
    that is not memcg-aware runs for the root only, while a memcg-aware one
    runs for the children too.  The batches before that unit's shrinker
    calls are the next walk's root's.  Within a unit's batches a memcg ends
    after a list's last, short batch (shrink_lruvec() scans each list
    SWAP_CLUSTER_MAX at a time, the remainder last): a memcg without slab
    objects has no shrinker calls of its own.  Returns the scan targets of
    each memcg that had LRU batches, the root first (all 0 when it had
    none), list by list (:attr:`MemcgWalk.lists`)."""
    units, batches, calls = [], [], []
    for t in tokens:
        if t[0] == "L":
            if calls:
                units.append((batches, calls))
                batches, calls = [], []
            batches.append(t[1:])
        else:
            calls.append(t[1])
    units.append((batches, calls))
    end = len(units)
    if units[0][1]:
        # the root's shrinker that reappears last marks the next root
        def comes_back(shr):
            return next((j for j in range(1, len(units)) if shr in units[j][1]), len(units))
        end = max(comes_back(shr) for shr in units[0][1])
    out = [_list_targets(units[0][0])]
    for j, (batches, _) in enumerate(units[1:end + 1], start=1):
        groups = _batch_groups(batches)
        if j == end:
            # memcgs without slab objects, then the next walk's root (whose
            # batches came first in this walk too)
            groups = groups[:-1] if units[0][0] and groups else groups
        out += groups
    return out


def _list_slot(lru: int) -> int:
    """The slot of :attr:`MemcgWalk.lists` a batch of list ``lru`` counts in."""
    return lru if 0 <= lru < NR_WALK_LISTS else NR_WALK_LISTS


def _list_targets(batches) -> list:
    """The pages LRU ``batches`` (lru, nr_requested) asked of each list."""
    out = [0] * (NR_WALK_LISTS + 1)
    for lru, req in batches:
        out[_list_slot(lru)] += req
    return out


def _batch_groups(batches) -> list:
    """A run of LRU batches split into memcgs: a memcg ends after a list's
    last, short batch; the pages asked of each list of each."""
    out, short = [], set()
    for lru, req in batches:
        if not out or lru in short:
            out.append([0] * (NR_WALK_LISTS + 1))
            short = set()
        out[-1][_list_slot(lru)] += req
        if req < C.SWAP_CLUSTER_MAX:
            short.add(lru)
    return out


def memcg_walk(trace_path) -> MemcgWalk | None:
    """The memcgs holding LRU pages on the traced machine, from the first
    walk of kswapd over the memcg hierarchy in ``other_events.csv`` beside a
    CSV trace (``mm_vmscan_lru_isolate``, ``mm_shrink_slab_start``): kswapd
    walks every memcg in order (shrink_node_memcgs(), full walk), and at
    priority p asks each memcg's lists for size >> p pages.  None without
    the file, or when kswapd scanned no LRU page before it first slept or
    changed priority."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    # the first wake's events are near it: look there first, then everywhere
    lo = max(data.find(b"mm_vmscan_kswapd_wake"), 0)
    lo = data.rfind(b"\n", 0, lo) + 1
    walk = _memcg_walk_in(data, trace_path, lo, lo + MEMCG_WALK_BYTES)
    if walk is None and lo + MEMCG_WALK_BYTES < len(data):
        walk = _memcg_walk_in(data, trace_path, 0, len(data))
    return walk


#: how many bytes of other_events.csv after kswapd's first wake memcg_walk()
#: reads first (its first walk is a few hundred lines)
MEMCG_WALK_BYTES = 4 << 20


def _memcg_walk_in(data: bytes, trace_path, lo: int, hi: int) -> MemcgWalk | None:
    """:func:`memcg_walk` of the events from byte ``lo`` to ``hi``."""
    what = "t_ns,cpu,pid,vmscan:mm_<vmscan_lru_isolate|shrink_slab_start|...>,key=value ..."
    kswapd, window, t_start = None, None, 0
    complete = False
    for m in _event_lines(data, trace_path, _RE_RECLAIM_WALK, what, b"mm_vmscan_kswapd_",
                          b"mm_vmscan_lru_isolate", b"mm_shrink_slab_start",
                          b"mm_vmscan_lru_shrink_inactive", lo=lo, hi=hi):
        pid, ev = int(m.group(2)), m.group(3)
        if ev == b"vmscan_kswapd_wake":
            if kswapd is None:
                kswapd = pid
            if pid == kswapd:
                if window:
                    complete = True
                    break
                window, t_start = [], int(m.group(1))
            continue
        if pid != kswapd or window is None:
            continue
        if ev == b"vmscan_kswapd_sleep":
            if window:
                complete = True
                break
            window = None
            continue
        window.append((ev, {k.decode(): int(v) for k, v in _RE_FIELD.findall(m.group(4))}))
    if not window or (not complete and hi < len(data)):
        return None
    prio = next((f["priority"] for _, f in window if "priority" in f), C.DEF_PRIORITY)
    walk = MemcgWalk(priority=prio, lists=_split_walk(_walk_tokens(window, prio)), t_ns=t_start)
    return walk if sum(walk.requested) else None


#: other_events.csv: the first signs of a shortage (the allocator's slowpath woke
#: kswapd or kcompactd, or a task reclaimed or compacted directly)
_RE_SHORTAGE = re.compile(
    rb"(-?[0-9]+),[^,\n]*,[^,\n]*,(?:[^,\n]*:)?mm_(vmscan_wakeup_kswapd|vmscan_kswapd_wake|"
    rb"vmscan_direct_reclaim_begin|compaction_try_to_compact_pages|compaction_wakeup_kcompactd),")


@dataclass
class StartWindow:
    """The page events of a trace before its machine first ran short
    (:func:`start_window`): until ``until_ns`` every allocation passed the
    fast path's low watermark without waking kswapd.  Machine pfns and
    orders of the allocations of ``min_order`` or more, and of every free."""
    until_ns: int
    alloc_pfns: np.ndarray
    alloc_orders: np.ndarray
    free_pfns: np.ndarray
    free_orders: np.ndarray
    #: the order of the request whose shortage ended the window (the first
    #: sign's ``order=``), -1 when the window ended otherwise (a failed
    #: allocation, an extfrag event, the line limit) or the sign names none
    shortage_order: int = -1
    #: the trace's time origin (a text trace's times are the machine's clock)
    t0_ns: int = 0
    #: (pfn, order, alloc migratetype) of the mm_page_alloc_extfrag event that
    #: ended the window, None if none did
    fallback: tuple | None = None


#: how far :func:`start_window` reads at most (lines): what it found up to there
#: holds as well (a lower bound), and a late first shortage costs no more
START_WINDOW_LINES = 1_000_000


def start_window(trace_path, min_order: int) -> StartWindow | None:
    """The page events of a trace before the first sign of a shortage in its
    other events (``other_events.csv`` beside a CSV trace, a text trace's
    own lines: the first wakeup of kswapd or kcompactd, direct reclaim or
    direct compaction), or before its first failed allocation or extfrag
    event (at most :data:`START_WINDOW_LINES` lines): the allocations of
    ``min_order`` or more (successful, with their pfns) and every free.
    None without the
    file or without such a sign; a line of these events whose time is not an
    integer is named."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    found = _event_lines(data, trace_path, _RE_SHORTAGE, "t_ns,cpu,pid,<event>,...",
                         b"mm_vmscan_wakeup_kswapd", b"mm_vmscan_kswapd_wake",
                         b"mm_vmscan_direct_reclaim_begin", b"mm_compaction_try_to_compact_pages",
                         b"mm_compaction_wakeup_kcompactd")
    until = min(int(m.group(1)) for m in found) if found else 1 << 62
    shortage = _shortage_order(found, until)
    fmt = trace_format(trace_path)
    if fmt != "csv":
        win = _text_start_window(Path(trace_path), fmt, min_order, until)
        if win is not None and win.until_ns == until:
            win.shortage_order = shortage
        return win
    ap, ao, fp, fo = [], [], [], []
    fallback = None
    for lineno, p in _csv_fields(trace_path, 7):
        if len(p) < 6:
            continue
        try:
            t, pfn, order = int(p[0]), int(p[4]), int(p[5])
        except ValueError:
            raise TraceError(f"{trace_path}: line {lineno}: expected integer t_ns, pfn "
                             f"and order, got {','.join(p).strip()[:120]!r}") from None
        ev = p[3].strip()
        if t >= until or ev == "X" or (ev == "A" and pfn < 0) or lineno > START_WINDOW_LINES + 1:
            if ev == "X" and t < until and lineno <= START_WINDOW_LINES + 1:
                fallback = (pfn, order, _int_field(p, 6, trace_path, lineno))
            until = min(until, t)
            break
        if ev == "A" and order >= min_order:
            ap.append(pfn)
            ao.append(order)
        elif ev == "F" and pfn >= 0:
            fp.append(pfn)
            fo.append(order)
    return StartWindow(until, np.array(ap, np.int64), np.array(ao, np.int64),
                       np.array(fp, np.int64), np.array(fo, np.int64),
                       shortage if found and until == min(int(m.group(1)) for m in found) else -1,
                       fallback=fallback)


def _int_field(p: list, i: int, trace_path, lineno: int) -> int:
    """Field ``i`` of a CSV line as an integer, or a TraceError naming it."""
    try:
        return int(p[i])
    except (IndexError, ValueError):
        raise TraceError(f"{trace_path}: line {lineno}: expected an integer in field {i + 1}, "
                         f"got {','.join(p).strip()[:120]!r}") from None


_RE_ORDER_FIELD = re.compile(rb"[ ,]order=(-?[0-9]+)")


def _shortage_order(found: list, at: int) -> int:
    """The ``order=`` of the first shortage sign (at time ``at``) among the
    ``_RE_SHORTAGE`` matches ``found`` if that sign is a request's own (its
    slowpath woke kswapd, or it compacted or reclaimed directly: its fast
    path failed at that order); -1 otherwise."""
    for m in found:
        if int(m.group(1)) == at and m.group(2) in (b"vmscan_wakeup_kswapd",
                                                    b"compaction_try_to_compact_pages",
                                                    b"vmscan_direct_reclaim_begin"):
            o = _RE_ORDER_FIELD.search(m.string)
            return int(o.group(1)) if o else -1
    return -1


def _text_start_window(path: Path, fmt: str, min_order: int, until: int) -> StartWindow | None:
    """:func:`start_window` of a text trace, read by the fast parser
    (:func:`fast_chunks`) for at most :data:`START_WINDOW_LINES` page events;
    None where that parser does not take the trace (the line-by-line reader
    names a bad line when the replay reads it)."""
    ap, ao, fp, fo = [], [], [], []
    seen = 0
    fallback = None
    res = ParsedTrace.empty(path, fmt)
    try:
        for cols in fast_chunks(path, fmt, None, TraceLimits(), res):
            t = cols["t_ns"] + res.t0_ns
            ev, pfn = cols["ev"], cols["pfn"]
            stop = (t >= until) | (ev == EV_EXTFRAG) | ((ev == EV_ALLOC) & (pfn < 0))
            limit = max(START_WINDOW_LINES - seen, 0)
            stop[limit:] = True
            n = int(np.argmax(stop)) if stop.any() else len(stop)
            a = (ev[:n] == EV_ALLOC) & (cols["order"][:n] >= min_order)
            f = (ev[:n] == EV_FREE) & (pfn[:n] >= 0)
            ap.append(pfn[:n][a])
            ao.append(cols["order"][:n][a].astype(np.int64))
            fp.append(pfn[:n][f])
            fo.append(cols["order"][:n][f].astype(np.int64))
            seen += len(stop)
            if n < len(stop):
                if ev[n] == EV_EXTFRAG and n < limit and t[n] < until:
                    fallback = (int(pfn[n]), int(cols["order"][n]), int(cols["mt"][n]))
                until = min(until, int(t[n]))
                break
    except IrregularLine:
        return None
    cat = (lambda xs: np.concatenate(xs).astype(np.int64) if xs else np.zeros(0, np.int64))
    return StartWindow(until, cat(ap), cat(ao), cat(fp), cat(fo), t0_ns=res.t0_ns,
                       fallback=fallback)


_RE_DEFER = re.compile(
    rb"(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?mm_compaction_(deferred|defer_compaction|"
    rb"defer_reset),([^\n]*)")


#: other_events.csv: kcompactd's own events and its wakeups
_RE_KCOMPACTD = re.compile(
    rb"(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?mm_compaction_(kcompactd_sleep|kcompactd_wake|"
    rb"wakeup_kcompactd|begin),([^\n]*)")


def _kcompactd_events(trace_path) -> tuple | None:
    """kcompactd's events and its wakeups in the ``other_events.csv`` beside a
    CSV trace (a text trace's own lines): (their regex matches in file order,
    kcompactd's pid as bytes), or None (no file, no kcompactd event)."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    what = "t_ns,cpu,pid,compaction:mm_compaction_<kcompactd_*|wakeup_kcompactd|begin>,..."
    found = _event_lines(data, trace_path, _RE_KCOMPACTD, what, b"mm_compaction_kcompactd_",
                         b"mm_compaction_wakeup_kcompactd", b"mm_compaction_begin")
    kcompactd = next((m.group(2) for m in found if m.group(3).startswith(b"kcompactd_")), None)
    return None if kcompactd is None else (found, kcompactd)


def _kcompactd_first_event(trace_path):
    """kcompactd's first own event in the ``other_events.csv`` beside a CSV
    trace, and whether a ``mm_compaction_wakeup_kcompactd`` came before it:
    (regex match, woken), or None (no file, no kcompactd event)."""
    events = _kcompactd_events(trace_path)
    if events is None:
        return None
    found, kcompactd = events
    woken = False
    for m in found:
        if m.group(3) == b"wakeup_kcompactd":
            woken = True
        elif m.group(2) == kcompactd:
            return m, woken
    return None


def kcompactd_proactive_passes(trace_path, *, t0_ns: int = 0,
                               until_ns: int | None = None) -> int | None:
    """How many proactive passes the traced machine's kcompactd made, from
    the ``other_events.csv`` beside a CSV trace (a text trace's own lines):
    each of kcompactd()'s waits begins with its ``mm_compaction_kcompactd_sleep``;
    a wait that ends in kcompactd_do_work() traces ``mm_compaction_kcompactd_wake``
    first, one that ends in compact_node(pgdat, true) (the proactive pass:
    every populated zone, order -1) goes straight to ``mm_compaction_begin``.
    With ``until_ns``, only the passes before ``t0_ns + until_ns``.  Before
    kcompactd's first traced sleep a begin counts only on the node's first
    zone (compact_node() starts there; kcompactd_do_work() skips a zone it
    need not compact, so a run under way when the trace began shows later
    zones).  None without the file or without a kcompactd event."""
    events = _kcompactd_events(trace_path)
    if events is None:
        return None
    found, kcompactd = events
    end = None if until_ns is None else t0_ns + until_ns
    starts = [_RE_ZONE_START.search(m.group(4)) for m in found]
    first_zone = min((int(z.group(1)) for z, m in zip(starts, found)
                      if z is not None and m.group(2) == kcompactd), default=None)
    passes, slept, woken, counted = 0, False, False, False
    for m, zs in zip(found, starts):
        if m.group(2) != kcompactd:
            continue
        if end is not None and int(m.group(1)) >= end:
            break
        ev = m.group(3)
        if ev == b"kcompactd_sleep":
            slept, woken, counted = True, False, False
        elif ev == b"kcompactd_wake":
            woken = True
        elif not woken and not counted:
            counted = True
            if slept or (zs is not None and int(zs.group(1)) == first_zone):
                passes += 1
    return passes


def kcompactd_first_timeout(trace_path) -> int | None:
    """When the traced machine's kcompactd first ended a wait in the trace
    (ns), from the ``other_events.csv`` beside a CSV trace.  kcompactd()
    waits HPAGE_FRAG_CHECK_INTERVAL_MSEC at a time, each wait from its
    ``mm_compaction_kcompactd_sleep``; the trace begins inside one.  Its
    first own event ends it: a ``mm_compaction_kcompactd_wake`` after a
    ``mm_compaction_wakeup_kcompactd`` is a wakeup (a new wait begins then,
    so its timeout is a period later), any other (a wake with work a wakeup
    left pending, a proactive pass's ``mm_compaction_begin``, or a sleep
    after a timeout with nothing to do) a timeout then.  None without the
    file or without a kcompactd event."""
    first = _kcompactd_first_event(trace_path)
    if first is None:
        return None
    m, woken = first
    woke = woken and m.group(3) == b"kcompactd_wake"
    return int(m.group(1)) + (C.HPAGE_FRAG_CHECK_INTERVAL_NS if woke else 0)


def kcompactd_pending_request(trace_path) -> tuple[int, int] | None:
    """The request kcompactd found pending when the trace began: (order,
    kernel highest_zoneidx) when its first own event in the
    ``other_events.csv`` beside a CSV trace is a
    ``mm_compaction_kcompactd_wake`` that no ``mm_compaction_wakeup_kcompactd``
    in the trace explains.  kcompactd() runs kcompactd_do_work() (which
    emits the wake event) only when kcompactd_work_requested(): a
    wakeup_kcompactd() before the trace set kcompactd_max_order.  None
    otherwise (no file, no such event, or a wake without both fields)."""
    first = _kcompactd_first_event(trace_path)
    if first is None:
        return None
    m, woken = first
    if woken or m.group(3) != b"kcompactd_wake":
        return None
    f = {k.decode(): int(v) for k, v in _RE_FIELD.findall(m.group(4))}
    if "order" not in f or "highest_zoneidx" not in f:
        return None
    if not (0 < f["order"] <= C.MAX_PAGE_ORDER and 0 <= f["highest_zoneidx"] < len(KERNEL_ZONE_IDX)):
        raise TraceError(f"{other_events_name(trace_path)}: a kcompactd wake with impossible "
                         f"fields (order 1..{C.MAX_PAGE_ORDER}, highest_zoneidx 0.."
                         f"{len(KERNEL_ZONE_IDX) - 1}): {m.group(0).decode('utf-8', 'replace')[:160]!r}")
    return f["order"], f["highest_zoneidx"]


def sleep_lengths(events) -> np.ndarray:
    """How long each sleep lasted (ns) in ``events``, (t_ns, asleep) pairs in
    time order: from each sleep (asleep true) to the next wake; a sleep no
    wake ends is left out."""
    out, asleep = [], None
    for t, sleeping in events:
        if sleeping:
            asleep = t
        elif asleep is not None:
            out.append(t - asleep)
            asleep = None
    return np.array(out, np.int64)


#: a line of kswapd's wake, sleep or LRU reclaim batch: time, pid, which, fields
_RE_KSWAPD_ROUND = re.compile(
    rb"(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?mm_vmscan_(kswapd_sleep|kswapd_wake|"
    rb"lru_shrink_inactive),([^\n]*)")


def idle_rounds(events) -> tuple[int, int]:
    """(rounds, idle): kswapd's rounds in ``events``, (kind, reclaimed) pairs
    in time order with kind "wake", "sleep" or "reclaim", each from its first
    wake after a sleep to its next sleep, and how many of them reclaimed no
    LRU page.  A round the events do not end is left out."""
    rounds = idle = 0
    awake, got = False, 0
    for kind, n in events:
        if kind == "wake" and not awake:
            awake, got = True, 0
        elif kind == "reclaim" and awake:
            got += n
        elif kind == "sleep" and awake:
            rounds += 1
            idle += got == 0
            awake = False
    return rounds, idle


def kswapd_events(trace_path, *, t0_ns: int = 0,
                  until_ns: int | None = None) -> list[tuple[int, str, int]] | None:
    """kswapd's own events in the ``other_events.csv`` beside a CSV trace,
    in file order: ``(t_ns, kind, reclaimed)`` with kind "wake"
    (``mm_vmscan_kswapd_wake``), "sleep" (``mm_vmscan_kswapd_sleep``) or
    "reclaim" (one of its ``mm_vmscan_lru_shrink_inactive`` batches, with its
    ``nr_reclaimed``); kswapd is the pid of the first wake or sleep.  With
    ``until_ns``, the events before ``t0_ns + until_ns``.  None without the
    file or without kswapd's wake and sleep events.  One pass serves
    :func:`kswapd_sleeps` and :func:`kswapd_idle_rounds`."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    found = _event_lines(data, trace_path, _RE_KSWAPD_ROUND,
                         "t_ns,cpu,pid,vmscan:mm_vmscan_kswapd_sleep|kswapd_wake|"
                         "lru_shrink_inactive,...", b"mm_vmscan_kswapd_sleep",
                         b"mm_vmscan_kswapd_wake", b"mm_vmscan_lru_shrink_inactive")
    kswapd = next((m.group(2) for m in found if m.group(3) != b"lru_shrink_inactive"), None)
    if kswapd is None:
        return None
    end = None if until_ns is None else t0_ns + until_ns
    out = []
    for m in found:
        t = int(m.group(1))
        if m.group(2) != kswapd or (end is not None and t >= end):
            continue
        kind = m.group(3)
        if kind == b"lru_shrink_inactive":
            f = {k.decode(): int(v) for k, v in _RE_FIELD.findall(m.group(4))}
            out.append((t, "reclaim", f.get("nr_reclaimed", 0)))
        else:
            out.append((t, "sleep" if kind == b"kswapd_sleep" else "wake", 0))
    return out


def kswapd_sleeps_of(ev) -> np.ndarray:
    """:func:`sleep_lengths` of kswapd's events (:func:`kswapd_events`)."""
    return sleep_lengths((t, kind == "sleep") for t, kind, _ in ev if kind != "reclaim")


def kswapd_rounds_of(ev) -> tuple[int, int]:
    """:func:`idle_rounds` of kswapd's events (:func:`kswapd_events`)."""
    return idle_rounds((kind, n) for _, kind, n in ev)


def kswapd_idle_rounds(trace_path, *, t0_ns: int = 0,
                       until_ns: int | None = None) -> tuple[int, int] | None:
    """kswapd's rounds in the trace and those that reclaimed nothing
    (:func:`idle_rounds` over :func:`kswapd_events`): a round runs from its
    ``mm_vmscan_kswapd_wake`` to the next ``mm_vmscan_kswapd_sleep`` and
    reclaims through kswapd's ``mm_vmscan_lru_shrink_inactive`` batches.  A
    round reclaims nothing when balance_pgdat() finds the node balanced as
    soon as kswapd runs (what its waker did meanwhile made it so) and kswapd
    only naps.  None without the file or without kswapd's events."""
    ev = kswapd_events(trace_path, t0_ns=t0_ns, until_ns=until_ns)
    return None if ev is None else kswapd_rounds_of(ev)


def kswapd_sleeps(trace_path, *, t0_ns: int = 0, until_ns: int | None = None) -> np.ndarray | None:
    """How long kswapd slept each time it went to sleep in the trace (ns,
    from each ``mm_vmscan_kswapd_sleep`` to its next ``mm_vmscan_kswapd_wake``,
    :func:`sleep_lengths` over :func:`kswapd_events`); with ``until_ns``,
    only those that end before ``t0_ns + until_ns``.  None without the file
    or without kswapd events.  kcompactd's proactive pass needs a 500 ms wait
    with no request pending, and every kswapd round's end requests one
    (wakeup_kcompactd()), so only a long sleep leaves room for one."""
    ev = kswapd_events(trace_path, t0_ns=t0_ns, until_ns=until_ns)
    return None if ev is None else kswapd_sleeps_of(ev)


def compaction_defer_states(trace_path) -> dict | None:
    """Each zone's compaction deferral state when the trace began, from its
    first deferral event in ``other_events.csv`` beside a CSV trace:
    ``{kernel zone index: (compact_considered, compact_defer_shift,
    compact_order_failed)}``, the state just before that event, undoing
    what the kernel function that emitted it did (mm/compaction.c):

    - ``mm_compaction_deferred`` (compaction_deferred(), after its
      ``++compact_considered``): considered one less;
    - ``mm_compaction_defer_compaction`` (defer_compaction(): considered 0,
      shift + 1 up to COMPACT_MAX_DEFER_SHIFT, order_failed lowered to the
      order): shift one less (at the cap, the cap), considered at the limit
      (the compaction that failed was not deferred), order_failed as after;
    - ``mm_compaction_defer_reset`` (compaction_defer_reset()) that kept a
      nonzero considered or shift (alloc_success false): those, and
      order_failed the order when the reset raised it to order + 1.

    A zone whose first event is a reset to zero says nothing (the state
    before any success is forgotten).  None without the file."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    what = "t_ns,cpu,pid,compaction:mm_compaction_<deferred|defer_*>,key=value ..."
    out: dict = {}
    seen: set = set()
    for m in _event_lines(data, trace_path, _RE_DEFER, what, b"mm_compaction_defer"):
        f = {k.decode(): int(v) for k, v in _RE_FIELD.findall(m.group(4))}
        if not all(k in f for k in ("idx", "order", "considered", "defer_shift", "order_failed")):
            continue
        z = f["idx"]
        if z in seen:
            continue
        seen.add(z)
        c, sh, failed, order = f["considered"], f["defer_shift"], f["order_failed"], f["order"]
        if not (0 <= sh <= C.COMPACT_MAX_DEFER_SHIFT and 0 <= c <= 1 << sh
                and 0 <= order <= C.MAX_PAGE_ORDER and 0 <= failed <= C.NR_PAGE_ORDERS):
            raise TraceError(f"{other_events_name(trace_path)}: a compaction deferral event "
                             f"with impossible fields (defer_shift 0..{C.COMPACT_MAX_DEFER_SHIFT}, "
                             f"considered 0..1 << defer_shift, orders 0..{C.NR_PAGE_ORDERS}): "
                             f"{m.group(0).decode('utf-8', 'replace')[:160]!r}")
        ev = m.group(3)
        if ev == b"deferred":
            out[z] = (max(c - 1, 0), sh, failed)
        elif ev == b"defer_compaction":
            before = sh if sh >= C.COMPACT_MAX_DEFER_SHIFT else max(sh - 1, 0)
            out[z] = (1 << before, before, failed)
        elif c or sh:
            out[z] = (c, sh, order if failed == order + 1 else failed)
    return out


def other_event_counts(trace_path, *, t0_ns: int = 0, until_ns: int | None = None) -> Counter | None:
    """Counts by event name of ``other_events.csv[.xz]`` beside a CSV trace
    (None when there is no such file, and for a text trace, whose parse
    counts every event); with ``until_ns``, only the events before ``t0_ns +
    until_ns`` (``t0_ns``: the page events' first time)."""
    p = other_events_path(trace_path)
    if p is None or trace_format(trace_path) != "csv":
        return None
    out = Counter()
    if until_ns is None:
        data = _other_events_bytes(trace_path)
        # the fourth field of every line after the header, without a "system:" prefix
        names = _RE_OTHER_EVENT.findall(data, data.find(b"\n") + 1)
        out.update(Counter(n.decode("utf-8", "replace") for n in names))
        return out
    for _, parts in _csv_fields(p, 4):
        if len(parts) < 4:
            continue
        t = parts[0].strip()
        if not re.fullmatch(r"-?[0-9]+", t) or int(t) - t0_ns >= until_ns:
            continue
        out[_bare_event(parts[3])] += 1
    return out


#: the /proc/vmstat counters whose increments a recording's other events
#: carry: (counter, event, field, whose: "kswapd", "other" or None for any
#: task).  The kernel adds the same numbers to the counter and to the event
#: (isolate_migratepages_block(), isolate_freepages_block() and
#: fast_isolate_freepages() add their nr_scanned to the compact_control's
#: totals, counted at the end of the pass; migrate_pages() its
#: nr_succeeded; shrink_inactive_list() its nr_scanned).
TRACED_COUNTERS = (
    ("compact_migrate_scanned", ("mm_compaction_isolate_migratepages",), "nr_scanned", None),
    ("compact_free_scanned", ("mm_compaction_isolate_freepages",
                              "mm_compaction_fast_isolate_freepages"), "nr_scanned", None),
    ("pgmigrate_success", ("mm_migrate_pages",), "succeeded", None),
    ("pgscan_kswapd", ("mm_vmscan_lru_shrink_inactive",), "nr_scanned", "kswapd"),
    ("pgscan_direct", ("mm_vmscan_lru_shrink_inactive",), "nr_scanned", "other"),
)
#: the name prefix of each TRACED_COUNTERS event's tracepoint system
#: (compaction:, migrate:, vmscan:): a recording that holds any event of the
#: system had the system's tracepoints on (the shared tools record them as
#: ``-e compaction:*``), so a counter whose own events are missing from it
#: did not move over the trace
_TRACEPOINT_SYSTEM = {"mm_compaction_isolate_migratepages": b"mm_compaction_",
                      "mm_compaction_isolate_freepages": b"mm_compaction_",
                      "mm_compaction_fast_isolate_freepages": b"mm_compaction_",
                      "mm_compaction_migratepages": b"mm_compaction_",
                      "mm_migrate_pages": b"mm_migrate_",
                      "mm_vmscan_lru_shrink_inactive": b"mm_vmscan_"}
#: pgmigrate_success over the trace of a recording that had compaction's
#: tracepoints but not migrate's: compaction's migrations
#: (mm_compaction_migratepages ``nr_migrated``: migrate_pages()'s
#: ``nr_succeeded``, which it adds to the counter).  MODEL: on the traced
#: machines (one node, no CMA, no memory tiering) compaction is what
#: migrates, and the model migrates for compaction alone.
_COMPACTION_MIGRATED = ("compaction's pgmigrate_success", ("mm_compaction_migratepages",),
                        "nr_migrated", None)
_RE_OTHER_LINE = re.compile(rb"^(-?[0-9]+),[^,\n]*,(-?[0-9]+),(?:[^,\n]*:)?([^,:\n]*),(.*)$", re.M)


def other_event_sums(trace_path, *, t0_ns: int = 0, until_ns: int | None = None) -> dict | None:
    """The increments of :data:`TRACED_COUNTERS` over the trace itself, summed
    from ``other_events.csv`` beside a CSV trace, or a text trace's own events
    (the snapshots' vmstat deltas also hold the seconds between a snapshot
    and the trace); kswapd is
    the pids that log ``mm_vmscan_kswapd_wake`` or ``_sleep``.  A counter
    is left out when the file shows no event of its tracepoint system (the
    recording may not have had them).  None without the file."""
    data = _other_events_bytes(trace_path)
    if data is None:
        return None
    lines = _RE_OTHER_LINE.findall(data, data.find(b"\n") + 1)
    return _traced_sums(lines, t0_ns, until_ns)


def _traced_sums(lines, t0_ns: int, until_ns: int | None) -> dict:
    """The increments of :data:`TRACED_COUNTERS` in ``lines``, each (time
    in ns, pid, event name, fields) as ``bytes``: a counter is left out
    when no event of its tracepoint system occurs (the recording may not
    have had them), and is 0 when the system's other events do (the
    snapshots' vmstat deltas then hold what the kernel did outside the
    trace); kswapd is the pids that log ``mm_vmscan_kswapd_wake`` or
    ``_sleep``."""
    kswapd = {pid for _, pid, name, _ in lines
              if name in (b"mm_vmscan_kswapd_wake", b"mm_vmscan_kswapd_sleep")}
    names = {name for _, _, name, _ in lines}
    systems = {p for p in set(_TRACEPOINT_SYSTEM.values())
               if any(name.startswith(p) for name in names)}
    # each event's counters, and the pattern of each counter's field
    by_event: dict = {}
    for counter, events, key, whose in TRACED_COUNTERS + (_COMPACTION_MIGRATED,):
        pat = re.compile((r"(?:^|\s)" + key + r"=([0-9]+)").encode())
        for e in events:
            by_event.setdefault(e.encode(), []).append((counter, pat, whose))
    # a counter of a system the recording had counts from 0 (its events may
    # all fall outside the traced span)
    out: dict = {c: 0 for c, events, _, _ in TRACED_COUNTERS + (_COMPACTION_MIGRATED,)
                 if any(_TRACEPOINT_SYSTEM[e] in systems for e in events)}
    for t, pid, name, fields in lines:
        for counter, pat, whose in by_event.get(name, ()):
            if until_ns is not None and int(t) - t0_ns >= until_ns:
                continue
            if whose is not None and (pid in kswapd) != (whose == "kswapd"):
                continue
            m = pat.search(fields)
            out[counter] += int(m.group(1)) if m else 0
    # MODEL: compaction's own migrations stand for pgmigrate_success (_COMPACTION_MIGRATED)
    if "pgmigrate_success" not in out and _COMPACTION_MIGRATED[0] in out:
        out["pgmigrate_success"] = out[_COMPACTION_MIGRATED[0]]
    return {c: out[c] for c, _, _, _ in TRACED_COUNTERS if c in out}


def _bare_event(name: str) -> str:
    """An event name without its ``system:`` prefix (perf script prints it)."""
    return name.rsplit(":", 1)[-1]


def _ts_ns(ts: str) -> int:
    """A text trace's "seconds.fraction" timestamp in ns."""
    sec, _, frac = ts.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])




def _csv_fields(path, maxsplit: int):
    """(line number, fields) of each line of a CSV file after its header,
    split at the first ``maxsplit`` commas, read as it streams; a damaged
    compressed file is named with the line it broke at."""
    lineno = 1
    with open_text(path) as f, _decompress_errors(path, lambda: lineno):
        next(f, None)
        for lineno, line in enumerate(f, start=2):
            yield lineno, line.split(",", maxsplit)
