"""Streaming readers, one per file format: each yields ``Row(row_id, record)`` or ``BadRow``.

Nothing here holds a whole file in memory: JSONL/CSV/text go line by line, JSON arrays and
id-keyed objects are decoded one element at a time, Parquet by record batch.
A malformed row becomes a ``BadRow`` naming the file and line/row; the builder counts and
reports it (or stops under ``--strict``).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import json
import lzma
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from taskforge._errors import InputError

COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".txt": "text",
    ".text": "text",
}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class Row:
    row_id: str
    record: Any


@dataclass(frozen=True)
class BadRow:
    row_id: str
    message: str


class UnreadableFile(InputError, OSError):
    """A file that cannot be read at all (not one bad row)."""


def file_format(path: Path) -> str | None:
    """Format name from the file suffix (``.jsonl.gz`` -> ``jsonl``), or None when unknown."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return FORMATS.get(suffixes[-1]) if suffixes else None


def open_text(path: Path) -> IO[str]:
    opener = COMPRESSED.get(path.suffix.lower())
    if opener is not None:
        return opener(path, "rt", encoding="utf-8", errors="replace")  # type: ignore[no-any-return]
    return open(path, encoding="utf-8", errors="replace", newline="")


def read_file(path: Path, label: str, *, text_unit: str = "line") -> Iterator[Row | BadRow]:
    """Rows of one data file; ``label`` is the file's name within its source (used in row ids)."""
    fmt = file_format(path)
    try:
        if fmt == "jsonl":
            yield from _jsonl(path, label)
        elif fmt == "json":
            yield from _json(path, label)
        elif fmt in ("csv", "tsv"):
            yield from _csv(path, label, "\t" if fmt == "tsv" else ",")
        elif fmt == "parquet":
            yield from _parquet(path, label)
        elif fmt == "text":
            yield from _text(path, label, text_unit)
        else:
            raise UnreadableFile(f"{path}: unknown file format")
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as e:
        if isinstance(e, UnreadableFile):
            raise
        raise UnreadableFile(f"{path}: cannot read ({type(e).__name__}: {e})") from e


def _jsonl(path: Path, label: str) -> Iterator[Row | BadRow]:
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield Row(f"{label}:{lineno}", json.loads(line))
            except json.JSONDecodeError as e:
                yield BadRow(f"{label}:{lineno}", f"{path}:{lineno}: invalid JSON ({e.msg})")


def _csv(path: Path, label: str, delimiter: str) -> Iterator[Row | BadRow]:
    with open_text(path) as f:
        head = f.read(1 << 16)
    escape = "\\" if '\\"' in head else None  # some exports escape quotes as \" instead of ""
    with open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter, escapechar=escape)
        first = next(reader, None)
        if first is None:
            return
        if looks_like_header(first):
            header = _unique_names(first)
            pending: list[list[str]] = []
        else:
            header = [f"col{i}" for i in range(len(first))]
            pending = [first]
        start_line = reader.line_num
        for cells in pending:
            yield Row(f"{label}:{start_line}", dict(zip(header, cells, strict=False)))
        for cells in reader:
            lineno = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                yield BadRow(
                    f"{label}:{lineno}",
                    f"{path}:{lineno}: {len(cells)} fields, header has {len(header)}",
                )
                continue
            yield Row(f"{label}:{lineno}", dict(zip(header, cells, strict=True)))


def looks_like_header(cells: list[str]) -> bool:
    """A header row has short, non-numeric names (sst5's TSV has none: ``__label__4 \\t sentence``)."""
    from taskforge._cells import _NUMBER

    filled = [c.strip() for c in cells if c.strip()]
    if not filled:
        return False
    return all(len(c) <= 60 and len(c.split()) <= 8 and not _NUMBER.match(c) for c in filled)


def _unique_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    for i, c in enumerate(cells):
        name = " ".join(c.split()) or f"col{i}"
        base, k = name, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


def _text(path: Path, label: str, unit: str) -> Iterator[Row | BadRow]:
    with open_text(path) as f:
        if unit == "file":
            text = f.read()
            if text.strip():
                yield Row(f"{label}:1", {"text": text})
            return
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield Row(f"{label}:{lineno}", {"text": line.rstrip("\r\n")})


