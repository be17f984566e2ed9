"""The patch explorer: toggle the series' patches and rerun in a notebook.

``PatchExplorer()`` in a cell shows the whole app: one checkbox per patch
(labelled with its subject line), vm.defrag_mode, a scenario chooser (the
synthetic scenarios and the shipped real traces), memory size, seed and
duration, a Run button, a status line with the run's progress, and the plots
(pageblock map with a time slider, swap activity, extfrag events by fallback
pair, memory stall, allocation latency, THP faults) and a counters table.  "Pin as baseline" keeps the current result
beside the next ones (A/B) with deltas.  Results are cached by configuration,
so toggling back is instant.  Errors are shown in the widget, never swallowed.

Headless use (tests, notebooks in CI): set the widgets' values and call
``explorer.run_button.click()``; every output is an ``ipywidgets.Output``
holding PNG images, so a test can compare them before and after.
"""
from __future__ import annotations

import time
import traceback

import ipywidgets as W

from .config import PATCH_SUBJECTS, Config, ConfigError, Patches
from .workloads import list_scenarios

MEM_CHOICES = ["128M", "256M", "512M", "1G", "2G", "4G"]
_compiled = {"done": False}


def _png(fig) -> bytes:
    """Render with Agg and encode with a fast PNG setting (the explorer redraws
    on every run; savefig with tight bounding boxes costs twice as much)."""
    import io
    from PIL import Image
    fig.canvas.draw()
    w, h = fig.canvas.get_width_height(physical=True)
    buf = io.BytesIO()
    Image.frombuffer("RGBA", (w, h), fig.canvas.buffer_rgba()).save(buf, "png", compress_level=1)
    return buf.getvalue()


def _show(out: W.Output, fig) -> None:
    """Replace ``out``'s content by the figure as a PNG (no double display,
    and the same in a browser and headless)."""
    import base64
    import matplotlib.pyplot as plt
    data = _png(fig)
    plt.close(fig)
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"image/png": base64.b64encode(data).decode("ascii"),
                             "text/plain": "<figure>"}},)


class PatchExplorer:
    """See the module docstring.  Parameters set the initial widget values."""

    def __init__(self, scenario: str = "storm", *, mem: str = "512M", seed: int = 1,
                 duration: float | None = 20.0, defrag_mode: int = 1, patches="none",
                 run: bool = False):
        p = Patches.parse(patches)
        names = list_scenarios()
        if scenario not in names:
            raise ConfigError(f"explorer: unknown scenario {scenario!r}; known: {', '.join(names)}")
        self.patch_boxes = [
            W.Checkbox(value=n in p.numbers(),
                       description=f"{n}: {PATCH_SUBJECTS[n].split('] ', 1)[1]}",
                       indent=False, layout=W.Layout(width="auto"))
            for n in (1, 2, 3, 4)]
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
        self.run_button.on_click(lambda _: self.run())
        self.pin_button.on_click(lambda _: self.pin())
        self.unpin_button.on_click(lambda _: self.unpin())
        self.slider.observe(lambda ch: self._draw_map(), names="value")
        self.scenario.observe(lambda ch: setattr(self.scenario, "tooltip",
                                                 names.get(ch["new"], "")), names="value")
        controls = W.VBox([
            W.HBox([W.VBox(self.patch_boxes), W.VBox([self.defrag_mode, self.scenario])]),
            W.HBox([self.mem, self.seed, self.duration]),
            W.HBox([self.run_button, self.pin_button, self.unpin_button, self.status]),
            self.errors])
        self.layout = W.VBox([
            controls,
            W.HBox([W.VBox([self.map_out, self.slider]), self.table]),
            self.panels_out])
        if run:
            self.run()

    # -- configuration --------------------------------------------------------------
    def patches(self) -> Patches:
        return Patches.parse([n for n, b in zip((1, 2, 3, 4), self.patch_boxes) if b.value])

    def key(self) -> tuple:
        return (self.scenario.value, self.mem.value, int(self.seed.value),
                float(self.duration.value), int(self.defrag_mode.value),
                tuple(n for n, b in zip((1, 2, 3, 4), self.patch_boxes) if b.value))

    def label(self, key=None) -> str:
        sc, mem, seed, dur, dm, pn = key or self.key()
        return (f"{sc} {mem} seed {seed} dm={dm} patches="
                f"{','.join(map(str, pn)) if pn else 'none'}")

    # -- actions --------------------------------------------------------------------
    def run(self):
        """Run (or fetch from the cache) the current configuration and redraw."""
        from .sim import run
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
        else:
            first = not _compiled["done"]
            self._set_status("compiling the model (first run; minutes with an empty numba cache)..."
                             if first else f"running {self.label(key)} ...")
            self.run_button.disabled = True
            t0 = time.perf_counter()
            try:
                wl = self._workload(key, cfg)
                res = run(wl, cfg, on_progress=self._progress(key, wl, first))
            except Exception as e:            # shown in the widget, with the traceback
                self._error(f"{type(e).__name__}: {e}", tb=traceback.format_exc())
                return None
            finally:
                self.run_button.disabled = False
            _compiled["done"] = True
            self.cache[key] = res
            self.result = res
            self._set_status(f"{self.label(key)}: {res.events_processed:,} ops, "
                             f"{res.duration_s:g} s simulated in {time.perf_counter() - t0:.2f} s")
        self.slider.max = len(self.result.snapshots) - 1
        self.slider.value = self.slider.max
        self.redraw()
        return self.result

    def _workload(self, key, cfg):
        """The op stream: it depends on the scenario, memory, seed and duration,
        not on defrag_mode or the patches, so toggling those reuses it (the
        last one is kept; run() only reads it)."""
        from .workloads import build_workload
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

    # -- drawing --------------------------------------------------------------------
    def redraw(self):
        if self.result is None:
            return
        self._draw_map()
        self._draw_panels()
        self.table.value = self.counters_html()

    def _figure(self, w=6, h=4.6):
        import matplotlib.pyplot as plt
        with plt.ioff():
            return plt.subplots(figsize=(w, h), dpi=72)

    def _draw_panels(self):
        """Swap activity, extfrag events by fallback pair, memory stall,
        allocation latency and THP faults, in one figure (one render per run);
        the pinned baseline is dashed where two results share a panel."""
        import matplotlib.pyplot as plt
        from . import plot
        with plt.ioff():
            fig, axes = plt.subplots(1, 5, figsize=(23, 3.1), dpi=72)
        plot.plot_swap(self.result, ax=axes[0])
        plot.plot_extfrag(self.result, ax=axes[1])
        plot.plot_stall(self.result, ax=axes[2])
        plot.plot_latency(self.result, ax=axes[3], baseline=self.baseline)
        plot_thp(self.result, axes[4], baseline=self.baseline)
        fig.subplots_adjust(left=0.035, right=0.995, bottom=0.17, top=0.9, wspace=0.3)
        _show(self.panels_out, fig)

    def _draw_map(self):
        if self.result is None:
            return
        from . import plot
        i = min(self.slider.value, len(self.result.snapshots) - 1)
        if self.baseline is not None:
            fig, axes = self._figure_pair()
            plot.plot_pageblock_map(self.baseline, ax=axes[0], snapshot=min(
                i, len(self.baseline.snapshots) - 1), legend=False,
                title=f"baseline: {self.baseline_label}")
            plot.plot_pageblock_map(self.result, ax=axes[1], snapshot=i)
        else:
            fig, ax = self._figure()
            plot.plot_pageblock_map(self.result, ax=ax, snapshot=i)
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.22, top=0.92, wspace=0.25)
        _show(self.map_out, fig)

    def _figure_pair(self):
        import matplotlib.pyplot as plt
        with plt.ioff():
            return plt.subplots(1, 2, figsize=(10, 4.6), dpi=72)

    def counters_html(self) -> str:
        """The counters table (with the baseline and deltas when one is pinned)."""
        rows = _counters(self.result)
        base = _counters(self.baseline) if self.baseline is not None else None
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
        import html
        self.status.value = f"<span style='color:#D55E00'><b>error:</b> {html.escape(msg)}</span>"
        if tb:
            with self.errors:
                print(tb)

    def _ipython_display_(self):
        from IPython.display import display
        display(self.layout)


