"""Run a workload through the model: the Python driver loop.

``run(workload, config)`` boots a node (:func:`~defragsim.mm.state.make_state`),
then feeds the op stream to the jitted :func:`~defragsim.mm.driver.step_chunk`
in chunks cut at sample times.  A :class:`~defragsim.sim.recorder.RunRecorder`
records after each chunk; the :class:`~defragsim.sim.result.Result` is built
once, at the end.  Data flows one way: the Workload is read, never written.
"""
from __future__ import annotations

import time

import numpy as np

from .. import constants as C
from .._jit import JIT_DISABLED, as_python_arrays
from ..config import Config, ConfigError
from ..mm.driver import step_chunk
from ..mm.invariants import check_state
from ..mm.page_alloc import drain_all_pages
from ..mm.state import NODE_SWAP_TOTAL, make_owners, make_state, state_nbytes
from ..workloads import Workload, build_workload
from .oomd import PressureGuard
from .recorder import TS_COLUMNS, RunRecorder, _vmstat
from .result import Result


def _workload_of(workload, config, duration) -> Workload:
    if isinstance(workload, Workload):
        if duration is not None:
            raise ConfigError("duration: cannot override the duration of a prebuilt Workload")
        wl = workload
    else:
        wl = build_workload(workload, config, duration=duration)
    wl.validate(config.nr_cpus)
    return wl


def _check_run(wl: Workload, config, snapshots, baseline_ops) -> int:
    """Refuse what cannot run; the number of initial-state ops."""
    if not isinstance(snapshots, int) or isinstance(snapshots, bool) or snapshots < 1:
        raise ConfigError(f"snapshots: expected a positive integer, got {snapshots!r}")
    bt = wl.meta.get("initial_block_mt")
    if bt is not None and len(bt) != config.nr_pageblocks:
        raise ConfigError(f"workload {wl.name}: initial pageblock types for {len(bt)} blocks, "
                          f"the config has {config.nr_pageblocks}")
    if baseline_ops is None:
        baseline_ops = int(wl.meta.get("baseline_ops", 0))
    if baseline_ops and (not (0 < baseline_ops <= len(wl)) or wl.t[baseline_ops - 1] != 0):
        raise ConfigError(f"baseline_ops: {baseline_ops} must count ops at t=0 of the workload")
    return baseline_ops


