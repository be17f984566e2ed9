"""Sweeps: many configurations x seeds in parallel, with a resumable store
(``defragsim sweep``).

A *task* is one simulation: a scenario, a configuration (Config fields,
``growth_scale``, duration) and an explicit seed.  Tasks run on an executor --
a local process pool by default, or a Dask cluster (``dask://HOST:PORT``) --
through the ``concurrent.futures`` interface.  The workers return only the
metrics of the compare table (:func:`defragsim.compare.all_metrics`) and the
wall time, never the Result.

Each finished task is written at once, atomically, to
``OUT/store/<key>-seed<seed>.parquet`` (long format: one row per metric).
``key`` (:func:`task_key`) hashes the *configuration*: the scenario's name and
file contents, every resolved Config field except the seed, the duration,
``growth_scale`` and the defragsim version.  Running a sweep again with the
same ``OUT`` skips the tasks whose file is there, so an interrupted sweep
resumes and a finished configuration never runs twice.  A file that cannot be
read is reported with its path and its task runs again.

Errors: a bad input (a patch spec, an executor, a seed count, a trace with a
bad line, ...) raises :class:`~defragsim.errors.SweepError` or the input
error the scenario raised (TraceError, ScenarioError, ...): all
``DefragsimError``, exit status 2 in the CLI.  Tasks that fail for another
reason are stored around: the sweep finishes the others and raises
:class:`SweepTaskError` (not a DefragsimError; exit status 1).  SIGTERM,
SIGHUP and Ctrl-C end a sweep cleanly: the pool's worker processes are
terminated (they would otherwise run on, a few hundred MB each), and
:class:`SweepInterrupted` (a KeyboardInterrupt) is raised; the same command
resumes.  Workers also exit by themselves if the sweep's process dies.
``summary.txt``, ``summary.csv`` and ``sweep.json`` are written atomically
like the store files; temporary files left by a killed sweep are removed
when the next one starts.

The summary is the compare table (means over seeds, ``*x%*`` where the 95%
intervals do not overlap); with many configurations it is split into blocks
of at most ``columns`` configurations, each block starting again with the
first configuration, the base of the percentages.
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ..sim import run
from ..sim.metrics import all_metrics
from ..workloads import build_workload, load_scenario, scenario_path
from ..workloads.estimate import check_fits, check_workload_fits
from ..workloads.snapshot import find_snapshot
from .compare import (RunSpec, Comparison, mean_ci, median_index, metrics_table,
                      parse_run_spec)
from ..config import Config, ConfigError, Patches, format_size
from ..errors import DefragsimError, SweepError

#: Characters of the sha256 hex digest kept as a configuration's key.
KEY_LEN = 16
#: Configurations side by side in the summary table (more: blocks of columns).
TABLE_COLUMNS = 5
#: Seconds to wait for a Dask scheduler before giving up.
CONNECT_TIMEOUT_S = 5.0
#: bytes of one task in memory: its Task, its metrics (about 150 numbers) and
#: its rows of the summary
TASK_BYTES = 16 << 10
#: Config fields that are sweep dimensions (not settable with --set / base).
DIMENSIONS = {"patches": "--patches", "defrag_mode": "--defrag-mode", "mem": "--mem",
              "seed": "--seeds"}
_STORE_COLUMNS = ["key", "seed", "config", "config_json", "metric", "value", "wall_s"]


from ..provenance import __version__, model_sha256


class SweepWarning(UserWarning):
    """A stored result file is unreadable and its task runs again."""


class SweepTaskError(RuntimeError):
    """Tasks of a sweep failed (not because of the sweep's input); the others
    are stored, and running the sweep again retries the failed ones.  Not a
    DefragsimError: the CLI exits 1, not 2."""


class SweepInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP ended a sweep (its worker processes are gone); a
    KeyboardInterrupt, so code that handles Ctrl-C handles it too."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# ---------------------------------------------------------------------------
# Tasks and keys
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """One simulation of a sweep (picklable: it travels to the workers)."""

    scenario: str            # name or path, as the workers load it
    scenario_name: str
    scenario_sha256: str
    label: str
    config: dict             # Config fields except the seed
    growth_scale: float
    duration: float | None   # None: the scenario's (e.g. a whole trace)
    seed: int
    model_sha256: str = ""   # the planner's model_sha256(); workers check theirs

    @property
    def key(self) -> str:
        return task_key(self)

    @property
    def file_name(self) -> str:
        return f"{self.key}-seed{self.seed}.parquet"

    def make_config(self) -> Config:
        return Config(**self.config, seed=self.seed)


def scenario_sha256(scenario: str) -> str:
    """sha256 of a scenario file's bytes (by name or path); for a trace
    scenario (``kind = "trace"``) also of the trace and of the ``snap/``
    folder beside it, which the replay reads."""
    h = hashlib.sha256(scenario_path(scenario).read_bytes())
    sc = load_scenario(scenario)
    if sc.kind == "trace":
        trace = Path(sc.params["trace"])
        snap = find_snapshot(trace)
        files = [trace] + (sorted(p for p in snap.rglob("*") if p.is_file()) if snap else [])
        for f in files:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def config_payload(task: Task) -> dict:
    """What identifies a task's configuration: everything but the seed."""
    cfg = task.make_config().to_dict()
    del cfg["seed"]
    return {"scenario": task.scenario_name, "scenario_sha256": task.scenario_sha256,
            "config": cfg, "duration": task.duration, "growth_scale": task.growth_scale,
            "defragsim": __version__, "model_sha256": model_sha256()}


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def task_key(task: Task) -> str:
    """Short sha256 of the configuration (:func:`config_payload`): equal for
    the seeds of one configuration, different between configurations."""
    return hashlib.sha256(canonical_json(config_payload(task)).encode()).hexdigest()[:KEY_LEN]


# ---------------------------------------------------------------------------
# The sweep definition: dimensions -> configurations -> tasks
# ---------------------------------------------------------------------------

def all_patch_combinations() -> list[Patches]:
    """The 12 patch subsets the kernel can have (4 needs 3), smallest first:
    none, 1, 2, 3, 1+2, 1+3, 2+3, 3+4, 1+2+3, 1+3+4, 2+3+4, all."""
    return [Patches.from_numbers(c) for k in range(5) for c in combinations((1, 2, 3, 4), k)
            if 4 not in c or 3 in c]


def parse_patch_sets(spec) -> list[Patches]:
    """``--patches``: ``all-combinations``, or patch specs separated by ``;``
    (``"none;all;2,3,4"``), or a list of such strings / Patches."""
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    sets: list[Patches] = []
    for item in items:
        parts = item.split(";") if isinstance(item, str) else [item]
        for part in parts:
            if isinstance(part, str) and not part.strip():
                continue
            if isinstance(part, str) and part.strip().lower() == "all-combinations":
                sets += all_patch_combinations()
                continue
            try:
                sets.append(Patches.parse(part))
            except ConfigError as e:
                raise SweepError(f"--patches {part!r}: {e}") from None
    if not sets:
        raise SweepError(f"--patches: no patch set in {spec!r} (e.g. all-combinations or none;all)")
    labels = [p.label() for p in sets]
    dups = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dups:
        raise SweepError(f"--patches: patch set {', '.join(dups)} given more than once in {spec!r}")
    return sets


def _split_list(value, option: str) -> list:
    """``"0,1"`` or ``[0, 1]`` or ``1`` -> a non-empty list."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    if not items:
        raise SweepError(f"{option}: empty list {value!r}")
    return items


def parse_defrag_modes(value) -> list[int]:
    modes = []
    for v in _split_list(value, "--defrag-mode"):
        if str(v).strip() not in ("0", "1"):
            raise SweepError(f"--defrag-mode: expected 0, 1 or 0,1, got {value!r}")
        modes.append(int(v))
    if len(set(modes)) != len(modes):
        raise SweepError(f"--defrag-mode: a mode given twice in {value!r}")
    return modes


def parse_mems(value) -> list[str]:
    mems = []
    for v in _split_list(value, "--mem"):
        try:
            mems.append(format_size(Config(mem=v).mem))
        except ConfigError as e:
            raise SweepError(f"--mem {v!r}: {e}") from None
    if len(set(mems)) != len(mems):
        raise SweepError(f"--mem: a size given twice in {value!r} (after rounding: {', '.join(mems)})")
    return mems


def parse_seeds(seeds, seed0: int = 0) -> list[int]:
    """A count (seeds seed0..seed0+N-1) or an explicit list."""
    if isinstance(seeds, bool):
        raise SweepError(f"--seeds: expected a number of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise SweepError(f"--seeds: must be at least 1, got {seeds}")
        if seed0 < 0:
            raise SweepError(f"--seed0: must be at least 0, got {seed0}")
        check_fits(seeds * TASK_BYTES, f"--seeds {seeds}: a sweep's {seeds:,} tasks (at least)",
                   error=SweepError)
        return list(range(seed0, seed0 + seeds))
    try:
        out = [int(s) for s in seeds]
    except (TypeError, ValueError):
        raise SweepError(f"--seeds: expected a number or a list of seeds, got {seeds!r}") from None
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise SweepError(f"--seeds: expected distinct seeds >= 0, got {seeds!r}")
    return out


def parse_set(spec: str | None) -> tuple[dict, float]:
    """``--set "swappiness=100,pcp=false,growth_scale=2"`` -> (Config fields,
    growth_scale).  The sweep dimensions are refused: they have options."""
    if not spec:
        return {}, 1.0
    rs = parse_run_spec(spec, where="--set")
    check_base(rs.config)
    return rs.config, rs.growth_scale


def check_base(base: dict) -> None:
    for k, option in DIMENSIONS.items():
        if k in base:
            raise SweepError(f"--set: {k} is a sweep dimension; give it with {option}")


@dataclass
class Plan:
    """A sweep's configurations (RunSpecs) and seeds, resolved."""

    scenario: str
    scenario_name: str
    scenario_sha256: str
    specs: list
    seeds: list
    duration: float | None

    def task(self, spec: RunSpec, seed: int) -> Task:
        return Task(scenario=self.scenario, scenario_name=self.scenario_name,
                    scenario_sha256=self.scenario_sha256, label=spec.label, config=dict(spec.config),
                    growth_scale=spec.growth_scale, duration=self.duration, seed=seed,
                    model_sha256=model_sha256())

    def tasks(self) -> list[Task]:
        """Configuration-major: all seeds of the first configuration first."""
        return [self.task(spec, seed) for spec in self.specs for seed in self.seeds]

    def keys(self) -> list[str]:
        return [self.task(spec, self.seeds[0]).key for spec in self.specs]

    def as_json(self) -> dict:
        return {"scenario": self.scenario, "scenario_name": self.scenario_name,
                "scenario_sha256": self.scenario_sha256, "seeds": self.seeds,
                "duration": self.duration,
                "configurations": [{"label": s.label, "key": k, "config": s.config,
                                    "growth_scale": s.growth_scale}
                                   for s, k in zip(self.specs, self.keys())]}


def make_plan(scenario: str, *, patches="all-combinations", seeds=1, seed0: int = 0, mem=None,
              defrag_mode=1, duration: float | None = None, base: dict | None = None,
              growth_scale: float = 1.0) -> Plan:
    """Validate the dimensions and build the configurations: every mem x
    defrag_mode x patch set, in that nesting order.  Labels name the patch
    set, and defrag_mode / mem when they vary."""
    sc = load_scenario(scenario)
    sets = parse_patch_sets(patches)
    modes = parse_defrag_modes(defrag_mode)
    mems = parse_mems(mem if mem is not None else (sc.mem or "1G"))
    seed_list = parse_seeds(seeds, seed0)
    base = dict(base or {})
    check_base(base)
    if not (isinstance(growth_scale, (int, float)) and growth_scale >= 0
            and math.isfinite(growth_scale)):
        raise SweepError(f"growth_scale: must be a finite number >= 0, got {growth_scale!r}")
    specs = []
    for m in mems:
        for dm in modes:
            for p in sets:
                parts = ([f"mem={m}"] if len(mems) > 1 else []) + \
                        ([f"dm={dm}"] if len(modes) > 1 else []) + [f"patches={p.label()}"]
                cfg = {"defrag_mode": dm, "patches": p.label(), "mem": m, **base}
                specs.append(RunSpec(" ".join(parts), cfg, float(growth_scale)))
    for spec in specs:
        try:
            Config(**spec.config)
        except ConfigError as e:
            raise SweepError(f"--set: [{spec.label}]: {e}") from None
    n_tasks = len(specs) * len(seed_list)
    check_fits(n_tasks * TASK_BYTES, f"--seeds {len(seed_list)}: a sweep's {n_tasks:,} tasks",
               error=SweepError)
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not duration > 0 or not math.isfinite(duration)):
        raise SweepError(f"--duration: must be a positive number of seconds, got {duration!r}")
    for spec in specs:        # a run that cannot fit is refused here, not in every worker
        check_workload_fits(sc, Config(**spec.config), duration, growth_scale)
    plan = Plan(scenario=scenario, scenario_name=sc.name, scenario_sha256=scenario_sha256(scenario),
                specs=specs, seeds=seed_list,
                duration=float(duration) if duration is not None else (sc.duration or None))
    keys = plan.keys()
    if len(set(keys)) != len(keys):
        raise SweepError("sweep: two configurations are the same (check --mem and --patches)")
    return plan


