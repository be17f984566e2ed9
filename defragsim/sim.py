"""Run a workload through the model: the Python driver loop and :class:`Result`.

``run(workload, config)`` boots a node, then feeds the op stream to the jitted
:func:`~defragsim.page_alloc.step_chunk` in chunks cut at sample times.
After each chunk it records one time-series row (counters and free-memory
state) into preallocated arrays, flushes the ``mm_page_alloc_extfrag`` ring,
and at the snapshot cadence saves the pageblock map.  DataFrames are built
once, at the end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import constants as C
from ._jit import JIT_DISABLED, as_python_arrays, njit
from .config import Config, ConfigError
from .invariants import check_state
from .driver import step_chunk
from .state import (CEV_BEGIN, CEV_CONSIDERED, CEV_DEFER_SHIFT, CEV_DIRECT, CEV_END, CEV_EVENT,
                    CEV_FREE_PFN, CEV_HEADROOM, CEV_MIGRATE_PFN, CEV_NAMES, CEV_ORDER,
                    CEV_ORDER_FAILED, CEV_STATUS, CEV_SYNC, CEV_T, CEV_TRY, CEV_ZONE, DIAG_NAMES,
                    DIAG_OOMD_KILLS, EVENT_HEADROOM, NODE_KCOMPACTD_BUSY_NS,
                    NODE_KCOMPACTD_PROACTIVE_NS, NODE_KSWAPD_BUSY_NS, NODE_KSWAPD_STATE, NR_CEV,
                    NODE_PSI_SOME_NS, NODE_PSI_TASK_NS, NODE_SWAP_TOTAL, NODE_SWAP_USED,
                    REQ_STAT_NAMES, LD_CTX_NAMES, LOCKDEP_ROW_NAMES, REQ_RECLAIM_RETRIES,
                    REQ_STALL_NS, make_owners, make_recorder, make_state, state_nbytes)
from .workload import Workload, build_workload

#: vm_event counters maintained by this model version (others are left out of
#: ``Result.vmstat`` rather than reported as a misleading 0).
MODELLED_VM_EVENTS = [
    "pgalloc_dma32", "pgalloc_normal", "pgfree",
    "allocstall_dma32", "allocstall_normal", "allocstall_movable",
    "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct",
    "pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file",
    "pswpin", "pswpout", "workingset_refault_anon", "workingset_refault_file",
    "workingset_activate_anon", "workingset_activate_file",
    "pgactivate", "pgdeactivate", "slabs_scanned", "pgmajfault",
    "pageoutrun", "kswapd_low_wmark_hit_quickly", "kswapd_high_wmark_hit_quickly",
    "compact_stall", "compact_fail", "compact_success",
    "compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
    "compact_daemon_wake", "compact_daemon_migrate_scanned", "compact_daemon_free_scanned",
    "pgmigrate_success", "pgmigrate_fail",
    "thp_fault_alloc", "thp_fault_fallback", "oom_kill",
]

#: content kind -> the migratetype its allocations naturally request
KIND_MOBILITY = np.array([
    -1,                      # free
    C.MIGRATE_MOVABLE,       # anon
    C.MIGRATE_MOVABLE,       # file
    C.MIGRATE_RECLAIMABLE,   # slab_reclaimable
    C.MIGRATE_UNMOVABLE,     # slab_unreclaimable
    C.MIGRATE_UNMOVABLE,     # pagetable
    C.MIGRATE_UNMOVABLE,     # kernel
], dtype=np.int64)

#: columns of a pageblock snapshot's per-block count matrix
BLOCK_COLUMNS = ["free", "pcp"] + list(C.KIND_NAMES[1:])


@njit
def snapshot_pageblocks(st, prm, counts):
    """Per pageblock: free (buddy) pages, pcp pages, and pages by content kind.

    ``counts`` is ``[nr_pageblocks, 2 + NR_KINDS - 1]`` int32, filled in place.
    """
    counts[:] = 0
    pbo = prm.pageblock_order
    n = st.pg_flags.shape[0]
    p = 0
    while p < n:
        f = st.pg_flags[p]
        b = p >> pbo
        if f & C.PG_buddy:
            o = st.pg_order[p]
            size = 1 << o
            if o >= pbo:
                for k in range(size >> pbo):
                    counts[b + k, 0] += 1 << pbo
            else:
                counts[b, 0] += size
            p += size
        elif f & C.PG_pcp:
            o = st.pg_order[p]
            counts[b, 1] += 1 << o
            p += 1 << o
        else:
            k = st.pg_flags[p] >> C.PG_KIND_SHIFT
            if k > 0:
                counts[b, 1 + k] += 1
            p += 1


@njit
def timeseries_row(st, out, extfrag_events, extfrag_fragmenting):
    """One row of the time series (``TS_COLUMNS``, in order) from the state."""
    zs = st.zone_stat
    ev = st.vm_events
    rs = st.req_stats
    bc = np.zeros(C.MIGRATE_TYPES, np.int64)
    for mt in st.block_mt:
        bc[mt] += 1
    row = [
        zs[:, C.NR_FREE_PAGES].sum(), zs[:, C.NR_FREE_PAGES_BLOCKS].sum(),
        zs[:, C.NR_ZONE_PCP].sum(), zs[:, C.NR_ZONE_ALLOCATED].sum(),
        ev[C.VM_PGALLOC_NORMAL], ev[C.VM_PGALLOC_DMA32],
        ev[C.VM_PGFREE], extfrag_events, extfrag_fragmenting,
        st.alloc_failed.sum(), st.watermark_boost.sum(),
        bc[C.MIGRATE_UNMOVABLE], bc[C.MIGRATE_MOVABLE], bc[C.MIGRATE_RECLAIMABLE],
        bc[C.MIGRATE_HIGHATOMIC],
        ev[C.VM_PSWPIN], ev[C.VM_PSWPOUT], ev[C.VM_PGSCAN_KSWAPD], ev[C.VM_PGSCAN_DIRECT],
        ev[C.VM_PGSTEAL_KSWAPD], ev[C.VM_PGSTEAL_DIRECT],
        ev[C.VM_ALLOCSTALL_DMA32] + ev[C.VM_ALLOCSTALL_NORMAL] + ev[C.VM_ALLOCSTALL_MOVABLE],
        ev[C.VM_COMPACT_STALL], ev[C.VM_OOM_KILL], st.node[NODE_SWAP_USED],
        st.node[NODE_PSI_SOME_NS], st.node[NODE_PSI_TASK_NS],
        1 if st.node[NODE_KSWAPD_STATE] == 1 else 0,
        rs[0, REQ_RECLAIM_RETRIES], rs[1, REQ_RECLAIM_RETRIES], rs[2, REQ_RECLAIM_RETRIES],
        rs[0, REQ_STALL_NS], rs[1, REQ_STALL_NS], rs[2, REQ_STALL_NS],
        st.lru_size[0] + st.lru_size[1], st.lru_size[2] + st.lru_size[3],
        ev[C.VM_THP_FAULT_ALLOC], ev[C.VM_THP_FAULT_FALLBACK], st.diag[DIAG_OOMD_KILLS],
    ]
    for i in range(len(row)):
        out[i] = row[i]


@dataclass
class PageblockSnapshot:
    """The pageblock map at one moment."""

    t: float                       # seconds
    migratetype: np.ndarray        # uint8 [nr_pageblocks]
    counts: np.ndarray             # int32 [nr_pageblocks, len(BLOCK_COLUMNS)]
    nr_free_mt: np.ndarray         # int64 [zone, order, migratetype]: free chunks

    def frame(self, pageblock_order: int, zone_end_dma32: int) -> pd.DataFrame:
        nb = self.migratetype.shape[0]
        pfn = np.arange(nb, dtype=np.int64) << pageblock_order
        df = pd.DataFrame(self.counts, columns=BLOCK_COLUMNS)
        df.insert(0, "pfn", pfn)
        df.insert(0, "zone", np.where(pfn < zone_end_dma32, "DMA32", "Normal"))
        df.insert(2, "migratetype", self.migratetype.astype(np.int64))
        df.insert(3, "type", np.array(C.MIGRATETYPE_NAMES)[self.migratetype])
        used = self.counts[:, 2:]
        mob = KIND_MOBILITY[1:]
        by_mob = np.stack([used[:, mob == m].sum(axis=1) for m in range(C.MIGRATE_PCPTYPES)], 1)
        df["used"] = used.sum(axis=1)
        # "mixed": the block's type differs from the mobility of most of its used pages
        maj = by_mob.argmax(axis=1)
        bt = np.where(self.migratetype < C.MIGRATE_PCPTYPES, self.migratetype, -1)
        df["mixed"] = (df["used"].to_numpy() > 0) & (bt >= 0) & (maj != bt)
        # "polluted": holds pages of another mobility at all
        foreign = df["used"].to_numpy() - np.take_along_axis(
            by_mob, np.clip(bt, 0, 2)[:, None], 1)[:, 0]
        df["foreign"] = np.where(bt >= 0, foreign, 0)
        return df


@dataclass
class Result:
    """What a run produced.  DataFrames are built once, at the end of the run.

    Attributes
    ----------
    config : Config
    scenario : str
    vmstat : dict
        Final /proc/vmstat values under their kernel names.
    extfrag : pandas.DataFrame
        One row per ``mm_page_alloc_extfrag`` event: ``t`` (s), ``pfn``,
        ``alloc_order``, ``fallback_order``, ``alloc_migratetype``,
        ``fallback_migratetype``, ``change_ownership``, and the derived
        ``fragmenting`` (fallback_order < pageblock_order).
    compaction_events : pandas.DataFrame
        One row per ``mm_compaction_*`` tracepoint (begin, end with status,
        try_to_compact_pages, defer_compaction, deferred, defer_reset,
        wakeup_kcompactd, kcompactd_wake); see :func:`compaction_event_frame`.
    timeseries : pandas.DataFrame
        One row per sample, indexed by ``t`` (s).
    snapshots : list of PageblockSnapshot
    diagnostics : dict
        Model-only counters (not in /proc/vmstat), including ``alloc_failed``
        keyed ``"ORDER/migratetype"``.
    """

    config: Config
    scenario: str
    duration_s: float
    vmstat: dict
    extfrag: pd.DataFrame
    timeseries: pd.DataFrame
    snapshots: list
    diagnostics: dict
    events_processed: int
    elapsed_s: float
    zone_names: list
    zone_spans: list
    watermarks: np.ndarray
    nr_free_mt: np.ndarray
    block_counts: dict
    state_bytes: int
    meta: dict = field(default_factory=dict)
    #: allocation latency histogram: rows = request migratetype, columns =
    #: log2 buckets of the stall in ns (bucket b holds stalls in [2^(b-1), 2^b))
    latency_hist: np.ndarray | None = None
    #: mm_compaction_* events (see :func:`compaction_event_frame`)
    compaction_events: pd.DataFrame | None = None
    #: events dropped because the ring was full (as ftrace's "entries lost")
    compaction_events_lost: int = 0
    #: wall seconds inside the jitted kernels (``elapsed_s`` minus recording,
    #: snapshots and building the DataFrames)
    kernel_s: float = 0.0

    @property
    def pageblock_order(self) -> int:
        return self.config.pageblock_order

    def latency(self) -> pd.DataFrame:
        """Allocation latency (stall) distribution by the request's migratetype:
        one row per (migratetype, bucket) with ``lo_ns``/``hi_ns`` bounds and
        ``count`` (bucket 0 = requests served without stalling)."""
        rows = []
        h = self.latency_hist
        for m in range(h.shape[0]):
            for b in range(h.shape[1]):
                if h[m, b]:
                    lo = 0 if b == 0 else 1 << (b - 1)
                    rows.append((C.MIGRATETYPE_KEYS[m], b, lo, 0 if b == 0 else (1 << b) - 1,
                                 int(h[m, b])))
        return pd.DataFrame(rows, columns=["migratetype", "bucket", "lo_ns", "hi_ns", "count"])

    def latency_percentile(self, q: float, migratetype: str = "unmovable") -> float:
        """Upper bound (ns) of the bucket holding the ``q`` quantile of stalls."""
        m = C.MIGRATETYPE_KEYS.index(migratetype)
        h = self.latency_hist[m]
        tot = h.sum()
        if tot == 0:
            return 0.0
        c = np.cumsum(h)
        b = int(np.searchsorted(c, q * tot))
        return 0.0 if b == 0 else float((1 << b) - 1)

    def pageblocks(self, i: int = -1) -> pd.DataFrame:
        """Per-block table of snapshot ``i`` (default: the final state)."""
        return self.snapshots[i].frame(self.pageblock_order, self.zone_spans[0][1])

    def pagetypeinfo(self, i: int | None = None) -> str:
        """/proc/pagetypeinfo text (kernel format) of the final state or snapshot ``i``."""
        from .procfs import render_pagetypeinfo
        snap = self.snapshots[-1 if i is None else i]
        return render_pagetypeinfo(snap.nr_free_mt, snap.migratetype, self.zone_spans,
                                   self.pageblock_order)

    def buddyinfo(self, i: int | None = None) -> str:
        """/proc/buddyinfo text (kernel format)."""
        from .procfs import render_buddyinfo
        snap = self.snapshots[-1 if i is None else i]
        return render_buddyinfo(snap.nr_free_mt, self.zone_spans)

    def extfrag_summary(self) -> dict:
        ef = self.extfrag
        pairs = {}
        if len(ef):
            g = ef.groupby(["alloc_migratetype", "fallback_migratetype"]).size()
            for (a, b), n in g.items():
                pairs[f"{C.MIGRATETYPE_KEYS[a]}->{C.MIGRATETYPE_KEYS[b]}"] = int(n)
        return {
            "events": int(len(ef)),
            "change_ownership": int(ef["change_ownership"].sum()) if len(ef) else 0,
            "fragmenting": int(ef["fragmenting"].sum()) if len(ef) else 0,
            "pairs": pairs,
        }

    def to_json_dict(self) -> dict:
        """The ``--json`` contract: keys are stable."""
        return {
            "config": self.config.to_dict(),
            "scenario": self.scenario,
            "duration_s": self.duration_s,
            "vmstat": self.vmstat,
            "extfrag": self.extfrag_summary(),
            "pageblocks": self.block_counts,
            "diagnostics": self.diagnostics,
            "events_processed": self.events_processed,
            "elapsed_s": self.elapsed_s,
        }


def compaction_event_frame(rows: np.ndarray, config) -> pd.DataFrame:
    """The mm_compaction_* event table, with the tracepoints' field names.

    Columns: ``t`` (s), ``event``, ``direct`` (a task; else kcompactd),
    ``zone`` (the zone, or highest_zoneidx for try_to_compact_pages and the
    kcompactd wake events), ``order``, ``zone_start``, ``migrate_pfn``,
    ``free_pfn``, ``zone_end``, ``sync`` and ``mode`` (begin/end), ``status``
    (end: the compact_result name), ``prio`` and ``gfp_mask`` (try_to_compact_pages),
    ``considered``, ``defer_shift``, ``order_failed`` (defer events).
    """
    from .compaction import COMPACT_RESULT_NAMES
    ev = rows[:, CEV_EVENT]
    is_be = (ev == CEV_BEGIN) | (ev == CEV_END)
    is_try = ev == CEV_TRY
    spans = config.zone_spans()
    zs = np.array([s for s, _ in spans], np.int64)
    ze = np.array([e for _, e in spans], np.int64)
    z = rows[:, CEV_ZONE]
    modes = np.array(["async", "sync_light", "sync"])
    return pd.DataFrame({
        "t": rows[:, CEV_T].astype(np.float64) / 1e9,
        "event": pd.Categorical.from_codes(ev, CEV_NAMES),
        "direct": rows[:, CEV_DIRECT].astype(bool),
        "zone": np.array(C.ZONE_NAMES, dtype=object)[z],
        "order": rows[:, CEV_ORDER],
        "zone_start": np.where(is_be, zs[z], -1),
        "migrate_pfn": np.where(is_be, rows[:, CEV_MIGRATE_PFN], -1),
        "free_pfn": np.where(is_be, rows[:, CEV_FREE_PFN], -1),
        "zone_end": np.where(is_be, ze[z], -1),
        "sync": np.where(is_be, rows[:, CEV_SYNC] != 0, False),
        "mode": np.where(is_be, modes[np.clip(rows[:, CEV_SYNC], 0, 2)], ""),
        "status": np.where(ev == CEV_END,
                           np.array(COMPACT_RESULT_NAMES, dtype=object)[
                               np.clip(rows[:, CEV_STATUS], 0, len(COMPACT_RESULT_NAMES) - 1)], ""),
        "prio": np.where(is_try, rows[:, CEV_SYNC], -1),
        "gfp_mask": np.where(is_try, rows[:, CEV_STATUS], 0),
        "considered": rows[:, CEV_CONSIDERED],
        "defer_shift": rows[:, CEV_DEFER_SHIFT],
        "order_failed": rows[:, CEV_ORDER_FAILED],
    })


def _vmstat(st, config) -> dict:
    v = {}
    v["nr_free_pages"] = int(st.zone_stat[:, C.NR_FREE_PAGES].sum())
    v["nr_free_pages_blocks"] = int(st.zone_stat[:, C.NR_FREE_PAGES_BLOCKS].sum())
    v["nr_free_cma"] = int(st.zone_stat[:, C.NR_FREE_CMA_PAGES].sum())
    kinds = np.bincount(st.pg_flags >> C.PG_KIND_SHIFT, minlength=C.NR_KINDS)
    v["nr_anon_pages"] = int(kinds[C.KIND_ANON])
    v["nr_file_pages"] = int(kinds[C.KIND_FILE])
    v["nr_slab_reclaimable_B"] = int(kinds[C.KIND_SLAB_RECLAIMABLE]) * C.PAGE_SIZE
    v["nr_slab_unreclaimable_B"] = int(kinds[C.KIND_SLAB_UNRECLAIMABLE]) * C.PAGE_SIZE
    v["nr_page_table_pages"] = int(kinds[C.KIND_PAGETABLE])
    for i, name in enumerate(("nr_inactive_anon", "nr_active_anon", "nr_inactive_file",
                              "nr_active_file")):
        v[name] = int(st.lru_size[i])
    v["nr_swap_used"] = int(st.node[NODE_SWAP_USED])   # model: /proc/meminfo SwapTotal-SwapFree
    for name in MODELLED_VM_EVENTS:
        v[name] = int(st.vm_events[C.VM_EVENT_NAMES.index(name)])
    return v


def _block_counts(st, config) -> dict:
    out = {}
    pbo = config.pageblock_order
    for z, (s, e) in enumerate(config.zone_spans()):
        if e <= s:
            continue
        mts = st.block_mt[s >> pbo: e >> pbo]
        cnt = np.bincount(mts, minlength=C.MIGRATE_TYPES)
        out[C.ZONE_NAMES[z]] = {C.MIGRATETYPE_KEYS[m]: int(cnt[m]) for m in range(C.MIGRATE_TYPES)
                                if m != C.MIGRATE_CMA}
    return out


def _diagnostics(st) -> dict:
    d = {name: int(st.diag[i]) for i, name in enumerate(DIAG_NAMES)}
    for j, stat in enumerate(REQ_STAT_NAMES):
        key = "reclaim_retries" if stat == "reclaim_retries" else stat
        if stat == "stall_ns":
            d["stall_s"] = {C.MIGRATETYPE_KEYS[m]: float(st.req_stats[m, j]) / 1e9
                            for m in range(C.MIGRATE_PCPTYPES)}
        else:
            d[key] = {C.MIGRATETYPE_KEYS[m]: int(st.req_stats[m, j])
                      for m in range(C.MIGRATE_PCPTYPES)}
    for r, row in enumerate(LOCKDEP_ROW_NAMES):
        d[f"lockdep_{row}"] = {ctx: int(st.lockdep[r, c]) for c, ctx in enumerate(LD_CTX_NAMES)}
    d["psi_some_s"] = float(st.node[NODE_PSI_SOME_NS]) / 1e9
    d["psi_task_stall_s"] = float(st.node[NODE_PSI_TASK_NS]) / 1e9
    d["kswapd_busy_s"] = float(st.node[NODE_KSWAPD_BUSY_NS]) / 1e9
    d["kcompactd_busy_s"] = float(st.node[NODE_KCOMPACTD_BUSY_NS]) / 1e9
    d["kcompactd_proactive_s"] = float(st.node[NODE_KCOMPACTD_PROACTIVE_NS]) / 1e9
    d["compaction_events_lost"] = int(st.cev_count[1])
    d["swap_used_pages"] = int(st.node[NODE_SWAP_USED])
    af = {}
    for o in range(C.NR_PAGE_ORDERS):
        for mt in range(C.MIGRATE_TYPES):
            n = int(st.alloc_failed[o, mt])
            if n:
                af[f"{o}/{C.MIGRATETYPE_KEYS[mt]}"] = n
    d["alloc_failed"] = af
    return d


TS_COLUMNS = [
    "nr_free_pages", "nr_free_pages_blocks", "nr_pcp_pages", "nr_allocated_pages",
    "pgalloc_normal", "pgalloc_dma32", "pgfree", "extfrag_events", "extfrag_fragmenting",
    "alloc_failed", "watermark_boost",
    "blocks_unmovable", "blocks_movable", "blocks_reclaimable", "blocks_highatomic",
    "pswpin", "pswpout", "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd", "pgsteal_direct",
    "allocstall", "compact_stall", "oom_kill", "swap_used", "psi_some_ns", "psi_task_ns",
    "kswapd_running", "reclaim_retries_unmovable", "reclaim_retries_movable",
    "reclaim_retries_reclaimable", "stall_ns_unmovable", "stall_ns_movable",
    "stall_ns_reclaimable", "nr_anon_lru", "nr_file_lru", "thp_fault_alloc",
    "thp_fault_fallback", "oomd_kills",
]


def add_psi_columns(tsdf: pd.DataFrame, nr_cpus: int) -> None:
    """PSI-like memory pressure per sample, in percent of wall time.

    ``psi_some_pct``: time at least one task (or kswapd) was in a memstall;
    ``psi_full_pct``: time all CPUs' tasks were stalled at once.

    MODEL: stalls are summed without merging overlaps (``some`` is capped at
    100%), and ``full`` is the lower bound obtained by assuming the task
    stalls were spread evenly over the ``nr_cpus`` CPUs.
    """
    t = tsdf.index.to_numpy()
    dt = np.diff(t, prepend=t[0])
    dt[dt <= 0] = np.nan
    # MODEL: overlapping stalls are summed; "full" is the even-spread lower bound
    some = np.diff(tsdf["psi_some_ns"].to_numpy(), prepend=0.0) / 1e9
    task = np.diff(tsdf["psi_task_ns"].to_numpy(), prepend=0.0) / 1e9
    tsdf["psi_some_pct"] = np.nan_to_num(np.minimum(100.0 * some / dt, 100.0))
    full = np.maximum(task - (nr_cpus - 1) * dt, 0.0) if nr_cpus > 1 else task
    tsdf["psi_full_pct"] = np.nan_to_num(np.minimum(100.0 * full / dt, 100.0))


def run(workload, config: Config | None = None, *, duration: float | None = None,
        sample_interval: float | None = None, snapshots: int = 20,
        check_invariants: bool = False, progress: bool = False,
        baseline_ops: int | None = None, on_progress=None) -> Result:
    """Run a workload through the model.

    Parameters
    ----------
    workload : str or Workload
        A scenario name (``"steady"``), a scenario file path, or a Workload.
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
    if isinstance(workload, Workload):
        wl = workload
        if duration is not None:
            raise ConfigError("duration: cannot override the duration of a prebuilt Workload")
    else:
        wl = build_workload(workload, config, duration=duration)
    wl.validate(config.nr_cpus)
    if not isinstance(snapshots, int) or isinstance(snapshots, bool) or snapshots < 1:
        raise ConfigError(f"snapshots: expected a positive integer, got {snapshots!r}")

    bt = wl.meta.get("initial_block_mt")
    if bt is not None and len(bt) != config.nr_pageblocks:
        raise ConfigError(f"workload {wl.name}: initial pageblock types for {len(bt)} blocks, "
                          f"the config has {config.nr_pageblocks}")
    st = make_state(config, block_types=bt)
    prm = config.to_params()
    own = make_owners(wl.nr_handles, wl.handle_owner, wl.owner_kind)
    swap_bytes = config.swap if config.swap is not None else (wl.swap or 0)
    st.node[NODE_SWAP_TOTAL] = int(swap_bytes) // C.PAGE_SIZE
    rec = make_recorder()
    ops = (wl.t, wl.kind, wl.order, wl.gfp, wl.handle, wl.cpu, wl.content)
    if JIT_DISABLED:
        st, own, rec, ops = (as_python_arrays(x) for x in (st, own, rec, ops))
    event_limit = rec.ext_t.shape[0] - EVENT_HEADROOM
    cev_limit = st.cev.shape[0] - CEV_HEADROOM      # as driver.step_chunk stops
    dur_ns = max(int(wl.duration_ns), int(wl.t[-1]) if len(wl) else 0, 1)
    if sample_interval is None:
        sample_ns = max(dur_ns // 200, 1)
    else:
        if not sample_interval > 0:
            raise ConfigError(f"sample_interval: must be positive, got {sample_interval!r}")
        sample_ns = max(int(sample_interval * 1e9), 1)
    bounds = np.arange(sample_ns, dur_ns + sample_ns, sample_ns, dtype=np.int64)
    cut = np.searchsorted(wl.t, bounds, side="right")
    nsamples = bounds.shape[0]
    snap_every = max(nsamples // snapshots, 1)

    ts = np.zeros((nsamples + 1, len(TS_COLUMNS)), np.float64)
    ts_t = np.zeros(nsamples + 1, np.float64)
    ext_parts = []
    snaps = []
    nb = config.nr_pageblocks

    cev_parts = []

    def flush_events():
        n = int(rec.ext_count[0])
        if n:
            ext_parts.append(tuple(a[:n].copy() for a in rec[:-1]))
            rec.ext_count[0] = 0
        n = int(st.cev_count[0])
        if n:
            cev_parts.append(st.cev[:n].copy())
            st.cev_count[0] = 0

    ext_total = [0, 0]

    def take_snapshot(t_s):
        counts = np.zeros((nb, len(BLOCK_COLUMNS)), np.int32)
        snapshot_pageblocks(st, prm, counts)
        snaps.append(PageblockSnapshot(t_s, st.block_mt.copy(), counts,
                                       st.nr_free_mt.copy()))

    def record_row(row, t_s):
        ts_t[row] = t_s
        ext_total[0] += int(rec.ext_count[0])
        if rec.ext_count[0]:
            fo = rec.ext_fallback_order[:rec.ext_count[0]]
            ext_total[1] += int((fo < config.pageblock_order).sum())
        timeseries_row(st, ts[row], ext_total[0], ext_total[1])

    guard = None
    if config.oomd is not None:
        from .oomd import PressureGuard
        guard = PressureGuard(config.oomd, TS_COLUMNS, config.nr_cpus)
    if check_invariants:
        check_state(st, prm)
    pos = 0
    kernel_s = 0.0
    if baseline_ops is None:
        baseline_ops = int(wl.meta.get("baseline_ops", 0))
    if baseline_ops:
        if not (0 < baseline_ops <= len(wl)) or wl.t[baseline_ops - 1] != 0:
            raise ConfigError(f"baseline_ops: {baseline_ops} must count ops at t=0 of the workload")
        while pos < baseline_ops:
            tk = time.perf_counter()
            pos = step_chunk(st, prm, rec, own, *ops, pos, baseline_ops, event_limit)
            kernel_s += time.perf_counter() - tk
            flush_events()
        # MODEL: the initial state is built with the per-cpu lists drained, so
        # its free chunks sit in the buddy lists (where /proc/buddyinfo sees them)
        from .page_alloc import drain_all_pages
        getattr(drain_all_pages, "impl", drain_all_pages)(st, prm, np.int64(-1))
        if check_invariants:
            check_state(st, prm)
        wl.meta["baseline_vmstat"] = _vmstat(st, config)
    record_row(0, 0.0)
    take_snapshot(0.0)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(wl), unit="op", desc=wl.name, leave=False)
    for s in range(nsamples):
        end = int(cut[s])
        while pos < end:
            tk = time.perf_counter()
            pos = step_chunk(st, prm, rec, own, *ops, pos, end, event_limit)
            kernel_s += time.perf_counter() - tk
            if rec.ext_count[0] >= event_limit or st.cev_count[0] >= cev_limit:
                # account the events in this row's running totals, then flush
                record_row(s + 1, bounds[s] / 1e9)
                flush_events()
                continue
        if check_invariants:
            check_state(st, prm)
        record_row(s + 1, min(bounds[s], dur_ns) / 1e9)
        flush_events()
        if guard is not None:
            guard.check(st, prm, own, s + 1, ts, ts_t)
        if bar is not None:
            bar.update(end - bar.n)
        if on_progress is not None:
            on_progress((s + 1) / nsamples)
        if (s + 1) % snap_every == 0 and s + 1 < nsamples:
            take_snapshot(min(bounds[s], dur_ns) / 1e9)
    if bar is not None:
        bar.close()
    take_snapshot(dur_ns / 1e9)

    if ext_parts:
        cols = [np.concatenate([p[i] for p in ext_parts]) for i in range(7)]
    else:
        cols = [np.zeros(0, np.int64)] * 7
    extfrag = pd.DataFrame({
        "t": cols[0].astype(np.float64) / 1e9,
        "pfn": cols[1].astype(np.int64),
        "alloc_order": cols[2].astype(np.int64),
        "fallback_order": cols[3].astype(np.int64),
        "alloc_migratetype": cols[4].astype(np.int64),
        "fallback_migratetype": cols[5].astype(np.int64),
        "change_ownership": cols[6].astype(np.int64),
    })
    extfrag["fragmenting"] = (extfrag["fallback_order"] < config.pageblock_order).astype(np.int64)
    compaction_events = compaction_event_frame(
        np.concatenate(cev_parts) if cev_parts else np.zeros((0, NR_CEV), np.int64), config)
    tsdf = pd.DataFrame(ts, columns=TS_COLUMNS, index=pd.Index(ts_t, name="t"))
    add_psi_columns(tsdf, config.nr_cpus)
    elapsed = time.perf_counter() - t_start
    return Result(
        config=config, scenario=wl.name, duration_s=dur_ns / 1e9,
        vmstat=_vmstat(st, config), extfrag=extfrag, timeseries=tsdf, snapshots=snaps,
        diagnostics=_diagnostics(st), events_processed=int(len(wl)), elapsed_s=elapsed,
        zone_names=list(C.ZONE_NAMES), zone_spans=config.zone_spans(),
        watermarks=st.watermark.copy(), nr_free_mt=st.nr_free_mt.copy(),
        block_counts=_block_counts(st, config), state_bytes=state_nbytes(st),
        meta=dict(wl.meta), latency_hist=st.lat_hist.copy(),
        compaction_events=compaction_events, compaction_events_lost=int(st.cev_count[1]),
        kernel_s=kernel_s,
    )
