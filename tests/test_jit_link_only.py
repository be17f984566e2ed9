"""Link-only kernel libraries and the inliner's block copy (defragsim/_jit.py).

A kernel's library holds no machine code: its entry point links it in.  These
tests run a small call tree of kernels (not the model: seconds, not minutes)
in fresh processes sharing one cache, in the orders that broke while this was
written: a kernel cached on its own and then linked by an entry point compiled
in another process (numba wrote a null environment pointer: a segfault),
the entry point loaded from the cache, and the kernel called from Python.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

KERNELS = textwrap.dedent('''
    import numpy as np
    from defragsim._jit import kernel

    @kernel
    def leaf(st, x):
        s = 0
        for i in range(x):
            s += st[i % st.shape[0]]
        return s

    @kernel
    def middle(st, x, flag):
        if flag:
            return leaf(st, x) + leaf(st, x + 1)
        return leaf(st, 3)

    @kernel(fastpath=True)
    def inlined(st, x):
        t = 0
        for j in range(2):
            t += middle(st, x + j, j == 0)
        return t

    @kernel(entry=True)
    def entry(st, n):
        t = 0
        for i in range(n):
            t += inlined(st, np.int8(i % 100)) * 2 + middle(st, i, i % 2 == 1)
        return t
''')


def _expected(n=50):
    st = list(range(10))

    def leaf(x):
        return sum(st[i % 10] for i in range(x))

    def middle(x, flag):
        return leaf(x) + leaf(x + 1) if flag else leaf(3)

    def inlined(x):
        return sum(middle(x + j, j == 0) for j in range(2))

    return sum(inlined(i % 100) * 2 + middle(i, i % 2 == 1) for i in range(n))


@pytest.fixture()
def tree(tmp_path):
    (tmp_path / "lo_kernels.py").write_text(KERNELS)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(REPO)])

    def python(code):
        p = subprocess.run([sys.executable, "-c", "import numpy as np, lo_kernels as k\n"
                            "st = np.arange(10, dtype=np.int64)\n" + code],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"exit {p.returncode}\n{p.stderr}"
        return p.stdout.split()
    return python


def test_a_kernel_cached_alone_is_linked_by_an_entry_point_compiled_later(tree):
    sig = "(k.middle.link_only.compile((numba.typeof(st), numba.int64, numba.int64)), print('ok'))"
    assert tree("import numba\n" + sig) == ["ok"]
    # another process: middle and leaf come from the cache (bitcode only)
    assert tree("print(k.entry(st, 50))") == [str(_expected())]
    # and the entry point itself from the cache
    assert tree("print(k.entry(st, 50), sum(k.entry.stats.cache_hits.values()))") == [str(_expected()), "1"]


def test_kernels_called_from_python_give_what_compiled_callers_get(tree):
    out = tree("print(k.entry(st, 50), k.middle.impl(st, 7, 1), k.middle(st, 7, True),"
               " k.leaf.impl(st, 12))")
    assert out == [str(_expected()), "49", "49", str(sum(i % 10 for i in range(12)))]
    # the Python entries are cached too (a copy under their own name)
    out = tree("print(k.middle.impl(st, 7, 1), sum(k.middle.impl.stats.cache_hits.values()))")
    assert out == ["49", "1"]


def test_a_kernel_library_has_no_machine_code(tree):
    code = ("import numba\n"
            "from defragsim._jit import _LINK_ONLY\n"
            "k.entry(st, 5)\n"
            "lib = next(iter(k.middle.link_only.overloads.values())).library\n"
            "ent = next(iter(k.entry.overloads.values())).library\n"
            "print(getattr(lib, _LINK_ONLY, False), getattr(ent, _LINK_ONLY, False),"
            " lib._compiled_object is None)")
    assert tree(code) == ["True", "False", "True"]
