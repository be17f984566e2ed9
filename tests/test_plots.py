"""Every plot function takes a result (or a frame) and an optional ``ax``,
returns the axes, and draws the expected artists with labelled axes and a
title naming the scenario and the configuration; drawing again on the same
axes updates them in place."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from defragsim import Config, plot, run
from defragsim.plot import plot_thp


@pytest.fixture(scope="module")
def result():
    return run("storm", Config(mem="128M", defrag_mode=1, seed=1), duration=4.0)


@pytest.mark.parametrize("fn,min_artists", [
    (plot.plot_swap, 2), (plot.plot_stall, 4), (plot.plot_reclaim_retries, 3),
    (plot.plot_free_memory, 1), (plot.plot_blocks_over_time, 3), (plot_thp, 2)])
def test_time_series_plots(result, fn, min_artists):
    fig, ax = plt.subplots()
    assert fn(result, ax=ax) is ax
    assert len(ax.get_lines()) + len(ax.collections) >= min_artists
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel()
    assert "storm" in ax.get_title() and "defrag_mode=1" in ax.get_title()
    plt.close(fig)


def test_pageblock_map_is_an_image_with_a_legend(result):
    fig, ax = plt.subplots()
    plot.plot_pageblock_map(result, ax=ax, snapshot=0)
    im = ax.get_images()
    assert len(im) == 1
    rows, cols = plot._grid_shape(result.config.nr_pageblocks)
    assert im[0].get_array().shape[:2] == (rows, cols)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"Unmovable", "Movable", "Reclaimable"} <= set(labels)
    plt.close(fig)


def test_extfrag_plot_one_line_per_pair(result):
    fig, ax = plt.subplots()
    plot.plot_extfrag(result, ax=ax)
    pairs = result.extfrag.groupby(["alloc_migratetype", "fallback_migratetype",
                                    "change_ownership"]).ngroups
    assert len(ax.get_lines()) == pairs
    plt.close(fig)


def test_latency_plot_is_the_stall_ccdf_by_request_type(result):
    h = result.latency_hist
    assert h[:, 1:].sum() > 0, "the fixture's storm should stall some requests"
    fig, ax = plt.subplots()
    assert plot.plot_latency(result, ax=ax, baseline=result) is ax
    stalled = [m for m in range(h.shape[0]) if h[m, 1:].sum()]
    lines = ax.get_lines()
    assert len(lines) == 2 * len(stalled)              # current + baseline per stalled type
    for line, m in zip(lines, stalled):
        y = line.get_ydata()
        assert y[0] == pytest.approx(h[m, 1:].sum() / h[m].sum())   # share that stalled at all
        assert all(a >= b for a, b in zip(y, y[1:]))                # a CCDF never rises
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "stall longer than"
    assert [plot._time_label(v) for v in (0.5, 2.0, 5e3, 1e6)] == ["500ns", "2µs", "5ms", "1s"]
    assert "allocation latency" in ax.get_title() and "storm" in ax.get_title()
    plt.close(fig)


def test_palette_is_the_colour_blind_safe_one():
    from matplotlib.colors import to_hex
    cols = {to_hex(c) for c in plot.MIGRATETYPE_COLORS.values()}
    assert {"#d55e00", "#0072b2", "#009e73"} <= cols


def test_save_figure_writes_png_and_svg(tmp_path, result):
    fig, ax = plt.subplots()
    plot.plot_swap(result, ax=ax)
    files = plot.save_figure(fig, tmp_path / "swap")
    plt.close(fig)
    assert sorted(p.rsplit(".", 1)[1] for p in files) == ["png", "svg"]
    png = (tmp_path / "swap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.fixture(scope="module")
def other():
    return run("storm", Config(mem="128M", defrag_mode=0, seed=2), duration=3.0)


@pytest.mark.parametrize("fn", [plot.plot_swap, plot.plot_stall, plot.plot_extfrag,
                                plot.plot_latency, plot_thp, plot.plot_free_memory,
                                plot.plot_reclaim_retries, plot.plot_blocks_over_time])
def test_drawing_again_updates_the_axes_in_place(result, other, fn):
    """Another result on the same axes: the same line objects with the new
    data (the lines it has not are removed), limits, labels and title as on
    fresh axes."""
    fig, (ax, fresh) = plt.subplots(1, 2)
    fn(result, ax=ax)
    first = {ln.get_gid(): ln for ln in ax.get_lines()}
    fn(other, ax=ax)
    fn(other, ax=fresh)
    assert ax.get_title() == fresh.get_title() and "defrag_mode=0" in ax.get_title()
    assert sorted(ln.get_gid() for ln in ax.get_lines()) == \
        sorted(ln.get_gid() for ln in fresh.get_lines())
    assert len(ax.collections) == len(fresh.collections)
    for ln, ref in zip(sorted(ax.get_lines(), key=lambda x: x.get_gid()),
                       sorted(fresh.get_lines(), key=lambda x: x.get_gid())):
        assert np.array_equal(ln.get_xdata(), ref.get_xdata())
        assert np.array_equal(ln.get_ydata(), ref.get_ydata(), equal_nan=True)
        assert ln.get_label() == ref.get_label()
        if ln.get_gid() in first:
            assert ln is first[ln.get_gid()]                 # moved, not re-created
    assert ax.get_xlim() == pytest.approx(fresh.get_xlim())
    assert ax.get_ylim() == pytest.approx(fresh.get_ylim())
    assert [t.get_text() for t in ax.texts] == [t.get_text() for t in fresh.texts]
    assert _legend(ax) == _legend(fresh)
    plt.close(fig)


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else []


def test_pageblock_map_redraw_sets_the_image_data(result):
    fig, ax = plt.subplots()
    plot.plot_pageblock_map(result, ax=ax, snapshot=0)
    im = ax.get_images()[0]
    plot.plot_pageblock_map(result, ax=ax, snapshot=-1)
    assert ax.get_images() == [im]                             # the same image, new pixels
    img, _ = plot.pageblock_image(result, -1)
    assert (im.get_array() == img).all()
    assert f"t={result.snapshots[-1].t:.1f} s" in ax.get_title()
    plt.close(fig)


def test_onset_and_sweep_summaries():
    import pandas as pd
    onset = pd.DataFrame({"config": ["a", "a", "b", "b"], "growth_mib_s_per_gib": [0.0, 8.0] * 2,
                          "seed": 0, "pswpout_mib": [0.0, 5.0, 0.0, 1.0],
                          "nonmovable_reclaim_retries": [0, 10, 0, 0], "task_stall_s": 0.1,
                          "extfrag_fragmenting": [1, 100, 1, 2]})
    axes = plot.plot_onset(onset)
    assert len(axes) == 4 and len(axes[0].get_lines()) == 2
    plt.close(axes[0].figure)
    summary = pd.DataFrame({"config": ["none", "all", "none", "all"],
                            "metric": ["pswpout", "pswpout", "compact_stall", "compact_stall"],
                            "n": 3, "mean": [100.0, 10.0, 5.0, 6.0], "ci95": [5.0, 1.0, 0.5, 0.5]})
    ax = plot.plot_sweep(summary, metric="pswpout")
    assert [p.get_height() for p in ax.patches] == [100.0, 10.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "all"]
    assert ax.get_ylabel() == "pswpout" and "n=3" in ax.get_title()
    with pytest.raises(ValueError, match="no metric 'nope'"):
        plot.plot_sweep(summary, metric="nope")
    plt.close(ax.figure)


# --- mail-ready figures: captions, shared axes, maps ------------------------------------

def _hand_built_result(nb: int = 80, zone_blocks: int = 16):
    """A Result of ``nb`` pageblocks built by hand: block 0 Unmovable and full
    of kernel pages, 1 Movable and mostly free, 2 Movable holding mostly
    kernel pages (mixed), 3 Reclaimable, 4 HighAtomic, 5 Movable with a few
    page tables (polluted), the rest Movable anon; DMA32 is the first
    ``zone_blocks`` blocks."""
    import pandas as pd
    from defragsim import constants as C
    from defragsim.config import Config
    from defragsim.sim.result import BLOCK_COLUMNS, PageblockSnapshot, Result
    cfg = Config(mem=nb * 2 << 20, dma32=zone_blocks * 2 << 20)
    col = {c: i for i, c in enumerate(BLOCK_COLUMNS)}
    mt = np.full(nb, C.MIGRATE_MOVABLE, np.uint8)
    counts = np.zeros((nb, len(BLOCK_COLUMNS)), np.int32)
    counts[:, col["anon"]] = 512
    mt[0], counts[0, col["anon"]], counts[0, col["kernel"]] = C.MIGRATE_UNMOVABLE, 0, 512
    counts[1, col["anon"]], counts[1, col["free"]] = 100, 412
    counts[2, col["anon"]], counts[2, col["kernel"]] = 100, 412
    mt[3], counts[3, col["anon"]], counts[3, col["slab_reclaimable"]] = C.MIGRATE_RECLAIMABLE, 0, 512
    mt[4] = C.MIGRATE_HIGHATOMIC
    counts[5, col["anon"]], counts[5, col["pagetable"]] = 500, 12          # polluted
    snap = PageblockSnapshot(t=2.0, migratetype=mt, counts=counts,
                             nr_free_mt=np.zeros((2, 11, C.MIGRATE_TYPES), np.int64))
    ts = pd.DataFrame({"pswpout": [0, 0]}, index=pd.Index([0.0, 2.0], name="t"))
    return Result(config=cfg, scenario="handmade", duration_s=2.0, vmstat={}, extfrag=pd.DataFrame(),
                  timeseries=ts, snapshots=[snap], diagnostics={}, events_processed=0,
                  elapsed_s=0.0, zone_names=["DMA32", "Normal"],
                  zone_spans=cfg.zone_spans(), watermarks=np.zeros((2, 3)),
                  nr_free_mt=snap.nr_free_mt, block_counts={}, state_bytes=0)


def test_text_map_of_a_hand_built_result():
    r = _hand_built_result()
    text = r.pageblock_text()
    lines = text.splitlines()
    assert "handmade" in lines[0] and "t=2.0 s" in lines[0] and "patches=none" in lines[0]
    dma = lines.index("-- DMA32 pfn 0x0-0x1fff (16 blocks)")
    assert lines[dma + 1] == "0x00000 Um*RH" + "M" * 11      # mixed: *, mostly free: lower case
    normal = lines.index("-- Normal pfn 0x2000-0x9fff (64 blocks)")
    assert lines[normal + 1] == "0x02000 " + "M" * 64       # a zone starts a line, 64 a line
    assert lines[-1] == "blocks: U 1, M 77, R 1, H 1; mostly free 1; mixed 1"


def test_caption_carries_baseline_seeds_version_and_model_hash(result):
    from defragsim.provenance import __version__, model_hash_short
    cap = plot.caption_text(result, seeds=[0, 1, 2], seed=1)
    assert "storm" in cap and "128M" in cap and "kernel mm-2026" in cap
    assert "seed 1, the median of 3 seeds (0,1,2) by pswpout" in cap
    assert f"defragsim {__version__}" in cap and f"model {model_hash_short()}" in cap
    fig, ax = plt.subplots()
    plot.plot_swap(result, ax=ax)
    plot.finish_figure(fig, cap)
    assert [t.get_text() for t in fig.texts if t.get_gid() == "caption"] == [cap]
    plt.close(fig)


def test_titles_name_the_patches_by_number():
    from defragsim.config import Config
    cfg = Config(mem="128M", defrag_mode=1, patches="all")
    assert plot.config_text(cfg) == "128M defrag_mode=1 patches=1,2,3,4"


def test_compared_panels_share_y_and_an_all_zero_panel_says_none(result, other):
    fig, axes = plt.subplots(1, 2)
    plot.plot_swap(result, ax=axes[0])
    plot.plot_swap(other, ax=axes[1])
    plot.share_y(axes)
    assert axes[0].get_ylim() == axes[1].get_ylim() and axes[0].get_ylim()[0] == 0
    plt.close(fig)
    fig, ax = plt.subplots()
    plot.plot_reclaim_retries(_hand_built_zero_retries(result), ax=ax)
    assert ax.get_ylim() == (0, 1)
    assert [t.get_text() for t in ax.texts] == ["none"]
    plt.close(fig)


def _hand_built_zero_retries(result):
    import copy
    r = copy.copy(result)
    ts = result.timeseries.copy()
    for c in ts.columns:
        if c.startswith("reclaim_retries"):
            ts[c] = 0
    r.timeseries = ts
    return r


def test_extfrag_pairs_are_told_apart_and_the_legend_is_outside(result):
    fig, ax = plt.subplots()
    plot.plot_extfrag(result, ax=ax)
    styles = {(ln.get_color(), ln.get_linestyle(), ln.get_marker(), ln.get_markerfacecolor())
              for ln in ax.get_lines()}
    assert len(styles) == len(ax.get_lines())               # every pair and kind distinct
    leg = ax.get_legend()
    fig.canvas.draw()
    assert leg.get_window_extent().x0 >= ax.get_window_extent().x1
    plt.close(fig)


def test_swap_is_split_into_kswapd_and_direct_reclaim(result):
    fig, ax = plt.subplots()
    plot.plot_swap(result, ax=ax)
    gids = {ln.get_gid() for ln in ax.get_lines()}
    assert {"swap:pgsteal_kswapd", "swap:pgsteal_direct", "swap:pswpout"} <= gids
    plt.close(fig)


def test_pageblock_map_marks_columns_zones_and_a_difference(result, other):
    r = _hand_built_result()
    fig, (ax, dx) = plt.subplots(1, 2)
    plot.plot_pageblock_map(r, ax=ax)
    rows, cols = plot._grid_shape(80)
    assert cols & (cols - 1) == 0                             # a power of two per row
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["0x0", f"{cols * 512:#x}"]
    assert any("Normal" in t.get_text() for t in ax.texts)
    marks = {c.get_gid(): len(c.get_offsets()) for c in ax.collections}
    assert marks == {"pageblocks:mixed": 1, "pageblocks:polluted": 1}
    plot.plot_pageblock_diff(result, result, ax=dx)
    assert "0 of" in dx.get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="same memory size"):
        plot.plot_pageblock_diff(result, r)


def test_sweep_bars_use_intervals_that_respect_the_data():
    import pandas as pd
    frame = pd.DataFrame({"config": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                          "metric": "pswpout", "value": [0.0, 0.0, 900.0, 5.0, 6.0, 7.0]})
    ax = plot.plot_sweep(frame, metric="pswpout")
    (err,) = [c for c in ax.collections if c.get_segments()]
    lows = [seg[0][1] for seg in err.get_segments()]
    assert min(lows) >= 0 and "n=3" in ax.get_title() and ax.get_ylabel() == "pswpout"
    plt.close(ax.figure)
