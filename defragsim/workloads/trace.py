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
import gzip
import io
import lzma
import queue
import threading
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import constants as C
from .. import gfp as G
from ..errors import TraceError
from .estimate import MAX_TRACE_PFN
from . import _traceparse as P
from ._traceparse import EV_ALLOC, EV_EXTFRAG, EV_FREE

CSV_HEADER = "t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c"

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

    @classmethod
    def empty(cls, path, fmt: str) -> "ParsedTrace":
        return cls(path=str(path), format=fmt, **_Columns().arrays())

    def set_columns(self, cols: dict) -> None:
        """Install the event columns (the keys of :meth:`_Columns.arrays`)."""
        for k, v in cols.items():
            setattr(self, k, v)

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    @property
    def duration_s(self) -> float:
        return float(self.t_ns[-1]) / 1e9 if len(self) else 0.0

    def summary(self) -> dict:
        a = self.ev == EV_ALLOC
        x = self.ev == EV_EXTFRAG
        pairs = Counter(zip(self.mt[x].tolist(), self.fallback_mt[x].tolist()))
        return {
            "allocations": int(a.sum()),
            "failed_allocations": int((a & (self.pfn < 0)).sum()),
            "frees": int((self.ev == EV_FREE).sum()),
            "free_batched_markers": int(self.counts.get("mm_page_free_batched", 0)),
            "extfrag_events": int(x.sum()),
            "extfrag_fragmenting": int((x & (self.fallback_order < 9)).sum()),
            "extfrag_change_ownership": int((x & (self.change_ownership > 0)).sum()),
            "extfrag_pairs": {f"{a}->{b}": n for (a, b), n in sorted(pairs.items())},
            "other_events": {k: v for k, v in sorted(self.counts.items())
                             if not k.startswith("mm_page_")},
            "unknown_gfp_flags": dict(self.unknown_gfp),
            "bad_lines": self.bad_lines,
            "duration_s": self.duration_s,
        }


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
        self.fo, self.fmt, self.co = [], [], []

    def add(self, t, ev, pfn, order, mt, gfp, pid, fo=-1, fmt=-1, co=0):
        self.t.append(t); self.ev.append(ev); self.pfn.append(pfn); self.order.append(order)  # noqa: E702
        self.mt.append(mt); self.gfp.append(gfp); self.pid.append(pid)  # noqa: E702
        self.fo.append(fo); self.fmt.append(fmt); self.co.append(co)  # noqa: E702

    def arrays(self):
        return dict(t_ns=np.asarray(self.t, np.int64), ev=np.asarray(self.ev, np.int8),
                    pfn=np.asarray(self.pfn, np.int64), order=np.asarray(self.order, np.int8),
                    mt=np.asarray(self.mt, np.int8), gfp=np.asarray(self.gfp, np.int64),
                    pid=np.asarray(self.pid, np.int32),
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
class _Limits:
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
    lim = _Limits(until_ns=until_ns) if max_pfn is None else \
        _Limits(int(max_pfn), f"the machine's memory (pfns below {int(max_pfn):#x})", until_ns)
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

    def __init__(self, lim: _Limits):
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


def _row_problem(row, lim: _Limits) -> str | None:
    """What is wrong with a page event row (t, ev, pfn, order, mt, gfp, pid,
    fallback order, fallback mt, change_ownership), or None.  The fast
    parsers' columns are checked the same way by :func:`_columns_ok`."""
    _, ev, pfn, order, mt, gfp, pid, fo, fmt, co = row[:10]
    if not 0 <= order <= C.MAX_PAGE_ORDER:
        return f"order {order} outside 0..{C.MAX_PAGE_ORDER}"
    if pfn < (-1 if ev == EV_ALLOC else 0):
        return f"negative pfn {pfn}"
    if pfn >= lim.max_pfn:
        return f"pfn {pfn:#x} is beyond {lim.pfn_what}"
    if not -_INT32 <= pid < _INT32:
        return f"pid {pid} out of range"
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


def _columns_ok(a: dict, keep: np.ndarray, lim: _Limits) -> bool:
    """:func:`_row_problem` and the time order over the fast parsers' columns
    (before their int8 casts), in one compiled pass
    (:func:`_traceparse.columns_ok`); False sends the file to the line
    reader, which names the line.  ``keep``: a boolean mask (both parsers'
    ``finish``)."""
    return bool(P.columns_ok(keep, a["t"], a["ev"], a["pfn"], a["mt"], a["gfp"], a["pid"], a["fo"],
                             a["fmt"], a["co"], int(min(lim.max_pfn, 2 ** 63 - 1)), EV_ALLOC,
                             EV_FREE, EV_EXTFRAG, C.MIGRATE_TYPES, C.MAX_PAGE_ORDER, G.GFP_T_MAX,
                             G.GFP_MOVABLE_MASK))


def _csv_row(p: list, ev: str) -> tuple:
    """The row of a CSV A/F/X line split into 11 fields (ValueError: a bad number)."""
    t, pid, pfn, order = int(p[0]), int(p[2]), int(p[4]), int(p[5])
    if ev == "A":
        return (t, EV_ALLOC, pfn, order, int(p[6]), int(p[7], 16), pid, -1, -1, 0)
    if ev == "F":
        return (t, EV_FREE, pfn, order, -1, 0, pid, -1, -1, 0)
    return (t, EV_EXTFRAG, pfn, order, int(p[6]), 0, pid, int(p[8]), int(p[9]), int(p[10]))


def _read_csv(path: Path, comm, skip, lim: _Limits | None = None) -> ParsedTrace:
    """The line-by-line reader of the CSV schema: slow, but it names a bad
    line, or skips and counts it; it stops at ``lim.until_ns``."""
    lim = lim or _Limits()
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
    rest = b""
    while True:
        data = f.read(size)
        if not data:
            if rest:
                yield rest if rest.endswith(b"\n") else rest + b"\n"
            return
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1:]
        yield data[:cut + 1]


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


