"""Streamed workloads: ops generated epoch by epoch while the model consumes them.

A generated scenario is an :class:`OpStream`.  Its sources (``sources.py``)
produce the ops of one *epoch* (a fixed slice of simulated time) at a time;
the driver loop (``sim/loop.py``) pulls chunks of whole epochs.  Memory for
ops is bounded by the epoch, not by the run, so a 64 GiB machine fits.

Reproducibility
    Every random draw comes from a generator keyed by the seed, the source,
    the entity (a task, a job, a burst) and the epoch:
    ``np.random.default_rng([seed, *key])``.  No draw depends on how many
    epochs are generated at once, so the op stream, and the result, is the
    same for every chunk size (``OpStream.chunks(epochs_per_chunk=...)``).
    The epoch length is part of the stream's definition (:func:`epoch_length`:
    a power of two of seconds chosen from the scenario's op rate, at most 1 s).

Handles
    A handle is a *slot*: :class:`SlotPool` hands slots out and takes them back
    after the last op that names them, so the model's per-handle tables are
    sized by what is live, not by every allocation of the run.  A slot is
    reused only by an allocation; if the model still holds the previous
    allocation there (page cache that was never freed, only no longer
    referenced by the workload), ``driver.forget_handle`` detaches it first:
    the pages stay where they are, reclaimable, without a handle.
    Every op carries its owner, so a reused slot belongs to its new owner.

Ops past the run's duration are not generated.
"""
from __future__ import annotations

import math
import queue
import threading
from collections import namedtuple

import numpy as np

from .. import constants as C
from .ops import OP_DTYPES, Workload

#: the longest epoch (seconds)
EPOCH_MAX_S = 1.0
#: the shortest epoch (seconds)
EPOCH_MIN_S = 2.0 ** -12
#: an epoch is halved until it is expected to hold at most this many ops
EPOCH_TARGET_OPS = 1 << 21

#: an epoch's ops waiting for it are merged into one part when they are this many
#: parts (each a few ops: numpy's per-array overhead would exceed their data)
PENDING_MERGE = 64

#: one chunk of a stream: the op columns (Workload dtypes, plus ``owner``),
#: sorted by time, and the tables the model needs to run them: the handle
#: slots used so far and every owner's kind (OWNER_*)
Chunk = namedtuple("Chunk", ["t", "kind", "order", "gfp", "handle", "cpu", "content", "owner",
                             "nr_handles", "owner_kind"])


def epoch_length(ops_per_s: float) -> float:
    """The epoch (a power of two of seconds, :data:`EPOCH_MIN_S` to
    :data:`EPOCH_MAX_S`) that holds about :data:`EPOCH_TARGET_OPS` ops or
    fewer at ``ops_per_s``."""
    e = EPOCH_MAX_S
    while e > EPOCH_MIN_S and ops_per_s * e > EPOCH_TARGET_OPS:
        e /= 2
    return e


def split_by_epoch(t: np.ndarray, epoch_s: float) -> list:
    """Times ``t`` (seconds, at least one) grouped by epoch, in epoch order:
    ``[(epoch, rows), ...]``, rows in their input order; ``rows`` is None
    when every time falls in one epoch (no index needed)."""
    ep = np.floor(t / epoch_s).astype(np.int64)
    if ep.min() == ep.max():
        return [(int(ep[0]), None)]
    order = np.argsort(ep, kind="stable")
    eps = ep[order]
    cuts = np.flatnonzero(np.diff(eps)) + 1
    return [(int(eps[a]), order[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(eps)])]


