"""Dataset statistics and ReBase diversity metrics, checked against rouge-score itself."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from taskforge import Task
from taskforge._io import read_jsonl
from taskforge._quality import dataset_stats, ngram_diversity, rouge_l_f1, rouge_l_uniqueness, rouge_tokenize
from taskforge._quality._diversity import _fallback_tokenize

rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

os.environ["TASKFORGE_QUIET"] = "1"
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "sources"


def _texts(n_snli: int = 150, n_gsm: int = 60, n_sci: int = 80) -> list[str]:
    """Real text with natural near-duplicates (SNLI repeats each premise 3x) and planted ones."""
    snli = [
        f"{r['premise']}\n{r['hypothesis']}"
        for r in itertools.islice(read_jsonl(DEMO / "snli_dev/dev.jsonl"), n_snli)
    ]
    gsm = [
        r["question"] + "\n" + r["answer"].split("\n")[0]
        for r in itertools.islice(read_jsonl(DEMO / "gsm8k/train.jsonl"), n_gsm)
    ]
    sci = [
        f"{r['premise']}\n{r['hypothesis']}\n{r['label']}"
        for r in itertools.islice(read_jsonl(DEMO / "scitail_test/test.jsonl"), n_sci)
    ]
    rng = random.Random(0)
    planted = []
    for t in rng.sample(gsm, 10):  # drop a few words: ROUGE-L lands around the 0.7 threshold
        words = t.split()
        k = rng.randint(len(words) // 8, len(words) // 3)
        planted.append(" ".join(w for i, w in enumerate(words) if i % max(1, len(words) // max(k, 1)) != 0))
    texts = snli + gsm + sci + planted + ["", "!!!", "Ünïcödé ǅ text ß"]
    rng.shuffle(texts)
    return texts


def _reference(texts: list[str], threshold: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Naive all-pairs rouge-score: unique flags and each text's best F1 with any other.

    Same as ``scorer.score(a, b)`` pair by pair, with each text tokenised once by the
    scorer's own tokenizer (re-tokenising per pair only makes the reference slower).
    """
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    toks = [scorer._tokenizer.tokenize(t) for t in texts]
    n = len(texts)
    best = np.zeros(n)
    for i, j in itertools.combinations(range(n), 2):
        f = rouge_scorer._score_lcs(toks[i], toks[j]).fmeasure
        best[i] = max(best[i], f)
        best[j] = max(best[j], f)
    return best < threshold, best


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], np.ndarray, np.ndarray]:
    texts = _texts()
    unique, best = _reference(texts)
    return texts, unique, best


def test_tokenizer_is_rouge_scores() -> None:
    from rouge_score import tokenize

    for t in [*_texts(20, 20, 20), "Hello, WORLD! it's 3.14 — İstanbul K ﬁne", ""]:
        assert rouge_tokenize(t) == tokenize.tokenize(t, None) == _fallback_tokenize(t)


def test_uniqueness_matches_rouge_score(corpus) -> None:
    texts, ref_unique, ref_best = corpus
    assert len(texts) >= 300
    assert 0.2 < ref_unique.mean() < 0.95  # both kinds are present
    res = rouge_l_uniqueness(texts, 0.7)
    assert np.array_equal(res.unique, ref_unique)
    hit = ~res.unique
    assert np.abs(res.score[hit] - ref_best[hit]).max() <= 1e-9
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    for i in np.flatnonzero(hit)[:50]:
        j = res.nearest[i]
        assert j != i and scorer.score(texts[i], texts[j])["rougeL"].fmeasure == pytest.approx(
            res.score[i], abs=1e-12
        )


@pytest.mark.parametrize("threshold", [0.5, 0.9])
def test_uniqueness_small_blocks_and_thresholds(corpus, threshold: float) -> None:
    texts, _, ref_best = corpus
    res = rouge_l_uniqueness(texts, threshold, block_cells=2_000, workers=1)  # many tiny blocks
    assert np.array_equal(res.unique, ref_best < threshold)


def test_pairwise_f1_equals_rouge_score() -> None:
    texts = _texts(60, 60, 60)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(1)
    for _ in range(300):
        a, b = rng.choice(texts), rng.choice(texts)
        assert abs(rouge_l_f1(a, b) - scorer.score(a, b)["rougeL"].fmeasure) <= 1e-9


