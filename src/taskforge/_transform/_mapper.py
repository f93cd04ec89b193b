"""The no-LLM path: map a retrieved row that already fits the task onto the task's fields.

This is the papers' "retrieved data" baseline and the offline default. Columns are chosen
once per source (every row of a source has the same columns): each task field is scored
against each column by the similarity of their values (embedded cells of a sample of the
source's rows vs the examples' values of that field), of their names, and of their lengths;
then fields get columns by a one-to-one assignment (Hungarian). A labelled output field
goes to the column whose values best map onto the task's labels, and each distinct value
is mapped once: source label names for numeric ids, exact / normalised match, the
``label_map`` setting, yes/no <-> true/false, then embedding similarity (threshold + margin).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml

from taskforge._datastore._cells import flatten, text_cells
from taskforge._task import Task
from taskforge._transform._parsing import SampleError, canonical_label, normalise_label, validate_sample
from taskforge._transform._settings import TransformSettings

# Generic field names say little on their own; compare column names with what they usually mean.
_NAME_HINTS = {
    "input": ("question", "prompt", "query", "text", "sentence", "problem"),
    "output": ("answer", "response", "solution", "target", "completion"),
    "text": ("document", "passage", "content", "context"),
    "label": ("class", "category", "gold label"),
}
_BOOLEAN_ALIASES = {"true": ("yes",), "false": ("no",), "yes": ("true",), "no": ("false",)}
_LABEL_MARGIN = 0.05
_MIN_TEXT_SCORE = 0.1
_MIN_LABEL_RATE = 0.01  # any mapped value: rows whose label does not map are rejected one by one
_PLAN_CHARS = 300  # the model reads ~256 tokens; longer cells only slow planning down
_MAX_CATEGORIES = 20
_MAX_LABEL_CHARS = 40  # longer values are text, not class labels


_VECTORS: dict[tuple[Any, str], np.ndarray] = {}  # per-process memo: plans of a run re-embed the same texts
_VECTORS_MAX = 50_000


class Encoder(Protocol):
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


@dataclass
class SourcePlan:
    """How the rows of one source map onto the task: field -> column, label value -> task label."""

    source: str
    columns: dict[str, str] = field(default_factory=dict)  # task field -> flattened column
    scores: dict[str, float] = field(default_factory=dict)  # task field -> assignment score
    label_field: str | None = None
    label_values: dict[str, str | None] = field(default_factory=dict)  # normalised raw value -> label
    label_names: list[str] | None = None
    problem: str | None = None  # why no row of this source can be mapped

    def describe(self) -> str:
        if self.problem:
            return f"{self.source}: {self.problem}"
        return f"{self.source}: " + ", ".join(
            f"{f}<-{c} ({self.scores.get(f, 0):.2f})" for f, c in self.columns.items()
        )


def item_columns(item: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """(text cells, every flattened scalar of the row) of a retrieved item."""
    row = item.get("row")
    cells = item.get("cells")
    if cells is None:
        cells = text_cells(row) if isinstance(row, dict) else {}
    raw = flatten(row) if isinstance(row, dict) else {}
    scalars = {k: v for k, v in raw.items() if isinstance(v, (str, int, float, bool))}
    return {k: str(v) for k, v in cells.items()}, scalars


def label_names_from_readme(path: Path) -> list[str] | None:
    """Class names of a Hugging Face dataset card (``class_label: names: {'0': a, '1': b}``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.match(r"^---\s*\n(.*?)\n---", text, re.DOTALL)
    if not m:
        return None
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return None
    found: list[list[str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names = (
                node.get("class_label", {}).get("names")
                if isinstance(node.get("class_label"), dict)
                else None
            )
            if isinstance(names, dict):
                with contextlib.suppress(TypeError, ValueError):
                    found.append([str(names[k]) for k in sorted(names, key=lambda x: int(x))])
            elif isinstance(names, list):
                found.append([str(n) for n in names])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(meta)
    return found[0] if found else None


class Mapper:
    """Maps retrieved items onto a task without an LLM; plans columns once per source."""

    def __init__(
        self, task: Task, settings: TransformSettings | None = None, embedder: Encoder | None = None
    ) -> None:
        self.task = task
        self.settings = settings or TransformSettings()
        self._embedder = embedder
        self.labels = task.labels()
        self.label_field = task.label_field()
        self.text_fields = [f for f in task.input_fields] + [
            f for f in task.output_fields if f != self.label_field
        ]
        unknown = {
            v
            for v in self.settings.label_map.values()
            if self.labels and canonical_label(v, self.labels) is None
        }
        if unknown:
            raise ValueError(f"label_map: {sorted(unknown)} not among the task's labels {self.labels}")
        self._label_map = {normalise_label(k): v for k, v in self.settings.label_map.items()}
        self._field_vecs: dict[str, np.ndarray] | None = None
        self._field_lens: dict[str, float] = {}
        self._label_vecs: np.ndarray | None = None
        self.plans: dict[str, SourcePlan] = {}
        self._label_plans: dict[str, tuple[SourcePlan, list[dict[str, Any]]]] = {}

    @property
    def embedder(self) -> Encoder:
        if self._embedder is None:
            from taskforge._embed import Embedder

            self._embedder = Embedder.load(None)
        return self._embedder

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in one batch, reusing vectors this process has already computed."""
        emb = self.embedder
        tag = getattr(emb, "name", None) or id(emb)
        missing = list(dict.fromkeys(t for t in texts if (tag, t) not in _VECTORS))
        if missing:
            if len(_VECTORS) + len(missing) > _VECTORS_MAX:
                _VECTORS.clear()
            for t, v in zip(missing, emb.encode(missing), strict=True):
                _VECTORS[(tag, t)] = v
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([_VECTORS[(tag, t)] for t in texts])

    # ---- planning -----------------------------------------------------------------------------
    def _example_values(self, name: str) -> list[str]:
        out = []
        for e in self.task.examples:
            side = e.input if name in self.task.input_fields else e.output
            out.append(Task.text_of(side.get(name) if isinstance(side, dict) else side))
        return out

    def _prepare(self) -> None:
        if self._field_vecs is not None:
            return
        self._field_vecs = {}
        for name in self.text_fields:
            values = self._example_values(name)
            self._field_vecs[name] = self._encode([v[:_PLAN_CHARS] for v in values]).mean(axis=0)
            self._field_lens[name] = float(np.mean([len(v) for v in values])) or 1.0
        if self.labels:
            self._label_vecs = self._encode(list(self.labels))

    def plan(self, source: str, items: Sequence[dict[str, Any]]) -> SourcePlan:
        """Choose this source's columns from (a sample of) its items; cached per source."""
        if source in self.plans:
            return self.plans[source]
        self._prepare()
        sample = list(items[: self.settings.plan_rows])
        plan = SourcePlan(source=source, label_field=self.label_field)
        plan.label_names = self._label_names(source, sample)
        cells = [item_columns(it) for it in sample]
        text_cols = sorted({c for cs, _ in cells for c in cs})
        scalar_cols = sorted({c for _, sc in cells for c in sc})
        names = list(self.text_fields) + ([self.label_field] if self.label_field else [])
        cols = sorted(set(text_cols) | set(scalar_cols))
        score = np.full((len(names), len(cols)), -1.0)
        name_sim = self._name_similarity(names, cols)
        values = {c: [cs[c][:_PLAN_CHARS] for cs, _ in cells if cs.get(c, "").strip()] for c in text_cols}
        flat = [v for c in text_cols for v in values[c]]
        vecs = self._encode(flat)
        start = 0
        for j, col in enumerate(cols):
            if values.get(col):
                n = len(values[col])
                vec = vecs[start : start + n].mean(axis=0)
                start += n
                mean_len = float(np.mean([len(cs[col]) for cs, _ in cells if cs.get(col, "").strip()]))
                for i, f in enumerate(self.text_fields):
                    assert self._field_vecs is not None
                    value_sim = float(vec @ self._field_vecs[f])
                    len_sim = math.exp(-abs(math.log(mean_len / self._field_lens[f])))
                    score[i, j] = 0.5 * value_sim + 0.35 * name_sim[i, j] + 0.15 * len_sim
            if self.label_field:
                raw = [sc[col] for _, sc in cells if col in sc]
                rate = self._label_rate(plan, raw)
                if rate >= _MIN_LABEL_RATE:
                    score[len(names) - 1, j] = 0.7 * rate + 0.3 * name_sim[len(names) - 1, j] + 1.0
        self._assign(plan, names, cols, score)
        self.plans[source] = plan
        return plan

    def _assign(self, plan: SourcePlan, names: list[str], cols: list[str], score: np.ndarray) -> None:
        from scipy.optimize import linear_sum_assignment

        if not cols:
            plan.problem = "no columns: the rows have no text cells"
            return
        rows, picked = linear_sum_assignment(-score)
        chosen = {names[i]: (cols[j], float(score[i, j])) for i, j in zip(rows, picked, strict=True)}
        for name in names:
            col, s = chosen.get(name, (None, -1.0))
            is_label = name == self.label_field
            if col is None or s < (1.0 if is_label else _MIN_TEXT_SCORE):
                what = "no column whose values map onto the labels" if is_label else "no matching column"
                plan.problem = f"{what} for field {name!r} (columns: {', '.join(cols)})"
                return
            plan.columns[name] = col
            plan.scores[name] = s - 1.0 if is_label else s

    def _name_similarity(self, names: list[str], cols: list[str]) -> np.ndarray:
        """Field name vs column name: the best match over the field's name and its usual synonyms."""

        def norm(s: str) -> str:
            return normalise_label(s.split(".")[-1]).replace("_", " ")

        cvec = self._encode([norm(c) for c in cols])
        sim = np.zeros((len(names), len(cols)), dtype=np.float32)
        for i, n in enumerate(names):
            words = [norm(n), *_NAME_HINTS.get(norm(n), ())]
            sim[i] = (self._encode(words) @ cvec.T).max(axis=0)
            for j, c in enumerate(cols):
                if norm(c) in words:
                    sim[i, j] = 1.0 if norm(c) == norm(n) else 0.9
        return sim

    def _label_names(self, source: str, sample: list[dict[str, Any]]) -> list[str] | None:
        for it in sample[:1]:
            names = it.get("label_names") or (it.get("row") or {}).get("label_names")
            if isinstance(names, list) and names:
                return [str(n) for n in names]
        if source in self.settings.label_names:
            return list(self.settings.label_names[source])
        if self.settings.sources_dir is not None:
            return label_names_from_readme(Path(self.settings.sources_dir) / source / "README.md")
        return None

    def _label_rate(self, plan: SourcePlan, raw: list[Any]) -> float:
        """Share of a column's values that map onto a label (0 for free-text columns)."""
        if not raw:
            return 0.0
        distinct = {self._raw_key(v) for v in raw}
        if (
            np.mean([len(str(v)) for v in raw]) > _MAX_LABEL_CHARS
            or len(distinct) > _MAX_CATEGORIES
            or len(distinct) > max(4, len(raw) // 2)  # free text: (nearly) every value differs
        ):
            return 0.0
        self.resolve_labels(plan, [v for v in raw])
        mapped = sum(1 for v in raw if plan.label_values.get(self._raw_key(v)) is not None)
        return mapped / len(raw)

    # ---- labels -----------------------------------------------------------------------------------
    @staticmethod
    def _raw_key(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return normalise_label(value)

    def resolve_labels(self, plan: SourcePlan, values: Iterable[Any]) -> None:
        """Map each new distinct raw value onto a task label (None when it does not map); batched."""
        assert self.labels is not None
        todo: dict[str, str] = {}
        for v in values:
            key = self._raw_key(v)
            if key in plan.label_values or key in todo:
                continue
            text = self._named(plan, v)
            label = self._symbolic(text)
            if label is None:
                todo[key] = text
            else:
                plan.label_values[key] = label
        if not todo:
            return
        if self._label_vecs is None:
            self._label_vecs = self._encode(list(self.labels))
        keys = list(todo)
        sims = self._encode([todo[k] for k in keys]) @ self._label_vecs.T
        for key, row in zip(keys, sims, strict=True):
            order = np.argsort(-row)
            best = float(row[order[0]])
            second = float(row[order[1]]) if len(order) > 1 else -1.0
            ok = best >= self.settings.label_threshold and best - second >= _LABEL_MARGIN
            plan.label_values[key] = self.labels[int(order[0])] if ok else None

    def _named(self, plan: SourcePlan, value: Any) -> str:
        """A numeric label id as its source's class name, where the names are known."""
        if plan.label_names and not isinstance(value, bool):
            text = str(value).strip()
            if re.fullmatch(r"-?\d+", text):
                idx = int(text)
                if 0 <= idx < len(plan.label_names):
                    return plan.label_names[idx]
        return "true" if value is True else "false" if value is False else str(value)

    def _symbolic(self, text: str) -> str | None:
        assert self.labels is not None
        label = canonical_label(text, self.labels)
        if label is not None:
            return label
        mapped = self._label_map.get(normalise_label(text))
        if mapped is not None:
            return canonical_label(mapped, self.labels)
        for alias in _BOOLEAN_ALIASES.get(normalise_label(text), ()):
            label = canonical_label(alias, self.labels)
            if label is not None:
                return label
        return None

    # ---- labels of retrieved rows (retrieval's per-label quotas) ------------------------------
    def row_labels(self, items: Sequence[dict[str, Any]]) -> list[str | None]:
        """Each item's own label mapped onto the task's labels, as :meth:`map_item` would map it;
        None when its source has no column whose values map onto the labels, or the value maps
        onto none. Retrieval calls this (passed in: it sits below this stage) for per-label quotas;
        only the label column is planned, from the first ``plan_rows`` items seen per source."""
        if not self.labels or not self.label_field:
            return [None] * len(items)
        by_source: dict[str, list[dict[str, Any]]] = {}
        for it in items:
            by_source.setdefault(str(it.get("source")), []).append(it)
        values: dict[str, dict[int, Any]] = {}
        for source, group in by_source.items():
            plan = self._label_plan(source, group)
            col = plan.columns.get(self.label_field)
            raw = {id(it): sc[col] for it in group if col is not None and col in (sc := item_columns(it)[1])}
            self.resolve_labels(plan, raw.values())
            values[source] = raw
        out: list[str | None] = []
        for it in items:
            source = str(it.get("source"))
            raw = values[source].get(id(it))
            plan = self.plans.get(source) or self._label_plans[source][0]
            out.append(None if raw is None else plan.label_values.get(self._raw_key(raw)))
        return out

    def _label_plan(self, source: str, items: Sequence[dict[str, Any]]) -> SourcePlan:
        """The source's label column (a full plan when one exists); re-planned while the sample grows."""
        if source in self.plans:
            return self.plans[source]
        plan, sample = self._label_plans.get(source, (None, []))
        if plan is not None and len(sample) >= self.settings.plan_rows:
            return plan
        seen = {id(it) for it in sample}
        sample = (sample + [it for it in items if id(it) not in seen])[: self.settings.plan_rows]
        plan = SourcePlan(source=source, label_field=self.label_field)
        plan.label_names = self._label_names(source, sample)
        scalars = [item_columns(it)[1] for it in sample]
        cols = sorted({c for sc in scalars for c in sc})
        best: tuple[float, str] | None = None
        if cols:
            name_sim = self._name_similarity([str(self.label_field)], cols)[0]
            for j, col in enumerate(cols):
                rate = self._label_rate(plan, [sc[col] for sc in scalars if col in sc])
                if rate >= _MIN_LABEL_RATE and (best is None or 0.7 * rate + 0.3 * name_sim[j] > best[0]):
                    best = (0.7 * rate + 0.3 * float(name_sim[j]), col)
        if best is None:
            plan.problem = "no column whose values map onto the labels"
        else:
            plan.columns[str(self.label_field)] = best[1]
        self._label_plans[source] = (plan, sample)
        return plan

    # ---- mapping ------------------------------------------------------------------------------
    def map_item(self, item: dict[str, Any], plan: SourcePlan | None = None) -> dict[str, Any]:
        """``{"input", "output"}`` in the task's shape for one item; raises :class:`SampleError`."""
        plan = plan or self.plan(str(item.get("source")), [item])
        if plan.problem:
            raise SampleError("no column", plan.problem)
        cells, scalars = item_columns(item)
        obj: dict[str, Any] = {}
        for name, col in plan.columns.items():
            if name == self.label_field:
                if col not in scalars:
                    raise SampleError("empty field", f"column {col!r} (for {name!r}) is missing in this row")
                raw = scalars[col]
                self.resolve_labels(plan, [raw])
                label = plan.label_values.get(self._raw_key(raw))
                if label is None:
                    shown = self._named(plan, raw)
                    raise SampleError(
                        "unmappable label",
                        f"{col}={shown!r} maps onto none of {self.labels} (add it to label_map)",
                    )
                obj[name] = label
            else:
                text = cells.get(col) or (str(scalars[col]) if col in scalars else "")
                if not text.strip():
                    raise SampleError("empty field", f"column {col!r} (for {name!r}) is empty in this row")
                obj[name] = text
        answer = self._layout(obj)
        inp, out, _ = validate_sample(self.task, answer)
        return {"input": inp, "output": out}

    def _layout(self, obj: dict[str, Any]) -> dict[str, Any]:
        t = self.task
        inp = {f: obj[f] for f in t.input_fields} if t.named_inputs else obj["input"]
        out = {f: obj[f] for f in t.output_fields} if t.named_outputs else obj["output"]
        return {"input": inp, "output": out}

    def map_items(
        self, items: Sequence[dict[str, Any]]
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None, SampleError | None]]:
        """(item, mapped or None, error or None) for each item, in input order; plans per source."""
        by_source: dict[str, list[dict[str, Any]]] = {}
        for it in items:
            by_source.setdefault(str(it.get("source")), []).append(it)
        for source, group in by_source.items():
            plan = self.plan(source, group)
            if self.label_field and not plan.problem:
                col = plan.columns[self.label_field]
                self.resolve_labels(plan, [sc[col] for _, sc in map(item_columns, group) if col in sc])
        for it in items:
            try:
                yield it, self.map_item(it, self.plans[str(it.get("source"))]), None
            except SampleError as e:
                yield it, None, e


def map_row(
    task: Task,
    item: dict[str, Any],
    *,
    settings: TransformSettings | None = None,
    mapper: Mapper | None = None,
) -> dict[str, Any]:
    """Map one retrieved item onto ``task`` without an LLM: ``{"input", "output"}`` or :class:`SampleError`.

    Pass a shared ``mapper`` to plan each source once; alone, the item's own row decides the columns.
    """
    mapper = mapper or Mapper(task, settings)
    return mapper.map_item(item)
