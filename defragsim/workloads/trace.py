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
file, line number and text, or are counted with ``skip_bad_lines=True``.
"""
from __future__ import annotations

import gzip
import io
import lzma
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import gfp as G
from ..errors import TraceError
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
    if p.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8", errors="replace")
    if p.suffix == ".xz":
        return io.TextIOWrapper(lzma.open(p, "rb"), encoding="utf-8", errors="replace")
    return open(p, encoding="utf-8", errors="replace")


def parse_gfp_lenient(text: str, unknown: Counter) -> int:
    """A gfp mask from a trace: hex, or ``|``-separated names; names the model
    does not know are counted in ``unknown`` and ignored."""
    s = text.strip()
    if not s or s == "none":
        return 0
    if s[0] in "0123456789":
        return int(s, 16)           # the CSV schema and raw masks are hex
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
    with open_text(path) as f:
        try:
            for i, line in enumerate(f):
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
        except EOFError:
            raise TraceError(f"{path}: truncated compressed file") from None
    raise TraceError(f"{path}: not a trace this reader knows (CSV with header {CSV_HEADER!r}, "
                     "tracefs/trace-cmd text or perf script text)")


def read_trace(path, *, fmt: str | None = None, comm: str | None = None,
               skip_bad_lines: bool = False) -> ParsedTrace:
    """Stream ``path`` into a :class:`ParsedTrace`.

    ``comm``: keep only allocations made by this command name (frees and
    extfrag events are kept whatever the task: a page allocated by the
    command may be freed by another).
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        out = _read_fast(path, "csv", comm)
        if out is None:       # something is off: the line-by-line reader finds where
            out = _read_csv(path, comm, skip_bad_lines)
    elif fmt in ("tracefs", "trace-cmd", "perf"):
        out = _read_fast(path, "perf" if fmt == "perf" else "tracefs", comm)
        if out is None:
            out = _read_text(path, fmt, comm, skip_bad_lines)
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
                    if pid.strip().lstrip("-").isdigit():
                        out[int(pid)] = name
            return out
    return {}


def _read_csv(path: Path, comm, skip) -> ParsedTrace:
    cols = _Columns()
    res = ParsedTrace.empty(path, "csv")
    comms = _read_comm_csv(path)
    keep_pids = None
    if comm is not None:
        keep_pids = {p for p, c in comms.items() if c == comm}
        if not comms:
            raise TraceError(f"{path}: --comm needs comm.csv beside the trace")
    counts = res.counts
    names = _EV_NAMES
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
            name = names.get(ev)
            if name is None:
                _bad(path, lineno, line, f"unknown event code {ev!r}", skip, res)
                continue
            counts[name] += 1
            if ev not in "AFX":
                continue
            try:
                t = int(p[0])
                pid = int(p[2])
                pfn = int(p[4])
                order = int(p[5])
                mt = -1 if ev == "F" and not p[6] else int(p[6])
                if ev == "A":
                    if keep_pids is not None and pid not in keep_pids:
                        res.filtered_out += 1
                        continue
                    cols.add(t, EV_ALLOC, pfn, order, mt, int(p[7], 16),
                             pid)
                elif ev == "F":
                    cols.add(t, EV_FREE, pfn, order, -1, 0, pid)
                else:
                    cols.add(t, EV_EXTFRAG, pfn, order, mt, 0, pid, int(p[8]), int(p[9]),
                             int(p[10]))
            except ValueError as e:
                _bad(path, lineno, line, f"bad number ({e})", skip, res)
                continue
            if not (0 <= order <= 10):
                cols_pop(cols)
                _bad(path, lineno, line, f"order {order} outside 0..10", skip, res)
    res.set_columns(cols.arrays())
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


