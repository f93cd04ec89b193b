"""A source's raw label values -> the task's labels, by rules tried in order, and a report of the rest.

Rules, per distinct value of a source's label column (each value is resolved once):

1. ``exact``: the value spells a task label (case, spaces and separators aside);
2. ``label_map``: the user's ``label_map`` names it;
3. ``boolean``: yes/no <-> true/false;
4. ``question``: a yes/no answer to a wrapper that asks about one label ("Is this product review
   positive?" -> yes = positive, no = its opposite);
5. ``negation``: "not X" where X is one of two labels is the other one; with three or more
   labels it is ambiguous and never maps (a 3-way task never gets a label it does not have);
6. ``similarity``: embedding similarity to the labels above a threshold, with a margin;
7. ``absorbed``: a task with labels X and not_X ("entailment" / "not_entailment") takes every other
   value of a source whose values include X as not_X (neutral, contradiction -> not_entailment).

What does not map is counted per source and value, with a suggested ``label_map``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from taskforge._transform._parsing import canonical_label, normalise_label

_BOOLEAN_ALIASES = {"true": ("yes",), "false": ("no",), "yes": ("true",), "no": ("false",)}
_YES = frozenset({"yes", "true"})
_NO = frozenset({"no", "false"})
_NEGATION = re.compile(r"^(?:not|non|no)_(.+)$")
_NAME_ONLY_MIN = 0.5  # cosine a value's name needs to a label to be suggested without rows behind it
_LABEL_LIKE = re.compile(r"^(?=.*[A-Za-z]{2})\w[\w /&'-]{0,39}$")  # "neutral", "5 stars", "__label__4"


def negated(key: str) -> str | None:
    """``not_entailment`` / ``non-toxic`` / ``no answer`` -> the label key they negate."""
    m = _NEGATION.match(key)
    return m.group(1) if m else None


def label_like(text: str) -> bool:
    """A value that reads as a class name (a word or few), not an id, a number or a sentence."""
    return bool(_LABEL_LIKE.match(text.strip()))


class LabelSet:
    """The task's labels and the symbolic rules over them (everything but embedding similarity)."""

    def __init__(self, labels: list[str], label_map: dict[str, str]) -> None:
        self.labels = list(labels)
        self.label_map = {normalise_label(k): v for k, v in label_map.items()}
        by_key = {normalise_label(lab): lab for lab in self.labels}
        # X -> not_X for the pairs the task itself has ("entailment" / "not_entailment")
        self.negations = {
            by_key[base]: lab for key, lab in by_key.items() if (base := negated(key)) and base in by_key
        }

    def canonical(self, text: str) -> str | None:
        return canonical_label(text, self.labels)

    def opposite(self, label: str) -> str | None:
        """not_X for X when the task has it; else the other label of a two-label task."""
        if label in self.negations:
            return self.negations[label]
        for base, neg in self.negations.items():
            if label == neg:
                return base
        if len(self.labels) == 2:
            return next(lab for lab in self.labels if lab != label)
        return None

    def symbolic(self, text: str, question_label: str | None = None) -> tuple[str | None, str]:
        """(label, rule) by rules 1-5 of the module docstring; ``(None, "")`` when they all pass."""
        key = normalise_label(text)
        label = self.canonical(text)
        if label is not None:
            return label, "exact"
        if key in self.label_map:
            return self.canonical(self.label_map[key]), "label_map"
        for alias in _BOOLEAN_ALIASES.get(key, ()):
            label = self.canonical(alias)
            if label is not None:
                return label, "boolean"
        if question_label is not None and key in _YES | _NO:
            return (question_label if key in _YES else self.opposite(question_label)), "question"
        base = negated(key)
        if base is not None and (target := self.canonical(base)) is not None:
            return self.opposite(target), "negation" if self.opposite(target) else "ambiguous"
        return None, ""

    def ambiguous_choices(self, text: str) -> list[str] | None:
        """For "not X" in a task of 3+ labels: the labels it could be (all but X); else None."""
        base = negated(normalise_label(text))
        target = self.canonical(base) if base else None
        if target is None or self.opposite(target) is not None:
            return None
        return [lab for lab in self.labels if lab != target]

    def asked_about(self, text: str) -> str | None:
        """The one label a wrapper's question names ("Is this product review positive?"), else None."""
        said = " " + re.sub(r"[\W_]+", " ", text.lower()) + " "
        named = [lab for lab in self.labels if f" {normalise_label(lab).replace('_', ' ')} " in said]
        bases = [lab for lab in named if not any(lab == neg for neg in self.negations.values())]
        return bases[0] if len(bases) == 1 and len(named) == 1 else None


