"""Run a workload through the model: the Python driver loop.

``run(workload, config)`` boots a node (:func:`~defragsim.mm.state.make_state`),
then feeds the op stream to the jitted :func:`~defragsim.mm.driver.step_chunk`
in chunks cut at sample times.  A :class:`~defragsim.sim.recorder.RunRecorder`
records after each chunk; the :class:`~defragsim.sim.result.Result` is built
once, at the end.  Data flows one way: the Workload is read, never written.
"""
from __future__ import annotations

import dataclasses

import time

import numpy as np

from .. import constants as C
from .._jit import JIT_DISABLED, as_python_arrays
from ..config import Config, ConfigError
from ..mm.driver import step_chunk
from ..mm.invariants import check_state
from ..mm.page_alloc import drain_all_pages
from ..mm.page_reporting import page_reporting_start_reported
from ..mm.state import (
    NODE_KCOMPACTD_HIGHEST_ZONEIDX, NODE_KCOMPACTD_MAX_ORDER, NODE_PROACTIVE_NEXT, NODE_SWAP_TOTAL,
    ZC_CACHED_FREE, ZC_CACHED_MIGRATE_ASYNC, ZC_CACHED_MIGRATE_SYNC, grow_owners, make_owners,
    make_state, state_nbytes,
)
from ..mm.vmscan import mem_cgroup_spread_lru
from ..workloads import Workload, build_workload
from ..workloads.replay_ops import (INITIAL_FREE_REPORTED, SKIP_MARKED, SKIP_MARKED_IF_MOVABLE,
                                    SLAB_PAGES_FREED_BY_TRACE)
from ..workloads.trace import NR_WALK_LISTS
from ..workloads.stream import Chunk, OpStream
from .oomd import PressureGuard
from .recorder import TS_COLUMNS, RunRecorder, _vmstat
from .result import Result


def _workload_of(workload, config, duration):
    """The Workload or OpStream to run (a scenario is built here)."""
    if isinstance(workload, (Workload, OpStream)):
        if duration is not None:
            raise ConfigError("duration: cannot override the duration of a prebuilt Workload")
        return workload
    return build_workload(workload, config, duration=duration)


