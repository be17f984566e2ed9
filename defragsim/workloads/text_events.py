"""A text trace's reclaim, compaction and migration events in the form of the
``other_events.csv`` a CSV trace has beside it.

A text trace (tracefs ``trace``, ``trace-cmd report``, ``perf script``)
carries the same ``compaction:``, ``vmscan:`` and ``migrate:`` events as the
shared tools' ``other_events.csv``, but printed through each tracepoint's
``TP_printk()`` format rather than as its raw fields: other names
(``nr_succeeded`` for the field ``succeeded``, ``classzone_idx`` for
``highest_zoneidx``), hex pfns, symbolic values (``status=complete``,
``zone=Normal``, ``lru=inactive_file``, gfp flag names) and a few layouts of
their own (``range=(0x.. ~ 0x..)``, ``mm_shrink_slab_start``'s sentence).
:func:`other_events_csv` reads them back into raw fields, so that every
reader of ``other_events.csv`` (:mod:`.trace`, which reads the file and keeps
the result: ``trace.text_other_events``) serves text traces too.  The
formats are those of include/trace/events/{compaction,vmscan,migrate}.h
(v6.18).
"""
from __future__ import annotations

import math
import re
from collections import Counter

from .. import constants as C

#: the kernel's zone index (zone_idx(), x86_64) of each zone name (ZONE_TYPE)
KERNEL_ZONE_IDX = {"DMA": 0, "DMA32": 1, "Normal": 2, "Movable": 3}

#: enum migrate_mode (include/linux/migrate_mode.h), MIGRATE_MODE in the printk
MIGRATE_MODES = {"MIGRATE_ASYNC": 0, "MIGRATE_SYNC_LIGHT": 1, "MIGRATE_SYNC": 2}
#: enum migrate_reason (include/linux/migrate_mode.h), MIGRATE_REASON's names
MIGRATE_REASONS = {"compaction": 0, "memory_failure": 1, "memory_hotplug": 2,
                   "syscall_or_cpuset": 3, "mempolicy_mbind": 4, "numa_misplaced": 5,
                   "contig_range": 6, "longterm_pin": 7, "demotion": 8, "damon": 9}
#: enum lru_list (include/linux/mmzone.h), show_lru_name()'s names
LRU_NAMES = {"inactive_anon": 0, "active_anon": 1, "inactive_file": 2, "active_file": 3,
             "unevictable": 4}
#: show_reclaim_flags()'s names (include/trace/events/vmscan.h)
RECLAIM_FLAGS = {"RECLAIM_WB_ANON": 0x1, "RECLAIM_WB_FILE": 0x2, "RECLAIM_WB_MIXED": 0x10,
                 "RECLAIM_WB_SYNC": 0x4, "RECLAIM_WB_ASYNC": 0x8}
#: compaction_status_string (include/trace/events/compaction.h): enum compact_result
COMPACT_RESULTS = {n: i for i, n in enumerate(C.COMPACT_RESULT_NAMES)}

#: the events kept: those the readers of other_events.csv (:mod:`.trace`) ask
#: for (direct reclaim, kswapd and kcompactd, compaction passes and deferral,
#: migration); a text trace's parse counts every event itself
KEPT = frozenset([
    "mm_vmscan_direct_reclaim_begin", "mm_vmscan_direct_reclaim_end", "mm_vmscan_kswapd_wake",
    "mm_vmscan_kswapd_sleep", "mm_vmscan_wakeup_kswapd", "mm_vmscan_lru_isolate",
    "mm_vmscan_lru_shrink_inactive", "mm_shrink_slab_start", "mm_compaction_begin",
    "mm_compaction_end", "mm_compaction_isolate_migratepages", "mm_compaction_isolate_freepages",
    "mm_compaction_fast_isolate_freepages", "mm_compaction_try_to_compact_pages",
    "mm_compaction_wakeup_kcompactd", "mm_compaction_kcompactd_wake",
    "mm_compaction_kcompactd_sleep", "mm_compaction_deferred", "mm_compaction_defer_compaction",
    "mm_compaction_defer_reset", "mm_migrate_pages"])
