"""Figures.  Every function takes a :class:`~defragsim.sim.Result` and an
optional matplotlib ``ax`` and returns the axes it drew on.

One style across the package: a colour-blind-safe migratetype palette (Okabe-Ito),
labelled axes with units, and titles naming scenario, memory and configuration.
"""
from __future__ import annotations

import numpy as np

from . import constants as C
from .workloads.snapshot import load_pbmap

#: Okabe-Ito colours, chosen so the three main types stay distinct for the
#: common colour-vision deficiencies.
MIGRATETYPE_COLORS = {
    C.MIGRATE_UNMOVABLE: "#D55E00",    # vermillion
    C.MIGRATE_MOVABLE: "#0072B2",      # blue
    C.MIGRATE_RECLAIMABLE: "#009E73",  # bluish green
    C.MIGRATE_HIGHATOMIC: "#CC79A7",   # reddish purple
    C.MIGRATE_CMA: "#F0E442",          # yellow
    C.MIGRATE_ISOLATE: "#000000",
}


def _plt():
    import matplotlib.pyplot as plt
    return plt


def title_for(result, what: str) -> str:
    return f"{what}: {result.scenario}, {result.config.label()}"


def _grid_shape(nblocks: int) -> tuple[int, int]:
    cols = int(np.ceil(np.sqrt(nblocks * 2)))
    cols = max(8, min(cols, 128))
    rows = int(np.ceil(nblocks / cols))
    return rows, cols


def pageblock_image(result, snapshot: int = -1, *, shade_free: bool = True):
    """RGB image (rows, cols, 3) of the pageblock map: one cell per block,
    colour = migratetype, lighter = more free pages (free fraction shading)."""
    from matplotlib.colors import to_rgb
    snap = result.snapshots[snapshot]
    mt = snap.migratetype
    nb = mt.shape[0]
    rows, cols = _grid_shape(nb)
    img = np.ones((rows * cols, 3))
    pal = np.array([to_rgb(MIGRATETYPE_COLORS[m]) for m in range(C.MIGRATE_TYPES)])
    colors = pal[mt]
    if shade_free:
        free = snap.counts[:, 0].astype(float) / (1 << result.pageblock_order)
        # blend toward white: a wholly free block is drawn at 25% saturation
        colors = colors + (1.0 - colors) * (0.75 * free)[:, None]
    img[:nb] = colors
    return img.reshape(rows, cols, 3), (rows, cols)


def plot_pageblock_map(result, ax=None, *, snapshot: int = -1, legend: bool = True,
                       shade_free: bool = True, title: str | None = None):
    """The pageblock-type map: one cell per pageblock in pfn order (row-major),
    colour = migratetype, lighter shading = larger free fraction.  A dashed
    line marks the DMA32/Normal boundary."""
    plt = _plt()
    from matplotlib.patches import Patch
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    img, (rows, cols) = pageblock_image(result, snapshot, shade_free=shade_free)
    ax.imshow(img, interpolation="nearest", aspect="auto")
    boundary = result.zone_spans[0][1] >> result.pageblock_order
    if 0 < boundary < rows * cols:
        r, c = divmod(boundary, cols)
        ax.plot([c - 0.5, cols - 0.5], [r - 0.5, r - 0.5], color="k", lw=1, ls="--")
        ax.plot([-0.5, c - 0.5], [r + 0.5, r + 0.5], color="k", lw=1, ls="--")
        ax.plot([c - 0.5, c - 0.5], [r - 0.5, r + 0.5], color="k", lw=1, ls="--")
    ax.set_xlabel(f"pageblock (pfn / {1 << result.pageblock_order}) mod {cols}")
    ax.set_ylabel(f"row ({cols} pageblocks = {cols * (1 << result.pageblock_order) * 4 // 1024} MiB)")
    t = result.snapshots[snapshot].t
    ax.set_title(title or title_for(result, f"pageblocks at t={t:.1f} s"), fontsize=9)
    if legend:
        present = sorted(set(np.unique(result.snapshots[snapshot].migratetype).tolist())
                         | {C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE})
        handles = [Patch(color=MIGRATETYPE_COLORS[m], label=C.MIGRATETYPE_NAMES[m]) for m in present]
        if shade_free:
            handles.append(Patch(facecolor="#e8e8e8", edgecolor="#999999", label="lighter = more free"))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4,
                  fontsize=7, frameon=False)
    return ax


