"""Approximate index for large stores: FAISS IVF with int8 scalar quantisation.

MEASURED.md: IVF + int8 builds in ~30 s for 1M vectors, memory-maps, and reaches recall@100
~0.96 at nprobe 256; HNSW takes minutes to build and cannot be mapped. Recall is measured
at build time against exact search, on stored vectors held out of the training sample.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

ANN_FILE = "index_ann.faiss"


def build_ann(
    data: Path, vectors: np.ndarray, *, k: int = 10, n_queries: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Train, fill and save an IVF-SQ8 index; returns its manifest entry with measured recall."""
    import faiss

    n, dim = vectors.shape
    nlist = max(1, min(4096, int(4 * math.sqrt(n))))
    nlist = min(nlist, max(1, n // 39))  # faiss wants >= 39 training points per list
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    held = np.sort(perm[: min(n_queries, max(1, n // 10))])
    train_ids = np.sort(perm[len(held) : len(held) + min(n - len(held), max(nlist * 64, 50_000))])
    if len(train_ids) < nlist:
        train_ids = np.arange(n)
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(
        quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
    )
    index.train(np.ascontiguousarray(vectors[train_ids], dtype=np.float32))
    for start in range(0, n, 65536):
        index.add(np.ascontiguousarray(vectors[start : start + 65536], dtype=np.float32))
    queries = np.ascontiguousarray(vectors[held], dtype=np.float32)
    k = min(k, n)
    kth = _exact_kth_score(vectors, queries, k)
    nprobe, recall = 1, 0.0
    for nprobe in (8, 16, 32, 64, 128, 256):
        index.nprobe = min(nprobe, nlist)
        _, got = index.search(queries, k)
        recall = _recall(vectors, queries, got, kth)
        if recall >= 0.95 or nprobe >= nlist:
            break
    index.nprobe = min(nprobe, nlist)
    faiss.write_index(index, str(data / ANN_FILE))
    return {
        "type": f"IVF{nlist},SQ8",
        "file": ANN_FILE,
        "nlist": nlist,
        "nprobe": int(index.nprobe),
        "k": k,
        "recall": recall,
        "n_queries": len(held),
    }


def _recall(vectors: np.ndarray, queries: np.ndarray, got: np.ndarray, kth: np.ndarray) -> float:
    """Share of returned ids whose exact score reaches the exact k-th best (ties count as hits:
    sources repeat texts, so identical vectors would otherwise look like misses)."""
    hits = 0
    for q, ids, bound in zip(queries, got, kth, strict=True):
        ids = ids[ids >= 0]
        scores = np.asarray(vectors[np.sort(ids)], dtype=np.float32) @ q
        hits += int(np.sum(scores >= bound - 1e-5))
    return hits / got.size


def _exact_kth_score(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact k-th best inner product per query, streaming over (memory-mapped) vectors."""
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)
    for start in range(0, len(vectors), 65536):
        block = np.asarray(vectors[start : start + 65536], dtype=np.float32)
        s = np.concatenate([best, queries @ block.T], axis=1)
        best = -np.partition(-s, k - 1, axis=1)[:, :k]
    return best.min(axis=1)


def load_ann(data: Path, entry: dict[str, Any]) -> Any:
    """The saved ANN index, memory-mapped, with its tuned nprobe."""
    import faiss

    index = faiss.read_index(str(data / entry["file"]), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    faiss.extract_index_ivf(index).nprobe = entry["nprobe"]
    return index