# ---------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------

def simulate(task: Task):
    """Run one task here; the full Result."""
    if scenario_sha256(task.scenario) != task.scenario_sha256:
        raise SweepTaskError(f"scenario {task.scenario}: the file here differs from the one the sweep "
                         "was planned with (a worker with another defragsim checkout?)")
    if task.model_sha256 and model_sha256() != task.model_sha256:
        raise SweepTaskError("the defragsim model here differs from the one the sweep was planned "
                         "with (a worker with another defragsim checkout?)")
    cfg = task.make_config()
    wl = build_workload(load_scenario(task.scenario), cfg, duration=task.duration,
                        growth_scale=task.growth_scale)
    return run(wl, cfg)


def run_task(task: Task) -> dict:
    """The worker function: metrics of one task (``all_metrics`` names ->
    float) and the wall time in seconds."""
    t0 = time.perf_counter()
    metrics = {k: float(v) for k, v in all_metrics(simulate(task)).items()}
    return {"metrics": metrics, "wall_s": time.perf_counter() - t0}


def warm_up() -> None:
    """One tiny simulation in this process, so the numba cache is on disk
    before a pool starts: its workers then load it instead of compiling
    concurrently (minutes each)."""
    run("steady", Config(mem="64M"), duration=0.1)


# ---------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------

