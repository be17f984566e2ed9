"""``defragsim record`` ended by a signal leaves nothing behind: a recorder in
a subprocess, on a fake tracefs and a fake /proc (no root, no real tracefs),
gets SIGTERM, SIGINT or SIGHUP once it is tracing.  Every setting it changed
is back, the gzip trace is readable up to the signal, the after snapshot is
there and the folder is marked interrupted; the trace replays."""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_tracefs import tracefs_lines

from defragsim.workloads.trace import read_trace

REPO = Path(__file__).resolve().parents[1]
SNAP = REPO / "data" / "traces" / "samples-1s" / "snap"
PERF = REPO / "data" / "traces" / "samples-perf-script.txt.gz"

RECORDER = """
import json, sys
from defragsim.capture import record
out, tracefs, proc, sysfs = sys.argv[1:5]
info = record(out, 120, tracefs=tracefs, proc=proc, sysfs=sysfs, use_perf=False)
print(json.dumps(info))
"""


def _fake_proc(tmp_path):
    proc = tmp_path / "proc"
    (proc / "sys" / "vm").mkdir(parents=True)
    for n in ("vmstat", "pagetypeinfo", "buddyinfo", "zoneinfo", "meminfo"):
        shutil.copy(SNAP / f"before.{n}", proc / n)
    (proc / "sys" / "vm" / "defrag_mode").write_text("1\n")
    return proc


def _fake_tracefs(tmp_path, fifo: bool):
    root = tmp_path / "tracing"
    events = ("kmem/mm_page_alloc", "kmem/mm_page_free", "kmem/mm_page_free_batched",
              "kmem/mm_page_alloc_extfrag", "compaction/mm_compaction_begin",
              "compaction/mm_compaction_end")
    for ev in events:
        (root / "events" / ev).mkdir(parents=True)
        (root / "events" / ev / "enable").write_text("0\n")
    (root / "events" / "kmem" / "mm_page_free" / "enable").write_text("1\n")   # someone's
    (root / "events" / "compaction" / "enable").write_text("X\n")
    (root / "buffer_size_kb").write_text("7 (expanded: 1408)\n")
    (root / "tracing_on").write_text("1\n")
    (root / "trace").write_text("# tracer: nop\n#\n")
    if fifo:
        os.mkfifo(root / "trace_pipe")
    else:
        (root / "trace_pipe").write_text("".join(tracefs_lines()))
    return root


def _settings(root):
    """Every setting a recorder may change.  buffer_size_kb as its size: an
    unexpanded buffer ("7 (expanded: 1408)") reads "1408" once written."""
    out = {str(p.relative_to(root)): p.read_text().strip() for p in sorted(root.rglob("*"))
           if p.is_file() and p.name in ("enable", "tracing_on", "buffer_size_kb")}
    m = re.search(r"expanded:\s*(\d+)", out["buffer_size_kb"])
    out["buffer_size_kb"] = m.group(1) if m else out["buffer_size_kb"]
    return out


def _default_signals():
    """The recorder starts as from a terminal: a test run started in the
    background of a non-interactive shell ignores SIGINT, the child would
    inherit that, and the recorder keeps an ignored signal ignored (nohup)."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def _start(tmp_path, root):
    proc = _fake_proc(tmp_path)
    out = tmp_path / "rec"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-c", RECORDER, str(out), str(root), str(proc),
                          str(tmp_path / "sys")], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals)
    # it is tracing once it has switched tracing_on 1 -> 0 -> 1 and enabled mm_page_alloc
    alloc = root / "events" / "kmem" / "mm_page_alloc" / "enable"
    t_end = time.monotonic() + 120
    while time.monotonic() < t_end and p.poll() is None:
        if alloc.read_text().strip() == "1" and (root / "tracing_on").read_text().strip() == "1":
            break
        time.sleep(0.05)
    else:
        p.kill()
        pytest.fail(f"the recorder did not start tracing: {p.communicate()}")
    return p, out


def _check(p, out, root, before, signame, nlines):
    try:
        stdout, stderr = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail(f"the recorder did not stop on {signame}: {p.communicate()}")
    assert p.returncode == 0 and "Traceback" not in stderr, stderr
    info = json.loads(stdout.strip().splitlines()[-1])
    assert info["interrupted"] == signame and info["duration_s"] < 60
    # every setting is back
    assert _settings(root) == before
    # the trace is a complete gzip stream of whole lines, up to the signal
    with gzip.open(out / "trace.txt.gz", "rt") as f:
        text = f.read()
    assert text.count("\n") == nlines and text.endswith("\n")
    tr = read_trace(out / "trace.txt.gz")
    assert tr.format == "tracefs" and tr.lines == nlines
    # the after snapshot, and the marks
    assert (out / "snap" / "before.meminfo").exists() and (out / "snap" / "after.meminfo").exists()
    assert (out / "snap" / "after.platform").exists()
    assert (out / "INTERRUPTED").read_text().startswith(signame)
    meta = json.loads((out / "record.json").read_text())
    assert meta["interrupted"] == signame and meta["trace"] == "trace.txt.gz"
    return tr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_ends_the_recording_cleanly(tmp_path, sig):
    root = _fake_tracefs(tmp_path, fifo=False)
    before = _settings(root)
    p, out = _start(tmp_path, root)
    time.sleep(0.3)
    p.send_signal(sig)
    tr = _check(p, out, root, before, sig.name, len(tracefs_lines()))
    assert tr.summary()["allocations"] == 40
    if sig == signal.SIGTERM:
        # an interrupted recording replays like any other (snap/ beside the trace)
        from defragsim.analysis.replay import replay
        rp = replay(out / "trace.txt.gz", config_overrides={"mem": "1G"})
        assert rp.result.events_processed > 0 and rp.snapshot is not None


def test_sigterm_mid_stream_keeps_whole_lines(tmp_path):
    """trace_pipe as a FIFO fed by the test: a line cut by the signal is
    left out, everything before it is in the trace."""
    root = _fake_tracefs(tmp_path, fifo=True)
    before = _settings(root)
    p, out = _start(tmp_path, root)
    lines = tracefs_lines()
    fd = os.open(root / "trace_pipe", os.O_WRONLY)     # the recorder has it open by now
    try:
        os.write(fd, "".join(lines[:30]).encode())
        time.sleep(0.5)
        os.write(fd, ("".join(lines[30:60]) + lines[60][:25]).encode())   # a partial line
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        _check(p, out, root, before, "SIGTERM", 60)
    finally:
        os.close(fd)
        if p.poll() is None:
            p.kill()
