"""Kernel baselines: which kernel the model behaves like.

The published defrag_mode numbers come from several kernels: the 2025 series
was measured patch by patch (e3aa7df331bc, 101f9d666e4d, a211c6550efc), the
OOM-path fix and the kswapd exit-condition fix came later, our real traces
were recorded on 6.18, and the 2026 series is based on the mm tree of June
2026.  A baseline is a named set of **behaviour switches**; each switch is
named after what it changes, cites the commit that changed it, and is read by
the model at the code it changes (``prm.<switch>`` in ``defragsim/mm``).

``Config(kernel="a211c6550efc")`` picks a baseline; ``defragsim kernels``
lists them.  The series' four patches exist only on ``mm-2026``.

Sources: the commits' diffs and changelogs (see the README, "Kernel
baselines"), read from the kernel history; where a commit could not be
found the switch's ``source`` says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class Switch:
    """One behaviour that differs between kernels."""

    name: str
    values: tuple          # the values in kernel history order; index = the Params int
    where: str             # the kernel function(s) it changes (and the model's mirror)
    source: str            # the commit(s) that changed it
    doc: str


SWITCHES = {s.name: s for s in (
    Switch("defrag_mode_sysctl", ("absent", "present"),
           "vm.defrag_mode (mm/page_alloc.c sysctl table)",
           "e3aa7df331bc 'mm: page_alloc: defrag_mode' (v6.15-rc1)",
           "Whether vm.defrag_mode exists: before it, defrag_mode=1 is refused."),
    Switch("nofragment_last_resort", ("looping", "once"),
           "__alloc_pages_slowpath(): the last-resort ALLOC_NOFRAGMENT drop",
           "e3aa7df331bc added 'alloc_flags &= ALLOC_NOFRAGMENT; goto retry;' with no check; "
           "7a95a05f15d5 'mm: page_alloc: fix defrag_mode's retry & OOM path' (v6.15-rc1) made it "
           "'if (defrag_mode && (alloc_flags & ALLOC_NOFRAGMENT)) { alloc_flags &= "
           "~ALLOC_NOFRAGMENT; goto retry; }'",
           "looping: after the retry loops give up, the request retries with only "
           "ALLOC_NOFRAGMENT set (no kswapd wakeups, no reserves), forever: never falls back, "
           "never reaches the OOM killer (the model's MAX_SLOWPATH_LOOPS ends it); once: "
           "the flag is dropped once and the request may then fragment or OOM."),
    Switch("kswapd_wake_order", ("request", "pageblock"),
           "wake_all_kswapds()",
           "101f9d666e4d 'mm: page_alloc: defrag_mode kswapd/kcompactd assistance' (v6.15-rc1)",
           "Under defrag_mode kswapd (and, through it, kcompactd) is woken for "
           "max(order, pageblock_order) instead of the request's order."),
    Switch("kswapd_balanced_free_blocks", ("off", "every_order", "high_order"),
           "pgdat_balanced() (kswapd's balance test)",
           "a211c6550efc 'mm: page_alloc: defrag_mode kswapd/kcompactd watermarks' (v6.15-rc1) "
           "counted NR_FREE_PAGES_BLOCKS under defrag_mode; a1f0220f3319 'mm: vmscan: fix kswapd "
           "exit condition in defrag_mode' (v6.15-rc3) only when order > 0",
           "Under defrag_mode, kswapd's high watermark is met in whole free pageblocks: "
           "off (never), every_order (also after kswapd dropped to order 0: it keeps reclaiming "
           "until blocks are free), high_order (only while balancing for a high order)."),
    Switch("kcompactd_free_blocks_goal", ("off", "on"),
           "__compact_finished(), compaction_suit_allocation_order(), "
           "kcompactd_node_suitable(), kcompactd_do_work()",
           "a211c6550efc (with its folded 'watermarks fix')",
           "Under defrag_mode kcompactd compacts until the high watermark is met in whole free "
           "pageblocks (ALLOC_WMARK_HIGH, NR_FREE_PAGES_BLOCKS) instead of until a suitable "
           "page is free."),
    Switch("compact_gap", ("mainline", "capped"),
           "compact_gap() (include/linux/compaction.h): kswapd's order drop, "
           "should_continue_reclaim(), __compaction_suitable()",
           "'mm/compaction: cap compact_gap() at COMPACT_CLUSTER_MAX' (JP Kobryn, 2026-05-19, in "
           "the 2026 mm tree; no mainline release found)",
           "mainline: 2 << order; capped: min(2 << order, COMPACT_CLUSTER_MAX)."),
    Switch("direct_compact_deferred", ("stall", "return"),
           "__alloc_pages_direct_compact()",
           "6.18 returns early only on COMPACT_SKIPPED; the 2026 mm tree (the seed series' "
           "context) also on COMPACT_DEFERRED (the commit was not found)",
           "stall: a try where every zone was deferred still counts compact_stall and "
           "compact_fail, and tries the freelist; return: it returns at once, uncounted."),
    Switch("thisnode_thp_after_compaction", ("reclaim", "nopage"),
           "__alloc_pages_slowpath(): a costly __GFP_NORETRY request whose first (async) "
           "direct compaction ran and failed",
           "'mm, page_alloc, thp: prevent reclaim for __GFP_THISNODE THP allocations' "
           "(Vlastimil Babka, lkml 2025-12-19, merged into mm-stable 2026-01-20; Fixes "
           "2f0799a0ffc0; backported to linux-6.18.y, linux-stable-rc 2026-03-10)",
           "The first, local-node attempt of a THP fault (alloc_pages_mpol(): "
           "gfp | __GFP_THISNODE | __GFP_NORETRY): reclaim: it goes on to direct reclaim and a "
           "second async compaction before failing (and the fault then retries on any node "
           "with the VMA's own gfp); nopage: it fails at once."),
)}


@dataclass(frozen=True)
class Baseline:
    name: str
    commit: str
    date: str
    release: str
    summary: str
    settings: dict         # switch name -> value

    def value(self, switch: str) -> str:
        return self.settings[switch]

    def index(self, switch: str) -> int:
        """The Params int of ``switch`` on this kernel."""
        return SWITCHES[switch].values.index(self.settings[switch])


def _baselines() -> dict:
    v614 = dict(defrag_mode_sysctl="absent", nofragment_last_resort="once",
                kswapd_wake_order="request", kswapd_balanced_free_blocks="off",
                kcompactd_free_blocks_goal="off", compact_gap="mainline",
                direct_compact_deferred="stall", thisnode_thp_after_compaction="reclaim")
    e3aa = dict(v614, defrag_mode_sysctl="present", nofragment_last_resort="looping")
    b101 = dict(e3aa, kswapd_wake_order="pageblock")
    a211 = dict(b101, kswapd_balanced_free_blocks="every_order", kcompactd_free_blocks_goal="on")
    b7a9 = dict(a211, nofragment_last_resort="once")
    v615 = dict(b7a9, kswapd_balanced_free_blocks="high_order")
    # 6.18 as the shipped traces' machine ran it (6.18.44): with the stable backport
    v618 = dict(v615, thisnode_thp_after_compaction="nopage")
    mm26 = dict(v618, compact_gap="capped", direct_compact_deferred="return")
    rows = [
        ("6.14", "v6.14", "2025-03-24", "v6.14", "before defrag_mode (defrag_mode=1 refused)", v614),
        ("e3aa7df331bc", "e3aa7df331bc", "2025-03-13", "v6.15-rc1",
         "defrag_mode alone: no kswapd or kcompactd help; the looping last-resort drop", e3aa),
        ("101f9d666e4d", "101f9d666e4d", "2025-03-13", "v6.15-rc1",
         "+ kswapd/kcompactd woken for a whole pageblock", b101),
        ("a211c6550efc", "a211c6550efc", "2025-03-13", "v6.15-rc1",
         "+ kswapd and kcompactd count whole free pageblocks (the 2025 series' final table)", a211),
        ("7a95a05f15d5", "7a95a05f15d5", "2025-03-22", "v6.15-rc1",
         "+ the retry & OOM path fix: ALLOC_NOFRAGMENT dropped once", b7a9),
        ("6.15", "a1f0220f3319", "2025-04-16", "v6.15-rc3",
         "+ the kswapd exit-condition fix: whole blocks only while balancing a high order", v615),
        ("6.18", "v6.18", "2025-11-30", "v6.18",
         "the kernel of the shipped real traces (6.18.44): compact_gap = 2 << order, deferred "
         "tries counted as compaction stalls, a local-node THP attempt fails after compaction",
         v618),
        ("mm-2026", "mm-new 2026-06-22", "2026-06-22", "mm tree",
         "the seed series' base: compact_gap capped at COMPACT_CLUSTER_MAX, deferred direct "
         "compaction returns at once (the default)", mm26),
    ]
    out = {}
    for name, commit, date, release, summary, settings in rows:
        assert set(settings) == set(SWITCHES), name
        out[name] = Baseline(name, commit, date, release, summary, settings)
    return out


BASELINES = _baselines()
DEFAULT_KERNEL = "mm-2026"
#: the only baseline the series "mm: fix reclaim storms in defrag_mode" applies to
SERIES_BASE = "mm-2026"


def baseline(name: str) -> Baseline:
    """The named baseline; a ConfigError lists the known ones."""
    if isinstance(name, Baseline):
        return name
    try:
        return BASELINES[str(name)]
    except KeyError:
        raise ConfigError(f"config.kernel: unknown kernel baseline {name!r} (known: "
                          f"{', '.join(BASELINES)}; see `defragsim kernels`)") from None


#: released kernels with a baseline of their own, oldest first (others map to the
#: newest of these at or below their version)
_RELEASES = (((6, 14), "6.14"), ((6, 15), "6.15"), ((6, 18), "6.18"))


def baseline_for_release(release: str) -> tuple[str, str]:
    """The baseline for a kernel release string (``uname -r``, e.g.
    ``6.18.44-fc-v769``) and why: ``("6.18", "kernel release 6.18.44-fc-v769")``.
    A release between two baselines gets the older one; one after the last
    release baseline gets that (its switches: the 2026 mm-tree changes are in
    no release); unparsable or older than 6.14: the default."""
    m = re.match(r"\s*(\d+)\.(\d+)", release or "")
    if not m:
        return DEFAULT_KERNEL, f"kernel release {release!r} not understood: the default"
    v = (int(m.group(1)), int(m.group(2)))
    chosen = None
    for rv, name in _RELEASES:
        if rv <= v:
            chosen = name
    if chosen is None:
        return DEFAULT_KERNEL, f"kernel release {release} is older than any baseline: the default"
    same = "" if f"{v[0]}.{v[1]}" == chosen else " (the nearest older baseline)"
    return chosen, f"kernel release {release}{same}"


def kernels_table() -> str:
    """The text of ``defragsim kernels``: one line a baseline, then the switches."""
    w = max(len(n) for n in BASELINES) + 2
    lines = [f"{'kernel':<{w}}{'commit':<20}{'date':<12}{'release':<11}what"]
    for b in BASELINES.values():
        lines.append(f"{b.name:<{w}}{b.commit:<20}{b.date:<12}{b.release:<11}{b.summary}")
    lines += ["", "behaviour switches (value per kernel, in the order above):"]
    for s in SWITCHES.values():
        vals = " ".join(b.value(s.name) for b in BASELINES.values())
        lines.append(f"  {s.name}: {vals}")
        lines.append(f"      {s.doc}")
        lines.append(f"      where: {s.where}; source: {s.source}")
    return "\n".join(lines) + "\n"