def _parquet(path: Path, label: str) -> Iterator[Row | BadRow]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    i = 0
    for batch in pf.iter_batches(batch_size=1024):
        for rec in batch.to_pylist():
            yield Row(f"{label}:{i}", rec)
            i += 1


# ---- streaming JSON --------------------------------------------------------------------------
class _JsonStream:
    """Decode JSON values one at a time from a text stream, growing a buffer only as needed."""

    def __init__(self, f: IO[str], chunk: int = 1 << 16) -> None:
        self.f, self.chunk = f, chunk
        self.buf, self.pos, self.eof = "", 0, False
        self.consumed = 0  # characters dropped from the front of buf
        self.lines_dropped = 0
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        data = self.f.read(self.chunk)
        if not data:
            self.eof = True
            return False
        if self.pos > (1 << 20):
            self.lines_dropped += self.buf.count("\n", 0, self.pos)
            self.consumed += self.pos
            self.buf, self.pos = self.buf[self.pos :], 0
        self.buf += data
        return True

    def line(self) -> int:
        return self.lines_dropped + self.buf.count("\n", 0, self.pos) + 1

    def peek(self) -> str:
        """Next non-whitespace character ('' at end of input)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos].isspace():
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, ch: str) -> None:
        got = self.peek()
        if got != ch:
            raise json.JSONDecodeError(f"expected {ch!r}, found {got or 'end of file'!r}", self.buf, self.pos)
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                val, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if self.eof or not self._fill():
                    self.eof = True
                    val, end = self.decoder.raw_decode(self.buf, self.pos)  # raises with the real error
                    return val
                continue
            # a number at the end of the buffer may continue in the next chunk
            if end == len(self.buf) and not self.eof and self._fill():
                continue
            self.pos = end
            return val


def _json(path: Path, label: str) -> Iterator[Row | BadRow]:
    """A JSON file: a list of records, a dict keyed by id, one record, or one record per line."""
    with open_text(path) as f:
        head = f.read(1 << 16)
    stripped = head.lstrip()
    if stripped.startswith("{"):
        first_line = stripped.split("\n", 1)[0].strip()
        try:
            json.loads(first_line)
            yield from _jsonl(path, label)  # one record per line
            return
        except json.JSONDecodeError:
            pass
    with open_text(path) as f:
        js = _JsonStream(f)
        first = js.peek()
        index = 0
        try:
            if first == "[":
                js.expect("[")
                if js.peek() == "]":
                    return
                while True:
                    yield Row(f"{label}:{index}", js.value())
                    index += 1
                    if js.peek() == "]":
                        return
                    js.expect(",")
            elif first == "{":
                js.expect("{")
                if js.peek() == "}":
                    return
                pairs: list[tuple[str, Any]] = []
                keyed = None  # decided by the first value: a record (dict) means keyed by id
                while True:
                    key = js.value()
                    js.expect(":")
                    val = js.value()
                    if keyed is None:
                        keyed = isinstance(val, dict)
                    if keyed:
                        yield Row(f"{label}:{key}", val)
                    else:
                        pairs.append((str(key), val))
                    index += 1
                    if js.peek() == "}":
                        break
                    js.expect(",")
                if not keyed:
                    yield Row(f"{label}:0", dict(pairs))
            elif first:
                yield Row(f"{label}:0", js.value())
        except json.JSONDecodeError as e:
            yield BadRow(
                f"{label}:{index}",
                f"{path}:{js.line()}: invalid JSON in row {index} ({e.msg}); rest of the file skipped",
            )


def iter_hf_dataset(ds: Any, split: str | None) -> Iterator[Row | BadRow]:
    """Rows of a datasets ``Dataset``/``IterableDataset`` (or a dict of splits)."""
    if hasattr(ds, "keys") and not hasattr(ds, "features"):
        for name in ds:
            yield from iter_hf_dataset(ds[name], name)
        return
    prefix = split or "data"
    for i, rec in enumerate(ds):
        yield Row(f"{prefix}:{i}", rec)


__all__ = ["BadRow", "Row", "UnreadableFile", "file_format", "looks_like_header", "read_file"]
