"""A userspace pressure guard in the style of oomd / systemd-oomd (model-only).

Off by default.  At each sample it looks at memory pressure over the last
``window_s`` seconds (PSI "some" of allocating tasks, as a percentage of wall
time) and at swap use; when either passes its threshold it kills the task
with the largest footprint (rss + swap), like oomd's "kill the biggest
cgroup" plugin.  Kills are counted in ``diagnostics.oomd_kills`` and the
``oomd_kills`` time series.
"""
from __future__ import annotations

import numpy as np

from .. import constants as C
from ..mm.oom_kill import oom_kill_task
from ..mm.state import DIAG_OOMD_KILLS, NODE_SWAP_TOTAL, NODE_SWAP_USED


class PressureGuard:
    def __init__(self, cfg, columns, nr_cpus):
        self.cfg = cfg
        self.col_psi = columns.index("psi_task_ns")
        self.nr_cpus = nr_cpus
        self.last_kill_t = -1e18

    def check(self, st, prm, own, row, ts, ts_t):
        t = ts_t[row]
        j = int(np.searchsorted(ts_t[:row + 1], t - self.cfg.window_s, side="left"))
        j = min(j, row - 1) if row > 0 else 0
        span = t - ts_t[j]
        if span <= 0:
            return
        if span < self.cfg.window_s * 0.999 or t - self.last_kill_t < self.cfg.window_s:
            pressure = 0.0
        else:
            stall_s = (ts[row, self.col_psi] - ts[j, self.col_psi]) / 1e9
            # MODEL: overlapping stalls are not merged; capped at 100%
            pressure = min(100.0, 100.0 * stall_s / span)
        total = st.node[NODE_SWAP_TOTAL]
        swap_pct = 100.0 * st.node[NODE_SWAP_USED] / total if total else 0.0
        if pressure < self.cfg.pressure_pct and swap_pct < self.cfg.swap_used_pct:
            return
        victim, best = -1, 0
        for o in range(own.o_kind.shape[0]):
            if own.o_kind[o] != C.OWNER_TASK or own.o_dead[o]:
                continue
            size = own.o_rss[o] + own.o_swap[o]
            if size > best:
                victim, best = o, size
        if victim < 0:
            return
        # the cached Python entry (the int64 wrapper's own compilation is not cached)
        getattr(oom_kill_task, "impl", oom_kill_task)(st, prm, own, victim, 0)
        st.diag[DIAG_OOMD_KILLS] += 1
        self.last_kill_t = t
