"""The replay's start state where pagetypeinfo shows Unmovable and
Reclaimable pageblocks nearly free (issue 17).

Free chunks of a type sit in pageblocks of that type; in trace n (6.18,
24 GiB) DMA32's 15 Unmovable blocks held 7,650 free pages of 7,680, in
chunks of order 0 to 8 the kernel never touched in the minute.  Typed at
blocks the trace's own frees show full of page cache, the model had no room
for them there and they merged away on the Movable lists."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from defragsim import Config, constants as C
from defragsim.workloads.replay_ops import initial_block_types, machine_to_model_pfn
from defragsim.workloads.snapshot import Snapshot

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"


def _nearly_free_unmovable_snapshot(tmp_path) -> Snapshot:
    """b_pressure_dm0's snapshot with 15 of DMA32's blocks Unmovable and
    holding 7,650 free pages in chunks of order 0-8 (trace n's DMA32)."""
    d = tmp_path / "snap"
    shutil.copytree(DATA / "b_pressure_dm0" / "snap", d)
    p = d / "before.pagetypeinfo"
    text = p.read_text()
    old_u = [ln for ln in text.splitlines() if "DMA32, type    Unmovable" in ln][0]
    new_u = old_u.split("Unmovable")[0] + "Unmovable" + "".join(
        f"{n:>7}" for n in (26, 26, 27, 25, 24, 19, 20, 19, 10, 0, 0)) + " "
    old_b = [ln for ln in text.splitlines() if ln.startswith("Node 0, zone    DMA32")][0]
    new_b = "Node 0, zone    DMA32           15         1513            0            0            0 "
    p.write_text(text.replace(old_u, new_u).replace(old_b, new_b))
    return Snapshot.load(d)


def test_unmovable_blocks_are_not_where_the_trace_frees_page_cache(tmp_path):
    """pagetypeinfo's Unmovable free chunks in DMA32 fill its Unmovable
    blocks almost whole: those blocks go where the trace's pre-trace folios
    leave room, never to a unit they fill, and there are enough of them to
    hold the chunks."""
    snap = _nearly_free_unmovable_snapshot(tmp_path)
    cfg = Config(mem="24104M")
    spans = cfg.zone_spans()
    s, e = spans[0]
    nb = cfg.nr_pages >> cfg.pageblock_order
    held = np.zeros(nb)
    held[s >> 9:e >> 9] = 512                       # DMA32 full of page cache the trace frees ...
    empty = np.arange((s >> 9) + 100, (s >> 9) + 140)
    held[empty] = 0                                 # ... but 40 blocks
    bt = initial_block_types(snap, spans, cfg.nr_pages, cfg.pageblock_order, None, held)
    u = np.flatnonzero(bt[s >> 9:e >> 9] == C.MIGRATE_UNMOVABLE) + (s >> 9)
    assert set(u.tolist()) <= set(empty.tolist())
    assert len(u) * 512 >= 7650
    # without the trace's frees the same count, anywhere
    bt0 = initial_block_types(snap, spans, cfg.nr_pages, cfg.pageblock_order)
    assert (bt0[s >> 9:e >> 9] == C.MIGRATE_UNMOVABLE).sum() == len(u)


def test_a_content_maps_slab_is_placed_as_the_trace_folios_are(tmp_path):
    """With a kpageflags content map, the Unmovable units go where its slab
    is, its rows mapped to model pageblocks as the trace's folios are
    (machine_to_model_pfn: the same offset in the zone).  DMA32 spans a
    PCI hole its present pages do not fill, so a row's index in the map is
    not its place in the model."""
    import gzip
    snap = _nearly_free_unmovable_snapshot(tmp_path)
    layout = snap.zone_layout()
    start, spanned, _ = layout["DMA32"]
    rows = ["zone,start_pfn,buddy,slab,lru_file,lru_anon,pgtable,thp,reserved,other"]
    # eight units' worth of slab-holding blocks, spread over the zone's present part
    rich = [start + (b << 9) for u in range(8) for b in (2 * (90 * u + 7), 2 * (90 * u + 7) + 1)]
    for pfn in range(start, start + spanned, 512):
        slab = 10 if pfn in rich else 0
        rows.append(f"DMA32,{pfn},{502 - slab},{slab},0,0,0,0,0,10")
    with gzip.open(tmp_path / "snap" / "before.pbmap.csv.gz", "wt") as f:
        f.write("\n".join(rows) + "\n")
    snap = Snapshot.load(tmp_path / "snap")
    cfg = Config(mem="24104M")
    spans = cfg.zone_spans()
    s, e = spans[0]
    bt = initial_block_types(snap, spans, cfg.nr_pages, cfg.pageblock_order)
    u = np.flatnonzero(bt[s >> 9:e >> 9] == C.MIGRATE_UNMOVABLE) + (s >> 9)
    want = machine_to_model_pfn(np.array(rich, np.int64), np.full(len(rich), 9),
                                layout, spans) >> 9
    assert sorted(u.tolist()) == sorted(want.tolist())
