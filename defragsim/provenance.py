"""What produced a number: the defragsim version and a hash of the model's source.

Captions, report headers and the sweep store carry both, so a figure pasted
into a thread can be tied to the exact model that drew it.
"""
from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

__version__ = "0.1.0"

_PKG = Path(__file__).resolve().parent

#: The model: the kernel mirror, the op streams, the run loop and the base
#: modules they import.  Editing anything else (analysis, plots, the CLI, the
#: widgets, live-machine capture) cannot change a number.
MODEL_PARTS = ("mm", "workloads", "sim", "constants.py", "gfp.py", "config.py", "_jit.py")


@functools.lru_cache(maxsize=1)
def model_sha256() -> str:
    """sha256 of the model's source files (:data:`MODEL_PARTS`): a stored
    result is reused only by the model that computed it, so an edited kernel
    never passes off old numbers as new.  Line endings are normalised (a CRLF
    checkout holds the same model)."""
    h = hashlib.sha256()
    for part in MODEL_PARTS:
        p = _PKG / part
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            rel = f.relative_to(_PKG).as_posix()
            h.update(rel.encode() + b"\0" + f.read_bytes().replace(b"\r\n", b"\n"))
    return h.hexdigest()


def model_hash_short() -> str:
    """The first 12 hex digits of :func:`model_sha256` (for captions)."""
    return model_sha256()[:12]


#: The source files numba compiles (the jitted kernels and what they read at
#: compile time: module constants, Params).  Their hash names the cache folder.
JIT_SOURCES = ("mm", "workloads/_traceparse.py", "sim/recorder.py", "constants.py", "gfp.py",
               "config.py", "kernels.py", "_jit.py")


@functools.lru_cache(maxsize=1)
def jit_source_tag() -> str:
    """``jit-<12 hex digits>``: a hash of :data:`JIT_SOURCES`.  numba keys a
    cached function on its own file only, but a kernel's machine code embeds
    the code of the kernels it calls and the module constants it reads: after
    an edit of one file, callers in unchanged files would load stale code.
    defragsim keeps each version of the sources in its own cache folder, so a
    changed model is always compiled afresh (and switching back is instant)."""
    h = hashlib.sha256()
    for part in JIT_SOURCES:
        p = _PKG / part
        for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p]):
            h.update(f.relative_to(_PKG).as_posix().encode() + b"\0"
                     + f.read_bytes().replace(b"\r\n", b"\n"))
    return "jit-" + h.hexdigest()[:12]


def numba_cache_base() -> Path | None:
    """The cache root the user chose (NUMBA_CACHE_DIR), else the checkout's
    ``.numba-cache``, else None (an installed package: ``__pycache__``)."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env)
    if (_PKG.parent / "pyproject.toml").is_file():
        return _PKG.parent / ".numba-cache"
    return None


def _numba_cache_root() -> Path | None:
    """Where numba caches the model's compiled code, found without importing
    numba (the rule of :mod:`defragsim._jit`): ``<base>/jit-<hash>`` under
    :func:`numba_cache_base`, else None (``__pycache__`` beside each module)."""
    base = numba_cache_base()
    return base / jit_source_tag() if base is not None else None


def model_cache_cold() -> bool:
    """True when the first run of this process will compile the model (a few
    minutes): numba's cache has no index file for ``mm/page_alloc.py``, or
    only ones older than the source.  Cheap (a directory listing), so the
    CLI and the explorer can say so before the first call.  numba names a
    cached function ``<module>.<function>-<line>.py<ver>.nbi`` in a folder
    ``<dir name>_<sha1 of the dir's path>`` under the cache root."""
    src = _PKG / "mm" / "page_alloc.py"
    root = _numba_cache_root()
    if root is None:
        where = src.parent / "__pycache__"
    else:
        d = str(src.parent)
        where = root / f"{src.parent.name}_{hashlib.sha1(d.encode()).hexdigest()}"
    try:
        mtime = src.stat().st_mtime
        return not any(p.stat().st_mtime >= mtime for p in where.glob("page_alloc.*.nbi"))
    except OSError:
        return True
