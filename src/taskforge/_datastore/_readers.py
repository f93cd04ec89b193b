"""Streaming readers, one per file format: each yields ``Row(row_id, record)`` or ``BadRow``.

Nothing here holds a whole file in memory: JSONL/CSV/text go line by line (a line longer than
``max_row_bytes`` is skipped without being read into memory), JSON arrays and id-keyed objects
are decoded one element at a time, Parquet by record batch.
A malformed row becomes a ``BadRow`` naming the file and line/element; the builder counts and
reports it (or stops under ``--strict``). A bad element of a JSON array loses only itself.

Text is never damaged silently: bytes that are not valid in the file's encoding (UTF-8 unless
``--encoding`` says otherwise) make their row a ``BadRow`` instead of turning into U+FFFD.
``encoding="auto"`` detects each file's charset (charset-normalizer) and says so in a ``Notice``.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import lzma
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from taskforge._errors import InputError, SettingsError

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
DEFAULT_MAX_ROW_BYTES = 64 * 1024 * 1024  # a row this long is skipped and reported (--max-row-mb)
_SURROGATE = re.compile("[\udc80-\udcff]")  # what surrogateescape turns undecodable bytes into
_ENCODING_HINT = "if the file uses another encoding, give --encoding (e.g. latin-1, cp1252, or auto)"

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class Row:
    row_id: str
    record: Any


@dataclass(frozen=True)
class BadRow:
    row_id: str
    message: str


@dataclass(frozen=True)
class Notice:
    """Something the user should see that is not a bad row (e.g. the encoding detected for a file)."""

    message: str


@dataclass(frozen=True)
class ReadOptions:
    """How to read a source's files.

    ``encoding``: ``None`` means UTF-8, with undecodable rows counted as malformed; ``"auto"``
    detects each file's charset; anything else is a codec name (``latin-1``, ``cp1252``, ...).
    ``max_row_bytes``: longer rows (lines, JSON elements, whole text files) are skipped and
    reported, so one huge row cannot exhaust memory.
    """

    encoding: str | None = None
    max_row_bytes: int = DEFAULT_MAX_ROW_BYTES

    def __post_init__(self) -> None:
        if self.encoding not in (None, "auto"):
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise SettingsError(f"unknown encoding {self.encoding!r}") from None
        if self.max_row_bytes < 1:
            raise SettingsError(f"max_row_bytes must be >= 1, got {self.max_row_bytes}")


class UnreadableFile(InputError, OSError):
    """A file that cannot be read at all (not one bad row)."""


def file_format(path: Path) -> str | None:
    """Format name from the file suffix (``.jsonl.gz`` -> ``jsonl``), or None when unknown."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return FORMATS.get(suffixes[-1]) if suffixes else None


def open_binary(path: Path) -> IO[bytes]:
    opener = COMPRESSED.get(path.suffix.lower())
    if opener is not None:
        return opener(path, "rb")  # type: ignore[no-any-return]
    return open(path, "rb")


def open_text(path: Path, codec: str = "utf-8") -> IO[str]:
    """A text stream that keeps undecodable bytes as lone surrogates (found later by ``_SURROGATE``)."""
    return io.TextIOWrapper(open_binary(path), encoding=codec, errors="surrogateescape", newline="")


def read_file(
    path: Path, label: str, *, text_unit: str = "line", options: ReadOptions | None = None
) -> Iterator[Row | BadRow | Notice]:
    """Rows of one data file; ``label`` is the file's name within its source (used in row ids)."""
    opts = options or ReadOptions()
    fmt = file_format(path)
    try:
        if fmt is None:
            raise UnreadableFile(f"{path}: unknown file format")
        codec = "utf-8"
        if fmt != "parquet":
            codec, notice = _file_codec(path, opts.encoding)
            if notice:
                yield Notice(notice)
        if fmt == "jsonl":
            yield from _jsonl(path, label, codec, opts.max_row_bytes)
        elif fmt == "json":
            yield from _json(path, label, codec, opts.max_row_bytes)
        elif fmt in ("csv", "tsv"):
            yield from _csv(path, label, "\t" if fmt == "tsv" else ",", codec, opts.max_row_bytes)
        elif fmt == "parquet":
            yield from _parquet(path, label)
        else:
            yield from _text(path, label, text_unit, codec, opts.max_row_bytes)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as e:
        if isinstance(e, UnreadableFile):
            raise
        raise UnreadableFile(f"{path}: cannot read ({type(e).__name__}: {e})") from e


