"""Reading an input file as text, with one-line errors that name it."""
from __future__ import annotations

from pathlib import Path


def read_text(path, error: type, where: str, read_where: str | None = None) -> str:
    """``path`` as UTF-8 text.  A file that cannot be read raises ``error``
    ("<read_where or where>: cannot read: ..."); binary data (not UTF-8, or a
    NUL byte) raises ``error`` ("<where>: not a text file (...)")."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise error(f"{read_where or where}: cannot read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{where}: not a text file (byte 0x{data[e.start]:02x} at offset "
                    f"{e.start} is not UTF-8)") from None
    if "\0" in text:
        raise error(f"{where}: not a text file (a NUL byte at offset {text.index(chr(0))})")
    return text
