"""Test helper: drive the jitted model through its ``step_chunk`` driver and
read its state back as plain Python values (free lists in list order, block
types, extfrag events), in the same shapes as tests/naive.py uses.

Both driver conventions are supported (see :func:`_find_step_chunk`).  Note
that the reclaim-model driver treats a failed order-9 KIND_ANON allocation as
a THP fault and falls back to an order-0 GFP_KERNEL-like allocation; tests
that compare against the reference must not let order-9 anon requests fail.
"""
from __future__ import annotations

import numpy as np

from defragsim import constants as C
from defragsim.mm import page_alloc as pa
from defragsim.gfp import __GFP_MOVABLE, __GFP_NOMEMALLOC, __GFP_NOWARN, __GFP_RECLAIMABLE
from defragsim.mm.state import EVENT_HEADROOM, make_recorder, make_state
from defragsim.workloads import new_op_columns

#: A request that can neither reclaim nor wake kswapd nor use reserves (like
#: GFP_TRANSHUGE_LIGHT without the THP bits): no __GFP_DIRECT_RECLAIM, no
#: __GFP_KSWAPD_RECLAIM (so no ALLOC_KSWAPD), __GFP_NOMEMALLOC (so the slowpath
#: does not add ALLOC_NON_BLOCK), no __GFP_HIGH.  Its slowpath is exactly one
#: more freelist attempt at the MIN watermark, then "goto nopage" - nothing
#: that reclaim / compaction / OOM modelling could change.
GFP_NORECLAIM = __GFP_NOWARN | __GFP_NOMEMALLOC

#: __GFP_MOVABLE / __GFP_RECLAIMABLE: gfp_migratetype() gives the key
MOBILITY_GFP = {
    C.MIGRATE_UNMOVABLE: 0,
    C.MIGRATE_MOVABLE: __GFP_MOVABLE,
    C.MIGRATE_RECLAIMABLE: __GFP_RECLAIMABLE,
}


def gfp_for(mt, base=GFP_NORECLAIM):
    return base | MOBILITY_GFP[mt]


ALLOC = "a"
FREE = "f"


def _find_step_chunk():
    """The driver kernel and its calling convention.

    ``("handles", page_alloc.step_chunk)``: the original driver,
    ``step_chunk(st, prm, rec, op_t, ..., op_content, h_pfn, h_order, start,
    end, event_limit)``.  ``("owners", driver.step_chunk)``: the driver of the
    reclaim model, ``step_chunk(st, prm, rec, own, op_t, ..., op_content,
    start, end, event_limit)`` with an Owners table (``own.h_pfn``).
    """
    fn = getattr(pa, "step_chunk", None)
    if fn is not None:
        return "handles", fn
    try:
        from defragsim.mm import driver
    except ImportError as e:   # pragma: no cover - depends on the package version
        raise ImportError("defragsim has neither page_alloc.step_chunk nor driver.step_chunk") from e
    return "owners", driver.step_chunk


