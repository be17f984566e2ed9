"""A replay says how fast the traced machine reclaimed and compacted, beside
what the model charges (issue 17): ``trace.work_pace`` times kswapd's reclaim
batches (mm_vmscan_lru_isolate to mm_vmscan_lru_shrink_inactive) and the async
direct compaction passes that isolated nothing (mm_compaction_begin to _end,
and per pageblock scanned); the replay's notes and ``--json`` carry them
beside the model's costs.  The shipped b was recorded on a machine that
reclaimed a 512-page folio in 4.6 µs; traces recorded later on a slower VM
take 13-14 µs (README, Validation, stop 51)."""
from __future__ import annotations

import pytest

from defragsim.analysis.replay import replay
from defragsim.errors import TraceError
from defragsim.workloads import trace as T
from test_replay_kswapd_latency import DATA, _trace


def _block(t, pid, start, scanned, taken=0):
    return (f"{t},0,{pid},compaction:mm_compaction_isolate_migratepages,end_pfn={start + 512} "
            f"nr_scanned={scanned} nr_taken={taken} start_pfn={start}")


ISOLATE = "vmscan:mm_vmscan_lru_isolate,highest_zoneidx=3 lru=2 nr_requested=32 nr_scanned={n} " \
          "nr_skipped=0 nr_taken={n} order=0"
SHRINK = "vmscan:mm_vmscan_lru_shrink_inactive,nid=0 nr_activate0=0 nr_reclaimed={n} nr_scanned={n}"
BEGIN = "compaction:mm_compaction_begin,free_pfn=9999 migrate_pfn=4096 sync={s} zone_end=10240 " \
        "zone_start=4096"
END = "compaction:mm_compaction_end,free_pfn=9999 migrate_pfn={m} status=6 sync={s} " \
      "zone_end=10240 zone_start=4096"

OTHER = [
    "100,0,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9",
    # kswapd's batches: 32 pages in 20 and 40 us, 512 in 5 us; one that kept a
    # page back, a direct reclaimer's and another size are not counted
    "1000,0,45," + ISOLATE.format(n=32), "21000,0,45," + SHRINK.format(n=32),
    "30000,0,45," + ISOLATE.format(n=32), "70000,0,45," + SHRINK.format(n=32),
    "80000,0,45," + ISOLATE.format(n=512), "85000,0,45," + SHRINK.format(n=512),
    "90000,0,45," + ISOLATE.format(n=32), "99000,0,45," + SHRINK.format(n=31),
    "90000,1,100," + ISOLATE.format(n=32), "91000,1,100," + SHRINK.format(n=32),
    "95000,0,45," + ISOLATE.format(n=64), "96000,0,45," + SHRINK.format(n=64),
    # an async direct pass of 60 blocks, 10 pages each, in 600 us: 10 us a block
    "200000,1,100," + BEGIN.format(s=0),
    *[_block(200000 + 10000 * i, 100, 4096 + 512 * i, 10) for i in range(60)],
    "800000,1,100," + END.format(m=4096 + 512 * 60, s=0),
    # a short one (1 block, 100 us): a pass, but no per-block sample
    "900000,1,100," + BEGIN.format(s=0), _block(950000, 100, 4096, 1),
    "1000000,1,100," + END.format(m=4608, s=0),
    # one that isolated, one that ran its free scanner, kcompactd's (sync): not counted
    "2000000,1,100," + BEGIN.format(s=0), _block(2000001, 100, 4096, 5, taken=5),
    "2000002,1,100," + END.format(m=4608, s=0),
    "3000000,1,100," + BEGIN.format(s=0),
    "3000001,1,100,compaction:mm_compaction_isolate_freepages,end_pfn=9999 nr_scanned=3 "
    "nr_taken=0 start_pfn=9000",
    "3000002,1,100," + END.format(m=4096, s=0),
    "4000000,1,39," + BEGIN.format(s=1), _block(4000001, 39, 4096, 1),
    "4000002,1,39," + END.format(m=4608, s=1),
]


def test_work_pace_times_kswapds_batches_and_direct_compaction(tmp_path):
    p = T.work_pace(_trace(tmp_path, OTHER))
    assert p.reclaim_batches == {32: 2, 512: 1}
    assert p.reclaim_batch_us == {32: 30.0, 512: 5.0}
    assert p.compact_passes == 2 and p.compact_pass_us == pytest.approx(350.0)
    assert p.compact_long_passes == 1
    assert p.compact_block_us == pytest.approx(10.0) and p.compact_block_pages == 10
    # no such events: nothing to say
    assert T.work_pace(_trace(tmp_path, OTHER[:1])) is None


def test_a_bad_line_is_named(tmp_path):
    path = _trace(tmp_path, OTHER[:3] + ["9x9,0,45," + SHRINK.format(n=32)])
    with pytest.raises(TraceError, match=r"other_events.csv: line 5: expected .*'9x9,0,45"):
        T.work_pace(path)


def test_the_shipped_b_trace_and_its_replay_note():
    path = DATA / "b_pressure_dm0" / "page_events.csv.xz"
    p = T.work_pace(path)
    # medians over thousands of batches and ~200 passes (README, stop 51)
    assert 18 < p.reclaim_batch_us[32] < 21 and 4.3 < p.reclaim_batch_us[512] < 4.9
    assert p.reclaim_batches[512] > 5000 and p.compact_passes > 150
    assert 3 < p.compact_block_us < 6
    rp = replay(path, duration=1)
    wp = rp.work_pace()
    assert wp["reclaim_batch_us"][512]["machine"] == pytest.approx(p.reclaim_batch_us[512])
    # the model's costs at b's own pace (test_cpu_pace): 0.94 x (0.8 + 511 x 8 ns)
    assert wp["cpu_pace"] == 0.94
    assert wp["reclaim_batch_us"][512]["model"] == pytest.approx(4.594)
    assert wp["reclaim_batch_us"][32]["model"] == pytest.approx(32 * (0.094 + 0.658))
    assert wp["compact_pass_ms"]["passes"] == p.compact_passes
    assert wp["compact_block_us"]["model"] == pytest.approx(p.compact_block_pages * 0.018)
    notes = rp.notes()
    pace = [n for n in notes if n.startswith("the traced machine's")]
    assert len(pace) == 2
    assert "a 512-page batch in 4.6 µs" in pace[0] and "the model: 4.6 µs" in pace[0]
    assert "the model's costs at cpu_pace 0.94" in pace[0]
    assert "µs a pageblock the migrate scanner scanned" in pace[1]


def test_json_carries_both_sides(tmp_path, capsys):
    import json
    from defragsim.cli import main
    assert main(["replay", str(_trace(tmp_path, OTHER)), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)["work_pace"]
    assert d["reclaim_batch_us"]["32"] == {"machine": 30.0, "batches": 2, "model": 25.6}
    assert d["compact_pass_ms"]["machine"] == pytest.approx(0.35)
    assert d["compact_pass_ms"]["model"] == 0
    assert d["compact_block_us"]["passes"] == 1
    # no other events: null
    (tmp_path / "other_events.csv").unlink()
    assert main(["replay", str(tmp_path / "page_events.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["work_pace"] is None
