"""Workload sources: the generators that turn a scenario into a stream of ops.

Each source produces its ops epoch by epoch (:mod:`.stream`): ``start()``
emits what exists at t=0, ``epoch(g, e, lo, hi)`` what happens in ``[lo,
hi)`` (and may emit later ops, which wait for their epoch).  Randomness lives
only here, and every draw comes from a generator keyed by the seed, the
source, the entity and the epoch (``g.rng(...)``), never from a shared stream:
the ops do not depend on how much is generated at once.  The model is
deterministic.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from .. import constants as C
from ..constants import HPAGE_PMD_ORDER
from ..gfp import parse_gfp, vma_thp_gfp_mask
from .scenarios import Scenario, ScenarioError
from .stream import Gen, OpStream, Spread, epoch_length

#: page tables; a job's kernel stack (THREADINFO_GFP, vmalloc'd) has the same mask
GFP_PAGETABLE = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO")
GFP_TASK_SLAB = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP")
GFP_DENTRY = parse_gfp("GFP_KERNEL|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP")
GFP_PAGE_CACHE = parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP")

# The first element of each random generator's key: which source draws.
K_CPU, K_CHURN, K_CHURN_T0, K_ANON, K_TOUCH, K_FILE, K_WRITE, K_NONMOVABLE, K_GROWTH, \
    K_JOBS, K_BURST = range(1, 12)


def pick_orders(rng: np.random.Generator, orders, n: int) -> np.ndarray:
    """``n`` orders (int8) drawn with the weights of ``orders`` = ((order, weight), ...)."""
    o = np.array([x for x, _ in orders], np.int8)
    w = np.array([x for _, x in orders])
    return rng.choice(o, size=n, p=w / w.sum())


def _object_caches(objects: tuple) -> np.ndarray:
    """The cache of each object of ``objects`` = ((cache id, count), ...)."""
    return np.repeat(np.array([c for c, _ in objects], np.int8),
                     [n for _, n in objects]).astype(np.int8)


def _object_content(caches: np.ndarray) -> np.ndarray:
    """The content column of slab-object ops on ``caches``."""
    return np.array(C.SLAB_CACHE_KIND, np.uint8)[caches] | C.CONTENT_SLAB_OBJECT


def owner_kind_of(content: int) -> int:
    """Anonymous memory and page tables belong to tasks; page cache to files."""
    if content in (C.KIND_ANON, C.KIND_PAGETABLE):
        return C.OWNER_TASK
    if content == C.KIND_FILE:
        return C.OWNER_FILE
    return C.OWNER_KERNEL


def _pages_per_s(mib_s_per_gib: float, g: Gen) -> float:
    """Pages per second of a rate in MiB/s per GiB of memory."""
    return mib_s_per_gib * g.gib * (1 << 20) / C.PAGE_SIZE


def _mean_pages(orders) -> float:
    """Pages per allocation of weighted ``orders``."""
    return np.mean([2 ** o * w for o, w in orders]) / np.mean([w for _, w in orders])


def _stream(sc_name: str, description: str, make_sources, *, estimated_ops: float, dur: float,
            nr_pages: int, nr_cpus: int, seed: int, thp_defrag: str, meta: dict) -> OpStream:
    gib = nr_pages * C.PAGE_SIZE / (1 << 30)
    return OpStream(sc_name, description, duration=dur,
                    epoch_s=epoch_length(estimated_ops / dur), nr_cpus=nr_cpus, seed=seed,
                    nr_pages=nr_pages, gib=gib, thp_defrag=thp_defrag, make_sources=make_sources,
                    meta=meta, cpu_key=K_CPU, estimated_ops=estimated_ops)


def _free_later(g: Gen, t, life, order, gfp, slots, content, owner) -> None:
    """Frees ``life`` seconds after allocations at ``t``; a slot is released
    at its free (one not freed within the run is never released)."""
    tf = t + life
    g.ops.emit(tf, C.OP_FREE, order, gfp, slots, content, owner)
    fr = tf < g.dur
    g.pool.release(slots[fr], tf[fr])


# --- churn ------------------------------------------------------------------------------

def generate_churn(sc: Scenario, *, nr_pages: int, nr_cpus: int, seed: int,
                   duration: float | None = None, estimated_ops: float) -> OpStream:
    """Sustained alloc/free churn at a steady memory fill.

    Each class allocates at rate ``r * share`` with orders drawn from its
    order weights and exponentially distributed lifetimes of mean
    ``lifetime_s``.  The total rate ``r`` is chosen so that the expected
    allocated memory at steady state is ``fill * nr_pages``; because
    lifetimes are memoryless the run starts *in* steady state: at t=0 each
    class already holds a Poisson number of allocations (``rate * lifetime``),
    placed in random order, with fresh exponential residual lifetimes.
    ``estimated_ops`` (:func:`~.estimate.estimate_ops`) sets the epoch length.
    """
    dur = float(sc.duration if duration is None else duration)
    if not (dur > 0 and math.isfinite(dur)):
        raise ScenarioError(f"{sc.name}: duration must be positive, got {duration!r}")
    shares = np.array([c.share for c in sc.classes], float)
    shares /= shares.sum()
    rate = _churn_rate(sc, shares, nr_pages)

    def make(g: Gen):
        for c in sc.classes:
            g.new_owner(owner_kind_of(c.content), c.name)
        return [_Churn(sc.classes, rate * shares)]

    return _stream(sc.name, sc.description, make, estimated_ops=estimated_ops, dur=dur, nr_pages=nr_pages,
                   nr_cpus=nr_cpus, seed=seed, thp_defrag="madvise",
                   meta={"rate_per_s": rate, "fill": sc.fill, "seed": seed,
                         "classes": [c.name for c in sc.classes]})


def _churn_rate(sc: Scenario, shares: np.ndarray, nr_pages: int) -> float:
    """Allocations per second of all classes for the scenario's fill."""
    mean_pages = []
    for c in sc.classes:
        o = np.array([x for x, _ in c.orders])
        w = np.array([x for _, x in c.orders])
        w = w / w.sum()
        mean_pages.append(float((w * (2.0 ** o)).sum()))
    life = np.array([c.lifetime_s for c in sc.classes])
    # fill * nr_pages = r * sum(share * mean_pages * lifetime)
    return sc.fill * nr_pages / float((shares * np.array(mean_pages) * life).sum())


