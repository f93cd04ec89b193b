"""The tasks of benchmarks/expert_quality.py: targets, eval splits and hand-mapped reference rows.

Each task reads its *target* (the dataset a user's task is about) from the shared sources:
the k examples and the held-out eval rows both come from it, and every copy of it is
excluded from retrieval. Its *reference* rows are rows of the *other* relevant sources mapped
by hand onto the task's fields (the upper reference: what a careful person would build).
``TASKS`` is the table of the six specs; each source a task reads is named once, in a :class:`Read`.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SRC = Path(os.environ.get("TASKFORGE_SHARED", "/work/shared")) / "datastore-sources"
T0_END = "<|endoftext|>"

Row = dict[str, Any]  # {"input": str | {field: str}, "output": {label_field: label}, "source"?: str}
Mapped = tuple[Any, str] | None  # one record as (input, label); None: the record is left out
Records = Callable[[Path], Iterable[Any]]  # a source folder -> its records, in order


# ---- reading a source ----------------------------------------------------------------------------------
def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def jsonl(*names: str) -> Records:
    return lambda folder: (r for name in names for r in _jsonl(folder / name))


def json_list(*names: str) -> Records:
    """Files that each hold one JSON list of records."""
    return lambda folder: (
        r for name in names for r in json.loads((folder / name).read_text(encoding="utf-8"))
    )


def tsv(name: str) -> Records:
    def read(folder: Path) -> Iterator[list[str]]:
        with (folder / name).open(encoding="utf-8") as f:
            yield from csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)

    return read


def t0(folder: Path) -> Iterator[dict[str, str]]:
    """A T0 source's prompt/completion pairs, every JSONL file in name order, the end marker cut."""
    for path in sorted(glob.glob(str(folder / "*.jsonl"))):
        for r in _jsonl(Path(path)):
            yield {"prompt": r["prompt"], "completion": r["completion"].removesuffix(T0_END).strip()}


@dataclass(frozen=True)
class Read:
    """One source mapped onto a task: its records, each made a task row (or left out) by ``to_row``."""

    source: str
    records: Records
    to_row: Callable[[Any], Mapped]

    def rows(self, label_field: str) -> list[Row]:
        out = []
        for record in self.records(SRC / self.source):
            mapped = self.to_row(record)
            if mapped is not None:
                out.append({"input": mapped[0], "output": {label_field: mapped[1]}, "source": self.source})
        return out


@dataclass
class TaskDef:
    """One suite task: how to read its target and what a user would write in the task YAML."""

    name: str
    half: str  # "A" or "B": defaults are chosen on one half and reported on the other
    instruction: str
    label_field: str
    descriptions: dict[str, str]  # label -> words for the zero-shot baseline; the task's labels, in order
    target_from: Read
    reference_from: list[Read] = field(default_factory=list)  # hand-mapped rows of the relevant sources
    other_copies: list[str] = field(default_factory=list)  # more copies of the target, excluded as well
    transform_defaults: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def labels(self) -> list[str]:
        return list(self.descriptions)

    @property
    def exclude(self) -> list[str]:
        """Every copy of the target."""
        return [self.target_from.source, *self.other_copies]

    @property
    def reference_sources(self) -> list[str]:
        return [r.source for r in self.reference_from]

    def target(self) -> list[Row]:
        return self.target_from.rows(self.label_field)

    @property
    def reference(self) -> Callable[[], list[Row]] | None:
        """The reference rows' reader; None for a task with no relevant source left."""
        return self._reference_rows if self.reference_from else None

    def _reference_rows(self) -> list[Row]:
        return [row for read in self.reference_from for row in read.rows(self.label_field)]


# ---- NLI: SciTail ------------------------------------------------------------------------------------
def _nli(r: dict[str, Any]) -> Mapped:
    two_way = "entailment" if r["label"] == "entailment" else "not_entailment"
    return {"premise": r["premise"].strip(), "hypothesis": r["hypothesis"].strip()}, two_way


def _nli_labelled(r: dict[str, Any]) -> Mapped:
    return _nli(r) if r.get("label") in ("entailment", "neutral", "contradiction", "not_entailment") else None


NLI_MAP = {"neutral": "not_entailment", "contradiction": "not_entailment"}


# ---- sentiment: Customer Reviews -------------------------------------------------------------------------
def _polarity(positive: bool) -> str:
    return "positive" if positive else "negative"


def _before(text: str, marker: str) -> str:
    return text.rsplit(marker, 1)[0].strip() if marker in text else text.strip()


def _sst5(record: list[str]) -> Mapped:
    lab, text = record
    star = int(lab.removeprefix("__label__"))
    return None if star == 3 else (text, _polarity(star > 3))


def _t0_movie(r: dict[str, str]) -> Mapped:
    text = _before(r["prompt"], "The sentiment expressed for the movie is").replace("<br />", " ")
    return text, r["completion"]


def _t0_amazon(r: dict[str, str]) -> Mapped:
    body = _before(r["prompt"], "\nAnswer:").removeprefix("Is this product review positive?").strip()
    body = body.removeprefix("Title:").replace("\nReview:", ".").strip()
    return body, _polarity(r["completion"] == "Yes")


def _t0_yelp(r: dict[str, str]) -> Mapped:
    stars = int(r["completion"].split()[0])
    return None if stars == 3 else (_before(r["prompt"], "\n===\n"), _polarity(stars > 3))


# ---- topic: AG News ------------------------------------------------------------------------------------
AG_LABELS = {"1": "world", "2": "sports", "3": "business", "4": "sci_tech"}


def _ag_news(r: dict[str, str]) -> Mapped:
    text = f"{r['Title'].strip()}\n{r['Description'].replace(chr(92), ' ').strip()}"
    return text, AG_LABELS[r["Class Index"]]


