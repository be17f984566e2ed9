"""Namedtuples passed by reference, and numba's flags compared faster
(defragsim/_jit.py).

The model's State, Owners, Recorder and Params reach compiled code as one
pointer to a read-only struct.  These tests compile small functions (not the
model) without the cache: the types, the signature LLVM sees, the values read
through the pointer (from Python and from another compiled function), the
fast path's ``alwaysinline``, and the flags' ``values()``.
"""
from __future__ import annotations

import re
from collections import namedtuple

import numba
import numpy as np
import pytest
from numba.core import targetconfig
from numba.core.compiler import Flags

from defragsim import Config
from defragsim._jit import (_ALWAYS_INLINE, KERNEL_OPTIONS, ByRefNamedTuple, ByRefNamedUniTuple,
                            pass_by_reference)
from defragsim.mm.state import Owners, State, make_recorder, make_state

Pair = pass_by_reference(namedtuple("Pair", ["a", "b"]))
Ints = pass_by_reference(namedtuple("Ints", ["x", "y", "z"]))

NOCACHE = dict(KERNEL_OPTIONS, cache=False)


@numba.njit(**NOCACHE)
def _callee(p, i):
    return p.a[i] * 10 + p.b[i]


@numba.njit(**NOCACHE)
def _caller(p, q, n):
    s = 0
    for i in range(n):
        s += _callee(p, i) + q.y
    return s


def _pair():
    return Pair(np.arange(5, dtype=np.int64), np.arange(5, dtype=np.uint8) + 1)


def test_the_model_namedtuples_type_by_reference():
    st = make_state(Config(mem="16M"))
    assert isinstance(numba.typeof(st), ByRefNamedTuple)
    assert numba.typeof(st).instance_class is State
    assert isinstance(numba.typeof(make_recorder(64)), (ByRefNamedTuple, ByRefNamedUniTuple))
    assert isinstance(numba.typeof(Config(mem="16M").to_params()), ByRefNamedUniTuple)
    assert pass_by_reference(Owners) is Owners
    # a plain namedtuple is left as numba types it
    plain = namedtuple("Plain", ["a"])(np.zeros(2))
    assert not isinstance(numba.typeof(plain), (ByRefNamedTuple, ByRefNamedUniTuple))


def test_fields_read_through_the_pointer_are_the_values():
    p, q = _pair(), Ints(1, 7, 3)
    assert _caller(p, q, 5) == sum(p.a[i] * 10 + p.b[i] + 7 for i in range(5))
    assert _callee(p, 4) == 4 * 10 + 5


def test_one_readonly_pointer_per_namedtuple_in_the_signature():
    _caller(_pair(), Ints(1, 2, 3), 1)
    ir = _callee.inspect_llvm(_callee.signatures[0])
    define = next(line for line in ir.splitlines()
                  if line.startswith("define") and "_callee" in line and "cpython" not in line)
    params = define[define.index("(") + 1:define.rindex(")")]
    # return slot, exception slot, the namedtuple (one pointer), i
    assert re.findall(r"%[\w.]+", params) == ["%retptr", "%excinfo", "%arg.p", "%arg.i"], define
    ptr_param = params[params.rindex(",", 0, params.index("%arg.p")) + 1:params.index("%arg.p")]
    for attr in ("ptr", "readonly", "noalias", "nonnull", "captures(none)", "dereferenceable(112)"):
        assert attr in ptr_param, define


def test_the_fast_path_is_marked_always_inline():
    assert ("defragsim.mm.page_alloc", "__alloc_pages") in _ALWAYS_INLINE
    assert ("defragsim.mm.page_alloc", "free_frozen_pages") in _ALWAYS_INLINE
    assert ("defragsim.mm.page_alloc", "__alloc_pages_slowpath") not in _ALWAYS_INLINE


def _values_as_numba_computes_them(flags):
    return {k: getattr(flags, k) for k in flags.options}


@pytest.mark.parametrize("settings", [{}, {"nrt": True, "boundscheck": True},
                                      {"no_cpython_wrapper": True, "error_model": "numpy"}])
def test_flag_values_are_numbas(settings):
    flags = Flags()
    for k, v in settings.items():
        setattr(flags, k, v)
    assert getattr(targetconfig.TargetConfig, "_defragsim_values", False)
    assert flags.values() == _values_as_numba_computes_them(flags)
    other = Flags()
    for k, v in settings.items():
        setattr(other, k, v)
    assert flags == other and hash(flags) == hash(other)
    if settings:
        assert flags != Flags()
