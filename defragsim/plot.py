"""Figures: all the package's plotting.  Every ``plot_*`` function takes a
:class:`~defragsim.sim.Result` (or a frame) and an optional matplotlib ``ax``
and returns the axes it drew on (a new figure's when ``ax`` is None, see
:func:`_ax`).

Drawing a Result again on the same axes updates them in place: each function
names its artists (``gid``), so a second call moves the lines' data
(``set_data``), the image's pixels (``set_data``) and the title's text, draws
the lines the new result has and the old one had not, removes the others and
rescales (stacked areas, which cannot move, are replaced).  The patch
explorer builds its figures once (:func:`new_figure`), calls these same
functions on every rerun and slider move, and renders with
:func:`figure_png` / :class:`BlitPNG`.  The summaries of many runs
(:func:`plot_onset`, :func:`plot_sweep`) draw anew.

One style across the package: a colour-blind-safe migratetype palette (Okabe-Ito),
labelled axes with units, and titles naming scenario, memory and configuration.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator
from PIL import Image

from . import constants as C
from .config import DEFAULT_NR_CPUS, format_size
from .analysis.builds import per_build
from .analysis.compare import bootstrap_ci
from .analysis.onset import ONSET_METRICS
from .analysis.validate import NUMBER_COLUMNS, change_factor
from .provenance import __version__, model_hash_short
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
_MIGRATETYPE_RGB = np.array([to_rgb(MIGRATETYPE_COLORS[m]) for m in range(C.MIGRATE_TYPES)])
#: the request types of the per-type time series
_REQUEST_TYPES = (C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE)
#: line colours of summary figures (one per configuration)
_SERIES_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
_MIB = C.PAGE_SIZE / (1 << 20)


# --- figures and axes ---------------------------------------------------------------

def _ax(ax=None, figsize=(6, 3), *, ncols: int = 1):
    """``ax`` when given, else the axes of a new pyplot figure of ``figsize``
    inches (``ncols`` > 1: a row of that many axes, as an array)."""
    if ax is not None:
        return ax
    _, axes = plt.subplots(1, ncols, figsize=figsize, squeeze=False)
    return axes[0, 0] if ncols == 1 else axes[0]


def new_figure(ncols: int = 1, *, figsize, dpi: int = 72, nrows: int = 1, **adjust):
    """``(fig, axes)``: a figure outside pyplot, for a program that keeps it
    and redraws it (a notebook's inline backend never shows it by itself,
    pyplot never holds on to it).  ``adjust``: subplot parameters (left,
    right, bottom, top, wspace, hspace).  ``axes`` is one Axes, or an array
    of ``ncols`` (``nrows`` > 1: of nrows x ncols, row by row)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=adjust or None)
    axes = axes.ravel() if nrows > 1 else axes[0]
    return fig, (axes[0] if ncols * nrows == 1 else axes)


def figure_png(fig, *, compress_level: int = 1) -> bytes:
    """``fig`` rendered with Agg, as PNG bytes: a fast PNG setting and the
    figure's own bounds (``savefig`` with tight bounding boxes costs twice as
    much; the explorer renders on every run and slider move)."""
    fig.canvas.draw()
    return _encode_png(fig, compress_level)


def _encode_png(fig, compress_level: int) -> bytes:
    """The canvas's pixels as PNG: RGB when the figure is opaque (half the
    encoding time of RGBA)."""
    w, h = fig.canvas.get_width_height(physical=True)
    img = Image.frombuffer("RGBA", (w, h), fig.canvas.buffer_rgba())
    if fig.patch.get_visible() and to_rgba(fig.get_facecolor())[3] == 1.0:
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "png", compress_level=compress_level)
    return buf.getvalue()


class BlitPNG:
    """PNG renders of a kept figure where an update often changes only a few
    artists (a slider move: a map's pixels and title).  :meth:`whole` renders
    everything and keeps the picture without the ``moving`` artists;
    :meth:`moved` draws only those over the kept picture (blitting: the
    ticks, labels and legend are most of the drawing time)."""

    def __init__(self, fig):
        self.fig = fig
        self._background = None
        self._moving = []

    def whole(self, moving=(), *, compress_level: int = 1) -> bytes:
        for a in self._moving:
            a.set_animated(False)
        self._moving = sorted(moving, key=lambda a: a.get_zorder())
        for a in self._moving:
            a.set_animated(True)          # left out of the whole drawing, kept
        self.fig.canvas.draw()
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        return self._finish(compress_level)

    def moved(self, *, compress_level: int = 1) -> bytes:
        """The moving artists' new state over the kept picture (a whole render
        when there is none yet)."""
        if self._background is None:
            return self.whole(self._moving, compress_level=compress_level)
        self.fig.canvas.restore_region(self._background)
        return self._finish(compress_level)

    def _finish(self, compress_level: int) -> bytes:
        for a in self._moving:
            self.fig.draw_artist(a)
        return _encode_png(self.fig, compress_level)


def snapshot_artists(ax, *, title: bool = True) -> list:
    """What a pageblock map's snapshot change redraws on ``ax``: the image,
    what lies over it (zone boundary and its label, the mixed/polluted marks,
    spines) and the title (unless it does not name the time: ``title=False``)."""
    return [*ax.images, *ax.lines, *ax.collections, *ax.texts, *ax.spines.values()] + \
        ([ax.title] if title else [])


def save_figure(fig, path_stem, *, formats=("png", "svg"), dpi: int = 120) -> list:
    """Write ``fig`` as PNG and SVG (sizes fit to link from a mail)."""
    out = []
    for fmt in formats:
        p = Path(f"{path_stem}.{fmt}")
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
        out.append(str(p))
    return out


def patches_text(patches) -> str:
    """``1,2,3,4`` or ``none``: the patch numbers, as the explorer's boxes show
    them (never ``all``: a reader counts the patches in a title)."""
    n = patches.numbers()
    return ",".join(map(str, n)) if n else "none"


def config_text(config) -> str:
    """``512M defrag_mode=1 patches=1,2,3,4``: memory, mode and patches."""
    return (f"{format_size(config.mem)} defrag_mode={config.defrag_mode} "
            f"patches={patches_text(config.patches)}")


def title_for(result, what: str) -> str:
    return f"{what}: {result.scenario}, {config_text(result.config)}"


def kernel_baseline(config) -> str:
    """The kernel tree the model mirrors (``Config.kernel`` when there is one)."""
    return str(getattr(config, "kernel", "mm-2026"))


def scenario_text(result) -> str:
    """``storm, 20 s, growth_scale 1``: the scenario and its parameters."""
    parts = [result.scenario, f"{result.duration_s:g} s"]
    if "growth_scale" in result.meta:
        parts.append(f"growth_scale {result.meta['growth_scale']:g}")
    cfg = result.config
    if cfg.swap is not None:
        parts.append(f"swap {format_size(cfg.swap)}")
    if cfg.thp_defrag != "madvise":
        parts.append(f"thp defrag {cfg.thp_defrag}")
    if cfg.nr_cpus is not None and cfg.nr_cpus != DEFAULT_NR_CPUS:
        parts.append(f"{cfg.nr_cpus} CPUs")
    return ", ".join(parts)


def caption_text(result, *, seeds=None, seed=None, by: str = "pswpout") -> str:
    """One line that ties a figure to what drew it: scenario and parameters,
    memory, kernel baseline, seeds (``seed S, the median of N seeds by X``
    when one seed stands for several), the defragsim version and the model
    hash."""
    cfg = result.config
    seed = cfg.seed if seed is None else seed
    if seeds is not None and len(seeds) > 1:
        who = (f"seed {seed}, the median of {len(seeds)} seeds "
               f"({','.join(map(str, seeds))}) by {by}")
    else:
        who = f"seed {seed}"
    return (f"{scenario_text(result)} | {format_size(cfg.mem)} | kernel {kernel_baseline(cfg)} | "
            f"{who} | defragsim {__version__}, model {model_hash_short()}")


