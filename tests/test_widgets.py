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


def test_a_rerun_redraws_only_the_map_picture_unless_its_axes_change(explorer, monkeypatch):
    """A rerun at the same memory size draws the map's picture, titles and
    caption over the kept rest of the last render (BlitPNG.moved); the
    mixed/polluted counts are in the title, so the legend is kept.  Another
    memory size (other axes) draws the whole map again."""
    from defragsim import plot
    ex = explorer
    calls = []
    for name in ("whole", "moved"):
        orig = getattr(plot.BlitPNG, name)
        monkeypatch.setattr(plot.BlitPNG, name,
                            lambda self, *a, _o=orig, _n=name, **k: calls.append(_n) or _o(self, *a, **k))
    legend = ex.map_axes[1].get_legend()
    ex.seed.value = 4                                        # not cached
    ex.run_button.click()
    assert calls == ["moved"]
    assert ex.map_axes[1].get_legend() is legend
    assert "mixed," in ex.map_axes[1].get_title() and "polluted)" in ex.map_axes[1].get_title()
    ex.mem.value = "256M"
    ex.run_button.click()
    assert calls[-1] == "whole"
    ex.mem.value, ex.seed.value = "128M", 2
    ex.run_button.click()


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


# -- first use, the layout, export, refused configurations, traces -------------------------

def test_importing_the_widgets_loads_no_simulator():
    import subprocess
    import sys
    code = ("import sys, defragsim.widgets as w; w.PatchExplorer(); "
            "print([m for m in ('defragsim.sim', 'numba', 'matplotlib', 'pandas') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_scenario_names_are_the_workloads_list():
    from defragsim.widgets import scenario_names
    from defragsim.workloads import list_scenarios
    assert scenario_names() == list(list_scenarios())


def test_status_says_the_first_run_compiles_when_the_cache_is_cold(monkeypatch):
    from defragsim import widgets
    monkeypatch.setattr(widgets, "model_cache_cold", lambda: True)
    assert widgets.COMPILING in PatchExplorer().status.value


def test_figures_are_readable_fonts_and_dpi(explorer):
    from defragsim.widgets import FIGURE_DPI, MIN_FONT_PT
    ex = explorer
    ex.run_button.click()
    for fig in (ex.map_fig, ex.panels_fig):
        assert fig.dpi == FIGURE_DPI
        fig.canvas.draw()
        sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_fontsize")
                                                       and hasattr(a, "get_text"))
                 if t.get_visible() and t.get_text()]
        assert min(sizes) >= MIN_FONT_PT
    assert len(ex.panel_axes) == 6 and ex.panels_fig.get_figwidth() * FIGURE_DPI <= 1100


def test_slider_shows_seconds(explorer):
    ex = explorer
    ex.run_button.click()
    assert ex.slider_label.value == f"t = {ex.result.duration_s:.1f} s of 2 s"
    ex.slider.value = 0
    assert ex.slider_label.value.startswith("t = 0.0 s")
    assert "t=0.0 s" in ex.map_axes[1].get_title()


def test_baseline_is_in_every_panel_and_another_run_is_named(explorer):
    ex = explorer
    ex.mem.value, ex.defrag_mode.value = "128M", 0
    ex.run_button.click()
    ex.pin_button.click()
    ex.defrag_mode.value = 1
    ex.run_button.click()
    for ax in ex.panel_axes[:5]:
        assert any("(base)" in ln.get_label() for ln in ax.get_lines()), ax.get_title()
    assert "warning" not in ex.status.value
    ex.mem.value = "256M"
    ex.run_button.click()
    assert "warning" in ex.status.value and "memory 128M against 256M" in ex.status.value
    assert "warning" in ex.panels_fig._suptitle.get_text()
    ex.unpin_button.click()
    ex.mem.value = "128M"


def test_refused_configuration_greys_the_plots(explorer):
    import base64
    import io
    import numpy as np
    from PIL import Image
    ex = explorer
    ex.run_button.click()
    for b, v in zip(ex.patch_boxes, (False, False, False, True)):
        b.value = v
    assert ex.run() is None
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(_png(ex.panels_out)))).convert("RGB"))
    assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
    assert "refused" in ex.status.value and "greyed" in ex.status.value
    assert "opacity:0.4" in ex.table.value
    ex.patch_boxes[3].value = False
    ex.run_button.click()
    img = np.asarray(Image.open(io.BytesIO(base64.b64decode(_png(ex.panels_out)))).convert("RGB"))
    assert not (img[..., 0] == img[..., 2]).all() and "opacity" not in ex.table.value


def test_export_table_text_and_figures(explorer, tmp_path):
    from defragsim.provenance import model_hash_short
    ex = explorer
    ex.out_dir = tmp_path / "explorer"
    ex.run_button.click()
    text = ex.copy_table()
    assert ex.text_out.value == text and ex.text_out.layout.display is None
    assert max(map(len, text.splitlines())) <= 80 and model_hash_short() in text
    assert "pswpout" in text
    files = ex.save_figures()
    assert sorted(p.rsplit(".", 1)[1] for p in files) == ["png", "png", "svg", "svg"]
    assert all(str(tmp_path) in f for f in files) and files[0] in ex.status.value
    from PIL import Image
    w, _ = Image.open(files[0]).size
    assert w == round(ex.map_fig.get_figwidth() * 200)
    ex.slider.value = 0                               # the map still redraws after a save
    assert _png(ex.map_out)


def test_a_trace_takes_memory_and_duration_from_its_snapshot():
    ex = PatchExplorer("steady", mem="512M", duration=20)
    ex.scenario.value = "samples-1s"
    assert ex.duration.value == 0.0
    from defragsim.config import parse_size
    assert parse_size(ex.mem.value, name="mem") > 20 << 30          # the traced 24 GiB machine
    assert "from the trace and its snapshot" in ex.status.value
