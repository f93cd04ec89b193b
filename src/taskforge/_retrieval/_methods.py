"""Scoring methods: each turns the task's query vectors into per-row scores and ranked lists.

A method returns a :class:`Scored`: score components per row (``final`` is what items are
ranked by) and one or more ranked lists with quotas, which the selector fills in order.
ReBase and ``mean`` have one list; CRAFT has one per few-shot plus the mean-similarity list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from taskforge._retrieval._scoring import (
    DEFAULT_BLOCK,
    StoreArrays,
    _matmul,
    cell_scores,
    mean_vector,
    rebase_components,
    row_max_scores,
    segment_max,
    segment_max_into,
    segment_mean,
)


@dataclass(frozen=True)
class Queries:
    """The task, embedded: instruction (d,), example inputs / outputs / whole examples (F, d).

    ``parts`` (P, F, d): each labelled part of each example input (named input fields, or
    "Context: ... Question: ..." parts of one string), when there are at least two; ``*_chars``:
    the texts' lengths in characters, (F,) for inputs and outputs, (P, F) for parts; ``*_name``:
    the fields' names, the roles a store column of the same name plays.
    """

    instruction: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    examples: np.ndarray
    parts: np.ndarray | None = None
    input_chars: np.ndarray | None = None
    output_chars: np.ndarray | None = None
    part_chars: np.ndarray | None = None
    input_name: str | None = None  # the one named input field ("text"), if any
    output_name: str | None = None  # the one named output field ("label"), if any
    part_names: tuple[str, ...] = ()  # field name of each part ("context", "question")


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
    if method == "rebase_parts":
        return np.stack(parts_columns(q, bool(PARTS["per_example"]))[0])
    return np.stack([mean_vector(q.inputs), mean_vector(q.outputs)])


def unseen_bound(method: str, kth: np.ndarray, store: StoreArrays, q: Queries, row_ok: np.ndarray) -> float:
    """Highest final score a row with no fetched vector could have, given each query's worst fetched
    similarity ``kth`` (exact for an exact index; for ANN, as good as its recall)."""
    # sources with an allowed row (a count, not np.unique: no sort of millions of rows)
    allowed = np.flatnonzero(np.bincount(store.row_source[row_ok], minlength=store.n_sources))
    by_source = unseen_bound_by_source(method, kth, store, q)
    if len(allowed):
        return float(by_source[allowed].max())
    return float(unseen_bound_by_source(method, kth, store, q, no_dataset=True)[0])


def unseen_bound_by_source(
    method: str, kth: np.ndarray, store: StoreArrays, q: Queries, *, no_dataset: bool = False
) -> np.ndarray:
    """:func:`unseen_bound` for the unseen rows of each source, (n_sources,).

    ReBase's dataset term is per source, so a source whose description is far from the
    instruction cannot reach the top however close its unseen rows are: only the few sources
    whose bound is high need their rows scored (``no_dataset``: the dataset term as 0).
    """
    if method in ("mean", "craft"):
        return np.full(max(1, store.n_sources), float(kth[-1]), dtype=np.float32)
    w = {"rebase_tuned": TUNED, "rebase_parts": PARTS}.get(method, PAPER)
    if no_dataset:
        desc = np.zeros(1, dtype=np.float32)
    else:
        desc = description_scores(
            store.description_vectors, q.instruction, centre=bool(w["centre_descriptions"])
        )
    wq, wa, wd = float(w["w_query"]), float(w["w_answer"]), float(w["w_dataset"])
    if method == "rebase_parts":  # length terms only lower scores; a role adds at most `names`
        _, _, k, n_parts = parts_columns(q, bool(PARTS["per_example"]))
        bound = kth[None, :] + float(PARTS["names"])
        query, answer = float(combine_parts(bound, k, n_parts)[0]), float(bound[0, k])
    else:
        query, answer = float(kth[0]), float(kth[1])
    return ((wq * query + wa * answer + wd * desc) / (wq + wa + wd)).astype(np.float32)


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


CHAR_CLIP = (4.0, 1200.0)
"""Lengths outside this range look alike: MiniLM reads about 256 tokens (~1,200 characters)."""
MAX_GAP = 2.0
"""Length gaps stop growing past a factor of e^2 (~7x): a cell that far off is simply the wrong kind."""


def log_chars(chars: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(chars, dtype=np.float32), *CHAR_CLIP))


MAX_EXAMPLE_QUERIES = 8
"""Up to this many examples are scored one by one; more are scored by their mean vector."""


def parts_columns(
    q: Queries, per_example: bool
) -> tuple[list[np.ndarray], list[np.ndarray | None], int, int]:
    """The query vectors :func:`rebase_parts` scores, their lengths, examples per group, parts.

    Layout: k whole inputs (k = F one by one, else 1 mean vector), the mean output, then each
    part's k vectors (parts only when there are at least two). :func:`column_roles` names them.
    """
    f = len(q.inputs)
    n_parts = 0 if q.parts is None or len(q.parts) < 2 else len(q.parts)
    one_by_one = per_example and f <= MAX_EXAMPLE_QUERIES
    k = f if one_by_one else 1

    def group(vecs: np.ndarray, chars: np.ndarray | None) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        if one_by_one:
            return list(vecs), [None if chars is None else chars[i : i + 1] for i in range(f)]
        return [mean_vector(vecs)], [chars]

    cols, targets = group(q.inputs, q.input_chars)
    cols.append(mean_vector(q.outputs))
    targets.append(q.output_chars)
    for p in range(n_parts):
        c, t = group(q.parts[p], q.part_chars[p])  # type: ignore[index]
        cols += c
        targets += t
    return cols, targets, k, n_parts


def role_name(name: str) -> str:
    """A field or column name reduced to its role: ``"answers.text"`` -> ``"text"``,
    ``"sQuestion"`` -> ``"question"``, ``"sentence_1"`` -> ``"sentence"``."""
    last = name.rsplit(".", 1)[-1]
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", last)
    words = [w.lower() for w in words if len(w) > 1]
    return " ".join(w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words)


def column_roles(q: Queries, k: int, n_parts: int, column_names: list[str]) -> np.ndarray:
    """(queries in :func:`parts_columns` layout, store columns): 1 where a query's field and a
    column share a name (a premise part and a "premise" column), else 0."""
    roles = [q.input_name] * k + [q.output_name]
    for name in q.part_names[:n_parts]:
        roles += [name] * k
    cols = [role_name(c) for c in column_names]
    out = np.zeros((len(roles), len(cols)), dtype=np.float32)
    for i, r in enumerate(roles):
        if r and role_name(r):
            out[i] = [c == role_name(r) for c in cols]
    return out


def combine_parts(mx: np.ndarray, k: int, n_parts: int) -> np.ndarray:
    """Query part per row from per-column best cells (layout of :func:`parts_columns`): per
    example, the better of the whole input and the mean over parts; then the mean over examples."""
    whole = mx[:, :k]
    if n_parts:
        whole = np.maximum(whole, mx[:, k + 1 :].reshape(len(mx), n_parts, k).mean(axis=1))
    return whole.mean(axis=1)


def rebase_parts(
    store: StoreArrays,
    q: Queries,
    n: int,
    block: int = DEFAULT_BLOCK,
    *,
    w_query: float = 1.0,
    w_answer: float = 0.25,
    w_dataset: float = 1.0,
    shorter: float = 0.1,
    longer: float = 0.02,
    answer_length: bool = True,
    per_example: bool = True,
    names: float = 0.0,
    centre_descriptions: bool = True,
) -> Scored:
    """ReBase's three parts with inputs compared part by part, like with like.

    Query part: each labelled input part (named fields, or "Context: ... Question: ..." parts of
    one string) is scored against the row's cells, a cell's score lowered when its length does
    not fit the part's (:func:`fitted_row_max`: a passage against passage-long cells, a question
    against question-long ones); the row's part score is the mean over parts of each part's best
    cell, so only a row that has every part scores high. A row that holds the whole input in one
    cell (prompt-style rows) is scored by the whole input the same way; the query part is the
    better of the two. ``per_example``: each example is scored on its own and the row's query
    part is the mean over examples (the mean vector of examples on different topics matches
    little but short generic cells); else one mean vector per part, as the paper does. The answer
    part is the paper's, length-aware when ``answer_length``. ``names``: a cell whose column has
    the name of the query's field (a "premise" column for the premise part, a "label" column for
    a label output) gets this bonus: the column name is the cell's declared role. Description
    part: as in :func:`description_scores`. One streamed pass over the vectors computes every
    row's scores.
    """
    cols, targets, k, n_parts = parts_columns(q, per_example)
    penalty = None
    if (shorter or longer) and store.vector_chars is not None and all(t is not None for t in targets):
        weights_short = np.full(len(cols), shorter, dtype=np.float32)
        weights_long = np.full(len(cols), longer, dtype=np.float32)
        if not answer_length:
            weights_short[k] = weights_long[k] = 0.0
        lt = np.array([float(log_chars(t).mean()) for t in targets], dtype=np.float32)  # type: ignore[arg-type]
        penalty = (store.vector_chars, lt, weights_short, weights_long)
    roles = None
    if names and store.vector_column is not None and store.column_names:
        roles = (store.vector_column, np.float32(names) * column_roles(q, k, n_parts, store.column_names))
    mx = fitted_row_max(store, np.stack(cols), penalty, roles, block=block)
    query = combine_parts(mx, k, n_parts)
    dataset = description_scores(store.description_vectors, q.instruction, centre=centre_descriptions)
    comps = {"query": query, "answer": mx[:, k], "dataset": dataset[store.row_source].astype(np.float32)}
    weights = {"query": w_query, "answer": w_answer, "dataset": w_dataset}
    final = sum(w * comps[key] for key, w in weights.items()) / np.float32(sum(weights.values()))
    final = np.asarray(final, dtype=np.float32)
    return Scored({"final": final, **comps}, [(final, None)])


def fitted_row_max(
    store: StoreArrays,
    queries: np.ndarray,
    penalty: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    roles: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    block: int = DEFAULT_BLOCK,
) -> np.ndarray:
    """Per row and query: the best cell's cosine, fitted to the query's length and role, (n_rows, k).

    ``penalty``: (vector_chars, log typical length per query, weight per query for cells shorter
    than that, for longer ones): a cell shorter than the part cannot hold it (a bare question is
    not a passage), a longer one may hold it among other text, so it costs less. Gaps are in log
    characters, capped at :data:`MAX_GAP`. ``roles``: (vector_column, (k, n_columns) bonus).
    Without either it is ``row_max_scores``; either way one streamed pass over the vectors.
    """
    if penalty is None and roles is None:
        return row_max_scores(store.vectors, store.vector_row, store.n_rows, queries, block=block)
    q = np.ascontiguousarray(np.atleast_2d(queries).astype(np.float32).T)
    out = np.full((store.n_rows, q.shape[1]), -np.inf, dtype=np.float32)
    for start in range(0, len(store.vectors), block):
        stop = min(start + block, len(store.vectors))
        sims = _matmul(np.asarray(store.vectors[start:stop]), q)
        if penalty is not None:
            chars, lt, w_short, w_long = penalty
            lv = log_chars(np.asarray(chars[start:stop]))[:, None]
            sims -= w_short * np.minimum(np.maximum(lt - lv, 0.0), MAX_GAP)
            sims -= w_long * np.minimum(np.maximum(lv - lt, 0.0), MAX_GAP)
        if roles is not None:
            sims += roles[1][:, np.asarray(roles[0][start:stop])].T
        segment_max_into(out, np.asarray(store.vector_row[start:stop]), sims)
    return out


PARTS: dict[str, float | bool] = {
    "w_query": 1.0,
    "w_answer": 0.25,
    "w_dataset": 1.0,
    "shorter": 0.1,
    "longer": 0.02,
    "answer_length": True,
    "per_example": True,
    "names": 0.1,
    "centre_descriptions": True,
}
"""The default method's weights; chosen on half A of benchmarks/retrieval_quality.py, see README."""

