"""``evaluate()``: run a model over an eval file and score it with the task's metrics.

A model is anything with ``name``, ``kind`` and ``predict(inputs) -> list[str]``: a trained
CPU expert or LoRA adapter directory (``expert.json`` says which), a few-shot LLM baseline,
or an object you pass in.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from taskforge._experts import _metrics as M
from taskforge._experts._data import FieldValue, gold_answers, load_examples, same_input
from taskforge._experts._errors import ExpertError
from taskforge._experts._honest import classifier_scores, eval_warnings, label_diagnostics, majority_baseline
from taskforge._io import atomic_write_json, write_jsonl
from taskforge._task import Task

_MARKERS = ("####", "\\boxed{", "answer is", "answer:")


class Predictor(Protocol):
    name: str
    kind: str

    def predict(self, inputs: Sequence[FieldValue]) -> list[str]: ...


@dataclass
class EvalResult:
    """Scores of one model on one eval set; ``predictions`` holds one record per item."""

    model: str
    kind: str
    task: str
    data: str
    n: int
    metrics: dict[str, float]
    n_excluded: int = 0
    seconds: float = 0.0
    predictions: list[dict[str, Any]] = field(default_factory=list, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, Any] = field(default_factory=dict)  # majority / examples_only (classifiers)
    diagnostics: dict[str, Any] = field(default_factory=dict)  # per-label scores, confusion, top label
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "kind": self.kind,
            "task": self.task,
            "data": self.data,
            "n": self.n,
            "n_excluded": self.n_excluded,
            "metrics": self.metrics,
            "baselines": self.baselines,
            "diagnostics": self.diagnostics,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 2),
            **self.extra,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def write(self, path: str | Path) -> Path:
        """Write ``results.json`` (at ``path``) and ``predictions.jsonl`` beside it."""
        path = Path(path)
        atomic_write_json(path, self.to_dict())
        write_jsonl(path.with_name("predictions.jsonl"), self.predictions)
        return path


def load_model(model: str | Path | Any, **kwargs: Any) -> Predictor:
    """A predictor from a trained expert directory (or the object itself when it already predicts)."""
    if hasattr(model, "predict"):
        return model
    path = Path(model)
    info_path = path / "expert.json"
    if not info_path.exists():
        raise ExpertError(
            f"{path}: not a trained expert (no expert.json); train one with `taskforge train`, "
            "or evaluate an LLM few-shot with --llm PROVIDER:MODEL"
        )
    kind = json.loads(info_path.read_text(encoding="utf-8")).get("kind")
    if kind == "cpu-classifier":
        from taskforge._experts._cpu import CpuExpert

        return CpuExpert(path)
    if kind == "lora":
        from taskforge._experts._lora import LoraExpert

        return LoraExpert(path, **kwargs)
    raise ExpertError(f"{info_path}: unknown expert kind {kind!r}")


PREDICT_CHUNK = 256  # inputs per predict() call: small enough for a steady progress bar


def predict_with_progress(predictor: Predictor, inputs: list[FieldValue]) -> list[str]:
    """``predictor.predict`` in chunks, with a progress bar (10k eval rows take minutes on a CPU)."""
    if len(inputs) <= PREDICT_CHUNK:
        return list(predictor.predict(inputs))
    from taskforge._console import make_progress

    out: list[str] = []
    with make_progress() as progress:
        bar = progress.add_task(f"eval {getattr(predictor, 'name', 'model')}", total=len(inputs))
        for start in range(0, len(inputs), PREDICT_CHUNK):
            chunk = inputs[start : start + PREDICT_CHUNK]
            out += predictor.predict(chunk)
            progress.advance(bar, len(chunk))
    return out


def score(
    task: Task, predictions: Sequence[str], golds: Sequence[Sequence[str]], *, classifier: bool = False
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Metrics over (prediction, gold answers) pairs, plus per-item answer/correct records."""
    n = len(predictions)
    if n == 0:
        return {}, []
    cot = any(m in g.lower() for gs in golds for g in gs for m in _MARKERS)
    gold_ans = [[M.extract_answer(g) if cot else g.strip() for g in gs] for gs in golds]
    numeric = all(M.is_number(a) for gs in gold_ans for a in gs)
    if numeric:
        gold_ans = [[M.normalize_number(a) for a in gs] for gs in gold_ans]
    single_line = all("\n" not in a.strip() for gs in gold_ans for a in gs)
    answers = [
        p.strip()
        if classifier
        else (M.extract_answer(p, numeric=numeric) if cot or single_line else p.strip())
        for p in predictions
    ]
    correct = [M.answers_match(a, g) for a, g in zip(answers, gold_ans, strict=True)]
    metrics: dict[str, float] = {"accuracy": sum(correct) / n}
    if task.labels() or classifier:
        from sklearn.metrics import f1_score

        y_true = [M.normalize_answer(g[0]) for g in gold_ans]
        y_pred = [M.normalize_answer(a) for a in answers]
        metrics["macro_f1"] = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
    if not classifier:
        metrics["exact_match"] = sum(M.exact_match(a, g) for a, g in zip(answers, gold_ans, strict=True)) / n
        metrics["f1"] = sum(M.token_f1(a, g) for a, g in zip(answers, gold_ans, strict=True)) / n
        metrics["chrf++"] = M.chrf_pp(list(predictions), [list(g) for g in golds])
        metrics["rouge_l"] = sum(M.rouge_l(p, g) for p, g in zip(predictions, golds, strict=True)) / n
    records = [
        {"prediction": p, "answer": a, "gold": list(g), "correct": c}
        for p, a, g, c in zip(predictions, answers, golds, correct, strict=True)
    ]
    return metrics, records


