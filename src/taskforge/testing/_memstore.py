"""An in-memory stand-in for the Datastore read API, and a tiny deterministic embedder.

Retrieval only reads the store through the documented API, so tests and benchmarks can
run the real ``retrieve()`` against this without building files or loading a model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_TOKEN = re.compile(r"\w+")


class HashEmbedder:
    """Bag-of-words hashed into ``dim`` buckets, unit-normalised: shared words => high cosine."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash-{dim}"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for tok in _TOKEN.findall(t.casefold()):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out[norms[:, 0] == 0, 0] = 1.0  # empty text: an arbitrary unit vector
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class MemSource:
    name: str
    description: str
    n_rows: int
    n_vectors: int
    columns: list[str]
    fingerprint: str = ""


class MemoryStore:
    """A "rows" store: one vector per non-empty string cell, rows contiguous and sorted by source."""

    kind = "rows"

    def __init__(self, sources: Sequence[tuple[str, str, Sequence[dict[str, Any]]]], embedder: Any) -> None:
        self._emb = embedder
        self.model_name, self.dim = embedder.name, embedder.dim
        self._records: list[dict[str, Any]] = []
        texts: list[str] = []
        vrow, vcol, rsrc = [], [], []
        self.sources: list[MemSource] = []
        col_ids: dict[str, int] = {}
        for sid, (name, desc, rows) in enumerate(sources):
            n_vec0, cols = len(texts), set()
            for j, row in enumerate(rows):
                g = len(self._records)
                cells = {
                    k: str(v) for k, v in row.items() if isinstance(v, (str, int, float)) and str(v).strip()
                }
                self._records.append({"source": name, "row_id": f"mem:{j}", "row": dict(row), "cells": cells})
                rsrc.append(sid)
                for c, t in cells.items():
                    texts.append(t)
                    vrow.append(g)
                    vcol.append(col_ids.setdefault(c, len(col_ids)))
                    cols.add(c)
            self.sources.append(MemSource(name, desc, len(rows), len(texts) - n_vec0, sorted(cols)))
        self._vectors = embedder.encode(texts) if texts else np.zeros((0, self.dim), np.float32)
        self._chars = np.asarray([len(t) for t in texts], dtype=np.int32)
        self._vector_row = np.asarray(vrow, dtype=np.int64)
        self._vector_column = np.asarray(vcol, dtype=np.int32)
        self._row_source = np.asarray(rsrc, dtype=np.int32)
        self._columns = list(col_ids)
        self._desc = embedder.encode([s[1] for s in sources])

    n_rows = property(lambda self: len(self._records))
    n_vectors = property(lambda self: len(self._vectors))

    def vectors(self) -> np.ndarray:
        return self._vectors

    def vector_row(self) -> np.ndarray:
        return self._vector_row

    def vector_column(self) -> np.ndarray:
        return self._vector_column

    def vector_chars(self) -> np.ndarray:
        return self._chars

    def column_names(self) -> list[str]:
        return list(self._columns)

    def row_source(self) -> np.ndarray:
        return self._row_source

    def description_vectors(self) -> np.ndarray:
        return self._desc

    def get_rows(self, global_rows: Sequence[int]) -> list[dict[str, Any]]:
        return [dict(self._records[int(r)]) for r in global_rows]

    def embedder(self) -> Any:
        return self._emb

    def index(self, kind: str = "exact") -> Any:
        """faiss IndexFlatIP ("exact") or a small IVF-flat ("ann") over the vectors."""
        import faiss

        if kind == "exact":
            idx = faiss.IndexFlatIP(self.dim)
        else:
            nlist = max(1, min(64, len(self._vectors) // 39))
            idx = faiss.IndexIVFFlat(faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            idx.train(self._vectors)
            idx.nprobe = max(1, nlist // 8)
        idx.add(self._vectors)
        return idx
