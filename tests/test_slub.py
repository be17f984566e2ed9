"""Slab objects (mm/slub.py, issue 16): a slab page holds many objects and is
freed only when its last object goes; shrinkers free objects, so reclaimable
slab frees pages slowly.  Built on a fresh node; the mirrored functions are
called directly, and check_state() (which checks the caches' counts and
partial lists) runs after each step."""
from __future__ import annotations

import numpy as np
import pytest

from defragsim import Config, constants as C, parse_gfp, run
from defragsim.mm import slub, vmscan
from defragsim.mm.invariants import check_state
from defragsim.mm.state import (
    NODE_OBJ_LRU_COUNT, NODE_SHRINK_NR_DEFERRED, SLAB_ACTIVE_OBJS, SLAB_MIN_PARTIAL,
    SLAB_NR_PARTIAL, SLAB_NR_SLABS, make_owners, make_recorder, make_state,
)
from defragsim.workloads import build_workload
from defragsim.workloads.scenarios import ScenarioError, load_scenario

GFP_KERNEL = parse_gfp("GFP_KERNEL")
DENTRY = C.SLAB_CACHE_IDS["dentry"]            # 21 objects per 1-page slab, shrinkable
TASK = C.SLAB_CACHE_IDS["task_struct"]        # 5 objects per 8-page slab
KMALLOC_256 = C.SLAB_CACHE_IDS["kmalloc-256"]


class Node:
    def __init__(self, handles=4096):
        cfg = Config(mem="64M", nr_cpus=1)
        self.prm = cfg.to_params()
        self.st = make_state(cfg)
        self.own = make_owners(handles, np.zeros(handles, np.int32),
                               np.array([C.OWNER_KERNEL], np.uint8))
        self.rec = make_recorder()
        self.next = 0

    def alloc(self, cache, n=1):
        hs = []
        for _ in range(n):
            h = self.next
            self.next += 1
            assert slub.kmem_cache_alloc(self.st, self.prm, self.rec, self.own, h, 0, cache,
                                         GFP_KERNEL)
            hs.append(h)
        return hs

    def free(self, hs):
        return sum(slub.kmem_cache_free(self.st, self.prm, self.own, h, 0) for h in hs)

    def slab_of(self, h):
        return int(self.own.h_pfn[h])

    def check(self):
        check_state(self.st, self.prm)


def test_objects_fill_a_slab_page_then_the_next():
    """21 dentries share one order-0 slab page (objperslab 21); the 22nd
    starts a second slab.  A full slab is on no list; the partial list holds
    the second.  The pages are RECLAIMABLE slab (SLAB_RECLAIM_ACCOUNT)."""
    n = Node()
    hs = n.alloc(DENTRY, 22)
    pages = {n.slab_of(h) for h in hs}
    assert len(pages) == 2
    first = n.slab_of(hs[0])
    assert all(n.slab_of(h) == first for h in hs[:21])
    st = n.st
    assert slub.slab_inuse(st, first) == 21 and st.pg_order[first] == 0
    assert st.slab_cache[DENTRY, SLAB_NR_SLABS] == 2 and st.slab_cache[DENTRY, SLAB_NR_PARTIAL] == 1
    assert st.slab_cache[DENTRY, SLAB_ACTIVE_OBJS] == 22
    assert st.pg_flags[first] >> C.PG_KIND_SHIFT == C.KIND_SLAB_RECLAIMABLE
    assert st.block_mt[first >> 9] == C.MIGRATE_RECLAIMABLE
    # task_struct: order-3 slabs of 5, unmovable
    t = n.alloc(TASK, 6)
    assert st.pg_order[n.slab_of(t[0])] == 3
    assert st.pg_flags[n.slab_of(t[0])] >> C.PG_KIND_SHIFT == C.KIND_SLAB_UNRECLAIMABLE
    n.check()


