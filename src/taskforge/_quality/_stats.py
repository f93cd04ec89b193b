"""Dataset statistics: size, provenance, labels, field lengths and ReBase's diversity metrics."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from taskforge._quality._diversity import ngram_diversity, rouge_l_uniqueness, rouge_tokenize
from taskforge._records import Sample, label_of, provenance, sample_text
from taskforge._task import SINGLE_INPUT, SINGLE_OUTPUT, Task


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0}
    arr = np.asarray(values)
    return {
        "min": int(arr.min()),
        "mean": round(float(arr.mean()), 2),
        "median": float(np.median(arr)),
        "p95": float(np.percentile(arr, 95)),
        "max": int(arr.max()),
    }


def _field_values(sample: Sample) -> Iterable[tuple[str, Any]]:
    for part, single in (("input", SINGLE_INPUT), ("output", SINGLE_OUTPUT)):
        value = sample.get(part)
        if isinstance(value, dict):
            for k, v in value.items():
                yield f"{part}.{k}", v
        elif value is not None:
            yield single, value
    if sample.get("reasoning"):
        yield "reasoning", sample["reasoning"]


def _labels(task: Task | None, samples: list[Sample]) -> dict[str, int] | None:
    labels = [label_of(task, s.get("output")) for s in samples]
    no_schema = task is None or task.label_field() is None
    # without a labelled schema field: only when every output looks like a label and few are distinct
    if no_schema and (not samples or any(lab is None for lab in labels) or len(set(labels)) > 50):
        return None
    counts = Counter(lab for lab in labels if lab is not None)
    return dict(counts.most_common())


def dataset_stats(
    task: Task | None,
    samples: Iterable[Sample],
    *,
    diversity: bool = True,
    rouge_threshold: float = 0.7,
    workers: int = 2,
) -> dict[str, Any]:
    """Statistics of a dataset (samples in the documented format); JSON-able.

    Diversity is measured on each sample's input+output text (what the model trains on),
    with rouge-score's tokenisation for ROUGE-L uniqueness and the n-gram counts.
    """
    items = list(samples)
    sources = Counter(str(provenance(s).get("source") or "(unknown)") for s in items)
    methods = Counter(str(provenance(s).get("method") or "(unknown)") for s in items)
    chars: dict[str, list[int]] = {}
    tokens: dict[str, list[int]] = {}
    for s in items:
        for name, value in _field_values(s):
            text = Task.text_of(value)
            chars.setdefault(name, []).append(len(text))
            tokens.setdefault(name, []).append(len(rouge_tokenize(text)))
    stats: dict[str, Any] = {
        "size": len(items),
        "sources": dict(sources.most_common()),
        "methods": dict(methods.most_common()),
        "labels": _labels(task, items),
        "fields": {
            name: {"chars": _summary(chars[name]), "tokens": _summary(tokens[name])} for name in chars
        },
    }
    if task is not None:
        stats["task"] = task.name
    if diversity:
        texts = [sample_text(s) for s in items]
        t0 = time.perf_counter()
        uniq = rouge_l_uniqueness(texts, rouge_threshold, workers=workers)
        stats["diversity"] = {
            "text": "input+output",
            "rouge_l_threshold": rouge_threshold,
            "unique_share": round(uniq.unique_share, 6),
            "unique_count": int(uniq.unique.sum()),
            **{k: round(v, 4) for k, v in ngram_diversity(texts).items()},
            "parts": part_uniqueness(
                items, rouge_threshold, labels=stats["labels"] is not None, workers=workers
            ),
            "seconds": round(time.perf_counter() - t0, 3),
        }
    return stats


def part_uniqueness(
    samples: list[Sample], rouge_threshold: float, *, labels: bool, workers: int = 2
) -> dict[str, dict[str, Any]]:
    """Uniqueness of the inputs, of each named input field and of the outputs, separately.

    One figure over input+output hides why it is low: SNLI reuses each premise for three
    hypotheses, so every sample shares its premise with two others. Per part: ``distinct``
    (exact texts) and ``unique_share`` (ROUGE-L < threshold with every other text of that
    part); label outputs get only ``distinct`` (labels repeat by design).
    """
    parts: dict[str, list[str]] = {"input": [Task.text_of(s.get("input")) for s in samples]}
    fields = sorted({k for s in samples if isinstance(s.get("input"), dict) for k in s["input"]})
    if len(fields) > 1:
        for name in fields:
            parts[f"input.{name}"] = [Task.text_of((s.get("input") or {}).get(name)) for s in samples]
    parts["output"] = [Task.text_of(s.get("output")) for s in samples]
    out: dict[str, dict[str, Any]] = {}
    for part, texts in parts.items():
        entry: dict[str, Any] = {"distinct": len({" ".join(t.split()).lower() for t in texts})}
        if not (part == "output" and labels):
            uniq = rouge_l_uniqueness(texts, rouge_threshold, workers=workers)
            entry["unique_share"] = round(uniq.unique_share, 6)
        out[part] = entry
    return out


def stats_rows(stats: dict[str, Any]) -> list[tuple[str, Any]]:
    """Key figures for the console table."""
    rows: list[tuple[str, Any]] = [("samples", stats["size"]), ("sources", len(stats["sources"]))]
    if stats.get("labels"):
        rows += [(f"label {k}", v) for k, v in stats["labels"].items()]
    for name, f in stats["fields"].items():
        rows.append((f"{name} tokens (mean)", f["tokens"]["mean"]))
    div = stats.get("diversity")
    if div:
        rows += [
            (f"unique share (ROUGE-L < {div['rouge_l_threshold']})", div["unique_share"]),
            ("avg unique unigrams / sample", div["avg_unique_unigrams"]),
            ("avg unique bigrams / sample", div["avg_unique_bigrams"]),
        ]
    return rows
