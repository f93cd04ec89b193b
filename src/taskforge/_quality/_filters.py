"""Quality-control steps: each keeps or drops samples and says why.

A step is a small class with a ``name`` and ``decide(samples) -> list[Drop | None]`` over the
whole batch (so it can vectorise); :meth:`Filter.apply` splits kept from rejected, writes
reject records and counts. Steps never reorder samples: "keep the first" means first in
the input order (transform writes best-ranked first).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from rapidfuzz import fuzz, process

from taskforge._quality._samples import example_samples, normalise
from taskforge._records import Sample, input_text, label_of, make_reject, output_text, sample_text
from taskforge._task import SINGLE_INPUT, SINGLE_OUTPUT, FieldSpec, Task


@dataclass
class Drop:
    """Why a sample is dropped; ``filter`` overrides the step's name (e.g. ``judge_error``)."""

    reason: str
    filter: str | None = None
    raw: str | None = None


class Filter:
    """Base step: subclasses set ``name`` and implement :meth:`decide`."""

    name: ClassVar[str] = "filter"
    #: every filter name this step can record (the funnel lists each, zeros included)
    names: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()
        self.seen = 0

    def decide(self, samples: Sequence[Sample]) -> list[Drop | None]:
        raise NotImplementedError

    def apply(self, samples: Sequence[Sample], rejects: list[dict[str, Any]]) -> list[Sample]:
        """Run the step; append reject records to ``rejects``; return the kept samples in order."""
        decisions = self.decide(samples) if samples else []
        kept: list[Sample] = []
        for sample, drop in zip(samples, decisions, strict=True):
            if drop is None:
                kept.append(sample)
                continue
            name = drop.filter or self.name
            self.dropped[name] += 1
            rejects.append(make_reject("filter", name, drop.reason, sample=sample, raw=drop.raw))
        self.seen += len(samples)
        return kept

    def counts(self) -> dict[str, int]:
        """Dropped per filter name, zeros included."""
        return {n: self.dropped.get(n, 0) for n in (self.names or (self.name,))} | dict(self.dropped)

    def report(self) -> dict[str, Any]:
        """Extra facts for funnel.json (e.g. contamination rates); empty by default."""
        return {}


# ---- format ------------------------------------------------------------------------------------
_INT_RE = re.compile(r"[+-]?\d+")


def _type_problem(value: Any, spec: FieldSpec) -> str | None:
    if spec.type == "string":
        return None if isinstance(value, str) else f"expected a string, got {type(value).__name__}"
    if spec.type == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and _INT_RE.fullmatch(value.strip())
        )
        return None if ok else f"expected an integer, got {value!r}"
    if spec.type == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return None
        try:
            float(str(value).replace(",", ""))
        except ValueError:
            return f"expected a number, got {value!r}"
        return None
    if spec.type == "boolean":
        ok = isinstance(value, bool) or str(value).strip().lower() in ("true", "false")
        return None if ok else f"expected a boolean, got {value!r}"
    return None if isinstance(value, list) else f"expected a list, got {type(value).__name__}"


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, dict)):
        return not value or all(_is_empty(v) for v in (value.values() if isinstance(value, dict) else value))
    return False


class FormatFilter(Filter):
    """The task's schema: fields present (no extras), types, allowed labels, lengths, no empty field."""

    name = "format"

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task

    def decide(self, samples: Sequence[Sample]) -> list[Drop | None]:
        return [self._check(s) for s in samples]

    def _check(self, sample: Sample) -> Drop | None:
        if not isinstance(sample, dict):
            return Drop(f"not a JSON object: {type(sample).__name__}")
        for part, named, fields, single in (
            ("input", self.task.named_inputs, self.task.input_fields, SINGLE_INPUT),
            ("output", self.task.named_outputs, self.task.output_fields, SINGLE_OUTPUT),
        ):
            value = sample.get(part)
            if value is None:
                return Drop(f"missing `{part}`")
            if named:
                if not isinstance(value, dict):
                    return Drop(
                        f"`{part}` must be an object with fields {fields}, got {type(value).__name__}"
                    )
                missing = [f for f in fields if f not in value]
                if missing:
                    return Drop(f"`{part}` lacks field(s) {missing}")
                extra = sorted(set(value) - set(fields))
                if extra:
                    return Drop(f"`{part}` has unexpected field(s) {extra}")
                items = [(f"{part}.{f}", f, value[f]) for f in fields]
            else:
                if isinstance(value, dict):
                    return Drop(f"`{part}` must be plain text, got an object with {sorted(value)}")
                items = [(part, single, value)]
            for where, name, val in items:
                problem = self._field_problem(part, name, val)
                if problem:
                    return Drop(f"{where}: {problem}")
        reasoning = sample.get("reasoning")
        if reasoning is not None and not isinstance(reasoning, str):
            return Drop(f"reasoning: expected a string, got {type(reasoning).__name__}")
        return None

    def _field_problem(self, part: str, name: str, value: Any) -> str | None:
        if _is_empty(value):
            return "empty"
        spec = (self.task.output_schema or {}).get(name) if part == "output" else None
        if spec is None:
            if isinstance(value, (str, list)):
                return None
            return f"expected text, got {type(value).__name__}"
        problem = _type_problem(value, spec)
        if problem:
            return problem
        if spec.labels and str(value).strip() not in spec.labels:
            return f"{value!r} is not one of the allowed labels {spec.labels}"
        length = len(Task.text_of(value))
        if spec.min_length is not None and length < spec.min_length:
            return f"{length} characters, fewer than min_length {spec.min_length}"
        if spec.max_length is not None and length > spec.max_length:
            return f"{length} characters, more than max_length {spec.max_length}"
        return None


