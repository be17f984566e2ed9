"""``defragsim snapshot`` / ``record`` without tracefs: a fake /proc and a fake
tracefs folder stand in for the kernel (tests must not need tracefs)."""
from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fake_tracefs import tracefs_lines

from defragsim.cli import main
from defragsim.capture import (KPF, CaptureError, pageblock_content_map, record, snapshot,
                              zone_ranges)
from defragsim.workloads.snapshot import Snapshot, read_platform
from defragsim.workloads.trace import read_trace

SNAP = Path(__file__).resolve().parents[1] / "data" / "traces" / "samples-1s" / "snap"
PERF = Path(__file__).resolve().parents[1] / "data" / "traces" / "samples-perf-script.txt.gz"


def _fake_proc(tmp_path, with_kpageflags=True):
    proc = tmp_path / "proc"
    (proc / "sys" / "vm").mkdir(parents=True)
    for n in ("vmstat", "pagetypeinfo", "buddyinfo", "zoneinfo", "meminfo"):
        shutil.copy(SNAP / f"before.{n}", proc / n)
    (proc / "sys" / "vm" / "defrag_mode").write_text("1\n")
    (proc / "sys" / "vm" / "min_free_kbytes").write_text("67584\n")
    (proc / "uptime").write_text("4291.54 7529.60\n")
    (proc / "slabinfo").write_text("slabinfo - version: 2.1\n"
                                   "dentry 117663 117663 192 21 1 : tunables 0 0 0 "
                                   ": slabdata 5603 5603 0\n")
    if with_kpageflags:
        # DMA32 starts at pfn 4096 in the shared zoneinfo; give the first
        # blocks known contents and leave the rest zero (other)
        zones = zone_ranges((proc / "zoneinfo").read_text())
        end = max(s + n for _, s, n in zones)
        flags = np.zeros(min(end, 4096 + 4 * 512), "<u8")
        flags[4096:4096 + 512] = 1 << KPF["BUDDY"]
        flags[4608:4608 + 100] = (1 << KPF["LRU"]) | (1 << KPF["ANON"])
        flags[4608 + 100:4608 + 200] = 1 << KPF["SLAB"]
        (proc / "kpageflags").write_bytes(flags.tobytes())
    return proc


def test_snapshot_writes_proc_files_and_loads_as_initial_state(tmp_path):
    proc = _fake_proc(tmp_path)
    files = snapshot(tmp_path / "snap", proc=proc)
    assert any(f.endswith("before.pagetypeinfo") for f in files)
    s = Snapshot.load(tmp_path / "snap")
    assert s.meminfo["MemTotal"] > 0 and s.sysctl["defrag_mode"] == 1
    assert s.config_overrides()["min_free_kbytes"] == 67584
    assert (tmp_path / "snap" / "before.slabinfo").read_text().startswith("slabinfo")
    # /proc/uptime on line 2 of before.time (and after.time, another tag)
    assert (tmp_path / "snap" / "before.time").read_text().split("\n")[1] == "4291.54 7529.60"
    (proc / "uptime").write_text("4354.42 7613.87\n")
    snapshot(tmp_path / "snap", tag="after", proc=proc, kpageflags=False)
    assert Snapshot.load(tmp_path / "snap").uptime_span() == pytest.approx(62.88)
    with gzip.open(tmp_path / "snap" / "before.pbmap.csv.gz", "rt") as f:
        head = f.readline().strip().split(",")
        dma32 = [line.strip().split(",") for line in f if line.startswith("DMA32,")]
        first, second = dma32[0], dma32[1]
    assert head[:4] == ["zone", "start_pfn", "buddy", "slab"]
    assert first[:3] == ["DMA32", "4096", "512"]
    row = dict(zip(head, second))
    assert (row["lru_anon"], row["slab"], row["other"]) == ("100", "100", "312")


def test_snapshot_errors(tmp_path):
    with pytest.raises(CaptureError, match="has no vmstat"):
        snapshot(tmp_path / "s", proc=tmp_path)
    # the real /proc: pagetypeinfo is root-only
    rc = main(["snapshot", "-o", str(tmp_path / "s2"), "--no-kpageflags"])
    assert rc == (0 if os.geteuid() == 0 else 2)
    if rc == 0:
        assert Snapshot.load(tmp_path / "s2").meminfo["MemTotal"] > 0