#: what the kept events' names start with (a search per prefix, not per event)
_NEEDLES = (b"mm_compaction_", b"mm_vmscan_", b"mm_shrink_slab_start:", b"mm_migrate_pages:")
_KEPT_B = frozenset(e.encode() for e in KEPT)
#: the scanners' events (most of the kept lines): range=(start ~ end) nr_scanned= nr_taken=
_RE_ISOLATE = re.compile(rb"range=\(\s*(0x[0-9a-fA-F]+|\d+)\s*~\s*(0x[0-9a-fA-F]+|\d+)\s*\)"
                         rb"\s+nr_scanned=(\d+)\s+nr_taken=(\d+)")
#: a text line's head: perf script "comm pid[/tid] [cpu] secs.frac: system:event: " and
#: tracefs / trace-cmd "comm-pid [cpu] flags secs.frac: event: "
_RE_HEAD = {
    "perf": re.compile(rb"\s(\d+)(?:/\d+)?\s+\[(\d+)\]\s+(\d+)\.(\d+):\s+([\w:]+):\s?"),
    "tracefs": re.compile(rb"-(\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(\d+)\]\s+(?:[\w.]{4,5}\s+)?"
                          rb"(\d+)\.(\d+):\s+([\w:]+):\s?"),
}

_DEFER_NAMES = {"node": "nid", "zone": "idx", "consider": "considered", "limit": "defer_shift"}
#: printk label -> raw field name, by event (TP_STRUCT__entry names)
RENAMES = {
    "mm_migrate_pages": {"nr_succeeded": "succeeded", "nr_failed": "failed",
                         "nr_thp_succeeded": "thp_succeeded", "nr_thp_failed": "thp_failed",
                         "nr_thp_split": "thp_split", "nr_split": "large_folio_split"},
    "mm_vmscan_lru_shrink_inactive": {"nr_activate_anon": "nr_activate0",
                                      "nr_activate_file": "nr_activate1",
                                      "flags": "reclaim_flags"},
    "mm_vmscan_lru_isolate": {"classzone": "highest_zoneidx"},
    "mm_compaction_kcompactd_wake": {"classzone_idx": "highest_zoneidx"},
    "mm_compaction_wakeup_kcompactd": {"classzone_idx": "highest_zoneidx"},
    "mm_compaction_try_to_compact_pages": {"priority": "prio"},
    "mm_compaction_deferred": _DEFER_NAMES,
    "mm_compaction_defer_compaction": _DEFER_NAMES,
    "mm_compaction_defer_reset": _DEFER_NAMES,
}
_RE_RANGE = re.compile(r"range=\(\s*(0x[0-9a-fA-F]+|\d+)\s*~\s*(0x[0-9a-fA-F]+|\d+)\s*\)")
_RE_SLAB_START = re.compile(
    r"^\S+ (\S+): nid: (-?\d+) objects to shrink (-?\d+) gfp_flags (\S+) cache items (-?\d+) "
    r"delta (-?\d+) total_scan (-?\d+) priority (-?\d+)")


def _int(v: str, base: int = 0) -> int | None:
    """A printed integer, or None."""
    try:
        return int(v, base)
    except ValueError:
        return None


def _symbols(v: str, table: dict) -> int | None:
    """A ``|``-separated set of names of ``table`` (or a number) as an int."""
    n = _int(v)
    if n is not None:
        return n
    out = 0
    for name in v.split("|"):
        if name not in table:
            return None
        out |= table[name]
    return out


def _value(event: str, key: str, v: str, gfp) -> int | None:
    """A printk value of the raw field ``key`` as the raw field's integer, or
    None when it cannot be read back."""
    if key in ("idx", "highest_zoneidx"):
        return KERNEL_ZONE_IDX[v] if v in KERNEL_ZONE_IDX else _int(v)
    if key == "defer_shift":
        n = _int(v)                                 # printed as limit = 1 << defer_shift
        return int(math.log2(n)) if n is not None and n > 0 else None
    if key in ("status", "ret"):
        return COMPACT_RESULTS[v] if v in COMPACT_RESULTS else _int(v)
    if key == "reason":
        return _symbols(v, MIGRATE_REASONS)
    if key == "lru":
        return _symbols(v, LRU_NAMES)
    if key == "reclaim_flags":
        return _symbols(v, RECLAIM_FLAGS)
    if key in ("gfp_flags", "gfp_mask"):
        return gfp(v)
    if key == "shr":
        return _int(v, 16)        # %p: perf prints 0x..., tracefs a hashed pointer without it
    if key == "mode" and event == "mm_migrate_pages":
        return _symbols(v, MIGRATE_MODES)
    return _int(v)


