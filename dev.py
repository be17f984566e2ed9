#!/usr/bin/env python3
"""Developer tasks that need nothing but Python 3.11+ and pip.

    python3 dev.py demo   # create .venv, install, run the headline comparison -> out/
    python3 dev.py test   # the whole test suite (tests/ and the notebooks); CI runs this
    python3 dev.py lab    # JupyterLab on notebooks/

The venv is (re)installed whenever pyproject.toml is newer than .venv/.installed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VPY = VENV / "bin" / "python"
STAMP = VENV / ".installed"


def sh(*cmd, env=None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"defragsim needs Python 3.11+, this is {sys.version.split()[0]}")
    if not VPY.exists():
        print(f"+ python -m venv {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pyproject = ROOT / "pyproject.toml"
    if STAMP.exists() and STAMP.stat().st_mtime >= pyproject.stat().st_mtime:
        return
    if sh(VPY, "-m", "pip", "install", "-q", "--upgrade", "pip") != 0:
        sys.exit("pip upgrade failed")
    if sh(VPY, "-m", "pip", "install", "-q", "-e", ".[notebooks,test]") != 0:
        sys.exit("installing defragsim failed")
    STAMP.touch()


def task_demo(args) -> int:
    ensure_venv()
    return sh(VENV / "bin" / "defragsim", "demo", "--out", "out", *args)


def task_test(args) -> int:
    ensure_venv()
    env = dict(os.environ)
    # the numba cache: NUMBA_CACHE_DIR if set (CI sets one), else .numba-cache/
    # of this checkout, for every entry point (defragsim/_jit.py)
    env.setdefault("MPLBACKEND", "Agg")
    # --nbmake also collects and executes notebooks/*.ipynb.  pytest exits 5
    # when no test ran, which is a failure here too.
    return sh(VPY, "-m", "pytest", "tests", "notebooks", "--nbmake", "--nbmake-timeout=300",
              "-p", "no:cacheprovider", "-q", *args, env=env)


def task_lab(args) -> int:
    ensure_venv()
    return sh(VENV / "bin" / "jupyter", "lab", "notebooks/", *args)


TASKS = {"demo": task_demo, "test": task_test, "lab": task_lab}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        sys.exit(f"usage: python3 dev.py {{{'|'.join(TASKS)}}} [args...]")
    sys.exit(TASKS[sys.argv[1]](sys.argv[2:]))
