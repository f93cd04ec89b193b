"""Merge finished chunks into the store's read-optimised files, then commit the manifest.

Merged files go into a fresh ``data-<id>/`` folder; the manifest (written atomically last)
names that folder, so a kill during a merge leaves the previous store intact. Memory stays
bounded: arrays are written front to back, chunk by chunk (plain appends, not a memory map,
whose touched pages would count against the build's memory as the store grows).

A manifest is also input from others (a store someone shared): :func:`load_manifest` checks
that the names it uses for files stay inside the store folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from taskforge._console import console
from taskforge._datastore._chunks import ROWS_SCHEMA, chunk_dir, read_chunk_meta, read_chunk_rows
from taskforge._embed import Embedder
from taskforge._errors import BadDataError
from taskforge._io import atomic_write_json, fsync_path

MANIFEST = "manifest.json"
FORMAT = "taskforge-datastore"
VERSION = 1
MERGED_SCHEMA = pa.schema([("source", pa.int32()), *ROWS_SCHEMA])
_DATA_NAME = re.compile(r"data-[0-9a-f]{1,32}")
_SAFE_NAME = re.compile(r"[\w.-]{1,200}")


class DatastoreError(BadDataError):
    """A datastore folder that cannot be used as it is (damaged, unsafe); the message names the file."""


def load_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the store at ``path``, checked: readable, this format, and safe file names."""
    file = Path(path) / MANIFEST
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DatastoreError(f"{file}: not valid JSON ({e}); the store is damaged, rebuild it") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DatastoreError(f"{path}: not a taskforge datastore (manifest format {got!r})")
    if manifest.get("version") != VERSION:
        raise DatastoreError(f"{path}: datastore format version {manifest.get('version')} is not supported")
    _check_manifest(file, manifest)
    return manifest


def _check_manifest(file: Path, manifest: dict[str, Any]) -> None:
    """Fields a store needs, and names that cannot lead outside the store folder."""
    try:
        data, sources = manifest["data"], manifest["sources"]
        model = manifest["model"]
        int(manifest["n_rows"]), int(manifest["n_vectors"]), int(model["dim"]), str(model["name"])
        keys = [str(e["key"]) for e in sources]
        ann_file = (manifest.get("ann") or {}).get("file")
    except (KeyError, TypeError, ValueError) as e:
        raise DatastoreError(f"{file}: missing or malformed field ({type(e).__name__}: {e})") from None
    if not isinstance(data, str) or not _DATA_NAME.fullmatch(data):
        raise DatastoreError(
            f"{file}: data folder {data!r} is not a name of the form data-<hex>; refusing to read outside the store"
        )
    for name in [*keys, *([ann_file] if ann_file is not None else [])]:
        if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or name in (".", ".."):
            raise DatastoreError(f"{file}: file name {name!r} would leave the store folder; refusing it")


class NpyWriter:
    """Write a ``.npy`` file front to back: the header (shape known up front), then rows as they come."""

    def __init__(self, path: Path, dtype: Any, shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.shape = path, np.dtype(dtype), shape
        self.expected, self.written = int(np.prod(shape)), 0
        self.f = open(path, "wb")  # noqa: SIM115
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self.f, header)

    def append(self, values: np.ndarray) -> None:
        block = np.ascontiguousarray(values, dtype=self.dtype)
        block.tofile(self.f)
        self.written += block.size

    def close(self) -> None:
        if self.written != self.expected:
            raise AssertionError(f"{self.path}: wrote {self.written} values, expected {self.expected}")
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


