"""``retrieve()``: the task in, the best rows (or documents) of a datastore out.

Embeds the task with the store's own model, scores every row with the chosen method
(one streamed pass over the vectors), then selects best first under exclusion, the
per-source cap and dedup, fetches the original rows and writes them in the contract format.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from taskforge._console import console, results
from taskforge._embed import Encoder
from taskforge._errors import SettingsError
from taskforge._records import Item, write_items
from taskforge._retrieval._methods import METHODS, Queries, Scored
from taskforge._retrieval._output import quantile_table, source_table
from taskforge._retrieval._scoring import DEFAULT_BLOCK, StoreArrays
from taskforge._retrieval._select import MIN_EXAMPLE_CELL, Selector, normalize
from taskforge._settings import RetrieveSettings
from taskforge._task import Task


@dataclass
class RetrievalResult:
    """What ``retrieve`` found: the items (architecture.md format, best first) and a summary."""

    items: list[Item]
    method: str
    n_requested: int
    per_source: dict[str, int]
    excluded_sources: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    out: Path | None = None
    warning: str | None = None
    confidence: float = float("nan")
    closest_sources: list[tuple[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def print_summary(self) -> None:
        """Per-source table and score quantiles on stdout; any warning on stderr."""
        results.print(source_table(self.items, f"Retrieved {len(self.items):,} items ({self.method})"))
        results.print(quantile_table(self.items))
        if self.dropped:
            results.print("dropped: " + ", ".join(f"{k} {v}" for k, v in self.dropped.items()))
        if self.warning:
            console.print(f"[bold yellow]warning:[/] {self.warning}")


def _open_datastore(datastore: Any) -> Any:
    if isinstance(datastore, (str, os.PathLike)):
        from taskforge._datastore import Datastore

        return Datastore.open(datastore)
    return datastore


_QUERY_CACHE: dict[tuple[str, str], np.ndarray] = {}  # (model, text) -> vector; tasks are re-queried


def _encode_cached(embedder: Encoder, texts: list[str]) -> np.ndarray:
    name = embedder.name
    todo = list(dict.fromkeys(t for t in texts if (name, t) not in _QUERY_CACHE))
    if todo:
        for t, v in zip(todo, np.asarray(embedder.encode(todo), dtype=np.float32), strict=True):
            _QUERY_CACHE[(name, t)] = v
    if len(_QUERY_CACHE) > 10_000:
        _QUERY_CACHE.clear()
        return np.asarray(embedder.encode(texts), dtype=np.float32)
    return np.stack([_QUERY_CACHE[(name, t)] for t in texts])


def embed_task(task: Task, embedder: Encoder) -> Queries:
    """The task's query vectors: instruction, each example's input, output, and both together."""
    ins, outs = task.input_texts(), task.output_texts()
    whole = [f"{i}\n{o}" for i, o in zip(ins, outs, strict=True)]
    vecs = _encode_cached(embedder, [task.instruction, *ins, *outs, *whole])
    f = len(ins)
    return Queries(vecs[0], vecs[1 : 1 + f], vecs[1 + f : 1 + 2 * f], vecs[1 + 2 * f :])


def example_keys(task: Task) -> set[str]:
    """Texts a retrieved item must not repeat: each example's input, its long input fields, the whole."""
    keys: set[str] = set()
    for e in task.examples:
        keys.add(normalize(task.text_of(e.input)))
        keys.add(normalize(f"{task.text_of(e.input)}\n{task.text_of(e.output)}"))
        if isinstance(e.input, dict):
            keys.update(normalize(task.text_of(v)) for v in e.input.values())
    return {k for k in keys if len(k) >= MIN_EXAMPLE_CELL}


