"""Sources: what a ``build SOURCE...`` argument names, its data files, description and fingerprint.

A source is a folder laid out like a Hugging Face dataset repo (data files + README card),
a single data file, a folder written by ``datasets.save_to_disk``, or a hub dataset name.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from taskforge._datastore._readers import (
    COMPRESSED,
    BadRow,
    Notice,
    ReadOptions,
    Row,
    file_format,
    iter_hf_dataset,
    read_file,
)
from taskforge._errors import InputError

CARD_NAMES = ("README.md", "README.rst", "README.txt", "README")
SKIP_NAMES = {"SOURCE.txt", "LICENSE", "LICENSE.txt", "CITATION.cff", "dataset_info.json", "state.json"}
SKIP_SUFFIXES = {".md", ".rst", ".lst", ".py", ".sh", ".yaml", ".yml", ".cff"}


class SourceError(InputError):
    """A source that cannot be read; the message names it."""


@dataclass
class Source:
    """One dataset or corpus to embed."""

    name: str
    kind: str  # "folder" | "file" | "saved" | "hub"
    location: str
    files: list[Path] = field(default_factory=list)
    description: str = ""
    text_unit: str = "line"
    options: ReadOptions | None = None  # encoding, row size limit (default: UTF-8, 64 MB)

    def rows(self) -> Iterator[Row | BadRow | Notice]:
        """Every row of the source in a fixed order (the order defines global rows)."""
        if self.kind == "saved":
            import datasets

            yield from iter_hf_dataset(datasets.load_from_disk(self.location), None)
        elif self.kind == "hub":
            import datasets

            yield from iter_hf_dataset(datasets.load_dataset(self.location, streaming=True), None)
        else:
            root = Path(self.location)
            for path in self.files:
                label = path.relative_to(root).as_posix() if self.kind == "folder" else path.name
                yield from read_file(path, label, text_unit=self.text_unit, options=self.options)

    def fingerprint(self) -> str:
        """sha256 over the data files' names and bytes (hub datasets: their name)."""
        h = hashlib.sha256()
        if self.kind == "hub":
            h.update(f"hub:{self.location}".encode())
            return h.hexdigest()
        root = Path(self.location)
        paths = self.files if self.kind != "saved" else sorted(p for p in root.rglob("*") if p.is_file())
        for p in paths:
            h.update(str(p.relative_to(root) if p != root else p.name).encode() + b"\0")
            with open(p, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
            h.update(b"\0")
        h.update(self.text_unit.encode())
        return h.hexdigest()


def resolve_source(
    spec: str,
    *,
    description: str | None = None,
    text_unit: str = "line",
    options: ReadOptions | None = None,
) -> Source:
    """Turn one command-line argument into a :class:`Source` (checks it exists, lists its files)."""
    src = _resolve(spec, description=description, text_unit=text_unit)
    src.options = options
    return src


def _resolve(spec: str, *, description: str | None, text_unit: str) -> Source:
    path = Path(spec).expanduser()
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            src = Source(path.name, "saved", str(path), [], text_unit=text_unit)
        else:
            files = data_files(path)
            if not files:
                raise SourceError(f"source {path.name!r} ({path}): no readable data files")
            src = Source(path.name, "folder", str(path), files, text_unit=text_unit)
        src.description = description or folder_description(path)
        return src
    if path.is_file():
        if file_format(path) is None:
            raise SourceError(f"source {spec!r}: unknown file format {''.join(path.suffixes)!r}")
        name = path.name.split(".")[0]
        return Source(name, "file", str(path.parent), [path], description or "", text_unit=text_unit)
    if (
        re.fullmatch(r"[\w.-]+(/[\w.-]+)?", spec)
        and not spec.startswith((".", "/"))
        and os.sep not in spec[:1]
    ):
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise SourceError(f"source {spec!r}: not a path, and the hub is offline (HF_HUB_OFFLINE=1)")
        return Source(spec.replace("/", "__"), "hub", spec, [], description or "", text_unit=text_unit)
    raise SourceError(f"source {spec!r}: no such file or folder")


def data_files(folder: Path) -> list[Path]:
    """Data files of a folder: top-level first, then nested folders; compressed copies skipped.

    Compressed files are read only when the folder has no uncompressed data (they are
    usually archival duplicates, e.g. ``test.jsonl`` + ``test.jsonl.gz``).
    """
    found = []
    for p in folder.rglob("*"):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if p.name in SKIP_NAMES or p.name in CARD_NAMES or p.suffix.lower() in SKIP_SUFFIXES:
            continue
        if file_format(p) is None:
            continue
        found.append(p)
    plain = [p for p in found if p.suffix.lower() not in COMPRESSED]
    chosen = plain or found
    return sorted(chosen, key=lambda p: (len(p.relative_to(folder).parts), _natural(p.relative_to(folder))))


def _natural(p: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.as_posix())]


