#!/usr/bin/env python3
"""All the benchmarks (figures printed, never timed tests).

    python benchmarks/run.py [--quick] [--json]

On this machine, after a warm-up run (the first invocation on a cold numba
cache compiles the kernels, minutes):

* ``events_per_s_fastpath``: alloc/free ops per second of ``steady`` (no
  memory pressure: every op is served by the per-cpu lists or the buddy
  lists, no daemon runs);
* ``events_per_s_storm`` and ``sim_s_per_wall_s``: ``storm`` with
  defrag_mode=1 (kswapd, direct reclaim and compaction, swap);
* ``jit_speedup_vs_python``: the same small workload with the kernels
  compiled and as plain Python (``NUMBA_DISABLE_JIT=1``, in a subprocess),
  ops per second over ops per second;
* ``bytes_per_page``: model state (every State array) over pages, at 1 GiB
  and at 256 GiB (``bytes_per_page_256g``; per-page arrays are 15 bytes, the
  rest is per zone, per cpu and event rings);
* ``default_explorer_warm_s``: a rerun of the patch explorer's default
  configuration after toggling patches (not cached: model + redraw), median;
  ``explorer_slider_s``: one move of its pageblock map's time slider;
* ``cold_start_s``: first run in a fresh process with a warm numba cache;
* ``cold_compile_s``: the first run from an empty numba cache (every kernel
  compiled; ``benchmarks/cold_compile.py`` says where the time goes);
* ``replay_lines_per_s`` (= ``csv_lines_per_s``): parsing a real trace (CSV,
  .xz, decompression included); ``text_lines_per_s``: tracefs text (.gz),
  the same trace's first million page events written as trace_pipe lines;
* ``replay_60s_trace_s``: a whole replay of the shipped 60 s pressure trace
  (parsed while the model runs it, prefill from its snapshot, the model);
  ``replay_60s_trace_maxrss_mb``: its peak RSS in a new process, and
  ``replay_60s_trace_whole_maxrss_mb`` parsing the trace whole first;
* ``kbuild_thp_2g_slab_objects_s`` / ``kbuild_thp_2g_slab_pages_s``: what slab
  objects cost: ``kbuild-thp`` at 2 GiB with its kernel memory as slab objects,
  and the same workload with slab allocated by the page
  (``benchmarks/kbuild-thp-slab-pages.toml``); ``slab_object_ops_share``.
* ``kbuild_thp_16g_s``: a 16 GiB ``kbuild-thp`` run (8192 pageblocks) end to
  end, its ops generated while it runs; ``kbuild_thp_16g_build_s``: generating
  the ops alone; ``kbuild_thp_16g_model_s``: the model alone, running the same
  ops generated whole before the run (the results must be equal);
* ``kbuild_thp_64g_s`` / ``kbuild_thp_64g_maxrss_mb`` and ``steady_256g_s`` /
  ``steady_256g_maxrss_mb``: generation and run in a new process, with its
  peak RSS (null with ``--quick``);
* scaling: wall time and peak RSS against memory size (``steady`` at 1, 4,
  16, 64 GiB, each in a new process) and wall time against simulated
  duration (``storm`` at 1 GiB).

``--json`` prints one JSON object with every figure as the last line.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

#: The small workload of the JIT/plain-Python comparison.
NOJIT_CODE = """
import json, sys, time
from defragsim import Config, run
from defragsim.workloads import build_workload
cfg = Config(mem="128M", seed=1)
wl = build_workload("steady", cfg, duration=20.0).materialize()
reps = int(sys.argv[1])
run(wl, cfg)
rs = [run(wl, cfg) for _ in range(reps)]
best = min(rs, key=lambda r: r.kernel_s)
print(json.dumps({"ops": len(wl), "kernel_s": best.kernel_s, "run_s": best.elapsed_s,
                  "vmstat": best.vmstat}))