def test_pageblock_content_map_pads_missing_pfns(tmp_path):
    p = tmp_path / "kpf"
    p.write_bytes(np.full(700, 1 << KPF["BUDDY"], "<u8").tobytes())
    rows = pageblock_content_map(p, [("Normal", 0, 1024)])
    assert [r[2] for r in rows] == [512, 188]          # pfns past the file: NOPAGE, not free


def _fake_tracefs(tmp_path):
    root = tmp_path / "tracing"
    for ev in ("kmem/mm_page_alloc", "kmem/mm_page_free", "kmem/mm_page_free_batched",
               "kmem/mm_page_alloc_extfrag", "compaction"):
        (root / "events" / ev).mkdir(parents=True)
        (root / "events" / ev / "enable").write_text("0\n")
    (root / "buffer_size_kb").write_text("7 (expanded: 1408)\n")
    (root / "tracing_on").write_text("0\n")
    (root / "trace").write_text("")
    # what trace_pipe hands out: real perf lines rewritten in the tracefs layout
    lines = tracefs_lines(PERF)
    (root / "trace_pipe").write_text("".join(lines))
    return root, len(lines)


def test_record_through_a_fake_tracefs(tmp_path):
    root, n = _fake_tracefs(tmp_path)
    info = record(tmp_path / "rec", 0.3, tracefs=root, proc=_fake_proc(tmp_path), use_perf=False)
    assert info["method"] == "tracefs" and "kmem/mm_page_alloc" in info["events_enabled"]
    tr = read_trace(info["trace"])
    assert tr.format == "tracefs" and tr.lines == n
    assert tr.summary()["allocations"] == 40
    # everything switched off and the buffer size restored
    assert (root / "events" / "kmem" / "mm_page_alloc" / "enable").read_text() == "0"
    assert (root / "tracing_on").read_text() == "0"
    assert (root / "buffer_size_kb").read_text() == "1408"
    assert (tmp_path / "rec" / "snap" / "before.meminfo").exists()
    assert (tmp_path / "rec" / "snap" / "after.meminfo").exists()
    # the shared buffer (7 KiB per CPU, not yet expanded) grew to 65536 KiB
    # after the before snapshot: a replay takes those pages out of the
    # snapshot's free memory
    grown = (65536 - 7) * 1024 // 4096 * (os.cpu_count() or 1)
    assert info["recorder_buffer_pages"] == grown
    plat = read_platform(tmp_path / "rec" / "snap" / "before.platform")
    assert plat["recorder_buffer_pages"] == str(grown)


