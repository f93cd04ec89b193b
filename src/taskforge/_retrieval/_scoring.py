"""The scoring core: pure functions over the datastore's arrays, no datastore needed.

Every method reduces to "inner products of all cell vectors with a few query vectors,
then a max over each row's cells". That is one pass over the (memory-mapped) vectors
in bounded blocks: a (block x d) @ (d x k) matmul and a segment max, so a store of
millions of vectors is scored in about the time it takes to read it once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_BLOCK = 1 << 16  # vectors per block: 64k x 384 float32 = 96 MB read at a time


@dataclass(frozen=True)
class StoreArrays:
    """The arrays scoring reads (the Datastore read API, or synthetic ones in tests/benchmarks).

    ``vectors`` (n_vectors, d) unit rows, float32 or float16, may be memory-mapped;
    ``vector_row`` (n_vectors,) global row of each vector; ``row_source`` (n_rows,) source id
    of each row; ``description_vectors`` (n_sources, d) one unit vector per source description;
    ``vector_chars`` (n_vectors,) characters of each vector's text, when the store knows them
    (part-aware scoring compares lengths; without them it compares content only);
    ``vector_column`` / ``column_names``: each vector's column and the columns' names (roles).
    """

    vectors: np.ndarray
    vector_row: np.ndarray
    row_source: np.ndarray
    description_vectors: np.ndarray
    vector_chars: np.ndarray | None = None
    vector_column: np.ndarray | None = None
    column_names: list[str] | None = None

    @property
    def n_rows(self) -> int:
        return len(self.row_source)

    @property
    def n_sources(self) -> int:
        return len(self.description_vectors)

    @classmethod
    def from_datastore(cls, ds: object) -> StoreArrays:
        chars = getattr(ds, "vector_chars", None)
        return cls(
            vectors=ds.vectors(),  # type: ignore[attr-defined]
            vector_row=np.asarray(ds.vector_row()),  # type: ignore[attr-defined]
            row_source=np.asarray(ds.row_source()),  # type: ignore[attr-defined]
            description_vectors=np.asarray(ds.description_vectors(), dtype=np.float32),  # type: ignore[attr-defined]
            vector_chars=np.asarray(chars()) if callable(chars) and ds.kind == "rows" else None,  # type: ignore[attr-defined]
            vector_column=np.asarray(ds.vector_column()) if ds.kind == "rows" else None,  # type: ignore[attr-defined]
            column_names=list(ds.column_names()) if ds.kind == "rows" else None,  # type: ignore[attr-defined]
        )


def _matmul(block: np.ndarray, queries_t: np.ndarray) -> np.ndarray:
    """(m, d) @ (d, k) -> (m, k) float32, accumulated in float32.

    float32 blocks: numpy's BLAS (as fast as torch here; for k <= 4, k GEMVs are ~1.5x
    cheaper than one thin GEMM). float16 blocks: torch widens them to float32 per block
    (numpy's float16 matmul is unusably slow, MEASURED.md).
    """
    if block.dtype == np.float32:
        if queries_t.shape[1] <= 4:  # a few matrix-vector products beat one thin GEMM (measured)
            return np.stack(
                [block @ np.ascontiguousarray(queries_t[:, j]) for j in range(queries_t.shape[1])], 1
            )
        return block @ queries_t
    import torch

    return (torch.from_numpy(np.ascontiguousarray(block)).float() @ torch.from_numpy(queries_t)).numpy()


def row_max_scores(
    vectors: np.ndarray,
    vector_row: np.ndarray,
    n_rows: int,
    queries: np.ndarray,
    *,
    block: int = DEFAULT_BLOCK,
) -> np.ndarray:
    """For each row and each query, the max inner product over the row's vectors.

    Returns (n_rows, k) float32; rows without vectors get -inf. Vectors of one row may sit
    anywhere (a scatter max handles that), but the fast path is rows stored contiguously,
    which is how the datastore writes them: then it is a ``np.maximum.reduceat``.
    """
    q = np.ascontiguousarray(np.atleast_2d(queries).astype(np.float32).T)  # (d, k)
    out = np.full((n_rows, q.shape[1]), -np.inf, dtype=np.float32)
    for start in range(0, len(vectors), block):
        stop = min(start + block, len(vectors))
        sims = _matmul(np.asarray(vectors[start:stop]), q)
        rows = np.asarray(vector_row[start:stop])
        segment_max_into(out, rows, sims)
    return out


def cell_scores(vectors: np.ndarray, queries: np.ndarray, *, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """Inner product of every vector with every query, (n_vectors, k) float32, in streamed blocks.

    For methods that reduce the same cell scores several ways (max, mean, per column):
    k floats per vector, e.g. 16 MB for 1M vectors and 4 queries.
    """
    q = np.ascontiguousarray(np.atleast_2d(queries).astype(np.float32).T)
    out = np.empty((len(vectors), q.shape[1]), dtype=np.float32)
    for start in range(0, len(vectors), block):
        stop = min(start + block, len(vectors))
        out[start:stop] = _matmul(np.asarray(vectors[start:stop]), q)
    return out


def segment_max(cells: np.ndarray, vector_row: np.ndarray, n_rows: int) -> np.ndarray:
    """Per-row max of per-vector scores (n_rows, k); -inf for rows without vectors."""
    out = np.full((n_rows, cells.shape[1]), -np.inf, dtype=np.float32)
    segment_max_into(out, np.asarray(vector_row), cells)
    return out


def segment_mean(cells: np.ndarray, vector_row: np.ndarray, n_rows: int) -> np.ndarray:
    """Per-row mean of per-vector scores (n_rows, k); -inf for rows without vectors.

    The mean of a row's cell scores is the score of the row's mean vector (inner products
    are linear): a whole-row similarity for free.
    """
    vr = np.asarray(vector_row)
    counts = np.bincount(vr, minlength=n_rows).astype(np.float32)
    sums = np.stack(
        [np.bincount(vr, weights=cells[:, j], minlength=n_rows) for j in range(cells.shape[1])], 1
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (sums / counts[:, None]).astype(np.float32)
    out[counts == 0] = -np.inf
    return out


def segment_max_into(out: np.ndarray, rows: np.ndarray, sims: np.ndarray) -> None:
    """out[rows[i]] = max(out[rows[i]], sims[i]) for all i, fast when ``rows`` is sorted."""
    if len(rows) == 0:
        return
    steps = np.diff(rows)
    if steps.min(initial=0) >= 0:
        starts = np.concatenate(([0], np.flatnonzero(steps) + 1))
        seg = np.maximum.reduceat(sims, starts, axis=0)
        uniq = rows[starts]  # unique, since rows are sorted
        out[uniq] = np.maximum(out[uniq], seg)
    else:
        np.maximum.at(out, rows, sims)


def row_vector_ranges(vector_row: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[start, stop) of each row's vectors, for a ``vector_row`` sorted by row."""
    starts = np.searchsorted(vector_row, rows, side="left")
    stops = np.searchsorted(vector_row, rows, side="right")
    return starts, stops


def rescore_rows(
    vectors: np.ndarray, vector_row: np.ndarray, rows: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Exact row-max scores of a few candidate rows only (the ANN re-scoring step): (len(rows), k)."""
    starts, stops = row_vector_ranges(vector_row, rows)
    idx = (
        np.concatenate([np.arange(a, b) for a, b in zip(starts, stops, strict=True)])
        if len(rows)
        else np.zeros(0, int)
    )
    owner = np.repeat(np.arange(len(rows)), stops - starts)
    q = np.ascontiguousarray(np.atleast_2d(queries).astype(np.float32).T)
    sims = _matmul(np.ascontiguousarray(vectors[idx]), q)
    out = np.full((len(rows), q.shape[1]), -np.inf, dtype=np.float32)
    segment_max_into(out, owner, sims)
    return out


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    """The un-normalised mean of unit vectors: its inner product with x is the mean cosine with x."""
    return np.asarray(vectors, dtype=np.float32).mean(axis=0)


def rebase_components(
    store: StoreArrays,
    input_vecs: np.ndarray,
    output_vecs: np.ndarray,
    instruction_vec: np.ndarray,
    *,
    block: int = DEFAULT_BLOCK,
) -> dict[str, np.ndarray]:
    """The ReBase paper's score for every row (section 3.2), exactly, in one pass.

    S_query = max_c mean_q cos(q, v_c), S_ans likewise, S_dataset = cos(description, instruction),
    S_final = their mean. Mean of cosines = inner product with the mean vector, so the two
    example sets are two query columns of one matmul.
    """
    queries = np.stack([mean_vector(input_vecs), mean_vector(output_vecs)])
    both = row_max_scores(store.vectors, store.vector_row, store.n_rows, queries, block=block)
    dataset = (store.description_vectors @ np.asarray(instruction_vec, dtype=np.float32)).astype(np.float32)
    s_query, s_ans = both[:, 0], both[:, 1]
    s_dataset = dataset[store.row_source]
    return {
        "final": (s_query + s_ans + s_dataset) / np.float32(3.0),
        "query": s_query,
        "answer": s_ans,
        "dataset": s_dataset,
    }


def brute_force_rebase(
    store: StoreArrays, input_vecs: np.ndarray, output_vecs: np.ndarray, instruction_vec: np.ndarray
) -> np.ndarray:
    """Reference S_final per row, computed the straightforward way the paper describes.

    One cosine pass per example (norms recomputed, as cosine does), a Python loop for the
    per-row max, a loop for the dataset score. Slow on purpose: it is the yardstick for
    tests and the benchmark, never used to retrieve.
    """
    vecs = np.asarray(store.vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", vecs, vecs))

    def mean_cos(examples: np.ndarray) -> np.ndarray:
        acc = np.zeros(len(vecs), dtype=np.float64)
        for q in np.asarray(examples, dtype=np.float32):
            acc += (vecs @ q) / (norms * np.linalg.norm(q))
        return acc / len(examples)

    s_q_cell, s_a_cell = mean_cos(input_vecs), mean_cos(output_vecs)
    s_q: dict[int, float] = {}
    s_a: dict[int, float] = {}
    for i, r in enumerate(store.vector_row.tolist()):
        s_q[r] = max(s_q.get(r, -np.inf), s_q_cell[i])
        s_a[r] = max(s_a.get(r, -np.inf), s_a_cell[i])
    inst = np.asarray(instruction_vec, dtype=np.float64)
    desc = np.asarray(store.description_vectors, dtype=np.float64)
    ds_score = [float(d @ inst / (np.linalg.norm(d) * np.linalg.norm(inst))) for d in desc]
    final = np.full(store.n_rows, -np.inf)
    for r in s_q:
        final[r] = (s_q[r] + s_a[r] + ds_score[int(store.row_source[r])]) / 3.0
    return final


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest finite scores, best first (argpartition, then sort k; ties by index)."""
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    part = part[np.lexsort((part, -scores[part]))]  # ties: lower row first, so order is deterministic
    return part[np.isfinite(scores[part])]
