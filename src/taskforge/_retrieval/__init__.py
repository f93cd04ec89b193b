"""Retrieval: score every row of a datastore against a task and keep the best N.

Methods: ``rebase_parts`` (default: ReBase's parts, the query compared part by part with cells
of fitting length, plus source-share and per-label selection; chosen on one half of
benchmarks/retrieval_quality.py's suite), ``rebase_tuned`` (the previous default: ReBase's parts
reweighted, centred source descriptions), ``rebase`` (the ReBase paper's formula, exact), ``craft``
(CRAFT's per-example plus mean-similarity mix), ``mean`` (similarity to the mean example,
for document stores). ``rebase_plus`` takes free weights, incl. whole-row and source-fit terms and centring.
``search`` is the one-query quick look behind ``taskforge datastore search``.
"""

from taskforge._retrieval._methods import (
    METHODS,
    Queries,
    Scored,
    craft,
    mean,
    rebase,
    rebase_plus,
    rebase_tuned,
)
from taskforge._retrieval._retrieve import RetrievalResult, embed_task, example_keys, retrieve
from taskforge._retrieval._scoring import (
    StoreArrays,
    brute_force_rebase,
    rebase_components,
    row_max_scores,
    top_k,
)
from taskforge._retrieval._search import search
from taskforge._settings import RetrieveSettings

__all__ = [
    "METHODS",
    "Queries",
    "RetrievalResult",
    "RetrieveSettings",
    "Scored",
    "StoreArrays",
    "brute_force_rebase",
    "craft",
    "embed_task",
    "example_keys",
    "mean",
    "rebase",
    "rebase_components",
    "rebase_plus",
    "rebase_tuned",
    "retrieve",
    "row_max_scores",
    "search",
    "top_k",
]
