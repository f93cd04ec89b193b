"""Retrieval: score every row of a datastore against a task and keep the best N.

Methods: ``rebase_parts`` (default: ReBase's parts, the query compared part by part with cells
of fitting length, plus source-share and per-label selection; chosen on one half of
benchmarks/retrieval_quality.py's suite), ``rebase_tuned`` (the previous default: ReBase's parts
reweighted, centred source descriptions), ``rebase`` (the ReBase paper's formula, exact), ``craft``
(CRAFT's per-example plus mean-similarity mix), ``mean`` (similarity to the mean example,
for document stores). ``rebase_plus`` takes free weights, incl. whole-row and source-fit terms and centring.
``search`` is the one-query quick look behind ``taskforge datastore search``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskforge._lazy import lazy_exports

# name -> its module; loaded on first use (taskforge._lazy), so importing one module of the
# package (a CLI command) does not import all of them
_EXPORTS = {
    "METHODS": "taskforge._retrieval._methods",
    "Queries": "taskforge._retrieval._methods",
    "Scored": "taskforge._retrieval._methods",
    "craft": "taskforge._retrieval._methods",
    "mean": "taskforge._retrieval._methods",
    "rebase": "taskforge._retrieval._methods",
    "rebase_plus": "taskforge._retrieval._methods",
    "rebase_tuned": "taskforge._retrieval._methods",
    "RetrievalResult": "taskforge._retrieval._retrieve",
    "embed_task": "taskforge._retrieval._retrieve",
    "example_keys": "taskforge._retrieval._retrieve",
    "retrieve": "taskforge._retrieval._retrieve",
    "StoreArrays": "taskforge._retrieval._scoring",
    "brute_force_rebase": "taskforge._retrieval._scoring",
    "rebase_components": "taskforge._retrieval._scoring",
    "row_max_scores": "taskforge._retrieval._scoring",
    "top_k": "taskforge._retrieval._scoring",
    "search": "taskforge._retrieval._search",
    "RetrieveSettings": "taskforge._settings",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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

if TYPE_CHECKING:
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
