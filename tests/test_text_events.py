"""A text trace's reclaim, compaction and migration events read back into the
raw fields of ``other_events.csv`` (workloads/text_events.py): every reader
of the other events (workloads/trace.py) gets the same answer from a text
trace as from the CSV trace of the same recording."""
from pathlib import Path

import pytest

from defragsim.gfp import gfp_to_string
from defragsim.workloads import trace as T
from defragsim.workloads.text_events import raw_fields

GFP_RA = 0x152c4a           # readahead's order-9 mask (1387594)
GFP_KERNEL = 0xcc0          # 3264
SHR = 0xffff888100a2c0c0

#: (t_ns, cpu, pid, comm, system, event, TP_printk text (v6.18), raw fields as
#: the shared tools' perf2csv.py writes them)
EVENTS = [
    (1_000, 1, 38, "kcompactd0", "compaction", "mm_compaction_kcompactd_wake",
     "nid=0 order=9 classzone_idx=Normal  ", "highest_zoneidx=2 nid=0 order=9"),
    (2_000, 1, 38, "kcompactd0", "compaction", "mm_compaction_begin",
     "zone_start=0x100000 migrate_pfn=0x100000 free_pfn=0x63fe00 zone_end=0x640000, mode=sync",
     "free_pfn=6553088 migrate_pfn=1048576 sync=1 zone_end=6553600 zone_start=1048576"),
    (3_000, 1, 38, "kcompactd0", "compaction", "mm_compaction_isolate_migratepages",
     "range=(0x100000 ~ 0x100200) nr_scanned=512 nr_taken=32",
     "end_pfn=1049088 nr_scanned=512 nr_taken=32 start_pfn=1048576"),
    (4_000, 1, 38, "kcompactd0", "compaction", "mm_compaction_fast_isolate_freepages",
     "range=(0x500000 ~ 0x63fe00) nr_scanned=40 nr_taken=32",
     "end_pfn=6553088 nr_scanned=40 nr_taken=32 start_pfn=5242880"),
    (5_000, 1, 38, "kcompactd0", "migrate", "mm_migrate_pages",
     "nr_succeeded=32 nr_failed=0 nr_thp_succeeded=0 nr_thp_failed=0 nr_thp_split=0 nr_split=0 "
     "mode=MIGRATE_SYNC_LIGHT reason=compaction",
     "failed=0 large_folio_split=0 mode=1 reason=0 succeeded=32 thp_failed=0 thp_split=0 "
     "thp_succeeded=0"),
    (6_000, 1, 38, "kcompactd0", "compaction", "mm_compaction_isolate_freepages",
     "range=(0x63fc00 ~ 0x63fe00) nr_scanned=16 nr_taken=0",
     "end_pfn=6553088 nr_scanned=16 nr_taken=0 start_pfn=6552576"),
    (7_000, 1, 38, "kcompactd0", "compaction", "mm_compaction_end",
     "zone_start=0x100000 migrate_pfn=0x100200 free_pfn=0x63fc00 zone_end=0x640000, mode=sync "
     "status=complete",
     "free_pfn=6552576 migrate_pfn=1049088 status=5 sync=1 zone_end=6553600 zone_start=1048576"),
    (8_000, 1, 38, "kcompactd0", "compaction", "mm_compaction_defer_compaction",
     "node=0 zone=Normal   order=9 order_failed=9 consider=0 limit=4",
     "considered=0 defer_shift=2 idx=2 nid=0 order=9 order_failed=9"),
    (9_000, 1, 38, "kcompactd0", "compaction", "mm_compaction_kcompactd_sleep", "nid=0", "nid=0"),
    (10_000, 0, 100, "churn", "vmscan", "mm_vmscan_wakeup_kswapd",
     f"nid=0 order=9 gfp_flags={gfp_to_string(GFP_RA)}", f"gfp_flags={GFP_RA} nid=0 order=9"),
    (10_500, 0, 100, "churn", "compaction", "mm_compaction_try_to_compact_pages",
     f"order=9 gfp_mask={gfp_to_string(GFP_RA)} priority=2", f"gfp_mask={GFP_RA} order=9 prio=2"),
    (11_000, 1, 47, "kswapd0", "vmscan", "mm_vmscan_kswapd_wake", "nid=0 order=9",
     "nid=0 order=9"),
    (12_000, 1, 47, "kswapd0", "vmscan", "mm_vmscan_lru_isolate",
     "classzone=3 order=9 nr_requested=32 nr_scanned=32 nr_skipped=0 nr_taken=32 "
     "lru=inactive_file",
     "highest_zoneidx=3 lru=2 nr_requested=32 nr_scanned=32 nr_skipped=0 nr_taken=32 order=9"),
    (13_000, 1, 47, "kswapd0", "vmscan", "mm_vmscan_lru_shrink_inactive",
     "nid=0 nr_scanned=32 nr_reclaimed=30 nr_dirty=0 nr_writeback=0 nr_congested=0 "
     "nr_immediate=0 nr_activate_anon=0 nr_activate_file=2 nr_ref_keep=0 nr_unmap_fail=0 "
     "priority=12 flags=RECLAIM_WB_FILE|RECLAIM_WB_ASYNC",
     "nid=0 nr_activate0=0 nr_activate1=2 nr_congested=0 nr_dirty=0 nr_immediate=0 "
     "nr_reclaimed=30 nr_ref_keep=0 nr_scanned=32 nr_unmap_fail=0 nr_writeback=0 priority=12 "
     "reclaim_flags=10"),
    (14_000, 1, 47, "kswapd0", "vmscan", "mm_shrink_slab_start",
     f"super_cache_scan+0x0/0x1a0 {SHR:#x}: nid: 0 objects to shrink 186 gfp_flags GFP_KERNEL "
     "cache items 93 delta 46 total_scan 46 priority 12",
     f"cache_items=93 delta=46 gfp_flags={GFP_KERNEL} nid=0 nr_objects_to_shrink=186 priority=12 "
     f"shr={SHR} total_scan=46"),
    (15_000, 0, 100, "churn", "vmscan", "mm_vmscan_direct_reclaim_begin",
     f"order=9 gfp_flags={gfp_to_string(GFP_RA)}", f"gfp_flags={GFP_RA} order=9"),
    (16_000, 0, 100, "churn", "vmscan", "mm_vmscan_lru_shrink_inactive",
     "nid=0 nr_scanned=20 nr_reclaimed=20 nr_dirty=0 nr_writeback=0 nr_congested=0 "
     "nr_immediate=0 nr_activate_anon=0 nr_activate_file=0 nr_ref_keep=0 nr_unmap_fail=0 "
     "priority=12 flags=RECLAIM_WB_FILE|RECLAIM_WB_ASYNC",
     "nid=0 nr_activate0=0 nr_activate1=0 nr_congested=0 nr_dirty=0 nr_immediate=0 "
     "nr_reclaimed=20 nr_ref_keep=0 nr_scanned=20 nr_unmap_fail=0 nr_writeback=0 priority=12 "
     "reclaim_flags=10"),
    (17_000, 0, 100, "churn", "vmscan", "mm_vmscan_direct_reclaim_end", "nr_reclaimed=20",
     "nr_reclaimed=20"),
    (18_000, 1, 47, "kswapd0", "vmscan", "mm_vmscan_kswapd_sleep", "nid=0", "nid=0"),
    (19_000, 0, 100, "churn", "compaction", "mm_compaction_deferred",
     "node=0 zone=Normal   order=9 order_failed=9 consider=1 limit=4",
     "considered=1 defer_shift=2 idx=2 nid=0 order=9 order_failed=9"),
]
#: page events around them: (t_ns, cpu, pid, comm, kmem event, printk, CSV row tail)
PAGES = [
    (0, 0, 100, "churn", "mm_page_alloc",
     f"page=0x1388 pfn=0x1388 order=0 migratetype=1 gfp_flags={gfp_to_string(0x140cca)}",
     f"A,5000,0,1,{0x140cca:x},,,"),
    (20_000, 0, 100, "churn", "mm_page_free", "page=0x1388 pfn=0x1388 order=0",
     "F,5000,0,,,,,"),
]
T0 = 100 * 10**9


