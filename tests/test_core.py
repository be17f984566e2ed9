"""End-to-end behaviour of the model core: invariants after every chunk,
determinism, the JSON contract, /proc renderings, and bad-input errors."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from defragsim import Config, ConfigError, Patches, run
from defragsim import constants as C
from defragsim.mm.state import make_state, zone_batchsize

TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"


@pytest.mark.parametrize("defrag_mode", [0, 1])
def test_invariants_hold_after_every_chunk(defrag_mode):
    # check_invariants runs defragsim.mm.invariants.check_state after every chunk
    r = run("steady", Config(mem="128M", defrag_mode=defrag_mode, seed=3), duration=4.0,
            check_invariants=True)
    assert r.events_processed > 10_000
    assert r.vmstat["pgalloc_normal"] + r.vmstat["pgalloc_dma32"] > 0


@pytest.mark.parametrize("cfg", [dict(nr_cpus=4), dict(pcp=False), dict(dma32=0)])
def test_invariants_other_layouts(cfg):
    run("steady", Config(mem="64M", seed=5, **cfg), duration=3.0, check_invariants=True)


def test_invariants_catch_a_pcp_page_on_another_zones_list():
    """A page on a per-cpu list of a zone it is not in (the pcp lists are per
    zone, like the free lists) breaks an invariant."""
    from model_driver import ModelRun
    from defragsim.mm.invariants import InvariantError, check_state
    from defragsim.mm.page_alloc import pcp_list_id
    run = ModelRun(Config(mem="64M", dma32="32M", min_free_kbytes=128, swap=0), max_handles=64)
    res = run.alloc_many([(0, C.MIGRATE_MOVABLE, C.KIND_ANON)] * 4)
    run.free(*[h for _, h in res])
    st = run.st
    check_state(st, run.prm)
    used = [(cpu, z, pi) for cpu in range(run.prm.nr_cpus) for z in range(C.MAX_NR_ZONES)
            for pi in range(C.NR_PCP_LISTS) if st.pcp_head[pcp_list_id(cpu, z, pi)] >= 0]
    assert len(used) == 1 and used[0][1] == C.ZONE_NORMAL
    cpu, z, pi = used[0]
    src, dst = pcp_list_id(cpu, z, pi), pcp_list_id(cpu, C.ZONE_DMA32, pi)
    # move the whole list, with its counts, to DMA32's list of the same cpu and order
    st.pcp_head[dst], st.pcp_tail[dst] = st.pcp_head[src], st.pcp_tail[src]
    st.pcp_head[src] = st.pcp_tail[src] = -1
    n = st.pcp_count[cpu, z]
    st.pcp_count[cpu, C.ZONE_DMA32] += n
    st.pcp_count[cpu, z] = 0
    st.zone_stat[C.ZONE_DMA32, C.NR_ZONE_PCP] += n
    st.zone_stat[z, C.NR_ZONE_PCP] -= n
    with pytest.raises(InvariantError, match="per-cpu chunk outside its zone"):
        check_state(st, run.prm)


def test_pages_conserved_at_end(small_config):
    r = run("steady", small_config, duration=3.0)
    ts = r.timeseries.iloc[-1]
    managed = small_config.nr_pages
    assert ts["nr_free_pages"] + ts["nr_pcp_pages"] + ts["nr_allocated_pages"] == managed


def test_same_seed_same_results():
    cfg = Config(mem="128M", defrag_mode=1, seed=11)
    a = run("steady", cfg, duration=3.0)
    b = run("steady", cfg, duration=3.0)
    assert a.vmstat == b.vmstat
    assert a.diagnostics == b.diagnostics
    pd.testing.assert_frame_equal(a.extfrag, b.extfrag)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    assert a.pagetypeinfo() == b.pagetypeinfo()
    for sa, sb in zip(a.snapshots, b.snapshots):
        np.testing.assert_array_equal(sa.migratetype, sb.migratetype)
        np.testing.assert_array_equal(sa.counts, sb.counts)


def test_different_seed_differs():
    a = run("steady", Config(mem="128M", seed=1), duration=2.0)
    b = run("steady", Config(mem="128M", seed=2), duration=2.0)
    assert a.vmstat != b.vmstat


def test_json_contract_keys(small_config):
    r = run("steady", small_config, duration=1.0)
    d = r.to_json_dict()
    for key in ("config", "vmstat", "extfrag", "pageblocks", "diagnostics", "events_processed",
                "elapsed_s"):
        assert key in d
    assert set(d["extfrag"]) >= {"events", "change_ownership", "fragmenting", "pairs"}
    assert "alloc_failed" in d["diagnostics"]
    assert set(d["pageblocks"]) == {"DMA32", "Normal"}
    json.dumps(d)


def test_extfrag_frame_columns(small_config):
    r = run("steady", small_config, duration=2.0)
    assert list(r.extfrag.columns) == ["t", "pfn", "alloc_order", "fallback_order",
                                       "alloc_migratetype", "fallback_migratetype",
                                       "change_ownership", "fragmenting"]
    if len(r.extfrag):
        ef = r.extfrag
        assert (ef["fragmenting"] == (ef["fallback_order"] < 9)).all()
        assert ef["t"].is_monotonic_increasing


def test_watermarks_follow_kernel_formula():
    # __setup_per_zone_wmarks: min share by managed pages, gap = max(min/4, managed*wsf/10000)
    cfg = Config(mem="4G", min_free_kbytes=67584)
    st = make_state(cfg)
    managed = st.zone_managed
    pages_min = 67584 // 4
    for z in range(2):
        mn = pages_min * managed[z] // managed.sum()
        gap = max(mn // 4, managed[z] * 10 // 10000)
        assert st.watermark[z, C.WMARK_MIN] == mn
        assert st.watermark[z, C.WMARK_LOW] == mn + gap
        assert st.watermark[z, C.WMARK_HIGH] == mn + 2 * gap
    # lowmem_reserve: DMA32 protects itself from Normal-capable requests by managed(Normal)/256
    assert st.lowmem_reserve[C.ZONE_DMA32, C.ZONE_NORMAL] == managed[C.ZONE_NORMAL] // 256


def test_zone_batchsize_matches_kernel():
    # 1 GiB zone: min(262144 >> 10, 256) / 4 = 64 -> rounddown_pow_of_two(96) - 1 = 63
    assert zone_batchsize(262144) == 63
    assert zone_batchsize(4096) == 0 or zone_batchsize(4096) >= 1


def test_buddyinfo_format_matches_kernel(small_config):
    r = run("steady", small_config, duration=1.0)
    lines = r.buddyinfo().splitlines()
    real = (TRACES / "b_pressure_dm0/snap/before.buddyinfo").read_text().splitlines()
    pat = re.compile(r"^Node 0, zone +\S+ (( +\d+) ){11}$")
    for line in lines + real:
        assert pat.match(line), line
    assert lines[1].startswith("Node 0, zone   Normal ")
    assert real[2].startswith("Node 0, zone   Normal ")


def test_pagetypeinfo_format_matches_kernel(small_config):
    r = run("steady", small_config, duration=1.0)
    ours = r.pagetypeinfo().splitlines()
    real = (TRACES / "b_pressure_dm0/snap/before.pagetypeinfo").read_text().splitlines()
    # identical headers, identical line shapes
    assert ours[:4] == real[:4]
    blocks_hdr = [l for l in real if l.startswith("Number of blocks type")][0]
    assert blocks_hdr in ours
    def shape(line):  # zone names are %8s: keep the width, hide the name and the numbers
        line = re.sub(r"zone (.{8})", "zone ZZZZZZZZ", line)
        return re.sub(r"\d+", lambda m: "N" * len(m.group()), line)
    # numbers are right-aligned in fixed-width fields: compare with digits blanked
    blank = lambda l: re.sub(r"N+", lambda m: " " * (len(m.group()) - 1) + "N", shape(l))  # noqa: E731
    real_shapes = {blank(l) for l in real}
    for line in ours:
        assert blank(line) in real_shapes, line


def test_pagetypeinfo_counts_match_state(small_config):
    r = run("steady", small_config, duration=1.0)
    txt = r.pagetypeinfo()
    row = [l for l in txt.splitlines() if "zone   Normal, type      Movable" in l][0]
    nums = [int(x) for x in row.split()[-11:]]
    assert nums == [int(x) for x in r.nr_free_mt[C.ZONE_NORMAL, :, C.MIGRATE_MOVABLE]]


def test_pageblock_snapshot_accounts_every_page(small_config):
    r = run("steady", small_config, duration=2.0)
    df = r.pageblocks()
    assert len(df) == small_config.nr_pageblocks
    total = df[["free", "pcp", "anon", "file", "slab_reclaimable", "slab_unreclaimable",
                "pagetable", "kernel"]].to_numpy().sum()
    assert total == small_config.nr_pages


# --- bad input --------------------------------------------------------------

@pytest.mark.parametrize("kwargs,field", [
    (dict(mem="1M"), "config.mem"),
    (dict(mem="banana"), "config.mem"),
    (dict(seed=-1), "config.seed"),
    (dict(defrag_mode=2), "config.defrag_mode"),
    (dict(patches="1,5"), "patches"),
    (dict(patches="4"), "patches"),
    (dict(nr_cpus=0), "config.nr_cpus"),
    (dict(mem="1G", dma32="2G"), "config.dma32"),
    (dict(watermark_scale_factor=0), "config.watermark_scale_factor"),
])
def test_impossible_config_names_field(kwargs, field):
    with pytest.raises(ConfigError) as ei:
        Config(**kwargs)
    msg = str(ei.value)
    assert msg.startswith(field), msg
    assert "\n" not in msg


def test_patches_parse():
    assert Patches.parse("none") == Patches()
    assert Patches.parse("all") == Patches.all()
    assert Patches.parse("2,3,4").numbers() == [2, 3, 4]
    assert Patches.parse([1, 3]).numbers() == [1, 3]
    with pytest.raises(ConfigError, match="patch 3"):
        Patches.parse("4")


def test_unknown_scenario_lists_known():
    from defragsim import ScenarioError
    with pytest.raises(ScenarioError, match="known scenarios: .*steady"):
        run("no-such-scenario", Config(mem="64M"))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "defragsim", *args], capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("args,field", [
    (["--mem", "1M"], "config.mem"),
    (["--patches", "9"], "patches"),
    (["--seed", "-3"], "config.seed"),
    (["--defrag-mode", "3"], "config.defrag_mode"),
])
def test_cli_bad_input_one_line(args, field):
    p = _cli("run", "steady", *args)
    assert p.returncode == 2
    err = p.stderr.strip()
    assert err.startswith(f"defragsim: error: {field}"), err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in p.stderr


def test_cli_json_is_one_object(tmp_path):
    p = _cli("run", "steady", "--mem", "64M", "--duration", "1", "--json", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["config"]["mem"] == "64M"
    for f in ("vmstat.json", "extfrag.csv", "timeseries.csv", "pagetypeinfo.txt",
              "pageblocks.png", "pageblocks.svg"):
        assert (tmp_path / f).exists(), f


def test_cli_scenarios_lists_steady():
    p = _cli("scenarios")
    assert p.returncode == 0
    names = [line.split()[0] for line in p.stdout.splitlines()]
    assert {"steady", "storm", "kbuild-thp", "thpchallenge"} <= set(names)


def test_console_script_exists():
    import shutil
    exe = Path(sys.executable).parent / "defragsim"
    assert exe.exists() or shutil.which("defragsim")
