"""Reading samples / eval rows and turning them into model inputs and targets.

One place decides how a sample becomes a classifier input (text or text pair), a chat
prompt and a completion, so training and evaluation always agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskforge._experts._errors import ExpertError
from taskforge._io import read_table
from taskforge._task import Task

FieldValue = str | dict[str, Any]


# ---- reading -----------------------------------------------------------------------------------------
def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL / JSON (list) / CSV / TSV file."""
    path = Path(path)
    if not path.exists():
        raise ExpertError(f"{path}: file not found")
    try:
        return read_table(path)
    except (ValueError, OSError) as e:
        raise ExpertError(str(e)) from None


def parse_field_map(spec: str | Sequence[str] | None) -> dict[str, str] | None:
    """``"premise,hypothesis"`` or ``"premise=sentence1,hypothesis=sentence2"`` -> {field: column}."""
    if spec is None:
        return None
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    out: dict[str, str] = {}
    for p in (p.strip() for p in parts):
        if p:
            field, _, col = p.partition("=")
            out[field.strip()] = (col or field).strip()
    return out or None


def load_examples(
    path: str | Path,
    task: Task,
    *,
    input_fields: str | Sequence[str] | None = None,
    output_field: str | None = None,
) -> list[dict[str, Any]]:
    """Samples/examples ``{"input", "output", ...}``; raw rows are mapped with the field options.

    ``input_fields`` names the row's columns that make the input (``field=column`` to rename);
    ``output_field`` the column holding the answer. Shapes follow the task's examples.
    """
    rows = read_rows(path)
    fmap = parse_field_map(input_fields)
    if fmap is None and output_field is None:
        bad = next((i for i, r in enumerate(rows, 1) if "input" not in r or "output" not in r), None)
        if bad is not None:
            raise ExpertError(
                f"{path}: row {bad} has no 'input'/'output' (columns {sorted(rows[bad - 1])}); "
                "map raw rows with --input-fields COL1,COL2 --output-field COL"
            )
        return rows
    if fmap is None:
        fmap = {f: f for f in task.input_fields} if task.named_inputs else {"input": "input"}
    out_col = output_field or "output"
    mapped = []
    for i, row in enumerate(rows, 1):
        missing = [c for c in [*fmap.values(), out_col] if c not in row]
        if missing:
            raise ExpertError(f"{path}: row {i} has no column(s) {missing} (has {sorted(row)})")
        if task.named_inputs or len(fmap) > 1:
            inp: FieldValue = {f: _text(row[c]) for f, c in fmap.items()}
        else:
            inp = _text(row[next(iter(fmap.values()))])
        gold = row[out_col]
        gold = [_text(g) for g in gold] if isinstance(gold, list) else _text(gold)
        out: Any = {task.output_fields[0]: gold} if task.named_outputs else gold
        mapped.append({"input": inp, "output": out})
    return mapped


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v)


# ---- classifier view -------------------------------------------------------------------------------
def classifier_text(value: FieldValue) -> str | tuple[str, str]:
    """Input as one text, or a text pair when the input has exactly two named fields (premise/hypothesis)."""
    if isinstance(value, dict):
        vals = [Task.text_of(v) for v in value.values()]
        if len(vals) == 2:
            return vals[0], vals[1]
        return Task.text_of(value)
    return str(value)


def label_field(task: Task) -> str:
    return task.label_field() or task.output_fields[0]


def gold_answers(task: Task, output: Any) -> list[str]:
    """All acceptable answers of a gold output (lists give several; dicts their main field)."""
    if isinstance(output, dict):
        if len(output) == 1 or label_field(task) in output:
            val = output.get(label_field(task), next(iter(output.values())))
        else:
            return [json.dumps(output, ensure_ascii=False)]
    else:
        val = output
    if isinstance(val, list):
        return [_text(v) for v in val] or [""]
    return [_text(val)]


# ---- generative view -----------------------------------------------------------------------------------
def user_prompt(task: Task, value: FieldValue) -> str:
    """The user turn of a chat prompt: the instruction, then the input's fields."""
    return f"{task.instruction.strip()}\n\n{Task.text_of(value)}"


def completion_text(task: Task, sample: dict[str, Any]) -> str:
    """The assistant turn to learn: reasoning (if any) then the answer ("The answer is X")."""
    output = sample["output"]
    if isinstance(output, dict) and len(output) > 1:
        answer = json.dumps(output, ensure_ascii=False)
    else:
        answer = gold_answers(task, output)[0]
    reasoning = (sample.get("reasoning") or "").strip()
    if reasoning:
        return f"{reasoning}\nThe answer is {answer}"
    return answer


def chat_messages(
    task: Task, value: FieldValue, shots: Sequence[dict[str, Any]] = ()
) -> list[dict[str, str]]:
    """Chat prompt for ``value``; ``shots`` (examples) become earlier user/assistant turns."""
    msgs: list[dict[str, str]] = []
    for ex in shots:
        msgs.append({"role": "user", "content": user_prompt(task, ex["input"])})
        msgs.append({"role": "assistant", "content": completion_text(task, ex)})
    msgs.append({"role": "user", "content": user_prompt(task, value)})
    return msgs


def same_input(a: FieldValue, b: FieldValue) -> bool:
    return Task.text_of(a).strip() == Task.text_of(b).strip()