_ADDRESS_RE = re.compile(r"(?:dask|tcp)://([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})")


def parse_executor(spec: str) -> str | None:
    """``"local"`` -> None; ``"dask://HOST:PORT"`` or ``"tcp://HOST:PORT"`` ->
    ``"tcp://HOST:PORT"`` (the scheduler address)."""
    s = spec.strip() if isinstance(spec, str) else ""
    if s == "local":
        return None
    m = _ADDRESS_RE.fullmatch(s)
    if not m or not 0 < int(m[2]) < 65536:
        raise SweepError(f"--executor: {spec!r} is neither 'local' nor dask://HOST:PORT "
                          "(e.g. dask://127.0.0.1:8786)")
    return f"tcp://{m[1]}:{int(m[2])}"


def connect(address: str, timeout: float | None = None):
    """A ``distributed.Client`` of the scheduler at ``address``; SweepError
    if distributed is missing or the scheduler does not answer in time
    (``timeout``, default :data:`CONNECT_TIMEOUT_S`)."""
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    try:
        from distributed import Client  # optional: the 'cluster' extra
    except ImportError:
        raise SweepError(f"--executor {address}: the Dask client is not installed "
                          "(pip install 'defragsim[cluster]')") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as e:
        raise SweepError(f"--executor: cannot reach the Dask scheduler at {address} within "
                          f"{timeout:g} s ({type(e).__name__})") from None


