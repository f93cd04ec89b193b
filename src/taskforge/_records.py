"""The records that pass between stages (docs/architecture.md): Item, Sample, Reject.

Records stay plain JSON dicts on purpose (they stream to and from JSONL with no conversion,
and every stage reads them as such); these ``TypedDict`` types name their fields for readers
and type checkers. This module is the one place that reads and writes them, flattens an
input/output value to text (:func:`text_of`), finds a sample's label (:func:`label_of`),
makes a sample id (:func:`sample_id`) and builds a reject record (:func:`make_reject`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from typing_extensions import NotRequired

from taskforge._errors import InputError
from taskforge._io import atomic_open, read_jsonl, stable_hash, write_jsonl

if TYPE_CHECKING:
    from taskforge._task import Task

PathLike = str | os.PathLike[str]
MAX_LABEL_CHARS = 40  # without a labelled schema field, a longer (or multi-line) output is text, not a label


class Item(TypedDict):
    """A retrieved row or document (retrieve -> transform), best first."""

    rank: int
    source: str
    row_id: str
    global_row: NotRequired[int]
    row: Any  # the original record
    cells: dict[str, str]  # flattened column -> text
    text: NotRequired[str]  # document text (document stores)
    passage: NotRequired[dict[str, Any]]  # document stores: the passage that matched {index, of, text, score}
    picked_by: NotRequired[str]  # CRAFT: the list that took it ("example 3", "mean")
    scores: dict[str, float]
    method: str


class Provenance(TypedDict):
    source: str | None
    row_id: str | None
    rank: int | None
    scores: dict[str, float]
    method: str  # "mapper" | "llm"
    model: str | None
    prompt_hash: str | None
    sample_index: int
    repaired: NotRequired[bool]
    unwrapped: NotRequired[dict[str, Any]]  # mapper: {"wrappers": {column: template}, "raw": {column: text}}
    passage: NotRequired[dict[str, Any]]  # documents: {index, of, score} of the passage that matched
    picked_by: NotRequired[str]


class Sample(TypedDict):
    """A task sample (transform -> filter -> export): the same shape as the task's examples."""

    id: str
    input: str | dict[str, Any]
    output: str | dict[str, Any]
    reasoning: NotRequired[str]
    provenance: Provenance


class ItemRef(TypedDict, total=False):
    source: str | None
    row_id: str | None
    rank: int
    sample_index: int


class Reject(TypedDict):
    """A dropped item or sample (any stage), with the filter that dropped it and why."""

    stage: str  # "transform" | "filter"
    filter: str  # "json_parse_error", "near_duplicate", ...
    reason: str
    item: ItemRef
    sample: Sample | None
    raw: str | None


# ---- text and labels ---------------------------------------------------------------------------
def text_of(value: Any) -> str:
    """Flatten an input/output value to one text (named fields as ``name: value`` lines)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return "\n".join(f"{k}: {text_of(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(text_of(v) for v in value)
    return str(value)


def input_text(sample: Mapping[str, Any]) -> str:
    return text_of(sample.get("input"))


def output_text(sample: Mapping[str, Any]) -> str:
    return text_of(sample.get("output"))


def sample_text(sample: Mapping[str, Any]) -> str:
    """Input and output as one text: what dedup, diversity and few-shot similarity compare."""
    return input_text(sample) + "\n" + output_text(sample)


def label_text(value: Any) -> str:
    """A label value as text: booleans as yes/no, strings stripped."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def label_of(task: Task | None, output: Any) -> str | None:
    """The label of an output value (a sample's or an example's ``output``), or None.

    With a labelled field in the task's ``output_schema``: that field's value. Without one:
    the single output value when it is short and on one line (``"yes"``), else None (the
    output is text, not a label). A list gives its first element.
    """
    field = task.label_field() if task is not None else None
    if field is not None:
        value = output.get(field) if isinstance(output, dict) else output
    elif isinstance(output, dict):
        if len(output) != 1:
            return None
        value = next(iter(output.values()))
    else:
        value = output
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    text = label_text(value)
    if field is None and (len(text) > MAX_LABEL_CHARS or "\n" in text or not text):
        return None
    return text


def provenance(sample: Mapping[str, Any]) -> dict[str, Any]:
    prov = sample.get("provenance")
    return prov if isinstance(prov, dict) else {}


# ---- ids and rejects ---------------------------------------------------------------------------
def sample_id(item: Mapping[str, Any], sample_index: int, method: str) -> str:
    """Stable id of a sample: a hash of (source, row_id, sample_index, method)."""
    return "s-" + stable_hash([item.get("source"), item.get("row_id"), sample_index, method])