def test_record_says_what_is_missing(tmp_path, monkeypatch, capsys):
    from defragsim import capture
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(capture, "TRACEFS_CANDIDATES", (str(tmp_path / "nothing"),))
    proc = _fake_proc(tmp_path)
    with pytest.raises(CaptureError, match="is not mounted .*and perf is not installed"):
        record(tmp_path / "r", 1, proc=proc)
    # an explicit --tracefs that does not exist is named, never replaced by perf
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/perf")
    assert main(["record", "-o", str(tmp_path / "r"), "--duration", "1", "--tracefs",
                 str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("defragsim: error: record: --tracefs ") and err.count("\n") == 1
    assert str(tmp_path / "nothing") in err and "no such directory" in err
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaptureError, match="has no trace_pipe"):
        record(tmp_path / "r", 1, tracefs=tmp_path / "empty", proc=proc)
    with pytest.raises(CaptureError, match="must be positive"):
        record(tmp_path / "r", 0, tracefs=tmp_path)
    assert not (tmp_path / "r").exists()


def test_out_must_not_be_a_file_and_tags_stay_inside(tmp_path, capsys):
    proc = _fake_proc(tmp_path, with_kpageflags=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(CaptureError, match="exists and is not a directory"):
        snapshot(tmp_path / "file", proc=proc)
    root, _ = _fake_tracefs(tmp_path)
    with pytest.raises(CaptureError, match="exists and is not a directory"):
        record(tmp_path / "file", 1, tracefs=root, proc=proc)
    assert (tmp_path / "file").read_text() == "x"
    assert (root / "tracing_on").read_text() == "0\n"          # not even touched
    for tag in ("../../x", "a/b", "..", "", ".hidden", "x/../y", "/abs"):
        with pytest.raises(CaptureError, match="--tag"):
            snapshot(tmp_path / "s", tag=tag, proc=proc)
    assert not (tmp_path / "s").exists() and not (tmp_path / "x.meminfo").exists()
    assert main(["snapshot", "-o", str(tmp_path / "s"), "--tag", "../../x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("defragsim: error: snapshot: --tag '../../x'") and err.count("\n") == 1
    assert main(["snapshot", "-o", str(tmp_path / "file")]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


def test_snapshot_records_the_platform(tmp_path):
    proc = _fake_proc(tmp_path, with_kpageflags=False)
    (proc / "sys" / "kernel").mkdir()
    (proc / "sys" / "kernel" / "osrelease").write_text("6.18.44-fc\n")
    (proc / "version").write_text("Linux version 6.18.44-fc (gcc 12) #1 SMP\n")
    sysfs = tmp_path / "sys"
    (sysfs / "devices" / "system" / "cpu").mkdir(parents=True)
    (sysfs / "devices" / "system" / "cpu" / "online").write_text("0-1,4\n")
    params = sysfs / "module" / "page_reporting" / "parameters"
    params.mkdir(parents=True)
    (params / "page_reporting_order").write_text("9\n")
    snapshot(tmp_path / "snap", tag="t0", proc=proc, sysfs=sysfs, kpageflags=False)
    kv = dict(ln.split("=", 1) for ln in (tmp_path / "snap" / "t0.platform").read_text().splitlines())
    assert kv["kernel_release"] == "6.18.44-fc" and kv["kernel_version"].startswith("Linux version")
    assert (kv["cpus_online"], kv["nr_cpus"]) == ("0-1,4", "3")
    assert (tmp_path / "snap" / "t0.platform_params").read_text() == \
        "/sys/module/page_reporting/parameters/page_reporting_order=9\n"
    # without page_reporting: no params file, and the platform file still there
    snapshot(tmp_path / "snap2", proc=proc, sysfs=tmp_path / "nosys", kpageflags=False)
    assert not (tmp_path / "snap2" / "before.platform_params").exists()
    assert "nr_cpus=" in (tmp_path / "snap2" / "before.platform").read_text()


def test_record_restores_what_it_found(tmp_path):
    """Tracing already on, an event already enabled, entries in the buffer:
    all as before afterwards, and the old entries are not in the trace."""
    root, n = _fake_tracefs(tmp_path)
    (root / "tracing_on").write_text("1\n")
    (root / "events" / "kmem" / "mm_page_free" / "enable").write_text("1\n")
    (root / "buffer_size_kb").write_text("2048\n")
    comp = root / "events" / "compaction"
    for ev in ("mm_compaction_begin", "mm_compaction_end"):
        (comp / ev).mkdir()
        (comp / ev / "enable").write_text("1\n" if ev.endswith("end") else "0\n")
    (comp / "enable").write_text("X\n")
    old = "  someone-1 [000] ..... 1.000000: sched_switch: old entry\n"
    (root / "trace").write_text("# tracer: nop\n#\n" + old * 2)
    (root / "trace_pipe").write_text(old * 2 + (root / "trace_pipe").read_text())
    info = record(tmp_path / "rec", 0.3, tracefs=root, proc=_fake_proc(tmp_path), use_perf=False)
    assert (root / "tracing_on").read_text() == "1"
    assert (root / "buffer_size_kb").read_text() == "2048"
    assert (root / "events" / "kmem" / "mm_page_free" / "enable").read_text() == "1"
    assert (root / "events" / "kmem" / "mm_page_alloc" / "enable").read_text() == "0"
    assert (comp / "mm_compaction_begin" / "enable").read_text() == "0"
    assert (comp / "mm_compaction_end" / "enable").read_text() == "1"
    assert (comp / "enable").read_text() == "X\n"                  # per event, not the subsystem
    assert "compaction/mm_compaction_begin" in info["events_enabled"]
    assert (root / "trace").read_text().endswith(old * 2)            # the buffer is not cleared
    assert info["skipped_old_entries"] == 2 and info["interrupted"] is None
    with gzip.open(info["trace"], "rt") as f:
        text = f.read()
    assert "old entry" not in text and text.count("\n") == n
    meta = json.loads((tmp_path / "rec" / "record.json").read_text())
    assert meta["method"] == "tracefs" and meta["interrupted"] is None and meta["trace"] == "trace.txt.gz"
    assert not (tmp_path / "rec" / "INTERRUPTED").exists()


def test_record_in_a_tracefs_instance_leaves_the_top_level_alone(tmp_path, monkeypatch):
    from defragsim import capture
    root, n = _fake_tracefs(tmp_path)
    (root / "instances").mkdir()
    top = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    made = []

    def make_instance(r):               # what mkdir does in a real tracefs
        inst, _ = _fake_tracefs(tmp_path / "inst")
        made.append(inst)
        return inst
    monkeypatch.setattr(capture, "_make_instance", make_instance)
    monkeypatch.setattr(capture, "_remove_instance", lambda p: (shutil.rmtree(p), made.append("rm")))
    info = record(tmp_path / "rec", 0.2, tracefs=root, proc=_fake_proc(tmp_path), use_perf=False)
    assert info["tracefs"] == str(made[0]) and made[-1] == "rm" and not made[0].exists()
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == top
    assert read_trace(info["trace"]).lines == n
    # a new instance's whole buffer came after the before snapshot
    assert info["recorder_buffer_pages"] == 65536 * 1024 // 4096 * (os.cpu_count() or 1)


FAKE_PERF = """#!/bin/sh
# a fake perf: 'record' mounts a fake tracefs (a line in FAKE_PROC/self/mounts)
case "$1" in
record)
    echo "tracefs /sys/kernel/tracing tracefs rw,relatime 0 0" >> "$FAKE_PROC/self/mounts"
    while [ "$1" != "-o" ]; do shift; done
    echo data > "$2"
    exit 0 ;;
script)
    zcat "$FAKE_SAMPLES" ;;
esac
"""
FAKE_UMOUNT = """#!/bin/sh
echo "$@" >> "$FAKE_LOG"
grep -v " $1 " "$FAKE_PROC/self/mounts" > "$FAKE_PROC/m" ; mv "$FAKE_PROC/m" "$FAKE_PROC/self/mounts"
"""


def test_perf_fallback_unmounts_what_perf_mounted(tmp_path, monkeypatch):
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, text in (("perf", FAKE_PERF), ("umount", FAKE_UMOUNT)):
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    proc = _fake_proc(tmp_path, with_kpageflags=False)
    (proc / "self").mkdir()
    (proc / "self" / "mounts").write_text("proc /proc proc rw 0 0\n")
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PROC", str(proc))
    monkeypatch.setenv("FAKE_SAMPLES", str(PERF))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "umount.log"))
    info = record(tmp_path / "rec", 0.2, proc=proc, use_perf=True)
    assert info["method"] == "perf" and read_trace(info["trace"]).format == "perf"
    assert (tmp_path / "umount.log").read_text().split() == ["/sys/kernel/tracing"]
    assert (proc / "self" / "mounts").read_text() == "proc /proc proc rw 0 0\n"
    assert not (tmp_path / "rec" / "perf.data").exists()
    # a tracefs that was mounted before stays mounted
    (proc / "self" / "mounts").write_text("tracefs /sys/kernel/tracing tracefs rw 0 0\n")
    (tmp_path / "umount.log").unlink()
    record(tmp_path / "rec2", 0.2, proc=proc, use_perf=True)
    assert not (tmp_path / "umount.log").exists()


def test_machine_map_beside_the_model(tmp_path):
    import matplotlib.pyplot as plt
    from defragsim import plot
    from defragsim.analysis.replay import replay
    proc = _fake_proc(tmp_path)
    snapshot(tmp_path / "snap", proc=proc)
    trace = Path(__file__).resolve().parents[1] / "data" / "traces" / "samples-1s" / \
        "page_events.csv.xz"
    rp = replay(trace, init_from=tmp_path / "snap", config_overrides={"mem": "1G"})
    real = plot.load_pbmap(tmp_path / "snap" / "before.pbmap.csv.gz")
    assert list(real.columns[:2]) == ["zone", "start_pfn"] and real["free"].iloc[0] == 512
    model = plot.model_content_map(rp.result, 0)
    assert model[plot.CONTENT_CLASSES].to_numpy().sum() == rp.result.config.nr_pages
    axes = plot.plot_machine_vs_model(tmp_path / "snap" / "before.pbmap.csv.gz", rp.result)
    assert axes[0].get_title().startswith("machine:")
    plt.close(axes[0].figure)
    # the shared traces' kpf_map.py layout loads too
    shared = tmp_path / "pbmap_x.csv.gz"
    with gzip.open(shared, "wt") as f:
        f.write("# zone_id: 0=DMA32, 1=Normal\n")
        f.write("zone_id,pb,start_pfn,buddy,reported_head,slab,lru_file,lru_anon,lru_shmem,"
                "anon_nonlru,pgtable,thp,compound_other,unevictable,mlocked,reserved,offline,"
                "nopage,dirty,writeback,other_noflags,other_flagged\n")
        f.write("1,0,1048576,12,0,100,300,50,2,3,1,0,4,0,0,0,0,0,0,0,40,0\n")
    df = plot.load_pbmap(shared)
    assert df.iloc[0][["zone", "free", "slab", "file", "anon", "other"]].tolist() == \
        ["Normal", 12, 100, 300, 55, 44]
    with pytest.raises(ValueError, match="not a pageblock content map"):
        bad = tmp_path / "bad.csv"
        bad.write_text("a,b\n1,2\n")
        plot.load_pbmap(bad)
    out = tmp_path / "rp"
    assert main(["replay", str(trace), "--init-from", str(tmp_path / "snap"), "--mem", "1G",
                 "--out", str(out)]) == 0
    assert (out / "pageblocks_machine_vs_model.png").exists()


def test_initial_block_types_follow_the_kpageflags_map(tmp_path):
    """With a content map in the snapshot, the non-movable blocks go where the
    machine's slab is."""
    from defragsim import Config
    from defragsim.workloads.replay_ops import initial_block_types
    proc = _fake_proc(tmp_path, with_kpageflags=False)
    snapshot(tmp_path / "snap", proc=proc, kpageflags=False)
    s = Snapshot.load(tmp_path / "snap")
    zb = s.zone_blocks()
    zones = zone_ranges((proc / "zoneinfo").read_text())
    normal = [z for z in zones if z[0] == "Normal"][0]
    nblk = normal[2] // 512
    # slab only in the last 20% of the machine's Normal zone
    with gzip.open(tmp_path / "snap" / "before.pbmap.csv.gz", "wt") as f:
        f.write("zone,start_pfn,buddy,slab,lru_file,lru_anon,pgtable,thp,reserved,other\n")
        for i in range(nblk):
            slab = 300 if i >= nblk * 0.8 else 0
            f.write(f"Normal,{normal[1] + i * 512},0,{slab},{512 - slab},0,0,0,0,0\n")
    cfg = Config(mem="2G")
    bt = initial_block_types(s, cfg.zone_spans(), cfg.nr_pages, cfg.pageblock_order)
    zs, ze = cfg.zone_spans()[1]
    nb = bt[zs >> 9:ze >> 9]
    nonmov = np.flatnonzero(nb != 1)
    want = (zb["Normal"]["Unmovable"] + zb["Normal"]["Reclaimable"]) / sum(zb["Normal"].values())
    assert abs(len(nonmov) - want * len(nb)) <= 4
    assert 0 < len(nonmov) <= 0.2 * len(nb)
    assert nonmov.min() >= 0.78 * len(nb)
