"""The tasks of benchmarks/expert_quality.py: targets, eval splits and hand-mapped reference rows.

Each task reads its *target* (the dataset a user's task is about) from the shared sources:
the k examples and the held-out eval rows both come from it, and every copy of it is
excluded from retrieval. ``reference_rows`` are rows of the *other* relevant sources mapped
by hand onto the task's fields (the upper reference: what a careful person would build).
"""

from __future__ import annotations

import csv
import glob
import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SRC = Path(os.environ.get("TASKFORGE_SHARED", "/work/shared")) / "datastore-sources"
T0_END = "<|endoftext|>"

Row = dict[str, Any]  # {"input": str | {field: str}, "output": {label_field: label}, "source"?: str}


@dataclass
class TaskDef:
    """One suite task: how to read its target and what a user would write in the task YAML."""

    name: str
    half: str  # "A" or "B": defaults are chosen on one half and reported on the other
    instruction: str
    label_field: str
    labels: list[str]
    descriptions: dict[str, str]  # label -> words for the zero-shot baseline
    exclude: list[str]  # every copy of the target
    target: Callable[[], list[Row]]
    reference: Callable[[], list[Row]] | None = None  # hand-mapped rows of the relevant sources
    reference_sources: list[str] = field(default_factory=list)
    transform_defaults: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _t0(source: str) -> list[dict[str, str]]:
    rows = []
    for path in sorted(glob.glob(str(SRC / source / "*.jsonl"))):
        for r in _jsonl(Path(path)):
            rows.append({"prompt": r["prompt"], "completion": r["completion"].removesuffix(T0_END).strip()})
    return rows


def _row(inp: Any, field_name: str, label: str, source: str) -> Row:
    return {"input": inp, "output": {field_name: label}, "source": source}


# ---- NLI: SciTail ------------------------------------------------------------------------------------
def _nli_pair(p: str, h: str, lab: str, src: str) -> Row:
    two_way = "entailment" if lab == "entailment" else "not_entailment"
    return _row({"premise": p.strip(), "hypothesis": h.strip()}, "label", two_way, src)


def nli_target() -> list[Row]:
    return [
        _nli_pair(r["premise"], r["hypothesis"], r["label"], "scitail_test")
        for r in _jsonl(SRC / "scitail_test/test.jsonl")
    ]


def nli_reference() -> list[Row]:
    out = []
    for src, rel in [
        ("snli_dev", "dev.jsonl"),
        ("anli_test", "test.jsonl"),
        ("superglue_rte", "rte_train_val.jsonl"),
        ("superglue_cb", "dev.jsonl"),
    ]:
        for r in _jsonl(SRC / src / rel):
            if r.get("label") in ("entailment", "neutral", "contradiction", "not_entailment"):
                out.append(_nli_pair(r["premise"], r["hypothesis"], r["label"], src))
    return out


# ---- sentiment: Customer Reviews -------------------------------------------------------------------------
def sentiment_target() -> list[Row]:
    return [
        _row(r["text"], "label", "positive" if r["label"] == "1" else "negative", "customer_reviews_cr")
        for r in _jsonl(SRC / "customer_reviews_cr/test.jsonl")
    ]


def _before(text: str, marker: str) -> str:
    return text.rsplit(marker, 1)[0].strip() if marker in text else text.strip()


def sentiment_reference() -> list[Row]:
    out: list[Row] = []
    with (SRC / "sst5_dev/dev.tsv").open(encoding="utf-8") as f:
        for lab, text in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            star = int(lab.removeprefix("__label__"))
            if star != 3:
                out.append(_row(text, "label", "positive" if star > 3 else "negative", "sst5_dev"))
    for src in ("t0_rotten_tomatoes", "t0_imdb"):
        for r in _t0(src):
            text = _before(r["prompt"], "The sentiment expressed for the movie is").replace("<br />", " ")
            out.append(_row(text, "label", r["completion"], src))
    for r in _t0("t0_amazon_polarity"):
        body = _before(r["prompt"], "\nAnswer:").removeprefix("Is this product review positive?").strip()
        body = body.removeprefix("Title:").replace("\nReview:", ".").strip()
        out.append(
            _row(body, "label", "positive" if r["completion"] == "Yes" else "negative", "t0_amazon_polarity")
        )
    for r in _t0("t0_yelp_review_full"):
        stars = int(r["completion"].split()[0])
        if stars != 3:
            text = _before(r["prompt"], "\n===\n")
            out.append(_row(text, "label", "positive" if stars > 3 else "negative", "t0_yelp_review_full"))
    return out


# ---- topic: AG News ------------------------------------------------------------------------------------
AG_LABELS = {"1": "world", "2": "sports", "3": "business", "4": "sci_tech"}