def retrieve(
    task: Task | str | os.PathLike[str],
    datastore: Any,
    *,
    settings: RetrieveSettings | None = None,
    out: str | os.PathLike[str] | None = None,
    check_exact: bool = False,
    block: int = DEFAULT_BLOCK,
    show: bool | None = None,
    **overrides: Any,
) -> RetrievalResult:
    """Retrieve the ``n`` best rows/documents for ``task`` from ``datastore`` (a Datastore or its path).

    ``settings`` (:class:`~taskforge.RetrieveSettings`; default: the task's ``defaults.retrieve``)
    or keyword ``overrides`` of it: ``n``, ``method`` (one of :data:`METHODS`; "rebase" is the
    paper's exact formula), ``per_source_cap``, ``index`` ("exact": every vector scored; "ann":
    the store's ANN index proposes candidate rows, which are re-scored exactly). Sources matched
    by ``task.exclude_sources`` are never scored into any list. ``out``: .jsonl or .parquet.
    With ``check_exact`` an ANN run also runs the exact search and reports the overlap of the
    two top-N in ``result.search["overlap_exact"]``.
    """
    t0 = time.perf_counter()
    if not isinstance(task, Task):
        task = Task.load(task)
    if settings is None:
        settings = RetrieveSettings.for_task(task, overrides)
    elif overrides:
        settings = RetrieveSettings.build(settings, overrides)
    n_, method_ = settings.n, settings.method
    if method_ not in METHODS:
        raise SettingsError(
            f"retrieve.method: unknown {method_!r}; choose one of {', '.join(sorted(METHODS))}"
        )
    ds = _open_datastore(datastore)

    queries = embed_task(task, ds.embedder())
    t_embed = time.perf_counter()
    store = StoreArrays.from_datastore(ds)
    names = [s.name for s in ds.sources]
    excluded = np.array([task.is_excluded(s) for s in names], dtype=bool)
    row_ok = ~excluded[store.row_source]
    search: dict[str, float] = {}
    if settings.index == "ann":
        from taskforge._retrieval._ann import ann_scored

        scored, search = ann_scored(method_, METHODS[method_], store, queries, n_, row_ok, ds.index("ann"))
    else:
        scored = METHODS[method_](store, queries, n_, block)
    t_score = time.perf_counter()

    def select(sc: Scored) -> Selector:
        sel = Selector(
            n=n_,
            row_source=store.row_source,
            row_ok=row_ok,
            fetch=lambda rows: ds.get_rows(np.asarray(rows, dtype=np.int64)),
            per_source_cap=settings.per_source_cap,
            banned_keys=example_keys(task),
        )
        for scores, quota in sc.lists:
            sel.fill(scores, quota)
        return sel

    sel = select(scored)
    items = _to_items(sel.taken, scored, method_, names, store.row_source)
    t_select = time.perf_counter()
    if check_exact and settings.index == "ann":
        exact_scored = METHODS[method_](store, queries, n_, block)
        exact = select(exact_scored)
        search["overlap_exact"] = len(set(exact.taken) & set(sel.taken)) / max(1, len(exact.taken))
        # ties at the boundary (rows with equal scores) may be taken in either run: count an ANN
        # item as right when its exact score reaches the exact run's last selected score
        ef = exact_scored.components["final"]
        floor = min((float(ef[r]) for r in exact.taken), default=float("inf"))
        right = sum(float(ef[r]) >= floor - 1e-6 for r in sel.taken)
        search["overlap_exact_ties"] = right / max(1, len(sel.taken))

    result = RetrievalResult(
        items=items,
        method=method_,
        n_requested=n_,
        per_source=dict(Counter(it["source"] for it in items).most_common()),
        excluded_sources=[s for s, x in zip(names, excluded, strict=True) if x],
        dropped=dict(sel.dropped),
        search={"index": settings.index, **search},
        seconds={
            "embed": t_embed - t0,
            "score": t_score - t_embed,
            "select": t_select - t_score,
        },
    )
    result.confidence, result.closest_sources = confidence(scored, queries, store, row_ok, names)
    result.warning = low_confidence_warning(result.confidence, result.closest_sources)
    if out is not None:
        result.out = write_items(out, items)
    result.seconds["total"] = time.perf_counter() - t0
    if show if show is not None else os.environ.get("TASKFORGE_QUIET") != "1":
        result.print_summary()
    return result


# Below this best cosine between the instruction and any allowed source's description, the
# store has nothing like the task. Calibrated on benchmarks/retrieval_quality.py: the far tasks
# (chess openings, protein locations) reach 0.19 / 0.21, the nine real tasks 0.24 to 0.56.
# Row scores do not separate them (digit-heavy chess moves look like math rows to MiniLM).
WARN_BELOW = 0.225


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


def low_confidence_warning(conf: float, closest: list[tuple[str, float]]) -> str | None:
    """A plain message when nothing in the store looks like the task, else None."""
    if conf >= WARN_BELOW:
        return None
    near = ", ".join(f"{name} ({score:.2f})" for name, score in closest) or "none"
    return (
        f"nothing in this datastore looks like this task: no source description resembles the "
        f"instruction (best cosine {conf:.2f}, below {WARN_BELOW}), so the items are the least bad "
        f"matches among unrelated material. Closest sources by best row: {near}. "
        "Add a source that covers the task, or check the instruction and examples."
    )


def _to_items(
    taken: dict[int, dict[str, Any]], scored: Scored, method: str, names: list[str], row_source: np.ndarray
) -> list[dict[str, Any]]:
    """Contract records, ranked by the final score (ties: lower global row first)."""
    final = scored.components["final"]
    rows = sorted(taken, key=lambda r: (-float(final[r]), r))
    items = []
    for rank, r in enumerate(rows, 1):
        got = taken[r]
        rec: dict[str, Any] = {
            "rank": rank,
            "source": got.get("source", names[int(row_source[r])]),
            "row_id": got.get("row_id"),
            "global_row": int(r),
            "row": got.get("row"),
            "cells": got.get("cells"),
        }
        if got.get("text") is not None:
            rec["text"] = got["text"]
        rec["scores"] = {k: round(float(v[r]), 6) for k, v in scored.components.items()}
        rec["method"] = method
        items.append(rec)
    return items
