"""Every plot function takes a result and an optional ``ax``, returns the axes,
and draws the expected artists with labelled axes and a title naming the
scenario and the configuration."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from defragsim import Config, plot, run
from defragsim.widgets import plot_thp


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
