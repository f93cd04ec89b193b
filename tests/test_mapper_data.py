"""Data that teaches: prompt wrappers cut, inferred label sets, every input part filled, 3-way onto
2-way labels, and the report of labels that do not map (with a suggested label_map)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskforge._task import Task, infer_label_set
from taskforge._transform import Mapper, SampleError, TransformSettings, transform
from taskforge._transform._labels import LabelSet
from taskforge._transform._parsing import validate_sample
from taskforge._transform._wrappers import learn_wrapper, strip_special
from taskforge.testing import demo_items

DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"
# (title, review, completion) shaped like t0_amazon_polarity's rows
REVIEWS = [
    ("Stunning soundtrack", "Beautiful music that paints the scenery in your mind.", "Yes"),
    ("Broke in a week", "The hinge snapped after six days and support never answered.", "No"),
    ("Best purchase this year", "Sturdy, quiet and the battery lasts for days.", "Yes"),
    ("Waste of money", "Blurry screen, the colours are off and the stand wobbles.", "No"),
    ("Works as described", "Set up in minutes and it has run flawlessly since then.", "Yes"),
    ("Do not buy", "It arrived scratched and the replacement was no better.", "No"),
    ("My kids love it", "Bright colours, tough plastic and easy for small hands.", "Yes"),
    ("Terrible fit", "The sizes run two numbers small and the seams itch.", "No"),
    ("Great value", "Half the price of the brand name and every bit as good.", "Yes"),
    ("Stopped charging", "After a month it would not hold a charge at all.", "No"),
    ("Fantastic read", "I could not put it down; the characters feel real.", "Yes"),
    ("Too loud", "The fan whines constantly and the noise gives me headaches.", "No"),
]
T0_PROMPT = "Is this product review positive?\nTitle: {title}\nReview: {review}\nAnswer:\n"

SENTIMENT = Task.from_dict(
    {
        "name": "sentiment",
        "instruction": "Is the sentiment of this customer review positive or negative?",
        "examples": [
            {"input": "the picture quality is superb and setup took five minutes .", "output": "positive"},
            {"input": "the remote stopped working after two days .", "output": "negative"},
            {"input": "battery life is excellent and it feels solid .", "output": "positive"},
        ],
    }
)
NLI3 = Task.from_dict(
    {
        "name": "nli3",
        "instruction": "Does the premise entail the hypothesis, contradict it, or neither?",
        "examples": [
            {
                "input": "Premise: A man plays a guitar on stage.\nHypothesis: A man performs music.",
                "output": "entailment",
            },
            {
                "input": "Premise: Two dogs run in the snow.\nHypothesis: The dogs sleep indoors.",
                "output": "contradiction",
            },
            {
                "input": "Premise: A woman reads in a park.\nHypothesis: The woman is a teacher.",
                "output": "neutral",
            },
        ],
    }
)


@pytest.fixture(scope="module")
def embedder():
    from taskforge._embed import Embedder

    return Embedder.load(None)


def t0_items(source: str = "t0_amazon_polarity") -> list[dict]:
    rows = [
        {"prompt": T0_PROMPT.format(title=t, review=r), "completion": f"{c}<|endoftext|>"}
        for t, r, c in REVIEWS
    ]
    return [
        {"rank": i + 1, "source": source, "row_id": f"a.jsonl:{i + 1}", "row": row, "scores": {"final": 1.0}}
        for i, row in enumerate(rows)
    ]


# ---- prompt wrappers ----------------------------------------------------------------------------
def test_wrapper_of_a_t0_source_is_learnt_and_cut() -> None:
    wrapper = learn_wrapper("prompt", [it["row"]["prompt"] for it in t0_items()])
    assert wrapper is not None
    assert wrapper.pattern() == "Is this product review positive?\nTitle: {title}\nReview: {review}\nAnswer:"
    assert wrapper.cut(T0_PROMPT.format(title="Nice", review="Good kettle.")) == {
        "prompt.title": "Nice",
        "prompt.review": "Good kettle.",
    }
    assert wrapper.cut("Some other text entirely") is None
    assert strip_special("Yes<|endoftext|>") == "Yes" and strip_special("no </s>") == "no"


@pytest.mark.parametrize(
    ("template", "pattern", "first"),
    [
        # suffix only (t0_rotten_tomatoes)
        (
            "{a} The sentiment expressed for the movie is\n",
            "{prompt} The sentiment expressed for the movie is",
            None,
        ),
        # quoted slots with constant text between them (t0_glue_qqp)
        (
            'Can an answer to "{a}" also be used to answer "{b}"?\n',
            'Can an answer to "{part_1}" also be used to answer "{part_2}"?',
            "prompt.part_1",
        ),
        # two unlabelled lines after a constant question (t0_glue_mrpc)
        (
            'Are the following two sentences "equivalent" or "not equivalent"?\n{a}\n{b}\n',
            'Are the following two sentences "equivalent" or "not equivalent"?\n{part_1}\n{part_2}',
            "prompt.part_1",
        ),
    ],
)
def test_wrapper_shapes_of_real_t0_sources(template: str, pattern: str, first: str | None) -> None:
    pairs = [(r, t) for t, r, _ in REVIEWS]
    wrapper = learn_wrapper("prompt", [template.format(a=a, b=b) for a, b in pairs])
    assert wrapper is not None and wrapper.pattern() == pattern
    cut = wrapper.cut(template.format(a=pairs[0][0], b=pairs[0][1]))
    assert cut is not None
    assert cut[first or "prompt"] == pairs[0][0]


def test_free_text_and_label_columns_are_not_wrappers() -> None:
    questions = [it["row"]["question"] for it in demo_items(DEMO, "gsm8k", 40)]
    assert learn_wrapper("question", questions) is None
    assert learn_wrapper("premise", [it["row"]["premise"] for it in demo_items(DEMO, "snli_dev", 40)]) is None
    assert learn_wrapper("label", ["equivalent", "not equivalent"] * 10) is None
    # few rows tell a template from a coincidence only when it is long (5+ words)
    prompts = [T0_PROMPT.format(title=t, review=r) for t, r, _ in REVIEWS]
    assert learn_wrapper("prompt", prompts[:2]) is None and learn_wrapper("prompt", prompts[:3]) is not None
    asked = [f"{r} Is it good?" for _, r, _ in REVIEWS]
    assert (
        learn_wrapper("prompt", asked[:4]) is None and learn_wrapper("prompt", asked).suffix == " Is it good?"
    )
    dialogues = [f"Human: {r}\n\nAssistant: {t}" for t, r, _ in REVIEWS]
    assert learn_wrapper("chosen", dialogues) is None  # speaker labels are a format, not a wrapper


def test_t0_rows_map_onto_sentiment_without_the_wrapper(tmp_path: Path, embedder) -> None:
    """The review alone becomes the input; "Yes" to "Is this review positive?" becomes positive."""
    items = t0_items()
    retrieved = tmp_path / "items.jsonl"
    retrieved.write_text("".join(json.dumps(it) + "\n" for it in items))
    res = transform(SENTIMENT, retrieved, tmp_path / "samples.jsonl", embedder=embedder, progress=False)
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert res.samples == len(REVIEWS) and res.rejects == 0
    for sample, (_, review, answer) in zip(samples, REVIEWS, strict=True):
        assert sample["input"] == review
        assert sample["output"] == ("positive" if answer == "Yes" else "negative")
        cut = sample["provenance"]["unwrapped"]
        assert cut["wrappers"]["prompt"].startswith("Is this product review positive?\nTitle: {title}")
        assert cut["raw"]["prompt"].startswith("Is this product review positive?")
    assert all("Answer:" not in s["input"] and "<|" not in s["output"] for s in samples)


# ---- labels ---------------------------------------------------------------------------------------
def test_label_sets_are_inferred_only_from_label_like_outputs() -> None:
    assert infer_label_set(["entailment", "neutral", "contradiction"]) == [
        "entailment",
        "neutral",
        "contradiction",
    ]
    assert infer_label_set(["yes", "no", "yes"]) == ["yes", "no"]
    assert infer_label_set(["World", "Sports", "World", "Business"]) == ["World", "Sports", "Business"]
    assert infer_label_set(
        ["Sports", "World", "Business"], instruction="Sports, World, Business or Sci/Tech?"
    )
    # free text: numbers, sentences, names, answers copied from the input
    assert infer_label_set(["42", "18", "7"]) is None
    assert infer_label_set(["The answer is 9.", "Each costs $3, so 72.", "It is 240 miles."]) is None
    assert infer_label_set(["Paris", "Tokyo", "Berlin"]) is None
    assert infer_label_set(["blue", "oak"], inputs=["The sky is blue.", "An oak grew."]) is None
    assert infer_label_set(["positive", "positive"]) is None  # one label is no label set


def test_task_labels_inferred_and_schema_wins() -> None:
    assert NLI3.labels() == ["entailment", "contradiction", "neutral"]
    assert NLI3.label_field() == "output" and NLI3.labels_inferred
    raw = NLI3.model_dump(mode="json", exclude_none=True)
    schema = Task.from_dict(
        {**raw, "output_schema": {"output": {"labels": ["entailment", "contradiction", "neutral", "other"]}}}
    )
    assert (
        schema.labels() == ["entailment", "contradiction", "neutral", "other"] and not schema.labels_inferred
    )
    math = Task.load(Path(__file__).resolve().parents[1] / "examples" / "math.yaml")
    assert math.labels() is None and not math.labels_inferred
    # samples keep inside the inferred set, whoever makes them
    assert validate_sample(NLI3, {"input": "Premise: a\nHypothesis: b", "output": "Neutral"})[1] == "neutral"
    with pytest.raises(SampleError, match="invalid label"):
        validate_sample(NLI3, {"input": "Premise: a\nHypothesis: b", "output": "not_entailment"})


def test_an_llm_is_held_to_the_inferred_label_set_too() -> None:
    from taskforge._transform._schema import answer_schema

    schema = answer_schema(NLI3)
    assert schema["properties"]["output"] == {
        "type": "string",
        "enum": ["entailment", "contradiction", "neutral"],
    }


def test_the_cpu_expert_accepts_an_inferred_label_set() -> None:
    from taskforge._experts._train import default_expert

    assert default_expert(NLI3, None) == "cpu"


def test_negation_rules() -> None:
    two = LabelSet(["entailment", "not_entailment"], {})
    assert two.negations == {"entailment": "not_entailment"}
    assert two.symbolic("Non-entailment") == ("not_entailment", "negation")
    three = LabelSet(["entailment", "neutral", "contradiction"], {})
    assert three.symbolic("not_entailment") == (None, "ambiguous")
    assert three.ambiguous_choices("not entailment") == ["neutral", "contradiction"]
    polar = LabelSet(["positive", "negative"], {})
    assert polar.symbolic("not positive") == ("negative", "negation")
    assert polar.asked_about("Is this product review positive? Answer:") == "positive"
    assert polar.symbolic("No", question_label="positive") == ("negative", "question")
    assert polar.asked_about('Are the sentences "positive" or "negative"?') is None


def test_three_way_sources_fill_a_three_way_task_and_two_way_sources_never_guess(embedder) -> None:
    items = demo_items(DEMO, "snli_dev", 40) + demo_items(DEMO, "scitail_test", 40)
    mapper = Mapper(NLI3, TransformSettings(), embedder)
    res = list(mapper.map_items(items))
    snli = [(it, out) for it, out, _ in res if it["source"] == "snli_dev"]
    assert all(out["output"] == it["row"]["label"] for it, out in snli)
    assert {out["output"] for _, out in snli} == {"entailment", "neutral", "contradiction"}
    for it, out, err in res:
        if it["source"] == "scitail_test" and it["row"]["label"] == "not_entailment":
            assert out is None and err.category == "unmappable label" and "ambiguous" in str(err)
    assert mapper.row_labels(items[:3] + items[-3:]) == [it["row"]["label"] for it in items[:3]] + [
        it["row"]["label"] if it["row"]["label"] == "entailment" else None for it in items[-3:]
    ]


def test_a_label_column_whose_first_rows_are_all_ambiguous_is_still_the_label_column(embedder) -> None:
    items = sorted(
        demo_items(DEMO, "scitail_test", 60), key=lambda it: it["row"]["label"] != "not_entailment"
    )
    assert all(
        it["row"]["label"] == "not_entailment" for it in items[:20]
    )  # the planning sample sees no other
    mapper = Mapper(NLI3, TransformSettings(), embedder)
    res = list(mapper.map_items(items))
    assert mapper.plans["scitail_test"].columns["output"] == "label"
    for it, out, err in res:
        if it["row"]["label"] == "entailment":
            assert out["output"] == "entailment"
        else:
            assert err.category == "unmappable label"
    assert set(mapper.label_report()["ambiguous"]) == {"not_entailment"}


def test_row_labels_batch_by_batch_plan_again_until_enough_rows(embedder) -> None:
    """Selection asks for labels a few rows at a time: the wrapper's question is found once enough rows came."""
    items = t0_items()
    mapper = Mapper(SENTIMENT, TransformSettings(plan_rows=8), embedder)
    first = mapper.row_labels(items[:2])  # two rows: no wrapper yet, so "Yes" answers nothing
    # row_labels plans the label column alone (Mapper.label_plan); asked with no new rows it
    # returns the plan it holds
    assert first == [None, None] and mapper.label_plan("t0_amazon_polarity", []).rows_seen == 2
    labels = [lab for k in range(2, len(items), 3) for lab in mapper.row_labels(items[k : k + 3])]
    assert mapper.label_plan("t0_amazon_polarity", []).question_label == "positive"
    assert labels[-4:] == ["positive" if c == "Yes" else "negative" for _, _, c in REVIEWS[-4:]]


