"""``retrieve()``: the task in, the best rows (or documents) of a datastore out.

Embeds the task with the store's own model, scores every row with the chosen method
(one streamed pass over the vectors), then selects best first under exclusion, the
per-source cap and dedup, fetches the original rows and writes them in the contract format.
"""

from __future__ import annotations

import math
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
from taskforge._retrieval._coverage import confidence, content_coverage, low_confidence_warning
from taskforge._retrieval._documents import attach_passages, list_queries
from taskforge._retrieval._methods import METHODS, SELECTION, Queries, Scored
from taskforge._retrieval._output import quantile_table, source_table
from taskforge._retrieval._scoring import DEFAULT_BLOCK, StoreArrays
from taskforge._retrieval._select import MIN_EXAMPLE_CELL, LabelResolver, Selector, normalize
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
    unmatched_excludes: list[str] = field(default_factory=list)  # exclude patterns no source matched
    dropped: dict[str, int] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    out: Path | None = None
    warning: str | None = None
    confidence: float = float("nan")
    closest_sources: list[tuple[str, float]] = field(default_factory=list)
    coverage: dict[str, float] = field(default_factory=dict)
    labels: list[str | None] = field(default_factory=list)  # each item's own label, mapped (when resolved)
    label_notes: list[str] = field(default_factory=list)  # labels the store could not fill
    selection: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def per_label(self) -> dict[str, int]:
        """Items per mapped task label (rows whose own label maps onto none are not counted)."""
        return dict(Counter(lab for lab in self.labels if lab is not None).most_common())

    def print_summary(self) -> None:
        """Per-source table (with mapped labels), score quantiles and label shortfalls on stdout; warnings on stderr."""
        title = f"Retrieved {len(self.items):,} items ({self.method})"
        results.print(source_table(self.items, title, labels=self.labels or None))
        results.print(quantile_table(self.items))
        if self.labels:
            got = ", ".join(f"{k} {v}" for k, v in self.per_label.items()) or "none"
            results.print(f"mapped labels: {got} (unlabelled {sum(x is None for x in self.labels)})")
        for note in self.label_notes:
            console.print(f"[yellow]labels:[/] {note}")
        if self.dropped:
            results.print("dropped: " + ", ".join(f"{k} {v}" for k, v in self.dropped.items()))
        for pat in self.unmatched_excludes:
            console.print(
                f"[yellow]exclude_sources:[/] {pat!r} matches no source in this datastore, so it excluded nothing"
            )
        if self.warning:
            console.print(f"[bold yellow]warning:[/] {self.warning}")


def _open_datastore(datastore: Any) -> Any:
    if isinstance(datastore, (str, os.PathLike)):
        from taskforge._datastore import Datastore

        return Datastore.open(datastore)
    return datastore


_QUERY_CACHE: dict[tuple[str, str], np.ndarray] = {}  # (model, text) -> vector; tasks are re-queried


def _encode_cached(embedder: Encoder, texts: list[str]) -> np.ndarray:
    # the backend and precision are part of the key: an int8 vector is not a bf16 one
    name = f"{embedder.name}:{getattr(embedder, 'backend', '')}:{getattr(embedder, 'precision', '')}"
    todo = list(dict.fromkeys(t for t in texts if (name, t) not in _QUERY_CACHE))
    if todo:
        for t, v in zip(todo, np.asarray(embedder.encode(todo), dtype=np.float32), strict=True):
            _QUERY_CACHE[(name, t)] = v
    if len(_QUERY_CACHE) > 10_000:
        _QUERY_CACHE.clear()
        return np.asarray(embedder.encode(texts), dtype=np.float32)
    return np.stack([_QUERY_CACHE[(name, t)] for t in texts])


def input_parts(task: Task) -> tuple[list[str], list[list[str]]]:
    """Names and texts of each example input's parts ([P] names, [P][F] texts): named fields, or
    the labelled parts of one string (``Task.input_parts``); no parts when inputs are one part."""
    if task.named_inputs:
        fields = task.input_fields
        if len(fields) < 2:
            return [], []
        return fields, [[task.text_of(e.input.get(f)) for e in task.examples] for f in fields]  # type: ignore[union-attr]
    layout = task.input_parts()
    if layout is None:
        return [], []
    split = [layout.split(str(e.input)) or {} for e in task.examples]
    return list(layout.fields), [[s.get(f, "") for s in split] for f in layout.fields]