class _Churn:
    """The classes of a churn scenario: the t=0 population (all classes,
    interleaved at random) and the arrivals of each epoch."""

    def __init__(self, classes, rates):
        self.classes, self.rates = classes, rates

    def start(self, g: Gen) -> None:
        parts = []
        for ci, c in enumerate(self.classes):
            rng = g.rng(K_CHURN_T0, ci)
            n0 = rng.poisson(self.rates[ci] * c.lifetime_s)
            parts.append((np.full(n0, ci, np.int32), pick_orders(rng, c.orders, n0),
                          rng.exponential(c.lifetime_s, n0)))
        ci, order, life = (np.concatenate(x) for x in zip(*parts))
        perm = g.rng(K_CHURN_T0).permutation(len(ci))
        self._emit(g, np.zeros(len(ci)), ci[perm], order[perm], life[perm])

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        parts = []
        for ci, c in enumerate(self.classes):
            rng = g.rng(K_CHURN, ci, e)
            n = rng.poisson(self.rates[ci] * (hi - lo))
            parts.append((np.sort(rng.uniform(lo, hi, n)), np.full(n, ci, np.int32),
                          pick_orders(rng, c.orders, n), rng.exponential(c.lifetime_s, n)))
        t, ci, order, life = (np.concatenate(x) for x in zip(*parts))
        o = np.argsort(t, kind="stable")
        self._emit(g, t[o], ci[o], order[o], life[o])

    def _emit(self, g: Gen, t, ci, order, life) -> None:
        gfp = np.array([c.gfp for c in self.classes], np.int64)[ci]
        content = np.array([c.content for c in self.classes], np.uint8)[ci]
        slots = g.pool.take(len(t))
        g.ops.emit(t, C.OP_ALLOC, order, gfp, slots, content, ci)
        _free_later(g, t, life, order, gfp, slots, content, ci)


# --- processes ----------------------------------------------------------------------------

