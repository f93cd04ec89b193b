"""Decontamination: n-gram overlap between samples and the evaluation sets the user names.

Text is tokenised like ROUGE (lowercase alphanumeric runs), so punctuation and case do not
hide a copy. N-grams (n=13 by default, as in GPT-3's decontamination; CRAFT reports 5-grams)
are taken from every text field of every eval row, and from each row's fields joined in
order (catching an n-gram that spans e.g. premise and hypothesis); the same for a sample's
input and output fields. A text shorter than n tokens has no n-grams and cannot match:
short labels ("yes", "entailment") would otherwise match everything.

N-grams are stored as 64-bit hashes in a sorted numpy array and looked up with ``np.isin``,
so a large eval set costs 8 bytes per distinct n-gram.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taskforge._errors import BadDataError
from taskforge._io import read_jsonl
from taskforge._quality._diversity import rouge_tokenize
from taskforge._quality._filters import Drop, Filter
from taskforge._records import Sample


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, in document order."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def read_eval_rows(path: str | Path) -> list[list[str]]:
    """The text fields of each row of an eval file (JSONL, JSON or CSV/TSV)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return [list(_strings(r)) for r in read_jsonl(path)]
    if suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter="\t" if suffix == ".tsv" else ",")
            next(reader, None)  # header
            return [[c for c in row if c] for row in reader]
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):  # {"data": [...]} or {"test": [...]}: the longest list of rows
            lists = [v for v in data.values() if isinstance(v, list)]
            data = max(lists, key=len) if lists else [data]
        if not isinstance(data, list):
            data = [data]
        return [list(_strings(r)) for r in data]
    raise BadDataError(f"{path}: eval sets must be .jsonl, .json, .csv or .tsv")


def eval_name(path: Path, taken: set[str]) -> str:
    """A readable unique name for an eval file: its stem, else parent/stem."""
    name = path.stem
    if name in taken:
        name = f"{path.parent.name}/{path.stem}"
    base, k = name, 2
    while name in taken:
        name, k = f"{base}#{k}", k + 1
    taken.add(name)
    return name


def _gram_hashes(tokens: list[str], n: int) -> list[int]:
    return [hash(" ".join(tokens[i : i + n])) for i in range(len(tokens) - n + 1)]


def _texts_of_row(fields: Sequence[str]) -> list[str]:
    return [*fields, "\n".join(fields)] if len(fields) > 1 else list(fields)


@dataclass
class NgramIndex:
    """Sorted unique 64-bit hashes of an eval set's n-grams."""

    name: str
    n: int
    hashes: np.ndarray
    rows: int

    @classmethod
    def build(cls, name: str, rows: Sequence[Sequence[str]], n: int) -> NgramIndex:
        grams: list[int] = []
        for fields in rows:
            for text in _texts_of_row(fields):
                grams.extend(_gram_hashes(rouge_tokenize(text), n))
        return cls(name, n, np.unique(np.array(grams, dtype=np.int64)), len(rows))

    @classmethod
    def from_file(cls, path: str | Path, n: int, name: str | None = None) -> NgramIndex:
        path = Path(path)
        return cls.build(name or path.stem, read_eval_rows(path), n)


def _sample_fields(sample: Sample) -> list[str]:
    fields: list[str] = []
    for part in ("input", "output"):
        value = sample.get(part)
        parts = list(_strings(value))
        fields.extend(_texts_of_row(parts))
    return fields


class DecontaminationFilter(Filter):
    """Drop samples sharing an n-gram with an eval set; always report the overlap rate per set.

    With ``drop=False`` it only measures (CRAFT's contamination report) and keeps everything.
    """

    name = "decontamination"

    def __init__(self, indexes: Sequence[NgramIndex], *, drop: bool = True) -> None:
        super().__init__()
        self.indexes, self.drop = list(indexes), drop
        self.hits = {ix.name: 0 for ix in self.indexes}
        self.gram_hits = {ix.name: 0 for ix in self.indexes}
        self.grams_checked = 0

    def decide(self, samples: Sequence[Sample]) -> list[Drop | None]:
        if not self.indexes:
            return [None] * len(samples)
        n = self.indexes[0].n
        per_sample: list[tuple[list[int], list[str]]] = []
        for s in samples:
            hashes: list[int] = []
            texts: list[str] = []
            for text in _sample_fields(s):
                toks = rouge_tokenize(text)
                for i in range(len(toks) - n + 1):
                    gram = " ".join(toks[i : i + n])
                    hashes.append(hash(gram))
                    texts.append(gram)
            per_sample.append((hashes, texts))
        flat = np.array([h for hs, _ in per_sample for h in hs], dtype=np.int64)
        owner = np.repeat(np.arange(len(samples)), [len(hs) for hs, _ in per_sample])
        offsets = np.concatenate([[0], np.cumsum([len(hs) for hs, _ in per_sample])])
        self.grams_checked += len(flat)
        out: list[Drop | None] = [None] * len(samples)
        for ix in self.indexes:
            found = np.isin(flat, ix.hashes, assume_unique=False)
            self.gram_hits[ix.name] += int(found.sum())
            contaminated = np.unique(owner[found])
            self.hits[ix.name] += len(contaminated)
            if not self.drop:
                continue
            for i in contaminated:
                if out[i] is None:
                    first = int(np.flatnonzero(found[offsets[i] : offsets[i + 1]])[0])
                    gram = per_sample[i][1][first]
                    out[i] = Drop(f"shares {n}-gram(s) with eval set {ix.name!r}, e.g. {gram!r}")
        return out

    def report(self) -> dict[str, Any]:
        checked = self.seen
        return {
            "contamination": {
                name: {
                    "n": self.hits[name],
                    "rate": self.hits[name] / checked if checked else 0.0,
                    "checked": checked,
                    "ngram": self.indexes[0].n,
                    "ngram_rate": self.gram_hits[name] / self.grams_checked if self.grams_checked else 0.0,
                    "filtered": self.drop,
                }
                for name in self.hits
            }
        }
