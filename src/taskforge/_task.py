"""The task spec: the user's one input (instruction + a few examples), loaded from YAML.

An example's ``input`` and ``output`` are each either one string or a mapping of
named fields (``{premise: ..., hypothesis: ...}``). Generated samples use the same
shape, so a sample and an example are interchangeable everywhere downstream.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from taskforge._errors import TaskSpecError
from taskforge._io import read_table
from taskforge._parts import PartLayout, detect_parts
from taskforge._records import text_of

FieldValue = str | dict[str, Any]
SINGLE_INPUT = "input"
SINGLE_OUTPUT = "output"


class FieldSpec(BaseModel):
    """Schema of one output field: type, allowed labels, length bounds (characters)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "integer", "number", "boolean", "list"] = "string"
    labels: list[str] | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    description: str | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _yaml_booleans(cls, v: Any) -> Any:
        if isinstance(v, list) and any(isinstance(x, bool) for x in v):
            raise ValueError(
                'YAML reads unquoted yes/no/true/false as booleans: quote the labels, e.g. ["yes", "no"]'
            )
        return v


class Example(BaseModel):
    """One worked example: ``input`` -> ``output``, and optionally the ``document`` it was written from.

    The document is CRAFT's corpus text (the few-shot file's ``Text``): retrieval looks for
    documents like it, and the CRAFT prompt shows it as the user turn of a worked example.
    It is never part of a sample: samples, exports and experts use ``input`` -> ``output`` only.
    """

    model_config = ConfigDict(extra="forbid")

    input: FieldValue
    output: FieldValue
    document: str | None = None

    @field_validator("input", "output", mode="before")
    @classmethod
    def _scalars_to_text(cls, v: Any) -> Any:
        if isinstance(v, (int, float, bool)):
            return str(v)
        if isinstance(v, dict):
            return {str(k): (val if isinstance(val, (str, list, dict)) else str(val)) for k, val in v.items()}
        return v

    @field_validator("document", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        return None if v is None or (isinstance(v, str) and not v.strip()) else v

    @model_serializer(mode="wrap")
    def _omit_missing_document(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # a task without documents dumps (and hashes) exactly as before documents existed
        data = handler(self)
        if data.get("document") is None:
            data.pop("document", None)
        return data


class ExamplesFile(BaseModel):
    """Examples read from a JSONL/CSV/TSV file, with a mapping from its columns to the task's fields.

    ``input``/``output``: one column name (a plain string field) or a mapping ``task_field: column``;
    ``document``: the column holding the text each example was written from (optional).
    ``format: craft`` reads CRAFT's few-shot files: ``Text`` is the document, ``Instruction`` the
    input and ``Output`` the output (chosen automatically when a file has exactly those columns
    and no mapping is given).
    """

    model_config = ConfigDict(extra="forbid")

    path: Path
    format: Literal["auto", "craft"] = "auto"
    input: str | dict[str, str] | None = None
    output: str | dict[str, str] | None = None
    document: str | None = None
    limit: int | None = Field(default=None, ge=1)
    skip: int = Field(default=0, ge=0)


class Task(BaseModel):
    """A task: what to make data for. See ``examples/*.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    instruction: str = Field(min_length=1)
    examples: list[Example] = Field(default_factory=list)
    examples_from: ExamplesFile | None = None
    output_schema: dict[str, FieldSpec] | None = None
    exclude_sources: list[str] = Field(default_factory=list)
    defaults: dict[str, dict[str, Any]] = Field(default_factory=dict)
    _label_cache: tuple[tuple[Any, ...], Any] | None = PrivateAttr(default=None)

    @field_validator("exclude_sources", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _consistent(self) -> Task:
        if not self.examples:
            raise ValueError("examples: at least one example is needed (inline or via examples_from)")
        shapes = {(_shape(e.input), _shape(e.output)) for e in self.examples}
        if len(shapes) > 1:
            raise ValueError(
                "examples: every example must use the same fields; found "
                + "; ".join(f"input {i} / output {o}" for i, o in sorted(shapes, key=str))
            )
        if self.output_schema:
            unknown = set(self.output_schema) - set(self.output_fields)
            if unknown:
                raise ValueError(
                    f"output_schema: field(s) {sorted(unknown)} are not output fields of the examples "
                    f"({self.output_fields})"
                )
            for name, spec in self.output_schema.items():
                if spec.labels:
                    for k, e in enumerate(self.examples):
                        val = self.output_value(e.output, name)
                        if str(val) not in spec.labels:
                            raise ValueError(
                                f"examples[{k}].output.{name}: {val!r} is not one of the allowed labels {spec.labels}"
                            )
        return self

    # ---- field layout -------------------------------------------------------------------------
    @property
    def input_fields(self) -> list[str]:
        """Names of the input fields (``["input"]`` when inputs are plain strings)."""
        return _fields(self.examples[0].input, SINGLE_INPUT)

    @property
    def output_fields(self) -> list[str]:
        return _fields(self.examples[0].output, SINGLE_OUTPUT)

    @property
    def named_inputs(self) -> bool:
        return isinstance(self.examples[0].input, dict)

    @property
    def named_outputs(self) -> bool:
        return isinstance(self.examples[0].output, dict)

    def input_parts(self) -> PartLayout | None:
        """The labelled parts plain-string inputs share ("Premise: ... Hypothesis: ..."), else None."""
        if self.named_inputs:
            return None
        return detect_parts([str(e.input) for e in self.examples])

    def output_value(self, output: FieldValue, field: str) -> Any:
        return output.get(field) if isinstance(output, dict) else output

    def labels(self) -> list[str] | None:
        """Allowed labels of the (first) labelled output field: from the schema, else inferred.

        Without an ``output_schema``, examples whose outputs are plainly labels (see
        :func:`infer_label_set`) define the label set; :attr:`labels_inferred` says so.
        """
        for spec in (self.output_schema or {}).values():
            if spec.labels:
                return spec.labels
        return list(self._inferred[1]) if self._inferred else None

    def label_field(self) -> str | None:
        for name, spec in (self.output_schema or {}).items():
            if spec.labels:
                return name
        return self._inferred[0] if self._inferred else None

    @property
    def labels_inferred(self) -> bool:
        """True when :meth:`labels` come from the examples' outputs, not from an output_schema."""
        return self._inferred is not None and not any(s.labels for s in (self.output_schema or {}).values())

    @property
    def _inferred(self) -> tuple[str, tuple[str, ...]] | None:
        """(field, labels) inferred from the examples when no schema field has labels; else None.

        Cached while the examples, schema and instruction are the same objects (a copy with new
        examples infers again)."""
        key = (self.examples, self.output_schema, self.instruction)
        cached = self._label_cache
        if cached is not None and all(a is b for a, b in zip(cached[0], key, strict=True)):
            return cached[1]
        found = self._infer_labels()
        self._label_cache = (key, found)
        return found

    def _infer_labels(self) -> tuple[str, tuple[str, ...]] | None:
        if any(spec.labels for spec in (self.output_schema or {}).values()):
            return None
        for name in self.output_fields:
            if (self.output_schema or {}).get(name) is not None and self.output_schema[name].type != "string":
                continue  # typed fields (numbers, booleans, lists) are not label sets
            outputs = [Task.text_of(self.output_value(e.output, name)) for e in self.examples]
            inputs = [Task.text_of(e.input) for e in self.examples]
            found = infer_label_set(outputs, instruction=self.instruction, inputs=inputs)
            if found:
                return name, tuple(found)
        return None

    # ---- text views used for embedding, dedup and prompts -------------------------------------
    text_of = staticmethod(text_of)  # the one flattener, from taskforge._records

    def input_texts(self) -> list[str]:
        return [self.text_of(e.input) for e in self.examples]

    @property
    def has_documents(self) -> bool:
        """Whether any example carries the document it was written from (CRAFT few-shots)."""
        return any(e.document for e in self.examples)

    def example_texts(self) -> list[str]:
        """What retrieval embeds per example: its document (CRAFT retrieves with the few-shots'
        corpus texts), else its input and output together."""
        return [e.document or f"{self.text_of(e.input)}\n{self.text_of(e.output)}" for e in self.examples]

    def output_texts(self) -> list[str]:
        return [self.text_of(e.output) for e in self.examples]

    def is_excluded(self, source: str) -> bool:
        """True when ``source`` matches one of ``exclude_sources`` (exact names or globs)."""
        return any(fnmatch.fnmatchcase(source, pat) for pat in self.exclude_sources)

    def unmatched_excludes(self, sources: list[str]) -> list[str]:
        """The ``exclude_sources`` patterns that match none of ``sources`` (a typo excludes nothing)."""
        return [p for p in self.exclude_sources if not any(fnmatch.fnmatchcase(s, p) for s in sources)]

    def stage_defaults(self, stage: str) -> dict[str, Any]:
        return dict(self.defaults.get(stage, {}))

    # ---- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Task:
        """Load a task spec from YAML (or JSON); every problem is a :class:`TaskSpecError`."""
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TaskSpecError(f"{path}: task spec not found") from None
        except yaml.YAMLError as e:
            raise TaskSpecError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(raw, dict):
            raise TaskSpecError(f"{path}: a task spec is a mapping (name, instruction, examples, ...)")
        return cls.from_dict(raw, base_dir=path.parent, origin=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, base_dir: Path | None = None, origin: str = "task") -> Task:
        raw = dict(raw)
        ef = raw.get("examples_from")
        if ef is not None:
            try:
                spec = ExamplesFile.model_validate(ef)
            except ValidationError as e:
                raise TaskSpecError(_format_errors(origin, e, prefix="examples_from")) from None
            if base_dir is not None and not spec.path.is_absolute():
                spec.path = base_dir / spec.path
            try:
                loaded = load_examples_file(spec)
            except (OSError, ValueError, KeyError) as e:
                raise TaskSpecError(f"{origin}: examples_from: {e}") from None
            raw["examples"] = list(raw.get("examples") or []) + loaded
            raw["examples_from"] = spec.model_dump(mode="json")
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise TaskSpecError(_format_errors(origin, e)) from None

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        data.pop("examples_from", None)  # examples are inlined
        data["examples"] = [e.model_dump(mode="json") for e in self.examples]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


# ---- label sets the examples imply ------------------------------------------------------------------
_MAX_LABEL_CHARS = 40
_MAX_LABEL_WORDS = 4
_MAX_INFERRED_LABELS = 20
_SENTENCE_PUNCT = re.compile(r"[.?!;,\n]")
_NUMBER = re.compile(r"^[\s$€£+-]*\d[\d.,/:%\s]*$")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9]*(?:[_\-/][a-z0-9]+)*$")


def infer_label_set(
    outputs: list[str], *, instruction: str = "", inputs: list[str] | None = None
) -> list[str] | None:
    """The label set the example outputs imply, or None when they read as free text.

    Outputs are labels when each is short (<= 4 words, <= 40 characters), has no sentence
    punctuation and is not a number, there are 2-20 distinct ones, and either some repeat
    (``yes, no, yes``) or every one is a lower-case identifier (``entailment, neutral,
    contradiction``) or is named in the instruction. An output found inside its own input is
    an extracted answer, not a label. Order: first appearance.
    """
    values = [str(v).strip() for v in outputs]
    if len(values) < 2 or not all(values):
        return None
    for v in values:
        if len(v) > _MAX_LABEL_CHARS or len(v.split()) > _MAX_LABEL_WORDS:
            return None
        if _SENTENCE_PUNCT.search(v) or _NUMBER.match(v):
            return None
    distinct: dict[str, str] = {}
    for v in values:
        distinct.setdefault(_label_key(v), v)
    if not 2 <= len(distinct) <= _MAX_INFERRED_LABELS:
        return None
    if len(distinct) == len(values):
        said = " " + re.sub(r"[\W_]+", " ", instruction.lower()) + " "
        named = all(f" {_label_key(v).replace('_', ' ')} " in said for v in values)
        if not named and not all(_IDENTIFIER.match(v) for v in values):
            return None
        for v, text in zip(values, inputs or [], strict=False):
            if re.search(rf"(?<!\w){re.escape(v.lower())}(?!\w)", text.lower()):
                return None
    return list(distinct.values())


def _label_key(value: str) -> str:
    return re.sub(r"[\s_\-]+", "_", value.strip().lower())


def _shape(v: FieldValue) -> str:
    return "text" if isinstance(v, str) else "{" + ",".join(v) + "}"


def _fields(v: FieldValue, single: str) -> list[str]:
    return list(v) if isinstance(v, dict) else [single]


def _format_errors(origin: str, err: ValidationError, prefix: str = "") -> str:
    lines = [f"{origin}: invalid task spec"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p not in ("str", "dict[str,any]"))
        loc = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "(top level)")
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


