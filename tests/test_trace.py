"""Trace parsers and replay: the formats give the same events, bad input gives
one clear error (file, line, text), and a replay maps frees by pfn."""
from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from defragsim import constants as C
from defragsim.cli import main
from defragsim.gfp import gfp_to_string, parse_gfp
from defragsim.analysis.replay import replay
from defragsim.workloads.replay_ops import content_of, trace_workload
from defragsim.workloads.trace import (EV_ALLOC, EV_EXTFRAG, EV_FREE, CSV_HEADER, TraceError, _read_csv,
                             _read_text, other_event_sums, read_trace)

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
SAMPLE = DATA / "samples-1s" / "page_events.csv.xz"

# (t_ns, cpu, pid, ev, pfn, order, mt, gfp, a, b, c)
ROWS = [
    (0, 0, 100, "A", 5000, 0, 0, 0xcc0, "", "", ""),
    (1500, 1, 101, "A", 6144, 2, 1, 0x140cca, "", "", ""),
    (2000, 0, 100, "A", -1, 9, 1, 0x152c4a, "", "", ""),
    (2500, 0, 100, "X", 7168, 0, 0, "", 9, 1, 1),
    (3000, 1, 101, "F", 5000, 0, "", "", "", "", ""),
    (3001, 1, 101, "B", 5000, 0, "", "", "", "", ""),
    (4000, 0, 100, "F", 99999, 0, "", "", "", "", ""),
    (5000, 1, 102, "A", 8000, 3, 2, 0x52cd0, "", "", ""),
]
COMMS = {100: "churn", 101: "reader", 102: "kworker/0:1"}


def _csv_text(rows=ROWS):
    lines = [CSV_HEADER]
    for r in rows:
        r = list(r)
        if r[7] != "":
            r[7] = f"{r[7]:x}"
        lines.append(",".join(str(x) for x in r))
    return "\n".join(lines) + "\n"


def _write(p: Path, text: str):
    if p.suffix == ".xz":
        p.write_bytes(lzma.compress(text.encode()))
    elif p.suffix == ".gz":
        p.write_bytes(gzip.compress(text.encode()))
    else:
        p.write_text(text)
    return p


def _write_comm(d: Path):
    (d / "comm.csv").write_text("pid,comm\n" + "".join(f"{p},{c}\n" for p, c in COMMS.items()))


def _fields(r):
    t, cpu, pid, ev, pfn, order, mt, gfp, a, b, c = r
    if ev == "A":
        page = "(nil)" if pfn < 0 else f"0x{pfn:x}"
        return "mm_page_alloc", (f"page={page} pfn=0x{max(pfn, 0):x} order={order} migratetype={mt} "
                                 f"gfp_flags={gfp_to_string(gfp)}")
    if ev in ("F", "B"):
        return ("mm_page_free" if ev == "F" else "mm_page_free_batched"), \
            f"page=0x{pfn:x} pfn=0x{pfn:x} order={order}"
    return "mm_page_alloc_extfrag", (f"page=0x{pfn:x} pfn=0x{pfn:x} alloc_order={order} "
                                     f"fallback_order={a} alloc_migratetype={mt} "
                                     f"fallback_migratetype={b} fragmenting=0 "
                                     f"change_ownership={c}")


def _text(fmt, rows=ROWS):
    out = ["# tracer: nop", "#"] if fmt == "tracefs" else (["cpus=2"] if fmt == "trace-cmd" else [])
    for r in rows:
        t, cpu, pid = r[0], r[1], r[2]
        ts = f"{100 + t // 1_000_000_000}.{t % 1_000_000_000:09d}"
        ev, fields = _fields(r)
        comm = COMMS[pid]
        if fmt == "perf":
            out.append(f"{comm:>16} {pid} [{cpu:03d}] {ts}: kmem:{ev}: {fields}")
        elif fmt == "tracefs":
            out.append(f"{comm:>16}-{pid:<7} [{cpu:03d}] d..1. {ts}: {ev}: {fields}")
        else:
            out.append(f"{comm:>16}-{pid:<7} [{cpu:03d}] {ts}: {ev}: {fields}")
    return "\n".join(out) + "\n"


def _events(tr):
    return [tuple(int(x) for x in row) for row in zip(
        tr.t_ns, tr.ev, tr.pfn, tr.order, tr.mt, tr.gfp, tr.fallback_order, tr.fallback_mt,
        tr.change_ownership, tr.cpu)]


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.xz"])
def test_csv_schema_all_compressions(tmp_path, suffix):
    p = _write(tmp_path / f"page_events{suffix}", _csv_text())
    tr = read_trace(p)
    assert tr.format == "csv"
    assert list(tr.ev) == [EV_ALLOC, EV_ALLOC, EV_ALLOC, EV_EXTFRAG, EV_FREE, EV_FREE, EV_ALLOC]
    assert list(tr.pfn[:3]) == [5000, 6144, -1]
    assert tr.gfp[1] == 0x140cca and tr.gfp[6] == 0x52cd0
    assert (tr.fallback_order[3], tr.fallback_mt[3], tr.change_ownership[3]) == (9, 1, 1)
    s = tr.summary()
    assert s["free_batched_markers"] == 1 and s["frees"] == 2       # B is a marker only
    assert s["failed_allocations"] == 1 and s["extfrag_pairs"] == {"0->1": 1}
    # the fast (pandas) and the line-by-line readers agree
    slow = _read_csv(p, None, False)
    assert _events(slow) == _events(tr)


