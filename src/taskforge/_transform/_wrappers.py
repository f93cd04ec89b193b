"""Prompt wrappers: the constant template T0-style and instruction sources put around real content.

A T0 row reads "Is this product review positive?\\nTitle: ...\\nReview: ...\\nAnswer:" and
"Yes<|endoftext|>"; copied as it is, the wrapper becomes part of every training input and the
end-of-text token part of every label. A wrapper is learnt per source and column from the rows
at hand (every row of a source was made from the same template): the longest prefix and suffix
all rows share, cut back to a line, sentence or quote boundary, then the inner scaffolding when
it is clearly a template, either labelled parts ("Title: ... Review: ...", found by
:mod:`taskforge._parts`) or constant lines and quoted slots in the same place in every row
('Can an answer to "..." also be used to answer "..."?'). Each slot becomes a column of its own.
Free text (reviews, questions, passages) shares no such prefix or suffix, so it is left alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from taskforge._parts import PartLayout, detect_parts, field_name

MIN_ROWS = 6  # fewer rows than this cannot tell a short template from a coincidence
_MIN_ROWS_LONG = 3  # ... nor this a long one (5+ words at a line / sentence / quote boundary)
_LONG_WORDS = 5
_MIN_ROWS_MID_SENTENCE = 12  # a template ending mid-sentence ("... question about {topic}") needs more
_MIN_CHARS = 30  # mean length below which a column holds labels or names, not wrapped content
_SPECIAL = re.compile(
    r"^(?:\s*(?:<\|[A-Za-z_]+\|>|</?s>|<eos>|<pad>))+|(?:(?:<\|[A-Za-z_]+\|>|</?s>|<eos>|<pad>)\s*)+$"
)
# "Title: " (a part label) at the end of a prefix: the label stays with its part when parts are found
_LABEL_AT_END = re.compile(
    r"(?:^|(?<=[\s\"'.?!)\]]))[A-Za-z][A-Za-z0-9]*(?: [A-Za-z0-9]+){0,2}:[ \t]*\n?[ \t]*$"
)
_DELIMITERS = (r"(\n+|\")", r"(\n+)")  # slots bounded by lines and quotes, else by lines only
_WORD = re.compile(r"[A-Za-z]{2,}")
_SLOT_NAME = re.compile(
    r"([A-Za-z][A-Za-z0-9]*(?: [A-Za-z0-9]+){0,2})\s*:\s*$|(?:the\s+)?([A-Za-z]{3,})\s*\"$"
)
_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "that",
        "this",
        "with",
        "from",
        "into",
        "also",
        "used",
        "answer",
        "to",
        "of",
        "is",
        "are",
        "be",
        "for",
    ]
)


def strip_special(text: str) -> str:
    """``text`` without end-of-text / padding tokens at its ends (``Yes<|endoftext|>`` -> ``Yes``)."""
    return _SPECIAL.sub("", text).strip()


@dataclass(frozen=True)
class Wrapper:
    """A column's constant template: ``prefix``, then slots, then ``suffix``.

    Slots are labelled parts (``layout``), or the variable pieces of a positional split
    (``pieces``: constant strings, and ``None`` for each slot, split by ``delimiter``), or, with
    neither, the one text between prefix and suffix.
    """

    column: str
    prefix: str
    suffix: str
    layout: PartLayout | None = None
    delimiter: str | None = None
    pieces: tuple[str | None, ...] | None = None
    slot_names: tuple[str, ...] = ()
    inner: tuple[tuple[str, Wrapper], ...] = ()  # slot column -> the wrapper of that slot's values

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns this wrapper's slots become (the column itself when there is one slot)."""
        if not self.slot_names:
            return (self.column,)
        return tuple(f"{self.column}.{name}" for name in self.slot_names)

    def pattern(self) -> str:
        """The template as text, slots in braces: ``Is this review positive?\\n{title} ...``."""
        nested = {col.split(".")[-1]: w.pattern() for col, w in self.inner}
        slot = lambda name: nested.get(name, "{" + name + "}")  # noqa: E731
        if self.layout is not None:
            inner = self.layout.join({f: slot(f) for f in self.layout.fields})
        elif self.pieces is not None:
            names = iter(self.slot_names)
            inner = "".join(p if p is not None else slot(next(names)) for p in self.pieces)
        else:
            inner = "{" + self.column.split(".")[-1] + "}"
        return f"{self.prefix}{inner}{self.suffix}"

    def cut(self, text: str) -> dict[str, str] | None:
        """``{column: content}`` for a text made from this template, None when it does not fit."""
        values = self._cut(text)
        if values is None or not self.inner:
            return values
        out: dict[str, str] = {}
        inner = dict(self.inner)
        for col, value in values.items():
            nested = inner[col].cut(value) if col in inner else None
            out.update(nested if nested is not None else {col: value})
        return out

    def _cut(self, text: str) -> dict[str, str] | None:
        text = text.strip()
        if not (text.startswith(self.prefix) and text.endswith(self.suffix)):
            return None
        if len(self.prefix) + len(self.suffix) > len(text):
            return None
        middle = text[len(self.prefix) : len(text) - len(self.suffix)].strip()
        if self.layout is not None:
            parts = self.layout.split(middle)
            if parts is None:
                return None
            return {f"{self.column}.{k}": v for k, v in parts.items()}
        if self.pieces is not None:
            got = re.split(self.delimiter or r"(\n+)", middle)
            if len(got) != len(self.pieces):
                return None
            values = []
            for want, piece in zip(self.pieces, got, strict=True):
                if want is None:
                    values.append(piece.strip())
                elif want.strip() != piece.strip():
                    return None
            return dict(zip(self.columns, values, strict=True))
        return {self.column: middle}