def nothing_made_message(
    lead: str,
    n_in: int,
    rejects_by_reason: Mapping[str, int],
    advice: Mapping[str, str],
    rejects_path: str | Path | None = None,
) -> str:
    """One line for a stage that made nothing: the top reject reason, what to do, where the rejects are.

    ``lead`` starts the line ("transform made no samples from 300 items"); ``advice`` maps a
    reason (as counted, or its slug ``no_column``) to what the user can change.
    """
    ranked = sorted(((str(k), int(v)) for k, v in rejects_by_reason.items() if v), key=lambda kv: -kv[1])
    line = lead
    if ranked:
        top, n = ranked[0]
        line += f": {n:,} of {n_in:,} rejected as {top!r}"
        if len(ranked) > 1:
            line += " (then " + ", ".join(f"{k} {v:,}" for k, v in ranked[1:3]) + ")"
        hint = advice.get(top) or advice.get(top.lower().replace(" ", "_"))
        if hint:
            line += f"; {hint}"
    if rejects_path is not None:
        line += f"; every reject with its reason: {rejects_path}"
    return line


def make_reject(
    stage: str,
    filter: str,
    reason: str,
    *,
    item: Mapping[str, Any] | None = None,
    sample: Mapping[str, Any] | None = None,
    raw: str | None = None,
) -> Reject:
    """A rejects.jsonl record; ``item`` defaults to the sample's provenance (source, row_id)."""
    if item is None:
        prov = provenance(sample or {})
        item = {"source": prov.get("source"), "row_id": prov.get("row_id")}
    return {
        "stage": stage,
        "filter": filter,
        "reason": reason,
        "item": dict(item),  # type: ignore[typeddict-item]
        "sample": dict(sample) if sample is not None else None,  # type: ignore[typeddict-item]
        "raw": raw,
    }


# ---- readers and writers -----------------------------------------------------------------------
_JSON_COLUMNS = ("row", "cells")  # Parquet keeps these as JSON strings: sources disagree on column types


def write_items(path: PathLike, items: Iterable[Mapping[str, Any]]) -> Path:
    """Write items as JSONL (default) or Parquet (``.parquet``), atomically."""
    path = Path(path)
    if path.suffix.lower() != ".parquet":
        write_jsonl(path, items)
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = [
        {**it, **{c: json.dumps(it.get(c), ensure_ascii=False) for c in _JSON_COLUMNS if c in it}}
        for it in items
    ]
    with atomic_open(path, "wb", encoding=None) as f:
        pq.write_table(pa.Table.from_pylist(flat), f)
    return path


def read_items(path: PathLike) -> Iterator[Item]:
    """Items written by :func:`write_items` (JSONL or Parquet, by suffix), as dicts in file order.

    A record without ``source`` and ``row_id`` is an :class:`~taskforge.InputError` naming file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such items file")
    if path.suffix.lower() == ".parquet":
        records: Iterator[dict[str, Any]] = _parquet_items(path)
    else:
        records = _jsonl_records(path)
    for lineno, rec in enumerate(records, 1):
        if not isinstance(rec, dict) or "source" not in rec or "row_id" not in rec:
            raise InputError(f"{path}:{lineno}: not a retrieved item (needs at least source and row_id)")
        yield rec  # type: ignore[misc]


def _parquet_items(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a broken file
        raise InputError(f"{path}: not a readable Parquet file ({e})") from None
    for rec in table.to_pylist():
        for c in _JSON_COLUMNS:
            if isinstance(rec.get(c), str):
                rec[c] = json.loads(rec[c])
        if rec.get("text") is None:
            rec.pop("text", None)
        yield rec


def _jsonl_records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        yield from read_jsonl(path)
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 JSONL ({e.reason} at byte {e.start})") from None
    except ValueError as e:  # read_jsonl names file and line
        raise InputError(str(e)) from None


SAMPLE_FILES = ("kept.jsonl", "samples.jsonl", "data.jsonl")


def read_samples(path: PathLike) -> list[Sample]:
    """Samples from a JSONL file, or from the ``kept.jsonl`` / ``samples.jsonl`` / ``data.jsonl`` of a folder."""
    path = Path(path)
    if path.is_dir():
        found = next((path / n for n in SAMPLE_FILES if (path / n).exists()), None)
        if found is None:
            raise InputError(f"{path}: no {', '.join(SAMPLE_FILES)} in this folder")
        path = found
    if not path.is_file():
        raise InputError(f"{path}: no such samples file")
    return list(_jsonl_records(path))  # type: ignore[arg-type]


def write_samples(path: PathLike, samples: Iterable[Mapping[str, Any]]) -> int:
    return write_jsonl(path, samples)


def write_rejects(path: PathLike, rejects: Iterable[Mapping[str, Any]]) -> int:
    return write_jsonl(path, rejects)


__all__ = [
    "MAX_LABEL_CHARS",
    "Item",
    "ItemRef",
    "Provenance",
    "Reject",
    "Sample",
    "input_text",
    "label_of",
    "label_text",
    "make_reject",
    "nothing_made_message",
    "output_text",
    "provenance",
    "read_items",
    "read_samples",
    "sample_id",
    "sample_text",
    "text_of",
    "write_items",
    "write_rejects",
    "write_samples",
]
