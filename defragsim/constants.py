"""Kernel enums and name tables, as plain module-level ints.

Numba treats module-level ints as compile-time constants, so these can be used
inside jitted code exactly like the kernel's ``#define``/``enum`` values.
Names are the kernel's (include/linux/mmzone.h, mm/internal.h / mm/page_alloc.h,
include/linux/compaction.h, include/linux/vm_event_item.h).
"""

# --- Geometry defaults (x86-64, 4 KiB pages) --------------------------------
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_PAGE_ORDER = 10
NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1
PAGEBLOCK_ORDER_DEFAULT = 9
PAGE_ALLOC_COSTLY_ORDER = 3
#: HPAGE_PMD_ORDER on x86-64 (PMD_SHIFT - PAGE_SHIFT): the THP order
HPAGE_PMD_ORDER = 9
MAX_RECLAIM_RETRIES = 16
MAX_COMPACT_RETRIES = 16
COMPACT_MAX_DEFER_SHIFT = 6
#: HPAGE_FRAG_CHECK_INTERVAL_MSEC (mm/compaction.c): kcompactd's wait, its proactive check period
HPAGE_FRAG_CHECK_INTERVAL_NS = 500_000_000
SWAP_CLUSTER_MAX = 32
COMPACT_CLUSTER_MAX = SWAP_CLUSTER_MAX
DEF_PRIORITY = 12

# --- enum migratetype (include/linux/mmzone.h, CONFIG_CMA=y) ------------------
MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
MIGRATE_PCPTYPES = 3
MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES
MIGRATE_CMA = 4
MIGRATE_ISOLATE = 5
MIGRATE_TYPES = 6

#: mm/vmstat.c migratetype_names[] (with CONFIG_CMA and CONFIG_MEMORY_ISOLATION)
MIGRATETYPE_NAMES = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"]
#: lower-case keys used in JSON and DataFrames
MIGRATETYPE_KEYS = ["unmovable", "movable", "reclaimable", "highatomic", "cma", "isolate"]

# --- Zones -------------------------------------------------------------------
# MODEL: no ZONE_DMA (the first 16 MiB); GFP_DMA requests are served by DMA32.
ZONE_DMA32 = 0
ZONE_NORMAL = 1
MAX_NR_ZONES = 2
ZONE_NAMES = ["DMA32", "Normal"]

# --- Watermarks (enum zone_watermarks) ---------------------------------------
WMARK_MIN = 0
WMARK_LOW = 1
WMARK_HIGH = 2
WMARK_PROMO = 3
NR_WMARK = 4

# --- ALLOC_* (mm/internal.h in v6.x; mm/page_alloc.h in the 2026 mm tree) -----
ALLOC_WMARK_MIN = WMARK_MIN
ALLOC_WMARK_LOW = WMARK_LOW
ALLOC_WMARK_HIGH = WMARK_HIGH
ALLOC_NO_WATERMARKS = 0x04
ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1
ALLOC_OOM = 0x08
ALLOC_NON_BLOCK = 0x10
ALLOC_MIN_RESERVE = 0x20
ALLOC_CPUSET = 0x40
ALLOC_CMA = 0x80
ALLOC_NOFRAGMENT = 0x100
ALLOC_HIGHATOMIC = 0x200
ALLOC_TRYLOCK = 0x400
ALLOC_KSWAPD = 0x800
# MODEL: a model-only flag: a replay's prefill falls back without claiming
# pageblocks (__rmqueue_steal only), so the pageblock types the snapshot shows stay
ALLOC_PREFILL_KEEP_TYPES = 0x1000
ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM

# --- enum rmqueue_mode --------------------------------------------------------
RMQUEUE_NORMAL = 0
RMQUEUE_CMA = 1
RMQUEUE_CLAIM = 2
RMQUEUE_STEAL = 3

# --- find_suitable_fallback() results (v6.15+: -1 / -2 sentinels) ---------------
FALLBACK_EMPTY = -1
FALLBACK_NOCLAIM = -2

