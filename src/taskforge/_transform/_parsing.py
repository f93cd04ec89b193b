"""Getting a task sample out of an LLM answer: robust JSON extraction, then schema validation.

Extraction scans for JSON with ``json.JSONDecoder.raw_decode`` at every ``{`` (never by
splitting on ``}``), so code fences, prose around the object, nested objects and strings
containing braces all work. Validation checks the object against the task: the fields
are present, have the schema's types, and labels are one of the allowed ones (matched
case-, space- and separator-insensitively, then written in their canonical spelling).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from taskforge._errors import StageError
from taskforge._task import Task

_DECODER = json.JSONDecoder()
_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js)?[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
REASONING = "reasoning"


class SampleError(StageError, ValueError):
    """An answer that is not a valid sample; ``category`` groups reasons in summaries."""

    def __init__(self, category: str, detail: str) -> None:
        super().__init__(f"{category}: {detail}")
        self.category = category
        self.detail = detail


def extract_json(text: str, *, prefer_keys: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """The JSON object in ``text`` (an LLM answer); raises :class:`SampleError` ("JSON parse error").

    Fenced blocks are tried first, then every ``{`` of the whole text, left to right. Among the
    objects found, the first one holding any of ``prefer_keys`` (at top level, or one wrapper level
    down as in ``{"sample": {...}}``) wins, else the first object: so an example echoed before the
    answer, or a fragment of a broken outer object, is not taken when a better candidate exists.
    A trailing comma before ``}``/``]`` is forgiven.
    """
    if not isinstance(text, str) or not text.strip():
        raise SampleError("JSON parse error", "empty answer")
    chunks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    first_error: str | None = None
    first: dict[str, Any] | None = None
    for chunk in chunks:
        for obj, err in _scan_objects(chunk):
            if obj is None:
                first_error = first_error or err
                continue
            if not prefer_keys:
                return obj
            if prefer_keys & set(obj):
                return obj
            for value in obj.values():
                if isinstance(value, dict) and prefer_keys & set(value):
                    return value
            first = first if first is not None else obj
    if first is not None:
        return first
    raise SampleError("JSON parse error", first_error or "no JSON object found")


def _scan_objects(text: str) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
    """Each decodable top-level object in ``text`` (skipping its inside), or the error at a ``{``."""
    fixable = _TRAILING_COMMA.search(text) is not None
    pos = text.find("{")
    while pos >= 0:
        obj, end, err = _decode_at(text, pos, fixable)
        if isinstance(obj, dict):
            yield obj, None
            pos = text.find("{", max(end, pos + 1))
            continue
        yield None, err
        pos = text.find("{", pos + 1)


def _decode_at(text: str, pos: int, fixable: bool) -> tuple[Any, int, str | None]:
    try:
        obj, end = _DECODER.raw_decode(text, pos)
        return obj, end, None
    except json.JSONDecodeError as e:
        err = f"{e.msg} at line {e.lineno} column {e.colno}"
    if fixable:  # forgive trailing commas (a frequent LLM slip) inside the candidate
        try:
            obj, _ = _DECODER.raw_decode(_TRAILING_COMMA.sub(r"\1", text[pos:]), 0)
            return obj, pos + 1, None  # offsets moved: keep scanning from just inside
        except json.JSONDecodeError:
            pass
    return None, pos, err


# ---- validation --------------------------------------------------------------------------------
def normalise_label(value: Any) -> str:
    """Label key for matching: lower case, one separator style (``Not Entailment`` == ``not_entailment``)."""
    text = str(value).strip().lower()
    text = re.sub(r"[\s_\-]+", "_", text)
    return text.strip("_.'\"")


def canonical_label(value: Any, labels: list[str]) -> str | None:
    """The allowed label ``value`` spells (case/whitespace/separator-insensitive), or None."""
    key = normalise_label(value)
    for label in labels:
        if normalise_label(label) == key:
            return label
    return None


def flat_layout(task: Task) -> bool:
    """Whether answers use the task's named fields at top level (``{premise, hypothesis, label}``).

    Plain-string tasks answer ``{input, output}`` (the paper's prompt); tasks whose named input
    and output fields collide fall back to nested ``{input: {...}, output: {...}}``.
    """
    if not (task.named_inputs or task.named_outputs):
        return True
    names = task.input_fields + task.output_fields
    return len(set(names)) == len(names) and REASONING not in names


def answer_fields(task: Task, *, chain_of_thought: bool = False) -> list[str]:
    """The top-level keys an LLM answer must have, in the order the prompt asks for them."""
    names = task.input_fields + task.output_fields if flat_layout(task) else ["input", "output"]
    return [REASONING, *names] if chain_of_thought else names


def validate_sample(
    task: Task, obj: Any, *, chain_of_thought: bool = False
) -> tuple[str | dict[str, Any], str | dict[str, Any], str | None]:
    """Check an answer object against the task; returns ``(input, output, reasoning)`` in the task's shape.

    Accepts the flat layout (``{premise, hypothesis, label}``) and the nested one
    (``{input: {...}, output: {...}}``). Raises :class:`SampleError` naming the problem.
    """
    if not isinstance(obj, dict):
        raise SampleError("not an object", f"expected a JSON object, got {type(obj).__name__}")
    inputs = _pick_side(obj, "input", task.input_fields, task.named_inputs)
    outputs = _pick_side(obj, "output", task.output_fields, task.named_outputs)
    for name in task.input_fields:
        inputs[name] = _check_text(name, inputs[name])
    schema = task.output_schema or {}
    inferred = task.label_field() if task.labels_inferred else None
    for name in task.output_fields:
        spec = schema.get(name)
        if name == inferred:
            outputs[name] = _check_inferred_label(name, outputs[name], task.labels() or [])
        else:
            outputs[name] = (
                _check_typed(name, outputs[name], spec) if spec else _check_text(name, outputs[name])
            )
    reasoning = obj.get(REASONING)
    if reasoning is not None and not isinstance(reasoning, str):
        reasoning = json.dumps(reasoning, ensure_ascii=False)
    if chain_of_thought and not (reasoning or "").strip():
        raise SampleError("missing field", f"{REASONING!r} (chain of thought) is missing or empty")
    inp: str | dict[str, Any] = inputs if task.named_inputs else inputs["input"]
    out: str | dict[str, Any] = outputs if task.named_outputs else outputs["output"]
    return inp, out, (reasoning.strip() if reasoning else None)


def _pick_side(obj: dict[str, Any], side: str, fields: list[str], named: bool) -> dict[str, Any]:
    nested = obj.get(side)
    if named and isinstance(nested, dict) and all(f in nested for f in fields):
        source = nested
    elif not named and side in obj:
        source = {side: obj[side]}
    else:
        source = obj
    missing = [f for f in fields if f not in source]
    if missing:
        raise SampleError(
            "missing field", f"{', '.join(map(repr, missing))} not in answer (has {sorted(obj)})"
        )
    return {f: source[f] for f in fields}


def _check_text(name: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        value = Task.text_of(value) if isinstance(value, list) else json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool):
        raise SampleError("wrong type", f"{name!r} must be text, got {json.dumps(value)}")
    text = str(value).strip()
    if not text:
        raise SampleError("empty field", f"{name!r} is empty")
    return text


def _check_inferred_label(name: str, value: Any, labels: list[str]) -> str:
    """A label of the set the examples' outputs imply (the task has no output_schema)."""
    label = canonical_label(_check_text(name, value), labels)
    if label is None:
        raise SampleError(
            "invalid label", f"{name}={value!r} is not one of the labels the examples use {labels}"
        )
    return label


def _check_typed(name: str, value: Any, spec: Any) -> Any:
    if spec.labels:
        if isinstance(value, (dict, list)) or value is None:
            raise SampleError(
                "invalid label", f"{name!r} must be one of {spec.labels}, got {json.dumps(value)}"
            )
        label = canonical_label(value, spec.labels)
        if label is None:
            raise SampleError("invalid label", f"{name}={value!r} is not one of {spec.labels}")
        return label
    kind = spec.type
    if kind == "integer":
        if isinstance(value, bool) or not _is_int(value):
            raise SampleError("wrong type", f"{name!r} must be an integer, got {json.dumps(value)}")
        return int(value) if isinstance(value, (int, float)) else int(str(value).strip())
    if kind == "number":
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value) if not isinstance(value, (int, float)) else value
        except (TypeError, ValueError):
            raise SampleError("wrong type", f"{name!r} must be a number, got {json.dumps(value)}") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        key = normalise_label(value)
        if key in ("true", "yes"):
            return True
        if key in ("false", "no"):
            return False
        raise SampleError("wrong type", f"{name!r} must be true or false, got {json.dumps(value)}")
    if kind == "list":
        if not isinstance(value, list) or not value:
            raise SampleError("wrong type", f"{name!r} must be a non-empty list, got {json.dumps(value)}")
        return value
    text = _check_text(name, value)
    if spec.min_length is not None and len(text) < spec.min_length:
        raise SampleError("too short", f"{name!r} has {len(text)} characters, fewer than {spec.min_length}")
    if spec.max_length is not None and len(text) > spec.max_length:
        raise SampleError("too long", f"{name!r} has {len(text)} characters, more than {spec.max_length}")
    return text


def _is_int(value: Any) -> bool:
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return bool(re.fullmatch(r"\s*[-+]?\d+\s*", str(value)))
