"""``build_datastore``: read sources, embed them chunk by chunk, then merge into one store.

State on disk (all under the output folder):
  chunks/<source>-<key>/c000000/ ...   one folder per finished chunk (atomic)
  chunks/<source>-<key>/source.json    written when every chunk of the source is done
  manifest.json                        the commit point: what the store contains
A source whose key (content fingerprint + build options) is already complete is skipped;
a killed build resumes at the first chunk folder that is missing.

One writer at a time: a build holds the folder's writer lock (``_io.writer_lock``) from reading
the old manifest to committing the new one, so two builds into one folder run one after the
other (or the second stops, with ``wait=False``) and neither loses the other's sources.

A cell is embedded up to what the model reads (``max_seq_length`` tokens; cut by characters,
generously): a 50 MB cell costs a few KB of tokenizer work, not minutes and gigabytes. The cut
is counted per source (``n_cut``); the row store keeps the full original row.
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
from taskforge._datastore._readers import (
    DEFAULT_MAX_ROW_BYTES,
    BadRow,
    Notice,
    ReadOptions,
    Row,
    UnreadableFile,
)
from taskforge._datastore._sources import Source, SourceError, resolve_source
from taskforge._embed import Embedder, ModelMismatchError
from taskforge._errors import TaskforgeError, UsageError
from taskforge._io import atomic_write_json, stable_hash, writer_lock
from taskforge._settings import BuildSettings

DEFAULT_CHUNK_ROWS = 512
MAX_ERROR_LINES = 5
CHARS_PER_TOKEN = 12  # generous: English text averages 4-5 characters per word piece
MAX_DOCUMENT_CHARS = 1_000_000  # documents: ~1,000 passages of 200 words are embedded


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
    source given in this call. ``encoding``: None reads UTF-8 and counts undecodable rows as
    malformed; ``"auto"`` detects each file's charset; else a codec name. Rows over
    ``max_row_mb`` are skipped and counted. ``wait``: when another build holds the folder, wait
    for it (True) or raise ``LockedError``.
    """
    s = BuildSettings.build(settings, overrides)
    if s.text_column and s.kind != "documents":
        raise UsageError("--text-column names a document's text: it needs --kind documents")
    t0 = time.perf_counter()
    out = Path(out)
    options = ReadOptions(encoding=s.encoding, max_row_bytes=int(s.max_row_mb * 2**20))
    resolved = [
        resolve_source(str(src), description=s.description, text_unit=s.text_unit, options=options)
        for src in sources
    ]
    _check_unique(resolved)
    backend, precision = s.backend, s.precision
    if backend == "auto" and precision == "auto":
        backend, precision = _recorded_embedding(out)
    embedder = Embedder.load(s.model, precision=precision, backend=backend)
    with writer_lock(out, what="datastore build", wait=s.wait, notify=_notify):
        report = _build_locked(resolved, out, embedder, s, options)
    report.seconds = time.perf_counter() - t0
    return report


def _notify(message: str) -> None:
    console.print(f"[yellow]{message}[/]", soft_wrap=True)