def _read_fast(path: Path, fmt: str, comm):
    """The numba byte parsers (several million lines a second).  None when a
    line is irregular: the Python reader then reports or skips it."""
    res = ParsedTrace.empty(path, fmt)
    parser = _FastCSV(res) if fmt == "csv" else _FastText(res)
    cols = {k: [] for k in _FAST_COLS}
    try:
        with _open_binary(path) as f:
            for i, chunk in enumerate(_chunks(f)):
                if fmt == "csv" and i == 0:
                    head, _, chunk = chunk.partition(b"\n")
                    res.lines += 1
                    if head.decode("utf-8", "replace").strip() != CSV_HEADER:
                        return None
                arr, n = parser.parse(chunk)
                if arr is None:
                    return None
                for k in cols:
                    cols[k].append(arr[k][:n].copy())
    except (EOFError, lzma.LZMAError, gzip.BadGzipFile, OSError):
        return None
    a = {k: (np.concatenate(v) if v else np.zeros(0, np.int64)) for k, v in cols.items()}
    keep = parser.finish(a, path, comm)
    res.set_columns(dict(
        t_ns=a["t"][keep], ev=a["ev"][keep].astype(np.int8), pfn=a["pfn"][keep],
        order=a["order"][keep].astype(np.int8), mt=a["mt"][keep].astype(np.int8),
        gfp=a["gfp"][keep], pid=a["pid"][keep].astype(np.int32),
        fallback_order=a["fo"][keep].astype(np.int8), fallback_mt=a["fmt"][keep].astype(np.int8),
        change_ownership=a["co"][keep].astype(np.int8)))
    return res


def _chunk_columns(chunk: bytes) -> tuple:
    """(bytes as uint8, lines, zeroed int64 columns for as many rows)."""
    n_lines = chunk.count(b"\n")
    return np.frombuffer(chunk, np.uint8), n_lines, {k: np.zeros(n_lines, np.int64) for k in _FAST_COLS}


class _FastCSV:
    """The CSV schema through :func:`_traceparse.parse_csv_chunk`."""

    def __init__(self, res: ParsedTrace):
        self.res = res
        self.page_counts = np.zeros(len(_CSV_COUNTED), np.int64)

    def parse(self, chunk: bytes):
        """(columns, rows) of a chunk of whole lines; (None, 0) at a bad line."""
        buf, n_lines, arr = _chunk_columns(chunk)
        n, bad = P.parse_csv_chunk(buf, n_lines, arr["t"], arr["ev"], arr["pfn"], arr["order"],
                                   arr["mt"], arr["gfp"], arr["pid"], arr["cpu"], arr["fo"],
                                   arr["fmt"], arr["co"], self.page_counts)
        if bad >= 0:
            return None, 0
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

    def parse(self, chunk: bytes):
        """(columns, rows) of a chunk of whole lines; (None, 0) at a bad line."""
        buf, n_lines, arr = _chunk_columns(chunk)
        ev_hash = np.zeros(n_lines, np.int64)
        ev_off = np.zeros((n_lines, 2), np.int64)
        comm_off = np.zeros((n_lines, 2), np.int64)
        comm_hash = np.zeros(n_lines, np.int64)
        gfp_hash = np.zeros(n_lines, np.int64)
        gfp_off = np.zeros((n_lines, 2), np.int64)
        ln, n, bad = P.parse_text_chunk(
            buf, arr["t"], arr["ev"], arr["pfn"], arr["order"], arr["mt"], arr["pid"],
            arr["cpu"], arr["fo"], arr["fmt"], arr["co"], ev_hash, ev_off, comm_off,
            comm_hash, gfp_hash, gfp_off, _KEYS, _KLEN, *self.names)
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

    def finish(self, a: dict, path: Path, comm) -> np.ndarray:
        """gfp masks from their texts, times from the first event, and the rows
        to keep (``comm`` filters allocations by command name)."""
        res = self.res
        keep = np.ones(len(a["t"]), bool)
        # gfp: parse each distinct text once; unknown names counted per allocation
        g = a["gfp"]
        is_a = a["ev"] == EV_ALLOC
        vals = np.zeros(len(g), np.int64)
        for h, text in self.gfp_texts.items():
            sel = is_a & (g == h)
            cnt = Counter()
            vals[sel] = parse_gfp_lenient(text, cnt)
            nsel = int(sel.sum())
            for name, k in cnt.items():
                res.unknown_gfp[name] += k * nsel
        a["gfp"] = vals
        if comm is not None:
            drop = is_a & (a["comm"] != _fnv_py(comm.encode()))
            res.filtered_out = int(drop.sum())
            keep &= ~drop
        if len(a["t"]):
            a["t"] = a["t"] - a["t"][0]
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


