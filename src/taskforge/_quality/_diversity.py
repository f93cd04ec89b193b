"""ReBase's diversity metrics (Table 3): ROUGE-L uniqueness and unique n-grams per sample.

A sample is *unique* when its ROUGE-L F1 with every other sample is below a threshold
(0.7). Done naively that is n²/2 calls to rouge-score (~110 us each: ~4 min for 2k
samples, ~38 h for 50k). Here every distinct token becomes one Unicode character, so
``rapidfuzz.distance.Indel`` on the encoded strings is the LCS of the token sequences and
``Indel.normalized_similarity == 2·LCS/(m+n)`` is ROUGE-L F1. Three bounds skip most pairs:

* length ratio: ``F1 <= 2·min(m,n)/(m+n)``, so with texts sorted by length a row only
  needs the columns whose length is within ``T/(2-T)`` of its own;
* bag of tokens: ``LCS <= sum_t min(count_a(t), count_b(t))``, bounded again by the dot
  product of small sqrt-count sketches (:func:`_bag_sketch`), so one float32 matrix product
  per block rules out ~99% of the pairs of real text;
* ``score_cutoff``: rapidfuzz abandons a surviving pair as soon as it cannot reach the cutoff
  (``process.cpdist`` scores the survivors in C on several threads).

Pairs over the cutoff are re-scored from their integer LCS with rouge-score's own formula
(``2pr/(p+r)``), so flags and scores agree with rouge-score exactly, not just closely.
Tokenisation is rouge-score's (lowercase, ``[a-z0-9]+``, no stemming).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Indel

try:  # the reference tokenizer when installed (dev extra); the fallback is the same regex logic
    from rouge_score.tokenize import tokenize as _rouge_tokenize
except ImportError:  # pragma: no cover - exercised only without rouge-score
    _rouge_tokenize = None

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_SURROGATES = 0xE000 - 0xD800
_MAX_VOCAB = 0x110000 - _SURROGATES


def rouge_tokenize(text: str) -> list[str]:
    """rouge-score's default tokenisation (lowercase, alphanumeric runs, no stemming)."""
    if _rouge_tokenize is not None:
        return _rouge_tokenize(text, None)
    return _TOKEN_RE.findall(text.lower())


def _fallback_tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


@dataclass
class Uniqueness:
    """Result of :func:`rouge_l_uniqueness`, one entry per input text.

    ``nearest[i]``: a sample with ROUGE-L F1 >= threshold with ``i`` (the highest-scoring one),
    -1 when ``i`` is unique; ``score[i]``: that F1 (0.0 when unique). ``pairs_scored``: pairs whose
    LCS was computed (the rest were ruled out by the length and bag-of-tokens bounds).
    """

    unique: np.ndarray
    nearest: np.ndarray
    score: np.ndarray
    threshold: float
    pairs_scored: int

    @property
    def unique_share(self) -> float:
        return float(self.unique.mean()) if len(self.unique) else 0.0


def _token_ids(token_lists: Sequence[list[str]]) -> tuple[list[list[int]], int]:
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in toks] for toks in token_lists]
    return ids, len(vocab)


def _encode(ids: Sequence[list[int]], vocab_size: int) -> list[str] | list[list[int]]:
    """One character per distinct token (skipping surrogates); int lists if the vocabulary is huge."""
    if vocab_size > _MAX_VOCAB:
        return list(ids)
    return ["".join(chr(i if i < 0xD800 else i + _SURROGATES) for i in row) for row in ids]


