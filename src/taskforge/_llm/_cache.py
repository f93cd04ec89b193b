"""SQLite response cache and call log (one file, WAL mode, a commit per response).

``responses`` holds successful responses keyed by a canonical hash of (backend, model, messages,
options, sample_index): a re-run or a resume after kill -9 finds them and makes no call.
``log`` holds every real call's outcome, success or failure, with its prompt, response, timing and
tokens (like simonw/llm's log). Failures are logged but never cached, so a later run retries them.
API keys are never written: nothing here sees headers. Prompts and answers may hold private data,
so the file is readable by its owner only (0600); SQLite gives its -wal and -shm side files the
database file's permissions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskforge._io import stable_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    texts TEXT NOT NULL,
    finish_reason TEXT,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    cache_key TEXT NOT NULL,
    request_key TEXT,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    messages TEXT NOT NULL,
    options TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    response TEXT,
    error TEXT,
    status INTEGER,
    attempts INTEGER NOT NULL,
    latency REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost REAL
);
CREATE INDEX IF NOT EXISTS log_cache_key ON log (cache_key);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    keys TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    ended REAL
);
"""


def cache_key(
    backend: str,
    model: str,
    messages: list[dict[str, str]],
    options: dict[str, Any],
    sample_index: int,
    schema: dict[str, Any] | None = None,
) -> str:
    """Canonical hash of everything that determines a response (not the base URL, not the caller's key).

    ``schema`` (a structured-output request) is part of it only when given, so keys made
    before structured outputs existed stay valid.
    """
    parts: dict[str, Any] = {
        "backend": backend,
        "model": model,
        "messages": messages,
        "options": options,
        "sample_index": sample_index,
    }
    if schema is not None:
        parts["schema"] = schema
    return stable_hash(parts, length=32)


