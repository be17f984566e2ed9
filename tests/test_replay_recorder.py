"""The recorder's ring buffers: pages a trace's recorder allocated after the
before snapshot (perf's rb_alloc(), a tracefs buffer), which the replay
takes out of the snapshot's free memory as unmovable order-0 pages."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from defragsim.analysis.replay import replay
from defragsim.errors import ConfigError
from defragsim.workloads.replay_ops import SHARED_TOOLS_PERF_MMAP_PAGES, recorder_buffer_pages
from defragsim.workloads.snapshot import Snapshot

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"


def _snap(tmp_path, platform: str | None) -> Snapshot:
    d = tmp_path / "snap"
    d.mkdir(parents=True)
    (d / "before.meminfo").write_text("MemTotal: 4096 kB\nMemFree: 1024 kB\n")
    if platform is not None:
        (d / "before.platform").write_text(platform)
    return Snapshot.load(d)


def test_where_the_recorder_pages_come_from(tmp_path):
    snap = _snap(tmp_path, "kernel_release=6.18.0\nnr_cpus=4\n")
    # a CSV trace (the shared traces' schema): their capture.sh's perf -m 4096, per CPU
    n, why = recorder_buffer_pages(snap, "csv", 2)
    assert n == 4 * (SHARED_TOOLS_PERF_MMAP_PAGES + 1) and "perf record -a -m 4096 on 4 CPUs" in why
    # another format: not known
    assert recorder_buffer_pages(snap, "tracefs", 2)[0] == 0
    # --recorder-pages wins
    assert recorder_buffer_pages(snap, "csv", 2, 100) == (100, "--recorder-pages")
    with pytest.raises(ConfigError, match="--recorder-pages must be 0 or more"):
        recorder_buffer_pages(snap, "csv", 2, -1)
    # no snapshot: nothing to take them from
    assert recorder_buffer_pages(None, "csv", 2)[0] == 0


def test_the_snapshot_says_how_many(tmp_path):
    snap = _snap(tmp_path, "nr_cpus=2\nrecorder_buffer_pages=32768\n")
    n, why = recorder_buffer_pages(snap, "tracefs", 2)
    assert n == 32768 and "before.platform" in why
    bad = _snap(tmp_path / "bad", "recorder_buffer_pages=lots\n")
    with pytest.raises(ConfigError, match=r"before.platform: recorder_buffer_pages='lots'"):
        recorder_buffer_pages(bad, "csv", 2)


def test_the_prefill_takes_them_from_the_free_memory():
    """Trace b (perf -m 4096 on 2 CPUs): 8,194 machine pages, taken out of
    the snapshot's free memory after the prefill shaped it, held as kernel
    memory.  They come first from the Unmovable free lists (through the
    per-cpu lists, which the prefill's own unmovable allocations left
    holding pages stolen from Movable pageblocks, as the kernel's do)."""
    trace = DATA / "b_pressure_dm0" / "page_events.csv.xz"
    without = replay(trace, duration=0.001, recorder_pages=0)
    rp = replay(trace, duration=0.001)
    assert rp.stats.recorder_machine_pages == 2 * 4097
    taken = rp.stats.recorder_pages
    assert 0.95 * 8194 < taken <= 8194
    assert "8,194 machine pages" in rp.observed_vs_model()

    def state(r):
        df = r.result.pageblocks(0)
        m = r.result.snapshots[0].nr_free_mt
        lists = (m * (1 << np.arange(m.shape[1]))[None, :, None]).sum(axis=1)
        return df["kernel"].sum(), lists[1, 0], r.result.meta["baseline_vmstat"]["nr_free_pages"]
    (k0, u0, f0), (k1, u1, f1) = state(without), state(rp)
    assert k1 - k0 == taken
    assert f0 - f1 == pytest.approx(taken, rel=0.02)
    assert u0 - u1 > 0.5 * taken            # Normal's Unmovable free list