# ---- yes/no QA over a passage: BoolQ ---------------------------------------------------------------------
def _yes_no(answer: bool) -> str:
    return "yes" if answer else "no"


def _boolq(r: dict[str, Any]) -> Mapped:
    return {"passage": r["passage"].strip(), "question": r["question"].strip() + "?"}, _yes_no(r["answer"])


def _strategyqa(r: dict[str, Any]) -> Mapped:
    passage = " ".join(r.get("facts") or [])
    return (
        ({"passage": passage, "question": r["question"].strip()}, _yes_no(r["answer"])) if passage else None
    )


# ---- paraphrase: QQP ------------------------------------------------------------------------------------
_QQP = re.compile(r'^Can an answer to "(?P<a>.*)" also be used to answer "(?P<b>.*)"\?\s*$', re.S)
_PAWS = re.compile(r"Sentence 1: (?P<a>.*)\nSentence 2: (?P<b>.*)\nQuestion:", re.S)


def _pair(a: str, b: str, same: bool) -> Mapped:
    return {"question1": a.strip(), "question2": b.strip()}, "duplicate" if same else "not_duplicate"


def _t0_qqp(r: dict[str, str]) -> Mapped:
    m = _QQP.match(r["prompt"])
    return _pair(m["a"], m["b"], r["completion"] == "yes") if m else None


def _t0_paws(r: dict[str, str]) -> Mapped:
    m = _PAWS.match(r["prompt"])
    return _pair(m["a"], m["b"], r["completion"] == "Yes") if m else None


def _t0_mrpc(r: dict[str, str]) -> Mapped:
    lines = [x for x in r["prompt"].split("\n")[1:] if x.strip()]
    return _pair(lines[0], lines[1], r["completion"] == "equivalent") if len(lines) == 2 else None


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


def _stackoverflow(folder: Path) -> Iterator[tuple[str, str]]:
    """(title, tag number) pairs from the source's two parallel text files."""
    titles = (folder / "title_StackOverflow.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / "label_StackOverflow.txt").read_text(encoding="utf-8").splitlines()
    return zip(titles, labels, strict=True)


def _so_title(record: tuple[str, str]) -> Mapped:
    title, lab = record
    return (title.strip(), SO_TAGS[int(lab) - 1]) if title.strip() else None


# ---- the table -----------------------------------------------------------------------------------------
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
            descriptions={
                "entailment": "the hypothesis follows from the premise",
                "not_entailment": "the hypothesis does not follow from the premise",
            },
            target_from=Read("scitail_test", jsonl("test.jsonl"), _nli),
            reference_from=[
                Read(source, jsonl(name), _nli_labelled)
                for source, name in [
                    ("snli_dev", "dev.jsonl"),
                    ("anli_test", "test.jsonl"),
                    ("superglue_rte", "rte_train_val.jsonl"),
                    ("superglue_cb", "dev.jsonl"),
                ]
            ],
            transform_defaults={"label_map": NLI_MAP},
        ),
        TaskDef(
            name="sentiment",
            half="A",
            instruction="Is the sentiment of this product review positive or negative?",
            label_field="label",
            descriptions={"negative": "a negative, unhappy review", "positive": "a positive, happy review"},
            target_from=Read(
                "customer_reviews_cr",
                jsonl("test.jsonl"),
                lambda r: (r["text"], _polarity(r["label"] == "1")),
            ),
            reference_from=[
                Read("sst5_dev", tsv("dev.tsv"), _sst5),
                Read("t0_rotten_tomatoes", t0, _t0_movie),
                Read("t0_imdb", t0, _t0_movie),
                Read("t0_amazon_polarity", t0, _t0_amazon),
                Read("t0_yelp_review_full", t0, _t0_yelp),
            ],
        ),
        TaskDef(
            name="topic",
            half="A",
            instruction="Classify the topic of this news article: world, sports, business or sci_tech.",
            label_field="topic",
            descriptions={
                "world": "world news, politics, international affairs",
                "sports": "sports",
                "business": "business, economy, companies, markets",
                "sci_tech": "science and technology",
            },
            target_from=Read("ag_news_test", jsonl("test.jsonl"), _ag_news),
            other_copies=["t0_ag_news"],
            note="no labelled news-topic source remains once both copies of AG News are excluded",
        ),
        TaskDef(
            name="boolq",
            half="B",
            instruction="Read the passage and answer the question about it with yes or no.",
            label_field="answer",
            descriptions={"yes": "yes, true", "no": "no, false"},
            target_from=Read("boolq", json_list("v6_test.json"), _boolq),
            reference_from=[Read("strategyqa_full", json_list("train.json", "dev.json"), _strategyqa)],
        ),
        TaskDef(
            name="paraphrase",
            half="B",
            instruction="Do the two questions ask the same thing? Answer duplicate or not_duplicate.",
            label_field="label",
            descriptions={
                "duplicate": "the two questions ask the same thing",
                "not_duplicate": "the two questions ask different things",
            },
            target_from=Read("t0_glue_qqp", t0, _t0_qqp),
            reference_from=[Read("t0_paws", t0, _t0_paws), Read("t0_glue_mrpc", t0, _t0_mrpc)],
            note="QQP has 200 rows in the shared sources, so its eval set is 200 - k rows",
        ),
        TaskDef(
            name="question",
            half="B",
            instruction="Which technology is this programming question about? Answer with its tag.",
            label_field="tag",
            descriptions={t: t.replace("-", " ") for t in SO_TAGS},
            target_from=Read("stackoverflow_titles", _stackoverflow, _so_title),
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
