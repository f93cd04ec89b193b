"""The JSON schema of an answer, derived from the task, for servers that constrain decoding to it.

Same layout as the prompt asks for (:func:`answer_fields`): the task's named fields at top level
(or nested ``input``/``output``), labels as an ``enum``, typed outputs as JSON types, and
``reasoning`` first in chain-of-thought mode (decoding follows property order, so the model
reasons before it commits to a label). Length bounds are left to validation, which runs on
every answer either way: not every server supports them in a schema.
"""

from __future__ import annotations

from typing import Any

from taskforge._task import Task
from taskforge._transform._parsing import REASONING, flat_layout

_TYPES = {"integer": "integer", "number": "number", "boolean": "boolean"}


def _output_schema(task: Task, name: str) -> dict[str, Any]:
    spec = (task.output_schema or {}).get(name)
    if task.labels_inferred and name == task.label_field():
        return {"type": "string", "enum": list(task.labels() or [])}  # the label set the examples imply
    if spec is None:
        return {"type": "string"}
    if spec.labels:
        return {"type": "string", "enum": list(spec.labels)}
    if spec.type in _TYPES:
        return {"type": _TYPES[spec.type]}
    if spec.type == "list":
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string"}


def _object(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def answer_schema(task: Task, *, chain_of_thought: bool = False) -> dict[str, Any]:
    """A JSON schema (strict-mode compatible: every property required, no extra ones)."""
    inputs = {name: {"type": "string"} for name in task.input_fields}
    outputs = {name: _output_schema(task, name) for name in task.output_fields}
    props: dict[str, Any] = {REASONING: {"type": "string"}} if chain_of_thought else {}
    if flat_layout(task):
        props.update(inputs)
        props.update(outputs)
    else:
        props["input"] = _object(inputs) if task.named_inputs else {"type": "string"}
        props["output"] = (
            _object(outputs) if task.named_outputs else outputs.get("output", {"type": "string"})
        )
    return _object(props)


__all__ = ["answer_schema"]
