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
    assert ax.get_xscale() == "log" and "µs" in ax.get_xlabel()
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
