"""Read a run directory for the report: tolerant of missing stages, streaming, capped.

Files read (all optional; a missing or broken one becomes a note in the page):
``task.yaml``, ``settings.json``, ``retrieve/items.jsonl``, ``transform/samples.jsonl``,
``transform/rejects.jsonl``, ``filter/kept.jsonl``, ``filter/rejects.jsonl``,
``filter/funnel.json``, ``filter/stats.json``, ``eval/results.json``, ``<stage>/record.json``.
Big files are streamed: counts and score distributions cover every row, but only the first
``max_kept`` kept samples and ``max_rejects`` rejects (and the retrieved rows they came from)
are kept in memory for the sample browser.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taskforge._io import read_jsonl_tolerant
from taskforge._records import label_of, text_of
from taskforge._settings import STAGES
from taskforge._task import Task

MAX_CHARS = 3000  # longest string kept per field in the embedded data


@dataclass
class RunData:
    """Everything the report shows, read from one run directory."""

    run_dir: Path
    task: Task | None = None
    task_raw: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    # retrieve
    n_items: int | None = None
    items_by_source: Counter[str] = field(default_factory=Counter)
    scores: dict[str, list[float]] = field(default_factory=dict)
    methods: Counter[str] = field(default_factory=Counter)
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # only referenced rows
    map_items: list[dict[str, Any]] = field(default_factory=list)  # subsample for the embedding map
    # transform / filter
    n_samples: int | None = None
    n_kept: int | None = None
    kept: list[dict[str, Any]] = field(default_factory=list)
    kept_by_source: Counter[str] = field(default_factory=Counter)
    kept_by_label: Counter[str] = field(default_factory=Counter)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    n_rejects: dict[str, int] = field(default_factory=dict)  # per stage
    reject_groups: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (stage, filter, reason)
    reject_filters: dict[str, list[str]] = field(default_factory=dict)  # stage -> filters in first-seen order
    funnel: dict[str, Any] | list[Any] | None = None
    stats: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # problems met while reading, shown in the page
    max_kept: int = 2000
    max_rejects: int = 500

    @property
    def label_field(self) -> str | None:
        return self.task.label_field() if self.task else None

    def label_of(self, sample: dict[str, Any] | None) -> str | None:
        """The sample's label (see :func:`taskforge._records.label_of`), or None."""
        if self.task is None or not isinstance(sample, dict):
            return None
        return label_of(self.task, sample.get("output"))