def provenance_caption(what: str, *, seeds=(), mem: str | None = None,
                       kernel: str = "mm-2026") -> str:
    """A caption line for a figure of many runs (a sweep, the onset): what
    was run, memory, kernel baseline, seeds, version and model hash."""
    parts = [what] + ([mem] if mem else []) + [f"kernel {kernel}"]
    if len(seeds):
        parts.append(f"seeds {','.join(map(str, seeds))}")
    return " | ".join(parts + [f"defragsim {__version__}, model {model_hash_short()}"])


def add_caption(fig, text: str, *, fontsize: float = 7):
    """The caption line under ``fig`` (kept when drawn again: its text is set)."""
    for t in fig.texts:
        if t.get_gid() == "caption":
            t.set_text(text)
            return t
    return fig.text(0.005, 0.002, text, fontsize=fontsize, ha="left", va="bottom",
                    color="#444444", gid="caption")


# --- named artists: drawn once, then updated in place ------------------------------

def _named(ax, gid):
    for a in (*ax.lines, *ax.images, *ax.texts, *ax.collections):
        if a.get_gid() == gid:
            return a
    return None


def _line(ax, gid, x, y, **style):
    """The line ``gid`` of ``ax`` showing (x, y): the one drawn before, with
    its data and style set in place, or a new one."""
    line = _named(ax, gid)
    if line is None:
        (line,) = ax.plot(x, y, gid=gid, **style)
    else:
        line.set_data(x, y)
        line.set(**style)
    return line


def _hline(ax, gid, y, **style):
    """A horizontal line across ``ax`` at ``y`` (drawn once, then moved)."""
    line = _named(ax, gid)
    if line is None:
        return ax.axhline(y, gid=gid, **style)
    line.set_ydata([y, y])
    line.set(**style)
    return line


def _text(ax, gid, x, y, s, **props):
    text = _named(ax, gid)
    if text is None:
        return ax.text(x, y, s, gid=gid, **props)
    text.set_position((x, y))
    text.set_text(s)
    text.set(**props)
    return text


def _image(ax, gid, img):
    """The image ``gid`` of ``ax`` (pixels set in place when it exists),
    filling the axes: one cell per pixel, row 0 on top."""
    im = _named(ax, gid)
    rows, cols = img.shape[:2]
    extent = (-0.5, cols - 0.5, rows - 0.5, -0.5)
    if im is None:
        im = ax.imshow(img, interpolation="nearest", aspect="auto", gid=gid)
    else:
        im.set_data(img)
        im.set_extent(extent)
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    return im


def _keep(ax, prefix: str, artists) -> None:
    """Remove the artists of ``ax`` named ``prefix...`` that are not in
    ``artists`` (what the previous result had and this one has not)."""
    keep = {id(a) for a in artists}
    for a in [*ax.lines, *ax.texts, *ax.collections]:
        gid = a.get_gid()
        if gid and gid.startswith(prefix) and id(a) not in keep:
            a.remove()


def _scatter(ax, gid, x, y, **style):
    """The marker collection ``gid`` of ``ax`` at (x, y), moved in place."""
    pts = np.column_stack([np.asarray(x, float), np.asarray(y, float)]).reshape(-1, 2)
    sc = _named(ax, gid)
    if sc is None:
        sc = ax.scatter(pts[:, 0], pts[:, 1], gid=gid, **style)
    else:
        sc.set_offsets(pts)
        sc.set_label(style.get("label", sc.get_label()))
    return sc


def _all_zero(ax) -> bool:
    """True when every line of ``ax`` is zero (or empty) and it has no areas
    or markers: nothing to show."""
    if ax.collections:
        return False
    ys = [np.asarray(ln.get_ydata(), float) for ln in ax.lines if ln.get_gid()
          and not ln.get_gid().startswith("none")]
    ys = [y[np.isfinite(y)] for y in ys]
    return all(len(y) == 0 or not np.any(y) for y in ys)


def _rescale(ax) -> None:
    """Fit the limits to the data; a panel whose lines are all zero is drawn
    from 0 with "none" in it (not around 0 from -0.04 to 0.04)."""
    ax.set_autoscaley_on(True)         # a limit set by the last draw stops autoscaling
    ax.relim()
    ax.autoscale_view()
    linear = ax.get_yscale() == "linear"
    zero = linear and _all_zero(ax)
    note = [_text(ax, "none:note", 0.5, 0.5, "none", ha="center", va="center",
                  transform=ax.transAxes, fontsize=9, color="#777777")] if zero else []
    _keep(ax, "none:", note)
    if zero:
        ax.set_ylim(0, 1)
    elif linear and _data_min(ax) >= 0:
        ax.set_ylim(bottom=0)          # counts and rates: from 0, no margin below


def _data_min(ax) -> float:
    """The lowest finite y value of the lines of ``ax`` (0 without any)."""
    ys = [np.asarray(ln.get_ydata(), float) for ln in ax.lines]
    ys = np.concatenate([y[np.isfinite(y)] for y in ys]) if ys else np.zeros(0)
    return float(ys.min()) if len(ys) else 0.0


def share_y(axes) -> None:
    """One y range for panels that compare configurations (each axes' data
    from 0, or from its lowest value, to the highest of them all); all-zero
    panels stay at 0 with "none"."""
    axes = [ax for ax in np.ravel(axes) if ax.get_visible()]
    lims = [ax.get_ylim() for ax in axes if not _all_zero(ax)]
    if not lims:
        return
    lo, hi = min(min(lim) for lim in lims), max(max(lim) for lim in lims)
    if all(_data_min(ax) >= 0 for ax in axes):
        lo = 0.0
    for ax in axes:
        ax.set_ylim(lo, hi)


def _legend(ax, handles, **kw) -> None:
    """A legend of ``handles`` (in that order), or none when there is none."""
    if handles:
        ax.legend(handles=handles, **kw)
    elif ax.get_legend() is not None:
        ax.get_legend().remove()


def _legend_outside(ax, handles, **kw) -> None:
    """The legend right of the axes (it hides no data)."""
    _legend(ax, handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
            fontsize=7, frameon=False, **kw)


def _legend_below(ax, handles, *, ncol: int = 4) -> None:
    """The legend under a map; kept when its entries are the same (a slider
    move usually changes the pixels, not the types present)."""
    old = ax.get_legend()
    if old is not None and [t.get_text() for t in old.get_texts()] == \
            [h.get_label() for h in handles]:
        return
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=ncol,
              fontsize=7, frameon=False)


def _labels(ax, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)


# --- pageblock maps ------------------------------------------------------------------

def _grid_shape(nblocks: int) -> tuple[int, int]:
    """(rows, cols) of a map: a power-of-two number of columns (a row starts at
    a round pfn), about twice as many columns as rows."""
    cols = 1 << int(np.ceil(np.log2(max(np.sqrt(nblocks * 2), 1))))
    cols = max(8, min(cols, 128))
    rows = int(np.ceil(nblocks / cols))
    return rows, cols


