"""The one place where numba options for defragsim kernels are set.

Two decorators:

* :func:`njit` - ``numba.njit`` with the package options (``cache=True``);
  used for entry points called from Python and for helpers that allocate.
* :func:`kernel` - for the allocator kernels (mirrors of kernel functions).
  They are compiled without NRT reference counting (State's ~50 arrays are
  owned by the Python caller; with NRT every array read from State would be
  reference counted) and
  always with int64 scalar arguments: the decorator returns a tiny inlined
  wrapper that casts every scalar argument to int64 before calling the
  compiled body.  Without that, numba compiles a separate specialisation of a
  kernel for every combination of int8/int32/literal argument types it meets
  (measured: 224 specialisations and ~6 minutes of compilation for ~110
  functions).

State, Owners, Recorder and Params are passed *by reference*
(:func:`pass_by_reference`): one pointer to a read-only struct, where numba
would pass ~500 flattened words.  The allocator's fast path
(``__alloc_pages`` down to ``rmqueue_pcplist``, ``free_frozen_pages`` down
to ``free_frozen_page_commit``) is marked ``@kernel(fastpath=True)``:
compiled once, and LLVM inlines it into every caller (``alwaysinline``), so
an order-0 allocation or free served by the per-cpu lists makes no call.

Compile time (issue 18; measured from an empty cache, ``storm`` at 64M,
this 2-core machine, ``benchmarks/cold_compile.py``: 316 s before, about
50 s after):

* a kernel's compiled body is only ever called from compiled code (Python
  calls go through ``kernel.impl``, a cached copy compiled on its own): no
  CPython or cfunc wrapper unboxing ~50 arrays is generated for it;
* its library is *link-only* (:func:`_install_link_only`): LLVM optimizes and
  emits machine code once, for each entry point's whole call tree, instead of
  once more at every level of the call tree;
* numba's inliner copies a callee's IR with one memo per function
  (:class:`_InlineBlockCopy`), not one per block;
* ``step_chunk`` has one call site of the fast path (it had three);
* namedtuples by reference (316 -> 110 -> 65 s): the ~500 arguments were most
  of what the front end lowered and LLVM optimized;
* the fast path inlined by LLVM, not by numba's front end, and numba's
  compiler flags compared without a property call per option
  (:func:`_install_fast_flag_values`): 65 -> 50 s.

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

Import-time side effects: importing numba, the cache directory, and the
patches of numba's cache loader, code library, environment setter,
inliner, calling convention, lowering and flags.  The library patch acts
only on libraries of defragsim kernels; the environment setter skips only a
write numba would make through a null pointer; the inliner's copy and the
flags' ``values()`` (any numba code in the process) give the same results;
the argument attributes, ``alwaysinline`` and the inlining threshold apply
only to defragsim's types, kernels and entry points.
"""
import copy as _copy
import inspect
import os
import pickle
import sys
import textwrap
import types
from pathlib import Path

import numba
import numpy as np
from llvmlite import binding as _ll
from llvmlite import ir as _ll_ir
from numba import _dynfunc
from numba.core import caching as _caching
from numba.core import codegen as _codegen
from numba.core import cpu as _cpu
from numba.core import inline_closurecall as _icc
from numba.core import ir as _ir
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import LoweringPass, register_pass
from numba.core import callconv as _callconv
from numba.core import cgutils as _cgutils
from numba.core import lowering as _lowering
from numba.core import targetconfig as _targetconfig
from numba.core import types as _types
from numba.core.datamodel import models as _models
from numba.core.datamodel.registry import register_default as _register_model
from numba.core.imputils import impl_ret_borrowed as _impl_ret_borrowed
from numba.core.imputils import lower_getattr_generic as _lower_getattr_generic
from numba.core.pythonapi import NativeValue as _NativeValue
from numba.core.typed_passes import NopythonTypeInference
from numba.core.typing.typeof import _typeof_tuple
from numba.core.typing.typeof import typeof_impl as _typeof_impl
from numba.extending import unbox as _unbox

from .config import Params
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


#: ``_KernelCompiler``'s marker on a link-only library.
_LINK_ONLY = "_defragsim_link_only"
#: The cache's name for a serialized link-only library.
_LINK_ONLY_KIND = "defragsim-link-only"


