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

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import constants as C
from .. import gfp as G
from ..errors import ConfigError, TraceError
from ._traceparse import place_first_come, readahead_marks, trace_ops
from .ops import OP_DTYPES, Workload, new_op_columns
from .snapshot import Snapshot
from .stream import Chunk, OpStream, _prefetched
from .trace import (CHUNK_BYTES, EV_ALLOC, EV_FREE, KERNEL_ZONE_IDX, ParsedTrace, TraceLimits,
                    add_page_totals, compaction_defer_states, compaction_passes,
                    compaction_start_positions,
                    direct_reclaim_windows, fast_chunks, kcompactd_first_timeout,
                    kcompactd_pending_request, memcg_walk,
                    new_page_totals, start_window)
from .untraced import SlabFlows, schedule, untraced_reclaimable

#: the replay's ``meta`` key that turns off the shrinker's freeing of
#: page-level slab pages (``Params.shrink_page_slab``): in the kernel a
#: shrinker frees objects, and the slab pages they empty are freed by RCU
#: callbacks (``kmem_cache_free`` from ``__put_partials``) in whatever task
#: then runs, so the trace's frees, which the replay replays, already hold
#: them (over b-g the kernel's kswapd freed 0-46 order-0 to 3 pages in the
#: pageblocks the trace's reclaimable slab dominates, the tasks 11-32k)
#:
#: The same key says the ops are the traced kernel's own page events in
#: another way too: each allocation op is one attempt the kernel made
#: (``mm_page_alloc``), so a THP fault's two attempts, alloc_pages_mpol()'s
#: local-node one (``__GFP_THISNODE``) and the one after it, are ops of their
#: own: the model makes no second attempt, and no base-page fallback after a
#: failed local-node op (``Params.thp_fault_mpol`` 0)
SLAB_PAGES_FREED_BY_TRACE = "slab_pages_freed_by_workload"
#: a replay's meta key: its free chunks start reported (free page reporting)
INITIAL_FREE_REPORTED = "initial_free_reported"


def content_of(gfp: int) -> int:
    """What a traced allocation holds, from its gfp mask.

    MODEL: a trace says nothing of content; movable + __GFP_ZERO is anon (fault
    paths zero), and so is a movable compound folio with __GFP_NOMEMALLOC (a
    THP or mTHP fault: vma_thp_gfp_mask() is GFP_TRANSHUGE(_LIGHT), which has
    __GFP_NOMEMALLOC and no __GFP_ZERO, the folio is zeroed after), other
    movable is page cache, reclaimable is reclaimable slab, unmovable with
    __GFP_COMP is slab, other unmovable is kernel memory."""
    # MODEL: content inferred from the gfp mask (see the docstring)
    mt = G.gfp_migratetype(gfp)
    if mt == C.MIGRATE_MOVABLE:
        thp = (gfp & (G.__GFP_NOMEMALLOC | G.__GFP_COMP)) == G.__GFP_NOMEMALLOC | G.__GFP_COMP
        return C.KIND_ANON if gfp & G.__GFP_ZERO or thp else C.KIND_FILE
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
    #: frees by kswapd / kcompactd, not replayed (the model reclaims and compacts itself)
    frees_by_reclaim: int = 0
    #: frees by a task inside its direct reclaim, not replayed (the model's direct reclaim)
    frees_in_direct_reclaim: int = 0
    #: readahead windows that found every slot held by another open window
    #: (constants.NR_RA_SLOTS; they share one: the windows' outcomes may mix)
    readahead_slot_collisions: int = 0
    prefill_pages: dict = field(default_factory=dict)
    prefill_ops: int = 0
    hole_pages: int = 0
    spacer_pages: int = 0
    #: of hole_pages, the free chunks that are pieces placing left (no spacer)
    hole_pages_placed: int = 0
    #: the allocated pages of the buddy chains that keep the other free chunks apart
    chain_pages: int = 0
    #: {zone: pages} memblock reserved at boot (reserved_targets)
    reserved_pages: dict = field(default_factory=dict)
    #: folios the trace frees before allocating them, those placed at the
    #: machine's pfns, and their pages
    pretrace_folios: int = 0
    pretrace_placed: int = 0
    pretrace_placed_pages: int = 0
    #: pages of the placed folios a task frees in the trace (not reclaim),
    #: started on the active list (replay_ops.place_pretrace)
    pretrace_active_pages: int = 0
    #: pages of the placed pre-trace folios held as reclaimable slab that a
    #: task (not reclaim) frees in the trace: frees the replay replays
    pretrace_slab_task_pages: int = 0
    #: the pieces placing left in the pageblocks it used in part, held as the
    #: neighbours' content (replay_ops._gap_pieces), in pages
    gap_pages: int = 0
    #: compaction's skip bits at the start (initial_skip_blocks): per model
    #: zone name, (pageblocks marked, pfns the trace's first pass there
    #: crossed, pages it scanned)
    initial_skip: dict = field(default_factory=dict)
    #: compaction's deferral at the start (initial_defer_state): per model
    #: zone name, (compact_considered, compact_defer_shift, compact_order_failed)
    initial_defer: dict = field(default_factory=dict)
    #: compaction's cached scanner positions at the start
    #: (initial_cached_positions): per model zone name, (migrate, free)
    #: offsets into the zone
    initial_cached: dict = field(default_factory=dict)
    #: the memcgs holding LRU pages at the start (_initial_memcgs): pages
    #: each, in walk order, the root first; empty: one (the root)
    memcgs: list = field(default_factory=list)
    #: when kcompactd's first wait ends (_initial_kcompactd), ns; None: not known
    kcompactd_first_timeout_ns: int | None = None
    #: the request kcompactd found pending at the start (_initial_kcompactd):
    #: (order, highest zone name); None: none
    kcompactd_pending: tuple | None = None
    #: free pageblocks at the start the trace proves beyond the snapshot's
    #: (start_free_blocks): per model zone name, (blocks the trace's
    #: allocations took before the first shortage, those of them no free of
    #: the window touched, free blocks in the snapshot, blocks added (machine
    #: blocks), the window's end ns)
    start_free_blocks: dict = field(default_factory=dict)
    #: free pageblocks of the snapshot the machine no longer had when the
    #: trace began (spent_free_blocks): per model zone name, (free blocks in
    #: the snapshot (MOVABLE ones after a fallback), blocks the window's
    #: allocations took at most, blocks removed (machine blocks), the
    #: window's end ns, the request's order, whether it fell back)
    spent_free_blocks: dict = field(default_factory=dict)
    #: the reclaimable slab the trace does not show (untraced.UntracedSlab,
    #: as a dict; empty without the snapshots it needs) and the model pages
    #: the replay added for it
    untraced_slab: dict = field(default_factory=dict)
    untraced_slab_pages: int = 0
    #: the recorder's ring buffers (recorder_buffer_pages): machine pages,
    #: where that number comes from, and the model pages the prefill holds
    recorder_machine_pages: int = 0
    recorder_source: str = ""
    recorder_pages: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _trace_block_evidence(snapshot: Snapshot, zone_spans, nr_pages: int, pageblock_order: int,
                          block_kinds) -> np.ndarray | None:
    """Per model pageblock, the trace's allocations in the machine pageblocks
    that map to it, by the migratetype their content asks for
    (``[block, Unmovable/Movable/Reclaimable]``; ``block_kinds``: per machine
    pageblock and content, :func:`pretrace_folios`), or None."""
    layout = snapshot.zone_layout()
    if block_kinds is None or layout is None or not block_kinds.shape[0]:
        return None
    mb = np.flatnonzero(block_kinds.sum(axis=1))
    if not len(mb):
        return None
    mp = machine_to_model_pfn(mb << C.PAGEBLOCK_ORDER_DEFAULT,
                              np.full(len(mb), C.PAGEBLOCK_ORDER_DEFAULT, np.int8), layout,
                              zone_spans)
    keep = mp >= 0
    ev = np.zeros((nr_pages >> pageblock_order, 3), np.int64)
    k = block_kinds[mb[keep]]
    by_mt = np.stack([k[:, C.KIND_SLAB_UNRECLAIMABLE] + k[:, C.KIND_PAGETABLE] + k[:, C.KIND_KERNEL],
                      k[:, C.KIND_ANON] + k[:, C.KIND_FILE], k[:, C.KIND_SLAB_RECLAIMABLE]], axis=1)
    np.add.at(ev, mp[keep] >> pageblock_order, by_mt)
    return ev