def _bag_sketch(ids: Sequence[list[int]], vocab_size: int, dim: int) -> np.ndarray:
    """Rows of sqrt(token counts), frequent tokens in their own columns, the rest hashed together.

    For any two texts, ``sketch_a @ sketch_b >= sum_t min(count_a(t), count_b(t)) >= LCS``:
    merging tokens into one column can only raise ``min`` (min(a1+a2, b1+b2) >= min(a1,b1) +
    min(a2,b2)), and ``sqrt(a*b) >= min(a, b)``. So ``2 * dot / (m + n)`` bounds ROUGE-L F1
    from above, for a whole block of pairs in one matrix product.
    """
    n = len(ids)
    lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=n)
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
    rows = np.repeat(np.arange(n), lengths)
    exact = dim // 2  # the most frequent tokens get a column each (any choice keeps the bound valid)
    column = np.empty(vocab_size, dtype=np.int64)
    by_freq = np.argsort(-np.bincount(flat, minlength=vocab_size), kind="stable")
    column[by_freq[:exact]] = np.arange(min(exact, vocab_size))
    rest = by_freq[exact:]
    column[rest] = exact + rest % (dim - exact)
    counts = np.bincount(rows * dim + column[flat], minlength=n * dim).reshape(n, dim)
    return np.sqrt(counts, dtype=np.float32)


def rouge_l_f1_from_lcs(lcs: np.ndarray, m: np.ndarray, n: np.ndarray) -> np.ndarray:
    """rouge-score's F-measure from LCS length and the two token counts (same float operations)."""
    lcs = lcs.astype(np.float64)
    p = lcs / m
    r = lcs / n
    with np.errstate(invalid="ignore", divide="ignore"):
        f = 2 * p * r / (p + r)
    return np.where(lcs > 0, f, 0.0)


def rouge_l_f1(a: str, b: str) -> float:
    """ROUGE-L F1 of two texts, equal to ``RougeScorer(["rougeL"]).score(a, b)["rougeL"].fmeasure``."""
    ta, tb = rouge_tokenize(a), rouge_tokenize(b)
    if not ta or not tb:
        return 0.0
    ea, eb = _encode(*_token_ids([ta, tb]))
    lcs = Indel.similarity(ea, eb) // 2 if isinstance(ea, str) else _lcs_lists(ea, eb)
    return float(rouge_l_f1_from_lcs(np.array([lcs]), np.array([len(ta)]), np.array([len(tb)]))[0])


def _lcs_lists(a: list[int], b: list[int]) -> int:
    return (len(a) + len(b) - Indel.distance(a, b)) // 2


