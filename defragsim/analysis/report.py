"""Plain-text tables for a mail body (mmtests compare-kernels style)."""
from __future__ import annotations

import textwrap

import numpy as np

from .. import constants as C
from ..provenance import __version__, model_hash_short
from ..sim.metrics import all_metrics, counter_rows
from .claims import config_means
from .compare import bootstrap_ci, cpus_text, mem_text
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


# --- tables for a mail: the headline table, the fallback table, what remains ----------

#: the headline table's rows: label, the all_metrics key
HEADLINE_ROWS = (
    ("pswpout", "  pswpout"),
    ("pgsteal_kswapd", "vmstat pgsteal_kswapd"),
    ("pgsteal_direct", "  pgsteal_direct"),
    ("allocstall_normal", "  allocstall_normal"),
    ("direct reclaim, non-movable", "  direct reclaim, non-movable requests"),
    ("reclaim retries, non-movable", "  reclaim retries, non-movable requests"),
    ("compact_stall", "  compact_stall"),
    ("compact_success", "  compact_success"),
    ("thp_fault_alloc", "  thp_fault_alloc"),
    ("thp_fault_fallback", "  thp_fault_fallback"),
    ("extfrag fragmenting", "  extfrag fragmenting (fallback_order<pageblock)"),
    ("stall ms, non-movable", "  stall s, non-movable requests"),
    ("stall ms, movable", "  stall s, movable requests"),
    ("oom_kill", "  oom_kill"),
)
_LABEL_W, _CELL_W = 28, 17


def compact(v: float) -> str:
    """A number in at most 6 characters: 0, 12, 4936, 49k, 1.2M, 0.083."""
    a = abs(v)
    if a == 0:
        return "0"
    if a < 10 and not float(v).is_integer():
        return f"{v:.2g}" if a < 1 else f"{v:.1f}"
    if a >= 1e9:
        return f"{v / 1e9:.3g}G"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def change_text(base: float, value: float) -> str:
    """The change of ``value`` against ``base``: ``-2.9%``, ``+41%``, ``new``
    (a zero base), ``=`` (both zero), the absolute change past +-999%."""
    if value == base:
        return "="
    if base == 0:
        return "new"
    pct = 100.0 * (value - base) / abs(base)
    if abs(pct) >= 1000:
        d = value - base
        return ("+" if d > 0 else "-") + compact(abs(d))
    return f"{pct:+.1f}%" if abs(pct) < 10 else f"{pct:+.0f}%"


def _value_text(v: float, counter: bool) -> str:
    """A counter's mean as an integer (one decimal below 10 when the seeds'
    mean is not whole: 0.5 is not 0); seconds with 3 digits."""
    if counter:
        return f"{v:.1f}" if abs(v) < 10 and not float(v).is_integer() else f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"


def _disagree(vals) -> bool:
    """Seeds disagree in kind: some saw none of it, others did."""
    return len(vals) > 1 and min(vals) == 0 < max(vals)


def provenance_lines(result, command: str | None = None) -> list[str]:
    """The header of a mail table: the command, kernel baseline, version, model hash."""
    kernel = getattr(result.config, "kernel", "mm-2026")
    return ([f"$ {command}"] if command else []) + [
        f"kernel baseline {kernel} | defragsim {__version__} | model {model_hash_short()}"]


