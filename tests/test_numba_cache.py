"""Where numba caches defragsim's compiled code, and what a damaged cache file
does (defragsim/_jit.py).

Cheap on purpose: the damaged-cache test truncates the cache of the trace
parsers only (a few seconds to recompile), not of the model kernels."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from numba.core import caching

from defragsim.provenance import jit_source_tag

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "traces" / "samples-1s" / "page_events.csv.xz"
PERF = REPO / "data" / "traces" / "samples-perf-script.txt.gz"


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(kw)
    return env


def _python(code, env, timeout=300):
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


PRINT_DIR = ("import numba, defragsim.sim, defragsim.workloads._traceparse as tp;"
             "print(numba.config.CACHE_DIR);print(tp.parse_csv_chunk._cache.cache_path)")


def test_a_checkout_caches_in_its_numba_cache_folder():
    p = _python(PRINT_DIR, _env())
    assert p.returncode == 0, p.stderr
    cache_dir, parser_cache = p.stdout.split("\n")[:2]
    # one folder per version of the jitted sources: a stale cache is never loaded
    assert Path(cache_dir) == REPO / ".numba-cache" / jit_source_tag()
    assert Path(parser_cache).parent == Path(cache_dir)    # not defragsim/**/__pycache__


def test_an_explicit_numba_cache_dir_wins(tmp_path):
    p = _python(PRINT_DIR, _env(NUMBA_CACHE_DIR=str(tmp_path)))
    assert p.returncode == 0, p.stderr
    cache_dir, parser_cache = p.stdout.split("\n")[:2]
    assert Path(cache_dir) == tmp_path / jit_source_tag()
    assert Path(parser_cache).parent == Path(cache_dir)


def test_a_damaged_cache_file_is_removed_and_recompiled(tmp_path):
    from defragsim.workloads import _traceparse as tp
    from defragsim.workloads.trace import read_trace
    read_trace(SAMPLE)                       # the parsers' cache is on disk (compiles if cold)
    read_trace(PERF)
    src = Path(tp.parse_csv_chunk._cache.cache_path)
    sub = caching.UserProvidedCacheLocator.get_suitable_cache_subpath(tp.__file__)
    cache = tmp_path / "cache"
    dst = cache / jit_source_tag() / sub
    dst.mkdir(parents=True)
    for f in src.glob("_traceparse.*"):
        shutil.copy(f, dst / f.name)
    # this checkout's functions (an older cache may hold files of other line numbers)
    text_index = tp.parse_text_chunk._cache._cache_file._index_name
    csv_index = tp.parse_csv_chunk._cache._cache_file._index_name
    nbi = [dst / text_index]
    nbc = sorted(dst.glob(csv_index[:-len(".nbi")] + ".*.nbc"))
    assert nbi[0].exists() and nbc, sorted(p.name for p in dst.iterdir())
    for f in nbi + nbc:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])      # truncated
    code = ("from defragsim.workloads.trace import read_trace;"
            f"print(len(read_trace({str(SAMPLE)!r})), len(read_trace({str(PERF)!r})))")
    p = _python(code, _env(NUMBA_CACHE_DIR=str(cache)))
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "UnpicklingError" not in p.stdout
    assert p.stdout.split() == [str(len(read_trace(SAMPLE))), str(len(read_trace(PERF)))]
    warns = [ln for ln in p.stderr.splitlines() if ln.startswith("defragsim: warning: numba cache")]
    assert len(warns) == 2, p.stderr
    assert all(str(dst) in ln and "removed, recompiling" in ln for ln in warns)
    named = sorted(ln.split("damaged ")[1].split()[0] for ln in warns)
    assert named[1] == nbi[0].name and named[0] in [f.name for f in nbc], named
    # recompiled and cached again: a second run is silent
    p = _python(code, _env(NUMBA_CACHE_DIR=str(cache)))
    assert p.returncode == 0 and "warning" not in p.stderr, p.stderr
    assert nbi[0].exists() and (dst / named[0]).exists()
