"""Scoring methods: each turns the task's query vectors into per-row scores and ranked lists.

A method returns a :class:`Scored`: score components per row (``final`` is what items are
ranked by) and one or more ranked lists with quotas, which the selector fills in order.
ReBase and ``mean`` have one list; CRAFT has one per few-shot plus the mean-similarity list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from taskforge._retrieval._scoring import (
    DEFAULT_BLOCK,
    StoreArrays,
    mean_vector,
    rebase_components,
    row_max_scores,
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
    """CRAFT: half of n split evenly over the few-shots (top per example), half by mean similarity.

    One pass scores all few-shots and their mean together; the union is de-duplicated by the
    selector, which fills the per-example quotas first, then tops up from the mean list.
    """
    ex = np.asarray(q.examples, dtype=np.float32)
    queries = np.vstack([ex, mean_vector(ex)[None, :]])
    s = row_max_scores(store.vectors, store.vector_row, store.n_rows, queries, block=block)
    per_example, mean_s = s[:, :-1], s[:, -1]
    quota = math.ceil(n / 2 / len(ex))
    lists: list[tuple[np.ndarray, int | None]] = [(per_example[:, f], quota) for f in range(len(ex))]
    lists.append((mean_s, None))
    best = per_example.max(axis=1)
    return Scored({"final": mean_s, "mean": mean_s, "best_example": best}, lists)


METHODS: dict[str, Method] = {"rebase": rebase, "craft": craft, "mean": mean}