def merge(
    out: Path,
    previous: dict[str, Any] | None,
    built: list[dict[str, Any]],
    embedder: Embedder,
    *,
    kind: str,
    float16: bool = False,
    ann: bool = False,
) -> dict[str, Any]:
    """Combine the previous store's sources with the ones just built; returns the new manifest."""
    entries = _ordered_sources(previous, built)
    dtype = np.float16 if float16 or (previous or {}).get("dtype") == "float16" else np.float32
    n_rows = sum(e["n_rows"] for e in entries)
    n_vectors = sum(e["n_vectors"] for e in entries)
    data_name = f"data-{uuid.uuid4().hex[:8]}"
    data = out / data_name
    data.mkdir(parents=True)
    columns: list[str] = []
    col_ids: dict[str, int] = {}
    vec = NpyWriter(data / "vectors.npy", dtype, (n_vectors, embedder.dim))
    vrow = NpyWriter(data / "vector_row.npy", np.int64, (n_vectors,))
    vcol = NpyWriter(data / "vector_column.npy", np.int32, (n_vectors,))
    row_source = NpyWriter(data / "row_source.npy", np.int32, (n_rows,))
    desc = np.zeros((len(entries), embedder.dim), dtype=np.float32)
    r_off = 0
    with (
        pa.OSFile(str(data / "rows.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, MERGED_SCHEMA) as writer,
    ):
        for sid, e in enumerate(entries):
            sdir = out / "chunks" / e["key"]
            e["row_start"] = r_off
            desc[sid] = np.load(sdir / "description.npy")[0]
            for ci in range(e["n_chunks"]):
                meta = read_chunk_meta(sdir, ci)
                cdir = chunk_dir(sdir, ci)
                n = meta["n_vectors"]
                vec.append(np.load(cdir / "vectors.npy"))
                vrow.append(np.load(cdir / "vec_row.npy").astype(np.int64) + r_off)
                local_cols = np.load(cdir / "vec_col.npy")
                if kind == "rows" and n:
                    mapping = np.array(
                        [_col_id(c, columns, col_ids) for c in meta["columns"]], dtype=np.int32
                    )
                    vcol.append(mapping[local_cols])
                else:
                    vcol.append(local_cols)
                table = read_chunk_rows(sdir, ci)
                table = table.add_column(0, "source", pa.array(np.full(table.num_rows, sid, dtype=np.int32)))
                writer.write_table(table.cast(MERGED_SCHEMA))
                row_source.append(np.full(meta["n_rows"], sid, dtype=np.int32))
                r_off += meta["n_rows"]
    for w in (vec, vrow, vcol, row_source):
        w.close()
    np.save(data / "description_vectors.npy", desc)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "model": {"name": embedder.name, "dim": embedder.dim, "precision": embedder.precision},
        "dtype": np.dtype(dtype).name,
        "data": data_name,
        "n_rows": n_rows,
        "n_vectors": n_vectors,
        "columns": columns if kind == "rows" else [],
        "sources": [{k: v for k, v in e.items() if k != "skipped"} for e in entries],
        "ann": None,
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if ann and n_vectors:
        from taskforge._datastore._ann import build_ann

        manifest["ann"] = build_ann(data, np.load(data / "vectors.npy", mmap_mode="r"))
        console.print(
            f"ANN index {manifest['ann']['type']}: recall@{manifest['ann']['k']} "
            f"{manifest['ann']['recall']:.3f} vs exact search on {manifest['ann']['n_queries']} held-out vectors "
            f"(nprobe {manifest['ann']['nprobe']})"
        )
    elif previous and previous.get("ann") and n_vectors:
        from taskforge._datastore._ann import build_ann

        manifest["ann"] = build_ann(data, np.load(data / "vectors.npy", mmap_mode="r"))
    for p in data.iterdir():
        fsync_path(p)
    atomic_write_json(out / MANIFEST, manifest)
    _remove_stale(out, manifest)
    return manifest


def _col_id(name: str, columns: list[str], ids: dict[str, int]) -> int:
    if name not in ids:
        ids[name] = len(columns)
        columns.append(name)
    return ids[name]


def _ordered_sources(previous: dict[str, Any] | None, built: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Previous sources first (a rebuilt one keeps its place), then new ones in build order."""
    by_name = {e["name"]: e for e in built}
    out = []
    for e in (previous or {}).get("sources", []):
        out.append(dict(by_name.pop(e["name"], e)))
    out.extend(dict(e) for e in built if e["name"] in by_name)
    return out


def _remove_stale(out: Path, manifest: dict[str, Any]) -> None:
    """Delete old merged folders and superseded versions of the manifest's sources.

    Chunk folders of sources the manifest does not name are left alone: they may belong
    to a build still running (another worker) or one that stopped and will resume.
    """
    for p in out.glob("data-*"):
        if p.is_dir() and p.name != manifest["data"]:
            shutil.rmtree(p, ignore_errors=True)
    keep = {e["key"] for e in manifest["sources"]}
    names = {e["key"].rsplit("-", 1)[0] for e in manifest["sources"]}
    chunks = out / "chunks"
    if chunks.exists():
        for p in chunks.iterdir():
            if p.is_dir() and p.name not in keep and p.name.rsplit("-", 1)[0] in names:
                shutil.rmtree(p, ignore_errors=True)