def evaluate(
    model: str | Path | Any,
    task: Task,
    data: str | Path | Sequence[dict[str, Any]],
    *,
    input_fields: str | Sequence[str] | None = None,
    output_field: str | None = None,
    exclude_examples: bool = True,
    limit: int | None = None,
    judge: Any = None,
    out: str | Path | None = None,
    run_dir: str | Path | None = None,
    model_kwargs: dict[str, Any] | None = None,
    baselines: bool = True,
) -> EvalResult:
    """Score ``model`` on ``data`` (eval JSONL, raw rows + field mapping, or a list of samples).

    Items whose input equals one of the task's examples are dropped (``exclude_examples``) so
    the few-shots never count as test items. ``judge`` (an LLM or spec) adds an LLM-judge win
    rate against the gold outputs. Writes ``out`` and/or ``RUN_DIR/eval/results.json`` (with
    ``predictions.jsonl`` beside each). ``model_kwargs`` go to the LoRA loader (device,
    max_new_tokens, batch_size). For classification tasks the result also holds the majority
    baseline, per-label scores, a confusion matrix and warnings; with ``baselines`` a CPU expert
    is also compared with the same expert trained on the task's examples alone.
    """
    predictor = load_model(model, **(model_kwargs or {}))
    if hasattr(predictor, "bind"):
        predictor.bind(task)  # generative predictors format prompts with the task
    if isinstance(data, (str, Path)):
        items = load_examples(data, task, input_fields=input_fields, output_field=output_field)
        data_name = str(data)
    else:
        items, data_name = list(data), "<samples>"
    n_before = len(items)
    if exclude_examples:
        items = [it for it in items if not any(same_input(it["input"], e.input) for e in task.examples)]
    n_excluded = n_before - len(items)
    if limit:
        items = items[:limit]
    if not items:
        raise ExpertError(f"{data_name}: no items to evaluate")

    t0 = time.perf_counter()
    predictions = predict_with_progress(predictor, [it["input"] for it in items])
    golds = [gold_answers(task, it["output"]) for it in items]
    classifier = getattr(predictor, "kind", "") == "cpu-classifier"
    metrics, records = score(task, predictions, golds, classifier=classifier)
    for rec, it in zip(records, items, strict=True):
        rec["input"] = it["input"]
    extra: dict[str, Any] = {}
    if judge is not None:
        from taskforge._experts._judge import judge_win_rate

        win = judge_win_rate(judge, task, items, predictions)
        metrics["judge_win_rate"] = win.win_rate
        extra["judge"] = win.to_dict()
        for rec, verdict in zip(records, win.verdicts, strict=True):
            rec["judge"] = verdict
    labels = list(task.labels() or getattr(predictor, "labels", None) or [])
    honest: dict[str, Any] = {}
    if labels:
        honest = _honest_eval(task, predictor, items, records, labels, metrics, with_examples=baselines)
    result = EvalResult(
        model=getattr(predictor, "name", str(model)),
        kind=getattr(predictor, "kind", type(predictor).__name__),
        task=task.name,
        data=data_name,
        n=len(items),
        metrics=metrics,
        n_excluded=n_excluded,
        seconds=time.perf_counter() - t0,
        predictions=records,
        extra=extra,
        **honest,
    )
    if out is not None:
        result.write(out)
    if run_dir is not None:
        result.write(Path(run_dir) / "eval" / "results.json")
    return result


def _as_label(answer: str, labels: Sequence[str]) -> str:
    """The label an answer names (SQuAD-normalised match), else the answer as it is."""
    norm = M.normalize_answer(answer)
    return next((lab for lab in labels if M.normalize_answer(lab) == norm), answer.strip())


def _honest_eval(
    task: Task,
    predictor: Predictor,
    items: Sequence[dict[str, Any]],
    records: Sequence[dict[str, Any]],
    labels: Sequence[str],
    metrics: dict[str, float],
    *,
    with_examples: bool,
) -> dict[str, Any]:
    """Baselines, per-label diagnostics and warnings of a classifier's predictions."""
    golds = [_as_label(r["gold"][0], labels) for r in records]
    preds = [_as_label(str(r["answer"]), labels) for r in records]
    diagnostics = label_diagnostics(labels, golds, preds)
    base: dict[str, Any] = {"majority": majority_baseline(golds)}
    if with_examples and getattr(predictor, "kind", "") == "cpu-classifier":
        from taskforge._experts._train import examples_only_expert

        with tempfile.TemporaryDirectory(prefix="taskforge-examples-only-") as tmp:
            trained = examples_only_expert(task, getattr(predictor, "info", {}), Path(tmp))
            from taskforge._experts._cpu import CpuExpert

            ex_preds = CpuExpert(trained.out_dir).predict([it["input"] for it in items])
        base["examples_only"] = {
            **classifier_scores(labels, golds, [_as_label(p, labels) for p in ex_preds]),
            "n_train": trained.n_samples,
        }
    metrics["top_share"] = diagnostics["top_share"]
    return {
        "baselines": base,
        "diagnostics": diagnostics,
        "warnings": eval_warnings(metrics["accuracy"], diagnostics, base),
    }
