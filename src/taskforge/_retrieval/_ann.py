"""Approximate candidates, exact scores: retrieval over an ANN index for very large stores.

The ANN index only proposes rows: the vectors nearest to each of the method's query vectors.
Every candidate row is then re-scored exactly by the same method (on a small store made of
the candidates' own vectors), so a row's score never depends on the index. How many
vectors are fetched adapts to N: it grows 4x until the candidates hold enough allowed rows
and the N-th best exact score beats the best score an unfetched row could still reach. That
bound is per source (ReBase's dataset term is): when only a few sources could still hold a
better unfetched row, all their rows are scored exactly instead of fetching 4x more.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from taskforge._retrieval._methods import Queries, Scored, query_matrix, unseen_bound, unseen_bound_by_source
from taskforge._retrieval._scoring import StoreArrays, row_vector_ranges


def substore(store: StoreArrays, rows: np.ndarray) -> StoreArrays:
    """The candidate rows with all their vectors, renumbered 0..len(rows)-1 (rows sorted by id)."""
    starts, stops = row_vector_ranges(store.vector_row, rows)
    lengths = stops - starts
    idx = np.repeat(starts - np.cumsum(np.concatenate(([0], lengths[:-1]))), lengths) + np.arange(
        lengths.sum()
    )
    return StoreArrays(
        vectors=np.asarray(store.vectors[idx]),
        vector_row=np.repeat(np.arange(len(rows), dtype=np.int64), lengths),
        row_source=np.asarray(store.row_source[rows]),
        description_vectors=store.description_vectors,
        vector_chars=None if store.vector_chars is None else np.asarray(store.vector_chars[idx]),
        vector_column=None if store.vector_column is None else np.asarray(store.vector_column[idx]),
        column_names=store.column_names,
    )


def ann_scored(
    method_name: str,
    method: Callable[..., Scored],
    store: StoreArrays,
    q: Queries,
    n: int,
    row_ok: np.ndarray,
    index: object,
    *,
    first_k: int | None = None,
    slack: float = 2.0,
    margin: float = 0.02,
) -> tuple[Scored, dict[str, float]]:
    """Exact scores for ANN-proposed candidate rows (others -inf), and how the search went.

    ``margin``: the certificate must hold by this much, since the index's own similarities
    are approximate (int8 codes in IVF-SQ8 are off by ~0.01).
    """
    queries = np.ascontiguousarray(query_matrix(method_name, q), dtype=np.float32)
    n_vec = len(store.vector_row)
    k = min(n_vec, first_k or max(1024, 32 * n))
    ivf = _ivf(index)
    nprobe0 = ivf.nprobe if ivf is not None else 0
    try:
        return _search_loop(method_name, method, store, q, n, row_ok, index, ivf, queries, k, slack, margin)
    finally:
        if ivf is not None:
            ivf.nprobe = nprobe0


def _ivf(index: object) -> object | None:
    """The IVF layer of a faiss index (its nprobe is widened as N grows), or None."""
    try:
        import faiss

        return faiss.extract_index_ivf(index)
    except Exception:
        return None


def _search_loop(
    method_name: str,
    method: Callable[..., Scored],
    store: StoreArrays,
    q: Queries,
    n: int,
    row_ok: np.ndarray,
    index: object,
    ivf: object | None,
    queries: np.ndarray,
    k: int,
    slack: float,
    margin: float,
) -> tuple[Scored, dict[str, float]]:
    n_vec = len(store.vector_row)
    open_rows = 0
    if ivf is not None:  # more candidates wanted from an IVF index: probe more lists too
        ivf.nprobe = min(ivf.nlist, max(ivf.nprobe, int(np.ceil(ivf.nlist * min(1.0, 4 * k / n_vec)))))  # type: ignore[attr-defined]
    while True:
        sims, ids = index.search(queries, k)  # type: ignore[attr-defined]
        valid = ids >= 0
        rows = np.unique(np.asarray(store.vector_row)[ids[valid]])
        rows = rows[row_ok[rows]]
        sub = method(substore(store, rows), q, n)
        final = sub.components["final"]
        want = int(slack * n)  # certify the top slack*n, so dedup and caps can skip some
        nth = np.sort(final)[-want] if len(final) >= want else -np.inf
        kth = np.where(valid, sims, np.inf).min(axis=1)  # per query: the worst fetched similarity
        bound = unseen_bound(method_name, kth, store, q, row_ok)
        exhausted = bool((~valid).any())  # the probed lists ran out before k vectors
        if k >= n_vec or (nth >= bound + margin and not exhausted):
            break
        if not exhausted:  # cheaper than fetching 4x: score the few sources still open in full
            # whole sources are contiguous reads, candidates random ones: up to an eighth of the
            # store in open sources is cheaper than 4x the random fetch (5M vectors, scale.py)
            budget = max(4 * k * len(queries), n_vec // 8)
            extra = _open_source_rows(method_name, kth, store, q, row_ok, rows, nth - margin, budget)
            if extra is not None:
                rows = np.union1d(rows, extra)
                sub = method(substore(store, rows), q, n)  # more rows: the n-th score only rises
                open_rows = len(extra)
                break
        k = min(n_vec, k * 4)
        if ivf is not None:
            ivf.nprobe = min(ivf.nlist, ivf.nprobe * 4)  # type: ignore[attr-defined]
    info = {
        "fetched_per_query": float(k),
        "candidate_rows": float(len(rows)),
        "bound": float(bound),
        "open_source_rows": float(open_rows),
    }
    if ivf is not None:
        info["nprobe"] = float(ivf.nprobe)  # type: ignore[attr-defined]
    return _scatter(sub, rows, store.n_rows), info


def _open_source_rows(
    method_name: str,
    kth: np.ndarray,
    store: StoreArrays,
    q: Queries,
    row_ok: np.ndarray,
    rows: np.ndarray,
    floor: float,
    budget: int,
) -> np.ndarray | None:
    """Allowed rows not yet candidates, of the sources whose unfetched rows could still score above
    ``floor``; None when they hold more than ``budget`` vectors (fetching more is then cheaper)."""
    open_sources = unseen_bound_by_source(method_name, kth, store, q) > floor
    if open_sources.all():
        return None
    extra = np.flatnonzero(open_sources[store.row_source] & row_ok)
    extra = extra[~np.isin(extra, rows, assume_unique=True)]
    starts, stops = row_vector_ranges(store.vector_row, extra)
    return extra if int((stops - starts).sum()) <= budget else None


def _scatter(sub: Scored, rows: np.ndarray, n_rows: int) -> Scored:
    """Map a substore's per-row arrays back to global rows (-inf elsewhere)."""

    def spread(a: np.ndarray) -> np.ndarray:
        out = np.full(n_rows, -np.inf, dtype=np.float32)
        out[rows] = a
        return out

    return Scored(
        {k: spread(v) for k, v in sub.components.items()},
        [(spread(s), quota) for s, quota in sub.lists],
        names=sub.names,
        quota_counts_taken=sub.quota_counts_taken,
    )
