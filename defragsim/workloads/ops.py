"""The op stream: :class:`Workload` and its column dtypes.

A :class:`Workload` is a set of equal-length numpy columns, one row per op,
sorted by time: ``t`` (ns), ``kind`` (OP_ALLOC / OP_FREE / ...), ``order``,
``gfp`` (kernel gfp bits; a replay's readahead marks above them,
constants.OP_GFP_RA_SHIFT), ``handle`` (which allocation a free releases),
``cpu`` (whose per-cpu lists are used) and ``content`` (what the pages will
hold: anon, file, slab, ...).  It is what every workload source produces and
the only thing the simulator reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import constants as C
from ..errors import ScenarioError

#: dtype of each op column of a Workload (the kernels are compiled for these)
OP_DTYPES = (np.int64, np.int8, np.int8, np.int64, np.int32, np.int32, np.uint8)


def new_op_columns(n: int) -> tuple:
    """Zeroed op columns for ``n`` ops with the Workload dtypes, in field
    order: t, kind, order, gfp, handle, cpu, content."""
    return tuple(np.zeros(n, d) for d in OP_DTYPES)


@dataclass
class Workload:
    """An op stream plus what it came from."""

    name: str
    t: np.ndarray        # int64 ns
    kind: np.ndarray     # int8 OP_*
    order: np.ndarray    # int8
    gfp: np.ndarray      # int64 gfp mask
    handle: np.ndarray   # int32
    cpu: np.ndarray      # int32
    content: np.ndarray  # uint8 KIND_*
    nr_handles: int
    duration_ns: int
    description: str = ""
    meta: dict = field(default_factory=dict)
    #: owner of each handle (index into owner_kind); default: one kernel owner
    handle_owner: np.ndarray | None = None
    #: OWNER_TASK / OWNER_FILE / OWNER_KERNEL per owner
    owner_kind: np.ndarray | None = None
    owner_names: list | None = None
    #: swap device size the scenario asks for (bytes), if any
    swap: object = None
    #: owner of each op (int32), when handles are reused by several owners
    #: (a materialized OpStream); None: ``handle_owner[handle]``
    op_owner: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def owners(self) -> tuple[np.ndarray, np.ndarray]:
        """``(handle_owner, owner_kind)``; without owners every handle belongs to
        one kernel owner."""
        if self.handle_owner is None:
            return np.zeros(self.nr_handles, np.int32), np.array([C.OWNER_KERNEL], np.uint8)
        return self.handle_owner, self.owner_kind

    def validate(self, nr_cpus: int) -> None:
        """Raise :class:`ScenarioError` naming the first inconsistent column.
        Reads only: the Workload is not changed."""
        n = len(self)
        for name in ("kind", "order", "gfp", "handle", "cpu", "content"):
            if getattr(self, name).shape[0] != n:
                raise ScenarioError(f"workload {self.name}: column {name} has "
                                    f"{getattr(self, name).shape[0]} rows, expected {n}")
        if n and np.any(np.diff(self.t) < 0):
            raise ScenarioError(f"workload {self.name}: ops are not sorted by time")
        obj = (self.content & C.CONTENT_SLAB_OBJECT) != 0
        pages, objs = self.order[~obj], self.order[obj]
        if len(pages) and (pages.min() < 0 or pages.max() > C.MAX_PAGE_ORDER):
            raise ScenarioError(f"workload {self.name}: order outside 0..{C.MAX_PAGE_ORDER}")
        if len(objs) and (objs.min() < 0 or objs.max() >= C.NR_SLAB_CACHES):
            raise ScenarioError(f"workload {self.name}: slab cache outside "
                                f"0..{C.NR_SLAB_CACHES - 1} in a slab-object op")
        if n and (self.handle.min() < 0 or self.handle.max() >= self.nr_handles):
            raise ScenarioError(f"workload {self.name}: handle outside 0..{self.nr_handles - 1}")
        handle_owner, owner_kind = self.owners()
        if handle_owner.shape[0] != self.nr_handles:
            raise ScenarioError(f"workload {self.name}: handle_owner has {handle_owner.shape[0]} "
                                f"entries, expected {self.nr_handles}")
        if self.nr_handles and (handle_owner.min() < 0 or handle_owner.max() >= len(owner_kind)):
            raise ScenarioError(f"workload {self.name}: handle owner outside 0..{len(owner_kind) - 1}")
        if n and (self.kind.min() < 0 or self.kind.max() >= len(C.OP_NAMES)):
            raise ScenarioError(f"workload {self.name}: op kind outside 0..{len(C.OP_NAMES) - 1} "
                                f"({', '.join(C.OP_NAMES)})")
        if n and int((self.content.astype(np.int64) & ~C.CONTENT_FLAGS).max()) >= C.NR_KINDS:
            raise ScenarioError(f"workload {self.name}: content outside 0..{C.NR_KINDS - 1}")
        if n and (self.cpu.min() < 0 or self.cpu.max() >= nr_cpus):
            raise ScenarioError(f"workload {self.name}: cpu id {int(self.cpu.max())} but the "
                                f"config has nr_cpus={nr_cpus}")
