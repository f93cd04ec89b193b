"""Selection: walk the ranked lists best first, applying exclusion, the per-source cap and dedup.

Scores for every row are already in memory (one float per row), so the ranked order is
produced lazily with argpartition on a growing prefix: only as many rows are sorted and
fetched as the walk needs, however many are skipped for caps or duplicates.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from taskforge._retrieval._scoring import top_k

_WS = re.compile(r"\s+")
MIN_EXAMPLE_CELL = 20  # shorter example fields ("yes", "entailment") are labels, not content


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


class Selector:
    """Fills ranked lists in order under shared exclusion, cap and dedup state."""

    def __init__(
        self,
        *,
        n: int,
        row_source: np.ndarray,
        row_ok: np.ndarray,
        fetch: Callable[[Sequence[int]], list[dict[str, Any]]],
        per_source_cap: int | None = None,
        banned_keys: set[str] | None = None,
    ) -> None:
        self.n = n
        self.row_source = row_source
        self.row_ok = row_ok
        self.fetch = fetch
        self.cap = per_source_cap
        self.banned = banned_keys or set()
        self.seen_keys: set[str] = set()
        self.taken: dict[int, dict[str, Any]] = {}  # global row -> item, insertion = selection order
        self.per_source: Counter[int] = Counter()
        self.dropped = Counter[str]()

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

    def fill(self, scores: np.ndarray, quota: int | None, *, count_taken: bool = False) -> None:
        """Take up to ``quota`` new rows (None: until n in total) from this ranked list.

        ``count_taken``: rows an earlier list already took count toward this list's quota where
        they rank (CRAFT's per-few-shot tops are a union of index sets, not disjoint quotas).
        """
        want = self.n - len(self.taken) if quota is None else min(quota, self.n - len(self.taken))
        if want <= 0:
            return
        masked = np.where(self.row_ok, scores, -np.inf)
        ranked = iter_ranked(masked, want + want // 5 + 16)  # CRAFT over-fetches 20%
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
                self.seen_keys.add(item_key(item))
                self.taken[r] = item
                self.per_source[int(self.row_source[r])] += 1
                got += 1