def _sample_times(wl: Workload, sample_interval) -> tuple[int, np.ndarray]:
    """The run's end (ns) and the sample times (ns) that cut it into chunks."""
    dur_ns = max(int(wl.duration_ns), int(wl.t[-1]) if len(wl) else 0, 1)
    if sample_interval is None:
        sample_ns = max(dur_ns // 200, 1)
    else:
        if not sample_interval > 0:
            raise ConfigError(f"sample_interval: must be positive, got {sample_interval!r}")
        sample_ns = max(int(sample_interval * 1e9), 1)
    return dur_ns, np.arange(sample_ns, dur_ns + sample_ns, sample_ns, dtype=np.int64)


def run(workload, config: Config | None = None, *, duration: float | None = None,
        sample_interval: float | None = None, snapshots: int = 20,
        check_invariants: bool = False, progress: bool = False,
        baseline_ops: int | None = None, on_progress=None) -> Result:
    """Run a workload through the model.

    Parameters
    ----------
    workload : str or Workload
        A scenario name (``"steady"``), a scenario file path, or a Workload.
    config : Config, optional
        Machine, sysctls and patches; default ``Config()``.
    duration : float, optional
        Override the scenario's simulated seconds.
    sample_interval : float, optional
        Seconds between time-series rows (default: duration / 200).
    snapshots : int
        Pageblock-map snapshots over the run (the final state is always one).
    check_invariants : bool
        Run :func:`~defragsim.invariants.check_state` after every chunk.
    progress : bool
        Show a tqdm bar.
    on_progress : callable, optional
        Called with the fraction of the simulated time done (0..1] after each
        time-series row (the patch explorer's status line).
    baseline_ops : int
        The first ``baseline_ops`` ops (all at t=0) build the initial state (a
        replay's prefill): they run before the first sample, row 0 of the time
        series and snapshot 0 show the state after them, and
        ``result.meta["baseline_vmstat"]`` holds /proc/vmstat at that point.
        The workload is only read, never written.

    Returns
    -------
    Result

    Examples
    --------
    >>> from defragsim import run, Config
    >>> r = run("steady", Config(mem="256M", defrag_mode=1), duration=1.0)
    >>> r.vmstat["nr_free_pages"] > 0
    True
    """
    t_start = time.perf_counter()
    if config is None:
        config = Config()
    if not isinstance(config, Config):
        raise ConfigError(f"config: expected a defragsim Config, got {type(config).__name__}")
    wl = _workload_of(workload, config, duration)
    baseline_ops = _check_run(wl, config, snapshots, baseline_ops)
    dur_ns, bounds = _sample_times(wl, sample_interval)
    st = make_state(config, block_types=wl.meta.get("initial_block_mt"))
    prm = config.to_params()
    own = make_owners(wl.nr_handles, *wl.owners())
    swap_bytes = config.swap if config.swap is not None else (wl.swap or 0)
    st.node[NODE_SWAP_TOTAL] = int(swap_bytes) // C.PAGE_SIZE
    rec = RunRecorder(st, prm, config, bounds.shape[0])
    ops = (wl.t, wl.kind, wl.order, wl.gfp, wl.handle, wl.cpu, wl.content)
    if JIT_DISABLED:
        st, own, ring, ops = (as_python_arrays(x) for x in (st, own, rec.rec, ops))
        rec.use_arrays(st, ring)
    loop = _Loop(st, prm, own, ops, rec, config, check_invariants)
    meta = dict(wl.meta)
    if baseline_ops:
        meta["baseline_vmstat"] = loop.prefill(baseline_ops)
    loop.run(wl, bounds, dur_ns, snapshots=snapshots, progress=progress, on_progress=on_progress)
    return Result(
        config=config, scenario=wl.name, duration_s=dur_ns / 1e9, **rec.frames(),
        **rec.final_counters(), snapshots=rec.snaps, events_processed=int(len(wl)),
        elapsed_s=time.perf_counter() - t_start, zone_names=list(C.ZONE_NAMES),
        zone_spans=config.zone_spans(), watermarks=st.watermark.copy(),
        nr_free_mt=st.nr_free_mt.copy(), state_bytes=state_nbytes(st), meta=meta,
        latency_hist=st.lat_hist.copy(), compaction_events_lost=int(st.cev_count[1]),
        kernel_s=loop.kernel_s,
    )


class _Loop:
    """The chunk loop: ops to the kernels up to each sample time, the recorder after."""

    def __init__(self, st, prm, own, ops, rec: RunRecorder, config, check_invariants: bool):
        self.st, self.prm, self.own, self.ops, self.rec = st, prm, own, ops, rec
        self.config, self.check = config, check_invariants
        self.pos = 0
        self.kernel_s = 0.0          # wall seconds inside the jitted kernels
        self.guard = PressureGuard(config.oomd, TS_COLUMNS, config.nr_cpus) \
            if config.oomd is not None else None
        if check_invariants:
            check_state(st, prm)

    def step(self, end: int) -> None:
        t = time.perf_counter()
        self.pos = step_chunk(self.st, self.prm, self.rec.rec, self.own, *self.ops, self.pos, end,
                              self.rec.event_limit)
        self.kernel_s += time.perf_counter() - t

    def prefill(self, baseline_ops: int) -> dict:
        """Run the initial-state ops (all at t=0); /proc/vmstat after them."""
        while self.pos < baseline_ops:
            self.step(baseline_ops)
            self.rec.flush()
        # MODEL: the initial state is built with the per-cpu lists drained, so
        # its free chunks sit in the buddy lists (where /proc/buddyinfo sees them)
        getattr(drain_all_pages, "impl", drain_all_pages)(self.st, self.prm, np.int64(-1))
        if self.check:
            check_state(self.st, self.prm)
        return _vmstat(self.st, self.config)

    def run(self, wl: Workload, bounds, dur_ns: int, *, snapshots: int, progress: bool,
            on_progress) -> None:
        rec = self.rec
        nsamples = bounds.shape[0]
        rec.row(0, 0.0)
        rec.snapshot(0.0)
        bar = _progress_bar(len(wl), wl.name) if progress else None
        cut = np.searchsorted(wl.t, bounds, side="right")
        snap_every = max(nsamples // snapshots, 1)
        for s in range(nsamples):
            end = int(cut[s])
            while self.pos < end:
                self.step(end)
                if rec.rings_full():
                    # account the events in this row's running totals, then flush
                    rec.row(s + 1, bounds[s] / 1e9)
                    rec.flush()
            if self.check:
                check_state(self.st, self.prm)
            t_s = min(bounds[s], dur_ns) / 1e9
            rec.row(s + 1, t_s)
            rec.flush()
            if self.guard is not None:
                self.guard.check(self.st, self.prm, self.own, s + 1, rec.ts, rec.ts_t)
            if bar is not None:
                bar.update(end - bar.n)
            if on_progress is not None:
                on_progress((s + 1) / nsamples)
            if (s + 1) % snap_every == 0 and s + 1 < nsamples:
                rec.snapshot(t_s)
        if bar is not None:
            bar.close()
        rec.snapshot(dur_ns / 1e9)


def _progress_bar(total: int, desc: str):
    from tqdm.auto import tqdm   # deferred: tqdm.auto probes for a notebook front end
    return tqdm(total=total, unit="op", desc=desc, leave=False)