def test_a_slab_page_is_freed_only_when_its_last_object_goes():
    """Freeing 20 of a full slab's 21 objects frees no page (the slab goes
    back on the partial list); the last one frees it, once the node keeps
    min_partial (5) partial slabs of the cache; with fewer, the empty slab
    stays on the list (__slab_free())."""
    n = Node()
    st = n.st
    assert st.slab_cache[KMALLOC_256, SLAB_MIN_PARTIAL] == 5
    hs = n.alloc(KMALLOC_256, 16 * 7)               # 7 full slabs of 16
    by_page = {}
    for h in hs:
        by_page.setdefault(n.slab_of(h), []).append(h)
    assert len(by_page) == 7 and st.slab_cache[KMALLOC_256, SLAB_NR_PARTIAL] == 0
    slabs = list(by_page.values())
    free0 = int(st.zone_stat[:, C.NR_FREE_PAGES].sum())
    # one object out of each of five slabs: five partial slabs
    for objs in slabs[:5]:
        assert n.free(objs[:1]) == 0
    assert st.slab_cache[KMALLOC_256, SLAB_NR_PARTIAL] == 5
    # empty the sixth slab but its last object: still allocated
    page6 = n.slab_of(slabs[5][0])
    assert n.free(slabs[5][:15]) == 0
    assert slub.slab_inuse(st, page6) == 1 and st.pg_flags[page6] & C.PG_head
    n.check()
    # its last object: 6 partial >= min_partial: the slab page is freed
    assert n.free(slabs[5][15:]) == 1
    assert st.slab_cache[KMALLOC_256, SLAB_NR_SLABS] == 6
    n.check()
    # empty the five partial slabs: the first ones freed (5 partial left each time)...
    freed = [n.free(objs[1:]) for objs in slabs[:5]]
    assert freed == [1, 0, 0, 0, 0]      # after the first, only 4 + the full 7th remain partial
    assert st.slab_cache[KMALLOC_256, SLAB_NR_PARTIAL] == 4
    assert int(st.zone_stat[:, C.NR_FREE_PAGES].sum()) >= free0   # pcp lists hold the rest
    n.check()


def test_the_shrinker_frees_the_oldest_objects_and_pages_only_when_empty():
    """The list_lru shrinker scans objects from the oldest: the 21 oldest
    dentries fill the first slab, so scanning 20 frees no page and the 21st
    frees it; scanned objects are evicted handles and count in
    slabs_scanned."""
    n = Node()
    st, own = n.st, n.own
    hs = n.alloc(DENTRY, 63)                     # three full slabs, oldest first
    assert st.node[NODE_OBJ_LRU_COUNT] == 63
    scanned, pages, cost = slub.shrink_list_lru(st, n.prm, own, 20, 0, 300)
    assert (scanned, pages, cost) == (20, 0, 6000)
    assert all(own.h_state[h] == C.H_EVICTED for h in hs[:20])
    assert own.h_state[hs[20]] == C.H_RESIDENT
    scanned, pages, _ = slub.shrink_list_lru(st, n.prm, own, 1, 0, 300)
    assert (scanned, pages) == (1, 0)            # fewer than min_partial partial slabs: kept
    assert st.vm_events[C.VM_SLABS_SCANNED] == 21
    assert st.node[NODE_OBJ_LRU_COUNT] == 42
    n.check()
    # a freed object is off the list: the shrinker never sees it
    n.free(hs[21:42])
    assert st.node[NODE_OBJ_LRU_COUNT] == 21
    n.check()


def test_do_shrink_slab_scans_in_batches_and_defers_the_rest():
    """do_shrink_slab(): at DEF_PRIORITY (12) 3000 objects give a delta of
    (3000 >> 12) * 4 / 2 = 0 objects: nothing scanned; at priority 2, 1500
    objects: scanned in batches of 128 (1408), the remainder 92 deferred to
    the next call (nr_deferred)."""
    n = Node()
    st = n.st
    n.alloc(DENTRY, 3000)
    s = vmscan.SC_KSWAPD
    st.sc[s, vmscan.SC_PRIORITY] = 12
    assert vmscan.do_shrink_list_lru(st, n.prm, n.own, s, 12, 0) == 0
    assert st.vm_events[C.VM_SLABS_SCANNED] == 0
    pages = vmscan.do_shrink_list_lru(st, n.prm, n.own, s, 2, 0)
    assert st.vm_events[C.VM_SLABS_SCANNED] == 1408
    assert st.node[NODE_SHRINK_NR_DEFERRED] == 1500 - 1408
    assert pages > 0
    n.check()


def test_a_kbuild_run_keeps_every_cache_consistent():
    """kbuild-thp allocates its kernel objects from caches: after a run the
    invariants hold (objects in use per slab, per cache, the partial lists),
    /proc/slabinfo lists the caches, and the shrinker scanned objects."""
    cfg = Config(mem="128M", seed=1)
    r = run(build_workload("kbuild-thp", cfg, duration=6), cfg, check_invariants=True)
    si = r.slabinfo
    assert {"dentry", "ext4_inode_cache", "task_struct", "kmalloc-256"} <= set(si.index)
    assert (si["active_objs"] <= si["num_objs"]).all()
    assert (si.loc["dentry", ["objsize", "objperslab", "pagesperslab"]].tolist()
            == [192, 21, 1])
    text = r.slabinfo_text()
    assert text.startswith("slabinfo - version: 2.1")
    assert any(line.startswith("dentry ") for line in text.splitlines())
    slab_pages = int(si["pages"].sum())
    assert slab_pages * C.PAGE_SIZE <= r.vmstat["nr_slab_reclaimable_B"] + \
        r.vmstat["nr_slab_unreclaimable_B"]


