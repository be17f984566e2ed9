"""Render model state as the kernel's /proc files, byte for byte.

Formats follow mm/vmstat.c (``frag_show_print`` for /proc/buddyinfo,
``pagetypeinfo_showfree_print`` / ``pagetypeinfo_showblockcount_print`` for
/proc/pagetypeinfo).  The model's kernel is rendered as built without
CONFIG_CMA (like the 6.18 kernel of the shared traces) unless CMA blocks
exist, so the migratetype columns match a real machine's.

MODEL: the node has no ZONE_DMA, so its line is absent.
"""
from __future__ import annotations


import numpy as np

from .. import constants as C


def _types(block_mt, nr_free_mt):
    has_cma = bool((np.asarray(block_mt) == C.MIGRATE_CMA).any()) or \
        bool(np.asarray(nr_free_mt)[:, :, C.MIGRATE_CMA].any())
    return [m for m in range(C.MIGRATE_TYPES) if has_cma or m != C.MIGRATE_CMA]


def render_buddyinfo(nr_free_mt, zone_spans) -> str:
    """/proc/buddyinfo: ``Node %d, zone %8s `` then ``%6lu `` per order."""
    lines = []
    # MODEL: no ZONE_DMA line (the node has DMA32 and Normal only)
    for z, (s, e) in enumerate(zone_spans):
        if e <= s:
            continue
        nr_free = np.asarray(nr_free_mt)[z].sum(axis=1)
        line = "Node %d, zone %8s " % (0, C.ZONE_NAMES[z])
        line += "".join("%6d " % int(nr_free[o]) for o in range(C.NR_PAGE_ORDERS))
        lines.append(line)
    return "\n".join(lines) + "\n"


def render_pagetypeinfo(nr_free_mt, block_mt, zone_spans, pageblock_order) -> str:
    """/proc/pagetypeinfo (free chunks per order and type; blocks per type)."""
    types = _types(block_mt, nr_free_mt)
    out = []
    out.append("Page block order: %d" % pageblock_order)
    out.append("Pages per block:  %d" % (1 << pageblock_order))
    out.append("")
    out.append("%-43s " % "Free pages count per migrate type at order"
               + "".join("%6d " % o for o in range(C.NR_PAGE_ORDERS)))
    nfm = np.asarray(nr_free_mt)
    for z, (s, e) in enumerate(zone_spans):
        if e <= s:
            continue
        for m in types:
            line = "Node %4d, zone %8s, type %12s " % (0, C.ZONE_NAMES[z], C.MIGRATETYPE_NAMES[m])
            for o in range(C.NR_PAGE_ORDERS):
                n = int(nfm[z, o, m])
                line += ("%s%6d " % (">", 100000)) if n >= 100000 else "%6d " % n
            out.append(line)
    out.append("")
    out.append("%-23s" % "Number of blocks type " + "".join("%12s " % C.MIGRATETYPE_NAMES[m] for m in types))
    bm = np.asarray(block_mt)
    for z, (s, e) in enumerate(zone_spans):
        if e <= s:
            continue
        blocks = bm[s >> pageblock_order:(e + (1 << pageblock_order) - 1) >> pageblock_order]
        cnt = np.bincount(blocks, minlength=C.MIGRATE_TYPES)
        out.append("Node %d, zone %8s " % (0, C.ZONE_NAMES[z]) + "".join("%12d " % int(cnt[m]) for m in types))
    return "\n".join(out) + "\n"
