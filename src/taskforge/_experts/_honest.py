"""Honest evaluation of a classifier: what it scores next to what the user had without it.

An accuracy means little alone: 0.626 is a failure when always answering the most frequent
label also scores 0.626. So every classification eval carries

- the **majority** baseline: the eval set's most frequent label, answered for every row;
- the **examples-only** baseline: the same expert trained on the task's few examples alone
  (what taskforge's data adds is the difference);
- per-label precision / recall / F1 and a confusion matrix (rows: gold, columns: predicted);
- **warnings** when the expert answers one label for more than 90% of the rows, or does not
  beat a baseline. They are printed, written to ``results.json`` and shown in the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

CONSTANT_SHARE = 0.9  # one label for more than this share of rows: a (near-)constant predictor


def label_diagnostics(labels: Sequence[str], golds: Sequence[str], preds: Sequence[str]) -> dict[str, Any]:
    """Per-label precision/recall/F1/support, the confusion matrix and the most-predicted label.

    ``labels`` orders the matrix; gold or predicted values outside it are appended (an expert
    answering an unknown label shows up instead of vanishing).
    """
    order = list(dict.fromkeys([*labels, *golds, *preds]))
    index = {lab: i for i, lab in enumerate(order)}
    matrix = [[0] * len(order) for _ in order]
    for g, p in zip(golds, preds, strict=True):
        matrix[index[g]][index[p]] += 1
    per_label = {}
    for i, lab in enumerate(order):
        tp = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[lab] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
            "predicted": predicted,
        }
    top, top_n = Counter(preds).most_common(1)[0] if preds else ("", 0)
    return {
        "per_label": per_label,
        "confusion": {"labels": order, "matrix": matrix},
        "top_label": top,
        "top_share": round(top_n / len(preds), 4) if preds else 0.0,
    }


def majority_baseline(golds: Sequence[str]) -> dict[str, Any]:
    """Accuracy of answering the eval set's most frequent label for every row."""
    label, n = Counter(golds).most_common(1)[0]
    return {"label": label, "accuracy": round(n / len(golds), 4)}


def classifier_scores(labels: Sequence[str], golds: Sequence[str], preds: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro-F1 over ``labels`` and the most-predicted label's share."""
    diag = label_diagnostics(labels, golds, preds)
    f1s = [diag["per_label"][lab]["f1"] for lab in labels if lab in diag["per_label"]]
    return {
        "accuracy": round(sum(g == p for g, p in zip(golds, preds, strict=True)) / len(golds), 4),
        "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
        "top_share": diag["top_share"],
    }


def eval_warnings(accuracy: float, diagnostics: dict[str, Any], baselines: dict[str, Any]) -> list[str]:
    """One line per problem: a near-constant predictor, or no gain over a baseline."""
    out = []
    share = diagnostics.get("top_share", 0.0)
    if share > CONSTANT_SHARE:
        out.append(
            f"the expert answers {diagnostics['top_label']!r} for {share:.0%} of the rows: "
            "it has learned (almost) nothing but a constant"
        )
    majority = baselines.get("majority")
    if majority and accuracy <= majority["accuracy"]:
        out.append(
            f"accuracy {accuracy:.3f} does not beat the majority rate {majority['accuracy']:.3f} "
            f"(always answering {majority['label']!r})"
        )
    examples = baselines.get("examples_only")
    if examples and "accuracy" in examples and accuracy <= examples["accuracy"]:
        out.append(
            f"accuracy {accuracy:.3f} does not beat the same expert trained on the task's "
            f"{examples.get('n_train', '')} examples alone ({examples['accuracy']:.3f}): the generated data "
            "did not help"
        )
    return out


def beats_baselines(accuracy: float, baselines: dict[str, Any]) -> bool:
    """True when the accuracy is above every baseline that was measured."""
    return all(
        accuracy > b["accuracy"] for b in baselines.values() if isinstance(b, dict) and "accuracy" in b
    )


# ---- console ---------------------------------------------------------------------------------------------
def print_honest_eval(result: dict[str, Any], *, confusion: bool = True) -> None:
    """The expert beside its baselines, per-label scores, the confusion matrix and the warnings.

    ``result`` is an eval's ``results.json`` content (``EvalResult.to_dict()``), so the run
    summary can print a finished eval it only reads from disk.
    """
    from taskforge._console import console, summary_table

    metrics = result.get("metrics") or {}
    base = result.get("baselines") or {}
    diag = result.get("diagnostics") or {}
    if not base and not diag:
        return
    rows = [["expert", metrics.get("accuracy"), metrics.get("macro_f1", "-"), diag.get("top_share", "-")]]
    if "examples_only" in base:
        b = base["examples_only"]
        rows.append(
            [f"examples only ({b.get('n_train', '?')})", b["accuracy"], b["macro_f1"], b["top_share"]]
        )
    if "majority" in base:
        rows.append([f"majority ({base['majority']['label']})", base["majority"]["accuracy"], "-", 1.0])
    console.print(summary_table("Expert vs baselines", ["", "accuracy", "macro-F1", "top label share"], rows))
    per_label = diag.get("per_label") or {}
    if per_label:
        console.print(
            summary_table(
                "Per label",
                ["label", "precision", "recall", "F1", "gold", "predicted"],
                [
                    [lab, v["precision"], v["recall"], v["f1"], v["support"], v["predicted"]]
                    for lab, v in per_label.items()
                ],
            )
        )
    conf = diag.get("confusion") or {}
    if confusion and conf.get("labels") and len(conf["labels"]) <= 12:
        console.print(
            summary_table(
                "Confusion (rows: gold, columns: predicted)",
                ["gold \\ predicted", *conf["labels"]],
                [[lab, *row] for lab, row in zip(conf["labels"], conf["matrix"], strict=True)],
            )
        )
    for line in result.get("warnings") or []:
        console.print(f"[yellow bold]warning:[/] {line}")
