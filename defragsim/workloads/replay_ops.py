"""A parsed trace (and the snapshot it starts from) as a :class:`Workload`.

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

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import constants as C
from .. import gfp as G
from ..errors import TraceError
from ._traceparse import trace_ops
from .ops import OP_DTYPES, Workload, new_op_columns
from .snapshot import Snapshot
from .trace import EV_ALLOC, ParsedTrace

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


class _ReplayOps:
    """The ops of a replay before the traced ones (the prefill, one Python
    append per op), the owner of every handle, and the owners: the kernel
    (0), the page cache (1), then tasks."""

    KERNEL, PAGE_CACHE = 0, 1

    def __init__(self, comm: dict):
        self.cols = tuple([] for _ in range(7))    # t, kind, order, gfp, handle, cpu, content
        self.h_owner: list[int] = []
        self.owner_kind = [C.OWNER_KERNEL, C.OWNER_FILE]
        self.owner_names = ["kernel", "page cache"]
        self._comm = comm
        self._task_owner: dict[int, int] = {}

    def new_owner(self, kind: int, name: str) -> int:
        self.owner_kind.append(kind)
        self.owner_names.append(name)
        return len(self.owner_kind) - 1

    def task_owner(self, pid: int) -> int:
        """The owner of a traced task's anon memory (one per pid)."""
        o = self._task_owner.get(pid)
        if o is None:
            o = self._task_owner[pid] = self.new_owner(C.OWNER_TASK, self._comm.get(pid, f"pid {pid}"))
        return o

    def op(self, t, k, order, gfp, h, cpu, content) -> None:
        for col, v in zip(self.cols, (t, k, order, gfp, h, cpu, content)):
            col.append(v)

    def alloc(self, order, gfp, owner, cpu, content) -> int:
        """An allocation at t=0 on a new handle of ``owner``; returns the handle."""
        h = len(self.h_owner)
        self.h_owner.append(owner)
        self.op(0, C.OP_ALLOC, order, gfp, h, cpu, content)
        return h

    def __len__(self) -> int:
        return len(self.cols[0])


def _meminfo_pages(mi: dict, key: str) -> int:
    return mi.get(key, 0) * 1024 // C.PAGE_SIZE


