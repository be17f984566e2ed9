"""Streamed generation (workloads/stream.py): the same ops and the same
results whatever the chunk size, handle slots reused only after their last
op, memory bounded by the epoch."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from defragsim import Config, run
from defragsim import constants as C
from defragsim.gfp import parse_gfp
from defragsim.mm.state import DIAG_NAMES
from defragsim.workloads import build_workload, list_scenarios, load_scenario
from defragsim.workloads.stream import EPOCH_TARGET_OPS, OpStream, SlotPool, epoch_length
from model_ops import Ops

GENERATED = [n for n in list_scenarios() if load_scenario(n).kind in ("churn", "processes")]


def _whole(stream: OpStream, per_chunk: int):
    chunks = list(stream.chunks(per_chunk))
    cols = [np.concatenate([c[i] for c in chunks]) for i in range(8)]
    return cols, chunks


def test_every_generated_scenario_kind_is_covered():
    kinds = {load_scenario(n).kind for n in GENERATED}
    assert kinds == {"churn", "processes"}
    # and the processes sources: jobs, bursts of THP faults, kernel bursts, growth
    params = [load_scenario(n).params for n in GENERATED if load_scenario(n).kind == "processes"]
    assert any(p["jobs"] for p in params) and any(p["thp_bursts"] for p in params)
    assert any(p["growth"] for p in params)
    assert any(c["burst"] is not None for p in params for c in p["nonmovable"])


@pytest.mark.parametrize("name", GENERATED)
def test_the_ops_do_not_depend_on_the_chunk_size(name):
    cfg = Config(mem="256M", seed=7)
    wl = build_workload(name, cfg, duration=4.5)
    ref, chunks1 = _whole(wl, 1)
    assert len(chunks1) == wl.nr_epochs > 1
    for per in (2, 3, wl.nr_epochs):
        cols, _ = _whole(wl, per)
        for a, b in zip(ref, cols):
            np.testing.assert_array_equal(a, b)
    # sorted by time, inside the run, cpus and owners in range
    t = ref[0]
    assert np.all(np.diff(t) >= 0) and t[-1] < wl.duration_ns
    assert ref[5].max() < wl.meta["nr_cpus"]
    assert ref[7].max() < len(chunks1[-1].owner_kind)
    # the stream is generated again, identically, by each chunks() call
    again, _ = _whole(build_workload(name, cfg, duration=4.5), 1)
    for a, b in zip(ref, again):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", GENERATED)
def test_a_reused_slot_is_named_only_by_its_new_allocation(name):
    """No op names a slot after its last op until an allocation reuses it:
    every op on a slot belongs to the owner of the slot's latest allocation,
    and only fresh slots (a task's pages) are named before their first."""
    wl = build_workload(name, Config(mem="128M", seed=3), duration=6)
    t, kind, _, _, handle, _, _, owner = _whole(wl, 1)[0]
    last_owner = {}
    allocs = {}
    for k, h, o in zip(kind.tolist(), handle.tolist(), owner.tolist()):
        if k == C.OP_COMPACT_MEMORY:
            continue
        if k == C.OP_ALLOC:
            allocs[h] = allocs.get(h, 0) + 1
            last_owner[h] = o
        elif h in last_owner:
            assert last_owner[h] == o, f"{name}: slot {h} named by owner {o} after reuse"
    assert max(allocs.values()) > 1, "no slot was reused"


def test_slot_pool_reuses_released_slots_only_in_a_later_epoch():
    pool = SlotPool(epoch_s=0.5)
    a = pool.take(4)
    np.testing.assert_array_equal(a, [0, 1, 2, 3])
    pool.release(a[:2], 0.7)                    # epoch 1
    pool.release(a[2:], np.array([0.2, 1.6]))   # epochs 0 and 3
    pool.begin_epoch(1)
    np.testing.assert_array_equal(pool.take(2), [2, 4])   # slot 2 (epoch 0), then fresh
    pool.begin_epoch(2)
    np.testing.assert_array_equal(np.sort(pool.take(2)), [0, 1])
    pool.begin_epoch(3)
    np.testing.assert_array_equal(pool.take(1), [5])       # slot 3 waits for epoch 4
    pool.begin_epoch(4)
    np.testing.assert_array_equal(pool.take(1), [3])


def test_epoch_length_keeps_epochs_small():
    assert epoch_length(100.0) == 1.0
    assert epoch_length(EPOCH_TARGET_OPS) == 1.0
    assert epoch_length(EPOCH_TARGET_OPS * 3) == 0.25


def test_memory_for_ops_is_bounded_by_the_epoch():
    """kbuild-thp at 4G: 40M ops over the run, at most a few epochs' worth in
    any chunk (the t=0 page cache and hot set are in the first one)."""
    wl = build_workload("kbuild-thp", Config(mem="4G"), duration=6)
    sizes = [len(c.t) for c in wl.chunks(1)]
    t0 = int(0.31 * Config(mem="4G").nr_pages)          # initial + hot set
    assert max(sizes[1:]) < 2 * EPOCH_TARGET_OPS
    assert sizes[0] < 2 * EPOCH_TARGET_OPS + t0
    assert sum(sizes) > 5 * max(sizes)


def _assert_same_result(a, b):
    assert a.vmstat == b.vmstat
    assert a.events_processed == b.events_processed
    assert a.diagnostics == b.diagnostics
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries, check_exact=True)
    pd.testing.assert_frame_equal(a.extfrag, b.extfrag, check_exact=True)
    for sa, sb in zip(a.snapshots, b.snapshots):
        np.testing.assert_array_equal(sa.migratetype, sb.migratetype)