def pageblock_image(result, snapshot: int = -1, *, shade_free: bool = True):
    """RGB image (rows, cols, 3) of the pageblock map: one cell per block,
    colour = migratetype, lighter = more free pages (free fraction shading)."""
    snap = result.snapshots[snapshot]
    mt = snap.migratetype
    nb = mt.shape[0]
    rows, cols = _grid_shape(nb)
    img = np.ones((rows * cols, 3))
    colors = _MIGRATETYPE_RGB[mt]
    if shade_free:
        free = snap.counts[:, 0].astype(float) / (1 << result.pageblock_order)
        # blend toward white: a wholly free block is drawn at 25% saturation
        colors = colors + (1.0 - colors) * (0.75 * free)[:, None]
    img[:nb] = colors
    return img.reshape(rows, cols, 3), (rows, cols)


def _zone_boundary(ax, result, rows: int, cols: int) -> list:
    """The dashed DMA32/Normal boundary of a pageblock map, labelled."""
    boundary = result.zone_spans[0][1] >> result.pageblock_order
    drawn = []
    if 0 < boundary < rows * cols:
        r, c = divmod(boundary, cols)
        segments = (([c - 0.5, cols - 0.5], [r - 0.5, r - 0.5]),
                    ([-0.5, c - 0.5], [r + 0.5, r + 0.5]),
                    ([c - 0.5, c - 0.5], [r - 0.5, r + 0.5]))
        drawn = [_line(ax, f"pageblocks:zone{i}", x, y, color="k", lw=1, ls="--")
                 for i, (x, y) in enumerate(segments)]
        names = result.zone_names
        drawn.append(_text(ax, "pageblocks:zonelabel", cols - 0.5, r - 0.5,
                           f"{names[0]} \u2191 | {names[1]} \u2193 (pfn {result.zone_spans[1][0]:#x})",
                           ha="right", va="bottom", fontsize=7,
                           bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.8)))
    _keep(ax, "pageblocks:zone", drawn)
    return drawn


def _with_mark_counts(title: str, marks) -> str:
    """``title`` with the numbers of mixed and polluted blocks at the end of
    its first line."""
    n = {m.get_gid().split(":")[1]: len(m.get_offsets()) for m in marks}
    first, sep, rest = title.partition("\n")
    colon = ":" if first.endswith(":") else ""
    first = first[:len(first) - len(colon)]
    return f"{first} ({n.get('mixed', 0)} mixed, {n.get('polluted', 0)} polluted){colon}" + \
        sep + rest