def test_ngram_diversity_by_hand() -> None:
    d = ngram_diversity(["the cat sat", "the cat ran", "a dog"])
    # unigrams only in one text: sat | ran | a, dog  -> 4 / 3
    assert d["avg_unique_unigrams"] == pytest.approx(4 / 3)
    # bigrams: "cat sat", "cat ran", "a dog" are unique; "the cat" is shared -> 3 / 3
    assert d["avg_unique_bigrams"] == pytest.approx(1.0)
    assert d["avg_distinct_unigrams"] == pytest.approx(8 / 3)


def test_dataset_stats_on_samples(tmp_path: Path) -> None:
    task = Task.load(ROOT / "examples" / "nli.yaml")
    samples = [
        {
            "id": f"s-{i}",
            "input": {"premise": r["premise"], "hypothesis": r["hypothesis"]},
            "output": {"label": r["label"]},
            "provenance": {"source": "scitail_test", "row_id": f"test.jsonl:{i}", "method": "mapper"},
        }
        for i, r in enumerate(itertools.islice(read_jsonl(DEMO / "scitail_test/test.jsonl"), 200))
    ]
    samples += [{**samples[0], "id": "s-copy", "provenance": {"source": "other", "method": "llm"}}]
    stats = dataset_stats(task, samples)
    assert stats["size"] == 201
    assert stats["sources"] == {"scitail_test": 200, "other": 1}
    assert sum(stats["labels"].values()) == 201 and set(stats["labels"]) == {"entailment", "not_entailment"}
    assert set(stats["fields"]) == {"input.premise", "input.hypothesis", "output.label"}
    assert stats["fields"]["output.label"]["tokens"]["max"] == 2
    div = stats["diversity"]
    assert div["unique_count"] <= 199  # the copy and its original are not unique
    assert div["avg_unique_unigrams"] > 0 and div["avg_unique_bigrams"] > div["avg_unique_unigrams"]
    json.dumps(stats)  # JSON-able


def test_cli_stats(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from taskforge._cli import app

    src = tmp_path / "kept.jsonl"
    rows = itertools.islice(read_jsonl(DEMO / "gsm8k/train.jsonl"), 50)
    src.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"s{i}",
                    "input": r["question"],
                    "output": r["answer"],
                    "provenance": {"source": "gsm8k"},
                }
            )
            + "\n"
            for i, r in enumerate(rows)
        )
    )
    out = tmp_path / "stats.json"
    result = CliRunner().invoke(app, ["stats", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    stats = json.loads(out.read_text())
    assert stats["size"] == 50 and stats["sources"] == {"gsm8k": 50} and stats["labels"] is None
    assert 0 < stats["diversity"]["unique_share"] <= 1


def test_uniqueness_on_templated_near_duplicates() -> None:
    """Synthetic-looking data (one template, varied numbers/names): most pairs pass the bound."""
    rng = random.Random(3)
    names = ["Tom", "Ann", "Raj", "Li", "Sam", "Eva"]
    items = ["apples", "pens", "books", "cards"]
    texts = []
    for _ in range(150):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        name, item = rng.choice(names), rng.choice(items)
        extra = " ".join(
            rng.sample(["then", "later", "finally", "also", "he", "she", "gives", "buys"], rng.randint(0, 5))
        )
        texts.append(
            f"{name} has {a} {item} and buys {b} more {extra}. How many {item} does {name} have? {a + b}"
        )
    ref_unique, ref_best = _reference(texts)
    res = rouge_l_uniqueness(texts, 0.7, block_cells=3_000)
    assert np.array_equal(res.unique, ref_unique)
    assert np.abs(res.score[~res.unique] - ref_best[~res.unique]).max() <= 1e-9
    assert res.pairs_scored > 300  # the sketch bound lets these through; LCS decides


def test_bag_sketch_bounds_multiset_overlap() -> None:
    from collections import Counter

    from taskforge._quality._diversity import _bag_sketch, _token_ids

    texts = _texts(40, 40, 40)
    toks = [rouge_tokenize(t) for t in texts]
    ids, vocab = _token_ids(toks)
    sketch = _bag_sketch(ids, vocab, 16)  # narrow: many tokens share a column
    dots = sketch @ sketch.T
    for i, j in itertools.combinations(range(len(toks)), 2):
        overlap = sum((Counter(toks[i]) & Counter(toks[j])).values())
        assert dots[i, j] >= overlap * (1 - 1e-5)