@register_pass(mutates_CFG=False, analysis_only=False)
class _LinkOnlyLibrary(LoweringPass):
    """Give the function a library marked link-only (before native lowering,
    which uses a library it finds in the compiler state)."""
    _name = "defragsim_link_only_library"

    def __init__(self):
        LoweringPass.__init__(self)

    def run_pass(self, state):
        if state.library is None:
            state.library = state.targetctx.codegen().create_library(state.func_id.func_qualname)
            state.library.enable_object_caching()
        setattr(state.library, _LINK_ONLY, True)
        return False


class _KernelCompiler(CompilerBase):
    """numba's nopython pipeline, with the function's library link-only."""

    def define_pipelines(self):
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pm.add_pass_after(_LinkOnlyLibrary, NopythonTypeInference)
        pm.finalize()
        return [pm]


def _install_link_only() -> None:
    """Compile each allocator kernel's machine code once, in its entry point.

    numba finalizes every function's library on its own: it links in the
    libraries of everything the function calls (each already linked with
    its own callees), runs LLVM's whole module pipeline over the result and
    emits machine code for all of it.  A kernel five calls below
    ``step_chunk`` is optimized and compiled again at each level above it:
    measured, 90 of the 130 s LLVM spent on a cold cache.

    A kernel's body is only ever called from compiled code (Python calls
    ``kernel.impl``, a copy compiled on its own, see :func:`_python_entry`).  Its library is *link-only*:
    finalizing it links in its callees' modules but runs no module pipeline
    and emits no machine code; it is cached as bitcode.  The entry points
    (``step_chunk``, the wrappers, plain :func:`njit` functions) are
    finalized as numba always does: the whole call tree linked in,
    optimized once by LLVM's module pipeline (which inlines across it) and
    compiled once.  Only libraries marked by :class:`_KernelCompiler` are
    affected; any other numba code in the process is compiled as usual."""
    lib_cls = _codegen.JITCodeLibrary
    if getattr(lib_cls, "_defragsim_patched", False):
        return
    finalize, serialize = lib_cls.finalize, lib_cls.serialize_using_object_code
    unserialize = lib_cls._unserialize.__func__
    get_executable = _cpu.CPUContext.get_executable

    def link_only_finalize(self):
        if not getattr(self, _LINK_ONLY, False):
            return finalize(self)
        _codegen.require_global_compiler_lock()
        self._raise_if_finalized()
        seen = set()
        for library in self._linking_libraries:
            if library not in seen:
                seen.add(library)
                self._reload_init.update(library._reload_init)
                self._final_module.link_in(library._get_module_for_linking(), preserve=True)
        self._finalized = True

    def link_only_serialize(self):
        if not getattr(self, _LINK_ONLY, False):
            return serialize(self)
        return (self.name, _LINK_ONLY_KIND, self._get_module_for_linking().as_bitcode())

    def link_only_unserialize(cls, codegen, state):
        name, kind, data = state
        if kind != _LINK_ONLY_KIND:
            return unserialize(cls, codegen, state)
        self = codegen.create_library(name)
        setattr(self, _LINK_ONLY, True)
        self._final_module = self._shared_module = _ll.parse_bitcode(data)
        self._finalized = True
        return self

    def link_only_get_executable(ctx, library, fndesc, env):
        if not getattr(library, _LINK_ONLY, False):
            return get_executable(ctx, library, fndesc, env)
        # no machine code, no CPython entry (never called from Python) and
        # so no environment pointer to set
        return _dynfunc.make_function(fndesc.lookup_module(), fndesc.qualname.split(".")[-1],
                                      f"link-only {fndesc.qualname!r}", 0, env, (library,))

    set_env = _codegen.JITCPUCodegen.set_env

    def set_env_if_defined(codegen, env_name, env):
        # a link-only library loaded from the cache names its callees'
        # environments, which have no address until an entry point links them
        # (numba would write through a null pointer)
        if codegen._engine.is_symbol_defined(env_name):
            set_env(codegen, env_name, env)

    _codegen.JITCPUCodegen.set_env = set_env_if_defined
    lib_cls.finalize = link_only_finalize
    lib_cls.serialize_using_object_code = link_only_serialize
    lib_cls._unserialize = classmethod(link_only_unserialize)
    _cpu.CPUContext.get_executable = link_only_get_executable
    lib_cls._defragsim_patched = True


