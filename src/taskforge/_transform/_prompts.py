"""Prompts that turn one retrieved item into chat messages: ReBase, CRAFT, or a user's Jinja2 file.

A user template (``--template FILE``) is rendered into one user message with these variables:

``task``              the :class:`~taskforge._task.Task` (``task.instruction``, ``task.examples``, ...)
``examples``          the chosen examples, each ``{"input": ..., "output": ...}`` in the task's shape
                      (+ ``"document"`` when the example carries the text it was written from)
``answers``           the same examples in the answer layout the parser expects (flat named fields)
``item``              the retrieved item (``source``, ``row_id``, ``row``, ``cells``, ``text``, ``passage``, ``scores``, ``rank``)
``row``               what to show of the item: its ``row``, or ``{"text": ...}`` for documents
``document``          the item as plain text: for a document, the passage that matched (or the whole
                      document with ``context: document``); for a row, ``column: value`` lines
``fields``            the top-level keys the answer must have (``reasoning`` first in CoT mode)
``labels``, ``label_field``  the allowed labels and their field (or None)
``chain_of_thought``  whether a ``reasoning`` field is asked for
``sample_index``      which of the item's samples this prompt is for

Filters: ``json`` (indented JSON, UTF-8 kept) and ``quoted_list`` (``"a", "b" and "c"``).
Undefined variables are errors, so a typo fails on the first item, not silently.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import jinja2

from taskforge._io import stable_hash
from taskforge._settings import TransformSettings
from taskforge._task import Task
from taskforge._transform._parsing import REASONING, answer_fields, flat_layout

TEMPLATES = Path(__file__).parent / "templates"
Messages = list[dict[str, str]]


def _json(value: Any, indent: int | None = 2) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _quoted_list(values: list[str], conj: str = "and") -> str:
    quoted = [f'"{v}"' for v in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + f" {conj} " + quoted[-1]


def _environment(search: list[Path]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=False,
    )
    env.filters["json"] = _json
    env.filters["quoted_list"] = _quoted_list
    return env


def item_row(item: dict[str, Any]) -> dict[str, Any]:
    """What a prompt shows of an item: the whole original row, or the document text."""
    if item.get("row"):
        return item["row"]
    if item.get("text"):
        return {"text": item["text"]}
    return dict(item.get("cells") or {})


def item_document(item: dict[str, Any], context: str = "passage") -> str:
    """The item as one text: a document's matched passage (``context="passage"``, when retrieval
    named one) or its whole text, or a row's cells as ``column: value`` lines."""
    passage = item.get("passage")
    if context == "passage" and isinstance(passage, dict) and passage.get("text"):
        return str(passage["text"])
    if item.get("text"):
        return str(item["text"])
    cells = item.get("cells") or item.get("row") or {}
    return Task.text_of(cells)


class PromptBuilder:
    """Messages for (item, sample_index) under one task and settings; deterministic per seed."""

    def __init__(self, task: Task, settings: TransformSettings) -> None:
        self.task = task
        self.settings = settings
        self.cot = settings.chain_of_thought
        self.fields = answer_fields(task, chain_of_thought=self.cot)
        self.labels = task.labels()
        self.label_field = task.label_field()
        search = [TEMPLATES]
        self._user_template: jinja2.Template | None = None
        if settings.template is not None:
            path = Path(settings.template)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: template not found")
            env = _environment([path.parent.resolve(), TEMPLATES])
            self._user_template = env.from_string(path.read_text(encoding="utf-8"))
        self.env = _environment(search)
        self._answers = [self.answer_of(e.input, e.output) for e in task.examples]
        self._examples = [
            {"input": e.input, "output": e.output, **({"document": e.document} if e.document else {})}
            for e in task.examples
        ]

    # ---- layout -----------------------------------------------------------------------------
    def answer_of(self, inp: Any, out: Any, reasoning: str | None = None) -> dict[str, Any]:
        """An (input, output) pair in the JSON layout answers use (flat named fields when possible)."""
        ans: dict[str, Any] = {}
        if reasoning is not None:
            ans[REASONING] = reasoning
        if flat_layout(self.task):
            ans.update(inp if isinstance(inp, dict) else {"input": inp})
            ans.update(out if isinstance(out, dict) else {"output": out})
        else:
            ans.update({"input": inp, "output": out})
        return ans

    def style_for(self, item: dict[str, Any]) -> str:
        if self.settings.style != "auto":
            return self.settings.style
        # only document stores give items a "text" (their rows keep their cells too)
        return "craft" if item.get("text") else "rebase"

    def _pick(self, item: dict[str, Any], sample_index: int, n: int) -> list[int]:
        k = len(self._answers)
        if n >= k:
            return list(range(k))
        rng = random.Random(
            stable_hash([self.settings.seed, item.get("source"), item.get("row_id"), sample_index])
        )
        return sorted(rng.sample(range(k), n))

    # ---- messages ---------------------------------------------------------------------------
    def messages(self, item: dict[str, Any], sample_index: int = 0) -> Messages:
        """The chat messages asking for sample ``sample_index`` of ``item``."""
        style = self.style_for(item)
        n = self.settings.n_examples or (3 if style == "craft" else 8)
        chosen = self._pick(item, sample_index, n)
        ctx = self._context(item, sample_index, chosen)
        if self._user_template is not None:
            return [{"role": "user", "content": self._user_template.render(**ctx).strip()}]
        if style == "craft":
            return self._craft(ctx, chosen)
        return [{"role": "user", "content": self.env.get_template("rebase.j2").render(**ctx).strip()}]

    def _context(self, item: dict[str, Any], sample_index: int, chosen: list[int]) -> dict[str, Any]:
        return {
            "task": self.task,
            "examples": [self._examples[i] for i in chosen],
            "answers": [self._answers[i] for i in chosen],
            "item": item,
            "row": item_row(item),
            "document": item_document(item, self.settings.context),
            "fields": self.fields,
            "labels": self.labels,
            "label_field": self.label_field,
            "chain_of_thought": self.cot,
            "sample_index": sample_index,
        }

    def _craft(self, ctx: dict[str, Any], chosen: list[int]) -> Messages:
        user = self.env.get_template("craft_user.j2")
        msgs: Messages = [
            {"role": "system", "content": self.env.get_template("craft_system.j2").render(**ctx).strip()}
        ]
        for i in chosen:
            # CRAFT: the few-shot's document in the user turn, its sample as the assistant's JSON;
            # an example without a document shows its input as the document (the older layout)
            ex = self.task.examples[i]
            shown = ex.document or Task.text_of(ex.input)
            msgs.append({"role": "user", "content": user.render(document=shown).strip()})
            msgs.append({"role": "assistant", "content": _json(self._answers[i])})
        msgs.append({"role": "user", "content": user.render(document=ctx["document"]).strip()})
        return msgs

    def repair_messages(self, messages: Messages, raw: str, error: str) -> Messages:
        """The original conversation, the invalid answer, and a request for corrected JSON."""
        text = self.env.get_template("repair.j2").render(
            error=error, fields=self.fields, labels=self.labels, label_field=self.label_field
        )
        return [*messages, {"role": "assistant", "content": raw}, {"role": "user", "content": text.strip()}]
