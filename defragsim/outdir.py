"""Output folders (``--out``): checked before any work, written atomically.

:func:`check_out_dir` refuses, before a simulation runs, a folder that is a
file, lies under a file, or cannot be written (it probes with a temporary
file it removes).  :func:`staged` writes a command's outputs into a hidden
temporary folder inside the output folder and moves each file into place
with ``os.replace`` only when all were written: a full disk or any other
write error leaves no half-written file and the previous outputs as they
were, and raises :class:`~defragsim.errors.OutputError` naming the path.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

_TMP_PREFIX = ".defragsim-tmp-"


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def check_out_dir(out, option: str = "--out") -> None:
    """OutputError unless ``out`` is (or can be created as) a writable folder."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise OutputError(f"{option}: {p}: exists and is not a directory")
    anc = p
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{option}: {p}: {anc} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=anc, prefix=_TMP_PREFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"{option}: {p}: cannot write in {anc}: {_why(e)}") from None


class Staging:
    """The temporary folder of :func:`staged`: write into ``tmp``;
    :meth:`final` maps paths under it to where they will be."""

    def __init__(self, out: Path, tmp: Path):
        self.out, self.tmp = out, tmp

    def final(self, paths) -> list[str]:
        return [str(self.out / Path(p).relative_to(self.tmp)) for p in paths]


def _created_dirs(out: Path) -> list[Path]:
    """``out`` and its missing parents, outermost first (to remove again if
    nothing was written)."""
    missing = []
    p = out
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    return missing[::-1]


@contextmanager
def staged(out, option: str = "--out"):
    """``with staged(out) as st: write into st.tmp``; see the module docstring."""
    out = Path(out)
    created = _created_dirs(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=_TMP_PREFIX))
    except OSError as e:
        _remove_empty(created)
        raise OutputError(f"{option}: {out}: {_why(e)}") from None
    try:
        try:
            yield Staging(out, tmp)
            _move_into(tmp, out)
        except OSError as e:
            where = e.filename if e.filename else out
            try:
                where = out / Path(where).relative_to(tmp)
            except ValueError:
                pass
            raise OutputError(f"{option}: cannot write {where}: {_why(e)}; "
                              f"the outputs already in {out} are as they were") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)


def _move_into(tmp: Path, out: Path) -> None:
    """Every file under ``tmp`` to the same place under ``out`` (``os.replace``)."""
    for root, _dirs, files in os.walk(tmp):
        for name in files:
            src = Path(root) / name
            dst = out / src.relative_to(tmp)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)


def _remove_empty(dirs: list[Path]) -> None:
    """Remove the folders ``staged`` created, innermost first, if still empty."""
    for d in reversed(dirs):
        try:
            d.rmdir()
        except OSError:
            return
