"""Reading a one-word verdict ("yes"/"no", "A"/"B"/"tie") out of an LLM's reply."""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[A-Za-z_]+")
_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)


def parse_verdict(text: str | None, choices: Sequence[str]) -> str | None:
    """The choice the reply gives (as spelled in ``choices``), or None when it gives none.

    Any ``<think>...</think>`` block is ignored. The reply's first word wins when it is a
    choice ("No, because ..."); otherwise the last choice named ("... so the answer is B").
    Matching is case-insensitive and by whole words.
    """
    canon = {c.lower(): c for c in choices}
    words = [w.lower() for w in _WORD.findall(_THINK.sub(" ", text or ""))]
    if not words:
        return None
    if words[0] in canon:
        return canon[words[0]]
    named = [w for w in words if w in canon]
    return canon[named[-1]] if named else None


__all__ = ["parse_verdict"]