@pytest.mark.parametrize("name,mem,dur", [("kbuild-thp", "256M", 5.0), ("steady", "256M", 3.0),
                                          ("storm", "256M", 6.0)])
def test_results_do_not_depend_on_the_chunk_size(name, mem, dur):
    cfg = Config(mem=mem, seed=2, defrag_mode=1)
    a = run(build_workload(name, cfg, duration=dur), cfg, check_invariants=True)
    b = run(build_workload(name, cfg, duration=dur), cfg, chunk_epochs=3)
    _assert_same_result(a, b)
    # and a stream run equals the run of the same ops as one whole Workload
    whole = build_workload(name, cfg, duration=dur).materialize()
    _assert_same_result(a, run(whole, cfg))
    assert a.diagnostics["forgotten_handles"] > 0 or name == "steady"


def test_a_reused_slot_detaches_the_page_cache_it_held():
    """An allocation on a slot whose page cache the model still holds: the
    old pages stay allocated (and reclaimable) without a handle, the slot
    belongs to the new allocation and its owner."""
    ops = Ops()
    f = ops.owner(C.OWNER_FILE)
    k = ops.owner(C.OWNER_KERNEL)
    (h,) = ops.handles(f, 1)
    ops.alloc(h, parse_gfp("GFP_HIGHUSER_MOVABLE"), C.KIND_FILE, order=2)
    wl = ops.build("reuse")
    # the same slot allocated again by the kernel owner
    op_owner = np.array([f, k], np.int32)
    wl2 = type(wl)(name="reuse", t=np.array([1000, 2000]), kind=np.array([C.OP_ALLOC] * 2, np.int8),
                   order=np.array([2, 0], np.int8),
                   gfp=np.array([parse_gfp("GFP_HIGHUSER_MOVABLE"), parse_gfp("GFP_KERNEL")]),
                   handle=np.array([h, h], np.int32), cpu=np.zeros(2, np.int32),
                   content=np.array([C.KIND_FILE, C.KIND_SLAB_UNRECLAIMABLE], np.uint8),
                   nr_handles=1, duration_ns=1_000_000, handle_owner=np.array([f], np.int32),
                   owner_kind=wl.owner_kind, op_owner=op_owner)
    cfg = Config(mem="64M", pcp=False)
    r = run(wl2, cfg, check_invariants=True)
    assert r.diagnostics["forgotten_handles"] == 1
    assert "forgotten_handles" in DIAG_NAMES
    base = run(type(wl)(name="none", t=np.zeros(0, np.int64), kind=np.zeros(0, np.int8),
                        order=np.zeros(0, np.int8), gfp=np.zeros(0, np.int64),
                        handle=np.zeros(0, np.int32), cpu=np.zeros(0, np.int32),
                        content=np.zeros(0, np.uint8), nr_handles=1, duration_ns=1_000_000,
                        handle_owner=np.array([f], np.int32), owner_kind=wl.owner_kind), cfg)
    # both allocations still hold their pages: 4 + 1
    assert base.vmstat["nr_free_pages"] - r.vmstat["nr_free_pages"] == 5
    assert r.vmstat["nr_file_pages"] == 4