def check_workers(workers, address: str | None) -> None:
    if workers is None:
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"--workers: expected a positive number, got {workers!r}")
    if address is not None:
        raise SweepError("--workers: only for the local executor (a Dask cluster has its own)")


def _worker_init(parent: int) -> None:
    """In each local worker: Ctrl-C is the sweep's to handle (it terminates
    the workers), and a worker whose sweep process died (even SIGKILL) exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)
    threading.Thread(target=watch, name="defragsim-parent-watch", daemon=True).start()


def terminate_pool(ex: ProcessPoolExecutor, timeout: float = 5.0) -> None:
    """Cancel what has not started and end the worker processes now (a
    running task would otherwise go on for minutes)."""
    procs = list((getattr(ex, "_processes", None) or {}).values())
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    t_end = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, t_end - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


@contextmanager
def interrupt_on_signals(signals=(signal.SIGTERM, signal.SIGHUP)):
    """While inside, SIGTERM and SIGHUP raise :class:`SweepInterrupted` (once),
    so that the ``finally`` and ``except`` blocks that shut the pool down run
    (the default action would kill this process and leave the workers).
    Ctrl-C raises KeyboardInterrupt anyway.  Only in the main thread; a
    signal the process ignores (``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = []

    def handler(signum, frame):
        if raised:                      # already shutting down
            return
        raised.append(signum)
        raise SweepInterrupted(signum)

    old = {}
    for sig in signals:
        if signal.getsignal(sig) is signal.SIG_IGN:
            continue
        old[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


@contextmanager
def open_executor(spec: str, *, workers: int | None, ntasks: int):
    """A ``concurrent.futures.Executor``: a spawn process pool (``local``) or
    a Dask client's executor (``pure=False``: every task runs).  On any
    exception (Ctrl-C, :class:`SweepInterrupted`, ...) the local workers are
    terminated."""
    address = parse_executor(spec)
    check_workers(workers, address)
    if address is not None:
        client = connect(address)
        try:
            yield client.get_executor(pure=False)
        finally:
            client.close()
        return
    warm_up()
    n = max(1, min(workers or os.cpu_count() or 1, ntasks))
    ex = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init, initargs=(os.getpid(),))
    try:
        yield ex
    except BaseException:
        terminate_pool(ex)
        raise
    ex.shutdown()


# ---------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------

def store_dir(out) -> Path:
    return Path(out) / "store"


def task_frame(task: Task, res: dict) -> pd.DataFrame:
    """The stored rows of one finished task (metric names as in all_metrics)."""
    m = res["metrics"]
    return pd.DataFrame({"key": task.key, "seed": task.seed, "config": task.label,
                         "config_json": canonical_json(config_payload(task)),
                         "metric": list(m), "value": list(m.values()), "wall_s": res["wall_s"]},
                        columns=_STORE_COLUMNS)


def _tmp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}.tmp"