def generate_processes(p: dict, *, name: str, description: str, nr_pages: int, nr_cpus: int,
                       seed: int, duration: float | None = None, growth_scale: float = 1.0,
                       thp_defrag: str = "madvise", estimated_ops: float) -> OpStream:
    """A production-like machine: tasks fault in anonymous working sets and
    keep touching them (hot/cold), files are streamed into the page cache and
    partly re-read or dirtied (or written), kernel memory churns, optionally a
    non-movable footprint grows, short-lived jobs (a parallel build) come and
    go, and bursts of THP faults arrive.  Rates scale with memory size ("per
    GiB").  THP faults take their gfp mask from ``thp_defrag`` and whether
    the region is MADV_HUGEPAGE (:func:`~defragsim.gfp.vma_thp_gfp_mask`).
    ``estimated_ops`` (:func:`~.estimate.estimate_ops`) sets the epoch length."""
    dur = float(p["duration"] if duration is None else duration)

    def make(g: Gen):
        src = [_AnonTasks(p["anon"]), _PageCache(p["file"]), _KernelOwner()]
        src += [_Nonmovable(i, c) for i, c in enumerate(p["nonmovable"])]
        if p["growth"] is not None:
            src.append(_Growth(p["growth"], growth_scale))
        if p["jobs"] is not None and dur > p["jobs"]["start_s"]:
            src.append(_Jobs(p["jobs"]))
        src += [_ThpBursts(i, b) for i, b in enumerate(p["thp_bursts"])]
        src.append(_CompactMemory(p["compact_memory_at"]))
        return src

    gib = nr_pages * C.PAGE_SIZE / (1 << 30)
    meta = {"seed": seed, "gib": gib, "growth_scale": growth_scale}
    if p["runnable_tasks"] is not None:
        meta["runnable_tasks"] = p["runnable_tasks"]
    if p["jobs"] is not None and p["jobs"]["builds"] > 1:
        meta["build_starts"] = build_starts(p["jobs"], dur)
    return _stream(name, description, make, estimated_ops=estimated_ops, dur=dur, nr_pages=nr_pages,
                   nr_cpus=nr_cpus, seed=seed, thp_defrag=thp_defrag, meta=meta)


def build_starts(j: dict, dur: float) -> list[float]:
    """When each of ``[jobs] builds`` back-to-back builds starts (seconds):
    the jobs' part of the run, from ``start_s``, in equal parts."""
    n = j["builds"]
    return [j["start_s"] + (dur - j["start_s"]) * k / n for k in range(n)]


class _Source:
    """A source with nothing at t=0 or nothing per epoch."""

    def start(self, g: Gen) -> None:
        pass

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        pass


class _KernelOwner(_Source):
    """The owner of kernel memory no task owns (created after the tasks and files)."""

    def start(self, g: Gen) -> None:
        g.kern_owner = g.new_owner(C.OWNER_KERNEL, "kernel")


class _Faults:
    """Allocations of one kind on given handles, spread over an interval."""

    def __init__(self, rng, g: Gen, handles, a: float, b: float, order: int, gfp: int, content):
        self.h, self.order, self.gfp, self.content = handles, order, gfp, content
        self.spread = Spread(rng, len(handles), a, b, g.epoch_s)

    def emit(self, g: Gen, e: int, rng, owner, content=None) -> None:
        i0, i1, t = self.spread.take(e, rng)
        if i1 > i0:
            g.ops.emit(t, C.OP_ALLOC, self.order, self.gfp, self.h[i0:i1],
                       self.content if content is None else content(i1 - i0), owner)


