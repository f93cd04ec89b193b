"""Text views of a sample (docs/architecture.md "Samples") shared by filters, stats and export."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from taskforge._io import read_jsonl
from taskforge._task import Task

Sample = dict[str, Any]
_SPACES = re.compile(r"\s+")


def input_text(sample: Sample) -> str:
    return Task.text_of(sample.get("input"))


def output_text(sample: Sample) -> str:
    return Task.text_of(sample.get("output"))


def sample_text(sample: Sample) -> str:
    """Input and output as one text: what dedup, diversity and few-shot similarity compare."""
    return input_text(sample) + "\n" + output_text(sample)


def example_samples(task: Task) -> list[Sample]:
    """The task's few-shot examples in sample shape."""
    return [{"input": e.input, "output": e.output} for e in task.examples]


def normalise(text: str) -> str:
    """Exact-duplicate key: NFKC, case-folded, whitespace collapsed (punctuation kept: 1.5 != 15)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def provenance(sample: Sample) -> dict[str, Any]:
    prov = sample.get("provenance")
    return prov if isinstance(prov, dict) else {}


def label_of(task: Task | None, sample: Sample) -> str | None:
    """The sample's label: the schema's labelled output field, else a single short output."""
    out = sample.get("output")
    field = task.label_field() if task is not None else None
    if field is not None:
        val = out.get(field) if isinstance(out, dict) else out
        return None if val is None else str(val)
    if isinstance(out, dict) and len(out) == 1:
        out = next(iter(out.values()))
    if isinstance(out, str) and len(out) <= 40 and "\n" not in out:
        return out
    return None


def reject_record(filter_name: str, reason: str, sample: Sample, raw: str | None = None) -> dict[str, Any]:
    """A rejects.jsonl line in the documented format."""
    prov = provenance(sample)
    return {
        "stage": "filter",
        "filter": filter_name,
        "reason": reason,
        "item": {"source": prov.get("source"), "row_id": prov.get("row_id")},
        "sample": sample,
        "raw": raw,
    }


def load_samples(path: str | Path) -> list[Sample]:
    """Samples from a JSONL file, or from a run's ``kept.jsonl`` when given its directory."""
    path = Path(path)
    if path.is_dir():
        for name in ("kept.jsonl", "samples.jsonl", "data.jsonl"):
            if (path / name).exists():
                path = path / name
                break
        else:
            raise FileNotFoundError(f"{path}: no kept.jsonl, samples.jsonl or data.jsonl in this folder")
    return list(read_jsonl(path))


def texts(samples: Iterable[Sample]) -> list[str]:
    return [sample_text(s) for s in samples]
