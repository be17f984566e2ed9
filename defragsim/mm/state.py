"""Model state: one node as a namedtuple of plain numpy arrays.

The layout follows the kernel's structures:

* per page frame (``struct page``): list links shared by the buddy free lists,
  the per-cpu lists and (later) the LRU lists, exactly as ``page->lru`` /
  ``page->buddy_list`` / ``page->pcp_list`` share one ``list_head``; the buddy
  order; page flags; what the page holds; the workload handle that owns it.
  15 bytes per page in all (a slab page's handle packs its cache and objects in use),
  16 with more than one memory cgroup (the memcg a folio is charged to).
* per pageblock: the migratetype bits (``get_pageblock_migratetype``).
* per zone (``struct zone``): ``free_area[order].free_list[mt]`` heads and
  tails, ``nr_free``, ``vm_stat`` items, watermarks, ``watermark_boost``,
  ``lowmem_reserve``, flags, and the per-cpu pagesets.
* per node: ``vm_events`` (the /proc/vmstat event counters) and the clock.

:func:`make_state` builds it for a :class:`~defragsim.config.Config` the way
boot does (all memory free, every pageblock MOVABLE); :func:`setup_per_zone_wmarks`
mirrors mm/page_alloc.c's watermark setup.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from .. import constants as C
from .._jit import pass_by_reference

State = namedtuple("State", [
    # per pfn
    "pg_next", "pg_prev", "pg_order", "pg_flags", "pg_handle",   # 15 bytes per page
    "pg_memcg",        # the memcg a folio is charged to (folio_memcg()): per pfn when
                       # there is more than one memcg, else one entry (vmscan.folio_memcg)
    # per pageblock
    "block_mt",
    # per zone geometry and accounting
    "zone_start", "zone_end", "zone_managed",
    "free_head", "free_tail", "nr_free", "nr_free_mt",
    "zone_stat", "watermark", "watermark_boost", "lowmem_reserve", "zone_flags",
    "compact_defer",   # [zone, considered/defer_shift/order_failed]
    "zone_compact",    # [zone, ZC_*]: compaction cursors (struct zone)
    "block_skip",      # per pageblock: PB_compact_skip
    "cc",              # [CC_DIRECT/CC_KCOMPACTD, CC_*]: struct compact_control
    "cc_migratepages", # [cc, pageblock_nr_pages]: isolated source folios (pfns)
    "cc_freepages",    # [cc, NR_CC_FREE]: isolated free chunks (pfns; order in pg_order)
    "capc",            # struct capture_control: [CAPC_*]
    "cev",             # mm_compaction_* tracepoint ring: [row, CEV_*] (flushed per chunk)
    "cev_count",       # [rows used, rows lost to a full ring]
    "wb_ring",         # [wb_capacity(), WB_*]: folios under writeback, in completion order
    "slab_cache",      # [NR_SLAB_CACHES, SLAB_*]: struct kmem_cache (+ its kmem_cache_node)
    "pr_sgl", "pr_order",  # free page reporting's scatterlist: isolated chunks and orders
    # per-cpu pagesets: [cpu, zone, pindex]
    "pcp_head", "pcp_tail", "pcp_count", "pcp_batch", "pcp_high",
    "pcp_alloc_factor", "pcp_free_count",
    # node: LRU lists (per node, sizes also per zone), scalar node state
    # LRU lists: one lruvec per memcg, flat [memcg * NR_LRU_LISTS + lru]
    # (vmscan.lru_list_id()); sizes per node, per zone and per memcg
    "lru_head", "lru_tail", "lru_size", "lru_zone_size", "memcg_lru_size", "memcg_online",
    "node", "sc",
    # per-request accounting (model diagnostics)
    "lat_hist", "req_stats",
    "lockdep",         # [LOCKDEP_*, LD_CTX_*]: fs_reclaim lockdep view ([PATCH 1/4])
    "vm_events", "clock", "diag", "alloc_failed",
    # kernel-local variables that live on the stack in C (no allocation in kernels)
    "scratch",
    "kswapd_wake_lat",  # ns from a wakeup of the sleeping kswapd to its running (cycled)
    "ra_state",         # [NR_RA_SLOTS, RA_*]: a replayed readahead window per task slot
])
# --- State.node: scalar node state (struct pglist_data and friends) ---------------
NODE_SWAP_TOTAL = 0          # swap device capacity, pages
NODE_SWAP_USED = 1
NODE_ANON_COST = 2           # lruvec->anon_cost
NODE_FILE_COST = 3           # lruvec->file_cost
NODE_NONRESIDENT_AGE = 4     # lruvec->nonresident_age (workingset clock)
NODE_KSWAPD_STATE = 5        # KSWAPD_SLEEPING / KSWAPD_RUNNING / KSWAPD_NAPPING
NODE_KSWAPD_ORDER = 6        # pgdat->kswapd_order
NODE_KSWAPD_HIGHEST_ZONEIDX = 7
NODE_KSWAPD_FAILURES = 8     # pgdat->kswapd_failures
NODE_KSWAPD_TIME = 9         # kswapd's own clock (ns): it runs concurrently
NODE_BP_ALLOC_ORDER = 10     # balance_pgdat() locals, kept across steps
NODE_BP_NR_BOOST = 11
NODE_BP_BOOSTED = 12
NODE_NAP_UNTIL = 13
NODE_NAP_WOKEN = 14
NODE_KCOMPACTD_MAX_ORDER = 15
NODE_KCOMPACTD_HIGHEST_ZONEIDX = 16
NODE_REFAULTS_FILE = 17      # workingset refaults seen (for may_deactivate)
NODE_REFAULTS_ANON = 18
NODE_LAST_REFAULTS_FILE = 19 # snapshot at the last reclaim cycle
NODE_LAST_REFAULTS_ANON = 20
NODE_PSI_SOME_NS = 21        # total memstall time (tasks + kswapd), ns
NODE_PSI_TASK_NS = 22        # memstall of allocating tasks only
NODE_REQ_STALL_NS = 23       # the current request's accumulated stall
NODE_REQ_TIME = 24           # the current request's own clock (op time + stall)
NODE_REQ_CPU = 25
NODE_KSWAPD_BUSY_NS = 26     # kswapd CPU time
NODE_SWAP_IO_BUSY_UNTIL = 27
NODE_OOM_VICTIM = 28         # last OOM victim owner id (+1), 0 = none
NODE_KCOMPACTD_STATE = 29
NODE_KSWAPD_WAKE_FLAG = 30
NODE_KCOMPACTD_TIME = 31       # kcompactd's own clock (ns)
NODE_KCOMPACTD_BUSY_NS = 32
NODE_FS_LOCKED = 33            # MODEL: ``current`` holds a filesystem lock (op marked fs_locked)
NODE_WB_HEAD = 34              # State.wb_ring: index of the oldest folio under writeback
NODE_WB_COUNT = 35             # State.wb_ring: folios under writeback
NODE_PROACTIVE_NEXT = 36       # kcompactd's next proactive check (its timeout), ns
NODE_KCOMPACTD_PROACTIVE_NS = 37   # kcompactd CPU time in proactive passes
NODE_CURRENT_KCOMPACTD = 38    # ``current`` is kcompactd (tracepoints take its clock)
NODE_MIGRATE_SEQ = 39          # folios migrate_pages() has tried (seeds migrate_busy())
NODE_OBJ_LRU_HEAD = 40         # the shrinkable objects' list_lru (handles): newest
NODE_OBJ_LRU_TAIL = 41         # ... oldest
NODE_OBJ_LRU_COUNT = 42        # ... objects on it (list_lru_count())
NODE_SHRINK_NR_DEFERRED = 43   # the list_lru shrinker's shrinker->nr_deferred
NODE_PR_STATE = 44             # free page reporting: prdev->state (IDLE/REQUESTED/ACTIVE)
NODE_PR_NEXT_WORK = 45         # ... when the delayed work runs (ns), -1 none
NODE_PR_TIME = 46              # ... the worker's clock during a pass
NODE_PR_LIST = 47              # ... the free list being walked (zone, order, mt); -2 no pass
NODE_PR_BUDGET = 48            # ... reports left for that list
NODE_PR_OFFSET = 49            # ... chunks in the scatterlist (State.pr_sgl)
NODE_PR_HOLD_UNTIL = 50        # ... when the report in flight ends, 0 none
NODE_PR_NOTIFY_OFF = 51        # ... putting chunks back: FPI_SKIP_REPORT_NOTIFY
NODE_PR_SKIP_CYCLE = 52        # ... a zone's leftover report: go on to the next list
NODE_KSWAPD_WAKES = 53         # wakeups of a sleeping kswapd (indexes kswapd_wake_lat)
NODE_MEMCG_ITER_POS = 54       # root->nodeinfo[nid]->iter.position: the memcg the shared
                               # reclaim walk returned last (-1: NULL, start at the root)
NODE_MEMCG_CHARGE = 55         # the memcg new folios are charged to (the workload's)
NODE_KSWAPD_ROUND_STEAL = 56   # pgsteal_kswapd when kswapd last woke from its sleep
NODE_KSWAPD_STARTING = 57      # woken, not yet running: kswapd() reads kswapd_order when it runs
NODE_BP_OUT_BALANCED = 58      # balance_pgdat() left by "goto out" (the node balanced)
NODE_BP_ZONE_BOOST = 59        # balance_pgdat()'s zone_boosts[]: one slot per zone
NR_NODE = NODE_BP_ZONE_BOOST + C.MAX_NR_ZONES
KSWAPD_SLEEPING = 0
KSWAPD_RUNNING = 1
KSWAPD_NAPPING = 2

# --- scan_control (struct scan_control), two instances: direct and kswapd -----------
SC_DIRECT = 0
SC_KSWAPD = 1
SC_NR_TO_RECLAIM = 0
SC_ORDER = 1
SC_PRIORITY = 2
SC_MAY_WRITEPAGE = 3
SC_MAY_SWAP = 4
SC_NR_SCANNED = 5
SC_NR_RECLAIMED = 6
SC_RECLAIM_IDX = 7
SC_COMPACTION_READY = 8
SC_COST_NS = 9
SC_IS_KSWAPD = 10
SC_MAY_DEACTIVATE_ANON = 11
SC_MAY_DEACTIVATE_FILE = 12
SC_CPU = 13
SC_GFP = 14
SC_FILE_IS_TINY = 15
SC_CACHE_TRIM = 16
SC_MEMCG_FULL_WALK = 17      # sc->memcg_full_walk
NR_SC = 18

# --- struct zone compaction fields --------------------------------------------------
ZC_CACHED_MIGRATE_ASYNC = 0    # compact_cached_migrate_pfn[0]
ZC_CACHED_MIGRATE_SYNC = 1     # compact_cached_migrate_pfn[1]
ZC_CACHED_FREE = 2             # compact_cached_free_pfn
ZC_INIT_MIGRATE = 3            # compact_init_migrate_pfn
ZC_INIT_FREE = 4               # compact_init_free_pfn
ZC_BLOCKSKIP_FLUSH = 5         # compact_blockskip_flush
NR_ZC = 6

# --- struct compact_control ------------------------------------------------------------
CC_DIRECT_IDX = 0
CC_KCOMPACTD_IDX = 1
CC_ORDER = 0
CC_MIGRATETYPE = 1
CC_MODE = 2                    # MIGRATE_ASYNC / MIGRATE_SYNC_LIGHT / MIGRATE_SYNC
CC_ALLOC_FLAGS = 3
CC_HIGHEST_ZONEIDX = 4
CC_DIRECT = 5                  # direct_compaction
CC_WHOLE_ZONE = 6
CC_IGNORE_SKIP_HINT = 7
CC_IGNORE_BLOCK_SUITABLE = 8
CC_FINISH_PAGEBLOCK = 9
CC_MIGRATE_PFN = 10
CC_FREE_PFN = 11
CC_NR_MIGRATEPAGES = 12
CC_NR_FREEPAGES = 13           # pages in the isolated free chunks
CC_NR_FREE_CHUNKS = 14
CC_MIGRATE_SCANNED = 15
CC_FREE_SCANNED = 16
CC_ZONE = 17
CC_COST_NS = 18
CC_GFP = 19
CC_CPU = 20
CC_ISOLATED = 21
CC_MIGRATED = 22
CC_FAST_SEARCH_FAIL = 23
CC_SEARCH_ORDER = 24           # fast_isolate_freepages(): next free-list order to search
CC_PROACTIVE = 25              # proactive_compaction
CC_FAST_START_PFN = 26         # fast_find_migrateblock()'s lowest find (0: none, -1: used)
CC_LAST_MIGRATED_PFN = 27      # compact_zone()'s last_migrated_pfn (kept between steps)
CC_UPDATE_CACHED = 28          # compact_zone()'s update_cached (kept between steps)
NR_CC = 29
NR_CC_FREE = 64

# --- struct capture_control ----------------------------------------------------------
CAPC_ACTIVE = 0                # current->capture_control set
CAPC_ZONE = 1
CAPC_ORDER = 2                 # the order captured: cc->order, or capc->order (patch 4)
CAPC_MIGRATETYPE = 3
CAPC_PAGE = 4                  # captured pfn, -1 if none
CAPC_EXT_MT = 5                # pending mm_page_alloc_extfrag: the captured block's type, -1 none
CAPC_EXT_ORDER = 6
CAPC_CC = 7                    # capc->cc set: compact_zone_order() is running ([PATCH 3/4])
NR_CAPC = 8

# --- mm_compaction_* tracepoint ring (State.cev) -------------------------------------
CEV_T = 0
CEV_EVENT = 1
CEV_ZONE = 2
CEV_ORDER = 3
CEV_SYNC = 4                   # cc->mode (begin/end), prio (try_to_compact_pages)
CEV_STATUS = 5                 # compact_result (end), gfp_mask (try_to_compact_pages)
CEV_MIGRATE_PFN = 6
CEV_FREE_PFN = 7
CEV_CONSIDERED = 8
CEV_DEFER_SHIFT = 9
CEV_ORDER_FAILED = 10
CEV_DIRECT = 11                # model: 1 if a direct compactor (task), 0 kcompactd
NR_CEV = 12
CEV_CAPACITY = 1 << 14
CEV_HEADROOM = 2048            # rows the driver keeps free before each op
#: event ids (CEV_EVENT), named after include/trace/events/compaction.h, and
#: kswapd's two from include/trace/events/vmscan.h (CEV_ZONE: zid, CEV_ORDER: order)
CEV_NAMES = [
    "mm_compaction_begin", "mm_compaction_end", "mm_compaction_try_to_compact_pages",
    "mm_compaction_defer_compaction", "mm_compaction_deferred", "mm_compaction_defer_reset",
    "mm_compaction_wakeup_kcompactd", "mm_compaction_kcompactd_wake",
    "mm_vmscan_kswapd_wake", "mm_vmscan_kswapd_sleep",
]
CEV_BEGIN, CEV_END, CEV_TRY, CEV_DEFER_COMPACTION, CEV_DEFERRED, CEV_DEFER_RESET, \
    CEV_WAKEUP_KCOMPACTD, CEV_KCOMPACTD_WAKE, CEV_KSWAPD_WAKE, CEV_KSWAPD_SLEEP = range(len(CEV_NAMES))

# --- folios under writeback (State.wb_ring) ------------------------------------------
WB_PFN = 0
WB_HANDLE = 1                  # the folio's handle when writeback began (detects reuse)
WB_END = 2                     # when the write completes (ns): folio_end_writeback()
NR_WB = 3
#: MODEL: folios in flight at once, at most: a sixteenth of memory's pages, a
#: power of two from 1024 to 65536 (a 400 MB/s device drains 65536 pages in
#: about 0.66 s); the flusher starts no more while the ring is full.
WB_CAPACITY = 1 << 16


def wb_capacity(nr_pages: int) -> int:
    """State.wb_ring's rows for a node of ``nr_pages`` (see WB_CAPACITY)."""
    return 1 << min(max((max(nr_pages, 1) // 16).bit_length() - 1, 10), 16)

# --- slab caches (State.slab_cache): struct kmem_cache and its kmem_cache_node ---------
SLAB_OBJSIZE = 0               # s->size, bytes
SLAB_ORDER = 1                 # oo_order(s->oo): the preferred slab order
SLAB_MIN_ORDER = 2             # oo_order(s->min): the smallest order holding one object
SLAB_SHRINKABLE = 3            # objects on the list_lru; SLAB_RECLAIM_ACCOUNT
SLAB_MIN_PARTIAL = 4           # s->min_partial: empty slabs kept while fewer partial
SLAB_PARTIAL_HEAD = 5          # n->partial (pfns of the slab pages)
SLAB_PARTIAL_TAIL = 6
SLAB_NR_PARTIAL = 7            # n->nr_partial
SLAB_NR_SLABS = 8              # n->nr_slabs
SLAB_NR_PAGES = 9              # pages in this cache's slabs
SLAB_ACTIVE_OBJS = 10          # objects in use
SLAB_ALLOC_FAILED = 11         # model: allocations that got no slab page
NR_SLAB = 12

# --- per-request statistics by the request's migratetype (model diagnostics) -------
NR_LAT_BUCKETS = 40          # log2(ns) buckets of allocation latency
REQ_SLOWPATH = 0             # requests that entered the slowpath
REQ_RECLAIM_RETRIES = 1      # "goto retry" taken after should_reclaim_retry() said yes
REQ_FUTILE_RECLAIM = 2       # direct reclaim made progress, request still failed that round
REQ_STALL_NS = 3             # total stall time
REQ_DIRECT_RECLAIM = 4       # __alloc_pages_direct_reclaim() calls
REQ_RECLAIMED = 5            # pages reclaimed by this type's direct reclaim
REQ_FAILED = 6
REQ_OOM = 7                  # OOM kills triggered
REQ_COMPACT_RETRIES = 8
REQ_NOFRAGMENT_DROPS = 9
REQ_COMPACT_STALL = 10       # compact_stall by this request type
REQ_COMPACT_SUCCESS = 11     # compact_success by this request type
REQ_COMPACT_FAIL = 12        # compact_fail by this request type
REQ_COMPACT_PROMOTED = 13    # direct compaction entries at a promoted order ([PATCH 4/4])
REQ_COMPACT_MIGRATE_SCANNED = 14   # compact_migrate_scanned by this type's direct compaction
REQ_COMPACT_MIGRATED = 15    # pgmigrate_success by this type's direct compaction
NR_REQ_STATS = 16
REQ_STAT_NAMES = ["slowpath", "reclaim_retries", "futile_reclaim", "stall_ns", "direct_reclaim",
                  "direct_reclaimed", "failed", "oom_kills", "compact_retries",
                  "nofragment_drops", "compact_stall", "compact_success", "compact_fail",
                  "compact_promoted", "compact_migrate_scanned", "compact_migrated"]

# --- the lockdep view of fs_reclaim_acquire() (State.lockdep) -------------------------
# Rows: where fs_reclaim_acquire(gfp_mask) is (or would be) called.
LOCKDEP_DIRECT_RECLAIM = 0     # __perform_reclaim(): annotated for years
LOCKDEP_COMPACT_ENTRIES = 1    # __alloc_pages_direct_compact() entries (annotated or not)
LOCKDEP_COMPACT_OPENED = 2     # ... of them order-0 requests: entries [PATCH 4/4] opens
LOCKDEP_COMPACT_ANNOTATED = 3  # ... of them covered by the [PATCH 1/4] annotation
NR_LOCKDEP = 4
LOCKDEP_ROW_NAMES = ["direct_reclaim", "direct_compaction", "direct_compaction_order0",
                     "direct_compaction_annotated"]
# Columns: the gfp context of the entry.
LD_CTX_FS = 0                  # __GFP_FS: fs_reclaim map acquired
LD_CTX_FS_LOCKED = 1           # __GFP_FS while holding a filesystem lock: lockdep splat
LD_CTX_NOFS = 2                # NOFS/NOIO: the map is not taken
LD_CTX_NOFS_LOCKED = 3         # NOFS under a filesystem lock: correct
NR_LD_CTX = 4
LD_CTX_NAMES = ["gfp_fs", "gfp_fs_under_fs_lock", "nofs", "nofs_under_fs_lock"]

SCRATCH_BULK_MODE = 0     # rmqueue_bulk()'s enum rmqueue_mode
SCRATCH_BUDDY_MODE = 1    # rmqueue_buddy()'s enum rmqueue_mode
NR_SCRATCH = 8

# Model diagnostics (not /proc/vmstat): index constants into State.diag.
DIAG_NAMES = [
    "slowpath_entries",        # __alloc_pages_slowpath() calls
    "kswapd_wakeups",          # wakeup_kswapd() calls from the allocator (kswapd model: issue 3)
    "nofragment_dropped",      # defrag_mode dropped ALLOC_NOFRAGMENT after the retry loops
    "nofragment_second_pass",  # defrag_mode=0 UMA second pass without ALLOC_NOFRAGMENT
    "pcp_refills",             # rmqueue_bulk() calls
    "pcp_drains",              # free_pcppages_bulk() calls
    "highatomic_reserved",     # reserve_highatomic_pageblock() retypes
    "highatomic_unreserved",   # unreserve_highatomic_pageblock() retypes
    "free_unknown_handle",     # frees of pages the model never allocated (pre-trace pages)
    "alloc_failed_total",
    "slowpath_loop_cap",       # MODEL: requests failed after MAX_SLOWPATH_LOOPS retries
    "nofail_failed",           # __GFP_NOFAIL requests the model had to fail
    "oom_kills_no_victim",     # out_of_memory() found nothing to kill
    "refaults",                # touches of swapped/evicted handles
    "ops_of_dead_owners",      # ops skipped because their owner was OOM-killed
    "oomd_kills",              # userspace pressure-guard kills
    "manual_compact_ns",       # time spent in /proc/sys/vm/compact_memory writes
    "compact_captured",        # direct compaction handed the request a captured page
    "forgotten_handles",       # slots a streamed workload reused while the model held them
                               # (a replay's: also readahead folios kept where the kernel failed)
    "page_reporting_reports",  # free page reports made (prdev->report() calls)
    "page_reporting_pages",    # pages in them
    "compact_deferred_tries",  # direct compaction tries that ended COMPACT_DEFERRED (every zone deferred)
    # a replay's readahead windows (driver.readahead_op)
    "readahead_fell_back",     # large folios the kernel got and the model did not
    "readahead_kept",          # large folios the kernel failed and the model got (kept)
    "readahead_order0_pages",  # order-0 pages read where the kernel had large folios
    "readahead_stopped",       # windows an order-0 read failure ended
    "kswapd_rounds",           # kswapd's rounds: from a wakeup out of its sleep to its next sleep
    "kswapd_idle_rounds",      # ... of them that reclaimed no LRU page (the node was balanced)
]
# DIAG_<NAME> = its index in DIAG_NAMES (DIAG_SLOWPATH_ENTRIES = 0, ...), one per name
globals().update({f"DIAG_{_n.upper()}": _i for _i, _n in enumerate(DIAG_NAMES)})
NR_DIAG = len(DIAG_NAMES)

Recorder = namedtuple("Recorder", [
    # mm_page_alloc_extfrag ring (flushed by the Python driver between chunks)
    "ext_t", "ext_pfn", "ext_alloc_order", "ext_fallback_order",
    "ext_alloc_mt", "ext_fallback_mt", "ext_change_ownership", "ext_count",
])

#: Room the driver keeps free in the event ring before each op: one order-0 PCP
#: refill can emit up to ``batch`` extfrag events (one per stolen page).
EVENT_HEADROOM = 4096


def make_recorder(capacity: int = 1 << 16) -> Recorder:
    cap = max(int(capacity), 2 * EVENT_HEADROOM)
    return Recorder(
        ext_t=np.zeros(cap, np.int64), ext_pfn=np.zeros(cap, np.int64),
        ext_alloc_order=np.zeros(cap, np.int8), ext_fallback_order=np.zeros(cap, np.int8),
        ext_alloc_mt=np.zeros(cap, np.int8), ext_fallback_mt=np.zeros(cap, np.int8),
        ext_change_ownership=np.zeros(cap, np.int8), ext_count=np.zeros(1, np.int64),
    )


def int_sqrt(x: int) -> int:
    return math.isqrt(int(x))


def calculate_min_free_kbytes(lowmem_pages: int, nr_zones: int, thp_enabled: bool,
                              pageblock_nr_pages: int) -> int:
    """Mirror of mm/page_alloc.c:calculate_min_free_kbytes() plus
    mm/khugepaged.c:set_recommended_min_free_kbytes() when THP is enabled.

    MODEL: khugepaged counts the node's populated zones; the model has two
    (DMA32, Normal) where x86-64 hardware has three (DMA too), so the THP
    recommendation is 2/3 of a real machine's.  Pass ``min_free_kbytes``
    explicitly to match a real machine.
    """
    lowmem_kbytes = lowmem_pages * (C.PAGE_SIZE >> 10)
    kb = min(max(int_sqrt(lowmem_kbytes * 16), 128), 262144)
    if thp_enabled:
        # MODEL: nr_zones counts DMA32 and Normal only (no ZONE_DMA)
        rec = pageblock_nr_pages * nr_zones * 2
        rec += pageblock_nr_pages * nr_zones * C.MIGRATE_PCPTYPES * C.MIGRATE_PCPTYPES
        rec = min(rec, lowmem_pages // 20)
        rec <<= (C.PAGE_SHIFT - 10)
        kb = max(kb, rec)
    return kb


def setup_per_zone_wmarks(managed, min_free_kbytes: int, watermark_scale_factor: int):
    """Mirror of mm/page_alloc.c:__setup_per_zone_wmarks() for lowmem zones.

    Returns an int64 array ``[zone, WMARK_MIN..WMARK_PROMO]``.
    """
    pages_min = min_free_kbytes >> (C.PAGE_SHIFT - 10)
    lowmem_pages = int(sum(managed))
    wm = np.zeros((len(managed), C.NR_WMARK), np.int64)
    for z, m in enumerate(managed):
        if m == 0:
            continue
        tmp = pages_min * int(m) // lowmem_pages
        wm[z, C.WMARK_MIN] = tmp
        gap = max(tmp >> 2, int(m) * watermark_scale_factor // 10000)
        wm[z, C.WMARK_LOW] = wm[z, C.WMARK_MIN] + gap
        wm[z, C.WMARK_HIGH] = wm[z, C.WMARK_LOW] + gap
        wm[z, C.WMARK_PROMO] = wm[z, C.WMARK_HIGH] + gap
    return wm


def setup_per_zone_lowmem_reserve(managed, ratio_dma32: int):
    """Mirror of mm/page_alloc.c:setup_per_zone_lowmem_reserve().

    ``lowmem_reserve[i][j]`` (j > i) = managed pages of zones i+1..j / ratio[i];
    ratios DMA32=256 (sysctl ``lowmem_reserve_ratio``), Normal=32 (unused: no
    zone above Normal in the model).
    """
    nz = len(managed)
    ratios = [ratio_dma32, 32]
    res = np.zeros((nz, nz), np.int64)
    for i in range(nz):
        acc = 0
        for j in range(i + 1, nz):
            acc += int(managed[j])
            res[i, j] = acc // ratios[i] if managed[i] else 0
    return res


def zone_batchsize(managed: int) -> int:
    """Mirror of mm/page_alloc.c:zone_batchsize() (CONFIG_MMU)."""
    batch = min(managed >> 10, (1 << 20) // C.PAGE_SIZE)
    batch //= 4
    if batch < 1:
        batch = 1
    x = batch + batch // 2
    batch = (1 << (x.bit_length() - 1)) - 1   # rounddown_pow_of_two(x) - 1
    return max(batch, 1)


def zone_highsize(low_wmark: int, batch: int, nr_cpus: int) -> int:
    """Mirror of mm/page_alloc.c:zone_highsize() for ``high_min`` (fraction 0).

    MODEL: pcp->high is fixed at high_min; the kernel auto-tunes it between
    high_min and high_max (alloc_factor/free_count decay, ZONE_BELOW_HIGH).
    """
    high = low_wmark // max(nr_cpus, 1)     # MODEL: high_min only, never tuned
    return max(high, batch << 2)


# --- State.ra_state: a replayed readahead window (driver.readahead_op) -------------
RA_MODE = 0       # RA_MODE_*
RA_SKIP = 1       # RA_MODE_AHEAD: order-0 fallback ops its large folio covers yet
RA_KEEP = 2       # the handle of a folio served where the kernel failed (kept: -1 none)
RA_ORDER = 3      # the window's folio order and gfp (RA_MODE_AHEAD: the next folio's)
RA_GFP = 4
NR_RA_FIELDS = 5
RA_MODE_KERNEL = 0    # the window goes as the kernel's did
RA_MODE_FALLBACK = 1  # the model failed a folio the kernel got: the rest as order-0
RA_MODE_AHEAD = 2     # the model got a folio the kernel failed: folios, not order-0
RA_MODE_DONE = 3      # an order-0 read failed: the window reads nothing more


def _ra_state() -> np.ndarray:
    st = np.zeros((C.NR_RA_SLOTS, NR_RA_FIELDS), np.int64)
    st[:, RA_KEEP] = -1
    return st


def kswapd_wake_latencies_ns(us) -> np.ndarray:
    """The latencies (ns) a sleeping kswapd takes to run once woken, in the
    order the model uses them (one per wakeup, cycling): ``us`` (µs, e.g. a
    trace's quantiles) in a fixed shuffled order, so consecutive wakeups
    draw from the whole distribution and every run draws the same; [0]
    without them (kswapd runs at once)."""
    if not us:
        return np.zeros(1, np.int64)
    ns = np.array([int(round(float(x) * 1000)) for x in us], np.int64)
    return ns[np.random.default_rng(0x5eed).permutation(len(ns))]


def make_state(config, block_types=None, reserved=None, nr_memcg=1) -> State:
    """Boot a node for ``config``: all memory free in MAX_PAGE_ORDER chunks,
    every pageblock MIGRATE_MOVABLE (memmap_init marks them so).

    ``block_types``: per-pageblock migratetypes to start from instead (a
    replay's initial state); MAX_PAGE_ORDER units must be of one type.
    ``reserved``: a bool per pfn, the pages memblock reserved at boot (a
    replay's machine: zoneinfo's present less managed pages); they stay out
    of the buddy allocator and of the zones' managed pages, on which the
    watermarks, lowmem reserves and pcp sizes are computed
    (``page_alloc.init_free_memory``).
    ``nr_memcg``: memory cgroups, in the order of a pre-order walk of the
    hierarchy (``mem_cgroup_iter()``); 0 is the root, where every folio is
    charged unless the workload says otherwise (``NODE_MEMCG_CHARGE``)."""
    n = config.nr_pages
    if not 1 <= int(nr_memcg) <= C.MAX_MEMCGS:
        raise ValueError(f"nr_memcg: {nr_memcg} memory cgroups; a state holds 1 to "
                         f"{C.MAX_MEMCGS}")
    nr_memcg = int(nr_memcg)
    nblocks = config.nr_pageblocks
    spans = config.zone_spans()
    nz = C.MAX_NR_ZONES
    res = np.zeros(0, np.uint8)
    if reserved is not None:
        res = np.asarray(reserved).astype(np.uint8)
        if res.shape != (n,):
            raise ValueError(f"reserved: {res.shape[0]} pfns, the config has {n}")
    managed = np.array([e - s - (int(res[s:e].sum()) if len(res) else 0) for s, e in spans],
                       np.int64)
    ncpu = config.cpus

    st = State(
        pg_next=np.full(n, -1, np.int32), pg_prev=np.full(n, -1, np.int32),
        pg_order=np.full(n, -1, np.int8), pg_flags=np.zeros(n, np.uint16),
        pg_handle=np.full(n, -1, np.int32), pg_memcg=np.zeros(n if nr_memcg > 1 else 1, np.int8),
        block_mt=np.full(nblocks, C.MIGRATE_MOVABLE, np.uint8),
        zone_start=np.array([s for s, _ in spans], np.int64),
        zone_end=np.array([e for _, e in spans], np.int64),
        zone_managed=managed,
        # free_area[order].free_list[mt] heads/tails, flat: see page_alloc.free_list_id()
        free_head=np.full(nz * C.NR_PAGE_ORDERS * C.MIGRATE_TYPES, -1, np.int32),
        free_tail=np.full(nz * C.NR_PAGE_ORDERS * C.MIGRATE_TYPES, -1, np.int32),
        nr_free=np.zeros((nz, C.NR_PAGE_ORDERS), np.int64),
        nr_free_mt=np.zeros((nz, C.NR_PAGE_ORDERS, C.MIGRATE_TYPES), np.int64),
        zone_stat=np.zeros((nz, C.NR_ZONE_STATS), np.int64),
        watermark=np.zeros((nz, C.NR_WMARK), np.int64),
        watermark_boost=np.zeros(nz, np.int64),
        lowmem_reserve=np.zeros((nz, nz), np.int64),
        zone_flags=np.zeros(nz, np.int64),
        compact_defer=np.zeros((nz, 3), np.int64),
        zone_compact=np.zeros((nz, NR_ZC), np.int64),
        block_skip=np.zeros(nblocks, np.uint8),
        cc=np.zeros((2, NR_CC), np.int64),
        cc_migratepages=np.full((2, config.pageblock_nr_pages), -1, np.int64),
        cc_freepages=np.full((2, NR_CC_FREE), -1, np.int64),
        capc=np.zeros(NR_CAPC, np.int64),
        cev=np.zeros((CEV_CAPACITY, NR_CEV), np.int64),
        cev_count=np.zeros(2, np.int64),
        wb_ring=np.zeros((wb_capacity(n), NR_WB), np.int64),
        slab_cache=make_slab_caches(),
        pr_sgl=np.full(C.PAGE_REPORTING_CAPACITY, -1, np.int64),
        pr_order=np.zeros(C.PAGE_REPORTING_CAPACITY, np.int64),
        # per_cpu_pages.lists[pindex] heads/tails, flat: see page_alloc.pcp_list_id()
        pcp_head=np.full(ncpu * nz * C.NR_PCP_LISTS, -1, np.int32),
        pcp_tail=np.full(ncpu * nz * C.NR_PCP_LISTS, -1, np.int32),
        pcp_count=np.zeros((ncpu, nz), np.int64),
        pcp_batch=np.zeros(nz, np.int64), pcp_high=np.zeros(nz, np.int64),
        pcp_alloc_factor=np.zeros((ncpu, nz), np.int64),
        pcp_free_count=np.zeros((ncpu, nz), np.int64),
        lru_head=np.full(nr_memcg * C.NR_LRU_LISTS, -1, np.int32),
        lru_tail=np.full(nr_memcg * C.NR_LRU_LISTS, -1, np.int32),
        lru_size=np.zeros(C.NR_LRU_LISTS, np.int64),
        lru_zone_size=np.zeros((nz, C.NR_LRU_LISTS), np.int64),
        memcg_lru_size=np.zeros((nr_memcg, C.NR_LRU_LISTS), np.int64),
        memcg_online=np.ones(nr_memcg, np.uint8),
        node=np.zeros(NR_NODE, np.int64),
        sc=np.zeros((2, NR_SC), np.int64),
        lat_hist=np.zeros((C.MIGRATE_PCPTYPES, NR_LAT_BUCKETS), np.int64),
        req_stats=np.zeros((C.MIGRATE_PCPTYPES, NR_REQ_STATS), np.int64),
        lockdep=np.zeros((NR_LOCKDEP, NR_LD_CTX), np.int64),
        vm_events=np.zeros(C.NR_VM_EVENTS, np.int64), clock=np.zeros(1, np.int64),
        diag=np.zeros(NR_DIAG, np.int64),
        alloc_failed=np.zeros((C.NR_PAGE_ORDERS, C.MIGRATE_TYPES), np.int64),
        scratch=np.zeros(NR_SCRATCH, np.int64),
        kswapd_wake_lat=kswapd_wake_latencies_ns(config.kswapd_wake_latency_us),
        ra_state=_ra_state(),
    )
    # Watermarks and reserves (boot-time sysctl handlers).
    mfk = config.min_free_kbytes
    if mfk is None:
        nr_zones = int((managed > 0).sum())
        mfk = calculate_min_free_kbytes(int(managed.sum()), nr_zones, config.thp_enabled,
                                        config.pageblock_nr_pages)
    st.watermark[:] = setup_per_zone_wmarks(managed, mfk, config.watermark_scale_factor)
    st.lowmem_reserve[:] = setup_per_zone_lowmem_reserve(managed, config.lowmem_reserve_ratio_dma32)
    for z in range(nz):
        if managed[z] == 0:
            continue
        b = zone_batchsize(int(managed[z]))
        st.pcp_batch[z] = b
        st.pcp_high[z] = zone_highsize(int(st.watermark[z, C.WMARK_LOW]), b, ncpu)
    # Compaction cursors start at the zone ends (reset_cached_positions()).
    for z in range(nz):
        s, e = spans[z]
        if e > s:
            last = (e - 1) & ~(config.pageblock_nr_pages - 1)
            st.zone_compact[z, :5] = [s, s, last, s, last]
    st.node[NODE_OBJ_LRU_HEAD] = st.node[NODE_OBJ_LRU_TAIL] = -1
    st.node[NODE_PR_NEXT_WORK] = -1
    st.node[NODE_MEMCG_ITER_POS] = -1
    st.node[NODE_PR_LIST] = -2
    # kcompactd_run(): kcompactd_highest_zoneidx = nr_zones - 1
    st.node[NODE_KCOMPACTD_HIGHEST_ZONEIDX] = max(z for z in range(nz) if managed[z] > 0)
    if block_types is not None:
        bt = np.asarray(block_types)
        if bt.shape != st.block_mt.shape:
            raise ValueError(f"block_types: {bt.shape[0]} blocks, the config has {nblocks}")
        st.block_mt[:] = bt.astype(np.uint8)
    # Hand all memory to the buddy allocator (memblock_free_all -> __free_pages_core).
    from .page_alloc import init_free_memory
    init_free_memory(st, config.to_params(), res)
    return st


def make_slab_caches() -> np.ndarray:
    """kmem_cache_create() of every cache of SLAB_CACHES: its geometry
    (calculate_sizes(): the order of /proc/slabinfo's pagesperslab, and the
    smallest order holding one object), set_min_partial() (ilog2(size) / 2
    clamped to 5..10), empty lists."""
    t = np.zeros((C.NR_SLAB_CACHES, NR_SLAB), np.int64)
    for i, (_name, size, _objs, pages, shrinkable) in enumerate(C.SLAB_CACHES):
        t[i, SLAB_OBJSIZE] = size
        t[i, SLAB_ORDER] = int(pages).bit_length() - 1
        t[i, SLAB_MIN_ORDER] = max(0, (size - 1).bit_length() - C.PAGE_SHIFT)
        t[i, SLAB_SHRINKABLE] = int(shrinkable)
        t[i, SLAB_MIN_PARTIAL] = min(max((int(size).bit_length() - 1) // 2, 5), 10)
        t[i, SLAB_PARTIAL_HEAD] = t[i, SLAB_PARTIAL_TAIL] = -1
    return t


def min_free_kbytes_of(config) -> int:
    if config.min_free_kbytes is not None:
        return config.min_free_kbytes
    managed = [e - s for s, e in config.zone_spans()]
    return calculate_min_free_kbytes(sum(managed), sum(1 for m in managed if m),
                                     config.thp_enabled, config.pageblock_nr_pages)


def state_nbytes(st: State) -> int:
    """Bytes of model state (all arrays)."""
    return int(sum(a.nbytes for a in st))


Owners = namedtuple("Owners", [
    # per handle (one allocation of the workload): where its data is
    "h_pfn", "h_order", "h_state", "h_owner", "h_content", "h_gfp", "h_shadow",
    "h_lru_next", "h_lru_prev",    # a shrinkable slab object's place on the list_lru
    # per owner (task, file, kernel cache)
    "o_kind", "o_rss", "o_swap", "o_pt", "o_dead",
])


def make_owners(nr_handles: int, owner_of_handle, owner_kind) -> Owners:
    """Handle and owner tables for a workload (see :mod:`defragsim.workload`)."""
    nh = max(int(nr_handles), 1)
    no = max(len(owner_kind), 1)
    h_owner = np.zeros(nh, np.int32)
    if nr_handles:
        h_owner[:nr_handles] = owner_of_handle
    o_kind = np.zeros(no, np.uint8)
    if len(owner_kind):
        o_kind[:len(owner_kind)] = owner_kind
    return Owners(
        h_pfn=np.full(nh, -1, np.int32), h_order=np.zeros(nh, np.int8),
        h_state=np.zeros(nh, np.uint8), h_owner=h_owner, h_content=np.zeros(nh, np.uint8),
        h_gfp=np.zeros(nh, np.int64), h_shadow=np.zeros(nh, np.int64),
        h_lru_next=np.full(nh, -1, np.int32), h_lru_prev=np.full(nh, -1, np.int32),
        o_kind=o_kind, o_rss=np.zeros(no, np.int64), o_swap=np.zeros(no, np.int64),
        o_pt=np.zeros(no, np.int64), o_dead=np.zeros(no, np.uint8),
    )


def grow_owners(holder: list, nr_handles: int, owner_kind) -> Owners:
    """``holder[0]`` (an Owners) with room for ``nr_handles`` handle slots
    (grown by at least half) and the owners of ``owner_kind`` (their kinds
    written); the existing entries are kept.  The caller passes its only
    reference in ``holder``: the tables are copied one at a time, each old
    one freed before the next is made, so growing never holds two copies of
    every table at once.  Returns the same Owners when it has room."""
    own = holder[0]
    nh, no = own.h_pfn.shape[0], own.o_kind.shape[0]
    need_o = max(len(owner_kind), 1)
    if nr_handles <= nh and need_o <= no:
        own.o_kind[:len(owner_kind)] = owner_kind
        return own
    size = {"h_": max(nr_handles, nh + nh // 2) if nr_handles > nh else nh,
            "o_": max(need_o, no + no // 2) if need_o > no else no}
    old = dict(own._asdict())
    holder[0] = own = None
    for name in Owners._fields:
        n = size[name[:2]]
        if old[name].shape[0] == n:
            continue
        a = old.pop(name)
        if name in ("h_pfn", "h_lru_next", "h_lru_prev"):
            b = np.full(n, -1, a.dtype)
        else:
            # zeroed lazily by the OS: the slots beyond those in use take no memory
            b = np.zeros(n, a.dtype)
        b[:a.shape[0]] = a
        old[name] = b
        del a
    old["o_kind"][:len(owner_kind)] = owner_kind
    return Owners(**old)


# Compiled functions take the model's namedtuples by reference: one pointer,
# not ~500 flattened arguments (defragsim._jit.pass_by_reference; Params is
# registered there, as defragsim.config does not import numba).
for _cls in (State, Recorder, Owners):
    pass_by_reference(_cls)