class _AnonTasks(_Source):
    """Tasks fault in their anonymous working sets (with page tables) over
    ``ramp_s``, and keep touching them (hot/cold, tasks weighted by size;
    touches of pages not yet faulted in are no-ops in the model)."""

    def __init__(self, a: dict):
        self.a = a

    def start(self, g: Gen) -> None:
        a = self.a
        rng = g.rng(K_ANON)
        ntask = a["tasks"]
        self.total = int(a["footprint"] * g.nr_pages)
        self.sizes = rng.dirichlet(np.full(ntask, 4.0)) * self.total
        ramp = (0.0, min(a["ramp_s"], g.dur)) if a["ramp_s"] > 0 else (0.0, 0.0)
        self.tasks = []
        for ti in range(ntask):
            owner = g.new_owner(C.OWNER_TASK, f"task{ti}")
            pages = int(self.sizes[ti])
            n_thp = int(pages * a["thp_share"]) // 512
            n_small = max(pages - n_thp * 512, 0)
            npt = max(int(pages * a["pagetable_ratio"]), 1)
            # fresh slots: a touch may come before the fault (see SlotPool.fresh)
            hs, ht, hp = g.pool.fresh(n_small), g.pool.fresh(n_thp), g.pool.fresh(npt)
            trng = g.rng(K_ANON, ti)
            faults = [
                _Faults(trng, g, hs, *ramp, 0, a["gfp"], C.KIND_ANON),
                _Faults(trng, g, ht, *ramp, HPAGE_PMD_ORDER,
                        vma_thp_gfp_mask(g.thp_defrag, a["thp_madvise"]), C.KIND_ANON),
                _Faults(trng, g, hp, *ramp, 0, GFP_PAGETABLE, C.KIND_PAGETABLE)]
            allh = np.concatenate([hs, ht])
            # the first hot_fraction of a random permutation of its pages is hot
            perm = trng.permutation(allh)
            nhot = max(int(len(perm) * a["hot_fraction"]), 1)
            self.tasks.append((owner, faults, perm, nhot))

    def _pinned(self, rng):
        share = self.a["pinned_share"]
        if not share:
            return None
        return lambda n: np.where(rng.random(n) < share, C.KIND_ANON | C.CONTENT_PINNED,
                                  C.KIND_ANON).astype(np.uint8)

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        for ti, (owner, faults, _, _) in enumerate(self.tasks):
            rng = g.rng(K_ANON, ti, e)
            faults[0].emit(g, e, rng, owner, self._pinned(rng))
            faults[1].emit(g, e, rng, owner)
            faults[2].emit(g, e, rng, owner)
        self._touches(g, e, lo, hi)

    def _touches(self, g: Gen, e: int, lo: float, hi: float) -> None:
        a = self.a
        rng = g.rng(K_TOUCH, e)
        n = rng.poisson(a["touch_rate_per_gib"] * g.gib * (hi - lo))
        if not (n and self.total):
            return
        who = rng.choice(len(self.tasks), size=n, p=self.sizes / self.sizes.sum())
        tt = rng.uniform(lo, hi, n)
        hot = rng.random(n) < a["hot_share"]
        r = rng.random(n)
        hh = np.full(n, -1, np.int64)
        owners = np.zeros(n, np.int32)
        for ti, (owner, _, perm, nhot) in enumerate(self.tasks):
            sel = who == ti
            if not len(perm) or not sel.any():
                continue
            idx = np.where(hot[sel], (r[sel] * nhot).astype(np.int64),
                           nhot + (r[sel] * max(len(perm) - nhot, 1)).astype(np.int64))
            hh[sel] = perm[np.minimum(idx, len(perm) - 1)]
            owners[sel] = owner
        ok = hh >= 0
        g.ops.emit(tt[ok], C.OP_TOUCH, 0, 0, hh[ok], C.KIND_ANON, owners[ok])