class _InlineBlockCopy:
    """``copy`` as numba's inliner sees it: inside one ``inline_ir`` call,
    the blocks of one function IR are deep-copied with one memo.

    numba's ``copy_ir`` deep-copies a callee's blocks one by one, each with a
    fresh memo, and every ``ir.Var`` refers to the function's ``Scope``,
    which holds every variable: each block copies the whole scope again
    (blocks x variables).  For the inlined fast path (``__alloc_pages`` with
    everything below it) that was a third of the front end's time.  With one
    memo per scope the blocks share one copied scope, as the original
    blocks share theirs; the inlined code is the same."""

    def __init__(self, real):
        self.real = real
        self.memos = None

    def deepcopy(self, x, memo=None):
        if memo is None and self.memos is not None and isinstance(x, _ir.Block):
            entry = self.memos.get(id(x.scope))
            if entry is None:
                # the scope is kept alive with its memo, so its id is not reused
                entry = self.memos[id(x.scope)] = (x.scope, {})
            return self.real.deepcopy(x, entry[1])
        return self.real.deepcopy(x, memo)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _install_inline_block_copy() -> None:
    """Install :class:`_InlineBlockCopy` (only where numba's inliner has the
    shape it was written for; otherwise numba is left as it is)."""
    worker = getattr(_icc, "InlineWorker", None)
    if worker is None or not hasattr(worker, "inline_ir") or getattr(_icc, "copy", None) is not _copy:
        return
    shim = _InlineBlockCopy(_copy)
    inline_ir = worker.inline_ir

    def inline_ir_with_memo(self, *args, **kwargs):
        outer, shim.memos = shim.memos, {}
        try:
            return inline_ir(self, *args, **kwargs)
        finally:
            shim.memos = outer

    _icc.copy = shim
    worker.inline_ir = inline_ir_with_memo



class ByRefNamedTuple(_types.NamedTuple):
    """A namedtuple type that compiled functions take by reference (see
    :func:`pass_by_reference`)."""

    def __init__(self, types_, cls):
        super().__init__(types_, cls)
        self.name = "&" + self.name


class ByRefNamedUniTuple(_types.NamedUniTuple):
    """:class:`ByRefNamedTuple` for a namedtuple whose fields share one type."""

    def __init__(self, dtype, count, cls):
        super().__init__(dtype, count, cls)
        self.name = "&" + self.name


_BYREF_TYPES = (ByRefNamedTuple, ByRefNamedUniTuple)


def _struct_type(fe_type):
    """numba's own (by-value) type of the same namedtuple."""
    if isinstance(fe_type, _types.NamedUniTuple):
        return _types.NamedUniTuple(fe_type.dtype, fe_type.count, fe_type.instance_class)
    return _types.NamedTuple(fe_type.types, fe_type.instance_class)


class _ByRefModel(_models.PrimitiveModel):
    """The value is a pointer to the struct numba would pass by value."""

    def __init__(self, dmm, fe_type):
        self._struct = dmm.lookup(_struct_type(fe_type)).get_value_type()
        super().__init__(dmm, fe_type, self._struct.as_pointer())

    def struct_size(self, context) -> int:
        """Bytes of the struct the pointer points to."""
        return self._struct.get_abi_size(context.target_data)


_register_model(ByRefNamedTuple)(_ByRefModel)
_register_model(ByRefNamedUniTuple)(_ByRefModel)
_I32 = _ll_ir.IntType(32)


@_lower_getattr_generic(ByRefNamedTuple)
@_lower_getattr_generic(ByRefNamedUniTuple)
def _byref_getattr(context, builder, typ, value, attr):
    """``nt.field``: one load through the pointer (numba's own namedtuple
    getattr extracts the field from the struct value)."""
    index = typ.fields.index(attr)
    field = builder.gep(value, [_I32(0), _I32(index)], inbounds=True)
    return _impl_ret_borrowed(context, builder, typ[index], builder.load(field))


