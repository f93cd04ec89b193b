"""``filter_samples``: run the quality-control steps in order and write kept/rejects/funnel/stats.

Order: format -> exact_duplicate -> near_duplicate -> fewshot_similarity -> decontamination
-> judge -> label_balance. Cheap, certain checks run first so the (paid) judge sees only
samples that survive them, and the label cap counts only good samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskforge._io import atomic_write_json
from taskforge._quality._decontam import DecontaminationFilter, NgramIndex, eval_name
from taskforge._quality._filters import (
    ExactDuplicateFilter,
    FewShotSimilarityFilter,
    Filter,
    FormatFilter,
    LabelBalanceFilter,
    NearDuplicateFilter,
)
from taskforge._records import Sample, read_samples, write_rejects, write_samples
from taskforge._settings import FilterSettings, LLMSettings
from taskforge._task import Task


@dataclass
class FilterResult:
    kept: list[Sample]
    rejects: list[dict[str, Any]]
    funnel: dict[str, Any]
    stats: dict[str, Any] | None = None
    paths: dict[str, Path] = field(default_factory=dict)


def build_steps(
    task: Task, settings: FilterSettings, indexes: Sequence[NgramIndex], judge: Any = None
) -> list[Filter]:
    """The configured steps, in order."""
    steps: list[Filter] = []
    if settings.format:
        steps.append(FormatFilter(task))
    if settings.exact_dedup:
        steps.append(ExactDuplicateFilter())
    if settings.near_dup:
        steps.append(
            NearDuplicateFilter(
                settings.near_dup_threshold,
                num_perm=settings.near_dup_num_perm,
                shingle=settings.near_dup_shingle,
            )
        )
    if settings.fewshot:
        steps.append(FewShotSimilarityFilter(task, settings.fewshot_threshold, workers=settings.workers))
    if indexes:
        steps.append(DecontaminationFilter(indexes, drop=settings.decontaminate))
    if judge is not None:
        from taskforge._quality._judge import JudgeFilter

        steps.append(
            JudgeFilter(task, judge, on_error=settings.judge_on_error, max_tokens=settings.judge_max_tokens)
        )
    if settings.max_per_label:
        steps.append(LabelBalanceFilter(task, settings.max_per_label))
    return steps


def filter_samples(
    task: Task,
    samples: Iterable[Sample] | str | Path,
    out_dir: str | Path,
    *,
    settings: FilterSettings | None = None,
    eval_files: Sequence[str | Path] = (),
    judge: Any = None,
    llm: LLMSettings | None = None,
    **overrides: Any,
) -> FilterResult:
    """Run quality control; write ``kept.jsonl``, ``rejects.jsonl``, ``funnel.json`` and ``stats.json``.

    ``settings`` (or keyword ``overrides`` of it, e.g. ``max_per_label=500``) choose the steps.
    ``judge``: an LLM client for the yes/no judge; when None and ``settings.judge`` names a model,
    one is made by :func:`taskforge._llm.make_llm` from ``settings.judge_llm(llm)`` (the run's
    limits and cache; else its cache is ``out_dir/llm_cache.sqlite``). ``eval_files`` add to
    ``settings.eval_files``; overlap with each is reported in the funnel.
    """
    settings = FilterSettings.build(settings, overrides)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = read_samples(samples) if isinstance(samples, (str, Path)) else list(samples)

    taken: set[str] = set()
    paths = [Path(p) for p in (*settings.eval_files, *eval_files)]
    indexes = [NgramIndex.from_file(p, settings.ngram, eval_name(p, taken)) for p in dict.fromkeys(paths)]
    own_judge = judge is None and bool(settings.judge)
    if own_judge:
        from taskforge._llm import make_llm

        judge = make_llm(settings.judge_llm(llm), cache_dir=out_dir)  # type: ignore[arg-type]

    steps = build_steps(task, settings, indexes, judge)
    kept, rejects = items, []
    trail: list[dict[str, Any]] = []
    extras: dict[str, Any] = {}
    try:
        for step in steps:
            before = len(kept)
            kept = step.apply(kept, rejects)
            trail.append({"name": step.name, "in": before, "dropped": step.counts(), "out": len(kept)})
            extras.update(step.report())
    finally:
        if own_judge:
            judge.close()

    dropped = {name: n for row in trail for name, n in row["dropped"].items()}
    funnel: dict[str, Any] = {
        "in": len(items),
        "dropped": dropped,
        "out": len(kept),
        "contamination": extras.pop("contamination", {}),
        "steps": trail,
        **extras,
        "eval_files": {ix.name: str(p) for ix, p in zip(indexes, dict.fromkeys(paths), strict=True)},
        "settings": settings.model_dump(mode="json"),
    }
    out_paths = {
        "kept": out_dir / "kept.jsonl",
        "rejects": out_dir / "rejects.jsonl",
        "funnel": out_dir / "funnel.json",
    }
    write_samples(out_paths["kept"], kept)
    write_rejects(out_paths["rejects"], rejects)
    atomic_write_json(out_paths["funnel"], funnel)
    stats = None
    if settings.stats:
        from taskforge._quality._stats import dataset_stats

        stats = dataset_stats(task, kept, workers=settings.workers)
        out_paths["stats"] = out_dir / "stats.json"
        atomic_write_json(out_paths["stats"], stats)
    return FilterResult(kept=kept, rejects=rejects, funnel=funnel, stats=stats, paths=out_paths)
