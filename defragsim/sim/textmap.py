"""The pageblock map as plain text, for a mail body (``Result.pageblock_text()``,
``defragsim run --map-text``).

One character per pageblock in pfn order, 64 a line, each line starting with
the pfn of its first block (hex); every zone starts on a new line under a
``-- ZONE pfn START-END`` header::

    U M R H C I   the block's migratetype (Unmovable, Movable, Reclaimable,
                  HighAtomic, CMA, Isolate)
    u m r h c i   the same, mostly free (free and per-cpu pages > half the block)
    *             mixed: most of its used pages are of another mobility
"""
from __future__ import annotations

import numpy as np

from .. import constants as C

#: migratetype -> its character (upper case; lower case when mostly free)
TYPE_CHARS = "UMRHCI"
assert len(TYPE_CHARS) == C.MIGRATE_TYPES

LEGEND = ("one character per pageblock: U Unmovable, M Movable, R Reclaimable, H HighAtomic, "
          "C CMA, I Isolate;\nlower case: mostly free; *: mixed (most used pages of another "
          "mobility than the block's type)")


def block_chars(df, pageblock_nr_pages: int) -> np.ndarray:
    """One character per row of a :meth:`Result.pageblocks` frame."""
    mt = df["migratetype"].to_numpy()
    chars = np.array(list(TYPE_CHARS))[mt]
    free = (df["free"].to_numpy() + df["pcp"].to_numpy()) * 2 > pageblock_nr_pages
    chars = np.where(free, np.char.lower(chars), chars)
    return np.where(df["mixed"].to_numpy(bool), "*", chars)


def pageblock_text(result, snapshot: int = -1, *, width: int = 64, legend: bool = True) -> str:
    """The map of snapshot ``snapshot`` of ``result`` as text (see the module
    docstring), with a header naming the run and the time."""
    df = result.pageblocks(snapshot)
    pb = 1 << result.pageblock_order
    chars = block_chars(df, pb)
    last_pfn = int(df["pfn"].iloc[-1]) if len(df) else 0
    digits = max(5, len(f"{last_pfn:x}"))
    snap = result.snapshots[snapshot]
    cfg = result.config
    patches = ",".join(map(str, cfg.patches.numbers())) or "none"
    mib = cfg.mem >> 20
    out = [f"pageblocks of {result.scenario}, {mib} MiB defrag_mode={cfg.defrag_mode} "
           f"patches={patches} at t={snap.t:.1f} s "
           f"({len(df)} blocks of {pb * C.PAGE_SIZE >> 10} KiB, {width} a line)"]
    if legend:
        out.append(LEGEND)
    for name, (start, end) in zip(result.zone_names, result.zone_spans):
        first, stop = -(-start // pb), end // pb
        if stop <= first:
            continue
        out.append(f"-- {name} pfn {start:#x}-{end - 1:#x} ({stop - first} blocks)")
        for b in range(first, stop, width):
            line = "".join(chars[b:min(b + width, stop)])
            out.append(f"{b * pb:#0{digits + 2}x} {line}")
    counts = {TYPE_CHARS[m]: int((df["migratetype"] == m).sum()) for m in range(C.MIGRATE_TYPES)}
    out.append("blocks: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
               + f"; mostly free {int(np.char.islower(chars).sum())}; mixed {int((chars == '*').sum())}")
    return "\n".join(out) + "\n"
