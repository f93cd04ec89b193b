"""Regenerate demo/sources from ../shared/datastore-sources (run from the repo root).

Ships small, permissively licensed subsets so the README demo and the test suite
run on a machine without ../shared. Each folder keeps the dataset's own card and
SOURCE.txt; demo/CREDITS.md lists origins and licences.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

SHARED = (
    Path(os.environ.get("TASKFORGE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "datastore-sources"
)
OUT = Path(__file__).resolve().parents[1] / "demo" / "sources"

P3 = "Apache-2.0 (P3 / promptsource, BigScience; via Self-Instruct's T0 subset)"

# name -> (files to subset, rows to keep, licence)
PICKS: dict[str, tuple[list[str], int, str]] = {
    "scitail_test": (["test.jsonl"], 400, "Apache-2.0 (SciTail, AI2)"),
    "snli_dev": (["dev.jsonl"], 2000, "CC BY-SA 4.0 (SNLI, Bowman et al. 2015)"),
    "gsm8k": (["train.jsonl"], 300, "MIT (OpenAI grade-school-math)"),
    "aqua_rat": (["test.jsonl"], 150, "Apache-2.0 (AQuA-RAT, DeepMind)"),
    "svamp": (["SVAMP.json"], 200, "MIT (SVAMP)"),
    "openbookqa": (["train.jsonl"], 300, "Apache-2.0 (OpenBookQA, AI2)"),
    "scitldr": (["train.jsonl"], 150, "Apache-2.0 (SciTLDR, AI2)"),
    "boolq": (["v6_test.json"], 200, "CC BY-SA 3.0 (BoolQ, Clark et al. 2019)"),
    "truthfulqa": (["TruthfulQA.csv"], 200, "Apache-2.0 (TruthfulQA)"),
    # Review sentiment for examples/sentiment.yaml: P3 (BigScience) prompt files, Apache-2.0 as
    # compiled; the reviews themselves keep their datasets' own terms (named in CREDITS.md).
    "t0_imdb": (["imdb_Movie_Expressed_Sentiment.jsonl"], 200, P3 + " (IMDB reviews, Maas et al. 2011)"),
    "t0_rotten_tomatoes": (
        ["rotten_tomatoes_Movie_Expressed_Sentiment.jsonl"],
        200,
        P3 + " (Rotten Tomatoes snippets, Pang & Lee 2005)",
    ),
    "t0_yelp_review_full": (
        ["yelp_review_full_based_on_that.jsonl"],
        200,
        P3 + " (Yelp reviews, Zhang et al. 2015)",
    ),
}


def subset(src: Path, dst: Path, n: int) -> None:
    if src.suffix == ".jsonl":
        with src.open(encoding="utf-8") as f, dst.open("w", encoding="utf-8") as g:
            for i, line in enumerate(f):
                if i >= n:
                    break
                g.write(line)
    elif src.suffix == ".json":
        data = json.loads(src.read_text(encoding="utf-8"))
        dst.write_text(json.dumps(data[:n], ensure_ascii=False, indent=1), encoding="utf-8")
    elif src.suffix == ".csv":
        import csv

        with src.open(encoding="utf-8", newline="") as f, dst.open("w", encoding="utf-8", newline="") as g:
            reader, writer = csv.reader(f), csv.writer(g)
            for i, row in enumerate(reader):
                if i > n:
                    break
                writer.writerow(row)
    else:
        raise SystemExit(f"unsupported demo file {src}")


def write_eval_sets() -> None:
    """Held-out evaluation sets in the task's example shape (rows the demo sources do not contain)."""
    eval_dir = OUT.parent / "eval"
    eval_dir.mkdir(exist_ok=True)
    rows = (SHARED / "scitail_test" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    n_demo = PICKS["scitail_test"][1]
    with (eval_dir / "scitail_eval.jsonl").open("w", encoding="utf-8") as f:
        for line in rows[n_demo : n_demo + 500]:
            r = json.loads(line)
            rec = {
                "input": {"premise": r["premise"], "hypothesis": r["hypothesis"]},
                "output": {"label": r["label"]},
            }
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    write_amazon_eval(eval_dir / "amazon_reviews_eval.jsonl")


def write_amazon_eval(path: Path) -> None:
    """Product reviews for examples/sentiment.yaml, out of their P3 prompt (no demo source has them)."""
    src = SHARED / "t0_amazon_polarity" / "amazon_polarity_Is_this_product_review_positive.jsonl"
    with src.open(encoding="utf-8") as f, path.open("w", encoding="utf-8") as g:
        for line in f:
            r = json.loads(line)
            body = (
                r["prompt"]
                .removeprefix("Is this product review positive?\nTitle: ")
                .rsplit("\nAnswer:", 1)[0]
            )
            title, review = (x.strip() for x in body.split("\nReview: ", 1))
            text = f"{title} {review}" if title.endswith((".", "!", "?")) else f"{title}. {review}"
            label = "positive" if r["completion"].startswith("Yes") else "negative"
            g.write(json.dumps({"input": text, "output": {"label": label}}, ensure_ascii=False) + "\n")


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} not found")
    shutil.rmtree(OUT, ignore_errors=True)
    credits = [
        "# Demo data credits",
        "",
        "Small subsets of public datasets, copied from their",
        "original releases; each folder keeps its own card (README.md) and SOURCE.txt.",
        "",
        "| folder | rows | licence |",
        "|---|---|---|",
    ]
    for name, (files, n, licence) in PICKS.items():
        d = OUT / name
        d.mkdir(parents=True)
        for extra in ("README.md", "SOURCE.txt"):
            if (SHARED / name / extra).exists():
                shutil.copy(SHARED / name / extra, d / extra)
        for fname in files:
            subset(SHARED / name / fname, d / fname, n)
        credits.append(f"| {name} | first {n} | {licence} |")
    credits += [
        "",
        "Evaluation sets in `demo/eval/` (rows no demo source holds): `scitail_eval.jsonl`, SciTail",
        "test rows 401-900 (Apache-2.0); `amazon_reviews_eval.jsonl`, the 200 Amazon product reviews",
        f"(Zhang et al. 2015) of P3's `amazon_polarity` prompt file, {P3}.",
        "The P3 rows keep the terms of the datasets they quote; they are shipped for the demo only.",
    ]
    write_eval_sets()
    (OUT.parent / "CREDITS.md").write_text("\n".join(credits) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
