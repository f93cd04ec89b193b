"""The no-LLM path: map a retrieved row that already fits the task onto the task's fields.

This is the papers' "retrieved data" baseline and the offline default. A plan is made once per
source (every row of a source has the same columns), from a sample of its rows:

1. prompt wrappers are learnt and cut (:mod:`._wrappers`): a T0 row's "Is this product review
   positive?\nTitle: ...\nReview: ...\nAnswer:" becomes columns ``prompt.title`` and
   ``prompt.review``; end-of-text tokens go; the raw row stays in the sample's provenance;
2. each task field (each labelled part of a plain-string input, "Premise: ... Hypothesis: ...",
   counts as a field) is scored against each column by the similarity of their values (embedded
   cells vs the examples' values of that field), of their names, and of their lengths; fields get
   columns by a one-to-one assignment (Hungarian), so every part is filled from its own column and
   the input is written in the examples' own layout;
3. a labelled output field goes to the column whose values best map onto the task's labels (from
   the output_schema, or inferred from the examples); each distinct value is mapped once by the
   rules of :mod:`._labels`, and what does not map is reported with a suggested ``label_map``.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from taskforge._cells import flatten, text_cells
from taskforge._embed import Encoder
from taskforge._errors import SettingsError
from taskforge._settings import TransformSettings
from taskforge._task import Task
from taskforge._transform._labels import ColumnLabels, LabelSet, report
from taskforge._transform._parsing import SampleError, canonical_label, normalise_label, validate_sample
from taskforge._transform._wrappers import Wrapper, learn_wrappers, strip_special

# Generic field names say little on their own; compare column names with what they usually mean.
_NAME_HINTS = {
    "input": (
        "question",
        "prompt",
        "query",
        "text",
        "sentence",
        "problem",
        "review",
        "passage",
        "article",
        "content",
    ),
    "output": ("answer", "response", "solution", "target", "completion"),
    "text": ("document", "passage", "content", "context"),
    "label": ("class", "category", "gold label"),
}
_LABEL_MARGIN = 0.05
_MIN_TEXT_SCORE = 0.1
_MIN_LABEL_RATE = 0.01  # any mapped value: rows whose label does not map are rejected one by one
_PLAN_CHARS = 300  # the model reads ~256 tokens; longer cells only slow planning down
_MAX_CATEGORIES = 20
_MAX_LABEL_CHARS = 40  # longer values are text, not class labels
_WRAPPER_ROWS = 64  # rows per source a wrapper is learnt from (string work only: cheap)
_LABEL_ROWS = 2000  # rows per source whose label values choose the label column (dict work only)
_SUGGEST_ROWS = 16  # rows per unmapped label value whose inputs suggest which label it means


_VECTORS: dict[tuple[Any, str], np.ndarray] = {}  # per-process memo: plans of a run re-embed the same texts
_VECTORS_MAX = 50_000


@dataclass
class SourcePlan:
    """How the rows of one source map onto the task: field -> column, label value -> task label."""

    source: str
    columns: dict[str, str] = field(default_factory=dict)  # task field -> flattened column
    scores: dict[str, float] = field(default_factory=dict)  # task field -> assignment score
    label_field: str | None = None
    labels: ColumnLabels | None = None  # the label column's values -> task labels
    label_names: list[str] | None = None
    wrappers: dict[str, Wrapper] = field(default_factory=dict)  # column -> its prompt wrapper
    question_label: str | None = None  # the label a wrapper asks about ("Is this review positive?")
    label_candidate: ColumnLabels | None = None  # no label column: the likeliest one, for the report
    problem: str | None = None  # why no row of this source can be mapped
    rows_seen: int = 0  # rows the plan was made from

    @property
    def label_values(self) -> dict[str, str | None]:
        """Normalised raw value -> task label (None: does not map)."""
        return self.labels.values if self.labels is not None else {}

    def describe(self) -> str:
        if self.problem:
            return f"{self.source}: {self.problem}"
        cut = f" (wrappers cut: {', '.join(self.wrappers)})" if self.wrappers else ""
        return (
            f"{self.source}: "
            + ", ".join(f"{f}<-{c} ({self.scores.get(f, 0):.2f})" for f, c in self.columns.items())
            + cut
        )


def _unit(vec: np.ndarray) -> np.ndarray:
    return vec / (float(np.linalg.norm(vec)) or 1.0)


def _units(rows: np.ndarray) -> np.ndarray:
    return rows / (np.linalg.norm(rows, axis=1, keepdims=True) + 1e-9)


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
        self.parts = task.input_parts()
        if self.parts is not None and set(self.parts.fields) & set(task.output_fields):
            self.parts = None  # a part named like an output field: keep the input whole
        inputs = list(self.parts.fields) if self.parts is not None else list(task.input_fields)
        self.text_fields = inputs + [f for f in task.output_fields if f != self.label_field]
        unknown = {
            v
            for v in self.settings.label_map.values()
            if self.labels and canonical_label(v, self.labels) is None
        }
        if unknown:
            raise SettingsError(
                f"transform.label_map: {sorted(unknown)} not among the task's labels {self.labels}"
            )
        self.label_set = LabelSet(self.labels, self.settings.label_map) if self.labels else None
        self._field_vecs: dict[str, np.ndarray] | None = None
        self._field_lens: dict[str, float] = {}
        self._label_vecs: np.ndarray | None = None
        self.plans: dict[str, SourcePlan] = {}
        self._label_plans: dict[str, SourcePlan] = {}  # label column only (row_labels)
        self._label_rows: dict[str, list[dict[str, Any]]] = {}  # rows a label plan was made from
        self._rows: dict[str, list[dict[str, Any]]] = {}  # rows a plan was made from, per source

    @property
    def embedder(self) -> Encoder:
        if self._embedder is None:
            from taskforge._embed import Embedder

            self._embedder = Embedder.load(None)
        return self._embedder

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in one batch, reusing vectors this process has already computed."""
        emb = self.embedder
        tag = emb.name
        missing = list(dict.fromkeys(t for t in texts if (tag, t) not in _VECTORS))
        if missing:
            if len(_VECTORS) + len(missing) > _VECTORS_MAX:
                _VECTORS.clear()
            for t, v in zip(missing, emb.encode(missing), strict=True):
                _VECTORS[(tag, t)] = v
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([_VECTORS[(tag, t)] for t in texts])

    # ---- rows ---------------------------------------------------------------------------------
    @staticmethod
    def _unwrap(item: dict[str, Any], wrappers: dict[str, Wrapper]) -> tuple[dict[str, str], dict[str, Any]]:
        """(text cells, scalars) of an item with end-of-text tokens and learnt wrappers cut."""
        cells, scalars = item_columns(item)
        cells = {k: strip_special(v) if "<" in v else v for k, v in cells.items()}
        scalars = {k: strip_special(v) if isinstance(v, str) and "<" in v else v for k, v in scalars.items()}
        for col, wrapper in wrappers.items():
            text = cells.get(col) or scalars.get(col)
            parts = wrapper.cut(text) if isinstance(text, str) else None
            if parts is None:
                continue
            for view in (cells, scalars):
                view.pop(col, None)
                view.update(parts)
        return cells, scalars

    def _learn_wrappers(self, items: Sequence[dict[str, Any]]) -> dict[str, Wrapper]:
        columns: dict[str, list[str]] = {}
        for it in items[:_WRAPPER_ROWS]:
            for col, text in item_columns(it)[0].items():
                columns.setdefault(col, []).append(strip_special(text) if "<" in text else text)
        return learn_wrappers(columns)

    def provenance(self, item: dict[str, Any]) -> dict[str, Any]:
        """What the mapper cut from this item: ``{"wrappers": {column: template}, "raw": {column: text}}``."""
        plan = self.plans.get(str(item.get("source")))
        if plan is None or not plan.wrappers:
            return {}
        used = set(plan.columns.values())
        cells, scalars = item_columns(item)
        out: dict[str, Any] = {"wrappers": {}, "raw": {}}
        for col, wrapper in plan.wrappers.items():
            text = cells.get(col) or scalars.get(col)
            if not isinstance(text, str) or not used & (set(wrapper.cut(strip_special(text)) or ())):
                continue
            out["wrappers"][col] = wrapper.pattern()
            out["raw"][col] = text
        return out if out["wrappers"] else {}

    # ---- planning -----------------------------------------------------------------------------
    def _example_values(self, name: str) -> list[str]:
        out = []
        for e in self.task.examples:
            if self.parts is not None and name in self.parts.fields:
                out.append((self.parts.split(str(e.input)) or {}).get(name, ""))
                continue
            side = e.input if name in self.task.input_fields else e.output
            out.append(Task.text_of(side.get(name) if isinstance(side, dict) else side))
        return out

    def _prepare(self) -> None:
        if self._field_vecs is not None:
            return
        self._field_vecs = {}
        for name in self.text_fields:
            values = self._example_values(name)
            self._field_vecs[name] = _unit(self._encode([v[:_PLAN_CHARS] for v in values]).mean(axis=0))
            self._field_lens[name] = float(np.mean([len(v) for v in values])) or 1.0
        if self.labels:
            self._label_vecs = self._encode(list(self.labels))

    def _rows_for(
        self,
        pending: dict[str, list[dict[str, Any]]],
        source: str,
        items: Sequence[dict[str, Any]],
        cached: SourcePlan | None,
    ) -> list[dict[str, Any]] | None:
        """The rows to (re)make ``source``'s plan from: those of earlier calls plus ``items`` (up to
        ``_LABEL_ROWS``, each once); None when ``cached`` saw ``plan_rows`` or as many rows already.

        ``pending`` holds the rows per source until ``plan_rows`` of them are in hand (then that plan
        stays and they are let go); :meth:`plan` and :meth:`label_plan` keep one each."""
        if cached is not None and cached.rows_seen >= self.settings.plan_rows:
            return None
        seen = pending.setdefault(source, [])
        known = {id(it) for it in seen}
        seen.extend(it for it in items[:_LABEL_ROWS] if id(it) not in known)
        del seen[_LABEL_ROWS:]
        if cached is not None and cached.rows_seen >= len(seen):
            return None
        if len(seen) >= self.settings.plan_rows:
            del pending[source]  # enough rows: this plan stays
        return seen

    def _new_plan(self, source: str, rows: list[dict[str, Any]]) -> SourcePlan:
        """What every plan starts from: the source's wrappers, the label a wrapper's question asks
        about, and the label names of the source's card."""
        plan = SourcePlan(source=source, label_field=self.label_field, rows_seen=len(rows))
        plan.wrappers = self._learn_wrappers(rows)
        if self.label_set is not None and plan.wrappers:
            asked = " ".join(re.sub(r"\{[^}]*\}", " ", w.pattern()) for w in plan.wrappers.values())
            plan.question_label = self.label_set.asked_about(asked)
        plan.label_names = self._label_names(source, rows[: self.settings.plan_rows])
        return plan

    def plan(self, source: str, items: Sequence[dict[str, Any]]) -> SourcePlan:
        """Choose this source's columns from (a sample of) its items; cached per source.

        A plan made from fewer than ``plan_rows`` rows is made again when later calls bring more
        rows of the source (callers that go batch by batch, such as selection by label, see a
        few rows of each source at a time; a wrapper or a label column needs more to be seen).
        """
        cached = self.plans.get(source)
        rows = self._rows_for(self._rows, source, items, cached)
        if rows is None:
            return cached  # type: ignore[return-value]  # None only beside a cached plan
        self._prepare()
        plan = self._new_plan(source, rows)
        sample = list(rows[: self.settings.plan_rows])
        cells = [self._unwrap(it, plan.wrappers) for it in sample]
        text_cols = sorted({c for cs, _ in cells for c in cs})
        cols = sorted(set(text_cols) | {c for _, sc in cells for c in sc})
        names = list(self.text_fields) + ([self.label_field] if self.label_field else [])
        score = np.full((len(names), len(cols)), -1.0)
        name_sim = self._name_similarity(names, cols)
        self._score_text(score, cols, cells, text_cols, name_sim)
        candidates: dict[str, ColumnLabels] = {}
        if self.label_field:
            # label values are judged on every row at hand (no embedding needed): the first rows of a
            # source may all carry the one value that does not map
            label_rows = [self._unwrap(it, plan.wrappers)[1] for it in rows[:_LABEL_ROWS]]
            for j, col in enumerate(cols):
                raw = [sc[col] for sc in label_rows if col in sc]
                found = self._label_rate(plan, col, raw)
                if found is None:
                    continue
                rate, candidates[col] = found
                if rate >= _MIN_LABEL_RATE:
                    score[len(names) - 1, j] = 0.7 * rate + 0.3 * name_sim[len(names) - 1, j] + 1.0
        self._assign(plan, names, cols, score)
        if self.label_field:
            chosen = plan.columns.get(self.label_field)
            if chosen is not None:
                plan.labels = candidates[chosen]
            elif candidates:  # for the report: the label-like column whose name is most like the field
                best = max(candidates, key=lambda c: name_sim[len(names) - 1, cols.index(c)])
                plan.label_candidate = candidates[best]
        self.plans[source] = plan
        return plan

    def _score_text(
        self,
        score: np.ndarray,
        cols: list[str],
        cells: list[tuple[dict[str, str], dict[str, Any]]],
        text_cols: list[str],
        name_sim: np.ndarray,
    ) -> None:
        """Fill the text fields' rows of ``score``: value, name and length similarity, one encode call."""
        values = {c: [cs[c][:_PLAN_CHARS] for cs, _ in cells if cs.get(c, "").strip()] for c in text_cols}
        vecs = self._encode([v for c in text_cols for v in values[c]])
        start = 0
        assert self._field_vecs is not None
        for j, col in enumerate(cols):
            if not values.get(col):
                continue
            n = len(values[col])
            vec = _unit(
                vecs[start : start + n].mean(axis=0)
            )  # centroid cosine: means of varied texts are short
            start += n
            mean_len = float(np.mean([len(cs[col]) for cs, _ in cells if cs.get(col, "").strip()]))
            for i, f in enumerate(self.text_fields):
                value_sim = float(vec @ self._field_vecs[f])
                len_sim = math.exp(-abs(math.log(mean_len / self._field_lens[f])))
                score[i, j] = 0.5 * value_sim + 0.35 * name_sim[i, j] + 0.15 * len_sim

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
                return  # the fields assigned so far stay: the label report shows their rows
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
            if n == self.label_field and n != "label":
                words += ["label", *_NAME_HINTS["label"]]
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

    def _label_rate(self, plan: SourcePlan, col: str, raw: list[Any]) -> tuple[float, ColumnLabels] | None:
        """(share of a column's values that map onto a label or are ambiguous between labels, the
        mapping); None for free text and empty columns."""
        raw = [v for v in raw if v is not None and str(v).strip()]
        if not raw:
            return None
        distinct = {self._raw_key(v) for v in raw}
        if (
            np.mean([len(str(v)) for v in raw]) > _MAX_LABEL_CHARS
            or len(distinct) > _MAX_CATEGORIES
            or len(distinct) > max(4, len(raw) // 2)  # free text: (nearly) every value differs
        ):
            return None
        mapping = ColumnLabels(col)
        self.resolve_labels(plan, raw, mapping)
        return mapping.recognised_share(raw, self._raw_key), mapping

    # ---- labels -----------------------------------------------------------------------------------
    @staticmethod
    def _raw_key(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return normalise_label(value)

    def resolve_labels(
        self, plan: SourcePlan, values: Iterable[Any], mapping: ColumnLabels | None = None
    ) -> None:
        """Map each new distinct raw value onto a task label (None when it does not map); batched.

        ``mapping``: the column's mapping to fill (default: the plan's label column).
        """
        assert self.label_set is not None and self.labels is not None
        col = mapping if mapping is not None else plan.labels
        if col is None:
            return
        todo: dict[str, str] = {}
        for v in values:
            key = self._raw_key(v)
            if key in col.values or key in todo:
                continue
            text = self._named(plan, v)
            col.shown[key] = text
            label, rule = self.label_set.symbolic(text, plan.question_label)
            if rule:
                col.values[key], col.rules[key] = label, rule
            else:
                todo[key] = text
        if todo:
            if self._label_vecs is None:
                self._label_vecs = self._encode(list(self.labels))
            keys = list(todo)
            sims = self._encode([todo[k] for k in keys]) @ self._label_vecs.T
            for key, row in zip(keys, sims, strict=True):
                order = np.argsort(-row)
                best = float(row[order[0]])
                second = float(row[order[1]]) if len(order) > 1 else -1.0
                ok = best >= self.settings.label_threshold and best - second >= _LABEL_MARGIN
                col.values[key] = self.labels[int(order[0])] if ok else None
                col.rules[key] = "similarity" if ok else "none"
        col.absorb(self.label_set)

    def _named(self, plan: SourcePlan, value: Any) -> str:
        """A numeric label id as its source's class name, where the names are known."""
        if plan.label_names and not isinstance(value, bool):
            text = str(value).strip()
            if re.fullmatch(r"-?\d+", text):
                idx = int(text)
                if 0 <= idx < len(plan.label_names):
                    return plan.label_names[idx]
        return "true" if value is True else "false" if value is False else str(value)

    def suggest(
        self, values: Sequence[str], columns: Sequence[ColumnLabels]
    ) -> list[tuple[str, dict[str, float]]]:
        """The label to suggest for each unmapped value, and why: ``{"name": cos, "rows": cos}``.

        ``name``: the value's own text against the label names. ``rows``: how the inputs of rows
        carrying the value differ from the other rows of their source (what sets "1 star" reviews
        apart from the source's other reviews), against each label's direction
        (:meth:`_label_directions`); used when a source shows the value beside other values.
        ``columns``: the label columns of the sources, with their rows' inputs.
        """
        assert self.labels is not None
        if self._label_vecs is None:
            self._label_vecs = self._encode(list(self.labels))
        name_sims = self._encode(list(values)) @ self._label_vecs.T
        row_sims = self._row_similarity(set(values), columns)
        out = []
        for value, name_sim in zip(values, name_sims, strict=True):
            why = {"name": round(float(name_sim.max()), 3)}
            best = int(np.argmax(name_sim))
            if value in row_sims:
                sims = row_sims[value]
                best = int(np.argmax(sims))
                why["rows"] = round(float(sims[best]), 3)
            out.append((self.labels[best], why))
        return out

    def _row_similarity(self, values: set[str], columns: Sequence[ColumnLabels]) -> dict[str, np.ndarray]:
        """Per value: mean over sources of cos(value's rows - source's centre, label direction)."""
        label_dirs = self._label_directions()
        sums: dict[str, list[np.ndarray]] = {}
        for col in columns:
            means = {k: self._encode(texts).mean(axis=0) for k, texts in col.samples.items() if texts}
            if len(means) < 2:
                continue  # one value alone: nothing to contrast it with
            centre = np.mean(list(means.values()), axis=0)
            for key, mean in means.items():
                shown = col.shown.get(key, key)
                if shown in values:
                    sums.setdefault(shown, []).append(label_dirs @ _unit(mean - centre))
        return {v: np.mean(s, axis=0) for v, s in sums.items()}

    def _label_directions(self) -> np.ndarray:
        """Per label, a unit direction in embedding space that sets it apart from the other labels.

        The sum of two unit vectors: "This is {label}." minus the mean of those sentences (the
        usual zero-shot anchor), and the label's examples' mean minus the mean of all examples
        (left out when a label has no example). With k = 3 examples the example part alone is
        noise-prone (measured on t0_yelp / t0_app_reviews rows: 6/10 values right; the sum 8/10).
        """
        assert self.labels is not None and self.label_field is not None
        anchors = self._encode([f"This is {lab}." for lab in self.labels])
        dirs = _units(anchors - anchors.mean(axis=0))
        by_label: dict[str, list[str]] = {lab: [] for lab in self.labels}
        for e in self.task.examples:
            value = Task.text_of(self.task.output_value(e.output, self.label_field))
            label = canonical_label(value, self.labels)
            if label is not None:
                by_label[label].append(Task.text_of(e.input)[:_PLAN_CHARS])
        if all(by_label.values()):
            means = np.stack([self._encode(texts).mean(axis=0) for texts in by_label.values()])
            dirs = dirs + _units(means - means.mean(axis=0))
        return _units(dirs)

    def label_report(self) -> dict[str, Any] | None:
        """Per source, each label value seen (rows, label, rule); what did not map; a suggested label_map."""
        if self.label_set is None:
            return None
        columns = {}
        problems = {}
        for source, plan in self.plans.items():
            col = plan.labels if plan.labels is not None else plan.label_candidate
            if col is not None and col.rows:
                columns[source] = col
                if plan.problem:
                    problems[source] = plan.problem
        rep = report(columns, problems, self.label_set, self.suggest)
        rep["label_field"] = self.label_field
        rep["labels_inferred"] = self.task.labels_inferred
        return rep

    def row_labels(self, items: Sequence[dict[str, Any]]) -> list[str | None]:
        """Each item's own label mapped onto the task's labels (None when it does not map or has none)."""
        if self.label_set is None or self.label_field is None:
            return [None] * len(items)
        out: list[str | None] = []
        for raw, plan in self._label_cells(items):
            known = plan.labels is not None and raw is not None
            out.append(plan.labels.values.get(self._raw_key(raw)) if known else None)  # type: ignore[union-attr]
        return out

    def _label_cells(
        self, items: Sequence[dict[str, Any]]
    ) -> Iterator[tuple[dict[str, Any], Any, SourcePlan]]:
        """(item, raw label value or None, plan) in input order; plans and resolves per source first."""
        by_source: dict[str, list[dict[str, Any]]] = {}
        for it in items:
            by_source.setdefault(str(it.get("source")), []).append(it)
        raws: dict[int, Any] = {}
        plans: dict[str, SourcePlan] = {}
        for source, group in by_source.items():
            plan = plans[source] = self.label_plan(source, group)
            col = plan.columns.get(self.label_field or "")
            if col is None:
                continue
            for it in group:
                raws[id(it)] = self._unwrap(it, plan.wrappers)[1].get(col)
            self.resolve_labels(plan, [v for it in group if (v := raws[id(it)]) is not None])
        for it in items:
            yield raws.get(id(it)), plans[str(it.get("source"))]

    def label_plan(self, source: str, items: Sequence[dict[str, Any]]) -> SourcePlan:
        """A source's label column alone (the full :meth:`plan` when there is one): what
        :meth:`row_labels` needs, without embedding every text column (retrieval asks this of
        dozens of sources). Chosen as :meth:`plan` chooses it: the best label rate, then name."""
        if source in self.plans:
            return self.plan(source, items)
        cached = self._label_plans.get(source)
        rows = self._rows_for(self._label_rows, source, items, cached)  # made again as more rows come
        if rows is None:
            return cached  # type: ignore[return-value]  # None only beside a cached plan
        plan = self._new_plan(source, rows)
        sample = list(rows[: self.settings.plan_rows])
        scalars = [self._unwrap(it, plan.wrappers)[1] for it in sample]
        cols = sorted({c for sc in scalars for c in sc})
        name_sim = self._name_similarity([str(self.label_field)], cols)[0] if cols else None
        best: tuple[float, str, ColumnLabels] | None = None
        for j, col in enumerate(cols):
            found = self._label_rate(plan, col, [sc[col] for sc in scalars if col in sc])
            if found is not None and found[0] >= _MIN_LABEL_RATE:
                value = 0.7 * found[0] + 0.3 * float(name_sim[j])  # type: ignore[index]
                if best is None or value > best[0]:
                    best = (value, col, found[1])
        if best is None:
            plan.problem = f"no column whose values map onto the labels for field {self.label_field!r}"
        else:
            plan.columns[str(self.label_field)], plan.labels = best[1], best[2]
        self._label_plans[source] = plan
        return plan

    # ---- mapping ------------------------------------------------------------------------------
    def map_item(self, item: dict[str, Any], plan: SourcePlan | None = None) -> dict[str, Any]:
        """``{"input", "output"}`` in the task's shape for one item; raises :class:`SampleError`."""
        plan = plan or self.plan(str(item.get("source")), [item])
        cells, scalars = self._unwrap(item, plan.wrappers)
        if plan.problem:
            cand = plan.label_candidate
            if cand is not None and cand.column in scalars:
                self.resolve_labels(plan, [scalars[cand.column]], cand)
                key = self._raw_key(scalars[cand.column])
                cand.count(key, self._context(plan, cells)[:_PLAN_CHARS], _SUGGEST_ROWS)
            raise SampleError("no column", plan.problem)
        obj: dict[str, Any] = {}
        for name, col in plan.columns.items():
            if name == self.label_field:
                continue
            text = cells.get(col) or (str(scalars[col]) if col in scalars else "")
            if not text.strip():
                if self.parts is not None and name in self.parts.fields:
                    raise SampleError(
                        "missing part", f"{name!r} of the input: column {col!r} is empty or missing"
                    )
                raise SampleError("empty field", f"column {col!r} (for {name!r}) is empty in this row")
            obj[name] = text
        if self.label_field in plan.columns:
            context = self._context(plan, cells)
            obj[self.label_field] = self._label_of(plan, plan.columns[self.label_field], scalars, context)
        answer = self._layout(obj)
        inp, out, _ = validate_sample(self.task, answer)
        return {"input": inp, "output": out}

    def _context(self, plan: SourcePlan, cells: dict[str, str]) -> str:
        """The row's input text (its input fields' columns), which tells what an unmapped label means."""
        fields = [f for f in self.text_fields if f not in self.task.output_fields]
        return "\n".join(cells[plan.columns[f]] for f in fields if plan.columns.get(f) in cells)

    def _label_of(self, plan: SourcePlan, col: str, scalars: dict[str, Any], context: str) -> str:
        """The row's label; unmapped values keep a few rows' inputs for the suggested label_map."""
        if col not in scalars:
            raise SampleError(
                "empty field", f"column {col!r} (for {self.label_field!r}) is missing in this row"
            )
        raw = scalars[col]
        self.resolve_labels(plan, [raw])
        assert plan.labels is not None
        key = self._raw_key(raw)
        plan.labels.count(key, context[:_PLAN_CHARS], _SUGGEST_ROWS)
        label = plan.labels.values.get(key)
        if label is None:
            shown = self._named(plan, raw)
            ambiguous = self.label_set.ambiguous_choices(shown) if self.label_set else None
            why = f" (ambiguous: any of {ambiguous})" if ambiguous else " (add it to label_map)"
            raise SampleError("unmappable label", f"{col}={shown!r} maps onto none of {self.labels}{why}")
        return label

    def _layout(self, obj: dict[str, Any]) -> dict[str, Any]:
        t = self.task
        if self.parts is not None:
            inp: Any = self.parts.join({f: obj[f] for f in self.parts.fields})
        else:
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
                raws = [sc[col] for _, sc in (self._unwrap(it, plan.wrappers) for it in group) if col in sc]
                self.resolve_labels(plan, raws)
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
