"""The four patches of "mm: fix reclaim storms in defrag_mode" as toggles.

* Patches 1 and 3 are "no functional change": the allocator's results
  (vmstat, extfrag and compaction events, time series, final pageblock state,
  model diagnostics) are bit-identical with and without them, on several
  scenarios and seeds.  Patch 1's own lockdep counters are the only
  difference.
* Patch 2: non-movable pageblock-order direct compaction finds source blocks
  and succeeds more (counters split by the request's migratetype).
* Patch 4 (with 3, with and without 2): the storm ends.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from defragsim import Config, run
from defragsim import constants as C
from defragsim.sim.metrics import nonmovable
from defragsim.config import ConfigError, Patches
from defragsim.gfp import parse_gfp
from defragsim.workloads import build_workload
from model_ops import Ops
from storm_seeds import storm_run, storming_seeds



def _run(scenario, patches, *, seed, mem="256M", duration=8.0, dm=1):
    cfg = Config(mem=mem, defrag_mode=dm, patches=patches, seed=seed)
    # storm at 256M: three times the growth, so that the storm starts within
    # 15 s (its onset is random: at twice the growth it started in 6 of seeds
    # 1-8, at three times in all of them)
    growth = 3.0 if scenario == "storm" else 1.0
    return run(build_workload(scenario, cfg, duration=duration, growth_scale=growth), cfg)


def _without_lockdep_annotation(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "lockdep_direct_compaction_annotated"}


def assert_bit_identical(a, b):
    """Everything the allocator produced is identical."""
    assert a.vmstat == b.vmstat
    assert a.events_processed == b.events_processed
    pd.testing.assert_frame_equal(a.extfrag, b.extfrag, check_exact=True)
    pd.testing.assert_frame_equal(a.compaction_events, b.compaction_events, check_exact=True)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries, check_exact=True)
    assert _without_lockdep_annotation(a.diagnostics) == _without_lockdep_annotation(b.diagnostics)
    assert len(a.snapshots) == len(b.snapshots)
    for sa, sb in zip(a.snapshots, b.snapshots):
        for f in ("migratetype", "nr_free_mt"):
            np.testing.assert_array_equal(getattr(sa, f), getattr(sb, f))
    np.testing.assert_array_equal(a.latency_hist, b.latency_hist)
    np.testing.assert_array_equal(a.nr_free_mt, b.nr_free_mt)


# (scenario, mem, duration, defrag_mode, base patches, base + the patch)
NFC_CASES = [
    ("storm", "256M", 15.0, 1, "none", "1"),
    ("storm", "256M", 15.0, 1, "3,4", "1,3,4"),
    ("storm", "256M", 15.0, 1, "2,3,4", "all"),
    ("storm", "256M", 15.0, 0, "2,3,4", "all"),
    ("kbuild-thp", "256M", 6.0, 1, "2,3,4", "all"),
    ("storm", "256M", 15.0, 1, "none", "3"),
    ("storm", "256M", 15.0, 1, "2", "2,3"),
    ("kbuild-thp", "256M", 6.0, 1, "2", "2,3"),
    ("steady", "128M", 4.0, 1, "none", "3"),
]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("scenario,mem,duration,dm,base,patched", NFC_CASES,
                         ids=[f"{c[0]}-dm{c[3]}-{c[4]}-vs-{c[5]}" for c in NFC_CASES])
def test_no_functional_change_patches_1_and_3(scenario, mem, duration, dm, base, patched, seed):
    a = _run(scenario, base, seed=seed, mem=mem, duration=duration, dm=dm)
    b = _run(scenario, patched, seed=seed, mem=mem, duration=duration, dm=dm)
    assert_bit_identical(a, b)
    added = set(Patches.parse(patched).numbers()) - set(Patches.parse(base).numbers())
    ann_a = a.diagnostics["lockdep_direct_compaction_annotated"]
    ann_b = b.diagnostics["lockdep_direct_compaction_annotated"]
    entries = a.diagnostics["lockdep_direct_compaction"]
    if added == {1}:
        # patch 1 annotates every direct-compaction entry, by gfp context
        assert sum(ann_a.values()) == 0
        assert ann_b == entries
    else:
        assert ann_a == ann_b
    if dm == 1 and scenario != "steady":
        # the comparison is not vacuous: direct compaction ran (and, for THP
        # faults, captured pages: the code patch 3 moves)
        assert a.vmstat["compact_stall"] > 0
        if 3 in added and scenario == "kbuild-thp":
            assert a.diagnostics["compact_captured"] > 0


NR_PAGES_64M = 64 << 8


def _fs_locked_request_workload(gfp):
    """A task fills a 64M node with MOVABLE anon pages and frees every other
    page of the first block: free memory only in partial MOVABLE blocks (no
    swap, so reclaim cannot help).  Then a kernel path *holding a filesystem
    lock* makes one UNMOVABLE order-0 request with ``gfp``."""
    ops = Ops()
    task = ops.owner(C.OWNER_TASK)
    kern = ops.owner(C.OWNER_KERNEL)
    hs = ops.handles(task, NR_PAGES_64M - 64)
    for h in hs:
        ops.alloc(h, parse_gfp("GFP_HIGHUSER_MOVABLE"), C.KIND_ANON)
    for h in hs[:512:2]:
        ops.free(h)
    ops.gap(1_000_000)
    (k,) = ops.handles(kern, 1)
    ops.alloc(k, parse_gfp(gfp), C.KIND_SLAB_RECLAIMABLE | C.CONTENT_FS_LOCKED)
    return ops.build("fs-locked-request")


@pytest.mark.parametrize("gfp,ctx", [("GFP_NOFS|__GFP_RECLAIMABLE", "nofs_under_fs_lock"),
                                     ("GFP_KERNEL|__GFP_RECLAIMABLE", "gfp_fs_under_fs_lock")])
def test_patch1_lockdep_view(gfp, ctx):
    """Patch 1's report on one order-0 request made under a filesystem lock,
    defrag_mode=1: direct reclaim has always been annotated; patch 4 opens
    direct compaction to the order-0 request (every entry counted in
    ``direct_compaction_order0``); patch 1 annotates those entries.  A
    __GFP_FS request under a filesystem lock is what lockdep would report
    (``gfp_fs_under_fs_lock``); GFP_NOFS is the correct usage."""
    cfg = dict(mem="64M", dma32=0, pcp=False, min_free_kbytes=128, swap=0, defrag_mode=1)
    res = {p: run(_fs_locked_request_workload(gfp), Config(patches=p, **cfg))
           for p in ("none", "1", "3,4", "1,3,4")}
    d = {p: r.diagnostics for p, r in res.items()}
    for p in res:
        assert d[p]["lockdep_direct_reclaim"][ctx] > 0
        assert sum(d[p]["lockdep_direct_reclaim"].values()) == d[p]["lockdep_direct_reclaim"][ctx]
    # without patch 4 an order-0 request never enters direct compaction
    for p in ("none", "1"):
        assert sum(d[p]["lockdep_direct_compaction"].values()) == 0
        assert sum(d[p]["lockdep_direct_compaction_annotated"].values()) == 0
    # patch 4 opens it; patch 1 covers every entry it opens
    opened = d["3,4"]["lockdep_direct_compaction_order0"]
    assert opened[ctx] > 0 and opened == d["3,4"]["lockdep_direct_compaction"]
    assert sum(d["3,4"]["lockdep_direct_compaction_annotated"].values()) == 0
    assert d["1,3,4"]["lockdep_direct_compaction_annotated"] == opened
    assert_bit_identical(res["3,4"], res["1,3,4"])
    assert_bit_identical(res["none"], res["1"])


def test_patch4_needs_patch3():
    with pytest.raises(ConfigError, match="patch 3"):
        Config(patches="4")
    with pytest.raises(ConfigError, match="patch 3"):
        Config(patches="1,2,4")
    assert Config(patches="3,4").patches.numbers() == [3, 4]


@pytest.fixture(scope="module")
def storm_series():
    """storm at 512M/20s, defrag_mode=1, on the first seed whose run without
    the patches storms (tests/storm_seeds.py), with patch sets of interest
    (and defrag_mode=0 as the reference)."""
    (seed,) = storming_seeds(1)
    out = {"dm0": storm_run(seed, defrag_mode=0)}
    for patches in ("none", "3", "3,4", "2,3,4"):
        out[patches] = storm_run(seed, patches=patches)
    return out


_nm = nonmovable


def test_patch2_nonmovable_pageblock_compaction_finds_sources():
    """With patch 4 the non-movable requests compact at pageblock order; patch 2
    lets that compaction take MOVABLE source blocks, so it scans and migrates
    far more and succeeds more often.  Summed over the first five seeds that
    storm: in some seeds the run diverges early and makes only a handful of
    such compactions (seed 3: 13 without patch 2, 3 with it)."""
    seeds = storming_seeds(5)
    keys = ("compact_promoted", "compact_migrate_scanned", "compact_migrated",
            "compact_success", "compact_stall")

    def total(patches):
        ds = [storm_run(s, patches=patches).diagnostics for s in seeds]
        return {k: sum(_nm(d, k) for d in ds) for k in keys}
    a, b = total("3,4"), total("2,3,4")
    assert a["compact_promoted"] > 0
    assert b["compact_migrate_scanned"] > 2 * max(a["compact_migrate_scanned"], 1)
    assert b["compact_migrated"] > 2 * max(a["compact_migrated"], 1)
    rate_a = a["compact_success"] / max(a["compact_stall"], 1)
    rate_b = b["compact_success"] / max(b["compact_stall"], 1)
    assert rate_b > rate_a


@pytest.mark.parametrize("patches", ["3,4", "2,3,4"])
def test_patch4_ends_the_storm(storm_series, patches):
    """Patch 4 (with 3, with or without 2), storm, defrag_mode=1: far fewer
    reclaim retries by non-movable requests, swap-out back toward the
    defrag_mode=0 level, less stall, and extfrag pollution stays about zero."""
    r0, storm, fixed = storm_series["dm0"], storm_series["none"], storm_series[patches]
    d1, df = storm.diagnostics, fixed.diagnostics
    assert _nm(df, "reclaim_retries") * 2 < _nm(d1, "reclaim_retries")
    assert fixed.vmstat["pswpout"] < storm.vmstat["pswpout"]
    assert abs(fixed.vmstat["pswpout"] - r0.vmstat["pswpout"]) < \
        abs(storm.vmstat["pswpout"] - r0.vmstat["pswpout"])
    assert fixed.vmstat["pgsteal_direct"] < storm.vmstat["pgsteal_direct"]
    assert df["stall_s"]["unmovable"] < d1["stall_s"]["unmovable"]
    frag0 = r0.extfrag_summary()["fragmenting"]
    assert fixed.extfrag_summary()["fragmenting"] <= max(frag0 // 10, 5)
    # the cost: non-movable requests now compact at pageblock order
    assert _nm(df, "compact_promoted") > 0 and _nm(d1, "compact_promoted") == 0


def test_patch3_alone_is_storm_unchanged(storm_series):
    assert_bit_identical(storm_series["none"], storm_series["3"])