def _ts(t):
    t += T0
    return f"{t // 10**9}.{t % 10**9:09d}"


def _text_line(fmt, t, cpu, pid, comm, system, event, fields):
    if fmt == "perf":
        return f"{comm:>16} {pid} [{cpu:03d}] {_ts(t)}: {system}:{event}: {fields}"
    flags = "d..1. " if fmt == "tracefs" else ""
    return f"{comm:>16}-{pid:<7} [{cpu:03d}] {flags}{_ts(t)}: {event}: {fields}"


def _text_trace(d: Path, fmt: str) -> Path:
    rows = [(t, _text_line(fmt, t, cpu, pid, comm, s, ev, text))
            for t, cpu, pid, comm, s, ev, text, _ in EVENTS]
    rows += [(t, _text_line(fmt, t, cpu, pid, comm, "kmem", ev, text))
             for t, cpu, pid, comm, ev, text, _ in PAGES]
    head = ["# tracer: nop", "#"] if fmt == "tracefs" else (["cpus=2"] if fmt == "trace-cmd" else [])
    p = d / f"trace.{fmt}.txt"
    p.write_text("\n".join(head + [x for _, x in sorted(rows)]) + "\n")
    return p


def _csv_trace(d: Path) -> Path:
    """The same recording as the shared tools write it: times on the same clock."""
    (d / "page_events.csv").write_text(T.CSV_HEADER + "\n" + "".join(
        f"{T0 + t},{cpu},{pid},{tail}\n" for t, cpu, pid, _, _, _, tail in PAGES))
    (d / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n" + "".join(
        f"{T0 + t},{cpu},{pid},{s}:{ev},{raw}\n" for t, cpu, pid, _, s, ev, _, raw in EVENTS))
    return d / "page_events.csv"


def _fields(s: str) -> dict:
    return dict(tok.split("=") for tok in s.split())