def rouge_l_uniqueness(
    texts: Sequence[str],
    threshold: float = 0.7,
    *,
    workers: int = 2,
    block_cells: int = 4_000_000,
    sketch_dim: int = 256,
) -> Uniqueness:
    """Flag each text unique when its ROUGE-L F1 with every *other* text is < ``threshold``.

    Texts without any token score 0 with everything (as in rouge-score), so they are unique.
    ``block_cells`` bounds the rows x columns block held at once; ``sketch_dim`` is the width
    of the bag-of-tokens sketch used for the upper bound (see :func:`_bag_sketch`).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    tokens = [rouge_tokenize(t) for t in texts]
    n_all = len(tokens)
    lengths_all = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=n_all)
    unique = np.ones(n_all, dtype=bool)
    nearest = np.full(n_all, -1, dtype=np.int64)
    score = np.zeros(n_all, dtype=np.float64)

    valid = np.flatnonzero(lengths_all > 0)
    order = valid[np.argsort(lengths_all[valid], kind="stable")]
    lengths = lengths_all[order]
    ids, vocab_size = _token_ids([tokens[i] for i in order])
    encoded = _encode(ids, vocab_size)
    sketch = _bag_sketch(ids, vocab_size, sketch_dim) if len(ids) else np.zeros((0, sketch_dim), np.float32)
    del ids
    n = len(order)
    ratio = threshold / (2.0 - threshold)  # min/max length ratio that can still reach the threshold
    bound_cut = threshold * (1.0 - 1e-3)  # float32 slack: the bound must never cut a real hit
    cutoff = max(threshold - 1e-6, 0.0)  # slack below T; exact re-scoring decides
    pairs = 0
    start = 0
    while start < n:
        # rows [start, end) against columns [start, hi): each unordered pair once (col > row)
        end, hi = _block(lengths, start, ratio, block_cells)
        dots = sketch[start:end] @ sketch[start:hi].T
        total = lengths[start:end, None] + lengths[None, start:hi]
        candidate = 2.0 * dots >= bound_cut * total
        candidate &= np.arange(hi - start)[None, :] > np.arange(end - start)[:, None]
        candidate &= lengths[None, start:hi] * ratio <= lengths[start:end, None] + 1e-9
        rows, cols = np.nonzero(candidate)
        if len(rows):
            gi, gj = rows + start, cols + start
            pairs += len(gi)
            sims = process.cpdist(
                [encoded[k] for k in gi],
                [encoded[k] for k in gj],
                scorer=Indel.normalized_similarity,
                score_cutoff=cutoff,
                dtype=np.float64,
                workers=workers,
            )
            m_len, n_len = lengths[gi], lengths[gj]
            both = m_len + n_len
            dist = np.rint((1.0 - sims) * both).astype(np.int64)
            f = rouge_l_f1_from_lcs((both - dist) // 2, m_len, n_len)
            hit = (sims > 0) & (f >= threshold)
            _record(order[gi[hit]], order[gj[hit]], f[hit], unique, nearest, score)
        start = end
    return Uniqueness(unique=unique, nearest=nearest, score=score, threshold=threshold, pairs_scored=pairs)


def _block(lengths: np.ndarray, start: int, ratio: float, cells: int) -> tuple[int, int]:
    """Rows [start, end) and their column window [start, hi) with rows x columns <= cells (16 rows at least)."""
    n = len(lengths)

    def window(end: int) -> int:
        return int(np.searchsorted(lengths, lengths[end - 1] / ratio + 1e-9, side="right"))

    end = min(n, start + max(16, cells // max(window(start + 1) - start, 1)))
    while end - start > 16 and (end - start) * (window(end) - start) > cells:
        end = start + max(16, (end - start) // 2)
    return end, window(end)


def _record(
    a: np.ndarray, b: np.ndarray, f: np.ndarray, unique: np.ndarray, nearest: np.ndarray, score: np.ndarray
) -> None:
    """Mark both ends of each hit pair non-unique and keep each sample's best partner."""
    idx = np.concatenate([a, b])
    partner = np.concatenate([b, a])
    vals = np.concatenate([f, f])
    order = np.lexsort((partner, -vals, idx))  # per idx: best score first, then lowest partner
    idx, partner, vals = idx[order], partner[order], vals[order]
    first = np.unique(idx, return_index=True)[1]
    idx, partner, vals = idx[first], partner[first], vals[first]
    better = vals > score[idx]
    unique[idx] = False
    nearest[idx[better]] = partner[better]
    score[idx[better]] = vals[better]


def ngram_diversity(texts: Sequence[str], ns: Sequence[int] = (1, 2)) -> dict[str, float]:
    """Per-sample lexical diversity, for each n in ``ns``.

    ``avg_unique_{k}grams``: n-grams that occur in no other sample, averaged per sample
    (the DataTune/ReBase reading of "unique n-grams per sample": small for templated data);
    ``avg_distinct_{k}grams``: distinct n-grams within a sample, averaged.
    """
    names = {1: "unigrams", 2: "bigrams", 3: "trigrams"}
    tokens = [rouge_tokenize(t) for t in texts]
    out: dict[str, float] = {}
    count = max(len(tokens), 1)
    for k in ns:
        grams = [set(zip(*(t[i:] for i in range(k)), strict=False)) for t in tokens]
        df = Counter(g for s in grams for g in s)
        label = names.get(k, f"{k}grams")
        out[f"avg_unique_{label}"] = sum(1 for s in grams for g in s if df[g] == 1) / count
        out[f"avg_distinct_{label}"] = sum(len(s) for s in grams) / count
    return out