class SlotPool:
    """Handle slots: fresh ones numbered from 0, and released ones reused.

    A slot released at time ``t`` (its last op) is reused from the epoch
    after ``t``'s on: every op of an epoch is generated before the epoch's
    ops are sorted, so reusing it in ``t``'s own epoch could put the new
    allocation before the old last op.  Reuse order is last released, first
    reused (deterministic)."""

    def __init__(self, epoch_s: float):
        self.epoch_s = epoch_s
        self.top = 0                                  # slots ever handed out
        self._free = np.zeros(0, np.int32)            # a stack (slots fit int32: handles are)
        self._released: dict[int, list] = {}          # epoch -> slot arrays

    def fresh(self, n: int) -> np.ndarray:
        """``n`` slots never used before (a task's handles may be touched
        before they are faulted in: a fresh slot is H_NONE in the model)."""
        h = np.arange(self.top, self.top + n, dtype=np.int64)
        self.top += n
        return h

    def take(self, n: int) -> np.ndarray:
        """``n`` slots for new allocations: released ones first."""
        k = min(n, self._free.shape[0])
        if not k:
            return self.fresh(n)
        # copies: a view would keep the whole stack alive as long as the slots
        got = self._free[self._free.shape[0] - k:][::-1].copy()
        self._free = self._free[:self._free.shape[0] - k]
        return got if k == n else np.concatenate([got, self.fresh(n - k)])

    def release(self, slots: np.ndarray, t_last) -> None:
        """``slots`` are named by no op after ``t_last`` (seconds; one value or
        one per slot)."""
        if not len(slots):
            return
        # a copy: ``slots`` may be a view of a larger array, kept alive otherwise
        slots = np.array(slots, np.int32)
        t = np.broadcast_to(np.asarray(t_last, np.float64), (len(slots),))
        for e, rows in split_by_epoch(t, self.epoch_s):
            self._released.setdefault(e, []).append(slots if rows is None else slots[rows])

    def begin_epoch(self, e: int) -> None:
        """Slots released in epochs before ``e`` become reusable."""
        done = sorted(k for k in self._released if k < e)
        if done:
            self._free = np.concatenate([self._free] + [a for k in done
                                                        for a in self._released.pop(k)])


_COLS = (("t", np.float64), ("kind", np.int8), ("order", np.int8), ("gfp", np.int64),
         ("handle", np.int64), ("content", np.uint8), ("owner", np.int32))


class EpochBuilder:
    """Collects the ops the sources emit while one epoch is generated (at any
    time at or after the epoch's start); :meth:`finish` returns the epoch's
    ops sorted by time and keeps later ones for their own epoch."""

    def __init__(self, epoch_s: float, duration: float):
        self.epoch_s, self.duration = epoch_s, duration
        self._parts: list[tuple] = []
        self._pending: dict[int, list] = {}

    def emit(self, t, kind: int, order, gfp, handles, content, owner) -> None:
        """Ops of one ``kind`` at times ``t`` (seconds) on ``handles``;
        ``order``, ``gfp``, ``content`` and ``owner`` are one value or one per
        op.  Ops at or after the run's duration are dropped."""
        t = np.asarray(t, np.float64)
        n = t.shape[0]
        if not n:
            return
        cols = (t, np.full(n, kind, np.int8), order, gfp, handles, content, owner)
        keep = t < self.duration
        if not keep.all():
            cols = tuple(c[keep] if np.ndim(c) else c for c in cols)
            n = int(keep.sum())
            if not n:
                return
        self._parts.append(tuple(np.broadcast_to(np.asarray(c, d), (n,))
                                 for c, (_, d) in zip(cols, _COLS)))

    def finish(self, e: int) -> tuple:
        """Epoch ``e``'s op columns (t, kind, order, gfp, handle, content,
        owner), stably sorted by time: ops emitted in earlier epochs first,
        then in emission order."""
        hi = (e + 1) * self.epoch_s
        parts = self._pending.pop(e, [])
        for p in self._parts:
            t = p[0]
            late = t >= hi
            if not late.any():
                parts.append(p)
                continue
            now = ~late
            if now.any():
                parts.append(tuple(c[now] for c in p))
            later = tuple(c[late] for c in p)        # copies (boolean indexing)
            for ep, rows in split_by_epoch(later[0], self.epoch_s):
                bucket = self._pending.setdefault(ep, [])
                bucket.append(later if rows is None else tuple(c[rows] for c in later))
                if len(bucket) >= PENDING_MERGE:
                    # many small parts (a few ops each): one part, in the same order
                    self._pending[ep] = [tuple(np.concatenate(c) for c in zip(*bucket))]
        self._parts = []
        if not parts:
            return tuple(np.zeros(0, d) for _, d in _COLS)
        # column by column, each source array dropped once copied: a burst
        # epoch (14M ops at 64 GiB) would otherwise hold its ops three times
        by_col = [[q[i] for q in parts] for i in range(len(_COLS))]
        parts = p = t = later = None
        out = []
        order = None
        for i in range(len(_COLS)):
            c = np.concatenate(by_col[i])
            by_col[i] = None
            if order is None:
                order = np.argsort(c, kind="stable")
            out.append(c[order])
            del c
        return tuple(out)