def learn_wrapper(column: str, values: Sequence[str], *, nested: bool = False) -> Wrapper | None:
    """The template the values of one column share, or None when they are free text.

    Only columns of long, mostly distinct texts are considered (a label column's few values
    share prefixes by chance: "equivalent" / "not equivalent"). ``nested``: the values are one
    slot of a wrapper already found, so a labelled start ("Question: ...") is enough.
    """
    texts = list(dict.fromkeys(v.strip() for v in values if isinstance(v, str) and v.strip()))
    if len(texts) < _MIN_ROWS_LONG or sum(map(len, texts)) < _MIN_CHARS * len(texts):
        return None
    prefix = _snap_prefix(_common_prefix(texts), mid_sentence=len(texts) >= _MIN_ROWS_MID_SENTENCE)
    suffix = _snap_suffix(_common_prefix([t[::-1] for t in texts])[::-1])
    if suffix and not _WORD.search(suffix) and not prefix.rstrip().endswith('"'):
        suffix = ""  # a closing quote or bracket alone is a wrapper only around an opening one
    if len(texts) < MIN_ROWS:  # a few rows: only a long template at clear boundaries is no coincidence
        prefix = prefix if prefix[-1:] == "\n" or prefix.rstrip()[-1:] in ("?", ":", '"') else ""
        suffix = suffix if suffix[:1] == "\n" or suffix.lstrip()[:1].isupper() else ""
        if len(_WORD.findall(prefix + " " + suffix)) < _LONG_WORDS:
            return None
    shortest = min(len(t) for t in texts)
    if len(prefix) + len(suffix) >= shortest:
        suffix = ""
    if len(prefix) >= shortest:
        prefix = ""
    if not prefix and not suffix:
        return None
    # the part labels at the end of the prefix ("Title: ") belong to the parts when there are parts
    label = _LABEL_AT_END.search(prefix)
    if label is not None and not nested:
        bare = prefix[: label.start()]
        if not bare.strip() and not suffix:
            return None  # labels alone ("Human: ... Assistant: ...") are a format, not a wrapper
        layout = detect_parts([_middle(t, bare, suffix) for t in texts])
        if layout is not None:
            return Wrapper(column, bare, suffix, layout=layout, slot_names=layout.fields)
    middles = [_middle(t, prefix, suffix) for t in texts]
    if sum(1 for m in middles if m) < len(middles) * 0.9:
        return None  # the "wrapper" is most of the text: not a template around content
    if nested:
        if label is None:
            return None
        name = field_name(label.group(0).split(":")[0])
        return Wrapper(f"{column.rsplit('.', 1)[0]}.{name}" if "." in column else name, prefix, suffix)
    layout = detect_parts(middles)
    if layout is not None:
        return Wrapper(column, prefix, suffix, layout=layout, slot_names=layout.fields)
    common = _common_piece(middles)
    delimiters = (*_DELIMITERS, f"({re.escape(common)})") if common else _DELIMITERS
    for delimiter in delimiters:
        pieces = _positional(middles, delimiter)
        if pieces is not None:
            wrapper = Wrapper(
                column,
                prefix,
                suffix,
                delimiter=delimiter,
                pieces=pieces,
                slot_names=_slot_names(prefix, pieces),
            )
            return _with_inner(wrapper, texts)
    return Wrapper(column, prefix, suffix)


def _with_inner(wrapper: Wrapper, texts: list[str]) -> Wrapper:
    """The wrapper, with the labelled start its slots share ("Question: ...") cut as well."""
    cuts = [c for c in (wrapper.cut(t) for t in texts) if c is not None]
    inner = []
    for col in wrapper.columns:
        nested = learn_wrapper(col, [c[col] for c in cuts if col in c], nested=True)
        if nested is not None and nested.column not in wrapper.columns:
            inner.append((col, nested))
    return replace(wrapper, inner=tuple(inner)) if inner else wrapper