def _read_fast(path: Path, fmt: str, comm, lim: _Limits | None = None):
    """The numba byte parsers (several million lines a second).  None when a
    line is irregular (or a value out of range, see :func:`_columns_ok`):
    the Python reader then reports or skips it."""
    lim = lim or _Limits()
    res = ParsedTrace.empty(path, fmt)
    parser = _FastCSV(res) if fmt == "csv" else _FastText(res)
    cols = {k: [] for k in _FAST_COLS}
    scratch = (_Scratch(), _Scratch())
    try:
        # 8 MiB chunks: the parser waits for the first one only briefly.
        # Each chunk is parsed in two halves at once (the parsers release
        # the GIL): one in this thread, one in a helper.
        with _open_binary(path) as f, _Prefetch(_chunks(f, 1 << 23)) as chunks, \
                concurrent.futures.ThreadPoolExecutor(1, "defragsim-trace-parse") as pool:
            for i, chunk in enumerate(chunks):
                if fmt == "csv" and i == 0:
                    head, _, chunk = chunk.partition(b"\n")
                    res.lines += 1
                    if head.decode("utf-8", "replace").strip() != CSV_HEADER:
                        return None
                halves = _halves(chunk)
                second = pool.submit(parser.raw, halves[1], scratch[1]) if len(halves) > 1 else None
                raws = [parser.raw(halves[0], scratch[0])] + ([second.result()] if second else [])
                for half, raw in zip(halves, raws):
                    arr, n = parser.absorb(half, raw)
                    if arr is None:
                        return None
                    for k in cols:
                        cols[k].append(arr[k][:n].copy())
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile, OSError):
        return None
    a = {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in cols.items()}
    keep = parser.finish(a, path, comm)
    if keep is None or not _columns_ok(a, keep, lim):
        return None
    res.t0_ns = int(a["t"][0]) if len(a["t"]) else 0
    a["t"] = a["t"] - res.t0_ns            # times from the first page event
    if keep.all():
        keep = slice(None)                 # every row kept: no copy by a mask
    res.set_columns(dict(
        t_ns=a["t"][keep], ev=a["ev"][keep].astype(np.int8), pfn=a["pfn"][keep],
        order=a["order"][keep].astype(np.int8), mt=a["mt"][keep].astype(np.int8),
        gfp=a["gfp"][keep], pid=a["pid"][keep].astype(np.int32),
        fallback_order=a["fo"][keep].astype(np.int8), fallback_mt=a["fmt"][keep].astype(np.int8),
        change_ownership=a["co"][keep].astype(np.int8)))
    return res


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
    """Zeroed int64 arrays for one parser thread, reused from chunk to chunk
    (allocating ~18 fresh arrays a chunk cost a sixth of the parse, in page
    faults); the caller copies out the rows it keeps before the next chunk."""

    def __init__(self):
        self.cap, self.arrays = 0, {}

    def get(self, name: str, n: int, width: int = 0) -> np.ndarray:
        """``n`` rows (of ``width`` columns when nonzero) of zeros."""
        if n > self.cap:
            self.cap, self.arrays = max(n, self.cap * 5 // 4), {}
        key = (name, width)
        if key not in self.arrays:
            self.arrays[key] = np.empty((self.cap, width) if width else self.cap, np.int64)
        a = self.arrays[key][:n]
        a.fill(0)
        return a


def _chunk_columns(chunk: bytes, scratch: _Scratch | None = None) -> tuple:
    """(bytes as uint8, lines, zeroed int64 columns for as many rows).  A
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

    def finish(self, a: dict, path: Path, comm) -> np.ndarray:
        """Event counts, comm.csv, and the rows to keep (``comm`` filters
        allocations by command name)."""
        res = self.res
        keep = np.ones(len(a["t"]), bool)
        for i, name in enumerate(_CSV_COUNTED):
            if self.page_counts[i]:
                res.counts[name] = int(self.page_counts[i])
        res.comm = _read_comm_csv(path)
        if comm is not None:
            if not res.comm:
                raise TraceError(f"{path}: --comm needs comm.csv beside the trace")
            pids = np.array([p for p, c in res.comm.items() if c == comm], np.int64)
            drop = (a["ev"] == EV_ALLOC) & ~np.isin(a["pid"], pids)
            res.filtered_out = int(drop.sum())
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

    def finish(self, a: dict, path: Path, comm) -> np.ndarray | None:
        """gfp masks from their texts and the rows to keep (``comm`` filters
        allocations by command name); None when a gfp text does not parse."""
        res = self.res
        keep = np.ones(len(a["t"]), bool)
        # gfp: parse each distinct text once; unknown names counted per allocation
        g = a["gfp"]
        is_a = a["ev"] == EV_ALLOC
        vals = np.zeros(len(g), np.int64)
        for h, text in self.gfp_texts.items():
            sel = is_a & (g == h)
            cnt = Counter()
            try:
                v = parse_gfp_lenient(text, cnt)
            except ValueError:
                return None              # the line reader names the line
            if not 0 <= v <= G.GFP_T_MAX:
                return None
            vals[sel] = v
            nsel = int(sel.sum())
            for name, k in cnt.items():
                res.unknown_gfp[name] += k * nsel
        a["gfp"] = vals
        if comm is not None:
            drop = is_a & (a["comm"] != _fnv_py(comm.encode()))
            res.filtered_out = int(drop.sum())
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


def _read_text(path: Path, fmt, comm, skip, lim: _Limits | None = None) -> ParsedTrace:
    """The line-by-line reader of tracefs / trace-cmd / perf text (regular
    expressions): slow, but it names a bad line, or skips and counts it; it
    stops at ``lim.until_ns``."""
    lim = lim or _Limits()
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
            c, pid_s, _cpu, ts, event, fs = m.groups()
            sec, _, frac = ts.partition(".")
            t = int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
            if clock.beyond(t):
                break
            if ":" in event:
                event = event.rsplit(":", 1)[1]
            res.counts[event] += 1
            if event[:8] != "mm_page_" or event not in _TEXT_EVENTS:
                continue
            why = _text_event(res, clock, event, fs, t, int(pid_s), c.strip(), comm, gfp_cache, rows)
            if why is not None:
                res.counts[event] -= 1
                _bad(path, lineno, line, why, skip, res)
    _set_rows(res, rows, clock, gfp_cache)
    res.lines = lineno
    return res


def _text_event(res: ParsedTrace, clock: _Clock, event: str, fs: str, t: int, pid: int, c: str,
                comm, gfp_cache: dict, rows: list) -> str | None:
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
        row = _text_row(event, fs, t, pid, gfp_cache)
    except (KeyError, ValueError) as e:
        return f"{event}: missing or bad field ({e})"
    why = _row_problem(row, clock.lim) or clock.step(t)
    if why is None:
        rows.append(row)
    return why


def _text_row(event: str, fs: str, t: int, pid: int, gfp_cache: dict) -> tuple:
    """(t, ev, pfn, order, mt, gfp, pid, fallback order, fallback mt,
    change_ownership, gfp text) of a page event with fields ``fs``; gfp texts
    are parsed once (``gfp_cache``: text -> (mask, unknown names))."""
    if event == "mm_page_alloc":
        page, pfn, order, mt, gtext = _alloc_fields(fs)
        failed = page in ("(nil)", "0000000000000000", "0") or \
            (pfn == 0 and page.strip("0x") == "")
        hit = gfp_cache.get(gtext)
        if hit is None:
            cnt = Counter()
            hit = gfp_cache[gtext] = (parse_gfp_lenient(gtext, cnt), cnt)
        return (t, EV_ALLOC, -1 if failed else pfn, order, mt, hit[0], pid, -1, -1, 0, gtext)
    if event == "mm_page_free":
        tok = fs.split()
        if len(tok) == 3 and tok[1][:4] == "pfn=" and tok[2][:6] == "order=":
            pfn, order = int(tok[1][4:], 16), int(tok[2][6:])
        else:
            fl = _fields(fs)
            pfn, order = int(fl["pfn"], 16), int(fl["order"])
        return (t, EV_FREE, pfn, order, -1, 0, pid, -1, -1, 0, None)
    fl = _fields(fs)
    order = int(fl["alloc_order"])
    return (t, EV_EXTFRAG, int(fl["pfn"], 16), order, int(fl["alloc_migratetype"]), 0, pid,
            int(fl["fallback_order"]), int(fl["fallback_migratetype"]),
            int(fl["change_ownership"]), None)


def _set_rows(res: ParsedTrace, rows: list, clock: _Clock, gfp_cache: dict | None = None) -> None:
    """The rows of :func:`_csv_row` or :func:`_text_row` as the trace's
    columns, times from the first page event; unknown gfp names (text)
    counted per allocation that carried them."""
    clock.finish(res)
    if rows and gfp_cache is not None:
        n_by_text = Counter(r[10] for r in rows if r[10] is not None)
        for g, n in n_by_text.items():
            for name, k in gfp_cache[g][1].items():
                res.unknown_gfp[name] += k * n
    if rows:
        a = np.array([r[:10] for r in rows], dtype=np.int64)
        a[:, 0] -= res.t0_ns
    else:
        a = np.zeros((0, 10), np.int64)
    res.set_columns(dict(
        t_ns=a[:, 0].copy(), ev=a[:, 1].astype(np.int8), pfn=a[:, 2].copy(),
        order=a[:, 3].astype(np.int8), mt=a[:, 4].astype(np.int8), gfp=a[:, 5].copy(),
        pid=a[:, 6].astype(np.int32), fallback_order=a[:, 7].astype(np.int8),
        fallback_mt=a[:, 8].astype(np.int8), change_ownership=a[:, 9].astype(np.int8)))


_TEXT_EVENTS = frozenset(("mm_page_alloc", "mm_page_free", "mm_page_alloc_extfrag"))


def other_event_counts(trace_path, *, t0_ns: int = 0, until_ns: int | None = None) -> Counter | None:
    """Counts by event name of ``other_events.csv[.xz]`` beside a CSV trace
    (None when there is no such file); with ``until_ns``, only the events
    before ``t0_ns + until_ns`` (``t0_ns``: the page events' first time)."""
    d = Path(trace_path).resolve().parent
    for name in ("other_events.csv.xz", "other_events.csv.gz", "other_events.csv"):
        p = d / name
        if p.exists():
            out = Counter()
            lineno = 1
            with open_text(p) as f, _decompress_errors(p, lambda: lineno):
                next(f, None)
                for lineno, line in enumerate(f, start=2):
                    parts = line.split(",", 4)
                    if len(parts) < 4:
                        continue
                    if until_ns is not None:
                        t = parts[0].strip()
                        if not re.fullmatch(r"-?[0-9]+", t) or int(t) - t0_ns >= until_ns:
                            continue
                    out[parts[3].rsplit(":", 1)[-1]] += 1
            return out
    return None