"""


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.machine()} {os.cpu_count()} cpus{' (' + cpu + ')' if cpu else ''}, "
            f"Linux {platform.release()}, python {platform.python_version()}")


def timed_run(scenario, cfg, duration=None, reps=1):
    """Best wall time of ``reps`` runs (the workload built once), the ops and
    the result of that best run."""
    from defragsim import run
    from defragsim.workloads import build_workload
    wl = build_workload(scenario, cfg, duration=duration).materialize()   # the model alone
    best, best_r = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        r = run(wl, cfg)
        dt = time.perf_counter() - t
        if dt < best:
            best, best_r = dt, r
    return best, len(wl), best_r


def bench_fastpath(mem, reps):
    from defragsim import Config
    dt, ops, r = timed_run("steady", Config(mem=mem, seed=1), reps=reps)
    assert r.vmstat["pgscan_kswapd"] == 0 and r.diagnostics["slowpath_entries"] == 0, \
        "steady is meant to run without memory pressure"
    return ops / dt, dt, ops, ops / r.kernel_s


def bench_storm(mem, duration, reps):
    from defragsim import Config
    dt, ops, r = timed_run("storm", Config(mem=mem, defrag_mode=1, seed=1), duration, reps)
    return ops / dt, r.duration_s / dt, dt, ops


def bench_nojit(reps_jit=20):
    """(JIT ops/s, plain-Python ops/s) inside the kernels (``Result.kernel_s``;
    the Python around them is the same in both): the same workload, the same
    results."""
    def child(env_extra, reps):
        env = dict(os.environ, **env_extra)
        p = subprocess.run([sys.executable, "-c", NOJIT_CODE, str(reps)], capture_output=True,
                           text=True, env=env)
        if p.returncode != 0:
            raise RuntimeError(f"NUMBA_DISABLE_JIT run failed:\n{p.stderr[-2000:]}")
        return json.loads(p.stdout.strip().splitlines()[-1])
    jit = child({}, reps_jit)
    py = child({"NUMBA_DISABLE_JIT": "1"}, 1)
    if jit["vmstat"] != py["vmstat"]:
        raise RuntimeError("plain Python and the JIT disagree on /proc/vmstat: not the same code")
    return jit["ops"] / jit["kernel_s"], py["ops"] / py["kernel_s"], jit["ops"]


def bench_bytes_per_page(mem):
    from defragsim import Config
    from defragsim.mm.state import make_state, state_nbytes
    cfg = Config(mem=mem)
    return state_nbytes(make_state(cfg)) / cfg.nr_pages


def bench_cold_start():
    code = ("import time;t=time.perf_counter();from defragsim import run,Config;"
            "run('steady',Config(mem='256M'),duration=1.0);print(time.perf_counter()-t)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return float(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else None


def bench_replay_lines():
    from defragsim.workloads.trace import read_trace
    path = ROOT / "data/traces/b_pressure_dm0/page_events.csv.xz"
    read_trace(ROOT / "data/traces/samples-1s/page_events.csv.xz")      # warm-up
    t = time.perf_counter()
    tr = read_trace(path)
    dt = time.perf_counter() - t
    return tr.lines / dt, str(path.relative_to(path.parents[2]))


def bench_replay_60s():
    """Wall seconds of a whole replay of the shipped 60 s pressure trace
    (parsed while the model runs it), and its ops."""
    from defragsim.analysis.replay import replay
    path = ROOT / "data/traces/b_pressure_dm0/page_events.csv.xz"
    t = time.perf_counter()
    rp = replay(path)
    return time.perf_counter() - t, rp.result.events_processed


REPLAY_CHILD_CODE = r"""
import json, sys, time
from defragsim.analysis.replay import replay
t = time.perf_counter()
rp = replay(sys.argv[1], stream=sys.argv[2] == "stream")
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(json.dumps({"s": time.perf_counter() - t, "maxrss_mb": hwm[0] / 1024,
                  "vmstat": rp.result.vmstat}))
"""


def bench_replay_rss():
    """Peak RSS (MB) of a replay of the 60 s trace in a new process, streamed
    and parsed whole (the results must be equal): {mode: (s, MB)}."""
    path = ROOT / "data/traces/b_pressure_dm0/page_events.csv.xz"
    out, vm = {}, {}
    for mode in ("stream", "whole"):
        p = subprocess.run([sys.executable, "-c", REPLAY_CHILD_CODE, str(path), mode],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"replay child ({mode}) failed:\n{p.stderr[-2000:]}")
        d = json.loads(p.stdout.strip().splitlines()[-1])
        out[mode], vm[mode] = (d["s"], d["maxrss_mb"]), d["vmstat"]
    if vm["stream"] != vm["whole"]:
        raise RuntimeError("the streamed replay and the whole-file replay differ")
    return out


CHILD_CODE = r"""
import json, resource, sys, time
from defragsim import Config, run
from defragsim.workloads import build_workload
t = time.perf_counter()
cfg = Config(mem=sys.argv[2], seed=1, defrag_mode=int(sys.argv[3]))
r = run(build_workload(sys.argv[1], cfg), cfg)
# VmHWM: this process's own peak (ru_maxrss survives execve, so a child of a
# large parent would report the parent's resident size at the fork)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")]
peak_kb = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s": time.perf_counter() - t, "ops": r.events_processed,
                  "maxrss_mb": peak_kb / 1024}))