def headline_table(cmp, *, command: str | None = None, width: int = 80) -> str:
    """The table to paste first: the series' rows (:data:`HEADLINE_ROWS`) per
    configuration of a Comparison, under ``width`` columns (more
    configurations than fit are split into blocks, each starting again with
    [0]).  A cell is the mean over seeds (counters as integers) and its change
    against [0] (``new`` against a zero base, the absolute change past
    +-999%), ``*`` where the 95% bootstrap intervals do not overlap; under it,
    each seed's value (up to 3 seeds) or the interval and n; seeds that
    disagree in kind (one never saw it) are named below the table."""
    per = {lab: [all_metrics(r) for r in rs] for lab, rs in cmp.results.items()}
    labels, n = list(per), len(cmp.seeds)
    first = next(iter(cmp.results.values()))[0]
    out = provenance_lines(first, command)
    out.append(f"{cmp.scenario}, {mem_text(cmp)}{cpus_text(cmp)}, {cmp.duration_s:g} s simulated, "
               f"seeds {','.join(map(str, cmp.seeds))}")
    out += [f"[{i}] {spec.label}: " + (", ".join(f"{k}={v}" for k, v in spec.config.items())
                                      or "defaults") for i, spec in enumerate(cmp.specs)]
    fit = max(2, (width - _LABEL_W) // _CELL_W)
    blocks = [list(range(len(labels)))] if len(labels) <= fit else \
        [[0] + list(range(s, min(s + fit - 1, len(labels)))) for s in range(1, len(labels), fit - 1)]
    disagree, zero = [], []
    for cols in blocks:
        out.append("")
        out.append(" " * _LABEL_W + "".join(f"{'[' + str(i) + ']':>{_CELL_W}}" for i in cols))
        for label, key in HEADLINE_ROWS:
            scale = 1e3 if label.startswith("stall ms") else 1.0
            vals = [[scale * float(m.get(key, 0)) for m in per[labels[i]]] for i in cols]
            if not any(any(v) for v in vals):
                if cols is blocks[0]:
                    zero.append(label)
                continue
            out += _headline_row(label, key, vals, n)
            if cols is blocks[0]:
                disagree += [(label, labels.index(labels[i]), v) for i, v in zip(cols, vals)
                             if _disagree(v)]
    out.append("")
    out.append(f"means of {n} seed{'s' if n > 1 else ''}; change vs [0] (past +-999%: the absolute "
               "change);")
    if n > 1:
        out.append("* the 95% bootstrap intervals of the means do not overlap;")
    out.append("second line: each seed's value" if n <= 3 else
               f"second line: the 95% bootstrap interval of the mean (n={n})")
    if zero:
        out += textwrap.wrap("0 everywhere: " + "; ".join(zero), width)
    for label, i, v in disagree:
        none = [s for s, x in zip(cmp.seeds, v) if x == 0]
        out += textwrap.wrap(f"seeds disagree: [{i}] {label}: none with seed"
                             f"{'s' if len(none) > 1 else ''} {','.join(map(str, none))}, up to "
                             f"{compact(max(v))} with the others", width, subsequent_indent="  ")
    return "\n".join(line.rstrip() for line in out) + "\n"


def _headline_row(label: str, key: str, vals: list, n: int) -> list[str]:
    """The two lines of one headline row: means with change, then per-seed
    values (n <= 3) or the interval."""
    counter = not label.startswith("stall ms")
    means = [float(np.mean(v)) for v in vals]
    cis = [bootstrap_ci(v) for v in vals]
    cells = []
    for j, (m, ci) in enumerate(zip(means, cis)):
        if j == 0:
            cells.append(f"{_value_text(m, counter):>{_CELL_W - 1}} ")
            continue
        sig = n > 1 and (ci[0] > cis[0][1] or ci[1] < cis[0][0])
        cells.append(f"{_value_text(m, counter):>9} {change_text(means[0], m):>6}{'*' if sig else ' '}")
    lines = [f"{label:<{_LABEL_W}}" + "".join(f"{c:>{_CELL_W}}" for c in cells)]
    if n > 1 and any(len(set(v)) > 1 for v in vals):
        sub = ["/".join(compact(x) for x in v) if n <= 3 else f"{compact(lo)}-{compact(hi)}"
               for v, (lo, hi) in zip(vals, cis)]
        lines.append(" " * _LABEL_W + "".join(f"{s:>{_CELL_W - 1}} " for s in sub))
    return lines


#: the pairs of the changelog's bpftrace tables (requested type, fallback type)
_PAIRS = [(a, b) for a in (C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE)
          for b in (C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE) if a != b]
#: The defrag_mode changelog (e3aa7df331bc, kernel build with THP bursts, 15
#: runs): vanilla and defrag_mode=1 (shared/spec/page-alloc.md section 10)
CHANGELOG_EXTFRAG = {
    "@claimer[unmovable]": (189, 103), "@claimer[movable]": (92, 103),
    "@claimer[reclaimable]": (207, 61),
    "@pollute[unmovable from movable]": (25, 0), "@pollute[unmovable from reclaimable]": (28, 0),
    "@pollute[movable from unmovable]": (38835, 0), "@pollute[movable from reclaimable]": (147136, 0),
    "@pollute[reclaimable from unmovable]": (178, 0), "@pollute[reclaimable from movable]": (33, 0),
    "@steal[unmovable from movable]": (11, 0), "@steal[unmovable from reclaimable]": (5, 0),
    "@steal[movable from unmovable]": (130, 0), "@steal[movable from reclaimable]": (354, 0),
    "@steal[reclaimable from unmovable]": (107, 0), "@steal[reclaimable from movable]": (90, 0),
}


def fallback_counts(result) -> dict:
    """One run's ``mm_page_alloc_extfrag`` events in the form of the
    defrag_mode changelog's bpftrace maps: ``@claimer[T]`` = events that
    changed the block's ownership (change_ownership=1) by requested type;
    ``@pollute[X from Y]`` = events that left the block foreign and took less
    than a block (change_ownership=0, fallback_order < pageblock_order);
    ``@steal[X from Y]`` = the other events that left it foreign
    (change_ownership=0, a whole block or more).  The changelog's script was
    not published: the split is the spec's best reading (section 3.10), so
    the model's numbers are approximate."""
    ef = result.extfrag
    names = C.MIGRATETYPE_KEYS
    out = {f"@claimer[{names[t]}]": 0 for t in (0, 1, 2)}
    out.update({f"@{k}[{names[a]} from {names[b]}]": 0 for k in ("pollute", "steal")
                for a, b in _PAIRS})
    if len(ef):
        co = ef["change_ownership"].to_numpy() != 0
        frag = ef["fallback_order"].to_numpy() < result.pageblock_order
        a, b = ef["alloc_migratetype"].to_numpy(), ef["fallback_migratetype"].to_numpy()
        for i in range(len(ef)):
            key = (f"@claimer[{names[a[i]]}]" if co[i] else
                   f"@{'pollute' if frag[i] else 'steal'}[{names[a[i]]} from {names[b[i]]}]")
            out[key] = out.get(key, 0) + 1
    return out


def _fallback_columns(results) -> dict:
    """label -> [Result per seed] of a Result, a list, a dict or a Comparison."""
    if hasattr(results, "results"):
        results = results.results
    if isinstance(results, dict):
        return {lab: (rs if isinstance(rs, (list, tuple)) else [rs]) for lab, rs in results.items()}
    if isinstance(results, (list, tuple)):
        return {"model": list(results)}
    return {"model": [results]}


def fallback_table(results, *, changelog: bool = True) -> str:
    """The fallback table in the changelog's own form (:func:`fallback_counts`),
    means per run over the seeds, one column per configuration (``results``:
    a Result, a list of seeds' Results, a dict label -> Result(s), or a
    Comparison), beside the changelog's vanilla and defrag_mode=1 numbers
    (``changelog``; a kernel build with THP bursts, 15 runs: set the
    model's table beside it for the direction, not the size)."""
    cols = _fallback_columns(results)
    means = {lab: _mean_counts([fallback_counts(r) for r in rs]) for lab, rs in cols.items()}
    keys = list(dict.fromkeys(k for m in means.values() for k in m))
    heads = [f"[{i}]" if len(cols) > 1 else "model" for i in range(len(cols))]
    if changelog:
        heads += ["vanilla", "dm=1"]
    w0 = max(len(k) for k in keys) + 1
    out = ["mm_page_alloc_extfrag as the defrag_mode changelog's bpftrace maps (model: means",
           "per run; claimer = change_ownership, pollute = less than a block left foreign, steal =",
           "a block or more left foreign: approximate, the script was not published)"]
    if len(cols) > 1:
        out += [f"  [{i}] {lab}" for i, lab in enumerate(cols)]
    if changelog:
        out.append("  vanilla, dm=1: the changelog's kernel build + THP bursts (e3aa7df331bc)")
    out.append(" " * w0 + "".join(f"{h:>9}" for h in heads))
    for k in keys:
        cells = [compact(means[lab].get(k, 0)) for lab in cols]
        if changelog:
            ref = CHANGELOG_EXTFRAG.get(k)
            cells += [compact(v) for v in ref] if ref else ["-", "-"]
        out.append(f"{k:<{w0}}" + "".join(f"{c:>9}" for c in cells))
    return "\n".join(out) + "\n"


def _mean_counts(per_seed: list) -> dict:
    keys = list(dict.fromkeys(k for m in per_seed for k in m))
    return {k: sum(m.get(k, 0) for m in per_seed) / len(per_seed) for k in keys}


def remains_sentence(cmp, before: str, after: str, *, width: int = 80) -> str:
    """One sentence, computed from the means of a Comparison, on what is left
    after the series (configuration ``after``) against defrag_mode=1 without
    it (``before``): direct reclaim and retries by non-movable requests, and
    kswapd's reclaim, which defrag_mode's whole-block target (kswapd stays
    awake until free pageblocks meet the high watermark) keeps going."""
    m = cmp.means("all")
    b, a = m[before], m[after]

    def val(d, k):
        return float(d.get(k, 0))
    dr = ("  direct reclaim, non-movable requests", "direct reclaim by non-movable requests")
    rr = ("  reclaim retries, non-movable requests", "their reclaim retries")
    parts = []
    for key, what in (dr, rr):
        x0, x1 = val(b, key), val(a, key)
        parts.append(f"{what} {compact(x0)} -> {compact(x1)}"
                     + ("" if x0 == x1 or x0 == 0 else f" ({change_text(x0, x1)})"))
    k0, k1 = val(b, "vmstat pgsteal_kswapd"), val(a, "vmstat pgsteal_kswapd")
    s1 = val(a, "  pswpout")
    if k1 > 0:
        than = "as many as before" if k0 == k1 else f"{change_text(k0, k1)} against {compact(k0)}"
        tail = (f"kswapd still reclaims {compact(k1)} pages ({than}) and {compact(s1)} pages are "
                "swapped out, because defrag_mode's whole-block target keeps kswapd reclaiming "
                "until enough whole pageblocks are free")
    else:
        tail = "kswapd reclaims nothing either: this run never pressed the whole-block target"
    text = f"After the series ({after} against {before}): " + ", ".join(parts) + "; " + tail + "."
    return "\n".join(textwrap.wrap(text, width)) + "\n"
