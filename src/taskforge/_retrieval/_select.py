"""Selection: walk the ranked lists best first under exclusion, caps, source shares, label quotas, dedup.

Scores for every row are already in memory (one float per row), so the ranked order is
produced lazily with argpartition on a growing prefix: only as many rows are sorted and
fetched as the walk needs, however many are skipped for caps or duplicates.

Two rules keep one source or one label from taking over the top N:

- **source share**: once a source holds ``max_source_share`` of N, its further rows compete with
  a handicap of ``share_margin`` (``inf``: a hard cap). A source keeps growing only while no other
  source has rows within the margin, so a task one source covers alone still gets that source.
  Because rows of a source are taken in score order, the handicap depends only on a row's rank
  within its source: it is applied to the whole score array at once (one lexsort), not row by row.
- **label quotas** (classification tasks, with a label resolver): each task label first gets up to
  its quota of rows whose own label maps onto it, best first among the top ``depth`` rows; then the
  rest of N is filled by score, rows with a mapped label getting ``label_bonus`` (labelled data of
  the task beats text an LLM would have to label) unless their source is past its share (the
  bonus must not outrun the source-share rule). A label the store has too few rows of is
  reported, not padded.
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from taskforge._retrieval._scoring import top_k

_WS = re.compile(r"\s+")
MIN_EXAMPLE_CELL = 20  # shorter example fields ("yes", "entailment") are labels, not content


class LabelResolver(Protocol):
    """Maps retrieved items onto the task's labels by each row's own label (None: no label / no match).

    Retrieval sits below the transform stage, so the mapper that knows how to read a source's
    label column is passed in (``taskforge._transform.Mapper`` implements this), never imported.
    """

    def row_labels(self, items: Sequence[dict[str, Any]]) -> list[str | None]: ...


def normalize(text: str) -> str:
    """Key for "identical text": case and whitespace do not count."""
    return _WS.sub(" ", text).strip().casefold()


def item_key(item: dict[str, Any]) -> str:
    """The identity of a retrieved item: a document's text, or a row's cells in order."""
    if item.get("text"):
        return normalize(str(item["text"]))
    return normalize("\n".join(str(v) for v in (item.get("cells") or {}).values()))


def iter_ranked(scores: np.ndarray, first: int) -> Iterator[int]:
    """Rows with finite score, best first; sorts a prefix and grows it 4x only when walked past."""
    k, done = max(1, first), 0
    yielded: set[int] = set()
    while True:
        order = top_k(scores, k)
        for r in order[done:].tolist():
            if r not in yielded:
                yielded.add(r)
                yield r
        if len(order) < k or k >= len(scores):
            return
        done, k = len(order), k * 4


def share_handicap(
    scores: np.ndarray, row_source: np.ndarray, allowance: np.ndarray, margin: float
) -> np.ndarray:
    """``scores`` with ``margin`` taken off every row ranked past its source's ``allowance``.

    ``allowance[s]``: rows source s may still add before the handicap applies. Rows are ranked
    within their source by score (one lexsort over the finite scores); ``margin=inf`` drops them.
    """
    out = np.array(scores, dtype=np.float32, copy=True)
    idx = np.flatnonzero(np.isfinite(out))
    if not len(idx):
        return out
    src = row_source[idx]
    order = np.lexsort((-out[idx], src))
    src_sorted = src[order]
    first = np.searchsorted(src_sorted, np.arange(len(allowance)))
    rank = np.arange(len(order)) - first[src_sorted]
    over = idx[order[rank >= allowance[src_sorted]]]
    out[over] = -np.inf if math.isinf(margin) else out[over] - np.float32(margin)
    return out


PROBE_ROWS = 16  # a source's best rows that decide whether it has a label column at all


def _rows_by_source(scores: np.ndarray, row_source: np.ndarray, depth: int) -> Iterator[list[int]]:
    """Each source's finite-score rows, best first (at most ``depth``), sources by their best row."""
    idx = np.flatnonzero(np.isfinite(scores))
    if not len(idx):
        return
    src = row_source[idx]
    order = idx[np.lexsort((-scores[idx], src))]
    starts = np.flatnonzero(np.r_[True, np.diff(row_source[order]) != 0])
    stops = np.r_[starts[1:], len(order)]
    for k in np.argsort(-scores[order[starts]], kind="stable"):
        yield order[starts[k] : min(stops[k], starts[k] + depth)].tolist()


