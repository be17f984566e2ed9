"""The metrics of a run, defined once: every table, widget and notebook reads
them through :meth:`Result.metrics <defragsim.sim.result.Result.metrics>`.

Three views of one Result:

- ``"headline"``: the numbers the series is about (swap-out, direct reclaim,
  reclaim retries and stalls split by the request's migratetype, compaction,
  THP, fragmenting extfrag events);
- ``"counters"``: every scalar the run recorded, flat: /proc/vmstat, the
  extfrag summary and pairs, pageblocks by zone and type, mixed blocks, and
  the model diagnostics (nested dicts flattened to ``"name type"``);
- ``"all"``: what ``defragsim compare`` tabulates: the headline rows (keys
  indented by two spaces), ``"vmstat NAME"`` rows, then ``"model  NAME"``
  rows for the counters that are not in /proc/vmstat;
- ``"explorer"``: the short counter table of the patch explorer.
"""
from __future__ import annotations

from ..mm import costs


def reclaim_batch_cost_ns(pages: int, cpu_pace_milli: int = 1000) -> int:
    """What the model charges kswapd, in simulated ns, to reclaim ``pages``
    of clean unmapped page cache in one batch (``shrink_folio_list()``,
    :mod:`defragsim.mm.costs`) at a machine's pace (``Params.cpu_pace_milli``,
    ``costs.cpu_ns``): 32 order-0 folios for a batch of 32 pages, else one
    folio of that many pages.  A replay's notes set it beside the traced
    machine's batches (:func:`defragsim.workloads.trace.work_pace`)."""
    # as vmscan.shrink_inactive_list() charges a folio: the scan, then its reclaim
    scan = costs.pace_ns(costs.SCAN_FOLIO_NS, cpu_pace_milli)
    if pages <= 32:
        return pages * (scan + costs.pace_ns(costs.RECLAIM_CLEAN_FILE_NS, cpu_pace_milli))
    return scan + costs.pace_ns(costs.RECLAIM_CLEAN_FILE_NS + (pages - 1) * costs.FOLIO_PAGE_NS,
                                cpu_pace_milli)


def compact_scan_page_ns(cpu_pace_milli: int = 1000) -> int:
    """What the model charges a compaction scanner for each page it scans
    (ns), at a machine's pace."""
    return costs.pace_ns(costs.COMPACT_SCAN_PFN_NS, cpu_pace_milli)


def nonmovable(d: dict, key: str):
    """A per-request-type diagnostic summed over the non-movable types
    (unmovable + reclaimable requests)."""
    return d[key]["unmovable"] + d[key]["reclaimable"]


def headline_metrics(r) -> dict:
    """The numbers the series is about, from one Result (name -> value)."""
    v, d = r.vmstat, r.diagnostics
    ex = r.extfrag_summary()

    def nm(key):
        return nonmovable(d, key)

    return {
        "pswpout": v["pswpout"],
        "pswpin": v["pswpin"],
        "pgsteal_direct": v["pgsteal_direct"],
        "pgscan_direct": v["pgscan_direct"],
        "allocstall_normal": v.get("allocstall_normal", 0),
        "oom_kill": v["oom_kill"],
        "compact_stall": v["compact_stall"],
        "compact_success": v["compact_success"],
        "compact_fail": v["compact_fail"],
        "compact_migrate_scanned": v["compact_migrate_scanned"],
        "compact_daemon_migrate_scanned": v["compact_daemon_migrate_scanned"],
        "thp_fault_alloc": v["thp_fault_alloc"],
        "thp_fault_fallback": v["thp_fault_fallback"],
        "extfrag fragmenting (fallback_order<pageblock)": ex["fragmenting"],
        "extfrag change_ownership": ex["change_ownership"],
        "reclaim retries, non-movable requests": nm("reclaim_retries"),
        "reclaim retries, movable requests": d["reclaim_retries"]["movable"],
        "direct reclaim, non-movable requests": nm("direct_reclaim"),
        "compact_stall, non-movable requests": nm("compact_stall"),
        "compact_success, non-movable requests": nm("compact_success"),
        "stall s, non-movable requests": nm("stall_s"),
        "stall s, movable requests": d["stall_s"]["movable"],
        "psi some s": d["psi_some_s"],
        "nofragment drops": d["nofragment_dropped"],
        "oomd kills": d["oomd_kills"],
        "mixed pageblocks (end)": int(r.pageblocks()["mixed"].sum()),
        "kswapd busy s": d["kswapd_busy_s"],
        "kcompactd busy s": d["kcompactd_busy_s"],
    }