def topic_target() -> list[Row]:
    out = []
    for r in _jsonl(SRC / "ag_news_test/test.jsonl"):
        text = f"{r['Title'].strip()}\n{r['Description'].replace(chr(92), ' ').strip()}"
        out.append(_row(text, "topic", AG_LABELS[r["Class Index"]], "ag_news_test"))
    return out


# ---- yes/no QA over a passage: BoolQ ---------------------------------------------------------------------
def boolq_target() -> list[Row]:
    rows = json.loads((SRC / "boolq/v6_test.json").read_text(encoding="utf-8"))
    return [
        _row(
            {"passage": r["passage"].strip(), "question": r["question"].strip() + "?"},
            "answer",
            "yes" if r["answer"] else "no",
            "boolq",
        )
        for r in rows
    ]


def boolq_reference() -> list[Row]:
    out = []
    for name in ("train.json", "dev.json"):
        for r in json.loads((SRC / "strategyqa_full" / name).read_text(encoding="utf-8")):
            passage = " ".join(r.get("facts") or [])
            if passage:
                inp = {"passage": passage, "question": r["question"].strip()}
                out.append(_row(inp, "answer", "yes" if r["answer"] else "no", "strategyqa_full"))
    return out


# ---- paraphrase: QQP ------------------------------------------------------------------------------------
_QQP = re.compile(r'^Can an answer to "(?P<a>.*)" also be used to answer "(?P<b>.*)"\?\s*$', re.S)


def paraphrase_target() -> list[Row]:
    out = []
    for r in _t0("t0_glue_qqp"):
        m = _QQP.match(r["prompt"])
        if m:
            inp = {"question1": m["a"].strip(), "question2": m["b"].strip()}
            lab = "duplicate" if r["completion"] == "yes" else "not_duplicate"
            out.append(_row(inp, "label", lab, "t0_glue_qqp"))
    return out


def paraphrase_reference() -> list[Row]:
    out = []
    for r in _t0("t0_paws"):
        m = re.match(r"Sentence 1: (?P<a>.*)\nSentence 2: (?P<b>.*)\nQuestion:", r["prompt"], re.S)
        if m:
            lab = "duplicate" if r["completion"] == "Yes" else "not_duplicate"
            out.append(
                _row({"question1": m["a"].strip(), "question2": m["b"].strip()}, "label", lab, "t0_paws")
            )
    for r in _t0("t0_glue_mrpc"):
        lines = [x for x in r["prompt"].split("\n")[1:] if x.strip()]
        if len(lines) == 2:
            lab = "duplicate" if r["completion"] == "equivalent" else "not_duplicate"
            inp = {"question1": lines[0].strip(), "question2": lines[1].strip()}
            out.append(_row(inp, "label", lab, "t0_glue_mrpc"))
    return out


# ---- question topic: StackOverflow titles -------------------------------------------------------------
SO_TAGS = [
    "wordpress",
    "oracle",
    "svn",
    "apache",
    "excel",
    "matlab",
    "visual-studio",
    "cocoa",
    "osx",
    "bash",
    "spring",
    "hibernate",
    "scala",
    "sharepoint",
    "ajax",
    "qt",
    "drupal",
    "linq",
    "haskell",
    "magento",
]


def question_target() -> list[Row]:
    d = SRC / "stackoverflow_titles"
    titles = (d / "title_StackOverflow.txt").read_text(encoding="utf-8").splitlines()
    labels = (d / "label_StackOverflow.txt").read_text(encoding="utf-8").splitlines()
    return [
        _row(t.strip(), "tag", SO_TAGS[int(lab) - 1], "stackoverflow_titles")
        for t, lab in zip(titles, labels, strict=True)
        if t.strip()
    ]


NLI_MAP = {"neutral": "not_entailment", "contradiction": "not_entailment"}

