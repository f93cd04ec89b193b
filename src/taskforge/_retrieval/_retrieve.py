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

from taskforge._console import console
from taskforge._retrieval._methods import METHODS, Queries, Scored
from taskforge._retrieval._output import quantile_table, source_table, write_items
from taskforge._retrieval._scoring import DEFAULT_BLOCK, StoreArrays
from taskforge._retrieval._select import MIN_EXAMPLE_CELL, Selector, normalize
from taskforge._task import Task

DEFAULTS: dict[str, Any] = {"n": 1000, "method": "rebase", "per_source_cap": None}


@dataclass
class RetrievalResult:
    """What ``retrieve`` found: the items (architecture.md format, best first) and a summary."""

    items: list[dict[str, Any]]
    method: str
    n_requested: int
    per_source: dict[str, int]
    excluded_sources: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    out: Path | None = None
    warning: str | None = None
    closest_sources: list[tuple[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def print_summary(self) -> None:
        """Per-source table, score quantiles and any warning, on the shared console."""
        console.print(source_table(self.items, f"Retrieved {len(self.items):,} items ({self.method})"))
        console.print(quantile_table(self.items))
        if self.dropped:
            console.print("dropped: " + ", ".join(f"{k} {v}" for k, v in self.dropped.items()))
        if self.warning:
            console.print(f"[bold yellow]warning:[/] {self.warning}")


def _open_datastore(datastore: Any) -> Any:
    if isinstance(datastore, (str, os.PathLike)):
        from taskforge._datastore import Datastore

        return Datastore.open(datastore)
    return datastore


def embed_task(task: Task, embedder: Any) -> Queries:
    """The task's query vectors: instruction, each example's input, output, and both together."""
    ins, outs = task.input_texts(), task.output_texts()
    whole = [f"{i}\n{o}" for i, o in zip(ins, outs, strict=True)]
    vecs = np.asarray(embedder.encode([task.instruction, *ins, *outs, *whole]), dtype=np.float32)
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


def resolve_settings(task: Task, **given: Any) -> dict[str, Any]:
    """Flags (not None) over the task's ``defaults.retrieve`` over the built-in defaults."""
    out = {**DEFAULTS, **task.stage_defaults("retrieve")}
    out.update({k: v for k, v in given.items() if v is not None})
    return out


def retrieve(
    task: Task | str | os.PathLike[str],
    datastore: Any,
    *,
    n: int | None = None,
    method: str | None = None,
    out: str | os.PathLike[str] | None = None,
    per_source_cap: int | None = None,
    block: int = DEFAULT_BLOCK,
    show: bool | None = None,
) -> RetrievalResult:
    """Retrieve the ``n`` best rows/documents for ``task`` from ``datastore`` (a Datastore or its path).

    ``method``: one of :data:`METHODS` ("rebase" is the paper's exact formula). Sources matched
    by ``task.exclude_sources`` are never scored into any list. ``out``: .jsonl or .parquet.
    Unset arguments fall back to ``task.defaults.retrieve``, then to :data:`DEFAULTS`.
    """
    t0 = time.perf_counter()
    if not isinstance(task, Task):
        task = Task.load(task)
    ds = _open_datastore(datastore)
    cfg = resolve_settings(task, n=n, method=method, per_source_cap=per_source_cap)
    n_, method_ = int(cfg["n"]), str(cfg["method"])
    if method_ not in METHODS:
        raise ValueError(f"method: unknown {method_!r}; choose one of {sorted(METHODS)}")
    if n_ < 1:
        raise ValueError(f"n: must be at least 1, got {n_}")

    queries = embed_task(task, ds.embedder())
    t_embed = time.perf_counter()
    store = StoreArrays.from_datastore(ds)
    names = [s.name for s in ds.sources]
    excluded = np.array([task.is_excluded(s) for s in names], dtype=bool)
    scored: Scored = METHODS[method_](store, queries, n_, block)
    t_score = time.perf_counter()

    sel = Selector(
        n=n_,
        row_source=store.row_source,
        row_ok=~excluded[store.row_source],
        fetch=lambda rows: ds.get_rows(np.asarray(rows, dtype=np.int64)),
        per_source_cap=cfg["per_source_cap"],
        banned_keys=example_keys(task),
    )
    for scores, quota in scored.lists:
        sel.fill(scores, quota)
    items = _to_items(sel.taken, scored, method_, names, store.row_source)
    t_select = time.perf_counter()

    result = RetrievalResult(
        items=items,
        method=method_,
        n_requested=n_,
        per_source=dict(Counter(it["source"] for it in items).most_common()),
        excluded_sources=[s for s, x in zip(names, excluded, strict=True) if x],
        dropped=dict(sel.dropped),
        seconds={
            "embed": t_embed - t0,
            "score": t_score - t_embed,
            "select": t_select - t_score,
        },
    )
    if out is not None:
        result.out = write_items(out, items)
    result.seconds["total"] = time.perf_counter() - t0
    if show if show is not None else os.environ.get("TASKFORGE_QUIET") != "1":
        result.print_summary()
    return result


def _to_items(
    taken: dict[int, dict[str, Any]], scored: Scored, method: str, names: list[str], row_source: np.ndarray
) -> list[dict[str, Any]]:
    """Contract records, ranked by the final score (ties keep selection order)."""
    final = scored.components["final"]
    rows = sorted(taken, key=lambda r: -float(final[r]))
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