def write_atomic(path: Path, write) -> Path:
    """``write(tmp)`` to a hidden temporary file beside ``path``, then
    os.replace: readers see the old file or the new one, never half of one."""
    tmp = _tmp_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(*dirs: Path) -> list[Path]:
    """Temporary files (``.NAME.PID.tmp``) a killed sweep left in ``dirs``;
    those of a process still running (a concurrent sweep) are kept."""
    gone = []
    for d in dirs:
        for f in d.glob(".*.tmp"):
            pid = f.name[:-len(".tmp")].rpartition(".")[2]
            if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
                continue
            try:
                f.unlink()
                gone.append(f)
            except OSError:
                pass
    return gone


def write_result(store: Path, task: Task, res: dict) -> Path:
    """Write atomically: a hidden temporary file, then os.replace."""
    frame = task_frame(task, res)
    return write_atomic(store / task.file_name, lambda tmp: frame.to_parquet(tmp, index=False))


def read_result(path: Path) -> pd.DataFrame:
    """One stored file, checked; SweepError naming the path if it is not a
    complete result of the task its name says."""
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for damaged files
        raise SweepError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from None
    key, _, seed = path.stem.rpartition("-seed")
    if list(df.columns) != _STORE_COLUMNS or df.empty or set(df["key"]) != {key} \
            or set(df["seed"].astype(str)) != {seed} or df["config_json"].nunique() != 1:
        raise SweepError(f"{path}: not a complete sweep result for key {key} seed {seed}")
    return df


