"""Workload sources: the generators that turn a scenario into ops.

Randomness lives only here, drawn from a ``numpy.random.Generator`` seeded
from the config; the model is deterministic.  The order of the draws is part
of each generator's output: a source drawing one number more, or earlier,
changes every op stream after it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import constants as C
from ..constants import HPAGE_PMD_ORDER
from ..gfp import parse_gfp, vma_thp_gfp_mask
from .ops import OpBuilder, Workload
from .scenarios import Scenario, ScenarioError

#: page tables; a job's kernel stack (THREADINFO_GFP, vmalloc'd) has the same mask
GFP_PAGETABLE = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO")
GFP_TASK_SLAB = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP")
GFP_DENTRY = parse_gfp("GFP_KERNEL|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP")
GFP_PAGE_CACHE = parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP")


def pick_orders(rng: np.random.Generator, orders, n: int) -> np.ndarray:
    """``n`` orders (int8) drawn with the weights of ``orders`` = ((order, weight), ...)."""
    o = np.array([x for x, _ in orders], np.int8)
    w = np.array([x for _, x in orders])
    return rng.choice(o, size=n, p=w / w.sum())


def owner_kind_of(content: int) -> int:
    """Anonymous memory and page tables belong to tasks; page cache to files."""
    if content in (C.KIND_ANON, C.KIND_PAGETABLE):
        return C.OWNER_TASK
    if content == C.KIND_FILE:
        return C.OWNER_FILE
    return C.OWNER_KERNEL


# --- churn ------------------------------------------------------------------------------

def generate_churn(sc: Scenario, *, nr_pages: int, nr_cpus: int, seed: int,
                   duration: float | None = None) -> Workload:
    """Sustained alloc/free churn at a steady memory fill.

    Each class allocates at rate ``r * share`` with orders drawn from its
    order weights and exponentially distributed lifetimes of mean
    ``lifetime_s``.  The total rate ``r`` is chosen so that the expected
    allocated memory at steady state is ``fill * nr_pages``; because
    lifetimes are memoryless the run starts *in* steady state: at t=0 each
    class already holds a Poisson number of allocations (``rate * lifetime``),
    placed in random order, with fresh exponential residual lifetimes.
    """
    rng = np.random.default_rng(seed)
    dur = float(sc.duration if duration is None else duration)
    if not (dur > 0 and math.isfinite(dur)):
        raise ScenarioError(f"{sc.name}: duration must be positive, got {duration!r}")
    shares = np.array([c.share for c in sc.classes], float)
    shares /= shares.sum()
    rate = _churn_rate(sc, shares, nr_pages)
    parts = [_churn_class(rng, c, ci, rate * shares[ci], dur) for ci, c in enumerate(sc.classes)]
    t_alloc, order, gfp, content, lifetime, owner = (np.concatenate(x) for x in zip(*parts))
    n = t_alloc.shape[0]
    # Interleave the t=0 population randomly; keep arrivals in time order.
    idx = np.lexsort((rng.random(n), t_alloc))
    t_alloc, order, gfp, content, lifetime, owner = (
        a[idx] for a in (t_alloc, order.astype(np.int8), gfp, content, lifetime, owner))
    t_free = t_alloc + lifetime
    freed = t_free < dur
    nf = int(freed.sum())
    all_t = np.concatenate([np.round(t_alloc * 1e9).astype(np.int64),
                            np.round(t_free[freed] * 1e9).astype(np.int64)])
    kind = np.concatenate([np.full(n, C.OP_ALLOC, np.int8), np.full(nf, C.OP_FREE, np.int8)])
    handle = np.arange(n, dtype=np.int32)
    cols = [np.concatenate([a, a[freed]]) for a in (order, gfp, handle, content)]
    cpu = rng.integers(0, nr_cpus, n + nf).astype(np.int32)
    # Sort by time; an allocation always precedes its own free (lifetime > 0).
    o2 = np.lexsort((np.arange(n + nf), all_t))
    all_order, all_gfp, all_handle, all_content = (a[o2] for a in cols)
    return Workload(
        name=sc.name, t=all_t[o2], kind=kind[o2], order=all_order, gfp=all_gfp,
        handle=all_handle, cpu=cpu[o2], content=all_content, nr_handles=n,
        duration_ns=int(round(dur * 1e9)), description=sc.description,
        meta={"rate_per_s": rate, "fill": sc.fill, "seed": seed,
              "classes": [c.name for c in sc.classes]},
        handle_owner=owner, owner_kind=np.array([owner_kind_of(c.content) for c in sc.classes], np.uint8),
        owner_names=[c.name for c in sc.classes],
    )


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


def _churn_class(rng, c, ci: int, r: float, dur: float) -> tuple:
    """The allocations of churn class ``c`` (number ``ci``) at rate ``r``:
    (time, order, gfp, content, lifetime, owner) per allocation, those alive
    at t=0 first."""
    n0 = rng.poisson(r * c.lifetime_s)           # already alive at t=0
    n1 = rng.poisson(r * dur)                    # arrivals during the run
    t = np.concatenate([np.zeros(n0), np.sort(rng.uniform(0.0, dur, n1))])
    orders = pick_orders(rng, c.orders, n0 + n1)
    lt = rng.exponential(c.lifetime_s, n0 + n1)
    return (t, orders, np.full(n0 + n1, c.gfp, np.int64), np.full(n0 + n1, c.content, np.uint8),
            lt, np.full(n0 + n1, ci, np.int32))


# --- processes ----------------------------------------------------------------------------

@dataclass
class _Gen:
    """What every source of a processes scenario shares: the ops being built,
    the random generator (one, drawn in source order), the run and machine
    sizes, and the owners later sources reuse (page cache files, the kernel)."""

    ops: OpBuilder
    rng: np.random.Generator
    dur: float
    nr_pages: int
    gib: float
    thp_defrag: str
    file_owner0: int = -1
    nfiles: int = 0
    kern_owner: int = -1

    def pick_orders(self, orders, n: int) -> np.ndarray:
        return pick_orders(self.rng, orders, n)

    def file_owners(self, n: int) -> np.ndarray:
        """The files ``n`` new page cache pages belong to (drawn uniformly)."""
        return self.file_owner0 + self.rng.integers(0, self.nfiles, n)

    def ramp(self, ramp_s: float, n: int) -> np.ndarray:
        """``n`` sorted fault times over the first ``ramp_s`` seconds (all at 0
        without a ramp)."""
        return np.sort(self.rng.uniform(0, min(ramp_s, self.dur), n)) if ramp_s > 0 else np.zeros(n)


def _mean_pages(orders) -> float:
    """Pages per allocation of weighted ``orders``."""
    return np.mean([2 ** o * w for o, w in orders]) / np.mean([w for _, w in orders])


def generate_processes(p: dict, *, name: str, description: str, nr_pages: int, nr_cpus: int,
                       seed: int, duration: float | None = None, growth_scale: float = 1.0,
                       thp_defrag: str = "madvise") -> Workload:
    """A production-like machine: tasks fault in anonymous working sets and
    keep touching them (hot/cold), files are streamed into the page cache and
    partly re-read or dirtied (or written), kernel memory churns, optionally a
    non-movable footprint grows, short-lived jobs (a parallel build) come and
    go, and bursts of THP faults arrive.  Rates scale with memory size ("per
    GiB").  THP faults take their gfp mask from ``thp_defrag`` and whether
    the region is MADV_HUGEPAGE (:func:`~defragsim.gfp.vma_thp_gfp_mask`)."""
    rng = np.random.default_rng(seed)
    dur = float(p["duration"] if duration is None else duration)
    gib = nr_pages * C.PAGE_SIZE / (1 << 30)
    g = _Gen(OpBuilder(), rng, dur, nr_pages, gib, thp_defrag)
    _anon_tasks(g, p["anon"])
    _page_cache(g, p["file"])
    _streaming_writes(g, p["file"])
    g.kern_owner = g.ops.new_owner(C.OWNER_KERNEL, "kernel")
    for c in p["nonmovable"]:
        _nonmovable_churn(g, c)
    if p["growth"] is not None:
        _growth(g, p["growth"], growth_scale)
    if p["jobs"] is not None and dur > p["jobs"]["start_s"]:
        _jobs(g, p["jobs"])
    for b in p["thp_bursts"]:
        _thp_bursts(g, b)
    _compact_memory(g, p["compact_memory_at"])
    return g.ops.finish(name, description, nr_cpus, rng, dur,
                        meta={"seed": seed, "gib": gib, "growth_scale": growth_scale})


def _anon_tasks(g: _Gen, a: dict) -> None:
    """Tasks fault in their anonymous working sets (with page tables) over
    ``ramp_s``, and keep touching them."""
    ntask = a["tasks"]
    total_anon = int(a["footprint"] * g.nr_pages)
    sizes = g.rng.dirichlet(np.full(ntask, 4.0)) * total_anon
    task_handles = []
    for ti in range(ntask):
        owner = g.ops.new_owner(C.OWNER_TASK, f"task{ti}")
        task_handles.append(_anon_task(g, a, owner, int(sizes[ti])))
    _anon_touches(g, a, sizes, total_anon, task_handles)


def _anon_task(g: _Gen, a: dict, owner: int, pages: int) -> tuple:
    """One task's base pages, THPs and page tables; returns the handles of its
    (base, THP) anon allocations."""
    ops, rng = g.ops, g.rng
    n_thp = int(pages * a["thp_share"]) // 512
    n_small = max(pages - n_thp * 512, 0)
    hs = ops.new_handles(n_small, owner)
    ts = g.ramp(a["ramp_s"], n_small)
    content = np.where(rng.random(n_small) < a["pinned_share"],
                       C.KIND_ANON | C.CONTENT_PINNED, C.KIND_ANON) if a["pinned_share"] \
        else C.KIND_ANON
    ops.emit(ts, C.OP_ALLOC, 0, a["gfp"], hs, content)
    ht = ops.new_handles(n_thp, owner)
    tt = g.ramp(a["ramp_s"], n_thp)
    ops.emit(tt, C.OP_ALLOC, HPAGE_PMD_ORDER, vma_thp_gfp_mask(g.thp_defrag, a["thp_madvise"]), ht,
             C.KIND_ANON)
    # page tables: one page per 1/pagetable_ratio anon pages, unmovable
    npt = max(int(pages * a["pagetable_ratio"]), 1)
    hp = ops.new_handles(npt, owner)
    tp = g.ramp(a["ramp_s"], npt)
    ops.emit(tp, C.OP_ALLOC, 0, GFP_PAGETABLE, hp, C.KIND_PAGETABLE)
    return hs, ht


def _anon_touches(g: _Gen, a: dict, sizes: np.ndarray, total_anon: int, task_handles: list) -> None:
    """Hot/cold accesses to each task's pages, tasks weighted by size (touches
    of pages not yet faulted in are no-ops in the model)."""
    rng = g.rng
    ntask = len(task_handles)
    ntouch = rng.poisson(a["touch_rate_per_gib"] * g.gib * g.dur)
    if not (ntouch and total_anon):
        return
    who = rng.choice(ntask, size=ntouch, p=sizes / sizes.sum())
    tt = rng.uniform(0, g.dur, ntouch)
    hot = rng.random(ntouch) < a["hot_share"]
    hh = np.empty(ntouch, np.int64)
    # the touches of each task, in time-draw order (one stable sort, not a
    # pass over all touches per task)
    by_task = np.argsort(who, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(who, minlength=ntask))])
    for ti in range(ntask):
        sel = by_task[bounds[ti]:bounds[ti + 1]]
        allh = np.concatenate(task_handles[ti])
        if len(allh) == 0:
            hh[sel] = -1
            continue
        # the first hot_fraction of a random permutation of its pages is hot
        perm = rng.permutation(allh)
        nhot = max(int(len(perm) * a["hot_fraction"]), 1)
        r = rng.random(len(sel))
        idx = np.where(hot[sel], (r * nhot).astype(np.int64),
                       nhot + (r * max(len(perm) - nhot, 1)).astype(np.int64))
        hh[sel] = perm[np.minimum(idx, len(perm) - 1)]
    ok = hh >= 0
    g.ops.emit(tt[ok], C.OP_TOUCH, 0, 0, hh[ok], C.KIND_ANON)


def _page_cache(g: _Gen, f: dict) -> None:
    """The files, the page cache at t=0 (``initial``), and files read at
    ``read_mib_s_per_gib``: partly re-read, partly dirtied."""
    ops, rng = g.ops, g.rng
    g.nfiles = f["files"]
    g.file_owner0 = len(ops.owner_kind)
    for fi in range(f["files"]):
        ops.new_owner(C.OWNER_FILE, f"file{fi}")
    n_init = int(f["initial"] * g.nr_pages)
    if n_init:
        orders = g.pick_orders(f["orders"], n_init)
        hi = ops.new_handles(n_init, g.file_owners(n_init))
        ops.emit(np.zeros(n_init), C.OP_ALLOC, orders, f["gfp"], hi, C.KIND_FILE)
    rate = f["read_mib_s_per_gib"] * g.gib * (1 << 20) / C.PAGE_SIZE
    if not rate > 0:
        return
    n = rng.poisson(rate * g.dur / max(_mean_pages(f["orders"]), 1))
    t = np.sort(rng.uniform(0, g.dur, n))
    orders = g.pick_orders(f["orders"], n)
    hf = ops.new_handles(n, g.file_owners(n))
    ops.emit(t, C.OP_ALLOC, orders, f["gfp"], hf, C.KIND_FILE)
    if f["reread_share"] > 0 and n:
        nr = rng.poisson(n * f["reread_share"])
        tr = rng.uniform(0, g.dur, nr)
        # re-read a page read within the last reread_window_s
        lo = np.searchsorted(t, tr - f["reread_window_s"])
        hi = np.searchsorted(t, tr)
        ok = hi > lo
        j = lo[ok] + (rng.random(int(ok.sum())) * (hi[ok] - lo[ok])).astype(np.int64)
        ops.emit(tr[ok], C.OP_TOUCH, 0, 0, hf[j], C.KIND_FILE)
    if f["dirty_share"] > 0 and n:
        nd = rng.poisson(n * f["dirty_share"])
        j = rng.integers(0, n, nd)
        td = t[j] + rng.exponential(0.01, nd)
        ops.emit(td, C.OP_DIRTY, 0, 0, hf[j], C.KIND_FILE)


def _streaming_writes(g: _Gen, f: dict) -> None:
    """Streaming writes (fio, a log, objects): new page cache, dirtied at once."""
    wrate = f["write_mib_s_per_gib"] * g.gib * (1 << 20) / C.PAGE_SIZE
    if not wrate > 0:
        return
    n = g.rng.poisson(wrate * g.dur / max(_mean_pages(f["orders"]), 1))
    t = np.sort(g.rng.uniform(0, g.dur, n))
    hw = g.ops.new_handles(n, g.file_owners(n))
    g.ops.emit(t, C.OP_ALLOC, g.pick_orders(f["orders"], n), f["gfp"], hw, C.KIND_FILE)
    g.ops.emit(t, C.OP_DIRTY, 0, 0, hw, C.KIND_FILE)


def _nonmovable_churn(g: _Gen, c: dict) -> None:
    """One class of kernel allocations with exponential lifetimes, steady
    (starting in steady state) or in bursts."""
    rng = g.rng
    r = c["rate_per_gib"] * g.gib
    if c["burst"] is not None:
        t = _burst_times(g, r, *c["burst"])
    else:
        n0 = rng.poisson(r * c["lifetime_s"]) if c["lifetime_s"] < 1e6 else 0
        n1 = rng.poisson(r * g.dur)
        t = np.concatenate([np.zeros(n0), np.sort(rng.uniform(0, g.dur, n1))])
    n = len(t)
    hs = g.ops.new_handles(n, g.kern_owner)
    orders = g.pick_orders(c["orders"], n)
    g.ops.emit(t, C.OP_ALLOC, orders, c["gfp"], hs, c["content"])
    tf = t + rng.exponential(c["lifetime_s"], n)
    fr = tf < g.dur
    g.ops.emit(tf[fr], C.OP_FREE, orders[fr], c["gfp"], hs[fr], c["content"])


def _burst_times(g: _Gen, r: float, every: float, length: float, start: float) -> np.ndarray:
    """Sorted allocation times at rate ``r`` inside burst windows of
    ``length`` seconds every ``every`` seconds from ``start`` only."""
    parts = []
    b0 = start
    while b0 < g.dur:
        b1 = min(b0 + length, g.dur)
        parts.append(g.rng.uniform(b0, b1, g.rng.poisson(r * (b1 - b0))))
        b0 += every
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0)


def _growth(g: _Gen, gr: dict, growth_scale: float) -> None:
    """A non-movable footprint growing from ``start_s`` on, never freed."""
    if not gr["mib_s_per_gib"] * growth_scale > 0:
        return
    pages_s = gr["mib_s_per_gib"] * growth_scale * g.gib * (1 << 20) / C.PAGE_SIZE
    span = max(g.dur - gr["start_s"], 0.0)
    n = g.rng.poisson(pages_s * span / max(_mean_pages(gr["orders"]), 1))
    t = np.sort(g.rng.uniform(gr["start_s"], g.dur, n)) if span > 0 else np.zeros(0)
    hs = g.ops.new_handles(n, g.kern_owner)
    g.ops.emit(t, C.OP_ALLOC, g.pick_orders(gr["orders"], n), gr["gfp"], hs, gr["content"])


@dataclass
class _Jobs:
    """The parameters shared by the jobs of one parallel build."""

    j: dict                  # the scenario's jobs table
    gfp_thp: int
    mean_pages: float        # mean anon footprint of a job
    hot: np.ndarray | None   # handles of the hot set (headers), if any


def _jobs(g: _Gen, j: dict) -> None:
    """Jobs of a parallel build (make -jN): ``concurrency`` slots each run
    jobs back to back, from ``start_s`` plus a staggered start."""
    rng = g.rng
    jc = _Jobs(j, vma_thp_gfp_mask(g.thp_defrag, j["thp_madvise"]),
               j["footprint"] * g.nr_pages / j["concurrency"], None)
    if j["hot_share"] > 0:
        # the hot set (headers): in the page cache from the start
        nhot = max(int(j["hot_set"] * g.nr_pages), 1)
        jc.hot = g.ops.new_handles(nhot, g.file_owners(nhot))
        g.ops.emit(np.zeros(nhot), C.OP_ALLOC, 0, GFP_PAGE_CACHE, jc.hot, C.KIND_FILE)
    k = 0
    for _slot in range(j["concurrency"]):
        t0 = j["start_s"] + rng.uniform(0, j["lifetime_s"])   # staggered starts
        while t0 < g.dur:
            life = rng.gamma(2.0, j["lifetime_s"] / 2.0)
            owner = g.ops.new_owner(C.OWNER_TASK, f"job{k}")
            k += 1
            _job(g, jc, owner, t0, life)
            t0 += life


def _job(g: _Gen, jc: _Jobs, owner: int, t0: float, life: float) -> None:
    """One job, its own OOM-killable task: a kernel stack and task/mm slab at
    fork, anon memory (with page tables) faulted over the first third of its
    life while touching it, its file reads and writes and dentries, and its
    memory freed at exit."""
    ops, rng, j = g.ops, g.rng, jc.j
    t_exit = t0 + life
    pages = int(rng.gamma(4.0, jc.mean_pages / 4.0))
    n_thp = int(pages * j["thp_share"]) >> HPAGE_PMD_ORDER
    n_small = max(pages - (n_thp << HPAGE_PMD_ORDER), 0)
    ramp = life / 3.0
    # fork: kernel stack and task/mm slab
    hk = ops.new_handles(j["stack_pages"] + j["slab_pages"], owner)
    ops.emit(np.full(j["stack_pages"], t0), C.OP_ALLOC, 0, GFP_PAGETABLE, hk[:j["stack_pages"]],
             C.KIND_KERNEL)
    ops.emit(np.full(j["slab_pages"], t0), C.OP_ALLOC, 0, GFP_TASK_SLAB, hk[j["stack_pages"]:],
             C.KIND_SLAB_UNRECLAIMABLE)
    # anon memory and page tables
    ha = ops.new_handles(n_small, owner)
    ops.emit(t0 + np.sort(rng.uniform(0, ramp, n_small)), C.OP_ALLOC, 0, j["gfp"], ha, C.KIND_ANON)
    ht = ops.new_handles(n_thp, owner)
    ops.emit(t0 + np.sort(rng.uniform(0, ramp, n_thp)), C.OP_ALLOC, HPAGE_PMD_ORDER, jc.gfp_thp, ht,
             C.KIND_ANON)
    npt = max(int(pages * j["pagetable_ratio"]), 1)
    hp = ops.new_handles(npt, owner)
    ops.emit(t0 + np.sort(rng.uniform(0, ramp, npt)), C.OP_ALLOC, 0, GFP_PAGETABLE, hp,
             C.KIND_PAGETABLE)
    allh = np.concatenate([ha, ht])
    ntouch = rng.poisson(j["touches_per_page"] * len(allh)) if len(allh) else 0
    if ntouch:
        tt = rng.uniform(t0 + ramp, t_exit, ntouch)
        ops.emit(tt, C.OP_TOUCH, 0, 0, allh[rng.integers(0, len(allh), ntouch)], C.KIND_ANON)
    _job_files(g, jc, t0, life)
    # exit: the task's memory is freed
    if t_exit < g.dur:
        mine = np.concatenate([hk, ha, ht, hp])
        ops.emit(np.full(len(mine), t_exit), C.OP_FREE, 0, 0, mine, C.KIND_ANON)


def _job_files(g: _Gen, jc: _Jobs, t0: float, life: float) -> None:
    """A job's source reads (a share from the hot set that stays in the page
    cache, the rest new page cache), its object file (dirty page cache
    written near the end, outliving the job) and the dentries/inodes of the
    files it opened (reclaimable slab, freed after dentry_lifetime_s)."""
    ops, rng, j = g.ops, g.rng, jc.j
    t_exit = t0 + life
    nr = int(rng.poisson(j["read_pages_per_gib"] * g.gib))
    if nr:
        nh = rng.binomial(nr, j["hot_share"]) if jc.hot is not None else 0
        if nh:
            ops.emit(rng.uniform(t0, t_exit, nh), C.OP_TOUCH, 0, 0,
                     jc.hot[rng.integers(0, len(jc.hot), nh)], C.KIND_FILE)
        nn = nr - nh
        if nn:
            hr = ops.new_handles(nn, g.file_owners(nn))
            ops.emit(rng.uniform(t0, t_exit, nn), C.OP_ALLOC, 0, GFP_PAGE_CACHE, hr, C.KIND_FILE)
    nw = int(rng.poisson(j["write_pages_per_gib"] * g.gib))
    if nw:
        hw = ops.new_handles(nw, g.file_owners(nw))
        tw = np.sort(rng.uniform(t0 + 0.8 * life, t_exit, nw))
        ops.emit(tw, C.OP_ALLOC, 0, GFP_PAGE_CACHE, hw, C.KIND_FILE)
        ops.emit(tw, C.OP_DIRTY, 0, 0, hw, C.KIND_FILE)
    if j["dentry_pages"]:
        hd = ops.new_handles(j["dentry_pages"], g.kern_owner)
        td = rng.uniform(t0, t_exit, j["dentry_pages"])
        ops.emit(td, C.OP_ALLOC, 0, GFP_DENTRY, hd, C.KIND_SLAB_RECLAIMABLE)
        tf = td + rng.exponential(j["dentry_lifetime_s"], j["dentry_pages"])
        fr = tf < g.dur
        ops.emit(tf[fr], C.OP_FREE, 0, 0, hd[fr], C.KIND_SLAB_RECLAIMABLE)


def _thp_bursts(g: _Gen, b: dict) -> None:
    """Bursts of THP faults (a MADV_HUGEPAGE region, or not) every
    ``every_s``: each burst a new task faulting ``footprint`` over ``ramp_s``
    and freeing it ``hold_s`` later."""
    gfp = vma_thp_gfp_mask(g.thp_defrag, b["madvise"])
    nthp = int(b["footprint"] * g.nr_pages) >> HPAGE_PMD_ORDER
    k = 0
    t0 = b["start_s"]
    while t0 < g.dur and nthp:
        owner = g.ops.new_owner(C.OWNER_TASK, f"{b['name']}{k}")
        hb = g.ops.new_handles(nthp, owner)
        tb = t0 + np.sort(g.rng.uniform(0, b["ramp_s"], nthp))
        g.ops.emit(tb, C.OP_ALLOC, HPAGE_PMD_ORDER, gfp, hb, C.KIND_ANON)
        tf = tb + b["hold_s"]
        fr = tf < g.dur
        g.ops.emit(tf[fr], C.OP_FREE, 0, 0, hb[fr], C.KIND_ANON)
        k += 1
        t0 += b["every_s"]


def _compact_memory(g: _Gen, times: list) -> None:
    """``echo 1 > /proc/sys/vm/compact_memory`` at each of ``times`` (seconds)."""
    for tc in times:
        if tc < g.dur:
            g.ops.emit(np.array([tc]), C.OP_COMPACT_MEMORY, 0, 0, np.array([0]), 0)
