"""Test helper: page-allocator events in the tracefs ``trace_pipe`` layout, made
from the real perf lines shipped in data/traces (for fake tracefs folders)."""
from __future__ import annotations

import gzip
from pathlib import Path

PERF = Path(__file__).resolve().parents[1] / "data" / "traces" / "samples-perf-script.txt.gz"


def tracefs_lines(perf=PERF) -> list[str]:
    """Real perf lines of the page events rewritten in the tracefs layout."""
    lines = []
    for line in gzip.open(perf, "rt"):
        parts = line.split()
        if len(parts) < 6 or "mm_page_" not in parts[4]:
            continue
        comm, pid, cpu, ts = parts[0], parts[1], parts[2], parts[3]
        ev = parts[4].split(":")[1]
        lines.append(f"{comm:>16}-{pid:<7} {cpu} ..... {ts} {ev}: {' '.join(parts[5:])}\n")
    return lines