def _build_locked(
    resolved: list[Source], out: Path, embedder: Embedder, s: BuildSettings, options: ReadOptions
) -> BuildReport:
    """The build proper, under the writer lock: the previous manifest is read only now.

    ``s.executor``: ``local`` builds the sources one after another here; ``ray`` builds each as
    a Ray task (``taskforge._datastore._ray``; same chunks, same manifest)."""
    kind = s.kind
    chunk_rows = s.chunk_rows or int(os.environ.get("TASKFORGE_CHUNK_ROWS", DEFAULT_CHUNK_ROWS))
    previous = load_manifest(out) if (out / MANIFEST).exists() else None
    if previous is not None:
        if previous["kind"] != kind:
            raise UsageError(
                f"{out / MANIFEST}: a {previous['kind']!r} store; cannot add {kind!r} sources to it"
            )
        try:
            embedder.check_same(previous["model"]["name"], previous["model"]["dim"])
        except ModelMismatchError as e:
            raise ModelMismatchError(
                f"{out / MANIFEST}: built with {previous['model']['name']!r} "
                f"({previous['model']['dim']}-d); this build embeds with {embedder.name!r} ({embedder.dim}-d). "
                f"Give --model {previous['model']['name']} to add sources to it, or build a new store"
            ) from e
    settings: dict[str, Any] = {
        "kind": kind,
        "model": embedder.name,
        "max_rows": s.max_rows,
        "chunk_rows": chunk_rows,
        "text_unit": s.text_unit,
        "passage": [200, 50],
    }
    # recorded only when set, so stores built before these options keep their source keys
    if options.encoding is not None:
        settings["encoding"] = options.encoding
    if options.max_row_bytes != DEFAULT_MAX_ROW_BYTES:
        settings["max_row_bytes"] = options.max_row_bytes
    if s.text_column:
        settings["text_column"] = list(s.text_column)
    if s.sample != "head" and s.max_rows is not None:
        settings["sample"] = s.sample
    settings["cell_chars"] = cell_chars(embedder, kind)
    report = BuildReport(out)
    if s.executor == "ray":
        from taskforge._datastore._ray import build_sources_ray

        done, failure = build_sources_ray(
            resolved, out, embedder, settings, _build_source, strict=s.strict, batch_size=s.batch_size,
            address=s.address,
        )  # fmt: skip
        report.sources.extend(done)
    else:
        failure = _build_here(resolved, out, embedder, settings, s.strict, s.batch_size, report)
        done = report.sources
    if done or previous is None:
        manifest = merge(out, previous, done, embedder, kind=kind, float16=s.float16, ann=s.ann)
        report.ann_recall = (manifest.get("ann") or {}).get("recall")
    if failure is not None:
        raise failure
    return report


def _build_here(
    resolved: list[Source],
    out: Path,
    embedder: Embedder,
    settings: dict[str, Any],
    strict: bool,
    batch_size: int,
    report: BuildReport,
) -> Exception | None:
    """The local executor: sources one after another; the first failure stops the rest."""
    with make_progress() as progress:
        overall = progress.add_task("sources", total=len(resolved))
        for src in resolved:
            try:
                entry = _build_source(src, out, embedder, settings, strict, batch_size, progress)
            except (SourceError, UnreadableFile, OSError, ValueError) as e:
                return e if isinstance(e, SourceError) else SourceError(f"source {src.name!r}: {e}")
            report.sources.append(entry)
            progress.advance(overall)
    return None


def _recorded_embedding(out: Path) -> tuple[str, str]:
    """An existing store's backend and precision, so sources added to it embed the same way
    (stores from before backends were recorded are torch's); ("auto", "auto") for a new store."""
    if not (out / MANIFEST).exists():
        return "auto", "auto"
    try:
        model = load_manifest(out)["model"]
    except TaskforgeError:
        return "auto", "auto"  # the build proper reports a broken manifest, under the lock
    return str(model.get("backend", "torch")), str(model.get("precision", "auto"))


def cell_chars(embedder: Embedder, kind: str) -> int:
    """How much of a cell (rows) or document (documents) is embedded, in characters."""
    if kind == "documents":
        return MAX_DOCUMENT_CHARS
    tokens = getattr(embedder.model, "max_seq_length", None) or 512
    return int(tokens) * CHARS_PER_TOKEN


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
    # the cut drops only what the model would not read, so it does not change a source's key
    keyed = {k: v for k, v in settings.items() if k != "cell_chars"}
    return f"{safe}-{stable_hash({'fingerprint': fingerprint, **keyed}, length=12)}"


