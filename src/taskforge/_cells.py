"""Turn one record into its text cells: nested fields flattened, lists joined, non-text skipped.

ReBase embeds every *text* cell of a row. Ids, urls, hashes, numbers and booleans carry no
meaning for similarity search, so they stay in the stored row but get no vector.
"""

from __future__ import annotations

import re
from typing import Any

_NUMBER = re.compile(r"^[\s$€£+-]*[\d.,]+\s*%?\s*$|^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_URL = re.compile(r"^(https?|ftp)://\S+$|^www\.\S+$")
_HASH = re.compile(
    r"^[0-9a-fA-F]{16,}$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_ID_NAME = re.compile(r"(^|[._])(id|ids|idx|index|uid|uuid|qid|guid|key|hash|url|urls|link)$", re.IGNORECASE)
_ID_VALUE = re.compile(r"^[\w.:/#-]{1,64}$")


def flatten(record: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to dotted keys; a list of mappings becomes one list per key."""
    out: dict[str, Any] = {}
    if isinstance(record, dict):
        for k, v in record.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                out.update(flatten(v, key))
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                merged: dict[str, list[Any]] = {}
                for item in v:
                    for sk, sv in flatten(item).items():
                        merged.setdefault(sk, []).append(sv)
                for sk, sv in merged.items():
                    out[f"{key}.{sk}"] = sv
            else:
                out[key] = v
    else:
        out[prefix or "text"] = record
    return out


def cell_text(value: Any) -> str | None:
    """The text of one flattened value, or None when it carries no text."""
    if value is None or isinstance(value, (bool, int, float)):
        return None
    if isinstance(value, (list, tuple)):
        parts = [t for t in (cell_text(v) for v in value) if t]
        return "\n".join(parts) if parts else None
    text = str(value).strip()
    if not text or _NUMBER.match(text) or _URL.match(text) or _HASH.match(text):
        return None
    return text


def text_cells(record: Any, *, skip_non_text: bool = True) -> dict[str, str]:
    """``{flattened column: text}`` for the cells of a record worth embedding."""
    cells: dict[str, str] = {}
    for key, value in flatten(record).items():
        if skip_non_text:
            text = cell_text(value)
            if text is None:
                continue
            if _ID_NAME.search(key) and _ID_VALUE.match(text) and " " not in text:
                continue
        else:
            if value is None:
                continue
            text = "\n".join(map(str, value)) if isinstance(value, list) else str(value)
            if not text.strip():
                continue
        cells[key] = text
    return cells


def document_text(cells: dict[str, str], columns: list[str] | None = None) -> str:
    """One document from a record's cells: the first of ``columns`` the record has (``--text-column``),
    else the single cell, a long ``text``/``article``-like cell, or ``name: value`` lines."""
    for name in columns or ():
        if cells.get(name):
            return cells[name]
    if len(cells) == 1:
        return next(iter(cells.values()))
    for key in ("text", "document", "content", "body", "article"):
        if key in cells and len(cells[key]) > 200:
            return cells[key]
    return "\n".join(f"{k}: {v}" for k, v in cells.items())


def split_passages(text: str, *, words: int = 200, overlap: int = 50) -> list[str]:
    """Split a long document into passages of ``words`` words overlapping by ``overlap`` words."""
    tokens = text.split()
    if len(tokens) <= words:
        return [text]
    step = max(1, words - overlap)
    out = []
    for start in range(0, len(tokens), step):
        out.append(" ".join(tokens[start : start + words]))
        if start + words >= len(tokens):
            break
    return out
