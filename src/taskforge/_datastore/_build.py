"""``build_datastore``: read sources, embed them chunk by chunk, then merge into one store.

State on disk (all under the output folder):
  chunks/<source>-<key>/c000000/ ...   one folder per finished chunk (atomic)
  chunks/<source>-<key>/source.json    written when every chunk of the source is done
  manifest.json                        the commit point: what the store contains
A source whose key (content fingerprint + build options) is already complete is skipped;
a killed build resumes at the first chunk folder that is missing.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from taskforge._cells import text_cells
from taskforge._console import console, make_progress
from taskforge._datastore._chunks import (
    ChunkInput,
    clean_partial,
    embed_chunk,
    is_done,
    read_chunk_meta,
    write_chunk,
)
from taskforge._datastore._merge import MANIFEST, load_manifest, merge
from taskforge._datastore._readers import BadRow, UnreadableFile
from taskforge._datastore._sources import Source, SourceError, resolve_source
from taskforge._embed import Embedder, ModelMismatchError
from taskforge._errors import UsageError
from taskforge._io import atomic_write_json, stable_hash
from taskforge._settings import BuildSettings

DEFAULT_CHUNK_ROWS = 512
MAX_ERROR_LINES = 5


class StrictModeError(SourceError):
    """A malformed row under ``--strict``."""


@dataclass
class BuildReport:
    """What a build did, for the summary table and tests."""

    path: Path
    sources: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    ann_recall: float | None = None


def build_datastore(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    settings: BuildSettings | None = None,
    **overrides: Any,
) -> BuildReport:
    """Build (or extend, or resume) the datastore at ``out`` from ``sources``; returns a report.

    ``settings`` (or keyword ``overrides`` of :class:`~taskforge.BuildSettings`: ``kind``,
    ``max_rows``, ``model``, ...) say how. Sources already in the store with the same content
    are kept as they are; new ones are embedded and appended. ``description`` applies to every
    source given in this call.
    """
    s = BuildSettings.build(settings, overrides)
    kind, model, description, strict, max_rows = s.kind, s.model, s.description, s.strict, s.max_rows
    ann, float16, chunk_rows, batch_size = s.ann, s.float16, s.chunk_rows, s.batch_size
    text_unit, precision = s.text_unit, s.precision
    t0 = time.perf_counter()
    out = Path(out)
    chunk_rows = chunk_rows or int(os.environ.get("TASKFORGE_CHUNK_ROWS", DEFAULT_CHUNK_ROWS))
    resolved = [resolve_source(str(s), description=description, text_unit=text_unit) for s in sources]
    _check_unique(resolved)
    embedder = Embedder.load(model, precision=precision)
    previous = load_manifest(out) if (out / MANIFEST).exists() else None
    if previous is not None:
        if previous["kind"] != kind:
            raise UsageError(f"{out} is a {previous['kind']!r} store; cannot add {kind!r} sources to it")
        embedder.check_same(previous["model"]["name"], previous["model"]["dim"])
    settings = {
        "kind": kind,
        "model": embedder.name,
        "max_rows": max_rows,
        "chunk_rows": chunk_rows,
        "text_unit": text_unit,
        "passage": [200, 50],
    }
    report = BuildReport(out)
    done: list[dict[str, Any]] = []
    failure: Exception | None = None
    with make_progress() as progress:
        overall = progress.add_task("sources", total=len(resolved))
        for src in resolved:
            try:
                entry = _build_source(src, out, embedder, settings, strict, batch_size, progress)
            except (SourceError, UnreadableFile, OSError, ValueError) as e:
                failure = e if isinstance(e, SourceError) else SourceError(f"source {src.name!r}: {e}")
                break
            done.append(entry)
            report.sources.append(entry)
            progress.advance(overall)
    if done or previous is None:
        manifest = merge(out, previous, done, embedder, kind=kind, float16=float16, ann=ann)
        report.ann_recall = (manifest.get("ann") or {}).get("recall")
    report.seconds = time.perf_counter() - t0
    if failure is not None:
        raise failure
    return report


def _check_unique(sources: list[Source]) -> None:
    seen: dict[str, str] = {}
    for s in sources:
        if s.name in seen:
            raise SourceError(
                f"two sources are named {s.name!r} ({seen[s.name]} and {s.location}); give distinct paths"
            )
        seen[s.name] = s.location


def _source_key(src: Source, fingerprint: str, settings: dict[str, Any]) -> str:
    safe = re.sub(r"[^\w.-]+", "_", src.name)[:80]
    return f"{safe}-{stable_hash({'fingerprint': fingerprint, **settings}, length=12)}"


def _build_source(
    src: Source,
    out: Path,
    embedder: Embedder,
    settings: dict[str, Any],
    strict: bool,
    batch_size: int,
    progress: Any,
) -> dict[str, Any]:
    """Embed every missing chunk of one source; returns its manifest entry."""
    fingerprint = src.fingerprint()
    key = _source_key(src, fingerprint, settings)
    sdir = out / "chunks" / key
    marker = sdir / "source.json"
    if marker.exists():
        entry = json.loads(marker.read_text(encoding="utf-8"))
        entry["skipped"] = True
        return entry
    sdir.mkdir(parents=True, exist_ok=True)
    clean_partial(sdir)
    task = progress.add_task(f"{src.name}", total=settings["max_rows"])
    n_rows = n_vectors = n_bad = n_empty = 0
    columns: list[str] = []
    n_chunks = 0
    errors: list[str] = []
    for chunk in _chunks(src, settings, progress=progress, task=task, errors=errors):
        if chunk is None:  # a malformed row
            n_bad += 1
            msg = errors[-1]
            if strict:
                raise StrictModeError(f"source {src.name!r}: {msg} (--strict)")
            if n_bad <= MAX_ERROR_LINES:
                console.print(f"[yellow]skipped malformed row[/]: {msg}")
            continue
        if isinstance(chunk, int):  # a row with no text cell
            n_empty += chunk
            continue
        if not is_done(sdir, chunk.index):
            result = embed_chunk(chunk, embedder, kind=settings["kind"], batch_size=batch_size)
            write_chunk(sdir, chunk, result)
        meta = read_chunk_meta(sdir, chunk.index)
        n_rows += meta["n_rows"]
        n_vectors += meta["n_vectors"]
        for c in meta["columns"]:
            if c not in columns:
                columns.append(c)
        n_chunks += 1
        progress.advance(task, meta["n_rows"])
    if n_bad > MAX_ERROR_LINES:
        console.print(f"[yellow]{src.name}: {n_bad} malformed rows skipped in all[/]")
    if n_rows == 0:
        raise SourceError(f"source {src.name!r} ({src.location}): no rows with text")
    desc_text = src.description or src.name
    np.save(sdir / "description.npy", embedder.encode([desc_text]))
    entry = {
        "name": src.name,
        "key": key,
        "location": src.location,
        "description": src.description,
        "fingerprint": fingerprint,
        "n_rows": n_rows,
        "n_vectors": n_vectors,
        "n_chunks": n_chunks,
        "columns": columns,
        "n_malformed": n_bad,
        "n_empty": n_empty,
        "first_errors": errors[:MAX_ERROR_LINES],
    }
    atomic_write_json(marker, entry)
    progress.update(task, total=n_rows, completed=n_rows)
    return {**entry, "skipped": False}


def _chunks(
    src: Source, settings: dict[str, Any], *, progress: Any, task: Any, errors: list[str]
) -> Iterator[ChunkInput | int | None]:
    """Group a source's rows into fixed-size chunks (None marks a malformed row, int empty rows)."""
    size, cap = settings["chunk_rows"], settings["max_rows"]
    chunk = ChunkInput(0)
    taken = 0
    try:
        for item in src.rows():
            if isinstance(item, BadRow):
                errors.append(item.message)
                yield None
                continue
            cells = text_cells(item.record)
            if not cells:
                yield 1
                continue
            chunk.row_ids.append(item.row_id)
            chunk.records.append(item.record)
            chunk.cells.append(cells)
            taken += 1
            if len(chunk.row_ids) == size:
                yield chunk
                chunk = ChunkInput(chunk.index + 1)
            if cap is not None and taken >= cap:
                break
    except UnreadableFile as e:
        raise SourceError(f"source {src.name!r}: {e}") from e
    if chunk.row_ids:
        yield chunk


__all__ = ["BuildReport", "ModelMismatchError", "StrictModeError", "build_datastore"]