def _check_run(wl, config, snapshots, baseline_ops) -> int:
    """Refuse what cannot run; the number of initial-state ops."""
    if isinstance(wl, Workload):
        wl.validate(config.nr_cpus)
    elif wl.nr_cpus > config.nr_cpus:
        raise ConfigError(f"workload {wl.name}: generated for nr_cpus={wl.nr_cpus}, the config "
                          f"has nr_cpus={config.nr_cpus}")
    if not isinstance(snapshots, int) or isinstance(snapshots, bool) or snapshots < 1:
        raise ConfigError(f"snapshots: expected a positive integer, got {snapshots!r}")
    bt = wl.meta.get("initial_block_mt")
    if bt is not None and len(bt) != config.nr_pageblocks:
        raise ConfigError(f"workload {wl.name}: initial pageblock types for {len(bt)} blocks, "
                          f"the config has {config.nr_pageblocks}")
    res = wl.meta.get("initial_reserved")
    if res is not None and len(res) != config.nr_pages:
        raise ConfigError(f"workload {wl.name}: boot-time reserved pages for {len(res)} pfns, "
                          f"the config has {config.nr_pages}")
    memcgs = wl.meta.get("initial_memcg_pages")
    if memcgs is not None and not (1 <= len(memcgs) <= C.MAX_MEMCGS
                                   and all(int(x) == x and x >= 0 for x in memcgs)):
        raise ConfigError(f"workload {wl.name}: initial_memcg_pages: expected 1 to {C.MAX_MEMCGS} "
                          f"page counts >= 0 (one per memcg, the root first), got {memcgs!r}")
    lists = wl.meta.get("initial_memcg_lru_pages")
    if lists is not None and not (memcgs is not None and len(lists) == len(memcgs) and all(
            len(x) == NR_WALK_LISTS and all(int(v) == v and v >= 0 for v in x) for x in lists)):
        raise ConfigError(f"workload {wl.name}: initial_memcg_lru_pages: expected four page "
                          f"counts >= 0 (inactive anon, active anon, inactive file, active file) "
                          f"for each memcg of initial_memcg_pages, got {lists!r}")
    first_timeout = wl.meta.get("initial_kcompactd_timeout_ns")
    if first_timeout is not None and not (isinstance(first_timeout, (int, np.integer))
                                          and first_timeout >= 0):
        raise ConfigError(f"workload {wl.name}: initial_kcompactd_timeout_ns: expected a time "
                          f">= 0 (ns), got {first_timeout!r}")
    pending = wl.meta.get("initial_kcompactd_request")
    if pending is not None and not (
            isinstance(pending, (tuple, list)) and len(pending) == 2
            and all(isinstance(v, (int, np.integer)) for v in pending)
            and 0 < pending[0] <= C.MAX_PAGE_ORDER and 0 <= pending[1] < C.MAX_NR_ZONES):
        raise ConfigError(f"workload {wl.name}: initial_kcompactd_request: expected (order "
                          f"1..{C.MAX_PAGE_ORDER}, highest zone index 0..{C.MAX_NR_ZONES - 1}), "
                          f"got {pending!r}")
    skip = wl.meta.get("initial_block_skip")
    if skip is not None and len(skip) != config.nr_pageblocks:
        raise ConfigError(f"workload {wl.name}: initial skip bits for {len(skip)} blocks, "
                          f"the config has {config.nr_pageblocks}")
    if skip is not None and not np.isin(np.asarray(skip, np.int64),
                                        (0, SKIP_MARKED, SKIP_MARKED_IF_MOVABLE)).all():
        raise ConfigError(f"workload {wl.name}: initial skip bits: expected 0, "
                          f"{SKIP_MARKED} (marked) or {SKIP_MARKED_IF_MOVABLE} (marked if "
                          f"MOVABLE) per pageblock")
    if baseline_ops is None:
        baseline_ops = int(wl.meta.get("baseline_ops", 0))
    if isinstance(wl, OpStream):
        # a replayed trace's stream leads with its prefill (a chunk of its own)
        if baseline_ops and baseline_ops != getattr(wl, "prefill_ops", None):
            raise ConfigError("baseline_ops: only a whole Workload or a replayed trace's "
                              "prefill has initial-state ops (materialize() the stream first)")
    elif baseline_ops and (not (0 < baseline_ops <= len(wl)) or wl.t[baseline_ops - 1] != 0):
        raise ConfigError(f"baseline_ops: {baseline_ops} must count ops at t=0 of the workload")
    return baseline_ops