# --- Per-page flags (model encoding of struct page flags) -----------------------
PG_buddy = 0x01      # PageBuddy: head page of a free chunk in a buddy free list
PG_pcp = 0x02        # head page of a chunk parked on a per-cpu list
PG_head = 0x04       # head page of an allocated chunk (folio)
PG_tail = 0x08       # non-head page of an allocated chunk
PG_lru = 0x10        # PageLRU (set on every page of an LRU folio in the model)
PG_active = 0x20
PG_referenced = 0x40
PG_dirty = 0x80
PG_young = 0x100      # the PTE accessed bit (folio_referenced()); set by touches
PG_workingset = 0x200
PG_reclaim = 0x400    # written back for reclaim: rotate to the inactive tail
# MODEL: no PG_swapbacked bit: a folio is swap-backed when it holds anon
# memory (KIND_ANON; the model has no shmem), so its bit serves writeback
PG_writeback = 0x800  # the folio's write to disk is in flight (State.wb_ring holds its end)
#: PageReported (free page reporting): only on free buddy chunks, so it shares
#: PG_dirty's bit (the kernel's PG_reported aliases PG_uptodate the same way)
PG_reported = 0x80
PG_pinned = 0x1000    # long-term pinned (FOLL_LONGTERM: RDMA, vfio, io_uring buffers):
                      # folio_maybe_dma_pinned(); neither migratable nor reclaimable
# MODEL: what a page holds (KIND_*) sits in the top three bits of its flags word,
# as the kernel keeps zone, node and section numbers in the top bits of
# page->flags: 15 bytes of model state per page instead of 16.
PG_KIND_SHIFT = 13
PG_FLAGS_MASK = (1 << PG_KIND_SHIFT) - 1

# --- What an allocated page holds (model; kpageflags-like classes) --------------
KIND_NONE = 0          # free (buddy or pcp) page
KIND_ANON = 1          # anonymous memory, swap-backed, on the LRU
KIND_FILE = 2          # page cache, on the LRU
KIND_SLAB_RECLAIMABLE = 3  # dentries, inodes: freed by shrinkers
KIND_SLAB_UNRECLAIMABLE = 4
KIND_PAGETABLE = 5
KIND_KERNEL = 6        # other unmovable kernel memory: stacks, net buffers, pipe pages, vmalloc
NR_KINDS = 7
KIND_NAMES = ["free", "anon", "file", "slab_reclaimable", "slab_unreclaimable",
              "pagetable", "kernel"]

# --- PCP list layout (mm/page_alloc.c: order_to_pindex) -------------------------
NR_LOWORDER_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1)
NR_PCP_LISTS = NR_LOWORDER_PCP_LISTS + 2   # + THP movable / non-movable

# --- enum lru_list (include/linux/mmzone.h) ------------------------------------
LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1
LRU_INACTIVE_FILE = 2
LRU_ACTIVE_FILE = 3
# MODEL: index 4 is the reclaimable-slab shrinker list (LRU_UNEVICTABLE in the
# kernel; nothing in the model is unevictable).
LRU_SLAB = 4
NR_LRU_LISTS = 5
#: memory cgroups a model state can hold (State.pg_memcg is an int8)
MAX_MEMCGS = 127
LRU_NAMES = ["inactive_anon", "active_anon", "inactive_file", "active_file", "slab_reclaimable"]

# --- Workload op codes (model) ---------------------------------------------------
OP_ALLOC = 0      # allocate a chunk for a handle
OP_FREE = 1       # the owner frees the handle
OP_TOUCH = 2      # the owner accesses the handle (refaults it if swapped/evicted)
OP_DIRTY = 3      # the owner writes the handle (file pages become dirty)
OP_COMPACT_MEMORY = 4  # echo 1 > /proc/sys/vm/compact_memory (compact_node(), MIGRATE_SYNC)
OP_NAMES = ["alloc", "free", "touch", "dirty", "compact_memory"]
#: bit in a workload's ``content`` column: the allocation is long-term pinned
CONTENT_PINNED = 0x80
#: bit in a workload's ``content`` column: the request is made while holding a
#: filesystem lock (a journal handle, i_rwsem in a writeback path, ...); the
#: lockdep view of [PATCH 1/4] flags __GFP_FS entries from such contexts
CONTENT_FS_LOCKED = 0x40
#: bit in a workload's ``content`` column: the op is on one slab object
#: (kmem_cache_alloc / kmem_cache_free); the ``order`` column holds its cache
#: (an index of SLAB_CACHES), the page order comes from the cache
CONTENT_SLAB_OBJECT = 0x20
#: bit in a workload's ``content`` column: an allocation of a replay's prefill
#: (the machine's memory at the start of a trace), placed without watermarks
CONTENT_PREFILL = 0x10
#: bit in a workload's ``content`` column, with CONTENT_PREFILL: a folio the
#: trace frees before allocating it, placed where the machine had it
#: (page_alloc.take_page_off_buddy); the ``gfp`` column's bits 32 and up hold
#: its pfn (``gfp | pfn << CONTENT_PLACED_PFN_SHIFT``)
CONTENT_PLACED = 0x08
CONTENT_PLACED_PFN_SHIFT = 32
CONTENT_FLAGS = (CONTENT_PINNED | CONTENT_FS_LOCKED | CONTENT_SLAB_OBJECT | CONTENT_PREFILL
                 | CONTENT_PLACED)

