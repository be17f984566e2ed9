"""The blocks of an .xz file, decompressed in parallel threads.

``xz -T2`` (how the shipped 60 s traces were compressed) writes a stream of
several independently compressed blocks.  liblzma releases the
GIL, so on two cores two blocks decompress at once: decompression, most of
the time it takes to read such a trace, halves.

The pieces of the .xz container used here (The .xz File Format, 1.2.0):

* stream header (section 2.1.1): 6 magic bytes, 2 bytes of stream flags
  (the check type), CRC32 of the flags - 12 bytes;
* blocks (section 3), each padded to a multiple of four bytes;
* the index (section 4): an indicator byte 0x00, the number of records and
  one record per block (its unpadded size and uncompressed size),
  multibyte integers (section 1.2), padding to four bytes, CRC32;
* stream footer (section 2.1.2): CRC32, backward size (the index's size / 4
  - 1), the stream flags again, magic ``YZ`` - 12 bytes.

Each block is decompressed as a stream of its own, rebuilt around the
block's bytes (:func:`block_stream`), so liblzma checks it exactly as
``lzma.open`` would: the block's own check (CRC64 for ``xz``'s default), its
sizes against the index, and the CRC32s.
"""
from __future__ import annotations

import concurrent.futures
import lzma
import os
import struct
import zlib
from collections import deque
from pathlib import Path

_MAGIC = b"\xfd7zXZ\x00"
_FOOTER_MAGIC = b"YZ"


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A multibyte integer (section 1.2) at ``pos``: (value, position after).
    ValueError when it runs past the buffer or is longer than 9 bytes."""
    value = 0
    for i in range(9):
        if pos >= len(buf):
            raise ValueError("truncated integer")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, pos
    raise ValueError("integer longer than 9 bytes")


def _put_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _parse_index(index: bytes) -> list[tuple[int, int]] | None:
    """The (unpadded size, uncompressed size) records of an index, None when
    it is malformed (indicator, padding, CRC32)."""
    if len(index) < 8 or index[0] != 0 or len(index) % 4:
        return None
    if zlib.crc32(index[:-4]) != struct.unpack("<I", index[-4:])[0]:
        return None
    try:
        n, pos = _varint(index, 1)
        records = []
        for _ in range(n):
            unpadded, pos = _varint(index, pos)
            usize, pos = _varint(index, pos)
            records.append((unpadded, usize))
    except ValueError:
        return None
    if any(index[pos:-4]) or (-pos) % 4 != len(index) - 4 - pos:
        return None
    return records


def xz_blocks(path, min_blocks: int = 2) -> list[tuple[int, int, int, int]] | None:
    """The blocks of a single-stream .xz file: (compressed offset, total size
    with padding, unpadded size, uncompressed size) each, from the stream's
    index; None when the file is not one this module handles (not xz,
    several streams, stream padding, fewer than ``min_blocks`` blocks, an index that
    does not add up to the file's size).  Never raises for a malformed file:
    the caller falls back to ``lzma.open``, which reports the problem."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size < 32:
                return None
            f.seek(0)
            header = f.read(12)
            f.seek(size - 12)
            footer = f.read(12)
            if header[:6] != _MAGIC or footer[10:] != _FOOTER_MAGIC or header[6:8] != footer[8:10]:
                return None
            if zlib.crc32(footer[4:10]) != struct.unpack("<I", footer[:4])[0]:
                return None
            index_size = (struct.unpack("<I", footer[4:8])[0] + 1) * 4
            if index_size > size - 24:
                return None
            f.seek(size - 12 - index_size)
            records = _parse_index(f.read(index_size))
    except OSError:
        return None
    if records is None or len(records) < min_blocks:
        return None
    out, off = [], 12
    for unpadded, usize in records:
        total = (unpadded + 3) & ~3
        out.append((off, total, unpadded, usize))
        off += total
    if off + index_size + 12 != size:
        return None                      # several streams, or stream padding
    return out


def block_stream(header12: bytes, block: bytes, unpadded: int, uncompressed: int) -> bytes:
    """One block as a standalone single-block .xz stream: the file's own
    stream header (its check type), the block's bytes verbatim, an index of
    one record and a stream footer, with their CRC32s."""
    body = b"\x00" + _put_varint(1) + _put_varint(unpadded) + _put_varint(uncompressed)
    body += b"\x00" * ((-len(body)) % 4)
    index = body + struct.pack("<I", zlib.crc32(body))
    flags = header12[6:8]
    backward = struct.pack("<I", len(index) // 4 - 1)
    footer = struct.pack("<I", zlib.crc32(backward + flags)) + backward + flags + _FOOTER_MAGIC
    return header12 + block + index + footer


def iter_xz_parallel(path, threads: int = 2, blocks=None):
    """The decompressed bytes of each block of ``path``, in file order, up
    to ``threads`` blocks decompressed at once (and at most ``threads + 1``
    held), so memory is bounded by a few blocks.  ``blocks``: the file's
    :func:`xz_blocks` (read again when None).  Raises ``lzma.LZMAError`` for
    corrupt data, as ``lzma.open`` would."""
    blocks = blocks if blocks is not None else xz_blocks(path)
    if blocks is None:
        raise ValueError(f"{path}: not a single-stream xz file of several blocks")
    path = Path(path)
    with open(path, "rb") as f, \
            concurrent.futures.ThreadPoolExecutor(threads, "defragsim-xz") as pool:
        header = f.read(12)

        def read_block(k: int) -> bytes:
            off, total, unpadded, usize = blocks[k]
            f.seek(off)
            data = f.read(total)
            if len(data) != total:
                raise EOFError(f"{path}: truncated xz block {k + 1}")
            return block_stream(header, data, unpadded, usize)

        pending: deque = deque()
        nxt = 0
        while nxt < len(blocks) or pending:
            while nxt < len(blocks) and len(pending) < threads + 1:
                pending.append(pool.submit(lzma.decompress, read_block(nxt)))
                nxt += 1
            yield pending.popleft().result()