def test_two_way_task_absorbs_only_when_the_source_has_the_positive_label(embedder) -> None:
    nli2 = Task.load(Path(__file__).resolve().parents[1] / "examples" / "nli.yaml")
    items = [it for it in demo_items(DEMO, "snli_dev", 60) if it["row"]["label"] != "entailment"]
    mapper = Mapper(nli2, TransformSettings(), embedder)
    res = list(mapper.map_items(items))
    # no "entailment" among these rows: nothing says neutral is the task's "not" side, so nothing maps
    assert all(out is None for _, out, _ in res)


# ---- parts ----------------------------------------------------------------------------------------
def test_every_input_part_is_filled_in_the_examples_layout(embedder) -> None:
    items = demo_items(DEMO, "snli_dev", 30)
    items[3] = {
        **items[3],
        "row": {**items[3]["row"], "hypothesis": ""},
        "cells": {"premise": items[3]["row"]["premise"], "label": items[3]["row"]["label"]},
    }
    mapper = Mapper(NLI3, TransformSettings(), embedder)
    res = list(mapper.map_items(items))
    assert mapper.plans["snli_dev"].columns == {
        "premise": "premise",
        "hypothesis": "hypothesis",
        "output": "label",
    }
    for k, (it, out, err) in enumerate(res):
        if k == 3:
            assert out is None and err.category == "missing part"
            continue
        assert out["input"] == f"Premise: {it['row']['premise']}\nHypothesis: {it['row']['hypothesis']}"
        assert NLI3.input_parts().split(out["input"]) == {
            "premise": it["row"]["premise"],
            "hypothesis": it["row"]["hypothesis"],
        }


