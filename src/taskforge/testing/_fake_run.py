"""A realistic fake run directory (real source rows, made-up scores and filter verdicts).

Used by the report's tests and handy for trying the report without running the pipeline:
``python -m taskforge.testing._fake_run SOURCES_DIR RUN_DIR`` writes a fake run (rows from
the source folders snli_dev, openbookqa, boolq, truthfulqa, gsm8k, e.g. the repo's
``demo/sources``) and its report.
The files follow docs/architecture.md; ``funnel.json``, ``stats.json`` and
``eval/results.json`` use the shapes the report reads (see ``_load.py``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

from taskforge._cells import text_cells
from taskforge._io import atomic_write_json, atomic_write_text, write_jsonl
from taskforge._records import make_reject, sample_id

FAKE_SOURCES = ("snli_dev", "openbookqa", "boolq", "truthfulqa", "gsm8k")
NASTY = "</script><script>alert(1)</script> <b>bold?</b> <!-- & ]]> \u2028 'quotes' \"dq\""

TASK_YAML = """\
name: scitail-nli
instruction: >-
  Given a premise and a hypothesis, decide whether the premise entails the hypothesis.
  Answer "entailment" if the premise supports the hypothesis, otherwise "not_entailment".
examples:
  - input:
      premise: Lungs are the organs of respiration in humans, where oxygen enters the blood.
      hypothesis: In humans, oxygen enters the blood through the lungs.
    output:
      label: entailment
  - input:
      premise: A wetland is an area of land saturated with water, such as a marsh or swamp.
      hypothesis: Deserts receive less than 25 centimeters of rain per year.
    output:
      label: not_entailment
  - input:
      premise: Pure water has a pH of 7, which is neutral, neither acidic nor basic.
      hypothesis: A solution with a pH of 7 is neutral.
    output:
      label: entailment
output_schema:
  label:
    labels: [entailment, not_entailment]