@_unbox(ByRefNamedTuple)
@_unbox(ByRefNamedUniTuple)
def _byref_unbox(typ, obj, c):
    """From Python: numba's own unboxing into a struct on the wrapper's
    stack, which lives for the whole call."""
    native = c.unbox(_struct_type(typ), obj)
    ptr = _cgutils.alloca_once(c.builder, native.value.type)
    c.builder.store(native.value, ptr)
    return _NativeValue(ptr, is_error=native.is_error, cleanup=native.cleanup)


def pass_by_reference(cls):
    """Make compiled functions take instances of the namedtuple class
    ``cls`` by reference: one pointer argument to a read-only struct.

    numba passes a namedtuple by value, flattened into one argument per
    scalar: State (48 arrays of 7 words), Owners, Recorder and Params made
    every kernel call ~500 arguments long.  Every call site then built, and
    every kernel unpacked, ~500 values (most of the front end's lowering
    and of LLVM's work, 316 s -> 110 s of compilation even after
    :func:`_install_link_only`), and a call copied them on the stack at run
    time.  By reference, the argument is one pointer, marked ``readonly
    noalias captures(none) dereferenceable``, and ``nt.field`` is one load;
    the namedtuple types the same in every other respect (a subclass of
    numba's type: attribute typing, ``len``, the cache).  The struct is the
    one numba builds when it unboxes the namedtuple from Python, on the
    stack of the Python entry's wrapper; no compiled code builds or
    returns one of these namedtuples (numba would refuse to compile it)."""
    @_typeof_impl.register(cls)
    def _typeof_by_reference(val, c):
        t = _typeof_tuple(val, c)
        if t is None:
            return None
        if isinstance(t, _types.NamedUniTuple):
            return ByRefNamedUniTuple(t.dtype, t.count, cls)
        return ByRefNamedTuple(t.types, cls)
    return cls


#: (module, qualname) of the kernels marked ``alwaysinline`` for LLVM.
_ALWAYS_INLINE: set = set()
#: LLVM's inlining threshold for an entry point's module (LLVM's own at -O3: 250).
ENTRY_INLINE_THRESHOLD = 2000
#: Set while an entry point's module is optimized (see :func:`_install_llvm_tuning`).
_ENTRY_MODULE = [False]


def _install_llvm_tuning() -> None:
    """Attributes and inlining for defragsim's compiled code.

    * Arguments of a by-reference namedtuple type get ``readonly noalias
      captures(none) nonnull dereferenceable align 8``: a callee only reads
      the struct, so LLVM keeps a field loaded once across calls and stores
      to the arrays.
    * A kernel marked ``fastpath`` gets ``alwaysinline``.
    * When an entry point's module (one that links defragsim kernels) is
      optimized, LLVM's inliner threshold is ENTRY_INLINE_THRESHOLD.  With
      ~500-argument calls LLVM inlined nearly every kernel (the arguments
      count in its favour); with one pointer it inlined few, and the
      order-0 fast path lost about a fifth of its speed (``steady``, 4 GiB).
      Other numba code in the process keeps numba's settings."""
    if getattr(_callconv.CPUCallConv, "_defragsim_tuned", False):
        return
    decorate = _callconv.CPUCallConv.decorate_function

    def decorate_function(self, fn, args, fe_argtypes, noalias=False):
        decorate(self, fn, args, fe_argtypes, noalias)
        # the LLVM arguments of each Python argument, as numba's decorate
        # groups them to name them (a by-reference one is one pointer)
        groups = self._get_arg_packer(fe_argtypes)._unflattener.unflatten(self.get_arguments(fn))
        for ty, arg in zip(fe_argtypes, groups):
            if isinstance(ty, _BYREF_TYPES):
                set.add(arg.attributes, "readonly")   # not in llvmlite's list
                for attr in ("noalias", "captures(none)", "nonnull"):
                    arg.add_attribute(attr)
                dm = self.context.data_model_manager.lookup(ty)
                arg.attributes.dereferenceable = dm.struct_size(self.context)
                arg.attributes.align = 8

    setup_function = _lowering.Lower.setup_function

    def setup_function_inline(self, fndesc):
        setup_function(self, fndesc)
        if (fndesc.modname, fndesc.qualname) in _ALWAYS_INLINE:
            self.function.attributes.add("alwaysinline")

    optimize_final_module = _codegen.JITCodeLibrary._optimize_final_module

    def optimize_entry_module(self):
        _ENTRY_MODULE[0] = any(getattr(lib, _LINK_ONLY, False) for lib in self._linking_libraries)
        try:
            return optimize_final_module(self)
        finally:
            _ENTRY_MODULE[0] = False

    create_pass_builder = _codegen.create_pass_builder

    def create_pass_builder_tuned(tm, opt=2, loop_vectorize=False, slp_vectorize=False):
        if not _ENTRY_MODULE[0]:
            return create_pass_builder(tm, opt, loop_vectorize, slp_vectorize)
        # numba's create_pass_builder, with the inlining threshold set
        pto = _ll.create_pipeline_tuning_options()
        pto.speed_level = opt
        pto.slp_vectorization = slp_vectorize
        pto.loop_vectorization = loop_vectorize
        pto.inlining_threshold = ENTRY_INLINE_THRESHOLD
        return _ll.create_pass_builder(tm, pto)

    _callconv.CPUCallConv.decorate_function = decorate_function
    _lowering.Lower.setup_function = setup_function_inline
    _codegen.JITCodeLibrary._optimize_final_module = optimize_entry_module
    _codegen.create_pass_builder = create_pass_builder_tuned
    _callconv.CPUCallConv._defragsim_tuned = True