# --- A replayed readahead window (mm/readahead.c) ---------------------------------------
#: A replay marks its traced readahead allocations (page cache, __GFP_NORETRY:
#: readahead_gfp_mask()) in the ``gfp`` column's bits OP_GFP_RA_SHIFT and up
#: (a gfp_t is 32 bits): page_cache_ra_order() allocates a window's large
#: folios back to back and, at the first that fails, breaks off and reads the
#: rest of the window as order-0 folios (do_page_cache_ra()).  The trace shows
#: the kernel's outcome; the model follows its own (mm/driver.py,
#: readahead_op).  RA_SLOT_SHIFT and up: the reading task's slot.
OP_GFP_RA_SHIFT = 40
OP_GFP_GFP_MASK = (1 << OP_GFP_RA_SHIFT) - 1
RA_WINDOW_START = 0x1      # the first allocation of a window
RA_HEAD = 0x2              # a large folio of the window (order > 0)
RA_FAILED_HEAD = 0x4       # ... that the kernel failed to allocate
RA_FALLBACK = 0x8          # an order-0 folio read after the kernel's failure
RA_SLOT_SHIFT = 4
#: reading tasks tracked at once (a task's slot: its number modulo this)
NR_RA_SLOTS = 64

#: PAGE_REPORTING_CAPACITY (mm/page_reporting.h): chunks per report
PAGE_REPORTING_CAPACITY = 32

# --- Slab caches (SLUB) --------------------------------------------------------------
#: The slab caches a workload can allocate objects from: (name, object size in
#: bytes, objects per slab, pages per slab, shrinkable).  Sizes and geometry
#: are those of /proc/slabinfo on the 6.18 machine of the shared traces
#: (data/traces/*/snap/*.slabinfo: <objsize> <objperslab> <pagesperslab>);
#: "shrinkable" caches have their objects on a list_lru that a shrinker scans
#: (dentries, inodes), and are SLAB_RECLAIM_ACCOUNT (__GFP_RECLAIMABLE pages).
SLAB_CACHES = [
    ("dentry", 192, 21, 1, True),
    ("inode_cache", 624, 13, 2, True),
    ("ext4_inode_cache", 1128, 14, 4, True),
    ("proc_inode_cache", 696, 23, 4, True),
    ("shmem_inode_cache", 752, 21, 4, True),
    ("radix_tree_node", 584, 14, 2, True),
    ("buffer_head", 104, 39, 1, False),
    ("filp", 192, 21, 1, False),
    ("task_struct", 5888, 5, 8, False),
    ("mm_struct", 1600, 20, 8, False),
    ("signal_cache", 1152, 14, 4, False),
    ("sighand_cache", 2112, 15, 8, False),
    ("files_cache", 704, 23, 4, False),
    ("vm_area_struct", 192, 21, 1, False),
    ("anon_vma", 104, 39, 1, False),
    ("anon_vma_chain", 64, 64, 1, False),
    ("pid", 192, 21, 1, False),
    ("kernfs_node_cache", 136, 30, 1, False),
    ("skbuff_head_cache", 256, 16, 1, False),
    ("sock_inode_cache", 832, 19, 4, False),
    ("kmalloc-64", 64, 64, 1, False),
    ("kmalloc-128", 128, 32, 1, False),
    ("kmalloc-256", 256, 16, 1, False),
    ("kmalloc-512", 512, 16, 2, False),
    ("kmalloc-1k", 1024, 16, 4, False),
    ("kmalloc-2k", 2048, 16, 8, False),
    ("kmalloc-4k", 4096, 8, 8, False),
    ("kmalloc-8k", 8192, 4, 8, False),
]
NR_SLAB_CACHES = len(SLAB_CACHES)
#: a slab page's pg_handle packs its cache (low bits) and objects in use
SLAB_CACHE_BITS = 6
assert NR_SLAB_CACHES <= 1 << SLAB_CACHE_BITS
SLAB_CACHE_IDS = {c[0]: i for i, c in enumerate(SLAB_CACHES)}
#: what each cache's pages hold: reclaimable slab for the shrinkable caches
SLAB_CACHE_KIND = [KIND_SLAB_RECLAIMABLE if c[4] else KIND_SLAB_UNRECLAIMABLE for c in SLAB_CACHES]