@pytest.mark.parametrize("fmt", ["tracefs", "trace-cmd", "perf"])
def test_text_formats_give_the_same_events_as_csv(tmp_path, fmt):
    csv = read_trace(_write(tmp_path / "t.csv", _csv_text()))
    tr = read_trace(_write(tmp_path / f"t.{fmt}.txt.gz", _text(fmt)))
    assert tr.format == ("perf" if fmt == "perf" else "tracefs")
    assert _events(tr) == _events(csv)
    assert tr.counts["mm_page_free_batched"] == 1
    assert tr.comm[101] == "reader"


def test_comm_filter_keeps_frees_of_any_task(tmp_path):
    _write_comm(tmp_path)
    p = _write(tmp_path / "page_events.csv", _csv_text())
    tr = read_trace(p, comm="churn")
    assert (tr.ev == EV_ALLOC).sum() == 2 and tr.filtered_out == 2
    assert (tr.ev == EV_FREE).sum() == 2
    txt = read_trace(_write(tmp_path / "t.txt", _text("perf")), comm="churn")
    assert _events(txt) == _events(tr)
    with pytest.raises(TraceError, match="no mm_page_alloc events for comm 'nobody'"):
        read_trace(p, comm="nobody")


def test_real_samples_parse_and_fast_equals_slow():
    tr = read_trace(SAMPLE)
    slow = _read_csv(SAMPLE, None, False)
    assert _events(tr) == _events(slow)
    assert tr.summary()["allocations"] == 2899 and tr.comm[36] == "kcompactd0"
    perf = read_trace(DATA / "samples-perf-script.txt.gz")
    assert perf.format == "perf" and perf.summary()["allocations"] == 40
    assert perf.counts["mm_compaction_begin"] == 3


@pytest.mark.parametrize("bad,msg", [
    ("1,0,5,A,12,0,0,cc0,,,,", "expected 11 fields, got 12"),
    ("1,0,5,X,12,0,0,,9,1", "bad number"),
    ("1,0,5,A,12,0,0", "bad number"),
    ("1,0,5,Q,12,0,0,cc0,,,", "unknown event code 'Q'"),
    ("x,0,5,A,12,0,0,cc0,,,", "bad number"),
    ("1,0,5,A,12,11,0,cc0,,,", "order 11 outside 0..10"),
    ("1,-1,5,A,12,0,0,cc0,,,", "cpu -1 outside 0..32767"),
])
def test_csv_bad_line_names_file_line_and_text(tmp_path, bad, msg):
    text = _csv_text().rstrip("\n").split("\n")
    text.insert(3, bad)
    p = _write(tmp_path / "bad.csv.xz", "\n".join(text) + "\n")
    with pytest.raises(TraceError) as e:
        read_trace(p)
    s = str(e.value)
    assert s.startswith(f"{p}:4: ") and msg in s and bad[:10] in s
    tr = read_trace(p, skip_bad_lines=True)
    assert tr.bad_lines == 1 and (tr.ev == EV_ALLOC).sum() == 4


def test_csv_trailing_empty_fields_may_be_left_out(tmp_path):
    text = _csv_text().replace("\n3000,1,101,F,5000,0,,,,,\n", "\n3000,1,101,F,5000,0\n")
    assert "F,5000,0\n" in text
    p = _write(tmp_path / "short.csv", text)
    assert _events(read_trace(p)) == _events(_read_csv(p, None, False))
    assert (read_trace(p).ev == EV_FREE).sum() == 2


