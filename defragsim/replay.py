"""Replaying a real trace through the model (``defragsim replay``).

Each traced ``mm_page_alloc`` becomes a request with the traced order and gfp
mask; the *model* chooses where it lands.  A traced ``mm_page_free`` is matched
by pfn to the allocation that received that pfn in the trace, and frees the
model page that allocation received.  Frees of pages allocated before the
trace began cannot be matched: they are counted (``frees_before_trace``) and
not replayed.

Initial state: a ``snap/`` folder beside the trace (or ``init_from``) with the
machine's ``before.*`` /proc files sizes the model (MemTotal, min_free_kbytes,
the vm sysctls) and fills it, before the first traced event, with the page
cache, anon and slab amounts of ``before.meminfo``.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import constants as C
from . import gfp as G
from .config import Config, ConfigError
from .trace import EV_ALLOC, ParsedTrace, TraceError, open_text, read_trace
from .workload import Workload, new_op_columns

#: The counters both /proc/vmstat (before/after) and the model have.
COMPARED_VMSTAT = ["pgalloc_dma32", "pgalloc_normal", "pgfree", "allocstall_normal",
                   "allocstall_movable", "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd",
                   "pgsteal_direct", "pageoutrun", "compact_stall", "compact_fail",
                   "compact_success", "compact_migrate_scanned", "compact_free_scanned",
                   "compact_daemon_wake", "pgmigrate_success", "thp_fault_alloc",
                   "thp_fault_fallback", "pswpout", "oom_kill"]


def read_proc_kv(path: Path) -> dict:
    """``key value`` (vmstat), ``key: value kB`` (meminfo) or ``key=value``
    (sysctl) lines into a dict of ints (non-numeric values skipped)."""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if "=" in line and ":" not in line:
                k, _, v = line.partition("=")
            elif ":" in line:
                k, _, v = line.partition(":")
            else:
                k, _, v = line.strip().partition(" ")
            parts = v.split()
            if parts and parts[0].lstrip("-").isdigit():
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
    buddyinfo: str | None = None
    _pti: dict | None = field(default=None, repr=False)

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
        for name, attr in (("before.vmstat", "vmstat_before"), ("after.vmstat", "vmstat_after"),
                           ("before.sysctl", "sysctl")):
            if (d / name).exists():
                setattr(s, attr, read_proc_kv(d / name))
        for name, attr in (("before.pagetypeinfo", "pagetypeinfo"), ("before.buddyinfo", "buddyinfo")):
            if (d / name).exists():
                setattr(s, attr, (d / name).read_text())
        return s

    def pagetypeinfo_table(self) -> dict | None:
        """before.pagetypeinfo parsed (once): see :func:`procfs.parse_pagetypeinfo`."""
        if self.pagetypeinfo is None:
            return None
        if self._pti is None:
            from .procfs import parse_pagetypeinfo
            try:
                self._pti = parse_pagetypeinfo(self.pagetypeinfo,
                                               where=str(self.path / "before.pagetypeinfo"))
            except ValueError as e:
                raise ConfigError(f"init-from: {e}") from None
        return self._pti

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
        from .procfs import zoneinfo_managed
        m = zoneinfo_managed(zi.read_text())
        if "DMA32" not in m:
            return None
        return m["DMA32"] * C.PAGE_SIZE / (self.meminfo["MemTotal"] * 1024)

    def pbmap(self):
        """The kpageflags content map (``before.pbmap.csv.gz``), or None."""
        p = self.path / "before.pbmap.csv.gz"
        if not p.exists():
            return None
        from .plot import load_pbmap
        try:
            return load_pbmap(p)
        except (ValueError, OSError, EOFError) as e:
            raise ConfigError(f"init-from: {p}: {e}") from None

    def config_overrides(self) -> dict:
        kw = {"mem": self.meminfo["MemTotal"] * 1024}
        sc = self.sysctl
        for key in ("min_free_kbytes", "watermark_scale_factor", "watermark_boost_factor",
                    "swappiness", "compaction_proactiveness", "defrag_mode"):
            if key in sc:
                kw[key] = sc[key]
        swap = self.meminfo.get("SwapTotal")
        if swap is not None:
            kw["swap"] = swap * 1024
        return kw


def find_snapshot(trace_path) -> Path | None:
    """``snap/`` beside the trace (the shared/traces layout)."""
    d = Path(trace_path).resolve().parent / "snap"
    return d if (d / "before.meminfo").exists() else None


def content_of(gfp: int) -> int:
    """What a traced allocation holds, from its gfp mask.

    MODEL: a trace says nothing of content; movable + __GFP_ZERO is anon (fault
    paths zero), other movable is page cache, reclaimable is reclaimable slab,
    unmovable with __GFP_COMP is slab, other unmovable is kernel memory."""
    # MODEL: content inferred from the gfp mask (see the docstring)
    mt = G.gfp_migratetype(gfp)
    if mt == C.MIGRATE_MOVABLE:
        return C.KIND_ANON if gfp & G.__GFP_ZERO else C.KIND_FILE
    if mt == C.MIGRATE_RECLAIMABLE:
        return C.KIND_SLAB_RECLAIMABLE
    return C.KIND_SLAB_UNRECLAIMABLE if gfp & G.__GFP_COMP else C.KIND_KERNEL


@dataclass
class ReplayStats:
    allocations: int = 0
    failed_in_trace: int = 0
    frees_matched: int = 0
    frees_before_trace: int = 0
    frees_order_mismatch: int = 0
    implicit_frees: int = 0
    prefill_pages: dict = field(default_factory=dict)
    prefill_ops: int = 0
    hole_pages: int = 0
    spacer_pages: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def initial_block_types(snapshot: Snapshot, zone_spans, nr_pages: int, pageblock_order: int):
    """Per-pageblock migratetypes at the start, from the snapshot's
    ``Number of blocks type`` table, scaled to the model's zone sizes.

    MODEL: the machine's proportions of Unmovable and Reclaimable blocks per
    zone are reproduced in MAX_PAGE_ORDER units (two pageblocks, so boot-time
    free chunks stay within one type).  Their positions follow the machine's
    kpageflags content map when the snapshot has one (the units whose blocks
    hold the most slab, at the same relative position in the zone), else they
    are drawn (seeded).  HighAtomic and Isolate blocks start as Movable (the
    model keeps the highatomic reserve's accounting itself)."""
    zb = snapshot.zone_blocks()
    if not zb:
        return None
    # MODEL: proportions (and slab-rich positions when kpageflags was read);
    # HighAtomic/Isolate start Movable
    unit = 1 << (C.MAX_PAGE_ORDER - pageblock_order)
    bt = np.full(nr_pages >> pageblock_order, C.MIGRATE_MOVABLE, np.uint8)
    rng = np.random.default_rng(0)
    pbmap = snapshot.pbmap()
    for z, (s, e) in enumerate(zone_spans):
        name = C.ZONE_NAMES[z]
        if e <= s or name not in zb:
            continue
        real = zb[name]
        total = sum(real.values())
        if total == 0:
            continue
        b0, b1 = s >> pageblock_order, e >> pageblock_order
        units = np.arange(b0, b1 - unit + 1, unit)
        rng.shuffle(units)
        if pbmap is not None:
            slab = pbmap.loc[pbmap["zone"] == name, "slab"].to_numpy()
            if len(slab) and len(units):
                # each model unit takes the slab pages of the machine's blocks at
                # the same relative position; richest first (ties: the shuffle)
                rel = (units - b0) / max(b1 - b0, 1)
                score = slab[np.minimum((rel * len(slab)).astype(np.int64), len(slab) - 1)]
                units = units[np.argsort(-score, kind="stable")]
        n_u = int(round(real.get("Unmovable", 0) / total * len(units)))
        n_r = int(round(real.get("Reclaimable", 0) / total * len(units)))
        chosen = units[:n_u + n_r]
        # interleave the two types over the chosen units in proportion
        kinds = np.array([C.MIGRATE_UNMOVABLE] * n_u + [C.MIGRATE_RECLAIMABLE] * n_r, np.uint8)
        rng.shuffle(kinds)
        for u, mt in zip(chosen.tolist(), kinds.tolist()):
            bt[u:u + unit] = mt
    return bt

_HOLE_GFP = {C.MIGRATE_UNMOVABLE: G.parse_gfp("GFP_KERNEL"),
             C.MIGRATE_MOVABLE: G.parse_gfp("GFP_HIGHUSER_MOVABLE"),
             C.MIGRATE_RECLAIMABLE: G.parse_gfp("GFP_KERNEL|__GFP_RECLAIMABLE")}
_HOLE_CONTENT = {C.MIGRATE_UNMOVABLE: C.KIND_KERNEL, C.MIGRATE_MOVABLE: C.KIND_FILE,
                 C.MIGRATE_RECLAIMABLE: C.KIND_SLAB_RECLAIMABLE}


def free_chunk_targets(snapshot: Snapshot, zone_spans, pageblock_order: int,
                       free_pages: int) -> list:
    """(zone, migratetype, order, count) of the free chunks to reproduce: the
    snapshot's ``Free pages count per migrate type at order`` table, scaled so
    that they hold ``free_pages`` pages in all, largest first.

    MODEL: HighAtomic/Isolate free chunks are taken as Movable; positions are
    the model allocator's, not the machine's."""
    pti = snapshot.pagetypeinfo_table()
    if pti is None:
        return []
    out = []
    raw = sum(n << o for z in pti.values() for counts in z["free"].values()
              for o, n in enumerate(counts))
    ratio = free_pages / raw if raw else 0.0
    for z, (s, e) in enumerate(zone_spans):
        name = C.ZONE_NAMES[z]
        if e <= s or name not in pti:
            continue
        for tname, counts in pti[name]["free"].items():
            mt = {"Unmovable": C.MIGRATE_UNMOVABLE, "Reclaimable": C.MIGRATE_RECLAIMABLE}.get(
                tname, C.MIGRATE_MOVABLE)
            for order, n in enumerate(counts):
                k = int(round(n * ratio))
                if k:
                    out.append((z, mt, order, k))
    out.sort(key=lambda x: -x[2])
    return out


def trace_workload(tr: ParsedTrace, *, nr_cpus: int, nr_pages: int, snapshot: Snapshot | None,
                   duration: float | None = None, zone_spans=None,
                   pageblock_order: int = C.PAGEBLOCK_ORDER_DEFAULT) -> tuple[Workload, ReplayStats]:
    """The op stream of a parsed trace (plus the snapshot's prefill at t=0;
    with ``zone_spans``, the snapshot's pageblock-type proportions too)."""
    st = ReplayStats()
    st.prefill_ops = 0
    t_list, kind_l, order_l, gfp_l, h_l, cpu_l, content_l = ([] for _ in range(7))
    owner_kind = [C.OWNER_KERNEL, C.OWNER_FILE]
    owner_names = ["kernel", "page cache"]
    h_owner: list[int] = []
    task_owner: dict[int, int] = {}

    def owner_for(content, pid):
        if content == C.KIND_ANON:
            o = task_owner.get(pid)
            if o is None:
                o = task_owner[pid] = len(owner_kind)
                owner_kind.append(C.OWNER_TASK)
                owner_names.append(tr.comm.get(pid, f"pid {pid}"))
            return o
        return 1 if content == C.KIND_FILE else 0

    def op(t, k, order, gfp, h, cpu, content):
        t_list.append(t); kind_l.append(k); order_l.append(order); gfp_l.append(gfp)  # noqa: E702
        h_l.append(h); cpu_l.append(cpu); content_l.append(content)  # noqa: E702

    # --- prefill: the machine's memory contents at the start of the trace ------------
    if snapshot is not None:
        mi = snapshot.meminfo
        pages = lambda key: mi.get(key, 0) * 1024 // C.PAGE_SIZE  # noqa: E731
        # slab and page tables first: they settle into the snapshot's
        # non-movable blocks before page cache and anon fill the rest
        fill = {
            C.KIND_SLAB_RECLAIMABLE: (pages("SReclaimable"), 0,
                                      G.parse_gfp("GFP_KERNEL|__GFP_RECLAIMABLE")),
            C.KIND_SLAB_UNRECLAIMABLE: (pages("SUnreclaim") + pages("KernelStack"), 0,
                                        G.parse_gfp("GFP_KERNEL")),
            C.KIND_PAGETABLE: (pages("PageTables"), 0, G.parse_gfp("GFP_KERNEL_ACCOUNT")),
            C.KIND_ANON: (pages("AnonPages") + pages("Shmem"), 0,
                          G.parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_ZERO")),
            # MODEL: pre-trace page cache as order-9 readahead folios (the shared
            # traces' machine was filled by a sequential read), anon and slab order 0
            C.KIND_FILE: (pages("Cached") + pages("Buffers") - pages("Shmem"), 9,
                          G.parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP")),
        }
        # MODEL: a model smaller or larger than the traced machine gets the same
        # proportions of page cache, anon and slab
        scale = nr_pages / max(pages("MemTotal"), 1)
        budget = nr_pages - int(pages("MemFree") * scale)
        # free chunks as the machine had them: each becomes a placeholder
        # allocation paired with its buddy (a "spacer" of the same order and
        # type that stays allocated as page cache or slab); the placeholders are
        # freed after the fill, so they cannot merge.
        holes = free_chunk_targets(snapshot, zone_spans, pageblock_order,
                                   int(pages("MemFree") * scale)) \
            if zone_spans is not None else []
        placeholders = []
        # spacers are used memory: at most half of it, so the meminfo amounts
        # stay close; MAX_PAGE_ORDER chunks need no shaping (nothing to merge
        # with): the memory left free at the end forms them
        spacer_budget = budget // 2
        for z, mt, order, count in holes:
            if order >= C.MAX_PAGE_ORDER:
                continue
            gfp = _HOLE_GFP[mt] | (G.__GFP_DMA32 if C.ZONE_NAMES[z] == "DMA32" else 0)
            content = _HOLE_CONTENT[mt]
            for _ in range(count):
                if spacer_budget < (1 << order) or budget < (2 << order):
                    break
                spacer_budget -= 1 << order
                for keep in (False, True):
                    h = len(h_owner)
                    h_owner.append(1 if content == C.KIND_FILE else 0)
                    op(0, C.OP_ALLOC, order, gfp, h, 0, content)
                    if keep:
                        budget -= 1 << order      # the spacer is used memory
                        st.spacer_pages += 1 << order
                    else:
                        placeholders.append((h, order, gfp, content))
        pre_owner = None
        for content, (n, order, gfp) in fill.items():
            n = max(0, min(int(n * scale), budget)) >> order
            budget -= n << order
            st.prefill_pages[C.KIND_NAMES[content]] = n << order
            if content == C.KIND_ANON:
                if pre_owner is None:
                    pre_owner = len(owner_kind)
                    owner_kind.append(C.OWNER_TASK)
                    owner_names.append("pre-trace tasks")
                o = pre_owner
            else:
                o = 1 if content == C.KIND_FILE else 0
            for i in range(n):
                h = len(h_owner)
                h_owner.append(o)
                op(0, C.OP_ALLOC, order, gfp, h, i % nr_cpus, content)
        for h, order, gfp, content in placeholders:
            op(0, C.OP_FREE, order, gfp, h, 0, content)
        st.hole_pages = sum(1 << o for _, o, _, _ in placeholders)

    st.prefill_ops = len(t_list)
    init_bt = None
    if snapshot is not None and zone_spans is not None:
        init_bt = initial_block_types(snapshot, zone_spans, nr_pages, pageblock_order)

    # --- the trace ----------------------------------------------------------------------
    # MODEL: frees of pages allocated before the trace are counted, not replayed
    # (the model's own reclaim frees its prefilled page cache); a request that
    # failed in the kernel is replayed and given back at once if the model serves it
    from ._traceparse import trace_ops
    ev = tr.ev
    is_a = ev == EV_ALLOC
    content = np.zeros(len(tr), np.uint8)
    for g in np.unique(tr.gfp[is_a]).tolist():
        content[is_a & (tr.gfp == g)] = content_of(int(g))
    owner = np.where(content == C.KIND_FILE, 1, 0).astype(np.int32)
    anon = is_a & (content == C.KIND_ANON)
    for p_ in np.unique(tr.pid[anon]).tolist():
        owner[anon & (tr.pid == p_)] = owner_for(C.KIND_ANON, int(p_))
    cpu = (tr.pid.astype(np.int64) % nr_cpus).astype(np.int32)
    n_ev = len(tr)
    cap = 2 * n_ev
    o_t, o_kind, o_order, o_gfp, o_h, o_cpu, o_content = new_op_columns(cap)
    h_tr = np.empty(int(is_a.sum()), np.int32)
    top = int(tr.pfn.max()) + 1 if n_ev else 1
    live_h = np.full(max(top, 1), -1, np.int32)
    live_o = np.zeros(max(top, 1), np.int8)
    stats = np.zeros(6, np.int64)
    end_ns = int(duration * 1e9) if duration is not None else -1
    h0 = len(h_owner)
    n_ops, h_end = trace_ops(tr.t_ns, ev, tr.pfn, tr.order, tr.gfp, content, owner, cpu, end_ns,
                             0, live_h, live_o, o_t, o_kind, o_order, o_gfp, o_h, o_cpu,
                             o_content, h_tr, stats)
    o_h[:n_ops] += h0
    st.allocations, st.failed_in_trace, st.frees_matched, st.frees_before_trace, \
        st.frees_order_mismatch, st.implicit_frees = (int(x) for x in stats)
    t_all = np.concatenate([np.asarray(t_list, np.int64), o_t[:n_ops]])
    if len(t_all) == 0:
        raise TraceError(f"{tr.path}: nothing to replay")
    end_ns = end_ns if end_ns >= 0 else None
    dur = int(t_all[-1]) + 1_000_000
    if end_ns is not None:
        dur = max(dur, end_ns)
    h_owner_all = np.concatenate([np.asarray(h_owner, np.int32), h_tr[:h_end]])
    wl = Workload(
        name=Path(tr.path).parent.name + "/" + Path(tr.path).name,
        t=t_all, kind=np.concatenate([np.asarray(kind_l, np.int8), o_kind[:n_ops]]),
        order=np.concatenate([np.asarray(order_l, np.int8), o_order[:n_ops]]),
        gfp=np.concatenate([np.asarray(gfp_l, np.int64), o_gfp[:n_ops]]),
        handle=np.concatenate([np.asarray(h_l, np.int32), o_h[:n_ops]]),
        cpu=np.concatenate([np.asarray(cpu_l, np.int32), o_cpu[:n_ops]]),
        content=np.concatenate([np.asarray(content_l, np.uint8), o_content[:n_ops]]),
        nr_handles=len(h_owner_all), duration_ns=dur,
        description=f"replay of {tr.path}", handle_owner=h_owner_all,
        owner_kind=np.asarray(owner_kind, np.uint8), owner_names=owner_names)
    if init_bt is not None:
        wl.meta["initial_block_mt"] = init_bt
    return wl, st



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


@dataclass
class Replay:
    trace: ParsedTrace
    stats: ReplayStats
    result: object
    snapshot: Snapshot | None
    other_events: Counter | None

    def observed_vs_model(self) -> str:
        """A plain-text table: what the kernel recorded beside what the model did."""
        r, tr = self.result, self.trace
        s = tr.summary()
        # events other than page events: from other_events.csv beside a CSV
        # trace, or from the text trace itself; "-" when the trace has none
        recorded = self.other_events is not None or bool(s["other_events"])
        ev = Counter(self.other_events or {})
        ev.update(s["other_events"])
        # the model's numbers from the first traced event on (not the prefill)
        ef = r.extfrag[r.extfrag.t > 0]
        pairs_m = Counter(f"{C.MIGRATETYPE_KEYS[a]}->{C.MIGRATETYPE_KEYS[b]}" for a, b in
                          zip(ef.alloc_migratetype, ef.fallback_migratetype))
        mex = {"events": len(ef), "change_ownership": int(ef.change_ownership.sum()),
               "fragmenting": int(ef.fragmenting.sum()), "pairs": pairs_m}
        ce = r.compaction_events
        cev = ce[ce.t > 0].event.value_counts() if len(ce) else {}
        base = r.meta.get("baseline_vmstat") or {}
        vm = {k: v - base.get(k, 0) for k, v in r.vmstat.items()}
        rows = [
            ("allocations (requests)", s["allocations"], self.stats.allocations),
            ("failed allocations", s["failed_allocations"], r.diagnostics["alloc_failed_total"]),
            ("extfrag events", s["extfrag_events"], mex["events"]),
            ("extfrag change_ownership", s["extfrag_change_ownership"], mex["change_ownership"]),
            ("extfrag fallback_order < pageblock", s["extfrag_fragmenting"], mex["fragmenting"]),
        ]
        pairs = sorted(set(s["extfrag_pairs"]) | {
            f"{C.MIGRATETYPE_KEYS.index(a.split('->')[0])}->{C.MIGRATETYPE_KEYS.index(a.split('->')[1])}"
            for a in mex["pairs"]})
        for pr in pairs:
            a, b = (int(x) for x in pr.split("->"))
            name = f"{C.MIGRATETYPE_KEYS[a]}->{C.MIGRATETYPE_KEYS[b]}"
            rows.append((f"extfrag {name}", s["extfrag_pairs"].get(pr, 0), mex["pairs"].get(name, 0)))
        for tp in ("mm_compaction_begin", "mm_compaction_try_to_compact_pages",
                   "mm_compaction_deferred", "mm_compaction_kcompactd_wake",
                   "mm_compaction_wakeup_kcompactd"):
            rows.append((tp, ev.get(tp, 0) if recorded else "-", int(cev.get(tp, 0))))
        rows.append(("mm_vmscan_direct_reclaim_begin", ev.get("mm_vmscan_direct_reclaim_begin", 0)
                     if recorded else "-", vm.get("allocstall_normal", 0)
                     + vm.get("allocstall_movable", 0) + vm.get("allocstall_dma32", 0)))
        rows.append(("mm_vmscan_kswapd_wake", ev.get("mm_vmscan_kswapd_wake", 0) if recorded else "-",
                     vm.get("pageoutrun", 0)))
        if self.snapshot is not None and self.snapshot.vmstat_after:
            b, a = self.snapshot.vmstat_before, self.snapshot.vmstat_after
            for k in COMPARED_VMSTAT:
                if k in a and k in b and k in vm:
                    rows.append((f"vmstat {k} (delta)", a[k] - b[k], vm[k]))
        w0 = max(len(x[0]) for x in rows) + 2
        out = [f"observed in the kernel vs model: {tr.path} ({tr.format}, {tr.duration_s:.1f} s, "
               f"{len(tr):,} page events)", "",
               f"{'':<{w0}}{'kernel':>14}{'model':>14}"]
        for name, k, m in rows:
            ks = f"{k:,}" if isinstance(k, int) else str(k)
            out.append(f"{name:<{w0}}{ks:>14}{m:>14,}")
        st = self.stats
        out += ["", f"frees matched {st.frees_matched:,}; frees of pages allocated before the trace "
                f"{st.frees_before_trace:,} (not replayed); frees with another order than the "
                f"allocation {st.frees_order_mismatch:,}; re-allocations of a live pfn (free not "
                f"traced) {st.implicit_frees:,}; allocations that failed in the kernel "
                f"{st.failed_in_trace:,}"]
        if st.prefill_pages:
            out.append("initial state (from the snapshot's before.meminfo, pages): "
                       + ", ".join(f"{k} {v:,}" for k, v in st.prefill_pages.items())
                       + f"; free chunks shaped after pagetypeinfo: {st.hole_pages:,} pages "
                       f"(their buddies, kept as page cache/slab: {st.spacer_pages:,})")
        zb = self.snapshot.zone_blocks() if self.snapshot is not None else None
        if zb:
            snap0 = r.snapshots[0]
            pbo = r.pageblock_order
            out.append("pageblocks at the start, machine -> model (after the prefill):")
            for z, (zs, ze) in enumerate(r.zone_spans):
                name = C.ZONE_NAMES[z]
                if ze <= zs or name not in zb:
                    continue
                cnt = np.bincount(snap0.migratetype[zs >> pbo:ze >> pbo], minlength=C.MIGRATE_TYPES)
                cells = [f"{t} {zb[name].get(t, 0):,} -> {int(cnt[C.MIGRATETYPE_NAMES.index(t)]):,}"
                         for t in ("Unmovable", "Movable", "Reclaimable", "HighAtomic")]
                out.append(f"  {name}: " + ", ".join(cells))
        if self.snapshot is not None and self.snapshot.buddyinfo:
            out.append("free chunks by order at the start, machine (buddyinfo) / model:")
            snap0 = r.snapshots[0]
            for line in self.snapshot.buddyinfo.splitlines():
                parts = line.split()
                if len(parts) < 5 or parts[0] != "Node":
                    continue
                zname = parts[3]
                if zname not in C.ZONE_NAMES:
                    continue
                z = C.ZONE_NAMES.index(zname)
                mach = [int(x) for x in parts[4:]]
                model = snap0.nr_free_mt[z].sum(axis=1).tolist()
                out.append(f"  {zname:<7} " + " ".join(f"{a}/{b}" for a, b in zip(mach, model)))
        if tr.unknown_gfp:
            out.append("unknown gfp flags (ignored): "
                       + ", ".join(f"{k} x{v}" for k, v in tr.unknown_gfp.most_common()))
        if tr.bad_lines:
            out.append(f"bad lines skipped: {tr.bad_lines:,}")
        return "\n".join(out) + "\n"


def replay(trace_path, config: Config | None = None, *, fmt=None, comm=None, skip_bad_lines=False,
           init_from=None, init="auto", duration=None, config_overrides: dict | None = None,
           progress=False) -> Replay:
    """Parse ``trace_path`` and run it through the model.

    ``init``: ``"auto"`` uses ``init_from`` or a ``snap/`` folder beside the
    trace when there is one, ``"empty"`` starts from an empty machine.
    ``config``: a full Config; otherwise one is built from the snapshot
    (MemTotal, sysctls) updated with ``config_overrides``.
    """
    from .sim import run

    if init not in ("auto", "empty"):
        raise ConfigError(f"replay: init must be 'auto' or 'empty', got {init!r}")
    if duration is not None and not (duration > 0 and math.isfinite(duration)):
        raise ConfigError(f"replay: duration must be a positive number of seconds, got {duration}")
    snap = None
    if init == "auto":
        d = init_from or find_snapshot(trace_path)
        if d is not None:
            snap = Snapshot.load(d)        # before parsing: a bad folder fails fast
    tr = read_trace(trace_path, fmt=fmt, comm=comm, skip_bad_lines=skip_bad_lines)
    if config is None:
        kw = {}
        if snap is not None:
            kw.update(snap.config_overrides())
        else:
            top = int(tr.pfn.max()) + 1 if len(tr) else 0
            kw["mem"] = max(top * C.PAGE_SIZE, 256 << 20)
        kw.update(config_overrides or {})
        if isinstance(kw.get("mem"), int):
            unit = C.PAGE_SIZE << C.MAX_PAGE_ORDER
            kw["mem"] -= kw["mem"] % unit
        if snap is not None and "dma32" not in kw:
            frac = snap.dma32_fraction()
            if frac is not None:
                # DMA32 as large a share of memory as on the machine
                from .config import parse_size
                unit = C.PAGE_SIZE << C.MAX_PAGE_ORDER
                d = int(parse_size(kw["mem"], name="mem") * frac)
                kw["dma32"] = d - d % unit
        config = Config(**kw)
    wl, st = trace_workload(tr, nr_cpus=config.nr_cpus, nr_pages=config.nr_pages, snapshot=snap,
                            duration=duration, zone_spans=config.zone_spans(),
                            pageblock_order=config.pageblock_order)
    res = run(wl, config, progress=progress, baseline_ops=st.prefill_ops)
    return Replay(trace=tr, stats=st, result=res, snapshot=snap,
                  other_events=other_event_counts(trace_path) if tr.format == "csv" else None)
