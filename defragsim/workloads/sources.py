"""Workload sources: the generators that turn a scenario into ops.

Randomness lives only here, drawn from a ``numpy.random.Generator`` seeded
from the config; the model is deterministic.
"""
from __future__ import annotations

import math

import numpy as np

from .. import constants as C
from ..constants import HPAGE_PMD_ORDER
from ..gfp import parse_gfp, vma_thp_gfp_mask
from .ops import Workload
from .scenarios import Scenario, ScenarioError

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
    mean_pages = []
    for c in sc.classes:
        o = np.array([x for x, _ in c.orders])
        w = np.array([x for _, x in c.orders])
        w = w / w.sum()
        mean_pages.append(float((w * (2.0 ** o)).sum()))
    mean_pages = np.array(mean_pages)
    life = np.array([c.lifetime_s for c in sc.classes])
    # fill * nr_pages = r * sum(share * mean_pages * lifetime)
    rate = sc.fill * nr_pages / float((shares * mean_pages * life).sum())
    parts_t, parts_order, parts_gfp, parts_content, parts_life, parts_owner = [], [], [], [], [], []
    for ci, c in enumerate(sc.classes):
        r = rate * shares[ci]
        n0 = rng.poisson(r * c.lifetime_s)           # already alive at t=0
        n1 = rng.poisson(r * dur)                    # arrivals during the run
        t = np.concatenate([np.zeros(n0), np.sort(rng.uniform(0.0, dur, n1))])
        o = np.array([x for x, _ in c.orders], np.int8)
        w = np.array([x for _, x in c.orders])
        orders = rng.choice(o, size=n0 + n1, p=w / w.sum())
        lt = rng.exponential(c.lifetime_s, n0 + n1)
        parts_t.append(t)
        parts_order.append(orders)
        parts_gfp.append(np.full(n0 + n1, c.gfp, np.int64))
        parts_content.append(np.full(n0 + n1, c.content, np.uint8))
        parts_life.append(lt)
        parts_owner.append(np.full(n0 + n1, ci, np.int32))
    t_alloc = np.concatenate(parts_t)
    order = np.concatenate(parts_order).astype(np.int8)
    gfp = np.concatenate(parts_gfp)
    content = np.concatenate(parts_content)
    lifetime = np.concatenate(parts_life)
    owner = np.concatenate(parts_owner)
    n = t_alloc.shape[0]
    # Interleave the t=0 population randomly; keep arrivals in time order.
    tie = rng.random(n)
    idx = np.lexsort((tie, t_alloc))
    t_alloc, order, gfp, content, lifetime, owner = (
        a[idx] for a in (t_alloc, order, gfp, content, lifetime, owner))
    handle = np.arange(n, dtype=np.int32)
    t_free = t_alloc + lifetime
    freed = t_free < dur
    ta_ns = np.round(t_alloc * 1e9).astype(np.int64)
    tf_ns = np.round(t_free[freed] * 1e9).astype(np.int64)
    nf = int(freed.sum())
    all_t = np.concatenate([ta_ns, tf_ns])
    kind = np.concatenate([np.full(n, C.OP_ALLOC, np.int8), np.full(nf, C.OP_FREE, np.int8)])
    all_order = np.concatenate([order, order[freed]])
    all_gfp = np.concatenate([gfp, gfp[freed]])
    all_handle = np.concatenate([handle, handle[freed]])
    all_content = np.concatenate([content, content[freed]])
    cpu = rng.integers(0, nr_cpus, n + nf).astype(np.int32)
    # Sort by time; an allocation always precedes its own free (lifetime > 0).
    seq = np.arange(n + nf)
    o2 = np.lexsort((seq, all_t))
    return Workload(
        name=sc.name, t=all_t[o2], kind=kind[o2], order=all_order[o2], gfp=all_gfp[o2],
        handle=all_handle[o2], cpu=cpu[o2], content=all_content[o2], nr_handles=n,
        duration_ns=int(round(dur * 1e9)), description=sc.description,
        meta={"rate_per_s": rate, "fill": sc.fill, "seed": seed,
              "classes": [c.name for c in sc.classes]},
        handle_owner=owner, owner_kind=np.array([owner_kind_of(c.content) for c in sc.classes], np.uint8),
        owner_names=[c.name for c in sc.classes],
    )