def cols_pop(cols: _Columns) -> None:
    for lst in (cols.t, cols.ev, cols.pfn, cols.order, cols.mt, cols.gfp, cols.pid, cols.fo,
                cols.fmt, cols.co):
        lst.pop()


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


def _read_text(path: Path, fmt, comm, skip) -> ParsedTrace:
    """The line-by-line reader of tracefs / trace-cmd / perf text (regular
    expressions): slow, but it names a bad line, or skips and counts it."""
    rows = []
    res = ParsedTrace.empty(path, fmt)
    gfp_cache: dict = {}
    match = (_RE_PERF if fmt == "perf" else _RE_TRACEFS).match
    t0 = None
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
            if ":" in event:
                event = event.rsplit(":", 1)[1]
            res.counts[event] += 1
            if event[:8] != "mm_page_" or event not in _TEXT_EVENTS:
                continue
            pid = int(pid_s)
            c = c.strip()
            if pid not in res.comm:
                res.comm[pid] = c
            sec, _, frac = ts.partition(".")
            t = int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
            if t0 is None:
                t0 = t
            if event == "mm_page_alloc" and comm is not None and c != comm:
                res.filtered_out += 1
                continue
            try:
                row = _text_row(event, fs, t - t0, pid, gfp_cache)
            except (KeyError, ValueError) as e:
                res.counts[event] -= 1
                _bad(path, lineno, line, f"{event}: missing or bad field ({e})", skip, res)
                continue
            if not (0 <= row[3] <= 10):
                _bad(path, lineno, line, f"order {row[3]} outside 0..10", skip, res)
                continue
            rows.append(row)
    _set_text_columns(res, rows, gfp_cache)
    res.lines = lineno
    return res


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


def _set_text_columns(res: ParsedTrace, rows: list, gfp_cache: dict) -> None:
    """The rows of :func:`_text_row` as the trace's columns; unknown gfp names
    counted per allocation that carried them."""
    if rows:
        n_by_text = Counter(r[10] for r in rows if r[10] is not None)
        for g, n in n_by_text.items():
            for name, k in gfp_cache[g][1].items():
                res.unknown_gfp[name] += k * n
        a = np.array([r[:10] for r in rows], dtype=np.int64)
    else:
        a = np.zeros((0, 10), np.int64)
    res.set_columns(dict(
        t_ns=a[:, 0].copy(), ev=a[:, 1].astype(np.int8), pfn=a[:, 2].copy(),
        order=a[:, 3].astype(np.int8), mt=a[:, 4].astype(np.int8), gfp=a[:, 5].copy(),
        pid=a[:, 6].astype(np.int32), fallback_order=a[:, 7].astype(np.int8),
        fallback_mt=a[:, 8].astype(np.int8), change_ownership=a[:, 9].astype(np.int8)))


_TEXT_EVENTS = frozenset(("mm_page_alloc", "mm_page_free", "mm_page_alloc_extfrag"))


def other_event_counts(trace_path) -> Counter | None:
    """Counts by event name of ``other_events.csv[.xz]`` beside a CSV trace
    (None when there is no such file)."""
    d = Path(trace_path).resolve().parent
    for name in ("other_events.csv.xz", "other_events.csv.gz", "other_events.csv"):
        p = d / name
        if p.exists():
            out = Counter()
            with open_text(p) as f:
                next(f, None)
                try:
                    for line in f:
                        parts = line.split(",", 4)
                        if len(parts) >= 4:
                            out[parts[3].rsplit(":", 1)[-1]] += 1
                except EOFError:
                    raise TraceError(f"{p}: truncated compressed file") from None
            return out
    return None
