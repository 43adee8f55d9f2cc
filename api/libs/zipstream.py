"""A zip archive written as a stream of byte chunks (no temporary file, no seeking), and safe entry names.

`stream_zip` writes each entry with zipfile's streaming mode (data descriptors), reading an entry's bytes only when
its turn comes, and yields the archive piece by piece: at most one entry's data and a small buffer are in memory.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator

WRITE_SLICE = 1 << 20  # bytes handed to the compressor (and flushed to the client) at a time


class _Sink(io.RawIOBase):
    """An unseekable, write-only buffer that zipfile writes into and the generator drains."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def unique_names(names: Iterable[str]) -> list[str]:
    """Entry names made safe (no directories, no control characters, never empty) and unique in order: a repeated
    `a.txt` becomes `a (1).txt`, `a (2).txt`, … (case-insensitively, as most file systems compare)."""
    taken: set[str] = set()
    result = []
    for raw in names:
        name = "".join(c for c in raw.replace("/", "_").replace("\\", "_") if c.isprintable()).strip(" .")
        name = name or "document"
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, ext = name, ""
        candidate, n = name, 0
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem} ({n}).{ext}" if ext else f"{stem} ({n})"
        taken.add(candidate.lower())
        result.append(candidate)
    return result


def stream_zip(entries: Iterable[tuple[str, Callable[[], bytes]]]) -> Iterator[bytes]:
    """The zip archive of `entries` ((name, read) pairs; `read()` is called when the entry is written) as chunks.

    Names are used as given (see unique_names). Deflate-compressed, Zip64 where needed.
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, read in entries:
            data = read()
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, mode="w", force_zip64=len(data) >= zipfile.ZIP64_LIMIT) as target:
                for start in range(0, len(data), WRITE_SLICE):
                    target.write(data[start:start + WRITE_SLICE])
                    chunk = sink.drain()
                    if chunk:
                        yield chunk
            chunk = sink.drain()
            if chunk:
                yield chunk
    tail = sink.drain()
    if tail:
        yield tail