# ---- the report of labels that do not map -----------------------------------------------------
def test_unmappable_labels_are_reported_with_a_suggested_label_map(tmp_path: Path, embedder) -> None:
    stars = {"Yes": "5 stars", "No": "1 star"}
    items = []
    for it in t0_items("stars_reviews"):
        _, r, c = next(x for x in REVIEWS if x[0] in it["row"]["prompt"])
        items.append({**it, "row": {"text": r, "rating": stars[c]}})
    retrieved = tmp_path / "items.jsonl"
    retrieved.write_text("".join(json.dumps(it) + "\n" for it in items))
    res = transform(SENTIMENT, retrieved, tmp_path / "samples.jsonl", embedder=embedder, progress=False)
    assert res.samples == 0 and res.rejects == len(items)
    rep = json.loads((tmp_path / "label_report.json").read_text())
    assert rep == res.label_report and rep["labels_inferred"] is True
    assert rep["unmapped"] == {"5 stars": 6, "1 star": 6} and rep["unmapped_rows"] == 12
    assert rep["sources"]["stars_reviews"]["column"] == "rating"
    # the rows say which label each value means ("1 star" is nearer "positive" by its name alone)
    assert rep["suggested_label_map"] == {"5 stars": "positive", "1 star": "negative"}
    assert set(rep["suggestion_basis"]["1 star"]) == {"name", "rows"}
    # the suggestion, given back as a label_map, maps every row
    settings = TransformSettings(label_map=rep["suggested_label_map"])
    res = transform(
        SENTIMENT, retrieved, tmp_path / "s2.jsonl", settings=settings, embedder=embedder, progress=False
    )
    assert res.samples == len(items) and res.label_report["unmapped_rows"] == 0
