"""Recording a run: one object that owns every ring and builds the frames.

The kernels write two rings: the ``mm_page_alloc_extfrag`` ring (the
``Recorder`` namedtuple passed to them as ``rec``) and the ``mm_compaction_*``
tracepoint ring (``State.cev``: compaction's callers do not carry ``rec``, as
the kernel's tracepoints write to the trace buffer from wherever they fire).
:class:`RunRecorder` owns both: it flushes them between chunks, fills the
time-series rows and pageblock snapshots into preallocated arrays, reads the
final counters, and builds the DataFrames once, at the end.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import constants as C
from .._jit import njit
from ..constants import COMPACT_RESULT_NAMES
from ..mm.state import (SLAB_ACTIVE_OBJS, SLAB_ALLOC_FAILED, SLAB_NR_PAGES, SLAB_NR_SLABS,
                        CEV_BEGIN, CEV_CONSIDERED, CEV_DEFER_SHIFT, CEV_DIRECT, CEV_END,
                        CEV_EVENT, CEV_FREE_PFN, CEV_HEADROOM, CEV_MIGRATE_PFN, CEV_NAMES,
                        CEV_ORDER, CEV_ORDER_FAILED, CEV_STATUS, CEV_SYNC, CEV_T, CEV_TRY,
                        CEV_ZONE, DIAG_NAMES, DIAG_OOMD_KILLS, EVENT_HEADROOM, LD_CTX_NAMES,
                        LOCKDEP_ROW_NAMES, NODE_KCOMPACTD_BUSY_NS, NODE_KCOMPACTD_PROACTIVE_NS,
                        NODE_KSWAPD_BUSY_NS, NODE_KSWAPD_STATE, NODE_PSI_SOME_NS,
                        NODE_PSI_TASK_NS, NODE_SWAP_USED, NR_CEV, REQ_RECLAIM_RETRIES,
                        REQ_STALL_NS, REQ_STAT_NAMES, make_recorder)
from .result import BLOCK_COLUMNS, PageblockSnapshot

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
    "nr_vmscan_immediate_reclaim", "nr_written",
]

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


def compaction_event_frame(rows: np.ndarray, config) -> pd.DataFrame:
    """The mm_compaction_* event table, with the tracepoints' field names,
    and kswapd's mm_vmscan_kswapd_wake / _sleep (at kswapd's clock).

    Columns: ``t`` (s), ``event``, ``direct`` (a task; else kcompactd or
    kswapd), ``zone`` (the zone, or highest_zoneidx for try_to_compact_pages,
    the kcompactd wake events and kswapd_wake: its zid; 0 for kswapd_sleep,
    which has only nid), ``order``, ``zone_start``, ``migrate_pfn``,
    ``free_pfn``, ``zone_end``, ``sync`` and ``mode`` (begin/end), ``status``
    (end: the compact_result name), ``prio`` and ``gfp_mask`` (try_to_compact_pages),
    ``considered``, ``defer_shift``, ``order_failed`` (defer events).
    """
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
    heads = st.pg_flags & C.PG_head != 0
    v["nr_dirty"] = int(((st.pg_flags & C.PG_dirty != 0) & heads).sum())
    v["nr_writeback"] = int(((st.pg_flags & C.PG_writeback != 0) & heads).sum())
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


def slabinfo_frame(st) -> pd.DataFrame:
    """/proc/slabinfo of the object caches (the columns of ``slabinfo`` 2.1:
    active_objs, num_objs, objsize, objperslab, pagesperslab, active_slabs,
    num_slabs), one row per cache that ever had a slab; plus the pages in
    the cache's slabs and allocations that got no slab page (model)."""
    rows = []
    for i, (name, size, objs, pages, _shr) in enumerate(C.SLAB_CACHES):
        sc = st.slab_cache[i]
        if sc[SLAB_NR_SLABS] == 0 and sc[SLAB_ACTIVE_OBJS] == 0 and sc[SLAB_ALLOC_FAILED] == 0:
            continue
        nr_pages = int(sc[SLAB_NR_PAGES])
        rows.append({"name": name, "active_objs": int(sc[SLAB_ACTIVE_OBJS]),
                     # slabs of the fallback (smallest) order hold fewer objects
                     "num_objs": int(nr_pages * C.PAGE_SIZE // size),
                     "objsize": size, "objperslab": objs, "pagesperslab": pages,
                     "active_slabs": int(sc[SLAB_NR_SLABS]), "num_slabs": int(sc[SLAB_NR_SLABS]),
                     "pages": nr_pages, "alloc_failed": int(sc[SLAB_ALLOC_FAILED])})
    cols = ["name", "active_objs", "num_objs", "objsize", "objperslab", "pagesperslab",
            "active_slabs", "num_slabs", "pages", "alloc_failed"]
    return pd.DataFrame(rows, columns=cols).set_index("name")


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


#: extfrag ring columns, in Recorder order (the last field is the count)
_EXT_FIELDS = ("t", "pfn", "alloc_order", "fallback_order", "alloc_migratetype",
               "fallback_migratetype", "change_ownership")


class RunRecorder:
    """Everything a run records, in preallocated arrays.

    ``rec`` is the kernels' extfrag ring; ``st.cev`` their compaction ring.
    The loop calls :meth:`flush` when a ring nears full and after each row,
    :meth:`row` at each sample time and :meth:`snapshot` at the snapshot
    cadence; :meth:`frames` builds the DataFrames once, at the end.
    """

    def __init__(self, st, prm, config, nsamples: int):
        self.st, self.prm, self.config = st, prm, config
        self.rec = make_recorder()
        self.ts = np.zeros((nsamples + 1, len(TS_COLUMNS)), np.float64)
        self.ts_t = np.zeros(nsamples + 1, np.float64)
        self.snaps = []
        self._ext_parts = []
        self._cev_parts = []
        self._ext_total = 0          # extfrag events so far (the time series' running total)
        self._ext_fragmenting = 0

    @property
    def event_limit(self) -> int:
        """Rows of the extfrag ring the kernels may fill before a flush."""
        return self.rec.ext_t.shape[0] - EVENT_HEADROOM

    @property
    def cev_limit(self) -> int:
        """Rows of the compaction ring the kernels may fill (as driver.step_chunk stops)."""
        return self.st.cev.shape[0] - CEV_HEADROOM

    def rings_full(self) -> bool:
        return (self.rec.ext_count[0] >= self.event_limit
                or self.st.cev_count[0] >= self.cev_limit)

    def use_arrays(self, st, rec) -> None:
        """The State and ring the kernels really write (plain-Python runs widen them)."""
        self.st, self.rec = st, rec

    def flush(self) -> None:
        """Move both rings' rows out, so the kernels can fill them again."""
        rec, st = self.rec, self.st
        n = int(rec.ext_count[0])
        if n:
            self._ext_parts.append(tuple(a[:n].copy() for a in rec[:-1]))
            rec.ext_count[0] = 0
        n = int(st.cev_count[0])
        if n:
            self._cev_parts.append(st.cev[:n].copy())
            st.cev_count[0] = 0

    def row(self, i: int, t_s: float) -> None:
        """Time-series row ``i`` at ``t_s`` seconds (counts the unflushed extfrag events)."""
        rec = self.rec
        self.ts_t[i] = t_s
        n = int(rec.ext_count[0])
        self._ext_total += n
        if n:
            fo = rec.ext_fallback_order[:n]
            self._ext_fragmenting += int((fo < self.config.pageblock_order).sum())
        timeseries_row(self.st, self.ts[i], self._ext_total, self._ext_fragmenting)

    def snapshot(self, t_s: float) -> None:
        """The pageblock map now."""
        counts = np.zeros((self.config.nr_pageblocks, len(BLOCK_COLUMNS)), np.int32)
        snapshot_pageblocks(self.st, self.prm, counts)
        self.snaps.append(PageblockSnapshot(t_s, self.st.block_mt.copy(), counts,
                                            self.st.nr_free_mt.copy()))

    def frames(self) -> dict:
        """The run's tables: ``extfrag``, ``compaction_events``, ``timeseries``."""
        config = self.config
        if self._ext_parts:
            cols = [np.concatenate([p[i] for p in self._ext_parts]) for i in range(len(_EXT_FIELDS))]
        else:
            cols = [np.zeros(0, np.int64)] * len(_EXT_FIELDS)
        extfrag = pd.DataFrame({name: c.astype(np.int64) for name, c in zip(_EXT_FIELDS, cols)})
        extfrag["t"] = cols[0].astype(np.float64) / 1e9
        extfrag["fragmenting"] = (extfrag["fallback_order"] < config.pageblock_order).astype(np.int64)
        cev = np.concatenate(self._cev_parts) if self._cev_parts else np.zeros((0, NR_CEV), np.int64)
        tsdf = pd.DataFrame(self.ts, columns=TS_COLUMNS, index=pd.Index(self.ts_t, name="t"))
        add_psi_columns(tsdf, config.cpus)
        return {"extfrag": extfrag, "compaction_events": compaction_event_frame(cev, config),
                "timeseries": tsdf}

    def final_counters(self) -> dict:
        """/proc/vmstat, the model diagnostics and pageblocks by type, read off the state."""
        st, config = self.st, self.config
        return {"vmstat": _vmstat(st, config), "diagnostics": _diagnostics(st),
                "block_counts": _block_counts(st, config), "slabinfo": slabinfo_frame(st)}