def embed_task(task: Task, embedder: Encoder) -> Queries:
    """The task's query vectors: instruction, each example's input, output, the whole example, and
    each input part (one batch of texts, cached per process).

    The whole example is its document when it has one (CRAFT embeds the few-shots' corpus
    texts), else input and output together (:meth:`Task.example_texts`).
    """
    ins, outs = task.input_texts(), task.output_texts()
    part_names, parts = input_parts(task)
    flat_parts = [t for p in parts for t in p]
    vecs = _encode_cached(embedder, [task.instruction, *ins, *outs, *task.example_texts(), *flat_parts])
    f = len(ins)
    chars = np.array([len(t) for t in ins], dtype=np.float32)
    part_vecs = vecs[1 + 3 * f :].reshape(len(parts), f, -1) if parts else None
    return Queries(
        vecs[0],
        vecs[1 : 1 + f],
        vecs[1 + f : 1 + 2 * f],
        vecs[1 + 2 * f : 1 + 3 * f],
        parts=part_vecs,
        input_chars=chars,
        output_chars=np.array([len(t) for t in outs], dtype=np.float32),
        part_chars=np.array([[len(t) for t in p] for p in parts], dtype=np.float32) if parts else None,
        input_name=task.input_fields[0] if task.named_inputs and len(task.input_fields) == 1 else None,
        output_name=task.output_fields[0] if task.named_outputs and len(task.output_fields) == 1 else None,
        part_names=tuple(part_names),
    )


def example_keys(task: Task) -> set[str]:
    """Texts a retrieved item must not repeat: each example's input, its long input fields, the whole,
    and the document it was written from."""
    keys: set[str] = set()
    for e in task.examples:
        keys.add(normalize(task.text_of(e.input)))
        keys.add(normalize(f"{task.text_of(e.input)}\n{task.text_of(e.output)}"))
        if isinstance(e.input, dict):
            keys.update(normalize(task.text_of(v)) for v in e.input.values())
        if e.document:  # a few-shot's own document is not retrieved back
            keys.add(normalize(e.document))
    return {k for k in keys if len(k) >= MIN_EXAMPLE_CELL}


SELECTION_KEYS = ("max_source_share", "share_margin", "label_share", "label_bonus", "label_reach")


def selection_settings(settings: RetrieveSettings) -> dict[str, Any]:
    """The selection settings in effect: those given, else the method's own (:data:`SELECTION`),
    else off (no source share, no label quotas; margins and reach unbounded)."""
    own = SELECTION.get(settings.method, {})
    out = {
        k: getattr(settings, k) if getattr(settings, k) is not None else own.get(k) for k in SELECTION_KEYS
    }
    for key in ("share_margin", "label_reach"):
        if out[key] is None:
            out[key] = math.inf
    out["label_depth"] = settings.label_depth
    return out


