"""Documents (CRAFT): which passage of each retrieved document matched, and its text.

A documents store holds one vector per passage (200 words, 50 overlapping); retrieval ranks a
whole document by its best passage, so a document comes back once however many of its passages
match. Each item then names that passage (index, text, cosine) for the query that picked it:
the CRAFT prompt shows it to the LLM and the sample's provenance keeps it, so a report can say
which passage made which sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from taskforge._cells import split_passages
from taskforge._retrieval._methods import Queries, query_matrix
from taskforge._retrieval._scoring import mean_vector, row_vector_ranges


def best_passages(
    vectors: np.ndarray,
    vector_row: np.ndarray,
    vector_column: np.ndarray,
    rows: np.ndarray,
    queries: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the passage number (``vector_column``) of its best vector for its own query
    (``queries[i]`` for ``rows[i]``) and that cosine; one gather and one segment argmax."""
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    starts, stops = row_vector_ranges(np.asarray(vector_row), rows)
    counts = stops - starts
    if (counts == 0).any():
        raise ValueError(f"row {int(rows[np.argmax(counts == 0)])} has no vectors")
    owner = np.repeat(np.arange(len(rows)), counts)
    idx = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + starts[owner]
    q = np.asarray(queries, dtype=np.float32)
    sims = np.einsum("ij,ij->i", np.asarray(vectors[idx], dtype=np.float32), q[owner])
    order = np.lexsort((-sims, owner))  # best first within each row's segment
    first = order[np.searchsorted(owner[order], np.arange(len(rows)))]
    return np.asarray(vector_column)[idx[first]].astype(np.int64), sims[first].astype(np.float32)


def list_queries(method: str, q: Queries, names: Sequence[str]) -> dict[str | None, np.ndarray]:
    """The query vector behind each ranked list (``example F``, ``mean``), and the method's own
    main query under ``None`` (for items of single-list methods)."""
    out: dict[str | None, np.ndarray] = {None: query_matrix(method, q)[0]}
    for name in names:
        if name == "mean":
            out[name] = mean_vector(q.examples)
        elif name.startswith("example "):
            out[name] = np.asarray(q.examples[int(name.split()[1]) - 1], dtype=np.float32)
    return out


def attach_passages(
    items: list[dict[str, Any]], ds: Any, vectors: np.ndarray, vector_row: np.ndarray, queries: dict
) -> None:
    """Add ``passage: {index, of, text, score}`` to each document item, in place."""
    docs = [it for it in items if it.get("text") is not None]
    if not docs:
        return
    rows = np.array([it["global_row"] for it in docs], dtype=np.int64)
    q = np.stack([queries.get(it.get("picked_by"), queries[None]) for it in docs])
    index, score = best_passages(vectors, vector_row, ds.vector_column(), rows, q)
    for it, p, s in zip(docs, index.tolist(), score.tolist(), strict=True):
        passages = split_passages(str(it["text"]))
        it["passage"] = {"index": p, "of": len(passages), "text": passages[p], "score": round(s, 6)}