@pytest.mark.parametrize("body, match", [
    ('cache = "dentries"', r"nonmovable\.d\.cache: unknown slab cache 'dentries'"),
    ('cache = "dentry"\norders = { 0 = 1.0 }', r"orders: not with cache = 'dentry'"),
    ('cache = "dentry"\ncontent = "slab_unreclaimable"',
     r"content: 'slab_unreclaimable' but cache 'dentry' is slab_reclaimable"),
])
def test_bad_cache_keys_are_named(tmp_path, body, match):
    p = tmp_path / "s.toml"
    p.write_text('name = "s"\nkind = "processes"\nduration = 1.0\n[[nonmovable]]\nname = "d"\n'
                 'gfp = "GFP_KERNEL"\nrate_per_gib = 10\nlifetime_s = 1.0\n' + body + "\n")
    with pytest.raises(ScenarioError, match=match):
        load_scenario(str(p))


def test_unknown_cache_in_jobs_objects_is_named(tmp_path):
    p = tmp_path / "j.toml"
    p.write_text('name = "j"\nkind = "processes"\nduration = 1.0\n[jobs]\nconcurrency = 1\n'
                 'lifetime_s = 1.0\nfootprint = 0.1\nfork_objects = { task_structs = 1 }\n')
    with pytest.raises(ScenarioError, match=r"jobs\.fork_objects: unknown slab cache "
                                            r"'task_structs'"):
        load_scenario(str(p))


from hypothesis import given, settings, strategies as hst  # noqa: E402  (the property test's)


@settings(max_examples=40, deadline=None)
@given(hst.lists(hst.tuples(hst.sampled_from([DENTRY, TASK, KMALLOC_256]), hst.booleans(),
                            hst.integers(0, 10_000)), min_size=1, max_size=300))
def test_any_sequence_of_allocs_and_frees_keeps_the_caches_consistent(steps):
    """Random kmem_cache_alloc()/kmem_cache_free() sequences (a free picks a
    live object by index): after each step the invariants hold (objects per
    slab within capacity, the caches' counters, the partial lists), every
    live object's page belongs to its cache, and freeing everything leaves at
    most min_partial empty slabs per cache (the rest went back)."""
    n = Node(handles=400)
    live = {}
    for cache, alloc, pick in steps:
        if alloc or not live:
            h, = n.alloc(cache)
            live[h] = cache
        else:
            h = sorted(live)[pick % len(live)]
            n.free([h])
            del live[h]
        n.check()
    st = n.st
    for h, cache in live.items():
        assert slub.slab_cache_of(st, n.slab_of(h)) == cache
    n.free(list(live))
    n.check()
    for cache in (DENTRY, TASK, KMALLOC_256):
        assert st.slab_cache[cache, SLAB_ACTIVE_OBJS] == 0
        assert st.slab_cache[cache, SLAB_NR_SLABS] <= st.slab_cache[cache, SLAB_MIN_PARTIAL]


@pytest.mark.parametrize("frees_pages", [1, 0])
def test_page_level_slab_is_freed_by_the_shrinker_unless_the_workload_frees_it(frees_pages):
    """Page-level reclaimable slab (a scenario's slab pages, a replay's) is
    on LRU_SLAB, one page one object: shrink_slab() frees the pages it
    scans.  With ``prm.shrink_page_slab`` 0 (a replay, whose trace frees the
    pages the kernel's shrinkers emptied) it scans them and frees none."""
    from model_driver import ModelRun
    m = ModelRun(Config(mem="64M", nr_cpus=1))
    m.prm = m.prm._replace(shrink_page_slab=frees_pages)
    got = m.alloc_many([(0, C.MIGRATE_RECLAIMABLE, C.KIND_SLAB_RECLAIMABLE)] * 256)
    assert all(p >= 0 for p, _ in got)
    st = m.st
    assert st.memcg_lru_size[0, C.LRU_SLAB] == 256
    s = vmscan.SC_KSWAPD
    st.sc[s, vmscan.SC_PRIORITY] = 4
    st.sc[s, vmscan.SC_CPU] = 0
    freed = vmscan.shrink_slab(st, m.prm, m.own, 0, s)
    assert st.vm_events[C.VM_SLABS_SCANNED] == (256 >> 4) * 2
    assert freed == (32 if frees_pages else 0)
    assert st.memcg_lru_size[0, C.LRU_SLAB] == 256 - freed
    check_state(st, m.prm)
