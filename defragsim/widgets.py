"""The patch explorer: toggle the series' patches and rerun in a notebook.

``PatchExplorer()`` in a cell shows the whole app: one checkbox per patch
(labelled with its subject line), vm.defrag_mode, a scenario chooser (the
synthetic scenarios and the shipped real traces), memory size, seed and
duration, a Run button, a status line with the run's progress, and the plots
(pageblock map with a time slider, swap activity, extfrag events by fallback
pair, memory stall, allocation latency, THP faults) and a counters table.
"Pin as baseline" keeps the current result beside the next ones (A/B) with
deltas.  Results are cached by configuration, so toggling back is instant.
Errors are shown in the widget, never swallowed.

The two figures (the map, the five panels) are built once; a rerun or a
slider move updates their artists in place (:mod:`defragsim.plot` draws on
the same axes again) and renders them to PNG.

Headless use (tests, notebooks in CI): set the widgets' values and call
``explorer.run_button.click()``; every output is an ``ipywidgets.Output``
holding PNG images, so a test can compare them before and after.
"""
from __future__ import annotations

import base64
import html
import time
import traceback

import ipywidgets as W
from IPython.display import display

from . import plot
from .config import PATCH_SUBJECTS, Config, ConfigError, Patches, parse_size
from .sim import run as run_model
from .workloads import build_workload, list_scenarios

MEM_CHOICES = ["128M", "256M", "512M", "1G", "2G", "4G"]
PATCH_NUMBERS = (1, 2, 3, 4)
_compiled = {"done": False}

#: the map figure: (width, height) in inches with and without a pinned
#: baseline beside the current map, and its subplot parameters
_MAP_SIZE = {True: (10, 4.6), False: (6, 4.6)}
_MAP_ADJUST = dict(left=0.1, right=0.97, bottom=0.22, top=0.92, wspace=0.25)
_MAP_ALONE = [_MAP_ADJUST["left"], _MAP_ADJUST["bottom"], _MAP_ADJUST["right"] - _MAP_ADJUST["left"],
              _MAP_ADJUST["top"] - _MAP_ADJUST["bottom"]]
_PANELS_ADJUST = dict(left=0.035, right=0.995, bottom=0.17, top=0.9, wspace=0.3)


def _show_png(out: W.Output, png: bytes) -> None:
    """Replace ``out``'s content by a PNG image (no double display, and the
    same in a browser and headless)."""
    data = base64.b64encode(png).decode("ascii")
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"image/png": data, "text/plain": "<figure>"}},)


