"""A trace replayed while it is parsed (``replay_ops.TraceStream``) gives
exactly what replaying it parsed whole gives, for every parse-chunk size,
with handles reused so that memory does not grow with the trace."""
from __future__ import annotations

import gzip
import lzma
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from defragsim import Config, run
from defragsim.analysis.replay import replay
from defragsim.errors import TraceError
from defragsim.gfp import parse_gfp
from defragsim.workloads.replay_ops import TraceStream, trace_workload
from defragsim.workloads.snapshot import Snapshot
from defragsim.workloads.trace import read_trace, trace_extent

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
SAMPLE = DATA / "samples-1s" / "page_events.csv.xz"
PERF = DATA / "samples-perf-script.txt.gz"


def _same_result(a, b) -> None:
    """Two Results are the same run: counters, diagnostics, time series, events."""
    assert a.vmstat == b.vmstat
    assert a.diagnostics == b.diagnostics
    assert a.duration_s == b.duration_s
    assert a.timeseries.equals(b.timeseries)
    assert a.extfrag.equals(b.extfrag)
    assert a.compaction_events.equals(b.compaction_events)
    for sa, sb in zip(a.snapshots, b.snapshots):
        assert np.array_equal(sa.migratetype, sb.migratetype)


@pytest.fixture(scope="module")
def whole_and_streamed():
    return replay(SAMPLE, stream=False), replay(SAMPLE, stream=True)


def test_streamed_replay_equals_the_whole_file_replay(whole_and_streamed):
    whole, streamed = whole_and_streamed
    assert streamed.trace.streamed is not None and whole.trace.streamed is None
    _same_result(whole.result, streamed.result)
    assert streamed.stats.as_dict() == whole.stats.as_dict()
    assert streamed.comparison() == whole.comparison()
    assert streamed.trace.summary() == whole.trace.summary()
    assert streamed.observed_vs_model() == whole.observed_vs_model()


@pytest.mark.parametrize("chunk_bytes", [1 << 12, 1 << 15])
def test_every_parse_chunk_size_gives_the_same_ops_and_results(whole_and_streamed, chunk_bytes):
    whole, _ = whole_and_streamed
    cfg = whole.result.config
    snap = Snapshot.load(SAMPLE.parent / "snap")
    tr = read_trace(SAMPLE, max_pfn=snap.pfn_limit())
    wl, st = trace_workload(tr, nr_cpus=cfg.cpus, nr_pages=cfg.nr_pages, snapshot=snap,
                            zone_spans=cfg.zone_spans(), pageblock_order=cfg.pageblock_order)
    ts = TraceStream(SAMPLE, "csv", nr_cpus=cfg.cpus, nr_pages=cfg.nr_pages, snapshot=snap,
                     extent=trace_extent(SAMPLE, "csv"), zone_spans=cfg.zone_spans(),
                     pageblock_order=cfg.pageblock_order, chunk_bytes=chunk_bytes)
    assert sum(1 for _ in ts.chunks()) > 5                     # several chunks
    m = ts.materialize()
    for col in ("t", "kind", "order", "gfp", "handle", "cpu", "content", "op_owner"):
        assert np.array_equal(getattr(m, col), getattr(wl, col)), col
    assert m.nr_handles == wl.nr_handles and m.duration_ns == wl.duration_ns
    assert list(m.owner_kind) == list(wl.owner_kind) and m.owner_names == wl.owner_names
    _same_result(run(ts, cfg, baseline_ops=ts.prefill_ops), whole.result)


def test_freed_handles_are_reused(tmp_path):
    """Handles are bounded by what is live (at most 4 allocations here), not
    by the trace's 2,000 allocations; every op names its owner."""
    anon = parse_gfp("GFP_HIGHUSER_MOVABLE|__GFP_ZERO")
    rows = ["t_ns,cpu,pid,ev,pfn,order,mt,gfp,a,b,c"]
    for i in range(2000):
        rows.append(f"{1000 + 10 * i},0,{100 + i % 3},A,{4096 + 16 * (i % 8)},0,1,{anon:#x},,,")
        if i >= 3:
            rows.append(f"{1005 + 10 * i},0,7,F,{4096 + 16 * ((i - 3) % 8)},0,,,,,")
    p = tmp_path / "t.csv"
    p.write_text("\n".join(rows) + "\n")
    tr = read_trace(p)
    wl, st = trace_workload(tr, nr_cpus=2, nr_pages=1 << 16, snapshot=None)
    assert st.allocations == 2000 and st.frees_matched == 1997
    assert wl.nr_handles <= 5
    alloc = wl.kind == 0
    assert len(set(wl.op_owner[alloc].tolist())) == 3          # a task owner per pid


