"""The patch explorer: toggle the series' patches and rerun in a notebook.

``PatchExplorer()`` in a cell shows the whole app: one checkbox per patch
(labelled with its subject line), vm.defrag_mode, a scenario chooser (the
synthetic scenarios and the shipped real traces), memory size, seed and
duration, a Run button, a status line with the run's progress, the
pageblock map with a time slider (seconds) beside the counters table, and
six panels in two columns (reclaim and swap, extfrag events by fallback
pair, memory stall, allocation latency, THP faults, pageblock types).  "Pin
as baseline" keeps the current result: its map is drawn beside the current
one, every panel overlays it dashed, the table shows deltas, and a pinned
run of another scenario or size is named in a red warning.  Results are
cached by configuration, so toggling back is instant.  Errors are shown in
the widget, never swallowed; a refused configuration (patch 4 without 3)
greys the plots out, which still show the last run, and says why.
"Copy table as text" shows the mail-ready table in a text box, "Save
figures" writes both figures as PNG (200 dpi) and SVG under ``out_dir``.

A real trace takes its memory size, sysctls and duration from the trace
and its snapshot (the memory box and "seconds" = 0 are set when the
scenario is chosen; a memory chosen afterwards scales the snapshot).

Importing this module is cheap: the simulator, the workloads and matplotlib
(about two seconds of imports, then minutes of compiling with an empty numba
cache) load on the first run, so the explorer and its status line show at
once.  The two figures are built on the first draw and then updated in
place (:mod:`defragsim.plot` draws on the same axes again).

Headless use (tests, notebooks in CI): set the widgets' values and call
``explorer.run_button.click()``; every output is an ``ipywidgets.Output``
holding PNG images, so a test can compare them before and after.
"""
from __future__ import annotations

import base64
import html
import io
import time
import traceback
from pathlib import Path

import ipywidgets as W
from IPython.display import display

from .config import PATCH_SUBJECTS, Config, ConfigError, Patches, format_size, parse_size
from .provenance import __version__, model_cache_cold, model_hash_short

MEM_CHOICES = ["128M", "256M", "512M", "1G", "2G", "4G"]
PATCH_NUMBERS = (1, 2, 3, 4)
#: the figures' resolution and their smallest font: 7 pt at 100 dpi is 9.7
#: px, 9 px or more while the browser shows the figure at 93% of its size or
#: more (a 1440x900 JupyterLab shows the 1020-pixel panels whole)
FIGURE_DPI = 100
MIN_FONT_PT = 7
#: what the status line says before and during a run that compiles the model
COMPILING = "compiling the model (first run only, about a minute)"
#: a generated workload of at most this many ops is kept whole between reruns
#: (about 1 GB at 4G, the largest memory the explorer offers)
EXPLORER_WHOLE_OPS = 30_000_000
_compiled = {"done": False}

#: the map figure: (width, height) in inches with and without a pinned
#: baseline beside the current map, and its subplot parameters
_MAP_SIZE = {True: (10.2, 4.8), False: (6.2, 4.8)}
_MAP_ADJUST = dict(left=0.14, right=0.88, bottom=0.25, top=0.9, wspace=0.55)
_MAP_ALONE = [0.16, 0.25, 0.66, 0.65]
#: the panels: two columns, three rows, legends right of each panel
_PANELS_SIZE = (10.2, 8.4)
_PANELS_ADJUST = dict(left=0.07, right=0.84, bottom=0.07, top=0.92, wspace=0.68, hspace=0.55)
_SAVE_DPI = 200
_RIGHT = "style='text-align:right;padding-left:1em'"


def _import_face():
    """The plot module, the simulator's run() and the workloads' builders,
    imported on the first run (see the module docstring)."""
    # lazily: numba, pandas, pyplot and the kernel mirror take seconds to import
    from . import plot
    from .sim import run as run_model  # lazily, as above
    from .workloads import build_workload, list_scenarios, load_scenario  # lazily, as above
    from .workloads.snapshot import Snapshot, find_snapshot  # lazily, as above
    return dict(plot=plot, run=run_model, build_workload=build_workload,
                list_scenarios=list_scenarios, load_scenario=load_scenario,
                Snapshot=Snapshot, find_snapshot=find_snapshot)


