"""The one place where numba options for defragsim kernels are set.

Two decorators:

* :func:`njit` - ``numba.njit`` with the package options (``cache=True``);
  used for entry points called from Python and for helpers that allocate.
* :func:`kernel` - for the allocator kernels (mirrors of kernel functions).
  They are compiled without NRT reference counting (State is a namedtuple of
  ~45 arrays; with NRT every call would incref/decref each of them) and
  always with int64 scalar arguments: the decorator returns a tiny inlined
  wrapper that casts every scalar argument to int64 before calling the
  compiled body.  Without that, numba compiles a separate specialisation of a
  kernel for every combination of int8/int32/literal argument types it meets
  (measured: 224 specialisations and ~6 minutes of compilation for ~110
  functions).

The allocator's fast path (``__alloc_pages`` down to ``rmqueue_pcplist``,
``free_frozen_pages`` down to ``free_frozen_page_commit``) is marked
``@kernel(fastpath=True)``: compiled inline into its callers, with the same
int64 arguments.  numba passes a namedtuple by value, flattened: each call of
a kernel copies State, Owners and Recorder, about 460 machine words pushed on
the stack (read in the generated assembly of ``step_chunk``).  With five such
calls per allocation the copies, not the allocator, took ~90% of the time of
an unpressured run.  Inlining the fast path leaves no call on an order-0
allocation or free served by the per-cpu lists.

Where the compiled code is cached: an explicit ``NUMBA_CACHE_DIR`` (or
numba's own config file) always wins; otherwise, when defragsim runs from a
source checkout (a ``pyproject.toml`` beside the package folder),
``<checkout>/.numba-cache``, so that ``dev.py test``, ``dev.py demo``, ``dev.py
lab``, the ``defragsim`` command and a notebook all share one cache.  numba
picks the directory when a dispatcher enables caching, i.e. when a function
is decorated, so this module sets ``numba.config.CACHE_DIR`` at import, before
any defragsim function is decorated (every jitted module imports this one
first), and again in each decorator.  An installed (non-checkout) defragsim
keeps numba's default, ``__pycache__`` beside the sources.

A damaged cache file (a truncated or corrupt ``.nbi`` index or ``.nbc`` data
file, e.g. after a full disk or a killed process) is not an
``UnpicklingError``/``EOFError`` traceback: :func:`_install_cache_guard`
makes numba treat it as a cache miss, removes the file(s) with a one-line
warning on stderr naming the cache directory, and the function is compiled
and cached again.

No import-time side effects beyond importing numba and those two settings.
"""
import inspect
import os
import pickle
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
from numba.core import caching as _caching

from .provenance import jit_source_tag

#: The defragsim package folder and, in a source checkout, the checkout.
_PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE_DIR.parent if (_PACKAGE_DIR.parent / "pyproject.toml").is_file() else None


def default_cache_dir() -> Path | None:
    """``<checkout>/.numba-cache`` in a source checkout, else None (numba's
    default, ``__pycache__``)."""
    return _CHECKOUT / ".numba-cache" if _CHECKOUT is not None else None


#: The folder chosen by :func:`_ensure_cache_dir` (set once per process).
_CHOSEN: str | None = None


def _ensure_cache_dir() -> None:
    """Point numba at ``<base>/jit-<hash of the jitted sources>``: the base is
    NUMBA_CACHE_DIR (or a numba config file's directory), else the
    checkout's ``.numba-cache``.  The per-version folder keeps a cache built
    by other sources from being loaded (see
    :func:`defragsim.provenance.jit_source_tag`)."""
    global _CHOSEN
    if _CHOSEN is not None and numba.config.CACHE_DIR == _CHOSEN:
        return
    base = os.environ.get("NUMBA_CACHE_DIR") or numba.config.CACHE_DIR or default_cache_dir()
    if not base:
        return
    _CHOSEN = str(Path(base) / jit_source_tag())
    numba.config.CACHE_DIR = _CHOSEN


def cache_dir() -> Path | None:
    """The directory numba caches defragsim's compiled code in (None:
    ``__pycache__`` beside each module)."""
    return Path(numba.config.CACHE_DIR) if numba.config.CACHE_DIR else None


#: Cache files already reported damaged in this process.
_DAMAGED: set = set()
#: What reading a damaged pickle raises (plus anything a garbled pickle may).
_DAMAGE_ERRORS = (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
                  ImportError, IndexError, KeyError, MemoryError, UnicodeDecodeError)


def _ours(cache_path) -> bool:
    """A cache directory defragsim answers for: the configured NUMBA_CACHE_DIR
    or the checkout's .numba-cache, or a ``__pycache__`` inside the package."""
    p = os.path.abspath(cache_path)
    roots = [str(_PACKAGE_DIR)]
    if numba.config.CACHE_DIR:
        roots.append(os.path.abspath(numba.config.CACHE_DIR))
    return any(p == r or p.startswith(r + os.sep) for r in roots)