def load_store(out) -> pd.DataFrame:
    """Every result in ``OUT/store`` (all sweeps that wrote there), long
    format; SweepError naming the first unreadable file."""
    files = sorted(store_dir(out).glob("*.parquet"))
    if not files:
        return pd.DataFrame(columns=_STORE_COLUMNS)
    return pd.concat([read_result(p) for p in files], ignore_index=True)


def _done(store: Path, tasks: list[Task]) -> tuple[set, int]:
    """File names of the tasks already stored, and how many files were
    unreadable or hold another configuration (each one warned about with its
    path; its task runs again)."""
    done, bad = set(), 0
    for t in tasks:
        p = store / t.file_name
        if not p.exists():
            continue
        try:
            if read_result(p)["config_json"].iloc[0] != canonical_json(config_payload(t)):
                raise SweepError(f"{p}: holds another configuration than its key says")
            done.add(t.file_name)
        except SweepError as e:
            bad += 1
            warnings.warn(f"{e}; running that task again", SweepWarning, stacklevel=3)
    return done, bad


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

def _n(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _input_error(e: BaseException, t: Task) -> DefragsimError:
    """A task's input error (a trace with a bad line, ...) with the task named."""
    try:
        err = type(e)(f"[{t.label}] seed {t.seed}: {e}")
    except Exception:
        err = SweepError(f"[{t.label}] seed {t.seed}: {type(e).__name__}: {e}")
    return err


def run_tasks(tasks: list[Task], store: Path, *, executor: str = "local", workers: int | None = None,
              progress: bool = True) -> list[str]:
    """Run ``tasks``, storing each as it finishes; the failures as
    ``"label seed N: error"`` (the others are stored regardless).

    A task that fails with an input error (a DefragsimError: a trace with a
    bad line, a scenario that does not load) stops the sweep: the error is
    raised with the task named (every task would fail the same way).
    SIGTERM/SIGHUP raise :class:`SweepInterrupted`, Ctrl-C KeyboardInterrupt;
    either way the local workers are terminated first."""
    failed = []
    with interrupt_on_signals():
        with open_executor(executor, workers=workers, ntasks=len(tasks)) as ex:
            futures = {ex.submit(run_task, t): t for t in tasks}
            with tqdm(total=len(tasks), desc="sweep", unit="run", disable=not progress) as bar:
                for fut in as_completed(futures):
                    t = futures[fut]
                    try:
                        write_result(store, t, fut.result())
                    except DefragsimError as e:
                        for f in futures:
                            f.cancel()
                        raise _input_error(e, t) from None
                    except Exception as e:
                        failed.append(f"[{t.label}] seed {t.seed}: {type(e).__name__}: {e}")
                    bar.update()
    return failed


@dataclass
class SweepResult:
    """A sweep's stored results: :meth:`frame`, :meth:`summary`, :meth:`table`."""

    out: Path
    plan: Plan
    ran: int = 0          # tasks run by this call (including reruns of unreadable files)
    skipped: int = 0      # tasks found in the store
    rerun: int = 0        # of ``ran``: unreadable files run again
    _raw: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.plan.specs]

    def raw(self) -> pd.DataFrame:
        """This sweep's stored rows (metric names as in ``all_metrics``), in
        configuration, seed and metric order; labels as in this sweep."""
        if self._raw is None:
            store = store_dir(self.out)
            parts = [read_result(store / t.file_name) for t in self.plan.tasks()
                     if (store / t.file_name).exists()]
            df = pd.concat(parts, ignore_index=True) if parts else \
                pd.DataFrame(columns=_STORE_COLUMNS)
            df["config"] = df["key"].map(dict(zip(self.plan.keys(), self.labels)))
            self._raw = df
        return self._raw

    def frame(self) -> pd.DataFrame:
        """Long table: one row per (config, seed, metric): config, key, seed,
        metric, value (metric names as in ``Comparison.frame``)."""
        df = self.raw()[["config", "key", "seed", "metric", "value"]].copy()
        df["metric"] = df["metric"].str.strip()
        return df.reset_index(drop=True)

    def wall_times(self) -> pd.DataFrame:
        """Seconds of wall time per task (config, seed, wall_s)."""
        return self.raw().drop_duplicates(["key", "seed"])[["config", "seed", "wall_s"]] \
            .reset_index(drop=True)

    def per_seed(self) -> dict:
        """label -> [all_metrics dict of each stored seed]."""
        out = {}
        for lab in self.labels:
            g = self.raw()[self.raw()["config"] == lab]
            out[lab] = [dict(zip(s["metric"], s["value"])) for _, s in g.groupby("seed", sort=True)]
        return out

    def summary(self) -> pd.DataFrame:
        """config, metric, n, mean, ci95 (half-width of the 95% Student t
        interval over seeds) per configuration and metric.  A metric a seed
        does not have (e.g. an extfrag pair it never saw) counts as 0, as in
        the table."""
        per_seed = self.per_seed()
        names = list(dict.fromkeys(k for per in per_seed.values() for m in per for k in m))
        rows = []
        for lab, per in per_seed.items():
            for k in names if per else []:
                mean, ci = mean_ci([m.get(k, 0.0) for m in per])
                rows.append((lab, k.strip(), len(per), mean, ci))
        return pd.DataFrame(rows, columns=["config", "metric", "n", "mean", "ci95"])

    def table(self, *, full: bool = True, columns: int | None = TABLE_COLUMNS) -> str:
        """The compare table over the seeds, in blocks of ``columns``
        configurations (``None``: all side by side)."""
        p = self.plan
        n = len(p.seeds)
        mems = ", ".join(dict.fromkeys(s.config["mem"] for s in p.specs))
        dur = f"{p.duration:g} s simulated" if p.duration else "whole trace"
        head = (f"defragsim sweep: {p.scenario_name}, {mems}, {dur}, {_n(len(p.specs), 'configuration')}, "
                f"{_n(n, 'seed')} ({', '.join(map(str, p.seeds))})")
        return metrics_table(self.per_seed(), p.specs, head=head, n_seeds=n, full=full,
                             columns=columns)

    def figure_seed(self) -> int:
        """The seed the figures show: the median by pswpout summed over the
        configurations (as :meth:`Comparison.figure_seed_index`)."""
        per = self.per_seed()
        return self.plan.seeds[median_index([sum(per[lab][i]["vmstat pswpout"] for lab in per)
                                             for i in range(len(self.plan.seeds))])]

    def write_summary(self, columns: int | None = TABLE_COLUMNS) -> list[Path]:
        """``summary.txt`` and ``summary.csv``, each written atomically."""
        text, summ = self.table(columns=columns), self.summary()
        return [write_atomic(self.out / "summary.txt", lambda tmp: tmp.write_text(text)),
                write_atomic(self.out / "summary.csv", lambda tmp: summ.to_csv(tmp, index=False))]


