"""Mirror of mm/oom_kill.c: pick the task with the highest badness and kill it.

``oom_badness()`` = resident pages + swap entries + page-table pages (the
model's tasks have ``oom_score_adj`` 0).  Killing a task frees all of its
memory at once (its resident pages go back to the allocator, its swap slots
are released) and its later workload ops are skipped.

MODEL: the OOM reaper and the victim's exit path are instantaneous; there is
no oom_lock contention (one allocating context at a time).
"""
from __future__ import annotations

from .._jit import kernel as njit
from ..gfp import __GFP_FS
from ..constants import (
    H_KILLED, H_RESIDENT, H_SWAPPED, OWNER_TASK, VM_OOM_KILL,
)
from .state import DIAG_OOM_KILLS_NO_VICTIM, NODE_OOM_VICTIM, NODE_SWAP_USED



@njit
def oom_badness(own, o):
    """oom_badness(): rss + swap entries + page tables, in pages."""
    return own.o_rss[o] + own.o_swap[o] + own.o_pt[o]


@njit
def select_bad_process(own):
    """select_bad_process(): the live task with the highest badness, or -1."""
    best = -1
    best_points = 0
    for o in range(own.o_kind.shape[0]):
        if own.o_kind[o] != OWNER_TASK or own.o_dead[o]:
            continue
        p = oom_badness(own, o)
        if p > best_points:
            best_points = p
            best = o
    return best


@njit
def oom_kill_task(st, prm, own, victim, cpu):
    """__oom_kill_process() + the victim's exit: free everything it holds."""
    own.o_dead[victim] = 1
    for h in range(own.h_owner.shape[0]):
        if own.h_owner[h] != victim:
            continue
        state = own.h_state[h]
        if state == H_RESIDENT:
            driver.free_handle(st, prm, own, h, cpu)
        elif state == H_SWAPPED:
            nr = 1 << own.h_order[h]
            st.node[NODE_SWAP_USED] -= nr
            own.o_swap[victim] -= nr
        own.h_state[h] = H_KILLED
        own.h_pfn[h] = -1
    st.node[NODE_OOM_VICTIM] = victim + 1


@njit
def out_of_memory(st, prm, own, gfp_mask, order, cpu):
    """out_of_memory(): returns True if progress can be expected.

    A !__GFP_FS request does not invoke the killer (it may hold filesystem
    locks the victim needs) but reports progress, as in the kernel.
    """
    if (gfp_mask & __GFP_FS) == 0:
        return True
    victim = select_bad_process(own)
    if victim < 0:
        st.diag[DIAG_OOM_KILLS_NO_VICTIM] += 1
        return False
    # MODEL: the victim's memory is freed at once (reaper and exit instantaneous)
    oom_kill_task(st, prm, own, victim, cpu)
    st.vm_events[VM_OOM_KILL] += 1
    return True


from . import driver  # noqa: E402
