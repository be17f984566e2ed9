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
    opts = dict(KERNEL_OPTIONS)
    opts.update(overrides)
    if entry:
        # called from Python with well-typed arrays: no wrapper, cached
        return numba.njit(**opts)(fn)
    if opts.get("inline") == "always":
        # small leaves are inlined into their callers: no specialisations
        return numba.njit(**opts)(fn)
    impl = numba.njit(**opts)(fn)
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
