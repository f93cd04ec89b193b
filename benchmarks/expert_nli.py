"""CPU task expert on real data: does training on other datasets beat the 3 examples alone?

Two tasks, each with 3 examples taken from the target test set (never used for training,
removed from the eval set):

- nli: SciTail (entailment / not_entailment). Training rows: snli_dev, anli_test,
  superglue_rte, superglue_cb/dev.jsonl (never scitail), labels mapped to
  entailment / not_entailment (neutral and contradiction -> not_entailment).
- sentiment: Customer Reviews (CR, positive / negative). Training rows: sst5_dev (1-2 negative,
  4-5 positive, 3 dropped), t0_rotten_tomatoes, t0_imdb, t0_amazon_polarity, t0_yelp_review_full
  (1-2 stars negative, 4-5 positive) with the T0 prompt wrapper stripped (never customer_reviews_cr).

This is the "mapped rows" data (ReBase's retrieved baseline, built by hand without retrieval):
rows of every listed source, shuffled with a fixed seed, labels balanced 50/50, capped at --n.

With ``--pipeline`` the training set is made by taskforge itself instead: a rows datastore of
PIPELINE_SOURCES (scitail_test included, so exclusion is really exercised; --max-rows per
source), ReBase retrieval of the top --n rows for the task (scitail_test excluded by the task),
the no-LLM mapper (label_map neutral/contradiction -> not_entailment), quality filter
(defaults), then the same expert / eval as above. NLI only.

    python benchmarks/expert_nli.py [--task nli|sentiment|all] [--n 2000] [--epochs 4] [--lr 1e-4] [--threads 1] [--out DIR]
    python benchmarks/expert_nli.py --task nli --pipeline [--max-rows 500] [--n 1500] [--threads 1] [--out DIR]

Prints (and writes DIR/results.json) the accuracy of the expert trained on the mapped rows and
of the expert trained on the 3 examples alone (same settings, at least 30 steps), plus the
majority-class rate.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from taskforge import Task
from taskforge._experts import evaluate, train_cpu_expert

SRC = Path(os.environ.get("TASKFORGE_SHARED", "/work/shared")) / "datastore-sources"
NLI_INSTRUCTION = (
    "Given a premise and a hypothesis, decide whether the premise entails the hypothesis. "
    'Answer "entailment" if the premise supports the hypothesis, otherwise "not_entailment".'
)
SENT_INSTRUCTION = "Is the sentiment of this product review positive or negative?"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _balance(rows: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    by = collections.defaultdict(list)
    for r in rows:
        by[r["output"]["label"] if isinstance(r["output"], dict) else r["output"]].append(r)
    per = min(n // len(by), *(len(v) for v in by.values()))
    out = []
    for v in by.values():
        rng.shuffle(v)
        out += v[:per]
    rng.shuffle(out)
    return out


def _pick_examples(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """3 examples from the target set: two of one label, one of the other (seeded)."""
    rng = random.Random(seed)
    labels = sorted({r["output"]["label"] for r in rows})
    picks = []
    for lab in [labels[0], labels[1], labels[0]]:
        pool = [r for r in rows if r["output"]["label"] == lab and r not in picks]
        picks.append(rng.choice(pool))
    return picks


# ---- NLI ---------------------------------------------------------------------------------------------
def nli_data(n: int, seed: int) -> tuple[Task, list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    def sample(p: str, h: str, lab: str) -> dict[str, Any]:
        return {
            "input": {"premise": p, "hypothesis": h},
            "output": {"label": "entailment" if lab == "entailment" else "not_entailment"},
        }

    test = [
        sample(r["premise"], r["hypothesis"], r["label"]) for r in _jsonl(SRC / "scitail_test/test.jsonl")
    ]
    train, counts = [], collections.Counter()
    for src, rel in [
        ("snli_dev", "dev.jsonl"),
        ("anli_test", "test.jsonl"),
        ("superglue_rte", "rte_train_val.jsonl"),
        ("superglue_cb", "dev.jsonl"),
    ]:
        for r in _jsonl(SRC / src / rel):
            if r.get("label") in ("entailment", "neutral", "contradiction", "not_entailment"):
                train.append({**sample(r["premise"], r["hypothesis"], r["label"]), "source": src})
                counts[src] += 1
    examples = _pick_examples(test, seed)
    task = Task.from_dict(
        {
            "name": "scitail-nli",
            "instruction": NLI_INSTRUCTION,
            "examples": [{"input": e["input"], "output": e["output"]} for e in examples],
            "output_schema": {"label": {"labels": ["entailment", "not_entailment"]}},
            "exclude_sources": ["scitail_test"],
        }
    )
    return task, _balance(train, n, seed), test, dict(counts)


# ---- sentiment ---------------------------------------------------------------------------------------
def _strip(prompt: str, *suffixes: str) -> str:
    for s in suffixes:
        if s in prompt:
            prompt = prompt.rsplit(s, 1)[0]
    return prompt.strip()


def sentiment_data(
    n: int, seed: int
) -> tuple[Task, list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    def sample(text: str, positive: bool) -> dict[str, Any]:
        return {"input": text, "output": {"label": "positive" if positive else "negative"}}

    test = [sample(r["text"], r["label"] == "1") for r in _jsonl(SRC / "customer_reviews_cr/test.jsonl")]
    train, counts = [], collections.Counter()

    def add(src: str, s: dict[str, Any]) -> None:
        train.append({**s, "source": src})
        counts[src] += 1

    with (SRC / "sst5_dev/dev.tsv").open(encoding="utf-8") as f:
        for lab, text in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            star = int(lab.removeprefix("__label__"))
            if star != 3:
                add("sst5_dev", sample(text, star > 3))
    t0 = "<|endoftext|>"
    for src in ("t0_rotten_tomatoes", "t0_imdb"):
        for path in (SRC / src).glob("*.jsonl"):
            for r in _jsonl(path):
                text = _strip(r["prompt"], "The sentiment expressed for the movie is")
                add(
                    src,
                    sample(
                        text.replace("<br />", " "), r["completion"].removesuffix(t0).strip() == "positive"
                    ),
                )
    for path in (SRC / "t0_amazon_polarity").glob("*.jsonl"):
        for r in _jsonl(path):
            body = _strip(r["prompt"], "\nAnswer:").removeprefix("Is this product review positive?").strip()
            body = body.replace("Title:", "").replace("\nReview:", ".")
            add("t0_amazon_polarity", sample(body.strip(), r["completion"].removesuffix(t0).strip() == "Yes"))
    for path in (SRC / "t0_yelp_review_full").glob("*.jsonl"):
        for r in _jsonl(path):
            stars = int(r["completion"].removesuffix(t0).split()[0])
            if stars != 3:
                add("t0_yelp_review_full", sample(_strip(r["prompt"], "\n===\n"), stars > 3))
    examples = _pick_examples(test, seed)
    task = Task.from_dict(
        {
            "name": "cr-sentiment",
            "instruction": SENT_INSTRUCTION,
            "examples": [{"input": e["input"], "output": e["output"]} for e in examples],
            "output_schema": {"label": {"labels": ["negative", "positive"]}},
            "exclude_sources": ["customer_reviews_cr"],
        }
    )
    return task, _balance(train, n, seed), test, dict(counts)


# ---- the taskforge pipeline (datastore -> retrieve -> mapper -> filter) ----------------------------------
PIPELINE_SOURCES = [
    "scitail_test",
    "snli_dev",
    "anli_test",
    "superglue_rte",
    "superglue_cb",
    "boolq",
    "openbookqa",
    "t0_qasc",
    "t0_sciq",
    "t0_paws",
    "t0_glue_mrpc",
    "ag_news_test",
]


def pipeline_data(
    task: Task, out: Path, n: int, max_rows: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from taskforge import (
        FilterSettings,
        TransformSettings,
        build_datastore,
        filter_samples,
        retrieve,
        transform,
    )

    t0 = time.perf_counter()
    store = out / "store"
    build_datastore([str(SRC / s) for s in PIPELINE_SOURCES], store, kind="rows", max_rows=max_rows)
    t1 = time.perf_counter()
    ret = retrieve(task, store, n=n, method="rebase", out=out / "retrieve" / "items.jsonl")
    t2 = time.perf_counter()
    settings = TransformSettings(
        method="mapper",
        sources_dir=SRC,
        label_map={"neutral": "not_entailment", "contradiction": "not_entailment"},
    )
    tr = transform(
        task,
        out / "retrieve" / "items.jsonl",
        out / "transform" / "samples.jsonl",
        settings=settings,
        progress=False,
    )
    t3 = time.perf_counter()
    fr = filter_samples(task, out / "transform" / "samples.jsonl", out / "filter", settings=FilterSettings())
    t4 = time.perf_counter()
    kept = [dict(s) if isinstance(s, dict) else s.model_dump() for s in fr.kept]
    info = {
        "sources": PIPELINE_SOURCES,
        "max_rows": max_rows,
        "retrieved": len(ret.items),
        "retrieved_per_source": ret.per_source,
        "excluded_sources": ret.excluded_sources,
        "samples": tr.samples,
        "transform_rejects": tr.rejects_by_reason,
        "kept": len(kept),
        "kept_labels": dict(collections.Counter(str(s["output"]) for s in kept)),
        "seconds": {
            "datastore": round(t1 - t0, 1),
            "retrieve": round(t2 - t1, 1),
            "transform": round(t3 - t2, 1),
            "filter": round(t4 - t3, 1),
        },
    }
    print(json.dumps({"pipeline": info}), flush=True)
    return kept, info


# ---- run ---------------------------------------------------------------------------------------------
def run_task(
    name: str,
    n: int,
    epochs: int,
    seed: int,
    out: Path,
    eval_limit: int | None,
    threads: int | None,
    pipeline: bool = False,
    max_rows: int = 300,
    lr: float = 1e-4,
) -> dict[str, Any]:
    task, train, test, counts = {"nli": nli_data, "sentiment": sentiment_data}[name](n, seed)
    pipeline_info = None
    if pipeline:
        train, pipeline_info = pipeline_data(task, out / "pipeline", n, max_rows)
    test_file = out / f"{name}_test.jsonl"
    test_file.write_text("".join(json.dumps(r) + "\n" for r in test), encoding="utf-8")
    examples = [{"input": e.input, "output": e.output} for e in task.examples]
    main_label = "pipeline" if pipeline else "mapped_rows"
    res: dict[str, Any] = {
        "task": name,
        "training_data": main_label,
        "pipeline": pipeline_info,
        "rows_available": counts,
        "n_train": len(train),
        "train_label_counts": dict(collections.Counter(s["output"]["label"] for s in train)),
    }
    for label, data, kw in [(main_label, train, {}), ("examples_only", examples, {"min_steps": 30})]:
        t0 = time.perf_counter()
        tr = train_cpu_expert(
            task, data, out / f"{name}_{label}", epochs=epochs, lr=lr, seed=seed, threads=threads, **kw
        )
        ev = evaluate(out / f"{name}_{label}", task, test_file, limit=eval_limit)
        res[label] = {
            "accuracy": round(ev.metrics["accuracy"], 4),
            "macro_f1": round(ev.metrics["macro_f1"], 4),
            "n_eval": ev.n,
            "n_excluded": ev.n_excluded,
            "train_seconds": round(tr.seconds, 1),
            "eval_seconds": round(ev.seconds, 1),
            "total_seconds": round(time.perf_counter() - t0, 1),
            "epochs": tr.info["settings"]["epochs"],
            "lr": lr,
            "losses": [round(x, 4) for x in tr.losses],
        }
        print(json.dumps({label: res[label]}), flush=True)
    gold = collections.Counter(r["output"]["label"] for r in test)
    res["majority_rate"] = round(max(gold.values()) / sum(gold.values()), 4)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["nli", "sentiment", "all"], default="all")
    ap.add_argument("--n", type=int, default=2000, help="training rows (balanced)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--pipeline", action="store_true", help="make the NLI training set with taskforge")
    ap.add_argument("--max-rows", type=int, default=300, help="--pipeline: datastore rows per source")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 on a busy machine)")
    args = ap.parse_args(argv)
    if not SRC.exists():
        print(f"{SRC} not found", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="expert_bench_"))
    out.mkdir(parents=True, exist_ok=True)
    results = [
        run_task(
            t,
            args.n,
            args.epochs,
            args.seed,
            out,
            args.eval_limit,
            args.threads,
            args.pipeline,
            args.max_rows,
            args.lr,
        )
        for t in (["nli", "sentiment"] if args.task == "all" else [args.task])
    ]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for r in results:
        print(
            f"{r['task']}: {r['training_data']} ({r['n_train']}) acc {r[r['training_data']]['accuracy']:.3f} | "
            f"3 examples acc {r['examples_only']['accuracy']:.3f} | majority {r['majority_rate']:.3f} "
            f"| n_eval {r[r['training_data']]['n_eval']}"
        )
    print(f"results: {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