SELECTION: dict[str, dict[str, float | None]] = {
    "rebase_parts": {
        "max_source_share": 0.3,
        "share_margin": 0.5,
        "label_share": 0.3,
        "label_bonus": 1.0,
        "label_reach": math.inf,
    },
}
"""Selection defaults per method: source share, its margin, per-label quota as a share of N, the
bonus of labelled rows, how far below the N-th score quota rows may be (margins, bonus and reach
in units of the top N's score spread: best minus N-th best).
Methods not listed select by score alone, as their papers do, unless the settings ask otherwise."""


def rebase_default(store: StoreArrays, q: Queries, n: int, block: int = DEFAULT_BLOCK) -> Scored:
    """:func:`rebase_parts` with the tuned weights :data:`PARTS` (the default method)."""
    return rebase_parts(store, q, n, block, **PARTS)  # type: ignore[arg-type]


def rebase_tuned(store: StoreArrays, q: Queries, n: int, block: int = DEFAULT_BLOCK) -> Scored:
    """ReBase's three parts, chosen on benchmarks/retrieval_quality.py: query 1, answer 0.25,
    dataset 1 with centred source descriptions (:data:`TUNED`, :func:`description_scores`)."""
    return rebase_plus(store, q, n, block, **TUNED)  # type: ignore[arg-type]


METHODS: dict[str, Method] = {
    "rebase_parts": rebase_default,
    "rebase": rebase,
    "rebase_tuned": rebase_tuned,
    "craft": craft,
    "mean": mean,
}