@dataclass
class ColumnLabels:
    """How one source column's values map onto the task's labels, and how many rows each had."""

    column: str
    values: dict[str, str | None] = field(default_factory=dict)  # raw key -> task label or None
    rules: dict[str, str] = field(default_factory=dict)  # raw key -> rule that decided it
    shown: dict[str, str] = field(default_factory=dict)  # raw key -> the value as the source names it
    rows: Counter[str] = field(default_factory=Counter)  # raw key -> rows mapped or rejected
    samples: dict[str, list[str]] = field(default_factory=dict)  # raw key -> a few rows' inputs

    def count(self, key: str, context: str, keep: int) -> None:
        """One more row with value ``key``; the first ``keep`` rows' inputs are kept for suggestions."""
        self.rows[key] += 1
        kept = self.samples.setdefault(key, [])
        if len(kept) < keep and context:
            kept.append(context)

    def absorb(self, labels: LabelSet) -> None:
        """Rule 7: with X among this column's labels, its other label-like values become not_X."""
        present = {lab for k, lab in self.values.items() if lab is not None and self.rules[k] != "absorbed"}
        pairs = [(x, nx) for x, nx in labels.negations.items() if x in present]
        if len(pairs) != 1:
            return
        _, not_x = pairs[0]
        for key, lab in self.values.items():
            if lab is None and self.rules.get(key) != "ambiguous" and label_like(self.shown[key]):
                self.values[key], self.rules[key] = not_x, "absorbed"

    def recognised_share(self, raw: list[Any], key_of: Any) -> float:
        """Share of values that map, or that name the task's labels ambiguously ("not_entailment" in
        a 3-way task): either way this is the label column, and its unmapped rows are counted."""
        if not raw:
            return 0.0
        keys = [key_of(v) for v in raw]
        return sum(
            1 for k in keys if self.values.get(k) is not None or self.rules.get(k) == "ambiguous"
        ) / len(raw)


def report(
    sources: dict[str, ColumnLabels],
    problems: dict[str, str],
    labels: LabelSet,
    suggest: Any,
) -> dict[str, Any]:
    """The label report of a run: per source, each value seen with its rows and label; what did
    not map; a suggested ``label_map`` from ``suggest(values, columns) -> [(label, why)]``."""
    per_source: dict[str, Any] = {}
    unmapped: Counter[str] = Counter()
    for source, col in sorted(sources.items()):
        values = {}
        for key, n in col.rows.most_common():
            label, shown = col.values.get(key), col.shown.get(key, key)
            values[shown] = {"rows": n, "label": label, "rule": col.rules.get(key, "")}
            if label is None:
                unmapped[shown] += n
        entry: dict[str, Any] = {"column": col.column, "values": values}
        if source in problems:
            entry["problem"] = problems[source]
        per_source[source] = entry
    suggested: dict[str, str] = {}
    basis: dict[str, dict[str, float]] = {}
    ambiguous: dict[str, list[str]] = {}
    plain = []
    for text in unmapped:
        choices = labels.ambiguous_choices(text)
        if choices is not None:
            ambiguous[text] = choices
        elif normalise_label(text) not in _YES | _NO and label_like(text):
            plain.append(text)  # yes/no mean whatever each source's question asked: no global mapping
    for text, (label, why) in zip(
        plain, suggest(plain, list(sources.values())) if plain else [], strict=True
    ):
        basis[text] = why
        if "rows" in why or why["name"] >= _NAME_ONLY_MIN:
            suggested[text] = label  # a name alone, far from every label, suggests nothing
    return {
        "labels": labels.labels,
        "sources": per_source,
        "unmapped": dict(unmapped.most_common()),
        "unmapped_rows": sum(unmapped.values()),
        "suggested_label_map": suggested,
        "suggestion_basis": basis,
        "ambiguous": ambiguous,
    }


def report_lines(rep: dict[str, Any], max_values: int = 6) -> list[str]:
    """The report as console lines: unmapped values per source, then the label_map to try."""
    if not rep.get("unmapped_rows"):
        return []
    lines = [f"{rep['unmapped_rows']:,} rows have a label that maps onto none of {rep['labels']}:"]
    for source, entry in rep["sources"].items():
        missing = [(v, e["rows"]) for v, e in entry["values"].items() if e["label"] is None]
        if missing:
            shown = ", ".join(f"{v!r} x{n}" for v, n in missing[:max_values])
            more = f", +{len(missing) - max_values} more" if len(missing) > max_values else ""
            lines.append(f"  {source} ({entry['column']}): {shown}{more}")
    if rep["suggested_label_map"]:
        pairs = ", ".join(f"{k!r}: {v!r}" for k, v in rep["suggested_label_map"].items())
        lines.append(
            "  suggested label_map (from how each value's rows differ from the source's other rows, "
            "else from its name; a hint: check it, then put it in the task's "
            f"defaults.transform.label_map or pass --label-map RAW=LABEL): {{{pairs}}}"
        )
    for text, choices in rep["ambiguous"].items():
        lines.append(f"  {text!r} is ambiguous for this task (any of {choices}): left unmapped")
    return lines


__all__ = ["ColumnLabels", "LabelSet", "label_like", "negated", "report", "report_lines"]