# ---- examples from files ----------------------------------------------------------------------
def load_examples_file(spec: ExamplesFile) -> list[dict[str, Any]]:
    rows = read_table(spec.path)[spec.skip :]
    if spec.limit:
        rows = rows[: spec.limit]
    if spec.format == "craft" or (
        spec.input is None and rows and {"Text", "Instruction", "Output"} <= set(rows[0])
    ):
        return [_craft_example(spec, r, i) for i, r in enumerate(rows, spec.skip + 1)]
    if spec.input is None or spec.output is None:
        raise ValueError("give `input` and `output` column mappings (or use format: craft)")

    def pick(row: dict[str, Any], mapping: str | dict[str, str], lineno: int) -> FieldValue:
        if isinstance(mapping, str):
            return _column(spec, row, mapping, lineno)
        return {field: _column(spec, row, col, lineno) for field, col in mapping.items()}

    out = []
    for i, r in enumerate(rows, spec.skip + 1):
        ex: dict[str, Any] = {"input": pick(r, spec.input, i), "output": pick(r, spec.output, i)}
        if spec.document:
            ex["document"] = _column(spec, r, spec.document, i)
        out.append(ex)
    return out


def _column(spec: ExamplesFile, row: dict[str, Any], col: str, lineno: int) -> str:
    if col not in row:
        raise KeyError(f"{spec.path} row {lineno}: no column {col!r} (has {sorted(row)})")
    return str(row[col])


_LETTER_ANSWER = re.compile(r"^\s*([A-Z])\s*[.)]?\s*$")


def _craft_example(spec: ExamplesFile, row: dict[str, Any], lineno: int) -> dict[str, Any]:
    """One CRAFT few-shot line: ``Text`` is the document, ``Instruction`` -> ``Output`` the sample.

    A lone answer letter with a full stop (``"D."``, as in CRAFT's QA files) becomes the letter,
    as CRAFT's own format extractor reads it.
    """
    missing = [c for c in ("Text", "Instruction", "Output") if c not in row]
    if missing:
        raise KeyError(f"{spec.path} row {lineno}: no column(s) {missing} (has {sorted(row)})")
    output = str(row["Output"])
    letter = _LETTER_ANSWER.match(output)
    return {
        "input": str(row["Instruction"]),
        "output": letter.group(1) if letter else output,
        "document": str(row["Text"]),
    }
