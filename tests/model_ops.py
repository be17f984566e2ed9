"""Test helper: a hand-built op stream (owners, handles, time-ordered ops)
that becomes a :class:`defragsim.Workload`."""
from __future__ import annotations

import numpy as np

from defragsim import Workload
from defragsim import constants as C


class Ops:
    """A hand-built op stream: owners, handles and time-ordered ops."""

    def __init__(self):
        self.rows = []
        self.owner_kind = []
        self.h_owner = []
        self.t = 0

    def owner(self, kind):
        self.owner_kind.append(kind)
        return len(self.owner_kind) - 1

    def handles(self, owner, n):
        h0 = len(self.h_owner)
        self.h_owner += [owner] * n
        return list(range(h0, h0 + n))

    def op(self, kind, h, order=0, gfp=0, content=C.KIND_NONE, dt=1000):
        self.t += dt
        self.rows.append((self.t, kind, order, gfp, h, 0, content))

    def alloc(self, h, gfp, content, order=0, dt=1000):
        self.op(C.OP_ALLOC, h, order, gfp, content, dt)

    def free(self, h, dt=1000):
        self.op(C.OP_FREE, h, dt=dt)

    def touch(self, h, dt=1000):
        self.op(C.OP_TOUCH, h, dt=dt)

    def gap(self, ns):
        self.t += ns

    def build(self, name="hand-built", tail_ns=1_000_000):
        a = np.array(self.rows, dtype=np.int64).reshape(-1, 7)
        return Workload(
            name=name, t=a[:, 0].copy(), kind=a[:, 1].astype(np.int8),
            order=a[:, 2].astype(np.int8), gfp=a[:, 3].copy(), handle=a[:, 4].astype(np.int32),
            cpu=a[:, 5].astype(np.int32), content=a[:, 6].astype(np.uint8),
            nr_handles=len(self.h_owner), duration_ns=int(a[-1, 0]) + tail_ns,
            handle_owner=np.array(self.h_owner, np.int32),
            owner_kind=np.array(self.owner_kind, np.uint8))
