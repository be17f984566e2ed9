"""Reclaimable slab the kernel allocated without a trace event.

A replay allocates what the trace's ``mm_page_alloc`` events allocate.  On the
6.18 kernel the shipped traces come from, that is not all the reclaimable slab
the machine allocated.  Between a trace's two snapshots ``nr_slab_reclaimable``
grew by 21.7k-23.1k pages in each of b, c, d and e, while the trace's
reclaimable allocations less its frees in reclaimable pageblocks came to
between -17.2k and -1.5k.  Checked on the recording VM (``data/traces/README.md``,
"Allocations the traces do not record"):

- ``ftrace`` (a tracefs instance) and ``perf record`` recording at once miss
  the same allocations, so it is not perf losing events (perf reported no
  LOST records, ftrace no overruns);
- with ``/proc/slabinfo`` read at the instants tracing started and stopped,
  ``ext4_inode_cache`` (order-2 slabs) kept 12,368 slabs while the trace
  freed 1,044 order-2 pages in reclaimable pageblocks from
  ``kmem_cache_free`` -> ``__put_partials`` (RCU, stack traces) and showed
  104 order-2 reclaimable allocations: nine in ten of that cache's slab
  allocations were not traced.  Order-0 slabs (``dentry``) were;
- in every trace some pages are freed twice with no traced allocation
  between (4,309 such frees in e, 972 of them order-2 in reclaimable
  pageblocks): the trace's own evidence of allocations it did not record.

Which kernel path allocates without the event is not known (function tracing
and kprobes are locked down on the recording VM).  What the snapshots do
say is how much: :func:`untraced_reclaimable` estimates the reclaimable slab
that the trace does not show and that the machine still held at the end,
and :func:`schedule` spreads it over the trace as allocations the replay
adds (``replay_ops.TraceOps``), so the model's reclaimable pageblocks fill
as the machine's did (e: 19.9k free pages on the reclaimable lists at the
start, 1.2k at the end).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .. import constants as C
from .. import gfp as G
from .._jit import njit
from .snapshot import Snapshot
from .trace import EV_ALLOC, EV_FREE

#: per pfn in :class:`SlabFlows`: not named by the trace yet, allocated, freed
_UNSEEN, _ALLOCATED, _FREED = 0, 1, 2
#: per pfn in :class:`SlabFlows`: its last traced allocation was reclaimable slab
_SLAB = 1
#: the bins of :attr:`SlabFlows.pace` (ns)
PACE_BIN_NS = 100_000_000


@njit(cache=True)
def _free_flows(ev, pfn, order, ev_kind, state, pfn_kind, pfn_order, second_free, pb_order,
                out_pfn, out_order, out_row, slab_rows, implicit):
    """Walk a chunk of page events: each free of a pfn the trace last saw
    freed (an allocation between the two was not traced) counts in
    ``second_free[pageblock, order]``.  A free of a pfn the trace has not
    named before frees a folio allocated before the trace began: its pfn,
    order and row in the chunk are written out.  A free of a traced
    reclaimable slab allocation (``ev_kind`` of the allocation, 1 for slab)
    writes its row to ``slab_rows``; a re-allocation of a pfn whose traced
    slab allocation had no traced free (the replay frees it then) adds that
    allocation's pages to ``implicit[0]``.  Returns how many pre-trace frees
    and slab frees.  ``state``, ``pfn_kind`` and ``pfn_order`` (per pfn)
    carry over chunks."""
    n = 0
    ns = 0
    for i in range(ev.shape[0]):
        p = pfn[i]
        if p < 0:
            continue
        if ev[i] == EV_ALLOC:
            if state[p] == _ALLOCATED and pfn_kind[p] == _SLAB:
                implicit[0] += 1 << pfn_order[p]
            state[p] = _ALLOCATED
            pfn_kind[p] = ev_kind[i]
            pfn_order[p] = order[i]
        elif ev[i] == EV_FREE:
            if state[p] == _FREED:
                second_free[p >> pb_order, order[i]] += 1
            elif state[p] == _UNSEEN:
                out_pfn[n] = p
                out_order[n] = order[i]
                out_row[n] = i
                n += 1
            elif pfn_kind[p] == _SLAB:
                slab_rows[ns] = i
                ns += 1
            state[p] = _FREED
    return n, ns


class SlabFlows:
    """The trace's reclaimable-slab flows, read a chunk at a time
    (:meth:`add`, in the replay's first pass, ``replay_ops.pretrace_folios``):
    pages of reclaimable allocations (by order and gfp mask), the frees of
    traced slab allocations (:meth:`add_slab_frees`) and per machine
    pageblock the count of second frees by order.  Its per-pfn history also
    finds the frees of folios allocated before the trace."""

    def __init__(self):
        self.state = np.zeros(1, np.uint8)
        self.pfn_kind = np.zeros(1, np.uint8)
        self.pfn_order = np.zeros(1, np.int8)
        #: rows of the last chunk (:meth:`add`) that free a traced slab allocation
        self.slab_free_rows = np.zeros(0, np.int64)
        #: pages of the traced slab allocations a task frees (pretrace_folios
        #: classifies :attr:`slab_free_rows`), and those re-allocated with no
        #: traced free: the frees of reclaimable slab the replay replays
        self.slab_task_free = 0
        self.slab_implicit_free = np.zeros(1, np.int64)
        self.second_free = np.zeros((1, C.NR_PAGE_ORDERS), np.int64)
        #: {(order, gfp): pages} of the traced reclaimable allocations
        self.rec_alloc: dict = {}
        #: pages of the traced reclaimable allocations per PACE_BIN_NS of the trace
        self.pace = np.zeros(0, np.int64)

    def _grow(self, top_pfn: int) -> None:
        if top_pfn > self.state.shape[0]:
            grow = max(top_pfn, 2 * self.state.shape[0]) - self.state.shape[0]
            self.state = np.concatenate([self.state, np.zeros(grow, np.uint8)])
            self.pfn_kind = np.concatenate([self.pfn_kind, np.zeros(grow, np.uint8)])
            self.pfn_order = np.concatenate([self.pfn_order, np.zeros(grow, np.int8)])
        nb = (self.state.shape[0] >> C.PAGEBLOCK_ORDER_DEFAULT) + 1
        if nb > self.second_free.shape[0]:
            self.second_free = np.concatenate([self.second_free, np.zeros(
                (nb - self.second_free.shape[0], C.NR_PAGE_ORDERS), np.int64)])

    def add(self, cols: dict, rows: np.ndarray, kind: np.ndarray) -> tuple:
        """One chunk of ParsedTrace columns (ev, pfn, order, gfp); ``rows``:
        its allocations with a pfn, ``kind``: their content
        (``replay_ops.content_of`` of their gfp masks).  Returns the pfns,
        orders and rows of the chunk's frees of pfns the trace had not
        named before (folios allocated before it began)."""
        pfn = cols["pfn"]
        op, oo = np.empty(len(pfn), np.int64), np.empty(len(pfn), np.int8)
        orow = np.empty(len(pfn), np.int64)
        self.slab_free_rows = np.zeros(0, np.int64)
        if not len(pfn):
            return op, oo, orow
        self._grow(int(pfn.max()) + 1)
        ev_kind = np.zeros(len(pfn), np.uint8)
        ev_kind[rows[kind == C.KIND_SLAB_RECLAIMABLE]] = _SLAB
        srow = np.empty(len(pfn), np.int64)
        n, ns = _free_flows(cols["ev"], pfn, cols["order"], ev_kind, self.state, self.pfn_kind,
                            self.pfn_order, self.second_free, C.PAGEBLOCK_ORDER_DEFAULT, op, oo,
                            orow, srow, self.slab_implicit_free)
        self.slab_free_rows = srow[:ns]
        rec = rows[kind == C.KIND_SLAB_RECLAIMABLE]
        if len(rec):
            self._count_reclaimable(cols, rec)
        return op[:n], oo[:n], orow[:n]

    def add_slab_frees(self, cols: dict, by_task: np.ndarray) -> None:
        """Count the frees of traced slab allocations of the last chunk
        (:attr:`slab_free_rows`) that ``by_task`` (one per row) says a task
        made: the replay replays those, not reclaim's."""
        o = cols["order"][self.slab_free_rows][by_task].astype(np.int64)
        self.slab_task_free += int((1 << o).sum())

    def _count_reclaimable(self, cols: dict, rec: np.ndarray) -> None:
        """Add the pages of the reclaimable allocations at ``rec`` by (order, gfp)."""
        o = cols["order"][rec].astype(np.int64)
        key, pages = np.unique(cols["gfp"][rec].astype(np.int64) * C.NR_PAGE_ORDERS + o,
                               return_counts=True)
        for k, n in zip(key.tolist(), pages.tolist()):
            g, oo = divmod(k, C.NR_PAGE_ORDERS)
            self.rec_alloc[(oo, g)] = self.rec_alloc.get((oo, g), 0) + (n << oo)
        b = np.maximum(cols["t_ns"][rec], 0) // PACE_BIN_NS
        if int(b.max()) >= self.pace.shape[0]:
            self.pace = np.concatenate([self.pace, np.zeros(int(b.max()) + 1 - self.pace.shape[0],
                                                            np.int64)])
        np.add.at(self.pace, b, 1 << o)


@dataclass
class UntracedSlab:
    """The estimate (:func:`untraced_reclaimable`), in the machine's pages."""

    #: ``nr_slab_reclaimable`` after less before (the snapshots)
    machine_delta: int
    #: seconds the snapshots span and the trace spans
    snapshot_s: float
    trace_s: float
    #: pages the trace's reclaimable allocations took
    traced_alloc: int
    #: pages of reclaimable slab the replay frees: traced slab allocations a
    #: task frees or the trace re-allocates, pre-trace slab a task frees
    traced_free: int
    #: frees in reclaimable pageblocks of a page already freed, and their pages
    second_frees: int
    second_free_pages: int
    #: the reclaimable slab the trace does not show and the machine kept (>= 0)
    pages: int
    #: [(order, share of the pages, gfp mask)] of the added allocations
    mix: list = field(default_factory=list)
    #: when they happen: the traced reclaimable allocations' pages per
    #: PACE_BIN_NS (:attr:`SlabFlows.pace`; None: evenly)
    pace: np.ndarray | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict:
        d = asdict(self)
        del d["pace"]
        return d


def untraced_reclaimable(flows: SlabFlows, block_kinds: np.ndarray, snapshot: Snapshot | None,
                         trace_ns: int, placed_slab_freed: int = 0) -> UntracedSlab | None:
    """How much reclaimable slab the machine allocated beyond the trace's
    events and still held when the trace ended, so that the model's
    ``nr_slab_reclaimable`` grows over the trace as the machine's did: the
    snapshots' growth over the trace's part of their span, less the traced
    reclaimable allocations, plus the reclaimable slab the replay frees
    (its shrinkers free no slab page: ``replay_ops.SLAB_PAGES_FREED_BY_TRACE``):
    the traced slab allocations a task frees or the trace re-allocates
    (:class:`SlabFlows`), and ``placed_slab_freed``, the pages of the
    pre-trace folios the prefill holds as reclaimable slab that a task frees.
    A second free (the trace saw the page freed already) frees an untraced
    allocation, which the replay does not have.  The orders of the added
    allocations are those of the second frees in the pageblocks the trace
    allocates reclaimable slab in (``block_kinds``, per machine pageblock
    and content: :func:`replay_ops.pretrace_folios`; the traced reclaimable
    allocations' when there are none), each with the gfp mask the trace's
    reclaimable requests of that order use most.  None without both vmstat
    snapshots, their time span or a trace that spans time.

    MODEL: the added allocations never end; the kernel frees some of them
    later, which no snapshot shows."""
    # MODEL: an estimate from the snapshots' counters (see the module docstring)
    if snapshot is None or trace_ns <= 0:
        return None
    key = "nr_slab_reclaimable"
    b, a = snapshot.vmstat_before.get(key), snapshot.vmstat_after.get(key)
    span = snapshot.uptime_span()
    if a is None or b is None or span is None:
        return None
    trace_s = trace_ns / 1e9
    nb = min(block_kinds.shape[0], flows.second_free.shape[0])
    kinds = block_kinds[:nb]
    rec = np.flatnonzero((kinds.sum(axis=1) > 0)
                         & (kinds.argmax(axis=1) == C.KIND_SLAB_RECLAIMABLE))
    traced_free = flows.slab_task_free + int(flows.slab_implicit_free[0]) + int(placed_slab_freed)
    second = flows.second_free[rec].sum(axis=0)
    second_pages = second * (1 << np.arange(C.NR_PAGE_ORDERS))
    traced_alloc = sum(flows.rec_alloc.values())
    delta = int(a) - int(b)
    pages = max(0, int(round(delta * min(trace_s / span, 1.0))) - traced_alloc + traced_free)
    by_order = second_pages.astype(np.float64)
    if not by_order.sum():
        for (o, _), n in flows.rec_alloc.items():
            by_order[o] += n
    if not by_order.sum():
        by_order[0] = 1.0
    mix = []
    for o in np.flatnonzero(by_order).tolist():
        gfps = {g: n for (oo, g), n in flows.rec_alloc.items() if oo == o}
        g = max(sorted(gfps), key=gfps.get) if gfps else \
            G.GFP_KERNEL | G.__GFP_RECLAIMABLE | (G.__GFP_COMP if o else 0)
        mix.append((o, float(by_order[o] / by_order.sum()), int(g)))
    return UntracedSlab(delta, span, trace_s, traced_alloc, traced_free, int(second.sum()),
                        int(second_pages.sum()), pages, mix, flows.pace.copy())


def _paced(pos: np.ndarray, pace: np.ndarray | None, span_ns: int) -> np.ndarray:
    """Times (ns, float) of allocations at quantiles ``pos`` of the span,
    following ``pace`` (pages per PACE_BIN_NS) where it has any: the inverse
    of its cumulative share, linear within a bin."""
    if pace is None or not len(pace) or pace.sum() <= 0:
        return pos * span_ns
    edges = np.minimum(np.arange(len(pace) + 1, dtype=np.float64) * PACE_BIN_NS, span_ns)
    cdf = np.concatenate([[0.0], np.cumsum(pace, dtype=np.float64)]) / float(pace.sum())
    return np.minimum(np.interp(pos, cdf, edges), span_ns - 1)


def schedule(est: UntracedSlab | None, scale: float, span_ns: int, end_ns: int,
             nr_cpus: int) -> tuple:
    """The added allocations as op fields ``(t, order, gfp, cpu)`` in time
    order: ``est.pages`` times ``scale`` (the model's size over the
    machine's), split by the mix's page shares, each order's requests
    spaced over the trace at the pace of its traced reclaimable allocations
    (``est.pace``; evenly without one; op time 1 + the trace's ns), none
    after ``end_ns`` (>= 0: a cut replay), the i-th on cpu ``i % nr_cpus``.

    MODEL: the trace does not say when they happened.  The ones it misses
    are mostly ext4_inode_cache slabs (data/traces/README.md), whose inodes
    come with the dentries it does show, file by file: they follow the
    traced reclaimable allocations, evenly within each PACE_BIN_NS."""
    # MODEL: untraced allocations at the traced ones' pace (see above)
    if est is None or not est.pages or span_ns <= 0:
        return tuple(np.zeros(0, d) for d in (np.int64, np.int8, np.int64, np.int32))
    pos, orders, gfps = [], [], []
    for o, share, g in est.mix:
        n = int(round(est.pages * scale * share)) >> o
        pos.append((np.arange(n) + 0.5) / max(n, 1))
        orders.append(np.full(n, o, np.int8))
        gfps.append(np.full(n, g, np.int64))
    pos, orders, gfps = np.concatenate(pos), np.concatenate(orders), np.concatenate(gfps)
    idx = np.lexsort((orders, pos))
    t = 1 + np.floor(_paced(pos[idx], est.pace, span_ns)).astype(np.int64)
    keep = t <= end_ns if end_ns >= 0 else np.ones(len(t), bool)
    t, orders, gfps = t[keep], orders[idx][keep], gfps[idx][keep]
    return t, orders, gfps, (np.arange(len(t)) % nr_cpus).astype(np.int32)
