"""defragsim.workloads.xzblocks: the blocks of an ``xz -T2`` file, decompressed
in parallel threads.

The files with several blocks are made by the ``xz`` tool (``lzma`` in Python
cannot start a new block); the tests that need one are skipped without it.
Every decompression is compared with ``lzma.decompress`` of the whole file.
"""
from __future__ import annotations

import hashlib
import lzma
import shutil
import struct
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from defragsim.workloads.xzblocks import block_stream, iter_xz_parallel, xz_blocks

XZ = shutil.which("xz")
needs_xz = pytest.mark.skipif(XZ is None, reason="no xz tool")
SHIPPED = Path(__file__).resolve().parents[1] / "data/traces/b_pressure_dm0/page_events.csv.xz"


def _text(lines: int = 80_000, seed: int = 1) -> bytes:
    """About 3.4 MB of CSV page-event lines."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(1, 5000, lines)).tolist()
    cpu, pid = rng.integers(0, 2, lines).tolist(), rng.integers(1, 30000, lines).tolist()
    pfn, order = rng.integers(0, 1 << 22, lines).tolist(), rng.integers(0, 11, lines).tolist()
    return "".join(f"{a},{b},{c},A,{d},{e},1,0xcc0,0,0,0\n"
                   for a, b, c, d, e in zip(t, cpu, pid, pfn, order)).encode()


def _xz(data: bytes, *args: str) -> bytes:
    return subprocess.run([XZ, "-c", *args], input=data, capture_output=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def text() -> bytes:
    return _text()


@pytest.fixture(scope="module")
def multi(text, tmp_path_factory) -> Path:
    """``text`` as ``xz -T2`` writes it, in blocks of 1 MiB (4 blocks)."""
    if XZ is None:
        pytest.skip("no xz tool")
    p = tmp_path_factory.mktemp("xz") / "multi.csv.xz"
    p.write_bytes(_xz(text, "-T2", "-1", "--block-size=1MiB"))
    return p


def _robot_blocks(path: Path) -> list[tuple[int, int, int, int]]:
    """The blocks ``xz --robot -lvv`` lists: (offset, total size, unpadded size,
    uncompressed size), unpadded = header + compressed data + check."""
    out = subprocess.run([XZ, "--robot", "-lvv", str(path)], capture_output=True, text=True,
                         check=True).stdout
    check = {"None": 0, "CRC32": 4, "CRC64": 8, "SHA-256": 32}
    rows = []
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "block":
            off, total, usize = int(f[4]), int(f[6]), int(f[7])
            unpadded = int(f[11]) + int(f[13]) + check[f[9]]
            rows.append((off, total, unpadded, usize))
    return rows


@needs_xz
def test_blocks_are_those_xz_lists(multi, text):
    blocks = xz_blocks(multi)
    assert blocks is not None and len(blocks) == 4
    assert blocks == _robot_blocks(multi)
    assert sum(b[3] for b in blocks) == len(text)
    assert all(b[1] % 4 == 0 and b[1] - 3 <= b[2] <= b[1] for b in blocks)


@needs_xz
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_parallel_equals_serial(multi, text, threads):
    pieces = list(iter_xz_parallel(multi, threads))
    assert [len(p) for p in pieces] == [b[3] for b in xz_blocks(multi)]
    assert b"".join(pieces) == lzma.decompress(multi.read_bytes()) == text


@needs_xz
@pytest.mark.parametrize("check", ["crc32", "crc64", "sha256", "none"])
def test_every_check_type(tmp_path, text, check):
    p = tmp_path / "c.xz"
    p.write_bytes(_xz(text[:600_000], "-T2", "-0", "--block-size=200KiB", f"--check={check}"))
    assert len(xz_blocks(p)) == 3
    assert b"".join(iter_xz_parallel(p)) == text[:600_000]


@needs_xz
def test_block_stream_is_a_standalone_xz_stream(multi, text):
    data = multi.read_bytes()
    header, start = data[:12], 0
    for off, total, unpadded, usize in xz_blocks(multi):
        one = block_stream(header, data[off:off + total], unpadded, usize)
        assert len(one) % 4 == 0 and one[-2:] == b"YZ"
        assert lzma.decompress(one) == text[start:start + usize]
        start += usize
    # a wrong size in the rebuilt index is refused, as in the file's own index
    off, total, unpadded, usize = xz_blocks(multi)[0]
    with pytest.raises(lzma.LZMAError):
        lzma.decompress(block_stream(header, data[off:off + total], unpadded, usize + 1))


@needs_xz
def test_at_most_threads_plus_one_blocks_in_flight(multi, monkeypatch):
    """The generator does not run ahead of its consumer: after the first
    block, at most ``threads + 1`` blocks were handed to the decompressor."""
    started = []
    real = lzma.decompress
    lock = threading.Lock()

    def counting(data, *a, **k):
        with lock:
            started.append(len(data))
        return real(data, *a, **k)

    monkeypatch.setattr(lzma, "decompress", counting)
    it = iter_xz_parallel(multi, 2)
    next(it)
    assert len(started) <= 3
    rest = list(it)
    assert len(rest) == 3 and len(started) == 4


def test_none_for_a_single_block(tmp_path, text):
    p = tmp_path / "one.xz"
    p.write_bytes(lzma.compress(text[:100_000]))
    assert xz_blocks(p) is None
    if XZ is not None:
        p.write_bytes(_xz(text, "-T1", "-0"))
        assert xz_blocks(p) is None


@needs_xz
def test_none_for_two_streams_and_stream_padding(tmp_path, multi):
    data = multi.read_bytes()
    p = tmp_path / "x.xz"
    p.write_bytes(data + data)
    assert xz_blocks(p) is None
    p.write_bytes(lzma.compress(b"head\n") + data)
    assert xz_blocks(p) is None
    p.write_bytes(data + b"\x00" * 4)           # stream padding (section 2.2)
    assert xz_blocks(p) is None


@needs_xz
@pytest.mark.parametrize("cut", [1, 12, 100, 500_000])
def test_none_for_a_truncated_file(tmp_path, multi, cut):
    p = tmp_path / "t.xz"
    p.write_bytes(multi.read_bytes()[:-cut])
    assert xz_blocks(p) is None


RNG = np.random.default_rng(7)


@pytest.mark.parametrize("content", [b"", b"\xfd7zXZ\x00", RNG.bytes(1000), RNG.bytes(1 << 16),
                                     b"\x00" * 64, b"t_ns,cpu,pid,ev\n" * 100])
def test_none_for_what_is_not_xz(tmp_path, content):
    p = tmp_path / "r.xz"
    p.write_bytes(content)
    assert xz_blocks(p) is None


def test_none_for_a_missing_file_or_a_directory(tmp_path):
    assert xz_blocks(tmp_path / "missing.xz") is None
    assert xz_blocks(tmp_path) is None


@needs_xz
def test_none_for_an_index_that_does_not_add_up(tmp_path, multi):
    """The index's CRC32, its sizes against the file's size, and the header's
    flags against the footer's."""
    data = bytearray(multi.read_bytes())
    p = tmp_path / "i.xz"
    bad_crc = data.copy()
    bad_crc[-13] ^= 1                             # the index's CRC32
    p.write_bytes(bad_crc)
    assert xz_blocks(p) is None
    flags = data.copy()
    flags[7] ^= 0x0e                              # header check type (CRC64 -> other)
    p.write_bytes(flags)
    assert xz_blocks(p) is None
    longer = data[:12] + b"\x00" * 4 + data[12:]  # every block 4 bytes further on
    p.write_bytes(longer)
    assert xz_blocks(p) is None