_FACE: dict = {}


def _face(name):
    if not _FACE:
        _FACE.update(_import_face())
    return _FACE[name]


def scenario_names() -> list[str]:
    """The shipped scenarios' names, from the files in ``data/scenarios`` as
    :func:`defragsim.workloads.scenarios.scenario_dir` finds them (listing
    them through the workloads package would import numba and pandas before
    the explorer could show)."""
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "data" / "scenarios", here / "data" / "scenarios"):
        if cand.is_dir():
            return sorted(p.stem for p in cand.iterdir() if p.suffix in (".toml", ".yaml", ".yml"))
    return []


def _show_png(out: W.Output, png: bytes) -> None:
    """Replace ``out``'s content by a PNG image (no double display, and the
    same in a browser and headless)."""
    data = base64.b64encode(png).decode("ascii")
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"image/png": data, "text/plain": "<figure>"}},)


def _greyed(png: bytes) -> bytes:
    """``png`` in light grey (the plots of a configuration not shown any more)."""
    from PIL import Image  # lazily: only a refused configuration needs it
    img = Image.open(io.BytesIO(png)).convert("L").point(lambda v: 150 + v * 105 // 255)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "png", compress_level=1)
    return buf.getvalue()


def _png_of(out: W.Output) -> bytes | None:
    if not out.outputs:
        return None
    return base64.b64decode(out.outputs[0]["data"]["image/png"])


class PatchExplorer:
    """See the module docstring.  Parameters set the initial widget values;
    ``out_dir``: where "Save figures" writes.  The default seed, 7, is one
    whose storm run storms at 512M/20s (the storm's onset is random: seeds
    3, 7, 11, 12 and 18 of 1-20, tests/storm_seeds.py)."""

    def __init__(self, scenario: str = "storm", *, mem: str = "512M", seed: int = 7,
                 duration: float | None = 20.0, defrag_mode: int = 1, patches="none",
                 run: bool = False, out_dir="out/explorer"):
        names = scenario_names()
        if scenario not in names:
            raise ConfigError(f"explorer: unknown scenario {scenario!r}; known: {', '.join(names)}")
        if isinstance(defrag_mode, bool) or defrag_mode not in (0, 1):   # not a traitlets TraitError
            raise ConfigError(f"explorer: defrag_mode: must be 0 or 1, got {defrag_mode!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise ConfigError(f"explorer: seed: must be an integer in 0..{2**31 - 1}, got {seed!r}")
        if duration is not None and not (isinstance(duration, (int, float)) and 0 <= duration <= 3600):
            raise ConfigError(f"explorer: duration: must be 0..3600 seconds, got {duration!r}")
        parse_size(mem, name="explorer: mem")
        self.out_dir = Path(out_dir)
        self._build_controls(names, scenario, mem, seed, duration, defrag_mode, Patches.parse(patches))
        self._build_outputs()
        self._link()
        self.layout = self._compose()
        if run:
            self.run()

    # -- build: the widgets and the state (the figures come with the first draw) -----
    def _build_controls(self, names, scenario, mem, seed, duration, defrag_mode, patches):
        self.patch_boxes = [
            W.Checkbox(value=n in patches.numbers(),
                       description=f"{n}: {PATCH_SUBJECTS[n].split('] ', 1)[1]}",
                       indent=False, layout=W.Layout(width="auto"))
            for n in PATCH_NUMBERS]
        self.defrag_mode = W.ToggleButtons(options=[("defrag_mode=0", 0), ("defrag_mode=1", 1)],
                                           value=defrag_mode, style={"button_width": "130px"})
        self.scenario = W.Dropdown(options=list(names), value=scenario, description="scenario")
        self.mem = W.Dropdown(options=sorted(set(MEM_CHOICES) | {mem}, key=_size_key), value=mem,
                              description="memory")
        self.seed = W.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed")
        self.duration = W.BoundedFloatText(value=duration or 0.0, min=0.0, max=3600.0,
                                           description="seconds", tooltip="0 = the scenario's own")
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.pin_button = W.Button(description="Pin as baseline", icon="thumb-tack")
        self.unpin_button = W.Button(description="Unpin", disabled=True)
        self.copy_button = W.Button(description="Copy table as text", icon="clipboard",
                                    disabled=True)
        self.save_button = W.Button(description="Save figures", icon="save", disabled=True)

    def _build_outputs(self):
        """The status line, outputs, slider and state."""
        cold = model_cache_cold()
        self.status = W.HTML(value=f"<i>press Run{' (' + COMPILING + ')' if cold else ''}</i>")
        self.errors = W.Output(layout=W.Layout(max_height="200px", overflow="auto"))
        self.slider = W.IntSlider(value=0, min=0, max=0, description="time", readout=False,
                                  continuous_update=False, layout=W.Layout(width="320px"))
        self.slider_label = W.Label(value="")
        self.map_out = W.Output()
        self.panels_out = W.Output()
        self.table = W.HTML(layout=W.Layout(min_width="330px", flex="1 1 330px"))
        self.text_out = W.Textarea(layout=W.Layout(width="100%", height="260px", display="none"))
        self.cache: dict = {}
        self._last_workload = (None, None)
        self._trace_sized: dict = {}       # trace scenario -> its Config overrides (once sized)
        self.result = None
        self.result_key = None
        self.baseline = None
        self.baseline_key = None
        self.baseline_label = ""
        self.stale = ""                    # why the plots show another configuration
        self._hold_slider = False          # run() moves the slider, then redraws once
        self.map_fig = self.panels_fig = None

    def _build_figures(self):
        """The two figures, built once on the first draw: the maps [baseline,
        current] (the baseline's axes hidden and the figure narrowed while
        nothing is pinned) and the six panels."""
        plot = _face("plot")
        self.map_fig, self.map_axes = plot.new_figure(2, figsize=_MAP_SIZE[True], dpi=FIGURE_DPI,
                                                      **_MAP_ADJUST)
        self._map_pair = True
        self._map_layout(False)
        self._map_png = plot.BlitPNG(self.map_fig)
        self._map_limits = None          # the map axes' limits at the last whole render
        self.panels_fig, self.panel_axes = plot.new_figure(2, nrows=3, figsize=_PANELS_SIZE,
                                                           dpi=FIGURE_DPI, **_PANELS_ADJUST)

    # -- link: what each control does -------------------------------------------------
    def _link(self):
        self.run_button.on_click(lambda _: self.run())
        self.pin_button.on_click(lambda _: self.pin())
        self.unpin_button.on_click(lambda _: self.unpin())
        self.copy_button.on_click(lambda _: self.copy_table())
        self.save_button.on_click(lambda _: self.save_figures())
        self.slider.observe(self._on_slider, names="value")
        self.scenario.observe(self._on_scenario, names="value")

    def _on_slider(self, _change):
        self._slider_text()
        if not self._hold_slider:
            self._draw_map(whole=False)

    def _on_scenario(self, change):
        """A newly chosen scenario: its description as the tooltip, and a real
        trace's memory and duration from the trace and its snapshot."""
        try:
            self.scenario.tooltip = _face("list_scenarios")().get(change["new"], "")
            self._size_trace(change["new"], force=True)
        except Exception as e:            # shown in the widget, with the traceback
            self._error(f"{type(e).__name__}: {e}", tb=traceback.format_exc())

    # -- compose: the layout ----------------------------------------------------------
    def _compose(self):
        controls = W.VBox([
            W.HBox([W.VBox(self.patch_boxes), W.VBox([self.defrag_mode, self.scenario])]),
            W.HBox([self.mem, self.seed, self.duration]),
            W.HBox([self.run_button, self.pin_button, self.unpin_button, self.copy_button,
                    self.save_button]),
            self.status, self.errors])
        # the map's column as wide as the map (an Output would take the whole row
        # and push the table under it); the table beside, or under when too narrow
        self.map_column = W.VBox([self.map_out, W.HBox([self.slider, self.slider_label])],
                                 layout=W.Layout(width=_map_width(False), flex="0 0 auto"))
        top = W.HBox([self.map_column, self.table],
                     layout=W.Layout(flex_flow="row wrap", align_items="flex-start"))
        return W.VBox([controls, top, self.panels_out, self.text_out])

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

    def _size_trace(self, name: str, *, force: bool = False) -> dict:
        """A trace scenario's Config overrides from its snapshot (sysctls,
        swap); the memory box set to the traced machine's and "seconds" to 0
        (the whole trace) when the scenario is chosen (``force``) or first
        run.  {} for a synthetic scenario or a trace without a snapshot."""
        if name in self._trace_sized and not force:
            return self._trace_sized[name]
        sc = _face("load_scenario")(name)
        over = {}
        if sc.kind == "trace" and sc.params.get("init", "auto") == "auto":
            d = _face("find_snapshot")(sc.params["trace"])
            if d is not None:
                over = _face("Snapshot").load(d).config_overrides()
                over.pop("defrag_mode", None)
                mem = format_size(Config(mem=over.pop("mem")).mem)
                if mem not in self.mem.options:
                    self.mem.options = sorted(set(self.mem.options) | {mem}, key=_size_key)
                self.mem.value = mem
                self.duration.value = 0.0
                self._set_status(f"{name}: memory ({mem}), sysctls and duration from the trace "
                                 "and its snapshot; press Run")
        self._trace_sized[name] = over
        return over

    def _config(self) -> Config:
        """The Config of the controls (ConfigError when the kernel cannot have it)."""
        return Config(mem=self.mem.value, seed=int(self.seed.value),
                      defrag_mode=int(self.defrag_mode.value), patches=self.patches())

    # -- actions ----------------------------------------------------------------------
    def run(self):
        """Run (or fetch from the cache) the current configuration and redraw."""
        self.errors.outputs = ()
        try:
            cfg = self._config()
        except ConfigError as e:
            self._refuse(str(e))
            return None
        if not _FACE:
            self._set_status(f"{COMPILING}..." if model_cache_cold() else "loading the model...")
        over = self._size_trace(self.scenario.value)
        key = self.key()
        if over:
            cfg = Config(**{**over, "mem": self.mem.value, "seed": cfg.seed,
                            "defrag_mode": cfg.defrag_mode, "patches": cfg.patches})
        if key in self.cache:
            self.result = self.cache[key]
            self._set_status(f"{self.label(key)}: cached result")
        elif self._simulate(key, cfg) is None:
            return None
        self.result_key, self.stale = key, ""
        self._hold_slider = True
        try:
            self.slider.max = len(self.result.snapshots) - 1
            self.slider.value = self.slider.max
        finally:
            self._hold_slider = False
        self._slider_text()
        self.redraw()
        self._warn_baseline()
        return self.result

    def _simulate(self, key, cfg):
        """Run the model for ``key`` (status line with progress, errors shown
        in the widget); the result is cached.  None on an error."""
        first = not _compiled["done"]
        if first:
            self._set_status(f"{COMPILING}..." if model_cache_cold() else "loading the model...")
        else:
            self._set_status(f"running {self.label(key)} ...")
        self.run_button.disabled = True
        t0 = time.perf_counter()
        try:
            wl = self._workload(key, cfg)
            res = _face("run")(wl, cfg, on_progress=self._progress(key, wl, first))
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
            wl = _face("build_workload")(self.scenario.value, cfg,
                                         duration=self.duration.value or None)
            if getattr(wl, "is_stream", False) and wl.estimated_ops <= EXPLORER_WHOLE_OPS:
                # generated once and kept whole: a rerun after a toggle runs
                # the model only (the same ops, the same result)
                wl = wl.materialize()
            self._last_workload = (wkey, wl)
        return self._last_workload[1]

    def _progress(self, key, wl, first):
        """The status line during a run: the share of the simulated time done,
        updated every 5% (each update is one message to the browser)."""
        shown = [-1]
        # a stream kept as a stream (too large to keep whole) says its estimate
        nops = f"~{wl.estimated_ops:,.0f}" if getattr(wl, "is_stream", False) else f"{len(wl):,}"
        what = "compiling and running" if first and model_cache_cold() else "running"

        def update(frac):
            pct = int(frac * 100) // 5 * 5
            if pct != shown[0]:
                shown[0] = pct
                self._set_status(f"{what} {self.label(key)}: {pct}% of "
                                 f"{wl.duration_ns / 1e9:g} s simulated ({nops} ops)")
        return update

    def _refuse(self, why: str) -> None:
        """A configuration the kernel cannot have: the plots and the table
        still show the last run, greyed out, and the status line says why."""
        self._error(f"refused: {why}")
        if self.result is None:
            return
        self.stale = f"greyed: the plots and table still show the last run, {self.label(self.result_key)}"
        self.status.value += f"<br><span style='color:#555'>{html.escape(self.stale)}</span>"
        for out in (self.map_out, self.panels_out):
            png = _png_of(out)
            if png is not None:
                _show_png(out, _greyed(png))
        self.table.value = self.counters_html()

    def pin(self):
        if self.result is None:
            self._error("nothing to pin yet: press Run first")
            return
        self.baseline = self.result
        self.baseline_key = self.result_key
        self.baseline_label = self.label(self.result_key)
        self.unpin_button.disabled = False
        self.redraw()

    def unpin(self):
        self.baseline = None
        self.baseline_key = None
        self.unpin_button.disabled = True
        self.redraw()

    def baseline_warning(self) -> str:
        """Why the pinned baseline does not compare like with like: another
        scenario, memory size or duration ("" when it does)."""
        if self.baseline is None or self.result is None:
            return ""
        b, c = self.baseline, self.result
        diff = [f"{what} {x} against {y}" for what, x, y in (
            ("scenario", b.scenario, c.scenario),
            ("memory", format_size(b.config.mem), format_size(c.config.mem)),
            ("duration", f"{b.duration_s:g} s", f"{c.duration_s:g} s")) if x != y]
        if not diff:
            return ""
        return "the pinned baseline is another run (" + "; ".join(diff) + "): overlaid for shape only"

    def _warn_baseline(self) -> None:
        warning = self.baseline_warning()
        if warning:
            self.status.value += (f"<br><span style='color:#D55E00'><b>warning:</b> "
                                  f"{html.escape(warning)}</span>")

    # -- export ------------------------------------------------------------------------
    def table_text(self) -> str:
        """The counters table as plain text for a mail (under 80 columns), with
        the configuration, the baseline and what produced it."""
        rows = self.result.metrics("explorer")
        base = self.baseline.metrics("explorer") if self.baseline is not None else None
        kernel = getattr(self.result.config, "kernel", "mm-2026")
        out = [f"defragsim explorer: {self.label(self.result_key)}, "
               f"{self.result.duration_s:g} s simulated",
               f"kernel baseline {kernel} | defragsim {__version__} | model {model_hash_short()}"]
        if base is not None:
            out.append(f"baseline: {self.baseline_label}")
            warning = self.baseline_warning()
            if warning:
                out.append(f"warning: {warning}")
        out.append("")
        head = ["counter", "baseline", "current", "delta"] if base is not None else \
            ["counter", "value"]
        out.append(f"{head[0]:<30}" + "".join(f"{h:>15}" for h in head[1:]))
        for k, v in rows.items():
            if base is None:
                out.append(f"{k:<30}{_fmt(v):>15}")
                continue
            b = base.get(k, 0)
            out.append(f"{k:<30}{_fmt(b):>15}{_fmt(v):>15}{_delta(b, v):>15}")
        return "\n".join(out) + "\n"

    def copy_table(self) -> str:
        """Show the text table in the text box (select all and copy)."""
        if self.result is None:
            self._error("nothing to copy yet: press Run first")
            return ""
        self.text_out.value = self.table_text()
        self.text_out.layout.display = None
        self._set_status("the table as text is in the box below the plots: select all, copy")
        return self.text_out.value

    def save_figures(self) -> list[str]:
        """Both figures as PNG (200 dpi) and SVG under ``out_dir``; the status
        line names the files."""
        if self.result is None:
            self._error("nothing to save yet: press Run first")
            return []
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_"
                       for ch in self.label(self.result_key).replace(" ", "_"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for name, fig in (("map", self.map_fig), ("panels", self.panels_fig)):
            for fmt in ("png", "svg"):
                path = self.out_dir / f"{safe}-{name}.{fmt}"
                fig.savefig(path, dpi=_SAVE_DPI if fmt == "png" else FIGURE_DPI)
                files.append(str(path))
        self._map_png = _face("plot").BlitPNG(self.map_fig)   # the saves drew at other sizes
        self._map_limits = None
        self._set_status("saved " + ", ".join(files))
        return files

    # -- drawing: the figures' artists updated in place -------------------------------
    def redraw(self):
        if self.result is None:
            return
        if self.map_fig is None:
            self._build_figures()
        # a rerun changes the map's picture, titles and caption: drawn over the
        # kept rest of the last render unless the axes or the legend changed
        self._draw_map(whole=False)
        self._draw_panels()
        self.table.value = self.counters_html()
        self.copy_button.disabled = self.save_button.disabled = False
        if self.text_out.layout.display is None:
            self.text_out.value = self.table_text()

    def _draw_panels(self):
        """Reclaim and swap, extfrag events by fallback pair, memory stall,
        allocation latency, THP faults and pageblock types in one figure (one
        render per run); the pinned baseline is dashed in each (the block
        types excepted), and named in red when it is another scenario or size."""
        plot, ax, base = _face("plot"), self.panel_axes, self.baseline
        plot.plot_swap(self.result, ax=ax[0], baseline=base)
        plot.plot_extfrag(self.result, ax=ax[1], baseline=base)
        plot.plot_stall(self.result, ax=ax[2], baseline=base)
        plot.plot_latency(self.result, ax=ax[3], baseline=base)
        plot.plot_thp(self.result, ax=ax[4], baseline=base)
        plot.plot_blocks_over_time(self.result, ax=ax[5])
        for a in ax:
            a.set_title(a.get_title().split(":")[0], fontsize=9)
        warning = self.baseline_warning()
        head = f"{self.label(self.result_key)}" + (f"   |   dashed: baseline {self.baseline_label}"
                                                   if base is not None else "")
        self.panels_fig.suptitle(head + (f"\nwarning: {warning}" if warning else ""), fontsize=8,
                                 color="#D55E00" if warning else "black")
        plot.add_caption(self.panels_fig, plot.caption_text(self.result))
        _show_png(self.panels_out, plot.figure_png(self.panels_fig))

    def _draw_map(self, whole: bool = True):
        """The pageblock map at the slider's time (beside the baseline's at
        the same snapshot, when one is pinned).  ``whole=False`` (a slider
        move, a rerun): only the images, marks, titles and caption are drawn
        again, over the rest of the last render, unless the legend or the
        axes' limits (another memory size) changed."""
        if self.result is None or self.map_fig is None:
            return
        plot = _face("plot")
        i = min(self.slider.value, len(self.result.snapshots) - 1)
        base_ax, ax = self.map_axes
        legend = ax.get_legend()
        if self._map_layout(self.baseline is not None):
            whole = True
        if self.baseline is not None:
            j = min(i, len(self.baseline.snapshots) - 1)
            plot.plot_pageblock_map(self.baseline, ax=base_ax, legend=False, snapshot=j,
                                    title=f"baseline at t={self.baseline.snapshots[j].t:.1f} s:\n"
                                          f"{self.baseline_label}")
        t = self.result.snapshots[i].t
        plot.plot_pageblock_map(self.result, ax=ax, snapshot=i,
                                title=f"at t={t:.1f} s:\n{self.label(self.result_key)}")
        caption = plot.add_caption(self.map_fig, plot.caption_text(self.result))
        limits = tuple(a.get_xlim() + a.get_ylim() for a in self.map_axes)
        if whole or ax.get_legend() is not legend or limits != self._map_limits:
            self._map_limits = limits
            moving = plot.snapshot_artists(ax) + [caption]
            if self.baseline is not None:
                moving += plot.snapshot_artists(base_ax)
            png = self._map_png.whole(moving)
        else:
            png = self._map_png.moved()
        _show_png(self.map_out, png)

    def _slider_text(self):
        if self.result is None:
            return
        snaps = self.result.snapshots
        t = snaps[min(self.slider.value, len(snaps) - 1)].t
        self.slider_label.value = f"t = {t:.1f} s of {self.result.duration_s:g} s"

    def _map_layout(self, pair: bool) -> bool:
        """Show the baseline's map beside the current one, or the current
        alone; True when that changed the layout."""
        if pair == self._map_pair:
            return False
        self._map_pair = pair
        base_ax, ax = self.map_axes
        base_ax.set_visible(pair)
        sec = getattr(base_ax, "_defragsim_gib", None)
        if sec is not None:
            sec.set_visible(pair)
        self.map_fig.set_size_inches(*_MAP_SIZE[pair])
        self.map_column.layout.width = _map_width(pair)
        ax.set_position(ax.get_subplotspec().get_position(self.map_fig) if pair else _MAP_ALONE)
        return True

    def counters_html(self) -> str:
        """The counters table (with the baseline and deltas when one is
        pinned; greyed with the reason when the plots are stale)."""
        rows = self.result.metrics("explorer")
        base = self.baseline.metrics("explorer") if self.baseline is not None else None
        head = "<tr><th>counter</th>" + ("<th>baseline</th>" if base else "") + \
            "<th>current</th>" + ("<th>delta</th>" if base else "") + "</tr>"
        body = []
        for k, v in rows.items():
            cells = f"<td>{k}</td>"
            if base is not None:
                b = base.get(k, 0)
                cells += "".join(f"<td {_RIGHT}>{x}</td>" for x in (_fmt(b), _fmt(v), _delta(b, v)))
            else:
                cells += f"<td {_RIGHT}>{_fmt(v)}</td>"
            body.append(f"<tr>{cells}</tr>")
        title = (f"<b>{html.escape(self.label(self.result_key))}</b>"
                 + (f"<br>baseline: {html.escape(self.baseline_label)}" if base else ""))
        style = "font-family:monospace;font-size:12px" + (";opacity:0.4" if self.stale else "")
        note = (f"<div style='color:#D55E00;font-size:12px'>{html.escape(self.stale)}</div>"
                if self.stale else "")
        return f"{note}<div style='{style}'>{title}<table>{head}{''.join(body)}</table></div>"

    def _set_status(self, text):
        self.status.value = text

    def _error(self, msg, tb=None):
        self.status.value = f"<span style='color:#D55E00'><b>error:</b> {html.escape(msg)}</span>"
        if tb:
            with self.errors:
                print(tb)

    def _ipython_display_(self):
        display(self.layout)


def _map_width(pair: bool) -> str:
    """The CSS width of the map's column: the map figure's, in pixels."""
    return f"{round(_MAP_SIZE[pair][0] * FIGURE_DPI) + 10}px"


def _size_key(s: str) -> float:
    return parse_size(s, name="memory")


def _fmt(v, sign=False) -> str:
    if isinstance(v, float) and not float(v).is_integer():
        return f"{v:+.3f}" if sign else f"{v:.3f}"
    return f"{int(v):+,}" if sign else f"{int(v):,}"


def _delta(b, v) -> str:
    """``+1,234 (+12%)``; ``new`` against a zero baseline."""
    d = v - b
    if b == 0:
        return "=" if d == 0 else f"{_fmt(d, sign=True)} (new)"
    pct = 100 * d / abs(b)
    return f"{_fmt(d, sign=True)} ({pct:+.0f}%)" if abs(pct) < 1000 else _fmt(d, sign=True)