"""


def bench_slab_objects(mem: str = "2G"):
    """What slab objects cost: kbuild-thp (kernel memory as slab objects)
    against the same workload with its slab allocated by the page
    (benchmarks/kbuild-thp-slab-pages.toml): (wall s, ops) of each, and the
    share of slab-object ops."""
    from defragsim import Config, constants as C, run
    from defragsim.workloads import build_workload
    cfg = Config(mem=mem, defrag_mode=1, seed=1)
    out = {}
    for key, scen in (("objects", "kbuild-thp"),
                      ("pages", str(ROOT / "benchmarks" / "kbuild-thp-slab-pages.toml"))):
        wl = build_workload(scen, cfg).materialize()
        t = time.perf_counter()
        run(wl, cfg)
        out[key] = (time.perf_counter() - t, len(wl.t))
        if key == "objects":
            out["share"] = float(((wl.content & C.CONTENT_SLAB_OBJECT) != 0).mean())
    return out


def bench_in_child(scenario: str, mem: str, defrag_mode: int = 0):
    """(seconds, peak RSS in MB, ops) of generating and running ``scenario``
    in a new process; (None, None, None) when it fails (the error is printed)."""
    p = subprocess.run([sys.executable, "-c", CHILD_CODE, scenario, mem, str(defrag_mode)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        print(f"{scenario} {mem} failed (exit {p.returncode}):\n{p.stderr[-1000:]}", file=sys.stderr)
        return None, None, None
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return d["s"], d["maxrss_mb"], d["ops"]


def bench_text_lines(n_lines: int = 1_000_000):
    """tracefs text (.gz) parse rate: the first ``n_lines`` page events of
    b_pressure_dm0 written as ``trace_pipe`` lines (the shipped text traces
    are too short to time), parsed after a warm-up."""
    import gzip
    import tempfile

    from defragsim.gfp import gfp_to_string
    from defragsim.workloads.trace import read_trace
    tr = read_trace(ROOT / "data/traces/b_pressure_dm0/page_events.csv.xz")
    gfp_text = {}
    lines = []
    for i in range(len(tr)):
        if len(lines) == n_lines:
            break
        ev = int(tr.ev[i])
        if ev not in (0, 1) or tr.pfn[i] < 0:     # mm_page_alloc, mm_page_free; no failures
            continue
        t = (tr.t0_ns + int(tr.t_ns[i])) / 1e9
        head = f"           <...>-{int(tr.pid[i])}    [001] ..... {t:.6f}: "
        pfn, order = int(tr.pfn[i]), int(tr.order[i])
        if ev == 0:
            g = int(tr.gfp[i])
            gs = gfp_text.get(g) or gfp_text.setdefault(g, gfp_to_string(g))
            lines.append(f"{head}mm_page_alloc: page=00000000deadbeef pfn={pfn:#x} order={order} "
                         f"migratetype={int(tr.mt[i])} gfp_flags={gs}\n")
        else:
            lines.append(f"{head}mm_page_free: page=00000000deadbeef pfn={pfn:#x} order={order}\n")
    with tempfile.TemporaryDirectory(prefix="defragsim-text-") as d:
        path = Path(d) / "trace.txt.gz"
        with gzip.open(path, "wt", compresslevel=6) as f:
            f.writelines(lines)
        read_trace(ROOT / "data/traces/samples-perf-script.txt.gz")          # warm-up
        t = time.perf_counter()
        parsed = read_trace(path)
        dt = time.perf_counter() - t
    return parsed.lines / dt, parsed.lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    ap.add_argument("--json", action="store_true", help="one JSON object as the last line")
    args = ap.parse_args()
    from defragsim import Config, run
    from defragsim.workloads import build_workload
    from cold_compile import measure as measure_compile
    from explorer import measure as measure_explorer

    out = {"machine": machine()}
    t0 = time.perf_counter()
    run("steady", Config(mem="64M"), duration=0.5)          # warm-up (compiles on a cold cache)
    out["warmup_s"] = time.perf_counter() - t0

    def say(key, fmt, *extra, none="failed"):
        val = none if out[key] is None else fmt.format(out[key])
        print(f"{key:>26}: {val}" + ("  " + " ".join(map(str, extra)) if extra else ""), flush=True)

    reps = 2 if args.quick else 3
    mem = "1G" if args.quick else "4G"
    out["events_per_s_fastpath"], dt, ops, out["events_per_s_fastpath_kernels"] = bench_fastpath(mem, reps)
    say("events_per_s_fastpath", "{:,.0f}", f"(steady {mem}, {ops:,} ops in {dt:.3f} s, the whole run())")
    say("events_per_s_fastpath_kernels", "{:,.0f}", "(the same, time inside the jitted kernels only)")
    dur = 10 if args.quick else 30
    out["events_per_s_storm"], out["sim_s_per_wall_s"], dt, ops = bench_storm("1G", dur, reps)
    say("events_per_s_storm", "{:,.0f}", f"(storm 1G dm1, {dur} s simulated, {ops:,} ops in {dt:.2f} s)")
    say("sim_s_per_wall_s", "{:.1f}")

    jit, py, ops = bench_nojit()
    out["jit_speedup_vs_python"] = jit / py
    say("jit_speedup_vs_python", "{:.0f}x", f"(steady 128M 20 s, {ops:,} ops, in the kernels: {jit:,.0f} "
        f"vs {py:,.0f} ops/s; identical /proc/vmstat)")

    out["bytes_per_page"] = bench_bytes_per_page("1G")
    say("bytes_per_page", "{:.2f}", "(1 GiB)")
    out["bytes_per_page_256g"] = bench_bytes_per_page("256G")
    say("bytes_per_page_256g", "{:.2f}", "(256 GiB)")

    ex = measure_explorer(reruns=3)
    out["default_explorer_warm_s"] = ex["rerun_s"]
    say("default_explorer_warm_s", "{:.2f} s", f"(model {ex['model_s']:.2f} s + redraw; cached "
        f"{ex['cached_s']:.2f} s)")
    out["explorer_slider_s"] = ex["slider_s"]
    say("explorer_slider_s", "{:.3f} s", "(one move of the pageblock map's time slider)")

    out["cold_start_s"] = bench_cold_start()
    say("cold_start_s", "{:.2f} s")
    cold = measure_compile(profile=False)
    out["cold_compile_s"] = cold["cold_compile_s"]
    say("cold_compile_s", "{:.1f} s", f"(empty numba cache, storm 64M; {cold['functions']} functions, "
        f"{cold['llvm_s']:.1f} s in LLVM)")

    out["replay_lines_per_s"], name = bench_replay_lines()
    say("replay_lines_per_s", "{:,.0f}", f"({name})")
    out["csv_lines_per_s"] = out["replay_lines_per_s"]
    say("csv_lines_per_s", "{:,.0f}", "(the same: CSV schema, .xz, decompression included)")
    out["text_lines_per_s"], n = bench_text_lines()
    say("text_lines_per_s", "{:,.0f}", f"(tracefs text, .gz, {n:,} lines made from {name})")
    out["replay_60s_trace_s"], ops = bench_replay_60s()
    say("replay_60s_trace_s", "{:.2f} s", f"({name}: parsed while the model runs it, prefill "
        f"from its snapshot, {ops:,} ops of the model)")
    rr = bench_replay_rss()
    out["replay_60s_trace_maxrss_mb"] = rr["stream"][1]
    out["replay_60s_trace_whole_maxrss_mb"] = rr["whole"][1]
    say("replay_60s_trace_maxrss_mb", "{:,.0f} MB", f"(peak RSS in a new process, {rr['stream'][0]:.2f} "
        f"s; parsed whole first: {rr['whole'][1]:,.0f} MB, {rr['whole'][0]:.2f} s; equal results)")

    so = bench_slab_objects("2G")
    (t_obj, n_obj), (t_pg, n_pg) = so["objects"], so["pages"]
    out["kbuild_thp_2g_slab_objects_s"], out["kbuild_thp_2g_slab_pages_s"] = t_obj, t_pg
    out["slab_object_ops_share"] = so["share"]
    say("kbuild_thp_2g_slab_objects_s", "{:.2f} s", f"(kbuild-thp 2G dm1, slab as objects: "
        f"{n_obj:,} ops, {1e9 * t_obj / n_obj:.0f} ns/op; {so['share']:.1%} of the ops are on "
        f"slab objects)")
    say("kbuild_thp_2g_slab_pages_s", "{:.2f} s", f"(the same with slab by the page: {n_pg:,} "
        f"ops, {1e9 * t_pg / n_pg:.0f} ns/op)")

    cfg = Config(mem="16G", defrag_mode=1, seed=1)
    wl = build_workload("kbuild-thp", cfg)
    t = time.perf_counter()
    n = sum(len(c.t) for c in wl.chunks())
    out["kbuild_thp_16g_build_s"] = time.perf_counter() - t
    out["kbuild_thp_16g_ops"] = n
    t = time.perf_counter()
    r = run(build_workload("kbuild-thp", cfg), cfg)
    out["kbuild_thp_16g_s"] = time.perf_counter() - t
    assert r.events_processed == n
    # the model alone: the same ops, generated whole before the run
    whole = wl.materialize()
    t = time.perf_counter()
    r2 = run(whole, cfg)
    out["kbuild_thp_16g_model_s"] = time.perf_counter() - t
    assert r2.vmstat == r.vmstat, "the streamed run and the whole run differ"
    del wl, whole, r2
    say("kbuild_thp_16g_s", "{:.2f} s", f"(end to end, generated while it runs: "
        f"{out['kbuild_thp_16g_s'] / out['kbuild_thp_16g_model_s']:.2f}x the model alone; "
        f"generating alone takes {out['kbuild_thp_16g_build_s']:.1f} s)")
    say("kbuild_thp_16g_model_s", "{:.2f} s", f"(the model alone, on the ops generated before; "
        f"{cfg.nr_pageblocks} pageblocks, {r.duration_s:.0f} s simulated, {n:,} ops = "
        f"{n / out['kbuild_thp_16g_model_s']:,.0f} ops/s)")
    if args.quick:
        for key in ("kbuild_thp_64g_s", "steady_256g_s"):
            out[key] = out[key[:-2] + "_maxrss_mb"] = None
            say(key, "", "(--quick)", none="not run")
    else:
        c64 = bench_in_child("kbuild-thp", "64G", defrag_mode=1)
        out["kbuild_thp_64g_s"], out["kbuild_thp_64g_maxrss_mb"], ops64 = c64
        if ops64:
            out["kbuild_thp_64g_ops"] = ops64
            say("kbuild_thp_64g_s", "{:.1f} s", f"(generated while it runs, in a new process; "
                f"peak RSS {out['kbuild_thp_64g_maxrss_mb']:,.0f} MB; {ops64:,} ops, "
                f"{out['kbuild_thp_64g_s'] / ops64 * 1e9:.0f} ns/op against "
                f"{out['kbuild_thp_16g_s'] / n * 1e9:.0f} at 16 GiB)")
        out["steady_256g_s"], out["steady_256g_maxrss_mb"], _ = bench_in_child("steady", "256G")
        say("steady_256g_s", "{:.1f} s", f"(generation + run in a new process; peak RSS "
            f"{out['steady_256g_maxrss_mb'] or 0:,.0f} MB)")

    print("\nscaling with memory (steady, 20 s simulated; its ops grow with memory):")
    print("(each in a new process: generation, the run and the process's peak RSS)")
    print(f"{'mem':>6} {'ops':>12} {'wall s':>8} {'ns/op':>7} {'sim s/wall s':>13} {'peak RSS MB':>12}")
    out["scaling_mem"] = []
    for m in ("1G", "4G", "16G", "64G"):
        dt, rss, ops = bench_in_child("steady", m)
        if dt is None:
            continue
        out["scaling_mem"].append({"mem": m, "ops": ops, "wall_s": dt, "maxrss_mb": rss})
        print(f"{m:>6} {ops:>12,} {dt:>8.2f} {dt / ops * 1e9:>7.0f} {20.0 / dt:>13.1f} "
              f"{rss:>12,.0f}", flush=True)
    print("\nscaling with duration (storm 1G, defrag_mode=1):")
    print(f"{'sim s':>6} {'ops':>12} {'wall s':>8} {'ns/op':>7}")
    out["scaling_duration"] = []
    for d in ([5, 10, 20] if args.quick else [5, 10, 20, 40, 80]):
        dt, ops, r = timed_run("storm", Config(mem="1G", defrag_mode=1, seed=1), d)
        out["scaling_duration"].append({"duration_s": d, "ops": ops, "wall_s": dt})
        print(f"{d:>6} {ops:>12,} {dt:>8.2f} {dt / ops * 1e9:>7.0f}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
