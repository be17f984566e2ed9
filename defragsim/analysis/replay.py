"""Replaying a real trace through the model (``defragsim replay``), and the
table of what the kernel recorded beside what the model did.

The trace becomes a Workload in :mod:`defragsim.workloads.replay_ops`; this
module runs it and compares.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .. import constants as C
from ..config import CPU_PACE_RANGE, Config, format_size, parse_size
from ..kernels import DEFAULT_KERNEL, baseline_for_release
from ..errors import ConfigError, TraceError
from ..sim import run
from ..sim.metrics import compact_scan_page_ns, reclaim_batch_cost_ns
from ..workloads.estimate import BYTES_PER_OP, BYTES_PER_PAGE, MAX_DURATION_S, check_fits
from ..workloads.replay_ops import (ReadaheadPace, ReplayStats, TraceStream, reserved_targets,
                                    streamed_pretrace_folios, trace_workload)
from ..workloads.snapshot import Snapshot, find_snapshot
from ..workloads.trace import (CHUNK_BYTES, FAST_FORMATS, PACE_MIN_BLOCKS, TRACED_COUNTERS,
                               ParsedTrace, IrregularLine, TraceLimits, detect_format,
                               direct_reclaim_windows, kcompactd_proactive_passes,
                               kswapd_events, kswapd_reclaim_batches, kswapd_rounds_of,
                               kswapd_sleeps_of, kswapd_wake_latencies, other_event_counts,
                               other_event_sums, read_trace, sleep_lengths,
                               trace_extent, trace_text_bytes, work_pace)

#: a trace of more text than this is replayed while it is parsed (by default)
STREAM_MIN_BYTES = 256 << 20


def traced_row(counter: str) -> str:
    """The replay table's row of a vmstat counter over the trace itself
    (trace.TRACED_COUNTERS: the kernel's increments from its other events)."""
    return f"{counter} over the trace"


#: the replay table's row of free page reporting (the module's reported_kib delta)
PAGE_REPORTING_ROW = "page reporting, KiB reported"
#: kswapd's rounds (a wakeup out of its sleep to its next sleep) that reclaimed
#: no LRU page: balance_pgdat() found the node balanced when kswapd ran
KSWAPD_IDLE_ROW = "kswapd rounds that reclaimed nothing"
#: kcompactd's proactive passes (compact_node(pgdat, true), order -1): each
#: scans every movable block of every zone, so one moves the compaction rows
#: by millions of pages
PROACTIVE_ROW = "kcompactd proactive passes (compact_node)"


COMPARED_VMSTAT = ["pgalloc_dma32", "pgalloc_normal", "pgfree", "allocstall_normal",
                   "allocstall_movable", "pgscan_kswapd", "pgscan_direct", "pgsteal_kswapd",
                   "pgsteal_direct", "pageoutrun", "compact_stall", "compact_fail",
                   "compact_success", "compact_migrate_scanned", "compact_free_scanned",
                   "compact_daemon_wake", "pgmigrate_success", "thp_fault_alloc",
                   "thp_fault_fallback", "pswpout", "oom_kill"]
COMPACTION_TRACEPOINTS = ("mm_compaction_begin", "mm_compaction_try_to_compact_pages",
                          "mm_compaction_deferred", "mm_compaction_kcompactd_wake",
                          "mm_compaction_wakeup_kcompactd")


@dataclass
class Replay:
    trace: ParsedTrace
    stats: ReplayStats
    result: object
    snapshot: Snapshot | None
    other_events: Counter | None
    #: which kernel baseline the model ran as, and why
    kernel_choice: str = ""
    #: what the replay adapted (to the model's size, to --duration), for the notes
    adjustments: list = field(default_factory=list)
    #: the kernel's vmstat increments over the trace itself, from its other
    #: events (trace.other_event_sums; None without other_events.csv)
    other_sums: dict | None = None
    #: work_pace()'s answer once computed (the notes and --json both ask)
    _work_pace: tuple = field(default=(), repr=False, compare=False)

    def observed_vs_model(self) -> str:
        """A plain-text table: what the kernel recorded beside what the model did,
        then notes on the replay and on the state it started from."""
        rows = self.comparison()
        tr = self.trace
        w0 = max(len(x["name"]) for x in rows) + 2
        out = [f"observed in the kernel vs model: {tr.path} ({tr.format}, {tr.duration_s:.1f} s, "
               f"{len(tr):,} page events)", "",
               f"{'':<{w0}}{'kernel':>14}{'model':>14}{'model/kernel':>14}"]
        for row in rows:
            k, ratio = row["kernel"], row["ratio"]
            ks = "-" if k is None else f"{k:,}"
            rs = "-" if ratio is None else ("inf" if ratio == float("inf") else f"{ratio:.2f}")
            out.append(f"{row['name']:<{w0}}{ks:>14}{row['model']:>14,}{rs:>14}"
                       + ("  outside 3x" if row["outside_3x"] else ""))
        out += [""] + self.notes()
        return "\n".join(out) + "\n"

    def comparison(self) -> list[dict]:
        """:meth:`table_rows` as dicts: ``name``, ``kernel`` (None when the
        trace did not record it), ``model``, ``ratio`` (model / kernel; inf
        when only the model counted any, None when neither did or the kernel
        side is missing) and ``outside_3x`` (the two differ by more than a
        factor of 3)."""
        out = []
        for name, k, m in self.table_rows():
            k = None if isinstance(k, str) else int(k)
            m = int(m)
            if k is None or (k == 0 and m == 0):
                ratio = None
            else:
                ratio = m / k if k else float("inf")
            outside = ratio is not None and not (1 / 3 <= ratio <= 3)
            out.append({"name": name, "kernel": k, "model": m, "ratio": ratio,
                        "outside_3x": outside})
        return out

    def _kswapd_rows(self, ce, r) -> list[tuple]:
        """(name, kernel, model) rows of kswapd's rounds, from one read of the
        trace's kswapd events (trace.kswapd_events): its sleeps of at least
        kcompactd's proactive period, from mm_vmscan_kswapd_sleep to the next
        mm_vmscan_kswapd_wake (the model's from its own two tracepoints), the
        only windows where a proactive pass can begin; and its rounds that
        reclaimed nothing (the model's kswapd_idle_rounds diagnostic)."""
        period = C.HPAGE_FRAG_CHECK_INTERVAL_NS
        ev = kswapd_events(self.trace.path, t0_ns=self.trace.t0_ns, until_ns=self.trace.cut_ns)
        if ev is None:
            long_sleeps = idle = "-"
        else:
            long_sleeps = int((kswapd_sleeps_of(ev) >= period).sum())
            idle = kswapd_rounds_of(ev)[1]
        ks = ce[ce.event.isin(["mm_vmscan_kswapd_sleep", "mm_vmscan_kswapd_wake"])] \
            if len(ce) else ce
        model = sleep_lengths(zip(np.round(ks.t.to_numpy() * 1e9).astype(np.int64),
                                  (ks.event == "mm_vmscan_kswapd_sleep").to_numpy()))
        passes = kcompactd_proactive_passes(self.trace.path, t0_ns=self.trace.t0_ns,
                                            until_ns=self.trace.cut_ns)
        # the model's compact_node(pgdat, true): one order -1 begin per zone, at one time
        pro = ce[(ce.event == "mm_compaction_begin") & (ce.order == -1) & ~ce.direct
                 & (ce.t > 0)] if len(ce) else ce
        return [(f"kswapd sleeps of {period / 1e6:.0f} ms or more", long_sleeps,
                 int((model >= period).sum())),
                (KSWAPD_IDLE_ROW, idle, r.diagnostics["kswapd_idle_rounds"]),
                (PROACTIVE_ROW, "-" if passes is None else passes,
                 int(pro.t.nunique()) if len(pro) else 0)]

    def table_rows(self) -> list[tuple]:
        """(name, kernel, model) rows: allocations, extfrag events, compaction
        and reclaim tracepoints, and /proc/vmstat deltas when the snapshot has
        them.  The model counts from the first traced event on (not the
        prefill); the kernel column is "-" for tracepoints the trace did not
        record."""
        r, s = self.result, self.trace.summary()
        # events other than page events: from other_events.csv beside a CSV
        # trace, or from the text trace itself; "-" when the trace has none
        recorded = self.other_events is not None or bool(s["other_events"])
        ev = Counter(self.other_events or {})
        ev.update(s["other_events"])
        mex = _model_extfrag(r)
        ce = r.compaction_events
        cev = ce[ce.t > 0].event.value_counts() if len(ce) else {}
        base = r.meta.get("baseline_vmstat") or {}
        vm = {k: v - base.get(k, 0) for k, v in r.vmstat.items()}
        rows = [
            ("allocations (requests)", s["allocations"], self.stats.allocations),
            ("failed allocations", s["failed_allocations"], r.diagnostics["alloc_failed_total"]),
            ("extfrag events", s["extfrag_events"], mex["events"]),
            ("extfrag change_ownership", s["extfrag_change_ownership"], mex["change_ownership"]),
            ("extfrag fallback_order < pageblock", s["extfrag_fragmenting"], mex["fragmenting"]),
        ]
        pairs = sorted(set(s["extfrag_pairs"]) | {
            f"{C.MIGRATETYPE_KEYS.index(a.split('->')[0])}->{C.MIGRATETYPE_KEYS.index(a.split('->')[1])}"
            for a in mex["pairs"]})
        for pr in pairs:
            a, b = (int(x) for x in pr.split("->"))
            name = f"{C.MIGRATETYPE_KEYS[a]}->{C.MIGRATETYPE_KEYS[b]}"
            rows.append((f"extfrag {name}", s["extfrag_pairs"].get(pr, 0), mex["pairs"].get(name, 0)))
        for tp in COMPACTION_TRACEPOINTS:
            rows.append((tp, ev.get(tp, 0) if recorded else "-", int(cev.get(tp, 0))))
        rows.append(("mm_vmscan_direct_reclaim_begin", ev.get("mm_vmscan_direct_reclaim_begin", 0)
                     if recorded else "-", vm.get("allocstall_normal", 0)
                     + vm.get("allocstall_movable", 0) + vm.get("allocstall_dma32", 0)))
        rows.append(("mm_vmscan_kswapd_wake", ev.get("mm_vmscan_kswapd_wake", 0) if recorded else "-",
                     vm.get("pageoutrun", 0)))
        rows += self._kswapd_rows(ce, r)
        if self.snapshot is not None:
            _, kib = self.snapshot.page_reporting()
            if kib is not None:
                rows.append((PAGE_REPORTING_ROW,
                             "-" if self.trace.cut_ns is not None else kib,
                             r.diagnostics.get("page_reporting_pages", 0) * C.PAGE_SIZE // 1024))
        rows += self._traced_pgalloc_rows(vm)
        rows += [(traced_row(k), v, vm.get(k, 0)) for k, v in (self.other_sums or {}).items()]
        if self.snapshot is not None and self.snapshot.vmstat_after:
            b, a = self.snapshot.vmstat_before, self.snapshot.vmstat_after
            for k in COMPARED_VMSTAT:
                if k in a and k in b and k in vm:
                    # the deltas are of the whole recording: none for a cut trace
                    cut = self.trace.cut_ns is not None
                    rows.append((f"vmstat {k} (delta)", "-" if cut else a[k] - b[k], vm[k]))
        return rows

    def _traced_pgalloc_rows(self, vm: dict) -> list[tuple]:
        """``pgalloc_<zone>`` over the trace itself: the pages its successful
        mm_page_alloc events took in each zone of the snapshot's layout,
        beside the model's count.  The vmstat delta rows span the snapshots,
        which bracket the trace by a few seconds of untraced allocation."""
        layout = self.snapshot.zone_layout() if self.snapshot is not None else None
        rows = []
        for zname, (start, spanned, _present) in (layout or {}).items():
            k = f"pgalloc_{zname.lower()}"
            if k in vm:
                rows.append((f"{k} over the trace (mm_page_alloc)",
                             self.trace.allocated_pages(start, start + spanned), vm[k]))
        return rows

    def work_pace(self) -> dict | None:
        """The traced machine's pace at reclaim and compaction beside what
        the model charges for the same work (``--json``'s ``work_pace``, and
        two note lines): ``reclaim_batch_us`` per batch size (the machine's
        median, its batch count, the model's cost), ``compact_pass_ms`` (the
        machine's async direct passes that isolated nothing: median, count;
        the model charges nothing a pass) and ``compact_block_us`` (a
        pageblock those passes' migrate scanner scanned: the machine's median
        in passes of :data:`PACE_MIN_BLOCKS` blocks or more, their count and
        pages scanned a block, the model's cost for those pages).  None
        without the trace's other events (:func:`work_pace`)."""
        if not self._work_pace:
            self._work_pace = (self._compute_work_pace(),)
        return self._work_pace[0]

    def _compute_work_pace(self) -> dict | None:
        pace = work_pace(self.trace.path)
        if pace is None:
            return None
        milli = self.result.config.to_params().cpu_pace_milli
        block = None
        if pace.compact_block_us is not None:
            block = {"machine": pace.compact_block_us, "passes": pace.compact_long_passes,
                     "pages": pace.compact_block_pages,
                     "model": pace.compact_block_pages * compact_scan_page_ns(milli) / 1000}
        return {
            "cpu_pace": milli / 1000,
            "reclaim_batch_us": {
                n: {"machine": us, "batches": pace.reclaim_batches[n],
                    "model": reclaim_batch_cost_ns(n, milli) / 1000}
                for n, us in pace.reclaim_batch_us.items() if us is not None},
            "compact_pass_ms": None if pace.compact_pass_us is None else
            {"machine": pace.compact_pass_us / 1000, "passes": pace.compact_passes, "model": 0.0},
            "compact_block_us": block,
            "compact_scan_page_ns": compact_scan_page_ns(milli)}

    def notes(self) -> list[str]:
        """The lines below the table: how the frees matched, the initial state,
        the machine's and the model's pageblocks and free chunks at the start,
        and what the trace had that the replay ignored."""
        r, tr, st = self.result, self.trace, self.stats
        out = [f"model as {self.kernel_choice}"] if self.kernel_choice else []
        out += self.adjustments
        if tr.cut_ns is not None:
            out.append(f"the trace is cut at {tr.cut_ns / 1e9:g} s (--duration): the kernel column "
                       "counts its events up to there; /proc/vmstat deltas cover the whole "
                       "recording, so they show as \"-\"")
        out += _window_note(self.snapshot, tr, self.other_sums)
        if st.pretrace_folios:
            out.append(f"folios the trace frees before allocating them: {st.pretrace_folios:,}; "
                       f"placed at the machine's pfns in the prefill {st.pretrace_placed:,} "
                       f"({st.pretrace_placed_pages:,} pages), their frees replayed (but see below); "
                       f"the pieces between them in their pageblocks held as their neighbours' "
                       f"content, not freed: {st.gap_pages:,} pages")
        out += _untraced_note(st, self.snapshot)
        out += [f"frees matched {st.frees_matched:,}; frees of pages allocated before the trace "
               f"and not placed {st.frees_before_trace:,} (not replayed); frees with another "
               f"order than the allocation {st.frees_order_mismatch:,}; re-allocations of a "
               f"live pfn (free not "
               f"traced) {st.implicit_frees:,}; allocations that failed in the kernel "
               f"{st.failed_in_trace:,}"]
        out += _readahead_note(r.diagnostics or {}, st)
        out += _pace_note(self.work_pace())
        if st.frees_by_reclaim:
            out.append(f"frees by kswapd and kcompactd, not replayed (the model's own kswapd and "
                       f"kcompactd reclaim and compact): {st.frees_by_reclaim:,}")
        if st.frees_in_direct_reclaim:
            out.append(f"frees by tasks inside their direct reclaim (between "
                       f"mm_vmscan_direct_reclaim_begin and _end), not replayed (the model's own "
                       f"direct reclaim): {st.frees_in_direct_reclaim:,}")
        if st.prefill_pages:
            out.append("initial state (from the snapshot's before.meminfo, pages): "
                       + ", ".join(f"{k} {v:,}" for k, v in st.prefill_pages.items())
                       + f"; free chunks shaped after pagetypeinfo: {st.hole_pages:,} pages, "
                       f"{st.hole_pages_placed:,} of them placed: pieces the placed folios "
                       f"left in their pageblocks, or buddy chains in free pageblocks of their "
                       f"type ({st.chain_pages:,} pages held between them); the others beside "
                       f"a buddy kept as page cache/slab ({st.spacer_pages:,} pages)")
        if st.recorder_source:
            out.append(f"the recorder's ring buffers: {st.recorder_machine_pages:,} machine pages "
                       f"({st.recorder_source}), taken after the before snapshot and held "
                       f"through the trace; the prefill takes {st.recorder_pages:,} model pages "
                       f"of unmovable order-0 allocations out of the snapshot's free chunks "
                       f"(--recorder-pages N to change), so the start below is the snapshot "
                       f"less them")
        if self.snapshot is not None:
            out += _start_pageblocks(r, self.snapshot.zone_blocks())
            out += _start_free_chunks(r, self.snapshot.buddyinfo)
            out += _free_pages_by_type(r, self.snapshot)
        out += _start_state_notes(st)
        if tr.unknown_gfp:
            out.append("unknown gfp flags (ignored): "
                       + ", ".join(f"{k} x{v}" for k, v in tr.unknown_gfp.most_common()))
        if tr.bad_lines:
            out.append(f"bad lines skipped: {tr.bad_lines:,}")
        return out


def _pace_note(pace: dict | None) -> list[str]:
    """The two note lines of :meth:`Replay.work_pace`, so a reader sees when
    the recording machine was slower or faster than the one the model's costs
    (:mod:`defragsim.mm.costs`) were measured on."""
    if pace is None:
        return []
    parts = []
    for n, b in pace["reclaim_batch_us"].items():
        what = f"{n} order-0 folios" if n <= 32 else f"one order-{n.bit_length() - 1} folio"
        parts.append(f"a {n}-page batch in {b['machine']:,.1f} µs (median of {b['batches']:,}; "
                     f"the model: {b['model']:,.1f} µs for {what})")
    out = []
    if parts:
        out.append("the traced machine's pace (its other events): kswapd reclaimed "
                   + " and ".join(parts) + ", isolation to the end of shrink_inactive_list(); "
                   f"the model's costs at cpu_pace {pace['cpu_pace']:g}")
    p, b = pace["compact_pass_ms"], pace["compact_block_us"]
    if p is not None:
        line = (f"the traced machine's async direct compaction passes that isolated nothing: "
                f"{p['machine']:,.2f} ms a pass (median of {p['passes']:,})")
        if b is not None:
            line += (f", {b['machine']:,.1f} µs a pageblock the migrate scanner scanned in the "
                     f"{b['passes']:,} passes of {PACE_MIN_BLOCKS} blocks or more (median; "
                     f"{b['pages']:,.0f} pages scanned a block); the model charges "
                     f"{pace['compact_scan_page_ns']} ns a scanned page, {b['model']:,.2f} µs for "
                     f"such a block, and nothing a pass")
        out.append(line)
    return out


def _start_state_notes(st) -> list[str]:
    """The replay's start as the trace's other events show it: compaction's
    skip bits and deferral, kcompactd's first wait, the free pageblocks the
    trace proves, the memcgs."""
    out = []
    for zname, (marked, crossed, scanned, told) in st.initial_skip.items():
        out.append(f"compaction's skip bits at the start: {zname}'s {marked:,} pageblocks "
                   f"that the trace's compaction passes crossed, the first time, without "
                   f"scanning them and that no earlier pass scanned ({told:,} passes that "
                   f"scanned under half of what they crossed; the first crossed {crossed:,} "
                   f"pfns and scanned {scanned:,} pages, {scanned / max(crossed, 1):.1%}: "
                   f"the machine's earlier compaction had marked them)")
    for zname, (migrate, free) in st.initial_cached.items():
        out.append(f"compaction's scanners at the start: {zname}'s migrate scanner at "
                   f"{migrate:,} and its free scanner at {free:,} pfns into the zone, where "
                   f"the trace's first pass there began (mm_compaction_begin: "
                   f"compact_cached_migrate_pfn, compact_cached_free_pfn)")
    if st.kcompactd_first_timeout_ns is not None:
        out.append(f"kcompactd's first wait ends at "
                   f"{st.kcompactd_first_timeout_ns / 1e9:.3f} s, as the traced machine's "
                   f"did (its first kcompactd event in the trace's other events; after a wakeup, "
                   f"a period later), so its proactive checks keep the machine's phase")
    if st.kcompactd_pending is not None:
        order, zname = st.kcompactd_pending
        out.append(f"kcompactd's first wait ends with an order-{order} request pending "
                   f"(highest zone {zname}), as the machine's did (its first event is a "
                   f"mm_compaction_kcompactd_wake no wakeup in the trace explains): "
                   f"kcompactd_do_work(), not a proactive check")
    for zname, (considered, shift, failed) in st.initial_defer.items():
        out.append(f"compaction's deferral at the start: {zname} at compact_defer_shift "
                   f"{shift}, {considered} of {1 << shift} attempts considered, "
                   f"compact_order_failed {failed} (before the trace's first deferral "
                   f"event there: the machine's compaction had failed before)")
    for zname, (took, free, had, extra, until) in st.start_free_blocks.items():
        out.append(f"free pageblocks at the start: {zname} +{extra:,} (page cache less): "
                   f"before the machine first ran short ({until / 1e9:.3f} s) its allocations "
                   f"took {took:,} pageblocks there, {free:,} of them untouched by the "
                   f"frees before (so free when the trace began); its snapshot shows "
                   f"{had:,} (the snapshot is older than the trace)")
    for zname, (had, took, spent, until, order, fell_back) in st.spent_free_blocks.items():
        why = (f"a movable order-{order} request fell back to another type's chunk (so it had no "
               f"movable chunk of that order)" if fell_back else
               f"an order-{order} request failed the fast path while the zone was above its low "
               f"watermark (so it had no free chunk of that order)")
        out.append(f"free pageblocks at the start: {zname} -{spent:,} (page cache more): its "
                   f"snapshot shows {had:,}{' movable' if fell_back else ''}, but at "
                   f"{until / 1e9:.3f} s {why} and the allocations before took {took:,} "
                   f"pageblocks there (the snapshot is taken before the recorder starts; the "
                   f"workload allocated meanwhile)")
    if st.memcgs:
        big = max(range(len(st.memcgs)), key=lambda i: st.memcgs[i])
        out.append(f"memcgs holding LRU pages (kswapd's first walk in the trace's other events, "
                   f"the root first): " + ", ".join(f"{p:,}" for p in st.memcgs)
                   + f" pages; each LRU list of the prefill's folios spread over them by "
                   f"that list's pages in each, the trace's charged to memcg {big} (the "
                   f"largest); direct reclaim walks them from a shared position "
                   f"(shrink_node_memcgs())")
    return out


def _readahead_note(d: dict, st) -> list[str]:
    """What the model's readahead windows did differently from the kernel's
    (driver.readahead_op)."""
    fell, kept = d.get("readahead_fell_back", 0), d.get("readahead_kept", 0)
    if not (fell or kept):
        return []
    line = (f"readahead windows follow the model: {fell:,} large folios the kernel got and the "
            f"model did not (the rest of each window read as order-0, "
            f"{d.get('readahead_order0_pages', 0):,} pages), {kept:,} the kernel failed and the "
            f"model got (kept; the kernel's order-0 fallback read as large folios), "
            f"{d.get('readahead_stopped', 0):,} windows ended by a failed order-0 read")
    if st.readahead_slot_collisions:
        line += (f"; {st.readahead_slot_collisions:,} windows shared a slot with another open "
                 f"window (more than {C.NR_RA_SLOTS} reading at once)")
    return [line]


def _model_extfrag(r) -> dict:
    """The model's extfrag events from the first traced event on (not the prefill)."""
    ef = r.extfrag[r.extfrag.t > 0]
    pairs = Counter(f"{C.MIGRATETYPE_KEYS[a]}->{C.MIGRATETYPE_KEYS[b]}" for a, b in
                    zip(ef.alloc_migratetype, ef.fallback_migratetype))
    return {"events": len(ef), "change_ownership": int(ef.change_ownership.sum()),
            "fragmenting": int(ef.fragmenting.sum()), "pairs": pairs}


def _start_pageblocks(r, zb) -> list[str]:
    """Pageblocks by type at the start, the machine's (snapshot) beside the model's."""
    if not zb:
        return []
    snap0 = r.snapshots[0]
    pbo = r.pageblock_order
    out = ["pageblocks at the start, machine -> model (after the prefill):"]
    for z, (zs, ze) in enumerate(r.zone_spans):
        name = C.ZONE_NAMES[z]
        if ze <= zs or name not in zb:
            continue
        cnt = np.bincount(snap0.migratetype[zs >> pbo:ze >> pbo], minlength=C.MIGRATE_TYPES)
        cells = [f"{t} {zb[name].get(t, 0):,} -> {int(cnt[C.MIGRATETYPE_NAMES.index(t)]):,}"
                 for t in ("Unmovable", "Movable", "Reclaimable", "HighAtomic")]
        out.append(f"  {name}: " + ", ".join(cells))
    return out


def _start_free_chunks(r, buddyinfo: str | None) -> list[str]:
    """Free chunks by order at the start: the machine's buddyinfo / the model's."""
    if not buddyinfo:
        return []
    out = ["free chunks by order at the start, machine (buddyinfo) / model:"]
    snap0 = r.snapshots[0]
    for line in buddyinfo.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] != "Node":
            continue
        zname = parts[3]
        if zname not in C.ZONE_NAMES:
            continue
        z = C.ZONE_NAMES.index(zname)
        mach = [int(x) for x in parts[4:]]
        model = snap0.nr_free_mt[z].sum(axis=1).tolist()
        out.append(f"  {zname:<7} " + " ".join(f"{a}/{b}" for a, b in zip(mach, model)))
    return out


#: the free lists compared by :func:`_free_pages_by_type`
_FREE_TYPES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic")


def _free_pages_by_type(r, snapshot) -> list[str]:
    """Free pages per migratetype free list and zone, the machine's
    (before/after.pagetypeinfo) / the model's, at the start (after the
    prefill) and at the end of the trace: free memory in non-movable blocks
    counts toward the watermarks but holds no whole free pageblock."""
    out = []
    for tag, when, snap in (("before", "start", r.snapshots[0]), ("after", "end", r.snapshots[-1])):
        mach = snapshot.free_pages_by_type(tag)
        if not mach:
            continue
        if not out:
            out.append("free pages by free-list type, machine (before/after.pagetypeinfo) / model:")
        for z, (zs, ze) in enumerate(r.zone_spans):
            name = C.ZONE_NAMES[z]
            if ze <= zs or name not in mach:
                continue
            model = (snap.nr_free_mt[z] << np.arange(snap.nr_free_mt.shape[1])[:, None]).sum(axis=0)
            cells = [f"{t} {mach[name].get(t, 0):,}/{int(model[C.MIGRATETYPE_NAMES.index(t)]):,}"
                     for t in _FREE_TYPES]
            out.append(f"  {name:<7} {when:<5} " + ", ".join(cells))
    return out


def replay(trace_path, config: Config | None = None, *, fmt=None, comm=None, skip_bad_lines=False,
           init_from=None, init="auto", duration=None, config_overrides: dict | None = None,
           progress=False, before_run=None, stream: bool | None = None,
           recorder_pages: int | None = None) -> Replay:
    """Parse ``trace_path`` and run it through the model.

    ``stream``: True parses the trace while the model runs it, a chunk at a
    time (:class:`~defragsim.workloads.replay_ops.TraceStream`, after one
    pass that checks it and finds its pre-trace folios), so memory does not
    grow with its length; False reads it whole first (one pass: faster for
    a short trace); None (the default) streams a trace of more than
    :data:`STREAM_MIN_BYTES` of text (or of a size the file does not say).
    The results are the same.  A cut trace (``duration``) and one with a
    line the fast parsers do not take are read whole.

    ``init``: ``"auto"`` uses ``init_from`` or a ``snap/`` folder beside the
    trace when there is one, ``"empty"`` starts from an empty machine.
    ``config``: a full Config; otherwise one is built from the snapshot
    (MemTotal, sysctls) updated with ``config_overrides``.
    ``recorder_pages``: the machine pages the recorder's ring buffers took
    after the before snapshot (None: as
    :func:`~defragsim.workloads.replay_ops.recorder_buffer_pages` finds).
    """
    if init not in ("auto", "empty"):
        raise ConfigError(f"replay: init must be 'auto' or 'empty', got {init!r}")
    if duration is not None and not (isinstance(duration, (int, float)) and duration > 0
                                     and duration <= MAX_DURATION_S):
        raise ConfigError(f"replay: duration must be a positive number of seconds (at most "
                          f"{MAX_DURATION_S:.3g}), got {duration}")
    snap = None
    if init == "auto":
        d = init_from or find_snapshot(trace_path)
        if d is not None:
            snap = Snapshot.load(d)        # before parsing: a bad folder fails fast
    kw = dict(config=config, snap=snap, config_overrides=config_overrides or {},
              progress=progress, before_run=before_run, recorder_pages=recorder_pages)
    max_pfn = snap.pfn_limit() if snap is not None else None
    if stream is None:
        size = trace_text_bytes(trace_path)
        stream = size is None or size > STREAM_MIN_BYTES
    if stream and duration is None:
        fmt = FAST_FORMATS.get(fmt or detect_format(trace_path))
        extent = trace_extent(trace_path, fmt, comm) if fmt is not None else None
        if extent is not None:
            try:
                return _replay_streamed(trace_path, fmt, comm, max_pfn, extent, **kw)
            except IrregularLine:
                pass     # a line the fast parsers do not take: the line readers name it
    until = int(duration * 1e9) if duration is not None else None
    tr = read_trace(trace_path, fmt=fmt, comm=comm, skip_bad_lines=skip_bad_lines,
                    max_pfn=max_pfn, until_ns=until)
    return _replay_whole(trace_path, tr, duration, **kw)


def _replay_whole(trace_path, tr: ParsedTrace, duration, *, config, snap, config_overrides,
                  progress, before_run, recorder_pages=None) -> Replay:
    """Replay a trace parsed whole (a cut trace, an irregular one, or on request)."""
    notes = []
    if config is None:
        pace = ReadaheadPace()
        pace.add(tr.t_ns, tr.ev, tr.pid, tr.order, tr.pfn, tr.gfp)
        config, why = _replay_config(lambda: int(tr.pfn.max()) + 1 if len(tr) else 0, snap,
                                     config_overrides, notes, trace_path, pace.ns())
    else:
        why = f"kernel {config.kernel} (given)"
    check_fits(config.nr_pages * BYTES_PER_PAGE + 2 * (len(tr) + config.nr_pages) * BYTES_PER_OP,
               f"replay: a model of {format_size(config.mem)} and {len(tr):,} trace events")
    wl, st = trace_workload(tr, nr_cpus=config.cpus, nr_pages=config.nr_pages, snapshot=snap,
                            duration=duration, zone_spans=config.zone_spans(),
                            pageblock_order=config.pageblock_order, recorder_pages=recorder_pages)
    if before_run is not None:
        before_run()          # the caller's notice, once every input has been checked
    res = run(wl, config, progress=progress, baseline_ops=st.prefill_ops)
    other, sums = _other_events(trace_path, tr, int(duration * 1e9) if duration is not None
                                else None)
    return Replay(trace=tr, stats=st, result=res, snapshot=snap, other_events=other,
                  kernel_choice=why, adjustments=notes, other_sums=sums)


def _other_events(trace_path, tr: ParsedTrace, until_ns) -> tuple:
    """The kernel's other events of a trace, up to ``until_ns`` (None: all):
    their counts by name (None for a text trace, whose parse counted its
    events) and the vmstat increments they carry (trace.other_event_sums:
    from other_events.csv beside a CSV trace, from a text trace's own
    lines)."""
    return (other_event_counts(trace_path, t0_ns=tr.t0_ns, until_ns=until_ns),
            other_event_sums(trace_path, t0_ns=tr.t0_ns, until_ns=until_ns))


def _replay_streamed(trace_path, fmt: str, comm, max_pfn, extent, *, config, snap,
                     config_overrides, progress, before_run, recorder_pages=None) -> Replay:
    """Replay a trace while it is parsed (:class:`TraceStream`), after one
    pass over it (checks, pre-trace folios, pfn range)."""
    lim = TraceLimits(until_ns=None) if max_pfn is None else \
        TraceLimits(int(max_pfn), f"the machine's memory (pfns below {int(max_pfn):#x})")
    # one pass before the model runs: every line checked (a bad one is named
    # before anything runs), the folios the trace frees before allocating
    # them, and its largest pfn (the model's size without a snapshot)
    top = [0]
    pace = ReadaheadPace()

    def see(cols):
        if len(cols["pfn"]):
            top[0] = max(top[0], int(cols["pfn"].max()) + 1)
        pace.add(cols["t_ns"], cols["ev"], cols["pid"], cols["order"], cols["pfn"], cols["gfp"])
    pretrace = streamed_pretrace_folios(
        trace_path, fmt, comm, lim, direct_reclaim_windows(trace_path),
        on_chunk=see)
    notes = []
    if config is None:
        config, why = _replay_config(lambda: top[0], snap, config_overrides, notes, trace_path,
                                     pace.ns())
    else:
        why = f"kernel {config.kernel} (given)"
    chunk_events = CHUNK_BYTES // 30
    check_fits(config.nr_pages * BYTES_PER_PAGE + 2 * (chunk_events + config.nr_pages) * BYTES_PER_OP,
               f"replay: a model of {format_size(config.mem)}")
    ts = TraceStream(trace_path, fmt, nr_cpus=config.cpus, nr_pages=config.nr_pages,
                     snapshot=snap, extent=extent, comm=comm, lim=lim,
                     zone_spans=config.zone_spans(), pageblock_order=config.pageblock_order,
                     pretrace=pretrace, recorder_pages=recorder_pages)
    if before_run is not None:
        before_run()
    res = run(ts, config, progress=progress, baseline_ops=ts.prefill_ops)
    tr = ts.trace
    if not tr.streamed["allocations"]:
        raise TraceError(f"{trace_path}: no mm_page_alloc events"
                         + (f" for comm {comm!r}" if comm else "") + f" in {tr.lines} lines")
    other, sums = _other_events(trace_path, tr, None)
    return Replay(trace=tr, stats=ts.stats, result=res, snapshot=snap, other_events=other,
                  kernel_choice=why, adjustments=notes, other_sums=sums)


def _recorded_or_given(kw: dict, snap: Snapshot | None, overrides: dict, notes: list) -> str:
    """Where a replay's CPUs and vm.defrag_mode came from (``notes``), and its
    kernel baseline (set in ``kw`` from the snapshot's kernel release unless
    given) and why."""
    if "nr_cpus" in kw and "nr_cpus" not in overrides:
        notes.append(f"{kw['nr_cpus']} CPUs: the recorded machine's (the snapshot's before.platform)")
    if "defrag_mode" in overrides:
        notes.append(f"vm.defrag_mode {overrides['defrag_mode']} (given)")
    elif "defrag_mode" in kw:
        notes.append(f"vm.defrag_mode {kw['defrag_mode']}: the recorded one (the snapshot's "
                     f"before.sysctl; --defrag-mode sets it)")
    else:
        notes.append("vm.defrag_mode 0: the default (no snapshot sysctl records it)")
    if "kernel" in kw:
        return f"kernel {kw['kernel']} (given)"
    if snap is not None and snap.platform.get("kernel_release"):
        kw["kernel"], why = baseline_for_release(snap.platform["kernel_release"])
        where = snap.platform.get("source")
        return f"kernel {kw['kernel']}: from " + (f"{where}: {why}" if where else
                                                   f"the snapshot's {why}")
    return f"kernel {DEFAULT_KERNEL}: the default (the snapshot records no kernel release)"


#: the reclaim batch a replay's cpu_pace is measured on: one pageblock-order
#: folio, the trace's commonest kswapd batch (readahead's folios), whose cost
#: is almost all per-page work (costs.FOLIO_PAGE_NS)
CPU_PACE_BATCH = 512
#: fewer such batches in a trace than this, and the replay keeps cpu_pace 1
CPU_PACE_MIN_BATCHES = 100


def trace_cpu_pace(trace_path) -> tuple | None:
    """The traced machine's pace at the model's CPU work (Config.cpu_pace,
    ``costs.cpu_ns``): kswapd's median time to reclaim a
    :data:`CPU_PACE_BATCH`-page folio (:func:`kswapd_reclaim_batches`) over
    what the model charges for it at pace 1, to two decimals, within
    ``config.CPU_PACE_RANGE``.  ``(pace, median µs, batches)``, or None
    without :data:`CPU_PACE_MIN_BATCHES` such batches."""
    batches = kswapd_reclaim_batches(trace_path)
    times = (batches or {}).get(CPU_PACE_BATCH) or []
    if len(times) < CPU_PACE_MIN_BATCHES:
        return None
    med = float(np.median(times))
    lo, hi = CPU_PACE_RANGE
    pace = min(max(round(med / reclaim_batch_cost_ns(CPU_PACE_BATCH), 2), lo), hi)
    return pace, med / 1000, len(times)


def _replay_config(top_pfn, snap: Snapshot | None, overrides: dict, notes: list,
                   trace_path, ra_pace_ns: int | None = None) -> tuple:
    """The Config of a replay: the snapshot's MemTotal and sysctls (or the
    trace's pfn range: ``top_pfn()``, one past its largest), the trace's
    kswapd wakeup latencies and its readahead pace (``ra_pace_ns``,
    :class:`~defragsim.workloads.replay_ops.ReadaheadPace`), updated with
    ``overrides``, and which kernel baseline and why; what was adapted to
    the model's size goes into ``notes``."""
    kw = {}
    if snap is not None:
        kw.update(snap.config_overrides())
    elif "mem" not in overrides:
        kw["mem"] = max(top_pfn() * C.PAGE_SIZE, 256 << 20)
    lat = kswapd_wake_latencies(trace_path) if "kswapd_wake_latency_us" not in overrides \
        else None
    if lat:
        kw["kswapd_wake_latency_us"] = lat
        notes.append(f"kswapd runs {np.median(lat):,.0f} µs after a wakeup from its sleep "
                     f"(median; 90th percentile {np.quantile(lat, 0.9):,.0f} µs): the "
                     f"traced machine's own wakeup-to-run times (the trace's other events)")
    pace = trace_cpu_pace(trace_path) if "cpu_pace" not in overrides else None
    if pace is not None:
        kw["cpu_pace"] = pace[0]
        model_us = reclaim_batch_cost_ns(CPU_PACE_BATCH) / 1000
        notes.append(f"cpu_pace {pace[0]:g}: the traced machine's CPU work takes {pace[0]:g} "
                     f"times the model's costs (kswapd reclaimed a {CPU_PACE_BATCH}-page folio in "
                     f"{pace[1]:,.1f} µs, median of {pace[2]:,}; the costs, measured on the "
                     f"machine of the shipped traces b and c, charge {model_us:,.1f} µs; "
                     f"--cpu-pace sets it)")
    if ra_pace_ns is not None and "readahead_folio_ns" not in overrides:
        kw["readahead_folio_ns"] = ra_pace_ns
        notes.append(f"readahead: a window the model reads in order-0 folios where the trace "
                     f"has a large folio takes {ra_pace_ns:,} ns a folio (the trace's median "
                     f"gap between a task's order-0 readahead allocations), kswapd reclaiming "
                     f"meanwhile")
    kw.update(overrides)
    why = _recorded_or_given(kw, snap, overrides, notes)
    unit = C.PAGE_SIZE << C.MAX_PAGE_ORDER
    pm = snap.zone_present_managed() if snap is not None and "mem" not in overrides else None
    if pm and "Normal" in pm:
        # the zones span the machine's present pages, as its do; the pages
        # memblock reserved at boot (present - managed) stay out of the buddy
        # allocator (replay_ops.boot_reserved)
        present = {z: pm[z][0] if z in pm else 0 for z in ("DMA32", "Normal")}
        kw["mem"] = (present["DMA32"] + present["Normal"]) * C.PAGE_SIZE
        if "dma32" not in overrides:
            kw["dma32"] = present["DMA32"] * C.PAGE_SIZE - present["DMA32"] * C.PAGE_SIZE % unit
    if isinstance(kw.get("mem"), int):
        kw["mem"] -= kw["mem"] % unit
    if snap is not None and "dma32" not in kw:
        frac = snap.dma32_fraction()
        if frac is not None:
            # DMA32 as large a share of memory as on the machine
            d = int(parse_size(kw["mem"], name="mem") * frac)
            kw["dma32"] = d - d % unit
    if snap is not None and "min_free_kbytes" in kw and "min_free_kbytes" not in overrides \
            and not (pm and "Normal" in pm):
        machine = snap.meminfo["MemTotal"] * 1024
        model = parse_size(kw["mem"], name="mem")
        if model != machine - machine % unit:
            # MODEL: min_free_kbytes is sized by the kernel for the machine's memory
            mfk = kw.pop("min_free_kbytes")
            notes.append(f"min_free_kbytes: the machine's {mfk} kB is for its "
                         f"{format_size(machine - machine % unit)}; the {format_size(model)} "
                         "model takes the kernel's boot-time value for its own size")
    cfg = _config_naming_sysctl(kw, snap, overrides)
    if pm and "Normal" in pm:
        rsv = reserved_targets(snap, cfg.zone_spans())
        notes.append("zones: the machine's present pages (before.zoneinfo); "
                     + ", ".join(f"{C.ZONE_NAMES[z]} {n:,}" for z, n in rsv.items())
                     + " of them reserved at boot (present - managed, within present - "
                     "MemTotal: the memmap, the kernel image), kept out of the buddy "
                     "allocator and the managed pages (replay_ops.boot_reserved)")
    return cfg, why


def _config_naming_sysctl(kw: dict, snap: Snapshot | None, overrides: dict) -> Config:
    """``Config(**kw)``; a value the model cannot take that came from the
    snapshot's ``before.sysctl`` (not from the caller) is named with its file."""
    try:
        return Config(**kw)
    except ConfigError as e:
        key = str(e).split(":", 1)[0].removeprefix("config.")
        if snap is not None and key in snap.sysctl and key not in overrides:
            raise ConfigError(f"{snap.path / 'before.sysctl'}: vm.{key} = {snap.sysctl[key]}: "
                              f"{str(e).split(':', 1)[1].strip()}") from None
        raise


def _window_note(snapshot, tr, sums) -> list[str]:
    """The replay notes on the time the vmstat delta rows span and on the
    "over the trace" rows."""
    out = []
    span = snapshot.uptime_span() if snapshot is not None else None
    if span is not None and tr.cut_ns is None:
        out.append(f"the vmstat (delta) rows are the machine's counts from the before snapshot "
                   f"to the after one, {span:.1f} s apart (/proc/uptime), around the trace's "
                   f"{tr.duration_s:.1f} s; the model's cover the trace")
    if sums:
        how = "; ".join(f"{c}: {' + '.join(e)} {k}" + (f" ({w})" if w else "")
                        for c, e, k, w in TRACED_COUNTERS if c in sums)
        if "pgmigrate_success" in sums:
            how += (" (or, in a recording without migrate's tracepoints, compaction's "
                    "mm_compaction_migratepages nr_migrated)")
        out.append(f"the \"over the trace\" rows: the kernel's counts over the trace itself, "
                   f"pgalloc_<zone> from its mm_page_alloc events, the others from its other "
                   f"events ({how}; kswapd: the pids that log mm_vmscan_kswapd_wake or _sleep)")
    return out


def _untraced_note(st, snapshot) -> list[str]:
    """The replay note on the reclaimable slab the trace does not show
    (``workloads/untraced.py``): the estimate, or why there is none when
    the snapshot has an ``after`` side."""
    u = st.untraced_slab
    if not u:
        if snapshot is None or not snapshot.vmstat_after:
            return []
        return ["reclaimable slab the trace does not show: not estimated (it needs "
                "nr_slab_reclaimable in before.vmstat and after.vmstat, and /proc/uptime on "
                "line 2 of before.time and after.time)"]
    orders = ", ".join(f"order {o} {share:.0%}" for o, share, _ in u["mix"])
    return [f"reclaimable slab the trace does not show: the machine's nr_slab_reclaimable "
            f"grew {u['machine_delta']:+,} pages over the snapshots' {u['snapshot_s']:.1f} s; "
            f"over the trace's {u['trace_s']:.1f} s its reclaimable allocations took "
            f"{u['traced_alloc']:,} pages and the replay frees {u['traced_free']:,} pages of "
            f"reclaimable slab (the traced slab a task frees or the trace re-allocates, the "
            f"pre-trace slab a task frees; the model's shrinkers free no slab page here: the "
            f"kernel's RCU callbacks free the pages its shrinkers empty, in the trace's task "
            f"frees), and {u['second_frees']:,} frees in its reclaimable pageblocks freed a "
            f"page the trace had already seen freed (an allocation it did not record); added "
            f"{st.untraced_slab_pages:,} model pages ({u['pages']:,} machine pages) of "
            f"reclaimable slab, evenly over the trace, never freed ({orders})"]