def clip(value: Any, limit: int = MAX_CHARS) -> Any:
    """Copy of a JSON value with every long string cut to ``limit`` characters."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + f"… [{len(value) - limit:,} more characters]"
    if isinstance(value, dict):
        return {str(k): clip(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [clip(v, limit) for v in value[:200]]
    return value


_HEX_ID = re.compile(r"\bs-[0-9a-f]{6,}\b")
_NUM = re.compile(r"\d+(?:\.\d+)?")


def reason_group(reason: Any) -> str:
    """A reject reason with ids and numbers blanked, so similar reasons count together."""
    lines = str(reason).strip().splitlines() if reason is not None else []
    text = lines[0] if lines else "(no reason given)"
    text = _NUM.sub("#", _HEX_ID.sub("<id>", text))
    return text if len(text) <= 140 else text[:139] + "…"


def _read_json(path: Path, run: RunData) -> Any:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        run.notes.append(f"{path.relative_to(run.run_dir)}: could not be read ({e})")
        return None


def _stream(path: Path, run: RunData) -> Any:
    """Records of a JSONL file; a broken line ends the stream with a note."""
    if not path.exists():
        return
    try:
        for rec in read_jsonl_tolerant(path):
            if isinstance(rec, dict):
                yield rec
    except (OSError, ValueError) as e:
        run.notes.append(f"{path.relative_to(run.run_dir)}: stopped reading ({e})")


def _key(ref: Any) -> tuple[str, str] | None:
    if isinstance(ref, dict) and ref.get("source") is not None and ref.get("row_id") is not None:
        return str(ref["source"]), str(ref["row_id"])
    return None


def load_run(
    run_dir: str | Path, *, max_kept: int = 2000, max_rejects: int = 500, map_limit: int = 1000
) -> RunData:
    """Read what exists of a run directory; never raises for missing or malformed stage files."""
    run = RunData(run_dir=Path(run_dir), max_kept=max_kept, max_rejects=max_rejects)
    d = run.run_dir
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such run directory")
    _load_task(run)
    settings = _read_json(d / "settings.json", run)
    run.settings = settings if isinstance(settings, dict) else None
    for stage in STAGES:
        rec = _read_json(d / stage / "record.json", run)
        if isinstance(rec, dict):
            run.records[stage] = rec
    for name, attr in (
        ("filter/funnel.json", "funnel"),
        ("filter/stats.json", "stats"),
        ("eval/results.json", "eval"),
    ):
        setattr(run, attr, _read_json(d / name, run))
    _load_samples(run)
    _load_rejects(run)
    _load_items(run, map_limit)
    return run


def _load_task(run: RunData) -> None:
    path = run.run_dir / "task.yaml"
    if not path.exists():
        run.notes.append("task.yaml is missing: the task section is empty")
        return
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        run.task_raw = raw if isinstance(raw, dict) else None
        run.task = Task.from_dict(raw, base_dir=path.parent, origin="task.yaml")
    except Exception as e:  # any problem with the spec must not stop the report
        run.notes.append(f"task.yaml could not be loaded as a task ({str(e).splitlines()[0]})")


def _load_samples(run: RunData) -> None:
    d = run.run_dir
    if (d / "transform" / "samples.jsonl").exists():
        run.n_samples = sum(1 for _ in _stream(d / "transform" / "samples.jsonl", run))
    if not (d / "filter" / "kept.jsonl").exists():
        return
    n = 0
    for s in _stream(d / "filter" / "kept.jsonl", run):
        n += 1
        prov = s.get("provenance") if isinstance(s.get("provenance"), dict) else {}
        run.kept_by_source[str(prov.get("source", "(unknown)"))] += 1
        label = run.label_of(s)
        if label is not None:
            run.kept_by_label[label] += 1
        if len(run.kept) < run.max_kept:
            run.kept.append(clip(s))
    run.n_kept = n


def _load_rejects(run: RunData) -> None:
    per_file: dict[str, list[dict[str, Any]]] = {}
    for stage in ("transform", "filter"):
        path = run.run_dir / stage / "rejects.jsonl"
        if not path.exists():
            continue
        run.n_rejects[stage] = 0
        kept: list[dict[str, Any]] = []
        for r in _stream(path, run):
            st = str(r.get("stage") or stage)
            flt = str(r.get("filter") or "(none)")
            run.n_rejects[stage] += 1
            run.reject_groups[(st, flt, reason_group(r.get("reason")))] += 1
            order = run.reject_filters.setdefault(st, [])
            if flt not in order:
                order.append(flt)
            if len(kept) < run.max_rejects:
                kept.append(clip(r))
        per_file[stage] = kept
    t, f = per_file.get("transform", []), per_file.get("filter", [])
    n_t = min(len(t), max(run.max_rejects // 2, run.max_rejects - len(f)))
    run.rejects = t[:n_t] + f[: run.max_rejects - n_t]


def _load_items(run: RunData, map_limit: int) -> None:
    path = run.run_dir / "retrieve" / "items.jsonl"
    if not path.exists():
        return
    wanted: set[tuple[str, str]] = set()
    for s in run.kept:
        k = _key(s.get("provenance"))
        if k:
            wanted.add(k)
    for r in run.rejects:
        k = _key(r.get("item")) or _key((r.get("sample") or {}).get("provenance"))
        if k:
            wanted.add(k)
    n, stride = 0, 1
    sample: list[dict[str, Any]] = []
    for it in _stream(path, run):
        n += 1
        src = str(it.get("source", "(unknown)"))
        run.items_by_source[src] += 1
        run.methods[str(it.get("method", "?"))] += 1
        for name, v in (it.get("scores") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                run.scores.setdefault(str(name), []).append(float(v))
        k = _key(it)
        if k and k in wanted and k not in run.items:
            run.items[k] = clip(
                {
                    key: it.get(key)
                    for key in (
                        "rank",
                        "source",
                        "row_id",
                        "cells",
                        "text",
                        "passage",
                        "picked_by",
                        "scores",
                        "method",
                    )
                }
            )
        # deterministic even subsample for the map: every `stride`-th item, stride doubling when full
        if map_limit and (n - 1) % stride == 0:
            sample.append({"source": src, "text": item_text(it)[:1000]})
            if len(sample) >= 2 * map_limit:
                sample, stride = sample[::2], stride * 2
    run.n_items = n
    step = max(1, len(sample) // map_limit) if map_limit else 0
    run.map_items = sample[::step][:map_limit] if step else []


def item_text(item: dict[str, Any]) -> str:
    """The text of a retrieved row: document text, else its cells as ``column: value`` lines."""
    if isinstance(item.get("text"), str) and item["text"]:
        return item["text"]
    cells = item.get("cells")
    if isinstance(cells, dict) and cells:
        return "\n".join(f"{k}: {v}" for k, v in cells.items())
    return text_of(item.get("row"))
