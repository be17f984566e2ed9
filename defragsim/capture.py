"""Snapshots of a live machine and recording of page-allocator traces
(``defragsim snapshot`` / ``defragsim record``).

A snapshot folder holds ``<tag>.vmstat``, ``.pagetypeinfo``, ``.buddyinfo``,
``.zoneinfo``, ``.meminfo``, ``.sysctl`` (the vm sysctls) and, when
``/proc/kpageflags`` is readable, ``<tag>.pbmap.csv.gz``: a per-pageblock
content map (free/buddy, slab, LRU file and anon, page tables, THP, reserved,
other pages per 512-page block).  ``before.*`` is what
:class:`defragsim.replay.Snapshot` loads as an initial state.

``record`` enables the kmem, compaction and vmscan tracepoints in tracefs,
streams ``trace_pipe`` into ``trace.txt.gz`` for the given time, and takes
snapshots before and after (``snap/before.*``, ``snap/after.*``); where tracefs
is not writable but ``perf`` is available it uses ``perf record`` and
``perf script``.  Both need root.
"""
from __future__ import annotations

import gzip
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np


from .errors import CaptureError

PROC_FILES = ("vmstat", "pagetypeinfo", "buddyinfo", "zoneinfo", "meminfo")
SYSCTLS = ("defrag_mode", "compaction_proactiveness", "watermark_scale_factor",
           "watermark_boost_factor", "min_free_kbytes", "extfrag_threshold", "swappiness")
TRACE_EVENTS = ("kmem/mm_page_alloc", "kmem/mm_page_free", "kmem/mm_page_free_batched",
                "kmem/mm_page_alloc_extfrag", "compaction", "vmscan/mm_vmscan_direct_reclaim_begin",
                "vmscan/mm_vmscan_direct_reclaim_end", "vmscan/mm_vmscan_kswapd_wake",
                "vmscan/mm_vmscan_wakeup_kswapd")
# include/uapi/linux/kernel-page-flags.h
KPF = dict(LRU=5, SLAB=7, BUDDY=10, ANON=12, THP=22, PGTABLE=26, RESERVED=32, NOPAGE=20)
PBMAP_COLUMNS = ["zone", "start_pfn", "buddy", "slab", "lru_file", "lru_anon", "pgtable", "thp",
                 "reserved", "other"]


def zone_ranges(zoneinfo_text: str) -> list[tuple[str, int, int]]:
    """(zone, start_pfn, spanned) of the populated zones in /proc/zoneinfo."""
    out, cur = [], None
    for line in zoneinfo_text.splitlines():
        m = re.match(r"Node (\d+), zone\s+(\S+)", line)
        if m:
            cur = {"zone": m.group(2)}
            out.append(cur)
            continue
        m = re.match(r"\s+(spanned|start_pfn):?\s+(\d+)", line)
        if m and cur is not None:
            cur[m.group(1)] = int(m.group(2))
    return [(z["zone"], z["start_pfn"], z["spanned"]) for z in out
            if z.get("spanned", 0) > 0 and "start_pfn" in z]


