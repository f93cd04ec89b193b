"""Does the store cover the task at all? Two signals, and the warning they raise.

- **cards**: the best cosine between the instruction and any allowed source's description. It
  catches tasks whose *kind* nothing resembles (chess openings, protein sequences), but not a
  common format in an uncovered domain: a medical-exam task finds exam cards.
- **content**: how closely the store's best rows resemble the examples, relative to how closely
  the examples resemble each other. Three medical vignettes resemble each other far more than any
  science question resembles them; three reviews of different products resemble each other less
  than the reviews in a review source resemble them. The ratio is scale-free, so one threshold
  serves tasks whose examples are alike and tasks whose examples differ.

A task warns when its content ratio is low, or when no card resembles it *and* its content ratio
is not clearly high: an instruction worded unlike any card ("Pick the better way to reach the
goal.") is no sign of a missing domain when the store's rows resemble the examples well.
"""

from __future__ import annotations

import numpy as np

from taskforge._retrieval._methods import Queries, Scored
from taskforge._retrieval._scoring import DEFAULT_BLOCK, StoreArrays, row_max_scores

# Below this best cosine between the instruction and any allowed source's description, the
# store has nothing like the task (far tasks 0.19 / 0.21, covered tasks 0.24 and up).
WARN_BELOW = 0.225
# Below this ratio of row-to-example to example-to-example similarity, the examples' content is
# not in the store. Chosen on half A of benchmarks/retrieval_quality.py (midway between its far
# tasks, up to 1.07, and its covered ones, from 1.25), checked on half B (see README).
CONTENT_WARN_BELOW = 1.16
# A weak card (below WARN_BELOW) warns unless the content ratio reaches this. Chosen on half A
# (midway between its far task with a weak card, 0.79, and its covered one, 2.21), checked on B.
CARD_CONTENT_WARN_BELOW = 1.5
TOP_ROWS = 20  # "the store's best rows": per example, the mean over its 20 most similar rows...
TOP_SHARE = 25  # ...but at most 1/25 of the allowed rows (at least 3): in a tiny store 20 rows is not "best"