@dataclass
class _Counts:
    """What reading one source found besides good rows."""

    malformed: int = 0
    empty: int = 0
    cut: int = 0
    errors: list[str] = field(default_factory=list)  # the first few malformed-row messages


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
    n_rows = n_vectors = n_chunks = 0
    columns: list[str] = []
    counts = _Counts()
    for chunk in _chunks(src, settings, counts, strict=strict):
        if not is_done(sdir, chunk.index):
            result = embed_chunk(
                chunk,
                embedder,
                kind=settings["kind"],
                batch_size=batch_size,
                text_columns=settings.get("text_column"),
            )
            write_chunk(sdir, chunk, result)
        meta = read_chunk_meta(sdir, chunk.index)
        n_rows += meta["n_rows"]
        n_vectors += meta["n_vectors"]
        for c in meta["columns"]:
            if c not in columns:
                columns.append(c)
        n_chunks += 1
        progress.advance(task, meta["n_rows"])
    if counts.malformed > MAX_ERROR_LINES:
        console.print(f"[yellow]{src.name}: {counts.malformed} malformed rows skipped in all[/]")
    if counts.cut:
        console.print(
            f"[yellow]{src.name}: {counts.cut} cells longer than {settings['cell_chars']:,} characters "
            f"embedded from their start (what the model reads); the row store keeps the full text[/]"
        )
    if n_rows == 0:
        where = f" in column(s) {settings['text_column']}" if settings.get("text_column") else ""
        raise SourceError(f"source {src.name!r} ({src.location}): no rows with text{where}")
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
        "n_malformed": counts.malformed,
        "n_empty": counts.empty,
        "n_cut": counts.cut,
        "first_errors": counts.errors,
    }
    atomic_write_json(marker, entry)
    progress.update(task, total=n_rows, completed=n_rows)
    return {**entry, "skipped": False}


def _chunks(src: Source, settings: dict[str, Any], counts: _Counts, *, strict: bool) -> Iterator[ChunkInput]:
    """Group a source's rows into fixed-size chunks, counting (and reporting) what is not a good row."""
    size, cap, limit = settings["chunk_rows"], settings["max_rows"], settings["cell_chars"]
    keep = _spread(src, settings) if settings.get("sample") == "spread" else None
    chunk = ChunkInput(0)
    taken = good = 0
    try:
        for item in src.rows():
            if isinstance(item, Notice):
                console.print(f"[yellow]{item.message}[/]")
                continue
            if isinstance(item, BadRow):
                counts.malformed += 1
                if strict:
                    raise StrictModeError(f"source {src.name!r}: {item.message} (--strict)")
                if counts.malformed <= MAX_ERROR_LINES:
                    counts.errors.append(item.message)
                    console.print(f"[yellow]skipped malformed row[/]: {item.message}")
                continue
            cells = _good_cells(item, settings)
            if cells is None:
                counts.empty += 1
                continue
            good += 1
            if keep is not None and good - 1 not in keep:
                continue
            for name, text in cells.items():
                if len(text) > limit:
                    cells[name] = text[:limit]
                    counts.cut += 1
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


def _good_cells(item: Row, settings: dict[str, Any]) -> dict[str, str] | None:
    """A row's text cells, or None when it has none (or none in the documents' text columns)."""
    cells = text_cells(item.record)
    columns = settings.get("text_column")
    if not cells or (columns and not any(cells.get(c) for c in columns)):
        return None
    return cells


def _spread(src: Source, settings: dict[str, Any]) -> set[int] | None:
    """``--sample spread``: the positions (among the source's good rows) of ``max_rows`` rows
    spread evenly from its first row to its last; None to keep the head (few enough rows, or a
    hub source, which is streamed and cannot be counted first). One extra read of the source:
    reading is cheap next to embedding, and the positions are the same on every resume."""
    cap = settings["max_rows"]
    if src.kind == "hub":
        return None
    try:
        total = sum(
            1 for item in src.rows() if isinstance(item, Row) and _good_cells(item, settings) is not None
        )
    except UnreadableFile as e:
        raise SourceError(f"source {src.name!r}: {e}") from e
    if total <= cap:
        return None
    return set(np.linspace(0, total - 1, cap).round().astype(np.int64).tolist())


__all__ = ["BuildReport", "ModelMismatchError", "StrictModeError", "build_datastore", "cell_chars"]