def test_text_bad_line_and_unknown_gfp(tmp_path):
    lines = _text("tracefs").rstrip("\n").split("\n")
    lines.insert(4, "   churn-100 [000] d..1. 100.000002: mm_page_alloc: page=0x1 pfn=0x1 order=zz")
    lines.append("   churn-100 [000] d..1. 100.000009: mm_page_alloc: page=0x9 pfn=0x9 order=0 "
                 "migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NO_OBJ_EXT|0x8000000")
    p = _write(tmp_path / "t.txt", "\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"t.txt:5: mm_page_alloc: missing or bad field"):
        read_trace(p)
    tr = read_trace(p, skip_bad_lines=True)
    assert tr.bad_lines == 1
    assert tr.gfp[-1] == parse_gfp("GFP_KERNEL")
    assert tr.unknown_gfp == {"__GFP_NO_OBJ_EXT": 1, "0x8000000": 1}


def test_truncated_empty_and_alloc_free_traces(tmp_path):
    data = lzma.compress(_csv_text(ROWS * 200).encode())
    p = tmp_path / "cut.csv.xz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match="truncated compressed file"):
        read_trace(p)
    empty = _write(tmp_path / "empty.txt", "")
    with pytest.raises(TraceError, match="not a trace this reader knows"):
        read_trace(empty)
    frees = _write(tmp_path / "frees.csv", _csv_text([r for r in ROWS if r[3] != "A"]))
    with pytest.raises(TraceError, match="no mm_page_alloc events"):
        read_trace(frees)
    with pytest.raises(TraceError, match="no such file"):
        read_trace(tmp_path / "missing.csv")


_line = hs.one_of(
    hs.text(max_size=80),
    hs.builds(lambda r, i, junk: ",".join(
        (str(x) for x in r[:i])) + junk + ",".join(str(x) for x in r[i:]),
        hs.sampled_from([[str(x) for x in r] for r in ROWS]), hs.integers(0, 10),
        hs.text(alphabet=",xA-9 ", max_size=5)),
    hs.sampled_from(_text("perf").split("\n") + _text("tracefs").split("\n")).flatmap(
        lambda s: hs.integers(0, max(len(s), 1)).map(lambda k: s[:k] + "=" + s[k:])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=hs.lists(_line, min_size=1, max_size=8), fmt=hs.sampled_from(["csv", "perf", "tracefs"]))
def test_parsers_on_random_and_mutated_lines_fail_only_with_trace_error(tmp_path, lines, fmt):
    base = _csv_text() if fmt == "csv" else _text(fmt)
    body = base.rstrip("\n").split("\n")
    body[2:2] = lines
    p = tmp_path / f"fuzz.{fmt}"
    p.write_text("\n".join(body) + "\n")
    for skip in (False, True):
        try:
            tr = read_trace(p, fmt=fmt, skip_bad_lines=skip)
        except TraceError as e:
            assert str(e).startswith(str(p)) and "\n" not in str(e)
            continue
        assert len(tr.t_ns) == len(tr.ev) == len(tr.pfn) == len(tr.gfp)
        assert ((tr.order >= 0) & (tr.order <= 10)).all()


def test_replay_ops_run_on_the_cpu_the_trace_recorded(tmp_path):
    """Each op of a replay runs on the cpu its event was recorded on (the
    per-cpu lists fill and drain there), folded onto the model's cpus; not
    on a cpu picked from the pid."""
    tr = read_trace(_write(tmp_path / "t.csv", _csv_text()))
    assert list(tr.cpu) == [0, 1, 0, 0, 1, 0, 1]
    wl, _ = trace_workload(tr, nr_cpus=2, nr_pages=1 << 15, snapshot=None)
    traced = wl.handle >= 0
    # (op times: the event's + 1 ns) allocations at 0, 1500 (cpu 1) and 5000
    # (cpu 1, pid 102: 102 % 2 would be cpu 0), the free at 3000 (cpu 1)
    by_t = dict(zip(wl.t[traced].tolist(), wl.cpu[traced].tolist()))
    assert by_t[1] == 0 and by_t[1501] == 1 and by_t[3001] == 1 and by_t[5001] == 1
    wl1, _ = trace_workload(tr, nr_cpus=1, nr_pages=1 << 15, snapshot=None)
    assert set(wl1.cpu.tolist()) == {0}


def test_content_from_gfp():
    assert content_of(parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP")) == C.KIND_ANON
    assert content_of(0x152c4a) == C.KIND_FILE                         # readahead
    assert content_of(parse_gfp("GFP_KERNEL|__GFP_RECLAIMABLE")) == C.KIND_SLAB_RECLAIMABLE
    assert content_of(parse_gfp("GFP_HIGHUSER|__GFP_ACCOUNT")) == C.KIND_KERNEL   # pipes
    assert content_of(parse_gfp("GFP_KERNEL_ACCOUNT|__GFP_COMP")) == C.KIND_SLAB_UNRECLAIMABLE
    # a THP (or mTHP) fault: vma_thp_gfp_mask(), no __GFP_ZERO (the folio is zeroed after)
    assert content_of(parse_gfp("GFP_TRANSHUGE")) == C.KIND_ANON
    assert content_of(parse_gfp("GFP_TRANSHUGE_LIGHT|__GFP_KSWAPD_RECLAIM")) == C.KIND_ANON
    assert content_of(parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_COMP")) == C.KIND_FILE  # a file folio


def test_trace_workload_maps_frees_by_pfn(tmp_path):
    tr = read_trace(_write(tmp_path / "t.csv", _csv_text()))
    wl, st = trace_workload(tr, nr_cpus=2, nr_pages=1 << 18, snapshot=None)
    assert st.allocations == 4 and st.failed_in_trace == 1
    assert st.frees_matched == 1 and st.frees_before_trace == 1
    allocs = np.flatnonzero(wl.kind == C.OP_ALLOC)
    frees = np.flatnonzero(wl.kind == C.OP_FREE)
    # the failed request is given back at once; the traced free of pfn 5000
    # frees the handle of the allocation that received pfn 5000
    assert len(frees) == 2
    assert wl.handle[frees[0]] == wl.handle[allocs[2]]
    assert wl.handle[frees[1]] == wl.handle[allocs[0]]
    assert (np.diff(wl.t) >= 0).all()


def test_replay_real_sample_with_snapshot(tmp_path, capsys):
    rp = replay(SAMPLE)
    assert rp.snapshot is not None
    r = rp.result
    # the zones have the machine's present pages; less those reserved at boot,
    # its managed pages (MemTotal, less DMA's 15 MiB: the model has no DMA zone)
    assert r.config.nr_pages == 782336 + 5505024
    managed = r.config.nr_pages - sum(rp.stats.reserved_pages.values())
    assert abs(managed * 4096 - rp.snapshot.meminfo["MemTotal"] * 1024) < 16 << 20
    assert rp.stats.allocations == 2899
    assert rp.stats.prefill_pages["file"] > 0
    assert "baseline_vmstat" in r.meta
    table = rp.observed_vs_model()
    assert table.splitlines()[0].startswith("observed in the kernel vs model")
    assert main(["replay", str(SAMPLE), "--init", "empty", "--mem", "256M", "--comm", "churn",
                 "--out", str(tmp_path / "rp")]) == 0
    out = capsys.readouterr().out
    assert "allocations (requests)" in out
    assert (tmp_path / "rp" / "observed_vs_model.txt").exists()
    assert (tmp_path / "rp" / "pageblocks.png").exists()


def test_other_kernel_memory_is_the_used_memory_meminfo_leaves_unnamed():
    """The prefill's other kernel memory: MemTotal - MemFree less page cache
    (Cached includes shmem), anon, slab, stacks and page tables; never below
    0.  With it a replay starts with the snapshot's MemFree less the
    recorder's ring buffers (b: no free pageblocks added at its start)."""
    from defragsim.workloads.replay_ops import _prefill_amounts, other_kernel_pages
    kb = {"MemTotal": 1000, "MemFree": 100, "Buffers": 10, "Cached": 500, "Shmem": 30,
          "AnonPages": 50, "SReclaimable": 80, "SUnreclaim": 20, "KernelStack": 4,
          "PageTables": 6}
    mi = {k: v * 4 for k, v in kb.items()}
    assert other_kernel_pages(mi) == 1000 - 100 - (10 + 500 + 50 + 80 + 20 + 4 + 6) == 230
    assert _prefill_amounts(mi)[C.KIND_KERNEL][0] == 230
    assert other_kernel_pages({**mi, "MemFree": 4 * 400}) == 0
    rp = replay(DATA / "b_pressure_dm0" / "page_events.csv.xz", duration=0.001)
    assert not rp.stats.start_free_blocks
    assert rp.stats.recorder_pages > 8000
    free = rp.snapshot.meminfo["MemFree"] // 4 - rp.stats.recorder_pages
    got = rp.result.meta["baseline_vmstat"]["nr_free_pages"]     # after the prefill
    # within 2% (7.7k pages; the other kernel memory is 20k+): the prefill
    # ends 4.2k pages above it here
    assert abs(got - free) < 0.02 * free
    assert rp.stats.prefill_pages["kernel"] > 20_000


def test_observed_vs_model_ratio_column_marks_rows_outside_3x(capsys):
    from defragsim.analysis.replay import Replay
    rp = replay(SAMPLE)
    rows = [("a", 10, 20), ("b", 10, 40), ("c", 0, 5), ("d", 0, 0), ("e", "-", 7), ("f", 9, 3)]
    rp.table_rows = lambda: rows
    got = {r["name"]: (r["ratio"], r["outside_3x"]) for r in Replay.comparison(rp)}
    assert got == {"a": (2.0, False), "b": (4.0, True), "c": (float("inf"), True),
                   "d": (None, False), "e": (None, False), "f": (3 / 9, False)}
    lines = {ln.split()[0]: ln for ln in rp.observed_vs_model().splitlines()
             if ln[:1] in "abcdef" and len(ln.split()) >= 4}
    assert lines["b"].split()[1:] == ["10", "40", "4.00", "outside", "3x"]
    assert lines["c"].split()[3:] == ["inf", "outside", "3x"]
    assert lines["e"].split()[1:] == ["-", "7", "-"]
    # --json carries both sides and the ratio
    assert main(["replay", str(SAMPLE), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    first = d["observed_vs_model"][0]
    assert first["name"] == "allocations (requests)" and first["kernel"] == first["model"] == 2899
    assert first["ratio"] == 1.0 and first["outside_3x"] is False
    # the readahead pace given on the command line wins over the trace's
    assert main(["replay", str(SAMPLE), "--json", "--readahead-folio-ns", "250"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["readahead_folio_ns"] == 250


def test_pgalloc_rows_over_the_trace_count_its_own_allocations_per_zone():
    """The vmstat delta rows span the snapshots, a few seconds around the
    trace; the "over the trace" rows count the pages of the trace's own
    successful allocations in each zone of the snapshot's layout."""
    rp = replay(SAMPLE)
    with lzma.open(SAMPLE, "rt") as f:
        rows = [ln.split(",") for ln in f.read().splitlines()[1:]]
    allocs = [(int(r[4]), int(r[5])) for r in rows if r[3] == "A" and int(r[4]) >= 0]
    layout = rp.snapshot.zone_layout()
    table = {r["name"]: r for r in rp.comparison()}
    seen = 0
    for zname, (start, spanned, _) in layout.items():
        want = sum(1 << o for pfn, o in allocs if start <= pfn < start + spanned)
        name = f"pgalloc_{zname.lower()} over the trace (mm_page_alloc)"
        if zname in rp.result.zone_names:
            assert table[name]["kernel"] == want
            assert table[name]["model"] == rp.result.vmstat[f"pgalloc_{zname.lower()}"] \
                - rp.result.meta["baseline_vmstat"][f"pgalloc_{zname.lower()}"]
            seen += want
        else:
            assert name not in table          # the model has no such zone (DMA)
    assert seen == sum(1 << o for _, o in allocs) > 0
    # and the vmstat counters over the trace, from its other events (this
    # second has compaction events but no compaction pass, so its scanners
    # and migrations count 0; no vmscan event: no such rows)
    from defragsim.analysis.replay import traced_row
    assert rp.other_sums == {"compact_migrate_scanned": 0, "compact_free_scanned": 0,
                             "pgmigrate_success": 0}
    assert not any(r["name"].startswith("pgscan_kswapd over") for r in rp.comparison())
    for counter, n in rp.other_sums.items():
        assert table[traced_row(counter)]["kernel"] == n


def test_replay_cli_errors_are_one_line(tmp_path, capsys):
    p = _write(tmp_path / "bad.csv", _csv_text() + "1,2,3\n")
    assert main(["replay", str(p), "--mem", "256M"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"defragsim: error: {p}:10: expected 11 fields") and "\n" not in err
    assert main(["replay", str(p), "--mem", "256M", "--skip-bad-lines"]) == 0
    assert main(["replay", str(p), "--init-from", str(tmp_path), "--mem", "256M"]) == 2
    assert "no before.meminfo" in capsys.readouterr().err


def test_parse_pagetypeinfo_of_the_shipped_snapshot():
    from defragsim.workloads.snapshot import parse_pagetypeinfo
    text = (DATA / "samples-1s" / "snap" / "before.pagetypeinfo").read_text()
    pti = parse_pagetypeinfo(text)
    assert set(pti) >= {"DMA32", "Normal"}
    assert set(pti["Normal"]["blocks"]) >= {"Unmovable", "Movable", "Reclaimable"}
    assert len(pti["Normal"]["free"]["Movable"]) == 11
    with pytest.raises(ValueError, match="x.txt: no 'Number of blocks type' table"):
        parse_pagetypeinfo("Page block order: 9\n", where="x.txt")


def test_initial_block_types_follow_the_machine():
    from defragsim.workloads.replay_ops import initial_block_types
    from defragsim.workloads.snapshot import Snapshot
    from defragsim import Config
    snap = Snapshot.load(DATA / "samples-1s" / "snap")
    cfg = Config(mem="1G")
    bt = initial_block_types(snap, cfg.zone_spans(), cfg.nr_pages, cfg.pageblock_order)
    zb = snap.zone_blocks()
    s, e = cfg.zone_spans()[1]
    normal = bt[s >> 9:e >> 9]
    real = zb["Normal"]
    for name, mt in (("Unmovable", C.MIGRATE_UNMOVABLE), ("Reclaimable", C.MIGRATE_RECLAIMABLE)):
        want = real[name] / sum(real.values()) * len(normal)
        assert abs((normal == mt).sum() - want) <= 2
    # MAX_PAGE_ORDER units (pairs of blocks) are of one type
    assert (bt.reshape(-1, 2)[:, 0] == bt.reshape(-1, 2)[:, 1]).all()
    r = replay(SAMPLE, config_overrides={"mem": "1G"})
    assert "pageblocks at the start, machine -> model" in r.observed_vs_model()


def test_initial_block_types_go_where_the_trace_allocated_their_content():
    """With the trace's allocations per machine pageblock (pretrace_folios'
    ``kinds``), Unmovable units go first to the model units whose machine
    blocks got unmovable content (most first), Reclaimable ones to those
    that got reclaimable slab; never to a unit whose allocations were mostly
    movable while another can take it; the proportions stay the machine's."""
    from defragsim.workloads.replay_ops import initial_block_types, machine_to_model_pfn
    from defragsim.workloads.snapshot import Snapshot
    from defragsim import Config
    snap = Snapshot.load(DATA / "b_pressure_dm0" / "snap")
    cfg = Config(mem="24104M")
    spans = cfg.zone_spans()
    layout = snap.zone_layout()
    s, e = spans[1]
    m0 = layout["Normal"][0]                       # the machine's Normal start pfn
    kinds = np.zeros(((m0 >> 9) + 6000, C.NR_KINDS), np.int64)
    unmov = [(m0 >> 9) + b for b in range(1000, 1160, 4)]           # 40 machine blocks
    cache = [(m0 >> 9) + b for b in range(2000, 4000, 4)]           # 500, some kernel
    recl = [(m0 >> 9) + b for b in range(5000, 5080, 4)]            # 20
    kinds[unmov, C.KIND_KERNEL] = 50
    kinds[cache, C.KIND_FILE] = 500
    kinds[cache, C.KIND_KERNEL] = 5                                 # mostly page cache
    kinds[recl, C.KIND_SLAB_RECLAIMABLE] = 30
    bt = initial_block_types(snap, spans, cfg.nr_pages, cfg.pageblock_order, kinds)
    normal = bt[s >> 9:e >> 9]
    real = snap.zone_blocks()["Normal"]
    for name, mt in (("Unmovable", C.MIGRATE_UNMOVABLE), ("Reclaimable", C.MIGRATE_RECLAIMABLE)):
        want = real[name] / sum(real.values()) * len(normal)
        assert abs((normal == mt).sum() - want) <= 2

    def model_block(machine_blocks):
        p = machine_to_model_pfn(np.array(machine_blocks, np.int64) << 9,
                                 np.full(len(machine_blocks), 9, np.int8), layout, spans)
        return p >> 9

    assert (bt[model_block(unmov)] == C.MIGRATE_UNMOVABLE).all()
    assert (bt[model_block(recl)] == C.MIGRATE_RECLAIMABLE).all()
    # the mostly page-cache blocks are not preferred: as many typed as by chance
    typed = (bt[model_block(cache)] != C.MIGRATE_MOVABLE).mean()
    assert typed < 3 * (real["Unmovable"] + real["Reclaimable"]) / sum(real.values())
    # without the trace's evidence the same proportions, elsewhere
    bt0 = initial_block_types(snap, spans, cfg.nr_pages, cfg.pageblock_order)
    assert (bt0[s >> 9:e >> 9] == C.MIGRATE_UNMOVABLE).sum() == (normal == C.MIGRATE_UNMOVABLE).sum()
    assert not (bt0[model_block(unmov)] == C.MIGRATE_UNMOVABLE).all()


@pytest.mark.parametrize("split", [False, True], ids=["whole-chunks", "split-chunks"])
@pytest.mark.parametrize("fmt", ["csv", "tracefs", "trace-cmd", "perf"])
def test_numba_fast_path_equals_the_python_reader(tmp_path, fmt, split, monkeypatch):
    """The byte parsers are used for well-formed files and give exactly what
    the line-by-line readers give (events, counts, comms, unknown gfp names),
    also when every chunk is parsed as two halves in two threads."""
    import functools
    from defragsim.workloads import trace as T
    from defragsim.workloads.trace import _read_fast, _read_text
    if split:
        monkeypatch.setattr(T, "_halves", functools.partial(T._halves, min_bytes=1))
    rows = [(r[0] + k * 10_000,) + r[1:] for k in range(50) for r in ROWS]    # in time order
    if fmt == "csv":
        p = _write(tmp_path / "t.csv.xz", _csv_text(rows))
        slow = _read_csv(p, None, False)
    else:
        text = _text(fmt, rows).replace("gfp_flags=GFP_KERNEL\n",
                                        "gfp_flags=GFP_KERNEL|__GFP_NO_OBJ_EXT\n")
        p = _write(tmp_path / f"t.{fmt}.gz", text)
        slow = _read_text(p, "perf" if fmt == "perf" else "tracefs", None, False)
    fast = _read_fast(p, "csv" if fmt == "csv" else ("perf" if fmt == "perf" else "tracefs"), None)
    assert fast is not None
    assert _events(fast) == _events(slow)
    assert dict(fast.counts) == dict(slow.counts)
    assert fast.unknown_gfp == slow.unknown_gfp
    if fmt != "csv":
        assert fast.comm == slow.comm
        assert fast.unknown_gfp["__GFP_NO_OBJ_EXT"] == 50
    # a broken line makes the fast path step aside
    broken = _write(tmp_path / f"b.{fmt}", (_csv_text() if fmt == "csv" else _text(fmt))
                    + "garbage line\n")
    assert _read_fast(broken, "csv" if fmt == "csv" else ("perf" if fmt == "perf" else "tracefs"),
                      None) is None


@pytest.mark.parametrize("fmt", ["csv", "tracefs"])
def test_fast_parsers_read_a_last_line_without_newline(fmt):
    """A chunk's unterminated last line gets a row of its own (the parsers
    read it; the columns were once sized by newlines only)."""
    from defragsim.workloads.trace import ParsedTrace, _FastCSV, _FastText
    text = _csv_text().partition("\n")[2] if fmt == "csv" else _text(fmt)
    chunk = text.encode().rstrip(b"\n")
    parser = (_FastCSV if fmt == "csv" else _FastText)(ParsedTrace.empty(Path("x"), fmt))
    whole = parser.raw(text.encode())
    cut = parser.raw(chunk)
    assert cut[0] == whole[0] == text.count("\n")
    arr, n = parser.absorb(chunk, cut)
    assert n == parser.absorb(text.encode(), whole)[1] > 0


def test_halves_are_whole_lines_in_order():
    from defragsim.workloads.trace import _halves
    chunk = b"".join(b"line %d %s\n" % (i, b"x" * (i % 7)) for i in range(5000))
    parts = _halves(chunk)
    assert len(parts) == 2 and b"".join(parts) == chunk
    assert all(p.endswith(b"\n") and p for p in parts)
    assert _halves(b"one line\n", min_bytes=1) == [b"one line\n"]
    assert _halves(b"short\nlines\n") == [b"short\nlines\n"]


def test_fast_path_on_the_shipped_traces():
    from defragsim.workloads.trace import _read_fast, _read_text
    fast = _read_fast(SAMPLE, "csv", None)
    assert fast is not None and _events(fast) == _events(_read_csv(SAMPLE, None, False))
    perf = DATA / "samples-perf-script.txt.gz"
    fast = _read_fast(perf, "perf", None)
    slow = _read_text(perf, "perf", None, False)
    assert fast is not None and _events(fast) == _events(slow) and fast.comm == slow.comm


def test_free_chunks_shaped_after_pagetypeinfo(tmp_path):
    """The machine's free chunks by order come back in the model's starting
    state: each is a piece the placed folios left in their pageblock, or a
    freed placeholder whose buddy stays allocated."""
    import re
    import shutil
    snap = tmp_path / "snap"
    shutil.copytree(DATA / "samples-1s" / "snap", snap)
    text = (snap / "before.pagetypeinfo").read_text()
    lines = []
    for line in text.splitlines():
        m = re.match(r"(Node\s+0, zone\s+(\S+), type\s+(\S+)\s+)(.*)$", line)
        if m:
            want = [0] * 11
            if m.group(2) == "Normal" and m.group(3) == "Movable":
                want = [0, 0, 0, 3000, 3000, 3000, 3000, 0, 0, 0, 0]
            line = m.group(1) + " ".join(f"{n:6d}" for n in want)
        lines.append(line)
    (snap / "before.pagetypeinfo").write_text("\n".join(lines) + "\n")
    mi = (snap / "before.meminfo").read_text()
    # the machine had exactly the table's free memory (4 x 3000 chunks of orders 3-6)
    free_kb = 3000 * (8 + 16 + 32 + 64) * 4
    (snap / "before.meminfo").write_text(re.sub(r"MemFree:\s+\d+ kB", f"MemFree: {free_kb} kB", mi))
    rp = replay(SAMPLE, init_from=snap, config_overrides={"mem": "1G"})
    st = rp.stats
    assert st.hole_pages > 0 and st.hole_pages == st.spacer_pages + st.hole_pages_placed
    nf = rp.result.snapshots[0].nr_free_mt[C.ZONE_NORMAL].sum(axis=1)
    managed = rp.result.config.nr_pages - sum(st.reserved_pages.values())
    scale = managed / (int(re.search(r"MemTotal:\s+(\d+)", mi).group(1)) // 4)
    for o in (3, 4, 5, 6):
        assert abs(nf[o] - 3000 * scale) <= 0.15 * 3000 * scale + 3, (o, nf[o], 3000 * scale)
    assert "free chunks shaped after pagetypeinfo" in rp.observed_vs_model()


def test_other_event_sums_are_the_vmstat_increments_over_the_trace(tmp_path):
    """trace.other_event_sums(): compact_migrate_scanned and _free_scanned
    from the compaction scanners' nr_scanned (the fast free search's too),
    pgmigrate_success from mm_migrate_pages' succeeded, pgscan_kswapd and
    _direct from mm_vmscan_lru_shrink_inactive's nr_scanned split by whether
    the pid is kswapd's (it logs mm_vmscan_kswapd_wake); events past a cut
    are left out.  The file shows no migrate event: pgmigrate_success is
    compaction's own count (no mm_compaction_migratepages here: 0)."""
    from defragsim.workloads.trace import other_event_sums
    (tmp_path / "page_events.csv").write_text(CSV_HEADER + "\n1000,0,7,A,100,0,1,cc0,,,\n")
    other = [
        "1000,0,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",
        "1100,0,45,vmscan:mm_vmscan_lru_shrink_inactive,nid=0 nr_scanned=40 nr_reclaimed=40",
        "1200,1,7,vmscan:mm_vmscan_lru_shrink_inactive,nid=0 nr_scanned=5 nr_reclaimed=5",
        "1300,1,7,compaction:mm_compaction_isolate_migratepages,start_pfn=1 end_pfn=2 nr_scanned=30 nr_taken=3",
        "1400,1,7,compaction:mm_compaction_isolate_freepages,start_pfn=1 end_pfn=2 nr_scanned=8 nr_taken=4",
        "1500,1,7,compaction:mm_compaction_fast_isolate_freepages,start_pfn=1 end_pfn=2 nr_scanned=2 nr_taken=1",
        "1600,1,7,compaction:mm_compaction_isolate_migratepages,start_pfn=1 end_pfn=2 nr_scanned=99 nr_taken=0",
    ]
    (tmp_path / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n" + "\n".join(other) + "\n")
    path = tmp_path / "page_events.csv"
    assert other_event_sums(path) == {"compact_migrate_scanned": 129, "compact_free_scanned": 10,
                                      "pgmigrate_success": 0, "pgscan_kswapd": 40,
                                      "pgscan_direct": 5}
    # cut 550 ns after the first page event (t0 1000): the last event is past it
    assert other_event_sums(path, t0_ns=1000, until_ns=550)["compact_migrate_scanned"] == 30
    assert other_event_sums(tmp_path / "nothing" / "page_events.csv") is None


def test_other_event_sums_count_zero_for_a_recorded_system(tmp_path):
    """A recording that had compaction's tracepoints (any mm_compaction_*
    event: here only kcompactd's wakeups) but no compaction pass in the
    trace sums the compaction scanners to 0: the snapshots' vmstat deltas
    then hold compaction outside the trace.  The migrate system, of which
    the file holds no event, may not have been recorded: pgmigrate_success
    is compaction's own count of what it migrated (mm_compaction_migratepages
    nr_migrated, 0 here)."""
    from defragsim.workloads.trace import other_event_sums
    (tmp_path / "page_events.csv").write_text(CSV_HEADER + "\n1000,0,7,A,100,0,1,cc0,,,\n")
    other = [
        "1000,0,38,compaction:mm_compaction_kcompactd_wake,nid=0 order=9 highest_zoneidx=2",
        "1100,0,45,vmscan:mm_vmscan_kswapd_wake,nid=0 order=9 zid=3",
        "1200,0,45,vmscan:mm_vmscan_lru_shrink_inactive,nid=0 nr_scanned=40 nr_reclaimed=40",
    ]
    (tmp_path / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n" + "\n".join(other) + "\n")
    assert other_event_sums(tmp_path / "page_events.csv") == {
        "compact_migrate_scanned": 0, "compact_free_scanned": 0, "pgmigrate_success": 0,
        "pgscan_kswapd": 40, "pgscan_direct": 0}
    # a pass in the trace: its nr_migrated, up to a cut
    other += ["1300,1,7,compaction:mm_compaction_migratepages,nr_migrated=5 nr_failed=1",
              "1900,1,7,compaction:mm_compaction_migratepages,nr_migrated=7 nr_failed=0"]
    (tmp_path / "other_events.csv").write_text("t_ns,cpu,pid,event,fields\n" + "\n".join(other) + "\n")
    assert other_event_sums(tmp_path / "page_events.csv")["pgmigrate_success"] == 12
    assert other_event_sums(tmp_path / "page_events.csv", t0_ns=1000,
                            until_ns=500)["pgmigrate_success"] == 5


def _other_text_line(fmt, t, cpu, pid, comm, system, ev, fields):
    ts = f"{100 + t // 1_000_000_000}.{t % 1_000_000_000:09d}"
    if fmt == "perf":
        return f"{comm:>16} {pid} [{cpu:03d}] {ts}: {system}:{ev}: {fields}"
    flags = "d..1. " if fmt == "tracefs" else ""
    return f"{comm:>16}-{pid:<7} [{cpu:03d}] {flags}{ts}: {ev}: {fields}"


@pytest.mark.parametrize("fmt", ["tracefs", "trace-cmd", "perf"])
def test_text_traces_sum_their_own_counters(tmp_path, fmt):
    """A text trace's "over the trace" sums (trace.other_event_sums) come from
    its own lines, printed as TP_printk() prints them (``nr_succeeded`` for
    mm_migrate_pages' ``succeeded``, ``range=(.. ~ ..)``), as a CSV trace's
    come from other_events.csv: kswapd is the pids that log kswapd_wake or
    _sleep, every other reclaimer is direct; a --duration cut drops the
    later lines."""
    extra = [  # (t_ns, cpu, pid, comm, system, event, fields)
        (100, 1, 47, "kswapd0", "vmscan", "mm_vmscan_kswapd_wake", "nid=0 order=9"),
        (1200, 1, 47, "kswapd0", "vmscan", "mm_vmscan_lru_shrink_inactive",
         "nid=0 nr_scanned=32 nr_reclaimed=30 nr_dirty=0 priority=12 flags=RECLAIM_WB_FILE"),
        (1800, 0, 100, "churn", "vmscan", "mm_vmscan_lru_shrink_inactive",
         "nid=0 nr_scanned=20 nr_reclaimed=20 nr_dirty=0 priority=12 flags=RECLAIM_WB_FILE"),
        (2200, 0, 100, "churn", "compaction", "mm_compaction_isolate_migratepages",
         "range=(0x1000 ~ 0x1200) nr_scanned=512 nr_taken=7"),
        (2300, 0, 100, "churn", "compaction", "mm_compaction_isolate_freepages",
         "range=(0x9000 ~ 0x9200) nr_scanned=64 nr_taken=7"),
        (2400, 0, 100, "churn", "migrate", "mm_migrate_pages",
         "nr_succeeded=7 nr_failed=0 nr_thp_succeeded=0 nr_thp_failed=0 nr_thp_split=0 "
         "nr_split=0 mode=MIGRATE_ASYNC reason=compaction"),
        (4500, 0, 100, "churn", "vmscan", "mm_vmscan_lru_shrink_inactive",
         "nid=0 nr_scanned=5 nr_reclaimed=5 nr_dirty=0 priority=12 flags=RECLAIM_WB_FILE"),
    ]
    lines = _text(fmt).rstrip("\n").split("\n")
    head = [x for x in lines if not x.startswith("  ")]
    events = [(r[0], _text(fmt, [r]).rstrip("\n").split("\n")[-1]) for r in ROWS]
    events += [(t, _other_text_line(fmt, t, cpu, pid, comm, s, ev, f))
               for t, cpu, pid, comm, s, ev, f in extra]
    events.sort(key=lambda x: x[0])
    p = _write(tmp_path / f"t.{fmt}.txt", "\n".join(head + [x for _, x in events]) + "\n")
    tr = read_trace(p, fmt=fmt)
    want = {"compact_migrate_scanned": 512, "compact_free_scanned": 64, "pgmigrate_success": 7,
            "pgscan_kswapd": 32, "pgscan_direct": 25}
    assert other_event_sums(p, t0_ns=tr.t0_ns) == want
    # the cut: 4,000 ns after the first page event drops the direct scan at 4,500
    assert other_event_sums(p, t0_ns=tr.t0_ns, until_ns=4000)["pgscan_direct"] == 20
    # a text trace without these events has no sums (the rows then fall back to vmstat)
    assert other_event_sums(_write(tmp_path / f"p.{fmt}.txt", _text(fmt))) is None


def test_the_cli_replays_at_the_recorded_defrag_mode(tmp_path, capsys):
    """`defragsim replay` runs the model at the snapshot's vm.defrag_mode (a
    dm1 recording replayed without --defrag-mode ran at 0 before stop 42) and
    says so; --defrag-mode overrides it."""
    import shutil
    d = tmp_path / "t"
    shutil.copytree(SAMPLE.parent, d)
    sysctl = d / "snap" / "before.sysctl"
    sysctl.write_text(sysctl.read_text().replace("vm.defrag_mode=0", "vm.defrag_mode=1"))
    trace = d / SAMPLE.name
    assert main(["replay", str(trace), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["defrag_mode"] == 1
    assert main(["replay", str(trace), "--defrag-mode", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["defrag_mode"] == 0
    assert main(["replay", str(trace)]) == 0
    assert "vm.defrag_mode 1: the recorded one" in capsys.readouterr().out
    assert main(["replay", str(trace), "--defrag-mode", "2"]) == 2