@dataclass
class LabelReport:
    """What the label quotas asked for and found: per label wanted / taken / seen in the walk."""

    labels: list[str]
    wanted: int
    depth: int
    taken: dict[str, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def shortfalls(self) -> list[str]:
        return [
            f"label {lab!r}: {self.taken.get(lab, 0)} of {self.wanted} rows "
            f"(the store holds {self.seen.get(lab, 0)} rows close enough to the task whose own label maps onto it)"
            for lab in self.labels
            if self.taken.get(lab, 0) < self.wanted
        ]


class Selector:
    """Fills ranked lists in order under shared exclusion, cap, source-share and dedup state."""

    def __init__(
        self,
        *,
        n: int,
        row_source: np.ndarray,
        row_ok: np.ndarray,
        fetch: Callable[[Sequence[int]], list[dict[str, Any]]],
        per_source_cap: int | None = None,
        banned_keys: set[str] | None = None,
        max_source_share: float | None = None,
        share_margin: float = math.inf,
        label_bonus: float = 0.0,
    ) -> None:
        self.n = n
        self.row_source = row_source
        self.row_ok = row_ok
        self._fetch = fetch
        self.cap = per_source_cap
        self.banned = banned_keys or set()
        self.share_rows = None if max_source_share is None else max(1, math.ceil(max_source_share * n))
        self.share_margin = share_margin
        self.label_bonus = label_bonus
        self.seen_keys: set[str] = set()
        self.taken: dict[int, dict[str, Any]] = {}  # global row -> item, insertion = selection order
        self.per_source: Counter[int] = Counter()
        self.dropped = Counter[str]()
        self.labels: dict[int, str | None] = {}  # global row -> mapped label (when resolved)
        self.label_report: LabelReport | None = None
        self._fetched: dict[int, dict[str, Any]] = {}

    def fetch(self, rows: Sequence[int]) -> list[dict[str, Any]]:
        """Items of these rows; each row is fetched from the store once."""
        todo = [r for r in rows if r not in self._fetched]
        if todo:
            self._fetched.update(zip(todo, self._fetch(todo), strict=True))
        return [self._fetched[r] for r in rows]

    def _capped(self, row: int) -> bool:
        return self.cap is not None and self.per_source[int(self.row_source[row])] >= self.cap

    def _duplicate(self, item: dict[str, Any]) -> str | None:
        key = item_key(item)
        if key in self.seen_keys:
            return "duplicate"
        if key in self.banned or any(
            normalize(str(c)) in self.banned for c in (item.get("cells") or {}).values()
        ):
            return "example"
        return None

    def _take(self, row: int, item: dict[str, Any]) -> None:
        self.seen_keys.add(item_key(item))
        self.taken[row] = item
        self.per_source[int(self.row_source[row])] += 1

    def _ranking(self, scores: np.ndarray) -> np.ndarray:
        """Allowed rows' scores, plus the label bonus for rows whose own label maps onto a task
        label, minus the source-share handicap for what is already taken."""
        masked = np.where(self.row_ok, scores, -np.inf).astype(np.float32)
        labelled = np.zeros(len(masked), dtype=bool)
        if self.label_bonus and self.label_report is not None:
            labelled[[r for r, lab in self.labels.items() if lab is not None]] = True
        if self.share_rows is not None:
            n_sources = int(self.row_source.max()) + 1 if len(self.row_source) else 0
            taken = np.bincount(
                np.asarray([int(self.row_source[r]) for r in self.taken], dtype=np.int64), minlength=n_sources
            )
            allowance = np.maximum(0, self.share_rows - taken[:n_sources])
            handicapped = share_handicap(masked, self.row_source, allowance, self.share_margin)
            labelled &= handicapped == masked  # past its source's share a row loses the bonus too:
            masked = handicapped  # labelled rows of one source must not outrun the share rule
        masked[labelled] += np.float32(self.label_bonus)
        return masked

    def fill(self, scores: np.ndarray, quota: int | None, *, count_taken: bool = False) -> None:
        """Take up to ``quota`` new rows (None: until n in total) from this ranked list.

        ``count_taken``: rows an earlier list already took count toward this list's quota where
        they rank (CRAFT's per-few-shot tops are a union of index sets, not disjoint quotas).
        """
        want = self.n - len(self.taken) if quota is None else min(quota, self.n - len(self.taken))
        if want <= 0:
            return
        ranked = iter_ranked(self._ranking(scores), want + want // 5 + 16)  # CRAFT over-fetches 20%
        got = 0
        while got < want:
            batch: list[int] = []
            need = want - got
            for r in ranked:
                if r in self.taken:
                    if count_taken:
                        batch.append(r)
                    continue
                if self._capped(r):
                    continue
                batch.append(r)
                if len(batch) >= need + need // 5 + 8:
                    break
            if not batch:
                return
            new = [r for r in batch if r not in self.taken]
            fetched = dict(zip(new, self.fetch(new) if new else [], strict=True))
            for r in batch:
                if got >= want:
                    break
                if r not in fetched:  # taken by an earlier list: counts here too (count_taken)
                    got += 1
                    continue
                if r in self.taken or self._capped(r):
                    continue
                item = fetched[r]
                why = self._duplicate(item)
                if why:
                    self.dropped[why] += 1
                    continue
                self._take(r, item)
                got += 1

    def fill_labels(
        self,
        scores: np.ndarray,
        resolver: LabelResolver,
        labels: Sequence[str],
        per_label: int,
        depth: int,
        floor: float = -math.inf,
    ) -> LabelReport:
        """Give each label up to ``per_label`` rows whose own label maps onto it, best first.

        Every allowed source is probed with its best ``PROBE_ROWS`` rows; the rows of sources
        whose probe finds a task label are all resolved (up to ``depth`` per source, best first),
        down to ``floor`` (rows scoring below it are too unlike the task to pad a quota with). A
        joint greedy over those rows then takes the best row of any label that still needs rows,
        re-checking the source-share handicap as sources fill (a lazy heap).
        """
        per_label = min(per_label, self.n // max(1, len(labels)))
        report = LabelReport(list(labels), per_label, depth)
        masked = np.where(self.row_ok, scores, -np.inf).astype(np.float32)
        wanted = set(labels)
        candidates: list[tuple[float, int]] = []

        def resolve(batch: list[int]) -> bool:
            found = False
            for r, lab in zip(batch, resolver.row_labels(self.fetch(batch)), strict=True):
                self.labels[r] = lab
                if lab in wanted:
                    found = True
                    if masked[r] >= floor:
                        report.seen[lab] = report.seen.get(lab, 0) + 1
                        candidates.append((-float(masked[r]), r))
            return found

        for rows in _rows_by_source(masked, self.row_source, depth):
            if resolve(rows[:PROBE_ROWS]):  # else the source has no label column that maps
                for start in range(PROBE_ROWS, len(rows), 1024):
                    resolve(rows[start : start + 1024])
        heapq.heapify(candidates)
        need = dict.fromkeys(labels, per_label)
        while candidates and any(need.values()) and len(self.taken) < self.n:
            neg, r = heapq.heappop(candidates)
            lab = self.labels[r]
            if not need.get(lab) or r in self.taken or self._capped(r):  # type: ignore[arg-type]
                continue
            s = int(self.row_source[r])
            handicap = self.share_rows is not None and self.per_source[s] >= self.share_rows
            if handicap and -neg == float(masked[r]):  # first time past the share: re-queue lower
                if math.isinf(self.share_margin):
                    continue
                heapq.heappush(candidates, (neg + self.share_margin, r))
                continue
            item = self.fetch([r])[0]
            why = self._duplicate(item)
            if why:
                self.dropped[why] += 1
                continue
            self._take(r, item)
            need[lab] -= 1  # type: ignore[index]
            report.taken[lab] = report.taken.get(lab, 0) + 1  # type: ignore[index]
        self.label_report = report
        return report

    def resolve_labels(self, resolver: LabelResolver) -> None:
        """Labels of taken rows not resolved yet (rows the score fill took from past the depth)."""
        todo = [r for r in self.taken if r not in self.labels]
        for start in range(0, len(todo), 1024):
            batch = todo[start : start + 1024]
            for r, lab in zip(batch, resolver.row_labels(self.fetch(batch)), strict=True):
                self.labels[r] = lab
