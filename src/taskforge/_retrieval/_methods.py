"""Scoring methods: each turns the task's query vectors into per-row scores and ranked lists.

A method returns a :class:`Scored`: score components per row (``final`` is what items are
ranked by) and one or more ranked lists with quotas, which the selector fills in order.
ReBase and ``mean`` have one list; CRAFT has one per few-shot plus the mean-similarity list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from taskforge._retrieval._scoring import (
    DEFAULT_BLOCK,
    StoreArrays,
    cell_scores,
    mean_vector,
    rebase_components,
    row_max_scores,
    segment_max,
    segment_mean,
)


@dataclass(frozen=True)
class Queries:
    """The task, embedded: instruction (d,), example inputs / outputs / whole examples (F, d)."""

    instruction: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    examples: np.ndarray


@dataclass
class Scored:
    """Per-row score components (each (n_rows,), ``final`` included) and the lists to fill.

    ``lists``: (ranking scores, quota) in priority order; quota None means "fill up to n".
    """

    components: dict[str, np.ndarray]
    lists: list[tuple[np.ndarray, int | None]] = field(default_factory=list)
    # CRAFT: each list's name (kept on the items as ``picked_by``), and quotas that count rows an
    # earlier list already took (a document in two few-shots' tops is taken once, for both)
    names: list[str] = field(default_factory=list)
    quota_counts_taken: bool = False


Method = Callable[[StoreArrays, Queries, int, int], Scored]


def rebase(store: StoreArrays, q: Queries, n: int, block: int = DEFAULT_BLOCK) -> Scored:
    """The ReBase paper's formula, exactly: (S_query + S_ans + S_dataset) / 3."""
    comps = rebase_components(store, q.inputs, q.outputs, q.instruction, block=block)
    return Scored(comps, [(comps["final"], None)])


def mean(store: StoreArrays, q: Queries, n: int, block: int = DEFAULT_BLOCK) -> Scored:
    """Mean cosine to the whole examples, max over a row's vectors: for document stores."""
    s = row_max_scores(store.vectors, store.vector_row, store.n_rows, mean_vector(q.examples), block=block)[
        :, 0
    ]
    return Scored({"final": s, "mean": s}, [(s, None)])