def _prefill_amounts(mi: dict) -> dict:
    """``{content: (pages, order, gfp)}`` of the snapshot's memory, in fill
    order: slab and page tables first, so that they settle into the
    snapshot's non-movable blocks before page cache and anon fill the rest."""
    pages = lambda key: _meminfo_pages(mi, key)  # noqa: E731
    return {
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


def _prefill(ro: _ReplayOps, st: ReplayStats, snapshot: Snapshot, nr_pages: int, nr_cpus: int,
             zone_spans, pageblock_order: int) -> None:
    """The machine's memory contents at the start of the trace, as
    allocations at t=0: the free chunks' shapes, then slab, page tables, anon
    and page cache in the snapshot's proportions.  They are placed without
    watermarks (CONTENT_PREFILL: page_alloc.alloc_pages_prefill), so each
    zone fills down to the free memory the snapshot shows."""
    mi = snapshot.meminfo
    # MODEL: a model smaller or larger than the traced machine gets the same
    # proportions of page cache, anon and slab
    scale = nr_pages / max(_meminfo_pages(mi, "MemTotal"), 1)
    free_pages = int(_meminfo_pages(mi, "MemFree") * scale)
    budget = nr_pages - free_pages
    holes = free_chunk_targets(snapshot, zone_spans, pageblock_order, free_pages) \
        if zone_spans is not None else []
    placeholders, budget = _prefill_holes(ro, st, holes, budget)
    pre_owner = None
    for content, (n, order, gfp) in _prefill_amounts(mi).items():
        n = max(0, min(int(n * scale), budget)) >> order
        budget -= n << order
        st.prefill_pages[C.KIND_NAMES[content]] = n << order
        if content == C.KIND_ANON:
            if pre_owner is None:
                pre_owner = ro.new_owner(C.OWNER_TASK, "pre-trace tasks")
            o = pre_owner
        else:
            o = ro.PAGE_CACHE if content == C.KIND_FILE else ro.KERNEL
        for i in range(n):
            ro.alloc(order, gfp, o, i % nr_cpus, content | C.CONTENT_PREFILL)
    for h, order, gfp, content in placeholders:
        ro.op(0, C.OP_FREE, order, gfp, h, 0, content)
    st.hole_pages = sum(1 << o for _, o, _, _ in placeholders)


def _prefill_holes(ro: _ReplayOps, st: ReplayStats, holes: list, budget: int) -> tuple:
    """Free chunks as the machine had them: each becomes a placeholder
    allocation paired with its buddy (a "spacer" of the same order and type
    that stays allocated as page cache or slab); the placeholders are freed
    after the fill, so they cannot merge.  Returns (placeholders, budget left)."""
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
        owner = ro.PAGE_CACHE if content == C.KIND_FILE else ro.KERNEL
        for _ in range(count):
            if spacer_budget < (1 << order) or budget < (2 << order):
                break
            spacer_budget -= 1 << order
            pre = content | C.CONTENT_PREFILL
            placeholders.append((ro.alloc(order, gfp, owner, 0, pre), order, gfp, content))
            ro.alloc(order, gfp, owner, 0, pre)        # the spacer: used memory
            budget -= 1 << order
            st.spacer_pages += 1 << order
    return placeholders, budget


def trace_workload(tr: ParsedTrace, *, nr_cpus: int, nr_pages: int, snapshot: Snapshot | None,
                   duration: float | None = None, zone_spans=None,
                   pageblock_order: int = C.PAGEBLOCK_ORDER_DEFAULT) -> tuple[Workload, ReplayStats]:
    """The op stream of a parsed trace (plus the snapshot's prefill at t=0;
    with ``zone_spans``, the snapshot's pageblock-type proportions too)."""
    st = ReplayStats()
    ro = _ReplayOps(tr.comm)
    if snapshot is not None:
        _prefill(ro, st, snapshot, nr_pages, nr_cpus, zone_spans, pageblock_order)
    st.prefill_ops = len(ro)
    init_bt = None
    if snapshot is not None and zone_spans is not None:
        init_bt = initial_block_types(snapshot, zone_spans, nr_pages, pageblock_order)
    end_ns = int(duration * 1e9) if duration is not None else -1
    traced, h_owner_tr = _trace_ops(ro, st, tr, nr_cpus, end_ns)
    pre = (np.asarray(c, d) for c, d in zip(ro.cols, OP_DTYPES))
    t_all, kind, order, gfp, handle, cpu, content = (np.concatenate([a, b]) for a, b in zip(pre, traced))
    if len(t_all) == 0:
        raise TraceError(f"{tr.path}: nothing to replay")
    dur = int(t_all[-1]) + 1_000_000
    if end_ns >= 0:
        dur = max(dur, end_ns)
    h_owner_all = np.concatenate([np.asarray(ro.h_owner, np.int32), h_owner_tr])
    wl = Workload(
        name=Path(tr.path).parent.name + "/" + Path(tr.path).name,
        t=t_all, kind=kind, order=order, gfp=gfp, handle=handle, cpu=cpu, content=content,
        nr_handles=len(h_owner_all), duration_ns=dur,
        description=f"replay of {tr.path}", handle_owner=h_owner_all,
        owner_kind=np.asarray(ro.owner_kind, np.uint8), owner_names=ro.owner_names)
    if init_bt is not None:
        wl.meta["initial_block_mt"] = init_bt
    return wl, st


def _trace_ops(ro: _ReplayOps, st: ReplayStats, tr: ParsedTrace, nr_cpus: int,
               end_ns: int) -> tuple:
    """The traced page events as ops (after the ``ro`` ops, up to ``end_ns``
    or all with -1): (op columns, owner of each new handle).

    MODEL: frees of pages allocated before the trace are counted, not
    replayed (the model's own reclaim frees its prefilled page cache); a
    request that failed in the kernel is replayed and given back at once if
    the model serves it."""
    ev = tr.ev
    is_a = ev == EV_ALLOC
    content = np.zeros(len(tr), np.uint8)
    # each distinct gfp mask, and each task's pid, looked up once (in sorted
    # order: task owners are numbered in the order of their pids)
    rows = np.flatnonzero(is_a)
    masks, which = np.unique(tr.gfp[rows], return_inverse=True)
    content[rows] = np.array([content_of(int(g)) for g in masks.tolist()], np.uint8)[which]
    owner = np.where(content == C.KIND_FILE, ro.PAGE_CACHE, ro.KERNEL).astype(np.int32)
    rows = np.flatnonzero(is_a & (content == C.KIND_ANON))
    pids, which = np.unique(tr.pid[rows], return_inverse=True)
    owner[rows] = np.array([ro.task_owner(int(p_)) for p_ in pids.tolist()], np.int32)[which]
    cpu = (tr.pid.astype(np.int64) % nr_cpus).astype(np.int32)
    n_ev = len(tr)
    cols = new_op_columns(2 * n_ev)
    h_owner = np.empty(int(is_a.sum()), np.int32)
    top = int(tr.pfn.max()) + 1 if n_ev else 1
    live_h = np.full(max(top, 1), -1, np.int32)
    live_o = np.zeros(max(top, 1), np.int8)
    stats = np.zeros(6, np.int64)
    n_ops, h_end = trace_ops(tr.t_ns, ev, tr.pfn, tr.order, tr.gfp, content, owner, cpu, end_ns,
                             0, live_h, live_o, *cols, h_owner, stats)
    cols[4][:n_ops] += len(ro.h_owner)              # after the prefill's handles
    st.allocations, st.failed_in_trace, st.frees_matched, st.frees_before_trace, \
        st.frees_order_mismatch, st.implicit_frees = (int(x) for x in stats)
    return tuple(c[:n_ops] for c in cols), h_owner[:h_end]
