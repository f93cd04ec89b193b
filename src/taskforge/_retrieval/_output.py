"""The summary tables of a retrieval (items are read and written by :mod:`taskforge._records`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.table import Table

from taskforge._console import summary_table


def source_table(
    items: Sequence[dict[str, Any]],
    title: str = "Retrieved per source",
    labels: Sequence[str | None] | None = None,
) -> Table:
    """Count per source with the share, the final-score range and (given) the mapped labels."""
    counts = Counter(it["source"] for it in items)
    finals: dict[str, list[float]] = {}
    by_label: dict[str, Counter[str]] = {}
    for k, it in enumerate(items):
        finals.setdefault(it["source"], []).append(float(it["scores"]["final"]))
        if labels is not None:
            by_label.setdefault(it["source"], Counter())[labels[k] or "-"] += 1
    total = max(1, len(items))
    rows = []
    for src, c in counts.most_common():
        row: list[Any] = [src, c, f"{100 * c / total:.1f}%", max(finals[src]), min(finals[src])]
        if labels is not None:
            row.append(", ".join(f"{lab} {m}" for lab, m in by_label[src].most_common()))
        rows.append(tuple(row))
    header = ["source", "items", "share", "best", "worst"] + (
        ["labels (mapped)"] if labels is not None else []
    )
    return summary_table(title, header, rows)


def quantile_table(items: Sequence[dict[str, Any]], title: str = "Score quantiles") -> Table:
    """Quantiles of each score component over the retrieved items."""
    if not items:
        return summary_table(title, ["score"], [])
    qs = (0.0, 0.25, 0.5, 0.75, 1.0)
    comps = list(items[0]["scores"])
    rows = []
    for c in comps:
        vals = np.array([float(it["scores"][c]) for it in items])
        rows.append((c, *[float(v) for v in np.quantile(vals, qs)]))
    return summary_table(title, ["score", "min", "p25", "median", "p75", "max"], rows)