@pytest.mark.parametrize("row", EVENTS, ids=[e[5] for e in EVENTS])
def test_printk_text_reads_back_into_the_raw_fields(row):
    """Each event's TP_printk() text gives the raw fields perf2csv.py writes:
    renamed labels (nr_succeeded -> succeeded, classzone_idx ->
    highest_zoneidx, consider/limit -> considered/defer_shift), hex pfns,
    symbolic zones, statuses, LRU lists, reclaim flags, migrate modes and
    reasons, gfp flag names, the shrinker's sentence."""
    _, _, _, _, _, event, text, raw = row
    assert _fields(raw_fields(event, text, lambda s: T.parse_gfp_lenient(s, __import__(
        "collections").Counter()))) == _fields(raw)


def test_a_hashed_pointer_names_the_shrinker():
    """tracefs prints a shrinker's %p hashed, without 0x: still its id."""
    got = raw_fields("mm_shrink_slab_start",
                     "super_cache_scan+0x0/0x1a0 00000000a1b2c3d4: nid: 0 objects to shrink 8 "
                     "gfp_flags GFP_KERNEL cache items 4 delta 2 total_scan 2 priority 12",
                     lambda s: GFP_KERNEL)
    assert _fields(got)["shr"] == str(0xa1b2c3d4)


@pytest.mark.parametrize("fmt", ["perf", "tracefs", "trace-cmd"])
def test_every_reader_of_the_other_events_serves_a_text_trace(tmp_path, fmt):
    """The readers of other_events.csv (direct reclaim windows, compaction
    passes and deferral, kcompactd's first wait and pending request, kswapd's
    rounds and wakeup latencies, kswapd's memcg walk, the traced counter
    sums, the page events before the first shortage) answer the same for a text trace, from its own lines, as for the
    CSV trace of the same recording."""
    (tmp_path / "csv").mkdir()
    (tmp_path / "text").mkdir()
    c = _csv_trace(tmp_path / "csv")
    t = _text_trace(tmp_path / "text", fmt)
    assert T.detect_format(t) == ("perf" if fmt == "perf" else "tracefs")
    readers = {
        "direct_reclaim_windows": lambda p: {k: (list(b), list(e))
                                             for k, (b, e) in T.direct_reclaim_windows(p).items()},
        "compaction_passes": T.compaction_passes,
        "compaction_defer_states": T.compaction_defer_states,
        "kcompactd_first_timeout": T.kcompactd_first_timeout,
        "kcompactd_pending_request": T.kcompactd_pending_request,
        "kswapd_events": lambda p: T.kswapd_events(p, t0_ns=T0),
        "kswapd_wake_latencies": T.kswapd_wake_latencies,
        "memcg_walk": T.memcg_walk,
        "other_event_sums": lambda p: T.other_event_sums(p, t0_ns=T0),
        # (t0_ns: a text trace's times are the machine's clock, a CSV's count from 0)
        "start_window": lambda p: {k: (v.tolist() if hasattr(v, "tolist") else v)
                                   for k, v in vars(T.start_window(p, 0)).items() if k != "t0_ns"},
    }
    for name, read in readers.items():
        assert read(t) == read(c), name
    # and they say something: the facts the events above carry
    assert T.direct_reclaim_windows(t)[100][0].tolist() == [T0 + 15_000]
    assert T.kcompactd_pending_request(t) == (9, 2)
    # before the first wakeup of kswapd: the allocation at 0, not the free at 20,000
    w = T.start_window(t, 0)
    assert (w.until_ns, w.alloc_pfns.tolist(), w.free_pfns.tolist()) == (T0 + 10_000, [5000], [])
    assert T.compaction_defer_states(t) == {2: (2, 1, 9)}   # before defer_compaction()
    assert T.other_event_sums(t, t0_ns=T0) == {
        "compact_migrate_scanned": 512, "compact_free_scanned": 56, "pgmigrate_success": 32,
        "pgscan_kswapd": 32, "pgscan_direct": 20}
    # a CSV trace still reads the file beside it, and counts its events by name
    assert T.other_event_counts(c)["mm_compaction_begin"] == 1
    assert T.other_event_counts(t) is None      # a text trace's parse counts its own


def test_a_text_trace_ignores_an_other_events_file_beside_it(tmp_path):
    """A text trace's other events are its own lines, even with an
    other_events.csv beside it (a recording whose CSV decode failed leaves an
    empty one)."""
    t = _text_trace(tmp_path, "perf")
    (tmp_path / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n")
    assert T.other_event_sums(t, t0_ns=T0)["pgmigrate_success"] == 32


def test_record_enables_every_event_a_replay_reads():
    """`defragsim record` traces each event the replay's readers use (a
    subsystem, or the event itself)."""
    from defragsim.capture import TRACE_EVENTS
    from defragsim.workloads.text_events import KEPT
    system = {"mm_compaction_": "compaction", "mm_vmscan_": "vmscan", "mm_shrink_slab_": "vmscan",
              "mm_migrate_pages": "migrate"}
    for ev in KEPT:
        s = next(v for k, v in system.items() if ev.startswith(k))
        assert s in TRACE_EVENTS or f"{s}/{ev}" in TRACE_EVENTS, ev