def initial_block_types(snapshot: Snapshot, zone_spans, nr_pages: int, pageblock_order: int,
                        block_kinds=None, pretrace_pages=None):
    """Per-pageblock migratetypes at the start, from the snapshot's
    ``Number of blocks type`` table, scaled to the model's zone sizes.

    MODEL: the machine's proportions of Unmovable and Reclaimable blocks per
    zone are reproduced in MAX_PAGE_ORDER units (two pageblocks, so boot-time
    free chunks stay within one type).  Their positions: where the trace
    allocated unmovable (reclaimable) content, most first (``block_kinds``,
    the trace's allocations per machine pageblock by content; a pageblock's
    allocations are served from its type), then where the machine's
    kpageflags content map shows the most slab, else drawn (seeded); never,
    while others remain, where the trace's pre-trace folios
    (``pretrace_pages``) leave no room for the type's free chunks
    (:func:`_order_units`).  Each type gets at least the units its free
    chunks fill.  HighAtomic and Isolate blocks start as Movable (the model
    keeps the highatomic reserve's accounting itself)."""
    zb = snapshot.zone_blocks()
    if not zb:
        return None
    # MODEL: proportions (at least the units the free chunks fill), placed by the
    # trace's own allocations (and slab-rich positions when kpageflags was read),
    # off the units its pre-trace folios fill; HighAtomic/Isolate start Movable
    unit = 1 << (C.MAX_PAGE_ORDER - pageblock_order)
    bt = np.full(nr_pages >> pageblock_order, C.MIGRATE_MOVABLE, np.uint8)
    rng = np.random.default_rng(0)
    pbmap = snapshot.pbmap()
    layout = snapshot.zone_layout()
    free = snapshot.free_pages_by_type() or {}
    evidence = _trace_block_evidence(snapshot, zone_spans, nr_pages, pageblock_order,
                                     block_kinds)
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
        zfree = free.get(name, {})
        free_share = {t: zfree.get(t, 0) / max(real.get(t, 0) << C.PAGEBLOCK_ORDER_DEFAULT, 1)
                      for t in ("Unmovable", "Reclaimable")}
        unit_pages = unit << pageblock_order
        units, held = _order_units(units, unit, name, b0, b1, pbmap, layout, zone_spans, len(bt),
                                   pageblock_order, pretrace_pages, max(free_share.values()))

        def units_for(t):
            # the machine's proportion, at least the units its free chunks fill
            scale = (e - s) / max(total << C.PAGEBLOCK_ORDER_DEFAULT, 1)
            return max(int(round(real.get(t, 0) / total * len(units))),
                       -(-int(zfree.get(t, 0) * scale) // unit_pages))
        n_u, n_r = units_for("Unmovable"), units_for("Reclaimable")
        if evidence is not None:
            ev = _unit_sums(evidence, units, unit)                    # [unit, U/M/R]
            # each type to the units the trace allocated that type in, most
            # first (a unit whose allocations were mostly movable never), the
            # rest in the order above
            u_first = _rank(ev[:, 0], ev[:, 0] > ev[:, 1])
            u_first = u_first[np.argsort(_too_full(held, free_share["Unmovable"],
                                                   unit_pages)[u_first], kind="stable")]
            for_u = units[u_first[:n_u]]
            left = np.setdiff1d(np.arange(len(units)), u_first[:n_u], assume_unique=True)
            r_first = left[_rank(ev[left, 2], ev[left, 2] > ev[left, 1])]
            r_first = r_first[np.argsort(_too_full(held, free_share["Reclaimable"],
                                                   unit_pages)[r_first], kind="stable")]
            for u in for_u.tolist():
                bt[u:u + unit] = C.MIGRATE_UNMOVABLE
            for u in units[r_first[:n_r]].tolist():
                bt[u:u + unit] = C.MIGRATE_RECLAIMABLE
            continue
        chosen = units[:n_u + n_r]
        # interleave the two types over the chosen units in proportion
        kinds = np.array([C.MIGRATE_UNMOVABLE] * n_u + [C.MIGRATE_RECLAIMABLE] * n_r, np.uint8)
        rng.shuffle(kinds)
        for u, mt in zip(chosen.tolist(), kinds.tolist()):
            bt[u:u + unit] = mt
    return bt


def _order_units(units: np.ndarray, unit: int, name: str, b0: int, b1: int, pbmap, layout,
                 zone_spans, nr_blocks: int, pageblock_order: int, pretrace_pages,
                 free_share: float) -> tuple:
    """:func:`initial_block_types`' candidate order of a zone's ``units``
    (shuffled) for its Unmovable and Reclaimable types: the content map's
    slab-richest first, its rows mapped to model pageblocks as the trace's
    folios are (:func:`machine_to_model_pfn`); last, the units the folios the
    trace frees before allocating them (``pretrace_pages``, per model
    pageblock) fill beyond what the types' blocks have free on average
    (``free_share``, pagetypeinfo's free pages of a type over its blocks):
    such a unit held page cache or anon, not a type's free chunks (in trace
    n, DMA32's 15 Unmovable blocks were 99.6% free); without a map, the
    emptiest first.  Returns (units, the pre-trace pages each holds)."""
    if pbmap is not None:
        rows = pbmap.loc[pbmap["zone"] == name]
        if len(rows) and len(units):
            slab = rows["slab"].to_numpy()
            if layout is not None:
                mp = machine_to_model_pfn(rows["start_pfn"].to_numpy(np.int64),
                                          np.full(len(rows), pageblock_order), layout,
                                          zone_spans)
                per_block = np.bincount(mp[mp >= 0] >> pageblock_order,
                                        weights=slab[mp >= 0], minlength=nr_blocks)
                score = _unit_sums(per_block, units, unit)
            else:
                # without the zone layout: the machine's blocks at the same
                # relative position
                rel = (units - b0) / max(b1 - b0, 1)
                score = slab[np.minimum((rel * len(slab)).astype(np.int64), len(slab) - 1)]
            units = units[np.argsort(-score, kind="stable")]
    if pretrace_pages is None or not len(units):
        return units, np.zeros(len(units))
    held = _unit_sums(pretrace_pages, units, unit)
    key = _too_full(held, free_share, unit << pageblock_order)
    order = np.lexsort((held, key)) if pbmap is None else np.argsort(key, kind="stable")
    return units[order], held[order]


def _unit_sums(per_block: np.ndarray, units: np.ndarray, unit: int) -> np.ndarray:
    """``per_block`` (indexed by model pageblock) summed over each unit of
    ``unit`` pageblocks starting at ``units``."""
    return sum(per_block[units + i] for i in range(unit))


def _too_full(held: np.ndarray, free_share: float, unit_pages: int) -> np.ndarray:
    """Units whose pre-trace pages (``held``) leave less room than a block of
    a type whose blocks are ``free_share`` free has (2% slack: the model's
    zones are the machine's scaled)."""
    return held > (1.02 - min(free_share, 1.0)) * unit_pages


def _pretrace_pages(pre, snapshot: Snapshot, zone_spans, nr_pages: int,
                    pageblock_order: int) -> np.ndarray | None:
    """Per model pageblock, the pages of the pre-trace folios (``pre``:
    :func:`pretrace_folios`) that map to it, or None."""
    layout = snapshot.zone_layout()
    if pre is None or layout is None or not len(pre[0]):
        return None
    mp = machine_to_model_pfn(pre[0], pre[1], layout, zone_spans)
    ok = mp >= 0
    return np.bincount(mp[ok] >> pageblock_order,
                       weights=np.left_shift(1, pre[1][ok].astype(np.int64)),
                       minlength=nr_pages >> pageblock_order)


def _rank(count: np.ndarray, typed: np.ndarray) -> np.ndarray:
    """Indices: those ``typed`` by the most ``count`` first, then the others
    in their given order (a stable sort)."""
    key = np.where(typed, -count, 0)
    return np.argsort(key, kind="stable")

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
    """The ops of a replay before the traced ones (the prefill), the owner of
    every handle, and the owners: the kernel (0), the page cache (1), then
    tasks.  Ops are appended one at a time (:meth:`op`, :meth:`alloc`) or
    as runs of allocations (:meth:`alloc_many`); :meth:`columns` gives them
    as Workload columns."""

    KERNEL, PAGE_CACHE = 0, 1

    def __init__(self, comm: dict):
        self._blocks: list[tuple] = []                # op columns, in order
        self._single = tuple([] for _ in range(7))    # t, kind, order, gfp, handle, cpu, content
        self._n = 0
        self.h_owner: list[int] = []
        self.owner_kind = [C.OWNER_KERNEL, C.OWNER_FILE]
        self.owner_names = ["kernel", "page cache"]
        self.comm = comm
        self._task_owner: dict[int, int] = {}
        self.pre_owner: int | None = None
        #: (machine pfns, handles, orders) of the placed pre-trace folios
        self.pretrace_live: tuple | None = None
        #: (t, order, gfp, cpu) of the allocations the trace does not show
        #: (untraced.schedule), merged into the traced ops by TraceOps
        self.untraced: tuple | None = None
        #: a bool per model pfn: the pages memblock reserved at boot (boot_reserved)
        self.reserved: np.ndarray | None = None

    def new_owner(self, kind: int, name: str) -> int:
        self.owner_kind.append(kind)
        self.owner_names.append(name)
        return len(self.owner_kind) - 1

    def task_owner(self, pid: int) -> int:
        """The owner of a traced task's anon memory (one per pid)."""
        o = self._task_owner.get(pid)
        if o is None:
            o = self._task_owner[pid] = self.new_owner(C.OWNER_TASK, self.comm.get(pid, f"pid {pid}"))
        return o

    def op(self, t, k, order, gfp, h, cpu, content) -> None:
        for col, v in zip(self._single, (t, k, order, gfp, h, cpu, content)):
            col.append(v)
        self._n += 1

    def alloc(self, order, gfp, owner, cpu, content) -> int:
        """An allocation at t=0 on a new handle of ``owner``; returns the handle."""
        h = len(self.h_owner)
        self.h_owner.append(owner)
        self.op(0, C.OP_ALLOC, order, gfp, h, cpu, content)
        return h

    def alloc_many(self, n: int, order, gfp, owner, nr_cpus: int, content) -> None:
        """``n`` allocations at t=0 on new handles of ``owner``, the i-th on
        cpu ``i % nr_cpus`` (the same ops as ``n`` :meth:`alloc` calls)."""
        if n <= 0:
            return
        self._flush()
        h0 = len(self.h_owner)
        self.h_owner.extend([owner] * n)
        cols = (np.zeros(n), np.full(n, C.OP_ALLOC), np.full(n, order), np.full(n, gfp),
                np.arange(h0, h0 + n), np.arange(n) % nr_cpus, np.full(n, content))
        self._blocks.append(tuple(np.asarray(c, d) for c, d in zip(cols, OP_DTYPES)))
        self._n += n

    def activate_block(self, handles, orders, gfps, contents, nr_cpus: int) -> None:
        """Two touches at t=0 of each of ``handles`` (page cache:
        folio_mark_accessed() twice puts an inactive folio on the active list)."""
        n = len(handles)
        if n <= 0:
            return
        self._flush()
        cols = (np.zeros(2 * n), np.full(2 * n, C.OP_TOUCH), np.tile(orders, 2),
                np.tile(gfps, 2), np.tile(handles, 2), np.arange(2 * n) % nr_cpus,
                np.tile(contents, 2))
        self._blocks.append(tuple(np.asarray(c, d) for c, d in zip(cols, OP_DTYPES)))
        self._n += 2 * n

    def alloc_block(self, orders, gfps, owners, cpus, contents) -> np.ndarray:
        """Allocations at t=0 on new handles, one per element of the equal-length
        arrays; returns their handles."""
        n = len(orders)
        self._flush()
        h = np.arange(len(self.h_owner), len(self.h_owner) + n)
        self.h_owner.extend(np.asarray(owners).tolist())
        cols = (np.zeros(n), np.full(n, C.OP_ALLOC), orders, gfps, h, cpus, contents)
        self._blocks.append(tuple(np.asarray(c, d) for c, d in zip(cols, OP_DTYPES)))
        self._n += n
        return h

    def _flush(self) -> None:
        if self._single[0]:
            self._blocks.append(tuple(np.asarray(c, d) for c, d in zip(self._single, OP_DTYPES)))
            self._single = tuple([] for _ in range(7))

    def columns(self) -> tuple:
        """The ops so far as Workload columns (t, kind, order, gfp, handle, cpu, content)."""
        self._flush()
        if len(self._blocks) != 1:
            cols = tuple(np.concatenate([b[i] for b in self._blocks]) if self._blocks
                         else np.zeros(0, d) for i, d in enumerate(OP_DTYPES))
            self._blocks = [cols]
        return self._blocks[0]

    def __len__(self) -> int:
        return self._n

    def fork(self, comm: dict) -> "_ReplayOps":
        """A copy for another pass over the trace: the same prefill ops (not
        to be appended to), its own owners; tasks named from ``comm``."""
        new = _ReplayOps(comm)
        new._blocks, new._n, new.h_owner = [self.columns()], self._n, self.h_owner
        new.owner_kind, new.owner_names = list(self.owner_kind), list(self.owner_names)
        new._task_owner = dict(self._task_owner)
        new.pre_owner, new.pretrace_live = self.pre_owner, self.pretrace_live
        new.untraced, new.reserved = self.untraced, self.reserved
        return new


def _meminfo_pages(mi: dict, key: str) -> int:
    return mi.get(key, 0) * 1024 // C.PAGE_SIZE


def other_kernel_pages(mi: dict) -> int:
    """The used memory of a ``meminfo`` that none of its categories names:
    MemTotal - MemFree less page cache (Buffers, Cached: shmem included),
    AnonPages, slab, kernel stacks and page tables.  Kernel memory from the
    page allocator outside those counters: vmalloc, per-cpu areas, drivers'
    pages (and the pages on the per-cpu free lists, which MemFree leaves out
    too).  In the kpageflags maps of the shared traces' machine such
    flagless pages fill whole pageblocks (18k of Normal's 22k in 40
    pageblocks of 512, the rest a few a block)."""
    pages = lambda key: _meminfo_pages(mi, key)  # noqa: E731
    named = (pages("Buffers") + pages("Cached") + pages("AnonPages") + pages("SReclaimable")
             + pages("SUnreclaim") + pages("KernelStack") + pages("PageTables"))
    return max(0, pages("MemTotal") - pages("MemFree") - named)


#: ``perf record -m`` of the shared traces' recorder (shared/traces/tools/capture.sh:
#: ``perf record -q -a -m 4096``): data pages per CPU ring buffer
SHARED_TOOLS_PERF_MMAP_PAGES = 4096


def recorder_buffer_pages(snapshot: Snapshot | None, fmt: str, nr_cpus: int,
                          override: int | None = None) -> tuple[int, str]:
    """``(pages, where the number comes from)``: the machine pages the
    recorder took for its ring buffers after the ``before`` snapshot and held
    through the trace, so the trace starts with that much less free memory
    than the snapshot shows, all of it taken as unmovable order-0 pages.

    perf's ``rb_alloc()`` (kernel/events/ring_buffer.c) backs each per-CPU
    buffer with ``nr_pages`` data pages and a user page, each
    ``alloc_pages_node(GFP_KERNEL | __GFP_ZERO, 0)``; a tracefs instance's
    ring buffer (``buffer_size_kb`` per CPU) is GFP_KERNEL pages too.  On
    trace n of the development VM (perf -m 4096 on 2 CPUs, /proc/pagetypeinfo
    sampled at 10 Hz) Normal's free pages in Unmovable pageblocks went from
    16,490 in the before snapshot to 6,014 at the trace's first event.

    ``override`` (``--recorder-pages``) wins; then ``recorder_buffer_pages``
    in the snapshot's ``before.platform`` (``defragsim record`` writes it);
    then, for a CSV trace (the shared traces' schema, made by their
    capture.sh), ``perf record -a -m 4096`` on the machine's CPUs
    (``before.platform`` nr_cpus, else ``nr_cpus``); otherwise 0."""
    if override is not None:
        if override < 0:
            raise ConfigError(f"replay: --recorder-pages must be 0 or more, got {override}")
        return int(override), "--recorder-pages"
    plat = snapshot.platform if snapshot is not None else {}
    if "recorder_buffer_pages" in plat:
        try:
            n = int(plat["recorder_buffer_pages"])
        except ValueError:
            raise ConfigError(f"{snapshot.path}/before.platform: recorder_buffer_pages="
                              f"{plat['recorder_buffer_pages']!r} is not a page count") from None
        return max(n, 0), "the snapshot's before.platform (recorder_buffer_pages)"
    if fmt == "csv" and snapshot is not None:
        # MODEL: a CSV trace is taken to come from the shared traces' capture.sh
        cpus = snapshot.nr_cpus() or nr_cpus
        return cpus * (SHARED_TOOLS_PERF_MMAP_PAGES + 1), (
            f"the shared traces' recorder: perf record -a -m {SHARED_TOOLS_PERF_MMAP_PAGES} on "
            f"{cpus} CPUs, {SHARED_TOOLS_PERF_MMAP_PAGES:,} data pages and a user page each")
    return 0, "not known for this trace format (--recorder-pages sets it)"


def _prefill_amounts(mi: dict) -> dict:
    """``{content: (pages, order, gfp)}`` of the snapshot's memory, in fill
    order: slab, page tables and the other kernel memory first
    (:func:`other_kernel_pages`), so that they settle into the snapshot's
    non-movable blocks before page cache and anon fill the rest, and the
    model's free memory is the snapshot's MemFree."""
    pages = lambda key: _meminfo_pages(mi, key)  # noqa: E731
    return {
        C.KIND_SLAB_RECLAIMABLE: (pages("SReclaimable"), 0,
                                  G.parse_gfp("GFP_KERNEL|__GFP_RECLAIMABLE")),
        C.KIND_SLAB_UNRECLAIMABLE: (pages("SUnreclaim") + pages("KernelStack"), 0,
                                    G.parse_gfp("GFP_KERNEL")),
        C.KIND_PAGETABLE: (pages("PageTables"), 0, G.parse_gfp("GFP_KERNEL_ACCOUNT")),
        # MODEL: kernel memory no meminfo counter names, as order-0 unmovable pages
        C.KIND_KERNEL: (other_kernel_pages(mi), 0, G.parse_gfp("GFP_KERNEL")),
        C.KIND_ANON: (pages("AnonPages") + pages("Shmem"), 0,
                      G.parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_ZERO")),
        # MODEL: pre-trace page cache as order-9 readahead folios (the shared
        # traces' machine was filled by a sequential read) unless the folios
        # placed from the trace's own frees show its sizes (_folio_mix);
        # anon and slab order 0
        C.KIND_FILE: (pages("Cached") + pages("Buffers") - pages("Shmem"), 9,
                      G.parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP")),
    }


def reserved_targets(snapshot: Snapshot, zone_spans) -> dict:
    """``{model zone: pages}`` memblock reserved at boot in each zone of the
    machine (before.zoneinfo: present less managed pages: the memmap, the
    kernel image, firmware tables), scaled to a model zone smaller than the
    machine's present pages; {} without a zoneinfo.

    The present pages less MemTotal bound them all: a zone whose struct
    pages were not all initialised yet (the shipped traces' machine grows
    Normal on demand, ``deferred_init=lazy``) has fewer managed pages than
    that, and the shortfall is not a reservation: the zone with the most
    unmanaged pages gives it back (``samples-1s``: Normal 4,194,304 ->
    110,758)."""
    pm = snapshot.zone_present_managed() if zone_spans is not None else None
    if not pm:
        return {}
    # MODEL: a lazily initialised zone's shortfall is not reserved (see above)
    unmanaged = {name: max(p - m, 0) for name, (p, m) in pm.items()}
    bound = sum(p for p, _ in pm.values()) - _meminfo_pages(snapshot.meminfo, "MemTotal")
    excess = sum(unmanaged.values()) - max(bound, 0)
    if excess > 0:
        top = max(unmanaged, key=unmanaged.get)
        unmanaged[top] = max(unmanaged[top] - excess, 0)
    out = {}
    for z, (ms, me) in enumerate(zone_spans):
        name = C.ZONE_NAMES[z]
        if me <= ms or name not in pm:
            continue
        scale = min(1.0, (me - ms) / max(pm[name][0], 1))
        n = min(int(unmanaged[name] * scale), (me - ms) // 2)
        if n:
            out[z] = n
    return out


def boot_reserved(targets: dict, zone_spans, nr_pages: int, pageblock_order: int,
                  taken: np.ndarray | None = None, traced_blocks: np.ndarray | None = None,
                  block_types: np.ndarray | None = None):
    """Where the machine's boot-time reserved pages (``targets``:
    :func:`reserved_targets`) lie in the model: a bool per model pfn.

    Memblock allocates top-down, and a reserved page is never freed, so no
    trace event touches it: each zone's reserved pages go first in the
    pageblocks no placed pre-trace folio (``taken``) and no traced allocation
    (``traced_blocks``, per model pageblock) touched, from the top of the
    zone down; then in the unplaced pfns of blocks the trace allocated
    nothing in; then in any unplaced pfns, top-down.  Within each of those,
    Movable pageblocks (``block_types``) first: memmap_init_range() starts
    every pageblock Movable, and a block none of whose pages is ever freed
    keeps that type (an Unmovable or Reclaimable block holds the free chunks
    pagetypeinfo lists on its type).

    MODEL: the snapshots do not say where the reserved pages are (only how
    many, per zone); on the traces recorded on this VM (d, e) the pageblocks
    the trace never touches are the top 218 of Normal, as many as it
    reserved."""
    # MODEL: the reserved pages' places are inferred (see above)
    res = np.zeros(nr_pages, bool)
    if not targets:
        return res
    pb = 1 << pageblock_order
    nb = nr_pages // pb
    used = np.zeros(nb, np.int64) if taken is None else \
        taken[:nb * pb].reshape(nb, pb).sum(axis=1)
    traced = np.zeros(nb, bool) if traced_blocks is None else traced_blocks[:nb]
    tier = np.where(traced, 2, np.where(used == 0, 0, 1)) * 2
    if block_types is not None:
        tier += block_types[:nb] != C.MIGRATE_MOVABLE
    for z, need in targets.items():
        ms, me = zone_spans[z]
        blocks = np.arange(ms // pb, me // pb)
        # tier first, then top-down
        blocks = blocks[np.lexsort((-blocks, tier[blocks]))]
        for b in blocks.tolist():
            if need <= 0:
                break
            lo = b * pb
            free = np.arange(lo, lo + pb) if taken is None else \
                lo + np.flatnonzero(~taken[lo:lo + pb])
            pick = free[::-1][:need]
            res[pick] = True
            need -= len(pick)
    return res


def _traced_model_blocks(block_kinds: np.ndarray, layout: dict, zone_spans, nr_pages: int,
                         pageblock_order: int) -> np.ndarray:
    """A bool per model pageblock: a traced allocation fell in its machine
    pageblock (``block_kinds``, per machine pageblock of the default order)."""
    out = np.zeros(nr_pages >> pageblock_order, bool)
    mb = np.flatnonzero(block_kinds.sum(axis=1) > 0)
    mp = machine_to_model_pfn(mb << C.PAGEBLOCK_ORDER_DEFAULT, np.zeros(len(mb), np.int64),
                              layout, zone_spans)
    mp = mp[mp >= 0]
    out[np.minimum(mp >> pageblock_order, len(out) - 1)] = True
    return out


def _prefill(ro: _ReplayOps, st: ReplayStats, snapshot: Snapshot, nr_pages: int, nr_cpus: int,
             zone_spans, pageblock_order: int, block_types=None, pretrace=None,
             extra_blocks=None, recorder_pages: int = 0, spent_blocks=None) -> None:
    """The machine's memory contents at the start of the trace, as
    allocations at t=0: first the folios the trace frees before allocating
    them (``pretrace``: their machine pfns and orders), each where the
    machine had it (:func:`place_pretrace`); then the free chunks' shapes,
    then slab, page tables, anon and page cache in the snapshot's
    proportions, less what was placed, page cache in the placed page
    cache's folio sizes.  They are allocated without watermarks
    (CONTENT_PREFILL: page_alloc.alloc_pages_prefill), so each zone fills
    down to the free memory the snapshot shows, plus the free pageblocks
    the trace proves the machine had when it began (``extra_blocks``:
    ``{zone: blocks}``, :func:`start_free_blocks`), taken from the page
    cache, less those it had spent by then (``spent_blocks``,
    :func:`spent_free_blocks`), given to the page cache.  Last, once the
    free chunks are in place, the recorder's ring buffers
    (``recorder_pages`` machine pages, :func:`recorder_buffer_pages`) as
    order-0 GFP_KERNEL allocations, out of those chunks as the kernel's
    were."""
    mi = snapshot.meminfo
    targets = reserved_targets(snapshot, zone_spans)
    managed = nr_pages - sum(targets.values())
    # MODEL: a model smaller or larger than the traced machine gets the same
    # proportions of page cache, anon and slab
    scale = managed / max(_meminfo_pages(mi, "MemTotal"), 1)
    free_pages = int(_meminfo_pages(mi, "MemFree") * scale)
    amounts = _prefill_amounts(mi)
    holes, free_pages, spent_pages = _free_holes(snapshot, zone_spans, pageblock_order,
                                                 free_pages, scale, extra_blocks, spent_blocks)
    budget = managed - free_pages
    # placing's leftover pieces are free chunks where they can be, else they
    # hold content within the room the other free chunks and their spacers leave
    gap_holes: list = []
    placed = place_pretrace(ro, st, snapshot, pretrace, zone_spans, nr_pages, nr_cpus,
                            block_types, amounts, budget, holes, targets, gap_holes) \
        if pretrace is not None and zone_spans is not None and block_types is not None else {}
    if ro.reserved is None and targets:
        ro.reserved = boot_reserved(targets, zone_spans, nr_pages, pageblock_order,
                                    block_types=block_types)
    st.reserved_pages = {C.ZONE_NAMES[z]: n for z, n in targets.items()}
    budget -= sum(sum(p << o for o, p in enumerate(h)) for h in placed.values())
    placeholders, budget = _prefill_holes(ro, st, holes, budget)
    placeholders += gap_holes
    st.hole_pages_placed = sum(1 << o for _, o, _, _ in gap_holes)
    groups = []
    for content, (n, order, gfp) in amounts.items():
        hist = placed.get(content, np.zeros(C.MAX_PAGE_ORDER + 1, np.int64))
        # MODEL: the free blocks the machine spent before the trace are page cache
        n = int(n * scale) + (spent_pages if content == C.KIND_FILE else 0)
        n = max(0, min(n - int(sum(p << o for o, p in enumerate(hist))), budget))
        mix = _folio_mix(n, order, hist if content == C.KIND_FILE else None)
        st.prefill_pages[C.KIND_NAMES[content]] = sum(k << o for o, k in mix)
        budget -= st.prefill_pages[C.KIND_NAMES[content]]
        o = _prefill_owner(ro, content)
        if content == C.KIND_ANON and mix and _meminfo_pages(mi, "Shmem"):
            # shmem (tmpfs, memfd): swap-backed like anon, with a mapping like
            # page cache (compaction.folio_mapping); its own owner
            shm = min(int(_meminfo_pages(mi, "Shmem") * scale), mix[0][1])
            groups.append((shm, 0, gfp, ro.new_owner(C.OWNER_SHMEM, "shmem"),
                           content | C.CONTENT_PREFILL))
            mix = [(0, mix[0][1] - shm)]
        groups += [(k, order_, gfp | (G.__GFP_COMP if order_ else 0), o,
                    content | C.CONTENT_PREFILL) for order_, k in mix]
    # in the kinds' order, except that the movable order-0 ones (anon, small
    # page cache) go together, interleaved, where the first of them goes
    small = [i for i, g in enumerate(groups)
             if g[1] == 0 and G.gfp_migratetype(g[2]) == C.MIGRATE_MOVABLE]
    for i, (k, order_, g, ow, c) in enumerate(groups):
        if i == (small[0] if small else -1):
            _alloc_interleaved(ro, [groups[j][:1] + groups[j][2:] for j in small], nr_cpus)
        elif i not in small:
            ro.alloc_many(k, order_, g, ow, nr_cpus, c)
    for h, order, gfp, content in placeholders:
        # (the gfp column's bits above the gfp_t mean something else on a free)
        ro.op(0, C.OP_FREE, order, gfp & G.GFP_T_MAX, h, 0, content)
    st.hole_pages = sum(1 << o for _, o, _, _ in placeholders)
    _take_recorder_pages(ro, st, int(recorder_pages * scale), nr_cpus)


def _free_holes(snapshot: Snapshot, zone_spans, pageblock_order: int, free_pages: int,
                scale: float, extra_blocks, spent_blocks) -> tuple:
    """(holes, free pages, spent pages) of the prefill: the snapshot's free
    chunks (:func:`free_chunk_targets`, ``free_pages`` in all), plus the
    free pageblocks ``extra_blocks`` adds, less those ``spent_blocks``
    takes (machine blocks, scaled by ``scale``), largest first."""
    holes = free_chunk_targets(snapshot, zone_spans, pageblock_order, free_pages) \
        if zone_spans is not None else []
    for z, n in (extra_blocks or {}).items():
        s_, e_ = zone_spans[z]
        n = min(int(round(n * scale)), (e_ - s_) >> pageblock_order)
        holes.append((z, C.MIGRATE_MOVABLE, pageblock_order, n))
        free_pages += n << pageblock_order
    spent_pages = 0
    for z, n in (spent_blocks or {}).items():
        holes, n = _spend_blocks(holes, z, int(round(n * scale)), pageblock_order)
        spent_pages += n << pageblock_order
    holes.sort(key=lambda x: -x[2])
    return holes, free_pages - spent_pages, spent_pages


def _spend_blocks(holes: list, z: int, n: int, pageblock_order: int) -> tuple:
    """``holes`` (zone, migratetype, order, count) less ``n`` pageblocks of
    zone ``z``'s Movable free chunks of pageblock order or more, as
    pageblock-order allocations take them (the smallest chunk first, a
    larger one split and its other halves kept), and the blocks taken."""
    counts = {}
    rest = []
    for h in holes:
        if h[0] == z and h[1] == C.MIGRATE_MOVABLE and h[2] >= pageblock_order:
            counts[h[2]] = counts.get(h[2], 0) + h[3]
        else:
            rest.append(h)
    taken = 0
    while taken < n:
        o = min((o for o, k in counts.items() if k > 0), default=None)
        if o is None:
            break
        counts[o] -= 1
        for lower in range(pageblock_order, o):    # __rmqueue_smallest's expand()
            counts[lower] = counts.get(lower, 0) + 1
        taken += 1
    return rest + [(z, C.MIGRATE_MOVABLE, o, k) for o, k in counts.items() if k > 0], taken


def _take_recorder_pages(ro: _ReplayOps, st: ReplayStats, pages: int, nr_cpus: int) -> None:
    """The recorder's ring buffers (``pages`` model pages,
    :func:`recorder_buffer_pages`), taken after the snapshot from its free
    memory: order-0 GFP_KERNEL allocations held by a kernel owner, the i-th
    on cpu ``i % nr_cpus`` (perf allocates each CPU's buffer on its node)."""
    st.recorder_pages = pages
    # MODEL: taken at t=0 through the prefill's path (no watermarks, no
    # pageblock claims: steals), after the pcp lists the prefill filled; the
    # kernel's came in the time between the snapshot and the trace
    if pages > 0:
        ro.alloc_many(pages, 0, G.parse_gfp("GFP_KERNEL|__GFP_ZERO"),
                      ro.new_owner(C.OWNER_KERNEL, "recorder"), nr_cpus,
                      C.KIND_KERNEL | C.CONTENT_PREFILL)


def _alloc_interleaved(ro: _ReplayOps, groups: list, nr_cpus: int) -> None:
    """Order-0 prefill allocations of several kinds (``groups``: (count,
    gfp, owner, content) each), interleaved in proportion, the i-th on cpu
    ``i % nr_cpus``: anon faults and page-cache reads come at once on a
    running machine, and each pcp batch serves whichever comes next, so
    neither kind fills pageblocks of its own.

    MODEL: the machine filled its memory over hours; only its totals are
    known (meminfo), not where each kind went."""
    # MODEL: the order-0 kinds are interleaved evenly (see above)
    counts = np.array([g[0] for g in groups], np.int64)
    if not len(counts) or counts.sum() <= 0:
        return
    total = int(counts.sum())
    which = _balanced_sequence(counts)
    col = lambda k: np.array([g[k] for g in groups])[which]  # noqa: E731
    ro.alloc_block(np.zeros(total, np.int64), col(1), col(2), np.arange(total) % nr_cpus, col(3))


def _balanced_sequence(counts: np.ndarray) -> np.ndarray:
    """Group indices, counts[g] of each, spread evenly: group g's j-th
    element sits at (j + 0.5) / counts[g] of the way (a stable sort of
    those positions)."""
    pos = np.concatenate([(np.arange(n) + 0.5) / n for n in counts.tolist() if n > 0])
    grp = np.concatenate([np.full(n, g, np.int64) for g, n in enumerate(counts.tolist()) if n > 0])
    return grp[np.argsort(pos, kind="stable")]


def pretrace_folios(chunks, reclaim_of=None) -> tuple:
    """``(pfns, orders, kinds, by_task, flows, migrated)``: the folios a trace frees before it
    allocates them (the first event on their pfn is a free: the machine held
    them when the trace began, there, at that order), in the order of their
    frees; for each machine pageblock (of the default order) the trace's
    allocations in it by content (``kinds[block, KIND_*]``, :func:`content_of`
    their gfp); and whether a task freed the folio outside reclaim
    (``reclaim_of(cols)``: :func:`reclaim_frees` of the pid, t_ns and ev
    columns of those frees, with ``migration``; all False without it); the
    trace's reclaimable-slab flows (:class:`~.untraced.SlabFlows`); and
    whether kcompactd freed the folio (it migrated it).  ``chunks``:
    ParsedTrace columns, a chunk at a time."""
    flows = SlabFlows()
    kinds = np.zeros((1, C.NR_KINDS), np.int64)
    pfns, orders, by_task, migrated = [], [], [], []
    cache: dict = {}
    for cols in chunks:
        pfn = cols["pfn"]
        rows = np.flatnonzero((cols["ev"] == EV_ALLOC) & (pfn >= 0))
        masks, which = np.unique(cols["gfp"][rows], return_inverse=True)
        kind = np.array([cache.setdefault(g, content_of(g)) for g in masks.tolist()],
                        np.int64)[which]
        op, oo, orow = flows.add(cols, rows, kind)
        srow = flows.slab_free_rows
        if len(srow):
            # without reclaim's frees known, the replay replays every free
            flows.add_slab_frees(cols, _freed_by_task(cols, srow, reclaim_of, True))
        pfns.append(op)
        orders.append(oo)
        # only the pre-trace frees' rows are classified (each row on its own)
        who = _freer(cols, orow, reclaim_of)
        by_task.append(who == 0)
        migrated.append(who == 3)
        block = pfn[rows] >> C.PAGEBLOCK_ORDER_DEFAULT
        if len(block) and int(block.max()) >= kinds.shape[0]:
            kinds = np.concatenate([kinds, np.zeros((int(block.max()) + 1 - kinds.shape[0],
                                                     C.NR_KINDS), np.int64)])
        np.add.at(kinds, (block, kind), 1)
    if not pfns:
        return np.zeros(0, np.int64), np.zeros(0, np.int8), kinds, np.zeros(0, bool), flows, \
            np.zeros(0, bool)
    return np.concatenate(pfns), np.concatenate(orders), kinds, np.concatenate(by_task), flows, \
        np.concatenate(migrated)


def _freer(cols: dict, at: np.ndarray, reclaim_of) -> np.ndarray:
    """Who made each free at rows ``at`` of ``cols``: ``reclaim_of`` of their
    pid, t_ns and ev columns (:func:`reclaim_frees`: 0 a task, 1 kswapd, 2 a
    task in direct reclaim, 3 kcompactd); all 1 without it."""
    if reclaim_of is None or not len(at):
        return np.ones(len(at), np.int8)
    return reclaim_of({k: cols[k][at] for k in ("pid", "t_ns", "ev")})


def _freed_by_task(cols: dict, at: np.ndarray, reclaim_of, default: bool) -> np.ndarray:
    """Whether a task, not reclaim, made each free at rows ``at`` of ``cols``
    (``reclaim_of``: :func:`reclaim_frees` of their pid, t_ns and ev columns);
    ``default`` for all of them without it."""
    if reclaim_of is None or not len(at):
        return np.full(len(at), default)
    return _freer(cols, at, reclaim_of) == 0


def streamed_pretrace_folios(path, fmt: str, comm, lim: TraceLimits, windows,
                             chunk_bytes: int = CHUNK_BYTES, on_chunk=None) -> tuple:
    """:func:`pretrace_folios` of a trace read a chunk at a time by the fast
    parsers (their command names and first time as the chunks come:
    reclaim's frees known by :func:`reclaim_frees`); ``on_chunk(cols)`` sees
    each chunk too."""
    scratch = ParsedTrace.empty(path, fmt)

    def chunks():
        for cols in fast_chunks(Path(path), fmt, comm, lim, scratch, chunk_bytes):
            if on_chunk is not None:
                on_chunk(cols)
            yield cols
    return pretrace_folios(chunks(), lambda c: reclaim_frees(
        c["pid"], c["t_ns"], c["ev"], scratch.comm, windows, scratch.t0_ns or 0,
        migration=True))


def machine_to_model_pfn(pfns: np.ndarray, orders: np.ndarray, layout: dict,
                         zone_spans) -> np.ndarray:
    """The model pfn of each machine folio (``layout``: the machine's zones,
    ``Snapshot.zone_layout``), -1 where the model has no room for it.

    MODEL: a machine zone's pfns map to the model's zone of the same name
    at the same offset from its start, scaled down by the model's pages over
    the machine's present pages when the model is smaller (the shipped
    traces: DMA32 by 0.99, Normal by 0.98), aligned down to the folio's
    order; pfns past the model's zone (a PCI hole's span) or in zones the
    model lacks (DMA) have no place."""
    out = np.full(len(pfns), -1, np.int64)
    for z, (ms, me) in enumerate(zone_spans):
        name = C.ZONE_NAMES[z]
        if me <= ms or name not in layout:
            continue
        start, spanned, present = layout[name]
        rows = np.flatnonzero((pfns >= start) & (pfns < start + spanned))
        # MODEL: the same zone offset, scaled down to a smaller model (see above)
        size = np.left_shift(1, orders[rows].astype(np.int64))
        mp = _model_offset(pfns[rows], start, present, ms, me)
        mp &= ~(size - 1)
        ok = mp + size <= me
        out[rows[ok]] = mp[ok]
    return out


def _pretrace_kinds(machine_pfns: np.ndarray, model_pfns: np.ndarray, orders: np.ndarray,
                    block_kinds: np.ndarray, block_types: np.ndarray, pageblock_order: int,
                    amounts: dict) -> np.ndarray:
    """What each placed pre-trace folio holds: what most of the trace's
    allocations in its machine pageblock held (``block_kinds``, from their
    gfp masks); in a block the trace allocated nothing in, from its model
    pageblock's type (Reclaimable: reclaimable slab; Unmovable:
    unreclaimable slab or page tables; Movable: anon or page cache), in the
    snapshot's proportions (drawn, seed 0).  A folio of a pageblock or more
    is anon or page cache.

    MODEL: a free event says nothing of what the folio held; the snapshots
    of the shipped traces have no kpageflags map to say it either."""
    # MODEL: the content of a pre-trace folio is inferred (see above)
    rng = np.random.default_rng(0)
    u = rng.random(len(model_pfns))
    a, f = amounts[C.KIND_ANON][0], amounts[C.KIND_FILE][0]
    su, pt = amounts[C.KIND_SLAB_UNRECLAIMABLE][0], amounts[C.KIND_PAGETABLE][0]
    movable = np.where(u < a / max(a + f, 1), C.KIND_ANON, C.KIND_FILE)
    mt = block_types[model_pfns >> pageblock_order]
    kind = np.where(mt == C.MIGRATE_UNMOVABLE,
                    np.where(u < pt / max(su + pt, 1), C.KIND_PAGETABLE,
                             C.KIND_SLAB_UNRECLAIMABLE), movable)
    kind = np.where(mt == C.MIGRATE_RECLAIMABLE, C.KIND_SLAB_RECLAIMABLE, kind)
    # the machine's pageblocks (pretrace_folios counts them at the default order)
    mb = machine_pfns >> C.PAGEBLOCK_ORDER_DEFAULT
    counts = np.zeros((len(mb), C.NR_KINDS), np.int64)
    inside = mb < block_kinds.shape[0]
    counts[inside] = block_kinds[mb[inside]]
    traced = counts.sum(axis=1) > 0
    kind = np.where(traced, counts.argmax(axis=1), kind)
    # a folio of other kernel memory the trace shows counts in unreclaimable
    # slab's amount (the other kernel memory's is what meminfo leaves unnamed)
    kind = np.where(kind == C.KIND_KERNEL, C.KIND_SLAB_UNRECLAIMABLE, kind)
    kind = np.where(orders >= pageblock_order,
                    np.where(np.isin(kind, (C.KIND_ANON, C.KIND_FILE)), kind, movable), kind)
    return kind.astype(np.uint8)


def place_pretrace(ro: _ReplayOps, st: ReplayStats, snapshot: Snapshot, pretrace: tuple,
                   zone_spans, nr_pages: int, nr_cpus: int, block_types, amounts: dict,
                   budget: int | None = None, holes: list | None = None,
                   reserved: dict | None = None, placeholders: list | None = None) -> dict:
    """Prefill ops that place each pre-trace folio (``pretrace``: machine pfns,
    orders and pageblock contents, :func:`pretrace_folios`) at its model pfn
    (:func:`machine_to_model_pfn`; CONTENT_PLACED: the model takes the range
    off the buddy lists, ``page_alloc.take_page_off_buddy``), one that
    overlaps an earlier one left out; the page cache among them that a task
    frees in the trace (``pretrace[3]``), and that of the pieces placing
    leaves (:func:`_gap_pieces`), on the active list.  The free chunks of
    ``holes`` that those pieces can be (:func:`_holes_from_gaps`) are placed
    too, as placeholders appended to ``placeholders`` (freed after the
    fill), and leave ``holes``; the other pieces hold content, within the
    room the remaining holes and their spacers leave and within ``budget``
    pages of used memory.  ``reserved``: the pages memblock reserved at boot,
    per zone (:func:`boot_reserved` places them; ``ro.reserved``).  Sets
    ``ro.pretrace_live`` (machine pfn, handle, order of each placed folio:
    the trace's free of that pfn frees it) and the stats; returns
    ``{content: folios by order}``."""
    layout = snapshot.zone_layout()
    pfns, orders, block_kinds, by_task = pretrace[:4]
    st.pretrace_folios = len(pfns)
    if layout is None or not len(pfns):
        return {}
    pbo = int(np.log2(nr_pages // len(block_types)))
    mp = machine_to_model_pfn(pfns, orders, layout, zone_spans)
    taken = np.zeros(nr_pages, bool)
    keep = np.zeros(len(pfns), bool)
    place_first_come(mp, orders.astype(np.int64), taken, keep)
    if reserved:
        # boot-time reserved pages: where nothing placed or traced says otherwise
        ro.reserved = boot_reserved(reserved, zone_spans, nr_pages, pbo, taken,
                                    _traced_model_blocks(block_kinds, layout, zone_spans,
                                                         nr_pages, pbo), block_types)
        taken |= ro.reserved
    rows = _lru_order(np.flatnonzero(keep), pretrace)
    kinds = _pretrace_kinds(pfns[rows], mp[rows], orders[rows], block_kinds, block_types, pbo,
                            amounts)
    o = orders[rows].astype(np.int64)
    placed_pages = int((1 << o).sum())
    gfp_of = np.zeros(C.NR_KINDS, np.int64)
    owner_of = np.zeros(C.NR_KINDS, np.int32)
    _kind_gfps(ro, amounts, kinds, gfp_of, owner_of)
    handles, gfp = _alloc_placed(ro, mp[rows], o, kinds, gfp_of, owner_of, nr_cpus)
    ro.pretrace_live = (pfns[rows], handles, orders[rows])
    # MODEL: page cache a task frees during the trace (not reclaim: the
    # kernel's reclaim did not take it first; in b_pressure_dm0 mostly DAMON's
    # kdamond) starts on the active list (folio_mark_accessed() twice), so the
    # model's reclaim, which walks the placed folios in the order the machine
    # freed them, does not take it before the task frees it and then reclaim
    # as much again elsewhere (b_pressure_dm0: 167k pages, 3.7% over the
    # kernel's reclaim by the last second)
    _pretrace_task_freed(ro, st, handles, o, kinds, gfp, by_task[rows], nr_cpus)
    st.pretrace_placed = len(rows)
    st.pretrace_placed_pages = placed_pages
    (gp, go, gk), (hp, ho, hk), chains = _gaps_and_holes(
        taken, mp[rows], o, kinds, pbo, block_types, holes, zone_spans,
        nr_pages if budget is None else budget, placed_pages)
    _kind_gfps(ro, amounts, np.concatenate([gk, hk]), gfp_of, owner_of)
    if placeholders is not None:
        # the free chunks: placed, then freed after the fill
        hh, hg = _alloc_placed(ro, hp, ho, hk, gfp_of, owner_of, nr_cpus)
        placeholders.extend(zip(hh.tolist(), ho.tolist(), hg.tolist(), hk.tolist()))
        st.chain_pages = _place_chains(ro, chains, placeholders, nr_cpus) if chains else 0
    gh, gfp = _alloc_placed(ro, gp, go, gk, gfp_of, owner_of, nr_cpus)
    # MODEL: the pieces' page cache starts on the active list too: the machine
    # held it through the trace in pageblocks whose neighbours its reclaim
    # freed, so its reclaim passed over it (the rest of the prefill's page
    # cache, placed anywhere, stays inactive, behind the placed folios)
    gact = np.flatnonzero(gk == C.KIND_FILE)
    ro.activate_block(gh[gact], go[gact], gfp[gact], gk[gact] | C.CONTENT_PREFILL, nr_cpus)
    st.gap_pages = int((1 << go).sum())
    out: dict = {}
    for kind in np.unique(np.concatenate([kinds, gk])).tolist():
        out[kind] = np.bincount(np.concatenate([o[kinds == kind], go[gk == kind]]),
                                minlength=C.MAX_PAGE_ORDER + 1)
    return out


def _lru_order(rows: np.ndarray, pretrace: tuple) -> np.ndarray:
    """The placed pre-trace folios (``rows`` of ``pretrace``) in the order
    they go on the LRU: the order of their frees (reclaim's at the inactive
    tail, as the machine's reclaim took them), then the folios kcompactd
    freed (``pretrace[5]``): compaction migrated them, and its free says
    nothing of a folio's age.

    MODEL: those go behind, next to the rest of the prefill's page cache
    (unseen trace t: 4,518 order-0 folios kcompactd moved in the first 0.7 s
    sat at the inactive tail, so the model's kswapd took 32 pages a batch
    where the machine's took order-9 folios, and Normal's free memory fell
    to 146k pages by 20 s against the machine's 514k)."""
    if len(pretrace) <= 5:
        return rows
    # MODEL: a migrated folio's place on the LRU is not known: behind the others
    mig = pretrace[5][rows]
    return np.concatenate([rows[~mig], rows[mig]])


def _pretrace_task_freed(ro: _ReplayOps, st: ReplayStats, handles, o, kinds, gfp, by_task,
                         nr_cpus: int) -> None:
    """The placed pre-trace folios a task (not reclaim) frees in the trace:
    their page cache starts on the active list (``place_pretrace``); their
    reclaimable slab is what the replay frees of the pre-trace slab
    (``st.pretrace_slab_task_pages``, for ``untraced.untraced_reclaimable``)."""
    act = np.flatnonzero(by_task & (kinds == C.KIND_FILE))
    ro.activate_block(handles[act], o[act], gfp[act], kinds[act] | C.CONTENT_PREFILL, nr_cpus)
    st.pretrace_active_pages = int((1 << o[act]).sum())
    slab = by_task & (kinds == C.KIND_SLAB_RECLAIMABLE)
    st.pretrace_slab_task_pages = int((1 << o[slab]).sum())


def _place_chains(ro: _ReplayOps, chains: tuple, placeholders: list, nr_cpus: int) -> int:
    """Prefill ops of the buddy chains (:func:`_hole_chains`): their
    allocated parts held as their pageblock type's content (page cache,
    reclaimable slab, kernel memory), their free chunks as placeholders
    appended to ``placeholders`` (freed after the fill).  Returns the
    allocated pages."""
    (ap, ao, am, az), (fp, fo, fm, fz) = chains
    for pfns, orders, mts, zones, hold in ((ap, ao, am, az, True), (fp, fo, fm, fz, False)):
        if not len(pfns):
            continue
        gfp, content, owner = (np.array(c, np.int64) for c in zip(
            *(_hole_alloc(ro, z, m) for z, m in zip(zones.tolist(), mts.tolist()))))
        gfp |= np.where(orders > 0, G.__GFP_COMP, 0) | (pfns << C.CONTENT_PLACED_PFN_SHIFT)
        handles = ro.alloc_block(orders, gfp, owner.astype(np.int32),
                                 np.arange(len(pfns)) % nr_cpus,
                                 content | C.CONTENT_PREFILL | C.CONTENT_PLACED)
        if not hold:
            placeholders.extend(zip(handles.tolist(), orders.tolist(), gfp.tolist(),
                                    content.tolist()))
    return int((1 << ao).sum())


def _kind_gfps(ro: _ReplayOps, amounts: dict, kinds: np.ndarray, gfp_of: np.ndarray,
               owner_of: np.ndarray) -> None:
    """The prefill gfp mask and owner of each content kind in ``kinds`` not
    yet in ``gfp_of`` / ``owner_of`` (``amounts``: :func:`_prefill_amounts`)."""
    for kind in np.unique(kinds).tolist():
        if not gfp_of[kind]:
            gfp_of[kind], owner_of[kind] = amounts[kind][2], _prefill_owner(ro, kind)


def _alloc_placed(ro: _ReplayOps, pfns: np.ndarray, orders: np.ndarray, kinds: np.ndarray,
                  gfp_of: np.ndarray, owner_of: np.ndarray, nr_cpus: int) -> tuple:
    """Prefill allocations of folios at model ``pfns`` (CONTENT_PLACED):
    (their handles, their gfp masks)."""
    gfp = gfp_of[kinds] | np.where(orders > 0, G.__GFP_COMP, 0) | \
        (pfns << C.CONTENT_PLACED_PFN_SHIFT)
    handles = ro.alloc_block(orders, gfp, owner_of[kinds], np.arange(len(pfns)) % nr_cpus,
                             kinds | C.CONTENT_PREFILL | C.CONTENT_PLACED)
    return handles, gfp


def _gaps_and_holes(taken: np.ndarray, pfns: np.ndarray, orders: np.ndarray, kinds: np.ndarray,
                    pageblock_order: int, block_types, holes: list | None, zone_spans,
                    budget: int, placed_pages: int) -> tuple:
    """The pieces placing left (:func:`_gap_pieces`) split in two, each
    (pfns, orders, kinds): those that hold content, and those that are
    free chunks of ``holes`` (:func:`_holes_from_gaps`; they leave
    ``holes``); then the buddy chains of the other free chunks in the
    pageblocks nothing was placed in (:func:`_hole_chains`: their
    allocated parts and their free chunks; they leave ``holes`` too, None
    without ``holes``).  The content pieces are the smallest that fit in
    each zone's room (what placing left free, less those free chunks, the
    chunks still to shape and their spacers) and in ``budget`` pages of
    used memory less ``placed_pages``, the chains' and the spacers."""
    gp, go, gk = _gap_pieces(taken, pfns, orders, kinds, pageblock_order)
    free = np.zeros(len(gp), bool)
    chains = None
    if holes is not None:
        free, holes[:] = _holes_from_gaps(gp, go, block_types, pageblock_order, holes, zone_spans)
        chains, chain_free, holes[:] = _hole_chains(taken, block_types, pageblock_order, holes,
                                                    zone_spans)
    hp, ho, hk = gp[free], go[free], gk[free]
    gp, go, gk = gp[~free], go[~free], gk[~free]
    reserve: dict = {}
    for z, _, order, n in holes or ():
        reserve[z] = reserve.get(z, 0) + (n << order) * (2 if order < C.MAX_PAGE_ORDER else 1)
    room = [max(0, (e - s_) - int(taken[s_:e].sum()) - int((1 << ho[(hp >= s_) & (hp < e)]).sum())
                - reserve.get(z, 0)) for z, (s_, e) in enumerate(zone_spans)]
    spacers = sum(n << order for _, _, order, n in holes or () if order < C.MAX_PAGE_ORDER)
    chain_pages = int((1 << chains[1]).sum()) if chains is not None else 0
    keep = _smallest_within(gp, go, zone_spans, room,
                            budget - min(spacers, budget // 2) - placed_pages - chain_pages)
    return (gp[keep], go[keep], gk[keep]), (hp, ho, hk), \
        (chains, chain_free) if chains is not None else None


def _chains(need: np.ndarray) -> list:
    """The buddy chains that make ``need[o]`` free chunks of each order o:
    (top, bottom) each, a region of order top + 1 whose upper half is a free
    chunk of order top, the upper half of its lower half one of order
    top - 1, and so on down to ``bottom``; the lowest 2^bottom pages stay
    allocated, so no chunk's buddy is free and none merges.  One allocated
    page keeps free chunks of orders 0 to 8 apart, where a spacer per chunk
    would take as much as the chunks.  A MAX_PAGE_ORDER chunk has no buddy:
    (top, top) with a region of its own order and nothing allocated."""
    need = need.astype(np.int64).copy()
    out = []
    while need.any():
        top = int(np.flatnonzero(need)[-1])
        bottom = top
        if top < C.MAX_PAGE_ORDER:
            while bottom > 0 and need[bottom - 1] > 0:
                bottom -= 1
        k = int(need[bottom:top + 1].min())
        out += [(top, bottom)] * k
        need[bottom:top + 1] -= k
    return out


def _hole_chains(taken: np.ndarray, block_types: np.ndarray, pageblock_order: int,
                 holes: list, zone_spans) -> tuple:
    """The free chunks of ``holes`` ((zone, migratetype, order, count)) laid
    out as buddy chains (:func:`_chains`) in the zone's pageblocks of that
    type that nothing was placed in (``taken``), spread evenly over them.
    Returns ((pfns, orders, migratetypes, zones) of the chains' allocated
    parts, the same of their free chunks, the holes left for want of
    room); marks the chains' regions in ``taken``.

    MODEL: where in the zone the machine's free chunks lay the snapshots do
    not say (a kpageflags map would); between the folios the trace frees
    they are the pieces placing leaves (:func:`_holes_from_gaps`), the
    rest are here."""
    # MODEL: the free chunks' places are chosen (see above)
    pb = 1 << pageblock_order
    alloc, free, left = [], [], []
    groups: dict = {}
    for z, mt, order, n in holes:
        groups.setdefault((z, mt), np.zeros(C.MAX_PAGE_ORDER + 1, np.int64))[order] += n
    nb = len(taken) // pb
    used = taken[:nb * pb].reshape(nb, pb).any(axis=1)
    for (z, mt), need in groups.items():
        ms, me = zone_spans[z]
        cand = np.arange(-(-ms // pb), me // pb)
        cand = cand[(block_types[cand] == mt) & ~used[cand]]
        chains = _chains(need)
        pairs = [c for c in chains if c[0] >= pageblock_order]       # regions of two blocks
        singles = sorted((c for c in chains if c[0] < pageblock_order), key=lambda c: -c[0])
        # aligned pairs of candidate blocks, spread evenly, for the two-block regions
        even = cand[(cand % 2 == 0) & np.isin(cand + 1, cand)]
        if len(even) > len(pairs):
            even = even[np.linspace(0, len(even) - 1, len(pairs)).round().astype(np.int64)]
        regions = [(int(b) * pb, c) for b, c in zip(even, pairs)]
        left += [(z, mt, o, 1) for c in pairs[len(even):] for o in range(c[1], c[0] + 1)]
        rest = cand[~np.isin(cand, np.concatenate([even, even + 1]))]
        want = -(-sum(2 << c[0] for c in singles) // pb)
        if len(rest) > want:
            rest = rest[np.linspace(0, len(rest) - 1, want).round().astype(np.int64)]
        cursor, bi = 0, 0
        for top, bottom in singles:
            # largest first: each region lands aligned after the one before it
            if cursor + (2 << top) > pb:
                cursor, bi = 0, bi + 1
            if bi >= len(rest):
                left += [(z, mt, o, 1) for o in range(bottom, top + 1)]
                continue
            regions.append((int(rest[bi]) * pb + cursor, (top, bottom)))
            cursor += 2 << top
        for base, (top, bottom) in regions:
            if top >= C.MAX_PAGE_ORDER:
                taken[base:base + (1 << top)] = True
                free.append((base, top, mt, z))
                continue
            taken[base:base + (2 << top)] = True
            free += [(base + (1 << o), o, mt, z) for o in range(bottom, top + 1)]
            alloc.append((base, bottom, mt, z))
    as_cols = lambda rows: tuple(np.array(c, np.int64) for c in zip(*rows)) if rows else \
        tuple(np.zeros(0, np.int64) for _ in range(4))  # noqa: E731
    return as_cols(alloc), as_cols(free), left


def _gap_pieces(taken: np.ndarray, pfns: np.ndarray, orders: np.ndarray, kinds: np.ndarray,
                pageblock_order: int) -> tuple:
    """(pfns, orders, kinds) of the free pieces placing left in the
    pageblocks it used in part (``taken``; blocks holding no placed folio
    left out): buddy-aligned chunks below pageblock order, each as large as
    it fits (so its buddy is not free), each holding what most of its
    pageblock's placed folios (``pfns``, ``orders``, ``kinds``; by pages)
    hold.  Smallest first, then by pfn.

    MODEL: the machine held something there the trace never freed (its
    buddyinfo has no such free pieces); what, the placed neighbours say."""
    # MODEL: the pieces' content is their pageblock's placed folios' (see above)
    pb = 1 << pageblock_order
    nb = len(taken) // pb
    t = taken[:nb * pb].reshape(nb, pb)
    used = t.sum(axis=1)
    # each pageblock's content: its placed folios' kind with the most pages
    by_block = np.zeros((nb, C.NR_KINDS), np.int64)
    np.add.at(by_block, (pfns >> pageblock_order, kinds.astype(np.int64)), 1 << orders)
    blocks = np.flatnonzero((used > 0) & (used < pb) & (by_block.sum(axis=1) > 0))
    if not len(blocks):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8)
    free = ~t[blocks]
    got_p, got_o = [], []
    for o in range(pageblock_order - 1, -1, -1):
        groups = free.reshape(len(blocks), pb >> o, 1 << o)
        bi, gi = np.nonzero(groups.all(axis=2))
        if len(bi):
            got_p.append(blocks[bi] * pb + (gi << o))
            got_o.append(np.full(len(bi), o, np.int64))
            groups[bi, gi, :] = False
    gp, go = np.concatenate(got_p), np.concatenate(got_o)
    order = np.lexsort((gp, go))                      # smallest first, then by pfn
    gp, go = gp[order], go[order]
    return gp, go, by_block[gp >> pageblock_order].argmax(axis=1).astype(np.uint8)


def _smallest_within(gp: np.ndarray, go: np.ndarray, zone_spans, room, budget: int) -> np.ndarray:
    """Which pieces (in their order) fit in ``room[z]`` pages of zone ``z``
    and ``budget`` pages in all: a bool each."""
    keep = np.zeros(len(gp), bool)
    if budget <= 0:
        return keep
    for z, (s_, e) in enumerate(zone_spans):
        inz = np.flatnonzero((gp >= s_) & (gp < e))
        keep[inz[np.cumsum(1 << go[inz]) <= room[z]]] = True
    sel = np.flatnonzero(keep)
    keep[sel[np.cumsum(1 << go[sel]) > budget]] = False
    return keep


def _holes_from_gaps(gp: np.ndarray, go: np.ndarray, block_types: np.ndarray,
                     pageblock_order: int, holes: list, zone_spans) -> tuple:
    """The free chunks of ``holes`` ((zone, migratetype, order, count), from
    :func:`free_chunk_targets`) that placing's free pieces (``gp``, ``go``:
    :func:`_gap_pieces`) can be: a piece of the chunk's order in a pageblock
    of its type, spread evenly over the zone's such pieces.  A piece is as
    large as it fits, so freed it stays that order, as the machine's free
    chunk did between the folios it held.  Returns (a bool per piece: it is
    a free chunk; the holes still to shape, counts reduced)."""
    use = np.zeros(len(gp), bool)
    left = []
    mt = block_types[gp >> pageblock_order] if len(gp) else np.zeros(0, np.uint8)
    for z, t, order, n in holes:
        s_, e = zone_spans[z]
        cand = np.flatnonzero((go == order) & (mt == t) & (gp >= s_) & (gp < e) & ~use) \
            if order < pageblock_order else np.zeros(0, np.int64)
        k = min(n, len(cand))
        if k:
            use[cand[np.linspace(0, len(cand) - 1, k).round().astype(np.int64)]] = True
        if n - k:
            left.append((z, t, order, n - k))
    return use, left


#: a compaction pass says whether its zone started skip-marked when it
#: crossed at least this many pageblocks (of the machine's) ...
SKIP_EVIDENCE_BLOCKS = 64
#: ... and it did when the pass scanned less than this share of the pages it crossed
SKIP_EVIDENCE_SCANNED = 0.5
#: initial_skip_blocks(): a pageblock starts skip-marked whatever its type ...
SKIP_MARKED = 1
#: ... or only if it starts MOVABLE (the only blocks a free scanner, or an async
#: direct compaction's migrate scanner, looks at the mark of)
SKIP_MARKED_IF_MOVABLE = 2


def _model_offset(pfns, start: int, present: int, ms: int, me: int) -> np.ndarray:
    """Machine pfns of a zone (``start``, ``present`` pages) at the model
    zone ``[ms, me)``: the same offset, scaled down to a smaller model (see
    :func:`machine_to_model_pfn`)."""
    scale = min(1.0, (me - ms) / max(present, 1))
    return ms + np.floor((np.asarray(pfns, np.int64) - start) * scale).astype(np.int64)


def _zone_blocks(ranges, start: int, present: int, ms: int, me: int, pb: int,
                 n: int) -> np.ndarray:
    """A bool per model pageblock (``n``): the blocks of machine pfn ranges
    [lo, hi) of a zone (``start``, ``present`` pages) at the model zone
    ``[ms, me)`` (pageblocks of ``pb`` pages)."""
    out = np.zeros(n, bool)
    if not len(ranges):
        return out
    r = np.asarray(ranges, np.int64).reshape(-1, 2)
    a = _model_offset(r[:, 0], start, present, ms, me)
    b = _model_offset(np.maximum(r[:, 1] - 1, r[:, 0]), start, present, ms, me)
    first = np.maximum(a, ms) // pb
    end = np.minimum(b, me - 1) // pb + 1
    # each range as the slice first:end would be (a negative end counts from the top)
    first, end = (np.clip(np.where(x < 0, x + n, x), 0, n) for x in (first, end))
    d = np.zeros(n + 1, np.int64)
    np.add.at(d, first, 1)
    np.add.at(d, np.maximum(end, first), -1)
    return np.cumsum(d[:-1]) > 0


def initial_skip_blocks(passes: dict | None, layout: dict | None, zone_spans, nr_pages: int,
                        pageblock_order: int, st: ReplayStats) -> np.ndarray | None:
    """Compaction's pageblock skip bits at the start of a replay, from the
    trace's compaction passes in each zone (``passes``:
    :func:`~.trace.compaction_passes`; ``layout``: the machine's zones,
    ``Snapshot.zone_layout``).  A pass that crossed at least
    :data:`SKIP_EVIDENCE_BLOCKS` pageblocks and scanned less than
    :data:`SKIP_EVIDENCE_SCANNED` of the pages it crossed found them marked:
    each pageblock starts marked if the first such pass to cross it did so
    without scanning it and no pass had scanned it before (those had no
    mark).  Only a sync pass's migrate scanner looks at every block's mark;
    a free scanner passes over a block that is not MOVABLE, or is wholly
    free, without looking (suitable_migration_target()), and so does an
    async direct compaction's migrate scanner over one of another type
    (suitable_migration_source(); taken as MOVABLE, the type of the
    readaheads and THP faults that compact): what such a crossing tells is
    :data:`SKIP_MARKED_IF_MOVABLE`, decided once the start's block types are
    set (:func:`~defragsim.sim.loop.initial_skip_marks`).  An int8 per model
    pageblock, 0 or :data:`SKIP_MARKED` or :data:`SKIP_MARKED_IF_MOVABLE`
    (None when no zone says so); ``st.initial_skip`` says, per zone, how
    many were marked, what the first such pass crossed and scanned, and how
    many such passes told.

    MODEL: the model starts without compaction history.  The kernel's
    isolate_migratepages_block() and isolate_freepages() mark each pageblock
    they finish scanning (set_pageblock_skip()/update_pageblock_skip()), and
    the marks stay until __reset_isolation_suitable() after a direct
    compaction's full pass (compact_blockskip_flush) or a restart after the
    deferrals: a machine that compacted before the trace began with most
    blocks marked.  In both shipped traces the first pass crossed the whole of
    Normal scanning 0.9% (b) and 2.4% (c) of it."""
    # MODEL: skip bits a pre-trace compaction left, from the trace's passes (see above)
    if not passes or layout is None or zone_spans is None:
        return None
    pb = 1 << pageblock_order
    skip = np.zeros(nr_pages >> pageblock_order, np.int8)
    found = False
    for z, (ms, me) in enumerate(zone_spans):
        name = C.ZONE_NAMES[z]
        if me <= ms or name not in layout or layout[name][0] not in passes:
            continue
        start, _, present = layout[name]

        def blocks(ranges) -> np.ndarray:
            return _zone_blocks(ranges, start, present, ms, me, pb, len(skip))
        decided, scanned = (np.zeros(len(skip), bool) for _ in range(2))
        mark = np.zeros(len(skip), np.int8)
        told = []
        for ps in passes[start]:
            scanned |= blocks(ps.scanned)
            if ps.crossed_pages < SKIP_EVIDENCE_BLOCKS << C.PAGEBLOCK_ORDER_DEFAULT or \
                    ps.scanned_pages >= SKIP_EVIDENCE_SCANNED * ps.crossed_pages:
                continue
            crossed = blocks(ps.crossed)
            untyped = blocks(ps.untyped)
            # a block's first crossing tells, unless a pass had scanned it by then;
            # a scanner that takes only MOVABLE blocks tells of those alone
            new = crossed & ~decided & ~scanned
            mark[new & untyped] = SKIP_MARKED
            mark[new & ~untyped] = SKIP_MARKED_IF_MOVABLE
            decided |= crossed
            told.append(ps)
        if not told:
            continue
        skip[mark != 0] = mark[mark != 0]
        found = True
        st.initial_skip[name] = (int(np.count_nonzero(mark)), told[0].crossed_pages,
                                 told[0].scanned_pages, len(told))
    return skip if found else None


def _initial_skip(path, snapshot: Snapshot | None, zone_spans, nr_pages: int,
                  pageblock_order: int, st: ReplayStats, meta: dict) -> None:
    """``meta["initial_block_skip"]``, ``meta["initial_compaction_defer"]``
    and ``meta["initial_compaction_cached"]`` of a replay with a snapshot,
    from the trace's compaction events (``other_events.csv`` beside a CSV
    trace, a text trace's own lines: :func:`initial_skip_blocks`,
    :func:`initial_defer_state`, :func:`initial_cached_positions`)."""
    if snapshot is None:
        return
    skip = initial_skip_blocks(compaction_passes(path), snapshot.zone_layout(), zone_spans,
                               nr_pages, pageblock_order, st)
    if skip is not None:
        meta["initial_block_skip"] = skip
    defer = initial_defer_state(compaction_defer_states(path), st)
    if defer:
        meta["initial_compaction_defer"] = defer
    cached = initial_cached_positions(compaction_start_positions(path), snapshot.zone_layout(),
                                      zone_spans, st)
    if cached:
        meta["initial_compaction_cached"] = cached


def initial_cached_positions(starts: dict | None, layout: dict | None, zone_spans,
                             st: ReplayStats) -> dict:
    """Where compaction's scanners start in each model zone at the start of
    a replay (``starts``: :func:`~.trace.compaction_start_positions`, machine
    pfns by zone start; ``layout``: ``Snapshot.zone_layout``): ``{model
    zone: (migrate_pfn, free_pfn)}``, the machine's offsets into the zone
    at the model's zone (:func:`_model_offset`); ``st.initial_cached``
    names them.  Both compact_cached_migrate_pfn[] take the one value: the
    kernel sets them together (reset_cached_positions(),
    __reset_isolation_suitable()) and keeps them together until a pass finds
    a block to isolate from (compact_zone()'s update_cached).

    MODEL: the model starts without compaction history; the kernel's zones
    keep the positions the passes and resets before the trace left (b's
    Normal started 15,360 pfns into the zone, d's free scanner near the
    middle, e's two scanners met at the middle: a
    __reset_isolation_suitable() that found no free block to restart at).
    Started at the zone's ends, the model's first passes scanned what the
    machine's did not."""
    # MODEL: scanner positions a pre-trace history left, from the trace's first pass (see above)
    out = {}
    if not starts or layout is None or zone_spans is None:
        return out
    for z, name in enumerate(C.ZONE_NAMES):
        ms, me = zone_spans[z]
        if me <= ms or name not in layout or layout[name][0] not in starts:
            continue
        start, _, present = layout[name]
        migrate, free = (int(x) for x in _model_offset(starts[start], start, present, ms, me))
        if ms <= migrate < me and ms <= free < me:
            out[z] = (migrate, free)
            st.initial_cached[name] = (migrate - ms, free - ms)
    return out


def start_free_blocks(win, snapshot: Snapshot, zone_spans, pageblock_order: int,
                      st: ReplayStats) -> dict:
    """``{model zone: pageblocks}``: the free pageblocks a zone had when the
    trace began beyond those its snapshot shows.  Before the machine first
    ran short (``win``: :class:`~.trace.StartWindow`), every allocation of
    a pageblock or more was served without waking kswapd; a block it took
    that no free of the window touched was free when the trace began.  The
    zone had at least that many free blocks; its snapshot's free chunks of
    pageblock order or more are subtracted.  ``st.start_free_blocks`` names
    them (machine blocks; the prefill scales them to the model).

    MODEL: the snapshot is older than the trace (e: by 2.9 s) and the
    machine reclaimed in between; the extra blocks come out of the page
    cache."""
    layout = snapshot.zone_layout()
    pti = snapshot.pagetypeinfo_table()
    if win is None or layout is None or pti is None or zone_spans is None:
        return {}
    out = {}
    touched = _pageblocks(win.free_pfns, win.free_orders, pageblock_order)
    for z, name in enumerate(C.ZONE_NAMES):
        if name not in layout or name not in pti or zone_spans[z][1] <= zone_spans[z][0]:
            continue
        _, blocks = _window_zone_allocs(win, layout[name], pageblock_order)
        took = len(blocks - touched)
        had = _free_blocks(pti[name], pageblock_order, None)
        if took > had:
            out[z] = took - had
            st.start_free_blocks[name] = (len(blocks), took, had, took - had,
                                          win.until_ns - win.t0_ns)
    return out


def spent_free_blocks(win, snapshot: Snapshot, zone_spans, pageblock_order: int,
                      st: ReplayStats) -> dict:
    """``{model zone: pageblocks}``: the snapshot's free pageblocks the
    machine had spent when the trace began.  The snapshot is taken before
    the recorder starts (the shipped tools: 0.18-0.28 s before the trace's
    first event), and the workload allocates meanwhile.

    The window (:class:`~.trace.StartWindow`) can end in two ways that
    bound the free blocks a zone had then:

    - a request of pageblock order or more failed the fast path
      (``shortage_order``): each zone whose free pages were above its low
      watermark plus its lowmem protection had no free chunk of that order
      (``__zone_watermark_ok()``'s order check: any free chunk of a pcp
      type would have passed); a zone that stays above that watermark with
      the spent blocks removed is the one this holds for;
    - a MOVABLE request of pageblock order or more fell back to another
      type's chunk (``fallback``, mm_page_alloc_extfrag): ``__rmqueue()``
      tries ``__rmqueue_smallest()`` first, so the zone of that pfn had no
      MOVABLE chunk of that order; the bound is on its MOVABLE chunks.

    Either way every such free block the zone had at the start was taken by
    the window's allocations of pageblock order or more: it had at most as
    many as they took, and the snapshot's beyond that are removed.

    MODEL: an allocation below pageblock order that split a free block in
    the window is not counted (the buddy allocator splits the smallest
    chunk first; the window has no fallback before its end), so the bound
    holds while the zone has smaller chunks of the allocation's type; the
    removed blocks become page cache, as the pageblock-order allocations of
    the shipped traces' first seconds are readahead."""
    layout = snapshot.zone_layout()
    pti = snapshot.pagetypeinfo_table()
    if win is None or layout is None or pti is None or zone_spans is None:
        return {}
    wm = snapshot.zone_watermarks() if win.shortage_order >= pageblock_order else None
    out = {}
    for z, name in enumerate(C.ZONE_NAMES):
        if name not in layout or name not in pti or zone_spans[z][1] <= zone_spans[z][0]:
            continue
        start, spanned, _ = layout[name]
        a, blocks = _window_zone_allocs(win, layout[name], pageblock_order)
        took = len(blocks)
        if win.shortage_order >= pageblock_order:
            spent = _spent_at_shortage(win, pti[name], layout[name], (wm or {}).get(name), a,
                                       took, pageblock_order)
        elif win.fallback is not None and win.fallback[1] >= pageblock_order \
                and win.fallback[2] == C.MIGRATE_MOVABLE \
                and start <= win.fallback[0] < start + spanned:
            spent = _free_blocks(pti[name], pageblock_order, ("Movable",)) - took
        else:
            continue
        if spent > 0:
            out[z] = spent
            fell_back = win.shortage_order < pageblock_order
            st.spent_free_blocks[name] = (
                _free_blocks(pti[name], pageblock_order, ("Movable",) if fell_back else
                             ("Unmovable", "Movable", "Reclaimable")),
                took, spent, win.until_ns - win.t0_ns,
                win.fallback[1] if fell_back else win.shortage_order, fell_back)
    return out


def _window_zone_allocs(win, zone_layout: tuple, pageblock_order: int) -> tuple:
    """``(rows, blocks)`` of a start window's allocations in a zone (its
    ``(start_pfn, spanned, present)``): which of them lie there, and the
    pageblocks those of pageblock order or more took.  MODEL: only those
    take free blocks (see :func:`spent_free_blocks`)."""
    start, spanned, _ = zone_layout
    a = (win.alloc_pfns >= start) & (win.alloc_pfns < start + spanned)
    # MODEL: an allocation below pageblock order takes no free block
    big = a & (win.alloc_orders >= pageblock_order)
    return a, _pageblocks(win.alloc_pfns[big], win.alloc_orders[big], pageblock_order)


def _free_blocks(pti_zone: dict, pageblock_order: int,
                 types=("Unmovable", "Movable", "Reclaimable")) -> int:
    """Free pageblocks in a zone's pagetypeinfo rows of ``types`` (None:
    every row): its free chunks of pageblock order or more."""
    return sum(n << (o - pageblock_order) for t, counts in pti_zone["free"].items()
               if types is None or t in types
               for o, n in enumerate(counts) if o >= pageblock_order)


def _spent_at_shortage(win, pti_zone: dict, zone_layout: tuple, wm: tuple | None,
                       a: np.ndarray, took: int, pageblock_order: int) -> int:
    """The free blocks a zone (its pagetypeinfo rows ``pti_zone``, its
    ``(start_pfn, spanned, present)``, its before.zoneinfo ``wm``) had spent
    by the trace's start when a request of ``win.shortage_order`` failed the
    fast path at the window's end (:func:`spent_free_blocks`): the
    snapshot's beyond the ``took`` the window's allocations (``a``: theirs in
    the zone) took, if the zone stays above its low watermark plus
    protection without them; else 0."""
    if wm is None:
        return 0
    spent = _free_blocks(pti_zone, pageblock_order) - took
    if spent <= 0:
        return 0
    start, spanned, _ = zone_layout
    f = (win.free_pfns >= start) & (win.free_pfns < start + spanned)
    free, _, low, _, protection = wm
    at_end = free - (spent << pageblock_order) - int((1 << win.alloc_orders[a]).sum()) \
        + int((1 << win.free_orders[f]).sum())
    if at_end <= low + max(protection, default=0) + (1 << win.shortage_order):
        return 0
    return spent


def _pageblocks(pfns: np.ndarray, orders: np.ndarray, pageblock_order: int) -> set:
    """The pageblocks the chunks (``pfns``, ``orders``) lie in."""
    out = set()
    for pfn, order in zip(pfns.tolist(), orders.tolist()):
        first = pfn >> pageblock_order
        out.update(range(first, first + (1 << max(order - pageblock_order, 0))))
    return out


def _initial_memcgs(path, st: ReplayStats, meta: dict) -> None:
    """``meta["initial_memcg_pages"]``: the memcgs that held LRU pages on
    the traced machine, in walk order, the root first, with their pages,
    from kswapd's first walk in the trace's vmscan events
    (:func:`~.trace.memcg_walk`).  On a machine where each command runs in
    a cgroup of its own, nearly all page cache sits in the workload's, and
    a direct reclaimer's partial walk (shrink_node_memcgs()) often scans
    only the small ones after it.

    ``meta["initial_memcg_lru_pages"]``: the pages on each of their LRU
    lists (inactive anon, active anon, inactive file, active file) as that
    walk scanned them: a memcg's active pages show only if the walk
    deactivated (in a 6.18 trace recorded as d_pressure_dm0 was, eleven of
    the thirteen memcgs held only active page cache, which its direct
    reclaim never scanned).

    MODEL: which memcg a pre-trace folio was charged to is not recorded;
    the prefill's folios on each LRU list are spread over the memcgs in
    proportion to that list's pages in each (to their LRU pages for a list
    the walk did not scan), and the trace's folios are charged to the
    largest (the workload's).  A memcg too small for kswapd to scan at the
    walk's priority is left out (its pages stay with the root); every memcg
    is taken to be online."""
    # MODEL: the memcgs' sizes from kswapd's first walk; all online; each list's folios spread
    # in proportion to that list's pages in each memcg
    walk = memcg_walk(path)
    if walk is None or len(walk.requested) < 2:
        return
    pages, lists = walk.pages, walk.list_pages
    if len(pages) > C.MAX_MEMCGS:      # the smallest merged into the root
        keep = sorted(np.argsort(pages[1:])[::-1][:C.MAX_MEMCGS - 1] + 1)
        gone = [i for i in range(1, len(pages)) if i not in keep]
        pages = [pages[0] + sum(pages[i] for i in gone)] + [pages[i] for i in keep]
        lists = [np.sum([lists[i] for i in [0] + gone], axis=0).tolist()] + \
            [lists[i] for i in keep]
    meta["initial_memcg_pages"] = pages
    meta["initial_memcg_lru_pages"] = lists
    st.memcgs = list(pages)


def _initial_kcompactd(path, st: ReplayStats, meta: dict) -> None:
    """``meta["initial_kcompactd_timeout_ns"]``: kcompactd's first wait ends
    when the traced machine's did (:func:`~.trace.kcompactd_first_timeout`),
    so its proactive checks fall where the machine's did between kswapd's
    rounds (without it the model's kcompactd waits from its first op, in
    the prefill).  ``meta["initial_kcompactd_request"]``: (order, model
    highest zone) of a request pending when the trace began
    (:func:`~.trace.kcompactd_pending_request`), which that first wait
    ends with: kcompactd_do_work(), where a zone's deferral counts the
    attempt (compaction_deferred()), not a proactive check."""
    t = kcompactd_first_timeout(path)
    if t is not None and t >= 0:
        meta["initial_kcompactd_timeout_ns"] = t
        st.kcompactd_first_timeout_ns = t
    pending = kcompactd_pending_request(path)
    if pending is not None:
        order, kernel_zone = pending
        # MODEL: the model's zones are the kernel's DMA32 and Normal (DMA in DMA32, Movable in Normal)
        z = min(max(kernel_zone - KERNEL_ZONE_IDX[C.ZONE_NAMES[0]], 0), len(C.ZONE_NAMES) - 1)
        meta["initial_kcompactd_request"] = (order, z)
        st.kcompactd_pending = (order, C.ZONE_NAMES[z])


def _initial_from_other_events(path, snapshot: Snapshot | None, zone_spans,
                               nr_pages: int, pageblock_order: int, st: ReplayStats,
                               meta: dict) -> None:
    """What the trace's other events (``other_events.csv`` beside a CSV
    trace, a text trace's own reclaim and compaction lines) say of the start:
    compaction's skip bits, deferral and scanner positions
    (:func:`_initial_skip`), the memcgs
    (:func:`_initial_memcgs`), kcompactd's first wait
    (:func:`_initial_kcompactd`)."""
    _initial_skip(path, snapshot, zone_spans, nr_pages, pageblock_order, st, meta)
    _initial_memcgs(path, st, meta)
    _initial_kcompactd(path, st, meta)


def initial_defer_state(states: dict | None, st: ReplayStats) -> dict:
    """Compaction's deferral state of each model zone at the start of a
    replay (``states``: :func:`~.trace.compaction_defer_states`, by the
    kernel's zone index): ``{model zone: (considered, defer_shift,
    order_failed)}``; ``st.initial_defer`` names them.

    MODEL: the model starts without compaction history; the kernel's zones
    carry compact_considered/compact_defer_shift/compact_order_failed from
    the failures before the trace (b's Normal started at shift 5, e's at 4):
    started at 0, the model ran the direct compactions the kernel deferred."""
    # MODEL: deferral state a pre-trace history left, from the trace's events (see above)
    out = {}
    for z, name in enumerate(C.ZONE_NAMES):
        k = KERNEL_ZONE_IDX.get(name)
        if states and k in states:
            out[z] = tuple(int(x) for x in states[k])
            st.initial_defer[name] = out[z]
    return out


def _prefill_owner(ro: _ReplayOps, content: int) -> int:
    """Who holds prefilled ``content``: pre-trace tasks (anon), the page cache, the kernel."""
    if content == C.KIND_ANON:
        if ro.pre_owner is None:
            ro.pre_owner = ro.new_owner(C.OWNER_TASK, "pre-trace tasks")
        return ro.pre_owner
    return ro.PAGE_CACHE if content == C.KIND_FILE else ro.KERNEL


def _folio_mix(pages: int, order: int, hist) -> list:
    """``pages`` of prefill as [(order, folios)]: of ``order``, or (``hist``:
    folios by order) in the proportions of pages that ``hist`` shows,
    largest first, when it has 100 folios or more."""
    if hist is None or hist.sum() < 100:
        return [(order, pages >> order)]
    w = np.array([k << o for o, k in enumerate(hist)], np.float64)
    out = []
    for o in range(len(hist) - 1, -1, -1):
        if w[o]:
            out.append((o, int(pages * w[o] / w.sum()) >> o))
    return out


def _hole_alloc(ro: _ReplayOps, z: int, mt: int) -> tuple:
    """(gfp, content, owner) of the prefill allocations that shape a free
    chunk of migratetype ``mt`` in zone ``z`` (placeholders, spacers, the
    allocated parts of buddy chains)."""
    content = _HOLE_CONTENT[mt]
    return (_HOLE_GFP[mt] | (G.__GFP_DMA32 if z == C.ZONE_DMA32 else 0), content,
            ro.PAGE_CACHE if content == C.KIND_FILE else ro.KERNEL)


def _prefill_holes(ro: _ReplayOps, st: ReplayStats, holes: list, budget: int) -> tuple:
    """Free chunks as the machine had them: each becomes a placeholder
    allocation paired with its buddy (a "spacer" of the same order and type
    that stays allocated as page cache or slab); the placeholders are freed
    after the fill, so they cannot merge.  A MAX_PAGE_ORDER chunk has no
    buddy to keep: its placeholder only keeps the fill out of it, so that
    each zone keeps the free chunks its buddyinfo shows.  Returns
    (placeholders, budget left)."""
    placeholders = []
    # spacers are used memory: at most half of it, so the meminfo amounts
    # stay close
    spacer_budget = budget // 2
    for z, mt, order, count in holes:
        gfp, content, owner = _hole_alloc(ro, z, mt)
        spacer = order < C.MAX_PAGE_ORDER
        for _ in range(count):
            if spacer and (spacer_budget < (1 << order) or budget < (2 << order)):
                break
            pre = content | C.CONTENT_PREFILL
            placeholders.append((ro.alloc(order, gfp, owner, 0, pre), order, gfp, content))
            if spacer:
                spacer_budget -= 1 << order
                ro.alloc(order, gfp, owner, 0, pre)        # the spacer: used memory
                budget -= 1 << order
                st.spacer_pages += 1 << order
    return placeholders, budget


#: the kernel threads whose frees are reclaim or compaction the model does itself
_RECLAIM_COMM = re.compile(r"(kswapd|kcompactd)\d+$")


def reclaim_frees(pid: np.ndarray, t_ns: np.ndarray, ev: np.ndarray, comm: dict, windows,
                  t0_ns: int, reclaim_pids: set | None = None,
                  migration: bool = False) -> np.ndarray:
    """Which page events are reclaim's frees: 1 by a kernel reclaim or
    compaction thread (kswapdN, kcompactdN, by ``comm``), 2 by a task inside
    its direct reclaim (``windows``: :func:`~.trace.direct_reclaim_windows`,
    on the trace file's clock; ``t_ns`` counts from ``t0_ns``), 0 otherwise.
    ``reclaim_pids`` gathers the daemons' pids across chunks.  With
    ``migration``, kcompactd's are 3 (compaction frees the pages it
    migrated from: the folio lives on elsewhere)."""
    # MODEL: reclaim's frees are the model's own reclaim's work: by comm
    # for the daemons, by the recorded direct reclaim windows for tasks
    pids = set() if reclaim_pids is None else reclaim_pids
    for p in np.unique(pid).tolist():
        if _RECLAIM_COMM.match(comm.get(p, "")):
            pids.add(p)
    out = np.zeros(len(pid), np.int8)
    if windows:
        frees = np.flatnonzero(ev == EV_FREE)
        fp = pid[frees]
        for p in np.intersect1d(np.unique(fp), np.fromiter(windows, np.int64)).tolist():
            rows = frees[fp == p]
            begin, end = windows[p]
            t = t_ns[rows] + t0_ns
            i = np.searchsorted(begin, t, side="right") - 1
            inside = (i >= 0) & (t <= end[np.maximum(i, 0)])
            out[rows[inside]] = 2
    if pids:
        out[np.isin(pid, np.fromiter(pids, np.int64))] = 1
        if migration:
            kc = [p for p in pids if comm.get(p, "").startswith("kcompactd")]
            if kc:
                out[np.isin(pid, np.asarray(kc, np.int64))] = 3
    return out


#: MODEL: a task's readahead allocations less than this apart belong to one
#: window (page_cache_ra_order() allocates a window's folios back to back:
#: 3-30 us apart in the shipped traces, windows about 26 ms apart)
RA_WINDOW_GAP_NS = 1_000_000
#: readahead_gfp_mask() adds __GFP_NORETRY (a module name: a class body would mangle it)
_GFP_NORETRY = G.__GFP_NORETRY
#: a task's order-0 readahead allocations less than this apart are taken one
#: after the other by page_cache_ra_unbounded() (the shipped traces: a
#: window's 512-2,048 order-0 folios at 0.3-3.4 us medians)
RA_FOLIO_GAP_NS = 20_000
#: the pace's histogram bins (ns)
_PACE_BIN_NS = 10


class ReadaheadPace:
    """A replay's Config.readahead_folio_ns from its trace: the median time
    between a task's consecutive order-0 readahead allocations (page cache
    with __GFP_NORETRY, successful) less than :data:`RA_FOLIO_GAP_NS` apart.
    Fed a chunk at a time (:meth:`add`); each task's last allocation carries
    over to the next chunk."""

    #: fewer gaps than this: no pace (the model's default)
    MIN_GAPS = 100

    def __init__(self):
        self._last: dict = {}
        self._hist = np.zeros(RA_FOLIO_GAP_NS // _PACE_BIN_NS, np.int64)
        self._content: dict = {}

    def add(self, t_ns, ev, pid, order, pfn, gfp) -> None:
        """Take the next chunk's events (:class:`~.trace.ParsedTrace` columns)."""
        rows = np.flatnonzero((ev == EV_ALLOC) & (order == 0) & (pfn >= 0)
                              & ((gfp & _GFP_NORETRY) != 0))
        if not len(rows):
            return
        masks, which = np.unique(gfp[rows], return_inverse=True)
        file = np.array([self._content.setdefault(g, content_of(g)) == C.KIND_FILE
                         for g in masks.tolist()], bool)[which]
        rows = rows[file]
        p, t = pid[rows].astype(np.int64), t_ns[rows].astype(np.int64)
        idx = np.lexsort((t, p))
        p, t = p[idx], t[idx]
        first = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        last = np.r_[first[1:] - 1, len(p) - 1]
        prev = np.r_[-1, t[:-1]]
        prev[first] = [self._last.get(int(x), -1) for x in p[first].tolist()]
        gaps = (t - prev)[prev >= 0]
        gaps = gaps[(gaps >= 0) & (gaps < RA_FOLIO_GAP_NS)]
        self._hist += np.bincount(gaps // _PACE_BIN_NS, minlength=len(self._hist))
        self._last.update(zip(p[last].tolist(), t[last].tolist()))

    def ns(self) -> int | None:
        """The median gap (ns), None with fewer than :attr:`MIN_GAPS` gaps."""
        n = int(self._hist.sum())
        if n < self.MIN_GAPS:
            return None
        b = int(np.searchsorted(np.cumsum(self._hist), (n + 1) // 2))
        return b * _PACE_BIN_NS + _PACE_BIN_NS // 2


class TraceOps:
    """Traced page events to ops, a chunk at a time, the same whatever the
    chunks: the pfn -> live handle map, the handles (:func:`trace_ops` reuses
    freed ones), the owners (the kernel, the page cache, a task per pid of an
    anon allocation in the order the tasks first allocate) and the
    :class:`ReplayStats` counters carry over from chunk to chunk.

    A free of a folio allocated before the trace frees what the prefill
    placed there (:func:`place_pretrace`, seeded into the pfn map); one the
    prefill could not place (no snapshot, or no room in a smaller model) is
    counted and not replayed.  Each op runs on the cpu the trace recorded
    (modulo the model's cpus).  MODEL: a request that failed in the kernel is
    replayed and given back at once if the model serves it, except a
    readahead folio: its window follows the model's outcomes
    (:func:`_readahead_marks`, ``driver.readahead_op``)."""

    def __init__(self, ro: _ReplayOps, st: ReplayStats, nr_cpus: int, end_ns: int = -1,
                 windows: dict | None = None, trace: ParsedTrace | None = None):
        self.ro, self.st, self.nr_cpus, self.end_ns = ro, st, nr_cpus, end_ns
        # each task's direct reclaim (trace.direct_reclaim_windows: the file's
        # times; ``trace.t0_ns``, known once parsing began, rebases them)
        self.windows, self.trace = windows or {}, trace
        self.h_owner = np.asarray(ro.h_owner, np.int32)
        # the allocations the trace does not show (ro.untraced), merged in by
        # time, on the handles after the prefill's (the same for any chunks)
        self._untraced, self._u_next = ro.untraced, 0
        self._u_h0 = len(ro.h_owner)
        n_u = len(ro.untraced[0]) if ro.untraced is not None else 0
        self.h_owner = np.concatenate([self.h_owner, np.full(n_u, ro.KERNEL, np.int32)])
        # [next new handle, free handles]: the trace's handles follow those
        self.cursor = np.array([self._u_h0 + n_u, 0], np.int64)
        self.free_h = np.zeros(0, np.int32)
        self.live_h = np.full(1, -1, np.int32)
        self.live_o = np.zeros(1, np.int8)
        self.stats = np.zeros(8, np.int64)
        self._reclaim_pids: set = set()
        self._content: dict[int, int] = {}
        # readahead windows (_readahead_marks): task numbers, each task's last
        # readahead allocation and whether the kernel failed a folio of its window
        self._ra_task: dict[int, int] = {}
        self._ra_last = np.full(64, -1, np.int64)
        self._ra_failed = np.zeros(64, np.int8)
        self._ra_slot = np.full(64, -1, np.int64)
        self._slot_task = np.full(C.NR_RA_SLOTS, -1, np.int64)
        self._slot_last = np.full(C.NR_RA_SLOTS, -1, np.int64)
        #: windows that found every slot held by another open window
        self.ra_collisions = np.zeros(1, np.int64)
        if ro.pretrace_live is not None:
            # the placed pre-trace folios: the trace's frees of their pfns free them
            pfns, handles, orders = ro.pretrace_live
            if len(pfns):
                self._reserve(0, int(pfns.max()) + 1)
                self.live_h[pfns] = handles
                self.live_o[pfns] = orders

    @property
    def nr_handles(self) -> int:
        return int(self.cursor[0])

    def ops(self, tr: dict) -> tuple:
        """The ops of the page events ``tr`` (ParsedTrace columns, in time
        order): the op columns (Workload dtypes) and each op's owner."""
        n_ev = tr["t_ns"].shape[0]
        ev = tr["ev"]
        is_a = ev == EV_ALLOC
        content, owner = self._contents_and_owners(tr, is_a)
        # each event on the cpu the trace recorded it on, so the per-cpu lists
        # fill and drain as the machine's did.  MODEL: a model with fewer cpus
        # than the traced machine folds them (cpu modulo nr_cpus)
        cpu = (tr["cpu"].astype(np.int64) % self.nr_cpus).astype(np.int32)
        by_reclaim = self._by_reclaim(tr["pid"], tr["t_ns"], ev)
        self._reserve(int(is_a.sum()), int(tr["pfn"].max()) + 1 if n_ev else 0)
        # the untraced allocations before this chunk's last op (op times: t_ns + 1)
        due = self._due(int(tr["t_ns"][-1]) + 1 if n_ev else 0)
        cols = new_op_columns(2 * n_ev + due)
        op_owner = np.zeros(2 * n_ev + due, np.int32)
        gfp = tr["gfp"] | (self._readahead_marks(tr, content) << C.OP_GFP_RA_SHIFT)
        n = trace_ops(tr["t_ns"], ev, tr["pfn"], tr["order"], gfp, content, owner, cpu,
                      by_reclaim, self.end_ns, self.live_h, self.live_o, self.h_owner, self.free_h,
                      self.cursor, *cols, op_owner, self.stats)
        n = self._merge_untraced(cols, op_owner, n, due)
        st = self.st
        st.allocations, st.failed_in_trace, st.frees_matched, st.frees_before_trace, \
            st.frees_order_mismatch, st.implicit_frees, st.frees_by_reclaim, \
            st.frees_in_direct_reclaim = (int(x) for x in self.stats)
        st.readahead_slot_collisions = int(self.ra_collisions[0])
        return tuple(c[:n] for c in cols), op_owner[:n]

    def flush(self) -> tuple | None:
        """The ops of the untraced allocations not yet merged (those at or
        after the last traced op), as :meth:`ops` returns them; None when
        there are none."""
        due = self._due(None)
        if not due:
            return None
        cols = new_op_columns(due)
        op_owner = np.zeros(due, np.int32)
        n = self._merge_untraced(cols, op_owner, 0, due)
        return tuple(c[:n] for c in cols), op_owner[:n]

    def _due(self, before_t: int | None) -> int:
        """How many untraced allocations not yet merged come before op time
        ``before_t`` (all of them: None)."""
        if self._untraced is None:
            return 0
        t = self._untraced[0]
        end = len(t) if before_t is None else int(np.searchsorted(t, before_t, side="left"))
        return max(0, end - self._u_next)

    def _merge_untraced(self, cols: tuple, op_owner: np.ndarray, n: int, due: int) -> int:
        """Insert the next ``due`` untraced allocations (kernel-owned
        reclaimable slab on new handles, never freed) into the ``n`` ops of
        ``cols`` by time, each after the traced ops of its time; returns the
        number of ops."""
        if not due:
            return n
        i0 = self._u_next
        t, order, gfp, cpu = (a[i0:i0 + due] for a in self._untraced)
        self._u_next += due
        h = np.arange(self._u_h0 + i0, self._u_h0 + i0 + due)
        self.st.untraced_slab_pages += int((1 << order.astype(np.int64)).sum())
        new = (t, np.full(due, C.OP_ALLOC), order, gfp, h, cpu,
               np.full(due, C.KIND_SLAB_RECLAIMABLE))
        at = np.searchsorted(cols[0][:n], t, side="right") + np.arange(due)
        old = np.ones(n + due, bool)
        old[at] = False
        for c, v in zip(cols + (op_owner,), new + (np.full(due, self.ro.KERNEL),)):
            prev = c[:n].copy()
            c[at] = v
            c[:n + due][old] = prev
        return n + due

    def _readahead_marks(self, tr: dict, content: np.ndarray) -> np.ndarray:
        """The readahead marks of each event (:func:`_traceparse.readahead_marks`):
        page cache allocated with __GFP_NORETRY (readahead_gfp_mask()), tasks
        numbered in the order they first read ahead and each task's window
        carried over from chunk to chunk (the same for any chunks)."""
        ra = (tr["ev"] == EV_ALLOC) & (content == C.KIND_FILE) & \
            ((tr["gfp"] & _GFP_NORETRY) != 0)
        task = np.zeros(len(ra), np.int64)
        rows = np.flatnonzero(ra)
        if len(rows):
            pids, first, which = np.unique(tr["pid"][rows], return_index=True,
                                           return_inverse=True)
            ids = np.zeros(len(pids), np.int64)
            for j in np.argsort(first, kind="stable").tolist():
                ids[j] = self._ra_task.setdefault(int(pids[j]), len(self._ra_task))
            task[rows] = ids[which]
            if len(self._ra_task) > self._ra_last.shape[0]:
                grow = len(self._ra_task) - self._ra_last.shape[0] + 64
                self._ra_last = np.concatenate([self._ra_last, np.full(grow, -1, np.int64)])
                self._ra_failed = np.concatenate([self._ra_failed, np.zeros(grow, np.int8)])
                self._ra_slot = np.concatenate([self._ra_slot, np.full(grow, -1, np.int64)])
        return readahead_marks(tr["t_ns"], tr["ev"], task, tr["order"], tr["pfn"], ra,
                               self._ra_last, self._ra_failed, self._ra_slot,
                               self._slot_task, self._slot_last, RA_WINDOW_GAP_NS, EV_ALLOC,
                               C.RA_WINDOW_START, C.RA_HEAD, C.RA_FAILED_HEAD, C.RA_FALLBACK,
                               C.RA_SLOT_SHIFT, C.NR_RA_SLOTS, self.ra_collisions)

    def _by_reclaim(self, pid: np.ndarray, t_ns: np.ndarray, ev: np.ndarray) -> np.ndarray:
        """Which events are reclaim's frees (:func:`reclaim_frees`).  The
        model's own kswapd, kcompactd and direct reclaim do that work."""
        t0 = self.trace.t0_ns if self.trace is not None else 0
        return reclaim_frees(pid, t_ns, ev, self.ro.comm, self.windows, t0, self._reclaim_pids)

    def _contents_and_owners(self, tr: dict, is_a: np.ndarray) -> tuple:
        """Each event's content (allocations: from the gfp mask, each mask
        looked up once) and owner."""
        content = np.zeros(len(is_a), np.uint8)
        rows = np.flatnonzero(is_a)
        masks, which = np.unique(tr["gfp"][rows], return_inverse=True)
        content[rows] = np.array([self._content_of(g) for g in masks.tolist()], np.uint8)[which]
        ro = self.ro
        owner = np.where(content == C.KIND_FILE, ro.PAGE_CACHE, ro.KERNEL).astype(np.int32)
        rows = np.flatnonzero(is_a & (content == C.KIND_ANON))
        pids, first, which = np.unique(tr["pid"][rows], return_index=True, return_inverse=True)
        # tasks numbered in the order they first allocate (the same for any chunks)
        table = np.zeros(len(pids), np.int32)
        for k in np.argsort(first, kind="stable").tolist():
            table[k] = ro.task_owner(int(pids[k]))
        owner[rows] = table[which]
        return content, owner

    def _content_of(self, g: int) -> int:
        c = self._content.get(g)
        if c is None:
            c = self._content[g] = content_of(g)
        return c

    def _reserve(self, n_alloc: int, top_pfn: int) -> None:
        """Room for ``n_alloc`` more handles and pfns below ``top_pfn``."""
        need = int(self.cursor[0]) + n_alloc
        if need > self.h_owner.shape[0]:
            cap = max(need, self.h_owner.shape[0] * 2)
            self.h_owner = np.concatenate([self.h_owner, np.zeros(cap - self.h_owner.shape[0],
                                                                  np.int32)])
        # a freed handle goes on free_h: room for every handle there is
        if self.free_h.shape[0] < self.h_owner.shape[0]:
            self.free_h = np.concatenate([self.free_h, np.zeros(
                self.h_owner.shape[0] - self.free_h.shape[0], np.int32)])
        if top_pfn > self.live_h.shape[0]:
            cap = max(top_pfn, self.live_h.shape[0] * 2)
            self.live_h = np.concatenate([self.live_h, np.full(cap - self.live_h.shape[0], -1,
                                                               np.int32)])
            self.live_o = np.concatenate([self.live_o, np.zeros(cap - self.live_o.shape[0],
                                                                np.int8)])


def _initial_state(ro: _ReplayOps, st: ReplayStats, snapshot: Snapshot | None, nr_pages: int,
                   nr_cpus: int, zone_spans, pageblock_order: int, pretrace, span_ns: int = 0,
                   end_ns: int = -1, start=None, fmt: str = "", recorder_pages: int | None = None):
    """The prefill ops of a replay into ``ro`` (``pretrace()``: the trace's
    pre-trace folios, ``start()``: its :class:`~.trace.StartWindow` or None,
    both asked for only with a snapshot) and the reclaimable
    slab the trace does not show (``ro.untraced``: :mod:`.untraced`, over
    the trace's ``span_ns``, to ``end_ns`` when cut), and the recorder's
    buffers (:func:`recorder_buffer_pages` of the trace's format ``fmt``,
    ``recorder_pages`` overriding); sets
    ``st.prefill_ops``; returns the initial pageblock types (None without a
    snapshot or zone spans)."""
    bt = None
    pre = pretrace() if snapshot is not None else None
    if snapshot is not None and zone_spans is not None:
        bt = initial_block_types(snapshot, zone_spans, nr_pages, pageblock_order,
                                 pre[2] if pre is not None else None,
                                 _pretrace_pages(pre, snapshot, zone_spans, nr_pages,
                                                 pageblock_order))
    if snapshot is not None:
        win = start() if start is not None else None
        extra = start_free_blocks(win, snapshot, zone_spans, pageblock_order, st)
        spent = spent_free_blocks(win, snapshot, zone_spans, pageblock_order, st)
        st.recorder_machine_pages, st.recorder_source = recorder_buffer_pages(
            snapshot, fmt, nr_cpus, recorder_pages)
        _prefill(ro, st, snapshot, nr_pages, nr_cpus, zone_spans, pageblock_order, bt, pre,
                 extra, st.recorder_machine_pages, spent)
    if pre is not None:
        est = untraced_reclaimable(pre[4], pre[2], snapshot, span_ns, st.pretrace_slab_task_pages)
        if est is not None:
            st.untraced_slab = est.as_dict()
            managed = nr_pages - sum(st.reserved_pages.values())
            scale = managed / max(_meminfo_pages(snapshot.meminfo, "MemTotal"), 1)
            ro.untraced = schedule(est, scale, span_ns, end_ns, nr_cpus)
    st.prefill_ops = len(ro)
    return bt


def trace_workload(tr: ParsedTrace, *, nr_cpus: int, nr_pages: int, snapshot: Snapshot | None,
                   duration: float | None = None, zone_spans=None,
                   pageblock_order: int = C.PAGEBLOCK_ORDER_DEFAULT,
                   recorder_pages: int | None = None) -> tuple[Workload, ReplayStats]:
    """The op stream of a parsed trace (plus the snapshot's prefill at t=0;
    with ``zone_spans``, the snapshot's pageblock-type proportions too;
    ``recorder_pages``: :func:`recorder_buffer_pages`' override)."""
    st = ReplayStats()
    ro = _ReplayOps(tr.comm)
    windows = direct_reclaim_windows(tr.path)
    end_ns = int(duration * 1e9) if duration is not None else -1
    init_bt = _initial_state(
        ro, st, snapshot, nr_pages, nr_cpus, zone_spans, pageblock_order,
        lambda: pretrace_folios([tr.__dict__], lambda c: reclaim_frees(
            c["pid"], c["t_ns"], c["ev"], tr.comm, windows, tr.t0_ns, migration=True)),
        int(tr.t_ns[-1]) if len(tr) else 0, end_ns,
        lambda: start_window(tr.path, 0),
        tr.format, recorder_pages)
    tops = TraceOps(ro, st, nr_cpus, end_ns, windows, tr)
    traced, traced_owner = tops.ops(tr.__dict__)
    tail = tops.flush()
    if tail is not None:
        traced = tuple(np.concatenate([a, b]) for a, b in zip(traced, tail[0]))
        traced_owner = np.concatenate([traced_owner, tail[1]])
    pre = ro.columns()
    t_all, kind, order, gfp, handle, cpu, content = (np.concatenate([a, b]) for a, b in zip(pre, traced))
    if len(t_all) == 0:
        raise TraceError(f"{tr.path}: nothing to replay")
    h_owner = tops.h_owner[:tops.nr_handles]
    wl = Workload(
        name=Path(tr.path).parent.name + "/" + Path(tr.path).name,
        t=t_all, kind=kind, order=order, gfp=gfp, handle=handle, cpu=cpu, content=content,
        nr_handles=tops.nr_handles, duration_ns=replay_duration_ns(len(tr) and int(tr.t_ns[-1]),
                                                                   end_ns, tr.cut_ns is not None),
        description=f"replay of {tr.path}", handle_owner=h_owner,
        owner_kind=np.asarray(ro.owner_kind, np.uint8), owner_names=ro.owner_names)
    # a prefill op's owner is its handle's
    wl.op_owner = np.concatenate([np.asarray(ro.h_owner, np.int32)[pre[4]], traced_owner])
    wl.meta[SLAB_PAGES_FREED_BY_TRACE] = True
    wl.meta[INITIAL_FREE_REPORTED] = True
    if init_bt is not None:
        wl.meta["initial_block_mt"] = init_bt
    if ro.reserved is not None:
        wl.meta["initial_reserved"] = ro.reserved
    _initial_from_other_events(tr.path, snapshot, zone_spans, nr_pages,
                               pageblock_order, st, wl.meta)
    return wl, st


def replay_duration_ns(last_ns: int, end_ns: int, cut: bool) -> int:
    """How long a replay runs (ns): 1 ms past the last traced page event
    (``last_ns``, from the first; ops are 1 ns after their event), or to
    ``end_ns`` (--duration, -1: none) when the trace goes on beyond it
    (``cut``) or ends before it."""
    if end_ns >= 0 and cut:
        return end_ns
    dur = last_ns + 1 + 1_000_000
    return max(dur, end_ns) if end_ns >= 0 else dur


class TraceStream(OpStream):
    """A trace replayed while it is parsed: the snapshot's prefill (one
    chunk of ops at t=0), then the ops of each chunk of about ``chunk_bytes``
    of trace text as :func:`~.trace.fast_chunks` parses it
    (:class:`TraceOps`), so memory is bounded by the chunk, not the trace.
    The ops, and so the results, are those of :func:`trace_workload` on the
    whole parsed trace, for every chunk size.

    Each :meth:`chunks` call reads the trace again; after a pass,
    :attr:`trace` (a :class:`ParsedTrace` with the totals of its page events,
    no columns) and :attr:`stats` describe it.  ``extent``: the first and last
    page events' recorded times (:func:`~.trace.trace_extent`), which fix the
    replay's length before it starts.  With a snapshot, the prefill places
    the folios the trace frees before allocating them (``pretrace``:
    :func:`pretrace_folios`, read in a first pass when not given).  A line the fast parsers do not take
    raises ``trace.IrregularLine`` from the pass: the caller reads the trace
    whole instead (the line readers name the line)."""

    def __init__(self, path, fmt: str, *, nr_cpus: int, nr_pages: int, snapshot: Snapshot | None,
                 extent: tuple, comm: str | None = None, lim: TraceLimits | None = None,
                 zone_spans=None, pageblock_order: int = C.PAGEBLOCK_ORDER_DEFAULT,
                 chunk_bytes: int = CHUNK_BYTES, pretrace: tuple | None = None,
                 recorder_pages: int | None = None):
        path = Path(path)
        self.path, self.fmt, self.comm, self.lim = path, fmt, comm, lim or TraceLimits()
        self.chunk_bytes = chunk_bytes
        self.name = path.parent.name + "/" + path.name
        self.description = f"replay of {path}"
        self.duration_ns = replay_duration_ns(extent[1] - extent[0], -1, False)
        self.duration_s = self.duration_ns / 1e9
        self.nr_cpus, self.nr_pages, self.swap, self._whole = nr_cpus, nr_pages, None, None
        self.stats = ReplayStats()
        self._ro = _ReplayOps({})
        self.meta = {SLAB_PAGES_FREED_BY_TRACE: True, INITIAL_FREE_REPORTED: True}
        self._windows = direct_reclaim_windows(path)
        # without ``pretrace``, one pass over the trace first finds its pre-trace folios
        bt = _initial_state(self._ro, self.stats, snapshot, nr_pages, nr_cpus, zone_spans,
                            pageblock_order, lambda: pretrace if pretrace is not None else
                            streamed_pretrace_folios(path, fmt, comm, self.lim, self._windows,
                                                     chunk_bytes), extent[1] - extent[0],
                            start=lambda: start_window(path, 0),
                            fmt=fmt, recorder_pages=recorder_pages)
        if bt is not None:
            self.meta["initial_block_mt"] = bt
        if self._ro.reserved is not None:
            self.meta["initial_reserved"] = self._ro.reserved
        _initial_from_other_events(path, snapshot, zone_spans, nr_pages, pageblock_order,
                                   self.stats, self.meta)
        self.prefill_ops = self.stats.prefill_ops
        self._prefill = self._ro.columns()
        self.trace = self._new_trace()
        size = path.stat().st_size * (8 if path.suffix in (".gz", ".xz") else 1)
        self.estimated_ops = self.prefill_ops + 2 * size // 40     # ~40 bytes a line

    def _new_trace(self) -> ParsedTrace:
        tr = ParsedTrace.empty(self.path, self.fmt)
        tr.streamed = new_page_totals()
        return tr

    def chunks(self, epochs_per_chunk: int = 1, *, prefetch: bool = False):
        """The prefill's ops, then the trace's, a parse chunk at a time
        (``epochs_per_chunk`` is the streams' argument: a trace has no epochs)."""
        it = self._generate()
        return _prefetched(it) if prefetch else it

    def _generate(self):
        st = dataclasses.replace(self.stats, allocations=0, failed_in_trace=0, frees_matched=0,
                                 frees_before_trace=0, frees_order_mismatch=0, implicit_frees=0,
                                 frees_by_reclaim=0, frees_in_direct_reclaim=0,
                                 readahead_slot_collisions=0, untraced_slab_pages=0)
        tr = self._new_trace()
        ro = self._ro.fork(tr.comm)
        tops = TraceOps(ro, st, self.nr_cpus, -1, self._windows, tr)
        self.trace, self.stats, self._pass_ro = tr, st, ro
        owners = np.asarray(ro.h_owner, np.int32)
        yield Chunk(*self._prefill, owners[self._prefill[4]], tops.nr_handles,
                    np.asarray(ro.owner_kind, np.uint8))
        for cols in fast_chunks(self.path, self.fmt, self.comm, self.lim, tr, self.chunk_bytes):
            add_page_totals(tr.streamed, cols)
            ops, op_owner = tops.ops(cols)
            yield Chunk(*ops, op_owner, max(tops.nr_handles, 1),
                        np.asarray(ro.owner_kind, np.uint8))
        tail = tops.flush()
        if tail is not None:
            yield Chunk(*tail[0], tail[1], max(tops.nr_handles, 1),
                        np.asarray(ro.owner_kind, np.uint8))

    def materialize(self) -> Workload:
        """The whole replay as one Workload (kept: later calls return it)."""
        if self._whole is None:
            ch = list(self.chunks())
            cols = [np.concatenate([c[i] for c in ch]) for i in range(8)]
            last = ch[-1]
            wl = Workload(name=self.name, t=cols[0], kind=cols[1], order=cols[2], gfp=cols[3],
                          handle=cols[4], cpu=cols[5], content=cols[6],
                          nr_handles=last.nr_handles, duration_ns=self.duration_ns,
                          description=self.description, meta=self.meta,
                          handle_owner=np.zeros(last.nr_handles, np.int32),
                          owner_kind=last.owner_kind,
                          owner_names=list(self._pass_ro.owner_names))
            wl.op_owner = cols[7]
            self._whole = wl
        return self._whole