class ModelRun:
    """A booted model plus a handle table; ops go through ``step_chunk``.

    Ops are tuples ``("a", order, mt, kind, handle)`` and ``("f", handle)``.
    Each op gets the time stamp ``self.t`` (incremented per op), which is what
    the extfrag events record as ``t``.
    """

    def __init__(self, cfg, gfp_base=GFP_NORECLAIM, max_handles=1 << 14):
        self.cfg = cfg
        self.gfp_base = gfp_base
        self.st = make_state(cfg)
        self.prm = cfg.to_params()
        self.rec = make_recorder()
        self.event_limit = self.rec.ext_t.shape[0] - EVENT_HEADROOM
        self.api, self._step_chunk = _find_step_chunk()
        if self.api == "owners":
            from defragsim.mm.state import make_owners
            # one owner (kind 0) for every handle
            self.own = make_owners(max_handles, np.zeros(max_handles, np.int32),
                                   np.zeros(1, np.uint8))
            self.h_pfn = self.own.h_pfn
        else:
            self.h_pfn = np.full(max_handles, -1, np.int32)
            self.h_order = np.zeros(max_handles, np.int8)
        self.next_handle = 0
        self.t = 0
        self.zone = C.ZONE_NORMAL

    # ------------------------------------------------------------------
    def _step(self, ops, lo, hi, t0):
        n = hi - lo
        if n <= 0:
            return
        op_t, kind, order, gfp, handle, cpu, content = new_op_columns(n)
        op_t[:] = np.arange(t0 + lo, t0 + hi)
        for i, op in enumerate(ops[lo:hi]):
            if op[0] == ALLOC:
                _, o, mt, k, h = op
                kind[i] = C.OP_ALLOC
                order[i] = o
                gfp[i] = gfp_for(mt, self.gfp_base)
                content[i] = k
                handle[i] = h
            else:
                kind[i] = C.OP_FREE
                handle[i] = op[1]
        if self.api == "owners":
            owner = self.own.h_owner[handle].astype(np.int32)   # each op's owner: its handle's
            done = self._step_chunk(self.st, self.prm, self.rec, self.own, op_t, kind, order, gfp,
                                    handle, cpu, content, owner, 0, n, self.event_limit)
        else:
            done = self._step_chunk(self.st, self.prm, self.rec, op_t, kind, order, gfp, handle,
                                    cpu, content, self.h_pfn, self.h_order, 0, n,
                                    self.event_limit)
        assert done == n, "event ring filled up"

    def run(self, ops):
        """Apply ``ops``; return ``{handle: pfn or -1}`` for every alloc op.

        step_chunk is called once per segment; a segment is cut only before a
        free of a handle allocated in the same segment (its pfn must be read
        before the free clears it).
        """
        result = {}
        t0 = self.t
        seg = 0
        pending = []
        for i, op in enumerate(ops):
            if op[0] == FREE and op[1] in pending:
                self._step(ops, seg, i, t0)
                for h in pending:
                    result[h] = int(self.h_pfn[h]) if self.h_pfn[h] >= 0 else -1
                pending = []
                seg = i
            if op[0] == ALLOC:
                assert op[4] < self.h_pfn.shape[0]
                pending.append(op[4])
        self._step(ops, seg, len(ops), t0)
        for h in pending:
            result[h] = int(self.h_pfn[h]) if self.h_pfn[h] >= 0 else -1
        self.t = t0 + len(ops)
        return result

    # convenience for hand-built states ----------------------------------
    def new_handle(self):
        h = self.next_handle
        self.next_handle += 1
        return h

    def alloc(self, order, mt, kind=C.KIND_KERNEL):
        """One allocation; returns (pfn or -1, handle)."""
        h = self.new_handle()
        return self.run([(ALLOC, order, mt, kind, h)])[h], h

    def alloc_pfn(self, order, mt, kind=C.KIND_KERNEL):
        return self.alloc(order, mt, kind)[0]

    def alloc_many(self, reqs):
        """``reqs``: list of (order, mt, kind); returns [(pfn, handle)] in one step_chunk call."""
        ops = []
        for o, mt, k in reqs:
            ops.append((ALLOC, o, mt, k, self.new_handle()))
        res = self.run(ops)
        return [(res[op[4]], op[4]) for op in ops]

    def free(self, *handles):
        self.run([(FREE, h) for h in handles])

    # ------------------------------------------------------------------
    def free_lists(self, z=None):
        z = self.zone if z is None else z
        st = self.st
        out = {}
        for o in range(C.NR_PAGE_ORDERS):
            for mt in range(C.MIGRATE_TYPES):
                lid = pa.free_list_id(z, o, mt)
                lst = []
                p = int(st.free_head[lid])
                while p >= 0:
                    lst.append(p)
                    p = int(st.pg_next[p])
                    assert len(lst) <= st.pg_next.shape[0]
                out[(o, mt)] = lst
        return out

    def free_list(self, order, mt):
        return self.free_lists()[(order, mt)]

    def block_mt(self):
        return [int(x) for x in self.st.block_mt]

    def events(self):
        r = self.rec
        return [tuple(int(a[i]) for a in (r.ext_t, r.ext_pfn, r.ext_alloc_order,
                                          r.ext_fallback_order, r.ext_alloc_mt,
                                          r.ext_fallback_mt, r.ext_change_ownership))
                for i in range(int(r.ext_count[0]))]

    def nr_free_pages(self, z=None):
        z = self.zone if z is None else z
        return int(self.st.zone_stat[z, C.NR_FREE_PAGES])

    def boost(self, z=None):
        z = self.zone if z is None else z
        return int(self.st.watermark_boost[z])