def craft(store: StoreArrays, q: Queries, n: int, block: int = DEFAULT_BLOCK) -> Scored:
    """CRAFT's retrieval mix, as in the paper and its code (``retrieve.top_k_indices``).

    Half of n is split evenly over the F few-shots: each takes its own top ``(n // 2) // F``
    documents by cosine to that few-shot (a document in two few-shots' tops is taken once and
    counts for both, as the code's union of index sets does). The rest comes from the highest
    mean cosine over all few-shots. The code over-fetches 20% so that the union still reaches
    the budget after duplicates; the selector instead tops the mean list up to exactly n, and
    skips (and replaces) documents whose text repeats a taken one. One pass scores all few-shots
    and their mean together (mean of cosines = inner product with the mean vector).
    """
    ex = np.asarray(q.examples, dtype=np.float32)
    queries = np.vstack([ex, mean_vector(ex)[None, :]])
    s = row_max_scores(store.vectors, store.vector_row, store.n_rows, queries, block=block)
    per_example, mean_s = s[:, :-1], s[:, -1]
    quota = (n // 2) // len(ex)
    lists: list[tuple[np.ndarray, int | None]] = []
    names: list[str] = []
    if quota:
        lists = [(per_example[:, f], quota) for f in range(len(ex))]
        names = [f"example {f + 1}" for f in range(len(ex))]
    lists.append((mean_s, None))
    names.append("mean")
    best = per_example.max(axis=1)
    return Scored(
        {"final": mean_s, "mean": mean_s, "best_example": best}, lists, names=names, quota_counts_taken=True
    )


def query_matrix(method: str, q: Queries) -> np.ndarray:
    """The query vectors a method's row scores are maxima of (what an ANN index is searched with)."""
    if method == "mean":
        return mean_vector(q.examples)[None, :]
    if method == "craft":
        return np.vstack([q.examples, mean_vector(q.examples)[None, :]])
    return np.stack([mean_vector(q.inputs), mean_vector(q.outputs)])


def unseen_bound(method: str, kth: np.ndarray, store: StoreArrays, q: Queries, row_ok: np.ndarray) -> float:
    """Highest final score a row with no fetched vector could have, given each query's worst fetched
    similarity ``kth`` (exact for an exact index; for ANN, as good as its recall)."""
    if method in ("mean", "craft"):
        return float(kth[-1])
    allowed = np.unique(store.row_source[row_ok]) if row_ok.any() else np.zeros(0, int)
    w = TUNED if method == "rebase_tuned" else PAPER
    desc = description_scores(store.description_vectors, q.instruction, centre=bool(w["centre_descriptions"]))
    d_max = float(desc[allowed].max()) if len(allowed) else 0.0
    wq, wa, wd = float(w["w_query"]), float(w["w_answer"]), float(w["w_dataset"])
    return float((wq * kth[0] + wa * kth[1] + wd * d_max) / (wq + wa + wd))


MIN_SOURCES_TO_CENTRE = 8
"""Below this many sources the mean description is mostly the sources themselves: no centring."""


def description_scores(
    description_vectors: np.ndarray, instruction: np.ndarray, *, centre: bool
) -> np.ndarray:
    """Cosine of each source description with the instruction, (n_sources,) float32.

    ``centre``: subtract the mean description first (then re-normalise). Every dataset card
    says "a dataset / benchmark of ... for evaluating ...", and that shared part dominates
    raw cosines, so all QA cards look alike to an instruction about QA. Centring removes
    it and leaves what sets a source apart (hubness reduction, as in embedding retrieval).
    Stores with fewer than :data:`MIN_SOURCES_TO_CENTRE` sources are not centred.
    """
    d = np.asarray(description_vectors, dtype=np.float32)
    inst = np.asarray(instruction, dtype=np.float32)
    if not centre or len(d) < MIN_SOURCES_TO_CENTRE:
        return (d @ inst).astype(np.float32)
    mu = d.mean(axis=0)
    dc, ic = d - mu, inst - mu
    dc /= np.maximum(np.linalg.norm(dc, axis=1, keepdims=True), 1e-12)
    return (dc @ (ic / max(float(np.linalg.norm(ic)), 1e-12))).astype(np.float32)


PAPER: dict[str, float | bool] = {
    "w_query": 1.0,
    "w_answer": 1.0,
    "w_dataset": 1.0,
    "centre_descriptions": False,
}

# Chosen on benchmarks/retrieval_quality.py (9 tasks over the 73 shared sources, top 1,000):
# mean relevant-source precision 0.90, worst task 0.79, vs 0.60 / 0.20 for the paper's formula.
# Centring the descriptions is most of the gain; the answer part is down-weighted because short
# outputs ("yes", a label) match the label cells of any source.
TUNED: dict[str, float | bool] = {
    "w_query": 1.0,
    "w_answer": 0.25,
    "w_dataset": 1.0,
    "centre_descriptions": True,
}


def source_fit(row_score: np.ndarray, row_source: np.ndarray, n_sources: int, top: int = 50) -> np.ndarray:
    """Per source: mean of its ``top`` best row scores (its typical best rows, not one stray hit).

    Ranks rows within each source with one lexsort; excluded rows (-inf) count as absent.
    """
    finite = np.isfinite(row_score)
    idx = np.flatnonzero(finite)
    src, sc = row_source[idx], row_score[idx]
    order = np.lexsort((-sc, src))
    src_sorted, sc_sorted = src[order], sc[order]
    first = np.searchsorted(src_sorted, np.arange(n_sources))
    rank = np.arange(len(order)) - first[src_sorted]
    keep = rank < top
    sums = np.bincount(src_sorted[keep], weights=sc_sorted[keep], minlength=n_sources)
    counts = np.bincount(src_sorted[keep], minlength=n_sources)
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = sums / counts
    fit[counts == 0] = -np.inf
    return fit.astype(np.float32)


def rebase_plus(
    store: StoreArrays,
    q: Queries,
    n: int,
    block: int = DEFAULT_BLOCK,
    *,
    w_query: float = 1.0,
    w_answer: float = 1.0,
    w_dataset: float = 1.0,
    w_row: float = 0.0,
    w_source: float = 0.0,
    source_top: int = 50,
    centre_descriptions: bool = False,
) -> Scored:
    """ReBase's parts plus whole-row similarity and source fit, weighted (weights tuned on the suite).

    ``row``: the row's mean cell vector against the mean whole example (compares a row as a
    whole, so one short label cell cannot carry it). ``source``: the source's typical fit
    (mean of its best rows' row-level score), so rows of sources that look like the task
    throughout outrank stray matches in unrelated ones. Weights are normalised to sum to 1.
    ``centre_descriptions``: see :func:`description_scores`.
    """
    queries = np.stack([mean_vector(q.inputs), mean_vector(q.outputs), mean_vector(q.examples)])
    cells = cell_scores(store.vectors, queries[: 3 if w_row else 2], block=block)
    mx = segment_max(cells[:, :2], store.vector_row, store.n_rows)
    dataset = description_scores(store.description_vectors, q.instruction, centre=centre_descriptions)
    dataset = dataset[store.row_source]
    comps = {"query": mx[:, 0], "answer": mx[:, 1], "dataset": dataset.astype(np.float32)}
    weights = {"query": w_query, "answer": w_answer, "dataset": w_dataset}
    if w_row:
        comps["row"] = segment_mean(cells[:, 2:], store.vector_row, store.n_rows)[:, 0]
        weights["row"] = w_row
    if w_source:
        base = sum(weights[k] * comps[k] for k in ("query", "answer", "row") if k in comps)
        base = base / sum(weights[k] for k in ("query", "answer", "row") if k in comps)
        comps["source"] = source_fit(base, store.row_source, store.n_sources, source_top)[store.row_source]
        weights["source"] = w_source
    final = sum(w * comps[k] for k, w in weights.items()) / np.float32(sum(weights.values()))
    final = np.asarray(final, dtype=np.float32)
    return Scored({"final": final, **comps}, [(final, None)])


def rebase_tuned(store: StoreArrays, q: Queries, n: int, block: int = DEFAULT_BLOCK) -> Scored:
    """ReBase's three parts, chosen on benchmarks/retrieval_quality.py: query 1, answer 0.25,
    dataset 1 with centred source descriptions (:data:`TUNED`, :func:`description_scores`)."""
    return rebase_plus(store, q, n, block, **TUNED)  # type: ignore[arg-type]


METHODS: dict[str, Method] = {
    "rebase": rebase,
    "rebase_tuned": rebase_tuned,
    "craft": craft,
    "mean": mean,
}
