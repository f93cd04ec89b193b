"""Approximate index for large stores: FAISS IVF, int8 scalar codes or product codes by size.

Up to ``PQ_FROM`` vectors: IVF with int8 scalar quantisation (384 B a vector at 384-d).
MEASURED.md: IVF + int8 builds in ~30 s for 1M vectors, memory-maps, and reaches recall@100
~0.96 at nprobe 256; HNSW takes minutes to build and cannot be mapped. From ``PQ_FROM`` on:
IVF-PQ (``dim / 8`` one-byte codes: 48 B a vector, 8x smaller), where SQ8's codes (7.8 GB at
20M) would outgrow the disk and cache; its coarser similarities make retrieval fetch far more
candidates (``PQ_FROM``'s comment). Both are written to one file
and memory-mapped when read (the inverted lists stay on disk until probed). The index only
proposes candidates: retrieval re-scores them exactly from the stored vectors.

Recall is measured at build time against exact search, on stored vectors held out of the
training sample, and so is the error of the index's similarities (``margin``: retrieval's
stopping test must hold by that much; PQ's error is several times SQ8's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ANN_FILE = "index_ann.faiss"
# vectors; below, SQ8. Measured (benchmarks/scale.py, docs/scaling.md): SQ8 at 10M vectors, 1,024
# lists, re-scored, gives the exact top-1000 (overlap >= 0.978) in 0.3-0.5x the exact time; PQ48's
# similarity error (99th pct ~0.3 at 433k vectors) is so large that retrieval's stopping test
# must fetch most of the store, so PQ only where SQ8's 392 B a vector no longer fits the disk
PQ_FROM = 20_000_000
SQ8_MAX_LISTS = 1024  # 4,000 lists at 1M took > 7 min to train and fill on 2 loaded cores; 1,024: 78 s


def build_ann(
    data: Path,
    vectors: np.ndarray,
    *,
    k: int = 10,
    n_queries: int = 200,
    seed: int = 0,
    codes: str = "auto",
    nlist: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train, fill and save an IVF index; returns its manifest entry with measured recall.

    ``codes``: ``sq8``, ``pq`` or ``auto`` (pq from ``PQ_FROM`` vectors); ``nlist``: inverted
    lists (default by size). ``progress`` is
    called with the number of vectors added so far.
    """
    import faiss

    n, dim = vectors.shape
    if codes == "auto":
        codes = "pq" if n >= PQ_FROM else "sq8"
    if nlist is None:  # PQ: sqrt(n) lists, so adding 10M vectors costs minutes, not an hour, on 2 cores
        nlist = max(
            1, min(65536, int(math.sqrt(n))) if codes == "pq" else min(SQ8_MAX_LISTS, int(4 * math.sqrt(n)))
        )
    nlist = min(nlist, max(1, n // 39))  # faiss wants >= 39 training points per list
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    held = np.sort(perm[: min(n_queries, max(1, n // 10))])
    # k-means costs lists x points x iterations: 39 points a list (faiss's floor), fewer iterations
    # for thousands of lists (1M-10M vectors: minutes instead of most of an hour on 2 loaded cores)
    train_ids = np.sort(perm[len(held) : len(held) + min(n - len(held), max(nlist * 39, 50_000))])
    if len(train_ids) < nlist:
        train_ids = np.arange(n)
    quantizer = faiss.IndexFlatIP(dim)
    if codes == "pq":
        m = dim // 8 if dim % 8 == 0 else dim // 4  # 8 dims per one-byte code
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss.METRIC_INNER_PRODUCT)
        label = f"IVF{nlist},PQ{m}"
    else:
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        label = f"IVF{nlist},SQ8"
    if nlist > 1024:
        index.cp.niter = 10
    index.train(np.ascontiguousarray(vectors[train_ids], dtype=np.float32))
    for start in range(0, n, 65536):
        index.add(np.ascontiguousarray(vectors[start : start + 65536], dtype=np.float32))
        if progress is not None:
            progress(min(n, start + 65536))
    queries = np.ascontiguousarray(vectors[held], dtype=np.float32)
    k = min(k, n)
    kth = _exact_kth_score(vectors, queries, k)
    nprobe, recall = 1, 0.0
    for nprobe in (8, 16, 32, 64, 128, 256):
        index.nprobe = min(nprobe, nlist)
        sims, got = index.search(queries, k)
        recall = _recall(vectors, queries, got, kth)
        if recall >= 0.95 or nprobe >= nlist:
            break
    index.nprobe = min(nprobe, nlist)
    faiss.write_index(index, str(data / ANN_FILE))
    return {
        "type": label,
        "file": ANN_FILE,
        "nlist": nlist,
        "nprobe": int(index.nprobe),
        "k": k,
        "recall": recall,
        "n_queries": len(held),
        "margin": _similarity_error(vectors, queries, sims, got),
    }


def _similarity_error(vectors: np.ndarray, queries: np.ndarray, sims: np.ndarray, got: np.ndarray) -> float:
    """How far the index's similarities fall below the exact ones (99th percentile, at least 0.02):
    the slack retrieval's stopping test needs before it trusts an unfetched vector scores lower."""
    errors = []
    for q, ids, approx in zip(queries, got, sims, strict=True):
        ok = ids >= 0
        exact = np.asarray(vectors[ids[ok]], dtype=np.float32) @ q
        errors.append(exact - approx[ok])
    err = np.concatenate(errors) if errors else np.zeros(1)
    return round(max(0.02, float(np.quantile(err, 0.99))), 4) if err.size else 0.02


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