class _PageCache(_Source):
    """The files, the page cache at t=0 (``initial``), files read at
    ``read_mib_s_per_gib`` (partly re-read within ``reread_window_s``,
    partly dirtied) and streaming writes (new page cache, dirtied at once)."""

    def __init__(self, f: dict):
        self.f = f
        self.window: deque = deque()      # (t, slots, owners) of recent reads

    def start(self, g: Gen) -> None:
        f = self.f
        g.nfiles = f["files"]
        g.file_owner0 = len(g.owner_kind)
        for fi in range(f["files"]):
            g.new_owner(C.OWNER_FILE, f"file{fi}")
        n_init = int(f["initial"] * g.nr_pages)
        if n_init:
            rng = g.rng(K_FILE)
            orders = pick_orders(rng, f["orders"], n_init)
            hi = g.pool.take(n_init)
            g.ops.emit(np.zeros(n_init), C.OP_ALLOC, orders, f["gfp"], hi, C.KIND_FILE,
                       _file_owners(g, rng, n_init))
            g.pool.release(hi, 0.0)         # no op names them again

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        self._reads(g, e, lo, hi)
        self._writes(g, e, lo, hi)

    def _reads(self, g: Gen, e: int, lo: float, hi: float) -> None:
        f = self.f
        rate = _pages_per_s(f["read_mib_s_per_gib"], g)
        if not rate > 0:
            return
        rng = g.rng(K_FILE, e)
        per_s = rate / max(_mean_pages(f["orders"]), 1)
        n = rng.poisson(per_s * (hi - lo))
        t = np.sort(rng.uniform(lo, hi, n))
        slots = g.pool.take(n)
        owners = _file_owners(g, rng, n)
        g.ops.emit(t, C.OP_ALLOC, pick_orders(rng, f["orders"], n), f["gfp"], slots,
                   C.KIND_FILE, owners)
        w = f["reread_window_s"] if f["reread_share"] > 0 else 0.0
        release = t + w
        self.window.append((t, slots, owners))
        while self.window and len(self.window[0][0]) and self.window[0][0][-1] < lo - w:
            self.window.popleft()
        while self.window and not len(self.window[0][0]) and len(self.window) > 1:
            self.window.popleft()
        if f["reread_share"] > 0:
            # re-read a page read within the last reread_window_s
            nr = rng.poisson(per_s * f["reread_share"] * (hi - lo))
            tr = rng.uniform(lo, hi, nr)
            wt, ws, wo = (np.concatenate(x) for x in zip(*self.window))
            a = np.searchsorted(wt, tr - w)
            b = np.searchsorted(wt, tr)
            ok = b > a
            j = a[ok] + (rng.random(int(ok.sum())) * (b[ok] - a[ok])).astype(np.int64)
            g.ops.emit(tr[ok], C.OP_TOUCH, 0, 0, ws[j], C.KIND_FILE, wo[j])
        if f["dirty_share"] > 0 and n:
            nd = rng.poisson(n * f["dirty_share"])
            j = rng.integers(0, n, nd)
            td = t[j] + rng.exponential(0.01, nd)
            g.ops.emit(td, C.OP_DIRTY, 0, 0, slots[j], C.KIND_FILE, owners[j])
            np.maximum.at(release, j, td)
        g.pool.release(slots, release)

    def _writes(self, g: Gen, e: int, lo: float, hi: float) -> None:
        f = self.f
        wrate = _pages_per_s(f["write_mib_s_per_gib"], g)
        if not wrate > 0:
            return
        rng = g.rng(K_WRITE, e)
        n = rng.poisson(wrate * (hi - lo) / max(_mean_pages(f["orders"]), 1))
        t = np.sort(rng.uniform(lo, hi, n))
        slots = g.pool.take(n)
        owners = _file_owners(g, rng, n)
        g.ops.emit(t, C.OP_ALLOC, pick_orders(rng, f["orders"], n), f["gfp"], slots,
                   C.KIND_FILE, owners)
        g.ops.emit(t, C.OP_DIRTY, 0, 0, slots, C.KIND_FILE, owners)
        g.pool.release(slots, t)


def _file_owners(g: Gen, rng, n: int) -> np.ndarray:
    """The files ``n`` new page cache pages belong to (drawn uniformly)."""
    return (g.file_owner0 + rng.integers(0, g.nfiles, n)).astype(np.int32)


def _overlap(a: float, b: float, lo: float, hi: float) -> float:
    return max(min(b, hi) - max(a, lo), 0.0)


