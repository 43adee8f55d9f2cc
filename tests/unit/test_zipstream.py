"""libs.zipstream: a valid archive streamed entry by entry, and safe, unique entry names."""

import io
import zipfile

from api.libs.zipstream import WRITE_SLICE, stream_zip, unique_names


def _open(chunks) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    return archive


def test_stream_zip_holds_every_entry_with_its_bytes():
    entries = {"a.txt": b"alpha", "b.bin": bytes(range(256)) * 10, "empty.txt": b""}

    archive = _open(stream_zip((name, lambda data=data: data) for name, data in entries.items()))

    assert {name: archive.read(name) for name in archive.namelist()} == entries
    assert archive.namelist() == list(entries)


def test_stream_zip_reads_each_entry_only_when_it_is_written():
    reads: list[str] = []

    def reader(name: str):
        def read() -> bytes:
            reads.append(name)
            return name.encode() * (WRITE_SLICE // 4)
        return read

    stream = stream_zip((name, reader(name)) for name in ("one", "two"))
    first = next(stream)

    assert reads == ["one"]
    assert first
    rest = list(stream)
    assert reads == ["one", "two"]
    assert _open([first, *rest]).read("two") == b"two" * (WRITE_SLICE // 4)


def test_stream_zip_of_nothing_is_an_empty_archive():
    assert _open(stream_zip([])).namelist() == []


def test_unique_names_number_repeats_case_insensitively_before_the_extension():
    assert unique_names(["notes.txt", "Notes.txt", "notes.txt", "readme", "readme"]) == [
        "notes.txt", "Notes (1).txt", "notes (2).txt", "readme", "readme (1)"]


def test_unique_names_strip_directories_and_control_characters():
    assert unique_names(["../../etc/passwd", "a\\b.txt", "", "x\x00y\n.md", " . "]) == [
        "_.._etc_passwd", "a_b.txt", "document", "xy.md", "document (1)"]
