"""GFP flags as the kernel spells them (include/linux/gfp_types.h, v6.x).

Bit values match the 6.18 kernel the shared traces were recorded on (checked
against ``shared/traces/formats/gfp_flags_seen.tsv``: GFP_KERNEL = 0xcc0,
__GFP_COMP = 0x40000, GFP_NOWAIT = 0x2800, ...).  ``parse_gfp`` turns strings
such as ``"GFP_KERNEL|__GFP_NORETRY"`` or ``"0x140cca"`` into an int; unknown
names raise :class:`GfpError` naming the flag.
"""
from __future__ import annotations

from . import constants as C

__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_DMA32 = 0x04
__GFP_MOVABLE = 0x08
__GFP_RECLAIMABLE = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_ZERO = 0x100
__GFP_DIRECT_RECLAIM = 0x400
__GFP_KSWAPD_RECLAIM = 0x800
__GFP_WRITE = 0x1000
__GFP_NOWARN = 0x2000
__GFP_RETRY_MAYFAIL = 0x4000
__GFP_NOFAIL = 0x8000
__GFP_NORETRY = 0x10000
__GFP_MEMALLOC = 0x20000
__GFP_COMP = 0x40000
__GFP_NOMEMALLOC = 0x80000
__GFP_HARDWALL = 0x100000
__GFP_THISNODE = 0x200000
__GFP_ACCOUNT = 0x400000
__GFP_ZEROTAGS = 0x800000
__GFP_NOLOCKDEP = 0x1000000   # CONFIG_LOCKDEP; position is config dependent in the kernel
__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM
GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE

GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM | __GFP_NOWARN
GFP_NOIO = __GFP_RECLAIM
GFP_NOFS = __GFP_RECLAIM | __GFP_IO
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_DMA = __GFP_DMA
GFP_DMA32 = __GFP_DMA32
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE
GFP_TRANSHUGE_LIGHT = ((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NOWARN)
                       & ~__GFP_RECLAIM)
GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM

#: Single-bit flags, in bit order (used to render a mask back to text).
FLAG_BITS = {
    "__GFP_DMA": __GFP_DMA, "__GFP_HIGHMEM": __GFP_HIGHMEM, "__GFP_DMA32": __GFP_DMA32,
    "__GFP_MOVABLE": __GFP_MOVABLE, "__GFP_RECLAIMABLE": __GFP_RECLAIMABLE,
    "__GFP_HIGH": __GFP_HIGH, "__GFP_IO": __GFP_IO, "__GFP_FS": __GFP_FS,
    "__GFP_ZERO": __GFP_ZERO, "__GFP_DIRECT_RECLAIM": __GFP_DIRECT_RECLAIM,
    "__GFP_KSWAPD_RECLAIM": __GFP_KSWAPD_RECLAIM, "__GFP_WRITE": __GFP_WRITE,
    "__GFP_NOWARN": __GFP_NOWARN, "__GFP_RETRY_MAYFAIL": __GFP_RETRY_MAYFAIL,
    "__GFP_NOFAIL": __GFP_NOFAIL, "__GFP_NORETRY": __GFP_NORETRY,
    "__GFP_MEMALLOC": __GFP_MEMALLOC, "__GFP_COMP": __GFP_COMP,
    "__GFP_NOMEMALLOC": __GFP_NOMEMALLOC, "__GFP_HARDWALL": __GFP_HARDWALL,
    "__GFP_THISNODE": __GFP_THISNODE, "__GFP_ACCOUNT": __GFP_ACCOUNT,
    "__GFP_ZEROTAGS": __GFP_ZEROTAGS, "__GFP_NOLOCKDEP": __GFP_NOLOCKDEP,
}
#: Composite masks, largest first (the order the kernel's show_gfp_flags() tries them).
COMPOSITES = {
    "GFP_TRANSHUGE": GFP_TRANSHUGE,
    "GFP_TRANSHUGE_LIGHT": GFP_TRANSHUGE_LIGHT,
    "GFP_HIGHUSER_MOVABLE": GFP_HIGHUSER_MOVABLE,
    "GFP_HIGHUSER": GFP_HIGHUSER,
    "GFP_USER": GFP_USER,
    "GFP_KERNEL_ACCOUNT": GFP_KERNEL_ACCOUNT,
    "GFP_KERNEL": GFP_KERNEL,
    "GFP_NOFS": GFP_NOFS,
    "GFP_ATOMIC": GFP_ATOMIC,
    "GFP_NOIO": GFP_NOIO,
    "GFP_NOWAIT": GFP_NOWAIT,
    "GFP_DMA": GFP_DMA,
    "__GFP_HIGHMEM": __GFP_HIGHMEM,
    "GFP_DMA32": GFP_DMA32,
    "__GFP_RECLAIM": __GFP_RECLAIM,
}
NAMES = {**FLAG_BITS, **COMPOSITES, "GFP_NOWAIT": GFP_NOWAIT}
#: gfp_t is an unsigned int
GFP_T_MAX = 0xFFFFFFFF
ALL_KNOWN_BITS = 0
for _v in FLAG_BITS.values():
    ALL_KNOWN_BITS |= _v