def plot_blocks_over_time(result, ax=None):
    """Pageblocks per migratetype over time (stacked), in blocks."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ts = result.timeseries
    cols = [("blocks_unmovable", C.MIGRATE_UNMOVABLE), ("blocks_reclaimable", C.MIGRATE_RECLAIMABLE),
            ("blocks_highatomic", C.MIGRATE_HIGHATOMIC), ("blocks_movable", C.MIGRATE_MOVABLE)]
    ax.stackplot(ts.index.to_numpy(), *[ts[c].to_numpy() for c, _ in cols],
                 colors=[MIGRATETYPE_COLORS[m] for _, m in cols],
                 labels=[C.MIGRATETYPE_NAMES[m] for _, m in cols])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("pageblocks")
    ax.set_title(title_for(result, "pageblock types"), fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    return ax


def plot_extfrag(result, ax=None, *, bin_s: float | None = None):
    """mm_page_alloc_extfrag events over time by fallback pair (alloc <- fallback),
    as events per bin; solid = claims of whole blocks or half blocks
    (change_ownership=1), dotted = steals."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ef = result.extfrag
    dur = max(result.duration_s, 1e-9)
    bin_s = bin_s or dur / 50
    edges = np.arange(0.0, dur + bin_s, bin_s)
    if len(ef):
        for (a, b, co), g in ef.groupby(["alloc_migratetype", "fallback_migratetype", "change_ownership"]):
            h, _ = np.histogram(g["t"].to_numpy(), bins=edges)
            ax.step(edges[:-1], h, where="post", color=MIGRATETYPE_COLORS[a],
                    ls="-" if co else ":",
                    label=f"{C.MIGRATETYPE_NAMES[a]} from {C.MIGRATETYPE_NAMES[b]}"
                          f" ({'claim' if co else 'steal'}, {len(g)})")
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no extfrag events", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlim(0, dur)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"events per {bin_s:.2g} s")
    ax.set_title(title_for(result, "mm_page_alloc_extfrag"), fontsize=9)
    return ax


def plot_free_memory(result, ax=None):
    """Free memory (MiB): all free pages and free pages in whole free pageblocks,
    with the Normal zone's min/low/high watermarks."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ts = result.timeseries
    mib = C.PAGE_SIZE / (1 << 20)
    t = ts.index.to_numpy()
    ax.plot(t, ts["nr_free_pages"] * mib, label="nr_free_pages", color="#0072B2")
    ax.plot(t, ts["nr_free_pages_blocks"] * mib, label="nr_free_pages_blocks", color="#E69F00")
    wm = result.watermarks.sum(axis=0)
    for i, name in ((C.WMARK_MIN, "min"), (C.WMARK_LOW, "low"), (C.WMARK_HIGH, "high")):
        ax.axhline(wm[i] * mib, color="#999999", lw=0.8, ls="--")
        ax.text(t[-1] if len(t) else 0, wm[i] * mib, f" {name}", fontsize=7, va="center")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MiB")
    ax.set_title(title_for(result, "free memory"), fontsize=9)
    ax.legend(fontsize=7)
    return ax


def save_figure(fig, path_stem, *, formats=("png", "svg"), dpi: int = 120) -> list:
    """Write ``fig`` as PNG and SVG (sizes fit to link from a mail)."""
    from pathlib import Path
    out = []
    for fmt in formats:
        p = Path(f"{path_stem}.{fmt}")
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
        out.append(str(p))
    return out


def _rate(ts, col):
    t = ts.index.to_numpy()
    v = ts[col].to_numpy()
    if len(t) < 2:
        return t, np.zeros_like(v)
    dt = np.diff(t)
    dt[dt <= 0] = np.nan
    return t[1:], np.diff(v) / dt


def _per_type_rates(ts, prefix):
    """(migratetype, t, rate, final total) of the ``<prefix>_<type>`` columns."""
    for mt in (C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE):
        col = f"{prefix}_{C.MIGRATETYPE_KEYS[mt]}"
        t, r = _rate(ts, col)
        yield mt, t, r, ts[col].iloc[-1]


def plot_swap(result, ax=None):
    """Swap activity: pswpout and pswpin in MiB/s over time."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ts = result.timeseries
    mib = C.PAGE_SIZE / (1 << 20)
    for col, color in (("pswpout", "#D55E00"), ("pswpin", "#0072B2")):
        t, r = _rate(ts, col)
        ax.plot(t, r * mib, label=f"{col} ({int(ts[col].iloc[-1]):,} pages)", color=color)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MiB/s")
    ax.set_title(title_for(result, "swap activity"), fontsize=9)
    ax.legend(fontsize=7)
    return ax