# ---- duplicates ------------------------------------------------------------------------------------
def _sid(sample: Sample, index: int) -> str:
    return str(sample.get("id") or f"#{index}")


class ExactDuplicateFilter(Filter):
    """Same normalised input+output as an earlier sample: keep the first, name it in the reason."""

    name = "exact_duplicate"

    def decide(self, samples: Sequence[Sample]) -> list[Drop | None]:
        first: dict[bytes, str] = {}
        out: list[Drop | None] = []
        for i, s in enumerate(samples):
            key = hashlib.blake2b(
                (normalise(input_text(s)) + "\x00" + normalise(output_text(s))).encode(), digest_size=16
            ).digest()
            if key in first:
                out.append(Drop(f"same text as {first[key]}"))
            else:
                first[key] = _sid(s, i)
                out.append(None)
        return out


_WORD_RE = re.compile(r"\w+")


def shingles(text: str, k: int) -> list[bytes]:
    """Word k-grams (lowercased) as bytes; a text shorter than k words is one shingle."""
    words = _WORD_RE.findall(text.lower())
    if len(words) <= k:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + k]).encode() for i in range(len(words) - k + 1)]


class NearDuplicateFilter(Filter):
    """MinHash LSH over word shingles of input+output; keep the first of each near-duplicate group.

    LSH proposes candidates among the samples kept so far; a candidate counts when its
    estimated Jaccard similarity reaches ``threshold`` (removing LSH false positives).
    """

    name = "near_duplicate"

    def __init__(
        self, threshold: float = 0.8, *, num_perm: int = 128, shingle: int = 3, seed: int = 1
    ) -> None:
        super().__init__()
        self.threshold, self.num_perm, self.shingle, self.seed = threshold, num_perm, shingle, seed

    def decide(self, samples: Sequence[Sample]) -> list[Drop | None]:
        from datasketch import MinHash, MinHashLSH

        hashes = MinHash.bulk(
            [shingles(sample_text(s), self.shingle) for s in samples], num_perm=self.num_perm, seed=self.seed
        )
        # LSH a little below the threshold (more candidates, better recall); the Jaccard check decides.
        lsh = MinHashLSH(threshold=max(0.05, min(self.threshold - 0.05, 0.9)), num_perm=self.num_perm)
        out: list[Drop | None] = []
        for i, mh in enumerate(hashes):
            best, best_j = 0.0, -1
            for key in lsh.query(mh):
                j = int(key)
                sim = mh.jaccard(hashes[j])
                if sim > best or (sim == best and j < best_j):
                    best, best_j = sim, j
            if best_j >= 0 and best >= self.threshold:
                out.append(
                    Drop(
                        f"near-duplicate of {_sid(samples[best_j], best_j)} "
                        f"(estimated Jaccard {best:.2f} over word {self.shingle}-grams >= {self.threshold})"
                    )
                )
            else:
                lsh.insert(str(i), mh)
                out.append(None)
        return out


class FewShotSimilarityFilter(Filter):
    """CRAFT: drop samples too close to a few-shot example (rapidfuzz token_set_ratio >= 85).

    Compares the sample's input+output text with each example's; such a sample would
    just repeat the examples the task was specified with.
    """

    name = "fewshot_similarity"

    def __init__(self, task: Task, threshold: float = 85.0, *, workers: int = 2) -> None:
        super().__init__()
        self.examples = [sample_text(e) for e in example_samples(task)]
        self.threshold, self.workers = threshold, workers

    def decide(self, samples: Sequence[Sample]) -> list[Drop | None]:
        scores = process.cdist(
            [sample_text(s) for s in samples],
            self.examples,
            scorer=fuzz.token_set_ratio,
            processor=str.lower,
            score_cutoff=self.threshold,
            dtype=np.float32,
            workers=self.workers,
        )
        best = scores.argmax(axis=1)
        out: list[Drop | None] = []
        for i, k in enumerate(best):
            sc = float(scores[i, k])
            out.append(
                Drop(f"token_set_ratio {sc:.1f} >= {self.threshold:g} with few-shot example {int(k)}")
                if sc >= self.threshold and sc > 0
                else None
            )
        return out


# ---- balance ------------------------------------------------------------------------------------
class LabelBalanceFilter(Filter):
    """Cap each label at ``max_per_label`` samples (the first ones), so one class cannot swamp the rest.

    The label is the schema's labelled output field; without one, a short single output
    (e.g. "yes"). Samples without a label pass.
    """

    name = "label_balance"

    def __init__(self, task: Task | None, max_per_label: int) -> None:
        super().__init__()
        if max_per_label < 1:
            raise ValueError(f"max_per_label must be >= 1, got {max_per_label}")
        self.task, self.max_per_label = task, max_per_label

    def decide(self, samples: Sequence[Sample]) -> list[Drop | None]:
        counts: Counter[str] = Counter()
        out: list[Drop | None] = []
        for s in samples:
            label = label_of(self.task, s.get("output"))
            if label is None:
                out.append(None)
                continue
            counts[label] += 1
            out.append(
                Drop(f"label {label!r} already has {self.max_per_label} samples (max_per_label)")
                if counts[label] > self.max_per_label
                else None
            )
        return out