def _sample_times(wl, sample_interval) -> tuple[int, np.ndarray]:
    """The run's end (ns) and the sample times (ns) that cut it into chunks."""
    last = int(wl.t[-1]) if isinstance(wl, Workload) and len(wl) else 0
    dur_ns = max(int(wl.duration_ns), last, 1)
    if sample_interval is None:
        sample_ns = max(dur_ns // 200, 1)
    else:
        if not sample_interval > 0:
            raise ConfigError(f"sample_interval: must be positive, got {sample_interval!r}")
        sample_ns = max(int(sample_interval * 1e9), 1)
    return dur_ns, np.arange(sample_ns, dur_ns + sample_ns, sample_ns, dtype=np.int64)


def run(workload, config: Config | None = None, *, duration: float | None = None,
        sample_interval: float | None = None, snapshots: int = 20,
        check_invariants: bool = False, progress: bool = False,
        baseline_ops: int | None = None, on_progress=None,
        chunk_epochs: int = 1) -> Result:
    """Run a workload through the model.

    Parameters
    ----------
    workload : str, Workload or OpStream
        A scenario name (``"steady"``), a scenario file path, a Workload (a
        whole op stream, e.g. a replayed trace) or an OpStream (a generated
        scenario, produced while it runs: :func:`~defragsim.build_workload`).
    config : Config, optional
        Machine, sysctls and patches; default ``Config()``.
    duration : float, optional
        Override the scenario's simulated seconds.
    sample_interval : float, optional
        Seconds between time-series rows (default: duration / 200).
    snapshots : int
        Pageblock-map snapshots over the run (the final state is always one).
    check_invariants : bool
        Run :func:`~defragsim.invariants.check_state` after every chunk.
    progress : bool
        Show a tqdm bar.
    on_progress : callable, optional
        Called with the fraction of the simulated time done (0..1] after each
        time-series row (the patch explorer's status line).
    baseline_ops : int
        The first ``baseline_ops`` ops (all at t=0) build the initial state (a
        replay's prefill): they run before the first sample, row 0 of the time
        series and snapshot 0 show the state after them, and
        ``result.meta["baseline_vmstat"]`` holds /proc/vmstat at that point.
        The workload is only read, never written.
    chunk_epochs : int
        Epochs of a generated stream made at a time (memory, not results:
        every chunk size gives the same result).

    Returns
    -------
    Result

    Examples
    --------
    >>> from defragsim import run, Config
    >>> r = run("steady", Config(mem="256M", defrag_mode=1), duration=1.0)
    >>> r.vmstat["nr_free_pages"] > 0
    True
    """
    t_start = time.perf_counter()
    if config is None:
        config = Config()
    if not isinstance(config, Config):
        raise ConfigError(f"config: expected a defragsim Config, got {type(config).__name__}")
    wl = _workload_of(workload, config, duration)
    config = _with_workload_machine(config, wl)
    baseline_ops = _check_run(wl, config, snapshots, baseline_ops)
    dur_ns, bounds = _sample_times(wl, sample_interval)
    st = _initial_state(config, wl.meta)
    prm = _params(config, wl)
    swap_bytes = config.swap if config.swap is not None else (wl.swap or 0)
    st.node[NODE_SWAP_TOTAL] = int(swap_bytes) // C.PAGE_SIZE
    rec = RunRecorder(st, prm, config, bounds.shape[0])
    if JIT_DISABLED:
        st, ring = (as_python_arrays(x) for x in (st, rec.rec))
        rec.use_arrays(st, ring)
    loop = _Loop(st, prm, _Feed(wl, chunk_epochs), rec, config, check_invariants)
    meta = dict(wl.meta)
    loop.start(baseline_ops, meta)
    loop.run(wl, bounds, dur_ns, snapshots=snapshots, progress=progress, on_progress=on_progress)
    return Result(
        config=config, scenario=wl.name, duration_s=dur_ns / 1e9, **rec.frames(),
        **rec.final_counters(), snapshots=rec.snaps, events_processed=loop.feed.done,
        elapsed_s=time.perf_counter() - t_start, zone_names=list(C.ZONE_NAMES),
        zone_spans=config.zone_spans(), watermarks=st.watermark.copy(),
        nr_free_mt=st.nr_free_mt.copy(), state_bytes=state_nbytes(st), meta=meta,
        latency_hist=st.lat_hist.copy(), compaction_events_lost=int(st.cev_count[1]),
        kernel_s=loop.kernel_s,
    )


def _initial_state(config: Config, meta: dict):
    """The booted node a workload starts from: its initial pageblock types,
    boot-time reserved pages and memcgs when it names them (a replay)."""
    memcgs = meta.get("initial_memcg_pages")
    return make_state(config, meta.get("initial_block_mt"), meta.get("initial_reserved"),
                      nr_memcg=len(memcgs) if memcgs is not None else 1)


def _params(config: Config, wl):
    """The jitted kernels' Params: the config's, or, for a workload whose
    ops are a traced kernel's own page events (a replay: its meta's
    ``SLAB_PAGES_FREED_BY_TRACE``), with the shrinkers leaving page-level
    slab pages to the trace's frees and each THP op taken as one allocation
    attempt."""
    prm = config.to_params()
    if wl.meta.get(SLAB_PAGES_FREED_BY_TRACE):
        prm = prm._replace(shrink_page_slab=0, thp_fault_mpol=0)
    return prm


def _with_workload_machine(config: Config, wl) -> Config:
    """``config`` with what it leaves to the workload (``None``) as the
    workload says it: the CPUs (Config.nr_cpus: the count it was built for,
    a scenario's ``nr_cpus``; else DEFAULT_NR_CPUS) and the tasks sharing
    them (Config.runnable_tasks: a scenario's ``runnable_tasks``)."""
    kw = {}
    if config.nr_cpus is None:
        kw["nr_cpus"] = int(wl.meta.get("nr_cpus", config.cpus))
    if config.runnable_tasks is None and wl.meta.get("runnable_tasks") is not None:
        kw["runnable_tasks"] = float(wl.meta["runnable_tasks"])
    return dataclasses.replace(config, **kw) if kw else config


class _Feed:
    """The op stream, a chunk at a time: a whole Workload is one chunk; an
    OpStream's chunks are generated one ahead in a helper thread."""

    def __init__(self, wl, chunk_epochs: int):
        #: each handle's owner before the run (a whole Workload's table; a
        #: stream's ops name the owner of each allocation)
        self.handle_owner = None
        if isinstance(wl, OpStream):
            self._chunks = wl.chunks(chunk_epochs, prefetch=True)
            self.total_hint = int(wl.estimated_ops)
        else:
            ho, ok = wl.owners()
            owner = wl.op_owner if wl.op_owner is not None else ho[wl.handle]
            self._chunks = iter([Chunk(wl.t, wl.kind, wl.order, wl.gfp, wl.handle, wl.cpu,
                                       wl.content, owner.astype(np.int32), wl.nr_handles, ok)])
            self.handle_owner = ho
            self.total_hint = len(wl)
        self.ops: tuple = ()
        self.t = np.zeros(0, np.int64)
        self.pos = 0
        self.done = 0                # ops of earlier chunks

    def close(self) -> None:
        """Count the last chunk's ops and stop the generator."""
        self.done += self.pos
        self.pos = 0
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def next(self) -> Chunk | None:
        """The next chunk (None at the end of the stream)."""
        ch = next(self._chunks, None)
        if ch is None:
            return None
        self.done += self.pos
        self.ops = tuple(ch[:8])
        if JIT_DISABLED:
            self.ops = as_python_arrays(self.ops)
        self.t = ch.t
        self.pos = 0
        return ch


def initial_skip_marks(st, told) -> np.ndarray:
    """The pageblocks a replay starts skip-marked (``told``: a replay's
    :func:`~defragsim.workloads.replay_ops.initial_skip_blocks`, a bool
    array taken as marked or not): :data:`SKIP_MARKED` blocks, and
    :data:`SKIP_MARKED_IF_MOVABLE` ones that are MOVABLE.

    MODEL: a MOVABLE block that starts wholly free is marked too.  The free
    scanner that crossed it did not look at its mark (suitable_migration_target()
    passes over a free chunk of the order being made), so what it was is not
    known; in trace m the kernel's later passes crossed Normal again with
    their free scanner scanning one block, and left unmarked the model's
    free scanner scanned 10.6x the kernel's pages (marked: 2.4x)."""
    told = np.asarray(told).astype(np.int64)
    # MODEL: a wholly free MOVABLE block is marked too (see the docstring)
    return (told == SKIP_MARKED) | ((told == SKIP_MARKED_IF_MOVABLE) &
                                    (st.block_mt == C.MIGRATE_MOVABLE))


class _Loop:
    """The chunk loop: ops to the kernels up to each sample time, the recorder after."""

    def __init__(self, st, prm, feed: _Feed, rec: RunRecorder, config, check_invariants: bool):
        self.st, self.prm, self.feed, self.rec = st, prm, feed, rec
        self.config, self.check = config, check_invariants
        self.own = None
        self.ended = False
        self.kernel_s = 0.0          # wall seconds inside the jitted kernels
        self.guard = PressureGuard(config.oomd, TS_COLUMNS, config.cpus) \
            if config.oomd is not None else None
        self._next_chunk()
        if self.own is None:                 # an empty stream
            self.own = make_owners(0, np.zeros(0, np.int32), np.zeros(0, np.uint8))
        if check_invariants:
            check_state(st, self.prm)

    def _next_chunk(self) -> bool:
        """Load the next chunk; grow the handle and owner tables for it."""
        ch = self.feed.next()
        if ch is None:
            self.ended = True
            return False
        if self.own is None:
            ho = self.feed.handle_owner
            self.own = make_owners(ch.nr_handles, ho if ho is not None else
                                   np.zeros(ch.nr_handles, np.int32), ch.owner_kind)
        else:
            holder = [self.own]
            self.own = None
            self.own = grow_owners(holder, ch.nr_handles, ch.owner_kind)
        if JIT_DISABLED:
            self.own = as_python_arrays(self.own)
        return True

    def step(self, end: int) -> None:
        t = time.perf_counter()
        f = self.feed
        f.pos = step_chunk(self.st, self.prm, self.rec.rec, self.own, *f.ops, f.pos, end,
                           self.rec.event_limit)
        self.kernel_s += time.perf_counter() - t

    def advance(self, bound: int, row: int) -> None:
        """Run the ops at or before ``bound`` (ns), chunk after chunk."""
        rec, f = self.rec, self.feed
        while not self.ended:
            end = int(np.searchsorted(f.t, bound, side="right"))
            while f.pos < end:
                self.step(end)
                if rec.rings_full():
                    # account the events in this row's running totals, then flush
                    rec.row(row, bound / 1e9)
                    rec.flush()
            if end < f.t.shape[0]:
                return
            self._next_chunk()

    def prefill(self, baseline_ops: int, meta: dict | None = None) -> dict:
        """Run the initial-state ops (all at t=0); /proc/vmstat after them.
        From the workload's ``meta``: ``initial_block_skip``, the pageblocks
        compaction starts skip-marked (a replay's
        :func:`~defragsim.workloads.replay_ops.initial_skip_blocks`),
        ``initial_compaction_defer``, ``{zone: (considered, defer_shift,
        order_failed)}``, each zone's compaction deferral at the start
        (:func:`~defragsim.workloads.replay_ops.initial_defer_state`);
        ``initial_compaction_cached``, ``{zone: (migrate_pfn, free_pfn)}``,
        where its scanners start
        (:func:`~defragsim.workloads.replay_ops.initial_cached_positions`);
        ``INITIAL_FREE_REPORTED``: the free chunks start reported
        (page_reporting.page_reporting_start_reported)."""
        meta = meta or {}
        block_skip = meta.get("initial_block_skip")
        while self.feed.pos < baseline_ops:
            self.step(baseline_ops)
            self.rec.flush()
        # MODEL: the initial state is built with the per-cpu lists drained, so
        # its free chunks sit in the buddy lists (where /proc/buddyinfo sees them)
        getattr(drain_all_pages, "impl", drain_all_pages)(self.st, self.prm, np.int64(-1))
        if meta.get(INITIAL_FREE_REPORTED):
            getattr(page_reporting_start_reported, "impl", page_reporting_start_reported)(
                self.st, self.prm)
        self.spread_memcgs(meta)
        if block_skip is not None:
            self.st.block_skip[initial_skip_marks(self.st, block_skip)] = 1
        for z, state in meta.get("initial_compaction_defer", {}).items():
            self.st.compact_defer[z] = state
        for z, (migrate, free) in meta.get("initial_compaction_cached", {}).items():
            self.st.zone_compact[z, ZC_CACHED_MIGRATE_ASYNC] = migrate
            self.st.zone_compact[z, ZC_CACHED_MIGRATE_SYNC] = migrate
            self.st.zone_compact[z, ZC_CACHED_FREE] = free
        if self.check:
            check_state(self.st, self.prm)
        return _vmstat(self.st, self.config)

    def start(self, baseline_ops: int, meta: dict) -> None:
        """The initial state: a replay's prefill (its first ``baseline_ops``
        ops; ``meta["baseline_vmstat"]``: /proc/vmstat after them), its
        memcgs, and when kcompactd's first wait ends
        (``meta["initial_kcompactd_timeout_ns"]``: a replay's
        :func:`~defragsim.workloads.trace.kcompactd_first_timeout`; without
        it kcompactd waits from the start) and what it finds pending then
        (``meta["initial_kcompactd_request"]``: (order, highest zone
        index), :func:`~defragsim.workloads.trace.kcompactd_pending_request`)."""
        if baseline_ops:
            meta["baseline_vmstat"] = self.prefill(baseline_ops, meta)
        else:
            self.spread_memcgs(meta)
        first_timeout = meta.get("initial_kcompactd_timeout_ns")
        if first_timeout is not None:
            self.st.node[NODE_PROACTIVE_NEXT] = first_timeout
        pending = meta.get("initial_kcompactd_request")
        if pending is not None:
            # a wakeup_kcompactd() before the trace: served when the wait ends
            self.st.node[NODE_KCOMPACTD_MAX_ORDER], self.st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX] = \
                pending

    def spread_memcgs(self, meta: dict) -> None:
        """A replay's memcgs (``meta["initial_memcg_pages"]``, pages per
        memcg, the root first): the LRU folios so far spread over them, each
        list by its pages in each memcg (``meta["initial_memcg_lru_pages"]``;
        by their LRU pages where the trace does not say), and new folios
        charged to the largest (vmscan.mem_cgroup_spread_lru)."""
        memcgs = meta.get("initial_memcg_pages")
        if memcgs is None:
            return
        w = np.asarray(memcgs, np.int64)
        per_list = np.repeat(w[:, None], NR_WALK_LISTS, axis=1)
        lists = meta.get("initial_memcg_lru_pages")
        if lists is not None:
            known = np.asarray(lists, np.int64)
            seen = known.sum(axis=0) > 0
            per_list[:, seen] = known[:, seen]
        spread = getattr(mem_cgroup_spread_lru, "impl", mem_cgroup_spread_lru)
        spread(self.st, np.ascontiguousarray(per_list), np.int64(int(np.argmax(w))),
               np.zeros(len(w), np.float64))

    def run(self, wl, bounds, dur_ns: int, *, snapshots: int, progress: bool,
            on_progress) -> None:
        rec = self.rec
        nsamples = bounds.shape[0]
        rec.row(0, 0.0)
        rec.snapshot(0.0)
        bar = _progress_bar(self.feed.total_hint, wl.name) if progress else None
        snap_every = max(nsamples // snapshots, 1)
        for s in range(nsamples):
            self.advance(int(bounds[s]), s + 1)
            if self.check:
                check_state(self.st, self.prm)
            t_s = min(bounds[s], dur_ns) / 1e9
            rec.row(s + 1, t_s)
            rec.flush()
            if self.guard is not None:
                self.guard.check(self.st, self.prm, self.own, s + 1, rec.ts, rec.ts_t)
            if bar is not None:
                bar.update(self.feed.done + self.feed.pos - bar.n)
            if on_progress is not None:
                on_progress((s + 1) / nsamples)
            if (s + 1) % snap_every == 0 and s + 1 < nsamples:
                rec.snapshot(t_s)
        if bar is not None:
            bar.close()
        rec.snapshot(dur_ns / 1e9)
        self.feed.close()


def _progress_bar(total: int, desc: str):
    from tqdm.auto import tqdm   # deferred: tqdm.auto probes for a notebook front end
    return tqdm(total=total, unit="op", desc=desc, leave=False)