def counter_rows(r) -> list[tuple[str, float]]:
    """Every scalar of the run as ``(name, value)`` rows, in table order."""
    rows = list(r.vmstat.items())
    ex = r.extfrag_summary()
    rows.append(("extfrag events", ex["events"]))
    rows.append(("extfrag change_ownership", ex["change_ownership"]))
    rows.append(("extfrag fragmenting", ex["fragmenting"]))
    for pair, n in sorted(ex["pairs"].items()):
        rows.append((f"extfrag {pair}", n))
    for zone, counts in r.block_counts.items():
        for t, n in counts.items():
            if t in ("isolate",):
                continue
            rows.append((f"blocks {zone} {t}", n))
    df = r.pageblocks()
    rows.append(("mixed blocks", int(df["mixed"].sum())))
    rows.append(("foreign pages in blocks", int(df["foreign"].sum())))
    for k, v in r.diagnostics.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                rows.append((f"{k} {kk}", vv))
        else:
            rows.append((k, v))
    return rows


def all_metrics(r) -> dict:
    """Every scalar the compare table can show: headline, then vmstat, then the
    model diagnostics (nested dicts flattened to ``name type``)."""
    out = {f"  {k}": val for k, val in headline_metrics(r).items()}
    for k, val in r.vmstat.items():
        out[f"vmstat {k}"] = val
    for k, val in counter_rows(r):
        if k in r.vmstat:
            continue
        out[f"model  {k}"] = val
    return out


#: The patch explorer's counter table: label -> where the value comes from
#: (a headline metric, or a /proc/vmstat name).
EXPLORER_METRICS = {
    "pswpout": ("vmstat", "pswpout"),
    "pswpin": ("vmstat", "pswpin"),
    "pgsteal_kswapd": ("vmstat", "pgsteal_kswapd"),
    "pgsteal_direct": ("vmstat", "pgsteal_direct"),
    "allocstall_normal": ("headline", "allocstall_normal"),
    "compact_stall": ("vmstat", "compact_stall"),
    "compact_success": ("vmstat", "compact_success"),
    "thp_fault_alloc": ("vmstat", "thp_fault_alloc"),
    "thp_fault_fallback": ("vmstat", "thp_fault_fallback"),
    "extfrag events": ("counters", "extfrag events"),
    "extfrag fragmenting": ("counters", "extfrag fragmenting"),
    "reclaim retries (non-movable)": ("headline", "reclaim retries, non-movable requests"),
    "stall s (non-movable)": ("headline", "stall s, non-movable requests"),
    "stall s (movable)": ("headline", "stall s, movable requests"),
    "oom_kill": ("vmstat", "oom_kill"),
    "nr_free_pages": ("vmstat", "nr_free_pages"),
}


def explorer_metrics(r) -> dict:
    """The explorer's short table (:data:`EXPLORER_METRICS`); stalls rounded
    to 0.1 ms."""
    src = {"vmstat": r.vmstat, "headline": headline_metrics(r),
           "counters": {k: v for k, v in counter_rows(r) if k.startswith("extfrag")}}
    out = {}
    for label, (where, key) in EXPLORER_METRICS.items():
        v = src[where][key]
        out[label] = round(v, 4) if isinstance(v, float) else v
    return out


VIEWS = {"headline": headline_metrics, "all": all_metrics, "explorer": explorer_metrics,
         "counters": lambda r: dict(counter_rows(r))}


def metrics(r, view: str = "all") -> dict:
    """One view of a Result's metrics (see the module docstring)."""
    try:
        fn = VIEWS[view]
    except KeyError:
        raise ValueError(f"metrics: unknown view {view!r} (known: {', '.join(VIEWS)})") from None
    return fn(r)