def pageblock_content_map(kpageflags_path, zones, pageblock_nr_pages: int = 512):
    """Per-pageblock page counts by content from /proc/kpageflags (one u64 per pfn)."""
    rows = []
    bit = {k: np.uint64(1) << np.uint64(v) for k, v in KPF.items()}
    with open(kpageflags_path, "rb", buffering=0) as fd:
        for zone, start, spanned in zones:
            s0 = start - start % pageblock_nr_pages
            end = start + spanned
            step = 1 << 18
            for c0 in range(s0, end, step):
                c1 = min(end, c0 + step)
                c1 += (-c1) % pageblock_nr_pages
                fd.seek(c0 * 8)
                buf = bytearray()
                while len(buf) < (c1 - c0) * 8:
                    chunk = fd.read((c1 - c0) * 8 - len(buf))
                    if not chunk:
                        break
                    buf += chunk
                f = np.frombuffer(bytes(buf), dtype="<u8")
                if len(f) < c1 - c0:
                    f = np.concatenate([f, np.full(c1 - c0 - len(f), bit["NOPAGE"], "<u8")])
                f = f.reshape(-1, pageblock_nr_pages)

                def has(name):
                    return (f & bit[name]) != 0
                lru, anon, slab, buddy = has("LRU"), has("ANON"), has("SLAB"), has("BUDDY")
                pgt, thp, res = has("PGTABLE"), has("THP"), has("RESERVED")
                counted = buddy | slab | lru | pgt | res
                cols = [buddy.sum(1), slab.sum(1), (lru & ~anon).sum(1), (lru & anon).sum(1),
                        pgt.sum(1), thp.sum(1), res.sum(1), (~counted).sum(1)]
                for i in range(f.shape[0]):
                    rows.append([zone, c0 + i * pageblock_nr_pages] + [int(c[i]) for c in cols])
    return rows


def snapshot(out_dir, *, tag: str = "before", proc="/proc", kpageflags: bool = True) -> list[str]:
    """Save the allocator state of this machine as ``out_dir/<tag>.*``."""
    proc = Path(proc)
    out = Path(out_dir)
    missing = [n for n in PROC_FILES if not (proc / n).exists()]
    if missing:
        raise CaptureError(f"snapshot: {proc} has no {', '.join(missing)} (not a Linux /proc?)")
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for n in PROC_FILES:
        try:
            text = (proc / n).read_text()
        except PermissionError:
            raise CaptureError(f"snapshot: cannot read {proc / n} (pagetypeinfo needs root)") from None
        (out / f"{tag}.{n}").write_text(text)
        files.append(str(out / f"{tag}.{n}"))
    lines = []
    for s in SYSCTLS:
        p = proc / "sys" / "vm" / s
        if p.exists():
            lines.append(f"vm.{s}={p.read_text().strip()}")
    (out / f"{tag}.sysctl").write_text("\n".join(lines) + "\n")
    (out / f"{tag}.time").write_text(f"{time.time():.6f}\n")
    files += [str(out / f"{tag}.sysctl"), str(out / f"{tag}.time")]
    kpf = proc / "kpageflags"
    if kpageflags and kpf.exists():
        try:
            rows = pageblock_content_map(kpf, zone_ranges((proc / "zoneinfo").read_text()))
        except PermissionError:
            rows = None          # not root: the map is optional
        if rows is not None:
            with gzip.open(out / f"{tag}.pbmap.csv.gz", "wt") as f:
                f.write(",".join(PBMAP_COLUMNS) + "\n")
                for r in rows:
                    f.write(",".join(map(str, r)) + "\n")
            files.append(str(out / f"{tag}.pbmap.csv.gz"))
    return files


def _tracefs_root(tracefs) -> Path:
    if tracefs is not None:
        return Path(tracefs)
    for cand in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if (Path(cand) / "trace_pipe").exists():
            return Path(cand)
    return Path("/sys/kernel/tracing")


def record(out_dir, duration: float, *, tracefs=None, proc="/proc", buffer_kb: int = 65536,
           use_perf: bool | None = None, progress=None) -> dict:
    """Record the page-allocator events of this machine for ``duration`` seconds."""
    if not duration > 0:
        raise CaptureError(f"record: --duration must be positive, got {duration}")
    out = Path(out_dir)
    root = _tracefs_root(tracefs)
    tracefs_ok = (root / "trace_pipe").exists() and os.access(root / "events", os.W_OK)
    perf = shutil.which("perf")
    if use_perf is None:
        use_perf = not tracefs_ok and perf is not None
    if not use_perf and not tracefs_ok:
        why = (f"{root} is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"
               if not (root / "trace_pipe").exists() else f"{root}/events is not writable (need root)")
        raise CaptureError(f"record: {why}, and perf is not installed")
    if use_perf and perf is None:
        raise CaptureError("record: perf is not installed")
    snap = out / "snap"
    snapshot(snap, tag="before", proc=proc)
    if use_perf:
        info = _record_perf(out, duration, perf)
    else:
        info = _record_tracefs(out, duration, root, buffer_kb, progress)
    snapshot(snap, tag="after", proc=proc)
    info["snapshot"] = str(snap)
    return info


