"""``train_expert()``: pick the CPU classifier or LoRA the same way ``taskforge train`` does."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taskforge._experts._cpu import TrainResult, train_cpu_expert
from taskforge._experts._errors import ExpertError
from taskforge._task import Task


def default_expert(task: Task, base_model: str | None) -> str:
    """``lora`` when a base model is given, ``cpu`` for labelled tasks, else an error saying what to pass."""
    if base_model:
        return "lora"
    if task.labels():
        return "cpu"
    raise ExpertError(
        "this task has no output_schema labels, so the CPU classifier does not apply: "
        "give --base-model for a LoRA expert (or --expert cpu to infer labels from the data)"
    )


def train_expert(
    task: Task,
    dataset: str | Path | Sequence[dict[str, Any]],
    out_dir: str | Path,
    *,
    expert: str | None = None,
    base_model: str | None = None,
    **kwargs: Any,
) -> TrainResult:
    """Train the expert ``expert`` ("cpu" / "lora"; default by :func:`default_expert`).

    Keyword arguments go to :func:`train_cpu_expert` / :func:`train_lora`; ``None`` values are
    dropped, so a settings dict with unset options can be passed as it is.
    """
    kind = expert or default_expert(task, base_model)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if kind == "cpu":
        if base_model:
            raise ExpertError(
                "the CPU expert trains the bundled MiniLM; drop base_model (or use expert='lora')"
            )
        _check_options(train_cpu_expert, kwargs, "the CPU expert")
        return train_cpu_expert(task, dataset, out_dir, **kwargs)
    if kind == "lora":
        if not base_model:
            raise ExpertError("LoRA training needs a base model (--base-model NAME_OR_PATH)")
        from taskforge._experts._lora import train_lora

        _check_options(train_lora, kwargs, "LoRA training")
        return train_lora(task, dataset, out_dir, base_model=base_model, **kwargs)
    raise ExpertError(f"expert {kind!r}: expected 'cpu' or 'lora'")


def _check_options(fn: Any, kwargs: dict[str, Any], what: str) -> None:
    """A clear error (not a TypeError) for options the chosen expert does not take."""
    unknown = sorted(set(kwargs) - set(inspect.signature(fn).parameters))
    if unknown:
        raise ExpertError(f"{what} does not take option(s) {unknown}")


EXAMPLES_ONLY_MIN_STEPS = 30  # a handful of examples is one batch: give the head enough steps to fit


def examples_only_options(options: dict[str, Any]) -> dict[str, Any]:
    """The CPU expert's settings for training on the task's examples alone (the examples-only
    baseline of an honest eval, and ``run --train`` when no retrieved row could be mapped): at
    least :data:`EXAMPLES_ONLY_MIN_STEPS` steps (under two examples per label the expert is a
    linear probe anyway: ``probe_below`` of :func:`train_cpu_expert`)."""
    return {**options, "min_steps": max(int(options.get("min_steps") or 0), EXAMPLES_ONLY_MIN_STEPS)}


def examples_only_expert(task: Task, info: dict[str, Any], out_dir: str | Path) -> TrainResult:
    """The baseline of an honest eval: the same CPU expert, same settings, trained on the examples alone."""
    settings = info.get("settings", {})
    keys = set(inspect.signature(train_cpu_expert).parameters) - {"task", "dataset", "out_dir", "labels"}
    kwargs = {k: v for k, v in settings.items() if k in keys}
    kwargs.pop("base_model", None)
    kwargs = examples_only_options(kwargs)
    examples = [{"input": e.input, "output": e.output} for e in task.examples]
    return train_cpu_expert(task, examples, out_dir, labels=info.get("labels"), **kwargs)
