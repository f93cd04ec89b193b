"""The report's answer to "is this good, and what next?": a few next steps read off the run's numbers.

Each check looks at one number a newcomer would not know how to judge and, when it is off,
says what it means and which setting to change. The thresholds are rules of thumb, not tuned
values: they decide when a line appears, never what the run does.
"""

from __future__ import annotations

from typing import Any

from taskforge._quality import FILTER_ADVICE
from taskforge._transform import REJECT_ADVICE

from ._load import RunData

FEW_SAMPLES = 500  # below this a small classifier or LoRA run learns little beyond the examples
LABEL_SHARE = 0.7  # one label above this share of the kept samples: the expert may learn to say only it
SOURCE_SHARE = 0.6  # one source above this share: the data has that source's style, little else
REJECT_SHARE = 0.25  # one reject reason above this share of a stage's input: worth fixing at its cause


def next_steps(run: RunData, evaluation: dict[str, Any] | None) -> list[str]:
    """Short, concrete next steps for this run, most important first (at least one line)."""
    steps: list[str] = []
    steps += _retrieval(run)
    steps += _rejects(run)
    steps += _size(run)
    steps += _labels(run)
    steps += _sources(run)
    steps += _expert(run, evaluation)
    return steps or [
        "Nothing stands out in the numbers: read a few samples in the browser below before training on them."
    ]


def _retrieval(run: RunData) -> list[str]:
    path = run.run_dir / "retrieve" / "warning.txt"
    if not path.is_file():
        return []
    return [
        "Retrieval found nothing that looks like the task (retrieve/warning.txt): add sources closer "
        "to the task to the datastore, or check the instruction and examples."
    ]


def _rejects(run: RunData) -> list[str]:
    stage_in = {"transform": run.n_items, "filter": run.n_samples}
    by_kind: dict[tuple[str, str], int] = {}
    for (stage, flt, _), n in run.reject_groups.items():
        by_kind[(stage, flt)] = by_kind.get((stage, flt), 0) + n
    out = []
    for (stage, flt), n in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        total = stage_in.get(stage)
        if not total or n / total < REJECT_SHARE:
            continue
        advice = (REJECT_ADVICE if stage == "transform" else FILTER_ADVICE).get(str(flt))
        line = f"{n:,} of {total:,} {'items' if stage == 'transform' else 'samples'} were rejected in {stage} as {flt!r}"
        out.append(line + (f": {advice}." if advice else "; see the drop reasons below."))
    return out[:2]


def _size(run: RunData) -> list[str]:
    if run.n_kept is None or run.n_kept >= FEW_SAMPLES:
        return []
    n = run.n_items or 0
    more = f" (-n {max(2 * n, 1000):,})" if n else ""
    return [
        f"Only {run.n_kept:,} samples were kept; an expert usually needs {FEW_SAMPLES:,} or more: "
        f"retrieve more{more}, or add sources like the task's to the datastore."
    ]


def _labels(run: RunData) -> list[str]:
    counts = run.kept_by_label
    total = sum(counts.values())
    labels = run.task.labels() if run.task else None
    out = []
    if labels and total:
        missing = [lab for lab in labels if not counts.get(lab)]
        if missing:
            out.append(
                f"No kept sample has the label {', '.join(repr(m) for m in missing)}: the expert cannot learn it; "
                "map the sources' labels onto it (transform.label_map) or add sources that have it."
            )
    if len(counts) > 1 and total:
        top, n = counts.most_common(1)[0]
        second = counts.most_common(2)[1][1]
        if n / total > LABEL_SHARE:
            out.append(
                f"{top!r} is {n / total:.0%} of the kept samples, so the expert may learn to answer it always: "
                f"cap it (filter: {{max_per_label: {second:,}}} in a --config file) or retrieve more of the others."
            )
    return out


def _sources(run: RunData) -> list[str]:
    counts = run.kept_by_source
    total = sum(counts.values())
    if not total or len(set(run.items_by_source) | set(counts)) < 2:  # one source is all there was
        return []
    top, n = counts.most_common(1)[0]
    if n / total <= SOURCE_SHARE:
        return []
    cap = max(1, int(total * SOURCE_SHARE / 2))
    return [
        f"{top!r} made {n / total:.0%} of the kept samples, so they share its style: spread them "
        f"(retrieve: {{per_source_cap: {cap:,}}}) if other sources fit the task too."
    ]


def _expert(run: RunData, evaluation: dict[str, Any] | None) -> list[str]:
    if run.n_kept is None:
        return []
    if run.records.get("train", {}).get("counts", {}).get("trained_on") == "examples only":
        return [
            "The expert was trained on the task's examples alone: no retrieved row had a label that maps "
            "onto the task (transform/label_report.json lists the values seen). Add sources labelled "
            "for this task, give a label_map, or transform with an LLM (--llm)."
        ]
    if not evaluation:
        return [
            "No evaluation yet: run again with --train --eval FILE (held-out rows of the task) to see "
            "whether an expert trained on this data beats the examples alone and the majority class."
        ]
    if evaluation.get("beats_baselines") is False:
        return [
            "The expert does not beat the baselines beside it: fix the points above (labels, sources, "
            "size) before training longer; the evaluation section shows where it goes wrong."
        ]
    return []


__all__ = ["next_steps"]