def _record_tracefs(out: Path, duration, root: Path, buffer_kb, progress) -> dict:
    enabled = []

    def write(rel, value):
        with open(root / rel, "w") as f:
            f.write(value)

    raw = (root / "buffer_size_kb").read_text()
    m = re.search(r"expanded:\s*(\d+)", raw) or re.search(r"(\d+)", raw)
    old_buf = m.group(1) if m else None
    try:
        write("tracing_on", "0")
        write("trace", "")
        write("buffer_size_kb", str(buffer_kb))
        for ev in TRACE_EVENTS:
            p = root / "events" / ev / "enable"
            if p.exists():
                write(f"events/{ev}/enable", "1")
                enabled.append(ev)
        if not any(e.startswith("kmem/mm_page_alloc") for e in enabled):
            raise CaptureError(f"record: {root}/events/kmem/mm_page_alloc does not exist "
                              "(kernel without the kmem tracepoints?)")
        path = out / "trace.txt.gz"
        out.mkdir(parents=True, exist_ok=True)
        nbytes = 0
        fd = os.open(root / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        try:
            with gzip.open(path, "wb", compresslevel=3) as gz:
                write("tracing_on", "1")
                t_end = time.monotonic() + duration
                while True:
                    left = t_end - time.monotonic()
                    if left <= 0:
                        break
                    r, _, _ = select.select([fd], [], [], min(left, 0.2))
                    if r:
                        try:
                            chunk = os.read(fd, 1 << 20)
                        except BlockingIOError:
                            continue
                        gz.write(chunk)
                        nbytes += len(chunk)
                write("tracing_on", "0")
                while True:              # drain what is left in the buffer
                    r, _, _ = select.select([fd], [], [], 0.2)
                    if not r:
                        break
                    try:
                        chunk = os.read(fd, 1 << 20)
                    except BlockingIOError:
                        break
                    if not chunk:
                        break
                    gz.write(chunk)
                    nbytes += len(chunk)
        finally:
            os.close(fd)
        overrun = 0
        stats = root / "per_cpu"
        if stats.exists():
            for cpu in stats.iterdir():
                s = (cpu / "stats")
                if s.exists():
                    m = re.search(r"overrun:\s+(\d+)", s.read_text())
                    if m:
                        overrun += int(m.group(1))
        return {"trace": str(path), "bytes": nbytes, "events_enabled": enabled,
                "overrun": overrun, "method": "tracefs"}
    finally:
        try:
            write("tracing_on", "0")
            for ev in enabled:
                write(f"events/{ev}/enable", "0")
            if old_buf is not None:
                write("buffer_size_kb", old_buf)
        except OSError:
            pass


def _record_perf(out: Path, duration, perf) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    data = out / "perf.data"
    evs = []
    for ev in TRACE_EVENTS:
        evs += ["-e", ev.replace("/", ":") if "/" in ev else f"{ev}:*"]
    r = subprocess.run([perf, "record", "-q", "-a", "-o", str(data), *evs, "--", "sleep",
                        str(duration)], capture_output=True, text=True)
    if r.returncode != 0:
        raise CaptureError(f"record: perf record failed: {r.stderr.strip()[:300]}")
    path = out / "trace.perf.txt.gz"
    with gzip.open(path, "wt") as gz:
        p = subprocess.Popen([perf, "script", "-i", str(data)], stdout=subprocess.PIPE, text=True)
        for line in p.stdout:
            gz.write(line)
        p.wait()
    data.unlink(missing_ok=True)
    return {"trace": str(path), "method": "perf"}