TASKS: dict[str, TaskDef] = {
    t.name: t
    for t in [
        TaskDef(
            name="nli",
            half="A",
            instruction=(
                "Given a premise and a hypothesis, decide whether the premise entails the hypothesis. "
                'Answer "entailment" if the premise supports the hypothesis, otherwise "not_entailment".'
            ),
            label_field="label",
            labels=["entailment", "not_entailment"],
            descriptions={
                "entailment": "the hypothesis follows from the premise",
                "not_entailment": "the hypothesis does not follow from the premise",
            },
            exclude=["scitail_test"],
            target=nli_target,
            reference=nli_reference,
            reference_sources=["snli_dev", "anli_test", "superglue_rte", "superglue_cb"],
            transform_defaults={"label_map": NLI_MAP},
        ),
        TaskDef(
            name="sentiment",
            half="A",
            instruction="Is the sentiment of this product review positive or negative?",
            label_field="label",
            labels=["negative", "positive"],
            descriptions={"negative": "a negative, unhappy review", "positive": "a positive, happy review"},
            exclude=["customer_reviews_cr"],
            target=sentiment_target,
            reference=sentiment_reference,
            reference_sources=[
                "sst5_dev",
                "t0_rotten_tomatoes",
                "t0_imdb",
                "t0_amazon_polarity",
                "t0_yelp_review_full",
            ],
        ),
        TaskDef(
            name="topic",
            half="A",
            instruction="Classify the topic of this news article: world, sports, business or sci_tech.",
            label_field="topic",
            labels=["world", "sports", "business", "sci_tech"],
            descriptions={
                "world": "world news, politics, international affairs",
                "sports": "sports",
                "business": "business, economy, companies, markets",
                "sci_tech": "science and technology",
            },
            exclude=["ag_news_test", "t0_ag_news"],
            target=topic_target,
            note="no labelled news-topic source remains once both copies of AG News are excluded",
        ),
        TaskDef(
            name="boolq",
            half="B",
            instruction="Read the passage and answer the question about it with yes or no.",
            label_field="answer",
            labels=["yes", "no"],
            descriptions={"yes": "yes, true", "no": "no, false"},
            exclude=["boolq"],
            target=boolq_target,
            reference=boolq_reference,
            reference_sources=["strategyqa_full"],
        ),
        TaskDef(
            name="paraphrase",
            half="B",
            instruction="Do the two questions ask the same thing? Answer duplicate or not_duplicate.",
            label_field="label",
            labels=["duplicate", "not_duplicate"],
            descriptions={
                "duplicate": "the two questions ask the same thing",
                "not_duplicate": "the two questions ask different things",
            },
            exclude=["t0_glue_qqp"],
            target=paraphrase_target,
            reference=paraphrase_reference,
            reference_sources=["t0_paws", "t0_glue_mrpc"],
            note="QQP has 200 rows in the shared sources, so its eval set is 200 - k rows",
        ),
        TaskDef(
            name="question",
            half="B",
            instruction="Which technology is this programming question about? Answer with its tag.",
            label_field="tag",
            labels=list(SO_TAGS),
            descriptions={t: t.replace("-", " ") for t in SO_TAGS},
            exclude=["stackoverflow_titles"],
            target=question_target,
            note=(
                "stands in for question type (TREC): t0_trec's completions are all empty, so no "
                "labelled TREC rows exist in the shared sources"
            ),
        ),
    ]
}


# ---- splits ----------------------------------------------------------------------------------------------
def label_of(row: Row) -> str:
    return next(iter(row["output"].values()))


def draw_examples(rows: list[Row], k: int, seed: int) -> list[Row]:
    """k examples, labels taken round-robin in a seeded order (as a user covers each label first).

    The draws are nested: the k=3 examples are the first three of the k=8 ones.
    """
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_label.setdefault(label_of(r), []).append(i)
    order = sorted(by_label)
    rng.shuffle(order)
    for idx in by_label.values():
        rng.shuffle(idx)
    picks: list[int] = []
    cursor = Counter()
    while len(picks) < k:
        for lab in order:
            if len(picks) == k:
                break
            if cursor[lab] < len(by_label[lab]):
                picks.append(by_label[lab][cursor[lab]])
                cursor[lab] += 1
    return [rows[i] for i in picks]


MAX_K = 8  # the eval set leaves out the examples of the largest k, so every k is scored on the same rows


def eval_split(rows: list[Row], n: int, seed: int) -> list[Row]:
    """Up to n target rows that are none of the MAX_K examples (seeded sample, target order kept)."""
    taken = {json.dumps(e["input"], sort_keys=True) for e in draw_examples(rows, MAX_K, seed)}
    rest = [r for r in rows if json.dumps(r["input"], sort_keys=True) not in taken]
    if len(rest) <= n:
        return rest
    keep = sorted(random.Random(seed + 1).sample(range(len(rest)), n))
    return [rest[i] for i in keep]


def balanced(rows: list[Row], n: int, seed: int) -> list[Row]:
    """At most n rows with the labels as balanced as the rows allow (seeded)."""
    rng = random.Random(seed)
    by: dict[str, list[Row]] = {}
    for r in rows:
        by.setdefault(label_of(r), []).append(r)
    for v in by.values():
        rng.shuffle(v)
    out: list[Row] = []
    while len(out) < n and any(by.values()):
        for v in by.values():
            if v and len(out) < n:
                out.append(v.pop())
    rng.shuffle(out)
    return out
