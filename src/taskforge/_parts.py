"""Plain-string inputs made of labelled parts: "Premise: ... Hypothesis: ...", "Context: ... Question: ...".

Users often write a pair task with one string per example instead of named fields. Retrieval
(compare each part with cells of the same role) and the mapper (fill every part, in the
examples' own layout) both need to see the parts, so they are found once, here: a part name is
a short phrase followed by a colon that every example uses, in the same order, the first one
at the very start of the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# "Premise:", "Question 1:", "Passage text:" at the start of the text or after whitespace/punctuation
_LABEL = re.compile(
    r"(?:^|(?<=[\s\"'.?!)\]]))([A-Za-z][A-Za-z0-9]*(?: [A-Za-z0-9]+){0,2}):[ \t]*(?:\n[ \t]*)?"
)


@dataclass(frozen=True)
class PartLayout:
    """The labelled parts every example input shares, and how the examples lay them out."""

    names: tuple[str, ...]  # as written: ("Premise", "Hypothesis")
    separator: str  # between parts: "\n" or " "

    @property
    def fields(self) -> tuple[str, ...]:
        """Field names for the parts: ``("premise", "hypothesis")``."""
        return tuple(field_name(n) for n in self.names)

    def split(self, text: str) -> dict[str, str] | None:
        """``{field: value}`` when ``text`` carries every part in order, else None."""
        pos, found = 0, []
        for name in self.names:
            m = _find_label(text, name, pos)
            if m is None:
                return None
            found.append(m)
            pos = m.end()
        if text[: found[0].start()].strip():
            return None
        values = {}
        for k, m in enumerate(found):
            stop = found[k + 1].start() if k + 1 < len(found) else len(text)
            values[field_name(self.names[k])] = text[m.end() : stop].strip()
        return values

    def join(self, values: Mapping[str, str]) -> str:
        """One string in the examples' layout from ``{field: value}`` (every part required)."""
        return self.separator.join(
            f"{name}: {values[field].strip()}" for name, field in zip(self.names, self.fields, strict=True)
        )


def field_name(label: str) -> str:
    """``"Question 1"`` -> ``"question_1"``."""
    return re.sub(r"\W+", "_", label.strip().lower()).strip("_")


def _find_label(text: str, name: str, start: int) -> re.Match[str] | None:
    for m in _LABEL.finditer(text, start):
        if m.group(1).lower() == name.lower():
            return m
    return None


def detect_parts(texts: Sequence[str], *, min_parts: int = 2) -> PartLayout | None:
    """The parts shared by every text (at least ``min_parts``), or None when the texts are plain.

    Candidate names come from the first text; a name is kept when every text has it, in the
    same order, so a stray "Note:" inside one example's content does not count.
    """
    texts = [t for t in texts if isinstance(t, str)]
    if not texts:
        return None
    first = [m for m in _LABEL.finditer(texts[0]) if m.group(1)]
    if not first or texts[0][: first[0].start()].strip():
        return None
    names: list[str] = []
    for m in first:
        candidate = m.group(1)
        if candidate.lower() in (n.lower() for n in names):
            continue
        trial = PartLayout((*names, candidate), "\n")
        if all(trial.split(t) is not None for t in texts):
            names.append(candidate)
    if len(names) < min_parts:
        return None
    layout = PartLayout(tuple(names), "\n")
    if any(not all(layout.split(t).values()) for t in texts):  # type: ignore[union-attr]
        return None  # an empty part: the colon was punctuation, not a label
    separator = "\n" if all(_newline_between(t, names) for t in texts) else " "
    return PartLayout(tuple(names), separator)


def _newline_between(text: str, names: Sequence[str]) -> bool:
    pos, starts = 0, []
    for name in names:
        m = _find_label(text, name, pos)
        assert m is not None
        starts.append(m.start())
        pos = m.end()
    return all(text[:s].rstrip(" \t").endswith("\n") for s in starts[1:])


__all__ = ["PartLayout", "detect_parts", "field_name"]