def retrieve(
    task: Task | str | os.PathLike[str],
    datastore: Any,
    *,
    settings: RetrieveSettings | None = None,
    out: str | os.PathLike[str] | None = None,
    labels_of: LabelResolver | None = None,
    check_exact: bool = False,
    block: int = DEFAULT_BLOCK,
    show: bool | None = None,
    **overrides: Any,
) -> RetrievalResult:
    """Retrieve the ``n`` best rows/documents for ``task`` from ``datastore`` (a Datastore or its path).

    ``settings`` (:class:`~taskforge.RetrieveSettings`; default: the task's ``defaults.retrieve``)
    or keyword ``overrides`` of it: ``n``, ``method`` (one of :data:`METHODS`; "rebase" is the
    paper's exact formula), ``per_source_cap``, ``index`` ("exact": every vector scored; "ann":
    the store's ANN index proposes candidate rows, which are re-scored exactly), ``executor``
    ("ray": exact scoring of source shards as Ray tasks, ``address`` the cluster). Sources matched
    by ``task.exclude_sources`` are never scored into any list. ``out``: .jsonl or .parquet.
    With ``check_exact`` an ANN run also runs the exact search and reports the overlap of the
    two top-N in ``result.search["overlap_exact"]``.
    Selection (:func:`selection_settings`): past ``max_source_share`` of n, a source's rows
    compete with a handicap of ``share_margin`` times the spread of the top n scores (best minus
    n-th best); each of the task's labels (``Task.labels()``) first gets ``label_share`` of n from
    rows whose own label ``labels_of`` maps onto it (a resolver such as the transform stage's
    ``Mapper``) scoring at least the n-th best minus ``label_reach`` spreads, and such rows get
    ``label_bonus`` spreads in the rest of the fill.
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
    if settings.index == "ann" and settings.executor == "ray":
        raise SettingsError(
            "retrieve: --executor ray scores every vector; it does not combine with --index ann"
        )
    if settings.index == "ann":
        from taskforge._retrieval._ann import ann_scored

        # the index's own similarity error, measured when it was built (IVF-PQ's is larger)
        margin = float((getattr(ds, "manifest", {}).get("ann") or {}).get("margin", 0.02))
        scored, search = ann_scored(
            method_, METHODS[method_], store, queries, n_, row_ok, ds.index("ann"), margin=margin
        )
    elif settings.executor == "ray":
        from taskforge._retrieval._ray import ray_scored

        scored = ray_scored(ds, store, method_, queries, n_, block, address=settings.address)
    else:
        scored = METHODS[method_](store, queries, n_, block)
    t_score = time.perf_counter()

    cfg = selection_settings(settings)
    labels = task.labels() if labels_of is not None and cfg["label_share"] else None

    def select(sc: Scored, picked_by: dict[int, str]) -> Selector:
        """Label quotas first (tasks with labels), then the method's lists in order;
        ``picked_by``: row -> the list that took it (CRAFT: "example 3", "mean")."""
        top, nth = score_span(sc.components["final"], row_ok, n_)
        sel = Selector(
            n=n_,
            row_source=store.row_source,
            row_ok=row_ok,
            fetch=lambda rows: ds.get_rows(np.asarray(rows, dtype=np.int64)),
            per_source_cap=settings.per_source_cap,
            banned_keys=example_keys(task),
            max_source_share=cfg["max_source_share"],
            share_margin=spreads(cfg["share_margin"], top - nth),
            label_bonus=spreads(cfg["label_bonus"] or 0.0, top - nth),
        )
        if labels:
            per_label = math.ceil(float(cfg["label_share"]) * n_)
            floor = nth - spreads(cfg["label_reach"], top - nth)
            depth = int(cfg["label_depth"]) * n_
            sel.fill_labels(sc.components["final"], labels_of, labels, per_label, depth, floor)  # type: ignore[arg-type]
        for k, (scores, quota) in enumerate(sc.lists):
            before = len(sel.taken)
            sel.fill(scores, quota, count_taken=sc.quota_counts_taken and quota is not None)
            if k < len(sc.names):
                picked_by.update(dict.fromkeys(list(sel.taken)[before:], sc.names[k]))
        if labels_of is not None and task.labels():
            sel.resolve_labels(labels_of)
        return sel

    picked_by: dict[int, str] = {}
    sel = select(scored, picked_by)
    items = _to_items(sel.taken, scored, method_, names, store.row_source, picked_by)
    if getattr(ds, "kind", "rows") == "documents":
        queries_by_list = list_queries(method_, queries, scored.names)
        attach_passages(items, ds, store.vectors, store.vector_row, queries_by_list)
    t_select = time.perf_counter()
    if check_exact and settings.index == "ann":
        exact_scored = METHODS[method_](store, queries, n_, block)
        exact = select(exact_scored, {})
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
        unmatched_excludes=task.unmatched_excludes(names),
        dropped=dict(sel.dropped),
        search={"index": settings.index, **search},
        seconds={
            "embed": t_embed - t0,
            "score": t_score - t_embed,
            "select": t_select - t_score,
        },
        selection=cfg,
    )
    if sel.labels:
        result.labels = [sel.labels.get(int(it["global_row"])) for it in items]
    if sel.label_report is not None:
        result.label_notes = sel.label_report.shortfalls()
    elif labels_of is None and task.labels() and cfg["label_share"]:
        result.label_notes = ["no label resolver given: per-label quotas were not applied"]
    result.confidence, result.closest_sources = confidence(scored, queries, store, row_ok, names)
    ann_index = ds.index("ann") if settings.index == "ann" else None
    result.coverage = content_coverage(store, queries, row_ok, block=block, index=ann_index)
    result.warning = low_confidence_warning(result.confidence, result.closest_sources, result.coverage)
    if out is not None:
        result.out = write_items(out, items)
    result.seconds["total"] = time.perf_counter() - t0
    if show if show is not None else os.environ.get("TASKFORGE_QUIET") != "1":
        result.print_summary()
    return result


def spreads(value: float, spread: float) -> float:
    """``value`` spreads of the top n's scores (``inf`` stays unbounded, even when all tie)."""
    return math.inf if math.isinf(value) else float(value) * spread


def score_span(final: np.ndarray, row_ok: np.ndarray, n: int) -> tuple[float, float]:
    """The best and the n-th best allowed score. Their difference is the unit of ``share_margin``
    and ``label_reach`` (score scales differ from task to task)."""
    allowed = final[row_ok & np.isfinite(final)]
    if not len(allowed):
        return 0.0, 0.0
    k = min(n, len(allowed)) - 1
    top = -np.partition(-allowed, k)[: k + 1]
    return float(top.max()), float(top.min())


def _to_items(
    taken: dict[int, dict[str, Any]],
    scored: Scored,
    method: str,
    names: list[str],
    row_source: np.ndarray,
    picked_by: dict[int, str] | None = None,
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
        if picked_by and r in picked_by:
            rec["picked_by"] = picked_by[r]
        items.append(rec)
    return items