class Gen:
    """What the sources of one stream share while it is generated: the seed,
    the slot pool, the epoch's ops being built, the owner table, the run and
    machine sizes."""

    def __init__(self, seed: int, epoch_s: float, duration: float, nr_pages: int, gib: float,
                 thp_defrag: str = "madvise"):
        self.seed, self.epoch_s, self.dur = seed, epoch_s, duration
        self.nr_pages, self.gib, self.thp_defrag = nr_pages, gib, thp_defrag
        self.pool = SlotPool(epoch_s)
        self.ops = EpochBuilder(epoch_s, duration)
        self.owner_kind: list[int] = []
        self.owner_names: list[str] = []
        # set by the sources that create them (files, the kernel's owner)
        self.file_owner0, self.nfiles, self.kern_owner = -1, 0, -1

    def rng(self, *key: int) -> np.random.Generator:
        """The random generator of ``key`` (source, entity, epoch, ...)."""
        return np.random.default_rng([self.seed, *key])

    def new_owner(self, kind: int, name: str) -> int:
        self.owner_kind.append(kind)
        self.owner_names.append(name)
        return len(self.owner_kind) - 1

    def epoch_of(self, t: float) -> int:
        return int(math.floor(t / self.epoch_s))


class Spread:
    """``n`` events at uniform random times over ``[a, b)`` in time order
    (event ``i`` is the ``i``-th earliest), generated epoch by epoch.

    How many fall in each epoch is drawn once (a multinomial, from the
    entity's generator); the times within an epoch from that epoch's
    generator.  With ``b <= a`` all ``n`` happen at ``a``."""

    def __init__(self, rng: np.random.Generator, n: int, a: float, b: float, epoch_s: float):
        self.a, self.b, self.epoch_s = a, b, epoch_s
        self.e0 = int(math.floor(a / epoch_s))
        if n <= 0:
            self.counts = np.zeros(0, np.int64)
        elif b <= a:
            self.counts = np.array([n], np.int64)
        else:
            e1 = max(int(math.ceil(b / epoch_s)), self.e0 + 1)
            edges = np.clip(np.arange(self.e0, e1 + 1) * epoch_s, a, b)
            w = np.diff(edges)
            self.counts = rng.multinomial(n, w / w.sum()).astype(np.int64)
        self.cum = np.concatenate([[0], np.cumsum(self.counts)])

    @property
    def last_epoch(self) -> int:
        return self.e0 + len(self.counts) - 1

    def take(self, e: int, rng: np.random.Generator) -> tuple[int, int, np.ndarray]:
        """``(i0, i1, times)``: events ``i0:i1`` happen in epoch ``e``, at the
        sorted ``times`` (seconds)."""
        k = e - self.e0
        if k < 0 or k >= len(self.counts) or not self.counts[k]:
            i = int(self.cum[min(max(k, 0), len(self.counts))]) if len(self.counts) else 0
            return i, i, np.zeros(0)
        i0, i1 = int(self.cum[k]), int(self.cum[k + 1])
        if self.b <= self.a:
            return i0, i1, np.full(i1 - i0, self.a)
        lo = max(self.a, e * self.epoch_s)
        hi = min(self.b, (e + 1) * self.epoch_s)
        return i0, i1, np.sort(rng.uniform(lo, hi, i1 - i0))


