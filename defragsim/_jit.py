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

No import-time side effects beyond importing numba.
"""
import inspect
import textwrap

import numba
import numpy as np

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
    opts = dict(JIT_OPTIONS)
    opts.update(overrides)
    if fn is None:
        return lambda f: numba.njit(**opts)(f)
    return numba.njit(**opts)(fn)


def kernel(fn=None, **overrides):
    """Decorator for allocator kernels (see the module docstring)."""
    if fn is None:
        return lambda f: kernel(f, **overrides)
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

