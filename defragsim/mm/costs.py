"""Simulated-time costs, in nanoseconds, in one documented place.

Each constant says where its value comes from (the model spec's cost table,
shared/spec/compaction-reclaim.md section 5) or that it is an estimate.  The
cost of work is charged to whoever does it: the allocating request (direct
reclaim, direct compaction, refault IO) or the daemon (kswapd, kcompactd),
whose throughput therefore follows from these numbers.

The CPU costs are those of the machine the shipped 6.18 traces b and c were
recorded on, where they were measured.  A slower or faster machine takes
them times its pace (:func:`cpu_ns`, ``Config.cpu_pace``; a replay measures
its own machine's, :func:`defragsim.analysis.replay.trace_cpu_pace`).  Device
times (swap-in, refault reads, the disk's write bandwidth), timers (kswapd's
nap) and the hypervisor's side of free page reporting are not CPU work and
do not scale.
"""
from .._jit import kernel as njit

#: Examining one folio on an LRU list (isolate, check references, put back).
#: Estimate (spec: compaction scanning 10-50 ns/pfn; LRU isolation is heavier).
#: Reclaim's work is per folio (one LRU entry, one reference check, one
#: mapping removal), whatever the folio's size; the pages of a large folio
#: add only :data:`FOLIO_PAGE_NS` each.
SCAN_FOLIO_NS = 100
#: Reclaiming a clean, unmapped page-cache folio.  Spec: 0.5-1 us for a 4 KiB
#: page (estimate).  The shipped 6.18 traces agree (mm_vmscan_lru_isolate to
#: mm_vmscan_lru_shrink_inactive of the same task): 32 order-0 folios
#: reclaimed in 15-29 us (median 19 us, 8,505 batches in c_pressure_dm1).
RECLAIM_CLEAN_FILE_NS = 700
#: Each page of a large folio that reclaim drops: free_pages_prepare()'s
#: per-tail-page checks and flag clearing.  Measured, not estimated: in the
#: shipped 6.18 traces one 512-page clean file folio is reclaimed in 4.4-5.9 us
#: (median 4.6 us in b_pressure_dm0, 8,872 batches; 5.0 us in c_pressure_dm1),
#: so (4.6 us - one folio's 0.8 us) / 511 pages = 7-8 ns a page.
FOLIO_PAGE_NS = 8
#: Unmapping a mapped page (rmap walk + TLB flush).  Spec: 1-3 us (estimate).
UNMAP_PAGE_NS = 2_000
#: CPU part of swapping an anon page out to a disk swap device.  Spec: 2-5 us
#: CPU (estimate); the device write is asynchronous.
SWAP_OUT_CPU_NS = 3_000
#: Swap-in (refault of an anon page) from SSD/NVMe, blocking the task.  Spec:
#: 10-150 us ("latency numbers": NVMe 10-20 us, SSD ~150 us); 80 us chosen.
SWAP_IN_NS = 80_000
#: Page-cache refault read from SSD/NVMe, blocking the task (same source).
FILE_REFAULT_NS = 80_000
#: Freeing one reclaimable slab page through a shrinker (estimate).
SLAB_SHRINK_PAGE_NS = 1_000
#: Freeing one object (a dentry, an inode) through a shrinker's scan
#: (estimate: dentry_kill() / evict() without IO).
SLAB_SHRINK_OBJECT_NS = 300
#: One order-0 readahead folio of a window the model reads in order-0
#: folios where the trace shows a large folio (ractl_alloc_folio() and
#: filemap_add_folio() in page_cache_ra_unbounded()): the reading task's time
#: per folio, during which kswapd reclaims on another CPU.  Used when the
#: replay's trace gives none (Config.readahead_folio_ns); the shipped 6.18
#: traces' own medians (the gaps between a task's consecutive order-0
#: readahead allocations, replay_ops.ReadaheadPace): b 0.70 us, c 0.34 us,
#: d 3.4 us, e 1.4 us.
READAHEAD_FOLIO_NS = 700
#: Fixed overhead of one slowpath iteration: kswapd wakeups, zonelist walk
#: (estimate).
SLOWPATH_ITER_NS = 1_000
#: Entering direct reclaim (throttle checks, memcg walk setup) (estimate).
DIRECT_RECLAIM_ENTRY_NS = 2_000
#: kswapd's nap before deciding to sleep: HZ/10 in kswapd_try_to_sleep().
KSWAPD_NAP_NS = 100_000_000
#: Migrating one 4 KiB LRU page.  Spec: 2-5 us (estimate; TLB shootdown dominates).
MIGRATE_PAGE_NS = 3_000
#: Examining one pfn in a compaction scanner.  Spec: 10-50 ns (estimate).
COMPACT_SCAN_PFN_NS = 20
#: One free page report (virtio-balloon: the virtqueue round trip) and each
#: page in it (the hypervisor's madvise(MADV_DONTNEED) of guest memory).
#: Estimates: 20 us + 50 ns a page, so 32 order-9 chunks (64 MiB) take 0.84 ms.
PAGE_REPORT_NS = 20_000     # MODEL: an estimate of the hypervisor's side
PAGE_REPORT_PAGE_NS = 50
#: Disk write bandwidth for swap-out and writeback, pages per second (estimate:
#: a ~400 MB/s SSD).
SWAP_WRITE_PAGES_PER_S = 100_000


@njit(inline='always')
def pace_ns(ns, cpu_pace_milli):
    """``ns`` of CPU work on a machine of pace ``cpu_pace_milli`` (Config.cpu_pace
    in thousandths: 1000 is the machine the costs above were measured on,
    2000 one that takes twice as long for the same work)."""
    return ns * cpu_pace_milli // 1000


@njit(inline='always')
def cpu_ns(prm, ns):
    """``ns`` of CPU work at the modelled machine's pace (``prm.cpu_pace_milli``,
    :func:`pace_ns`)."""
    # MODEL: one pace for all CPU work (a replay measures it on kswapd's
    # reclaim of large folios, replay.trace_cpu_pace)
    return pace_ns(ns, prm.cpu_pace_milli)


@njit(inline='always')
def daemon_wall_ns(cpu_ns, nr_cpus, runnable_milli, other_daemon_running):
    """Simulated time a daemon (kswapd, kcompactd: nice-0 kthreads) needs to
    get ``cpu_ns`` of CPU.  CFS shares the ``nr_cpus`` CPUs fairly among the
    runnable tasks of equal weight, load balancing spreading them: with T
    runnable workload tasks (``runnable_milli`` / 1000, Config.runnable_tasks)
    and D running daemons, each gets nr_cpus / (T + D) of a CPU, at most one
    (kernel/sched/fair.c: sched_slice() in proportion to the load weight;
    every nice-0 task has NICE_0_LOAD).  A model rule, not a kernel function:
    no wakeup preemption bonus, no per-CPU imbalance."""
    # MODEL: fair shares only (no wakeup preemption, no per-CPU imbalance)
    demand = runnable_milli + 1000 * (1 + other_daemon_running)
    cap = 1000 * nr_cpus
    if demand <= cap:
        return cpu_ns
    return cpu_ns * demand // cap