def _common_piece(middles: list[str]) -> str | None:
    """The longest text every middle holds once, when it looks like scaffolding (quotes, lines, 2+ words)."""
    probe = middles[:16]
    base = min(probe, key=len)

    def shared(length: int) -> set[str]:
        found = {base[i : i + length] for i in range(len(base) - length + 1)}
        for text in probe:
            if text is not base:
                found &= {text[i : i + length] for i in range(len(text) - length + 1)}
                if not found:
                    break
        return found

    lo, hi, best = 8, min(len(base), 200), ""
    while lo <= hi:
        mid = (lo + hi) // 2
        found = shared(mid)
        if found:
            best, lo = max(found), mid + 1
        else:
            hi = mid - 1
    start = next((i for i, ch in enumerate(best) if ch in '"\n '), len(best))
    stop = max((i + 1 for i, ch in enumerate(best) if ch in '"\n:'), default=0)
    piece = best[start:stop]
    if len(_WORD.findall(piece)) < 2 or not any(ch in piece for ch in '"\n:'):
        return None
    if any(m.count(piece) != 1 for m in middles):
        return None
    return piece


def _common_prefix(texts: list[str]) -> str:
    """The longest start all texts share (that of the lexically first and last is everyone's)."""
    first, last = min(texts), max(texts)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _middle(text: str, prefix: str, suffix: str) -> str:
    return text[len(prefix) : len(text) - len(suffix)].strip()


def _snap_prefix(prefix: str, *, mid_sentence: bool) -> str:
    """The shared start cut back to where a template ends: a line, ``? ``, ``: ``, an opening quote,
    or, after four or more shared words, any word boundary ("... question about {topic}")."""
    best = 0
    for i in range(1, len(prefix) + 1):
        prev = prefix[i - 1]
        before = prefix[i - 2] if i >= 2 else ""
        if (
            prev == "\n"
            or (prev in " \t" and before in ".?!:;")
            or (prev == '"' and (not before or before.isspace()))
        ):
            best = i
    last_space = prefix.rfind(" ") + 1
    if mid_sentence and last_space > best and len(_WORD.findall(prefix[:last_space])) >= 4:
        best = last_space
    prefix = prefix[:best]
    core = prefix.strip()
    if not _WORD.search(core):
        return ""
    ends_clearly = prefix.endswith("\n") or core.endswith((":", '"', "?"))
    return prefix if ends_clearly or len(_WORD.findall(core)) >= 2 else ""


def _snap_suffix(suffix: str) -> str:
    """The shared end moved forward to where a template starts: a line, a space before a word, a closing quote.

    (Not a space before punctuation: in " .\nQuestion: ..." the " ." ends the content.)"""
    for j, ch in enumerate(suffix):
        nxt = suffix[j + 1] if j + 1 < len(suffix) else ""
        if (
            ch == "\n"
            or (ch in " \t" and (nxt.isalnum() or nxt in '\n"'))
            or (ch == '"' and not nxt.isalnum())
        ):
            cut = suffix[j:]
            break
    else:
        return ""
    core = cut.strip()
    words = len(_WORD.findall(core))
    if words >= 2 or ("\n" in cut and words >= 1):
        return cut
    if core and not _WORD.search(core) and core.startswith('"'):
        return cut  # a closing quote with punctuation (the caller keeps it only after an opening one)
    return ""


def _positional(middles: list[str], delimiter: str) -> tuple[str | None, ...] | None:
    """Constant pieces and slots (None) when every row splits into the same pieces, >= 2 slots."""
    split = [re.split(delimiter, m) for m in middles]
    if len({len(s) for s in split}) != 1 or len(split[0]) < 3:
        return None
    pieces: list[str | None] = []
    for k in range(len(split[0])):
        column = [s[k] for s in split]
        same = all(c.strip() == column[0].strip() for c in column)
        if k % 2 == 1:  # a delimiter: constant by construction (newline runs count as one)
            pieces.append(column[0] if same else "\n")
        elif same:
            pieces.append(column[0])
        else:
            if sum(1 for c in column if c.strip()) < len(column) * 0.9:
                return None
            pieces.append(None)
    if sum(1 for p in pieces if p is None) < 2:
        return None
    return tuple(pieces)


def _slot_names(prefix: str, pieces: tuple[str | None, ...]) -> tuple[str, ...]:
    """A name per slot from the text just before it ("the question \\"" -> question), else its number."""
    names: list[str] = []
    before = prefix
    for piece in pieces:
        if piece is not None:
            before += piece
            continue
        m = _SLOT_NAME.search(before[-60:])
        word = (m.group(1) or m.group(2)) if m else ""
        name = field_name(word) if word and word.lower() not in _STOPWORDS else ""
        if not name or name in names:
            name = f"part_{len(names) + 1}"
        names.append(name)
        before = ""
    return tuple(names)


def learn_wrappers(columns: dict[str, list[str]]) -> dict[str, Wrapper]:
    """A wrapper for each column whose values share a template (columns of one source)."""
    found = {}
    for column, values in columns.items():
        wrapper = learn_wrapper(column, values)
        if wrapper is not None:
            found[column] = wrapper
    return found


__all__ = ["MIN_ROWS", "Wrapper", "learn_wrapper", "learn_wrappers", "strip_special"]