# ---- encodings and lines ---------------------------------------------------------------------
def _file_codec(path: Path, encoding: str | None) -> tuple[str, str | None]:
    """(codec, notice): the declared codec, UTF-8, or the charset detected from the file's first MB."""
    if encoding != "auto":
        return encoding or "utf-8", None
    from charset_normalizer import from_bytes

    with open_binary(path) as f:
        head = f.read(1 << 20)
    best = from_bytes(head).best()
    if best is None or best.encoding in ("ascii", "utf_8"):
        return "utf-8", None
    return best.encoding, f"{path}: decoded as {best.encoding} (detected; give --encoding to choose)"


def _lines(f: IO[bytes], max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; ``None`` for a line over ``max_bytes``, skipped unread."""
    lineno = 0
    while raw := f.readline(max_bytes + 1):
        lineno += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            del raw
            while (rest := f.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield lineno, None
            continue
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        yield lineno, raw


def _too_long(path: Path, where: str, max_bytes: int) -> str:
    return (
        f"{path}:{where}: row longer than {max_bytes / 2**20:g} MB skipped "
        f"(raise the limit with --max-row-mb)"
    )


def _undecodable(path: Path, lineno: int, codec: str, e: UnicodeDecodeError) -> str:
    byte = e.object[e.start] if e.start < len(e.object) else 0
    return (
        f"{path}:{lineno}: not valid {codec} (byte 0x{byte:02x} at column {e.start + 1}); "
        f"row skipped; {_ENCODING_HINT}"
    )


def _jsonl(path: Path, label: str, codec: str, max_bytes: int) -> Iterator[Row | BadRow]:
    with open_binary(path) as f:
        for lineno, raw in _lines(f, max_bytes):
            row_id = f"{label}:{lineno}"
            if raw is None:
                yield BadRow(row_id, _too_long(path, str(lineno), max_bytes))
                continue
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as e:
                yield BadRow(row_id, _undecodable(path, lineno, codec, e))
                continue
            del raw  # a long row should not sit in memory twice while the caller works
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as e:
                yield BadRow(row_id, f"{path}:{lineno}: invalid JSON ({e.msg})")
                continue
            del text
            yield Row(row_id, record)


def _csv(path: Path, label: str, delimiter: str, codec: str, max_bytes: int) -> Iterator[Row | BadRow]:
    with open_binary(path) as f:
        head = f.read(1 << 16).decode(codec, errors="replace")  # only to spot the quoting style
    escape = "\\" if '\\"' in head else None  # some exports escape quotes as \" instead of ""
    bad_lines: dict[int, str] = {}  # line number -> why (undecodable, too long)

    def lines() -> Iterator[str]:
        with open_binary(path) as f:
            for lineno, raw in _lines(f, max_bytes):
                if raw is None:
                    bad_lines[lineno] = _too_long(path, str(lineno), max_bytes)
                    yield "\n"
                    continue
                try:
                    yield raw.decode(codec)
                except UnicodeDecodeError as e:
                    bad_lines[lineno] = _undecodable(path, lineno, codec, e)
                    yield raw.decode(codec, errors="surrogateescape")

    reader = csv.reader(lines(), delimiter=delimiter, escapechar=escape)
    first = next(reader, None)
    if first is None:
        return
    if 1 in bad_lines:
        raise UnreadableFile(f"{bad_lines[1]} (in the header: the whole file is unreadable)")
    if looks_like_header(first):
        header = _unique_names(first)
        pending: list[list[str]] = []
    else:
        header = [f"col{i}" for i in range(len(first))]
        pending = [first]
    start_line = reader.line_num
    for cells in pending:
        yield Row(f"{label}:{start_line}", dict(zip(header, cells, strict=False)))
    last = reader.line_num
    for cells in reader:
        lineno, first_line, last = reader.line_num, last + 1, reader.line_num
        if bad_lines:
            why = [bad_lines.pop(n) for n in range(first_line, lineno + 1) if n in bad_lines]
            if why:
                yield BadRow(f"{label}:{lineno}", why[0])
                continue
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


def _text(path: Path, label: str, unit: str, codec: str, max_bytes: int) -> Iterator[Row | BadRow]:
    if unit == "file":
        with open_binary(path) as f:
            raw = f.read(max_bytes + 1)
        if len(raw) > max_bytes:
            yield BadRow(f"{label}:1", _too_long(path, "1", max_bytes))
            return
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as e:
            yield BadRow(f"{label}:1", _undecodable(path, 1, codec, e))
            return
        if text.strip():
            yield Row(f"{label}:1", {"text": text})
        return
    with open_binary(path) as f:
        for lineno, raw in _lines(f, max_bytes):
            if raw is None:
                yield BadRow(f"{label}:{lineno}", _too_long(path, str(lineno), max_bytes))
                continue
            try:
                line = raw.decode(codec)
            except UnicodeDecodeError as e:
                yield BadRow(f"{label}:{lineno}", _undecodable(path, lineno, codec, e))
                continue
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
# The stdlib's C decoder (``raw_decode``) decodes each element; only a bad or oversized element
# goes through the Python scanner below, which finds where it ends so the next one can be read.
# ijson streams too, but stops for good at the first syntax error, which is what this must survive.
_IN_STRING = re.compile(r'[\\"\n]')
_OUTSIDE = re.compile(r'["{}\[\],]')


class _TooLarge(Exception):
    """An element longer than the row limit: skipped without being decoded."""


class _JsonStream:
    """Decode JSON values one at a time from a text stream, growing a buffer only as needed."""

    def __init__(self, f: IO[str], *, max_chars: int, chunk: int = 1 << 16) -> None:
        self.f, self.chunk, self.max_chars = f, chunk, max_chars
        self.buf, self.pos, self.eof = "", 0, False
        self.lines_dropped = self.dropped = 0  # newlines and characters cut from the front of buf
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        data = self.f.read(self.chunk)
        if not data:
            self.eof = True
            return False
        if self.pos > (1 << 20):
            self.lines_dropped += self.buf.count("\n", 0, self.pos)
            self.dropped += self.pos
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

    def value(self) -> tuple[Any, bool]:
        """The next value and whether its text held undecodable bytes; raises on invalid JSON."""
        self.peek()
        while True:
            try:
                val, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                # cut off by the end of the buffer (a partial literal such as `tr` fails near the end;
                # an open string fails where it starts), rather than invalid where it stands
                incomplete = e.pos >= len(self.buf) - 16 or e.msg.startswith("Unterminated string")
                if not incomplete or self.eof:
                    raise
                if len(self.buf) - self.pos > self.max_chars:
                    raise _TooLarge from None
                if not self._fill():
                    raise
                continue
            # a number at the end of the buffer may continue in the next chunk
            if end == len(self.buf) and not self.eof and self._fill():
                continue
            start, self.pos = self.pos, end
            if end - start > self.max_chars:
                raise _TooLarge
            return val, _SURROGATE.search(self.buf, start, end) is not None

    def skip_value(self) -> None:
        """Move past one value, valid or not: to the next ``,`` or closing bracket at its own depth.

        A string cannot hold a raw newline, so a string still open at the end of its line lacks
        its closing quote: scanning resumes right after its opening quote, and an unterminated
        string in pretty-printed JSON costs one element, not the rest of the file.
        """
        depth, in_string, opened = 0, False, 0
        while True:
            m = (_IN_STRING if in_string else _OUTSIDE).search(self.buf, self.pos)
            if m is None:
                self.pos = len(self.buf)
                if not self._fill():
                    return
                continue
            ch, self.pos = m.group(), m.end()
            if in_string:
                if ch == "\\":
                    if self.pos >= len(self.buf) and not self._fill():
                        return
                    self.pos += 1
                elif ch == "\n" and opened >= self.dropped:
                    self.pos = opened - self.dropped  # unterminated: its "content" is structure
                in_string = ch != '"' and ch != "\n"
            elif ch == '"':
                in_string, opened = True, self.dropped + self.pos
            elif ch in "{[":
                depth += 1
            elif depth == 0:  # "," or a closing bracket at the value's own level: its end
                self.pos = m.start()
                return
            elif ch in "}]":
                depth -= 1


def _json(path: Path, label: str, codec: str, max_bytes: int) -> Iterator[Row | BadRow | Notice]:
    """A JSON file: a list of records, a dict keyed by id, one record, or one record per line."""
    with open_text(path, codec) as f:
        head = f.read(1 << 16)
    stripped = head.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        first_line = stripped.split("\n", 1)[0].strip()
        try:
            json.loads(first_line)
            yield from _jsonl(path, label, codec, max_bytes)  # one record per line
            return
        except json.JSONDecodeError:
            pass
    with open_text(path, codec) as f:
        js = _JsonStream(f, max_chars=max_bytes)
        if js.peek() == "\ufeff":
            js.pos += 1
        first = js.peek()
        if first == "[":
            yield from _json_members(js, path, label, keyed=False)
        elif first == "{":
            yield from _json_members(js, path, label, keyed=True)
        elif first:
            try:
                yield Row(f"{label}:0", js.value()[0])
            except (json.JSONDecodeError, _TooLarge) as e:
                yield BadRow(f"{label}:0", f"{path}:{js.line()}: invalid JSON ({_why(e)})")


def _why(e: Exception) -> str:
    return e.msg if isinstance(e, json.JSONDecodeError) else "longer than the row limit (--max-row-mb)"


def _json_members(js: _JsonStream, path: Path, label: str, *, keyed: bool) -> Iterator[Row | BadRow | Notice]:
    """Elements of a top-level array, or members of a top-level object, one at a time.

    A bad element is reported with its index and line and skipped; the ones after it are read.
    An object whose first value is a record is keyed by id (one row per member); otherwise the
    whole object is one record.
    """
    close = "}" if keyed else "]"
    js.expect("{" if keyed else "[")
    pairs: list[tuple[str, Any]] = []
    by_id: bool | None = None if keyed else False
    index = 0
    while (nxt := js.peek()) != "":
        if nxt == close:
            js.pos += 1
            after = js.peek()
            if after != ",":
                if after:
                    yield BadRow(
                        f"{label}:{index}", f"{path}:{js.line()}: data after the closing {close!r} ignored"
                    )
                break
            js.pos += 1  # "], {...": a stray bracket inside the array
            yield Notice(f"{path}:{js.line()}: stray {close!r} before element {index} ignored")
            continue
        try:
            if keyed:
                key, _ = js.value()
                js.expect(":")
            val, undecodable = js.value()
            if keyed and by_id is None:
                by_id = isinstance(val, dict)
            row_id = f"{label}:{key}" if by_id else f"{label}:{index}"
            if undecodable:
                yield BadRow(row_id, f"{path}:{js.line()}: element {index}: not valid text; {_ENCODING_HINT}")
            elif keyed and not by_id:
                pairs.append((str(key), val))
            else:
                yield Row(row_id, val)
        except (json.JSONDecodeError, _TooLarge) as e:
            line, at = js.line(), js.pos  # a failed decode leaves pos where the bad value starts
            js.skip_value()
            if js.pos == at and js.peek() not in (",", close, ""):
                js.pos += 1  # nothing to skip (a stray character): step over it
            yield BadRow(
                f"{label}:{index}",
                f"{path}:{line}: element {index}: invalid JSON ({_why(e)}); that element skipped",
            )
        index += 1
        if js.peek() == ",":  # (a missing comma: the next element is read all the same)
            js.pos += 1
    else:
        yield BadRow(
            f"{label}:{index}", f"{path}:{js.line()}: file ends before the closing {close!r} (truncated?)"
        )
    if pairs:
        yield Row(f"{label}:0", dict(pairs))


def iter_hf_dataset(ds: Any, split: str | None) -> Iterator[Row | BadRow]:
    """Rows of a datasets ``Dataset``/``IterableDataset`` (or a dict of splits)."""
    if hasattr(ds, "keys") and not hasattr(ds, "features"):
        for name in ds:
            yield from iter_hf_dataset(ds[name], name)
        return
    prefix = split or "data"
    for i, rec in enumerate(ds):
        yield Row(f"{prefix}:{i}", rec)


__all__ = [
    "DEFAULT_MAX_ROW_BYTES",
    "BadRow",
    "Notice",
    "ReadOptions",
    "Row",
    "UnreadableFile",
    "file_format",
    "looks_like_header",
    "read_file",
]
