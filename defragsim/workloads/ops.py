"""The op stream: :class:`Workload` and its column dtypes.

A :class:`Workload` is a set of equal-length numpy columns, one row per op,
sorted by time: ``t`` (ns), ``kind`` (OP_ALLOC / OP_FREE / ...), ``order``,
``gfp`` (kernel gfp bits), ``handle`` (which allocation a free releases),
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
        if n and (self.order.min() < 0 or self.order.max() > C.MAX_PAGE_ORDER):
            raise ScenarioError(f"workload {self.name}: order outside 0..{C.MAX_PAGE_ORDER}")
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




def _cat(parts: list, dtype) -> np.ndarray:
    """The parts concatenated (an empty array of ``dtype`` when there are none)."""
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


class OpBuilder:
    """Collects the ops of a generated workload, in any order, and the owners
    and handles they use; :meth:`finish` sorts them by time into a
    :class:`Workload`.

    Times are seconds (float) until :meth:`finish` rounds them to ns.  Handles
    are numbered in the order :meth:`new_handles` hands them out; owners in the
    order :meth:`new_owner` creates them."""

    _COLS = (("t", np.float64), ("kind", np.int8), ("order", np.int8), ("gfp", np.int64),
             ("handle", np.int64), ("content", np.uint8))

    def __init__(self):
        self._cols = {k: [] for k, _ in self._COLS}
        self._h_owner: list[np.ndarray] = []
        self.owner_kind: list[int] = []
        self.owner_names: list[str] = []
        self.nr_handles = 0

    def new_owner(self, kind: int, name: str) -> int:
        """A new owner (C.OWNER_TASK / OWNER_FILE / OWNER_KERNEL) named ``name``;
        returns its id."""
        self.owner_kind.append(kind)
        self.owner_names.append(name)
        return len(self.owner_kind) - 1

    def new_handles(self, n: int, owner) -> np.ndarray:
        """``n`` new handles owned by ``owner`` (one id, or one per handle)."""
        h = np.arange(self.nr_handles, self.nr_handles + n, dtype=np.int64)
        self.nr_handles += n
        self._h_owner.append(np.broadcast_to(np.asarray(owner, np.int32), (n,)).copy())
        return h

    def emit(self, t_seconds, kind: int, order, gfp, handles, content) -> None:
        """Ops of one ``kind`` at times ``t_seconds`` on ``handles``; ``order``,
        ``gfp`` and ``content`` are one value or one per op."""
        n = len(t_seconds)
        cols = self._cols
        cols["t"].append(np.asarray(t_seconds, np.float64))
        cols["kind"].append(np.full(n, kind, np.int8))
        cols["order"].append(np.broadcast_to(np.asarray(order, np.int8), (n,)).copy())
        cols["gfp"].append(np.broadcast_to(np.asarray(gfp, np.int64), (n,)).copy())
        cols["handle"].append(np.asarray(handles, np.int64))
        cols["content"].append(np.broadcast_to(np.asarray(content, np.uint8), (n,)).copy())

    def finish(self, name: str, description: str, nr_cpus: int, rng: np.random.Generator,
               duration: float, meta: dict) -> Workload:
        """The Workload: ops stably sorted by time (ties keep emission order),
        times rounded to ns, each op's cpu drawn from ``rng`` (after the sort),
        ``duration`` in seconds."""
        col = {k: _cat(self._cols[k], d) for k, d in self._COLS}
        order = np.argsort(col["t"], kind="stable")
        t_ns = np.round(col["t"][order] * 1e9).astype(np.int64)
        return Workload(
            name=name, t=t_ns, kind=col["kind"][order], order=col["order"][order],
            gfp=col["gfp"][order], handle=col["handle"][order].astype(np.int32),
            cpu=rng.integers(0, nr_cpus, len(t_ns)).astype(np.int32),
            content=col["content"][order], nr_handles=self.nr_handles,
            duration_ns=int(round(duration * 1e9)), description=description, meta=meta,
            handle_owner=_cat(self._h_owner, np.int32),
            owner_kind=np.array(self.owner_kind, np.uint8), owner_names=self.owner_names)