@needs_xz
def test_no_byte_of_index_or_footer_makes_it_raise(tmp_path, multi, text):
    """Each byte of the index and footer flipped: None, or blocks that
    decompress to the text or raise LZMAError (never another exception)."""
    data = multi.read_bytes()
    backward = (struct.unpack("<I", data[-8:-4])[0] + 1) * 4
    p = tmp_path / "f.xz"
    for i in range(len(data) - 12 - backward, len(data)):
        for bit in (0x01, 0x80):
            bad = bytearray(data)
            bad[i] ^= bit
            p.write_bytes(bad)
            if xz_blocks(p) is not None:
                try:
                    assert b"".join(iter_xz_parallel(p)) == text
                except lzma.LZMAError:
                    pass


@needs_xz
@pytest.mark.parametrize("where", ["data", "header", "check"])
def test_a_corrupt_block_raises_like_lzma_open(tmp_path, multi, where):
    """A flipped byte in block 2 (its compressed data, its header, its CRC64):
    LZMAError from the parallel reader, as from the serial one."""
    data = bytearray(multi.read_bytes())
    blocks = xz_blocks(multi)
    off, total, unpadded, _ = blocks[1]
    i = {"data": off + total // 2, "header": off + 2, "check": off + unpadded - 3}[where]
    data[i] ^= 0x20
    p = tmp_path / "bad.xz"
    p.write_bytes(data)
    assert xz_blocks(p) == blocks               # the index is intact
    with pytest.raises(lzma.LZMAError):
        lzma.open(p).read()
    with pytest.raises(lzma.LZMAError):
        b"".join(iter_xz_parallel(p))


def _sha(pieces) -> str:
    h = hashlib.sha256()
    for piece in pieces:
        h.update(piece)
    return h.hexdigest()


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped trace")
def test_the_shipped_trace_decompresses_identically():
    blocks = xz_blocks(SHIPPED)
    assert blocks is not None and len(blocks) == 6
    assert sum(b[3] for b in blocks) == 135426468
    sizes = []

    def pieces():
        for piece in iter_xz_parallel(SHIPPED):
            sizes.append(len(piece))
            yield piece

    with lzma.open(SHIPPED) as f:
        serial = _sha(iter(lambda: f.read(1 << 24), b""))
    assert _sha(pieces()) == serial
    assert sizes == [b[3] for b in blocks]


@needs_xz
def test_a_trace_of_several_blocks_reads_as_the_single_block_one(tmp_path):
    """read_trace takes the parallel path for an ``xz -T2`` file (the same
    events as the single-block file); a corrupt block makes it fall back to
    the line reader, which names the corruption."""
    from defragsim.errors import TraceError
    from defragsim.workloads.trace import read_trace
    sample = SHIPPED.parents[1] / "samples-1s" / "page_events.csv.xz"
    multi = tmp_path / "page_events.csv.xz"
    multi.write_bytes(_xz(lzma.decompress(sample.read_bytes()), "-T2", "--block-size=32KiB"))
    assert len(xz_blocks(multi)) > 3
    a, b = read_trace(multi), read_trace(sample)
    for col in ("t_ns", "ev", "pfn", "order", "gfp", "pid"):
        assert (getattr(a, col) == getattr(b, col)).all()
    raw = bytearray(multi.read_bytes())
    off, total, _, _ = xz_blocks(multi)[2]
    raw[off + total // 2] ^= 0x55
    multi.write_bytes(bytes(raw))
    with pytest.raises(TraceError, match="corrupt xz data|truncated"):
        read_trace(multi)
