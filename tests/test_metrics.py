"""Metrics against their reference definitions: SQuAD's script, sacrebleu, rouge-score."""

from __future__ import annotations

import pytest

from taskforge import Task
from taskforge._experts import _metrics as M
from taskforge._experts import score


# ---- SQuAD EM / F1 (hand-computed with the official definitions) -------------------------------------
@pytest.mark.parametrize(
    ("text", "norm"),
    [
        ("The Cat!", "cat"),
        ("  an  apple, a day ", "apple day"),
        ("Theory of the Universe.", "theory of universe"),
        ("A", ""),
        ("1,000", "1000"),
    ],
)
def test_normalize_answer(text: str, norm: str) -> None:
    assert M.normalize_answer(text) == norm


def test_exact_match_and_f1_known_values() -> None:
    assert M.exact_match("the Eiffel Tower.", "Eiffel tower") == 1.0
    assert M.exact_match("Eiffel", "Eiffel Tower") == 0.0
    # pred tokens [eiffel], gold [eiffel, tower]: P=1, R=1/2 -> F1 = 2/3
    assert M.token_f1("Eiffel", "Eiffel Tower") == pytest.approx(2 / 3)
    # pred [paris, france, city] vs gold [paris]: P=1/3, R=1 -> 0.5
    assert M.token_f1("Paris, France city", "Paris") == pytest.approx(0.5)
    # max over gold answers
    assert M.token_f1("in 1945", ["1944", "1945"]) == pytest.approx(2 / 3)
    assert M.exact_match("1945", ["1944", "1945"]) == 1.0
    # repeated tokens count with multiplicity: pred [a? no: "cat cat"] vs gold [cat]
    assert M.token_f1("cat cat", "cat") == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert M.token_f1("dog", "cat") == 0.0
    # empty answers (SQuAD v2 rule): both empty match, one empty does not
    assert M.token_f1("the", "") == 1.0
    assert M.token_f1("", "cat") == 0.0


# ---- chrF++ vs sacrebleu, ROUGE-L vs rouge-score -----------------------------------------------------
def test_chrf_pp_equals_sacrebleu() -> None:
    from sacrebleu.metrics import CHRF

    hyps = ["The cat sat on the mat.", "A quick brown fox jumps."]
    refs = ["The cat is sitting on the mat.", "The quick brown fox jumped over the dog."]
    expected = CHRF(word_order=2).corpus_score(hyps, [refs]).score / 100
    assert M.chrf_pp(hyps, refs) == pytest.approx(expected)
    single = CHRF(word_order=2).sentence_score(hyps[0], [refs[0]]).score / 100
    assert M.chrf_pp(hyps[:1], refs[:1]) == pytest.approx(single)
    assert 0.0 < expected < 1.0


@pytest.mark.parametrize(
    ("pred", "ref"),
    [
        ("the cat sat on the mat", "a cat sat on a mat"),
        ("Police killed the gunman.", "The gunman was shot dead by police!"),
        ("completely different words", "nothing shared here"),
        ("x", "x"),
        ("A B C D E F G", "G F E D C B A"),
    ],
)
def test_rouge_l_equals_rouge_score(pred: str, ref: str) -> None:
    from rouge_score import rouge_scorer

    expected = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False).score(ref, pred)["rougeL"].fmeasure
    assert M.rouge_l(pred, ref) == pytest.approx(expected, abs=1e-12)


def test_rouge_l_max_over_references() -> None:
    assert M.rouge_l("a b c", ["x y", "a b c"]) == 1.0
    assert M.rouge_l("", "a b") == 0.0


# ---- answer extraction (chain of thought) ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "numeric", "expected"),
    [
        ("5 + 7 = 12, minus 3 is 9. The answer is 9.", False, "9"),
        ("Reasoning...\n#### 1,000", True, "1000"),
        ("Reasoning...\n#### 72", False, "72"),
        ("so we get \\boxed{42} in the end", False, "42"),
        ("Step one.\nStep two.\nentailment", False, "entailment"),
        ("The final answer is: Paris.", False, "Paris"),
        ("Answer: B", False, "B"),
        ("He made 24 * 3 = 72 dollars", True, "72"),
        ("The answer is $1,250.50.", True, "1250.5"),
        ("First the answer is 3. Wait, recount: the answer is 4.", False, "4"),
        ("", False, ""),
    ],
)
def test_extract_answer(text: str, numeric: bool, expected: str) -> None:
    assert M.extract_answer(text, numeric=numeric) == expected


def test_answers_match_numbers_and_text() -> None:
    assert M.answers_match("72.0", "72")
    assert M.answers_match("1,000", ["999", "1000"])
    assert M.answers_match("Entailment.", "entailment")
    assert not M.answers_match("not_entailment", "entailment")


# ---- score(): which metrics for which task ------------------------------------------------------------
MATH = Task.from_dict(
    {
        "name": "math",
        "instruction": "Solve.",
        "examples": [{"input": "1+1?", "output": "1 + 1 = 2. The answer is 2."}],
    }
)
NLI = Task.from_dict(
    {
        "name": "nli",
        "instruction": "Entailment?",
        "examples": [{"input": {"premise": "p", "hypothesis": "h"}, "output": {"label": "entailment"}}],
        "output_schema": {"label": {"labels": ["entailment", "not_entailment"]}},
    }
)


def test_score_cot_math_extracts_final_numbers() -> None:
    preds = ["2 + 2 = 4. The answer is 4.", "I think 10 - 3 = 6. The answer is 6", "#### 5"]
    golds = [["2 + 2 = 4. The answer is 4."], ["10 - 3 = 7. The answer is 7."], ["The answer is 5."]]
    metrics, records = score(MATH, preds, golds)
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["exact_match"] == pytest.approx(2 / 3)
    assert [r["answer"] for r in records] == ["4", "6", "5"]
    assert set(metrics) >= {"accuracy", "exact_match", "f1", "chrf++", "rouge_l"}


def test_score_labels_adds_macro_f1() -> None:
    preds = ["entailment", "The answer is not_entailment", "entailment", "entailment"]
    golds = [["entailment"], ["not_entailment"], ["not_entailment"], ["entailment"]]
    metrics, _ = score(NLI, preds, golds)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert 0 < metrics["macro_f1"] <= 1
    cls_metrics, _ = score(
        NLI, ["entailment", "entailment"], [["entailment"], ["not_entailment"]], classifier=True
    )
    assert cls_metrics == {"accuracy": 0.5, "macro_f1": pytest.approx(1 / 3)}
