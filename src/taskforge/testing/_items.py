"""Test helpers: retrieved items made from source rows, and a fake-LLM responder that answers like a model.

``demo_items`` builds items in the retrieve -> transform format straight from a source folder
(e.g. the repo's ``demo/sources``), so the transform stage can be tested without a datastore. ``task_responder`` reads the retrieved
row back out of a ReBase prompt and answers with task-shaped JSON, and, for a chosen share of
rows, with the answers LLMs get wrong (prose around JSON, broken JSON, wrong labels, missing
fields), so every path through parsing, validation and repair is exercised over real sockets.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskforge._cells import text_cells
from taskforge._records import Item
from taskforge._task import Task

_ROW_START = "You need to decide which part of the dataset to use.\n\n"
_ROW_END = "\n\nYour response MUST"
REPAIR_MARK = "Your answer could not be used"


def demo_items(root: str | Path, source: str, n: int | None = None) -> list[Item]:
    """Retrieved items (rank, source, row_id, row, cells, scores, method) from ``root/source``."""
    folder = Path(root) / source
    files = sorted(p for p in folder.iterdir() if p.suffix in (".jsonl", ".json"))
    if not files:
        raise FileNotFoundError(f"{folder}: no .jsonl/.json data file")
    path = files[0]
    if path.suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[:n] if n else rows
    return [
        {  # type: ignore[misc]
            "rank": i + 1,
            "source": source,
            "row_id": f"{path.name}:{i + 1}",
            "global_row": i,
            "row": row,
            "cells": text_cells(row),
            "scores": {"final": round(1.0 - i / (len(rows) + 1), 4)},
            "method": "rebase",
        }
        for i, row in enumerate(rows)
    ]


def row_of_prompt(body: dict[str, Any]) -> dict[str, Any] | None:
    """The retrieved row a ReBase prompt shows (None when the prompt has none)."""
    for msg in body.get("messages", []):
        content = str(msg.get("content", ""))
        if _ROW_START in content and _ROW_END in content:
            start = content.index(_ROW_START) + len(_ROW_START)
            return json.loads(content[start : content.index(_ROW_END, start)])
    return None


def task_responder(
    task: Task,
    *,
    bad_share: float = 0.0,
    repairable: bool = True,
    label_of: Callable[[dict], str] | None = None,
) -> Callable[[dict[str, Any]], str]:
    """A FakeLLMServer responder answering ReBase prompts for ``task`` with task-shaped JSON.

    ``bad_share`` of rows (chosen by a hash of the row, so the same each run) get a bad answer:
    broken JSON, a wrong label, or a missing field. A repair request is answered with valid JSON
    when ``repairable`` (else the same mistake again). Otherwise answers are valid, wrapped in
    prose or code fences now and then, with a brace inside a string. A request carrying a JSON
    schema (``response_format`` or a forced tool) gets bare valid JSON, as constrained decoding
    would give.
    """
    labels = task.labels() or []
    label_field = task.label_field()
    fields = task.input_fields + task.output_fields

    def good(row: dict[str, Any], h: int, sample_index: int) -> dict[str, Any]:
        texts = [str(v) for v in row.values() if isinstance(v, str) and v.strip()] or [json.dumps(row)]
        obj: dict[str, Any] = {}
        for k, name in enumerate(fields):
            if name == label_field:
                obj[name] = label_of(row) if label_of else labels[h % len(labels)]
            else:
                obj[name] = f"{texts[k % len(texts)]} {{#{sample_index}}}"
        if not (task.named_inputs or task.named_outputs):
            obj = {"input": obj[fields[0]], "output": obj[fields[-1]]}
        return {"reasoning": "step by step {because}", **obj}

    def respond(body: dict[str, Any]) -> str:
        # a CRAFT prompt shows a document, not a row: answer from the document's text
        row = row_of_prompt(body) or {"document": str(body["messages"][-1].get("content", ""))}
        h = zlib.crc32(json.dumps(row, sort_keys=True).encode())
        sample_index = int(body.get("seed") or 0) if isinstance(body.get("seed"), int) else 0
        last = str(body["messages"][-1].get("content", ""))
        repair = last.startswith(REPAIR_MARK)
        fmt = body.get("response_format") or {}
        constrained = fmt.get("type") == "json_schema" or bool(body.get("tool_choice"))
        bad = (h % 1000) < bad_share * 1000 and not constrained
        obj = good(row, h, sample_index)
        if constrained:
            props = (fmt.get("json_schema") or {}).get("schema", {}).get("properties")
            if props is None:
                props = (body.get("tools") or [{}])[0].get("input_schema", {}).get("properties", {})
            return json.dumps({k: obj[k] for k in props if k in obj}, ensure_ascii=False)
        if bad and not (repair and repairable):
            kind = (h // 1000) % 3
            if kind == 0:
                return "Sure! " + json.dumps(obj)[:-3] + " and so on"
            if kind == 1 and label_field:
                obj[label_field] = "maybe"
                return json.dumps(obj)
            obj.pop(fields[0] if fields[0] in obj else "input", None)
            return json.dumps(obj)
        text = json.dumps(obj, ensure_ascii=False, indent=1 if h % 2 else None)
        if h % 3 == 0:
            return f"Here is the sample:\n```json\n{text}\n```\nHope this helps {{:}}"
        if h % 3 == 1:
            return f"Response: {text}"
        return text

    return respond
