"""Snapshots of a live machine and recording of page-allocator traces
(``defragsim snapshot`` / ``defragsim record``).

A snapshot folder holds ``<tag>.vmstat``, ``.pagetypeinfo``, ``.buddyinfo``,
``.zoneinfo``, ``.meminfo``, ``.sysctl`` (the vm sysctls), ``.time`` (the
wall clock, then ``/proc/uptime``), ``.slabinfo`` (when readable),
``.platform`` (kernel release and version, online CPUs: what a replay needs
to know about the machine), ``.platform_params`` (the page_reporting module
parameters, when ``/sys/module/page_reporting`` exists) and, when
``/proc/kpageflags`` is readable, ``<tag>.pbmap.csv.gz``: a per-pageblock
content map (free/buddy, slab, LRU file and anon, page tables, THP, reserved,
other pages per 512-page block).  ``before.*`` is what
:class:`defragsim.workloads.snapshot.Snapshot` loads as an initial state.

``record`` enables the kmem, compaction and vmscan tracepoints in tracefs,
streams ``trace_pipe`` into ``trace.txt.gz`` for the given time, and takes
snapshots before and after (``snap/before.*``, ``snap/after.*``); where tracefs
is not mounted but ``perf`` is available it uses ``perf record`` and
``perf script``.  Both need root.

Nothing is left behind.  With tracefs, ``record`` traces into its own
instance (``instances/defragsim-<pid>``, removed at the end), so the global
buffer and settings are not touched; on a tracefs without instances it saves
``tracing_on``, ``buffer_size_kb`` and every event's ``enable`` first and
restores them, and leaves what is already in the buffer out of the trace.
With perf, a tracefs mount that perf made is unmounted again.  All of this
also happens on an exception and on SIGINT, SIGTERM and SIGHUP: a signal ends
the recording early, the trace is closed (readable up to then), the after
snapshot is taken (without the kpageflags map, to be quick) and the folder is
marked: a file ``INTERRUPTED`` and ``"interrupted": "SIGTERM"`` in
``record.json`` (the recording's metadata; ``info["interrupted"]`` in the
returned dict).  Such a trace replays like any other.

The tests point ``proc``, ``sysfs`` and ``tracefs`` at fake folders.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .constants import PAGE_SIZE
from .errors import CaptureError

PROC_FILES = ("vmstat", "pagetypeinfo", "buddyinfo", "zoneinfo", "meminfo")
SYSCTLS = ("defrag_mode", "compaction_proactiveness", "watermark_scale_factor",
           "watermark_boost_factor", "min_free_kbytes", "extfrag_threshold", "swappiness")
#: the page events, and every event a replay reads beside them
#: (workloads/text_events.py KEPT: direct reclaim, kswapd's wakes, sleeps, LRU
#: batches and shrinker calls, the compaction passes, migration), as the
#: shared traces' capture.sh records them (compaction:*, vmscan:*,
#: migrate:mm_migrate_pages)
TRACE_EVENTS = ("kmem/mm_page_alloc", "kmem/mm_page_free", "kmem/mm_page_free_batched",
                "kmem/mm_page_alloc_extfrag", "compaction", "vmscan", "migrate/mm_migrate_pages")
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


#: Where tracefs is looked for when no --tracefs is given.
TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
#: The signals that end a recording early (cleanly).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Marker file of a recording ended early by a signal.
INTERRUPTED = "INTERRUPTED"
#: Metadata of a recording.
RECORD_META = "record.json"
#: A snapshot tag: a plain file-name prefix.
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
#: Module parameters saved in ``<tag>.platform_params`` (sysfs-relative).
PLATFORM_PARAMS = ("module/page_reporting/parameters",)


def _check_out_dir(out: Path, what: str) -> None:
    if out.exists() and not out.is_dir():
        raise CaptureError(f"{what}: -o {out}: exists and is not a directory")


def check_tag(tag) -> str:
    """A snapshot tag is a file-name prefix: no path separators, no ``..``."""
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag) or ".." in tag:
        raise CaptureError(f"snapshot: --tag {tag!r}: use letters, digits and _ . + - only "
                           "(a file-name prefix inside -o: no path separators, no '..')")
    return tag


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def platform_info(proc="/proc", sysfs="/sys") -> dict:
    """Kernel release and version, online CPUs, page size: ``key=value`` lines
    of ``<tag>.platform``."""
    proc, sysfs = Path(proc), Path(sysfs)
    info = {}
    rel = _read(proc / "sys" / "kernel" / "osrelease")
    info["kernel_release"] = rel.strip() if rel else os.uname().release
    ver = _read(proc / "version")
    if ver:
        info["kernel_version"] = ver.strip()
    info["machine"] = os.uname().machine
    online = _read(sysfs / "devices" / "system" / "cpu" / "online")
    n = None
    if online and online.strip():
        info["cpus_online"] = online.strip()
        try:
            n = 0
            for r in online.strip().split(","):
                a, _, b = r.partition("-")
                n += int(b or a) - int(a) + 1
        except ValueError:
            n = None
    if n is None:
        cpuinfo = _read(proc / "cpuinfo")
        if cpuinfo:
            n = sum(1 for ln in cpuinfo.splitlines() if ln.startswith("processor"))
    info["nr_cpus"] = n or os.cpu_count() or 1
    info["page_size"] = os.sysconf("SC_PAGE_SIZE")
    return info


def platform_params(sysfs="/sys") -> list[str]:
    """``/sys/module/page_reporting/parameters/NAME=VALUE`` lines (the shared
    traces' format), for each readable parameter."""
    sysfs = Path(sysfs)
    lines = []
    for rel in PLATFORM_PARAMS:
        d = sysfs / rel
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            v = _read(p)
            if v is not None:
                lines.append(f"/sys/{rel}/{p.name}={v.strip()}")
    return lines


def snapshot(out_dir, *, tag: str = "before", proc="/proc", sysfs="/sys",
             kpageflags: bool = True) -> list[str]:
    """Save the allocator state of this machine as ``out_dir/<tag>.*``."""
    check_tag(tag)
    proc = Path(proc)
    out = Path(out_dir)
    _check_out_dir(out, "snapshot")
    missing = [n for n in PROC_FILES if not (proc / n).exists()]
    if missing:
        raise CaptureError(f"snapshot: {proc} has no {', '.join(missing)} (not a Linux /proc?)")
    texts = {}
    for n in PROC_FILES:
        try:
            texts[n] = (proc / n).read_text()
        except PermissionError:
            raise CaptureError(f"snapshot: cannot read {proc / n} (pagetypeinfo needs root)") from None
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for n in PROC_FILES:
        (out / f"{tag}.{n}").write_text(texts[n])
        files.append(str(out / f"{tag}.{n}"))
    lines = []
    for s in SYSCTLS:
        p = proc / "sys" / "vm" / s
        if p.exists():
            lines.append(f"vm.{s}={p.read_text().strip()}")
    (out / f"{tag}.sysctl").write_text("\n".join(lines) + "\n")
    # per-cache slab pages: what a trace's missing slab allocations were
    # (data/traces/README.md), when readable (root)
    try:
        (out / f"{tag}.slabinfo").write_text((proc / "slabinfo").read_text())
        files.append(str(out / f"{tag}.slabinfo"))
    except (FileNotFoundError, PermissionError):
        pass
    # the wall clock, then /proc/uptime (seconds up, idle seconds summed over
    # the CPUs): a replay takes the span between two snapshots and the CPUs'
    # busy share from it (Snapshot.uptime_span, busy_cpus)
    up = proc / "uptime"
    uptime = up.read_text().split("\n")[0].strip() if up.exists() else ""
    (out / f"{tag}.time").write_text(f"{time.time():.6f}\n" + (f"{uptime}\n" if uptime else ""))
    (out / f"{tag}.platform").write_text(
        "".join(f"{k}={v}\n" for k, v in platform_info(proc, sysfs).items()))
    files += [str(out / f"{tag}.{x}") for x in ("sysctl", "time", "platform")]
    params = platform_params(sysfs)
    if params:
        (out / f"{tag}.platform_params").write_text("\n".join(params) + "\n")
        files.append(str(out / f"{tag}.platform_params"))
    kpf = proc / "kpageflags"
    if kpageflags and kpf.exists():
        try:
            rows = pageblock_content_map(kpf, zone_ranges(texts["zoneinfo"]))
        except PermissionError:
            rows = None          # not root: the map is optional
        if rows is not None:
            with gzip.open(out / f"{tag}.pbmap.csv.gz", "wt") as f:
                f.write(",".join(PBMAP_COLUMNS) + "\n")
                for r in rows:
                    f.write(",".join(map(str, r)) + "\n")
            files.append(str(out / f"{tag}.pbmap.csv.gz"))
    return files


# ---------------------------------------------------------------------------
# Signals: a recording ends early, cleanly
# ---------------------------------------------------------------------------

class _Stop:
    """A signal handler that only notes the first signal."""

    def __init__(self):
        self.signum = None

    def __call__(self, signum, frame):
        if self.signum is None:
            self.signum = signum

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None


@contextmanager
def _stop_on_signals():
    """While inside: SIGINT, SIGTERM and SIGHUP set a flag instead of ending
    the process (the old handlers come back after).  A signal the process
    ignores (``nohup``) stays ignored; outside the main thread nothing changes."""
    stop = _Stop()
    old = {}
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            try:
                if signal.getsignal(s) is signal.SIG_IGN:
                    continue
                old[s] = signal.signal(s, stop)
            except (ValueError, OSError):
                pass
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# ---------------------------------------------------------------------------
# record
# ---------------------------------------------------------------------------

def _tracefs_root(tracefs) -> Path:
    if tracefs is not None:
        return Path(tracefs)
    for cand in TRACEFS_CANDIDATES:
        if (Path(cand) / "trace_pipe").exists():
            return Path(cand)
    return Path(TRACEFS_CANDIDATES[0])


def record(out_dir, duration: float, *, tracefs=None, proc="/proc", sysfs="/sys",
           buffer_kb: int = 65536, use_perf: bool | None = None, progress=None) -> dict:
    """Record the page-allocator events of this machine for ``duration``
    seconds into ``out_dir`` (``trace.txt.gz`` or ``trace.perf.txt.gz``,
    ``snap/``, ``record.json``).

    Returns ``{"trace", "method", "snapshot", "interrupted", "duration_s", ...}``;
    ``interrupted`` is the name of the signal that ended the recording early
    (the folder then also holds ``INTERRUPTED``), else None.  An explicit
    ``tracefs`` must exist and is never replaced by perf.  ``progress``: a
    callable given one-line messages (optional)."""
    if not duration > 0:
        raise CaptureError(f"record: --duration must be positive, got {duration}")
    out = Path(out_dir)
    _check_out_dir(out, "record")
    if tracefs is not None and not Path(tracefs).is_dir():
        raise CaptureError(f"record: --tracefs {tracefs}: "
                           + ("no such directory" if not Path(tracefs).exists() else "not a directory"))
    root = _tracefs_root(tracefs)
    has_pipe = (root / "trace_pipe").exists()
    tracefs_ok = has_pipe and os.access(root / "events", os.W_OK)
    perf = shutil.which("perf")
    if use_perf is None:
        use_perf = not tracefs_ok and perf is not None and tracefs is None
    if not use_perf and not tracefs_ok:
        if tracefs is not None:
            why = (f"--tracefs {root} has no trace_pipe (not a tracefs mount?)" if not has_pipe
                   else f"{root}/events is not writable (need root)")
            raise CaptureError(f"record: {why}")
        why = (f"{root} is not mounted (mount -t tracefs nodev /sys/kernel/tracing)"
               if not has_pipe else f"{root}/events is not writable (need root)")
        raise CaptureError(f"record: {why}, and perf is not installed")
    if use_perf and perf is None:
        raise CaptureError("record: perf is not installed")
    say = progress or (lambda msg: None)
    snap = out / "snap"
    with _stop_on_signals() as stop:
        snapshot(snap, tag="before", proc=proc, sysfs=sysfs)
        (out / INTERRUPTED).unlink(missing_ok=True)         # of an earlier recording here
        t0 = time.time()
        say(f"record: recording {duration:g} s into {out}/")
        if use_perf:
            info = _record_perf(out, duration, perf, Path(proc), stop)
        else:
            info = _record_tracefs(out, duration, root, buffer_kb, stop)
        elapsed = time.time() - t0
        _note_recorder_pages(snap, info.get("recorder_buffer_pages", 0))
        interrupted = stop.name
        if interrupted:
            say(f"record: {interrupted} after {elapsed:.1f} s: trace closed, settings restored, "
                "taking the after snapshot")
        # interrupted: quickly, without the (slow on a big machine) kpageflags map
        snapshot(snap, tag="after", proc=proc, sysfs=sysfs, kpageflags=interrupted is None)
    info.update(snapshot=str(snap), interrupted=interrupted, duration_s=round(elapsed, 3),
                duration_requested_s=duration)
    meta = {k: v for k, v in info.items() if k not in ("trace", "snapshot")}
    meta.update(trace=Path(info["trace"]).name, snapshot="snap", started=round(t0, 3),
                **{"platform": platform_info(proc, sysfs)})
    (out / RECORD_META).write_text(json.dumps(meta, indent=1, default=str) + "\n")
    if interrupted:
        (out / INTERRUPTED).write_text(f"{interrupted} after {elapsed:.1f} s of {duration:g} s: "
                                       f"the trace ends there; snap/after.* taken then\n")
    return info


class _Lines:
    """Writes whole lines of a byte stream to ``gz``; drops the first ``skip``
    lines (entries already in a shared buffer) and a partial last line."""

    def __init__(self, gz, skip: int = 0):
        self.gz, self.skip, self.tail, self.nbytes = gz, skip, b"", 0

    def write(self, chunk: bytes) -> None:
        data = self.tail + chunk
        cut = data.rfind(b"\n") + 1
        self.tail = data[cut:]
        data = data[:cut]
        while self.skip and data:
            i = data.find(b"\n") + 1
            data = data[i:]
            self.skip -= 1
        if data:
            self.gz.write(data)
            self.nbytes += len(data)


def _make_instance(root: Path) -> Path | None:
    """A tracefs instance of our own (a buffer, events and tracing_on of its
    own), or None where tracefs has no instances."""
    inst = root / "instances"
    if not inst.is_dir():
        return None
    path = inst / f"defragsim-{os.getpid()}"
    try:
        path.mkdir()
    except OSError:
        return None
    if not (path / "trace_pipe").exists() or not (path / "events").is_dir():
        _remove_instance(path)
        return None
    return path


def _remove_instance(path: Path) -> None:
    try:
        path.rmdir()                 # tracefs removes the instance's files itself
    except OSError:
        pass


def _event_enables(base: Path) -> list[tuple[str, Path]]:
    """(event, its enable file) for TRACE_EVENTS; a subsystem (``compaction``)
    as its single events, so that each one's setting can be restored."""
    out = []
    for ev in TRACE_EVENTS:
        d = base / "events" / ev
        if not (d / "enable").exists():
            continue
        subs = sorted(p for p in d.iterdir() if p.is_dir() and (p / "enable").exists()) \
            if "/" not in ev else []
        if subs:
            out += [(f"{ev}/{p.name}", p / "enable") for p in subs]
        else:
            out.append((ev, d / "enable"))
    return out


class _Settings:
    """Saved tracefs settings, restored in reverse order of change."""

    def __init__(self):
        self.saved: list[tuple[Path, str]] = []
        self.failed: list[str] = []

    def set(self, path: Path, value: str, old: str | None = None) -> None:
        if old is None:
            old = path.read_text().strip()
        self.saved.append((path, old))
        path.write_text(value)

    def restore(self) -> None:
        """Each file back to its first saved value, the last changed first
        (so tracing_on, saved first, is switched back on last)."""
        first = {}
        for path, old in self.saved:
            first.setdefault(path, old)
        for path in dict.fromkeys(p for p, _ in reversed(self.saved)):
            if first[path] == "X":          # a subsystem's "mixed" cannot be written back
                continue
            try:
                path.write_text(first[path])
            except OSError as e:
                self.failed.append(f"{path} ({e.strerror or e})")
        self.saved.clear()


def _buffer_kb(text: str) -> str | None:
    m = re.search(r"expanded:\s*(\d+)", text) or re.search(r"(\d+)", text)
    return m.group(1) if m else None


def _allocated_kb(text: str) -> int:
    """What a ``buffer_size_kb`` holds now (per CPU): "7 (expanded: 1408)" is
    a buffer of 7 KiB not yet expanded to 1408."""
    m = re.match(r"\s*(\d+)", text)
    return int(m.group(1)) if m else 0


def _record_tracefs(out: Path, duration, root: Path, buffer_kb, stop: _Stop) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "trace.txt.gz"
    inst = _make_instance(root)
    base = inst or root
    st = _Settings()
    enabled = []
    nbytes = skip = 0
    try:
        if (base / "tracing_on").exists():
            st.set(base / "tracing_on", "0")
        raw_buf = (base / "buffer_size_kb").read_text()
        old_buf, had_kb = _buffer_kb(raw_buf), _allocated_kb(raw_buf)
        if old_buf != str(buffer_kb):
            st.set(base / "buffer_size_kb", str(buffer_kb), old=old_buf)
        for ev, enable in _event_enables(base):
            st.set(enable, "1")
            enabled.append(ev)
        if not any(e.startswith("kmem/mm_page_alloc") for e in enabled):
            raise CaptureError(f"record: {root}/events/kmem/mm_page_alloc does not exist "
                               "(kernel without the kmem tracepoints?)")
        if inst is None and (base / "trace").exists():
            # the shared buffer is not cleared: what it holds already is skipped
            skip = sum(1 for ln in (base / "trace").read_text(errors="replace").splitlines()
                       if ln and not ln.startswith("#"))
        fd = os.open(base / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        try:
            with gzip.open(path, "wb", compresslevel=3) as gz:
                lines = _Lines(gz, skip)

                def read_some(wait) -> bool:
                    r, _, _ = select.select([fd], [], [], wait)
                    if not r:
                        return False
                    try:
                        chunk = os.read(fd, 1 << 20)
                    except BlockingIOError:
                        return False
                    if not chunk:                   # EOF (a file, not a pipe)
                        return False
                    lines.write(chunk)
                    return True

                (base / "tracing_on").write_text("1")
                t_end = time.monotonic() + duration
                while stop.signum is None:
                    left = t_end - time.monotonic()
                    if left <= 0:
                        break
                    if not read_some(min(left, 0.2)):
                        time.sleep(min(max(t_end - time.monotonic(), 0), 0.05))
                (base / "tracing_on").write_text("0")
                while read_some(0.2):               # drain what is left in the buffer
                    pass
                nbytes = lines.nbytes
        finally:
            os.close(fd)
        overrun = 0
        stats = base / "per_cpu"
        if stats.exists():
            for cpu in stats.iterdir():
                m = re.search(r"overrun:\s+(\d+)", _read(cpu / "stats") or "")
                if m:
                    overrun += int(m.group(1))
        # the ring buffer pages allocated after the before snapshot: all of a
        # new instance's, or what growing the shared buffer added (per CPU)
        grown_kb = int(buffer_kb) - (0 if inst is not None else had_kb)
        return {"trace": str(path), "bytes": nbytes, "events_enabled": enabled,
                "overrun": overrun, "method": "tracefs",
                "tracefs": str(base), "skipped_old_entries": skip,
                "recorder_buffer_pages": max(grown_kb, 0) * 1024 // PAGE_SIZE * _nr_cpus(base)}
    finally:
        st.restore()
        if inst is not None:
            _remove_instance(inst)
        if st.failed:
            print(f"defragsim: warning: record: could not restore {', '.join(st.failed)}",
                  file=sys.stderr, flush=True)


#: ``perf record -m``: data pages of each per-CPU ring buffer (perf's own
#: default for root where perf_event_mlock_kb is the default 516)
PERF_MMAP_PAGES = 128


def _nr_cpus(base: Path) -> int:
    """The CPUs with a ring buffer (tracefs ``per_cpu/cpu*``), else the online CPUs."""
    per_cpu = base / "per_cpu"
    n = sum(1 for d in per_cpu.iterdir() if d.name.startswith("cpu")) if per_cpu.is_dir() else 0
    return n or (os.cpu_count() or 1)


def _note_recorder_pages(snap: Path, pages: int) -> None:
    """Append ``recorder_buffer_pages`` to ``snap/before.platform``: the pages
    the recorder's ring buffers took after the before snapshot, which a
    replay takes out of the snapshot's free memory
    (replay_ops.recorder_buffer_pages)."""
    plat = snap / "before.platform"
    if plat.exists():
        with open(plat, "a") as f:
            f.write(f"# the recorder's ring buffers, allocated after this snapshot (pages)\n"
                    f"recorder_buffer_pages={int(pages)}\n")


def _tracing_mounts(proc: Path) -> set[str]:
    """Mount points of tracefs and debugfs (from ``proc/self/mounts``)."""
    for p in (proc / "self" / "mounts", proc / "mounts"):
        text = _read(p)
        if text is not None:
            return {f[1] for f in (ln.split() for ln in text.splitlines())
                    if len(f) > 2 and f[2] in ("tracefs", "debugfs")}
    return set()


def _record_perf(out: Path, duration, perf, proc: Path, stop: _Stop) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    data = out / "perf.data"
    path = out / "trace.perf.txt.gz"
    evs = []
    for ev in TRACE_EVENTS:
        evs += ["-e", ev.replace("/", ":") if "/" in ev else f"{ev}:*"]
    mounted = _tracing_mounts(proc)        # perf mounts tracefs itself when it is not
    left_mounted = []
    try:
        if stop.signum is None:
            with open(out / "perf_record.log", "w") as log:
                # its own session: a terminal's Ctrl-C reaches us, and we stop perf
                p = subprocess.Popen([perf, "record", "-q", "-a", "-m", str(PERF_MMAP_PAGES),
                                      "-o", str(data), *evs, "--", "sleep", str(duration)],
                                     stdout=log, stderr=log, start_new_session=True)
                try:
                    while p.poll() is None:
                        if stop.signum is not None:
                            p.send_signal(signal.SIGINT)      # perf writes perf.data and exits
                            try:
                                p.wait(10)
                            except subprocess.TimeoutExpired:
                                p.kill()
                            break
                        try:
                            p.wait(0.2)
                        except subprocess.TimeoutExpired:
                            pass
                finally:
                    if p.poll() is None:
                        p.kill()
                    p.wait()
            if p.returncode != 0 and not (stop.signum is not None and data.exists()):
                err = (_read(out / "perf_record.log") or "").strip()
                raise CaptureError(f"record: perf record failed (exit {p.returncode}): {err[:300]}")
        with gzip.open(path, "wt") as gz:
            if data.exists():
                ps = subprocess.Popen([perf, "script", "-i", str(data)], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True, start_new_session=True)
                for line in ps.stdout:
                    gz.write(line)
                ps.wait()
        data.unlink(missing_ok=True)
        # rb_alloc(): PERF_MMAP_PAGES data pages and a user page per CPU
        return {"trace": str(path), "method": "perf",
                "recorder_buffer_pages": (PERF_MMAP_PAGES + 1) * (os.cpu_count() or 1)}
    finally:
        for mp in sorted(_tracing_mounts(proc) - mounted, key=len, reverse=True):
            r = subprocess.run([shutil.which("umount") or "umount", mp], capture_output=True,
                               text=True)
            if r.returncode != 0:
                left_mounted.append(f"{mp} ({r.stderr.strip()[:100]})")
        if left_mounted:
            print(f"defragsim: warning: record: perf mounted {', '.join(left_mounted)}; "
                  "unmounting it failed", file=sys.stderr, flush=True)