# --- Handle states (model: where an allocation's data lives) ----------------------
H_NONE = 0        # not allocated yet
H_RESIDENT = 1    # in memory at h_pfn
H_SWAPPED = 2     # anon data in swap (shadow entry in the swap cache)
H_EVICTED = 3     # file page / slab object reclaimed (shadow entry left)
H_FREED = 4       # freed by its owner
H_FAILED = 5      # the allocation failed
H_KILLED = 6      # its owner was OOM-killed

# --- Owner kinds ---------------------------------------------------------------------
OWNER_KERNEL = 0  # not killable (slab caches, network, ...)
OWNER_TASK = 1    # a process: anon memory, page tables; OOM-killable
OWNER_FILE = 2    # a file's page cache
OWNER_SHMEM = 3   # shmem / tmpfs / memfd: swap-backed (KIND_ANON) folios with a mapping

# --- Zone state items (enum zone_stat_item subset + model bookkeeping) ----------
NR_FREE_PAGES = 0
NR_FREE_PAGES_BLOCKS = 1
NR_FREE_CMA_PAGES = 2
NR_FREE_HIGHATOMIC = 3       # zone->nr_free_highatomic
NR_RESERVED_HIGHATOMIC = 4   # zone->nr_reserved_highatomic
NR_ZONE_PCP = 5              # model: pages sitting on PCP lists of this zone
NR_ZONE_ALLOCATED = 6        # model: pages handed out by the allocator
NR_ZONE_STATS = 7

# --- zone->flags ----------------------------------------------------------------
ZONE_BOOSTED_WATERMARK = 0x1
ZONE_RECLAIM_ACTIVE = 0x2       # kswapd may be scanning the zone (balance_pgdat)

# --- vm_event_item (cumulative /proc/vmstat event counters) ----------------------
# VM_<NAME> indexes the model's event-counter array; VM_EVENT_NAMES[i] is the
# /proc/vmstat spelling.  Counters for subsystems a run does not exercise stay 0.
VM_PGALLOC_DMA32 = 0
VM_PGALLOC_NORMAL = 1
VM_PGFREE = 2
VM_ALLOCSTALL_DMA32 = 3
VM_ALLOCSTALL_NORMAL = 4
VM_ALLOCSTALL_MOVABLE = 5
VM_PGSCAN_KSWAPD = 6
VM_PGSCAN_DIRECT = 7
VM_PGSTEAL_KSWAPD = 8
VM_PGSTEAL_DIRECT = 9
VM_PGSCAN_ANON = 10
VM_PGSCAN_FILE = 11
VM_PGSTEAL_ANON = 12
VM_PGSTEAL_FILE = 13
VM_PSWPIN = 14
VM_PSWPOUT = 15
VM_WORKINGSET_REFAULT_ANON = 16
VM_WORKINGSET_REFAULT_FILE = 17
VM_PAGEOUTRUN = 18
VM_KSWAPD_LOW_WMARK_HIT_QUICKLY = 19
VM_KSWAPD_HIGH_WMARK_HIT_QUICKLY = 20
VM_COMPACT_MIGRATE_SCANNED = 21
VM_COMPACT_FREE_SCANNED = 22
VM_COMPACT_ISOLATED = 23
VM_COMPACT_STALL = 24
VM_COMPACT_FAIL = 25
VM_COMPACT_SUCCESS = 26
VM_COMPACT_DAEMON_WAKE = 27
VM_COMPACT_DAEMON_MIGRATE_SCANNED = 28
VM_COMPACT_DAEMON_FREE_SCANNED = 29
VM_PGMIGRATE_SUCCESS = 30
VM_PGMIGRATE_FAIL = 31
VM_THP_FAULT_ALLOC = 32
VM_THP_FAULT_FALLBACK = 33
VM_OOM_KILL = 34
VM_PGACTIVATE = 35
VM_PGDEACTIVATE = 36
VM_SLABS_SCANNED = 37
VM_WORKINGSET_ACTIVATE_ANON = 38
VM_WORKINGSET_ACTIVATE_FILE = 39
VM_WORKINGSET_NODERECLAIM = 40
VM_PGMAJFAULT = 41
VM_NR_VMSCAN_IMMEDIATE_RECLAIM = 42   # node stat NR_VMSCAN_IMMEDIATE (cumulative)
VM_NR_WRITTEN = 43                    # node stat NR_WRITTEN: pages whose writeback ended
NR_VM_EVENTS = 44
VM_EVENT_NAMES = [
    "pgalloc_dma32",
    "pgalloc_normal",
    "pgfree",
    "allocstall_dma32",
    "allocstall_normal",
    "allocstall_movable",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgscan_anon",
    "pgscan_file",
    "pgsteal_anon",
    "pgsteal_file",
    "pswpin",
    "pswpout",
    "workingset_refault_anon",
    "workingset_refault_file",
    "pageoutrun",
    "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_stall",
    "compact_fail",
    "compact_success",
    "compact_daemon_wake",
    "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned",
    "pgmigrate_success",
    "pgmigrate_fail",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "oom_kill",
    "pgactivate",
    "pgdeactivate",
    "slabs_scanned",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_nodereclaim",
    "pgmajfault",
    "nr_vmscan_immediate_reclaim",
    "nr_written",
]