from .errors import GfpError  # noqa: E402  (after the flag tables it documents)

def parse_gfp(text: str | int, *, where: str = "gfp") -> int:
    """Parse ``"GFP_KERNEL|__GFP_NORETRY"``, ``"0x140cca"`` or an int into a mask.

    ``where`` prefixes error messages (e.g. ``"steady.toml: classes.net.gfp"``).
    """
    if isinstance(text, (int,)) and not isinstance(text, bool):
        if text < 0:
            raise GfpError(f"{where}: negative gfp mask {text}")
        if text > GFP_T_MAX:
            raise GfpError(f"{where}: gfp mask {text:#x} is wider than gfp_t (32 bits)")
        return int(text)
    if not isinstance(text, str):
        raise GfpError(f"{where}: expected a gfp string, got {type(text).__name__}")
    s = text.strip()
    if not s:
        raise GfpError(f"{where}: empty gfp string")
    if s.lower().startswith("0x"):
        try:
            mask = int(s, 16)
        except ValueError:
            raise GfpError(f"{where}: bad hex gfp mask {s!r}") from None
        if mask > GFP_T_MAX:
            raise GfpError(f"{where}: gfp mask {s} is wider than gfp_t (32 bits)")
        return mask
    mask = 0
    for part in s.split("|"):
        name = part.strip()
        if name not in NAMES:
            raise GfpError(f"{where}: unknown gfp flag {name!r}")
        mask |= NAMES[name]
    return mask


def gfp_to_string(mask: int) -> str:
    """Render a mask the way the kernel's ``show_gfp_flags`` does (composites first)."""
    parts = []
    rest = int(mask)
    for name, val in COMPOSITES.items():
        if val and (rest & val) == val:
            parts.append(name)
            rest &= ~val
    for name, val in FLAG_BITS.items():
        if rest & val:
            parts.append(name)
            rest &= ~val
    if rest:
        parts.append(hex(rest))
    return "|".join(parts) if parts else "0"


def gfp_migratetype(mask: int) -> int:
    """Mirror of include/linux/gfp.h:gfp_migratetype()."""
    mt = (mask & GFP_MOVABLE_MASK) >> 3
    if mt > C.MIGRATE_RECLAIMABLE:   # both bits: invalid, would alias HIGHATOMIC
        raise GfpError(f"gfp {gfp_to_string(mask)}: __GFP_MOVABLE and __GFP_RECLAIMABLE together")
    return mt


def gfp_zone(mask: int) -> int:
    """Mirror of include/linux/gfp.h:gfp_zone() for a DMA32+Normal node.

    MODEL: there is no ZONE_DMA or ZONE_MOVABLE; __GFP_DMA maps to DMA32 and
    __GFP_HIGHMEM/__GFP_MOVABLE to Normal (what x86-64 does without a movable zone).
    """
    # MODEL: no ZONE_DMA / ZONE_MOVABLE
    if mask & (__GFP_DMA | __GFP_DMA32):
        return C.ZONE_DMA32
    return C.ZONE_NORMAL


def vma_thp_gfp_mask(defrag: str, vma_madvised: bool) -> int:
    """vma_thp_gfp_mask() (mm/huge_memory.c): the gfp mask of a THP fault for
    the ``/sys/kernel/mm/transparent_hugepage/defrag`` setting and whether
    the VMA is MADV_HUGEPAGE."""
    if defrag == "always":            # always do synchronous compaction
        return GFP_TRANSHUGE | (0 if vma_madvised else __GFP_NORETRY)
    if defrag == "defer":             # kick kcompactd and fail quickly
        return GFP_TRANSHUGE_LIGHT | __GFP_KSWAPD_RECLAIM
    if defrag == "defer+madvise":     # sync compaction if madvised, else kick kcompactd
        return GFP_TRANSHUGE_LIGHT | (__GFP_DIRECT_RECLAIM if vma_madvised else __GFP_KSWAPD_RECLAIM)
    if defrag == "madvise":           # only do synchronous compaction if madvised
        return GFP_TRANSHUGE_LIGHT | (__GFP_DIRECT_RECLAIM if vma_madvised else 0)
    if defrag == "never":
        return GFP_TRANSHUGE_LIGHT
    raise GfpError(f"thp defrag: unknown setting {defrag!r}")