def top_rows(n_allowed: int, top: int = TOP_ROWS) -> int:
    """How many of each example's most similar rows make "the store's best rows"."""
    return max(1, min(top, n_allowed, max(3, n_allowed // TOP_SHARE)))


def confidence(
    scored: Scored, queries: Queries, store: StoreArrays, row_ok: np.ndarray, names: list[str]
) -> tuple[float, list[tuple[str, float]]]:
    """Best instruction-to-description cosine over allowed sources, and the 5 sources whose
    best row scores highest under the method (what the user should look at)."""
    allowed = np.unique(store.row_source[row_ok])
    desc = store.description_vectors @ np.asarray(queries.instruction, dtype=np.float32)
    conf = float(desc[allowed].max()) if len(allowed) else float("-inf")
    final = np.where(row_ok, scored.components["final"], -np.inf)
    per_source = np.full(len(names), -np.inf, dtype=np.float32)
    ok = np.isfinite(final)
    np.maximum.at(per_source, store.row_source[ok], final[ok])
    order = [int(i) for i in np.argsort(-per_source)[:5] if np.isfinite(per_source[i])]
    return conf, [(names[i], float(per_source[i])) for i in order]


def _mean_pairwise(vecs: np.ndarray) -> float:
    f = len(vecs)
    if f < 2:
        return float("nan")
    sims = vecs @ vecs.T
    return float((sims.sum() - np.trace(sims)) / (f * (f - 1)))


def content_coverage(
    store: StoreArrays,
    queries: Queries,
    row_ok: np.ndarray,
    *,
    top: int = TOP_ROWS,
    block: int = DEFAULT_BLOCK,
    index: object | None = None,
) -> dict[str, float]:
    """Row-to-example vs example-to-example similarity, for whole examples and for inputs.

    ``rows``: per example, the mean cosine of its ``top`` (:func:`top_rows`) most similar allowed rows (a row's
    similarity is its best cell), averaged over examples; ``examples``: the mean cosine between
    two different examples; ``ratio``: rows / examples (NaN with fewer than 2 examples).
    One pass over the vectors scores every example at once; with an ANN ``index`` the nearest
    cells come from the index instead (no full pass).
    """
    ex = np.asarray(queries.examples, dtype=np.float32)
    inp = np.asarray(queries.inputs, dtype=np.float32)
    f = len(ex)
    both = np.vstack([ex, inp])
    if index is None:
        best = row_max_scores(store.vectors, store.vector_row, store.n_rows, both, block=block)[row_ok]
        k = top_rows(len(best), top) if len(best) else 0
        tops = -np.partition(-best, k - 1, axis=0)[:k] if k else np.zeros((0, 2 * f), np.float32)
    else:
        tops = _nearest_rows_ann(index, store, both, row_ok, top_rows(int(row_ok.sum()), top))
    out: dict[str, float] = {}
    for name, cols, vecs in (("", slice(0, f), ex), ("input_", slice(f, 2 * f), inp)):
        rows = float(np.mean(tops[:, cols])) if len(tops) else float("nan")
        pair = _mean_pairwise(vecs)
        out[f"{name}rows"] = rows
        out[f"{name}examples"] = pair
        out[f"{name}ratio"] = rows / pair if pair == pair and pair > 0 else float("nan")
    return out


def _nearest_rows_ann(
    index: object, store: StoreArrays, queries: np.ndarray, row_ok: np.ndarray, top: int
) -> np.ndarray:
    """(top, k) best-cell similarities of each query's ``top`` nearest allowed rows, from the index."""
    sims, ids = index.search(np.ascontiguousarray(queries), top * 16)  # type: ignore[attr-defined]
    vector_row = np.asarray(store.vector_row)
    out = np.full((top, len(queries)), np.nan, dtype=np.float32)
    for j in range(len(queries)):
        valid = ids[j] >= 0
        rows = vector_row[ids[j][valid]]
        ok = row_ok[rows]
        _, first = np.unique(rows[ok], return_index=True)  # hits come best first: first = row's best
        best = np.sort(sims[j][valid][ok][first])[::-1][:top]
        out[: len(best), j] = best
    return out[~np.isnan(out).any(axis=1)]


def low_confidence_warning(
    conf: float, closest: list[tuple[str, float]], coverage: dict[str, float] | None = None
) -> str | None:
    """A plain message when nothing in the store looks like the task, else None."""
    near = ", ".join(f"{name} ({score:.2f})" for name, score in closest) or "none"
    advice = "Add a source that covers the task, or check the instruction and examples."
    ratio = (coverage or {}).get("ratio", float("nan"))
    content_clear = ratio == ratio and ratio >= CARD_CONTENT_WARN_BELOW
    if conf < WARN_BELOW and not content_clear:
        return (
            f"nothing in this datastore looks like this task: no source description resembles the "
            f"instruction (best cosine {conf:.2f}, below {WARN_BELOW}) and the best rows do not clearly "
            f"resemble the examples (content ratio {ratio:.2f}, not {CARD_CONTENT_WARN_BELOW} or more), so the "
            f"items are the least bad matches among unrelated material. Closest sources by best row: "
            f"{near}. {advice}"
        )
    if ratio == ratio and ratio < CONTENT_WARN_BELOW:
        return (
            f"no source covers this task's content: the store's best rows resemble the examples "
            f"less than the examples resemble each other (ratio {ratio:.2f}, below {CONTENT_WARN_BELOW}: "
            f"rows {coverage['rows']:.2f} vs examples {coverage['examples']:.2f}), so the items share "
            f"the task's format at best, not its domain. Closest sources by best row: {near}. {advice}"
        )
    return None
