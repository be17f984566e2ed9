"""Plain-text tables for a mail body (mmtests compare-kernels style)."""
from __future__ import annotations


def _rows(result) -> list[tuple[str, float]]:
    rows = []
    for k, v in result.vmstat.items():
        rows.append((k, v))
    ex = result.extfrag_summary()
    rows.append(("extfrag events", ex["events"]))
    rows.append(("extfrag change_ownership", ex["change_ownership"]))
    rows.append(("extfrag fragmenting", ex["fragmenting"]))
    for pair, n in sorted(ex["pairs"].items()):
        rows.append((f"extfrag {pair}", n))
    for zone, counts in result.block_counts.items():
        for t, n in counts.items():
            if t in ("isolate",):
                continue
            rows.append((f"blocks {zone} {t}", n))
    df = result.pageblocks()
    rows.append(("mixed blocks", int(df["mixed"].sum())))
    rows.append(("foreign pages in blocks", int(df["foreign"].sum())))
    for k, v in result.diagnostics.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                rows.append((f"{k} {kk}", vv))
        else:
            rows.append((k, v))
    return rows


def comparison_table(results: dict, *, title: str = "") -> str:
    """Columns = configurations (label -> Result), rows = counters; the change
    relative to the first column is shown in percent."""
    labels = list(results)
    per = {lab: dict(_rows(r)) for lab, r in results.items()}
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
