"""``Datastore``: the read API over a built store (see docs/architecture.md for the contract).

Every array is memory-mapped, so opening a store costs ~nothing and a query touches only
what it reads. Rows live in an Arrow IPC file, also memory-mapped: fetching a hit's full
original row is O(1), without going back to the source files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from taskforge._datastore._merge import load_manifest
from taskforge._embed import Embedder
from taskforge._errors import DatastoreNotFound, SettingsError


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


class Datastore:
    """A built datastore, opened read-only."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
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
        self._indexes: dict[str, Any] = {}

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Datastore:
        path = Path(path)
        if not (path / "manifest.json").exists():
            raise DatastoreNotFound(f"{path}: no datastore here (manifest.json missing)")
        return cls(path, load_manifest(path))

    # ---- arrays (memory-mapped) -----------------------------------------------------------
    def vectors(self) -> np.ndarray:
        return self._npy("vectors.npy")

    def vector_row(self) -> np.ndarray:
        return self._npy("vector_row.npy")

    def vector_column(self) -> np.ndarray:
        return self._npy("vector_column.npy")

    def row_source(self) -> np.ndarray:
        return self._npy("row_source.npy")

    def description_vectors(self) -> np.ndarray:
        return self._npy("description_vectors.npy")

    def column_names(self) -> list[str]:
        return list(self.manifest.get("columns", []))

    def source_id(self, name: str) -> int:
        for i, s in enumerate(self.sources):
            if s.name == name:
                return i
        raise KeyError(f"no source {name!r} in {self.path}")

    def _npy(self, name: str) -> np.ndarray:
        return np.load(self._data / name, mmap_mode="r")

    # ---- rows -------------------------------------------------------------------------------
    @cached_property
    def _rows(self) -> pa.Table:
        source = pa.memory_map(str(self._data / "rows.arrow"))
        return pa.ipc.open_file(source).read_all()

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
                entry = self.manifest.get("ann")
                if not entry:
                    raise SettingsError(f"{self.path}: built without an ANN index (rebuild with --ann)")
                from taskforge._datastore._ann import load_ann

                index = load_ann(self._data, entry)
            else:
                raise SettingsError(f"index kind must be 'exact' or 'ann', not {kind!r}")
            self._indexes[kind] = index
        return self._indexes[kind]

    def embedder(self) -> Embedder:
        """The store's own embedding model (loaded once per process)."""
        emb = Embedder.load(self.model_name, precision=self.manifest["model"].get("precision", "auto"))
        emb.check_same(self.model_name, self.dim)
        return emb

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def __repr__(self) -> str:
        return (
            f"Datastore({str(self.path)!r}, kind={self.kind!r}, sources={len(self.sources)}, "
            f"rows={self.n_rows}, vectors={self.n_vectors}, model={self.model_name!r})"
        )