def figure_comparison(res: SweepResult, *, progress: bool = True) -> Comparison:
    """The runs the figures show: the median seed (:meth:`SweepResult.figure_seed`)
    of each configuration, simulated again here (the model is deterministic);
    each must reproduce its stored metrics, else SweepError.  The face draws
    them (``plot.write_compare_figures(cmp, out / "figures", seed_index=0)``)."""
    seed = res.figure_seed()
    stored = {lab: dict(zip(g["metric"], g["value"]))
              for lab, g in res.raw()[res.raw()["seed"] == seed].groupby("config", sort=False)}
    results = {}
    for spec in tqdm(res.plan.specs, desc="figures", unit="run", disable=not progress):
        r = simulate(res.plan.task(spec, seed))
        again = {k: float(v) for k, v in all_metrics(r).items()}
        st = stored[spec.label]
        diff = [k.strip() for k in sorted(set(again) ^ set(st))] + \
            [k.strip() for k in again if k in st and again[k] != st[k]]
        if diff:
            raise SweepError(f"figures: [{spec.label}] seed {seed} gave other numbers than its stored "
                             f"result ({', '.join(diff[:3])}, ...): the store in {res.out} was "
                             "written by another model; use a new --out")
        results[spec.label] = [r]
    return Comparison(scenario=res.plan.scenario_name, specs=res.plan.specs, seeds=[seed],
                      results=results, mem=Config(**res.plan.specs[0].config).mem,
                      duration_s=next(iter(results.values()))[0].duration_s)