def _install_fast_flag_values() -> None:
    """numba's ``TargetConfig.values()`` (compiler flags as a dict, computed
    for every hash and comparison of the flags in the typing templates'
    cache: 280,000 times, ~5 s of a cold compile) without a property call
    per option.  The same dict: each option's value if set, else its
    default, which is what the option's property returns."""
    cls = _targetconfig.TargetConfig
    if getattr(cls, "_defragsim_values", False):
        return

    def values(self):
        vals = self._values
        return {k: vals[k] if k in vals else opt._default for k, opt in type(self).options.items()}

    cls.values = values
    cls._defragsim_values = True


_ensure_cache_dir()
_install_cache_guard()
_install_link_only()
_install_inline_block_copy()
_install_llvm_tuning()
_install_fast_flag_values()
# Params by reference too, registered here: defragsim.config must stay
# importable without numba (the explorer's widgets import it first)
pass_by_reference(Params)

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
        # compiled once, inlined by LLVM into every caller
        _ALWAYS_INLINE.add((fn.__module__, fn.__qualname__))
    if entry:
        # called from Python with well-typed arrays: no wrapper, cached
        return numba.njit(**opts)(fn)
    if opts.get("inline") == "always":
        # small leaves are inlined into their callers: no specialisations
        return numba.njit(**opts)(fn)
    # only ever called from compiled code (Python calls go through
    # ``.impl``, see _python_entry): no
    # CPython or cfunc wrapper to unbox/box State's ~50 arrays, and a
    # link-only library (see _install_link_only)
    opts.setdefault("no_cpython_wrapper", True)
    opts.setdefault("no_cfunc_wrapper", True)
    opts.setdefault("pipeline_class", _KernelCompiler)
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
    wrapper.link_only = impl
    link_only = getattr(impl, "targetoptions", {}).get("no_cpython_wrapper", False)
    wrapper.impl = _python_entry(fn) if link_only else impl
    return wrapper


def _python_entry(fn):
    """The kernel as a cached function Python can call (tests, and the
    driver's calls outside ``step_chunk``): the wrapper's own compilation is
    not cached (numba cannot cache an ``exec``-made function) and the
    link-only body has no machine code.  A copy of the function under its
    own name keeps its cache index apart from the link-only body's."""
    clone = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__,
                               fn.__closure__)
    clone.__qualname__ = fn.__qualname__ + "__python"
    clone.__module__ = fn.__module__
    clone.__doc__ = fn.__doc__
    return numba.njit(**KERNEL_OPTIONS)(clone)


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


