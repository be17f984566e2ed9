"""The one place where numba options for defragsim kernels are set.

Every jitted function in the package is decorated with :func:`njit` from this
module, so caching and compile options live in one spot (numba-stats style).
No import-time side effects beyond importing numba.
"""
import numba

#: Options shared by every kernel.  ``cache=True`` writes compiled code next to
#: the module (or under ``NUMBA_CACHE_DIR``); state is a namedtuple of numpy
#: arrays so the cache key is stable across processes.
JIT_OPTIONS = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False)

#: Options for the allocator kernels: no NRT reference counting.  State is a
#: namedtuple of ~35 arrays; with NRT every non-inlined call would incref and
#: decref each of them (measured: ~4 us per allocation instead of ~0.1 us).
#: Kernels compiled this way must not allocate arrays (they use State.scratch).
KERNEL_OPTIONS = dict(JIT_OPTIONS, _nrt=False)


def kernel(fn=None, **overrides):
    """``numba.njit`` for allocator kernels: package options without NRT."""
    opts = dict(KERNEL_OPTIONS)
    opts.update(overrides)
    if fn is None:
        return lambda f: numba.njit(**opts)(f)
    return numba.njit(**opts)(fn)


def njit(fn=None, **overrides):
    """``numba.njit`` with the package's options (``cache=True`` always)."""
    opts = dict(JIT_OPTIONS)
    opts.update(overrides)
    if fn is None:
        return lambda f: numba.njit(**opts)(f)
    return numba.njit(**opts)(fn)