class PatchExplorer:
    """See the module docstring.  Parameters set the initial widget values."""

    def __init__(self, scenario: str = "storm", *, mem: str = "512M", seed: int = 1,
                 duration: float | None = 20.0, defrag_mode: int = 1, patches="none",
                 run: bool = False):
        names = list_scenarios()
        if scenario not in names:
            raise ConfigError(f"explorer: unknown scenario {scenario!r}; known: {', '.join(names)}")
        self._build_controls(names, scenario, mem, seed, duration, defrag_mode, Patches.parse(patches))
        self._build_outputs()
        self._link(names)
        self.layout = self._compose()
        if run:
            self.run()

    # -- build: the widgets, the state, the figures -----------------------------------
    def _build_controls(self, names, scenario, mem, seed, duration, defrag_mode, patches):
        self.patch_boxes = [
            W.Checkbox(value=n in patches.numbers(),
                       description=f"{n}: {PATCH_SUBJECTS[n].split('] ', 1)[1]}",
                       indent=False, layout=W.Layout(width="auto"))
            for n in PATCH_NUMBERS]
        self.defrag_mode = W.ToggleButtons(options=[("defrag_mode=0", 0), ("defrag_mode=1", 1)],
                                           value=defrag_mode, style={"button_width": "130px"})
        self.scenario = W.Dropdown(options=list(names), value=scenario, description="scenario",
                                   tooltip=names.get(scenario, ""))
        self.mem = W.Dropdown(options=sorted(set(MEM_CHOICES) | {mem}, key=_size_key), value=mem,
                              description="memory")
        self.seed = W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed")
        self.duration = W.BoundedFloatText(value=duration or 0.0, min=0.0, max=3600.0,
                                           description="seconds", tooltip="0 = the scenario's own")
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.pin_button = W.Button(description="Pin as baseline", icon="thumb-tack")
        self.unpin_button = W.Button(description="Unpin", disabled=True)

    def _build_outputs(self):
        """The status line, outputs, slider, state, and the two figures (built
        once: a rerun or a slider move updates their artists)."""
        self.status = W.HTML(value="<i>press Run</i>")
        self.errors = W.Output(layout=W.Layout(max_height="200px", overflow="auto"))
        self.slider = W.IntSlider(value=0, min=0, max=0, description="snapshot",
                                  continuous_update=False, layout=W.Layout(width="60%"))
        self.map_out = W.Output()
        self.panels_out = W.Output()      # swap, extfrag, stall, latency, THP: one figure
        self.table = W.HTML()
        self.cache: dict = {}
        self._last_workload = (None, None)
        self.result = None
        self.baseline = None
        self.baseline_label = ""
        self._hold_slider = False         # run() moves the slider, then redraws once
        # the map: [baseline, current]; the baseline's axes are hidden and the
        # figure narrowed while nothing is pinned
        self.map_fig, self.map_axes = plot.new_figure(2, figsize=_MAP_SIZE[True], **_MAP_ADJUST)
        self._map_pair = True
        self._map_layout(False)
        self._map_png = plot.BlitPNG(self.map_fig)
        self.panels_fig, self.panel_axes = plot.new_figure(5, figsize=(23, 3.1), **_PANELS_ADJUST)

    # -- link: what each control does -------------------------------------------------
    def _link(self, names):
        self.run_button.on_click(lambda _: self.run())
        self.pin_button.on_click(lambda _: self.pin())
        self.unpin_button.on_click(lambda _: self.unpin())
        self.slider.observe(self._on_slider, names="value")
        self.scenario.observe(lambda ch: setattr(self.scenario, "tooltip",
                                                 names.get(ch["new"], "")), names="value")

    def _on_slider(self, _change):
        if not self._hold_slider:
            self._draw_map(whole=False)

    # -- compose: the layout ----------------------------------------------------------
    def _compose(self):
        controls = W.VBox([
            W.HBox([W.VBox(self.patch_boxes), W.VBox([self.defrag_mode, self.scenario])]),
            W.HBox([self.mem, self.seed, self.duration]),
            W.HBox([self.run_button, self.pin_button, self.unpin_button, self.status]),
            self.errors])
        return W.VBox([
            controls,
            W.HBox([W.VBox([self.map_out, self.slider]), self.table]),
            self.panels_out])

    # -- configuration ----------------------------------------------------------------
    def patches(self) -> Patches:
        return Patches.parse([n for n, b in zip(PATCH_NUMBERS, self.patch_boxes) if b.value])

    def key(self) -> tuple:
        return (self.scenario.value, self.mem.value, int(self.seed.value),
                float(self.duration.value), int(self.defrag_mode.value),
                tuple(n for n, b in zip(PATCH_NUMBERS, self.patch_boxes) if b.value))

    def label(self, key=None) -> str:
        sc, mem, seed, dur, dm, pn = key or self.key()
        return (f"{sc} {mem} seed {seed} dm={dm} patches="
                f"{','.join(map(str, pn)) if pn else 'none'}")

    # -- actions ----------------------------------------------------------------------
    def run(self):
        """Run (or fetch from the cache) the current configuration and redraw."""
        key = self.key()
        self.errors.outputs = ()
        try:
            cfg = Config(mem=self.mem.value, seed=int(self.seed.value),
                         defrag_mode=int(self.defrag_mode.value), patches=self.patches())
        except ConfigError as e:
            self._error(str(e))
            return None
        if key in self.cache:
            self.result = self.cache[key]
            self._set_status(f"{self.label(key)}: cached result")
        elif self._simulate(key, cfg) is None:
            return None
        self._hold_slider = True
        try:
            self.slider.max = len(self.result.snapshots) - 1
            self.slider.value = self.slider.max
        finally:
            self._hold_slider = False
        self.redraw()
        return self.result

    def _simulate(self, key, cfg):
        """Run the model for ``key`` (status line with progress, errors shown
        in the widget); the result is cached.  None on an error."""
        first = not _compiled["done"]
        self._set_status("compiling the model (first run; minutes with an empty numba cache)..."
                         if first else f"running {self.label(key)} ...")
        self.run_button.disabled = True
        t0 = time.perf_counter()
        try:
            wl = self._workload(key, cfg)
            res = run_model(wl, cfg, on_progress=self._progress(key, wl, first))
        except Exception as e:            # shown in the widget, with the traceback
            self._error(f"{type(e).__name__}: {e}", tb=traceback.format_exc())
            return None
        finally:
            self.run_button.disabled = False
        _compiled["done"] = True
        self.cache[key] = self.result = res
        self._set_status(f"{self.label(key)}: {res.events_processed:,} ops, "
                         f"{res.duration_s:g} s simulated in {time.perf_counter() - t0:.2f} s")
        return res

    def _workload(self, key, cfg):
        """The op stream: it depends on the scenario, memory, seed and duration,
        not on defrag_mode or the patches, so toggling those reuses it (the
        last one is kept; run() only reads it)."""
        wkey = key[:4]
        if self._last_workload[0] != wkey:
            self._last_workload = (None, None)      # free the old one first
            wl = build_workload(self.scenario.value, cfg, duration=self.duration.value or None)
            self._last_workload = (wkey, wl)
        return self._last_workload[1]

    def _progress(self, key, wl, first):
        """The status line during a run: the share of the simulated time done,
        updated every 5% (each update is one message to the browser)."""
        shown = [-1]
        what = "compiling and running" if first else "running"

        def update(frac):
            pct = int(frac * 100) // 5 * 5
            if pct != shown[0]:
                shown[0] = pct
                self._set_status(f"{what} {self.label(key)}: {pct}% of "
                                 f"{wl.duration_ns / 1e9:g} s simulated ({len(wl):,} ops)")
        return update

    def pin(self):
        if self.result is None:
            self._error("nothing to pin yet: press Run first")
            return
        self.baseline = self.result
        self.baseline_label = self.label()
        self.unpin_button.disabled = False
        self.redraw()

    def unpin(self):
        self.baseline = None
        self.unpin_button.disabled = True
        self.redraw()

    # -- drawing: the figures' artists updated in place -------------------------------
    def redraw(self):
        if self.result is None:
            return
        self._draw_map()
        self._draw_panels()
        self.table.value = self.counters_html()

    def _draw_panels(self):
        """Swap activity, extfrag events by fallback pair, memory stall,
        allocation latency and THP faults, in one figure (one render per run);
        the pinned baseline is dashed where two results share a panel."""
        ax = self.panel_axes
        plot.plot_swap(self.result, ax=ax[0])
        plot.plot_extfrag(self.result, ax=ax[1])
        plot.plot_stall(self.result, ax=ax[2])
        plot.plot_latency(self.result, ax=ax[3], baseline=self.baseline)
        plot.plot_thp(self.result, ax=ax[4], baseline=self.baseline)
        _show_png(self.panels_out, plot.figure_png(self.panels_fig))

    def _draw_map(self, whole: bool = True):
        """The pageblock map at the slider's snapshot (beside the baseline's
        at the same index, when one is pinned).  ``whole=False`` (a slider
        move): only the images and titles are drawn again, over the rest of
        the last render, unless the legend changed."""
        if self.result is None:
            return
        i = min(self.slider.value, len(self.result.snapshots) - 1)
        base_ax, ax = self.map_axes
        legend = ax.get_legend()
        if self._map_layout(self.baseline is not None):
            whole = True
        if self.baseline is not None:
            plot.plot_pageblock_map(self.baseline, ax=base_ax, legend=False,
                                    snapshot=min(i, len(self.baseline.snapshots) - 1),
                                    title=f"baseline: {self.baseline_label}")
        plot.plot_pageblock_map(self.result, ax=ax, snapshot=i)
        if whole or ax.get_legend() is not legend:
            moving = plot.snapshot_artists(ax)
            if self.baseline is not None:         # its title names the baseline, not the time
                moving += plot.snapshot_artists(base_ax, title=False)
            png = self._map_png.whole(moving)
        else:
            png = self._map_png.moved()
        _show_png(self.map_out, png)

    def _map_layout(self, pair: bool) -> bool:
        """Show the baseline's map beside the current one, or the current
        alone; True when that changed the layout."""
        if pair == self._map_pair:
            return False
        self._map_pair = pair
        base_ax, ax = self.map_axes
        base_ax.set_visible(pair)
        self.map_fig.set_size_inches(*_MAP_SIZE[pair])
        ax.set_position(ax.get_subplotspec().get_position(self.map_fig) if pair else _MAP_ALONE)
        return True

    def counters_html(self) -> str:
        """The counters table (with the baseline and deltas when one is pinned)."""
        rows = self.result.metrics("explorer")
        base = self.baseline.metrics("explorer") if self.baseline is not None else None
        head = "<tr><th>counter</th>" + ("<th>baseline</th>" if base else "") + \
            "<th>current</th>" + ("<th>delta</th>" if base else "") + "</tr>"
        body = []
        for k, v in rows.items():
            cells = f"<td>{k}</td>"
            if base is not None:
                b = base.get(k, 0)
                d = v - b
                pct = f" ({100 * d / b:+.0f}%)" if b else ""
                cells += f"<td>{_fmt(b)}</td><td>{_fmt(v)}</td><td>{_fmt(d, sign=True)}{pct}</td>"
            else:
                cells += f"<td>{_fmt(v)}</td>"
            body.append(f"<tr>{cells}</tr>")
        title = (f"<b>{self.label()}</b>" + (f"<br>baseline: {self.baseline_label}" if base else ""))
        return (f"<div style='font-family:monospace;font-size:11px'>{title}"
                f"<table>{head}{''.join(body)}</table></div>")

    def _set_status(self, text):
        self.status.value = text

    def _error(self, msg, tb=None):
        self.status.value = f"<span style='color:#D55E00'><b>error:</b> {html.escape(msg)}</span>"
        if tb:
            with self.errors:
                print(tb)

    def _ipython_display_(self):
        display(self.layout)


def _size_key(s: str) -> float:
    return parse_size(s, name="memory")


def _fmt(v, sign=False) -> str:
    if isinstance(v, float) and not float(v).is_integer():
        return f"{v:+.3f}" if sign else f"{v:.3f}"
    return f"{int(v):+,}" if sign else f"{int(v):,}"
