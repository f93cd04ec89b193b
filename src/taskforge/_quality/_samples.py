"""Quality-control views of samples: the examples in sample shape, and the exact-duplicate key.

The record format itself (text views, labels, rejects, readers) lives in :mod:`taskforge._records`.
"""

from __future__ import annotations

import re
import unicodedata

from taskforge._records import Sample
from taskforge._task import Task

_SPACES = re.compile(r"\s+")


def example_samples(task: Task) -> list[Sample]:
    """The task's few-shot examples in sample shape."""
    return [{"input": e.input, "output": e.output} for e in task.examples]  # type: ignore[typeddict-item]


def normalise(text: str) -> str:
    """Exact-duplicate key: NFKC, case-folded, whitespace collapsed (punctuation kept: 1.5 != 15)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
