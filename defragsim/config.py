"""Run configuration: :class:`Config` (machine + sysctls) and :class:`Patches`.

Both are frozen dataclasses validated on construction; every problem raises
:class:`ConfigError` whose one-line message names the offending field, e.g.
``config.mem: 1 MiB is smaller than one pageblock (2 MiB)``.  ``to_params()``
lowers a Config to the flat namedtuple of scalars the jitted kernels take.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections import namedtuple
from dataclasses import dataclass, field, fields

from . import constants as C
from .kernels import DEFAULT_KERNEL, SERIES_BASE, SWITCHES, baseline


from .errors import ConfigError

#: CPUs of a machine no config or workload names: the 2-vCPU VM of the
#: shared real traces (their ``before.platform``)
DEFAULT_NR_CPUS = 2

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?\s*$", re.IGNORECASE | re.ASCII)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def parse_size(value, *, name: str) -> int:
    """Parse ``"4G"``, ``"512M"``, ``"16GiB"`` or a byte count into bytes."""
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected a size such as '4G', got {value!r}")
    if isinstance(value, (int,)):
        b = int(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{name}: expected a size such as '4G', got {value!r}")
        b = int(value)
    elif isinstance(value, str):
        m = _SIZE_RE.match(value)
        if not m:
            raise ConfigError(f"{name}: cannot parse size {value!r} (use e.g. '4G', '512M')")
        b = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    else:
        raise ConfigError(f"{name}: expected a size such as '4G', got {type(value).__name__}")
    if b <= 0:
        raise ConfigError(f"{name}: size must be positive, got {value!r}")
    return b


def format_size(nbytes: int) -> str:
    for unit, mult in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes >= mult and nbytes % mult == 0:
            return f"{nbytes // mult}{unit}"
    if nbytes >= 1 << 30:
        return f"{nbytes / (1 << 30):.2f}G"
    return f"{nbytes // (1 << 20)}M"


PATCH_SUBJECTS = {
    1: "[PATCH 1/4] mm: page_alloc: __GFP_FS lockdep annotation for direct compaction",
    2: "[PATCH 2/4] mm: compaction: support non-movable compaction for pageblock requests",
    3: "[PATCH 3/4] mm: page_alloc: move capture_control to the page allocator",
    4: "[PATCH 4/4] mm: page_alloc: fix non-movable reclaim storm in defrag_mode",
}


@dataclass(frozen=True)
class Patches:
    """One flag per patch of "mm: fix reclaim storms in defrag_mode" (June 2026).

    Each flag switches exactly the code paths its diff touches:

    1. ``__alloc_pages_direct_compact()``: fs_reclaim_acquire/release around
       try_to_compact_pages() (``page_alloc.fs_reclaim_acquire``; counted in
       ``State.lockdep``, no allocator behaviour).
    2. ``suitable_migration_source()`` and ``fast_find_migrateblock()``
       (compaction.py).
    3. where the capture_control lives: ``__alloc_pages_direct_compact()``
       vs ``compact_zone_order()``, and ``task_capc()`` checking ``capc->cc``
       (no behaviour change).
    4. ``__alloc_pages_direct_compact()`` / ``__alloc_pages_direct_reclaim()``
       order promotion, ``capc.order`` in ``compaction_capture()``, deferral
       reset at the compaction order.  Needs 3 (refused without it).
    """

    #: [PATCH 1/4] mm: page_alloc: __GFP_FS lockdep annotation for direct compaction
    gfp_fs_lockdep_compaction: bool = False
    #: [PATCH 2/4] mm: compaction: support non-movable compaction for pageblock requests
    nonmovable_pageblock_compaction: bool = False
    #: [PATCH 3/4] mm: page_alloc: move capture_control to the page allocator
    capture_control_in_allocator: bool = False
    #: [PATCH 4/4] mm: page_alloc: fix non-movable reclaim storm in defrag_mode
    fix_nonmovable_reclaim_storm: bool = False

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, bool):
                raise ConfigError(f"patches.{f.name}: expected true/false, got {v!r}")
        if self.fix_nonmovable_reclaim_storm and not self.capture_control_in_allocator:
            raise ConfigError(
                "patches: patch 4 ('fix non-movable reclaim storm in defrag_mode') needs "
                "patch 3 ('move capture_control to the page allocator'); 4 without 3 does "
                "not exist in the kernel")

    @classmethod
    def none(cls) -> "Patches":
        return cls()

    @classmethod
    def all(cls) -> "Patches":
        return cls(True, True, True, True)

    @classmethod
    def from_numbers(cls, numbers) -> "Patches":
        nums = set()
        for n in numbers:
            if isinstance(n, bool) or not isinstance(n, int) or n not in PATCH_SUBJECTS:
                raise ConfigError(f"patches: unknown patch number {n!r} (the series has patches 1-4)")
            nums.add(n)
        return cls(*(i in nums for i in (1, 2, 3, 4)))

    @classmethod
    def parse(cls, spec) -> "Patches":
        """``"none"``, ``"all"``, ``"2,3,4"``, a list of ints, or a Patches."""
        if isinstance(spec, Patches):
            return spec
        if spec is None:
            return cls()
        if isinstance(spec, str):
            s = spec.strip().lower()
            if s in ("", "none", "0"):
                return cls()
            if s == "all":
                return cls.all()
            nums = []
            for part in re.split(r"[,\s+]+", s):
                if not part:
                    continue
                if not (part.isascii() and part.isdigit()):    # not "²" (isdigit() alone takes it)
                    raise ConfigError(f"patches: cannot parse {spec!r} (use none, all, or e.g. 2,3,4)")
                nums.append(int(part))
            return cls.from_numbers(nums)
        if isinstance(spec, (list, tuple, set, frozenset)):
            return cls.from_numbers(list(spec))
        raise ConfigError(f"patches: cannot parse {spec!r} (use none, all, or e.g. 2,3,4)")

    def numbers(self) -> list[int]:
        return [i for i, f in enumerate(fields(self), start=1) if getattr(self, f.name)]

    def label(self) -> str:
        n = self.numbers()
        if not n:
            return "none"
        if n == [1, 2, 3, 4]:
            return "all"
        return ",".join(map(str, n))


@dataclass(frozen=True)
class Config:
    """A simulated machine: one node, zones DMA32 + Normal, and the vm sysctls.

    Parameters
    ----------
    mem : str or int
        Total memory ("4G", "512M" or bytes).  Rounded down to whole
        MAX_PAGE_ORDER blocks (4 MiB), so buddies never straddle a zone.
    dma32 : str or int, optional
        Size of ZONE_DMA32 (the start of memory).  Default: a quarter of memory,
        at most 3 GiB (x86-64 puts the 32-bit PCI hole below 4 GiB).  ``0`` gives
        a Normal-only node.
    defrag_mode : int
        ``vm.defrag_mode`` (0 or 1).
    patches : Patches or str
        Which patches of the series are applied ("none", "all", "2,3,4").
    min_free_kbytes : int, optional
        ``vm.min_free_kbytes``; default computed as the kernel does at boot
        (``int_sqrt(lowmem_kbytes * 16)`` clamped, then raised by khugepaged's
        recommendation when ``thp_enabled``).
    thp_enabled : bool
        Whether THP is enabled at boot for ``min_free_kbytes``'s sake only:
        khugepaged's ``set_recommended_min_free_kbytes()`` raises the default
        when it is.  The THP faults themselves are the scenario's (``thp_share``,
        ``[[thp_bursts]]``) and happen either way; to leave them out, use a
        scenario without them (``thp_defrag`` sets how hard they try).
    watermark_scale_factor, watermark_boost_factor : int
        The sysctls of the same names (defaults 10 and 15000).
    nr_cpus : int, optional
        The machine's CPUs: each has per-cpu page lists, the workload's tasks
        run on them, and kswapd and kcompactd share them with the workload
        (``runnable_tasks``).  ``None`` (default): what the workload says (a
        scenario's ``nr_cpus``, a replay's snapshot ``before.platform``), else
        :data:`DEFAULT_NR_CPUS`; ``run()`` resolves it, so a Result's config
        holds the number used (:attr:`cpus` is the number before that).
    pcp : bool
        Model per-cpu page lists (True) or free straight into the buddy lists.
    seed : int
        Seed for synthetic workload generation; the model itself is deterministic.
    swap : str or int, optional
        Swap device size; ``None`` lets the scenario decide, ``0`` means none.
        At most 4x memory.
    swappiness : int
        ``vm.swappiness`` (0..200, default 60).
    kernel : str
        The kernel baseline the model behaves like (:mod:`defragsim.kernels`,
        ``defragsim kernels``): ``"mm-2026"`` (the series' base, default),
        ``"6.18"``, ``"6.15"``, ``"7a95a05f15d5"``, ``"a211c6550efc"``,
        ``"101f9d666e4d"``, ``"e3aa7df331bc"`` or ``"6.14"``.
    oomd : OomdConfig, dict or bool, optional
        A userspace pressure guard (off by default).
    compaction_proactiveness : int
        ``vm.compaction_proactiveness`` (0..100, default 20; 0 disables
        kcompactd's proactive passes).
    thp_defrag : str
        ``/sys/kernel/mm/transparent_hugepage/defrag``: ``always``, ``defer``,
        ``defer+madvise``, ``madvise`` (default) or ``never``; chooses the gfp
        mask of THP faults (``vma_thp_gfp_mask()``).
    page_reporting_order : int, optional
        Free page reporting (``CONFIG_PAGE_REPORTING`` with a virtio-balloon
        device): free chunks of this order or more are reported to the
        hypervisor, off the free lists while a report is in flight
        (:mod:`defragsim.mm.page_reporting`).  ``None`` (default): off; a
        replay turns it on when its snapshot shows the module's
        ``page_reporting_order``.
    runnable_tasks : float, optional
        Runnable workload tasks (on average) sharing the ``nr_cpus`` CPUs with
        kswapd and kcompactd, which then run at their fair share
        (:func:`defragsim.mm.costs.daemon_wall_ns`).  ``None`` (default): what
        the workload says (a scenario's ``runnable_tasks``, a replay's busy
        CPUs from its snapshot), else 0 (the daemons never lack CPU).
    kswapd_wake_latency_us : sequence of numbers, optional
        How long a sleeping kswapd takes to run once woken (the scheduler's
        wakeup latency, in µs): the model uses one value per wakeup, cycling
        through them in a fixed shuffled order (``state.kswapd_wake_latencies_ns``);
        1 to 64 values from 0 to 1e6.  ``None`` (default): kswapd runs at once;
        a replay takes the quantiles of its trace's own wakeup-to-run times
        (``trace.kswapd_wake_latencies``).
    readahead_folio_ns : int, optional
        How long a replayed task takes to allocate and add one order-0
        readahead folio (ns) when the model reads a window in order-0 folios
        where the trace shows a large folio: kswapd reclaims alongside
        meanwhile.  ``None`` (default): ``costs.READAHEAD_FOLIO_NS``; a
        replay takes its trace's own pace (``replay_ops.ReadaheadPace``).
    cpu_pace : float, optional
        How long the machine takes for the model's CPU work against the
        machine its costs were measured on (:mod:`defragsim.mm.costs`: the
        shipped 6.18 traces b and c): 2.0 takes twice as long to reclaim,
        scan and migrate the same pages (``costs.cpu_ns``), 0.05 to 50.
        ``None`` (default): 1.0; a replay takes its traced machine's
        (``replay.trace_cpu_pace``: kswapd's reclaim of 512-page folios).
    """

    mem: object = "1G"
    dma32: object = None
    defrag_mode: int = 0
    patches: object = field(default_factory=Patches)
    min_free_kbytes: object = None
    watermark_scale_factor: int = 10
    watermark_boost_factor: int = 15000
    lowmem_reserve_ratio_dma32: int = 256
    thp_enabled: bool = True
    nr_cpus: object = None
    pcp: bool = True
    pageblock_order: int = C.PAGEBLOCK_ORDER_DEFAULT
    seed: int = 0
    swap: object = None
    swappiness: int = 60
    kernel: str = DEFAULT_KERNEL
    oomd: object = None
    compaction_proactiveness: int = 20
    thp_defrag: str = "madvise"
    runnable_tasks: object = None
    page_reporting_order: object = None
    kswapd_wake_latency_us: object = None
    readahead_folio_ns: object = None
    cpu_pace: object = None

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("patches", Patches.parse(self.patches))
        _check_int("config.defrag_mode", self.defrag_mode, lo=0, hi=1)
        _check_int("config.seed", self.seed, lo=0, hi=2**63 - 1)
        _check_int("config.nr_cpus", self.nr_cpus, lo=1, hi=1024, opt=True)
        _check_machine(self.runnable_tasks, self.page_reporting_order, self.cpu_pace)
        set_("kswapd_wake_latency_us", _check_latencies(self.kswapd_wake_latency_us))
        _check_int("config.readahead_folio_ns", self.readahead_folio_ns, lo=0, hi=10**7, opt=True)
        _check_int("config.watermark_scale_factor", self.watermark_scale_factor, lo=1, hi=3000)
        _check_int("config.watermark_boost_factor", self.watermark_boost_factor, lo=0, hi=10**9)
        _check_int("config.lowmem_reserve_ratio_dma32", self.lowmem_reserve_ratio_dma32, lo=1, hi=10**9)
        _check_int("config.pageblock_order", self.pageblock_order, lo=1, hi=C.MAX_PAGE_ORDER)
        if not isinstance(self.pcp, bool):
            raise ConfigError(f"config.pcp: expected true/false, got {self.pcp!r}")
        if not isinstance(self.thp_enabled, bool):
            raise ConfigError(f"config.thp_enabled: expected true/false, got {self.thp_enabled!r}")
        mem = parse_size(self.mem, name="config.mem")
        block = C.PAGE_SIZE << self.pageblock_order
        if mem < block:
            raise ConfigError(f"config.mem: {format_size(mem)} is smaller than one pageblock "
                              f"({format_size(block)})")
        unit = C.PAGE_SIZE << C.MAX_PAGE_ORDER
        if mem < unit:
            raise ConfigError(f"config.mem: {format_size(mem)} is smaller than one "
                              f"MAX_PAGE_ORDER block ({format_size(unit)})")
        if mem > (1 << 40):
            raise ConfigError(f"config.mem: {format_size(mem)} is larger than the model "
                              "supports (1 TiB; pfns are 32-bit)")
        mem = _check_min_mem(mem, mem - mem % unit, unit, self.pageblock_order)
        set_("mem", mem)
        if self.dma32 is None:
            dma32 = min(mem // 4, 3 << 30)
        elif isinstance(self.dma32, (int, str)) and not isinstance(self.dma32, bool) and \
                str(self.dma32).strip() in ("0", "0M", "0G"):
            dma32 = 0
        else:
            dma32 = parse_size(self.dma32, name="config.dma32")
        dma32 -= dma32 % unit
        if dma32 > 4 << 30:
            raise ConfigError(f"config.dma32: {format_size(dma32)} is above the 4 GiB DMA32 limit")
        if dma32 >= mem:
            raise ConfigError(f"config.dma32: {format_size(dma32)} leaves no memory for "
                              f"ZONE_NORMAL (mem is {format_size(mem)})")
        set_("dma32", dma32)
        if self.swap is None:
            swap = None   # the scenario decides (no swap if it says nothing)
        elif self.swap in (0, "0", "0G", "0M"):
            swap = 0
        else:
            swap = parse_size(self.swap, name="config.swap")
        if swap is not None and swap > 4 * mem:
            raise ConfigError(f"config.swap: {format_size(swap)} is more than 4x memory "
                              f"({format_size(mem)}); the model allows at most 4x")
        set_("swap", swap)
        _check_int("config.swappiness", self.swappiness, lo=0, hi=200)
        kb = baseline(self.kernel)
        set_("kernel", kb.name)
        if self.defrag_mode and kb.value("defrag_mode_sysctl") == "absent":
            raise ConfigError(f"config.defrag_mode: kernel {kb.name} has no vm.defrag_mode "
                              "(it came with e3aa7df331bc, v6.15-rc1)")
        if self.patches.numbers() and kb.name != SERIES_BASE:
            raise ConfigError(f"config.patches: the series 'mm: fix reclaim storms in defrag_mode' "
                              f"applies to {SERIES_BASE} only, not to kernel {kb.name}")
        set_("oomd", OomdConfig.parse(self.oomd))
        _check_int("config.compaction_proactiveness", self.compaction_proactiveness, lo=0, hi=100)
        if self.thp_defrag not in THP_DEFRAG_SETTINGS:
            raise ConfigError(f"config.thp_defrag: expected one of {', '.join(THP_DEFRAG_SETTINGS)}, "
                              f"got {self.thp_defrag!r}")
        if self.min_free_kbytes is not None:
            _check_int("config.min_free_kbytes", self.min_free_kbytes, lo=128, hi=mem // 1024 // 2)

    # -- derived geometry --------------------------------------------------
    @property
    def cpus(self) -> int:
        """The CPU count: ``nr_cpus``, or :data:`DEFAULT_NR_CPUS` when it is
        left to a workload that has not been chosen yet."""
        return DEFAULT_NR_CPUS if self.nr_cpus is None else self.nr_cpus

    @property
    def nr_pages(self) -> int:
        return self.mem // C.PAGE_SIZE

    @property
    def pageblock_nr_pages(self) -> int:
        return 1 << self.pageblock_order

    @property
    def nr_pageblocks(self) -> int:
        return self.nr_pages // self.pageblock_nr_pages

    def zone_spans(self) -> list[tuple[int, int]]:
        """[(start_pfn, end_pfn)] for DMA32 and Normal (DMA32 may be empty)."""
        d = self.dma32 // C.PAGE_SIZE
        return [(0, d), (d, self.nr_pages)]

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    def label(self) -> str:
        k = "" if self.kernel == DEFAULT_KERNEL else f" kernel={self.kernel}"
        return f"{format_size(self.mem)} defrag_mode={self.defrag_mode} patches={self.patches.label()}{k}"

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["patches"] = self.patches.numbers()
        d["mem_bytes"] = self.mem
        d["mem"] = format_size(self.mem)
        d["dma32_bytes"] = self.dma32
        d["dma32"] = format_size(self.dma32) if self.dma32 else "0"
        d["swap_bytes"] = self.swap
        d["swap"] = format_size(self.swap) if self.swap else ("0" if self.swap == 0 else None)
        d["oomd"] = dataclasses.asdict(self.oomd) if self.oomd else None
        return d

    def to_params(self):
        """Flat namedtuple of ints for the jitted kernels (see :data:`Params`)."""
        p = self.patches
        kb = baseline(self.kernel)
        return Params(
            nr_pages=self.nr_pages,
            pageblock_order=self.pageblock_order,
            pageblock_nr_pages=self.pageblock_nr_pages,
            nr_pageblocks=self.nr_pageblocks,
            nr_cpus=self.cpus,
            runnable_milli=int(round(1000 * (self.runnable_tasks or 0))),
            page_reporting_order=-1 if self.page_reporting_order is None
            else int(self.page_reporting_order),
            defrag_mode=int(self.defrag_mode),
            watermark_boost_factor=int(self.watermark_boost_factor),
            pcp_enabled=int(self.pcp),
            swappiness=int(self.swappiness),
            **{f"k_{name}": kb.index(name) for name in SWITCHES},
            compaction_proactiveness=int(self.compaction_proactiveness),
            patch1=int(p.gfp_fs_lockdep_compaction),
            patch2=int(p.nonmovable_pageblock_compaction),
            patch3=int(p.capture_control_in_allocator),
            patch4=int(p.fix_nonmovable_reclaim_storm),
            shrink_page_slab=1,
            readahead_folio_ns=-1 if self.readahead_folio_ns is None
            else int(self.readahead_folio_ns),
            cpu_pace_milli=1000 if self.cpu_pace is None else int(round(1000 * self.cpu_pace)),
            thp_fault_mpol=1,
        )


@dataclass(frozen=True)
class OomdConfig:
    """A userspace pressure guard in the style of oomd / systemd-oomd.

    Kills the task with the largest footprint when memory pressure (PSI
    "some", percent of the window) stays above ``pressure_pct`` for
    ``window_s`` seconds, or when swap use passes ``swap_used_pct``.
    """

    pressure_pct: float = 60.0
    window_s: float = 10.0
    swap_used_pct: float = 90.0

    @classmethod
    def parse(cls, v):
        if v is None or v is False:
            return None
        if isinstance(v, OomdConfig):
            return v
        if v is True:
            return cls()
        if isinstance(v, dict):
            for k in v:
                if k not in ("pressure_pct", "window_s", "swap_used_pct"):
                    raise ConfigError(f"config.oomd.{k}: unknown key (known: pressure_pct, "
                                      "window_s, swap_used_pct)")
            o = cls(**{k: float(x) for k, x in v.items()})
            if not (0 < o.pressure_pct <= 100):
                raise ConfigError(f"config.oomd.pressure_pct: must be in (0, 100], got {o.pressure_pct}")
            if not o.window_s > 0:
                raise ConfigError(f"config.oomd.window_s: must be positive, got {o.window_s}")
            if not (0 < o.swap_used_pct <= 100):
                raise ConfigError(f"config.oomd.swap_used_pct: must be in (0, 100], got {o.swap_used_pct}")
            return o
        raise ConfigError(f"config.oomd: expected a table of settings or true/false, got {v!r}")


def _check_min_mem(given: int, mem: int, unit: int, pageblock_order: int) -> int:
    """``mem`` (``given`` in whole ``unit`` blocks), or a ConfigError when the
    kernel would run such a machine without grouping by mobility."""
    # MODEL: below pageblock_nr_pages * MIGRATE_TYPES pages (less the
    # watermarks) build_all_zonelists() sets page_group_by_mobility_disabled;
    # the model does not implement that mode, so such machines are refused.
    min_mem = 16 << 20 if pageblock_order <= 9 else \
        (C.PAGE_SIZE << pageblock_order) * C.MIGRATE_TYPES * 4 // 3
    if mem < min_mem:
        raise ConfigError(f"config.mem: {format_size(given)}"
                          + (f" ({format_size(mem)} in whole {format_size(unit)} blocks)"
                             if mem != given else "") + " is too small: below "
                          f"{format_size(min_mem)} the kernel disables grouping by mobility "
                          "(page_group_by_mobility_disabled), which the model does not model")
    return mem


#: /sys/kernel/mm/transparent_hugepage/defrag values
THP_DEFRAG_SETTINGS = ("always", "defer", "defer+madvise", "madvise", "never")


Params = namedtuple("Params", [
    "nr_pages", "pageblock_order", "pageblock_nr_pages", "nr_pageblocks", "nr_cpus",
    "runnable_milli",      # Config.runnable_tasks, in thousandths
    "page_reporting_order",   # Config.page_reporting_order, -1 off
    "defrag_mode", "watermark_boost_factor", "pcp_enabled", "swappiness",
    "compaction_proactiveness", "patch1", "patch2", "patch3", "patch4",
    # 0: the shrinker frees no page-level slab page, the workload does (a
    # replay: the trace's frees; set by run() from the workload's meta)
    "shrink_page_slab",
    # Config.readahead_folio_ns, -1: costs.READAHEAD_FOLIO_NS
    "readahead_folio_ns",
    # Config.cpu_pace in thousandths (costs.cpu_ns): 1000 the costs as measured
    "cpu_pace_milli",
    # 1: an anon THP op is a page fault, run as the kernel runs one
    # (alloc_pages_mpol()'s attempts, then the base-page fallback); 0: it is
    # one allocation attempt the kernel made, and a failed __GFP_THISNODE one
    # does not fall back (a replay: set by run() from the workload's meta)
    "thp_fault_mpol",
    # the kernel baseline's behaviour switches (defragsim.kernels), as value indices
    *(f"k_{name}" for name in SWITCHES),
])


def _check_machine(rt, page_reporting_order, cpu_pace):
    """config.runnable_tasks, page_reporting_order and cpu_pace."""
    _check_pace(cpu_pace)
    if page_reporting_order is not None:
        _check_int("config.page_reporting_order", page_reporting_order, lo=0,
                   hi=C.MAX_PAGE_ORDER)
    if rt is not None and (isinstance(rt, bool) or not isinstance(rt, (int, float))
                           or not 0 <= rt <= 1e6):
        raise ConfigError(f"config.runnable_tasks: expected a number of tasks from 0 to "
                          f"1e6 (or None: the workload's), got {rt!r}")


#: Config.cpu_pace's range: a machine 20x faster or 50x slower than the one
#: the model's costs were measured on
CPU_PACE_RANGE = (0.05, 50.0)


def _check_pace(v):
    lo, hi = CPU_PACE_RANGE
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                          or not lo <= v <= hi):
        raise ConfigError(f"config.cpu_pace: expected a number from {lo} to {hi:g} (the "
                          f"machine's time for the model's CPU work, 1.0 the costs as "
                          f"measured; or None), got {v!r}")


def _check_latencies(v):
    """config.kswapd_wake_latency_us as a tuple of floats (or None)."""
    if v is None:
        return None
    name = "config.kswapd_wake_latency_us"
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or not 1 <= len(v) <= 64:
        raise ConfigError(f"{name}: expected 1 to 64 latencies in µs (or None), got {v!r}")
    for x in v:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x <= 1e6:
            raise ConfigError(f"{name}: expected latencies from 0 to 1e6 µs, got {x!r}")
    return tuple(float(x) for x in v)


def _check_int(name, v, *, lo, hi, opt=False):
    """``v`` an int in [lo, hi] (or None when ``opt``), else ConfigError."""
    if opt and v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{name}: expected an integer, got {v!r}")
    if v < lo:
        raise ConfigError(f"{name}: {v} is below the minimum {lo}")
    if v > hi:
        raise ConfigError(f"{name}: {v} is above the maximum {hi}")