# enum compact_result (include/linux/compaction.h), in increasing strength
COMPACT_NOT_SUITABLE_ZONE = 0
COMPACT_SKIPPED = 1
COMPACT_DEFERRED = 2
COMPACT_NO_SUITABLE_PAGE = 3
COMPACT_CONTINUE = 4
COMPACT_COMPLETE = 5
COMPACT_PARTIAL_SKIPPED = 6
COMPACT_CONTENDED = 7
COMPACT_SUCCESS = 8
COMPACT_RESULT_NAMES = ["not_suitable_zone", "skipped", "deferred", "no_suitable_page",
                        "continue", "complete", "partial_skipped", "contended", "success"]

# enum compact_priority
COMPACT_PRIO_SYNC_FULL = 0
MIN_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_FULL
COMPACT_PRIO_SYNC_LIGHT = 1
MIN_COMPACT_COSTLY_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
DEF_COMPACT_PRIORITY = COMPACT_PRIO_SYNC_LIGHT
COMPACT_PRIO_ASYNC = 2
INIT_COMPACT_PRIORITY = COMPACT_PRIO_ASYNC

# Kernel baseline switches (defragsim.kernels.SWITCHES): the value indices the
# kernels read from ``prm.k_<switch>``.
NOFRAGMENT_LAST_RESORT_LOOPING = 0       # e3aa7df331bc .. a211c6550efc
NOFRAGMENT_LAST_RESORT_ONCE = 1          # 7a95a05f15d5 and later
KSWAPD_WAKE_REQUEST_ORDER = 0            # before 101f9d666e4d
KSWAPD_WAKE_PAGEBLOCK_ORDER = 1          # 101f9d666e4d and later
KSWAPD_FREE_BLOCKS_OFF = 0               # before a211c6550efc
KSWAPD_FREE_BLOCKS_EVERY_ORDER = 1       # a211c6550efc, 7a95a05f15d5
KSWAPD_FREE_BLOCKS_HIGH_ORDER = 2        # a1f0220f3319 (v6.15-rc3) and later
KCOMPACTD_FREE_BLOCKS_GOAL_OFF = 0       # before a211c6550efc
KCOMPACTD_FREE_BLOCKS_GOAL_ON = 1
COMPACT_GAP_MAINLINE = 0                 # 2 << order (every release to v7.1)
COMPACT_GAP_CAPPED = 1                   # min(2 << order, COMPACT_CLUSTER_MAX) (2026 mm tree)
DIRECT_COMPACT_DEFERRED_STALL = 0        # 6.18: only COMPACT_SKIPPED returns early
DIRECT_COMPACT_DEFERRED_RETURN = 1       # 2026 mm tree: COMPACT_DEFERRED returns early too
THISNODE_THP_RECLAIM = 0                 # before 'mm, page_alloc, thp: prevent reclaim for __GFP_THISNODE THP allocations'
THISNODE_THP_NOPAGE = 1                  # after it (mm-stable 2026-01, stable 6.18.y 2026-03)