class ResponseCache:
    """The cache file: reads on the caller's thread, writes on one writer thread with group commit.

    Group commit: records of one event-loop tick are handed to the writer thread together
    (one cross-thread wake-up per tick, not per response: a hand-off per response cost ~0.3 ms
    under load), the writer takes every batch waiting in its queue, writes them in one
    transaction and commits, then wakes their callers with one call per loop. A result is
    handed to the caller only after its commit, so whatever a caller has seen is on disk and a
    resumed run will not ask for it again.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _owner_only(self.path)
        self._read = self._connect()
        self._read.executescript(SCHEMA)
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[list[_Pending] | None] = queue.SimpleQueue()
        self._ticks: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}  # this tick's records, per loop
        self._writer = threading.Thread(target=self._write_loop, args=(self._connect(),), daemon=True)
        self._writer.start()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: every commit survives a process kill
        return db

    def get(self, key: str) -> dict[str, Any] | None:
        with self._read_lock:
            row = self._read.execute(
                "SELECT texts, finish_reason, input_tokens, output_tokens FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return {
            "texts": json.loads(row[0]),
            "finish_reason": row[1],
            "input_tokens": row[2],
            "output_tokens": row[3],
        }

    async def record(self, entry: LogEntry) -> None:
        """Log one finished call and, if it succeeded, cache its response; returns once committed."""
        if self._closed:
            raise RuntimeError("the LLM cache is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        tick = self._ticks.get(loop)
        if tick is None:
            tick = self._ticks[loop] = []
            loop.call_soon(self._hand_off, loop)
        tick.append(_Pending(entry, loop, fut))
        await fut

    def _hand_off(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give this tick's records to the writer in one put."""
        batch = self._ticks.pop(loop, None)
        if batch:
            self._queue.put(batch)

    # -- batch journal: which provider batches hold which keys (see _batch.py) -----------------
    def batch_submitted(self, batch_id: str, spec: str, keys: list[str]) -> None:
        """Record a batch the provider accepted (committed before anything else happens)."""
        with self._read_lock:
            self._read.execute(
                "INSERT OR REPLACE INTO batches VALUES (?, ?, ?, 'submitted', ?, NULL)",
                (batch_id, spec, json.dumps(keys), time.time()),
            )

    def batch_renamed(self, old: str, new: str) -> None:
        with self._read_lock:
            self._read.execute("UPDATE batches SET id = ? WHERE id = ?", (new, old))

    def batch_ended(self, batch_id: str, status: str) -> None:
        with self._read_lock:
            self._read.execute(
                "UPDATE batches SET status = ?, ended = ? WHERE id = ?", (status, time.time(), batch_id)
            )

    def open_batches(self, spec: str) -> list[tuple[str, list[str]]]:
        """(batch id, cache keys) of this model's batches not yet collected, oldest first."""
        with self._read_lock:
            rows = self._read.execute(
                "SELECT id, keys FROM batches WHERE spec = ? AND ended IS NULL ORDER BY created", (spec,)
            ).fetchall()
        return [(r[0], json.loads(r[1])) for r in rows]

    def batches(self) -> list[dict[str, Any]]:
        """Every recorded batch (for summaries and tests)."""
        with self._read_lock:
            rows = self._read.execute(
                "SELECT id, spec, keys, status, created, ended FROM batches ORDER BY created"
            ).fetchall()
        return [
            {
                "id": r[0],
                "spec": r[1],
                "n": len(json.loads(r[2])),
                "status": r[3],
                "created": r[4],
                "ended": r[5],
            }
            for r in rows
        ]

    def count(self) -> int:
        with self._read_lock:
            return self._read.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Finish pending writes, stop the writer, close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(timeout=60)
        with self._read_lock:
            self._read.close()

    def _write_loop(self, db: sqlite3.Connection) -> None:
        stop = False
        while not stop:
            batch: list[_Pending] = []
            item = self._queue.get()
            while item is not None:
                batch.extend(item)
                if len(batch) >= 1024:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stop = item is None
            if batch:
                self._write(db, batch)
        db.close()

    def _write(self, db: sqlite3.Connection, batch: list[_Pending]) -> None:
        error: BaseException | None = None
        try:
            entries = [p.entry for p in batch]
            db.execute("BEGIN")
            db.executemany(  # one call per table and batch: the per-row Python cost held the GIL
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.key,
                        e.backend,
                        e.model,
                        e.response,
                        e.finish_reason,
                        e.input_tokens,
                        e.output_tokens,
                        e.ts,
                    )
                    for e in entries
                    if e.ok
                ],
            )
            db.executemany(
                "INSERT INTO log (ts, cache_key, request_key, backend, model, messages, options, sample_index,"
                " ok, response, error, status, attempts, latency, input_tokens, output_tokens, cost)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.ts,
                        e.key,
                        e.request_key,
                        e.backend,
                        e.model,
                        e.messages,
                        e.options,
                        e.sample_index,
                        int(e.ok),
                        e.response,
                        e.error,
                        e.status,
                        e.attempts,
                        e.latency,
                        e.input_tokens,
                        e.output_tokens,
                        e.cost,
                    )
                    for e in entries
                ],
            )
            db.execute("COMMIT")
        except BaseException as exc:
            error = exc
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for p in batch:
            by_loop.setdefault(p.loop, []).append(p.future)
        for loop, futures in by_loop.items():  # one wake-up per loop per batch
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, futures, error)


def _owner_only(path: Path) -> None:
    """Create the cache file readable and writable by its owner only (and tighten an older one)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(p, 0o600)


@dataclass(slots=True)
class LogEntry:
    """One finished call, ready to write (JSON already encoded)."""

    key: str
    request_key: str
    backend: str
    model: str
    messages: str
    options: str
    sample_index: int
    ok: bool
    response: str | None
    finish_reason: str | None
    error: str | None
    status: int | None
    attempts: int
    latency: float
    input_tokens: int
    output_tokens: int
    cost: float
    ts: float = field(default_factory=time.time)


@dataclass(slots=True)
class _Pending:
    entry: LogEntry
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


def _resolve(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for f in futures:
        if not f.done():
            if error is None:
                f.set_result(None)
            else:
                f.set_exception(RuntimeError(f"writing the LLM cache failed: {error!r}"))


__all__ = ["LogEntry", "ResponseCache", "cache_key"]
