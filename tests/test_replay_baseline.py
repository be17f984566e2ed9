"""A replay runs the kernel baseline of the recording machine's release
(issue 17): from the snapshot's ``before.platform`` (``defragsim snapshot``
writes it), else from ``meta/platform.txt`` beside the trace folders, where
the shared recording tools keep ``uname -a``; else the default."""
from __future__ import annotations

import shutil
from pathlib import Path

from defragsim.analysis.replay import _replay_config
from defragsim.kernels import DEFAULT_KERNEL
from defragsim.workloads.snapshot import Snapshot

SNAP = Path(__file__).resolve().parents[1] / "data" / "traces" / "b_pressure_dm0" / "snap"


def _snap(tmp_path, platform: bool) -> Path:
    d = tmp_path / "traces" / "x_pressure" / "snap"
    d.mkdir(parents=True)
    for f in ("before.meminfo", "before.zoneinfo", "before.sysctl"):
        shutil.copy(SNAP / f, d / f)
    if platform:
        shutil.copy(SNAP / "before.platform", d / "before.platform")
    return d


def _kernel(d: Path) -> tuple:
    cfg, why = _replay_config(lambda: 1 << 20, Snapshot.load(d), {}, [], d.parent / "x.csv")
    return cfg.kernel, why


def test_the_snapshots_platform_names_the_release(tmp_path):
    assert _kernel(_snap(tmp_path, True)) == (
        "6.18", "kernel 6.18: from the snapshot's kernel release 6.18.44-fc-v769")


def test_else_uname_kept_beside_the_trace_folders(tmp_path):
    d = _snap(tmp_path, False)
    assert _kernel(d)[0] == DEFAULT_KERNEL
    meta = tmp_path / "traces" / "meta"
    meta.mkdir()
    (meta / "platform.txt").write_text(
        "Linux vm 6.18.44-fc-v1272 #1 SMP PREEMPT_DYNAMIC @0 x86_64 GNU/Linux\n\nconsole=ttyS0\n")
    kernel, why = _kernel(d)
    assert kernel == "6.18" and str(meta / "platform.txt") in why and "6.18.44-fc-v1272" in why
    (meta / "platform.txt").write_text("not uname\n")
    assert _kernel(d)[0] == DEFAULT_KERNEL


def test_plain_uname_and_nproc_output_in_before_platform(tmp_path):
    """A hand-made recording's before.platform that holds the plain output of
    ``uname -a`` and ``nproc`` (``uname -a > before.platform; nproc >>
    before.platform``) gives the kernel release and the CPU count, as the
    key=value lines ``defragsim snapshot`` writes do; a key=value line of
    the same key wins."""
    d = _snap(tmp_path, False)
    (d / "before.platform").write_text(
        "# comment\n\nLinux vm 6.18.44-fc-v1300 #1 SMP PREEMPT_DYNAMIC @0 x86_64 GNU/Linux\n2\n")
    s = Snapshot.load(d)
    assert s.platform["kernel_release"] == "6.18.44-fc-v1300"
    assert s.platform["kernel_version"].startswith("Linux vm 6.18.44-fc-v1300 #1")
    assert s.nr_cpus() == 2
    kernel, why = _kernel(d)
    assert kernel == "6.18" and "6.18.44-fc-v1300" in why
    (d / "before.platform").write_text("6.14.3-200.fc41.x86_64\n4\nnr_cpus=8\n")
    s = Snapshot.load(d)
    assert s.platform["kernel_release"] == "6.14.3-200.fc41.x86_64" and s.nr_cpus() == 8
    assert _kernel(d)[0] == "6.14"


def test_a_platform_file_that_is_not_key_value_is_named(tmp_path):
    """A before.platform line that is neither key=value nor uname/nproc
    output is an error naming the file and line, not a replay that quietly
    falls back to the default baseline; so are two CPU counts that differ."""
    import pytest

    from defragsim.errors import ConfigError
    d = _snap(tmp_path, False)
    (d / "before.platform").write_text(
        "# comment\n\nLinux vm 6.18.44-fc-v1272 #1 SMP\nCPUs: two\n")
    with pytest.raises(ConfigError, match=r"before.platform: line 4: expected key=value .*uname "
                                          r"-a or nproc, got 'CPUs: two'"):
        Snapshot.load(d)
    (d / "before.platform").write_text("kernel_release=6.18.44-fc-v1272\n=2\n")
    with pytest.raises(ConfigError, match=r"line 2: expected key=value"):
        Snapshot.load(d)
    (d / "before.platform").write_text("2\n4\n")
    with pytest.raises(ConfigError, match=r"line 2: nr_cpus '4' here, '2' on an earlier line"):
        Snapshot.load(d)
    (d / "before.platform").write_text("# ok\nkernel_release=6.18.44-fc-v1272\nnr_cpus=2\n")
    assert _kernel(d)[0] == "6.18"


def test_a_snapshot_value_the_model_cannot_take_is_named_with_its_file(tmp_path):
    """A sysctl out of range names before.sysctl and the key; a page size
    other than 4 KiB and a snap/ without before.meminfo are refused, where
    before they were passed over (the defaults taken without a word)."""
    import pytest
    from defragsim.errors import ConfigError
    from defragsim.workloads.snapshot import find_snapshot
    d = _snap(tmp_path, True)
    with open(d / "before.sysctl", "a") as f:
        f.write("vm.swappiness=999\n")
    with pytest.raises(ConfigError, match=r"snap/before.sysctl: vm.swappiness = 999: 999 is above"):
        _kernel(d)
    # given on the command line, the caller's value wins and nothing is said of the file
    cfg, _ = _replay_config(lambda: 1 << 20, Snapshot.load(d), {"swappiness": 100}, [],
                            d.parent / "x.csv")
    assert cfg.swappiness == 100
    with open(d / "before.platform", "a") as f:
        f.write("page_size=65536\n")
    with pytest.raises(ConfigError, match=r"before.platform: page_size '65536': the model has "
                                          r"4096-byte pages only"):
        Snapshot.load(d)
    (d / "before.meminfo").unlink()
    with pytest.raises(ConfigError, match=r"snap: a snapshot folder without before.meminfo.*"
                                          r"--init empty"):
        find_snapshot(d.parent / "page_events.csv.xz")
    assert find_snapshot(tmp_path / "elsewhere" / "page_events.csv.xz") is None