def owner_kind_of(content: int) -> int:
    """Anonymous memory and page tables belong to tasks; page cache to files."""
    if content in (C.KIND_ANON, C.KIND_PAGETABLE):
        return C.OWNER_TASK
    if content == C.KIND_FILE:
        return C.OWNER_FILE
    return C.OWNER_KERNEL


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
    cols = {k: [] for k in ("t", "kind", "order", "gfp", "handle", "content")}
    h_owner = []
    owner_kind = []
    owner_names = []
    next_h = [0]

    def new_handles(n, owner):
        """``n`` new handles owned by ``owner`` (one id, or one per handle)."""
        h = np.arange(next_h[0], next_h[0] + n, dtype=np.int64)
        next_h[0] += n
        h_owner.append(np.broadcast_to(np.asarray(owner, np.int32), (n,)).copy())
        return h

    def emit(t, kind, order, gfp, handle, content):
        n = len(t)
        cols["t"].append(np.asarray(t, np.float64))
        cols["kind"].append(np.full(n, kind, np.int8))
        cols["order"].append(np.broadcast_to(np.asarray(order, np.int8), (n,)).copy())
        cols["gfp"].append(np.broadcast_to(np.asarray(gfp, np.int64), (n,)).copy())
        cols["handle"].append(np.asarray(handle, np.int64))
        cols["content"].append(np.broadcast_to(np.asarray(content, np.uint8), (n,)).copy())

    def pick_orders(orders, n):
        o = np.array([x for x, _ in orders], np.int8)
        w = np.array([x for _, x in orders])
        return rng.choice(o, size=n, p=w / w.sum())

    # --- anonymous tasks ------------------------------------------------------
    a = p["anon"]
    ntask = a["tasks"]
    total_anon = int(a["footprint"] * nr_pages)
    sizes = rng.dirichlet(np.full(ntask, 4.0)) * total_anon
    task_handles = []
    for ti in range(ntask):
        owner = len(owner_kind)
        owner_kind.append(C.OWNER_TASK)
        owner_names.append(f"task{ti}")
        pages = int(sizes[ti])
        n_thp = int(pages * a["thp_share"]) // 512
        n_small = max(pages - n_thp * 512, 0)
        hs = new_handles(n_small, owner)
        ts = np.sort(rng.uniform(0, min(a["ramp_s"], dur), n_small)) if a["ramp_s"] > 0 else np.zeros(n_small)
        content = np.where(rng.random(n_small) < a["pinned_share"],
                           C.KIND_ANON | C.CONTENT_PINNED, C.KIND_ANON) if a["pinned_share"] \
            else C.KIND_ANON
        emit(ts, C.OP_ALLOC, 0, a["gfp"], hs, content)
        ht = new_handles(n_thp, owner)
        tt = np.sort(rng.uniform(0, min(a["ramp_s"], dur), n_thp)) if a["ramp_s"] > 0 else np.zeros(n_thp)
        emit(tt, C.OP_ALLOC, HPAGE_PMD_ORDER, vma_thp_gfp_mask(thp_defrag, a["thp_madvise"]), ht,
             C.KIND_ANON)
        task_handles.append((hs, ht))
        # page tables: one page per 1/pagetable_ratio anon pages, unmovable
        npt = max(int(pages * a["pagetable_ratio"]), 1)
        hp = new_handles(npt, owner)
        tp = np.sort(rng.uniform(0, min(a["ramp_s"], dur), npt)) if a["ramp_s"] > 0 else np.zeros(npt)
        emit(tp, C.OP_ALLOC, 0, parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO"), hp, C.KIND_PAGETABLE)
    # touches: hot/cold accesses to each task's pages (touches of pages not yet
    # faulted in are no-ops in the model)
    ntouch = rng.poisson(a["touch_rate_per_gib"] * gib * dur)
    if ntouch and total_anon:
        w = sizes / sizes.sum()
        who = rng.choice(ntask, size=ntouch, p=w)
        tt = rng.uniform(0, dur, ntouch)
        hot = rng.random(ntouch) < a["hot_share"]
        hh = np.empty(ntouch, np.int64)
        # the touches of each task, in time-draw order (one stable sort, not a
        # pass over all touches per task)
        by_task = np.argsort(who, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(who, minlength=ntask))])
        for ti in range(ntask):
            sel = by_task[bounds[ti]:bounds[ti + 1]]
            hs, ht = task_handles[ti]
            allh = np.concatenate([hs, ht])
            if len(allh) == 0:
                hh[sel] = -1
                continue
            perm = rng.permutation(allh)
            nhot = max(int(len(perm) * a["hot_fraction"]), 1)
            k = len(sel)
            r = rng.random(k)
            hsel = hot[sel]
            idx = np.where(hsel, (r * nhot).astype(np.int64),
                           nhot + (r * max(len(perm) - nhot, 1)).astype(np.int64))
            idx = np.minimum(idx, len(perm) - 1)
            hh[sel] = perm[idx]
        ok = hh >= 0
        emit(tt[ok], C.OP_TOUCH, 0, 0, hh[ok], C.KIND_ANON)

    # --- page cache -------------------------------------------------------------
    f = p["file"]
    file_owner0 = len(owner_kind)
    for fi in range(f["files"]):
        owner_kind.append(C.OWNER_FILE)
        owner_names.append(f"file{fi}")
    n_init = int(f["initial"] * nr_pages)
    if n_init:
        orders = pick_orders(f["orders"], n_init)
        hi = new_handles(n_init, file_owner0 + rng.integers(0, f["files"], n_init))
        emit(np.zeros(n_init), C.OP_ALLOC, orders, f["gfp"], hi, C.KIND_FILE)
    rate = f["read_mib_s_per_gib"] * gib * (1 << 20) / C.PAGE_SIZE
    if rate > 0:
        orders_mean = np.mean([2 ** o * w for o, w in f["orders"]]) / np.mean([w for _, w in f["orders"]])
        n = rng.poisson(rate * dur / max(orders_mean, 1))
        t = np.sort(rng.uniform(0, dur, n))
        orders = pick_orders(f["orders"], n)
        hf = new_handles(n, file_owner0 + rng.integers(0, f["files"], n))
        emit(t, C.OP_ALLOC, orders, f["gfp"], hf, C.KIND_FILE)
        if f["reread_share"] > 0 and n:
            nr = rng.poisson(n * f["reread_share"])
            tr = rng.uniform(0, dur, nr)
            # re-read a page read within the last reread_window_s
            lo = np.searchsorted(t, tr - f["reread_window_s"])
            hi = np.searchsorted(t, tr)
            ok = hi > lo
            j = lo[ok] + (rng.random(int(ok.sum())) * (hi[ok] - lo[ok])).astype(np.int64)
            emit(tr[ok], C.OP_TOUCH, 0, 0, hf[j], C.KIND_FILE)
        if f["dirty_share"] > 0 and n:
            nd = rng.poisson(n * f["dirty_share"])
            j = rng.integers(0, n, nd)
            td = t[j] + rng.exponential(0.01, nd)
            emit(td, C.OP_DIRTY, 0, 0, hf[j], C.KIND_FILE)

    wrate = f["write_mib_s_per_gib"] * gib * (1 << 20) / C.PAGE_SIZE
    if wrate > 0:
        # streaming writes (fio, a log, objects): new page cache, dirtied at once
        orders_mean = np.mean([2 ** o * w for o, w in f["orders"]]) / np.mean([w for _, w in f["orders"]])
        n = rng.poisson(wrate * dur / max(orders_mean, 1))
        t = np.sort(rng.uniform(0, dur, n))
        hw = new_handles(n, file_owner0 + rng.integers(0, f["files"], n))
        emit(t, C.OP_ALLOC, pick_orders(f["orders"], n), f["gfp"], hw, C.KIND_FILE)
        emit(t, C.OP_DIRTY, 0, 0, hw, C.KIND_FILE)

    # --- non-movable churn -----------------------------------------------------
    kern_owner = len(owner_kind)
    owner_kind.append(C.OWNER_KERNEL)
    owner_names.append("kernel")
    for c in p["nonmovable"]:
        r = c["rate_per_gib"] * gib
        if c["burst"] is not None:
            # bursts: rate_per_gib applies inside each burst window only
            every, length, start = c["burst"]
            parts = []
            b0 = start
            while b0 < dur:
                b1 = min(b0 + length, dur)
                parts.append(rng.uniform(b0, b1, rng.poisson(r * (b1 - b0))))
                b0 += every
            t = np.sort(np.concatenate(parts)) if parts else np.zeros(0)
            n = len(t)
        else:
            n0 = rng.poisson(r * c["lifetime_s"]) if c["lifetime_s"] < 1e6 else 0
            n1 = rng.poisson(r * dur)
            t = np.concatenate([np.zeros(n0), np.sort(rng.uniform(0, dur, n1))])
            n = n0 + n1
        hs = new_handles(n, kern_owner)
        orders = pick_orders(c["orders"], n)
        emit(t, C.OP_ALLOC, orders, c["gfp"], hs, c["content"])
        life = rng.exponential(c["lifetime_s"], n)
        tf = t + life
        fr = tf < dur
        emit(tf[fr], C.OP_FREE, orders[fr], c["gfp"], hs[fr], c["content"])

    # --- growing non-movable footprint ----------------------------------------------
    g = p["growth"]
    if g is not None and g["mib_s_per_gib"] * growth_scale > 0:
        pages_s = g["mib_s_per_gib"] * growth_scale * gib * (1 << 20) / C.PAGE_SIZE
        om = np.mean([2 ** o * w for o, w in g["orders"]]) / np.mean([w for _, w in g["orders"]])
        span = max(dur - g["start_s"], 0.0)
        n = rng.poisson(pages_s * span / max(om, 1))
        t = np.sort(rng.uniform(g["start_s"], dur, n)) if span > 0 else np.zeros(0)
        hs = new_handles(n, kern_owner)
        emit(t, C.OP_ALLOC, pick_orders(g["orders"], n), g["gfp"], hs, g["content"])

    # --- short-lived jobs (a parallel build: make -jN) ------------------------------
    j = p["jobs"]
    if j is not None and dur > j["start_s"]:
        _emit_jobs(j, rng=rng, dur=dur, nr_pages=nr_pages, thp_defrag=thp_defrag,
                   new_handles=new_handles, emit=emit, owner_kind=owner_kind,
                   owner_names=owner_names, kern_owner=kern_owner,
                   file_owner0=file_owner0, nfiles=f["files"])

    # --- bursts of THP faults (MADV_HUGEPAGE regions, or not) -----------------------
    for b in p["thp_bursts"]:
        gfp = vma_thp_gfp_mask(thp_defrag, b["madvise"])
        nthp = int(b["footprint"] * nr_pages) >> HPAGE_PMD_ORDER
        k = 0
        t0 = b["start_s"]
        while t0 < dur and nthp:
            owner = len(owner_kind)
            owner_kind.append(C.OWNER_TASK)
            owner_names.append(f"{b['name']}{k}")
            hb = new_handles(nthp, owner)
            tb = t0 + np.sort(rng.uniform(0, b["ramp_s"], nthp))
            emit(tb, C.OP_ALLOC, HPAGE_PMD_ORDER, gfp, hb, C.KIND_ANON)
            tf = tb + b["hold_s"]
            fr = tf < dur
            emit(tf[fr], C.OP_FREE, 0, 0, hb[fr], C.KIND_ANON)
            k += 1
            t0 += b["every_s"]

    # --- echo 1 > /proc/sys/vm/compact_memory -----------------------------------------
    for tc in p["compact_memory_at"]:
        if tc < dur:
            emit(np.array([tc]), C.OP_COMPACT_MEMORY, 0, 0, np.array([0]), 0)

    t = np.concatenate(cols["t"]) if cols["t"] else np.zeros(0)
    order = np.argsort(t, kind="stable")
    t_ns = np.round(t[order] * 1e9).astype(np.int64)
    nops = len(t_ns)
    nh = next_h[0]
    return Workload(
        name=name, t=t_ns, kind=np.concatenate(cols["kind"])[order],
        order=np.concatenate(cols["order"])[order], gfp=np.concatenate(cols["gfp"])[order],
        handle=np.concatenate(cols["handle"])[order].astype(np.int32),
        cpu=rng.integers(0, nr_cpus, nops).astype(np.int32),
        content=np.concatenate(cols["content"])[order], nr_handles=nh,
        duration_ns=int(round(dur * 1e9)), description=description,
        meta={"seed": seed, "gib": gib, "growth_scale": growth_scale},
        handle_owner=np.concatenate(h_owner) if h_owner else np.zeros(0, np.int32),
        owner_kind=np.array(owner_kind, np.uint8), owner_names=owner_names,
    )