def _report_damaged(cache_file, paths, err) -> None:
    """Remove damaged cache files; one line on stderr per file."""
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass                      # another process removed it first
    key = paths[0]
    if key in _DAMAGED:
        return
    _DAMAGED.add(key)
    where = os.path.dirname(key)
    print(f"defragsim: warning: numba cache {where}: damaged {os.path.basename(key)} "
          f"({type(err).__name__}); removed, recompiling", file=sys.stderr, flush=True)


def _install_cache_guard() -> None:
    """Make numba's cache loader treat a damaged file of ours as a miss."""
    cls = _caching.IndexDataCacheFile
    if getattr(cls, "_defragsim_guard", False):
        return
    load_index, load_data = cls._load_index, cls._load_data

    def _load_index(self):
        try:
            return load_index(self)
        except _DAMAGE_ERRORS as e:
            if not _ours(self._cache_path):
                raise
            # the index and every data file it may have listed
            base = self._index_name[:-len(".nbi")]
            try:
                data = [os.path.join(self._cache_path, n) for n in os.listdir(self._cache_path)
                        if n.startswith(base + ".") and n.endswith(".nbc")]
            except OSError:
                data = []
            _report_damaged(self, [self._index_path] + data, e)
            return {}

    def _load_data(self, name):
        try:
            return load_data(self, name)
        except _DAMAGE_ERRORS as e:
            if not _ours(self._cache_path):
                raise
            _report_damaged(self, [self._data_path(name)], e)
            raise OSError(f"damaged numba cache file {name}") from None   # load(): a miss

    cls._load_index, cls._load_data = _load_index, _load_data
    cls._defragsim_guard = True


_ensure_cache_dir()
_install_cache_guard()

#: Options shared by every jitted function.
JIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)
#: Kernel options: no NRT (kernels must not allocate arrays; they use State.scratch).
KERNEL_OPTIONS = dict(JIT_OPTIONS, _nrt=False)

#: Parameter names that carry arrays or namedtuples (passed through unchanged).
#: Every other kernel parameter is a scalar and is passed as int64.
STRUCT_PARAMS = frozenset({
    "st", "prm", "rec", "own", "heads", "tails", "mode", "nr", "counts",
    "op_t", "op_kind", "op_order", "op_gfp", "op_handle", "op_cpu", "op_content",
})


def njit(fn=None, **overrides):
    """``numba.njit`` with the package's options (``cache=True`` always)."""
    _ensure_cache_dir()
    opts = dict(JIT_OPTIONS)
    opts.update(overrides)
    if fn is None:
        return lambda f: numba.njit(**opts)(f)
    return numba.njit(**opts)(fn)


def kernel(fn=None, **overrides):
    """Decorator for allocator kernels (see the module docstring)."""
    if fn is None:
        return lambda f: kernel(f, **overrides)
    _ensure_cache_dir()
    entry = overrides.pop("entry", False)
    fastpath = overrides.pop("fastpath", False)
    opts = dict(KERNEL_OPTIONS)
    opts.update(overrides)
    if fastpath:
        # inlined into every caller, behind the same int64-casting wrapper
        opts["inline"] = "always"
        return _int64_wrapper(fn, numba.njit(**opts)(fn))
    if entry:
        # called from Python with well-typed arrays: no wrapper, cached
        return numba.njit(**opts)(fn)
    if opts.get("inline") == "always":
        # small leaves are inlined into their callers: no specialisations
        return numba.njit(**opts)(fn)
    return _int64_wrapper(fn, numba.njit(**opts)(fn))


def _int64_wrapper(fn, impl):
    """An inlined wrapper of ``impl`` that passes scalar arguments as int64."""
    params = list(inspect.signature(fn).parameters)
    args = ", ".join(p if p in STRUCT_PARAMS else f"_i64({p})" for p in params)
    src = textwrap.dedent(f"""
        def {fn.__name__}({", ".join(params)}):
            return _impl({args})
    """)
    scope = {"_impl": impl, "_i64": np.int64}
    exec(src, scope)  # noqa: S102 - a generated two-line forwarding wrapper
    wrapper_opts = dict(KERNEL_OPTIONS, inline="always", cache=False)
    wrapper = numba.njit(**wrapper_opts)(scope[fn.__name__])
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    wrapper.impl = impl
    return wrapper


#: ``NUMBA_DISABLE_JIT=1``: the kernels run as plain Python (for coverage and
#: for measuring what the JIT buys, ``benchmarks/run.py``).
JIT_DISABLED = bool(numba.config.DISABLE_JIT)


def as_python_arrays(arrays):
    """A namedtuple (or tuple) of arrays with every integer array widened to
    int64, for plain-Python runs.

    numba computes ``1 << order`` or ``kind - 1`` on an int8/uint8 array
    element in int64; numpy keeps the element's type and wraps (``1 <<
    np.int8(7) == -128``).  With int64 arrays plain Python gives the numbers
    the compiled kernels give (checked by tests/test_nojit.py)."""
    def widen(a):
        if isinstance(a, np.ndarray) and a.dtype.kind in "iu" and a.dtype != np.uint64:
            return a.astype(np.int64)
        return a
    items = [widen(a) for a in arrays]
    return type(arrays)(*items) if hasattr(arrays, "_fields") else tuple(items)