def raw_fields(event: str, fs: str, gfp) -> str:
    """The printk text ``fs`` of ``event`` as the raw fields the shared tools'
    ``other_events.csv`` holds (``key=value`` integers, space-separated);
    a value that cannot be read back is left out.  ``gfp(text)``: a gfp
    mask from its printed names."""
    out: list = []
    if event == "mm_shrink_slab_start":
        m = _RE_SLAB_START.match(fs)
        if m is None:
            return ""
        g = m.groups()
        vals = [("shr", _int(g[0], 16)), ("nid", int(g[1])), ("nr_objects_to_shrink", int(g[2])),
                ("gfp_flags", gfp(g[3])), ("cache_items", int(g[4])), ("delta", int(g[5])),
                ("total_scan", int(g[6])), ("priority", int(g[7]))]
        return " ".join(f"{k}={v}" for k, v in vals if v is not None)
    m = _RE_RANGE.search(fs)
    if m is not None:
        out += [f"start_pfn={int(m.group(1), 0)}", f"end_pfn={int(m.group(2), 0)}"]
        fs = fs[:m.start()] + fs[m.end():]
    names = RENAMES.get(event, {})
    for tok in fs.replace(",", " ").split():
        k, sep, v = tok.partition("=")
        if not sep:
            continue
        if k == "mode" and event in ("mm_compaction_begin", "mm_compaction_end"):
            # TP_printk prints cc->mode != MIGRATE_ASYNC as mode=sync / async
            out.append(f"sync={0 if v == 'async' else 1}")
            continue
        k = names.get(k, k)
        x = _value(event, k, v, gfp)
        if x is not None:
            out.append(f"{k}={x}")
    return " ".join(out)


class _Gfp:
    """gfp masks from printed flag names (``parse(text, unknown)``:
    trace.parse_gfp_lenient), each distinct text parsed once."""

    def __init__(self, parse):
        self.parse = parse
        self.cache: dict = {}
        self.unknown: Counter = Counter()

    def __call__(self, text: str) -> int | None:
        if text not in self.cache:
            try:
                self.cache[text] = self.parse(text, self.unknown)
            except ValueError:
                self.cache[text] = None
        return self.cache[text]


def other_events_csv(chunks, fmt: str, parse_gfp) -> bytes:
    """``other_events.csv`` (header and ``t_ns,cpu,pid,event,fields`` lines,
    fields as :func:`raw_fields`) made from the reclaim, compaction and
    migration events of a text trace (``chunks``: its bytes as chunks of whole
    lines; ``fmt``: ``tracefs`` or ``perf``; ``parse_gfp``:
    trace.parse_gfp_lenient), times in ns on the trace's own clock (the one
    its page events' ``t0_ns`` is on)."""
    head = _RE_HEAD["perf" if fmt == "perf" else "tracefs"].search
    gfp = _Gfp(parse_gfp)
    out = [b"t_ns,cpu,pid,event,fields\n"]
    for chunk in chunks:
        starts = set()
        for needle in _NEEDLES:
            pos = chunk.find(needle)
            while pos >= 0:
                end = chunk.find(b":", pos)
                if chunk[pos:end] in _KEPT_B:
                    starts.add(chunk.rfind(b"\n", 0, pos) + 1)
                pos = chunk.find(needle, pos + len(needle))
        for s in sorted(starts):
            line = chunk[s:chunk.find(b"\n", s)]
            m = head(line)
            if m is None:
                continue        # the page events' reader names a bad line
            pid, cpu, sec, frac, event = m.groups()
            bare = event.rsplit(b":", 1)[-1].decode()
            if bare not in KEPT:
                continue        # a needle inside another event's fields
            t = int(sec) * 1_000_000_000 + int((frac + b"000000000")[:9])
            fs = line[m.end():]
            r = _RE_ISOLATE.match(fs) if bare.startswith("mm_compaction_isolate_") or \
                bare == "mm_compaction_fast_isolate_freepages" else None
            if r is not None:
                a, b, n, k = r.groups()
                out.append(b"%d,%s,%s,%s,start_pfn=%d end_pfn=%d nr_scanned=%s nr_taken=%s\n"
                           % (t, cpu, pid, event, int(a, 0), int(b, 0), n, k))
                continue
            fields = raw_fields(bare, fs.decode("utf-8", "replace"), gfp)
            out.append(b"%d,%s,%s,%s,%s\n" % (t, cpu, pid, event, fields.encode()))
    return b"".join(out)
