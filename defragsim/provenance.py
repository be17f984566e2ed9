"""What produced a number: the defragsim version and a hash of the model's source.

Captions, report headers and the sweep store carry both, so a figure pasted
into a thread can be tied to the exact model that drew it.
"""
from __future__ import annotations

import functools
import hashlib
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
