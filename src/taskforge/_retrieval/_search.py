"""``search``: a quick look into a datastore for one text (``taskforge datastore search``).

Not a retriever for tasks (that is :func:`taskforge.retrieve`): one query, the best cell of
each row mixed with its source's description score, one hit per distinct text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from taskforge._cells import split_passages
from taskforge._embed import Encoder, check_same
from taskforge._retrieval._scoring import row_max_scores

if TYPE_CHECKING:
    from taskforge._datastore import Datastore


def search(
    ds: Datastore,
    text: str,
    k: int = 10,
    *,
    embedder: Encoder | None = None,
    index: str = "exact",
    description_weight: float = 0.5,
) -> list[dict[str, Any]]:
    """The ``k`` best rows of ``ds`` for ``text``, each with its best cell/passage, scores and full row.

    A row's score is its best cell's cosine, mixed with the cosine of its source's
    description (ReBase's dataset score) by ``description_weight``: a query such as
    "Does the premise entail the hypothesis?" then finds NLI rows rather than rows that
    merely mention the word "hypothesis". ``description_weight=0`` is pure cell search.
    A quick look should show k different things, so a row whose best cell repeats the
    text of a better hit (a label such as "entailment" in every row) is skipped.
    """
    emb = embedder or ds.embedder()
    check_same(emb, ds.model_name, ds.dim)
    query = emb.encode([text])
    vrow = ds.vector_row()
    dataset = ds.description_vectors() @ query[0]
    if index == "exact":
        row_cell = row_max_scores(ds.vectors(), vrow, ds.n_rows, query)[:, 0]
    else:
        fetch = min(ds.n_vectors, max(k * 50, 1000))
        scores, ids = ds.index(index).search(query, fetch)
        keep = ids[0] >= 0
        row_cell = row_max_scores(scores[0][keep][:, None], vrow[ids[0][keep]], ds.n_rows, np.ones(1))[:, 0]
    final = (1 - description_weight) * row_cell + description_weight * dataset[ds.row_source()]
    # identical texts embed identically: one row per (source, best-cell score) stands for its twins
    key = ds.row_source().astype(np.int64) << 32 | row_cell.astype(np.float32).view(np.uint32)
    _, first = np.unique(key, return_index=True)
    first = first[np.isfinite(final[first])]
    n_candidates = min(max(k * 4, 50), len(first))
    if n_candidates == 0:
        return []
    top = first[np.argpartition(-final[first], n_candidates - 1)[:n_candidates]]
    top = top[np.argsort(-final[top], kind="stable")]
    vecs, vcol, columns = ds.vectors(), ds.vector_column(), ds.column_names()
    hits: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in top.tolist():
        lo, hi = np.searchsorted(vrow, r, "left"), np.searchsorted(vrow, r, "right")
        best = lo + int(np.argmax(np.asarray(vecs[lo:hi], dtype=np.float32) @ query[0]))
        rec = ds.get_rows([r])[0]
        if ds.kind == "rows":
            column = columns[int(vcol[best])]
            snippet = rec["cells"].get(column, "")
        else:
            column, snippet = f"passage {int(vcol[best])}", split_passages(rec["text"])[int(vcol[best])]
        key = " ".join(snippet.lower().split())
        if key in seen:
            continue
        seen.add(key)
        hits.append(
            {
                **rec,
                "global_row": r,
                "column": column,
                "score": float(final[r]),
                "cell_score": float(row_cell[r]),
                "dataset_score": float(dataset[ds.row_source()[r]]),
                "snippet": snippet,
            }
        )
        if len(hits) == k:
            break
    return hits