def _emit_jobs(j, *, rng, dur, nr_pages, thp_defrag, new_handles, emit, owner_kind, owner_names,
               kern_owner, file_owner0, nfiles):
    """Jobs of a parallel build: ``concurrency`` slots each run jobs back to
    back.  A job (its own OOM-killable task) gets a kernel stack and task/mm
    slab at fork, faults its anon memory (with page tables) over the first
    third of its life while touching it, reads sources (a share from a hot
    set of headers that stays in the page cache, the rest new page cache),
    writes its object file (dirty page cache that outlives it), leaves
    dentries/inodes behind (reclaimable slab), and frees its memory at exit."""
    gfp_thp = vma_thp_gfp_mask(thp_defrag, j["thp_madvise"])
    gib = nr_pages * C.PAGE_SIZE / (1 << 30)
    gfp_kernel = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO")
    gfp_stack = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO")        # THREADINFO_GFP (vmalloc'd stack)
    gfp_slab = parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP")
    gfp_dentry = parse_gfp("GFP_KERNEL|__GFP_RECLAIMABLE|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP")
    gfp_file = parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP")
    mean_pages = j["footprint"] * nr_pages / j["concurrency"]
    hot = None
    if j["hot_share"] > 0:
        # the hot set (headers): in the page cache from the start
        nhot = max(int(j["hot_set"] * nr_pages), 1)
        hot = new_handles(nhot, file_owner0 + rng.integers(0, nfiles, nhot))
        emit(np.zeros(nhot), C.OP_ALLOC, 0, gfp_file, hot, C.KIND_FILE)
    k = 0
    for slot in range(j["concurrency"]):
        t0 = j["start_s"] + rng.uniform(0, j["lifetime_s"])   # staggered starts
        while t0 < dur:
            life = rng.gamma(2.0, j["lifetime_s"] / 2.0)
            t_exit = t0 + life
            owner = len(owner_kind)
            owner_kind.append(C.OWNER_TASK)
            owner_names.append(f"job{k}")
            k += 1
            pages = int(rng.gamma(4.0, mean_pages / 4.0))
            n_thp = int(pages * j["thp_share"]) >> HPAGE_PMD_ORDER
            n_small = max(pages - (n_thp << HPAGE_PMD_ORDER), 0)
            ramp = life / 3.0
            # fork: kernel stack and task/mm slab
            hk = new_handles(j["stack_pages"] + j["slab_pages"], owner)
            emit(np.full(j["stack_pages"], t0), C.OP_ALLOC, 0, gfp_stack, hk[:j["stack_pages"]],
                 C.KIND_KERNEL)
            emit(np.full(j["slab_pages"], t0), C.OP_ALLOC, 0, gfp_slab, hk[j["stack_pages"]:],
                 C.KIND_SLAB_UNRECLAIMABLE)
            # anon memory and page tables
            ha = new_handles(n_small, owner)
            ta = t0 + np.sort(rng.uniform(0, ramp, n_small))
            emit(ta, C.OP_ALLOC, 0, j["gfp"], ha, C.KIND_ANON)
            ht = new_handles(n_thp, owner)
            tt = t0 + np.sort(rng.uniform(0, ramp, n_thp))
            emit(tt, C.OP_ALLOC, HPAGE_PMD_ORDER, gfp_thp, ht, C.KIND_ANON)
            npt = max(int(pages * j["pagetable_ratio"]), 1)
            hp = new_handles(npt, owner)
            emit(t0 + np.sort(rng.uniform(0, ramp, npt)), C.OP_ALLOC, 0, gfp_kernel, hp,
                 C.KIND_PAGETABLE)
            allh = np.concatenate([ha, ht])
            ntouch = rng.poisson(j["touches_per_page"] * len(allh)) if len(allh) else 0
            if ntouch:
                tt_ = rng.uniform(t0 + ramp, t_exit, ntouch)
                emit(tt_, C.OP_TOUCH, 0, 0, allh[rng.integers(0, len(allh), ntouch)], C.KIND_ANON)
            # source reads
            nr = int(rng.poisson(j["read_pages_per_gib"] * gib))
            if nr:
                nh = rng.binomial(nr, j["hot_share"]) if hot is not None else 0
                if nh:
                    emit(rng.uniform(t0, t_exit, nh), C.OP_TOUCH, 0, 0,
                         hot[rng.integers(0, len(hot), nh)], C.KIND_FILE)
                nn = nr - nh
                if nn:
                    hr = new_handles(nn, file_owner0 + rng.integers(0, nfiles, nn))
                    emit(rng.uniform(t0, t_exit, nn), C.OP_ALLOC, 0, gfp_file, hr, C.KIND_FILE)
            # the object file: written near the end, outlives the job
            nw = int(rng.poisson(j["write_pages_per_gib"] * gib))
            if nw:
                hw = new_handles(nw, file_owner0 + rng.integers(0, nfiles, nw))
                tw = np.sort(rng.uniform(t0 + 0.8 * life, t_exit, nw))
                emit(tw, C.OP_ALLOC, 0, gfp_file, hw, C.KIND_FILE)
                emit(tw, C.OP_DIRTY, 0, 0, hw, C.KIND_FILE)
            # dentries and inodes of the files it opened
            if j["dentry_pages"]:
                hd = new_handles(j["dentry_pages"], kern_owner)
                td = rng.uniform(t0, t_exit, j["dentry_pages"])
                emit(td, C.OP_ALLOC, 0, gfp_dentry, hd, C.KIND_SLAB_RECLAIMABLE)
                tf = td + rng.exponential(j["dentry_lifetime_s"], j["dentry_pages"])
                fr = tf < dur
                emit(tf[fr], C.OP_FREE, 0, 0, hd[fr], C.KIND_SLAB_RECLAIMABLE)
            # exit: the task's memory is freed
            if t_exit < dur:
                mine = np.concatenate([hk, ha, ht, hp])
                emit(np.full(len(mine), t_exit), C.OP_FREE, 0, 0, mine, C.KIND_ANON)
            t0 = t_exit
