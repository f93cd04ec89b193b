"""Small file helpers every stage uses: atomic writes, streaming JSONL, one writer per folder.

Atomic means write to a temporary file in the same folder, fsync, then rename:
a reader (or a resumed run) sees the old file or the new one, never half of one.
:func:`writer_lock` keeps a second writer (another build into the same datastore, another run
into the same run directory) from interleaving with the first: it waits, or stops with a message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from taskforge._errors import BadDataError, LockedError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[Any]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb", encoding=None) as f:
        f.write(data)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=_json_default) + "\n")


def dumps_line(obj: Any) -> str:
    """One JSONL line (no trailing newline), UTF-8 kept readable."""
    return json.dumps(obj, ensure_ascii=False, default=_json_default)


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Any]) -> int:
    """Atomically write ``records`` as JSONL; returns the count."""
    n = 0
    with atomic_open(path, "w") as f:
        for rec in records:
            f.write(dumps_line(rec))
            f.write("\n")
            n += 1
    return n


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream records from a JSONL file; a broken line raises with file and line number."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise BadDataError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None


def read_jsonl_tolerant(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Like :func:`read_jsonl` but ignores a torn last line (left by a kill mid-append)."""
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError as e:
            if lineno == len(lines) and not line.endswith("\n"):
                return  # torn tail from an interrupted append
            raise BadDataError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None


class AppendLog:
    """An append-only JSONL file that survives kill -9: each record is one write + flush + fsync.

    On open, a torn last line (no newline) is truncated away so appends stay well-formed.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        if self.path.exists():
            _truncate_torn_tail(self.path)
        self._f: TextIO | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def append(self, record: Any) -> None:
        assert self._f is not None
        self._f.write(dumps_line(record) + "\n")
        self._f.flush()
        if self._fsync:
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _truncate_torn_tail(path: Path) -> None:
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        # walk back to the last newline and cut there
        pos = size - 1
        chunk = 4096
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            buf = f.read(pos - start)
            idx = buf.rfind(b"\n")
            if idx >= 0:
                f.truncate(start + idx + 1)
                return
            pos = start
        f.truncate(0)


def read_table(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records of a small JSONL / JSON (list, or dict keyed by id) / CSV / TSV file.

    For user-supplied example and eval files; datastore sources stream through their own readers.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return list(read_jsonl(path))
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, list) else list(data.values())
    if suffix in (".csv", ".tsv"):
        import csv

        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    raise BadDataError(f"{path}: expected a .jsonl, .json, .csv or .tsv file")


LOCK_FILE = ".taskforge.lock"


def _stderr_line(message: str) -> None:
    sys.stderr.write(message + "\n")


@contextlib.contextmanager
def writer_lock(
    folder: str | os.PathLike[str],
    *,
    what: str,
    wait: bool = True,
    notify: Callable[[str], None] = _stderr_line,
    name: str = LOCK_FILE,
) -> Iterator[Path]:
    """Hold ``folder``'s writer lock for the block: one writer at a time.

    A second writer waits for the first (after one ``notify`` line naming it), or, with
    ``wait=False``, raises :class:`LockedError`. The lock is an OS file lock (``filelock``:
    ``flock`` on Unix), so a writer killed with SIGKILL releases it at once; nothing goes stale.
    ``what`` names the work in messages ("datastore build", "run"); ``name`` is the lock file's
    name in ``folder`` (one folder may hold several outputs, each with its own lock).
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / name
    owner_file = folder / f"{name}.owner"
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _lock_holder(owner_file, what)
        if not wait:
            raise LockedError(
                f"{folder} is in use by another {holder}; wait for it to finish "
                f"(or leave out --no-wait to wait for it)"
            ) from None
        notify(f"{folder} is in use by another {holder}; waiting for it to finish ...")
        started = time.monotonic()
        lock.acquire()
        notify(f"{folder}: the other writer finished after {time.monotonic() - started:.0f} s; going on")
    try:
        owner = {"pid": os.getpid(), "what": what, "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        with contextlib.suppress(OSError):
            atomic_write_json(owner_file, owner)
        yield lock_path
    finally:
        with contextlib.suppress(OSError):
            owner_file.unlink()
        lock.release()


def _lock_holder(owner_file: Path, what: str) -> str:
    """The holder as "run (pid 123, since 12:00:01)" from its note, or just ``what`` without one."""
    try:
        owner = json.loads(owner_file.read_text(encoding="utf-8"))
        return f"{owner['what']} (pid {int(owner['pid'])}, since {owner['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return what


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file or a folder by path (a folder's fsync makes a rename inside it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_fingerprint(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def stable_hash(obj: Any, *, length: int = 16) -> str:
    """Canonical hash of a JSON-able object (sorted keys), for cache keys and config records."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if hasattr(o, "model_dump"):
        return o.model_dump()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


__all__ = [
    "LOCK_FILE",
    "AppendLog",
    "LockedError",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "dumps_line",
    "file_fingerprint",
    "fsync_path",
    "read_jsonl",
    "read_jsonl_tolerant",
    "read_table",
    "stable_hash",
    "write_jsonl",
    "writer_lock",
]
