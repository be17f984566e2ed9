"""What a run produced: :class:`Result` and the pageblock snapshots.

Built once, at the end of a run, by :class:`~defragsim.sim.recorder.RunRecorder`;
read by everything downstream (analysis, plots, widgets, the CLI).  Nothing
here touches the model's state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import constants as C
from ..config import Config
from .metrics import metrics as _metrics
from .procfs import render_buddyinfo, render_pagetypeinfo
from .textmap import pageblock_text

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
        # int64 first: with a uint8 array, numpy 2 turns the -1 into 255 (a
        # HighAtomic block would count as mixed)
        mt = self.migratetype.astype(np.int64)
        bt = np.where(mt < C.MIGRATE_PCPTYPES, mt, -1)
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
        wakeup_kcompactd, kcompactd_wake) and per ``mm_vmscan_kswapd_wake`` /
        ``mm_vmscan_kswapd_sleep``; see :func:`compaction_event_frame`.
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
    #: mm_compaction_* and kswapd wake/sleep events (see :func:`compaction_event_frame`)
    compaction_events: pd.DataFrame | None = None
    #: events dropped because the ring was full (as ftrace's "entries lost")
    compaction_events_lost: int = 0
    #: /proc/slabinfo of the slab-object caches at the end (:meth:`slabinfo_text`)
    slabinfo: pd.DataFrame | None = None
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

    def pageblock_text(self, i: int = -1, *, width: int = 64, legend: bool = True) -> str:
        """The pageblock map of snapshot ``i`` as plain text for a mail: one
        character per block (U M R H, lower case when mostly free, ``*`` when
        mixed), ``width`` a line with the pfn first, zones on their own lines
        (:mod:`defragsim.sim.textmap`)."""
        return pageblock_text(self, i, width=width, legend=legend)

    def pagetypeinfo(self, i: int | None = None) -> str:
        """/proc/pagetypeinfo text (kernel format) of the final state or snapshot ``i``."""
        snap = self.snapshots[-1 if i is None else i]
        return render_pagetypeinfo(snap.nr_free_mt, snap.migratetype, self.zone_spans,
                                   self.pageblock_order)

    def slabinfo_text(self) -> str:
        """The slab-object caches at the end of the run, as /proc/slabinfo
        (version 2.1) prints them (no tunables: SLUB has none)."""
        out = ["slabinfo - version: 2.1",
               "# name            <active_objs> <num_objs> <objsize> <objperslab> "
               "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata "
               "<active_slabs> <num_slabs> <sharedavail>"]
        df = self.slabinfo if self.slabinfo is not None else pd.DataFrame()
        for name, r in df.iterrows():
            out.append(f"{name:<17} {r.active_objs:6d} {r.num_objs:6d} {r.objsize:6d} "
                       f"{r.objperslab:4d} {r.pagesperslab:4d} : tunables    0    0    0 : "
                       f"slabdata {r.active_slabs:6d} {r.num_slabs:6d}      0")
        return "\n".join(out)

    def buddyinfo(self, i: int | None = None) -> str:
        """/proc/buddyinfo text (kernel format)."""
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

    def metrics(self, view: str = "all") -> dict:
        """The run's metrics, defined once in :mod:`defragsim.sim.metrics`:
        ``"headline"``, ``"counters"``, ``"all"`` (the compare table) or
        ``"explorer"``."""
        return _metrics(self, view)

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
