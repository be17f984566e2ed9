"""Plain-text tables for a mail body (mmtests compare-kernels style)."""
from __future__ import annotations

from ..sim.metrics import counter_rows
from .claims import config_means
from .onset import storm_onset_growth


def comparison_table(results: dict, *, title: str = "") -> str:
    """Columns = configurations (label -> Result), rows = counters; the change
    relative to the first column is shown in percent."""
    labels = list(results)
    per = {lab: dict(counter_rows(r)) for lab, r in results.items()}
    keys = []
    for lab in labels:
        for k in per[lab]:
            if k not in keys:
                keys.append(k)
    cells = {}
    for k in keys:
        base = per[labels[0]].get(k)
        row = []
        for i, lab in enumerate(labels):
            v = per[lab].get(k)
            if v is None:
                cell = "-"
            else:
                cell = f"{v:,}" if isinstance(v, int) else f"{v:.4g}"
                if i > 0 and base not in (None, 0):
                    pct = 100.0 * (v - base) / abs(base)
                    cell += f" ({pct:+.1f}%)"
            row.append(cell)
        cells[k] = row
    w0 = max(len(k) for k in keys) + 2
    colw = [max(len(lab), max(len(cells[k][i]) for k in keys)) + 3 for i, lab in enumerate(labels)]
    out = []
    if title:
        out.append(title)
        out.append("")
    out.append(" " * w0 + "".join(f"{lab:>{colw[i]}}" for i, lab in enumerate(labels)))
    for k in keys:
        out.append(f"{k:<{w0}}" + "".join(f"{c:>{colw[i]}}" for i, c in enumerate(cells[k])))
    return "\n".join(out) + "\n"


#: Patch 1's lockdep view: direct reclaim/compaction entries by gfp context.
LOCKDEP_ROWS = ("direct_reclaim", "direct_compaction", "direct_compaction_order0",
                "direct_compaction_annotated")


def lockdep_table(result) -> str:
    """The ``lockdep_*`` diagnostics of one run (what lockdep would see)."""
    return "".join(f"{row:<30} {result.diagnostics[f'lockdep_{row}']}\n" for row in LOCKDEP_ROWS)


#: The compaction counters of the patch-2 table.
COMPACTION_KEYS = ("compact_promoted", "compact_stall", "compact_success", "compact_fail",
                   "compact_migrate_scanned", "compact_migrated")


def nonmovable_table(cmp, labels, keys=COMPACTION_KEYS) -> str:
    """Per-type diagnostics summed over the non-movable requests, means over
    seeds, for the configurations ``labels`` of a Comparison side by side."""
    means = config_means(cmp)
    return "".join(f"{k:<26} non-movable requests: "
                   + "  ".join(f"{means[lab][f'{k}, non-movable requests']:>10,.1f} ({lab})"
                               for lab in labels) + "\n"
                   for k in keys)


#: Compaction deferral events at pageblock order, shared by THP faults and
#: the promoted non-movable requests (``compaction_defer_reset()``).
DEFER_EVENTS = ("mm_compaction_defer_compaction", "mm_compaction_deferred",
                "mm_compaction_defer_reset")


def cost_table(cmp, seed_index: int) -> str:
    """What the promoted compaction costs, per configuration: compaction work
    and THP faults (means over seeds), then the pageblock-order deferral
    events of the seed ``seed_index``."""
    out = []
    for lab, v in cmp.means("headline").items():
        out.append(f"{lab:<13} compact_stall {v['compact_stall']:>8,.0f}  compact_migrate_scanned "
                   f"{v['compact_migrate_scanned']:>10,.0f}  thp_fault_alloc "
                   f"{v['thp_fault_alloc']:>6,.0f}  thp_fault_fallback "
                   f"{v['thp_fault_fallback']:>6,.0f}")
    for lab, rs in cmp.results.items():
        r = rs[seed_index]
        ev = r.compaction_events
        n = ev[ev.order == r.pageblock_order].event.value_counts()
        out.append(f"{lab:<13} order-{r.pageblock_order} "
                   + "  ".join(f"{e} {n.get(e, 0):>5}" for e in DEFER_EVENTS))
    return "\n".join(out) + "\n"


def onset_lines(df) -> str:
    """Where the storm begins for each configuration of a storm_onset() frame."""
    out = []
    for lab in dict.fromkeys(df["config"]):
        on = storm_onset_growth(df, lab)
        out.append(f"{lab}: non-movable reclaim retries >= 1/s from "
                   + (f"{on:g} MiB/s per GiB" if on is not None else "nowhere in the sweep"))
    return "\n".join(out) + "\n"