def sweep(scenario: str, *, patches="all-combinations", seeds=1, seed0: int = 0, mem=None,
          defrag_mode=1, duration: float | None = None, base: dict | None = None,
          growth_scale: float = 1.0, executor: str = "local", workers: int | None = None,
          out="out/sweep", progress: bool = True,
          columns: int | None = TABLE_COLUMNS, log=_stderr) -> SweepResult:
    """Run every configuration (mem x defrag_mode x patch set) on the same
    seeds, resuming from ``out``; write ``out/summary.txt``, ``summary.csv``,
    ``sweep.json`` (figures: :func:`figure_comparison`, drawn by the face).

    ``patches``: ``"all-combinations"`` (the 12 subsets the kernel can have)
    or specs separated by ``;`` (``"none;all;2,3,4"``) or a list of specs.
    ``seeds``: a count (seeds ``seed0``..) or a list.  ``mem``, ``defrag_mode``:
    one value or a list (``"512M,1G"``, ``"0,1"``).  ``base``: further Config
    fields for every configuration.  ``executor``: ``"local"`` (a process
    pool of ``workers``, default one per CPU) or ``"dask://HOST:PORT"``.
    Raises SweepTaskError, after storing the rest, if tasks failed; an
    input error (SweepError, TraceError, ...: DefragsimError) before running
    or as soon as a task meets it.
    """
    plan = make_plan(scenario, patches=patches, seeds=seeds, seed0=seed0, mem=mem,
                     defrag_mode=defrag_mode, duration=duration, base=base, growth_scale=growth_scale)
    check_workers(workers, parse_executor(executor))
    if isinstance(patches, str) and "all-combinations" in patches.lower():
        log("patches: all-combinations = the 12 subsets the kernel can have; the 4 with patch 4 "
            "but not patch 3 (4, 1+4, 2+4, 1+2+4) do not exist in the kernel and are skipped")
    out = Path(out)
    store = store_dir(out)
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {out}: exists and is not a directory")
    store.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out, store)
    text = json.dumps(plan.as_json(), indent=1) + "\n"
    write_atomic(out / "sweep.json", lambda tmp: tmp.write_text(text))
    tasks = plan.tasks()
    done, bad = _done(store, tasks)
    # seed-major, so an interrupted sweep has every configuration on the first seeds
    todo = sorted((t for t in tasks if t.file_name not in done), key=lambda t: plan.seeds.index(t.seed))
    log(f"sweep: {_n(len(plan.specs), 'configuration')} x {_n(len(plan.seeds), 'seed')} = "
        f"{_n(len(tasks), 'task')}; {len(done)} already in {store} (skipped), {len(todo)} to run")
    failed = run_tasks(todo, store, executor=executor, workers=workers,
                       progress=progress) if todo else []
    res = SweepResult(out=out, plan=plan, ran=len(todo), skipped=len(done), rerun=bad)
    res.write_summary(columns)
    if failed:
        raise SweepTaskError(f"{len(failed)} of {len(todo)} tasks failed (the others are stored; run "
                         f"again to retry them): {failed[0]}")
    return res


__all__ = ["sweep", "SweepResult", "SweepError", "SweepTaskError", "SweepInterrupted", "SweepWarning",
           "Task", "task_key", "make_plan", "load_store", "run_task", "parse_executor",
           "parse_patch_sets", "all_patch_combinations"]