def plot_stall(result, ax=None):
    """Memory stall: the share of wall time allocating tasks spent stalled in
    the allocator or on refault IO (PSI-like "some", %), by request type."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ts = result.timeseries
    for mt, t, r, _ in _per_type_rates(ts, "stall_ns"):
        ax.plot(t, 100.0 * r / 1e9, color=MIGRATETYPE_COLORS[mt],
                label=f"{C.MIGRATETYPE_NAMES[mt]} requests")
    t, r = _rate(ts, "psi_some_ns")
    ax.plot(t, np.minimum(100.0 * r / 1e9, 100.0), color="#000000", ls="--", lw=0.8,
            label="all (incl. kswapd), capped at 100")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("stall (% of wall time)")
    ax.set_title(title_for(result, "memory stall"), fontsize=9)
    ax.legend(fontsize=7)
    return ax


def _pct(p: float) -> str:
    """A percentage for a legend: 100%, 99.6%, 2.1%, 0.0092%."""
    return f"{p:.1f}%" if p >= 10 else f"{p:.2g}%"


def plot_latency(result, ax=None, *, baseline=None):
    """Allocation latency: the fraction of requests whose stall in the
    allocator (the slowpath: direct reclaim, compaction, retries) was longer
    than x, by request type, on log axes (power-of-two buckets of
    ``result.latency_hist``; refault IO is in the stall plot, not here).
    Dashed: a baseline result, if given."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    drawn = False
    for r, ls, tag in ((result, "-", ""), (baseline, "--", " (baseline)")):
        if r is None:
            continue
        h = r.latency_hist
        for mt in (C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE):
            tot = h[mt].sum()
            if tot == 0 or h[mt, 1:].sum() == 0:
                continue
            # bucket b >= 1 holds stalls in [2^(b-1), 2^b) ns: P(stall >= 2^(b-1))
            lo = 2.0 ** (np.arange(1, h.shape[1]) - 1)
            ccdf = h[mt, ::-1].cumsum()[::-1][1:] / tot
            keep = ccdf > 0
            # one more point at the top edge of the last occupied bucket (2^b)
            x = np.append(lo[keep], 2 * lo[keep][-1])
            y = np.append(ccdf[keep], ccdf[keep][-1])
            ax.step(x / 1e3, y, where="post", ls=ls, color=MIGRATETYPE_COLORS[mt],
                    label=f"{C.MIGRATETYPE_NAMES[mt]}{tag}: {_pct(100 * ccdf[0])} of "
                          f"{int(tot):,} stalled")
            drawn = True
    if drawn:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            # plain "0.01" labels at 1, 2, 5 x 10^k (so a curve within one
            # decade still gets labels), no minor ticks: a third of the drawing
            # time of mathtext powers of ten (the explorer redraws on every run)
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=12))
            axis.set_minor_locator(NullLocator())
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no request stalled", ha="center", va="center", transform=ax.transAxes,
                fontsize=8)
    ax.set_xlabel("stall longer than (µs)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(title_for(result, "allocation latency"), fontsize=9)
    return ax


def plot_reclaim_retries(result, ax=None):
    """Slowpath reclaim retries per second by the request's migratetype."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ts = result.timeseries
    for mt, t, r, total in _per_type_rates(ts, "reclaim_retries"):
        ax.plot(t, r, color=MIGRATETYPE_COLORS[mt], label=f"{C.MIGRATETYPE_NAMES[mt]} ({int(total):,})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("retries / s")
    ax.set_title(title_for(result, "should_reclaim_retry() retries"), fontsize=9)
    ax.legend(fontsize=7)
    return ax


# --- content maps: what pages hold, per pageblock (machine vs model) ---------------

#: content classes of a content map, in drawing priority, with Okabe-Ito colours
CONTENT_CLASSES = ["free", "file", "anon", "slab", "pagetable", "reserved", "other"]
CONTENT_COLORS = {"free": "#FFFFFF", "file": "#56B4E9", "anon": "#0072B2", "slab": "#D55E00",
                  "pagetable": "#CC79A7", "reserved": "#000000", "other": "#999999"}


def model_content_map(result, snapshot: int = -1):
    """The model's per-pageblock content in the classes of :func:`load_pbmap`."""
    import pandas as pd
    df = result.pageblocks(snapshot)
    return pd.DataFrame({
        "zone": df["zone"], "start_pfn": df["pfn"], "free": df["free"] + df["pcp"],
        "file": df["file"], "anon": df["anon"],
        "slab": df["slab_reclaimable"] + df["slab_unreclaimable"] + df["kernel"],
        "pagetable": df["pagetable"], "reserved": 0, "other": 0})


def plot_content_map(cmap, ax=None, *, title: str = "", legend: bool = True):
    """One cell per pageblock (row-major, pfn order): colour = the content with
    the most pages in the block (white = mostly free)."""
    plt = _plt()
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5))
    counts = cmap[CONTENT_CLASSES].to_numpy()
    dom = counts.argmax(axis=1)
    pal = np.array([to_rgb(CONTENT_COLORS[c]) for c in CONTENT_CLASSES])
    nb = len(dom)
    rows, cols = _grid_shape(nb)
    img = np.full((rows * cols, 3), 0.85)
    img[:nb] = pal[dom]
    ax.imshow(img.reshape(rows, cols, 3), interpolation="nearest", aspect="auto")
    ax.set_xlabel(f"pageblock mod {cols}")
    ax.set_ylabel("row")
    ax.set_title(title, fontsize=9)
    if legend:
        handles = [Patch(facecolor=CONTENT_COLORS[c], edgecolor="#999999", label=c)
                   for c in CONTENT_CLASSES]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4,
                  fontsize=7, frameon=False)
    return ax


def plot_machine_vs_model(pbmap_path, result, axes=None, *, snapshot: int = 0):
    """A real machine's pageblock content map (a kpageflags snapshot) beside
    the model's at ``snapshot`` (default: the start of a replay)."""
    plt = _plt()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(12, 5))
    real = load_pbmap(pbmap_path)
    plot_content_map(real, axes[0], title=f"machine: {pbmap_path.name if hasattr(pbmap_path, 'name') else pbmap_path} "
                     f"({len(real):,} pageblocks)")
    model = model_content_map(result, snapshot)
    t = result.snapshots[snapshot].t
    plot_content_map(model, axes[1], title=title_for(result, f"model at t={t:.1f} s "
                                                       f"({len(model):,} pageblocks)"))
    return axes