def _map_axes(ax, result, rows: int, cols: int) -> None:
    """Ticks of a map: rows by their first pfn (hex) on the left and their
    offset in GiB on the right; columns by the pfn offset within the row."""
    pb = 1 << result.pageblock_order
    step = max(1, 1 << int(np.ceil(np.log2(max(rows / 8, 1)))))
    ticks = np.arange(0, rows, step)
    ax.set_yticks(ticks - 0.5, [f"{int(t) * cols * pb:#x}" for t in ticks], fontsize=7)
    xt = np.arange(0, cols, max(1, cols // 4))
    ax.set_xticks(xt - 0.5, [f"+{int(c) * pb:#x}" for c in xt], fontsize=7)
    gib_per_row = cols * pb * C.PAGE_SIZE / float(1 << 30)
    sec = getattr(ax, "_defragsim_gib", None)
    if sec is None:
        scale = {"gib_per_row": gib_per_row}
        sec = ax.secondary_yaxis("right", functions=(
            lambda y: (np.asarray(y) + 0.5) * scale["gib_per_row"],
            lambda g: np.asarray(g) / scale["gib_per_row"] - 0.5))
        sec.tick_params(labelsize=7)
        sec.set_ylabel("GiB", fontsize=7)
        ax._defragsim_gib = sec
        ax._defragsim_gib_scale = scale
    ax._defragsim_gib_scale["gib_per_row"] = gib_per_row


def _block_marks(ax, result, snapshot: int, cols: int) -> list:
    """Markers on mixed blocks (most used pages of another mobility than the
    block's type: x) and polluted ones (some such pages: a dot).  Their
    counts go in the title (:func:`_with_mark_counts`), not the legend, so the
    legend stays the same from snapshot to snapshot."""
    df = result.pageblocks(snapshot)
    idx = np.arange(len(df))
    mixed = df["mixed"].to_numpy(bool)
    polluted = (df["foreign"].to_numpy() > 0) & ~mixed
    out = []
    for gid, sel, style in (
            ("pageblocks:mixed", mixed, dict(marker="x", s=14, c="#000000", linewidths=0.8,
                                             label="mixed")),
            ("pageblocks:polluted", polluted, dict(marker=".", s=6, c="#222222", linewidths=0,
                                                   label="polluted"))):
        r, c = np.divmod(idx[sel], cols)
        out.append(_scatter(ax, gid, c, r, **style))
    return out


def plot_pageblock_map(result, ax=None, *, snapshot: int = -1, legend: bool = True,
                       shade_free: bool = True, title: str | None = None, marks: bool = True):
    """The pageblock-type map: one cell per pageblock in pfn order (row-major,
    a power-of-two number of blocks per row; rows labelled by their first pfn
    and their offset in GiB), colour = migratetype, lighter shading = larger
    free fraction; x marks mixed blocks, a dot polluted ones (``marks``).  A
    dashed, labelled line marks the DMA32/Normal boundary."""
    ax = _ax(ax, (6.5, 4.5))
    img, (rows, cols) = pageblock_image(result, snapshot, shade_free=shade_free)
    _image(ax, "pageblocks", img)
    _zone_boundary(ax, result, rows, cols)
    dots = _block_marks(ax, result, snapshot, cols) if marks else []
    _keep(ax, "pageblocks:mixed", dots)
    _keep(ax, "pageblocks:polluted", dots)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    _map_axes(ax, result, rows, cols)
    t = result.snapshots[snapshot].t
    mib = cols * (1 << result.pageblock_order) * C.PAGE_SIZE >> 20
    title = title or title_for(result, f"pageblocks at t={t:.1f} s")
    if marks:
        title = _with_mark_counts(title, dots)
    _labels(ax, f"pfn offset in the row ({cols} pageblocks = {mib} MiB a row)", "first pfn of the row",
            title)
    if legend:
        present = sorted(set(np.unique(result.snapshots[snapshot].migratetype).tolist())
                         | {C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE})
        handles = [Patch(color=MIGRATETYPE_COLORS[m], label=C.MIGRATETYPE_NAMES[m]) for m in present]
        if shade_free:
            handles.append(Patch(facecolor="#e8e8e8", edgecolor="#999999", label="lighter = more free"))
        _legend_below(ax, handles + dots, ncol=4)
    else:
        _legend(ax, [])
    return ax


def plot_pageblock_diff(a, b, ax=None, *, snapshot: int = -1, title: str | None = None):
    """Where two results' pageblock maps differ: the blocks whose type in ``b``
    is not their type in ``a``, coloured by their type in ``b``; the others
    light grey.  Both results must have the same number of blocks."""
    ax = _ax(ax, (6.5, 4.5))
    ma, mb = a.snapshots[snapshot].migratetype, b.snapshots[snapshot].migratetype
    if ma.shape != mb.shape:
        raise ValueError(f"plot_pageblock_diff: {ma.shape[0]} blocks against {mb.shape[0]}: "
                         "compare runs of the same memory size")
    nb = mb.shape[0]
    rows, cols = _grid_shape(nb)
    diff = ma != mb
    img = np.ones((rows * cols, 3))
    img[:nb] = np.where(diff[:, None], _MIGRATETYPE_RGB[mb], 0.9)
    _image(ax, "pbdiff", img.reshape(rows, cols, 3))
    _zone_boundary(ax, b, rows, cols)
    _map_axes(ax, b, rows, cols)
    t = b.snapshots[snapshot].t
    _labels(ax, f"pfn offset in the row ({cols} pageblocks a row)", "first pfn of the row",
            title or f"pageblocks of another type at t={t:.1f} s: {int(diff.sum())} of {nb}\n"
                     f"A: {config_text(a.config)}\nB: {config_text(b.config)}")
    handles = [Patch(color=MIGRATETYPE_COLORS[m],
                     label=f"now {C.MIGRATETYPE_NAMES[m]} ({int((diff & (mb == m)).sum())})")
               for m in sorted(set(mb[diff].tolist()))]
    handles.append(Patch(facecolor="#e6e6e6", edgecolor="#999999", label="same type"))
    _legend_below(ax, handles, ncol=3)
    return ax


# --- time series ---------------------------------------------------------------------

def plot_blocks_over_time(result, ax=None):
    """Pageblocks per migratetype over time (stacked), in blocks."""
    ax = _ax(ax, (6, 3))
    ts = result.timeseries
    cols = [("blocks_unmovable", C.MIGRATE_UNMOVABLE), ("blocks_reclaimable", C.MIGRATE_RECLAIMABLE),
            ("blocks_highatomic", C.MIGRATE_HIGHATOMIC), ("blocks_movable", C.MIGRATE_MOVABLE)]
    _keep(ax, "blocks:", [])            # polygons cannot move: a redraw replaces them
    stack = ax.stackplot(ts.index.to_numpy(), *[ts[c].to_numpy() for c, _ in cols],
                         colors=[MIGRATETYPE_COLORS[m] for _, m in cols],
                         labels=[C.MIGRATETYPE_NAMES[m] for _, m in cols])
    for poly, (c, _) in zip(stack, cols):
        poly.set_gid(f"blocks:{c}")
    _rescale(ax)
    _labels(ax, "time (s)", "pageblocks", title_for(result, "pageblock types"))
    _legend(ax, stack, fontsize=7, loc="lower left")
    return ax


#: one letter per migratetype (the text map's letters)
_TYPE_LETTER = "UMRHCI"
#: markers of the fallback (source) type in the extfrag plot
_FALLBACK_MARKERS = {C.MIGRATE_UNMOVABLE: "o", C.MIGRATE_MOVABLE: "s", C.MIGRATE_RECLAIMABLE: "^",
                     C.MIGRATE_HIGHATOMIC: "D", C.MIGRATE_CMA: "v", C.MIGRATE_ISOLATE: "x"}
#: line styles of the fallback type (with the marker: a pair is told apart in grey too)
_FALLBACK_STYLES = {C.MIGRATE_UNMOVABLE: "-", C.MIGRATE_MOVABLE: "--", C.MIGRATE_RECLAIMABLE: ":",
                    C.MIGRATE_HIGHATOMIC: "-.", C.MIGRATE_CMA: "-", C.MIGRATE_ISOLATE: "-"}


def plot_extfrag(result, ax=None, *, bin_s: float | None = None, baseline=None):
    """mm_page_alloc_extfrag events over time by fallback pair (requested <-
    fallback type), as events per bin: colour = the requested type, line
    style and marker = the fallback type; claims (change_ownership=1) and
    steals are separate lines (legend: "U from M claim: N", U M R H being
    Unmovable, Movable, Reclaimable, HighAtomic, with the event counts).
    The legend is outside the axes.  ``baseline``: its events of all pairs,
    grey dashed."""
    ax = _ax(ax, (7, 3))
    dur = max(result.duration_s, 1e-9)
    bin_s = bin_s or dur / 50
    edges = np.arange(0.0, dur + bin_s, bin_s)
    lines = []
    groups = result.extfrag.groupby(["alloc_migratetype", "fallback_migratetype", "change_ownership"])
    for (a, b, co), g in groups:
        h, _ = np.histogram(g["t"].to_numpy(), bins=edges)
        lines.append(_line(ax, f"extfrag:{a}-{b}-{co}", edges[:-1], h, drawstyle="steps-post",
                           color=MIGRATETYPE_COLORS[a], ls=_FALLBACK_STYLES[b],
                           marker=_FALLBACK_MARKERS[b], ms=4 if co else 3,
                           mfc=MIGRATETYPE_COLORS[a] if co else "white",
                           markevery=max(1, len(h) // 10), lw=1.2 if co else 0.9,
                           label=f"{_TYPE_LETTER[a]} from {_TYPE_LETTER[b]}"
                                 f" {'claim' if co else 'steal'}: {len(g):,}"))
    if baseline is not None:
        h, _ = np.histogram(baseline.extfrag["t"].to_numpy(), bins=edges)
        lines.append(_line(ax, "extfrag:baseline", edges[:-1], h, drawstyle="steps-post",
                           color="#777777", ls="--", lw=0.9, marker="",
                           label=f"all (base): {len(baseline.extfrag):,}"))
    _keep(ax, "extfrag:", lines)
    _rescale(ax)
    if not lines:
        _named(ax, "none:note").set_text("no extfrag events")
    ax.set_xlim(0, dur)
    _labels(ax, "time (s)", f"events per {bin_s:.2g} s", title_for(result, "mm_page_alloc_extfrag"))
    _legend_outside(ax, lines, title="requested from fallback" if lines else None,
                    title_fontsize=7)
    return ax


def plot_free_memory(result, ax=None):
    """Free memory (MiB): all free pages and free pages in whole free pageblocks,
    with the Normal zone's min/low/high watermarks."""
    ax = _ax(ax, (6, 3))
    ts = result.timeseries
    t = ts.index.to_numpy()
    lines = [_line(ax, f"free:{col}", t, ts[col].to_numpy() * _MIB, label=col, color=color)
             for col, color in (("nr_free_pages", "#0072B2"), ("nr_free_pages_blocks", "#E69F00"))]
    wm = result.watermarks.sum(axis=0)
    marks = []
    for i, name in ((C.WMARK_MIN, "min"), (C.WMARK_LOW, "low"), (C.WMARK_HIGH, "high")):
        marks.append(_hline(ax, f"free:wm-{name}", wm[i] * _MIB, color="#999999", lw=0.8, ls="--"))
        marks.append(_text(ax, f"free:wm-{name}-label", t[-1] if len(t) else 0, wm[i] * _MIB,
                           f" {name}", fontsize=7, va="center"))
    _keep(ax, "free:", lines + marks)
    _rescale(ax)
    _labels(ax, "time (s)", "MiB", title_for(result, "free memory"))
    _legend(ax, lines, fontsize=7)
    return ax


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
    for mt in _REQUEST_TYPES:
        col = f"{prefix}_{C.MIGRATETYPE_KEYS[mt]}"
        t, r = _rate(ts, col)
        yield mt, t, r, ts[col].iloc[-1]


def _with_baseline(result, baseline):
    """(result, line style, label tag) of the result and of the baseline, if any."""
    return [(r, ls, tag) for r, ls, tag in ((result, "-", ""), (baseline, "--", " (base)"))
            if r is not None]


#: reclaim and swap series of plot_swap: column, colour, label
_RECLAIM_SERIES = (("pgsteal_kswapd", "#0072B2", "kswapd"),
                   ("pgsteal_direct", "#D55E00", "direct"),
                   ("pswpout", "#000000", "pswpout"),
                   ("pswpin", "#999999", "pswpin"))


def plot_swap(result, ax=None, *, baseline=None):
    """Reclaim and swap in MiB/s over time, split by who reclaims: kswapd
    (pgsteal_kswapd) and direct reclaim in the allocating task
    (pgsteal_direct), with swap-out and swap-in (the series removes the
    direct reclaim of the storm; kswapd keeps reclaiming).  Legend counts are
    pages ("kswapd" is pgsteal_kswapd, "direct" pgsteal_direct); ``baseline``:
    dashed."""
    ax = _ax(ax, (7, 3))
    lines = []
    for r, ls, tag in _with_baseline(result, baseline):
        ts = r.timeseries
        for col, color, label in _RECLAIM_SERIES:
            t, v = _rate(ts, col)
            front = col == "pgsteal_direct"           # on top: the series' effect
            lines.append(_line(ax, f"swap:{col}{tag}", t, v * _MIB, color=color, ls=ls,
                               lw=0.9 if tag else (1.8 if front else 1.1),
                               zorder=3 if front else 2, alpha=0.7 if tag else 1.0,
                               label=f"{label}{tag}: {int(ts[col].iloc[-1]):,}"))
    _keep(ax, "swap:", lines)
    _rescale(ax)
    _labels(ax, "time (s)", "MiB/s", title_for(result, "reclaim and swap"))
    _legend_outside(ax, lines)
    return ax


def plot_stall(result, ax=None, *, baseline=None):
    """Memory stall: the share of wall time allocating tasks spent stalled in
    the allocator or on refault IO (PSI-like "some", %), by request type
    (``baseline``: dashed)."""
    ax = _ax(ax, (7, 3))
    lines = []
    for r, ls, tag in _with_baseline(result, baseline):
        ts = r.timeseries
        lines += [_line(ax, f"stall:{mt}{tag}", t, 100.0 * v / 1e9, color=MIGRATETYPE_COLORS[mt],
                        ls=ls, lw=0.9 if tag else 1.3,
                        label=f"{C.MIGRATETYPE_NAMES[mt]}{tag}")
                  for mt, t, v, _ in _per_type_rates(ts, "stall_ns")]
    t, v = _rate(result.timeseries, "psi_some_ns")
    lines.append(_line(ax, "stall:psi", t, np.minimum(100.0 * v / 1e9, 100.0), color="#000000",
                       ls=":", lw=0.8, label="all incl. kswapd"))
    _keep(ax, "stall:", lines)
    _rescale(ax)
    _labels(ax, "time (s)", "stall, % of wall time", title_for(result, "memory stall by request type"))
    _legend_outside(ax, lines)
    return ax


def plot_reclaim_retries(result, ax=None):
    """Slowpath reclaim retries per second by the request's migratetype."""
    ax = _ax(ax, (7, 3))
    lines = [_line(ax, f"retries:{mt}", t, r, color=MIGRATETYPE_COLORS[mt],
                   label=f"{C.MIGRATETYPE_NAMES[mt]} ({int(total):,})")
             for mt, t, r, total in _per_type_rates(result.timeseries, "reclaim_retries")]
    _rescale(ax)
    _labels(ax, "time (s)", "retries / s", title_for(result, "should_reclaim_retry() retries"))
    _legend_outside(ax, lines)
    return ax


def plot_thp(result, ax=None, *, baseline=None):
    """THP faults over time: cumulative thp_fault_alloc and thp_fault_fallback
    (dashed: a baseline result, if given)."""
    ax = _ax(ax, (7, 3))
    lines = []
    for r, ls, tag in _with_baseline(result, baseline):
        ts = r.timeseries
        t = ts.index.to_numpy()
        for col, color in (("thp_fault_alloc", "#009E73"), ("thp_fault_fallback", "#D55E00")):
            lines.append(_line(ax, f"thp:{col}{tag}", t, ts[col].to_numpy(), ls=ls, color=color,
                               label=f"{col.removeprefix('thp_fault_')}{tag}: "
                                     f"{int(ts[col].iloc[-1]):,}"))
    _keep(ax, "thp:", lines)
    _rescale(ax)
    _labels(ax, "time (s)", "THP faults (cumulative)", title_for(result, "THP faults"))
    _legend_outside(ax, lines)
    return ax


# --- allocation latency --------------------------------------------------------------

def _pct(p: float) -> str:
    """A percentage for a legend: 100%, 99.6%, 2.1%, 0.0092%."""
    return f"{p:.1f}%" if p >= 10 else f"{p:.2g}%"


def _stall_ccdf(h, mt):
    """(x in ns, P(stall >= x), share stalled) of request type ``mt`` from a
    latency histogram, or None when no request of that type stalled."""
    tot = h[mt].sum()
    if tot == 0 or h[mt, 1:].sum() == 0:
        return None
    # bucket b >= 1 holds stalls in [2^(b-1), 2^b) ns: P(stall >= 2^(b-1))
    lo = 2.0 ** (np.arange(1, h.shape[1]) - 1)
    ccdf = h[mt, ::-1].cumsum()[::-1][1:] / tot
    keep = ccdf > 0
    # one more point at the top edge of the last occupied bucket (2^b)
    x = np.append(lo[keep], 2 * lo[keep][-1])
    y = np.append(ccdf[keep], ccdf[keep][-1])
    return x, y, ccdf[0]


def _time_label(us: float, _pos=None) -> str:
    """A stall in µs as a short tick label: 500ns, 2µs, 50ms, 1s."""
    for scale, unit in ((1e6, "s"), (1e3, "ms"), (1.0, "\u00b5s")):
        if us >= scale:
            return f"{us / scale:g}{unit}"
    return f"{us * 1e3:g}ns"


def _log_ticks(ax) -> None:
    """Log axes with few, short labels: 1, 2, 5 x 10^k when the data span at
    most two decades, else powers of ten (every other one past six
    decades), so labels never run into each other; no minor ticks (a third
    of the drawing time of mathtext powers of ten: the explorer redraws on
    every run)."""
    for axis, lim, fmt in ((ax.xaxis, ax.get_xlim(), _time_label),
                           (ax.yaxis, ax.get_ylim(), lambda v, _: f"{v:g}")):
        lo, hi = (max(min(lim), 1e-300), max(max(lim), 1e-300))
        span = np.log10(hi / lo)
        subs = (1.0, 2.0, 5.0) if span <= 2 else (1.0,)
        axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=7 if span <= 6 else 5))
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(FuncFormatter(fmt))


def plot_latency(result, ax=None, *, baseline=None):
    """Allocation latency: the fraction of requests whose stall in the
    allocator (the slowpath: direct reclaim, compaction, retries) was longer
    than x, by request type, on log axes (power-of-two buckets of
    ``result.latency_hist``; refault IO is in the stall plot, not here).  The
    legend gives each type's share of requests that stalled at all.
    Dashed: a baseline result, if given."""
    ax = _ax(ax, (7, 3))
    lines = []
    for r, ls, tag in _with_baseline(result, baseline):
        h = r.latency_hist
        for mt in _REQUEST_TYPES:
            curve = _stall_ccdf(h, mt)
            if curve is None:
                continue
            x, y, share = curve
            lines.append(_line(ax, f"latency:{mt}{tag}", x / 1e3, y, drawstyle="steps-post",
                               ls=ls, color=MIGRATETYPE_COLORS[mt],
                               label=f"{C.MIGRATETYPE_NAMES[mt]}{tag}: {_pct(100 * share)}"))
    drawn = bool(lines)
    if baseline is not None and not any(ln.get_gid().endswith("(base)") for ln in lines):
        lines.append(_line(ax, "latency:none (base)", [], [], ls="--", color="#777777",
                           label="(base): none stalled"))
    ax.set_xscale("log" if drawn else "linear")
    ax.set_yscale("log" if drawn else "linear")
    _keep(ax, "latency:", lines)
    _rescale(ax)
    if drawn:
        _log_ticks(ax)
    else:
        _named(ax, "none:note").set_text("no request stalled")
    _labels(ax, "stall longer than", "fraction of requests",
            title_for(result, "allocation latency (share stalled)"))
    _legend_outside(ax, lines)
    return ax


# --- content maps: what pages hold, per pageblock (machine vs model) ---------------

#: content classes of a content map, in drawing priority, with Okabe-Ito colours
CONTENT_CLASSES = ["free", "file", "anon", "slab", "pagetable", "reserved", "other"]
CONTENT_COLORS = {"free": "#FFFFFF", "file": "#56B4E9", "anon": "#0072B2", "slab": "#D55E00",
                  "pagetable": "#CC79A7", "reserved": "#000000", "other": "#999999"}


def model_content_map(result, snapshot: int = -1):
    """The model's per-pageblock content in the classes of :func:`load_pbmap`."""
    df = result.pageblocks(snapshot)
    return pd.DataFrame({
        "zone": df["zone"], "start_pfn": df["pfn"], "free": df["free"] + df["pcp"],
        "file": df["file"], "anon": df["anon"],
        "slab": df["slab_reclaimable"] + df["slab_unreclaimable"] + df["kernel"],
        "pagetable": df["pagetable"], "reserved": 0, "other": 0})


def plot_content_map(cmap, ax=None, *, title: str = "", legend: bool = True):
    """One cell per pageblock (row-major, pfn order): colour = the content with
    the most pages in the block (white = mostly free)."""
    ax = _ax(ax, (6, 4.5))
    counts = cmap[CONTENT_CLASSES].to_numpy()
    dom = counts.argmax(axis=1)
    pal = np.array([to_rgb(CONTENT_COLORS[c]) for c in CONTENT_CLASSES])
    nb = len(dom)
    rows, cols = _grid_shape(nb)
    img = np.full((rows * cols, 3), 0.85)
    img[:nb] = pal[dom]
    _image(ax, "content", img.reshape(rows, cols, 3))
    _labels(ax, f"pageblock mod {cols}", "row", title)
    if legend:
        _legend_below(ax, [Patch(facecolor=CONTENT_COLORS[c], edgecolor="#999999", label=c)
                           for c in CONTENT_CLASSES])
    return ax


def plot_machine_vs_model(pbmap_path, result, axes=None, *, snapshot: int = 0):
    """A real machine's pageblock content map (a kpageflags snapshot) beside
    the model's at ``snapshot`` (default: the start of a replay)."""
    axes = _ax(axes, (12, 5), ncols=2)
    real = load_pbmap(pbmap_path)
    name = pbmap_path.name if hasattr(pbmap_path, "name") else pbmap_path
    plot_content_map(real, axes[0], title=f"machine: {name} ({len(real):,} pageblocks)")
    model = model_content_map(result, snapshot)
    t = result.snapshots[snapshot].t
    plot_content_map(model, axes[1], title=title_for(result, f"model at t={t:.1f} s "
                                                       f"({len(model):,} pageblocks)"))
    return axes


# --- summaries of many runs (frames of defragsim.analysis) ---------------------------

def plot_onset(df: pd.DataFrame, axes=None, *, metrics=None):
    """The storm-onset sweep (:func:`defragsim.analysis.onset.storm_onset`):
    one panel per metric, the mean over seeds (min-max band when there are
    several seeds) against the growth rate, one line per configuration."""
    metrics = list(metrics or ONSET_METRICS)
    axes = np.atleast_1d(_ax(axes, (4.2 * len(metrics), 3.4), ncols=len(metrics)))
    if len(axes) < len(metrics):
        raise ValueError(f"plot_onset: {len(metrics)} metrics but {len(axes)} axes")
    for ax, metric in zip(axes, metrics):
        for i, (cfg, g) in enumerate(df.groupby("config", sort=False)):
            color = _SERIES_COLORS[i % len(_SERIES_COLORS)]
            s = g.groupby("growth_mib_s_per_gib")[metric]
            x = np.array(sorted(g["growth_mib_s_per_gib"].unique()))
            ax.plot(x, s.mean().reindex(x).to_numpy(), marker="o", ms=3, color=color, label=cfg)
            if g["seed"].nunique() > 1:
                ax.fill_between(x, s.min().reindex(x).to_numpy(), s.max().reindex(x).to_numpy(),
                                color=color, alpha=0.15, lw=0)
        if metric == "extfrag_fragmenting":
            ax.set_yscale("symlog", linthresh=10)    # fallbacks explode after NOFRAGMENT drops
        ax.set_xlabel("non-movable growth (MiB/s per GiB)")
        ax.set_ylabel(ONSET_METRICS.get(metric, metric))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return axes


def sweep_intervals(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per configuration of a sweep's long frame (config, seed, metric, value;
    :meth:`SweepResult.frame <defragsim.analysis.sweep.SweepResult.frame>`):
    n, mean, and a 95% bootstrap interval of the mean (lo, hi), which stays
    within the seeds' values (never below zero for a count)."""
    g = frame[frame["metric"].str.strip() == metric]
    if g.empty:
        known = ", ".join(list(dict.fromkeys(frame["metric"].str.strip()))[:8])
        raise ValueError(f"plot_sweep: no metric {metric!r} (have: {known}, ...)")
    rows = []
    for cfg, v in g.groupby("config", sort=False)["value"]:
        lo, hi = bootstrap_ci(v.to_numpy())
        rows.append((cfg, len(v), float(v.mean()), lo, hi, v.to_numpy()))
    return pd.DataFrame(rows, columns=["config", "n", "mean", "lo", "hi", "values"])


def plot_sweep(data: pd.DataFrame, ax=None, *, metric: str = "pswpout",
               ylabel: str | None = None, title: str | None = None, log: bool | None = None,
               order=None):
    """One metric of a sweep: a bar per configuration (in the data's order),
    its mean over the seeds.  ``data`` is the long frame of
    :meth:`SweepResult.frame` (config, seed, metric, value: the bars get a
    95% bootstrap interval that respects the data, and every seed's value as
    a dot) or its :meth:`SweepResult.summary` (config, metric, n, mean, ci95:
    the Student t interval, cut at zero for counts).  ``log``: a log y scale
    (default: when the means span more than two decades).  ``order``: the
    configurations, in this order (default: the data's).  The title says n."""
    if "value" in data.columns:
        g = sweep_intervals(data, metric)
        if order is not None:
            g = g.set_index("config").reindex(list(order)).reset_index()
        lo, hi = g["lo"].to_numpy(), g["hi"].to_numpy()
        what = "95% bootstrap interval, dots: seeds"
    else:
        g = data[data["metric"] == metric]
        if g.empty:
            known = ", ".join(list(dict.fromkeys(data["metric"]))[:8])
            raise ValueError(f"plot_sweep: no metric {metric!r} in the summary (have: {known}, ...)")
        m, ci = g["mean"].to_numpy(), g["ci95"].to_numpy()
        lo, hi = (np.maximum(m - ci, 0.0) if (m >= 0).all() else m - ci), m + ci
        what = "95% t interval"
    ax = _ax(ax, (max(4.0, 0.45 * len(g) + 1.5), 3.4))
    means = g["mean"].to_numpy()
    x = np.arange(len(g))
    pos = means[means > 0]
    if log is None:
        log = len(pos) > 1 and pos.max() / pos.min() > 100
    ax.bar(x, means, color="#0072B2", alpha=0.8)
    ax.errorbar(x, means, yerr=[means - lo, hi - means], fmt="none", ecolor="#000000",
                capsize=3, lw=1)
    if "values" in g:
        for xi, vals in zip(x, g["values"]):
            ax.plot(np.full(len(vals), xi) + np.linspace(-0.15, 0.15, len(vals)), vals, ".",
                    color="#D55E00", ms=4)
    if log:
        ax.set_yscale("symlog", linthresh=1)
    ax.set_xticks(x, g["config"].tolist(), rotation=60, ha="right", fontsize=7)
    n = sorted(set(g["n"].astype(int)))
    seeds = f"n={n[0]}" if len(n) == 1 else f"n={n[0]}-{n[-1]}"
    _labels(ax, "configuration", ylabel or metric,
            title or f"{metric}: mean of {seeds} seeds, {what}")
    return ax


#: the compare figures: file name, plot function, height per row (inches),
#: whether the panels share a y range
COMPARE_FIGURES = (("pageblocks", plot_pageblock_map, 5.0, False),
                   ("extfrag", plot_extfrag, 3.2, True), ("swap", plot_swap, 3.2, True),
                   ("stall", plot_stall, 3.2, True), ("retries", plot_reclaim_retries, 3.2, True))


def finish_figure(fig, caption: str, *, suptitle: str | None = None) -> None:
    """Lay ``fig`` out (tight) with room for its caption line at the bottom
    (and its suptitle at the top)."""
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    add_caption(fig, caption)
    h = fig.get_figheight()
    fig.tight_layout(rect=(0, min(0.2, 0.16 / h), 1, 1))


def compare_caption(cmp, i: int) -> str:
    """The caption of a comparison's figures: seed ``i`` and how it was chosen."""
    r = next(iter(cmp.results.values()))[i]
    return caption_text(r, seeds=cmp.seeds, seed=cmp.seeds[i])


def write_compare_figures(cmp, out, *, seed_index: int | None = None,
                          ncols: int | None = None) -> list[str]:
    """Side-by-side figures of one seed of each configuration (default: the
    median seed by total swap-out, :meth:`Comparison.figure_seed_index`):
    pageblock maps, extfrag events by fallback pair, reclaim and swap, stall
    time and reclaim retries over time (PNG + SVG each), the time series on a
    shared y range, each with its caption line (scenario, memory, kernel,
    seeds, version, model hash).  ``ncols``: at most this many panels per
    row, more configurations wrap into a grid (default: one row)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    i = cmp.figure_seed_index() if seed_index is None else seed_index
    rs = [r[i] for r in cmp.results.values()]
    n = len(rs)
    cols = n if ncols is None else max(1, min(ncols, n))
    nrows = -(-n // cols)
    caption = compare_caption(cmp, i)
    files = []
    for name, fn, h, shared in COMPARE_FIGURES:
        fig, axes = plt.subplots(nrows, cols, figsize=(6.2 * cols, h * nrows), squeeze=False)
        for ax, r in zip(axes.flat, rs):
            fn(r, ax=ax)
        for ax in axes.flat[n:]:
            ax.set_visible(False)
        if shared:
            share_y(axes)
        finish_figure(fig, caption, suptitle=f"{cmp.scenario}, {format_size(cmp.mem)}, "
                                             f"seed {cmp.seeds[i]}")
        files += save_figure(fig, out / name)
        plt.close(fig)
    if n >= 2:
        fig, ax = plt.subplots(figsize=(6.5, 5))
        plot_pageblock_diff(rs[0], rs[-1], ax=ax)
        finish_figure(fig, caption)
        files += save_figure(fig, out / "pageblocks_diff")
        plt.close(fig)
    return files


def readme_figure(cmp, path, *, seed_index: int | None = None) -> str:
    """The README's example figure: reclaim and swap of each configuration of
    ``cmp`` side by side on one y range, with the caption; a small PNG."""
    i = cmp.figure_seed_index() if seed_index is None else seed_index
    rs = [r[i] for r in cmp.results.values()]
    fig, axes = plt.subplots(1, len(rs), figsize=(5.4 * len(rs), 2.9), squeeze=False)
    for ax, (lab, r) in zip(axes[0], zip(cmp.results, rs)):
        plot_swap(r, ax=ax)
        ax.set_title(f"{lab} ({patches_text(r.config.patches)}): reclaim and swap", fontsize=9)
    share_y(axes)
    finish_figure(fig, compare_caption(cmp, i))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight", pil_kwargs={"optimize": True})
    plt.close(fig)
    return str(path)


def plot_builds(results: dict, ax=None, *, metric: str = "thp_fallback_rate",
                ylabel: str | None = None, title: str | None = None):
    """One counter per build (:func:`defragsim.analysis.builds.per_build`) for
    each labelled run of ``results`` ({label: Result}): a line per run, builds
    on the x axis, to show memory ageing over back-to-back builds."""
    ax = _ax(ax, (5, 3))
    for label, r in results.items():
        df = per_build(r)
        if metric not in df.columns:
            raise ValueError(f"plot_builds: no column {metric!r} (have: {', '.join(df.columns)})")
        ax.plot(df.index, df[metric], marker="o", label=label)
    ax.set_xticks(list(df.index))
    ax.legend(fontsize=8)
    _labels(ax, "build", ylabel or metric, title or f"{metric} per build")
    return ax


# --- defragsim validate ---------------------------------------------------------------

#: a validate verdict's colour (Okabe-Ito: bluish green, orange, vermilion, grey)
VERDICT_COLORS = {"agrees": "#009E73", "direction": "#E69F00", "disagrees": "#D55E00",
                  "cannot say": "#999999"}
_VERDICT_HANDLES = [Patch(color=c, label=v) for v, c in VERDICT_COLORS.items()]


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "\u2026"


def _validate_numbers(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its four number columns as floats (a frame read back from
    validate.csv, or an empty one, may hold them as objects)."""
    missing = [c for c in NUMBER_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"not a defragsim validate frame with numbers: no column "
                         f"{', '.join(missing)} (a validate.csv written before stop 54 has "
                         f"none; run defragsim validate again)")
    df = df.copy()
    for c in NUMBER_COLUMNS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    return df


def validate_change_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a ``defragsim validate`` frame that compare a published
    change (before -> after) with the model's: the kbuild-thp steps and the
    traces' defrag_mode moves."""
    df = _validate_numbers(df)
    return df[np.isfinite(df["published_before"]) & np.isfinite(df["published_after"])]


def validate_count_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a ``defragsim validate`` frame that compare a trace's
    counter with the model's count on its replay."""
    df = _validate_numbers(df)
    return df[~np.isfinite(df["published_before"]) & np.isfinite(df["published_after"])
              & np.isfinite(df["model_after"])]


def _off_axis_scatter(ax, x, y, lo: float, hi: float, *, marker: str = "o", c=None,
                      **style) -> None:
    """``x`` against ``y`` on a log x axis from ``lo`` to ``hi``: a point
    beyond either end drawn at that end as a triangle pointing out; NaN not
    at all.  ``c``: a colour per point."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x)
    for mark, sel in ((marker, ok & (x >= lo) & (x <= hi)), ("<", ok & (x < lo)),
                      (">", ok & (x > hi))):
        if sel.any():
            colors = None if c is None else list(np.asarray(c, dtype=object)[sel])
            ax.scatter(np.clip(x[sel], lo, hi), y[sel], marker=mark, c=colors, clip_on=False,
                       **style)


def _factor_ticks(ax, lo: float, hi: float) -> None:
    """Readable ticks on a log x axis of factors: decades, with 1/3, 1/2, 2
    and 3 when the axis spans little (matplotlib's own minor labels overlap
    there)."""
    decades = [10.0 ** k for k in range(-3, 4)]
    near = [1 / 3, 0.5, 2.0, 3.0]
    ticks = decades + (near if hi / lo < 1e3 else [])
    ticks = sorted(t for t in ticks if lo <= t <= hi)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(
        lambda v, _: "1/3" if abs(v - 1 / 3) < 1e-9 else f"{v:g}"))


def plot_validate_changes(df: pd.DataFrame, ax=None):
    """Each published change beside the model's (``defragsim validate``): a
    row per check, x the change factor after / before on a log axis; the
    published change an open black circle, the model's a dot in its verdict's
    colour (no dot: the model has nothing on both sides; a triangle: off the
    axis, e.g. from or to zero).  Rows are grouped as the table groups them,
    top down, each group named above its rows."""
    rows = validate_change_rows(df)
    # grouped as validate_table groups them (a group's rows together, in
    # the order groups first appear)
    first = {g: i for i, g in reversed(list(enumerate(rows["group"])))}
    rows = rows.iloc[np.argsort([first[g] for g in rows["group"]], kind="stable")]
    ax = _ax(ax, (8, 0.22 * len(rows) + 1.2))
    if rows.empty:
        ax.text(0.5, 0.5, "no published changes in this table", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    groups = rows["group"].to_numpy()
    starts = [0] + [i for i in range(1, len(rows)) if groups[i] != groups[i - 1]]
    # a row of space above each group for its name
    y = np.empty(len(rows))
    pos = 0.0
    for i in range(len(rows)):
        if i in starts:
            pos += 1.0
        y[i] = -pos
        pos += 1.0
    pub = change_factor(rows["published_before"].to_numpy(float),
                        rows["published_after"].to_numpy(float))
    mb, ma = rows["model_before"].to_numpy(float), rows["model_after"].to_numpy(float)
    mod = change_factor(mb, ma)
    mod[(mb == 0) & (ma == 0)] = np.nan        # nothing on both sides: no change to show
    has_model = np.isfinite(mod)
    vals = np.concatenate([pub, mod[has_model]])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    lo = min(vals.min() / 1.5, 0.5) if len(vals) else 0.5
    hi = max(vals.max() * 1.5, 2.0) if len(vals) else 2.0
    lo, hi = max(lo, 1e-3), min(hi, 1e3)
    colors = np.array([VERDICT_COLORS.get(v, "#999999") for v in rows["verdict"]], dtype=object)
    for yy, p, m, ok in zip(y, pub, mod, has_model):
        if ok:
            ax.plot(np.clip([p, m], lo, hi), [yy, yy], color="#bbbbbb", lw=1, zorder=1)
    _off_axis_scatter(ax, pub, y, lo, hi, facecolors="none", edgecolors="black", s=30, zorder=3)
    _off_axis_scatter(ax, mod, y, lo, hi, c=colors, s=24, zorder=4)
    ax.axvline(1.0, color="#666666", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    _factor_ticks(ax, lo, hi)
    ax.set_yticks(y)
    ax.set_yticklabels([_short(c, 56) for c in rows["check"]], fontsize=6.5)
    ax.set_ylim(y.min() - 0.7, 0.3)
    for i in starts:
        ax.text(0.005, y[i] + 1.0, groups[i], transform=ax.get_yaxis_transform(), fontsize=7,
                fontweight="bold", va="center", ha="left")
        if i:
            ax.axhline(y[i] + 1.6, color="#dddddd", lw=0.8)
    handles = [plt.Line2D([], [], marker="o", ls="", mfc="none", mec="black", label="published"),
               plt.Line2D([], [], marker=">", ls="", mfc="none", mec="black",
                          label="off the axis")]
    _legend_outside(ax, handles + _VERDICT_HANDLES)
    _labels(ax, "change, after / before (log)", "",
            f"defragsim validate: {len(rows)} published changes beside the model's")
    return ax


def plot_validate_counts(df: pd.DataFrame, ax=None):
    """Each trace counter (``defragsim validate``): the model's count on the
    replay over the kernel's, on a log axis with the 3x band shaded; a row per
    counter, a marker per trace, coloured by verdict ((model + 0.5) / (kernel
    + 0.5), as the verdict counts, so a zero shows)."""
    rows = validate_count_rows(df)
    counters = list(dict.fromkeys(rows["check"]))
    ax = _ax(ax, (8, 0.32 * max(len(counters), 1) + 1.4))
    if rows.empty:
        ax.text(0.5, 0.5, "no trace counters in this table", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    traces = list(dict.fromkeys(rows["group"]))
    markers = "osD^vP*Xhp"                # not < or >: they mark a ratio off the axis
    ax.axvspan(1 / 3, 3, color="#009E73", alpha=0.08, lw=0)
    ax.axvline(1.0, color="#666666", lw=0.8)
    ratio = (rows["model_after"].to_numpy() + 0.5) / (rows["published_after"].to_numpy() + 0.5)
    lo, hi = max(min(ratio.min() / 1.5, 0.2), 1e-3), min(max(ratio.max() * 1.5, 5), 1e3)
    ypos = {c: len(counters) - 1 - i for i, c in enumerate(counters)}
    off = np.linspace(-0.25, 0.25, len(traces)) if len(traces) > 1 else [0.0]
    handles = []
    for t, (trace, g) in enumerate(rows.groupby("group", sort=False)):
        r = (g["model_after"].to_numpy() + 0.5) / (g["published_after"].to_numpy() + 0.5)
        yy = np.array([ypos[c] for c in g["check"]]) + off[traces.index(trace)]
        _off_axis_scatter(ax, r, yy, lo, hi, marker=markers[t % len(markers)], s=26, zorder=3,
                          c=[VERDICT_COLORS.get(v, "#999999") for v in g["verdict"]])
        handles.append(plt.Line2D([], [], marker=markers[t % len(markers)], ls="", color="#444444",
                                  label=_short(trace.removeprefix("replay "), 40)))
    if ((ratio < lo) | (ratio > hi)).any():
        handles.append(plt.Line2D([], [], marker=">", ls="", color="#444444",
                                  label="off the axis"))
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    _factor_ticks(ax, lo, hi)
    ax.set_yticks(range(len(counters)))
    ax.set_yticklabels([_short(c, 40) for c in counters[::-1]], fontsize=7)
    ax.set_ylim(-0.7, len(counters) - 0.3)
    _legend_outside(ax, handles + _VERDICT_HANDLES)
    _labels(ax, "model / kernel (log; shaded: within 3x)", "",
            f"defragsim validate: {len(rows)} trace counters, replay against the kernel")
    return ax


def write_validate_figures(df: pd.DataFrame, out) -> list[str]:
    """``defragsim validate --out DIR``'s figures: validate_changes and
    validate_traces (PNG + SVG each), with the caption line (version, model)."""
    out = Path(out)
    files = []
    caption = (f"defragsim validate | {len(df)} checks | defragsim {__version__}, "
               f"model {model_hash_short()}")
    changes = validate_change_rows(df)
    for name, fn, rows, per_row, base in (
            # a line per change and one per group's name; a line per counter
            ("validate_changes", plot_validate_changes,
             len(changes) + changes["group"].nunique(), 0.2, 1.6),
            ("validate_traces", plot_validate_counts,
             validate_count_rows(df)["check"].nunique(), 0.36, 2.0)):
        fig, ax = plt.subplots(figsize=(8.5, per_row * max(rows, 1) + base))
        fn(df, ax=ax)
        finish_figure(fig, caption)
        files += save_figure(fig, out / name)
        plt.close(fig)
    return files