exclude_sources: [scitail_test]
"""

LABELS = ["entailment", "not_entailment"]


def _read_source(sources: Path, name: str, limit: int) -> list[tuple[str, dict[str, Any]]]:
    """(row_id, row) pairs from one source folder."""
    folder = sources / name
    rows: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as f:
                for i, line in enumerate(f, 1):
                    if line.strip():
                        rows.append((f"{path.name}:{i}", json.loads(line)))
                    if len(rows) >= limit:
                        return rows
        elif path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            rows += [(f"{path.name}:{i}", r) for i, r in enumerate(data[:limit])]
        elif path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as f:
                for i, r in enumerate(csv.DictReader(f)):
                    rows.append((f"{path.name}:{i + 2}", dict(r)))
                    if len(rows) >= limit:
                        break
    return rows[:limit]


def _sample_from(item: dict[str, Any], rng: random.Random) -> tuple[dict[str, str], dict[str, str]]:
    """A plausible NLI sample made from a retrieved row."""
    row, src = item["row"], item["source"]
    if src == "snli_dev":
        label = "entailment" if row.get("label") == "entailment" else "not_entailment"
        return {"premise": row["premise"], "hypothesis": row["hypothesis"]}, {"label": label}
    if src == "boolq":
        return (
            {"premise": row["passage"][:600], "hypothesis": row["question"].capitalize() + "."},
            {"label": "entailment" if row.get("answer") else "not_entailment"},
        )
    if src == "openbookqa":
        stem = row["question"]["stem"]
        choice = rng.choice(row["question"]["choices"])
        ok = choice["label"] == row.get("answerKey")
        return {"premise": f"{stem} {choice['text']}.", "hypothesis": f"{stem} {choice['text']}"}, {
            "label": "entailment" if ok else "not_entailment"
        }
    if src == "truthfulqa":
        ok = rng.random() < 0.5
        ans = row["Best Answer"] if ok else row["Best Incorrect Answer"]
        return {"premise": f"{row['Question']} {ans}", "hypothesis": ans}, {
            "label": "entailment" if ok else "not_entailment"
        }
    q = row.get("question", "")
    return {"premise": q, "hypothesis": q.split(".")[0] + "."}, {"label": rng.choice(LABELS)}


def _record(stage: str, counts: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {
        "stage": stage,
        "config_hash": hashlib.sha256(stage.encode()).hexdigest()[:16],
        "input_hash": hashlib.sha256(f"in-{stage}".encode()).hexdigest()[:16],
        "counts": counts,
        "seconds": seconds,
        "finished_at": "2026-11-21T20:15:00+00:00",
    }


def write_fake_run(
    run_dir: str | Path,
    *,
    sources: str | Path,
    n_items: int = 400,
    seed: int = 0,
    with_eval: bool = True,
    with_rejects: bool = True,
    nasty: bool = True,
) -> Path:
    """Write a complete fake run directory (all stages up to filter, optionally eval) and return it.

    ``sources``: a folder holding the source folders named in :data:`FAKE_SOURCES`.
    """
    run = Path(run_dir)
    rng = random.Random(seed)
    atomic_write_text(run / "task.yaml", TASK_YAML)
    atomic_write_json(run / "settings.json", _settings(n_items))
    items = _fake_retrieve(run, Path(sources), rng, n_items)
    samples = _fake_transform(run, items, rng, with_rejects=with_rejects, nasty=nasty)
    _fake_filter(run, samples, rng, with_rejects=with_rejects)
    if with_eval:
        _fake_eval(run)
    return run


def _settings(n_items: int) -> dict[str, Any]:
    return {
        "datastore": "runs/demo-store",
        "retrieve": {"method": "rebase", "n": n_items},
        "llm": {"spec": "openai:qwen2.5-7b"},
        "transform": {"temperature": 0.7, "samples_per_item": 1},
        "filter": {"near_dup_threshold": 0.8, "fewshot_threshold": 85.0},
        "export": {"formats": ["jsonl", "chat"]},
    }


def _fake_retrieve(run: Path, sources: Path, rng: random.Random, n_items: int) -> list[dict[str, Any]]:
    means = {"snli_dev": 0.62, "openbookqa": 0.45, "boolq": 0.41, "truthfulqa": 0.37, "gsm8k": 0.22}
    shares = {"snli_dev": 0.45, "openbookqa": 0.2, "boolq": 0.18, "truthfulqa": 0.12, "gsm8k": 0.05}
    pool: list[dict[str, Any]] = []
    for src, share in shares.items():
        for row_id, row in _read_source(sources, src, max(1, round(n_items * share))):
            m = means[src]
            q, a = rng.gauss(m, 0.08), rng.gauss(m - 0.05, 0.1)
            d = m + rng.uniform(-0.04, 0.04)
            scores = {"final": round((q + a + d) / 3, 4), "query": round(q, 4), "answer": round(a, 4)}
            scores["dataset"] = round(d, 4)
            pool.append(
                {
                    "source": src,
                    "row_id": row_id,
                    "global_row": len(pool),
                    "row": row,
                    "cells": text_cells(row),
                    "scores": scores,
                    "method": "rebase",
                }
            )
    pool.sort(key=lambda it: -it["scores"]["final"])
    items = [{"rank": i + 1, **it} for i, it in enumerate(pool[:n_items])]
    write_jsonl(run / "retrieve" / "items.jsonl", items)
    atomic_write_json(run / "retrieve" / "record.json", _record("retrieve", {"items": len(items)}, 3.2))
    return items


# (share of items, filter, reason, raw answer) of the made-up transform rejects
_TRANSFORM_FAULTS = (
    (0.04, "json_parse_error", "JSON parse error: Expecting ',' delimiter: line 1 column 58",
     '{"input": {"premise": "A man " "hypothesis": ...'),
    (0.07, "invalid_label", "invalid label: label='neutral' is not one of ['entailment', 'not_entailment']",
     '{"input": {...}, "output": {"label": "neutral"}}'),
    (0.08, "llm_error", "LLM error: HTTP 500 after 6 retries", None),
)  # fmt: skip


def _fake_transform(
    run: Path, items: list[dict[str, Any]], rng: random.Random, *, with_rejects: bool, nasty: bool
) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    for it in items:
        ref = {"source": it["source"], "row_id": it["row_id"]}
        roll = rng.random()
        fault = next((f for f in _TRANSFORM_FAULTS if with_rejects and roll < f[0]), None)
        if fault is not None:
            rejects.append(make_reject("transform", fault[1], fault[2], item=ref, raw=fault[3]))
            continue
        inp, out = _sample_from(it, rng)
        reasoning = "The hypothesis restates part of the premise." if out["label"] == "entailment" else None
        prov = {**ref, "rank": it["rank"], "scores": it["scores"], "method": "llm"}
        prov.update({"model": "openai:qwen2.5-7b", "prompt_hash": "9c1e0a77", "sample_index": 0})
        sid = sample_id(it, 0, "llm")
        samples.append({"id": sid, "input": inp, "output": out, "reasoning": reasoning, "provenance": prov})
    if nasty and samples:
        samples[0]["input"]["premise"] = NASTY + " " + samples[0]["input"]["premise"]
        samples[0]["reasoning"] = "<img src=x onerror=alert(2)>"
    write_jsonl(run / "transform" / "samples.jsonl", samples)
    write_jsonl(run / "transform" / "rejects.jsonl", rejects)
    counts = {"items": len(items), "samples": len(samples), "rejects": len(rejects)}
    atomic_write_json(run / "transform" / "record.json", _record("transform", counts, 41.7))
    return samples


_FILTERS = (
    ("format", 0.03, "hypothesis too short (< 10 characters)"),
    ("exact_duplicate", 0.03, "same input and output as {other}"),
    ("near_duplicate", 0.06, "ROUGE-L {x:.2f} >= 0.70 with {other}"),
    ("fewshot_similarity", 0.03, "cosine {x:.2f} > 0.90 with example {k}"),
    ("decontamination", 0.02, "13-gram overlap with scitail_test test.jsonl:{k}"),
    ("label_balance", 0.02, "label {label!r} over its cap of 150"),
)


def _fake_filter(run: Path, samples: list[dict[str, Any]], rng: random.Random, *, with_rejects: bool) -> None:
    rejects: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    remaining = samples
    for name, p, reason in _FILTERS:
        nxt = []
        for s in remaining:
            if with_rejects and s is not samples[0] and rng.random() < p:
                other = rng.choice(samples)["id"]
                r = reason.format(
                    other=other, x=rng.uniform(0.7, 0.95), k=rng.randint(1, 400), label=s["output"]["label"]
                )
                rejects.append(make_reject("filter", name, r, sample=s))
            else:
                nxt.append(s)
        steps.append({"name": name, "in": len(remaining), "dropped": {name: len(remaining) - len(nxt)}})
        steps[-1]["out"] = len(nxt)
        remaining = nxt
    kept = remaining
    write_jsonl(run / "filter" / "kept.jsonl", kept)
    write_jsonl(run / "filter" / "rejects.jsonl", rejects)
    atomic_write_json(run / "filter" / "funnel.json", _funnel(samples, kept, steps))
    atomic_write_json(run / "filter" / "stats.json", _stats(kept))
    counts = {"in": len(samples), "out": len(kept), "dropped": len(samples) - len(kept)}
    atomic_write_json(run / "filter" / "record.json", _record("filter", counts, 12.3))


def _funnel(samples: list[dict[str, Any]], kept: list[dict[str, Any]], steps: list[dict[str, Any]]) -> dict:
    """The shape taskforge._quality.filter_samples writes."""
    n_contam = next(st["dropped"]["decontamination"] for st in steps if st["name"] == "decontamination")
    contamination = {"n": n_contam, "rate": n_contam / max(len(samples), 1), "checked": len(samples)}
    contamination.update({"ngram": 13, "ngram_rate": 0.0021, "filtered": True})
    return {
        "in": len(samples),
        "dropped": {st["name"]: st["dropped"][st["name"]] for st in steps},
        "out": len(kept),
        "contamination": {"scitail_test": contamination},
        "steps": steps,
        "eval_files": {"scitail_test": "demo/sources/scitail_test/test.jsonl"},
        "settings": {"near_dup_threshold": 0.8, "fewshot_threshold": 85.0, "ngram": 13, "max_per_label": 150},
    }


def _summary(values: list[int]) -> dict[str, float]:
    values = sorted(values) or [0]
    return {
        "min": values[0],
        "mean": round(sum(values) / len(values), 2),
        "median": float(values[len(values) // 2]),
        "p95": float(values[int(0.95 * (len(values) - 1))]),
        "max": values[-1],
    }


def _stats(kept: list[dict[str, Any]]) -> dict[str, Any]:
    """The shape taskforge._quality.dataset_stats returns."""
    fields = {}
    for part, name in (("input", "premise"), ("input", "hypothesis"), ("output", "label")):
        texts = [str(s[part][name]) for s in kept]
        fields[f"{part}.{name}"] = {
            "chars": _summary([len(t) for t in texts]),
            "tokens": _summary([len(t.split()) for t in texts]),
        }
    diversity = {"text": "input+output", "rouge_l_threshold": 0.7, "unique_share": 0.962}
    diversity.update({"unique_count": round(0.962 * len(kept)), "avg_unique_unigrams": 1.74})
    diversity.update({"avg_distinct_unigrams": 17.4, "avg_unique_bigrams": 9.8, "avg_distinct_bigrams": 19.8})
    premises = len({s["input"]["premise"] for s in kept})
    diversity["parts"] = {  # a premise reused by several samples, as in SNLI
        "input": {"distinct": len(kept), "unique_share": 0.054},
        "input.hypothesis": {"distinct": len(kept), "unique_share": 0.962},
        "input.premise": {"distinct": min(premises, max(1, len(kept) // 3)), "unique_share": 0.05},
        "output": {"distinct": len({s["output"]["label"] for s in kept})},
    }
    return {
        "size": len(kept),
        "sources": dict(Counter(s["provenance"]["source"] for s in kept).most_common()),
        "methods": {"llm": len(kept)},
        "labels": dict(Counter(s["output"]["label"] for s in kept).most_common()),
        "fields": fields,
        "task": "scitail-nli",
        "diversity": {**diversity, "seconds": 2.1},
    }


def _fake_eval(run: Path) -> None:
    """The shape of taskforge._experts.EvalResult.to_dict()."""
    atomic_write_json(
        run / "eval" / "results.json",
        {
            "model": "cpu-minilm-classifier",
            "kind": "cpu-classifier",
            "task": "scitail-nli",
            "data": "demo/sources/scitail_test/test.jsonl",
            "n": 400,
            "n_excluded": 0,
            "metrics": {"accuracy": 0.781, "macro_f1": 0.774, "top_share": 0.52},
            "baselines": {
                "majority": {"label": "not_entailment", "accuracy": 0.604},
                "examples_only": {"accuracy": 0.612, "macro_f1": 0.55, "top_share": 0.8, "n_train": 3},
            },
            "diagnostics": {
                "per_label": {
                    "entailment": {
                        "precision": 0.72,
                        "recall": 0.73,
                        "f1": 0.72,
                        "support": 158,
                        "predicted": 161,
                    },
                    "not_entailment": {
                        "precision": 0.82,
                        "recall": 0.82,
                        "f1": 0.82,
                        "support": 242,
                        "predicted": 239,
                    },
                },
                "confusion": {
                    "labels": ["entailment", "not_entailment"],
                    "matrix": [[115, 43], [46, 196]],
                },
                "top_label": "not_entailment",
                "top_share": 0.5975,
            },
            "warnings": [],
            "seconds": 8.1,
            "finished_at": "2026-11-21T20:16:00+00:00",
        },
    )
    atomic_write_json(run / "eval" / "record.json", _record("eval", {"test": 400}, 88.1))


if __name__ == "__main__":  # pragma: no cover - manual helper
    import sys

    from taskforge._report import build_report

    if len(sys.argv) < 2:
        sys.exit("usage: python -m taskforge.testing._fake_run SOURCES_DIR [RUN_DIR]")
    out = write_fake_run(sys.argv[2] if len(sys.argv) > 2 else "fake-run", sources=sys.argv[1])
    print(build_report(out))