def test_text_trace_without_snapshot_streams_too():
    """A text trace (gzip), no snapshot: the model's size from a first pass
    over the trace's pfns; the same as the whole-file replay."""
    whole, streamed = replay(PERF, init="empty", stream=False), replay(PERF, init="empty",
                                                                          stream=True)
    assert streamed.trace.streamed is not None
    assert streamed.result.config == whole.result.config
    _same_result(whole.result, streamed.result)
    assert streamed.trace.summary() == whole.trace.summary()
    assert streamed.trace.comm == whole.trace.comm


def _xz_blocks(text: bytes, path: Path) -> Path:
    """``text`` as a several-block xz file (as ``xz -T2`` writes)."""
    p = subprocess.run(["xz", "-T2", "--block-size=65536", "-c"], input=text,
                       capture_output=True, check=True)
    path.write_bytes(p.stdout)
    return path


@pytest.mark.parametrize("suffix", ["", ".gz", ".xz", ".xz-blocks"])
def test_trace_extent_reads_the_first_and_last_events(tmp_path, suffix):
    raw = lzma.decompress(SAMPLE.read_bytes())
    if suffix == ".xz-blocks":
        if shutil.which("xz") is None:
            pytest.skip("no xz tool")
        p = _xz_blocks(raw, tmp_path / "t.csv.xz")
    else:
        p = tmp_path / f"t.csv{suffix}"
        opener = {"": open, ".gz": gzip.open, ".xz": lzma.open}[suffix]
        with opener(p, "wb") as f:
            f.write(raw)
    tr = read_trace(p)
    assert trace_extent(p, "csv") == (tr.t0_ns, tr.t0_ns + int(tr.t_ns[-1]))


def test_a_bad_line_mid_trace_is_named_as_in_the_whole_file_replay(tmp_path):
    """A line the fast parsers do not take, after many good chunks: the
    streamed replay steps aside and the line reader names the line; with
    skip_bad_lines the result is the whole-file replay's."""
    lines = lzma.decompress(SAMPLE.read_bytes()).decode().splitlines(keepends=True)
    bad = len(lines) * 2 // 3
    lines.insert(bad, "garbage,line\n")
    d = tmp_path / "t"
    shutil.copytree(SAMPLE.parent, d)
    p = d / "page_events.csv.xz"
    p.write_bytes(lzma.compress("".join(lines).encode()))
    with pytest.raises(TraceError, match=rf":{bad + 1}: expected 11 fields"):
        replay(p, stream=True)
    skipped = replay(p, skip_bad_lines=True, stream=True)
    assert skipped.trace.bad_lines == 1 and skipped.trace.streamed is None


def test_a_cut_trace_is_read_whole():
    rp = replay(SAMPLE, duration=0.5)
    assert rp.trace.streamed is None and rp.trace.cut_ns is not None
    assert rp.result.duration_s == 0.5


def test_a_trace_with_no_allocations_is_refused(tmp_path):
    lines = lzma.decompress(SAMPLE.read_bytes()).decode().splitlines(keepends=True)
    p = tmp_path / "frees.csv"
    p.write_text(lines[0] + "".join(x for x in lines[1:] if x.split(",")[3] != "A"))
    with pytest.raises(TraceError, match="no mm_page_alloc events"):
        replay(p, init="empty", config=Config(mem="256M"))


def test_by_default_a_long_trace_streams_and_a_short_one_is_read_whole(monkeypatch):
    from defragsim.analysis import replay as R
    from defragsim.workloads.trace import trace_text_bytes
    assert trace_text_bytes(SAMPLE) == len(lzma.decompress(SAMPLE.read_bytes()))
    assert trace_text_bytes(PERF) == len(gzip.decompress(PERF.read_bytes()))
    assert replay(SAMPLE).trace.streamed is None
    monkeypatch.setattr(R, "STREAM_MIN_BYTES", 1000)
    assert replay(SAMPLE).trace.streamed is not None