class _Nonmovable(_Source):
    """One class of kernel allocations with exponential lifetimes, steady
    (starting in steady state) or in bursts."""

    def __init__(self, i: int, c: dict):
        self.i, self.c = i, c

    def start(self, g: Gen) -> None:
        c = self.c
        self.r = c["rate_per_gib"] * g.gib
        if c["burst"] is None and c["lifetime_s"] < 1e6:
            rng = g.rng(K_NONMOVABLE, self.i)
            self._alloc(g, rng, np.zeros(rng.poisson(self.r * c["lifetime_s"])))

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        c = self.c
        rng = g.rng(K_NONMOVABLE, self.i, e)
        if c["burst"] is None:
            t = np.sort(rng.uniform(lo, hi, rng.poisson(self.r * (hi - lo))))
        else:
            # inside burst windows of `length` s every `every` s from `start`
            every, length, start = c["burst"]
            parts = []
            k = max(int((lo - start) // every), 0)
            while start + k * every < hi:
                b0 = start + k * every
                a, b = max(b0, lo), min(b0 + length, g.dur, hi)
                if b > a:
                    parts.append(rng.uniform(a, b, rng.poisson(self.r * (b - a))))
                k += 1
            t = np.sort(np.concatenate(parts)) if parts else np.zeros(0)
        self._alloc(g, rng, t)

    def _alloc(self, g: Gen, rng, t) -> None:
        c, n = self.c, len(t)
        if not n:
            return
        slots = g.pool.take(n)
        # slab objects carry their cache in the order column
        orders = pick_orders(rng, c["orders"], n) if c["cache"] is None else c["cache"]
        g.ops.emit(t, C.OP_ALLOC, orders, c["gfp"], slots, c["content"], g.kern_owner)
        _free_later(g, t, rng.exponential(c["lifetime_s"], n), orders, c["gfp"], slots,
                    c["content"], g.kern_owner)


class _Growth(_Source):
    """A non-movable footprint growing from ``start_s`` on, never freed."""

    def __init__(self, gr: dict, growth_scale: float):
        self.gr, self.scale = gr, growth_scale

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        gr = self.gr
        if not gr["mib_s_per_gib"] * self.scale > 0:
            return
        span = _overlap(gr["start_s"], g.dur, lo, hi)
        if not span > 0:
            return
        rng = g.rng(K_GROWTH, e)
        pages_s = _pages_per_s(gr["mib_s_per_gib"] * self.scale, g)
        n = rng.poisson(pages_s * span / max(_mean_pages(gr["orders"]), 1))
        t = np.sort(rng.uniform(max(gr["start_s"], lo), min(g.dur, hi), n))
        g.ops.emit(t, C.OP_ALLOC, pick_orders(rng, gr["orders"], n), gr["gfp"], g.pool.take(n),
                   gr["content"], g.kern_owner)


class _Jobs(_Source):
    """Jobs of a parallel build (make -jN): ``concurrency`` slots each run
    jobs back to back, from ``start_s`` plus a staggered start."""

    def __init__(self, j: dict):
        self.j = j

    def start(self, g: Gen) -> None:
        j = self.j
        self.gfp_thp = vma_thp_gfp_mask(g.thp_defrag, j["thp_madvise"])
        self.mean_pages = j["footprint"] * g.nr_pages / j["concurrency"]
        self.hot = None
        if j["hot_share"] > 0:
            # the hot set (headers): in the page cache from the start
            nhot = max(int(j["hot_set"] * g.nr_pages), 1)
            self.hot = g.pool.fresh(nhot)
            self.hot_owner = _file_owners(g, g.rng(K_JOBS), nhot)
            g.ops.emit(np.zeros(nhot), C.OP_ALLOC, 0, GFP_PAGE_CACHE, self.hot, C.KIND_FILE,
                       self.hot_owner)
        self.next_start = [j["start_s"] + g.rng(K_JOBS, s).uniform(0, j["lifetime_s"])
                           for s in range(j["concurrency"])]
        self.count = [0] * j["concurrency"]
        self.running: list[_Job] = []
        # builds: `make clean` at the start of each build after the first
        # deletes the object files the builds before it wrote
        self.cleans = build_starts(j, g.dur)[1:] if j["clean"] else []
        self.objects: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        for s in range(self.j["concurrency"]):
            while self.next_start[s] < hi and self.next_start[s] < g.dur:
                job = _Job(g, self, s, self.count[s], self.next_start[s])
                self.running.append(job)
                self.count[s] += 1
                self.next_start[s] += job.life
        for job in self.running:
            job.epoch(g, e, lo, hi)
        self.running = [job for job in self.running if not job.done(hi, g.dur)]
        for tc in [t for t in self.cleans if lo <= t < hi]:
            self.make_clean(g, tc)

    def wrote(self, g: Gen, t: np.ndarray, slots: np.ndarray, owners: np.ndarray) -> None:
        """A job wrote object files: page cache that stays until reclaim
        evicts it or, with builds, the next build's `make clean`."""
        before = t < self.cleans[-1] if self.cleans else np.zeros(len(t), bool)
        if before.any():
            self.objects.append((t[before], slots[before], owners[before]))
        if not before.all():
            g.pool.release(slots[~before], t[~before])

    def make_clean(self, g: Gen, tc: float) -> None:
        """`make clean` at ``tc``: unlink() of the object files written
        before it truncates their page cache (frees of whatever is resident)."""
        keep = []
        for t, slots, owners in self.objects:
            old = t < tc
            if old.any():
                h = slots[old]
                g.ops.emit(np.full(len(h), tc), C.OP_FREE, 0, 0, h, C.KIND_FILE, owners[old])
                g.pool.release(h, tc)
            if not old.all():
                keep.append((t[~old], slots[~old], owners[~old]))
        self.objects = keep


class _Job:
    """One job, its own OOM-killable task: a kernel stack and task/mm slab at
    fork, anon memory (with page tables) faulted over the first third of its
    life, touched for the rest of it, its file reads and writes and dentries,
    and its memory freed at exit."""

    def __init__(self, g: Gen, jobs: _Jobs, slot: int, k: int, t0: float):
        j = jobs.j
        self.jobs, self.key = jobs, (K_JOBS, slot, k)
        rng = g.rng(*self.key)
        self.life = life = rng.gamma(2.0, j["lifetime_s"] / 2.0)
        self.t0, self.t_exit = t0, t0 + life
        self.owner = g.new_owner(C.OWNER_TASK, f"job{slot}.{k}")
        pages = int(rng.gamma(4.0, jobs.mean_pages / 4.0))
        n_thp = int(pages * j["thp_share"]) >> HPAGE_PMD_ORDER
        n_small = max(pages - (n_thp << HPAGE_PMD_ORDER), 0)
        ramp = life / 3.0
        npt = max(int(pages * j["pagetable_ratio"]), 1)
        # fork: kernel stack and task/mm slab
        self.hk = g.pool.take(j["stack_pages"] + j["slab_pages"])
        g.ops.emit(np.full(j["stack_pages"], t0), C.OP_ALLOC, 0, GFP_PAGETABLE,
                   self.hk[:j["stack_pages"]], C.KIND_KERNEL, self.owner)
        g.ops.emit(np.full(j["slab_pages"], t0), C.OP_ALLOC, 0, GFP_TASK_SLAB,
                   self.hk[j["stack_pages"]:], C.KIND_SLAB_UNRECLAIMABLE, self.owner)
        # fork: task_struct, mm_struct, vmas, ... as slab objects (kmem_cache_alloc)
        caches = _object_caches(j["fork_objects"])
        hf = g.pool.take(len(caches))
        g.ops.emit(np.full(len(caches), t0), C.OP_ALLOC, caches, GFP_TASK_SLAB, hf,
                   _object_content(caches), self.owner)
        self.hk = np.concatenate([self.hk, hf])
        ha, ht, hp = g.pool.take(n_small), g.pool.take(n_thp), g.pool.take(npt)
        self.faults = [_Faults(rng, g, ha, t0, t0 + ramp, 0, j["gfp"], C.KIND_ANON),
                       _Faults(rng, g, ht, t0, t0 + ramp, HPAGE_PMD_ORDER, jobs.gfp_thp,
                               C.KIND_ANON),
                       _Faults(rng, g, hp, t0, t0 + ramp, 0, GFP_PAGETABLE, C.KIND_PAGETABLE)]
        self.allh = np.concatenate([ha, ht])
        self.mine = np.concatenate([self.hk, ha, ht, hp])
        ntouch = rng.poisson(j["touches_per_page"] * len(self.allh)) if len(self.allh) else 0
        self.touches = Spread(rng, ntouch, t0 + ramp, self.t_exit, g.epoch_s)
        # source reads: a share from the hot set, the rest new page cache
        nr = int(rng.poisson(j["read_pages_per_gib"] * g.gib))
        nh = rng.binomial(nr, j["hot_share"]) if jobs.hot is not None and nr else 0
        self.hot_reads = Spread(rng, nh, t0, self.t_exit, g.epoch_s)
        self.reads = Spread(rng, nr - nh, t0, self.t_exit, g.epoch_s)
        # its object file: dirty page cache written near the end, outliving it
        nw = int(rng.poisson(j["write_pages_per_gib"] * g.gib))
        self.writes = Spread(rng, nw, t0 + 0.8 * life, self.t_exit, g.epoch_s)
        # dentries/inodes of the files it opened: reclaimable slab (pages, or
        # objects of their caches), outliving the job
        self.dentries = Spread(rng, j["dentry_pages"], t0, self.t_exit, g.epoch_s)
        self.fcaches = rng.permutation(_object_caches(j["file_objects"]))
        self.fobjs = Spread(rng, len(self.fcaches), t0, self.t_exit, g.epoch_s)

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        j, jobs = self.jobs.j, self.jobs
        rng = g.rng(*self.key, e)
        for f in self.faults:
            f.emit(g, e, rng, self.owner)
        i0, i1, t = self.touches.take(e, rng)
        if i1 > i0:
            g.ops.emit(t, C.OP_TOUCH, 0, 0, self.allh[rng.integers(0, len(self.allh), i1 - i0)],
                       C.KIND_ANON, self.owner)
        i0, i1, t = self.hot_reads.take(e, rng)
        if i1 > i0:
            pick = rng.integers(0, len(jobs.hot), i1 - i0)
            g.ops.emit(t, C.OP_TOUCH, 0, 0, jobs.hot[pick], C.KIND_FILE, jobs.hot_owner[pick])
        i0, i1, t = self.reads.take(e, rng)
        if i1 > i0:
            hr = g.pool.take(i1 - i0)
            g.ops.emit(t, C.OP_ALLOC, 0, GFP_PAGE_CACHE, hr, C.KIND_FILE,
                       _file_owners(g, rng, i1 - i0))
            g.pool.release(hr, t)
        i0, i1, t = self.writes.take(e, rng)
        if i1 > i0:
            hw = g.pool.take(i1 - i0)
            owners = _file_owners(g, rng, i1 - i0)
            g.ops.emit(t, C.OP_ALLOC, 0, GFP_PAGE_CACHE, hw, C.KIND_FILE, owners)
            g.ops.emit(t, C.OP_DIRTY, 0, 0, hw, C.KIND_FILE, owners)
            jobs.wrote(g, t, hw, owners)
        i0, i1, t = self.dentries.take(e, rng)
        if i1 > i0:
            hd = g.pool.take(i1 - i0)
            g.ops.emit(t, C.OP_ALLOC, 0, GFP_DENTRY, hd, C.KIND_SLAB_RECLAIMABLE, g.kern_owner)
            _free_later(g, t, rng.exponential(j["dentry_lifetime_s"], i1 - i0), 0, 0, hd,
                        C.KIND_SLAB_RECLAIMABLE, g.kern_owner)
        i0, i1, t = self.fobjs.take(e, rng)
        if i1 > i0:
            hd = g.pool.take(i1 - i0)
            caches = self.fcaches[i0:i1]
            content = _object_content(caches)
            g.ops.emit(t, C.OP_ALLOC, caches, GFP_DENTRY, hd, content, g.kern_owner)
            _free_later(g, t, rng.exponential(j["dentry_lifetime_s"], i1 - i0), caches, 0, hd,
                        content, g.kern_owner)
        if lo <= self.t_exit < hi and self.t_exit < g.dur:
            # exit: the task's memory is freed
            g.ops.emit(np.full(len(self.mine), self.t_exit), C.OP_FREE, 0, 0, self.mine,
                       C.KIND_ANON, self.owner)
            g.pool.release(self.mine, self.t_exit)

    def done(self, hi: float, dur: float) -> bool:
        return self.t_exit < hi or hi >= dur


class _ThpBursts(_Source):
    """Bursts of THP faults (a MADV_HUGEPAGE region, or not) every
    ``every_s``: each burst a new task faulting ``footprint`` over ``ramp_s``
    and freeing it ``hold_s`` later."""

    def __init__(self, i: int, b: dict):
        self.i, self.b = i, b

    def start(self, g: Gen) -> None:
        self.gfp = vma_thp_gfp_mask(g.thp_defrag, self.b["madvise"])
        self.nthp = int(self.b["footprint"] * g.nr_pages) >> HPAGE_PMD_ORDER
        self.k = 0
        self.active: list = []

    def epoch(self, g: Gen, e: int, lo: float, hi: float) -> None:
        b = self.b
        while self.nthp and b["start_s"] + self.k * b["every_s"] < min(hi, g.dur):
            t0 = b["start_s"] + self.k * b["every_s"]
            owner = g.new_owner(C.OWNER_TASK, f"{b['name']}{self.k}")
            rng = g.rng(K_BURST, self.i, self.k)
            slots = g.pool.take(self.nthp)
            self.active.append((self.k, owner, slots, Spread(rng, self.nthp, t0,
                                                               t0 + b["ramp_s"], g.epoch_s)))
            self.k += 1
        for k, owner, slots, spread in self.active:
            i0, i1, tb = spread.take(e, g.rng(K_BURST, self.i, k, e))
            if i1 > i0:
                g.ops.emit(tb, C.OP_ALLOC, HPAGE_PMD_ORDER, self.gfp, slots[i0:i1], C.KIND_ANON,
                           owner)
                _free_later(g, tb, b["hold_s"], 0, 0, slots[i0:i1], C.KIND_ANON, owner)
        self.active = [a for a in self.active if a[3].last_epoch > e]


class _CompactMemory(_Source):
    """``echo 1 > /proc/sys/vm/compact_memory`` at each of ``times`` (seconds)."""

    def __init__(self, times: list):
        self.times = times

    def start(self, g: Gen) -> None:
        for tc in self.times:
            g.ops.emit(np.array([tc]), C.OP_COMPACT_MEMORY, 0, 0, np.array([0]), 0, 0)
