"""The patch explorer, headless: set values, click Run, check that state,
plots and table changed; errors are shown, never swallowed."""
from __future__ import annotations

import pytest

from defragsim.config import ConfigError
from defragsim.widgets import PatchExplorer


def _png(out):
    assert len(out.outputs) == 1
    return out.outputs[0]["data"]["image/png"]


@pytest.fixture(scope="module")
def explorer():
    ex = PatchExplorer("steady", mem="128M", seed=2, duration=2.0, defrag_mode=0)
    ex.run_button.click()
    return ex


def test_one_checkbox_per_patch_labelled_with_its_subject(explorer):
    labels = [b.description for b in explorer.patch_boxes]
    assert labels[0].startswith("1: mm: page_alloc: __GFP_FS lockdep annotation")
    assert labels[3].startswith("4: mm: page_alloc: fix non-movable reclaim storm")
    assert "samples-1s" in explorer.scenario.options        # the shipped real trace
    assert "storm" in explorer.scenario.options


def test_run_draws_and_toggling_changes_the_plots(explorer):
    ex = explorer
    assert ex.result is not None and "cached" not in ex.status.value
    map0, panels0, table0 = _png(ex.map_out), _png(ex.panels_out), ex.table.value
    ex.defrag_mode.value = 1
    ex.run_button.click()
    assert len(ex.cache) == 2
    assert "dm=1" in ex.status.value
    assert _png(ex.panels_out) != panels0 or _png(ex.map_out) != map0
    assert ex.table.value != table0
    # toggling back is served from the cache
    ex.defrag_mode.value = 0
    ex.run_button.click()
    assert "cached result" in ex.status.value and len(ex.cache) == 2
    assert _png(ex.map_out) == map0


def test_status_line_shows_progress_during_a_run(explorer):
    ex = explorer
    seen = []
    ex.status.observe(lambda ch: seen.append(ch["new"]), names="value")
    ex.seed.value = 7                      # not cached
    ex.run_button.click()
    ex.seed.value = 2
    progress = [s for s in seen if "% of 2 s simulated" in s]
    pcts = [int(s.split(": ")[1].split("%")[0]) for s in progress]
    assert pcts == sorted(pcts) and pcts[-1] == 100 and len(pcts) >= 10
    assert "seed 7" in progress[0] and "ops," in seen[-1]     # then the summary


def test_slider_scrubs_snapshots(explorer):
    ex = explorer
    ex.run_button.click()
    last = _png(ex.map_out)
    assert ex.slider.max == len(ex.result.snapshots) - 1 > 0
    ex.slider.value = 0
    assert _png(ex.map_out) != last


def test_pinned_baseline_shows_deltas(explorer):
    ex = explorer
    ex.defrag_mode.value = 0
    ex.run_button.click()
    ex.pin_button.click()
    ex.defrag_mode.value = 1
    ex.run_button.click()
    html = ex.table.value
    assert "baseline" in html and "delta" in html and "dm=0" in html
    assert ex.map_axes[0].get_visible()                     # the baseline's map beside
    ex.unpin_button.click()
    assert "delta" not in ex.table.value
    assert not ex.map_axes[0].get_visible()


def test_figures_are_built_once_and_updated_in_place(explorer):
    ex = explorer
    figs = (ex.map_fig, ex.panels_fig)
    im = ex.map_axes[1].get_images()[0]
    swap = list(ex.panel_axes[0].get_lines())
    ex.slider.value = ex.slider.max // 2
    assert ex.map_axes[1].get_images() == [im]               # pixels set, not a new image
    ex.seed.value = 3                                        # not cached
    ex.run_button.click()
    assert (ex.map_fig, ex.panels_fig) == figs
    assert ex.map_axes[1].get_images() == [im]
    assert list(ex.panel_axes[0].get_lines()) == swap        # data moved, lines kept
    ex.seed.value = 2


def test_counters_table_is_the_explorer_metrics_view(explorer):
    ex = explorer
    html = ex.table.value
    m = ex.result.metrics("explorer")
    assert len(m) >= 10
    for label in m:
        assert f"<td>{label}</td>" in html


def test_errors_are_shown_in_the_widget(explorer):
    ex = explorer
    n = len(ex.cache)
    for b, v in zip(ex.patch_boxes, (False, False, False, True)):
        b.value = v
    assert ex.run() is None
    assert "error" in ex.status.value and "patch 3" in ex.status.value
    assert len(ex.cache) == n
    ex.patch_boxes[3].value = False
    with pytest.raises(ConfigError, match="unknown scenario"):
        PatchExplorer("nope")


def test_default_explorer_builds_without_running():
    ex = PatchExplorer()
    assert ex.scenario.value == "storm" and ex.result is None
    assert ex.map_out.outputs == ()