def _size_key(s: str) -> float:
    from .config import parse_size
    return parse_size(s, name="memory")


def _fmt(v, sign=False) -> str:
    if isinstance(v, float) and not float(v).is_integer():
        return f"{v:+.3f}" if sign else f"{v:.3f}"
    return f"{int(v):+,}" if sign else f"{int(v):,}"


def _counters(r) -> dict:
    from .analysis.compare import nonmovable
    v, d = r.vmstat, r.diagnostics
    ex = r.extfrag_summary()
    return {
        "pswpout": v["pswpout"], "pswpin": v["pswpin"],
        "pgsteal_kswapd": v["pgsteal_kswapd"], "pgsteal_direct": v["pgsteal_direct"],
        "allocstall_normal": v.get("allocstall_normal", 0),
        "compact_stall": v["compact_stall"], "compact_success": v["compact_success"],
        "thp_fault_alloc": v["thp_fault_alloc"], "thp_fault_fallback": v["thp_fault_fallback"],
        "extfrag events": ex["events"], "extfrag fragmenting": ex["fragmenting"],
        "reclaim retries (non-movable)": nonmovable(d, "reclaim_retries"),
        "stall s (non-movable)": round(nonmovable(d, "stall_s"), 4),
        "stall s (movable)": round(d["stall_s"]["movable"], 4),
        "oom_kill": v["oom_kill"], "nr_free_pages": v["nr_free_pages"],
    }


def plot_thp(result, ax=None, *, baseline=None):
    """THP faults over time: cumulative thp_fault_alloc and thp_fault_fallback
    (dashed: the pinned baseline)."""
    from .plot import _plt, title_for
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    for r, ls, tag in ((result, "-", ""), (baseline, "--", " (baseline)")):
        if r is None:
            continue
        ts = r.timeseries
        ax.plot(ts.index, ts["thp_fault_alloc"], ls=ls, color="#009E73",
                label=f"thp_fault_alloc{tag} ({int(ts['thp_fault_alloc'].iloc[-1]):,})")
        ax.plot(ts.index, ts["thp_fault_fallback"], ls=ls, color="#D55E00",
                label=f"thp_fault_fallback{tag} ({int(ts['thp_fault_fallback'].iloc[-1]):,})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("THP faults (cumulative)")
    ax.set_title(title_for(result, "THP faults"), fontsize=9)
    ax.legend(fontsize=7)
    return ax