class OpStream:
    """A generated workload, produced epoch by epoch (see the module docstring).

    ``make_sources(gen)`` returns the sources of one pass: objects with
    ``start(gen)`` (before the first epoch) and ``epoch(gen, e, lo, hi)``.
    Each call of :meth:`chunks` generates the stream from the beginning.

    For small runs and tests a stream can be turned into a whole
    :class:`~defragsim.workloads.ops.Workload` (:meth:`materialize`); its
    columns (``t``, ``kind``, ...) and ``len()`` do that on first use."""

    is_stream = True

    def __init__(self, name: str, description: str, *, duration: float, epoch_s: float,
                 nr_cpus: int, seed: int, nr_pages: int, gib: float, thp_defrag: str,
                 make_sources, meta: dict, cpu_key: int, estimated_ops: float):
        self.name, self.description = name, description
        self.duration_s, self.epoch_s = duration, epoch_s
        self.duration_ns = int(round(duration * 1e9))
        self.nr_cpus, self.seed, self.nr_pages, self.gib = nr_cpus, seed, nr_pages, gib
        self.thp_defrag = thp_defrag
        self.make_sources = make_sources
        self.meta = dict(meta, epoch_s=epoch_s)
        self.swap = None
        self.cpu_key = cpu_key
        self.estimated_ops = estimated_ops
        self._whole: Workload | None = None

    @property
    def nr_epochs(self) -> int:
        return max(int(math.ceil(self.duration_s / self.epoch_s)), 1)

    def chunks(self, epochs_per_chunk: int = 1, *, prefetch: bool = False):
        """The op stream as :class:`Chunk` s of ``epochs_per_chunk`` epochs,
        in time order.  ``prefetch``: generate the next chunk in a helper
        thread while the caller runs the current one (the results are the same)."""
        if isinstance(epochs_per_chunk, bool) or not isinstance(epochs_per_chunk, int) \
                or epochs_per_chunk < 1:
            raise ValueError(f"epochs_per_chunk: must be a positive integer, got {epochs_per_chunk!r}")
        it = self._generate(epochs_per_chunk)
        return _prefetched(it) if prefetch else it

    def _generate(self, per_chunk: int):
        g = Gen(self.seed, self.epoch_s, self.duration_s, self.nr_pages, self.gib,
                self.thp_defrag)
        sources = self.make_sources(g)
        for s in sources:
            s.start(g)
        parts = []
        for e in range(self.nr_epochs):
            lo, hi = e * self.epoch_s, min((e + 1) * self.epoch_s, self.duration_s)
            g.pool.begin_epoch(e)
            for s in sources:
                s.epoch(g, e, lo, hi)
            t, kind, order, gfp, handle, content, owner = g.ops.finish(e)
            cpu = g.rng(self.cpu_key, e).integers(0, self.nr_cpus, t.shape[0]).astype(np.int32)
            t *= 1e9                                   # in place: np.round(t * 1e9)
            np.round(t, out=t)
            parts.append((t.astype(np.int64), kind, order, gfp, handle.astype(np.int32), cpu,
                          content, owner))
            del t, kind, order, gfp, handle, content, owner, cpu
            if len(parts) == per_chunk or e == self.nr_epochs - 1:
                cols = parts[0] if len(parts) == 1 else \
                    tuple(np.concatenate(c) for c in zip(*parts))
                parts = []
                self.owner_names = g.owner_names
                yield Chunk(*cols, nr_handles=max(g.pool.top, 1),
                            owner_kind=np.array(g.owner_kind, np.uint8))

    def materialize(self) -> Workload:
        """The whole stream as one Workload (kept: later calls return it)."""
        if self._whole is None:
            ch = list(self.chunks(self.nr_epochs))
            c = ch[0]
            # a slot reused by another owner has one owner per use: the
            # Workload's per-handle owner table cannot say it, the ops can
            h_owner = np.zeros(c.nr_handles, np.int32)
            alloc = c.kind == C.OP_ALLOC
            h_owner[c.handle[alloc]] = c.owner[alloc]
            wl = Workload(name=self.name, t=c.t, kind=c.kind, order=c.order, gfp=c.gfp,
                          handle=c.handle, cpu=c.cpu, content=c.content,
                          nr_handles=c.nr_handles, duration_ns=self.duration_ns,
                          description=self.description, meta=self.meta,
                          handle_owner=h_owner, owner_kind=c.owner_kind,
                          owner_names=list(self.owner_names))
            wl.swap = self.swap
            wl.op_owner = c.owner
            self._whole = wl
        return self._whole

    def __len__(self) -> int:
        return len(self.materialize())

    def __getattr__(self, name):
        if name in ("t", "kind", "order", "gfp", "handle", "cpu", "content", "nr_handles",
                    "handle_owner", "owner_kind", "owner_names", "op_owner"):
            return getattr(self.materialize(), name)
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")


def _prefetched(it):
    """Items of ``it`` generated one ahead in a helper thread (numpy and the
    compiled model release the GIL: on two cores generation and the model
    overlap).  An exception in the generator is raised in the caller."""
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in it:
                if not put(item):
                    return
            put(end)
        except BaseException as e:          # handed to the consumer
            put(e)

    th = threading.Thread(target=work, name="defragsim-generate", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


__all__ = ["Chunk", "EpochBuilder", "Gen", "OpStream", "SlotPool", "Spread", "epoch_length",
           "OP_DTYPES"]