def folder_description(folder: Path) -> str:
    """The dataset card's summary (YAML front matter skipped), else SOURCE.txt's description."""
    cards = [folder / n for n in CARD_NAMES if (folder / n).is_file()]
    texts = [c.read_text(encoding="utf-8", errors="replace") for c in cards[:1]]
    for text in texts:
        summary = card_summary(text, sections_only=True)
        if summary:
            return summary
    source_txt = folder / "SOURCE.txt"
    if source_txt.is_file():
        desc = source_txt_description(source_txt.read_text(encoding="utf-8", errors="replace"))
        if desc:
            return desc
    return next((s for s in (card_summary(t) for t in texts) if s), "")


def card_summary(text: str, max_chars: int = 1000, *, sections_only: bool = False) -> str:
    """The summary section of a dataset card, or its first prose paragraph."""
    text = strip_front_matter(text)
    sections = _sections(text)
    for pattern in (r"summary", r"description|overview|about|introduction"):
        for title, body in sections:
            if re.search(pattern, title, re.IGNORECASE):
                prose = _prose(body)
                if prose:
                    return prose[:max_chars]
    if sections_only:
        return ""
    for _title, body in sections:
        prose = _prose(body)
        if prose:
            return prose[:max_chars]
    return ""


def strip_front_matter(text: str) -> str:
    if text.startswith("---"):
        end = re.search(r"^---\s*$", text[3:], re.MULTILINE)
        if end:
            return text[3 + end.end() :]
    return text


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs for markdown (#) and reStructuredText (underlined) headings."""
    lines = text.splitlines()
    out: list[tuple[str, list[str]]] = [("", [])]
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if re.match(r"^#{1,6}\s", line):
            out.append((line.lstrip("#").strip(), []))
        elif (
            line.strip()
            and re.fullmatch(r"[=\-~^*#]{3,}\s*", nxt)
            and not re.fullmatch(r"[=\-~^*#]+", line.strip())
        ):
            out.append((line.strip(), []))
            i += 1
        elif re.fullmatch(r"[=\-~^*#]{3,}\s*", line):
            pass
        else:
            out[-1][1].append(line)
        i += 1
    return [(t, "\n".join(b)) for t, b in out]


def _prose(body: str) -> str:
    """Paragraphs of running text in a section (tables, lists of links, code, badges dropped)."""
    paras = []
    for para in re.split(r"\n\s*\n", body):
        lines = [ln.strip() for ln in para.strip().splitlines()]
        lines = [
            ln
            for ln in lines
            if ln
            and not ln.startswith(("|", "```", "<", "![", "[![", ".. ", ":"))
            and not re.match(r"[-*+]\s*\*\*[^*]+\*\*", ln)
            and not re.match(r"[-*+]\s*\[[^\]]*\]\(#", ln)
        ]
        para_text = " ".join(lines)
        para_text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", para_text)  # links -> their text
        para_text = re.sub(r"\s+", " ", para_text).strip()
        if len(para_text) >= 40 and "[More Information Needed]" not in para_text:
            paras.append(para_text)
    return " ".join(paras)


def source_txt_description(text: str) -> str:
    """The ``description:`` field of a SOURCE.txt (with its indented continuation lines)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.lower().startswith("description:"):
            parts = [line.split(":", 1)[1].strip()]
            for cont in lines[i + 1 :]:
                if cont.startswith((" ", "\t")) and cont.strip():
                    parts.append(cont.strip())
                else:
                    break
            return " ".join(parts)
    return ""
