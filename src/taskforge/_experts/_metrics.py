"""Evaluation metrics with their standard definitions, so numbers compare with published ones.

- exact match / F1: the official SQuAD script (v2.0 normalisation: lowercase, drop punctuation,
  articles and extra whitespace; max over gold answers; two empty answers match).
- chrF++: sacrebleu ``CHRF(word_order=2)`` at corpus level.
- ROUGE-L: rouge-score's tokenisation (lowercase, alphanumeric tokens, no stemmer) and LCS F1,
  computed with rapidfuzz (Indel similarity over token ids equals ROUGE-L F1 exactly).
- answer extraction for chain-of-thought outputs ("The answer is X", "#### X", \\boxed{X}, last line).

Every score is in [0, 1] (chrF++ is sacrebleu's score / 100).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


# ---- SQuAD --------------------------------------------------------------------------------------
def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lowercase, remove punctuation, articles and extra whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def _golds(gold: str | Sequence[str]) -> list[str]:
    return [gold] if isinstance(gold, str) else [str(g) for g in gold] or [""]


def exact_match(prediction: str, gold: str | Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer (max over golds)."""
    p = normalize_answer(prediction)
    return max(float(p == normalize_answer(g)) for g in _golds(gold))


def _f1_one(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, gold: str | Sequence[str]) -> float:
    """SQuAD token-overlap F1, max over gold answers."""
    return max(_f1_one(prediction, g) for g in _golds(gold))


# ---- chrF++ and ROUGE-L ---------------------------------------------------------------------------
def chrf_pp(predictions: Sequence[str], references: Sequence[str | Sequence[str]]) -> float:
    """Corpus chrF++ (sacrebleu ``CHRF(word_order=2)``), in [0, 1]; several references per item allowed."""
    from sacrebleu.metrics import CHRF

    if not predictions:
        return 0.0
    refs = [_golds(r) for r in references]
    width = max(len(r) for r in refs)
    # sacrebleu wants reference streams; pad short lists with None (ignored)
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(width)]
    return CHRF(word_order=2).corpus_score(list(predictions), streams).score / 100.0


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokeniser (no stemming)."""
    return [t for t in _NON_ALNUM.sub(" ", text.lower()).split() if t]


def rouge_l(prediction: str, gold: str | Sequence[str]) -> float:
    """ROUGE-L F1 (LCS over rouge-score tokens), max over gold answers."""
    from rapidfuzz.distance import Indel

    best = 0.0
    pred = rouge_tokens(prediction)
    for g in _golds(gold):
        ref = rouge_tokens(g)
        if not pred or not ref:
            continue
        vocab: dict[str, str] = {}
        enc = ["".join(vocab.setdefault(t, chr(0xE000 + len(vocab))) for t in toks) for toks in (pred, ref)]
        best = max(best, Indel.normalized_similarity(enc[0], enc[1]))
    return best


# ---- answer extraction -----------------------------------------------------------------------------
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")
_ANSWER_MARK = re.compile(r"\banswer\s*(?:is|:)\s*:?", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")


def extract_answer(text: str, *, numeric: bool = False) -> str:
    """The final answer of a (possibly chain-of-thought) output.

    Looks for ``#### X``, ``\\boxed{X}``, then the last "The answer is X" / "Answer: X",
    then falls back to the last non-empty line. With ``numeric``, returns the last number
    of that span (or of the whole text) so "The answer is 72 dollars." gives "72".
    """
    text = (text or "").strip()
    span = None
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip()
        span = tail.splitlines()[0] if tail else ""
    elif m := _BOXED.findall(text):
        span = m[-1]
    elif marks := list(_ANSWER_MARK.finditer(text)):
        rest = text[marks[-1].end() :].strip()
        span = rest.splitlines()[0] if rest else ""
    if span is None:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        span = lines[-1] if lines else ""
    span = span.strip().strip("*").strip()
    if numeric:
        nums = _NUMBER.findall(span) or _NUMBER.findall(text)
        return normalize_number(nums[-1]) if nums else span
    return span.rstrip(".").strip().strip("\"'`").strip()


def normalize_number(s: str) -> str:
    """'1,000.00' / '$72' / '72.0' -> '1000' / '72' / '72' (so equal numbers compare equal)."""
    s = s.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        value = float(s)
    except ValueError:
        return s
    return str(int(value)) if value.is_integer() else repr(value)


def is_number(s: str) -> bool:
    try:
        float(s.replace(",", "").replace("$", "").strip().rstrip("."))
    except ValueError:
        return False
    return True


def answers_match(prediction: str, gold: str | Sequence[str]) -> bool:
    """Accuracy's comparison: numbers numerically, text after SQuAD normalisation."""
    for g in _golds(gold):
        if is_number(g) and is_number(prediction):
            if normalize_number(g) == normalize_number(prediction):
                return True
        elif normalize_answer(prediction) == normalize_answer(g):
            return True
    return False


__all__ = [
    "answers_match",
    "chrf_pp",
    "exact_match",
    "extract_answer",
    "is_number",
    "normalize_answer",
    "normalize_number",
    "rouge_l",
    "rouge_tokens",
    "token_f1",
]
